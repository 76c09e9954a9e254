"""A fast path (int8 or bf16) is offered per model, only after a recorded check on its test split."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import core.fastpath as fastpath
from core.fastpath import (
    FAST_PATH_FILE,
    check_fast_path,
    fast_path_allowed,
    load_fast_model,
    quantized_copy,
    read_fast_path,
)
from core.models import TextClassifier


@pytest.fixture
def folder(trained_tiny, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(trained_tiny[1], copy)
    return copy


class _Stub:
    """Stands in for a fast form: predicts what it is told (to force agreement levels)."""

    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=object)

    def predict(self, texts):
        return self.labels[: len(texts)]


def test_check_compares_each_fast_form_with_fp32_on_the_test_split_and_records_it(folder):
    model = TextClassifier.load(folder)
    record = check_fast_path(folder, model)
    on_disk = json.loads((folder / FAST_PATH_FILE).read_text())
    assert on_disk == record
    test = pd.read_csv(folder / "test_predictions.csv")
    assert record["n_rows"] == len(test) > 0
    assert 0.0 <= record["agreement"] <= 1.0
    assert record["accuracy_fp32"] == pytest.approx(
        float(np.mean(model.predict(test["text"].tolist()).astype(str) == test["true_label"].astype(str))), abs=1e-6
    )
    assert set(record["candidates"]) == {"int8", "bf16"}
    # Agreement and accuracy computed here from both forms' own predictions, not from the record.
    texts = test["text"].tolist()
    truth = test["true_label"].astype(str).to_numpy()
    fp32 = model.predict(texts).astype(str)
    for method, form in record["candidates"].items():
        fast = TextClassifier.load(folder).quantize(method).predict(texts).astype(str)
        assert form["agreement"] == pytest.approx(float(np.mean(fast == fp32)), abs=1e-6), method
        assert form["accuracy_fast"] == pytest.approx(float(np.mean(fast == truth)), abs=1e-6), method
        assert form["speedup"] > 0 and form["seconds_fast"] > 0
    assert record["torch_version"] == torch.__version__
    assert fast_path_allowed(folder) is record["passed"]
    assert read_fast_path(folder) == record
    assert model.quantized is False  # the check quantizes a copy, never the given (cached) model


def test_passed_and_method_follow_agreement_and_accuracy_computed_independently(folder, monkeypatch):
    # Timing fixed (fp32 2 s, int8 1 s, bf16 1.25 s: both fast enough, int8 fastest) so that
    # only the labels decide; the labels are the real forms' own.
    seconds = {False: 2.0, "int8": 1.0, "bf16": 1.25}
    monkeypatch.setattr(fastpath, "timed_predict",
                        lambda m, texts: (seconds[m.quantized], np.asarray(m.predict(texts), dtype=str).astype(object)))
    model = TextClassifier.load(folder)
    test = pd.read_csv(folder / "test_predictions.csv")
    texts, truth = test["text"].tolist(), test["true_label"].astype(str).to_numpy()
    fp32 = model.predict(texts).astype(str)
    expected = {}
    for method in ("int8", "bf16"):
        fast = TextClassifier.load(folder).quantize(method).predict(texts).astype(str)
        agreement = np.mean(fast == fp32)
        drop = np.mean(fp32 == truth) - np.mean(fast == truth)
        expected[method] = bool(agreement >= 0.99 and drop < 0.005)
    record = check_fast_path(folder, model)
    assert {m: f["passed"] for m, f in record["candidates"].items()} == expected
    assert record["passed"] is any(expected.values())
    assert record["method"] == next((m for m in ("int8", "bf16") if expected[m]), None)
    assert fast_path_allowed(folder) is any(expected.values())


def test_check_fails_when_int8_labels_disagree(folder, monkeypatch):
    test = pd.read_csv(folder / "test_predictions.csv")
    model = TextClassifier.load(folder)
    fp32 = model.predict(test["text"].tolist()).astype(str)
    flipped = np.where(fp32 == "positive", "negative", "positive")
    flipped[: len(flipped) // 2] = fp32[: len(flipped) // 2]  # half agree
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(flipped))
    record = check_fast_path(folder, model)
    assert record["passed"] is False
    assert record["agreement"] == pytest.approx(np.mean(flipped == fp32))
    assert record["method"] is None
    assert "int8: labels agree on" in record["reason"] and "bf16: labels agree on" in record["reason"]
    assert "needs >= 99%" in record["reason"]
    assert not fast_path_allowed(folder)
    with pytest.raises(ValueError, match="has not passed"):
        load_fast_model(folder)


def test_check_passes_when_fast_labels_agree(folder, monkeypatch):
    test = pd.read_csv(folder / "test_predictions.csv")
    model = TextClassifier.load(folder)
    same = model.predict(test["text"].tolist())
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(same))
    record = check_fast_path(folder, model)
    assert record["passed"] is True and record["agreement"] == 1.0 and record["accuracy_drop_points"] == 0.0
    assert fast_path_allowed(folder)
    fast = load_fast_model(folder)
    assert fast.quantized == record["method"] in ("int8", "bf16")
    assert list(fast.predict(["great phone"])) in (["positive"], ["negative"])


def test_an_accuracy_drop_of_half_a_point_fails_even_with_high_agreement(folder, monkeypatch):
    # 200 rows, all correct in fp32; int8 gets one row wrong: 99.5% agreement, 0.5-point drop.
    texts = [f"great {i}" for i in range(200)]
    pd.DataFrame({"text": texts, "true_label": ["positive"] * 200}).to_csv(folder / "test_predictions.csv", index=False)
    model = SimpleNamespace(task="classification", fast_forms=("int8", "bf16"), predict=lambda t: np.array(["positive"] * len(t)))
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(["negative"] + ["positive"] * 199))
    record = check_fast_path(folder, model)
    assert record["agreement"] == pytest.approx(0.995)
    assert record["accuracy_drop_points"] == pytest.approx(0.5)
    assert record["passed"] is False and "accuracy drops by 0.50 points" in record["reason"]


def test_the_fastest_passing_form_is_offered(folder, monkeypatch):
    test = pd.read_csv(folder / "test_predictions.csv")
    model = TextClassifier.load(folder)
    same = model.predict(test["text"].tolist())
    flipped = np.where(same == "positive", "negative", "positive")
    forms = {"int8": _Stub(flipped), "bf16": _Stub(same)}  # int8 changes labels, bf16 keeps them
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: forms[method])
    record = check_fast_path(folder, model)
    assert record["passed"] is True and record["method"] == "bf16"
    assert record["candidates"]["int8"]["passed"] is False and record["candidates"]["bf16"]["passed"] is True
    assert record["agreement"] == 1.0 and record["reason"].startswith("bf16:")
    fast = load_fast_model(folder)
    assert fast.quantized == "bf16" and next(fast.model.parameters()).dtype == torch.bfloat16


def test_a_form_that_is_not_faster_is_not_offered(folder, monkeypatch):
    test = pd.read_csv(folder / "test_predictions.csv")
    model = TextClassifier.load(folder)
    same = model.predict(test["text"].tolist())
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(same))
    # every form, fp32 included, takes the same 2 seconds: agreement is perfect, speed-up 1.0
    monkeypatch.setattr(fastpath, "timed_predict", lambda m, texts: (2.0, np.asarray(m.predict(texts), dtype=object)))
    record = check_fast_path(folder, model)
    assert record["passed"] is False and record["method"] is None
    assert record["candidates"]["bf16"]["speedup"] == 1.0
    assert "only 1.00x faster (needs >= 1.2x)" in record["reason"]
    assert not fast_path_allowed(folder)


def test_check_records_why_it_cannot_apply(folder):
    (folder / "test_predictions.csv").unlink()
    record = check_fast_path(folder)
    assert record["passed"] is False and "no test_predictions.csv" in record["reason"]
    assert not fast_path_allowed(folder)
    regression = SimpleNamespace(task="regression", fast_forms=("int8", "bf16"))
    assert "regression" in check_fast_path(folder, regression)["reason"]
    tabular = SimpleNamespace(task="classification", fast_forms=())
    assert "transformer models only" in check_fast_path(folder, tabular)["reason"]
    with pytest.raises(ValueError, match="transformer"):
        quantized_copy(tabular)


def test_a_record_from_another_torch_version_or_a_damaged_one_counts_as_missing(folder):
    assert read_fast_path(folder) is None and not fast_path_allowed(folder)
    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": True, "torch_version": "1.0.0"}))
    assert read_fast_path(folder) is None and not fast_path_allowed(folder)
    (folder / FAST_PATH_FILE).write_text("{not json")
    assert read_fast_path(folder) is None
    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": "yes", "method": "bf16", "candidates": {},
                                                     "torch_version": torch.__version__}))
    assert not fast_path_allowed(folder)  # only a real True counts
    # a record from before bf16 was a candidate (no "candidates") is checked again
    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": True, "torch_version": torch.__version__}))
    assert read_fast_path(folder) is None and not fast_path_allowed(folder)


def test_quantized_copy_leaves_the_original_fp32(trained_tiny):
    model = trained_tiny[0].model
    fast = quantized_copy(model)
    assert fast.quantized and not model.quantized
    assert fast.model is not model.model
    proba = fast.predict_proba(["great phone", "awful"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_saving_a_model_again_drops_the_old_record(folder):
    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": True, "method": "int8", "candidates": {},
                                                     "torch_version": torch.__version__}))
    assert fast_path_allowed(folder)
    TextClassifier.load(folder).save(folder, overwrite=True)
    assert not (folder / FAST_PATH_FILE).exists()
