"""The tail of a multi-label fine-tuning run (several tags per row): thresholds chosen on
validation, test metrics, TF-IDF one-vs-rest logistic regression on the same rows, and the honest
comparison that chooses the model to save.

``core.training.fit_transformer`` trains the sigmoid head with binary cross-entropy and hands its
model here (:func:`finish_transformer`). The headline metric is micro-F1 (every (row, tag)
decision counts once); macro-F1 (each tag counts once) is reported beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig
from .evaluation import tfidf_features
from .models.tfidf import TfidfClassifier, vectorizer_spec
from .multilabel import choose_thresholds, multilabel_metrics, tag_counts, tags_from_proba
from .prepare import Prepared
from .progress import ProgressEvent, TrainResult

HEADLINE = "micro_f1"  # the number the comparison and the verdict use
TFIDF_GRID = (1.0, 4.0, 16.0)  # C of each tag's logistic regression, chosen on validation (as single-label)
BOOTSTRAP_ROUNDS = 1000  # paired bootstrap of the test micro-F1 difference


def fit_tfidf_ovr(prepared: Prepared, config: TrainConfig, splits: dict[str, np.ndarray]
                  ) -> tuple[TfidfClassifier, float]:
    """TF-IDF + one-vs-rest logistic regression (scikit-learn's ``OneVsRestClassifier``; each tag's
    classes balanced when ``config.class_weighting``) on the training rows, C chosen on validation
    micro-F1 from :data:`TFIDF_GRID`, then a threshold per tag on validation. Returns the saved-model
    form (:class:`TfidfClassifier`, estimator ``multi_label``) and the C chosen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    Y = prepared.y
    train_texts, val_texts = prepared.texts_at(splits["train"]), prepared.texts_at(splits["validation"])
    best, best_c, best_score = None, TFIDF_GRID[0], -np.inf
    for c in TFIDF_GRID:
        lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if config.class_weighting else None)
        pipe = make_pipeline(tfidf_features(), OneVsRestClassifier(lr)).fit(train_texts, Y[splits["train"]])
        score = (multilabel_metrics(Y[splits["validation"]], pipe.predict(val_texts), prepared.classes)[HEADLINE]
                 if len(val_texts) else 0.0)
        if score > best_score:
            best, best_c, best_score = pipe, c, score
    model = tfidf_ovr_model(best, prepared, config)
    if len(val_texts):
        model.thresholds = choose_thresholds(Y[splits["validation"]], model.predict_proba(val_texts))
    else:
        model.thresholds = np.full(len(prepared.classes), 0.5)
    return model, best_c


def tfidf_ovr_model(pipe: Any, prepared: Prepared, config: TrainConfig) -> TfidfClassifier:
    """The fitted one-vs-rest pipeline as plain arrays: one row of coefficients per tag. A tag
    that was constant on the training rows (scikit-learn keeps a constant predictor) gets zero
    coefficients and an intercept of +-20 (a probability of 1 or 0)."""
    features, ovr = pipe.steps[0][1], pipe.steps[-1][1]
    specs = [vectorizer_spec(v) for _, v in features.transformer_list]
    n_features = sum(len(s["vocabulary"]) for s, _ in specs)
    coef, intercept = np.zeros((len(prepared.classes), n_features)), np.zeros(len(prepared.classes))
    for j, estimator in enumerate(ovr.estimators_):
        if hasattr(estimator, "coef_"):
            coef[j], intercept[j] = np.ravel(estimator.coef_), float(np.ravel(estimator.intercept_)[0])
        else:
            intercept[j] = 20.0 if float(np.ravel(estimator.y_)[0]) > 0 else -20.0
    lr = ovr.estimator
    model = TfidfClassifier(
        task="classification", classes=prepared.classes, blocks=[s for s, _ in specs], idfs=[i for _, i in specs],
        coef=coef, intercept=intercept, schema=prepared.schema,
        estimator={"name": "OneVsRestClassifier(LogisticRegression)", "multi_label": True, "C": float(lr.C),
                   "class_weight": lr.class_weight},
        training_config={**prepared.training_config(config), "label_sep": prepared.label_sep},
    )
    model.label_sep = prepared.label_sep
    return model


def predictions_frame(prepared: Prepared, positions: np.ndarray, proba: np.ndarray, thresholds: np.ndarray
                      ) -> pd.DataFrame:
    """test_predictions.csv of a multi-label model: ``row``, ``text``, ``true_labels``,
    ``predicted_labels`` (tags joined by "|") and ``p_<tag>`` per tag."""
    frame = pd.DataFrame({"row": prepared.index[positions], "text": prepared.texts_at(positions),
                          "true_labels": prepared.labels[positions],
                          "predicted_labels": tags_from_proba(proba, prepared.classes, thresholds)})
    for j, tag in enumerate(prepared.classes):
        frame[f"p_{tag}"] = proba[:, j]
    return frame


