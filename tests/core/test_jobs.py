import os
import time
from pathlib import Path

import pytest

from core import TrainConfig
from core.jobs import cancel_job, job_status, list_jobs, start_job
from tests.conftest import make_sentiment_frame


def wait_for(job_id, states, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(job_id)
        if status.state in states:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job_status(job_id).state}")


def tiny(tiny_model_dir, **changes):
    settings = dict(base_model=str(tiny_model_dir), epochs=3, batch_size=16, learning_rate=3e-3, max_length=32, method="full", choose_simpler=False)
    return TrainConfig(**{**settings, **changes})


def test_job_runs_in_background_and_saves(models_dir, tiny_model_dir):
    job_id = start_job(make_sentiment_frame(80), tiny(tiny_model_dir), "bg-model")
    from core.jobs import jobs_root

    # The job folder (which holds the uploaded table while the job runs) is the owner's alone.
    assert (jobs_root() / job_id).stat().st_mode & 0o077 == 0
    status = wait_for(job_id, {"done", "failed"})
    assert status.state == "done", status.message
    assert (models_dir / "bg-model" / "model.safetensors").is_file()
    # Owner-only on a laptop too (this process keeps umask 022): the saved model (the atomic model
    # folder) and what the worker wrote itself (its own umask, core/worker.py).
    written = [models_dir / "bg-model", *(models_dir / "bg-model").iterdir(), jobs_root() / job_id / "events.jsonl"]
    assert [f"{p.stat().st_mode & 0o777:o} {p.name}" for p in written if p.stat().st_mode & 0o077] == []
    phases = [e["phase"] for e in status.events]
    assert phases[-1] == "done" and "train" in phases
    with pytest.raises(ValueError, match="already exists"):
        start_job(make_sentiment_frame(80), tiny(tiny_model_dir), "bg-model")


def test_cancel_leaves_no_model(models_dir, tiny_model_dir):
    job_id = start_job(make_sentiment_frame(400), tiny(tiny_model_dir, epochs=30), "cancelled-model")
    wait_for(job_id, {"running"})
    cancel_job(job_id)
    status = wait_for(job_id, {"cancelled", "done", "failed"})
    assert status.state == "cancelled"
    assert not (models_dir / "cancelled-model").exists()


def test_failure_message_is_for_people(models_dir, tiny_model_dir):
    df = make_sentiment_frame(30).assign(label="same")
    status = wait_for(start_job(df, tiny(tiny_model_dir), "bad"), {"failed", "done"})
    assert status.state == "failed"
    assert status.message == "Column 'label' has 1 distinct value ('same'); training needs at least 2 classes."


def test_dead_worker_reads_interrupted(models_dir, tiny_model_dir):
    import json
    import os
    import signal

    job_id = start_job(make_sentiment_frame(400), tiny(tiny_model_dir, epochs=30), "killed")
    wait_for(job_id, {"running"})
    folder = models_dir.parent / "jobs" / job_id
    os.kill(int((folder / "pid").read_text()), signal.SIGKILL)
    status = wait_for(job_id, {"interrupted"}, timeout=20)
    assert "stopped unexpectedly" in status.message
    assert json.loads((folder / "state.json").read_text())["state"] == "running"  # as the worker left it
    assert [j.state for j in list_jobs()] == ["interrupted"]


def test_invalid_name_refused_before_starting(models_dir, tiny_model_dir):
    with pytest.raises(ValueError, match="not allowed"):
        start_job(make_sentiment_frame(30), tiny(tiny_model_dir), "../escape")
    assert list_jobs() == []


def test_a_name_an_active_job_of_either_kind_will_save_is_refused(models_dir, tiny_model_dir):
    from core.jobs import jobs_root, start_response_job, write_state

    # A response job still queued (no pid file yet counts as just started) will save "taken".
    folder = jobs_root() / "20260101-000000-abcdef"
    folder.mkdir(parents=True)
    (folder / "request.json").write_text('{"kind": "response", "model_name": "taken", "created": 0}')
    write_state(folder, "queued")
    assert [j.kind for j in list_jobs(kind=None) if j.active] == ["response"]
    with pytest.raises(ValueError, match="already training a model named 'taken'"):
        start_job(make_sentiment_frame(30), tiny(tiny_model_dir), "taken")
    setup = {"label_column": "label", "positive_class": "positive", "profile_columns": ["age"], "text_columns": []}
    with pytest.raises(ValueError, match="already training a model named 'taken'"):
        start_response_job(make_sentiment_frame(30), setup, "taken")
    assert len(list_jobs(kind=None)) == 1  # nothing was queued


def test_second_job_waits_in_queue(models_dir, tiny_model_dir):
    first = start_job(make_sentiment_frame(400), tiny(tiny_model_dir, epochs=8), "first")
    wait_for(first, {"running"})
    second = start_job(make_sentiment_frame(80), tiny(tiny_model_dir), "second")
    time.sleep(1.0)
    status = job_status(second)
    assert status.state == "queued" and status.queue_position == 1
    cancel_job(first)
    assert wait_for(second, {"done", "failed"}).state == "done"
    assert wait_for(first, {"cancelled", "done"}).state == "cancelled"


def test_a_worker_runs_below_the_server_that_started_it():
    """core.worker.lower_priority: the worker's niceness is the starter's + WORKER_NICENESS (the
    kernel caps it at 19), read back by os.getpriority in the child, not by the function itself."""
    import subprocess
    import sys

    from core.worker import WORKER_NICENESS

    code = ("import os; from core.worker import lower_priority; lower_priority(); "
            "print(os.getpriority(os.PRIO_PROCESS, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert int(out.stdout.strip()) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)


def test_a_jobs_best_so_far_is_marked_with_its_job_and_the_final_save_drops_the_mark(models_dir, tiny_model_dir,
                                                                                     monkeypatch):
    """Round 11's walk: the Models page showed the best so far saved mid-run as a finished run. The
    job's mid-run saves now carry metrics["best_so_far"] = {"job": its id}, which the page asks the
    job about (core.jobs.best_so_far_job); the final save has none. Run in this process, as the
    worker runs it, with the real pipeline and the refit after the last best so far."""
    import json

    import core.pipeline as pipeline
    from core import jobs, worker
    from core.jobs import best_so_far_job
    from core.registry import model_path

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    real_train, seen = pipeline.train, []

    def watched(df, config, **kwargs):  # what the registry holds right after each best-so-far save
        save = kwargs["on_leader"]

        def on_leader(result):
            save(result)
            seen.append(json.loads((model_path("marked") / "metrics.json").read_text()))
        return real_train(df, config, **{**kwargs, "on_leader": on_leader})

    monkeypatch.setattr(pipeline, "train", watched)
    job_id = start_job(make_sentiment_frame(120), tiny(tiny_model_dir, epochs=1, refit_on_all_rows=True), "marked")
    assert worker.run(jobs.jobs_root() / job_id) == 0
    assert job_status(job_id).state == "done"
    assert seen and all(m["best_so_far"] == {"job": job_id} for m in seen)
    final = json.loads((model_path("marked") / "metrics.json").read_text())
    assert "best_so_far" not in final and "refit" in final and best_so_far_job(final) is None
    found = best_so_far_job(seen[-1])  # the marker left behind, read now: its job has ended
    assert found is not None and found.job.id == job_id and not found.running
