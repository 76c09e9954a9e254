"""The limits a shared server states and enforces, each with a message that says the limit and
what was found: upload size and rows, rows scored in the browser, and disk space for a job.

One place for the numbers, so the page that states a limit and the code that enforces it read
the same constant (the per-person job limit lives in ``core.workspace.TeamSettings``, the per-job
limits of rows, epochs, tokens and run time in ``core.job_limits``: they are server settings).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .data import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS

MB = 1024 * 1024
GB = 1024**3
# Rows the Predict page and the Dashboard score in the server's own process. Scoring runs in the
# page's script thread on the shared server: at the measured 536 rows/s (fp32, 2 cores; README,
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
    for its size. None: core's own default (:data:`core.data.DEFAULT_MAX_BYTES`).
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
