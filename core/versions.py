"""Retraining that cannot make things worse: a challenger, promoted only when better; every version kept.

``python -m core retrain --model MODEL --data LABELLED.csv --new NEW.csv`` trains a challenger on
the old labelled rows plus most of the new ones, with the current model's settings, and compares
the two on the same rows neither trained on:

- the **fixed holdout**: the current model's own test split (``test_predictions.csv``), written as
  ``holdout.csv`` at the first retrain, and FIXED from then on: no retrain, promoted or not, adds a
  row to it (a walker's weak model set aside 36% of the new rows as suspect with only 10% of labels
  wrong, and removing rows both models get wrong inflated every later holdout score), and
- a share of the **new labelled rows** held out for the comparison (``NEW_EVAL_SHARE``, stratified):
  they judge only the comparison they are part of. Only a model with no fixed holdout at all
  (cross-validated small data: every labelled row trained it) takes its first promotion's new
  comparison rows as its holdout, less the rows whose label both models call otherwise.

On every retrain, promoted or not, the new comparison rows both models call otherwise
(:func:`suspected_label_errors`: likely label errors) are listed for a person to check in
``holdout_review.csv``, and the outcome says how often the model in use disagrees with the new
labels against how often it disagrees with the fixed holdout's.

Rows of ``--data``/``--new`` whose model input equals a holdout text are left out of the
challenger's training, so the holdout stays unseen. The rule is the leaderboard's
(core.evaluation.better_than: more than TIE_MARGIN ahead on the paired rows), with one guard: the
challenger may not be behind by more than TIE_MARGIN on the fixed holdout alone (:func:`promotes`: the
new rows judge with their own labels, which may be wrong); the challenger is promoted only when it is
better, and the uncertainty is said in words. A model that is not promoted
is not lost either: it is kept under ``versions/`` as a challenger that lost.

Versions live inside the model folder::

    <model>/                       # the version in use (version_name.json: which one, e.g. v2)
        versions/
            v1/                    # an earlier version (complete model folder), version.json says
            v3/                    # when it was replaced or why it lost, and its comparison
            history.jsonl          # one line per event: promoted, kept aside, rolled back, a candidate swapped in
        holdout.csv, holdout_review.csv, scoring_history.jsonl, version_name.json

Each model gets its number once, when it first takes part in a retrain (the model in use then is
v1 unless it has one, each challenger the next free number), and keeps it: v3 stays v3 whether it
is in use or kept, and a rollback adds an event to the history instead of renaming anything.

A version is a whole training run's folder, its kept candidates (core.models.candidates) included.
:func:`choose` ("Use ... instead", ``python -m core choose``) puts one of those candidates in
front: the version number, the versions, the fixed holdout and the scoring history belong to the
model a person names and stay where they are (MODEL_FILES); the swap is an event of the history.

:func:`rollback` puts a kept version back in place (the one in use becomes a version too), with
the same build-beside-and-rename as core.models.candidates: a crash leaves the old folder or the new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .evaluation import cross_validated_folds
from .files import atomic_folder, read_json_lines, write_json
from .models.candidates import copy_tree, folder_lock
from .models.folder import MANIFEST, METRICS, SCORING_HISTORY, SCORING_REFERENCES, TEST_PREDICTIONS, read_json
from .words import rows_words

VERSIONS = "versions"
VERSION_FILE = "version.json"  # in versions/vN: why it is kept (replaced, lost, rolled back from)
# In every model folder a retrain touched, in use or kept: the model's latest comparison - its
# "outcome" (OUTCOMES), the numbers and the sentence. It travels with the model's files through
# promotions and rollbacks, so a version that lost still says so after a round trip.
COMPARISON_FILE = "comparison.json"
PROMOTED, NOT_PROMOTED, REPLACED = "promoted", "challenger, not promoted", "replaced by a better challenger"
KEPT_OVER = "kept: the challenger was not better"
OUTCOMES = (PROMOTED, NOT_PROMOTED, REPLACED, KEPT_OVER)
NAME_FILE = "version_name.json"  # in every numbered model folder, in use or kept: {"version": "v3"}, never changed
HISTORY = "history.jsonl"  # in versions/: {"at", "event"} per promotion, kept challenger and rollback
# version.json's status of a model a rollback set aside: "set aside by a rollback from v3 to v1"
# (before: "rolled back to v1", which read as if v3 had been rolled back to v1; still recognised).
ROLLED_BACK, OLD_ROLLED_BACK = "set aside by a rollback", "rolled back to "
NEW_EVAL_SHARE = 0.3  # of the new labelled rows, kept out of training for the comparison
MIN_NEW_ROWS = 10  # new labelled rows needed to hold a share out (without a fixed holdout: to judge at all)
# The fixed holdout (text, true_label), carried by the model in place: the model's test split (or, for a
# model without one, its first promotion's new comparison rows less those both models call otherwise),
# the same across versions and retrains, unseen by every version.
HOLDOUT = "holdout.csv"
# The new comparison rows both models call otherwise (:func:`suspected_label_errors`: both predict
# another label than the one given, so the label may be wrong), for a person to check: owner-only like
# the holdout (customer text), one row per such row of every retrain since, promoted or not
# (REVIEW_COLUMNS). Like the holdout it belongs to the model a person names: it stays through a swap
# of candidates and a rollback, and grows with each retrain.
HOLDOUT_REVIEW = "holdout_review.csv"
REVIEW_COLUMNS = ("text", "given_label", "model_in_use_predicted", "challenger_predicted", "retrain")
# Said in a retrain's outcome when the model in use disagrees with the new labels more than 5 points
# more often than with the fixed holdout's (the Models page shows that sentence as a warning of its own).
LABELS_DOUBT = "some new labels may be wrong, or your texts have changed"
# What belongs to the model a person names, not to the candidate in front: a swap of candidates
# (:func:`choose`) leaves these in place (the version's latest comparison among them: the swap is no
# new comparison); a promotion or a rollback moves them with the version.
MODEL_FILES = (VERSIONS, HOLDOUT, HOLDOUT_REVIEW, NAME_FILE, SCORING_HISTORY, SCORING_REFERENCES, COMPARISON_FILE)
# The paired bootstrap's seed of every comparison of two versions (the retrain's and the rollback
# dialog's): the same rows give the same interval, one number wherever it is said.
COMPARE_SEED = 42  # the retrain's default seed, which its comparisons used before
# A retrain job's phases after the training's own (core.progress.PHASES): the challenger is trained,
# both models score the comparison rows, then the outcome is written (no cancel from there on).
TRAINED_PHASE, COMPARE_PHASE, KEEP_PHASE = "trained", "compare", "keep"
PART = "__marketune_part"  # in a retrain job's data.csv: "old" (the labelled rows) or "new" (the new labels)


@dataclass
class Challenge:
    """What :func:`challenge` found: the comparison on the shared rows, and what was done."""

    promoted: bool
    sentence: str  # for people: who won, by how much, on which rows, how sure
    comparison: dict[str, Any]  # core.evaluation.compare_on_rows of challenger vs current
    n_holdout: int
    n_new_eval: int
    n_trained: int  # rows the saved challenger learned from (its metrics: training split, or refit rows)
    version: str  # the versions/ entry written: the old model (promoted) or the challenger (not)
    in_use: str = ""  # the version in use now: the challenger (promoted) or the model that stayed
    # The new comparison rows both models call otherwise (:func:`suspected_label_errors`), promoted
    # or not, and the file that lists them (HOLDOUT_REVIEW; "" when there were none).
    n_review: int = 0
    review_file: str = ""
    n_pool: int = 0  # rows that were the challenger's to learn from: labelled + new not held out, less holdout texts


def list_versions(folder: str | Path) -> list[dict[str, Any]]:
    """The kept versions, oldest first: ``{"version", "kind", "saved_at", "status", "at"}`` (why and
    when it was set aside) and, for a model that took part in a comparison, ``"outcome"`` (one of
    OUTCOMES: its latest, wherever it has been since), ``"comparison"`` and ``"sentence"``."""
    root = Path(folder) / VERSIONS
    if not root.is_dir():
        return []
    out = []
    for path in sorted((p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file()), key=_number):
        info = read_json(path / VERSION_FILE) if (path / VERSION_FILE).is_file() else {}
        manifest = read_json(path / MANIFEST)
        entry = {"version": path.name, "kind": manifest.get("kind"), "saved_at": manifest.get("saved_at"),
                 **(carried_comparison(path) or {}), **info}
        out.append({**entry, "own_words": own_words(entry)})
    return out


def in_use(folder: str | Path) -> dict[str, Any]:
    """The model in use, as :func:`list_versions` gives a kept one: ``{"version"}`` (its stable
    name; "" when never numbered), ``"kind"``, ``"saved_at"``, its latest comparison and ``"own_words"``."""
    folder = Path(folder)
    manifest = read_json(folder / MANIFEST)
    entry = {"version": version_name(folder) or "", "kind": manifest.get("kind"), "saved_at": manifest.get("saved_at"),
             **(carried_comparison(folder) or {})}
    compared = entry.get("compared_kind")
    if compared and compared != entry["kind"]:  # a candidate put in front after the retrain ("Use ... instead")
        name = _people_name(folder)
        return {**entry, "own_words": f"Not compared: you put {name(entry['kind'])} in place after the last retrain, "
                                      f"whose comparison was of {name(compared)}."}
    return {**entry, "own_words": own_words(entry)}


def _people_name(folder: Path) -> Callable[[Any], str]:
    """kind -> its name for people in a sentence (core.candidates.kind_name, for the task of the model
    in ``folder``): "the few-shot model", never "fewshot"."""
    from .candidates import kind_name

    metrics = read_json(folder / METRICS) if (folder / METRICS).is_file() else {}
    task = str(metrics.get("task") or "classification")
    return lambda kind: kind_name(str(kind), task)


def swap_sentence(folder: Path, event: Mapping[str, Any]) -> str:
    """A swap of candidates (``event``: its history line, action "swapped") in people's words:
    "v3: you put frozen-encoder embeddings + logistic regression in place of the few-shot model;
    the few-shot model is kept as a candidate". Said from the line's fields, so a swap recorded
    with the kinds' internal names reads the same."""
    name = _people_name(folder)
    chosen, aside = name(event.get("candidate")), name(event.get("kept_candidate"))
    said = f"you put {chosen} in place of {aside}; {aside} is kept as a candidate"
    return f"{event['in_use']}: {said}" if event.get("in_use") else said[:1].upper() + said[1:]


