"""Every fault file in tests/data/faults through the Train page (or the Predict page) in AppTest:
the page shows the behaviour its README row asks for, and never an exception or a traceback.

Truths are independent of the code under test: Python's csv module over the file decoded with
its known encoding, float() over the raw cells, the model's own predict_proba. No test trains on
the page: the Predict page uses the tiny model of tests/conftest.py, or one trained on the fault
file once per module through the API.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import load_csv, train
from core.registry import load_folder
from core.words import rows_words
from tests.core.test_faults import FAULTS, csv_rows, tiny
from tests.ui.test_page_predict import downloads  # noqa: F401 - a fixture used below
from tests.ui.test_page_predict import open_page as open_predict
from tests.ui.test_page_train import figures, open_train, texts
from tests.ui.test_page_train_data import put

# Files whose text is not UTF-8 with commas: (encoding, delimiter) for the csv module's truth.
READ_AS = {"r01_bom_spaced_header.csv": ("utf-8-sig", ","), "r05a_excel_unicode_text_utf16.csv": ("utf-16", "\t")}


def truth(name: str) -> list[list[str]]:
    encoding, delimiter = READ_AS.get(name, ("utf-8-sig", ","))
    return csv_rows(name, encoding, delimiter)


def everything_shown(at) -> str:
    """All text the page shows in messages, captions and markdown."""
    return "\n".join(texts(getattr(at, kind)) for kind in ("error", "warning", "info", "success", "caption", "markdown"))


def assert_clean(at) -> None:
    """No exception and no traceback anywhere on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in everything_shown(at)


def label_chart_classes(at) -> list[str]:
    """The classes on the Train page's label distribution chart (x of its bar)."""
    bars = [f for f in figures(at) if f["data"] and f["data"][0]["type"] == "bar"
            and f["layout"].get("title", {}).get("text") == "Label distribution"]
    assert bars, "no label distribution chart"
    return [str(x) for x in bars[0]["data"][0]["x"]]


def usable_rows(rows: list[list[str]], label_at: int = 1) -> int:
    return sum(1 for row in rows[1:] if row[0].strip() and row[label_at].strip())


# --------------------------------------------------------------------------- Train page


def train_r01(at, rows):
    assert at.session_state["train_data"].frame.columns.tolist() == ["text", "label"]
    assert at.multiselect(key="train_text_cols").value == ["text"]
    assert at.selectbox(key="train_label_col").value == "label"
    assert f"All {len(rows) - 1} rows are usable" in everything_shown(at)


def train_r03(at, rows):
    at.selectbox(key="train_label_col").set_value("region").run()
    assert sorted(label_chart_classes(at)) == sorted({row[1] for row in rows[1:]})
    na_like = {row[1] for row in rows[1:]} & {"NA", "N/A", "None", "null", "NULL", "nan", "NaN", "n/a"}
    assert len(na_like) >= 3 and na_like <= set(label_chart_classes(at))  # classes, not missing values
    assert f"All {len(rows) - 1} rows are usable" in everything_shown(at)
    frame = at.session_state["train_data"].frame
    assert frame["region"].tolist() == [row[1] for row in rows[1:]]  # strings, never missing


def train_r04(at, rows):
    assert all(len(row) == 3 and row[2] == "" for row in rows[1:])  # the fault is in the file
    frame = at.session_state["train_data"].frame
    assert frame.columns.tolist() == ["text", "label"]
    assert frame["text"].tolist() == [row[0] for row in rows[1:]]
    assert frame["label"].tolist() == [row[1] for row in rows[1:]]
    assert sorted(label_chart_classes(at)) == sorted({row[1] for row in rows[1:]})
    assert f"All {len(rows) - 1} rows are usable" in everything_shown(at)


def train_r05a(at, rows):
    frame = at.session_state["train_data"].frame
    assert frame["text"].tolist() == [row[0] for row in rows[1:]]
    assert any(ch in "".join(frame["text"]) for ch in "éèàçöü")  # accents intact
    assert "encoding utf-16 · delimiter tab" in everything_shown(at)
    assert sorted(label_chart_classes(at)) == sorted({row[1] for row in rows[1:]})


