"""Which error-rate estimator makes the label-error list's stated precision closest (issue 28.3).

core.label_errors states the list's precision as error rate x n x r / k: r (the share of planted flips
the list's counterpart catches in copies of the data) and the error rate (anchor rule over the copies'
top regions). This bench stores, per run, the cumulative planted counts down each copy's ranking (6
copies, flips planted exactly as core.label_errors does, the same seed stream), then compares
estimators offline against the measured precision (share of the bench's own flips in the top 5%):
the shipped rule (smallest ratio over anchors 0.1-0.5, 3 copies), other aggregates (median, mean),
single anchors, 6 copies, and "oracle rate": the bench's true flip share with the measured r, which
shows how much of the gap is the error-rate estimate. Label model: out-of-fold logistic regression on
cached MiniLM embeddings (core.label_models, mode "embeddings"), as bench_label_error_rates.

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_error_estimators --cache /tmp/r5lab
        [--sets uci goemo3 clothing3 clothing5 goemo7] [--shares 0.02 0.05 0.1] [--seeds 0 1]

Results: bench/results/label_error_estimators.jsonl (the runs); the comparison is printed.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from bench.bench_label_errors import embeddings, flip, load

RESULTS = Path(__file__).parent / "results" / "label_error_estimators.jsonl"
ANCHORS = (0.1, 0.2, 0.3, 0.4, 0.5)
ESTIMATORS = {"shipped (min over 0.1-0.5, 3 copies)": (3, "min", ANCHORS), "min, 6 copies": (6, "min", ANCHORS),
              "median, 3 copies": (3, "median", ANCHORS), "mean, 3 copies": (3, "mean", ANCHORS),
              "anchor 0.1": (3, "min", (0.1,)), "anchor 0.2": (3, "min", (0.2,)), "anchor 0.3": (3, "min", (0.3,)),
              "anchor 0.5": (3, "min", (0.5,)), "min over 0.2-0.5": (3, "min", (0.2, 0.3, 0.4, 0.5))}


def collect(name: str, share: float, seed: int, emb: np.ndarray, truth: np.ndarray, n_classes: int) -> dict:
    """One run: the measured top-5% precision and each copy's cumulative planted count down its ranking."""
    from core.label_errors import PLANT_STREAM, plant_class_flips, planted_count, self_confidence_suspicion
    from core.label_models import out_of_fold_proba

    y, planted = flip(truth, n_classes, share, seed)

    def score(codes: np.ndarray) -> np.ndarray:
        return self_confidence_suspicion(codes, out_of_fold_proba([], codes, "embeddings", emb, seed, 5))

    n, k = len(y), round(0.05 * len(y))
    measured = float(np.isin(np.argsort(-score(y), kind="stable")[:k], planted).mean())
    rng, m = np.random.default_rng([seed, PLANT_STREAM]), planted_count(n)
    copies = []
    for _ in range(6):
        copy, rows = plant_class_flips(y, m, rng)
        is_planted = np.isin(np.arange(n), rows)
        copies.append(np.cumsum(is_planted[np.argsort(-score(copy), kind="stable")]).tolist())
    return {"set": name, "share": share, "seed": seed, "n": n, "k": k, "m": m, "measured": measured, "copies": copies}


def stated(run: dict, copies: int, aggregate: str, anchors: tuple[float, ...], oracle: bool = False) -> float:
    """The precision an estimator states for one stored run (core.label_errors' arithmetic)."""
    n, k, m = run["n"], run["k"], run["m"]
    unplanted, scale, caught = collections.Counter(), collections.Counter(), []
    for cum in (np.array(c) for c in run["copies"][:copies]):
        for q in anchors:
            anchor = int(np.argmax(cum >= min(m, max(5, q * m))))
            unplanted[q] += anchor + 1 - cum[anchor]
            scale[q] += (n - m) * cum[anchor] / m
        counterpart = int(np.argmax(np.arange(1, n + 1) - cum >= max(1, round(k * (n - m) / n))))
        caught.append(cum[counterpart] / m)
    ratios = [unplanted[q] / max(scale[q], 1e-9) for q in anchors]
    rate = run["share"] if oracle else min(1.0, float({"min": np.min, "median": np.median, "mean": np.mean}[aggregate](ratios)))
    return min(1.0, rate * n * float(np.mean(caught)) / k)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3", "clothing3", "clothing5", "goemo7"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--runs", type=Path, default=None, help="compare stored runs (a jsonl this bench wrote) only")
    args = parser.parse_args()
    if args.runs:
        runs = [json.loads(line) for line in args.runs.open()]
    else:
        RESULTS.parent.mkdir(exist_ok=True)
        runs = []
        for name in args.sets:
            df = load(name)
            emb, _seconds = embeddings(name, df, args.cache)
            classes = np.array(sorted(df["label"].unique()))
            truth = np.searchsorted(classes, df["label"].to_numpy())
            for share in args.shares:
                for seed in args.seeds:
                    runs.append(collect(name, share, seed, emb, truth, len(classes)))
                    with RESULTS.open("a") as fh:
                        fh.write(json.dumps(runs[-1]) + "\n")
    rows = {**{label: dict(zip(("copies", "aggregate", "anchors"), spec)) for label, spec in ESTIMATORS.items()},
            "oracle rate (the bench's flip share)": {"copies": 3, "aggregate": "min", "anchors": ANCHORS, "oracle": True}}
    for label, spec in rows.items():
        gaps = collections.defaultdict(list)
        for run in runs:
            gaps[run["set"]].append(abs(stated(run, **spec) - run["measured"]))
        every = [g for v in gaps.values() for g in v]
        print(f"{label:40s} mean |gap| {np.mean(every):.3f}, worst {max(every):.2f} over {len(every)} runs; "
              + ", ".join(f"{s} {np.mean(v):.2f}" for s, v in gaps.items()))


if __name__ == "__main__":
    main()
