"""Two lanes for jobs (core/lanes.py, core/jobs.py, core/worker.py): a short job starts and
finishes while a fine-tune holds the long lane; the lane comes from the estimate; fairness between
people within a lane; every count of the queue agrees; finished workers are reaped; Cancel asks to
confirm; a page rerun follows a job that finished elsewhere.

The long job is simulated, as in tests/test_queue.py: a folder written by the test with a live
"worker" (a sleeping Python whose command line holds the job id) that holds the long lane's lock.
Only the short job runs a real worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import TrainConfig, jobs, lanes, workspace
from core.jobs import first_in_line, job_status, jobs_root, queue_ahead, server_queue, start_job, start_response_job
from core.response import FINE_TUNE_MS_PER_TOKEN, estimate_transformer_seconds, mean_tokens
from core.workspace import TeamSettings
from tests.conftest import make_sentiment_frame
from tests.core.test_queue import ANA, BEN, BOSS, SETUP
from tests.ui.test_page_train import open_train

ROOT = Path(__file__).resolve().parents[2]
HOLD_LOCK = "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(300)"


def fake_job(root: Path, job_id: str, *, state: str, lane: str, created: float, queue_dir: Path | None = None,
             kind: str = "train", model: str = "m", estimate: float | None = 600.0, lock: Path | None = None,
             workers: list | None = None) -> Path:
    """A job folder with a live fake worker (holding ``lock`` when given, as a running job's does)."""
    folder = root / job_id
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({
        "kind": kind, "model_name": model, "created": created, "queue_dir": str(queue_dir or root), "lane": lane,
        "estimate_s": estimate}))
    (folder / "state.json").write_text(json.dumps({"state": state, "started": time.time()}))
    script = HOLD_LOCK if lock else "import time; time.sleep(300)"
    process = subprocess.Popen([sys.executable, "-c", script, *([str(lock)] if lock else []), job_id])
    workers.append(process)
    (folder / "pid").write_text(str(process.pid))
    return folder


@pytest.fixture
def workers():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def campaign(n: int = 60) -> pd.DataFrame:
    frame = make_sentiment_frame(n)
    return frame.assign(age=range(20, 20 + n))


