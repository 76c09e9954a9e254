"""Sentiment and label dashboards over a prediction table (pure pandas/numpy, no streamlit).

Input is what batch prediction writes: the user's own columns plus ``predicted_label``,
``confidence`` (the largest class probability, 0..1) and one ``p_<class>`` column per class,
optionally a date column and segment columns (channel, product, region, ...).

Everything here is built for tables of up to ~1,000,000 rows:

- dates are parsed once per *distinct* value and broadcast back with integer codes;
- aggregations work on integer codes (categorical codes, period indices) with
  ``np.bincount`` instead of ``groupby`` on strings;
- ``filter_mask`` builds one boolean mask for every filter; the page copies only the columns it needs.

Call :func:`prepare_frame` once after loading (it parses the date column and turns labels and
segments into categoricals, which makes every later filter/aggregation several times faster),
cache its result, then call the filter/aggregate functions on every widget change.

Conventions
- Missing segment values are shown as ``"(missing)"`` (:data:`MISSING`), never dropped.
- Shares are fractions in [0, 1]; net sentiment is in [-1, 1] (multiply by 100 for points).
- Periods are labelled by their first day: "D" day, "W" ISO week starting Monday, "M" month.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from .columns import NEGATIVE_SENTIMENT, NEUTRAL_SENTIMENT, POSITIVE_SENTIMENT
from .dates import DateParseReport, parse_dates
from .reading import missing_columns_message

MISSING = "(missing)"
OTHER = "(other)"
Period = Literal["D", "W", "M"]


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


def choose_period(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> Period:
    """Pick a time grain from the span of ``dates`` (NaT ignored).

    <= 60 days -> "D" (daily), <= 366 days -> "W" (weekly), longer -> "M" (monthly). Empty or
    all-NaT input gives "D". This keeps a line chart between ~10 and ~60 points for typical
    spans.
    """
    idx = pd.DatetimeIndex(np.asarray(dates)).dropna()
    if len(idx) == 0:
        return "D"
    span_days = (idx.max() - idx.min()) / pd.Timedelta(days=1)
    if span_days <= 60:
        return "D"
    if span_days <= 366:
        return "W"
    return "M"


def period_codes(dates: pd.Series, period: str) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Integer period index per row (-1 for NaT) and the start of every period in between.

    The periods form a dense, gap-free range from the first to the last date so that empty
    periods show up as empty instead of being skipped on the time axis.
    """
    if period not in ("D", "W", "M"):
        raise ValueError(f"period must be 'D', 'W' or 'M'; got {period!r}")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(dates):
        raise ValueError(
            f"date column {dates.name!r} must be parsed to datetimes first (parse_dates or "
            f"prepare_frame); found dtype {dates.dtype}"
        )
    v = dates.to_numpy()
    nat = np.isnat(v)
    if nat.all():
        return np.full(len(v), -1, dtype=np.int64), pd.DatetimeIndex([], name="period")
    key = v.astype("datetime64[D]").astype(np.int64)  # days since 1970 (floor)
    if period == "W":
        # Day 0 (1970-01-01) is a Thursday; +3 makes weeks start on Monday.
        key = (key + 3) // 7
    elif period == "M":
        # Calendar months via a per-day lookup table over the span: numpy's month cast is
        # slow per element, and the span has far fewer days than the table has rows.
        dmin = int(key[~nat].min())
        span = np.arange(dmin, int(key[~nat].max()) + 1).astype("datetime64[D]")
        table = span.astype("datetime64[M]").astype(np.int64)
        key = table[np.where(nat, 0, key - dmin)]
    kmin = int(key[~nat].min())
    kmax = int(key[~nat].max())
    codes = np.where(nat, -1, key - kmin)
    steps = np.arange(kmin, kmax + 1)
    if period == "M":
        starts = steps.astype("datetime64[M]")
    elif period == "W":
        starts = (steps * 7 - 3).astype("datetime64[D]")
    else:
        starts = steps.astype("datetime64[D]")
    return codes, pd.DatetimeIndex(starts.astype("datetime64[us]"), name="period")


# --------------------------------------------------------------------------------------------
# Codes for labels and segments
# --------------------------------------------------------------------------------------------


