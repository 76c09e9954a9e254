"""The small lies on the pages (issue 28): a saved model described as what it is, row numbers
counted from 0 everywhere, empty cells shown empty. Each check compares with what was saved or
read (the manifest's kind, the run's config, pandas' index), not with the page's own words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LogisticRegression
from streamlit.testing.v1 import AppTest

from core import TfidfClassifier
from core.base_models import language_advice, resolve_base_model
from core.charts.evaluation import headline_numbers
from core.registry import read_info
from tests.conftest import make_sentiment_frame
from tests.core.test_verdict import sklearn_pipeline
from tests.ui.test_page_train import frame_with

ROOT = Path(__file__).resolve().parents[2]
NAME = "tfidf-words"
# The English-only advice the run gave about its base model, as core.prepare words it.
ADVICE = language_advice(1.0, resolve_base_model("minilm-en"))


def saved_tfidf(folder: Path, *, fine_tune: dict | None = None) -> Path:
    """A TF-IDF model saved in place of a fine-tune, as training saves it: the run's config names
    minilm-en and method "full", and its warnings hold the base model's language advice."""
    df = make_sentiment_frame(120)
    train, test = df.iloc[:90], df.iloc[90:]
    pipe = sklearn_pipeline(LogisticRegression(max_iter=1000)).fit(train["text"], train["label"])
    pred = pipe.predict(test["text"])
    scores = {"n": len(test), "accuracy": skm.accuracy_score(test["label"], pred),
              "macro_f1": skm.f1_score(test["label"], pred, average="macro")}
    metrics = {
        "task": "classification", "model": scores,
        "baselines": {"tfidf_lr": scores, "majority": {"accuracy": 0.5, "macro_f1": 1 / 3}},
        "warnings": [ADVICE, "The test split has only 30 rows, so these numbers are rough."],
        "saved_kind": "tfidf", "method_chosen": "full", "method_reason": "Method 'full', as chosen in the settings.",
        **({"candidates": {"transformer": fine_tune}} if fine_tune else {}),
    }
    predictions = pd.DataFrame({"row": test.index, "text": test["text"], "true_label": test["label"],
                                "predicted_label": pred, "confidence": pipe.predict_proba(test["text"]).max(axis=1)})
    model = TfidfClassifier.from_pipeline(
        pipe, task="classification", classes=sorted(df["label"].unique()), schema={"text_columns": ["text"]},
        metrics=metrics, training_config={"base_model": "minilm-en", "method": "full", "text_columns": ["text"]},
        test_predictions=predictions,
    )
    return model.save(folder)


