"""Sentiment and label dashboards over a prediction table (pure pandas/numpy, no streamlit).

Input is what batch prediction writes: the user's own columns plus ``predicted_label``,
``confidence`` (the largest class probability, 0..1) and one ``p_<class>`` column per class,
optionally a date column and segment columns (channel, product, region, ...).

Everything here is built for tables of up to ~1,000,000 rows:

- dates are parsed once per *distinct* value and broadcast back with integer codes;
- aggregations work on integer codes (categorical codes, period indices) with
  ``np.bincount`` instead of ``groupby`` on strings;
- ``apply_filters`` builds one boolean mask and copies the frame once (or not at all).

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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

MISSING = "(missing)"
OTHER = "(other)"
Period = Literal["D", "W", "M"]

ERROR_COLUMN = "prediction_error"  # written by core.predict; "" where the row was scored
LABEL_COLUMN_CANDIDATES = ("predicted_label", "prediction", "predicted", "pred_label")
CONFIDENCE_COLUMN_CANDIDATES = ("confidence", "predicted_confidence", "score")
PROBA_PREFIX = "p_"

# Plausible range for anything we call a date; values outside are reported as unparseable
# rather than shown as 1970 or year 2400 (a wrong unit guess usually lands out here).
_MIN_DATE = np.datetime64("1900-01-01", "us")
_MAX_DATE = np.datetime64("2200-12-31", "us")


# --------------------------------------------------------------------------------------------
# Column detection
# --------------------------------------------------------------------------------------------


def detect_prediction_columns(df: pd.DataFrame, sample_rows: int = 20_000) -> dict[str, Any]:
    """Guess which columns of a prediction table play which role.

    Returns a dict with
    - ``label``: the predicted-label column (``predicted_label`` if present, else a few common
      names such as ``prediction``) or ``None``;
    - ``confidence``: ``confidence`` (or a close name) if numeric, else ``None``;
    - ``proba``: ``{class: column}`` for the numeric ``p_<class>`` columns, in table order;
    - ``classes``: the class names of ``proba`` (list of str);
    - ``error``: ``prediction_error`` (core.predict's "why this row has no prediction") or None;
    - ``date_candidates``, ``segment_candidates``, ``text_candidates``: lists of column names,
      heuristic suggestions for the page's defaults (checked on the first ``sample_rows`` rows).

    Nothing is modified. Detection is by name and dtype only, plus a parse check on a sample
    for dates, so it takes milliseconds on a million rows.
    """
    columns = list(df.columns)
    label = next((c for c in LABEL_COLUMN_CANDIDATES if c in df.columns), None)
    confidence = next(
        (
            c
            for c in CONFIDENCE_COLUMN_CANDIDATES
            if c in df.columns and pd.api.types.is_numeric_dtype(df[c])
        ),
        None,
    )
    proba = {
        str(c)[len(PROBA_PREFIX):]: c
        for c in columns
        if isinstance(c, str)
        and c.startswith(PROBA_PREFIX)
        and len(c) > len(PROBA_PREFIX)
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    }
    error = ERROR_COLUMN if ERROR_COLUMN in df.columns else None
    reserved = {label, confidence, error, *proba.values()}
    sample = df.head(sample_rows)
    dates: list[str] = []
    segments: list[str] = []
    texts: list[str] = []
    for col in columns:
        if col in reserved:
            continue
        s = sample[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            dates.append(col)
            continue
        name = str(col).lower()
        is_text_like = pd.api.types.is_string_dtype(s) or isinstance(
            s.dtype, pd.CategoricalDtype
        )
        dateish_number = pd.api.types.is_numeric_dtype(s) and re.search(
            r"date|time|created|timestamp", name
        )
        non_null = s.dropna()
        if len(non_null) and (is_text_like or dateish_number):
            _, rep = parse_dates(non_null.head(500))
            if rep.n_parsed >= 0.9 * max(1, rep.n_rows - rep.n_missing):
                dates.append(col)
                continue
        if pd.api.types.is_float_dtype(s):
            continue
        n_unique = s.nunique(dropna=True)
        if is_text_like:
            lengths = s.dropna().astype(str).str.len()
            if len(lengths) and lengths.mean() >= 25 and n_unique > 50:
                texts.append(col)
                continue
        if 2 <= n_unique <= 50:
            segments.append(col)
    return {
        "label": label,
        "confidence": confidence,
        "proba": proba,
        "classes": list(proba),
        "error": error,
        "date_candidates": dates,
        "segment_candidates": segments,
        "text_candidates": texts,
    }


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateParseReport:
    """What :func:`parse_dates` did to a column, for showing to people.

    Counts are rows. ``n_rows == n_parsed + n_missing + n_unparseable`` always holds.
    """

    n_rows: int
    n_parsed: int
    n_missing: int  # empty or NaN in the input
    n_unparseable: int  # non-empty but not understood as a date (left as NaT, never dropped)
    kind: str  # dominant format: iso, day-first, month-first, unix-s, unix-ms, text, ...
    kinds: dict[str, int] = field(default_factory=dict)  # parsed rows per format
    dayfirst: bool | None = None  # order used for numeric d/m/y values; None if none seen
    order_reason: str = ""  # why that order was chosen
    unparseable_examples: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One human sentence or three: what was parsed, how, and what was not."""
        parts = [f"Parsed {self.n_parsed:,} of {self.n_rows:,} dates ({self.kind})."]
        if self.order_reason:
            parts.append(self.order_reason)
        if self.n_unparseable:
            ex = ", ".join(repr(e) for e in self.unparseable_examples[:3])
            parts.append(
                f"{self.n_unparseable:,} value{'s' if self.n_unparseable != 1 else ''} could not"
                f" be read as dates (e.g. {ex})."
            )
        if self.n_missing:
            one = self.n_missing == 1
            parts.append(f"{self.n_missing:,} {'row has' if one else 'rows have'} no date.")
        parts.extend(self.notes)
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for logs and tests)."""
        d = asdict(self)
        d["unparseable_examples"] = list(self.unparseable_examples)
        d["notes"] = list(self.notes)
        d["summary"] = self.summary
        return d


_RE_YMD = r"^\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?(?:$|[T ])"
_RE_DMY = (
    r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([AaPp])\.?[Mm]\.?)?$"
)
# The AM/PM group above sits inside the optional time group, so a time without AM/PM needs its
# own alternative; two patterns keep each readable.
_RE_DMY_24H = (
    r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?$"
)
_RE_UNIX = r"^-?\d{9,19}(?:\.\d+)?$"
_RE_YYYYMMDD = r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$"
_RE_MONTH_NAME = (
    r"(?i)(?:^|[^a-z])(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
    r"(?:$|[^a-z])"
)
_RE_TZ = r"(?:Z|[+-]\d{2}:?\d{2})$"


_UNIX_UNITS = (("s", 1e8, 1e11, 1e6), ("ms", 1e11, 1e14, 1e3), ("us", 1e14, 1e17, 1.0),
               ("ns", 1e17, 1e20, 1e-3))


def _from_unix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[us] and unit name ("unix-s", ...) per number since 1970.

    The unit is chosen per value from its magnitude: 1e8..1e11 seconds (1973-5138),
    1e11..1e14 milliseconds, and so on. Numbers below 1e8 (before 1973 in seconds) are not
    taken for timestamps in marketing data; they and results outside 1900-2200 become NaT.
    """
    values = values.astype(np.float64)
    mag = np.abs(values)
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    kind = np.full(len(values), "", dtype=object)
    lo = _MIN_DATE.astype(np.int64)
    hi = _MAX_DATE.astype(np.int64)
    for unit, low, high, to_us in _UNIX_UNITS:
        us = values * to_us
        ok = (mag >= low) & (mag < high) & np.isfinite(us) & (us >= lo) & (us <= hi)
        out[ok] = np.round(us[ok]).astype(np.int64).astype("datetime64[us]")
        kind[ok] = f"unix-{unit}"
    return out, kind


