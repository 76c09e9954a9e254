"""Streaming batch prediction: CSV in, CSV out, in chunks, with progress.

Memory stays bounded whatever the file size: each chunk is read, predicted and appended to
the output file. Every input row gives exactly one output row in the same order; rows the model
cannot use (no text) get an empty prediction and a ``prediction_error`` note.

A row with profile columns filled but every text column empty gets no prediction either, on
purpose: training drops rows without text (core.data.validate_mapping), so a text model has
never seen a profile-only input and its score for one would be a guess. A model trained on
profile columns alone (a tabular response model) has no text columns and scores every row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .base_models import LANGUAGE_SAMPLE
from .export import neutralise_formulas
from .limits import ReadLimits, check_scoring_rows
from .models import SavedModel
from .multilabel import OUTPUT_SEP, PREDICTED_LABELS, tags_from_proba
from .multilabel import prediction_columns as multilabel_columns
from .ood import OOD_COLUMN
from .progress import ProgressCallback, ProgressEvent
from .reading import (
    HEADER_ONLY,
    DecimalCommaScan,
    Stream,
    count_rows,
    decimal_comma_floats,
    missing_columns_message,
    non_empty,
    open_stream,
    pandas_chunks,
)

CHUNK_ROWS = 5000
ERROR_COLUMN = "prediction_error"


@dataclass(frozen=True)
class PredictSummary:
    n_rows: int
    n_errors: int
    seconds: float
    output: Path
    # Prediction columns whose usual name the file already used: usual name -> name written.
    renamed: dict[str, str] = field(default_factory=dict)
    # Rows flagged out_of_distribution; None when the flag was not asked for or not possible.
    n_out_of_distribution: int | None = None
    # How the file was read (core.reading's notes: a sheet's title block, merged cells, gzip...).
    notes: tuple[str, ...] = ()
    # core.language_check's warning: many texts in a language the model does not read; None if not.
    language_warning: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.n_rows / self.seconds if self.seconds else 0.0


MULTI_LABEL = "multi_label"  # the prediction kind of a model with several tags per row


def output_task(model: Any) -> str:
    """What a model's prediction file holds: "classification", "regression", or "multi_label"
    (several tags per row: ``predicted_labels`` and ``p_<tag>``); the ``task`` that
    :func:`read_predictions`, :func:`prediction_overview` and the pages take."""
    return MULTI_LABEL if getattr(model, "multi_label", False) else model.task


def prediction_columns(model: Any, *, ood: bool = False) -> list[str]:
    """The columns prediction appends, in order (``ood``: with the out-of-distribution flag last)."""
    return _appended(output_task(model), model.classes_, ood)


def _appended(task: str, classes: Sequence[Any], ood: bool) -> list[str]:
    flag = [OOD_COLUMN] if ood else []
    if task == "regression":
        return ["predicted_value", ERROR_COLUMN, *flag]
    if task == MULTI_LABEL:  # several tags per row (core.multilabel)
        return [*multilabel_columns(classes), ERROR_COLUMN, *flag]
    return ["predicted_label", "confidence", *[f"p_{c}" for c in classes], ERROR_COLUMN, *flag]


def output_names(model: Any, columns: list[str] | pd.Index, *, ood: bool = False) -> dict[str, str]:
    """The name each prediction column gets in a file with ``columns``: its usual name
    (:func:`prediction_columns`), or ``name_2``, ``name_3``... when the file already has a column
    of that name, so the user's own columns and values are never overwritten."""
    taken = {str(c) for c in columns}
    names: dict[str, str] = {}
    for name in prediction_columns(model, ood=ood):
        chosen, n = name, 1
        while chosen in taken:
            n += 1
            chosen = f"{name}_{n}"
        taken.add(chosen)
        names[name] = chosen
    return names


def renamed_columns(model: Any, columns: list[str] | pd.Index, *, ood: bool = False) -> dict[str, str]:
    """The prediction columns that cannot take their usual name in a file with ``columns``."""
    return {k: v for k, v in output_names(model, columns, ood=ood).items() if k != v}


