"""Dashboard page helpers: reading and caching prediction tables, the per-interaction
computation, and small Streamlit renderers.

The computation (:func:`prepare`, :func:`compute_view`, :func:`build_figures`,
:func:`words_for`) is plain pandas over ``core.dashboard`` so that bench/bench_dashboard.py
times exactly what the page runs on a filter change. Only the ``cached_*`` wrappers and
``render_*`` functions touch Streamlit.

Caching: tables and prepared frames are kept with ``st.cache_resource`` (the same object is
handed back, never copied). ``st.cache_data`` would pickle and unpickle a million-row frame on
every rerun, which alone costs seconds. The frames are treated as read-only: every filter makes
a new view. Keys are a content hash (uploads) or path + size + mtime (files on disk), plus the
column mapping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import load_csv
from core.charts.dashboard import (
    confidence_histogram,
    distinctive_words_chart,
    label_colors,
    label_share_chart,
    net_sentiment_heatmap_chart,
    segment_mix_chart,
)
from core.columns import TEXT_NAMES, named_like
from core.dashboard import (
    MISSING,
    choose_period,
    filter_mask,
    is_sentiment_like,
    kpis,
    label_mix_by_segment,
    label_share_over_time,
    negative_share_alerts,
    net_sentiment_heatmap,
    prepare_frame,
    top_examples,
)
from core.dates import DateParseReport
from core.words import distinctive_words

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATH = ROOT / "sample_data" / "dashboard_clothing_predictions.csv"
SAMPLE_NOTE = (
    "Sample: 5,000 real clothing reviews (Women's E-Commerce Clothing Reviews, CC0) scored by "
    "a sentiment model fine-tuned on the bundled UCI review sentences; its 0/1 classes are "
    "shown as negative/positive. **The review dates are synthetic** (drawn at random over "
    "January-June 2024; the reviews carry none), so trends over time and time-based alerts "
    "in this sample are noise. Segments (department, class, age group) are real."
)
NONE = "(none)"
PERIOD_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}
# Files on disk (the Predict page's output) may be larger than a browser upload.
MAX_FILE_BYTES = 2 * 1024**3
MAX_ROWS = 2_000_000
WORDS_MAX_TEXTS = 10_000  # texts sampled for distinctive words (stratified per label)
WORDS_TOP_N = 12
ALERT_MIN_COUNT = 20  # rows a segment needs in both periods to be tested
N_EXAMPLES = 5


# --------------------------------------------------------------------------------------------
# What the user chose
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMap:
    """Roles of the prediction table's columns, as mapped on the page."""

    label: str
    confidence: str | None = None
    date: str | None = None
    segments: tuple[str, ...] = ()
    text: str | None = None
    dayfirst: bool | None = None  # None: decided from the values
    one_is_positive: bool = False  # numeric 0/1 labels read as negative/positive

    def light_columns(self) -> list[str]:
        """Every mapped column but the text: what the aggregates need."""
        cols = [self.label, self.confidence, self.date, *self.segments]
        return list(dict.fromkeys(c for c in cols if c is not None))


@dataclass(frozen=True)
class Filters:
    """Active filters; empty tuples / None / 0 mean "no filter"."""

    date_range: tuple[dt.date | None, dt.date | None] | None = None
    segments: tuple[tuple[str, tuple[str, ...]], ...] = ()
    labels: tuple[str, ...] = ()
    min_confidence: float = 0.0

    def mask(self, frame: pd.DataFrame, cmap: ColumnMap) -> np.ndarray | None:
        """Boolean row mask over ``frame`` (None when nothing is filtered)."""
        return filter_mask(
            frame,
            self.date_range if cmap.date else None,
            {c: list(v) for c, v in self.segments if v},
            list(self.labels) or None,
            self.min_confidence if cmap.confidence else None,
            date_col=cmap.date,
            label_col=cmap.label,
            conf_col=cmap.confidence or "confidence",
        )

    def describe(self) -> list[str]:
        """One line per active filter, for the report and the page."""
        lines = []
        if self.date_range:
            start, end = self.date_range
            lines.append(f"Dates {start or '…'} to {end or '…'}")
        for col, values in self.segments:
            if values:
                lines.append(f"{col}: {', '.join(values)}")
        if self.labels:
            lines.append(f"Labels: {', '.join(self.labels)}")
        if self.min_confidence:
            lines.append(f"Confidence ≥ {self.min_confidence:.0%}")
        return lines


