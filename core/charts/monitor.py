"""The drift chart of the Models page: one scoring history (core.monitor.report) over time."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..monitor import CONFIDENCE_DROP_ALARM, OOD_ALARM, PSI_ALARM


def drift_chart(report: dict[str, Any]) -> go.Figure:
    """Three panels sharing the time axis, each with its alarm line: the share of rows unlike the
    training data, the PSI of the predicted-label mix, and the mean confidence (with the test
    split's). ``report``: :func:`core.monitor.report`'s dict, at least one history line."""
    lines, ref = report["history"], report["reference"]
    at = [line["at"] for line in lines]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Rows unlike the training data", "Label-mix shift (PSI)", "Mean confidence"))
    fig.add_trace(go.Scatter(x=at, y=[line.get("share_unlike_training") for line in lines], mode="lines+markers",
                             name="unlike training"), row=1, col=1)
    fig.add_hline(y=OOD_ALARM, line_dash="dash", line_color="firebrick", row=1, col=1)
    fig.add_trace(go.Scatter(x=at, y=[line.get("psi") for line in lines], mode="lines+markers", name="PSI"), row=2, col=1)
    fig.add_hline(y=PSI_ALARM, line_dash="dash", line_color="firebrick", row=2, col=1)
    fig.add_trace(go.Scatter(x=at, y=[line.get("mean_confidence") for line in lines], mode="lines+markers",
                             name="mean confidence"), row=3, col=1)
    if ref.get("mean_confidence") is not None:
        fig.add_hline(y=ref["mean_confidence"], line_dash="dot", line_color="gray", row=3, col=1)
        fig.add_hline(y=ref["mean_confidence"] - CONFIDENCE_DROP_ALARM, line_dash="dash", line_color="firebrick",
                      row=3, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=3, col=1)
    fig.update_layout(height=560, showlegend=False, margin={"t": 40, "b": 20})
    return fig
