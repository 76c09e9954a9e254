"""core/label_errors.py: the planted-flip calibration of a label-error ranking, against truths
the test holds (which rows were flipped; cleanlab's own quality score as the reference ranking)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import hypergeom

from core.label_errors import (
    ALPHA,
    calibrated_ranking,
    chance_p_value,
    plant_class_flips,
    plant_tag_flips,
    precision_words,
    self_confidence_suspicion,
)


def simulated(n: int, n_classes: int, wrong: float, separation: float, seed: int):
    """A label model's view of n rows: each row's true class is known to the test; ``wrong`` of the
    given labels are flipped at random; the model's out-of-fold probabilities depend on the label
    it is trained on through a score per row (a stand-in for cross-fitting: rows whose given label
    matches their features get a high probability of it)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n)
    features = np.eye(n_classes)[truth] * separation + rng.normal(size=(n, n_classes))
    flipped = np.sort(rng.choice(n, round(wrong * n), replace=False))
    given = truth.copy()
    given[flipped] = (truth[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes

    def score(codes: np.ndarray) -> np.ndarray:
        logits = features - features.max(axis=1, keepdims=True)
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return self_confidence_suspicion(codes, proba)

    return given, flipped, score


# 3% and 5% flipped: within 0.15. At 10% one seed of two under-states by 0.30 (docs/measurements.md).
@pytest.mark.parametrize("wrong", [0.03, 0.05])
def test_the_stated_precision_is_close_to_the_share_of_listed_rows_that_are_wrong(wrong):
    given, flipped, score = simulated(3000, 3, wrong, separation=2.5, seed=1)
    ranking = calibrated_ranking(given, score, plant_class_flips, seed=0)
    measured = np.isin(ranking.listed, flipped).mean()  # the truth only this test knows
    assert ranking.credible and len(ranking.listed) == 150
    assert abs(ranking.precision - measured) <= 0.15, (ranking.precision, measured)
    assert abs(ranking.error_rate - wrong) <= 0.02, ranking.error_rate


def test_the_ranking_is_cleanlabs_self_confidence_most_suspect_first():
    from cleanlab.rank import get_label_quality_scores

    given, _flipped, score = simulated(600, 4, 0.10, separation=2.5, seed=2)
    ranking = calibrated_ranking(given, score, plant_class_flips, seed=0)
    rng = np.random.default_rng(2)  # the same features as inside simulated(): rebuild the probabilities
    truth = rng.integers(0, 4, 600)
    features = np.eye(4)[truth] * 2.5 + rng.normal(size=(600, 4))
    proba = np.exp(features - features.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    reference = 1 - get_label_quality_scores(given, proba, method="self_confidence")
    np.testing.assert_allclose(ranking.scores, reference)
    assert list(ranking.listed) == list(np.argsort(-reference, kind="stable")[:30])


def test_a_model_that_knows_nothing_lists_nothing():
    rng = np.random.default_rng(3)
    given = rng.integers(0, 2, 400)

    def score(codes: np.ndarray) -> np.ndarray:  # ignores the labels: random suspicion
        return np.random.default_rng(int(codes.sum())).random(len(codes))

    ranking = calibrated_ranking(given, score, plant_class_flips, seed=0)
    assert not ranking.credible and len(ranking.listed) == 0 and ranking.p_value >= ALPHA
    assert "cannot tell a wrong label from a hard row" in ranking.note()


def test_clean_data_lists_nothing_though_the_model_finds_flips():
    given, _flipped, score = simulated(1000, 2, 0.0, separation=4.0, seed=4)
    ranking = calibrated_ranking(given, score, plant_class_flips, seed=0)
    assert ranking.credible and ranking.precision < 0.1 and len(ranking.listed) == 0
    assert "look consistent" in ranking.note()


def test_chance_p_value_is_the_hypergeometric_tail():
    # One copy: exactly scipy's hypergeometric survival function.
    assert chance_p_value(4, 100, 10, 5, 1) == pytest.approx(hypergeom.sf(3, 100, 10, 5))
    # Two copies: the tail of the sum, by enumeration.
    pmf = hypergeom.pmf(np.arange(6), 100, 10, 5)
    tail = sum(pmf[a] * pmf[b] for a in range(6) for b in range(6) if a + b >= 3)
    assert chance_p_value(3, 100, 10, 5, 2) == pytest.approx(tail)


def test_planted_flips_change_exactly_the_rows_they_name():
    y = np.repeat(np.arange(3), 20)
    copy, rows = plant_class_flips(y, 9, np.random.default_rng(0))
    assert len(rows) == 9 and (copy[rows] != y[rows]).all()
    assert (np.delete(copy, rows) == np.delete(y, rows)).all()
    tiny = np.array([0, 0, 1, 1, 1, 1])  # a flip out of class 0 would leave it one row: not made
    for seed in range(20):
        copy, rows = plant_class_flips(tiny, 3, np.random.default_rng(seed))
        assert np.bincount(copy, minlength=2).min() >= 2 and (copy[rows] != tiny[rows]).all()
    Y = np.zeros((30, 4), dtype=int)
    copy, rows = plant_tag_flips(Y, 5, np.random.default_rng(0))
    assert (copy[rows].sum(axis=1) == 1).all() and copy.sum() == 5


def test_precision_in_words():
    assert precision_words(0.5) == "about half" and precision_words(0.33) == "about 1 in 3"
    assert precision_words(0.95) == "nearly all" and precision_words(0.1) == "about 1 in 10"


def test_the_checks_encoder_reads_e5_inputs_with_their_query_prefix(monkeypatch, tmp_path):
    from core import TrainConfig
    from core.base_models import BaseModel
    from core.models import embedding, fewshot
    from core.ood import base_model_embedder

    seen: list[str] = []
    # No model is loaded (none needs to be installed): only the name decides the prefix.
    catalog = lambda ref, device=None: (None, None, BaseModel(ref, str(tmp_path), ("any",), "", True))  # noqa: E731
    monkeypatch.setattr(embedding, "load_encoder", catalog)
    monkeypatch.setattr(fewshot, "encode", lambda body, tok, texts, text_prefix="", **_k: seen.extend(
        text_prefix + t for t in texts) or np.zeros((len(texts), 2)))
    base_model_embedder(TrainConfig(base_model="multilingual-e5-small"))(["很好"])
    base_model_embedder(TrainConfig(base_model="minilm-en"))(["good"])
    assert seen == ["query: 很好", "good"]  # E5's model card: "query: " for classification; MiniLM: none


def test_the_poisson_lower_bound_covers_the_mean_as_often_as_it_claims():
    from core.label_errors import LOWER_LEVEL, poisson_lower

    # Independent truth: simulated Poisson counts with known means; the bound stays at or below the mean
    # in at least LOWER_LEVEL of the draws (exact bound: a little more, counts are whole numbers).
    rng = np.random.default_rng(0)
    for mean in (0.5, 3.0, 12.0, 40.0):
        counts = rng.poisson(mean, 4000)
        bounds = {c: poisson_lower(c) for c in np.unique(counts)}
        covered = np.mean([bounds[c] <= mean for c in counts])
        assert LOWER_LEVEL <= covered <= 0.97, (mean, covered)
    assert poisson_lower(0) == 0.0 and 0 < poisson_lower(1) < 1 < poisson_lower(10) < 10
