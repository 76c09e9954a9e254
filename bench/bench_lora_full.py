"""LoRA against full fine-tuning on the same split, with each run's validation trajectory.

    nice -n 5 python -m bench.bench_lora_full [--sets clothing5 clothing3 goemo3] [--rows 1000] [--seeds 0]
        [--methods full lora] [--set FIELD=VALUE ...] [--out bench/results/lora_full.jsonl]

For each public set in ../shared/data and seed: a stratified sample of ``--rows`` rows, the product's
own split of them (core.prepare + core.training.with_validation: 70 / 10 / 20 by default, seeded),
then ``core.training.fit_transformer`` once per method on that same split, with the product's
defaults (``--set`` overrides any TrainConfig field, values parsed as JSON). Each run prints its
validation macro-F1 and accuracy at every evaluation (the trajectory shows a fine-tune falling to
one class and whether it recovers), its best step, and its test macro-F1 (scikit-learn's, on the
held-out test rows) with the count of each predicted class. Accuracy does not depend on the
machine's load; the seconds do (the load is printed). Each record also holds the date, the recipe
(learning rate, epochs, LoRA rank/alpha/dropout), torch's threads and the process's peak memory (run
one method per process to compare memory). With ``--out``, a LoRA run is also compared with the full
fine-tune already in that file for the same set, rows and seed (the same sample and split), so LoRA
variants can be tried one process at a time against one full run.

Sets: ``clothing5`` the women's clothing reviews' 5 star ratings (56% five stars, 4% one star: the
set bench_bf16 uses), ``clothing3`` the same folded into negative 1-2 / neutral 3 / positive 4-5 (as
bench_regret's), ``goemo3`` GoEmotions comments with one Ekman label mapped to sentiment (joy ->
positive, neutral, anger/sadness/fear/disgust -> negative; the nearest to tweets in ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core import TrainConfig
from core.prepare import prepare
from core.training import fit_transformer, with_validation

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
RATING3 = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
SENTIMENT = {"joy": "positive", "neutral": "neutral", "anger": "negative", "sadness": "negative", "fear": "negative",
             "disgust": "negative"}


def load(name: str) -> pd.DataFrame:
    """A (text, label) frame of the whole set ``name``."""
    if name in ("clothing5", "clothing3"):
        c = pd.read_csv(DATA / "womens_clothing_ecommerce_reviews.csv").dropna(subset=["text", "rating"])
        rating = c["rating"].astype(int)
        return pd.DataFrame({"text": c["text"].astype(str),
                             "label": rating.astype(str) if name == "clothing5" else rating.map(RATING3)})
    if name == "goemo3":
        g = pd.read_csv(DATA / "goemotions_ekman_train.csv")
        g = g[g["labels"].isin(SENTIMENT)]
        return pd.DataFrame({"text": g["text"].astype(str), "label": g["labels"].map(SENTIMENT)})
    raise ValueError(f"unknown set {name!r}")


def run(name: str, rows: int, seed: int, method: str, overrides: dict) -> dict:
    import torch
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    frame = load(name)
    sample, _ = train_test_split(frame, train_size=rows, stratify=frame["label"], random_state=seed)
    config = TrainConfig(method=method, seed=seed, **overrides)
    prepared = with_validation(prepare(sample.reset_index(drop=True), config), config)
    evaluations = []

    def on_event(event) -> None:
        if event.phase == "evaluate":
            evaluations.append((event.step, round(event.metrics["macro_f1"], 3), round(event.metrics["accuracy"], 3)))
            print(f"{name} seed {seed} {method}: step {event.step}, validation macro-F1 / accuracy "
                  f"{evaluations[-1][1]} / {evaluations[-1][2]}", file=sys.stderr, flush=True)

    load_before, started = os.getloadavg(), time.monotonic()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    model = fit_transformer(prepared, config, on_event)
    test = prepared.splits["test"]
    predicted = np.asarray(model.predict([prepared.texts[i] for i in test])).astype(str)
    truth = prepared.labels[test].astype(str)
    names, counts = np.unique(predicted, return_counts=True)
    return {"set": name, "rows": rows, "seed": seed, "method": method, "set_overrides": overrides, "date": date,
            "recipe": {"learning_rate": config.effective_learning_rate, "epochs": config.epochs,
                       **({"lora_r": config.lora_r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout}
                          if method == "lora" else {})},
            "torch_threads": torch.get_num_threads(),
            "split": {k: len(v) for k, v in prepared.splits.items()}, "evaluations": evaluations,
            "best_step": model.metrics["best_step"], "steps": model.metrics["steps"],
            "stopped_reason": model.metrics["stopped_reason"],
            "test_macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
            "predicted": dict(zip(names.tolist(), counts.tolist())), "seconds": round(time.monotonic() - started, 1),
            "load_before": [round(x, 1) for x in load_before], "load_after": [round(x, 1) for x in os.getloadavg()],
            # the process's peak resident memory so far (Linux reports KiB): one method per process to compare
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["clothing5", "clothing3"], choices=["clothing5", "clothing3", "goemo3"])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=["full", "lora"], choices=["full", "lora"])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a TrainConfig override")
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    results = []
    for name in args.sets:
        for seed in args.seeds:
            for method in args.methods:
                record = run(name, args.rows, seed, method, overrides)
                results.append(record)
                print(json.dumps(record), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
    # Full runs from earlier invocations in --out (same set, rows and seed: the same sample and split)
    # count too, so LoRA variants can be run one process at a time against one full fine-tune.
    earlier = []
    if args.out and Path(args.out).exists():
        earlier = [json.loads(line) for line in Path(args.out).read_text(encoding="utf-8").splitlines() if line.strip()]
    full = {(r["set"], r["seed"]): r["test_macro_f1"] for r in earlier + results
            if r["method"] == "full" and r["rows"] == args.rows}
    for r in results:
        if r["method"] == "lora" and (r["set"], r["seed"]) in full:
            score, gap = full[(r["set"], r["seed"])], (full[(r["set"], r["seed"])] - r["test_macro_f1"]) * 100
            print(f"{r['set']} seed {r['seed']}: full {score:.3f}, LoRA {r['test_macro_f1']:.3f}, LoRA {gap:+.1f} points behind")


if __name__ == "__main__":
    main()
