"""`python -m core train` on a small labelled set (walk-c, issue 27 minor): the numbers are
cross-validated, so no warning speaks of a small test split beside the verdict; what the numbers
rest on is said once. Truth: the run's own split sizes (every row scored out of fold)."""

from __future__ import annotations

import json

from tests.conftest import make_sentiment_frame
from tests.core.test_faults import run_cli


def test_a_cross_validated_train_warns_of_no_test_split(tmp_path, tiny_model_dir, capsys):
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
