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
the end (``core.files.atomic_folder``), so a reader never sees half a model and a failed save
leaves the old one; it lands owner-only (folders 0700, files 0600): a model and its test
predictions are customer data. Also here: the device and batch helpers the two torch kinds share.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import renamed_keys
from ..data import build_texts
from ..files import atomic_folder, write_json

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
NETWORK_WEIGHTS = "model.safetensors"  # a torch kind's network, as transformers' save_pretrained names it
OOD_REFERENCE = "ood_reference.safetensors"  # optional: core.ood's out-of-distribution reference
SCORING_HISTORY = "scoring_history.jsonl"  # core.monitor's: one line of counts per scoring (named here for core.versions)
SCORING_REFERENCES = "scoring_references.json"  # core.monitor's: the reference of each model that scored a line


# ---------------------------------------------------------------------- JSON and folders


def is_model_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder with a Marketune manifest (a saved model of any kind)."""
    return (Path(path) / MANIFEST).is_file()


def stamp(folder: str | Path) -> float:
    """The manifest's modification time: it changes whenever the folder is saved again, so it
    keys a cache of the loaded model. ``FileNotFoundError`` when there is no model there."""
    return (Path(folder) / MANIFEST).stat().st_mtime


def read_json(path: Path) -> Any:
    """Read a JSON file of a model folder; ``ValueError`` naming the file when it is missing."""
    if not path.is_file():
        raise ValueError(f"{path.parent} is not a Marketune model folder: {path.name} is missing.")
    return json.loads(path.read_text(encoding="utf-8"))


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


def save_model_folder(
    folder: str | Path,
    model: Any,
    card: str,
    *,
    overwrite: bool = False,
    own_files: dict[str, Any] | None = None,
    write: Callable[[Path], None] | None = None,
    calibration: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s folder atomically (:func:`core.files.atomic_folder`): the kind's own files,
    then the common ones (:func:`write_model_files` with ``model.manifest()`` and ``card``).

    ``own_files`` maps a file name to its content: a ``{name: array}`` dict for a
    ``.safetensors`` name (written C-contiguous), JSON-able data for any other name. ``write(tmp)``
    writes what the kind writes itself (``save_pretrained``, thresholds). Returns ``Path(folder)``;
    raises ``ValueError`` when ``folder`` exists and ``overwrite`` is False.
    """
    from safetensors.numpy import save_file

    with atomic_folder(folder, overwrite=overwrite) as tmp:
        if write is not None:
            write(tmp)
        for name, content in (own_files or {}).items():
            if name.endswith(".safetensors"):
                save_file({k: np.ascontiguousarray(v) for k, v in content.items()}, str(tmp / name))
            else:
                write_json(tmp / name, content)
        write_model_files(tmp, model, model.manifest(), card, calibration)
    return Path(folder)


def read_own_files(folder: Path, json_name: str, arrays_name: str, what: str) -> tuple[Any, dict[str, np.ndarray]]:
    """``(meta, arrays)``: a kind's own JSON file and safetensors file in ``folder``. Raises
    ``ValueError`` naming ``what`` ("the TF-IDF model") when the weights are missing (no other
    weight format is ever read) or either file is damaged."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not (folder / arrays_name).is_file():
        raise ValueError(f"{folder} has no {arrays_name}; {what}'s weights are missing (other weight formats are never read).")
    try:
        return read_json(folder / json_name), load_file(str(folder / arrays_name))
    except (json.JSONDecodeError, SafetensorError) as exc:
        raise ValueError(f"{folder}: {what}'s files are damaged ({exc})") from exc


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


def keep_common(model: Any, schema: dict[str, Any], training_config: dict[str, Any] | None,
                metrics: dict[str, Any] | None, test_predictions: pd.DataFrame | None, path: Path | None) -> None:
    """Set on ``model`` the constructor arguments every kind takes (:func:`read_model_files`'
    ``common``): a missing training config or metrics becomes ``{}``."""
    model.schema, model.test_predictions, model.path = schema, test_predictions, path
    model.training_config, model.metrics = training_config or {}, metrics or {}


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

    @staticmethod
    def load_network(folder: Path, auto_class: Any, weight_files: Sequence[str], device: str | None) -> tuple[Any, Any]:
        """``(network, tokenizer)`` of a saved folder: ``auto_class.from_pretrained`` from safetensors
        only, in eval mode on ``device`` (default: :func:`default_device`). ``ValueError`` when one of
        ``weight_files`` is missing: no other weight format is ever read."""
        from transformers import AutoTokenizer

        for name in weight_files:
            if not (folder / name).is_file():
                raise ValueError(f"{folder} has no {name}; refusing to load other weight formats.")
        network = auto_class.from_pretrained(folder, use_safetensors=True)
        network.to(device or default_device())
        network.eval()
        return network, AutoTokenizer.from_pretrained(folder)

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


def sorted_batches(
    module: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    width: int,
    forward: Callable[[Any, Any], Any],
    batch_size: int = PREDICT_BATCH_SIZE,
    on_batch: Callable[[int, int], None] | None = None,
    *,
    autocast: bool = False,
) -> np.ndarray:
    """``forward(input_ids, attention_mask)`` (a (b, width) tensor per batch) over ``texts``:
    float32 (n, width), in input order (the one batching loop of the torch kinds).

    Texts are tokenised without padding (at most ``max_length`` tokens) and sorted by length so
    each batch pads only to its own longest text; ``module`` is put in eval mode (and left so) and
    run under ``torch.inference_mode`` on its own device. ``autocast``: bfloat16 on a GPU.
    ``on_batch(done, n)`` after each batch.
    """
    import torch

    n = len(texts)
    if n == 0:
        return np.zeros((0, width), dtype=np.float32)
    ids = tokenizer(texts, truncation=True, max_length=max_length, padding=False)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((n, width), dtype=np.float32)
    device = device_of(module)
    pad_id = tokenizer.pad_token_id or 0
    module.eval()
    # On a GPU, half precision roughly doubles throughput; on a CPU it would be slower.
    cast = torch.autocast("cuda", dtype=torch.bfloat16) if autocast and device.type == "cuda" else contextlib.nullcontext()
    with torch.inference_mode(), cast:
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            input_ids, attention = pad_batch([ids[i] for i in rows], pad_id)
            out[rows] = forward(input_ids.to(device), attention.to(device)).float().cpu().numpy()
            if on_batch:
                on_batch(min(start + batch_size, n), n)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, k) scores."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
