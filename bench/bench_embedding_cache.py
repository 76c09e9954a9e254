"""Texts the frozen encoder embeds in one training run, with and without the run's embedding cache.

    nice -n 5 python -m bench.bench_embedding_cache [--set zh] [--rows 2000] [--method embedding] [--seed 0]

One ``core.pipeline.train`` with the product's defaults (``--method`` as given; the base model of
bench.bench_regret's set) on a stratified sample of the set (bench.bench_regret.sample), run twice:
without the cache (``train.__wrapped__``: the function under core.models.embedding.embedding_cache)
and with it. The encoder's one loop (core.models.fewshot.encode, imported by core.models.embedding
and by core.ood's OOD reference) is wrapped to count the texts it is given and the seconds spent in
it. The counts do not depend on the machine's load; the seconds do (the load average is printed
before and after each run), so they are not a speed claim unless the machine is idle.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

import core.models.embedding as embedding_model
import core.models.fewshot as fewshot_model
import core.ood as ood
from bench.bench_embedding import loadavg
from bench.bench_regret import DATA, SETS, sample
from core import TrainConfig
from core.pipeline import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--method", default="embedding")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    file, shape, base_model = SETS[args.set]
    df = sample(shape(pd.read_csv(DATA / file)), args.rows, args.seed)
    config = TrainConfig(text_columns=("text",), label_column="label", method=args.method, base_model=base_model,
                         seed=args.seed)
    real = fewshot_model.encode
    counts = {"texts": 0, "seconds": 0.0}

    def counting(body, tokenizer, texts, *rest, **kwargs):
        started = time.monotonic()
        try:
            return real(body, tokenizer, texts, *rest, **kwargs)
        finally:
            counts["texts"] += len(texts)
            counts["seconds"] += time.monotonic() - started

    embedding_model.encode = fewshot_model.encode = counting
    for name, run in (("without cache", train.__wrapped__), ("with cache", train)):
        ood._ENCODERS.clear()  # each run loads its OOD encoder afresh, through the counting loop
        counts.update(texts=0, seconds=0.0)
        before, started = loadavg(), time.monotonic()
        metrics = run(df, config).metrics
        print(json.dumps({"run": name, "set": args.set, "rows": len(df), "method": args.method,
                          "texts_encoded": counts["texts"], "encode_seconds": round(counts["seconds"], 1),
                          "train_seconds": round(time.monotonic() - started, 1), "saved": metrics["saved_kind"],
                          "test_macro_f1": round(metrics["model"]["macro_f1"], 4), "load_before": before,
                          "load_after": loadavg()}), flush=True)


if __name__ == "__main__":
    main()