# What a retrain keeps of a comparison (core.evaluation.compare_on_rows): "same" says the two
# models predicted the same on every row, so that its 0-to-0 interval is not read as noise.
RECORDED = ("delta", "ci", "n", "within_noise", "same")
# A comparison from the side of the model that carries it: the record is the challenger's (a = the
# challenger, b = the model then in use), so a model that was in use sees it turned round (sign -1).
# Each: (sign, what happened, the other model).
SIDES = {PROMOTED: (1, "Promoted", "the model then in use"),
         NOT_PROMOTED: (1, "Not promoted", "the model then in use"),
         REPLACED: (-1, "Replaced", "the challenger that took its place"),
         KEPT_OVER: (-1, "Kept in use (the challenger was not promoted)", "that challenger")}


def own_words(entry: dict[str, Any]) -> str:
    """The latest comparison of a model (``entry``: :func:`list_versions`' or :func:`in_use`'s) in
    words from its own side - a model kept over a challenger reads "ahead", not the challenger's
    "behind". "" when it took part in none."""
    from .evaluation import lead_in_words

    side = SIDES.get(str(entry.get("outcome")))
    comparison = entry.get("comparison") or {}
    if side is None or comparison.get("delta") is None or not comparison.get("n"):
        return ""
    sign, happened, other = side

    def seen_from_here(record: dict[str, Any], basis: str) -> str:  # the record is the challenger's side
        low, high = record.get("ci") or (float("nan"), float("nan"))
        # 0.0 - x, not -x: a level comparison must not read "-0.0".
        mine = {"delta": 0.0 + sign * record["delta"], "n": record["n"], "same": record.get("same", False),
                "ci": (low, high) if sign > 0 else (0.0 - high, 0.0 - low)}
        return lead_in_words(mine, "classification", basis)

    if comparison.get("same"):  # not "level ...; within noise (0.0 to 0.0)": nothing told them apart
        said = f"{happened}: this model and {other} predict the same label on all {comparison['n']:,} shared rows."
    else:
        said = f"{happened}: this model was {seen_from_here(comparison, 'shared')}, against {other}."
    fixed = entry.get("holdout_comparison")
    if fixed and fixed.get("n"):  # what kept the challenger out (promotes): its place on the holdout alone
        said = said[:-1] + f"; on the fixed holdout alone {seen_from_here(fixed, 'holdout')}."
    return said


def carried_comparison(path: str | Path) -> dict[str, Any] | None:
    """The latest comparison of the model in ``path`` (its COMPARISON_FILE; a version kept before
    that file existed: its version.json when that says an outcome); None when it took part in none."""
    path = Path(path)
    if (path / COMPARISON_FILE).is_file():
        return read_json(path / COMPARISON_FILE)
    info = read_json(path / VERSION_FILE) if (path / VERSION_FILE).is_file() else {}
    return {**info, "outcome": info["status"]} if info.get("status") in OUTCOMES else None


