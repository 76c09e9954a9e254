"""Safe exports of tables for spreadsheets: CSV and XLSX with formula injection neutralised.

A cell whose text starts with one of ``= + - @``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (CSV injection, OWASP). Such text cells get a
leading apostrophe, the convention spreadsheets themselves use to force "this is text".
Numeric columns are left untouched so that probabilities stay numbers.
"""

from __future__ import annotations

import io
import re

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# "-12.5" read from a CSV as text is a number, not a formula: leave it readable.
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value: object) -> object:
    """Return ``value`` made inert for spreadsheets if it is text that would start a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot be run as spreadsheet formulas.

    Only object/string columns are touched; numeric dtypes keep their values and dtype.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    # Header names are cells too.
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM so Excel detects the encoding) of a formula-safe copy of ``df``."""
    # CRLF rows: with "\n" a lone "\r" inside a cell is left unquoted and splits the row on reading.
    return neutralise_formulas(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_xlsx_bytes(df: pd.DataFrame, sheet_name: str = "predictions") -> bytes:
    """An .xlsx workbook of a formula-safe copy of ``df``; text cells are written as strings."""
    buffer = io.BytesIO()
    safe = neutralise_formulas(df)
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        safe.to_excel(writer, index=False, sheet_name=sheet_name[:31])
        sheet = writer.sheets[sheet_name[:31]]
        # openpyxl treats any string starting with "=" as a formula; mark every text cell as
        # a plain string so nothing is evaluated, even after the apostrophe.
        for row in sheet.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    return buffer.getvalue()
