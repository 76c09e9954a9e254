import json

import numpy as np
import pytest

from core import TextClassifier


def test_save_load_round_trip_identical_probabilities(trained_tiny):
    result, folder = trained_tiny
    texts = ["great phone", "awful service", "the dress was very bad", ""]
    before = result.model.predict_proba(texts)
    loaded = TextClassifier.load(folder)
    after = loaded.predict_proba(texts)
    np.testing.assert_allclose(before, after, atol=1e-6)
    assert list(loaded.classes_) == list(result.model.classes_)
    assert np.allclose(after.sum(axis=1), 1.0)


def test_folder_is_self_describing_and_pickle_free(trained_tiny):
    _, folder = trained_tiny
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "marketune.json", "data_schema.json", "training_config.json", "metrics.json", "README.md"} <= names
    assert not any(p.suffix in {".bin", ".pkl", ".pt", ".pickle", ".joblib"} for p in folder.rglob("*"))
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert "Test metrics" in (folder / "README.md").read_text()


def test_transformers_pipeline_loads_saved_classifier(trained_tiny):
    from transformers import pipeline

    result, folder = trained_tiny
    out = pipeline("text-classification", model=str(folder))(["great phone"])
    assert out[0]["label"] in {"negative", "positive"}
    ours = result.model.predict_proba(["great phone"])[0]
    assert out[0]["score"] == pytest.approx(ours.max(), abs=1e-5)


def test_predict_order_preserved_with_length_sorting(trained_tiny):
    result, _ = trained_tiny
    texts = ["great " * 10, "awful", "great", "awful " * 7, "the phone was perfect and the service great"]
    together = result.model.predict_proba(texts, batch_size=2)
    one_by_one = np.vstack([result.model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_predict_from_dataframe_uses_schema(trained_tiny):
    import pandas as pd

    result, _ = trained_tiny
    df = pd.DataFrame({"other": [1, 2], "text": ["great", "awful"]})
    assert list(result.model.predict(df)) == list(result.model.predict(["great", "awful"]))
    with pytest.raises(ValueError, match="missing"):
        result.model.predict(pd.DataFrame({"review": ["x"]}))


def test_save_is_atomic_and_refuses_overwrite(trained_tiny, tmp_path, monkeypatch):
    result, _ = trained_tiny
    target = tmp_path / "m"
    result.model.save(target)
    with pytest.raises(ValueError, match="already exists"):
        result.model.save(target)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(result.model.tokenizer, "save_pretrained", boom)
    with pytest.raises(OSError):
        result.model.save(tmp_path / "half")
    assert not (tmp_path / "half").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left behind


def test_load_refuses_non_safetensors(tmp_path, trained_tiny):
    import shutil

    _, folder = trained_tiny
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "model.safetensors").unlink()
    (copy / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="no model.safetensors"):
        TextClassifier.load(copy)


@pytest.mark.parametrize("method", ["int8", "bf16"])
def test_fast_forms_predict_close_to_fp32(trained_tiny, method):
    result, folder = trained_tiny
    fast = TextClassifier.load(folder).quantize(method)
    assert fast.quantized == method
    texts = ["great phone", "awful service", "fine", "the worst purchase ever, broke in a day"]
    assert np.abs(fast.predict_proba(texts) - result.model.predict_proba(texts)).max() < 0.05
    with pytest.raises(ValueError, match="already in its"):
        fast.quantize("int8" if method == "bf16" else "bf16")
    with pytest.raises(ValueError, match="cannot be saved"):
        fast.save(folder.parent / "never-written")
    assert not list(folder.parent.glob("*never-written*"))  # no folder, no temporary left behind
    with pytest.raises(ValueError, match="Unknown fast method"):
        TextClassifier.load(folder).quantize("fp8")


def test_bundled_base_model_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    from core import resolve_base_model

    base = resolve_base_model("minilm-en")
    tokenizer = AutoTokenizer.from_pretrained(base.location)
    model = AutoModel.from_pretrained(base.location, use_safetensors=True)
    out = model(**tokenizer(["hello world"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 384
