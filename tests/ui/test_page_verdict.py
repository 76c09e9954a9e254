"""The finished-job panel and results in AppTest: which model was saved and why, and a warning
(never a success, never silently active) for a model no better than guessing.

The finished jobs are written the way core.jobs/core.worker write them; the saved model is a
real TF-IDF model folder whose metrics hold a verdict computed from known predictions.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from core.evaluation import choose_saved_model, classification_metrics
from core.jobs import jobs_root, write_state
from core.models import TfidfClassifier
from core.registry import model_path
from tests.conftest import make_sentiment_frame
from tests.core.test_verdict import sklearn_pipeline
from tests.ui.test_page_train import open_train, texts

CLASSES = ["negative", "positive"]


def _saved_job(name: str, test_pred: np.ndarray, y: np.ndarray, tfidf_pred: np.ndarray, job_id: str) -> None:
    """A TF-IDF model folder whose verdict compares ``test_pred`` (the transformer) and
    ``tfidf_pred`` on ``y``, plus a finished job pointing at it."""
    df = make_sentiment_frame(60)
    pipe = sklearn_pipeline(LogisticRegression(max_iter=2000)).fit(df["text"], df["label"])
    verdict = choose_saved_model(
        "classification", CLASSES, candidate="transformer", val_true=y, val_candidate=test_pred, val_tfidf=tfidf_pred,
        test_true=y, test_candidate=test_pred, test_tfidf=tfidf_pred, test_constant=["negative"] * len(y),
    )
    chosen = test_pred if verdict["chosen"] == "transformer" else tfidf_pred
    metrics = {
        "task": "classification",
        "model": classification_metrics(y, chosen, CLASSES),
        "baselines": {"majority": classification_metrics(y, ["negative"] * len(y), CLASSES),
                      "tfidf_lr": classification_metrics(y, tfidf_pred, CLASSES)},
        "split_sizes": {"train": 300, "validation": 50, "test": len(y)},
        "verdict": verdict,
        "saved_kind": "tfidf",
        "refit": {"rows": 450, "sentence": "The saved TF-IDF model was refitted on all 450 labelled rows."},
    }
    predictions = pd.DataFrame({"row": range(len(y)), "text": ["x"] * len(y), "true_label": y,
                                "predicted_label": chosen, "confidence": 0.9,
                                "p_negative": 0.5, "p_positive": 0.5})
    TfidfClassifier.from_pipeline(pipe, task="classification", classes=CLASSES, schema={"text_columns": ["text"]},
                                  metrics=metrics, test_predictions=predictions).save(model_path(name))
    folder = jobs_root() / job_id
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"model_name": name, "created": time.time(), "config": {}}))
    write_state(folder, "done", message="Saved", model_path=str(model_path(name)))


def _show(job_id: str):
    at = open_train()
    at.button(key=f"train_show_{job_id}").click().run()
    assert not at.exception, at.exception
    return at


def test_tfidf_saved_in_place_of_a_tie_says_so_and_becomes_active(models_dir):
    rng = np.random.default_rng(1)
    y = np.array(CLASSES * 100)
    good = np.where(rng.random(200) < 0.85, y, np.where(y == "positive", "negative", "positive"))
    _saved_job("tie-model", good, y, good, "20260101-000000-aaaaaa")  # identical predictions: a tie
    at = _show("20260101-000000-aaaaaa")
    assert "is trained and saved" in texts(at.success)
    assert "TF-IDF model was saved" in texts(at.success)
    assert at.session_state["active_model"] == "tie-model"
    page = texts(at.markdown)
    assert "Saved model: TF-IDF + logistic regression." in page and "within noise" in page
    assert "refitted on all 450" in texts(at.caption)
    assert not at.warning or "Not usable" not in texts(at.warning)


def test_one_class_model_gets_a_warning_and_is_not_made_active(models_dir):
    y = np.array(CLASSES * 100)
    _saved_job("older-model", y, y, y, "20260101-000000-aaaaaa")  # a usable model saved before
    everything_negative = np.array(["negative"] * 200)
    _saved_job("flat-model", everything_negative, y, everything_negative, "20260101-000000-bbbbbb")
    at = _show("20260101-000000-bbbbbb")
    assert not at.success or "flat-model" not in texts(at.success)  # never announced as a success
    warning = texts(at.warning)
    assert "not usable" in warning and "'negative' for every one of the 200 test rows" in warning
    assert at.session_state["active_model"] == "older-model"  # the newest model, but not made active
    assert "Not usable" in warning  # the results' banner too
    at.button(key="train_use_anyway").click().run()
    assert at.session_state["active_model"] == "flat-model"
    assert json.loads((model_path("flat-model") / "metrics.json").read_text())["verdict"]["useless"]
