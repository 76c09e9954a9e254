"""`python -m core train` on profile-only data (no text column): the response comparison, the
recommended model saved, the comparison printed as JSON; `predict` writes p_<class> for it."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.models import load_folder
from tests.core.test_cli import run_cli
from tests.core.test_response import campaign_table


@pytest.fixture(scope="module")
def profile_cli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_response")
    df = campaign_table(600, seed=11).drop(columns=["review"])
    df.insert(0, "customer_id", [f"C{i:05d}" for i in range(len(df))])  # an id: left out of the profile
    data = folder / "campaign.csv"
    df.to_csv(data, index=False)
    out = folder / "model"
    result = run_cli("train", "--data", str(data), "--label-col", "y", "--out", str(out))
    return folder, df, out, result


def test_profile_only_train_runs_the_comparison_and_prints_it(profile_cli):
    _, df, out, result = profile_cli
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["task"] == "response" and report["positive_class"] == "yes"
    assert report["profile_columns"] == ["age", "segment", "channel"] and report["text_columns"] == []
    assert list(report["models"]) == ["tabular"] and report["recommended"] == "tabular"
    assert "held-out" in report["metrics_note"] and report["models"]["tabular"]["fitted_on_rows"] == 600
    assert "profile columns (pass --profile-col to choose): age, segment, channel" in result.stderr
    # The printed ROC-AUC is the one of the saved held-out test predictions, computed here.
    preds = pd.read_csv(out / "test_predictions.csv")
    auc = roc_auc_score(preds["true_label"] == "yes", preds["p_yes"])
    assert report["models"]["tabular"]["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert report["split_sizes"] == {"train": 420, "test": 120, "validation": 60}
    assert load_folder(out).kind == "tabular"


def test_predict_writes_p_columns_equal_to_the_models_own_probabilities(profile_cli):
    folder, _, out, _ = profile_cli
    customers = campaign_table(50, seed=12).drop(columns=["review", "y"])
    customers.loc[0, "segment"] = "platinum"  # unseen category: missing, still scored
    data = folder / "customers.csv"
    customers.to_csv(data, index=False)
    pred = folder / "pred.csv"
    run_cli("predict", "--model", str(out), "--data", str(data), "--out", str(pred))
    got = pd.read_csv(pred)
    model = load_folder(out)
    proba = model.predict_proba(pd.read_csv(data))
    yes = list(model.classes_).index("yes")
    np.testing.assert_allclose(got["p_yes"], proba[:, yes], atol=1e-9)
    np.testing.assert_allclose(got["p_no"], proba[:, 1 - yes], atol=1e-9)
    assert (got["predicted_label"] == np.where(proba[:, yes] >= 0.5, "yes", "no")).all()


def test_text_with_response_flag_adds_the_hybrid_and_transformer_only_when_asked(tmp_path, tiny_model_dir):
    df = campaign_table(240, seed=13)
    data = tmp_path / "campaign.csv"
    df.to_csv(data, index=False)
    result = run_cli("train", "--data", str(data), "--label-col", "y", "--out", str(tmp_path / "m1"), "--response",
                     "--text-col", "review", "--profile-col", "age", "--profile-col", "segment", "--quiet")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(report["models"]) == ["tabular", "hybrid"]
    result = run_cli("train", "--data", str(data), "--label-col", "y", "--out", str(tmp_path / "m2"),
                     "--profile-col", "age", "--profile-col", "segment", "--with-transformer",
                     "--base-model", str(tiny_model_dir), "--epochs", "1", "--max-length", "32", "--quiet")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(report["models"]) == ["transformer", "tabular"]
    assert report["models"]["transformer"]["fitted_on_rows"] < 240  # never refitted


def test_profile_only_errors_are_one_line(tmp_path):
    data = tmp_path / "d.csv"
    campaign_table(60, seed=1).to_csv(data, index=False)
    result = run_cli("train", "--data", str(data), "--label-col", "nope", "--out", str(tmp_path / "m"), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "error: Label column 'nope' is not in the file; found ['age', 'segment', 'channel', 'review', 'y']."
    )
