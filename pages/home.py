"""Home: what Marketune does, and the way to each page."""

from pathlib import Path

import streamlit as st

from ui.routing import PAGES, use_app_router

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

st.title("Marketune")
st.markdown(
    "Turn your own marketing data into a working language model: upload a CSV of texts with "
    "labels (reviews, ad copy, tickets, campaign results), fine-tune a pretrained transformer on "
    "it on your laptop or your team's server, and see honestly how much better it does than a simple baseline. Then use "
    "it: score new files, test ad copy variants, pick whom to target, and watch sentiment over time."
)
cols = st.columns(3)
root = Path(__file__).resolve().parent.parent
for i, (path, title, _, blurb) in enumerate(p for p in PAGES[1:] if (root / p[0]).is_file()):  # [1:]: not Home
    with cols[i % 3]:
        st.page_link(str(root / path), label=f"**{title}**")
        st.caption(blurb)