def process_state(pid: int) -> str | None:
    """The state letter of process ``pid`` in /proc ('Z': a zombie), None once it is gone (reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_a_short_job_starts_and_finishes_while_a_long_one_runs(models_dir, workers):
    root = jobs_root()
    root.mkdir(parents=True)
    lock = root / lanes.LOCKS[lanes.LONG]
    long_job = fake_job(root, "20260101-000000-aaaaaa", state="running", lane=lanes.LONG, created=1.0, lock=lock,
                        workers=workers, model="churn-v2")
    fake_job(root, "20260101-000001-bbbbbb", state="queued", lane=lanes.LONG, created=2.0, workers=workers)
    deadline = time.monotonic() + 30
    while not lock.exists():  # the fake fine-tune has taken the long lane
        assert time.monotonic() < deadline
        time.sleep(0.05)

    job_id = start_response_job(campaign(), SETUP, "quick")  # profile-only: seconds, no transformer
    request = json.loads((root / job_id / "request.json").read_text())
    assert request["lane"] == lanes.SHORT and request["estimate_s"] < lanes.SHORT_LANE_MAX_SECONDS
    deadline = time.monotonic() + 120
    while (status := job_status(job_id)).active:
        assert time.monotonic() < deadline, (status.state, (root / job_id / "worker.log").read_text())
        time.sleep(0.2)
    assert status.state == "done", status.message
    assert (models_dir / "quick" / "marketune.json").is_file()
    assert job_status(long_job.name).state == "running"  # the fine-tune still holds its lane
    # The worker this process started is reaped once it exits: never left "defunct" (state Z).
    pid = int((root / job_id / "pid").read_text())
    deadline = time.monotonic() + 20
    while (state := process_state(pid)) is not None:
        assert state != "Z" or time.monotonic() < deadline, f"worker {pid} left a zombie"
        time.sleep(0.1)


def test_the_lane_comes_from_the_estimate(models_dir, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    df = make_sentiment_frame(24)  # 12 rows per class

    def queued(job_id: str) -> dict:
        return json.loads((jobs_root() / job_id / "request.json").read_text())

    # A comparison without the transformer: short. With it: long (it fine-tunes).
    assert queued(start_response_job(campaign(), SETUP, "r1"))["lane"] == lanes.SHORT
    with_text = {**SETUP, "text_columns": ["text"]}
    assert queued(start_response_job(campaign(), with_text, "r2", include_transformer=True,
                                      base_model=str(tiny_model_dir)))["lane"] == lanes.LONG
    # Full fine-tuning is long whatever its (idle-machine) estimate, even on 24 rows.
    full = TrainConfig(base_model="minilm-en", method="full", epochs=1)
    assert queued(start_job(df, full, "t1"))["lane"] == lanes.LONG
    # Few-shot on 24 rows of minilm-en: 3-fold cross-validation = 4 runs of 24 steps (core/fewshot.py);
    # worked out by hand: 10 s loading + 4 x (24 x 0.6 s + 24 rows / 60 rows/s) + the TF-IDF baselines'
    # 5 s + 24 x 10.1 ms = 74.4 s, under the 120 s threshold: short.
    request = queued(start_job(df, TrainConfig(base_model="minilm-en", method="auto"), "t2"))
    assert request["lane"] == lanes.SHORT and request["estimate_s"] == pytest.approx(74.44, abs=0.01)
    # The same on multilingual-e5-small (2.5x slower per step): 10 + 2.5 x 59.2 + 5.24 = 163.2 s: long.
    request = queued(start_job(df, TrainConfig(base_model="multilingual-e5-small", method="fewshot"), "t3"))
    assert request["lane"] == lanes.LONG and request["estimate_s"] == pytest.approx(163.24, abs=0.01)
    # A job queued before lanes existed waits for the lock it always used.
    assert lanes.lane_of({"kind": "train"}) == lanes.LONG
    # The server's time limit caps the estimate (a job stops there).
    capped = lanes.estimate({"kind": "train", "config": TrainConfig(method="full").to_dict()},
                            make_sentiment_frame(3000), max_seconds=60)
    assert capped.seconds == 60 and capped.lane == lanes.LONG
    # A kind without an estimator (a future job kind before it gets one) is long, time unknown.
    assert lanes.estimate({"kind": "future"}, df) == lanes.Estimate(None, fine_tunes=True)


def test_fair_order_between_three_people():
    # (person, running, created): A runs A1 and waits with A2, A3; B waits with B4; C with C5, C6.
    jobs_in_lane = [("A", True, 1), ("A", False, 2), ("A", False, 3), ("B", False, 4), ("C", False, 5), ("C", False, 6)]
    order = lanes.fair_order(jobs_in_lane, person=lambda j: j[0], running=lambda j: j[1], age=lambda j: j[2])
    # Worked out by hand: B and C have nothing ahead, so B4 (older), then C5; then A, B, C have one
    # each: A2 is the oldest; then C6 (C has 1, A 2); then A3.
    assert [f"{p}{c}" for p, _, c in order] == ["A1", "B4", "C5", "A2", "C6", "A3"]
    # One person (a laptop): plain first come, first served.
    alone = [("L", False, 3), ("L", True, 2), ("L", False, 1)]
    assert [c for _, _, c in lanes.fair_order(alone, person=lambda j: j[0], running=lambda j: j[1],
                                              age=lambda j: j[2])] == [2, 1, 3]


def test_every_count_of_the_queue_agrees(tmp_path, workers):
    settings = TeamSettings(data_dir=tmp_path / "data", admins=frozenset({"boss@example.com"}))
    spaces = {who.subject: workspace.for_identity(who, settings).ensure(who) for who in (ANA, BEN, BOSS)}
    queue_dir = spaces["ana-1"].queue_dir
    ana, ben, boss = (spaces[s].jobs for s in ("ana-1", "ben-2", "boss-3"))
    added = {}

    def add(root, n, state, lane, created, estimate=600.0):
        folder = fake_job(root, f"20260101-00000{n}-{n:06x}", state=state, lane=lane, created=created,
                          queue_dir=queue_dir, estimate=estimate, workers=workers)
        added[folder.name] = folder
        return folder.name

    a1 = add(ana, 1, "running", lanes.LONG, 1, estimate=300.0)
    a2, a3 = add(ana, 2, "queued", lanes.LONG, 2), add(ana, 3, "queued", lanes.LONG, 3)
    b4 = add(ben, 4, "queued", lanes.LONG, 4)
    c5 = add(boss, 5, "queued", lanes.LONG, 5)
    s6 = add(ben, 6, "running", lanes.SHORT, 6, estimate=20.0)
    s7 = add(ana, 7, "queued", lanes.SHORT, 7, estimate=10.0)
    dead = add(ben, 8, "queued", lanes.LONG, 0)  # the oldest, but its worker died: nobody's turn
    workers[-1].kill()
    workers[-1].wait()

    previous = workspace._session_lookup
    try:
        me = workspace.for_identity(ANA, settings)
        workspace.set_session_lookup(lambda: me)
        everyone = server_queue(workspace.for_identity(BOSS, settings))
        # Every live job of both kinds and lanes, each lane in the order it serves them (fairness:
        # Ben's and the admin's first jobs before Ana's second and third).
        assert [(e.lane, e.id) for e in everyone] == [
            ("long", a1), ("long", b4), ("long", c5), ("long", a2), ("long", a3), ("short", s6), ("short", s7)]
        assert dead not in {e.id for e in everyone}
        assert first_in_line(added[b4]) and not first_in_line(added[a2]) and first_in_line(added[s7])
        for job_id in (a2, a3, s7):  # Ana's queued jobs: the page's count, its list, the admin's table
            ahead = queue_ahead(job_id, me)
            lane = [e for e in everyone if e.lane == ahead[0].lane]
            assert [e.id for e in ahead] == [e.id for e in lane[:[e.id for e in lane].index(job_id)]]
            status = job_status(job_id, ana)
            assert status.queue_position == len(ahead) and status.lane == ahead[0].lane
        # The wait: the running job's time left (its estimate less the time it has run: no ETA event
        # yet) plus the queued estimates ahead. a3 waits for a1 (<= 300 s), b4, c5 and a2 (600 s each).
        status = job_status(a3, ana)
        assert 3 * 600 + 290 < status.wait_s <= 3 * 600 + 300
        # With a progress event, the running job's own ETA counts down from when it was written.
        (added[a1] / "events.jsonl").write_text(json.dumps({"phase": "train", "step": 5, "total_steps": 50,
                                                            "eta_s": 100.0}) + "\n")
        assert 3 * 600 + 95 < job_status(a3, ana).wait_s <= 3 * 600 + 100
        assert 15 < job_status(s7, ana).wait_s <= 20  # the short lane: only s6 ahead
        # The Train page's line counts the same jobs (all people, both kinds).
        from ui.account import queue_summary

        line = queue_summary(server_queue(me))
        assert "the long-job lane runs 1 job with 4 waiting; the short-job lane runs 1 job with 1 waiting" in line
    finally:
        workspace.set_session_lookup(previous)




def test_cancel_asks_to_confirm_and_the_page_follows_jobs_that_end(models_dir, workers):
    root = jobs_root()
    root.mkdir(parents=True)
    other = fake_job(root, "20260101-000000-aaaaaa", state="running", lane=lanes.LONG, created=1.0,
                     model="first", workers=workers)
    shown = fake_job(root, "20260101-000001-bbbbbb", state="queued", lane=lanes.LONG, created=2.0,
                     model="second", workers=workers)
    at = open_train()
    assert at.session_state["train_job_id"] == shown.name
    line = next(p.proto.text for p in at.get("progress"))
    assert line.startswith("Queued for the long-job lane (1 job ahead, starts in about 10 min)")
    assert any("your 'first' (training, running, about 10 min left)" in i.value for i in at.info)

    at.button(key="train_cancel").click().run()
    assert not (shown / "cancel").exists()  # asked, not sent
    assert any("Cancel training **second**?" in w.value for w in at.warning)
    at.button(key="train_cancel_no").click().run()
    assert not (shown / "cancel").exists() and at.button(key="train_cancel")
    at.button(key="train_cancel").click().run()
    at.button(key="train_cancel_yes").click().run()
    assert (shown / "cancel").exists()
    assert any("Cancelling" in c.value for c in at.caption)

    # The other job ends while this page polls: the page drew it as running, so the fragment's
    # check (jobs_stamp against what the page drew) now asks for a whole-page rerun.
    from ui.jobs import SEEN, jobs_stamp

    assert at.session_state[SEEN] == jobs_stamp()
    (other / "state.json").write_text(json.dumps({"state": "done"}))
    assert at.session_state[SEEN] != jobs_stamp()
    at.run()  # the rerun the fragment asks for: the Recent list now reads "done"
    assert any("**first** — training, done" in m.value for m in at.markdown)
    assert at.session_state[SEEN] == jobs_stamp()


def stale_page_script():
    import streamlit as st

    from ui.jobs import SEEN, follow, rerun_if_page_is_stale

    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    # The first run's page "drew" a state that is not the jobs' state any more; the rerun draws anew.
    follow(lambda job_id: rerun_if_page_is_stale(), "any")
    if st.session_state["runs"] == 1:
        st.session_state[SEEN] = ("a job drawn as running",)
        rerun_if_page_is_stale()


def test_a_stale_page_reruns_once(models_dir):
    at = AppTest.from_function(stale_page_script, default_timeout=30).run()
    assert not at.exception and at.session_state["runs"] == 2


def test_the_refit_adds_a_whole_schedule_on_train_plus_validation():
    """refit_on_all_rows: a second fine-tune over a whole schedule on train + validation
    (core.pipeline._refit_steps); at the default 10% validation, 20% test that is 80/70 of the first."""
    df = make_sentiment_frame(1000)

    def seconds(**settings) -> float:
        return lanes.estimate({"kind": "train", "config": TrainConfig(method="full", **settings).to_dict()}, df).seconds

    first = estimate_transformer_seconds(1000, mean_tokens=mean_tokens(df["text"].tolist()))  # the first fine-tune's share
    assert seconds() - seconds(refit_on_all_rows=False) == pytest.approx(first * 800 / 700)  # on by default
    # Cut by the person's time limit, the refit runs at most as long again.
    assert seconds(max_train_seconds=5) - seconds(refit_on_all_rows=False, max_train_seconds=5) == pytest.approx(5)


def test_a_fine_tune_is_estimated_by_its_texts_length():
    """Walk r11: 2,000 short sentences were estimated at "about 10 min" and took under 2. The
    estimate follows the tokens: worked out by hand, four ASCII characters or one other character
    are a token, plus two."""
    assert mean_tokens(["abcd" * 10, "好" * 8]) == pytest.approx(((10 + 2) + (8 + 2)) / 2)
    assert mean_tokens(["x" * 4000], max_length=128) == 128  # truncated as training truncates
    # 1,000 rows: 700 training rows x 3 epochs, plus 100 validation rows x 6 passes + 300 scored, a third each.
    per_row = FINE_TUNE_MS_PER_TOKEN * 20 / 1000
    assert estimate_transformer_seconds(1000, mean_tokens=20) == pytest.approx(700 * 3 * per_row + 900 * per_row / 3)
    short, long = (pd.DataFrame({"text": [t] * 1000, "label": ["a", "b"] * 500}) for t in ("good phone " * 2, "good phone " * 30))
    config = TrainConfig(method="full", refit_on_all_rows=False).to_dict()
    seconds = [lanes.estimate({"kind": "train", "config": config}, d).seconds for d in (short, long)]
    assert seconds[1] > 3 * seconds[0]