def _in_range(values: np.ndarray) -> np.ndarray:
    """NaT out everything outside the plausible date window."""
    values = values.astype("datetime64[us]")
    bad = ~np.isnat(values) & ((values < _MIN_DATE) | (values > _MAX_DATE))
    values[bad] = np.datetime64("NaT")
    return values


def _parse_dmy(
    u: pd.Series, dayfirst: bool | None
) -> tuple[np.ndarray, bool, str, str | None]:
    """Parse n/n/yyyy strings; decide day- vs month-first from the values themselves.

    Returns (parsed datetime64[us], dayfirst used, reason, note on contradicting values).
    """
    with_ampm = u.str.extract(_RE_DMY)
    plain = u.str.extract(_RE_DMY_24H)
    parts = with_ampm.where(with_ampm[0].notna(), plain.reindex(columns=with_ampm.columns))
    f1 = parts[0].astype(float).to_numpy()
    f2 = parts[1].astype(float).to_numpy()
    day_ev = (f1 > 12) & (f2 <= 12)  # "13/01/2024" can only be 13 January
    month_ev = (f2 > 12) & (f1 <= 12)  # "01/13/2024" can only be 13 January
    n_day, n_month = int(day_ev.sum()), int(month_ev.sum())
    ex_day = u[day_ev].iloc[0] if n_day else None
    ex_month = u[month_ev].iloc[0] if n_month else None
    note = None
    if dayfirst is not None:
        chosen = bool(dayfirst)
        reason = f"Numeric dates read {'day' if chosen else 'month'}-first (set by the caller)."
        n_against = n_month if chosen else n_day
        if n_against:
            ex = ex_month if chosen else ex_day
            note = (
                f"{n_against} distinct values such as {ex!r} contradict that order and were "
                "left unparsed."
            )
    elif n_day and not n_month:
        chosen = True
        reason = f"Numeric dates read day-first: {ex_day!r} has a first field > 12."
    elif n_month and not n_day:
        chosen = False
        reason = f"Numeric dates read month-first: {ex_month!r} has a second field > 12."
    elif n_day and n_month:
        chosen = n_day >= n_month
        reason = (
            f"Conflicting numeric dates: {n_day} distinct values look day-first (e.g. "
            f"{ex_day!r}), {n_month} month-first (e.g. {ex_month!r}); read "
            f"{'day' if chosen else 'month'}-first, the others are left unparsed."
        )
    else:
        chosen = False
        reason = (
            "Numeric dates are ambiguous (every day and month field is <= 12); assumed "
            "month-first. Choose day-first if that is wrong."
        )
    day = f1 if chosen else f2
    month = f2 if chosen else f1
    year = parts[2].astype(float).to_numpy()
    two_digit = parts[2].str.len().to_numpy() == 2
    # Same pivot as strptime's %y: 00-68 -> 2000s, 69-99 -> 1900s.
    year = np.where(two_digit, np.where(year < 69, 2000 + year, 1900 + year), year)
    hour = parts[3].astype(float).fillna(0).to_numpy()
    minute = parts[4].astype(float).fillna(0).to_numpy()
    second = parts[5].astype(float).fillna(0).to_numpy()
    ampm = parts[6].str.lower().to_numpy()
    is_pm = ampm == "p"
    is_am = ampm == "a"
    has_ampm = is_pm | is_am
    ok = ~(has_ampm & ((hour < 1) | (hour > 12)))
    hour = np.where(is_pm & (hour < 12), hour + 12, hour)
    hour = np.where(is_am & (hour == 12), 0, hour)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59) & (month >= 1) & (month <= 12)
    ok &= (day >= 1) & (day <= 31)
    frame = pd.DataFrame(
        {
            "year": np.where(ok, year, 2000),
            "month": np.where(ok, month, 1),
            "day": np.where(ok, day, 1),
            "hour": np.where(ok, hour, 0),
            "minute": np.where(ok, minute, 0),
            "second": np.where(ok, second, 0),
        }
    ).astype("int64")
    # 31/02 and friends become NaT here.
    parsed = pd.to_datetime(frame, errors="coerce").to_numpy().astype("datetime64[us]")
    parsed[~ok] = np.datetime64("NaT")
    return parsed, chosen, reason, note


