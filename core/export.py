"""Exports of tables for spreadsheets: CSV with formula injection neutralised, XLSX as text cells.

Where neutralisation happens, and where it does not:

- CSV downloads (and the CLI's ``predict`` output unless ``--raw``) go through
  :func:`to_csv_bytes` / :func:`neutralise_csv_file`: a text cell that a spreadsheet would
  evaluate as a formula gets a leading apostrophe (the rule is :func:`is_formula_like`).
- XLSX downloads (:func:`to_xlsx_bytes`) keep every text exactly: each text cell is written as a
  string cell, which Excel, LibreOffice and Google Sheets never evaluate, so no apostrophe is
  needed and none is added.
- Text shown in the app and the prediction file the Dashboard reads keep the user's text exactly.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pandas as pd

from .reading import csv_rows

# Characters at the start of a cell that make spreadsheets read it as a formula (OWASP,
# "CSV Injection": https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MAYBE_FORMULA = set("=+-@\t\r ")  # first characters worth a full look (space: see the rule)
# "-12.5", "+44", "1e-3": a spreadsheet reads these as numbers, not formulas.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# "@united thanks": a social-media mention (letters, digits, underscore) followed by more text.
_MENTION_THEN_TEXT = re.compile(r"@[A-Za-z0-9_]+\s+\S")
# "HYPERLINK(", "cmd|": a function call or a DDE link, the parts of a formula that act.
_FUNCTION_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(")


def is_formula_like(value: object) -> bool:
    """True when ``value`` is text that a spreadsheet opening a CSV would evaluate as a formula.

    The rule (OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection,
    lists cells starting with ``=``, ``+``, ``-``, ``@``, tab and carriage return):

    - Only ``str`` values count; numbers, NaN and None are never formulas.
    - Leading spaces are skipped before looking (" =1+1" counts), because spreadsheet importers
      can trim them (an import option in LibreOffice and Google Sheets).
    - A cell starting with ``=``, tab (``\\t``) or carriage return (``\\r``) is formula-like.
    - A cell starting with ``+`` or ``-`` is formula-like unless the whole cell is a plain number
      (``-3.5``, ``+44``, ``1e-3`` stay numbers); ``-2+3``, ``+1+1`` and ``- great`` count.
    - A cell starting with ``@`` is formula-like (``@SUM(A1)``, ``@cmd``, a lone ``@united``,
      which a spreadsheet reads as a name) unless it is a mention followed by ordinary words:
      ``@`` + letters/digits/underscore, whitespace, more text, and nowhere in the cell a
      function call (a name directly followed by ``(``, as in ``HYPERLINK(``) or a DDE link
      (``|``). So ``@united thanks for the help`` stays as it is, while
      ``@united =HYPERLINK("http://x")`` is neutralised.
    - Anything else (including a ``=`` or ``@`` later in the text) is not a formula.

    Raises nothing; any value is accepted.
    """
    if not isinstance(value, str):
        return False
    text = value.lstrip(" ")
    if not text:
        return False
    first = text[0]
    if first in "=\t\r":
        return True
    if first in "+-":
        return _PLAIN_NUMBER.fullmatch(text) is None
    if first == "@":
        if _MENTION_THEN_TEXT.match(text) is None:
            return True
        # Cheap membership tests first: most mentions have no "(" and no "|" at all.
        return "|" in text or ("(" in text and _FUNCTION_CALL.search(text) is not None)
    return False


def neutralise_cell(value: object) -> object:
    """``value`` with a leading apostrophe if :func:`is_formula_like`, else ``value`` unchanged.

    The apostrophe is the spreadsheets' own "this is text" mark (OWASP's recommendation).
    """
    return "'" + value if is_formula_like(value) else value  # type: ignore[operator]


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot be run as spreadsheet formulas (for CSV).

    Only object/string columns are touched, and in them only formula-like cells; numeric dtypes
    keep their values and dtype. Header names are neutralised the same way.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            # Vectorised first look: only cells starting (after spaces) with one of the prefixes
            # go through the full rule, so a million ordinary cells cost one pass, not a million calls.
            first = out[col].astype(str).str.lstrip(" ").str[:1]
            candidate = first.isin(list(FORMULA_PREFIXES)) & out[col].map(type).eq(str)
            if candidate.any():
                out.loc[candidate, col] = out.loc[candidate, col].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM so Excel detects the encoding) of ``df``, formula-like cells neutralised."""
    # CRLF rows: with "\n" a lone "\r" inside a cell is left unquoted and splits the row on reading.
    return neutralise_formulas(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def neutralise_csv_file(source: str | Path) -> bytes:
    """The CSV file ``source`` (UTF-8, comma-separated, as :func:`core.predict.predict_csv`
    writes it) as download bytes: UTF-8 with BOM, CRLF rows, formula-like cells neutralised.

    Streamed row by row with the csv module, every cell as the text it is, so numbers keep
    their exact written form (``0.931``; plain numbers such as ``-3.5`` are never neutralised)
    and empty cells stay empty. Memory: the returned bytes (about the file's size, twice while
    encoding). Raises ``OSError`` if the file cannot be read.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    with open(source, newline="", encoding="utf-8-sig") as handle:
        for row in csv_rows(handle):
            # The first-character test skips the full rule for almost every cell.
            writer.writerow(["'" + c if c[:1] in _MAYBE_FORMULA and is_formula_like(c) else c for c in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(df: pd.DataFrame, sheet_name: str = "predictions") -> bytes:
    """An .xlsx workbook of ``df`` with every text exactly as given (no apostrophe added).

    Text cells (header included) are string cells (``data_type == "s"``): spreadsheets never
    evaluate those, so ``=HYPERLINK(...)`` stays inert text. Numbers stay number cells.
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        df.to_excel(writer, index=False, sheet_name=sheet_name[:31])
        sheet = writer.sheets[sheet_name[:31]]
        # openpyxl turns any string starting with "=" into a formula cell; make it a string.
        has_cr = False
        for row in sheet.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                    has_cr = has_cr or "\r" in cell.value
    return _keep_carriage_returns(buffer.getvalue()) if has_cr else buffer.getvalue()


def _keep_carriage_returns(xlsx: bytes) -> bytes:
    r"""``xlsx`` with each raw carriage return in the sheets' XML written as ``&#13;``.

    openpyxl writes a "\r" inside a text cell as a raw byte, and every XML reader turns a raw
    "\r" into "\n" (XML end-of-line handling), so "a\rb" would come back as "a\nb". The sheets'
    XML has no line breaks of its own, so every raw "\r" in it is from a cell's text.
    """
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/") and item.filename.endswith(".xml"):
                data = data.replace(b"\r", b"&#13;")
            dst.writestr(item, data)
    return out.getvalue()


__all__ = [
    "FORMULA_PREFIXES",
    "is_formula_like",
    "neutralise_cell",
    "neutralise_csv_file",
    "neutralise_formulas",
    "to_csv_bytes",
    "to_xlsx_bytes",
]
