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
