"""Renderers for a saved model's evaluation, shared by the Train and Models pages.

Everything is read from the saved model folder (``metrics.json``, ``test_predictions.csv``
via :class:`core.ModelInfo`), never from an in-memory training job, so what the Train page
shows right after training is exactly what the Models page shows later.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from core import ModelInfo, workspace
from core.base_models import is_language_advice
from core.candidates import choice_sentence, kind_name
from core.charts.evaluation import (
    baseline_comparison_chart,
    confusion_matrix_chart,
    headline_numbers,
    mistakes_frame,
    per_class_frame,
    predicted_vs_actual_chart,
    roc_curve_chart,
    roc_inputs,
)
from core.data import ROW_NUMBERING
from core.evaluation import cross_validated_folds, scored_rows
from core.jobs import BestSoFar, best_so_far_job, list_jobs
from core.models.folder import TEST_PREDICTIONS
from core.models.softvote import WITH_FINE_TUNE
from core.models.zeroshot import NEVER_TRAINED
from core.progress import BEST_SO_FAR
from core.registry import KIND_METHODS, SHORT_KIND_NAMES
from core.result import verdict_account, verdict_notice
from ui.candidates import render_candidates
from ui.figures import inert
from ui.jobs import duration
from ui.leaderboard import pending_titles, render_leaderboard, saved_leaderboard
from ui.markdown import plain


@st.cache_data(show_spinner=False, max_entries=8)
def _read_predictions(path: str, mtime: float) -> pd.DataFrame:
    # Only empty cells are missing: a text "NA" stays text (as in core.read_csv).
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def load_test_predictions(folder: Path) -> pd.DataFrame | None:
    """The saved test rows with true and predicted labels, or None if the model has none."""
    path = Path(folder) / TEST_PREDICTIONS
    if not path.is_file():
        return None
    return _read_predictions(str(path), path.stat().st_mtime)


def models_frame(infos: Sequence[ModelInfo]) -> pd.DataFrame:
    """One row per saved model for the Models page table (numbers stay numbers)."""
    rows = []
    base_label = workspace.current().base_model_label
    for info in infos:
        model = info.metrics.get("model") or {}
        tfidf = (info.metrics.get("baselines") or {}).get("tfidf_lr") or {}
        labels = ", ".join(info.classes[:6]) + (f" … (+{len(info.classes) - 6})" if len(info.classes) > 6 else "")
        lift = None
        if isinstance(model.get("macro_f1"), (int, float)) and isinstance(tfidf.get("macro_f1"), (int, float)):
            lift = (model["macro_f1"] - tfidf["macro_f1"]) * 100
        rows.append(
            {
                # The numbers a marketer compares come right after what the model is, so they show without
                # scrolling sideways at a laptop's width; the long text columns (method, kept candidates) last.
                "name": info.name,
                # What the saved model is, as ModelInfo.describe says it on every other page (the run's
                # method, "full", did not build an embeddings model or a soft vote saved from it); a soft
                # vote by its short name: its members are said under the table, for the model inspected.
                "kind": SHORT_KIND_NAMES.get(info.candidate_kind) or info.kind_words(base_label),
                "macro-F1": model.get("macro_f1"),
                "lift vs TF-IDF (pts)": lift,
                "accuracy": model.get("accuracy"),
                "R²": model.get("r2"),
                "MAE": model.get("mae"),
                "task": info.task,
                "labels": labels if info.task == "classification" else "(a number)",
                # A zero-shot model learned from no labelled row but was built from the rows it read
                # (its prototypes and self-training): "rows 0" read as an empty model (round-7 walk).
                "rows": info.n_rows if info.metrics.get("trained_on_labels") is not False
                else int(info.metrics.get("rows_read") or 0),
                "saved": info.saved_at.replace("T", " ")[:16],
                "base model": base_label(info.base_model_used) if info.base_model_used else "none",  # TF-IDF, trees (issue 28)
                "method": info.method_words or None,  # none for a kind on no base model: its kind says how it was built
                # core.models.candidates, named as the leaderboard names them (not by their folder names)
                "kept candidates": "; ".join(kind_name(k, info.task) for k in info.candidates) or None,
            }
        )
    frame = pd.DataFrame(rows)
    # Hide metric columns that no listed model has (e.g. R² when every model is a classifier); the
    # method column stays, empty where every listed kind runs on no base model.
    empty = [column for column in frame if column != "method" and frame[column].isna().all()]
    return frame.drop(columns=empty) if len(frame) else frame


def compared_settings(info: ModelInfo) -> dict:
    """The settings the Models page compares (core.charts.evaluation.model_comparison_frame): the
    run's config with the model's own base model and method (ModelInfo.method_words). A model on no
    base model (TF-IDF saved in place of a fine-tune) or on a frozen encoder (embeddings, soft vote)
    shows none of the fine-tune's settings, which did not build it."""
    if info.base_model_used is None:
        return {"base_model": "none", "method": info.kind_words()}
    base = workspace.current().base_model_label(info.base_model)
    if info.kind in KIND_METHODS and info.candidate_kind != WITH_FINE_TUNE:  # a frozen encoder only (embeddings, soft vote, zero-shot): no fine-tune setting built it
        return {"base_model": base, "method": info.method_words}
    return {**info.config, "base_model": base, "method": info.method_words}


