"""Click to first usable model, and to the final one, with the leaderboard (core.pipeline.train).

    nice -n 5 python -m bench.bench_leaderboard [--data FILE --text-col text --label-col label]
        [--rows 1000 2000] [--base-model minilm-en] [--max-train-seconds S] [--no-refit]

For each row count: a stratified sample, then ``core.pipeline.train`` with the product's defaults
(method "auto"), timing from the call to the first ``on_leader`` (the best so far saved and usable:
TF-IDF in practice), to the last such save (with a fine-tune saved, its refit on train +
validation follows, on by default since round 11; ``--no-refit`` turns it off) and to the end, with
each candidate's validation score and seconds. Appends
one JSON line per run to bench/results/leaderboard.jsonl with the load average before and after:
a timing taken under load is not a speed claim.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from core import TrainConfig
from core.pipeline import train

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "uci_sentiment_labelled_sentences.csv"
RESULTS = Path(__file__).resolve().parent / "results" / "leaderboard.jsonl"


def run(frame: pd.DataFrame, rows: int, base_model: str, max_train_seconds: float | None, seed: int,
        refit: bool = True) -> dict:
    from sklearn.model_selection import train_test_split

    sample = frame if rows >= len(frame) else train_test_split(frame, train_size=rows, stratify=frame["label"],
                                                               random_state=seed)[0]
    config = TrainConfig(base_model=base_model, seed=seed, max_train_seconds=max_train_seconds, refit_on_all_rows=refit)
    leaders: list[tuple[str, float]] = []
    load_before, started = os.getloadavg(), time.monotonic()
    result = train(sample.reset_index(drop=True), config,
                   on_leader=lambda r: leaders.append((r.metrics["saved_kind"], time.monotonic() - started)))
    total = time.monotonic() - started
    return {
        "rows": int(len(sample)), "base_model": base_model, "seed": seed, "max_train_seconds": max_train_seconds,
        "first_model_s": round(leaders[0][1], 1) if leaders else None, "first_kind": leaders[0][0] if leaders else None,
        "final_s": round(total, 1), "saved_kind": result.metrics["saved_kind"],
        # The last best-so-far save: with a fine-tune saved, what follows is its refit (round 11).
        "last_save_s": round(leaders[-1][1], 1) if leaders else None, "refit_on_all_rows": refit,
        "refit": {k: v for k, v in (result.metrics.get("refit") or {}).items() if k in ("rows", "steps")} or None,
        "test_macro_f1": round(result.metrics["model"]["macro_f1"], 4),
        "candidates": [{k: row[k] for k in ("kind", "status", "score", "seconds", "leader")} for row in result.metrics["leaderboard"]],
        "leaders": leaders, "load_before": load_before, "load_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--base-model", default="minilm-en")
    parser.add_argument("--max-train-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-refit", action="store_true", help="refit_on_all_rows=False (the default before round 11)")
    args = parser.parse_args()
    frame = pd.read_csv(args.data)[[args.text_col, args.label_col]].dropna()
    frame.columns = ["text", "label"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        line = {"data": Path(args.data).name, **run(frame, rows, args.base_model, args.max_train_seconds, args.seed,
                                                   refit=not args.no_refit)}
        print(json.dumps(line), flush=True)
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
