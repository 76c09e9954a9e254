"""`python -m core train` on a small labelled set (walk-c, issue 27 minor): the numbers are
cross-validated, so no warning speaks of a small test split beside the verdict; what the numbers
rest on is said once. Truth: the run's own split sizes (every row scored out of fold)."""

from __future__ import annotations

import json

import pandas as pd
from sklearn.metrics import f1_score

from core.versions import holdout_path
from tests.conftest import make_sentiment_frame
from tests.core.test_faults import run_cli


def test_a_cross_validated_train_warns_of_no_test_split_and_choose_says_cross_validated(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "small.csv"
    frame = make_sentiment_frame(30)
    frame.to_csv(path, index=False)
    rc, out, err = run_cli(capsys, "train", "--data", str(path), "--text-col", "text", "--label-col", "label",
                           "--base-model", str(tiny_model_dir), "--method", "fewshot", "--epochs", "1",
                           "--out", str(tmp_path / "m"), "--quiet")
    assert rc == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["cv"]["k"] >= 2 and result["split_sizes"] == {"train": 30, "validation": 0, "test": 30}
    assert "test split" not in err, err  # no test split was held out
    said = [line for line in err.splitlines() if "cross-validation" in line or "scored once" in line]
    assert len(said) == 1 and said[0].startswith("verdict: "), err  # what the numbers rest on, said once

    # `choose` names the candidates' scores for what they are: out-of-fold, with no validation or test rows.
    rc, out, err = run_cli(capsys, "choose", str(tmp_path / "m"))
    assert rc == 0, err
    lines = out.splitlines()
    k = result["cv"]["k"]
    assert len(lines) == 2 and all("validation" not in line and "test" not in line for line in lines), lines
    for line, folder in zip(lines, [tmp_path / "m", tmp_path / "m" / "candidates" / result["kept_candidates"][0]]):
        scored = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
        f1 = f1_score(scored["true_label"].astype(str), scored["predicted_label"].astype(str), average="macro")
        assert f"cross-validated macro-F1 {f1:.3f} ({k} folds)  " in line and "on 30 out-of-fold rows" in line, line
        # The kept candidate is cross-validated like the model in place, and its metrics say so (they
        # said neither, or the fine-tune's "cv" alone): its out-of-fold rows are no fixed holdout for
        # a retrain once it is put in place (core.versions).
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["evaluation"] == f"{k}-fold cross-validation", folder
        assert metrics["split_sizes"] == {"train": 30, "validation": 0, "test": 30} and metrics["cv"]["k"] == k, folder
        assert holdout_path(folder) is None, folder
