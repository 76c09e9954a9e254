"""Several tags per row, counted as rows carrying each tag (a row with two tags counts for both):
the Dashboard's distinctive words per tag (rows carrying the tag vs the rows not carrying it), its
breakdown by a column of tag lists, the Train and Predict charts of rows per tag, and the note of a
sheet's title block. Truths: plain Python counts over the cells the test writes."""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd
import pytest

FILLER = ["coffee", "market", "order", "store", "street", "ticket"]
# (tags, signature words): no English stop word anywhere, so the tokens are the text's words.
KINDS = [("joy", "sunny bright")] * 12 + [("surprise", "wow sudden")] * 8 + [("joy|surprise", "sunny wow")] * 7 \
    + [("anger", "rage loud")] * 10 + [("love", "heart warm")] * 6 + [("sadness", "tears grey")] * 5 \
    + [("fear", "dark shaky")] * 5 + [("pride", "medal proud")] * 5 \
    + [("neutral", "plain plain"), ("grief", "loss loss"), ("relief", "phew phew")]


def _frame() -> pd.DataFrame:
    texts = [f"{words} {FILLER[i % 6]} {FILLER[(i * 5 + 1) % 6]}" for i, (_, words) in enumerate(KINDS)]
    tags = [t for t, _ in KINDS]
    return pd.DataFrame({"text": texts, "predicted_labels": tags,
                         "labels": [t if i % 4 else t.split("|")[0] for i, t in enumerate(tags)],  # ground truth
                         "channel": [["web", "app"][i % 2] for i in range(len(tags))]})


def _prepared():
    from core.dashboard_view import ColumnMap, prepare_dashboard

    columns = ColumnMap(label="predicted_labels", text="text", segments=("labels", "channel"))
    return prepare_dashboard(_frame(), columns), columns


def test_each_tags_words_are_its_rows_against_the_rows_not_carrying_it():
    from core.dashboard_view import WORDS_MIN_ROWS, words_figure, words_for, words_panels

    df = _frame()
    sets = [set(t.split("|")) for t in df["predicted_labels"]]
    prepared, columns = _prepared()
    words = words_for(prepared, columns, None)
    drawn, caption = words_panels(words, prepared)
    rows = Counter(t for s in sets for t in s)
    assert set(drawn) == {t for t, n in rows.items() if n >= WORDS_MIN_ROWS} and "surprise" in drawn and len(drawn) == 7
    for tag in ("neutral", "grief", "relief"):  # one row each: named, not drawn as empty axes
        assert f"{tag} (1 row)" in caption
    titles = [a.text for a in words_figure(drawn, prepared, columns).layout.annotations]
    assert sorted(titles) == sorted(drawn)  # a panel for every tag with enough rows
    every = Counter(w for text in df["text"] for w in text.split())
    a0 = sum(every.values())
    for tag, frame in drawn.items():
        assert frame.attrs["n_texts"] == rows[tag]
        inside = Counter(w for text, s in zip(df["text"], sets) if tag in s for w in text.split())
        rest = Counter(w for text, s in zip(df["text"], sets) if tag not in s for w in text.split())
        assert len(frame) and frame["count"].tolist() == [inside[w] for w in frame["word"]]
        ni, nr = sum(inside.values()), sum(rest.values())
        for word, z in zip(frame["word"], frame["z_score"]):  # Monroe et al. (2008) eq. 22 on the test's counts
            yi, yr, a = inside[word], rest[word], every[word]
            delta = math.log((yi + a) / (ni + a0 - yi - a)) - math.log((yr + a) / (nr + a0 - yr - a))
            assert z == pytest.approx(delta / math.sqrt(1 / (yi + a) + 1 / (yr + a)))
    assert {"sunny", "wow"} <= set(drawn["joy"]["word"]) and "wow" in set(drawn["surprise"]["word"])


