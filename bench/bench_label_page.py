"""Benchmark of the Label page's "Suspected label errors first" at its own scale (round 5, issue 1 of the
newcomer walk): a few hundred labelled rows, a 20-row list, a share stated or not.

For each public set (a 300-row random sample, seed 0; /work/shared/data, licences in its README): UCI
sentences (2 classes) and GoEmotions single-tag comments mapped to sentiment (3 classes, as
bench_label_errors' goemo3), 20 labels flipped at random per seed. The Label page's ranking
(core.label_errors.rank_class_errors, k = 20) runs with TF-IDF only and with TF-IDF + MiniLM embeddings
("both", the check's "auto"). Reported per run: the ranking's skill on the copies' planted flips
(core.label_errors.Ranking.skill) and ROC AUC (Ranking.auc), hits / chance, the raw estimate of the list's
precision, the share the page states (None under core.label_errors.MIN_AUC), the share round 5's gate would
have stated (``stated_skill_gate``: skill >= 0.45) and the measured share of the list that are this bench's
flips (planted only: a lower bound, the sets have wrong labels of their own).

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_page [--sets uci goemo3] [--seeds 0 1 2 3]
        [--rows 3000 --flipped 150 --listed 150 --modes both --cache /tmp/r5lab]

``--rows 3000 --flipped 150 --listed 150``: the check's scale (its top 5%); ``--cache``: a folder with the
3,000-row sets' MiniLM embeddings (<set>.npy, as bench_label_errors writes them) instead of encoding.

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
SKILL_GATE = 0.45  # round 5's gate (core.label_errors.MIN_SKILL then), for the before/after comparison


def main() -> None:
    from core.label_errors import rank_class_errors
    from core.ood import encoder_embedder

    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["uci", "goemo3"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--flipped", type=int, default=FLIPPED)
    parser.add_argument("--listed", type=int, default=LISTED)
    parser.add_argument("--modes", nargs="+", default=["tfidf", "both"], choices=["tfidf", "both"])
    parser.add_argument("--cache", type=Path, default=None, help="folder with <set>.npy MiniLM embeddings of load(set)")
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    for name in args.sets:
        df = load(name).sample(args.rows, random_state=0)
        texts = df["text"].tolist()
        t0 = time.perf_counter()
        if "both" not in args.modes:
            emb = None
        elif args.cache is not None:  # rows of load(name), in the sample's order
            emb = np.load(args.cache / f"{name}.npy", allow_pickle=False)[df.index.to_numpy()]
        else:
            emb = encoder_embedder("minilm-en")(texts)
        df = df.reset_index(drop=True)
        embed_s = round(time.perf_counter() - t0, 1)
        classes = np.array(sorted(df["label"].unique()))
        for seed in args.seeds:
            y, planted = flip(np.searchsorted(classes, df["label"].to_numpy()), len(classes), args.flipped / args.rows, seed)
            for mode in args.modes:
                load_start, t0 = os.getloadavg()[0], time.perf_counter()
                ranking, _ = rank_class_errors(texts, y, mode, emb if mode == "both" else None, 42, k=args.listed)
                measured = float(np.isin(ranking.listed, planted).mean()) if len(ranking.listed) else None
                skill_gate = ranking.precision if len(ranking.listed) and ranking.skill >= SKILL_GATE else None
                row = {"set": name, "rows": args.rows, "flipped": args.flipped, "seed": seed, "mode": mode, "k": ranking.k,
                       "listed": len(ranking.listed), "hits": ranking.hits, "chance": round(ranking.expected_hits, 2),
                       "planted_per_copy": ranking.planted, "skill": round(ranking.skill, 3),
                       "auc": None if ranking.auc is None else round(ranking.auc, 3),
                       "estimate": None if ranking.precision is None else round(ranking.precision, 3),
                       "stated": None if ranking.stated_precision is None else round(ranking.stated_precision, 3),
                       "stated_skill_gate": None if skill_gate is None else round(skill_gate, 3),
                       "measured": None if measured is None else round(measured, 3),
                       "seconds": round(time.perf_counter() - t0, 1), "seconds_embedding": embed_s,
                       "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2)}
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
