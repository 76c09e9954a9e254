"""Benchmark: end-to-end CSV -> CSV batch prediction throughput and peak memory.

Model: all-MiniLM-L6-v2 (``minilm-en``) fine-tuned for 1 epoch on sample_data/sentiment_reviews_en.csv
(UCI Sentiment Labelled Sentences, CC BY 4.0), saved under bench/results/predict-model and reused
on later runs (``--retrain`` to redo it). One epoch is enough: this measures speed, not accuracy.

Input: 20,000 short real texts (review titles and first sentences of the reviews in
/work/shared/data/womens_clothing_ecommerce_reviews.csv, CC0), in a CSV with an id column.

Timed, in one process, one after the other, each from reading the input CSV to the finished
output CSV (model loading excluded, after a warm-up call):
- baseline: ``transformers.pipeline("text-classification", model=folder)`` fed the list of texts
  with batch_size=32, results written to CSV with pandas (top label and score only);
- ours fp32: ``core.predict.predict_csv`` (length-sorted batches, dynamic padding, inference_mode,
  all class probabilities, formula-safe output);
- ours int8 / ours bf16: the same on each fast-path candidate (``TextClassifier.quantize(method)``:
  int8 dynamic quantization of the Linear layers, bfloat16 weights). core.fastpath checks both on the
  model's test split and offers the fastest one that keeps >= 99% of labels (fast_path.json).

Peak memory: ``predict_csv`` with the offered fast form (fp32 when none passed) on a 1,000,000-row
file of repeated real texts, in a subprocess whose ``ru_maxrss`` is read when it ends.

The machine is shared: ``uptime`` load averages are printed next to every timing.

Usage: make bench-predict   (or: .venv/bin/python -m bench.bench_predict [--rows N] [--rss-rows N]
       [--skip-rss] [--sweep] [--retrain] [--threads N] [--recheck])
On a crowded machine torch's OpenMP threads spin while they wait for each other; run with
OMP_WAIT_POLICY=PASSIVE (or --threads 1) there, and say so next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_avg  # noqa: E402 - after the path is set, so the file also runs as a script

RESULTS = ROOT / "bench" / "results"
MODEL_DIR = RESULTS / "predict-model"
TRAIN_DATA = ROOT / "sample_data" / "sentiment_reviews_en.csv"
TEXT_SOURCE = Path("/work/shared/data/womens_clothing_ecommerce_reviews.csv")
PIPELINE_BATCH = 32


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_model(retrain: bool) -> Path:
    """The benchmark model folder, trained once (about 2 minutes on 2 cores) and reused."""
    from core import TrainConfig, read_csv, train

    if (MODEL_DIR / "marketune.json").is_file() and not retrain:
        log(f"reusing {MODEL_DIR}")
        return MODEL_DIR
    log("training minilm-en for 1 epoch on sample_data/sentiment_reviews_en.csv ...")
    config = TrainConfig(text_columns=("text",), label_column="label", base_model="minilm-en", method="full", epochs=1.0,
                         choose_simpler=False)  # the transformer is what is timed
    started = time.monotonic()

    def progress(event) -> None:
        if event.phase == "train" and event.step % 20 == 0:
            log(f"  train step {event.step}/{event.total_steps} loss {event.loss or 0:.3f}")

    result = train(read_csv(TRAIN_DATA), config, on_progress=progress)
    result.save(MODEL_DIR, overwrite=True)
    acc = result.metrics["model"].get("accuracy")
    log(f"trained in {time.monotonic() - started:.0f}s, test accuracy {acc:.3f}")
    return MODEL_DIR


def real_texts() -> list[str]:
    """Review titles and first sentences of the clothing reviews: short, real, varied lengths."""
    df = pd.read_csv(TEXT_SOURCE, keep_default_na=False, na_values=[""])
    titles = df["title"].dropna().astype(str).str.strip()
    first = df["text"].dropna().astype(str).map(lambda t: re.split(r"(?<=[.!?])\s+", t.strip())[0])
    pool = pd.concat([titles, first], ignore_index=True)
    return pool[pool.str.len() > 0].tolist()


def write_input(path: Path, rows: int, seed: int = 0) -> Path:
    """A CSV ``id,text,channel`` of ``rows`` real texts drawn (with repeats if needed) from the pool."""
    pool = real_texts()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=rows, replace=rows > len(pool))
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = np.array(["email", "social", "search", "web"])
    block = 100_000
    for start in range(0, rows, block):  # written in blocks: the 1M-row file never sits in memory
        idx = picks[start : start + block]
        frame = pd.DataFrame({
            "id": np.arange(start, start + len(idx)),
            "text": [pool[i] for i in idx],
            "channel": channels[rng.integers(0, len(channels), len(idx))],
        })
        frame.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False)
    return path


def time_pipeline(folder: Path, source: Path, out: Path) -> dict:
    """The naive baseline: pipeline(list of texts, batch_size=32), then a CSV with pandas."""
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(folder), device="cpu")
    clf(["warm up"], batch_size=PIPELINE_BATCH)
    load = load_avg()
    started = time.perf_counter()
    df = pd.read_csv(source, keep_default_na=False, na_values=[""])
    texts = df["text"].fillna("").astype(str).tolist()
    results = clf(texts, batch_size=PIPELINE_BATCH, truncation=True)
    df["predicted_label"] = [r["label"] for r in results]
    df["confidence"] = [r["score"] for r in results]
    df.to_csv(out, index=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(df), "load_before": load, "load_after": load_avg()}


def time_ours(model, source: Path, out: Path) -> dict:
    from core.predict import predict_csv

    model.predict_proba(["warm up"])
    load = load_avg()
    started = time.perf_counter()
    summary = predict_csv(model, source, out)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": summary.n_rows, "load_before": load, "load_after": load_avg()}


def check_outputs_agree(ours: Path, baseline: Path) -> float:
    """Share of rows where our fp32 label equals the pipeline's (a sanity check on the race)."""
    a = pd.read_csv(ours, usecols=["predicted_label"], dtype=str)["predicted_label"]
    b = pd.read_csv(baseline, usecols=["predicted_label"], dtype=str)["predicted_label"]
    return float((a.to_numpy() == b.to_numpy()).mean())


