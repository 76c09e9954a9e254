"""The saved-model folder, shared by every kind: atomic writes, JSON files, manifest, model card.

A saved model is a folder holding only JSON, CSV, Markdown and safetensors (nothing is ever
unpickled). Every kind writes the same common files; its weights are its own::

    marketune.json        # manifest: format version, kind, task, classes, base model, saved at
    data_schema.json      # which columns, and how the model input is built from them
    training_config.json  # how it was trained
    metrics.json          # held-out metrics of the model and of the baselines
    calibration.json      # optional: the P(positive) calibrator (core.calibration)
    test_predictions.csv  # optional: the test rows with true and predicted labels
    README.md             # model card

A folder is written next to its destination under a temporary name and renamed into place at
the end (:func:`atomic_folder`), so a reader never sees half a model and a failed save leaves
the old one. Both helpers here write owner-only (folders 0700, files 0600), whatever the
process's umask: a model and its test predictions are customer data. Also here: the device and batch helpers the two torch kinds share.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import renamed_keys
from ..data import build_texts

FORMAT_VERSION = 1
PREDICT_BATCH_SIZE = 64  # texts per forward pass when predicting
FAST_METHODS = ("int8", "bf16")
MANIFEST = "marketune.json"
SCHEMA = "data_schema.json"
TRAINING_CONFIG = "training_config.json"
METRICS = "metrics.json"
CALIBRATION = "calibration.json"
TEST_PREDICTIONS = "test_predictions.csv"
CARD = "README.md"


# ---------------------------------------------------------------------- JSON and folders


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON; numpy numbers and arrays and paths become plain values."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")


def read_json(path: Path) -> Any:
    """Read a JSON file of a model folder; ``ValueError`` naming the file when it is missing."""
    if not path.is_file():
        raise ValueError(f"{path.parent} is not a Marketune model folder: {path.name} is missing.")
    return json.loads(path.read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON")


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move a finished temporary folder into place; an old folder is replaced only at the end."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)


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


def owner_only(folder: Path) -> None:
    """Make ``folder`` and everything under it owner-only: folders 0700, files 0600 (links are
    neither followed nor changed)."""
    folder.chmod(0o700)
    for parent, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(parent, name)
            if not path.is_symlink():
                path.chmod(0o700 if name in dirs else 0o600)


def manifest_of(model: Any, kind: str, **extra: Any) -> dict[str, Any]:
    """marketune.json of ``model``: format version, kind, task, classes, ``extra``, base model, time."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "task": model.task,
        "classes": [str(c) for c in model.classes_],
        **extra,
        "base_model": model.base_model,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_model_files(
    tmp: Path, model: Any, manifest: dict[str, Any], card: str, calibration: dict[str, Any] | None = None
) -> None:
    """Write the common files of a model folder into ``tmp`` (the kind writes its weights itself)."""
    write_json(tmp / MANIFEST, manifest)
    write_json(tmp / SCHEMA, model.schema)
    write_json(tmp / TRAINING_CONFIG, model.training_config)
    write_json(tmp / METRICS, model.metrics)
    if calibration is not None:
        write_json(tmp / CALIBRATION, calibration)
    if model.test_predictions is not None:
        model.test_predictions.to_csv(tmp / TEST_PREDICTIONS, index=False)
    (tmp / CARD).write_text(card, encoding="utf-8")


