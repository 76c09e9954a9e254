"""The Train page in AppTest: upload, mapping checks, settings, a real background job, cancel.

Training jobs run in real worker processes (core.jobs); MARKETUNE_MODELS_DIR/JOBS_DIR set by
the ``models_dir`` fixture are inherited by them, so nothing touches ./models.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import cancel_job, job_status, jobs_root, list_jobs, start_job
from core.registry import model_path
from tests.conftest import make_sentiment_frame

ROOT = Path(__file__).resolve().parents[2]
JOB_TIME_LIMIT = 300  # seconds; a tiny job takes ~20-40 s, most of it importing torch


def open_train() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def upload(at: AppTest, df: pd.DataFrame, name: str = "reviews.csv") -> AppTest:
    at.file_uploader(key="train_upload").set_value((name, df.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception
    return at


def column_with(at: AppTest, kind: str, key: str):
    """The st.columns column that holds the widget ``key`` (to check what is drawn next to it)."""
    for column in at.columns:
        if any(w.key == key for w in getattr(column, kind)):
            return column
    raise AssertionError(f"no column holds {key}")


def use_base_folder(at: AppTest, folder: Path) -> AppTest:
    """Pick "Other" in the base-model picker and type a local model folder."""
    at.selectbox(key="train_base_select").set_value("other").run()
    return at.text_input(key="train_base_custom").set_value(str(folder)).run()


def tiny_settings(at: AppTest, tiny_model_dir: Path, epochs: float = 6.0) -> AppTest:
    use_base_folder(at, tiny_model_dir)
    # Full fine-tuning, as these tests mean (auto would pick few-shot for this little data);
    # the method is chosen before the learning rate, since a new method resets it to its default.
    at.radio(key="train_method").set_value("full").run()
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_learning_rate").set_value(3e-3)
    at.number_input(key="train_batch_size").set_value(16)
    at.number_input(key="train_max_length").set_value(32)
    at.number_input(key="train_patience").set_value(100)
    return at.run()


def poll(at: AppTest, done, limit: float = JOB_TIME_LIMIT) -> AppTest:
    """Rerun the page (as the browser's 1.5 s polling would) until ``done(at)`` or the limit."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(1.0)
    raise AssertionError(f"gave up after {limit} s; last progress: {[p.proto.text for p in at.get('progress')]}")


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first st.dataframe shown that has ``column`` (AppTest does not expose their keys)."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with a {column!r} column")