def micro_f1_difference(Y: np.ndarray, A: np.ndarray, B: np.ndarray, seed: int) -> dict[str, Any]:
    """Test micro-F1 of predictions A minus B (indicator matrices (n, k)) with a 95% paired
    bootstrap interval over rows (:data:`BOOTSTRAP_ROUNDS` resamples) and the share of resamples
    where A is not better (a one-sided bootstrap p-value)."""
    Y, A, B = (np.asarray(m, dtype=bool) for m in (Y, A, B))

    def counts(P: np.ndarray) -> np.ndarray:  # (n, 3): tp, fp, fn per row
        return np.stack([(P & Y).sum(1), (P & ~Y).sum(1), (~P & Y).sum(1)], axis=1).astype(float)

    ca, cb = counts(A), counts(B)

    def f1(c: np.ndarray) -> np.ndarray:
        tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
        return np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12), 0.0)

    delta = float(f1(ca.sum(0)) - f1(cb.sum(0)))
    if len(Y) < 2:
        return {"delta": delta, "ci": None, "p_value": None}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(Y), size=(BOOTSTRAP_ROUNDS, len(Y)))
    deltas = f1(ca[draws].sum(1)) - f1(cb[draws].sum(1))
    return {"delta": delta, "ci": [float(np.quantile(deltas, 0.025)), float(np.quantile(deltas, 0.975))],
            "p_value": float((deltas <= 0).mean())}


def verdict(val_scores: dict[str, float], test: dict[str, Any], *, allow_simpler: bool, useless: bool) -> dict[str, Any]:
    """Which model to save, and why: the fine-tuned transformer unless TF-IDF one-vs-rest scores at
    least as high on validation micro-F1 (and ``allow_simpler``); ``test`` is
    :func:`micro_f1_difference` (transformer minus TF-IDF on the test rows)."""
    transformer_wins = val_scores["transformer"] > val_scores["tfidf"] or not allow_simpler
    chosen = "transformer" if transformer_wins else "tfidf"
    ci = test.get("ci")
    within_noise = bool(ci and ci[0] <= 0 <= ci[1])
    ahead = val_scores["transformer"] > val_scores["tfidf"]
    kept = ("the fine-tuned model scores higher and is kept." if ahead else
            "the fine-tuned model is kept, as asked (the simpler model is not chosen in its place).")
    reason = (f"Validation micro-F1: fine-tuned {val_scores['transformer']:.3f}, TF-IDF one-vs-rest "
              f"{val_scores['tfidf']:.3f}; " + (kept if transformer_wins else
                                                 "TF-IDF scores as high or higher, so the simpler model is saved."))
    interval = f" (95% interval {ci[0]:+.3f} to {ci[1]:+.3f})" if ci else ""
    sentence = (f"{reason} On the held-out test rows the fine-tuned model's micro-F1 is {test['delta']:+.3f} "
                f"against TF-IDF one-vs-rest{interval}" + (", within noise." if within_noise else "."))
    warning = ("The saved model does no better than always predicting the most common tag on the test rows (micro-F1)."
               if useless else "")
    return {"chosen": chosen, "candidate": "transformer", "reason": reason, "delta": test["delta"], "ci": ci,
            "p_value": test.get("p_value"), "within_noise": within_noise, "useless": useless, "warning": warning,
            "metric": HEADLINE, "sentence": sentence + (f" {warning}" if warning else "")}


