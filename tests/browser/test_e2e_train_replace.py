"""In headless Chromium: replace the Train page's upload with another file, then with an Excel
workbook of two sheets; no exception or traceback may reach the page at any step."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    ROOT,
    by_key,
    choose,
    nav_to,
    open_page,
    screenshot,
    upload,
)
from tests.conftest import make_sentiment_frame  # noqa: E402
from ui.guard import MESSAGE  # noqa: E402

pytest_plugins = ["tests.browser.browser_utils"]

SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"


def assert_no_error(page) -> None:
    """No Streamlit exception element, no traceback text, no guard message on the page."""
    assert page.get_by_test_id("stException").count() == 0
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "KeyError" not in body and MESSAGE[:40] not in body


@pytest.mark.browser
def test_replacing_the_upload_and_an_excel_sheet_never_shows_a_traceback(page, streamlit_app, tmp_path):
    second = tmp_path / "second.csv"
    frame = make_sentiment_frame(60)
    frame.rename(columns={"text": "review", "label": "sentiment"}).to_csv(second, index=False)
    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["the reviews are on the next sheet"])
    sheet = book.create_sheet("Reviews")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(list(row))
    workbook = tmp_path / "campaign.xlsx"
    buffer = io.BytesIO()
    book.save(buffer)
    workbook.write_bytes(buffer.getvalue())

    open_page(page, streamlit_app)
    nav_to(page, "Train")
    upload(page, "train_upload", SAMPLE)
    page.get_by_text("3,000 rows").first.wait_for()
    by_key(page, "train_label_chart").locator(".js-plotly-plot").wait_for()
    assert_no_error(page)

    # Replace the file in the same uploader, twice in a row, as a user changing their mind.
    for path, rows in ((second, "60 rows"), (SAMPLE, "3,000 rows"), (second, "60 rows")):
        upload(page, "train_upload", path)
        page.get_by_text(f"{path.name}").first.wait_for()
        page.get_by_text(rows).first.wait_for()
        assert_no_error(page)
    page.get_by_text("Auto will use").first.wait_for()  # the method auto picks, said before training

    # An Excel workbook whose first sheet has no data rows: the picker preselects the sheet that
    # looks like a table; the notes sheet, chosen, says what is wrong with it, and back again.
    upload(page, "train_upload", workbook)
    by_key(page, "train_upload_sheet").wait_for()
    page.get_by_text("Excel sheet 'Reviews' (of 2)").first.wait_for()
    page.get_by_text("60 rows").first.wait_for()
    choose(page, "train_upload_sheet", "Notes")
    page.get_by_text("has a header row but no data rows").first.wait_for()
    choose(page, "train_upload_sheet", "Reviews")
    page.get_by_text("Excel sheet 'Reviews' (of 2)").first.wait_for()
    page.get_by_text("60 rows").first.wait_for()
    assert_no_error(page)
    shot = screenshot(page, "train_replace_xlsx.png")
    assert shot.stat().st_size > 10_000