def _codes(series: pd.Series, as_str: bool) -> tuple[np.ndarray, list]:
    """Dense integer codes (0..k-1, every row coded) and the k category values.

    Missing values get their own trailing category :data:`MISSING` (if any are present), so
    nothing is dropped. With ``as_str`` the categories are strings (segments: mixed types and
    "(missing)" must sort and display together); otherwise the original values are kept
    (labels: so that ``positive_label`` from :func:`is_sentiment_like` still matches).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int64)
        cats = list(series.cat.categories)
    else:
        codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        cats = list(uniques)
    if as_str:
        cats = [display_value(c) for c in cats]
    if (codes < 0).any():
        if MISSING in cats:
            codes = np.where(codes < 0, cats.index(MISSING), codes)
        else:
            codes = np.where(codes < 0, len(cats), codes)
            cats.append(MISSING)
    return codes, cats


def display_value(value: Any) -> str:
    """How a segment value is shown (and matched back from a page's selection)."""
    # Integer segments with gaps arrive as floats (33.0); show them as people wrote them.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bincount2(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> np.ndarray:
    """Counts of each (a, b) pair as an (na, nb) int64 matrix; rows with a < 0 are ignored."""
    ok = a >= 0
    flat = a[ok] * nb + b[ok]
    return np.bincount(flat, minlength=na * nb).reshape(na, nb)


def _match_values(series: pd.Series, values: Iterable[Any]) -> np.ndarray:
    """Boolean mask of rows whose value is in ``values``; compared as strings as well, so a
    page can pass back the strings it displayed ("(missing)" selects missing values)."""
    wanted = list(values)
    wanted_str = {str(v) for v in wanted}
    codes, cats = _codes(series, as_str=False)
    keep = np.array(
        [c in wanted or display_value(c) in wanted_str or str(c) in wanted_str for c in cats],
        dtype=bool,
    )
    return keep[codes] if len(cats) else np.zeros(len(series), dtype=bool)


# --------------------------------------------------------------------------------------------
# Preparation and filters
# --------------------------------------------------------------------------------------------


def prepare_frame(
    df: pd.DataFrame,
    *,
    label_col: str,
    date_col: str | None = None,
    segment_cols: Sequence[str] = (),
    dayfirst: bool | None = None,
) -> tuple[pd.DataFrame, DateParseReport | None]:
    """Make a prediction table fast to filter and aggregate; call once and cache the result.

    - ``date_col`` is replaced by its parsed datetimes (:func:`parse_dates`; unparseable values
      become NaT and are counted in the returned report, the rows are kept);
    - ``label_col`` and ``segment_cols`` become categoricals; missing segment values become
      the category :data:`MISSING` so they show up (and can be filtered) like any other value;
    - empty labels (core.predict writes "" for rows without text) become missing, so they
      are shown as "(missing)" rather than as a blank label.

    Returns ``(frame, report)``; ``frame`` is a new DataFrame sharing the other columns
    (copy-on-write), ``report`` is ``None`` without ``date_col``.
    """
    for col in [label_col, date_col, *segment_cols]:
        if col is not None and col not in df.columns:
            raise ValueError(missing_columns_message([col], df.columns, lead=f"Column {col!r} is not in the table"))
    out = df.copy(deep=False)
    report = None
    if date_col is not None:
        out[date_col], report = parse_dates(df[date_col], dayfirst=dayfirst)
    labels = df[label_col]
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        if pd.api.types.is_string_dtype(labels) or labels.dtype == object:
            # Factorize first: stripping a million strings is slow, a few classes is not.
            codes, uniques = pd.factorize(labels, use_na_sentinel=True)
            blank = np.array([isinstance(u, str) and not u.strip() for u in uniques], dtype=bool)
            if blank.any():
                labels = labels.where(~np.append(blank, False)[codes])
        out[label_col] = labels.astype("category")
    for col in segment_cols:
        codes, cats = _codes(df[col], as_str=True)
        out[col] = pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype=object))
    return out, report


