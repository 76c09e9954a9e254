"""A fresh server's first page load, with `client.showSidebarNavigation = false` (the setting
app.py's menu is made for): Streamlit's own page list of pages/ file names never shows, deep
links still go through app.py's router."""

from __future__ import annotations

import time

import pytest

from tests.browser.browser_utils import start_streamlit, stop_streamlit

pytest_plugins = ["tests.browser.browser_utils"]

OURS = ["Home", "Train", "Predict", "Ad Copy Lab", "Dashboard", "Targeting", "Label", "Models"]
STREAMLITS = {"app", "ad lab", "dashboard", "home", "label", "models", "predict", "targeting", "train"}
LINK_TEXTS = """() => Array.from(document.querySelectorAll('[data-testid=stSidebar] a'))
    .map(a => a.innerText.trim().split('\\n').pop())"""


@pytest.mark.browser
@pytest.mark.parametrize("path", ["models", ""])
def test_first_load_never_shows_streamlits_page_names(page, tmp_path, path):
    app = start_streamlit(
        tmp_path / "models", tmp_path / "jobs", tmp_path / "streamlit.log",
        env={"STREAMLIT_CLIENT_SHOW_SIDEBAR_NAVIGATION": "false"},
    )  # fmt: skip
    try:
        page.goto(f"{app.url}/{path}")
        seen: list[list[str]] = []
        deadline = time.monotonic() + 90  # the first run imports the app's libraries: slow on a busy machine
        while time.monotonic() < deadline:
            links = page.evaluate(LINK_TEXTS)  # polled every ~50 ms, to catch a short flash
            seen.append(links)
            if links == OURS:
                break
            time.sleep(0.05)
        assert seen[-1] == OURS, seen[-1]
        assert not [links for links in seen if STREAMLITS & set(links)]
        heading = "Models" if path else "Marketune"
        page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
        page.get_by_test_id("stSidebar").get_by_text("Active model").first.wait_for()
    finally:
        stop_streamlit(app.process)
