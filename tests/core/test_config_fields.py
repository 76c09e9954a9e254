"""TrainConfig's field metadata is the one rule for defaults and ranges: the check, the Train
form's number boxes, the CLI's defaults and the response comparison's settings read it."""

from __future__ import annotations

import dataclasses

import pytest

from core.cli import build_parser
from core.config import FINE_TUNING_SETTINGS, ConfigError, TrainConfig, default_of, form_range, range_text

RANGED = [f.name for f in dataclasses.fields(TrainConfig) if "range" in f.metadata]


def test_the_ranged_fields_are_the_numeric_settings():
    assert {"epochs", "learning_rate", "batch_size", "max_length", "val_fraction", "test_fraction",
            "early_stopping_patience", "lora_r", "lora_dropout"} <= set(RANGED)


@pytest.mark.parametrize("name", RANGED)
def test_a_forms_bounds_are_accepted_and_just_outside_the_range_is_refused(name):
    low, high = form_range(name)
    for value in (low, high):
        TrainConfig(**{name: value}) if name != "val_fraction" else TrainConfig(val_fraction=value, test_fraction=0.1)
    meta = TrainConfig.__dataclass_fields__[name].metadata
    (lo, hi), bounds = meta["range"], meta["bounds"]
    outside = [lo if bounds[0] == "(" else lo - 1e-9]
    if hi is not None:
        outside.append(hi if bounds[1] == ")" else hi + 1e-9 if isinstance(hi, float) else hi + 1)
    for value in outside:
        with pytest.raises(ConfigError) as raised:
            TrainConfig(**{name: value})
        assert raised.value.field == name and range_text(name) in str(raised.value)


def test_range_text_says_which_ends_are_included():
    assert range_text("epochs") == "in (0, 100]"
    assert range_text("batch_size") == "in [1, 4096]"
    assert range_text("early_stopping_patience") == "at least 1"
    assert range_text("max_train_seconds") == "above 0"


def test_the_clis_defaults_are_trainconfigs():
    args = build_parser().parse_args(["train", "--data", "x.csv", "--label-col", "y", "--out", "m"])
    config = TrainConfig()
    for option, name in [("epochs", "epochs"), ("batch_size", "batch_size"), ("max_length", "max_length"),
                         ("seed", "seed"), ("class_weighting", "class_weighting"), ("precision", "precision"),
                         ("max_train_seconds", "max_train_seconds")]:
        assert getattr(args, option) == getattr(config, name) == default_of(name), option


def test_the_train_forms_defaults_are_trainconfigs():
    from ui.train_form import ADVANCED_DEFAULTS, SETTING_FIELDS

    config = TrainConfig()
    for key, name in SETTING_FIELDS.items():
        if name != "learning_rate":  # shown as the method's default, sent only once typed
            assert ADVANCED_DEFAULTS[key] == getattr(config, name), key
    assert ADVANCED_DEFAULTS["train_learning_rate"] == TrainConfig(method="full").effective_learning_rate


def test_a_response_comparisons_transformer_takes_the_fine_tuning_settings():
    from core.response import _transformer_settings

    assert {"epochs", "learning_rate", "lora_r", "method"} <= FINE_TUNING_SETTINGS
    assert not {"seed", "val_fraction", "text_columns", "label_column"} & FINE_TUNING_SETTINGS
    assert _transformer_settings("minilm-en", {"epochs": 1.0})["epochs"] == 1.0
    with pytest.raises(ValueError, match="unknown transformer setting"):
        _transformer_settings("minilm-en", {"seed": 3})
