"""Reading users' CSV and Excel files, checking a column mapping, building model inputs, splitting.

Everything here is pure pandas/numpy and raises ``ValueError`` with a message meant for the
person who uploaded the file: what was expected and what was found.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig

DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # Streamlit's default upload limit
DEFAULT_MAX_ROWS = 2_000_000
DELIMITERS = ",;\t|"
# A numeric label with more distinct values than this is probably a quantity, not a class.
MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION = 20
MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test
MAX_SMALL_CLASSES_LISTED = 5  # classes named one by one as too small; the rest are counted
SPLIT_NAMES = ("train", "validation", "test")

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


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

    @property
    def is_workbook(self) -> bool:
        return self.sheet is not None

    def describe(self) -> str:
        """How the file was read, in words: "encoding utf-8 · delimiter comma" or "sheet 'Q3'"."""
        if self.is_workbook:
            of = f" (of {len(self.sheets)})" if len(self.sheets) > 1 else ""
            return f"Excel sheet '{self.sheet}'{of}"
        name = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(self.delimiter, repr(self.delimiter))
        return f"encoding {self.encoding} · delimiter {name}"


LoadedTable = LoadedCsv  # the same record for CSV and workbook uploads
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
TABLE_SUFFIXES = ("csv", "tsv", "txt", "xlsx", "xlsm", "xls")  # what upload widgets accept
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old binary Excel (.xls), also old Word/PowerPoint


def read_table(
    source: str | Path | bytes | io.IOBase,
    name: str = "",
    *,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> LoadedCsv:
    """Read a user's table: a CSV (as :func:`load_csv`) or an Excel workbook (.xlsx/.xlsm).

    The kind is told from the content (a workbook is a zip file), so a renamed file is read
    right; ``name`` (the file name, e.g. the upload's) is only used in messages. For a workbook
    ``sheet`` picks the sheet (default: the first); the first row is the header, cells come
    back as the user's values (numbers as numbers, text as text, even text starting with '=';
    a formula cell gives the value Excel last saved for it), fully empty rows are skipped and
    only empty cells count as missing. Same limits and checks as CSV (size, rows, header,
    duplicate names). Raises ``ValueError`` saying what was expected and found, e.g. for an old
    .xls file when no installed library reads it, or an unknown sheet name.
    """
    raw = _read_bytes(source, max_bytes)
    head = raw[:8]
    if head.startswith(_OLE_MAGIC) or (not head.startswith(_ZIP_MAGIC) and str(name).lower().endswith(".xls")):
        return _read_xls(raw, name, sheet, max_rows)
    if head.startswith(_ZIP_MAGIC):
        return _read_workbook(raw, name, sheet, max_rows, engine="openpyxl")
    return load_csv(raw, max_bytes=max_bytes, max_rows=max_rows)


def sheet_names(source: str | Path | bytes | io.IOBase, name: str = "", *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The sheet names of an Excel workbook, in workbook order; ``[]`` for a CSV (or any file
    that is not a workbook). Raises ``ValueError`` when a workbook cannot be opened."""
    raw = _read_bytes(source, max_bytes)
    if not raw.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        return []
    return list(read_table(raw, name, sheet=_SHEETS_ONLY, max_bytes=max_bytes).sheets)


_SHEETS_ONLY = "\x00sheets"  # read_table's sheet value that lists the sheets without reading one


def _read_xls(raw: bytes, name: str, sheet: str | None, max_rows: int) -> LoadedCsv:
    # pandas reads .xls only through xlrd or python-calamine; neither is a dependency here.
    for module, engine in (("python_calamine", "calamine"), ("xlrd", "xlrd")):
        if importlib.util.find_spec(module) is not None:
            return _read_workbook(raw, name, sheet, max_rows, engine=engine)
    raise ValueError(
        f"{name or 'This file'} is an old Excel 97-2003 workbook (.xls), which cannot be read here. "
        "In Excel use File > Save As and choose 'Excel Workbook (.xlsx)' or 'CSV UTF-8', then upload that file."
    )