def read_model_files(
    folder: str | Path, kinds: Sequence[str], *, required: Sequence[str] = (SCHEMA, TRAINING_CONFIG, METRICS)
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(manifest, common)`` of a saved folder whose kind is one of ``kinds``.

    ``common`` holds the constructor arguments every kind takes: ``schema``,
    ``training_config``, ``metrics`` (``{}`` when missing and not ``required``),
    ``test_predictions`` (a DataFrame or None) and ``path``. Old key names in the schema and the
    training config (``feature_columns``) are read as today's (``profile_columns``), so every
    kind sees one spelling. Raises ``ValueError`` for another kind or a missing required file.
    """
    folder = Path(folder)
    found = read_json(folder / MANIFEST)
    if found.get("kind") not in kinds:
        expected = repr(kinds[0]) if len(kinds) == 1 else f"one of {tuple(kinds)}"
        raise ValueError(f"{folder} holds a model of kind {found.get('kind')!r}, not {expected}.")

    def read(name: str) -> Any:
        return read_json(folder / name) if name in required or (folder / name).is_file() else {}

    predictions = folder / TEST_PREDICTIONS
    return found, {
        # Folders saved before the rename say "feature_columns": the one place they are upgraded.
        "schema": renamed_keys(read(SCHEMA), str(folder / SCHEMA)),
        "training_config": renamed_keys(read(TRAINING_CONFIG), str(folder / TRAINING_CONFIG)),
        "metrics": read(METRICS),
        "test_predictions": pd.read_csv(predictions, keep_default_na=False, na_values=[""])
        if predictions.is_file()
        else None,
        "path": folder,
    }


def prediction_frame(index: Any, texts: Sequence[str] | None, true: Any, pred: Any, proba: np.ndarray | None,
                     classes: Sequence[str]) -> pd.DataFrame:
    """test_predictions.csv of the held-out rows: ``row`` (the input table's index), ``text`` (the
    model input; left out when ``texts`` is None), then ``true_label``, ``predicted_label``,
    ``confidence`` (top probability) and ``p_<class>`` per class of ``proba`` (n, len(classes));
    for regression (``proba`` None) ``true_value`` and ``predicted_value``."""
    frame = pd.DataFrame({"row": index} if texts is None else {"row": index, "text": texts})
    if proba is None:
        return frame.assign(true_value=true, predicted_value=pred)
    frame = frame.assign(true_label=true, predicted_label=pred, confidence=proba.max(axis=1) if len(proba) else [])
    for i, c in enumerate(classes):
        frame[f"p_{c}"] = proba[:, i]
    return frame


def read_calibration(folder: Path) -> dict[str, Any] | None:
    """The folder's calibration.json, or None when it has none."""
    return read_json(folder / CALIBRATION) if (folder / CALIBRATION).is_file() else None


# ---------------------------------------------------------------------- inputs and the card


def input_columns(schema: dict[str, Any]) -> list[str]:
    """Columns a table must have for a model with this schema: profile columns, then text columns."""
    return [*schema.get("profile_columns", []), *schema.get("text_columns", [])]


class TextInputs:
    """What the text kinds (transformer, few-shot, TF-IDF) share: one input text per row, built
    from the columns in ``schema`` as training built it (core.data.build_texts)."""

    schema: dict[str, Any]

    @property
    def input_columns(self) -> list[str]:
        """Columns a DataFrame must have: profile columns, then text columns."""
        return input_columns(self.schema)

    def texts_from(self, data: pd.DataFrame | Sequence[str]) -> list[str]:
        """Model inputs from a DataFrame (built per the saved schema) or a list of texts."""
        if isinstance(data, pd.DataFrame):
            return build_texts(data, self.schema["text_columns"], self.schema.get("profile_columns", []))
        if isinstance(data, str):
            raise ValueError("Expected a list of texts or a DataFrame, got a single string; wrap it in a list.")
        return ["" if t is None else str(t) for t in data]


def labels_of(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The most probable class per row of ``proba`` (n, len(classes)); an empty array for n = 0."""
    return classes[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)


def metrics_table(metrics: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """Model-card lines: a Markdown table of ``keys`` for this model and each baseline."""
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, values in [("this model", metrics.get("model", {})), *metrics.get("baselines", {}).items()]:
        cells = [f"{values[k]:.3f}" if isinstance(values.get(k), (int, float)) else "" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------- torch helpers


class TorchModel(TextInputs):
    """What the two torch kinds (transformer, few-shot) share: a network ``model`` with its
    ``tokenizer``, saved by ``save_pretrained``, and faster CPU forms (:func:`fast_module`)."""

    fast_forms = FAST_METHODS
    model: Any
    tokenizer: Any
    quantized: str | bool  # False, or the fast form in use: "int8" or "bf16"

    def quantize(self, method: str = "int8") -> Any:
        """Switch the network to the faster CPU form ``method`` in place; it can no longer be saved."""
        if self.quantized and self.quantized != method:
            raise ValueError(f"This model is already in its {self.quantized} form; load it again for {method}.")
        if not self.quantized:
            self.model = fast_module(self.model, method)
            self.quantized = method
        return self

    def save_network(self, tmp: Path) -> None:
        """Write the network and tokenizer (``save_pretrained``: config.json, model.safetensors,
        tokenizer files) into ``tmp``; ``ValueError`` for a quantized network (nothing is written)."""
        if self.quantized:
            raise ValueError("A quantized model cannot be saved; save the full-precision model.")
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)



def default_device() -> str:
    """"cuda" when a GPU is available, else "cpu"."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def device_of(module: Any) -> Any:
    """The torch device of ``module``'s parameters (CPU for a module with none, e.g. quantized)."""
    import torch

    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def fast_module(module: Any, method: str) -> Any:
    """A faster CPU form of ``module`` for inference: ``"int8"`` or ``"bf16"``.

    int8: dynamic quantization of the Linear layers (weights int8, activations quantized per
    batch). bf16: bfloat16 weights and activations, fast where the CPU has native bf16 matrix
    instructions (AVX512-BF16/AMX) and slower where it has not. Both change the numbers a
    little, so core.fastpath measures each on the model's own test split before offering it.
    """
    import torch

    if method == "int8":
        return torch.ao.quantization.quantize_dynamic(module.to("cpu"), {torch.nn.Linear}, dtype=torch.qint8)
    if method == "bf16":
        return module.to("cpu", dtype=torch.bfloat16)
    raise ValueError(f"Unknown fast method {method!r}; expected one of {FAST_METHODS}.")


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-pad token id lists to the longest one: (input_ids, attention_mask) LongTensors."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, k) scores."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
