"""Marketune: `streamlit run app.py`. The router and the shared sidebar; pages live in pages/."""

from pathlib import Path

import streamlit as st

from ui.account import apply_model_link, render_account, render_link_error, require_sign_in, startup_cleanup
from ui.guard import page_guard
from ui.routing import PAGES
from ui.serving import guard_network_exposure
from ui.state import render_sidebar

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="Marketune", page_icon=":material/tune:", layout="wide")
# A server open to the network without sign-in stops here (ui/serving.py).
guard_network_exposure()
# Once per server process: the disk dead jobs and cut-off saves left behind (core/cleanup.py).
startup_cleanup()
pages = [
    st.Page(str(ROOT / path), title=title, icon=icon, default=(path == "pages/home.py"), url_path=Path(path).stem)
    for path, title, icon, _ in PAGES  # a page appears once its file exists
    if (ROOT / path).is_file()
]
# Streamlit draws its own page list from the pages/ file names ("app", "ad lab", ...) on the
# server's first page load: a folder named pages/ puts that first run in Streamlit's old
# multipage mode, before app.py or any page code can run (a deep link runs the page file alone
# until its first line, ui.routing.use_app_router, reroutes it through here; see tests/test_routing_mode.py). The supported
# way to never show that list is `client.showSidebarNavigation = false` in .streamlit/config.toml;
# it hides Streamlit's sidebar navigation everywhere, so the menu is then drawn here.
OWN_MENU = st.get_option("client.showSidebarNavigation") is False
navigation = st.navigation(pages, position="hidden" if OWN_MENU else "sidebar")
# A team server (an [auth] section in secrets.toml) shows nothing but a sign-in button until
# someone signs in; each person then sees their own workspace only (ui/account.py).
require_sign_in()
# Every page runs under one guard: an unexpected exception becomes a plain message on the page
# and a log line with the traceback (st.rerun/st.stop/st.switch_page pass through; ui/guard.py).
if OWN_MENU:
    with page_guard("the page menu"), st.sidebar.container(key="app_menu"):
        for page in pages:
            st.page_link(page)
with page_guard("the sidebar"):
    render_account()
    apply_model_link()  # ?model=<name> makes that model active, if the caller may open it
    render_sidebar()
render_link_error()
with page_guard(f"page {navigation.title!r}"):
    navigation.run()