def json_folder(folder: Path, kind: str, base_model: str, config: dict, metrics: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    manifest = {"kind": kind, "task": "classification", "classes": ["a", "b"], "base_model": base_model,
                "saved_at": "2020-01-01T00:00:00+0000"}
    for name, data in (("marketune.json", manifest), ("training_config.json", config), ("metrics.json", metrics or {})):
        (folder / name).write_text(json.dumps(data))
    return folder


def test_each_kind_is_described_by_its_manifest_not_by_the_run_config(tmp_path):
    tfidf = read_info(saved_tfidf(tmp_path / "t"))
    assert json.loads((tmp_path / "t" / "training_config.json").read_text())["base_model"] == "minilm-en"
    assert tfidf.base_model_used is None and tfidf.method == "tfidf"
    assert tfidf.describe() == "TF-IDF + logistic regression · no base model"
    # "auto" chose LoRA: the method that built the model, not the setting.
    lora = read_info(json_folder(tmp_path / "l", "transformer", "minilm-en", {"method": "auto"}, {"method_chosen": "lora"}))
    assert lora.describe(str.upper) == "fine-tuned transformer · base model MINILM-EN · LoRA adapters"
    full = read_info(json_folder(tmp_path / "f", "transformer", "multilingual-e5-small", {"method": "full"}))
    assert (full.base_model_used, full.method) == ("multilingual-e5-small", "full")
    few = read_info(json_folder(tmp_path / "s", "fewshot", "minilm-en", {"method": "auto"}, {"method_chosen": "fewshot"}))
    assert few.describe().startswith("few-shot model · base model minilm-en · ")
    trees = read_info(json_folder(tmp_path / "g", "tabular", "gradient boosting", {"method": "gradient boosting"}))
    assert trees.describe() == "gradient-boosted trees · no base model"


def test_a_tfidf_model_has_no_lift_over_itself():
    metrics = {"model": {"accuracy": 0.9, "macro_f1": 0.8}, "saved_kind": "tfidf",
               "baselines": {"tfidf_lr": {"macro_f1": 0.8}, "majority": {"accuracy": 0.5, "macro_f1": 0.3}}}
    labels = [c.label for c in headline_numbers(metrics, "classification")]
    assert labels == ["Accuracy", "Macro-F1", "Lift over majority"]
    with_fine_tune = {**metrics, "candidates": {"transformer": {"macro_f1": 0.55}}}
    cards = {c.label: c for c in headline_numbers(with_fine_tune, "classification")}
    assert cards["Lift over the fine-tune"].value == f"{(0.8 - 0.55) * 100:+.1f} pts"


def test_models_page_and_sidebar_describe_a_tfidf_model_as_tfidf(models_dir):
    saved_tfidf(models_dir / NAME)
    # The sidebar's card, which every page shows (Predict, Dashboard, Ad Copy Lab too).
    sidebar = AppTest.from_string("from ui.state import render_sidebar\nrender_sidebar()", default_timeout=30).run()
    card = sidebar.sidebar.caption[0].value
    assert "TF-IDF + logistic regression · no base model" in card
    assert "minilm-en" not in card and "full" not in card
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="models_open").set_value(NAME).run()
    assert not at.exception, at.exception
    page = " ".join(c.value for c in at.caption)
    assert "TF-IDF + logistic regression · no base model" in page and "base model **" not in page
    assert not any("English-only" in w.value for w in at.warning)  # not a warning about this model…
    assert f"About the fine-tuned candidate: {ADVICE}" in [c.value for c in at.caption]  # …a note on the other
    assert any("only 30 rows" in w.value for w in at.warning)  # other warnings stay warnings
    assert "Lift over TF-IDF" not in [m.label for m in at.metric]
    table = frame_with(at, "base model").set_index("name")
    assert (table.loc[NAME, "kind"], table.loc[NAME, "base model"]) == ("TF-IDF + logistic regression", "none")
    assert not table.loc[NAME, "method"]  # no base model, no fine-tuning method: not the run's "full"
    # Missing cells (no R², no candidates) show empty: Streamlit draws "None" unless told otherwise.
    shown = {d.proto.id: d.proto for d in at.dataframe}
    assert all(p.placeholder == "" for p in shown.values()), [p.placeholder for p in shown.values()]


