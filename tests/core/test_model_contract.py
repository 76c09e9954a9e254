"""One contract for every saved-model kind, as scikit-learn's ``parametrize_with_checks`` runs one
set of checks over every estimator: each check below is run on each kind (tfidf, transformer full
and LoRA, few-shot, embedding, the soft vote of TF-IDF and embeddings, zero-shot, the response kinds tabular and hybrid, and the
multi-label forms of transformer and TF-IDF), built from the tiny fixtures of tests/conftest.py.

The contract (core.models.SavedModel): a model saves into a folder whose marketune.json names its
kind, loads back through ``load_folder`` as that kind's class, and gives the same probabilities;
``predict_proba`` is (n, len(classes_)) with rows summing to 1 (multi-label: each tag in [0, 1]),
its columns in ``classes_`` order and ``predict`` consistent with it; the fast forms, where a kind
has them, give nearly the same probabilities and refuse to be saved; the product's scoring path
(core.predict.predict_frame) writes the same numbers; a single-label transformer folder loads in
``transformers.pipeline("text-classification")`` with the same scores.

Independent truths: the labels the tiny data gives away (a sentiment word per row, tags by words)
for the column order; transformers' own pipeline; scikit-learn's ``type_of_target`` for the shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.models import KINDS, FastModel, SavedModel, load_folder
from tests.conftest import make_sentiment_frame

SAVED = Path(__file__).resolve().parents[1] / "data" / "saved_models"
PROBE = make_sentiment_frame(40, seed=7)  # unseen rows; the label is given away by one word
MULTI_PROBE = ["great love it", "bad hate this", "great but broken", "the phone it", "awful worst", "perfect best"]


def _tagged_frame(n: int = 90) -> pd.DataFrame:
    """Tags given away by words: "pos" by a positive word, "neg" by a negative one, "other" for neither."""
    from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE

    rows = []
    for i in range(n):
        words, tags = [NEUTRAL[(i * 7 + j) % len(NEUTRAL)] for j in range(3)], []
        if i % 3 != 2:
            words.append(POSITIVE[i % len(POSITIVE)])
            tags.append("pos")
        if i % 2 == 0:
            words.append(NEGATIVE[i % len(NEGATIVE)])
            tags.append("neg")
        rows.append({"text": " ".join(words), "tags": "|".join(tags or ["other"])})
    return pd.DataFrame(rows)


def _config(tiny_model_dir, **changes):
    from core import TrainConfig

    settings = dict(base_model=str(tiny_model_dir), max_length=32, batch_size=16, choose_simpler=False,
                    early_stopping_patience=100)
    return TrainConfig(**{**settings, **changes})


# ------------------------------------------------------------------ one builder per kind
# Each returns a fitted model (not saved yet where it can be built here; the response kinds come
# from the folders tests/data/saved_models holds, as training them takes a comparison job).


def _transformer(ctx):
    return ctx.trained_tiny()[0].model


def _tfidf(ctx):
    return ctx.trained_tiny()[0].alternatives["tfidf"]


def _lora(ctx):
    from core import train

    df = make_sentiment_frame(120)
    return train(df, _config(ctx.tiny, method="lora", epochs=6, learning_rate=1e-2)).model


def _fewshot(ctx):
    from core import fewshot
    from core.fewshot import train_fewshot

    with pytest.MonkeyPatch.context() as patch:  # as tests/test_fewshot.py: the random tiny BERT learns its words
        patch.setattr(fewshot, "FREEZE_WORD_EMBEDDINGS", False)
        config = _config(ctx.tiny, method="fewshot", learning_rate=1e-2)
        return train_fewshot(make_sentiment_frame(40), config, steps=20, texts_per_step=24).model


def _embedding(ctx):
    from core.embedding import fit_embedding
    from core.prepare import prepare

    config = _config(ctx.tiny)
    return fit_embedding(prepare(make_sentiment_frame(90, seed=1), config), config)


def _softvote(ctx):
    """The soft vote of a TF-IDF and an embedding model fitted on the same rows (core.softvote's members)."""
    from core.embedding import fit_embedding
    from core.evaluation import tfidf_estimator
    from core.models import SoftVoteClassifier, TfidfClassifier
    from core.prepare import prepare

    config = _config(ctx.tiny)
    prepared = prepare(make_sentiment_frame(90, seed=1), config)
    train = prepared.splits["train"]
    pipeline = tfidf_estimator("classification", 4.0).fit(prepared.texts_at(train), prepared.labels[train])
    tfidf = TfidfClassifier.from_pipeline(pipeline, task="classification", classes=prepared.classes, schema=prepared.schema)
    return SoftVoteClassifier({"tfidf": tfidf, "embedding": fit_embedding(prepared, config)}, schema=prepared.schema)


def _zeroshot(ctx):
    from core.zeroshot import build_zeroshot

    return build_zeroshot(make_sentiment_frame(60)["text"].tolist(), "positive, negative", base_model=str(ctx.tiny))


def _multilabel(ctx):
    return ctx.multilabel().model


def _multilabel_tfidf(ctx):
    return ctx.multilabel().alternatives["tfidf"]


def _saved_fixture(name: str) -> Callable:
    return lambda ctx: load_folder(SAVED / name)


# kind id -> (builder, the kind its marketune.json must name, learned from PROBE-like data)
BUILDERS: dict[str, tuple[Callable, str, bool]] = {
    "tfidf": (_tfidf, "tfidf", True),
    "transformer-full": (_transformer, "transformer", True),
    "transformer-lora": (_lora, "transformer", True),
    "fewshot": (_fewshot, "fewshot", True),
    "embedding": (_embedding, "embedding", True),
    "softvote": (_softvote, "softvote", True),
    "zeroshot": (_zeroshot, "zeroshot", False),  # a random tiny encoder knows no category names
    "tabular": (_saved_fixture("tabular"), "tabular", False),
    "hybrid": (_saved_fixture("hybrid"), "hybrid", False),
    "transformer-multilabel": (_multilabel, "transformer", True),
    "tfidf-multilabel": (_multilabel_tfidf, "tfidf", True),
}


class _Context:
    """Lazily trained shared models: one fine-tune serves the transformer and its TF-IDF candidate."""

    def __init__(self, tiny: Path, trained_tiny: Callable):
        self.tiny, self.trained_tiny, self._multilabel = tiny, trained_tiny, None

    def multilabel(self):
        if self._multilabel is None:
            from core import train

            config = _config(self.tiny, label_column="tags", method="full", multi_label=True, epochs=4,
                             learning_rate=3e-3)
            self._multilabel = train(_tagged_frame(), config)
        return self._multilabel


@pytest.fixture(scope="module")
def context(tiny_model_dir, trained_tiny):
    return _Context(tiny_model_dir, lambda: trained_tiny)


@pytest.fixture(scope="module")
def models(context, tmp_path_factory):
    """kind id -> (the fitted model, its folder saved by this module): each built once, on first use."""
    cache: dict[str, tuple[SavedModel, Path]] = {}

    def get(kind_id: str) -> tuple[SavedModel, Path]:
        if kind_id not in cache:
            model = BUILDERS[kind_id][0](context)
            folder = model.save(tmp_path_factory.mktemp("contract") / kind_id)
            cache[kind_id] = (model, folder)
        return cache[kind_id]

    return get


def _probe_for(model: SavedModel) -> pd.DataFrame:
    """Unseen rows with every column the model reads (PROBE has text, age and channel)."""
    if _is_multilabel(model):
        return pd.DataFrame({"text": MULTI_PROBE})
    assert set(model.input_columns) <= set(PROBE), model.input_columns
    return PROBE


def _is_multilabel(model: SavedModel) -> bool:
    return bool(getattr(model, "multi_label", False))


# ------------------------------------------------------------------ the checks


def check_saves_and_loads_as_its_kind(model, folder, kind):
    manifest = json.loads((folder / "marketune.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == kind
    loaded = load_folder(folder)
    assert type(loaded) is KINDS[kind] and isinstance(loaded, SavedModel)
    assert [str(c) for c in loaded.classes_] == [str(c) for c in model.classes_]
    assert loaded.task == model.task == "classification"
    probe = _probe_for(model)
    np.testing.assert_allclose(loaded.predict_proba(probe), model.predict_proba(probe), rtol=0, atol=1e-5)
    # Only JSON, safetensors and text: nothing a load would have to unpickle.
    assert not any(p.suffix in {".pkl", ".pickle", ".joblib", ".bin", ".pt"} for p in folder.rglob("*"))
    with pytest.raises(ValueError):  # a folder is never silently replaced
        loaded.save(folder)


def check_proba_shape_and_range(model, folder, kind):
    from sklearn.utils.multiclass import type_of_target

    loaded = load_folder(folder)
    proba = loaded.predict_proba(_probe_for(model))
    assert proba.shape == (len(_probe_for(model)), len(loaded.classes_))
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
    if _is_multilabel(loaded):  # independent sigmoids: rows need not sum to 1
        assert type_of_target((proba > 0.5).astype(int)) in {"multilabel-indicator", "binary", "multiclass"}
    else:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def check_columns_follow_classes(model, folder, kind, learned):
    loaded = load_folder(folder)
    probe = _probe_for(model)
    proba = loaded.predict_proba(probe)
    predicted = loaded.predict(probe)
    classes = np.asarray(loaded.classes_).astype(str)
    if _is_multilabel(loaded):
        thresholds = loaded.thresholds if loaded.thresholds is not None else np.full(len(classes), 0.5)
        expected = ["|".join(classes[row >= thresholds]) for row in proba]
        assert [str(p) for p in predicted] == expected
    else:
        assert [str(p) for p in predicted] == list(classes[proba.argmax(axis=1)])
    if not learned:
        return
    # The truth the data gives away: each class's column is higher on the rows of that class than
    # on the others (a column order other than classes_' would turn this around).
    if _is_multilabel(loaded):
        truth = {"pos": [1, 0, 1, 0, 0, 1], "neg": [0, 1, 1, 0, 1, 0]}
        for tag, has in truth.items():
            j, has = list(classes).index(tag), np.asarray(has, dtype=bool)
            assert proba[has, j].mean() > proba[~has, j].mean(), tag
    else:
        for j, label in enumerate(classes):
            mine = (PROBE["label"].astype(str) == label).to_numpy()
            assert proba[mine, j].mean() > proba[~mine, j].mean(), label


def check_fast_forms(model, folder, kind):
    loaded = load_folder(folder)
    assert isinstance(loaded, FastModel) == bool(loaded.fast_forms)
    probe = _probe_for(model)
    full = loaded.predict_proba(probe)
    for form in loaded.fast_forms:
        fast = load_folder(folder).quantize(form)
        assert fast.quantized == form
        proba = fast.predict_proba(probe)
        assert proba.shape == full.shape
        if not _is_multilabel(fast):
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-3)
        # bf16 keeps ~3 significant digits and int8 rounds the weights: close, not equal.
        np.testing.assert_allclose(proba, full, atol=0.05)
        with pytest.raises(ValueError):
            fast.save(folder.parent / f"{folder.name}-{form}")


def check_transformers_pipeline_loads_it(model, folder, kind):
    # Run on the single-label transformers (PIPELINE_KINDS): one text column, fed as is.
    assert kind == "transformer" and not _is_multilabel(model)
    assert model.schema.get("text_columns") == ["text"] and not model.schema.get("profile_columns")
    from transformers import pipeline

    texts = PROBE["text"].tolist()[:8]
    out = pipeline("text-classification", model=str(folder))(texts)
    ours = load_folder(folder).predict_proba(texts)
    classes = [str(c) for c in model.classes_]
    assert [o["label"] for o in out] == [classes[i] for i in ours.argmax(axis=1)]
    np.testing.assert_allclose([o["score"] for o in out], ours.max(axis=1), atol=1e-5)


def check_scores_through_predict_frame(model, folder, kind):
    # The product's one scoring path (the Predict page, the CLI, the API, Ray): the loaded folder's
    # p_<class> columns are its predict_proba, in classes_ order, and its labels its predict.
    from core.predict import predict_frame

    loaded = load_folder(folder)
    probe = _probe_for(model)
    out = predict_frame(loaded, probe)
    assert len(out) == len(probe) and list(out.columns[: len(probe.columns)]) == list(probe.columns)
    proba = loaded.predict_proba(probe)
    columns = [f"p_{c}" for c in loaded.classes_]
    np.testing.assert_allclose(out[columns].to_numpy(dtype=float), proba, rtol=0, atol=1e-6)
    labels = "predicted_labels" if _is_multilabel(loaded) else "predicted_label"
    assert out[labels].fillna("").astype(str).tolist() == [str(p) for p in loaded.predict(probe)]


CHECKS = {
    "saves_and_loads_as_its_kind": lambda m, f, kind, learned: check_saves_and_loads_as_its_kind(m, f, kind),
    "proba_shape_and_range": lambda m, f, kind, learned: check_proba_shape_and_range(m, f, kind),
    "columns_follow_classes": check_columns_follow_classes,
    "fast_forms": lambda m, f, kind, learned: check_fast_forms(m, f, kind),
    "scores_through_predict_frame": lambda m, f, kind, learned: check_scores_through_predict_frame(m, f, kind),
    "transformers_pipeline": lambda m, f, kind, learned: check_transformers_pipeline_loads_it(m, f, kind),
}


def test_every_kind_that_loads_is_covered():
    assert {kind for _, kind, _ in BUILDERS.values()} == set(KINDS)


# Where a check applies, as parametrize_with_checks yields only an estimator's own checks: a plain
# text-classification folder is what a single-label fine-tune on one text column saves.
PIPELINE_KINDS = {"transformer-full", "transformer-lora"}
PAIRS = [(k, c) for k in BUILDERS for c in CHECKS if c != "transformers_pipeline" or k in PIPELINE_KINDS]


@pytest.mark.parametrize(("kind_id", "check"), PAIRS, ids=[f"{k}-{c}" for k, c in PAIRS])
def test_contract(models, kind_id, check):
    model, folder = models(kind_id)
    _, kind, learned = BUILDERS[kind_id]
    CHECKS[check](model, folder, kind, learned)
