"""The limits as pages state and enforce them (core/limits.py, ui/upload.py), the queue as a
waiting person reads it, and an admin cancelling someone's job from the Models page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import tomllib
from streamlit.testing.v1 import AppTest

import ui.predict
from core import workspace
from core.jobs import QueueEntry
from core.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, upload_limit_bytes
from core.workspace import Identity, TeamSettings
from tests.ui.test_page_account import ANA, BEN, BOSS, on_models_page, team, team_app  # noqa: F401 (team: fixture)
from tests.ui.test_page_predict import open_page, registry, upload  # noqa: F401 (registry: fixture)
from tests.ui.test_page_train import frame_with, texts

ROOT = Path(__file__).resolve().parents[2]
CONFIGURED_MB = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]


def test_streamlits_upload_limit_and_cores_byte_limit_agree():
    # The uploader's MB may be 1,000,000 or 1,048,576 bytes (the browser decides): core takes the
    # larger, so it never refuses a file the uploader let through, and the CLI's default is the same.
    assert upload_limit_bytes(CONFIGURED_MB) == CONFIGURED_MB * 1024 * 1024 == DEFAULT_MAX_BYTES
    assert upload_limit_bytes(CONFIGURED_MB) >= CONFIGURED_MB * 1_000_000


def test_the_train_page_states_the_upload_limits(models_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert f"Limits: files up to {CONFIGURED_MB} MB and {DEFAULT_MAX_ROWS:,} rows." in texts(at.caption)


def test_the_predict_page_states_and_enforces_the_scoring_row_limit(registry, monkeypatch):  # noqa: F811
    at = open_page()
    assert (f"Limits: files up to {CONFIGURED_MB} MB; the browser scores up to 200,000 rows per file (for more, "
            "use the CLI `python -m core predict") in texts(at.caption)
    monkeypatch.setattr(ui.predict, "BROWSER_SCORING_MAX_ROWS", 5)
    rows = pd.DataFrame({"text": ["great phone", "awful", "love it", "bad", "the best", "worst"]})
    upload(at, rows)
    assert not at.exception, at.exception
    error = texts(at.error)  # said on upload, before Predict is pressed
    assert "This file has 6 rows; the browser scores up to 5 rows per file" in error
    assert "python -m core predict" in error and "core/ray_predict.py" in error
    assert at.button(key="predict_run").disabled
    assert "last_prediction_path" not in at.session_state
    upload(at, rows.head(5), name="five.csv")  # at the limit: scored
    at.button(key="predict_run").click().run()
    assert not at.error, texts(at.error)
    assert len(pd.read_csv(at.session_state["last_prediction_path"])) == 5


def entry(job: str, mine: bool, state: str = "queued", owner: str = "", model: str = "",
          left: float | None = None) -> QueueEntry:
    return QueueEntry(job, "u-" + "0" * 20, mine, owner, "train", model, state, 0.0, time_left_s=left)


def test_a_waiting_person_sees_the_position_and_names_only_when_admin():
    from ui.account import queued_message

    others = [entry("a", False, "running", "ana@example.com", "churn", left=500),
              entry("b", False, owner="ben@example.com", model="x", left=190)]
    plain = queued_message([entry("a", False, "running", left=500), entry("b", False, left=190)], admin=False)
    # 500 s left of the running job + 190 s estimated for the queued one = 690 s: 11.5 min, said as 12.
    assert plain.startswith("Waiting for the long-job lane: 2 jobs ahead (other people's), so it starts in about 12 min")
    admin = queued_message(others, admin=True)
    assert ("2 jobs ahead (ana@example.com's 'churn' (training, running, about 9 min left); ben@example.com's 'x' "
            "(training, queued, needs about 4 min))") in admin
    mixed = queued_message([entry("m", True, "running", "me@example.com", "mine", left=30), entry("b", False)],
                           admin=False, lane="short")
    assert mixed.startswith("Waiting for the short-job lane: 2 jobs ahead (your 'mine' (training, running, under a "
                            "minute left); 1 of other people's), so the time is unknown")  # b has no estimate
    assert queued_message([], admin=False).startswith("Waiting for the long-job lane: your job is next")


def test_the_queue_lines_say_what_they_count_in_agreeing_words(monkeypatch):
    """Walk (r11): a job's line read "Queued for the short-job lane (next)" while the queue line beside
    it read "the short-job lane runs 0 jobs with 1 waiting", and "next and starts as soon as the lane
    is free" of a lane that was free. One waiting job and nothing running: the lane is starting it;
    the counts in words, singular for one (core.words.counted)."""
    from dataclasses import replace

    from ui.account import queue_summary, queued_message
    from ui.jobs import queue_words

    def lane(e: QueueEntry, name: str) -> QueueEntry:
        return replace(e, lane=name)

    monkeypatch.setattr("core.cpu.os.getloadavg", lambda: (0.2, 0.2, 0.2))  # an idle machine: no busy clause
    starting = queue_summary([lane(entry("w", True), "short")], lane="short", estimate_s=30)
    assert "the short-job lane is starting its 1 waiting job" in starting and "runs 0" not in starting
    assert starting.endswith("behind 1 job.")  # the one waiting job is ahead of a new one
    two = queue_summary([lane(entry("w", True), "short"), lane(entry("v", False), "short")])
    assert "the short-job lane is starting the first of 2 waiting jobs" in two
    busy = queue_summary([entry("r", True, "running"), entry("w", False)])
    assert "the long-job lane runs 1 job with 1 waiting; the short-job lane is free" in busy
    assert queue_words(0) == "next" and queue_words(1) == "1 job ahead" and queue_words(2) == "2 jobs ahead"
    assert queued_message([entry("r", False, "running", left=30)], admin=False).startswith(
        "Waiting for the long-job lane: 1 job ahead (other people's), so it starts in under a minute")
    alone = queued_message([], admin=False, lane="short")
    assert alone == "Waiting for the short-job lane: your job is next, with nothing ahead of it, so it starts in a moment."


def test_the_estimate_says_when_the_machine_is_busy(monkeypatch):
    """The estimate is an idle machine's (a 2,000-row fine-tune: 125 s estimated, 144 s idle, 491 s at
    load 3-4; bench/bench_estimates.py): with every core already busy the line says so, with the load
    and the cores it read; on an idle machine it says nothing more."""
    from ui.account import queue_summary

    monkeypatch.setattr("core.cpu.os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr("core.cpu.os.getloadavg", lambda: (3.96, 3.1, 2.2))
    line = queue_summary([entry("r", True, "running")], lane="long", estimate_s=125)
    assert "(estimated about 3 min on an idle machine), behind 1 job." in line
    assert line.endswith("This machine is busy now (load average 4.0 on 2 cores), so expect it to take longer.")
    monkeypatch.setattr("core.cpu.os.getloadavg", lambda: (1.9, 1.0, 1.0))  # under one task per core: not busy
    assert "busy" not in queue_summary([entry("r", True, "running")], lane="long", estimate_s=125)


def test_an_admin_cancels_someones_job_from_the_models_page(team):  # noqa: F811
    data, ids = team
    ana = workspace.for_identity(Identity.from_claims(ANA), TeamSettings(data_dir=data))
    job_id = "20260101-000000-abcdef"
    folder = ana.jobs / job_id
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"kind": "train", "model_name": "ana-next", "created": 1.0,
                                                     "queue_dir": str(ana.queue_dir)}))
    (folder / "state.json").write_text(json.dumps({"state": "queued"}))
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", job_id])
    try:
        (folder / "pid").write_text(str(worker.pid))
        ben = on_models_page(team_app(data, BEN))
        assert not [b for b in ben.button if b.key == "account_admin_cancel"]  # no queue for non-admins
        boss = on_models_page(team_app(data, BOSS))
        queue = frame_with(boss, "position")
        assert queue[["owner", "model", "state"]].values.tolist() == [["ana@example.com", "ana-next", "queued"]]
        boss.button(key="account_admin_cancel").click().run()
        assert not boss.exception, boss.exception
        assert (folder / "cancel").read_text() == "boss@example.com"
        assert f"Asked job {job_id}" in texts(boss.success)
    finally:
        worker.kill()
        worker.wait()
