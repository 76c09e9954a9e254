"""The Train page's leaderboard (issue 26) in AppTest: a job whose events carry the leaderboard
(written as core.worker writes them: one ProgressEvent.to_dict() per line) shows each candidate's
score and status as it finishes, says "usable now" only once a saved leader exists, says why a
candidate was stopped early, and the finished view (Train and Models pages) lists the candidates,
the one in use following a "Use ... instead" switch. Job folders and model folders are written
here (JSON only, no training), so each test takes about a second."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import jobs_root, write_state
from core.progress import CandidateRow, ProgressEvent
from core.registry import model_path
from tests.ui.test_page_models import open_models, regression_folder
from tests.ui.test_page_train import frame_with, open_train, texts

NAME = "reviews-board"
JOB = "20260102-000000-board1"
NOTE = "12 points behind the leader after 2 evaluations"
BEHIND = "Not put in place: 4.4 points behind the fine-tuned transformer."


def rows(stage: int) -> list[CandidateRow]:
    """The leaderboard after ``stage`` candidates finished (0: the first one is running)."""
    tfidf = CandidateRow("tfidf", "TF-IDF + logistic regression", "running")
    embedding = CandidateRow("embedding", "Frozen-encoder embeddings + LR")
    transformer = CandidateRow("transformer", "Fine-tuned transformer")
    if stage >= 1:
        tfidf = CandidateRow("tfidf", tfidf.title, "done", 0.8123, "macro_f1", 210, 3.4, leader=True, saved=True)
        embedding = CandidateRow("embedding", embedding.title, "stopped early", 0.6917, "macro_f1", 210, 41.0, NOTE)
        transformer = CandidateRow("transformer", transformer.title, "running")
    if stage >= 2:
        tfidf = CandidateRow("tfidf", tfidf.title, "done", 0.8123, "macro_f1", 210, 3.4, BEHIND)
        transformer = CandidateRow("transformer", transformer.title, "done", 0.8561, "macro_f1", 210, 65.0,
                                   "The best so far.", leader=True, saved=True)
    return [tfidf, embedding, transformer]


def write_events(folder: Path, *boards: list[CandidateRow]) -> None:
    """events.jsonl as core.worker's log() writes it; a step event without a leaderboard last,
    as the fine-tune sends between candidate changes."""
    events = [ProgressEvent("prepare", 0, 0, 0.0)]
    events += [ProgressEvent("train", 0, 0, 0.0, leaderboard=tuple(r.to_dict() for r in board)) for board in boards]
    events.append(ProgressEvent("train", 3, 40, 0.2, loss=0.7, elapsed_s=50.0, eta_s=200.0))
    with open(folder / "events.jsonl", "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event.to_dict(), ensure_ascii=False, default=float) + "\n")


def job_folder(state: str, pid: int | None = None, created: float | None = None) -> Path:
    folder = jobs_root() / JOB
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.json").write_text(json.dumps({"model_name": NAME, "created": created or time.time() - 60,
                                                     "config": {}}))
    write_state(folder, state, message="Training")
    if pid:
        (folder / "pid").write_text(str(pid))
    return folder


def model_folder(kind: str, board: list[CandidateRow] | None, useless: bool = False) -> Path:
    """A saved model (JSON and CSV only) of ``kind``; its metrics record ``board`` when given."""
    folder = regression_folder(model_path(NAME))
    manifest = json.loads((folder / "marketune.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    manifest.update(kind=kind, saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    metrics.update(saved_kind=kind, verdict={"useless": useless, "warning": "It predicts one value for every row.",
                                             "sentence": "Kept by the rule."})
    if board is not None:
        metrics["leaderboard"] = [r.to_dict() for r in board]
    (folder / "marketune.json").write_text(json.dumps(manifest))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def worker(models_dir):
    """A stand-in worker: a sleeping process whose command line names the job (core.jobs._alive)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", JOB])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def words(elements) -> str:
    """The elements' texts without the page's own bold markers."""
    return texts(elements).replace("**", "")


def other_model() -> None:
    """A usable model saved before the job: the one the sidebar makes active by itself."""
    regression_folder(model_path("older-model"))


def active(at) -> str | None:
    return at.session_state["active_model"] if "active_model" in at.session_state else None


