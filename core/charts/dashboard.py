"""Plotly figures for the sentiment / label dashboard, and a one-page HTML report.

Pure functions: tables from ``core.dashboard`` in, ``go.Figure`` (or an HTML string) out.
Shares stay fractions in 0..1 in the figure data (axes show percentages) so tests can read
them back; net sentiment stays in -1..1.

Figures never embed per-row data: the confidence histogram is binned with numpy first, so a
million predictions make a figure of a few kilobytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..columns import NEUTRAL_SENTIMENT
from . import require_columns

__all__ = [
    "confidence_histogram",
    "distinctive_words_chart",
    "figure_to_html",
    "label_colors",
    "label_share_chart",
    "net_sentiment_heatmap_chart",
    "segment_mix_chart",
    "summary_report_html",
]

POSITIVE_COLOR = "#2ca02c"
NEGATIVE_COLOR = "#d62728"
NEUTRAL_COLOR = "#7f7f7f"


def label_colors(
    labels: Sequence[Any], sentiment: tuple[Any, Any] | None = None
) -> dict[Any, str]:
    """A stable colour per label: green/red/grey for positive/negative/neutral when
    ``sentiment=(positive, negative)`` is given, plotly's qualitative palette otherwise."""
    palette = [c for c in qualitative.Plotly if c not in (POSITIVE_COLOR, NEGATIVE_COLOR)]
    out: dict[Any, str] = {}
    k = 0
    for lab in labels:
        if sentiment is not None and lab == sentiment[0]:
            out[lab] = POSITIVE_COLOR
        elif sentiment is not None and lab == sentiment[1]:
            out[lab] = NEGATIVE_COLOR
        elif sentiment is not None and str(lab).strip().lower() in NEUTRAL_SENTIMENT:
            out[lab] = NEUTRAL_COLOR
        else:
            out[lab] = palette[k % len(palette)]
            k += 1
    return out


def _ordered_labels(labels: Iterable[Any], label_order: Sequence[Any] | None) -> list[Any]:
    seen = list(dict.fromkeys(labels))
    if label_order is None:
        return seen
    first = [lab for lab in label_order if lab in seen]
    return first + [lab for lab in seen if lab not in first]


def label_share_chart(
    share_df: pd.DataFrame,
    label_order: Sequence[Any] | None = None,
    colors: Mapping[Any, str] | None = None,
    title: str = "Share of each label over time",
) -> go.Figure:
    """One line per label: its share of the period's rows (y, 0..1) per period start (x).

    ``share_df`` is ``core.dashboard.label_share_over_time`` output. Periods without rows have
    a NaN share and show as a gap, not as zero. Hover shows the count and the period's total.
    """
    require_columns(share_df, ["period", "label", "count", "total", "share"], "label_share_chart")
    labels = _ordered_labels(share_df["label"], label_order)
    colors = dict(colors or label_colors(labels))
    fig = go.Figure()
    for lab in labels:
        part = share_df[share_df["label"] == lab]
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["share"].to_numpy(dtype=float),
                customdata=np.column_stack(
                    [part["count"].to_numpy(), part["total"].to_numpy()]
                ),
                mode="lines+markers",
                name=str(lab),
                line={"color": colors.get(lab)},
                hovertemplate=_named_hover("%{x|%Y-%m-%d}: %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})", lab),
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="Period start",
        yaxis={"title": "Share of rows", "tickformat": ".0%", "rangemode": "tozero"},
        hovermode="x unified",
        legend_title_text="Label",
    )
    return fig


def segment_mix_chart(
    mix_df: pd.DataFrame,
    label_order: Sequence[Any] | None = None,
    colors: Mapping[Any, str] | None = None,
    title: str = "Label mix by segment",
    stacked: bool = True,
) -> go.Figure:
    """Horizontal 100% stacked bars: one bar per segment, one trace per label (x = share).
    ``stacked=False``: bars side by side (several tags per row: the shares of rows carrying each
    tag add up to more than 100%, so stacking would mislead).

    ``mix_df`` is ``core.dashboard.label_mix_by_segment`` output; its segment order is kept,
    first segment on top. Hover shows the count and segment size.
    """
    require_columns(mix_df, ["segment", "label", "count", "segment_total", "share"],
             "segment_mix_chart")
    labels = _ordered_labels(mix_df["label"], label_order)
    segments = list(dict.fromkeys(mix_df["segment"]))
    colors = dict(colors or label_colors(labels))
    fig = go.Figure()
    for lab in labels:
        part = mix_df[mix_df["label"] == lab].set_index("segment").reindex(segments)
        fig.add_trace(
            go.Bar(
                y=segments,
                x=part["share"].to_numpy(dtype=float),
                customdata=np.column_stack(
                    [part["count"].to_numpy(), part["segment_total"].to_numpy()]
                ),
                orientation="h",
                name=str(lab),
                marker_color=colors.get(lab),
                hovertemplate=_named_hover("%{y}: %{x:.1%} (%{customdata[0]:,} of %{customdata[1]:,})", lab),
            )
        )
    fig.update_layout(
        title=title,
        barmode="stack" if stacked else "group",
        xaxis={"title": "Share of rows" if stacked else "Share of rows carrying each tag", "tickformat": ".0%",
               "range": [0, 1]},
        yaxis={"categoryorder": "array", "categoryarray": segments, "autorange": "reversed",
               "type": "category"},
        legend_title_text="Label" if stacked else "Tag",
        height=max(300, (28 if stacked else 12 * len(labels) + 16) * len(segments) + 140),
    )
    return fig