def finish_transformer(clf: Any, prepared: Prepared, config: TrainConfig, splits: dict[str, np.ndarray],
                       history: list[ProgressEvent], emit: Callable[[ProgressEvent], None], *, warnings: list[str],
                       step: int, total_steps: int, best_step: int, stopped_reason: str, train_seconds: float,
                       started: float, device: str, base_model_source: dict[str, Any]) -> TrainResult:
    """Thresholds, test metrics, TF-IDF one-vs-rest, the comparison and the result of a fine-tuned
    multi-label model ``clf`` (core.models.TextClassifier with a sigmoid head). ``metrics["model"]``
    holds :func:`core.multilabel.multilabel_metrics` of the saved model on the test rows;
    ``metrics["baselines"]`` those of TF-IDF one-vs-rest ("tfidf_ovr") and of always predicting the
    most common training tag ("most_common_tag"); the model not saved is kept as an alternative."""
    def event(phase: str, message: str) -> None:
        emit(ProgressEvent(phase, step, total_steps, step / max(1, total_steps), elapsed_s=time.monotonic() - started,
                           message=message))

    tags, Y = prepared.classes, prepared.y
    val_idx, test_idx = splits["validation"], splits["test"]
    event("test", "Choosing a threshold per tag on validation and scoring the test split")
    clf.label_sep = prepared.label_sep
    clf.training_config = {**clf.training_config, "label_sep": prepared.label_sep}
    val_proba = clf.predict_proba(prepared.texts_at(val_idx))
    clf.thresholds = choose_thresholds(Y[val_idx], val_proba)
    test_proba = clf.predict_proba(prepared.texts_at(test_idx))
    pred = test_proba >= clf.thresholds
    model_metrics = multilabel_metrics(Y[test_idx], pred, tags)
    event("baselines", "Training TF-IDF one-vs-rest logistic regression on the same rows")
    tfidf, c = fit_tfidf_ovr(prepared, config, splits)
    tfidf_test = tfidf.predict_proba(prepared.texts_at(test_idx))
    tfidf_pred = tfidf_test >= tfidf.thresholds
    common = np.zeros((len(test_idx), len(tags)), dtype=bool)
    common[:, int(np.argmax(Y[splits["train"]].sum(axis=0)))] = True
    baselines = {"tfidf_ovr": {**multilabel_metrics(Y[test_idx], tfidf_pred, tags), "C": c},
                 "most_common_tag": multilabel_metrics(Y[test_idx], common, tags)}
    val_scores = {
        "transformer": multilabel_metrics(Y[val_idx], val_proba >= clf.thresholds, tags)[HEADLINE],
        "tfidf": multilabel_metrics(Y[val_idx], tfidf.predict_proba(prepared.texts_at(val_idx)) >= tfidf.thresholds,
                                    tags)[HEADLINE],
    } if len(val_idx) else {"transformer": 1.0, "tfidf": 0.0}
    comparison = micro_f1_difference(Y[test_idx], pred, tfidf_pred, config.seed)
    chosen_first = val_scores["transformer"] > val_scores["tfidf"] or not config.choose_simpler
    saved_metrics = model_metrics if chosen_first else baselines["tfidf_ovr"]
    useless = saved_metrics[HEADLINE] <= baselines["most_common_tag"][HEADLINE]
    decided = verdict(val_scores, comparison, allow_simpler=config.choose_simpler, useless=useless)
    if config.refit_on_all_rows:
        warnings.append("The refit on train + validation is not done with several tags per row: the thresholds "
                        "were chosen on the validation rows, so the model trained without them is saved.")
    metrics = {
        "task": prepared.task, "multi_label": True, "headline": HEADLINE, "label_sep": prepared.label_sep,
        "tags": list(tags), "tag_counts": tag_counts(Y, tags),
        "model": saved_metrics, "baselines": baselines,
        "split_sizes": {k: int(len(v)) for k, v in splits.items()}, "n_rows_used": int(len(prepared.texts)),
        "rows_dropped": prepared.report.dropped, "best_step": best_step, "steps": step, "total_steps": total_steps,
        "stopped_reason": stopped_reason, "train_seconds": round(train_seconds, 2),
        "train_texts_per_second": round(step * config.batch_size / max(train_seconds, 1e-9), 2),
        "warnings": warnings, "device": device, "processes": 1, "base_model_source": base_model_source,
        "verdict": decided, "saved_kind": decided["chosen"],
    }
    transformer_metrics = {**metrics, "model": model_metrics, "saved_kind": "transformer",
                           "thresholds": dict(zip(tags, map(float, clf.thresholds)))}
    tfidf_metrics = {**metrics, "model": baselines["tfidf_ovr"], "saved_kind": "tfidf",
                     "thresholds": dict(zip(tags, map(float, tfidf.thresholds)))}
    clf.metrics, clf.test_predictions = transformer_metrics, predictions_frame(prepared, test_idx, test_proba, clf.thresholds)
    tfidf.metrics = tfidf_metrics
    tfidf.test_predictions = predictions_frame(prepared, test_idx, tfidf_test, tfidf.thresholds)
    saved, other = (clf, tfidf) if decided["chosen"] == "transformer" else (tfidf, clf)
    if saved is tfidf:
        tfidf.metrics["candidates"] = {"transformer": model_metrics}
    event("done", "Done")
    return TrainResult(saved, saved.metrics, history, prepared.report, warnings, stopped_reason,
                       time.monotonic() - started, alternatives={("tfidf" if other is tfidf else "transformer"): other})


def per_tag_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per tag of :func:`core.multilabel.multilabel_metrics`' ``per_tag``: tag, support,
    predicted, precision, recall, F1 and the confusion counts (tp, fp, fn, tn), rarest tag last."""
    rows = [{"tag": tag, **values} for tag, values in (metrics.get("per_tag") or {}).items()]
    columns = ["tag", "support", "predicted", "precision", "recall", "f1", "tp", "fp", "fn", "tn"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("support", ascending=False, kind="stable").reset_index(drop=True)


def headline_row(name: str, metrics: dict[str, Any], keys: Sequence[str] = (
        "micro_f1", "macro_f1", "hamming_loss", "subset_accuracy")) -> dict[str, Any]:
    """One row of the comparison table: ``name`` and the multi-label numbers."""
    return {"model": name, **{k: metrics.get(k) for k in keys}}
