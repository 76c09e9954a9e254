"""The Label page: the bundled sample with unlabelled rows, and saying so when a new model
becomes the active one."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest

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


def test_a_tags_model_trained_here_says_its_caution_once_and_replaces_only_what_it_replaced(
    labels_dir, models_dir, monkeypatch  # noqa: F811
):
    """The Label page's training of a several-tags project: the saved model's Hamming-loss caution
    (ui.results.notice_markdown, the Train page's words) is said once, in the outcome, and beside
    the test micro-F1 in a later session; "in place of its previous version" only for a retrain."""
    import streamlit as st

    from tests.ui.test_page_verdict import save_cautioned_tags_model

    labels = ["joy", "anger|joy", "fear", "anger", "joy|fear", "anger"] * 6
    label_store("tags").create(pd.DataFrame({"text": [f"comment {i} about things" for i in range(36)],
                                             "label": labels}), ["text"], "label")
    said = {}

    def start_job(df, config, name, **kwargs):  # the job saves the model and, as the live leaderboard
        said["first"] = save_cautioned_tags_model(name)  # does, makes its first saved candidate active
        st.session_state["active_model"] = name
        said["job"] = f"job-{len(said)}"
        return said["job"]

    monkeypatch.setattr(core.jobs, "start_job", start_job)
    monkeypatch.setattr(core.jobs, "job_status", lambda job_id: JobStatus(
        id=job_id, state="done", model_name="label-tags", created=time.time()))
    at = open_label()
    at.selectbox(key="label_project").set_value("tags").run()
    for retrain in (False, True):
        at.button(key="label_train").click().run()
        assert not at.exception, at.exception
        page = [*at.warning, *at.markdown, *at.caption, *at.info, *at.success]
        assert " ".join(str(e.value) for e in page).count(said["first"]) == 1
        assert said["first"] in at.warning[0].value and "trained and saved" in at.warning[0].value
        notes = " ".join(i.value for i in at.info)
        assert ("in place of its previous version" in notes) == retrain, notes
        assert ("(there was none before)" in notes) != retrain, notes

    later = open_label()  # a later session: no job shown, the caution beside the score
    later.selectbox(key="label_project").set_value("tags").run()
    assert not later.exception, later.exception
    assert any(c.value.startswith("Test micro-F1") for c in later.caption)
    page = [*later.warning, *later.markdown, *later.caption, *later.info, *later.success]
    assert " ".join(str(e.value) for e in page).count(said["first"]) == 1
    assert any(said["first"] in w.value for w in later.warning)


def test_the_cold_start_box_shows_only_while_the_labels_are_too_few_for_training(labels_dir):  # noqa: F811
    """The zero-shot start is offered (as its one-line link, the project having labels) while the
    project has fewer labels than the page asks before it suggests training
    (core.label_rounds.TRAIN_AFTER_LABELS), not with 300 (a newcomer saw it there); the training
    nudge has no stray quote."""
    from core.label_rounds import TRAIN_AFTER_LABELS
    from ui.zeroshot import LABELLED_TITLE, TITLE

    texts = [f"review number {i}" for i in range(320)]
    label_store("few").create(pd.DataFrame({"text": texts, "label": ""}), ["text"], "label")
    label_store("many").create(pd.DataFrame({"text": texts, "label": ["yes", "no"] * 150 + [""] * 20}), ["text"], "label")
    store = label_store("few")
    store.set_labels({i: ("yes" if i % 2 else "no") for i in range(TRAIN_AFTER_LABELS - 1)})
    for project, shown in (("few", True), ("many", False)):
        frame = label_store(project).frame()
        labelled = int((frame["label"].astype(str).str.strip() != "").sum())  # counted here, by pandas
        assert (labelled < TRAIN_AFTER_LABELS) == shown
        at = open_label()
        at.selectbox(key="label_project").set_value(project).run()
        assert not at.exception, at.exception
        links = [b.label for b in at.button if b.key == "label_zs_link"]
        assert links == ([f"{LABELLED_TITLE}…"] if shown else []), links
        assert not any(e.label in (TITLE, LABELLED_TITLE) for e in at.expander), [e.label for e in at.expander]
    assert any("You have 300 labels" in i.value for i in at.info)
    assert not any("'" in i.value for i in at.info if "You have" in i.value)
    store.set_labels({TRAIN_AFTER_LABELS - 1: "yes"})  # one more label: training takes over
    at = open_label()
    at.selectbox(key="label_project").set_value("few").run()
    assert not any(e.label in (TITLE, LABELLED_TITLE) for e in at.expander)
    assert not any(b.key == "label_zs_link" for b in at.button)


def test_the_no_labels_yet_box_gives_way_to_a_one_line_link_once_labels_are_saved(labels_dir):  # noqa: F811
    """Walk (r11): "No labels yet?" stayed on the page, open, after labels were saved. With none it
    is the open box; once the project has labels, one line (a link) in its place, which opens the
    box again under a title that fits (the categories to type, the build button)."""
    from ui.zeroshot import LABELLED_TITLE, TITLE

    texts = [f"review number {i}" for i in range(40)]
    label_store("fresh").create(pd.DataFrame({"text": texts, "label": ""}), ["text"], "label")
    at = open_label()
    at.selectbox(key="label_project").set_value("fresh").run()
    assert not at.exception, at.exception
    box = [e for e in at.expander if e.label == TITLE]
    assert len(box) == 1 and box[0].proto.expanded and at.text_input(key="label_zs_labels")
    assert not any(b.key == "label_zs_link" for b in at.button)

    label_store("fresh").set_labels({0: "yes", 1: "no", 2: "yes"})  # labels saved (here, or in another tab)
    at.run()
    assert not at.exception, at.exception
    assert not any(e.label in (TITLE, LABELLED_TITLE) for e in at.expander), [e.label for e in at.expander]
    assert not any(t.key == "label_zs_labels" for t in at.text_input)
    assert [b.label for b in at.button if b.key == "label_zs_link"] == [f"{LABELLED_TITLE}…"]

    at.button(key="label_zs_link").click().run()  # the link opens the box, with what it needs
    assert not at.exception, at.exception
    opened = [e for e in at.expander if e.label == LABELLED_TITLE]
    assert len(opened) == 1 and opened[0].proto.expanded
    assert at.text_input(key="label_zs_labels").value == "no, yes"  # the project's labels so far
    assert at.button(key="label_zs_build")


def _cold_start_project(models_dir, folder, flip_trained: bool):
    """A project whose model so far is its zero-shot model (a copy of the tiny model stands in for
    it) and a newly trained label-demo whose test predictions are written here: the truth is the
    zero-shot model's own prediction on each text (so it scores 1.0), the trained model's the
    opposite (0.0) when ``flip_trained``; else the truth is the opposite and the trained model right."""
    from core import load_folder

    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, models_dir / "label-demo-zeroshot")
    shutil.copytree(folder, models_dir / "label-demo")
    texts = [f"{w} product, {v} service" for w in ("great", "awful", "fine", "broken", "lovely") for v in ("kind", "rude")]
    said = [str(p) for p in load_folder(models_dir / "label-demo-zeroshot").predict(texts)]
    other = {"negative": "positive", "positive": "negative"}
    opposite = [other[p] for p in said]
    truth, predicted = (said, opposite) if flip_trained else (opposite, opposite)
    pd.DataFrame({"row": range(len(texts)), "text": texts, "true_label": truth, "predicted_label": predicted}).to_csv(
        models_dir / "label-demo" / "test_predictions.csv", index=False)
    label_store("demo").create(pd.DataFrame({"text": texts, "label": truth}), ["text"], "label")


def _finish_job(monkeypatch) -> object:
    done = JobStatus(id="job-zs", state="done", model_name="label-demo", created=time.time())
    monkeypatch.setattr(core.jobs, "job_status", lambda job_id: done)
    at = open_label()
    at.session_state["active_model"] = "label-demo-zeroshot"
    at.selectbox(key="label_project").set_value("demo").run()
    at.session_state["label_job_id"] = "job-zs"  # this session's job has just finished
    at.session_state["label_job_before"] = ("job-zs", "label-demo-zeroshot", False)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_trained_model_below_the_zero_shot_one_leaves_it_active_and_both_scores_are_said(
    labels_dir, models_dir, trained_tiny, monkeypatch  # noqa: F811
):
    """Issue 30's walk: the trained model replaced the zero-shot one without a comparison."""
    _cold_start_project(models_dir, trained_tiny[1], flip_trained=True)
    at = _finish_job(monkeypatch)
    assert at.session_state["active_model"] == "label-demo-zeroshot"
    notes = " ".join(i.value for i in at.info)
    assert "Kept in use: **label-demo-zeroshot**" in notes, notes
    assert "0.00 vs 1.00 macro-F1 on the same 10 labelled rows" in notes and "least sure" in notes
    assert "is now the active model" not in notes
    # walk-u: the job's outcome above said "it is now the active model" beside "Kept in use: zero-shot".
    outcome = " ".join(e.value for e in [*at.success, *at.warning] if "is trained and saved" in e.value)
    assert outcome and "it is now the active model" not in outcome and "was **not** made the active model" in outcome
    # The zero-shot model goes on picking the rows.
    assert any(m.value.startswith("**label-demo-zeroshot**") for m in at.markdown)


def test_a_trained_model_above_the_zero_shot_one_takes_its_place(
    labels_dir, models_dir, trained_tiny, monkeypatch  # noqa: F811
):
    _cold_start_project(models_dir, trained_tiny[1], flip_trained=False)
    at = _finish_job(monkeypatch)
    assert at.session_state["active_model"] == "label-demo"
    notes = " ".join(i.value for i in at.info)
    assert "Kept in use: **label-demo**" in notes and "1.00 vs 0.00 macro-F1" in notes, notes
    assert "The new model **label-demo** is now the active model instead of **label-demo-zeroshot**" in notes


def test_the_comparison_on_the_page_uses_the_random_checks_when_there_are_enough(
    labels_dir, models_dir, trained_tiny, monkeypatch  # noqa: F811
):
    """Round 8: the 10 labelled rows were random checks (saved with their labels) and the training
    recorded which rows it read, so the page compares on them alone and says it is fair to both."""
    from core.label_rounds import RANDOM_FLOOR, rows_to_train

    _cold_start_project(models_dir, trained_tiny[1], flip_trained=True)
    store = label_store("demo")
    store.set_labels({r: "" for r in store.labeled().index})  # labelled again below, each as a random check
    truth = pd.read_csv(models_dir / "label-demo" / "test_predictions.csv")["true_label"]
    store.set_labels(dict(enumerate(truth)), reasons={i: "random check" for i in range(len(truth))})
    assert len(truth) == RANDOM_FLOOR and set(label_store("demo").reasons()) == {"random check"}
    rows_to_train(store, "label-demo")
    at = _finish_job(monkeypatch)
    assert at.session_state["active_model"] == "label-demo-zeroshot"
    notes = " ".join(i.value for i in at.info)
    assert "0.00 vs 1.00 macro-F1 on the same 10 labelled rows picked at random" in notes, notes
    assert "fair to both models" in notes and "needed to compare on random rows alone" not in notes


def _ranked_project(models_dir, folder) -> None:
    """Project "demo" (24 labelled rows, 30 to label) ranked by a copy of the tiny model as its own model."""
    from tests.ui.test_page_label import mixed_frame

    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, models_dir / "label-demo")
    label_store("demo").create(mixed_frame(), ["text"], "label")


