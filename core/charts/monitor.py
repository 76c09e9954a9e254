"""The drift chart of the Models page: a model's scoring history (core.monitor.report) over time, one
series per version (the kept versions' scorings marked by their name)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..monitor import CONFIDENCE_DROP_ALARM, OOD_ALARM, PSI_ALARM


def drift_chart(report: dict[str, Any]) -> go.Figure:
    """Three panels sharing the time axis, each with its alarm line: the share of rows unlike the
    training data, the PSI of the predicted-label mix, and the mean confidence (with the test
    split's). ``report``: :func:`core.monitor.report`'s dict, at least one line in its history or
    its ``earlier`` (the kept versions')."""
    ref = report["reference"]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Rows unlike the training data", "Label-mix shift (PSI)", "Mean confidence"))
    # One series per version: the kept versions' scorings (report["earlier"]) first, then the model in use.
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in report.get("earlier", []):
        groups.setdefault(str(line["version"]), []).append(line)
    in_use = f"{report.get('version') or 'v1'} (in use)"
    groups[in_use] = report["history"]
    palette = qualitative.Plotly
    for i, (name, lines) in enumerate(groups.items()):
        at = _utc([line["at"] for line in lines])
        color = palette[i % len(palette)]  # one colour per version, in all three panels
        for row, field in ((1, "share_unlike_training"), (2, "psi"), (3, "mean_confidence")):
            fig.add_trace(go.Scatter(x=at, y=[line.get(field) for line in lines], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=row == 1, line={"color": color},
                                     marker={"color": color}), row=row, col=1)
    for line in report["history"]:  # another model took over here (a candidate put in front, a rollback)
        if line.get("model_changed"):
            fig.add_vline(x=_utc([line["at"]])[0], line_dash="dot", line_color="gray")
    fig.add_hline(y=OOD_ALARM, line_dash="dash", line_color="firebrick", row=1, col=1)
    fig.add_hline(y=PSI_ALARM, line_dash="dash", line_color="firebrick", row=2, col=1)
    if ref.get("mean_confidence") is not None:
        fig.add_hline(y=ref["mean_confidence"], line_dash="dot", line_color="gray", row=3, col=1)
        fig.add_hline(y=ref["mean_confidence"] - CONFIDENCE_DROP_ALARM, line_dash="dash", line_color="firebrick",
                      row=3, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=3, col=1)
    fig.update_layout(height=560, showlegend=len(groups) > 1, margin={"t": 40, "b": 20})
    return fig


def _utc(stamps: list[str]) -> list[Any]:
    """History stamps ("2026-12-07T03:24:20+0000") as naive UTC datetimes: plotly.js reads no
    UTC offset in a date string, so an axis of such strings is drawn as categories, unevenly spaced."""
    return list(pd.to_datetime(stamps, utc=True).tz_convert(None).to_pydatetime())
