"""Benchmark: Ad Copy Lab speed with the real base model (all-MiniLM-L6-v2) on this CPU.

Models (saved under bench/results/, git-ignored, reused on later runs; ``--retrain`` redoes them):
- sentiment: ``minilm-en`` fine-tuned 1 epoch on sample_data/sentiment_reviews_en.csv (UCI
  Sentiment Labelled Sentences, CC BY 4.0). bench/results/predict-model (made by
  bench_predict.py with the same recipe) is reused when it exists.
- clothing (``--targeting``): ``minilm-en`` fine-tuned 1 epoch on the first ``--clothing-rows``
  rows of sample_data/ad_response_clothing.csv with profile columns age and department, text
  ``review``, label ``recommended`` (review data standing in for ad response; its accuracy is
  printed for orientation only, it says nothing about real ads).

Timed (model loaded once and kept, as the page keeps it with st.cache_resource; one warm-up call
first; median of ``--repeats`` runs, and the first, cold, run):
- score_variants: a base ad + 20 variants (one batched predict call, plus the margin);
- explain: leave-one-word-out occlusion of one 14-word variant (15 texts in one call), and of
  one 60-word text;
- targeting_matrix (``--targeting``): segments from the model's test rows (age in 4 bins x
  department) x 6 ads.

The machine is shared with other work: the ``uptime`` load averages are printed with each number.

Usage: .venv/bin/python -m bench.bench_adlab [--targeting] [--repeats 5] [--retrain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_avg  # noqa: E402 - after the path is set, so the file also runs as a script

RESULTS = ROOT / "bench" / "results"
SHARED_SENTIMENT_MODEL = RESULTS / "predict-model"  # bench_predict.py's model, same recipe
SENTIMENT_MODEL = RESULTS / "adlab-sentiment-model"
CLOTHING_MODEL = RESULTS / "adlab-clothing-model"
SENTIMENT_DATA = ROOT / "sample_data" / "sentiment_reviews_en.csv"
CLOTHING_DATA = ROOT / "sample_data" / "ad_response_clothing.csv"

BASE = "Our softest summer dress: flattering fit, true to size."
VARIANTS = [
    "Love this dress! Soft, flattering and fits perfectly.",
    "Summer dress in soft cotton. Runs small, order a size up.",
    "The dress everyone asks about: comfortable, flattering, great value.",
    "Cheap fabric? Not here. Our summer dress is made to last.",
    "Flattering summer dress, now 20% off.",
    "Feel great all summer in our softest dress.",
    "A dress that fits: true to size, easy returns.",
    "Lightweight, breathable and cute: the perfect summer dress.",
    "Don't settle for a boring dress this summer.",
    "Our best-selling dress is back in five new colours.",
    "Soft. Flattering. True to size.",
    "The only summer dress you need, in sizes XS to XXL.",
    "Comfortable enough for work, pretty enough for a wedding.",
    "Customers call it the most flattering dress they own.",
    "Disappointed with ill-fitting dresses? Try ours.",
    "Summer dress, soft fabric, free shipping.",
    "Wash it, wear it, love it: the easy summer dress.",
    "Petite, regular and tall: a summer dress for every height.",
    "This dress sold out twice. Get yours before it goes again.",
    "Terrible fit and cheap fabric are things of the past.",
]
EXPLAIN_TEXT = (
    "The dress everyone asks about: comfortable, flattering, great value, and true to size."
)
LONG_TEXT = (
    "I ordered this dress for a summer wedding and it arrived quickly. The fabric is soft and "
    "breathable, the colour is exactly as pictured, and it fits true to size. The length hits "
    "just below the knee, which is perfect for me. I got many compliments and would happily buy "
    "it again in another colour. Highly recommend it to anyone."
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(fn, repeats: int) -> tuple[float, float, float, object]:
    """(first run wall seconds, median wall seconds of the following runs, median process CPU
    seconds of those runs, last result)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return first, statistics.median(walls), statistics.median(cpus), result


def fmt(first: float, median: float, cpu: float) -> str:
    return (
        f"median {median * 1000:.0f} ms wall ({cpu * 1000:.0f} ms CPU), first {first * 1000:.0f} ms"
    )


def train_model(df: pd.DataFrame, folder: Path, **config) -> None:
    from core import TrainConfig, train

    cfg = TrainConfig(base_model="minilm-en", epochs=1.0, choose_simpler=False, **config)  # the transformer is measured
    log(f"training {folder.name} on {len(df)} rows (load {load_avg()})")
    start = time.perf_counter()
    result = train(df, cfg)
    result.save(folder, overwrite=True)
    log(
        f"trained in {time.perf_counter() - start:.0f} s; test metrics "
        f"{_headline(result.metrics)} (load {load_avg()})"
    )


def _headline(metrics: dict) -> str:
    m = metrics["model"]
    base = metrics.get("baselines", {})
    parts = [
        f"accuracy {m.get('accuracy', float('nan')):.3f}",
        f"macro-F1 {m.get('macro_f1', float('nan')):.3f}",
    ]
    if "roc_auc" in m and m["roc_auc"] is not None:
        parts.append(f"AUC {m['roc_auc']:.3f}")
    for name, values in base.items():
        if isinstance(values, dict) and "macro_f1" in values:
            parts.append(f"{name} macro-F1 {values['macro_f1']:.3f}")
    return ", ".join(parts)


