"""Several tags per row on the pages: the Train page's suggestion and toggle, the results
view of a multi-label model (micro/macro-F1, Hamming loss, subset accuracy, the comparison with
TF-IDF one-vs-rest, a per-tag table and a per-tag confusion view), and Predict's per-tag cut-offs.
Computation is in core/multilabel.py, core/multilabel_training.py and core/models/tags.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from core import ModelInfo
from core.charts.evaluation import confusion_matrix_chart
from core.models.tags import THRESHOLDS, UNTOLD_NOTE, cut_offs_frame, read_thresholds, untold_sentence
from core.multilabel import ListLabels, detect, refusal
from core.multilabel_training import BASELINE_NAMES, headline_row, per_tag_table
from core.registry import model_path
from ui.downloads import csv_download
from ui.figures import inert
from ui.markdown import plain

ss = st.session_state
TOGGLE_KEY = "train_multi_label"
AUTO_KEY = "train_multi_label_auto"  # ticked by the page, not (yet) by the person
MISTAKE_ROWS = 200  # test rows shown whose predicted tags differ from the true ones


@st.cache_data(show_spinner=False, max_entries=8)
def _detect(values: pd.Series, column: str) -> ListLabels | None:
    return detect(values, column)


def multi_label_toggle(df: pd.DataFrame, label_col: str | None, data_key: str) -> tuple[bool, str | None]:
    """The Train page's "Several tags per row" checkbox under the label column, ticked for the
    user when the column looks like lists (core.multilabel.detect), and what that means said
    once above it in the page's words: ticked (for the user, until they touch it), each tag is
    learned on its own; unticked, training one class per row is refused naming the joined values,
    as ``train --no-multi-label`` refuses it (core.data's warning of the same finding,
    Problem.kind TAG_LISTS, is left out of the page). Returns (multi-label on, the refusal or None);
    the separator is left to training to find, as the CLI without --label-sep leaves it."""
    if not label_col or label_col not in df.columns:
        return False, None
    found = _detect(df[label_col], label_col)
    if ss.get("train_multi_label_for") != (data_key, label_col):  # a new file or label: suggest again
        ss["train_multi_label_for"] = (data_key, label_col)
        ss[TOGGLE_KEY] = ss[AUTO_KEY] = found is not None
    refused = None
    if found is not None and ss.get(TOGGLE_KEY):
        by = "was ticked for you" if ss.get(AUTO_KEY) else "is ticked"
        st.info(plain(f"{found.finding()} The box below {by}: each tag is learned on its own (unticked, every "
                      "combination of tags would be a class of its own, which is refused)."), icon=":material/sell:")
    elif found is not None:  # refused as `train --no-multi-label` refuses it (core.multilabel.refusal)
        refused = refusal(found, df[label_col], "Tick 'Several tags per row (multi-label)' below to learn each tag "
                          "on its own.")
        st.error(plain(refused), icon=":material/sell:")
    on = st.checkbox(
        "Several tags per row (multi-label)", key=TOGGLE_KEY, on_change=_touched,
        help="Each row may carry several tags (e.g. 'price|delivery'): each tag gets its own yes/no output and a "
        "threshold chosen on the validation rows; predictions list every tag that passes its threshold.",
    )
    return bool(on), refused


def _touched() -> None:
    ss[AUTO_KEY] = False  # the person's own choice from now on: no longer "ticked for you"


def render_multilabel_results(info: ModelInfo, key: str, *, compact: bool = False, leaderboard: Sequence[dict] = (),
                              notice_above: bool = False) -> None:
    """The results of a model with several tags per row (``info.metrics["multi_label"]``), with the
    run's leaderboard and its kept candidates as for one class per row (ui.results;
    ``notice_above``: as render_verdict's)."""
    from ui.candidates import render_candidates
    from ui.leaderboard import saved_leaderboard
    from ui.results import render_best_so_far, render_board, render_verdict

    metrics = info.metrics
    model, baselines = metrics.get("model") or {}, metrics.get("baselines") or {}
    tfidf = baselines.get("tfidf_ovr") or {}
    split = metrics.get("split_sizes") or {}
    # info.describe(): the kind actually saved (embeddings, TF-IDF, ...), not the method the run asked for
    st.caption(f"**several tags per row** · {len(info.classes)} tags · {plain(info.describe())} · "
               f"{split.get('train', 0):,} training / {split.get('validation', 0):,} validation / "
               f"{split.get('test', 0):,} test rows")
    render_best_so_far(info)
    render_verdict(metrics, compact=compact, notice_above=notice_above)
    if not compact:
        render_board(info, saved_leaderboard(metrics) or list(leaderboard), key)
        render_candidates(info, key)
    cards = st.columns(2 if compact else 4)
    delta = (model["micro_f1"] - tfidf["micro_f1"]) * 100 if "micro_f1" in tfidf and "micro_f1" in model else None
    cards[0].metric("Micro-F1 (headline)", f"{model.get('micro_f1', float('nan')):.3f}",
                    None if delta is None else f"{delta:+.1f} pts vs TF-IDF one-vs-rest", border=True,
                    help="Every (row, tag) decision counts once: F1 over all of them.")
    cards[1].metric("Macro-F1", f"{model.get('macro_f1', float('nan')):.3f}", border=True,
                    help="The mean of the per-tag F1s: a rare tag counts as much as a common one.")
    cards[2 % len(cards)].metric("Hamming loss", f"{model.get('hamming_loss', float('nan')):.3f}", border=True,
                                 help="Share of (row, tag) decisions that are wrong: lower is better.")
    cards[3 % len(cards)].metric("Subset accuracy", f"{model.get('subset_accuracy', float('nan')):.3f}", border=True,
                                 help="Share of test rows whose tags are all exactly right.")
    if compact:
        return
    for warning in metrics.get("warnings") or []:
        st.warning(plain(warning))
    names = {"tfidf_ovr": "TF-IDF one-vs-rest", **BASELINE_NAMES}
    table = [headline_row("saved model", model), *(headline_row(names.get(k, k), v) for k, v in baselines.items())]
    st.dataframe(pd.DataFrame(table), hide_index=True, key=f"{key}_ml_compare")
    _per_tag(metrics, key)
    _mistakes(info, key)