def train_r06(at, rows):
    assert len(rows) - 1 == 60
    assert "· 60 rows ·" in everything_shown(at)
    frame = at.session_state["train_data"].frame
    assert frame["text"].tolist() == [row[0] for row in rows[1:]]  # newlines inside cells kept
    assert frame["text"].str.contains("\n").any()


def train_r07a(at, rows):
    lonely = [c for c in {row[1] for row in rows[1:]} if sum(row[1] == c for row in rows[1:]) == 1]
    assert lonely == ["neutral"]
    errors = texts(at.error)
    assert "'neutral' has 1 row;" in errors
    assert at.button(key="train_start").disabled


def train_r07b(at, rows):
    assert sum(row[1] == "neutral" for row in rows[1:]) == 3
    assert not at.error, texts(at.error)
    assert "'neutral' (3 rows)" in texts(at.warning)
    assert not at.button(key="train_start").disabled  # training may start, with the warning shown


def train_int_labels(at, rows):
    assert sorted(label_chart_classes(at)) == ["0", "1"]  # never 0.0 / 1.0
    used, total = usable_rows(rows), len(rows) - 1
    shown = everything_shown(at)
    assert (f"{used} of {total} rows usable" in shown) if used < total else (f"All {total} rows are usable" in shown)
    assert not at.error, texts(at.error)


def train_r09(at, rows):
    at.selectbox(key="train_label_col").set_value("score").run()
    assert at.radio(key="train_task").value == "classification"
    assert sorted(label_chart_classes(at)) == sorted({row[1] for row in rows[1:]}) == ["10", "2"]


def train_regression(at, rows):
    at.multiselect(key="train_text_cols").set_value(["headline"]).run()
    at.selectbox(key="train_label_col").set_value("ctr").run()
    assert at.radio(key="train_task").value == "regression"  # suggested: mostly numbers

    def finite(cell: str) -> bool:
        try:
            return math.isfinite(float(cell))
        except ValueError:
            return False

    bad = [i for i, row in enumerate(rows[1:]) if not finite(row[1])]  # 0-based, as in ISSUES.csv
    assert bad  # the fault is in the file
    warnings = texts(at.warning)
    listed = [int(n) for part in re.findall(r"row\(s\) ([\d, ]+) \(0 = the first row after the header\)", warnings)
              for n in part.split(",")]
    assert sorted(listed) == bad[:10]
    assert "not a finite number" in warnings
    assert f"{rows_words(len(bad))} will be left out" in texts(at.info)
    assert not at.error, texts(at.error)


def train_r12(at, rows):
    frame = at.session_state["train_data"].frame
    assert len(frame) == len(rows) - 1
    assert frame["text"].str.len().max() == max(len(row[0]) for row in rows[1:]) >= 150_000


TRAIN_CHECKS: dict[str, Callable] = {
    "r01_bom_spaced_header.csv": train_r01,
    "r03_na_like_values.csv": train_r03,
    "r04_trailing_delimiter.csv": train_r04,
    "r05a_excel_unicode_text_utf16.csv": train_r05a,
    "r06_quoted_newlines_crlf.csv": train_r06,
    "r07a_one_example_class.csv": train_r07a,
    "r07b_three_example_class.csv": train_r07b,
    "r08a_int_labels_with_blanks.csv": train_int_labels,
    "r08b_int_labels_clean_eval.csv": train_int_labels,
    "r09_label_order.csv": train_r09,
    "r11_regression_inf_nan.csv": train_regression,
    "r11b_regression_one_inf.csv": train_regression,
    "r12_huge_cell.csv": train_r12,
}


@pytest.mark.parametrize("name", sorted(TRAIN_CHECKS))
def test_train_page_reads_the_fault_file_as_its_readme_row_says(name, models_dir):
    at = put(open_train(), name, (FAULTS / name).read_bytes())
    rows = truth(name)
    assert f"**{name}** · {len(rows) - 1:,} rows" in texts(at.markdown)
    TRAIN_CHECKS[name](at, rows)
    assert_clean(at)