def board_of(at) -> dict[str, dict]:
    return frame_with(at, "validation score").set_index("candidate").to_dict("index")


def test_the_table_fills_in_and_usable_now_appears_only_with_a_saved_leader(worker):
    other_model()
    folder = job_folder("running", worker)
    write_events(folder, rows(0))
    at = open_train()
    board = board_of(at)
    assert list(board) == ["TF-IDF + logistic regression", "Frozen-encoder embeddings + LR", "Fine-tuned transformer"]
    assert board["TF-IDF + logistic regression"]["status"] == "running"
    assert board["Fine-tuned transformer"]["status"] == "waiting"
    progress = at.get("progress")[0].proto.text
    assert progress.startswith("TF-IDF + logistic regression (candidate 1 of 3) · Training · step 3/40"), progress
    assert "usable now" not in texts(at.success) and not at.main.get("page_link")
    assert active(at) == "older-model"

    model_folder("tfidf", None)  # the pipeline saved its leader, then wrote the event
    write_events(folder, rows(0), rows(1))
    at.run()
    assert not at.exception, at.exception
    tfidf = board_of(at)["TF-IDF + logistic regression"]
    assert (tfidf["validation score"], tfidf["scored on"], tfidf["time"], tfidf["status"]) == (
        "0.812", "macro-F1, 210 rows", "3 s", "done")
    assert tfidf["standing"] == "leader, in use"
    embedding = board_of(at)["Frozen-encoder embeddings + LR"]
    assert (embedding["validation score"], embedding["status"], embedding["note"]) == ("0.692", "stopped early", NOTE)
    assert "Frozen-encoder embeddings + LR was stopped early: " + NOTE in words(at.info)
    ready = words(at.success)
    assert f"TF-IDF + logistic regression is saved as {NAME} and usable now" in ready
    assert ". Fine-tuned transformer may replace it if it scores better." in ready
    assert [link.proto.label for link in at.main.get("page_link")] == ["Use it on **Predict**"]
    # The model the person had active stays so (the walk saw the sidebar switch silently to a new run's
    # best-so-far); the line says so and how to switch.
    assert active(at) == "older-model"
    assert f"older-model stays the active model: choose {NAME} in the sidebar to make it the active one." in ready
    at.button(key="train_cancel").click().run()
    assert "stops within a few seconds and trains no further candidate" in texts(at.warning)


def test_while_the_saved_fine_tune_is_refitted_the_page_says_it_stays_usable(worker):
    other_model()
    folder = job_folder("running", worker)
    model_folder("transformer", None)  # the fine-tune on the training rows, saved as the leader
    refitting = rows(2)
    refitting[2] = dataclasses.replace(refitting[2], refitting=True)
    write_events(folder, rows(0), rows(1), rows(2), refitting)
    at = open_train()
    assert not at.exception, at.exception
    ready = words(at.success)
    assert f"Fine-tuned transformer is saved as {NAME} and usable now" in ready
    assert "being retrained on the training + validation rows, and the retrained copy replaces it when the job ends" in ready
    # The bar counts the refit's own steps and names it (the fine-tune's 40 of 40 would read "done").
    progress = at.get("progress")[0].proto.text
    assert progress.startswith("Fine-tuned transformer, retrained on train + validation (the last step) · Training · "
                               "step 3/40"), progress
    at.button(key="train_cancel").click().run()
    assert "ends the retraining on train + validation (the model saved so far stays)" in texts(at.warning)


def test_a_fine_tune_that_refits_says_its_eta_is_not_the_end(worker):
    other_model()
    folder = job_folder("running", worker)
    model_folder("tfidf", None)
    board = rows(1)
    board[2] = dataclasses.replace(board[2], refits=True)  # running, and retrained if it wins
    write_events(folder, rows(0), board)
    at = open_train()
    assert not at.exception, at.exception
    progress = at.get("progress")[0].proto.text
    assert progress.startswith("Fine-tuned transformer (candidate 3 of 3) · Training · step 3/40"), progress
    assert progress.endswith("about 3:20 left, then about as long again to retrain it on train + validation if it wins"), progress
    assert ("Fine-tuned transformer may replace it if it scores better (fine-tuned transformer, if saved, is then retrained "
            "on train + validation, about as long again).") in words(at.success)


