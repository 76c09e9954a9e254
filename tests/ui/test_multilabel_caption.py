"""The multi-label results caption names the model kind that was saved, not the method the run asked
for (walk-s: "several tags per row · 7 tags · fewshot" above a saved embeddings model). Truth:
core.registry's KIND_NAMES for the folder's own kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.registry import KIND_NAMES, read_info

SAVED = Path(__file__).resolve().parents[1] / "data" / "saved_models" / "tfidf"


def _caption_app(folder: str) -> None:
    import dataclasses as dc
    from pathlib import Path as P

    from core.registry import read_info as info_of
    from ui.multilabel import render_multilabel_results

    # the run asked for few-shot; the leaderboard saved another kind
    info = dc.replace(info_of(P(folder)), method="fewshot")
    render_multilabel_results(info, "cap", compact=True)


def test_the_caption_names_the_saved_kind_not_the_method_asked_for():
    info = read_info(SAVED)
    assert info.kind == "tfidf" and dataclasses.replace(info, method="fewshot").method == "fewshot"
    at = AppTest.from_function(_caption_app, args=(str(SAVED),), default_timeout=60).run()
    captions = [c.value for c in at.caption if "several tags per row" in c.value]
    assert captions, [c.value for c in at.caption]
    assert KIND_NAMES["tfidf"] in captions[0] and "fewshot" not in captions[0] and "few-shot" not in captions[0]
