"""Training that survives being killed: checkpoint at each evaluation, resume to the same result.

Core: a run stopped after an evaluation and resumed from its checkpoint ends with the optimizer
steps the plan says and the probabilities of a run never stopped. Jobs: real worker processes
killed with SIGKILL at chosen points (the MARKETUNE_TEST_PAUSE_AT hook of core/models/folder.py
parks the worker there) read "interrupted", hold nothing half-written, and resume to the end.
CLI: ``--resume`` continues ``OUT.checkpoint``; nothing exists at OUT until the model is whole.
The Train page: an interrupted job says where it stopped and its Resume button resumes it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import TrainConfig, train
from core import checkpoint as checkpoints
from core.jobs import job_status, jobs_root, list_jobs, resume_job, start_job
from core.registry import list_models, load_model
from tests.conftest import make_sentiment_frame

ROOT = Path(__file__).resolve().parents[2]
JOB_TIME_LIMIT = 300  # seconds a tiny job may take on a busy machine (most of it importing torch)


def tiny_config(tiny_model_dir: Path, **changes) -> TrainConfig:
    # choose_simpler=False: the fine-tuned transformer is saved, so its probabilities can be compared;
    # patience 100: no early stopping, every planned step runs.
    settings = dict(base_model=str(tiny_model_dir), method="full", epochs=3, batch_size=16, learning_rate=3e-3,
                    max_length=32, early_stopping_patience=100, choose_simpler=False)
    return TrainConfig(**{**settings, **changes})


def planned_steps(metrics: dict, config: TrainConfig) -> int:
    """Optimizer steps of an uninterrupted run, from the split sizes (not from the loop)."""
    return math.ceil(config.epochs * math.ceil(metrics["split_sizes"]["train"] / config.batch_size))


def probabilities(predictions: pd.DataFrame) -> np.ndarray:
    return predictions[[c for c in predictions.columns if c.startswith("p_")]].to_numpy(dtype=float)


class Stop(Exception):
    pass


# ------------------------------------------------------------------------------ core


def test_resumed_fit_equals_an_uninterrupted_one(tiny_model_dir, tmp_path):
    df, config = make_sentiment_frame(160), tiny_config(tiny_model_dir, epochs=6)
    plain = train(df, config)  # 42 steps: 7 per epoch, an evaluation every 3
    assert plain.metrics["steps"] == planned_steps(plain.metrics, config) == 42

    folder = tmp_path / "checkpoint"

    def stop_at_11(event):
        if event.phase == "train" and event.step == 11:
            raise Stop  # after step 11's optimizer step; the last evaluation (and checkpoint) was at step 9

    with pytest.raises(Stop):
        train(df, config, on_progress=stop_at_11, checkpoint=folder)
    assert checkpoints.read_progress(folder)["step"] == 9

    events = []
    resumed = train(df, config, on_progress=events.append, checkpoint=folder)
    assert "Resumed from step 9 of 42" in [e.message for e in events]
    assert resumed.metrics["resumed_from_step"] == 9
    assert resumed.metrics["steps"] == 42 and resumed.metrics["best_step"] == plain.metrics["best_step"]
    # The same weights in the end: the same probabilities on every test row (dropout draws, batch
    # order and the optimizer's moments all continue where they were).
    np.testing.assert_allclose(probabilities(resumed.model.test_predictions), probabilities(plain.model.test_predictions),
                               rtol=0, atol=1e-6)
    assert resumed.metrics["model"]["macro_f1"] == plain.metrics["model"]["macro_f1"]
    evaluated = [(e.step, e.metrics["macro_f1"]) for e in resumed.history if e.phase == "evaluate"]
    assert evaluated == [(e.step, e.metrics["macro_f1"]) for e in plain.history if e.phase == "evaluate"]

    # A checkpoint of other settings is refused with a message, not continued.
    with pytest.raises(ValueError, match="other data or with other settings"):
        train(df, config.replace(learning_rate=1e-3), checkpoint=folder)


def test_a_checkpoint_write_cut_short_leaves_the_previous_one(tmp_path):
    import torch

    folder = tmp_path / "checkpoint"
    state = {"step": 2, "total_steps": 8, "epoch": 0.5, "fingerprint": "abc", "note": "first"}
    checkpoints.save(folder, state, [{"phase": "evaluate", "step": 2}], {"weights": {"w": torch.ones(3)}})
    first = checkpoints.read_progress(folder)["folder"]
    # A write killed before its pointer switch: a step folder nothing points at.
    (folder / "step-0000004-deadbe").mkdir()
    (folder / "step-0000004-deadbe" / "weights.safetensors").write_bytes(b"half")
    found = checkpoints.load(folder)
    assert found.state["step"] == 2 and found.tensors("weights")["w"].tolist() == [1.0, 1.0, 1.0]
    checkpoints.save(folder, {**state, "step": 4, "epoch": 1.0}, [], {"weights": {"w": torch.zeros(3)}})
    assert checkpoints.read_progress(folder)["step"] == 4
    assert sorted(p.name for p in folder.iterdir()) == sorted(["latest.json", checkpoints.read_progress(folder)["folder"]])
    assert first not in {p.name for p in folder.iterdir()}  # the previous one is gone once the new one is whole


# ------------------------------------------------------------------------------ jobs killed with SIGKILL


def wait_for(job_id: str, states: set[str], timeout: float = JOB_TIME_LIMIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(job_id)
        if status.state in states:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job_status(job_id).state}")


def wait_for_pause(log: Path, point: str, timeout: float = JOB_TIME_LIMIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and f"paused at {point}" in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise AssertionError(f"the process never reached {point}; its log:\n{log.read_text(errors='replace') if log.is_file() else ''}")


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """The tiny job's uninterrupted result, trained here: (steps, test probabilities)."""
    config = tiny_config(tiny_model_dir)
    result = train(make_sentiment_frame(80), config)
    assert result.metrics["steps"] == planned_steps(result.metrics, config) == 12  # 4 per epoch, evaluations every 2
    return result.metrics["steps"], probabilities(result.model.test_predictions)