def test_a_saved_leader_no_better_than_guessing_is_not_called_usable(worker):
    other_model()
    folder = job_folder("running", worker)
    model_folder("tfidf", None, useless=True)
    write_events(folder, rows(1))
    at = open_train()
    assert "usable now" not in texts(at.success) and not at.main.get("page_link")
    assert "not usable: It predicts one value for every row." in texts(at.warning)
    assert active(at) == "older-model"


def test_the_finished_view_lists_the_candidates_and_in_use_follows_a_switch(models_dir):
    folder = job_folder("done")
    write_events(folder, rows(0), rows(1), rows(2))
    saved = model_folder("transformer", rows(2))
    metrics = json.loads((saved / "metrics.json").read_text())
    metrics["refit"] = {"rows": 1600, "steps": 150, "sentence": "The saved transformer was retrained ..."}
    (saved / "metrics.json").write_text(json.dumps(metrics))
    (saved / "candidates" / "tfidf").mkdir(parents=True)  # the kept candidate, its metrics as training notes them
    (saved / "candidates" / "tfidf" / "marketune.json").write_text(json.dumps({"kind": "tfidf", "task": "regression"}))
    (saved / "candidates" / "tfidf" / "metrics.json").write_text((saved / "metrics.json").read_text())
    write_state(folder, "done", message="Saved", model_path=str(saved))
    at = open_train()
    at.button(key=f"train_show_{JOB}").click().run()
    board = board_of(at)
    assert {k: (v["validation score"], v["status"]) for k, v in board.items()} == {
        "TF-IDF + logistic regression": ("0.812", "done"),
        "Frozen-encoder embeddings + LR": ("0.692", "stopped early"),
        "Fine-tuned transformer": ("0.856", "done"),
    }
    assert board["Fine-tuned transformer"]["standing"] == "leader, in use"
    # The run ended: not "so far" (walk r13).
    assert board["Fine-tuned transformer"]["note"] == "The best: the rule put it in place."
    assert board["TF-IDF + logistic regression"]["note"] == BEHIND
    assert "##### Candidates" in texts(at.markdown)
    # The split says the saved model was refitted (its validation scores are the training-rows copy's).
    assert any(", then refitted on 1,600 training + validation rows" in c.value for c in at.caption)

    at.button(key="train_results_use_tfidf").click().run()
    at.button(key="train_results_use_confirm").click().run()
    assert not at.exception, at.exception
    board = board_of(at)  # the rule's leader stays the leader; the model in use is the person's choice
    assert (board["Fine-tuned transformer"]["standing"], board["TF-IDF + logistic regression"]["standing"]) == (
        "leader", "in use")
    # Its note no longer argues it was not put in place: the "in use" mark beside it would contradict it.
    assert board["TF-IDF + logistic regression"]["note"] == "Now in use: you chose it instead of the leader."
    assert board["Fine-tuned transformer"]["note"] == "The best: the rule's choice, but you put another candidate in place."
    assert board["Frozen-encoder embeddings + LR"]["note"] == NOTE

    models = open_models()
    models.selectbox(key="models_open").set_value(NAME).run()
    assert board_of(models)["TF-IDF + logistic regression"]["standing"] == "in use"


def test_a_cross_validated_runs_board_calls_its_scores_out_of_fold_not_validation(models_dir):
    """The newcomer walk's 150-row file: every candidate cross-validated (no validation or test
    rows), yet the board's column said "validation score"."""
    folder = job_folder("done")
    write_events(folder, rows(0), rows(1), rows(2))
    saved = model_folder("transformer", rows(2))
    metrics = json.loads((saved / "metrics.json").read_text())
    (saved / "metrics.json").write_text(json.dumps({**metrics, "cv": {"k": 5}}))
    write_state(folder, "done", message="Saved", model_path=str(saved))
    at = open_train()
    at.button(key=f"train_show_{JOB}").click().run()
    assert not at.exception, at.exception
    board = frame_with(at, "out-of-fold score (5-fold cross-validation)").set_index("candidate")
    assert board["out-of-fold score (5-fold cross-validation)"].to_dict()["Fine-tuned transformer"] == "0.856"
    assert not [f for f in at.dataframe if "validation score" in f.value.columns]


