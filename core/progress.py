"""What every trainer reports and obeys: progress events, cancellation and the result.

The ground floor of core: it imports nothing else from core (but for the models wing's folder
writer, when a result is saved), so every trainer (core.training, core.fewshot, core.response)
can use it without importing another trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

# metrics.json's marker of a best so far saved while its run goes on (core.pipeline's on_leader
# results carry it, the final result does not): {"job": the training job's id, or None outside a
# job}. A page reads it (core.jobs.best_so_far_job) to say the model may still be replaced, since
# its numbers otherwise read as a finished run's; a job that died leaves it, and says so.
BEST_SO_FAR = "best_so_far"

if TYPE_CHECKING:
    from pathlib import Path

    from .data import MappingReport
    from .models import SavedModel

# Training's phases ("candidates": a change of the leaderboard, core.pipeline: a candidate started,
# finished, was skipped, failed, stopped early or saved, its rows in ``ProgressEvent.leaderboard``);
# the other producers name theirs in their docstrings (core.response, core.predict "predict",
# core.generate "load"/"write"/"score", core.check "check").
PHASES = ("prepare", "candidates", "train", "evaluate", "baselines", "test", "done")
CANDIDATES_PHASE = "candidates"


@dataclass(frozen=True)
class ProgressEvent:
    """What a long run (training, a comparison, a prediction, rewrites, the data check) is doing
    now; training sends one at least per optimizer step and per evaluation. ``fraction``: the share
    done, in [0, 1] (clipped; NaN reads 0), never lower than the one before in the same phase;
    left out, ``step / total_steps`` (0 while nothing is counted, 1 for "done")."""

    phase: str  # training: one of PHASES; other producers: see PHASES' comment
    step: int = 0  # training: optimizer steps done; prediction: rows scored
    total_steps: int = 0  # training: optimizer steps planned; prediction: rows in the file (0: unknown)
    epoch: float = 0.0  # fractional epochs done
    loss: float | None = None  # mean training loss over the recent steps
    metrics: dict[str, Any] = field(default_factory=dict)  # validation (or final test) metrics; other facts of the run
    elapsed_s: float = 0.0  # seconds since the run started
    eta_s: float | None = None  # estimated seconds until the run finishes
    message: str = ""  # a sentence for people
    # The leaderboard so far (core.pipeline): one CandidateRow.to_dict() per candidate, in the
    # order they run (cheapest first); empty for events that are not about the leaderboard.
    leaderboard: tuple[dict[str, Any], ...] = ()
    fraction: float | None = None  # see the class docstring; a float in [0, 1] once built

    def __post_init__(self) -> None:
        fraction = self.fraction
        if fraction is None:
            fraction = self.step / self.total_steps if self.total_steps else float(self.phase == "done")
        fraction = 0.0 if math.isnan(fraction) else float(fraction)
        object.__setattr__(self, "fraction", min(max(fraction, 0.0), 1.0))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


CANDIDATE_STATUSES = ("waiting", "running", "done", "stopped early", "skipped", "failed")


@dataclass(frozen=True)
class CandidateRow:
    """One line of the leaderboard: a candidate model of one training job, as it stands.

    ``score`` is the candidate's validation headline (macro-F1 for classification, R² for
    regression: ``metric`` says which) on ``n_val`` rows, None until it is scored. ``leader``:
    the candidate the choice rule (core.evaluation.better_than) keeps so far; ``saved``: it is
    the model in the job's model folder now, usable on every page and in the CLI while later
    candidates run. ``note`` says in words why a candidate was skipped, stopped early or failed.
    """

    kind: str  # "tfidf", "embedding", "fewshot", "transformer" (core.candidates.kind_name)
    title: str  # for people: "TF-IDF + logistic regression"
    status: str = "waiting"  # one of CANDIDATE_STATUSES
    score: float | None = None
    metric: str = "macro_f1"  # "macro_f1" or "r2"
    n_val: int = 0
    seconds: float | None = None  # wall-clock seconds the candidate took to fit and score
    note: str = ""
    leader: bool = False
    saved: bool = False
    # Small data (core.pipeline.CV_BELOW_ROWS): the cheap candidate's k-fold out-of-fold score on
    # train + validation (cv_n rows), reported beside ``score``; None when not cross-validated.
    cv_score: float | None = None
    cv_n: int = 0
    # The saved leader is being retrained on train + validation (core.pipeline.refit): this copy
    # stays saved and usable until the retrained one replaces it at the end of the job.
    refitting: bool = False
    # Chosen, this candidate is retrained on train + validation after the others (a fine-tune with
    # refit_on_all_rows, the default): said while it runs, so its ETA is not read as the job's end.
    refits: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


ProgressCallback = Callable[[ProgressEvent], None]


class Events:
    """The progress events of one run: each kept in ``history`` and passed on to ``on_progress``
    (when ``report``: under torchrun only rank 0 reports)."""

    def __init__(self, on_progress: ProgressCallback | None = None, *, report: bool = True) -> None:
        self.on_progress, self.report = on_progress, report
        self.history: list[ProgressEvent] = []
        self.restored: list[ProgressEvent] = []  # a resumed run's events from its checkpoint (not sent again)

    def emit(self, event: ProgressEvent) -> None:
        self.history.append(event)
        if self.on_progress is not None and self.report:
            self.on_progress(event)

    @classmethod
    def of(cls, events: Events | ProgressCallback | None) -> Events:
        """``events`` itself, or new Events passing each on to the callback ``events`` (None: to no one)."""
        return events if isinstance(events, Events) else cls(events)


class CancelSignal(Protocol):
    def is_set(self) -> bool: ...


Cancel = CancelSignal | Callable[[], bool] | None  # what the trainers accept as ``cancel``


class TrainingCancelled(Exception):
    """Raised when a cancel signal stopped training; nothing was saved."""


def cancel_check(cancel: Cancel) -> Callable[[], bool]:
    """A no-argument function that says whether ``cancel`` is set: ``cancel`` may be None
    (never), an object with ``is_set()`` (a ``threading.Event``) or a function returning a bool."""
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


@dataclass
class TrainResult:
    """A trained model with its honest evaluation."""

    model: SavedModel  # the model chosen to save
    metrics: dict[str, Any]  # {"model": {...}, "baselines": {...}, "split_sizes": {...}, ...}
    history: list[ProgressEvent]
    report: MappingReport
    warnings: list[str]
    stopped_reason: str  # "completed", "early stopping", "time limit"
    elapsed_s: float
    # The out-of-distribution reference (core.ood.OodReference) of the training texts, or None
    # when it could not be built (too few rows, encoder missing): written into the model folder.
    ood_reference: Any = None
    # The candidates not chosen, kept to be put in place later without retraining (kind -> model,
    # e.g. {"tfidf": TfidfClassifier} beside a saved transformer); each model's metrics are its own.
    alternatives: dict[str, SavedModel] = field(default_factory=dict)

    def note(self, **facts: Any) -> None:
        """Record facts of the whole run (``method_chosen=...``) in the metrics of the model and of
        every kept alternative."""
        for metrics in (self.metrics, *(alternative.metrics for alternative in self.alternatives.values())):
            metrics.update(facts)

    def save(self, folder: str | Path, *, overwrite: bool = False, pause: str = "model-save") -> Path:
        """Write the model folder, each alternative in ``candidates/<kind>/`` and the OOD reference
        into each (core.models.candidates.save_with_candidates: all of it renamed into place at
        once, so a crash leaves the old folder or none); returns the folder. Raises ``ValueError``
        when ``folder`` exists and ``overwrite`` is False. ``pause``: the test hook's name for this
        save (core.models.folder.pause_point; "leader-save" for a best so far)."""
        from .models.candidates import save_with_candidates

        also = self.ood_reference.save if self.ood_reference is not None else None
        return save_with_candidates(self.model, folder, self.alternatives, overwrite=overwrite, also=also, pause=pause)
