"""Background training jobs that outlive the page that started them.

A job is a folder ``<jobs root>/<id>/`` holding the data, the request, ``state.json`` (rewritten
atomically) and ``events.jsonl`` (one progress event per line). A separate worker process
(``python -m core.worker <folder>``) does the training, so it survives page changes, browser
refreshes and Streamlit reruns, can be cancelled, and cannot take the web server down.

Jobs run in two lanes (core/lanes.py), one job at a time in each: a worker waits (state "queued")
for its lane's exclusive file lock. A fine-tune goes to the long lane, a job of seconds (a Targeting
comparison without the transformer, a few-shot run on small data) to the short lane, decided from
the job's estimated run time when it is queued (request.json's ``lane`` and ``estimate_s``), so a
short job never waits behind a fine-tune, and at most two jobs run at once (two fine-tunes on a
2-core laptop would each run at half speed and risk running out of memory). Within a lane the next
job is the oldest of the person with the fewest jobs ahead (``lanes.fair_order``). On a team server
each person's jobs live in their own workspace (``core.workspace``), and the locks are the whole
server's (``request.json``'s ``queue_dir``). :func:`server_queue`, :func:`queue_ahead`,
:func:`first_in_line` and ``JobStatus.queue_position`` read one order (:func:`_lane_order`), so
every page and the admin's table count the same jobs ahead.
A job whose worker process has vanished (server or machine restart, crash) reads "interrupted".
The server reaps each worker it starts when it exits (:func:`_launch_worker`): no defunct processes.

Interruption and resume: a training job checkpoints at each evaluation into ``<job>/checkpoint``
(core.checkpoint); an interrupted job reads "interrupted at step k of n" (or, killed before its
first checkpoint, just "interrupted") and :func:`resume_job` starts its worker again on the same
folder, back in the queue: fine-tuning continues from step k to the result an uninterrupted run
gives; a few-shot fit or a response comparison starts again from the beginning. The job folder
keeps ``data.csv`` and ``checkpoint/`` exactly while the job can still be resumed (active or
interrupted); the worker deletes both when the job ends done, failed or cancelled (core.cleanup
deletes them where a worker died while tidying up).

Four kinds of job share the folder layout, the queue and the states: "train" (``start_job``,
``core.pipeline.train``), "response" (``start_response_job``, the Targeting page's
comparison of response models, ``core.response.train_response_models``) and "rewrite"
(``start_rewrite_job``, Ad Copy Lab's suggested rewrites, ``core.generate.suggest_rewrites``:
it reads a saved model and saves none, so its ``model_name`` is the model that scores),
"zeroshot" (``start_zeroshot_job``, a model from category names, ``core.zeroshot.build_zeroshot``) and
"check" (``start_check_job``, the Train page's data check, ``core.check.check``: it saves no
model; its ``model_name`` names the data, and its report is kept with the job, :func:`check_result`).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import checkpoint as checkpoints
from . import lanes, limits, workspace
from .config import TrainConfig
from .files import atomic_write, to_json
from .models.folder import is_model_folder, stamp
from .registry import model_path, models_root, validate_name
from .words import counted

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = "checkpoint"  # <job>/checkpoint: the training loop's checkpoint (core.checkpoint)
LEADER_SAVED = "leader_saved.json"  # in a job folder: the job saved a best so far ({"existed": the name was taken before})
# The message of a job that ended "done" as planned; any other says what was unusual (a time limit).
SAVED = "Saved"
REWRITES_FILE = "result.json"  # <job>/result.json: a rewrite job's scored rewrites (core.generate.Rewrites)
CHECK_FILE = "check.json"  # <job>/check.json: a check job's report (core.check.DataReport.to_json)
SAVES_NO_MODEL = ("rewrite", "check")  # kinds that read data (and a model) and save no model


def jobs_root() -> Path:
    """The caller's jobs folder: on a laptop $MARKETUNE_JOBS_DIR, or .marketune/jobs in the
    project folder; on a team server the signed-in person's workspace (core.workspace)."""
    return workspace.current().jobs


