"""End to end in headless Chromium: upload a CSV on the Predict page, run, download the CSV and
the Excel file, and check what was downloaded (rows, columns, formula safety)."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    by_key,
    click,
    nav_to,
    open_page,
    screenshot,
    upload,
    wait_idle,
)

pytest_plugins = ["tests.browser.browser_utils"]  # the streamlit_app, chromium_browser and page fixtures

ROWS = pd.DataFrame({
    "id": range(1, 13),
    "text": ["great phone", "awful service", "", "=HYPERLINK(\"http://x\")", "love it, really\nlove it",
             "bad", "the best", "worst order", "perfect", "broken, refund", "@united thanks for the help", "terrible"],
    "channel": ["email", "social"] * 6,
})


@pytest.mark.browser
def test_predict_page_upload_run_download(page, streamlit_app, trained_tiny, tmp_path):
    streamlit_app.models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_tiny[1], streamlit_app.models_dir / "tiny-sentiment")
    source = tmp_path / "new_rows.csv"
    ROWS.to_csv(source, index=False)

    open_page(page, streamlit_app)
    nav_to(page, "Predict")
    page.get_by_role("heading", name="Predict").first.wait_for()
    upload(page, "predict_upload", source)
    page.get_by_text("Columns the model reads").wait_for()

    click(page, "predict_run")
    page.get_by_text("12 rows from").first.wait_for(timeout=120_000)
    by_key(page, "predict_dist_chart").locator(".js-plotly-plot").wait_for()
    by_key(page, "predict_conf_chart").locator(".js-plotly-plot").wait_for()
    screenshot(page, "predict_result.png")

    with page.expect_download(timeout=60_000) as info:
        by_key(page, "predict_download_csv").locator("button").click()
    raw = open(info.value.path(), "rb").read()
    assert info.value.suggested_filename.endswith(".csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the UTF-8 right
    got = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False)
    assert len(got) == len(ROWS)
    assert list(got.columns) == ["id", "text", "channel", "predicted_label", "confidence", "p_negative",
                                 "p_positive", "prediction_error", "out_of_distribution"]
    assert got["id"].tolist() == list(range(1, 13))
    assert got["text"][4] == "love it, really\nlove it"
    assert got["text"][3] == "'=HYPERLINK(\"http://x\")"  # a formula: neutralised in the CSV
    assert got["text"][10] == "@united thanks for the help"  # a mention and words: not a formula
    assert got["predicted_label"][2] == "" and got["prediction_error"][2]
    assert set(got["predicted_label"].drop(index=2)) <= {"negative", "positive"}
    wait_idle(page)

    with page.expect_download(timeout=60_000) as info:
        by_key(page, "predict_download_xlsx").locator("button").click()
    from openpyxl import load_workbook

    assert info.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(open(info.value.path(), "rb").read())).active  # the path has no suffix
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == len(ROWS) + 1 and rows[0][3] == "predicted_label"
    assert isinstance(rows[1][4], float)  # confidence stays a number
    assert rows[4][1] == "=HYPERLINK(\"http://x\")"  # exact text, in a string cell that is never run
    assert sheet.cell(row=5, column=2).data_type == "s"
