"""Deep links on a fresh server: make a first visit straight to /<page> run app.py's router.

Streamlit treats a project with a folder named ``pages/`` beside the entry point as an old-style
(v1) multipage app until some run calls ``st.navigation``
(``streamlit/runtime/pages_manager.py``: ``PagesManager.uses_pages_directory``). A server's very
first session that opens e.g. /ad_lab therefore runs ``pages/ad_lab.py`` on its own, with
Streamlit's automatic page list, no sign-in gate and no shared sidebar. ``pages/`` is part of the
product's fixed layout, and Streamlit offers no setting for this, so every page calls
:func:`use_app_router` as its first statement: in that mode it switches the mode off and reruns,
and the rerun goes through app.py, whose ``st.navigation`` resolves the same URL. In every other
run (the normal case) it does nothing.

Why in the page and not in app.py: on that first run Streamlit runs the page file *instead of*
app.py. Why an explicit call and not an import side effect: importing a ui module must never
rerun the script. The flag is private; tests/test_routing_mode.py fails loudly if a Streamlit
upgrade changes it, and tests/test_e2e_routing.py opens a deep link on a fresh server.
"""

from __future__ import annotations

import streamlit as st

_rerouted = False  # once per server process: see use_app_router

# The app's pages: (file, title, icon, what it is for: its line on the Home page). app.py routes to
# each whose file exists; the Home page links to the others.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", ""),  # the page of these lines
    ("pages/train.py", "Train", ":material/model_training:",
     "Upload a CSV, pick the text and label columns, fine-tune, see the metrics."),
    ("pages/predict.py", "Predict", ":material/batch_prediction:",
     "Score a new CSV with a saved model and download the result."),
    ("pages/ad_lab.py", "Ad Copy Lab", ":material/campaign:",
     "Compare ad copy variants, see which words matter, match ads to audiences."),
    ("pages/dashboard.py", "Dashboard", ":material/monitoring:", "Label and sentiment trends over time and by segment."),
    ("pages/targeting.py", "Targeting", ":material/ads_click:",
     "Response models, gains and lift, and a target list within budget."),
    ("pages/label.py", "Label", ":material/label:",
     "Few labels? Label the rows the model is least sure about, then retrain."),
    ("pages/models.py", "Models", ":material/inventory_2:", "Every saved model: metrics, comparison, download, delete."),
]


def use_app_router() -> None:
    """Rerun through app.py when Streamlit runs this page in its old pages/ mode; else nothing.

    At most once per process. On a server the first rerun through app.py calls ``st.navigation``,
    which turns the mode off for good; only Streamlit's AppTest turns it back on before every run
    (and then runs a ``switch_page`` target alone), where a rerun on each run would swallow every
    button click of a page test.
    """
    global _rerouted
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without this internal: nothing to fix then
        return
    if PagesManager.uses_pages_directory and st.runtime.exists() and not _rerouted:
        _rerouted = True
        PagesManager.uses_pages_directory = False
        st.rerun()