def filter_mask(
    df: pd.DataFrame,
    date_range: tuple[Any, Any] | None = None,
    segment_filters: Mapping[str, Sequence[Any]] | None = None,
    labels: Sequence[Any] | None = None,
    min_confidence: float | None = None,
    *,
    date_col: str | None = None,
    label_col: str = "predicted_label",
    conf_col: str = "confidence",
) -> np.ndarray | None:
    """Boolean mask (length ``len(df)``) of the rows passing every active filter, or None
    when no filter is active. ``df[mask]`` is the filtered view; give aggregates a view without
    the text column (copying the texts of a million rows costs more than every aggregate
    together) and :func:`top_examples` the full table with ``mask``.

    Args:
        date_range: ``(start, end)``, either may be None. Bounds are anything ``pd.Timestamp``
            accepts; an end without a time of day includes that whole day. Rows without a
            date (NaT) are excluded while a date range is active. Needs ``date_col``.
        segment_filters: ``{column: [allowed values]}``; ``"(missing)"`` selects missing
            values; values also match by their string form. An empty list or None means "no
            filter on this column" (a multiselect left empty).
        labels: allowed predicted labels (empty/None: all).
        min_confidence: keep rows with ``conf_col >= min_confidence``; None or <= 0: no filter.
    """
    mask: np.ndarray | None = None

    def _and(m: np.ndarray) -> None:
        nonlocal mask
        mask = m if mask is None else (mask & m)

    if date_range is not None and any(b is not None for b in date_range):
        if date_col is None:
            raise ValueError("a date_range filter needs date_col (the parsed date column)")
        start, end = date_range
        v = df[date_col].to_numpy().astype("datetime64[us]")
        m = ~np.isnat(v)
        if start is not None:
            m &= v >= np.datetime64(pd.Timestamp(start).to_datetime64(), "us")
        if end is not None:
            end_ts = pd.Timestamp(end)
            if end_ts == end_ts.normalize():
                m &= v < np.datetime64((end_ts + pd.Timedelta(days=1)).to_datetime64(), "us")
            else:
                m &= v <= np.datetime64(end_ts.to_datetime64(), "us")
        _and(m)
    for col, values in (segment_filters or {}).items():
        if values is None or len(values) == 0:
            continue
        if col not in df.columns:
            raise ValueError(f"segment filter on {col!r}, which is not a column")
        _and(_match_values(df[col], values))
    if labels is not None and len(labels) > 0:
        _and(_match_values(df[label_col], labels))
    if min_confidence is not None and min_confidence > 0:
        conf = df[conf_col].to_numpy(dtype=np.float64, na_value=np.nan)
        _and(conf >= float(min_confidence))
    return mask


# --------------------------------------------------------------------------------------------
# Sentiment
# --------------------------------------------------------------------------------------------


def is_sentiment_like(
    labels: Iterable[Any], numeric_binary: bool = False
) -> tuple[Any, Any] | None:
    """``(positive_label, negative_label)`` if the label set reads as sentiment, else None.

    Conservative on purpose: a wrong "net sentiment" is worse than none.
    - Recognised (case-insensitive, surrounding spaces ignored): positive/negative, pos/neg,
      +/-, and the Chinese 正面/负面, 积极/消极, 好评/差评. Besides exactly one positive and
      one negative label, only neutral-type labels (neutral, neu, mixed, none, irrelevant,
      中性) may be present; any other label (e.g. "spam") makes the answer None.
    - Numeric classes {0, 1} (or {-1, 1}, {-1, 0, 1}) are ambiguous: 1/0 is as often
      "clicked", "churned" or "recommended" as "positive". They count as sentiment only with
      ``numeric_binary=True`` (a page checkbox "1 means positive"); then 1 is positive and
      0 (or -1 when present) negative.

    Returns the labels in their original form (e.g. ``"Positive"``, ``1``) so they match the
    data; None for fewer than two distinct labels. Missing values and "(missing)" are ignored.
    """
    first: dict[str, Any] = {}  # each label's key (trimmed, lower case) and its first spelling
    for lab in labels:
        if lab is None or (isinstance(lab, float) and math.isnan(lab)) or lab == MISSING:
            continue
        first.setdefault(str(lab).strip().lower(), lab)
    uniq = list(first.items())
    if len(uniq) < 2:
        return None
    pos = [orig for key, orig in uniq if key in POSITIVE_SENTIMENT]
    neg = [orig for key, orig in uniq if key in NEGATIVE_SENTIMENT]
    others = [key for key, _ in uniq if key not in POSITIVE_SENTIMENT | NEGATIVE_SENTIMENT]
    if len(pos) == 1 and len(neg) == 1 and all(k in NEUTRAL_SENTIMENT for k in others):
        return pos[0], neg[0]
    if numeric_binary:
        by_num: dict[float, Any] = {}
        for key, orig in uniq:
            try:
                by_num[float(key)] = orig
            except ValueError:
                return None
        keys = set(by_num)
        if keys in ({0.0, 1.0}, {-1.0, 1.0}, {-1.0, 0.0, 1.0}):
            return by_num[1.0], by_num[-1.0 if -1.0 in keys else 0.0]
    return None


