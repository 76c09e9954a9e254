"""The Label page's sections (pages/label.py calls them in order): a new project, the project's
counts, the model that ranks the rows, and the rows to label in an editor. Every widget and
session key starts with ``label_``.

Labels are written to the server (core.labeling.LabelStore, .marketune/labels/<project>/) the
moment they are saved, so a closed tab loses nothing; the labelled set can be downloaded at
any time. Training runs as a background job (core.jobs), like on the Train page, rather than
inside the page's script: a few-shot run with cross-validation takes about a minute on a laptop
CPU, longer than a page run should block, and a job survives the user switching pages or
closing the tab, can be cancelled, and queues behind other trainings instead of competing for
the CPU. After a server restart (no session holds the job any more) the page finds the project's
latest job by its model name; one whose worker died is shown with **Resume** (core.jobs.resume_job).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import TrainConfig, jobs, load_csv, ood, validate_mapping, validate_name, workspace  # tests patch jobs, ood
from core.base_models import training_defaults
from core.columns import suggest_label_to_fill, suggest_text_columns
from core.data import ROW_NUMBERING
from core.evaluation import cv_summary_frame
from core.label_rounds import compare_with_zeroshot, rows_to_train, zeroshot_kept, zeroshot_name
from core.labeling import RANDOM_CHECK, LabelStore, ModelFit, label_store, model_fit, suspected_label_errors
from core.models.folder import MANIFEST
from core.multilabel import join_tags, split_tags
from core.registry import model_path, read_info
from core.tag_review import suspected_tag_errors
from core.words import counted, rows_words
from ui.base_model_picker import base_model_picker
from ui.check import EMBEDDING_ROWS
from ui.downloads import download_button
from ui.jobs import live_panel, resume_or_close, shown_job
from ui.label_rounds import ranked_rows
from ui.markdown import plain
from ui.results import notice_markdown, render_warnings
from ui.state import active_model_name, get_model, set_active_model, train_data
from ui.train_job import LABEL_PANEL, outcome_message
from ui.upload import how_read_line, table_upload

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "label_reviews_unlabelled.csv"
UPLOAD_SOURCE = "Upload a CSV or Excel file"
SAMPLE_SOURCE = "Sample: clothing reviews, 570 of 600 unlabelled"
NEW_LABEL_COLUMN = "(add a 'label' column)"
TRAIN_SOURCE, ACTIVE_SOURCE = "Train a model on the labelled rows", "Use the active model"
LEAST_SURE, SUSPECTED = "Least sure first (unlabelled rows)", "Suspected label errors first (labelled rows)"
# Said under the rows when some are random checks: why their label starts empty (preselected_labels).
RANDOM_CHECK_NOTE = ("The random checks start empty: they were picked at random to score the models fairly, "
                     "so choose the label yourself.")
MAX_SCORED = 2000  # unlabelled rows scored per round (a random sample beyond this): ~10-20 s on CPU
ACCEPT = "accept"  # the editor's tick box: save the suggested label as it is
# The open project and the rows per round, kept past a page change: Streamlit drops a widget's key
# when its page is not drawn, and the page then opened on "New project…" with 20 rows (walk).
KEPT = "label_kept"
ss = st.session_state


def restore_choices(projects: list[str]) -> None:
    """Put the kept project (while it exists) and rows per round back before their widgets are drawn."""
    for key, value in ss.get(KEPT, {}).items():
        if key != "label_project" or value in projects:
            ss.setdefault(key, value)


def keep_choice(key: str) -> None:
    """Keep widget ``key``'s value for :func:`restore_choices` after a page change."""
    ss.setdefault(KEPT, {})[key] = ss[key]


def model_name_for(project: str) -> str:
    """The model a project trains (replaced on every retrain)."""
    return validate_name(f"label-{project}"[:64])


def start_training(store: LabelStore, base_model: str) -> None:
    """Queue a job on the labelled rows (method auto: few-shot while the labels are few)."""
    name = model_name_for(store.folder.name)
    rows = rows_to_train(store, name)  # which rows, kept: the comparison with the zero-shot model reads them
    separator = store.tag_separator(rows[store.label_column])  # several tags per row: train them so
    config = TrainConfig(text_columns=store.text_columns, label_column=store.label_column,
                         multi_label=separator is not None, label_sep=separator,
                         **{**training_defaults(base_model), "base_model": base_model, "method": "auto"})
    report = validate_mapping(rows, config)
    if not report.ok:
        raise ValueError(" ".join(p.message for p in report.errors))
    before = (active_model_name(), model_path(name).exists())  # what the new model will take the place of
    ss["label_job_id"] = jobs.start_job(rows, config, name, overwrite=True)
    ss["label_job_before"] = (ss["label_job_id"], *before)
    ss["label_pending_source"] = TRAIN_SOURCE  # rank with the new model once it is saved
    store.note_round()