def _read_workbook(raw: bytes, name: str, sheet: str | None, max_rows: int, engine: str) -> LoadedCsv:
    what = name or "the workbook"
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
        if sheet == _SHEETS_ONLY:
            return LoadedCsv(frame=pd.DataFrame(), encoding="", delimiter="", n_bytes=len(raw), sheet="", sheets=sheets)
        chosen = sheets[0] if sheet is None else str(sheet)
        if chosen not in sheets:
            raise ValueError(f"{what} has no sheet named {chosen!r}; its sheets are {list(sheets)}.")
        try:
            # header=None: the header row is checked here as for CSV (pandas would rename a
            # duplicate "a" to "a.1" silently). keep_default_na=False: a cell saying "NA" is text.
            cells = book.parse(
                chosen, header=None, keep_default_na=False, na_values=[""], nrows=max_rows + 2, dtype=object
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"Could not read sheet {chosen!r} of {what}: {_first_line(exc)}.") from None
    cells = cells.dropna(how="all")  # blank rows, as a CSV reader skips blank lines
    if cells.empty:
        raise ValueError(f"Sheet {chosen!r} is empty: expected a header row and at least one data row.")
    header = ["" if pd.isna(h) else _cell_name(h) for h in cells.iloc[0].tolist()]
    body = cells.iloc[1:]
    # Columns with neither a name nor a value (formatting Excel keeps past the data) are dropped.
    keep = [i for i, h in enumerate(header) if h or body.iloc[:, i].notna().any()]
    header = [header[i] or f"Unnamed: {i}" for i in keep]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise ValueError(
            f"Column names must be unique; found duplicated name(s) {duplicates} in sheet {chosen!r}. "
            "Rename them in the workbook and upload it again."
        )
    if body.empty:
        raise ValueError(f"Sheet {chosen!r} has a header row but no data rows.")
    if len(body) > max_rows:
        raise ValueError(
            f"Sheet {chosen!r} has more than {max_rows:,} rows, the limit here; split it or sample it before uploading."
        )
    frame = body.iloc[:, keep].copy()
    frame.columns = header
    # Object columns of all-int or all-float cells become numeric columns as a CSV reader would
    # make them; text columns (and mixed ones) keep each cell's own value.
    frame = frame.infer_objects().reset_index(drop=True)
    return LoadedCsv(frame=frame, encoding=engine if engine != "openpyxl" else "xlsx", delimiter="",
                     n_bytes=len(raw), sheet=chosen, sheets=sheets)


def _cell_name(value: Any) -> str:
    """A header cell as a column name: 2024 (a number) -> "2024", text stripped."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_csv(
    source: str | Path | bytes | io.IOBase,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> pd.DataFrame:
    """Read a user's CSV into a DataFrame (see :func:`load_csv` for what is detected)."""
    return load_csv(source, max_bytes=max_bytes, max_rows=max_rows).frame


