"""Predict: score a CSV with a saved model, review the result, download it as CSV or Excel.

The sections live in ui/predict.py; the scoring itself (chunk by chunk, file to file) in
core.predict.predict_csv.
"""

from __future__ import annotations

import streamlit as st

from ui import predict as pred
from ui.routing import use_app_router

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

st.title("Predict")
st.caption("Score a CSV of new rows with a saved model, review what it is unsure about, and download the result.")

chosen = pred.choose_model()
if chosen is None:
    st.stop()
name, model = chosen

st.subheader("1. Rows to score")
rows = pred.choose_rows(model)
column_map = None
if rows is not None and (columns := pred.file_columns(rows[0])) is not None:
    st.subheader("2. Columns the model reads")
    column_map = pred.column_map_form(model, columns, key="predict_map")

options = pred.run_options(name, model)
too_many = column_map is not None and pred.too_many_rows(rows[0], options)  # said before Predict is pressed
if st.button("Predict", type="primary", key="predict_run", disabled=column_map is None or too_many,
             help=pred.predict_help(rows, column_map, too_many)):
    pred.run(name, model, rows, column_map, options)
pred.render_result(pred.choice_of(name, rows, column_map))  # a result shows only under what it scored