@dataclass
class JobStatus:
    """A snapshot of one job, read from its folder."""

    id: str
    state: str  # queued, running, done, failed, cancelled, interrupted
    model_name: str
    created: float
    message: str = ""  # the error for people, or what is happening
    events: list[dict[str, Any]] = field(default_factory=list)
    model_path: str | None = None
    queue_position: int = 0
    kind: str = "train"  # "train" (core.pipeline), "response", "rewrite", "zeroshot", "retrain", "check" (core.jobs doc)
    # Interrupted jobs: the last checkpoint's optimizer step and the steps planned (None: no
    # checkpoint), and whether resume_job can start it again (its data was kept).
    checkpoint_step: int | None = None
    total_steps: int | None = None
    resumable: bool = False
    lane: str = lanes.LONG  # core.lanes: "long" (fine-tunes) or "short"
    # A queued job: the estimated seconds until it starts (the running job's own ETA plus the
    # estimates of the jobs ahead in its lane; None: unknown).
    wait_s: float | None = None
    cancel_requested: bool = False  # an active job asked to stop that has not stopped yet

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def last_event(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None


def start_job(
    df: pd.DataFrame,
    config: TrainConfig,
    model_name: str,
    *,
    overwrite: bool = False,
    root: Path | None = None,
    models_dir: Path | None = None,
) -> str:
    """Queue a training job (``core.pipeline.train``, the leaderboard) and start its worker process; returns the job id.

    The model name is checked now (valid, not taken by a saved model or another active job),
    so the user hears about it before waiting for training.
    """
    return _new_job("train", df, model_name, {"config": config.to_dict()}, overwrite=overwrite, root=root,
                    models_dir=models_dir)


def cancel_job(job_id: str, root: Path | None = None, *, workspace_id: str | None = None) -> None:
    """Ask a job to stop; the worker stops within one training step and saves nothing.

    Without ``root`` the caller is ``workspace.current()``: they may cancel their own jobs, and
    an admin any job on the server (``workspace_id``: whose, as :class:`QueueEntry` names it).
    Raises ``ValueError`` for another person's job ("you can cancel only your own jobs") and for
    a job that does not exist. With ``root`` (tests, tools): the job in that folder, unchecked.
    """
    by = ""
    if root is None:
        caller = workspace.current()
        root = caller.jobs_of(workspace_id)  # refuses another person's folder unless admin
        if workspace_id in (None, caller.id) and not (root / job_id / "state.json").is_file():
            # Say so plainly when the id is someone else's job, not "no such job".
            others = [r for r in workspace.jobs_roots_sharing(caller.queue_dir) if r != root]
            if _valid_job_id(job_id) and any((r / job_id / "state.json").is_file() for r in others):
                raise workspace.WorkspaceError(workspace.NOT_YOUR_JOB)
        by = caller.email
    folder = _job_folder(job_id, root)
    (folder / "cancel").write_text(by)  # who asked (the worker only looks whether it exists)


def job_status(job_id: str, root: Path | None = None, *, with_events: bool = True) -> JobStatus:
    folder = _job_folder(job_id, root)
    state = _read_json(folder / "state.json")
    request = _read_json(folder / "request.json")
    status = JobStatus(
        id=job_id,
        state=state["state"],
        model_name=request["model_name"],
        created=request["created"],
        message=state.get("message", ""),
        model_path=state.get("model_path"),
        kind=request.get("kind", "train"),
        lane=lanes.lane_of(request),
    )
    if status.active and not _alive(_read_pid(folder), job_id):
        # Re-read: the worker may have finished between the two reads.
        state = _read_json(folder / "state.json")
        if state["state"] in ACTIVE_STATES:
            status.state = "interrupted"
            status.message = "The training process stopped unexpectedly (server restart or crash). Start it again."
            progress = checkpoints.read_progress(folder / CHECKPOINT)
            if progress is not None:
                status.checkpoint_step, status.total_steps = int(progress["step"]), int(progress["total_steps"])
                status.message = (f"Interrupted at step {status.checkpoint_step} of {status.total_steps}: the training "
                                  "process stopped unexpectedly (server restart or crash).")
            status.resumable = (folder / "data.csv").is_file()
        else:
            status.state, status.message = state["state"], state.get("message", "")
            status.model_path = state.get("model_path")
    if with_events:
        status.events = read_events(folder)
    if status.state == "queued":
        ahead = _ahead_of(folder, request)
        status.queue_position = len(ahead)
        status.wait_s = wait_seconds([_time_left(job) for job in ahead])
    status.cancel_requested = status.active and (folder / "cancel").exists()
    return status


def resume_job(job_id: str, root: Path | None = None) -> str:
    """Start an interrupted job's worker again on the same folder; it waits in the queue like a
    new job and then continues from its checkpoint (fine-tuning) or from the beginning (a
    few-shot fit, a response comparison, or a job killed before its first checkpoint).
    Returns ``job_id``.

    Raises ``ValueError`` (worded for people) when the job is not interrupted (it is queued,
    running, done, failed or cancelled), when its data was not kept, when another active job is
    now training a model of the same name, or when a model of that name has since been saved
    (and the job was not started to replace it), or when the caller already has the server's
    ``max_jobs_per_person`` jobs queued or running (:func:`check_job_limit`).
    """
    folder = _job_folder(job_id, root)
    with open(folder / ".resume.lock", "w") as lock:  # two clicks must not start two workers
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"Job {job_id} is being resumed already.") from None
        status = job_status(job_id, root, with_events=False)
        if status.state != "interrupted":
            raise ValueError(f"Job {job_id} is {status.state}; only an interrupted job can be resumed.")
        if not status.resumable:
            raise ValueError(f"Job {job_id} cannot be resumed: its data was not kept. Start it again from the Train page.")
        request = read_request(folder)
        # A resumed job takes a place in the queue like a new one: the per-person limit holds.
        check_job_limit(folder.parent, workspace.current().max_jobs if root is None else None)
        saves_model = request.get("kind", "train") not in SAVES_NO_MODEL
        for job in list_jobs(folder.parent, kind=None):
            if saves_model and job.active and job.kind not in SAVES_NO_MODEL and job.model_name == status.model_name \
                    and job.id != job_id:
                raise ValueError(f"Job {job.id} is now training a model named '{status.model_name}'; "
                                 "wait for it or delete that model before resuming this one.")
        models_dir = Path(request.get("models_dir") or models_root())
        saved_by_this_job = (folder / LEADER_SAVED).is_file()  # its best so far, saved before it stopped
        if saves_model and is_model_folder(model_path(status.model_name, models_dir)) and not (
                request.get("overwrite") or saved_by_this_job):
            raise ValueError(f"A model named '{status.model_name}' has been saved since this job started (perhaps by "
                             "this job, just before it stopped); open it on the Models page, or delete it to resume.")
        (folder / "cancel").unlink(missing_ok=True)  # a cancel sent to the dead worker is not for this one
        resumes = int(_read_json(folder / "state.json").get("resumes", 0)) + 1
        write_state(folder, "queued", message="Waiting for the trainer (resuming)", resumes=resumes)
        # Until the new pid is written the old, dead one makes the job read "interrupted" again
        # (to other readers; this lock keeps a second resume out): a failed start stays resumable.
        _launch_worker(folder)
    return job_id