# Where the worker is killed, one point after the other on one job (each resume is killed again
# at the next point), and the checkpoint it must leave: the job's 12 steps evaluate every 2.
KILL_POINTS = [
    ("step-1", None),  # during the first step: no checkpoint yet, Resume starts from step 0
    ("step-4", 2),  # between evaluations: the checkpoint of step 2
    ("checkpoint-write-4", 2),  # while writing step 4's checkpoint: step 2's is still the one
    ("model-save", 12),  # while saving the model: trained to the end, the folder not yet in place
]


def test_a_job_killed_at_each_point_resumes_to_the_uninterrupted_result(reference, models_dir, tiny_model_dir, monkeypatch):
    name = "survivor"
    folder = None
    for point, checkpoint_step in KILL_POINTS:
        monkeypatch.setenv("MARKETUNE_TEST_PAUSE_AT", point)  # the worker inherits it
        if folder is None:
            job_id = start_job(make_sentiment_frame(80), tiny_config(tiny_model_dir), name)
            folder = jobs_root() / job_id
        else:
            assert resume_job(job_id) == job_id
        monkeypatch.delenv("MARKETUNE_TEST_PAUSE_AT")
        wait_for_pause(folder / "worker.log", point)
        os.kill(int((folder / "pid").read_text()), signal.SIGKILL)

        status = wait_for(job_id, {"interrupted"}, timeout=30)  # not "running" for ever
        assert (status.checkpoint_step, status.resumable) == (checkpoint_step, True), point
        if checkpoint_step is None:
            assert "stopped unexpectedly" in status.message
        else:
            assert status.message.startswith(f"Interrupted at step {checkpoint_step} of 12"), (point, status.message)
        assert (folder / "data.csv").is_file()  # kept for the resume
        # Nothing half-written is listed: the one model listed is the best so far, saved whole
        # (TF-IDF before the fine-tune ended; then the fine-tune, kept as the settings ask), and it loads.
        assert [m.name for m in list_models()] == [name]
        best_so_far = "transformer" if point == "model-save" else "tfidf"
        assert json.loads((models_dir / name / "marketune.json").read_text())["kind"] == best_so_far, point
        assert load_model(name).predict(["great phone"])[0] in {"positive", "negative"}

    assert resume_job(job_id) == job_id
    status = wait_for(job_id, {"done", "failed", "cancelled", "interrupted"})
    assert status.state == "done", status.message
    # The last resume started from the model-save kill's checkpoint; the weights it saves were
    # trained on from step 2 after two kills, and still equal the uninterrupted run's.
    assert "Resumed from step 12 of 12" in [e.get("message", "") for e in status.events]
    steps, expected = reference
    saved = json.loads((models_dir / name / "metrics.json").read_text())
    assert saved["steps"] == steps
    np.testing.assert_allclose(probabilities(pd.read_csv(models_dir / name / "test_predictions.csv")), expected,
                               rtol=0, atol=1e-5)
    assert [m.name for m in list_models()] == [name]
    # Tidied once done (just after "done" is written, so a kill in between leaves a done job).
    deadline = time.monotonic() + 60
    while ((folder / "data.csv").exists() or (folder / "checkpoint").exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (folder / "data.csv").exists() and not (folder / "checkpoint").exists()
    with pytest.raises(ValueError, match="only an interrupted job"):
        resume_job(job_id)


def test_an_interrupted_worker_keeps_its_data_and_checkpoint(models_dir, tiny_model_dir, monkeypatch):
    """SIGINT runs the worker's clean-up code (SIGKILL does not): it must still keep what Resume needs."""
    monkeypatch.setenv("MARKETUNE_TEST_PAUSE_AT", "step-4")
    job_id = start_job(make_sentiment_frame(80), tiny_config(tiny_model_dir), "ctrl-c")
    monkeypatch.delenv("MARKETUNE_TEST_PAUSE_AT")
    folder = jobs_root() / job_id
    wait_for_pause(folder / "worker.log", "step-4")
    os.kill(int((folder / "pid").read_text()), signal.SIGINT)
    status = wait_for(job_id, {"interrupted", "failed", "cancelled", "done"}, timeout=JOB_TIME_LIMIT)  # workers run at nice +5: slower on a busy machine
    assert status.state == "interrupted" and status.checkpoint_step == 2 and status.resumable
    assert (folder / "data.csv").is_file() and checkpoints.read_progress(folder / "checkpoint")["step"] == 2
    assert [j.id for j in list_jobs()] == [job_id]


# ------------------------------------------------------------------------------ CLI


def run_cli(*args: str, pause: str | None = None, out: Path) -> subprocess.Popen:
    env = {**os.environ}
    env.pop("MARKETUNE_TEST_PAUSE_AT", None)
    if pause:
        env["MARKETUNE_TEST_PAUSE_AT"] = pause
    log = open(out, "w")
    process = subprocess.Popen([sys.executable, "-m", "core", "train", *args], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return process


def test_cli_resume_continues_and_the_model_appears_only_when_whole(tiny_model_dir, tmp_path, capsys):
    from core.cli import main

    data = tmp_path / "reviews.csv"
    make_sentiment_frame(80).to_csv(data, index=False)
    out = tmp_path / "model"
    checkpoint = tmp_path / "model.checkpoint"

    def args(lr: str = "3e-3") -> list[str]:
        return ["--data", str(data), "--text-col", "text", "--label-col", "label", "--out", str(out),
                "--base-model", str(tiny_model_dir), "--method", "full", "--epochs", "3", "--batch-size", "16",
                "--lr", lr, "--max-length", "32", "--keep-transformer"]

    # The two refusals run the CLI in this process (they stop before any training); the runs that
    # are killed and resumed are real processes.
    assert main(["train", *args(), "--resume"]) == 2
    assert f"no checkpoint at {checkpoint}" in capsys.readouterr().err

    first = run_cli(*args(), pause="step-4", out=tmp_path / "first.log")
    try:
        wait_for_pause(tmp_path / "first.log", "step-4")
        # The best so far (TF-IDF) is at --out, whole, while the fine-tune runs.
        assert json.loads((out / "marketune.json").read_text())["kind"] == "tfidf"
        assert checkpoints.read_progress(checkpoint)["step"] == 2
    finally:
        first.kill()
        first.wait()

    assert main(["train", *args(lr="1e-3"), "--resume"]) == 2
    refused = capsys.readouterr().err
    assert "other data or with other settings" in refused, refused

    second = run_cli(*args(), "--resume", pause="model-save", out=tmp_path / "second.log")
    try:
        wait_for_pause(tmp_path / "second.log", "model-save")
        assert "resumed from step 2 of 12" in (tmp_path / "second.log").read_text()
        # The final folder is written whole beside --out, not yet in place; --out holds the best so
        # far (the fine-tune, kept as --keep-transformer asks, saved whole when it took the lead).
        assert json.loads((out / "marketune.json").read_text())["kind"] == "transformer"
        assert any(p.name.startswith(".model.tmp-") for p in tmp_path.iterdir())
    finally:
        second.kill()
        second.wait()
    # The last evaluation: step 12, or earlier where early stopping (the CLI's default patience) ended it.
    last = checkpoints.read_progress(checkpoint)["step"]

    third = subprocess.run([sys.executable, "-m", "core", "train", *args(), "--resume"], cwd=ROOT,
                           capture_output=True, text=True)
    assert third.returncode == 0, third.stderr
    assert f"resumed from step {last} of 12" in third.stderr
    result = json.loads(third.stdout.strip().splitlines()[-1])
    assert result["model_dir"] == str(out) and (out / "model.safetensors").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == last == (12 if metrics["stopped_reason"] == "completed" else last)
    assert metrics["resumed_from_step"] == last
    assert not checkpoint.exists()  # removed once the model is saved


# ------------------------------------------------------------------------------ the Train page


def test_train_page_shows_the_step_and_resume_resumes(models_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import core.jobs

    # An interrupted job as a killed worker leaves it: state "running", a dead pid, its data and
    # a checkpoint of step 6 of 20 (only latest.json and the step folder's trainer.json are read).
    job_id = "20000101-000000-killed"
    folder = jobs_root() / job_id
    (folder / "checkpoint" / "step-0000006-abcdef").mkdir(parents=True)
    (folder / "checkpoint" / "step-0000006-abcdef" / "trainer.json").write_text("{}")
    (folder / "checkpoint" / "latest.json").write_text(json.dumps(
        {"folder": "step-0000006-abcdef", "step": 6, "total_steps": 20, "epoch": 1.5, "fingerprint": "x", "saved_at": 0}))
    (folder / "data.csv").write_text("text,label\na,b\n")
    (folder / "request.json").write_text(json.dumps({"kind": "train", "model_name": "killed", "created": time.time() - 60, "config": {}}))
    (folder / "state.json").write_text(json.dumps({"state": "running", "message": "Training"}))
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "pid").write_text(str(dead.pid))

    sleepers = []

    def fake_resume(resumed_id, root=None):
        # A stand-in worker: a sleep whose command line names the job, so the job reads queued.
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", resumed_id])
        sleepers.append(sleeper)
        (folder / "state.json").write_text(json.dumps({"state": "queued", "message": "Waiting for the trainer (resuming)"}))
        (folder / "pid").write_text(str(sleeper.pid))
        return resumed_id

    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.switch_page("pages/train.py").run()
        assert not at.exception
        # Shown by itself (a server restart leaves no session that started it).
        warnings = " ".join(w.value for w in at.warning)
        assert "interrupted at step 6 of 20" in warnings and "Resume" in warnings
        monkeypatch.setattr(core.jobs, "resume_job", fake_resume)  # after import: looked up at click time
        at.button(key="train_resume").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert len(sleepers) == 1 and at.session_state["train_job_id"] == job_id
        assert [p.proto.text for p in at.get("progress")][0].startswith("Queued")
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
