"""Several tags per row on the leaderboard (core.pipeline): what differs from one class per row.

Every candidate kind learns one yes/no output per tag (TF-IDF and frozen embeddings: one-vs-rest
logistic regression; few-shot: a one-vs-rest head; the fine-tune: a sigmoid head with binary
cross-entropy, core.training). After each fit the pipeline chooses a threshold per tag on the
validation rows (:func:`set_thresholds`, core.multilabel.cut_offs) and scores the model
(:func:`score_tags`): micro-F1 is the headline the choice rule (core.evaluation.better_than)
compares, every (row, tag) decision counting once; macro-F1 (each tag counts once) is reported
beside it. This module also gives the TF-IDF one-vs-rest candidate and the two constant baselines
(:func:`tag_baselines`: always the most common tag; each tag's most common value, scikit-learn's
DummyClassifier), its refit on every labelled row, and the verdict in the shape of
core.evaluation.choose_saved_model's (:func:`tag_verdict`): the saved model must beat both
baselines on micro-F1 to be usable, and a Hamming loss no better than theirs is said, never green
(:func:`baseline_notes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig
from .evaluation import FittedBaselines, Scored, tfidf_features
from .models.tfidf import TfidfClassifier, vectorizer_spec
from .multilabel import cut_offs, multilabel_metrics, tags_from_proba
from .prepare import Prepared
from .words import rows_words

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
    give_cut_offs(model, Y[splits["validation"]], model.predict_proba(val_texts) if len(val_texts) else None,
                  prepared.classes, training_rates(prepared))
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


def score_tags(model: Any, prepared: Prepared, positions: np.ndarray) -> Scored:
    """core.evaluation.evaluate for several tags per row: ``model``'s probabilities (m, k) on the
    rows at ``positions``, its tags at or above its thresholds (``pred``: a boolean indicator
    matrix (m, k)), :func:`core.multilabel.multilabel_metrics` against their true tags, and the
    rows of test_predictions.csv (:func:`predictions_frame`)."""
    texts, k = prepared.texts_at(positions), len(prepared.classes)
    proba = np.asarray(model.predict_proba(texts), dtype=np.float64) if texts else np.zeros((0, k))
    cut = model.thresholds if getattr(model, "thresholds", None) is not None else np.full(k, 0.5)
    pred = proba >= np.asarray(cut)[None, :]
    metrics = multilabel_metrics(prepared.y[positions], pred, prepared.classes)
    return Scored(metrics, predictions_frame(prepared, positions, proba, cut), pred, proba)


def training_rates(prepared: Prepared) -> np.ndarray | None:
    """Each tag's share of the training rows (k,), which bounds how many validation rows a cut-off
    may give it (core.multilabel.cut_offs); None without training rows."""
    train = prepared.splits["train"]
    return np.asarray(prepared.y[train], dtype=np.float64).mean(axis=0) if len(train) else None


def give_cut_offs(model: Any, Y_val: np.ndarray, P_val: np.ndarray | None, tags: Sequence[str],
                  rates: np.ndarray | None = None) -> None:
    """``model.thresholds`` chosen on the validation rows by core.multilabel.cut_offs (each tag's
    best F1 among the cut-offs with no more errors than never giving it, and with ``rates``, each
    tag's training share, on no more rows than the tag plausibly occurs on; its docstring says why),
    ``model.untold_tags`` (the tags no cut-off qualified for: given only above every validation
    probability) and ``model.thresholds_chosen_on`` ("validation (N rows)"), all saved in
    thresholds.json. Without validation rows: 0.5 for every tag, chosen on nothing."""
    if P_val is None or not len(Y_val):
        model.thresholds, model.untold_tags = np.full(len(tags), 0.5), []
        model.thresholds_chosen_on = "none (no validation rows): 0.5 for every tag"
        return
    model.thresholds, untold = cut_offs(Y_val, P_val, rates)
    model.untold_tags = [str(t) for t, u in zip(tags, untold) if u]
    model.thresholds_chosen_on = f"validation ({rows_words(len(Y_val))})"


def set_thresholds(model: Any, prepared: Prepared) -> None:
    """Give a freshly fitted multi-label ``model`` its per-tag thresholds, chosen on the validation
    rows (:func:`give_cut_offs`), and the label separator of the training file (saved in
    thresholds.json)."""
    val = prepared.splits["validation"]
    give_cut_offs(model, prepared.y[val], model.predict_proba(prepared.texts_at(val)) if len(val) else None,
                  prepared.classes, training_rates(prepared))
    carry_tags(model, model, prepared)


def carry_tags(model: Any, source: Any, prepared: Prepared) -> None:
    """``model`` (a refit) takes ``source``'s thresholds, chosen on validation by the copy fitted
    on the training rows (the refit has no validation rows left to choose them on), and the label
    separator."""
    model.thresholds = np.asarray(source.thresholds, dtype=np.float64)
    model.untold_tags = list(getattr(source, "untold_tags", None) or [])
    model.thresholds_chosen_on = getattr(source, "thresholds_chosen_on", "")
    model.label_sep = prepared.label_sep
    model.training_config = {**(model.training_config or {}), "label_sep": prepared.label_sep}


def tag_baselines(prepared: Prepared, config: TrainConfig) -> FittedBaselines:
    """The TF-IDF one-vs-rest candidate (:func:`fit_tfidf_ovr`, thresholds chosen on validation)
    and the baseline of always predicting the most common training tag, scored on the test rows,
    as core.evaluation.FittedBaselines: ``pipeline`` is the TF-IDF model (a TfidfClassifier),
    ``param`` its C, ``val_pred``/``test_pred`` indicator matrices, ``constant`` the baseline's
    indicator row (k,), ``metrics`` {"tfidf_ovr": ..., "most_common_tag": ...}."""
    splits, Y, tags = prepared.splits, prepared.y, prepared.classes
    model, c = fit_tfidf_ovr(prepared, config, splits)
    val, test = score_tags(model, prepared, splits["validation"]), score_tags(model, prepared, splits["test"])
    constant = np.zeros(len(tags), dtype=bool)
    constant[int(np.argmax(Y[splits["train"]].sum(axis=0)))] = True
    common = np.tile(constant, (len(splits["test"]), 1))
    metrics = {"tfidf_ovr": {**test.metrics, "C": c}, "most_common_tag": multilabel_metrics(Y[splits["test"]], common, tags),
               MOST_FREQUENT: most_frequent_per_tag(Y[splits["train"]], Y[splits["test"]], tags)}
    return FittedBaselines("classification", model, float(c), val.pred, test.pred, test.proba, constant, metrics)


MOST_FREQUENT = "most_frequent_per_tag"  # metrics["baselines"] key of DummyClassifier(strategy="most_frequent")
BASELINE_NAMES = {"most_common_tag": "always the most common tag", MOST_FREQUENT: "each tag's most common value"}


def most_frequent_per_tag(Y_train: np.ndarray, Y_test: np.ndarray, tags: Sequence[str]) -> dict[str, Any]:
    """:func:`core.multilabel.multilabel_metrics` on the test rows of scikit-learn's
    ``DummyClassifier(strategy="most_frequent")`` fitted on the training rows' indicator matrix:
    each tag predicted for every row when more than half the training rows carry it, else for
    none (with sparse tags: no tag at all, whose Hamming loss is the share of (row, tag) pairs that
    carry a tag). ``predicts``: the tags it gives every row ([] for none)."""
    from sklearn.dummy import DummyClassifier

    Y_train, Y_test = np.asarray(Y_train).astype(int), np.asarray(Y_test).astype(int)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(Y_train), 1)), Y_train)
    pred = np.asarray(dummy.predict(np.zeros((len(Y_test), 1)))).reshape(len(Y_test), -1)
    row = np.asarray(dummy.predict(np.zeros((1, 1)))).reshape(-1)
    return {**multilabel_metrics(Y_test, pred, tags), "predicts": [str(t) for t, on in zip(tags, row) if on]}


def tfidf_ovr_refit(prepared: Prepared, config: TrainConfig, fitted: Any, c: float) -> TfidfClassifier:
    """The TF-IDF one-vs-rest model refitted on every labelled row at the C chosen on validation,
    with the thresholds of ``fitted`` (the copy fitted on the training rows)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if config.class_weighting else None)
    model = tfidf_ovr_model(make_pipeline(tfidf_features(), OneVsRestClassifier(lr)).fit(prepared.texts, prepared.y),
                            prepared, config)
    carry_tags(model, fitted, prepared)
    return model


