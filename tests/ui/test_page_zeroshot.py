"""A zero-shot model through the pages: built from category names by a background job (kind
"zeroshot") on the Train page (ui/zeroshot.py), then opened by Models (which says it was never
trained on labels), Predict and Ad Copy Lab; the Label page's cold start, its preselected
suggestions and the gain per round (ui/label_rounds.py).

The tiny random BERT stands in for the base model (ui.zeroshot.choose_base_model is replaced),
so the truths are what was saved and what the pages show, not accuracy (bench/bench_zeroshot.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.models import load_folder
from core.models.zeroshot import NEVER_TRAINED, SCORES_UNCHECKED
from core.zeroshot import Options, build_zeroshot
from tests.conftest import make_sentiment_frame
from tests.ui.test_page_train import open_train, upload

ROOT = Path(__file__).resolve().parents[2]
TEXTS = make_sentiment_frame(60, classes=3)["text"].tolist()


@pytest.fixture
def tiny_base(monkeypatch, tiny_model_dir):
    import core.jobs
    import ui.zeroshot

    monkeypatch.setattr(ui.zeroshot, "choose_base_model", lambda texts, labels, chosen="auto": (str(tiny_model_dir), ""))
    monkeypatch.setattr(core.jobs, "_launch_worker", lambda folder: None)  # the tests run the worker themselves


def run_the_job(at: AppTest, key: str) -> None:
    """The queued zero-shot job the page follows: progress and Cancel shown, then run to its end."""
    import core.jobs as jobs
    import core.worker as worker

    job_id = at.session_state[key]
    assert jobs.job_status(job_id).kind == "zeroshot" and at.button(key="zs_cancel")
    assert at.get("progress") and any("built in the background" in c.value for c in at.caption)  # ui/jobs.py's panel
    assert worker.run(jobs.jobs_root() / job_id) == 0
    at.run()


def test_train_page_builds_a_zero_shot_model_from_a_file_without_labels(models_dir, tiny_base):
    at = open_train()
    upload(at, pd.DataFrame({"review": TEXTS}))  # one column: training refuses it, zero-shot is for it
    assert at.selectbox(key="zeroshot_text_col").value == "review"
    # Said as the way on, not as a red error right above it (round-7 walk).
    assert not at.error, [e.value for e in at.error]
    assert any("no labels" in i.value and "Start from your category names** below" in i.value for i in at.info)
    at.text_input(key="zeroshot_labels").set_value("great").run()
    assert any("at least 2 category names" in e.value for e in at.error)
    assert at.button(key="zeroshot_build").disabled
    at.text_input(key="zeroshot_labels").set_value("great, bad").run()
    at.text_area(key="zeroshot_descriptions").set_value("bad = awful and terrible").run()
    at.text_input(key="zeroshot_name").set_value("reviews-zs").run()
    assert not at.button(key="zeroshot_build").disabled
    at.button(key="zeroshot_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_the_job(at, "zeroshot_job_id")
    assert any("Saved zero-shot model" in s.value for s in at.success)
    model = load_folder(models_dir / "reviews-zs")
    assert list(model.classes_) == ["great", "bad"] and model.zero_shot["descriptions"] == {"bad": "awful and terrible"}
    assert json.loads((models_dir / "reviews-zs" / "marketune.json").read_text())["trained_on_labels"] is False
    assert at.session_state["active_model"] == "reviews-zs"
    at.button(key="zeroshot_build").click().run()  # the name is taken now: said, not overwritten
    assert any("exists already" in e.value for e in at.error)


def test_the_job_is_still_shown_after_a_page_change_without_the_upload(models_dir, tiny_base):
    """Walk finding: a newcomer left for Predict while the model was built and came back to an empty
    Train page (the upload is gone after a page change). The job's outcome is shown there still."""
    import core.jobs as jobs
    import core.worker as worker

    at = open_train()
    upload(at, pd.DataFrame({"review": TEXTS}))
    at.text_input(key="zeroshot_labels").set_value("great, bad").run()
    at.text_input(key="zeroshot_name").set_value("away-zs").run()
    at.button(key="zeroshot_build").click().run()
    job_id = at.session_state["zeroshot_job_id"]
    at.switch_page("pages/predict.py").run()
    assert worker.run(jobs.jobs_root() / job_id) == 0  # it finishes while the person is elsewhere
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved zero-shot model away-zs" in s.value for s in at.success)
    assert at.session_state["active_model"] == "away-zs"