def sweep(models: dict, texts: list[str]) -> list[dict]:
    """predict_proba texts/s for batch sizes and thread counts (in memory, no CSV)."""
    import torch

    rows = []
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for name, m in models.items():
            for batch in (32, 64, 128, 256):
                m.predict_proba(texts[:64], batch_size=batch)
                started = time.perf_counter()
                m.predict_proba(texts, batch_size=batch)
                seconds = time.perf_counter() - started
                rows.append({"model": name, "threads": threads, "batch": batch,
                             "texts_per_s": len(texts) / seconds, "load": load_avg()})
                log(f"  sweep {name} threads={threads} batch={batch}: {rows[-1]['texts_per_s']:.0f} texts/s")
    torch.set_num_threads(default_threads)
    return rows


def child_rss(folder: Path, source: Path, out: Path, method: str | None) -> None:
    """Run in the subprocess: predict the big file with progress on stderr, print JSON."""
    from core.models import load_folder
    from core.predict import predict_csv

    model = load_folder(folder)
    if method:
        model.quantize(method)
    last = [0.0]

    def progress(p) -> None:
        if time.monotonic() - last[0] >= 30 or p.step == p.total_steps:
            last[0] = time.monotonic()
            eta = f", eta {p.eta_s / 60:.1f} min" if p.eta_s is not None else ""
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            log(f"  1M-row run: {p.step:,}/{p.total_steps:,} rows{eta}, peak RSS so far {rss:.0f} MB, load {load_avg()}")

    summary = predict_csv(model, source, out, on_progress=progress)
    print(json.dumps({"rows": summary.n_rows, "seconds": summary.seconds,
                      "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure_rss(folder: Path, rows: int, method: str | None, threads: int | None = None) -> dict:
    source = RESULTS / f"predict_input_{rows}.csv"
    if not source.is_file():
        log(f"writing a {rows:,}-row input file ...")
        write_input(source, rows, seed=1)
    out = RESULTS / f"predict_output_{rows}.csv"
    log(f"predicting {rows:,} rows in a subprocess ({method or 'fp32'}) ...")
    load = load_avg()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_predict", "--child", str(folder), str(source), str(out),
         *(["--fast", method] if method else []),
         *(["--threads", str(threads)] if threads else [])],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True,
    )
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux
    n_out = sum(len(c) for c in pd.read_csv(out, usecols=["predicted_label"], chunksize=200_000, dtype=str))
    out.unlink(missing_ok=True)
    return {"rows": rows, "rows_out": n_out, "peak_rss_mb": peak_mb, "seconds": child["seconds"],
            "load_before": load, "load_after": load_avg(),
            "input_mb": source.stat().st_size / 1e6, "method": method or "fp32"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rss-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also time batch sizes and thread counts")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for every path")
    parser.add_argument("--recheck", action="store_true", help="redo the model's fast-path check")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "SRC", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--fast", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child_rss(*map(Path, args.child), method=args.fast)
        return 0

    from core.fastpath import check_fast_path, quantized_copy, read_fast_path
    from core.models import load_folder
    from core.models.folder import FAST_METHODS

    RESULTS.mkdir(parents=True, exist_ok=True)
    log(f"load average at start: {load_avg()} (2 cores: above ~2 means other work competes)")
    folder = ensure_model(args.retrain)
    model = load_folder(folder)
    check = (None if args.recheck else read_fast_path(folder)) or check_fast_path(folder, model)
    log(f"fast-path check: passed={check['passed']} method={check['method']} ({check['reason']})")

    source = write_input(RESULTS / f"predict_input_{args.rows}.csv", args.rows)
    results: dict[str, dict] = {}
    log(f"baseline pipeline on {args.rows:,} rows ...")
    results["pipeline"] = time_pipeline(folder, source, RESULTS / "out_pipeline.csv")
    log(f"  {args.rows / results['pipeline']['seconds']:.0f} rows/s")
    models = {"fp32": model, **{m: quantized_copy(model, m) for m in FAST_METHODS}}
    for name, m in models.items():
        log(f"ours {name} ...")
        results[name] = time_ours(m, source, RESULTS / f"out_{name}.csv")
        log(f"  {args.rows / results[name]['seconds']:.0f} rows/s")
    agree = check_outputs_agree(RESULTS / "out_fp32.csv", RESULTS / "out_pipeline.csv")
    agree_fast = {m: check_outputs_agree(RESULTS / f"out_{m}.csv", RESULTS / "out_fp32.csv") for m in FAST_METHODS}

    sweep_rows = sweep(models, pd.read_csv(source)["text"].astype(str).tolist()[:4000]) if args.sweep else []
    rss = None if args.skip_rss else measure_rss(folder, args.rss_rows, check["method"], args.threads)

    base = results["pipeline"]["seconds"]
    lines = [
        f"Batch prediction, CSV -> CSV, {args.rows:,} short real texts; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}), "
        f"transformers {transformers.__version__}, {os.cpu_count()} CPUs.",
        "",
        "| path | rows/s | x pipeline | seconds | load avg before -> after |",
        "|---|---:|---:|---:|---|",
    ]
    offered = check["method"]
    names = {"pipeline": "baseline: transformers pipeline, batch 32", "fp32": "ours fp32 (predict_csv)",
             **{m: f"ours {m} (fast-path candidate{', offered' if m == offered else ', not offered'})"
                for m in FAST_METHODS}}
    for key, label in ((k, v) for k, v in names.items() if k in results):
        r = results[key]
        lines.append(f"| {label} | {r['rows'] / r['seconds']:,.0f} | {base / r['seconds']:.2f} | "
                     f"{r['seconds']:.1f} | {r['load_before']} -> {r['load_after']} |")
    lines += ["", f"Labels: ours fp32 = pipeline on {agree:.2%} of rows; "
              + "; ".join(f"{m} = fp32 on {a:.2%}" for m, a in agree_fast.items()) + ".",
              f"Fast-path check on the test split: {json.dumps(check)}"]
    if rss:
        lines += ["", "| peak memory run | rows in | rows out | input MB | peak RSS MB | seconds | load avg |",
                  "|---|---:|---:|---:|---:|---:|---|",
                  f"| predict_csv, {rss['method']} | {rss['rows']:,} | {rss['rows_out']:,} | {rss['input_mb']:.0f} | "
                  f"{rss['peak_rss_mb']:,.0f} | {rss['seconds']:.0f} | {rss['load_before']} -> {rss['load_after']} |"]
    if sweep_rows:
        lines += ["", "| model | threads | batch | texts/s (in memory) | load |", "|---|---:|---:|---:|---|"]
        lines += [f"| {r['model']} | {r['threads']} | {r['batch']} | {r['texts_per_s']:,.0f} | {r['load']} |"
                  for r in sweep_rows]
    busy = max(float(r["load_before"].split()[0]) for r in results.values())
    if busy > (os.cpu_count() or 1):
        lines += ["", f"Note: the 1-minute load average reached {busy:.2f} on {os.cpu_count()} CPUs during "
                  "the timings: other work competed for the cores, so absolute rows/s are low; ratios measured "
                  "in the same run are the fairer comparison."]
    table = "\n".join(lines)
    print(table)
    (RESULTS / "bench_predict.md").write_text(table + "\n", encoding="utf-8")
    (RESULTS / "bench_predict.json").write_text(json.dumps(
        {"results": results, "rss": rss, "sweep": sweep_rows, "fast_path_check": check,
         "agreement_fp32_pipeline": agree, "agreement_fast_fp32": agree_fast}, indent=2), encoding="utf-8")
    for name in ("out_pipeline.csv", "out_fp32.csv", *(f"out_{m}.csv" for m in FAST_METHODS)):
        (RESULTS / name).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
