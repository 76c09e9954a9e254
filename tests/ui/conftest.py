"""Fixtures for every AppTest of the pages."""

from __future__ import annotations

import pytest

import ui.predict


@pytest.fixture(autouse=True)
def predict_scores_at_once(monkeypatch):
    """Predict scores in a thread of the server (ui.predict.Scoring); an AppTest draws no polling
    fragment, so here the scoring runs in the click's own script run and its rerun shows the result."""
    monkeypatch.setattr(ui.predict, "_start", lambda work: work())
