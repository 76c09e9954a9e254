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
    assert table.loc["rating-model", "method"] == "lora"
    assert table.loc["rating-model", "R²"] == pytest.approx(0.7)
    assert table.loc["sentiment-tiny", "rows"] == 160
    assert table.loc["sentiment-tiny", "macro-F1"] > 0.5


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


def test_compare_two_models_side_by_side(two_models):
    at = open_models()
    at.selectbox(key="models_compare_a").set_value("sentiment-tiny")
    at.selectbox(key="models_compare_b").set_value("rating-model").run()
    table = frame_with(at, "sentiment-tiny")
    assert list(table.columns) == ["sentiment-tiny", "rating-model"]
    assert table.loc["method", "rating-model"] == "lora"
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
