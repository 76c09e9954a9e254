"""Customer response models: who is likely to respond to the next campaign?

``train_response_models`` fits up to three models on ONE stratified train/validation/test split
of a campaign table (one row per customer contacted, profile columns, optional text columns, a
response column) and reports them side by side on the same test rows:

- ``"transformer"``: the core fine-tuning (``core.training.fit_transformer``, run and scored by the training
  pipeline's own step, ``core.pipeline.fit_and_score``) on text built from the row,
  ``"age: 41 | job: admin. | ... | review: ..."`` (profile fields first, empty cells left out;
  with no text column the profile fields alone are the input). It is trained on exactly our
  split (``core.prepare.prepared_from_texts``). Deployed, it is a normal ``TextClassifier`` (kind
  ``"transformer"``) with a ``calibration.json``. The saved kinds are in core.models.
- ``"tabular"``: the baseline the transformer has to beat, scikit-learn's
  ``HistGradientBoostingClassifier`` on the profile columns with native categorical splits
  (``core.models.tabular.TabularModel``: numbers stay numbers, categories become a vocabulary, missing,
  unseen and rare values are "missing" and the trees learn where missing goes).
- ``"hybrid"`` (only when text columns are given): the same gradient boosting on the profile
  columns plus one extra number, a text score P(response | text) from TF-IDF (word 1-2-grams)
  + logistic regression on the text columns.

Why the hybrid's text score is TF-IDF + logistic regression, cross-fitted, and not the
transformer's own score: the score fed to the trees must be *out-of-fold* on the training rows,
otherwise the trees see a text score that is near-perfect on the rows they learn from (a model
scoring its own training rows) and lean on it far too much. Out-of-fold transformer scores need
k extra fine-tunings (k x minutes on a laptop CPU); scoring only the validation rows would leave
the trees a few hundred rows to learn from. A k=3 cross-fit of TF-IDF + LR costs seconds, is
exactly out-of-fold, and lets the hybrid predict without torch, so scoring a 100,000-customer
list stays fast. The validation and test rows (and new customers) are scored by the text model
fitted on all training rows (the usual stacking practice). The hybrid's text model is stored as
plain arrays (vocabulary in JSON, idf and weights in safetensors) and rebuilt on load.

Calibration: every model's P(response) is calibrated on the validation rows (never the training
rows; ``core.calibration.choose_calibrator``): Platt scaling when the validation split has fewer
than ``PLATT_BELOW`` responders (or non-responders), otherwise isotonic, Platt or none, whichever
has the lowest ECE on the validation rows, cross-validated (5-fold) for the two that are fitted
(choosing by the in-sample ECE would always pick isotonic, which can fit the validation rows
exactly); "none" keeps a model whose own probabilities are already the best calibrated. Test metrics are reported before and
after calibration.

Which model is recommended: models are taken from the simplest to the most complex (gradient
boosting, hybrid, transformer); a more complex one replaces the current pick only when its
validation ROC-AUC is higher by more than ``MIN_AUC_GAIN`` in at least ``RECOMMEND_CONFIDENCE``
of paired bootstrap resamples of the validation rows (the test rows are never used to choose).
Validation sets are small, so a model must be clearly better before a simpler, faster one is
replaced; the gradient-boosting baseline is therefore the default unless something clearly beats
it.

Refit after choosing: once the comparison has measured every model on the held-out rows, the
gradient boosting and the hybrid (seconds to fit) are refitted with the same settings on every
labelled row, as AutoML tools do; their calibrators stay those fitted on the validation scores.
The reported metrics stay the held-out ones of the training-split fit, and ``metrics.json`` and
the model card say so in one sentence (``refit_note``). On the full bank data the refit lifted
the hidden-row ROC-AUC from 0.799 to 0.804 (bench_targeting_tabular.py --comparison). The
transformer is not refitted (another fine-tuning costs minutes).

Profile-only data: without a text column the transformer reads "column: value" fields, which
are no language; the default is gradient boosting alone (``core.columns.suggest_setup``), the base model
for a requested transformer is the English one (``transformer_base_model``; the language check
sees real text columns only, ``language_texts``) and ``estimate_transformer_seconds`` tells the
user what the transformer would cost.

Rows: rows without a response, and rows whose profile and text cells are all empty, are dropped
(counted in ``warnings``); all models use the same remaining rows and split.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .calibration import choose_calibrator, expected_calibration_error
from .config import FINE_TUNING_SETTINGS  # the TrainConfig fields a comparison's transformer may be given
from .data import build_texts, format_value, missing_columns_message, split_indices
from .files import atomic_folder, write_json
from .models import SavedModel
from .models.folder import is_model_folder, prediction_frame
from .models.response import HYBRID, MODEL_LABELS, TABULAR, TEXT_SCORE_COLUMN, TRANSFORMER, ResponseModel, TextScorer
from .models.tabular import TabularModel, infer_column_kinds
from .progress import Cancel, Events, ProgressCallback, ProgressEvent, TrainingCancelled, cancel_check
from .targeting import (
    gains_readout,
    lift_by_decile,
    precision_recall_at,
)
from .words import rows_words

__all__ = [
    "BUDGET_MODES",
    "CandidateResult",
    "ResponseComparison",
    "budget_selection",
    "deploy",
    "estimate_transformer_seconds",
    "mean_tokens",
    "language_texts",
    "load_comparison",
    "save_comparison",
    "transformer_base_model",
    "positive_class_of",
    "recommend_model",
    "refit_note",
    "response_labels",
    "score_customers",
    "train_response_models",
]

FORMAT_VERSION = 1  # of a saved comparison (save_comparison)
RECOMMEND_CONFIDENCE = 0.9  # share of bootstrap resamples a challenger must win ...
MIN_AUC_GAIN = 0.005  # ... by at least this much ROC-AUC (a paired bootstrap finds tiny gains)
CROSS_FIT_FOLDS = 3


# --------------------------------------------------------------------------------------------
# Labels, splits and checks
# --------------------------------------------------------------------------------------------


def _label_text(series: pd.Series) -> pd.Series:
    """Labels as the model sees them: text, trimmed, whole numbers without '.0'; '' = missing."""
    return series.map(format_value).astype(str).str.strip()


def response_labels(labels: pd.Series | Sequence[Any], positive_class: Any) -> tuple[np.ndarray, str, str]:
    """0/1 responses from a label column.

    Returns ``(y, positive, negative)``: ``y`` shape ``(n,)`` int8 (1 = the positive class),
    the positive class as text, and the name of the other class (the other value when the
    column has exactly two; ``"not <positive>"`` when it has more). Missing labels are not
    allowed here (drop them first).
    """
    text = _label_text(pd.Series(labels))
    if (text == "").any():
        raise ValueError(f"the response column has {int((text == '').sum())} empty value(s); drop those rows first")
    positive = format_value(positive_class).strip() if positive_class is not None else ""
    values = sorted(set(text.tolist()))
    if positive not in values:
        raise ValueError(f"positive class {positive!r} does not occur in the response column; found {values[:10]}")
    if len(values) < 2:
        raise ValueError(f"the response column has 1 distinct value ({positive!r}); a response model needs 2")
    others = [v for v in values if v != positive]
    negative = others[0] if len(others) == 1 else f"not {positive}"
    return (text == positive).to_numpy().astype(np.int8), positive, negative


def _check_columns(
    df: pd.DataFrame, profile: list[str], text: list[str], label: str
) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a table (pandas DataFrame); found {type(df).__name__}")
    if not profile:
        raise ValueError("choose at least one profile column (age, job, region, past purchases, ...)")
    missing = [c for c in [*profile, *text, label] if c not in df.columns]
    if missing:
        raise ValueError(missing_columns_message(missing, df.columns, lead=f"Column(s) {missing} are not in the table"))
    if label in profile or label in text:
        raise ValueError(f"the response column {label!r} cannot also be a profile or text column (it would give the answer away)")
    both = sorted(set(profile) & set(text))
    if both:
        raise ValueError(f"column(s) {both} are chosen as both profile and text columns; pick one role each")
    reserved = {TEXT_SCORE_COLUMN} & set([*profile, *text, label])
    if reserved:
        raise ValueError(f"column name(s) {sorted(reserved)} are reserved by Marketune; rename them")
    if len(set(profile)) != len(profile) or len(set(text)) != len(text):
        raise ValueError("a column is listed twice; list each profile/text column once")


def _has_any_input(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per row: does any of ``columns`` hold a value (not empty once written as text)?"""
    return df[columns].apply(lambda col: col.map(format_value).astype(str).str.strip() != "").any(axis=1).to_numpy()


