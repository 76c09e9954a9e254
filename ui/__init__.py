"""Streamlit-only helpers shared by the pages (state, renderers, upload widgets).

Importing ui registers how core finds the caller's workspace (``ui.account``: the signed-in
person on a team server) before any page or renderer asks core for a folder, whichever ui module
is imported first. That keeps a page fail-closed even if it ever ran without app.py's sign-in
gate (tests/test_page_account.py). Nothing else happens at import; deep links are handled by
an explicit call at the top of each page (``ui.routing.use_app_router``).
"""

from ui import account as _account  # noqa: F401
