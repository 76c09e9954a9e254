"""The Train page's "No labels yet? Start from your category names": a zero-shot model
(core.zeroshot) from the uploaded file's text and the categories the user types.

It is built by a background job (core.jobs.start_zeroshot_job, kind "zeroshot"), like training:
a progress bar and Cancel while it runs, and it goes on when the person switches pages; the page
shows this session's job, else (a reload) the latest such job still running. The Label page's cold
start (:func:`label_cold_start`) builds the project's own zero-shot model the same way.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import jobs  # jobs.*: looked up at the call, tests replace them
from core.columns import suggest_text_columns
from core.label_rounds import TRAIN_AFTER_LABELS, zeroshot_name
from core.language_check import build_warning
from core.models.zeroshot import NEVER_TRAINED
from core.registry import model_path
from core.zeroshot import choose_base_model, parse_descriptions, parse_labels
from ui.jobs import JobPanel, live_panel
from ui.markdown import plain
from ui.state import TrainData, active_model_name, set_active_model

TRAIN_JOB, LABEL_JOB = "zeroshot_job_id", "label_zs_job_id"  # session keys: the job each section follows
TITLE = "No labels yet? Start from your category names"
# The Label page's box once the project has labels: "No labels yet?" is no longer true, and a box
# left open above the rows was in the way (walk); one line offers it, the box under this title.
LABELLED_TITLE = "Suggest labels from your category names"
OPEN = "label_zs_open"  # session key: the project whose box the one-line link opened
ss = st.session_state


def zero_shot_section(data: TrainData | None) -> None:
    """The section, below the training form: open by itself when the file has one column (a file
    of texts without labels, which training refuses)."""
    if data is None:
        # The upload does not survive a page change, but the job does: coming back, its progress
        # or its outcome is still shown here (a newcomer found an empty page and no model news).
        if ss.get(TRAIN_JOB) is not None or ss.get("zeroshot_done"):
            st.subheader(TITLE)
            job_panel(TRAIN_JOB, _train_page_done, _not_a_label_project)
            if ss.get("zeroshot_done"):
                st.success(ss.pop("zeroshot_done"))
                st.caption(NEVER_TRAINED)
        return
    df = data.frame
    with st.expander(TITLE, expanded=len(df.columns) == 1, icon=":material/label_off:"):
        st.markdown("Type the categories you care about; a model sorts the file's texts into them by meaning, "
                    "without a single labelled row. It is a starting point: check its suggestions on the "
                    "**Label** page, and train a real model once you have a few dozen labels.")
        texts = [c for c in df.columns if df[c].dtype == object] or list(df.columns)
        if ss.get("zeroshot_text_col") not in texts:
            suggested = suggest_text_columns(df)
            ss["zeroshot_text_col"] = suggested[0] if suggested and suggested[0] in texts else texts[0]
        text_col = st.selectbox("Text column", texts, key="zeroshot_text_col")
        labels = st.text_input("Categories, separated by commas", key="zeroshot_labels",
                               placeholder="complaint, praise, question")
        descriptions = st.text_area(
            "Descriptions (optional), one per line: category = what it means", key="zeroshot_descriptions",
            placeholder="complaint = the customer reports a problem\npraise = the customer is happy",
            help="A few words per category often help where its name alone is vague.")
        self_train = st.checkbox("Self-train on the texts it is surest of", value=True, key="zeroshot_self_train",
                                 help="Fits a classifier on the rows the category names match best (the same number "
                                      "per category): more accurate than the names alone on 4 of 5 public sets measured, "
                                      "not on very lopsided ones (docs/measurements.md).")
        if "zeroshot_name" not in ss:
            ss["zeroshot_name"] = f"{Path(data.name).stem[:40] or 'texts'}-zeroshot"
        name = st.text_input("Model name", key="zeroshot_name")
        problem = _problem(labels, descriptions)
        if problem and labels.strip():
            st.error(plain(problem))
        elif not problem:
            _language_note(df[text_col], labels)
        if st.button("Build zero-shot model", key="zeroshot_build", type="primary", disabled=bool(problem),
                     icon=":material/auto_awesome:"):
            _start(TRAIN_JOB, df[[text_col]], text_col, labels, descriptions, self_train, name)
        job_panel(TRAIN_JOB, _train_page_done, _not_a_label_project)
        if ss.get("zeroshot_done"):
            st.success(ss["zeroshot_done"])
            st.caption(NEVER_TRAINED)


def _problem(labels: str, descriptions: str) -> str | None:
    """What is wrong with the typed categories and descriptions, in words; None when nothing."""
    try:
        parse_descriptions(descriptions, parse_labels(labels))
    except ValueError as exc:
        return str(exc)
    return None


def _language_note(column, labels: str) -> None:
    """core.language_check's warning before the build, when the texts are in a language the base
    model the build will pick does not read (the CLI says it too: ``python -m core zero-shot``)."""
    texts = column.dropna().astype(str).head(2000).tolist()
    base, _ = choose_base_model(texts, parse_labels(labels))  # as _start picks it
    if warning := build_warning(base, texts):
        st.warning(plain(warning), icon=":material/translate:")


def _start(job_key: str, df, text_col: str, labels: str, descriptions: str, self_train: bool, name: str, *,
           overwrite: bool = False) -> None:
    """Queue the build of zero-shot model ``name`` (core.jobs.start_zeroshot_job); problems shown
    in words, nothing queued then (``overwrite``: replace a model of that name once the new one is
    built, atomically)."""
    ss.pop("zeroshot_done", None)
    try:
        if model_path(name, write=True).exists() and not overwrite:
            raise ValueError(f"A model named '{name}' exists already; choose another name.")
        texts = df[text_col].dropna().astype(str).head(2000).tolist()
        base, _ = choose_base_model(texts, parse_labels(labels))  # by the text's language, as training picks it
        ss[job_key] = jobs.start_zeroshot_job(df, text_col, labels, name, descriptions=descriptions,
                                              self_training=self_train, base_model=base, overwrite=overwrite)
    except (ValueError, OSError) as exc:
        st.error(plain(exc))


def job_panel(job_key: str, on_done, mine=lambda job: True) -> None:
    """The zero-shot job this section follows (session key ``job_key``; after a reload the latest
    running job of kind "zeroshot" for which ``mine(job)`` holds): progress and Cancel while it runs,
    then ``on_done(status)`` once, or what went wrong."""
    if ss.get(job_key) is None:
        running = [j for j in jobs.list_jobs(kind="zeroshot") if j.active and mine(j)]
        if running:
            ss[job_key] = running[-1].id
    job_id = ss.get(job_key)
    if job_id is None:
        return
    try:
        status = jobs.job_status(job_id)
    except ValueError:  # its folder was removed
        ss.pop(job_key, None)
        return
    if status.active:
        live_panel(job_id, PANEL)
        return
    ss.pop(job_key, None)  # shown once: the model (or the message) is what stays
    if status.state == "done":
        on_done(status)
    elif status.state == "cancelled":
        st.warning("Building the zero-shot model was cancelled; nothing was saved.")
    else:
        st.error(f"Building the zero-shot model did not finish: {plain(status.message)}")


# The one job panel (ui/jobs.py): progress, the queue line, Cancel with confirmation.
PANEL = JobPanel(key="zs", what=lambda status: f"the zero-shot model **{plain(status.model_name)}**",
                 note="It is built in the background: you can switch pages and come back.")


def _not_a_label_project(job: jobs.JobStatus) -> bool:
    return not (job.model_name.startswith("label-") and job.model_name.endswith("-zeroshot"))


def _train_page_done(status: jobs.JobStatus) -> None:
    set_active_model(status.model_name)
    ss["zeroshot_done"] = (f"{plain(status.message)} It is now the active model: use it on **Predict**, **Dashboard**, "
                           "**Ad Copy Lab** or **Label**.")
    st.rerun()  # the sidebar, drawn before this, shows the new active model (it kept the old one until a page change)


# --------------------------------------------------------------------------- the Label page's cold start


def label_cold_start(store, own_model_exists: bool) -> None:
    """The Label page before its first model: categories typed -> a zero-shot model on the
    project's unlabelled rows (a background job), which then ranks the rows least sure first with
    its suggestion preselected in each least-sure row's label (random checks start empty). Shown until the project has trained its own
    model; after a few dozen labels "Train on the labelled rows" takes over (the leaderboard:
    few-shot, then fine-tuning), and ui/label_rounds.py shows the gain at each step. So the box is
    shown only while the project has fewer labels than that (core.label_rounds.TRAIN_AFTER_LABELS),
    or while its zero-shot job runs (its progress and Cancel are here); once the project has labels,
    as one line (a link that opens it) rather than the "No labels yet?" box."""
    if own_model_exists:
        return
    name = zeroshot_name(store.folder.name)
    try:
        built = model_path(name).exists()
    except ValueError:  # a project name that makes no model name: nothing to offer
        return
    labelled = store.counts()["labeled"]
    running = ss.get(LABEL_JOB) is not None or any(
        job.active and job.model_name == name for job in jobs.list_jobs(kind="zeroshot"))
    if labelled >= TRAIN_AFTER_LABELS and not running:  # enough labels: training takes over (a newcomer saw it at 300)
        return
    project = store.folder.name
    if labelled and not running and ss.get(OPEN) != project:
        def open_box() -> None:
            ss[OPEN] = project

        st.button(f"{LABELLED_TITLE}…", key="label_zs_link", type="tertiary", icon=":material/auto_awesome:",
                  on_click=open_box, help="A model built from the category names you type suggests a label for every "
                                          "row (zero-shot); type them again to rebuild it.")
        return
    expanded = not (built or labelled) or running or ss.get(OPEN) == project
    with st.expander(LABELLED_TITLE if labelled else TITLE, expanded=expanded, icon=":material/label_off:"):
        st.caption("A model from your category names suggests a label for every row and picks the rows to label: "
                   "the ones it is least sure of first, with some random rows mixed in as checks; accept or correct "
                   "them below, then train on your labels.")
        if "label_zs_labels" not in ss and store.classes():
            ss["label_zs_labels"] = ", ".join(store.classes())
        labels = st.text_input("Categories, separated by commas", key="label_zs_labels",
                               placeholder="complaint, praise, question")
        descriptions = st.text_area("Descriptions (optional), one per line: category = what it means",
                                    key="label_zs_descriptions")
        problem = _problem(labels, descriptions)
        if problem and labels.strip():
            st.error(plain(problem))
        elif not problem:
            _language_note(store.unlabeled()[store.text_columns[0]], labels)
        if st.button("Suggest labels from these categories", key="label_zs_build", disabled=bool(problem),
                     icon=":material/auto_awesome:"):
            rows = store.unlabeled()
            if not len(rows):
                st.info("Every row is labelled already.")
                return
            # The project's own zero-shot model: rebuilt in place (atomically) when the categories change.
            _start(LABEL_JOB, rows[[store.text_columns[0]]], store.text_columns[0], labels, descriptions, True, name,
                   overwrite=True)
            if ss.get(LABEL_JOB):
                ss.pop(OPEN, None)  # the running job keeps the box shown; once built, the link again
                st.rerun()
        job_panel(LABEL_JOB, _label_page_done, lambda job: job.model_name == name)


def _label_page_done(status: jobs.JobStatus) -> None:
    """The project's zero-shot model is saved: it ranks the rows (ui.label.model_section takes it
    until the project has trained its own) and becomes the active model, for the other pages: said,
    with the model it replaced (a newcomer found Predict using it without having been told)."""
    before = active_model_name()
    set_active_model(status.model_name)
    was = f" instead of **{plain(before)}**" if before and before != status.model_name else ""
    ss["label_pending_source"] = "Train a model on the labelled rows"  # ui.label.TRAIN_SOURCE: the project's models
    ss["label_flash"] = (f"{plain(status.message)} Its suggestions are preselected in the label column for the rows "
                         "it is least sure of (listed first): accept or correct them, then save. The random checks mixed "
                         f"in start empty: choose their label yourself. It is now the active model{was} (sidebar): "
                         "Predict, Dashboard and Ad Copy Lab use it until you choose another.")
    st.rerun()