def sentiment_model(retrain: bool) -> Path:
    if not retrain and (SHARED_SENTIMENT_MODEL / "marketune.json").is_file():
        return SHARED_SENTIMENT_MODEL
    if retrain or not (SENTIMENT_MODEL / "marketune.json").is_file():
        train_model(pd.read_csv(SENTIMENT_DATA), SENTIMENT_MODEL)
    return SENTIMENT_MODEL


def clothing_model(retrain: bool, rows: int) -> Path:
    if retrain or not (CLOTHING_MODEL / "marketune.json").is_file():
        df = pd.read_csv(CLOTHING_DATA, keep_default_na=False, na_values=[""]).head(rows)
        train_model(
            df,
            CLOTHING_MODEL,
            text_columns=("review",),
            profile_columns=("age", "department"),
            label_column="recommended",
            max_length=128,
        )
    return CLOTHING_MODEL


def bench_scoring(folder: Path, repeats: int) -> None:
    from core import adlab, load_folder

    start = time.perf_counter()
    model = load_folder(folder, device="cpu")
    log(f"model {folder.name}: loaded in {time.perf_counter() - start:.2f} s (load {load_avg()})")
    success = adlab.default_positive_class(model)
    adlab.score_variants(model, BASE, VARIANTS[:2], success)  # warm-up (first call allocates)

    first, median, cpu, scored = timed(
        lambda: adlab.score_variants(model, BASE, VARIANTS, success), repeats
    )
    log(f"score_variants, base + 20 variants: {fmt(first, median, cpu)} (load {load_avg()})")
    margin = scored.attrs["margin"]
    unclear = int(scored["no_clear_difference"].sum())
    log(
        f"  margin ±{margin['value']:.3f} from {margin['n_test']} test rows; "
        f"{unclear}/20 variants 'no clear difference'"
    )
    top = scored.iloc[0]
    log(f"  best: {top['variant']} {top['score']:.3f} {top['text']!r}")

    n_units = len(adlab.text_units(EXPLAIN_TEXT))
    first, median, cpu, expl = timed(lambda: adlab.explain(model, EXPLAIN_TEXT, success), repeats)
    log(f"explain, {n_units} units: {fmt(first, median, cpu)} (load {load_avg()})")
    top = expl.nlargest(3, "attribution")
    log(
        "  top words: "
        + ", ".join(f"{w} {v:+.3f}" for w, v in zip(top["word"], top["attribution"]))
    )
    n_units = len(adlab.text_units(LONG_TEXT))
    first, median, cpu, _ = timed(
        lambda: adlab.explain(model, LONG_TEXT, success), max(1, repeats // 2)
    )
    log(f"explain, {n_units} units: {fmt(first, median, cpu)} (load {load_avg()})")


def bench_targeting(folder: Path, repeats: int) -> None:
    from core import adlab, load_folder

    model = load_folder(folder, device="cpu")
    log(f"clothing model: {_headline(model.metrics)} (review data as a stand-in for ad response)")
    people = adlab.profile_frame_from_test(model)
    segments = adlab.segments_from_profile(people, ["age", "department"], 4)
    ads = {"Base": BASE, **{f"V{i + 1}": t for i, t in enumerate(VARIANTS[:5])}}
    adlab.targeting_matrix(model, {"Base": BASE}, segments.head(2))  # warm-up
    first, median, cpu, matrix = timed(
        lambda: adlab.targeting_matrix(model, ads, segments), repeats
    )
    log(
        f"targeting_matrix {len(segments)} segments x {len(ads)} ads = {matrix.size} scores: "
        f"{fmt(first, median, cpu)} (load {load_avg()})"
    )
    up = adlab.targeting_uplift(matrix, segments.set_index("segment")["size"])
    margin = adlab.uncertainty_margin(model)
    log(
        f"  single best ad {up['single_best_ad']} {up['single_best_response']:.3f}; targeted "
        f"{up['targeted_response']:.3f}; uplift {up['uplift']:+.4f} "
        f"({up['n_segments_switched']} segments switch); "
        f"model margin ±{margin.value:.3f}"
    )
    profile = {"age": 35, "department": "Dresses"}
    first, median, cpu, _ = timed(
        lambda: adlab.score_variants(model, BASE, VARIANTS, None, profile), repeats
    )
    log(f"score_variants with a profile, base + 20: {fmt(first, median, cpu)} (load {load_avg()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument(
        "--targeting", action="store_true", help="also train/time the clothing profile model"
    )
    parser.add_argument("--clothing-rows", type=int, default=2000)
    args = parser.parse_args()
    import torch

    log(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
        f"(load {load_avg()})"
    )
    bench_scoring(sentiment_model(args.retrain), args.repeats)
    if args.targeting:
        bench_targeting(clothing_model(args.retrain, args.clothing_rows), args.repeats)


if __name__ == "__main__":
    main()