def renamed_message(renamed: dict[str, str]) -> str:
    """A sentence telling the user which prediction columns were renamed ("" for none)."""
    if not renamed:
        return ""
    pairs = ", ".join(f"'{new}' (for '{old}')" for old, new in renamed.items())
    return f"The file already has column(s) {list(renamed)}; they are kept as they are and the predictions are in {pairs}."


def _names_in_file(columns: list[str] | pd.Index, task: str, classes: Sequence[Any]) -> dict[str, str]:
    # predict_csv writes the prediction columns last, so they are the file's last k columns
    # (k + 1 with the out-of-distribution flag).
    for ood in (True, False):
        usual = _appended(task, classes, ood)
        last = [str(c) for c in list(columns)[-len(usual):]]
        if len(last) == len(usual) and all(c == u or c.startswith(f"{u}_") for c, u in zip(last, usual)):
            return dict(zip(usual, last))
    return {u: u for u in _appended(task, classes, False)}


def missing_columns(model: SavedModel, columns: list[str]) -> list[str]:
    return [c for c in model.input_columns if c not in columns]


def predict_frame(
    model: SavedModel,
    df: pd.DataFrame,
    *,
    column_map: dict[str, str] | None = None,
    batch_size: int = 64,
    ood: Any = None,
    decimal_comma: Collection[str] = (),
    sheet_hint: str | Callable[[list[str]], str] = "",
) -> pd.DataFrame:
    """``df`` with prediction columns appended (same rows, same order).

    The appended columns are named by :func:`output_names`: ``predicted_label_2`` and so on
    where ``df`` already has a column of the usual name (kept untouched).

    ``ood``: a :class:`core.ood.OodReference` (or True: the saved model folder's,
    :func:`ood_reference`) appends ``out_of_distribution`` (bool) last: True where the row's
    model input is farther from the training texts than the reference's threshold; False for
    rows without text. None/False: no such column.

    ``column_map`` maps the model's input column names to this file's column names, for files
    whose columns are named differently from the training data.

    ``decimal_comma``: columns of ``df`` whose text holds decimal-comma numbers (2,76), read as
    floats for the model as training read them (core.reading.DecimalCommaScan decides which;
    :func:`predict_csv` does). The columns written back keep the user's text.

    ``sheet_hint``: appended to the missing-columns message (which sheet was read, and the others),
    as :func:`check_columns` takes it.
    """
    check_columns(model, df.columns, column_map, sheet_hint)
    source = file_columns(model, column_map)
    inputs = pd.DataFrame({needed: decimal_comma_floats(df[col]) if col in decimal_comma else _typed(df[col])
                           for needed, col in source.items()}, index=df.index)
    text_cols = model.schema.get("text_columns", [])
    has_text = np.ones(len(df), dtype=bool)
    if text_cols:
        has_text = inputs[text_cols].apply(non_empty).any(axis=1).to_numpy(dtype=bool)
    if ood is True:
        ood = ood_reference(model)
    out = df.copy()
    name = output_names(model, df.columns, ood=bool(ood))  # never overwrite the user's own columns
    usable = np.flatnonzero(has_text)
    usable_inputs = inputs.iloc[usable]
    if model.task == "regression":
        values = np.full(len(df), np.nan)
        if len(usable):
            values[usable] = model.predict(usable_inputs, batch_size=batch_size)
        out[name["predicted_value"]] = values
    else:
        proba = np.full((len(df), len(model.classes_)), np.nan)
        if len(usable):
            proba[usable] = model.predict_proba(usable_inputs, batch_size=batch_size)
        if output_task(model) == MULTI_LABEL:  # tags at or above their thresholds; p_<tag> each on its own
            thresholds = model.thresholds if model.thresholds is not None else np.full(len(model.classes_), 0.5)
            out[name[PREDICTED_LABELS]] = tags_from_proba(proba, model.classes_, thresholds)
        else:
            labels = np.full(len(df), "", dtype=object)
            labels[usable] = np.asarray(model.classes_, dtype=object)[proba[usable].argmax(axis=1)]
            out[name["predicted_label"]] = labels
            out[name["confidence"]] = proba.max(axis=1) if len(df) else []  # NaN where there was no text
        for i, c in enumerate(model.classes_):
            out[name[f"p_{c}"]] = proba[:, i]
    out[name[ERROR_COLUMN]] = np.where(has_text, "", f"no text in {text_cols}")
    if ood:
        flagged = np.zeros(len(df), dtype=bool)
        if len(usable):
            flagged[usable] = ood.flag_texts(model_texts(model, usable_inputs))
        out[name[OOD_COLUMN]] = flagged
    return out


