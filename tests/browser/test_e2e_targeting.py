"""End to end in headless Chromium: the Targeting page on the bank sample with every default.

Profile-only data: the transformer is offered (with its time) but not ticked, no language
verdict is shown, the comparison starts as a background job, the user leaves for another page
at once and comes back to the finished comparison and the saved, active model.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import by_key, click, nav_to, open_page, screenshot, wait_idle  # noqa: E402

pytest_plugins = ["tests.browser.browser_utils"]
JOB_LIMIT_MS = 240_000  # seconds on an idle machine; the shared machine may be busy


@pytest.fixture
def cancel_response_jobs(streamlit_app):
    yield
    from core.jobs import cancel_job, list_jobs

    for job in list_jobs(streamlit_app.jobs_dir, kind="response"):
        if job.active:
            cancel_job(job.id, streamlit_app.jobs_dir)


@pytest.mark.browser
def test_bank_sample_defaults_job_survives_leaving_the_page(page, streamlit_app, cancel_response_jobs):
    open_page(page, streamlit_app)
    nav_to(page, "Targeting")
    page.get_by_role("heading", name="Customer targeting").wait_for()
    box = by_key(page, "tg_use_transformer").locator("input[type=checkbox]")
    assert not box.is_checked()
    page.get_by_text(re.compile(r"No text column: gradient boosting .* minilm-en")).first.wait_for()
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "non-English" not in body and "multilingual" not in body
    name_box = by_key(page, "tg_model_name").locator("input")
    # The box can be drawn a moment before its value on a busy machine: wait for the value.
    expect(name_box).to_have_value(re.compile(r"^response-y-\d{8}-\d{6}$"), timeout=30_000)
    name = name_box.input_value()

    click(page, "tg_train")
    nav_to(page, "Predict")  # leave at once, while the job runs or has just finished
    heading = page.get_by_role("heading", name=re.compile("Predict")).first
    try:
        heading.wait_for(timeout=20_000)
    except PlaywrightTimeoutError:
        # A click that lands in the rerun where the job finishes can be lost (seen once in CI on a
        # busy machine; the page stayed on Targeting, no error): a user clicks again, so does this.
        nav_to(page, "Predict")
        heading.wait_for()
    nav_to(page, "Targeting")
    page.get_by_text(f"Saved {name}").first.wait_for(timeout=JOB_LIMIT_MS)
    wait_idle(page)
    page.get_by_text("Recommended: Gradient boosting").first.wait_for()
    page.get_by_text(re.compile("refitted with the same settings on all 10,000 labelled rows")).first.wait_for()
    by_key(page, "tg_gains").locator(".js-plotly-plot").wait_for()
    assert (streamlit_app.models_dir / name / "marketune.json").is_file()
    shot = screenshot(page, "targeting_result.png")
    assert shot.stat().st_size > 10_000