def new_project() -> None:
    """Name a project, load rows (upload, the sample or the Train page's data), map columns, create it."""
    name = st.text_input("Project name", key="label_new_name", placeholder="spring-campaign", max_chars=64)
    loaded = train_data()  # declared in ui.state: the Train page's table
    sources = [UPLOAD_SOURCE] + ([SAMPLE_SOURCE] if SAMPLE.is_file() else [])
    sources += [f"The data loaded on the Train page ({plain(loaded.name)})"] if loaded else []
    source = st.radio("Rows to label", sources, key="label_source", horizontal=True)
    df = None
    if source == UPLOAD_SOURCE:
        uploaded = table_upload(
            "A table with a text column and a label column; leave the label empty on rows still to label",
            key="label_upload",
        )
        df = uploaded.frame if uploaded is not None else None
        if uploaded is not None:  # how it was read: a title block skipped above the header is named here
            st.caption(how_read_line(uploaded.name, uploaded.table.describe(), len(df), len(df.columns)))
    elif source == SAMPLE_SOURCE:
        df = load_csv(SAMPLE).frame
        st.caption(
            "600 real clothing reviews (CC0): did the reviewer recommend the product? Only 30 rows keep "
            "their answer; label the rest here. See sample_data/README.md."
        )
    else:
        df = loaded.frame
    if df is None:
        return
    columns = list(df.columns)
    texts = suggest_text_columns(df) or columns[:1]
    left, right = st.columns(2)
    text_col = left.selectbox("Text column", columns, index=columns.index(texts[0]), key="label_text_col")
    label_guess = suggest_label_to_fill(df, [text_col])  # None: a new, empty label column
    options = [c for c in columns if c != text_col] + [NEW_LABEL_COLUMN]
    label_col = right.selectbox("Label column", options, key="label_label_col",
                                index=options.index(label_guess) if label_guess in options else len(options) - 1)
    if label_col == NEW_LABEL_COLUMN:
        label_col, n_labeled = "label", 0
    else:
        n_labeled = int((df[label_col].notna() & (df[label_col].astype(str).str.strip() != "")).sum())
    st.caption(f"{rows_words(len(df))}: {n_labeled:,} labelled, {len(df) - n_labeled:,} to label.")
    if not name:  # a disabled button says why (issue 28: it was greyed out with no reason)
        st.caption("Name the project above to create it.")
    if st.button("Create project", key="label_create", type="primary", disabled=not name,
                 help=None if name else "Name the project first (the Project name box above)."):
        try:
            label_store(name).create(df, [text_col], label_col)
        except ValueError as exc:
            st.error(plain(exc))
            return
        ss["label_open"] = name
        st.rerun()


def project_summary(store: LabelStore) -> dict[str, int]:
    """The project's counts (returned: ``store.counts()``) and the labelled set's download."""
    counts = store.counts()
    a, b, c = st.columns(3)
    a.metric("Labelled", f"{counts['labeled']:,}")
    b.metric("Still to label", f"{counts['unlabeled']:,}")
    c.metric("Training rounds", store.meta.get("rounds", 0))
    per_label, separator = store.label_counts()  # several tags per row: rows per tag, not per combination
    listed = plain(", ".join(f"{k} {v}" for k, v in sorted(per_label.items())))
    if per_label and separator:
        st.caption(f"Rows carrying each tag so far (a row with several tags counts once for each): {listed}")
    elif per_label:
        st.caption(f"Labels so far: {listed}")
    download_button("Download the labelled set (CSV)", store.export_csv, file_name=f"{store.folder.name}-labelled.csv",
                    mime="text/csv", key="label_download", icon=":material/download:")
    return counts


def model_section(store: LabelStore) -> tuple[str | None, str]:
    """Which model ranks the rows (the project's own or the active one), the base model to
    train from, the Train button and the training job. Returns (ranking model or None, base model)."""
    own_model = model_name_for(store.folder.name)
    active = active_model_name(needs_text=True)  # ranking reads the texts: never a profile-only model
    if "label_pending_source" in ss:
        ss["label_model_source"] = ss.pop("label_pending_source")
    if model_path(own_model).exists() and "label_model_source" not in ss:
        ss["label_model_source"] = TRAIN_SOURCE
    project_ranker = _project_ranker(store, own_model)
    # The active model is a choice of its own only when it is not the project's model that picks anyway
    # (the cold start's zero-shot model is made active: two options would have named one model).
    sources = [TRAIN_SOURCE] + ([ACTIVE_SOURCE] if active and active not in (own_model, project_ranker) else [])
    if ss.get("label_model_source") not in sources:
        ss["label_model_source"] = TRAIN_SOURCE
    if st.radio("Which model picks the rows", sources, key="label_model_source", horizontal=True,
                format_func=lambda source: _source_words(source, project_ranker, own_model)) == ACTIVE_SOURCE:
        ranking_model = active
        info = read_info(model_path(active))
        base_model = info.config.get("base_model", "minilm-en")
        # A TF-IDF model has no base model: retraining starts from the one its run fine-tuned.
        whose = "its base model" if info.base_model_used else "the base model its training run used"
        st.caption(
            f"Ranking with **{plain(active)}**, the active model that reads text; retraining starts from {whose} "
            f"({plain(workspace.current().base_model_label(base_model))})."
        )
        fit = _model_fit(store, active)
        if not fit.fits:  # its labels are not this project's: its suggestions are not pre-selected
            cold = zeroshot_name(store.folder.name)
            own = own_model if model_path(own_model).exists() else cold if model_path(cold).exists() else None
            offer = (f" Rank with this project's own model (**{plain(own)}**) instead: the button below." if own else
                     " Pick \"Train a model on the labelled rows\" above to rank with a model of this project's labels.")
            st.warning(plain(fit.sentence(active)) + offer, icon=":material/block:")
            if own and st.button(f"Rank with {own}", key="label_use_own", icon=":material/swap_horiz:"):
                ss["label_pending_source"] = TRAIN_SOURCE
                st.rerun()
    else:
        ranking_model = project_ranker
        sample = store.labeled()[store.text_columns[0]].head(2000).tolist()
        base_model = base_model_picker(sample, key="label_base")
        if st.button("Train on the labelled rows", key="label_train", icon=":material/model_training:"):
            try:
                start_training(store, base_model)
                st.rerun()
            except ValueError as exc:
                st.error(plain(exc))
    said = _show_job(store)
    if ranking_model and training_job(store) is None:
        _show_model_summary(ranking_model, notice_said=said == ranking_model)
    return ranking_model, base_model


