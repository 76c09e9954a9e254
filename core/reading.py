"""Reading a person's file into a table: the one reader every entry point uses.

The pages, ``python -m core train|evaluate|predict|check``, the Python API (``core.read_csv``,
``core.read_table``), the data check, the Dashboard and the Ray path all read through here, so
one file gives the same rows everywhere:

- :func:`read_table` reads a whole file into a :class:`LoadedCsv` (CSV/TSV with any line ends,
  Excel workbooks, JSON / JSON Lines, and any of these gzipped or alone in a zip);
- :func:`open_stream` makes a file ready to be read in chunks (:func:`pandas_chunks`), for
  prediction files too big to hold: a plain CSV is streamed from disk, any other kind is read
  whole by :func:`read_table` (under the read limits) and streamed from that;
- :func:`csv_rows` (from core.limits, which reads CSV bytes too) is the csv-module reader (cells of any length).

Every reader checks :class:`core.limits.ReadLimits` before the costly work, and raises
``ValueError`` with a message meant for the person who gave the file: what was expected, what
was found, and what to do.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import difflib
import gzip
import importlib.util
import io
import json
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .limits import (
    DEFAULT_READ_LIMITS,
    ReadLimitError,
    ReadLimits,
    check_csv_bytes,
    check_csv_file,
    check_table,
    check_workbook,
    csv_rows,
    sheet_rows,
)
from .words import CJK_RANGES

DELIMITERS = ",;\t|"
# Text that decoded right as Chinese: CJK letters, CJK punctuation and full-width forms ("，").
_CJK_TEXT = re.compile(f"[{CJK_RANGES}\uff00-\uffef]")
HEADER_ONLY = "The file has a header row but no data rows."


@dataclass(frozen=True)
class LoadedCsv:
    """A parsed table and how it was read (shown to the user next to the preview).

    For a CSV ``encoding``/``delimiter`` say how the text was read; for an Excel workbook they
    are ``"xlsx"``/``""`` and ``sheet`` names the sheet read, ``sheets`` all of its sheets.
    """

    frame: pd.DataFrame
    encoding: str
    delimiter: str
    n_bytes: int
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    # Repairs made while reading, in words for the user (stray bytes, an empty trailing column,
    # decimal-comma numbers); empty for a clean file.
    notes: tuple[str, ...] = ()
    # Where the header was read (numbered as :data:`POSITION_NUMBERING` says): a workbook's sheet
    # row, found or asked for; a CSV's line, asked for (``header_row``) or found below a title
    # block (:func:`find_title_block`); None for a CSV read from its first line.
    header_row: int | None = None
    # A CSV read from line 1 below which a likely header was seen (TitleBlock.hint), or that lacks
    # the columns asked for under a line 1 naming none (header_not_found_hint): how to choose the
    # header's line, the sentence every missing-column message ends with (advice, not a note;
    # the pages show it on its own, in_page_words); "" otherwise.
    header_hint: str = ""
    # A workbook's other sheets and the names in their first non-blank row ((sheet, names), ...):
    # a missing column's closest match there is named too (:meth:`require`).
    other_headers: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def is_workbook(self) -> bool:
        return self.sheet is not None

    def describe(self) -> str:
        """How the file was read, in words: "encoding utf-8 · delimiter comma" or "sheet 'Q3'"
        (:func:`describe_reading`)."""
        return describe_reading(self.encoding, self.delimiter, self.notes, self.sheet, self.sheets)

    def require(self, columns: Sequence[str], lead: str = "") -> None:
        """Raise ``ValueError`` when the table lacks any of ``columns``: the message lists the
        columns found and the closest match (:func:`missing_columns_message`) and, for a
        workbook, the sheet read and its other sheets (how to choose one)."""
        missing = [c for c in dict.fromkeys(columns) if c and c not in self.frame.columns]
        if missing:
            raise ValueError(missing_columns_message(missing, self.frame.columns, lead=lead) + self.missing_hint(missing))

    def missing_hint(self, missing: Sequence[str]) -> str:
        """The tail of every message naming columns this table lacks (``missing``), however it was
        read (whole here, or streamed: :meth:`Stream.missing_hint`): where the table came from and how
        to choose another sheet or header line (:meth:`sheet_hint`), then each missing column's
        closest match on another sheet (:meth:`elsewhere`)."""
        return self.sheet_hint() + self.elsewhere(missing)

    def elsewhere(self, missing: Sequence[str]) -> str:
        """" Sheet 'Data' has 'label' (closest to 'Label')." for each missing column whose closest
        match (:func:`missing_columns_message`'s rule) is in another sheet's first row; "" else."""
        found = []
        for name in missing:
            for sheet, names in self.other_headers:
                close = _closest(str(name), [n for n in names if not _UNNAMED.fullmatch(n)])
                if close:
                    same = "" if close[0] == str(name) else f" (closest to {str(name)!r})"
                    found.append(f"Sheet {sheet!r} has {close[0]!r}{same}.")
                    break
        return (" " + " ".join(found)) if found else ""

    def sheet_hint(self) -> str:
        """" Read from sheet 'About' of its 2 sheets ('About', 'Reviews'): ..." for a workbook with
        several sheets, " The header was read from line 1, but line 4 looks like ..." for a CSV
        with a likely header below line 1 (:attr:`header_hint`); "" otherwise (a message's tail
        naming where the table came from and how to choose another)."""
        if self.header_hint:
            return f" {self.header_hint}"
        if not self.is_workbook or len(self.sheets) < 2:
            return ""
        others = ", ".join(repr(s) for s in self.sheets if s != self.sheet)
        return (f" Read from sheet {self.sheet!r}; the workbook's other sheet(s): {others} (choose one with "
                "--sheet NAME, or the Sheet picker on the page).")


# How a position in a person's file is numbered in every message, the CLI's --header-row and the
# pages' "Header row" box: a sheet's rows as Excel shows them, a CSV's lines as an editor does.
# (Rows of the table read are counted otherwise: core.data.ROW_NUMBERING, 0 = the first row after the header.)
POSITION_NUMBERING = "1 = the first row of the sheet, as Excel numbers it, or the first line of a CSV"

# How a person chooses the header's line, as core's messages say it (the CLI's and the page's way);
# in_page_words() leaves the CLI's out for the pages, so a browser user is never told a flag.
_ANOTHER_HEADER = "--header-row N or 'Header row' on the page chooses another"
_PAGE_ANOTHER_HEADER = "the 'Header row' box chooses another"


def _choose_header(line: int | str) -> str:
    return f"choose it with --header-row {line} (python -m core) or type {line} in the 'Header row' box on the page"


_CHOOSE_HEADER = re.compile(r"choose it with --header-row (\d+|N) \(python -m core\) or type \1 in the 'Header row' "
                            r"box on the page")
_CHOOSE_SHEET = re.compile(r"--sheet NAME,? or the Sheet picker(?: on the page)?")


def in_page_words(text: str) -> str:
    """A note or message of this module as the pages say it: the ways to choose the header's line
    or the sheet without the CLI's ``--header-row N`` / ``--sheet NAME`` (the page's "Header row"
    box and "Sheet" picker are drawn above the message)."""
    text = _CHOOSE_HEADER.sub(lambda m: "type its line number in the 'Header row' box above" if m.group(1) == "N"
                              else f"type {m.group(1)} in the 'Header row' box above", text)
    return _CHOOSE_SHEET.sub("the Sheet picker above", text.replace(_ANOTHER_HEADER, _PAGE_ANOTHER_HEADER))


def describe_reading(encoding: str, delimiter: str, notes: Sequence[str] = (), sheet: str | None = None,
                     sheets: Sequence[str] = ()) -> str:
    """How a file was read, in words, as every page shows it next to the file: "encoding utf-8 ·
    delimiter comma", or "Excel sheet 'Q3' (of 2)", then every note (a title block skipped,
    repeated header rows dropped, merged cells spread, unpacked from gzip, ...)."""
    if sheet is not None:
        of = f" (of {len(sheets)})" if len(sheets) > 1 else ""
        return " · ".join([f"Excel sheet '{sheet}'{of}", *notes])
    if not delimiter:  # JSON: the notes say which kind
        return " · ".join([f"encoding {encoding}", *notes])
    name = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delimiter, repr(delimiter))
    return " · ".join([f"encoding {encoding}", f"delimiter {name}", *notes])


WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# What upload widgets accept: tables, JSON, and either of them compressed.
TABLE_SUFFIXES = ("csv", "tsv", "txt", "xlsx", "xlsm", "xls", "json", "jsonl", "ndjson", "gz", "zip")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old binary Excel (.xls), also old Word/PowerPoint
_GZIP_MAGIC = b"\x1f\x8b"
MAX_HEADER_SEARCH_ROWS = 30  # a title block above a sheet's header is looked for in this many rows


def missing_columns_message(missing: Sequence[Any], found: Sequence[Any], *, lead: str = "") -> str:
    """The one message for columns a file lacks: ``lead`` (default "Column(s) [...] are not in
    the file"), the columns found, and for each missing name the closest found one (same name in
    another case or spacing, else :func:`difflib.get_close_matches`), e.g. "Column(s) ['text']
    are not in the file; found ['Text', 'channel']. Closest match: 'text' -> 'Text'."""
    found = [str(c) for c in found]
    # pandas names a header cell left empty "Unnamed: 1" (0-based): said as the column a person sees
    shown = [f"(column {i + 1} has no name)" if _UNNAMED.fullmatch(c) else c for i, c in enumerate(found)]
    listed = shown[:30] + ([f"... {len(found) - 30} more"] if len(found) > 30 else [])
    hints = []
    for name in missing:
        name = str(name)
        close = closest_column(name, found)
        if close:
            hints.append(f"'{name}' -> '{close}'")
    lead = lead or f"Column(s) {[str(m) for m in missing]} are not in the file"
    closest = f" Closest match: {'; '.join(hints)}." if hints else ""
    return f"{lead}; found {listed}.{closest}"


_UNNAMED = re.compile(r"Unnamed: \d+(?:\.\d+)?")  # pandas' name for a column whose header cell is empty


def closest_column(name: str, found: Sequence[Any]) -> str | None:
    """The found column :func:`missing_columns_message` names as the closest match for ``name``
    ("Closest match: 'text' -> 'Review Text'"), or None; a column with no header cell is none. The
    Predict page preselects it, so what the message says and what the box shows agree."""
    close = _closest(str(name), [str(c) for c in found if not _UNNAMED.fullmatch(str(c))])
    return close[0] if close else None


def _closest(name: str, found: list[str]) -> list[str]:
    """The found column nearest ``name``: the same in another case or spacing; else difflib's
    closest (ignoring case); else one that holds it or is held by it ('text' in 'Review Text')."""
    key = " ".join(name.split()).casefold()
    keys = {" ".join(c.split()).casefold(): c for c in reversed(found)}
    if key in keys:
        return [keys[key]]
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
    if close:
        return [keys[close[0]]]
    return [keys[k] for k in keys if k and (key in k or k in key)][:1]


def refuse_duplicate_names(header: Sequence[str], where: str = "the file") -> None:
    """Raise the one ``ValueError`` for a header naming a column twice (pandas would rename the
    second ``text`` to ``text.1`` without a word); empty names are not duplicates."""
    duplicates = sorted(h for h, n in Counter(str(h).strip() for h in header).items() if h and n > 1)
    if duplicates:
        raise ValueError(
            f"Column names must be unique; found duplicated name(s) {duplicates} in {where}. "
            "Rename them in the file and try again."
        )


def read_table(
    source: str | Path | bytes | io.IOBase,
    name: str = "",
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    columns: Sequence[str] = (),
    max_bytes: int | None = None,
    max_rows: int | None = None,
    limits: ReadLimits | None = None,
) -> LoadedCsv:
    """Read a person's table, whatever its kind: a CSV (as :func:`load_csv`), an Excel workbook
    (.xlsx/.xlsm; .xls where a reader is installed), JSON (an array of objects) or JSON Lines, or
    any of these compressed with gzip (.gz) or alone in a zip (.zip), unpacked under
    ``limits.max_unpacked_bytes``.

    The kind is told from the content (a workbook is a zip file, gzip has its own magic bytes),
    so a renamed file is read right; ``name`` (the file name, e.g. the upload's) tells JSON from
    CSV when the content does not, and names the file in messages.

    For a workbook ``sheet`` picks the sheet; by default the first sheet holding all of
    ``columns``, or without ``columns`` the first whose header looks like a table's, else the
    first (a note names the sheets when another than the first is read). The header is the first
    non-empty row, unless a title block sits above it: then the first row holding all of
    ``columns`` (the columns the caller needs), else the first row whose cells are mostly
    non-empty text, is the header (a note says which row); ``header_row`` (the row number Excel
    shows, 1-based; CSV: the line number) chooses it. Merged cell ranges below the header are
    spread over their cells (a note names them); a formula cell without a saved result is
    refused by column. Cells come back as the person's values (numbers as numbers, text as
    text, even text starting with '='), fully empty rows are skipped and only empty cells
    count as missing. Duplicate column names and a header without rows are refused.

    ``limits``: what reading may cost (:class:`core.limits.ReadLimits`: bytes, rows, cell
    length, columns, a workbook's or a compressed file's unpacked size; core's defaults when
    None), each checked before the costly work; ``max_bytes``/``max_rows`` override those two.
    A file over one raises :class:`core.limits.ReadLimitError` (a ``ValueError``) naming it.
    Anything else wrong raises ``ValueError`` saying what was expected and found.
    """
    limits = read_limits(limits, max_bytes, max_rows)
    if not name and isinstance(source, (str, Path)):
        name = Path(source).name
    raw = _read_bytes(source, limits)
    raw, name, unpacked = unpack(raw, name, limits)
    loaded = _read_kind(raw, name, sheet, header_row, columns, limits)
    ignored = (sheet_ignored_note(sheet),) if sheet not in (None, _SHEETS_ONLY) and loaded.sheet is None else ()
    return dataclasses.replace(loaded, notes=(*unpacked, *loaded.notes, *ignored)) if unpacked or ignored else loaded


def sheet_ignored_note(sheet: str) -> str:
    """The note for a sheet asked for (``--sheet``) in a file that is not a workbook."""
    return f"sheet {sheet!r} was asked for, but a sheet applies to Excel workbooks only: this file was read as it is"


def _read_kind(raw: bytes, name: str, sheet: str | None, header_row: int | None, columns: Sequence[str],
               limits: ReadLimits) -> LoadedCsv:
    head = raw[:8]
    if head.startswith(_OLE_MAGIC) or (not head.startswith(_ZIP_MAGIC) and str(name).lower().endswith(".xls")):
        return _read_xls(raw, name, sheet, header_row, columns, limits)
    if head.startswith(_ZIP_MAGIC):
        return _read_workbook(raw, name, sheet, header_row, columns, limits, engine="openpyxl")
    if _looks_like_json(raw, name):
        return read_json(raw, name, limits=limits)
    return load_csv(raw, limits=limits, header_row=header_row, columns=columns)


def read_limits(limits: ReadLimits | None, max_bytes: int | None = None, max_rows: int | None = None) -> ReadLimits:
    """``limits`` (core's defaults when None) with ``max_bytes``/``max_rows`` put in where given."""
    limits = limits or DEFAULT_READ_LIMITS
    changes = {k: v for k, v in (("max_bytes", max_bytes), ("max_rows", max_rows)) if v is not None}
    return dataclasses.replace(limits, **changes) if changes else limits


# --------------------------------------------------------------------------- compressed files


def unpack(raw: bytes, name: str, limits: ReadLimits = DEFAULT_READ_LIMITS) -> tuple[bytes, str, tuple[str, ...]]:
    """``(bytes, name, notes)`` of the file inside ``raw`` when it is gzip-compressed or a zip
    holding one file (a workbook, itself a zip, is returned as it is); ``raw`` unchanged
    otherwise. Decompressed at most to ``limits.max_unpacked_bytes`` (a ``ReadLimitError`` past
    it, before more is unpacked). Raises ``ValueError`` for a damaged archive or a zip of
    several files."""
    what = name or "The file"
    if raw.startswith(_GZIP_MAGIC):
        inner = name[:-3] if name.lower().endswith(".gz") else name
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
                data = _bounded_read(handle, limits, f"{what} (gzip)")
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{what} looks gzip-compressed but could not be unpacked ({_first_line(exc)}); "
                             "expected a .gz made by gzip or 7-Zip. Unpack it yourself and give the file inside.") from None
        return data, inner, (f"unpacked from gzip ({len(raw):,} bytes packed, {len(data):,} unpacked)",)
    if raw.startswith(_ZIP_MAGIC) and not _is_workbook_zip(raw):
        try:
            archive = zipfile.ZipFile(io.BytesIO(raw))
        except (zipfile.BadZipFile, OSError, ValueError):
            return raw, name, ()  # not a readable zip: the workbook reader says so
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                       and not Path(m.filename).name.startswith(".")]
            if len(members) != 1:
                listed = [m.filename for m in members[:5]]
                raise ValueError(f"{what} is a zip file holding {len(members)} files {listed}; expected one CSV, "
                                 "Excel or JSON file in it. Unzip it and give the one file to read.")
            member = members[0]
            if member.file_size > limits.max_unpacked_bytes:
                raise ReadLimitError(_unpacked_message(f"{what} ({member.filename})", member.file_size, limits))
            try:
                with archive.open(member) as handle:
                    data = _bounded_read(handle, limits, f"{what} ({member.filename})")
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
                raise ValueError(f"Could not unpack {member.filename!r} from {what} ({_first_line(exc)}); "
                                 "unzip it yourself and give the file inside.") from None
        return data, Path(member.filename).name, (f"read {member.filename!r} from the zip file",)
    return raw, name, ()


