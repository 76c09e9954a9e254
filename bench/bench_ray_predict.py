"""Batch scoring rows/s of a fine-tuned transformer: in-process (`predict_csv`) vs Ray Data, same run.

    nice -n 5 .venv/bin/python -m bench.bench_ray_predict [--rows 20000] [--parts 4] [--workers 2] [--model DIR]

Input: ``--rows`` short real texts (the bundled sentiment sample, repeated) written as one CSV
(in-process) and as ``--parts`` CSV files (Ray); the model: ``--model`` or the bundled
all-MiniLM-L6-v2 fine-tuned for 1 epoch on 400 rows (its transformer candidate, also where the
TF-IDF baseline won: this bench is about the transformer). Ray is timed three ways: its start
(``ray.init``, local cluster), the scoring run (``predict_ray``: actor pool start, model load in
every actor, reading, scoring, writing) and both together. Agreement: every output row is
matched by its ``id`` column (complete, in order) and the labels compared. Prints a Markdown
table with the 1-minute load average of each phase and one JSON line (also appended to
bench/results/ray_predict.jsonl). Targets (issue 28): Ray >= 0.9x the in-process rows/s without
its start, >= 0.75x with it, agreement 100%; only meaningful on an idle machine (load < 3).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import load_avg

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"
RESULTS = ROOT / "bench" / "results" / "ray_predict.jsonl"


def transformer_model(work: Path) -> Path:
    """The bundled MiniLM fine-tuned on 400 sample rows; the transformer's folder even where
    training put the TF-IDF baseline in place (it keeps the other under candidates/)."""
    from core import TrainConfig, read_csv, train

    model_dir = work / "model"
    df = read_csv(SAMPLE).sample(400, random_state=0)
    train(df, TrainConfig(text_columns=("text",), label_column="label", epochs=1.0, method="full")).save(model_dir)
    candidate = model_dir / "candidates" / "transformer"
    return candidate if candidate.is_dir() else model_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="rows per Ray actor call (default: core.ray_predict.rows_per_call)")
    args = parser.parse_args()

    import ray

    from core.models import load_folder
    from core.predict import predict_csv
    from core.ray_predict import predict_ray, rows_per_call

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    model_dir = args.model or transformer_model(work)
    texts = pd.read_csv(SAMPLE)["text"]
    rows = pd.DataFrame({"id": range(args.rows), "text": [texts[i % len(texts)] for i in range(args.rows)]})
    parts = work / "parts"
    parts.mkdir()
    size = -(-args.rows // args.parts)
    for i in range(args.parts):
        rows.iloc[i * size : (i + 1) * size].to_csv(parts / f"part-{i:03d}.csv", index=False)
    rows.to_csv(work / "all.csv", index=False)

    model = load_folder(model_dir)
    started = time.monotonic()
    predict_csv(model, work / "all.csv", work / "local.csv")
    local_s, local_load = time.monotonic() - started, load_avg()
    del model

    started = time.monotonic()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    start_s = time.monotonic() - started
    started = time.monotonic()
    _, facts = predict_ray(model_dir, parts, work / "ray.csv", workers=args.workers,
                           batch_size=args.batch_size)
    ray_s, ray_load = time.monotonic() - started, load_avg()
    ray.shutdown()

    local, remote = pd.read_csv(work / "local.csv"), pd.read_csv(work / "ray.csv")
    complete = remote["id"].tolist() == list(range(args.rows)) == local["id"].tolist()
    agreement = float((local["predicted_label"] == remote["predicted_label"]).mean()) if complete else 0.0
    rate = {"in-process": args.rows / local_s, "ray": args.rows / ray_s, "ray_with_start": args.rows / (ray_s + start_s)}
    record = {
        "rows": args.rows, "parts": args.parts, "workers": args.workers, "model": str(model_dir), "cpus": os.cpu_count(),
        "seconds": {"in-process": round(local_s, 1), "ray_start": round(start_s, 1), "ray": round(ray_s, 1)},
        "rows_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio": round(rate["ray"] / rate["in-process"], 2), "ratio_with_start": round(rate["ray_with_start"] / rate["in-process"], 2),
        "rows_complete_in_order": complete, "label_agreement": agreement,
        "load": {"in-process": local_load, "ray": ray_load}, "ray_phases": facts.get("seconds"),
        "actors": facts.get("actors"), "cpus_per_actor": facts.get("cpus_per_actor"),
        "rows_per_call": args.batch_size or rows_per_call(args.rows, args.workers),
    }
    print(f"{args.rows:,} rows ({args.parts} files for Ray), {os.cpu_count()} CPUs, {args.workers} Ray workers; "
          f"rows complete and in order by id: {complete}; label agreement {agreement:.1%}")
    print("| engine | seconds | rows/s | vs in-process | load after (1/5/15 min) |")
    print("|---|---:|---:|---:|---|")
    print(f"| in-process | {local_s:.1f} | {rate['in-process']:,.0f} | 1.00x | {local_load} |")
    print(f"| Ray, without its start | {ray_s:.1f} | {rate['ray']:,.0f} | {record['ratio']:.2f}x | {ray_load} |")
    print(f"| Ray, with its start ({start_s:.1f} s) | {ray_s + start_s:.1f} | {rate['ray_with_start']:,.0f} | "
          f"{record['ratio_with_start']:.2f}x | {ray_load} |")
    print(f"Ray phases (s): {facts.get('seconds')}")
    print(json.dumps(record))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if complete and agreement == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
