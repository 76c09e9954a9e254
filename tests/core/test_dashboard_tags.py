"""The Dashboard's tag view of a multi-label prediction file (core/dashboard_tags.py), counted
against plain Python over the same cells, and drawn on the page."""

import itertools
import json

import pandas as pd
import pytest

from core.dashboard_tags import NO_TAG, cooccurrence, tag_table

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


def _frame(n_copies: int = 5) -> pd.DataFrame:
    cells = [c or "" for c in CELLS] * n_copies
    return pd.DataFrame({"review": [f"text {i}" for i in range(len(cells))],
                         "created": pd.date_range("2024-01-01", periods=len(cells), freq="D"),
                         "channel": [["web", "app", "store"][i % 3] for i in range(len(cells))],
                         "predicted_labels": cells})


def _view(df: pd.DataFrame, labels: tuple[str, ...] = ()):
    from core.dashboard_view import ColumnMap, Filters, compute_view, prepare_dashboard

    columns = ColumnMap(label="predicted_labels", date="created", segments=("channel",), text="review")
    prepared = prepare_dashboard(df, columns)
    return prepared, compute_view(prepared, columns, Filters(labels=labels), "W", "channel", "price")


def test_the_main_numbers_count_each_tag_in_every_row_that_carries_it():
    df = _frame()
    sets = [set(c.split("|")) if c else set() for c in df["predicted_labels"]]
    prepared, view = _view(df)
    assert prepared.labels[:3] == ["price", "delivery", "quality"] and NO_TAG in prepared.labels
    assert not any("|" in lab for lab in prepared.labels)  # never a combination
    for tag in ("price", "delivery", "quality"):  # KPI cards: rows carrying the tag, share of all rows
        assert view.kpis["label_counts"][tag] == sum(tag in s for s in sets)
        assert view.kpis["label_shares"][tag] == pytest.approx(sum(tag in s for s in sets) / len(df))
    weeks = df["created"].dt.to_period("W").dt.start_time
    for row in view.share.itertuples():  # over time: rows of the week carrying the tag / rows of the week
        rows = [s for s, w in zip(sets, weeks) if w == row.period]
        assert (row.count, row.total) == (sum(row.label in s for s in rows), len(rows))
    for row in view.mix.itertuples():  # by segment: the same per channel
        rows = [s for s, c in zip(sets, df["channel"]) if c == row.segment]
        assert row.share == pytest.approx(sum(row.label in s for s in rows) / len(rows))
    assert set(view.examples) == {"price", "delivery", "quality"}


def test_the_heatmap_shows_pairs_with_the_diagonal_left_blank_and_counts_written():
    import numpy as np

    from core.dashboard_tags import cooccurrence_chart

    matrix = cooccurrence(pd.Series(CELLS))
    trace = cooccurrence_chart(matrix).data[0]
    z = np.asarray(trace.z, dtype=float)
    for i, a in enumerate(matrix.index):
        for j, b in enumerate(matrix.columns):
            if i == j:
                assert np.isnan(z[i, j])  # a tag with itself: its rows are the bar chart's
            else:
                assert z[i, j] == sum(a in s and b in s for s in _sets())
    assert trace.texttemplate  # the counts are written in the cells


def test_a_filter_on_tags_is_said_as_tags():
    from core.dashboard_view import Filters

    assert Filters(labels=("fear",), tags=True).describe() == ["Tags: fear"]
    assert Filters(labels=("fear",)).describe() == ["Labels: fear"]


def test_the_tag_filter_keeps_rows_carrying_any_chosen_tag():
    df = _frame()
    sets = [set(c.split("|")) if c else set() for c in df["predicted_labels"]]
    _, view = _view(df, ("delivery", NO_TAG))
    assert view.mask.tolist() == ["delivery" in s or not s for s in sets]
    assert view.kpis["label_counts"]["price"] == sum("price" in s and ("delivery" in s or not s) for s in sets)


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
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = " ".join(str(f["layout"].get("title", {}).get("text")) for f in specs)
    assert "Rows per tag" in titles and "Tags that occur together" in titles and "Share of each tag" in titles
    share = next(f for f in specs if str(f["layout"].get("title", {}).get("text")).startswith("Share of each tag"))
    assert sorted(t["name"] for t in share["data"]) == ["delivery", "price", "quality"]  # one line per tag, no combination
    assert "counts in the bar of `price` and in the bar of `delivery`" in " ".join(c.value for c in at.caption)
    cards = {m.label: m.value for m in at.metric}
    price = sum("price" in (c or "") for c in CELLS) / len(CELLS)
    assert cards["Share price"] == f"{price:.1%}"
    at.multiselect(key="dash_f_labels").set_value(["delivery"]).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Filtered: Tags: delivery" in [c.value for c in at.caption]


def test_the_words_chart_is_titled_per_tag_for_tags_and_per_label_otherwise():
    from core.dashboard_view import ColumnMap, prepare_dashboard, words_figure

    df = _frame()
    words = {"price": pd.DataFrame({"word": ["cheap"], "z_score": [2.0], "count": [3]})}
    prepared, _ = _view(df)
    assert words_figure(words, prepared, ColumnMap(label="predicted_labels")).layout.title.text.endswith("per tag")
    single = df.assign(label=df["predicted_labels"].str.split("|").str[0].replace("", "none"))
    columns = ColumnMap(label="label", date="created", segments=("channel",), text="review")
    assert words_figure(words, prepare_dashboard(single, columns), columns).layout.title.text.endswith("per label")
