"""The Dashboard page's computation, without Streamlit: what the user mapped and filtered
(:class:`ColumnMap`, :class:`Filters`), the table made fast once (:func:`prepare_dashboard`), and per
widget change everything the page shows (:func:`compute_view`, :func:`build_figures`,
:func:`words_for`). Plain pandas over ``core.dashboard``, so bench/bench_dashboard.py times
exactly what the page runs on a filter change; ui/dashboard.py only caches and renders.

With several tags per row (the label column is ``predicted_labels``, tags joined by "|") every
chart counts each tag: a row tagged "price|delivery" counts in the bar of "price" and in the bar
of "delivery", shares are of rows (so they add up to more than 100%), the label filter keeps rows
carrying any chosen tag (core.dashboard_tags); a combination is never a label of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .charts.dashboard import (
    confidence_histogram,
    distinctive_words_chart,
    label_colors,
    label_share_chart,
    net_sentiment_heatmap_chart,
    segment_mix_chart,
)
from .columns import TEXT_NAMES, named_like
from .dashboard import (
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
from .dashboard_tags import (
    NO_TAG,
    tag_examples,
    tag_filter_mask,
    tag_kpis,
    tag_matrix,
    tag_mix_tidy,
    tag_sample,
    tag_share_tidy,
)
from .dates import DateParseReport
from .multilabel import PREDICTED_LABELS, detect, split_tags
from .words import distinctive_words, distinctive_words_per_tag, rows_words

PERIOD_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}
WORDS_MAX_TEXTS = 10_000  # texts sampled for distinctive words (stratified per label)
WORDS_TOP_N = 12
WORDS_MIN_ROWS = 5  # a tag carried by fewer rows in view gets no panel: its "distinctive" words are one text's words
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
    # Segment columns of tag lists, (column, separator) (DashboardFrame.list_segments): their chosen
    # values are tags, and a row passes when it carries any of them (tag_segment_mask).
    tag_segments: tuple[tuple[str, str], ...] = ()
    tags: bool = False  # several tags per row: ``labels`` are tags, said as "Tags: ..."

    def mask(self, frame: pd.DataFrame, columns: ColumnMap) -> np.ndarray | None:
        """Boolean row mask over ``frame`` (None when nothing is filtered)."""
        listed = dict(self.tag_segments)
        mask = filter_mask(
            frame,
            self.date_range if columns.date else None,
            {c: list(v) for c, v in self.segments if v and c not in listed},
            list(self.labels) or None,
            self.min_confidence if columns.confidence else None,
            date_col=columns.date,
            label_col=columns.label,
            conf_col=columns.confidence or "confidence",
        )
        for col, values in self.segments:
            if values and col in listed:
                found = tag_segment_mask(frame[col], values, listed[col])
                mask = found if mask is None else mask & found
        return mask

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
            lines.append(f"{'Tags' if self.tags else 'Labels'}: {', '.join(self.labels)}")
        if self.min_confidence:
            lines.append(f"Confidence ≥ {self.min_confidence:.0%}")
        return lines


# --------------------------------------------------------------------------------------------
# Preparation (once per file and mapping)
# --------------------------------------------------------------------------------------------


@dataclass
class DashboardFrame:
    """A prediction table made fast to filter, and what the page's widgets need from it."""

    frame: pd.DataFrame  # prepare_frame output: parsed dates, categorical labels/segments
    report: DateParseReport | None
    labels: list[str]  # label values as shown in the filter ("(missing)" last if any)
    segment_values: dict[str, list[str]]
    date_min: dt.date | None
    date_max: dt.date | None
    numeric_labels: bool  # the labels are {0, 1}-like: offer "1 means positive"
    sentiment: tuple[Any, Any] | None  # (positive, negative) label, None if not sentiment
    # Several tags per row: one bool column per tag (rows of ``frame``; core.dashboard_tags.tag_matrix),
    # and ``labels`` are the tags; None for one label per row.
    tags: pd.DataFrame | None = None
    # Segment columns holding several tags per row (e.g. the person's own ground-truth ``labels``,
    # "anger|joy"): column -> separator (core.multilabel.detect). A breakdown by one counts each row
    # under each of its tags (:func:`split_breakdown`), never a combination as a segment of its own.
    list_segments: dict[str, str] = field(default_factory=dict)

    def breakdown_options(self, segments: Sequence[str]) -> list[str]:
        """``segments`` in the order the "Break down by" box offers them: plain columns first, so
        that a column of tag lists is never the default."""
        return [c for c in segments if c not in self.list_segments] + [c for c in segments if c in self.list_segments]