def check_columns(model: Any, columns: Sequence[str] | pd.Index, column_map: dict[str, str] | None = None,
                  sheet_hint: str | Callable[[list[str]], str] = "") -> None:
    """Raise the one ``ValueError`` for a file that lacks a column the model reads: the columns
    needed (and what they are mapped to), those found, the closest match, and ``sheet_hint``: a
    text, or the ``missing_hint`` of the file as read (core.reading's LoadedCsv or Stream: the
    sheet read, the others, a missing column's closest match on another sheet), given the
    columns missing, so a file streamed and one read whole say the same."""
    source = file_columns(model, column_map)
    absent = [f"{needed} (mapped to '{col}')" if col != needed else needed for needed, col in source.items() if col not in columns]
    if absent:
        missing = [col for col in source.values() if col not in columns]
        tail = sheet_hint(missing) if callable(sheet_hint) else sheet_hint
        raise ValueError(missing_columns_message(
            missing, columns, lead=f"The file lacks column(s) the model needs: {absent}") + tail)


def model_texts(model: SavedModel, inputs: pd.DataFrame) -> list[str]:
    """The model's input texts for ``inputs`` (a frame with its input columns): core.data.build_texts
    over its schema's columns, one text per row, as training built them."""
    from .data import build_texts

    return build_texts(inputs, model.schema["text_columns"], model.schema.get("profile_columns", []))


def ood_reference(model: SavedModel, folder: str | Path | None = None) -> Any:
    """The out-of-distribution reference (core.ood.OodReference) of a loaded model whose saved
    folder is ``folder`` (default: ``model.path``); built once from the folder's test
    predictions when training did not save one. None for a model that reads no text (tabular) or
    has none. Raises ValueError when neither ``folder`` nor ``model.path`` is known."""
    if not model.schema.get("text_columns"):
        return None
    folder = folder or model.path
    if folder is None:
        raise ValueError("The out-of-distribution flag needs the model's saved folder; pass it (or the reference).")
    from .ood import model_ood_reference

    return model_ood_reference(folder)


def _typed(series: pd.Series) -> pd.Series:
    """Numbers read as text become numbers again, so the model input is built as in training."""
    converted = pd.to_numeric(series, errors="coerce")
    filled = non_empty(series)
    if filled.any() and converted[filled].notna().all():
        return converted
    return series


def predict_event(rows_done: int, total_rows: int | None, elapsed_s: float, eta_s: float | None) -> ProgressEvent:
    """A batch prediction's progress: ``step`` rows scored of ``total_steps`` (0: unknown)."""
    total = f" of {total_rows:,}" if total_rows else ""
    return ProgressEvent("predict", rows_done, total_rows or 0, elapsed_s=elapsed_s, eta_s=eta_s,
                         message=f"Predicted {rows_done:,}{total} rows")


