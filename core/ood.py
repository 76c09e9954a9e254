"""The out-of-distribution reference every text model folder keeps, and the flag it gives.

"Like the training data" is measured in the frozen sentence encoder of the model's base model:
a row is flagged when its mean cosine distance to its ``OUTLIER_K`` nearest reference rows is
above the reference's own 99th percentile (:class:`OodReference`). Training builds the
reference from its rows (core.result); an older folder builds it from its held-out test
predictions when first asked (:func:`model_ood_reference`). Prediction (core.predict,
core.ray_predict), the Predict page, Ad Copy Lab and the data-health check (core.check, for
its nearest-neighbour distances and its embedder) use it from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig
from .files import atomic_write
from .models.folder import OOD_REFERENCE, SCHEMA, TEST_PREDICTIONS, TRAINING_CONFIG

# k = 10 nearest rows, the default of cleanlab's Datalab outlier issue (core.check uses it too).
OUTLIER_K = 10
SMALL_GROUP_ROWS = 256  # rows per block when comparing every row with every other
OOD_COLUMN = "out_of_distribution"  # the flag's output column (core.predict)


def nearest_distances(queries: np.ndarray, reference: np.ndarray, k: int = OUTLIER_K, *, same: bool = False) -> np.ndarray:
    """Mean cosine distance (1 - cosine, 0-2) from each L2-normalised query row to its ``k``
    nearest reference rows, shape (n_queries,); with ``same`` a row is not its own neighbour."""
    out = np.zeros(len(queries))
    k = min(k, len(reference) - (1 if same else 0))
    ref = np.asarray(reference, dtype=np.float32)
    for lo in range(0, len(queries), SMALL_GROUP_ROWS):
        dist = 1.0 - np.asarray(queries[lo : lo + SMALL_GROUP_ROWS], dtype=np.float32) @ ref.T
        if same:
            dist[np.arange(dist.shape[0]), np.arange(lo, lo + dist.shape[0])] = np.inf
        out[lo : lo + dist.shape[0]] = np.sort(np.partition(dist, k - 1, axis=1)[:, :k], axis=1).mean(axis=1)
    return out


# --------------------------------------------------------------------------- embeddings


def base_model_embedder(config: TrainConfig) -> Callable[[list[str]], np.ndarray]:
    """texts -> (n, d) mean-pooled L2-normalised embeddings of ``config.base_model``, loaded
    with core's own loading (core.models.embedding.load_encoder + fewshot.encode, as the
    embedding model reads it). Raises ValueError/OSError when the base model is not installed."""
    from .base_models import input_prefix
    from .cpu import cpu_threads
    from .models.embedding import cached_embeddings, encoder_reference, load_encoder
    from .models.fewshot import encode

    body, tokenizer, base = load_encoder(config.base_model, device="cpu")
    prefix = input_prefix(base)  # "query: " for E5, as the embedding model reads it (core/embedding.py)
    length = min(config.max_length, 128)

    def encoded(texts: list[str]) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(cpu_threads())
        try:
            return encode(body, tokenizer, texts, max_length=length, batch_size=64, text_prefix=prefix)
        finally:
            torch.set_num_threads(before)

    # Inside a training run, the texts the embedding candidate already embedded are not encoded again.
    return lambda texts: cached_embeddings((encoder_reference(base), prefix, length), texts, encoded)


# --------------------------------------------------------------------------- out of distribution

# Reference rows kept (a random sample beyond this): 3 MB of float32 at d=384. The texts are
# sampled *before* embedding, so training pays for at most this many: embedding 1,000 UCI
# sentences with minilm-en took 23 s on the shared 2-core machine (load ~6) and 124 s with tests
# running beside it (bench/bench_ood.py), small next to fine-tuning the same model; 2,000 keeps
# that under a few minutes while the 99th-percentile threshold still rests on 20 rows beyond it.
OOD_REFERENCE_ROWS = 2000
OOD_FILE = OOD_REFERENCE  # the file in a model folder (core.models.folder names it)
OOD_FALLBACK_ENCODER = "minilm-en"  # for models whose base is no encoder (TF-IDF saved alone)
# The flag's threshold: this quantile of the reference rows' own mean 10-NN cosine distance (each
# to the others). Datalab's outlier cut (Q3 + 1.7 IQR) was measured first and is far too loose
# here: on 1,000 UCI sentences with minilm-en it lies at 0.82, beyond the largest distance of any
# reference row (0.80), and flagged 0% of clothing reviews and 41% of Chinese reviews. The 99th
# percentile (0.72) flags 1.7% of held-out UCI sentences (about the 1% it promises), 38% of
# clothing reviews and 99% of Chinese ones (bench/bench_ood.py).
OOD_QUANTILE = 0.99


@dataclass(frozen=True)
class OodReference:
    """What "like the training data" means for the out-of-distribution flag.

    ``embeddings``: (m, d) L2-normalised sentence embeddings of reference texts from the training
    data's distribution; ``threshold``: a new row whose mean cosine distance to its ``k`` nearest
    reference rows is above it is flagged. The threshold is the reference's own spread: the
    OOD_QUANTILE (99th percentile) of each reference row's mean distance to its k nearest *other*
    reference rows, so about 1% of new rows from the training distribution are flagged.
    ``encoder``: the base model (catalog name or folder) whose frozen mean-pooled encoder made
    the embeddings; rows to flag must be embedded by the same one (:meth:`flag_texts` does).
    ``embed``: an optional texts -> (n, d) function used instead of loading ``encoder`` (tests).
    """

    embeddings: np.ndarray
    threshold: float
    k: int = OUTLIER_K
    encoder: str = OOD_FALLBACK_ENCODER
    embed: Callable[[list[str]], np.ndarray] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def fit(cls, embeddings: np.ndarray, *, seed: int = 42, k: int = OUTLIER_K, encoder: str = OOD_FALLBACK_ENCODER,
            embed: Callable[[list[str]], np.ndarray] | None = None) -> OodReference:
        """From (n, d) L2-normalised embeddings of the reference texts (n > k + 1; at most
        OOD_REFERENCE_ROWS are kept, a random sample). Raises ValueError for too few rows."""
        x = np.asarray(embeddings, dtype=np.float32)
        if len(x) <= k + 1:
            raise ValueError(f"The out-of-distribution reference needs more than {k + 1} texts; got {len(x)}.")
        if len(x) > OOD_REFERENCE_ROWS:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), OOD_REFERENCE_ROWS, replace=False))]
        threshold = float(np.quantile(nearest_distances(x, x, k, same=True), OOD_QUANTILE))
        return cls(x, threshold, k, encoder, embed)

    @classmethod
    def from_texts(cls, texts: list[str], encoder: str, *, seed: int = 42,
                   embed: Callable[[list[str]], np.ndarray] | None = None) -> OodReference:
        """Fit on the non-empty ``texts`` (model inputs as core.data.build_texts writes them),
        a random OOD_REFERENCE_ROWS of them when there are more, embedded by ``embed`` or by the
        frozen encoder of base model ``encoder``. Raises ValueError for too few texts, OSError /
        ValueError when the encoder cannot be loaded."""
        texts = [t for t in texts if str(t).strip()]
        if len(texts) > OOD_REFERENCE_ROWS:  # sample before embedding: the expensive step
            keep = np.sort(np.random.default_rng(seed).choice(len(texts), OOD_REFERENCE_ROWS, replace=False))
            texts = [texts[i] for i in keep]
        if len(texts) <= OUTLIER_K + 1:
            raise ValueError(f"The out-of-distribution reference needs more than {OUTLIER_K + 1} texts; got {len(texts)}.")
        embedder = embed or encoder_embedder(encoder)
        return cls.fit(embedder(texts), seed=seed, encoder=encoder, embed=embed)

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        """Mean cosine distance (0-2) of each row of (n, d) ``embeddings`` to its k nearest reference rows."""
        return nearest_distances(np.asarray(embeddings, dtype=np.float32), self.embeddings, self.k)

    def flags(self, embeddings: np.ndarray) -> np.ndarray:
        """(n,) bool: True for rows unlike the reference (distance above the threshold)."""
        return self.distances(embeddings) > self.threshold

    def flag_texts(self, texts: list[str]) -> np.ndarray:
        """(n,) bool for model-input ``texts``, embedded by the reference's own encoder."""
        if not len(texts):
            return np.zeros(0, dtype=bool)
        return self.flags((self.embed or encoder_embedder(self.encoder))(list(texts)))

    def save(self, folder: str | Path) -> Path:
        """Write OOD_FILE (safetensors: the embeddings; metadata: threshold, k, encoder) into ``folder``,
        atomically: it lands in a saved (listed) model folder, where half a file must never be read."""
        from safetensors.numpy import save

        path = Path(folder) / OOD_FILE
        atomic_write(path, save({"embeddings": np.ascontiguousarray(self.embeddings)},
                                metadata={"threshold": repr(self.threshold), "k": str(self.k), "encoder": self.encoder}))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> OodReference | None:
        """The reference saved in ``folder``, or None when there is none."""
        from safetensors import safe_open

        path = Path(folder) / OOD_FILE
        if not path.is_file():
            return None
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            return cls(fh.get_tensor("embeddings"), float(meta["threshold"]), int(meta.get("k", OUTLIER_K)),
                       meta.get("encoder") or _folder_encoder(folder))