def _numeric_binary(values: list[Any]) -> bool:
    try:
        nums = {float(str(v)) for v in values}
    except ValueError:
        return False
    return nums in ({0.0, 1.0}, {-1.0, 1.0}, {-1.0, 0.0, 1.0})


def prepare_dashboard(raw: pd.DataFrame, columns: ColumnMap) -> DashboardFrame:
    """Parse dates and make categoricals once (``core.dashboard.prepare_frame``)."""
    if columns.confidence and not pd.api.types.is_numeric_dtype(raw[columns.confidence]):
        raise ValueError(
            f"The confidence column {columns.confidence!r} should hold numbers between 0 and 1; "
            f"found values such as {raw[columns.confidence].dropna().astype(str).head(3).tolist()}."
        )
    frame, report = prepare_frame(
        raw,
        label_col=columns.label,
        date_col=columns.date,
        segment_cols=list(columns.segments),
        dayfirst=columns.dayfirst,
    )
    cats = list(frame[columns.label].cat.categories)
    labels = [str(c) for c in cats]
    if frame[columns.label].isna().any():
        labels.append(MISSING)
    segment_values = {c: [str(v) for v in frame[c].cat.categories] for c in columns.segments}
    date_min = date_max = None
    if columns.date:
        dates = frame[columns.date]
        if dates.notna().any():
            date_min, date_max = dates.min().date(), dates.max().date()
    listed = _list_segments(frame, columns.segments)
    segment_values.update({c: segment_tags(frame[c], sep) for c, sep in listed.items()})  # each tag, never "a|b"
    if columns.label == PREDICTED_LABELS:  # several tags per row: each tag is a label, never a combination
        tags = tag_matrix(frame[columns.label].astype(object)).set_axis(frame.index)
        none = len(tags.columns) == 0 or not tags.any(axis=1).all()
        return DashboardFrame(frame, report, [*map(str, tags.columns), *([NO_TAG] if none else [])], segment_values,
                              date_min, date_max, False, None, tags, listed)
    numeric = _numeric_binary(cats)
    sentiment = is_sentiment_like(cats, numeric_binary=numeric and columns.one_is_positive)
    return DashboardFrame(frame, report, labels, segment_values, date_min, date_max, numeric, sentiment, None, listed)


def tag_segment_mask(column: pd.Series, tags: Sequence[str], separator: str) -> np.ndarray:
    """Rows of a categorical segment column of tag lists (prepare_frame's; missing values are
    the category MISSING) that carry any of ``tags``: "anger|joy" passes a filter on "joy"."""
    wanted = {str(t) for t in tags}
    keep = np.array([bool(wanted.intersection(split_tags(c, separator))) for c in column.cat.categories], dtype=bool)
    codes = column.cat.codes.to_numpy()
    return keep[codes] & (codes >= 0) if len(keep) else np.zeros(len(column), dtype=bool)


def segment_tags(column: pd.Series, separator: str) -> list[str]:
    """The tags a categorical segment column of tag lists carries, sorted (its filter's choices)."""
    return sorted({t for c in column.cat.categories for t in split_tags(c, separator)})


LIST_DETECT_ROWS = 20_000  # rows of a segment column looked at to tell a column of tag lists


def _list_segments(frame: pd.DataFrame, segments: Sequence[str]) -> dict[str, str]:
    """Segment column -> separator, for the columns core.multilabel.detect reads as tag lists
    (on a random sample of :data:`LIST_DETECT_ROWS` rows)."""
    sample = frame if len(frame) <= LIST_DETECT_ROWS else frame.sample(LIST_DETECT_ROWS, random_state=0)
    found = {c: detect(sample[c].astype(object), c) for c in segments}
    return {c: f.separator for c, f in found.items() if f is not None}


