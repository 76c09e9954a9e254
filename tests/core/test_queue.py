"""The server's one jobs queue (core/jobs.py): who is ahead (names for admins only), cancelling
one's own jobs only, the per-person limit across both kinds of job, first come first served,
and the disk check before a job starts.

Jobs here are folders written by the test with a worker that is a real process: a sleeping
Python whose command line holds the job id (what ``jobs._alive`` looks for), or one that has
already exited (a dead worker). Starting a job for real goes through ``start_job`` with the
worker launch replaced, so nothing trains.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import TrainConfig, jobs, limits, workspace
from core.jobs import cancel_job, first_in_line, queue_ahead, server_queue, start_job, start_response_job
from core.workspace import Identity, TeamSettings
from tests.conftest import make_sentiment_frame

ANA = Identity(issuer="https://idp.example", subject="ana-1", email="ana@example.com", name="Ana")
BEN = Identity(issuer="https://idp.example", subject="ben-2", email="ben@example.com", name="Ben")
BOSS = Identity(issuer="https://idp.example", subject="boss-3", email="boss@example.com", name="Boss",
                email_verified=True)
SETUP = {"label_column": "label", "positive_class": "positive", "profile_columns": ["age"], "text_columns": []}


@pytest.fixture
def server(tmp_path):
    """A team server (Ana, Ben, an admin); yields (sign_in, add_job). ``add_job(ws, created,
    state, kind, alive)`` writes a job folder in ``ws``'s jobs with a live or dead worker."""
    settings = TeamSettings(data_dir=tmp_path / "data", admins=frozenset({"boss@example.com"}))
    spaces = {who.subject: workspace.for_identity(who, settings).ensure(who) for who in (ANA, BEN, BOSS)}
    workers: list[subprocess.Popen] = []

    def sign_in(who: Identity, **changes) -> workspace.Workspace:
        ws = workspace.for_identity(who, TeamSettings(**{**settings.__dict__, **changes}))
        workspace.set_session_lookup(lambda: ws)
        return ws

    def add_job(who: Identity, created: float, state: str = "queued", kind: str = "train", alive: bool = True,
                model: str | None = None) -> str:
        ws = spaces[who.subject]
        job_id = f"20260101-00000{len(workers)}-{len(workers):06x}"
        folder = ws.jobs / job_id
        folder.mkdir(parents=True)
        request = {"kind": kind, "model_name": model or f"{who.subject}-{job_id[-2:]}", "created": created,
                   "queue_dir": str(ws.queue_dir)}
        (folder / "request.json").write_text(json.dumps(request))
        (folder / "state.json").write_text(json.dumps({"state": state}))
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", job_id])
        workers.append(process)
        if not alive:
            process.kill()
            process.wait()
        (folder / "pid").write_text(str(process.pid))
        return job_id

    previous = workspace._session_lookup
    yield sign_in, add_job, spaces
    workspace.set_session_lookup(previous)
    for process in workers:
        process.kill()
        process.wait()


def test_the_queue_shows_positions_and_names_only_to_admins(server):
    sign_in, add_job, spaces = server
    running = add_job(ANA, created=100, state="running", model="ana-churn")
    bens = add_job(BEN, created=200, model="ben-churn")
    anas = add_job(ANA, created=300, kind="response", model="ana-targets")
    add_job(BEN, created=50, alive=False)  # an older job whose worker died is nobody's turn

    ben = sign_in(BEN)
    ahead = queue_ahead(anas, ben)
    assert ahead == []  # Ana's job is not Ben's: he is told nothing about it
    ahead = queue_ahead(bens, ben)
    assert [(e.id, e.mine, e.owner, e.model_name, e.state) for e in ahead] == [(running, False, "", "", "running")]
    assert [e.id for e in server_queue(ben)] == [running, bens, anas]

    ana = sign_in(ANA)
    ahead = queue_ahead(anas, ana)
    assert [(e.id, e.mine) for e in ahead] == [(running, True), (bens, False)]
    assert (ahead[0].owner, ahead[0].model_name) == ("ana@example.com", "ana-churn")  # her own job: named
    assert (ahead[1].owner, ahead[1].model_name) == ("", "")  # Ben's: no name, no model

    boss = sign_in(BOSS)
    everyone = server_queue(boss)
    assert [(e.owner, e.model_name, e.kind) for e in everyone] == [
        ("ana@example.com", "ana-churn", "train"), ("ben@example.com", "ben-churn", "train"),
        ("ana@example.com", "ana-targets", "response")]
    assert {e.workspace_id for e in everyone} == {spaces["ana-1"].id, spaces["ben-2"].id}


def test_a_person_can_cancel_only_their_own_jobs(server):
    sign_in, add_job, spaces = server
    anas = add_job(ANA, created=100)
    folder = spaces["ana-1"].jobs / anas
    sign_in(BEN)
    with pytest.raises(ValueError, match="belongs to another person: you can cancel only your own jobs"):
        cancel_job(anas)
    with pytest.raises(ValueError, match="you can cancel only your own jobs"):
        cancel_job(anas, workspace_id=spaces["ana-1"].id)  # naming her workspace does not help
    assert not (folder / "cancel").exists()

    sign_in(BOSS)  # an admin may cancel anyone's job, naming whose it is
    cancel_job(anas, workspace_id=spaces["ana-1"].id)
    assert (folder / "cancel").read_text() == "boss@example.com"

    sign_in(ANA)
    cancel_job(anas)
    assert (folder / "cancel").read_text() == "ana@example.com"
    with pytest.raises(ValueError, match="No training job"):
        cancel_job("20991231-000000-ffffff")


