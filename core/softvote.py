"""The soft-vote candidates of the leaderboard (core.pipeline): TF-IDF's and the embeddings' class
probabilities averaged (scikit-learn's ``VotingClassifier(voting="soft")`` semantics, equal weights),
and, once the fine-tune has run, the same vote with the fine-tuned transformer as a third member.

It fits nothing of its own: :func:`combine` takes the two candidates that already ran (TF-IDF + LR
and frozen-encoder embeddings + LR), averages the probabilities they already gave on the same
validation and test rows (or, on small data, the same out-of-fold rows, core.small_data), and scores
that; its leaderboard time is theirs. The choice rule then treats it as any other candidate
(core.pipeline.choose_leader: it runs after its members, so it must beat the leader by more than
the tie margin; the vote with the fine-tune, which averages the leader's own models with one more,
needs only to score higher than a leader other than TF-IDF: core.pipeline.adds_to). When it is chosen, :func:`refit_vote` refits the cheap members on train +
validation as the embedding candidate's own refit does (core.pipeline refits the fine-tuned member
as it refits a chosen fine-tune), and the test rows stay held out.

Why: issue 28 (2,000 Chinese reviews): the mean of character TF-IDF + LR's and frozen e5 + LR's
probabilities scored above e5 + LR alone out of fold on every seed and +3.9 points over character
TF-IDF held out on average (docs/measurements.md). The vote with the fine-tune (``softvote_ft``):
the fine-tune's validation score on ~200 rows swings by several points from run to run, so the
choice between it and the soft vote was a coin toss that decided the Chinese result (round 11:
the fine-tune 2.2 points behind on validation, 0.8 ahead on 1,000 held-out reviews); averaging all
three scored within 0.2 points of the best single candidate held out on each seed measured
(docs/measurements.md "Round 12: the soft vote with the fine-tune"). The saved kind of both is
core.models.softvote (its marketune.json names the members).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import TrainConfig
from .evaluation import classification_metrics, fold_spread, score_predictions, tfidf_estimator
from .models.softvote import WITH_FINE_TUNE, SoftVoteClassifier  # WITH_FINE_TUNE: the candidate run after the fine-tune
from .models.tfidf import TfidfClassifier
from .prepare import Prepared
from .progress import Cancel, Events
from .result import Fitted

KIND = "softvote"
MEMBERS = ("tfidf", "embedding")  # the candidates it averages, in the order they vote
VOTES = {KIND: MEMBERS, WITH_FINE_TUNE: (*MEMBERS, "transformer")}


def skip_reason(prepared: Prepared, embedding_runs: bool, kind: str = KIND, fine_tune_runs: bool = True) -> str:
    """Why the vote ``kind`` does not run on this data ("" when it does): it averages one class per
    row's probabilities, and needs the embedding candidate (and, with the fine-tune, the fine-tune)."""
    if kind == WITH_FINE_TUNE and not fine_tune_runs:
        return "Averages the fine-tune with the soft vote's members; the fine-tune does not run here."
    if not prepared.classification:
        return "Soft voting averages class probabilities; this task predicts a number."
    if prepared.multi_label:
        return ("Not built for several tags per row: its members' per-tag thresholds would have to be chosen again "
                "for the averaged probabilities.")
    if not embedding_runs:
        return "Needs the frozen-encoder embeddings candidate, which does not run here."
    return ""


