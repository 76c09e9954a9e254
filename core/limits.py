"""The limits a shared server states and enforces, each with a message that says the limit and
what was found: upload size and rows, what reading one file may cost (cell length, columns,
a workbook's unpacked size), rows scored in the browser, and disk space for a job.

One place for the numbers, so the page that states a limit and the code that enforces it read
the same constant (the per-person job limit lives in ``core.workspace.TeamSettings``, the per-job
limits of rows, epochs, tokens and run time in ``core.job_limits``: they are server settings; so
are an admin's own values for the read limits, which override the defaults here through
:class:`ReadLimits`).

The read limits are checked before the costly work, cheaply: a CSV is scanned once as raw bytes
with NumPy (:func:`check_csv_bytes`, :func:`check_csv_file`: about 1 s per 200 MB, stopping at the
first cell or row over a limit), a workbook's zip directory and XML are checked before openpyxl
opens it (:func:`check_workbook`), and the reader stops at the first sheet row over a limit
(:func:`sheet_rows`).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MB = 1024 * 1024
GB = 1024**3
# Bytes of one file read: Streamlit's default upload limit (server.maxUploadSize, 200 MB); the
# pages follow the configured value (upload_limit_bytes). The CLI reads files of any size in
# chunks where it can (predict), and whole files up to this where it cannot (train, check).
DEFAULT_MAX_BYTES = 200 * MB
# Data rows of one table: about twice Excel's 1,048,576, so any spreadsheet export fits; more is
# a job for a sample first (training time grows with rows).
DEFAULT_MAX_ROWS = 2_000_000
# The csv module refuses a cell over 131,072 characters unless told otherwise; a review export can
# hold one (the r12 fault file: 150,000), and the limits here bound what is read, so every CSV
# reader of core accepts any length (csv_rows).
MAX_CSV_CELL = 2**31 - 1
# Characters in one cell. The models read the first few hundred tokens of a text (a few thousand
# characters), so a longer cell is almost always an export gone wrong (a log pasted into a cell,
# an unclosed quote); review exports do hold long ones (the r12 fault file: 150,000), kept well
# inside. Nothing bounded it before: one 100 MB cell took the server to 7.7 GB of memory.
MAX_CELL_CHARS = 1_000_000
# Columns of one table. pandas' cost per cell grows with the column count past a few thousand:
# a 200 MB CSV of one-character cells reads in 12 s at 500 or 2,000 columns, in 63 s (and 2.2 GB)
# at 16,384 (Excel's own limit), and a million columns kept a core busy for over 6 minutes (82 s
# for pandas to read the header alone). The widest tables marketers bring, survey exports, have
# hundreds; a model reads a few of them.
MAX_COLUMNS = 2_000
# Unpacked size of a workbook (an .xlsx is a zip of XML), in MB. openpyxl reads about 4 MB of
# sheet XML a second on one core (measured: 100,000 rows x 3 columns, 27 MB, 7 s), so 100 MB is
# about 25 s: some 370,000 rows of 3 columns. The same sheet saved as CSV reads about 50x faster
# (a 200 MB CSV in under 2 s), which is what the message suggests for a bigger sheet.
MAX_UNPACKED_MB = 100
# A zip member that unpacks to more than this many times its packed size is refused: Apache POI
# refuses the same (ZipSecureFile's minimum inflate ratio, 0.01); sheets saved by Excel or
# openpyxl unpack 6-13x (measured), a zip bomb about 1,000x (deflate's maximum is 1,032x).
MAX_COMPRESSION_RATIO = 100
# ... for members that unpack to more than this: a tiny member compresses oddly and costs nothing.
RATIO_CHECKED_FROM_BYTES = 1 * MB
# A sheet row holds at least a cell tag per written cell (<c><v>1</v></c>: 15 bytes), so a sheet
# of N unpacked bytes spells out no more than N / 8 cells with room to spare. openpyxl and pandas
# expand a sparse sheet to a full table (a stray cell at column XFD makes every row 16,384 wide):
# a table of more cells than this is refused before it is built.
UNPACKED_BYTES_PER_CELL = 8
# Bytes a scan reads at a time: its memory is a few times this, whatever the file's size.
SCAN_CHUNK_BYTES = 8 * MB

# Rows the Predict page and the Dashboard score in the server's own process. Scoring runs in the
# page's script thread on the shared server: at the measured 536 rows/s (fp32, 2 cores; docs/measurements.md,
# "Batch prediction") 200,000 rows take about 6 minutes of the CPU everyone shares. More than that
# belongs to the CLI (a process of its own, on any machine) or to a Ray cluster.
BROWSER_SCORING_MAX_ROWS = 200_000
SCORING_ELSEWHERE = (
    "use the CLI `python -m core predict --model <model folder> --data <file> --out <result.csv>` "
    "or the cluster scoring (`--engine ray`, core/ray_predict.py)"
)
# Disk a training job needs at its peak, in copies of its base model's files: two resume
# checkpoints while the new one replaces the old (3 copies each: weights and AdamW's two moments;
# 273 MB for MiniLM's 91 MB, bench/bench_checkpoint.py), the saved model (1), and the model it
# replaces, kept until the atomic swap (1).
DISK_COPIES_OF_BASE_MODEL = 8
# Disk left free beyond the estimate: never fill the disk to the last byte, where the worker's
# log, Streamlit's uploads and the operating system fail in ways nobody can read on a page.
DISK_SPARE_BYTES = 1 * GB
# A hub model not downloaded yet: its size is unknown before the download; the size of a small
# sentence encoder (multilingual-e5-small's files are 466 MB) is the estimate.
UNKNOWN_BASE_MODEL_BYTES = 500 * MB


def upload_limit_bytes(max_upload_mb: int | float | None) -> int:
    """The byte limit core applies to an upload, given Streamlit's ``server.maxUploadSize`` (MB).

    The browser counts a megabyte as 1,000,000 bytes on some systems and 1,048,576 on others,
    so core uses the larger reading: a file the uploader accepted is never refused afterwards
    for its size. None: core's own default (:data:`DEFAULT_MAX_BYTES`).
    """
    if not max_upload_mb:
        return DEFAULT_MAX_BYTES
    return int(max_upload_mb * MB)


def upload_limits_sentence(max_upload_mb: int | float | None, *, scoring: bool = False) -> str:
    """One sentence stating the upload limits for the page beside an uploader.

    ``max_upload_mb``: Streamlit's ``server.maxUploadSize``; ``scoring``: the uploader's rows are
    scored in the browser, so the scoring row limit (:data:`BROWSER_SCORING_MAX_ROWS`) applies.
    """
    size = f"{max_upload_mb:g} MB" if max_upload_mb else f"{DEFAULT_MAX_BYTES // MB} MB"
    if scoring:
        return (f"Limits: files up to {size}; the browser scores up to {BROWSER_SCORING_MAX_ROWS:,} rows "
                f"per file (for more, {SCORING_ELSEWHERE}).")
    return f"Limits: files up to {size} and {DEFAULT_MAX_ROWS:,} rows."


def check_scoring_rows(n_rows: int | None, max_rows: int = BROWSER_SCORING_MAX_ROWS) -> None:
    """Raise ``ValueError`` when a file of ``n_rows`` data rows is more than the browser scores."""
    if n_rows is not None and n_rows > max_rows:
        raise ValueError(
            f"This file has {n_rows:,} rows; the browser scores up to {max_rows:,} rows per file "
            f"(it shares the server's CPU with everyone). To score all of them, {SCORING_ELSEWHERE}."
        )


def base_model_bytes(base_model: str | None) -> int:
    """Bytes of the base model's files (top-level files of its folder); 0 for None (no
    transformer), :data:`UNKNOWN_BASE_MODEL_BYTES` for a hub model or one not installed yet."""
    if not base_model:
        return 0
    from .base_models import resolve_base_model

    try:
        base = resolve_base_model(base_model)
    except ValueError:
        return UNKNOWN_BASE_MODEL_BYTES  # the job itself reports what is wrong with the name
    folder = Path(base.location)
    if not base.is_local or not folder.is_dir():
        return UNKNOWN_BASE_MODEL_BYTES
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def job_disk_need(base_model: str | None, data_bytes: int) -> int:
    """Bytes of free disk a job needs before it starts: :data:`DISK_COPIES_OF_BASE_MODEL` copies of
    the base model, the data twice (the job's data.csv and the model's test predictions, at most
    the data's size) and :data:`DISK_SPARE_BYTES`."""
    return DISK_COPIES_OF_BASE_MODEL * base_model_bytes(base_model) + 2 * max(0, int(data_bytes)) + DISK_SPARE_BYTES


def check_disk_space(folder: Path, need_bytes: int) -> None:
    """Raise ``ValueError`` ("needs about X GB free, Y GB free") when the disk holding ``folder``
    (or its nearest existing parent) has less than ``need_bytes`` free."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise ValueError(
            f"Not enough disk space to start this job: it needs about {need_bytes / GB:.1f} GB free "
            f"(copies of the base model while it trains and saves, the data, and {DISK_SPARE_BYTES / GB:.0f} GB "
            f"to spare), and the server has {free / GB:.1f} GB free. Delete models you no longer need on the "
            "Models page, or ask the server's admin for space."
        )


# ---------------------------------------------------------------------------- reading a file
# What reading one person's file may cost, bounded before the costly work.


class ReadLimitError(ValueError):
    """A file over one of the read limits; the message names the limit, what was found, and
    where the limit is changed."""


# Sheet rows between two calls of ReadLimits.checkpoint: openpyxl streams ~20,000 short rows a
# second here, so a read that its page left stops within a tenth of a second or so.
CHECKPOINT_ROWS = 2_000


@dataclass(frozen=True)
class ReadLimits:
    """The limits one read of a user's file works under.

    ``max_bytes``: bytes of the file; ``max_rows``: data rows of a table; ``max_cell_chars``:
    characters of one cell as written in the file (quotes or XML escapes included);
    ``max_columns``: fields of one row; ``max_unpacked_bytes``: a workbook's unpacked size, and a
    .gz's or a .zip's (core.reading.unpack).
    ``from_server_settings``: the values come from the app's ``[marketune]`` settings
    (``core.workspace.TeamSettings.read_limits``), so messages name the setting an admin
    changes; False (the CLI, core's API): core's defaults, named as constants of this module.
    ``checkpoint``: called between the chunks of a scan (every SCAN_CHUNK_BYTES) and every
    CHECKPOINT_ROWS rows of a sheet; whatever it raises stops the read. A page passes one that
    makes a Streamlit call (ui/upload.py): Streamlit stops a script run only at its next call, so
    a read whose page went away (another page opened, the tab closed) ends there, not at its end.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_cell_chars: int = MAX_CELL_CHARS
    max_columns: int = MAX_COLUMNS
    max_unpacked_bytes: int = MAX_UNPACKED_MB * MB
    from_server_settings: bool = False
    checkpoint: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def tick(self) -> None:
        """Call :attr:`checkpoint` (a read's chance to be stopped); nothing without one."""
        if self.checkpoint is not None:
            self.checkpoint()

    @property
    def max_sheet_cells(self) -> int:
        """Cells a workbook sheet may expand to (rows x widest row): see UNPACKED_BYTES_PER_CELL."""
        return self.max_unpacked_bytes // UNPACKED_BYTES_PER_CELL

    def where(self, setting: str) -> str:
        """Where the limit ``setting`` (e.g. "max_cell_chars") is changed, in words: on a server the
        [marketune] setting of that name, for the CLI the constant of that name in capitals."""
        if setting == "max_rows":  # not a server setting: core's own number
            return "it is DEFAULT_MAX_ROWS in core/limits.py"
        if setting == "max_bytes":
            return ("an admin changes it with server.maxUploadSize in .streamlit/config.toml" if self.from_server_settings
                    else "it is DEFAULT_MAX_BYTES in core/limits.py")
        if self.from_server_settings:
            return f"an admin changes it with {setting} under [marketune] in .streamlit/secrets.toml"
        return f"it is {setting.upper()} in core/limits.py"

    def cell_message(self, found: str, row: int | None = None, hint: str = "") -> str:
        """The refusal of a cell of ``found`` characters (in words: "2,000,000", "at least
        8,388,608") on ``row`` (None: unknown), with ``hint`` in place of the usual advice."""
        at = f" on row {row:,} (the header is row 1)" if row else ""
        return (
            f"This file has a cell of {found} characters{at}; the limit here is {self.max_cell_chars:,} "
            f"characters per cell ({self.where('max_cell_chars')}). {hint or _CELL_HINT}"
        )

    def rows_message(self, what: str) -> str:
        """The refusal of a table (``what``: "The file", "Sheet 'Q3'") of more than ``max_rows`` rows."""
        return (f"{what} has more than {self.max_rows:,} rows, the limit here ({self.where('max_rows')}); "
                "split it or sample it before uploading.")

    def columns_message(self, found: str, row: int | None = None) -> str:
        """The refusal of a row of ``found`` columns (in words) on ``row`` (None: unknown)."""
        at = f" on row {row:,} (the header is row 1)" if row else ""
        return (
            f"This file has {found} columns{at}; the limit here is {self.max_columns:,} columns "
            f"({self.where('max_columns')}). Keep the columns you need and upload that file."
        )


DEFAULT_READ_LIMITS = ReadLimits()
_CELL_HINT = (
    "A cell that long is usually an export gone wrong (a log or a whole document pasted into one cell, "
    "or a quote that is never closed); the models read only the first few thousand characters of a text."
)


def csv_rows(handle: Any, **kwargs: Any) -> Iterator[list[str]]:
    """``csv.reader(handle, **kwargs)`` that accepts cells of any length (see MAX_CSV_CELL: the
    byte, row and cell limits bound what is read, not the csv module's own 131,072)."""
    if csv.field_size_limit() < MAX_CSV_CELL:
        csv.field_size_limit(MAX_CSV_CELL)
    return csv.reader(handle, **kwargs)


def _count(value: int, partial: bool) -> str:
    return f"at least {value:,}" if partial else f"{value:,}"


# ------------------------------------------------------------------------------------ CSV


@dataclass
class CsvShape:
    """What a scan of a CSV found. ``longest_cell``: characters of the longest field as written
    (enclosing quotes counted), on ``longest_cell_row`` (1-based, the header is 1; rows are
    records: a quoted line break does not start a row); ``widest``: fields of the widest row, on
    ``widest_row``; ``partial``: the scan stopped early, at a limit (the values are "at least");
    ``regular``: every quote opens or closes a field, so the scan saw the fields a CSV parser sees
    (else only ``longest_cell`` is sure, as a lower bound); ``open_quote_row``: the row of the
    quote that opens the longest cell when that cell was still open where the scan ended (0:
    none), ``open_to_end``: the scan ended at the end of the file (the quote is never closed)."""

    longest_cell: int = 0
    longest_cell_row: int = 0
    widest: int = 0
    widest_row: int = 0
    partial: bool = False
    regular: bool = True
    open_quote_row: int = 0
    open_to_end: bool = False


_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D


class _CsvScan:
    """One pass over a CSV's bytes, chunk by chunk, with NumPy: the longest field and the widest
    row, without parsing a cell (see :class:`CsvShape`).

    A quote's parity says whether a byte is inside a quoted field (RFC 4180: a quote inside one
    is written twice, so the parity stays right); that holds while every quote opens a field
    (after a delimiter, a line break, another quote or the start) or closes one (before those or
    the end). A stray quote inside an unquoted field (``5" screen``) breaks it: the scan then
    says so (``regular`` False) and still bounds the longest cell from below by the longest
    stretch without any delimiter or line break, which no parser can split.
    Characters: UTF-8 bytes that start a character (``utf8``), else one per byte.
    """

    def __init__(self, delimiter: str, utf8: bool, limits: ReadLimits) -> None:
        self.delimiter = ord(delimiter)
        self.utf8 = utf8
        self.limits = limits
        self.shape = CsvShape()
        self.parity = 0  # 1: inside a quoted field
        self.field = 0  # characters of the field in progress (quote-aware)
        self.stretch = 0  # characters since the last delimiter or line break (quote-blind)
        self.longest_stretch = 0
        self.fields = 1  # fields of the row in progress
        self.row = 1  # the row in progress
        self.prev = -1  # the byte before this chunk (-1: the start)
        self.close_pending = False  # a closing quote ended the last chunk: the next byte decides
        self.open_row = 0  # the row of the last quote that opened a field
        self.started = False

    def over(self) -> bool:
        """Whether what was seen so far is over a limit (so the scan can stop)."""
        shape, limits = self.shape, self.limits
        if max(self.longest_stretch, self.stretch) > limits.max_cell_chars:
            return True
        return shape.regular and (
            max(shape.longest_cell, self.field) > limits.max_cell_chars
            or max(shape.widest, self.fields) > limits.max_columns
        )

    def feed(self, chunk: bytes | memoryview) -> None:
        if not self.started:
            self.started = True
            if bytes(chunk[:3]) == codecs.BOM_UTF8:
                chunk = chunk[3:]
        a = np.frombuffer(chunk, dtype=np.uint8)
        n = len(a)
        if not n:
            return
        # Full passes over the chunk are few (five comparisons, three index lists); the rest
        # works on the positions of quotes and separators.
        quotes = np.flatnonzero(a == _QUOTE)
        separators = np.flatnonzero((a == self.delimiter) | (a == _LF) | (a == _CR))
        continuation = np.flatnonzero((a & 0xC0) == 0x80) if self.utf8 else None
        if continuation is not None and not len(continuation):
            continuation = None  # ASCII: a byte is a character

        def chars(positions: Any) -> Any:  # characters in a[:position]
            return positions if continuation is None else positions - np.searchsorted(continuation, positions)

        # Quote-blind stretches between separators: a lower bound of the longest field.
        carried = self.stretch
        self.stretch, longest, at = _runs(separators, chars, n, carried)
        self.longest_stretch = max(self.longest_stretch, longest)
        opening = ((self.parity + np.arange(1, len(quotes) + 1)) & 1) == 1  # each quote opens or closes
        self._quotes(a, quotes, opening)
        if self.shape.regular:
            outside = separators
            if len(quotes) or self.parity:
                outside = separators[((self.parity + np.searchsorted(quotes, separators)) & 1) == 0]
            if len(quotes) or self.parity or self.field != carried:
                self.field, longest, at = _runs(outside, chars, n, self.field)
            else:  # no quote in play and the same field carried in: the quote-blind pass's numbers
                self.field = self.stretch
            kind = a[outside]
            is_lf = kind == _LF  # a CRLF row ends once, at its LF

            def row_at(position: int) -> int:
                return self.row + int(np.searchsorted(outside[is_lf], position))

            if longest > self.shape.longest_cell:
                self.shape.longest_cell, self.shape.longest_cell_row = longest, row_at(at)
            self._widest(outside, np.flatnonzero(kind != self.delimiter), row_at)
            if opening.any():
                self.open_row = row_at(int(quotes[opening][-1]))
            self.row += int(np.count_nonzero(is_lf))
        self.parity = (self.parity + len(quotes)) & 1
        self.prev = int(a[-1])

    def _widest(self, outside: np.ndarray, breaks: np.ndarray, row_at: Any) -> None:
        """Fields per row: ``outside`` are the separators outside quotes, ``breaks`` the indexes
        of the line breaks among them; the separators between two line breaks are delimiters."""
        if not len(breaks):
            self.fields += len(outside)
            return
        fields = np.diff(breaks, prepend=-1)  # delimiters between two line breaks, plus one
        fields[0] += self.fields - 1
        best = int(np.argmax(fields))
        if fields[best] > self.shape.widest:
            self.shape.widest, self.shape.widest_row = int(fields[best]), row_at(int(outside[breaks[best]]))
        self.fields = len(outside) - int(breaks[-1])

    def _quotes(self, a: np.ndarray, quotes: np.ndarray, opening: np.ndarray) -> None:
        """Whether every quote opens or closes a field (see the class docstring)."""
        if not self.shape.regular:
            return
        ok = (self.delimiter, _LF, _CR, _QUOTE)
        if self.close_pending and int(a[0]) not in ok:
            self.shape.regular = False
            return
        self.close_pending = False
        if not len(quotes):
            return
        before = np.where(quotes > 0, a[np.maximum(quotes - 1, 0)].astype(np.int16), self.prev)
        last = quotes == len(a) - 1
        after = a[np.minimum(quotes + 1, len(a) - 1)]
        good = np.where(opening, np.isin(before, ok) | (before == -1), np.isin(after, ok) | last)
        if not good.all():
            self.shape.regular = False
            return
        self.close_pending = bool(last[-1] and not opening[-1])

    def finish(self, at_end: bool) -> CsvShape:
        """The shape, with the field and row in progress counted; not ``at_end`` (the scan
        stopped early), a value from them is marked "at least" (``partial``)."""
        shape = self.shape
        if shape.regular:
            if self.field > shape.longest_cell:
                shape.longest_cell, shape.longest_cell_row = self.field, self.row
                shape.partial = not at_end
                if self.parity:  # the longest cell is a quoted one still open where the scan ended
                    shape.open_quote_row, shape.open_to_end = self.open_row, at_end
            if self.fields > shape.widest:
                shape.widest, shape.widest_row = self.fields, self.row
                shape.partial = not at_end
        else:  # past the stray quote only the quote-blind bound is sure, without a row number
            if self.longest_stretch > shape.longest_cell:
                shape.longest_cell, shape.longest_cell_row = self.longest_stretch, 0
            if self.stretch > shape.longest_cell:
                shape.longest_cell, shape.longest_cell_row, shape.partial = self.stretch, 0, not at_end
        return shape


def _runs(ends: np.ndarray, chars: Any, n: int, carried: int) -> tuple[int, int, int]:
    """For fields that end at ``ends`` (separator positions in a chunk of ``n`` bytes;
    ``chars(positions)`` counts the characters before them) after ``carried`` characters from
    earlier chunks: (characters of the field still open at the chunk's end, the longest ended
    field, the position where it ends)."""
    if not len(ends):
        return carried + int(chars(n)), 0, 0
    lengths = (chars(ends) - chars(np.concatenate(([0], ends[:-1] + 1)))).astype(np.int64)
    lengths[0] += carried
    best = int(np.argmax(lengths))
    return int(chars(n) - chars(ends[-1] + 1)), int(lengths[best]), int(ends[best])


def _exact_shape(rows: Iterable[list[str]], limits: ReadLimits) -> CsvShape:
    """The shape as the csv module parses the rows (for a file with stray quotes, where the byte
    scan cannot tell fields apart); stops at the first row over a limit."""
    shape = CsvShape()
    for number, row in enumerate(rows, start=1):
        if len(row) > shape.widest:
            shape.widest, shape.widest_row = len(row), number
        longest = max(map(len, row), default=0)
        if longest > shape.longest_cell:
            shape.longest_cell, shape.longest_cell_row = longest, number
        if _over(shape, limits):
            break
    return shape


def _over(shape: CsvShape, limits: ReadLimits) -> bool:
    return shape.longest_cell > limits.max_cell_chars or shape.widest > limits.max_columns


def _raise_for(shape: CsvShape, limits: ReadLimits) -> None:
    if shape.longest_cell > limits.max_cell_chars:
        hint = ""
        if shape.open_quote_row:
            state = "is never closed, so the rest of the file reads as one cell" if shape.open_to_end else "is still open there"
            hint = (f"The quote opened on row {shape.open_quote_row:,} {state}: if the cell should end sooner, close "
                    "the quote (or save the file again from the spreadsheet).")
        raise ReadLimitError(limits.cell_message(_count(shape.longest_cell, shape.partial),
                                                 shape.longest_cell_row, hint))
    if shape.widest > limits.max_columns:
        raise ReadLimitError(limits.columns_message(_count(shape.widest, shape.partial), shape.widest_row))


def scan_csv(chunks: Iterable[bytes], delimiter: str, *, utf8: bool = True, limits: ReadLimits = DEFAULT_READ_LIMITS,
             stop_after_rows: int | None = None) -> CsvShape:
    """Scan CSV bytes (an iterable of chunks, UTF-8 or one byte a character) and return their
    :class:`CsvShape`, stopping at the first chunk where a limit is crossed or, with
    ``stop_after_rows``, where that many rows have been seen. Does not raise."""
    scan = _CsvScan(delimiter, utf8, limits)
    chunks = iter(chunks)
    for chunk in chunks:
        limits.tick()
        scan.feed(chunk)
        if scan.over() or (stop_after_rows is not None and scan.row > stop_after_rows):
            return scan.finish(at_end=not any(len(more) for more in chunks))  # at most one chunk more
    return scan.finish(at_end=True)


# Encodings whose delimiter, quote and line-break bytes never occur inside another character,
# so the scan can read the file's own bytes; others (UTF-16, GB18030) are scanned as UTF-8.
_BYTE_SAFE = {"utf-8": True, "utf-8-sig": True, "cp1252": False, "latin-1": False}


def _chunks(data: bytes | memoryview) -> Iterator[bytes]:
    view, size = memoryview(data), SCAN_CHUNK_BYTES
    for start in range(0, len(view), size):
        yield view[start : start + size]


def check_csv_bytes(raw: bytes, text: str, encoding: str, delimiter: str, limits: ReadLimits = DEFAULT_READ_LIMITS) -> None:
    """Raise :class:`ReadLimitError` when the CSV ``raw`` (decoded as ``text`` from ``encoding``,
    split by ``delimiter``) has a cell over ``limits.max_cell_chars`` or a row over
    ``limits.max_columns`` fields; cheap (one NumPy pass, about 1 s per 200 MB), and it stops
    at the first chunk over a limit."""
    utf8, data = _BYTE_SAFE.get(encoding), _chunks(raw)
    if utf8 is None:
        data, utf8 = _transcoded(data, encoding), True
    shape = scan_csv(data, delimiter, utf8=utf8, limits=limits)
    if not shape.regular and not _over(shape, limits):
        shape = _exact_shape(csv_rows(io.StringIO(text, newline=""), delimiter=delimiter), limits)
    _raise_for(shape, limits)


def check_csv_file(path: str | Path, encoding: str, delimiter: str, limits: ReadLimits = DEFAULT_READ_LIMITS, *,
                   stop_after_rows: int | None = None) -> None:
    """:func:`check_csv_bytes` for a file on disk, read in chunks (memory: a few chunks,
    whatever the file's size). ``stop_after_rows``: check only the start of the file, chunk by
    chunk until that many rows have been seen (a preview: the rest is checked before it is read)."""
    path = Path(path)
    utf8 = _BYTE_SAFE.get(encoding)
    with open(path, "rb") as handle:
        chunks = iter(lambda: handle.read(SCAN_CHUNK_BYTES), b"")
        if utf8 is None:
            chunks, utf8 = _transcoded(chunks, encoding), True
        shape = scan_csv(chunks, delimiter, utf8=utf8, limits=limits, stop_after_rows=stop_after_rows)
    if not shape.regular and not _over(shape, limits):
        with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, errors="replace", newline="") as text:
            shape = _exact_shape(itertools.islice(csv_rows(text, delimiter=delimiter), stop_after_rows), limits)
    _raise_for(shape, limits)


def _transcoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8", errors="surrogatepass")
    yield decoder.decode(b"", final=True).encode("utf-8", errors="surrogatepass")


# ------------------------------------------------------------------------------ workbooks

_LT = 0x3C  # "<"
_SHARED_STRINGS = "xl/sharedstrings.xml"
_SHEETS_FOLDER = "xl/worksheets/"


class _XmlScan:
    """One pass over a workbook part's XML, chunk by chunk, with NumPy: the longest text between
    two tags (a cell's text as written, XML escapes such as ``&amp;`` counted as written) and,
    for a sheet, the most cells in one row (``<c`` elements between ``</row>`` tags). Cheap: it
    never builds a cell. A cell whose text is split into rich-text runs is measured run by run;
    the reader (:func:`sheet_rows`) measures whole cells as it reads."""

    def __init__(self) -> None:
        self.text = 0  # characters since the last "<"
        self.longest_text = 0
        self.cells = 0  # cells of the row in progress
        self.most_cells = 0
        self.tail = b""  # the last bytes of a chunk, read again with the next (tags span chunks)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.tail + chunk
        keep = 0 if final else min(len(data), 4)  # "</ro" needs four bytes to be told apart
        self.tail = data[len(data) - keep :]
        a = np.frombuffer(data + b"\0\0\0\0", dtype=np.uint8)
        n = len(data) - keep
        tags = np.flatnonzero(a[:n] == _LT)
        continuation = np.flatnonzero((a[:n] & 0xC0) == 0x80)

        def chars(positions: Any) -> Any:
            return positions - np.searchsorted(continuation, positions)

        self.text, longest, _ = _runs(tags, chars, n, self.text)
        self.longest_text = max(self.longest_text, longest, self.text)
        first, second = a[tags + 1], a[tags + 2]
        cell = (first == ord("c")) & np.isin(second, (0x20, 0x3E, 0x2F, 0x09, 0x0A, 0x0D))  # "<c " "<c>" "<c/>"
        row_end = (first == ord("/")) & (second == ord("r")) & (a[tags + 3] == ord("o"))  # "</ro(w>)"
        cells, ends = tags[cell], tags[row_end]
        if not len(ends):
            self.cells += len(cells)
        else:
            per_row = np.diff(np.searchsorted(cells, ends), prepend=0)
            per_row[0] += self.cells
            self.most_cells = max(self.most_cells, int(per_row.max()))
            self.cells = len(cells) - int(np.searchsorted(cells, ends[-1]))
        self.most_cells = max(self.most_cells, self.cells)


def check_workbook(raw: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS, name: str = "") -> None:
    """Raise :class:`ReadLimitError` before an .xlsx workbook (a zip) is opened when it would
    unpack to more than ``limits.max_unpacked_bytes``, holds a member packed more than
    :data:`MAX_COMPRESSION_RATIO` to 1, or its sheets or shared strings hold a text over
    ``limits.max_cell_chars`` or a row of more than ``limits.max_columns`` cells.

    Sizes come from the zip's central directory (Python's zipfile never unpacks more than a
    member declares: it stops there and fails the member's checksum), the texts and rows from
    one streamed pass over the XML (about 1 s per 300 MB; memory: one chunk). A file that is
    not a readable zip passes: opening it reports that.
    """
    what = name or "The workbook"
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with archive:
        members = archive.infolist()
        unpacked = sum(m.file_size for m in members)
        if unpacked > limits.max_unpacked_bytes:
            raise ReadLimitError(
                f"{what} unpacks to {unpacked / MB:,.0f} MB (an .xlsx file is a zip of XML); the limit here is "
                f"{limits.max_unpacked_bytes / MB:,.0f} MB unpacked ({limits.where('max_unpacked_mb')}). "
                "Workbooks are slow to read; save the sheet as 'CSV UTF-8' and upload that, which reads much faster."
            )
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
                raise ReadLimitError(
                    f"{what} holds a part ({member.filename}) packed {ratio:,.0f} to 1; spreadsheets pack about "
                    f"5 to 20 to 1 and this server refuses more than {MAX_COMPRESSION_RATIO} to 1 (a 'zip bomb' "
                    "packs about 1,000 to 1; MAX_COMPRESSION_RATIO in core/limits.py). Save the sheet again from "
                    "your spreadsheet program, or as 'CSV UTF-8'."
                )
        for member in members:
            lower = member.filename.lower()
            if lower == _SHARED_STRINGS or (lower.startswith(_SHEETS_FOLDER) and lower.endswith(".xml")):
                _check_xml(archive, member, limits, what)


def _check_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limits: ReadLimits, what: str) -> None:
    scan, stopped = _XmlScan(), False
    try:
        with archive.open(member) as part:
            while chunk := part.read(SCAN_CHUNK_BYTES):
                limits.tick()
                scan.feed(chunk)
                if scan.longest_text > limits.max_cell_chars or scan.most_cells > limits.max_columns:
                    stopped = part.read(1) != b""  # the rest is not read: what was found is a lower bound
                    break
            if not stopped:
                scan.feed(b"", final=True)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return  # a damaged or encrypted part: opening the workbook reports it
    if scan.longest_text > limits.max_cell_chars:  # as written: tags and escapes such as &amp; count
        raise ReadLimitError(limits.cell_message(f"{'at least' if stopped else 'about'} {scan.longest_text:,}"))
    if scan.most_cells > limits.max_columns:
        raise ReadLimitError(limits.columns_message(f"{'at least ' if stopped else ''}{scan.most_cells:,}"))


