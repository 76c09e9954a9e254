"""The leaderboard's scoring on small data: every labelled row scored once, by cross-validation.

On a few dozen labelled rows (core.fewshot's rule, :func:`core.fewshot.is_small`: the smallest
class under 30 rows or fewer than 200 rows, and no split column of the user's) a validation split
would be 3-20 rows, and the leaderboard would choose by chance: 12 labelled rows in 3 classes gave
6 training, 3 validation and 3 test rows, and a 14-row retrain on the Label page swapped a few-shot
model for TF-IDF on one validation row's difference. Here each candidate is instead fitted k times,
on k-1 folds, each fold's rows scored by the copy that did not see them (stratified k-fold, copies
of a text in one fold: :func:`core.fewshot.cross_validation_folds`), and once more on every row:
that copy is the model saved. Its out-of-fold predictions over ALL rows are its score, and every
candidate is scored on the same folds, so the comparison stays paired and core.pipeline's rule
(core.evaluation.better_than) chooses on n rows instead of n/10.

:func:`scored_view` gives core.pipeline a :class:`Prepared` whose validation and test splits
are every row (where the out-of-fold predictions sit), :func:`cross_fit` runs one candidate
(its progress naming the fold, :class:`FoldEvents`),
:func:`oof_baselines` makes the majority class and TF-IDF the baselines of the verdict, and
:func:`describe` rewrites the split facts of the result in those terms.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .config import TrainConfig
from .evaluation import FittedBaselines, classification_metrics, evaluate, fold_spread, score_predictions
from .fewshot import cross_validation_folds, is_small
from .models import SavedModel
from .prepare import Prepared
from .progress import Events, ProgressEvent
from .result import Fitted

Folds = list[tuple[np.ndarray, np.ndarray]]


def folds_for(prepared: Prepared, config: TrainConfig) -> Folds | None:
    """The folds when ``prepared`` is small single-label classification data without a split column of
    the user's and the run is few-shot (``config.method`` resolved); None: the leaderboard's split."""
    if not prepared.classification or prepared.multi_label or prepared.split_column or config.method != "fewshot":
        return None
    return cross_validation_folds(prepared, config.seed) if is_small(prepared) else None


def scored_view(prepared: Prepared) -> Prepared:
    """``prepared`` with every row as training, validation and test rows: out-of-fold scores are on all of them."""
    everything = np.arange(len(prepared.texts))
    return dataclasses.replace(prepared, splits={"train": everything, "validation": everything, "test": everything},
                               out_of_fold=True)


class FoldEvents(Events):
    """A candidate's progress events during cross-validation, passed on to ``events`` with the fold
    they belong to named ("Few-shot: fold 2 of 5 · contrastive step 10/40") and their fraction put
    within the whole run (k folds and the fit on every row, equal parts). A trainer counts its steps
    afresh for every fit, so without the fold its count (and its bar) would seem to go backwards
    k times (the Label page's retrain, seen in a newcomer walk). ``metrics["fold"]`` of each event
    names the fit: "fold 2 of 5" or "final fit on all 14 rows (after 5 folds)"."""

    def __init__(self, events: Events, title: str, k: int, n_rows: int) -> None:
        super().__init__(events.emit)
        self.title, self.k, self.n_rows = title, k, n_rows
        self.part = 0  # 0..k-1: fold part + 1; k: the fit on every row

    def label(self) -> str:
        if self.part < self.k:
            return f"{self.title}: fold {self.part + 1} of {self.k}"
        return f"{self.title}: final fit on all {self.n_rows:,} rows (after {self.k} folds)"

    def start(self, part: int) -> None:
        """Fit ``part`` begins (0..k-1: a fold; k: the fit on every row)."""
        self.part = part
        self.emit(ProgressEvent("train", 0, 0, 0.0, message=""))

    def emit(self, event: ProgressEvent) -> None:
        """``event`` with the fit named in its message and in ``metrics["fold"]`` (the Train and Label
        pages' bar reads it there), its fraction the share of the whole cross-validation done."""
        label = self.label()
        super().emit(dataclasses.replace(
            event, message=f"{label} · {event.message}" if event.message else label,
            metrics={**event.metrics, "fold": label.split(": ", 1)[1]},
            fraction=(self.part + event.fraction) / (self.k + 1)))


def cross_fit(kind: str, fit: Callable[[Prepared], SavedModel], prepared: Prepared, folds: Folds,
              events: FoldEvents | None = None) -> Fitted:
    """Fit ``fit(run)`` (a model trained on ``run.splits["train"]``) on each fold's training rows and on
    every row; returns the :class:`Fitted` whose model is the all-rows copy and whose ``val`` and
    ``test`` are the out-of-fold predictions of all n rows (in row order), ``facts["cv"]`` the spread.
    ``events`` (the ones ``fit`` reports to) is told where each fit starts."""
    started, empty = time.monotonic(), np.array([], dtype=int)
    n, k = len(prepared.texts), len(prepared.classes)
    pred, proba, per_fold, runs = np.empty(n, dtype=object), np.zeros((n, k)), [], []
    for i, (train, scored) in enumerate(folds):
        if events is not None:
            events.start(i)
        model = fit(dataclasses.replace(prepared, splits={"train": train, "validation": empty, "test": scored}))
        fold = evaluate(model, prepared, scored)
        pred[scored], proba[scored] = fold.pred, fold.proba
        per_fold.append({"n_train": int(len(train)), "n_test": int(len(scored)), "metrics": fold.metrics})
        runs.append(dict(getattr(model, "metrics", None) or {}))
    if events is not None:
        events.start(len(folds))
    model = fit(dataclasses.replace(prepared, splits={"train": np.arange(n), "validation": empty, "test": empty}))
    oof = score_predictions(prepared, np.arange(n), pred, proba)
    facts = dict(getattr(model, "metrics", None) or {})
    runs.append(dict(facts))
    if all("steps_trained" in r and "total_steps" in r for r in runs):  # a trained kind: its steps over all k + 1 runs
        facts.update(steps_trained=sum(int(r["steps_trained"]) for r in runs), total_steps=sum(int(r["total_steps"]) for r in runs))
        if any(r.get("stopped_reason") == "time limit" for r in runs):
            facts["stopped_reason"] = "time limit"
    facts["cv"] = {"k": len(folds), "folds": [{k_: f[k_] for k_ in ("n_train", "n_test")} for f in per_fold],
                   "model": fold_spread([f["metrics"] for f in per_fold])}
    return Fitted(kind, model, oof, oof, time.monotonic() - started, facts=facts,
                  refitted={"model": model, "test": None, "rows": n, "sentence": _sentence(n, len(folds))})


def oof_baselines(prepared: Prepared, tfidf: Fitted) -> FittedBaselines:
    """The verdict's baselines from TF-IDF's out-of-fold predictions and the majority class (the
    most common label of all rows: a fold's own majority would differ by at most one row)."""
    values, counts = np.unique(prepared.labels, return_counts=True)
    constant = values[counts.argmax()]
    classes = prepared.classes
    metrics = {"majority": classification_metrics(prepared.labels, [constant] * len(prepared.labels), classes),
               "tfidf_lr": tfidf.test.metrics}
    return FittedBaselines("classification", tfidf.model, float(tfidf.facts.get("param", 1.0)), tfidf.val.pred,
                           tfidf.test.pred, tfidf.test.proba, constant, metrics)


def describe(metrics: dict[str, Any], fitted: dict[str, Fitted], kind: str, n: int, k: int) -> None:
    """Rewrite ``metrics`` (core.result.assemble_result's, of the saved model or a kept candidate of
    ``kind``, in place) for out-of-fold scores: the evaluation in words, split sizes, the fold spread
    of ``kind`` and TF-IDF, and no warning about a small test split (every row was scored)."""
    metrics["evaluation"] = f"{k}-fold cross-validation"
    metrics["split_sizes"] = {"train": n, "validation": 0, "test": n}
    cv = dict(fitted[kind].facts["cv"])
    cv["baselines"] = {"tfidf_lr": fitted["tfidf"].facts["cv"]["model"]} if "tfidf" in fitted else {}
    cv["note"] = ("Each row was scored once, by a model trained without it; the numbers are pooled over the folds, "
                  "std is the sample standard deviation across folds. The saved model is trained on all rows.")
    metrics["cv"] = cv
    metrics["warnings"] = [w for w in metrics.get("warnings", []) if not w.startswith("The test split has only")]


def _sentence(n: int, k: int) -> str:
    return (f"The saved model is trained on all {n:,} labelled rows; the numbers shown are {k}-fold cross-validated: "
            "each row was scored once, by a copy trained without it.")