def test_label_page_summary_and_editor_say_what_the_model_is_and_leave_labels_empty(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    saved_tfidf(models_dir / NAME)
    labelled = make_sentiment_frame(24)[["text", "label"]]
    rows = pd.concat([labelled, make_sentiment_frame(30, seed=7)[["text"]].assign(label="")], ignore_index=True)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/label.py").run()
    at.file_uploader(key="label_upload").set_value(("rows.csv", rows.to_csv(index=False).encode(), "text/csv")).run()
    at.text_input(key="label_new_name").set_value("words").run()
    at.button(key="label_create").click().run()
    at.radio(key="label_model_source").set_value("Use the active model").run()
    assert not at.exception, at.exception
    assert f"**{NAME}** · TF-IDF + logistic regression · no base model" in [m.value for m in at.markdown]
    assert not any("English-only" in w.value for w in at.warning)
    editor = next(d for d in at.dataframe if "label" in d.value.columns)
    # Rows numbered from 0, as in the file pandas read: row r holds the file's row r.
    assert (editor.value["text"] == rows.loc[editor.value["row"], "text"].to_numpy()).all()
    assert (rows.loc[editor.value["row"], "label"] == "").all()
    assert editor.proto.placeholder == ""  # an empty label is drawn empty, not "None"
    # The label column holds the model's suggestion to accept or correct on the least-sure rows and
    # starts empty on the random checks (chosen by the person, so the comparison of models stays fair);
    # nothing is ticked, so nothing is a label until the person says so (tests/ui/test_page_label.py).
    from core.labeling import RANDOM_CHECK

    random = editor.value["why suggested"] == RANDOM_CHECK
    assert random.any() and (~random).any()
    assert (editor.value.loc[~random, "label"] == editor.value.loc[~random, "model says"]).all()
    assert (editor.value.loc[random, "label"].fillna("") == "").all() and not editor.value["accept"].any()


def test_label_page_does_not_preselect_an_active_model_of_other_labels(models_dir, tmp_path, monkeypatch):
    from core.labeling import model_fit

    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    saved_tfidf(models_dir / NAME)  # a sentiment model: its classes are not food/price/service
    texts = make_sentiment_frame(54)["text"]
    topics = (["food", "price", "service"] * 8) + [""] * 30
    rows = pd.DataFrame({"text": texts, "label": topics})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/label.py").run()
    at.file_uploader(key="label_upload").set_value(("rows.csv", rows.to_csv(index=False).encode(), "text/csv")).run()
    at.text_input(key="label_new_name").set_value("topics").run()
    at.button(key="label_create").click().run()
    at.radio(key="label_model_source").set_value("Use the active model").run()
    assert not at.exception, at.exception
    said = " ".join(w.value for w in at.warning)
    assert f"'{NAME}' does not fit this project" in said and "shares no label" in said, said
    assert "'food', 'price', 'service'" in said
    editor = next(d for d in at.dataframe if "label" in d.value.columns)
    assert "accept" not in editor.value.columns and (editor.value["label"] == "").all()  # nothing pre-selected
    assert "model says" in editor.value.columns  # its guesses still shown
    # The rule: no shared label, or fewer than half the project's labels known, does not fit.
    assert not model_fit(["anger", "joy", "neutral"], ["food", "price", "service"]).fits
    assert not model_fit(["Food", "joy"], ["food", "price", "service"]).fits
    assert model_fit(["food", "Price", "joy"], ["food", "price", "service"]).fits
    assert model_fit(["anger"], []).fits  # a project with no label yet: nothing to compare


def open_ad_lab() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "ad_lab.py"), default_timeout=60)
    at.session_state["active_model"] = NAME
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_ad_copy_lab_keeps_base_copy_and_variants_across_a_reload(models_dir):
    from core.drafts import draft_path
    from ui.adlab import EXAMPLE_VARIANTS

    saved_tfidf(models_dir / NAME)
    at = open_ad_lab()
    at.text_area(key="adlab_base").set_value("our new linen dress").run()
    at.text_area(key="adlab_paste").set_value("love this dress\nawful refund service").run()
    at.button(key="adlab_add_lines").click().run()
    typed = [*EXAMPLE_VARIANTS, "love this dress", "awful refund service"]

    again = open_ad_lab()  # a reload: a new session, nothing in it
    assert again.text_area(key="adlab_base").value == "our new linen dress"
    scored = next(d.value for d in again.dataframe if list(d.value.columns[:2]) == ["rank", "variant"])
    assert sorted(scored["text"]) == sorted(["our new linen dress", *typed])
    path = draft_path("ad_lab")  # in this person's workspace, beside the jobs folder
    assert path.parent == models_dir.parent / "drafts"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert json.loads(path.read_text()) == {"base": "our new linen dress", "variants": typed}


def test_a_damaged_or_foreign_draft_is_ignored(models_dir):
    from core.drafts import draft_path, load_draft, save_draft

    save_draft("ad_lab", {"base": "x", "variants": []})
    assert load_draft("ad_lab") == {"base": "x", "variants": []}
    draft_path("ad_lab").write_text("{not json")
    assert load_draft("ad_lab") == {}
    draft_path("ad_lab").write_text("[1, 2]")
    assert load_draft("ad_lab") == {}
    for bad in ("../ad_lab", "a/b", ""):
        with pytest.raises(ValueError):
            save_draft(bad, {})


