"""Frozen-encoder embeddings + logistic regression against TF-IDF + logistic regression.

    nice -n 5 .venv/bin/python -m bench.bench_embedding [--sets uci clothing3 zh] [--seeds 0]
                                                        [--train 2000] [--test 1000]

For each public data set in ../shared/data and seed: a stratified sample of ``--train`` training
rows and a disjoint stratified ``--test`` held-out rows (bench.bench_regret's sets and sampling).
Every model is fitted on the training rows alone, its regularisation chosen by 5-fold CV on them,
and scored once on the held-out rows (macro-F1):

- ``embedding``: the product's ``core.embedding.fit_embedding`` (the base model's frozen encoder,
  mean pooling, L2-normalised, "query: " for e5; logistic regression, C by 5-fold CV);
- ``tfidf``: the product's TF-IDF (core.evaluation.tfidf_features: word 1-2-grams + char_wb
  1-3-grams) + class-balanced logistic regression, C in (1, 4, 16) by the same 5-fold CV;
- ``tfidf_char``: character 1-3-grams alone (TfidfVectorizer(analyzer="char"), sublinear tf) +
  the same logistic regression: the "character TF-IDF + LR" of issue 28's Chinese target.

Seconds are wall-clock on this shared machine: fit (embedding: loading the encoder + embedding
the training texts + the CV; TF-IDF: the CV and the refit) and scoring the held-out rows. The
load average (/proc/loadavg) is recorded with every run: seconds are comparable only at similar
load; macro-F1 does not depend on it. ``peak_rss_mb`` is the process's peak resident memory so
far (``resource.getrusage``), so run one set per process to read one set's memory.
Results are appended to bench/results/embedding.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.bench_regret import DATA, SETS

RESULTS = Path(__file__).resolve().parent / "results"
TFIDF_C = (1.0, 4.0, 16.0)  # core.evaluation.fit_baselines' grid


def split(name: str, n_train: int, n_test: int, seed: int) -> pd.DataFrame:
    """``n_train + n_test`` stratified rows of set ``name`` with a ``split`` column (train/test)."""
    from sklearn.model_selection import train_test_split

    from bench.bench_regret import sample

    file, shape, _ = SETS[name]
    frame = sample(shape(pd.read_csv(DATA / file)), n_train + n_test, seed)
    frame["label"] = frame["label"].astype(str)
    train, test = train_test_split(frame, train_size=n_train, stratify=frame["label"], random_state=seed)
    return pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tfidf_run(features, train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    """Fit ``features`` + balanced LR with C by 5-fold CV on ``train``; score ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    started = time.monotonic()
    pipe = make_pipeline(features, LogisticRegression(max_iter=2000, class_weight="balanced"))
    search = GridSearchCV(pipe, {"logisticregression__C": list(TFIDF_C)}, scoring="f1_macro",
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(train["text"].tolist(), train["label"])
    fit_s = time.monotonic() - started
    started = time.monotonic()
    pred = search.predict(test["text"].tolist())
    return {"macro_f1": round(float(f1_score(test["label"], pred, average="macro")), 4), "fit_s": round(fit_s, 1),
            "score_s": round(time.monotonic() - started, 2), "C": search.best_params_["logisticregression__C"]}


def embedding_run(frame: pd.DataFrame, base_model: str, seed: int) -> dict:
    """The product's fit_embedding on the training rows; scored on the test rows."""
    from sklearn.metrics import f1_score

    from core.config import TrainConfig
    from core.embedding import fit_embedding
    from core.prepare import prepare

    config = TrainConfig(text_columns=("text",), label_column="label", split_column="split", base_model=base_model,
                         method="embedding", seed=seed)
    prepared = prepare(frame, config)
    started = time.monotonic()
    model = fit_embedding(prepared, config)
    fit_s = time.monotonic() - started
    test_idx = prepared.splits["test"]
    started = time.monotonic()
    pred = model.predict(prepared.texts_at(test_idx))
    facts = model.metrics["embedding"]
    return {"macro_f1": round(float(f1_score(prepared.labels[test_idx].astype(str), pred.astype(str), average="macro")), 4),
            "fit_s": round(fit_s, 1), "score_s": round(time.monotonic() - started, 2), "C": facts["C"],
            "embed_s": facts["embed_seconds"], "cv_macro_f1": round(facts["cv_score"], 4)}


def run(name: str, n_train: int, n_test: int, seed: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from core.evaluation import tfidf_features

    _, _, base_model = SETS[name]
    frame = split(name, n_train, n_test, seed)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    record = {"set": name, "base_model": base_model, "train": len(train), "test": len(test), "seed": seed,
              "classes": int(frame["label"].nunique()), "load_before": loadavg()}
    record["embedding"] = embedding_run(frame, base_model, seed)
    record["tfidf"] = tfidf_run(tfidf_features(), train, test, seed)
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    record["tfidf_char"] = tfidf_run(char, train, test, seed)
    record["load_after"] = loadavg()
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "clothing3", "zh"], choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    records = []
    for name in args.sets:
        for seed in args.seeds:
            record = run(name, args.train, args.test, seed)
            records.append(record)
            print(json.dumps(record), flush=True)
            with open(RESULTS / "embedding.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
    print("\n| set | base model | train/test | embedding + LR | TF-IDF word+char + LR | char TF-IDF + LR | "
          "embedding fit s | TF-IDF fit s | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in records:
        e, t, c = r["embedding"], r["tfidf"], r["tfidf_char"]
        print(f"| {r['set']} (seed {r['seed']}) | {r['base_model']} | {r['train']}/{r['test']} | {e['macro_f1']:.3f} | "
              f"{t['macro_f1']:.3f} | {c['macro_f1']:.3f} | {e['fit_s']:.0f} | {t['fit_s']:.0f} | "
              f"{r['load_before']} -> {r['load_after']} |")
    deltas = [r["embedding"]["macro_f1"] - max(r["tfidf"]["macro_f1"], r["tfidf_char"]["macro_f1"]) for r in records]
    print(f"\nembedding minus the better TF-IDF: mean {np.mean(deltas) * 100:+.1f} points")


if __name__ == "__main__":
    main()
