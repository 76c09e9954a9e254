"""Label: label the rows the model is least sure about, retrain with one click, repeat.

The sections live in ui/label.py (how labels are stored and why training is a background job:
its docstring).
"""

from __future__ import annotations

import streamlit as st

from core.labeling import label_store, list_projects
from ui import label as lab
from ui.label_rounds import gain_section
from ui.routing import use_app_router
from ui.zeroshot import label_cold_start

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

NEW = "New project…"

st.title("Label")
st.markdown(
    "Label the rows the model is least sure about, retrain, and repeat: a few rounds of 20 "
    "well-chosen labels usually help more than hundreds of random ones. Each round also mixes in "
    "some random rows, so that a new model and the one before it are scored fairly. Labels are "
    "saved on the server as you go."
)
projects = list_projects()
lab.restore_choices(projects)  # the project and rows per round chosen before a page change
if "label_open" in st.session_state:  # a project was just created: open it
    st.session_state["label_project"] = st.session_state.pop("label_open")
project = st.selectbox("Labelling project", [NEW, *projects], key="label_project")
lab.keep_choice("label_project")
if project == NEW:
    lab.new_project()
    st.stop()

store = label_store(project)
counts = lab.project_summary(store)
st.subheader("Model")
label_cold_start(store, own_model_exists=lab.model_path(lab.model_name_for(project)).exists())  # ui/zeroshot.py
ranking_model, base_model = lab.model_section(store)
training = lab.training_job(store)  # after model_section, which may have just started one
gain_section(store, counts, lab.model_path(lab.model_name_for(project)).exists(),  # ui/label_rounds.py
             training=training is not None)
st.subheader("Rows to label")
lab.rows_section(store, counts, ranking_model, base_model, training)
