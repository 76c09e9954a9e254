"""The Models page's "Use over time" tab: a model's scoring history and its drift alarms."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.charts.monitor import drift_chart
from core.monitor import MIN_ROWS_FOR_ALARM, report, rows_words
from ui.figures import inert
from ui.markdown import plain


def render_drift(folder: Path, key: str) -> None:
    st.caption(f"Model **{plain(folder.name)}** (choose another under *Inspect a model*).")
    found = report(folder)
    if not found["history"] and not found["earlier"]:
        st.info("Not scored yet. Every file scored with this model (Predict, Dashboard, `python -m core predict`, "
                "the HTTP API) adds a point here: how much of it looks unlike the training data, the mix of "
                "predicted labels and the mean confidence, each against the model's own test split.")
        return
    last = found["history"][-1] if found["history"] else None
    if last is None:
        st.info("The model in use has not been scored yet; the chart shows its earlier versions' scorings.")
    elif found["last_alarms"]:
        st.warning("The last scoring looks different from what the model was trained on: "
                   + "; ".join(plain(a) for a in found["last_alarms"])
                   + ". Consider labelling some of these rows and training again.")
    elif (last.get("scored") or 0) < MIN_ROWS_FOR_ALARM:
        st.info(f"The last scoring had {rows_words(last.get('scored') or 0)}; alarms need at least {MIN_ROWS_FOR_ALARM}.")
    else:
        st.success(f"No drift alarm in the last scoring ({rows_words(last['scored'])}, {plain(last['source'])}).")
    st.plotly_chart(inert(drift_chart(found)), key=f"{key}_drift")
    kept = sorted({line["version"] for line in found["earlier"]})
    earlier = (f" and {len(found['earlier'])} of earlier versions ({', '.join(kept)}), each its own series"
               if kept else "")
    st.caption(f"{len(found['history'])} scoring(s) of the model in use{earlier}. Dashed red lines are the alarms (core/monitor.py says where "
               "each comes from); the dotted line is the test split's mean confidence. Same numbers: "
               f"`python -m core monitor --model {plain(folder.name)}`.")
