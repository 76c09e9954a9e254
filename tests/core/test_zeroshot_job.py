"""Zero-shot models as background jobs (core.jobs.start_zeroshot_job + core.worker, kind
"zeroshot"): the job's saved model is the model core.zeroshot.build_zeroshot builds from the same
texts and names (probabilities recomputed here by building it directly), a cancel between batches
saves nothing, bad names are refused before anything is queued, and the job runs in the short lane."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import core.jobs as jobs
import core.worker as worker
from core import lanes
from core.models import load_folder
from core.zeroshot import Options, build_zeroshot
from tests.conftest import make_sentiment_frame

TEXTS = make_sentiment_frame(60, classes=3)["text"].tolist()


@pytest.fixture
def queued(models_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)  # the worker is run in the test


def test_the_job_saves_the_model_build_zeroshot_builds(queued, models_dir, tiny_model_dir):
    df = pd.DataFrame({"review": TEXTS, "other": range(len(TEXTS))})
    job_id = jobs.start_zeroshot_job(df, "review", "great, bad, service", "zs", base_model=str(tiny_model_dir),
                                     descriptions="bad = the customer is unhappy")
    status = jobs.job_status(job_id)
    assert status.kind == "zeroshot" and status.lane == lanes.SHORT and status.state == "queued"
    assert list(pd.read_csv(jobs.jobs_root() / job_id / "data.csv").columns) == ["review"]  # the text column only
    assert worker.run(jobs.jobs_root() / job_id) == 0
    status = jobs.job_status(job_id)
    assert status.state == "done", status.message
    assert "Saved zero-shot model zs" in status.message and status.model_path == str(models_dir / "zs")
    fractions = [e["fraction"] for e in status.events]
    assert status.events and fractions == sorted(fractions) and fractions[-1] == 1.0
    saved = load_folder(models_dir / "zs")
    direct = build_zeroshot(df[["review"]], "great, bad, service", text_columns=["review"],
                            descriptions="bad = the customer is unhappy", base_model=str(tiny_model_dir),
                            options=Options(self_training=True))
    assert list(saved.classes_) == ["great", "bad", "service"]
    np.testing.assert_allclose(saved.predict_proba(TEXTS[:12]), direct.predict_proba(TEXTS[:12]), atol=1e-5)
    assert not (jobs.jobs_root() / job_id / "data.csv").exists()
    assert jobs.list_jobs() == [] and [j.id for j in jobs.list_jobs(kind="zeroshot")] == [job_id]


def test_a_cancel_between_batches_saves_nothing(queued, models_dir, tiny_model_dir, monkeypatch):
    job_id = jobs.start_zeroshot_job(pd.DataFrame({"text": TEXTS}), "text", "great, bad", "zs",
                                     base_model=str(tiny_model_dir))
    folder = jobs.jobs_root() / job_id
    calls = []
    original = worker.__dict__["_zeroshot"]

    def cancel_on_first_event(folder_, request, df, log, deadline=None):
        def logged(event):
            calls.append(event)
            jobs.cancel_job(job_id, jobs.jobs_root())  # Cancel clicked once the first progress is shown
            log(event)
        return original(folder_, request, df, logged, deadline)

    monkeypatch.setitem(worker.RUNNERS, "zeroshot", cancel_on_first_event)
    worker.run(folder)
    status = jobs.job_status(job_id)
    assert status.state == "cancelled" and len(calls) == 1
    assert not (models_dir / "zs").exists() and not (folder / "data.csv").exists()


def test_bad_requests_are_refused_before_anything_is_queued(queued, tiny_model_dir):
    df = pd.DataFrame({"text": TEXTS})
    for labels, column, message in [("great", "text", "at least 2 category names"),
                                    ("great, Great", "text", "must differ"),
                                    ("great, bad", "body", "Text column 'body' is not in the table")]:
        with pytest.raises(ValueError, match=message):
            jobs.start_zeroshot_job(df, column, labels, "zs", base_model=str(tiny_model_dir))
    with pytest.raises(ValueError, match="holds no text"):
        jobs.start_zeroshot_job(pd.DataFrame({"text": ["", "  "]}), "text", "a, b", "zs", base_model=str(tiny_model_dir))
    with pytest.raises(ValueError, match="not one of the categories"):
        jobs.start_zeroshot_job(df, "text", "a, b", "zs", descriptions="c = x", base_model=str(tiny_model_dir))
    assert jobs.list_jobs(kind=None) == []
