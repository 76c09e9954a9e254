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
    said = texts([*at.warning, *at.markdown, *at.caption, *at.info])
    assert said.count("'negative' for every one of the 200 test rows") == 1  # once: in the outcome, at the top
    at.button(key="train_use_anyway").click().run()
    assert at.session_state["active_model"] == "flat-model"
    assert json.loads((model_path("flat-model") / "metrics.json").read_text())["verdict"]["useless"]



def save_cautioned_tags_model(name: str) -> str:
    """A real TF-IDF one-vs-rest model folder ``name`` whose verdict has a caution computed from
    known predictions that over-tag (micro-F1 above the constant guesses, a Hamming loss worse than
    "no tag at all"). Returns the caution's first clause, "Its Hamming loss on the 20 test rows is
    0.xxx, no better than ...", checked against scikit-learn's hamming_loss."""
    from sklearn.metrics import hamming_loss

    from core import TrainConfig
    from core.multilabel import multilabel_metrics
    from core.multilabel_training import MOST_FREQUENT, baseline_notes, fit_tfidf_ovr, most_frequent_per_tag
    from core.prepare import prepare
    from tests.core.test_multilabel_training import make_tagged_frame

    config = TrainConfig(label_column="tags", multi_label=True)
    prepared = prepare(make_tagged_frame(60), config)
    model, _ = fit_tfidf_ovr(prepared, config, prepared.splits)
    rng = np.random.default_rng(0)
    truth = rng.random((40, 3)) < 0.2
    over = np.where(rng.random(truth.shape) < 0.6, True, truth).astype(int)  # many tags a row does not have
    baselines = {MOST_FREQUENT: most_frequent_per_tag(truth[:20], truth[20:], prepared.classes)}
    saved = multilabel_metrics(truth[20:], over[20:], prepared.classes)
    warning, caution = baseline_notes(saved, baselines)
    assert not warning and f"{hamming_loss(truth[20:], over[20:]):.3f}" in caution  # the truth: scikit-learn's
    reason = "TF-IDF one-vs-rest logistic regression is the only candidate scored so far, so it was saved."
    model.metrics = {"task": "classification", "multi_label": True, "model": saved, "baselines": baselines,
                     "split_sizes": {"train": 40, "validation": 20, "test": 20}, "saved_kind": "tfidf",
                     "verdict": {"useless": False, "warning": "", "caution": caution, "reason": reason,
                                 "sentence": f"{reason} {caution}"}}
    model.save(model_path(name), overwrite=model_path(name).exists())
    return caution.split(":")[0]


def test_a_multi_label_caution_is_said_once_on_the_train_pages_result(models_dir):
    """The caution is the outcome's, at the top (the most visible place); the results below (the
    verdict's banner and its account) do not repeat it. The code before this said it three times."""
    first = save_cautioned_tags_model("tags-model")
    folder = jobs_root() / "20260101-000000-cccccc"
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"model_name": "tags-model", "created": time.time(), "config": {}}))
    write_state(folder, "done", message="Saved", model_path=str(model_path("tags-model")))
    at = _show("20260101-000000-cccccc")
    said = texts([*at.warning, *at.markdown, *at.caption, *at.info, *at.success])
    assert said.count(first) == 1, said
    assert first in texts(at.warning[:1]) and "is now the active model" in texts(at.warning[:1])  # at the top
    markdown = texts(at.markdown)
    assert "Saved model: TF-IDF + logistic regression." in markdown and "only candidate scored so far" in markdown
    assert at.session_state["active_model"] == "tags-model"  # a caution stays usable