def test_without_a_leaderboard_in_the_metrics_the_last_event_is_shown(models_dir):
    folder = job_folder("done")
    write_events(folder, rows(0), rows(1))
    saved = model_folder("tfidf", None)
    write_state(folder, "done", message="Saved", model_path=str(saved))
    at = open_train()
    at.button(key=f"train_show_{JOB}").click().run()
    board = board_of(at)
    assert board["TF-IDF + logistic regression"]["validation score"] == "0.812"
    assert board["Fine-tuned transformer"]["status"] == "not finished"  # the job is over
    assert not [f for f in at.dataframe if "validation score" in f.value.columns][1:]  # one table, not two


def test_a_cancelled_job_says_its_saved_leader_stays_usable(models_dir):
    folder = job_folder("cancelled")
    write_events(folder, rows(0), rows(1))
    model_folder("tfidf", None)
    at = open_train()
    at.button(key=f"train_show_{JOB}").click().run()
    assert "nothing was saved" not in texts(at.warning) and "nothing more was trained" in texts(at.warning)
    assert f"TF-IDF + logistic regression, saved while the job ran, stays usable as {NAME}" in words(at.info)
    assert board_of(at)["TF-IDF + logistic regression"]["validation score"] == "0.812"


def test_the_models_page_says_while_the_job_runs_what_may_replace_the_model(worker):
    folder = job_folder("running", worker)
    write_events(folder, rows(1))
    model_folder("tfidf", rows(1))  # the leader saved mid-run, its metrics recording the board so far
    at = open_models()
    at.selectbox(key="models_open").set_value(NAME).run()
    board = board_of(at)
    assert (board["TF-IDF + logistic regression"]["standing"], board["Fine-tuned transformer"]["status"]) == (
        "leader, in use", "running")
    assert "still running: Fine-tuned transformer may replace this model" in texts(at.caption)

    write_state(folder, "failed", message="Out of memory")  # the job ended: nothing will replace it
    at.run()
    assert board_of(at)["Fine-tuned transformer"]["status"] == "not finished"
    assert "still running" not in texts(at.caption)


def _panel_script():
    """A page that shows the job's live panel: the Label page's (session flag "label") or the Train page's."""
    import streamlit as st

    from ui.jobs import live_panel
    from ui.train_job import LABEL_PANEL, PANEL

    link = st.page_link  # pages/predict.py is not a page of this one-script app: the link drawn as a caption
    st.page_link = lambda page, label=None, **_: st.caption(str(label))
    try:
        live_panel("20260102-000000-board1", LABEL_PANEL if st.session_state.get("label") else PANEL)
    finally:
        st.page_link = link


@pytest.mark.parametrize("label_page,active_before,becomes_active",
                         [(False, None, NAME), (False, "older-model", "older-model"), (True, None, None)])
def test_only_the_train_pages_panel_makes_the_saved_leader_active_before_the_end(worker, label_page, active_before,
                                                                                 becomes_active):
    """The Label page compares the finished job's model with the project's zero-shot model before
    either is made active (ui/label.py): its panel must not switch the active model mid-job (walk-v:
    a model later rejected was the active one for a minute). The Train page's makes it active only
    when no other model is: the one the person uses stays (the walk saw it replaced silently)."""
    from streamlit.testing.v1 import AppTest

    other_model()
    folder = job_folder("running", worker)
    model_folder("tfidf", None)
    write_events(folder, rows(0), rows(1))
    at = AppTest.from_function(_panel_script, default_timeout=30)
    at.session_state["label"] = label_page
    at.session_state["active_model"] = active_before
    at.run()
    assert not at.exception, at.exception
    assert f"TF-IDF + logistic regression is saved as {NAME} and usable now" in words(at.success)
    assert active(at) == becomes_active