def test_the_open_project_and_rows_per_round_survive_a_page_change(
    labels_dir, models_dir, trained_tiny  # noqa: F811
):
    """Walk: back from another page, the Label page opened on "New project…" with 20 rows per round."""
    _ranked_project(models_dir, trained_tiny[1])
    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    at.number_input(key="label_n").set_value(10).run()
    assert len(at.data_editor(key="label_editor").value) == 10
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/label.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="label_project").value == "demo"
    assert at.number_input(key="label_n").value == 10
    assert len(at.data_editor(key="label_editor").value) == 10
    # A choice made after coming back is the one kept next time.
    at.selectbox(key="label_project").set_value("New project…").run()
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/label.py").run()
    assert at.selectbox(key="label_project").value == "New project…"


def ticked_notes(at) -> list[str]:
    return [w.value for w in at.warning if 'ticked "accept"' in w.value]


def test_accept_on_a_random_check_with_no_suggestion_says_why_it_is_not_saved(
    labels_dir, models_dir, trained_tiny  # noqa: F811
):
    """Walk: "accept" ticked on random checks (empty labels: nothing suggested) saved nothing and said
    nothing. They stay unsaved (their label is the person's own choice, issue 30), and the page says so,
    before the click and after it; the accepted least-sure row is saved."""
    _ranked_project(models_dir, trained_tiny[1])
    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    view = at.data_editor(key="label_editor").value
    checks = [i for i in range(len(view)) if view["why suggested"].iloc[i] == "random check"][:2]
    least = next(i for i in range(len(view)) if view["why suggested"].iloc[i] == "least sure")
    assert (view["label"].iloc[checks] == "").all() and view["label"].iloc[least] == view["model says"].iloc[least]
    at.session_state["label_editor"] = {"edited_rows": {i: {"accept": True} for i in [*checks, least]},
                                        "added_rows": [], "deleted_rows": []}
    at.run()
    said = ('2 rows ticked "accept" have no suggested label to accept (the random checks start empty) and are not '
            'saved: pick their label in the "label" column.')
    assert ticked_notes(at) == [said]
    assert "1 row picked, not saved yet." in [c.value for c in at.caption]
    at.button(key="label_save").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Saved 1 label."]
    assert ticked_notes(at) == [said]  # said again under the saved count, once
    store = label_store("demo")
    assert store.frame().loc[int(view["row"].iloc[least]), "label"] == view["model says"].iloc[least]
    assert {int(view["row"].iloc[i]) for i in checks} <= set(store.unlabeled().index)
    # One such row: in the singular.
    view = at.data_editor(key="label_editor").value
    check = next(i for i in range(len(view)) if view["why suggested"].iloc[i] == "random check")
    at.session_state["label_editor"] = {"edited_rows": {check: {"accept": True}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert ticked_notes(at) == [
        '1 row ticked "accept" has no suggested label to accept (the random checks start empty) and is not saved: '
        'pick its label in the "label" column.']


@pytest.mark.parametrize("said_before", [False, True])
def test_the_last_rounds_grid_is_taken_off_the_page_while_a_new_round_is_scored(
    labels_dir, models_dir, trained_tiny, monkeypatch, said_before  # noqa: F811
):
    """Walk: while a round was scored (10-20 s) the last round's grid stayed on screen, greyed out, and
    still took clicks and edits. Every message the browser gets is recorded (Streamlit's own hook); when
    the scoring starts, one must already have replaced the grid's place with something that is not an
    editor. On a rerun that scores nothing the grid keeps its place, so an edit does not redraw it."""
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    import ui.label

    sent: list = []

    def record(msg) -> None:
        if msg.HasField("delta") and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            kind = element.WhichOneof("type")
            editor = kind == "dataframe" and "label_editor" in element.dataframe.id
            sent.append((tuple(msg.metadata.delta_path), "editor" if editor else kind))

    scoring, mark = ui.label.ranked_rows, ((), "scoring starts")
    monkeypatch.setattr(ui.label, "ranked_rows", lambda *a, **k: sent.append(mark) or scoring(*a, **k))
    monkeypatch.setattr(ForwardMsgQueue, "_before_enqueue_msg", staticmethod(record))
    _ranked_project(models_dir, trained_tiny[1])
    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    sent.clear()
    if said_before:  # walk-v: the grid drawn under "Saved N labels", then the next run without it
        at.session_state["label_flash"] = "Saved 1 label."
    at.run()  # the round just scored is listed above now ("Gain per round"): the page as it stays
    assert mark not in sent
    grid = next(path for path, kind in sent if kind == "editor")

    sent.clear()
    at.number_input(key="label_n").set_value(10).run()  # a new round: scored again
    assert not at.exception, at.exception
    before = sent[:sent.index(mark)]
    assert any(grid[:len(path)] == path and kind != "editor" for path, kind in before), before
    assert len(at.data_editor(key="label_editor").value) == 10
    assert [path for path, kind in sent[sent.index(mark):] if kind == "editor"] == [grid]

    sent.clear()
    at.session_state["label_editor"] = {"edited_rows": {0: {"label": "positive"}}, "added_rows": [], "deleted_rows": []}
    at.run()  # an edit: nothing to score, the grid stays where it is
    assert mark not in sent
    assert not any(grid[:len(path)] == path for path, kind in sent if path != grid), sent
    assert [path for path, kind in sent if kind == "editor"] == [grid]


def test_a_one_row_upload_is_counted_in_the_singular(labels_dir):  # noqa: F811
    """Walk: "1 rows: 0 labelled, 1 to label." (core.words.rows_words, one plural rule for rows)."""
    at = open_label()
    data = b"review\nlovely colour\n"
    at.file_uploader(key="label_upload").set_value(("one.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    assert "1 row: 0 labelled, 1 to label." in [c.value for c in at.caption]


def _project_training(model_name: str, state: str, events: list[dict]) -> str:
    """A training job of ``model_name`` that reads ``state`` ("queued" or "running": no pid file, a
    worker just started) with ``events`` so far; returns its id."""
    from core import jobs

    job_id = time.strftime("%Y%m%d-%H%M%S-") + "a1b2c3"
    folder = jobs.jobs_root() / job_id
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("text,label\na,b\n")
    (folder / "request.json").write_text(json.dumps({"kind": "train", "model_name": model_name, "lane": "short",
                                                     "estimate_s": 60, "created": time.time() - 30, "config": {}}))
    jobs.write_state(folder, state, message="Working")
    (folder / "events.jsonl").write_text("".join(json.dumps({**e, "time": time.time()}) + "\n" for e in events))
    return job_id


@pytest.mark.parametrize("state", ["queued", "running"])
def test_while_the_project_trains_the_page_says_so_instead_of_asking_for_training(labels_dir, state):  # noqa: F811
    """Walk (r11): with a retrain of the project's model queued or running, the page still said "You
    have 29 labels: press **Train on the labelled rows**", showed "Rows to label" twice and an empty
    chart (a cross-validated TF-IDF candidate reports no loss). Now: it says the model is queued or
    training and that the rows follow when it ends, each heading once, and words in the chart's
    place until a step reports a loss, then the chart."""
    from core import jobs
    from ui.train_job import NO_CURVE_YET

    texts = [f"review number {i}" for i in range(60)]
    label_store("demo").create(pd.DataFrame({"text": texts, "label": ["yes", "no"] * 15 + [""] * 30}), ["text"], "label")
    label_store("demo").set_labels({29: ""})  # 29 labels, as in the walk
    board = [{"kind": "tfidf", "title": "TF-IDF + logistic regression", "status": "running"},
             {"kind": "fewshot", "title": "Few-shot", "status": "waiting"}]
    events = [] if state == "queued" else [
        {"phase": "candidates", "step": 0, "total_steps": 0, "fraction": 0.05, "message": "Comparing", "leaderboard": board},
        {"phase": "train", "step": 0, "total_steps": 0, "fraction": 0.05, "message": "TF-IDF: fold 1 of 5",
         "metrics": {"fold": "fold 1 of 5"}},  # core.small_data.FoldEvents.start: a fit begins, no loss
    ]
    job_id = _project_training("label-demo", state, events)
    at = open_label()
    at.selectbox(key="label_project").set_value("demo").run()
    assert not at.exception, at.exception
    infos = [i.value for i in at.info]
    assert not any("press **Train on the labelled rows**" in i for i in infos), infos
    said = f"**label-demo** {'is queued' if state == 'queued' else 'is training'} on the labelled rows"
    assert sum(said in i and "shown here when it finishes" in i for i in infos) == 1, infos
    assert [s.value for s in at.subheader].count("Rows to label") == 1
    assert [s.value for s in at.subheader].count("Model") == 1
    assert not at.data_editor  # no rows to label while it trains
    charts = at.get("plotly_chart")
    captions = [c.value for c in at.caption]
    if state == "queued":  # nothing trains yet: no chart, no words about one
        assert not charts and NO_CURVE_YET not in captions
        return
    assert not charts and NO_CURVE_YET in captions
    # The first step with a loss: the chart, and the words make way for it.
    with open(jobs.jobs_root() / job_id / "events.jsonl", "a") as handle:
        handle.write(json.dumps({"phase": "train", "step": 5, "total_steps": 40, "fraction": 0.2, "loss": 0.69,
                                 "message": "Few-shot: fold 1 of 5", "metrics": {"fold": "fold 1 of 5"},
                                 "time": time.time()}) + "\n")
    at.run()
    assert not at.exception, at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [point for trace in figure["data"] for point in trace.get("y", [])] == [0.69]
    assert NO_CURVE_YET not in [c.value for c in at.caption]


def test_more_rows_per_round_on_the_page_keep_the_rows_shown_with_their_reasons(labels_dir, models_dir):  # noqa: F811
    """Walk (r11), through the page: raising "Rows per round" from 10 to 30 changed the random checks
    already shown. The project's own model (a TF-IDF stand-in for its zero-shot model, fitted here on
    the labelled rows) ranks; the 10 rows first shown are the first 10 of the 30, same reasons."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from core.models.tfidf import TfidfClassifier
    from core.prepare import _schema

    words = ["good", "bad", "fine", "awful", "great", "poor", "lovely", "broken"]
    texts = [f"{words[i % 8]} {words[(i * 3) % 8]} dress, size {i}" for i in range(200)]
    labels = ["yes" if i % 8 in (0, 2, 4, 6) else "no" for i in range(20)] + [""] * 180
    label_store("dresses").create(pd.DataFrame({"text": texts, "label": labels}), ["text"], "label")
    fitted = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts[:20], labels[:20])
    TfidfClassifier.from_pipeline(fitted, task="classification", classes=["no", "yes"],
                                  schema=_schema(["text"], [], "label")).save(models_dir / "label-dresses-zeroshot")
    at = open_label()
    at.selectbox(key="label_project").set_value("dresses").run()
    at.number_input(key="label_n").set_value(10).run()
    assert not at.exception, at.exception
    small = at.data_editor(key="label_editor").value
    at.number_input(key="label_n").set_value(30).run()
    assert not at.exception, at.exception
    large = at.data_editor(key="label_editor").value
    assert len(small) == 10 and len(large) == 30
    assert large["row"].head(10).tolist() == small["row"].tolist()
    assert large["why suggested"].head(10).tolist() == small["why suggested"].tolist()
    assert (small["why suggested"] == "random check").sum() == 5 and (large["why suggested"] == "random check").sum() == 15
