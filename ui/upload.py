"""One upload widget for tables (CSV, Excel, JSON, gzip/zip of those) that every page uses.

``table_upload`` draws the file uploader, a sheet picker only when the workbook has several
sheets, a "Header row" box for a workbook or a CSV with a title block above its header (showing
the row core.reading found the header in, until another is typed), how the file was read (:func:`how_read_line`, core.reading's notes: the words
the Train, Predict and Dashboard pages show alike), and the reading error if any; it returns the
parsed table (``core.reading.read_table``). Pages that
stream a big CSV from disk (Predict, the Dashboard) use ``csv_upload`` instead: CSV uploads come
back as their own bytes, unparsed; any other kind comes back as the CSV of the table read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from core.limits import ReadLimits, upload_limit_bytes, upload_limits_sentence
from core.reading import (
    JSON_SUFFIXES,
    POSITION_NUMBERING,
    TABLE_SUFFIXES,
    LoadedCsv,
    csv_title_block,
    default_sheet,
    in_page_words,
    read_table,
    sheet_names,
)
from core.words import rows_words
from ui.account import team_settings
from ui.markdown import plain

ACCEPTED = list(TABLE_SUFFIXES)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class TableUpload:
    """An uploaded file as read: ``ident`` changes when the file or the chosen sheet changes."""

    name: str
    file_id: str
    ident: str  # "upload:<file_id>" or, for a workbook, "upload:<file_id>:<sheet>:row<header row read>"
    table: LoadedCsv

    @property
    def frame(self):
        return self.table.frame


def max_upload_mb() -> int:
    """Streamlit's ``server.maxUploadSize`` (MB): the uploader's limit, which core's byte limit
    follows (:func:`core.limits.upload_limit_bytes`) and the page states."""
    return st.get_option("server.maxUploadSize")


def read_limits() -> ReadLimits:
    """What reading one uploaded file may cost here: the uploader's byte limit and the server's
    ``[marketune]`` read limits (max_cell_chars, max_columns, max_unpacked_mb; core's defaults
    when unset), for every reader a page calls on a person's file."""
    limits = team_settings().read_limits(upload_limit_bytes(max_upload_mb()))
    return dataclasses.replace(limits, checkpoint=_stop_point)


def _stop_point() -> None:
    """A read's chance to end when its page went away: any access to st.session_state is a point
    where Streamlit stops a script run it was asked to stop or rerun (another page opened, the
    tab closed), raising its own stop exception here instead of after the whole read."""
    _ = "upload_read_stop_point" in st.session_state


def _limits_caption(scoring: bool) -> None:
    st.caption(upload_limits_sentence(max_upload_mb(), scoring=scoring))