def net_sentiment_heatmap_chart(
    net_df: pd.DataFrame,
    counts_df: pd.DataFrame | None = None,
    title: str = "Net sentiment by segment and period",
) -> go.Figure:
    """Segment (y) x period (x) heatmap of net sentiment, red (-1) through green (+1).

    ``net_df`` (and optionally ``counts_df`` for the hover) come from
    ``core.dashboard.net_sentiment_heatmap(..., with_counts=True)``. NaN cells (too few rows)
    stay blank.
    """
    if not isinstance(net_df, pd.DataFrame):
        raise TypeError(f"net_sentiment_heatmap_chart needs a DataFrame; found {type(net_df)}")
    z = net_df.to_numpy(dtype=float)
    x = list(net_df.columns)
    y = [str(s) for s in net_df.index]
    kwargs: dict[str, Any] = {}
    if counts_df is not None:
        kwargs["customdata"] = counts_df.reindex(index=net_df.index, columns=net_df.columns
                                                 ).to_numpy()
        hover = "%{y}, %{x|%Y-%m-%d}: %{z:+.0%} net (%{customdata:,} rows)<extra></extra>"
    else:
        hover = "%{y}, %{x|%Y-%m-%d}: %{z:+.0%} net<extra></extra>"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdYlGn",
            colorbar={"title": "Net", "tickformat": "+.0%"},
            hovertemplate=hover,
            xgap=1,
            ygap=1,
            **kwargs,
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="Period start",
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(300, 26 * len(y) + 140),
    )
    return fig


def distinctive_words_chart(
    words: Mapping[Any, pd.DataFrame],
    colors: Mapping[Any, str] | None = None,
    max_labels: int = 6,
    columns: int = 3,
    title: str = "Most distinctive words per label",
) -> go.Figure:
    """One panel of horizontal bars per label: its top words (y) by z-score (x).

    ``words`` is ``core.dashboard.distinctive_words`` output (first ``max_labels`` labels, in
    its order). A label with no distinctive words gets an empty panel.
    """
    labels = list(words)[:max_labels]
    if not labels:
        fig = go.Figure()
        fig.update_layout(title=title, annotations=[{
            "text": "No texts to compare", "showarrow": False, "xref": "paper",
            "yref": "paper", "x": 0.5, "y": 0.5}])
        return fig
    colors = dict(colors or label_colors(labels))
    n_cols = max(1, min(columns, len(labels)))
    n_rows = math.ceil(len(labels) / n_cols)
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[str(lab) for lab in labels],
        horizontal_spacing=0.12,
    )
    longest = 1
    for i, lab in enumerate(labels):
        frame = words[lab]
        require_columns(frame, ["word", "z_score", "count"], "distinctive_words_chart")
        longest = max(longest, len(frame))
        r, c = divmod(i, n_cols)
        fig.add_trace(
            go.Bar(
                x=frame["z_score"].to_numpy(dtype=float),
                y=frame["word"].astype(str).tolist(),
                customdata=frame["count"].to_numpy(),
                orientation="h",
                name=str(lab),
                marker_color=colors.get(lab),
                showlegend=False,
                hovertemplate="%{y}: z = %{x:.1f}, %{customdata:,} times<extra></extra>",
            ),
            row=r + 1,
            col=c + 1,
        )
        fig.update_yaxes(autorange="reversed", type="category", row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="z-score", row=r + 1, col=c + 1)
    fig.update_layout(title=title, height=max(320, n_rows * (22 * longest + 110)))
    return fig