@pytest.mark.parametrize("merge", [True, False])
def test_r02_train_page_names_the_variants_and_the_checkbox_keeps_them_apart(models_dir, sent_requests, merge):
    at = put(open_train(), "r02.csv", (FAULTS / "r02_label_case_variants.csv").read_bytes())
    at.selectbox(key="train_label_col").set_value("label").run()
    warnings = texts(at.warning)  # as shown: the Markdown escapes of data undone
    assert "'POSITIVE'" in warnings and "'positive\\u200b'" in warnings
    assert sorted(label_chart_classes(at)) == ["negative", "positive"]
    if not merge:
        at.checkbox(key="train_merge_label_variants").uncheck().run()
        variants = [texts([w]) for w in at.warning if "look like one class" in w.value]
        assert variants and "'POSITIVE'" not in variants[0] and "'positive\\u200b'" in variants[0]
        # An invisible character never makes a class of its own, even kept apart.
        assert "positive\u200b" not in label_chart_classes(at)
        assert {"Positive", "POSITIVE"} <= set(label_chart_classes(at))
    at.text_input(key="train_model_name").set_value("r02-model").run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    (_frame, config, _name), = sent_requests
    assert config.merge_label_variants is merge


# --------------------------------------------------------------------------- Predict page


@pytest.fixture(scope="module")
def fault_models(tiny_model_dir, tmp_path_factory):
    """Tiny models trained (API, once) on r08a (classes 0/1) and r09 (classes 2/10): name -> folder."""
    folder = tmp_path_factory.mktemp("fault-models")
    made = {}
    for name, label in (("r08a_int_labels_with_blanks.csv", "label"), ("r09_label_order.csv", "score")):
        result = train(load_csv(FAULTS / name).frame, tiny(tiny_model_dir, label_column=label, epochs=1))
        made[name] = result.save(folder / name.split("_")[0])
    return made