def abandon_job(job_id: str, root: Path | None = None) -> None:
    """Give up resuming an interrupted job (it was started again as a new job): delete its kept
    ``data.csv`` and checkpoint; it stays listed as interrupted. No effect on other states."""
    folder = _job_folder(job_id, root)
    if job_status(job_id, root, with_events=False).state == "interrupted":
        (folder / "data.csv").unlink(missing_ok=True)
        checkpoints.remove(folder / CHECKPOINT)


@dataclass(frozen=True)
class _Live:
    """A queued or running job with a live worker, as the lanes see it."""

    folder: Path
    state: str
    request: dict[str, Any]
    person: str  # its workspace id ("local" on a laptop): fairness is between these

    @property
    def age(self) -> tuple[float, str]:
        return float(self.request.get("created", 0)), self.folder.name


def _lane_order(queue_dir: str | Path | None, lane: str, home: Path, *, include: Path | None = None) -> list[_Live]:
    """The live jobs of ``lane`` in the queue of ``queue_dir`` (every jobs folder sharing it; none:
    the jobs folder ``home`` alone), in the order the lane serves them (``lanes.fair_order``):
    running first. ``include``: a queued job's folder counted even when its worker is not seen
    yet (a worker asking before its pid file is rewritten on resume)."""
    roots = workspace.jobs_roots_sharing(Path(queue_dir)) if queue_dir else [home]
    live = [_Live(folder, state, request, workspace.workspace_id_of_jobs(root))
            for root in roots for folder, state, request in _live_jobs(root) if lanes.lane_of(request) == lane]
    if include is not None and all(job.folder != include for job in live):
        live.append(_Live(include, "queued", _read_json(include / "request.json"),
                          workspace.workspace_id_of_jobs(include.parent)))
    return lanes.fair_order(live, person=lambda j: j.person, running=lambda j: j.state == "running", age=lambda j: j.age)


def _ahead_of(folder: Path, request: dict[str, Any]) -> list[_Live]:
    """The live jobs its lane serves before the queued job in ``folder`` (the running one first)."""
    order = _lane_order(request.get("queue_dir"), lanes.lane_of(request), folder.parent, include=folder)
    return next((order[:i] for i, job in enumerate(order) if job.folder == folder), [])


def _time_left(job: _Live, now: float | None = None) -> float | None:
    """Seconds ``job`` still needs. Running: its own latest ETA (the training loop's, from its
    progress events), counted down since it was written; before its loop reports one (loading the
    model, a comparison's cheap models), its estimate less the time it has run; 0 once it runs
    past its estimate. Queued: its estimate. None: no estimate (a job queued before lanes)."""
    now = time.time() if now is None else now
    estimate = job.request.get("estimate_s")
    if job.state != "running":
        return None if estimate is None else float(estimate)
    latest = _last_event(job.folder)
    if latest is not None:
        event, written = latest
        # A comparison's fine-tuning events are its phase "transformer" (core.response).
        if event.get("eta_s") is not None and event.get("phase") in ("train", "evaluate", "transformer"):
            return max(0.0, float(event["eta_s"]) - max(0.0, now - float(event.get("time") or written)))
    if estimate is None:
        return None
    try:
        state = _read_json(job.folder / "state.json")
    except (OSError, ValueError):
        state = {}
    started = float(state.get("started") or state.get("updated") or now)
    return max(0.0, float(estimate) - max(0.0, now - started))


def wait_seconds(times: list[float | None]) -> float | None:
    """The wait behind jobs that need ``times`` seconds (``_time_left``); None when any is unknown."""
    return None if any(t is None for t in times) else float(sum(times))


def _last_event(folder: Path) -> tuple[dict[str, Any], float] | None:
    """The job's last complete progress event and when its file was last written (the last
    4 KB of events.jsonl: a long training writes thousands of lines)."""
    path = folder / "events.jsonl"
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4096))
            tail = handle.read().decode("utf-8", errors="replace")
        written = path.stat().st_mtime
    except OSError:
        return None
    for line in reversed(tail.splitlines()[1 if size > 4096 else 0:]):  # the first may be cut
        try:
            return json.loads(line), written
        except json.JSONDecodeError:
            continue  # the line being written now
    return None


