"""How a file was read is said alike on the Train and Predict pages (ui.upload.how_read_line over
core.reading's describe(): the sheet, a title block skipped, repeated header rows dropped), and the
Train page's "Header row" box shows the row the header was found in, numbered as the note numbers it.
Truths: the rows as written by the test (openpyxl's own sheet, the CSV's own lines)."""

from __future__ import annotations

import io

import pandas as pd

from core.reading import read_table
from tests.core.test_faults import review_rows, xlsx_bytes
from tests.ui.test_faults_pages import assert_clean, everything_shown, predict_page
from tests.ui.test_page_train import open_train, texts
from tests.ui.test_page_train_data import put


def _titled_workbook(n: int = 8) -> tuple[bytes, int]:
    """A sheet with a title block above its header; (bytes, the header's row as Excel numbers it)."""
    sheet = [["Quarterly review export"], ["Exported 2024-07-01"], [], ["text", "label"], *review_rows(n)]
    return xlsx_bytes(sheet), _excel_row_of(xlsx_bytes(sheet), ["text", "label"])


def _excel_row_of(data: bytes, header: list[str]) -> int:
    """The 1-based row openpyxl numbers the header in (as Excel shows it)."""
    from openpyxl import load_workbook

    for number, row in enumerate(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True), start=1):
        if [c for c in row if c is not None] == header:
            return number
    raise AssertionError("header not written")


