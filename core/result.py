"""The result of a leaderboard run (core.pipeline): the chosen model, its verdict and metrics, and
every other finished candidate kept beside it.

One tail for every kind of model: :func:`assemble_result` builds the :class:`TrainResult` the
pipeline hands to ``on_leader`` (the best so far, while later candidates run) and returns at
the end (the chosen model refitted on more rows). The verdict is core.evaluation's
:func:`choose_saved_model` of the chosen candidate (or the best-scoring other one when TF-IDF
leads) against TF-IDF on the same validation and test rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import TrainConfig
from .evaluation import (
    MODEL_NAMES,
    FittedBaselines,
    Scored,
    below_majority_note,
    choose_saved_model,
    headline,
    tfidf_estimator,
    usefulness_check,
)
from .models import SavedModel
from .models.tfidf import TfidfClassifier
from .multilabel import tag_counts
from .prepare import Prepared
from .progress import TrainResult
from .words import rows_words

# The headings of the one thing a run's verdict must say before anything else (verdict_notice).
NOT_USABLE = "Not usable"
CAUTION = "Worse than a constant guess on one measure"


def verdict_notice(verdict: dict[str, Any]) -> tuple[str, str] | None:
    """``(heading, words)`` a run's verdict (metrics.json's ``verdict``) must say before anything
    else, or None: :data:`NOT_USABLE` with its ``warning`` (no better than guessing), else
    :data:`CAUTION` with its ``caution`` (several tags per row: usable on micro-F1, but its Hamming
    loss is no better than a constant guess's; core.multilabel_training.baseline_notes words it).
    Every page and the CLI say it through this one function, once per view: beside it,
    :func:`verdict_account` gives the rest of the verdict without these words."""
    if verdict.get("useless"):
        return NOT_USABLE, str(verdict.get("warning") or "")
    if verdict.get("caution"):
        return CAUTION, str(verdict["caution"])
    return None


def verdict_account(verdict: dict[str, Any]) -> str:
    """The verdict's ``sentence`` (which model was saved and why) without its
    :func:`verdict_notice` words, which are said apart, once."""
    sentence, notice = str(verdict.get("sentence") or ""), verdict_notice(verdict)
    if notice and notice[1]:
        sentence = sentence.replace(notice[1], "")
    return " ".join(sentence.split())


@dataclass
class Fitted:
    """A candidate that ran: its model (fitted on the training rows), its validation and test
    scores, wall-clock seconds, and the fit's own facts (``model.metrics`` as the fit returned it)."""

    kind: str
    model: SavedModel
    val: Scored
    test: Scored
    seconds: float
    status: str = "done"  # or "stopped early"
    note: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    refitted: dict[str, Any] | None = None  # TF-IDF: its copy refitted on every labelled row (made once)

    def score(self, task: str) -> float:
        return headline(self.val.metrics, task)


def tfidf_refit(prepared: Prepared, config: TrainConfig, fitted: Fitted) -> dict[str, Any]:
    """The TF-IDF model refitted on every labelled row with the setting chosen on validation, as
    AutoML tools do (it is cheap): ``{"model", "test": None, "rows", "sentence"}``; its reported
    numbers stay those of ``fitted``, the copy fitted on the training rows and scored on the
    held-out test rows. Made once per run (kept in ``fitted.refitted``)."""
    if fitted.refitted is None:
        param = float(fitted.facts["param"])  # C or alpha, as chosen on validation
        if prepared.multi_label:  # one-vs-rest, with the thresholds chosen on validation
            from .multilabel_training import tfidf_ovr_refit

            model = tfidf_ovr_refit(prepared, config, fitted.model, param)
        else:
            model = TfidfClassifier.from_pipeline(
                tfidf_estimator(prepared.task, param).fit(prepared.texts, prepared.labels), task=prepared.task,
                classes=prepared.classes, schema=prepared.schema, training_config=prepared.training_config(config))
        name, splits, n = "C" if prepared.classification else "alpha", prepared.splits, len(prepared.texts)
        fitted.refitted = {"model": model, "test": None, "rows": int(n), "sentence": (
            f"The saved TF-IDF model was refitted on all {n:,} labelled rows (train + validation + test, {name}={param:g} "
            f"as chosen on validation); the numbers shown are those of the same model fitted on the "
            f"{len(splits['train']):,} training rows and scored on the {len(splits['test']):,} held-out test rows.")}
    return fitted.refitted


def assemble_result(prepared: Prepared, config: TrainConfig, fitted: dict[str, Fitted], leader: str,
                    baselines: FittedBaselines, rows: tuple[dict[str, Any], ...], started: float, reason: str, *,
                    refitted: dict[str, Any] | None = None, ood_reference: Any = None) -> TrainResult:
    """The :class:`TrainResult` with ``fitted[leader]`` as the model (``refitted``: core.pipeline.refit's
    answer; TF-IDF is always its all-rows copy) and every other candidate in ``alternatives``.

    ``metrics``: task, model (test metrics of the saved model), baselines, split_sizes,
    n_rows_used, rows_dropped, the fine-tune's steps/best_step/total_steps/stopped_reason and
    train_seconds (the only candidate's when there is no fine-tune), verdict, saved_kind,
    candidates ({kind: test metrics} of the others), validation ({kind: validation headline}),
    leaderboard (``rows``), failed_candidates ({kind: {"title", "note"}} of those that failed, said
    in ``warnings`` too), refit / refit_skipped / before_refit, method_chosen, method_reason."""
    chosen = fitted[leader]
    if leader == "tfidf":
        refitted = tfidf_refit(prepared, config, chosen)
    saved = refitted["model"] if refitted and "model" in refitted else chosen.model
    test = refitted["test"] if refitted and refitted.get("test") is not None else chosen.test
    metrics = _run_metrics(prepared, config, fitted, baselines, rows, started)
    warnings = list(metrics["warnings"])
    metrics.update(model=test.metrics, saved_kind=leader, verdict=choose_verdict(prepared, config, fitted, leader, test.pred, baselines),
                   candidates={k: f.test.metrics for k, f in fitted.items() if k != leader})
    if refitted and "skipped" in refitted:
        metrics["refit_skipped"] = refitted["skipped"]
        warnings.append(refitted["skipped"])
    elif refitted:
        metrics["refit"] = {k: refitted[k] for k in ("rows", "sentence", "steps") if k in refitted}
        if refitted.get("test") is not None:
            metrics["before_refit"] = chosen.test.metrics
    metrics["warnings"] = warnings
    _tag_thresholds(metrics, saved)
    saved.metrics, saved.test_predictions = metrics, test.predictions
    alternatives = {kind: _kept(prepared, config, f, metrics, test.pred, baselines) for kind, f in fitted.items() if kind != leader}
    result = TrainResult(saved, metrics, [], prepared.report, warnings, metrics["stopped_reason"], time.monotonic() - started,
                         ood_reference=ood_reference, alternatives=alternatives)
    result.note(method_chosen=config.method, method_reason=reason)
    return result


def _run_metrics(prepared: Prepared, config: TrainConfig, fitted: dict[str, Fitted], baselines: FittedBaselines,
                 rows: tuple[dict[str, Any], ...], started: float) -> dict[str, Any]:
    """The metrics every model of the run shares (see :func:`assemble_result`)."""
    task, splits = prepared.task, prepared.splits
    fine = next((fitted[k] for k in ("transformer", "fewshot") if k in fitted), None)
    facts = dict(fine.facts) if fine is not None else {}
    facts.pop("stop_note", None)
    warnings = list(prepared.warnings)
    failed = {r["kind"]: {"title": r.get("title") or r["kind"], "note": r.get("note", "")}
              for r in rows if r.get("status") == "failed"}
    if failed:
        warnings.append(failed_sentence(failed))
    if prepared.classification and len(splits["test"]) < 100:
        cv = ("" if prepared.multi_label else "; the leaderboard's note on TF-IDF gives a cross-validated score on the "
              "training + validation rows")
        warnings.append(f"The test split has only {rows_words(len(splits['test']))}, so these numbers are rough{cv}.")
    tags = {"multi_label": True, "headline": "micro_f1", "label_sep": prepared.label_sep, "tags": list(prepared.classes),
            "tag_counts": tag_counts(prepared.y, prepared.classes)} if prepared.multi_label else {}
    return {
        "task": task,
        **tags,
        "baselines": baselines.metrics,
        "split_sizes": {k: int(len(v)) for k, v in splits.items()},
        "n_rows_used": int(len(prepared.texts)),
        "rows_dropped": prepared.report.dropped,
        "best_step": 0, "steps": 0, "total_steps": 0, "stopped_reason": "completed",
        **facts,
        "train_seconds": float(facts.get("train_seconds", round(sum(f.seconds for f in fitted.values()), 2))),
        "total_seconds": round(time.monotonic() - started, 2),
        "warnings": warnings,
        "validation": {k: f.score(task) for k, f in fitted.items()},
        "leaderboard": [dict(r) for r in rows],
        "failed_candidates": failed,
    }


def failed_sentence(failed: dict[str, dict[str, str]]) -> str:
    """What a run with failed candidates says (``metrics["failed_candidates"]``: kind -> its
    leaderboard title and note): "The fine-tuned transformer failed (...). The saved model is the
    best of the candidates that finished."; "" when none failed."""
    if not failed:
        return ""
    parts = [f"{v['title']} failed ({v['note'].removeprefix('Could not be fitted: ')})" for v in failed.values()]
    return f"{'; '.join(parts)}. The saved model is the best of the candidates that finished."


def choose_verdict(prepared: Prepared, config: TrainConfig, fitted: dict[str, Fitted], leader: str,
                   saved_test_pred: np.ndarray, baselines: FittedBaselines) -> dict[str, Any]:
    """core.evaluation.choose_saved_model of the leader (or, when TF-IDF leads, the best-scoring
    other candidate) against TF-IDF on the same rows; a verdict of TF-IDF alone when nothing else ran.
    Several tags per row: core.multilabel_training.tag_verdict (micro-F1, the same rule)."""
    if prepared.multi_label:
        from .multilabel_training import tag_verdict

        return tag_verdict(prepared, config, fitted, leader, saved_test_pred, baselines)
    s, labels, tfidf = prepared.splits, prepared.labels, fitted["tfidf"]
    test_true = labels[s["test"]]
    constant = [baselines.constant] * len(test_true)
    others = [f for k, f in fitted.items() if k != "tfidf"]
    if not others:
        return _alone(prepared, config, tfidf, constant)
    rival = fitted[leader] if leader != "tfidf" else max(others, key=lambda f: f.score(prepared.task))
    return choose_saved_model(
        prepared.task, prepared.classes, ahead=kept_over(prepared, config, fitted, leader), candidate=rival.kind, val_true=labels[s["validation"]], val_candidate=rival.val.pred,
        val_tfidf=tfidf.val.pred, test_true=test_true, test_candidate=saved_test_pred if rival.kind == leader else rival.test.pred,
        test_tfidf=tfidf.test.pred, test_constant=constant, allow_simpler=config.choose_simpler or rival.kind != leader,
        class_weighting=config.class_weighting, seed=config.seed, out_of_fold=prepared.out_of_fold)


def kept_over(prepared: Prepared, config: TrainConfig, fitted: dict[str, Fitted], leader: str) -> dict[str, Any] | None:
    """The best-scoring candidate above ``leader`` on validation when the settings keep the leader
    (``choose_simpler`` False: core.candidates.kept_over), for the verdict to say beside the kept
    one; None otherwise."""
    if config.choose_simpler or leader == "tfidf":
        return None
    from .candidates import kept_over as candidate_above

    return candidate_above(fitted, leader, prepared.task)


def _alone(prepared: Prepared, config: TrainConfig, tfidf: Fitted, constant: list[Any]) -> dict[str, Any]:
    """The verdict while (or when) TF-IDF is the only candidate scored."""
    key = "tfidf_lr" if prepared.classification else "tfidf_ridge"
    test_true = prepared.labels[prepared.splits["test"]]
    usefulness = usefulness_check(prepared.task, test_true, tfidf.test.pred, constant, prepared.classes, seed=config.seed + 2,
                                  out_of_fold=prepared.out_of_fold)
    reason = f"{MODEL_NAMES[key][0].upper()}{MODEL_NAMES[key][1:]} is the only candidate scored so far, so it was saved."
    nothing = {"n": 0}
    return {"chosen": key, "candidate": None, "alternative": key, "chosen_on": "validation", "reason": reason,
            "delta": None, "ci": None, "p_value": None, "within_noise": None, "validation": nothing, "test": nothing,
            "metric": "macro-F1" if prepared.classification else "R²", "usefulness": usefulness,
            "useless": usefulness["useless"], "warning": usefulness["message"], "missed_classes": [],
            "sentence": f"{reason} {usefulness['message']}".strip()}


def _kept(prepared: Prepared, config: TrainConfig, fitted: Fitted, metrics: dict[str, Any], saved_pred: np.ndarray,
          baselines: FittedBaselines) -> SavedModel:
    """A candidate not saved, kept beside the saved one (core.models.candidates) to be put in place
    later without retraining: the run's metrics with its own test numbers, predictions and
    usefulness check (TF-IDF as refitted on every labelled row, :func:`tfidf_refit`)."""
    own = {k: v for k, v in metrics.items() if k not in ("refit", "before_refit", "candidates", "refit_skipped")}
    model = fitted.model
    if fitted.kind == "tfidf":
        refit = tfidf_refit(prepared, config, fitted)
        model, own["refit"] = refit["model"], {"rows": refit["rows"], "sentence": refit["sentence"]}
    test_true = prepared.labels[prepared.splits["test"]]
    constant = [baselines.constant] * len(test_true)
    if prepared.multi_label:
        from .multilabel_training import own_tag_verdict

        verdict = own_tag_verdict(metrics["verdict"], fitted.test.metrics, baselines)
    else:
        verdict = _own_verdict(metrics["verdict"], prepared.task, prepared.classes, test_true, fitted.test.pred, saved_pred,
                               constant, config.seed)
    own.update(model=fitted.test.metrics, saved_kind=fitted.kind, verdict=verdict)
    _tag_thresholds(own, model)
    model.metrics, model.test_predictions = own, fitted.test.predictions
    return model


def _tag_thresholds(metrics: dict[str, Any], model: SavedModel) -> None:
    """Several tags per row: the model's own per-tag thresholds in its metrics ({tag: threshold}),
    the tags it cannot yet tell (``cannot_tell_yet``, core.multilabel.cut_offs) and on which rows
    they were chosen (``thresholds_chosen_on``)."""
    if metrics.get("multi_label") and getattr(model, "thresholds", None) is not None:
        metrics["thresholds"] = {str(t): float(v) for t, v in zip(model.classes_, model.thresholds)}
        metrics["cannot_tell_yet"] = list(getattr(model, "untold_tags", None) or [])
        metrics["thresholds_chosen_on"] = getattr(model, "thresholds_chosen_on", "") or ""


def _own_verdict(verdict: dict[str, Any], task: str, classes: Any, test_true: Any, own_pred: Any, saved_pred: Any,
                 constant: list[Any], seed: int) -> dict[str, Any]:
    """The run's verdict as a kept candidate carries it: the same choice and comparison, with the
    usefulness check (and the note on accuracy below always guessing) of the candidate's own test
    predictions instead of the saved model's, so whichever is put in place is flagged for itself."""
    usefulness = usefulness_check(task, test_true, own_pred, constant, classes, seed=seed + 2,
                                  out_of_fold=verdict.get("chosen_on") == "out-of-fold")
    sentence = verdict.get("sentence", "")
    if task == "classification":
        if not verdict.get("useless"):
            sentence = sentence.replace(below_majority_note(test_true, saved_pred, constant), "")
        if not usefulness["useless"]:
            sentence += below_majority_note(test_true, own_pred, constant)
    return {**verdict, "usefulness": usefulness, "useless": usefulness["useless"], "warning": usefulness["message"],
            "sentence": sentence}


def ood_reference(texts: list[str], config: TrainConfig) -> Any:
    """The out-of-distribution reference of the rows trained on (``texts``: model inputs as the
    model reads them), embedded by the base model's frozen encoder; None when it cannot be built (a model
    folder without one builds it later from its test predictions, core.ood.model_ood_reference).
    At most core.ood.OOD_REFERENCE_ROWS texts are embedded, so this costs seconds."""
    from .ood import OodReference, ood_encoder

    try:
        return OodReference.from_texts(texts, ood_encoder(config.base_model), seed=config.seed)
    except Exception:  # noqa: BLE001 - too few rows, encoder not installed...: never fail a training for it
        return None
