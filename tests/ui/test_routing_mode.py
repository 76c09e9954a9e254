"""The app's routing relies on Streamlit internals in two places; these tests fail loudly when a
Streamlit upgrade changes them (see app.py and ui/routing.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_the_private_pages_mode_flag_is_still_what_streamlit_checks():
    """ui/routing.py switches Streamlit's old pages/ mode off through this private class flag so
    a deep link on a fresh server reruns through app.py. If this fails, Streamlit changed how it
    decides that mode: check tests/test_e2e_routing.py and rewrite the workaround."""
    import streamlit.commands.navigation as navigation
    import streamlit.runtime.scriptrunner.script_runner as script_runner
    from streamlit.runtime.pages_manager import PagesManager

    assert "uses_pages_directory" in vars(PagesManager)
    runner = inspect.getsource(script_runner)
    assert "if PagesManager.uses_pages_directory:" in runner and "_mpa_v1(" in runner
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation)
    # The option app.py reads to draw its own menu, and what Streamlit does with it.
    assert 'config.get_option("client.showSidebarNavigation")' in runner


@pytest.fixture
def hidden_streamlit_navigation():
    config.set_option("client.showSidebarNavigation", False)
    yield
    config.set_option("client.showSidebarNavigation", True)


def page_links(at: AppTest) -> list[str]:
    return [e.proto.label for e in at.sidebar.get("page_link")]


def test_with_streamlit_navigation_hidden_the_app_draws_its_own_menu(models_dir, hidden_streamlit_navigation):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert page_links(at) == ["Home", "Train", "Predict", "Ad Copy Lab", "Dashboard", "Targeting", "Label", "Models"]


def test_by_default_streamlit_draws_the_menu(models_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception and page_links(at) == []


def test_every_page_calls_the_router_before_drawing_anything():
    """A page's first statement after its imports is ui.routing.use_app_router(): in Streamlit's
    old pages/ mode (a deep link on a fresh server) anything drawn before it would show without
    the sign-in gate and the shared sidebar. Importing ui must not rerun anything by itself."""
    import ast

    for path in sorted((ROOT / "pages").glob("*.py")):
        body = [n for n in ast.parse(path.read_text(encoding="utf-8")).body
                if not isinstance(n, ast.Import | ast.ImportFrom)
                and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]  # the docstring
        first = body[0]
        assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call), path.name
        assert ast.unparse(first.value) == "use_app_router()", f"{path.name} starts with {ast.unparse(first)}"
    assert "rerun" not in (ROOT / "ui" / "__init__.py").read_text(encoding="utf-8")
