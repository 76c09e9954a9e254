"""The models wing: every kind of saved model, what they share, and the one loader.

Kinds (the ``kind`` in a folder's marketune.json) and their classes:

- "transformer": :class:`TextClassifier` (core.models.transformer), a fine-tuned transformer;
- "fewshot": :class:`FewShotClassifier` (core.models.fewshot), a sentence encoder + LR head;
- "embedding": :class:`EmbeddingClassifier` (core.models.embedding), a frozen base encoder's
  embeddings + logistic regression / ridge (the encoder referenced, not copied);
- "tfidf": :class:`TfidfClassifier` (core.models.tfidf), TF-IDF + logistic regression / ridge;
- "softvote": :class:`SoftVoteClassifier` (core.models.softvote), the mean of a TF-IDF, an
  embedding and (with the fine-tune) a fine-tuned model's class probabilities (scikit-learn's soft voting);
- "zeroshot": :class:`ZeroShotClassifier` (core.models.zeroshot), a frozen encoder + a head from
  category names (core.zeroshot), never trained on labels;
- "tabular" and "hybrid": :class:`ResponseModel` (core.models.response), gradient-boosted trees
  on profile columns (``TabularModel``, core.models.tabular), the hybrid with a text score.

Each implements :class:`SavedModel`; callers type against it instead of probing attributes.
The folder format they share is core.models.folder. Nothing here imports an analysis module
(targeting, response comparison, Ad Copy Lab, dashboard) or a trainer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from .embedding import EmbeddingClassifier
from .fewshot import FewShotClassifier
from .folder import MANIFEST
from .response import ResponseModel
from .softvote import SoftVoteClassifier
from .tfidf import TfidfClassifier
from .transformer import TextClassifier
from .zeroshot import ZeroShotClassifier

__all__ = ["KINDS", "EmbeddingClassifier", "FastModel", "FewShotClassifier", "ResponseModel", "SavedModel", "SoftVoteClassifier",
           "TextClassifier", "TfidfClassifier", "ZeroShotClassifier", "load_folder"]


@runtime_checkable
class SavedModel(Protocol):
    """What every saved model offers, whatever its kind (scikit-learn's conventions).

    ``task`` is "classification" or "regression"; ``classes_`` the class labels (the column
    order of ``predict_proba``; for regression, the label column's name). ``schema`` says which
    columns the model reads (``input_columns``: profile columns, then text columns) and how its
    input is built. ``fast_forms`` lists the faster CPU forms ("int8", "bf16") of a
    :class:`FastModel`; it is empty for the kinds that are fast already (TF-IDF, trees).
    """

    task: str
    classes_: np.ndarray
    schema: dict[str, Any]
    training_config: dict[str, Any]
    metrics: dict[str, Any]
    test_predictions: pd.DataFrame | None
    base_model: str
    path: Path | None
    fast_forms: tuple[str, ...]

    @property
    def input_columns(self) -> list[str]: ...

    def predict(
        self, data: pd.DataFrame | Sequence[str], batch_size: int = ..., on_batch: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Labels (n,) for classification, values (n,) for regression."""

    def predict_proba(
        self, data: pd.DataFrame | Sequence[str], batch_size: int = ..., on_batch: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Class probabilities (n, len(classes_)), rows summing to 1; ValueError for regression."""

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically; ValueError when it exists and not ``overwrite``."""

    @classmethod
    def load(cls, folder: str | Path, **kwargs: Any) -> SavedModel:
        """Read a folder of this kind (JSON and safetensors only)."""


@runtime_checkable
class FastModel(SavedModel, Protocol):
    """A saved model with faster CPU forms (non-empty ``fast_forms``): the two torch kinds."""

    quantized: str | bool  # False, or the fast form in use

    def quantize(self, method: str = "int8") -> FastModel:
        """Switch to the fast form ``method`` (one of ``fast_forms``) in place; it can no longer be saved."""


# The class that loads each kind.
KINDS: dict[str, type] = {
    "transformer": TextClassifier,
    "fewshot": FewShotClassifier,
    "embedding": EmbeddingClassifier,
    "tfidf": TfidfClassifier,
    "softvote": SoftVoteClassifier,
    "zeroshot": ZeroShotClassifier,
    "tabular": ResponseModel,
    "hybrid": ResponseModel,
}


def load_folder(folder: str | Path, **kwargs: Any) -> SavedModel:
    """Load a saved model folder of any kind (its marketune.json names the kind).

    ``kwargs`` go to the kind's ``load`` (``device`` for the torch kinds; the others ignore it).
    Raises ``ValueError`` for a folder without marketune.json, an unknown kind or damaged files.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{folder} is not a Marketune model folder (no marketune.json).")
    kind = json.loads(manifest_path.read_text(encoding="utf-8")).get("kind")
    if kind not in KINDS:
        raise ValueError(f"Model in {folder} is of kind {kind!r}, which this version cannot load.")
    return KINDS[kind].load(folder, **kwargs)
