"""Train: upload -> map columns -> configure -> background job -> metrics -> saved model."""

from __future__ import annotations

import streamlit as st

from ui import train_form as form
from ui.routing import use_app_router
from ui.train_job import job_section
from ui.zeroshot import zero_shot_section

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

form.restore_settings()  # first, before any widget: see its docstring (the settings-reset race)
st.title("Train a model")
st.markdown("Upload a CSV or Excel file of texts with labels, check the columns, and fine-tune a model on it.")

data = form.data_section()
if data is not None and not form.refuse_too_few_columns(data):
    columns = form.columns_section(data)
    settings = form.settings_section(columns)
    form.start_section(columns.df, settings, problems=(*columns.problems, *settings.problems))
    form.remember_settings()

zero_shot_section(data)  # no labels: a model from category names (ui/zeroshot.py)
job_section()
