"""One guard around every page: an unexpected exception becomes a plain message on the page and
a log line with the traceback, never a traceback on the page.

Streamlit's own control flow passes through untouched: ``st.rerun``, ``st.stop`` and
``st.switch_page`` raise ``RerunException``/``StopException`` (Streamlit 1.x,
``streamlit.runtime.scriptrunner_utils.exceptions``), which derive from ``BaseException`` and so
are never caught by ``except Exception``; ``FragmentHandledException`` (an ``Exception``) says a
fragment has already reported its own error, so it is re-raised for Streamlit to handle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from ui.markdown import plain

try:  # where Streamlit 1.x keeps it; tests/test_guard.py fails loudly if it moves
    from streamlit.errors import FragmentHandledException
except ImportError:  # pragma: no cover - a future Streamlit without it

    class FragmentHandledException(Exception):  # type: ignore[no-redef]  # noqa: N818
        """Stand-in that is never raised."""


LOG = logging.getLogger("marketune.pages")
MESSAGE = (
    "Something unexpected went wrong on this page, so it stopped here. Your data and saved models "
    "are not affected. Try again or reload the page; if it happens again, tell whoever runs "
    "Marketune (the details are in the app's log)."
)


@contextmanager
def page_guard(where: str) -> Iterator[None]:
    """Run a page (or the sidebar) inside ``with page_guard("Train page"):``.

    An exception other than Streamlit's control flow is logged with its traceback on the
    ``marketune.pages`` logger and replaced by :data:`MESSAGE` (with the error's type and first
    line, which help a support request without showing code) in an ``st.error``.
    """
    try:
        yield
    except FragmentHandledException:
        raise
    except Exception as exc:  # the whole point: nothing unexpected reaches the page as a traceback
        LOG.exception("Unexpected error in %s", where)
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        st.error(f"{MESSAGE}\n\nError: `{type(exc).__name__}`" + (f": {plain(first_line)}" if first_line else ""),
                 icon=":material/error:")
