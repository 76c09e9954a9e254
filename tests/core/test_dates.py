"""Tests for core.dates: parse_dates reads every format a date column comes in, never drops a row."""

from __future__ import annotations

import pandas as pd

from core.dates import parse_dates


def test_parse_dates_day_first_proved_by_value():
    s = pd.Series(["13/01/2024", "02/03/2024", "05.04.2024"])
    parsed, rep = parse_dates(s)
    assert list(parsed) == [pd.Timestamp("2024-01-13"), pd.Timestamp("2024-03-02"),
                            pd.Timestamp("2024-04-05")]
    assert rep.dayfirst is True
    assert "13/01/2024" in rep.order_reason
    assert rep.kind == "day-first"


def test_parse_dates_month_first_proved_by_value():
    s = pd.Series(["01/13/2024", "02/03/2024 10:30 PM", "12/31/24"])
    parsed, rep = parse_dates(s)
    assert list(parsed) == [pd.Timestamp("2024-01-13"), pd.Timestamp("2024-02-03 22:30"),
                            pd.Timestamp("2024-12-31")]
    assert rep.dayfirst is False
    assert "01/13/2024" in rep.order_reason


def test_parse_dates_ambiguous_defaults_month_first_and_says_so():
    s = pd.Series(["02/03/2024", "04/05/2024"])
    parsed, rep = parse_dates(s)
    assert parsed.iloc[0] == pd.Timestamp("2024-02-03")
    assert rep.dayfirst is False and "ambiguous" in rep.order_reason
    forced, rep2 = parse_dates(s, dayfirst=True)
    assert forced.iloc[0] == pd.Timestamp("2024-03-02")
    assert rep2.dayfirst is True and "caller" in rep2.order_reason


def test_parse_dates_contradicting_values_counted_not_swapped():
    # Day-first proved by 13/01; "01/14/2024" cannot be day-first and must not be swapped.
    s = pd.Series(["13/01/2024", "25/01/2024", "01/14/2024"])
    parsed, rep = parse_dates(s)
    assert pd.isna(parsed.iloc[2])
    assert rep.n_unparseable == 1 and rep.n_parsed == 2
    assert "Conflicting" in rep.order_reason


def test_parse_dates_unix_seconds_and_milliseconds():
    secs = pd.Series([1_700_000_000, 1_700_086_400, None], dtype="float64")
    parsed, rep = parse_dates(secs)
    assert parsed.iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert parsed.iloc[1] - parsed.iloc[0] == pd.Timedelta(days=1)
    assert rep.kind == "unix-s" and rep.n_missing == 1
    ms = pd.Series(["1700000000000", "1700000000500"])
    parsed_ms, rep_ms = parse_dates(ms)
    assert parsed_ms.iloc[1] == pd.Timestamp("2023-11-14 22:13:20.500")
    assert rep_ms.kind == "unix-ms"


def test_parse_dates_iso_with_offset_to_utc_and_yyyymmdd():
    parsed, rep = parse_dates(pd.Series(["2024-01-31T10:00:00+02:00", "2024/2/1"]))
    assert list(parsed) == [pd.Timestamp("2024-01-31 08:00"), pd.Timestamp("2024-02-01")]
    assert any("UTC" in n for n in rep.notes)
    parsed8, rep8 = parse_dates(pd.Series([20240105, 20241231]))
    assert parsed8.iloc[1] == pd.Timestamp("2024-12-31") and rep8.kind == "yyyymmdd"


def test_parse_dates_counts_unparseable_and_missing_keeps_rows():
    s = pd.Series(["2024-01-01", "", None, "soon", "31/02/2024", "3", "Jan 5, 2024"],
                  index=[10, 11, 12, 13, 14, 15, 16])
    parsed, rep = parse_dates(s)
    assert len(parsed) == len(s) and list(parsed.index) == list(s.index)
    assert rep.n_missing == 2  # "" and None
    assert rep.n_unparseable == 3  # "soon", 31 February, a bare "3"
    assert rep.n_parsed == 2
    assert rep.n_parsed + rep.n_missing + rep.n_unparseable == rep.n_rows
    assert "soon" in rep.unparseable_examples
    assert "could not be read" in rep.summary
    assert parsed.loc[16] == pd.Timestamp("2024-01-05")


def test_parse_dates_repeated_values_are_broadcast():
    s = pd.Series(["05/03/2024", "20/03/2024"] * 1000)
    parsed, rep = parse_dates(s)
    assert rep.n_parsed == 2000
    assert parsed.iloc[1998] == pd.Timestamp("2024-03-05")
