"""Decimal-comma numbers (a European ';' export: 1.234,56) read alike at training and prediction.

A response (tabular) model is trained on a ';' file with decimal commas and scores another such
file through the API, the CLI and the Predict page; its p_ columns must equal the model's own
predict_proba on the same rows written with decimal points and parsed by pandas (the truth).
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from core.predict import decimal_comma_columns, predict_csv
from core.reading import DecimalCommaScan, load_csv
from core.registry import load_folder
from tests.core.test_cli import run_cli


def customers(n: int, seed: int) -> pd.DataFrame:
    """Customers whose response depends on spend (thousands, two decimals) and rate (0-10)."""
    rng = np.random.default_rng(seed)
    spend = np.round(rng.uniform(5, 5000, n), 2)
    rate = np.round(rng.uniform(0, 10, n), 2)
    channel = rng.choice(["email", "phone", "post"], n)
    logit = -2.0 + 0.0009 * spend + 0.25 * (rate - 5) + 0.8 * (channel == "email")
    y = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"spend": spend, "rate": rate, "channel": channel, "y": y})


def european(frame: pd.DataFrame) -> bytes:
    """``frame`` as a European Excel export: ';' separated, decimal comma, '.' thousands."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:,.2f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return str(v)

    lines = [";".join(frame.columns)] + [";".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


@pytest.fixture(scope="module")
def comma_model(tmp_path_factory):
    """A response model trained by the CLI on a decimal-comma ';' file; plus a second such file
    to score and its dot-decimal twin: (folder, model dir, comma file, dot file)."""
    folder = tmp_path_factory.mktemp("decimal_comma")
    train = folder / "train.csv"
    train.write_bytes(european(customers(500, seed=1)))
    assert re.search(r"^\d\.\d{3},\d\d;", train.read_text(encoding="cp1252"), re.M)  # e.g. 1.234,56;
    out = folder / "model"
    result = run_cli("train", "--data", str(train), "--label-col", "y", "--profile-col", "spend",
                     "--profile-col", "rate", "--profile-col", "channel", "--out", str(out))
    assert result.returncode == 0, result.stderr
    new = customers(80, seed=2).drop(columns="y")
    comma, dot = folder / "new_comma.csv", folder / "new_dot.csv"
    comma.write_bytes(european(new))
    new.to_csv(dot, index=False)
    return folder, out, comma, dot


def test_the_training_file_was_read_as_numbers(comma_model):
    folder, out, _, _ = comma_model
    loaded = load_csv(folder / "train.csv")
    truth = customers(500, seed=1)
    assert loaded.frame["spend"].tolist() == truth["spend"].tolist()  # 1.234,56 -> 1234.56
    assert loaded.frame["rate"].tolist() == truth["rate"].tolist()
    report = json.loads(run_cli("train", "--data", str(folder / "train.csv"), "--label-col", "y", "--profile-col",
                                "spend", "--out", str(folder / "m2")).stdout.strip().splitlines()[-1])
    assert report["profile_columns"] == ["spend"] and load_folder(out).kind == "tabular"


def test_predict_reads_decimal_commas_as_training_did_api_and_cli(comma_model):
    folder, out, comma, dot = comma_model
    model = load_folder(out)
    truth = model.predict_proba(pd.read_csv(dot))  # the same rows with decimal points
    assert decimal_comma_columns(model, comma) == ["spend", "rate"]
    predict_csv(model, comma, folder / "api.csv")
    run_cli("predict", "--model", str(out), "--data", str(comma), "--out", str(folder / "cli.csv"))
    raw = comma.read_text(encoding="cp1252").splitlines()
    for written in (folder / "api.csv", folder / "cli.csv"):
        got = pd.read_csv(written, dtype={"spend": str, "rate": str})
        for i, c in enumerate(model.classes_):
            np.testing.assert_allclose(got[f"p_{c}"].to_numpy(), truth[:, i], atol=1e-12)
        # The user's own cells are written back as they were (1.234,56), not as the model read them.
        assert got["spend"].tolist() == [line.split(";")[0] for line in raw[1:]]
    # And not merely equal by accident: the same cells as text give other probabilities.
    as_text = model.predict_proba(pd.read_csv(comma, sep=";", dtype=str))
    assert not np.allclose(as_text, truth, atol=1e-6)


def test_predict_page_reads_decimal_commas_as_training_did(comma_model, models_dir):
    from tests.ui.test_page_predict import open_page

    _, out, comma, dot = comma_model
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(out, models_dir / "comma-model")
    at = open_page()
    at.file_uploader(key="predict_upload").set_value(("new_comma.csv", comma.read_bytes(), "text/csv")).run()
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = pd.read_csv(at.session_state["last_prediction_path"], dtype={"spend": str})
    model = load_folder(out)
    truth = model.predict_proba(pd.read_csv(dot))
    for i, c in enumerate(model.classes_):
        np.testing.assert_allclose(got[f"p_{c}"].to_numpy(), truth[:, i], atol=1e-12)


@pytest.mark.parametrize(
    ("delimiter", "chunks", "expected"),
    [
        (";", [["1,5", "2"], ["3", "1.234,5"]], ["a"]),  # the comma in one chunk decides for the file
        (";", [["1,5", "2"], ["3", "lots"]], []),  # a word anywhere: the column stays text
        ("\t", [["1,234"], ["2,000"]], []),  # tab file, could be English thousands: left alone
        ("\t", [["1,5"], ["2,25"]], ["a"]),
        (",", [["1,5"], ["2,25"]], []),  # a comma file: quoted "1,5" is text
    ],
)
def test_decimal_comma_scan_decides_over_the_whole_file_like_load_csv(delimiter, chunks, expected):
    scan = DecimalCommaScan(delimiter)
    for cells in chunks:
        scan.add(pd.DataFrame({"a": cells, "b": ["x"] * len(cells)}))
    assert scan.columns() == expected
    # load_csv on the whole file makes the same decision.
    cells = [c for chunk in chunks for c in chunk]
    quote = '"' if delimiter == "," else ""
    text = f"a{delimiter}b\n" + "".join(f"{quote}{c}{quote}{delimiter}x\n" for c in cells)
    column = load_csv(text.encode()).frame["a"]
    assert (column.dtype == float) is bool(expected)
