"""Streaming batch prediction: CSV in, CSV out, in chunks, with progress.

Memory stays bounded whatever the file size: each chunk is read, predicted and appended to
the output file. Every input row gives exactly one output row in the same order; rows the model
cannot use (no text) get an empty prediction and a ``prediction_error`` note.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import decode_bytes, sniff_delimiter
from .export import neutralise_formulas

CHUNK_ROWS = 5000
ERROR_COLUMN = "prediction_error"


@dataclass(frozen=True)
class PredictProgress:
    """Progress of a batch prediction (same spirit as training's ProgressEvent)."""

    rows_done: int
    total_rows: int | None  # None when unknown (counted lazily for huge files)
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class PredictSummary:
    n_rows: int
    n_errors: int
    seconds: float
    output: Path

    @property
    def rows_per_second(self) -> float:
        return self.n_rows / self.seconds if self.seconds else 0.0


def prediction_columns(model: Any) -> list[str]:
    """The columns prediction appends, in order."""
    if model.task == "regression":
        return ["predicted_value", ERROR_COLUMN]
    return ["predicted_label", "confidence", *[f"p_{c}" for c in model.classes_], ERROR_COLUMN]


def missing_columns(model: Any, columns: list[str]) -> list[str]:
    return [c for c in model.input_columns if c not in columns]


def predict_frame(
    model: Any,
    df: pd.DataFrame,
    *,
    column_map: dict[str, str] | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """``df`` with prediction columns appended (same rows, same order).

    ``column_map`` maps the model's input column names to this file's column names, for files
    whose columns are named differently from the training data.
    """
    column_map = column_map or {}
    source = {needed: column_map.get(needed, needed) for needed in model.input_columns}
    absent = [f"{needed} (mapped to '{col}')" if col != needed else needed for needed, col in source.items() if col not in df.columns]
    if absent:
        raise ValueError(f"The file lacks column(s) the model needs: {absent}; it has {list(df.columns)}.")
    inputs = pd.DataFrame({needed: _typed(df[col]) for needed, col in source.items()}, index=df.index)
    text_cols = model.schema.get("text_columns", [])
    has_text = np.zeros(len(df), dtype=bool) if text_cols else np.ones(len(df), dtype=bool)
    for col in text_cols:
        has_text |= inputs[col].notna().to_numpy() & (inputs[col].astype(str).str.strip() != "").to_numpy()
    out = df.copy()
    usable = np.flatnonzero(has_text)
    usable_inputs = inputs.iloc[usable]
    if model.task == "regression":
        values = np.full(len(df), np.nan)
        if len(usable):
            values[usable] = model.predict(usable_inputs, batch_size=batch_size)
        out["predicted_value"] = values
    else:
        proba = np.full((len(df), len(model.classes_)), np.nan)
        if len(usable):
            proba[usable] = model.predict_proba(usable_inputs, batch_size=batch_size)
        labels = np.full(len(df), "", dtype=object)
        labels[usable] = np.asarray(model.classes_, dtype=object)[proba[usable].argmax(axis=1)]
        out["predicted_label"] = labels
        out["confidence"] = proba.max(axis=1) if len(df) else []  # NaN where there was no text
        for i, c in enumerate(model.classes_):
            out[f"p_{c}"] = proba[:, i]
    out[ERROR_COLUMN] = np.where(has_text, "", f"no text in {text_cols}")
    return out


def _typed(series: pd.Series) -> pd.Series:
    """Numbers read as text become numbers again, so the model input is built as in training."""
    converted = pd.to_numeric(series, errors="coerce")
    non_empty = series.notna() & (series.astype(str).str.strip() != "")
    if non_empty.any() and converted[non_empty].notna().all():
        return converted
    return series


def predict_csv(
    model: Any,
    source: str | Path,
    output: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    batch_size: int = 64,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[PredictProgress], None] | None = None,
) -> PredictSummary:
    """Predict every row of CSV ``source`` into CSV ``output`` (original columns first, then
    the prediction columns), chunk by chunk. Text cells are made formula-safe; the output is
    written to a temporary file and renamed into place when complete."""
    source, output = Path(source), Path(output)
    started = time.monotonic()
    with open(source, "rb") as handle:
        sample = handle.read(1 << 20)
    if not sample.strip():
        raise ValueError("The file is empty: expected a header row and data rows.")
    text, encoding = decode_bytes(sample)
    delimiter = sniff_delimiter(text)
    total = _count_rows(source, encoding, delimiter)
    tmp = output.with_name(f".{output.name}.partial-{os.getpid()}")
    n_rows = n_errors = 0
    try:
        reader = pd.read_csv(
            source,
            sep=delimiter,
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=chunk_rows,
        )
        for i, chunk in enumerate(reader):
            result = predict_frame(model, chunk, column_map=column_map, batch_size=batch_size)
            n_errors += int((result[ERROR_COLUMN] != "").sum())
            neutralise_formulas(result).to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)
            n_rows += len(chunk)
            if on_progress:
                elapsed = time.monotonic() - started
                eta = elapsed / n_rows * (total - n_rows) if total else None
                on_progress(PredictProgress(n_rows, total, elapsed, eta))
        if n_rows == 0:
            raise ValueError("The file has a header row but no data rows.")
        tmp.replace(output)
    except pd.errors.ParserError as exc:
        raise ValueError(f"Could not parse the CSV: {str(exc).strip().splitlines()[0]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return PredictSummary(n_rows, n_errors, time.monotonic() - started, output)


def _count_rows(source: Path, encoding: str, delimiter: str) -> int:
    """Data rows in the file (quoted newlines respected), for an honest progress bar."""
    count = 0
    for chunk in pd.read_csv(
        source, sep=delimiter, encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        dtype=str, usecols=[0], chunksize=200_000, keep_default_na=False,
    ):
        count += len(chunk)
    return count
