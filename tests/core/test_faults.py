"""Messy exports read right: one test per fault file in tests/data/faults (README there), plus the
three fault kinds described without files (a stray cp1252 byte in UTF-8, duplicated texts with
coin-flip labels, a European ';' export with decimal commas).

Truths are independent of the code under test: Python's csv module over the file decoded with
its known encoding, float() over the raw cells, sets computed here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import TrainConfig, train
from core.cli import main as cli_main
from core.data import (
    clean_label,
    duplicate_groups,
    label_variants,
    normalise_for_duplicates,
    split_indices,
    usable_rows,
    validate_mapping,
)
from core.predict import output_names, predict_csv, predict_frame, read_predictions
from core.reading import decode_report, load_csv, read_table
from core.registry import load_folder

FAULTS = Path(__file__).resolve().parents[1] / "data" / "faults"
DEFAULT_CSV_CELL = 131_072  # the csv module's own limit, which core must not depend on


def big_cells(read):
    """Run ``read()`` with the csv module accepting r12's 150,000-character cell, then put the
    module's default limit back, so that core code run later in this process meets the default."""
    csv.field_size_limit(1 << 24)
    try:
        return read()
    finally:
        csv.field_size_limit(DEFAULT_CSV_CELL)


def csv_rows(name: str, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    """The file's rows as Python's csv module reads them (header included)."""
    text = (FAULTS / name).read_bytes().decode(encoding)
    return big_cells(lambda: list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)))


