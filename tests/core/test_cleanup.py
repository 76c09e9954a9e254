"""Start-up cleanup (core/cleanup.py) on fake job, model and scoring folders.

Workers are real processes: one still sleeping (its command line holds the job id, as
``jobs._alive`` checks) or one that has exited (a dead worker). Ages are set with os.utime.
The bytes expected are the sizes of the files the test wrote.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import workspace
from core.cleanup import cleanup, server_folders
from core.workspace import Identity, TeamSettings

DAY = 86400


@pytest.fixture
def workers():
    started: list[subprocess.Popen] = []

    def worker(job_id: str, alive: bool) -> int:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", job_id])
        started.append(process)
        if not alive:
            process.kill()
            process.wait()
        return process.pid

    yield worker
    for process in started:
        process.kill()
        process.wait()


def age(path: Path, days: float) -> None:
    """Make ``path`` and everything in it look last written ``days`` ago."""
    when = time.time() - days * DAY
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (when, when))


def job(root: Path, workers, name: str, state: str, *, alive: bool = False, days_old: float = 0,
        files: dict[str, bytes] | None = None) -> Path:
    job_id = f"20260101-000000-{name}"
    folder = root / job_id
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"kind": "train", "model_name": name,
                                                     "created": time.time() - days_old * DAY}))
    (folder / "state.json").write_text(json.dumps({"state": state}))
    (folder / "events.jsonl").write_text('{"phase": "train"}\n')
    (folder / "pid").write_text(str(workers(job_id, alive)))
    for rel, data in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    if days_old:
        age(folder, days_old)
    return folder


def test_finished_jobs_lose_their_data_and_temporary_files_only(tmp_path, workers, caplog):
    jobs = tmp_path / "jobs"
    data, temp = b"text,label\n" + b"great,positive\n" * 500, b"{half"
    done = job(jobs, workers, "aaa001", "done",
               files={"data.csv": data, ".state.json.x1y2.tmp": temp, "result/manifest.json": b"{}"})
    failed = job(jobs, workers, "aaa002", "failed", files={"data.csv": data, ".result.tmp-q9": temp})
    cancelled = job(jobs, workers, "aaa003", "cancelled", files={"data.csv": data})
    with caplog.at_level(logging.INFO, logger="marketune.cleanup"):
        report = cleanup([jobs])
    assert sorted(p for p, _ in report.removed) == sorted([
        done / "data.csv", done / ".state.json.x1y2.tmp", failed / "data.csv", failed / ".result.tmp-q9",
        cancelled / "data.csv"])
    assert report.bytes == 3 * len(data) + 2 * len(temp)
    for folder in (done, failed, cancelled):  # what the pages show stays
        assert {"state.json", "request.json", "events.jsonl"} <= {p.name for p in folder.iterdir()}
    assert (done / "result" / "manifest.json").is_file()
    assert f"{(3 * len(data) + 2 * len(temp)) / 1024**2:.1f} MB" in caplog.text
    assert "Removed" in caplog.text and str(done / "data.csv") in caplog.text


def test_interrupted_jobs_are_kept_for_resume_until_they_are_old(tmp_path, workers):
    jobs = tmp_path / "jobs"
    kept = {"data.csv": b"text,label\nx,y\n", "checkpoint/model.safetensors": b"w" * 1000}
    young_dead = job(jobs, workers, "bbb001", "running", days_old=6, files=kept)
    young_queued = job(jobs, workers, "bbb002", "queued", days_old=1, files=kept)
    said_interrupted = job(jobs, workers, "bbb003", "interrupted", days_old=2, files=kept)
    failed_with_checkpoint = job(jobs, workers, "bbb004", "failed", days_old=3, files=kept)  # not resumable
    old_dead = job(jobs, workers, "bbb005", "running", days_old=8, files=kept)
    old_interrupted = job(jobs, workers, "bbb006", "interrupted", days_old=30, files=kept)
    before = {f: sorted(p.relative_to(f) for p in f.rglob("*")) for f in (young_dead, young_queued, said_interrupted)}
    report = cleanup([jobs], keep_interrupted_days=7)
    assert sorted(p for p, _ in report.removed) == sorted(
        [old_dead, old_interrupted, failed_with_checkpoint / "data.csv", failed_with_checkpoint / "checkpoint"])
    assert not old_dead.exists() and not old_interrupted.exists()
    for folder, files in before.items():  # untouched, checkpoint and data included
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == files

    # The age limit is a setting: half a day removes the others too.
    report = cleanup([jobs], keep_interrupted_days=0.5)
    assert sorted(p for p, _ in report.removed) == sorted(before)


def test_a_live_job_is_never_touched_and_a_done_jobs_checkpoint_goes(tmp_path, workers):
    """A worker killed while tidying up after "done" leaves its checkpoint (core.jobs.removable_files)."""
    jobs = tmp_path / "jobs"
    files = {"data.csv": b"text,label\nx,y\n", ".state.json.a.tmp": b"{", "checkpoint/optimizer.safetensors": b"o"}
    live = job(jobs, workers, "ccc001", "running", alive=True, days_old=40, files=files)
    done = job(jobs, workers, "ccc002", "done", files=files)
    report = cleanup([jobs], keep_interrupted_days=7)
    assert sorted(p for p, _ in report.removed) == sorted([done / "data.csv", done / ".state.json.a.tmp", done / "checkpoint"])
    assert all((live / rel).exists() for rel in files)
    assert not (done / "checkpoint").exists()


def test_a_job_whose_start_was_cut_off_goes_after_an_hour(tmp_path):
    jobs = tmp_path / "jobs"
    stale, fresh = jobs / "20260101-000000-ddd001", jobs / "20260101-000000-ddd002"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "data.csv").write_bytes(b"text,label\nx,y\n")  # written before request/state
    age(stale, 2 / 24)
    report = cleanup([jobs])
    assert [p for p, _ in report.removed] == [stale] and fresh.is_dir()


def fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "marketune.json").write_text('{"kind": "tfidf"}')
    (folder / "model.safetensors").write_bytes(b"w" * 2048)
    return folder


def test_cut_off_saves_in_models_folders(tmp_path):
    models = tmp_path / "models"
    stale_tmp = fake_model(models / ".churn.tmp-ab12cd")
    fresh_tmp = fake_model(models / ".churn.tmp-ef34gh")  # a save writing right now
    moved_aside = fake_model(models / ".gone.old-4242")  # the swap died between its two renames
    replaced = fake_model(models / ".kept.old-4243")  # the swap finished; the old copy remained
    kept = fake_model(models / "kept")
    stray = kept / ".fast_path.json.zz.tmp"
    stray.write_text("{")
    complete = fake_model(models / "churn")
    for path in (stale_tmp, moved_aside, replaced, stray):
        age(path, 2 / 24)
    report = cleanup([], [models])
    assert sorted(p for p, _ in report.removed) == sorted([stale_tmp, replaced, stray])
    assert report.bytes == 2 * (len('{"kind": "tfidf"}') + 2048) + 1
    assert report.restored == [models / "gone"]
    assert (models / "gone" / "model.safetensors").is_file() and not moved_aside.exists()
    assert fresh_tmp.is_dir() and (complete / "model.safetensors").is_file()
    assert (kept / "model.safetensors").is_file()


def test_old_scoring_files_of_ended_sessions(tmp_path):
    scratch = tmp_path / "predictions"
    old = scratch / "marketune-predict-abc"
    new = scratch / "marketune-predict-def"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "input-1.csv").write_text("text\nx\n")
    partial = scratch / ".out.csv.partial-77"
    partial.write_text("half")
    dashboard = scratch / "0123abcd-input.csv"  # not a session folder: left alone
    dashboard.write_text("text\n")
    for path in (old, partial, dashboard):
        age(path, 2)
    report = cleanup([], [], [scratch])
    assert sorted(p for p, _ in report.removed) == sorted([old, partial])
    assert new.is_dir() and dashboard.is_file()


def test_server_folders_cover_every_workspace(tmp_path, monkeypatch):
    settings = TeamSettings(data_dir=tmp_path / "data")
    spaces = [workspace.for_identity(Identity("https://idp", s), settings).ensure() for s in ("a", "b")]
    jobs, models, scratch = server_folders(settings)
    assert sorted(jobs) == sorted(ws.jobs for ws in spaces)
    assert sorted(models) == sorted([*(ws.models for ws in spaces), tmp_path / "data" / "team" / "models"])
    assert sorted(scratch) == sorted(ws.predictions for ws in spaces)
    monkeypatch.setenv("MARKETUNE_JOBS_DIR", str(tmp_path / "laptop-jobs"))
    assert server_folders(None)[0] == [tmp_path / "laptop-jobs"]


def test_the_app_cleans_up_once_per_server_process(models_dir, tmp_path, workers):
    from streamlit.testing.v1 import AppTest

    from ui.account import startup_cleanup

    jobs = tmp_path / "jobs"  # the laptop's jobs folder here (the models_dir fixture's MARKETUNE_JOBS_DIR)
    first = job(jobs, workers, "eee001", "done", files={"data.csv": b"text,label\nx,y\n"})
    startup_cleanup.clear()  # as a fresh server process
    app = Path(__file__).resolve().parents[2] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not (first / "data.csv").exists()
    second = job(jobs, workers, "eee002", "done", files={"data.csv": b"text,label\nx,y\n"})
    AppTest.from_file(str(app), default_timeout=60).run()  # another page load, same process
    assert (second / "data.csv").is_file()
