"""The page guard (ui/guard.py, used by app.py's router): an unexpected exception becomes a plain
message plus a log line with the traceback; Streamlit's own control flow passes through."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui.guard import MESSAGE

ROOT = Path(__file__).resolve().parents[2]


def raising_script():
    import streamlit as st

    from ui.guard import page_guard

    with page_guard("test page"):
        st.write("before the error")
        {}["missing_key"]
        st.write("after the error")  # never drawn


def stop_script():
    import streamlit as st

    from ui.guard import page_guard

    with page_guard("test page"):
        st.write("before stop")
        st.stop()
    st.write("after stop")  # st.stop ends the run here, not the guard


def rerun_script():
    import streamlit as st

    from ui.guard import page_guard

    with page_guard("test page"):
        st.session_state["runs"] = st.session_state.get("runs", 0) + 1
        if st.session_state["runs"] == 1:
            st.rerun()
        st.write(f"runs: {st.session_state['runs']}")


def switch_script():
    import streamlit as st

    from ui.guard import page_guard

    def first():
        st.write("on the first page")
        if st.button("go", key="go"):
            st.switch_page(second_page)

    def second():
        st.write("on the second page")

    first_page = st.Page(first, title="First", url_path="first", default=True)
    second_page = st.Page(second, title="Second", url_path="second")
    navigation = st.navigation([first_page, second_page])
    with page_guard("test page"):
        navigation.run()


def markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_an_unexpected_exception_is_a_message_and_a_log_line(caplog):
    caplog.set_level(logging.ERROR, logger="marketune.pages")
    at = AppTest.from_function(raising_script).run()
    assert not at.exception  # no traceback element on the page
    assert len(at.error) == 1 and at.error[0].value.startswith(MESSAGE)
    assert "KeyError" in at.error[0].value and "Traceback" not in at.error[0].value
    assert "before the error" in markdown(at) and "after the error" not in markdown(at)
    record = next(r for r in caplog.records if r.name == "marketune.pages")
    assert "test page" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is KeyError  # the traceback goes to the log


def test_st_stop_passes_through_the_guard():
    at = AppTest.from_function(stop_script).run()
    assert not at.exception and not at.error
    assert "before stop" in markdown(at) and "after stop" not in markdown(at)


def test_st_rerun_passes_through_the_guard():
    at = AppTest.from_function(rerun_script).run()
    assert not at.exception and not at.error
    assert "runs: 2" in markdown(at)


def test_st_switch_page_passes_through_the_guard():
    at = AppTest.from_function(switch_script).run()
    assert "on the first page" in markdown(at)
    at.button(key="go").click().run()
    assert not at.exception and not at.error
    assert "on the second page" in markdown(at)


def test_streamlit_control_flow_is_still_outside_except_exception():
    """The guard relies on this (Streamlit 1.x); if a Streamlit upgrade changes it, fail here."""
    from streamlit.errors import FragmentHandledException
    from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

    assert not issubclass(RerunException, Exception) and not issubclass(StopException, Exception)
    assert issubclass(FragmentHandledException, Exception)  # hence re-raised by the guard


def test_a_failing_page_in_the_real_app_shows_the_message_and_keeps_the_sidebar(models_dir, monkeypatch, caplog):
    """app.py's router runs the home page under the guard (AppTest goes through the router only
    for the default page: after switch_page it runs a pages/ file on its own)."""
    caplog.set_level(logging.ERROR, logger="marketune.pages")

    def broken_page_link(*args, **kwargs):
        raise OSError("page links unavailable")

    monkeypatch.setattr(st, "page_link", broken_page_link)  # what pages/home.py draws
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(e.value.startswith(MESSAGE) and "page links unavailable" in e.value for e in at.error)
    assert at.title[0].value == "Marketune"  # what the page drew before the error stays
    assert "Active model" in "\n".join(str(m.value) for m in at.sidebar.markdown)
    assert any("page 'Home'" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("script", [raising_script])
def test_the_guard_message_has_no_code(script):
    at = AppTest.from_function(script).run()
    assert 'File "' not in at.error[0].value and "line " not in at.error[0].value
