"""Start-up cleanup: the disk that dead jobs and interrupted saves left behind.

Run once when the server starts (``ui/account.startup_cleanup``; app.py calls it), before
anyone starts a job. What it removes, and why that is safe:

- a **finished job** (done, failed, cancelled): its ``data.csv`` (the person's uploaded table,
  which the worker deletes at its end unless it died first) and hidden temporary entries of
  atomic writes (``.<name>.<random>.tmp``, ``.<name>.tmp-<random>``). The rest (state, events,
  log, a comparison's ``result``) is small and is what the pages show.
- an **interrupted job** (its worker died while it was queued or running, or its state says
  "interrupted"): nothing while it is younger than ``keep_interrupted_days`` (its ``data.csv``
  and ``checkpoint`` are what Resume needs); older than that, the whole job folder. A finished
  job's ``checkpoint`` is not removed by name here (the worker deletes it when the job ends).
- a **job folder without a readable state or request** (its start was cut off before
  ``state.json`` was written) older than :data:`STALE_SAVE_HOURS`: the whole folder.
- in **models folders**: temporary folders of atomic saves (``.<name>.tmp-<random>``,
  ``core.models.folder.atomic_folder``), the replaced folder kept during the swap
  (``.<name>.old-<pid>``) and temporary files (``.<file>.<random>.tmp``), once nothing has written
  to them for :data:`STALE_SAVE_HOURS`. A save cut off between its two renames leaves the old
  model only as ``.<name>.old-<pid>``: that one is renamed back to ``<name>``, not removed.
- in **prediction folders**: the Predict page's per-session folders (``marketune-predict-*``)
  and half-written outputs (``.<file>.partial-<pid>``) untouched for :data:`STALE_SCRATCH_HOURS`
  (a browser session does not outlive a server restart, so nobody can open them any more).

A job whose worker is alive is never touched.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import workspace
from .jobs import ACTIVE_STATES, CHECKPOINT, FINAL_STATES, is_worker_alive, read_request
from .models.folder import is_model_folder

log = logging.getLogger("marketune.cleanup")

# A save (the worker's or the CLI's) writes its temporary folder for seconds to a few minutes; an
# hour without a write means the process that wrote it is gone.
STALE_SAVE_HOURS = 1.0
# A browser session's scoring files are useless after the session ends; a day keeps any tab that
# is still open through a long meeting.
STALE_SCRATCH_HOURS = 24.0
TEMP_NAME = re.compile(r"^\..+(\.tmp-[^/]+|\.old-\d+|\.tmp|\.partial-\d+)\Z")  # \Z: "$" passes a trailing newline
OLD_NAME = re.compile(r"^\.(?P<name>.+)\.old-\d+\Z")


@dataclass
class CleanupReport:
    """What the cleanup did: ``removed`` (path, bytes) and ``restored`` (a model put back)."""

    removed: list[tuple[Path, int]] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(n for _, n in self.removed)

    def summary(self) -> str:
        """One line for the server log."""
        restored = f"; restored {len(self.restored)} model folder(s) a cut-off save had moved aside" if self.restored else ""
        return f"Start-up cleanup: removed {len(self.removed)} item(s), {self.bytes / 1024**2:.1f} MB{restored}."


def server_folders(settings: workspace.TeamSettings | None) -> tuple[list[Path], list[Path], list[Path]]:
    """(jobs folders, models folders, prediction folders) of the whole server: every workspace's
    on a team server (``settings``), the laptop's folders without one (None)."""
    if settings is None:
        local = workspace.laptop()
        return [local.jobs], [local.models], [local.predictions]
    spaces = workspace.all_workspace_folders(settings.data_dir)
    models = [f / "models" for f in spaces] + [settings.data_dir / workspace.TEAM / "models"]
    return [f / "jobs" for f in spaces], models, [f / "predictions" for f in spaces]


