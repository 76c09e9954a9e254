"""Plotly figures whose texts from the data (labels, column names, segments) draw as the text they are.

Plotly reads a small HTML subset in every text it draws (tick labels, legend names, hover labels,
titles, annotations): ``<a href=...>`` becomes a link (http, https, mailto) and ``<span style=...>``
applies CSS; it draws no image. A class label or column name holding such a tag would be a link
in another person's chart. :func:`inert` puts an invisible word joiner (U+2060) after the ``<`` of
every tag but ``<br>`` in the figure's data and layout texts, so Plotly draws the tag as text
(an unknown tag is drawn literally). The hover and text templates are the app's own (core.charts
HTML-escapes the data it writes into them) and stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import plotly.graph_objects as go

_TAG = re.compile(r"<(?!br\s*/?>)(?=/?[A-Za-z])", re.IGNORECASE)
_WORD_JOINER = "\u2060"
# Trace attributes that hold data Plotly may draw as text (template attributes are left out).
_TRACE_TEXT = ("x", "y", "z", "text", "hovertext", "customdata", "labels", "ids", "parents", "name",
               "legendgroup", "meta")
_SKIP_LAYOUT = ("template",)


def _text(value: str) -> str:
    return _TAG.sub("<" + _WORD_JOINER, value) if "<" in value else value


def _clean(value: Any) -> tuple[Any, bool]:
    """(value with every string made inert, whether anything changed); numbers pass untouched."""
    if isinstance(value, str):
        out = _text(value)
        return out, out != value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "OUS":
            return value, False
        items = [_clean(v) for v in value.ravel().tolist()]
        if not any(changed for _, changed in items):
            return value, False
        return np.array([v for v, _ in items], dtype=object).reshape(value.shape), True
    if isinstance(value, (list, tuple)):
        items = [_clean(v) for v in value]
        if not any(changed for _, changed in items):
            return value, False
        return type(value)(v for v, _ in items), True
    if isinstance(value, dict):
        items = {k: _clean(v) for k, v in value.items()}
        if not any(changed for _, changed in items.values()):
            return value, False
        return {k: v for k, (v, _) in items.items()}, True
    return value, False


def inert(fig: go.Figure) -> go.Figure:
    """``fig`` (changed in place, and returned) with its data and layout texts drawn as text.

    Only attributes that hold a tag are set again, so a figure of numbers costs a scan, no
    validation (about a millisecond for a 20,000-point scatter)."""
    for trace in fig.data:
        for prop in _TRACE_TEXT:
            if prop in trace:
                value, changed = _clean(trace[prop])
                if changed:
                    trace[prop] = value
    layout = {k: v for k, v in fig.layout.to_plotly_json().items() if k not in _SKIP_LAYOUT}
    value, changed = _clean(layout)
    if changed:
        fig.update_layout({k: v for k, v in value.items() if layout[k] is not v})
    return fig
