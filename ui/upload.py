"""One upload widget for tables (CSV, Excel, JSON, gzip/zip of those) that every page uses.

``table_upload`` draws the file uploader, a sheet picker only when the workbook has several
sheets, a "Header row" box for a workbook (0: found, as core.reading finds it), and the
reading error if any; it returns the parsed table (``core.reading.read_table``). Pages that
stream a big CSV from disk (Predict, the Dashboard) use ``csv_upload`` instead: CSV uploads come
back as their own bytes, unparsed; any other kind comes back as the CSV of the table read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from core.limits import ReadLimits, upload_limit_bytes, upload_limits_sentence
from core.reading import JSON_SUFFIXES, TABLE_SUFFIXES, LoadedCsv, default_sheet, read_table, sheet_names
from ui.account import team_settings
from ui.markdown import plain

ACCEPTED = list(TABLE_SUFFIXES)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class TableUpload:
    """An uploaded file as read: ``ident`` changes when the file or the chosen sheet changes."""

    name: str
    file_id: str
    ident: str  # "upload:<file_id>", "upload:<file_id>:<sheet>" or "upload:<file_id>:<sheet>:row<n>"
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
    (so a first sheet that cannot be read does not hide the others). ``columns``: the columns the
    page needs (the Predict page: the model's), which choose the preselected sheet and the header
    as the CLI's do."""
    raw = upload.getvalue()
    limits = read_limits()
    sheets, first = _cached(key, "sheets", (upload.file_id, columns), lambda: (
        sheet_names(raw, upload.name, limits=limits), default_sheet(raw, upload.name, columns=columns, limits=limits)))
    sheet = header_row = None
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
    if sheets:
        header_row = st.number_input(
            "Header row", min_value=0, value=0, step=1, key=f"{key}_header_row",
            help="The sheet row (as Excel numbers it) holding the column names; 0: found (the first row, or the "
                 "first mostly-text row below a title block).",
        ) or None
    return _cached(key, "read", (upload.file_id, sheet, header_row, columns),
                   lambda: read_table(raw, upload.name, sheet=sheet, header_row=header_row, columns=columns,
                                      limits=limits))


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
        st.error(plain(exc))
        return None
    ident = f"upload:{upload.file_id}" + (f":{table.sheet}" if table.sheet is not None else "")
    header_row = st.session_state.get(f"{key}_header_row")
    ident += f":row{header_row}" if header_row else ""  # another header row: another table
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
    chunks keep doing so). A workbook's sheet is read as :func:`table_upload` reads it (sheet
    picker included) and comes back as a :class:`SheetAsCsv` of UTF-8 CSV bytes with the same
    ``name``, ``file_id``, ``getvalue()`` and ``getbuffer()``, so the page reads it like any CSV.
    """
    upload = st.file_uploader(label, type=ACCEPTED, key=key, help=help)
    _limits_caption(scoring=scoring)
    if upload is None or _is_plain_csv(upload):
        return upload
    try:
        table = _read_chosen_sheet(key, upload, tuple(columns))
    except ValueError as exc:
        st.error(plain(exc))
        return None
    for note in table.notes:  # how it was read: a title block skipped, merged cells spread, unpacked
        st.caption(plain(note))
    file_id = f"{upload.file_id}-sheet{table.sheets.index(table.sheet)}" if table.is_workbook else f"{upload.file_id}-table"
    data = _cached(key, "csv", file_id, lambda: table.frame.to_csv(index=False).encode("utf-8"))
    return SheetAsCsv(name=upload.name, file_id=file_id, data=data)
