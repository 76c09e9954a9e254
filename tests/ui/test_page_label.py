"""The Label page in AppTest: create a project, rank, label in the editor, save, retrain; an
interrupted training found after a server restart, with Resume.

The retrain runs a real background job (core.jobs worker process) on the tiny test BERT;
MARKETUNE_MODELS_DIR / JOBS_DIR / LABELS_DIR point into tmp_path, so nothing touches the repo.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import cancel_job, list_jobs
from core.labeling import label_store
from tests.conftest import make_sentiment_frame
from tests.ui.test_page_targeting import interrupted_job
from ui.label import RANDOM_CHECK_NOTE, preselected_labels

ROOT = Path(__file__).resolve().parents[2]
JOB_TIME_LIMIT = 300  # seconds; a tiny few-shot job takes ~20-60 s, most of it importing torch


@pytest.fixture
def labels_dir(models_dir, tmp_path, monkeypatch):
    folder = tmp_path / "labels"
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(folder))
    yield folder
    for job in list_jobs():  # never leave a worker running after a failed test
        if job.active:
            cancel_job(job.id)


def open_label() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/label.py").run()
    assert not at.exception, at.exception
    return at


def poll(at: AppTest, done, limit: float = JOB_TIME_LIMIT) -> AppTest:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(1.0)
    raise AssertionError(f"gave up after {limit} s; progress: {[p.proto.text for p in at.get('progress')]}")


def mixed_frame() -> pd.DataFrame:
    """24 labelled rows (12 per class) and 30 unlabelled ones."""
    labelled = make_sentiment_frame(24)[["text", "label"]]
    unlabelled = make_sentiment_frame(30, seed=7)[["text"]].assign(label="")
    return pd.concat([labelled, unlabelled], ignore_index=True)


def test_create_a_project_from_an_upload(labels_dir):
    at = open_label()
    csv = mixed_frame().to_csv(index=False).encode()
    at.file_uploader(key="label_upload").set_value(("mixed.csv", csv, "text/csv")).run()
    # Without a name the button is disabled and the page says why (issue 28: greyed out, no reason).
    assert at.button(key="label_create").disabled
    assert "Name the project above to create it." in [c.value for c in at.caption]
    at.text_input(key="label_new_name").set_value("spring").run()
    assert not at.exception, at.exception
    assert not at.button(key="label_create").disabled
    assert at.selectbox(key="label_text_col").value == "text"
    assert at.selectbox(key="label_label_col").value == "label"
    assert "24 labelled, 30 to label" in " ".join(c.value for c in at.caption)
    at.button(key="label_create").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="label_project").value == "spring"
    assert [m.value for m in at.metric][:2] == ["24", "30"]
    assert label_store("spring").counts()["labeled"] == 24  # on disk, not only in the session
    assert at.get("download_button")  # the labelled set can be downloaded at once
    assert "Train a model" in " ".join(i.value for i in at.info)


def test_a_one_column_upload_under_a_title_is_read_from_its_header_and_the_page_says_so(labels_dir):
    """A first line "Export from Shop X, 2026-11-01", a blank line, then the header 'review': read from
    line 3 (core.reading.header_below_title, as the other pages' uploads), and the page names the lines skipped."""
    at = open_label()
    rows = ["great fit", '"small, but nice"', "too long", "lovely colour"]
    data = ("\n".join(["Export from Shop X, 2026-11-01", "", "review", *rows]) + "\n").encode()
    at.file_uploader(key="label_upload").set_value(("export.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="label_text_col").options == ["review"]
    assert at.selectbox(key="label_label_col").value == "(add a 'label' column)"
    captions = " ".join(c.value for c in at.caption)
    assert ("header read from line 3; the 2 line(s) above it (a title block: 'Export from Shop X, 2026-11-01', "
            "1 blank) skipped (the 'Header row' box chooses another)") in captions, captions
    assert "4 rows: 0 labelled, 4 to label." in captions
    assert at.number_input(key="label_upload_header_row").value == 3


def test_an_upload_with_a_few_tag_rows_counts_per_tag_from_the_start(labels_dir):
    """Three pre-labelled rows with tags joined by "|" (too few for detection to see tags recur): the
    new project's counts are per tag on the first page run, before any tag is saved on the page."""
    at = open_label()
    labels = ["food|price", "food", "service", "", "", ""]
    frame = pd.DataFrame({"text": [f"review number {i}" for i in range(6)], "label": labels})
    at.file_uploader(key="label_upload").set_value(("tags.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    at.text_input(key="label_new_name").set_value("menu").run()
    at.button(key="label_create").click().run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    truth = frame["label"][frame["label"] != ""].str.split("|").explode().value_counts()  # pandas' rows per tag
    counts = next(c for c in captions if c.startswith("Rows carrying each tag so far"))
    assert counts.endswith(": " + ", ".join(f"{t} {truth[t]}" for t in sorted(truth.index))), counts
    assert "food 2" in counts and "food|price" not in " ".join(captions)


def test_label_save_and_retrain_loop(labels_dir, models_dir, tiny_model_dir):
    from core import TrainConfig
    from core.evaluation import TIE_MARGIN
    from core.fewshot import train_fewshot

    store = label_store("demo").create(mixed_frame(), ["text"], "label")
    # The project's model from an earlier round (tiny BERT, few-shot), so ranking shows at once.
    labelled = store.labeled().reset_index(drop=True)
    config = TrainConfig(base_model=str(tiny_model_dir), max_length=32, learning_rate=1e-2, method="fewshot")
    train_fewshot(labelled, config, steps=10).save(models_dir / "label-demo")

    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    assert not at.exception, at.exception
    editor = at.data_editor(key="label_editor")
    view = editor.value
    assert len(view) == 20 and list(view.columns) == ["row", "text", "why suggested", "model says", "sure", "accept",
                                                      "label"]
    assert set(view["row"]) <= set(store.unlabeled().index)
    # Half the rows are random checks (core.label_rounds.RANDOM_SHARE), said once under the table.
    assert view["why suggested"].value_counts().to_dict() == {"least sure": 10, "random check": 10}
    assert sum("10 of these 20 rows were picked at random" in c.value and "fair to both models" in c.value
               for c in at.caption) == 1
    assert view["sure"].is_monotonic_increasing or view["sure"].iloc[0] <= view["sure"].max()
    # Each least-sure row's label is preselected with the model's suggestion; a random check starts
    # empty, so saving it takes a choice either way (issue 30: preselected, only the corrected ones
    # were saved, which kept the rows the model got wrong). Said once under the table.
    least = (view["why suggested"] == "least sure").to_numpy()
    assert view["label"][least].tolist() == view["model says"][least].tolist() and not view["accept"].any()
    assert (view["label"][~least] == "").all()
    assert sum(RANDOM_CHECK_NOTE in c.value for c in at.caption) == 1
    assert "picked at random to score the models fairly" in RANDOM_CHECK_NOTE and "choose the label yourself" in RANDOM_CHECK_NOTE
    # Correct the first three, accept a least-sure row as it is, tick "accept" on an empty random
    # check (nothing to save), leave the others alone (an untouched suggestion is not a label), save.
    a = next(i for i in range(3, len(view)) if least[i])
    empty_check = next(i for i in range(3, len(view)) if not least[i])
    rows, accepted = view["row"].tolist()[:3], int(view["row"].iloc[a])
    untouched = [r for i, r in enumerate(view["row"]) if i not in (0, 1, 2, a)]
    at.session_state["label_editor"] = {
        "edited_rows": {0: {"label": "positive"}, 1: {"label": "negative"}, 2: {"label": "positive"}, a: {"accept": True},
                        empty_check: {"accept": True}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()  # the edits reach the server before the click: the page says what Save will save
    assert "4 rows picked, not saved yet." in [c.value for c in at.caption]  # 3 corrected, 1 accepted
    at.button(key="label_save").click().run()
    assert not at.exception, at.exception
    assert "Saved 4 labels." in " ".join(s.value for s in at.success)
    fresh = label_store("demo")  # a new session reads the labels from disk
    assert fresh.labeled().loc[rows, "label"].tolist() == ["positive", "negative", "positive"]
    assert fresh.frame().loc[accepted, "label"] == view["model says"].iloc[a]
    assert set(untouched) <= set(fresh.unlabeled().index)
    # Each saved label keeps why its row was suggested, read back from disk.
    reasons = fresh.reasons()
    assert [reasons[r] for r in [*rows, accepted]] == [view["why suggested"].iloc[i] for i in (0, 1, 2, a)]
    assert not {*rows, accepted} & set(at.data_editor(key="label_editor").value["row"])  # labelled rows left the list

    # One click: save one more label and retrain on the tiny base model.
    at.selectbox(key="label_base_select").set_value("other").run()
    at.text_input(key="label_base_custom").set_value(str(tiny_model_dir)).run()
    next_row = at.data_editor(key="label_editor").value["row"].iloc[0]
    at.session_state["label_editor"] = {"edited_rows": {0: {"label": "negative"}}, "added_rows": [], "deleted_rows": []}
    at.button(key="label_retrain").click().run()
    assert not at.exception, at.exception
    assert label_store("demo").frame().loc[next_row, "label"] == "negative"
    assert label_store("demo").meta["rounds"] == 1
    # A success, or a warning when the tiny model's verdict has a notice (said in the outcome since).
    poll(at, lambda at: any("trained and saved" in s.value for s in [*at.success, *at.warning]))
    poll(at, lambda at: bool(at.data_editor))  # the new model ranks the rows left
    summary = " ".join(m.value for m in at.markdown)
    # 29 labels: few-shot and TF-IDF, each cross-validated on every labelled row; the rule keeps
    # few-shot only when it is more than TIE_MARGIN ahead (the tiny random BERT rarely is).
    metrics = json.loads((models_dir / "label-demo" / "metrics.json").read_text())
    scores = metrics["validation"]
    expected = "fewshot" if scores["fewshot"] - scores["tfidf"] > TIE_MARGIN else "tfidf"
    assert metrics["saved_kind"] == expected and metrics["evaluation"].endswith("-fold cross-validation")
    title = "few-shot model · base model" if expected == "fewshot" else "TF-IDF + logistic regression · no base model"
    assert f"**label-demo** · {title}" in summary
    captions = " ".join(c.value for c in at.caption)
    assert "smallest class" in captions or expected == "tfidf"  # why few-shot ran (shown with a few-shot model)
    assert "on the 29 out-of-fold rows" in captions  # why this model was kept, on every labelled row
    assert at.session_state["active_model"] == "label-demo"
    assert len(at.data_editor(key="label_editor").value) == 20


def test_an_interrupted_training_is_found_by_its_model_name_and_resume_resumes_it(labels_dir, monkeypatch):
    """A fresh session (the server restarted): the project's latest job, found by the model name
    the page trains, was interrupted; the page says so, that no label was lost, and Resume calls
    core.jobs.resume_job with its id. A refusal is an error on the page, never a traceback."""
    import core.jobs

    label_store("spring").create(mixed_frame(), ["text"], "label")
    interrupted_job("20000101-000000-older1", "label-spring", kind="train")  # superseded by the next one
    job_id = "20000101-000001-killed"
    interrupted_job(job_id, "label-spring", kind="train")
    interrupted_job("20000101-000002-autumn", "label-autumn", kind="train")  # another project's
    at = open_label()
    at.selectbox(key="label_project").set_value("spring").run()
    assert not at.exception, at.exception
    assert at.session_state["label_job_id"] == job_id
    warning = " ".join(w.value for w in at.warning)
    assert "**label-spring** was interrupted" in warning and "server restart or crash" in warning
    assert "No label was lost" in warning and "**Resume** trains again from the beginning" in warning

    calls = []
    monkeypatch.setattr(core.jobs, "resume_job", lambda resumed, root=None: calls.append(resumed) or resumed)
    at.button(key="label_resume").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert calls == [job_id] and at.session_state["label_job_id"] == job_id

    refusal = "Job 20000101-000001-killed is being resumed already."

    def refuse(resumed, root=None):
        raise ValueError(refusal)

    monkeypatch.setattr(core.jobs, "resume_job", refuse)
    at.button(key="label_resume").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [refusal]
    assert label_store("spring").counts()["labeled"] == 24  # the labels are where they were


def test_random_checks_start_empty_and_least_sure_rows_start_with_the_suggestion():
    """Issue 30: the editor's label column (ui.label.preselected_labels), row by row."""
    ranked = pd.DataFrame({"predicted_label": ["positive", "negative", "positive", "negative"],
                           "reason": ["least sure", "random check", "random check", "least sure"]}, index=[7, 3, 9, 1])
    assert preselected_labels(ranked).to_dict() == {7: "positive", 3: "", 9: "", 1: "negative"}


def test_save_and_retrain_that_cannot_start_still_counts_the_labels_it_saved(labels_dir, models_dir, tiny_model_dir,
                                                                             monkeypatch):
    """Walk: "Saved 4 label(s), but training cannot start" under tiles still showing the counts from
    before the save. The counts follow the labels on disk (LabelStore, read afresh)."""
    import ui.label
    from core import TrainConfig
    from core.fewshot import train_fewshot

    store = label_store("demo").create(mixed_frame(), ["text"], "label")
    config = TrainConfig(base_model=str(tiny_model_dir), max_length=32, learning_rate=1e-2, method="fewshot")
    train_fewshot(store.labeled().reset_index(drop=True), config, steps=2).save(models_dir / "label-demo")

    def refused(store, base_model):  # what refuses it is not the point here: a reason worded for people
        raise ValueError("Expected at least 2 labels per class; found 1.")

    monkeypatch.setattr(ui.label, "start_training", refused)
    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    before = next(m.value for m in at.metric if m.label == "Labelled")
    at.session_state["label_editor"] = {"edited_rows": {i: {"label": "positive"} for i in range(4)}, "added_rows": [],
                                        "deleted_rows": []}
    at.run()
    at.button(key="label_retrain").click().run()
    assert not at.exception, at.exception
    assert any("Saved 4 labels, but training cannot start: Expected at least 2" in e.value for e in at.error)
    on_disk = label_store("demo").counts()["labeled"]
    assert on_disk == int(before.replace(",", "")) + 4
    assert next(m.value for m in at.metric if m.label == "Labelled") == f"{on_disk:,}"


def test_a_file_without_a_label_column_starts_a_new_empty_one(labels_dir):
    """Newcomer's walk: a file of review texts and their `source` (amazon, imdb, yelp on every row)
    opened with `source` as the label column: "2,000 labelled, 0 to label", before any label was
    given. Truth: the bundled sentiment sample read as it ships, its `label` column dropped: no row
    of it carries a label."""
    sample = pd.read_csv(ROOT / "sample_data" / "sentiment_reviews_en.csv").head(2000)
    unlabelled = sample.drop(columns=["label"])
    assert list(unlabelled.columns) == ["text", "source"] and unlabelled["source"].notna().all()
    at = open_label()
    at.file_uploader(key="label_upload").set_value(("reviews.csv", unlabelled.to_csv(index=False).encode(),
                                                    "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="label_text_col").value == "text"
    assert at.selectbox(key="label_label_col").value == "(add a 'label' column)"
    assert "2,000 rows: 0 labelled, 2,000 to label." in [c.value for c in at.caption]
    # The same rows with their labels half given: that column is the label column, and it counts them.
    half = sample.assign(label=sample["label"].where(sample.index % 2 == 0, ""))
    at = open_label()
    at.file_uploader(key="label_upload").set_value(("half.csv", half.to_csv(index=False).encode(), "text/csv")).run()
    assert at.selectbox(key="label_label_col").value == "label"
    assert "2,000 rows: 1,000 labelled, 1,000 to label." in [c.value for c in at.caption]
