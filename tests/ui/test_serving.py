"""A server reachable from the network without sign-in is refused unless explicitly allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.serving import ALLOW_ENV, exposure, is_loopback

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.mark.parametrize(
    "address, expected",
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("myhost.lan", False)],
)
def test_loopback_addresses(address, expected):
    assert is_loopback(address) is expected


def test_exposure_rules():
    assert exposure("127.0.0.1", sign_in=False, allow_open=False) == "local"
    assert exposure("0.0.0.0", sign_in=True, allow_open=False) == "signed_in"
    assert exposure("0.0.0.0", sign_in=False, allow_open=True) == "open_allowed"
    assert exposure("", sign_in=False, allow_open=False) == "refused"


def _home(monkeypatch, address: str, auth: bool = False) -> AppTest:
    import ui.serving

    monkeypatch.setattr(ui.serving, "server_address", lambda: address)
    at = AppTest.from_file(APP, default_timeout=60)
    if auth:
        at.secrets["auth"] = {"redirect_uri": "http://x/oauth2callback", "cookie_secret": "s"}
    at.run()
    return at


def test_open_address_without_sign_in_stops_every_page(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    at = _home(monkeypatch, "0.0.0.0")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "sign-in is not configured" in errors and "127.0.0.1" in errors
    # The home page's content did not run: no page links or headings beyond the refusal.
    assert not at.title


def test_open_address_explicitly_allowed_runs_under_a_warning(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    at = _home(monkeypatch, "0.0.0.0")
    assert not at.exception and not at.error
    assert any("Open server" in w.value for w in at.warning)


def test_local_address_shows_no_warning(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    at = _home(monkeypatch, "127.0.0.1")
    assert not at.exception and not at.error
    assert not any("Open server" in w.value for w in at.warning)


def test_open_address_with_sign_in_configured_runs(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    at = _home(monkeypatch, "0.0.0.0", auth=True)
    assert not at.exception and not at.error
    assert not any("Open server" in w.value for w in at.warning)
    assert at.title