def confidence_histogram(
    confidence: pd.Series | np.ndarray,
    labels: pd.Series | np.ndarray | None = None,
    bins: int = 20,
    colors: Mapping[Any, str] | None = None,
    label_order: Sequence[Any] | None = None,
    title: str = "Model confidence",
) -> go.Figure:
    """Stacked histogram of confidence (0..1) in ``bins`` equal bins, one trace per label.

    Binned here with numpy (only counts enter the figure). x = bin centres, y = row counts;
    each trace's ``customdata`` holds the bin edges. NaN confidences are left out.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1; found {bins}")
    conf = np.asarray(confidence, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    edge_pairs = np.column_stack([edges[:-1], edges[1:]])
    ok = np.isfinite(conf)
    # Bin index by arithmetic (faster than np.histogram per label); 1.0 goes in the last bin.
    idx = np.clip((conf[ok] * bins).astype(np.int64), 0, bins - 1)
    fig = go.Figure()
    if labels is None:
        groups = [("All rows", np.bincount(idx, minlength=bins))]
        colors = dict(colors or {"All rows": qualitative.Plotly[0]})
    else:
        lab = labels if isinstance(labels, pd.Series) else pd.Series(labels)
        if len(lab) != len(conf):
            raise ValueError(f"labels ({len(lab)}) and confidence ({len(conf)}) differ in length")
        # factorize on the Series itself: categorical codes are reused, no object copy.
        codes, uniques = pd.factorize(lab[ok], sort=True)
        codes = np.asarray(codes)
        uniques = list(uniques)
        names = _ordered_labels(list(uniques), label_order)
        pos = {u: i for i, u in enumerate(uniques)}
        counts = np.bincount(codes[codes >= 0] * bins + idx[codes >= 0],
                             minlength=len(uniques) * bins).reshape(len(uniques), bins)
        groups = [(n, counts[pos[n]]) for n in names]
        colors = dict(colors or label_colors(names))
    for name, counts in groups:
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=1.0 / bins,
                customdata=edge_pairs,
                name=str(name),
                marker_color=colors.get(name),
                hovertemplate=_named_hover("%{customdata[0]:.2f}-%{customdata[1]:.2f}: %{y:,} rows", name),
            )
        )
    fig.update_layout(
        title=title,
        barmode="stack",
        bargap=0.02,
        xaxis={"title": "Confidence (highest class probability)", "range": [0, 1],
               "tickformat": ".0%"},
        yaxis_title="Rows",
        legend_title_text="Predicted label",
    )
    return fig


def figure_to_html(fig: go.Figure) -> str:
    """A standalone HTML page of one figure with plotly.js inlined (~4.5 MB; works offline)."""
    return fig.to_html(full_html=True, include_plotlyjs=True, config={"displaylogo": False})


def _named_hover(template: str, name: Any) -> str:
    """``template`` with the trace's ``name`` (HTML-escaped: a label may hold ``<``) in the hover's side box."""
    return template + "<extra>" + html.escape(str(name)) + "</extra>"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _kpi_cards(kpis: Mapping[str, Any]) -> list[tuple[str, str]]:
    cards = [("Rows", f"{int(kpis.get('volume', 0)):,}")]
    net = kpis.get("net_sentiment")
    if net is not None and not (isinstance(net, float) and math.isnan(net)):
        cards.append(("Net sentiment", f"{net * 100:+.1f} pts"))
    conf = kpis.get("avg_confidence")
    if conf is not None:
        cards.append(("Average confidence", _fmt_pct(conf)))
    counts = kpis.get("label_counts") or {}
    for lab, share in (kpis.get("label_shares") or {}).items():
        extra = f" ({counts[lab]:,})" if lab in counts else ""
        cards.append((f"Share “{lab}”", _fmt_pct(share) + extra))
    return cards


_REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.6em;margin:0 0 4px}
.notes{color:#555;margin:0 0 16px;padding-left:18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 24px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:140px}
.card .k{font-size:.85em;color:#555}.card .v{font-size:1.5em;font-weight:600}
.figure{margin:0 0 28px}
h2{font-size:1.15em;margin:0 0 6px}
"""


def summary_report_html(
    kpis: Mapping[str, Any],
    figures: Sequence[go.Figure] | Mapping[str, go.Figure],
    title: str = "Prediction dashboard",
    notes: Sequence[str] = (),
) -> str:
    """A one-page standalone HTML report: title, notes (e.g. the active filters), KPI cards
    from ``core.dashboard.kpis`` and the figures in order (a mapping adds a heading per
    figure). plotly.js is inlined once, before the first figure, so the file opens offline.
    All text coming from the data is HTML-escaped.
    """
    items = list(figures.items()) if isinstance(figures, Mapping) else [
        (None, f) for f in figures]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_REPORT_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if notes:
        parts.append('<ul class="notes">' + "".join(
            f"<li>{html.escape(str(n))}</li>" for n in notes) + "</ul>")
    parts.append('<div class="cards">')
    for key, value in _kpi_cards(kpis):
        parts.append(
            f'<div class="card"><div class="k">{html.escape(key)}</div>'
            f'<div class="v">{html.escape(value)}</div></div>'
        )
    parts.append("</div>")
    for i, (heading, fig) in enumerate(items):
        parts.append('<div class="figure">')
        if heading:
            parts.append(f"<h2>{html.escape(str(heading))}</h2>")
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                        config={"displaylogo": False})
        )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