def render_headline(info: ModelInfo, columns: int = 4) -> None:
    """The headline cards (st.metric) for one model."""
    cards = headline_numbers(info.metrics, info.task)
    slots = st.columns(columns)
    for i, card in enumerate(cards):
        with slots[i % columns]:
            st.metric(card.label, card.value, card.delta, delta_color=card.delta_color, help=card.help, border=True)


def render_confusion_matrix(info: ModelInfo, key: str) -> None:
    """The interactive confusion matrix with a counts / row-normalised toggle."""
    cm = (info.metrics.get("model") or {}).get("confusion_matrix")
    if not cm:
        st.caption("No confusion matrix was saved with this model.")
        return
    normalise = st.toggle(
        "Row-normalised (share of each true class)",
        key=f"{key}_cm_normalise",
        help="Off: row counts. On: each row sums to 100%, so the diagonal is each class's recall.",
    )
    st.plotly_chart(inert(confusion_matrix_chart(cm["labels"], cm["matrix"], normalize=normalise)), key=f"{key}_cm")


def notice_markdown(verdict: dict) -> str:
    """core.result.verdict_notice as the pages write it, "**heading:** words"; "" when there is none."""
    notice = verdict_notice(verdict)
    return f"**{notice[0]}:** {plain(notice[1])}".strip() if notice else ""


def render_verdict(metrics: dict, *, compact: bool = False, notice_above: bool = False) -> None:
    """Which model was saved and why, in words (``metrics["verdict"]``), with a warning banner
    when the saved model is no better than guessing, or (several tags per row) than a constant
    guess on Hamming loss (:func:`notice_markdown`). ``notice_above``: the page said that notice
    just above (the Train page's outcome), so it is not said again. The account below never
    repeats it (core.result.verdict_account). Models saved before verdicts existed show nothing."""
    verdict = metrics.get("verdict") or {}
    if not verdict:
        return
    notice = notice_markdown(verdict)
    if notice and not notice_above:
        st.warning(notice, icon=":material/warning:")
    if compact:
        return
    kind = str(metrics.get("saved_kind") or "")
    saved = kind_name(kind, str(metrics.get("task") or "classification"))
    if saved == kind:  # a kind without a name here: its leaderboard title
        saved = next((str(row.get("title")) for row in saved_leaderboard(metrics) if row.get("kind") == kind and row.get("title")), "")
    chosen = choice_sentence(metrics)
    if chosen:  # a person put this candidate in place: say so first, then the rule's own account
        rest = verdict_account(verdict).removeprefix(verdict.get("reason", "")).strip()
        # The account compares the rule's pair, which may not hold the model now in place (walk r13: it
        # argued for the model swapped out right under "your choice"): said as the run's, not as this model's.
        rest = f"The run's own comparison, for the rule's choice: {plain(rest)}" if rest else ""
        st.markdown(f"**Model in place: {saved}, your choice.** {plain(chosen)} {rest}".strip())
    else:
        sentence = plain(verdict_account(verdict))
        st.markdown(f"**Saved model: {saved}.** {sentence}" if saved else sentence)
    if (metrics.get("refit") or {}).get("sentence"):
        st.caption(plain(metrics["refit"]["sentence"]))