def parse_dates(
    series: pd.Series, dayfirst: bool | None = None
) -> tuple[pd.Series, DateParseReport]:
    """Parse a date column robustly; never drop a row.

    Understood formats (a column may mix them; each distinct value is classified):
    - already datetime64 (tz-aware values are converted to UTC and made naive);
    - year-first "ISO" dates: ``2024-01-31``, ``2024/1/31``, ``2024-01``, with optional time
      and timezone offset (offsets are converted to UTC);
    - numeric ``d/m/y`` or ``m/d/y`` (separators ``/ - .``, 2- or 4-digit year, optional
      ``HH:MM[:SS]`` and AM/PM). The order is decided once per column from the values: a value
      whose first field is > 12 proves day-first, one whose second field is > 12 proves
      month-first; if every value is ambiguous (both fields <= 12) month-first is assumed
      unless ``dayfirst`` says otherwise. Values contradicting the chosen order are left
      unparsed and counted, never silently swapped. The report says which order and why;
    - unix timestamps (numbers, or digit strings of >= 9 digits): seconds, milliseconds,
      micro- or nanoseconds, chosen per column from the median magnitude;
    - ``YYYYMMDD`` integers/strings (e.g. 20240131);
    - dates with month names (``Jan 5, 2024``, ``5 March 2024``), via dateutil.

    Anything else, and anything outside 1900-2200, becomes NaT and is counted in
    ``report.n_unparseable`` (empty/NaN input is counted in ``report.n_missing``).

    Args:
        series: any dtype; length n.
        dayfirst: force the order for numeric d/m/y values (None: decide from the values).

    Returns:
        ``(parsed, report)``: ``parsed`` is a naive ``datetime64[us]`` Series with ``series``'s
        index (length n, NaT where missing/unparseable); ``report`` a :class:`DateParseReport`.

    Work is done once per distinct value, so a million rows with a few thousand distinct
    dates take well under a second.
    """
    n = len(series)
    name = series.name
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series):
        values = _in_range(series.to_numpy().astype("datetime64[us]"))
        n_missing = int(series.isna().sum())
        n_parsed = int((~np.isnat(values)).sum())
        report = DateParseReport(
            n_rows=n,
            n_parsed=n_parsed,
            n_missing=n_missing,
            n_unparseable=n - n_parsed - n_missing,
            kind="datetime",
            kinds={"datetime": n_parsed},
        )
        return pd.Series(values, index=series.index, name=name), report

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    n_u = len(uniques)
    parsed_u = np.full(n_u, np.datetime64("NaT"), dtype="datetime64[us]")
    kind_u = np.full(n_u, "", dtype=object)
    missing_u = np.zeros(n_u, dtype=bool)
    order_reason = ""
    chosen_dayfirst: bool | None = None
    notes: list[str] = []

    is_numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if is_numeric:
        vals = np.asarray(uniques, dtype=np.float64)
        finite = np.isfinite(vals)
        missing_u |= ~finite
        v = vals[finite]
        if len(v):
            integral = np.all(v == np.round(v))
            as_text = pd.Series(v.astype(np.int64).astype(str)) if integral else None
            if as_text is not None and as_text.str.fullmatch(_RE_YYYYMMDD).all():
                parsed = pd.to_datetime(as_text, format="%Y%m%d", errors="coerce")
                parsed_u[finite] = parsed.to_numpy().astype("datetime64[us]")
                kind_u[finite] = "yyyymmdd"
            else:
                parsed_u[finite], kind_u[finite] = _from_unix(v)
                if np.all(np.abs(v) < 1e8):
                    notes.append("The numbers are too small to be unix timestamps.")
    else:
        u = pd.Series(uniques, dtype="object").astype(str).str.strip()
        missing_u |= (u == "").to_numpy() | u.str.lower().isin(["nan", "nat", "none"]).to_numpy()
        todo = ~missing_u

        ymd = todo & u.str.contains(_RE_YMD, regex=True).to_numpy()
        if ymd.any():
            s = u[ymd].str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
            s = s.str.replace(r"^(\d{4})/(\d{1,2})$", r"\1-\2", regex=True)
            if s.str.contains(_RE_TZ, regex=True).any():
                notes.append("Timezone offsets were converted to UTC.")
            p = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True).dt.tz_convert(None)
            parsed_u[ymd] = p.to_numpy().astype("datetime64[us]")
            kind_u[ymd] = "iso"
            todo &= ~ymd

        ymd8 = todo & u.str.fullmatch(_RE_YYYYMMDD).to_numpy()
        if ymd8.any():
            p = pd.to_datetime(u[ymd8], format="%Y%m%d", errors="coerce")
            parsed_u[ymd8] = p.to_numpy().astype("datetime64[us]")
            kind_u[ymd8] = "yyyymmdd"
            todo &= ~ymd8

        unix = todo & u.str.fullmatch(_RE_UNIX).to_numpy()
        if unix.any():
            parsed_u[unix], kind_u[unix] = _from_unix(u[unix].astype(float).to_numpy())
            todo &= ~unix

        dmy = todo & (
            u.str.fullmatch(_RE_DMY).to_numpy() | u.str.fullmatch(_RE_DMY_24H).to_numpy()
        )
        if dmy.any():
            p, chosen_dayfirst, order_reason, note = _parse_dmy(u[dmy], dayfirst)
            parsed_u[dmy] = p
            kind_u[dmy] = "day-first" if chosen_dayfirst else "month-first"
            if note:
                notes.append(note)
            todo &= ~dmy

        # Only values naming a month go to dateutil: it would happily read "3" as the 3rd of
        # the current month, which is silently wrong.
        text = todo & u.str.contains(_RE_MONTH_NAME, regex=True).to_numpy()
        text &= u.str.contains(r"\d", regex=True).to_numpy()
        if text.any():
            p = pd.to_datetime(
                u[text],
                format="mixed",
                dayfirst=bool(chosen_dayfirst if dayfirst is None else dayfirst),
                errors="coerce",
                utc=True,
            ).dt.tz_convert(None)
            parsed_u[text] = p.to_numpy().astype("datetime64[us]")
            kind_u[text] = "text"

    parsed_u = _in_range(parsed_u)
    # Broadcast back to rows: code -1 (NaN in the input) picks the trailing NaT.
    values = np.append(parsed_u, np.datetime64("NaT"))[codes]
    counts_u = np.bincount(codes[codes >= 0], minlength=n_u)
    ok_u = ~np.isnat(parsed_u)
    n_parsed = int(counts_u[ok_u].sum())
    n_missing = int((codes < 0).sum() + counts_u[missing_u].sum())
    bad_u = ~ok_u & ~missing_u
    n_unparseable = n - n_parsed - n_missing
    examples = tuple(str(x) for x in pd.Series(uniques, dtype="object")[bad_u].head(5))
    kinds: dict[str, int] = {}
    for k in pd.unique(kind_u[ok_u]):
        kinds[str(k)] = int(counts_u[ok_u & (kind_u == k)].sum())
    kinds = dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
    kind = next(iter(kinds), "none")
    if len(kinds) > 1:
        kind = "mixed: " + ", ".join(kinds)
    report = DateParseReport(
        n_rows=n,
        n_parsed=n_parsed,
        n_missing=n_missing,
        n_unparseable=n_unparseable,
        kind=kind,
        kinds=kinds,
        dayfirst=chosen_dayfirst,
        order_reason=order_reason,
        unparseable_examples=examples,
        notes=tuple(notes),
    )
    return pd.Series(values, index=series.index, name=name), report


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


