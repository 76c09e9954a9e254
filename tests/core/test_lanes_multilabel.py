"""The lane and estimate of a multi-label training job (core/lanes.py) follow what the run will do:
"auto" is resolved on rows per tag, as core.pipeline resolves it, never on combinations of tags,
and few-shot on tags is one run (no cross-validation, core.small_data)."""

from __future__ import annotations

import pandas as pd

from core import TrainConfig, fewshot, lanes
from core.pipeline import _resolve_method
from core.prepare import prepare
from core.small_data import folds_for


def _tag_frame(pairs: int, triples: int) -> pd.DataFrame:
    """Rows with two of three tags each (``pairs`` rows per pair) plus ``triples`` rows with all three:
    every tag is common, while the combination 'a|b|c' is rare."""
    cells = ["a|b"] * pairs + ["a|c"] * pairs + ["b|c"] * pairs + ["a|b|c"] * triples
    return pd.DataFrame({"text": [f"review number {i} about {c.replace('|', ' and ')}" for i, c in enumerate(cells)],
                         "tags": cells})


def _config(method: str = "auto") -> TrainConfig:
    return TrainConfig(text_columns=["text"], label_column="tags", multi_label=True, label_sep="|", method=method)


def test_auto_on_common_tags_with_a_rare_combination_is_a_fine_tune_in_the_long_lane():
    df, config = _tag_frame(300, 10), _config()
    resolved, _ = _resolve_method(prepare(df, config), config)  # the truth: what the run does
    assert resolved.method == "full"  # each tag has 610 rows, over few-shot's 256 per class
    found = lanes.estimate({"kind": "train", "config": config.to_dict()}, df)
    assert lanes._method(config.to_dict(), df) == resolved.method
    assert found.fine_tunes and found.lane == lanes.LONG


def test_auto_on_rare_tags_is_few_shot_estimated_as_one_run():
    df, config = _tag_frame(40, 5), _config()
    prepared = prepare(df, config)
    resolved, _ = _resolve_method(prepared, config)
    assert resolved.method == "fewshot" and lanes._method(config.to_dict(), df) == "fewshot"
    assert folds_for(prepared, resolved) is None  # the run is not cross-validated: one few-shot run
    expected = lanes.LOAD_SECONDS + fewshot.FEWSHOT_STEPS * lanes.FEWSHOT_STEP_SECONDS + len(df) / lanes.SCORE_ROWS_PER_SECOND
    assert abs(lanes._fewshot_seconds(config.to_dict(), df) - expected * lanes._slowdown(config.base_model)) < 1e-6
    found = lanes.estimate({"kind": "train", "config": config.to_dict()}, df)
    assert not found.fine_tunes and found.lane == lanes.SHORT


def test_single_label_small_data_is_still_estimated_with_its_folds():
    df = pd.DataFrame({"text": [f"text {i}" for i in range(60)], "label": ["x", "y", "z"] * 20})
    config = TrainConfig(text_columns=["text"], label_column="label", method="fewshot").to_dict()
    one_run = lanes._fewshot_seconds({**config, "split_column": "split"}, df)
    assert lanes._fewshot_seconds(config, df) > one_run  # cross-validated: one run per fold and a final one