def _number(path: Path) -> int:
    return int(path.name[1:]) if path.name[1:].isdigit() else 0


def version_name(path: str | Path) -> str | None:
    """The stable version name of the model in ``path`` ("v3"); None for a model never numbered
    (no retrain yet, or kept before names were: its folder name under versions/ is its name)."""
    file = Path(path) / NAME_FILE
    return str(read_json(file).get("version")) if file.is_file() else None


def _next_version(folder: Path, *also: str) -> str:
    """The next free number: above every kept version, the model in use's and ``also``'s."""
    taken = [_number(p) for p in (folder / VERSIONS).glob("v*")] if (folder / VERSIONS).is_dir() else []
    taken += [_number(Path(name)) for name in (version_name(folder), *also) if name]
    return f"v{max(taken, default=0) + 1}"


def history_events(folder: str | Path) -> list[dict[str, Any]]:
    """The model's version events, oldest first: ``{"at", "event"}`` (a damaged line is skipped); a
    swap of candidates in the words of :func:`swap_sentence`, whatever words it was recorded with."""
    events = read_json_lines(Path(folder) / VERSIONS / HISTORY)
    return [{**e, "event": swap_sentence(Path(folder), e)} if e.get("action") == "swapped" and e.get("candidate")
            and e.get("kept_candidate") else e for e in events]


def _add_event(folder: Path, event: str, **fields: Any) -> None:
    """Append ``event`` (words) and ``fields`` (``action``: promoted, kept, rolled back, swapped;
    ``in_use``: the version in use after it...) to the history of the model folder being built
    (``folder``: the new one)."""
    import json

    path = folder / VERSIONS / HISTORY
    path.parent.mkdir(exist_ok=True)
    before = path.read_text(encoding="utf-8") if path.is_file() else ""
    path.unlink(missing_ok=True)  # a hard-linked copy (core.models.candidates.copy_tree) is never written through
    line = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event, **fields}
    path.write_text(before + json.dumps(line) + "\n", encoding="utf-8")


def _name(folder: Path, name: str) -> None:
    write_json(folder / NAME_FILE, {"version": name})


def eval_rows(model: Any, new: pd.DataFrame, seed: int) -> tuple[list[str], np.ndarray, pd.DataFrame, int]:
    """(texts, labels) of the comparison rows - the holdout, then the held-out share of ``new`` -
    the rows of ``new`` left for training, and how many comparison rows are the holdout's. Rows of
    ``new`` whose model input is a holdout text are left out (they judge once, as holdout rows).
    Raises ValueError without a holdout to compare on."""
    from sklearn.model_selection import train_test_split

    from .data import build_texts

    folder = Path(model.path)
    path = holdout_path(folder)
    label_col = model.training_config.get("label_column")
    new = new[new[label_col].notna()]
    if path is None:
        why, judged = without_holdout(folder)
        if not judged or len(new) < MIN_NEW_ROWS:
            raise ValueError(f"{folder.name}: {why}" + (f" The new file has {rows_words(len(new), 'labelled')}." if judged else ""))
        texts, truth = [], np.array([], dtype=object)
    else:
        test = pd.read_csv(path, keep_default_na=False, na_values=[""])
        texts = test["text"].astype(str).tolist()
        truth = test["true_label"].astype(str).to_numpy(dtype=object)
    n_holdout = len(texts)
    schema = model.schema
    if texts:  # a new row that is a holdout row already judges there: not a second time (it never trains either)
        again = pd.Series(build_texts(new, schema["text_columns"], schema.get("profile_columns", [])),
                          index=new.index).isin(set(texts))
        new = new[~again.to_numpy()]
    if len(new) >= MIN_NEW_ROWS:
        counts = new[label_col].astype(str).value_counts()
        stratify = new[label_col].astype(str) if counts.min() >= 2 else None
        new_train, new_eval = train_test_split(new, test_size=NEW_EVAL_SHARE, random_state=seed, stratify=stratify)
        texts += build_texts(new_eval, schema["text_columns"], schema.get("profile_columns", []))
        truth = np.concatenate([truth, new_eval[label_col].astype(str).to_numpy(dtype=object)])
    else:  # too few to split: all train the challenger, the holdout alone judges
        new_train = new
    return texts, truth, new_train, n_holdout


def holdout_path(folder: str | Path) -> Path | None:
    """The fixed holdout of the model in ``folder``: holdout.csv (its test split, as the first retrain
    wrote it, or for a model without one its first promotion's new comparison rows), else its test split;
    None when there is none the model did not train on (no test rows, or out-of-fold ones: on small
    data every labelled row trains the saved model, core.small_data)."""
    folder = Path(folder)
    if (folder / HOLDOUT).is_file():
        return folder / HOLDOUT
    if not (folder / TEST_PREDICTIONS).is_file() or cross_validated_folds(_metrics(folder)):
        return None
    return folder / TEST_PREDICTIONS


def _metrics(folder: Path) -> dict[str, Any]:
    return read_json(folder / METRICS) if (folder / METRICS).is_file() else {}


def without_holdout(folder: str | Path) -> tuple[str, bool]:
    """For the model in ``folder`` with no fixed holdout (:func:`holdout_rows` 0): why, in words, and
    whether a challenger can still be judged (True: cross-validated, on the held-out share of the
    new rows; False: saved by an older version without its test rows, nothing to judge on)."""
    from .fewshot import CV_MIN_PER_CLASS, CV_MIN_ROWS

    metrics = _metrics(Path(folder))
    k = cross_validated_folds(metrics)
    if not k:
        return ("This model has no held-out test rows saved, so there is nothing fixed to compare a challenger on. "
                "Train it again with this version of Marketune.", False)
    n = int((metrics.get("split_sizes") or {}).get("train") or metrics.get("n_rows_used") or 0)
    return (f"This model was scored by {k}-fold cross-validation on its {rows_words(n, 'labelled')}: too few to set "
            "test rows aside, so there are no fixed rows to compare a challenger on, and only the held-out "
            f"{NEW_EVAL_SHARE:.0%} of the new rows judges it (at least {MIN_NEW_ROWS} new labelled rows are needed). "
            f"A model trained on at least {CV_MIN_ROWS:,} labelled rows, {CV_MIN_PER_CLASS} or more in each class, "
            "keeps test rows that judge every challenger.", True)


def holdout_rows(folder: str | Path) -> int:
    """Rows of the fixed holdout a challenger of the model in ``folder`` is judged on (0: none)."""
    path = holdout_path(folder)
    return 0 if path is None else len(pd.read_csv(path, usecols=[0]))


