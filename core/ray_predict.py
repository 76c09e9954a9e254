"""Batch scoring on a Ray cluster: the same rows, columns and order as :func:`core.predict.predict_csv`.

For files too big for one machine (a nightly 50-million-row export): Ray Data reads the input
files in parallel (one read task per file, each read exactly as the in-process path reads a CSV:
encoding and delimiter sniffed, every cell text), scores them in ``map_batches`` on a pool of
actors that each load the saved model once (the same loader and the same checked fast path as
in-process, on a GPU when the cluster has one), and streams the results back to this process in
order, which writes them with the in-process writer (:func:`core.predict.write_chunk`).

Every row carries a row id (file number, row number in the file); at the end the ids must be
complete and in order, or nothing is written. Failed actor tasks are retried by Ray (actor
restarts, ``max_task_retries`` and Ray Data's ``actor_task_retry_on_errors``); a row the model
cannot use gets the same ``prediction_error`` note as in-process, never a lost row.

Ray is an optional dependency (``pip install marketune[ray]``), imported only here.

Where the time goes (issue 28; minilm-en fine-tuned 1 epoch on 400 sample rows, 2-core machine
shared with other jobs, 1-minute load in brackets; /tmp scripts timing each phase and every
actor call, plus ``bench/bench_ray_predict.py``):

- Rows per actor call was the main cost. The CLI passed its ``--batch-size`` (64, the forward
  batch in-process) as rows per actor call, so every 64 rows paid a task dispatch, a pandas
  conversion and, above all, padding: ``TextClassifier`` sorts by length only within a call, and
  in-process sorts within 5,000-row chunks. One actor thread, 2,000 rows through
  ``predict_frame`` (load 1.8-3): 62 rows/s in 64-row calls, 121 in 256-row calls, 150 in
  2,048-row calls. Now ``--batch-size`` is the forward batch inside the actor and each call gets
  :func:`rows_per_call` rows (up to 2,048; enough calls that both actors stay busy).
- Start, before the first row is scored (4,000 rows, load 5-7): ``ray.init`` 6-12 s; then
  15-20 s until an actor's constructor runs (a fresh worker process importing ray, pandas,
  scikit-learn through ``core``), then 14-16 s to load torch, transformers and the model on one
  thread. So about 30 s under load before scoring starts; it is a fixed cost, paid once per run.
- Threads: Ray sets ``OMP_NUM_THREADS=1`` for a 0.5-CPU actor, so two actors ran one torch
  thread each (checked in the actors): no oversubscription, but one local actor used only one of
  the two cores. Actors now set torch's threads to cores / workers (cluster actors: 1).
- Arrow -> pandas (``_plain``): 2 ms per 2,000 rows; the CSV write in the driver: 0.1 s for
  4,000 rows. Neither matters. The read tasks (0.25 CPU each) overlap the actors' start.
- Result, 20,000 rows, 2 workers, same run, idle machine (2026-12-06): in-process 206 rows/s;
  Ray 271 rows/s without ``ray.init`` (1.31x), 260 with it (1.26x); labels agree 100%, rows
  complete and in order by id. ``python -m bench.bench_ray_predict --rows 20000``
  (docs/measurements.md, "Ray scoring vs in-process").
- Left: one 2,000-row CSV through the CLI with ``--workers 2`` was scored by one actor
  (``facts["actors"] == 1``) while the other idled; smaller read chunks did not change it (Ray
  Data coalesces a read task's output into one block; an actor takes several blocks in flight).
  With 4 files of 5,000 rows both actors worked. Split big single files into parts.
- With ``preserve_order`` the first scored rows reached the driver only at the end of a
  4,000-row run (``facts["seconds"]["first_rows"]``), so writing does not overlap scoring; it is
  cheap, so this costs little here.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .limits import ReadLimits
from .predict import (
    CHUNK_ROWS,
    ERROR_COLUMN,
    OOD_COLUMN,
    PredictSummary,
    check_columns,
    decimal_comma_columns,
    file_columns,
    output_names,
    predict_event,
    renamed_columns,
    write_chunk,
)
from .progress import ProgressCallback
from .reading import TABLE_SUFFIXES, count_rows, open_stream, pandas_chunks

FILE_ID, ROW_ID = "__marketune_file", "__marketune_row"  # carried through Ray, never written
# CPUs per scoring actor on a local cluster. Below 1 so that on a 2-core laptop two actors and
# the read tasks can all be scheduled (whole CPUs would make them wait for each other).
LOCAL_ACTOR_CPUS = 0.5
READ_TASK_CPUS = 0.25
TASK_RETRIES = 3  # per actor task, application errors included
# Rows per actor call. Each call costs a task dispatch, an Arrow -> pandas conversion and a
# length sort of only its own rows; 64- or 256-row calls spent more on that and on padding
# than big calls (measurements in the module docstring). CHUNK_ROWS-sized reads give one call
# per read block or so.
ROWS_PER_CALL = 2048
CALLS_PER_ACTOR = 8  # enough calls that no actor idles long while the last ones finish


def rows_per_call(total: int, workers: int) -> int:
    """Rows per actor call for ``total`` rows on ``workers`` actors: big calls (fewer dispatches,
    less padding) but at least ``CALLS_PER_ACTOR`` per actor, between 64 and ``ROWS_PER_CALL``."""
    return int(min(ROWS_PER_CALL, max(64, -(-total // (max(1, workers) * CALLS_PER_ACTOR)))))


def configured_address() -> str | None:
    """The Ray cluster the app offers to run on: ``MARKETUNE_RAY_ADDRESS`` ("auto",
    "ray://host:10001", or "local" for a Ray started inside this process); None when unset."""
    return os.environ.get("MARKETUNE_RAY_ADDRESS", "").strip() or None


def input_files(source: str | Path) -> list[Path]:
    """The CSV files that ``source`` names: one file, every *.csv in a folder, or a glob pattern.

    Sorted by path, which fixes the order of the output rows. Raises ValueError when none match.
    """
    source = str(source)
    if Path(source).is_file():
        return [Path(source)]
    if Path(source).is_dir():
        files = sorted(p for p in Path(source).iterdir() if p.suffix.lower().lstrip(".") in TABLE_SUFFIXES and p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
    if not files:
        raise ValueError(f"No CSV files found at {source!r}: expected a CSV file, a folder of CSV files or a glob pattern.")
    return files


def _read_file(batch: dict[str, Any], chunk_rows: int, limits: ReadLimits | None = None,
               columns: list[str] | None = None):
    """Ray Data task: read one input file in chunks (core.reading, as the in-process path reads
    it), each row tagged with its (file, row) id."""
    path, file_no = Path(str(batch["path"].iloc[0])), int(batch["file_no"].iloc[0])
    offset = 0
    for chunk in pandas_chunks(open_stream(path, columns=columns or (), limits=limits), chunk_rows):
        if chunk.empty:
            continue
        chunk[FILE_ID] = file_no
        chunk[ROW_ID] = range(offset, offset + len(chunk))
        offset += len(chunk)
        yield chunk


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with Arrow-backed columns (as Ray Data hands pandas batches over) made the
    NumPy-backed columns the in-process path works with: text as objects with NaN for missing,
    numbers as float64/int64. Without this the same rows give other bytes (and the tokenizer
    path other float rounding) than in-process."""
    import pyarrow as pa

    columns = {}
    for col in frame.columns:
        values, dtype = frame[col], frame[col].dtype
        if isinstance(dtype, pd.ArrowDtype):
            kind = dtype.pyarrow_dtype
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                values = values.to_numpy(dtype=object, na_value=np.nan)
            elif pa.types.is_boolean(kind) and not values.isna().any():  # the out_of_distribution flag
                values = values.to_numpy(dtype=bool)
            elif pa.types.is_integer(kind) and not values.isna().any():
                values = values.to_numpy(dtype=np.int64)
            else:
                values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        columns[col] = values
    out = pd.DataFrame(columns, index=frame.index)
    return out


