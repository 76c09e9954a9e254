"""Parse a date column as people type it: ISO, day-first or month-first, unix seconds/ms,
month names, mixed in one column; never drop a row, and say what was done
(:class:`DateParseReport`). Pure pandas/numpy; used by the dashboard and its column guessing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Plausible range for anything we call a date; values outside are reported as unparseable
# rather than shown as 1970 or year 2400 (a wrong unit guess usually lands out here).
_MIN_DATE = np.datetime64("1900-01-01", "us")
_MAX_DATE = np.datetime64("2200-12-31", "us")


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


# Excel's 1900 date system: serial day numbers counted from 1899-12-30 (Excel counts 1900-02-29,
# a day that never was, so from 1900-03-01 on this epoch gives Excel's dates). Numbers in this
# range read as serials: 1954-09-08 .. 2119-01-10, far below any unix timestamp (1e8 s is 1973).
EXCEL_EPOCH = np.datetime64("1899-12-30", "us")
EXCEL_SERIALS = (20_000, 80_000)
EXCEL_NOTE = ("Numbers read as Excel serial dates (1900 date system, as Excel stores them: 45292 = 2024-01-01); "
              "format the column as dates in Excel, or export dates as text, to see them as dates in the file.")


def _from_excel(values: np.ndarray) -> np.ndarray:
    """datetime64[us] of Excel serial day numbers (fractions: the time of day)."""
    us = np.round(values.astype(np.float64) * 86_400_000_000).astype(np.int64)
    return EXCEL_EPOCH + us.astype("timedelta64[us]")


def _excel_serials(values: np.ndarray) -> bool:
    """True when every value is a plausible Excel serial date (see EXCEL_SERIALS)."""
    return len(values) > 0 and bool(np.all((values >= EXCEL_SERIALS[0]) & (values <= EXCEL_SERIALS[1])))


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
    - Excel serial day numbers (1900 date system, 45292 = 2024-01-01), when every number of the
      column lies in EXCEL_SERIALS; a note says so;
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
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series):
        return _already_dates(series)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    is_numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    found = _parse_numbers(uniques) if is_numeric else _parse_strings(uniques, dayfirst)
    return _broadcast(series, codes, uniques, found)


def _already_dates(series: pd.Series) -> tuple[pd.Series, DateParseReport]:
    """A datetime64 column: only the range check (1900-2200) applies."""
    n = len(series)
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
    return pd.Series(values, index=series.index, name=series.name), report


@dataclass
class _Found:
    """What was read from each distinct value (arrays in the order of ``pd.factorize``'s uniques)."""

    parsed: np.ndarray  # datetime64[us], NaT where not read
    kind: np.ndarray  # "iso", "day-first", ... ("" where not read)
    missing: np.ndarray  # bool: empty, NaN, "none"
    notes: list[str] = field(default_factory=list)
    dayfirst: bool | None = None
    order_reason: str = ""

    @classmethod
    def empty(cls, n: int) -> _Found:
        return cls(np.full(n, np.datetime64("NaT"), dtype="datetime64[us]"), np.full(n, "", dtype=object),
                   np.zeros(n, dtype=bool))


def _parse_numbers(uniques: Any) -> _Found:
    """Numbers: YYYYMMDD, Excel serial days or unix timestamps, one reading for the column."""
    found = _Found.empty(len(uniques))
    parsed_u, kind_u, missing_u, notes = found.parsed, found.kind, found.missing, found.notes
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
        elif _excel_serials(v):
            parsed_u[finite], kind_u[finite] = _from_excel(v), "excel-serial"
            notes.append(EXCEL_NOTE)
        else:
            parsed_u[finite], kind_u[finite] = _from_unix(v)
            if np.all(np.abs(v) < 1e8):
                notes.append("The numbers are too small to be unix timestamps.")
    return found


def _parse_strings(uniques: Any, dayfirst: bool | None) -> _Found:
    """Text values, each classified: ISO, Excel serial, YYYYMMDD, unix, d/m/y or m/d/y (one order
    per column), then month names through dateutil."""
    found = _Found.empty(len(uniques))
    parsed_u, kind_u, missing_u, notes = found.parsed, found.kind, found.missing, found.notes
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

    serial = todo & u.str.fullmatch(r"\d{5}(?:\.\d+)?").to_numpy()
    if serial.any() and serial.sum() == todo.sum() and _excel_serials(u[serial].astype(float).to_numpy()):
        parsed_u[serial] = _from_excel(u[serial].astype(float).to_numpy())
        kind_u[serial] = "excel-serial"
        notes.append(EXCEL_NOTE)
        todo &= ~serial

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
        p, found.dayfirst, found.order_reason, note = _parse_dmy(u[dmy], dayfirst)
        parsed_u[dmy] = p
        kind_u[dmy] = "day-first" if found.dayfirst else "month-first"
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
            dayfirst=bool(found.dayfirst if dayfirst is None else dayfirst),
            errors="coerce",
            utc=True,
        ).dt.tz_convert(None)
        parsed_u[text] = p.to_numpy().astype("datetime64[us]")
        kind_u[text] = "text"
    return found


def _broadcast(series: pd.Series, codes: np.ndarray, uniques: Any, found: _Found) -> tuple[pd.Series, DateParseReport]:
    """Per-row values and the report from what was read per distinct value."""
    n, n_u = len(series), len(uniques)
    missing_u, kind_u = found.missing, found.kind
    parsed_u = _in_range(found.parsed)
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
        dayfirst=found.dayfirst,
        order_reason=found.order_reason,
        unparseable_examples=examples,
        notes=tuple(found.notes),
    )
    return pd.Series(values, index=series.index, name=series.name), report
