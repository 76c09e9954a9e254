"""core.data.read_table on Excel workbooks written here with openpyxl, and validate_mapping's
message for a label column that holds ids or free text."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from core import TrainConfig, validate_mapping
from core.reading import read_table, sheet_names


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def formula_text_workbook() -> bytes:
    """One sheet whose text cells start with '=', '+', '@' (stored as text, not formulas)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Ads"
    sheet.append(["text", "clicks", "code", "ctr"])
    for text, clicks, code, ctr in [("=1+1 is not maths here", 12, "007", 0.25), ("@brand love it", 3, "010", 1.5)]:
        sheet.append([None, clicks, code, ctr])
        cell = sheet.cell(row=sheet.max_row, column=1, value=text)
        cell.data_type = "s"  # openpyxl would store a value starting with '=' as a formula
    sheet.append(["+plain", 0, "x", 0.0])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_multi_sheet_workbook_default_sheet_named_and_a_chosen_one():
    data = workbook(
        {
            "Summary": [["what", "value"], ["rows", 2]],
            "Reviews": [["review", "label", "stars"], ["Great fit", "positive", 5], ["Too small", "negative", 1]],
        }
    )
    assert sheet_names(data) == ["Summary", "Reviews"]
    first = read_table(data, "book.xlsx")
    assert first.sheet == "Summary" and first.sheets == ("Summary", "Reviews")
    assert first.frame.to_dict("list") == {"what": ["rows"], "value": [2]}
    assert any("read sheet 'Summary'" in n and "sheets: ['Summary', 'Reviews']" in n for n in first.notes)
    by_columns = read_table(data, "book.xlsx", columns=["review", "label"])  # what the CLI asks for
    assert by_columns.sheet == "Reviews" and any("the first holding the column(s)" in n for n in by_columns.notes)
    reviews = read_table(data, "book.xlsx", sheet="Reviews")
    assert list(reviews.frame.columns) == ["review", "label", "stars"]
    assert reviews.frame["review"].tolist() == ["Great fit", "Too small"]
    assert reviews.frame["stars"].tolist() == [5, 1]
    assert pd.api.types.is_integer_dtype(reviews.frame["stars"])
    assert reviews.describe() == "Excel sheet 'Reviews' (of 2)"


def test_cells_come_back_as_the_users_values():
    frame = read_table(formula_text_workbook(), "ads.xlsx").frame
    assert frame["text"].tolist() == ["=1+1 is not maths here", "@brand love it", "+plain"]
    assert frame["code"].tolist() == ["007", "010", "x"]  # text that looks like a number stays text
    assert frame["clicks"].tolist() == [12, 3, 0] and pd.api.types.is_integer_dtype(frame["clicks"])
    assert frame["ctr"].tolist() == [0.25, 1.5, 0.0] and pd.api.types.is_float_dtype(frame["ctr"])


def test_dates_empty_cells_and_na_text():
    data = workbook(
        {"S": [["text", "when", "note"], ["a", dt.datetime(2024, 3, 1), "NA"], [None, None, None], ["b", None, None]]}
    )
    frame = read_table(data).frame
    assert len(frame) == 2  # the blank row is skipped, as a blank CSV line is
    assert frame["when"].iloc[0] == pd.Timestamp("2024-03-01")
    assert frame["note"].iloc[0] == "NA"  # a cell saying NA is text, not missing
    assert pd.isna(frame["note"].iloc[1])


def test_unknown_sheet_duplicate_header_and_row_limit_are_refused():
    data = workbook({"A": [["text", "text"], ["x", "y"]], "B": [["t"], [1], [2], [3]]})
    with pytest.raises(ValueError, match=r"no sheet named 'C'; its sheets are \['A', 'B'\]"):
        read_table(data, sheet="C")
    with pytest.raises(ValueError, match=r"duplicated name\(s\) \['text'\]"):
        read_table(data, sheet="A")
    with pytest.raises(ValueError, match="more than 2 rows"):
        read_table(data, sheet="B", max_rows=2)
    with pytest.raises(ValueError, match="the limit is"):
        read_table(data, max_bytes=100)


def test_csv_still_read_as_csv_and_xls_gets_a_clear_message():
    loaded = read_table(b"text,label\nhi,1\nbye,0\n", "x.csv")
    assert loaded.sheet is None and loaded.frame["text"].tolist() == ["hi", "bye"]
    assert sheet_names(b"text,label\nhi,1\n") == []
    old_excel = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    with pytest.raises(ValueError, match=r"old Excel 97-2003 workbook \(\.xls\).*\.xlsx.*CSV UTF-8"):
        read_table(old_excel, "old.xls")


def test_a_zip_that_is_not_a_workbook_is_refused_plainly():
    with pytest.raises(ValueError, match="Could not open data.xlsx as an Excel workbook"):
        read_table(b"PK\x03\x04garbage", "data.xlsx")


