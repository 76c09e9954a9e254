"""Response comparisons as background jobs (core.jobs.start_response_job + core.worker): they
run in the worker process, save the comparison and the recommended model, can be cancelled at
any point without saving anything, and stay out of the Train page's job list."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import core.jobs as jobs
import core.response as response
from core.jobs import cancel_job, job_status, list_jobs, response_result_folder, start_response_job
from core.models import load_folder
from core.models.response import TABULAR
from core.models.tabular import TabularModel
from core.response import load_comparison
from tests.core.test_response import campaign_table

SETUP = {"label_column": "y", "positive_class": "yes", "profile_columns": ["age", "segment", "channel"], "text_columns": []}
TINY = {"epochs": 40, "batch_size": 8, "learning_rate": 3e-3, "max_length": 32, "early_stopping_patience": 100}


def wait_for(job_id, states, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(job_id)
        if status.state in states:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job_status(job_id).state}: {job_status(job_id).message}")


def test_profile_only_job_finishes_and_saves_the_refitted_recommended_model(models_dir):
    df = campaign_table(600, seed=3).drop(columns=["review"])
    job_id = start_response_job(df, SETUP, "resp-job")
    status = wait_for(job_id, {"done", "failed", "cancelled", "interrupted"})
    assert status.state == "done", status.message
    assert status.kind == "response" and status.model_path == str(models_dir / "resp-job")
    # Progress events a page can draw: fractions that end at 1 with readable messages.
    assert status.events and status.events[-1]["fraction"] == 1.0
    assert {"tabular", "calibrate", "refit"} <= {e["phase"] for e in status.events}
    comp = load_comparison(response_result_folder(job_id))
    assert comp.recommended == TABULAR and list(comp.candidates) == [TABULAR]
    model = load_folder(models_dir / "resp-job")
    assert model.kind == "tabular" and model.positive_class == "yes"
    # The saved trees are the fit on all 600 rows (scikit-learn defaults, as the comparison uses).
    y = (df["y"] == "yes").to_numpy().astype(int)
    kinds = comp.column_kinds
    all_rows = TabularModel(SETUP["profile_columns"], kinds=kinds, **comp.settings["tabular_params"]).fit(df, y)
    np.testing.assert_allclose(model.raw_scores(df), all_rows.predict_proba(df)[:, 1], atol=1e-9)
    assert json.loads((models_dir / "resp-job" / "metrics.json").read_text())["fitted_on_rows"] == 600
    assert not (jobs.jobs_root() / job_id / "data.csv").exists()  # the user's data is not kept
    # The Train page lists training jobs only; the response job is listed under its kind.
    assert job_id not in [j.id for j in list_jobs()]
    assert [j.id for j in list_jobs(kind="response")] == [job_id]
    with pytest.raises(ValueError, match="already exists"):
        start_response_job(df, SETUP, "resp-job")


def test_cancel_during_the_transformer_saves_nothing(models_dir, tiny_model_dir):
    df = campaign_table(400, seed=5)
    setup = {**SETUP, "text_columns": ["review"]}
    job_id = start_response_job(df, setup, "resp-cancel", include_transformer=True, base_model=str(tiny_model_dir),
                                transformer_settings=TINY)
    deadline = time.monotonic() + 240
    while not any(e["phase"] == "transformer" for e in job_status(job_id).events):
        assert time.monotonic() < deadline and job_status(job_id).active, job_status(job_id).message
        time.sleep(0.3)
    cancel_job(job_id)
    status = wait_for(job_id, {"cancelled", "done", "failed"})
    assert status.state == "cancelled", status.message
    assert not (models_dir / "resp-cancel").exists()
    assert not (jobs.jobs_root() / job_id / "result").exists()


def test_cancel_after_the_last_model_is_trained_still_saves_nothing(models_dir, monkeypatch):
    """The gap the issue names: a cancel during evaluation or saving was ignored. Run the worker
    in this process with a cancel arriving just as the comparison returns."""
    import core.worker as worker

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    df = campaign_table(300, seed=6).drop(columns=["review"])
    job_id = start_response_job(df, SETUP, "resp-late-cancel")
    folder = jobs.jobs_root() / job_id
    real = response.train_response_models

    def then_cancel(*args, **kwargs):
        comp = real(*args, **kwargs)
        cancel_job(job_id)
        return comp

    monkeypatch.setattr(response, "train_response_models", then_cancel)
    assert worker.run(folder) == 0
    state = json.loads((folder / "state.json").read_text())
    assert state["state"] == "cancelled", state
    assert not (models_dir / "resp-late-cancel").exists() and not (folder / "result").exists()


def test_bad_setup_fails_with_a_message_for_people(models_dir, monkeypatch):
    import core.worker as worker

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    df = campaign_table(100, seed=7).assign(y="no")
    job_id = start_response_job(df, SETUP, "resp-bad")
    worker.run(jobs.jobs_root() / job_id)
    status = job_status(job_id)
    assert status.state == "failed" and "does not occur in the response column" in status.message
    assert not (models_dir / "resp-bad").exists()
    with pytest.raises(ValueError, match="lacks"):
        start_response_job(df, {"label_column": "y"}, "resp-bad2")
