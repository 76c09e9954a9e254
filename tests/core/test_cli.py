import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_sentiment_frame

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "train.csv"
    make_sentiment_frame(120).to_csv(data, index=False)
    out = folder / "model"
    result = run_cli(
        "train", "--data", str(data), "--text-col", "text", "--label-col", "label", "--out", str(out),
        "--base-model", str(tiny_model_dir), "--epochs", "6", "--lr", "3e-3", "--batch-size", "16", "--max-length", "32",
    )
    return folder, out, result


def test_cli_train_prints_progress_then_one_json_line(cli_model):
    _, out, result = cli_model
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("[train] step") for line in lines)
    metrics = json.loads(lines[-1])
    assert set(metrics["baselines"]) == {"majority", "tfidf_lr"}
    assert 0 <= metrics["model"]["macro_f1"] <= 1
    # The verdict says which model was saved; the folder holds that kind's weights.
    assert metrics["verdict"]["sentence"] and metrics["saved_kind"] in {"transformer", "fewshot", "tfidf"}
    weights = "tfidf.safetensors" if metrics["saved_kind"] == "tfidf" else "model.safetensors"
    assert (out / weights).is_file()
    assert json.loads((out / "marketune.json").read_text())["kind"] == metrics["saved_kind"]
    assert "verdict: " in result.stderr
    # One JSON line per candidate, before the final line: every kind of the leaderboard once, the
    # finished ones with their validation score; the saved one is the leader; the others are kept.
    rows = [json.loads(line) for line in lines[:-1] if line.startswith('{"event": "candidate"')]
    assert sorted(r["kind"] for r in rows) == ["embedding", "fewshot", "softvote", "softvote_ft", "tfidf", "transformer"]
    finished = {r["kind"]: r for r in rows if r["status"] in ("done", "stopped early")}
    assert "tfidf" in finished and all(0 <= r["score"] <= 1 and r["n_val"] > 0 and r["seconds"] >= 0 for r in finished.values())
    assert all(r["note"] for r in rows if r["status"] == "skipped")
    assert metrics["saved_kind"] in finished and finished[metrics["saved_kind"]]["leader"]
    kept = sorted(set(finished) - {metrics["saved_kind"]})
    assert metrics["kept_candidates"] == kept == sorted(p.parent.name for p in (out / "candidates").glob("*/marketune.json"))
    # The refit and the run's time, as the saved metrics record them (walk r11: the sentence alone, no total).
    saved = json.loads((out / "metrics.json").read_text())
    assert metrics["refit"] == saved.get("refit") and metrics["total_seconds"] == saved["total_seconds"]
    assert metrics["total_seconds"] >= metrics["train_seconds"]
    if metrics["refit"] is not None:  # every saved kind refits on these rows: TF-IDF on all 120, others on train + validation
        split = metrics["split_sizes"]
        assert metrics["refit"]["rows"] in (split["train"] + split["validation"], sum(split.values()))
        assert metrics["refit"]["sentence"]


def test_cli_predict_writes_rows_and_columns(cli_model):
    folder, out, _ = cli_model
    data = folder / "new.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["great phone", "", "awful, \"really\"\nawful"]}).to_csv(data, index=False)
    result = run_cli("predict", "--model", str(out), "--data", str(data), "--out", str(folder / "pred.csv"))
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows"] == 3
    pred = pd.read_csv(folder / "pred.csv", keep_default_na=False)
    assert list(pred.columns) == ["id", "text", "predicted_label", "confidence", "p_negative", "p_positive", "prediction_error"]
    assert pred["id"].tolist() == [1, 2, 3]
    assert pred["predicted_label"][1] == "" and "no text" in pred["prediction_error"][1]
    assert set(pred["predicted_label"][[0, 2]]) <= {"negative", "positive"}


def test_cli_evaluate_prints_metrics_json(cli_model):
    folder, out, _ = cli_model
    data = folder / "eval.csv"
    make_sentiment_frame(40, seed=3).to_csv(data, index=False)
    result = run_cli("evaluate", "--model", str(out), "--data", str(data), "--label-col", "label")
    metrics = json.loads(result.stdout.strip())
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix"} <= set(metrics)
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 40


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "one_class.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "x", "x"]}).to_csv(bad, index=False)
    result = run_cli("train", "--data", str(bad), "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "m"), check=False)
    assert result.returncode == 2
    # The line before it says which base model the language check chose (--base-model auto).
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "error: Column 'label' has 1 distinct value ('x'); training needs at least 2 classes."
    assert [line for line in lines if not line.startswith("base model: ")] == lines[-1:]
    assert "Traceback" not in result.stderr
    missing = run_cli("predict", "--model", str(tmp_path / "nope"), "--data", str(bad), "--out", str(tmp_path / "o.csv"), check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


def test_cli_class_weighting_is_on_by_default_like_the_page_and_can_be_switched_off():
    from core.cli import build_parser
    from core.config import TrainConfig

    base = ["train", "--data", "x.csv", "--text-col", "text", "--label-col", "label", "--out", "m"]
    parser = build_parser()
    assert parser.parse_args(base).class_weighting is True is TrainConfig().class_weighting
    assert parser.parse_args([*base, "--no-class-weighting"]).class_weighting is False
    assert parser.parse_args([*base, "--class-weighting"]).class_weighting is True
