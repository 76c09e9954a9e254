"""Metrics and the simple baselines every model is shown next to.

Baselines are trained and scored on exactly the same split as the model:
- majority class (classification) / mean of the training target (regression);
- TF-IDF + logistic regression (ridge for regression). Word 1-2-grams and character 1-3-grams
  (within word boundaries... and across, for text without spaces) are combined so that the baseline
  is fair on Chinese too, where a word-only vectoriser sees each sentence as one token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

REGRESSION_KEYS = ("mae", "rmse", "r2", "spearman")


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], proba: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, the confusion
    matrix (rows = true, columns = predicted, labels in ``classes`` order), ROC-AUC (binary,
    when ``proba`` is given, positive class = ``classes[1]``)."""
    y_true = np.asarray([str(v) for v in y_true], dtype=object)
    y_pred = np.asarray([str(v) for v in y_pred], dtype=object)
    labels = [str(c) for c in classes]
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    result: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
    if proba is not None and len(labels) == 2 and len(set(y_true)) == 2:
        result["roc_auc"] = float(skm.roc_auc_score(y_true == labels[1], proba[:, 1]))
    return result


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, Any]:
    """MAE, RMSE, R² and Spearman rank correlation."""
    from scipy.stats import spearmanr

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    rho = spearmanr(y_true, y_pred).statistic if np.std(y_pred) > 0 and np.std(y_true) > 0 else 0.0
    return {
        "n": int(len(y_true)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        "spearman": float(rho),
    }


def headline(metrics: dict[str, Any], task: str) -> float:
    """The one number models are ranked by: macro-F1 (classification) or R² (regression)."""
    return float(metrics["macro_f1"] if task == "classification" else metrics["r2"])


def tfidf_features():
    """Word 1-2-grams plus character 1-3-grams: a fair bag-of-words for any script."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, max_features=200_000)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200_000)),
        ]
    )


def baseline_metrics(
    task: str,
    train_texts: list[str],
    train_y: Sequence,
    val_texts: list[str],
    val_y: Sequence,
    test_texts: list[str],
    test_y: Sequence,
    classes: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Scores of the majority/mean baseline and TF-IDF + LR (ridge) on the test split.

    The regularisation strength of the TF-IDF model is picked on the validation split from a
    small grid, then the model is scored once on test, like the transformer.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    results: dict[str, dict[str, Any]] = {}
    if task == "classification":
        train_y = [str(v) for v in train_y]
        values, counts = np.unique(train_y, return_counts=True)
        majority = values[counts.argmax()]
        results["majority"] = classification_metrics(test_y, [majority] * len(test_y), classes)
        best, best_score = None, -1.0
        for c in (1.0, 4.0, 16.0):
            pipe = make_pipeline(tfidf_features(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
            pipe.fit(train_texts, train_y)
            score = skm.f1_score([str(v) for v in val_y], pipe.predict(val_texts), average="macro") if len(val_y) else 0.0
            if score > best_score:
                best, best_score = pipe, score
        order = [list(best.classes_).index(c) for c in classes]
        proba = best.predict_proba(test_texts)[:, order]
        results["tfidf_lr"] = classification_metrics(test_y, best.predict(test_texts), classes, proba)
    else:
        train_y = np.asarray(train_y, dtype=float)
        results["mean"] = regression_metrics(test_y, np.full(len(test_y), train_y.mean()))
        best, best_score = None, -np.inf
        for alpha in (0.3, 1.0, 3.0, 10.0):
            pipe = make_pipeline(tfidf_features(), Ridge(alpha=alpha))
            pipe.fit(train_texts, train_y)
            score = skm.r2_score(np.asarray(val_y, float), pipe.predict(val_texts)) if len(val_y) > 1 else 0.0
            if score > best_score:
                best, best_score = pipe, score
        results["tfidf_ridge"] = regression_metrics(test_y, best.predict(test_texts))
    return results
