"""The fast path (int8/bf16, core/fastpath.py) and the ONNX form (core/onnx_form.py) for models with
several tags per row: judged per tag decision (every tag's yes/no agrees with fp32 on >= 99% of the
test rows) and by micro-F1. Truths: scikit-learn's micro-F1 and decisions computed here from each
form's own probabilities and the saved thresholds."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

import core.fastpath as fastpath
from core.cli import main as cli_main
from core.fastpath import FAST_PATH_FILE, check_fast_path, describe_check, load_fast_model
from core.models import load_folder
from tests.core.test_multilabel_training import trained  # noqa: F401 - the tiny multi-label model


@pytest.fixture
def folder(trained, tmp_path):  # noqa: F811 - the fixture above
    copy = tmp_path / "tagged"
    shutil.copytree(trained[1], copy)
    return copy


def indicator(joined, tags) -> np.ndarray:
    lists = [[] if not isinstance(v, str) or not v else v.split("|") for v in joined]
    return MultiLabelBinarizer(classes=tags).fit_transform(lists).astype(bool)


class _Stub:
    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=object)

    def predict(self, texts):
        return self.labels[: len(texts)]


def test_each_form_is_judged_per_tag_and_by_micro_f1_as_scikit_learn_computes_them(folder, monkeypatch):
    seconds = {False: 2.0, "int8": 1.0, "bf16": 1.25}  # speed fixed: only the decisions decide
    monkeypatch.setattr(fastpath, "timed_predict",
                        lambda m, texts: (seconds[m.quantized], np.asarray(m.predict(texts), dtype=object)))
    model = load_folder(folder)
    tags = list(model.classes_)
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    texts, truth = test["text"].tolist(), indicator(test["true_labels"], tags)
    record = check_fast_path(folder, model)
    assert record["measure"] == "micro_f1" and record["n_rows"] == len(texts) > 0
    full = model.predict_proba(texts) >= model.thresholds
    assert record["accuracy_fp32"] == pytest.approx(f1_score(truth, full, average="micro", zero_division=0), abs=1e-6)
    for method, form in record["candidates"].items():
        fast = load_folder(folder).quantize(method)
        decided = fast.predict_proba(texts) >= fast.thresholds
        per_tag = (decided == full).mean(axis=0)
        assert form["agreement_per_tag"] == pytest.approx(dict(zip(tags, per_tag)), abs=1e-6), method
        assert form["agreement"] == pytest.approx(per_tag.min(), abs=1e-6)
        f1 = f1_score(truth, decided, average="micro", zero_division=0)
        assert form["accuracy_fast"] == pytest.approx(f1, abs=1e-6), method
        assert form["passed"] is bool(per_tag.min() >= 0.99 and record["accuracy_fp32"] - f1 < 0.005), method


def test_one_tag_changed_on_2_percent_of_rows_fails_though_all_cells_agree_on_more_than_99(folder, monkeypatch):
    """200 rows, 3 tags: flipping tag 'neg' on 4 rows changes 0.7% of all decisions but 2% of that
    tag's: the form is refused, naming the tag."""
    tags = ["neg", "other", "pos"]
    rows = [["pos", "neg|pos", "other", "neg"][i % 4] for i in range(200)]
    pd.DataFrame({"text": [f"t {i}" for i in range(200)], "true_labels": rows}).to_csv(
        folder / "test_predictions.csv", index=False)
    changed = list(rows)
    for i in (0, 4, 8, 12):  # "pos" -> "neg|pos": only 'neg' changes
        changed[i] = "neg|pos"
    model = SimpleNamespace(task="classification", fast_forms=("int8", "bf16"), multi_label=True, classes_=tags,
                            predict=lambda t: np.array(rows[: len(t)], dtype=object))
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(changed))
    record = check_fast_path(folder, model)
    cells = (indicator(changed, tags) == indicator(rows, tags)).mean()
    assert cells > 0.99  # a whole-matrix rule would have passed it
    assert record["passed"] is False and record["agreement"] == pytest.approx(0.98)
    assert "tag 'neg' decisions agree on 98.0% of test rows (needs >= 99% for every tag)" in record["reason"]
    assert "of one tag's decisions" in describe_check(record)
    # The same rows unchanged pass, and the page's words speak of tags and micro-F1.
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(rows))
    monkeypatch.setattr(fastpath, "timed_predict", lambda m, texts: (1.0 if isinstance(m, _Stub) else 2.0,
                                                                      np.asarray(m.predict(texts), dtype=object)))
    record = check_fast_path(folder, model)
    assert record["passed"] is True and record["accuracy_fast"] == record["accuracy_fp32"] == 1.0
    assert "each tag's decision is the same" in describe_check(record) and "micro-F1" in describe_check(record)


