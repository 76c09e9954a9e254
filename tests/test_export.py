import io

import openpyxl
import pandas as pd

from core import neutralise_formulas, to_csv_bytes, to_xlsx_bytes

DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "=HYPERLINK(\"http://x\")"]


def test_text_formulas_get_an_apostrophe_numbers_do_not():
    df = pd.DataFrame({"text": DANGEROUS + ["safe", "-12.5"], "p": [0.5] * 9})
    safe = neutralise_formulas(df)
    assert safe["text"].tolist()[:7] == ["'" + v for v in DANGEROUS]
    assert safe["text"].tolist()[7:] == ["safe", "-12.5"]
    assert safe["p"].dtype == float


def test_header_cells_are_neutralised():
    assert list(neutralise_formulas(pd.DataFrame({"=cmd": [1]})).columns) == ["'=cmd"]


def test_csv_bytes_round_trip():
    df = pd.DataFrame({"text": ["=1+1", "ok"], "confidence": [0.9, 0.1]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), encoding="utf-8-sig")
    assert back["text"].tolist() == ["'=1+1", "ok"]
    assert back["confidence"].tolist() == [0.9, 0.1]


def test_xlsx_cells_are_text_and_numbers_stay_numbers():
    df = pd.DataFrame({"text": ["=1+1", "@x"], "confidence": [0.25, 0.75]})
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(df)))
    sheet = book.active
    assert sheet["A2"].value == "'=1+1" and sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "'@x"
    assert sheet["B2"].value == 0.25 and sheet["B2"].data_type == "n"


def test_csv_bytes_keep_a_carriage_return_inside_a_cell():
    df = pd.DataFrame({"text": ["great\rphone", "ok"], "n": [1, 2]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), encoding="utf-8-sig")
    assert len(back) == 2 and back["n"].tolist() == [1, 2]