def _project_ranker(store: LabelStore, own_model: str) -> str | None:
    """The project's model that picks the rows: its trained model, else (until it trains one, or when
    the trained one did not score higher than it: _zeroshot_choice) its cold start's zero-shot model;
    None when it has neither."""
    cold = zeroshot_name(store.folder.name)
    if model_path(own_model).exists() and not (model_path(cold).exists() and zeroshot_kept(store, model_path(own_model))):
        return own_model
    return cold if model_path(cold).exists() else None


def _source_words(source: str, project_ranker: str | None, own_model: str) -> str:
    """The radio's words for ``source``: the project's option names the model that picks with it (the
    newcomer's walk: "Train a model" stood selected while the zero-shot model picked)."""
    if source != TRAIN_SOURCE or project_ranker is None:
        return source
    if project_ranker == own_model:
        return "This project's model, trained on the labelled rows"
    return "This project's zero-shot model" + (" (it scored higher than the trained one)"
                                               if model_path(own_model).exists() else " (until you train one)")


def _project_labels(store: LabelStore) -> list[str]:
    """The project's labels so far (each tag once, several tags per row)."""
    sep = store.tag_separator()
    labels = store.classes()
    return list(dict.fromkeys(t for label in labels for t in split_tags(label, sep))) if sep else labels


def _model_fit(store: LabelStore, name: str) -> ModelFit:
    """Whether model ``name``'s labels fit the project's (core.labeling.model_fit)."""
    return model_fit(getattr(get_model(name), "classes_", []), _project_labels(store))


def interrupted_text(status: jobs.JobStatus) -> str:
    """What an interrupted training says on this page: where it stopped, that the labels are
    safe, and (when its data was kept) what Resume does."""
    where = f" at step {status.checkpoint_step} of {status.total_steps}" if status.checkpoint_step is not None else ""
    text = (f"Training **{plain(status.model_name)}** was interrupted{where}: the training process stopped unexpectedly "
            "(server restart or crash). No label was lost: labels are saved on the server as you go.")
    if not status.resumable:
        return text + " Press **Train on the labelled rows** to train again."
    if status.checkpoint_step is not None:
        return text + (f" **Resume** continues from step {status.checkpoint_step} on the labelled rows it started "
                       "with; **Train on the labelled rows** starts afresh with every label saved since.")
    return text + (" **Resume** trains again from the beginning on the labelled rows it started with (this run "
                   "kept no checkpoint); **Train on the labelled rows** uses every label saved since.")


def _interrupted(status: jobs.JobStatus) -> None:
    """An interrupted training: what happened, Resume (when its data was kept) and Close."""
    st.warning(interrupted_text(status))

    def rank_with_the_new_model() -> None:
        ss["label_pending_source"] = TRAIN_SOURCE  # rank with the model once it is saved

    resume_or_close(status, "label", "Hide this job; the labels and any saved model stay.", rank_with_the_new_model)


def replaced_words(model_name: str, before: str | None, existed: bool | None) -> str:
    """How the Label page's new model ``model_name`` took the active place: "instead of <before>"
    (the model active when the job started), "in place of its previous version" only when that was
    the project's own model and a version of it existed, "(there was none before)" when nothing was
    active and the model is new; "" when this session did not see the job start (``existed``
    None) and cannot tell."""
    if before and before != model_name:
        return f"instead of **{plain(before)}**"
    if existed is None:
        return ""
    if before == model_name and existed:
        return "in place of its previous version"
    return "(there was none before)" if not before else ""


def _notice(name: str) -> str:
    """The saved model's verdict notice (ui.results.notice_markdown; "" when none or unreadable)."""
    try:
        return notice_markdown(read_info(model_path(name)).metrics.get("verdict") or {})
    except (ValueError, OSError):  # being replaced right now
        return ""


