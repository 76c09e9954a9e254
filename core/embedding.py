"""The frozen-encoder embedding candidate: ``fit_embedding(prepared, config) -> EmbeddingClassifier``.

The base model's encoder is used as it is (no training): each training text is embedded once
(mean pooling, L2-normalised, with the input prefix the encoder expects: core.base_models.
input_prefix), then a linear model is fitted on the embeddings with scikit-learn: logistic
regression for classes, ridge for numbers. Its regularisation is chosen by a small k-fold
cross-validation on the training rows alone (macro-F1 or R², copies of a text in one fold), so
the validation and test rows stay unseen for the pipeline that scores it.

Why this candidate: it costs one forward pass per text (no backward pass, no epochs), so it is
ready in seconds to a few minutes on a laptop CPU, and on small data sets it often beats both
TF-IDF and a fine-tune (issue 28: frozen e5 + LR 0.877 macro-F1 on 2,000 Chinese reviews against
0.836 for character TF-IDF + LR and 0.866 for the fine-tune). Measured in bench/bench_embedding.py.
Nothing is written to disk: the embeddings live in memory only.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .base_models import input_prefix
from .config import TrainConfig
from .cpu import cpu_threads
from .models.embedding import PROBE_TEXTS, EmbeddingClassifier, encoder_reference, load_encoder
from .models.folder import PREDICT_BATCH_SIZE
from .prepare import Prepared
from .progress import Cancel, ProgressCallback, ProgressEvent, TrainingCancelled, cancel_check

# Regularisation grids searched by k-fold CV on the training rows. The embeddings are unit
# vectors of 384 small coordinates, so useful C values sit above scikit-learn's default 1.0
# (1-64 won on the bench sets; see docs/measurements.md); the ridge grid mirrors it (alpha ~ 1/C).
C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
ALPHA_GRID = (0.01, 0.1, 1.0, 10.0)
CV_FOLDS = 5  # fewer when the smallest class has fewer training rows
MAX_ITER = 3000


def fit_embedding(
    prepared: Prepared,
    config: TrainConfig,
    on_progress: ProgressCallback | None = None,
    cancel: Cancel = None,
) -> EmbeddingClassifier:
    """Embed ``prepared.splits["train"]`` with ``config.base_model``'s frozen encoder and fit the
    linear model on them; returns the model (its ``metrics`` hold the fit's facts only: chosen
    C/alpha, CV score, folds, rows, seconds; the caller scores it, e.g. core.evaluation.evaluate).

    Settings used: base_model, max_length, seed (folds), class_weighting ("balanced" logistic
    regression when True). Progress: "train" events whose ``step``/``total_steps`` count the
    batches embedded (``epoch`` is their fraction, 0-1), then one when the linear model is fitted.
    Raises ``ValueError`` for a base model that is not installed or no training rows, and
    :class:`TrainingCancelled` when ``cancel`` is set (checked between batches and before the fit).
    """
    import torch

    started = time.monotonic()
    cancelled = cancel_check(cancel)
    train_idx = np.asarray(prepared.splits["train"])
    if len(train_idx) == 0:
        raise ValueError("The embedding model needs training rows; the split has none.")
    body, tokenizer, base = load_encoder(config.base_model)
    if str(next(body.parameters()).device) == "cpu":
        torch.set_num_threads(cpu_threads())
    encoder = {"base_model": encoder_reference(base), "prefix": input_prefix(base), "max_length": config.max_length}
    model = EmbeddingClassifier(body, tokenizer, task=prepared.task, classes=prepared.classes,
                                coef=_zeros(prepared, body), intercept=np.zeros(_rows(prepared)),
                                schema=prepared.schema, encoder=encoder)
    total = -(-len(train_idx) // PREDICT_BATCH_SIZE)

    def on_batch(done: int, n: int) -> None:
        if cancelled():
            raise TrainingCancelled("Training was cancelled; nothing was saved.")
        if on_progress is not None:
            step, elapsed = -(-done // PREDICT_BATCH_SIZE), time.monotonic() - started
            on_progress(ProgressEvent("train", step, total, step / total, elapsed_s=elapsed,
                                      eta_s=elapsed / done * (n - done),
                                      message=f"Embedding the training texts with {base.name} ({done:,}/{n:,})"))

    if cancelled():
        raise TrainingCancelled("Training was cancelled; nothing was saved.")
    X = model.embed(prepared.texts_at(train_idx), PREDICT_BATCH_SIZE, on_batch).astype(np.float64)
    embedded = time.monotonic() - started
    if cancelled():
        raise TrainingCancelled("Training was cancelled; nothing was saved.")
    groups = np.asarray(prepared.groups)[train_idx] if prepared.groups is not None else None
    # One BLAS thread: the fits are small (n x 384), and OpenBLAS's two threads spin when the
    # cores are busy: the 25 CV fits on 2,000 rows took 29 s with them and 0.9 s without (load 14).
    with threadpool_limits(limits=1):
        coef, intercept, estimator = _fit_linear(X, prepared.y[train_idx], prepared, config, groups)
    model.coef_, model.intercept_, model.estimator = coef, intercept, estimator
    model.probe = model.embed(list(PROBE_TEXTS))
    model.training_config = {**prepared.training_config(config), "method": "embedding"}
    seconds = time.monotonic() - started
    model.metrics = {"task": prepared.task, "method": "embedding", "embedding": {
        **estimator, "rows": int(len(train_idx)), "embed_seconds": round(embedded, 2),
        "fit_seconds": round(seconds - embedded, 2)}, "train_seconds": round(seconds, 2)}
    if on_progress is not None:
        on_progress(ProgressEvent("train", total, total, 1.0, elapsed_s=seconds, eta_s=0.0,
                                  message=f"Fitted {estimator['name']} on the embeddings ({_chosen(estimator)})"))
    return model


def _rows(prepared: Prepared) -> int:
    return len(prepared.classes) if prepared.classification else 1


def _zeros(prepared: Prepared, body: Any) -> np.ndarray:
    return np.zeros((_rows(prepared), int(body.config.hidden_size)))


def _chosen(estimator: dict[str, Any]) -> str:
    if estimator["name"] == "constant":
        return estimator["note"]
    param = "C" if "C" in estimator else "alpha"
    how = f"by {estimator['cv_folds']}-fold cross-validation" if estimator["cv_folds"] else "(too few rows to cross-validate)"
    return f"{param}={estimator[param]:g} chosen {how}"


def _folds(y: np.ndarray, classification: bool, groups: np.ndarray | None, seed: int) -> Any:
    """The CV splitter for the training rows, or None when they are too few to split: stratified
    for classes, grouped when copies of a text must stay in one fold (core.prepare's groups)."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if classification:
        k = min(CV_FOLDS, int(np.unique(y, return_counts=True)[1].min()))
    else:
        k = min(CV_FOLDS, len(y) // 2)
    if groups is not None:
        k = min(k, len(np.unique(groups)))
    if k < 2:
        return None
    if groups is not None:
        if classification:
            return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(y, y, groups))
        return list(GroupKFold(n_splits=k).split(y, y, groups))
    if classification:
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return KFold(n_splits=k, shuffle=True, random_state=seed)


def _fit_linear(X: np.ndarray, y: np.ndarray, prepared: Prepared, config: TrainConfig,
                groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(coef (k, d), intercept (k,), settings) of the linear model on embeddings ``X`` (n, d):
    logistic regression (classes: ``y`` holds positions in ``prepared.classes``) or ridge, its
    C/alpha chosen by k-fold CV (macro-F1 / R²) over C_GRID / ALPHA_GRID, refitted on all of X."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV

    classification = prepared.classification
    if prepared.multi_label:
        return _fit_tags(X, y, prepared, config, groups)
    if classification and len(np.unique(y)) == 1:  # one class in the training rows: it always wins
        coef, intercept = np.zeros((len(prepared.classes), X.shape[1])), np.full(len(prepared.classes), -1e4)
        intercept[int(y[0])] = 0.0
        return coef, intercept, {"name": "constant", "C": None, "cv_folds": 0, "cv_score": None,
                                 "note": "the training rows hold one class only"}
    folds = _folds(y, classification, groups, config.seed)
    if classification:
        weight = "balanced" if config.class_weighting else None
        estimator: Any = LogisticRegression(max_iter=MAX_ITER, class_weight=weight)
        param, grid, scoring = "C", C_GRID, "f1_macro"
    else:
        estimator, param, grid, scoring = Ridge(), "alpha", ALPHA_GRID, "r2"
    best_score = None
    if folds is not None:
        search = GridSearchCV(estimator, {param: list(grid)}, cv=folds, scoring=scoring, refit=True)
        search.fit(X, y)
        fitted, best_score = search.best_estimator_, float(search.best_score_)
        n_folds = search.n_splits_
    else:
        fitted, n_folds = estimator.set_params(**{param: 1.0}).fit(X, y), 0
    settings: dict[str, Any] = {"name": type(fitted).__name__, param: float(getattr(fitted, param)),
                                "grid": list(grid), "cv_folds": int(n_folds), "cv_scoring": scoring,
                                "cv_score": best_score}
    if not classification:
        return np.atleast_2d(fitted.coef_).astype(np.float64), np.atleast_1d(fitted.intercept_).astype(np.float64), settings
    settings["class_weight"] = fitted.class_weight
    return *_class_rows(fitted, len(prepared.classes)), settings


def _fit_tags(X: np.ndarray, Y: np.ndarray, prepared: Prepared, config: TrainConfig,
              groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Several tags per row: one-vs-rest logistic regression on the embeddings (scikit-learn's
    ``OneVsRestClassifier``; each tag's classes balanced with ``config.class_weighting``), C
    chosen by k-fold CV on micro-F1 over C_GRID; (coef (k, d), intercept (k,), settings with
    ``multi_label`` True). A tag constant on the training rows gets zero coefficients and an
    intercept of +-20 (core.multilabel_training.tfidf_ovr_model's rule)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
    from sklearn.multiclass import OneVsRestClassifier

    weight = "balanced" if config.class_weighting else None
    estimator = OneVsRestClassifier(LogisticRegression(max_iter=MAX_ITER, class_weight=weight))
    k = min(CV_FOLDS, len(Y) // 2, len(np.unique(groups)) if groups is not None else CV_FOLDS)
    folds = None if k < 2 else (list(GroupKFold(n_splits=k).split(X, Y, groups)) if groups is not None
                                else KFold(n_splits=k, shuffle=True, random_state=config.seed))
    best_score = None
    if folds is not None:
        search = GridSearchCV(estimator, {"estimator__C": list(C_GRID)}, cv=folds, scoring="f1_micro", refit=True)
        search.fit(X, Y)
        fitted, best_score, n_folds = search.best_estimator_, float(search.best_score_), search.n_splits_
    else:
        fitted, n_folds = estimator.fit(X, Y), 0
    coef, intercept = np.zeros((Y.shape[1], X.shape[1])), np.zeros(Y.shape[1])
    for j, one in enumerate(fitted.estimators_):
        if hasattr(one, "coef_"):
            coef[j], intercept[j] = np.ravel(one.coef_), float(np.ravel(one.intercept_)[0])
        else:  # scikit-learn's constant predictor for a tag the training rows all have (or none has)
            intercept[j] = 20.0 if float(np.ravel(one.y_)[0]) > 0 else -20.0
    return coef, intercept, {"name": "OneVsRestClassifier(LogisticRegression)", "multi_label": True,
                             "C": float(fitted.estimator.C), "grid": list(C_GRID), "cv_folds": int(n_folds),
                             "cv_scoring": "f1_micro", "cv_score": best_score, "class_weight": weight}


def _class_rows(fitted: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One row of coefficients per class position 0..n_classes-1, for a softmax over the scores:
    a binary model's single row w becomes rows (0, w) (softmax([0, z]) is its sigmoid); a class
    absent from the training rows gets a score that never wins."""
    coef = np.atleast_2d(fitted.coef_).astype(np.float64)
    intercept = np.atleast_1d(fitted.intercept_).astype(np.float64)
    present = np.asarray(fitted.classes_, dtype=int)
    if len(present) == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
    full_coef, full_intercept = np.zeros((n_classes, coef.shape[1])), np.full(n_classes, -1e4)
    full_coef[present], full_intercept[present] = coef, intercept
    return full_coef, full_intercept
