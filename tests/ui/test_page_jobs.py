"""The one job panel (ui/jobs.py) on every page that runs a background job, in AppTest: Train,
Label, Targeting, Check data and Ad Copy Lab's rewrites each show a running job's status line and
its latest ProgressEvent's fraction on the bar, and Cancel sends nothing until the second click
(Yes, cancel). The job folders are written as a running worker leaves them (no worker runs)."""

from __future__ import annotations

import json
import secrets
import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

import core.jobs as jobs
from core.labeling import label_store
from tests.ui.test_page_check import planted, run_panel
from tests.ui.test_page_label import mixed_frame, open_label
from tests.ui.test_page_rewrites import open_lab
from tests.ui.test_page_targeting import open_page as open_targeting
from tests.ui.test_page_train import open_train, texts


def running(job_id: str | None, kind: str, model_name: str, event: dict, **request) -> str:
    """Make job ``job_id`` (None: a new one of ``kind``) read "running" with ``event`` (a
    ``ProgressEvent.to_dict()``) as its latest event; returns its id."""
    if job_id is None:
        job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        folder = jobs.jobs_root() / job_id
        folder.mkdir(parents=True)
        (folder / "data.csv").write_text("text,label\na,b\n")
        (folder / "request.json").write_text(json.dumps({"kind": kind, "model_name": model_name, "lane": "long",
                                                         "created": time.time() - 65, **request}))
    folder = jobs.jobs_root() / job_id
    jobs.write_state(folder, "running", message="Working")  # no pid file: a worker just started
    (folder / "events.jsonl").write_text(json.dumps({**event, "time": time.time()}) + "\n")
    return job_id


def event(phase: str, fraction: float, message: str, **fields) -> dict:
    return {"phase": phase, "step": 0, "total_steps": 0, "fraction": fraction, "message": message, **fields}


def assert_panel(at: AppTest, job_id: str, key: str, percent: int, line: str, question: str) -> None:
    """The bar shows ``percent`` and ``line``; Cancel asks ``question`` first and only Yes sends it."""
    assert not at.exception, at.exception
    bars = [(p.value, p.text) for p in at.get("progress")]
    assert any(value == percent and line in text for value, text in bars), bars
    cancel = jobs.jobs_root() / job_id / "cancel"
    at.button(key=f"{key}_cancel").click().run()
    assert not at.exception, at.exception
    assert question in texts(at.warning) and not cancel.exists()  # the first click only asks
    at.button(key=f"{key}_cancel_no").click().run()
    assert question not in texts(at.warning) and not cancel.exists()  # No keeps it running
    at.button(key=f"{key}_cancel").click().run()
    at.button(key=f"{key}_cancel_yes").click().run()
    assert not at.exception, at.exception
    assert cancel.exists()
    assert any("Cancelling" in c.value for c in at.caption)


@pytest.fixture
def no_workers(models_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)


def test_train_panel(no_workers):
    job_id = running(None, "train", "m1", event("train", 0.4, "step", step=4, total_steps=10, epoch=0.4), config={})
    at = open_train()  # a new session finds the running job
    assert at.session_state["train_job_id"] == job_id
    assert_panel(at, job_id, "train", 40, "Training · step 4/10 · epoch 0.40 · elapsed 1:0",
                 "Cancel training **m1**? It stops within a few seconds and saves nothing")


def test_targeting_panel(no_workers):
    job_id = running(None, "response", "q3", event("tabular", 0.25, "Training the gradient-boosting baseline"))
    at = open_targeting()
    assert_panel(at, job_id, "tg", 25, "Training the gradient-boosting baseline · elapsed 1:0",
                 "Cancel the comparison **q3**? It stops within a few seconds and saves nothing")


def test_label_panel(no_workers, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    label_store("spring").create(mixed_frame(), ["text"], "label")
    job_id = running(None, "train", "label-spring", event("train", 0.5, "step", step=5, total_steps=10, epoch=1.0),
                     config={})
    at = open_label()
    at.selectbox(key="label_project").set_value("spring").run()
    assert at.session_state["label_job_id"] == job_id
    assert_panel(at, job_id, "train", 50, "step 5/10", "Cancel training **label-spring**?")


def test_check_panel(no_workers):
    at = run_panel(open_train(), planted()[0])  # Check data: the job is queued, no worker runs
    job_id = at.session_state["train_check_job"][1]
    assert jobs.job_status(job_id).kind == "check"
    running(job_id, "check", "", event("check", 0.5, "Checking the data: out-of-fold probabilities"))
    at.run()
    assert at.button(key="train_check_run").disabled  # one check at a time
    assert_panel(at, job_id, "train_check", 50, "Checking the data: out-of-fold probabilities · elapsed",
                 "Cancel the data check? It stops within a few seconds and keeps no report")


def test_rewrites_panel(models_dir, trained_tiny, monkeypatch):
    shutil.copytree(trained_tiny[1], models_dir / "tiny")
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    job_id = running(jobs.start_rewrite_job("the dress is very", "tiny", n=2), "rewrite", "tiny",
                     event("write", 0.3, "Writing rewrite 1 of 2 (attempt 1 of at most 8)"))
    at = open_lab("tiny")
    assert_panel(at, job_id, "rw", 30, "Writing rewrite 1 of 2", "Cancel the rewrites?")
