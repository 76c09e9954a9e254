"""The ground floor for files: atomic writes, owner-only folders and the one JSON encoder.

Every file Marketune writes that a reader may open while it is written (job state, events,
checkpoints, labels, drafts, model folders) is written beside its destination and renamed into
place, so a reader never sees half a file and a failed write leaves the old one. Folders written
through :func:`atomic_folder` are owner-only (folders 0700, files 0600), whatever the process's
umask: models, labels and test predictions are customer data.

JSON: :func:`json_default` is the one ``default=`` for ``json.dumps`` in core (numpy numbers,
booleans and arrays become plain values, paths and sets readable ones, anything else its
``str``), so a job's state, its events, a checkpoint, a model folder and the CLI's output write
the same value the same way. Imports only the standard library and numpy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """``default=`` for ``json.dumps``: numpy integers, floats and booleans as Python numbers,
    numpy arrays as lists, a path as its text, a set as a sorted list; anything else as ``str``."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def to_json(data: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """``data`` as JSON text (UTF-8 characters kept, :func:`json_default` for the rest)."""
    return json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=sort_keys, default=json_default)


def read_json_lines(path: Path) -> list[Any]:
    """The JSON values of a JSON Lines file, in file order; [] when it does not exist. A line that
    is not JSON (a damaged or half-written line) is skipped, so one bad line loses only itself."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            found.append(json.loads(line))
    return found


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when the file is missing, unreadable, not JSON or holds
    another kind of value (a record some version of Marketune wrote, read back without failing)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON (plain write: inside an :func:`atomic_folder`)."""
    path.write_text(to_json(data, indent=2), encoding="utf-8")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it: no half-written files.
    The file is owner-only (0600: ``mkstemp`` creates it so, and the rename keeps the mode)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move a finished temporary folder into place; an old folder is replaced only at the end."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)


def owner_only(folder: Path) -> None:
    """Make ``folder`` and everything under it owner-only: folders 0700, files 0600 (links are
    neither followed nor changed)."""
    folder.chmod(0o700)
    for parent, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(parent, name)
            if not path.is_symlink():
                path.chmod(0o700 if name in dirs else 0o600)


@contextlib.contextmanager
def atomic_folder(folder: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``folder`` to write into; it replaces ``folder`` when the block
    ends without an error and is removed when it raises (including KeyboardInterrupt). What
    lands in place is owner-only: the folder and its subfolders 0700, its files 0600.

    Raises ``ValueError`` when ``folder`` exists and ``overwrite`` is False.
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise ValueError(f"{folder} already exists; choose another name or allow overwriting.")
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        yield tmp
        owner_only(tmp)  # mkdtemp made tmp 0700; the writers inside (save_pretrained, to_csv) follow the umask
        pause_point("model-save")
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_PAUSE_ALIAS: dict[str, str] = {}


@contextlib.contextmanager
def pause_alias(point: str, alias: str) -> Iterator[None]:
    """Within the block the test hook ``point`` answers to ``alias`` instead: a best-so-far save
    (core.pipeline's leader) is "leader-save", so a test can stop at the final "model-save"."""
    _PAUSE_ALIAS[point] = alias
    try:
        yield
    finally:
        _PAUSE_ALIAS.pop(point, None)


def pause_point(*points: str) -> None:
    """A test hook: when $MARKETUNE_TEST_PAUSE_AT is one of ``points``, say so on stderr and
    sleep for an hour, so a test can kill the process at exactly this place. Points: ``step-<n>``
    (before optimizer step n, core.training), ``checkpoint-write`` or ``checkpoint-write-<n>`` (the
    step-n checkpoint's files written, the pointer to them not yet switched, core.checkpoint) and
    ``model-save`` or ``leader-save`` (a final or a best-so-far model folder fully written beside
    its destination, not yet renamed into place). Unset (always, outside tests): nothing happens."""
    wanted = os.environ.get("MARKETUNE_TEST_PAUSE_AT")
    if wanted and wanted in {_PAUSE_ALIAS.get(point, point) for point in points}:
        print(f"MARKETUNE_TEST_PAUSE_AT: paused at {wanted} (pid {os.getpid()})", file=sys.stderr, flush=True)
        time.sleep(3600)