def tiny(base: Path, **changes) -> TrainConfig:
    settings = dict(base_model=str(base), method="full", epochs=2, batch_size=16, learning_rate=3e-3, max_length=32)
    return TrainConfig(**{**settings, **changes})


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m core ARGS`` in this process (the same main() as __main__)."""
    rc = cli_main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "columns"),
    [
        ("r01_bom_spaced_header.csv", "utf-8-sig", ",", ["text", "label"]),
        ("r03_na_like_values.csv", "utf-8", ",", ["text", "region"]),
        ("r05a_excel_unicode_text_utf16.csv", "utf-16", "\t", ["text", "label"]),
        ("r06_quoted_newlines_crlf.csv", "utf-8", ",", ["text", "label"]),
        ("r12_huge_cell.csv", "utf-8", ",", ["text", "label"]),
    ],
)
def test_fault_file_reads_every_cell_as_written(name, encoding, delimiter, columns):
    """r01 header found despite BOM and spaces; r03 'NA'/'None'/'null'/'N/A' stay strings;
    r05a UTF-16 tab text with accents intact; r06 quoted newlines, 60 rows in and out; r12 a
    150,000-character cell whole."""
    truth = csv_rows(name, encoding, delimiter)
    frame = read_table(FAULTS / name).frame
    assert list(frame.columns) == columns
    assert len(frame) == len(truth) - 1
    for i, col in enumerate(columns):
        assert frame[col].fillna("").astype(str).tolist() == [row[i] for row in truth[1:]]
    if name.startswith("r03"):
        assert {"NA", "None", "null"} <= set(frame["region"]) and frame["region"].notna().all()
    if name.startswith("r05a"):
        assert any(ch in "".join(frame["text"]) for ch in "éèàçöü")
    if name.startswith("r06"):
        assert len(frame) == 60 and frame["text"].str.contains("\n").any()
    if name.startswith("r12"):
        assert frame["text"].str.len().max() >= 150_000


def test_r04_trailing_delimiter_keeps_columns_in_place_for_training_and_prediction(tmp_path, tiny_model_dir):
    truth = csv_rows("r04_trailing_delimiter.csv")
    assert all(len(row) == 3 and row[2] == "" for row in truth[1:])  # the fault as described
    frame = load_csv(FAULTS / "r04_trailing_delimiter.csv").frame
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == [row[0] for row in truth[1:]]
    assert frame["label"].tolist() == [row[1] for row in truth[1:]]
    result = train(frame, tiny(tiny_model_dir))
    assert list(result.model.classes_) == sorted({row[1] for row in truth[1:]})
    folder = result.save(tmp_path / "m")
    summary = predict_csv(load_folder(folder), FAULTS / "r04_trailing_delimiter.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert summary.n_rows == 60 and summary.n_errors == 0
    assert out["text"].tolist() == [row[0] for row in truth[1:]]
    assert out["label"].tolist() == [row[1] for row in truth[1:]]


@pytest.mark.parametrize(("header_tail", "row_tail", "delimiter"), [("", ",", ","), (",", ",", ","), (",,", ",,", ","), ("", ",,", ","), ("", ";", ";"), ("\t", "\t", "\t")])
def test_every_trailing_delimiter_shape_is_dropped_not_shifted(header_tail, row_tail, delimiter):
    lines = [f"text{delimiter}label{header_tail}"]
    lines += [f"row {i} words{delimiter}{'pos' if i % 2 else 'neg'}{row_tail}" for i in range(6)]
    frame = load_csv("\r\n".join(lines).encode()).frame
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == [f"row {i} words" for i in range(6)]


def test_extra_field_with_a_value_is_refused_not_dropped():
    raw = b"text,label\nhello,pos,\nbye,neg,SURPRISE\n"
    with pytest.raises(ValueError, match="SURPRISE"):
        load_csv(raw)


# --------------------------------------------------------------------------- labels


def test_r02_case_and_invisible_variants_are_one_class_and_named(tiny_model_dir):
    frame = load_csv(FAULTS / "r02_label_case_variants.csv").frame
    raw = [row[1] for row in csv_rows("r02_label_case_variants.csv")[1:]]
    assert {"positive", "Positive", "POSITIVE", "positive\u200b"} <= set(raw)
    report = validate_mapping(frame, TrainConfig())
    assert set(report.class_counts) == {"positive", "negative"}
    assert report.class_counts["positive"] == sum(r.replace("\u200b", "").lower() == "positive" for r in raw)
    message = " ".join(p.message for p in report.warnings)
    for variant in ("'Positive'", "'POSITIVE'", "'positive\\u200b'"):
        assert variant in message
    variants = label_variants(frame["label"])
    assert set(variants["positive"]) == {"Positive", "POSITIVE", "positive\u200b"}
    # Kept apart on request, but an invisible character never makes a class of its own.
    apart = validate_mapping(frame, TrainConfig(merge_label_variants=False))
    assert "positive\u200b" not in apart.class_counts and {"Positive", "POSITIVE"} <= set(apart.class_counts)
    result = train(frame, tiny(tiny_model_dir, epochs=1))
    assert list(result.model.classes_) == ["negative", "positive"]
    assert any("'POSITIVE'" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, "1"), (0, "0"), (np.int64(3), "3"), (True, "True"), (np.bool_(False), "False"), (2.5, "2.5"),
     (" spam\u00a0 eggs\ufeff ", "spam eggs"), ("Cafe\u0301", "Caf\u00e9"), ("\u200bham\u2060", "ham"), (float("nan"), "")],
)
def test_clean_label_every_numeric_type_and_invisible_character(value, expected):
    assert clean_label(value) == expected


def test_r03_na_like_labels_are_classes(tiny_model_dir):
    frame = load_csv(FAULTS / "r03_na_like_values.csv").frame
    report = validate_mapping(frame, TrainConfig(label_column="region"))
    truth = pd.Series([row[1] for row in csv_rows("r03_na_like_values.csv")[1:]]).value_counts().to_dict()
    assert report.class_counts == truth
    assert report.n_rows_used == len(frame)


def test_r07a_one_row_class_is_refused_by_name():
    frame = load_csv(FAULTS / "r07a_one_example_class.csv").frame
    report = validate_mapping(frame, TrainConfig())
    assert not report.ok
    assert any("'neutral'" in p.message and "1 row" in p.message for p in report.errors)
    with pytest.raises(ValueError, match="'neutral'"):
        train(frame, TrainConfig())


def test_r07b_three_row_class_trains_with_a_warning(tiny_model_dir):
    frame = load_csv(FAULTS / "r07b_three_example_class.csv").frame
    result = train(frame, tiny(tiny_model_dir, epochs=1))
    assert list(result.model.classes_) == ["negative", "neutral", "positive"]
    assert any("'neutral' (3 rows)" in w for w in result.warnings)


def test_r08_int_labels_with_blanks_stay_0_1_and_evaluate_on_a_clean_file(tmp_path, tiny_model_dir, capsys):
    frame = load_csv(FAULTS / "r08a_int_labels_with_blanks.csv").frame
    assert frame["label"].dtype == float  # the fault: pandas reads 0/1 with blanks as floats
    assert set(validate_mapping(frame, TrainConfig()).class_counts) == {"0", "1"}
    out = tmp_path / "model"
    rc, _, err = run_cli(
        capsys, "train", "--data", str(FAULTS / "r08a_int_labels_with_blanks.csv"), "--text-col", "text",
        "--label-col", "label", "--out", str(out), "--base-model", str(tiny_model_dir), "--method", "full",
        "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--quiet",
    )
    assert rc == 0, err
    assert list(load_folder(out).classes_) == ["0", "1"]
    rc, stdout, err = run_cli(capsys, "evaluate", "--model", str(out), "--data", str(FAULTS / "r08b_int_labels_clean_eval.csv"), "--label-col", "label")
    assert rc == 0, err
    metrics = json.loads(stdout.strip().splitlines()[-1])
    truth = [row[1] for row in csv_rows("r08b_int_labels_clean_eval.csv")[1:]]
    assert "labels_not_in_model" not in metrics and metrics["rows_skipped"] == 0
    assert 0 <= metrics["macro_f1"] <= 1 and len(truth) == 40


def test_r09_probability_columns_match_classes_and_argmax(tmp_path, tiny_model_dir):
    frame = load_csv(FAULTS / "r09_label_order.csv").frame
    result = train(frame, tiny(tiny_model_dir, label_column="score", epochs=1))
    model = result.model
    assert list(model.classes_) == ["2", "10"]
    scored = predict_frame(model, frame.drop(columns="score"))
    proba = model.predict_proba(frame[["text"]])
    for i, c in enumerate(model.classes_):
        np.testing.assert_allclose(scored[f"p_{c}"].to_numpy(), proba[:, i], rtol=1e-5, atol=1e-6)
    assert scored["predicted_label"].tolist() == [model.classes_[i] for i in proba.argmax(axis=1)]


# --------------------------------------------------------------------------- regression targets


@pytest.mark.parametrize("name", ["r11_regression_inf_nan.csv", "r11b_regression_one_inf.csv"])
def test_r11_non_finite_targets_are_dropped_counted_and_named(name, tmp_path, tiny_model_dir, capsys):
    truth = csv_rows(name)[1:]

    def finite(cell: str) -> bool:
        try:
            return math.isfinite(float(cell))
        except ValueError:
            return False

    bad_rows = [i for i, row in enumerate(truth) if not finite(row[1])]  # 0-based, as in ISSUES.csv
    assert bad_rows  # the fault is in the file
    frame = load_csv(FAULTS / name).frame
    # Mostly numbers, a few 'n/a' or 'inf': a quantity, so regression is suggested (not "an id column").
    as_classes = validate_mapping(frame, TrainConfig(text_columns=("headline",), label_column="ctr"))
    assert as_classes.suggested_task == "regression"
    config = TrainConfig(text_columns=("headline",), label_column="ctr", task="regression")
    report = validate_mapping(frame, config)
    assert report.n_rows_used == len(truth) - len(bad_rows) and report.n_dropped == len(bad_rows)
    named = " ".join(p.message for p in report.warnings)
    listed = [int(n) for part in re.findall(r"row\(s\) ([\d, ]+) \(0 = the first row after the header\)", named)
              for n in part.split(",")]
    assert sorted(listed) == bad_rows[:10] or len(bad_rows) > 10 and set(listed) <= set(bad_rows)
    used = usable_rows(frame, config)["ctr"]
    assert np.isfinite(used.to_numpy(dtype=float)).all() and len(used) == report.n_rows_used
    out = tmp_path / "model"
    rc, stdout, err = run_cli(
        capsys, "train", "--data", str(FAULTS / name), "--text-col", "headline", "--label-col", "ctr",
        "--task", "regression", "--out", str(out), "--base-model", str(tiny_model_dir), "--method", "full",
        "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--quiet",
    )
    assert rc == 0, err
    assert "not a finite number" in err
    assert math.isfinite(json.loads(stdout.strip().splitlines()[-1])["model"]["rmse"])


# --------------------------------------------------------------------------- prediction files


def test_r12_huge_cell_is_truncated_for_the_model_and_written_back_whole(tmp_path, trained_tiny):
    from core.export import neutralise_csv_file

    _, folder = trained_tiny
    truth = csv_rows("r12_huge_cell.csv")[1:]
    csv.field_size_limit(DEFAULT_CSV_CELL)  # what a fresh process has: core must cope on its own
    predict_csv(load_folder(folder), FAULTS / "r12_huge_cell.csv", tmp_path / "out.csv")
    out = big_cells(lambda: list(csv.reader(open(tmp_path / "out.csv", newline="", encoding="utf-8"))))[1:]
    assert [row[0] for row in out] == [row[0] for row in truth]
    assert max(len(row[0]) for row in out) >= 150_000
    # The Predict page's "Download CSV" bytes (a walker's click gave no file: csv's cell limit).
    csv.field_size_limit(DEFAULT_CSV_CELL)
    download = neutralise_csv_file(tmp_path / "out.csv").decode("utf-8-sig")
    rows = big_cells(lambda: list(csv.reader(io.StringIO(download, newline=""))))[1:]
    assert [row[0] for row in rows] == [row[0] for row in truth]


def test_r13_formula_cells_are_neutralised_and_numbers_stay_numbers(tmp_path, trained_tiny):
    # The download/CLI rule (formula_safe) neutralises what a spreadsheet would run; the file the
    # app saves for itself keeps the text exactly (README, "Spreadsheet formulas in exports").
    _, folder = trained_tiny
    model = load_folder(folder)
    predict_csv(model, FAULTS / "r13_formula_cells.csv", tmp_path / "safe.csv", formula_safe=True)
    predict_csv(model, FAULTS / "r13_formula_cells.csv", tmp_path / "raw.csv")
    truth = csv_rows("r13_formula_cells.csv")[1:]
    safe = list(csv.reader(open(tmp_path / "safe.csv", newline="", encoding="utf-8")))[1:]
    raw = list(csv.reader(open(tmp_path / "raw.csv", newline="", encoding="utf-8")))[1:]
    for original, written, kept in zip(truth, safe, raw):
        assert kept[:2] == original[:2]
        for cell, got in zip(original[:2], written[:2]):
            if cell.lstrip(" ")[:1] in ("=", "\t", "\r") or cell[:1] in ("+", "@"):
                assert got.startswith("'") and got[1:] == cell, (cell, got)
    assert "-12.5" in [row[0] for row in safe]  # a real number is not a formula
    assert read_predictions(tmp_path / "safe.csv", model.task, model.classes_)["p_positive"].dtype == float


def test_r14a_missing_text_column_is_refused_listing_needed_and_found(tmp_path, trained_tiny, capsys):
    _, folder = trained_tiny
    with pytest.raises(ValueError) as info:
        predict_csv(load_folder(folder), FAULTS / "r14a_predict_missing_text.csv", tmp_path / "out.csv")
    assert "text" in str(info.value) and "'Text'" in str(info.value) and "'channel'" in str(info.value)
    rc, _, err = run_cli(capsys, "predict", "--model", str(folder), "--data", str(FAULTS / "r14a_predict_missing_text.csv"), "--out", str(tmp_path / "o.csv"))
    assert rc == 2 and "'channel'" in err and "Traceback" not in err


def test_r14b_colliding_columns_are_kept_and_new_ones_renamed(tmp_path, trained_tiny, capsys):
    _, folder = trained_tiny
    model = load_folder(folder)
    truth = csv_rows("r14b_predict_colliding_columns.csv")
    header = truth[0]
    summary = predict_csv(model, FAULTS / "r14b_predict_colliding_columns.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    for i, col in enumerate(header):  # the user's own columns and values, untouched
        assert out[col].tolist() == [row[i] for row in truth[1:]]
    assert summary.renamed == {"predicted_label": "predicted_label_2", "confidence": "confidence_2"}
    assert list(out.columns[len(header):]) == list(output_names(model, header).values())
    proba = model.predict_proba(pd.read_csv(FAULTS / "r14b_predict_colliding_columns.csv")[["text"]])
    np.testing.assert_allclose(out["confidence_2"].astype(float), proba.max(axis=1), rtol=1e-4)
    typed = read_predictions(tmp_path / "out.csv", model.task, model.classes_)
    assert typed["confidence_2"].dtype == float and typed["confidence"].tolist() == [0.99] * len(typed)
    rc, _, err = run_cli(capsys, "predict", "--model", str(folder), "--data", str(FAULTS / "r14b_predict_colliding_columns.csv"), "--out", str(tmp_path / "cli.csv"))
    assert rc == 0 and "predicted_label_2" in err


# --------------------------------------------------------------------------- kinds without files


def test_utf8_with_one_stray_cp1252_byte_stays_utf8_and_counts_the_line(tmp_path, trained_tiny):
    good = "text,label\nCafé 😀 naïve great,positive\nawful 💔 service,negative\n".encode()
    raw = good + b"caf\xe9 was bad,negative\n"  # 0xE9 is 'é' in cp1252, invalid in UTF-8
    decoded = decode_report(raw)
    assert decoded.encoding == "utf-8" and decoded.stray_bytes == 1 and decoded.stray_lines == (4,)
    loaded = load_csv(raw)
    assert loaded.frame["text"].tolist() == ["Café 😀 naïve great", "awful 💔 service", "café was bad"]
    assert "1 line" in loaded.describe()
    # Prediction reads the same file the same way, the user's emoji intact in the output.
    (tmp_path / "in.csv").write_bytes(raw)
    _, folder = trained_tiny
    predict_csv(load_folder(folder), tmp_path / "in.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert out["text"].tolist() == ["Café 😀 naïve great", "awful 💔 service", "café was bad"]
    # A real cp1252 file (no valid multi-byte UTF-8 at all) is still read as cp1252.
    assert decode_report("text\ncafé crème\n".encode("cp1252")).encoding == "cp1252"


def test_duplicated_texts_with_coin_flip_labels_never_cross_splits(tiny_model_dir):
    rng = np.random.default_rng(0)
    words = ["spring", "summer", "autumn", "winter", "flash", "member", "weekend", "holiday"]
    base = [f"the {a} offer beats the {b} sale" for a in words for b in words[:5]]  # 40 distinct texts
    texts, labels = [], []
    for text in base:  # each text 3-5 times, with case/space/URL/@/digit noise and random labels
        for _ in range(rng.integers(3, 6)):
            noisy = text.upper() if rng.random() < 0.3 else text
            noisy = noisy.replace("offer", "offer ") + (" https://t.co/x" + str(rng.integers(100)) if rng.random() < 0.5 else "")
            texts.append(noisy + (" @ann" if rng.random() < 0.3 else "") + f" {rng.integers(10, 99)}% off")
            labels.append(["positive", "negative"][rng.integers(2)])
    keys, _ = duplicate_groups(texts, labels, near=False)
    assert len(set(keys)) == len(base)  # the normaliser undoes every kind of noise added
    # The split's groups also join near copies (one word of the template differs): coarser, so
    # exact copies still never straddle (tests/test_duplicates.py tests the near copies).
    groups, message = duplicate_groups(texts, labels)
    splits = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=1, groups=groups)
    key_sets = {name: {keys[i] for i in idx} for name, idx in splits.items()}
    assert not key_sets["test"] & key_sets["train"] and not key_sets["validation"] & key_sets["train"]
    assert not key_sets["test"] & key_sets["validation"]
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(len(texts)))
    for name in ("train", "validation", "test"):
        assert {labels[i] for i in splits[name]} == {"positive", "negative"}
    conflicting = sum(len({labels[i] for i, k in enumerate(keys) if k == key}) > 1 for key in set(keys))
    assert f"{len(base)} text(s) occur more than once" in message and f"{conflicting} of them have different labels" in message
    # Training says so too, and its test split has no copy of a training text.
    frame = pd.DataFrame({"text": texts, "label": labels})
    result = train(frame, tiny(tiny_model_dir, epochs=1))
    assert any("occur more than once" in w for w in result.warnings)


def test_normalise_for_duplicates_ignores_case_space_urls_mentions_digits():
    a = normalise_for_duplicates("Great DEAL!  http://x.co/1 @bob 20% off")
    assert a == normalise_for_duplicates("great deal! https://y.io/22 @ann 35% off")
    assert a != normalise_for_duplicates("great meal! https://y.io/22 @ann 35% off")


def test_european_semicolon_export_with_decimal_comma_trains_regression(tiny_model_dir):
    values = [f"{i % 7},{(i * 37) % 100:02d}" for i in range(40)] + ["3", "1.234,5"]
    words = ["sale", "offer", "deal", "promo", "news", "tips", "guide"]
    rows = [f"{words[i % 7]} {words[i // 7 % 7]} {'now' if i > 40 else ''};{v};x" for i, v in enumerate(values)]
    raw = ("headline;ctr;note\n" + "\n".join(rows) + "\n").encode("cp1252")
    loaded = load_csv(raw)
    truth = [float(v.replace(".", "").replace(",", ".")) for v in values]
    assert loaded.delimiter == ";" and loaded.frame["ctr"].tolist() == truth
    assert "decimal comma" in loaded.describe()
    config = TrainConfig(text_columns=("headline",), label_column="ctr", task="regression")
    assert validate_mapping(loaded.frame, config).n_rows_used == 42
    # Read as text (a frame built elsewhere), the column still parses as a whole.
    as_text = pd.DataFrame({"headline": [row.split(";")[0] for row in rows], "ctr": values})
    assert usable_rows(as_text, config)["ctr"].tolist() == truth
    # When some values do not parse, the message names the decimal comma.
    broken = as_text.assign(ctr=values[:-1] + ["lots"])
    report = validate_mapping(broken, config)
    assert any("decimal comma" in p.message for p in report.warnings + report.errors)
    result = train(loaded.frame, tiny(tiny_model_dir, text_columns=("headline",), label_column="ctr", task="regression", epochs=1))
    assert math.isfinite(result.metrics["model"]["rmse"])


# The Train/Predict pages (AppTest) for every fault file: tests/test_faults_pages.py.


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["2,76", "1", "-3,5", "1.234,5"], [2.76, 1.0, -3.5, 1234.5]),  # decimal comma (de, fr, es...)
        (["1,234", "12", "2,500.5"], [1234.0, 12.0, 2500.5]),  # English thousands commas
        (["2.76", "1e3", "inf"], [2.76, 1000.0, math.inf]),  # plain; inf is kept for the caller to drop
        (["2,76", "lots"], [math.nan, math.nan]),  # not every value parses: nothing is guessed
    ],
)
def test_to_number_every_decimal_mark(cells, expected):
    from core.data import to_number

    got = to_number(pd.Series(cells, dtype=object)).tolist()
    assert [("nan" if math.isnan(g) else g) for g in got] == [("nan" if math.isnan(e) else e) for e in expected]


def test_delimited_exports_convert_decimal_commas_only_where_unambiguous():
    assert load_csv(b"a;b\nx;1,500\ny;2,000\n").frame["b"].tolist() == [1.5, 2.0]  # ';' file: European
    assert load_csv(b"a\tb\nx\t1,5\ny\t2,25\n").frame["b"].tolist() == [1.5, 2.25]
    assert load_csv(b"a\tb\nx\t1,234\ny\t2,000\n").frame["b"].tolist() == ["1,234", "2,000"]  # maybe thousands
    assert load_csv(b'a,b\nx,"1,5"\ny,"2,25"\n').frame["b"].tolist() == ["1,5", "2,25"]  # comma files untouched


# --------------------------------------------------------------------------- faults3: every export read one way
# tests/data/faults3 (README there). Each file goes through every reading entry point: the Python
# API (core.read_table, core.read_csv), the streamed reader of prediction and the Ray path
# (core.reading.open_stream + pandas_chunks), predict_csv and `python -m core predict|evaluate|
# check|train`; the rows each read are compared with one another and with a truth read here with
# the csv, gzip, json and openpyxl modules. The pages: tests/test_faults_pages.py.

FAULTS3 = Path(__file__).resolve().parents[1] / "data" / "faults3"
THE_FORMULA_MESSAGE = "holds formulas without saved results: open and save the workbook in Excel, or export it as CSV"


def cell(value) -> str:
    """One cell as comparable text: empty for missing, numbers by value (45292 == '45292' == 45292.0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def table_rows(frame: pd.DataFrame) -> tuple[list[str], list[tuple[str, ...]]]:
    return [str(c) for c in frame.columns], [tuple(cell(v) for v in row) for row in frame.itertuples(index=False)]


def faults3_truth(name: str, sheet: str | None = None) -> tuple[list[str], list[tuple[str, ...]]]:
    """The file's header and rows read without core: csv / gzip+csv / json per line / openpyxl
    (full mode, merged ranges filled from their first cell by hand)."""
    import gzip

    import openpyxl

    path = FAULTS3 / name
    if name.endswith(".xlsx"):
        book = openpyxl.load_workbook(path)
        sheet_ = book[sheet] if sheet else book.worksheets[0]
        grid = [[c.value for c in row] for row in sheet_.iter_rows()]
        for merged in sheet_.merged_cells.ranges:
            value = grid[merged.min_row - 1][merged.min_col - 1]
            for r in range(merged.min_row, merged.max_row + 1):
                for c in range(merged.min_col, merged.max_col + 1):
                    grid[r - 1][c - 1] = value
        grid = [row for row in grid if any(v not in (None, "") for v in row)]
        return [str(h) for h in grid[0]], [tuple(cell(v) for v in row) for row in grid[1:]]
    if name.endswith(".jsonl"):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        header = list(dict.fromkeys(k for r in records for k in r))
        return header, [tuple(cell(r.get(k)) for k in header) for r in records]
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    return rows[0], [tuple(cell(v) for v in row) for row in rows[1:]]


def streamed(path: Path, **kwargs) -> pd.DataFrame:
    from core.reading import open_stream, pandas_chunks

    return pd.concat(list(pandas_chunks(open_stream(path, **kwargs), 7)), ignore_index=True)


# (file, sheet): the files every entry point reads as a table (t05 is refused, t04's data is on 'Reviews').
READ_ALIKE = [("t00_base_train.csv", None), ("t01_multilabel_joined.csv", None), ("t03_xlsx_merged_label_cells.xlsx", None),
              ("t04_xlsx_cover_sheet_first.xlsx", "Reviews"), ("t04b_xlsx_to_score.xlsx", None),
              ("t06_dates_excel_serial.csv", None), ("t13_gzip.csv.gz", None), ("t14_reviews.jsonl", None)]


@pytest.mark.parametrize(("name", "sheet"), READ_ALIKE)
def test_faults3_every_reader_gives_the_same_rows_as_the_truth(name, sheet):
    import core

    truth = faults3_truth(name, sheet)
    read = {
        "read_table": table_rows(core.read_table(FAULTS3 / name, sheet=sheet).frame),
        "stream (predict, Ray)": table_rows(streamed(FAULTS3 / name, sheet=sheet)),
    }
    if sheet is None:
        read["read_csv"] = table_rows(core.read_csv(FAULTS3 / name))
    for entry, got in read.items():
        assert got == truth, entry
    if name.startswith("t03"):  # the merged labels: all 80 rows labelled, and the note says so
        loaded = core.read_table(FAULTS3 / name)
        assert loaded.frame["label"].notna().sum() == 80
        assert any("20 merged cell range(s)" in n and "B2:B5" in n for n in loaded.notes)


@pytest.mark.parametrize("name", ["t03_xlsx_merged_label_cells.xlsx", "t13_gzip.csv.gz", "t14_reviews.jsonl"])
def test_faults3_cli_predict_and_check_read_what_the_api_reads(name, tmp_path, trained_tiny, capsys):
    _, folder = trained_tiny
    header, rows = faults3_truth(name)
    rc, stdout, err = run_cli(capsys, "predict", "--model", str(folder), "--data", str(FAULTS3 / name),
                              "--out", str(tmp_path / "out.csv"), "--raw")
    assert rc == 0, err
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert table_rows(out[header]) == (header, rows)
    assert json.loads(stdout.strip().splitlines()[-1])["rows"] == len(rows)
    rc, stdout, err = run_cli(capsys, "check", "--data", str(FAULTS3 / name), "--text-col", "text", "--label-col",
                              "label", "--features", "tfidf", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 0, err
    if name.startswith("t03"):
        assert "merged cell range(s)" in err and "no label" not in err
    if name.endswith(".gz"):
        assert "unpacked from gzip" in err


def test_faults3_t04b_workbook_to_score_is_scored_as_train_reads_it(tmp_path, trained_tiny, capsys):
    from core.predict import predict_csv

    _, folder = trained_tiny
    header, rows = faults3_truth("t04b_xlsx_to_score.xlsx")
    summary = predict_csv(load_folder(folder), FAULTS3 / "t04b_xlsx_to_score.xlsx", tmp_path / "api.csv")
    rc, _, err = run_cli(capsys, "predict", "--model", str(folder), "--data", str(FAULTS3 / "t04b_xlsx_to_score.xlsx"),
                         "--out", str(tmp_path / "cli.csv"), "--sheet", "Reviews")
    assert rc == 0 and "tokeniz" not in err.lower(), err
    api = pd.read_csv(tmp_path / "api.csv", dtype=str, keep_default_na=False)
    cli = pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False)
    assert summary.n_rows == 20 and table_rows(api[header]) == table_rows(cli[header]) == (header, rows)
    assert api["predicted_label"].tolist() == cli["predicted_label"].tolist()


def test_sheet_on_a_csv_is_said_to_apply_to_workbooks_only(tmp_path, trained_tiny, capsys):
    """Walk finding: `predict --data file.csv --sheet Data` ignored --sheet without a word."""
    path = tmp_path / "rows.csv"
    pd.DataFrame({"text": ["great product", "awful service", "fine"]}).to_csv(path, index=False)
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path),
                         "--out", str(tmp_path / "with.csv"), "--sheet", "Data")
    assert rc == 0 and "sheet 'Data' was asked for, but a sheet applies to Excel workbooks only" in err, err
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path),
                         "--out", str(tmp_path / "without.csv"))
    assert rc == 0 and "workbooks only" not in err, err
    assert pd.read_csv(tmp_path / "with.csv").equals(pd.read_csv(tmp_path / "without.csv"))
    assert any("workbooks only" in n for n in read_table(path, sheet="Data").notes)


