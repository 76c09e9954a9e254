"""Session-wide state shared by pages: the active model, chosen once in the sidebar."""

from __future__ import annotations

import streamlit as st

from core import list_models, load_model, models_root
from core.registry import model_path

ACTIVE_KEY = "active_model"
SIDEBAR_KEY = "sidebar_active_model"


def active_model_name() -> str | None:
    """The model every page uses unless told otherwise (None when no model is saved yet)."""
    models = list_models()
    names = [m.name for m in models]
    current = st.session_state.get(ACTIVE_KEY)
    if current in names:
        return current
    # The newest saved model, passing over ones whose verdict says they are no better than guessing.
    usable = [m.name for m in models if not (m.metrics.get("verdict") or {}).get("useless")]
    return (usable or names)[0] if names else None


def set_active_model(name: str | None) -> None:
    st.session_state[ACTIVE_KEY] = name


@st.cache_resource(show_spinner="Loading the model…", max_entries=3)
def _load(name: str, saved_at: float):
    return load_model(name)


def get_model(name: str):
    """A loaded model, cached across reruns and sessions; reloaded if the folder changes."""
    folder = model_path(name)
    return _load(name, (folder / "marketune.json").stat().st_mtime)


def _sidebar_changed() -> None:
    set_active_model(st.session_state[SIDEBAR_KEY])


def render_sidebar() -> None:
    """The active-model picker and what it is built on, on every page."""
    models = list_models()
    with st.sidebar:
        st.markdown("### Active model")
        if not models:
            st.caption("No model yet — train one on the **Train** page.")
            return
        names = [m.name for m in models]
        current = active_model_name()
        if st.session_state.get(SIDEBAR_KEY) != current:
            # A page chose a model (set_active_model), or the list changed: the box shows it.
            # Without this the box's own state would win and undo the page's choice.
            st.session_state[SIDEBAR_KEY] = current
        chosen = st.selectbox(
            "Active model",
            names,
            key=SIDEBAR_KEY,
            on_change=_sidebar_changed,
            label_visibility="collapsed",
            help=f"Saved models in {models_root()}",
        )
        set_active_model(chosen)
        info = next(m for m in models if m.name == chosen)
        headline = ", ".join(f"{k.replace('_', '-')} {v:.2f}" for k, v in info.headline.items())
        labels = f" · {len(info.classes)} classes" if info.task == "classification" else ""
        st.caption(f"{info.task}{labels} · base model **{info.base_model}** · {info.method}  \n{headline}")
        if (info.metrics.get("verdict") or {}).get("useless"):
            st.warning("This model is no better than guessing; see its results on the Models page.")