def cleanup(
    jobs_roots: Iterable[Path],
    models_roots: Iterable[Path] = (),
    scratch_roots: Iterable[Path] = (),
    *,
    keep_interrupted_days: float = 7.0,
    now: float | None = None,
) -> CleanupReport:
    """Remove what dead jobs and cut-off saves left in these folders (the rules are in the
    module's docstring); returns what was removed, with sizes, and logs it. Errors on single
    entries (permissions, a file vanishing meanwhile) are logged and skipped."""
    now = time.time() if now is None else now
    report = CleanupReport()
    for root in jobs_roots:
        for folder in _subfolders(root):
            _clean_job(folder, report, now, keep_interrupted_days * 86400)
    for root in models_roots:
        _clean_models(Path(root), report, now)
    for root in scratch_roots:
        for entry in _entries(root):
            if (entry.name.startswith("marketune-predict-") or TEMP_NAME.match(entry.name)) and \
                    now - _newest_mtime(entry) > STALE_SCRATCH_HOURS * 3600:
                _remove(entry, report, "a browser session's scoring files")
    if report.removed or report.restored:
        log.info(report.summary())
    return report


def _clean_job(folder: Path, report: CleanupReport, now: float, keep_seconds: float) -> None:
    try:
        request = read_request(folder)
        state = (_read_state(folder) or {}).get("state")
    except (OSError, ValueError):
        request, state = None, None
    if request is None or state is None:
        if now - _newest_mtime(folder) > STALE_SAVE_HOURS * 3600:
            _remove(folder, report, "a job whose start was cut off")
        return
    dead = state in ACTIVE_STATES and not is_worker_alive(folder)
    if state in ACTIVE_STATES and not dead:
        return  # a live job: its worker owns every file
    if dead or state == "interrupted":  # what Resume needs (core.jobs.resume_job): kept while young
        last_activity = max(float(request.get("created") or 0), _newest_mtime(folder, depth=1))
        if now - last_activity > keep_seconds:
            _remove(folder, report, f"an interrupted job not resumed for {keep_seconds / 86400:g} days")
        return  # younger: its data.csv and checkpoint are what Resume needs
    if state in FINAL_STATES:
        for entry in _entries(folder):
            if entry.name in ("data.csv", CHECKPOINT) or TEMP_NAME.match(entry.name):  # kept only while resumable
                _remove(entry, report, f"left by a {state} job")


def _clean_models(root: Path, report: CleanupReport, now: float) -> None:
    stale = STALE_SAVE_HOURS * 3600
    for entry in _entries(root):
        if TEMP_NAME.match(entry.name):
            if now - _newest_mtime(entry) <= stale:
                continue
            old = OLD_NAME.match(entry.name)
            target = root / old.group("name") if old else None
            if target is not None and not target.exists() and is_model_folder(entry):
                try:
                    entry.rename(target)  # the save moved the old model aside and died before the swap
                    report.restored.append(target)
                    log.info("Restored model folder %s (a save was cut off while replacing it).", target)
                except OSError as exc:
                    log.warning("Could not restore %s: %s", target, exc)
                continue
            _remove(entry, report, "a cut-off save")
        elif entry.is_dir() and not entry.is_symlink():
            for inner in _entries(entry):  # a model folder: temporary files of its atomic writes
                if inner.is_file() and TEMP_NAME.match(inner.name) and now - _newest_mtime(inner) > stale:
                    _remove(inner, report, "a cut-off write")


def _read_state(folder: Path) -> dict | None:
    path = folder / "state.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _subfolders(root: Path) -> list[Path]:
    return [f for f in _entries(root) if f.is_dir() and not f.is_symlink()]


def _entries(root: Path) -> list[Path]:
    try:
        return sorted(Path(root).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _newest_mtime(path: Path, depth: int | None = None) -> float:
    """The newest modification time of ``path`` and what is inside it (``depth`` levels; None: all)."""
    try:
        newest = path.lstat().st_mtime
    except OSError:
        return 0.0
    if path.is_dir() and not path.is_symlink() and depth != 0:
        for inner in _entries(path):
            newest = max(newest, _newest_mtime(inner, None if depth is None else depth - 1))
    return newest


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    return sum(_size(p) for p in _entries(path))


def _remove(path: Path, report: CleanupReport, why: str) -> None:
    size = _size(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as exc:
        log.warning("Could not remove %s (%s): %s", path, why, exc)
        return
    report.removed.append((path, size))
    log.info("Removed %s (%s, %.1f MB).", path, why, size / 1024**2)