def _per_tag(metrics: dict, key: str) -> None:
    """The per-tag table (with each tag's threshold) and one tag's 2x2 confusion matrix."""
    st.markdown("##### Per tag")
    table = per_tag_table(metrics.get("model") or {})
    thresholds = metrics.get("thresholds") or {}
    if thresholds:
        table.insert(1, "threshold", table["tag"].map(thresholds))
        untold = set(metrics.get("cannot_tell_yet") or [])
        if untold:
            table.insert(2, "note", [UNTOLD_NOTE if t in untold else "" for t in table["tag"]])
            st.caption(plain(untold_sentence(metrics["cannot_tell_yet"])))
    st.dataframe(table, hide_index=True, key=f"{key}_per_tag", column_config={
        name: st.column_config.NumberColumn(name, format="%.3f") for name in ("threshold", "precision", "recall", "f1")})
    if not len(table):
        return
    tag = st.selectbox("Confusion matrix of tag", table["tag"].tolist(), key=f"{key}_tag_cm")
    row = table.set_index("tag").loc[tag]
    matrix = [[int(row["tn"]), int(row["fp"])], [int(row["fn"]), int(row["tp"])]]
    st.plotly_chart(inert(confusion_matrix_chart([f"not {tag}", tag], matrix)), key=f"{key}_tag_cm_chart")


def _mistakes(info: ModelInfo, key: str) -> None:
    from ui.results import load_test_predictions

    predictions = load_test_predictions(info.path)
    if predictions is None or not {"true_labels", "predicted_labels"} <= set(predictions.columns):
        return
    true, pred = predictions["true_labels"].fillna("").astype(str), predictions["predicted_labels"].fillna("").astype(str)
    wrong = predictions.loc[true != pred, ["text", "true_labels", "predicted_labels"]]
    st.markdown(f"##### Test rows whose tags were not all right ({len(wrong):,} of {len(predictions):,})")
    if len(wrong):
        st.dataframe(wrong.head(MISTAKE_ROWS), hide_index=True, key=f"{key}_ml_mistakes")


CUT_OFFS_NOTE = ("Each `p_<tag>` column is the model's probability that the row carries that tag, each tag on its "
                 "own (a row's probabilities need not add up to 1). A tag is in `predicted_labels` when its "
                 "probability is **at or above its cut-off** below, chosen per tag on the validation rows when "
                 "the model was trained; no tag passing its cut-off leaves `predicted_labels` empty.")


def render_cut_offs(model_name: str, tags: Sequence[str], output: Path, renamed: Mapping[str, str],
                    given: Mapping[str, int] | None = None, n_rows: int = 0) -> None:
    """Predict's per-tag cut-offs, said once under a multi-label result: what the ``p_<tag>``
    columns of the scored file ``output`` mean, a small table (core.models.tags.cut_offs_frame, from
    the model's thresholds.json; ``renamed``: the prediction columns the run renamed) and the same
    table as its own CSV download. Its own file because a CSV holds one table: a note line would
    break the predictions for every reader, and a cut-off column per tag would repeat one number on
    every row. A model saved again after the file was scored is said instead of numbers that may
    not be the ones used. ``given``: rows given each tag in the scored file of ``n_rows`` rows (the
    chart's counts), so that a tag the model cannot yet tell is said with the rows it still got."""
    st.markdown("##### Cut-offs per tag")
    try:
        folder = model_path(model_name)
        saved = folder / THRESHOLDS
        if saved.is_file() and saved.stat().st_mtime > output.stat().st_mtime:
            raise ValueError("saved again since")
        found = read_thresholds(folder, tags)
    except (ValueError, OSError):  # replaced, removed or retagged since the run
        st.caption(f"**{plain(model_name)}** was saved again (or removed) after this file was scored, so its cut-offs "
                   "now may not be the ones used: score the file again to see them.")
        return
    untold = (found or {}).get("cannot_tell_yet") or ()
    frame = cut_offs_frame(tags, None if found is None else found["thresholds"], renamed, untold=untold)
    st.caption(CUT_OFFS_NOTE)
    if untold:
        st.caption(plain(untold_sentence(untold, given, n_rows)))
    st.dataframe(frame, hide_index=True, key="predict_cut_offs", column_config={
        "cut_off": st.column_config.NumberColumn("cut_off", format="%.3f")})
    csv_download("Download the cut-offs (CSV)", frame, file_name=f"{output.stem}-cut-offs.csv",
                 key="predict_download_cut_offs", icon=":material/download:")
