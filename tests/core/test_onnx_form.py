"""The ONNX form (core/onnx_form.py): same numbers as the torch model, refused when it disagrees,
used by predict --fast and by the HTTP API. Truth: the saved torch model's own predictions."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import core.onnx_form
from core.cli import main as cli_main
from core.models import load_folder
from core.onnx_form import INT8_FILE, ONNX_FILE, RECORD_FILE, export, load_onnx, read_record
from core.serve import create_app

TEXTS = ["great fast delivery love it", "terrible broken refund", "ok fine", "awful awful awful", "love love"]


@pytest.fixture
def folder(trained_tiny, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained_tiny[1], copy)
    return copy


def record_speeds(folder, **rows_per_s) -> None:
    """Write the export's speed measurements (rows/s) into onnx.json, as an export on another machine might."""
    import json

    record = json.loads((folder / RECORD_FILE).read_text())
    (folder / RECORD_FILE).write_text(json.dumps({**record, "rows_per_s": {**record["rows_per_s"], **rows_per_s}}))


def test_export_gives_the_torch_models_probabilities(folder):
    record = export(folder)
    assert record["passed"] and record["file"] == ONNX_FILE and (folder / ONNX_FILE).is_file()
    assert set(record["rows_per_s"]) == {"torch_fp32", "torch_bf16", "onnx"}
    torch_proba = load_folder(folder).predict_proba(TEXTS)
    onnx_model = load_onnx(folder)
    assert onnx_model.quantized == "onnx"
    np.testing.assert_allclose(onnx_model.predict_proba(TEXTS), torch_proba, atol=1e-4)


def test_a_form_that_disagrees_is_refused_and_removed(folder, monkeypatch):
    real = core.onnx_form._export_network

    def export_flipped(model, path):  # a network whose class scores are negated: labels flip
        model = copy.deepcopy(model)  # the torch model checked against stays as saved
        head = model.model.classifier
        head.weight.data.neg_()
        head.bias.data.neg_()
        real(model, path)

    monkeypatch.setattr(core.onnx_form, "_export_network", export_flipped)
    with pytest.raises(ValueError, match="refused: labels agree on"):
        export(folder)
    assert not (folder / ONNX_FILE).exists() and not (folder / RECORD_FILE).exists()
    assert read_record(folder) is None and load_onnx(folder) is None


def test_a_refused_form_leaves_the_earlier_checked_form_in_place_and_the_cli_exits_non_zero(folder, monkeypatch):
    export(folder)  # the fp32 form passes
    before = {name: (folder / name).read_bytes() for name in (ONNX_FILE, RECORD_FILE)}
    real = core.onnx_form._export_network

    def export_flipped(model, path):
        model = copy.deepcopy(model)
        model.model.classifier.weight.data.neg_()
        model.model.classifier.bias.data.neg_()
        real(model, path)

    monkeypatch.setattr(core.onnx_form, "_export_network", export_flipped)
    for args in (["--int8"], []):
        assert cli_main(["export", "--model", str(folder), "--format", "onnx", *args]) != 0
        assert {name: (folder / name).read_bytes() for name in before} == before
        assert not (folder / INT8_FILE).exists()
        assert not [p for p in folder.iterdir() if p.name.startswith(".onnx-new-")]  # no staging left behind
    assert load_onnx(folder) is not None and read_record(folder)["file"] == ONNX_FILE


def test_int8_either_passes_with_its_file_or_leaves_nothing(folder):
    try:
        record = export(folder, int8=True)
    except ValueError as exc:
        assert "int8" in str(exc)
        assert not any((folder / f).exists() for f in (ONNX_FILE, INT8_FILE, RECORD_FILE))
    else:
        assert record["file"] == INT8_FILE and (folder / INT8_FILE).is_file() and not (folder / ONNX_FILE).exists()
        assert read_record(folder)["agreement"] >= 0.99


def test_predict_fast_and_serve_use_the_checked_form(folder, tmp_path, capsys):
    data, out_torch, out_onnx = tmp_path / "in.csv", tmp_path / "torch.csv", tmp_path / "onnx.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out_torch)]) == 0
    assert cli_main(["export", "--model", str(folder)]) == 0
    record_speeds(folder, onnx=50.0, torch_fp32=20.0, torch_bf16=30.0)  # measured faster than both torch forms
    capsys.readouterr()
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out_onnx), "--fast"]) == 0
    assert "fast path: ONNX Runtime, model.onnx (ONNX Runtime scored 50.0 rows/s at export" in capsys.readouterr().err
    a, b = pd.read_csv(out_torch), pd.read_csv(out_onnx)
    assert a["predicted_label"].tolist() == b["predicted_label"].tolist()
    np.testing.assert_allclose(a["confidence"], b["confidence"], atol=1e-4)
    assert TestClient(create_app(folder)).get("/model").json()["form"] == "onnx"


