"""The Dashboard's tag view of a prediction file with several tags per row (``predicted_labels``:
tags joined by "|", as core.predict writes them): rows per tag, tags that occur together, and the
main charts' numbers counted per tag (a row with two tags counts for both; core.dashboard_view
uses them). Pure pandas/plotly; the page draws what these return."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .multilabel import OUTPUT_SEP

NO_TAG = "(no tag)"  # rows where no tag passed its threshold


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


def tag_counts_chart(table: pd.DataFrame) -> go.Figure:
    """Bar chart of :func:`tag_table` (x tag, y rows, customdata share)."""
    fig = go.Figure(go.Bar(x=table["tag"], y=table["rows"], customdata=table["share"],
                           hovertemplate="%{x}: %{y:,} rows (%{customdata:.1%})<extra></extra>"))
    return fig.update_layout(title="Rows per tag", xaxis_title="tag", yaxis_title="rows", height=360)


def cooccurrence_chart(matrix: pd.DataFrame) -> go.Figure:
    """Heatmap of :func:`cooccurrence` (z: rows carrying both tags, written in each cell). The
    diagonal (each tag's own rows, the bar chart beside it) is left blank: it is many times any
    pair and would take the whole colour scale, leaving the pairs pale."""
    z = matrix.to_numpy(dtype=float).copy()
    np.fill_diagonal(z, np.nan)
    fig = go.Figure(go.Heatmap(z=z, x=list(matrix.columns), y=list(matrix.index), colorscale="Blues",
                               texttemplate="%{z:,}", hoverongaps=False,
                               hovertemplate="%{y} and %{x}: %{z:,} rows<extra></extra>"))
    return fig.update_layout(title="Tags that occur together (rows with both; a tag with itself left out)",
                             height=360 + 10 * len(matrix))


# --------------------------------------------------------------------------------------------
# The Dashboard's main charts with several tags per row: each tag counted in every row that
# carries it (a row with two tags counts in both), shares of rows (they add up to more than 1),
# in the tidy shapes core.dashboard's one-label functions return, so the same charts draw them.
# --------------------------------------------------------------------------------------------


def tag_filter_mask(Y: pd.DataFrame, chosen: Sequence[str]) -> np.ndarray | None:
    """Rows carrying any of the ``chosen`` tags (:data:`NO_TAG`: rows without any); None when
    nothing is chosen. ``Y``: :func:`tag_matrix` of the whole table."""
    if not chosen:
        return None
    picked = [t for t in chosen if t in Y.columns]
    found = Y[picked].any(axis=1).to_numpy() if picked else np.zeros(len(Y), dtype=bool)
    if NO_TAG in chosen:
        found = found | ~Y.any(axis=1).to_numpy()
    return found


def tag_kpis(Y: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``label_counts`` (rows carrying each tag, most frequent first, then :data:`NO_TAG` when some
    rows have none) and ``label_shares`` (those counts / all rows): core.dashboard.kpis' keys."""
    counts = Y.sum(axis=0).astype(int).sort_values(ascending=False, kind="stable")
    found = {str(t): int(c) for t, c in counts.items() if c > 0}
    none = int((~Y.any(axis=1)).sum()) if len(Y.columns) else len(Y)
    found.update({NO_TAG: none} if none else {})
    return {"label_counts": found, "label_shares": {t: c / len(Y) if len(Y) else 0.0 for t, c in found.items()}}


def tag_share_tidy(Y: pd.DataFrame, dates: pd.Series, period: str) -> pd.DataFrame:
    """Each tag's share of the period's rows, in core.dashboard.label_share_over_time's tidy shape
    (``period``, ``label`` (the tag), ``count`` (rows carrying it), ``total`` (rows in the period),
    ``share``; every period from the first date to the last; ``attrs["n_without_date"]``)."""
    from .dashboard import period_codes

    codes, starts = period_codes(dates, period)
    dated = codes >= 0
    totals = np.bincount(codes[dated], minlength=len(starts))
    counts = np.stack([np.bincount(codes[dated], weights=Y[t].to_numpy()[dated].astype(float), minlength=len(starts))
                       for t in Y.columns], axis=1) if len(Y.columns) else np.zeros((len(starts), 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / np.where(totals > 0, totals, np.nan)[:, None]
    n_p, n_t = counts.shape
    out = pd.DataFrame({"period": np.repeat(starts.to_numpy(), n_t), "label": np.tile(np.array(Y.columns, dtype=object), n_p),
                        "count": counts.astype(int).ravel(), "total": np.repeat(totals, n_t), "share": share.ravel()})
    out.attrs.update(n_without_date=int((~dated).sum()), period=period)
    return out


def tag_mix_tidy(Y: pd.DataFrame, segments: pd.Series, max_segments: int = 30) -> pd.DataFrame:
    """Each tag's share of each segment's rows, in core.dashboard.label_mix_by_segment's tidy shape
    (``segment``, ``label`` (the tag), ``count``, ``segment_total`` (rows in the segment), ``share``),
    the largest ``max_segments`` segments by rows (missing values as "(missing)")."""
    from .dashboard import MISSING, display_value

    names = segments.map(lambda v: MISSING if pd.isna(v) else display_value(v)).astype(str)
    totals = names.value_counts().head(max_segments)
    counts = Y.astype(int).groupby(names.to_numpy()).sum().reindex(totals.index)
    rows = [{"segment": s, "label": t, "count": int(counts.at[s, t]), "segment_total": int(totals[s]),
             "share": counts.at[s, t] / totals[s]} for s in totals.index for t in Y.columns]
    return pd.DataFrame(rows, columns=["segment", "label", "count", "segment_total", "share"])


def tag_examples(frame: pd.DataFrame, Y: pd.DataFrame, text_col: str, n: int, columns: Sequence[str],
                 mask: np.ndarray | None) -> dict[str, pd.DataFrame]:
    """The ``n`` rows of each tag (most frequent tags first) its ``p_<tag>`` column rates highest
    (table order without one), as core.dashboard.top_examples gives them per label."""
    from .dashboard import top_examples

    inside = np.ones(len(frame), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out: dict[str, pd.DataFrame] = {}
    for tag in Y.loc[inside].sum().sort_values(ascending=False, kind="stable").index:
        rows = inside & Y[tag].to_numpy()
        if not rows.any():
            continue
        rank = f"p_{tag}" if f"p_{tag}" in frame.columns else None
        part = frame[[text_col, *columns, *([rank] if rank else [])]].assign(_tag=tag, _rank=frame[rank] if rank else 0.0)
        found = top_examples(part, "_tag", "_rank", text_col, n=n, columns=list(columns), mask=rows).get(tag)
        if found is not None:  # None: no row of the tag has a p_<tag> value
            out[str(tag)] = found.drop(columns="_rank")
    return out


def tag_sample(Y: pd.DataFrame, positions: np.ndarray, max_texts: int, seed: int) -> np.ndarray:
    """Sorted row positions (each once) for distinctive words per tag: of the rows at ``positions``,
    up to ``max_texts`` carrying each tag and up to ``max_texts`` carrying none (a uniform random
    sample where there are more), so a rare tag keeps all its rows."""
    rng = np.random.default_rng(seed)
    carried = Y.to_numpy(dtype=bool)[positions]
    strata = [carried[:, j] for j in range(carried.shape[1])] + [~carried.any(axis=1)]
    take = [np.asarray(positions[:0], dtype=int)]
    for inside in strata:
        idx = positions[inside]
        take.append(idx if len(idx) <= max_texts else rng.choice(idx, max_texts, replace=False))
    return np.unique(np.concatenate(take)).astype(int)
