"""Owner-only files on a team server: after every page that writes has been used, nothing under
the data folder can be read (or even listed) by another account on the host.

Ana signs in (owner.json, her folders, the server's workspace key), creates a label project on
the Label page, scores a CSV on the Dashboard and on the Predict page, shares a model with the
team on the Models page, and runs a response comparison through the real worker process (the
Targeting page's core call: its job folder, the queue lock, the comparison and the model it
saves). The model she shares is saved the way a training job saves one (``.save``: an atomic
model folder); the Train page itself is left out because a fine-tuning run takes minutes.

The app sets this process's umask as a team server's (ui/account.py; tests/conftest.py puts it
back after each test), so this checks the server as it runs: remove that umask and the job's log,
the Predict page's upload and the workspace folders show up here. The writers that are
owner-only whatever the umask have their own checks under umask 022: label projects
(test_labeling), owner.json, the workspace key and model folders (test_workspace), prediction
files (test_predict), and the worker's own umask (test_jobs).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from core import jobs, workspace
from core.models import TfidfClassifier
from core.workspace import Identity, TeamSettings
from tests.conftest import make_sentiment_frame
from tests.ui.test_page_account import ANA, team_app

SETUP = {"label_column": "label", "positive_class": "positive", "profile_columns": ["age"], "text_columns": []}


def shared_with_others(data: Path) -> list[str]:
    """Every entry under ``data`` (itself included) with a group or other permission bit, as
    "mode path" lines; links are not followed."""
    paths = [data]
    for parent, dirs, files in os.walk(data):
        paths += [Path(parent, name) for name in (*dirs, *files)]
    modes = {path: stat.S_IMODE(path.lstat().st_mode) for path in paths}
    return [f"{mode:o} {path.relative_to(data.parent)}" for path, mode in modes.items() if mode & 0o077]


def run_ok(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_every_file_a_team_server_writes_is_owner_only(tmp_path):
    data = tmp_path / "data"
    at = team_app(data, ANA)
    at.secrets["marketune"]["team_workspace"] = "write"
    run_ok(at)  # signs Ana in: her folders, owner.json, the workspace key
    settings = TeamSettings(data_dir=data, team_workspace="write")
    ana = workspace.for_identity(Identity.from_claims(ANA), settings)
    assert (ana.models.parent / "owner.json").is_file() and (data / workspace.SECRET_FILE).is_file()

    # A saved model, written as a finished training job writes it.
    df = make_sentiment_frame(60)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=200)).fit(df["text"], df["label"])
    TfidfClassifier.from_pipeline(pipe, task="classification", classes=sorted(df["label"].unique()),
                                  schema={"text_columns": ["text"], "label_column": "label"}).save(ana.models / "reviews")

    at.switch_page("pages/label.py")
    run_ok(at)
    at.text_input(key="label_new_name").set_value("spring")
    at.file_uploader(key="label_upload").set_value(("mixed.csv", df[["text", "label"]].to_csv(index=False).encode(),
                                                    "text/csv"))
    run_ok(at)
    at.button(key="label_create").click()
    run_ok(at)
    assert (ana.labels / "spring" / "data.csv").is_file()

    new_rows = pd.DataFrame({"text": ["great phone", "awful service", "love it"]}).to_csv(index=False).encode()
    at.switch_page("pages/dashboard.py")
    run_ok(at)
    at.radio(key="dash_source").set_value("score")
    run_ok(at)
    at.file_uploader(key="dash_score_upload").set_value(("new.csv", new_rows, "text/csv"))
    run_ok(at)
    at.button(key="dash_score_btn").click()
    run_ok(at)

    at.switch_page("pages/predict.py")
    run_ok(at)
    at.file_uploader(key="predict_upload").set_value(("new.csv", new_rows, "text/csv"))
    run_ok(at)
    at.button(key="predict_run").click()
    run_ok(at)
    scored = sorted(p.name for p in ana.predictions.rglob("*.csv"))
    assert len(scored) == 3, scored  # the Dashboard's result (its input is gone), the Predict page's input and result

    at.switch_page("pages/models.py")
    run_ok(at)
    at.button(key="models_share").click()
    run_ok(at)
    assert (data / "team" / "models" / "reviews" / "marketune.json").is_file()

    # A response comparison, as the Targeting page starts it, run by the real worker.
    previous = workspace._session_lookup
    workspace.set_session_lookup(lambda: ana)
    try:
        job_id = jobs.start_response_job(make_sentiment_frame(80), SETUP, "response")
    finally:
        workspace.set_session_lookup(previous)
    deadline = time.monotonic() + 60
    while (status := jobs.job_status(job_id, ana.jobs, with_events=False)).active and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.state == "done", (status.state, status.message, (ana.jobs / job_id / "worker.log").read_text())
    # A comparison without the transformer runs in the short-job lane, whose lock is the server's.
    assert (ana.models / "response" / "marketune.json").is_file() and (data / "queue" / ".short.lock").is_file()

    readable = shared_with_others(data)
    assert not readable, "readable by other accounts:\n" + "\n".join(readable)