def _show_job(store: LabelStore) -> str | None:
    """Progress of this project's training job, then its outcome (method chosen and why). Returns
    the model whose verdict notice the outcome said (so the summary below does not say it again)."""
    # Only the project's latest job: an older interrupted run resumed after a newer one finished
    # would replace the newer model (trained on more labels).
    own = model_name_for(store.folder.name)
    status = shown_job("train", key="label", match=lambda job: job.model_name == own, latest_only=True)
    if status is None:
        return None
    job_id = status.id
    if status.active:
        live_panel(job_id, LABEL_PANEL)
        return None
    if status.state == "interrupted":
        _interrupted(status)
        return None
    chosen = ss.get("label_zeroshot_choice")  # the cold start's choice, once made for this job (below)
    kept_zeroshot = bool(chosen and chosen[0] == job_id and chosen[1] and chosen[1]["kept"] == "zeroshot")
    # no metrics: the notice is added below; made active unless the cold start kept its zero-shot model
    kind, text = outcome_message(status, made_active=not kept_zeroshot)
    notice = _notice(status.model_name) if status.state == "done" else ""
    if notice:  # said once, here; as on the Train page (a newcomer saw micro-F1 here without it)
        kind, text = "warning", f"{text} {notice}"
    getattr(st, kind)(text)
    if status.state == "done" and ss.get("label_activated") != job_id:
        ss["label_activated"] = job_id
        started = ss.get("label_job_before")  # the live leaderboard may have made it active already
        before = started[1:] if started and started[0] == job_id else (active_model_name(), None)
        choice = _zeroshot_choice(store, status.model_name, *before)
        ss["label_zeroshot_choice"] = (job_id, choice)
        if choice is not None and choice["kept"] == "zeroshot":
            set_active_model(choice["zeroshot"])  # it stays: the new model did not score higher, or is not usable
        else:
            ss["label_replaced_active"] = (job_id, *before)
            set_active_model(status.model_name)
        st.rerun()  # so the sidebar shows the new active model
    chosen = ss.get("label_zeroshot_choice")
    if status.state == "done" and chosen and chosen[0] == job_id and chosen[1] is not None:
        choice = chosen[1]
        kept = choice["zeroshot"] if choice["kept"] == "zeroshot" else choice["trained"]
        st.info(f"Kept in use: **{plain(kept)}**. {plain(choice['sentence'])}", icon=":material/balance:")
        if choice["kept"] == "zeroshot":
            return status.model_name if notice else None
    replaced = ss.get("label_replaced_active")
    if status.state == "done" and replaced and replaced[0] == job_id:
        was = replaced_words(status.model_name, *replaced[1:])
        st.info(
            f"The new model **{plain(status.model_name)}** is now the active model{' ' + was if was else ''}: Predict, "
            "Ad Copy Lab, the Dashboard and Targeting use it from now on. Choose another one in the sidebar to switch back.",
            icon=":material/swap_horiz:",
        )
    return status.model_name if notice else None


def _zeroshot_choice(store: LabelStore, trained: str, before: str | None, existed: bool | None) -> dict | None:
    """When the project's model so far is its zero-shot model (the one active when the job started,
    or the first model trained after the cold start), the comparison of the new model with it on
    the labelled rows (core.label_rounds.compare_with_zeroshot); None otherwise."""
    cold = zeroshot_name(store.folder.name)
    if not model_path(cold).exists() or not (before == cold or existed is False):
        return None
    try:
        return compare_with_zeroshot(store, model_path(trained), model_path(cold))
    except (OSError, ValueError) as exc:  # a model being replaced: no comparison, said in the log
        st.caption(f"The new model could not be compared with the zero-shot model: {plain(exc)}")
        return None


def training_job(store: LabelStore) -> jobs.JobStatus | None:
    """This project's training while it is queued or running, whichever session started it (found
    by the model name the page trains, as :func:`_show_job` finds it); None when none is. Not the
    session's last job: that may be another project's, opened before this one."""
    own = model_name_for(store.folder.name)
    active = [job for job in jobs.list_jobs(kind="train") if job.active and job.model_name == own]
    return active[-1] if active else None


def training_words(status: jobs.JobStatus) -> str:
    """What the rows section says while the project's model trains: queued or training (the job's
    state, as its progress bar says it), and that the rows and suggestions follow when it ends."""
    state = "is queued" if status.state == "queued" else "is training"
    return (f"**{plain(status.model_name)}** {state} on the labelled rows (its progress is under Model, above): the next "
            "round's rows and the model's suggestions are shown here when it finishes.")


def _show_model_summary(name: str, *, notice_said: bool = False) -> None:
    """The ranking model in a few lines: what it is, why it was chosen, its test score and (unless
    ``notice_said`` by the job's outcome above) its verdict's notice beside that score."""
    info = read_info(model_path(name))
    metrics = info.metrics
    # The method "auto" chose is the run's: a TF-IDF model saved in place of that few-shot model has
    # its own reason, the leaderboard's choice (the verdict), said for every model.
    reasons = [metrics.get("method_reason") if info.kind in ("fewshot", "transformer") else None, (metrics.get("verdict") or {}).get("reason")]
    facts = [info.describe(workspace.current().base_model_label), metrics.get("evaluation", "")]
    st.markdown(" · ".join([f"**{plain(name)}**"] + [plain(f) for f in facts if f]))
    for reason in filter(None, reasons):
        st.caption(plain(reason))
    table = cv_summary_frame(metrics)
    if not table.empty:
        st.markdown("Macro-F1 across the cross-validation folds (each row scored by a model that did not see it):")
        st.dataframe(table, hide_index=True, key="label_cv_table", column_config={
            c: st.column_config.NumberColumn(c, format="%.3f") for c in ("mean", "std", "min", "max")
        })
    elif isinstance(metrics.get("model", {}).get("macro_f1"), (int, float)):
        headline = "micro_f1" if info.multi_label else "macro_f1"  # several tags per row: micro-F1 first
        loss = metrics["model"].get("hamming_loss") if info.multi_label else None
        st.caption(f"Test {headline.replace('_f1', '-F1')} {metrics['model'][headline]:.3f}"
                   + (f" · Hamming loss {loss:.3f}" if isinstance(loss, (int, float)) else ""))
    notice = notice_markdown(metrics.get("verdict") or {})
    if notice and not notice_said:
        st.warning(notice, icon=":material/warning:")
    render_warnings(info)


