"""The soft-vote candidate of the leaderboard (core.pipeline): TF-IDF's and the embeddings' class
probabilities averaged (scikit-learn's ``VotingClassifier(voting="soft")`` semantics, equal weights).

It fits nothing of its own: :func:`combine` takes the two candidates that already ran (TF-IDF + LR
and frozen-encoder embeddings + LR), averages the probabilities they already gave on the same
validation and test rows (or, on small data, the same out-of-fold rows, core.small_data), and scores
that; its leaderboard time is theirs. The choice rule then treats it as any other candidate
(core.pipeline.choose_leader: it runs after both members, so it must beat the leader by more than
the tie margin). When it is chosen, :func:`refit_vote` refits both members on train + validation
as the embedding candidate's own refit does, and the test rows stay held out.

Why: issue 28 (2,000 Chinese reviews): the mean of character TF-IDF + LR's and frozen e5 + LR's
probabilities scored above e5 + LR alone out of fold on every seed and +3.9 points over character
TF-IDF held out on average (docs/measurements.md). The saved kind is core.models.softvote.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import TrainConfig
from .evaluation import classification_metrics, fold_spread, score_predictions, tfidf_estimator
from .models.softvote import SoftVoteClassifier
from .models.tfidf import TfidfClassifier
from .prepare import Prepared
from .progress import Cancel, Events
from .result import Fitted

KIND = "softvote"
MEMBERS = ("tfidf", "embedding")  # the candidates it averages, in the order they vote


def skip_reason(prepared: Prepared, embedding_runs: bool) -> str:
    """Why the soft vote does not run on this data ("" when it does): it averages one class per
    row's probabilities, and needs the embedding candidate."""
    if not prepared.classification:
        return "Soft voting averages class probabilities; this task predicts a number."
    if prepared.multi_label:
        return ("Not built for several tags per row: its members' per-tag thresholds would have to be chosen again "
                "for the averaged probabilities.")
    if not embedding_runs:
        return "Needs the frozen-encoder embeddings candidate, which does not run here."
    return ""


def combine(fitted: dict[str, Fitted], prepared: Prepared, folds: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Fitted:
    """The soft vote of ``fitted["tfidf"]`` and ``fitted["embedding"]`` as a finished candidate.

    ``prepared``: the rows the candidates are scored on (core.pipeline's view); its validation and
    test rows get the mean of the members' probabilities there (``Scored.proba``, (m, k) each), so
    no text is read again. ``folds`` (small data): the folds the members were cross-validated on,
    for the fold spread. The model is the vote of the members' models as they are (on small data
    their all-rows copies, which is then also its refit). Raises ``ValueError`` when a member did
    not finish (failed or skipped), naming it.
    """
    started = time.monotonic()
    missing = [kind for kind in MEMBERS if kind not in fitted]
    if missing:
        raise ValueError(f"the soft vote needs {' and '.join(missing)}, which did not finish.")
    members = {kind: fitted[kind] for kind in MEMBERS}
    # The run's settings as the embedding candidate records them ("method" "embedding": a retrain
    # runs the same leaderboard, this vote included).
    vote = SoftVoteClassifier({kind: f.model for kind, f in members.items()}, schema=prepared.schema,
                              training_config=dict(fitted["embedding"].model.training_config))
    val = _mean_scored(prepared, [f.val for f in members.values()], vote.weights, "validation")
    test = _mean_scored(prepared, [f.test for f in members.values()], vote.weights, "test")
    facts: dict[str, Any] = {"voting": "soft", "members": list(MEMBERS), "weights": [float(w) for w in vote.weights],
                             "tfidf_param": fitted["tfidf"].facts.get("param", 1.0)}
    refitted = None
    if prepared.out_of_fold and folds is not None:
        facts["cv"] = {"k": len(folds), "folds": [{"n_train": int(len(t)), "n_test": int(len(s))} for t, s in folds],
                       "model": fold_spread([classification_metrics(prepared.labels[s], val.pred[s], prepared.classes, val.proba[s])
                                             for _, s in folds])}
        refitted = {**(fitted["embedding"].refitted or {}), "model": vote, "test": None}
    # Its cost on the leaderboard: both members' fits (nothing is fitted again) and the averaging.
    seconds = sum(f.seconds for f in members.values()) + time.monotonic() - started
    return Fitted(KIND, vote, val, test, seconds, facts=facts, refitted=refitted)


def _mean_scored(prepared: Prepared, scored: list[Any], weights: np.ndarray, side: str) -> Any:
    positions = prepared.splits[side]
    proba = sum(w * s.proba for w, s in zip(weights, scored))
    pred = np.asarray(prepared.classes, dtype=object)[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)
    return score_predictions(prepared, positions, pred, proba)


def refit_vote(more: Prepared, config: TrainConfig, chosen: Fitted, events: Events, cancel: Cancel) -> SoftVoteClassifier:
    """The chosen soft vote with both members refitted on ``more.splits["train"]`` (train +
    validation): TF-IDF + LR with the C chosen on validation, the embeddings + LR by
    core.embedding.fit_embedding (its C by cross-validation on those rows, as its own refit)."""
    from .embedding import fit_embedding

    train = more.splits["train"]
    param = float(chosen.facts.get("tfidf_param", 1.0))
    pipeline = tfidf_estimator(more.task, param).fit(more.texts_at(train), more.labels[train])
    tfidf = TfidfClassifier.from_pipeline(pipeline, task=more.task, classes=more.classes, schema=more.schema,
                                          training_config=more.training_config(config))
    embedding = fit_embedding(more, config, events.emit, cancel)
    return SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, weights=chosen.facts.get("weights"),
                              schema=more.schema, training_config=dict(embedding.training_config))