@pytest.fixture
def saved_zeroshot(models_dir, tiny_model_dir) -> str:
    model = build_zeroshot(pd.DataFrame({"text": TEXTS}), "great, bad, service", base_model=str(tiny_model_dir),
                           options=Options(self_training=False))
    model.save(models_dir / "zs")
    return "zs"


def test_models_page_says_never_trained_on_labels(saved_zeroshot):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(NEVER_TRAINED in i.value for i in at.info)
    # Built from len(TEXTS) rows read, none of them labelled: the table said "rows 0" (round-7 walk).
    table = next(d.value for d in at.dataframe if "rows" in d.value.columns and "name" in d.value.columns)
    assert table.set_index("name").loc[saved_zeroshot, "rows"] == len(TEXTS)


def test_predict_and_ad_copy_lab_use_it(saved_zeroshot, models_dir):
    from tests.ui.test_page_predict import open_page as open_predict
    from tests.ui.test_page_predict import upload as upload_predict

    at = open_predict()
    upload_predict(at, pd.DataFrame({"text": TEXTS[:6]}))
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    result = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    model = load_folder(models_dir / saved_zeroshot)
    assert list(result["predicted_label"]) == list(model.predict(TEXTS[:6]))
    np.testing.assert_allclose(result[["p_great", "p_bad", "p_service"]].to_numpy(), model.predict_proba(TEXTS[:6]),
                               atol=1e-4)

    assert any(SCORES_UNCHECKED in i.value for i in at.info)  # Predict says where the scores come from

    lab = AppTest.from_file(str(ROOT / "pages" / "ad_lab.py"), default_timeout=60)
    lab.session_state["active_model"] = saved_zeroshot
    lab.run()
    assert not lab.exception and not lab.error, [e.value for e in [*lab.exception, *lab.error]]
    scored = next(d.value for d in lab.dataframe if list(d.value.columns[:2]) == ["rank", "variant"])
    assert len(scored) >= 2
    # A zero-shot model has no label column: the score is named by the category alone (the walk saw
    # "P(None = positive)" on the score column and the chart's axis).
    success = lab.selectbox(key="adlab_success").value
    charts = [c.proto.spec for c in lab.get("plotly_chart")]
    assert charts and any(f"P({success})" in spec for spec in charts)
    assert not any("None =" in spec for spec in charts)
    assert "None =" not in str(scored_column_config(lab))
    unchecked_words_and_no_better(lab, model, scored)


def scored_column_config(lab: AppTest) -> str:
    """The scored table's column settings (where the score column's title is), as text."""
    return " ".join(str(d.proto) for d in lab.dataframe)


def unchecked_words_and_no_better(lab: AppTest, model, scored: pd.DataFrame) -> None:
    """Ad Copy Lab on a zero-shot model: it says where the scores come from and that its uncertainty
    cannot be estimated, and calls no variant better or worse: each verdict only says higher or lower,
    as the model's own probabilities (computed here without core.adlab) say."""
    from core.adlab import UNKNOWN_VERDICTS

    assert any(SCORES_UNCHECKED in i.value for i in lab.info)
    assert any("cannot be estimated" in w.value and "no variant is called better or worse" in w.value
               for w in lab.warning)
    success = lab.selectbox(key="adlab_success").value
    column = list(model.classes_).index(success)
    direct = dict(zip(scored["text"], model.predict_proba(list(scored["text"]))[:, column]))
    base = direct[lab.text_area(key="adlab_base").value]
    for text, verdict in zip(scored["text"], scored["verdict"]):
        if verdict != "base":
            assert verdict == UNKNOWN_VERDICTS[int(np.sign(round(direct[text] - base, 12)))]
    assert not {"better", "worse"} & set(scored["verdict"])