def test_id_like_label_column_gives_one_error():
    df = pd.DataFrame({"text": [f"review {i}" for i in range(60)], "customer": [f"C{i}" for i in range(60)]})
    report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column="customer"))
    assert len(report.errors) == 1
    assert "60 distinct values in 60 rows" in report.errors[0].message
    assert "looks like an id or free-text column" in report.errors[0].message


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("ids", [list(range(1, 61)), list(range(1000, 1060))[::-1], [3 * i for i in range(60)]])
def test_numeric_id_label_gives_the_id_message_for_both_tasks(task, ids):
    df = pd.DataFrame({"text": [f"review {i}" for i in range(60)], "id": ids})
    report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column="id", task=task))
    assert [p.field for p in report.errors] == ["label_column"]
    assert "looks like an id or free-text column" in report.errors[0].message
    assert f"from {min(ids)} to {max(ids)}, each on one row" in report.errors[0].message
    assert report.suggested_task is None  # not "looks like a quantity: choose regression"


def test_real_regression_targets_are_not_taken_for_ids():
    rng = np.random.default_rng(0)
    n = 60
    revenue = rng.choice(np.arange(100, 100_000), size=n, replace=False)  # whole numbers, one per row
    assert len(set(revenue)) == n and revenue.max() - revenue.min() > 2 * n  # unique but spread wide
    targets = {
        "rating": rng.integers(1, 6, size=n),  # whole numbers 1-5, repeated
        "ctr": rng.uniform(0.01, 0.2, size=n),  # floats
        "revenue": revenue,
        "score": np.arange(n) / 4,  # evenly spaced, but not whole numbers
    }
    df = pd.DataFrame({"text": [f"review {i}" for i in range(n)], **targets})
    for column in targets:
        report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column=column, task="regression"))
        assert report.ok and report.n_rows_used == n, (column, [p.message for p in report.errors])


def test_small_classes_are_one_message_naming_five_and_counting_the_rest():
    labels = ["a"] * 40 + ["b"] * 40 + [f"rare{i}" for i in range(8)]
    df = pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "label": labels})
    report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column="label"))
    messages = [p.message for p in report.errors]
    assert len(messages) == 1, messages
    assert messages[0].startswith("8 classes have fewer than 3 rows: 'rare0' (1), ")
    assert "'rare4' (1) and 3 more." in messages[0] and "'rare5'" not in messages[0]
    assert "looks like an id" not in messages[0]


def test_a_different_label_on_every_row_is_one_id_message_even_in_a_small_file():
    # the formula-cells fault file's shape: 10 rows, 10 customer names as the "label"
    df = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "customer": [f"cust{i}" for i in range(10)]})
    report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column="customer"))
    assert [p.message for p in report.errors] == [
        "Column 'customer' has 10 distinct values in 10 rows (10 of them on fewer than 3 rows); that looks like an "
        "id or free-text column, not a label. Choose the column that holds what the model should learn: a few "
        "categories (e.g. positive/negative) or a quantity such as a rating."
    ]
    four = df.head(4).assign(customer=["a", "b", "c", "d"])  # below 5 rows: too few to call it an id
    assert not any("looks like an id" in p.message for p in validate_mapping(
        four, TrainConfig(text_columns=("text",), label_column="customer")).errors)


def test_rows_left_out_of_regression_are_numbered_from_0_like_issues_csv():
    values = ["1.5", "2", "inf", "3", "x", *[str(i) for i in range(10)]]
    df = pd.DataFrame({"text": [f"t{i}" for i in range(len(values))], "y": values})
    report = validate_mapping(df, TrainConfig(text_columns=("text",), label_column="y", task="regression"))
    messages = " ".join(p.message for p in report.warnings)
    assert "not a finite number (inf)" in messages and "not a number ('x')" in messages
    assert "left out of training: row(s) 2 (0 = the first row after the header)" in messages
    assert "left out of training: row(s) 4 (0 = the first row after the header)" in messages


def test_a_text_column_of_few_short_categories_is_called_out():
    n = 200
    df = pd.DataFrame({
        "job": ["management", "technician", "blue-collar", "admin."] * (n // 4),
        "note": [f"called about the offer, number {i} said maybe later" for i in range(n)],
        "y": ["yes", "no"] * (n // 2),
    })
    only_job = validate_mapping(df, TrainConfig(text_columns=("job",), label_column="y"))
    said = [p.message for p in only_job.warnings if p.field == "text_columns"]
    assert len(said) == 1 and said[0].startswith("'job' hold(s) a few short categories (e.g. ")
    assert "Targeting page" in said[0] and only_job.ok  # a warning: the user may still train on it
    with_text = validate_mapping(df, TrainConfig(text_columns=("note", "job"), label_column="y"))
    assert not [p for p in with_text.warnings if p.field == "text_columns"]  # a real text column beside it
    short_texts = pd.DataFrame({"text": [f"t{i}" for i in range(n)], "y": ["yes", "no"] * (n // 2)})
    assert not [p for p in validate_mapping(short_texts, TrainConfig(text_columns=("text",), label_column="y")).warnings
                if p.field == "text_columns"]  # short, but every row its own: not categories
