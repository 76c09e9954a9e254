"""Which label model and which cleanlab ranking find planted label flips best (issue 28.1).

The same 3,000-row samples and 5% random flips as bench/bench_label_errors.py. For each set and
seed, out-of-fold probabilities (5 stratified folds, the seed's shuffle) of:

- ``emb``: logistic regression (C=1) on frozen MiniLM embeddings (`minilm-en`, the check's default);
- ``e5``: the same on frozen multilingual-e5-small embeddings (when ``<set>_e5.npy`` is in the cache);
- ``cat``: the same on both embeddings side by side;
- ``tfidf``: logistic regression (C=4, tol 1e-3) on the check's TF-IDF (core.label_models.tfidf_features);
- ``knn25``: 25 nearest neighbours on the MiniLM embeddings (cosine, distance-weighted);
- ``embcv`` / ``e5cv`` (round 6): logistic regression on the embeddings with C chosen per outer fold by
  inner 5-fold cross-validation on log loss (scikit-learn's LogisticRegressionCV, C in 0.1-10);

and the means of some of them ("emb+tfidf" is what the check runs); round 6 adds ``<combo>:clean``: the
combination refitted per fold without the 10% most suspect rows of its first pass (a cleaner training
set; every row still scored out of fold). Each is ranked by cleanlab's
``get_label_quality_scores`` with ``self_confidence``, ``normalized_margin`` (both with and without
``adjust_pred_probs``, suffix ``A``) and ``confidence_weighted_entropy``; for several models also by
cleanlab's ``get_label_quality_ensemble_scores`` (``ens``, members weighted by accuracy). Reported: the
share of planted flips in the top 5% (150 rows) for each, and cleanlab's ``find_label_issues`` with its
defaults (rows flagged, their precision). Precision counts planted flips only (a lower bound).

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_models --cache /tmp/r5lab
        [--sets goemo3 clothing3 uci] [--seeds 0 1]

The cache holds ``<set>.npy`` (MiniLM, as bench_label_errors writes it), optionally ``<set>_e5.npy``,
and the out-of-fold probabilities this bench writes (``oof_<set>_<seed>_<model>.npy``, reused).
Results: bench/results/label_models.jsonl; summary in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.bench_label_errors import flip, load

RESULTS = Path(__file__).parent / "results" / "label_models.jsonl"
COMBOS = {"emb+tfidf": ["emb", "tfidf"], "emb+knn25": ["emb", "knn25"], "emb+tfidf+knn25": ["emb", "tfidf", "knn25"],
          "emb+e5": ["emb", "e5"], "emb+e5+tfidf": ["emb", "e5", "tfidf"], "cat+tfidf": ["cat", "tfidf"],
          "embcv+tfidf": ["embcv", "tfidf"], "embcv+e5cv+tfidf": ["embcv", "e5cv", "tfidf"], "e5+tfidf": ["e5", "tfidf"]}
CLEANED = ("emb+tfidf", "emb+e5+tfidf", "e5")  # refitted without their first pass's most suspect rows
CLEAN_SHARE = 0.10


def estimator(model: str):
    """The scikit-learn classifier behind a label model's name (see the module doc)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.neighbors import KNeighborsClassifier

    if model == "tfidf":
        return LogisticRegression(C=4.0, max_iter=2000, tol=1e-3)
    if model.startswith("knn"):
        return KNeighborsClassifier(n_neighbors=int(model[3:]), metric="cosine", weights="distance")
    if model.endswith("cv"):
        return LogisticRegressionCV(Cs=[0.1, 0.3, 1.0, 3.0, 10.0], cv=5, scoring="neg_log_loss", max_iter=2000)
    return LogisticRegression(C=1.0, max_iter=2000)


