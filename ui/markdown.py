"""User data shown inside Markdown: ``plain(value)`` makes it render as the text it is.

Streamlit renders Markdown in st.markdown/caption/info/warning/error/success, toasts, progress
and spinner texts, and in the labels of widgets, tabs, expanders, metrics, buttons, page links
and radio options (selectbox and multiselect options and table cells are plain). A label or a
column name such as ``![x](http://host/beacon.png)`` would make every browser that shows it load
that address, ``[click](http://evil)`` would be a link, ``$x$`` LaTeX and ``:red[boom]`` coloured.
Every place where text from a file, a model or a person meets one of those renderers passes it
through :func:`plain` (:func:`plain_lines` for a text shown in full); the page's own wording stays Markdown.
"""

from __future__ import annotations

import re

# Characters that start Markdown (CommonMark + GFM), Streamlit's LaTeX ($) and its directives
# (":red[...]" needs the "["). Each is backslash-escaped, which CommonMark renders as the
# character itself. "(" ")" "!" ":" stay as they are: without an unescaped "[" they form nothing.
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")
# What starts a list or a rule ("- ", "+ ", "1. ", "1) ", "---") when the value opens a body.
_LIST_START = re.compile(r"^(\s*)(?=[-+])|^(\s*\d+)(?=[.)])")
# GFM turns bare "http://...", "www...." and "name@host.tld" into links after parsing, so a
# backslash cannot stop it; an invisible word joiner (U+2060) after the scheme / before the "@"
# breaks the pattern and shows nothing.
_WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?(?=:)|www(?=\.)|(?<=[\w.+-])(?=@[\w-]))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def plain(value: object) -> str:
    """``str(value)`` escaped so that Streamlit's Markdown shows it verbatim, on one line.

    No link, image, LaTeX, colour, emphasis, heading or list can come out of it; line breaks
    become spaces (a break would let the text start a block of its own). Safe inside the page's
    own Markdown, e.g. ``f"Saved **{plain(name)}**"``. Not for code spans (escapes show there).
    """
    text = _LINE_BREAKS.sub(" ", str(value))
    text = _SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(0) + _WORD_JOINER, text)
    return _LIST_START.sub(lambda m: m.group(0) + "\\", text, count=1)


def plain_lines(value: object) -> str:
    """A longer text (a review shown in full) escaped as :func:`plain` does, line by line, its
    line breaks kept as Markdown hard breaks (each line escaped, so none can start a block)."""
    return "  \n".join(plain(line) for line in str(value).splitlines())
