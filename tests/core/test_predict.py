"""Batch prediction: column mapping, empty rows, row count and order, formula safety, chunking,
encodings, reading results back, the CLI (incl. --fast), and the Predict charts."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from core import to_xlsx_bytes
from core.charts.predict import NO_PREDICTION, confidence_histogram, prediction_distribution, value_histogram
from core.cli import main as cli_main
from core.fastpath import FAST_PATH_FILE
from core.predict import (
    ERROR_COLUMN,
    low_confidence_rows,
    missing_columns,
    predict_csv,
    predict_frame,
    prediction_columns,
    prediction_overview,
    read_predictions,
)
from core.reading import open_stream, read_head

TEXTS = ["great phone", "awful service", "the dress was very bad", "love it", "worst order", "it is the best"]


@pytest.fixture
def model(trained_tiny):
    return trained_tiny[0].model


def write(path, frame: pd.DataFrame, **kwargs):
    frame.to_csv(path, index=False, **kwargs)
    return path


# ------------------------------------------------------------------ columns


def test_columns_come_from_the_saved_schema_and_column_map(model, tmp_path):
    assert model.input_columns == ["text"]
    assert missing_columns(model, ["id", "review"]) == ["text"]
    assert missing_columns(model, ["text", "id"]) == []
    renamed = pd.DataFrame({"id": range(len(TEXTS)), "review": TEXTS})
    mapped = predict_frame(model, renamed, column_map={"text": "review"})
    direct = predict_frame(model, pd.DataFrame({"text": TEXTS}))
    assert list(mapped["predicted_label"]) == list(direct["predicted_label"])
    np.testing.assert_allclose(mapped["confidence"], direct["confidence"], atol=1e-6)
    # Original columns first, untouched, then the prediction columns in order.
    assert list(mapped.columns) == ["id", "review", *prediction_columns(model)]
    assert prediction_columns(model) == ["predicted_label", "confidence", "p_negative", "p_positive", ERROR_COLUMN]

    src = write(tmp_path / "renamed.csv", renamed)
    predict_csv(model, src, tmp_path / "out.csv", column_map={"text": "review"})
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out["predicted_label"]) == list(direct["predicted_label"])


def test_missing_column_error_says_what_is_needed_and_what_is_there(model, tmp_path):
    df = pd.DataFrame({"id": [1], "review": ["great"]})
    with pytest.raises(ValueError, match=r"lacks column\(s\) the model needs: \['text'\]; found \['id', 'review'\]"):
        predict_frame(model, df)
    with pytest.raises(ValueError, match=r"text \(mapped to 'nope'\)"):
        predict_frame(model, df, column_map={"text": "nope"})
    src = write(tmp_path / "in.csv", df)
    with pytest.raises(ValueError, match="lacks column"):
        predict_csv(model, src, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]  # no partial file left behind


def test_header_names_are_stripped_like_load_csv(model, tmp_path):
    src = tmp_path / "spaces.csv"
    src.write_text(" id , text \n1,great\n2,awful\n", encoding="utf-8")
    predict_csv(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:2]) == ["id", "text"] and len(out) == 2
    assert list(read_head(src).columns) == ["id", "text"]


# ------------------------------------------------------------------ rows


def test_empty_text_rows_get_an_error_note_and_an_empty_label(model, tmp_path):
    df = pd.DataFrame({"id": [1, 2, 3, 4], "text": ["great phone", "", "   ", "awful"]})
    src = write(tmp_path / "in.csv", df)
    summary = predict_csv(model, src, tmp_path / "out.csv")
    assert summary.n_rows == 4 and summary.n_errors == 2
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    assert out["id"].tolist() == [1, 2, 3, 4]
    assert out["predicted_label"].fillna("").tolist()[1:3] == ["", ""]
    assert out["confidence"].isna().tolist() == [False, True, True, False]
    assert out["p_positive"].isna().tolist() == [False, True, True, False]
    assert out[ERROR_COLUMN].fillna("").tolist()[0] == ""
    assert all("no text" in e for e in out[ERROR_COLUMN][1:3])
    assert set(out["predicted_label"][[0, 3]]) <= {"negative", "positive"}


def test_row_count_kept_with_quoted_newlines_commas_and_quotes(model, tmp_path):
    texts = ['great, really "great"\nphone', "awful\r\nservice, never again", "line1\n\nline3", ",", '"']
    df = pd.DataFrame({"id": range(5), "text": texts, "note": ["a,b", "c\nd", "", "x", "y"]})
    src = write(tmp_path / "in.csv", df)
    summary = predict_csv(model, src, tmp_path / "out.csv", chunk_rows=2)
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert summary.n_rows == len(out) == 5
    assert out["id"].tolist() == list(range(5))
    assert out["text"].tolist() == texts
    assert out["note"].tolist() == ["a,b", "c\nd", "", "x", "y"]


def test_a_lone_carriage_return_inside_a_cell_does_not_split_the_row(model, tmp_path):
    src = tmp_path / "cr.csv"
    src.write_bytes(b'id,text\r\n1,"great\rphone"\r\n2,awful\r\n')
    predict_csv(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["id"].tolist() == [1, 2] and out["text"].tolist() == ["great\rphone", "awful"]


def test_blank_line_in_a_one_column_file_is_an_empty_row_not_a_dropped_one(model, tmp_path):
    src = tmp_path / "one.csv"
    src.write_text("text\ngreat phone\n\nawful\n", encoding="utf-8")
    summary = predict_csv(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert summary.n_rows == 3 and out["text"].tolist() == ["great phone", "", "awful"]
    assert out["predicted_label"][1] == "" and out[ERROR_COLUMN][1]


def test_order_preserved_under_length_sorting(model):
    texts = ["great " * 12, "awful", "great", "awful " * 7, "the phone was perfect and the service great", "bad"]
    df = pd.DataFrame({"id": range(len(texts)), "text": texts})
    together = predict_frame(model, df, batch_size=2)
    one_by_one = pd.concat([predict_frame(model, df.iloc[[i]]) for i in range(len(df))])
    assert together["id"].tolist() == list(range(len(texts)))
    assert together["predicted_label"].tolist() == one_by_one["predicted_label"].tolist()
    np.testing.assert_allclose(together["p_positive"], one_by_one["p_positive"], atol=1e-5)


def test_chunked_output_identical_to_one_shot(model, tmp_path):
    rng = np.random.default_rng(0)
    words = ["great", "awful", "the", "phone", "dress", "very", "bad", "love", "=1+1", "a, b", "x\ny"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 9))) for _ in range(53)]
    df = pd.DataFrame({"id": range(53), "text": texts, "score": rng.normal(size=53).round(3)})
    src = write(tmp_path / "in.csv", df)
    predict_csv(model, src, tmp_path / "chunked.csv", chunk_rows=7)
    predict_csv(model, src, tmp_path / "whole.csv", chunk_rows=100_000)
    chunked = pd.read_csv(tmp_path / "chunked.csv", dtype=str, keep_default_na=False)
    whole = pd.read_csv(tmp_path / "whole.csv", dtype=str, keep_default_na=False)
    assert len(chunked) == len(whole) == 53
    assert (tmp_path / "chunked.csv").stat().st_mode & 0o777 == 0o600  # owner-only, whatever the umask (022 here)
    probability_columns = ["confidence", "p_negative", "p_positive"]
    other = [c for c in whole.columns if c not in probability_columns]
    pd.testing.assert_frame_equal(chunked[other], whole[other])
    # Batches are composed differently (length sorting within a chunk): floats may differ in
    # the last bits, never more.
    np.testing.assert_allclose(
        chunked[probability_columns].replace("", "nan").astype(float),
        whole[probability_columns].replace("", "nan").astype(float),
        atol=1e-6,
    )


def test_progress_reports_rows_and_eta(model, tmp_path):
    src = write(tmp_path / "in.csv", pd.DataFrame({"text": TEXTS * 4}))
    events = []
    predict_csv(model, src, tmp_path / "out.csv", chunk_rows=10, on_progress=events.append)
    assert [e.step for e in events] == [10, 20, 24]
    assert all(e.phase == "predict" and e.total_steps == 24 for e in events)
    assert [e.fraction for e in events] == pytest.approx([10 / 24, 20 / 24, 1.0])
    assert events[-1].eta_s == pytest.approx(0.0)


def test_header_only_and_empty_files_are_refused(model, tmp_path):
    (tmp_path / "header.csv").write_text("text\n")
    with pytest.raises(ValueError, match="no data rows"):
        predict_csv(model, tmp_path / "header.csv", tmp_path / "out.csv")
    (tmp_path / "empty.csv").write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        predict_csv(model, tmp_path / "empty.csv", tmp_path / "out.csv")
    (tmp_path / "ragged.csv").write_text("id,text\n1,great\n2,awful,extra,fields\n")
    with pytest.raises(ValueError, match=r"Row 3 of the file has 4 fields but the header names 2 columns"):
        predict_csv(model, tmp_path / "ragged.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------ right answers
# The truth is the model's own predict_proba on the same texts, computed here: argmax -> label,
# max -> confidence, p_<class> columns in classes_ order.

# Labels whose first appearance (2, 10, 7), string order (10, 2, 7) and numeric order (2, 7, 10)
# all differ, as in /work/shared/data/faults/r09_label_order.csv.
ODD_LABELS = {"positive": "2", "negative": "10", "neutral": "7"}


@pytest.fixture(scope="module")
def odd_order_model(tiny_model_dir):
    from core import TrainConfig, train
    from tests.conftest import make_sentiment_frame

    df = make_sentiment_frame(150, classes=3)
    df["label"] = df["label"].map(ODD_LABELS)
    config = TrainConfig(base_model=str(tiny_model_dir), method="full", epochs=3, batch_size=16, learning_rate=3e-3,
                         max_length=32, early_stopping_patience=100)
    return train(df, config).model


def _assert_matches_predict_proba(model, texts, result):
    """``result`` (predict_frame output, or a prediction CSV read as text) against predict_proba."""
    proba = np.asarray(model.predict_proba(pd.DataFrame({"text": texts})), dtype=float)
    classes = [str(c) for c in model.classes_]
    assert proba.shape == (len(texts), len(classes))
    # Each row must be decisive enough that argmin, min or a column swap shows.
    assert (proba.max(axis=1) - proba.min(axis=1) > 1e-3).all()
    assert result["predicted_label"].astype(str).tolist() == [classes[i] for i in proba.argmax(axis=1)]
    np.testing.assert_allclose(result["confidence"].astype(float), proba.max(axis=1), atol=1e-5)
    assert [c for c in result.columns if c.startswith("p_")] == [f"p_{c}" for c in classes]
    for i, c in enumerate(classes):
        np.testing.assert_allclose(result[f"p_{c}"].astype(float), proba[:, i], atol=1e-5, err_msg=c)


MIXED = TEXTS + ["the phone was very", "it is a dress", "bad bad service", "love the order"]


def test_predict_frame_labels_confidence_and_columns_match_predict_proba(model):
    _assert_matches_predict_proba(model, MIXED, predict_frame(model, pd.DataFrame({"text": MIXED})))


def test_predict_frame_with_labels_whose_sorted_order_differs_from_first_appearance(odd_order_model):
    classes = [str(c) for c in odd_order_model.classes_]
    assert sorted(classes) == ["10", "2", "7"]
    result = predict_frame(odd_order_model, pd.DataFrame({"text": MIXED}))
    _assert_matches_predict_proba(odd_order_model, MIXED, result)
    assert set(result["predicted_label"]) <= set(ODD_LABELS.values())


def test_predict_csv_columns_match_predict_proba_in_every_chunk(odd_order_model, tmp_path):
    texts = MIXED * 3
    src = write(tmp_path / "in.csv", pd.DataFrame({"id": range(len(texts)), "text": texts}))
    predict_csv(odd_order_model, src, tmp_path / "out.csv", chunk_rows=7, batch_size=4)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)  # as written, untyped
    assert out["id"].tolist() == [str(i) for i in range(len(texts))]
    _assert_matches_predict_proba(odd_order_model, texts, out)


def test_the_sentiment_model_is_right_on_obvious_texts(model):
    # Independent of predict_proba: the tiny model learned the sentiment words.
    result = predict_frame(model, pd.DataFrame({"text": ["great phone", "awful service", "love it", "worst order"]}))
    assert result["predicted_label"].tolist() == ["positive", "negative", "positive", "negative"]


# ------------------------------------------------------------------ formula injection

HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tgreat", "\rawful", "-12.5", "great phone",
           "@united thanks for the help"]


def _hostile_prediction(model, tmp_path, **kwargs):
    df = pd.DataFrame({"id": range(len(HOSTILE)), "text": HOSTILE, "=cmd": ["=HYPERLINK(\"x\")"] * len(HOSTILE)})
    src = write(tmp_path / "in.csv", df, lineterminator="\r\n")  # quotes the lone "\r" cell
    predict_csv(model, src, tmp_path / "out.csv", **kwargs)
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_formula_safe_output_neutralises_formula_cells_only(model, tmp_path):
    rows = _hostile_prediction(model, tmp_path, formula_safe=True)
    header, body = rows[0], rows[1:]
    assert header[2] == "'=cmd"  # header cells are cells too
    texts = [r[1] for r in body]
    assert texts[:6] == ["'=1+1", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1:A2)", "'\tgreat", "'\rawful"]
    assert texts[6:] == ["-12.5", "great phone", "@united thanks for the help"]  # number, text, mention
    assert all(r[2] == "'=HYPERLINK(\"x\")" for r in body)
    conf = header.index("confidence")
    for r in body:
        assert 0.0 <= float(r[conf]) <= 1.0  # numeric, not "'0.93"


def test_the_saved_prediction_file_keeps_the_text_exactly_and_xlsx_too(model, tmp_path):
    rows = _hostile_prediction(model, tmp_path)  # the file the Predict page and the Dashboard read
    assert rows[0][:3] == ["id", "text", "=cmd"]
    assert [r[1] for r in rows[1:]] == HOSTILE
    assert all(r[2] == "=HYPERLINK(\"x\")" for r in rows[1:])

    from openpyxl import load_workbook

    frame = read_predictions(tmp_path / "out.csv", model.task, model.classes_)
    assert frame["text"].tolist() == HOSTILE  # what the Predict preview shows
    sheet = load_workbook(io.BytesIO(to_xlsx_bytes(frame))).active
    values = list(sheet.iter_rows(values_only=True))
    xlsx_header = list(values[0])
    assert xlsx_header[:3] == ["id", "text", "=cmd"]
    cells = {name: [sheet.cell(row=r + 2, column=i + 1) for r in range(len(HOSTILE))] for i, name in enumerate(xlsx_header)}
    assert [c.value for c in cells["text"]] == HOSTILE  # no apostrophe in the value
    assert all(c.data_type == "s" for c in cells["text"]) and all(c.data_type == "s" for c in cells["=cmd"])
    for name in ("confidence", "p_negative", "p_positive"):
        assert all(c.data_type == "n" and isinstance(c.value, float) for c in cells[name]), name
    assert all(isinstance(c.value, int) for c in cells["id"])  # plain numbers read back as numbers


def test_read_predictions_keeps_ids_with_leading_zeros_as_text(model, tmp_path):
    df = pd.DataFrame({"zip": ["02134", "10001"], "big_id": ["12345678901234567890", "1"], "n": ["3", "4.5"],
                       "text": ["great", "awful"]})
    src = write(tmp_path / "in.csv", df)
    predict_csv(model, src, tmp_path / "out.csv")
    frame = read_predictions(tmp_path / "out.csv", model.task, model.classes_)
    assert frame["zip"].tolist() == ["02134", "10001"]
    assert frame["big_id"].tolist() == ["12345678901234567890", "1"]
    assert frame["n"].tolist() == [3.0, 4.5]
    assert frame["confidence"].dtype == float and pd.api.types.is_string_dtype(frame["predicted_label"])
    assert len(read_predictions(tmp_path / "out.csv", model.task, model.classes_, nrows=1)) == 1
    assert read_predictions(tmp_path / "out.csv", model.task, model.classes_, skiprows=1)["text"].tolist() == ["awful"]


# ------------------------------------------------------------------ encodings


def test_gbk_file_predicts_and_the_output_is_utf8(model, tmp_path):
    texts = ["质量很好，很喜欢", "服务差，失望，退货", "不错"]
    src = tmp_path / "gbk.csv"
    src.write_bytes(pd.DataFrame({"id": [1, 2, 3], "text": texts}).to_csv(index=False).encode("gbk"))
    assert open_stream(src).encoding == "gb18030"
    summary = predict_csv(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", encoding="utf-8")
    assert summary.n_rows == 3 and out["text"].tolist() == texts
    assert set(out["predicted_label"]) <= {"negative", "positive"}
    direct = predict_frame(model, pd.DataFrame({"text": texts}))
    assert out["predicted_label"].tolist() == direct["predicted_label"].tolist()


def test_utf8_sample_cut_inside_a_character_is_still_utf8(tmp_path):
    src = tmp_path / "zh.csv"
    # The first MB (the sample judged) ends one byte into "质": a naive decode fails as UTF-8.
    head = b"text\n" + b"x\n" * ((1 << 20) // 2 - 3)
    src.write_bytes(head + "质量很好\n好\n".encode())
    assert len(head) == (1 << 20) - 1
    assert open_stream(src).encoding == "utf-8"


def test_semicolon_delimited_cp1252_file(model, tmp_path):
    src = tmp_path / "semi.csv"
    src.write_bytes("id;text\n1;café great\n2;awful – never\n".encode("cp1252"))
    predict_csv(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["text"].tolist() == ["café great", "awful – never"]


# ------------------------------------------------------------------ reading results back


def test_overview_and_low_confidence_rows_are_read_in_chunks(model, tmp_path, monkeypatch):
    import core.predict as predict_module

    texts = TEXTS * 5 + ["", "great"]
    src = write(tmp_path / "in.csv", pd.DataFrame({"id": range(len(texts)), "text": texts}))
    predict_csv(model, src, tmp_path / "out.csv")
    whole = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    monkeypatch.setattr(predict_module, "READ_CHUNK_ROWS", 4)  # many chunks on a small file

    ov = prediction_overview(tmp_path / "out.csv", model.task, model.classes_, bins=10)
    assert ov.n_rows == 32 and ov.n_errors == 1
    assert ov.label_counts[""] == 1
    expected = whole["predicted_label"].fillna("").value_counts().to_dict()
    assert {k: v for k, v in ov.label_counts.items() if v} == expected
    assert len(ov.hist_edges) == 11
    assert sum(int(c.sum()) for c in ov.hist_counts.values()) == 31
    for label, counts in ov.hist_counts.items():
        conf = whole.loc[whole["predicted_label"] == label, "confidence"]
        assert counts.tolist() == np.histogram(conf, bins=ov.hist_edges)[0].tolist()

    threshold = float(whole["confidence"].median())
    low, total = low_confidence_rows(tmp_path / "out.csv", model.task, model.classes_, threshold, limit=5)
    below = whole[whole["confidence"] < threshold].sort_values("confidence", kind="stable")
    assert total == len(below)
    assert len(low) == min(5, total)
    assert low["confidence"].tolist() == pytest.approx(below["confidence"].head(5).tolist())
    assert low["row"].tolist() == below.index[:5].tolist()  # counted from 0, as ISSUES.csv and messages
    assert low["text"].tolist() == below["text"].head(5).tolist()
    none, zero = low_confidence_rows(tmp_path / "out.csv", model.task, model.classes_, 0.0)
    assert zero == 0 and len(none) == 0 and "row" in none.columns


# ------------------------------------------------------------------ CLI


@pytest.fixture
def model_copy(trained_tiny, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(trained_tiny[1], folder)
    return folder


def run(argv, capsys):
    code = cli_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_predict_writes_every_row(model_copy, tmp_path, capsys):
    src = write(tmp_path / "in.csv", pd.DataFrame({"id": [1, 2, 3], "text": ["great", "", "awful,\n\"bad\""]}))
    code, out, err = run(["predict", "--model", str(model_copy), "--data", str(src), "--out", str(tmp_path / "o.csv"),
                          "--batch-size", "2"], capsys)
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["rows"] == 3 and report["rows_without_prediction"] == 1
    assert "predicted 3/3 rows" in err  # progress on stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) == 3


def test_cli_predict_output_neutralises_formulas_and_raw_keeps_them(model_copy, tmp_path, capsys):
    texts = ["=HYPERLINK(\"http://x\")", "@united thanks for the help", "@SUM(A1)", "-2+3", "-3.5"]
    src = write(tmp_path / "in.csv", pd.DataFrame({"text": texts}))
    base = ["predict", "--model", str(model_copy), "--data", str(src)]
    assert run([*base, "--out", str(tmp_path / "safe.csv")], capsys)[0] == 0
    assert run([*base, "--out", str(tmp_path / "raw.csv"), "--raw"], capsys)[0] == 0
    safe = pd.read_csv(tmp_path / "safe.csv", dtype=str, keep_default_na=False)
    raw = pd.read_csv(tmp_path / "raw.csv", dtype=str, keep_default_na=False)
    assert safe["text"].tolist() == ["'=HYPERLINK(\"http://x\")", "@united thanks for the help", "'@SUM(A1)", "'-2+3",
                                     "-3.5"]
    assert raw["text"].tolist() == texts
    assert safe.drop(columns="text").equals(raw.drop(columns="text"))  # the predictions are the same


def _record(passed: bool) -> dict:
    return {"passed": passed, "method": "bf16" if passed else None, "candidates": {},
            "reason": "labels agree on 90.0% of test rows (needs >= 99%)" if not passed else "ok",
            "torch_version": torch.__version__}


def test_cli_fast_refused_when_the_recorded_check_failed(model_copy, tmp_path, capsys):
    (model_copy / FAST_PATH_FILE).write_text(json.dumps(_record(False)))
    src = write(tmp_path / "in.csv", pd.DataFrame({"text": ["great"]}))
    code, _, err = run(["predict", "--model", str(model_copy), "--data", str(src), "--out", str(tmp_path / "o.csv"),
                        "--fast"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == ("error: --fast is not offered for this model: labels agree on 90.0% of test rows "
                           "(needs >= 99%). Run without --fast.")
    assert not (tmp_path / "o.csv").exists()


def test_cli_fast_accepted_when_the_recorded_check_passed(model_copy, tmp_path, capsys):
    (model_copy / FAST_PATH_FILE).write_text(json.dumps(_record(True)))
    src = write(tmp_path / "in.csv", pd.DataFrame({"text": TEXTS}))
    code, out, err = run(["predict", "--model", str(model_copy), "--data", str(src), "--out", str(tmp_path / "o.csv"),
                          "--fast"], capsys)
    assert code == 0, err
    assert "checking" not in err  # the recorded check is reused
    fast = pd.read_csv(tmp_path / "o.csv")
    assert len(fast) == len(TEXTS) and set(fast["predicted_label"]) <= {"negative", "positive"}


def test_cli_fast_runs_the_check_once_when_missing(model_copy, tmp_path, capsys, monkeypatch):
    import core.fastpath as fastpath
    from core.models import TextClassifier

    # Timing fixed (each fast form 2x faster) so that only the labels decide, computed here.
    monkeypatch.setattr(fastpath, "timed_predict", lambda m, texts: (
        1.0 if m.quantized else 2.0, np.asarray(m.predict(texts), dtype=str).astype(object)))
    test = pd.read_csv(model_copy / "test_predictions.csv")
    texts, truth = test["text"].tolist(), test["true_label"].astype(str).to_numpy()
    fp32 = TextClassifier.load(model_copy).predict(texts).astype(str)
    offered = False
    for method in ("int8", "bf16"):
        fast = TextClassifier.load(model_copy).quantize(method).predict(texts).astype(str)
        offered |= bool(np.mean(fast == fp32) >= 0.99 and np.mean(fp32 == truth) - np.mean(fast == truth) < 0.005)

    src = write(tmp_path / "in.csv", pd.DataFrame({"text": TEXTS}))
    argv = ["predict", "--model", str(model_copy), "--data", str(src), "--out", str(tmp_path / "o.csv"), "--fast"]
    code, _, err = run(argv, capsys)
    record = json.loads((model_copy / FAST_PATH_FILE).read_text())
    assert "checking the fast path (int8, bf16)" in err
    assert code == (0 if offered else 2)
    assert record["n_rows"] == len(pd.read_csv(model_copy / "test_predictions.csv"))
    code_again, _, err_again = run(argv, capsys)
    assert code_again == code and "checking" not in err_again


# ------------------------------------------------------------------ charts


def test_prediction_distribution_orders_classes_and_shows_missing_last():
    fig = prediction_distribution({"positive": 6, "": 2, "negative": 2, "other": 1}, ["negative", "positive"])
    bar = fig.data[0]
    assert list(bar.x) == ["negative", "positive", "other", NO_PREDICTION]
    assert list(bar.y) == [2, 6, 1, 2]
    assert list(bar.customdata) == pytest.approx([2 / 11, 6 / 11, 1 / 11, 2 / 11])
    assert fig.layout.xaxis.type == "category"
    assert list(prediction_distribution({"a": 3}, ["a", "b"]).data[0].y) == [3, 0]


def test_confidence_histogram_stacks_binned_counts_per_label():
    edges = np.linspace(0, 1, 5)
    fig = confidence_histogram(edges, {"positive": np.array([0, 1, 2, 3]), "negative": np.array([4, 0, 0, 1])},
                               ["negative", "positive"], threshold=0.6)
    assert [t.name for t in fig.data] == ["negative", "positive"]
    assert list(fig.data[0].x) == pytest.approx([0.125, 0.375, 0.625, 0.875])
    assert list(fig.data[1].y) == [0, 1, 2, 3]
    assert fig.layout.barmode == "stack"
    assert fig.layout.shapes[0].x0 == 0.6
    with pytest.raises(ValueError, match="bins"):
        confidence_histogram(edges, {"a": np.array([1, 2])})


def test_value_histogram_for_regression():
    fig = value_histogram(np.array([0.0, 1.0, 2.0]), np.array([3, 4]))
    assert list(fig.data[0].x) == [0.5, 1.5] and list(fig.data[0].y) == [3, 4]
    with pytest.raises(ValueError):
        value_histogram(np.array([0.0, 1.0]), np.array([3, 4]))


def test_a_file_over_max_rows_is_refused_before_anything_is_written(model, tmp_path):
    source, out = tmp_path / "six.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": ["great", "awful", "love it", "bad", "the best", "worst"]}).to_csv(source, index=False)
    with pytest.raises(ValueError, match="This file has 6 rows; the browser scores up to 5 rows per file"):
        predict_csv(model, source, out, max_rows=5)
    assert not out.exists() and not list(tmp_path.glob("*.partial*"))
    assert predict_csv(model, source, out, max_rows=6).n_rows == 6  # at the limit: scored
