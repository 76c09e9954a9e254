"""Targeting: customer response models, gains and lift, calibration, a target list within budget.

The comparison runs as a background job (``core.jobs``, kind "response") like training: a
progress bar with Cancel, and the job carries on when the user leaves the page; coming back shows
its progress or its result, and the form its data. Profile-only data compares gradient boosting alone
by default (seconds); the transformer is offered with its time estimate. The recommended model is saved.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core import load_csv
from core.columns import suggest_setup
from core.data import format_value
from ui import targeting as tg
from ui.markdown import plain
from ui.routing import use_app_router
from ui.state import TARGETING_KEY, get_model, targeting_model_name
from ui.upload import table_upload

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "bank_marketing.csv"


@st.cache_data(show_spinner=False, max_entries=1)
def _sample():
    return load_csv(SAMPLE).frame


st.title("Customer targeting")
st.caption(
    "Whom should the next campaign contact, and how many? Train response models on past campaign "
    "results, see how much better than random they target, and export a ranked contact list within budget."
)
train_tab, list_tab = st.tabs(["Train and compare", "Target list"])

with train_tab:
    # ---- 1. Data ---------------------------------------------------------------------------
    st.subheader("1. Campaign history")
    tg.form_follows_job(_sample)  # after a reload the form shows the table of the result below
    source = st.radio(
        "Data", ["sample", "upload"], horizontal=True, key="tg_source",
        format_func={"sample": "Sample: bank marketing (10,000 customers)", "upload": "Upload a CSV"}.get,
    )
    df = None
    if source == "sample":
        df = _sample()
        st.caption("UCI Bank Marketing (CC BY 4.0): did the customer subscribe a term deposit (y)? "
                   "The call `duration` is left out: it is only known after the call.")
    else:
        up = table_upload("One row per customer contacted, with the response (CSV or Excel)", key="tg_upload")
        if up is not None:
            df = up.frame

    if df is not None:
        # ---- 2. Columns ------------------------------------------------------------------------
        st.subheader("2. Columns")
        columns = list(df.columns)
        guess = suggest_setup(df)
        cols = st.columns(2)
        label = cols[0].selectbox("Response column", columns, index=columns.index(guess["label_column"]), key="tg_label")
        guess = suggest_setup(df, label)
        values = sorted({v for v in df[label].dropna().map(format_value).str.strip().unique().tolist()[:50] if v}
                        | ({guess["positive_class"]} if guess["positive_class"] else set()))
        positive = cols[1].selectbox(
            "Counts as a response", values,
            index=values.index(guess["positive_class"]) if guess["positive_class"] in values else 0, key="tg_positive",
        )
        others = [c for c in columns if c != label]
        profile = st.multiselect("Profile columns (numbers and categories)", others,
                                 default=[c for c in guess["profile_columns"] if c in others], key="tg_profile")
        text = st.multiselect("Text columns (optional: reviews, notes, tickets)", [c for c in others if c not in profile],
                              default=[c for c in guess["text_columns"] if c not in profile], key="tg_text")
        if profile:
            try:
                st.dataframe(tg.column_kinds_frame(df, profile), hide_index=True, key="tg_kinds")
            except ValueError as exc:
                st.error(plain(exc))
        st.caption("Numeric columns stay numbers; categorical ones (text, or numbers with at most 15 values) are "
                   "split as categories; empty, unseen and rare values count as missing.")

        # ---- 3. Train ----------------------------------------------------------------------------
        st.subheader("3. Train and compare")
        use_transformer, fast, base_model = tg.transformer_options(df, text)
        if "tg_model_name" not in st.session_state:
            st.session_state["tg_model_name"] = f"response-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
        name = st.text_input("Save the recommended model as", key="tg_model_name")
        tg.render_queue_line(df, text, use_transformer=use_transformer, fast=fast, base_model=base_model)
        if st.button("Train and compare", type="primary", key="tg_train", disabled=not profile, help=tg.TRAIN_HELP[bool(profile)]):
            setup = {"label_column": label, "positive_class": positive, "profile_columns": profile, "text_columns": text}
            if tg.start_comparison(df, setup, name, use_transformer=use_transformer, fast=fast, base_model=base_model,
                                   data_name=tg.SAMPLE_DATA if source == "sample" else up.name):
                st.session_state.pop("tg_model_name", None)  # a fresh name for the next run
                st.rerun()

    comp = tg.job_section()
    if comp is not None:
        st.subheader("4. Results on the test split")
        tg.render_comparison(comp)
        if len(comp.candidates) > 1:
            st.subheader("5. Save another model")
            tg.render_deploy(comp)
    tg.recent_jobs()

with list_tab:
    comp = tg.shown_comparison()
    name = targeting_model_name()  # the model this page saved last, else the active model
    if name is None:
        st.info("No saved model yet: train and deploy a response model in the first tab.")
    else:
        try:
            model = get_model(name)
        except (ValueError, OSError) as exc:
            model = None
            st.error(f"The active model **{plain(name)}** cannot be loaded: {plain(exc)}")
        which = "the model saved above" if st.session_state.get(TARGETING_KEY) == name else "the active model"
        st.caption(f"Scoring with **{plain(name)}**, {which} (choose another in the sidebar).")
        positive = tg.model_positive_class(model, key="tg_list_positive") if model is not None else None
        if model is None:
            pass
        elif positive is None:
            st.warning(f"**{plain(name)}** is not a two-class model; targeting needs one that predicts respond / not respond.")
        else:
            sources = {"upload": "Upload a customer list"}
            if comp is not None:
                sources = {"test": "Test split of the last comparison", **sources}
            where = st.radio("Customers", list(sources), format_func=sources.get, key="tg_list_source", horizontal=True)
            customers, label_column = None, None
            if where == "test":
                customers, label_column = comp.test_frame, comp.label_column
            else:
                up = table_upload("Customer list (CSV or Excel)", key="tg_list_upload")
                if up is not None:
                    customers = up.frame
            if customers is not None:
                try:
                    scored, n_unscored = tg.scored_list(f"{name}:{id(model)}", model, customers, positive)
                except ValueError as exc:
                    st.error(plain(exc))
                else:
                    if n_unscored:
                        st.warning(f"{n_unscored:,} customer(s) could not be scored (no text for this model) and are left out.")
                    if len(scored):
                        refitted = where == "test" and bool((getattr(model, "metrics", None) or {}).get("refit_note"))
                        tg.render_budget(scored, label_column, positive, seen_in_fit=refitted)