def rule_in_words(folder: str | Path) -> str:
    """How a challenger is judged, for people (the Models page says it before the run)."""
    from .evaluation import TIE_MARGIN

    n = holdout_rows(folder)
    holdout = (f"the fixed holdout ({rows_words(n)}) plus the other {NEW_EVAL_SHARE:.0%} of the new rows" if n else
               f"the other {NEW_EVAL_SHARE:.0%} of the new rows (this model has no fixed holdout: every row it was "
               "scored on also trained it, by cross-validation)")
    return (f"The challenger trains on the labelled rows plus {1 - NEW_EVAL_SHARE:.0%} of the new ones. Both models "
            f"are then scored on the same rows, which neither trained on: {holdout}. The challenger replaces the model in use only when its "
            f"macro-F1 there is more than {TIE_MARGIN * 100:.1f} points higher (the leaderboard's rule)"
            + (f" and it is not more than {TIE_MARGIN * 100:.1f} points lower on the fixed holdout alone (the new "
               "rows judge with their own labels)" if n else "") + "; otherwise "
            "the model in use stays and the challenger is kept as a version that lost. Every version is kept. "
            + ("The fixed holdout stays fixed: the new rows judge only this comparison and never join it. " if n else
               "When the challenger is promoted, its comparison's new rows become the fixed holdout that judges "
               "every later challenger, except the rows whose label both models call otherwise. ")
            + "Whatever the outcome, the new rows both models call otherwise may be labelled wrong: they are listed "
              "in a file for you to check.")


def check_inputs(folder: str | Path, data: pd.DataFrame, new: pd.DataFrame) -> tuple[Any, list[str]]:
    """(the model in ``folder``, the columns a challenger needs: inputs + label). ValueError for a
    model that is not a classifier, or ``data``/``new`` without those columns, naming what was found."""
    from .config import TrainConfig
    from .models import load_folder

    current = load_folder(folder)
    if current.task != "classification":
        raise ValueError("Retraining with a challenger is built for classifiers; this model predicts numbers.")
    label = TrainConfig.from_dict(current.training_config).label_column
    needed = [*current.input_columns, label]
    for name, frame in (("The labelled rows", data), ("The new labelled rows", new)):
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise ValueError(f"{name} lack {absent}: the model reads {current.input_columns} and its label is "
                             f"'{label}'; found {list(frame.columns)}.")
    if new[label].notna().sum() == 0:
        raise ValueError(f"The new rows have no label in '{label}': label some rows first.")
    if not getattr(current, "multi_label", False):
        for name, frame in (("The labelled rows", data), ("The new labelled rows", new)):
            _refuse_unknown_labels(name, frame[label], current.classes_, label)
    return current, needed


def _refuse_unknown_labels(name: str, labels: pd.Series, classes: Any, column: str) -> None:
    """A challenger is compared with the model in use on the same classes: a label the model does not
    have ("positive" for a 0/1 model) would train a model of other classes, be scored against it on
    rows it can never get right, and (a model without a fixed holdout) become its holdout for good. ValueError naming each unknown
    label with its row count and the model's classes. Labels compare as text (a CSV reads 0 as "0")."""
    known = {str(c) for c in classes}
    given = labels.dropna().map(str)
    unknown = given[~given.isin(known)].value_counts()
    if unknown.empty:
        return
    found = ", ".join(f"'{v}' ({rows_words(n)})" for v, n in unknown.head(5).items())
    more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
    raise ValueError(f"{name} have labels in '{column}' that the model does not know: {found}{more}. Expected only "
                     f"the model's classes: {', '.join(sorted(known))}. Relabel those rows with the model's classes, "
                     "or train a new model on the Train page to add a class.")


def challenge(folder: str | Path, data: pd.DataFrame, new: pd.DataFrame, *, on_progress=None, cancel=None,
              seed: int = 42, deadline: float | None = None) -> Challenge:
    """Train a challenger on ``data`` + most of ``new`` with the model's saved settings, compare it
    with the model in ``folder`` on the shared rows, promote it only when better (module doc).

    ``data`` and ``new`` need the model's input and label columns. ``deadline``: a
    ``time.monotonic()`` value where training stops like early stopping (a job's time limit).
    Raises ValueError for a model that is not a classifier, lacks a holdout, or data without its
    columns; TrainingCancelled when cancelled before the outcome is written (nothing changes then)."""
    from .config import TrainConfig
    from .data import build_texts
    from .evaluation import better_than, compare_on_rows
    from .pipeline import train
    from .progress import ProgressEvent, TrainingCancelled

    folder = Path(folder)
    current, needed = check_inputs(folder, data, new)
    config = TrainConfig.from_dict(current.training_config)
    texts, truth, new_train, n_holdout = eval_rows(current, new[needed], seed)
    pool = pd.concat([data[needed], new_train], ignore_index=True)
    schema = current.schema
    pool_texts = build_texts(pool, schema["text_columns"], schema.get("profile_columns", []))
    unseen = ~pd.Series(pool_texts).isin(set(texts)).to_numpy()  # the comparison rows stay unseen
    training = pool[unseen].reset_index(drop=True)
    report = _reporter(on_progress)
    result = train(training, config, on_progress=report, cancel=cancel, deadline=deadline)
    challenger = result.model
    report(ProgressEvent(COMPARE_PHASE, 0, len(texts), fraction=0.0,
                         message=f"Comparing the challenger with the model in use on {len(texts):,} rows"))
    pred_new = np.asarray([str(v) for v in challenger.predict(texts)], dtype=object)
    pred_old = np.asarray([str(v) for v in current.predict(texts)], dtype=object)
    classes = sorted(set(truth) | set(pred_new) | set(pred_old))
    comparison = compare_on_rows("classification", truth, pred_new, pred_old, classes, seed=COMPARE_SEED)
    fixed = (compare_on_rows("classification", truth[:n_holdout], pred_new[:n_holdout], pred_old[:n_holdout],
                             classes, seed=COMPARE_SEED) if n_holdout and len(texts) > n_holdout else None)
    promoted = promotes(comparison, fixed)
    # The new comparison rows both models call otherwise (their labels may be wrong): listed for review
    # on every retrain. The fixed holdout stays as it is; only a model without one takes its first
    # promotion's new comparison rows, less these, as its holdout.
    suspect = suspected_label_errors(truth[n_holdout:], pred_new[n_holdout:], pred_old[n_holdout:])
    joins = np.concatenate([np.ones(n_holdout, dtype=bool),
                            ~suspect if promoted and not n_holdout else np.zeros(len(suspect), dtype=bool)])
    review = pd.DataFrame({"text": np.asarray(texts, dtype=object)[n_holdout:][suspect],
                           "given_label": truth[n_holdout:][suspect], "model_in_use_predicted": pred_old[n_holdout:][suspect],
                           "challenger_predicted": pred_new[n_holdout:][suspect]})
    n_review = len(review)
    # How often the model in use disagrees with the labels: the new ones, and the fixed holdout's.
    disagrees = (float(np.mean(pred_old[n_holdout:] != truth[n_holdout:])) if len(texts) > n_holdout else None,
                 float(np.mean(pred_old[:n_holdout] != truth[:n_holdout])) if n_holdout else None)
    trained = trained_rows(result.metrics, len(training))
    record = {"comparison": {k: comparison[k] for k in RECORDED},
              "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_trained": trained["learned"], "trained": trained}
    if not promoted and better_than(comparison):  # kept out by the holdout alone (promotes): say it later too
        record["holdout_comparison"] = {k: fixed[k] for k in RECORDED}
    holdout = pd.DataFrame({"text": texts, "true_label": truth})[joins].reset_index(drop=True)
    if cancel is not None and cancel():
        raise TrainingCancelled("Retraining was cancelled; the model in use and its versions are unchanged.")
    report(ProgressEvent(KEEP_PHASE, fraction=1.0, message=("Promoting the challenger" if promoted else
                                                             "Keeping the challenger as a version that lost")
                         + ": writing the versions (too late to cancel)"))

    def words(current: str, challenger: str) -> str:
        return outcome_sentence(promoted, current, challenger, comparison, n_holdout, len(texts) - n_holdout,
                                fixed=fixed, n_review=n_review, review_file=str(folder / HOLDOUT_REVIEW),
                                disagrees=disagrees, trained=trained)

    version, in_use_now, sentence = _keep(folder, result, record, promoted, holdout, words, n_holdout,
                                          review=review if n_review else None)
    return Challenge(promoted, sentence, comparison, n_holdout, len(texts) - n_holdout, trained["learned"], version,
                     in_use_now, n_review, str(folder / HOLDOUT_REVIEW) if n_review else "", len(training))


