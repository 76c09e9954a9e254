"""Benchmark of label-error ranking with planted random flips (issue 28.1), multi-class.

For each public set (3,000-row samples, fixed seeds; /work/shared/data, licences in its README):
UCI sentences (2 classes), GoEmotions single-tag comments mapped to sentiment (3 classes: joy ->
positive, neutral, anger/sadness/fear/disgust -> negative; Reddit comments, the nearest set to
airline tweets here), GoEmotions single-tag Ekman emotions (7 classes), clothing review ratings
(5 classes). 5% of labels are flipped to another class at random; out-of-fold probabilities come
from logistic regression (core.check.out_of_fold_proba) on frozen MiniLM embeddings
("embeddings"), TF-IDF ("tfidf") or their mean ("both"); cleanlab ranks (1 - self-confidence).

Reported per run: precision of the top k (k = number planted) and of the top 5%, recall in the top
5%, what cleanlab's find_label_issues flags and its precision, and two candidate *estimates* of
the top-5% precision: ``est_conf`` = mean (1 - p(given label)) and ``est_post`` = the mean
posterior probability that the given label is wrong under confident learning's noise matrix
(Bayes' rule with p(noisy | x) = T p(true | x), Northcutt et al. JAIR 2021 for T). Precision is
against the planted flips only, a lower bound: the sets have label errors of their own.

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_errors [--sets uci goemo3] [--modes embeddings]
        [--seeds 0 1] [--cache /tmp/r3lab]

Results: bench/results/label_errors.jsonl; summary in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path("/work/shared/data")
RESULTS = Path(__file__).parent / "results" / "label_errors.jsonl"
FLIP_SHARE = 0.05
ROWS = 3000
SENTIMENT = {"joy": "positive", "neutral": "neutral", "anger": "negative", "sadness": "negative", "fear": "negative",
             "disgust": "negative"}


def load(name: str) -> pd.DataFrame:
    """A (text, label) frame of at most ROWS rows (random sample, seed 0)."""
    if name == "uci":
        return pd.read_csv(DATA / "uci_sentiment_labelled_sentences.csv")[["text", "label"]].astype(str)
    if name in ("goemo3", "goemo7"):
        g = pd.read_csv(DATA / "goemotions_ekman_train.csv")
        if name == "goemo3":
            g = g[g["labels"].isin(SENTIMENT)].assign(label=lambda f: f["labels"].map(SENTIMENT))
        else:
            g = g[~g["labels"].str.contains("|", regex=False)].rename(columns={"labels": "label"})
        return g.sample(ROWS, random_state=0)[["text", "label"]].reset_index(drop=True)
    if name == "clothing5":
        c = pd.read_csv(DATA / "womens_clothing_ecommerce_reviews.csv").dropna(subset=["text"]).sample(ROWS, random_state=0)
        return pd.DataFrame({"text": c["text"].astype(str), "label": c["rating"].astype(str)}).reset_index(drop=True)
    raise ValueError(f"unknown set {name!r}")


def flip(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy codes, flipped rows): FLIP_SHARE of the rows moved to another of the k classes at random."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), size=round(FLIP_SHARE * len(y)), replace=False))
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return noisy, idx


def posterior_wrong(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """P(given label is wrong | x, label) under class-conditional noise: cleanlab's noise matrix T
    (T[i, j] = P(noisy i | true j)); p(true | x) = T^-1 p(noisy | x), clipped to the simplex."""
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities

    _py, noise, _inv, _cj = estimate_py_and_noise_matrices_from_probabilities(y, proba)
    clean = np.clip(np.linalg.solve(noise, proba.T).T, 1e-6, None)
    joint = noise[y] * (clean / clean.sum(axis=1, keepdims=True))
    return 1.0 - joint[np.arange(len(y)), y] / joint.sum(axis=1)


def run(name: str, mode: str, seed: int, df: pd.DataFrame, emb: np.ndarray | None) -> dict:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    from core.check import out_of_fold_proba

    classes = np.array(sorted(df["label"].unique()))
    y, planted = flip(np.searchsorted(classes, df["label"].to_numpy()), len(classes), seed)
    load_start, t0 = os.getloadavg()[0], time.perf_counter()
    proba = out_of_fold_proba(df["text"].tolist(), y, mode, emb, seed, int(min(5, np.bincount(y).min())))
    suspect = 1.0 - get_label_quality_scores(y, proba, method="self_confidence")
    flagged = np.flatnonzero(find_label_issues(y, proba, filter_by="prune_by_noise_rate", n_jobs=1))
    seconds = time.perf_counter() - t0
    order = np.argsort(-suspect, kind="stable")
    truth = set(planted.tolist())
    top_k, top5 = order[: len(planted)], order[: round(0.05 * len(y))]
    hits = lambda rows: len(truth & set(rows.tolist()))  # noqa: E731
    wrong = posterior_wrong(y, proba)
    return {
        "set": name, "classes": len(classes), "rows": len(y), "mode": mode, "seed": seed, "planted": len(planted),
        "oof_accuracy": round(float((proba.argmax(1) == y).mean()), 3),
        "precision_top_k": round(hits(top_k) / len(top_k), 3), "precision_top5": round(hits(top5) / len(top5), 3),
        "recall_top5": round(hits(top5) / len(planted), 3),
        "cleanlab_flagged": len(flagged), "cleanlab_precision": round(hits(flagged) / max(1, len(flagged)), 3),
        "est_conf_top5": round(float(suspect[top5].mean()), 3), "est_post_top5": round(float(wrong[top5].mean()), 3),
        "seconds_label_model": round(seconds, 1), "load_start": load_start, "load_end": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3", "goemo7", "clothing5"])
    parser.add_argument("--modes", nargs="+", default=["embeddings", "both"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, default=None, help="folder for <set>.npy MiniLM embeddings (read if there)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from core import TrainConfig
    from core.ood import encoder_embedder

    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name)
        cached = args.cache / f"{name}.npy" if args.cache else None
        t0 = time.perf_counter()
        if cached and cached.is_file():
            emb, embed_s = np.load(cached, allow_pickle=False), None
        else:
            emb = encoder_embedder(TrainConfig().base_model)(df["text"].tolist())
            embed_s = round(time.perf_counter() - t0, 1)
            if cached:
                np.save(cached, emb, allow_pickle=False)
        for mode in args.modes:
            for seed in args.seeds:
                row = {**run(name, mode, seed, df, emb), "seconds_embedding": embed_s}
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