def _net_from_counts(counts: np.ndarray, cats: Sequence[Any], positive: Any, negative: Any,
                     axis: int = -1) -> Any:
    """Net sentiment from counts whose last axis runs over ``cats``: (positive - negative) / all
    rows, in [-1, 1], NaN for no rows. The denominator includes neutral (and any other) rows, like
    a net promoter score: a table that is 90% neutral cannot have a net sentiment beyond +-0.1."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=axis)
    pos = _cat_index(cats, positive)
    neg = _cat_index(cats, negative)
    p = counts.take(pos, axis=axis) if pos is not None else np.zeros_like(total)
    q = counts.take(neg, axis=axis) if neg is not None else np.zeros_like(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, (p - q) / np.where(total > 0, total, 1), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def _cat_index(cats: Sequence[Any], value: Any) -> int | None:
    """Where ``value`` is in ``cats``, else where its text is ("1" on the page vs 1 in the data); None: nowhere."""
    found = next((i for i, c in enumerate(cats) if c == value), None)
    return found if found is not None else next((i for i, c in enumerate(cats) if str(c) == str(value)), None)


# --------------------------------------------------------------------------------------------
# KPIs and aggregates
# --------------------------------------------------------------------------------------------


def kpis(
    df: pd.DataFrame,
    label_col: str = "predicted_label",
    conf_col: str | None = "confidence",
    sentiment: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """Headline numbers for the (filtered) table.

    Returns a dict:
    - ``volume``: number of rows (int);
    - ``label_counts`` / ``label_shares``: ``{label: int}`` / ``{label: fraction}``, most
      frequent first (labels of a categorical column are all listed, with 0 if absent, so
      cards stay stable while filtering; missing labels appear as "(missing)");
    - ``net_sentiment``: in [-1, 1] when ``sentiment=(positive, negative)`` is given, else None;
    - ``positive_label`` / ``negative_label``: echo of ``sentiment`` (or None);
    - ``avg_confidence``: mean of ``conf_col`` in [0, 1], None without it or for no rows.
    """
    volume = len(df)
    codes, cats = _codes(df[label_col], as_str=False)
    counts = np.bincount(codes, minlength=len(cats))
    order = np.argsort(-counts, kind="stable")
    label_counts = {cats[i]: int(counts[i]) for i in order}
    label_shares = {k: (v / volume if volume else 0.0) for k, v in label_counts.items()}
    net = None
    if sentiment is not None and volume:
        net = float(_net_from_counts(counts, cats, sentiment[0], sentiment[1]))
    avg_conf = None
    if conf_col is not None and conf_col in df.columns and volume:
        conf = df[conf_col].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isfinite(conf).any():
            avg_conf = float(np.nanmean(conf))
    return {
        "volume": volume,
        "label_counts": label_counts,
        "label_shares": label_shares,
        "net_sentiment": net,
        "positive_label": sentiment[0] if sentiment else None,
        "negative_label": sentiment[1] if sentiment else None,
        "avg_confidence": avg_conf,
    }


def label_share_over_time(
    df: pd.DataFrame, date_col: str, label_col: str, period: Period | None = None
) -> pd.DataFrame:
    """Share of each label per period, tidy.

    Columns: ``period`` (start of the period, datetime64), ``label``, ``count`` (int),
    ``total`` (rows in that period), ``share`` (count / total; NaN for a period with no rows).
    Every period between the first and last date appears, with every label (zeros kept) —
    (n_periods * n_labels) rows sorted by period then label. ``period=None`` picks one with
    :func:`choose_period`. Rows without a date are left out of the chart; how many is in
    ``result.attrs["n_without_date"]``.
    """
    if period is None:
        period = choose_period(df[date_col])
    pcodes, starts = period_codes(df[date_col], period)
    lcodes, cats = _codes(df[label_col], as_str=False)
    counts = _bincount2(pcodes, len(starts), lcodes, len(cats))
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / np.where(total > 0, total, np.nan)
    out = _tidy("period", starts.to_numpy(), cats, counts, "total", total.ravel(), share)
    out.attrs["n_without_date"] = int((pcodes < 0).sum())
    out.attrs["period"] = period
    return out


def _top_segments(counts: np.ndarray, cats: list[str], max_segments: int | None
                  ) -> tuple[np.ndarray, list[str]]:
    """Map segment indices to kept segments (by volume) and fold the rest into "(other)".

    ``counts`` is (n_segments, ...) ; returns (new counts with the same trailing shape,
    new names), segments ordered by volume descending, "(other)" last.
    """
    volume = counts.sum(axis=tuple(range(1, counts.ndim))) if counts.ndim > 1 else counts
    order = np.argsort(-volume, kind="stable")
    order = order[volume[order] > 0]
    if max_segments is None or len(order) <= max_segments:
        return counts[order], [cats[i] for i in order]
    keep, rest = order[:max_segments], order[max_segments:]
    other = counts[rest].sum(axis=0, keepdims=True)
    return np.concatenate([counts[keep], other]), [cats[i] for i in keep] + [OTHER]


def label_mix_by_segment(
    df: pd.DataFrame,
    segment_col: str,
    label_col: str,
    sort_by: Any | None = None,
    max_segments: int | None = 30,
) -> pd.DataFrame:
    """Label mix within each segment, tidy, ready for a 100% stacked bar chart.

    Columns: ``segment`` (str; missing values as "(missing)"), ``label``, ``count``,
    ``segment_total``, ``share`` (count / segment_total). Segments with no rows are left out.
    Rows are sorted segment by segment: by volume descending, or with ``sort_by=<label>`` by
    that label's share descending (ties by volume). With more than ``max_segments`` segments
    the smallest are pooled into "(other)", kept last.
    """
    scodes, scats = _codes(df[segment_col], as_str=True)
    lcodes, lcats = _codes(df[label_col], as_str=False)
    counts = _bincount2(scodes, len(scats), lcodes, len(lcats))
    counts, names = _top_segments(counts, scats, max_segments)
    totals = counts.sum(axis=1)
    share = counts / np.maximum(totals, 1)[:, None]
    order = np.arange(len(names))
    if sort_by is not None:
        j = _cat_index(lcats, sort_by)
        if j is None:
            raise ValueError(f"sort_by={sort_by!r} is not a label; labels are {lcats}")
        movable = [i for i in order if names[i] != OTHER]
        movable.sort(key=lambda i: (-share[i, j], -totals[i]))
        order = np.array(movable + [i for i in order if names[i] == OTHER], dtype=int)
    counts, totals, share = counts[order], totals[order], share[order]
    names = [names[i] for i in order]
    return _tidy("segment", np.array(names, dtype=object), lcats, counts, "segment_total", totals, share)


def _tidy(key: str, keys: np.ndarray, labels: list, counts: np.ndarray, total: str, totals: np.ndarray,
          share: np.ndarray) -> pd.DataFrame:
    """One row per (key, label) of the (len(keys), len(labels)) ``counts`` and ``share``, key by key:
    columns ``key``, "label", "count", ``total`` (``totals``, one per key) and "share"."""
    n_keys, n_labels = counts.shape
    return pd.DataFrame({key: np.repeat(keys, n_labels), "label": np.tile(np.array(labels, dtype=object), n_keys),
                         "count": counts.ravel(), total: np.repeat(totals, n_labels), "share": share.ravel()})


def net_sentiment_heatmap(
    df: pd.DataFrame,
    segment_col: str,
    date_col: str,
    period: Period | None,
    positive: Any,
    negative: Any,
    label_col: str = "predicted_label",
    min_count: int = 1,
    max_segments: int | None = 30,
    with_counts: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Net sentiment per segment x period.

    Returns a DataFrame, index = segments (by volume descending, "(other)" last when more
    than ``max_segments``), columns = period starts (every period from first to last date),
    values = net sentiment in [-1, 1]; NaN where a cell has fewer than ``min_count`` rows (a
    cell of 2 reviews would otherwise show a confident +-100). With ``with_counts`` returns
    ``(net, counts)``, ``counts`` the row counts of the same shape. Rows without a date are
    left out.
    """
    if period is None:
        period = choose_period(df[date_col])
    pcodes, starts = period_codes(df[date_col], period)
    scodes, scats = _codes(df[segment_col], as_str=True)
    lcodes, lcats = _codes(df[label_col], as_str=False)
    pos = _cat_index(lcats, positive)
    neg = _cat_index(lcats, negative)
    # Recode labels to 0 = other, 1 = positive, 2 = negative: a (segment, period, 3) cube.
    small = np.zeros(len(lcats), dtype=np.int64)
    if pos is not None:
        small[pos] = 1
    if neg is not None:
        small[neg] = 2
    s = np.where(pcodes >= 0, scodes, -1)
    flat = np.where(s >= 0, s * len(starts) + pcodes, -1)
    cube = _bincount2(flat, len(scats) * len(starts), small[lcodes], 3)
    cube = cube.reshape(len(scats), len(starts), 3)
    cube, names = _top_segments(cube, scats, max_segments)
    n = cube.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        net = (cube[:, :, 1] - cube[:, :, 2]) / np.where(n > 0, n, np.nan)
    net = np.where(n >= max(1, min_count), net, np.nan)
    index = pd.Index(names, name="segment", dtype=object)
    net_df = pd.DataFrame(net, index=index, columns=starts)
    if with_counts:
        return net_df, pd.DataFrame(n, index=index, columns=starts)
    return net_df