def combine(fitted: dict[str, Fitted], prepared: Prepared, folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
            kind: str = KIND) -> Fitted:
    """The vote ``kind`` of its members (VOTES: ``fitted["tfidf"]``, ``fitted["embedding"]`` and,
    with the fine-tune, ``fitted["transformer"]``) as a finished candidate.

    ``prepared``: the rows the candidates are scored on (core.pipeline's view); its validation and
    test rows get the mean of the members' probabilities there (``Scored.proba``, (m, k) each), so
    no text is read again. ``folds`` (small data): the folds the members were cross-validated on,
    for the fold spread. The model is the vote of the members' models as they are (on small data
    their all-rows copies, which is then also its refit). Raises ``ValueError`` when a member did
    not finish (failed or skipped), naming it.
    """
    started = time.monotonic()
    missing = [k for k in VOTES[kind] if k not in fitted]
    if missing:
        raise ValueError(f"the soft vote needs {' and '.join(missing)}, which did not finish.")
    members = {k: fitted[k] for k in VOTES[kind]}
    # The run's settings as its last member records them (the embedding candidate's "method" "embedding",
    # the fine-tune's "full" or "lora"): a retrain runs the same leaderboard, this vote included.
    vote = SoftVoteClassifier({k: f.model for k, f in members.items()}, schema=prepared.schema,
                              training_config=dict(members[VOTES[kind][-1]].model.training_config))
    val = _mean_scored(prepared, [f.val for f in members.values()], vote.weights, "validation")
    test = _mean_scored(prepared, [f.test for f in members.values()], vote.weights, "test")
    facts: dict[str, Any] = {"voting": "soft", "members": list(members), "weights": [float(w) for w in vote.weights],
                             "tfidf_param": fitted["tfidf"].facts.get("param", 1.0)}
    if "transformer" in members:  # what core.pipeline's refit of the fine-tuned member plans from
        tuned = members["transformer"]
        facts["fine_tune"] = {**{k: tuned.facts.get(k) for k in ("stopped_reason", "best_step", "steps", "total_steps")},
                              "seconds": tuned.seconds}
    refitted = None
    if prepared.out_of_fold and folds is not None:
        facts["cv"] = {"k": len(folds), "folds": [{"n_train": int(len(t)), "n_test": int(len(s))} for t, s in folds],
                       "model": fold_spread([classification_metrics(prepared.labels[s], val.pred[s], prepared.classes, val.proba[s])
                                             for _, s in folds])}
        refitted = {**(fitted["embedding"].refitted or {}), "model": vote, "test": None}
    # Its cost on the leaderboard: both members' fits (nothing is fitted again) and the averaging.
    seconds = sum(f.seconds for f in members.values()) + time.monotonic() - started
    return Fitted(kind, vote, val, test, seconds, facts=facts, refitted=refitted)


def _mean_scored(prepared: Prepared, scored: list[Any], weights: np.ndarray, side: str) -> Any:
    positions = prepared.splits[side]
    proba = sum(w * s.proba for w, s in zip(weights, scored))
    pred = np.asarray(prepared.classes, dtype=object)[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)
    return score_predictions(prepared, positions, pred, proba)


def refit_vote(more: Prepared, config: TrainConfig, chosen: Fitted, events: Events, cancel: Cancel,
               fine_tune: Any = None) -> SoftVoteClassifier:
    """The chosen vote with its cheap members refitted on ``more.splits["train"]`` (train +
    validation): TF-IDF + LR with the C chosen on validation, the embeddings + LR by
    core.embedding.fit_embedding (its C by cross-validation on those rows, as its own refit). A
    vote with the fine-tune takes ``fine_tune`` (its refitted transformer, core.pipeline) as that
    member, or keeps the one fitted on the training rows when None."""
    from .embedding import fit_embedding

    train = more.splits["train"]
    param = float(chosen.facts.get("tfidf_param", 1.0))
    pipeline = tfidf_estimator(more.task, param).fit(more.texts_at(train), more.labels[train])
    tfidf = TfidfClassifier.from_pipeline(pipeline, task=more.task, classes=more.classes, schema=more.schema,
                                          training_config=more.training_config(config))
    embedding = fit_embedding(more, config, events.emit, cancel)
    members: dict[str, Any] = {"tfidf": tfidf, "embedding": embedding}
    if "transformer" in chosen.facts.get("members", ()):
        members["transformer"] = fine_tune if fine_tune is not None else chosen.model.members["transformer"]
    last = members[list(members)[-1]]  # whose settings the vote records, as combine
    return SoftVoteClassifier(members, weights=chosen.facts.get("weights"), schema=more.schema,
                              training_config=dict(last.training_config))
