"""Benchmark of the data-health check (core/check.py) on real, human-labelled data.

Label errors: 5% of the labels of the UCI "Sentiment Labelled Sentences" (3,000 rows, CC BY 4.0,
Kotzias et al. KDD 2015) are flipped at random (fixed seed); each candidate model's out-of-fold
probabilities are ranked by cleanlab (1 - self-confidence label quality) and we report the
precision of the top k rows, k = the number flipped (the flipped indices are the truth).
Candidates: TF-IDF + LR, frozen MiniLM embeddings + LR, and their averaged probabilities.
Then the whole ``core.check`` is timed on the same 3,000 rows, with the load average.

    nice -n 10 .venv/bin/python -m bench.bench_check [--seeds 0 1 2] [--threads 2] [--near]

``--near`` prints character-TF-IDF cosine pairs around the near-duplicate threshold.

Measured 2026-11-29 on the shared 2-core machine under load 10-20 (seeds 0, 1, 2; precision of
the top 150 of 3,000): TF-IDF 0.478, frozen MiniLM 0.636, both averaged 0.680 (what
``features="auto"`` uses). Tried and not kept (same seeds): embedding LR with C = 0.25 / 4 / 16
0.640 / 0.613 / 0.567; kNN (k=15, cosine) on the embeddings 0.551, averaged in as a third model
0.687 (within noise of 0.680); a second round with the top 5% suspects left out of the training
folds 0.669.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path("/work/shared/data/uci_sentiment_labelled_sentences.csv")
FLIP_SHARE = 0.05


def flipped(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, indices flipped): FLIP_SHARE of the rows get the other class (binary set)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(labels), size=round(FLIP_SHARE * len(labels)), replace=False))
    noisy = labels.copy()
    classes = np.unique(labels)
    for i in idx:
        noisy[i] = rng.choice(classes[classes != labels[i]])
    return noisy, idx


def precision_at_k(scores: np.ndarray, truth: np.ndarray) -> float:
    top = np.argsort(-scores, kind="stable")[: len(truth)]
    return len(set(top.tolist()) & set(truth.tolist())) / len(truth)


def flag_label_issues(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(flagged (n,) bool, label quality (n,) 0-1, agreement) for integer labels ``y`` and
    out-of-fold ``proba`` (n, K). ``agreement``: the label model's balanced accuracy against the
    given labels, out of fold (0-1), i.e. how well it could learn them at all."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import balanced_accuracy_score

    # n_jobs=1: cleanlab's default starts a multiprocessing Pool (fork on Linux) with one process per
    # core; forked from the threaded Streamlit server, its children hung on a lock, ~0.8 GB each,
    # after every "Check data". One process costs nothing measurable here: the work is K classes.
    flagged = find_label_issues(y, proba, filter_by="prune_by_noise_rate", n_jobs=1)
    quality = get_label_quality_scores(y, proba, method="self_confidence")
    return flagged, quality, float(balanced_accuracy_score(y, proba.argmax(axis=1)))


def label_quality(texts: list[str], labels: list[str], *, mode: str = "tfidf", embeddings: np.ndarray | None = None,
                  seed: int = 42) -> np.ndarray:
    """1 - cleanlab's self-confidence label quality of every row (n,), from out-of-fold
    probabilities: higher = more likely mislabelled. Every class needs >= 2 rows. (The ranking
    core.check used before core.label_errors; kept here, where only this benchmark reads it.)"""
    from cleanlab.rank import get_label_quality_scores

    from core.check import MAX_FOLDS, out_of_fold_proba

    classes = np.array(sorted(set(labels)), dtype=object)
    y = np.searchsorted(classes, np.asarray(labels, dtype=object))
    folds = int(min(MAX_FOLDS, np.bincount(y).min()))
    proba = out_of_fold_proba(texts, y, mode, embeddings, seed, folds)
    return 1.0 - get_label_quality_scores(y, proba, method="self_confidence")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--near", action="store_true")
    parser.add_argument("--cache", type=Path, default=None,
                        help="a .npy file to keep the MiniLM embeddings in between runs (read if present)")
    parser.add_argument("--skip-check", action="store_true", help="only the precision table, not the timed check")
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="instead: for random subsets of these sizes, how precise the *flagged* rows are and how "
                        "well the cross-fitted label model agrees with the labels (the credibility rule's numbers)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from core import TrainConfig
    from core.check import check
    from core.ood import base_model_embedder

    df = pd.read_csv(DATA)
    texts = df["text"].astype(str).tolist()
    truth_labels = df["label"].astype(str).to_numpy()
    config = TrainConfig(text_columns=("text",), label_column="label")
    print(f"data: {DATA.name}, {len(df):,} rows; flipping {FLIP_SHARE:.0%}; seeds {args.seeds}")

    if args.near:
        near_pairs(texts)
        return
    if args.sizes:
        by_size(df, args.sizes, args.seeds, args.cache)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    if args.cache and args.cache.is_file():
        embeddings = np.load(args.cache, allow_pickle=False)
    else:
        embeddings = base_model_embedder(config)(texts)
        print(f"MiniLM embeddings of {len(texts):,} texts: {time.perf_counter() - t0:.1f}s wall, "
              f"{time.process_time() - c0:.1f}s CPU")
        if args.cache:
            np.save(args.cache, embeddings, allow_pickle=False)
    results: dict[str, list[float]] = {"tfidf": [], "embeddings": [], "both": []}
    for seed in args.seeds:
        noisy, idx = flipped(truth_labels, seed)
        for mode in results:
            t0 = time.process_time()
            scores = label_quality(texts, noisy.tolist(), mode=mode, embeddings=embeddings, seed=seed)
            p = precision_at_k(scores, idx)
            results[mode].append(p)
            print(f"seed {seed} {mode:10s} precision@{len(idx)} = {p:.3f}  ({time.process_time() - t0:.1f}s CPU)")
    for mode, ps in results.items():
        print(f"MEAN {mode:10s} precision@k = {np.mean(ps):.3f} (seeds: {', '.join(f'{p:.3f}' for p in ps)})")

    if args.skip_check:
        return
    noisy, idx = flipped(truth_labels, args.seeds[0])
    data = df.assign(label=noisy)
    for features in ("tfidf", "both"):
        load = os.getloadavg()
        t0, c0 = time.perf_counter(), time.process_time()
        report = check(data, config, features=features)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        flagged = set(report.rows("label_error"))
        hit = len(flagged & set(idx.tolist()))
        print(f"check(features={features}): {seconds:.1f}s wall, {cpu:.1f}s CPU (all threads), load average "
              f"{load[0]:.1f}/{load[1]:.1f} at start, {os.getloadavg()[0]:.1f} at end; counts {report.counts}; "
              f"label_error flagged {len(flagged)}, of them flipped {hit} (recall {hit / len(idx):.2f})")


def by_size(df: pd.DataFrame, sizes: list[int], seeds: list[int], cache: Path | None) -> None:
    """Per subset size: the label model's out-of-fold balanced accuracy against the (noisy) labels,
    precision of the rows find_label_issues flags (flagged & flipped / flagged) and of the top k."""
    from core import TrainConfig
    from core.check import MAX_FOLDS, out_of_fold_proba
    from core.ood import base_model_embedder

    if cache and cache.is_file():
        embeddings = np.load(cache, allow_pickle=False)
    else:
        embeddings = base_model_embedder(TrainConfig(text_columns=("text",), label_column="label"))(
            df["text"].astype(str).tolist())
        if cache:
            np.save(cache, embeddings, allow_pickle=False)
    modes = ["tfidf", "both"]
    print("mode   rows  seed  oof_bal_acc  flagged  flag_precision  top_k_precision")
    for mode in modes:
        for n in sizes:
            for seed in seeds:
                rng = np.random.default_rng(1000 + seed)
                pick = np.sort(rng.choice(len(df), size=min(n, len(df)), replace=False))
                texts = df["text"].astype(str).to_numpy()[pick].tolist()
                noisy, idx = flipped(df["label"].astype(str).to_numpy()[pick], seed)
                classes = np.unique(noisy)
                y = np.searchsorted(classes, noisy)
                emb = embeddings[pick] if mode == "both" else None
                proba = out_of_fold_proba(texts, y, mode, emb, seed, int(min(MAX_FOLDS, np.bincount(y).min())))
                flagged, _quality, agreement = flag_label_issues(y, proba)
                hits = len(set(np.flatnonzero(flagged).tolist()) & set(idx.tolist()))
                top = precision_at_k(1 - proba[np.arange(len(y)), y], idx)
                print(f"{mode:6s} {len(y):5d} {seed:5d} {agreement:12.3f} {int(flagged.sum()):8d} "
                      f"{hits / max(1, flagged.sum()):15.3f} {top:16.3f}", flush=True)


def near_pairs(texts: list[str]) -> None:
    """Pairs of different normalised texts by character TF-IDF cosine band (for the threshold)."""
    from core.check import normalise_text
    from core.duplicates import char_vectors

    keys = list(dict.fromkeys(normalise_text(t) for t in texts))
    vectors = char_vectors(keys)
    sims = (vectors @ vectors.T).toarray()
    np.fill_diagonal(sims, 0)
    i, j = np.nonzero(np.triu(sims) >= 0.5)
    for lo, hi in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        band = [(a, b) for a, b in zip(i, j) if lo <= sims[a, b] < hi]
        print(f"cosine [{lo}, {hi}): {len(band)} pair(s)")
        for a, b in band[:6]:
            print(f"   {sims[a, b]:.2f}  {keys[a][:70]!r}  |  {keys[b][:70]!r}")


if __name__ == "__main__":
    main()
