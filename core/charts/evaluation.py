"""Plotly figures and small tables for training progress and model evaluation.

Pure functions: metrics dicts (``metrics.json``), progress events (``events.jsonl``) or the
saved ``test_predictions.csv`` frame in; a ``go.Figure`` or a ``pd.DataFrame`` out. The Train
and Models pages render these through ``ui.results``; nothing here touches Streamlit or torch.

Shares stay fractions in 0..1 in the figure data (axes show percentages) so tests can read
them back. Labels are compared as strings: a CSV read back by pandas turns labels "0"/"1" into
integers, and the classes in ``marketune.json`` are strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..evaluation import OUT_OF_FOLD_NOTE, cross_validated_folds, out_of_fold_title, scored_rows
from . import BASELINE_COLOR, MODEL_COLOR, diagonal, model_curve

__all__ = [
    "Headline",
    "baseline_comparison_chart",
    "confusion_matrix_chart",
    "headline_numbers",
    "label_distribution_chart",
    "mistakes_frame",
    "model_comparison_frame",
    "per_class_frame",
    "predicted_vs_actual_chart",
    "roc_curve_chart",
    "roc_inputs",
    "target_histogram_chart",
    "training_curve_chart",
]

LOSS_COLOR = "#ff7f0e"
MAX_CURVE_POINTS = 1000  # a loss curve longer than this is thinned (the figure goes to the browser)
MAX_SCATTER_POINTS = 5000
BASELINE_NAMES = {
    "tfidf_lr": "TF-IDF + logistic regression",
    "tfidf_ridge": "TF-IDF + ridge regression",
    "majority": "Majority class",
    "mean": "Mean of training labels",
}


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, or NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------- before training


def label_distribution_chart(class_counts: Mapping[Any, int], title: str = "Label distribution",
                             n_rows: int | None = None) -> go.Figure:
    """Bar chart of rows per class (x = class as text, y = row count), in the given order; the
    text and ``customdata`` are each bar's share 0..1 of all the bars' rows.

    ``n_rows`` given (several tags per row, ``class_counts`` = rows carrying each tag): the bars
    are rows carrying each tag and the shares are of ``n_rows`` rows, so a row with two tags counts
    in both bars and the shares add up to more than 100%; axis and title say so."""
    labels = [str(k) for k in class_counts]
    counts = [int(v) for v in class_counts.values()]
    total = (n_rows if n_rows is not None else sum(counts)) or 1
    of = " of rows" if n_rows is not None else ""
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=counts,
            marker_color=MODEL_COLOR,
            text=[f"{c / total:.0%}" for c in counts],
            textposition="outside",
            customdata=[c / total for c in counts],
            hovertemplate=f"%{{x}}: %{{y:,}} rows (%{{customdata:.1%}}{of})<extra></extra>",
        )
    )
    if n_rows is not None:
        fig.update_layout(title=f"Rows carrying each tag (of {n_rows:,} rows; a row with several tags counts in each)",
                          xaxis_title="Tag", yaxis_title="Rows carrying the tag", xaxis_type="category")
    else:
        fig.update_layout(title=title, xaxis_title="Label", yaxis_title="Rows", xaxis_type="category")
    fig.update_layout(margin={"t": 50, "b": 40}, height=320)
    return fig


def target_histogram_chart(values: Sequence[float], bins: int = 30, title: str = "Label distribution") -> go.Figure:
    """Histogram of a numeric label, binned here with numpy (the figure holds ``bins`` bars,
    not one point per row). x = bin centres, y = row counts. Values are read as training reads a
    regression label (core.reading.to_number: decimal commas too); non-numbers and non-finite numbers
    (inf, which training drops) are left out."""
    from ..reading import to_number

    numbers = to_number(pd.Series(list(values), dtype=object)).to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    fig = go.Figure()
    if len(numbers):
        counts, edges = np.histogram(numbers, bins=bins)
        centres = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=np.diff(edges),
                marker_color=MODEL_COLOR,
                customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                hovertemplate="%{customdata[0]:.3g} to %{customdata[1]:.3g}: %{y:,} rows<extra></extra>",
            )
        )
    fig.update_layout(title=title, xaxis_title="Label value", yaxis_title="Rows", height=320)
    return fig


# ------------------------------------------------------------------------- during training


def _validation_key(task: str) -> tuple[str, str]:
    return ("macro_f1", "Validation macro-F1") if task == "classification" else ("r2", "Validation R²")


# One colour per fit when a run trains several (cross-validation's folds, then the fit on every row).
FIT_COLORS = (LOSS_COLOR, "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def loss_series(events: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[tuple[int, float]]]]:
    """The training loss by optimizer step, one series per fit: [(name, [(step, loss), ...])].

    A run that trains several models counts each one's steps from 0 again: cross-validation
    (core.small_data.FoldEvents names the fit in ``metrics["fold"]``: "fold 2 of 5", then "final
    fit on all 14 rows (after 5 folds)") and the refit on train + validation (core.pipeline.refit;
    no name, its step count goes back). Drawn as one line, each restart would be a saw-tooth tooth;
    so a new series begins where the fit's name changes or the step goes back. Names: the fold's,
    else "first fit" for the first and "refit" for a later one. Series with
    no loss value are left out; each is thinned to its share of ``MAX_CURVE_POINTS`` (first and
    last points kept)."""
    runs: list[tuple[str | None, list[tuple[int, float]]]] = []
    for event in events:
        if event.get("phase") != "train":
            continue
        fold, step = (event.get("metrics") or {}).get("fold"), int(event.get("step") or 0)
        points = runs[-1][1] if runs else None
        if points is None or fold != runs[-1][0] or (points and step < points[-1][0]):
            runs.append((fold, []))
        loss = _finite(event.get("loss"))
        if loss is not None:
            runs[-1][1].append((step, loss))
    runs = [(fold, points) for fold, points in runs if points]
    budget = MAX_CURVE_POINTS // max(len(runs), 1)
    series = []
    for i, (fold, points) in enumerate(runs):
        if len(points) > budget:
            keep = np.unique(np.linspace(0, len(points) - 1, budget).round().astype(int))
            points = [points[j] for j in keep]
        series.append((str(fold) if fold else "first fit" if i == 0 else "refit", points))
    return series


def training_curve_chart(events: Sequence[Mapping[str, Any]], task: str | None = None) -> go.Figure:
    """Training loss (traces 0..k-1, one per fit: :func:`loss_series`; left axis) and the
    validation metric (the last trace, right axis) by optimizer step, from progress events
    (``ProgressEvent.to_dict()`` dicts).

    Loss comes from "train" events (a running mean over recent steps), the metric from
    "evaluate" events: macro-F1 for classification, R² for regression (``task=None``: told
    apart by which of the two the evaluation metrics hold). Long runs are thinned to at most
    ``MAX_CURVE_POINTS`` loss points (the first and last of each fit are always kept).

    Several fits (cross-validation's folds and its final fit on every row, or a refit) share one
    step axis, each fit's line counted from step 0, rather than one continuous axis: each fold
    trains a fresh copy of the base model on other rows, so its loss starts high again; on one
    axis the lines lie over each other, and a fold that learns differently stands out.
    """
    if task is None:
        evaluated = [e.get("metrics") or {} for e in events if e.get("phase") == "evaluate"]
        task = (
            "regression" if evaluated and "r2" in evaluated[0] and "macro_f1" not in evaluated[0] else "classification"
        )
    key, metric_name = _validation_key(task)
    if any("micro_f1" in (e.get("metrics") or {}) for e in events if e.get("phase") == "evaluate"):
        key, metric_name = "micro_f1", "Validation micro-F1"  # several tags per row: what early stopping follows
    series = loss_series(events) or [("Training loss", [])]
    val = [(int(e["step"]), _finite((e.get("metrics") or {}).get(key))) for e in events if e.get("phase") == "evaluate"]
    val = [(s, v) for s, v in val if v is not None]
    fig = go.Figure()
    for i, (name, points) in enumerate(series):
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in points],
                y=[v for _, v in points],
                mode="lines",
                name="Training loss" if len(series) == 1 else f"Loss, {name}",
                line={"color": FIT_COLORS[i % len(FIT_COLORS)]},
                hovertemplate=(name + ", " if len(series) > 1 else "") + "step %{x}: loss %{y:.3f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[s for s, _ in val],
            y=[v for _, v in val],
            mode="lines+markers",
            name=metric_name,
            yaxis="y2",
            line={"color": MODEL_COLOR},
            hovertemplate="step %{x}: %{y:.3f}<extra></extra>",
        )
    )
    loss = [p for _, points in series for p in points]
    total = max((int(e.get("total_steps") or 0) for e in events), default=0)
    # An explicit loss range from 0 to a little above the highest point: left to autorange
    # (with the overlaid metric axis and the live updates) the first, highest losses were drawn
    # above the top of the plot.
    top = max((v for _, v in loss), default=0.0)
    loss_range = [min(0.0, min(v for _, v in loss)), top * 1.08 if top > 0 else 1.0] if loss else None
    last_step = max((s for s, _ in loss), default=0)
    folds = any(name not in ("first fit", "refit") for name, _ in series)
    step_title = ("Optimizer step" if len(series) == 1 else "Optimizer step, from 0 in each fit (each " + (
        "fold trains a fresh copy of the base model)" if folds else "refit trains a fresh copy on train + validation)"))
    fig.update_layout(
        xaxis={"title": step_title, "range": [0, max(total, last_step)] if total else None},
        yaxis={"title": "Training loss", "range": loss_range, "autorange": False if loss else True},
        yaxis2={
            "title": metric_name,
            "overlaying": "y",
            "side": "right",
            "range": [0, 1] if task == "classification" else None,
        },
        legend={"orientation": "h", "y": 1.12},
        margin={"t": 40, "b": 40},
        height=320,
    )
    return fig


# ------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Headline:
    """One headline card: ``value`` as shown, ``delta`` (a signed text) against a baseline."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"  # "normal": up is good; "inverse": down is good (errors)
    help: str = ""


def _points(a: float | None, b: float | None) -> str | None:
    """Difference of two 0..1 scores in percentage points, signed ("+12.3 pts")."""
    if a is None or b is None:
        return None
    return f"{(a - b) * 100:+.1f} pts"


def headline_numbers(metrics: Mapping[str, Any], task: str) -> list[Headline]:
    """The headline cards for a model's ``metrics.json``.

    Classification: accuracy, macro-F1, and the lift in macro-F1 points over the TF-IDF and
    the majority-class baselines (same test split). Regression: R² and MAE, each against the
    TF-IDF ridge and the mean baselines; the MAE card says "lower is better", and the cut in MAE
    against TF-IDF is positive when this model errs less. Missing numbers are "n/a", never invented.
    A saved TF-IDF model is compared with the fine-tune it was chosen over when that is recorded;
    otherwise it has no card against TF-IDF (it would compare the model with itself: "+0.0").
    """
    cards = _headline_cards(metrics, task)
    if metrics.get("saved_kind") == "tfidf" and not (metrics.get("candidates") or {}).get("transformer"):
        cards = [card for card in cards if not card.label.endswith("TF-IDF")]
    return cards


def _headline_cards(metrics: Mapping[str, Any], task: str) -> list[Headline]:
    model = metrics.get("model") or {}
    base = dict(metrics.get("baselines") or {})
    rival = "TF-IDF"
    fine_tune = (metrics.get("candidates") or {}).get("transformer")
    if metrics.get("saved_kind") == "tfidf" and fine_tune:
        # The saved model is the TF-IDF baseline itself ("+0.0 over TF-IDF" says nothing): set it
        # beside the fine-tuned model it was chosen over, kept as a candidate.
        base["tfidf_lr"] = base["tfidf_ridge"] = fine_tune
        rival = "the fine-tune"

    def get(source: Mapping[str, Any], key: str) -> float | None:
        return _finite((source or {}).get(key))

    # Cross-validated on small data, the numbers are on every labelled row scored out of fold: no test row.
    rows = scored_rows(metrics) + (f" ({OUT_OF_FOLD_NOTE})" if cross_validated_folds(metrics) else "")

    def fmt(value: float | None, pattern: str) -> str:
        return "n/a" if value is None else pattern.format(value)

    if task == "classification":
        acc, f1 = get(model, "accuracy"), get(model, "macro_f1")
        tfidf, majority = get(base.get("tfidf_lr"), "macro_f1"), get(base.get("majority"), "macro_f1")
        n = model.get("n")
        vs_majority = _points(acc, get(base.get("majority"), "accuracy"))
        return [
            Headline(
                "Accuracy",
                fmt(acc, "{:.1%}"),
                vs_majority,
                # No green arrow for no gain: a model level with always guessing the common class.
                delta_color="off" if vs_majority and vs_majority[1:].startswith("0.0 ") else "normal",
                help=f"Share of the {n} {rows} predicted right; delta vs always predicting the most common class.",
            ),
            Headline(
                "Macro-F1", fmt(f1, "{:.3f}"), help="F1 averaged over classes, each class counting equally (0-1)."
            ),
            Headline(
                f"Lift over {rival}",
                _points(f1, tfidf) or "n/a",
                None,
                help=(f"Macro-F1 points over a TF-IDF + logistic regression baseline ({fmt(tfidf, '{:.3f}')})."
                      if rival == "TF-IDF" else
                      f"Macro-F1 points over the fine-tuned transformer this model was chosen over ({fmt(tfidf, '{:.3f}')}), "
                      f"on the same {rows}."),
            ),
            Headline(
                "Lift over majority",
                _points(f1, majority) or "n/a",
                None,
                help=f"Macro-F1 points over always predicting the most common class ({fmt(majority, '{:.3f}')}).",
            ),
        ]
    r2, mae = get(model, "r2"), get(model, "mae")
    tfidf, mean = base.get("tfidf_ridge") or {}, base.get("mean") or {}

    def diff(a: float | None, b: float | None, pattern: str) -> str | None:
        return None if a is None or b is None else pattern.format(a - b)

    # R² is higher-is-better and MAE lower-is-better: each card says which way is good, and the
    # comparison with TF-IDF is signed so that positive means this model is better, as for R².
    vs_mean = diff(mae, get(mean, "mae"), "{:+.4g}")
    return [
        Headline(
            "R²",
            fmt(r2, "{:.3f}"),
            help=f"Share of the label's variance explained on the {rows} (1 is perfect, 0 is the mean).",
        ),
        Headline(
            f"R² vs {rival}",
            diff(r2, get(tfidf, "r2"), "{:+.3f}") or "n/a",
            help=f"R² minus that of a TF-IDF + ridge baseline ({fmt(get(tfidf, 'r2'), '{:.3f}')}); positive is better.",
        ),
        Headline(
            "MAE",
            fmt(mae, "{:.4g}"),
            vs_mean and f"{vs_mean} vs the mean (lower is better)",
            "inverse",
            help=f"Mean absolute error (lower is better); delta vs predicting the training mean "
            f"(MAE {fmt(get(mean, 'mae'), '{:.4g}')}).",
        ),
        Headline(
            f"MAE cut vs {rival}",
            diff(get(tfidf, "mae"), mae, "{:+.4g}") or "n/a",
            help=f"The TF-IDF + ridge baseline's MAE ({fmt(get(tfidf, 'mae'), '{:.4g}')}) minus this model's: "
            "how much smaller this model's average error is. Positive is better.",
        ),
    ]


def baseline_comparison_chart(metrics: Mapping[str, Any], task: str) -> go.Figure:
    """Horizontal bars of the headline metric (macro-F1 or R²) for the model and each baseline, on
    the same test rows (out of fold for a cross-validated run, which the title says).

    Trace 0 holds every bar: y = names (model first), x = scores.
    """
    key = "macro_f1" if task == "classification" else "r2"
    names, scores, colors = [], [], []
    model_score = _finite((metrics.get("model") or {}).get(key))
    if model_score is not None:
        names.append("Your model")
        scores.append(model_score)
        colors.append(MODEL_COLOR)
    for name, values in (metrics.get("baselines") or {}).items():
        score = _finite((values or {}).get(key))
        if score is not None:
            names.append(BASELINE_NAMES.get(name, name))
            scores.append(score)
            colors.append(BASELINE_COLOR)
    fig = go.Figure(
        go.Bar(
            x=scores,
            y=names,
            orientation="h",
            marker_color=colors,
            text=[f"{s:.3f}" for s in scores],
            textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    label = "Macro-F1" if task == "classification" else "R²"
    folds = cross_validated_folds(metrics)  # small data: every number is out of fold, there are no test rows
    title = out_of_fold_title(folds, "macro-F1" if task == "classification" else "R²") if folds else f"{label} on the same test rows"
    fig.update_layout(
        title=title[:1].upper() + title[1:],
        xaxis_title=label,
        yaxis={"autorange": "reversed"},
        height=120 + 40 * len(names),
        margin={"t": 40, "b": 40},
    )
    return fig


def per_class_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support from ``metrics["model"]["per_class"]``,
    one row per class in the saved order; empty (with the columns) when absent."""
    per_class = (metrics.get("model") or {}).get("per_class") or {}
    rows = [
        {
            "class": str(name),
            "precision": float(values.get("precision", float("nan"))),
            "recall": float(values.get("recall", float("nan"))),
            "f1": float(values.get("f1", float("nan"))),
            "support": int(values.get("support", 0)),
        }
        for name, values in per_class.items()
    ]
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


def confusion_matrix_chart(
    labels: Sequence[Any], matrix: Sequence[Sequence[int]], normalize: bool = False
) -> go.Figure:
    """Heatmap of true (rows, y) against predicted (columns, x) labels.

    ``normalize=False``: z holds the counts. ``normalize=True``: z holds each row's shares
    (recall per class; a row with no test rows stays 0). Cell text always shows both.
    The first class is drawn at the top, as in a printed confusion matrix.
    """
    labels = [str(v) for v in labels]
    counts = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    z = shares if normalize else counts
    text = [[f"{int(c):,}<br>{s:.0%}" for c, s in zip(crow, srow)] for crow, srow in zip(counts, shares)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            customdata=np.stack([counts, shares], axis=-1),
            hovertemplate="true %{y}, predicted %{x}: %{customdata[0]:,} rows (%{customdata[1]:.1%} of the true class)<extra></extra>",
            colorbar={"title": "share" if normalize else "rows", "tickformat": ".0%" if normalize else ","},
        )
    )
    side = max(300, min(700, 120 + 60 * len(labels)))
    fig.update_layout(
        title="Confusion matrix (row-normalised)" if normalize else "Confusion matrix (counts)",
        xaxis={"title": "Predicted label", "type": "category", "side": "bottom"},
        yaxis={"title": "True label", "type": "category", "autorange": "reversed"},
        height=side,
        margin={"t": 50, "b": 40},
    )
    return fig


def roc_inputs(test_predictions: pd.DataFrame, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(is_positive, score, positive_label) for a binary classifier's ROC curve, or None.

    The positive class is ``classes[1]`` (as in ``core.evaluation``); the score is its
    probability column ``p_<class>`` in ``test_predictions.csv``. None when the task is not
    binary or the columns are missing.
    """
    classes = [str(c) for c in classes]
    if len(classes) != 2 or test_predictions is None or "true_label" not in test_predictions:
        return None
    column = f"p_{classes[1]}"
    if column not in test_predictions:
        return None
    truth = test_predictions["true_label"].astype(str).str.strip().to_numpy() == classes[1]
    scores = pd.to_numeric(test_predictions[column], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(scores)
    return truth[ok], scores[ok], classes[1]


def roc_curve_chart(is_positive: Sequence[bool], scores: Sequence[float], positive_label: str = "1") -> go.Figure:
    """ROC curve: trace 0 the model (x = false positive rate, y = true positive rate, AUC in
    its name), trace 1 the chance diagonal. Needs both outcomes among ``is_positive``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if len(truth) != len(scores):
        raise ValueError(f"roc_curve_chart needs one score per row; found {len(truth)} rows and {len(scores)} scores.")
    if truth.all() or not truth.any():
        raise ValueError("A ROC curve needs test rows of both classes; found only one.")
    fpr, tpr, thresholds = roc_curve(truth, scores)
    auc = float(roc_auc_score(truth, scores))
    fig = go.Figure()
    fig.add_trace(model_curve(fpr, tpr, f"Model (AUC {auc:.3f})",
                              "threshold %{customdata:.2f}: FPR %{x:.1%}, TPR %{y:.1%}<extra></extra>",
                              customdata=np.clip(thresholds, 0, 1)))
    fig.add_trace(diagonal("Chance"))
    fig.update_layout(
        title=f"ROC curve (positive class: {positive_label})",
        xaxis={"title": "False positive rate", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"title": "True positive rate", "tickformat": ".0%", "range": [0, 1.02]},
        legend={"x": 0.55, "y": 0.05},
        height=380,
        margin={"t": 50, "b": 40},
    )
    return fig


def predicted_vs_actual_chart(actual: Sequence[float], predicted: Sequence[float], seed: int = 0) -> go.Figure:
    """Scatter of predicted (y) against actual (x) values, trace 1 the y = x line.

    More than ``MAX_SCATTER_POINTS`` rows are sampled (fixed ``seed``) to keep the page light.
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if len(actual) != len(predicted):
        raise ValueError(f"predicted_vs_actual_chart needs equal lengths; found {len(actual)} and {len(predicted)}.")
    if len(actual) > MAX_SCATTER_POINTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(actual), MAX_SCATTER_POINTS, replace=False))
        actual, predicted = actual[pick], predicted[pick]
    both = np.concatenate([actual, predicted]) if len(actual) else np.array([0.0, 1.0])
    lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=actual,
            y=predicted,
            mode="markers",
            name="Test rows",
            marker={"color": MODEL_COLOR, "opacity": 0.6, "size": 6},
            hovertemplate="actual %{x:.4g}, predicted %{y:.4g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="Perfect", line={"color": BASELINE_COLOR, "dash": "dash"})
    )
    fig.update_layout(
        title="Predicted vs actual (test rows)", xaxis_title="Actual", yaxis_title="Predicted", height=400
    )
    return fig


def mistakes_frame(test_predictions: pd.DataFrame, task: str, limit: int | None = 200) -> pd.DataFrame:
    """The test rows the model got wrong, worst first.

    Classification: rows whose predicted label differs from the true label, most confident
    mistakes first (columns: row, text, true_label, predicted_label, confidence).
    Regression: every row, largest absolute error first (row, text, true_value,
    predicted_value, error). ``limit`` caps the rows returned (None: all).
    """
    df = test_predictions
    if task == "classification":
        needed = ["text", "true_label", "predicted_label"]
        missing = [c for c in needed if c not in df]
        if missing:
            raise ValueError(f"mistakes_frame needs column(s) {missing}; found {list(df.columns)}")
        wrong = df[df["true_label"].astype(str).str.strip() != df["predicted_label"].astype(str).str.strip()]
        columns = [c for c in ("row", "text", "true_label", "predicted_label", "confidence") if c in df]
        out = wrong[columns].copy()
        if "confidence" in out:
            out = out.sort_values("confidence", ascending=False, kind="stable")
    else:
        needed = ["text", "true_value", "predicted_value"]
        missing = [c for c in needed if c not in df]
        if missing:
            raise ValueError(f"mistakes_frame needs column(s) {missing}; found {list(df.columns)}")
        columns = [c for c in ("row", "text", "true_value", "predicted_value") if c in df]
        out = df[columns].copy()
        out["error"] = pd.to_numeric(out["predicted_value"], errors="coerce") - pd.to_numeric(
            out["true_value"], errors="coerce"
        )
        out = out.iloc[np.argsort(-out["error"].abs().to_numpy(), kind="stable")]
    out = out.reset_index(drop=True)
    return out if limit is None else out.head(limit)


def model_comparison_frame(models: Sequence[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]) -> pd.DataFrame:
    """Side-by-side table: one column per model, one row per metric or setting.

    ``models`` holds (name, task, metrics, training_config) tuples. Rows: test metrics of the
    model, the TF-IDF baseline's headline metric, data sizes and the main settings. Values
    are strings so that mixed rows display cleanly; missing values are "".
    """
    rows: dict[str, dict[str, str]] = {}

    def put(row: str, name: str, value: Any, pattern: str = "{}") -> None:
        number = _finite(value)
        if number is not None:
            text = pattern.format(number)
        elif value is None or isinstance(value, (int, float)):
            text = ""
        else:
            text = str(value)
        rows.setdefault(row, {})[name] = text

    for name, task, metrics, config in models:
        model = metrics.get("model") or {}
        base = metrics.get("baselines") or {}
        put("task", name, task)
        if task == "classification":
            put("accuracy", name, model.get("accuracy"), "{:.3f}")
            put("macro-F1", name, model.get("macro_f1"), "{:.3f}")
            put("ROC-AUC", name, model.get("roc_auc"), "{:.3f}")
            put("TF-IDF baseline macro-F1", name, (base.get("tfidf_lr") or {}).get("macro_f1"), "{:.3f}")
            put("majority baseline macro-F1", name, (base.get("majority") or {}).get("macro_f1"), "{:.3f}")
        else:
            put("R²", name, model.get("r2"), "{:.3f}")
            put("MAE", name, model.get("mae"), "{:.4g}")
            put("Spearman", name, model.get("spearman"), "{:.3f}")
            put("TF-IDF baseline R²", name, (base.get("tfidf_ridge") or {}).get("r2"), "{:.3f}")
        n = model.get("n")  # cross-validated on few labels: every labelled row, scored out of fold, none held out
        put("test rows", name, f"{n:,} out of fold" if cross_validated_folds(metrics) and isinstance(n, int) else n, "{:.0f}")
        put("rows used", name, metrics.get("n_rows_used"), "{:.0f}")
        put("training seconds", name, metrics.get("train_seconds"), "{:.0f}")
        for key in (
            "base_model",
            "method",
            "epochs",
            "learning_rate",
            "batch_size",
            "max_length",
            "class_weighting",
            "seed",
        ):
            value = config.get(key)
            put(
                key.replace("_", " "),
                name,
                value if not isinstance(value, bool) else ("yes" if value else "no"),
                "{:.2g}" if key == "learning_rate" else "{:g}",
            )
    names = [m[0] for m in models]
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=names).fillna("")