def test_suggested_rewrites_of_a_zero_shot_model_are_not_called_better(saved_zeroshot, models_dir, monkeypatch):
    import core.generate as generate
    import core.jobs as jobs
    import core.worker as worker
    from core.adlab import UNKNOWN_VERDICTS
    from tests.core.test_generate import Scripted

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "terrible awful dress"]))
    job_id = jobs.start_rewrite_job("the dress is very", saved_zeroshot, n=2)
    assert worker.run(jobs.jobs_root() / job_id) == 0
    result = jobs.rewrite_result(job_id)
    model = load_folder(models_dir / saved_zeroshot)
    column = list(model.classes_).index(result.positive_class)
    base = model.predict_proba(["the dress is very"])[0, column]
    for rewrite in result:  # the verdict follows the sign of the model's own score change
        change = model.predict_proba([rewrite.text])[0, column] - base
        assert rewrite.verdict == UNKNOWN_VERDICTS[int(np.sign(round(change, 12)))]
    lab = AppTest.from_file(str(ROOT / "pages" / "ad_lab.py"), default_timeout=60)
    lab.session_state["active_model"] = saved_zeroshot
    lab.run()
    lab.text_area(key="adlab_base").set_value("the dress is very")  # the rewrites show under their base copy alone
    lab.run()
    assert not lab.exception, [e.value for e in lab.exception]
    assert any("love this great dress" in m.value for m in lab.markdown)
    captions = "\n".join(c.value for c in lab.caption)
    assert SCORES_UNCHECKED in captions and "uncertainty unknown" in captions and "better)" not in captions and "worse)" not in captions


