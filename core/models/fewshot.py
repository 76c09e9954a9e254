"""The few-shot model (kind "fewshot"): a sentence encoder plus a logistic-regression head.

Trained by core.fewshot (SetFit-style contrastive fine-tuning of the encoder, then the head).
The saved folder holds the fine-tuned encoder (``save_pretrained``: config.json,
model.safetensors, tokenizer files), the head as ``head.safetensors`` (float64 ``coef`` and
``intercept``) and the common files of core.models.folder. Nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .folder import (
    NETWORK_WEIGHTS,
    PREDICT_BATCH_SIZE,
    TorchModel,
    keep_common,
    manifest_of,
    metrics_table,
    read_model_files,
    save_model_folder,
    sorted_batches,
)
from .tags import TagOutputs, card_lines, sigmoid

KIND = "fewshot"
HEAD_FILE = "head.safetensors"


class FewShotClassifier(TagOutputs, TorchModel):
    """A sentence encoder (mean pooling, L2-normalised) plus a logistic-regression head.

    Implements :class:`core.models.FastModel`: ``task`` is always "classification";
    ``predict_proba`` columns follow ``classes_``; ``model`` is the encoder. ``multi_label``:
    several tags per row, a one-vs-rest head (one row of ``coef`` per tag, a sigmoid each) and a
    threshold per tag (core.models.tags; marketune.json says ``"multi_label": true``).
    """

    task = "classification"
    # Put before every text when embedding: "" here (a few-shot encoder is fine-tuned without one);
    # the zero-shot kind sets "query: " for E5 encoders, which were trained with it.
    text_prefix = ""

    def __init__(
        self,
        body: Any,
        tokenizer: Any,
        *,
        classes: Sequence[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        schema: dict[str, Any],
        max_length: int = 128,
        training_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        base_model: str = "",
        path: Path | None = None,
        multi_label: bool = False,
    ) -> None:
        self.multi_label = multi_label
        self.model = body
        self.tokenizer = tokenizer
        self.classes_ = np.array(list(classes), dtype=object)
        # coef: (1, d) for two classes (the positive class is classes_[1]), else (n_classes, d).
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        keep_common(self, schema, training_config, metrics, test_predictions, path)
        self.max_length = max_length
        self.base_model = base_model
        self.quantized: str | bool = False  # False, or the fast form in use: "int8" or "bf16"

    @property
    def body(self) -> Any:
        """The encoder (SetFit's name for it); the same object as ``model``."""
        return self.model

    def embed(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """L2-normalised sentence embeddings of ``text_prefix + text``, shape (n, hidden size), float32, input order."""
        return encode(self.body, self.tokenizer, self.texts_from(data), self.max_length, batch_size, on_batch,
                      text_prefix=self.text_prefix)

    def predict_proba(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = PREDICT_BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), rows summing to 1; multi-label: one
        independent probability per tag (a sigmoid of each tag's score)."""
        embeddings = self.embed(data, batch_size, on_batch)
        if self.multi_label:
            return sigmoid(np.asarray(embeddings, dtype=np.float64) @ self.coef_.T + self.intercept_)
        return head_proba(embeddings, self.coef_, self.intercept_)

    # ------------------------------------------------------------------ persistence

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the self-describing folder atomically (temporary folder, then rename)."""
        def write(tmp: Path) -> None:
            self.save_network(tmp)
            self.write_tags(tmp)

        self.path = save_model_folder(folder, self, model_card(self), overwrite=overwrite, write=write,
                                      own_files={HEAD_FILE: {"coef": self.coef_, "intercept": self.intercept_}})
        return self.path

    def manifest(self) -> dict[str, Any]:
        return manifest_of(
            self,
            KIND,
            max_length=self.max_length,
            pooling="mean, L2-normalised",
            head=("one-vs-rest " if self.multi_label else "") + "logistic regression (head.safetensors: coef, intercept)",
            **({"multi_label": True} if self.multi_label else {}),
        )

    # The kind in marketune.json and the files load() needs besides the common ones (the zero-shot
    # kind, built on this one, names its own).
    kind = KIND
    weight_files: tuple[str, ...] = (NETWORK_WEIGHTS, HEAD_FILE)

    @classmethod
    def load(cls, folder: str | Path, *, device: str | None = None) -> FewShotClassifier:
        """Load a saved folder. Only JSON and safetensors are read; ``ValueError`` when a file is missing."""
        from safetensors.numpy import load_file
        from transformers import AutoModel

        folder = Path(folder)
        found, common = read_model_files(folder, (cls.kind,))
        body, tokenizer = cls.load_network(folder, AutoModel, cls.weight_files, device)
        head = load_file(str(folder / HEAD_FILE))
        model = cls(
            body,
            tokenizer,
            classes=found["classes"],
            coef=head["coef"],
            intercept=head["intercept"],
            max_length=int(found.get("max_length", 128)),
            base_model=found.get("base_model", ""),
            **common,
            **cls.own_arguments(folder, found),
        )
        model.read_tags(folder)
        return model

    @classmethod
    def own_arguments(cls, folder: Path, found: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments this kind alone reads from its folder (``found``: its manifest)."""
        return {"multi_label": bool(found.get("multi_label"))}


def head_proba(embeddings: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Logistic-regression probabilities (n, n_classes) from embeddings (n, d), in float64.

    Two classes: sigmoid of the one decision value (scikit-learn's binary model); more:
    softmax over the per-class scores (its multinomial model).
    """
    scores = np.asarray(embeddings, dtype=np.float64) @ coef.T + intercept
    if coef.shape[0] == 1:
        p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.column_stack([1.0 - p1, p1])
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def encode(
    body: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    batch_size: int = PREDICT_BATCH_SIZE,
    on_batch: Callable[[int, int], None] | None = None,
    *,
    text_prefix: str = "",
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings (n, d) float32 of ``text_prefix + text`` under
    ``torch.inference_mode`` (the one encoding loop of the few-shot, zero-shot and embedding kinds).

    Texts are sorted by length so each batch pads only to its own longest text.
    """
    if text_prefix:
        texts = [text_prefix + t for t in texts]
    was_training = body.training  # contrastive training embeds between its steps: give its mode back
    out = sorted_batches(body, tokenizer, texts, max_length, int(body.config.hidden_size),
                         lambda ids, mask: mean_pooled(body, ids, mask), batch_size, on_batch)
    body.train(was_training)
    return out


def mean_pooled(body: Any, input_ids: Any, attention: Any) -> Any:
    """Mean of the token states over real (non-padding) tokens, then L2-normalised: (b, d)."""
    import torch

    hidden = body(input_ids=input_ids, attention_mask=attention).last_hidden_state
    mask = attention.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1)


def model_card(clf: FewShotClassifier) -> str:
    """A short README for the model folder: what it predicts, how it was trained, how well."""
    keys = ["accuracy", "macro_f1", "weighted_f1", "roc_auc"]
    lines = [
        "# Marketune few-shot model",
        "",
        f"- Task: classification ({len(clf.classes_)} classes: {', '.join(map(str, clf.classes_))})",
        f"- Base model: {clf.base_model}",
        "- Method: few-shot (SetFit-style): contrastive fine-tuning of the sentence encoder "
        "(mean pooling, L2-normalised), then a logistic-regression head (head.safetensors)",
        f"- Evaluation: {clf.metrics.get('evaluation', '?')}",
        f"- Input: profile columns {clf.schema.get('profile_columns', [])}, text columns {clf.schema.get('text_columns', [])}",
        "",
        "## Metrics",
        "",
        *metrics_table(clf.metrics, keys),
    ]
    lines += card_lines(clf)
    lines += ["", *[f"- {w}" for w in clf.metrics.get("warnings", [])], ""]
    lines += [
        "Load with Marketune (`core.load_folder(folder)`). The encoder alone loads with",
        '`transformers.AutoModel.from_pretrained(folder)` (mean-pool and normalise its output).',
        "",
    ]
    return "\n".join(lines)