@dataclass(frozen=True)
class QueueEntry:
    """One job waiting for, or holding, one of the server's lanes, as one caller may see it.

    ``owner`` (e-mail, else name, from the workspace's owner.json) and ``model_name`` are ""
    for another person's job unless the caller is an admin: others see that a job is ahead of
    theirs, not whose or what it is.
    """

    id: str
    workspace_id: str  # "local" on a laptop, else the owner's "u-…" workspace id
    mine: bool
    owner: str
    kind: str
    model_name: str
    state: str  # "queued" or "running"
    created: float
    lane: str = lanes.LONG  # core.lanes: "long" or "short"
    estimate_s: float | None = None  # the job's estimated run time (None: unknown)
    # Seconds it still needs: a running job's own ETA, a queued job's estimate (None: unknown).
    time_left_s: float | None = None


def server_queue(caller: workspace.Workspace | None = None) -> list[QueueEntry]:
    """Every live job in the caller's server queue (all workspaces' on a team server), lane by
    lane (long, then short), each lane in the order it serves them: running first, then the
    order of ``lanes.fair_order`` (oldest first on a laptop; :func:`first_in_line`)."""
    caller = caller or workspace.current()
    owners: dict[str, str] = {}
    entries = []
    for lane in lanes.LANES:
        for job in _lane_order(caller.queue_dir, lane, caller.jobs):
            mine = job.person == caller.id
            if (mine or caller.admin) and job.person != workspace.LOCAL_ID and job.person not in owners:
                found = workspace.owner_of(job.folder.parent.parent)
                owners[job.person] = str(found.get("email") or found.get("name") or job.person)
            estimate = job.request.get("estimate_s")
            entries.append(QueueEntry(
                id=job.folder.name, workspace_id=job.person, mine=mine,
                owner=owners.get(job.person, "") if (mine or caller.admin) else "",
                kind=job.request.get("kind", "train"),
                model_name=job.request.get("model_name", "") if (mine or caller.admin) else "",
                state=job.state, created=float(job.request.get("created", 0)), lane=lane,
                estimate_s=None if estimate is None else float(estimate), time_left_s=_time_left(job),
            ))
    return entries


def queue_ahead(job_id: str, caller: workspace.Workspace | None = None) -> list[QueueEntry]:
    """The jobs the caller's own queued job ``job_id`` waits for: those of its lane served before
    it (running first); [] when that job is not waiting (running, finished, or not the caller's).
    Its length is that job's ``JobStatus.queue_position``."""
    entries = server_queue(caller)
    for entry in entries:
        if entry.mine and entry.id == job_id:
            if entry.state != "queued":
                return []
            lane = [e for e in entries if e.lane == entry.lane]
            return lane[:lane.index(entry)]
    return []


def first_in_line(folder: Path) -> bool:
    """Whether the queued job in ``folder`` is the next its lane serves (the first queued job of
    ``_lane_order``), so it may take the lane's lock next (the lock alone would serve whoever
    asks first)."""
    request = _read_json(folder / "request.json")
    order = _lane_order(request.get("queue_dir"), lanes.lane_of(request), folder.parent, include=folder)
    return next((job.folder for job in order if job.state == "queued"), None) == folder