def test_label_page_cold_start_suggests_labels_then_shows_the_gain(models_dir, tmp_path, monkeypatch, tiny_base):
    from sklearn.metrics import f1_score

    from core.labeling import label_store, uncertainty_ranking
    from tests.ui.test_page_label import open_label

    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    truth = make_sentiment_frame(60, classes=3)["label"].tolist()  # the people's labels, given row by row below
    label_store("cold").create(pd.DataFrame({"text": TEXTS, "label": ""}), ["text"], "label")
    at = open_label()
    at.selectbox(key="label_project").set_value("cold").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Train a model on the labelled rows" in i.value for i in at.info)  # nothing ranks the rows yet
    at.text_input(key="label_zs_labels").set_value("negative, neutral, positive").run()
    at.button(key="label_zs_build").click().run()
    run_the_job(at, "label_zs_job_id")
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any("preselected" in s.value for s in at.success)
    folder = models_dir / "label-cold-zeroshot"
    assert at.session_state["active_model"] == "label-cold-zeroshot"
    editor = at.data_editor(key="label_editor").value
    # The least-sure rows and their suggestions are the zero-shot model's ranking, computed here
    # independently, less the rows drawn as random checks (the other half, drawn from every row);
    # each least-sure label is preselected with the model's suggestion, each random check's starts
    # empty (issue 30).
    zs = load_folder(folder)
    least = editor[editor["why suggested"] == "least sure"]
    checks = editor[editor["why suggested"] == "random check"]
    assert len(least) == len(checks) == len(editor) // 2
    ranking = uncertainty_ranking(zs, label_store("cold").unlabeled(), len(editor))
    expected = ranking[~ranking.index.isin(checks["row"])].head(len(least))
    assert list(least["row"]) == list(expected.index)
    assert list(least["model says"]) == list(expected["predicted_label"])
    said_checks = zs.predict(pd.DataFrame({"text": [TEXTS[r] for r in checks["row"]]}))
    assert list(checks["model says"]) == list(said_checks)
    assert list(least["model says"]) == list(least["label"]) and (checks["label"] == "").all()
    assert any("random checks mixed in start empty" in s.value for s in at.success)
    # It became the active model: said (round-9 walk: Predict used it without a word).
    assert any("now the active model" in s.value and "Predict" in s.value for s in at.success)

    # The person corrects every suggestion to the true label and saves: round 0 is scored on those rows.
    rows = editor["row"].tolist()
    at.session_state["label_editor"] = {"edited_rows": {i: {"label": truth[r]} for i, r in enumerate(rows)},
                                        "added_rows": [], "deleted_rows": []}
    at.button(key="label_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert label_store("cold").reasons()[rows].tolist() == editor["why suggested"].tolist()  # kept with each label
    table = next(d.value for d in at.dataframe if "vs previous round (same rows)" in d.value.columns)
    assert table["rows labelled since"].tolist() == [len(rows)]
    said = zs.predict(pd.DataFrame({"text": [TEXTS[r] for r in rows]}))
    assert table["macro-F1 on them"].iloc[0] == pytest.approx(f1_score([truth[r] for r in rows], said, average="macro"))
    assert table["vs previous round (same rows)"].iloc[0] == "first round"

    # A reload (a new session, another active model): the project's zero-shot model still ranks its rows.
    again = open_label()
    again.session_state["active_model"] = None
    again.selectbox(key="label_project").set_value("cold").run()
    assert not again.exception, [e.value for e in again.exception]
    assert not set(again.data_editor(key="label_editor").value["row"]) & set(rows)  # the labelled rows left


def test_train_page_warns_before_building_on_a_base_model_that_does_not_read_the_texts(models_dir, monkeypatch):
    """Round-9 walk: a zero-shot model built on the English-only minilm-en from Chinese texts put every
    row in one class and nothing said so before `predict`. The form says it, through core.language_check,
    for the base model the build will use (here minilm-en, as a mixed file can get); English texts: nothing."""
    import ui.zeroshot

    monkeypatch.setattr(ui.zeroshot, "choose_base_model", lambda texts, labels, chosen="auto": ("minilm-en", ""))
    chinese = ["这家酒店的服务很好，房间也很干净", "物流太慢了，包装也坏了", "质量不错，价格便宜，值得购买"] * 4
    at = open_train()
    upload(at, pd.DataFrame({"review": chinese}))
    at.text_input(key="zeroshot_labels").set_value("差评, 好评").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if "English only" in w.value]
    assert said and said[0].startswith("12 of 12 texts (100%) look like Chinese") and "minilm" in said[0]

    at = open_train()
    upload(at, pd.DataFrame({"review": TEXTS}))
    at.text_input(key="zeroshot_labels").set_value("great, bad").run()
    assert not [w.value for w in at.warning if "English only" in w.value]


def _sidebar_then_the_train_section() -> None:
    """app.py's order: the sidebar is drawn before the page (AppTest runs a switched-to page without it)."""
    from ui.state import render_sidebar
    from ui.zeroshot import TRAIN_JOB, _not_a_label_project, _train_page_done, job_panel

    render_sidebar()
    job_panel(TRAIN_JOB, _train_page_done, _not_a_label_project)


def test_the_sidebar_shows_the_new_zero_shot_model_in_the_run_that_says_it_is_active(models_dir, tiny_model_dir,
                                                                                       monkeypatch):
    """Walk: "It is now the active model" while the sidebar still showed the previous model until the
    page changed."""
    import core.jobs as jobs
    import core.worker as worker

    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    job_id = jobs.start_zeroshot_job(pd.DataFrame({"review": TEXTS}), "review", "great, bad", "older",
                                     base_model=str(tiny_model_dir))
    assert worker.run(jobs.jobs_root() / job_id) == 0
    job_id = jobs.start_zeroshot_job(pd.DataFrame({"review": TEXTS}), "review", "great, bad", "reviews-zs",
                                     base_model=str(tiny_model_dir))
    assert worker.run(jobs.jobs_root() / job_id) == 0
    at = AppTest.from_function(_sidebar_then_the_train_section, default_timeout=60)
    at.session_state["active_model"] = "older"
    at.session_state["zeroshot_job_id"] = job_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["active_model"] == "reviews-zs" and "It is now the active model" in at.session_state["zeroshot_done"]
    assert at.sidebar.selectbox[0].value == "reviews-zs"


