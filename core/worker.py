"""The training worker process: ``python -m core.worker <job folder>`` (started by core.jobs).

The same command continues an interrupted job (core.jobs.resume_job): a training job resumes
from ``<job>/checkpoint``, written at each evaluation. ``data.csv`` and the checkpoint stay in
the folder until the job ends done, failed or cancelled; a worker that is killed (SIGKILL, out of
memory, a machine restart) or interrupted (SIGINT) leaves both for the resume.

The server's per-job limits (core/job_limits.py) come in request.json. Rows, epochs and tokens
are checked again before any training (over a limit: "failed", saying which). The time limit
counts from when the job gets the trainer lock, not while it waits: at the deadline the training
loop stops the way early stopping does, and the job ends "done" with its best checkpoint tested
and saved and a message saying where it stopped; the lock is then released for the next job.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from . import checkpoint as checkpoints
from . import lanes
from .config import TrainConfig
from .files import atomic_write, json_default
from .job_limits import JobLimits
from .jobs import (
    CHECK_FILE,
    CHECKPOINT,
    LEADER_SAVED,
    REWRITES_FILE,
    SAVED,
    first_in_line,
    job_size,
    read_events,
    read_request,
    write_state,
)
from .progress import BEST_SO_FAR, ProgressEvent, TrainingCancelled
from .registry import model_path
from .words import rows_words


def run(folder: Path) -> int:
    """Run the job in ``folder`` (a training or a response comparison, by its request's kind)
    when its turn in the queue comes; every outcome ends as a state in state.json."""
    request = read_request(folder)
    kind = request.get("kind", "train")
    response = kind == "response"
    lock = _wait_for_turn(folder)  # queue: one job at a time in each lane (core/lanes.py)
    if lock is None:
        return 0
    if lanes.lane_of(request) == lanes.SHORT:
        lanes.limit_threads()  # before torch is loaded: the long lane's fine-tune keeps the other cores
    # The job's run time starts now: its time in the queue was other people's run time.
    limits = JobLimits.from_dict(request.get("limits"))
    deadline = limits.deadline(time.monotonic())
    _trim_events(folder, kind != "train")  # a resumed job: drop the events after its checkpoint
    write_state(folder, "running", message=STARTING.get(kind, "Training"),
                started=time.time())  # for the ETA of the jobs behind it (core.jobs._time_left)
    events = open(folder / "events.jsonl", "a", encoding="utf-8")
    ended = False  # a final state was written: the data and checkpoint can go

    def log(event: dict[str, Any]) -> None:
        events.write(json.dumps(event, ensure_ascii=False, default=json_default) + "\n")
        events.flush()

    def fail(state: str, message: str) -> None:
        nonlocal ended
        shutil.rmtree(folder / "result", ignore_errors=True)  # a response job's half-saved comparison
        (folder / REWRITES_FILE).unlink(missing_ok=True)  # a rewrite job's result, should a cancel come after it
        (folder / CHECK_FILE).unlink(missing_ok=True)  # a check job's report, likewise
        write_state(folder, state, message=message)
        ended = True

    try:
        df = pd.read_csv(folder / "data.csv", keep_default_na=False, na_values=[""])
        epochs, max_length = job_size(request)
        limits.check(rows=len(df), epochs=epochs, max_length=max_length)  # a ValueError: "failed"
        done = RUNNERS.get(kind, _train)(folder, request, df, log, deadline)
        if done.pop("time_limit", False):
            step, total = done.pop("stopped_at", (None, None))
            done["message"] = limits.time_limit_message(step, total, done.pop("kept", None))
        write_state(folder, "done", **{"message": SAVED, **done})
        ended = True
    except TrainingCancelled as exc:
        fail("cancelled", str(exc))
    except ValueError as exc:  # problems with the data or settings, worded for people
        fail("failed", str(exc))
    except MemoryError:
        fail("failed", "Out of memory: " + ("leave the transformer out or use fewer rows." if response
                                            else "try a smaller batch size or max length."))
    except Exception as exc:  # noqa: BLE001 - anything else is a bug, but the user needs an answer
        traceback.print_exc()
        fail("failed", f"Unexpected error ({type(exc).__name__}): {exc}. Details are in {folder / 'worker.log'}.")
    finally:
        events.close()
        lock.close()
        if ended:  # the user's data is not kept around once the job cannot be resumed
            (folder / "data.csv").unlink(missing_ok=True)
            checkpoints.remove(folder / CHECKPOINT)
    return 0


def _trim_events(folder: Path, response: bool) -> None:
    """Before a (resumed) run: keep the fine-tune's events up to the checkpoint's step (those after
    the leaderboard's "transformer: running"), so the progress and the live chart continue from
    there instead of repeating the steps that are trained again; the candidates before it run
    again and send their events anew. A run without a checkpoint, or a response comparison,
    starts its events afresh."""
    path = folder / "events.jsonl"
    if not path.is_file():
        return
    progress = None if response else checkpoints.read_progress(folder / CHECKPOINT)
    kept: list[dict[str, Any]] = []
    if progress is not None:
        for event in read_events(folder):
            if any(row.get("kind") == "transformer" and row.get("status") == "running" for row in event.get("leaderboard") or ()):
                kept = []  # the fine-tune starts here
            elif event.get("phase") in ("train", "evaluate") and 0 < int(event.get("step") or 0) <= progress["step"]:
                kept.append(event)
            elif event.get("phase") in ("train", "evaluate") and int(event.get("step") or 0) > progress["step"]:
                break
    lines = "".join(json.dumps(e, ensure_ascii=False, default=json_default) + "\n" for e in kept)
    atomic_write(path, lines.encode("utf-8"))


def _wait_for_turn(folder: Path) -> Any:
    """The exclusive lock of the job's lane (core/lanes.py; shared by every kind of job), or None
    when the job was cancelled while waiting (its state is then written)."""
    cancel_file = folder / "cancel"
    request = read_request(folder)
    queue_dir = Path(request.get("queue_dir") or folder.parent)  # the server's queue folder
    queue_dir.mkdir(parents=True, exist_ok=True)
    lock = open(queue_dir / lanes.LOCKS[lanes.lane_of(request)], "w")
    while True:
        try:
            # In the lane's order: the lock alone would go to whichever waiting worker asks first
            # after a release, so a job waits until it is the next its lane serves (first_in_line).
            if not first_in_line(folder):
                raise BlockingIOError
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if cancel_file.exists():
                write_state(folder, "cancelled", message="Cancelled while waiting in the queue.")
                lock.close()
                return None
            time.sleep(0.5)


def _train(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
           deadline: float | None = None) -> dict[str, Any]:
    """A training job (``core.jobs.start_job``): run the leaderboard (core.pipeline.train; stopping at
    ``deadline``, a ``time.monotonic()`` value, like early stopping), saving the best model so far
    in the registry each time the leader changes (the whole folder with every finished candidate
    in ``candidates/``, renamed into place at once: usable on every page while later candidates
    run), then the final one; returns the state fields of "done" (``time_limit``, ``stopped_at``,
    ``kept``: for :func:`run`'s message). Events are ``ProgressEvent.to_dict()``. A cancelled job
    takes away what it saved, unless it had replaced an older model of that name; one killed
    (SIGKILL, a restart) keeps its best so far for the resume. A failure after a best so far
    was saved keeps it (core.pipeline keeps the leader when a later candidate fails, naming the
    failure in the job's message; any later failure ends "failed", naming it, with the model kept)."""
    from .pipeline import train

    cancel_file = folder / "cancel"
    config = TrainConfig.from_dict(request["config"])
    destination = model_path(request["model_name"], Path(request["models_dir"]))
    # A resumed job finds the best so far it saved before it was interrupted (LEADER_SAVED says so).
    marker = folder / LEADER_SAVED
    saved = marker.is_file()
    existed = json.loads(marker.read_text(encoding="utf-8"))["existed"] if saved else destination.exists()

    def save(result: Any, pause: str = "leader-save") -> None:
        nonlocal saved
        if not cancel_file.exists():
            if not saved:
                atomic_write(marker, json.dumps({"existed": existed}).encode("utf-8"))
            if BEST_SO_FAR in result.metrics:  # a best so far: the page asks this job whether it still runs
                result.metrics[BEST_SO_FAR]["job"] = folder.name
            # This job's own destination: replaced by each new leader, whatever the request said.
            result.save(destination, overwrite=saved or request.get("overwrite", False), pause=pause)
            saved = True

    def cancelled() -> TrainingCancelled:
        if saved and not existed:
            shutil.rmtree(destination, ignore_errors=True)
        return TrainingCancelled(
            "Training was cancelled; nothing was saved." if not (saved and existed)
            else "Training was cancelled; the model it was replacing had already been overwritten by its best so far.")

    try:
        result = train(df, config, on_progress=lambda event: log(event.to_dict()), cancel=cancel_file.exists,
                       checkpoint=folder / CHECKPOINT, deadline=deadline, on_leader=save)
    except TrainingCancelled:
        raise cancelled() from None
    except Exception as exc:  # not KeyboardInterrupt: an interrupted job keeps its best so far for the resume
        if not saved:
            raise
        # A best so far was saved: a complete model, usable on every page. It stays, and the
        # failure is named (the pipeline keeps the leader when a later candidate fails; this is
        # for whatever fails after that, e.g. the final save).
        if not isinstance(exc, ValueError):
            traceback.print_exc()
        what = str(exc).strip() if isinstance(exc, ValueError) else f"Unexpected error ({type(exc).__name__}): {exc}."
        raise ValueError(f"{what} The best model so far, saved while the job ran, stays usable as "
                         f"{request['model_name']}.") from exc
    if cancel_file.exists():  # sent after training's last check
        raise cancelled()
    save(result, pause="model-save")
    if cancel_file.exists():  # sent while saving: take the new folder away again
        raise cancelled()
    verdict = result.metrics.get("verdict") or {}
    metrics = result.metrics
    done = {
        "model_path": str(destination),
        "saved_kind": metrics.get("saved_kind", ""),
        "useless": bool(verdict.get("useless")),
        "verdict": verdict.get("sentence", ""),
        "warning": verdict.get("warning", ""),
    }
    if metrics.get("failed_candidates"):  # the job ends "done" with the best of those that finished, saying so
        from .result import failed_sentence

        done["message"] = failed_sentence(metrics["failed_candidates"])
    if deadline is not None and result.stopped_reason == "time limit":
        done["time_limit"] = True
        done["stopped_at"] = (metrics.get("steps_trained", metrics.get("steps")), metrics.get("total_steps"))
        if metrics.get("saved_kind") == "fewshot":
            done["kept"] = "the encoder as tuned by then got its classification head and was tested and saved as usual"
    return done


def _compare(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
             deadline: float | None = None) -> dict[str, Any]:
    """A response-model comparison job (``core.jobs.start_response_job``): compare, save the
    comparison in ``<folder>/result``, save the recommended model in the registry; returns the
    state fields of "done". Events are ``ProgressEvent.to_dict()`` plus ``time``.

    ``deadline`` (``time.monotonic()``) bounds the transformer, the one slow model: it stops
    there with its best checkpoint, or is left out when the deadline passed before its turn. The
    comparison of what was trained is still complete and honest (every candidate scored on the
    same held-out rows), so the job ends "done", its message saying what the time limit cut."""
    from .response import TRANSFORMER, ResponseSetup, deploy, save_comparison, train_response_models

    def on_progress(event: ProgressEvent) -> None:
        log({**event.to_dict(), "time": time.time()})
    cancel_file = folder / "cancel"
    r = request["response"]
    comparison = train_response_models(df, ResponseSetup.from_dict({"include_transformer": False, **r}),
                                       on_progress=on_progress, cancel=cancel_file.exists, deadline=deadline)
    # A cancel that arrives after the last model is trained still means "save nothing".
    if cancel_file.exists():
        raise TrainingCancelled("Cancelled; nothing was saved.")
    on_progress(ProgressEvent("save", fraction=1.0, message="Saving the models"))
    save_comparison(comparison, folder / "result")
    if cancel_file.exists():
        raise TrainingCancelled("Cancelled; nothing was saved.")
    destination = deploy(comparison, None, request["model_name"], root=Path(request["models_dir"]),
                         overwrite=request.get("overwrite", False))
    done = {"model_path": str(destination), "recommended": comparison.recommended}
    transformer = comparison.candidates.get(TRANSFORMER)
    if deadline is not None and r.get("include_transformer") and transformer is None:
        done.update(time_limit=True, kept="the transformer was left out (the time was up before its turn), and the "
                                          "other models were compared and the recommended one saved as usual")
    elif deadline is not None and transformer is not None and transformer.metrics.get("stopped_reason") == "time limit":
        done.update(time_limit=True, kept="the transformer's best checkpoint was compared with the other models on "
                                          "the same held-out rows, and the recommended one saved as usual")
    return done


def _rewrite(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
             deadline: float | None = None) -> dict[str, Any]:
    """A rewrite job (``core.jobs.start_rewrite_job``): write and score the rewrites of the base
    copy (data.csv's one ``text`` cell) with the saved model in ``model_folder``, and save them in
    ``<folder>/result.json``; returns the state fields of "done". Events are
    ``ProgressEvent.to_dict()`` plus ``time``. At ``deadline`` the writing stops
    and the rewrites kept so far are scored and saved."""
    from .generate import suggest_rewrites
    from .models import load_folder

    cancel_file = folder / "cancel"
    r = request["rewrite"]
    model = load_folder(r["model_folder"])  # resolved when the job was queued (core.jobs.start_rewrite_job)
    result = suggest_rewrites(
        str(df["text"].iloc[0]), int(r["n"]), classifier=model, positive_class=r.get("positive_class"),
        profile=r.get("profile") or None, text_column=r.get("text_column"), tone=r.get("tone"),
        keep_words=r.get("keep_words") or (), avoid_words=r.get("avoid_words") or (), max_chars=r.get("max_chars"),
        seed=int(r.get("seed", 0)), on_progress=lambda p: log({**p.to_dict(), "time": time.time()}),
        cancel=cancel_file.exists, deadline=deadline,
    )
    if cancel_file.exists():
        raise TrainingCancelled("Cancelled; no rewrites were kept.")
    atomic_write(folder / REWRITES_FILE, result.to_json().encode("utf-8"))
    done = {"message": f"Wrote {len(result)} of {r['n']} rewrites; {result.dropped_text()}.", "rewrites": len(result)}
    if result.time_limit:
        done.update(time_limit=True, kept=f"the {len(result)} rewrites written by then were scored and kept")
    return done


def _zeroshot(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
              deadline: float | None = None) -> dict[str, Any]:
    """A zero-shot job (``core.jobs.start_zeroshot_job``): build the model from the category names
    on data.csv's texts and save it atomically under the job's model name; returns the state fields
    of "done". Events are ``{"phase": "zeroshot", "fraction", "message", "time"}``; a cancel is
    seen between batches of texts. It takes seconds to a minute, so ``deadline`` is not consulted."""
    from .zeroshot import Options, build_zeroshot

    cancel_file = folder / "cancel"
    z = request["zeroshot"]

    def on_progress(fraction: float, message: str) -> None:
        if cancel_file.exists():
            raise TrainingCancelled("Cancelled; nothing was saved.")
        log({"phase": "zeroshot", "fraction": float(fraction), "message": message, "time": time.time()})

    model = build_zeroshot(df, z["labels"], text_columns=[z["text_column"]], descriptions=z.get("descriptions") or None,
                           base_model=z["base_model"], options=Options(self_training=bool(z.get("self_training", True))),
                           on_progress=on_progress, cancel=cancel_file.exists, seed=int(z.get("seed", 0)))
    if cancel_file.exists():
        raise TrainingCancelled("Cancelled; nothing was saved.")
    destination = model_path(request["model_name"], Path(request["models_dir"]))
    model.save(destination, overwrite=bool(request.get("overwrite")))
    return {"model_path": str(destination), "saved_kind": "zeroshot", "message": (
        f"Saved zero-shot model {request['model_name']} ({', '.join(map(str, model.classes_))}; {model.base_model}; "
        f"{model.zero_shot['method']}; {model.metrics['train_seconds']:.0f} s).")}


def _retrain(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
             deadline: float | None = None) -> dict[str, Any]:
    """A retrain job (``core.jobs.start_retrain_job``): a challenger of the saved model, promoted only
    when better (``core.versions.challenge``, which writes the outcome into the model's folder);
    returns the state fields of "done": the comparison in words, promoted or not, the version kept."""
    from .versions import PART, challenge

    r = request["retrain"]
    part = df.pop(PART)
    outcome = challenge(r["model_folder"], df[part == "old"].reset_index(drop=True),
                        df[part == "new"].reset_index(drop=True), seed=int(r.get("seed", 42)),
                        on_progress=lambda event: log(event.to_dict()), cancel=(folder / "cancel").exists,
                        deadline=deadline)
    return {"message": outcome.sentence, "promoted": outcome.promoted, "version": outcome.version,
            "model_path": r["model_folder"]}



def _check(folder: Path, request: dict[str, Any], df: pd.DataFrame, log: Callable[[dict], None],
           deadline: float | None = None) -> dict[str, Any]:
    """A data check job (``core.jobs.start_check_job``): ``core.check.check`` on data.csv, its
    report saved in ``<folder>/check.json``; returns the state fields of "done". Events are
    ``ProgressEvent.to_dict()`` plus ``time``. The check has no partial result: past ``deadline``
    it runs on (its estimate put it in a lane; a server's time limit is for fine-tunes)."""
    from .check import check

    cancel_file = folder / "cancel"
    r = request["check"]
    report = check(df, TrainConfig.from_dict(r["config"]), features=r["features"], cancel=cancel_file.exists,
                   on_progress=lambda event: log({**event.to_dict(), "time": time.time()}))
    if cancel_file.exists():
        raise TrainingCancelled("The data check was cancelled.")
    atomic_write(folder / CHECK_FILE, report.to_json().encode("utf-8"))
    flagged = len(report.rows())
    return {"message": f"Checked {rows_words(report.n_rows)}: {flagged:,} flagged.", "flagged": flagged}


# How much lower a worker runs than the server that started it (os.nice's increment). A fine-tune's
# torch threads fill every core; at equal priority the Streamlit server then got about a third of
# one core, and a page opened while a job ran sat with grey placeholders for over a minute while
# its JavaScript files trickled out (issue 31's walk, r6-serve's probe: 40 of those files took
# 1.2 s with no job and up to 27 s with one). At +5 the kernel's weights (1024 vs 335 per thread)
# give the server most of a core when it needs one; when it is idle the worker still gets all.
WORKER_NICENESS = 5


def lower_priority() -> int:
    """Lower this process's CPU priority by :data:`WORKER_NICENESS` (POSIX nice; capped at 19 by
    the kernel; a no-op where os.nice does not exist). Returns the niceness now."""
    if not hasattr(os, "nice"):
        return 0
    return os.nice(WORKER_NICENESS)


# request.json's kind -> what runs it
RUNNERS = {"train": _train, "response": _compare, "rewrite": _rewrite, "zeroshot": _zeroshot, "retrain": _retrain,
           "check": _check}
STARTING = {"train": "Training", "response": "Comparing response models", "rewrite": "Writing rewrites",
            "zeroshot": "Building the zero-shot model", "retrain": "Training a challenger", "check": "Checking the data"}


if __name__ == "__main__":
    # Everything the job writes (checkpoint, events, the model it saves) holds customer data:
    # owner-only (0600 / 0700). A team server's process sets this umask itself (ui/account.py)
    # and a worker it starts inherits it; the worker sets it too because it is not always started
    # by that process: on a laptop the server keeps the default umask, and core.jobs.start_job
    # (the core API) also runs from scripts and notebooks, whose umask nobody chose.
    os.umask(0o077)
    lower_priority()
    sys.exit(run(Path(sys.argv[1])))
