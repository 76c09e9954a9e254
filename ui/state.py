"""Session-wide state shared by pages: the active model, chosen once in the sidebar, and every
other session key that more than one page reads, declared here with its type. A page's own
widget keys stay on the page (prefixed with its name); no page reads another page's keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core import list_models, load_folder, models_root, workspace
from core.models.folder import is_model_folder, stamp
from core.registry import model_path
from ui.markdown import plain

ACTIVE_KEY = "active_model"
SIDEBAR_KEY = "sidebar_active_model"
TEXT_KEY = "active_text_model"  # the last active model that reads text
TARGETING_KEY = "targeting_model"  # the model Targeting saved last
LAST_PREDICTION_KEY = "last_prediction_path"  # str: the CSV the Predict page wrote last (the Dashboard shows it)
LAST_PREDICTION_MODEL_KEY = "last_prediction_model"  # str: the model that scored that CSV (the Dashboard names it)
TRAIN_DATA_KEY = "train_data"  # TrainData: the table loaded on the Train page (the Label page offers it)


@dataclass(frozen=True)
class TrainData:
    """A table loaded on the Train page: ``key`` says where from ("upload:<hash>" or
    "sample:<path>"), ``name`` the file name, ``how_read`` the reading in words, ``summary`` one
    row per column (``core.columns.column_summary``)."""

    key: str
    name: str
    frame: pd.DataFrame
    how_read: str
    summary: pd.DataFrame


def train_data() -> TrainData | None:
    """The table loaded on the Train page in this session, if any."""
    return st.session_state.get(TRAIN_DATA_KEY)


def last_prediction_model() -> str | None:
    """The model that scored the Predict page's last file in this session (not always the active one)."""
    return st.session_state.get(LAST_PREDICTION_MODEL_KEY)


def last_prediction_path() -> Path | None:
    """The prediction CSV the Predict page wrote last in this session, while it still exists."""
    path = st.session_state.get(LAST_PREDICTION_KEY)
    return Path(path) if path and Path(path).is_file() else None

# The active model is kept per use, because no one model serves every page:
# - The active model (the sidebar's box): what Predict, Models and the text pages start from.
#   The Train, Label and Models pages and the sidebar set it (set_active_model).
# - Pages that feed a model text (Ad Copy Lab, the Dashboard's scoring, Label's ranking) need
#   one that reads a text column: active_model_name(needs_text=True) is the active model if it
#   does, else the last one that did in this session, else the newest usable one that does;
#   text_model_for_page says so on the page when that is not the active model.
# - Targeting saves response models, and those trained on profile columns only read no text.
#   set_targeting_model makes such a model the targeting model (Targeting's list tab scores with
#   it) without replacing the active model: it used to, and Ad Copy Lab then failed with "reads
#   no text". A saved model that reads text (a fine-tuned or hybrid response model) becomes the
#   active model as well. Choosing a model in the sidebar is the user's word for every page, so
#   it clears the targeting model.


def _usable(models) -> list:
    """Models whose verdict does not say they are no better than guessing (all of them if none)."""
    usable = [m for m in models if not (m.metrics.get("verdict") or {}).get("useless")]
    return usable or list(models)


def active_model_name(needs_text: bool = False) -> str | None:
    """The model a page uses unless told otherwise (None when no suitable model is saved).

    Without a choice in this session: the newest usable model that reads text (a profile-only
    model never becomes the default), else the newest model. ``needs_text``: only models that
    read a text column (see the comment above).
    """
    models = list_models()
    by_name = {m.name: m for m in models}
    if needs_text:
        for name in (st.session_state.get(ACTIVE_KEY), st.session_state.get(TEXT_KEY)):
            if name in by_name and by_name[name].reads_text:
                return name
        text = _usable([m for m in models if m.reads_text])
        return text[0].name if text else None
    current = st.session_state.get(ACTIVE_KEY)
    if current in by_name:
        return current
    if not models:
        return None
    text = [m for m in _usable(models) if m.reads_text]
    return (text or _usable(models))[0].name