# --------------------------------------------------------------------------------------------
# Preparation (once per file and mapping)
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A prediction table made fast to filter, and what the page's widgets need from it."""

    frame: pd.DataFrame  # prepare_frame output: parsed dates, categorical labels/segments
    report: DateParseReport | None
    labels: list[str]  # label values as shown in the filter ("(missing)" last if any)
    segment_values: dict[str, list[str]]
    date_min: dt.date | None
    date_max: dt.date | None
    numeric_labels: bool  # the labels are {0, 1}-like: offer "1 means positive"
    sentiment: tuple[Any, Any] | None  # (positive, negative) label, None if not sentiment


def _numeric_binary(values: list[Any]) -> bool:
    try:
        nums = {float(str(v)) for v in values}
    except ValueError:
        return False
    return nums in ({0.0, 1.0}, {-1.0, 1.0}, {-1.0, 0.0, 1.0})


def prepare(raw: pd.DataFrame, cmap: ColumnMap) -> Prepared:
    """Parse dates and make categoricals once (``core.dashboard.prepare_frame``)."""
    if cmap.confidence and not pd.api.types.is_numeric_dtype(raw[cmap.confidence]):
        raise ValueError(
            f"The confidence column {cmap.confidence!r} should hold numbers between 0 and 1; "
            f"found values such as {raw[cmap.confidence].dropna().astype(str).head(3).tolist()}."
        )
    frame, report = prepare_frame(
        raw,
        label_col=cmap.label,
        date_col=cmap.date,
        segment_cols=list(cmap.segments),
        dayfirst=cmap.dayfirst,
    )
    cats = list(frame[cmap.label].cat.categories)
    labels = [str(c) for c in cats]
    if frame[cmap.label].isna().any():
        labels.append(MISSING)
    segment_values = {c: [str(v) for v in frame[c].cat.categories] for c in cmap.segments}
    date_min = date_max = None
    if cmap.date:
        dates = frame[cmap.date]
        if dates.notna().any():
            date_min, date_max = dates.min().date(), dates.max().date()
    numeric = _numeric_binary(cats)
    sentiment = is_sentiment_like(cats, numeric_binary=numeric and cmap.one_is_positive)
    return Prepared(frame, report, labels, segment_values, date_min, date_max, numeric, sentiment)


def auto_period(prepared: Prepared, filters: Filters) -> str:
    """The time grain for the date span in view (filter range, else the data's span)."""
    start, end = prepared.date_min, prepared.date_max
    if filters.date_range:
        start = filters.date_range[0] or start
        end = filters.date_range[1] or end
    if start is None or end is None:
        return "D"
    return choose_period(pd.Series(pd.to_datetime([start, end])))


# --------------------------------------------------------------------------------------------
# Per-interaction work
# --------------------------------------------------------------------------------------------


@dataclass
class View:
    """Everything the page shows for one set of filters."""

    mask: np.ndarray | None
    n_rows: int
    kpis: dict[str, Any]
    kpis_all: dict[str, Any]
    period: str | None
    share: pd.DataFrame | None = None
    mix: pd.DataFrame | None = None
    heat: tuple[pd.DataFrame, pd.DataFrame] | None = None
    alerts: pd.DataFrame | None = None  # every segment column, flagged first
    watch_label: Any = None
    examples: dict[Any, pd.DataFrame] = field(default_factory=dict)


