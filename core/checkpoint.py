"""Training checkpoints: the fine-tuning loop's whole state on disk, so a killed run can resume.

:func:`core.training.fit_transformer` writes one at each evaluation when it is given a
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

from .models.folder import pause_point

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
    digest.update(json.dumps(config, sort_keys=True, default=str).encode("utf-8"))
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


def load(folder: str | Path | None) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none. Raises ``ValueError`` when it
    was written by another format version."""
    latest = read_progress(folder)
    if latest is None:
        return None
    step_folder = Path(folder) / latest["folder"]
    state = json.loads((step_folder / "trainer.json").read_text(encoding="utf-8"))
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(
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
    def default(value: Any) -> Any:
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, tuple):
            return list(value)
        return str(value)

    return json.dumps(data, ensure_ascii=False, default=default).encode("utf-8")


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
