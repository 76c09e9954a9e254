"""Plotly figure builders: pure functions, data in, go.Figure out; one module per area."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    """A chart's input check: ``TypeError`` when ``df`` is not a DataFrame, ``ValueError`` naming
    the columns ``what`` (the chart, in words) needs and those found."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame; found {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {missing}; found {list(df.columns)}")
