"""The active model per use (ui.state): a profile-only model that Targeting saves does not
replace the active text model, and the pages that feed a model text pick one that reads text.

The newcomer's path: train a text model, save a profile-only response model on Targeting, open
Ad Copy Lab: it failed with "This model reads no text".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.response import ResponseSetup, deploy, train_response_models
from tests.core.test_response import campaign_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved_models(trained_tiny, tmp_path_factory) -> Path:
    """"sentiment" (reads text) and "bank-gb" (gradient boosting on profile columns, no text),
    saved in that order, so the profile-only model is the newest."""
    root = tmp_path_factory.mktemp("active-models")
    shutil.copytree(trained_tiny[1], root / "sentiment")
    comp = train_response_models(
        campaign_table(400, seed=3), ResponseSetup(["age", "segment", "channel"], [], "y", "yes", include_transformer=False)
    )
    deploy(comp, "tabular", "bank-gb", root=root)
    return root


@pytest.fixture
def registry(models_dir, saved_models):
    def put(*names: str) -> Path:
        for name in names:
            shutil.copytree(saved_models / name, models_dir / name)
        return models_dir

    return put


def _targeting_saves_then_read() -> None:
    """Run as an AppTest script: Train made "sentiment" active, then Targeting saved "bank-gb"."""
    import streamlit as st

    from ui.state import active_model_name, set_active_model, set_targeting_model, targeting_model_name

    set_active_model("sentiment")
    made_active = set_targeting_model("bank-gb")
    st.session_state["result"] = {
        "made_active": made_active,
        "active": active_model_name(),
        "text": active_model_name(needs_text=True),
        "targeting": targeting_model_name(),
    }


def _default_choice() -> None:
    import streamlit as st

    from ui.state import active_model_name

    st.session_state["result"] = {"active": active_model_name(), "text": active_model_name(needs_text=True)}


def test_a_profile_only_targeting_model_leaves_the_active_text_model(registry):
    registry("sentiment", "bank-gb")
    at = AppTest.from_function(_targeting_saves_then_read).run()
    assert not at.exception
    assert at.session_state["result"] == {
        "made_active": False, "active": "sentiment", "text": "sentiment", "targeting": "bank-gb",
    }
    # With no choice made yet, the newest saved model is the profile-only one; it is not the default.
    at = AppTest.from_function(_default_choice).run()
    assert at.session_state["result"] == {"active": "sentiment", "text": "sentiment"}


def test_a_targeting_model_that_reads_text_becomes_active(registry, models_dir):
    registry("sentiment", "bank-gb")
    shutil.copytree(models_dir / "sentiment", models_dir / "hybrid-like")  # any model that reads text

    def script():
        import streamlit as st

        from ui.state import active_model_name, set_active_model, set_targeting_model

        set_active_model("bank-gb")
        st.session_state["result"] = (set_targeting_model("hybrid-like"), active_model_name())

    at = AppTest.from_function(script).run()
    assert at.session_state["result"] == (True, "hybrid-like")


def open_ad_lab(active: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "ad_lab.py"), default_timeout=120)
    at.session_state["active_model"] = active
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_ad_copy_lab_uses_a_text_model_when_the_active_one_reads_no_text(registry):
    registry("sentiment", "bank-gb")
    at = open_ad_lab("bank-gb")  # the user picked the profile-only model in the sidebar
    assert not at.error, [e.value for e in at.error]  # was: "This model reads no text ..."
    note = " ".join(i.value for i in at.info)
    assert "**bank-gb** reads no text" in note and "Ad Copy Lab uses **sentiment**" in note
    assert at.selectbox(key="adlab_success").options == ["negative", "positive"]  # sentiment's classes
    at.button(key="text_model_switch_Ad Copy Lab").click().run()
    assert at.session_state["active_model"] == "sentiment"


def test_ad_copy_lab_says_what_it_needs_when_no_model_reads_text(registry):
    registry("bank-gb")
    at = open_ad_lab("bank-gb")
    assert not at.error and not at.exception
    assert any("needs a model that reads a text column" in i.value for i in at.info)