def render_board(info: ModelInfo, rows: Sequence[dict], key: str) -> None:
    """The run's leaderboard, the model in the folder marked "in use" (it follows a switch to a
    kept candidate), and, while its training job still runs, which candidates may replace it."""
    if not rows:
        return
    running = any(job.active and job.model_name == info.name for job in list_jobs())  # the best so far's job too
    render_leaderboard(rows, f"{key}_leaderboard", in_use_kind=info.candidate_kind, ended=not running,
                       folds=cross_validated_folds(info.metrics))
    pending = pending_titles(rows) if running else []
    if pending:
        st.caption(f"Its training job is still running: {plain(' or '.join(pending))} may replace this model "
                   "if it scores better.")


def render_warnings(info: ModelInfo) -> None:
    """The training run's warnings. The base model's language advice is a caption about the
    fine-tuned candidate when the saved model runs on no base model (TF-IDF saved in its place)."""
    for warning in info.metrics.get("warnings") or []:
        if info.base_model_used is None and is_language_advice(warning):
            st.caption(f"About the fine-tuned candidate: {plain(warning)}")
        else:
            st.warning(plain(warning))


def render_best_so_far(info: ModelInfo, found: BestSoFar | None = None) -> None:
    """Say that a model saved mid-run (core.jobs.best_so_far_job) is not its run's final model: while
    its job is queued or running, that the job will replace it when it ends; once the job ended
    without a final save (interrupted, failed, cancelled), that it stays as saved. Without it, a
    walk read a best so far as a finished run ("stopped: completed", "in place") while the refit
    ran 7 more minutes and changed its test score from 0.917 to 0.932. Nothing for a final model."""
    found = found or best_so_far_job(info.metrics)
    if found is None:
        return
    job = found.job
    if found.refitting:  # the job's last step: no candidate is left to run, only this model's retraining
        st.info("**The best so far of a training job that is still running: it is being retrained on train + "
                "validation, its last step.** Every page can use it now; when the job ends, this saved model is "
                "replaced by its retrained copy. The numbers, the verdict and the time below may change then.",
                icon=":material/hourglass_top:")
    elif found.running:
        still = "still running" if job.state == "running" else "queued to go on"
        st.info(f"**The best so far of a training job that is {still}.** It was saved while the job runs and every page "
                "can use it now, but the job replaces it when it ends: with a later candidate if one scores higher, "
                "or with this model retrained on train + validation. The numbers, the verdict and the time below may "
                "change then.", icon=":material/hourglass_top:")
    elif job is not None:
        why = f" ({plain(job.state)}{': ' + plain(job.message) if job.message else ''})"
        st.warning(f"**The best so far of a training job that ended without finishing**{why}. It was saved while the job "
                   "ran and stays usable as it is, but no later candidate and no retraining on train + validation "
                   "replaced it.")
    else:
        st.warning("**The best so far of a training run that had not finished when it was saved**, and its job is not "
                   "found here (a command-line run, or a job removed since): if that run still goes on, its final model "
                   "replaces this one; if it stopped, this stays as it was saved.")


def run_time(metrics: dict) -> str:
    """The header's time, naming what it measures: the whole run (every candidate with its scoring,
    and the refit: ``metrics["total_seconds"]``, core.result) where recorded; else the saved model's
    own fit (``train_seconds``: for a fine-tune its training loop alone, which is why it once read
    "trained in 141 s" beside a leaderboard row of 3:32); "" when neither is recorded."""
    total, fit = metrics.get("total_seconds"), metrics.get("train_seconds")
    if isinstance(total, (int, float)):
        resumed = metrics.get("resumed_from_step")
        since = f" since its resume at step {resumed:,}" if resumed else ""
        if metrics.get(BEST_SO_FAR):  # saved mid-run (render_best_so_far): the run had not ended
            return f"saved as the best so far {duration(total)} into the run{since}"
        return f"the whole run took {duration(total)}{since}"
    return f"fitted in {duration(fit)}" if isinstance(fit, (int, float)) else ""