def cleaned(x_by_model: dict, parts: list[str], y: np.ndarray, seed: int, first: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities of ``parts`` averaged, each fold's model fitted without the CLEAN_SHARE most
    suspect rows of the first pass (``first``: its (n, K) probabilities)."""
    from cleanlab.rank import get_label_quality_scores
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    keep = np.ones(len(y), dtype=bool)
    keep[np.argsort(get_label_quality_scores(y, first), kind="stable")[:round(CLEAN_SHARE * len(y))]] = False
    out = np.zeros_like(first)
    with threadpool_limits(limits=1):
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
            train = train[keep[train]]
            for model in parts:
                fitted = estimator(model).fit(x_by_model[model][train], y[train])
                out[test] += fitted.predict_proba(x_by_model[model][test]) / len(parts)
    return out


def oof(cache: Path, name: str, seed: int, model: str, y: np.ndarray, x) -> tuple[np.ndarray, float]:
    """Out-of-fold probabilities (n, K) of one label model, from the cache when there; (proba, seconds)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    cached = cache / f"oof_{name}_{seed}_{model}.npy"
    if cached.is_file():
        return np.load(cached, allow_pickle=False), 0.0
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        proba = cross_val_predict(estimator(model), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                  method="predict_proba")
    np.save(cached, proba, allow_pickle=False)
    return proba, time.perf_counter() - t0


def rankings(y: np.ndarray, proba: np.ndarray, planted: np.ndarray, members: list[np.ndarray]) -> dict:
    """Top-5% precision of every cleanlab ranking, and find_label_issues' own flag set."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_ensemble_scores, get_label_quality_scores

    k = round(0.05 * len(y))
    is_planted = np.isin(np.arange(len(y)), planted)

    def top(quality: np.ndarray) -> float:
        return round(float(is_planted[np.argsort(quality, kind="stable")[:k]].mean()), 3)

    out = {}
    for method, short in (("self_confidence", "self"), ("normalized_margin", "norm"), ("confidence_weighted_entropy", "conf")):
        for adjust in (False, True) if short != "conf" else (False,):  # cleanlab: no adjustment for the entropy
            out[short + ("A" if adjust else "")] = top(get_label_quality_scores(y, proba, method=method,
                                                                               adjust_pred_probs=adjust))
    flagged = find_label_issues(y, proba, n_jobs=1)
    out["fli_n"], out["fli_prec"] = int(flagged.sum()), round(float(is_planted[flagged].mean()), 3) if flagged.any() else None
    if len(members) > 1:
        out["ens"] = top(get_label_quality_ensemble_scores(y, members, verbose=False))
    return out


def main() -> None:
    import warnings

    from core.label_models import tfidf_features

    warnings.filterwarnings("ignore", category=FutureWarning)  # LogisticRegressionCV's notes on scikit-learn 1.10

    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["goemo3", "clothing3", "uci"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name)
        classes = np.array(sorted(df["label"].unique()))
        truth = np.searchsorted(classes, df["label"].to_numpy())
        features = {"emb": np.load(args.cache / f"{name}.npy", allow_pickle=False)}
        e5 = args.cache / f"{name}_e5.npy"
        if e5.is_file():
            features["e5"] = np.load(e5, allow_pickle=False)
            features["cat"] = np.hstack([features["emb"], features["e5"]])
        features["tfidf"] = tfidf_features(df["text"].tolist())
        features["knn25"] = features["emb"]
        features["embcv"] = features["emb"]
        if "e5" in features:
            features["e5cv"] = features["e5"]
        for seed in args.seeds:
            y, planted = flip(truth, len(classes), 0.05, seed)
            probas, seconds = {}, {}
            for model, x in features.items():
                probas[model], seconds[model] = oof(args.cache, name, seed, model, y, x)
            combos = {m: [m] for m in probas} | {c: p for c, p in COMBOS.items() if all(m in probas for m in p)}
            for combo in CLEANED:
                if combo in combos:
                    t0 = time.perf_counter()
                    probas[combo + ":clean"] = cleaned(features, combos[combo], y, seed,
                                                       np.mean([probas[m] for m in combos[combo]], axis=0))
                    seconds[combo + ":clean"] = time.perf_counter() - t0 + sum(seconds[m] for m in combos[combo])
                    combos[combo + ":clean"] = [combo + ":clean"]
            for combo, parts in combos.items():
                proba = np.mean([probas[m] for m in parts], axis=0)
                row = {"set": name, "seed": seed, "model": combo, "accuracy": round(float((proba.argmax(1) == y).mean()), 3),
                       **rankings(y, proba, planted, [probas[m] for m in parts]),
                       "fit_s": round(sum(seconds[m] for m in parts), 1), "load": os.getloadavg()[0]}
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
