"""Home: what Marketune does, and the way to each page."""

from pathlib import Path

import streamlit as st

from ui.routing import use_app_router

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

st.title("Marketune")
st.markdown(
    "Turn your own marketing data into a working language model: upload a CSV of texts with "
    "labels (reviews, ad copy, tickets, campaign results), fine-tune a pretrained transformer on "
    "it on your laptop or your team's server, and see honestly how much better it does than a simple baseline. Then use "
    "it: score new files, test ad copy variants, pick whom to target, and watch sentiment over time."
)
cols = st.columns(3)
LINKS = [
    ("pages/train.py", "Train", "Upload a CSV, pick the text and label columns, fine-tune, see the metrics."),
    ("pages/predict.py", "Predict", "Score a new CSV with a saved model and download the result."),
    ("pages/ad_lab.py", "Ad Copy Lab", "Compare ad copy variants, see which words matter, match ads to audiences."),
    ("pages/dashboard.py", "Dashboard", "Label and sentiment trends over time and by segment."),
    ("pages/targeting.py", "Targeting", "Response models, gains and lift, and a target list within budget."),
    ("pages/label.py", "Label", "Few labels? Label the rows the model is least sure about, then retrain."),
    ("pages/models.py", "Models", "Every saved model: metrics, comparison, download, delete."),
]
root = Path(__file__).resolve().parent.parent
for i, (path, title, blurb) in enumerate(p for p in LINKS if (root / p[0]).is_file()):
    with cols[i % 3]:
        st.page_link(str(root / path), label=f"**{title}**")
        st.caption(blurb)
