"""The saved-model side of multi-label ("several tags per row"): the per-tag thresholds file and
the one rule that turns per-tag probabilities into ``predicted_labels``.

A multi-label model's ``classes_`` are its tags; its ``predict_proba`` gives one independent
probability per tag (sigmoid, rows need not sum to 1) and its ``thresholds`` (one per tag, chosen
on validation by core.multilabel.cut_offs) decide which tags a row gets: tag j when
``p_j >= thresholds[j]``. The folder keeps them in ``thresholds.json``::

    {"tags": ["delivery", "price"], "thresholds": [0.42, 0.97], "label_sep": "|",
     "chosen_on": "validation (59 rows)", "cannot_tell_yet": ["price"]}

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

__all__ = ["OUTPUT_SEP", "PREDICTED_LABELS", "THRESHOLDS", "LinearHead", "TagOutputs", "UNTOLD_NOTE", "card_lines", "cut_offs_frame",
           "read_thresholds", "untold_sentence",
           "sigmoid",
           "tags_from_proba", "write_thresholds"]

THRESHOLDS = "thresholds.json"


def write_thresholds(folder: Path, tags: Sequence[str], thresholds: np.ndarray, *, label_sep: str | None,
                     chosen_on: str = "", untold: Sequence[str] = ()) -> None:
    """Write ``thresholds.json`` into a model folder being saved (``folder``: its temporary copy):
    ``chosen_on`` says on which rows the cut-offs were chosen ("validation (59 rows)"), ``untold``
    the tags the model cannot yet tell (core.multilabel.cut_offs: no cut-off made fewer errors
    there than never giving the tag)."""
    write_json(folder / THRESHOLDS, {"tags": [str(t) for t in tags], "thresholds": [float(t) for t in thresholds],
                                     "label_sep": label_sep, "chosen_on": chosen_on,
                                     "cannot_tell_yet": [str(t) for t in untold]})


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


UNTOLD_NOTE = "cannot tell yet: given only above every validation probability"  # a cut-off table's note


def untold_sentence(untold: Sequence[str], given: Mapping[str, int] | None = None, n_rows: int = 0) -> str:
    """Words for the tags a model cannot yet tell (core.multilabel.cut_offs), "" for none. The
    cut-off is above every validation probability of the copy that chose it, which says nothing
    of how often a new file passes it (a refit or other rows score higher): so no "rarely" is
    promised, and with ``given`` ({tag: rows given it} of a scored file of ``n_rows`` rows) the
    rows each such tag was given are said."""
    if not untold:
        return ""
    names = ", ".join(repr(str(t)) for t in untold)
    said = (f"The model cannot yet tell {names}: on the validation rows every cut-off would have made more wrong "
            "decisions than never giving the tag, so its cut-off was set above every validation row's probability of "
            "it. More labelled rows carrying the tag help.")
    if given is None or not n_rows:
        return said
    passed = {str(t): int(given.get(str(t), 0)) for t in untold if given.get(str(t), 0)}
    if not passed:
        return f"{said} In this file no row was given {'it' if len(untold) == 1 else 'any of them'}."
    shares = ", ".join(f"{t!r} to {n:,} of {n_rows:,} rows ({n / n_rows:.1%})" for t, n in passed.items())
    return f"{said} In this file the model still gave {shares}: read these tags with care."


def cut_offs_frame(tags: Sequence[Any], thresholds: np.ndarray | None, columns: Mapping[str, str] | None = None,
                   untold: Sequence[str] = ()):
    """The per-tag cut-offs as a table a spreadsheet reads: one row per tag, ``tag``,
    ``probability_column`` (its ``p_<tag>`` column in a prediction file; ``columns``: the ones
    core.predict renamed because the file had them already, old -> new), ``cut_off`` (the tag
    is in ``predicted_labels`` when that probability is at or above it; 0.5 for every tag when the
    model has no thresholds, as core.predict does) and ``note`` (:data:`UNTOLD_NOTE` for a tag in
    ``untold``, the model's thresholds.json "cannot_tell_yet"; else "")."""
    import pandas as pd

    cuts = np.full(len(tags), 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    columns, untold = columns or {}, {str(t) for t in untold}
    return pd.DataFrame({"tag": [str(t) for t in tags],
                         "probability_column": [columns.get(f"p_{t}", f"p_{t}") for t in tags],
                         "cut_off": cuts,
                         "note": [UNTOLD_NOTE if str(t) in untold else "" for t in tags]})


def card_lines(model: Any) -> list[str]:
    """The model card's per-tag cut-offs of a multi-label ``model`` (on which rows they were chosen,
    each tag's cut-off, the tags it cannot yet tell); [] for a model without thresholds."""
    if getattr(model, "thresholds", None) is None:
        return []
    untold = list(getattr(model, "untold_tags", None) or [])
    chosen_on = getattr(model, "thresholds_chosen_on", "") or "validation"
    lines = ["", f"## Cut-offs per tag (chosen on {chosen_on})", "",
             "A row gets a tag when its probability is at or above the tag's cut-off.", ""]
    lines += [f"- {t}: {float(c):.3f}" + (f" ({UNTOLD_NOTE})" if str(t) in untold else "")
              for t, c in zip(model.classes_, model.thresholds)]
    if untold:
        lines += ["", untold_sentence(untold)]
    return lines


class TagOutputs:
    """What a model kind with a one-vs-rest head (a yes/no per tag) shares when it is multi-label:
    ``thresholds`` (k,) and ``label_sep``, the tags a row gets, and thresholds.json in its folder.
    The kind says whether it is multi-label (``multi_label``); ``predict`` serves it either way (and
    a kind that regresses gives its ``predict_values``)."""

    thresholds: np.ndarray | None = None
    label_sep: str | None = None
    untold_tags: list[str] | None = None  # tags the model cannot yet tell (thresholds.json "cannot_tell_yet")
    thresholds_chosen_on: str = ""  # "validation (N rows)"
    classes_: np.ndarray
    task: str
    multi_label: bool

    def predict_proba(self, data: Any, batch_size: int, on_batch: Callable[[int, int], None] | None) -> np.ndarray:
        raise NotImplementedError

    def predict_values(self, data: Any, batch_size: int, on_batch: Callable[[int, int], None] | None) -> np.ndarray:
        """A regression model's predicted values (n,), float; only a kind that can regress has them."""
        raise NotImplementedError

    def predict(self, data: Any, batch_size: int = PREDICT_BATCH_SIZE,
                on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Predicted labels (classification, array of str; multi-label: each row's tags at or above
        their thresholds joined by "|", "" for none) or values (regression, float), shape (n,)."""
        if self.task == "regression":
            return self.predict_values(data, batch_size, on_batch)
        proba = self.predict_proba(data, batch_size, on_batch)
        return self.tags_of(proba) if self.multi_label else labels_of(self.classes_, proba)

    def tags_of(self, proba: np.ndarray) -> np.ndarray:
        """``predicted_labels`` of probabilities (n, k): the tags at or above their thresholds."""
        thresholds = self.thresholds if self.thresholds is not None else np.full(len(self.classes_), 0.5)
        return tags_from_proba(proba, self.classes_, thresholds)

    def write_tags(self, tmp: Path) -> None:
        """thresholds.json into the folder being saved, when the model has thresholds."""
        if self.thresholds is not None:
            write_thresholds(tmp, self.classes_, self.thresholds, label_sep=self.label_sep,
                             chosen_on=self.thresholds_chosen_on or "", untold=self.untold_tags or ())

    def read_tags(self, folder: Path) -> bool:
        """Take the folder's thresholds.json; False when it has none (a single-label folder)."""
        tagged = read_thresholds(folder, self.classes_)
        if tagged is None:
            return False
        self.thresholds, self.label_sep = tagged["thresholds"], tagged.get("label_sep")
        self.untold_tags = [str(t) for t in tagged.get("cannot_tell_yet") or []]
        self.thresholds_chosen_on = str(tagged.get("chosen_on") or "")
        return True


class LinearHead(TagOutputs):
    """The outputs of a kind whose head is linear scores, ``decision_function`` (n, k) (the TF-IDF
    and the frozen-embedding kinds): probabilities and labels, single-label or multi-label."""

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

    def predict_values(self, data: Any, batch_size: int = PREDICT_BATCH_SIZE,
                       on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        """A regression model's predicted values (n,): its one linear score per row."""
        return self.decision_function(data, batch_size, on_batch)[:, 0]
