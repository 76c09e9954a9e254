"""A first visit straight to a page URL goes through app.py's router (shared sidebar)."""

import pytest

pytest_plugins = ["tests.browser.browser_utils"]


@pytest.mark.browser
def test_deep_link_on_a_fresh_server_uses_the_router(streamlit_app, page):
    page.goto(f"{streamlit_app.url}/models")  # the server's very first session
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Active model").first.wait_for(timeout=30_000)
    menu = page.locator('.st-key-app_menu:not([data-stale="true"])')  # app.py's own page menu
    menu.get_by_text("Ad Copy Lab").first.wait_for(timeout=30_000)
    assert menu.get_by_text("Ad Copy Lab").count() == 1  # our titles, not Streamlit's "ad lab"
    assert sidebar.get_by_text("ad lab", exact=True).count() == 0
    page.get_by_role("heading", name="Models").first.wait_for(timeout=30_000)
