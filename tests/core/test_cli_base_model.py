"""`python -m core train` picks the base model by the text's language, as the Train page does.

Nothing is trained: ``core.pipeline.train`` is replaced by a stub that records the config it
is given (what would be loaded) and stops, so no 118M-parameter model is fine-tuned here.
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

import core.base_models
import core.pipeline
from core.cli import main
from tests.conftest import CHINESE, make_sentiment_frame


class Stop(Exception):
    pass


@pytest.fixture
def would_train(monkeypatch):
    """The TrainConfig cmd_train passes to core.pipeline.train (the call is stopped there)."""
    seen = []

    def fake_train(df, config, *args, **kwargs):
        seen.append(config)
        raise Stop("test: not trained")

    monkeypatch.setattr(core.pipeline, "train", fake_train)
    # The multilingual model counts as installed whatever this machine has (it is never loaded).
    monkeypatch.setattr(core.base_models, "is_installed", lambda name: True)
    return seen


def chinese_frame(n: int = 40) -> pd.DataFrame:
    rng = random.Random(1)
    texts = ["".join(rng.choice(CHINESE) for _ in range(rng.randint(4, 12))) for _ in range(n)]
    return pd.DataFrame({"review": texts, "label": ["好", "差"] * (n // 2)})


def train_args(tmp_path, df, *extra) -> list[str]:
    data = tmp_path / "train.csv"
    df.to_csv(data, index=False)
    return ["--debug", "train", "--data", str(data), "--text-col", df.columns[0], "--label-col", "label",
            "--out", str(tmp_path / "model"), *extra]


def test_chinese_text_gets_the_multilingual_model_by_default(tmp_path, would_train, capsys):
    with pytest.raises(Stop):
        main(train_args(tmp_path, chinese_frame()))
    (config,) = would_train
    assert config.base_model == "multilingual-e5-small"
    err = capsys.readouterr().err
    assert "base model: multilingual-e5-small (chosen by the text's language" in err
    assert "100% Chinese/Japanese/Korean" in err  # why


def test_english_text_gets_the_english_model_and_says_why(tmp_path, would_train, capsys):
    with pytest.raises(Stop):
        main(train_args(tmp_path, make_sentiment_frame(40)[["text", "label"]]))
    assert would_train[0].base_model == "minilm-en"
    assert "base model: minilm-en (chosen by the text's language" in capsys.readouterr().err


def test_an_explicit_base_model_wins(tmp_path, would_train, capsys):
    with pytest.raises(Stop):
        main(train_args(tmp_path, chinese_frame(), "--base-model", "minilm-en"))
    assert would_train[0].base_model == "minilm-en"
    assert "base model:" not in capsys.readouterr().err


def test_a_multilingual_model_not_built_yet_is_chosen_and_built_by_training(tmp_path, would_train, monkeypatch, capsys):
    """Issue 26: never the English model in its place (it used to fall back with a warning)."""
    monkeypatch.setattr(core.base_models, "needs_build", lambda name: name == "multilingual-e5-small")
    with pytest.raises(Stop):
        main(train_args(tmp_path, chinese_frame()))
    assert would_train[0].base_model == "multilingual-e5-small"
    assert "not built yet on this machine: training builds it first" in capsys.readouterr().err
