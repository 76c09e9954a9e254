"""What a saved model's candidates are and how they compare, in numbers and in words.

Training keeps the model it did not choose inside the saved folder (core.models.candidates);
this module reads the run's verdict to say, for the model in place and each kept candidate, its
validation and test scores and how far it leads or trails the other ("6.0 points behind on 147
validation rows; within noise (...)"), and whether a person chose the model in place over the
rule's choice. The pages and ``python -m core choose`` say the same from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluation import MODEL_NAMES, cross_validated_folds, headline, lead_in_words, settings_kept_over
from .models.candidates import CANDIDATES, CHOICE, kept_kinds, kind_of_verdict_name, leaderboard_kind, rule_kind
from .models.folder import MANIFEST, METRICS, read_json

# The leaderboard's note on a finished candidate that is not the leader starts so (core.pipeline).
# Not "Not saved": the job keeps it beside the model in place (the Candidates list's "Use ...
# instead"). Not "Kept" either: a candidate that finished after the last save of a job cancelled
# or stopped before its end is in no folder.
NOT_IN_PLACE = "Not put in place: "
# Its note once a person put it in place (core.versions.choose): the note written at training time
# argues why it was not put in place, which the "in use" mark beside it now contradicts.
CHOSEN_NOTE = "Now in use: you chose it instead of the leader."


# The leader's note while the run goes on (core.pipeline). Once the run ended, or after a person put
# another candidate in place, "so far" read as a run still going (walk r13): board_note says which.
BEST_SO_FAR_NOTE = "The best so far."


def board_note(row: dict[str, Any], in_use: bool, *, ended: bool = False, other_in_use: bool = False) -> str:
    """The note a leaderboard row shows: its own (core.pipeline); :data:`CHOSEN_NOTE` for a row that
    is not the leader but is the model in use (only a person's choice puts one there); for the
    leader's "The best so far.", that a person put another in place (``other_in_use``) or, the run
    having ``ended``, that the rule put it in place."""
    note = str(row.get("note") or "")
    if in_use and not row.get("leader"):
        return CHOSEN_NOTE
    if row.get("leader") and note == BEST_SO_FAR_NOTE:
        if other_in_use:
            return "The best: the rule's choice, but you put another candidate in place."
        if ended:
            return "The best: the rule put it in place."
    return note


@dataclass(frozen=True)
class Candidate:
    """One model of a run: the one in place or a kept candidate."""

    kind: str  # folder kind: "transformer", "tfidf", "fewshot"
    name: str  # for people, inside a sentence: "the fine-tuned transformer"
    title: str  # at the start of one: "The fine-tuned transformer"
    in_place: bool  # True: the model every page and the CLI predict with
    metric: str  # "macro-F1" or "R²"
    validation: float | None  # its score on the validation rows (None: not compared there)
    test: float | None  # its score on the held-out test rows
    lead: str  # against the other candidate, on the rows the rule chose on, in words ("" if unknown)
    path: Path
    folds: int = 0  # k when the run was k-fold cross-validated (small data): both scores are then out-of-fold; 0: a split

    def scores(self, mark: str = "") -> list[str]:
        """Its scores in words, each number between two ``mark`` (the pages' "**" sets it in bold):
        ["validation macro-F1 0.812", "test macro-F1 0.790"], those recorded. A cross-validated run
        has no validation or test rows: its one score is out-of-fold, ["cross-validated macro-F1 0.812 (5 folds)"]."""
        if self.folds:
            score = self.test if self.test is not None else self.validation
            return [] if score is None else [f"cross-validated {self.metric} {mark}{score:.3f}{mark} ({self.folds} folds)"]
        return [f"{where} {self.metric} {mark}{value:.3f}{mark}" for where, value in (("validation", self.validation),
                                                                                    ("test", self.test)) if value is not None]

    def line(self) -> str:
        """One line for the CLI: its name as the pages say it, place, the kind ``choose MODEL KIND``
        takes, :meth:`scores` and the lead: "The few-shot model (kept) [kind: fewshot]  validation ..."."""
        place = "in place" if self.in_place else "kept"
        return "  ".join([f"{self.title} ({place}) [kind: {self.kind}]", *self.scores(), self.lead]).rstrip()


def fitted_on(candidate: Candidate) -> str:
    """The rows ``candidate``'s saved copy was fitted on, in words, from its own metrics.json:
    "retrained on 1,600 labelled rows after the comparison" (core.pipeline's refit of the model in
    place), "retrained on all 2,000 labelled rows ..., its 400 test rows included (...)" (TF-IDF, in
    place or kept, is refitted on every labelled row: core.result.tfidf_refit) or "fitted on the 1,400 training rows only, as
    the comparison left it" (a kept candidate: core.result keeps it as the leaderboard fitted it);
    "" for a cross-validated run (every candidate's copy is fitted on every row) or unknown rows."""
    metrics = read_json(candidate.path / METRICS) if (candidate.path / METRICS).is_file() else {}
    refit, sizes = metrics.get("refit"), metrics.get("split_sizes") or {}
    train, test = int(sizes.get("train") or 0), int(sizes.get("test") or 0)
    if candidate.folds:
        return ""
    if isinstance(refit, dict) and refit.get("rows"):
        rows = int(refit["rows"])
        if test and rows >= sum(int(v or 0) for v in sizes.values()):  # TF-IDF's refit (core.result.tfidf_refit)
            return (f"retrained on all {rows:,} labelled rows after the comparison, its {test:,} test rows included "
                    f"(its test numbers are those of its copy fitted on the {train:,} training rows)")
        return f"retrained on {rows:,} labelled rows after the comparison"
    return f"fitted on the {train:,} training rows only, as the comparison left it" if train else ""


def kind_name(kind: str, task: str) -> str:
    """"the fine-tuned transformer", "TF-IDF + logistic regression" (ridge for regression), ..."""
    key = ("tfidf_lr" if task == "classification" else "tfidf_ridge") if kind == "tfidf" else kind
    return MODEL_NAMES.get(key, kind)


def kept_over(fitted: dict[str, Any], leader: str, task: str, names: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The best-scoring candidate more than the tie margin above ``leader`` on the same validation
    rows (core.evaluation.settings_kept_over), for a leader the settings keep: ``fitted`` maps kind
    to a fitted candidate (``.score(task)``); ``names`` overrides :func:`kind_name` for some kinds.
    The verdict (core.result, core.multilabel_training) and the leaderboard's note (core.pipeline)
    name the same one through it."""
    return settings_kept_over({k: f.score(task) for k, f in fitted.items()}, leader,
                              {k: (names or {}).get(k) or kind_name(k, task) for k in fitted})


def kind_title(kind: str, task: str) -> str:
    """:func:`kind_name` at the start of a sentence: "The fine-tuned transformer"."""
    name = kind_name(kind, task)
    return name[0].upper() + name[1:]


def candidates_of(folder: str | Path) -> list[Candidate]:
    """The model in place in ``folder`` first, then each kept candidate (``[]`` for a folder that
    keeps none). Scores come from the run's verdict (validation and test rows of one split)."""
    folder = Path(folder)
    kept = kept_kinds(folder)
    if not kept:
        return []
    metrics = read_json(folder / METRICS)
    in_place = leaderboard_kind(read_json(folder / MANIFEST))
    found = [_candidate(in_place, metrics, folder, True)]
    return found + [_candidate(kind, metrics, folder / CANDIDATES / kind, False) for kind in kept]


def _candidate(kind: str, metrics: dict[str, Any], path: Path, in_place: bool) -> Candidate:
    task = metrics.get("task", "classification")
    verdict = metrics.get("verdict") or {}
    side = {kind_of_verdict_name(verdict.get("candidate")): "a", kind_of_verdict_name(verdict.get("alternative")): "b"}.get(kind)
    basis = verdict.get("chosen_on", "validation")
    # Out of fold (core.small_data): the comparison chosen on is kept as the verdict's "validation" one.
    compared = verdict.get("validation" if basis == "out-of-fold" else basis)
    lead = ""
    if side and isinstance(compared, dict) and compared.get("n"):
        # Named: in a list of several candidates "10.1 points ahead" did not say of which (walk r13).
        other = kind_of_verdict_name(verdict.get("alternative" if side == "a" else "candidate"))
        lead = f"against {kind_name(other or '?', task)}: {lead_in_words(_seen_from(compared, side), task, basis)}"
    validation, test = _score(verdict.get("validation"), side), _score(verdict.get("test"), side)
    if side is None:  # a third candidate, not in the verdict's pair: the run's own record of its scores
        # After a swap the model in place is a candidate's own folder, whose metrics.json may not hold the
        # run's record of the others: a kept candidate's own metrics.json has its test numbers ("model").
        own = read_json(path / METRICS) if not in_place and (path / METRICS).is_file() else {}
        validation = _number((metrics.get("validation") or {}).get(kind))
        if validation is None:
            validation = _number((own.get("validation") or {}).get(kind))
        test = _test_headline(metrics["model"] if in_place else (metrics.get("candidates") or {}).get(kind), task)
        if test is None and not in_place:
            test = _test_headline(own.get("model"), task)
    return Candidate(
        kind=kind, name=kind_name(kind, task), title=kind_title(kind, task), in_place=in_place, metric=verdict.get("metric", "macro-F1"),
        validation=validation, test=test, lead=lead, path=path, folds=cross_validated_folds(metrics),
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None


def _test_headline(scores: dict[str, Any] | None, task: str) -> float | None:
    """The headline (core.evaluation.headline) of a candidate's test metrics, None when not recorded."""
    try:
        return _number(headline(scores, task)) if isinstance(scores, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _score(comparison: dict[str, Any] | None, side: str | None) -> float | None:
    if not side or not isinstance(comparison, dict) or not comparison.get("n"):
        return None
    value = comparison.get(side)
    return float(value) if isinstance(value, (int, float)) and value == value else None


def _seen_from(comparison: dict[str, Any], side: str) -> dict[str, Any]:
    """A paired comparison of a minus b, as seen from ``side`` ("b": the difference and its interval turned round)."""
    if side == "a":
        return comparison
    low, high = comparison["ci"]
    # 0.0 - x, not -x: a level comparison must not read "-0.0 points".
    return {**comparison, "a": comparison["b"], "b": comparison["a"], "delta": 0.0 - comparison["delta"],
            "ci": [0.0 - high, 0.0 - low]}


def choice_sentence(metrics: dict[str, Any]) -> str:
    """"You chose TF-IDF + logistic regression (2026-01-02 10:00); the rule had saved the fine-tuned
    transformer: <the rule's reason>" when a person put the model in place over the rule's choice;
    "" otherwise."""
    choice = metrics.get(CHOICE) or {}
    if not choice:
        return ""
    task = metrics.get("task", "classification")
    rule = choice.get("rule_kind") or rule_kind(metrics)
    when = str(choice.get("at", ""))[:16].replace("T", " ")
    reason = (metrics.get("verdict") or {}).get("reason", "")
    chosen = kind_name(choice.get("kind", "?"), task)
    rule_text = f"; the rule had saved {kind_name(rule, task)}" if rule else ""
    return f"You chose {chosen}{f' ({when})' if when else ''}{rule_text}. {reason}".strip()