def model_ood_reference(folder: str | Path, embedder: Callable[[list[str]], np.ndarray] | None = None) -> OodReference | None:
    """The out-of-distribution reference of a saved model folder, built once and kept there.

    Training writes it (:func:`core.pipeline.train`, from the training rows). For older folders
    it is built here from the folder's ``test_predictions.csv`` texts: held-out rows of the
    training data, so its spread is the training data's own. ``embedder`` (texts ->
    L2-normalised (n, d)) defaults to the frozen encoder of the model's base model (from
    training_config.json; minilm-en when that is no encoder); the same one embeds the rows to
    flag. Returns None when the model reads no text or the folder has no usable test predictions.
    """
    folder = Path(folder)
    saved = OodReference.load(folder)
    if saved is not None:
        return saved if embedder is None else replace(saved, embed=embedder)
    if not _reads_text(folder):
        return None
    path = folder / TEST_PREDICTIONS
    if not path.is_file():
        return None
    texts = pd.read_csv(path, keep_default_na=False, dtype=str).get("text", pd.Series(dtype=str)).tolist()
    try:
        reference = OodReference.from_texts(texts, _folder_encoder(folder), embed=embedder)
    except ValueError:  # too few texts
        return None
    try:
        reference.save(folder)
    except OSError:  # a read-only model folder: use it without keeping it
        pass
    return reference


