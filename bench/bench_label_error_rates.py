"""Stated vs measured precision of the label-error list across error rates (issue 28.1).

The same 3,000-row samples as bench/bench_label_errors.py (MiniLM embeddings from its cache),
2% / 5% / 10% of labels flipped at random; the ranking and its planted-flip calibration are
core.label_errors.calibrated_ranking over out-of-fold logistic regression on the embeddings
(core.check.out_of_fold_proba, mode "embeddings"): the check's code path without TF-IDF, so a run
of all four sets takes minutes.

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_error_rates --cache /tmp/r3lab
        [--sets uci goemo3 clothing5 goemo7] [--shares 0.02 0.05 0.1] [--seeds 0 1]

Results: bench/results/label_error_rates.jsonl; summary in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from bench.bench_label_errors import embeddings, flip, load

RESULTS = Path(__file__).parent / "results" / "label_error_rates.jsonl"


def main() -> None:
    from core.check import out_of_fold_proba
    from core.label_errors import calibrated_ranking, plant_class_flips, self_confidence_suspicion

    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3", "clothing5", "goemo7"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name)
        emb, _seconds = embeddings(name, df, args.cache)
        classes = np.array(sorted(df["label"].unique()))
        truth = np.searchsorted(classes, df["label"].to_numpy())
        for share in args.shares:
            for seed in args.seeds:
                y, planted = flip(truth, len(classes), share, seed)

                def score(codes: np.ndarray, seed: int = seed, emb: np.ndarray = emb) -> np.ndarray:
                    return self_confidence_suspicion(codes, out_of_fold_proba([], codes, "embeddings", emb, seed, 5))

                ranking = calibrated_ranking(y, score, plant_class_flips, seed=seed)
                row = {"set": name, "share": share, "seed": seed,
                       "measured_precision": round(float(np.isin(ranking.listed, planted).mean()), 3)
                       if len(ranking.listed) else None,
                       "stated_precision": None if ranking.precision is None else round(ranking.precision, 3),
                       "error_rate_estimate": round(ranking.error_rate, 4), "load": os.getloadavg()[0]}
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