def compute_view(
    prepared: Prepared,
    cmap: ColumnMap,
    filters: Filters,
    period: str | None,
    breakdown: str | None,
    watch_label: Any = None,
    alpha: float = 0.05,
    n_examples: int = N_EXAMPLES,
) -> View:
    """Filter once, then every KPI and aggregate the page shows.

    Aggregates run on a copy of the filtered rows without the text column; the examples are
    picked from the full table through the mask, so a million texts are never copied.
    ``period=None`` picks one from the span in view. ``watch_label`` is the label whose
    rising share raises alerts (the negative label for sentiment).
    """
    frame = prepared.frame
    mask = filters.mask(frame, cmap)
    light = cmap.light_columns()
    view = frame[light] if mask is None else frame.loc[mask, light]
    sentiment = prepared.sentiment
    out = View(
        mask=mask,
        n_rows=len(view),
        kpis=kpis(view, cmap.label, cmap.confidence, sentiment),
        kpis_all=kpis(frame[light], cmap.label, cmap.confidence, sentiment) if mask is not None else {},
        period=None,
        watch_label=watch_label,
    )
    has_dates = cmap.date is not None and prepared.date_min is not None
    if has_dates:
        out.period = period or auto_period(prepared, filters)
        out.share = label_share_over_time(view, cmap.date, cmap.label, out.period)
    if breakdown:
        sort_by = sentiment[1] if sentiment else None
        out.mix = label_mix_by_segment(view, breakdown, cmap.label, sort_by=sort_by)
        if has_dates and sentiment:
            out.heat = net_sentiment_heatmap(
                view,
                breakdown,
                cmap.date,
                out.period,
                sentiment[0],
                sentiment[1],
                label_col=cmap.label,
                with_counts=True,
            )
    if has_dates and cmap.segments and watch_label is not None:
        parts = []
        for col in cmap.segments:
            a = negative_share_alerts(
                view,
                col,
                cmap.date,
                out.period,
                watch_label,
                alpha=alpha,
                min_count=ALERT_MIN_COUNT,
                label_col=cmap.label,
            )
            a.insert(0, "column", col)
            parts.append(a)
        alerts = pd.concat(parts, ignore_index=True) if parts else None
        if alerts is not None:
            alerts = alerts.sort_values(
                ["flagged", "p_value"], ascending=[False, True], na_position="last", kind="stable"
            )
        out.alerts = alerts.reset_index(drop=True) if alerts is not None else None
    if cmap.text:
        extra = [c for c in (cmap.date, *cmap.segments) if c]
        if cmap.confidence:
            out.examples = top_examples(
                frame, cmap.label, cmap.confidence, cmap.text, n=n_examples, columns=extra, mask=mask
            )
        else:
            # No confidence to rank by: the first rows of each label (ties keep table order).
            tmp = frame[[cmap.label, cmap.text, *extra]].assign(_rank=0.0)
            out.examples = top_examples(tmp, cmap.label, "_rank", cmap.text, n=n_examples, columns=extra, mask=mask)
            for k in out.examples:
                out.examples[k] = out.examples[k].drop(columns="_rank")
    return out


def build_figures(view: View, prepared: Prepared, cmap: ColumnMap, breakdown: str | None) -> dict[str, go.Figure]:
    """The plotly figures for a view, keyed share / mix / heat / confidence (when they apply)."""
    order = list(prepared.frame[cmap.label].cat.categories)
    colors = label_colors(order, prepared.sentiment)
    figs: dict[str, go.Figure] = {}
    if view.share is not None:
        figs["share"] = label_share_chart(
            view.share, label_order=order, colors=colors, title=f"Share of each label, {PERIOD_NAMES[view.period]}"
        )
    if view.mix is not None:
        figs["mix"] = segment_mix_chart(view.mix, label_order=order, colors=colors, title=f"Label mix by {breakdown}")
    if view.heat is not None:
        figs["heat"] = net_sentiment_heatmap_chart(
            *view.heat, title=f"Net sentiment by {breakdown} and {PERIOD_NAMES[view.period]} period"
        )
    if cmap.confidence:
        frame = prepared.frame
        conf = frame[cmap.confidence]
        labels = frame[cmap.label]
        if view.mask is not None:
            conf, labels = conf[view.mask], labels[view.mask]
        figs["confidence"] = confidence_histogram(conf, labels, colors=colors, label_order=order)
    return figs


def words_for(
    prepared: Prepared, cmap: ColumnMap, mask: np.ndarray | None, max_texts: int = WORDS_MAX_TEXTS, seed: int = 0
) -> dict[Any, pd.DataFrame]:
    """Distinctive words per label for the rows in ``mask`` (see core.dashboard).

    ``distinctive_words`` samples at most ``max_texts`` texts, at most ``max_texts`` from any
    one label, but it first cleans every text it is given. On a million rows that cleaning
    costs more than the words themselves, so each label's rows are cut here to a uniform random
    ``max_texts`` first: a uniform sample of a uniform sample, the same distribution.
    """
    frame = prepared.frame
    codes = frame[cmap.label].cat.codes.to_numpy()
    rows = np.arange(len(frame)) if mask is None else np.flatnonzero(mask)
    rng = np.random.default_rng(seed)
    keep = []
    for code in np.unique(codes[rows]):
        idx = rows[codes[rows] == code]
        keep.append(idx if len(idx) <= max_texts else rng.choice(idx, max_texts, replace=False))
    take = np.sort(np.concatenate(keep)) if keep else rows[:0]
    return distinctive_words(
        frame[cmap.text].iloc[take],
        frame[cmap.label].iloc[take],
        top_n=WORDS_TOP_N,
        max_texts=max_texts,
        random_state=seed,
    )


