"""The soft-vote model (kind "softvote"): the mean of two or three saved models' class probabilities.

scikit-learn's ``VotingClassifier(voting="soft")`` semantics: each member predicts class
probabilities (n, k) in the same ``classes_`` order; the vote is their weighted mean (equal weights
here) and the predicted class its argmax. The members are the leaderboard's TF-IDF + logistic
regression and frozen-encoder embeddings + logistic regression, and in the vote with the fine-tune
the fine-tuned transformer too (core.softvote builds both from the candidates): one reads
characters and words, one the base model's sentence meaning, one a network tuned on the rows, and
their errors differ (issue 28: on 2,000 Chinese reviews the mean scored above each alone).

Folder layout::

    softvote.json          # voting "soft", the members' kinds in order, their weights
    members/tfidf/         # a complete TF-IDF model folder (core.models.tfidf)
    members/embedding/     # a complete embedding model folder (core.models.embedding)
    members/transformer/   # the vote with the fine-tune: a complete fine-tuned transformer folder

plus the common files of core.models.folder (kind "softvote"). Nothing is pickled: every member is
JSON + safetensors, and only the member kinds in MEMBER_KINDS are ever read from ``members/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .embedding import EmbeddingClassifier
from .folder import (
    MANIFEST,
    TextInputs,
    keep_common,
    labels_of,
    manifest_of,
    metrics_table,
    read_json,
    read_model_files,
    save_model_folder,
)
from .tfidf import TfidfClassifier
from .transformer import TextClassifier

KIND = "softvote"
WITH_FINE_TUNE = "softvote_ft"  # the leaderboard's name of a soft vote with a fine-tuned member (core.softvote)
SOFTVOTE_JSON = "softvote.json"
MEMBERS = "members"
# The only kinds a soft vote's folder may hold, in the order they vote (a folder naming any other is refused).
MEMBER_KINDS: dict[str, type] = {"tfidf": TfidfClassifier, "embedding": EmbeddingClassifier, "transformer": TextClassifier}
# How the model card and pages name each member.
MEMBER_NAMES = {"tfidf": "TF-IDF + LR", "embedding": "embeddings + LR", "transformer": "the fine-tuned transformer"}


class SoftVoteClassifier(TextInputs):
    """The weighted mean of its members' ``predict_proba`` (scikit-learn's soft voting).

    Implements :class:`core.models.SavedModel` (classification, one class per row). ``members``:
    ``{kind: model}`` for the kinds of MEMBER_KINDS, each with the same ``classes_`` in the same
    order and the same input columns; ``weights``: one per member (default equal), normalised to
    sum to 1. ``base_model`` is the embedding member's encoder (the fine-tuned transformer's base
    model, where it is a member, is the same). The fast forms are those every network member has
    (int8/bf16 of the encoder and of the fine-tuned network; the TF-IDF member is fast already).
    Raises ``ValueError`` for another member kind, fewer than two members or classes that differ.
    """

    def __init__(
        self,
        members: dict[str, Any],
        *,
        weights: Sequence[float] | None = None,
        schema: dict[str, Any] | None = None,
        training_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        path: Path | None = None,
    ) -> None:
        unknown = [k for k in members if k not in MEMBER_KINDS]
        if unknown or len(members) < 2:
            raise ValueError(f"a soft vote needs members of the kinds {sorted(MEMBER_KINDS)}; got {sorted(members)}")
        first = next(iter(members.values()))
        for kind, member in members.items():
            if member.task != "classification" or getattr(member, "multi_label", False):
                raise ValueError(f"a soft vote is for one class per row; its {kind} member is not")
            if [str(c) for c in member.classes_] != [str(c) for c in first.classes_]:
                raise ValueError(f"the soft vote's members predict different classes: {list(first.classes_)} and "
                                 f"{list(member.classes_)} ({kind})")
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(members),) or not np.all(w >= 0) or w.sum() <= 0:
            raise ValueError(f"a soft vote needs one non-negative weight per member; got {list(np.ravel(w))}")
        self.members = dict(members)
        self.weights = w / w.sum()
        self.task = "classification"
        self.classes_ = np.array([str(c) for c in first.classes_], dtype=object)
        keep_common(self, schema if schema is not None else dict(first.schema), training_config, metrics,
                    test_predictions, path)
        network = self.members.get("embedding") or self.members.get("transformer")
        self.base_model = str(network.base_model) if network is not None else "tfidf-lr"

    multi_label = False  # one class per row (core.softvote leaves several tags per row out)

    # ------------------------------------------------------------------ fast forms (the encoder's)

    @property
    def _networks(self) -> list[Any]:
        return [m for kind, m in self.members.items() if kind != "tfidf"]

    @property
    def fast_forms(self) -> tuple[str, ...]:
        networks = self._networks
        if not networks:
            return ()
        return tuple(f for f in getattr(networks[0], "fast_forms", ()) if all(f in getattr(m, "fast_forms", ()) for m in networks))

    @property
    def quantized(self) -> str | bool:
        return next((m.quantized for m in self._networks if getattr(m, "quantized", False)), False)

    def quantize(self, method: str = "int8") -> SoftVoteClassifier:
        """Every network member (the encoder, the fine-tuned transformer) in the fast form ``method``,
        in place; it can no longer be saved."""
        for member in self._networks:
            member.quantize(method)
        return self

    # ------------------------------------------------------------------ prediction

    def predict_proba(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities (n, len(classes_)): the weighted mean of the members' ``predict_proba``
        of the same inputs, rows summing to 1. ``on_batch(done, n)`` counts the rows of the members
        in turn (the slow one, the encoder, last)."""
        texts = self.texts_from(data)
        n, parts = len(texts), len(self.members)
        total = np.zeros((n, len(self.classes_)))
        for i, (member, weight) in enumerate(zip(self.members.values(), self.weights)):
            def report(done: int, _n: int, i: int = i) -> None:
                if on_batch is not None:
                    on_batch(min(n, (i * n + done) // parts), n)

            kwargs = {} if batch_size is None else {"batch_size": batch_size}
            total += weight * member.predict_proba(texts, on_batch=report, **kwargs)
        return total

    def predict(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """The most probable class per row (n,) of :meth:`predict_proba`."""
        return labels_of(self.classes_, self.predict_proba(data, batch_size, on_batch))

    # ------------------------------------------------------------------ persistence

    def manifest(self) -> dict[str, Any]:
        return manifest_of(self, KIND, voting="soft", members=list(self.members))

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the folder atomically: the common files, softvote.json and each member's complete
        folder under ``members/<kind>/``. ``ValueError`` when ``folder`` exists and not ``overwrite``,
        or in a fast form."""
        if self.quantized:
            raise ValueError("A quantized model cannot be saved; save the full-precision model.")

        def write_members(tmp: Path) -> None:
            for kind, member in self.members.items():
                where = member.path
                member.save(tmp / MEMBERS / kind)
                member.path = where  # the member object stays what it was (a kept candidate, say)

        meta = {"voting": "soft", "members": list(self.members), "weights": [float(w) for w in self.weights]}
        self.path = save_model_folder(folder, self, model_card(self), overwrite=overwrite, write=write_members,
                                      own_files={SOFTVOTE_JSON: meta})
        return self.path

    @classmethod
    def load(cls, folder: str | Path, *, device: str | None = None) -> SoftVoteClassifier:
        """Load a saved folder and its members (JSON and safetensors only; the embedding member's
        base model must be installed, core.models.embedding). Raises ``ValueError`` for missing or
        damaged files, a member kind outside MEMBER_KINDS, or a member that fails to load."""
        folder = Path(folder)
        _, common = read_model_files(folder, (KIND,))
        meta = read_json(folder / SOFTVOTE_JSON)
        meta = meta if isinstance(meta, dict) else {}
        kinds, weights = meta.get("members"), meta.get("weights")
        if not isinstance(kinds, list) or not all(isinstance(k, str) and k in MEMBER_KINDS for k in kinds):
            raise ValueError(f"{folder}: {SOFTVOTE_JSON} names members {kinds!r}; a soft vote holds only "
                             f"{sorted(MEMBER_KINDS)}.")
        members = {}
        for kind in kinds:
            where = folder / MEMBERS / kind
            if not (where / MANIFEST).is_file() or where.is_symlink():
                raise ValueError(f"{folder}: the soft vote's {kind} member is missing ({MEMBERS}/{kind}).")
            members[kind] = MEMBER_KINDS[kind].load(where, device=device)
        return cls(members, weights=weights, **common)


def members_in_words(kinds: Sequence[str]) -> str:
    """"TF-IDF + LR and embeddings + LR", "TF-IDF + LR, embeddings + LR and the fine-tuned transformer"."""
    names = [MEMBER_NAMES.get(k, k) for k in kinds]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def model_card(model: SoftVoteClassifier) -> str:
    """README.md for the folder: what the vote is, its members, its held-out numbers."""
    lines = [
        f"# Marketune model: soft vote of {members_in_words(list(model.members))}",
        "",
        f"- Classes: {', '.join(map(str, model.classes_))}",
        f"- Members (probabilities averaged, weights {', '.join(f'{w:.2f}' for w in model.weights)}): "
        + ", ".join(f"{kind} ({MEMBERS}/{kind}/)" for kind in model.members),
        f"- Base model of the embedding member (frozen, not copied here): {model.base_model}",
        f"- Input columns: {', '.join(model.input_columns)}",
        "",
        "## Metrics",
        "",
        *metrics_table(model.metrics, ["accuracy", "macro_f1", "weighted_f1", "roc_auc"]),
    ]
    verdict = model.metrics.get("verdict") or {}
    if verdict.get("sentence"):
        lines += ["", verdict["sentence"]]
    lines += ["", "Files: JSON + safetensors only (no pickle). Load with `core.load_folder(folder)`.", ""]
    return "\n".join(lines)
