"""Every download button of the app: the file exists from the click until about a minute later.

Streamlit serves a download at ``/media/<hash>.<ext>`` to anyone who has that address: its media
route knows no session and no sign-in cookie, and nothing in Streamlit can bind the address to
the session that made it. So, measured on a real server (docs/team-server.md):

- every download is deferred (``data`` a callable): nothing is stored, and no address exists,
  until the person clicks; then Streamlit runs ``make`` and stores the bytes;
- Streamlit itself drops a clicked file only at the end of the second page run on the whole
  server after the click (any session's; a quiet server can take hours), so :data:`EXPIRE_S`
  seconds after each click the stored downloads no page shows are dropped here.

A download a page still shows as a static file (none here) would stay reachable while it is shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st
from streamlit import runtime

from core.export import to_csv_bytes

EXPIRE_S = 60  # the browser fetches the file right after the click; a minute is ample


def _drop_orphaned_downloads() -> None:
    """Drop every stored download that no session shows (the clicked files among them).

    Streamlit marks such a file on one sweep and deletes it on the next (the sweep it runs at
    the end of each page run), so two sweeps delete it. Files a page shows are never orphaned.
    """
    if runtime.exists():
        manager = runtime.get_instance().media_file_mgr
        manager.remove_orphaned_files()
        manager.remove_orphaned_files()


def expiring(make: Callable[[], bytes | str]) -> Callable[[], bytes | str]:
    """``make`` for a deferred download: returns what it returns, and schedules the stored file's
    removal :data:`EXPIRE_S` seconds later. Streamlit calls it in a thread of its own, with no
    page session: ``make`` must not ask core for the caller's workspace (resolve paths first)."""

    def made() -> bytes | str:
        data = make()
        if runtime.exists():
            timer = threading.Timer(EXPIRE_S, _drop_orphaned_downloads)
            timer.daemon = True
            timer.start()
        return data

    return made


def download_button(label: str, make: Callable[[], bytes | str], *, file_name: str, key: str,
                    mime: str | None = None, where: Any = None, on_click: str = "ignore", **kwargs: Any) -> None:
    """``st.download_button`` (in ``where``, a column or container; default the page) whose file
    ``make()`` builds when clicked and which expires :data:`EXPIRE_S` seconds later. No rerun on
    click unless ``on_click`` says so; other keyword arguments go to Streamlit as they are."""
    (where or st).download_button(label, data=expiring(make), file_name=file_name, mime=mime, key=key,
                                  on_click=on_click, **kwargs)


def csv_download(label: str, frame: pd.DataFrame, *, file_name: str, key: str, **kwargs: Any) -> None:
    """:func:`download_button` of ``frame`` as CSV (core.export.to_csv_bytes: formula-like cells
    made inert), made when clicked; keyword arguments as for :func:`download_button`."""
    download_button(label, partial(to_csv_bytes, frame), file_name=file_name, mime="text/csv", key=key, **kwargs)