def trained_rows(metrics: Mapping[str, Any], n_pool: int) -> dict[str, int]:
    """The challenger's own split sizes (its metrics' ``split_sizes``; train() splits the rows it is
    given again): ``{"train", "validation", "test", "refit" (0: none), "learned" (the rows the saved
    model learned from: the refit's when it was refitted, else the training split's), "pool"}``."""
    sizes = metrics.get("split_sizes") or {}
    train_n, val_n, test_n = (int(sizes.get(k) or 0) for k in ("train", "validation", "test"))
    refit = int((metrics.get("refit") or {}).get("rows") or 0)
    return {"train": train_n, "validation": val_n, "test": test_n, "refit": refit,
            "learned": refit or train_n or int(n_pool), "pool": int(n_pool)}


def trained_in_words(trained: Mapping[str, Any]) -> str:
    """"trained on 778 rows (111 more chose its settings and 222 checked it; all 1,111 were its to learn
    from)", from :func:`trained_rows`; a refitted model: "trained on 889 rows (778, then again with the 111
    that chose its settings; 222 checked it; ...)"."""
    train_n, val_n, test_n, refit, pool = (int(trained.get(k) or 0) for k in ("train", "validation", "test", "refit", "pool"))
    learned = refit or train_n or pool
    if refit and refit != train_n:
        parts = [f"{train_n:,}, then again with the {val_n:,} that chose its settings" if val_n and refit == train_n + val_n
                 else f"{train_n:,}, then refitted on all {refit:,}"]
        parts.append(f"{test_n:,} checked it" if test_n else "")
    else:
        checked = f"{test_n:,} checked it" if test_n else ""
        chose = f"{val_n:,} more chose its settings" if val_n else ""
        parts = [" and ".join(p for p in (chose, checked) if p)]
    parts.append(f"all {pool:,} were its to learn from" if pool and pool != learned else "")
    inside = "; ".join(p for p in parts if p)
    return f"trained on {learned:,} rows" + (f" ({inside})" if inside else "")


def suspected_label_errors(truth: Any, pred_in_use: Any, pred_challenger: Any) -> np.ndarray:
    """Which comparison rows both models call otherwise: True where the model in use and the
    challenger each predict a label other than the given one (not necessarily the same one).
    A promotion leaves these new rows out of the fixed holdout and lists them for review
    (HOLDOUT_REVIEW): two models trained apart, one of them without these rows, agreeing against a
    label is the sign of a wrong label that a walker's flipped rows showed. Labels compare as text."""
    def text(values: Any) -> np.ndarray:
        return np.asarray([str(v) for v in values], dtype=object)

    truth, pred_in_use, pred_challenger = text(truth), text(pred_in_use), text(pred_challenger)
    if not len(truth) == len(pred_in_use) == len(pred_challenger):
        raise ValueError("The given labels and both models' predictions must be as many.")
    return (pred_in_use != truth) & (pred_challenger != truth) if len(truth) else np.zeros(0, dtype=bool)


def promotes(comparison: dict[str, Any], fixed: dict[str, Any] | None) -> bool:
    """The retrain's rule: the challenger is better on all the shared rows (core.evaluation.better_than)
    and, when new rows are among them, not behind by more than TIE_MARGIN on the fixed holdout alone.

    ``comparison``/``fixed``: :func:`core.evaluation.compare_on_rows` of challenger vs model in use on
    all the shared rows and on the holdout's rows only (None: no holdout, or no new rows). Why the
    second test: the new rows judge with their own labels, so wrong new labels make a challenger
    trained on them look better. A newcomer walk (round 7) retrained with 200 flipped labels: the
    challenger was 1.0 point ahead on 180 shared rows (120 holdout + 60 new) and promoted, while on
    the 120 holdout rows it scored 0.900 macro-F1 against 0.933."""
    from .evaluation import TIE_MARGIN, better_than

    return better_than(comparison) and (fixed is None or not fixed["n"] or fixed["delta"] >= -TIE_MARGIN)


# The first words of a retrain's outcome (:func:`outcome_sentence`): pages tell the two apart by them.
PROMOTED_LEAD, KEPT_LEAD = "Promoted:", "Kept "


def outcome_in_brief(sentence: str) -> str:
    """"promoted: v3 now in use" or "kept v2: the challenger was not better", from a retrain's
    :func:`outcome_sentence` (a job's message); "" for other words (a retrain of an older release)."""
    import re

    promoted = re.match(rf"{PROMOTED_LEAD} (\S+) is now in use", sentence)
    if promoted:
        return f"promoted: {promoted.group(1)} now in use"
    kept = re.match(rf"{KEPT_LEAD}(\S+): the challenger", sentence)
    return f"kept {kept.group(1)}: the challenger was not better" if kept else ""