def rows_section(store: LabelStore, counts: dict[str, int], ranking_model: str | None, base_model: str,
                 training: jobs.JobStatus | None = None) -> None:
    """The rows to label: least sure first (unlabelled rows, ranked by ``ranking_model``) or
    suspected label errors first (labelled rows), in an editor with Save (and retrain) buttons;
    ``training`` (:func:`training_job`): the project's model training, said instead of rows."""
    # One slot for what the last click said, drawn or not: the elements below keep their places from
    # one rerun to the next, so the empty slot that takes the last round's grid's place while a new
    # round is scored lands on that grid (walk-v: after "Saved N labels" it landed above it).
    said = st.container()
    flash = ss.pop("label_flash", None)  # before the busy return: "retraining" is shown while it is true
    if flash:
        said.success(flash)
    if failed := ss.pop("label_flash_error", None):
        said.error(failed)
    if unsaved := ss.pop("label_flash_unsaved", None):  # rows ticked "accept" with nothing to accept
        said.warning(unsaved, icon=":material/info:")
    if training is not None:
        st.info(training_words(training), icon=":material/hourglass_top:")
        return
    if counts["labeled"] and st.radio("Order", [LEAST_SURE, SUSPECTED], key="label_order", horizontal=True) == SUSPECTED:
        _review_suspects(store, base_model)
        return
    if ranking_model is None:
        st.info("Train a model on the labelled rows (or use the active model) to see which rows to label next.")
        return
    if counts["unlabeled"] == 0:
        st.success("Every row is labelled. Download the set above, or train the final model.")
        return
    ss.setdefault("label_n", 20)  # the value kept past a page change may be there (restore_choices): no value= beside it
    n = int(st.number_input("Rows per round", 5, 200, step=5, key="label_n"))
    keep_choice("label_n")
    # A new round is scored (10-20 s): the last round's grid would stay on screen meanwhile, greyed
    # out but still taking edits that the new rows then lose (walk). An empty slot takes its place
    # at once; on the other runs a container, so that the grid is not redrawn on every edit.
    scoring = _ranking_stale(ranking_model, n)
    area = st.empty() if scoring else st.container()
    try:
        ranked = _ranked_rows(store, ranking_model, n)
    except ValueError as exc:
        area.error(plain(exc))
        return
    with area.container() if scoring else area:
        _round_left(ranked, n, counts)
        _round_rows(store, counts, ranked, ranking_model, base_model)


def _round_left(ranked: pd.DataFrame, n: int, counts: dict[str, int]) -> None:
    """Why the round shows fewer rows than "Rows per round" after some were saved (the newcomer's walk:
    17 rows beside a setting of 20): the saved rows leave it and none comes in until the model picks
    again, and a button to pick again now (the same model, so the rows still shown stay: ui.label_rounds.ranked_rows)."""
    saved = len(ss.get("label_ranked", ())) - len(ranked)
    if saved <= 0 or len(ranked) >= n or counts["unlabeled"] <= len(ranked):
        return
    st.caption(f"{len(ranked):,} of this round's {n:,} rows are left: the {counted(saved, 'row')} you labelled left it, "
               "and no row comes in until the model picks again: when it is retrained (**Save and retrain**), or now "
               f"with **Refill to {n:,} rows** (it scores the unlabelled rows again).")
    if st.button(f"Refill to {n:,} rows", key="label_refill", icon=":material/playlist_add:"):
        ss.pop("label_rank_stamp", None)  # _ranking_stale: the same model ranks the remaining rows again
        st.rerun()


