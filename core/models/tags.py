"""The saved-model side of multi-label ("several tags per row"): the per-tag thresholds file and
the one rule that turns per-tag probabilities into ``predicted_labels``.

A multi-label model's ``classes_`` are its tags; its ``predict_proba`` gives one independent
probability per tag (sigmoid, rows need not sum to 1) and its ``thresholds`` (one per tag, chosen
on validation by core.multilabel.choose_thresholds) decide which tags a row gets: tag j when
``p_j >= thresholds[j]``. The folder keeps them in ``thresholds.json``::

    {"tags": ["delivery", "price"], "thresholds": [0.42, 0.5], "label_sep": "|", "chosen_on": "..."}

A folder without that file is a single-label model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_json
from ..multilabel import OUTPUT_SEP, PREDICTED_LABELS, sigmoid, tags_from_proba
from .folder import PREDICT_BATCH_SIZE, labels_of, read_json, softmax

__all__ = ["OUTPUT_SEP", "PREDICTED_LABELS", "THRESHOLDS", "LinearHead", "TagOutputs", "cut_offs_frame", "read_thresholds",
           "sigmoid",
           "tags_from_proba", "write_thresholds"]

THRESHOLDS = "thresholds.json"


def write_thresholds(folder: Path, tags: Sequence[str], thresholds: np.ndarray, *, label_sep: str | None,
                     chosen_on: str = "") -> None:
    """Write ``thresholds.json`` into a model folder being saved (``folder``: its temporary copy)."""
    write_json(folder / THRESHOLDS, {"tags": [str(t) for t in tags], "thresholds": [float(t) for t in thresholds],
                                     "label_sep": label_sep, "chosen_on": chosen_on})


def read_thresholds(folder: Path, tags: Sequence[str]) -> dict[str, Any] | None:
    """The folder's ``thresholds.json`` as ``{"thresholds": array (k,), "label_sep", "chosen_on"}``,
    or None for a single-label folder. Raises ``ValueError`` when its tags are not the model's."""
    path = Path(folder) / THRESHOLDS
    if not path.is_file():
        return None
    found = read_json(path)
    if [str(t) for t in found.get("tags", [])] != [str(t) for t in tags] or len(found.get("thresholds", [])) != len(tags):
        raise ValueError(f"{path}: its tags {found.get('tags')} are not the model's {list(map(str, tags))}.")
    return {**found, "thresholds": np.asarray(found["thresholds"], dtype=np.float64)}


def cut_offs_frame(tags: Sequence[Any], thresholds: np.ndarray | None, columns: Mapping[str, str] | None = None):
    """The per-tag cut-offs as a table a spreadsheet reads: one row per tag, ``tag``,
    ``probability_column`` (its ``p_<tag>`` column in a prediction file; ``columns``: the ones
    core.predict renamed because the file had them already, old -> new) and ``cut_off`` (the tag
    is in ``predicted_labels`` when that probability is at or above it; 0.5 for every tag when the
    model has no thresholds, as core.predict does)."""
    import pandas as pd

    cuts = np.full(len(tags), 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    columns = columns or {}
    return pd.DataFrame({"tag": [str(t) for t in tags],
                         "probability_column": [columns.get(f"p_{t}", f"p_{t}") for t in tags],
                         "cut_off": cuts})


class TagOutputs:
    """What a model kind with a one-vs-rest head (a yes/no per tag) shares when it is multi-label:
    ``thresholds`` (k,) and ``label_sep``, the tags a row gets, and thresholds.json in its folder.
    The kind says whether it is multi-label (``multi_label``)."""

    thresholds: np.ndarray | None = None
    label_sep: str | None = None
    classes_: np.ndarray

    def tags_of(self, proba: np.ndarray) -> np.ndarray:
        """``predicted_labels`` of probabilities (n, k): the tags at or above their thresholds."""
        thresholds = self.thresholds if self.thresholds is not None else np.full(len(self.classes_), 0.5)
        return tags_from_proba(proba, self.classes_, thresholds)

    def write_tags(self, tmp: Path) -> None:
        """thresholds.json into the folder being saved, when the model has thresholds."""
        if self.thresholds is not None:
            write_thresholds(tmp, self.classes_, self.thresholds, label_sep=self.label_sep)

    def read_tags(self, folder: Path) -> bool:
        """Take the folder's thresholds.json; False when it has none (a single-label folder)."""
        tagged = read_thresholds(folder, self.classes_)
        if tagged is None:
            return False
        self.thresholds, self.label_sep = tagged["thresholds"], tagged.get("label_sep")
        return True


class LinearHead(TagOutputs):
    """The outputs of a kind whose head is linear scores, ``decision_function`` (n, k) (the TF-IDF
    and the frozen-embedding kinds): probabilities and labels, single-label or multi-label."""

    task: str
    multi_label: bool

    def decision_function(self, data: Any, batch_size: int, on_batch: Callable[[int, int], None] | None) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, data: Any, batch_size: int = PREDICT_BATCH_SIZE,
                      on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), rows summing to 1 (softmax of the scores);
        multi-label: one independent probability per tag (sigmoid of each tag's score)."""
        if self.task != "classification":
            raise ValueError("This is a regression model: it predicts a number, not class probabilities.")
        scores = self.decision_function(data, batch_size, on_batch)
        if not len(scores):
            return np.zeros((0, len(self.classes_)))
        return sigmoid(scores) if self.multi_label else softmax(scores)

    def predict(self, data: Any, batch_size: int = PREDICT_BATCH_SIZE,
                on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Predicted labels (classification, array of str; multi-label: each row's tags joined by
        "|") or values (regression, float), shape (n,)."""
        if self.task == "regression":
            return self.decision_function(data, batch_size, on_batch)[:, 0]
        if self.multi_label:
            return self.tags_of(self.predict_proba(data, batch_size, on_batch))
        return labels_of(self.classes_, self.predict_proba(data, batch_size, on_batch))
