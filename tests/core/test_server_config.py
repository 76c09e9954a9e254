"""The server's own settings, as Streamlit itself reads them from .streamlit/config.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def streamlit_setting(name: str, section: str = "server") -> str:
    """The value Streamlit resolves for ``<section>.<name>`` when started from the project folder."""
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = shown.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    values = [line.split("=", 1)[1].strip() for line in lines.splitlines() if line.startswith(f"{name} =")]
    assert values, f"{section}.{name} not in `streamlit config show`"
    return values[0]


def test_file_watcher_is_off_for_the_app():
    # A watcher over a folder holding .venv costs the server up to a core (bench/bench_server_cpu.py).
    assert streamlit_setting("fileWatcherType") == '"none"'


def test_upload_limit_is_the_one_core_applies():
    from core.limits import DEFAULT_MAX_BYTES

    assert int(streamlit_setting("maxUploadSize")) * 1024 * 1024 == DEFAULT_MAX_BYTES


def test_no_traceback_details_and_no_streamlit_page_list():
    # Errors Streamlit catches itself (callbacks, fragments) show no traceback; the page list is
    # app.py's own menu, so pages/ file names never flash on a fresh server's first load.
    assert streamlit_setting("showErrorDetails", "client") == '"none"'
    assert streamlit_setting("showSidebarNavigation", "client") == "false"


def test_server_listens_on_this_machine_only():
    # Streamlit's default ("") serves every interface: customer files on shared Wi-Fi.
    assert streamlit_setting("address") == '"127.0.0.1"'
