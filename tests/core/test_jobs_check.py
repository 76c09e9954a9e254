"""The data check as a background job (kind "check", core.jobs.start_check_job, core.worker):
end to end on a tiny file its saved report equals core.check.check run inline on the same rows;
it sends progress events, can be cancelled (no report kept), saves no model and takes no model
name; and on the Train page its report outlives a page change."""

from __future__ import annotations

import dataclasses
import os
import time

import pandas as pd
import pytest

import core.jobs as jobs
import core.worker as worker
from core import TrainConfig
from core.check import DataReport, check
from tests.ui.test_page_check import planted, run_panel
from tests.ui.test_page_train import open_train
from ui.check import KIND_NAMES
from ui.state import TRAIN_DATA_KEY

CONFIG = TrainConfig(text_columns=("text",), label_column="label")


def tiny_file(tmp_path) -> pd.DataFrame:
    """A tiny file as the Train page reads it: planted copies and flipped labels, and an extra column."""
    df = planted()[0].assign(note="x")
    path = tmp_path / "tiny.csv"
    df.to_csv(path, index=False)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_the_check_job_end_to_end_equals_the_check_run_inline(models_dir, tmp_path):
    df = tiny_file(tmp_path)
    job_id = jobs.start_check_job(df, CONFIG, data_name="tiny.csv")  # a real worker process
    deadline = time.monotonic() + 180
    while jobs.job_status(job_id).active and time.monotonic() < deadline:
        time.sleep(0.3)
    status = jobs.job_status(job_id)
    assert (status.kind, status.state, status.model_name) == ("check", "done", "tiny.csv"), status.message
    report = jobs.check_result(job_id)
    inline = check(df, CONFIG)
    pd.testing.assert_frame_equal(report.issues, inline.issues)
    assert (report.n_rows, report.n_rows_analysed, report.features, report.notes) == (
        inline.n_rows, inline.n_rows_analysed, inline.features, inline.notes)
    assert report.counts["exact_duplicate"] == 3 and report.counts["label_error"] >= 1
    fractions = [e["fraction"] for e in status.events]
    assert {e["phase"] for e in status.events} == {"check"} and fractions == sorted(fractions) and fractions[-1] == 1.0
    folder = jobs.jobs_root() / job_id
    assert not (folder / "data.csv").exists() and (folder / jobs.CHECK_FILE).stat().st_mode & 0o077 == 0
    assert not models_dir.exists() or not any(models_dir.iterdir())  # it saves no model


def test_a_report_reads_back_equal():
    report = check(planted()[0], CONFIG)
    again = DataReport.from_json(report.to_json())
    pd.testing.assert_frame_equal(again.issues, report.issues)
    assert again.counts == report.counts and again.notes == report.notes and again.seconds == report.seconds


def test_a_cancelled_check_keeps_no_report_and_bad_requests_queue_nothing(models_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    job_id = jobs.start_check_job(planted()[0], CONFIG)
    jobs.cancel_job(job_id)
    worker.run(jobs.jobs_root() / job_id)
    assert jobs.job_status(job_id).state == "cancelled"
    with pytest.raises(ValueError, match="has no data check report"):
        jobs.check_result(job_id)
    with pytest.raises(ValueError, match=r"Column\(s\) \['review'\] are not in the data"):
        jobs.start_check_job(planted()[0], TrainConfig(text_columns=("review",), label_column="label"))
    with pytest.raises(ValueError, match="features must be one of"):
        jobs.start_check_job(planted()[0], CONFIG, features="bert")
    assert [j.id for j in jobs.list_jobs(kind="check")] == [job_id]
    # Two checks of the same data at once are fine: a check takes no model name.
    assert jobs.start_check_job(planted()[0], CONFIG) != job_id


def test_the_report_outlives_a_page_change(models_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)  # the worker runs while the person is away
    at = run_panel(open_train(), planted()[0])  # Check data: the job is queued
    # Kept as a sample is (an upload follows its uploader, which a page change empties).
    at.session_state[TRAIN_DATA_KEY] = dataclasses.replace(at.session_state[TRAIN_DATA_KEY], key="sample:planted")
    job_id = at.session_state["train_check_job"][1]
    assert not at.metric  # queued: no report yet
    at.switch_page("pages/predict.py").run()
    worker.run(jobs.jobs_root() / job_id)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    shown = {m.label: int(m.value.replace(",", "")) for m in at.metric if m.label in KIND_NAMES.values()}
    assert shown == {KIND_NAMES[kind]: n for kind, n in jobs.check_result(job_id).counts.items()}
