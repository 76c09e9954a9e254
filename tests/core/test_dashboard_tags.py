"""The Dashboard's tag view of a multi-label prediction file (core/dashboard_tags.py), counted
against plain Python over the same cells, and drawn on the page."""

import itertools

import numpy as np
import pandas as pd
import pytest

from core.dashboard_tags import NO_TAG, cooccurrence, tag_share_over_time, tag_table

CELLS = ["price|delivery", "price", "", "delivery|quality", None, "price|quality", "quality", "price|delivery"]


def _sets():
    return [set(c.split("|")) if c else set() for c in CELLS]


def test_rows_per_tag_and_rows_without_tags():
    table = tag_table(pd.Series(CELLS)).set_index("tag")
    for tag in ("price", "delivery", "quality"):
        assert table.loc[tag, "rows"] == sum(tag in s for s in _sets())
        assert table.loc[tag, "share"] == pytest.approx(sum(tag in s for s in _sets()) / len(CELLS))
    assert table.loc[NO_TAG, "rows"] == sum(not s for s in _sets())


def test_cooccurrence_counts_rows_with_both_tags():
    matrix = cooccurrence(pd.Series(CELLS))
    for a, b in itertools.product(matrix.columns, repeat=2):
        assert matrix.loc[a, b] == sum(a in s and b in s for s in _sets())


def test_share_over_time_per_week():
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-08", "2024-01-09", "2024-01-10",
                                      None, "2024-01-16", "2024-01-17"]))
    share = tag_share_over_time(pd.Series(CELLS), dates, "W")
    weeks = dates.dt.to_period("W").dt.start_time
    for week in share.index:
        rows = [s for s, w in zip(_sets(), weeks) if w == week]
        assert share.loc[week, "price"] == pytest.approx(np.mean(["price" in s for s in rows]))


def test_the_dashboard_draws_the_tag_charts_for_a_multi_label_file():
    from tests.ui.test_page_dashboard import open_page, set_and_run

    df = pd.DataFrame({"review": [f"text {i}" for i in range(40)],
                       "created": pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d"),
                       "predicted_labels": (CELLS * 5)})
    df["predicted_labels"] = df["predicted_labels"].fillna("")
    for tag in ("delivery", "price", "quality"):
        df[f"p_{tag}"] = df["predicted_labels"].str.contains(tag).astype(float)
    df["prediction_error"] = ""
    at = open_page()
    set_and_run(at, "radio", "dash_source", "upload")
    at.file_uploader(key="dash_upload").set_value(("tags.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    titles = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Rows per tag" in titles and "Tags that occur together" in titles and "per tag over time" in titles
