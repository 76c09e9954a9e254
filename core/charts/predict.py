"""Plotly figures for the Predict page: what was predicted, and how sure the model was.

Pure functions over counts that ``core.predict.prediction_overview`` computes chunk by chunk,
so a million predictions make a figure of a few kilobytes (no per-row data in the figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts.dashboard import label_colors
from core.dashboard import is_sentiment_like

__all__ = ["confidence_histogram", "prediction_distribution", "value_histogram"]

NO_PREDICTION = "(no prediction)"
_NO_PREDICTION_COLOR = "#bbbbbb"


def _colors(labels: Sequence[str]) -> dict[str, str]:
    """The Dashboard's colours: green/red/grey for sentiment labels, a palette otherwise."""
    return label_colors(list(labels), is_sentiment_like(labels))


def prediction_distribution(
    label_counts: Mapping[str, int], classes: Sequence[str] | None = None, n_rows: int | None = None
) -> go.Figure:
    """Bar chart of rows per predicted label, in ``classes`` order (others after, by count).

    The empty label (rows without a prediction) is shown last as "(no prediction)" when it
    has rows. Bar ``x`` holds the labels, ``y`` the row counts, ``customdata`` the shares 0..1
    of all the bars' rows. ``n_rows`` given (several tags per row: ``label_counts`` = rows given
    each tag, "" rows given none): shares are of ``n_rows`` rows, so a row with two tags counts in
    both bars and the shares add up to more than 100%; axis and title say so.
    """
    order = [str(c) for c in (classes or [])]
    extra = sorted((k for k in label_counts if k not in order and k != ""), key=lambda k: -label_counts[k])
    labels = [*order, *extra]
    counts = [int(label_counts.get(k, 0)) for k in labels]
    colors = [_colors(labels)[k] for k in labels]
    if label_counts.get("", 0):
        labels.append(NO_PREDICTION)
        counts.append(int(label_counts[""]))
        colors.append(_NO_PREDICTION_COLOR)
    total = (n_rows if n_rows is not None else sum(counts)) or 1
    shares = [c / total for c in counts]
    tags = n_rows is not None
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=counts,
            marker_color=colors,
            customdata=shares,
            text=[f"{s:.1%}" for s in shares],
            textposition="outside",
            hovertemplate=f"%{{x}}: %{{y:,}} rows (%{{customdata:.1%}}{' of rows' if tags else ''})<extra></extra>",
        )
    )
    fig.update_layout(
        title=(f"Rows given each tag (of {n_rows:,} rows; a row with several tags counts in each)" if tags
               else "Predicted labels"),
        xaxis_title="predicted tag" if tags else "predicted label",
        yaxis_title="rows given the tag" if tags else "rows",
        xaxis_type="category",  # labels like "0"/"1" must not become a numeric axis
        margin=dict(t=50, b=40, l=50, r=20),
        height=340,
    )
    return fig


def confidence_histogram(
    edges: np.ndarray, counts: Mapping[str, np.ndarray], classes: Sequence[str] | None = None,
    threshold: float | None = None,
) -> go.Figure:
    """Stacked histogram of confidence (0..1) per predicted label, from pre-binned counts.

    ``edges`` has shape (bins + 1,), each ``counts[label]`` shape (bins,). One bar trace per
    label: ``x`` the bin centres, ``y`` the counts. ``threshold`` draws the review cut-off.
    """
    edges = np.asarray(edges, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    order = [str(c) for c in (classes or []) if str(c) in counts]
    order += [k for k in counts if k not in order]
    colors = _colors([str(c) for c in (classes or order)])
    fig = go.Figure()
    for label in order:
        values = np.asarray(counts[label], dtype=int)
        if len(values) != len(centres):
            raise ValueError(f"counts for {label!r} have {len(values)} bins; edges give {len(centres)}.")
        fig.add_bar(
            x=centres,
            y=values,
            width=width,
            name=label,
            marker_color=colors.get(label),
            customdata=np.stack([edges[:-1], edges[1:]], axis=1),
            hovertemplate=f"{label}: %{{y:,}} rows with confidence %{{customdata[0]:.2f}}-%{{customdata[1]:.2f}}<extra></extra>",
        )
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#444", annotation_text="review below",
                      annotation_position="bottom left")
    fig.update_layout(
        title="How sure the model is",
        barmode="stack",
        bargap=0.02,
        xaxis=dict(title="confidence (probability of the predicted label)", range=[0, 1]),
        yaxis_title="rows",
        legend_title_text="predicted",
        margin=dict(t=50, b=40, l=50, r=20),
        height=340,
    )
    return fig


def value_histogram(edges: np.ndarray, counts: np.ndarray, title: str = "Predicted values") -> go.Figure:
    """Histogram of a regression model's predicted values from pre-binned counts."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=int)
    if len(counts) != len(edges) - 1:
        raise ValueError(f"{len(counts)} counts need {len(counts) + 1} edges; found {len(edges)}.")
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    fig = go.Figure(go.Bar(x=centres, y=counts, width=width, hovertemplate="%{x:.3g}: %{y:,} rows<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted value", yaxis_title="rows", bargap=0.02,
                      margin=dict(t=50, b=40, l=50, r=20), height=340)
    return fig
