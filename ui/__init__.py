"""Streamlit-only helpers shared by the pages (state, renderers, upload widgets)."""

import streamlit as st


def _route_deep_links_through_app() -> None:
    """Make a first visit straight to /<page> run app.py's router, not the page alone.

    Streamlit treats a project with a pages/ folder as an old-style (v1) multipage app until
    some run calls st.navigation; a server's very first session that opens e.g. /ad_lab would
    run pages/ad_lab.py on its own, with Streamlit's automatic page list and no shared sidebar.
    Every page imports ui, so here we switch that mode off and rerun: the rerun goes through
    app.py, whose st.navigation resolves the same URL.

    Why here and not in app.py: on that first run Streamlit runs the page file *instead of*
    app.py, so only code the page itself runs can reroute it, and every page imports ui. The
    flag is private (streamlit.runtime.pages_manager); tests/test_routing_mode.py fails loudly
    if Streamlit changes it. Until the rerun, Streamlit shows its own list of pages/ file names
    unless `client.showSidebarNavigation = false` (then app.py draws the menu; see app.py).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without this internal: nothing to fix then
        return
    if PagesManager.uses_pages_directory and st.runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


_route_deep_links_through_app()

# Registers how core finds the caller's workspace (sign-in on a team server) before any page or
# renderer asks core for a folder: whichever module of ui is imported first, this has run.
from ui import account as _account  # noqa: E402,F401
