"""Per-job limits (core/job_limits.py): read from the server's settings, refused before a job is
queued (core.jobs, every kind), checked again by the worker, and the time limit: training stops
like early stopping with its best checkpoint saved, and the next queued job then runs."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import TrainConfig, jobs, train, workspace
from core.job_limits import NO_LIMITS, TEAM_DEFAULTS, JobLimitError, JobLimits
from core.jobs import job_status, start_job, start_response_job
from core.registry import load_model, model_path, read_info
from core.workspace import Identity, TeamSettings, WorkspaceError
from tests.conftest import make_sentiment_frame
from ui.train_job import outcome_message  # imports ui.account, which registers the session lookup

SETUP = {"label_column": "label", "positive_class": "positive", "profile_columns": ["age"], "text_columns": ["text"]}


def tiny(tiny_model_dir, **changes) -> TrainConfig:
    settings = dict(base_model=str(tiny_model_dir), epochs=1, batch_size=16, learning_rate=3e-3, max_length=32,
                    method="full", choose_simpler=False, early_stopping_patience=100)
    return TrainConfig(**{**settings, **changes})


@pytest.fixture
def limits_of_caller(models_dir):
    """``set(limits)``: the caller (the laptop's folders of ``models_dir``) now has these job limits."""
    previous = workspace._session_lookup

    def set_limits(limits: JobLimits) -> None:
        workspace.set_session_lookup(lambda: dataclasses.replace(workspace.laptop(), job_limits=limits))

    yield set_limits
    workspace.set_session_lookup(previous)


def test_the_settings_give_a_team_server_its_limits_and_a_laptop_none_unless_set():
    team = TeamSettings.from_mapping({}).job_limits
    assert team.to_dict() == {k: TEAM_DEFAULTS[k] for k in team.to_dict()}
    assert (team.max_job_minutes, team.max_rows, team.max_epochs, team.max_length) == (120, 200_000, 20, 512)
    chosen = TeamSettings.from_mapping({"max_job_minutes": 0.5, "max_rows": 0, "max_epochs": 4, "max_length": 256})
    assert chosen.job_limits == JobLimits(max_job_minutes=0.5, max_rows=None, max_epochs=4.0, max_length=256)  # 0: no limit
    ana = Identity(issuer="https://idp.example", subject="ana-1", email="ana@example.com")
    assert workspace.for_identity(ana, chosen).job_limits == chosen.job_limits
    assert workspace.laptop().job_limits == NO_LIMITS and not NO_LIMITS.active
    assert JobLimits.from_settings(None, team=False) == NO_LIMITS
    assert JobLimits.from_settings({"max_epochs": 5}, team=False) == JobLimits(max_epochs=5.0)
    for key, bad, expected in (("max_rows", 1.5, "a whole number"), ("max_length", True, "a whole number"),
                               ("max_epochs", "ten", "a number"), ("max_job_minutes", -1, "a number")):
        with pytest.raises(WorkspaceError, match=re.escape(f"[marketune] {key} must be {expected}, 0 or more")):
            TeamSettings.from_mapping({key: bad})


def test_a_job_over_a_limit_is_told_the_limit_the_choice_and_who_changes_it():
    limits = TeamSettings.from_mapping({}).job_limits
    assert limits.problems(rows=200_000, epochs=20, max_length=512) == []
    found = limits.problems(rows=2_000_000, epochs=100, max_length=8192)
    assert [re.search(r"asks for ([\d,]+) .*at most ([\d,]+) ", p).groups() for p in found] == [
        ("2,000,000", "200,000"), ("100", "20"), ("8,192", "512")]
    for problem, key in zip(found, ("max_rows", "max_epochs", "max_length")):
        assert f"`{key}` under [marketune] in .streamlit/secrets.toml" in problem and "admin" in problem
    assert limits.problems(rows=10, epochs=None, max_length=None) == []  # a comparison without the transformer
    assert limits.sentence() == ("Limits per job on this server, set by its admin: 2 h of training once it starts "
                                 "(then it stops and saves the best model so far), 200,000 rows, 20 epochs, "
                                 "512 tokens per text.")
    assert JobLimits.from_dict(limits.to_dict()) == limits and JobLimits.from_dict(None) == NO_LIMITS


def test_core_jobs_refuses_a_job_over_the_limits_whatever_page_starts_it(limits_of_caller, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)  # queued, no worker: nothing trains
    limits = JobLimits(max_job_minutes=30, max_rows=40, max_epochs=2, max_length=64)
    limits_of_caller(limits)
    small, big = make_sentiment_frame(40), make_sentiment_frame(41)
    with pytest.raises(JobLimitError, match="asks for 41 rows; this server allows at most 40 rows"):
        start_job(big, tiny(tiny_model_dir), "too-many-rows")
    with pytest.raises(JobLimitError, match="asks for 3 epochs.* at most 2 epochs.*asks for 128 tokens per text"):
        start_job(small, tiny(tiny_model_dir, epochs=3, max_length=128), "too-long")
    # The Targeting page's comparison: the transformer's settings count, and the rows always.
    with pytest.raises(JobLimitError, match="asks for 3 epochs"):  # TrainConfig's default epochs
        start_response_job(small, SETUP, "cmp", include_transformer=True, base_model=str(tiny_model_dir))
    with pytest.raises(JobLimitError, match="asks for 41 rows"):
        start_response_job(big, SETUP, "cmp")
    assert not jobs.jobs_root().exists() or not any(jobs.jobs_root().iterdir())  # nothing of them was written

    job_id = start_response_job(small, SETUP, "cmp", include_transformer=True, base_model=str(tiny_model_dir),
                                transformer_settings={"epochs": 1.0, "max_length": 64})
    request = json.loads((jobs.jobs_root() / job_id / "request.json").read_text())
    assert JobLimits.from_dict(request["limits"]) == limits  # the worker reads them from here
    assert jobs.job_size(request) == (1.0, 64)


def test_the_worker_checks_the_limits_again_and_fails_the_job_saying_why(limits_of_caller, tiny_model_dir, monkeypatch):
    from core import worker

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    limits_of_caller(JobLimits(max_rows=100))
    job_id = start_job(make_sentiment_frame(60), tiny(tiny_model_dir), "checked-again")
    folder = jobs.jobs_root() / job_id
    request = json.loads((folder / "request.json").read_text())
    (folder / "request.json").write_text(json.dumps({**request, "limits": {"max_rows": 50}}))
    assert worker.run(folder) == 0  # in this process: it fails before importing any trainer
    state = json.loads((folder / "state.json").read_text())
    assert state["state"] == "failed"
    assert state["message"].startswith("This job asks for 60 rows; this server allows at most 50 rows per job")
    assert not (folder / "data.csv").exists() and not model_path("checked-again").exists()


def test_fine_tuning_stops_at_the_deadline_with_an_evaluated_model_and_skips_the_refit(tiny_model_dir):
    config = tiny(tiny_model_dir, epochs=5, refit_on_all_rows=True)
    result = train(make_sentiment_frame(80), config, deadline=time.monotonic())  # the time is up already
    m = result.metrics
    assert result.stopped_reason == m["stopped_reason"] == "time limit"
    assert m["steps"] == 1 < m["total_steps"]  # one step, then evaluated once and kept
    assert any(e.phase == "test" for e in result.history) and m["verdict"]["chosen"] == "transformer"
    assert "refit on train + validation was skipped" in m["refit_skipped"] and m["refit_skipped"] in m["warnings"]
    assert "before_refit" not in m
    proba = result.model.predict_proba(["great phone", "awful service"])
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_few_shot_training_shares_the_time_left_and_stops(tiny_model_dir):
    config = tiny(tiny_model_dir, method="fewshot")
    result = train(make_sentiment_frame(60), config, deadline=time.monotonic())
    m = result.metrics
    runs = m["cv"]["k"] + 1 if "cv" in m else 1  # every fold and the final model ran at least one step
    assert result.stopped_reason == "time limit" and m["steps_trained"] == runs < m["total_steps"]


def test_a_comparison_job_at_its_time_limit_ends_done_without_the_transformer(limits_of_caller, tiny_model_dir,
                                                                              monkeypatch):
    """Partial, not failed: the models trained in time are compared on the same held-out rows and
    the recommended one is saved; the message says what the limit cut."""
    from core import worker
    from core.response import TABULAR, TRANSFORMER, load_comparison

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    limits_of_caller(JobLimits(max_job_minutes=1e-6))  # up before the transformer's turn
    df = make_sentiment_frame(120)
    job_id = start_response_job(df, SETUP, "cmp-cut", include_transformer=True, base_model=str(tiny_model_dir),
                                transformer_settings={"epochs": 1.0})
    assert worker.run(jobs.jobs_root() / job_id) == 0  # in this process, as the worker runs it
    status = job_status(job_id)
    assert status.state == "done", status.message
    assert status.message.startswith("Stopped at this server's time limit of 6e-05 s per job, so that the next job")
    assert "the transformer was left out" in status.message
    comparison = load_comparison(jobs.response_result_folder(job_id))
    assert TRANSFORMER not in comparison.candidates and TABULAR in comparison.candidates
    assert any("transformer was left out" in w for w in comparison.warnings)
    assert model_path("cmp-cut").is_dir()


def test_a_job_stops_at_its_time_limit_with_its_best_checkpoint_and_the_next_job_runs(limits_of_caller, tiny_model_dir):
    """Two real workers in one queue: the first has 0.6 s once it gets the trainer (its imports
    alone take longer), the second no limit and waits its turn."""
    limits_of_caller(JobLimits(max_job_minutes=0.01))
    first = start_job(make_sentiment_frame(80), tiny(tiny_model_dir, epochs=5), "cut-short")
    limits_of_caller(NO_LIMITS)
    second = start_job(make_sentiment_frame(80), tiny(tiny_model_dir), "next-in-line")
    deadline = time.monotonic() + 180
    while True:
        states = (job_status(first, with_events=False).state, job_status(second, with_events=False).state)
        assert states != ("running", "running")  # one job holds the trainer at a time
        if not {"queued", "running"} & set(states):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    cut = job_status(first)
    assert cut.state == "done", cut.message
    metrics = read_info(model_path("cut-short")).metrics
    assert metrics["stopped_reason"] == "time limit" and metrics["steps"] < metrics["total_steps"]
    assert cut.message == (f"Stopped at this server's time limit of 0.6 s per job at step {metrics['steps']} of "
                           f"{metrics['total_steps']}, so that the next job in the queue could start; the best "
                           "checkpoint (the best validation score so far) was tested and saved as usual.")
    assert load_model("cut-short").predict(["great phone"])[0] in ("positive", "negative")
    assert outcome_message(cut, metrics)[1].endswith(cut.message)  # what the Train and Label pages say
    assert not (jobs.jobs_root() / first / "data.csv").exists()
    nxt = job_status(second)
    assert nxt.state == "done" and nxt.message == jobs.SAVED, nxt.message
    assert read_info(model_path("next-in-line")).metrics["stopped_reason"] != "time limit"


def train_page(secrets: dict, user: dict | None = None):
    """The Train page in AppTest with these secrets (and this signed-in person), 80 rows uploaded."""
    from tests.ui.test_page_train import ROOT, upload

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets = secrets
    at.user = dict(user or {})
    at.run()
    assert not at.exception, at.exception
    at.switch_page("pages/train.py").run()
    return upload(at, make_sentiment_frame(80))


def test_the_train_page_states_a_team_servers_limits_and_refuses_settings_over_them(tmp_path, models_dir):
    from tests.ui.test_page_account import ANA, team_app

    secrets = team_app(tmp_path / "data", ANA).secrets
    secrets["marketune"].update(max_job_minutes=30, max_rows=50, max_epochs=2, max_length=64)
    at = train_page(secrets, ANA)
    captions = [c.value for c in at.caption]
    assert ("Limits per job on this server, set by its admin: 30 min of training once it starts (then it stops and "
            "saves the best model so far), 50 rows, 2 epochs, 64 tokens per text.") in captions
    errors = [e.value for e in at.error if "this server allows" in e.value]
    assert [re.search(r"asks for (\d+) (.+?);", e).groups() for e in errors] == [
        ("80", "rows"), ("3", "epochs"), ("128", "tokens per text")]  # the file's rows, the Balanced preset
    assert at.button(key="train_start").disabled
    at.number_input(key="train_epochs").set_value(2.0)
    at.number_input(key="train_max_length").set_value(64).run()
    assert [e.value for e in at.error if "this server allows" in e.value] == errors[:1]  # the rows are still too many


def test_a_laptop_shows_and_applies_only_the_limits_its_secrets_set(models_dir):
    at = train_page({})
    assert not [c.value for c in at.caption if "Limits per job" in c.value]
    assert not [e.value for e in at.error if "this server allows" in e.value]
    at = train_page({"marketune": {"max_epochs": 2}})
    assert "Limits per job on this server, set by its admin: 2 epochs." in [c.value for c in at.caption]
    assert [e.value for e in at.error if "this server allows" in e.value][0].startswith(
        "This job asks for 3 epochs; this server allows at most 2 epochs per job")
