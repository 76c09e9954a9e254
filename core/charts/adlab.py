"""Plotly figures for the Ad Copy Lab: variant scores, word attributions, targeting heatmap.

Pure functions: DataFrames from ``core.adlab`` in, a ``go.Figure`` out. Probabilities stay in
0..1 in the data (tests read them back) and are shown as percentages on the axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..adlab import UNKNOWN_VERDICTS, is_word
from . import require_columns

__all__ = ["attribution_bar_chart", "targeting_heatmap", "variants_bar_chart"]

BASE_COLOR = "#1f77b4"
BETTER_COLOR = "#2ca02c"
WORSE_COLOR = "#d62728"
UNCLEAR_COLOR = "#9e9e9e"
HIGHLIGHT_COLOR = "#111111"
ROW_PX = 34  # heatmap row height in pixels
VERDICT_COLORS = {
    "base": BASE_COLOR,
    "better": BETTER_COLOR,
    "worse": WORSE_COLOR,
    "no clear difference": UNCLEAR_COLOR,
    # the model's uncertainty is unknown (core.adlab.UNKNOWN_VERDICTS): grey, never called better or worse
    **dict.fromkeys(UNKNOWN_VERDICTS.values(), UNCLEAR_COLOR),
}


def _percent_format(values: np.ndarray, signed: bool = False) -> str:
    """A d3 percent format with enough decimals for the spread of ``values`` (0..1 data)."""
    spread = float(np.nanmax(np.abs(values))) if signed else float(np.ptp(values))
    decimals = 0 if spread >= 0.1 else 1 if spread >= 0.01 else 2
    return f"{'+' if signed else ''}.{decimals}%"


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def variants_bar_chart(
    scored: pd.DataFrame,
    margin: float | None = None,
    *,
    probability: bool = True,
    score_label: str = "Predicted P(success)",
    title: str = "Ad copy variants",
) -> go.Figure:
    """Horizontal bars of each variant's score, best at the top.

    ``scored`` is ``core.adlab.score_variants`` output. Trace 0 is the bars (y = variant names
    from best to worst, x = scores, colour by verdict: base blue, better green, worse red,
    no clear difference grey). When ``margin`` is given, a shaded band shows base score ±
    margin: bars ending inside it are within the model's uncertainty of the base.
    """
    require_columns(scored, ["variant", "text", "score", "delta", "verdict"], "variants_bar_chart")
    df = scored.sort_values("score", ascending=False, kind="stable")
    base = df.loc[df["verdict"] == "base", "score"]
    fmt = ".1%" if probability else ".4g"
    delta_fmt = ".1f} pts" if probability else ".4g}"
    fig = go.Figure(
        go.Bar(
            x=df["score"].to_numpy(dtype=float),
            y=df["variant"].astype(str).tolist(),
            orientation="h",
            marker_color=[VERDICT_COLORS.get(v, UNCLEAR_COLOR) for v in df["verdict"]],
            customdata=np.stack(
                [
                    df["text"].map(_short).to_numpy(),
                    df["verdict"].to_numpy(),
                    # change vs base: percentage points for probabilities
                    df["delta"].to_numpy(dtype=float) * (100 if probability else 1),
                ],
                axis=1,
            ),
            text=[format(v, fmt) for v in df["score"]],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:{fmt}}} (%{{customdata[1]}}, Δ %{{customdata[2]:+{delta_fmt})"
            "<br>%{customdata[0]}<extra></extra>",
            name="score",
        )
    )
    if margin is not None and len(base):
        b = float(base.iloc[0])
        fig.add_vrect(
            x0=b - margin,
            x1=b + margin,
            fillcolor=UNCLEAR_COLOR,
            opacity=0.2,
            line_width=0,
            annotation_text="base ± model uncertainty",
            annotation_position="top left",
        )
    fig.update_layout(
        title=title,
        xaxis={"title": score_label, "tickformat": ".0%" if probability else None},
        yaxis={"autorange": "reversed", "title": None},
        height=max(260, 60 + 28 * len(df)),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        showlegend=False,
    )
    return fig


def attribution_bar_chart(
    explanation: pd.DataFrame, top: int = 10, *, probability: bool = True
) -> go.Figure:
    """The ``top`` words with the largest |attribution|, largest at the top; green pushes the
    score up, red down. ``explanation`` is ``core.adlab.explain`` output. Trace 0: bars with
    y = "word" labels (a repeated word gets its occurrence: "the #2"), x = attribution."""
    require_columns(explanation, ["word", "start", "attribution"], "attribution_bar_chart")
    # Punctuation and symbol runs are not words (core.adlab.is_word): not listed here.
    words = explanation[explanation["word"].map(is_word)] if len(explanation) else explanation
    df = words.assign(_abs=words["attribution"].abs())
    df = df.sort_values("_abs", ascending=False, kind="stable").head(top)
    # A word that occurs more than once is labelled by its occurrence: "the #2".
    occurrence = words.groupby("word").cumcount() + 1
    counts = words["word"].value_counts()
    labels = [
        w if counts[w] == 1 else f"{w} #{occurrence[i]}" for i, w in zip(df.index, df["word"])
    ]
    values = df["attribution"].to_numpy(dtype=float)
    # A change of a probability is in percentage points: x is in points, not in "%".
    x = values * 100 if probability else values
    fig = go.Figure(
        go.Bar(
            x=x,
            y=labels,
            orientation="h",
            marker_color=[BETTER_COLOR if v > 0 else WORSE_COLOR for v in values],
            hovertemplate="%{y}: %{x:+" + (".2f} pts" if probability else ".4g}") + "<extra></extra>",
        )
    )
    fig.update_layout(
        title="Words that move the score most",
        xaxis={
            "title": "Score with the word − score without it" + (" (percentage points)" if probability else ""),
            "ticksuffix": " pts" if probability else None,
        },
        yaxis={"autorange": "reversed"},
        height=max(220, 60 + 24 * len(df)),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def targeting_heatmap(
    matrix: pd.DataFrame,
    best: pd.DataFrame | None = None,
    *,
    probability: bool = True,
    score_label: str = "P(success)",
    title: str = "Predicted response: audience segment × ad",
) -> go.Figure:
    """Heatmap of ``core.adlab.targeting_matrix`` output (rows segments, columns ads).

    Trace 0 is the heatmap (z = matrix values, x = ad names, y = segment labels). When
    ``best`` (``best_ad_per_segment`` output) is given, trace 1 marks each segment's best ad
    with an open square (x = best ad, y = segment).
    """
    if not isinstance(matrix, pd.DataFrame) or matrix.empty:
        raise ValueError("targeting_heatmap needs a non-empty segment × ad matrix.")
    z = matrix.to_numpy(dtype=float)
    x = [str(c) for c in matrix.columns]
    y = [str(i) for i in matrix.index]
    fmt = ".1%" if probability else ".3g"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            colorscale="Blues",
            colorbar={
                "title": score_label,
                "tickformat": _percent_format(z) if probability else None,
            },
            text=[[format(v, fmt) for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}: %{z:" + fmt + "}<extra></extra>",
        )
    )
    if best is not None:
        require_columns(best, ["segment", "best_ad"], "targeting_heatmap")
        fig.add_trace(
            go.Scatter(
                x=best["best_ad"].astype(str).tolist(),
                y=best["segment"].astype(str).tolist(),
                mode="markers",
                marker={
                    "symbol": "square-open",
                    "size": ROW_PX - 8,  # inside its cell, so neighbouring marks do not touch
                    "color": HIGHLIGHT_COLOR,
                    "line": {"width": 2.5, "color": HIGHLIGHT_COLOR},
                },
                name="best ad for the segment",
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=title,
        xaxis={"title": "Ad", "side": "top", "type": "category"},
        yaxis={"title": None, "autorange": "reversed", "type": "category"},
        height=max(300, 110 + ROW_PX * len(y)),
        margin={"l": 10, "r": 10, "t": 80, "b": 20},
        showlegend=best is not None,
        legend={"orientation": "h", "y": -0.05},
    )
    return fig
