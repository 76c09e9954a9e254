"""Training checkpoints: the fine-tuning loop's whole state on disk, so a killed run can resume.

:func:`core.training.fit_transformer` writes one (:class:`LoopCheckpoint`) at each evaluation when it is given a
checkpoint folder (the training job's ``<job>/checkpoint``, the CLI's ``<out>.checkpoint``)
and continues from it when it finds one. No pickle: tensors go to safetensors, the rest to
JSON. The folder holds one complete checkpoint and a pointer to it::

    <folder>/latest.json                  {"folder", "step", "total_steps", "epoch", "fingerprint", "saved_at"}
    <folder>/step-0000120-1a2b3c/
        trainer.json                      step, epoch, batches done in the epoch, best score/step,
                                          evals since the best, recent losses, seconds trained,
                                          optimizer hyper-parameters, scheduler state, RNG states
        history.json                      the progress events so far (ProgressEvent.to_dict())
        weights.safetensors               the trainable parameters, by name (float32 on a CPU)
        best.safetensors                  the best-so-far trainable parameters (absent when the
                                          best is the current weights)
        optimizer.safetensors             AdamW's per-parameter tensors as "<index>/<key>"
                                          (exp_avg, exp_avg_sq, step)
        rng.safetensors                   torch's CPU (and CUDA) generator states (uint8) and
                                          numpy's MT19937 key (uint32)

A checkpoint is written into a new step folder (each file fsynced), then ``latest.json`` is
replaced atomically to point at it, then the older step folder is removed: a reader (or a
process killed at any instant) sees the previous complete checkpoint or the new one, never
half of one. A step folder that ``latest.json`` does not name is a leftover of a killed write
and is removed by the next write.

``latest.json`` is small on purpose: job lists read it (:func:`read_progress`) to say
"interrupted at step k of n" without touching the weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import json_default, pause_point, to_json

FORMAT_VERSION = 1
LATEST = "latest.json"


@dataclass
class Checkpoint:
    """One checkpoint read back: ``state`` (trainer.json), ``history`` (progress events as dicts)
    and its ``folder`` (the step folder), whose tensors :meth:`tensors` loads."""

    folder: Path
    state: dict[str, Any]
    history: list[dict[str, Any]]

    def tensors(self, name: str) -> dict[str, Any]:
        """The tensors of ``<name>.safetensors`` ({} when the file is absent), on the CPU."""
        from safetensors.torch import load_file

        path = self.folder / f"{name}.safetensors"
        return load_file(path) if path.is_file() else {}


def fingerprint(texts: Sequence[str], targets: np.ndarray, splits: dict[str, np.ndarray], config: dict[str, Any]) -> str:
    """SHA-256 (hex) of what a run trains on: the model inputs, the targets, the row positions of
    each split and the training settings. A checkpoint continues only the run it was written by."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(texts), ensure_ascii=False).encode("utf-8"))
    digest.update(np.ascontiguousarray(np.asarray(targets, dtype=np.float64)).tobytes())
    for name in sorted(splits):
        digest.update(name.encode() + np.ascontiguousarray(np.asarray(splits[name], dtype=np.int64)).tobytes())
    digest.update(json.dumps(config, sort_keys=True, default=json_default).encode("utf-8"))
    return digest.hexdigest()