def test_a_missing_column_names_its_closest_match_in_another_sheet(tmp_path, capsys):
    """Walk finding: `--label-col Label` on a workbook whose sheet 'Data' has `label`: the message
    named the sheets but not that 'Data' holds the column."""
    path = tmp_path / "book.xlsx"
    data = pd.DataFrame({"text": ["great", "awful", "fine", "bad"] * 5, "label": ["pos", "neg", "pos", "neg"] * 5})
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"About this file": ["exported by the shop"]}).to_excel(writer, sheet_name="About", index=False)
        data.to_excel(writer, sheet_name="Data", index=False)
    rc, _, err = run_cli(capsys, "check", "--features", "tfidf", "--text-col", "text", "--label-col", "Label",
                         "--data", str(path), "--out", str(tmp_path / "o"))
    assert rc == 2 and "Sheet 'Data' has 'label' (closest to 'Label')." in err, err
    loaded = read_table(path, sheet="Data")
    loaded.require(["text", "label"])  # the truth: the sheet the test wrote holds both
    with pytest.raises(ValueError) as info:
        loaded.require(["Text"])
    assert "Closest match: 'Text' -> 'text'" in str(info.value) and "Sheet 'About' has" not in str(info.value)


def test_predicts_streamed_read_and_a_whole_read_name_another_sheets_closest_match_alike(tmp_path, trained_tiny,
                                                                                           capsys):
    """Walk finding: `predict` (the file streamed, core.reading.open_stream) did not name the other
    sheet holding the model's column, while a table read whole (`evaluate`, read_table) did: both
    now end their message with the one tail (core.reading.LoadedCsv.missing_hint)."""
    from core.predict import predict_csv
    from core.reading import open_stream

    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"comment": ["hi", "yo"], "label": ["pos", "neg"]}).to_excel(writer, sheet_name="Sheet1", index=False)
        pd.DataFrame({"Text": ["great", "awful"], "label": ["pos", "neg"]}).to_excel(writer, sheet_name="Reviews",
                                                                                    index=False)
    elsewhere = "Sheet 'Reviews' has 'Text' (closest to 'text')."
    model = str(trained_tiny[1])  # reads the column 'text'
    rc, _, err = run_cli(capsys, "predict", "--model", model, "--data", str(path), "--out", str(tmp_path / "o.csv"))
    assert rc == 2 and "found ['comment', 'label']" in err and elsewhere in err, err
    rc, _, err = run_cli(capsys, "evaluate", "--model", model, "--data", str(path), "--label-col", "label")
    assert rc == 2 and "found ['comment', 'label']" in err and elsewhere in err, err
    streamed, whole = open_stream(path, columns=["text"]), read_table(path, columns=["text"])
    assert streamed.missing_hint(["text"]) == whole.missing_hint(["text"]) and elsewhere in whole.missing_hint(["text"])
    from core.registry import load_folder

    with pytest.raises(ValueError, match=re.escape(elsewhere)):  # the Python API, streamed as the CLI
        predict_csv(load_folder(model), path, tmp_path / "api.csv")