def test_a_breakdown_by_a_column_of_tag_lists_counts_each_row_under_each_tag():
    from core.dashboard_view import Filters, compute_view

    df = _frame()
    prepared, columns = _prepared()
    assert prepared.list_segments == {"labels": "|"}
    assert prepared.breakdown_options(columns.segments) == ["channel", "labels"]  # never preset to the tag lists
    mix = compute_view(prepared, columns, Filters(), None, "labels").mix
    truth = [set(t.split("|")) for t in df["labels"]]
    predicted = [set(t.split("|")) for t in df["predicted_labels"]]
    assert not any("|" in s for s in mix["segment"])
    assert set(mix["segment"]) == {t for s in truth for t in s}
    for row in mix.itertuples():
        carrying = [p for t, p in zip(truth, predicted) if row.segment in t]
        assert (row.segment_total, row.count) == (len(carrying), sum(row.label in p for p in carrying))
    # One predicted label per row, the same ground-truth tag lists: split alike.
    from core.dashboard_view import ColumnMap, prepare_dashboard

    single = df.assign(label=df["predicted_labels"].str.split("|").str[0])
    columns = ColumnMap(label="label", text="text", segments=("labels", "channel"))
    mix = compute_view(prepare_dashboard(single, columns), columns, Filters(), None, "labels").mix
    assert set(mix["segment"]) == {t for s in truth for t in s}
    for row in mix.itertuples():
        carrying = [lab for t, lab in zip(truth, single["label"]) if row.segment in t]
        assert (row.segment_total, row.count) == (len(carrying), sum(lab == row.label for lab in carrying))


def test_the_segment_filter_of_a_column_of_tag_lists_offers_each_tag_and_keeps_rows_carrying_one():
    from core.dashboard_view import ColumnMap, Filters, compute_view, prepare_dashboard

    df = _frame()
    truth = [set(t.split("|")) for t in df["labels"]]
    assert any(len(s) > 1 for s in truth)  # the column has combinations ("joy|surprise")
    for columns in (ColumnMap(label="predicted_labels", text="text", segments=("labels", "channel")),  # tags
                    ColumnMap(label="label", text="text", segments=("labels", "channel"))):  # one label per row
        frame = df.assign(label=df["predicted_labels"].str.split("|").str[0])
        prepared = prepare_dashboard(frame, columns)
        assert prepared.segment_values["labels"] == sorted({t for s in truth for t in s})  # each tag, no "a|b"
        assert prepared.segment_values["channel"] == ["app", "web"]  # a plain column as before
        filters = Filters(segments=(("labels", ("surprise", "fear")), ("channel", ("web",))),
                          tag_segments=tuple(prepared.list_segments.items()))
        view = compute_view(prepared, columns, filters, None, None)
        expected = [bool(s & {"surprise", "fear"}) and c == "web" for s, c in zip(truth, df["channel"])]
        assert view.mask.tolist() == expected and view.n_rows == sum(expected)


def test_train_and_predict_charts_count_rows_carrying_each_tag():
    from core.charts.evaluation import label_distribution_chart
    from core.charts.predict import prediction_distribution

    sets = [set(t.split("|")) for t in _frame()["predicted_labels"]]
    counts = dict(Counter(t for s in sets for t in s).most_common())
    train = label_distribution_chart(counts, n_rows=len(sets))
    assert list(train.data[0].customdata) == pytest.approx([counts[t] / len(sets) for t in train.data[0].x])
    assert sum(train.data[0].customdata) > 1 and "carrying" in train.layout.yaxis.title.text
    predict = prediction_distribution({**counts, "": 2}, sorted(counts), n_rows=len(sets) + 2)
    assert list(predict.data[0].customdata) == pytest.approx(
        [counts[t] / (len(sets) + 2) for t in sorted(counts)] + [2 / (len(sets) + 2)])
    assert "tag" in predict.layout.yaxis.title.text
    single = label_distribution_chart({"a": 3, "b": 1})  # one label per row: shares of all bars, as before
    assert list(single.data[0].customdata) == [0.75, 0.25] and single.layout.yaxis.title.text == "Rows"


def test_a_title_blocks_note_counts_the_blank_row_above_the_header():
    from core.reading import read_table
    from tests.core.test_faults import review_rows, xlsx_bytes

    data = xlsx_bytes([["Quarterly review export"], ["Exported 2024-07-01"], [], ["text", "label"], *review_rows(6)])
    note = read_table(data, "export.xlsx").describe()
    assert "header read from row 4" in note and "the 3 row(s) above it" in note
