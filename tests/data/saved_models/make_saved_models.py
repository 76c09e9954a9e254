"""Write the saved-model folders that tests/test_saved_models.py loads, and what they predicted.

Run once, by hand, from the repository root: ``.venv/bin/python tests/data/saved_models/make_saved_models.py``.
The folders in git were written by the code of main at ee6cf18, before core's models wing
(issue 14), so the test proves that folders saved by that code still load and predict the same.
Do not rewrite them with newer code unless the saved format changes on purpose. This script
speaks that code's names: ``feature_columns`` (today's ``profile_columns``, renamed in issue 14).

One folder per saved kind, each as small as a model of that kind can be (the tiny random BERT of
tests/conftest.py, a few dozen rows): transformer, transformer-calibrated (a response comparison's
fine-tuned transformer with its calibration.json), fewshot, tfidf, tabular, hybrid.
``expected.json`` holds, per folder, the input rows and the probabilities and labels the model gave
right after training, before it was saved.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import make_sentiment_frame, make_tiny_bert  # noqa: E402

from core import TfidfClassifier, TrainConfig, build_texts, train, train_fewshot  # noqa: E402
from core.evaluation import tfidf_estimator  # noqa: E402
from core.response import ResponseSetup, train_response_models  # noqa: E402


def frame(n: int, seed: int):
    """make_sentiment_frame with profile columns that do not give the label away (there, the
    channel alternates with the label), so every model has to read the text."""
    df = make_sentiment_frame(n, seed=seed)
    rng = np.random.default_rng(seed)
    df["channel"] = rng.choice(["email", "social", "search"], n)
    df["age"] = rng.integers(18, 70, n)
    return df


TEXT_INPUTS = frame(8, seed=7)[["text", "channel"]]
RESPONSE_INPUTS = frame(8, seed=7)[["text", "age", "channel"]]


def record(model, inputs) -> dict:
    return {
        "inputs": inputs.to_dict(orient="list"),
        "classes": [str(c) for c in model.classes_],
        "proba": model.predict_proba(inputs).tolist(),
        "predict": [str(v) for v in model.predict(inputs)],
    }


def main() -> None:
    expected: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = str(make_tiny_bert(Path(tmp) / "tiny-bert"))
        df = frame(160, seed=0)
        small = dict(base_model=base, max_length=32, batch_size=16, learning_rate=3e-3)
        models = {}

        config = TrainConfig(text_columns=("text",), feature_columns=("channel",), method="full", epochs=10,
                             choose_simpler=False, early_stopping_patience=100, **small)
        models["transformer"] = (train(df, config).model, TEXT_INPUTS)

        config = TrainConfig(text_columns=("text",), method="fewshot", **small)
        models["fewshot"] = (train_fewshot(df, config, steps=3, cv=False).model, TEXT_INPUTS)

        texts = build_texts(df, ["text"], ["channel"])
        pipeline = tfidf_estimator("classification", 1.0).fit(texts, df["label"])
        schema = {"text_columns": ["text"], "feature_columns": ["channel"], "label_column": "label",
                  "format": "'column: value' fields joined by ' | ', profile columns first; empty cells left out"}
        models["tfidf"] = (TfidfClassifier.from_pipeline(pipeline, task="classification",
                                                         classes=["negative", "positive"], schema=schema),
                           TEXT_INPUTS)

        comparison = train_response_models(frame(160, seed=1), ResponseSetup(
            ["age", "channel"], ["text"], "label", "positive", base_model=base,
            transformer_settings={"epochs": 10, "early_stopping_patience": 100, "max_length": 32, "batch_size": 16, "learning_rate": 3e-3},
            tabular_params={"max_iter": 5, "min_samples_leaf": 5}, refit=False,
        ))
        models["transformer-calibrated"] = (comparison.candidates["transformer"].model, RESPONSE_INPUTS)
        models["tabular"] = (comparison.candidates["tabular"].model, RESPONSE_INPUTS)
        models["hybrid"] = (comparison.candidates["hybrid"].model, RESPONSE_INPUTS)

        for name, (model, inputs) in models.items():
            folder = HERE / name
            shutil.rmtree(folder, ignore_errors=True)
            model.save(folder)
            expected[name] = record(model, inputs)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