def _decode(value):
    """Plotly sends numpy arrays as {"dtype", "bdata" (base64), "shape"}; turn them into lists."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(n) for n in str(value.get("shape", len(array))).split(",")]
        return array.reshape(shape).tolist()
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def figures(at: AppTest) -> list[dict]:
    """Every plotly figure on the page as a plain dict (data arrays decoded)."""
    return [_decode(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]


def texts(elements) -> str:
    """The elements' texts as a person reads them: the Markdown escapes ui/markdown.py puts into
    text from the data (a backslash before punctuation, a word joiner in an address) removed."""
    raw = "\n".join(str(e.value) for e in elements)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", raw).replace("\u2060", "")


@pytest.fixture
def jobs_cleanup(models_dir):
    """Cancel any job a test leaves running and wait for its worker, so no trainer outlives it."""
    yield
    for job in list_jobs():
        if job.active:
            cancel_job(job.id)
    deadline = time.monotonic() + 60
    while any(j.active for j in list_jobs()) and time.monotonic() < deadline:
        time.sleep(0.5)


def test_upload_shows_preview_summary_and_suggested_mapping(models_dir):
    df = pd.DataFrame(
        {
            "id": range(30),
            "review_text": [f"text number {i}" for i in range(30)],
            "sentiment": ["pos", "neg", "neu"] * 10,
        }
    )
    at = upload(open_train(), df, "My Reviews.csv")
    assert (
        "30 rows" in texts(at.markdown)
        and "encoding utf-8" in texts(at.markdown)
        and "delimiter comma" in texts(at.markdown)
    )
    summary = frame_with(at, "distinct values")
    assert summary["column"].tolist() == ["id", "review_text", "sentiment"]
    assert summary.set_index("column").loc["sentiment", "distinct values"] == 3
    assert at.multiselect(key="train_text_cols").value == ["review_text"]
    assert at.selectbox(key="train_label_col").value == "sentiment"
    assert at.radio(key="train_task").value == "classification"
    assert at.text_input(key="train_model_name").value.startswith("My-Reviews-")
    assert not at.button(key="train_start").disabled
    assert any(f["data"][0]["y"] == [10, 10, 10] for f in figures(at))  # the label distribution
    headings = [h.value for h in at.subheader]
    assert [h for h in headings if h[:2] in ("1.", "2.", "3.")] == ["1. Data", "2. Columns", "3. Settings"], headings


def test_the_run_time_is_estimated_before_anything_is_queued(models_dir, monkeypatch):
    """Walk (r13): the estimate showed only behind a running job ("A new job would go to ..."), so a
    marketer on a laptop never saw how long their own training would take before pressing Train."""
    monkeypatch.setattr("core.cpu.os.getloadavg", lambda: (0.1, 0.1, 0.1))
    df = pd.DataFrame({"review_text": [f"text number {i}" for i in range(30)], "sentiment": ["pos", "neg", "neu"] * 10})
    at = upload(open_train(), df)
    (line,) = [c.value for c in at.caption if c.value.startswith("This training would take")]
    assert re.fullmatch(r"This training would take (under a minute|about \d+ min) on an idle machine\.", line), line
    assert not [c.value for c in at.caption if "Jobs on this computer" in c.value]  # nothing queued: no lanes


def test_sample_button_loads_bundled_data(models_dir):
    at = open_train()
    at.button(key="train_sample_sentiment_reviews_en").click().run()
    assert "3,000 rows" in texts(at.markdown)
    assert at.multiselect(key="train_text_cols").value == ["text"]
    assert at.selectbox(key="train_label_col").value == "label"


def test_single_class_label_error_next_to_label_control_and_train_disabled(models_dir):
    df = make_sentiment_frame(40)
    df["label"] = "positive"
    at = upload(open_train(), df)
    assert at.selectbox(key="train_label_col").value == "channel"  # the one column with 2 values
    at.selectbox(key="train_label_col").set_value("label").run()
    label_column = column_with(at, "selectbox", "train_label_col")
    assert "training needs at least 2 classes" in texts(label_column.error)
    assert at.button(key="train_start").disabled


def test_dropped_rows_counted_and_regression_suggested(models_dir):
    df = make_sentiment_frame(60)
    df.loc[:4, "text"] = ""
    df["spend"] = [float(i) * 1.5 for i in range(60)]
    at = upload(open_train(), df)
    assert "5 rows will be left out" in texts(at.info)
    at.selectbox(key="train_label_col").set_value("spend").run()
    assert at.radio(key="train_task").value == "regression"  # a number with many values
    assert not at.error


def test_label_in_text_columns_and_bad_settings_are_shown(models_dir):
    at = upload(open_train(), make_sentiment_frame(40))
    at.multiselect(key="train_text_cols").set_value(["text", "label"]).run()
    assert "not also a text column" in texts(column_with(at, "selectbox", "train_label_col").error)
    at.multiselect(key="train_text_cols").set_value(["text"]).run()
    assert not at.error
    at.number_input(key="train_val_fraction").set_value(0.45)
    at.number_input(key="train_test_fraction").set_value(0.45).run()
    assert "validation + test fractions below 0.8" in texts(at.error)
    assert at.button(key="train_start").disabled
    at.number_input(key="train_test_fraction").set_value(0.2)
    at.text_input(key="train_model_name").set_value("../evil").run()
    assert "is not allowed" in texts(at.error)
    assert at.button(key="train_start").disabled


def test_presets_and_method_set_the_advanced_values(models_dir):
    at = upload(open_train(), make_sentiment_frame(40))
    assert at.number_input(key="train_epochs").value == 3.0
    at.radio(key="train_preset").set_value("Fast").run()
    assert at.number_input(key="train_epochs").value == 1.0
    assert at.number_input(key="train_max_length").value == 64
    at.radio(key="train_method").set_value("lora").run()
    assert at.number_input(key="train_learning_rate").value == pytest.approx(2e-3)


def test_full_tiny_training_job_reaches_results(models_dir, tiny_model_dir, jobs_cleanup):
    at = tiny_settings(upload(open_train(), make_sentiment_frame(160)), tiny_model_dir)
    name = at.text_input(key="train_model_name").value
    at.button(key="train_start").click().run()
    assert not at.error, texts(at.error)
    job_id = at.session_state["train_job_id"]
    # the best so far is announced first ("usable now"); the job's end says "trained and saved"
    poll(at, lambda at: "is trained and saved" in texts(at.success))
    assert "is trained and saved" in texts(at.success)
    assert job_status(job_id).state == "done"
    assert (model_path(name) / "metrics.json").is_file()
    assert at.session_state["active_model"] == name
    cards = {m.label: m.value for m in at.metric}
    # "Lift over TF-IDF", or "over the fine-tune" when the TF-IDF model is the one saved
    assert {"Accuracy", "Macro-F1", "Lift over majority"} <= set(cards)
    assert {"Lift over TF-IDF", "Lift over the fine-tune"} & set(cards)
    assert float(cards["Macro-F1"]) > 0.8  # the tiny model learns the give-away words
    per_class = frame_with(at, "recall")
    assert per_class["class"].tolist() == ["negative", "positive"]
    specs = figures(at)
    heatmaps = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    assert heatmaps and sum(map(sum, heatmaps[0]["data"][0]["z"])) == 32  # the 20 % test split
    assert any("ROC" in s["layout"]["title"]["text"] for s in specs)
    at.toggle(key="train_results_cm_normalise").set_value(True).run()
    specs = figures(at)
    z = next(s for s in specs if s["data"][0]["type"] == "heatmap")["data"][0]["z"]
    assert [sum(row) for row in z] == pytest.approx([1.0, 1.0])
    # the next model gets a free name, since this one is taken
    assert at.text_input(key="train_model_name").value != name


def test_cancel_from_a_refreshed_page_leaves_no_model(models_dir, tiny_model_dir, jobs_cleanup):
    from core import TrainConfig

    # A job started elsewhere (another tab); a fresh page (a refreshed browser) finds it.
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=100, batch_size=8, max_length=32, early_stopping_patience=1000
    )
    job_id = start_job(make_sentiment_frame(2000), config, "to-cancel")
    at = open_train()
    assert "Training" in [h.value for h in at.subheader]
    poll(at, lambda at: any("step" in p.proto.text for p in at.get("progress")))
    at.button(key="train_cancel").click().run()
    assert job_status(job_id).active and "Cancel training **to-cancel**?" in texts(at.warning)  # it asks first
    at.button(key="train_cancel_yes").click().run()
    poll(at, lambda at: bool(at.warning) and "cancelled" in texts(at.warning), limit=60)
    assert job_status(job_id).state == "cancelled"
    assert not model_path("to-cancel").exists()
    assert not any(p.name.startswith(".to-cancel") for p in models_dir.glob(".*"))  # no half-written folder
    # This session did not start it, so it cannot resubmit the data: it says how to retry.
    assert "load the data above and press Train" in texts(at.caption)


def test_failed_job_shows_message_and_retry(models_dir, tmp_path, jobs_cleanup):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # looks like a model folder, is not one
    at = upload(open_train(), make_sentiment_frame(40))
    use_base_folder(at, broken)
    at.button(key="train_start").click().run()
    first = at.session_state["train_job_id"]
    # The fine-tune of the broken base model fails after TF-IDF was saved: the job keeps TF-IDF,
    # names the failure, and the model is usable (issue 26: a candidate cannot be lost).
    poll(at, lambda at: job_status(first).state not in ("queued", "running"))
    status = job_status(first)
    assert status.state == "done" and "failed (" in status.message, status.message
    # The outcome names the failure (a success, or a warning when so little data gives a model no better than guessing).
    poll(at, lambda at: "was saved" in texts(at.warning) or "trained and saved" in texts(at.success), limit=30)
    shown = texts(at.success) + texts(at.warning)
    assert "failed (" in shown and "Traceback" not in shown
    assert json.loads((model_path(status.model_name) / "marketune.json").read_text())["kind"] == "tfidf"
    # A job that failed before anything was saved (its state written as the worker writes it):
    # the page says so and Retry starts the same request again.
    shutil.rmtree(model_path(status.model_name))
    state = jobs_root() / first / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "state": "failed", "message": "Out of memory"}))
    at.session_state["train_activated"] = None
    poll(at, lambda at: bool(at.error))
    assert "failed: Out of memory" in texts(at.error) and "Traceback" not in texts(at.error)
    at.button(key="train_retry").click().run()
    assert at.session_state["train_job_id"] != first, texts(at.error)
    assert len(list_jobs()) == 2


def _fake_job(job_id: str, state: str, pid: int | None, created: float, name: str) -> None:
    """A job folder as core.jobs writes it, for states that are slow to reach for real."""
    folder = jobs_root() / job_id
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"model_name": name, "created": created, "config": {}}))
    (folder / "state.json").write_text(json.dumps({"state": state, "message": "Training"}))
    if pid:
        (folder / "pid").write_text(str(pid))


def test_interrupted_and_queued_jobs_are_shown_plainly(models_dir):
    now = time.time()
    dead = subprocess.Popen(["true"])
    dead.wait()
    _fake_job("20000101-000000-crashed", "running", dead.pid, now - 60, "crashed")  # its worker is gone: interrupted
    at = open_train()
    assert not at.get("progress")  # nothing active: no job panel by itself
    at.button(key="train_show_20000101-000000-crashed").click().run()
    assert "was interrupted" in texts(at.warning) and "stopped unexpectedly" in texts(at.warning)

    # A queued job behind a running one; "workers" are sleeps whose command line names the job.
    sleepers = []
    try:
        for i, (state, name) in enumerate([("running", "first"), ("queued", "second")]):
            job_id = f"20000101-00000{i + 1}-{name}"
            sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", job_id])
            sleepers.append(sleeper)
            _fake_job(job_id, state, sleeper.pid, now + i, name)
        at = open_train()
        progress = [p.proto.text for p in at.get("progress")]
        # Jobs queued before lanes existed: the long-job lane, no estimate to give a start time by.
        assert progress and progress[0].startswith("Queued for the long-job lane (1 job ahead) · waiting")
        assert "Each lane runs one job at a time" in texts(at.info)
        # A laptop: all jobs are yours.
        assert "1 job ahead (your 'first' (training, running, time unknown)), so the time is unknown" in texts(at.info)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


# ------------------------------------------------------------------------------ pure helpers


def test_progress_text_reads_the_latest_step():
    from core.jobs import JobStatus
    from ui.train_job import progress_text

    events = [
        {"phase": "prepare", "step": 0, "total_steps": 0},
        {"phase": "train", "step": 10, "total_steps": 40, "epoch": 0.5, "eta_s": 95.0},
    ]
    status = JobStatus(id="x", state="running", model_name="m", created=1000.0, events=events)
    fraction, line = progress_text(status, now=1065.0)
    assert fraction == 0.25
    assert "step 10/40" in line and "epoch 0.50" in line and "elapsed 1:05" in line and "about 1:35 left" in line
    queued = JobStatus(id="y", state="queued", model_name="m", created=1000.0, queue_position=2, wait_s=700.0)
    assert progress_text(queued, now=1003.0) == (
        0.0, "Queued for the long-job lane (2 jobs ahead, starts in about 12 min) · waiting 3 s")
    nothing_ahead = JobStatus(id="z", state="queued", model_name="m", created=1000.0, queue_position=0,
                              lane="short", wait_s=0.0)
    assert progress_text(nothing_ahead, now=1003.0)[1] == "Queued for the short-job lane (next) · waiting 3 s"


def test_recent_jobs_list_retrains_with_their_kind(models_dir):
    """Walk finding: a retrain started on the Models page was missing from the Train page's recent
    jobs. Truth: the job store as written here (kinds, names, states), newest first."""
    now = time.time()
    _fake_job("20000101-000001-trained", "done", None, now - 120, "first")
    _fake_job("20000101-000002-retrain", "done", None, now - 60, "first")
    request = jobs_root() / "20000101-000002-retrain" / "request.json"
    request.write_text(json.dumps({**json.loads(request.read_text()), "kind": "retrain"}))
    # as the worker writes a finished retrain's state (core.worker._retrain: the outcome's sentence)
    from core.versions import outcome_sentence

    sentence = outcome_sentence(False, "v1", "v2", {"delta": -0.02, "ci": [-0.05, 0.01], "n": 40}, 30, 10)
    (jobs_root() / "20000101-000002-retrain" / "state.json").write_text(json.dumps({"state": "done",
                                                                                  "message": sentence}))
    _fake_job("20000101-000003-zeroshot", "done", None, now - 30, "other")  # no training kind: not listed
    request = jobs_root() / "20000101-000003-zeroshot" / "request.json"
    request.write_text(json.dumps({**json.loads(request.read_text()), "kind": "zeroshot"}))
    at = open_train()
    lines = [m.value for m in at.expander[-1].markdown] if at.expander else []
    assert [re.sub(r"^`[^`]+` ", "", line) for line in lines] == [
        "**first** — retrain with new labels (Models page, Versions tab), kept v1: the challenger was not better",
        "**first** — training, done"]
    shows = [b.key for b in at.button if b.key and b.key.startswith("train_show_")]
    assert shows == ["train_show_20000101-000002-retrain", "train_show_20000101-000001-trained"]


def test_show_on_a_finished_retrain_opens_its_outcome_on_the_models_page(models_dir, trained_tiny):
    """walk-f: a finished retrain said "done" with no Show. Truth: the job's message written here."""
    from core.versions import outcome_sentence

    shutil.copytree(trained_tiny[1], models_dir / "first")
    _fake_job("20000101-000002-retrain", "done", None, time.time() - 60, "first")
    request = jobs_root() / "20000101-000002-retrain" / "request.json"
    request.write_text(json.dumps({**json.loads(request.read_text()), "kind": "retrain"}))
    sentence = outcome_sentence(True, "v1", "v2", {"delta": 0.2, "ci": [0.1, 0.3], "n": 40}, 30, 10)
    (jobs_root() / "20000101-000002-retrain" / "state.json").write_text(json.dumps({"state": "done", "message": sentence}))
    at = open_train()
    at.button(key="train_show_20000101-000002-retrain").click().run()
    assert not at.exception, at.exception
    assert sentence.startswith("Promoted: v2 is now in use in place of v1.") and sentence in texts(at.success)