def response_job(job_id: str, response: dict) -> Path:
    """An interrupted comparison as a server restart leaves it (tests.ui.test_page_targeting's
    interrupted_job) with the setup the Targeting page sent."""
    from tests.ui.test_page_targeting import interrupted_job

    folder = interrupted_job(job_id, "response-y")
    request = json.loads((folder / "request.json").read_text())
    (folder / "request.json").write_text(json.dumps({**request, "response": response}))
    return folder


def open_targeting() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/targeting.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_targeting_form_follows_the_comparison_of_an_uploaded_file_after_a_reload(models_dir):
    response_job("20260101-000000-aaaaaa", {"label_column": "clicked", "positive_class": "1",
                                            "profile_columns": ["age"], "text_columns": [], "data_name": "spring.csv"})
    at = open_targeting()  # a reload: a new session finds the job on disk
    assert any("was interrupted" in w.value for w in at.warning)  # the comparison shown
    assert at.radio(key="tg_source").value == "upload"  # not the sample's columns beside it
    assert "tg_label" not in [s.key for s in at.selectbox]
    assert any("**spring.csv**" in c.value and "**clicked**" in c.value for c in at.caption)


def test_targeting_form_follows_a_comparison_of_the_sample(models_dir):
    from core import load_csv

    sample = load_csv(ROOT / "sample_data" / "bank_marketing.csv").frame
    profile = ["age", "job", "balance"]
    response_job("20260101-000000-bbbbbb", {"label_column": "y", "positive_class": "no", "profile_columns": profile,
                                            "text_columns": [], "data_name": "sample"})
    at = open_targeting()
    assert at.radio(key="tg_source").value == "sample"
    assert (at.selectbox(key="tg_label").value, at.selectbox(key="tg_positive").value) == ("y", "no")
    assert at.multiselect(key="tg_profile").value == profile and set(profile) <= set(sample.columns)


def test_greyed_out_buttons_say_why(models_dir):
    saved_tfidf(models_dir / NAME)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/predict.py").run()  # no file chosen yet
    assert at.button(key="predict_run").disabled and "Upload a CSV" in at.button(key="predict_run").help
    at.switch_page("pages/models.py").run()  # the only model is the active one
    assert at.button(key="models_activate").disabled and "active model already" in at.button(key="models_activate").help
    at.switch_page("pages/targeting.py").run()
    assert at.radio(key="tg_fast").disabled and "Also fine-tune the transformer" in at.radio(key="tg_fast").help
    at.multiselect(key="tg_profile").set_value([]).run()
    assert at.button(key="tg_train").disabled and "profile column" in at.button(key="tg_train").help
    lab = open_ad_lab()
    lab.tabs[1].selectbox(key="adlab_explain_pick").set_value(lab.selectbox(key="adlab_explain_pick").options[1]).run()
    keep = lab.button(key="adlab_keep")  # the text is a variant as it stands: nothing new to keep
    assert keep.disabled and "edit it" in keep.help


def test_a_missing_input_column_is_named_as_text_with_the_closest_match():
    from core.labeling import uncertainty_ranking

    model = TfidfClassifier.from_pipeline(
        sklearn_pipeline(LogisticRegression()).fit(["good", "bad", "fine", "awful"] * 3, ["p", "n", "p", "n"] * 3),
        task="classification", classes=["n", "p"], schema={"text_columns": ["text"]})
    with pytest.raises(ValueError) as err:
        uncertainty_ranking(model, pd.DataFrame({"Text ": ["good"], "id": [1]}), 1)
    assert "input column(s) 'text'; found ['Text ', 'id']" in str(err.value) and "'text' -> 'Text '" in str(err.value)


def test_the_model_card_names_the_method_auto_chose():
    from types import SimpleNamespace

    from core.models.transformer import model_card

    clf = SimpleNamespace(task="classification", classes_=np.array(["a", "b"]), base_model="minilm-en",
                          training_config={"method": "auto", "epochs": 3}, schema={"text_columns": ["text"]},
                          metrics={"method_chosen": "lora", "model": {"accuracy": 0.9}})
    assert "- Method: lora, epochs 3" in model_card(clf)
    clf.metrics = {"model": {}}  # saved before auto recorded its choice: the setting, as it was
    assert "- Method: auto, epochs 3" in model_card(clf)


