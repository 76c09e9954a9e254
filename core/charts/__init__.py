"""Plotly figure builders: pure functions, data in, go.Figure out; one module per area."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

BASELINE_COLOR = "#7f7f7f"  # what a model is measured against: chance, random, perfect calibration


def require_columns(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    """A chart's input check: ``TypeError`` when ``df`` is not a DataFrame, ``ValueError`` naming
    the columns ``what`` (the chart, in words) needs and those found."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame; found {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {missing}; found {list(df.columns)}")


def diagonal(name: str) -> go.Scatter:
    """The dashed grey line from (0, 0) to (1, 1) that a curve is read against, called ``name``
    in the legend ("Chance" for ROC, "Random" for gains, "Perfect calibration")."""
    return go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", name=name,
                      line={"color": BASELINE_COLOR, "dash": "dash"}, hoverinfo="skip")
