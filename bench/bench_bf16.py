"""bf16 autocast against fp32 for fine-tuning on this CPU, in one run on the same rows.

    python -m bench.bench_bf16 [--data FILE --text-col text --label-col label] [--rows 2000] [--seeds 0]
                               [--keep-transformer]

For each seed: a stratified sample of ``--rows`` rows, then the product's default full fine-tuning
twice on the same split, ``precision="fp32"`` and ``precision="auto"`` (bfloat16 autocast where the
CPU has native bf16, core.training.cpu_has_bf16), alternating which goes first. Prints training
texts/s, wall seconds and test macro-F1 of each, and their ratio. Speed claims need an idle
machine (the load is printed); accuracy does not.

Each run also prints the fine-tune's ``stopped_reason``, ``best_step`` and ``steps``: with the
default ``choose_simpler`` the leaderboard may stop the fine-tune "behind the leader" after 40% of
its steps (core.pipeline.BehindTheLeader), and on the imbalanced clothing ratings that can fall in
the fine-tune's early dip to one class, so both precisions score near one class whatever their
arithmetic. ``--keep-transformer`` (``choose_simpler=False``) lets the fine-tune run to its own end,
the accuracy comparison bf16 needs there.

``--unbucketed`` adds a third run, fp32 with the batches drawn as before length grouping (shuffled
rows cut into batches, each padded to its longest text), so the printed ``speedup_vs_before`` is
bf16 with length grouping against the training loop the issue started from, in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core import TrainConfig, train, training
from core.training import cpu_has_bf16

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "womens_clothing_ecommerce_reviews.csv"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="rating")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--keep-transformer", action="store_true", help="choose_simpler=False: no stop behind the leader")
    parser.add_argument("--unbucketed", action="store_true", help="add fp32 with random (not length-grouped) batches")
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(args.data)[[args.text_col, args.label_col]].dropna()
    frame.columns = ["text", "label"]
    print(f"native bf16: {cpu_has_bf16()}; load before: {os.getloadavg()}")
    for seed in args.seeds:
        rows, _ = train_test_split(frame, train_size=args.rows, stratify=frame["label"], random_state=seed)
        rows = rows.reset_index(drop=True)
        order = ("fp32", "auto") if seed % 2 == 0 else ("auto", "fp32")
        if args.unbucketed:
            order = ("fp32-unbucketed", *order)
        results = {}
        for run in order:
            precision = run.split("-")[0]
            config = TrainConfig(method="full", seed=seed, precision=precision, choose_simpler=not args.keep_transformer)
            started = time.monotonic()
            with _random_batches(run.endswith("unbucketed")):
                metrics = train(rows, config).metrics
            results[run] = {"texts_per_s": metrics["train_texts_per_second"], "train_s": metrics["train_seconds"],
                                  "wall_s": round(time.monotonic() - started, 1),
                                  # The fine-tune's test score: under "candidates" unless it was saved.
                                  "macro_f1": round(metrics.get("candidates", {}).get("transformer", metrics["model"])
                                                    ["macro_f1"], 4),
                                  **{k: metrics.get(k) for k in ("stopped_reason", "best_step", "steps")}}
        ratio = results["auto"]["texts_per_s"] / results["fp32"]["texts_per_s"]
        before = results.get("fp32-unbucketed", {}).get("texts_per_s")
        print(json.dumps({"seed": seed, "rows": len(rows), **results, "speedup": round(ratio, 2),
                          "speedup_vs_before": round(results["auto"]["texts_per_s"] / before, 2) if before else None,
                          "load_after": os.getloadavg()}))


@contextlib.contextmanager
def _random_batches(on: bool):
    """While on, training batches are shuffled rows cut in order (no length grouping), as before."""
    if not on:
        yield
        return

    class RandomBatches(training.LengthGroupedBatches):
        def __iter__(self):
            if not self.shuffle:
                yield from super().__iter__()
                return
            order = np.random.default_rng(self.seed + self.epoch).permutation(len(self.lengths))
            yield from (order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size))

    saved, training.LengthGroupedBatches = training.LengthGroupedBatches, RandomBatches
    try:
        yield
    finally:
        training.LengthGroupedBatches = saved


if __name__ == "__main__":
    main()