def split_breakdown(view: pd.DataFrame, column: str, separator: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(``view`` with a row per (row, tag of ``column``), the positions in ``view`` those rows
    came from): a row tagged "anger|joy" counts under "anger" and under "joy"; a row without a tag
    once, as missing. ``column`` holds tags joined by ``separator`` (core.multilabel.split_tags)."""
    lists = [split_tags(v, separator) or [None] for v in view[column].astype(object)]
    positions = np.repeat(np.arange(len(view)), [len(t) for t in lists])
    out = view.iloc[positions].copy()
    out[column] = pd.Series([t for tags in lists for t in tags], index=out.index, dtype=object)
    return out, positions


def auto_period(prepared: DashboardFrame, filters: Filters) -> str:
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
    prepared: DashboardFrame,
    columns: ColumnMap,
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
    if prepared.tags is not None:
        return _tag_view(prepared, columns, filters, period, breakdown, watch_label, alpha, n_examples)
    frame = prepared.frame
    mask = filters.mask(frame, columns)
    light = columns.light_columns()
    view = frame[light] if mask is None else frame.loc[mask, light]
    sentiment = prepared.sentiment
    out = View(
        mask=mask,
        n_rows=len(view),
        kpis=kpis(view, columns.label, columns.confidence, sentiment),
        kpis_all=kpis(frame[light], columns.label, columns.confidence, sentiment) if mask is not None else {},
        period=None,
        watch_label=watch_label,
    )
    has_dates = columns.date is not None and prepared.date_min is not None
    if has_dates:
        out.period = period or auto_period(prepared, filters)
        out.share = label_share_over_time(view, columns.date, columns.label, out.period)
    if breakdown:
        sort_by = sentiment[1] if sentiment else None
        split = view
        if breakdown in prepared.list_segments:  # a row counts under each of its tags
            split = split_breakdown(view, breakdown, prepared.list_segments[breakdown])[0]
        out.mix = label_mix_by_segment(split, breakdown, columns.label, sort_by=sort_by)
        if has_dates and sentiment:
            out.heat = net_sentiment_heatmap(
                split,
                breakdown,
                columns.date,
                out.period,
                sentiment[0],
                sentiment[1],
                label_col=columns.label,
                with_counts=True,
            )
    if has_dates and columns.segments and watch_label is not None:
        out.alerts = _alerts(view, columns, out.period, watch_label, alpha, columns.label)
    if columns.text:
        extra = [c for c in (columns.date, *columns.segments) if c]
        if columns.confidence:
            out.examples = top_examples(
                frame, columns.label, columns.confidence, columns.text, n=n_examples, columns=extra, mask=mask
            )
        else:
            # No confidence to rank by: the first rows of each label (ties keep table order).
            tmp = frame[[columns.label, columns.text, *extra]].assign(_rank=0.0)
            found = top_examples(tmp, columns.label, "_rank", columns.text, n=n_examples, columns=extra, mask=mask)
            out.examples = {label: rows.drop(columns="_rank") for label, rows in found.items()}
    return out


def _alerts(view: pd.DataFrame, columns: ColumnMap, period: str, watch: Any, alpha: float, label_col: str) -> pd.DataFrame:
    """core.dashboard.negative_share_alerts of ``watch`` in every segment column (at least one), flagged first."""
    parts = []
    for col in columns.segments:
        a = negative_share_alerts(view, col, columns.date, period, watch, alpha=alpha, min_count=ALERT_MIN_COUNT,
                                  label_col=label_col)
        a.insert(0, "column", col)
        parts.append(a)
    alerts = pd.concat(parts, ignore_index=True)
    alerts = alerts.sort_values(["flagged", "p_value"], ascending=[False, True], na_position="last", kind="stable")
    return alerts.reset_index(drop=True)


def _tag_view(prepared: DashboardFrame, columns: ColumnMap, filters: Filters, period: str | None, breakdown: str | None,
              watch: Any, alpha: float, n_examples: int) -> View:
    """:func:`compute_view` with several tags per row: each tag counted in every row carrying it
    (core.dashboard_tags); the label filter keeps rows with any chosen tag; alerts watch one tag."""
    frame, Y = prepared.frame, prepared.tags
    masks = [m for m in (replace(filters, labels=()).mask(frame, columns),
                         tag_filter_mask(Y, filters.labels)) if m is not None]
    mask = np.logical_and.reduce(masks) if masks else None
    light = columns.light_columns()
    view, rows = (frame[light], Y) if mask is None else (frame.loc[mask, light], Y[mask])
    kpis_all = {**kpis(frame[light], columns.label, columns.confidence, None), **tag_kpis(Y)} if mask is not None else {}
    out = View(mask=mask, n_rows=len(view), kpis={**kpis(view, columns.label, columns.confidence, None), **tag_kpis(rows)},
               kpis_all=kpis_all, period=None, watch_label=watch)
    has_dates = columns.date is not None and prepared.date_min is not None
    if has_dates:
        out.period = period or auto_period(prepared, filters)
        out.share = tag_share_tidy(rows, view[columns.date], out.period)
    if breakdown in prepared.list_segments:  # a row counts under each of the breakdown column's tags
        split, positions = split_breakdown(view, breakdown, prepared.list_segments[breakdown])
        out.mix = tag_mix_tidy(rows.iloc[positions], split[breakdown])
    elif breakdown:
        out.mix = tag_mix_tidy(rows, view[breakdown])
    if has_dates and columns.segments and watch in Y.columns:  # rows carrying the watched tag vs the rest
        marked = view.assign(_tag=np.where(rows[watch].to_numpy(), str(watch), "other"))
        out.alerts = _alerts(marked, columns, out.period, str(watch), alpha, "_tag")
    if columns.text:
        extra = [c for c in (columns.date, *columns.segments) if c]
        out.examples = tag_examples(frame, Y, columns.text, n_examples, extra, mask)
    return out


def build_figures(view: View, prepared: DashboardFrame, columns: ColumnMap, breakdown: str | None) -> dict[str, go.Figure]:
    """The plotly figures for a view, keyed share / mix / heat / confidence (when they apply)."""
    tags = prepared.tags is not None
    order = list(prepared.tags.columns) if tags else list(prepared.frame[columns.label].cat.categories)
    colors = label_colors(order, prepared.sentiment)
    figs: dict[str, go.Figure] = {}
    what = "each tag (share of rows carrying it)" if tags else "each label"
    if view.share is not None:
        figs["share"] = label_share_chart(
            view.share, label_order=order, colors=colors, title=f"Share of {what}, {PERIOD_NAMES[view.period]}"
        )
    if view.mix is not None:
        figs["mix"] = segment_mix_chart(view.mix, label_order=order, colors=colors, stacked=not tags,
                                        title=f"{'Tags' if tags else 'Label mix'} by {breakdown}")
    if view.heat is not None:
        figs["heat"] = net_sentiment_heatmap_chart(
            *view.heat, title=f"Net sentiment by {breakdown} and {PERIOD_NAMES[view.period]} period"
        )
    if columns.confidence:
        frame = prepared.frame
        conf = frame[columns.confidence]
        labels = frame[columns.label]
        if view.mask is not None:
            conf, labels = conf[view.mask], labels[view.mask]
        figs["confidence"] = confidence_histogram(conf, labels, colors=colors, label_order=order)
    return figs


def words_for(
    prepared: DashboardFrame, columns: ColumnMap, mask: np.ndarray | None, max_texts: int = WORDS_MAX_TEXTS, seed: int = 0
) -> dict[Any, pd.DataFrame]:
    """Distinctive words per label for the rows in ``mask`` (see core.dashboard).

    ``distinctive_words`` samples at most ``max_texts`` texts, at most ``max_texts`` from any
    one label, but it first cleans every text it is given. On a million rows that cleaning
    costs more than the words themselves, so each label's rows are cut here to a uniform random
    ``max_texts`` first: a uniform sample of a uniform sample, the same distribution.
    """
    frame = prepared.frame
    rows = np.arange(len(frame)) if mask is None else np.flatnonzero(mask)
    if prepared.tags is not None:  # each tag's rows against the rows not carrying it (each row once)
        take = tag_sample(prepared.tags, rows, max_texts, seed)
        return distinctive_words_per_tag(frame[columns.text].iloc[take], prepared.tags.iloc[take], top_n=WORDS_TOP_N)
    codes = frame[columns.label].cat.codes.to_numpy()
    rng = np.random.default_rng(seed)
    keep = []
    for code in np.unique(codes[rows]):
        idx = rows[codes[rows] == code]
        keep.append(idx if len(idx) <= max_texts else rng.choice(idx, max_texts, replace=False))
    take = np.sort(np.concatenate(keep)) if keep else rows[:0]
    return distinctive_words(
        frame[columns.text].iloc[take],
        frame[columns.label].iloc[take],
        top_n=WORDS_TOP_N,
        max_texts=max_texts,
        random_state=seed,
    )


def words_panels(words: dict[Any, pd.DataFrame], prepared: DashboardFrame) -> tuple[dict[Any, pd.DataFrame], str]:
    """(the words to draw, a caption naming what is left out). With several tags per row, a tag
    carried by fewer than :data:`WORDS_MIN_ROWS` rows in view, or without any word that sets its
    rows apart, is named in the caption instead of drawn as empty axes; one label per row: all."""
    if prepared.tags is None:
        return words, ""
    few = {t: f.attrs.get("n_texts", 0) for t, f in words.items() if f.attrs.get("n_texts", 0) < WORDS_MIN_ROWS}
    none = [t for t, f in words.items() if t not in few and f.empty]
    parts = []
    if few:
        named = ", ".join(f"{t} ({rows_words(n)})" for t, n in few.items())
        parts.append(f"Too few rows to find words for (a tag needs at least {WORDS_MIN_ROWS} rows in view): {named}.")
    if none:
        parts.append(f"No word sets these tags' rows apart: {', '.join(map(str, none))}.")
    return {t: f for t, f in words.items() if t not in few and t not in none}, " ".join(parts)


def words_figure(words: dict[Any, pd.DataFrame], prepared: DashboardFrame, columns: ColumnMap) -> go.Figure:
    """Distinctive-words bars in the same label colours as the other charts; with several tags
    per row, a panel for every tag in ``words`` (filter them with :func:`words_panels` first)."""
    tags = prepared.tags is not None
    order = list(prepared.tags.columns) if tags else list(prepared.frame[columns.label].cat.categories)
    title = "Most distinctive words per tag" if tags else "Most distinctive words per label"
    return distinctive_words_chart(words, colors=label_colors(order, prepared.sentiment), title=title,
                                   **({"max_labels": max(1, len(words))} if tags else {}))


def words_method(words: dict[Any, pd.DataFrame], max_texts: int = WORDS_MAX_TEXTS, tags: bool = False) -> str:
    """How the words were found, in a sentence or two (``tags``: several tags per row)."""
    lang = next((f.attrs.get("language") for f in words.values()), "en")
    how = {
        "en": "English words with common stop words removed (negations such as “didn't” kept)",
        "zh": "Chinese words as the jieba segmenter cuts them (function words such as 的 left out) plus Latin words",
        "other": "words of two or more letters, no stop-word list",
    }.get(lang, "words")
    against = ("each tag's rows against the rows not carrying it (a row counts for each of its tags)" if tags
               else "each label's texts against all other texts")
    sample = (f"Up to {max_texts:,} rows of each tag are sampled" if tags
              else f"Up to {max_texts:,} texts are sampled, each label getting an equal share")
    return (
        "Weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi & Quinn "
        f"2008): {against}; bars are z-scores. Tokens: {how}. {sample}."
    )


def alert_method(alpha: float) -> str:
    return (
        "One-sided two-proportion z-test (pooled variance) of the watched label's share in the "
        "latest period against the period before, per segment; p-values are adjusted with "
        f"Benjamini-Hochberg within each segment column, and a segment is flagged when the "
        f"adjusted p ≤ {alpha:g}. Segments with fewer than {ALERT_MIN_COUNT} rows in either "
        "period are not tested."
    )


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
