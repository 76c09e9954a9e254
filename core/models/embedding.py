"""The frozen-encoder embedding model (kind "embedding"): a base model's sentence embeddings,
unchanged, plus a linear model on them (logistic regression, or ridge for regression).

Trained by core.embedding.fit_embedding. The encoder is never tuned, so the folder does not copy
it: it names the base model (the catalog name, e.g. "multilingual-e5-small", or the resolved
folder of a local model) and loads it through core.base_models.resolve_base_model, as training
did. To be sure the encoder found at load time is the one the linear model was fitted on, the
folder keeps the embeddings of a few fixed probe sentences; loading embeds them again and refuses
a model whose encoder now embeds them differently (rebuilt, replaced or another folder).

Folder layout::

    embedding.json         # encoder reference, pooling, normalisation, input prefix, max length; estimator settings
    embedding.safetensors  # coef (k, d), intercept (k,), probe (len(PROBE_TEXTS), d)

plus the common files of core.models.folder (kind "embedding"). Nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .fewshot import encode
from .folder import (
    PREDICT_BATCH_SIZE,
    TorchModel,
    default_device,
    keep_common,
    manifest_of,
    metrics_table,
    read_model_files,
    read_own_files,
    save_model_folder,
)
from .tags import LinearHead, card_lines

KIND = "embedding"
EMBEDDING_JSON = "embedding.json"
EMBEDDING_ARRAYS = "embedding.safetensors"
POOLING = "mean"  # mean of the token states over real tokens (both catalog encoders were trained so)
NORMALIZATION = "l2"
# Embedded at save and again at load: the same encoder gives the same vectors (to float noise
# across CPUs/threads, ~1e-6); another one differs by far more than PROBE_TOLERANCE.
PROBE_TEXTS = (
    "The delivery was fast and the dress fits perfectly.",
    "质量很好，服务也很满意，下次还会再来。",
    "Terrible support, I want a refund.",
)
PROBE_TOLERANCE = 1e-3  # max absolute difference per coordinate of the L2-normalised probe embeddings
# One training run embeds the same texts several times with the same frozen encoder: the embedding
# candidate's training rows, its validation and test scoring, its refit on train + validation and
# the OOD reference (core.result.ood_reference). Inside embedding_cache() each text is encoded once.
_RUN_CACHE: ContextVar[dict[tuple, dict[str, np.ndarray]] | None] = ContextVar("embedding_cache", default=None)
MAX_CACHED_TEXTS = 100_000  # per run: ~150 MB of float32 at d=384; texts beyond it are embedded, not kept


@contextmanager
def embedding_cache() -> Iterator[None]:
    """A scope (one training run: core.pipeline.train is decorated with it) inside which
    :func:`cached_embeddings` encodes each text once per encoder; nothing outlives it."""
    token = _RUN_CACHE.set({})
    try:
        yield
    finally:
        _RUN_CACHE.reset(token)


def cached_embeddings(key: tuple, texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """``embed(texts)`` (n, d): inside :func:`embedding_cache`, only the texts not yet embedded under
    ``key`` (what fixes a text's vector: the encoder reference, input prefix, max length) are
    passed to ``embed``, once each; outside it, ``embed(texts)`` itself. The rows returned are copies."""
    cache = _RUN_CACHE.get()
    if cache is None or not texts:
        return embed(texts)
    store = cache.setdefault(key, {})
    missing = list(dict.fromkeys(t for t in texts if t not in store))
    if missing:
        fresh = dict(zip(missing, embed(missing)))
        if sum(len(kept) for kept in cache.values()) + len(missing) > MAX_CACHED_TEXTS:
            return np.stack([store[t] if t in store else fresh[t] for t in texts])
        store.update(fresh)
    return np.stack([store[t] for t in texts])


def load_encoder(reference: str, device: str | None = None) -> tuple[Any, Any, Any]:
    """``(encoder, tokenizer, BaseModel)`` for a base-model reference (catalog name, folder or hub
    id), resolved by core.base_models.resolve_base_model; local folders are read from safetensors
    only. The encoder is in eval mode on ``device`` (default: core.models.folder.default_device).
    Raises ``ValueError`` when the reference resolves to nothing installed."""
    from transformers import AutoModel, AutoTokenizer

    from ..base_models import resolve_base_model

    base = resolve_base_model(reference)
    tokenizer = AutoTokenizer.from_pretrained(base.location)
    body = AutoModel.from_pretrained(base.location, use_safetensors=True if base.is_local else None)
    body.to(device or default_device())
    body.eval()
    return body, tokenizer, base


def encoder_reference(base: Any) -> str:
    """What the folder stores to find the encoder again: the catalog name (each home folder
    resolves it to its own copy), the resolved absolute folder of a local model, or the hub id."""
    from ..base_models import CATALOG

    return base.name if base.name in CATALOG else base.location


class EmbeddingClassifier(LinearHead, TorchModel):
    """Frozen sentence embeddings (mean pooling, L2-normalised) + logistic regression or ridge.

    Implements :class:`core.models.FastModel`. ``coef_`` (k, d) and ``intercept_`` (k,) give the
    linear scores ``embeddings @ coef_.T + intercept_``: classification has one row per class in
    ``classes_`` order (probabilities are their softmax; a binary model stores rows (0, w) so the
    softmax equals scikit-learn's sigmoid), regression one row (the predicted value). ``encoder``
    holds ``base_model`` (reference), ``pooling``, ``normalization``, ``prefix`` and ``max_length``.
    Several tags per row (``estimator["multi_label"]``): one row per tag, a sigmoid each and a
    threshold per tag (core.models.tags).
    """

    def __init__(
        self,
        body: Any,
        tokenizer: Any,
        *,
        task: str,
        classes: Sequence[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        schema: dict[str, Any],
        encoder: dict[str, Any],
        estimator: dict[str, Any] | None = None,
        probe: np.ndarray | None = None,
        training_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        path: Path | None = None,
    ) -> None:
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        dim = int(body.config.hidden_size)
        rows = len(classes) if task == "classification" else 1
        if coef.shape != (rows, dim) or intercept.shape != (rows,):
            raise ValueError(f"the embedding model's coefficients have shape {coef.shape} and {intercept.shape}; "
                             f"expected ({rows}, {dim}) and ({rows},) for {task} on a {dim}-dimensional encoder")
        self.model, self.tokenizer = body, tokenizer
        self.task = task
        self.classes_ = np.array(list(classes), dtype=object)
        self.coef_, self.intercept_ = coef, intercept
        keep_common(self, schema, training_config, metrics, test_predictions, path)
        self.encoder = {"pooling": POOLING, "normalization": NORMALIZATION, "prefix": "", "max_length": 128, **encoder}
        self.estimator = estimator or {}
        self.probe = probe
        self.base_model = str(self.encoder["base_model"])
        self.quantized: str | bool = False

    @property
    def multi_label(self) -> bool:
        return bool(self.estimator.get("multi_label"))

    # ------------------------------------------------------------------ prediction

    def embed(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Sentence embeddings (n, d) float32, input order: the encoder's mean-pooled,
        L2-normalised token states of ``prefix + text`` (at most ``max_length`` tokens); inside a
        training run each text is encoded once (:func:`embedding_cache`; ``on_batch`` counts those)."""
        length, prefix = int(self.encoder["max_length"]), self.encoder["prefix"]
        key = (self.base_model, prefix, length, *((str(self.quantized),) if self.quantized else ()))
        return cached_embeddings(key, self.texts_from(data), lambda texts: encode(
            self.model, self.tokenizer, texts, length, batch_size, on_batch, text_prefix=prefix))

    def decision_function(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Linear scores (n, k) in float64."""
        return self.embed(data, batch_size, on_batch).astype(np.float64) @ self.coef_.T + self.intercept_

    # ------------------------------------------------------------------ persistence

    def manifest(self) -> dict[str, Any]:
        return manifest_of(
            self,
            KIND,
            encoder=self.encoder,
            head=("logistic regression" if self.task == "classification" else "ridge regression")
            + f" on frozen embeddings ({EMBEDDING_ARRAYS}: coef, intercept)",
        )

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the folder atomically (temporary folder, then rename). The encoder is referenced,
        not copied; the probe embeddings are computed here unless already known."""
        if self.quantized:
            raise ValueError("A quantized model cannot be saved; save the full-precision model.")
        if self.probe is None:
            self.probe = self.embed(list(PROBE_TEXTS))
        arrays = {"coef": self.coef_, "intercept": self.intercept_, "probe": np.asarray(self.probe, dtype=np.float32)}
        self.path = save_model_folder(
            folder, self, model_card(self), overwrite=overwrite, write=self.write_tags,
            own_files={EMBEDDING_JSON: {"encoder": self.encoder, "estimator": self.estimator}, EMBEDDING_ARRAYS: arrays},
        )
        return self.path

    @classmethod
    def load(cls, folder: str | Path, *, device: str | None = None) -> EmbeddingClassifier:
        """Load a saved folder (JSON and safetensors only) and its encoder.

        Raises ``ValueError`` when the folder's files are missing or damaged, when its base model
        is not installed here, or when that base model no longer embeds the probe sentences as it
        did at training (another or a rebuilt encoder: the linear model would read other vectors).
        """
        folder = Path(folder)
        found, common = read_model_files(folder, (KIND,))
        meta, arrays = read_own_files(folder, EMBEDDING_JSON, EMBEDDING_ARRAYS, "the embedding model")
        try:
            encoder, coef, intercept, probe = meta["encoder"], arrays["coef"], arrays["intercept"], arrays["probe"]
            reference = str(encoder["base_model"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{folder}: the embedding model's files are damaged ({exc})") from exc
        body, tokenizer, _ = load_encoder(reference, device)
        model = cls(body, tokenizer, task=found["task"], classes=found["classes"], coef=coef, intercept=intercept,
                    encoder=encoder, estimator=meta.get("estimator", {}), probe=probe, **common)
        check_probe(model, probe, folder)
        model.read_tags(folder)
        return model


def check_probe(model: EmbeddingClassifier, probe: np.ndarray, folder: Path) -> None:
    """``ValueError`` unless ``model``'s encoder embeds PROBE_TEXTS as ``probe`` (saved) says."""
    now = model.embed(list(PROBE_TEXTS))
    if probe.shape != now.shape or float(np.max(np.abs(now - probe))) > PROBE_TOLERANCE:
        raise ValueError(
            f"{folder}: base model '{model.base_model}' no longer gives the embeddings this model was fitted on "
            "(it was rebuilt, replaced or is another model), so its predictions would be wrong. Train it again "
            "with the base model as it is now."
        )


def model_card(model: EmbeddingClassifier) -> str:
    """README.md for the folder: what the model is, which encoder it reads, its held-out numbers."""
    classification = model.task == "classification"
    keys = ["accuracy", "macro_f1", "weighted_f1", "roc_auc"] if classification else ["r2", "mae", "rmse"]
    enc = model.encoder
    lines = [
        "# Marketune model: frozen-encoder embeddings + " + ("logistic regression" if classification else "ridge regression"),
        "",
        f"- Task: {model.task}" + (f" ({len(model.classes_)} classes: {', '.join(map(str, model.classes_))})"
                                   if classification else ""),
        f"- Base model (frozen, not copied here): {model.base_model}",
        f"- Embeddings: {enc['pooling']} pooling, {enc['normalization']}-normalised, input prefix {enc['prefix']!r}, "
        f"at most {enc['max_length']} tokens",
        f"- Estimator: {model.estimator}",
        f"- Input columns: {', '.join(model.input_columns)}",
        "",
        "## Metrics",
        "",
        *metrics_table(model.metrics, keys),
    ]
    verdict = model.metrics.get("verdict") or {}
    if verdict.get("sentence"):
        lines += ["", verdict["sentence"]]
    lines += card_lines(model)
    lines += ["", "Files: JSON + safetensors only (no pickle). Load with `core.load_folder(folder)`; the base model",
              "must be installed (it is checked against the probe embeddings in embedding.safetensors).", ""]
    return "\n".join(lines)