def _round_rows(store: LabelStore, counts: dict[str, int], ranked: pd.DataFrame, ranking_model: str,
                base_model: str) -> None:
    """This round's rows (``ranked``, by ``ranking_model``) in the editor, with what they are and the Save buttons."""
    if ss.get("label_scored", 0) < counts["unlabeled"]:
        st.caption(f"Picked from a random sample of {ss['label_scored']:,} of the {counts['unlabeled']:,} unlabelled rows.")
    fit = _model_fit(store, ranking_model)  # a model of other labels: its guesses shown, never pre-selected
    checks = int((ranked["reason"] == RANDOM_CHECK).sum())
    mixed = (f" {checks} of these {rows_words(len(ranked))} {'was' if checks == 1 else 'were'} picked at random instead (\"random check\" under \"why "
             "suggested\"), so the score that compares a newly trained model with this one is fair to both models."
             if checks else "")
    st.caption(
        "Least sure first (smallest gap between the model's two likeliest labels); near-duplicate texts are skipped "
        f"so each row teaches the model something new.{mixed} "
        + ("Each least-sure row's label is preselected with the model's suggestion: correct the wrong ones and tick "
           "\"accept\" on the right ones; only those rows are saved."
           + (f" {RANDOM_CHECK_NOTE}" if checks else "") if fit.fits else
           "The labels are left empty: this model's labels are not this project's (see above); pick each one.")
    )
    model = get_model(ranking_model)
    tagged = tag_project(store, model)
    known = [t for label in store.classes() for t in split_tags(label, tagged)] if tagged else store.classes()
    classes = sorted(set(known) | ({str(c) for c in model.classes_} if fit.fits else set()))
    shown = {"why suggested": ranked["reason"].astype(str), "model says": ranked["predicted_label"].astype(str),
             "sure": ranked["confidence"].astype(float)}
    if tagged:
        st.caption("Several tags per row: pick every tag that fits (\"sure\": how sure the model is of its most "
                   "doubtful tag).")
    edited = _label_editor(store, ranked, shown, "sure", classes, key="label_editor", several=bool(tagged),
                           suggested=None if tagged or not fit.fits else preselected_labels(ranked))
    left, right = st.columns(2)
    why = ranked["reason"]  # saved with each label: the comparison with the zero-shot model reads it
    if left.button("Save labels", key="label_save", icon=":material/save:"):
        ss["label_flash_unsaved"] = accepted_without_label(store, edited, "label_editor")  # before _save resets it
        ss["label_flash"] = f"Saved {counted(_save(store, edited, 'label_editor', why), 'label')}."
        st.rerun()
    if right.button("Save and retrain", key="label_retrain", type="primary", icon=":material/refresh:"):
        ss["label_flash_unsaved"] = accepted_without_label(store, edited, "label_editor")
        saved = _save(store, edited, "label_editor", why)
        try:
            start_training(store, base_model)
        except ValueError as exc:  # said after a rerun, so the counts above include the labels just saved (walk)
            ss["label_flash_error"] = f"Saved {counted(saved, 'label')}, but training cannot start: {plain(exc)}"
            st.rerun()
        ss["label_flash"] = f"Saved {counted(saved, 'label')}; retraining."
        st.rerun()
    where = "in your workspace on the server" if workspace.current().team_mode else f"in {plain(Path(store.folder))}"
    st.caption(f"Labels are stored {where}.")


def _rank_stamp(name: str, n: int) -> tuple:
    """What the kept ranking depends on: the model, its version and the rows per round."""
    return name, (model_path(name) / MANIFEST).stat().st_mtime, n


def _ranking_stale(name: str, n: int) -> bool:
    """Whether :func:`_ranked_rows` must score the rows again (a new model, version or ``n``)."""
    return ss.get("label_rank_stamp") != _rank_stamp(name, n) or "reason" not in ss.get("label_ranked", {})


def _ranked_rows(store: LabelStore, name: str, n: int) -> pd.DataFrame:
    """The unlabelled rows to label next for model ``name`` (its least sure and random checks, a
    ``reason`` each), computed once per model version."""
    if _ranking_stale(name, n):
        pool = store.unlabeled()
        if len(pool) > MAX_SCORED:
            pool = pool.sample(MAX_SCORED, random_state=0)
        own = name in (model_name_for(store.folder.name), zeroshot_name(store.folder.name))
        with st.spinner(f"Scoring {rows_words(len(pool), 'unlabelled')}…"):
            ss["label_ranked"] = ranked_rows(store, name, pool, n, own=own)  # ui/label_rounds.py: rounds and gain
        ss["label_rank_stamp"] = _rank_stamp(name, n)
        ss["label_scored"] = len(pool)
    ranked = ss["label_ranked"]
    return ranked[ranked.index.isin(store.unlabeled().index)]  # rows labelled since drop out


def _suspect_embedder(base_model: str, n_rows: int):
    """The sentence embeddings the label-error model reads besides TF-IDF, chosen as the data check
    chooses them (ui/check.py: on up to EMBEDDING_ROWS rows; the base model's frozen encoder, or
    core.ood's fallback encoder for a TF-IDF base): texts -> (n, d), or None above EMBEDDING_ROWS.
    The encoder is loaded once per process (core.ood.encoder_embedder); the last embeddings are kept in
    the session, so re-ranking after a correction (same texts, new labels) does not encode again."""
    if n_rows > EMBEDDING_ROWS:
        return None
    encoder = ood.ood_encoder(base_model)

    def embed(texts: list[str]):
        key = (encoder, hash(tuple(texts)))
        if (ss.get("label_suspect_embedded") or (None,))[0] != key:
            ss["label_suspect_embedded"] = (key, ood.encoder_embedder(encoder)(texts))
        return ss["label_suspect_embedded"][1]

    return embed


def _label_model_caption(ranked: pd.DataFrame, base_model: str) -> str:
    """Which label model ranked the rows (the check's choice), for the captions under the note."""
    if ranked.attrs.get("label_model") == "both":
        return (f"TF-IDF and the sentence embeddings of {plain(ood.ood_encoder(base_model))}, averaged, cross-fitted, "
                "as the data check")
    why = (ranked.attrs.get("label_model_note")
           or f"more than {EMBEDDING_ROWS:,} labelled rows: no embeddings, as in the data check")
    return f"TF-IDF, cross-fitted; {plain(why).rstrip('.')}"


