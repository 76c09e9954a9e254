"""The frozen-encoder embedding model (kind "embedding"): fit, save/load, refusals, the CLI method.

Independent truths: the embeddings are recomputed here with transformers directly (mean pooling
and L2 normalisation written out), and scikit-learn's LogisticRegression / Ridge are fitted on
them with the model's chosen C / alpha; the model must give their probabilities and values.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from core.config import TrainConfig
from core.embedding import fit_embedding
from core.models import EmbeddingClassifier, load_folder
from core.prepare import prepare
from core.progress import TrainingCancelled
from tests.conftest import make_sentiment_frame

# Class names whose natural order ("2" < "3" < "10", the model's classes_) differs from
# scikit-learn's string order ("10" < "2" < "3"), so a column-order slip cannot pass unseen.
NAMES = {"negative": "2", "neutral": "3", "positive": "10"}


def _prepared(tiny_model_dir, classes: int = 3, task: str = "classification"):
    df = make_sentiment_frame(90, seed=1, classes=classes)
    if task == "regression":
        df["label"] = df["text"].str.len() / 10.0 + df["text"].str.count("great|love|best") * 2.0
    else:
        df["label"] = df["label"].map(NAMES)
    config = TrainConfig(base_model=str(tiny_model_dir), max_length=32, task=task)
    return prepare(df, config), config


def _embed(model_dir, texts: list[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings computed without core (the independent truth)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, body = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = body(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        mean = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(mean, dim=1).numpy().astype(np.float64)


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, tmp_path_factory):
    prepared, config = _prepared(tiny_model_dir)
    model = fit_embedding(prepared, config)
    folder = model.save(tmp_path_factory.mktemp("embedding") / "model")
    return prepared, model, folder


@pytest.mark.parametrize("classes", [2, 3])
def test_probabilities_match_an_independent_logistic_regression_in_classes_order(tiny_model_dir, classes):
    from sklearn.linear_model import LogisticRegression

    prepared, config = _prepared(tiny_model_dir, classes)
    events = []
    model = fit_embedding(prepared, config, on_progress=events.append)
    train, test = prepared.splits["train"], prepared.splits["test"]
    assert list(model.classes_) == prepared.classes == sorted(prepared.classes, key=int)
    truth = LogisticRegression(C=model.estimator["C"], class_weight="balanced", max_iter=5000, tol=1e-10)
    truth.fit(_embed(tiny_model_dir, prepared.texts_at(train)), prepared.labels[train].astype(str))
    expected = truth.predict_proba(_embed(tiny_model_dir, prepared.texts_at(test)))
    expected = expected[:, [list(truth.classes_).index(c) for c in model.classes_]]  # into classes_ order
    proba = model.predict_proba(prepared.texts_at(test))
    assert proba.shape == (len(test), classes)
    # The product fits to scikit-learn's default tolerance (1e-4), the truth to 1e-10: they agree
    # to ~0.005; a slip in column order would be off by far more (checked on the reversed order).
    np.testing.assert_allclose(proba, expected, atol=1e-2)
    assert np.abs(proba[:, ::-1] - expected).max() > 0.1
    assert list(model.predict(prepared.texts_at(test))) == list(np.asarray(model.classes_)[proba.argmax(1)])
    # Progress: "train" events count the batches embedded, ending at 1.0.
    assert events and all(e.phase == "train" for e in events) and events[-1].epoch == 1.0
    assert model.estimator["cv_folds"] >= 2 and model.estimator["C"] in (0.25, 1.0, 4.0, 16.0, 64.0)


def test_save_load_round_trip_gives_identical_probabilities(fitted):
    prepared, model, folder = fitted
    loaded = load_folder(folder)
    texts = prepared.texts_at(prepared.splits["test"]) + ["", "ünïcode 好"]
    assert isinstance(loaded, EmbeddingClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert list(loaded.classes_) == list(model.classes_)
    manifest = json.loads((folder / "marketune.json").read_text())
    assert manifest["kind"] == "embedding" and manifest["encoder"]["pooling"] == "mean"
    assert manifest["base_model"] == model.base_model
    suffixes = {p.suffix for p in folder.iterdir()}
    assert suffixes <= {".json", ".safetensors", ".md", ".csv"}, suffixes
    # A DataFrame is read through the saved schema, as the Predict page passes it.
    frame = pd.DataFrame({"text": texts})
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(texts))


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_a_pickle_instead_of_safetensors_is_refused(fitted, tmp_path):
    folder = _copy(fitted[2], tmp_path)
    (folder / "embedding.safetensors").unlink()
    (folder / "embedding.pkl").write_bytes(pickle.dumps({"coef": np.zeros(3)}))
    with pytest.raises(ValueError, match="no embedding.safetensors"):
        load_folder(folder)


@pytest.mark.parametrize("damage", ["pickle bytes", "truncated"])
def test_damaged_safetensors_is_refused(fitted, tmp_path, damage):
    folder = _copy(fitted[2], tmp_path)
    path = folder / "embedding.safetensors"
    data = path.read_bytes()
    path.write_bytes(pickle.dumps({"coef": np.zeros(3)}) if damage == "pickle bytes" else data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged"):
        load_folder(folder)


def test_an_encoder_that_embeds_differently_is_refused(fitted, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = _copy(fitted[2], tmp_path)
    arrays = load_file(str(folder / "embedding.safetensors"))
    arrays["probe"] = arrays["probe"] + np.float32(0.01)  # as if the base model had been rebuilt
    save_file(arrays, str(folder / "embedding.safetensors"))
    with pytest.raises(ValueError, match="no longer gives the embeddings"):
        load_folder(folder)


def test_regression_is_ridge_on_the_embeddings(tiny_model_dir, tmp_path):
    from sklearn.linear_model import Ridge

    prepared, config = _prepared(tiny_model_dir, task="regression")
    model = fit_embedding(prepared, config)
    train, test = prepared.splits["train"], prepared.splits["test"]
    truth = Ridge(alpha=model.estimator["alpha"]).fit(_embed(tiny_model_dir, prepared.texts_at(train)), prepared.y[train])
    expected = truth.predict(_embed(tiny_model_dir, prepared.texts_at(test)))
    np.testing.assert_allclose(model.predict(prepared.texts_at(test)), expected, atol=1e-4)
    with pytest.raises(ValueError, match="regression model"):
        model.predict_proba(["great"])
    loaded = load_folder(model.save(tmp_path / "reg"))
    np.testing.assert_array_equal(loaded.predict(prepared.texts_at(test)), model.predict(prepared.texts_at(test)))


def test_cancel_stops_before_anything_is_fitted(tiny_model_dir):
    prepared, config = _prepared(tiny_model_dir)
    with pytest.raises(TrainingCancelled):
        fit_embedding(prepared, config, cancel=lambda: True)


def test_input_prefix_follows_the_encoder(tiny_model_dir, tmp_path):
    from core.base_models import BaseModel, input_prefix, resolve_base_model

    assert input_prefix(resolve_base_model(str(tiny_model_dir))) == ""
    assert input_prefix(BaseModel("multilingual-e5-small", "/nowhere", ("multi",), "", True)) == "query: "
    assert input_prefix(BaseModel("intfloat/multilingual-e5-base", "intfloat/multilingual-e5-base", ("unknown",), "",
                                  False)) == "query: "
    copy = tmp_path / "e5-copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "marketune_source.json").write_text(json.dumps({"model": "intfloat/multilingual-e5-small"}))
    assert input_prefix(resolve_base_model(str(copy))) == "query: "


def test_cli_method_embedding_trains_compares_and_predicts(tiny_model_dir, tmp_path, capsys):
    from core.cli import main

    data = tmp_path / "train.csv"
    make_sentiment_frame(90, seed=2).to_csv(data, index=False)
    out = tmp_path / "model"
    code = main(["train", "--data", str(data), "--text-col", "text", "--label-col", "label", "--out", str(out),
                 "--base-model", str(tiny_model_dir), "--method", "embedding", "--max-length", "32", "--quiet",
                 "--keep-transformer"])  # keep the requested kind whatever the rule says (it is the kind under test)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["saved_kind"] == "embedding" and result["method_chosen"] == "embedding"
    assert json.loads((out / "marketune.json").read_text())["kind"] == "embedding"
    # Kept beside it: TF-IDF and the soft vote of the two (core.softvote), each a complete folder.
    assert result["kept_candidates"] == ["softvote", "tfidf"] and (out / "candidates" / "tfidf" / "tfidf.safetensors").is_file()
    assert json.loads((out / "candidates" / "softvote" / "marketune.json").read_text())["kind"] == "softvote"
    # The verdict compares it with TF-IDF on the same test rows as the saved predictions.
    saved = pd.read_csv(out / "test_predictions.csv", keep_default_na=False)
    assert len(saved) == result["split_sizes"]["test"] == result["model"]["n"]
    from sklearn.metrics import f1_score

    assert result["model"]["macro_f1"] == pytest.approx(
        f1_score(saved["true_label"].astype(str), saved["predicted_label"].astype(str), average="macro"))
    assert "Frozen-encoder embeddings + logistic regression" in result["verdict"]["sentence"]
    predictions = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(out), "--data", str(data), "--out", str(predictions)]) == 0
    written = pd.read_csv(predictions, keep_default_na=False)
    expected = load_folder(out).predict(pd.read_csv(data, keep_default_na=False))
    assert written["predicted_label"].astype(str).tolist() == [str(v) for v in expected]


def test_predict_page_scores_with_an_embedding_model(fitted, models_dir):
    from tests.ui.test_page_predict import NEW_ROWS, open_page, upload

    shutil.copytree(fitted[2], models_dir / "emb-model")
    at = open_page()
    assert at.selectbox(key="predict_model").value == "emb-model"
    upload(at, NEW_ROWS)
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    result = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    expected = fitted[1].predict(NEW_ROWS)
    scored = result["text"] != ""
    assert result.loc[scored, "predicted_label"].astype(str).tolist() == [str(v) for v in expected[scored.to_numpy()]]
    assert {f"p_{c}" for c in fitted[1].classes_} <= set(result.columns)


def test_the_three_encoder_kinds_embed_prefix_plus_text_with_one_loop(tiny_model_dir):
    """Few-shot, zero-shot and embedding models share core.models.fewshot.encode; each embeds
    ``text_prefix + text`` exactly as transformers' own mean pooling does (numbers recomputed
    here), so moving the prefix into the shared loop changed no number (checked bit for bit
    against the three former ``embed`` methods when it was made)."""
    from transformers import AutoModel, AutoTokenizer

    from core.models.fewshot import FewShotClassifier
    from core.models.zeroshot import ZeroShotClassifier

    body, tokenizer = AutoModel.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)
    d, texts = int(body.config.hidden_size), ["great dress", "awful service, never again", "ok"]
    common = {"classes": ["a", "b"], "coef": np.zeros((1, d)), "intercept": np.zeros(1),
              "schema": {"text_columns": ["text"]}, "max_length": 32}
    few = FewShotClassifier(body, tokenizer, **common)
    zero = ZeroShotClassifier(body, tokenizer, prototypes=np.zeros((2, d)), text_prefix="query: ", **common)
    frozen = EmbeddingClassifier(body, tokenizer, task="classification", classes=["a", "b"], coef=np.zeros((2, d)),
                                 intercept=np.zeros(2), schema={"text_columns": ["text"]},
                                 encoder={"base_model": str(tiny_model_dir), "prefix": "query: ", "max_length": 32})
    plain, prefixed = _embed(tiny_model_dir, texts), _embed(tiny_model_dir, ["query: " + t for t in texts])
    np.testing.assert_allclose(few.embed(texts), plain, atol=1e-5)
    np.testing.assert_allclose(zero.embed(texts), prefixed, atol=1e-5)
    np.testing.assert_allclose(frozen.embed(texts), prefixed, atol=1e-5)
    assert np.abs(plain - prefixed).max() > 1e-3  # the prefix matters, so the checks above can fail


def test_onnx_export_refuses_an_embedding_model_in_words(fitted, tmp_path):
    """Walk finding: `export --format onnx` on an embedding model died with a TypeError from
    BertModel.forward; it is refused up front, naming the kind, and the folder is left as it was."""
    from core.onnx_form import export

    folder = _copy(fitted[2], tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ValueError, match=r"transformers; this model is a frozen-encoder embeddings \+ logistic regression \(kind 'embedding'\)\."):
        export(folder)
    assert sorted(p.name for p in folder.iterdir()) == before