class Scorer:
    """Ray Data actor: loads the saved model once, then predicts batch after batch."""

    def __init__(self, model_dir: str, fast: bool, column_map: dict[str, str] | None, batch_size: int,
                 ood: bool = False, decimal_comma: dict[int, list[str]] | None = None, threads: int | None = None) -> None:
        import torch

        from .fastpath import load_fast_model
        from .models import load_folder
        from .ood import OodReference

        if threads:  # the actor's share of the cores: more would oversubscribe them (module docstring)
            torch.set_num_threads(threads)
        self.model = load_fast_model(model_dir) if fast else load_folder(model_dir)
        self.column_map, self.batch_size = column_map, batch_size
        # predict_ray made sure the folder holds the reference before starting the actors.
        self.ood = OodReference.load(model_dir) if ood else None
        # {file number: columns holding decimal-comma numbers}, decided per file by predict_ray
        # over the whole file, as core.predict.predict_csv decides it for one file.
        self.decimal_comma = decimal_comma or {}
        self.pid = os.getpid()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from .predict import predict_frame

        batch = _plain(batch)
        ids = batch[[FILE_ID, ROW_ID]]
        # A batch may span files; rows of one file are contiguous (order is preserved), so
        # scoring file by file keeps the batch's row order.
        result = pd.concat([
            predict_frame(
                self.model, part.drop(columns=[FILE_ID, ROW_ID]), column_map=self.column_map,
                batch_size=self.batch_size, ood=self.ood, decimal_comma=self.decimal_comma.get(int(file_no), ()),
            )
            for file_no, part in batch.groupby(FILE_ID, sort=False)
        ])
        result[FILE_ID], result[ROW_ID] = ids[FILE_ID].to_numpy(), ids[ROW_ID].to_numpy()
        result["__marketune_actor"] = self.pid
        return result


