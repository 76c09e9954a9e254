"""The zero-shot model (kind "zeroshot"): a frozen sentence encoder plus a linear head built from
category names, never from labelled rows.

Built by core.zeroshot. The head is either the label embeddings themselves (cosine similarity
divided by a temperature, then softmax) or a logistic regression fitted on the rows of the
user's own unlabelled file that the label embeddings were surest of ("self-training"); both are
linear in the L2-normalised text embedding, so one ``head.safetensors`` (``coef``, ``intercept``)
holds either. The saved folder is a few-shot folder's layout (the base encoder as
``save_pretrained`` writes it, the head, the common files of core.models.folder) with kind
"zeroshot"; ``label_embeddings.safetensors`` keeps the label prototypes the head started from.
Nothing is pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .fewshot import HEAD_FILE, FewShotClassifier
from .folder import (
    NETWORK_WEIGHTS,
    manifest_of,
    save_model_folder,
)

KIND = "zeroshot"
PROTOTYPES_FILE = "label_embeddings.safetensors"
# Said wherever the model is described (card, Models page, Train page): its numbers are no
# held-out score, because there were no labels to hold out.
NEVER_TRAINED = (
    "This zero-shot model was never trained on labelled rows: it was built from the category names"
    " (and descriptions) alone, so it has no test score. Check a sample of its predictions, or label"
    " a few dozen rows and train a model to measure it."
)

# Said once where its scores are read (Predict, Ad Copy Lab: core.models.zeroshot.unchecked_scores_note).
SCORES_UNCHECKED = (
    "Zero-shot model: its scores come from how similar a text is to the category names (and their"
    " descriptions), and they were never checked against labelled rows, so how far to trust them is unknown."
)

# Said above the Dashboard's numbers when a zero-shot model scored the file (issue 30): measured
# on GoEmotions 3-class, it predicted 35/36/30% where the truth was 21/35/44%, and net sentiment
# read -5.0 where it was +23.4.
SHARES_ROUGH = (
    "These predictions come from a zero-shot model, which was never trained on labelled rows: its"
    " category shares (and the net sentiment built from them) are rough and tend to be too even across"
    " the categories. Check a sample of the rows, or label a few dozen rows on the Label page, before"
    " trusting the shares."
)


def shares_note(kind: str) -> str | None:
    """:data:`SHARES_ROUGH` for a zero-shot model's ``kind`` (a saved model's manifest kind), None
    for every other kind. Called by the Dashboard, above the shares it shows."""
    return SHARES_ROUGH if kind == KIND else None


def unchecked_scores_note(model: Any) -> str | None:
    """:data:`SCORES_UNCHECKED` for a zero-shot model, None for every other kind (all trained on
    labelled rows). Called by the pages that show a model's scores (Predict, Ad Copy Lab)."""
    return SCORES_UNCHECKED if isinstance(model, ZeroShotClassifier) else None


class ZeroShotClassifier(FewShotClassifier):
    """A frozen sentence encoder (mean pooling, L2-normalised) and a linear head from label names.

    ``predict_proba(texts)``: (n, len(classes_)) probabilities, columns in ``classes_`` order.
    ``text_prefix`` is put before every text before encoding (``"query: "`` for E5 encoders,
    which were trained with it; ``""`` otherwise; ``FewShotClassifier.embed`` applies it). ``prototypes``: (len(classes_), d) the
    L2-normalised label embeddings. ``zero_shot``: how the head was built (templates,
    descriptions, temperature, self-training counts), written to marketune.json.
    """

    def __init__(
        self,
        body: Any,
        tokenizer: Any,
        *,
        prototypes: np.ndarray,
        text_prefix: str = "",
        zero_shot: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(body, tokenizer, **kwargs)
        self.prototypes = np.asarray(prototypes, dtype=np.float32)
        self.text_prefix = text_prefix
        self.zero_shot = zero_shot or {}

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the folder atomically (temporary folder, then rename); JSON and safetensors only."""
        self.path = save_model_folder(
            folder, self, model_card(self), overwrite=overwrite, write=self.save_network,
            own_files={HEAD_FILE: {"coef": self.coef_, "intercept": self.intercept_},
                       PROTOTYPES_FILE: {"prototypes": self.prototypes}},
        )
        return self.path

    def manifest(self) -> dict[str, Any]:
        return manifest_of(
            self,
            KIND,
            max_length=self.max_length,
            pooling="mean, L2-normalised",
            text_prefix=self.text_prefix,
            trained_on_labels=False,
            zero_shot=self.zero_shot,
            head="linear head from label names (head.safetensors: coef, intercept)",
        )

    kind = KIND
    weight_files = (NETWORK_WEIGHTS, HEAD_FILE, PROTOTYPES_FILE)

    @classmethod
    def own_arguments(cls, folder: Path, found: dict[str, Any]) -> dict[str, Any]:
        """The label prototypes, the text prefix and how the head was built (``FewShotClassifier.load``)."""
        from safetensors.numpy import load_file

        return {"prototypes": load_file(str(folder / PROTOTYPES_FILE))["prototypes"],
                "text_prefix": str(found.get("text_prefix", "")), "zero_shot": found.get("zero_shot", {})}


def model_card(clf: ZeroShotClassifier) -> str:
    """The folder's README: what it predicts, how it was built, and that it has no test score."""
    zs = clf.zero_shot
    descriptions = zs.get("descriptions") or {}
    self_training = zs.get("self_training") or {}
    lines = [
        "# Marketune zero-shot model",
        "",
        f"**{NEVER_TRAINED}**",
        "",
        f"- Task: classification ({len(clf.classes_)} classes: {', '.join(map(str, clf.classes_))})",
        f"- Base model: {clf.base_model} (frozen: its weights were not changed)",
        f"- Method: {zs.get('method', 'label-name similarity')}",
        f"- Label templates: {'; '.join(zs.get('templates', []))}",
        *([f"- Description of '{k}': {v}" for k, v in descriptions.items()]),
        f"- Temperature: {zs.get('temperature', '?')} (cosine similarity / temperature, then softmax)",
        f"- Input: text columns {clf.schema.get('text_columns', [])}",
    ]
    if self_training:
        lines.append(f"- Self-training: {self_training.get('sentence', '')}")
    lines += ["", *[f"- {w}" for w in clf.metrics.get("warnings", [])], ""]
    lines += ["Load with Marketune (`core.load_folder(folder)`).", ""]
    return "\n".join(lines)