def load_csv(
    source: str | Path | bytes | io.IOBase,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> LoadedCsv:
    """Read a CSV robustly: encoding (UTF-8 with/without BOM, GB18030/GBK, cp1252, Latin-1),
    delimiter (comma, semicolon, tab, pipe) and quoted newlines are handled.

    Only empty cells count as missing (a review saying "NA" stays text). Raises ``ValueError``
    for an empty file, a header without rows, binary content (e.g. an .xlsx renamed .csv),
    duplicate column names, or more bytes/rows than the limits.
    """
    raw = _read_bytes(source, max_bytes)
    if not raw.strip():
        raise ValueError("The file is empty: expected a header row and at least one data row.")
    _refuse_binary(raw)
    text, encoding = decode_bytes(raw)
    delimiter = sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    header = [h.strip() for h in header]
    if not any(header):
        raise ValueError("The first row is empty: expected a header row naming the columns.")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise ValueError(
            f"Column names must be unique; found duplicated name(s) {duplicates}. "
            "Rename them in the file and upload it again."
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            keep_default_na=False,
            na_values=[""],
            nrows=max_rows + 1,
            skipinitialspace=False,
            on_bad_lines="error",
        )
    except pd.errors.ParserError as exc:
        raise ValueError(
            f"Could not parse the file as CSV with delimiter {delimiter!r}: {_first_line(exc)}. "
            "Check that every row has the same number of fields and quotes are closed."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise ValueError("The file has a header row but no data rows.")
    if len(frame) > max_rows:
        raise ValueError(
            f"The file has more than {max_rows:,} rows, the limit here; "
            "split it or sample it before uploading."
        )
    return LoadedCsv(frame=frame, encoding=encoding, delimiter=delimiter, n_bytes=len(raw))


def _read_bytes(source: str | Path | bytes | io.IOBase, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"No such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(_too_big(size, max_bytes))
        raw = path.read_bytes()
    else:  # a file-like object, e.g. Streamlit's UploadedFile
        raw = source.read(max_bytes + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    if len(raw) > max_bytes:
        raise ValueError(_too_big(len(raw), max_bytes))
    return raw


def _too_big(size: int, limit: int) -> str:
    return f"The file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB."


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
        return  # UTF-16 text has NUL bytes but is text; decode_bytes handles it
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or control > len(head) * 0.01:
        raise ValueError("The file looks binary (not text), so it is not a CSV.")


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes, returning (text, encoding name).

    Order: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030 (a superset of GBK/GB2312)
    when the result is mostly Chinese, then cp1252, then Latin-1 (which never fails).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
        non_ascii = [ch for ch in text if ord(ch) > 127]
        # cp1252 bytes often decode as GB18030 too; believe it only if the result reads as CJK.
        if non_ascii and sum(bool(_CJK.match(ch)) for ch in non_ascii) >= 0.7 * len(non_ascii):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most consistent number of fields."""
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    best, best_score = ",", -1.0
    for delimiter in DELIMITERS:
        rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))[:50]
        widths = [len(r) for r in rows if r]
        if not widths or max(widths) < 2:
            continue
        score = widths.count(widths[0]) / len(widths) * widths[0]
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --------------------------------------------------------------------------- column mapping


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping; ``field`` names the control it concerns."""

    field: str  # "text_columns", "label_column", "feature_columns", "split_column" or "task"
    message: str


@dataclass
class MappingReport:
    """What :func:`validate_mapping` found. Training may start only when ``errors`` is empty."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    n_rows_in: int = 0
    n_rows_used: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> row count
    class_counts: dict[str, int] = field(default_factory=dict)
    suggested_task: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def errors_for(self, field_name: str) -> list[str]:
        return [p.message for p in self.errors if p.field == field_name]

    def summary(self) -> str:
        parts = [f"{self.n_rows_used:,} of {self.n_rows_in:,} rows usable"]
        parts += [f"{n:,} dropped: {why}" for why, n in self.dropped.items() if n]
        return "; ".join(parts)


def validate_mapping(df: pd.DataFrame, config: TrainConfig) -> MappingReport:
    """Check that ``config``'s columns fit ``df`` before any training starts.

    Rows with no text in any text column, or no label, are dropped and counted in the report.
    """
    report = MappingReport(n_rows_in=len(df))
    columns = set(df.columns)
    for name, kind in [(c, "text_columns") for c in config.text_columns] + [
        (c, "feature_columns") for c in config.feature_columns
    ]:
        if name not in columns:
            report.errors.append(Problem(kind, f"Column '{name}' is not in the file; found {list(df.columns)}."))
    if config.label_column not in columns:
        report.errors.append(
            Problem("label_column", f"Label column '{config.label_column}' is not in the file.")
        )
    overlap = set(config.feature_columns) & (set(config.text_columns) | {config.label_column})
    if overlap:
        report.errors.append(
            Problem("feature_columns", f"Column(s) {sorted(overlap)} cannot be both a profile column and a text/label column.")
        )
    if config.split_column and config.split_column not in columns:
        report.errors.append(Problem("split_column", f"Split column '{config.split_column}' is not in the file."))
    if report.errors:
        return report

    text_present = _text_present(df, config.text_columns)
    if text_present.mean() < 0.5:
        report.errors.append(
            Problem(
                "text_columns",
                f"Only {text_present.mean():.0%} of rows have text in {list(config.text_columns)}; "
                "expected mostly non-empty text. Is this the right column?",
            )
        )
    label = df[config.label_column]
    label_present = label.notna() & (label.astype(str).str.strip() != "")
    report.dropped["no text"] = int((~text_present).sum())
    report.dropped["no label"] = int((text_present & ~label_present).sum())
    keep = text_present & label_present
    numeric = pd.to_numeric(label[keep], errors="coerce")
    n_distinct = int(label[keep].nunique())

    if config.task == "regression":
        not_number = numeric.isna()
        report.dropped["label is not a number"] = int(not_number.sum())
        keep &= pd.to_numeric(label, errors="coerce").notna()
        if int(keep.sum()) < 10:
            report.errors.append(Problem("label_column", f"Regression needs at least 10 rows with a numeric label; found {int(keep.sum())}."))
    else:
        counts = label[keep].astype(str).str.strip().value_counts()
        report.class_counts = {str(k): int(v) for k, v in counts.items()}
        if numeric.notna().all() and n_distinct > MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION:
            report.suggested_task = "regression"
            report.errors.append(
                Problem(
                    "task",
                    f"Label column '{config.label_column}' holds numbers with {n_distinct} distinct "
                    "values; that looks like a quantity. Choose the regression task to predict it.",
                )
            )
        elif len(counts) < 2:
            found = f"1 distinct value ({counts.index[0]!r})" if len(counts) else "no values"
            report.errors.append(
                Problem("label_column", f"Column '{config.label_column}' has {found}; training needs at least 2 classes.")
            )
        else:
            small = counts[counts < MIN_ROWS_PER_CLASS]
            if _looks_like_identifier(len(counts), len(small), int(keep.sum())):
                # One message, not one per value: a column of ids or free text is the wrong column.
                report.errors.append(
                    Problem(
                        "label_column",
                        f"Column '{config.label_column}' has {len(counts):,} distinct values in "
                        f"{int(keep.sum()):,} rows ({len(small):,} of them on fewer than {MIN_ROWS_PER_CLASS} rows); "
                        "that looks like an id or free-text column, not a label. Choose the column that "
                        "holds a few categories (e.g. positive/negative).",
                    )
                )
                small = small.iloc[:0]
            for cls, n in small.iloc[:MAX_SMALL_CLASSES_LISTED].items():
                report.errors.append(
                    Problem(
                        "label_column",
                        f"Class {cls!r} has {n} row(s); each class needs at least "
                        f"{MIN_ROWS_PER_CLASS} (one each for training, validation and test).",
                    )
                )
            if len(small) > MAX_SMALL_CLASSES_LISTED:
                report.errors.append(
                    Problem(
                        "label_column",
                        f"{len(small) - MAX_SMALL_CLASSES_LISTED} more class(es) have fewer than "
                        f"{MIN_ROWS_PER_CLASS} rows (e.g. {', '.join(map(repr, small.index[MAX_SMALL_CLASSES_LISTED:][:3]))}); "
                        "add rows for them or merge them into other classes.",
                    )
                )
            if len(counts) > 100 and not _looks_like_identifier(len(counts), len(counts[counts < MIN_ROWS_PER_CLASS]), int(keep.sum())):
                report.warnings.append(Problem("label_column", f"{len(counts)} classes is a lot; is '{config.label_column}' really a label?"))
        if numeric.notna().all() and 2 < n_distinct <= MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION:
            report.warnings.append(
                Problem("task", f"The label is numeric with {n_distinct} values; if it is a quantity (e.g. a rating), regression may suit it better.")
            )
    if config.split_column:
        values = set(df.loc[keep, config.split_column].astype(str).str.strip().str.lower())
        bad = sorted(values - set(SPLIT_NAMES))
        if bad:
            report.errors.append(Problem("split_column", f"Split column values must be {SPLIT_NAMES}; found {bad[:5]}."))
        elif not {"train", "test"} <= values:
            report.errors.append(Problem("split_column", "The split column needs at least 'train' and 'test' rows."))
    report.n_rows_used = int(keep.sum())
    report.dropped = {k: v for k, v in report.dropped.items() if v}
    return report


def _looks_like_identifier(n_classes: int, n_small: int, n_rows: int) -> bool:
    """True for a label column that holds ids or free text rather than categories: more than
    MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION distinct values, most of them on too few rows to
    learn from, and at least one distinct value per two rows (60 values in 60 rows, say)."""
    return (
        n_classes > MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION
        and n_small > n_classes / 2
        and n_classes >= n_rows / 2
    )


def _text_present(df: pd.DataFrame, text_columns: tuple[str, ...]) -> pd.Series:
    present = pd.Series(False, index=df.index)
    for col in text_columns:
        present |= df[col].notna() & (df[col].astype(str).str.strip() != "")
    return present


def usable_rows(df: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The rows training uses: text present, label present (and numeric for regression)."""
    keep = _text_present(df, config.text_columns)
    label = df[config.label_column]
    keep &= label.notna() & (label.astype(str).str.strip() != "")
    if config.task == "regression":
        keep &= pd.to_numeric(label, errors="coerce").notna()
    return df.loc[keep]


# --------------------------------------------------------------------------- model input


def format_value(value: Any) -> str:
    """A cell as the model reads it: integers without '.0', floats to 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else f"{float(value):.4g}"
    return " ".join(str(value).split())  # collapse newlines and runs of spaces


def build_texts(
    df: pd.DataFrame, text_columns: tuple[str, ...] | list[str], feature_columns: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """Build one model input per row, deterministically.

    One text column and no profile columns: the text itself (so a saved model also works on
    raw text, e.g. in ``transformers.pipeline``). Otherwise ``"name: value"`` fields joined
    by ``" | "``, profile columns first, then text columns, in the given order; empty cells
    are left out. Example: ``"age: 34 | department: Dresses | review: Love it"``.
    """
    missing = [c for c in [*feature_columns, *text_columns] if c not in df.columns]
    if missing:
        raise ValueError(f"Column(s) {missing} are missing; the model needs {[*feature_columns, *text_columns]}.")
    if len(text_columns) == 1 and not feature_columns:
        return [format_value(v) for v in df[text_columns[0]].tolist()]
    columns = [*feature_columns, *text_columns]
    values = [df[c].tolist() for c in columns]
    texts = []
    for row in zip(*values):
        fields = [f"{name}: {format_value(v)}" for name, v in zip(columns, row) if format_value(v)]
        texts.append(" | ".join(fields))
    return texts


def cjk_share(texts: list[str], sample: int = 2000) -> float:
    """Share of letters that are Chinese/Japanese/Korean characters, over a sample of texts."""
    letters = cjk = 0
    for text in texts[:sample]:
        for ch in str(text):
            if ch.isalpha():
                letters += 1
                cjk += bool(_CJK.match(ch))
    return cjk / letters if letters else 0.0


# --------------------------------------------------------------------------- splits


def split_indices(
    labels: pd.Series | np.ndarray | list,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
) -> dict[str, np.ndarray]:
    """Positions (0..n-1) of the train/validation/test rows.

    Stratified by label (classification): every class with at least 3 rows gets at least one
    row in each split. Deterministic for a given seed and label order.
    """
    labels = np.asarray(pd.Series(labels).astype(str) if stratify else np.zeros(len(labels)))
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for value in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
        n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {name: np.sort(np.concatenate(chunks)) if chunks else np.array([], int) for name, chunks in parts.items()}


def split_from_column(values: pd.Series) -> dict[str, np.ndarray]:
    """Positions of each split from a user's column of train/validation/test values."""
    normalised = values.astype(str).str.strip().str.lower().to_numpy()
    return {name: np.flatnonzero(normalised == name) for name in SPLIT_NAMES}