def sheet_rows(sheet: Any, limits: ReadLimits = DEFAULT_READ_LIMITS, name: str = "",
               numbers: list[int] | None = None) -> list[list[Any]]:
    """The non-blank rows of an openpyxl read-only ``sheet``, as pandas' openpyxl reader gives
    cell values (an empty cell or empty text: NaN; an error cell: NaN; a whole float: int),
    padded with NaN to the widest row; the first row is the header.

    Streams the rows and stops at the first that crosses a limit, raising
    :class:`ReadLimitError`: more than ``limits.max_rows`` data rows (blank rows counted, as a
    sheet spans them), a row wider than ``limits.max_columns`` cells, a text over
    ``limits.max_cell_chars`` characters, or more cells than ``limits.max_sheet_cells`` (rows
    times the widest row, stray formatted cells far right included: the table it would become).
    ``numbers``: when given, each returned row's sheet row number (1-based) is appended to it.
    """
    what = f"Sheet {name!r}" if name else "The sheet"
    sheet.reset_dimensions()  # a sheet's declared size can be wrong; read what is there (as pandas does)
    rows: list[list[Any]] = []
    widest = cells_read = 0
    budget = limits.max_sheet_cells
    for number, row in enumerate(sheet.rows, start=1):
        if number % CHECKPOINT_ROWS == 0:
            limits.tick()
        if number > limits.max_rows + 1:
            raise ReadLimitError(limits.rows_message(what))
        cells_read += len(row)  # what openpyxl built, trailing empty (formatted) cells included
        if cells_read > budget:
            raise ReadLimitError(_sheet_cells_message(what, number, len(row), limits))
        values = [_cell_value(cell) for cell in row]
        while values and values[-1] is _EMPTY:
            values.pop()
        if not values:
            continue
        if len(values) > limits.max_columns:
            raise ReadLimitError(limits.columns_message(f"{len(values):,}", number))
        for value in values:
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise ReadLimitError(limits.cell_message(f"{len(value):,}", number))
        widest = max(widest, len(values))
        if widest * (len(rows) + 1) > budget:
            raise ReadLimitError(_sheet_cells_message(what, number, widest, limits, table_rows=len(rows) + 1))
        rows.append(values)
        if numbers is not None:
            numbers.append(number)
    return [[math.nan if v is _EMPTY else v for v in r] + [math.nan] * (widest - len(r)) for r in rows]