def negative_share_alerts(
    df: pd.DataFrame,
    segment_col: str,
    date_col: str,
    period: Period | None,
    negative_label: Any,
    alpha: float = 0.05,
    min_count: int = 20,
    label_col: str = "predicted_label",
    correction: Literal["bh", "bonferroni"] = "bh",
) -> pd.DataFrame:
    """Segments whose share of ``negative_label`` rose in the latest period vs the one before.

    The latest period is the one holding the latest date in ``df``; the previous one is the
    calendar period just before it (the previous day/week/month, empty if no data). For each
    segment with at least ``min_count`` rows in both periods, a one-sided two-proportion
    z-test (pooled variance) tests H1: latest share > previous share. p-values are corrected
    across the tested segments with Benjamini-Hochberg (``correction="bh"``, the default;
    controls the false discovery rate) or Bonferroni (``"bonferroni"``; controls the chance of
    any false alarm, stricter). A segment is flagged when its adjusted p-value <= ``alpha``.
    The method is written out in the ``test`` column. Note that the latest period may be
    incomplete (e.g. a week with two days of data); the test compares shares, not volumes,
    so that is fine as long as ``min_count`` rows exist.

    Returns one row per segment with data in either period, columns: ``segment``,
    ``prev_share``, ``latest_share`` (fractions), ``n_prev``, ``n_latest`` (rows), ``z``,
    ``p_value``, ``p_adjusted`` (NaN when not tested), ``flagged`` (bool), ``test`` (str),
    ``prev_period``, ``latest_period`` (period starts). Flagged first, then by p-value.
    """
    if correction not in ("bh", "bonferroni"):
        raise ValueError(f"correction must be 'bh' or 'bonferroni'; got {correction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha!r}")
    columns = ["segment", "prev_share", "latest_share", "n_prev", "n_latest", "z", "p_value",
               "p_adjusted", "flagged", "test", "prev_period", "latest_period"]
    if period is None:
        period = choose_period(df[date_col])
    pcodes, starts = period_codes(df[date_col], period)
    if len(starts) == 0:
        return pd.DataFrame(columns=columns)
    latest = len(starts) - 1
    scodes, scats = _codes(df[segment_col], as_str=True)
    lcodes, lcats = _codes(df[label_col], as_str=False)
    neg = _cat_index(lcats, negative_label)
    is_neg = (lcodes == neg) if neg is not None else np.zeros(len(lcodes), dtype=bool)
    # Only the last two periods matter: 0 = previous, 1 = latest.
    which = np.where(pcodes == latest, 1, np.where((pcodes >= 0) & (pcodes == latest - 1), 0, -1))
    s = np.where(which >= 0, scodes * 2 + which, -1)
    n = _bincount2(s, len(scats) * 2, is_neg.astype(np.int64), 2).reshape(len(scats), 2, 2)
    n_prev, n_latest = n[:, 0, :].sum(axis=1), n[:, 1, :].sum(axis=1)
    k_prev, k_latest = n[:, 0, 1], n[:, 1, 1]
    present = (n_prev + n_latest) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = k_prev / n_prev
        p2 = k_latest / n_latest
        pooled = (k_prev + k_latest) / (n_prev + n_latest)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_prev + 1 / n_latest))
        z = np.where(se > 0, (p2 - p1) / se, 0.0)
    # scipy comes with scikit-learn; imported here to keep `import core` light.
    from scipy.stats import norm

    tested = present & (n_prev >= min_count) & (n_latest >= min_count)
    p = np.where(tested, norm.sf(z), np.nan)
    # Identical shares of exactly 0 or 1 give se = 0: no evidence of a rise at all.
    p = np.where(tested & (se == 0), 1.0, p)
    z = np.where(tested, z, np.nan)
    m = int(tested.sum())
    p_adj = np.full(len(scats), np.nan)
    if m:
        p_adj[tested] = false_discovery_control(p[tested], method="bh") if correction == "bh" else np.minimum(
            p[tested] * m, 1.0)
    flagged = tested & (p_adj <= alpha) & (p2 > p1)
    method = (
        f"one-sided two-proportion z-test, "
        f"{'Benjamini-Hochberg (FDR)' if correction == 'bh' else 'Bonferroni'} "
        f"alpha={alpha:g} across {m} segments"
    )
    test = np.where(tested, method, f"not tested: fewer than {min_count} rows in a period")
    prev_start = (
        starts[latest - 1] if latest >= 1 else starts[latest] - _period_offset(period)
    )
    out = pd.DataFrame(
        {
            "segment": np.array(scats, dtype=object),
            "prev_share": p1,
            "latest_share": p2,
            "n_prev": n_prev,
            "n_latest": n_latest,
            "z": z,
            "p_value": p,
            "p_adjusted": p_adj,
            "flagged": flagged,
            "test": test,
            "prev_period": prev_start,
            "latest_period": starts[latest],
        }
    )[present]
    out = out.sort_values(["flagged", "p_value"], ascending=[False, True], na_position="last",
                          kind="stable")
    return out.reset_index(drop=True)