def _live_jobs(root: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """(folder, state, request) of the jobs in ``root`` that are queued or running with a live worker."""
    found = []
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        try:
            state = _read_json(folder / "state.json").get("state")
            if state not in ACTIVE_STATES:  # most folders: finished jobs, one small read each
                continue
            request = _read_json(folder / "request.json")
        except (OSError, ValueError, AttributeError):
            continue
        if _alive(_read_pid(folder), folder.name):
            found.append((folder, state, request))
    return found


def check_job_limit(root: Path, max_jobs: int | None) -> None:
    """Raise ``ValueError`` when the jobs folder ``root`` (one person's) already holds ``max_jobs``
    queued or running jobs of either kind; None: no limit."""
    if max_jobs is None:
        return
    active = len(_live_jobs(root))
    if active >= max_jobs:
        raise ValueError(
            f"You already have {counted(active, 'job')} queued or running, and this server allows {max_jobs} per "
            "person at a time (training and targeting comparisons together), so that everybody's jobs "
            "get their turn. Wait for one to finish, or cancel one on the Train or Targeting page."
        )


def list_jobs(root: Path | None = None, *, with_events: bool = False, kind: str | None = "train") -> list[JobStatus]:
    """Jobs under ``root``, oldest first; only those of ``kind`` ("train", "response", "rewrite", "zeroshot",
    "retrain", "check"; None: all)."""
    root = root or jobs_root()
    if not root.is_dir():
        return []
    jobs = []
    for folder in sorted(root.iterdir()):
        if (folder / "state.json").is_file() and (folder / "request.json").is_file():
            try:
                job = job_status(folder.name, root, with_events=with_events)
            except (ValueError, OSError, json.JSONDecodeError, KeyError):
                continue
            if kind is None or job.kind == kind:
                jobs.append(job)
    return jobs


@dataclass
class BestSoFar:
    """A saved model that is a training run's best so far (metrics.json's ``BEST_SO_FAR`` marker),
    not its final model: ``job``, the job that saved it as its status now (None: saved outside a
    job, e.g. the CLI, or its job folder is gone); ``running``: that job is queued or running, so
    it will replace the model when it ends (with a later candidate or the refit on train + validation);
    ``refitting``: the job is on its last step, retraining this saved leader on train + validation (the
    leaderboard row's ``refitting`` flag, core.pipeline), so no later candidate is left to replace it:
    its retrained copy will when the job ends; ``leaderboard``: the running job's latest leaderboard
    rows (:func:`latest_leaderboard`; [] when it does not run), newer than the rows saved with the model
    (a walk read "waiting" and "the only candidate scored so far" on the Models page for candidates the
    Train page had scored minutes before)."""

    job: JobStatus | None
    running: bool
    refitting: bool = False
    leaderboard: list[dict[str, Any]] = field(default_factory=list)


def best_so_far_job(metrics: dict[str, Any], root: Path | None = None) -> BestSoFar | None:
    """:class:`BestSoFar` for a model saved mid-run (``metrics``: its metrics.json), None for a
    run's final model. The job's state, not the marker, says whether it still runs: a job that
    died or failed after the save leaves the marker behind (job_status says "interrupted" for a
    worker that is gone)."""
    from .progress import BEST_SO_FAR

    marker = metrics.get(BEST_SO_FAR)
    if not isinstance(marker, dict):
        return None
    job = None
    if _valid_job_id(marker.get("job")):
        try:
            job = job_status(str(marker["job"]), root, with_events=False)
        except (ValueError, OSError, json.JSONDecodeError, KeyError):  # removed since, or another person's
            job = None
    running = bool(job is not None and job.active)
    rows = _live_leaderboard(str(marker["job"]), root) if running else []
    return BestSoFar(job, running, any(row.get("refitting") and row.get("saved") for row in rows), rows)


def _live_leaderboard(job_id: str, root: Path | None) -> list[dict[str, Any]]:
    """The job's latest leaderboard rows; [] when its events cannot be read."""
    try:
        return latest_leaderboard(read_events(_job_folder(job_id, root)))
    except (ValueError, OSError):
        return []


def latest_leaderboard(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the last event whose ``leaderboard`` is not empty (``[]`` when none is:
    a job from before leaderboards, or one still preparing). Rows that are not dicts are dropped."""
    rows: list[dict[str, Any]] = []
    for event in events:
        board = event.get("leaderboard") if isinstance(event, dict) else None
        if board:
            rows = [row for row in board if isinstance(row, dict)]
    return rows


def start_response_job(
    df: pd.DataFrame,
    setup: dict[str, Any],
    model_name: str,
    *,
    include_transformer: bool = False,
    base_model: str = "minilm-en",
    transformer_settings: dict[str, Any] | None = None,
    transformer_max_train_rows: int | None = None,
    column_kinds: dict[str, str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    root: Path | None = None,
    models_dir: Path | None = None,
    data_name: str = "",
) -> str:
    """Queue a response-model comparison (``core.response.train_response_models``) as a job of
    kind "response" in the same queue as training jobs; returns the job id.
    ``data_name``: what ``df`` is, for people (the Targeting page: "sample" or the file's name),
    kept in request.json so a page shown the job later can say which table it came from.

    ``setup``: ``{"label_column", "positive_class", "profile_columns", "text_columns"}``. The
    worker saves the whole comparison in ``<job>/result`` (``core.response.save_comparison``)
    and the recommended model in the registry as ``model_name`` (refused now if taken). A
    cancelled or failed job saves nothing.
    """
    missing = [k for k in ("label_column", "positive_class", "profile_columns", "text_columns") if k not in setup]
    if missing:
        raise ValueError(f"the targeting setup lacks {missing}")
    response = {
        "label_column": setup["label_column"],
        "positive_class": setup["positive_class"],
        "profile_columns": list(setup["profile_columns"]),
        "text_columns": list(setup["text_columns"]),
        "include_transformer": bool(include_transformer),
        "base_model": base_model,
        "transformer_settings": dict(transformer_settings or {}),
        "transformer_max_train_rows": transformer_max_train_rows,
        "column_kinds": dict(column_kinds or {}),
        "seed": int(seed),
        "data_name": str(data_name),
    }
    return _new_job("response", df, model_name, {"response": response}, overwrite=overwrite, root=root,
                    models_dir=models_dir)


def start_rewrite_job(
    base_copy: str,
    model_name: str,
    *,
    n: int = 5,
    tone: str | None = None,
    keep_words: list[str] | tuple[str, ...] = (),
    avoid_words: list[str] | tuple[str, ...] = (),
    max_chars: int | None = None,
    seed: int = 0,
    positive_class: str | None = None,
    profile: dict[str, Any] | None = None,
    text_column: str | None = None,
    root: Path | None = None,
    models_dir: Path | None = None,
) -> str:
    """Queue ``n`` suggested rewrites of ``base_copy`` (``core.generate.suggest_rewrites``), each
    scored by the saved model ``model_name``, as a job of kind "rewrite"; returns the job id. Its
    lane follows its estimate (``core.lanes``: the generator's load plus about 2.5 attempts per
    rewrite). The worker writes the scored rewrites to ``<job>/result.json``
    (:func:`rewrite_result`); the base copy is the job's data.csv, deleted when it ends.

    Raises ValueError (worded for people) for a bad request (empty copy, ``n`` out of 1..20, a word
    both kept and avoided) or when no model of that name is saved; nothing is queued then.
    """
    from .generate import check_request, words_list

    keep, avoid = words_list(keep_words, "keep"), words_list(avoid_words, "avoid")
    check_request(base_copy, n, keep, avoid, max_chars)
    # The one resolver of names (a team server: the caller's own models, "team:<name>" ...).
    model_folder = model_path(model_name) if models_dir is None else model_path(model_name, models_dir)
    if not is_model_folder(model_folder):
        raise ValueError(f"No saved model named '{model_name}'; choose one on the Models page.")
    # model_stamp: which save of the model scores them; the page shows them under that one alone (ui/rewrites.py).
    rewrite = {"n": n, "model_folder": str(model_folder), "model_stamp": stamp(model_folder), "tone": tone,
               "keep_words": keep, "avoid_words": avoid,
               "max_chars": max_chars, "seed": int(seed), "positive_class": positive_class,
               "profile": dict(profile or {}), "text_column": text_column}
    return _new_job("rewrite", pd.DataFrame({"text": [base_copy]}), model_name, {"rewrite": rewrite},
                    overwrite=False, root=root, models_dir=models_dir)


def start_zeroshot_job(
    df: pd.DataFrame,
    text_column: str,
    labels: str | list[str],
    model_name: str,
    *,
    descriptions: str | dict[str, str] | None = None,
    self_training: bool = True,
    base_model: str = "auto",
    overwrite: bool = False,
    seed: int = 0,
    root: Path | None = None,
    models_dir: Path | None = None,
) -> str:
    """Queue a zero-shot model (``core.zeroshot.build_zeroshot``) from the category names ``labels``
    and the texts of ``df[text_column]`` (unlabelled; at most ``core.zeroshot.MAX_ROWS`` of them are
    read, a seeded sample beyond), saved as ``model_name``; a job of kind "zeroshot"; returns the id.

    The base model is chosen now ("auto": by the texts' language, as training picks it) so the
    workspace's base-model rules apply before anything runs. Raises ``ValueError`` (worded for
    people) for bad category names or descriptions, a missing text column, no text at all, or a
    name that is taken (unless ``overwrite``); nothing is queued then.
    """
    from .zeroshot import MAX_ROWS, choose_base_model, parse_descriptions, parse_labels

    names = parse_labels(labels)
    described = parse_descriptions(descriptions, names)
    if text_column not in df.columns:
        raise ValueError(f"Text column '{text_column}' is not in the table; its columns are {list(df.columns)}.")
    texts = df[text_column].astype("string").fillna("")
    texts = texts[texts.str.strip() != ""]
    if texts.empty:
        raise ValueError(f"Column '{text_column}' holds no text; a zero-shot model needs rows of text to sort.")
    if len(texts) > MAX_ROWS:  # the build reads no more: the job's data file stays small
        texts = texts.sample(MAX_ROWS, random_state=seed)
    chosen, _ = choose_base_model(texts.tolist(), names, base_model)
    zeroshot = {"text_column": text_column, "labels": names, "descriptions": described,
                "self_training": bool(self_training), "base_model": chosen, "seed": int(seed)}
    return _new_job("zeroshot", pd.DataFrame({text_column: texts.tolist()}), model_name, {"zeroshot": zeroshot},
                    overwrite=overwrite, root=root, models_dir=models_dir)
def start_retrain_job(model_name: str, data: pd.DataFrame, new: pd.DataFrame, *, seed: int = 42,
                      root: Path | None = None, models_dir: Path | None = None) -> str:
    """Queue "Retrain with new labels" for the saved model ``model_name`` (``core.versions.challenge``:
    a challenger on ``data`` + most of ``new``, promoted only when better) as a job of kind
    "retrain"; returns the job id. Its data.csv holds both tables, told apart by the column
    ``core.versions.PART``. Raises ValueError (worded for people) for a model that cannot be
    retrained so or tables without its columns; nothing is queued then."""
    from .versions import PART, check_inputs

    model_folder = model_path(model_name, write=True) if models_dir is None else model_path(model_name, models_dir)
    if not is_model_folder(model_folder):
        raise ValueError(f"No saved model named '{model_name}'; choose one on the Models page.")
    current, needed = check_inputs(model_folder, data, new)
    both = pd.concat([data[needed].assign(**{PART: "old"}), new[needed].assign(**{PART: "new"})], ignore_index=True)
    retrain = {"model_folder": str(model_folder), "seed": int(seed)}
    # "config": the settings the challenger trains with, read where every kind's size and base model are.
    return _new_job("retrain", both, model_name, {"config": current.training_config, "retrain": retrain},
                    overwrite=True, root=root, models_dir=models_dir)


def rewrite_result(job_id: str, root: Path | None = None):
    """The scored rewrites of a finished rewrite job (``core.generate.Rewrites``); ValueError
    when the job has none (not done, or its file was removed)."""
    from .generate import Rewrites

    path = _job_folder(job_id, root) / REWRITES_FILE
    if not path.is_file():
        raise ValueError(f"Job {job_id} has no rewrites (it is not done, or its result was removed).")
    return Rewrites.from_json(path.read_text(encoding="utf-8"))


def rewrite_request(job_id: str, root: Path | None = None) -> dict[str, Any]:
    """What a rewrite job was asked for (n, tone, keep_words, avoid_words, max_chars, ...: the
    ``rewrite`` part of its request.json); ``{}`` when the job or its request is gone."""
    try:
        return dict(_read_json(_job_folder(job_id, root) / "request.json").get("rewrite") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def start_check_job(df: pd.DataFrame, config: TrainConfig, *, features: str = "tfidf", data_name: str = "data",
                    root: Path | None = None, models_dir: Path | None = None) -> str:
    """Queue the data check of ``df`` as read by ``config`` (``core.check.check``: label errors,
    duplicates, outliers, label variants) as a job of kind "check"; returns the job id. The worker
    saves the report in ``<job>/check.json`` (:func:`check_result`); it saves no model.
    ``data_name`` (the file's name, for people) is the job's ``model_name`` in lists.

    Raises ValueError for ``features`` not in ``core.check.FEATURES`` or a column of ``config``
    missing from ``df``; nothing is queued then.
    """
    from .check import FEATURES

    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}; found {features!r}.")
    columns = list(dict.fromkeys([*config.profile_columns, *config.text_columns, config.label_column]))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the data; found {list(df.columns)}.")
    check = {"config": config.to_dict(), "features": features}
    return _new_job("check", df[columns], str(data_name), {"check": check}, overwrite=False, root=root,
                    models_dir=models_dir)


def check_result(job_id: str, root: Path | None = None):
    """The report of a finished check job (``core.check.DataReport``); ValueError when the job has
    none (not done, or its file was removed)."""
    from .check import DataReport

    path = _job_folder(job_id, root) / CHECK_FILE
    if not path.is_file():
        raise ValueError(f"Job {job_id} has no data check report (it is not done, or its result was removed).")
    return DataReport.from_json(path.read_text(encoding="utf-8"))


def _new_job(
    kind: str,
    df: pd.DataFrame,
    model_name: str,
    request: dict[str, Any],
    *,
    overwrite: bool,
    root: Path | None,
    models_dir: Path | None,
) -> str:
    """Check the model name, write the job folder (data.csv, request.json with ``kind`` and
    ``request``'s fields, state "queued") and start its worker; returns the job id.

    Raises ``ValueError`` when the name is not allowed, taken by a saved model (unless
    ``overwrite``) or by an active job of either kind; (a :class:`~core.workspace.WorkspaceError`)
    when a page's job names a base model the caller may not read; and
    :class:`core.job_limits.JobLimitError` (a ``ValueError``) when the job is over the server's
    per-job limits (rows, epochs, tokens per text; the caller's workspace's ``job_limits``, also
    with ``root``: they guard the server's trainer). The limits go into request.json, where the
    worker reads them (the time limit too).
    """
    saves_model = kind not in SAVES_NO_MODEL  # a rewrite job scores with a saved model (checked by its caller)
    if saves_model:
        validate_name(model_name)
    if root is None:  # a page's job: the caller's workspace decides which base models it may read
        workspace.current().check_base_model(_base_model_of(kind, request))
    job_limits = workspace.current().job_limits
    epochs, max_length = job_size({"kind": kind, **request})
    job_limits.check(rows=len(df), epochs=epochs, max_length=max_length)
    # Its lane, from its estimated run time (at most the server's time limit, where it stops).
    cost = lanes.estimate({"kind": kind, **request}, df,
                          job_limits.max_job_minutes * 60 if job_limits.max_job_minutes else None)
    max_jobs = workspace.current().max_jobs if root is None else None  # the caller's limit (laptop: none)
    models_dir = models_dir or models_root()
    if saves_model and model_path(model_name, models_dir).exists() and not overwrite:
        raise ValueError(f"A model named '{model_name}' already exists; choose another name.")
    queue_dir = root or workspace.current().queue_dir  # a test's own folder is its own queue
    root = root or jobs_root()
    for job in list_jobs(root, kind=None):
        if saves_model and job.active and job.kind not in SAVES_NO_MODEL and job.model_name == model_name:
            raise ValueError(f"Job {job.id} is already training a model named '{model_name}'.")
    check_job_limit(root, max_jobs)
    limits.check_disk_space(root, limits.job_disk_need(_base_model_of(kind, request), _data_bytes(df)))
    job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    folder = root / job_id
    # Owner-only, like a model folder: data.csv is the person's uploaded customer table, and on a
    # shared host nobody else's account should read it while the job runs.
    folder.mkdir(parents=True, mode=0o700)
    df.to_csv(folder / "data.csv", index=False)
    request = {"kind": kind, **request, "model_name": model_name, "models_dir": str(models_dir),
               "queue_dir": str(queue_dir), "overwrite": overwrite, "created": time.time(),
               "limits": job_limits.to_dict(), "lane": cost.lane, "estimate_s": cost.seconds}
    _write_json(folder / "request.json", request)
    write_state(folder, "queued", message="Waiting for the trainer")
    _launch_worker(folder)
    return job_id


def job_size(request: dict[str, Any]) -> tuple[float | None, int | None]:
    """(epochs, tokens per text) of the fine-tuning a job's ``request`` (request.json) runs, as
    the trainer will run it (the base model's preset under the settings given); (None, None) for
    a response comparison without the transformer, which fine-tunes nothing."""
    from .base_models import training_defaults

    if request.get("kind") in (*SAVES_NO_MODEL, "zeroshot"):
        return None, None  # it writes text and scores it, checks data, or reads texts with a frozen encoder: nothing is fine-tuned
    if request.get("kind") == "response":
        response = request["response"]
        if not response.get("include_transformer"):
            return None, None
        settings = {**training_defaults(response.get("base_model") or ""), **(response.get("transformer_settings") or {})}
    else:
        settings = request["config"]
    return float(settings.get("epochs", TrainConfig.epochs)), int(settings.get("max_length", TrainConfig.max_length))


def _base_model_of(kind: str, request: dict[str, Any]) -> str | None:
    """The base model a job fine-tunes or reads (None: a response comparison without the transformer, a rewrite job)."""
    if kind == "rewrite":
        return None
    if kind == "zeroshot":
        return request["zeroshot"]["base_model"]
    if kind == "check":  # the base model's sentence embeddings, unless the check reads TF-IDF only
        return request["check"]["config"].get("base_model") if request["check"]["features"] != "tfidf" else None
    if kind == "response":
        response = request["response"]
        return response.get("base_model") if response.get("include_transformer") else None
    return request["config"].get("base_model")


def _data_bytes(df: pd.DataFrame) -> int:
    """About the bytes of ``df`` as CSV: its memory size (text cells counted in full), an
    overestimate that costs no second copy of the data."""
    return int(df.memory_usage(index=False, deep=True).sum())


def response_result_folder(job_id: str, root: Path | None = None) -> Path:
    """Where a finished response job keeps its comparison (``core.response.load_comparison``)."""
    return _job_folder(job_id, root) / "result"


def _launch_worker(folder: Path) -> None:
    """Start the job's worker in its own session, and reap it when it exits: a child process that
    ends stays a zombie ("defunct") under the server until its parent waits for it, and a
    Streamlit server lives for weeks. A daemon thread per worker waits for it (it sleeps in the
    kernel meanwhile and costs nothing)."""
    log = open(folder / "worker.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "core.worker", str(folder)],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # not killed with the Streamlit server's process group
    )
    log.close()
    (folder / "pid").write_text(str(process.pid))  # its own file: the worker owns state.json
    threading.Thread(target=process.wait, name=f"reap-worker-{folder.name}", daemon=True).start()


def read_events(folder: Path) -> list[dict[str, Any]]:
    path = folder / "events.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the worker is writing this line right now
    return events


def _valid_job_id(job_id: Any) -> bool:
    return isinstance(job_id, str) and job_id.replace("-", "").isalnum()


def _job_folder(job_id: str, root: Path | None) -> Path:
    if not _valid_job_id(job_id):
        raise ValueError(f"Invalid job id {job_id!r}.")
    folder = (root or jobs_root()) / job_id
    if not (folder / "state.json").is_file():
        raise ValueError(f"No training job {job_id!r}.")
    return folder


def _alive(pid: int | None, job_id: str) -> bool:
    """Is the worker process for this job still running (not a zombie, not a reused pid)?"""
    if not pid:
        return True  # just started; the pid is being written
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            if handle.read().rsplit(")", 1)[-1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
        # Empty while the new process is still being set up (read right after the start on a busy
        # machine: seen in tests/test_e2e_sign_in.py); that is our worker, not a stranger.
        return not command or job_id.encode() in command
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:  # no /proc (macOS): fall back to a signal-0 probe
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def is_worker_alive(folder: Path) -> bool:
    """Whether the worker process of the job in ``folder`` still runs (True while its pid file is
    not written yet: the job was just started)."""
    return _alive(_read_pid(folder), folder.name)


def _read_pid(folder: Path) -> int | None:
    try:
        return int((folder / "pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def read_request(folder: Path) -> dict[str, Any]:
    """The job's request.json: ``kind`` ("train" when absent), ``model_name``, ``models_dir``,
    ``overwrite``, ``created`` and the kind's own fields (``config`` or ``response``)."""
    return _read_json(folder / "request.json")


def write_state(folder: Path, state: str, **fields: Any) -> None:
    """Set the job's state (one of ACTIVE_STATES or FINAL_STATES) and any further fields
    (``message``, ``model_path``, ...) in state.json, atomically; other fields are kept."""
    path = folder / "state.json"
    current = _read_json(path) if path.is_file() else {}
    current.update(fields, state=state, updated=time.time())
    _write_json(path, current)


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, to_json(data).encode("utf-8"))  # never half a file


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