def test_a_best_so_far_says_its_running_job_may_replace_it_and_offers_no_swap_until_the_job_ends(worker, trained_tiny):
    """Round 11's walk: mid-run, the Models page showed the best so far (saved by the job's on_leader,
    core.worker) as a finished run ("stopped: completed · the whole run took 23:03", "in place") and
    offered "Use ... instead", while the refit went on for 7 minutes and changed its test score. The
    marker core.worker writes with a best so far (metrics["best_so_far"]) and the job's state say it."""
    import shutil

    from ui.jobs import duration

    _, saved = trained_tiny  # a real saved fine-tune with TF-IDF kept beside it
    folder = job_folder("running", worker)
    write_events(folder, rows(2))
    target = model_path(NAME)
    shutil.copytree(saved, target)
    metrics = json.loads((target / "metrics.json").read_text())
    (target / "metrics.json").write_text(json.dumps({**metrics, "best_so_far": {"job": JOB}}))
    swap = "models_inspect_use_tfidf"
    at = open_models()
    at.selectbox(key="models_open").set_value(NAME).run()
    assert not at.exception, at.exception
    assert "The best so far of a training job that is still running." in words(at.info)
    assert "or with this model retrained on train + validation" in words(at.info)
    header = texts(at.caption)
    assert f"saved as the best so far {duration(metrics['total_seconds'])} into the run" in header
    assert "the whole run took" not in header
    assert "stopped:" not in header  # the run goes on (walk r13: "stopped: completed" beside "still running")
    # The board is the job's latest (rows(2), written above), not the one saved with the model: the
    # walk read "waiting" for candidates the Train page had scored minutes before.
    board = frame_with(at, "scored on").set_index("candidate")
    assert board.loc["Frozen-encoder embeddings + LR", "note"] == NOTE
    assert board.loc["Fine-tuned transformer", "status"] != "waiting"
    assert "until its training job replaces it" in texts(at.markdown)
    assert swap not in [b.key for b in at.button]
    assert "No candidate can be put in place while the training job that saved this model is still running" in header

    write_state(folder, "failed", message="Out of memory")  # the job died after the save: the model stays as it is
    at.run()
    assert "still running" not in words(at.info)
    assert "ended without finishing (failed: Out of memory)" in words(at.warning)
    assert swap in [b.key for b in at.button]  # nothing will replace it now: a swap is the person's to make


def test_a_best_so_far_being_refitted_says_its_retrained_copy_replaces_it(worker, trained_tiny):
    """Newcomer's walk: while the job's last step retrained the saved leader on train + validation, the
    Models page still said the job may replace it "with a later candidate", though none was left to
    run. Truth: the job's latest leaderboard as core.pipeline writes it (every candidate ended, the
    saved leader's row ``refitting``)."""
    import dataclasses
    import shutil

    _, saved = trained_tiny
    folder = job_folder("running", worker)
    board = rows(2)
    board[2] = dataclasses.replace(board[2], refitting=True)  # the saved leader, the fine-tune
    write_events(folder, rows(1), board)
    assert not [r for r in board if r.status in ("waiting", "running")]  # no candidate left to run
    target = model_path(NAME)
    shutil.copytree(saved, target)
    metrics = json.loads((target / "metrics.json").read_text())
    (target / "metrics.json").write_text(json.dumps({**metrics, "best_so_far": {"job": JOB}}))
    at = open_models()
    at.selectbox(key="models_open").set_value(NAME).run()
    assert not at.exception, at.exception
    said = words(at.info)
    assert "is being retrained on train + validation" in said
    assert "this saved model is replaced by its retrained copy" in said
    assert "later candidate" not in said

    write_events(folder, rows(1), rows(2))  # the refit not started yet: a later candidate may still come
    at.run()
    assert "later candidate" in words(at.info) and "retrained copy" not in words(at.info)


def test_the_ready_line_names_the_pending_candidates_mid_sentence_and_only_the_retrained_ones_as_retrained():
    """Two candidates waiting, one of them retrained if it wins: the walk read "... or The soft vote ... may
    replace it (and is then retrained ...)" for candidates without a retraining."""
    from ui.leaderboard import ready_line

    board = [{"kind": "tfidf", "title": "TF-IDF + logistic regression", "status": "done", "leader": True, "saved": True},
             {"kind": "softvote", "title": "The soft vote", "status": "waiting"},
             {"kind": "transformer", "title": "The fine-tuned transformer", "status": "waiting", "refits": True}]
    line = ready_line(board, "m")
    assert "The soft vote or the fine-tuned transformer may replace it if it scores better" in line, line
    assert "(the fine-tuned transformer, if saved, is then retrained on train + validation" in line, line
    assert "soft vote, if saved" not in line