def set_active_model(name: str | None, models=None) -> None:
    """Make ``name`` the active model (any kind); remembered as the text model if it reads text.
    ``models``: the list_models() the caller already has (read again otherwise)."""
    st.session_state[ACTIVE_KEY] = name
    info = next((m for m in (list_models() if models is None else models) if m.name == name), None) if name else None
    if info is not None and info.reads_text:
        st.session_state[TEXT_KEY] = name


def other_active_model(name: str) -> str | None:
    """The active model in this session when it is a saved model other than ``name``, else None: a
    job's model saved mid-run does not replace the model the person is using (the walk saw the
    sidebar switch silently to a new run's best-so-far)."""
    current = st.session_state.get(ACTIVE_KEY)
    if not current or current == name:
        return None
    # One folder check, not list_models(): the live panel asks on every poll of a running job.
    try:
        return current if is_model_folder(model_path(current)) else None
    except ValueError:  # a name no longer allowed here
        return None


def set_targeting_model(name: str) -> bool:
    """Targeting saved ``name``: it becomes the targeting model, and the active model too if it
    reads text. Returns whether it became the active model."""
    st.session_state[TARGETING_KEY] = name
    info = next((m for m in list_models() if m.name == name), None)
    if info is not None and info.reads_text:
        set_active_model(name)
        return True
    return False


def targeting_model_name() -> str | None:
    """The model Targeting's list tab scores with: the one Targeting saved last, unless the user
    has chosen another in the sidebar since; else the active model."""
    name = st.session_state.get(TARGETING_KEY)
    if name and any(m.name == name for m in list_models()):
        return name
    return active_model_name()


def text_model_for_page(page: str) -> str | None:
    """The model a page that scores text uses (``page``: its name, for the message), with a note
    when it is not the active model, and a button to make it the active one; None (with a
    message saying what kind of model is needed) when no saved model reads text."""
    active = active_model_name()
    name = active_model_name(needs_text=True)
    if name is None:
        if active is not None:
            st.info(
                f"{page[0].upper() + page[1:]} needs a model that reads a text column, and every saved model "
                "reads profile columns only. Train one with a text column on the **Train** page."
            )
        return None
    if active is not None and name != active:
        st.info(
            f"The active model **{plain(active)}** reads no text (profile columns only), so {page} uses "
            f"**{plain(name)}**, the last model that reads text."
        )
        if st.button(f"Make {plain(name)} the active model", key=f"text_model_switch_{page}"):
            set_active_model(name)
            st.rerun()
    return name


@st.cache_resource(show_spinner="Loading the model…", max_entries=3)
def _load(folder: str, saved_at: float):
    return load_folder(Path(folder))


def get_model(name: str):
    """A loaded model, cached across reruns and sessions; reloaded if the folder changes.

    Cached by the folder the caller's workspace resolves ``name`` to, never by the name alone:
    two people's models may share a name on a team server."""
    folder = model_path(name)
    if not is_model_folder(folder):
        raise ValueError(f"No saved model named {name!r} in {folder.parent}.")
    return _load(str(folder), stamp(folder))


def _sidebar_changed() -> None:
    set_active_model(st.session_state[SIDEBAR_KEY])
    st.session_state.pop(TARGETING_KEY, None)  # the user's choice counts for Targeting too


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
            help=f"Saved models in {plain(models_root())}",
        )
        set_active_model(chosen, models)
        info = next(m for m in models if m.name == chosen)
        headline = ", ".join(f"{k.replace('_', '-')} {v:.3f}" for k, v in info.headline.items())
        labels = f" · {info.what_it_predicts()}" if info.task == "classification" else ""
        st.caption(f"{info.task}{labels} · {plain(info.describe(workspace.current().base_model_label))}  \n{headline}")
        if (info.metrics.get("verdict") or {}).get("useless"):
            st.warning("This model is no better than guessing; see its results on the Models page.")
