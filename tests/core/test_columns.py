"""Tests for core.columns: which column plays which role, one word list each."""

from __future__ import annotations

import pandas as pd
import pytest

from core.adlab import default_positive_class
from core.columns import (
    column_summary,
    default_model_name,
    match_column,
    suggest_label_column,
    suggest_setup,
    suggest_text_columns,
)
from core.config import ConfigError, TrainConfig


def test_mapping_suggestions():
    df = pd.DataFrame(
        {
            "id": range(6),
            "Ad Copy": ["buy now", "sale", "new in", "free ship", "last day", "hello"],
            "notes": ["a much longer free text column here"] * 6,
            "clicked": ["yes", "no"] * 3,
        }
    )
    assert suggest_text_columns(df) == ["Ad Copy"]  # named like copy, though "notes" is longer
    assert suggest_text_columns(df.drop(columns=["Ad Copy"])) == ["notes"]  # else the longest text
    assert suggest_label_column(df, ["Ad Copy"]) == "clicked"  # fewest distinct values (2)
    assert suggest_label_column(df.assign(sentiment=["p", "n", "p", "n", "p", "x"]), ["Ad Copy"]) == "sentiment"
    name = default_model_name("My Reviews (2024)!")
    assert name.startswith("My-Reviews-2024-") and "/" not in name


def test_column_summary_counts_blank_cells_as_empty():
    summary = column_summary(pd.DataFrame({"t": ["a", " ", None, "b"], "n": [1, 1, 2, None]})).set_index("column")
    assert summary.loc["t", "non-empty"] == 0.5
    assert summary.loc["t", "distinct values"] == 2
    assert summary.loc["n", "distinct values"] == 2


def test_a_column_matches_its_name_ignoring_case_and_whitespace():
    assert match_column("text", ["Text ", "text_2"]) == "Text "
    assert match_column("product name", ["id", "Product  Name"]) == "Product  Name"
    assert match_column("Text", ["text", "Text"]) == "Text"  # the exact name first
    assert match_column("product_name", ["Product Name"]) is None  # an underscore is not a space
    assert match_column("text", ["review"]) is None


def test_camel_case_names_are_read_as_words():
    df = pd.DataFrame({"reviewText": ["fine"] * 3, "notes": ["a much longer free text here"] * 3})
    assert suggest_text_columns(df) == ["reviewText"]


def test_one_positive_word_list_for_targeting_and_ad_lab():
    """"purchased" means the good outcome on both pages (Targeting used to pick the rarer "no")."""
    df = pd.DataFrame({"age": range(30), "outcome": ["purchased"] * 20 + ["no"] * 10})
    assert suggest_setup(df, "outcome")["positive_class"] == "purchased"

    class Model:
        task, classes_, schema = "classification", ["bought", "no"], {}

    assert default_positive_class(Model()) == "bought"  # Ad Copy Lab used to fall back to the last class


def test_config_error_names_its_field():
    with pytest.raises(ConfigError) as caught:
        TrainConfig(text_columns=("t",), label_column="y", epochs=0)
    assert caught.value.field == "epochs" and isinstance(caught.value, ValueError)
    assert "Setting 'epochs' must be" in str(caught.value)


def test_a_labelling_projects_label_column_is_guessed_only_where_it_looks_like_labels():
    """The Label page's guess (core.columns.suggest_label_to_fill): labels are few short values, and a
    project's label column has rows left to label unless it is named like one."""
    from core.columns import suggest_label_to_fill

    text = [f"review number {i} about the dress" for i in range(6)]
    every_row = pd.DataFrame({"text": text, "source": ["amazon", "imdb", "yelp"] * 2})
    assert suggest_label_to_fill(every_row, ["text"]) is None  # filled on every row: metadata, not labels to give
    partly = every_row.assign(verdict=["yes", "", "no", "", "", "yes"])
    assert suggest_label_to_fill(partly, ["text"]) == "verdict"
    titles = every_row.assign(title=["A long title that reads as a sentence of its own, not a label", "", "x", "", "y", ""])
    assert suggest_label_to_fill(titles, ["text"]) is None  # a value too long to be a label
    assert suggest_label_to_fill(every_row.assign(label=""), ["text"]) == "label"  # named so, still all to label