def test_label_page_names_the_zero_shot_model_that_picks_the_rows(models_dir, tmp_path, monkeypatch, tiny_model_dir):
    """Newcomer's walk: "Which model picks the rows" stood on "Train a model on the labelled rows" while
    the project's zero-shot model picked them (and, active, was offered again as "Use the active
    model"). Truth: the rows' "model says" are that zero-shot model's own predictions."""
    from core.labeling import label_store
    from tests.ui.test_page_label import open_label

    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    label_store("cold").create(pd.DataFrame({"text": TEXTS, "label": ""}), ["text"], "label")
    build_zeroshot(pd.DataFrame({"text": TEXTS}), "negative, neutral, positive", base_model=str(tiny_model_dir),
                   options=Options(self_training=False)).save(models_dir / "label-cold-zeroshot")
    for active in (None, "label-cold-zeroshot"):
        at = open_label()
        at.session_state["active_model"] = active
        at.selectbox(key="label_project").set_value("cold").run()
        assert not at.exception, [e.value for e in at.exception]
        editor = at.data_editor(key="label_editor").value
        said = load_folder(models_dir / "label-cold-zeroshot").predict(pd.DataFrame({"text": [TEXTS[r] for r in editor["row"]]}))
        assert list(editor["model says"]) == list(said)  # the zero-shot model picks
        radio = at.radio(key="label_model_source")
        shown = radio.options[radio.index]
        assert "zero-shot" in shown and "Train a model" not in shown, radio.options
        assert radio.options == [shown], radio.options  # the active zero-shot model is not offered a second time


def test_a_round_with_saved_rows_says_why_it_is_short_and_refills_to_the_setting(models_dir, tmp_path, monkeypatch,
                                                                                tiny_model_dir):
    """Newcomer's walk: after saving 3 of a round's 20 rows the round showed 17 beside "Rows per round"
    20, unexplained. Truth: the project's store (the rows saved, the rows still unlabelled)."""
    from core.labeling import label_store
    from tests.ui.test_page_label import open_label

    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    truth = make_sentiment_frame(60, classes=3)["label"].tolist()
    label_store("short").create(pd.DataFrame({"text": TEXTS, "label": ""}), ["text"], "label")
    build_zeroshot(pd.DataFrame({"text": TEXTS}), "negative, neutral, positive", base_model=str(tiny_model_dir),
                   options=Options(self_training=False)).save(models_dir / "label-short-zeroshot")
    at = open_label()
    at.selectbox(key="label_project").set_value("short").run()
    rows = at.data_editor(key="label_editor").value["row"].tolist()
    assert len(rows) == at.number_input(key="label_n").value == 20
    at.session_state["label_editor"] = {"edited_rows": {i: {"label": truth[rows[i]]} for i in range(3)},
                                        "added_rows": [], "deleted_rows": []}
    at.button(key="label_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = label_store("short")
    assert store.counts()["labeled"] == 3 and store.counts()["unlabeled"] == 57
    left = at.data_editor(key="label_editor").value["row"].tolist()
    assert left == rows[3:]
    assert any("17 of this round's 20 rows are left: the 3 rows you labelled left it" in c.value for c in at.caption)
    at.button(key="label_refill").click().run()
    assert not at.exception, [e.value for e in at.exception]
    refilled = at.data_editor(key="label_editor").value["row"].tolist()
    assert len(refilled) == 20 and set(rows[3:]) <= set(refilled)  # the rows still shown stay, three come in
    assert not set(refilled) & set(store.labeled().index)
    assert not any("rows are left" in c.value for c in at.caption)