def _review_suspects(store: LabelStore, base_model: str) -> None:
    """The labelled rows whose label looks wrong (core.labeling.suspected_label_errors: the data
    check's calibrated ranking and label model, core.label_errors), with an editor to correct them.
    Ranked once per state of the labels. Several tags per row: rows ranked by cleanlab's multi-label
    quality, the tags that look wrong named per row (core.tag_review), a tag picker to correct them."""
    separator = tag_project(store, None)
    n = int(st.number_input("Rows to review", 5, 200, 20, step=5, key="label_suspect_n"))
    ranked = _ranked_suspects(store, n, base_model, separator)
    if ranked is None or not _suspects_note(ranked):
        return
    model = _label_model_caption(ranked, base_model)
    if separator:
        st.caption(
            f"Several tags per row, checked tag by tag: a simple model trained on the other labelled rows ({model}; "
            "one yes/no per tag) disagrees most with these rows' tags (cleanlab's multi-label quality). "
            "\"suspect tags\": +tag looks missing, -tag looks wrong. Pick every tag that fits."
        )
        shown = {"rank": ranked["rank"].astype(int), "given tags": ranked[store.label_column].astype(str),
                 "suspect tags": ranked["suspect_tags"].astype(str), "suggested": ranked["suggested_label"].astype(str)}
        tags = sorted({t for label in store.classes() for t in split_tags(label, separator)})
        edited = _label_editor(store, ranked, shown, None, tags, key="label_suspect_editor", several=True)
        if st.button("Save corrected tags", key="label_suspect_save", icon=":material/save:"):
            ss["label_flash"] = f"Corrected the tags of {rows_words(_save(store, edited, 'label_suspect_editor'))}."
            st.rerun()
        return
    st.caption(
        f"Most suspect first: a simple model trained on the other labelled rows ({model}) "
        "disagrees most with these labels (cleanlab's label quality). Pick a new label where the old one is wrong."
    )
    shown = {
        "rank": ranked["rank"].astype(int),
        "given label": ranked[store.label_column].astype(str),
        "suggested": ranked["suggested_label"].astype(str),
    }
    edited = _label_editor(store, ranked, shown, None, store.classes(), key="label_suspect_editor")
    if st.button("Save corrected labels", key="label_suspect_save", icon=":material/save:"):
        ss["label_flash"] = f"Corrected {counted(_save(store, edited, 'label_suspect_editor'), 'label')}."
        st.rerun()


def _ranked_suspects(store: LabelStore, n: int, base_model: str, separator: str | None) -> pd.DataFrame | None:
    """The ``n`` labelled rows most likely mislabelled (core.labeling.suspected_label_errors; with a
    tag ``separator``, core.tag_review.suspected_tag_errors), kept in the session until the labels,
    ``n`` or the base model change (one cross-check per change, not per rerun); None (the reason
    shown) when it refuses."""
    labeled = store.labeled()
    stamp = (separator, store.folder.name, (store.folder / "data.csv").stat().st_mtime, n, base_model)
    if ss.get("label_suspect_stamp") != stamp:
        what = "the tags of " if separator else ""
        args = (labeled, store.text_columns, store.label_column, n)
        try:
            with st.spinner(f"Cross-checking {what}{rows_words(len(labeled), 'labelled')}…"):
                embedder = _suspect_embedder(base_model, len(labeled))
                ss["label_suspects"] = (suspected_tag_errors(*args, separator=separator, embedder=embedder) if separator
                                        else suspected_label_errors(*args, embedder=embedder))
        except ValueError as exc:
            st.info(plain(exc))
            return None
        ss["label_suspect_stamp"] = stamp
    return ss["label_suspects"]


def _suspects_note(ranked: pd.DataFrame) -> bool:
    """Say how many of the suspects are likely wrong (core.label_errors' calibrated estimate, in
    words), or why none is listed; True when there are rows to show."""
    note = ranked.attrs.get("note", "")
    if not len(ranked):
        st.info(note)  # no claims where the checking model cannot tell a wrong label from a hard row
        return False
    st.markdown(plain(note))
    return True


def tag_project(store: LabelStore, model) -> str | None:
    """The tag separator of a project labelled with several tags per row ("|" when the ranking
    model is multi-label and the labels so far show none), or None for one label per row."""
    found = store.tag_separator()  # None when nothing is labelled yet
    if found is not None:
        return found
    return "|" if getattr(model, "multi_label", False) else None


def preselected_labels(ranked: pd.DataFrame) -> pd.Series:
    """The label each suggested row starts with in the editor: the model's suggestion for the rows
    it is least sure of, empty for the random checks (issue 30). A preselected random check that is
    saved only when corrected or ticked would keep the rows the model got wrong and drop the ones it
    got right, so the comparison that reads them would be unfair to the model; empty, each needs a choice."""
    return ranked["predicted_label"].astype(str).where(ranked["reason"] != RANDOM_CHECK, "")