def test_faults3_t04_cover_sheet_first_reads_the_sheet_with_the_columns_and_names_the_sheets(tmp_path, trained_tiny,
                                                                                              capsys):
    """Without --sheet every command reads the first sheet holding the columns it needs ('Reviews',
    not the cover sheet 'About') and says so naming both; --sheet still chooses, and a sheet without
    the columns gets a message naming the other sheet."""
    import core

    path = str(FAULTS3 / "t04_xlsx_cover_sheet_first.xlsx")
    header, rows = faults3_truth("t04_xlsx_cover_sheet_first.xlsx", "Reviews")
    named = "the workbook's sheets: ['About', 'Reviews']"
    rc, _, err = run_cli(capsys, "check", "--features", "tfidf", "--text-col", "text", "--data", path,
                         "--label-col", "label", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 0 and "read sheet 'Reviews'" in err and named in err, err
    rc, stdout, err = run_cli(capsys, "evaluate", "--model", str(trained_tiny[1]), "--data", path, "--label-col", "label")
    assert rc == 0 and named in err and json.loads(stdout.strip().splitlines()[-1])["rows_skipped"] == 0, err
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", path, "--out", str(tmp_path / "o.csv"))
    assert rc == 0 and named in err, err
    assert table_rows(pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)[header]) == (header, rows)
    assert table_rows(core.read_table(path, columns=["text", "label"]).frame) == (header, rows)
    assert table_rows(streamed(Path(path), columns=["text"])) == (header, rows)
    rc, _, err = run_cli(capsys, "check", "--features", "tfidf", "--text-col", "text", "--data", path, "--sheet", "About",
                         "--label-col", "label", "--out", str(tmp_path / "o"))
    assert rc == 2 and "'Reviews'" in err and "--sheet" in err and "'About this file'" in err, err
    # the cover sheet's second header cell is empty (openpyxl, the truth): said so, not pandas' 'Unnamed: 1'
    import openpyxl

    first_row = next(openpyxl.load_workbook(path, read_only=True)["About"].iter_rows(max_row=1, values_only=True))
    assert first_row[1] in (None, "") and "Unnamed" not in err and "(column 2 has no name)" in err, err
    with pytest.raises(ValueError, match="no sheet named 'Q3'; its sheets are \\['About', 'Reviews'\\]"):
        read_table(path, sheet="Q3")