def cross_fit_text_scores(
    df: pd.DataFrame,
    y: np.ndarray,
    text_columns: Sequence[str],
    *,
    folds: int = CROSS_FIT_FOLDS,
    seed: int = 0,
    **scorer_params: Any,
) -> np.ndarray:
    """Out-of-fold text scores for the rows of ``df``, shape ``(len(df),)``: each row is scored
    by a ``TextScorer(text_columns, **scorer_params)`` fitted on the other folds (stratified
    ``folds``-fold split)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(np.int64)
    k = min(folds, int(np.bincount(y, minlength=2).min()))
    if k < 2:
        raise ValueError("the training rows need at least 2 responders and 2 non-responders for the hybrid")
    out = np.empty(len(df), dtype=np.float64)
    for fit_idx, score_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        scorer = TextScorer(text_columns, **scorer_params).fit(df.iloc[fit_idx], y[fit_idx])
        out[score_idx] = scorer.predict_proba(df.iloc[score_idx])[:, 1]
    return out


# --------------------------------------------------------------------------------------------
# Recommendation
# --------------------------------------------------------------------------------------------


def recommend_model(
    val_scores: Mapping[str, np.ndarray],
    y_val: np.ndarray,
    *,
    order: Sequence[str] = (TABULAR, HYBRID, TRANSFORMER),
    n_boot: int = 300,
    confidence: float = RECOMMEND_CONFIDENCE,
    min_gain: float = MIN_AUC_GAIN,
    seed: int = 0,
) -> tuple[str, str]:
    """Pick the model to deploy by default, from validation scores only (shape ``(n,)`` each).

    ``order`` runs from the simplest model (cheapest to train and to score) to the most complex;
    the first is the pick to beat. Each later model replaces the current pick only if its
    validation ROC-AUC exceeds the pick's by more than ``min_gain`` in at least ``confidence``
    of ``n_boot`` paired bootstrap resamples of the validation rows (the same resampled rows for
    both; the margin because paired resamples call even a negligible but consistent difference
    "better"). A tie therefore goes to the simpler model. Returns ``(name, reason)``.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_val).astype(np.int64)
    names = [n for n in order if n in val_scores] + [n for n in val_scores if n not in order]
    if not names:
        raise ValueError("no models to choose from")
    aucs = {name: float(roc_auc_score(y, s)) for name, s in val_scores.items()}
    rng = np.random.default_rng(seed)
    samples = []
    while len(samples) < n_boot:
        idx = rng.integers(0, y.size, y.size)
        if 0 < y[idx].sum() < y.size:
            samples.append(idx)

    def label(name: str) -> str:
        return MODEL_LABELS.get(name, name)

    best = names[0]
    notes = []
    for name in names[1:]:
        challenger, current = val_scores[name], val_scores[best]
        won = sum(roc_auc_score(y[i], challenger[i]) > roc_auc_score(y[i], current[i]) + min_gain for i in samples)
        share = won / len(samples)
        verdict = "beat" if share >= confidence else "was not clearly better than"
        notes.append(f"{label(name)} ({aucs[name]:.3f}) {verdict} {label(best)} ({aucs[best]:.3f}) in {share:.0%} of resamples")
        if share >= confidence:
            best = name
    reason = (
        f"{label(best)}, validation ROC-AUC {aucs[best]:.3f}. A more complex model replaces a simpler one only "
        f"when its validation ROC-AUC is higher by more than {min_gain:g} in at least {confidence:.0%} of paired "
        "bootstrap resamples of the validation rows"
        + (": " + "; ".join(notes) + "." if notes else ".")
    )
    return best, reason


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


@dataclass
class CandidateResult:
    """One trained, calibrated model and its test-split evaluation."""

    name: str  # "transformer", "tabular" or "hybrid"
    model: SavedModel | Path  # TextClassifier (with .calibration) or ResponseModel, calibrated; a Path when read back
    metrics: dict[str, Any]  # test: roc_auc, top_decile_lift, ece_*, readout, train_seconds, ...
    val_scores_raw: np.ndarray  # uncalibrated P(positive) on the validation rows
    test_scores_raw: np.ndarray  # uncalibrated P(positive) on the test rows
    test_scores: np.ndarray  # calibrated P(positive) on the test rows

    @property
    def label(self) -> str:
        return MODEL_LABELS[self.name]


@dataclass
class ResponseComparison:
    """Every model trained on one split, evaluated on the same test rows."""

    candidates: dict[str, CandidateResult]
    positive_class: str
    negative_class: str
    label_column: str
    profile_columns: list[str]
    text_columns: list[str]
    column_kinds: dict[str, str]
    split: pd.Series  # "train"/"validation"/"test" per used row (index = the input table's)
    test_frame: pd.DataFrame  # the test rows, all their columns (inputs, response, ids, ...)
    y_test: np.ndarray  # 0/1, shape (n_test,)
    y_val: np.ndarray
    recommended: str
    recommendation: str
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Side-by-side test metrics, one row per model (numbers stay numbers)."""
        rows = []
        for name, c in self.candidates.items():
            m = c.metrics
            rows.append(
                {
                    "model": c.label,
                    "key": name,
                    "ROC-AUC": m["roc_auc"],
                    "top-decile lift": m["top_decile_lift"],
                    "ECE before calibration": m["ece_uncalibrated"],
                    "ECE after calibration": m["ece_calibrated"],
                    "calibration": m["calibration_method"],
                    "training seconds": m["train_seconds"],
                    "recommended": name == self.recommended,
                }
            )
        return pd.DataFrame(rows)


def refit_note(n_rows: int, split_sizes: Mapping[str, int]) -> str:
    """The one sentence that says which fit the metrics belong to and which fit is saved."""
    return (
        f"The metrics are held-out: measured on {split_sizes['test']:,} test rows by the model fitted on "
        f"{split_sizes['train']:,} training rows; the saved model was then refitted with the same settings "
        f"on all {n_rows:,} labelled rows (test rows included), so it is at least as good but has no "
        "held-out numbers of its own."
    )


def _response_metrics(y: np.ndarray, p_raw: np.ndarray, p_cal: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    lift = lift_by_decile(y, p_cal) if y.size >= 10 else None
    at10 = precision_recall_at(y, p_cal, share=0.1)
    return {
        "roc_auc": float(roc_auc_score(y, p_cal)),
        "roc_auc_uncalibrated": float(roc_auc_score(y, p_raw)),
        "top_decile_lift": float(lift["lift"].iloc[0]) if lift is not None else float("nan"),
        "top_decile_response_rate": float(lift["response_rate"].iloc[0]) if lift is not None else float("nan"),
        "precision_top_10pct": at10["precision"],
        "recall_top_10pct": at10["recall"],
        "ece_uncalibrated": expected_calibration_error(y, np.clip(p_raw, 0, 1)),
        "ece_calibrated": expected_calibration_error(y, p_cal),
        "readout": gains_readout(y, p_cal, 0.2),
        "base_rate": float(y.mean()),
        "n_test": int(y.size),
    }


def _classification_block(y: np.ndarray, p: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """core.evaluation's metrics for a [negative, positive] model from P(positive)."""
    from .evaluation import classification_metrics

    names = np.asarray(classes, dtype=object)
    proba = np.column_stack([1.0 - p, p])
    return classification_metrics(names[y], names[(p >= 0.5).astype(int)], classes, proba)


