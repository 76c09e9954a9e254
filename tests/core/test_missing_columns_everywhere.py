"""Issue 27: "Every missing-column message lists the columns found and the closest match", through
the one function core.reading.missing_columns_message, on several entry points (the CLI's train,
check and evaluate, the Dashboard's core, the response models). The Predict page's is tested in
tests/ui/test_page_predict.py. Truth: difflib.get_close_matches run here on the columns written."""

from __future__ import annotations

import difflib

import pandas as pd
import pytest

from tests.core.test_faults import review_rows, run_cli

COLUMNS = ["review_text", "sentiment", "channel"]


def _closest(name: str) -> str:
    (close,) = difflib.get_close_matches(name.casefold(), COLUMNS, n=1, cutoff=0.6)
    return close


def _frame() -> pd.DataFrame:
    return pd.DataFrame([[t, lab, "web"] for t, lab in review_rows(20)], columns=COLUMNS)


def _says_found_and_closest(message: str, asked: str) -> None:
    assert f"found {COLUMNS}" in message, message
    assert f"Closest match: '{asked}' -> '{_closest(asked)}'" in message, message


@pytest.mark.parametrize("command", ["train", "check"])
def test_the_cli_names_the_columns_found_and_the_closest_for_a_misspelled_column(command, tmp_path, capsys):
    path = tmp_path / "rows.csv"
    _frame().to_csv(path, index=False)
    args = [command, "--data", str(path), "--text-col", "review_txt", "--label-col", "sentiment"]
    args += ["--out", str(tmp_path / ("m" if command == "train" else "ISSUES.csv"))]
    rc, _, err = run_cli(capsys, *args)
    assert rc == 2
    _says_found_and_closest(err, "review_txt")


def test_evaluate_names_the_columns_found_and_the_closest_for_a_misspelled_label(tmp_path, capsys, trained_tiny):
    path = tmp_path / "rows.csv"
    _frame().rename(columns={"review_text": "text"}).to_csv(path, index=False)
    rc, _, err = run_cli(capsys, "evaluate", "--model", str(trained_tiny[1]), "--data", str(path),
                         "--label-col", "sentimnt")
    assert rc == 2
    assert "found ['text', 'sentiment', 'channel']" in err and "Closest match: 'sentimnt' -> 'sentiment'" in err, err


def test_the_dashboards_core_names_the_columns_found_and_the_closest():
    from core.dashboard import prepare_frame, top_examples

    df = _frame().assign(confidence=0.9)
    with pytest.raises(ValueError) as info:
        prepare_frame(df[COLUMNS], label_col="Sentiments")
    _says_found_and_closest(str(info.value), "Sentiments")
    with pytest.raises(ValueError) as info:
        top_examples(df[COLUMNS], "sentiment", "sentiment", "review txt")
    _says_found_and_closest(str(info.value), "review txt")
    assert top_examples(df, "sentiment", "confidence", "review_text")  # the columns there: no message


def test_the_tabular_models_table_names_the_columns_found():
    from core.models.tabular import TabularModel

    model = TabularModel().fit(_frame()[["channel"]].assign(age=range(20)), [0, 1] * 10)
    with pytest.raises(ValueError) as info:
        model.encode(_frame())  # "age" is in no column; "channel" is
    assert "lacks column(s) ['age']" in str(info.value) and f"found {COLUMNS}" in str(info.value)
