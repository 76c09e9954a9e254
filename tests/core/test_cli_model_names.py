"""`--model` takes a saved model's name or its folder, resolved by one function
(core.registry.find_model) for predict, evaluate, serve, export, monitor and generate, with one message for a name
that is neither. Truths: the CLI's own file for the folder typed, and the models saved in the test."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from core.cli import main as cli_main
from core.registry import find_model, unknown_model_message

TEXTS = ["great fast delivery love it", "terrible broken refund", "ok fine"]


@pytest.fixture
def saved(trained_tiny, models_dir):
    shutil.copytree(trained_tiny[1], models_dir / "sentiment")
    return models_dir / "sentiment"


def test_predict_by_name_writes_what_predict_by_folder_writes(saved, tmp_path):
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    for ref, out in ((str(saved), tmp_path / "by_folder.csv"), ("sentiment", tmp_path / "by_name.csv")):
        assert cli_main(["predict", "--model", ref, "--data", str(data), "--out", str(out), "--ood"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "by_name.csv"), pd.read_csv(tmp_path / "by_folder.csv"))
    assert find_model("sentiment") == saved and find_model(str(saved)) == saved


def test_an_unknown_name_gets_the_same_message_from_every_command(saved, tmp_path, capsys):
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS, "label": ["positive", "negative", "positive"]}).to_csv(data, index=False)
    commands = [["predict", "--model", "sentimnet", "--data", str(data), "--out", str(tmp_path / "o.csv")],
                ["evaluate", "--model", "sentimnet", "--data", str(data), "--label-col", "label"],
                ["serve", "--model", "sentimnet"],
                ["export", "--model", "sentimnet"],
                ["monitor", "--model", "sentimnet"],
                ["generate", "--model", "sentimnet", "--text", "ad copy", "--out", str(tmp_path / "g.csv")]]
    errors = []
    for argv in commands:
        capsys.readouterr()
        assert cli_main(argv) == 2, argv
        errors.append(capsys.readouterr().err.strip().splitlines()[-1])
    expected = f"error: {unknown_model_message('sentimnet')}"
    assert errors == [expected] * len(commands)
    assert "'sentimnet'" in expected and "sentiment" in expected.split("Saved models", 1)[1]  # lists what exists
    assert not (tmp_path / "o.csv").exists()


def test_a_folder_without_a_model_is_named_as_such(saved, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ValueError, match="is a folder but not a saved Marketune model"):
        find_model(str(empty))


def test_predict_writes_a_real_workbook_for_xlsx_and_refuses_names_it_does_not_write(saved, tmp_path, capsys):
    import zipfile

    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [*TEXTS, "=HYPERLINK(\"x\")"]}).to_csv(data, index=False)
    assert cli_main(["predict", "--model", str(saved), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert cli_main(["predict", "--model", str(saved), "--data", str(data), "--out", str(tmp_path / "p.xlsx")]) == 0
    assert zipfile.is_zipfile(tmp_path / "p.xlsx") and not list(tmp_path.glob(".*partial"))
    book = pd.read_excel(tmp_path / "p.xlsx", dtype={"text": str})
    csv = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(book.columns) == list(csv.columns) and len(book) == 4
    assert book["text"].iloc[-1] == "=HYPERLINK(\"x\")"  # kept exactly, as a text cell
    assert list(book["predicted_label"].astype(str)) == list(csv["predicted_label"].astype(str))
    capsys.readouterr()
    assert cli_main(["predict", "--model", str(saved), "--data", str(data), "--out", str(tmp_path / "p.xls")]) != 0
    err = capsys.readouterr().err
    assert ".csv" in err and ".xlsx" in err and "not .xls" in err and not (tmp_path / "p.xls").exists()