def outcome_sentence(promoted: bool, current: str, challenger: str, comparison: dict[str, Any], n_holdout: int,
                     n_new: int, *, fixed: dict[str, Any] | None = None, n_review: int = 0,
                     review_file: str = "", disagrees: tuple[float | None, float | None] = (None, None),
                     trained: Mapping[str, Any] | None = None) -> str:
    """A retrain's outcome for people, the version in use first: "Promoted: v3 is now in use in place
    of v2. ..." or "Kept v2: the challenger (v3) was not better. ...", then the lead with its
    interval, the rows it was judged on, and that the fixed holdout stays as it was (the new rows judge
    only this comparison; a model without a fixed holdout takes its first promotion's new rows, less
    the ``n_review`` ones, as its holdout).
    ``fixed``: the comparison on the holdout's rows alone (:func:`promotes`), said when it is what
    kept the challenger out. A promotion says that the challenger scored higher and so is in use,
    then, in a sentence of its own, how sure that is (core.evaluation.noise_in_words: a lead within
    noise is the better bet, not a sure one, as the leaderboard's verdict says it). ``n_review``: the
    new comparison rows both models call otherwise (:func:`suspected_label_errors`), listed in
    ``review_file`` on every retrain. ``disagrees``: how often the model in use disagrees with the new
    labels and with the fixed holdout's (None: no such rows). ``trained``: :func:`trained_rows`."""
    from .evaluation import better_than, lead_in_words, lead_size, noise_in_words

    lead = lead_in_words(comparison, "classification", "shared")
    basis = f"{n_holdout:,} holdout + {n_new:,} new rows, neither model trained on them"  # a sum: always "rows"
    if promoted:  # how far ahead here; how sure, below in a sentence of its own
        ahead = f"{lead_size(comparison, 'classification')} on {comparison['n']:,} shared rows"
        sure = noise_in_words(comparison, "classification", "shared")
        head = (f"{PROMOTED_LEAD} {challenger} is now in use in place of {current}. The challenger scored higher, so "
                f"it is in use: {ahead} ({basis})." + (f" {sure}" if sure else "")
                + f" {current} is kept under versions/ (Roll back… puts it back).")
    elif better_than(comparison) and fixed is not None:  # ahead overall, behind on the holdout alone (promotes)
        behind = lead_in_words(fixed, "classification", "holdout")
        head = (f"{KEPT_LEAD}{current}: the challenger ({challenger}) was not promoted: it was "
                f"{lead} ({basis}), but {behind}, the rows whose labels judged every earlier version: the new rows' "
                f"labels may disagree with the model's, and they made the challenger look better. {current} stays "
                f"in use; {challenger} is kept under versions/ and can be put in place by hand.")
    else:
        head = (f"{KEPT_LEAD}{current}: the challenger ({challenger}) was not better, so it was not promoted: {lead} "
                f"({basis}). {current} stays in use; {challenger} is kept under versions/ and can be put in place "
                "by hand.")
    if trained:
        head += f" The challenger {trained_in_words(trained)}."
    rows = rows_words(n_new, "new")
    if not n_new:
        return head
    if n_holdout:
        said = (f" The fixed holdout stays as it was ({n_holdout:,} rows): the {rows} of this comparison judged only "
                "this one and do not join it.")
    elif promoted:  # no fixed holdout yet (cross-validated): the first promotion's new rows become it
        joined = n_new - n_review
        said = (f" {joined:,} of the {rows} of this comparison are now the fixed holdout, so the next challenger is "
                "judged on them." if joined else
                f" None of the {rows} of this comparison became the fixed holdout: the next retrain's new rows judge.")
    else:
        said = ""
    new_rate, fixed_rate = disagrees
    if new_rate is not None:
        said += f" The model in use disagrees with {new_rate:.0%} of your new labels"
        if fixed_rate is not None:
            said += f", against {fixed_rate:.0%} on the fixed holdout"
            if new_rate > fixed_rate + 0.05:
                said += f": {LABELS_DOUBT}"
        said += "."
    if n_review:
        one = n_review == 1
        said += (f" {rows_words(n_review)} both models call otherwise {'is' if one else 'are'} "
                 f"listed to check: {review_file}. Correct the wrong labels and add those rows to the next retrain's "
                 "new rows.")
    return head + said


def _reporter(on_progress: Any) -> Any:
    """``on_progress`` for the whole retrain: the training's own "done" is the challenger's, not
    the job's (the comparison and the versions follow), so it is told as "trained"."""
    from dataclasses import replace

    def report(event: Any) -> None:
        if on_progress is None:
            return
        if event.phase == "done":
            event = replace(event, phase=TRAINED_PHASE, message="The challenger is trained; the comparison is next")
        on_progress(event)

    return report


def _keep(folder: Path, result: Any, record: dict[str, Any], promoted: bool, holdout: pd.DataFrame,
          words: Any, n_holdout: int, review: pd.DataFrame | None = None) -> tuple[str, str, str]:
    """Write the outcome: promoted, the model in use moves to versions/ and the challenger takes its
    place; not promoted, the challenger is saved under versions/. Either way the fixed holdout stays
    as it was (its first ``n_holdout`` comparison rows, as holdout.csv, owner-only: customer text; an
    existing holdout.csv is copied byte for byte); only a model without one (``n_holdout`` 0) takes a
    promotion's ``holdout`` (its new comparison rows less the suspect ones). ``words(current, challenger)``:
    the outcome's sentence once the numbers are given (here, under the lock). ``review``: the new
    comparison rows both models call otherwise (:func:`suspected_label_errors`), added to the model's
    HOLDOUT_REVIEW on every retrain (None: none). Returns (the version written under versions/, the
    version in use now, the sentence)."""
    import shutil
    import tempfile

    with folder_lock(folder):
        current = version_name(folder) or _next_version(folder)  # numbered once: the first retrain's is v1
        challenger = _next_version(folder, current)
        version = challenger if not promoted else current
        sentence = words(current, challenger)
        record = {**record, "sentence": sentence}
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.challenger-", dir=folder.parent))
        in_use = challenger if promoted else current
        try:
            saved = result.save(staging / "model")
            with atomic_folder(folder, overwrite=True) as tmp:
                if promoted:
                    copy_tree(saved, tmp)
                    copy_tree(folder, tmp / VERSIONS / version, skip=VERSIONS)
                    if (folder / VERSIONS).is_dir():
                        copy_tree(folder / VERSIONS, tmp / VERSIONS)
                    status = {"status": REPLACED, "set_aside": time.time()}
                else:
                    copy_tree(folder, tmp)
                    copy_tree(saved, tmp / VERSIONS / version)
                    status = {"status": NOT_PROMOTED}
                # Each side carries its outcome in its own files (COMPARISON_FILE): it travels with the model.
                write_json(tmp / VERSIONS / version / VERSION_FILE, {**record, **status})
                write_json(tmp / VERSIONS / version / COMPARISON_FILE, {**record, "outcome": status["status"]})
                write_json(tmp / COMPARISON_FILE, {**record, "outcome": PROMOTED if promoted else KEPT_OVER,
                                                   "compared_kind": read_json(tmp / MANIFEST).get("kind")})
                _name(tmp, in_use)
                _name(tmp / VERSIONS / version, version)
                if promoted:
                    _add_event(tmp, f"{challenger} (a challenger) was promoted in place of {current}",
                               action="promoted", in_use=challenger, kept=current)
                    outcome = f"{challenger} promoted in place of {current}"
                else:
                    _add_event(tmp, f"{challenger} (a challenger) was not promoted; {current} stays in use",
                               action="kept", in_use=current, kept=challenger)
                    outcome = f"{challenger} not promoted, {current} stays"
                # The fixed holdout stays as it was (written down, so a rollback keeps these very rows):
                # the new rows judged this comparison only.
                if n_holdout:
                    _keep_holdout(tmp, folder, holdout.iloc[:n_holdout])
                elif promoted and len(holdout):  # no fixed holdout yet: the new rows less the suspect ones become it
                    _write_holdout(tmp, holdout)
                if review is not None and len(review):
                    _add_review(tmp, folder, review.assign(retrain=f"{outcome}, {time.strftime('%Y-%m-%d %H:%M')}"))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return version, in_use, sentence


