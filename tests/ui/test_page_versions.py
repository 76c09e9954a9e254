"""The Models page's Versions tab in AppTest: "Retrain with new labels" runs as a background job
(kind "retrain", a real worker), says the rule before and the comparison after, promotes only a
better challenger; a rollback asks first. Truths: each folder's own predictions on the fixed
holdout, computed in the test (tests/test_versions.py's helper), and the job's own state."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest
from sklearn.metrics import f1_score
from streamlit.testing.v1 import AppTest

from core import jobs as core_jobs
from core.jobs import list_jobs, read_events
from core.models import load_folder
from core.versions import COMPARE_PHASE, KEEP_PHASE, VERSION_FILE, VERSIONS, list_versions
from tests.conftest import make_sentiment_frame
from tests.core.test_versions import holdout_accuracy
from tests.ui.test_page_models import ROOT
from tests.ui.test_page_train import frame_with, texts
from tests.ui.test_page_train import texts as texts_of


@pytest.fixture
def flipped_model(models_dir, trained_tiny):
    """The session's tiny model with its class scores negated, saved as "sentiment": plainly worse."""
    folder = models_dir / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    model = load_folder(folder)
    model.model.classifier.weight.data.neg_()
    model.model.classifier.bias.data.neg_()
    model.save(folder, overwrite=True)
    # One epoch for the challenger (the job trains with the saved settings): the test is about the job
    # and the page, and a negated model is beaten by any challenger that learnt anything.
    settings = json.loads((folder / "training_config.json").read_text())
    (folder / "training_config.json").write_text(json.dumps({**settings, "epochs": 1.0}))
    return folder


def open_versions() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, key: str, df: pd.DataFrame) -> None:
    at.file_uploader(key=key).set_value((f"{key}.csv", df.to_csv(index=False).encode(), "text/csv")).run()


def test_retrain_from_the_page_promotes_a_better_challenger_then_rolls_back(flipped_model):
    before = holdout_accuracy(flipped_model)
    n_test = len(pd.read_csv(flipped_model / "test_predictions.csv"))
    at = open_versions()
    rule = " ".join(m.value for m in at.markdown)
    assert f"fixed holdout ({n_test:,} rows)" in rule and "more than 0.5 points higher" in rule
    assert at.button(key="models_versions_start").disabled  # nothing uploaded yet
    upload(at, "models_versions_old", make_sentiment_frame(160, seed=1))
    upload(at, "models_versions_new", make_sentiment_frame(40, seed=2))
    at.button(key="models_versions_start").click().run()
    assert not at.exception, at.exception
    [job] = list_jobs(kind="retrain")
    deadline = time.monotonic() + 240
    while list_jobs(kind="retrain")[0].active and time.monotonic() < deadline:
        time.sleep(1)
    [job] = list_jobs(kind="retrain")
    assert job.state == "done", job.message
    phases = [e["phase"] for e in read_events(core_jobs.jobs_root() / job.id)]
    assert "done" not in phases and phases[-3:] == ["trained", COMPARE_PHASE, KEEP_PHASE]  # never "Done" mid-job
    at.run()
    assert "Promoted: v2 is now in use in place of v1." in texts(at.success)
    # The fixed holdout stays fixed: said where the outcome is read, and the rule still counts the test split;
    # the new rows both models call otherwise (here: rows the one-epoch challenger misses too) are listed to check.
    assert f"The fixed holdout stays as it was ({n_test:,} rows)" in texts(at.success)
    assert f"fixed holdout ({n_test:,} rows)" in " ".join(m.value for m in at.markdown)
    assert len(pd.read_csv(flipped_model / "holdout.csv")) == n_test
    assert holdout_accuracy(flipped_model) > before  # the model in place is the better one
    assert [v["status"] for v in list_versions(flipped_model)] == ["replaced by a better challenger"]
    table = frame_with(at, "what happened")
    assert table["what happened"].tolist() == ["in use", "replaced by a better challenger"]
    assert table["version"].tolist() == ["v2", "v1"]
    # Each side's comparison in its own words. Truth: scikit-learn's macro-F1 of each model on the
    # comparison rows (the fixed holdout and the job's share of the new rows, seed 42), the winner's lead in points.
    from core.versions import eval_rows

    compared, labels, _, _ = eval_rows(load_folder(flipped_model / VERSIONS / "v1"), make_sentiment_frame(40, seed=2), 42)
    rows = pd.DataFrame({"text": compared, "true_label": labels})
    f1 = [f1_score(rows["true_label"].astype(str), [str(p) for p in load_folder(f).predict(rows["text"].astype(str).tolist())],
                   average="macro") for f in (flipped_model, flipped_model / VERSIONS / "v1")]
    lead = f"{abs(f1[0] - f1[1]) * 100:.1f} points"
    assert f1[0] > f1[1] and table["comparison"].tolist()[0].startswith(f"Promoted: this model was {lead} ahead")
    assert table["comparison"].tolist()[1].startswith(f"Replaced: this model was {lead} behind")

    at.button(key="models_versions_rollback").click().run()
    assert "The model in use is kept as **v2** (numbers never change)" in texts(at.warning)
    assert holdout_accuracy(flipped_model) > before  # asked, not done yet
    at.button(key="models_versions_confirm").click().run()
    assert "Rolled back from **v2** to **v1**: v1 is in use now" in texts(at.success)
    assert holdout_accuracy(flipped_model) == pytest.approx(before)
    assert (flipped_model / VERSIONS / "v2").is_dir()
    table = frame_with(at, "what happened")  # numbers stay: v1 in use again, v2 kept; the rollback is an event
    assert table["version"].tolist() == ["v1", "v2"]
    assert table["what happened"].tolist() == ["in use", "set aside by a rollback from v2 to v1"]
    assert "rolled back from v2 to v1: v1 is in use, v2 is kept" in " ".join(m.value for m in at.markdown)


