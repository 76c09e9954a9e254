"""Time and memory of the near-duplicate grouping training's split uses (core.duplicates), and the
recall of its candidate cap against comparing every candidate.

    nice -n 10 .venv/bin/python -m bench.bench_near_duplicates [--rows 20000] [--planted 0.1] [--synthetic]

Data: the first ``--rows`` reviews of ../shared/data/womens_clothing_ecommerce_reviews.csv (CC0,
Kaggle "Women's E-Commerce Clothing Reviews"). ``--planted F`` adds F x rows near copies (a word
changed, dropped or an emoji added) and compares the default candidate cap with every candidate
(``max_candidates=None``, the exact prefix filter). ``--synthetic`` builds ``--rows`` distinct
reviews from 3-5 random sentences of the real ones (for sizes beyond the 23,486 real reviews).
Prints wall and CPU time of ``core.data.duplicate_groups`` (what training calls: normalise, vectorise,
pairs, groups), peak RSS and the load average.
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench import load_avg

DATA = Path("/work/shared/data/womens_clothing_ecommerce_reviews.csv")
EMOJI = ["😀", "🔥", "👍", "💔", "!!"]


def reviews(rows: int, synthetic: bool, seed: int = 0) -> list[str]:
    texts = pd.read_csv(DATA, keep_default_na=False)["text"].astype(str)
    texts = [t for t in texts if t.strip()]
    if not synthetic:
        return texts[:rows]
    rng = np.random.default_rng(seed)
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 20]
    return [" ".join(rng.choice(sentences, size=int(rng.integers(3, 6)))) for _ in range(rows)]


def plant(texts: list[str], share: float, seed: int = 0) -> list[str]:
    """``texts`` plus near copies of a random ``share`` of them (each one edit)."""
    rng = np.random.default_rng(seed)
    extra = []
    for k in rng.choice(len(texts), size=int(len(texts) * share), replace=False):
        words = texts[k].split()
        if len(words) < 4:
            continue
        at, kind = int(rng.integers(len(words))), int(rng.integers(3))
        if kind == 0:
            words[at] = "really"
        elif kind == 1:
            del words[at]
        else:
            words.insert(at, EMOJI[int(rng.integers(len(EMOJI)))])
        extra.append(" ".join(words))
    return texts + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--planted", type=float, default=0.0)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    from core.data import duplicate_groups, normalise_for_duplicates
    from core.duplicates import char_vectors, similar_pairs

    texts = plant(reviews(args.rows, args.synthetic), args.planted) if args.planted else reviews(args.rows, args.synthetic)
    labels = ["x"] * len(texts)
    print(f"{len(texts):,} texts ({'synthetic' if args.synthetic else 'real'} reviews"
          f"{f', {args.planted:.0%} near copies planted' if args.planted else ''}), load {load_avg()} at start")
    start, cpu = time.perf_counter(), time.process_time()
    _, message = duplicate_groups(texts, labels)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"duplicate_groups: {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak:,.0f} MB, load {load_avg()} at end")
    print(f"  {message or 'no duplicates or near copies'}")
    if args.planted:
        keys = list(dict.fromkeys(normalise_for_duplicates(t) for t in texts))
        vectors = char_vectors(keys)
        for cap in (10, None):
            start = time.perf_counter()
            i, _, _ = similar_pairs(vectors, max_candidates=cap)
            print(f"  similar_pairs(max_candidates={cap}): {len(i):,} pairs in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
