"""A candidate that fails after a leader was saved costs nothing but itself: the saved model stays,
loads and predicts, and the job names the candidate that failed. Leaderboard events have their own
phase ("candidates"), which the Train page's progress line reads."""

from __future__ import annotations

import json
import unittest.mock
from pathlib import Path

import pandas as pd
import pytest

import core.pipeline as pipeline
from core import TrainConfig
from core.models import load_folder
from tests.conftest import make_sentiment_frame


def tiny(tiny_model_dir, **changes) -> TrainConfig:
    base = dict(base_model=str(tiny_model_dir), method="full", epochs=1, batch_size=16, max_length=32)
    return TrainConfig(**{**base, **changes})


def job(tmp_path: Path, config: TrainConfig, rows: int = 80) -> tuple[Path, Path]:
    """A queued training job folder as core.jobs.start_job writes it: (job folder, models folder)."""
    from core.jobs import write_state

    models, folder = tmp_path / "models", tmp_path / "jobs" / "20260101-000000-abcdef"
    folder.mkdir(parents=True)
    make_sentiment_frame(rows).to_csv(folder / "data.csv", index=False)
    (folder / "request.json").write_text(json.dumps({"config": config.to_dict(), "model_name": "m1",
                                                     "models_dir": str(models), "overwrite": False, "created": 0}))
    write_state(folder, "queued")
    return folder, models


def broken_fine_tune(*_args, **_kwargs):
    raise RuntimeError("CUDA error: device-side assert triggered")


def test_a_fine_tune_that_fails_after_tfidf_was_saved_keeps_tfidf_and_names_the_failure(tiny_model_dir, tmp_path):
    from core import worker
    from core.jobs import job_status

    folder, models = job(tmp_path, tiny(tiny_model_dir))
    with unittest.mock.patch.object(pipeline, "fit_transformer", broken_fine_tune):
        worker.run(folder)
    status = job_status(folder.name, folder.parent)
    assert status.state == "done"
    assert "fine-tuned transformer failed (RuntimeError: CUDA error" in status.message
    # The model folder is TF-IDF, whole: it loads and predicts what its own pipeline predicts.
    model = load_folder(models / "m1")
    assert json.loads((models / "m1" / "marketune.json").read_text())["kind"] == "tfidf"
    texts = ["great phone love it", "awful refund broken"]
    assert list(model.predict(texts)) == list(load_folder(models / "m1").predict(texts))
    assert set(model.predict(texts)) <= {"positive", "negative"}
    metrics = json.loads((models / "m1" / "metrics.json").read_text())
    assert list(metrics["failed_candidates"]) == ["transformer"]
    assert any("RuntimeError" in w for w in metrics["warnings"])
    rows = {r["kind"]: r for r in metrics["leaderboard"]}
    assert rows["transformer"]["status"] == "failed" and "CUDA error" in rows["transformer"]["note"]
    assert rows["tfidf"]["leader"] and rows["tfidf"]["saved"]
    assert not (folder / "data.csv").exists()  # the job ended: its copy of the data goes


def test_a_failure_after_the_best_so_far_was_saved_keeps_it_and_says_so(tiny_model_dir, tmp_path):
    """Whatever fails after a save (here: after the leaderboard returned) keeps the saved model."""
    from core import worker
    from core.jobs import job_status

    folder, models = job(tmp_path, tiny(tiny_model_dir))
    real_train = pipeline.train

    def train_then_fail(*args, **kwargs):
        real_train(*args, **kwargs)
        raise OSError("No space left on device")

    with unittest.mock.patch.object(pipeline, "fit_transformer", broken_fine_tune), \
            unittest.mock.patch.object(pipeline, "train", train_then_fail):
        worker.run(folder)
    status = job_status(folder.name, folder.parent)
    assert status.state == "failed"
    assert "OSError" in status.message and "No space left" in status.message and "stays usable as m1" in status.message
    assert list(load_folder(models / "m1").predict(["great love"])) in (["positive"], ["negative"])


def test_the_first_candidate_failing_is_the_training_failing(tiny_model_dir, monkeypatch):
    def no_tfidf(*_args, **_kwargs):
        raise ValueError("TF-IDF cannot be fitted")

    monkeypatch.setattr(pipeline, "fit_and_score", no_tfidf)
    saves = []
    with pytest.raises(ValueError, match="TF-IDF cannot be fitted"):
        pipeline.train(make_sentiment_frame(60), tiny(tiny_model_dir), on_leader=saves.append)
    assert saves == []


def test_a_refit_that_fails_keeps_the_leader_as_fitted_on_the_training_rows(tiny_model_dir, monkeypatch):
    def no_refit(*_args, **_kwargs):
        raise MemoryError()

    monkeypatch.setattr(pipeline, "refit", no_refit)
    # choose_simpler False: the fine-tune is kept once it ran, so the refit is its.
    result = pipeline.train(make_sentiment_frame(60), tiny(tiny_model_dir, choose_simpler=False, refit_on_all_rows=True))
    assert result.metrics["saved_kind"] == "transformer"
    assert "refit on train + validation failed (Could not be fitted: MemoryError)" in result.metrics["refit_skipped"]


def test_leaderboard_events_have_their_own_phase_and_the_page_names_it(tiny_model_dir, monkeypatch):
    from core.jobs import JobStatus
    from ui.train_job import progress_text

    monkeypatch.setattr(pipeline, "fit_transformer", broken_fine_tune)
    events = []
    pipeline.train(make_sentiment_frame(60), tiny(tiny_model_dir), on_progress=events.append)
    boards = [e for e in events if e.leaderboard]
    # Every change of the leaderboard is a "candidates" event; the final "done" event carries it too.
    assert [e.phase for e in boards][-1] == "done" and {e.phase for e in boards[:-1]} == {"candidates"}
    assert all(not e.leaderboard for e in events if e.phase not in ("candidates", "done"))
    running = next(e for e in boards if any(r["status"] == "running" for r in e.leaderboard))
    status = JobStatus(id="x", state="running", model_name="m", created=0.0, events=[running.to_dict()])
    assert progress_text(status, now=5.0)[1].startswith(
        "TF-IDF + logistic regression (candidate 1 of 6) · Comparing candidates")
    assert pd.notna(boards[-1].leaderboard[0]["score"])
