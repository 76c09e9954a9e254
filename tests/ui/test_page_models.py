"""The Models page in AppTest: list, inspect, compare, delete (with confirmation)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import list_models
from tests.ui.test_page_train import figures, frame_with, texts

ROOT = Path(__file__).resolve().parents[2]


def regression_folder(folder: Path) -> Path:
    """A saved regression model as the registry and the renderers read it (JSON + CSV only)."""
    folder.mkdir(parents=True)
    manifest = {
        "kind": "transformer",
        "task": "regression",
        "classes": ["rating"],
        "base_model": "minilm-en",
        "saved_at": "2020-01-01T00:00:00+0000",
    }
    metrics = {
        "task": "regression",
        "model": {"n": 4, "mae": 0.5, "rmse": 0.6, "r2": 0.7, "spearman": 0.8},
        "baselines": {"mean": {"mae": 1.0, "r2": 0.0}, "tfidf_ridge": {"mae": 0.8, "r2": 0.4}},
        "n_rows_used": 20,
        "split_sizes": {"train": 14, "validation": 2, "test": 4},
    }
    (folder / "marketune.json").write_text(json.dumps(manifest))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "training_config.json").write_text(json.dumps({"method": "lora", "epochs": 2.0}))
    pd.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "text": list("abcd"),
            "true_value": [1.0, 2.0, 3.0, 4.0],
            "predicted_value": [1.0, 2.5, 2.0, 4.0],
        }
    ).to_csv(folder / "test_predictions.csv", index=False)
    return folder


@pytest.fixture
def two_models(models_dir, trained_tiny):
    _, saved = trained_tiny
    shutil.copytree(saved, models_dir / "sentiment-tiny")
    regression_folder(models_dir / "rating-model")
    return models_dir


def open_models() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    return at


def test_empty_registry_points_to_train(models_dir):
    at = open_models()
    assert "No saved models yet" in texts(at.info)


def test_lists_every_model_with_headline_metrics(two_models):
    at = open_models()
    table = frame_with(at, "base model").set_index("name")
    assert set(table.index) == {"sentiment-tiny", "rating-model"}
    assert table.loc["sentiment-tiny", "task"] == "classification"
    assert table.loc["sentiment-tiny", "labels"] == "negative, positive"
    assert table.loc["rating-model", "method"] == "LoRA adapters"  # its training_config.json's "lora", in words
    assert table.loc["rating-model", "R²"] == pytest.approx(0.7)
    assert table.loc["sentiment-tiny", "rows"] == 160
    assert table.loc["sentiment-tiny", "macro-F1"] > 0.5


def test_the_numbers_come_before_the_long_words(two_models):
    # At a laptop's width only the first columns show: the metrics a marketer compares come right after
    # what the model is, and the long text columns (method, kept candidates) come last, set narrow.
    at = open_models()
    element = next(e for e in at.dataframe if "base model" in e.value.columns)
    columns = list(element.value.columns)
    assert columns[:6] == ["name", "kind", "macro-F1", "lift vs TF-IDF (pts)", "accuracy", "R²"], columns
    assert columns[-3:] == ["base model", "method", "kept candidates"], columns
    config = json.loads(element.proto.columns)
    assert config["method"]["width"] == config["kept candidates"]["width"] == "medium"


def test_inspect_shows_saved_metrics_confusion_matrix_and_mistakes(two_models):
    at = open_models()
    at.selectbox(key="models_open").set_value("sentiment-tiny").run()
    assert {"Accuracy", "Macro-F1", "Lift over TF-IDF"} <= {m.label for m in at.metric}
    heatmap = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")
    saved = json.loads((two_models / "sentiment-tiny" / "metrics.json").read_text())
    assert heatmap["data"][0]["z"] == saved["model"]["confusion_matrix"]["matrix"]
    assert frame_with(at, "recall")["class"].tolist() == ["negative", "positive"]
    assert "Download (.zip)" in [b.label for b in at.get("download_button")]


def test_regression_model_shows_predicted_vs_actual(two_models):
    at = open_models()
    at.selectbox(key="models_open").set_value("rating-model").run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["R²"] == "0.700" and labels["R² vs TF-IDF"] == "+0.300"
    scatter = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Predicted vs actual"))
    assert scatter["data"][0]["x"] == [1.0, 2.0, 3.0, 4.0]
    assert frame_with(at, "error")["row"].tolist()[0] == 2  # the largest error first
    # How the rows are counted is said once on the table, in Predict's words (newcomer walk: a bare "row 255").
    assert "`row` is the row's number in the training file (0 = the first row after the header)." in [
        c.value for c in at.caption]


def test_compare_two_models_side_by_side(two_models):
    at = open_models()
    at.selectbox(key="models_compare_a").set_value("sentiment-tiny")
    at.selectbox(key="models_compare_b").set_value("rating-model").run()
    table = frame_with(at, "sentiment-tiny")
    assert list(table.columns) == ["sentiment-tiny", "rating-model"]
    assert table.loc["method", "rating-model"] == "LoRA adapters"
    assert table.loc["R²", "rating-model"] == "0.700"


def test_delete_asks_for_confirmation(two_models):
    at = open_models()
    at.selectbox(key="models_open").set_value("rating-model").run()
    at.button(key="models_delete").click().run()
    assert "cannot be undone" in texts(at.warning)
    at.button(key="models_delete_cancel").click().run()
    assert (two_models / "rating-model").is_dir()
    assert "cannot be undone" not in texts(at.warning)
    at.button(key="models_delete").click().run()
    at.button(key="models_delete_confirm").click().run()
    assert not (two_models / "rating-model").exists()
    assert "Deleted model **rating-model**" in texts(at.success)
    assert [m.name for m in list_models()] == ["sentiment-tiny"]
    assert frame_with(at, "base model")["name"].tolist() == ["sentiment-tiny"]


def test_the_header_states_the_whole_runs_time_not_the_fine_tunes_loop(two_models):
    """The result header's time is the whole run's (core.result's total_seconds): never shorter
    than a candidate's time on the leaderboard. It used to print the fine-tune's training loop
    alone ("trained in 141 s" beside the fine-tune's row of 3:32)."""
    from ui.jobs import duration
    from ui.results import run_time

    saved = json.loads((two_models / "sentiment-tiny" / "metrics.json").read_text())
    rows = {row["kind"]: row["seconds"] for row in saved["leaderboard"] if row.get("seconds") is not None}
    assert saved["total_seconds"] >= max(rows.values())
    assert rows["transformer"] >= saved["train_seconds"]  # the loop is part of the fine-tune's row
    at = open_models()
    at.selectbox(key="models_open").set_value("sentiment-tiny").run()
    header = next(c for c in texts(at.caption).splitlines() if c.startswith("**classification**"))
    assert f"the whole run took {duration(saved['total_seconds'])}" in header and "trained in" not in header
    # A resumed run says where its time starts; a model without the run's time names its own fit.
    assert run_time({"total_seconds": 245.2, "resumed_from_step": 40}) == "the whole run took 4:05 since its resume at step 40"
    assert run_time({"train_seconds": 12.4}) == "fitted in 12 s" and run_time({}) == ""


@pytest.fixture(scope="module")
def frozen_encoder_run(tiny_model_dir, tmp_path_factory):
    """A full fine-tuning run on a sentence encoder (the tiny BERT in the sentence-transformers
    layout), saved with its kept candidates: its metrics.json says the method chosen was "full"."""
    from core import TrainConfig, train
    from tests.conftest import make_sentiment_frame

    encoder = tmp_path_factory.mktemp("encoder") / "tiny-st"
    shutil.copytree(tiny_model_dir, encoder)
    (encoder / "modules.json").write_text("[]")  # core.base_models.is_sentence_encoder: the embedding candidates run
    config = TrainConfig(base_model=str(encoder), method="full", epochs=1, max_length=32, batch_size=16)
    return train(make_sentiment_frame(300), config).save(tmp_path_factory.mktemp("run") / "run")


def test_a_frozen_encoder_model_is_not_listed_as_full_fine_tuning(models_dir, frozen_encoder_run):
    """Newcomer's walk: an embeddings model and a soft vote put in place from a full fine-tuning run
    were listed with method "full". Truth: the model each folder loads (core.models.load_folder),
    whose encoder no training step touched, and the run's own config, which does say "full"."""
    from core.models import EmbeddingClassifier, SoftVoteClassifier, load_folder
    from core.registry import choose_candidate

    for name, kind in (("embeddings", "embedding"), ("vote", "softvote")):
        shutil.copytree(frozen_encoder_run, models_dir / name)
        choose_candidate(name, kind, models_dir)
        assert json.loads((models_dir / name / "metrics.json").read_text())["method_chosen"] == "full"  # the run's
    assert isinstance(load_folder(models_dir / "embeddings"), EmbeddingClassifier)
    assert isinstance(load_folder(models_dir / "vote"), SoftVoteClassifier)
    at = open_models()
    table = frame_with(at, "base model").set_index("name")
    for name, kind in (("embeddings", "embeddings + logistic regression"), ("vote", "soft vote")):
        assert kind in table.loc[name, "kind"]
        assert table.loc[name, "base model"] != "none"
        assert "full" not in table.loc[name, "method"] and "frozen" in table.loc[name, "method"], table.loc[name]
    at.selectbox(key="models_compare_a").set_value("embeddings")
    at.selectbox(key="models_compare_b").set_value("vote").run()
    compared = frame_with(at, "embeddings")
    assert not any("full" in compared.loc["method", name] for name in ("embeddings", "vote")), compared.loc["method"]
    assert not compared.loc["epochs"].any(), compared.loc["epochs"]  # the fine-tune's settings built neither


def test_a_model_cross_validated_on_six_labels_counts_out_of_fold_rows_not_test_rows(models_dir, tiny_model_dir):
    """Newcomer's walk: a model trained on 6 labelled rows said "6 training / 0 validation / 6 test
    rows" and "predictions on the 6 test rows", though no row was held out: every one was scored out
    of fold. Truth: the run's own split, every labelled row both trained on and scored (core.small_data)."""
    import re

    from core import TrainConfig, train
    from tests.conftest import make_sentiment_frame

    result = train(make_sentiment_frame(6), TrainConfig(base_model=str(tiny_model_dir), method="fewshot", epochs=1,
                                                        max_length=32))
    result.save(models_dir / "six")
    metrics = json.loads((models_dir / "six" / "metrics.json").read_text())
    assert metrics["split_sizes"]["train"] == metrics["split_sizes"]["test"] == 6 and metrics["cv"]["k"] >= 2
    at = open_models()
    at.selectbox(key="models_open").set_value("six").run()
    assert not at.exception, at.exception
    said = [e.value for kind in (at.markdown, at.caption, at.warning, at.info) for e in kind] + [m.proto.help for m in at.metric]
    counted = [s for s in said if re.search(r"\b6 (held-out )?test rows|^##### Test rows", s)]
    assert not counted, counted
    assert any("6 labelled rows, each scored out of fold" in s for s in said)
    assert any(s.startswith("##### Out-of-fold rows the model got wrong") for s in said)
    titles = [f["layout"]["title"]["text"] for f in figures(at) if f["layout"].get("title")]
    assert f"Out-of-fold macro-F1 ({metrics['cv']['k']}-fold cross-validation)" in titles  # not "on the same test rows"
    assert not [t for t in titles if "test rows" in t], titles
    assert any("6 out-of-fold rows" in s for s in said)  # the accuracy card's help at least
    # The candidates' scores in the CLI's words (core.candidates.Candidate.scores), not "out-of-fold macro-F1".
    lines = [line for s in said if not s.startswith("Notes:")  # the leaderboard's notes are the pipeline's words
             for line in s.splitlines() if line.startswith("- ") and "macro-F1" in line]
    scored = rf"cross-validated macro-F1 \*\*\d\.\d{{3}}\*\* \({metrics['cv']['k']} folds\)"
    assert len(lines) == 2 and all(re.search(scored, line) for line in lines), lines
    regression_folder(models_dir / "rating-model")  # a model with a held-out split still counts test rows
    at.run()
    at.selectbox(key="models_compare_a").set_value("six")
    at.selectbox(key="models_compare_b").set_value("rating-model").run()
    compared = frame_with(at, "six")
    assert (compared.loc["test rows", "six"], compared.loc["test rows", "rating-model"]) == ("6 out of fold", "4")


def test_the_table_names_a_soft_vote_in_a_short_cell_and_its_members_under_it(models_dir):
    """Newcomer walk: the soft vote with the fine-tune filled its "kind" cell with a sentence
    ("soft vote of TF-IDF + LR, ... embeddings + LR and the fine-tuned transformer"). The table says
    its short name, its method column is cut to a width, and nothing is lost: the full words
    (ModelInfo.describe: members, base model, method) are said for the model inspected."""
    from core.registry import read_info

    folder = models_dir / "vote"
    folder.mkdir(parents=True)
    (folder / "marketune.json").write_text(json.dumps({
        "kind": "softvote", "members": ["tfidf", "embedding", "transformer"], "task": "classification",
        "classes": ["negative", "positive"], "base_model": "minilm-en", "saved_at": "2020-01-01T00:00:00+0000"}))
    (folder / "metrics.json").write_text(json.dumps({"task": "classification", "n_rows_used": 200,
                                                     "model": {"n": 40, "accuracy": 0.9, "macro_f1": 0.9}}))
    (folder / "training_config.json").write_text(json.dumps({"method": "full"}))
    at = open_models()
    element = next(e for e in at.dataframe if "base model" in e.value.columns)
    row = element.value.set_index("name").loc["vote"]
    assert row["kind"] == "soft vote with the fine-tune", row["kind"]
    assert json.loads(element.proto.columns)["method"]["width"] == "medium"  # a sentence, cut to the column
    info = read_info(folder)
    said = texts(at.caption)
    assert info.describe() in said and info.method_words == row["method"] and "and the fine-tuned transformer" in said