def test_dashboard_examples_number_rows_from_0_as_the_file_read_by_pandas(models_dir):
    import re as regex

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/dashboard.py").run()
    at.radio(key="dash_source").set_value("sample").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("(0 = the first row after the header)" in c.value for c in at.caption)
    sample = pd.read_csv(ROOT / "sample_data" / "dashboard_clothing_predictions.csv")
    tab = at.tabs[[t.label for t in at.tabs].index("negative")]
    checked = 0
    for box in tab.expander:
        row = int(regex.match(r"row (\d+) ·", box.caption[0].value).group(1))
        assert box.markdown[0].value.startswith(sample.loc[row, "text"][:40])  # row r is pandas' row r
        checked += 1
    assert checked == 5


def test_models_compare_table_shows_a_tfidf_model_without_the_fine_tunes_settings(models_dir):
    saved_tfidf(models_dir / NAME)
    json_folder(models_dir / "lora-run", "transformer", "minilm-en", {"method": "auto", "epochs": 2.0},
                {"method_chosen": "lora", "task": "classification", "model": {"accuracy": 0.5}})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="models_compare_a").set_value(NAME).run()
    at.selectbox(key="models_compare_b").set_value("lora-run").run()
    table = next(d.value for d in at.dataframe if list(d.value.columns) == [NAME, "lora-run"])
    assert (table.loc["base model", NAME], table.loc["method", NAME], table.loc["epochs", NAME]) == ("none", "TF-IDF + logistic regression", "")
    assert (table.loc["base model", "lora-run"], table.loc["method", "lora-run"], table.loc["epochs", "lora-run"]) == (
        "minilm-en", "LoRA adapters", "2")  # metrics.json's method_chosen "lora", in words


def test_embedding_and_zero_shot_models_name_their_base_model_and_what_built_them():
    """Both run on a base model; neither was built by the run's fine-tuning method (walk finding:
    "embedding · no base model")."""
    from core.registry import ModelInfo

    embedding = ModelInfo(name="e", path=None, kind="embedding", task="classification", base_model="minilm-en",
                          method="full", classes=["a", "b"], n_rows=10, saved_at="", metrics={}, config={})
    zeroshot = ModelInfo(name="z", path=None, kind="zeroshot", task="classification", base_model="minilm-en",
                         method="zeroshot", classes=["a", "b"], n_rows=0, saved_at="", metrics={}, config={})
    assert embedding.describe() == ("frozen-encoder embeddings + logistic regression · base model minilm-en · "
                                    "encoder frozen, not fine-tuned")
    assert zeroshot.describe() == "zero-shot model · base model minilm-en · never trained on labels"


def test_a_multi_label_model_is_named_by_its_tags_and_micro_f1():
    """walk-b: a model with 7 tags was described as "7 classes" with accuracy and macro-F1 first."""
    from core.registry import ModelInfo

    metrics = {"model": {"multi_label": True, "micro_f1": 0.48, "macro_f1": 0.39, "hamming_loss": 0.28,
                         "subset_accuracy": 0.11}}
    tags = ModelInfo(name="t", path=None, kind="tfidf", task="classification", base_model="tfidf-lr", method="full",
                     classes=list("abcdefg"), n_rows=600, saved_at="", metrics=metrics, config={"multi_label": True})
    assert tags.what_it_predicts() == "7 tags (several per row)"
    assert tags.headline == {"micro_f1": 0.48, "macro_f1": 0.39, "hamming_loss": 0.28}
    single = ModelInfo(name="s", path=None, kind="tfidf", task="classification", base_model="tfidf-lr", method="full",
                       classes=["a", "b"], n_rows=10, saved_at="", metrics={"model": {"accuracy": 0.9, "macro_f1": 0.8}},
                       config={})
    assert single.what_it_predicts() == "2 classes" and single.headline == {"accuracy": 0.9, "macro_f1": 0.8}