_EMPTY = object()  # an empty cell while a row is read (NaN in the table)


def check_table(frame: Any, limits: ReadLimits = DEFAULT_READ_LIMITS) -> None:
    """Raise :class:`ReadLimitError` when a table already read (a DataFrame) is wider than
    ``limits.max_columns`` or holds a text longer than ``limits.max_cell_chars``: for readers
    that cannot be checked before they read (an .xls through pandas), whose size the file's
    bounds."""
    if frame.shape[1] > limits.max_columns:
        raise ReadLimitError(limits.columns_message(f"{frame.shape[1]:,}"))
    for column in frame.columns:
        lengths = frame[column].map(lambda v: len(v) if isinstance(v, str) else 0)
        if len(lengths) and lengths.max() > limits.max_cell_chars:
            raise ReadLimitError(limits.cell_message(f"{int(lengths.max()):,}", int(lengths.idxmax()) + 1))


def _cell_value(cell: Any) -> Any:
    """A cell's value as pandas' openpyxl reader gives it (pandas 2-3, ``_convert_cell``)."""
    value = cell.value
    if value is None or value == "" or cell.data_type == "e":  # "e": an error such as #N/A
        return _EMPTY
    if cell.data_type == "n" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sheet_cells_message(what: str, row: int, width: int, limits: ReadLimits, table_rows: int = 0) -> str:
    spread = (f"would be a table of {table_rows:,} rows x {width:,} columns" if table_rows
              else f"spreads over more cells than that by row {row:,}")
    return (
        f"{what} {spread}, counting empty or formatted cells out to its last used column: more than the "
        f"{limits.max_sheet_cells:,} cells this server reads from a sheet (max_unpacked_mb / "
        f"{UNPACKED_BYTES_PER_CELL} bytes a cell; {limits.where('max_unpacked_mb')}). In Excel, Ctrl+End shows "
        "the last used cell: delete the rows and columns past your data, or save the sheet as 'CSV UTF-8'."
    )