def _is_workbook(upload) -> bool:
    return upload.name.lower().endswith(WORKBOOK_SUFFIXES) or upload.getvalue()[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def _is_plain_csv(upload) -> bool:
    """A CSV the pages may stream as it is: not a workbook, JSON, gzip or zip (those are read by
    core.reading first, so every page reads them alike)."""
    name = upload.name.lower()
    return not (_is_workbook(upload) or name.endswith((*JSON_SUFFIXES, ".gz", ".zip"))
                or upload.getvalue()[:2] == b"\x1f\x8b")


def _cached(key: str, what: str, ident, compute):
    """``compute()`` once per ident, kept in the session, so reruns do not parse the file again.
    A ValueError is kept too and raised again on each rerun."""
    cache_key = f"{key}__{what}"
    cached = st.session_state.get(cache_key)
    if cached is None or cached[0] != ident:
        try:
            cached = (ident, compute(), None)
        except ValueError as exc:
            cached = (ident, None, str(exc))
        st.session_state[cache_key] = cached
    if cached[2] is not None:
        raise ValueError(cached[2])
    return cached[1]


def _read_chosen_sheet(key: str, upload, columns: tuple[str, ...] = ()) -> LoadedCsv:
    """The upload read as a table; a workbook with several sheets gets a "Sheet" picker first
    (so a first sheet that cannot be read does not hide the others), and a workbook a "Header row"
    box (:func:`_header_row_box`), with a warning under it when a CSV was read from line 1 but its
    header likely lies below (core.reading's header_hint, in the page's words: the box, never the
    CLI's flag). ``columns``: the columns the page needs (the Predict page: the model's), which
    choose the preselected sheet and the header as the CLI's do."""
    raw = upload.getvalue()
    limits = read_limits()
    sheets, first = _cached(key, "sheets", (upload.file_id, columns), lambda: (
        sheet_names(raw, upload.name, limits=limits), default_sheet(raw, upload.name, columns=columns, limits=limits)))
    sheet = None
    if len(sheets) > 1:
        sheet = st.selectbox(
            f"Sheet ({len(sheets)} in this workbook)",
            sheets,
            index=sheets.index(first) if first in sheets else 0,
            key=f"{key}_sheet",
            help=f"{plain(upload.name)} has {len(sheets)} sheets: {plain(', '.join(sheets))}. Preselected: "
                 f"{plain(first or sheets[0])}, the first "
                 + (f"holding {plain(', '.join(columns))}." if columns else "whose top row looks like a table's header."),
        )
    where = (upload.file_id, sheet, columns)
    boxed = bool(sheets) or _has_title_block(key, upload, columns)
    header_row = _asked_header_row(key, where) if boxed else None
    error = table = None
    try:
        table = _cached(key, "read", (upload.file_id, sheet, header_row, columns),
                        lambda: read_table(raw, upload.name, sheet=sheet, header_row=header_row, columns=columns,
                                           limits=limits))
    except ValueError as exc:
        error = exc
    if boxed:  # drawn after the read, so that it shows the row the read found
        _header_row_box(key, where, header_row, table)
    if error is not None:
        raise error
    if table.header_hint:  # read from line 1, the header likely below: said on its own, under the box
        st.warning(plain(in_page_words(table.header_hint)), icon=":material/table_rows:")
    return table


def _has_title_block(key: str, upload, columns: tuple[str, ...] = ()) -> bool:
    """True for a CSV with lines above its header that look like a title block (core.reading.
    csv_title_block; ``columns``: those the page needs, found as the CLI finds them): it gets the
    "Header row" box a workbook has, and is read whole as one."""
    return _cached(key, "titled", (upload.file_id, columns), lambda: not _is_workbook(upload) and csv_title_block(
        upload.getvalue(), upload.name, columns=columns) is not None)


def _asked_header_row(key: str, where: tuple) -> int | None:
    """The header row the person typed in the "Header row" box for this file and sheet (``where``),
    or None: found by core.reading. A new file or sheet starts at found again; a typed number equal
    to the one found is the found header."""
    box, found = f"{key}_header_row", st.session_state.get(f"{key}_header_found")
    if found is None or found[0] != where:
        st.session_state.pop(box, None)
        return None
    asked = st.session_state.get(box)
    return None if asked is None or int(asked) == found[1] else int(asked)


def _header_row_box(key: str, where: tuple, asked: int | None, table: LoadedCsv | None) -> None:
    """The "Header row" box of a workbook or a titled CSV, showing the sheet row or line the header
    was read from: the one core.reading found (its note says so too) until the person types
    another. Numbered as every message numbers a file's rows (core.reading.POSITION_NUMBERING)."""
    box = f"{key}_header_row"
    if asked is None:  # found: the box follows what the read found (empty when the read failed)
        found = table.header_row if table is not None else None
        st.session_state[f"{key}_header_found"] = (where, found)
        st.session_state[box] = found
    st.number_input(
        "Header row", min_value=1, value=None, step=1, key=box, placeholder="found",
        help=f"The sheet row or CSV line holding the column names ({POSITION_NUMBERING}). It shows the row found: "
             "the first row, or the first row holding the columns needed or mostly text below a title block. Type "
             "another to read the header from there; clear it to find it again.",
    )


def how_read_line(name: str, how_read: str, n_rows: int | None = None, n_columns: int | None = None) -> str:
    """Markdown: "**reviews.xlsx** · 300 rows · 2 columns · Excel sheet 'Reviews' (of 2) · header read
    from row 3 ...": a file and how it was read (``how_read``: core.reading's ``describe()`` of a
    LoadedCsv or a Stream, its notes included), as the Train, Predict and Dashboard pages show it."""
    parts = [f"**{plain(name)}**"]
    parts += [rows_words(n_rows)] if n_rows is not None else []
    parts += [f"{n_columns:,} column{'s' if n_columns != 1 else ''}"] if n_columns is not None else []
    return " · ".join([*parts, plain(in_page_words(how_read))])


def table_upload(label: str, key: str, *, help: str | None = None) -> TableUpload | None:
    """Draw the uploader (CSV, TSV, TXT, XLSX) and return the table read, or None.

    None when no file is uploaded or it could not be read (the reason is shown with st.error).
    A workbook with several sheets gets a "Sheet" picker (key ``<key>_sheet``) naming them, preset
    to the first sheet that looks like a table (core.reading.default_sheet). The upload limits are stated under the uploader.
    """
    upload = st.file_uploader(label, type=ACCEPTED, key=key, help=help)
    _limits_caption(scoring=False)
    if upload is None:
        return None
    try:
        table = _read_chosen_sheet(key, upload)
    except ValueError as exc:
        st.error(plain(in_page_words(str(exc))))
        return None
    ident = f"upload:{upload.file_id}" + (f":{table.sheet}" if table.sheet is not None else "")
    ident += f":row{table.header_row}" if table.header_row else ""  # another header: another table
    return TableUpload(name=upload.name, file_id=upload.file_id, ident=ident, table=table)


@dataclass(frozen=True)
class SheetAsCsv:
    """A workbook sheet as CSV bytes, with the parts of Streamlit's UploadedFile pages use."""

    name: str
    file_id: str  # the upload's id plus the sheet's position: safe in a file name
    data: bytes

    def getvalue(self) -> bytes:
        return self.data

    def getbuffer(self) -> memoryview:
        return memoryview(self.data)


def csv_upload(label: str, key: str, *, help: str | None = None, scoring: bool = False, columns: tuple[str, ...] = ()):
    """Draw the uploader and return the file as CSV, or None; the upload limits are stated under
    it (``scoring``: the rows are scored in the browser, so that row limit is stated too).
    ``columns``: the columns the page will read (a model's), as ``python -m core predict`` asks for
    them: they pick a workbook's sheet and header, and formulas without saved results elsewhere are
    a note, not a refusal.

    A CSV upload comes back as Streamlit's UploadedFile, unparsed (pages that read big files in
    chunks keep doing so), unless a title block sits above its header: then it is read as a
    workbook is, with the "Header row" box. A workbook's sheet is read as :func:`table_upload` reads it (sheet
    picker included) and comes back as a :class:`SheetAsCsv` of UTF-8 CSV bytes with the same
    ``name``, ``file_id``, ``getvalue()`` and ``getbuffer()``, so the page reads it like any CSV.
    """
    upload = st.file_uploader(label, type=ACCEPTED, key=key, help=help)
    _limits_caption(scoring=scoring)
    if upload is None or (_is_plain_csv(upload) and not _has_title_block(key, upload, tuple(columns))):
        return upload
    try:
        table = _read_chosen_sheet(key, upload, tuple(columns))
    except ValueError as exc:
        st.error(plain(in_page_words(str(exc))))
        return None
    st.caption(how_read_line(upload.name, table.describe(), len(table.frame), len(table.frame.columns)))
    file_id = f"{upload.file_id}-sheet{table.sheets.index(table.sheet)}" if table.is_workbook else f"{upload.file_id}-table"
    file_id += f"-row{table.header_row}" if table.header_row else ""  # another header: another table
    data = _cached(key, "csv", file_id, lambda: table.frame.to_csv(index=False).encode("utf-8"))
    return SheetAsCsv(name=upload.name, file_id=file_id, data=data)