def words_figure(words: dict[Any, pd.DataFrame], prepared: Prepared, cmap: ColumnMap) -> go.Figure:
    """Distinctive-words bars in the same label colours as the other charts."""
    order = list(prepared.frame[cmap.label].cat.categories)
    return distinctive_words_chart(words, colors=label_colors(order, prepared.sentiment))


def words_method(words: dict[Any, pd.DataFrame], max_texts: int = WORDS_MAX_TEXTS) -> str:
    """How the words were found, in a sentence or two."""
    lang = next((f.attrs.get("language") for f in words.values()), "en")
    how = {
        "en": "English words with common stop words removed (negations such as “didn't” kept)",
        "zh": "Chinese character bigrams (no word segmenter) plus Latin words",
        "other": "words of two or more letters, no stop-word list",
    }.get(lang, "words")
    return (
        "Weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi & Quinn "
        f"2008): each label's texts against all other texts; bars are z-scores. Tokens: {how}."
        f" Up to {max_texts:,} texts are sampled, each label getting an equal share; English "
        "text uses words, Chinese text uses character bigrams."
    )


def alert_method(alpha: float) -> str:
    return (
        "One-sided two-proportion z-test (pooled variance) of the watched label's share in the "
        "latest period against the period before, per segment; p-values are adjusted with "
        f"Benjamini-Hochberg within each segment column, and a segment is flagged when the "
        f"adjusted p ≤ {alpha:g}. Segments with fewer than {ALERT_MIN_COUNT} rows in either "
        "period are not tested."
    )


# --------------------------------------------------------------------------------------------
# Streamlit caching (one entry per file / mapping / filter state)
# --------------------------------------------------------------------------------------------


@st.cache_resource(max_entries=3, show_spinner="Reading the prediction file…")
def cached_table(key: str, _source: bytes | str) -> pd.DataFrame:
    """The raw table, read once per ``key`` (content hash or path+size+mtime)."""
    limit = MAX_FILE_BYTES if isinstance(_source, str) else None
    kwargs = {"max_bytes": limit} if limit else {}
    return load_csv(_source, max_rows=MAX_ROWS, **kwargs).frame


@st.cache_resource(max_entries=3)
def cached_detection(key: str, _raw: pd.DataFrame) -> dict[str, Any]:
    from core.dashboard import detect_prediction_columns

    return detect_prediction_columns(_raw)


@st.cache_resource(max_entries=4, show_spinner="Parsing dates and indexing the table…")
def cached_prepare(key: str, cmap: ColumnMap, _raw: pd.DataFrame) -> Prepared:
    return prepare(_raw, cmap)


@st.cache_data(max_entries=64, show_spinner="Finding distinctive words…")
def cached_words(
    key: str, cmap: ColumnMap, filters: Filters, _prepared: Prepared, _mask: np.ndarray | None
) -> dict[Any, pd.DataFrame]:
    return words_for(_prepared, cmap, _mask)


def guess_text_column(raw: pd.DataFrame, det: dict[str, Any]) -> str | None:
    """The text column: core's guess (long strings), else a string column with a telling
    name (short texts such as tweets fall below core's length cut)."""
    if det["text_candidates"]:
        return det["text_candidates"][0]
    taken = {
        det["label"],
        det["confidence"],
        det["error"],
        *det["proba"].values(),
        *det["date_candidates"],
        *det["segment_candidates"],
    }
    for col in raw.columns:
        if col not in taken and pd.api.types.is_string_dtype(raw[col]) and named_like(col, TEXT_NAMES):
            return col
    return None


def bytes_key(data: bytes) -> str:
    return "upload:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def path_key(path: str | Path) -> str:
    st_ = Path(path).stat()
    return f"path:{Path(path).resolve()}:{st_.st_size}:{st_.st_mtime_ns}"