def predict_csv(
    model: SavedModel,
    source: str | Path,
    output: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    batch_size: int = 64,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: ProgressCallback | None = None,
    formula_safe: bool = False,
    ood: Any = None,
    max_rows: int | None = None,
    limits: ReadLimits | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    history: str | None = None,
) -> PredictSummary:
    """Predict every row of ``source`` into CSV ``output`` (UTF-8, comma-separated, original
    columns first, then the prediction columns), chunk by chunk. ``source`` is any file
    core.reading reads (CSV, a workbook with ``sheet``/``header_row``, JSON, .gz, .zip), its rows
    as training reads them (:func:`core.reading.open_stream`). The output is written to a
    temporary file and renamed into place when complete; it is owner-only (0600), like every
    file of customer data Marketune writes.

    Text is written exactly as read (the file the Predict page and the Dashboard read back);
    ``formula_safe=True`` neutralises formula-like cells as CSV downloads do
    (:func:`core.export.is_formula_like`), for a file meant to be opened in a spreadsheet.

    ``ood``: as :func:`predict_frame` (True: the model folder's reference, resolved once); the
    summary's ``n_out_of_distribution`` counts the flagged rows (None when no flag was written:
    not asked, or a model without text or reference).

    ``max_rows``: refuse (``ValueError``, from :func:`core.limits.check_scoring_rows`, before any
    row is scored) a file with more data rows; the pages pass the browser's limit.

    ``limits``: a plain CSV's longest cell and widest row (:class:`core.limits.ReadLimits`; core's
    defaults when None) are checked in one cheap scan before pandas reads anything (a
    ``ReadLimitError``, a ``ValueError``); a plain CSV's size is not limited here (it is read in
    chunks; the pages limit their uploads), any other kind is read whole within the limits.
    A header without rows, duplicate column names and missing model columns are refused before
    any row is scored.

    ``history``: where the scoring came from ("cli", "page", ...): its counts are added to the
    model folder's scoring history (core.monitor) once the file is written; None adds nothing.
    """
    from .monitor import ScoringTally, record
    source, output = Path(source), Path(output)
    started = time.monotonic()
    stream = open_stream(source, sheet=sheet, header_row=header_row, limits=limits,
                         columns=list(file_columns(model, column_map).values()))  # they find a workbook's header row
    check_columns(model, stream.header, column_map, stream.missing_hint)
    if ood is True:
        ood = ood_reference(model)
    ood = ood or None
    total = count_rows(stream) or None  # None: unknown (a row that does not parse; reported below)
    if max_rows is not None:
        check_scoring_rows(total, max_rows)
    decimal_comma = decimal_comma_columns(model, stream, column_map)
    tmp = output.with_name(f".{output.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)  # a leftover of a dead process with this pid would keep its mode
    tmp.touch(mode=0o600)  # the chunks' "w" and "a" writes keep this mode, and so does the rename
    n_rows = n_errors = n_ood = 0
    renamed: dict[str, str] = {}
    tally = ScoringTally()
    language_texts: list[str] = []  # the first texts scored, for core.language_check
    try:
        for chunk in pandas_chunks(stream, chunk_rows):
            if chunk.empty:
                continue
            if len(language_texts) < LANGUAGE_SAMPLE and (getattr(model, "schema", None) or {}).get("text_columns"):
                language_texts += _chunk_texts(model, chunk, column_map)[: LANGUAGE_SAMPLE - len(language_texts)]
            result = predict_frame(model, chunk, column_map=column_map, batch_size=batch_size, ood=ood,
                                   decimal_comma=decimal_comma, sheet_hint=stream.missing_hint)
            renamed = renamed_columns(model, chunk.columns, ood=ood is not None)
            names = output_names(model, chunk.columns, ood=ood is not None)
            n_errors += int((result[names[ERROR_COLUMN]] != "").sum())
            if ood is not None:
                n_ood += int(result[names[OOD_COLUMN]].sum())
            tally.add(result, names, model.task, ood is not None)
            write_chunk(result, tmp, first=n_rows == 0, formula_safe=formula_safe)
            n_rows += len(chunk)
            if on_progress:
                elapsed = time.monotonic() - started
                eta = elapsed / n_rows * (total - n_rows) if total else None
                on_progress(predict_event(n_rows, total, elapsed, eta))
        if n_rows == 0:
            raise ValueError(HEADER_ONLY)
        tmp.replace(output)
    except pd.errors.ParserError as exc:
        raise ValueError(f"Could not parse the CSV: {str(exc).strip().splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"The file is not valid {stream.encoding} text after its first part ({exc.reason} at byte "
            f"{exc.start} of a block); save it as 'CSV UTF-8' and try again."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    if history is not None:
        record(model.path, tally, history)
    from .language_check import language_warning

    return PredictSummary(n_rows, n_errors, time.monotonic() - started, output, renamed,
                          n_ood if ood is not None else None, stream.notes,
                          language_warning(getattr(model, "path", None), language_texts, of_rows=n_rows))


def _chunk_texts(model: SavedModel, chunk: pd.DataFrame, column_map: dict[str, str] | None) -> list[str]:
    """The model's input texts of a chunk of the file (its columns renamed by ``column_map``)."""
    try:
        inputs = pd.DataFrame({needed: chunk[column] for needed, column in file_columns(model, column_map).items()})
        return model_texts(model, inputs.fillna(""))
    except (KeyError, ValueError, TypeError):
        return []


def file_columns(model: Any, column_map: dict[str, str] | None) -> dict[str, str]:
    """The file's column for each input column the model reads: its own name, or what
    ``column_map`` maps it to (a file whose columns are named differently from the training data);
    {} for an object without ``input_columns`` (the file is then checked before any model is used)."""
    return {needed: (column_map or {}).get(needed, needed) for needed in getattr(model, "input_columns", ())}


def decimal_comma_columns(model: Any, source: str | Path | Stream, column_map: dict[str, str] | None = None) -> list[str]:
    """The columns of ``source`` (a file or a :class:`core.reading.Stream`) that the model reads
    and that hold decimal-comma numbers (2,76 in a ';' file), decided over the whole file by the
    rule training's reader applies (core.reading.DecimalCommaScan, the one
    :func:`core.reading.load_csv` uses), in one pass over those columns; [] for a
    comma-separated file. Columns the file lacks are left out (the prediction pass reports them)."""
    stream = source if isinstance(source, Stream) else open_stream(source)
    if stream.delimiter == ",":
        return []
    header = list(stream.header)
    wanted = [c for c in dict.fromkeys(file_columns(model, column_map).values()) if c in header]
    if not wanted:
        return []
    scan = DecimalCommaScan(stream.delimiter)
    positions = [header.index(c) for c in wanted]
    try:
        for chunk in pandas_chunks(stream, 200_000, usecols=positions):
            scan.add(chunk, wanted)
    except (pd.errors.ParserError, UnicodeDecodeError):
        return []  # the prediction pass reports the problem with its position
    return scan.columns()


def write_chunk(result: pd.DataFrame, path: Path, *, first: bool, formula_safe: bool = False) -> None:
    """Write (``first``) or append one chunk of predictions to the CSV at ``path`` with CRLF rows;
    ``formula_safe``: formula-like cells neutralised (core.export.neutralise_formulas), for files
    a spreadsheet will open. Every writer of prediction files uses this, so the in-process and
    the Ray paths (core.ray_predict) write the same cells for the same rows."""
    # CRLF rows (RFC 4180): with "\n" alone, Python's csv writer leaves a lone "\r" in
    # a cell unquoted, and a reader then splits that row in two.
    (neutralise_formulas(result) if formula_safe else result).to_csv(
        path, mode="w" if first else "a", header=first, index=False, lineterminator="\r\n"
    )


# ---------------------------------------------------------------------- reading results back
# The Predict page shows a prediction file without loading it whole: a few typed rows, counts
# and histograms computed chunk by chunk, and the least confident rows for review.

READ_CHUNK_ROWS = 100_000
# Text that reads back as the same number: no leading zeros (zip codes, ids stay text), no '+',
# at most 15 significant digits (longer ids would lose digits as floats).
_LOSSLESS_NUMBER = r"-?(0|[1-9]\d{0,14})(\.\d{1,14})?"


@dataclass(frozen=True)
class PredictionOverview:
    """Counts over a whole prediction file.

    ``label_counts``: predicted label -> rows ("" for rows without a prediction), classification
    only. ``hist_edges`` (bins + 1,) and ``hist_counts`` label -> (bins,) counts of confidence
    (classification, edges 0..1) or of the predicted value (regression, key "all").
    """

    n_rows: int
    n_errors: int
    label_counts: dict[str, int]
    hist_edges: np.ndarray
    hist_counts: dict[str, np.ndarray]


def read_predictions(
    path: str | Path, task: str, classes: Sequence[Any], *, nrows: int | None = None, skiprows: int = 0
) -> pd.DataFrame:
    """Rows of a file written by :func:`predict_csv`, typed for display and for Excel.

    ``task`` and ``classes`` are those of the model that wrote it (``model.task``,
    ``model.classes_``): they name the prediction columns, so the model itself is not needed.

    Prediction columns come back as numbers (confidence, ``p_*``, ``predicted_value``) or text
    (label, error note). Original columns stay text unless every value is a plain number that
    reads back unchanged. ``skiprows`` skips data rows (the header is kept).
    """
    skip = range(1, skiprows + 1) if skiprows else None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], nrows=nrows, skiprows=skip)
    return _type_prediction_frame(frame, task, classes)


def _type_prediction_frame(frame: pd.DataFrame, task: str, classes: Sequence[Any]) -> pd.DataFrame:
    names = _names_in_file(frame.columns, task, classes)
    predicted = list(names.values())
    label = "predicted_label" if "predicted_label" in names else PREDICTED_LABELS if PREDICTED_LABELS in names else None
    text_columns = (names[label] if label else None, names[ERROR_COLUMN])
    for col in frame.columns:
        if col in predicted:
            if col == names.get(OOD_COLUMN):
                frame[col] = frame[col].map({"True": True, "False": False})
            elif col not in text_columns:
                frame[col] = pd.to_numeric(frame[col], errors="coerce")
            else:
                frame[col] = frame[col].fillna("")
            continue
        present = frame[col].dropna()
        if not pd.api.types.is_string_dtype(present):
            continue  # already typed (the ``row`` number of low_confidence_rows)
        if len(present) and present.str.fullmatch(_LOSSLESS_NUMBER).all():
            frame[col] = pd.to_numeric(frame[col])
    return frame


def prediction_overview(path: str | Path, task: str, classes: Sequence[Any], *, bins: int = 20) -> PredictionOverview:
    """Row, error and label counts and a histogram, read chunk by chunk (bounded memory);
    ``task``, ``classes``: as for :func:`read_predictions`."""
    names = _names_in_file(pd.read_csv(path, nrows=0).columns, task, classes)
    if task == "regression":
        values = pd.concat(
            pd.to_numeric(chunk[names["predicted_value"]], errors="coerce")
            for chunk in pd.read_csv(path, usecols=[names["predicted_value"]], dtype=str, chunksize=READ_CHUNK_ROWS)
        )
        n_errors = sum(
            int(chunk[names[ERROR_COLUMN]].notna().sum())
            for chunk in pd.read_csv(path, usecols=[names[ERROR_COLUMN]], dtype=str, keep_default_na=False,
                                     na_values=[""], chunksize=READ_CHUNK_ROWS)
        )
        finite = values.dropna().to_numpy()
        counts, edges = np.histogram(finite, bins=bins) if len(finite) else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
        return PredictionOverview(len(values), n_errors, {}, edges, {"all": counts})
    if task == MULTI_LABEL:
        return _tags_overview(path, names, classes, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    label_counts: dict[str, int] = {str(c): 0 for c in classes}
    hist: dict[str, np.ndarray] = {}
    n_rows = n_errors = 0
    for chunk in pd.read_csv(
        path, usecols=[names["predicted_label"], names["confidence"], names[ERROR_COLUMN]], dtype=str,
        keep_default_na=False, na_values=[""], chunksize=READ_CHUNK_ROWS,
    ):
        n_rows += len(chunk)
        n_errors += int(chunk[names[ERROR_COLUMN]].notna().sum())
        labels = chunk[names["predicted_label"]].fillna("")
        confidence = pd.to_numeric(chunk[names["confidence"]], errors="coerce").to_numpy()
        for label, count in labels.value_counts().items():
            label_counts[label] = label_counts.get(label, 0) + int(count)
        for label in labels.unique():
            if label == "":
                continue
            values = confidence[(labels == label).to_numpy()]
            counts, _ = np.histogram(values[~np.isnan(values)], bins=edges)
            hist[label] = hist.get(label, np.zeros(bins, dtype=int)) + counts
    return PredictionOverview(n_rows, n_errors, label_counts, edges, hist)


def _tags_overview(path: str | Path, names: dict[str, str], tags: Sequence[Any], bins: int) -> PredictionOverview:
    """A multi-label file's overview: rows, errors, and rows given each tag (``label_counts``;
    "" counts rows given none); no confidence histogram (each tag has its own probability)."""
    counts: dict[str, int] = {str(t): 0 for t in tags}
    n_rows = n_errors = 0
    for chunk in pd.read_csv(path, usecols=[names[PREDICTED_LABELS], names[ERROR_COLUMN]], dtype=str,
                             keep_default_na=False, na_values=[""], chunksize=READ_CHUNK_ROWS):
        n_rows += len(chunk)
        errors = chunk[names[ERROR_COLUMN]].notna()
        n_errors += int(errors.sum())
        labels = chunk.loc[~errors, names[PREDICTED_LABELS]].fillna("")
        counts[""] = counts.get("", 0) + int((labels == "").sum())
        for tag, n in labels[labels != ""].str.split(OUTPUT_SEP, regex=False).explode().value_counts().items():
            counts[str(tag)] = counts.get(str(tag), 0) + int(n)
    return PredictionOverview(n_rows, n_errors, counts, np.linspace(0.0, 1.0, bins + 1), {})


def low_confidence_rows(
    path: str | Path, task: str, classes: Sequence[Any], threshold: float, *, limit: int = 1000
) -> tuple[pd.DataFrame, int]:
    """The rows whose confidence is below ``threshold`` (0..1), least confident first
    (``task``, ``classes``: as for :func:`read_predictions`).

    Returns (up to ``limit`` rows with their ``row`` number in front, counted from 0 as
    everywhere in Marketune (``core.data.ROW_NUMBERING``), typed as
    :func:`read_predictions` does; how many rows are below the threshold in all). Rows
    without a prediction are not included: they have a ``prediction_error`` instead.
    """
    if task == "regression":
        raise ValueError("Regression models have no confidence; low-confidence review needs a classifier.")
    kept: pd.DataFrame | None = None
    total = 0
    offset = 0
    confidence_column = _names_in_file(pd.read_csv(path, nrows=0).columns, task, classes)["confidence"]
    for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], chunksize=READ_CHUNK_ROWS):
        confidence = pd.to_numeric(chunk[confidence_column], errors="coerce")
        mask = (confidence < threshold).to_numpy()
        low = chunk.loc[mask].copy()
        total += len(low)
        if len(low):
            low.insert(0, "row", np.flatnonzero(mask) + offset)
            low["_confidence"] = confidence.to_numpy()[mask]
            kept = low if kept is None else pd.concat([kept, low])
            kept = kept.nsmallest(limit, "_confidence", keep="first")
        offset += len(chunk)
    if kept is None:
        empty = pd.read_csv(path, dtype=str, nrows=0)
        empty.insert(0, "row", pd.Series(dtype=int))
        return _type_prediction_frame(empty, task, classes), 0
    kept = kept.sort_values(["_confidence", "row"], kind="stable").drop(columns="_confidence")
    return _type_prediction_frame(kept.reset_index(drop=True), task, classes), total