def _scoring_dataset(files: list[Path], needed: list[str], limits: ReadLimits | None, *, address: str | None,
                     workers: int, batch_size: int, scorer: type, actor_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The Ray Data pipeline (one read task per file, then ``workers`` ``scorer`` actors taking
    ``batch_size`` rows per call) on the initialised Ray, and the resources each actor holds."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.execution_options.preserve_order = True
    context.actor_task_retry_on_errors = True  # retry application errors too, not only crashes
    context.enable_progress_bars = False
    gpus = 1 if address and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    cpus = LOCAL_ACTOR_CPUS if address is None else 1
    # Local: the cores shared out among the actors (2 actors on 2 cores: 1 torch thread each; 1
    # actor: 2). A cluster actor holds 1 CPU, and Ray sets OMP_NUM_THREADS=1 for it.
    threads = max(1, (os.cpu_count() or 1) // max(1, workers)) if address is None else 1
    listing = [{"path": str(f), "file_no": i} for i, f in enumerate(files)]
    dataset = (
        ray.data.from_items(listing, override_num_blocks=len(files))
        .map_batches(_read_file, batch_size=1, batch_format="pandas", fn_kwargs={"chunk_rows": CHUNK_ROWS, "limits": limits, "columns": needed}, num_cpus=READ_TASK_CPUS)
        .map_batches(
            scorer,
            fn_constructor_kwargs={**actor_kwargs, "threads": threads},
            batch_size=batch_size,
            batch_format="pandas",
            compute=ActorPoolStrategy(size=workers),
            num_cpus=cpus,
            num_gpus=gpus,
            max_restarts=TASK_RETRIES,
            max_task_retries=TASK_RETRIES,
        )
    )
    return dataset, {"threads_per_actor": threads, "gpus_per_actor": gpus, "cpus_per_actor": cpus}


def _open_alike(files: list[Path], needed: list[str], limits: ReadLimits | None) -> tuple[list[Any], list[list[str]]]:
    """Every input file opened as in-process prediction reads it; they must share their columns."""
    streams = [open_stream(path, columns=needed, limits=limits) for path in files]
    columns = [list(stream.header) for stream in streams]
    for path, found in zip(files, columns):
        if found != columns[0]:
            raise ValueError(f"All input files need the same columns: {files[0].name} has {columns[0]}, {path.name} has {found}.")
    return streams, columns


@dataclass
class _InOrder:
    """Writes the rows that come back from the actors to each file's temporary output, checking
    that they arrive in file and row order (Ray's ``preserve_order``), and counts them."""

    files: list[Path]
    counts: list[int]  # data rows per input file
    temps: list[Path]  # the temporary output of each input file
    error_column: str
    ood_column: str | None  # None: no out-of-distribution flag
    formula_safe: bool
    expected_file: int = 0
    expected_row: int = 0
    n_rows: int = 0
    n_errors: int = 0
    n_ood: int = 0
    actors: set[int] = field(default_factory=set)
    written: set[Path] = field(default_factory=set)
    on_part: Callable[[pd.DataFrame], None] = lambda result: None  # each part written (the scoring history's tally)

    def write(self, batch: pd.DataFrame) -> None:
        for file_no, part in _plain(batch).groupby(FILE_ID, sort=False):
            file_no = int(file_no)
            while self.expected_file < file_no and self.expected_row == self.counts[self.expected_file]:
                self.expected_file, self.expected_row = self.expected_file + 1, 0
            rows = part[ROW_ID].to_numpy()
            if file_no != self.expected_file or rows[0] != self.expected_row or (rows != range(rows[0], rows[0] + len(rows))).any():
                raise RuntimeError(
                    f"Rows came back out of order: expected row {self.expected_row} of {self.files[self.expected_file].name}, "
                    f"got row {rows[0]} of {self.files[file_no].name}. Nothing was written."
                )
            self.expected_row += len(rows)
            self.actors.update(part["__marketune_actor"].unique().tolist())
            result = part.drop(columns=[FILE_ID, ROW_ID, "__marketune_actor"])
            tmp = self.temps[file_no]
            write_chunk(result, tmp, first=tmp not in self.written, formula_safe=self.formula_safe)
            self.written.add(tmp)
            self.n_rows += len(result)
            self.n_errors += int((result[self.error_column] != "").sum())
            if self.ood_column is not None:
                self.n_ood += int(result[self.ood_column].astype(bool).sum())
            self.on_part(result)


def predict_ray(
    model_dir: str | Path,
    source: str | Path,
    output: str | Path,
    *,
    address: str | None = None,
    workers: int = 2,
    batch_size: int | None = None,
    model_batch_size: int = 64,
    fast: bool = False,
    column_map: dict[str, str] | None = None,
    parts: bool = False,
    formula_safe: bool = False,
    on_progress: ProgressCallback | None = None,
    scorer: type = Scorer,
    ood: bool = False,
    limits: ReadLimits | None = None,
    history: str | None = None,
) -> tuple[PredictSummary, dict[str, Any]]:
    """Score every row of ``source`` (file, folder or glob of CSVs) with the model in ``model_dir``.

    ``output`` is one CSV (rows of all files in file order) or, with ``parts``, a folder with one
    CSV per input file under the input's name. Columns and row order are those of
    :func:`core.predict.predict_csv` for the same rows. ``address``: None starts a local Ray
    (actors get ``LOCAL_ACTOR_CPUS`` each); "auto" or "ray://host:10001" joins a cluster (actors
    get 1 CPU, and 1 GPU each when the cluster has GPUs). ``workers``: actors in the pool;
    ``batch_size``: rows per actor call (sorted by length inside the call); None: about
    ``CALLS_PER_ACTOR`` calls per actor, at most ``ROWS_PER_CALL`` rows (:func:`rows_per_call`);
    ``model_batch_size``: rows per forward pass inside an actor (``batch_size`` of
    :func:`core.predict.predict_csv`). ``fast``: the model's checked fast form
    (:func:`core.fastpath.load_fast_model`; refused if its check has not passed).
    ``formula_safe``: formula-like cells neutralised, as :func:`core.predict.predict_csv` does.
    ``ood``: append the ``out_of_distribution`` flag (:func:`core.predict.predict_frame`) with
    the model folder's reference (built here once, before the actors load it); the summary counts it.
    ``limits``: every file's longest cell and widest row are checked first, as
    :func:`core.predict.predict_csv` checks them (core's defaults when None).
    ``history``: where the scoring came from ("cli", "page"): its counts are added to the model
    folder's scoring history (core.monitor) once the output is written, as predict_csv does.

    Returns (summary, run facts: actors used, GPUs per actor, files). Raises ValueError for bad
    input (no files, files whose columns differ, missing model columns) and RuntimeError when the
    rows that came back are incomplete or out of order; the output is written to a temporary
    path and renamed into place only when complete.
    """
    import ray

    from .models import load_folder

    started = time.monotonic()
    files = input_files(source)
    model = load_folder(model_dir)  # fails here, clearly, before any cluster work
    needed = list(file_columns(model, column_map).values())  # a workbook's header row is found by them
    streams, columns = _open_alike(files, needed, limits)
    check_columns(model, columns[0], column_map, streams[0].missing_hint)
    reference = None
    if ood:
        from .predict import ood_reference

        reference = ood_reference(model, model_dir)  # saved into the folder for the actors
    ood = reference is not None
    names = output_names(model, columns[0], ood=ood)  # the user's own names never overwritten
    error_column = names[ERROR_COLUMN]
    counts = [count_rows(stream) for stream in streams]
    # Decimal-comma columns (2,76 in a ';' export) are decided per file over the whole file, as
    # training's reader and predict_csv decide them; one pass over the model's columns each.
    decimal_comma = {i: found for i, s in enumerate(streams) if (found := decimal_comma_columns(model, s, column_map))}
    total = sum(counts)
    batch_size = batch_size or rows_per_call(total, workers)

    marks = {"prepare": time.monotonic() - started}
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    marks["ray_start"] = time.monotonic() - started - marks["prepare"]
    dataset, resources = _scoring_dataset(
        files, needed, limits, address=address, workers=workers, batch_size=batch_size, scorer=scorer,
        actor_kwargs={"model_dir": str(model_dir), "fast": fast, "column_map": column_map, "batch_size": model_batch_size,
                      **({"ood": True} if ood else {}), **({"decimal_comma": decimal_comma} if decimal_comma else {})},
    )

    output = Path(output)
    if parts:
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / f.name for f in files]
    else:
        targets = [output] * len(files)
    temps = {t: t.with_name(f".{t.name}.partial-{os.getpid()}") for t in targets}
    from .monitor import ScoringTally, record

    tally = ScoringTally()
    out = _InOrder(files, counts, [temps[t] for t in targets], error_column, names[OOD_COLUMN] if ood else None,
                   formula_safe, on_part=lambda result: tally.add(result, names, model.task, ood))
    writing, executing = 0.0, time.monotonic()
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            marks.setdefault("first_rows", time.monotonic() - executing)
            began = time.monotonic()
            out.write(batch)
            n_rows = out.n_rows
            writing += time.monotonic() - began
            if on_progress:
                elapsed = time.monotonic() - started
                on_progress(predict_event(n_rows, total, elapsed, elapsed / n_rows * (total - n_rows) if n_rows else None))
        n_rows, n_errors, n_ood, actors, written = out.n_rows, out.n_errors, out.n_ood, out.actors, out.written
        if n_rows != total:
            raise RuntimeError(f"{n_rows:,} of {total:,} rows came back from the cluster; nothing was written.")
        _put_in_place(temps, written)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    if history is not None:
        record(model.path, tally, history)
    marks.update(write=writing, total=time.monotonic() - started)
    facts = {"seconds": {k: round(v, 2) for k, v in marks.items()}, "actors": len(actors), **resources,
             "files": len(files)}
    renamed = renamed_columns(model, columns[0], ood=ood)
    summary = PredictSummary(n_rows, n_errors, time.monotonic() - started, output, renamed, n_ood if ood else None,
                             _notes(files, streams))
    return summary, facts


def _notes(files: list[Path], streams: list[Any]) -> tuple[str, ...]:
    """How each file was read (core.reading's notes), as predict_csv reports them; each prefixed by
    its file's name when a folder of files was scored."""
    return tuple(f"{path.name}: {note}" if len(files) > 1 else note
                 for path, stream in zip(files, streams) for note in stream.notes)


def _put_in_place(temps: dict[Path, Path], written: set[Path]) -> None:
    """Rename each finished temporary output to its target; an input with a header only fails, as in-process."""
    for target, tmp in temps.items():
        if tmp not in written:
            raise ValueError(f"{target.name}: the file has a header row but no data rows.")
        tmp.replace(target)