def _period_offset(period: str) -> pd.DateOffset:
    return {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1),
            "M": pd.DateOffset(months=1)}[period]


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def top_examples(
    df: pd.DataFrame,
    label_col: str,
    conf_col: str,
    text_col: str,
    n: int = 5,
    columns: Sequence[str] | None = None,
    dedupe: bool = True,
    mask: np.ndarray | None = None,
) -> dict[Any, pd.DataFrame]:
    """The ``n`` highest-confidence rows of each predicted label.

    Returns ``{label: DataFrame}`` (labels most frequent first), each frame with ``row`` (the
    row's index label in ``df``, so people can find it), ``text_col``, ``conf_col`` and any
    extra ``columns``, sorted by confidence descending. With ``dedupe`` identical texts appear
    once (tables often repeat the same message); if very many copies tie at the top a label
    can get fewer than ``n`` rows. Rows without a confidence are never chosen.

    ``mask`` (from :func:`filter_mask`) restricts the choice to the filtered rows without
    copying the table: only the chosen rows' texts are ever copied. Labels with no rows in
    the mask are left out.
    """
    for col in (label_col, conf_col, text_col, *(columns or ())):
        if col not in df.columns:
            raise ValueError(missing_columns_message([col], df.columns, lead=f"Column {col!r} is not in the table"))
    cols = [text_col, conf_col] + [c for c in (columns or ()) if c not in (text_col, conf_col)]
    conf = df[conf_col].to_numpy(dtype=np.float64, na_value=np.nan)
    conf = np.where(np.isnan(conf), -np.inf, conf)
    codes, cats = _codes(df[label_col], as_str=False)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(df),):
            raise ValueError(f"mask must have one entry per row ({len(df)}); found {mask.shape}")
        conf = np.where(mask, conf, -np.inf)
        counts = np.bincount(codes[mask], minlength=len(cats))
    else:
        counts = np.bincount(codes, minlength=len(cats))
    # A few spares per label so duplicates can be dropped without a full sort.
    want = n * 10 if dedupe else n
    out: dict[Any, pd.DataFrame] = {}
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] == 0:
            continue
        idx = np.flatnonzero(codes == i)
        idx = idx[np.isfinite(conf[idx])]
        k = min(want, len(idx))
        if k < len(idx):
            idx = idx[np.argpartition(-conf[idx], k - 1)[:k]]
        # Highest confidence first; ties keep table order.
        pos = idx[np.lexsort((idx, -conf[idx]))]
        rows = df[cols].iloc[pos]
        rows.insert(0, "row", df.index[pos])
        if dedupe:
            rows = rows.drop_duplicates(subset=[text_col])
        out[cats[i]] = rows.head(n).reset_index(drop=True)
    return out