def tag_comparison(Y: np.ndarray, A: np.ndarray, B: np.ndarray, seed: int) -> dict[str, Any]:
    """A paired comparison of predictions A and B (indicator matrices) on the same rows, in the
    shape of core.evaluation.paired_bootstrap's: ``a``/``b`` micro-F1, ``delta`` (a - b), ``ci``
    (95%, NaNs below 2 rows), ``p_value``, ``n``, ``within_noise``."""
    tags = list(range(np.asarray(Y).shape[1]))
    found = micro_f1_difference(Y, A, B, seed)
    ci = found["ci"] or [float("nan"), float("nan")]
    return {"a": multilabel_metrics(Y, A, tags)[HEADLINE], "b": multilabel_metrics(Y, B, tags)[HEADLINE],
            "delta": found["delta"], "ci": ci, "p_value": found["p_value"], "n": int(len(Y)),
            "within_noise": bool(ci[0] <= 0 <= ci[1]) if ci[0] == ci[0] else True}


def _baseline_name(key: str, metrics: dict[str, Any]) -> str:
    """"always the most common tag", or "each tag's most common value (here: no tag at all)"."""
    name = BASELINE_NAMES.get(key, key)
    if key == MOST_FREQUENT and "predicts" in metrics:
        tags = metrics["predicts"]
        name += f" (here: {'always ' + ', '.join(repr(t) for t in tags) if tags else 'no tag at all'})"
    return name


