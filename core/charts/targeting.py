"""Plotly figures for customer targeting: gains, lift, reliability and profit.

Pure functions: a DataFrame from ``core.targeting`` in, a ``go.Figure`` out. Axes that hold
shares (0..1) are shown as percentages; the data stays in 0..1 so tests can read it back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import BASELINE_COLOR, MODEL_COLOR, diagonal, model_curve, require_columns

__all__ = ["gains_chart", "lift_chart", "profit_chart", "reliability_chart"]

HIGHLIGHT_COLOR = "#d62728"
CALIBRATED_COLOR = "#2ca02c"


def gains_chart(gains_df: pd.DataFrame, title: str = "Cumulative gains") -> go.Figure:
    """Share of responders reached (y) against share of customers contacted (x).

    ``gains_df`` is ``core.targeting.gains_curve`` output. Trace 0 is the model, trace 1 the
    random baseline (the diagonal).
    """
    require_columns(gains_df, ["share_contacted", "share_responders"], "gains_chart")
    x = gains_df["share_contacted"].to_numpy(dtype=float)
    fig = go.Figure()
    fig.add_trace(model_curve(x, gains_df["share_responders"].to_numpy(dtype=float), "Model",
                              "Contact %{x:.0%} → reach %{y:.0%} of responders<extra></extra>"))
    fig.add_trace(diagonal("Random"))
    fig.update_layout(
        title=title,
        xaxis={"title": "Customers contacted", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"title": "Responders reached", "tickformat": ".0%", "range": [0, 1.02]},
        legend={"x": 0.98, "y": 0.02, "xanchor": "right", "yanchor": "bottom"},
    )
    return fig


def lift_chart(lift_df: pd.DataFrame, title: str = "Lift by decile") -> go.Figure:
    """Bars of lift per score group (1 = best customers), with the cumulative lift as a line
    and a dashed line at 1.0 (random).

    ``lift_df`` is ``core.targeting.lift_by_decile`` output. Trace 0: bars of ``lift``;
    trace 1: ``cumulative_lift`` line (if present).
    """
    require_columns(lift_df, ["decile", "lift", "response_rate"], "lift_chart")
    deciles = lift_df["decile"].to_numpy()
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=deciles,
            y=lift_df["lift"].to_numpy(dtype=float),
            name="Lift",
            marker_color=MODEL_COLOR,
            customdata=lift_df["response_rate"].to_numpy(dtype=float),
            hovertemplate="Group %{x}: lift %{y:.2f}, response rate %{customdata:.1%}<extra></extra>",
        )
    )
    if "cumulative_lift" in lift_df.columns:
        fig.add_trace(
            go.Scatter(
                x=deciles,
                y=lift_df["cumulative_lift"].to_numpy(dtype=float),
                mode="lines+markers",
                name="Cumulative lift",
                line={"color": HIGHLIGHT_COLOR},
                hovertemplate="Groups 1–%{x}: lift %{y:.2f}<extra></extra>",
            )
        )
    fig.add_hline(
        y=1.0,
        line_dash="dash",
        line_color=BASELINE_COLOR,
        annotation_text="random",
        annotation_position="top right",
    )
    fig.update_layout(
        title=title,
        xaxis={
            "title": "Score group (1 = highest scores)",
            "tickmode": "array",
            "tickvals": deciles.tolist(),
        },
        yaxis={"title": "Lift (× random)", "rangemode": "tozero"},
    )
    return fig


def _reliability_trace(table: pd.DataFrame, name: str, color: str) -> go.Scatter:
    counts = table["count"].to_numpy(dtype=float) if "count" in table.columns else None
    marker: dict = {"color": color}
    if counts is not None and counts.size:
        # Marker area grows with the bin's size so that sparse bins look as shaky as they are.
        marker["size"] = (6 + 18 * np.sqrt(counts / counts.max())).tolist()
    return go.Scatter(
        x=table["mean_predicted"].to_numpy(dtype=float),
        y=table["observed_rate"].to_numpy(dtype=float),
        mode="lines+markers",
        name=name,
        marker=marker,
        line={"color": color},
        customdata=counts,
        hovertemplate="Predicted %{x:.1%}, observed %{y:.1%}"
        + (" (%{customdata:.0f} customers)" if counts is not None else "")
        + "<extra></extra>",
    )


def reliability_chart(
    table: pd.DataFrame,
    *,
    name: str = "Model",
    compare: pd.DataFrame | None = None,
    compare_name: str = "Calibrated",
    title: str = "Reliability: predicted vs observed",
) -> go.Figure:
    """Observed response rate (y) against mean predicted probability (x) per bin.

    ``table`` is ``core.calibration.reliability_table`` output. Trace 0 is ``table``; if
    ``compare`` is given (e.g. after calibration) it is trace 1; the last trace is the
    diagonal of perfect calibration. Marker size grows with the bin count.
    """
    cols = ["mean_predicted", "observed_rate"]
    require_columns(table, cols, "reliability_chart")
    fig = go.Figure()
    fig.add_trace(_reliability_trace(table, name, MODEL_COLOR))
    if compare is not None:
        require_columns(compare, cols, "reliability_chart (compare)")
        fig.add_trace(_reliability_trace(compare, compare_name, CALIBRATED_COLOR))
    fig.add_trace(diagonal("Perfect calibration"))
    fig.update_layout(
        title=title,
        xaxis={"title": "Predicted probability", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"title": "Observed response rate", "tickformat": ".0%", "range": [0, 1]},
    )
    return fig


def profit_chart(
    profit_df: pd.DataFrame,
    best_k: int | None = None,
    *,
    currency: str = "",
    title: str = "Expected profit by number of contacts",
) -> go.Figure:
    """Expected profit (y) against number of customers contacted (x), best cut-off marked.

    ``profit_df`` is ``core.targeting.profit_curve`` output; ``best_k`` usually
    ``core.targeting.best_cutoff(...)``. Trace 0 is the profit line; trace 1 (if ``best_k`` is
    given) a single marker at ``(best_k, profit at best_k)``.
    """
    require_columns(profit_df, ["k", "expected_profit"], "profit_chart")
    k = profit_df["k"].to_numpy()
    profit = profit_df["expected_profit"].to_numpy(dtype=float)
    fig = go.Figure()
    fig.add_trace(model_curve(k, profit, "Expected profit", f"%{{x}} contacts: {currency}%{{y:,.2f}}<extra></extra>"))
    if best_k is not None:
        hit = np.flatnonzero(k == best_k)
        if hit.size == 0:
            raise ValueError(f"best_k={best_k} is not a k in profit_df (0..{int(k.max())})")
        best_profit = float(profit[hit[0]])
        fig.add_trace(
            go.Scatter(
                x=[best_k],
                y=[best_profit],
                mode="markers",
                name=f"Best: {best_k} contacts",
                marker={"color": HIGHLIGHT_COLOR, "size": 12, "symbol": "star"},
                hovertemplate=f"Best: %{{x}} contacts, {currency}%{{y:,.2f}}<extra></extra>",
            )
        )
        fig.add_vline(x=best_k, line_dash="dot", line_color=HIGHLIGHT_COLOR)
    fig.add_hline(y=0.0, line_color=BASELINE_COLOR, line_width=1)
    fig.update_layout(
        title=title,
        xaxis={"title": "Customers contacted (best first)"},
        yaxis={"title": f"Expected profit {currency}".strip()},
    )
    return fig
