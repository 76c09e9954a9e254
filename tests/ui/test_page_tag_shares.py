"""The Train page's label chart for several tags per row: rows carrying each tag and their share of
rows (a row with two tags counts in both bars), the axis and the caption saying so. Truth: plain
Python counts over the label cells the test writes."""

from __future__ import annotations

from collections import Counter

import pytest

from core.multilabel import ROWS_PER_TAG_NOTE
from tests.core.test_tag_words_and_shares import _frame
from tests.ui.test_faults_pages import assert_clean
from tests.ui.test_page_train import figures, open_train, texts
from tests.ui.test_page_train_data import put


def test_the_train_chart_counts_rows_carrying_each_tag():
    df = _frame()[["text", "labels"]]
    at = put(open_train(), "tags.csv", df.to_csv(index=False).encode())
    assert_clean(at)
    assert at.checkbox(key="train_multi_label").value  # ticked for the user: the column holds tag lists
    charts = [f for f in figures(at) if str(f["layout"].get("title", {}).get("text", "")).startswith("Rows carrying")]
    assert charts, "no chart of rows per tag"
    bar = charts[0]["data"][0]
    counts = Counter(t for cell in df["labels"] for t in cell.split("|"))
    assert dict(zip(bar["x"], bar["y"])) == dict(counts)
    assert list(bar["customdata"]) == pytest.approx([counts[t] / len(df) for t in bar["x"]])  # shares of rows
    assert sum(bar["customdata"]) > 1 and charts[0]["layout"]["yaxis"]["title"]["text"] == "Rows carrying the tag"
    assert ROWS_PER_TAG_NOTE.format(n=len(df)) in texts(at.caption)


def test_the_dashboard_never_presets_the_breakdown_to_a_column_of_tag_lists():
    from tests.ui.test_page_dashboard import open_page, set_and_run

    df = _frame()
    at = open_page()
    set_and_run(at, "radio", "dash_source", "upload")
    at.file_uploader(key="dash_upload").set_value(("tags.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    assert_clean(at)
    box = at.selectbox(key="dash_breakdown")
    assert "labels" in box.options and box.value != "labels"
    box.set_value("labels").run()  # chosen: split into its tags, and said so
    assert_clean(at)
    assert "'labels' holds several tags per row: it is split into its tags" in texts(at.caption)


def test_unticking_several_tags_per_row_is_refused_once_in_the_pages_words():
    """walk-e: unticked, the page no longer says "ticked for you", and the finding is said once
    (core.data's warning of it, which names the CLI's flag, is left out of the page); issue 27
    walk: unticked on tag lists, training combinations is refused (as `train --no-multi-label`)."""
    df = _frame()[["text", "labels"]]
    at = put(open_train(), "tags.csv", df.to_csv(index=False).encode())
    assert "The box below was ticked for you" in texts(at.info)
    at.checkbox(key="train_multi_label").uncheck().run()
    assert_clean(at)
    shown = texts(at.info) + "\n" + texts(at.warning) + "\n" + texts(at.error)
    assert "ticked for you" not in shown and "--multi-label" not in shown
    assert shown.count("holds several tags per row") == 1 and "is refused" in texts(at.error)
    assert at.button(key="train_start").disabled
    at.checkbox(key="train_multi_label").check().run()
    assert_clean(at)
    assert "The box below is ticked" in texts(at.info) and "ticked for you" not in texts(at.info)


def test_unticked_the_chart_and_the_row_count_do_not_call_the_joined_values_classes():
    """Walk: unticked on tag lists (training refused, naming the joined values), the label chart drew
    each joined combination as a class and the line under it said "All N rows are usable"."""
    df = _frame()[["text", "labels"]]
    at = put(open_train(), "tags.csv", df.to_csv(index=False).encode())
    at.checkbox(key="train_multi_label").uncheck().run()
    assert_clean(at)
    assert "is refused" in texts(at.error)
    joined = {cell for cell in df["labels"] if "|" in cell}
    assert joined  # the truth: the file's cells that join tags
    drawn = {str(x) for f in figures(at) for trace in f["data"] for x in trace.get("x", [])}
    assert not drawn & joined, drawn & joined
    captions = texts(at.caption)
    assert "rows are usable" not in captions
    assert (f"No classes are counted: while some labels join several tags, the {len(df):,} rows cannot be used as one "
            "class each. Tick **Several tags per row (multi-label)** above") in captions, captions
    at.checkbox(key="train_multi_label").check().run()  # ticked again: the rows per tag and the count are back
    assert f"All {len(df):,} rows are usable." in texts(at.caption) and "No classes are counted" not in texts(at.caption)
