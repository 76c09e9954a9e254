"""End to end in headless Chromium: the server and the training worker die together mid-training.

A deploy that stops the service's whole process group, or a reboot, kills both (the server alone
dying is tests/test_e2e_train.py: the worker lives on). A new server on the same folders: its
Train page says by itself where the job stopped, lists no half-written model, and its Resume
button trains on from the checkpoint, not from step 0, to a saved model.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal

import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from core import checkpoint as checkpoints  # noqa: E402
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    choose,
    click,
    fill,
    kill_streamlit,
    nav_to,
    open_page,
    start_streamlit,
    upload,
)
from tests.conftest import make_sentiment_frame  # noqa: E402
from tests.core.test_resume import wait_for_pause  # noqa: E402

pytest_plugins = ["tests.browser.browser_utils"]  # the chromium_browser and page fixtures

TRAIN_LIMIT_MS = 300_000  # a tiny job takes ~30-60 s on a busy machine
EPOCHS, BATCH = 3, 16  # the Balanced preset's epochs; the batch size typed below


@pytest.mark.browser
def test_server_and_worker_killed_then_resume_on_a_new_server(page, streamlit_app, tiny_model_dir, tmp_path):
    csv = tmp_path / "reviews.csv"
    make_sentiment_frame(120).to_csv(csv, index=False)
    models, jobs = streamlit_app.models_dir, streamlit_app.jobs_dir

    # The first server's workers park before optimizer step 5 (evaluations fall every few steps).
    first = start_streamlit(models, jobs, tmp_path / "first.log", env={"MARKETUNE_TEST_PAUSE_AT": "step-5"})
    try:
        open_page(page, first, "train")
        upload(page, "train_upload", csv)
        choose(page, "train_base_select", "Other")
        fill(page, "train_base_custom", str(tiny_model_dir))
        page.get_by_text("Advanced settings").click()
        # Full fine-tuning: auto would choose few-shot for 120 rows, which keeps no checkpoint.
        page.locator(".st-key-train_method").get_by_text("Full fine-tuning", exact=True).click()
        fill(page, "train_batch_size", str(BATCH))
        fill(page, "train_learning_rate", "3e-3")
        fill(page, "train_model_name", "resumed")
        click(page, "train_start")
        (job,) = list(jobs.iterdir())
        # A bound, not a speed check: the worker runs at nice +5 (core.worker); step 5 took over 120 s
        # under a load of 10-20 (round 7 suite) and 60 s for the whole test alone.
        wait_for_pause(job / "worker.log", "step-5", timeout=300)
    finally:
        kill_streamlit(first.process)
    os.kill(int((job / "pid").read_text()), signal.SIGKILL)
    stopped_at = checkpoints.read_progress(job / "checkpoint")["step"]  # the last evaluation before step 5
    assert 0 < stopped_at < 5
    # The leaderboard saved its best so far (TF-IDF) before the fine-tune started: usable while it ran.
    assert json.loads((models / "resumed" / "marketune.json").read_text())["kind"] == "tfidf"

    # The fixture's server (started before, without the pause) serves the same folders.
    open_page(page, streamlit_app, "train")
    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="was interrupted at step")
    expect(warning).to_contain_text(re.compile(rf"Training resumed was interrupted at step {stopped_at} of \d+"))
    total = int(re.search(rf"at step {stopped_at} of (\d+)", warning.inner_text()).group(1))
    nav_to(page, "Models")
    # Only the whole best-so-far model is listed (nothing half-written): one model, the TF-IDF one.
    expect(page.get_by_text("1 saved model(s)", exact=False)).to_be_visible()

    nav_to(page, "Train")
    click(page, "train_resume")
    page.get_by_text(re.compile("Model resumed (is trained and saved|was saved)")).wait_for(timeout=TRAIN_LIMIT_MS)
    metrics = json.loads((models / "resumed" / "metrics.json").read_text())
    assert total == math.ceil(EPOCHS * math.ceil(metrics["split_sizes"]["train"] / BATCH))
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    messages = [e.get("message") for e in events]
    resumed = messages.index(f"Resumed from step {stopped_at} of {total}")
    # Before: the first run's steps up to its checkpoint (the rest were dropped); after: trained on
    # from the checkpoint, never from step 0 again, to the plan's end or early stopping.
    before = [e["step"] for e in events[:resumed] if e.get("phase") == "train"]
    after = [e["step"] for e in events[resumed + 1:] if e.get("phase") == "train"]
    assert before == list(range(1, stopped_at + 1)), before
    assert after[0] == stopped_at + 1 and after == sorted(after) and after[-1] == metrics["steps"], after
    assert json.loads((job / "state.json").read_text())["state"] == "done"
    assert sorted(p.name for p in models.iterdir()) == ["resumed"]  # one whole folder, no temporary ones