def test_faults3_t05_unsaved_formulas_are_named_by_every_entry_point(tmp_path, trained_tiny, capsys):
    from core.predict import predict_csv

    path = FAULTS3 / "t05_xlsx_formula_labels_no_cache.xlsx"
    with pytest.raises(ValueError, match="sheet 'Reviews'") as info:
        read_table(path)
    assert f"column 'label' {THE_FORMULA_MESSAGE}" in str(info.value) and "no values" not in str(info.value)
    rc, _, err = run_cli(capsys, "check", "--features", "tfidf", "--data", str(path), "--text-col", "text",
                         "--label-col", "label", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 2 and THE_FORMULA_MESSAGE in err
    # Scoring reads 'text' only: the label's formulas are named in a note, the rows scored.
    summary = predict_csv(load_folder(trained_tiny[1]), path, tmp_path / "out.csv")
    assert summary.n_rows == 80 and any(THE_FORMULA_MESSAGE in n for n in summary.notes)


def test_faults3_t01_joined_tags_read_as_written():
    """Reading keeps each joined-tags cell exactly as written (detection of several tags per row
    is the multi-label part of issue 27, not the reader's)."""
    _, rows = faults3_truth("t01_multilabel_joined.csv")
    assert read_table(FAULTS3 / "t01_multilabel_joined.csv").frame["topics"].tolist() == [r[1] for r in rows]


def test_faults3_t01_all_three_spellings_read_as_tag_lists_and_train_per_tag_without_being_told(
        tmp_path, tiny_model_dir, capsys):
    """'|', '; ' and JSON lists in one column: each cell's tags as a person reads them (split here
    by hand), three tags, never a tag 'movies; food'; `train` without --multi-label learns them per
    tag and says so, as `check` and the Train page do (tests/core/test_multilabel_training.py)."""
    from core.models import load_folder
    from core.multilabel import detect, parse_labels

    _, rows = faults3_truth("t01_multilabel_joined.csv")
    cells = [r[1] for r in rows]
    truth = [json.loads(c) if c.startswith("[") else [t.strip() for t in re.split(r"[|;]", c)] for c in cells]
    found = detect(pd.Series(cells), "topics")
    assert found is not None and sorted(found.tags) == ["electronics", "food", "movies"]
    assert parse_labels(cells)[0] == truth
    path = str(FAULTS3 / "t01_multilabel_joined.csv")
    rc, _, err = run_cli(capsys, "train", "--data", path, "--text-col", "text", "--label-col", "topics",
                         "--base-model", str(tiny_model_dir), "--method", "lora", "--epochs", "1", "--max-length", "32",
                         "--quiet", "--out", str(tmp_path / "m"))
    assert rc == 0 and "Trained per tag" in err and "--no-multi-label" in err, err
    assert sorted(map(str, load_folder(tmp_path / "m").classes_)) == sorted({t for tags in truth for t in tags})
    # The Python API (and the Train page with its box unticked): trained as classes, but named.
    report = validate_mapping(read_table(path).frame, TrainConfig(text_columns=("text",), label_column="topics"))
    assert any("looks like several tags per row" in w.message for w in report.warnings)


def test_faults3_t01_no_multi_label_is_refused_naming_the_joined_values(tmp_path, capsys):
    """README: "when multi-label is off, a refusal naming the joined values; never a class called
    electronics|food". Truth: the joined cells of the file, read with the csv module."""
    _, rows = faults3_truth("t01_multilabel_joined.csv")
    joined = [r[1] for r in rows if r[1].startswith("[") or re.search(r"[|;]", r[1])]
    rc, out, err = run_cli(capsys, "train", "--data", str(FAULTS3 / "t01_multilabel_joined.csv"), "--text-col", "text",
                           "--label-col", "topics", "--no-multi-label", "--quiet", "--out", str(tmp_path / "m"))
    assert rc != 0 and not (tmp_path / "m").exists()
    assert f"{len(joined):,} rows join tags" in err and "refused" in err, err
    assert "Drop --no-multi-label" in err and "--multi-label" in err
    assert repr(max(set(joined), key=joined.count)) in err  # the commonest joined value, named


def test_faults3_t01_a_given_separator_that_leaves_joined_tags_is_said_on_stderr(tmp_path, tiny_model_dir, capsys):
    """Walk finding: `--multi-label --label-sep '|'` quietly made a tag 'movies; food'. Truth: the
    cells joined by ';' only, read with the csv module and counted here."""
    _, rows = faults3_truth("t01_multilabel_joined.csv")
    semi = [r[1] for r in rows if ";" in r[1] and "|" not in r[1] and not r[1].startswith("[")]
    assert semi
    rc, _, err = run_cli(capsys, "train", "--data", str(FAULTS3 / "t01_multilabel_joined.csv"), "--text-col", "text",
                         "--label-col", "topics", "--multi-label", "--label-sep", "|", "--base-model", str(tiny_model_dir),
                         "--method", "lora", "--epochs", "1", "--max-length", "32", "--quiet", "--out", str(tmp_path / "m"))
    assert rc == 0, err
    line = next(w for w in err.splitlines() if "another separator joins" in w)
    for value in set(semi):
        assert f"{value!r} ({semi.count(value)} row" in line, line
    assert f"{len(semi):,} rows in all" in line


def test_every_faults3_file_has_a_reading_test():
    covered = {n for n, _ in READ_ALIKE} | {"t05_xlsx_formula_labels_no_cache.xlsx"}
    assert {p.name for p in FAULTS3.iterdir() if p.name != "README.md"} == covered


# --------------------------------------------------------------------------- kinds described in issue 27, built here

WORDS = ["great", "awful", "fine", "slow", "fast", "cheap", "broken", "lovely", "late", "kind"]


def review_rows(n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[f"{WORDS[rng.integers(10)]} {WORDS[rng.integers(10)]}, really {i}", ["positive", "negative"][i % 2]]
            for i in range(n)]


def xlsx_bytes(rows: list[list], merged: tuple[str, ...] = ()) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Export"
    for row in rows:
        sheet.append(row)
    for ref in merged:
        sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


TITLE_BLOCKS = {
    "title": [["Q3 review export"]],
    "title, date, blank": [["Reviews by channel"], ["Exported", __import__("datetime").datetime(2024, 5, 1)], []],
    "merged title over the columns": [["Customer feedback, all channels", None, None]],
    "two notes and a date value": [["Source: CRM"], ["Owner: marketing"], ["As of", 45292]],
}


@pytest.mark.parametrize("block", sorted(TITLE_BLOCKS))
def test_a_title_block_above_an_excel_header_is_found_by_every_reader(block, tmp_path, trained_tiny, capsys):
    rows = review_rows(12, seed=len(block))
    title = TITLE_BLOCKS[block]
    header_at = len(title) + 1  # the row Excel shows
    merged = ("A1:C1",) if block.startswith("merged") else ()
    path = tmp_path / "export.xlsx"
    path.write_bytes(xlsx_bytes([*title, ["text", "label", "channel"], *[[*r, "web"] for r in rows]], merged))
    expected = (["text", "label", "channel"], [tuple(cell(v) for v in (*r, "web")) for r in rows])
    for columns in ((), ("text", "label")):  # found by its look (the pages), or by the columns asked for (CLI)
        loaded = read_table(path, columns=columns)
        assert table_rows(loaded.frame) == expected, columns
        assert any(f"header read from row {header_at}" in n for n in loaded.notes)
    assert table_rows(read_table(path, header_row=header_at).frame) == expected
    assert table_rows(streamed(path)) == expected
    with pytest.raises(ValueError, match=f"Row {header_at + 40} of sheet 'Export'"):
        read_table(path, header_row=header_at + 40)
    _, folder = trained_tiny
    rc, _, err = run_cli(capsys, "predict", "--model", str(folder), "--data", str(path), "--out", str(tmp_path / "o.csv"))
    assert rc == 0 and f"row {header_at}" in err, err
    assert table_rows(pd.read_csv(tmp_path / "o.csv", dtype=str).iloc[:, :3]) == expected


def test_a_title_row_that_names_half_the_columns_needs_the_columns_or_header_row(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(xlsx_bytes([["Region", "EMEA"], ["text", "label", "channel"], *[[*r, "web"] for r in review_rows(5)]]))
    assert list(read_table(path, columns=["text", "label"]).frame.columns) == ["text", "label", "channel"]
    assert list(read_table(path, header_row=2).frame.columns) == ["text", "label", "channel"]
    with pytest.raises(ValueError, match=r"found \['Region', 'EMEA'"):
        read_table(path).require(["text"])  # taken for the header: the message shows what was read


@pytest.mark.parametrize(("parts", "newline", "bom"), [(2, "\n", True), (3, "\r\n", True), (3, "\n", False)])
def test_a_concatenated_export_drops_its_repeated_headers_and_names_their_lines(parts, newline, bom, tmp_path,
                                                                                 trained_tiny, capsys):
    chunks, expected, header_lines, line = [], [], [], 0
    for p in range(parts):
        rows = review_rows(4 + p, seed=p)
        text = newline.join(["text,label", *(f'"{a}",{b}' for a, b in rows)]) + newline
        chunks.append(("\ufeff" if bom else "") + text)
        if p:
            header_lines.append(line + 1)
        line += 1 + len(rows)
        expected += [tuple(r) for r in rows]
    path = tmp_path / "joined.csv"
    path.write_bytes("".join(chunks).encode("utf-8"))
    loaded = read_table(path)
    assert table_rows(loaded.frame) == (["text", "label"], expected)
    assert "label" not in set(loaded.frame["label"])  # never a class called 'label'
    shown = ", ".join(map(str, header_lines))
    assert any(f"{parts - 1} repeated header row(s) dropped (line {shown})" in n for n in loaded.notes), loaded.notes
    assert table_rows(streamed(path)) == (["text", "label"], expected)
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path), "--out", str(tmp_path / "o.csv"))
    assert rc == 0 and f"line {shown}" in err
    assert table_rows(pd.read_csv(tmp_path / "o.csv", dtype=str)[["text", "label"]]) == (["text", "label"], expected)
    rc, _, err = run_cli(capsys, "check", "--data", str(path), "--text-col", "text", "--label-col", "label",
                         "--features", "tfidf", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 0 and f"line {shown}" in err


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_cr_only_line_ends_read_as_lf_and_crlf_do_everywhere(encoding, tmp_path, trained_tiny, capsys):
    rows = [[f"caf\u00e9 {a}, nice", b] for a, b in review_rows(9, seed=3)]
    files = {}
    for name, newline in (("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")):
        files[name] = tmp_path / f"{name}.csv"
        text = newline.join(["text,label", *(f'"{a}",{b}' for a, b in rows)]) + newline
        files[name].write_bytes(text.encode(encoding))
    expected = (["text", "label"], [tuple(r) for r in rows])
    for name, path in files.items():
        assert table_rows(read_table(path).frame) == expected, name
        assert table_rows(streamed(path)) == expected, name
    assert any("carriage returns only" in n for n in read_table(files["cr"]).notes)
    rc, _, err = run_cli(capsys, "evaluate", "--model", str(trained_tiny[1]), "--data", str(files["cr"]), "--label-col", "label")
    assert rc == 0 and json.loads(_.strip().splitlines()[-1])["rows_skipped"] == 0, err
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(files["cr"]),
                         "--out", str(tmp_path / "o.csv"))
    assert rc == 0, err
    assert table_rows(pd.read_csv(tmp_path / "o.csv", dtype=str)[["text", "label"]]) == expected


def gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


# One file of each kind, written by the test: (file name, bytes).
HEADER_ONLY_FILES = {
    "csv": ("h.csv", b"text,label\n"),
    "crlf tsv": ("h.tsv", b"text\tlabel\r\n"),
    "xlsx": ("h.xlsx", None),  # built in the test: a sheet with its header row only
    "gzip": ("h.csv.gz", gz(b"text,label\n")),
}
DUPLICATE_FILES = {
    "csv": ("d.csv", b"text,text,label\na,b,positive\nc,d,negative\n"),
    "spaced csv": ("d.csv", b"text , text,label\na,b,positive\nc,d,negative\n"),
    "xlsx": ("d.xlsx", None),
    "jsonl": ("d.jsonl", b'{"text": "a", "text": "b", "label": "positive"}\n'),
    "gzip": ("d.csv.gz", gz(b"text,text,label\na,b,positive\n")),
}


def written(tmp_path: Path, kind: str, files: dict, rows: list[list]) -> Path:
    name, data = files[kind]
    path = tmp_path / name
    path.write_bytes(xlsx_bytes(rows) if data is None else data)
    return path


@pytest.mark.parametrize("kind", sorted(HEADER_ONLY_FILES))
def test_a_header_only_file_gets_the_same_message_everywhere(kind, tmp_path, trained_tiny, capsys):
    from core.predict import predict_csv

    path = written(tmp_path, kind, HEADER_ONLY_FILES, [["text", "label"]])
    with pytest.raises(ValueError, match="header row but no data rows"):
        read_table(path)
    with pytest.raises(ValueError, match="header row but no data rows"):
        predict_csv(load_folder(trained_tiny[1]), path, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    model = str(trained_tiny[1])
    for command in (["predict", "--model", model, "--out", str(tmp_path / "o.csv")],
                    ["evaluate", "--model", model, "--label-col", "label"],
                    ["check", "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "I.csv")],
                    ["train", "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "m")]):
        rc, _, err = run_cli(capsys, *command, "--data", str(path))
        assert rc == 2 and "header row but no data rows" in err and "NotImplementedError" not in err, (command, err)


@pytest.mark.parametrize("kind", sorted(DUPLICATE_FILES))
def test_duplicate_column_names_get_the_same_message_everywhere(kind, tmp_path, trained_tiny, capsys):
    from core.predict import predict_csv

    path = written(tmp_path, kind, DUPLICATE_FILES, [["text", "text", "label"], ["a", "b", "positive"]])
    with pytest.raises(ValueError, match=r"duplicated name\(s\) \['text'\]"):
        read_table(path)
    with pytest.raises(ValueError, match=r"duplicated name\(s\) \['text'\]"):
        predict_csv(load_folder(trained_tiny[1]), path, tmp_path / "out.csv")  # never 'text.1' silently
    for command in (["predict", "--model", str(trained_tiny[1]), "--out", str(tmp_path / "o.csv")],
                    ["check", "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "I.csv")]):
        rc, _, err = run_cli(capsys, *command, "--data", str(path))
        assert rc == 2 and "duplicated name(s) ['text']" in err, (command, err)


def test_missing_column_messages_list_the_columns_found_and_the_closest(tmp_path, trained_tiny, capsys):
    path = tmp_path / "spelled.csv"
    path.write_text("Review Text,Label\ngreat,positive\nawful,negative\n", encoding="utf-8")
    model = str(trained_tiny[1])
    for command in (["predict", "--model", model, "--out", str(tmp_path / "o.csv")],
                    ["evaluate", "--model", model, "--label-col", "label"],
                    ["check", "--text-col", "review text", "--label-col", "label", "--out", str(tmp_path / "I.csv")],
                    ["train", "--text-col", "review_text", "--label-col", "Label", "--out", str(tmp_path / "m")]):
        rc, _, err = run_cli(capsys, *command, "--data", str(path))
        assert rc == 2 and "found ['Review Text', 'Label']" in err and "Closest match:" in err, (command, err)
    from core.data import validate_mapping

    report = validate_mapping(read_table(path).frame, TrainConfig(text_columns=("review text",), label_column="Label"))
    assert any("'review text' -> 'Review Text'" in p.message for p in report.errors)


def zipped(members: dict[str, bytes]) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("inner", ["reviews.csv", "reviews.jsonl", "reviews.xlsx"])
@pytest.mark.parametrize("packing", ["gz", "zip"])
def test_compressed_files_of_every_kind_read_as_unpacked_and_within_the_unpacked_limit(inner, packing, tmp_path):
    from core.limits import ReadLimitError, ReadLimits

    rows = review_rows(30, seed=7)
    if inner.endswith(".csv"):
        data = ("text,label\n" + "".join(f'"{a}",{b}\n' for a, b in rows)).encode()
    elif inner.endswith(".jsonl"):
        data = "".join(json.dumps({"text": a, "label": b}) + "\n" for a, b in rows).encode()
    else:
        data = xlsx_bytes([["text", "label"], *rows])
    plain = tmp_path / inner
    plain.write_bytes(data)
    packed = tmp_path / f"{inner}.gz" if packing == "gz" else tmp_path / "reviews.zip"
    packed.write_bytes(gz(data) if packing == "gz" else zipped({f"export/{inner}": data, "__MACOSX/._x": b"junk"}))
    expected = (["text", "label"], [tuple(r) for r in rows])
    assert table_rows(read_table(plain).frame) == expected
    assert table_rows(read_table(packed).frame) == expected
    assert table_rows(streamed(packed)) == expected
    with pytest.raises(ReadLimitError, match="max_unpacked_mb|MAX_UNPACKED_MB"):
        read_table(packed, limits=ReadLimits(max_unpacked_bytes=len(data) - 1))


def test_a_zip_of_several_files_is_refused_naming_them(tmp_path):
    path = tmp_path / "two.zip"
    path.write_bytes(zipped({"a.csv": b"text,label\nx,y\n", "b.csv": b"text,label\nx,y\n"}))
    with pytest.raises(ValueError, match=r"holding 2 files \['a.csv', 'b.csv'\]; expected one"):
        read_table(path)