def _joined_csv(n: int = 12) -> tuple[bytes, int]:
    """Two exports joined: the header again inside the file; (bytes, the repeated header's line number)."""
    rows = review_rows(n)
    lines = ["text,label", *[f'"{t}",{lab}' for t, lab in rows[: n // 2]], "text,label",
             *[f'"{t}",{lab}' for t, lab in rows[n // 2:]]]
    return ("\n".join(lines) + "\n").encode(), lines.index("text,label", 1) + 1


def test_the_header_row_box_shows_the_row_the_note_names(models_dir):
    data, header_at = _titled_workbook()
    at = put(open_train(), "export.xlsx", data)
    assert_clean(at)
    assert header_at == 4 and at.number_input(key="train_upload_header_row").value == header_at
    line = next(m for m in texts(at.markdown).splitlines() if m.startswith("**export.xlsx**"))
    assert f"header read from row {header_at} of sheet 'Export'" in line
    assert f"the {header_at - 1} row(s) above it" in line  # the title, the "exported" line and the blank row
    assert at.session_state["train_data"].frame.columns.tolist() == ["text", "label"]
    at.number_input(key="train_upload_header_row").set_value(header_at + 1).run()  # a person's choice is kept
    assert_clean(at)
    assert at.number_input(key="train_upload_header_row").value == header_at + 1
    assert at.session_state["train_data"].frame.columns.tolist() == [str(c) for c in review_rows(8)[0]]
    at.number_input(key="train_upload_header_row").set_value(None).run()  # cleared: found again
    assert at.number_input(key="train_upload_header_row").value == header_at


def test_predict_says_how_a_joined_export_was_read_as_train_does(models_dir, trained_tiny):
    data, repeated_at = _joined_csv()
    expected = read_table(data, "joined.csv").describe()  # the one reading module's words
    assert f"repeated header row(s) dropped (line {repeated_at})" in expected
    train = put(open_train(), "joined.csv", data)
    line = f"**joined.csv** · {len(review_rows(12))} rows · 2 columns · {expected}"  # the same words on both pages
    assert line in texts(train.markdown)
    at = predict_page(models_dir, trained_tiny[1], "joined.csv", data)
    assert line in texts(at.caption)


def test_predict_says_which_sheet_and_header_row_it_read(models_dir, trained_tiny):
    data, header_at = _titled_workbook()
    at = predict_page(models_dir, trained_tiny[1], "export.xlsx", data)
    assert f"header read from row {header_at} of sheet 'Export'" in texts(at.caption)
    assert at.number_input(key="predict_upload_header_row").value == header_at


def test_the_dashboard_says_how_a_joined_prediction_file_was_read():
    from tests.ui.test_page_dashboard import open_page, set_and_run

    data, repeated_at = _joined_csv()
    data = data.replace(b"text,label", b"text,predicted_label")
    at = open_page()
    set_and_run(at, "radio", "dash_source", "upload")
    at.file_uploader(key="dash_upload").set_value(("joined.csv", data, "text/csv")).run()
    assert_clean(at)
    expected = read_table(data, "joined.csv").describe()
    assert f"repeated header row(s) dropped (line {repeated_at})" in expected and expected in texts(at.caption)


def _titled_csv(n: int = 12, padded: bool = False, blank: bool = True) -> tuple[bytes, int]:
    """Walk-c's file: a CSV (not a workbook) with a title block; (bytes, the header's line).
    ``padded``: the title lines padded to the table's width, as Excel's Save as CSV writes them;
    ``blank``: a blank line between the title block and the header."""
    pad = "," if padded else ""
    lines = [f"Report title{pad}", f"generated 2026{pad}", *([pad] if blank else []), "text,label",
             *[f'"{t}",{lab}' for t, lab in review_rows(n)]]
    return ("\n".join(lines) + "\n").encode(), lines.index("text,label") + 1


def _by_hand(data: bytes, header_at: int) -> list[list[str]]:
    """The rows pandas reads with the lines above the header skipped by hand."""
    frame = pd.read_csv(io.BytesIO(data), skiprows=header_at - 1, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["text", "label"]
    return frame.values.tolist()


def test_a_titled_csv_on_the_train_page_reads_every_row_and_shows_the_header_row_box(models_dir):
    data, header_at = _titled_csv()
    at = put(open_train(), "title.csv", data)
    assert_clean(at)
    assert not at.error, texts(at.error)
    assert at.session_state["train_data"].frame.astype(str).values.tolist() == _by_hand(data, header_at)
    assert at.number_input(key="train_upload_header_row").value == header_at
    line = next(m for m in texts(at.markdown).splitlines() if m.startswith("**title.csv**"))
    assert f"header read from line {header_at}; the {header_at - 1} line(s) above it (a title block" in line
    assert line.endswith("skipped (the 'Header row' box chooses another)")  # the page's words, not the CLI's flag
    at.number_input(key="train_upload_header_row").set_value(1).run()  # a person's choice is read as asked
    assert_clean(at)
    assert "Expected 1 fields in line 4, saw 2" in texts(at.error)  # "Report title" as the header: refused
    assert at.number_input(key="train_upload_header_row").value == 1
    at.number_input(key="train_upload_header_row").set_value(None).run()  # cleared: found again
    assert at.number_input(key="train_upload_header_row").value == header_at and not at.error


def test_a_padded_title_csv_on_the_train_page_is_read_from_its_header_with_no_column_asked(models_dir):
    """Issue 27: Excel's Save as CSV of a sheet with a title block ("Report title,", ",", then the
    header): the Train page, which asks no column up front, reads it from the header as Predict and
    the CLI do, says which lines it skipped, and its Header row box shows the line. Truth: pandas
    with those lines skipped by hand."""
    data, header_at = _titled_csv(padded=True)
    assert header_at == 4
    at = put(open_train(), "padded.csv", data)
    assert_clean(at)
    assert not at.error, texts(at.error)
    assert "looks like the header" not in texts(at.warning)  # read from it, not advised about it
    assert at.session_state["train_data"].frame.astype(str).values.tolist() == _by_hand(data, header_at)
    assert at.number_input(key="train_upload_header_row").value == header_at
    line = next(m for m in texts(at.markdown).splitlines() if m.startswith("**padded.csv**"))
    assert f"header read from line {header_at}; the {header_at - 1} line(s) above it (a title block" in line


def test_a_padded_title_csv_without_a_blank_line_names_the_header_row_box_and_reads_it(models_dir):
    """walk-e: the likely header is said in its own warning under the Header row box, in the page's
    words (the box, never the CLI's flag), not in the file line nor under another error (no blank
    line under the padded title: line 1 may be a header with an empty name, so it is not skipped)."""
    data, header_at = _titled_csv(padded=True, blank=False)
    at = put(open_train(), "padded.csv", data)
    assert_clean(at)
    warning = texts(at.warning)
    assert f"line {header_at} looks like the header ('text', 'label')" in warning
    assert f"type {header_at} in the 'Header row' box above" in warning
    assert "--header-row" not in everything_shown(at) and "python -m core" not in everything_shown(at)
    line = next(m for m in texts(at.markdown).splitlines() if m.startswith("**padded.csv**"))
    assert "looks like the header" not in line  # said once
    at.number_input(key="train_upload_header_row").set_value(header_at).run()
    assert_clean(at)
    assert at.session_state["train_data"].frame.astype(str).values.tolist() == _by_hand(data, header_at)


def test_predict_scores_every_row_of_a_titled_csv_and_says_so(models_dir, trained_tiny):
    from tests.ui.test_faults_pages import run_prediction

    data, header_at = _titled_csv()
    at = predict_page(models_dir, trained_tiny[1], "title.csv", data)
    assert not at.error, texts(at.error)
    assert f"header read from line {header_at}" in texts(at.caption)
    assert at.number_input(key="predict_upload_header_row").value == header_at
    out = run_prediction(at)
    assert out[["text", "label"]].values.tolist() == _by_hand(data, header_at)  # count in = count out


def test_predict_scores_every_row_of_a_one_column_titled_csv(models_dir, trained_tiny):
    """walk-e's MAJOR: the common file to score, one column under a title line as wide as its
    header, found by the model's column: the Header row box shows line 3 and every row is scored.
    Truth: the texts the test wrote."""
    from tests.ui.test_faults_pages import run_prediction

    written = [t for t, _ in review_rows(12)]
    data = ("\n".join(["Q3 CRM export - to score", "", "text", *[f'"{t}"' for t in written]]) + "\n").encode()
    at = predict_page(models_dir, trained_tiny[1], "to_score.csv", data)
    assert not at.error, texts(at.error)
    assert at.number_input(key="predict_upload_header_row").value == 3
    assert "header read from line 3" in texts(at.caption)
    assert run_prediction(at)["text"].tolist() == written  # count in = count out, the title never scored


def test_the_file_line_says_one_row_and_one_column_in_the_singular():
    """walk-e/walk-f: "1 rows · 1 columns" on Predict; the counts are the caller's, the words follow them."""
    from ui.upload import how_read_line

    assert "**a.csv** · 1 row · 1 column · " in how_read_line("a.csv", "UTF-8", 1, 1)
    assert "**a.csv** · 2 rows · 3 columns · " in how_read_line("a.csv", "UTF-8", 2, 3)
    assert "**a.csv** · 0 rows · 1,200 columns · " in how_read_line("a.csv", "UTF-8", 0, 1200)