def _check_period(period: str) -> None:
    if period not in ("D", "W", "M"):
        raise ValueError(f"period must be 'D', 'W' or 'M'; got {period!r}")


def _period_codes(dates: pd.Series, period: str) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Integer period index per row (-1 for NaT) and the start of every period in between.

    The periods form a dense, gap-free range from the first to the last date so that empty
    periods show up as empty instead of being skipped on the time axis.
    """
    _check_period(period)
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
        cats = [_display(c) for c in cats]
    if (codes < 0).any():
        if MISSING in cats:
            codes = np.where(codes < 0, cats.index(MISSING), codes)
        else:
            codes = np.where(codes < 0, len(cats), codes)
            cats.append(MISSING)
    return codes, cats


def _display(value: Any) -> str:
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
        [c in wanted or _display(c) in wanted_str or str(c) in wanted_str for c in cats],
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
            raise ValueError(f"column {col!r} not found; the table has {list(df.columns)}")
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
    when no filter is active. Arguments as in :func:`apply_filters`."""
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


def apply_filters(
    df: pd.DataFrame,
    date_range: tuple[Any, Any] | None = None,
    segment_filters: Mapping[str, Sequence[Any]] | None = None,
    labels: Sequence[Any] | None = None,
    min_confidence: float | None = None,
    *,
    date_col: str | None = None,
    label_col: str = "predicted_label",
    conf_col: str = "confidence",
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``df`` passing every active filter (one boolean mask, at most one copy).

    Args:
        date_range: ``(start, end)``, either may be None. Bounds are anything ``pd.Timestamp``
            accepts; an end without a time of day includes that whole day. Rows without a
            date (NaT) are excluded while a date range is active. Needs ``date_col``.
        segment_filters: ``{column: [allowed values]}``; ``"(missing)"`` selects missing
            values; values also match by their string form. An empty list or None means "no
            filter on this column" (a multiselect left empty).
        labels: allowed predicted labels (empty/None: all).
        min_confidence: keep rows with ``conf_col >= min_confidence``; None or <= 0: no filter.
        columns: copy only these columns. Copying the text column of a million rows costs
            more than every aggregate together, and only :func:`top_examples` needs it (give
            that the full table and ``mask=filter_mask(...)`` instead).

    Returns ``df`` itself when no filter is active and ``columns`` is None, else a filtered
    copy (index kept).
    """
    mask = filter_mask(
        df, date_range, segment_filters, labels, min_confidence,
        date_col=date_col, label_col=label_col, conf_col=conf_col,
    )
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"columns {missing} not found; the table has {list(df.columns)}")
        df = df[list(columns)]
    if mask is None:
        return df
    return df[mask]


# --------------------------------------------------------------------------------------------
# Sentiment
# --------------------------------------------------------------------------------------------

_POSITIVE = {"positive", "pos", "+", "正面", "积极", "好评"}
_NEGATIVE = {"negative", "neg", "-", "负面", "消极", "差评"}
_OTHER_SENTIMENT = {"neutral", "neu", "mixed", "none", "irrelevant", "中性"}


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
    uniq = []
    seen = set()
    for lab in labels:
        if lab is None or (isinstance(lab, float) and math.isnan(lab)) or lab == MISSING:
            continue
        key = str(lab).strip().lower()
        if key not in seen:
            seen.add(key)
            uniq.append((key, lab))
    if len(uniq) < 2:
        return None
    pos = [orig for key, orig in uniq if key in _POSITIVE]
    neg = [orig for key, orig in uniq if key in _NEGATIVE]
    others = [key for key, _ in uniq if key not in _POSITIVE | _NEGATIVE]
    if len(pos) == 1 and len(neg) == 1 and all(k in _OTHER_SENTIMENT for k in others):
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


def net_sentiment(labels: pd.Series | np.ndarray | Sequence[Any], positive: Any, negative: Any
                  ) -> float:
    """(number positive - number negative) / number of rows, in [-1, 1]; NaN for no rows.

    The denominator includes neutral (and any other) rows, like a net promoter score: a
    table that is 90% neutral cannot have a net sentiment beyond +-0.1.
    """
    s = pd.Series(labels) if not isinstance(labels, pd.Series) else labels
    if len(s) == 0:
        return float("nan")
    codes, cats = _codes(s, as_str=False)
    counts = np.bincount(codes, minlength=len(cats))
    return _net_from_counts(counts, cats, positive, negative)


def _net_from_counts(counts: np.ndarray, cats: Sequence[Any], positive: Any, negative: Any,
                     axis: int = -1) -> Any:
    """Net sentiment from counts whose last axis runs over ``cats``."""
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
    for i, c in enumerate(cats):
        if c == value:
            return i
    for i, c in enumerate(cats):  # "1" on the page vs 1 in the data
        if str(c) == str(value):
            return i
    return None


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
    pcodes, starts = _period_codes(df[date_col], period)
    lcodes, cats = _codes(df[label_col], as_str=False)
    counts = _bincount2(pcodes, len(starts), lcodes, len(cats))
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / np.where(total > 0, total, np.nan)
    n_p, n_l = counts.shape
    out = pd.DataFrame(
        {
            "period": np.repeat(starts.to_numpy(), n_l),
            "label": np.tile(np.array(cats, dtype=object), n_p),
            "count": counts.ravel(),
            "total": np.repeat(total.ravel(), n_l),
            "share": share.ravel(),
        }
    )
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
    n_s, n_l = counts.shape
    return pd.DataFrame(
        {
            "segment": np.repeat(np.array(names, dtype=object), n_l),
            "label": np.tile(np.array(lcats, dtype=object), n_s),
            "count": counts.ravel(),
            "segment_total": np.repeat(totals, n_l),
            "share": share.ravel(),
        }
    )


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
    pcodes, starts = _period_codes(df[date_col], period)
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


def _bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out


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
    pcodes, starts = _period_codes(df[date_col], period)
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
        p_adj[tested] = _bh_adjust(p[tested]) if correction == "bh" else np.minimum(
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
# Words and examples
# --------------------------------------------------------------------------------------------

_CJK = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_CJK_RUN = re.compile(_CJK + "+")
_LATIN_WORD = re.compile(r"[^\W\d_]{2,}")
# CJK ideographs count as letters for \w; the Chinese tokeniser's word pattern excludes them.
_NON_CJK_WORD = re.compile(r"(?:(?!" + _CJK + r")[^\W\d_]){2,}")
# Bigrams made only of these function characters carry no meaning ("的了", "一个").
_ZH_STOP_CHARS = set("的了是我你他她它在有这那就也都和与及而着吗吧呢啊个一们")
# Pronoun contractions are as empty as their stop-word parts; negations ("didn't") are kept
# on purpose, they separate negative from positive texts.
_EN_EXTRA_STOP = {"it's", "i'm", "i've", "i'd", "i'll", "that's", "they're", "you're",
                  "we're", "there's", "he's", "she's", "let's", "you've", "we've", "'s"}


def detect_language(texts: Sequence[str], sample: int = 2000) -> Literal["en", "zh", "other"]:
    """"zh" if >= 30% of the letters in a sample are CJK ideographs, "en" if English stop
    words are >= 15% of the words, else "other". Cheap, and only used to pick a tokeniser."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    joined = " ".join(str(t) for t in list(texts)[:sample])
    n_cjk = len(re.findall(_CJK, joined))
    n_letters = len(re.findall(r"[^\W\d_]", joined))
    if n_letters and n_cjk / n_letters >= 0.3:
        return "zh"
    words = re.findall(r"[^\W\d_]+", joined.lower())
    if words and sum(w in ENGLISH_STOP_WORDS for w in words) / len(words) >= 0.15:
        return "en"
    return "other"


def _zh_analyzer(text: str) -> list[str]:
    """Character bigrams inside runs of CJK characters, plus Latin words (lower-cased)."""
    tokens: list[str] = []
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            tokens.append(run)
            continue
        for i in range(len(run) - 1):
            bigram = run[i:i + 2]
            if not (bigram[0] in _ZH_STOP_CHARS and bigram[1] in _ZH_STOP_CHARS):
                tokens.append(bigram)
    tokens.extend(w.lower() for w in _NON_CJK_WORD.findall(text))
    return tokens


def _make_analyzer(language: str) -> Callable[[str], list[str]]:
    if language == "zh":
        return _zh_analyzer
    if language == "en":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = set(ENGLISH_STOP_WORDS) | _EN_EXTRA_STOP
        word = re.compile(r"[^\W\d_](?:[^\W\d_]|'(?=[^\W\d_]))+")

        def analyze(text: str) -> list[str]:
            t = text.lower().replace("\u2019", "'")
            return [w for w in word.findall(t) if w not in stop]

        return analyze
    return lambda text: [w.lower() for w in _LATIN_WORD.findall(text)]


def distinctive_words(
    texts: pd.Series | Sequence[str],
    labels: pd.Series | Sequence[Any],
    top_n: int = 15,
    language: Literal["auto", "en", "zh", "other"] = "auto",
    max_texts: int = 50_000,
    min_count: int = 2,
    prior_scale: float = 1.0,
    random_state: int = 0,
) -> dict[Any, pd.DataFrame]:
    """Words that most distinguish each label's texts from all other texts.

    Method: weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
    Quinn 2008, "Fightin' Words", eq. 22). For label i vs the rest, with word counts y, totals
    n and prior pseudo-counts a_w = prior_scale * (count of w in all sampled texts),
    a0 = sum(a_w)::

        delta_w = log((y_iw + a_w) / (n_i + a0 - y_iw - a_w))
                - log((y_rw + a_w) / (n_r + a0 - y_rw - a_w))
        z_w = delta_w / sqrt(1 / (y_iw + a_w) + 1 / (y_rw + a_w))

    The prior shrinks rare words toward the corpus rate, so a word seen twice cannot top the
    list the way it does with raw log-odds; z accounts for how much evidence there is.

    Tokenisation (``language="auto"`` detects it with :func:`detect_language`):
    - "en": lower-cased words, scikit-learn's English stop words (plus pronoun contractions)
      removed; negations such as "didn't" kept;
    - "zh": character bigrams within runs of Chinese characters (and single characters
      standing alone), plus Latin words. No word segmenter (jieba etc.) is used, to avoid the
      dependency; bigrams catch most two-character words (失望, 满意) at the cost of some
      cross-word pairs;
    - "other": lower-cased words of >= 2 letters, no stop words.

    At most ``max_texts`` texts are used (default 50,000): each label keeps up to an equal
    share of that budget, drawn at random with ``random_state``, so rare labels keep all their
    texts. Empty/missing texts carry no words and are skipped.

    Returns ``{label: DataFrame(word, z_score, count)}`` for every label present, the
    ``top_n`` words with positive z, highest first; ``count`` is the word's count in that
    label's sampled texts (words with fewer than ``min_count`` are skipped). A table with a
    single label has nothing to contrast: its frame is empty. Each frame's
    ``attrs`` hold ``language`` and ``n_texts`` (texts of that label used).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    t = pd.Series(texts).reset_index(drop=True)
    lab = pd.Series(labels).reset_index(drop=True)
    if len(t) != len(lab):
        raise ValueError(f"texts and labels differ in length: {len(t)} vs {len(lab)}")
    ok = t.notna().to_numpy() & lab.notna().to_numpy()
    t, lab = t[ok].astype(str), lab[ok]
    ok = (t.str.strip() != "").to_numpy()
    t, lab = t[ok], lab[ok]
    codes, cats = _codes(lab, as_str=False)
    empty = pd.DataFrame({"word": pd.Series(dtype=object), "z_score": pd.Series(dtype=float),
                          "count": pd.Series(dtype=np.int64)})
    if len(t) == 0:
        return {}
    # Per-label sample: shuffle, rank within label, keep the first `cap` of each label.
    if len(t) > max_texts:
        rng = np.random.default_rng(random_state)
        perm = rng.permutation(len(t))
        rank = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
        cap = math.ceil(max_texts / len(cats))
        sizes = np.bincount(codes, minlength=len(cats))
        # Hand unused budget of small labels to the big ones.
        spare = max_texts - np.minimum(sizes, cap).sum()
        big = sizes > cap
        if big.any() and spare > 0:
            cap = cap + int(spare // big.sum())
        keep = np.sort(perm[rank < cap])
        t, codes = t.iloc[keep], codes[keep]
    lang = detect_language(t.tolist()) if language == "auto" else language
    if lang not in ("en", "zh", "other"):
        raise ValueError(f"language must be 'auto', 'en', 'zh' or 'other'; got {language!r}")
    vec = CountVectorizer(analyzer=_make_analyzer(lang))
    try:
        x = vec.fit_transform(t.tolist())
    except ValueError:  # empty vocabulary: only stop words / digits
        return {c: empty.copy() for c in cats}
    vocab = np.asarray(vec.get_feature_names_out(), dtype=object)
    from scipy import sparse

    onehot = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(cats), len(codes))
    )
    y = np.asarray((onehot @ x).todense(), dtype=np.float64)  # (n_labels, vocab)
    n_texts = np.bincount(codes, minlength=len(cats))
    y_all = y.sum(axis=0)
    a = prior_scale * y_all
    a0 = a.sum()
    n_all = y_all.sum()
    result: dict[Any, pd.DataFrame] = {}
    for i, label in enumerate(cats):
        if n_texts[i] == 0:
            continue
        yi = y[i]
        yr = y_all - yi
        ni, nr = yi.sum(), n_all - yi.sum()
        frame = empty.copy()
        if nr > 0 and ni > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                delta = np.log((yi + a) / (ni + a0 - yi - a)) - np.log(
                    (yr + a) / (nr + a0 - yr - a)
                )
                z = delta / np.sqrt(1.0 / (yi + a) + 1.0 / (yr + a))
            good = (yi >= min_count) & np.isfinite(z) & (z > 0)
            idx = np.flatnonzero(good)
            idx = idx[np.argsort(-z[idx], kind="stable")][:top_n]
            frame = pd.DataFrame(
                {"word": vocab[idx], "z_score": z[idx], "count": yi[idx].astype(np.int64)}
            )
        frame.attrs["language"] = lang
        frame.attrs["n_texts"] = int(n_texts[i])
        result[label] = frame
    return result


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
            raise ValueError(f"column {col!r} not found; the table has {list(df.columns)}")
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