def render_results(info: ModelInfo, key: str, *, compact: bool = False, leaderboard: Sequence[dict] = (),
                   notice_above: bool = False) -> None:
    """Everything about a saved model's test results.

    ``key`` prefixes every widget key (two models can be shown on one page). ``compact``
    leaves out the per-class table, the ROC curve, the mistakes and the leaderboard (for
    side-by-side views). The leaderboard is the one the model's metrics record
    (``metrics["leaderboard"]``), else ``leaderboard`` (the Train page: its job's last event).
    ``notice_above``: the verdict's notice was said just above (render_verdict).
    """
    metrics = info.metrics
    if metrics.get("multi_label"):  # several tags per row: its own numbers and views
        from ui.multilabel import render_multilabel_results

        render_multilabel_results(info, key, compact=compact, leaderboard=leaderboard, notice_above=notice_above)
        return
    split = metrics.get("split_sizes") or {}
    facts = [f"**{info.task}**"]
    if info.task == "classification":
        facts.append(f"{len(info.classes)} classes")
    facts.append(plain(info.describe(workspace.current().base_model_label)))
    if cross_validated_folds(metrics) and split:  # cross-validated on few labels: no row was held out as a test row
        facts.append(f"{split.get('train', 0):,} labelled rows, each scored out of fold "
                     f"({plain(metrics.get('evaluation') or 'cross-validation')}), then trained on all of them")
    elif split:
        facts.append(
            f"{split.get('train', 0):,} training / {split.get('validation', 0):,} validation / "
            f"{split.get('test', 0):,} test rows"
            # Refitted: the validation scores are the copy fitted on the training rows; the test ones the saved refit's.
            + (f", then refitted on {refit['rows']:,} training + validation rows"
               if isinstance(refit := metrics.get("refit"), dict) and refit.get("rows") else "")
        )
    live = best_so_far_job(metrics)
    running = live is not None and live.running
    if metrics.get("stopped_reason") and not running:  # a run that goes on has not stopped (walk: "stopped: completed")
        facts.append(f"stopped: {plain(metrics['stopped_reason'])}")
    facts.append(run_time(metrics))
    st.caption(" · ".join(f for f in facts if f))
    render_best_so_far(info, live)
    if info.kind == "zeroshot":  # no labels, so no test score: say it before any number (core.zeroshot)
        st.info(plain(metrics.get("evaluation") or NEVER_TRAINED), icon=":material/label_off:")
    render_verdict(metrics, compact=compact, notice_above=notice_above)
    if not compact:
        # While its job runs, the job's latest board: the one saved with this model is as it stood then.
        render_board(info, (live.leaderboard if running else []) or saved_leaderboard(metrics) or list(leaderboard), key)
        render_candidates(info, key)
    render_headline(info, columns=2 if compact else 4)
    if not compact:
        render_warnings(info)
        if metrics.get("baselines"):
            st.plotly_chart(inert(baseline_comparison_chart(metrics, info.task)), key=f"{key}_baselines")

    predictions = load_test_predictions(info.path)
    if info.task == "classification":
        if not compact:
            st.markdown("##### Per class")
            st.dataframe(
                per_class_frame(metrics),
                hide_index=True,
                key=f"{key}_per_class",
                column_config={
                    name: st.column_config.NumberColumn(name, format="%.3f") for name in ("precision", "recall", "f1")
                },
            )
        render_confusion_matrix(info, key)
        roc = roc_inputs(predictions, info.classes) if predictions is not None and not compact else None
        if roc is not None and 0 < roc[0].sum() < len(roc[0]):
            st.plotly_chart(inert(roc_curve_chart(*roc)), key=f"{key}_roc")
    elif predictions is not None and {"true_value", "predicted_value"} <= set(predictions.columns):
        st.plotly_chart(
            inert(predicted_vs_actual_chart(predictions["true_value"], predictions["predicted_value"])), key=f"{key}_scatter"
        )
    if compact or predictions is None:
        return
    try:
        mistakes = mistakes_frame(predictions, info.task)
    except ValueError:
        return  # a model kind whose predictions file has other columns
    rows = scored_rows(metrics).capitalize()  # "Out-of-fold rows" when cross-validated on few labels
    if info.task == "classification":
        wrong = int(
            (
                predictions["true_label"].astype(str).str.strip()
                != predictions["predicted_label"].astype(str).str.strip()
            ).sum()
        )
        st.markdown(f"##### {rows} the model got wrong ({wrong:,} of {len(predictions):,}), most confident first")
    else:
        st.markdown(f"##### {rows} with the largest errors")
    if len(mistakes):
        if "row" in mistakes.columns:  # said once, as Predict says it: a bare "row 255" leaves the counting unsaid
            st.caption(f"`row` is the row's number in the training file ({ROW_NUMBERING}).")
        st.dataframe(
            mistakes,
            hide_index=True,
            key=f"{key}_mistakes",
            placeholder="",
            column_config={
                "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.2f"),
                "row": st.column_config.NumberColumn("row", help=f"The row's position in the training file ({ROW_NUMBERING})"),
            },
        )
    else:
        st.success("The model got every test row right.")
