"""The Label page: the bundled sample with unlabelled rows, and saying so when a new model
becomes the active one."""

from __future__ import annotations

import shutil
import time

import pandas as pd

import core.jobs
from core.jobs import JobStatus
from core.labeling import label_store
from tests.ui.test_page_label import labels_dir, open_label  # noqa: F401 - labels_dir is a fixture

SAMPLE_SOURCE = "Sample: clothing reviews, 570 of 600 unlabelled"


def test_the_unlabelled_sample_is_offered_and_makes_a_project(labels_dir):  # noqa: F811
    at = open_label()
    assert SAMPLE_SOURCE in at.radio(key="label_source").options
    at.text_input(key="label_new_name").set_value("clothes").run()
    at.radio(key="label_source").set_value(SAMPLE_SOURCE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="label_text_col").value == "review"
    assert at.selectbox(key="label_label_col").value == "recommended"
    assert "600 rows: 30 labelled, 570 to label." in [c.value for c in at.caption]
    at.button(key="label_create").click().run()
    assert not at.exception, at.exception
    counts = label_store("clothes").counts()
    assert counts["labeled"] == 30 and counts["unlabeled"] == 570


def test_sample_file_matches_its_readme():
    frame = pd.read_csv("sample_data/label_reviews_unlabelled.csv", keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["source_row", "department", "review", "recommended"]
    assert frame["recommended"].value_counts().to_dict() == {"yes": 15, "no": 15}
    assert frame["review"].notna().all() and len(frame) == 600


def test_a_new_model_from_the_label_page_says_it_replaced_the_active_one(
    labels_dir, models_dir, trained_tiny, monkeypatch  # noqa: F811
):
    _, folder = trained_tiny
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, models_dir / "spring-campaign")
    shutil.copytree(folder, models_dir / "label-demo")
    label_store("demo").create(
        pd.DataFrame({"text": ["good", "bad", "fine", "awful", "meh"], "label": ["pos", "neg", "pos", "neg", ""]}),
        ["text"],
        "label",
    )
    done = JobStatus(id="job-1", state="done", model_name="label-demo", created=time.time())
    monkeypatch.setattr(core.jobs, "job_status", lambda job_id: done)

    at = open_label()
    at.session_state["active_model"] = "spring-campaign"
    at.selectbox(key="label_project").set_value("demo").run()
    at.session_state["label_job_id"] = "job-1"  # this session's job has just finished
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["active_model"] == "label-demo"
    notes = [i.value for i in at.info]
    assert any(
        "The new model **label-demo** is now the active model instead of **spring-campaign**" in n for n in notes
    ), notes


def test_a_multi_tag_project_counts_rows_per_tag_not_per_combination(labels_dir):  # noqa: F811
    # GoEmotions-like labels joined by "|": "anger|joy" is two tags on one row, not a class.
    labels = ["anger", "anger|disgust", "anger|joy", "joy", "joy", "disgust|anger|joy", "neutral", "anger", "", ""]
    frame = pd.DataFrame({"text": [f"comment number {i}" for i in range(len(labels))], "label": labels})
    label_store("emotions").create(frame, ["text"], "label")
    at = open_label()
    at.selectbox(key="label_project").set_value("emotions").run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    counts = next(c for c in captions if c.startswith("Rows carrying each tag so far"))
    # Truth: pandas counts the rows carrying each tag.
    truth = frame["label"][frame["label"] != ""].str.split("|").explode().value_counts()
    assert counts.endswith(": " + ", ".join(f"{t} {truth[t]}" for t in sorted(truth.index)))
    assert "anger 5" in counts and "|" not in counts and not any(c.startswith("Labels so far") for c in captions)