def test_export_refuses_a_model_without_a_network(tmp_path, sentiment_df):
    from core.evaluation import tfidf_estimator
    from core.models import TfidfClassifier

    pipeline = tfidf_estimator("classification", 1.0).fit(sentiment_df["text"], sentiment_df["label"])
    model = TfidfClassifier.from_pipeline(pipeline, task="classification", classes=sorted(set(sentiment_df["label"])),
                                          schema={"text_columns": ["text"], "profile_columns": []})
    model.save(tmp_path / "tfidf")
    with pytest.raises(ValueError, match="ONNX export"):
        export(tmp_path / "tfidf")


def test_the_api_on_the_onnx_form_answers_ood_as_predict_fast_writes_it(folder, tmp_path):
    data, out = tmp_path / "in.csv", tmp_path / "onnx.csv"
    texts = [*TEXTS, "qwerty zxcv 12345 !!!"]
    pd.DataFrame({"text": texts}).to_csv(data, index=False)
    export(folder)
    record_speeds(folder, onnx=50.0, torch_fp32=20.0, torch_bf16=30.0)
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--fast", "--ood"]) == 0
    expected = pd.read_csv(out)
    client = TestClient(create_app(folder))
    assert client.get("/model").json()["form"] == "onnx"
    got = client.post("/predict", json={"texts": texts}).json()["predictions"]
    assert [a["label"] for a in got] == expected["predicted_label"].tolist()
    assert [a["ood"] for a in got] == [str(v) == "True" for v in expected["out_of_distribution"]]
    np.testing.assert_allclose([a["confidence"] for a in got], expected["confidence"], atol=1e-5)


def test_a_slower_onnx_form_is_not_used_and_the_reason_is_said(folder, tmp_path, capsys, monkeypatch):
    """Walk: predict --fast and serve ran the ONNX form though the export measured it slower (ONNX 9.9
    rows/s, torch bf16 28.2). Truth: the measurements recorded here, and the form each path reports."""
    import core.fastpath
    from core.onnx_form import onnx_or_torch

    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    export(folder)
    record_speeds(folder, onnx=9.9, torch_fp32=12.0, torch_bf16=28.2)
    assert onnx_or_torch(read_record(folder), "torch_bf16") == (False, (
        "ONNX Runtime scored 9.9 rows/s at export, the bf16 fast path (torch) 28.2: ONNX is not faster, so the bf16 "
        "fast path (torch) runs"))
    # predict --fast with a bf16 fast path on record: bf16 runs, and the ONNX form's absence is explained.
    monkeypatch.setattr(core.fastpath, "read_fast_path",
                        lambda _folder: {"passed": True, "method": "bf16", "reason": "recorded in the test"})
    capsys.readouterr()
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--fast"]) == 0
    err = capsys.readouterr().err
    assert "the ONNX form is not used: ONNX Runtime scored 9.9 rows/s at export, the bf16 fast path (torch) 28.2" in err
    assert "fast path: bf16 (recorded in the test)" in err and "fast path: ONNX Runtime" not in err
    # serve runs the saved model as it is unless ONNX beat it: 9.9 against 12.0, so the saved weights.
    client = TestClient(create_app(folder))
    assert client.get("/model").json()["form"] == "saved weights"
    assert "the ONNX form is not used: ONNX Runtime scored 9.9 rows/s at export, the full model (torch fp32) 12.0" \
        in capsys.readouterr().err
    # Faster than the full model but not than bf16: serve takes ONNX, predict --fast keeps bf16.
    record_speeds(folder, onnx=20.0)
    assert TestClient(create_app(folder)).get("/model").json()["form"] == "onnx"
    capsys.readouterr()
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--fast"]) == 0
    assert "fast path: bf16" in capsys.readouterr().err
    # Faster than the full model, no torch fast form passed: predict --fast takes ONNX.
    monkeypatch.setattr(core.fastpath, "read_fast_path",
                        lambda _folder: {"passed": False, "method": None, "reason": "bf16 agreed on 97%"})
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--fast"]) == 0
    assert "the full model (torch fp32) 12.0: ONNX is faster" in capsys.readouterr().err
