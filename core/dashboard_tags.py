"""The Dashboard's tag view of a prediction file with several tags per row (``predicted_labels``:
tags joined by "|", as core.predict writes them): rows per tag, tags that occur together, and each
tag's share of rows over time. Pure pandas/plotly; the page draws what these return."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .multilabel import OUTPUT_SEP, PREDICTED_LABELS

NO_TAG = "(no tag)"  # rows where no tag passed its threshold
PERIOD_FREQ = {"D": "D", "W": "W-MON", "M": "MS"}  # the Dashboard's periods as pandas frequencies


def has_tags(columns: Sequence[str]) -> bool:
    """Whether a prediction table holds several tags per row (its ``predicted_labels`` column)."""
    return PREDICTED_LABELS in {str(c) for c in columns}


def tag_matrix(labels: pd.Series, tags: Sequence[str] | None = None) -> pd.DataFrame:
    """Indicator frame (rows of ``labels``, one bool column per tag; ``tags`` order, else by
    frequency) of "|"-joined tag cells; an empty or missing cell carries no tag."""
    cells = labels.fillna("").astype(str)
    exploded = cells.str.split(OUTPUT_SEP, regex=False).explode().str.strip()
    exploded = exploded[exploded != ""]
    found = pd.crosstab(exploded.index, exploded).reindex(labels.index, fill_value=0) > 0 if len(exploded) else \
        pd.DataFrame(index=labels.index)
    order = list(tags) if tags is not None else list(exploded.value_counts().index)
    return found.reindex(columns=order, fill_value=False).astype(bool).rename_axis(index=None, columns=None)


def tag_table(labels: pd.Series) -> pd.DataFrame:
    """Rows per tag (``tag``, ``rows``, ``share`` of all rows 0-1), most frequent first, then
    :data:`NO_TAG` for rows without any tag (when there are some)."""
    Y = tag_matrix(labels)
    n = max(1, len(labels))
    table = pd.DataFrame({"tag": list(Y.columns), "rows": Y.sum(axis=0).astype(int).to_numpy()})
    none = int((~Y.any(axis=1)).sum()) if len(Y.columns) else len(labels)
    if none:
        table = pd.concat([table, pd.DataFrame({"tag": [NO_TAG], "rows": [none]})], ignore_index=True)
    return table.assign(share=table["rows"] / n)


def cooccurrence(labels: pd.Series) -> pd.DataFrame:
    """Rows carrying both tags (k x k, tags by frequency): the diagonal is each tag's own count."""
    Y = tag_matrix(labels).astype(int)
    return pd.DataFrame(Y.T.to_numpy() @ Y.to_numpy(), index=Y.columns, columns=Y.columns)


def tag_share_over_time(labels: pd.Series, dates: pd.Series, period: str) -> pd.DataFrame:
    """Share of rows carrying each tag per period (index: period start; columns: tags), rows
    without a date left out. ``period``: "D", "W" (weeks from Monday) or "M"."""
    if period not in PERIOD_FREQ:
        raise ValueError(f"period must be one of {tuple(PERIOD_FREQ)}; got {period!r}.")
    dated = pd.to_datetime(dates, errors="coerce").notna()
    Y = tag_matrix(labels[dated])
    when = pd.to_datetime(dates[dated]).dt.to_period(PERIOD_FREQ[period][0]).dt.start_time
    return Y.groupby(when.to_numpy()).mean().sort_index() if len(Y) else pd.DataFrame(columns=Y.columns)


def tag_counts_chart(table: pd.DataFrame) -> go.Figure:
    """Bar chart of :func:`tag_table` (x tag, y rows, customdata share)."""
    fig = go.Figure(go.Bar(x=table["tag"], y=table["rows"], customdata=table["share"],
                           hovertemplate="%{x}: %{y:,} rows (%{customdata:.1%})<extra></extra>"))
    return fig.update_layout(title="Rows per tag", xaxis_title="tag", yaxis_title="rows", height=360)


def cooccurrence_chart(matrix: pd.DataFrame) -> go.Figure:
    """Heatmap of :func:`cooccurrence` (z: rows carrying both tags)."""
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), colorscale="Blues",
                               hovertemplate="%{y} and %{x}: %{z:,} rows<extra></extra>"))
    return fig.update_layout(title="Tags that occur together", height=360 + 10 * len(matrix))


def tag_share_chart(share: pd.DataFrame) -> go.Figure:
    """One line per tag of :func:`tag_share_over_time` (y: share of rows 0-1)."""
    fig = go.Figure([go.Scatter(x=share.index, y=np.asarray(share[tag], dtype=float), name=str(tag), mode="lines+markers")
                     for tag in share.columns])
    return fig.update_layout(title="Share of rows per tag over time", yaxis_tickformat=".0%", height=380)
