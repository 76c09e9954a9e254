"""End to end in headless Chromium: upload the sample CSV, train a tiny model, see the results.

The real app runs (``streamlit run app.py``) and a real worker process trains; midway the
server is killed and a new one started, whose page finds the job by itself. The only
shortcut is the base model, a tiny random BERT chosen through the picker's "Other" folder
field, so the test takes about a minute instead of several.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    ROOT,
    by_key,
    choose,
    click,
    fill,
    kill_streamlit,
    nav_to,
    open_page,
    screenshot,
    start_streamlit,
    stop_streamlit,
    upload,
    wait_idle,
)

pytest_plugins = ["tests.browser.browser_utils"]  # the streamlit_app, chromium_browser and page fixtures

SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"
TRAIN_LIMIT_MS = 300_000  # a tiny job takes ~30-60 s; the machine may be busy


@pytest.mark.browser
def test_upload_train_see_results_then_models_page(page, streamlit_app, tiny_model_dir, tmp_path):
    # Start where a marketer starts: the home page, then the Train link in the sidebar.
    open_page(page, streamlit_app)
    nav_to(page, "Train")
    page.get_by_role("heading", name="Train a model").wait_for()
    upload(page, "train_upload", SAMPLE)
    page.get_by_text("3,000 rows").first.wait_for()
    page.get_by_text("encoding utf-8").first.wait_for()
    # the label distribution chart is drawn before training
    by_key(page, "train_label_chart").locator(".js-plotly-plot").wait_for()

    choose(page, "train_base_select", "Other")
    fill(page, "train_base_custom", str(tiny_model_dir))
    by_key(page, "train_preset").get_by_text("Fast", exact=True).click()
    wait_idle(page)
    page.get_by_text("Advanced settings").click()
    fill(page, "train_batch_size", "64")
    fill(page, "train_learning_rate", "3e-3")
    name = by_key(page, "train_model_name").locator("input").input_value()
    assert name.startswith("sentiment_reviews_en-")

    click(page, "train_start")
    # Live progress, then the server is killed (SIGKILL, as an out-of-memory kill): the training
    # worker lives on, and a new server's page, a new session, finds the job and follows it.
    page.get_by_text(re.compile(r"Queued|Starting the trainer|Loading the base model|Training")).first.wait_for()
    kill_streamlit(streamlit_app.process)
    restarted = start_streamlit(streamlit_app.models_dir, streamlit_app.jobs_dir, tmp_path / "restarted.log")
    try:
        _results_then_models_page(page, restarted, name)
    finally:
        stop_streamlit(restarted.process)


def _results_then_models_page(page, app, name: str) -> None:
    open_page(page, app, "train")
    page.get_by_text("is trained and saved", exact=False).wait_for(timeout=TRAIN_LIMIT_MS)
    wait_idle(page)

    matrix = by_key(page, "train_results_cm")
    matrix.locator(".js-plotly-plot").wait_for()
    assert matrix.locator(".heatmaplayer").count() == 1
    assert "Confusion matrix (counts)" in matrix.inner_text()
    for label in ("Accuracy", "Macro-F1", "Lift over", "Lift over majority"):  # over TF-IDF or the fine-tune
        page.get_by_test_id("stMetricLabel").filter(has_text=label).first.wait_for()
    by_key(page, "train_results_roc").locator(".js-plotly-plot").wait_for()
    by_key(page, "train_results_cm_normalise").get_by_text("Row-normalised").click()
    by_key(page, "train_results_cm").filter(has_text="Confusion matrix (row-normalised)").wait_for()
    shot = screenshot(page, "train_results.png")
    assert shot.stat().st_size > 10_000
    # The new model is the active one in the sidebar.
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox")).to_have_value(name)

    nav_to(page, "Models")
    page.get_by_role("heading", name="Models").wait_for()
    expect(by_key(page, "models_open").get_by_role("combobox")).to_have_value(name)
    by_key(page, "models_inspect_cm").locator(".heatmaplayer").wait_for()
    assert (app.models_dir / name / "metrics.json").is_file()