def _bounded_read(handle: Any, limits: ReadLimits, what: str) -> bytes:
    data = handle.read(limits.max_unpacked_bytes + 1)
    if len(data) > limits.max_unpacked_bytes:
        raise ReadLimitError(_unpacked_message(what, None, limits))
    return data


def _unpacked_message(what: str, size: int | None, limits: ReadLimits) -> str:
    mb = 1024 * 1024
    found = f"{size / mb:,.0f} MB" if size is not None else "more than that"
    return (f"{what} unpacks to {found}; the limit here is {limits.max_unpacked_bytes / mb:,.0f} MB unpacked "
            f"({limits.where('max_unpacked_mb')}). Unpack it and give a smaller file, or a sample of it.")


def _is_workbook_zip(raw: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = {n.lower() for n in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        return True  # not a readable zip: the workbook reader says so
    return "[content_types].xml" in names or any(n.startswith("xl/") for n in names)


# --------------------------------------------------------------------------- JSON


def _looks_like_json(raw: bytes, name: str) -> bool:
    if str(name).lower().endswith(JSON_SUFFIXES):
        return True
    start = raw[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return re.match(rb'\[\s*\{|\{\s*"', start) is not None


def read_json(source: str | Path | bytes, name: str = "", *, limits: ReadLimits | None = None) -> LoadedCsv:
    """A JSON array of objects (``[{"text": ..., "label": ...}, ...]``) or JSON Lines (one object
    per line) as a table: one row per object, one column per key (in order of first appearance),
    a key an object lacks an empty cell, a nested value as its JSON text. Raises ``ValueError``
    naming the line of invalid JSON, an item that is not an object, a key given twice in one
    object, or no objects at all."""
    limits = limits or DEFAULT_READ_LIMITS
    raw = _read_bytes(source, limits)
    what = name or "the file"
    decoded = decode_report(raw)
    text = decoded.text.lstrip("\ufeff")
    numbered: list[tuple[int, Any]] = []  # (item or line number, its value)
    try:
        if text.lstrip().startswith("["):
            try:
                numbered = list(enumerate(json.loads(text, object_pairs_hook=_unique_keys), start=1))
            except json.JSONDecodeError as exc:
                raise ValueError(f"Could not read {what} as JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                                 "Expected an array of objects ([{\"text\": ..., \"label\": ...}, ...]) or JSON Lines "
                                 "(one object per line).") from None
            where = "item"
        else:
            for line_no, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                try:
                    numbered.append((line_no, json.loads(line, object_pairs_hook=_unique_keys)))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"Line {line_no} of {what} is not valid JSON ({exc.msg}, column {exc.colno}); "
                                     "expected JSON Lines: one {\"text\": ..., \"label\": ...} object per line.") from None
                if len(numbered) > limits.max_rows:
                    break
            where = "line"
    except _DuplicateKey as exc:
        refuse_duplicate_names([str(exc), str(exc)], what)
    for number, record in numbered:
        if not isinstance(record, dict):
            raise ValueError(f"{where.capitalize()} {number} of {what} is {type(record).__name__} JSON, not an object; "
                             "expected one {\"column\": value, ...} object per row.")
    rows = [record for _, record in numbered]
    if not rows:
        raise ValueError(f"{what} holds no JSON objects: expected one object per row.")
    if len(rows) > limits.max_rows:
        raise ReadLimitError(limits.rows_message(what))
    names = list(dict.fromkeys(k for row in rows for k in row))  # stripped and unique per object (_unique_keys)
    if len(names) > limits.max_columns:
        raise ReadLimitError(limits.columns_message(f"{len(names):,}"))
    values = [[_json_cell(row.get(n)) for n in names] for row in rows]
    frame = pd.DataFrame(values, columns=names, dtype=object)
    check_table(frame, limits)
    frame = frame.infer_objects()
    notes = [decoded.note] if decoded.note else []
    return LoadedCsv(frame=frame, encoding=decoded.encoding, delimiter="", n_bytes=len(raw),
                     notes=("JSON Lines" if where == "line" else "JSON array of objects", *notes))


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key.strip() in seen:
            raise _DuplicateKey(key.strip())
        seen[key.strip()] = value
    return seen


def _json_cell(value: Any) -> Any:
    if value is None or value == "":
        return float("nan")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


# --------------------------------------------------------------------------- workbooks


def sheet_names(source: str | Path | bytes | io.IOBase, name: str = "", *, max_bytes: int | None = None,
                limits: ReadLimits | None = None) -> list[str]:
    """The sheet names of an Excel workbook, in workbook order (also inside a .gz or a .zip);
    ``[]`` for any file that is not a workbook. Raises ``ValueError`` when a workbook cannot be
    opened, or is over a read limit (``limits``, as :func:`read_table`)."""
    return list(_sheets_only(source, name, read_limits(limits, max_bytes)).sheets)


def default_sheet(source: str | Path | bytes | io.IOBase, name: str = "", *, columns: Sequence[str] = (),
                  limits: ReadLimits | None = None) -> str | None:
    """The sheet :func:`read_table` reads when none is chosen (the first holding ``columns``; without
    them the first whose header looks like a table's; else the first): what a page's Sheet picker
    preselects. None for a file that is not a workbook. Raises as :func:`sheet_names`."""
    return _sheets_only(source, name, read_limits(limits), columns).sheet


def _sheets_only(source: str | Path | bytes | io.IOBase, name: str, limits: ReadLimits,
                 columns: Sequence[str] = ()) -> LoadedCsv:
    raw, name, _ = unpack(_read_bytes(source, limits), name, limits)
    if not raw.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        return LoadedCsv(frame=pd.DataFrame(), encoding="", delimiter="", n_bytes=len(raw))
    return _read_kind(raw, name, _SHEETS_ONLY, None, columns, limits)


_SHEETS_ONLY = "\x00sheets"  # read_table's sheet value that lists the sheets without reading one


def _read_xls(raw: bytes, name: str, sheet: str | None, header_row: int | None, columns: Sequence[str],
              limits: ReadLimits) -> LoadedCsv:
    # pandas reads .xls only through xlrd or python-calamine; neither is a dependency here.
    for module, engine in (("python_calamine", "calamine"), ("xlrd", "xlrd")):
        if importlib.util.find_spec(module) is not None:
            return _read_workbook(raw, name, sheet, header_row, columns, limits, engine=engine)
    raise ValueError(
        f"{name or 'This file'} is an old Excel 97-2003 workbook (.xls), which cannot be read here. "
        "In Excel use File > Save As and choose 'Excel Workbook (.xlsx)' or 'CSV UTF-8', then upload that file."
    )


def _read_workbook(raw: bytes, name: str, sheet: str | None, header_row: int | None, columns: Sequence[str],
                   limits: ReadLimits, engine: str) -> LoadedCsv:
    what = name or "the workbook"
    if engine == "openpyxl":
        check_workbook(raw, limits, name)  # sizes, texts and row widths, before openpyxl loads any of it
    try:
        book = pd.ExcelFile(io.BytesIO(raw), engine=engine)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"Could not open {what} as an Excel workbook ({_first_line(exc)}); expected an .xlsx file "
            "saved by Excel, LibreOffice or Google Sheets, or a CSV."
        ) from None
    with book:
        sheets = tuple(str(s) for s in book.sheet_names)
        if not sheets:
            raise ValueError(f"{what} has no sheets.")
        listed = str(list(sheets))
        chosen, default_note = str(sheet), ""
        if sheet in (None, _SHEETS_ONLY):
            chosen, default_note = _default_sheet(book, sheets, columns)
        if sheet == _SHEETS_ONLY:
            return LoadedCsv(frame=pd.DataFrame(), encoding="", delimiter="", n_bytes=len(raw), sheet=chosen,
                             sheets=sheets)
        if chosen not in sheets:
            raise ValueError(f"{what} has no sheet named {chosen!r}; its sheets are {listed}.")
        other_headers = tuple((s, _first_row_names(book, s)) for s in sheets if s != chosen)
        where = f"sheet {chosen!r} of {what}" + (f" (its sheets: {listed})" if len(sheets) > 1 else "")
        numbers: list[int] = []
        try:
            # The header row is checked here as for CSV (pandas would rename a duplicate "a" to
            # "a.1" silently); a cell saying "NA" is text. openpyxl's rows are streamed and the
            # read stops at the first over a limit (core.limits.sheet_rows); other engines read
            # through pandas, their size bounded by the file's (an .xls is not packed).
            if engine == "openpyxl":
                cells = pd.DataFrame(sheet_rows(book.book[chosen], limits, chosen, numbers=numbers), dtype=object)
                cells.index = numbers[: len(cells)]
            else:
                cells = book.parse(chosen, header=None, keep_default_na=False, na_values=[""],
                                   nrows=limits.max_rows + 2, dtype=object)
                check_table(cells, limits)
                cells.index = range(1, len(cells) + 1)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            if isinstance(exc, ReadLimitError):
                raise
            raise ValueError(f"Could not read {where}: {_first_line(exc)}.") from None
    extras = _sheet_extras(raw, chosen) if engine == "openpyxl" else _SheetExtras()
    cells = cells.dropna(how="all")  # blank rows, as a CSV reader skips blank lines
    if cells.empty:
        raise ValueError(f"Sheet {chosen!r} is empty: expected a header row and at least one data row."
                         + _other_sheets(sheets, chosen))
    notes = [default_note] if default_note else []
    top = _header_position(cells, header_row, columns, where)
    if top != cells.index[0]:
        # Every sheet row above the header, blank ones included (rows numbered as Excel shows them).
        notes.append(f"header read from row {top} of sheet {chosen!r}; the {top - 1} row(s) "
                     f"above it (a title block) skipped ({_ANOTHER_HEADER})")
    cells = cells.loc[top:]
    cells, merged = _spread_merged(cells, extras.merged, top)
    if merged:
        merged = sorted(merged, key=lambda ref: _cell_position(ref.split(":")[0]) or (0, 0))
        shown = ", ".join(merged[:5]) + (f" and {len(merged) - 5} more" if len(merged) > 5 else "")
        notes.append(f"{len(merged)} merged cell range(s) ({shown}) spread over their rows: each cell of a range "
                     "takes the value written in its first cell")
    header = ["" if pd.isna(h) else _cell_name(h) for h in cells.iloc[0].tolist()]
    body = cells.iloc[1:]
    # Columns with neither a name nor a value (formatting Excel keeps past the data) are dropped.
    keep = [i for i, h in enumerate(header) if h or body.iloc[:, i].notna().any()]
    unsaved = _unsaved_formulas(extras.unsaved_formulas, header, keep, top, where, columns)
    notes += [unsaved] if unsaved else []
    header = [header[i] or f"Unnamed: {i}" for i in keep]
    refuse_duplicate_names(header, where)
    if body.empty:
        raise ValueError(f"Sheet {chosen!r} has a header row but no data rows"
                         + (f" (row {top} is read as the header)" if top != 1 else "") + "." + _other_sheets(sheets, chosen))
    if len(body) > limits.max_rows:
        raise ValueError(limits.rows_message(f"Sheet {chosen!r}"))
    frame = body.iloc[:, keep].copy()
    frame.columns = header
    # Object columns of all-int or all-float cells become numeric columns as a CSV reader would
    # make them; text columns (and mixed ones) keep each cell's own value.
    frame = frame.infer_objects().reset_index(drop=True)
    return LoadedCsv(frame=frame, encoding=engine if engine != "openpyxl" else "xlsx", delimiter="",
                     n_bytes=len(raw), sheet=chosen, sheets=sheets, notes=tuple(notes), header_row=int(top),
                     other_headers=other_headers)


def _other_sheets(sheets: Sequence[str], chosen: str) -> str:
    """" The workbook's other sheet(s): 'A', 'B' (choose one ...)." naming the sheets but ``chosen``; "" for none."""
    others = ", ".join(repr(s) for s in sheets if s != chosen)
    return f" The workbook's other sheet(s): {others} (choose one with --sheet NAME or the Sheet picker)." if others else ""


def _first_row_names(book: pd.ExcelFile, name: str) -> tuple[str, ...]:
    """The names in sheet ``name``'s first non-blank row (its header, most often); () when blank."""
    rows = _first_rows(book, name)
    return tuple(_cell_name(v) for v in rows[0] if not pd.isna(v)) if rows else ()


def _default_sheet(book: pd.ExcelFile, sheets: tuple[str, ...], columns: Sequence[str]) -> tuple[str, str]:
    """(the sheet read when none is chosen, a note naming it and every sheet; "" for one sheet): the
    first sheet whose first rows hold every one of ``columns`` (the columns the caller needs);
    without ``columns``, the first whose header looks like a table's (:func:`_table_like`);
    else the first sheet. Only the first MAX_HEADER_SEARCH_ROWS + 1 rows of each are looked at."""
    if len(sheets) < 2:
        return sheets[0], ""
    wanted = {str(c).strip() for c in columns if c}
    for name in sheets:
        rows = _first_rows(book, name)
        holds = any(wanted <= {_cell_name(v) for v in row if not pd.isna(v)} for row in rows)
        if holds if wanted else _table_like(rows):
            why = f"the first holding the column(s) {sorted(wanted)}" if wanted else "the first that looks like a table"
            break
    else:
        name, why = sheets[0], "the first sheet"
    return name, (f"read sheet {name!r}, {why}; the workbook's sheets: {list(sheets)} "
                  "(--sheet NAME or the Sheet picker chooses another)")


def _first_rows(book: pd.ExcelFile, name: str) -> list[list[Any]]:
    """The first MAX_HEADER_SEARCH_ROWS + 1 non-blank rows of sheet ``name``, NaN for empty cells."""
    if book.engine == "openpyxl":
        sheet = book.book[name]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # a declared size can be wrong (as core.limits.sheet_rows)
        rows = [list(r) for r in sheet.iter_rows(max_row=MAX_HEADER_SEARCH_ROWS + 1, values_only=True)]
    else:
        rows = book.parse(name, header=None, nrows=MAX_HEADER_SEARCH_ROWS + 1, dtype=object).values.tolist()
    rows = [[float("nan") if v is None or v == "" else v for v in r] for r in rows]
    return [r for r in rows if not all(pd.isna(v) for v in r)]


def _table_like(rows: list[list[Any]]) -> bool:
    """True when some row is a table's header: two or more distinct short texts, every filled cell
    text, and at least one non-blank row below it (a cover sheet's "Owner | Marketing" line at its
    end, or one note per row, is not)."""
    for row in rows[:-1]:
        filled = [v for v in row if not pd.isna(v)]
        names = {str(v).strip() for v in filled if isinstance(v, str) and 0 < len(v.strip()) <= 60}
        if len(names) >= 2 and len(names) == len(filled):
            return True
    return False


def _header_position(cells: pd.DataFrame, header_row: int | None, columns: Sequence[str], where: str) -> int:
    """The sheet row number (1-based) of the header among the non-blank rows ``cells``: the row
    asked for; else, within the first MAX_HEADER_SEARCH_ROWS rows, the first holding every one
    of ``columns`` (none: the first non-blank row); without ``columns``, the first whose cells
    are mostly non-empty text naming at least half of the table's columns, and two of them when
    it has two or more (a title block above a header has one or two cells a row); a one-column
    table's header below a title block and a blank row (:func:`header_below_title`) first."""
    if header_row is not None:
        if header_row not in cells.index:
            raise ValueError(f"Row {header_row} of {where} is empty or past the data, so it cannot be the header; "
                             f"its first non-empty row is {cells.index[0]}.")
        return int(header_row)
    first = cells.head(MAX_HEADER_SEARCH_ROWS)
    names = [{_cell_name(v) for v in row if not pd.isna(v)} for row in first.itertuples(index=False)]
    wanted = {str(c).strip() for c in columns if c}
    if wanted:
        for number, found in zip(first.index, names):
            if wanted <= found:
                return int(number)
        return int(cells.index[0])  # not in this sheet: the caller's message lists what its first row holds
    # A table under a title block and a blank row: the one rule a CSV follows too (header_below_title).
    numbers = range(int(first.index[0]), int(first.index[-1]) + 1)
    held = {n: ["" if pd.isna(v) else _cell_name(v) for v in row]
            for n, row in zip(first.index, first.itertuples(index=False))}
    k = header_below_title([(n, held.get(n, [])) for n in numbers])  # blank rows: no cells
    if k is not None:
        return numbers[k]
    width = int(cells.notna().any().sum())
    for number, row in zip(first.index, first.itertuples(index=False)):
        # Mostly text and naming at least half of the table's columns: a title block's rows hold
        # one or two cells (a title, "Exported: <date>"). One that names half the columns is
        # taken for the header: --header-row, or the columns the caller asks for, then decide.
        text = sum(1 for v in row if isinstance(v, str) and v.strip())
        present = sum(1 for v in row if not pd.isna(v))
        if text >= max(min(2, width), -(-width // 2)) and text > present - text:
            return int(number)
    return int(cells.index[0])


@dataclass(frozen=True)
class _SheetExtras:
    """What openpyxl's streamed values do not say: merged ranges ("C2:C5") and formula cells
    without a saved result ((row, column), 1-based)."""

    merged: tuple[str, ...] = ()
    unsaved_formulas: tuple[tuple[int, int], ...] = ()


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


def _sheet_extras(raw: bytes, sheet: str) -> _SheetExtras:
    """Merged ranges and unsaved formulas of ``sheet``, from its XML in the workbook's zip (one
    streamed pass; openpyxl's read-only mode, which the read limits need, drops both). The
    sizes were checked by core.limits.check_workbook before; a part that cannot be parsed gives
    nothing (the values read are then taken as they are)."""
    from xml.etree.ElementTree import ParseError, iterparse

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            path = _sheet_path(archive, sheet)
            if path is None:
                return _SheetExtras()
            merged, unsaved = [], []
            with archive.open(path) as part:
                for _, element in iterparse(part, events=("end",)):
                    tag = element.tag
                    if tag == f"{_MAIN_NS}c":
                        formula = element.find(f"{_MAIN_NS}f")
                        value = element.find(f"{_MAIN_NS}v")
                        has_value = (value is not None and (value.text or "") != "") or element.find(f"{_MAIN_NS}is") is not None
                        if formula is not None and not has_value:
                            position = _cell_position(element.get("r", ""))
                            if position:
                                unsaved.append(position)
                        element.clear()
                    elif tag == f"{_MAIN_NS}row":
                        element.clear()
                    elif tag == f"{_MAIN_NS}mergeCell" and element.get("ref"):
                        merged.append(element.get("ref"))
    except (zipfile.BadZipFile, KeyError, OSError, ParseError, ValueError):
        return _SheetExtras()
    return _SheetExtras(tuple(merged), tuple(unsaved))


def _sheet_path(archive: zipfile.ZipFile, sheet: str) -> str | None:
    from xml.etree.ElementTree import fromstring

    workbook = fromstring(archive.read("xl/workbook.xml"))
    rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    for element in workbook.iter(f"{_MAIN_NS}sheet"):
        if element.get("name") == sheet:
            target = targets.get(element.get(f"{_REL_NS}id"), "")
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            return path if path in archive.namelist() else None
    return None


def _cell_position(ref: str) -> tuple[int, int] | None:
    """"C12" -> (12, 3): row and column, 1-based."""
    match = _CELL_REF.fullmatch(ref.replace("$", ""))
    if not match:
        return None
    column = 0
    for letter in match.group(1):
        column = column * 26 + ord(letter) - 64
    return int(match.group(2)), column


def _spread_merged(cells: pd.DataFrame, merged: Sequence[str], top: int) -> tuple[pd.DataFrame, list[str]]:
    """``cells`` (sheet row numbers as index, column i = sheet column i + 1) with each merged
    range that lies below the header row ``top`` filled with the value of its first cell; the
    ranges spread. Ranges above or across the header (a title, a grouped header) are left."""
    spread = []
    for ref in merged:
        start, _, end = ref.partition(":")
        first, last = _cell_position(start), _cell_position(end or start)
        if first is None or last is None or first[0] <= top:
            continue
        if first[0] not in cells.index or first[1] > cells.shape[1]:
            continue
        value = cells.at[first[0], first[1] - 1]
        if pd.isna(value):
            continue
        rows = range(first[0], last[0] + 1)
        missing = [r for r in rows if r not in cells.index]
        if missing:  # rows blank apart from the merge: put back, in order
            cells = pd.concat([cells, pd.DataFrame(index=missing, columns=cells.columns, dtype=object)]).sort_index()
        for column in range(first[1] - 1, min(last[1], cells.shape[1])):
            cells.loc[rows.start : rows.stop - 1, column] = value
        spread.append(ref)
    return cells, spread


def _unsaved_formulas(unsaved: Sequence[tuple[int, int]], header: list[str], keep: list[int], top: int,
                      where: str, columns: Sequence[str]) -> str:
    """Refuse (``ValueError``) a table whose cells below the header hold formulas without a saved
    result (a workbook written by a script and never opened in Excel: the values would read as
    empty). When the caller named the ``columns`` it needs and none of those holds such a cell,
    a note naming the columns is returned instead; "" when there are none."""
    by_column = Counter(column - 1 for row, column in unsaved if row > top and column - 1 in keep)
    if not by_column:
        return ""
    names = [header[c] or f"Unnamed: {c}" for c in sorted(by_column)]
    named = ", ".join(f"'{n}'" for n in names)
    n = sum(by_column.values())
    message = (f"column {named} holds formulas without saved results: open and save the workbook in Excel, or "
               f"export it as CSV ({n:,} cell(s) in {where}")
    if columns and not set(names) & {str(c) for c in columns}:
        return message + "; read as empty cells)"
    raise ValueError(message + ").")


def _cell_name(value: Any) -> str:
    """A header cell as a column name: 2024 (a number) -> "2024", text stripped."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


# --------------------------------------------------------------------------- CSV


def read_csv(
    source: str | Path | bytes | io.IOBase,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    limits: ReadLimits | None = None,
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a person's file into a DataFrame: :func:`read_table`'s frame (CSV, workbook, JSON,
    compressed), so the Python API reads a file as every other entry point does (``columns``:
    the columns the caller needs, which find the header below a title block, as there)."""
    return read_table(source, max_bytes=max_bytes, max_rows=max_rows, limits=limits, columns=columns).frame


def load_csv(
    source: str | Path | bytes | io.IOBase,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    limits: ReadLimits | None = None,
    header_row: int | None = None,
    columns: Sequence[str] = (),
) -> LoadedCsv:
    """Read a CSV robustly: encoding (UTF-8 with/without BOM, GB18030/GBK, cp1252, Latin-1),
    delimiter (comma, semicolon, tab, pipe), line ends (LF, CRLF, or CR alone as Excel for Mac
    writes them) and quoted newlines are handled; repeated header rows inside the file (exports
    joined one after another, a BOM before each) are dropped with a note naming their lines.

    Only empty cells count as missing (a review saying "NA" stays text). Raises ``ValueError``
    for an empty file, a header without rows, binary content (e.g. an .xlsx renamed .csv),
    duplicate column names, or more bytes/rows than the limits. ``header_row``: the line
    (1-based) holding the header; the lines above it are skipped. Without it, a title block
    above the header (:func:`find_title_block`: "Report title", a blank line, then the header;
    with ``columns``, the columns the caller needs, the first line holding them all, as for a
    workbook) is skipped with a note naming its lines; a likely header below line 1 that is not
    sure, or ``columns`` missing from a line 1 that names no table's columns, is answered with
    how to choose the header's line (:attr:`LoadedCsv.header_hint`, the end of every error here
    and of every missing-column message).

    ``limits`` as :func:`read_table`: the longest cell and the widest row are checked in one
    cheap scan of the bytes (:func:`core.limits.check_csv_bytes`) before pandas parses anything.
    """
    limits = read_limits(limits, max_bytes, max_rows)
    raw = _read_bytes(source, limits)
    if not raw.strip():
        raise ValueError("The file is empty: expected a header row and at least one data row.")
    _refuse_binary(raw)
    decoded = decode_report(raw)
    notes = [decoded.note] if decoded.note else []
    text, line_note = _line_ends(decoded.text)
    notes += [line_note] if line_note else []
    text, header_row, hint = _skip_to_header(text, header_row, notes, columns)
    try:
        loaded = _parse_csv(raw, text, decoded, header_row, notes, limits)
    except ReadLimitError:
        raise
    except ValueError as exc:  # the lines above may be a title block: say how to choose the header
        raise ValueError(f"{exc} {hint}" if hint else str(exc)) from None
    if header_row is None and not hint:
        hint = header_not_found_hint(loaded.frame.columns, columns)
    return dataclasses.replace(loaded, header_hint=hint) if hint else loaded


def _skip_to_header(text: str, header_row: int | None, notes: list[str],
                    columns: Sequence[str] = ()) -> tuple[str, int | None, str]:
    """(``text`` from its header line on, the header's line or None for line 1, a hint for
    error messages): the line asked for (``header_row``), else the line below a title block
    :func:`find_title_block` is sure of (``columns`` as there); a likely one it is not sure of is
    named in the hint (advice, not how the file was read: not a note). The lines skipped are
    said in ``notes`` (appended to)."""
    block = None
    if header_row is None:
        block = find_title_block(text, columns)
        if block is None:
            return text, None, ""
        if not block.sure:
            return text, None, block.hint()
        header_row = block.header_line
    lines = text.split("\n")
    if header_row > len(lines) or not lines[header_row - 1].strip():
        raise ValueError(f"Line {header_row} of the file is empty or past its end, so it cannot be the header.")
    if header_row > 1:
        notes.append(block.note() if block is not None and header_row == block.header_line
                     else f"header read from line {header_row}; the {header_row - 1} line(s) above it skipped")
    return "\n".join(lines[header_row - 1:]), header_row, ""


def _parse_csv(raw: bytes, text: str, decoded: Decoded, header_row: int | None, notes: list[str],
               limits: ReadLimits) -> LoadedCsv:
    """:func:`load_csv`'s table from ``text``, whose first line is the header (``header_row``: its line in the file)."""
    encoding, max_rows = decoded.encoding, limits.max_rows
    delimiter = sniff_delimiter(text)
    text, repeated = drop_repeated_headers(text, delimiter)
    if repeated:
        notes.append(repeated_headers_note(repeated, offset=(header_row or 1) - 1))
    if text is decoded.text:
        check_csv_bytes(raw, text, encoding, delimiter, limits)
    else:  # line ends or rows changed: the scan reads the text as it will be parsed
        check_csv_bytes(text.encode("utf-8", errors="surrogatepass"), text, "utf-8", delimiter, limits)
    header = [h.strip() for h in next(csv_rows(io.StringIO(text), delimiter=delimiter), [])]
    if not any(header):
        line = header_row or 1
        raise ValueError(f"{'The first row' if line == 1 else f'Line {line}, read as the header,'} names no column "
                         f"(found {len(header)} empty name(s)): expected a header row naming the columns"
                         f"{'' if line == 1 else '; choose another header row'}.")
    # Empty names are not duplicates: "text,label,," is a header with two trailing delimiters.
    refuse_duplicate_names(header)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: rows that all end with an extra delimiter must not turn the first
            # column into the index (pandas' default), which shifts every column one to the left.
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                keep_default_na=False,
                na_values=[""],
                nrows=max_rows + 1,
                skipinitialspace=False,
                on_bad_lines="error",
                index_col=False,
            )
    except pd.errors.ParserError as exc:
        # pandas numbers the lines of the text it was given: count the lines skipped above the header too.
        found = re.sub(r"(?<=in line )(\d+)", lambda m: str(int(m.group(1)) + (header_row or 1) - 1), _first_line(exc))
        raise ValueError(
            f"Could not parse the file as CSV with delimiter {delimiter!r}: {found}. "
            "Check that every row has the same number of fields and quotes are closed."
        ) from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        # pandas dropped fields beyond the header: fine when they are all empty (a trailing
        # delimiter), data loss otherwise.
        _refuse_values_past_header(text, delimiter, len(header), (header_row or 1) - 1)
        notes.append("every row's extra trailing delimiter ignored")
    frame.columns = [str(c).strip() for c in frame.columns]
    # A header that ends with delimiters too gives unnamed columns; drop the ones with no value.
    unnamed_empty = [
        c for c, h in zip(frame.columns, header + [""] * len(frame.columns)) if not h and frame[c].isna().all()
    ]
    if unnamed_empty:
        frame = frame.drop(columns=unnamed_empty)
        notes.append(f"{len(unnamed_empty)} empty unnamed column(s) dropped")
    if len(frame) == 0:
        raise ValueError(HEADER_ONLY)
    if len(frame) > max_rows:
        raise ValueError(limits.rows_message("The file"))
    # A ';'-separated export usually comes from a locale that writes 2,76 for 2.76.
    scan = DecimalCommaScan(delimiter)
    scan.add(frame)
    converted = scan.columns()
    for c in converted:
        frame[c] = decimal_comma_floats(frame[c])
    if converted:
        notes.append(f"decimal comma read as a decimal point in {converted}")
    return LoadedCsv(frame=frame, encoding=encoding, delimiter=delimiter, n_bytes=len(raw), notes=tuple(notes),
                     header_row=header_row)


_LONE_CR = re.compile(r"\r(?!\n)")


def _line_ends(text: str) -> tuple[str, str]:
    """``text`` with CR-only line ends (Excel for Mac) made LF, and a note saying so ("" when
    the file uses LF or CRLF). A few lone CRs inside quoted cells of an LF file stay as they are."""
    lone = len(_LONE_CR.findall(text)) if "\r" in text else 0
    if lone and lone > text.count("\n"):
        return _LONE_CR.sub("\n", text), "line ends were carriage returns only (Excel for Mac); read as new lines"
    return text, ""


def _header_key(line: str) -> str:
    return line.strip().lstrip("\ufeff").strip()


def drop_repeated_headers(text: str, delimiter: str) -> tuple[str, list[int]]:
    """``text`` without the lines after the first that repeat its header line (ignoring a BOM
    and surrounding spaces: several exports joined into one file), and those lines' numbers
    (1-based). Only a header of two or more columns is looked for: in a one-column file a row
    may well say the column's name."""
    first, _, rest = text.partition("\n")
    key = _header_key(first)
    if not rest or delimiter not in key or key not in rest:
        return text, []
    lines = text.split("\n")
    repeated = [i + 1 for i, line in enumerate(lines) if i and _header_key(line) == key]
    if not repeated:
        return text, []
    drop = set(repeated)
    return "\n".join(line for i, line in enumerate(lines, start=1) if i not in drop), repeated


def repeated_headers_note(lines: Sequence[int], offset: int = 0) -> str:
    """The note for repeated header rows dropped at ``lines`` (+ ``offset`` lines skipped above)."""
    numbers = [n + offset for n in lines]
    shown = ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
    return f"{len(numbers)} repeated header row(s) dropped (line {shown}): the file looks like several exports joined"


def _refuse_values_past_header(text: str, delimiter: str, n_header: int, skipped: int = 0) -> None:
    """Refuse a row of ``text`` (from the header on; ``skipped`` lines above it in the file) with values past the header's columns."""
    for line_no, row in enumerate(csv_rows(io.StringIO(text), delimiter=delimiter), start=1 + skipped):
        extra = [v for v in row[n_header:] if v.strip()]
        if extra:
            raise ValueError(
                f"Row {line_no} of the file has {len(row)} fields but the header names {n_header} "
                f"column{'s' if n_header != 1 else ''}; the extra value(s) {extra[:3]} have no column. Add a name for them to the "
                "header row or remove them."
            )


# A number written with a decimal comma, optionally with '.' or space thousands groups:
# 2,76  -3,5  1.234,56  1 234,5  12 (whole numbers are fine alongside).
_DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}([. \u00a0\u202f]\d{3})+|\d+)(,\d+)?")


def non_empty(series: pd.Series) -> pd.Series:
    """True where a cell holds something other than nothing or whitespace."""
    return series.notna() & (series.astype(str).str.strip() != "")


def _present(series: pd.Series) -> pd.Series:
    """The non-empty cells of ``series`` (:func:`non_empty`) as stripped text."""
    return series[non_empty(series)].astype(str).str.strip()


def _floats(series: pd.Series, removed: str, comma: str) -> pd.Series:
    """``series`` as floats once ``removed`` (a regex) is taken out of each cell and its comma
    made ``comma``; empty cells and values that still do not parse become NaN."""
    cleaned = series.astype(str).str.strip().str.replace(removed, "", regex=True).str.replace(",", comma, regex=False)
    return pd.to_numeric(cleaned.where(non_empty(series)), errors="coerce")


def decimal_comma_floats(series: pd.Series) -> pd.Series:
    """``series`` of decimal-comma numbers as floats: thousands dots and spaces removed, the
    comma made a point (2,76 -> 2.76; 1.234,5 -> 1234.5; 12 -> 12.0); empty cells and values
    that still do not parse become NaN. Which columns to read this way is
    :class:`DecimalCommaScan`'s decision."""
    return _floats(series, r"[. \u00a0\u202f]", ".")


@dataclass
class DecimalCommaScan:
    """Which columns of a file hold numbers written with a decimal comma (2,76 or 1.234,5),
    decided over all of the file's rows, whole (:func:`load_csv`) or chunk by chunk
    (core.predict.predict_csv): one rule, so a model reads the same numbers at training and at
    prediction. A column qualifies when every non-empty value is such a number and at least one
    has a comma, in a file not separated by commas: a ';' file always (a European export); a tab
    or pipe file only when the column does not read as English thousands commas (1,234) too.

    Use: ``scan = DecimalCommaScan(delimiter)``; ``scan.add(chunk)`` for each part of the file;
    ``scan.columns()``; convert those with :func:`decimal_comma_floats`.
    """

    delimiter: str
    # column -> [some value has a comma, every value is a decimal-comma number, every value is
    # an English thousands-comma number], over the rows added so far
    seen: dict[str, list[bool]] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame, columns: list[str] | None = None) -> None:
        """Take ``columns`` (default: all) of one part of the file into account."""
        if self.delimiter == ",":
            return
        for column in frame.columns if columns is None else columns:
            present = _present(frame[column])
            flags = self.seen.setdefault(str(column), [False, True, True])
            if present.empty or not (flags[1] or flags[2]):
                continue
            flags[0] = flags[0] or bool(present.str.contains(",", regex=False).any())
            flags[1] = flags[1] and bool(present.str.fullmatch(_DECIMAL_COMMA).all())
            flags[2] = flags[2] and bool(present.str.fullmatch(_THOUSANDS_COMMA).all())

    def columns(self) -> list[str]:
        """The columns to read with a decimal comma, in the order first added."""
        return [c for c, (comma, decimal, thousands) in self.seen.items()
                if comma and decimal and (self.delimiter == ";" or not thousands)]


_THOUSANDS_COMMA = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?|[+-]?\d+(\.\d+)?")


def to_number(series: pd.Series) -> pd.Series:
    """A column as floats, NaN where a value is not a number (inf, -inf stay as they are).

    Plain numbers (2.76, 1e3) are read as such; a column that only parses with commas is read
    with English thousands commas when every comma has three digits after it (1,234 -> 1234)
    and else with a decimal comma (2,76 -> 2.76, as European spreadsheets write it), each only
    when every non-empty value parses that way. Text that is no number (n/a, NaN spelled out, free text) becomes NaN.
    """
    plain = pd.to_numeric(series, errors="coerce")
    if (plain.isna() & non_empty(series)).any():
        present = _present(series)
        comma = present.str.contains(",", regex=False).any()
        # 1,234 and 12,345.6 read as English thousands; 2,76 and 1.234,5 as a decimal comma.
        if comma and present.str.fullmatch(_THOUSANDS_COMMA).all():
            return _floats(series, ",", "")
        if comma and present.str.fullmatch(_DECIMAL_COMMA).all():
            return decimal_comma_floats(series)
    return plain.astype(float)


def _read_bytes(source: str | Path | bytes | io.IOBase, limits: ReadLimits) -> bytes:
    max_bytes = limits.max_bytes
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"No such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(_too_big(size, limits))
        raw = path.read_bytes()
    else:  # a file-like object, e.g. Streamlit's UploadedFile
        raw = source.read(max_bytes + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    if len(raw) > max_bytes:
        raise ValueError(_too_big(len(raw), limits))
    return raw


def _too_big(size: int, limits: ReadLimits) -> str:
    found, limit = f"{size / 1e6:.1f} MB", f"{limits.max_bytes / 1e6:.1f} MB"
    if found == limit:  # just over: say it in bytes
        found, limit = f"{size:,} bytes", f"{limits.max_bytes:,} bytes"
    return f"The file is {found}; the limit is {limit} ({limits.where('max_bytes')})."


def _refuse_binary(raw: bytes) -> None:
    head = raw[:8192]
    if head.startswith(b"PK\x03\x04"):
        raise ValueError(
            "This is an Excel workbook or another zip file, not a CSV. "
            "In Excel use File > Save As > 'CSV UTF-8' and upload that file."
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValueError("This is an old Excel (.xls) file, not a CSV. Save it as 'CSV UTF-8'.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 text has NUL bytes but is text; decode_report handles it
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or control > len(head) * 0.01:
        raise ValueError("The file looks binary (not text), so it is not a CSV.")


STRAY_BYTE_ERRORS = "marketune-cp1252"  # codec error handler: a stray non-UTF-8 byte read as cp1252


def _stray_bytes_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    # A UTF-8 export with a byte pasted from a cp1252 program (é as 0xE9): that one byte is read
    # as cp1252, the rest stays UTF-8, so emoji and accents elsewhere are not turned to mojibake.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error(STRAY_BYTE_ERRORS, _stray_bytes_as_cp1252)


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes: ``encoding`` is a Python codec name; ``stray_lines`` the
    1-based line numbers holding bytes that were not valid in it (read as cp1252); ``note``
    says so in words ("" when there were none)."""

    text: str
    encoding: str
    stray_bytes: int = 0
    stray_lines: tuple[int, ...] = ()

    @property
    def note(self) -> str:
        if not self.stray_bytes:
            return ""
        lines = ", ".join(map(str, self.stray_lines[:10])) + (" ..." if len(self.stray_lines) > 10 else "")
        return (
            f"{self.stray_bytes} byte(s) on {len(self.stray_lines)} line(s) were not valid UTF-8 and were "
            f"read as Windows-1252 characters (line {lines}); check those rows"
        )


def decode_report(raw: bytes) -> Decoded:
    """Decode CSV bytes and say how.

    Order: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030 (a superset of GBK/GB2312)
    when the result is mostly Chinese, then cp1252, then Latin-1 (which never fails). A UTF-8
    file with a few stray bytes (more valid multi-byte characters than invalid bytes) stays
    UTF-8: only the invalid bytes are read as cp1252 and counted, never the whole file.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return _utf8_with_strays(raw[3:], "utf-8-sig")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Decoded(raw.decode("utf-16"), "utf-16")
    with contextlib.suppress(UnicodeDecodeError):
        return Decoded(raw.decode("utf-8"), "utf-8")
    lenient = raw.decode("utf-8", errors="replace")
    n_bad = lenient.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
    n_valid_multibyte = sum(1 for ch in lenient if ord(ch) > 127 and ch != "\ufffd")
    if 0 < n_bad <= n_valid_multibyte:
        return _utf8_with_strays(raw, "utf-8")
    with contextlib.suppress(UnicodeDecodeError):
        text = raw.decode("gb18030")
        non_ascii = [ch for ch in text if ord(ch) > 127]
        # cp1252 bytes often decode as GB18030 too; believe it only if the result reads as CJK.
        if non_ascii and sum(bool(_CJK_TEXT.match(ch)) for ch in non_ascii) >= 0.7 * len(non_ascii):
            return Decoded(text, "gb18030")
    try:
        return Decoded(raw.decode("cp1252"), "cp1252")
    except UnicodeDecodeError:
        return Decoded(raw.decode("latin-1"), "latin-1")


def _utf8_with_strays(raw: bytes, encoding: str) -> Decoded:
    n_bad, lines = 0, []
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fixed = line.decode("utf-8", errors="replace")
            n_bad += fixed.count("\ufffd") - line.decode("utf-8", errors="ignore").count("\ufffd")
            lines.append(line_no)
    return Decoded(raw.decode("utf-8", errors=STRAY_BYTE_ERRORS), encoding, n_bad, tuple(lines))


def sniff_delimiter(text: str) -> str:
    """The delimiter (one of ``DELIMITERS``) that splits the header and the first lines alike.
    Lines above the header that look like a title block (:func:`find_title_block`) are not
    taken for the header: the delimiter is judged from the header line down.

    csv.Sniffer guesses from character counts, so one tab inside a cell of a one-column file
    made it pick tab, and pandas then failed on the rows with a stray tab. A guess is kept only
    if it splits the header into at least two names and gives no data row more fields than the
    header unless every row has the same count (a trailing delimiter, handled by load_csv).
    When no delimiter fits, the first guess that splits the header is used (its parse error then
    names the bad row); a header no delimiter splits is one column, read with the comma.
    """
    block = find_title_block(text)
    return block.delimiter if block is not None else _sniff_table(text)


def _sniff_table(text: str) -> str:
    """:func:`sniff_delimiter` for ``text`` whose first line is taken for the header."""
    sample = text[:65536]
    truncated = len(text) > len(sample)
    candidates = []
    with contextlib.suppress(csv.Error):
        candidates.append(csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter)
    parsed = {}  # delimiter -> the sample's rows split by it
    for delimiter in DELIMITERS:
        with contextlib.suppress(csv.Error):  # newline="": a lone CR in a quoted cell stays in it, as pandas reads it
            parsed[delimiter] = list(csv_rows(io.StringIO(sample, newline=""), delimiter=delimiter))
    scored = []
    for delimiter, rows in parsed.items():
        widths = [len(r) for r in rows[:50] if r]
        if widths and max(widths) >= 2:
            scored.append((widths.count(widths[0]) / len(widths) * widths[0], -DELIMITERS.index(delimiter), delimiter))
    candidates += [d for *_, d in sorted(scored, reverse=True) if d not in candidates]
    fits = {d: _delimiter_fits(parsed[d], truncated) for d in candidates if d in parsed}
    splits_header = [d for d in candidates if fits.get(d) is not None]
    fitting = [d for d in splits_header if fits[d]]
    return (fitting or splits_header or [","])[0]


def _delimiter_fits(rows: list[list[str]], truncated: bool) -> bool | None:
    """None if ``rows`` (a sample split by a delimiter) do not split the header into 2+ fields;
    else whether the data rows agree with it (no row wider than the header, or all rows of one width)."""
    rows = [r for r in rows if r]
    if truncated and len(rows) > 2:
        rows = rows[:-1]  # the sample may end inside the last row
    rows = rows[:51]
    if not rows or len(rows[0]) < 2:
        return None
    widths = {len(r) for r in rows[1:]}
    return not widths or max(widths) <= len(rows[0]) or len(widths) == 1


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

# --------------------------------------------------------------------------- a CSV's title block

MAX_TITLE_LINES = 8  # non-blank lines a CSV's title block may have for its header to be found without asking
_SAMPLE_CHARS = 65536  # the start of a CSV judged for its delimiter and title block


@dataclass(frozen=True)
class TitleBlock:
    """Lines above a CSV's header that look like a title block ("Report title", "generated
    2026", a blank line, then ``text,label``), as :func:`find_title_block` found them.

    ``header_line``: the header's line (numbered as :data:`POSITION_NUMBERING` says);
    ``delimiter``: the table's; ``columns``: the names on that line; ``above``: the non-blank
    lines above it, as written; ``n_blank``: the blank lines among them. ``sure``: every line
    above has fewer fields than the header (blank lines allowed; at most MAX_TITLE_LINES of
    them) and every row below has the header's width, so the header is read from there (a
    note says so, :meth:`note`). Otherwise the line is only a likely header: the file is read
    from its first line, and notes and error messages say how to choose it (:meth:`hint`).
    """

    header_line: int
    delimiter: str
    sure: bool
    columns: tuple[str, ...]
    above: tuple[str, ...]
    n_blank: int = 0

    @classmethod
    def found(cls, header_line: int, delimiter: str, sure: bool, header: Sequence[str],
              above: Sequence[Sequence[str]]) -> TitleBlock:
        """The block whose header's fields are ``header`` and the lines above it ``above`` (each
        line's fields: a blank line has none filled), the filled fields kept, stripped."""
        filled = [[v.strip() for v in fields if v.strip()] for fields in above]
        lines = tuple(f"{delimiter} ".join(f) for f in filled if f)
        return cls(header_line, delimiter, sure, tuple(v.strip() for v in header if v.strip()), lines,
                   len(filled) - len(lines))

    def _above_in_words(self) -> str:
        shown = [repr(_clip(line)) for line in self.above[:3]]
        shown += [f"{len(self.above) - 3} more"] if len(self.above) > 3 else []
        shown += [f"{self.n_blank} blank"] if self.n_blank else []
        return ", ".join(shown)

    def note(self) -> str:
        """The note of a header found below a title block, in the workbook's words: "header read
        from line 4; the 3 line(s) above it (a title block: 'Report title', 'generated 2026',
        1 blank) skipped (...)"."""
        return (f"header read from line {self.header_line}; the {self.header_line - 1} line(s) above it (a title "
                f"block: {self._above_in_words()}) skipped ({_ANOTHER_HEADER})")

    def hint(self) -> str:
        """What to do when the header is only likely (not :attr:`sure`): a sentence naming the
        line, what it holds, what lies above it, and the two ways to choose it."""
        names = ", ".join(repr(_clip(c)) for c in self.columns[:6]) + (" ..." if len(self.columns) > 6 else "")
        return (f"The header was read from line 1, but line {self.header_line} looks like the header ({names}) below "
                f"{self.header_line - 1} line(s) that look like a title block ({self._above_in_words()}): if the "
                f"column names are on line {self.header_line}, {_choose_header(self.header_line)}.")


def header_not_found_hint(header: Sequence[Any], columns: Sequence[str]) -> str:
    """For a CSV read from line 1 whose line 1 holds none of ``columns`` (the ones the caller
    needs) and names no table's columns (one name, as a title line has): how to choose the
    header's line; "" otherwise (a header of other names: the missing-column message's closest
    match says more)."""
    names, wanted = [str(h) for h in header], [str(c).strip() for c in columns if str(c).strip()]
    if not wanted or any(c in names for c in wanted) or _names(names):
        return ""
    return f"If the column names are on a line below line 1 (under a title), {_choose_header('N')}."


def _clip(text: str, n: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def find_title_block(text: str, columns: Sequence[str] = ()) -> TitleBlock | None:
    """The title block above a CSV's header, judged from the start of ``text`` (decoded, LF or
    CRLF line ends), or None when the first line is the header (an ordinary file, a
    one-column file, a file whose first line names its columns even if some rows are short).
    Without ``columns`` too, and first: a table under a title block and a blank line (Excel's
    "Save as CSV" pads both: "Q3 export,", ","), or a one-column table under title lines and a
    blank line (:func:`header_below_title`, the rule a sheet's rows follow as well): sure.

    ``columns``: the columns the caller needs (a model's inputs; train's text and label). When
    given, the header is the first line within MAX_HEADER_SEARCH_ROWS holding every one of them,
    as a workbook's is (:func:`_header_position`), however wide the lines above it: a one-column
    file's title line is as wide as its header, and Excel pads title lines with delimiters. That
    block is :attr:`TitleBlock.sure` when the lines above are at most MAX_TITLE_LINES, each one
    line. When no line holds them all, the header is judged by the lines' widths as follows.

    A header is looked for within the first MAX_HEADER_SEARCH_ROWS lines, for each delimiter:
    a line of two or more distinct names (non-empty, not numbers), with lines above it that
    each have fewer filled fields, and most rows below it as wide. It is
    :attr:`TitleBlock.sure` only when the lines above are clearly not the table: each has fewer
    fields than the header (or none), is one line (no quoted line break), there are at most
    MAX_TITLE_LINES of them, every row below (up to 50) has the header's width (none wider),
    and a header of two columns has a blank line above it or ten rows below. A likely header with a single line
    right above it is not named (that line may be the header, with an empty name). When several
    delimiters qualify, the one :func:`sniff_delimiter` finds from the header line down is kept."""
    sample = text[:_SAMPLE_CHARS].lstrip("\ufeff")
    truncated = len(text) > _SAMPLE_CHARS
    wanted = {str(c).strip() for c in columns if str(c).strip()}
    if wanted and (held := _line_holding(sample, truncated, wanted)) is not None:
        return held if held.header_line > 1 else None
    usual = _sniff_table(sample)
    records = _records(sample, usual, truncated, 51)
    if records and _names(records[0][2]):
        width = len(records[0][2])
        rows = [r for _, _, r in records[1:] if r]
        if 2 * sum(len(r) == width for r in rows) >= len(rows):
            return None  # the first line names the columns, as wide as most rows below: an ordinary file
    titled = _title_rows_block(sample, usual, truncated)  # the one rule a sheet's rows follow too (sure)
    if titled is not None and len(titled.columns) > 1:
        return titled  # a padded title block above a wider table: read from the header's line
    found = [b for d in DELIMITERS if (b := _title_block_for(sample, d, truncated)) is not None]
    for wanted in (True, False):
        for block in (b for b in found if b.sure is wanted):
            rest = "\n".join(sample.split("\n")[block.header_line - 1:])
            if _sniff_table(rest) == block.delimiter:
                return block
    # A one-column table under a title: last, as a table of another delimiter (";") under a title
    # with a comma reads as one column split by the comma.
    return titled


def _title_rows_block(sample: str, delimiter: str, truncated: bool) -> TitleBlock | None:
    """A table under a title block found without the columns asked for (the Label and Train pages
    ask none up front): :func:`header_below_title` on the sample's lines, split by ``delimiter``
    (the one :func:`_sniff_table` finds in the whole sample)."""
    records = _records(sample, delimiter, truncated, MAX_HEADER_SEARCH_ROWS + 51)
    rows = [(start, [v.strip() for v in fields]) for start, _, fields in records]
    k = header_below_title(rows)
    if k is None:
        return None
    return TitleBlock.found(rows[k][0], delimiter, True, rows[k][1], [fields for _, fields in rows[:k]])


def header_below_title(rows: Sequence[tuple[int, Sequence[str]]]) -> int | None:
    """The position in ``rows`` of a table's header below a title block, or None: the one rule for
    CSV lines and sheet rows when no column is asked for (``rows``: (line or row number, its cells
    as written, "" for an empty one) from the top, a blank line with none). Two shapes:

    - a table of two or more columns under rows whose only non-empty cell is the first, or none:
      Excel's "Save as CSV" pads a title "Q3 export" to as many cells as the table ("Q3 export,,"),
      and a blank row to ",,". Found by :func:`_wide_header_below_title`.
    - a one-column table: a title block of at most MAX_TITLE_LINES non-blank lines (of any width:
      "Export from Shop X, 2026-11-01"), then one or more blank lines, then the header: one short
      name (at most 60 characters, not a number), with two or more rows of one cell below it and no
      blank line among the next 50 (a one-column file whose rows are separated by blank lines is
      read from its first line, as before)."""
    filled = [[c.strip() for c in cells if str(c).strip()] for _, cells in rows]
    wide = _wide_header_below_title(rows, filled)
    if wide is not None:
        return wide
    first_blank = next((i for i, cells in enumerate(filled) if not cells), None)
    if first_blank is None or first_blank == 0:
        return None  # no blank line, or only blank lines above the first text (pandas skips those)
    k = next((i for i in range(first_blank, min(len(rows), MAX_HEADER_SEARCH_ROWS)) if filled[i]), None)
    if k is None or first_blank > MAX_TITLE_LINES:
        return None
    header, below = filled[k], filled[k + 1:k + 51]
    if len(header) != 1 or len(header[0]) > 60 or _is_number(header[0]):
        return None
    return k if len(below) >= 2 and all(len(cells) == 1 for cells in below) else None


def _wide_header_below_title(rows: Sequence[tuple[int, Sequence[str]]], filled: list[list[str]]) -> int | None:
    """:func:`header_below_title`'s first shape. The header is the first row (within
    MAX_HEADER_SEARCH_ROWS) with a non-empty cell past its first, when: the row right above it has
    no value (a blank row sets the title apart: "review," over "great," over "bad,negative" is a
    header with an empty name and its rows); the rows above hold 1 to MAX_TITLE_LINES titles and
    each has as many cells as the header (Excel's padding; a one-column file with a comma in a
    later row has not); its cells are two or more distinct names (none a number), trailing empty
    cells aside; and the widest of the (up to 50) non-blank rows below ends in its last named
    column, none past it."""
    k = next((i for i, (_, cells) in enumerate(rows[:MAX_HEADER_SEARCH_ROWS])
              if any(str(c).strip() for c in cells[1:])), None)
    if not k or filled[k - 1]:
        return None  # the first row is the header, or no blank row right above it
    header = [str(c).strip() for c in rows[k][1]]
    titles = [f for f in filled[:k] if f]
    if not 1 <= len(titles) <= MAX_TITLE_LINES or any(cells and len(cells) != len(header) for _, cells in rows[:k]):
        return None  # blank rows only (pandas skips those), or rows not padded as Excel pads them
    while header and not header[-1]:
        header.pop()
    if not _names(header):
        return None
    ends = [max(i for i, c in enumerate(cells) if str(c).strip()) + 1 for _, cells in rows[k + 1:k + 51]
            if any(str(c).strip() for c in cells)]
    return k if ends and max(ends) == len(header) else None


def _line_holding(sample: str, truncated: bool, wanted: set[str]) -> TitleBlock | None:
    """The first line within MAX_HEADER_SEARCH_ROWS whose fields hold every name in ``wanted``, for
    any delimiter (the earliest line; on a tie, the delimiter :func:`_sniff_table` finds from that
    line down), as a TitleBlock (``header_line`` 1: no title block); None when no line holds them."""
    found: dict[str, tuple[int, list[tuple[int, int, list[str]]]]] = {}
    for delimiter in DELIMITERS:
        records = _records(sample, delimiter, truncated, MAX_HEADER_SEARCH_ROWS)
        k = next((i for i, (_, _, fields) in enumerate(records) if wanted <= {v.strip() for v in fields}), None)
        if k is not None:
            found[delimiter] = (k, records)
    if not found:
        return None
    line = min(records[k][0] for k, records in found.values())
    tied = [d for d, (k, records) in found.items() if records[k][0] == line]
    usual = _sniff_table("\n".join(sample.split("\n")[line - 1:]))
    delimiter = usual if usual in tied else tied[0]
    k, records = found[delimiter]
    block = TitleBlock.found(line, delimiter, False, records[k][2], [fields for _, _, fields in records[:k]])
    sure = len(block.above) <= MAX_TITLE_LINES and all(a == b for a, b, _ in records[:k])
    return dataclasses.replace(block, sure=sure)


def csv_title_block(source: str | Path | bytes | io.IOBase, name: str = "", *, columns: Sequence[str] = (),
                    limits: ReadLimits | None = None) -> TitleBlock | None:
    """The title block above a CSV's header (:func:`find_title_block`, sure or not; ``columns``
    as there), judged from the file's first MB (also inside a .gz or a .zip): what makes a page
    show its "Header row" box for a CSV. None for a workbook, JSON, a CSV whose first line is its
    header, or a file that cannot be read (the read says why)."""
    limits = read_limits(limits)
    try:
        raw, name, _ = unpack(_read_bytes(source, limits), name, limits)
    except ValueError:
        return None
    if raw.startswith((_ZIP_MAGIC, _OLE_MAGIC)) or _looks_like_json(raw, name) or not raw.strip():
        return None
    return find_title_block(_start_text(raw)[0], columns)


def _records(sample: str, delimiter: str, truncated: bool, limit: int) -> list[tuple[int, int, list[str]]]:
    """(first line, last line, fields) of the first ``limit`` records of ``sample`` (a blank line: no fields)."""
    records: list[tuple[int, int, list[str]]] = []
    reader = csv_rows(io.StringIO(sample, newline=""), delimiter=delimiter)
    try:
        for fields in reader:
            start = records[-1][1] + 1 if records else 1
            records.append((start, reader.line_num, fields))
            if len(records) >= limit:
                break
    except csv.Error:
        return []
    if truncated and len(records) < limit and len(records) > 1:
        records.pop()  # the sample may end inside the last record
    return records


def _names(fields: list[str]) -> bool:
    """True for a header's fields: two or more distinct names, none empty or a number (trailing empty fields aside)."""
    names = list(fields)
    while names and not names[-1].strip():
        names.pop()
    stripped = [n.strip() for n in names]
    if len(stripped) < 2 or not all(stripped) or len(set(stripped)) < len(stripped):
        return False
    return not any(_is_number(n) for n in stripped)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _title_block_for(sample: str, delimiter: str, truncated: bool) -> TitleBlock | None:
    records = _records(sample, delimiter, truncated, MAX_HEADER_SEARCH_ROWS + 51)
    if not records or _names(records[0][2]):
        return None  # the first line names the columns: an ordinary file
    for k in range(1, min(len(records), MAX_HEADER_SEARCH_ROWS)):
        start, _, fields = records[k]
        if not _names(fields):
            continue
        width = len(fields)
        above, below = records[:k], [r[2] for r in records[k + 1: k + 51] if r[2]]
        filled = [[v for v in f if v.strip()] for _, _, f in above]
        if not below or not any(filled) or any(len(v) >= width for v in filled):
            continue  # nothing above but blank lines (pandas skips those), or a line above as full as the header
        fits = [len(row) >= width and not any(v.strip() for v in row[width:]) for row in below]
        if 2 * sum(fits) <= len(fits):
            continue  # most rows below not of the header's width: not this table's header
        lines = [f for f in filled if f]
        # Two columns under lines of one field is also a one-column file with a comma in some rows;
        # taken for a title block only with a blank line between, or ten rows below to go by.
        apart = not filled[-1] or width >= 3 or len(below) >= 10
        sure = (apart and all(len(f) < width for _, _, f in above) and len(lines) <= MAX_TITLE_LINES
                and all(a == b for a, b, _ in above) and all(fits))
        if not sure and filled[-1] and len(lines) < 2:
            continue  # one line right above, as wide as the header: as likely a header with an empty name ("text,")
        return TitleBlock.found(start, delimiter, sure, fields, [f for _, _, f in above])
    return None


# --------------------------------------------------------------------------- files read in chunks


@dataclass(frozen=True)
class Stream:
    """A file made ready to be read in chunks by :func:`pandas_chunks` (every cell as text).

    ``data`` is the file itself when it is a plain CSV that pandas reads as :func:`load_csv`
    does (streamed from disk, whatever its size); for any other kind (a workbook, JSON, .gz or
    .zip, CR-only line ends, repeated header rows, UTF-16) it is UTF-8 comma-separated bytes of
    the table :func:`read_table` read, within the read limits. ``header``: the column names
    (stripped); ``notes``: read_table's notes (empty for a streamed file); ``sheet``/``sheets``
    as :class:`LoadedCsv`; :meth:`describe`: how it was read, in words.
    """

    path: Path
    data: Path | bytes
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    notes: tuple[str, ...] = ()
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    # How the file itself was read, when it is not streamed as it is (a workbook's "xlsx", a
    # CSV's own encoding and delimiter): ``encoding``/``delimiter`` above are those of ``data``.
    read_as: tuple[str, str] | None = None
    # A streamed CSV's title block: the lines above its header, skipped (find_title_block).
    skip_lines: int = 0
    # Where the header was read and what to do about a likely one, as LoadedCsv.header_row/header_hint.
    header_row: int | None = None
    header_hint: str = ""
    # A workbook's other sheets and their first rows' names, as LoadedCsv.other_headers.
    other_headers: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def missing_hint(self, missing: Sequence[str]) -> str:
        """The tail of a message naming columns the stream lacks: :meth:`LoadedCsv.missing_hint`'s,
        the one a table read whole gives (the sheet read, the others, a missing column's closest match
        on another sheet, how to choose the header's line)."""
        return LoadedCsv(frame=pd.DataFrame(), encoding="", delimiter="", n_bytes=0, sheet=self.sheet,
                         sheets=self.sheets, header_hint=self.header_hint,
                         other_headers=self.other_headers).missing_hint(missing)

    def describe(self) -> str:
        """How the file was read, in the words the Train page uses for a table read whole
        (:func:`describe_reading`: encoding and delimiter, or the sheet, then every note)."""
        encoding, delimiter = self.read_as or (self.encoding, self.delimiter)
        return describe_reading(encoding, delimiter, self.notes, self.sheet, self.sheets)


# Encodings pandas streams as load_csv decodes them (their line-break bytes are plain ASCII).
_STREAMED_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "gb18030")


def open_stream(
    source: str | Path,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    columns: Sequence[str] = (),
    limits: ReadLimits | None = None,
    check_rows: int | None = None,
) -> Stream:
    """``source`` made ready to read in chunks (:class:`Stream`), the rows as :func:`read_table`
    reads them. A plain CSV (LF or CRLF line ends, one header row, an ASCII-compatible
    encoding) is checked against ``limits`` (cell length, columns: one cheap scan; only the
    first ``check_rows`` rows when given, for a preview) and streamed from disk, from the line
    below its title block if any (``columns`` find it as :func:`find_title_block` does); any
    other file is read whole by :func:`read_table` (``sheet``, ``header_row``, ``columns`` as
    there), within ``limits``. Raises ``ValueError`` (a ``ReadLimitError`` for a limit) for an
    empty file, duplicate column names, or anything read_table refuses."""
    path, limits = Path(source), limits or DEFAULT_READ_LIMITS
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    with open(path, "rb") as handle:
        head = handle.read(64)
    plain = not head.startswith((_ZIP_MAGIC, _OLE_MAGIC, _GZIP_MAGIC)) and not _looks_like_json(head, path.name)
    if plain and header_row is None and not path.name.lower().endswith(".xls"):
        text, encoding = _file_start(path)
        block = find_title_block(text, columns)  # a title block above the header: streamed from the header's line
        delimiter = block.delimiter if block is not None else _sniff_table(text)
        skip = block.header_line - 1 if block is not None else 0
        if ((block is None or block.sure) and encoding in _STREAMED_ENCODINGS
                and _streams_as_read(path, encoding, delimiter, skip)):
            check_csv_file(path, encoding, delimiter, limits, stop_after_rows=check_rows)
            header = _stream_header(path, encoding, delimiter, skip)
            refuse_duplicate_names(header)
            notes = ((block.note(),) if block else ()) + ((sheet_ignored_note(sheet),) if sheet else ())
            return Stream(path, path, encoding, delimiter, tuple(header), notes,
                          skip_lines=skip, header_row=block.header_line if block else None,
                          header_hint="" if block else header_not_found_hint(header, columns))
    loaded = read_table(path, path.name, sheet=sheet, header_row=header_row, columns=columns, limits=limits)
    data = loaded.frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return Stream(path, data, "utf-8", ",", tuple(str(c) for c in loaded.frame.columns), loaded.notes,
                  loaded.sheet, loaded.sheets, (loaded.encoding, loaded.delimiter), header_row=loaded.header_row,
                  header_hint=loaded.header_hint, other_headers=loaded.other_headers)


def _streams_as_read(path: Path, encoding: str, delimiter: str, skip: int = 0, block: int = 8 << 20) -> bool:
    """True when pandas streaming ``path`` gives load_csv's rows: its line ends are LF or CRLF
    (judged on the first block) and no line after the header (line ``skip`` + 1) repeats it
    (one pass over the bytes)."""
    with open(path, "rb") as handle:
        sample = handle.read(block)
        text = sample.decode(encoding, errors="replace")
        if _line_ends(text)[1]:
            return False
        lines = sample.split(b"\n", skip + 1)
        if len(lines) <= skip:
            return True
        key = _header_key(lines[skip].decode(encoding, errors="replace"))
        if delimiter not in key:
            return True
        sample = sample[sum(len(line) + 1 for line in lines[:skip]):]  # from the header's line on
        pattern = re.compile(rb"\n(?:\xef\xbb\xbf)?[ \t]*" + re.escape(key.encode(encoding)) + rb"[ \t]*\r?(?:\n|$)")
        tail = b""
        while sample:
            window = tail + sample
            if pattern.search(window):
                return False
            tail = window[-(len(key.encode(encoding)) + 16):]
            sample = handle.read(block)
    return True


def _stream_header(path: Path, encoding: str, delimiter: str, skip: int = 0) -> list[str]:
    with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, errors="replace", newline="") as handle:
        for _ in range(skip):  # a title block's lines: one line each (find_title_block)
            handle.readline()
        return [h.strip() for h in next(csv_rows(handle, delimiter=delimiter), [])]


START_CHECK_BYTES = 1 << 16  # the start of a streamed CSV checked for values past the header


def pandas_chunks(stream: Stream, chunk_rows: int, **kwargs: Any) -> Iterator[pd.DataFrame]:
    """The rows of ``stream`` as DataFrames of up to ``chunk_rows`` rows, every cell as text,
    only empty cells missing, column names stripped (as :func:`load_csv`). ``kwargs`` go to
    ``pandas.read_csv`` (``usecols``). Raises pandas' ``ParserError`` or ``UnicodeDecodeError``
    for a row that does not parse (the callers say where)."""
    _refuse_values_past_header_at_start(stream)
    with _pandas_reader(stream, chunksize=chunk_rows, **kwargs) as reader:
        for chunk in reader:
            chunk.columns = [str(c).strip() for c in chunk.columns]
            yield chunk


def read_head(source: str | Path | Stream, n: int = 5, limits: ReadLimits | None = None, *,
              sheet: str | None = None, header_row: int | None = None) -> pd.DataFrame:
    """The first ``n`` rows of a file (any kind :func:`read_table` reads), read the way
    prediction reads it (every cell as text, header names stripped): for showing the columns
    before predicting a big file. A streamed CSV's start, those rows at least, is checked
    against ``limits`` first (cell length, columns; a ``ReadLimitError``)."""
    stream = source if isinstance(source, Stream) else open_stream(
        source, sheet=sheet, header_row=header_row, limits=limits, check_rows=n + 1)
    _refuse_values_past_header_at_start(stream)
    try:
        head = _pandas_reader(stream, nrows=n)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not read the start of the file as CSV: {_first_line(exc)}") from None
    head.columns = [str(c).strip() for c in head.columns]
    return head


def count_rows(stream: Stream) -> int:
    """Data rows of ``stream`` (quoted newlines respected), for an honest progress bar; 0 when
    a row does not parse (the prediction pass reports it with its position)."""
    try:
        return sum(len(chunk) for chunk in pandas_chunks(stream, 200_000, usecols=[0]))
    except (pd.errors.ParserError, UnicodeDecodeError):
        return 0


def _file_start(source: str | Path) -> tuple[str, str]:
    """(text, encoding) of a CSV file's first :data:`_START_BYTES` (:func:`_start_text`)."""
    with open(source, "rb") as handle:
        sample = handle.read(_START_BYTES + 1)
    if not sample.strip():
        raise ValueError("The file is empty: expected a header row and data rows.")
    return _start_text(sample)


_START_BYTES = 1 << 20  # the start of a CSV judged for its encoding, delimiter and title block


def _start_text(raw: bytes) -> tuple[str, str]:
    """(text, encoding) of ``raw``'s first :data:`_START_BYTES`, CR line ends made LF. A longer
    ``raw`` is cut at its last line break, so a multi-byte character (UTF-8 Chinese, say) is never
    split, which would make UTF-8 fail and the text be mistaken for GB18030."""
    if len(raw) > _START_BYTES:
        sample = raw[:_START_BYTES]
        cut = max(sample.rfind(b"\n"), sample.rfind(b"\r"))
        raw = sample[: cut + 1] if cut > 0 else sample
    decoded = decode_report(raw)
    return _line_ends(decoded.text)[0], decoded.encoding


def _refuse_values_past_header_at_start(stream: Stream) -> None:
    """Refuse a streamed CSV whose first rows hold values past the header's columns, naming the row.
    pandas takes a first data row with more fields than the header for an index column, and with
    ``index_col=False`` drops the extra values with only a warning ("I love this phone, works great"
    under a one-column header lost ", works great"); a later such row fails in pandas' own parser.
    A row ending in empty extra fields (a trailing delimiter) is fine, as :func:`load_csv` has it."""
    if not isinstance(stream.data, Path):  # read_table's own output: checked when it was read
        return
    with open(stream.data, "rb") as handle:
        head = handle.read(START_CHECK_BYTES)
    text = head.decode("utf-8-sig" if stream.encoding == "utf-8" else stream.encoding, errors="replace")
    if len(head) == START_CHECK_BYTES:
        text = text[: text.rfind("\n") + 1]  # whole lines only
    if stream.skip_lines:
        text = text.split("\n", stream.skip_lines)[-1]  # from the header's line on
    _refuse_values_past_header(text, stream.delimiter, len(stream.header), stream.skip_lines)


def _pandas_reader(stream: Stream, **kwargs: Any) -> Any:
    """pandas.read_csv over ``stream``: every cell as text and only empty cells missing."""
    data = stream.data if isinstance(stream.data, Path) else io.BytesIO(stream.data)
    encoding = stream.encoding
    return pd.read_csv(
        data,
        sep=stream.delimiter,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        # Spreadsheets write an empty row as ",,"; a blank line is an empty row only in a
        # one-column file (an empty text cell), and there it must come out as a row, not vanish.
        skip_blank_lines=len(stream.header) != 1,
        # Rows that all end with an extra delimiter: never make the first column the index.
        index_col=False,
        # A UTF-8 file with a stray cp1252 byte: that byte alone is read as cp1252.
        encoding_errors=STRAY_BYTE_ERRORS if encoding.startswith("utf-8") else "strict",
        skiprows=stream.skip_lines or None,  # a title block: one line per row (find_title_block)
        **kwargs,
    )
