"""Dashboard: label and sentiment trends over a prediction file (time, segments, words, examples)."""

from __future__ import annotations

import streamlit as st

from ui import dashboard as dash
from ui.markdown import plain
from ui.routing import use_app_router

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

st.title("Dashboard")
st.caption(
    "Label and sentiment trends over a prediction file: over time, by segment, the words "
    "that set each label apart, and the reviews behind them."
)

source = dash.choose_source()
if source is None:
    st.stop()
try:
    raw = dash.cached_table(source.key, source.data)
except ValueError as exc:
    st.error(plain(exc))
    st.stop()
dash.reading_note(source)  # repeated header rows dropped, ...: as Train and Predict say it
det = dash.cached_detection(source.key, raw)
# New file: forget the mapping and filters chosen for the previous one.
if st.session_state.get("dash_loaded") != source.key:
    for k in [k for k in st.session_state if str(k).startswith(("dash_map_", "dash_f_"))]:
        del st.session_state[k]
    st.session_state["dash_loaded"] = source.key
if det["label"] is None:
    st.warning(
        "No predicted label column found (expected `predicted_label`, as the Predict "
        "page writes; a model that predicts numbers has none). Choose the column that "
        "holds the labels under Columns."
    )

columns = dash.column_form(raw, det, source.name)
# New mapping: filters chosen on other columns no longer apply.
if st.session_state.get("dash_cmap") != columns:
    for k in [k for k in st.session_state if str(k).startswith(("dash_f_", "dash_breakdown", "dash_watch"))]:
        del st.session_state[k]
    st.session_state["dash_cmap"] = columns
try:
    prep = dash.cached_prepare(source.key, columns, raw)
except ValueError as exc:
    st.error(plain(exc))
    st.stop()
if prep.report is not None:
    r = prep.report
    (st.warning if r.n_unparseable else st.caption)(
        f"Date column **{plain(columns.date)}**: {plain(r.summary)}"
        + (
            " Unparseable dates are kept but left out of charts over time and excluded while a date range is set."
            if r.n_unparseable
            else ""
        )
    )
if prep.numeric_labels and not columns.one_is_positive:
    st.caption("The labels are numeric: tick *1 means positive* under Columns to see net sentiment.")

choices = dash.filter_form(prep, columns)
dash.render_view(source, raw, prep, columns, choices)
