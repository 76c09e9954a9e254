"""The Models page's "Use over time" tab: a model's scoring history and its drift alarms."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.charts.monitor import drift_chart
from core.monitor import MIN_ROWS_FOR_ALARM, report
from core.words import rows_words
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
    covers, judged = found["last_covers"], plain(found["last_in_words"])
    if last is None:
        st.info("The model in use has not been scored yet; the chart shows its earlier versions' scorings.")
    elif found["last_alarms"]:
        st.warning(f"Judged on {judged}: what was scored looks different from what the model was trained on: "
                   + "; ".join(plain(a) for a in found["last_alarms"])
                   + ". Consider labelling some of these rows and training again.")
    elif covers["rows"] < MIN_ROWS_FOR_ALARM:
        had = ("The last scoring had" if covers["scorings"] == 1 else
               f"The last {covers['scorings']:,} scorings of this model had")
        together = "" if covers["scorings"] == 1 else " together"
        st.info(f"{had} {rows_words(covers['rows'])}{together}; alarms need at least {MIN_ROWS_FOR_ALARM}.")
    else:
        st.success(f"No drift alarm on {judged}" + (f", {plain(last['source'])}" if covers["scorings"] == 1 else "")
                   + ".")
    st.plotly_chart(inert(drift_chart(found)), key=f"{key}_drift")
    kept = sorted({line["version"] for line in found["earlier"]})
    earlier = (f" and {len(found['earlier'])} of earlier versions ({', '.join(kept)}), each its own series"
               if kept else "")
    st.caption(f"{len(found['history'])} scoring(s) of the model in use{earlier}. Dashed red lines are the alarms (core/monitor.py says where "
               "each comes from); the dotted line is the test split's mean confidence; a dotted grey line marks where another "
               "model (a version or a candidate put in front) took over: each scoring is judged against the model "
               "that scored it. Same numbers: "
               f"`python -m core monitor --model {plain(folder.name)}`.")
