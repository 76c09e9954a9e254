"""Models: every saved model — inspect its metrics, compare two, download, delete, watch its use, retrain, roll back."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import can_change, can_share, delete_model, list_models, share_model, zip_model
from core.charts.evaluation import model_comparison_frame
from core.registry import model_path
from ui.account import render_admin_panel
from ui.downloads import download_button
from ui.markdown import plain
from ui.monitor import render_drift
from ui.results import compared_settings, models_frame, render_results
from ui.routing import use_app_router
from ui.state import active_model_name, set_active_model
from ui.versions import render_versions

use_app_router()  # a first visit straight to this URL goes through app.py (ui/routing.py)

ss = st.session_state
st.title("Models")
models = list_models()
if ss.get("models_deleted"):
    st.success(f"Deleted model **{plain(ss.pop('models_deleted'))}**.")
if ss.get("models_shared"):
    st.success(f"Shared with the team as **{plain(ss.pop('models_shared'))}**: everyone on this server can use it now.")
if not models:
    st.info("No saved models yet. Train one on the Train page; it will be listed here.")
    st.page_link(
        str(Path(__file__).resolve().parent / "train.py"), label="Go to **Train**", icon=":material/model_training:"
    )
    render_admin_panel()  # admins on a team server: every workspace and the queue
    st.stop()

st.caption(f"{len(models)} saved model(s), newest first. Metrics are on each model's own held-out test rows; a model "
           "trained on very few labels is cross-validated instead (every labelled row scored out of fold).")
st.dataframe(
    models_frame(models),
    hide_index=True,
    key="models_table",
    placeholder="",  # a missing number or candidate shows empty, not "None"
    column_config={
        # A vote with the fine-tune's method is a sentence: cut to the column, in full under Inspect a model.
        "method": st.column_config.TextColumn(width="medium"),
        "kept candidates": st.column_config.TextColumn(width="medium"),  # a list of kinds: in full under Inspect
        "accuracy": st.column_config.NumberColumn(format="%.3f"),
        "macro-F1": st.column_config.NumberColumn(format="%.3f"),
        "lift vs TF-IDF (pts)": st.column_config.NumberColumn(format="%+.1f"),
        "R²": st.column_config.NumberColumn(format="%.3f"),
        "MAE": st.column_config.NumberColumn(format="%.4g"),
    },
)
by_name = {m.name: m for m in models}
names = list(by_name)
inspect_tab, compare_tab, drift_tab, versions_tab = st.tabs(["Inspect a model", "Compare two models", "Use over time",
                                                             "Versions"])

with inspect_tab:
    active = active_model_name()
    if ss.get("models_open") not in names:
        ss["models_open"] = active if active in names else names[0]
    name = st.selectbox("Model", names, key="models_open")
    info = by_name[name]
    actions = st.columns([1, 1, 1, 1, 2])
    folder = model_path(name)  # resolved here: the zip below is built in a thread with no signed-in session
    download_button(
        "Download (.zip)",
        lambda: zip_model(folder.name, folder.parent),  # built only when clicked: a model folder is ~90 MB
        file_name=f"{name}.zip",
        mime="application/zip",
        key="models_download",
        icon=":material/download:",
        where=actions[0],
    )
    if actions[1].button("Make active", key="models_activate", disabled=name == active,
                         help="It is the active model already." if name == active else None):
        set_active_model(name)
        st.rerun()
    if can_change(name) and actions[2].button("Delete…", key="models_delete", icon=":material/delete:"):
        ss["models_pending_delete"] = name
    if ss.get("models_pending_delete") == name:
        st.warning(f"Delete model **{plain(name)}** and its files for good? This cannot be undone.")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, delete", key="models_delete_confirm", type="primary"):
            try:
                delete_model(name)
            except ValueError as exc:
                st.error(plain(exc))
            else:
                ss.pop("models_pending_delete", None)
                ss["models_deleted"] = name
                if active == name:
                    set_active_model(None)
                st.rerun()
        if no.button("Cancel", key="models_delete_cancel"):
            ss.pop("models_pending_delete", None)
            st.rerun()
    if can_share() and ":" not in name and actions[3].button(
            "Share with team", key="models_share", icon=":material/group:",
            help="Copy this model into the team workspace: everyone on this server can open and use it."):
        try:
            ss["models_shared"] = share_model(name)
        except ValueError as exc:
            st.error(plain(exc))
        else:
            st.rerun()
    render_results(info, key="models_inspect")

with compare_tab:
    if len(names) < 2:
        st.info("Save a second model to compare two side by side.")
    else:
        left, right = st.columns(2)
        a = left.selectbox("First model", names, index=0, key="models_compare_a")
        b = right.selectbox("Second model", names, index=1, key="models_compare_b")
        chosen = [by_name[a], by_name[b]] if a != b else [by_name[a]]
        st.dataframe(
            model_comparison_frame([(m.name, m.task, m.metrics, compared_settings(m)) for m in chosen]), key="models_compare_table"
        )
        for column, info in zip((left, right), chosen):
            with column:
                render_results(info, key=f"models_compare_{'ab'[chosen.index(info)]}", compact=True)

with drift_tab:
    render_drift(model_path(ss["models_open"]), key="models_drift")

with versions_tab:  # retrain with new labels (a challenger, promoted only when better), roll back
    render_versions(ss["models_open"], model_path(ss["models_open"]), by_name[ss["models_open"]].task, key="models_versions")

render_admin_panel()  # admins on a team server: every workspace and the queue
