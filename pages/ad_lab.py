"""Ad Copy Lab: what-if scoring of ad copy variants, word attributions, audience × ad targeting.

The page picks the model and the shared choices (positive class, text column, audience
profile); the three tabs are drawn by ui.adlab over core.adlab.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import adlab
from ui.adlab import SAMPLE_NOTE, Lab, render_explain, render_scoring, render_targeting
from ui.markdown import plain
from ui.routing import use_app_router
from ui.state import active_model_name, get_model, text_model_for_page

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)


def _number_or_text(raw: str):
    """What a profile box holds: a number when it reads as one (so "34" matches training)."""
    number = pd.to_numeric(raw, errors="coerce")
    if pd.isna(number):
        return raw
    return int(number) if float(number).is_integer() else float(number)


st.title("Ad Copy Lab")
st.caption(
    "Score ad copy variants with your model before spending on them, see which words drive the "
    "score, and match ads to audience segments."
)
with st.expander("Try it with the sample data"):
    st.markdown(SAMPLE_NOTE)

name = text_model_for_page("Ad Copy Lab")  # a model that reads text, said so if not the active one
if name is None:
    if active_model_name() is None:
        st.info("No model yet. Train one on the **Train** page, then come back to score ad copy.")
    st.stop()
try:
    model = get_model(name)
    text_column = adlab.text_column_for(model)
except ValueError as exc:
    st.error(plain(exc))
    st.stop()

label = model.schema.get("label_column")  # None for a zero-shot model: built from category names, no label column
if label == "recommended":  # most likely the sample: say what it is, where it is used
    st.info(SAMPLE_NOTE)

left, right = st.columns(2)
with left:
    text_columns = list(model.schema.get("text_columns", []))
    if len(text_columns) > 1:
        text_column = st.selectbox(
            "The ad copy goes into",
            text_columns,
            key="adlab_text_column",
            help="This model reads several text columns; the others are left empty.",
        )
    if model.task == "classification":
        classes = [str(c) for c in model.classes_]
        success = st.selectbox(
            "Which outcome counts as success?",
            classes,
            index=classes.index(adlab.default_positive_class(model)),
            key="adlab_success",
            help=f"The score is the predicted probability of this value of '{plain(label)}'." if label
            else "The score is the predicted probability of this category.",
        )
        score_label = f"P({label} = {success})" if label else f"P({success})"
    else:
        success, score_label = None, f"predicted {label or 'value'}"
        st.markdown(f"Regression model: the score is the **predicted {plain(label)}** (higher is better).")
with right:
    profile = {}
    if adlab.profile_columns(model):
        st.markdown("**Audience profile** for what-if scoring")
        seen = adlab.profile_frame_from_test(model)
        for col in adlab.profile_columns(model):
            guess = adlab.typical_value(seen[col]) if col in seen and len(seen) else None
            raw = st.text_input(
                plain(col), "" if guess is None else str(guess), key=f"adlab_profile_{col}"
            )
            if raw.strip():
                profile[col] = _number_or_text(raw.strip())
        st.caption("Leave a field empty to leave it out of the model input.")

lab = Lab(
    name=name,
    model=model,
    text_column=text_column,
    success=success,
    score_label=score_label,
    profile=profile,
    margin=adlab.uncertainty_margin(model, success),
)
tab_score, tab_explain, tab_target = st.tabs(
    ["What-if scoring", "Explain & edit", "Audience × ad targeting"]
)
with tab_score:
    scored = render_scoring(lab)
with tab_explain:
    render_explain(lab, scored)
with tab_target:
    render_targeting(lab, scored)