def ood_available(folder: str | Path) -> bool:
    """Whether :func:`model_ood_reference` can give a reference for this folder (saved, or
    buildable from its test predictions) without building it."""
    folder = Path(folder)
    return (folder / OOD_FILE).is_file() or (_reads_text(folder) and (folder / TEST_PREDICTIONS).is_file())


def ood_message(n_flagged: int, n_rows: int) -> str:
    """The sentence the Predict page and the CLI show: "12% of rows (120 of 1,000) look unlike ..."."""
    share = n_flagged / n_rows if n_rows else 0.0
    # A nonzero count never reads "0%" (1 of 200 is "under 1%"), nor a partial one "100%".
    said = f"{share:.0%}"
    if n_flagged and said == "0%":
        said = "under 1%"
    elif n_flagged < n_rows and said == "100%":
        said = "over 99%"
    return (f"{said} of rows ({n_flagged:,} of {n_rows:,}) look unlike the training data: their sentence "
            f"embeddings are farther from the training texts than 99% of the training texts are from each other "
            f"(column `{OOD_COLUMN}`). The model's predictions for them are less trustworthy.")


def _reads_text(folder: Path) -> bool:

    schema = folder / SCHEMA
    if not schema.is_file():
        return True  # an old folder without a schema: a text model
    return bool(json.loads(schema.read_text(encoding="utf-8")).get("text_columns"))


def _folder_encoder(folder: str | Path) -> str:
    """The base model of a saved model (training_config.json), or the fallback encoder."""

    config_path = Path(folder) / TRAINING_CONFIG
    base = ""
    if config_path.is_file():
        base = json.loads(config_path.read_text(encoding="utf-8")).get("base_model", "") or ""
    return ood_encoder(base)


def ood_encoder(base_model: str) -> str:
    """The encoder for a base model name: itself, unless it is no transformer (TF-IDF)."""
    return base_model if base_model and not base_model.startswith("tfidf") else OOD_FALLBACK_ENCODER


_ENCODERS: dict[str, Callable[[list[str]], np.ndarray]] = {}


def encoder_embedder(encoder: str) -> Callable[[list[str]], np.ndarray]:
    """The frozen mean-pooled encoder of base model ``encoder`` (loaded once per process)."""
    if encoder not in _ENCODERS:
        _ENCODERS.clear()  # one encoder kept: a page switching models does not pile them up
        _ENCODERS[encoder] = base_model_embedder(TrainConfig(base_model=encoder))
    return _ENCODERS[encoder]
