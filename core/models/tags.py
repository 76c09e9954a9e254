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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_json
from ..multilabel import OUTPUT_SEP, PREDICTED_LABELS, sigmoid, tags_from_proba
from .folder import read_json

__all__ = ["OUTPUT_SEP", "PREDICTED_LABELS", "THRESHOLDS", "read_thresholds", "sigmoid", "tags_from_proba",
           "write_thresholds"]

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