def _test_predictions(index: pd.Index, y: np.ndarray, p: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """test_predictions.csv of a [negative, positive] model from P(positive) (positive when >= 0.5)."""
    names = np.asarray(classes, dtype=object)
    return prediction_frame(index, None, names[y], names[(p >= 0.5).astype(int)], np.column_stack([1.0 - p, p]), classes)


def train_response_models(df: pd.DataFrame, setup: ResponseSetup, *, on_progress: ProgressCallback | None = None,
                          cancel: Cancel = None, deadline: float | None = None) -> ResponseComparison:
    """Train the transformer, the gradient-boosting baseline and (with text columns) the hybrid
    on one stratified split of ``df`` (one row per customer contacted) and compare them on its
    test rows, as ``setup`` (a :class:`ResponseSetup`) asks. The phases, in order:
    ``prepare_response_rows``, ``fit_candidates``, ``compare`` (calibrate, recommend, refit).

    ``on_progress`` is called with a ProgressEvent per stage (its ``phase``) and training step
    (phase "transformer", the fine-tune's step fields kept), ``fraction`` of the whole run;
    ``cancel``, a callable returning True (or an Event), stops it with ``TrainingCancelled``;
    ``deadline``, a ``time.monotonic()`` value (a server's per-job limit), bounds the transformer:
    its fine-tuning stops there with its best checkpoint (``stopped_reason`` "time limit"), or it
    is left out, with a warning, when the deadline has passed before its turn.

    Returns a ``ResponseComparison``; its ``candidates`` hold calibrated models ready for
    ``deploy``. Raises ``ValueError`` (what was expected and found) for a table that does not fit.
    """
    run = _Run(on_progress, cancel, setup.include_transformer)
    run.report("prepare", 0.0, "Checking the table and splitting it")
    rows = prepare_response_rows(df, setup)
    setup = setup.resolved(rows)
    raw, warnings = fit_candidates(rows, setup, run, deadline=deadline)
    return compare(raw, rows, setup, run, warnings)


class _Run:
    """One comparison's progress reports and cancel checks. ``stages``: where the candidates
    start, the transformer starts and the calibration starts, as fractions of the whole run."""

    def __init__(self, on_progress: ProgressCallback | None, cancel: Cancel, with_transformer: bool) -> None:
        self.on_progress, self.cancel, self.cancelled = on_progress, cancel, cancel_check(cancel)
        self.stages = (0.0, 0.08, 0.95) if with_transformer else (0.0, 0.45, 0.9)
        self.started = time.monotonic()

    def report(self, stage: str, fraction: float, message: str, event: ProgressEvent | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(dataclasses.replace(event or ProgressEvent(stage), phase=stage, fraction=fraction, message=message))

    def check_cancel(self) -> None:
        if self.cancelled():
            raise TrainingCancelled("Training was cancelled; nothing was saved.")


def fit_candidates(rows: ResponseRows, setup: ResponseSetup, run: _Run, *,
                   deadline: float | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Fit every candidate on the training rows, cheapest first, and score the validation and test
    rows (uncalibrated). Returns ``({name: {"model", "val", "test", "seconds", ...}}, warnings)``."""
    warnings, include_transformer = list(rows.warnings), setup.include_transformer
    run.check_cancel()
    run.report("tabular", run.stages[0] + 0.01, "Training the gradient-boosting baseline")
    raw = {TABULAR: _fit_tabular_candidate(rows, setup)}
    if setup.text:  # the hybrid: trees on the profile + an out-of-fold text score
        run.check_cancel()
        run.report("hybrid", run.stages[1] * 0.3 if include_transformer else run.stages[1],
                   "Training the hybrid (text score + gradient boosting)")
        raw[HYBRID] = _fit_hybrid_candidate(rows, setup)
    if include_transformer and deadline is not None and time.monotonic() >= deadline:
        warnings.append("The transformer was left out: this server's time limit per job was reached before its turn.")
    elif include_transformer:  # on the same split
        run.check_cancel()
        raw[TRANSFORMER] = _fit_transformer_candidate(rows, setup, run, deadline)
        warnings += [f"Transformer: {w}" for w in raw[TRANSFORMER].pop("warnings", [])]
    return raw, warnings


def compare(raw: Mapping[str, dict[str, Any]], rows: ResponseRows, setup: ResponseSetup, run: _Run,
            warnings: list[str]) -> ResponseComparison:
    """Calibrate every candidate on the validation rows, recommend one (validation only), record
    the test metrics each saved model keeps, and refit the cheap ones on every row (``setup.refit``)."""
    run.check_cancel()
    run.report("calibrate", run.stages[2], "Calibrating on the validation split and scoring the test split")
    candidates = _calibrate(raw, rows, setup.seed)
    val_scores = {n: c.val_scores_raw for n, c in candidates.items()}
    recommended, reason = recommend_model(val_scores, rows.labels("validation"), seed=setup.seed)
    _record_metrics(candidates, rows, recommended, reason, warnings)
    if setup.refit:
        _refit_cheap_models(candidates, rows, setup, run)
    for c in candidates.values():
        c.metrics.setdefault("fitted_on_rows", int(c.metrics.get("train_rows", rows.split_sizes()["train"])))
    settings = {**setup.settings(), "seconds_total": round(time.monotonic() - run.started, 2)}
    run.report("done", 1.0, "Done")
    return ResponseComparison(
        candidates=candidates, positive_class=rows.positive, negative_class=rows.negative,
        label_column=setup.label_column, profile_columns=setup.profile, text_columns=setup.text,
        column_kinds=rows.column_kinds, split=rows.split,
        test_frame=rows.rows("test").copy(),  # every column (ids too: a target list needs them)
        y_test=rows.labels("test"), y_val=rows.labels("validation"), recommended=recommended, recommendation=reason,
        warnings=warnings, settings=settings,
    )


@dataclass(frozen=True)
class ResponseRows:
    """The rows a comparison uses and their one stratified split (``prepare_response_rows``)."""

    data: pd.DataFrame  # the kept rows, every column, the input's index (unique)
    y: np.ndarray  # 0/1 per kept row (1 = the positive class), shape (len(data),)
    classes: list[str]  # [negative, positive]
    column_kinds: dict[str, str]  # per profile column, in profile order
    split: pd.Series  # "train"/"validation"/"test" per kept row (index = data's)
    parts: dict[str, np.ndarray]  # positions in data of each part
    warnings: list[str]  # the rows left out, said in words

    @property
    def negative(self) -> str:
        return self.classes[0]

    @property
    def positive(self) -> str:
        return self.classes[1]

    def rows(self, part: str) -> pd.DataFrame:
        return self.data.iloc[self.parts[part]]

    def labels(self, part: str) -> np.ndarray:
        return self.y[self.parts[part]]

    def split_sizes(self) -> dict[str, int]:
        return {name: int(len(self.parts[name])) for name in ("train", "validation", "test")}


def prepare_response_rows(df: pd.DataFrame, setup: ResponseSetup) -> ResponseRows:
    """Check ``setup``'s columns against the table, drop rows without a response or without any
    input (counted in ``warnings``) and split the rest, stratified by response. Raises
    ``ValueError`` with what was expected and found (a column missing, too few rows of an outcome, ...)."""
    profile, text, label_column = setup.profile, setup.text, setup.label_column
    val_fraction, test_fraction, seed = setup.val_fraction, setup.test_fraction, setup.seed
    _check_columns(df, profile, text, label_column)
    warnings: list[str] = []
    if not df.index.is_unique:  # rows are matched by index label between the models
        df = df.reset_index(drop=True)
    has_label = (_label_text(df[label_column]) != "").to_numpy()
    has_input = _has_any_input(df, [*profile, *text])
    if (~has_label).sum():
        warnings.append(f"{int((~has_label).sum()):,} row(s) without a response value were left out.")
    if (has_label & ~has_input).sum():
        warnings.append(f"{int((has_label & ~has_input).sum()):,} row(s) with every profile and text cell empty were left out.")
    data = df.loc[has_label & has_input]
    y, positive, negative = response_labels(data[label_column], setup.positive_class)
    classes = [negative, positive]
    counts = np.bincount(y, minlength=2)
    if counts.min() < 3:
        raise ValueError(
            f"the response column needs at least 3 rows of each outcome (train, validation, test); "
            f"found {int(counts[1])} {positive!r} and {int(counts[0])} other"
        )
    if counts[1] < 30:
        warnings.append(f"Only {int(counts[1])} responders: every number here is very uncertain.")
    kinds = {**infer_column_kinds(data, profile), **setup.column_kinds}
    parts = split_indices(np.asarray(classes, dtype=object)[y], val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    split = pd.Series("train", index=data.index, dtype=object)
    split.iloc[parts["validation"]] = "validation"
    split.iloc[parts["test"]] = "test"
    if min(np.bincount(y[parts["train"]], minlength=2).min(), np.bincount(y[parts["validation"]], minlength=2).min()) < 1:
        raise ValueError("the split left a part without responders; add rows or change the fractions")
    return ResponseRows(data, y, classes, {c: kinds[c] for c in profile}, split, parts, warnings)


@dataclass(frozen=True)
class ResponseSetup:
    """What a response comparison is asked to do (``train_response_models``), checked when made
    (``ValueError``, worded for people); the checks against the table are ``prepare_response_rows``'.

    ``profile_columns``: numeric/categorical columns (at least one); their kinds are inferred by
    ``core.models.tabular.infer_column_kinds`` unless given in ``column_kinds``. ``text_columns``:
    optional free-text columns (reviews, tickets, notes). ``label_column``, ``positive_class``: the
    response column and the value that means "responded"; any other value is a non-response.
    ``base_model``: the transformer's (catalog name or local folder). ``seed`` fixes the split, the
    cross-fit folds and the transformer's training. ``val_fraction``, ``test_fraction``: shares of
    rows for calibration/model choice and for the reported metrics (stratified by response).
    ``include_transformer``: False skips the (slow) transformer. ``transformer_settings``:
    ``TrainConfig`` fields for it (epochs, batch_size, learning_rate, max_length,
    max_train_seconds, ...; ``core.config.FINE_TUNING_SETTINGS``). ``transformer_max_train_rows``:
    fine-tune on at most this many training rows (a stratified sample; a "fast" mode); the other
    models use every training row. ``tabular_params``: ``TabularModel`` arguments (default:
    scikit-learn's defaults, one thread). ``refit``: refit the gradient boosting and the hybrid
    (seconds) on every labelled row; their metrics stay the held-out ones (``refit_note``); the
    transformer is never refitted.

    After preparation (:meth:`resolved`) ``positive_class`` holds the class's text, ``column_kinds``
    every profile column's kind and ``tabular_params`` the arguments the trees get.
    """

    profile_columns: Sequence[str]
    text_columns: Sequence[str] = ()
    label_column: str = "y"
    positive_class: Any = "yes"
    base_model: str = "minilm-en"
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    include_transformer: bool = True
    transformer_settings: Mapping[str, Any] = field(default_factory=dict)
    transformer_max_train_rows: int | None = None
    column_kinds: Mapping[str, str] = field(default_factory=dict)
    tabular_params: Mapping[str, Any] = field(default_factory=dict)
    refit: bool = True

    def __post_init__(self) -> None:
        for name in ("profile_columns", "text_columns"):  # tuples: a frozen setup's columns cannot change
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        for name in ("transformer_settings", "column_kinds", "tabular_params"):
            object.__setattr__(self, name, dict(getattr(self, name) or {}))
        if not (0 < self.val_fraction < 0.5 and 0 < self.test_fraction <= 0.5 and self.val_fraction + self.test_fraction < 0.8):
            raise ValueError(
                f"val_fraction must be in (0, 0.5) and test_fraction in (0, 0.5], together below 0.8; "
                f"found {self.val_fraction} and {self.test_fraction}"
            )
        unknown = [c for c in self.column_kinds if c not in self.profile_columns]
        if unknown:
            raise ValueError(f"column kinds given for {unknown}, which are not profile columns")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ResponseSetup:
        """A setup from a job's request (``core.jobs.start_response_job``); other keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})

    def resolved(self, rows: ResponseRows) -> ResponseSetup:
        """This setup with what preparing ``rows`` found: the positive class's text, every profile
        column's kind and the trees' arguments (one thread, the seed, then ``tabular_params``)."""
        return dataclasses.replace(self, positive_class=rows.positive, column_kinds=rows.column_kinds,
                                   tabular_params={"n_threads": 1, "random_state": self.seed, **self.tabular_params})

    @property
    def profile(self) -> list[str]:
        return list(self.profile_columns)

    @property
    def text(self) -> list[str]:
        return list(self.text_columns)

    def settings(self) -> dict[str, Any]:
        """The comparison's settings as saved with it (``ResponseComparison.settings``)."""
        return {"seed": self.seed, "val_fraction": self.val_fraction, "test_fraction": self.test_fraction,
                "base_model": self.base_model, "tabular_params": self.tabular_params,
                "transformer_settings": self.transformer_settings,
                "transformer_max_train_rows": self.transformer_max_train_rows}

    def common_config(self) -> dict[str, Any]:
        """The training_config entries every saved candidate shares."""
        return {
            "profile_columns": self.profile,
            "text_columns": self.text,
            "label_column": self.label_column,
            "positive_class": self.positive_class,
            "column_kinds": self.column_kinds,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }

    def schema(self, text: list[str], form: str) -> dict[str, Any]:
        return {"profile_columns": self.profile, "label_column": self.label_column, "positive_class": self.positive_class,
                "column_kinds": self.column_kinds, "text_columns": text, "format": form}

    def fit_tabular(self, rows: pd.DataFrame, y: np.ndarray) -> TabularModel:
        return TabularModel(self.profile, kinds=self.column_kinds, **self.tabular_params).fit(rows, y)

    def fit_hybrid(self, rows: pd.DataFrame, y: np.ndarray) -> tuple[TabularModel, TextScorer]:
        """Trees on the profile plus an out-of-fold text score, and the text scorer fitted on every row."""
        oof = cross_fit_text_scores(rows, y, self.text, seed=self.seed)
        scorer = TextScorer(self.text).fit(rows, y)
        frame = rows[self.profile].copy()
        frame[TEXT_SCORE_COLUMN] = oof
        trees = TabularModel(self.profile, kinds=self.column_kinds, extra_numeric=[TEXT_SCORE_COLUMN], **self.tabular_params)
        return trees.fit(frame, y), scorer


def _fit_tabular_candidate(rows: ResponseRows, setup: ResponseSetup) -> dict[str, Any]:
    """The gradient-boosting baseline on the training rows (seconds): {"model", "val", "test", "seconds"}."""
    t0 = time.monotonic()
    tab = setup.fit_tabular(rows.rows("train"), rows.labels("train"))
    seconds = time.monotonic() - t0
    model = ResponseModel(
        TABULAR, tab, classes=rows.classes,
        schema=setup.schema([], "profile columns as numbers and categories (core.models.tabular)"),
        training_config={"method": "gradient boosting", **setup.common_config(), "tabular_params": setup.tabular_params},
    )
    return {"model": model, "val": tab.predict_proba(rows.rows("validation"))[:, 1],
            "test": tab.predict_proba(rows.rows("test"))[:, 1], "seconds": seconds}


def _fit_hybrid_candidate(rows: ResponseRows, setup: ResponseSetup) -> dict[str, Any]:
    """The hybrid on the training rows: {"model", "val", "test", "seconds"}."""
    t0 = time.monotonic()
    hyb_tab, scorer = setup.fit_hybrid(rows.rows("train"), rows.labels("train"))
    seconds = time.monotonic() - t0
    form = "profile columns (core.models.tabular) + P(response | text) from TF-IDF + logistic regression"
    hybrid = ResponseModel(
        HYBRID, hyb_tab, classes=rows.classes, text_scorer=scorer, schema=setup.schema(setup.text, form),
        training_config={"method": "gradient boosting + TF-IDF text score", **setup.common_config(),
                         "tabular_params": setup.tabular_params, "text_scorer": scorer.params(),
                         "cross_fit_folds": CROSS_FIT_FOLDS},
    )
    return {"model": hybrid, "val": hybrid.raw_scores(rows.rows("validation")),
            "test": hybrid.raw_scores(rows.rows("test")), "seconds": seconds}


def _calibrate(raw: Mapping[str, dict[str, Any]], rows: ResponseRows, seed: int) -> dict[str, CandidateResult]:
    """Calibrate each model on the validation rows and evaluate it on the test rows."""
    from sklearn.metrics import roc_auc_score

    y_va, y_te = rows.labels("validation"), rows.labels("test")
    candidates: dict[str, CandidateResult] = {}
    for name in (TRANSFORMER, TABULAR, HYBRID):
        if name not in raw:
            continue
        r = raw[name]
        calibrator, info = choose_calibrator(r["val"], y_va, seed=seed)
        p_test = calibrator.transform(np.clip(r["test"], 0.0, 1.0))
        metrics = _response_metrics(y_te, r["test"], p_test)
        metrics.update(
            {
                "calibration_method": info["method"],
                "calibration_reason": info["reason"],
                "validation_roc_auc": float(roc_auc_score(y_va, r["val"])),
                "train_seconds": round(float(r["seconds"]), 2),
            }
        )
        metrics.update(r.get("extra_metrics", {}))
        model = r["model"]
        model.calibration = {"positive_class": rows.positive, "calibrator": calibrator.to_dict(), "method": info["method"],
                             "reason": info["reason"], "fitted_on": f"validation split ({rows_words(len(y_va))})"}
        candidates[name] = CandidateResult(name, model, metrics, r["val"], r["test"], p_test)
    return candidates


def _record_metrics(
    candidates: Mapping[str, CandidateResult], rows: ResponseRows, recommended: str, reason: str, warnings: list[str]
) -> None:
    """Metrics as saved with each model (metrics.json): the usual blocks plus the comparison."""
    summary = {
        "positive_class": rows.positive,
        "models": {n: c.metrics for n, c in candidates.items()},
        "recommended": recommended,
        "recommendation": reason,
    }
    y_te, classes, split_sizes = rows.labels("test"), rows.classes, rows.split_sizes()
    test_index = rows.data.index[rows.parts["test"]]
    for name, c in candidates.items():
        block = _classification_block(y_te, c.test_scores, classes)
        others = {MODEL_LABELS[o]: _classification_block(y_te, oc.test_scores, classes)
                  for o, oc in candidates.items() if o != name}
        if name == TRANSFORMER:
            base_metrics = dict(c.model.metrics)
            baselines = {**base_metrics.get("baselines", {}), **others}
            c.model.metrics = {**base_metrics, "model": block, "model_uncalibrated": base_metrics.get("model", {}),
                               "baselines": baselines, "split_sizes": split_sizes, "response": {**summary, "deployed": name}}
            preds = _test_predictions(test_index, y_te, c.test_scores, classes)
            old = c.model.test_predictions
            if old is not None and "text" in old.columns:
                preds.insert(1, "text", old.set_index("row").reindex(test_index)["text"].to_numpy())
            c.model.test_predictions = preds
        else:
            c.model.metrics = {
                "task": "classification",
                "model": block,
                "baselines": others,
                "split_sizes": split_sizes,
                "n_rows_used": int(len(rows.data)),
                "train_seconds": c.metrics["train_seconds"],
                "warnings": warnings,
                "response": {**summary, "deployed": name},
            }
            c.model.test_predictions = _test_predictions(test_index, y_te, c.test_scores, classes)


def _refit_cheap_models(
    candidates: Mapping[str, CandidateResult],
    rows: ResponseRows,
    setup: ResponseSetup,
    run: _Run,
) -> None:
    """Refit the cheap models on every labelled row, now that the comparison has measured them
    (what AutoML tools do): more rows give a better deployed model, and the numbers stay the
    held-out ones of the fit on the training rows. Calibration stays the one fitted on the
    validation scores (the refit has the same settings, so its scores are on the same scale).
    The transformer is not refitted: another fine-tuning costs minutes."""
    n_rows = int(len(rows.data))
    note = refit_note(n_rows, rows.split_sizes())
    for name in (TABULAR, HYBRID):
        if name not in candidates:
            continue
        run.check_cancel()
        run.report("refit", 0.99, f"Refitting {MODEL_LABELS[name].lower()} on all {n_rows:,} labelled rows")
        model = candidates[name].model
        if name == TABULAR:
            model.tabular = setup.fit_tabular(rows.data, rows.y)
        else:
            model.tabular, model.text_scorer = setup.fit_hybrid(rows.data, rows.y)
        model.training_config = {**model.training_config, "fitted_on_rows": n_rows, "refit_on_all_rows": True}
        model.metrics = {**model.metrics, "fitted_on_rows": n_rows, "refit_note": note}
        candidates[name].metrics.update({"fitted_on_rows": n_rows, "refit_note": note})


def _fit_transformer_candidate(rows: ResponseRows, setup: ResponseSetup, run: _Run, deadline: float | None) -> dict[str, Any]:
    """The fine-tune on our split, through the training pipeline's own step
    (``core.pipeline.fit_and_score``: ``core.training.fit_transformer``, then the validation and
    test rows scored by ``core.evaluation.evaluate``): {"model", "val", "test", "seconds", ...}.
    The model keeps its own test numbers (before calibration) in ``metrics``/``test_predictions``."""
    from .base_models import ensure_base_model
    from .pipeline import Candidate, fit_and_score
    from .training import fit_transformer

    start, end = run.stages[1], run.stages[2]

    def progress(fraction: float, message: str, event: ProgressEvent | None = None) -> None:
        run.report("transformer", start + (end - start) * fraction, message, event)

    # A catalog model missing on this machine is built first (once), never replaced by another.
    ensure_base_model(setup.base_model, on_progress=lambda _f, message: progress(0.0, f"Building {setup.base_model}: {message}"))
    prepared, config = _transformer_inputs(rows, setup)
    wall = {}

    def fit(prepared: Any, config: Any, events: Events, cancel: Cancel, deadline: float | None, _hooks: Any) -> Any:
        t0 = time.monotonic()
        model = fit_transformer(prepared, config, events.emit, cancel, deadline=deadline)
        wall["seconds"] = time.monotonic() - t0
        return model

    fitted = fit_and_score(Candidate(TRANSFORMER, fit), prepared, config, Events(_fine_tune_progress(progress)),
                           run.cancel, deadline, ())
    clf, pos = fitted.model, list(fitted.model.classes_).index(rows.positive)
    clf.metrics, clf.test_predictions = {**clf.metrics, "task": prepared.task, "model": fitted.test.metrics}, fitted.test.predictions
    if not prepared.index[prepared.splits["test"]].equals(rows.split.index[rows.split.to_numpy() == "test"]):
        raise RuntimeError("the transformer did not score every test row")  # cannot happen, but never silently
    return {
        "model": clf, "val": fitted.val.proba[:, pos], "test": fitted.test.proba[:, pos],
        "seconds": float(fitted.facts.get("train_seconds", wall["seconds"])), "warnings": list(prepared.warnings),
        "extra_metrics": {"wall_seconds": round(wall["seconds"], 2),
                          "stopped_reason": fitted.facts.get("stopped_reason", "completed"),
                          "train_rows": int(len(prepared.splits["train"])), "epochs": config.epochs},
    }


def _fine_tune_progress(progress: Callable[..., None]) -> Callable[[ProgressEvent], None]:
    """The fine-tune's events as the comparison's "transformer" progress (steps, time left)."""

    def on_event(event: ProgressEvent) -> None:
        frac = event.step / event.total_steps if event.total_steps else 0.0
        if event.phase in ("test", "baselines", "done"):
            frac = 1.0
        msg = event.message or f"Fine-tuning: step {event.step}/{event.total_steps}"
        if event.eta_s is not None and event.phase in ("train", "evaluate"):
            msg = f"Fine-tuning the transformer: step {event.step}/{event.total_steps}, about {math.ceil(event.eta_s)} s left"
        progress(0.97 * frac, msg, event)

    return on_event


def _transformer_inputs(rows: ResponseRows, setup: ResponseSetup) -> tuple[Any, Any]:
    """The fine-tune's Prepared (our split; core.prepare.prepared_from_texts) and TrainConfig. The
    input text is built exactly as ``TextClassifier`` builds it at prediction time from the schema
    the model is given (profile + text columns), so the deployed model reads the original columns."""
    from .config import TrainConfig
    from .prepare import BUILT_FORMAT, prepared_from_texts

    texts = build_texts(rows.data, setup.text, setup.profile)
    keep = _transformer_rows(rows.split, rows.y, setup.transformer_max_train_rows, setup.seed)
    settings = _transformer_settings(setup.base_model, setup.transformer_settings)
    schema = {"text_columns": setup.text, "profile_columns": setup.profile, "label_column": setup.label_column,
              "positive_class": rows.positive, "format": BUILT_FORMAT}  # profile columns are never empty here
    prepared = prepared_from_texts(
        [t for t, k in zip(texts, keep) if k], np.asarray(rows.classes, dtype=object)[rows.y[keep]],
        rows.split.to_numpy()[keep], index=rows.data.index[keep], schema=schema, base_model=setup.base_model,
    )
    config = TrainConfig(
        # The settings of the fine-tuning; the columns it reads are the prepared schema's (a
        # TrainConfig needs a text column, which a profile-only table does not have).
        text_columns=tuple(setup.text or setup.profile),
        label_column=setup.label_column,
        base_model=setup.base_model,
        seed=setup.seed,
        extra={"built_by": "core.response.train_response_models", **setup.common_config(),
               "transformer_max_train_rows": setup.transformer_max_train_rows},
        **{"choose_simpler": False, **settings},  # this comparison chooses among its own candidates
    )
    return prepared, config


def _transformer_rows(split: pd.Series, y: np.ndarray, max_train_rows: int | None, seed: int) -> np.ndarray:
    """Which rows the fine-tuning sees (bool per row): all, or a stratified sample of at most
    ``max_train_rows`` training rows plus every validation and test row."""
    keep = np.ones(len(split), dtype=bool)
    if max_train_rows is not None:
        if int(max_train_rows) < 10:
            raise ValueError(f"transformer_max_train_rows must be at least 10; found {max_train_rows}")
        train_pos = np.flatnonzero(split.to_numpy() == "train")
        if train_pos.size > max_train_rows:
            from sklearn.model_selection import train_test_split

            chosen, _ = train_test_split(train_pos, train_size=int(max_train_rows), stratify=y[train_pos], random_state=seed)
            keep[np.setdiff1d(train_pos, chosen)] = False
    return keep


def _transformer_settings(base_model: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Full fine-tuning (a TextClassifier, whatever "auto" would pick for a small table), then the
    base model's preset (e.g. LoRA + frozen embeddings for multilingual-e5), then the caller's."""
    from .base_models import training_defaults

    unknown = sorted(set(settings) - FINE_TUNING_SETTINGS)
    if unknown:
        raise ValueError(f"unknown transformer setting(s) {unknown}; allowed: {sorted(FINE_TUNING_SETTINGS)}")
    preset = {k: v for k, v in training_defaults(base_model).items() if k in FINE_TUNING_SETTINGS}
    merged = {"method": "full", **preset, **settings}
    if merged["method"] not in ("full", "lora"):
        raise ValueError(f"the transformer in a response comparison is fine-tuned ('full' or 'lora'); found {merged['method']!r}")
    return merged


# --------------------------------------------------------------------------------------------
# Deploying and scoring customer lists
# --------------------------------------------------------------------------------------------


def deploy(comparison: ResponseComparison, which: str | None, name: str, *, root: Path | None = None,
           overwrite: bool = False) -> Path:
    """Save model ``which`` (default: the recommended one) of ``comparison`` to the registry as
    ``name``; returns the folder. A transformer is saved as a normal ``TextClassifier`` folder
    (kind ``"transformer"``) plus ``calibration.json``; the others as ``ResponseModel``."""
    from .registry import model_path, validate_name

    which = which or comparison.recommended
    if which not in comparison.candidates:
        raise ValueError(f"no model {which!r} in this comparison; it has {list(comparison.candidates)}")
    validate_name(name)
    folder = model_path(name, root)
    if folder.exists() and not overwrite:
        raise ValueError(f"A model named '{name}' already exists; choose another name.")
    candidate = comparison.candidates[which]
    if isinstance(candidate.model, Path):  # a comparison read back by load_comparison
        return _copy_model_folder(candidate.model, folder)
    response = dict(candidate.model.metrics.get("response", {}))
    response["deployed"] = which
    candidate.model.metrics = {**candidate.model.metrics, "response": response}
    return candidate.model.save(folder, overwrite=overwrite)


def _copy_model_folder(source: Path, folder: Path) -> Path:
    """Copy a saved model folder into place atomically (temporary copy, then rename), replacing
    what is there (``deploy`` has refused a taken name already)."""
    if not is_model_folder(source):
        raise ValueError(f"{source} is not a saved model folder (it lacks marketune.json)")
    with atomic_folder(folder, overwrite=True) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return folder


COMPARISON_JSON = "comparison.json"
COMPARISON_TEST_FRAME = "test_frame.csv"
CANDIDATES_DIR = "candidates"


def save_comparison(comparison: ResponseComparison, folder: str | Path) -> Path:
    """Write a comparison to ``folder`` (JSON + CSV + one saved model folder per candidate under
    ``candidates/<name>``), so another process can show it and deploy any of its models.

    ``comparison.json`` holds the settings, recommendation, warnings, split, 0/1 responses and
    every candidate's metrics and scores (validation raw, test raw and calibrated);
    ``test_frame.csv`` the test rows with all their columns. Read back with ``load_comparison``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, c in comparison.candidates.items():
        target = folder / CANDIDATES_DIR / name
        if isinstance(c.model, Path):
            _copy_model_folder(c.model, target)
        else:
            c.model.save(target, overwrite=True)
    comparison.test_frame.to_csv(folder / COMPARISON_TEST_FRAME, index=False)
    data = {
        "format": "marketune-response-comparison",
        "format_version": FORMAT_VERSION,
        "positive_class": comparison.positive_class,
        "negative_class": comparison.negative_class,
        "label_column": comparison.label_column,
        "profile_columns": comparison.profile_columns,
        "text_columns": comparison.text_columns,
        "column_kinds": comparison.column_kinds,
        "split_index": [str(i) for i in comparison.split.index],
        "split": comparison.split.astype(str).tolist(),
        "y_test": comparison.y_test.astype(int).tolist(),
        "y_val": comparison.y_val.astype(int).tolist(),
        "recommended": comparison.recommended,
        "recommendation": comparison.recommendation,
        "warnings": list(comparison.warnings),
        "settings": comparison.settings,
        "candidates": {
            name: {
                "metrics": c.metrics,
                "val_scores_raw": np.asarray(c.val_scores_raw, np.float64).tolist(),
                "test_scores_raw": np.asarray(c.test_scores_raw, np.float64).tolist(),
                "test_scores": np.asarray(c.test_scores, np.float64).tolist(),
            }
            for name, c in comparison.candidates.items()
        },
    }
    write_json(folder / COMPARISON_JSON, data)
    return folder


def load_comparison(folder: str | Path) -> ResponseComparison:
    """A comparison written by ``save_comparison``. Each candidate's ``model`` is the Path of
    its saved folder (load it with ``core.registry.load_folder``; ``deploy`` copies it).
    Raises ValueError when the folder lacks the files or they are damaged."""
    folder = Path(folder)
    path = folder / COMPARISON_JSON
    if not path.is_file() or not (folder / COMPARISON_TEST_FRAME).is_file():
        raise ValueError(f"{folder} holds no saved comparison ({COMPARISON_JSON}, {COMPARISON_TEST_FRAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        candidates = {
            name: CandidateResult(
                name,
                folder / CANDIDATES_DIR / name,
                c["metrics"],
                np.asarray(c["val_scores_raw"], np.float64),
                np.asarray(c["test_scores_raw"], np.float64),
                np.asarray(c["test_scores"], np.float64),
            )
            for name, c in data["candidates"].items()
        }
        split = pd.Series(data["split"], index=data["split_index"], dtype=object)
        test_frame = pd.read_csv(folder / COMPARISON_TEST_FRAME, keep_default_na=False, na_values=[""])
        return ResponseComparison(
            candidates=candidates,
            positive_class=data["positive_class"],
            negative_class=data["negative_class"],
            label_column=data["label_column"],
            profile_columns=list(data["profile_columns"]),
            text_columns=list(data["text_columns"]),
            column_kinds=dict(data["column_kinds"]),
            split=split,
            test_frame=test_frame,
            y_test=np.asarray(data["y_test"], np.int8),
            y_val=np.asarray(data["y_val"], np.int8),
            recommended=data["recommended"],
            recommendation=data["recommendation"],
            warnings=list(data["warnings"]),
            settings=dict(data["settings"]),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"the saved comparison in {folder} is damaged ({exc!r})") from exc


def positive_class_of(model: SavedModel) -> str | None:
    """The class a binary model's "response" probability is for: the one it was calibrated or
    trained for as a response model, else ``classes_[1]``; None for non-binary models."""
    if model.task != "classification" or len(model.classes_) != 2:
        return None
    # Only the transformer and the response kinds carry a calibration.
    for source in (getattr(model, "calibration", None) or {}, model.schema):
        if source.get("positive_class") in [str(c) for c in model.classes_]:
            return str(source["positive_class"])
    return str(model.classes_[1])


def score_customers(model: SavedModel, df: pd.DataFrame, positive_class: str | None = None,
                    prob_column: str = "response_probability") -> tuple[pd.DataFrame, int]:
    """``df`` with ``prob_column`` = P(``positive_class``) from any binary model (via
    ``core.predict.predict_frame``), without the rows the model could not score.

    Returns ``(scored, n_unscored)``: scored rows keep their original columns (and index);
    ``n_unscored`` counts rows left out (e.g. no text for a text model).
    """
    from .predict import predict_frame

    positive = positive_class or positive_class_of(model)
    if positive is None:
        raise ValueError("targeting needs a model with two classes (responded or not); this model has "
                         f"task {model.task!r} and classes {list(model.classes_)}")
    if positive not in [str(c) for c in model.classes_]:
        raise ValueError(f"class {positive!r} is not one of the model's classes {list(model.classes_)}")
    if prob_column in df.columns:
        raise ValueError(f"the list already has a column {prob_column!r}; rename it first")
    result = predict_frame(model, df)
    p = result[f"p_{positive}"].to_numpy(dtype=np.float64)
    ok = np.isfinite(p)
    scored = df.loc[ok].copy()
    scored[prob_column] = p[ok]
    return scored, int((~ok).sum())


BUDGET_MODES = ("count", "share", "profit")


def budget_selection(
    scored: pd.DataFrame,
    prob_column: str = "response_probability",
    *,
    mode: str,
    n: int | None = None,
    share: float | None = None,
    cost_per_contact: float = 0.0,
    value_per_conversion: float = 1.0,
) -> pd.DataFrame:
    """The customers to contact under a budget, best first, ready to export.

    Args:
        scored: one row per customer with ``prob_column`` = calibrated P(response).
        mode: ``"count"`` (the top ``n``), ``"share"`` (the top ``floor(share * len)``) or
            ``"profit"`` (every customer whose expected value ``p * value - cost`` is positive:
            the best cut-off of the expected-profit curve).
        cost_per_contact, value_per_conversion: money per contact and per response (>= 0).

    Returns:
        ``rank`` (1 = contact first), the original columns, ``prob_column``,
        ``expected_value`` and ``cumulative_expected_profit`` (``core.targeting.target_list``).
    """
    from .targeting import target_list

    if mode not in BUDGET_MODES:
        raise ValueError(f"budget mode must be one of {BUDGET_MODES}; found {mode!r}")
    if mode == "count" and n is None:
        raise ValueError("a budget by number of contacts needs n")
    if mode == "share" and share is None:
        raise ValueError("a budget by share of the list needs share")
    out = target_list(
        scored,
        prob_column,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
        n=n if mode == "count" else None,
        share=share if mode == "share" else None,
        profitable_only=mode == "profit",
    )
    first = ["rank"]
    rest = [c for c in out.columns if c not in ("rank", prob_column, "expected_value", "cumulative_expected_profit")]
    return out[first + rest + [prob_column, "expected_value", "cumulative_expected_profit"]]


LANGUAGE_SAMPLE_ROWS = 300


def language_texts(df: pd.DataFrame, text_columns: Sequence[str], n: int = LANGUAGE_SAMPLE_ROWS) -> list[str]:
    """Texts to judge the language by (``core.base_models.language_mix``): the cells of the
    real text columns of up to ``n`` rows, joined by a space; ``[]`` without text columns.

    Never the profile fields: "age: 34 | job: admin. | marital: married" is no language, and the
    language check (a word list for Latin script) reads such rows as 100% non-English, which
    used to pick the multilingual model for numbers and categories.
    """
    columns = [c for c in text_columns if c in df.columns]
    if not columns:
        return []
    head = df.head(n)
    parts = [head[c].map(format_value).astype(str).str.strip().tolist() for c in columns]
    return [t for t in (" ".join(p for p in row if p) for row in zip(*parts)) if t]


def transformer_base_model(df: pd.DataFrame, text_columns: Sequence[str]) -> tuple[str, str]:
    """The base model the transformer of a response comparison uses by default, and why.

    Profile-only data: the English ``minilm-en`` (the input is "column: value" fields, not a
    language). With text columns: ``core.base_models.recommend_base_model`` on those texts only.
    Returns ``(name, reason)``; the reason is "" when there is nothing to explain.
    """
    from .base_models import DEFAULT_BASE_MODEL, recommend_base_model

    texts = language_texts(df, text_columns)
    if not texts:
        return DEFAULT_BASE_MODEL, ""
    return recommend_base_model(texts, DEFAULT_BASE_MODEL)


# Rough CPU speed of fine-tuning, in training rows x epochs per second, per base model. minilm-en:
# bench_targeting.py fine-tuned 4,000 bank rows x 3 epochs in 597 s (20/s, idle 2-core machine);
# multilingual-e5-small (118M parameters, embeddings frozen) runs about 2.5x slower per row in
# bench_multilingual.py. Unknown models are assumed as slow as the multilingual one.
FINE_TUNE_ROWS_PER_SECOND = {"minilm-en": 20.0, "multilingual-e5-small": 8.0}
SCORE_ROWS_PER_SECOND = 60.0  # forward passes only (validation and test scoring)
# With the texts' length known (``mean_tokens``): a training row-pass of minilm-en costs
# FINE_TUNE_MS_PER_TOKEN x (tokens + 2) ms on 2 idle cores (bf16 autocast, length-grouped batches),
# a scoring pass a third of it. Fitted on the fine-tune candidates' seconds of bench_leaderboard's idle
# runs (docs/measurements.md "Click to first usable model"): UCI sentences 17 tokens 44 s for 1,400 rows
# x 3 epochs (0.48), 7 emotions 19 tokens 119-124 s for 3,500 x 3 (0.48), clothing reviews 76 tokens
# 159 s (0.42) and 519 s (0.55); the 20 rows/s above is this at ~100 tokens. Round 11: the walk saw
# "about 10 min" for a 2,000-sentence run that took under 2.
FINE_TUNE_MS_PER_TOKEN = 0.48


def mean_tokens(texts: Sequence[str], max_length: int = 128, sample: int = 1000) -> float:
    """About how many tokens the texts have on average, without a tokenizer: a character outside
    ASCII (Chinese, Japanese, ...) is about one token, four ASCII characters about one (minilm-en's
    WordPiece on UCI sentences: 65 characters, 17 tokens; clothing reviews 305 and 76), each text
    capped at ``max_length``; over the first ``sample`` texts. 0.0 for no texts."""
    counts = []
    for text in list(texts)[:sample]:
        other = sum(1 for ch in text if ord(ch) > 127)
        counts.append(min(max_length, (len(text) - other) / 4 + other + 2))  # + [CLS] and [SEP]
    return float(np.mean(counts)) if counts else 0.0


def estimate_transformer_seconds(
    n_rows: int,
    *,
    base_model: str = "minilm-en",
    epochs: float = 3.0,
    max_train_rows: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    evals_per_epoch: int = 2,
    mean_tokens: float | None = None,
) -> float:
    """A rough estimate (seconds, on a laptop-class CPU) of the transformer's part of a response
    comparison or a training on ``n_rows`` labelled rows: fine-tuning ``epochs`` over the training
    rows (at most ``max_train_rows``), ``evals_per_epoch`` validation passes per epoch and the test
    scoring. ``mean_tokens`` (:func:`mean_tokens` of the texts): the cost follows the texts' length
    (FINE_TUNE_MS_PER_TOKEN); None: FINE_TUNE_ROWS_PER_SECOND's rows of ~100 tokens. It is a guide
    for the user's choice, not a promise: speed depends on the machine and its load.
    """
    n_test = round(n_rows * test_fraction)
    n_val = round(n_rows * val_fraction)
    n_train = max(0, n_rows - n_test - n_val)
    if max_train_rows is not None:
        n_train = min(n_train, int(max_train_rows))
    speed = FINE_TUNE_ROWS_PER_SECOND.get(base_model, min(FINE_TUNE_ROWS_PER_SECOND.values()))
    slowdown = FINE_TUNE_ROWS_PER_SECOND["minilm-en"] / speed
    scored = n_val * evals_per_epoch * max(1.0, epochs) + n_test + n_val
    if mean_tokens:
        per_row = FINE_TUNE_MS_PER_TOKEN * mean_tokens / 1000 * slowdown  # mean_tokens counts [CLS] and [SEP]
        return n_train * epochs * per_row + scored * per_row / 3
    return n_train * epochs / speed + scored / (SCORE_ROWS_PER_SECOND / slowdown)
