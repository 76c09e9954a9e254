"""Model folders saved by earlier code still load and predict what they predicted when saved.

tests/data/saved_models/ holds one tiny folder per saved kind, written by the code of main at
ee6cf18 (before core's models wing), and expected.json holds what each model predicted right
after training, in that process (tests/data/saved_models/make_saved_models.py). The truth here is
that recorded output, not another run of today's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import SavedModel, load_folder
from core.models import FastModel

DATA = Path(__file__).resolve().parent / "data" / "saved_models"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
KINDS = {  # folder -> the kind in its marketune.json
    "transformer": "transformer",
    "transformer-calibrated": "transformer",
    "fewshot": "fewshot",
    "tfidf": "tfidf",
    "tabular": "tabular",
    "hybrid": "hybrid",
}


def test_every_saved_kind_has_a_fixture():
    assert set(EXPECTED) == set(KINDS)
    for name, kind in KINDS.items():
        assert json.loads((DATA / name / "marketune.json").read_text())["kind"] == kind


@pytest.mark.parametrize("name", sorted(KINDS))
def test_folder_saved_by_earlier_code_loads_and_predicts_the_same(name):
    expected = EXPECTED[name]
    before = {p.name: p.read_bytes() for p in (DATA / name).iterdir()}
    model = load_folder(DATA / name)
    assert isinstance(model, SavedModel)
    assert isinstance(model, FastModel) == (KINDS[name] in ("transformer", "fewshot")) == bool(model.fast_forms)
    inputs = pd.DataFrame(expected["inputs"])
    # Transformer weights are float32: the same weights on another CPU may differ in the last bits.
    atol = 1e-5 if KINDS[name] in ("transformer", "fewshot") else 1e-9
    np.testing.assert_allclose(model.predict_proba(inputs), np.asarray(expected["proba"]), rtol=0, atol=atol)
    assert [str(v) for v in model.predict(inputs)] == expected["predict"]
    assert [str(c) for c in model.classes_] == expected["classes"]
    assert model.task == "classification"
    assert {p.name: p.read_bytes() for p in (DATA / name).iterdir()} == before  # loading writes nothing