def _write_holdout(folder: Path, holdout: pd.DataFrame, name: str = HOLDOUT) -> None:
    """``holdout`` as ``folder/name`` (HOLDOUT, or HOLDOUT_REVIEW), owner-only: customer text."""
    path = folder / name
    path.unlink(missing_ok=True)  # a hard-linked copy is never written through
    path.touch(mode=0o600)
    holdout.to_csv(path, index=False)


def _keep_holdout(tmp: Path, folder: Path, rows: pd.DataFrame) -> None:
    """The fixed holdout in ``tmp`` (the folder being built): ``folder``'s holdout.csv byte for byte when
    it has one, else ``rows`` (its test split's) written as HOLDOUT."""
    import shutil

    if (folder / HOLDOUT).is_file():
        (tmp / HOLDOUT).unlink(missing_ok=True)  # a hard-linked copy is never written through
        shutil.copyfile(folder / HOLDOUT, tmp / HOLDOUT)
        (tmp / HOLDOUT).chmod(0o600)
    else:
        _write_holdout(tmp, rows)


def _add_review(tmp: Path, folder: Path, review: pd.DataFrame) -> None:
    """The model's HOLDOUT_REVIEW in ``tmp`` (the folder being built): the rows ``folder``'s already
    lists (earlier promotions' rows, not checked yet as far as anyone knows), then ``review``."""
    before = review_rows(folder)
    frame = pd.concat([before, review[list(REVIEW_COLUMNS)]], ignore_index=True) if len(before) else review
    _write_holdout(tmp, frame[list(REVIEW_COLUMNS)], HOLDOUT_REVIEW)


def review_rows(folder: str | Path) -> pd.DataFrame:
    """The new labelled rows both models called otherwise in the retrains of the model in ``folder``,
    for a person to check (HOLDOUT_REVIEW; REVIEW_COLUMNS), empty when none: the Models page shows
    and offers them."""
    path = Path(folder) / HOLDOUT_REVIEW
    if not path.is_file():
        return pd.DataFrame(columns=list(REVIEW_COLUMNS))
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)


# The outcomes of a model that lost its latest comparison: a challenger that scored worse, or a
# model a better challenger replaced (list_versions' "outcome", wherever the model has been since).
LOST = {NOT_PROMOTED: "was not promoted: it scored worse than the model then in use",
        REPLACED: "was replaced: a challenger scored better"}


@dataclass
class RollbackRisk:
    """What putting a kept version back would mean, said before it is done (:func:`rollback_risk`)."""

    version: str
    lost: bool  # it lost its comparison (LOST): the page and the CLI ask to confirm
    sentence: str  # for people: how it lost, and its score against the model in use on the same rows
    comparison: dict[str, Any] | None  # compare_on_rows of the version (a) vs the model in use (b); None: no rows


def rollback_risk(folder: str | Path, version: str) -> RollbackRisk:
    """Score ``version`` and the model in use in ``folder`` on the same rows - the fixed holdout
    of the model in use (:func:`holdout_path`: rows no kept version trained on, fixed across
    retrains) - with the comparison's rule (macro-F1, paired bootstrap), and say whether
    the version lost its latest comparison (:func:`carried_comparison`, through any rollbacks
    since). Raises ValueError for a version not kept.
    Loads both models and predicts the holdout: seconds for a small model on a laptop CPU."""
    from .evaluation import compare_on_rows, lead_in_words, points_text
    from .models import load_folder

    folder = Path(folder)
    kept = {v["version"]: v for v in list_versions(folder)}
    if version not in kept:
        raise ValueError(f"{folder.name} keeps no version {version!r}; kept: {', '.join(kept) or 'none'}.")
    info = kept[version]
    how = LOST.get(str(info.get("outcome")))
    then = (info.get("comparison") or {}).get("delta")
    then = "" if then is None else f" ({points_text(then, 'classification')} of macro-F1 for the challenger then)"
    since = "" if info.get("status") in OUTCOMES or not info.get("status") else f"; since then: {info['status']}"
    said = f"{version} {how}{then}{since}." if how else f"{version}: {info.get('status') or 'a kept version'}."
    path = holdout_path(folder)
    if path is None:
        return RollbackRisk(version, bool(how), f"{said} There are no rows both can be scored on now.", None)
    rows = pd.read_csv(path, keep_default_na=False, na_values=[""])
    texts, truth = rows["text"].astype(str).tolist(), rows["true_label"].astype(str).to_numpy(dtype=object)
    pred_version = np.asarray([str(v) for v in load_folder(folder / VERSIONS / version).predict(texts)], dtype=object)
    pred_current = np.asarray([str(v) for v in load_folder(folder).predict(texts)], dtype=object)
    classes = sorted(set(truth) | set(pred_version) | set(pred_current))
    comparison = compare_on_rows("classification", truth, pred_version, pred_current, classes, seed=COMPARE_SEED)
    scores = (f"On the {len(texts):,} rows of the fixed holdout it scores macro-F1 {comparison['a']:.3f} against "
              f"{comparison['b']:.3f} for the model in use: {lead_in_words(comparison, 'classification', 'shared')}.")
    return RollbackRisk(version, bool(how), f"{said} {scores}", comparison)