def _log(folder, **event) -> None:
    with open(folder / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": 0, "total_steps": 0, "time": time.time(), **event}) + "\n")


def _cancel_buttons(at: AppTest) -> list:
    return [b for b in at.button if b.key and b.key.startswith("versions_cancel")]


def test_the_panel_names_the_comparison_and_offers_no_cancel_once_it_cannot_or_the_job_ended(flipped_model,
                                                                                               monkeypatch):
    """Walk finding: the tab read "Done" with Cancel after the training, while the comparison ran
    and after the job ended. Truth: the job's own state and events, written here as the worker writes them."""
    monkeypatch.setattr(core_jobs, "_launch_worker", lambda folder: None)  # the test plays the worker
    job_id = core_jobs.start_retrain_job("sentiment", make_sentiment_frame(40, seed=1), make_sentiment_frame(20, seed=2))
    folder = core_jobs.jobs_root() / job_id
    core_jobs.write_state(folder, "running", message="Training a challenger")
    _log(folder, phase=COMPARE_PHASE, fraction=0.0, message="Comparing the challenger with the model in use on 30 rows")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.session_state["versions_jobs"] = {"sentiment": job_id}
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    assert any("Comparing the challenger" in str(bar.proto.text) for bar in at.get("progress"))
    assert _cancel_buttons(at)  # the comparison can still be stopped: nothing is written before its end

    _log(folder, phase=KEEP_PHASE, fraction=1.0, message="Promoting the challenger: writing the versions "
                                                          "(too late to cancel)")
    at.run()
    assert any("too late to cancel" in str(bar.proto.text) for bar in at.get("progress"))
    assert not _cancel_buttons(at)

    core_jobs.write_state(folder, "done", message="The challenger was promoted: +3.0 points.", promoted=True)
    at.run()
    assert core_jobs.job_status(job_id).state == "done"
    assert not _cancel_buttons(at) and not at.get("progress")
    assert "was promoted" in texts(at.success)


def test_rolling_forward_to_a_losing_challenger_says_so_with_both_scores_and_asks(models_dir, trained_tiny,
                                                                                  flipped_model):
    """A challenger kept because it lost (here: the negated model as v1 of the good one): the
    question says it was not promoted, with its macro-F1 and the model in use's on the same rows.
    Truth: scikit-learn's macro-F1 of each folder's own predictions on the holdout rows."""
    from sklearn.metrics import f1_score

    good = models_dir / "good"
    shutil.copytree(trained_tiny[1], good)
    shutil.copytree(flipped_model, good / VERSIONS / "v1")
    (good / VERSIONS / "v1" / VERSION_FILE).write_text(json.dumps({
        "status": "challenger, not promoted", "sentence": "The challenger was not promoted: 40.0 points behind."}))
    shutil.rmtree(flipped_model)  # one model on the page
    test = pd.read_csv(good / "test_predictions.csv", keep_default_na=False)
    texts, truth = test["text"].astype(str).tolist(), test["true_label"].astype(str)
    v1, in_use = (f1_score(truth, [str(p) for p in load_folder(f).predict(texts)], average="macro")
                  for f in (good / VERSIONS / "v1", good))
    at = open_versions()
    at.button(key="models_versions_rollback").click().run()
    assert not at.exception, at.exception
    warning = texts_of(at.warning)
    assert "v1 was not promoted: it scored worse" in warning and "*" not in warning.split("v1 was not", 1)[1] and f"macro-F1 {v1:.3f} against {in_use:.3f}" in warning
    assert "anyway" in warning
    assert at.button(key="models_versions_confirm").label == "Yes, roll back anyway"
    assert holdout_accuracy(good) == 1.0  # asked, nothing done yet
    at.button(key="models_versions_confirm").click().run()
    assert "Rolled back from **v2** to **v1**: v1 is in use now, v2 is kept" in texts_of(at.success)  # numbered now
    assert holdout_accuracy(good) < 1.0  # the losing challenger is in place, as asked


def test_a_table_without_the_label_is_refused_before_any_job(flipped_model):
    at = open_versions()
    upload(at, "models_versions_old", make_sentiment_frame(40, seed=1))
    upload(at, "models_versions_new", make_sentiment_frame(20, seed=2).drop(columns="label"))
    at.button(key="models_versions_start").click().run()
    assert "The new labelled rows lack ['label']" in texts(at.error)
    assert list_jobs(kind="retrain") == []


def test_a_model_without_versions_says_what_a_retrain_keeps(flipped_model):
    at = open_versions()
    assert any("No earlier version yet" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "models_versions_rollback"]


def test_a_new_browser_session_finds_the_running_retrain_in_the_job_store(flipped_model, monkeypatch):
    """Walk finding: the tab opened in a new browser session while a retrain ran showed no progress,
    no Cancel, no sign of the job. Truth: the job's own state and events, written here as the worker
    writes them; the session starts with nothing of it."""
    monkeypatch.setattr(core_jobs, "_launch_worker", lambda folder: None)  # the test plays the worker
    job_id = core_jobs.start_retrain_job("sentiment", make_sentiment_frame(40, seed=1), make_sentiment_frame(20, seed=2))
    folder = core_jobs.jobs_root() / job_id
    core_jobs.write_state(folder, "running", message="Training a challenger")
    _log(folder, phase=COMPARE_PHASE, fraction=0.0, message="Comparing the challenger with the model in use on 30 rows")
    at = open_versions()  # a fresh session: no job id in its state
    assert not at.exception, at.exception
    assert any("Comparing the challenger" in str(bar.proto.text) for bar in at.get("progress"))
    assert _cancel_buttons(at)
    assert at.button(key="models_versions_start").disabled  # no second retrain of the same model

    core_jobs.write_state(folder, "done", message="The challenger was promoted: +3.0 points.", promoted=True)
    at.run()  # followed to its end as if started in this session
    assert "was promoted" in texts(at.success) and not at.get("progress")


def test_the_rollback_picker_starts_at_the_version_in_use_before_and_a_swap_is_in_the_history(models_dir, trained_tiny,
                                                                                               tmp_path):
    """walk-f: right after a promotion the picker offered the challenger that lost (the highest number),
    and "Use ... instead" emptied the tab. Truth: the versions written in the test (v3 replaced v1;
    v2 lost) and the candidate put in front here."""
    from core.versions import choose
    from tests.core.test_versions import with_versions

    folder = with_versions(trained_tiny, tmp_path)
    assert folder.parent == models_dir
    choose(folder, "tfidf")
    at = open_versions()
    picker = at.selectbox(key="models_versions_pick_v3")
    assert picker.value == "v1" and picker.options[0] == "v1 (in use before v3)" and "v2" in picker.options
    table = frame_with(at, "what happened")
    assert table["version"].tolist() == ["v3", "v2", "v1"] and table["model"].tolist()[0] == "TF-IDF + logistic regression"
    assert "v3: you put TF-IDF + logistic regression in place of the fine-tuned transformer" in " ".join(
        m.value for m in at.markdown)
    # Times as the CLI's `versions` prints them (walk: the table and History showed raw ISO stamps).
    import re
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", str(t)) for t in table["saved"].tolist())
    history = " ".join(m.value for m in at.markdown if m.value.startswith("- `"))
    assert history and not re.search(r"\d\dT\d\d:\d\d", history) and "`2026-01-01 00:00`" in history


@pytest.mark.parametrize("promoted", [True, False])
def test_rows_set_aside_for_review_are_shown_offered_and_the_outcome_points_to_them(flipped_model, monkeypatch, promoted):
    """Round 8: every retrain, promoted or not, lists the new rows both models call otherwise
    (core.versions.suspected_label_errors) in holdout_review.csv: the tab shows them and offers them
    for download where the outcome is read, and the outcome names no server path.
    Truth: the file and the job's state, written here as the retrain writes them."""
    from core.versions import HOLDOUT_REVIEW

    rows = pd.DataFrame({"text": ["I love it", "awful service"], "given_label": ["negative", "positive"],
                         "model_in_use_predicted": ["positive", "negative"], "challenger_predicted": ["positive", "negative"],
                         "retrain": ["v2 promoted in place of v1, 2026-12-07 05:40"] * 2})
    rows.to_csv(flipped_model / HOLDOUT_REVIEW, index=False)
    monkeypatch.setattr(core_jobs, "_launch_worker", lambda folder: None)  # the test plays the worker
    job_id = core_jobs.start_retrain_job("sentiment", make_sentiment_frame(40, seed=1), make_sentiment_frame(20, seed=2))
    head = ("Promoted: v2 is now in use in place of v1. The challenger scored higher, so it is in use: 3.0 points ahead."
            if promoted else "Kept v1: the challenger (v2) was not better, so it was not promoted: 3.0 points behind.")
    core_jobs.write_state(core_jobs.jobs_root() / job_id, "done", promoted=promoted, message=(
        f"{head} The model in use disagrees with 55% of your new labels, against 10% on the fixed holdout: some new "
        f"labels may be wrong, or your texts have changed. 2 rows both models call otherwise are listed to check: "
        f"{flipped_model / HOLDOUT_REVIEW}. Correct the wrong labels."))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.session_state["versions_jobs"] = {"sentiment": job_id}  # the session that started the retrain
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    said = texts(at.success if promoted else at.info)
    assert "listed to check: the list below (Rows to check)." in said and str(flipped_model) not in said
    assert "disagrees with 55% of your new labels, against 10% on the fixed holdout" in said
    # the doubt about the new labels is said first, as a warning of its own (walk-r: easy to miss inside the outcome)
    assert [w.value for w in at.warning if "labels may be wrong" in w.value] == [
        "The model in use disagrees with 55% of your new labels, against 10% on the fixed holdout: some new labels "
        "may be wrong, or your texts have changed."]
    [box] = [e for e in at.expander if e.label.startswith("Rows to check (2)")]
    assert "both models call them otherwise" in box.label
    assert "so the label may be wrong. Check these labels" in " ".join(m.value for m in box.markdown)
    table = frame_with(at, "label given")
    assert table["text"].tolist() == ["I love it", "awful service"]
    assert table["label given"].tolist() == ["negative", "positive"]
    assert table["the challenger said"].tolist() == ["positive", "negative"]
    assert [b for b in at.get("download_button") if "rows to check" in b.proto.label]


def test_each_versions_comparison_is_readable_in_full(trained_tiny, tmp_path, models_dir):
    """Walk finding: the Versions table's comparison cell was cut off. Truth: the comparison the test
    wrote for v3 (core.versions.own_words of it, in full), listed under the table."""
    from core.versions import in_use
    from tests.core.test_versions import with_versions

    folder = with_versions(trained_tiny, tmp_path)
    assert folder.parent == models_dir
    at = open_versions()
    assert not at.exception, at.exception
    [box] = [e for e in at.expander if e.label == "Each version's comparison in full"]
    full = texts(box.markdown)
    assert f"**v3** (in use): {in_use(folder)['own_words']}" in full


def test_a_cross_validated_model_says_why_it_has_no_fixed_holdout_and_new_rows_judge(flipped_model):
    """Newcomer walk: a model cross-validated on small data (core.small_data) read "no held-out test
    rows saved ... Train it again with this version of Marketune", which would cross-validate it again.
    It says what it was scored on and what would give it test rows, and its new rows can still judge a
    challenger (core.versions.eval_rows); a model saved without test rows keeps the old advice."""
    from core.fewshot import CV_MIN_PER_CLASS, CV_MIN_ROWS

    metrics = json.loads((flipped_model / "metrics.json").read_text())
    n = CV_MIN_ROWS // 5  # small data: fewer rows than the rule keeps test rows for
    cv = {**metrics, "evaluation": "5-fold cross-validation", "cv": {"k": 5}, "split_sizes": {"train": n, "validation": 0, "test": n}}
    (flipped_model / "metrics.json").write_text(json.dumps(cv))
    at = open_versions()
    said = texts(at.info)
    assert f"scored by 5-fold cross-validation on its {n} labelled rows: too few to set test rows aside" in said
    assert f"at least {CV_MIN_ROWS:,} labelled rows, {CV_MIN_PER_CLASS} or more in each class" in said
    assert "Train it again with this version" not in said
    assert "this model has no fixed holdout: every row it was scored on also trained it" in texts(at.markdown)
    assert "models_versions_new" in [u.key for u in at.get("file_uploader")]  # the new rows' share judges a challenger

    (flipped_model / "test_predictions.csv").unlink()  # as an older version saved it: no rows to judge on
    (flipped_model / "metrics.json").write_text(json.dumps(metrics))
    at = open_versions()
    assert "Train it again with this version of Marketune" in texts(at.info)
    assert "by cross-validation" not in texts(at.markdown)  # the rule of a comparison that cannot run
    assert "models_versions_new" not in [u.key for u in at.get("file_uploader")]