def read_progress(folder: str | Path | None) -> dict[str, Any] | None:
    """``latest.json`` of a checkpoint folder: ``step`` and ``total_steps`` (optimizer steps),
    ``epoch`` (fractional), ``fingerprint``, ``saved_at`` (Unix seconds), ``folder``; None when
    there is no complete checkpoint (no folder, no pointer, or a pointer to a missing folder)."""
    if folder is None:
        return None
    folder = Path(folder)
    try:
        latest = json.loads((folder / LATEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(latest, dict) or not (folder / str(latest.get("folder", "")) / "trainer.json").is_file():
        return None
    return latest


class CheckpointMismatch(ValueError):
    """A checkpoint that cannot continue this run (another format, data, settings or network): the
    training fails with it, whatever candidate found it (core.pipeline does not treat it as that
    candidate failing), so that the person deletes it or resumes with the same data."""


def load(folder: str | Path | None) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none. Raises ``ValueError`` when it
    was written by another format version."""
    latest = read_progress(folder)
    if latest is None:
        return None
    step_folder = Path(folder) / latest["folder"]
    state = json.loads((step_folder / "trainer.json").read_text(encoding="utf-8"))
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointMismatch(
            f"The checkpoint in {folder} has format {state.get('format_version')!r}; this version of Marketune "
            f"reads format {FORMAT_VERSION}. Delete it to start afresh."
        )
    history = json.loads((step_folder / "history.json").read_text(encoding="utf-8"))
    return Checkpoint(step_folder, state, history)


def save(folder: str | Path, state: dict[str, Any], history: list[dict[str, Any]], tensors: dict[str, dict[str, Any]]) -> None:
    """Write a checkpoint into ``folder`` (created if needed), atomically (see the module doc).

    ``state``: JSON-able, with at least ``step``, ``total_steps``, ``epoch`` and ``fingerprint``;
    ``history``: progress events as dicts; ``tensors``: {file stem: {name: CPU tensor}}.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous = read_progress(folder)
    for leftover in folder.iterdir():  # a write killed half-way left these
        if leftover.name != LATEST and (previous is None or leftover.name != previous["folder"]):
            _remove(leftover)
    name = f"step-{int(state['step']):07d}-{secrets.token_hex(3)}"
    step_folder = folder / name
    step_folder.mkdir()
    state = {**state, "format_version": FORMAT_VERSION}
    for stem, values in tensors.items():
        path = step_folder / f"{stem}.safetensors"
        save_file({k: v.detach().to("cpu").contiguous() for k, v in values.items()}, str(path))
        _fsync(path)
    _write_synced(step_folder / "history.json", _json_bytes(history))
    _write_synced(step_folder / "trainer.json", _json_bytes(state))
    _fsync(step_folder)
    pause_point("checkpoint-write", f"checkpoint-write-{state['step']}")  # tests kill the process here: a complete step folder, no pointer yet
    pointer = {"folder": name, "step": state["step"], "total_steps": state["total_steps"], "epoch": state["epoch"],
               "fingerprint": state["fingerprint"], "saved_at": time.time()}
    tmp = folder / f".{LATEST}.{os.getpid()}.tmp"
    _write_synced(tmp, _json_bytes(pointer))
    os.replace(tmp, folder / LATEST)
    _fsync(folder)
    if previous is not None:
        _remove(folder / previous["folder"])


class LoopCheckpoint:
    """The fine-tuning loop's checkpoint as a callback (core.training.fit_transformer's ``callbacks``).

    ``on_start`` restores the loop from the checkpoint in ``folder`` when there is one: trainable
    weights, AdamW and scheduler state, step, epoch and batches done in it, best-so-far
    score/step/weights, evaluations since the best, recent losses, seconds trained, progress
    events (into ``events.history``) and, after the resumed epoch's skipped batches, the RNG
    states; the batch order is fixed by seed and epoch, so the run continues to the same result
    as one never stopped (the same steps and, on a CPU, the same weights); the first event says
    "Resumed from step k of n". Raises ``ValueError`` when the checkpoint was written for other
    data (model inputs, targets, split) or settings: ``fingerprint`` is set by the fit.
    ``on_evaluate`` writes the loop's state at each evaluation (main process only), before the
    evaluation's event is sent: an "evaluate" event means its checkpoint is on disk.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder, self.fingerprint, self.events = Path(folder), "", None

    def on_start(self, state: Any, loop: Any, events: Any) -> None:
        from .progress import ProgressEvent

        self.events = events
        found = load(self.folder)
        if found is None:
            return
        saved = found.state
        if (saved["fingerprint"] != self.fingerprint or saved["total_steps"] != loop.total_steps
                or saved["steps_per_epoch"] != loop.steps_per_epoch):
            raise CheckpointMismatch(
                f"The checkpoint in {self.folder} was written by a run on other data or with other settings "
                f"(step {saved['step']} of {saved['total_steps']}), so it cannot continue this one. Resume with the "
                "same data and settings, or delete the checkpoint to start afresh."
            )
        load_trainable(loop.trainable(), found.tensors("weights"), self.folder)
        loop.optimizer.load_state_dict(optimizer_state_dict(found.tensors("optimizer"), saved["optimizer"]))
        loop.scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler") and getattr(loop.accelerator, "scaler", None) is not None:  # fp16 loss scaling
            loop.accelerator.scaler.load_state_dict(saved["scaler"])
        state.step, state.epoch, state.batch_in_epoch = int(saved["step"]), int(saved["epoch_index"]), int(saved["batch_in_epoch"])
        state.best_score = -math.inf if saved["best_score"] is None else float(saved["best_score"])
        state.best_step, state.evals_since_best = int(saved["best_step"]), int(saved["evals_since_best"])
        state.stopped_reason, state.recent_losses = saved["stopped_reason"], [float(v) for v in saved["recent_losses"]]
        state.scores = [(int(s), float(v)) for s, v in saved.get("scores", [])]
        if saved["has_best"]:
            state.best_state = found.tensors("best") or {n: p.detach().to("cpu", copy=True) for n, p in loop.trainable().items()}
        events.restored = [ProgressEvent(**event) for event in found.history]
        events.history[:] = events.restored
        state.train_started = time.monotonic() - float(saved["train_seconds"])
        state.started = time.monotonic() - float(saved["elapsed_s"])
        state.rng_to_restore = (found.tensors("rng"), saved["rng"])
        state.resumed_from = state.step
        losses = state.recent_losses
        events.emit(ProgressEvent("train", state.step, loop.total_steps, state.step / loop.steps_per_epoch,
                                  float(np.mean(losses)) if losses else None, elapsed_s=time.monotonic() - state.started,
                                  message=f"Resumed from step {state.step} of {loop.total_steps}"))

    def on_evaluate(self, state: Any, loop: Any, event: Any) -> None:
        if not loop.accelerator.is_main_process:
            return
        optimizer_tensors, optimizer_rest = optimizer_parts(loop.optimizer.state_dict())
        rng_tensors, rng_rest = rng_parts()
        tensors = {"weights": loop.trainable(), "optimizer": optimizer_tensors, "rng": rng_tensors}
        if state.best_state is not None and state.best_step != state.step:
            tensors["best"] = state.best_state
        scaler = getattr(loop.accelerator, "scaler", None)
        saved = {
            "fingerprint": self.fingerprint, "step": state.step, "total_steps": loop.total_steps,
            "steps_per_epoch": loop.steps_per_epoch, "epoch": state.step / loop.steps_per_epoch,
            "epoch_index": state.epoch, "batch_in_epoch": state.batch_in_epoch,
            "best_score": None if state.best_score == -math.inf else state.best_score, "best_step": state.best_step,
            "has_best": state.best_state is not None, "evals_since_best": state.evals_since_best,
            "stopped_reason": state.stopped_reason, "recent_losses": state.recent_losses, "scores": state.scores,
            "train_seconds": time.monotonic() - state.train_started, "elapsed_s": time.monotonic() - state.started,
            "optimizer": optimizer_rest, "scheduler": loop.scheduler.state_dict(), "rng": rng_rest,
            "scaler": scaler.state_dict() if scaler is not None else None,
        }
        save(self.folder, saved, [e.to_dict() for e in [*self.events.history, event]], tensors)


def load_trainable(params: dict[str, Any], weights: dict[str, Any], where: Any) -> None:
    """Copy a checkpoint's trainable parameters (name -> CPU tensor) into ``params`` (a network's
    trainable parameters by name); ``ValueError`` when they are not the same names and shapes
    (another base model or method)."""
    import torch

    if set(params) != set(weights) or any(params[n].shape != weights[n].shape for n in params):
        raise CheckpointMismatch(f"The checkpoint in {where} holds the weights of another network; delete it to start afresh.")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))


def remove(folder: str | Path | None) -> None:
    """Delete a checkpoint folder (after the model it led to is saved); no error when absent."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------- torch state as tensors + JSON


def optimizer_parts(state_dict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimizer's ``state_dict()`` as (tensors {"<index>/<key>": tensor}, JSON-able rest)."""
    tensors, scalars = {}, {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if hasattr(value, "detach"):
                tensors[f"{index}/{key}"] = value
            else:
                scalars[f"{index}/{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_state_dict(tensors: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`optimizer_parts`: a ``state_dict`` for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *rest["scalars"].items()]:
        index, key = flat.split("/", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def rng_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    """The random generators' states (torch CPU and CUDA, numpy's global, Python's) as
    (tensors, JSON-able rest)."""
    import torch

    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64))
    version, internal, gauss_next = random.getstate()
    rest = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [version, list(internal), gauss_next]}
    return tensors, rest


def set_rng(tensors: dict[str, Any], rest: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_parts`."""
    import torch

    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = rest["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = rest["python"]
    random.setstate((version, tuple(internal), gauss_next))


# ---------------------------------------------------------------------- files


def _json_bytes(data: Any) -> bytes:
    return to_json(data).encode("utf-8")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entries to the disk (a power cut keeps what a rename promised)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
