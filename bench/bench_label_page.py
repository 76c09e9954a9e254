"""Benchmark of the Label page's "Suspected label errors first" at its own scale (round 5, issue 1 of the
newcomer walk): a few hundred labelled rows, a 20-row list, a share stated or not.

For each public set (a 300-row random sample, seed 0; /work/shared/data, licences in its README): UCI
sentences (2 classes) and GoEmotions single-tag comments mapped to sentiment (3 classes, as
bench_label_errors' goemo3), 20 labels flipped at random per seed. The Label page's ranking
(core.label_errors.rank_class_errors, k = 20) runs with TF-IDF only and with TF-IDF + MiniLM embeddings
("both", the check's "auto"). Reported per run: the ranking's skill on the copies' planted flips
(core.label_errors.Ranking.skill), hits / chance, the raw estimate of the list's precision, the share the
page states (None under core.label_errors.MIN_AUC) and the measured share of the list that are this
bench's flips (planted only: a lower bound, the sets have wrong labels of their own).

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_page [--sets uci goemo3] [--seeds 0 1 2 3]

Results: bench/results/label_page.jsonl; summary in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.bench_label_errors import flip, load

RESULTS = Path(__file__).parent / "results" / "label_page.jsonl"
ROWS, FLIPPED, LISTED = 300, 20, 20


def main() -> None:
    from core.label_errors import rank_class_errors
    from core.ood import encoder_embedder

    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name).sample(ROWS, random_state=0).reset_index(drop=True)
        texts = df["text"].tolist()
        t0 = time.perf_counter()
        emb = encoder_embedder("minilm-en")(texts)
        embed_s = round(time.perf_counter() - t0, 1)
        classes = np.array(sorted(df["label"].unique()))
        for seed in args.seeds:
            y, planted = flip(np.searchsorted(classes, df["label"].to_numpy()), len(classes), FLIPPED / ROWS, seed)
            for mode in ("tfidf", "both"):
                load_start, t0 = os.getloadavg()[0], time.perf_counter()
                ranking, _ = rank_class_errors(texts, y, mode, emb if mode == "both" else None, 42, k=LISTED)
                measured = float(np.isin(ranking.listed, planted).mean()) if len(ranking.listed) else None
                row = {"set": name, "rows": ROWS, "flipped": FLIPPED, "seed": seed, "mode": mode, "k": ranking.k,
                       "listed": len(ranking.listed), "hits": ranking.hits, "chance": round(ranking.expected_hits, 2),
                       "planted_per_copy": ranking.planted, "skill": round(ranking.skill, 3),
                       "estimate": None if ranking.precision is None else round(ranking.precision, 3),
                       "stated": None if ranking.stated_precision is None else round(ranking.stated_precision, 3),
                       "measured": None if measured is None else round(measured, 3),
                       "seconds": round(time.perf_counter() - t0, 1), "seconds_embedding": embed_s,
                       "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2)}
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
