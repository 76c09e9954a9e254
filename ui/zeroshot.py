"""The Train page's "No labels yet? Start from your category names": a zero-shot model
(core.zeroshot) from the uploaded file's text and the categories the user types.

It is built inline, in the page run, with a progress bar: the page reads at most
:data:`PAGE_ROWS` rows of the file (a seeded sample beyond), which with minilm-en takes well
under a minute (bench/bench_zeroshot.py), so it needs no background job.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import workspace
from core.columns import suggest_text_columns
from core.models.zeroshot import NEVER_TRAINED
from core.registry import model_path
from core.zeroshot import Options, build_zeroshot, choose_base_model, parse_descriptions, parse_labels
from ui.markdown import plain
from ui.state import TrainData, set_active_model

PAGE_ROWS = 1000  # rows read on the page: enough for centring and self-training, seconds to embed
TITLE = "No labels yet? Start from your category names"
ss = st.session_state


def zero_shot_section(data: TrainData | None) -> None:
    """The section, below the training form: open by itself when the file has one column (a file
    of texts without labels, which training refuses)."""
    if data is None:
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
        if st.button("Build zero-shot model", key="zeroshot_build", type="primary", disabled=bool(problem),
                     icon=":material/auto_awesome:"):
            _build(df[[text_col]], text_col, labels, descriptions, self_train, name)
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


def _build(df, text_col: str, labels: str, descriptions: str, self_train: bool, name: str, *,
           overwrite: bool = False) -> None:
    """Build and save the model under ``name`` with a progress bar; errors shown, nothing half-saved
    (``overwrite``: replace a model of that name, atomically, once the new one is built)."""
    ss.pop("zeroshot_done", None)
    bar = st.progress(0.0, text="Starting")
    try:
        folder = model_path(name, write=True)
        if folder.exists() and not overwrite:
            raise ValueError(f"A model named '{name}' exists already; choose another name.")
        sample = df.sample(PAGE_ROWS, random_state=0) if len(df) > PAGE_ROWS else df
        # The base model by the text's language, as training picks it; allowed on this server?
        base, _ = choose_base_model(sample[text_col].dropna().astype(str).tolist(), parse_labels(labels))
        workspace.current().check_base_model(base)
        model = build_zeroshot(sample, labels, text_columns=[text_col], descriptions=descriptions,
                               base_model=base, options=Options(self_training=self_train),
                               on_progress=lambda f, m: bar.progress(min(1.0, f), text=m))
        model.save(folder, overwrite=overwrite)
    except (ValueError, OSError) as exc:
        bar.empty()
        st.error(plain(exc))
        return
    bar.empty()
    set_active_model(name)
    how = model.zero_shot["method"]
    ss["zeroshot_done"] = (f"Saved zero-shot model **{plain(name)}** ({plain(', '.join(model.classes_))}; "
                           f"{plain(model.base_model)}; {plain(how)}; {model.metrics['train_seconds']:.0f} s). "
                           "It is now the active model: use it on **Predict**, **Dashboard**, **Ad Copy Lab** or **Label**.")


# --------------------------------------------------------------------------- the Label page's cold start


def label_cold_start(store, own_model_exists: bool) -> None:
    """The Label page before its first model: categories typed -> a zero-shot model on the
    project's unlabelled rows, made active, so the rows are ranked least sure first with its
    suggestion beside each ("model says"). Shown until the project has trained its own model;
    after a few dozen labels "Train on the labelled rows" takes over (few-shot, then fine-tuning)."""
    if own_model_exists:
        return
    name = f"label-{store.folder.name}"[:55] + "-zeroshot"
    try:
        built = model_path(name).exists()
    except ValueError:  # a project name that makes no model name: nothing to offer
        return
    with st.expander(TITLE, expanded=not (built or store.counts()["labeled"]), icon=":material/label_off:"):
        st.caption("A model from your category names suggests a label for every row and ranks them least sure "
                   "first; accept or correct them below, then train on your labels.")
        if "label_zs_labels" not in ss and store.classes():
            ss["label_zs_labels"] = ", ".join(store.classes())
        labels = st.text_input("Categories, separated by commas", key="label_zs_labels",
                               placeholder="complaint, praise, question")
        descriptions = st.text_area("Descriptions (optional), one per line: category = what it means",
                                    key="label_zs_descriptions")
        problem = _problem(labels, descriptions)
        if problem and labels.strip():
            st.error(plain(problem))
        if st.button("Suggest labels from these categories", key="label_zs_build", disabled=bool(problem),
                     icon=":material/auto_awesome:"):
            rows = store.unlabeled()
            if not len(rows):
                st.info("Every row is labelled already.")
                return
            # The project's own zero-shot model: rebuilt in place (atomically) when the categories change.
            _build(rows[[store.text_columns[0]]], store.text_columns[0], labels, descriptions, True, name, overwrite=True)
            if ss.get("zeroshot_done"):
                ss["label_pending_source"] = "Use the active model"  # ui.label.ACTIVE_SOURCE: rank with it
                ss["label_flash"] = ss.pop("zeroshot_done").split(" It is now")[0] + (
                    " Its suggestions are in the **model says** column, least sure rows first.")
                st.rerun()