# --------------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def render_kpis(view: View, max_labels: int = 4) -> None:
    """KPI cards; while filtered, deltas compare with all rows."""
    k, base = view.kpis, view.kpis_all
    # (name, value, delta, arrow): "off" deltas are plain context, not a change.
    cards: list[tuple[str, str, str | None, str]] = []
    total = base.get("volume") if base else None
    cards.append(("Rows", f"{k['volume']:,}", f"of {total:,}" if total is not None else None, "off"))
    if k["net_sentiment"] is not None:
        delta = None
        if base and base.get("net_sentiment") is not None:
            d = (k["net_sentiment"] - base["net_sentiment"]) * 100
            delta = f"{d:+.1f} pts vs all rows"
        cards.append(("Net sentiment", f"{k['net_sentiment'] * 100:+.1f}", delta, "auto"))
    if k["avg_confidence"] is not None:
        cards.append(("Avg confidence", _pct(k["avg_confidence"]), None, "off"))
    for lab, share in list(k["label_shares"].items())[:max_labels]:
        cards.append((f"Share {lab}", _pct(share), f"{k['label_counts'][lab]:,} rows", "off"))
    cols = st.columns(len(cards))
    for col, (name, value, delta, arrow) in zip(cols, cards, strict=True):
        col.metric(
            name, value, delta, delta_color="normal" if arrow == "auto" else "off", delta_arrow=arrow, border=True
        )
    if k["net_sentiment"] is not None:
        st.caption(
            f"Net sentiment = share “{k['positive_label']}” − share “{k['negative_label']}”, in "
            "percentage points of all rows in view (neutral rows count in the denominator)."
        )


def render_alerts(view: View, alpha: float) -> None:
    alerts = view.alerts
    if alerts is None or alerts.empty:
        st.caption("No segment had data in the last two periods.")
        return
    flagged = alerts[alerts["flagged"]]
    latest = pd.Timestamp(alerts["latest_period"].iloc[0]).date()
    prev = pd.Timestamp(alerts["prev_period"].iloc[0]).date()
    what = f"share of “{view.watch_label}”"
    if flagged.empty:
        st.success(
            f"No segment's {what} rose significantly in the period starting {latest} "
            f"compared with the one starting {prev}.",
            icon=":material/check_circle:",
        )
    for row in flagged.itertuples():
        st.warning(
            f"**{row.column} = {row.segment}**: {what} rose from {row.prev_share:.1%} "
            f"({row.n_prev:,} rows) to {row.latest_share:.1%} ({row.n_latest:,} rows); "
            f"adjusted p = {row.p_adjusted:.3g}.",
            icon=":material/trending_up:",
        )
    st.caption(alert_method(alpha))
    with st.expander(f"All segments tested ({int(alerts['p_value'].notna().sum())})"):
        table = alerts[
            [
                "column",
                "segment",
                "prev_share",
                "latest_share",
                "n_prev",
                "n_latest",
                "z",
                "p_value",
                "p_adjusted",
                "flagged",
            ]
        ]
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "prev_share": st.column_config.NumberColumn("previous share", format="percent"),
                "latest_share": st.column_config.NumberColumn("latest share", format="percent"),
            },
        )


def render_examples(examples: dict[Any, pd.DataFrame], cmap: ColumnMap) -> None:
    """One tab per label; each example an expander holding the full text and its columns."""
    if not examples:
        st.caption("No rows in view.")
        return
    tabs = st.tabs([str(lab) for lab in examples])
    for tab, rows in zip(tabs, examples.values(), strict=True):
        with tab:
            for row in rows.to_dict("records"):
                text = str(row[cmap.text])
                short = text if len(text) <= 90 else text[:90].rsplit(" ", 1)[0] + " …"
                conf = row.get(cmap.confidence) if cmap.confidence else None
                head = f"{conf:.0%} · {short}" if conf is not None else short
                with st.expander(head):
                    st.markdown(text.replace("\n", "  \n"))
                    meta = [f"row {row['row']}"] + [f"{c}: {_fmt(row[c])}" for c in (cmap.date, *cmap.segments) if c]
                    st.caption(" · ".join(meta))


def _fmt(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return "no date" if pd.isna(value) else str(value.date())
    return str(value)


def download(label: str, make: Callable[[], bytes], file_name: str, mime: str, key: str, **kwargs: Any) -> None:
    """A download button whose file is made only when clicked (big tables stay cheap)."""
    st.download_button(label, data=make, file_name=file_name, mime=mime, key=key, on_click="ignore", **kwargs)