def predict_page(models_dir: Path, model_folder: Path, name: str, data: bytes):
    """The Predict page with only ``model_folder`` saved, ``data`` uploaded as ``name``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model_folder, models_dir / "fault-model")
    at = open_predict()
    at.file_uploader(key="predict_upload").set_value((name, data, "text/csv")).run()
    assert_clean(at)
    return at


def run_prediction(at) -> pd.DataFrame:
    at.button(key="predict_run").click().run()
    assert_clean(at)
    assert not at.error, texts(at.error)
    return pd.read_csv(at.session_state["last_prediction_path"], dtype=str, keep_default_na=False)


def predict_same_rows(at, rows, model):
    """60 in, 60 out (r04, r06): every row back, its text and label as written."""
    out = run_prediction(at)
    assert len(out) == len(rows) - 1
    assert out["text"].tolist() == [row[0] for row in rows[1:]]
    assert out["label"].tolist() == [row[1] for row in rows[1:]]
    assert f"{len(rows) - 1} rows from" in texts(at.success)
    assert (out["prediction_error"] == "").all()


def predict_r08b(at, rows, model):
    out = run_prediction(at)
    assert list(model.classes_) == ["0", "1"]
    assert set(out["predicted_label"]) <= {row[1] for row in rows[1:]} == {"0", "1"}
    assert {"p_0", "p_1"} <= set(out.columns) and "p_0.0" not in out.columns


def predict_r09(at, rows, model):
    out = run_prediction(at)
    assert list(model.classes_) == ["2", "10"]
    proba = out[["p_2", "p_10"]].astype(float).to_numpy()
    assert out["predicted_label"].tolist() == [model.classes_[i] for i in proba.argmax(axis=1)]
    own = model.predict_proba(pd.DataFrame({"text": [row[0] for row in rows[1:]]}))
    np.testing.assert_allclose(proba, own, atol=1e-5)


def predict_r12(at, rows, model):
    out = run_prediction(at)
    assert out["text"].tolist() == [row[0] for row in rows[1:]]
    assert out["text"].str.len().max() >= 150_000  # written back whole


# Whether each r13 text cell is formula-like (written out by hand from the README rule).
R13_FORMULA = [True, True, True, True, True, True, False, True, False, True]


def predict_r13(at, rows, model, made_downloads):
    out = run_prediction(at)
    assert out["text"].tolist() == [row[0] for row in rows[1:]]  # the saved file keeps the text
    name = next(n for n in made_downloads if n and n.startswith("predictions-") and n.endswith(".csv"))
    data = made_downloads[name]
    written = list(csv.reader(io.StringIO((data() if callable(data) else data).decode("utf-8-sig"), newline="")))
    for row, got, formula in zip(rows[1:], written[1:], R13_FORMULA, strict=True):
        assert got[0] == ("'" + row[0] if formula else row[0]), row[0]
    confidence = written[0].index("confidence")
    assert all(0.0 <= float(r[confidence]) <= 1.0 for r in written[1:])  # numbers stay numbers


def predict_r14a(at, rows, model):
    header = [h.strip() for h in rows[0]]
    assert "text" not in header  # the fault: the model's column is missing under its name
    warning = texts(at.warning)
    assert "column(s) 'text', which this file does not have" in warning
    options = at.selectbox(key="predict_map_text").options
    assert [o for o in options if not o.startswith("—")] == header  # the found columns offered
    # The page guesses the case- and whitespace-insensitive match 'Text' (the file's 'Text ';
    # the user can change it); choosing nothing refuses to predict and says which column is needed.
    assert at.selectbox(key="predict_map_text").value == "Text"
    assert not at.button(key="predict_run").disabled
    at.selectbox(key="predict_map_text").set_value("— choose a column —").run()
    assert "Choose a column for 'text' to predict." in texts(at.error)
    assert at.button(key="predict_run").disabled
    assert_clean(at)


def predict_r14b(at, rows, model):
    out = run_prediction(at)
    header = rows[0]
    for i, col in enumerate(header):  # the user's own columns and values, untouched
        assert out[col].tolist() == [row[i] for row in rows[1:]]
    assert any("predicted_label_2" in texts([i]) and "confidence_2" in texts([i]) for i in at.info)
    own = model.predict_proba(pd.DataFrame({"text": [row[0] for row in rows[1:]]}))
    np.testing.assert_allclose(out["confidence_2"].astype(float), own.max(axis=1), atol=1e-5)


PREDICT_CHECKS: dict[str, tuple[str, Callable]] = {  # file -> (model: "tiny" or the fault file it was trained on, check)
    "r04_trailing_delimiter.csv": ("tiny", predict_same_rows),
    "r06_quoted_newlines_crlf.csv": ("tiny", predict_same_rows),
    "r08b_int_labels_clean_eval.csv": ("r08a_int_labels_with_blanks.csv", predict_r08b),
    "r09_label_order.csv": ("r09_label_order.csv", predict_r09),
    "r12_huge_cell.csv": ("tiny", predict_r12),
    "r13_formula_cells.csv": ("tiny", predict_r13),
    "r14a_predict_missing_text.csv": ("tiny", predict_r14a),
    "r14b_predict_colliding_columns.csv": ("tiny", predict_r14b),
}


@pytest.mark.parametrize("name", sorted(PREDICT_CHECKS))
def test_predict_page_scores_the_fault_file_as_its_readme_row_says(name, models_dir, trained_tiny, fault_models,
                                                                    downloads):  # noqa: F811 - the fixture
    trained_on, check = PREDICT_CHECKS[name]
    folder = trained_tiny[1] if trained_on == "tiny" else fault_models[trained_on]
    at = predict_page(models_dir, folder, name, (FAULTS / name).read_bytes())
    args = (at, truth(name), load_folder(folder))
    check(*args, downloads) if check is predict_r13 else check(*args)
    assert_clean(at)


def test_every_fault_file_has_a_page_test():
    files = {p.name for p in FAULTS.glob("*.csv")}
    covered = set(TRAIN_CHECKS) | set(PREDICT_CHECKS) | {"r02_label_case_variants.csv"}
    assert files == covered, f"without a page test: {sorted(files - covered)}; unknown: {sorted(covered - files)}"


# --------------------------------------------------------------------------- faults3 on the pages
# tests/data/faults3 through the Train, Predict and Dashboard pages: the rows each page read are
# the rows core.read_table and the truth of tests/test_faults.py read (faults3_truth).

from tests.core.test_faults import FAULTS3, cell, faults3_truth, table_rows  # noqa: E402 - this section's own imports


@pytest.mark.parametrize(("name", "sheet"), [("t03_xlsx_merged_label_cells.xlsx", None),
                                              ("t04_xlsx_cover_sheet_first.xlsx", "Reviews"),
                                              ("t13_gzip.csv.gz", None), ("t14_reviews.jsonl", None)])
def test_faults3_train_page_reads_the_rows_every_entry_point_reads(name, sheet, models_dir):
    at = put(open_train(), name, (FAULTS3 / name).read_bytes())
    if sheet:  # the picker names both sheets and preselects the data sheet, not the cover sheet
        assert at.selectbox(key="train_upload_sheet").options == ["About", "Reviews"]
        assert at.selectbox(key="train_upload_sheet").value == sheet
    assert_clean(at)
    assert table_rows(at.session_state["train_data"].frame) == faults3_truth(name, sheet)
    if name.startswith("t03"):
        assert "merged cell range(s)" in everything_shown(at)
        assert "All 80 rows are usable" in everything_shown(at)


def test_faults3_t05_train_page_names_the_unsaved_formulas(models_dir):
    at = put(open_train(), "t05.xlsx", (FAULTS3 / "t05_xlsx_formula_labels_no_cache.xlsx").read_bytes())
    assert "column 'label' holds formulas without saved results" in texts(at.error)
    assert_clean(at)


@pytest.mark.parametrize("name", ["t04b_xlsx_to_score.xlsx", "t13_gzip.csv.gz", "t14_reviews.jsonl"])
def test_faults3_predict_page_scores_the_rows_every_entry_point_reads(name, models_dir, trained_tiny):
    at = predict_page(models_dir, trained_tiny[1], name, (FAULTS3 / name).read_bytes())
    out = run_prediction(at)
    header, rows = faults3_truth(name)
    assert table_rows(out[header].replace("", np.nan)) == (header, rows)


def test_faults3_t06_dashboard_reads_excel_serial_dates_with_a_note():
    from tests.ui.test_page_dashboard import open_page as open_dashboard
    from tests.ui.test_page_dashboard import rows_shown, set_and_run

    at = open_dashboard()
    set_and_run(at, "radio", "dash_source", "upload")
    data = (FAULTS3 / "t06_dates_excel_serial.csv").read_bytes()
    at.file_uploader(key="dash_upload").set_value(("t06.csv", data, "text/csv")).run()
    assert_clean(at)
    assert at.selectbox(key="dash_map_date").value == "date"
    shown = everything_shown(at) + "\n".join(w.value for w in at.warning)
    assert "Excel serial dates" in shown and "45292 = 2024-01-01" in shown and "too small" not in shown
    _, rows = faults3_truth("t06_dates_excel_serial.csv")
    assert rows_shown(at) == len(rows)
    # The dates themselves: Excel's 1900 system counted independently (1899-12-30 + serial days).
    from core.dashboard import prepare_frame  # noqa: F401 - the Dashboard's own parse, checked below
    from core.dates import parse_dates

    parsed, _ = parse_dates(pd.Series([float(r[0]) for r in rows]))
    import datetime

    assert parsed.dt.date.tolist() == [datetime.date(1899, 12, 30) + datetime.timedelta(days=float(r[0])) for r in rows]


def test_the_header_row_box_chooses_a_workbooks_header_on_the_page(models_dir):
    from tests.core.test_faults import review_rows, xlsx_bytes

    rows = review_rows(6)
    # A title row naming half of three columns is taken for the header until the box says row 2.
    data = xlsx_bytes([["Region", "EMEA"], ["text", "label", "channel"], *[[*r, "web"] for r in rows]])
    at = put(open_train(), "export.xlsx", data)
    assert at.session_state["train_data"].frame.columns.tolist() == ["Region", "EMEA", "Unnamed: 2"]
    at.number_input(key="train_upload_header_row").set_value(2).run()
    assert_clean(at)
    assert table_rows(at.session_state["train_data"].frame) == (
        ["text", "label", "channel"], [tuple(cell(v) for v in (*r, "web")) for r in rows])


def test_faults3_t04_and_t05_on_the_predict_page_read_as_python_m_core_predict(models_dir, trained_tiny, tmp_path, capsys):
    """The Predict page asks for the model's columns as `python -m core predict` does: the cover
    sheet first (t04) preselects 'Reviews'; unsaved formulas in a column the model does not read
    (t05's label) are a note and the rows are scored. Truth: the CLI's output file of the same file."""
    from tests.core.test_faults import run_cli

    for name, sheet in (("t04_xlsx_cover_sheet_first.xlsx", "Reviews"), ("t05_xlsx_formula_labels_no_cache.xlsx", None)):
        shutil.rmtree(models_dir / "fault-model", ignore_errors=True)
        at = predict_page(models_dir, trained_tiny[1], name, (FAULTS3 / name).read_bytes())
        if sheet:
            assert at.selectbox(key="predict_upload_sheet").value == sheet
        else:
            assert "holds formulas without saved results" in everything_shown(at)
        page = run_prediction(at)
        rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(FAULTS3 / name),
                             "--out", str(tmp_path / "cli.csv"), "--raw")  # the page's file is raw too
        assert rc == 0, err
        cli = pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False)
        assert page["text"].tolist() == cli["text"].tolist() and len(page) == 80
        assert page["predicted_label"].tolist() == cli["predicted_label"].tolist()


def test_faults3_t04_scored_on_the_dashboard_reads_the_sheet_holding_the_models_columns(models_dir, trained_tiny):
    """The Dashboard's "score it" upload asks for the model's text columns as the CLI does: the cover
    sheet first (t04) preselects 'Reviews', and every one of its 80 rows is scored."""
    from tests.ui.test_page_dashboard import open_page as open_dashboard
    from tests.ui.test_page_dashboard import rows_shown, set_and_run

    shutil.copytree(trained_tiny[1], models_dir / "tiny-sentiment")
    at = open_dashboard()
    set_and_run(at, "radio", "dash_source", "score")
    data = (FAULTS3 / "t04_xlsx_cover_sheet_first.xlsx").read_bytes()
    at.file_uploader(key="dash_score_upload").set_value(("t04.xlsx", data, "application/octet-stream")).run()
    assert_clean(at)
    assert at.selectbox(key="dash_score_upload_sheet").value == "Reviews"
    at.button(key="dash_score_btn").click().run()
    assert_clean(at)
    assert rows_shown(at) == len(faults3_truth("t04_xlsx_cover_sheet_first.xlsx", "Reviews")[1]) == 80


def t01_truth() -> list[list[str]]:
    """The tags of each row of t01 read by hand: a JSON list, else split on '|' or ';' (the README's spellings)."""
    import json

    rows = list(csv.reader(io.StringIO((FAULTS3 / "t01_multilabel_joined.csv").read_text("utf-8-sig"), newline="")))
    at = rows[0].index("topics")
    return [json.loads(r[at]) if r[at].startswith("[") else [t.strip() for t in re.split(r"[|;]", r[at]) if t.strip()]
            for r in rows[1:]]


def test_faults3_t01_train_page_trains_mixed_separators_as_the_cli_does(models_dir, sent_requests):
    """Rows joined by '|', '; ' and JSON lists: no settings error under the label picker, Train
    enabled, and the job gets the CLI's label_sep (None: training reads every spelling)."""
    from core.multilabel import parse_labels

    at = put(open_train(), "t01.csv", (FAULTS3 / "t01_multilabel_joined.csv").read_bytes())
    at.selectbox(key="train_label_col").set_value("topics").run()
    assert at.checkbox(key="train_multi_label").value
    assert not [e for e in texts(at.error).splitlines() if "label_sep" in e], texts(at.error)
    assert not at.button(key="train_start").disabled
    at.text_input(key="train_model_name").set_value("t01-model").run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    (frame, config, _name), = sent_requests
    assert config.multi_label is True and config.label_sep is None  # as `python -m core train` without --label-sep
    lists, _ = parse_labels(frame["topics"].tolist(), config.label_sep)
    assert lists == t01_truth()


def test_faults3_t01_train_page_unticked_refuses_naming_the_joined_values(models_dir, sent_requests):
    """README: multi-label off is "a refusal naming the joined values; never a class called
    electronics|food", on the page as with `train --no-multi-label` (the same core sentence)."""
    rows = list(csv.reader(io.StringIO((FAULTS3 / "t01_multilabel_joined.csv").read_text("utf-8-sig"), newline="")))
    joined = [r[1] for r in rows[1:] if r[1].startswith("[") or re.search(r"[|;]", r[1])]
    at = put(open_train(), "t01.csv", (FAULTS3 / "t01_multilabel_joined.csv").read_bytes())
    at.selectbox(key="train_label_col").set_value("topics").run()
    at.checkbox(key="train_multi_label").uncheck().run()
    assert_clean(at)
    errors = texts(at.error)
    assert f"{len(joined):,} rows join tags" in errors and "is refused" in errors, errors
    assert repr(max(set(joined), key=joined.count)) in errors  # the commonest joined value, named
    assert at.button(key="train_start").disabled and not sent_requests