def tiny(tiny_model_dir) -> TrainConfig:
    return TrainConfig(base_model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32, method="full")


def test_the_per_person_limit_holds_across_both_kinds_of_job(server, tiny_model_dir, monkeypatch):
    sign_in, add_job, spaces = server
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)  # queued, no worker: nothing trains
    df = make_sentiment_frame(30)
    # The tiny model is a folder the admin offers: a team server reads no other base-model path.
    offered = {"max_jobs_per_person": 2, "base_model_folders": (("tiny", tiny_model_dir),)}
    ana = sign_in(ANA, **offered)
    assert ana.max_jobs == 2
    start_job(df, tiny(tiny_model_dir), "first")
    start_response_job(df, SETUP, "second")
    message = "You already have 2 jobs queued or running, and this server allows 2 per person"
    with pytest.raises(ValueError, match=re.escape(message)):
        start_job(df, tiny(tiny_model_dir), "third")
    with pytest.raises(ValueError, match=re.escape(message)):
        start_response_job(df, SETUP, "third")
    assert len(list(ana.jobs.iterdir())) == 2  # nothing of the refused jobs was written

    sign_in(BEN, **offered)  # the limit is per person: Ben still has room
    start_job(df, tiny(tiny_model_dir), "bens")

    # A finished or dead job frees its place.
    sign_in(ANA, **offered)
    first = next(f for f in ana.jobs.iterdir() if json.loads((f / "request.json").read_text())["model_name"] == "first")
    (first / "state.json").write_text(json.dumps({"state": "done"}))
    start_job(df, tiny(tiny_model_dir), "third")

    # Resuming an interrupted job takes a place in the queue too: refused while Ana has 2 active.
    (first / "state.json").write_text(json.dumps({"state": "running"}))
    (first / "pid").write_text("999999999")  # above any pid_max: the worker is gone
    (first / "data.csv").write_text("text,label\nx,y\n")
    assert jobs.job_status(first.name).state == "interrupted"
    with pytest.raises(ValueError, match=re.escape(message)):
        jobs.resume_job(first.name)


def test_the_laptop_has_no_job_limit(models_dir, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    assert workspace.laptop().max_jobs is None
    for i in range(4):
        start_job(make_sentiment_frame(30), tiny(tiny_model_dir), f"m{i}")
    assert len(jobs.list_jobs()) == 4


def test_max_jobs_per_person_is_read_and_checked_from_the_settings():
    assert TeamSettings.from_mapping({}).max_jobs_per_person == 2
    assert TeamSettings.from_mapping({"max_jobs_per_person": 5, "keep_interrupted_days": 3}).keep_interrupted_days == 3.0
    for bad in (0, "2", True, 1.5):
        with pytest.raises(ValueError, match="max_jobs_per_person must be a whole number"):
            TeamSettings.from_mapping({"max_jobs_per_person": bad})
    with pytest.raises(ValueError, match="keep_interrupted_days must be a number of days"):
        TeamSettings.from_mapping({"keep_interrupted_days": -1})


def test_first_come_first_served_across_workspaces(server):
    sign_in, add_job, spaces = server
    add_job(ANA, created=100, state="running")
    older = add_job(BEN, created=200)
    newer = add_job(ANA, created=300)
    dead_oldest = add_job(BOSS, created=10, alive=False)  # a dead worker holds nobody up
    assert dead_oldest
    assert first_in_line(spaces["ben-2"].jobs / older)
    assert not first_in_line(spaces["ana-1"].jobs / newer)
    (spaces["ben-2"].jobs / older / "state.json").write_text(json.dumps({"state": "cancelled"}))
    assert first_in_line(spaces["ana-1"].jobs / newer)


def test_a_job_is_refused_when_the_disk_is_too_full(models_dir, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    free = int(0.4 * limits.GB)
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda path: type("Usage", (), {"free": free})())
    with pytest.raises(ValueError) as refused:
        start_job(make_sentiment_frame(30), tiny(tiny_model_dir), "too-big")
    message = str(refused.value)
    found = re.search(r"needs about ([\d.]+) GB free .* the server has ([\d.]+) GB free", message)
    assert found, message
    # The estimate covers at least eight copies of the base model's files (measured here from the
    # folder itself: two checkpoints of three copies, the model saved, the one replaced) and the
    # spare gigabyte; the free space is the disk's own number.
    weights = sum(f.stat().st_size for f in Path(tiny_model_dir).iterdir() if f.is_file())
    assert float(found.group(1)) >= round((8 * weights + limits.GB) / limits.GB, 1)
    assert found.group(2) == "0.4"
    assert not jobs.list_jobs()  # nothing was queued
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 100 * limits.GB})())
    start_job(make_sentiment_frame(30), tiny(tiny_model_dir), "fits")


def test_a_bigger_base_model_needs_more_disk():
    bundled = limits.base_model_bytes("minilm-en")
    assert bundled > 80 * limits.MB  # model.safetensors alone is 90.9 MB
    assert limits.job_disk_need("minilm-en", 0) >= 8 * bundled + limits.DISK_SPARE_BYTES
    assert limits.job_disk_need(None, 1000) == 2000 + limits.DISK_SPARE_BYTES  # no transformer: data only