def _label_editor(store: LabelStore, ranked: pd.DataFrame, shown: dict[str, pd.Series], bar: str | None,
                  classes: list[str], *, key: str, several: bool = False,
                  suggested: pd.Series | None = None) -> pd.DataFrame:
    """An editor over ``ranked`` rows: the row number, the text, the read-only ``shown`` columns
    (``bar``, a 0..1 share, drawn as a bar; None: no bar) and a label column to pick from ``classes``,
    empty or preselected with ``suggested`` (one label per row, to accept or correct); under it, how
    many rows are picked and not saved yet (:func:`_picked_note`)."""
    text_col, label_col = store.text_columns[0], store.label_column
    empty = [[] for _ in range(len(ranked))] if several else [""] * len(ranked)
    # A suggestion is saved only when ticked or corrected (_save), never unread; the label stays the
    # last column, where the eye (and the browser test) finds it.
    accept = {} if suggested is None else {ACCEPT: False}
    view = pd.DataFrame({
        "row": ranked.index.astype(int), text_col: ranked[text_col].astype(str), **shown, **accept,
        label_col: empty if suggested is None else list(suggested),
    })
    pick = (st.column_config.MultiselectColumn(label_col, options=classes, help="Pick every tag that fits")
            if several else st.column_config.SelectboxColumn(label_col, options=classes, help="Pick the right label"))
    edited = st.data_editor(
        view, key=key, hide_index=True, placeholder="", disabled=[c for c in view.columns if c not in (label_col, ACCEPT)],
        column_config={
            "row": st.column_config.NumberColumn("row", help=f"The row's position in the file ({ROW_NUMBERING})"),
            ACCEPT: st.column_config.CheckboxColumn(ACCEPT, help="Tick to save the suggested label as it is"),
            label_col: pick,
            text_col: st.column_config.TextColumn(text_col, width="large"),
            **({bar: st.column_config.ProgressColumn(bar, min_value=0.0, max_value=1.0, format="percent")} if bar else {}),
        },
    )
    _picked_note(store, edited, key)
    return edited


def _picked(store: LabelStore, edited: pd.DataFrame, key: str) -> dict[int, str]:
    """The labels picked in editor ``key`` so far (row id -> label, blank picks skipped): what
    :func:`_save` would save now."""
    # Only rows the person touched: a label picked or corrected, or a suggestion ticked as right.
    # A preselected suggestion left alone is not a label (it would teach the model its own guess).
    changes = _changes(key)
    touched = [store.label_column in changes.get(i, {}) or bool(changes.get(i, {}).get(ACCEPT)) for i in range(len(edited))]
    labels = [_label_value(store, v) for v in edited[store.label_column]]
    return {int(r): v for r, v, t in zip(edited["row"], labels, touched) if t and v.strip()}


def _changes(key: str) -> dict[int, dict]:
    """The edits editor ``key`` has sent (row position -> {column: new value})."""
    return {int(i): c for i, c in ((ss.get(key) or {}).get("edited_rows") or {}).items()}


def _label_value(store: LabelStore, value) -> str:
    """An editor label cell as the label saved (several tags per row come back as a list: joined as
    the project joins them; an empty cell: "")."""
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        tags = [str(t) for t in list(value) if str(t).strip()]
        return join_tags(tags, tag_project(store, None) or "|")
    return value if isinstance(value, str) else ""


def accepted_without_label(store: LabelStore, edited: pd.DataFrame, key: str) -> str:
    """Why rows ticked "accept" in editor ``key`` with an empty label are not saved ("" when there are
    none). A random check starts empty (:func:`preselected_labels`): it has no suggestion to accept,
    and saving the model's guess for it would undo what starting empty is for, so the person picks."""
    changes = _changes(key)
    n = sum(bool(changes.get(i, {}).get(ACCEPT)) and not _label_value(store, v).strip()
            for i, v in enumerate(edited[store.label_column]))
    if not n:
        return ""
    return (f"{rows_words(n)} ticked \"{ACCEPT}\" {'has' if n == 1 else 'have'} no suggested label to accept (the random "
            f"checks start empty) and {'is' if n == 1 else 'are'} not saved: pick {'its' if n == 1 else 'their'} label "
            f"in the \"{plain(store.label_column)}\" column.")


def _picked_note(store: LabelStore, edited: pd.DataFrame, key: str) -> None:
    """Say how many rows the Save buttons under editor ``key`` will save, counted from the edits the
    server has received. Streamlit sends an editor's edits a moment (150 ms) after the last one, so
    a pick shows here once it has arrived; a suggestion picked again unchanged is no edit and is not
    counted (it needs "accept")."""
    picked = len(_picked(store, edited, key))
    if picked:
        st.caption(f"{rows_words(picked)} picked, not saved yet.")
    if unsaved := accepted_without_label(store, edited, key):
        st.warning(unsaved, icon=":material/info:")


def _save(store: LabelStore, edited: pd.DataFrame, key: str, reasons: pd.Series | None = None) -> int:
    """Save the labels picked in editor ``key`` (blank picks skipped, :func:`_picked`); returns how
    many changed. ``reasons``: why each row was suggested (row id -> "least sure" / "random check"),
    saved with its label. The editor is reset: the saved rows leave it."""
    picked = _picked(store, edited, key)
    ss.pop(key, None)
    several = any(isinstance(v, (list, tuple)) or hasattr(v, "tolist") for v in edited[store.label_column])
    why = {r: reasons[r] for r in picked if r in reasons.index} if reasons is not None else None
    return store.set_labels(picked, tag_sep=(tag_project(store, None) or "|") if several else None,
                            reasons=why) if picked else 0