def rollback(folder: str | Path, version: str | None = None, *, dry_run: bool = False) -> str:
    """Put ``version`` (default: the newest kept version that was in use before: replaced by a
    challenger, or rolled back from) back in place; the model in use becomes a new version; each
    carries its latest comparison (COMPARISON_FILE) along. Returns the version put in place
    (``dry_run``: the one that would be, nothing changed). ValueError naming the kept versions
    otherwise. A version that lost its comparison is put back all the same: the page and the CLI
    say so first (:func:`rollback_risk`) and ask."""
    folder = Path(folder)
    kept = list_versions(folder)
    if version is None:
        version = previous_version(folder, kept)
        if version is None:
            found = ", ".join(f"{v['version']} ({v.get('status') or 'kept'})" for v in kept) or "none"
            raise ValueError(f"{folder.name} keeps no version that was in use before (kept: {found}); name the "
                             "version to put back.")
    if version not in {v["version"] for v in kept}:
        found = ", ".join(v["version"] for v in kept) or "none"
        raise ValueError(f"{folder.name} keeps no version {version!r}; kept: {found}.")
    if dry_run:
        return version
    with folder_lock(folder):
        aside = version_name(folder) or _next_version(folder)  # the model in use keeps its number, kept now
        with atomic_folder(folder, overwrite=True) as tmp:
            carried = carried_comparison(folder / VERSIONS / version)  # read before its version.json goes
            copy_tree(folder / VERSIONS / version, tmp)
            (tmp / VERSION_FILE).unlink(missing_ok=True)
            _name(tmp, version)  # a version kept before names were: its folder's name is its name
            if carried is not None and not (tmp / COMPARISON_FILE).is_file():  # kept before the file existed
                write_json(tmp / COMPARISON_FILE, {k: v for k, v in carried.items() if k != "status"})
            if (folder / HOLDOUT).is_file():  # the fixed holdout stays fixed, whichever version is in place
                _write_holdout(tmp, pd.read_csv(folder / HOLDOUT, keep_default_na=False, na_values=[""]))
            # So do the rows set aside from it for review: the version put back carries its own older copy.
            (tmp / HOLDOUT_REVIEW).unlink(missing_ok=True)
            if (folder / HOLDOUT_REVIEW).is_file():
                _write_holdout(tmp, review_rows(folder), HOLDOUT_REVIEW)
            copy_tree(folder / VERSIONS, tmp / VERSIONS, skip=version)  # in place now, not kept twice
            copy_tree(folder, tmp / VERSIONS / aside, skip=VERSIONS)
            write_json(tmp / VERSIONS / aside / VERSION_FILE, {"status": f"{ROLLED_BACK} from {aside} to {version}",
                                                               "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                                               "set_aside": time.time()})
            _name(tmp / VERSIONS / aside, aside)
            _add_event(tmp, f"rolled back from {aside} to {version}: {version} is in use, {aside} is kept",
                       action="rolled back", in_use=version, kept=aside)
    return version


def previous_version(folder: str | Path, kept: list[dict[str, Any]] | None = None) -> str | None:
    """The kept version that was in use just before the model in use: the one set aside last (by
    when: numbers are given once, in order of birth, so the highest may be a challenger that lost),
    among those a promotion replaced or a rollback set aside. None when no kept version was ever in
    use. :func:`rollback`'s default, and the Versions tab's first choice. ``kept``: :func:`list_versions`
    of ``folder`` when the caller has it already (read otherwise)."""
    kept = list_versions(folder) if kept is None else kept
    in_use_before = [v["version"] for v in sorted(kept, key=lambda v: v.get("set_aside", 0))
                     if v.get("status") == REPLACED or str(v.get("status", "")).startswith((ROLLED_BACK, OLD_ROLLED_BACK))]
    return in_use_before[-1] if in_use_before else None


def choose(folder: str | Path, kind: str, *, by: str = "person") -> str:
    """Put the candidate ``kind`` kept with the model in ``folder`` in front ("Use ... instead",
    ``python -m core choose``; core.models.candidates.switch_candidate), the model in front among
    the candidates; the model's own files (MODEL_FILES: its versions, fixed holdout, scoring history
    and version number) stay where they are, and the swap is an event of its history, written in
    the same atomic replace (in words: :func:`swap_sentence`). Returns the kind put aside.
    ValueError naming the kept kinds."""
    from .models.candidates import switch_candidate

    folder = Path(folder)

    def record(tmp: Path, aside: str) -> None:
        fields = {"in_use": version_name(tmp) or "", "candidate": kind, "kept_candidate": aside}
        _add_event(tmp, swap_sentence(tmp, fields), action="swapped", **fields)

    return switch_candidate(folder, kind, by=by, stay=MODEL_FILES, also=record)


def versions_in_words(folder: str | Path, kind_names: Mapping[str, str] | None = None) -> list[str]:
    """What ``python -m core versions`` prints: one line per version, the one in use first, then the
    kept ones newest first (what happened, when, the rows its challenger trained on), then the
    history, oldest first, with times as people read them. ``kind_names``: how a version's kind is
    named (core.registry.KIND_NAMES; core.registry sits above this module)."""
    names = kind_names or {}

    def when(entry: dict[str, Any]) -> str:
        stamp = entry.get("set_aside")
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else readable_time(entry.get("at"))

    def trained(entry: dict[str, Any]) -> str:
        if isinstance(entry.get("trained"), dict):  # its own split sizes (trained_rows)
            return f" The challenger of that comparison {trained_in_words(entry['trained'])}."
        n = entry.get("n_trained")  # a retrain of an older release: the rows it was given, split again
        return (f" The challenger of that comparison was given {n:,} rows to learn from (some of them chose its "
                "settings and checked it)." if isinstance(n, int) else "")

    current = in_use(folder)
    lines = [f"{current['version'] or '(unnumbered)'}  in use  {names.get(current['kind'], current['kind'])}, "
             f"saved {readable_time(current.get('saved_at'))}." + (f" {current['own_words']}" if current["own_words"] else "")
             + trained(current)]
    for v in reversed(list_versions(folder)):
        lines.append(f"{v['version']}  {v.get('status') or 'kept'} ({when(v) or 'time not recorded'})  "
                     f"{names.get(v.get('kind'), v.get('kind'))}, saved {readable_time(v.get('saved_at'))}."
                     + (f" {v['own_words']}" if v["own_words"] else "") + trained(v))
    events = history_events(folder)
    if events:
        lines += ["", "history:"] + [f"  {readable_time(e.get('at'))}  {e.get('event', '')}" for e in events]
    return lines


def readable_time(stamp: Any) -> str:
    """"2026-12-07 01:58" from an ISO time ("2026-12-07T01:58:57+0000", as the files keep it); as is otherwise.
    The CLI's ``versions`` and the Models page's Versions table and History say times so."""
    text = str(stamp or "")
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10:11] == "T" else text