def test_predict_fast_scores_tags_with_the_checked_form(folder, tmp_path, monkeypatch, capsys):
    model = load_folder(folder)
    texts = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)["text"].tolist()
    monkeypatch.setattr(fastpath, "quantized_copy", lambda m, method: _Stub(model.predict(texts)))
    monkeypatch.setattr(fastpath, "timed_predict", lambda m, t: (1.0 if isinstance(m, _Stub) else 2.0,
                                                                 np.asarray(m.predict(t), dtype=object)))
    assert check_fast_path(folder, model)["passed"]
    method = json.loads((folder / FAST_PATH_FILE).read_text())["method"]
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": texts[:6]}).to_csv(data, index=False)
    rc = cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "out.csv"), "--fast"])
    err = capsys.readouterr().err
    assert rc == 0 and f"fast path: {method}" in err, err
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    fast = load_fast_model(folder)  # the checked form, computed here
    proba = fast.predict_proba(texts[:6])
    np.testing.assert_allclose(out[[f"p_{t}" for t in fast.classes_]].to_numpy(dtype=float), proba, atol=1e-4)
    assert out["predicted_labels"].tolist() == list(fast.predict(texts[:6]))


def test_the_onnx_form_of_a_multi_label_model_keeps_its_sigmoid_per_tag(folder):
    from core.onnx_form import export, load_onnx

    record = export(folder)
    assert record["measure"] == "micro_f1" and record["passed"]
    texts = ["great love it", "bad hate this", "plain words here"]
    torch_model = load_folder(folder)
    onnx_model = load_onnx(folder)
    assert onnx_model.multi_label
    np.testing.assert_allclose(onnx_model.predict_proba(texts), torch_model.predict_proba(texts), atol=1e-4)
    assert list(onnx_model.predict(texts)) == list(torch_model.predict(texts))


def test_the_api_answers_tags_and_ood_as_the_cli_writes_them_in_both_forms(folder, tmp_path):
    """Several tags per row through `POST /predict`: ``labels``, each tag's probability and ``ood``
    equal the CLI's file (`predict --ood`), with the saved weights and then the checked ONNX form
    (`predict --fast --ood`), which serve uses once exported."""
    from fastapi.testclient import TestClient

    from core.onnx_form import export
    from core.serve import create_app
    from tests.core.test_onnx_form import record_speeds

    texts = ["great love it", "bad hate this", "ok then", "qwerty zxcv 12345 !!!", ""]
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(data, index=False)
    for fast in ([], ["--fast"]):
        if fast:
            export(folder)
            record_speeds(folder, onnx=50.0, torch_fp32=20.0, torch_bf16=30.0)  # both paths run it when faster
        out = tmp_path / f"out{len(fast)}.csv"
        assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--ood", *fast]) == 0
        expected = pd.read_csv(out, keep_default_na=False)
        got = TestClient(create_app(folder)).post("/predict", json={"texts": texts}).json()["predictions"]
        assert len(got) == len(texts)
        for (_, row), answer in zip(expected.iterrows(), got):
            if row["prediction_error"]:
                assert answer == {"error": row["prediction_error"]}
                continue
            assert answer["labels"] == ([] if not row["predicted_labels"] else row["predicted_labels"].split("|"))
            for tag, p in answer["probabilities"].items():
                assert p == pytest.approx(float(row[f"p_{tag}"]), abs=1e-5)
            assert answer["ood"] is (str(row["out_of_distribution"]) == "True")
            assert set(answer) == {"labels", "probabilities", "ood"}