def baseline_notes(saved: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """``(warning, caution)`` for the saved model's test metrics ``saved`` against the constant
    baselines (``metrics["baselines"]``: "most_common_tag" and :data:`MOST_FREQUENT`; a model saved
    before the latter existed is judged on the former alone).

    ``warning`` (the model is not usable): its micro-F1 is not above every baseline's. ``caution``
    (usable, but never shown as a plain success): its Hamming loss, the share of wrong (row, tag)
    decisions, is not below every baseline's. Each names the baseline(s) it fails to beat, with
    both numbers; "" when it beats them all."""
    n = int(saved.get("n_rows") or 0)
    rows = f" on the {n:,} test rows" if n else " on the test rows"
    known = {k: m for k, m in baselines.items() if k in BASELINE_NAMES and HEADLINE in m}
    f1_fails = [k for k, m in known.items() if float(saved.get(HEADLINE, 0.0)) <= float(m[HEADLINE])]
    warning = "" if not f1_fails else (
        f"The saved model does no better than {' or '.join(_baseline_name(k, known[k]) for k in f1_fails)}{rows} "
        f"(micro-F1 {float(saved.get(HEADLINE, 0.0)):.3f} vs "
        f"{' and '.join(f'{float(known[k][HEADLINE]):.3f}' for k in f1_fails)}).")
    loss = float(saved.get("hamming_loss", 1.0))
    loss_fails = [k for k, m in known.items() if "hamming_loss" in m and loss >= float(m["hamming_loss"])]
    caution = "" if not loss_fails else (
        f"Its Hamming loss{rows} is {loss:.3f}, no better than "
        + " or ".join(f"the {float(known[k]['hamming_loss']):.3f} of {_baseline_name(k, known[k])}" for k in loss_fails)
        + ": it makes at least as many wrong (row, tag) decisions as that constant guess, giving rows tags they do "
        "not have or missing tags they do. Check the per-tag table (precision shows tags given too often); more "
        "labelled rows usually help most.")
    return warning, caution


def tag_verdict(prepared: Prepared, config: TrainConfig, fitted: dict[str, Any], leader: str, saved_test_pred: np.ndarray,
                baselines: FittedBaselines) -> dict[str, Any]:
    """core.result.choose_verdict for several tags per row: the leader (or, when TF-IDF leads, the
    best-scoring other candidate) against TF-IDF one-vs-rest, by the same rule on validation
    micro-F1 (core.evaluation.better_than; the settings' kept fine-tune wins), the test
    comparison in numbers and words, and the saved model against the most common tag."""
    from .candidates import kept_over, kind_name, kind_title
    from .evaluation import TIE_MARGIN, better_than, choice_reason, lead_in_words

    s, Y, tfidf = prepared.splits, prepared.y, fitted["tfidf"]
    others = [f for k, f in fitted.items() if k != "tfidf"]
    rival = fitted[leader] if leader != "tfidf" else max(others, key=lambda f: f.score(prepared.task), default=None)
    test_pred = saved_test_pred if rival is None or rival.kind == leader else rival.test.pred
    val = tag_comparison(Y[s["validation"]], (rival or tfidf).val.pred, tfidf.val.pred, config.seed)
    test = tag_comparison(Y[s["test"]], test_pred if rival is not None else tfidf.test.pred, tfidf.test.pred, config.seed + 1)
    warning, caution = baseline_notes(multilabel_metrics(Y[s["test"]], saved_test_pred, prepared.classes), baselines.metrics)
    tfidf_name = "TF-IDF one-vs-rest logistic regression"
    if rival is None:
        reason = f"{tfidf_name[0].upper()}{tfidf_name[1:]} is the only candidate scored so far, so it was saved."
        return {"chosen": "tfidf_lr", "candidate": None, "alternative": "tfidf_lr", "chosen_on": "validation",
                "reason": reason, "delta": None, "ci": None, "p_value": None, "within_noise": None, "metric": "micro-F1",
                "validation": {"n": 0}, "test": {"n": 0}, "useless": bool(warning), "warning": warning,
                "caution": caution, "missed_classes": [], "sentence": f"{reason} {warning or caution}".strip()}
    basis, basis_name = (val, "validation") if val["n"] else (test, "test")
    keep = leader != "tfidf"
    title, name = kind_title(rival.kind, prepared.task), kind_name(rival.kind, prepared.task)
    outcome = ("higher" if better_than(basis) else "kept") if keep else "tie" if abs(basis["delta"]) <= TIE_MARGIN else "lower"
    # The settings keep the leader while another scored higher on validation: named in the reason,
    # as the leaderboard's note names it.
    ahead = kept_over(fitted, leader, prepared.task, {"tfidf": tfidf_name}) if (
        not config.choose_simpler and keep and basis_name == "validation") else None
    ahead = {**ahead, "n": int(val["n"])} if ahead else None
    reason = choice_reason(title, tfidf_name, basis, basis_name, prepared.task, "micro-F1", outcome, ahead)
    on_test = (f" On the held-out test rows {name} is {lead_in_words(test, prepared.task, 'test')} against "
               f"{tfidf_name} (micro-F1 {test['a']:.3f} vs {test['b']:.3f}).")
    return {"chosen": rival.kind if keep else "tfidf_lr", "candidate": rival.kind, "alternative": "tfidf_lr",
            "chosen_on": basis_name, "reason": reason, **({"settings_kept_over": ahead} if ahead else {}),
            "delta": test["delta"], "ci": test["ci"], "p_value": test["p_value"],
            "within_noise": test["within_noise"], "metric": "micro-F1",
            "rule": f"the higher micro-F1 on {basis_name} is kept; TF-IDF when within {TIE_MARGIN:g} (a tie)",
            "validation": val, "test": test, "useless": bool(warning), "warning": warning, "caution": caution,
            "missed_classes": [], "sentence": f"{reason}{on_test} {warning or caution}".strip()}


def own_tag_verdict(verdict: dict[str, Any], own_test: dict[str, Any], baselines: FittedBaselines) -> dict[str, Any]:
    """The run's verdict as a kept candidate carries it: its usefulness warning is its own."""
    warning, caution = baseline_notes(own_test, baselines.metrics)
    sentence = verdict.get("sentence", "")
    for said in (verdict.get("warning"), verdict.get("caution")):
        sentence = sentence.replace(said, "") if said else sentence
    return {**verdict, "useless": bool(warning), "warning": warning, "caution": caution,
            "sentence": f"{sentence.strip()} {warning or caution}".strip()}



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
