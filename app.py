"""Marketune: `streamlit run app.py`. The router and the shared sidebar; pages live in pages/."""

from pathlib import Path

import streamlit as st

from ui.guard import page_guard
from ui.state import render_sidebar

ROOT = Path(__file__).resolve().parent

# (file, title, icon); a page appears once its file exists.
PAGES = [
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/predict.py", "Predict", ":material/batch_prediction:"),
    ("pages/ad_lab.py", "Ad Copy Lab", ":material/campaign:"),
    ("pages/dashboard.py", "Dashboard", ":material/monitoring:"),
    ("pages/targeting.py", "Targeting", ":material/ads_click:"),
    ("pages/label.py", "Label", ":material/label:"),
    ("pages/models.py", "Models", ":material/inventory_2:"),
]

st.set_page_config(page_title="Marketune", page_icon=":material/tune:", layout="wide")
navigation = st.navigation(
    [
        st.Page(str(ROOT / path), title=title, icon=icon, default=(path == "pages/home.py"), url_path=Path(path).stem)
        for path, title, icon in PAGES
        if (ROOT / path).is_file()
    ]
)
# Every page runs under one guard: an unexpected exception becomes a plain message on the page
# and a log line with the traceback (st.rerun/st.stop/st.switch_page pass through; ui/guard.py).
with page_guard("the sidebar"):
    render_sidebar()
with page_guard(f"page {navigation.title!r}"):
    navigation.run()
