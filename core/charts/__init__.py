"""Plotly figure builders: pure functions, data in, go.Figure out; one module per area."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

BASELINE_COLOR = "#7f7f7f"  # what a model is measured against: chance, random, perfect calibration
MODEL_COLOR = "#1f77b4"  # the model's own marks


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


def model_curve(x: Any, y: Any, name: str, hovertemplate: str, **more: Any) -> go.Scatter:
    """The model's curve (gains, ROC, profit): a thick line in ``MODEL_COLOR``, called ``name`` in
    the legend; ``more`` are further ``go.Scatter`` properties (``customdata``)."""
    return go.Scatter(x=x, y=y, mode="lines", name=name, line={"color": MODEL_COLOR, "width": 3},
                      hovertemplate=hovertemplate, **more)