def test_each_newly_saved_leader_reruns_the_whole_page_so_the_sidebar_describes_it(worker):
    """The sidebar is drawn outside the polling fragment: the walk saw it name the first saved leader (TF-IDF)
    for the whole run while later leaders replaced the folder. While no other model is in use, a new saved
    leader makes the job's model active with a whole-page run (seen here as the active model set again
    after it named a model since deleted); a model the person moved to stays active."""
    other_model()
    folder = job_folder("running", worker)
    model_folder("tfidf", None)
    write_events(folder, rows(0), rows(1))
    at = open_train()
    assert not at.exception, at.exception
    assert active(at) == NAME  # the newest model: the sidebar's default
    at.session_state["active_model"] = "deleted-model"  # no saved model: none in use
    at.run()
    assert active(at) == "deleted-model"  # the same leader: no second activation
    shutil.rmtree(model_path(NAME))  # the pipeline replaces the folder with its new leader
    model_folder("transformer", None)
    write_events(folder, rows(0), rows(1), rows(2))
    at.run()
    assert not at.exception, at.exception
    assert active(at) == NAME
    at.session_state["active_model"] = "older-model"  # moved away (the sidebar, another page)
    write_events(folder, rows(0), rows(1), rows(2), rows(1))  # a later leader is saved
    at.run()
    assert active(at) == "older-model"  # not taken back by the job


def test_the_short_columns_are_never_cut_and_the_notes_are_said_in_full(worker):
    # The walk: "standing" read "leader, in u…", "scored on" "macro-F1, 1…" and the note (a sentence)
    # was always cut. The short columns get widths that fit their words; the notes are listed under
    # the table in full, a stopped-early one once (in its own line while the job runs).
    other_model()
    folder = job_folder("running", worker)
    model_folder("tfidf", None)
    board = rows(1)
    board[0] = dataclasses.replace(board[0], note="Its cross-validated macro-F1 is 0.801 on 260 rows.")
    write_events(folder, rows(0), board)
    at = open_train()
    assert not at.exception, at.exception
    element = next(e for e in at.dataframe if "validation score" in e.value.columns)
    assert "note" not in list(element.proto.column_order) and "note" in element.value.columns
    widths = {column: config.get("width") for column, config in json.loads(element.proto.columns).items()}
    assert widths["standing"] >= 110 and widths["scored on"] >= 160, widths
    said = texts(at.markdown)
    assert "- **TF-IDF + logistic regression**: Its cross-validated macro-F1 is 0.801 on 260 rows." in said
    assert NOTE not in said and f"Frozen-encoder embeddings + LR was stopped early: {NOTE}" in words(at.info)


def test_the_soft_votes_go_by_their_short_names_on_the_board():
    """Walk (r13): at 1,400 px the table cut "The soft vote with the fine-tune (TF-IDF + LR, e..." so the two
    votes could not be told apart, and the "may replace it" line repeated the long names in nested brackets.
    The titles core.evaluation.MODEL_NAMES gives them, as the pipeline writes them into the rows."""
    from core.evaluation import MODEL_NAMES
    from ui.leaderboard import leaderboard_frame, ready_line

    board = [{"kind": "tfidf", "title": "TF-IDF + logistic regression", "status": "done", "leader": True, "saved": True},
             {"kind": "softvote", "title": MODEL_NAMES["softvote"].capitalize(), "status": "done", "score": 0.8},
             {"kind": "transformer", "title": "The fine-tuned transformer", "status": "running", "refits": True},
             {"kind": "softvote_ft", "title": MODEL_NAMES["softvote_ft"].capitalize(), "status": "waiting", "refits": True}]
    assert leaderboard_frame(board)["candidate"].tolist() == [
        "TF-IDF + logistic regression", "The soft vote", "The fine-tuned transformer", "The soft vote with the fine-tune"]
    line = ready_line(board, "m")
    assert "The fine-tuned transformer or the soft vote with the fine-tune may replace it" in line, line
    assert "(" not in line.split("may replace it")[0] and "averaged" not in line, line
