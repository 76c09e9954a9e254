"""Model folders saved by earlier code still load and predict what they predicted when saved.

tests/data/saved_models/ holds one tiny folder per saved kind, written by the code of main at
ee6cf18 (before core's models wing), and expected.json holds what each model predicted right
after training, in that process (tests/data/saved_models/make_saved_models.py). The truth here is
that recorded output, not another run of today's code. The folders also say "feature_columns",
profile columns' name before issue 14's rename, so they test reading the old key too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import SavedModel, TrainConfig, load_folder
from core.cli import build_parser
from core.config import ConfigError
from core.models import FastModel

DATA = Path(__file__).resolve().parents[1] / "data" / "saved_models"
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


# ------------------------------------------------------------------ names from before the rename
# These folders were saved when profile columns were called "feature_columns" (issue 14); the
# loader reads the old key as "profile_columns", and a model saved again writes only the new one.


def _old_profile_columns(name: str, file: str) -> list[str] | None:
    data = json.loads((DATA / name / file).read_text(encoding="utf-8"))
    return data.get("feature_columns")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_old_feature_columns_key_is_read_as_profile_columns(name):
    old = _old_profile_columns(name, "data_schema.json")
    model = load_folder(DATA / name)
    assert "feature_columns" not in model.schema and "feature_columns" not in model.training_config
    assert model.schema["profile_columns"] == old  # written with the old key in every fixture
    assert model.input_columns[: len(old)] == old
    old_config = _old_profile_columns(name, "training_config.json")
    if old_config is not None:
        assert model.training_config["profile_columns"] == old_config


def test_some_fixtures_have_profile_columns_under_the_old_key():
    """Else the tests above would not show that the old key's columns reach the model input."""
    assert {n for n in KINDS if _old_profile_columns(n, "data_schema.json")} >= {"transformer", "tfidf", "tabular"}


@pytest.mark.parametrize("name", ["tfidf", "hybrid"])
def test_an_old_folder_saved_again_writes_the_new_key_and_predicts_the_same(name, tmp_path):
    model = load_folder(DATA / name)
    model.save(tmp_path / name)
    schema = json.loads((tmp_path / name / "data_schema.json").read_text(encoding="utf-8"))
    assert "feature_columns" not in schema and schema["profile_columns"] == _old_profile_columns(name, "data_schema.json")
    inputs = pd.DataFrame(EXPECTED[name]["inputs"])
    np.testing.assert_allclose(load_folder(tmp_path / name).predict_proba(inputs), np.asarray(EXPECTED[name]["proba"]),
                               rtol=0, atol=1e-9)


def test_old_training_config_reads_feature_columns_as_profile_columns():
    data = json.loads((DATA / "transformer" / "training_config.json").read_text(encoding="utf-8"))
    assert data["feature_columns"] == ["channel"]
    config = TrainConfig.from_dict(data)
    assert config.profile_columns == ("channel",)
    assert "feature_columns" not in config.to_dict() and config.to_dict()["profile_columns"] == ["channel"]
    both = TrainConfig.from_dict({**data, "profile_columns": ("channel",)})  # the same columns twice: fine
    assert both.profile_columns == ("channel",)


def test_old_and_new_key_with_different_columns_is_an_error():
    with pytest.raises(ConfigError, match="'feature_columns' \\(the old name\\) and 'profile_columns'") as err:
        TrainConfig.from_dict({"feature_columns": ["age"], "profile_columns": ["channel"]})
    assert err.value.field == "profile_columns"


@pytest.mark.parametrize("command", [["train", "--out", "m"], ["check", "--text-col", "t", "--out", "i.csv"]])
def test_cli_accepts_the_old_feature_col_option(command):
    parse = build_parser().parse_args
    base = [*command, "--data", "d.csv", "--label-col", "y"]
    new = parse([*base, "--profile-col", "age", "--profile-col", "channel"])
    old = parse([*base, "--feature-col", "age", "--profile-col", "channel"])
    assert new.profile_cols == old.profile_cols == ["age", "channel"]
