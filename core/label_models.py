"""Out-of-fold label models: the probabilities a label-error ranking reads (core.label_errors).

Logistic regression on TF-IDF word and character n-grams, on frozen sentence embeddings, or the
mean of the two, cross-fitted so that every row is scored by a model that never saw its label;
one class per row (:func:`out_of_fold_proba`) or several tags per row (:func:`tag_proba`,
one-vs-rest). The data check (core.check) and the Label page (core.labeling, core.tag_review)
both reach them through core.label_errors, so one ranking serves both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_FOLDS = 5  # cross-fitting folds for the out-of-fold probabilities


def out_of_fold_proba(
    texts: list[str], y: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int, folds: int = MAX_FOLDS,
    *, tfidf: Any = None,
) -> np.ndarray:
    """Out-of-fold class probabilities (n, n_classes) from logistic regression, cross-fitted with
    stratified ``folds``. ``y``: integer codes 0..K-1, every class with >= ``folds`` rows.
    mode "tfidf": TF-IDF word 1-2-grams + char_wb 2-5-grams; "embeddings": the given (n, d)
    embeddings; "both": the mean of the two probabilities. ``tfidf``: the (n, v) TF-IDF matrix of
    ``texts`` when already built (:func:`tfidf_features`), so calibration copies reuse it.

    The TF-IDF vocabulary and weights are fitted once on all texts: they read no labels, so no
    label leaks across folds, and the copies :mod:`core.label_errors` ranks cost one LR fit each.
    Fits run on one BLAS/OpenMP thread: on the shared 2-core machine at load 14 one logistic
    regression on 3,000 x 384 embeddings took 14.9 s with the default threads and 0.5 s with one.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    with threadpool_limits(limits=1):
        if mode in ("tfidf", "both"):
            x = tfidf if tfidf is not None else tfidf_features(texts)
            # tol 1e-3 (sklearn's default 1e-4): half the time on 3,000 GoEmotions comments (27.6 s vs 51.7 s
            # per cross-fit at load 17) with the same top-5% precision (0.40 vs 0.41 with "both").
            model = LogisticRegression(C=4.0, max_iter=2000, tol=1e-3)
            out.append(cross_val_predict(model, x, y, cv=cv, method="predict_proba"))
        if mode in ("embeddings", "both"):
            # C = 1 on L2-normalised embeddings: sklearn's default, within 1 point of the best C
            # measured on the UCI sentences (bench/bench_check.py); 0.3-10 measured again in round 4.
            model = LogisticRegression(C=1.0, max_iter=2000)
            out.append(cross_val_predict(model, embeddings, y, cv=cv, method="predict_proba"))
    return np.mean(out, axis=0)


def tfidf_features(texts: list[str]) -> Any:
    """(n, v) sparse TF-IDF of word 1-2-grams and char_wb 2-5-grams (sublinear tf), fitted on ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    return features.fit_transform(np.asarray(texts, dtype=object))


def tag_proba(texts: list[str], Y: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int,
              folds: int, *, tfidf: Any = None) -> np.ndarray:
    """Out-of-fold per-tag probabilities (n, k) of ``texts`` (:func:`_tag_proba` on their TF-IDF
    features, or on ``tfidf`` when already built by :func:`tfidf_features`)."""
    if tfidf is None and mode in ("tfidf", "both"):
        tfidf = tfidf_features(texts)
    return _tag_proba(tfidf, Y, mode, embeddings, seed, folds)


def _tag_proba(tfidf: Any, Y: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int,
               folds: int) -> np.ndarray:
    """Out-of-fold per-tag probabilities (n, k): one-vs-rest logistic regression on the TF-IDF
    matrix, on the embeddings, or the mean of both (``mode``), cross-fitted over ``folds``
    shuffled folds, on one BLAS thread (see :func:`out_of_fold_proba`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from threadpoolctl import threadpool_limits

    cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    with threadpool_limits(limits=1):
        if mode in ("tfidf", "both") and tfidf is not None:
            model = OneVsRestClassifier(LogisticRegression(C=4.0, max_iter=2000, tol=1e-3))
            out.append(cross_val_predict(model, tfidf, Y, cv=cv, method="predict_proba"))
        if mode in ("embeddings", "both") and embeddings is not None:
            model = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=2000))
            out.append(cross_val_predict(model, embeddings, Y, cv=cv, method="predict_proba"))
    return np.mean(out, axis=0)
