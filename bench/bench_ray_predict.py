"""Batch scoring rows/s: in-process (`predict_csv`) vs Ray Data with 1 and 2 actors, same run.

    .venv/bin/python -m bench.bench_ray_predict [--rows 20000] [--parts 4] [--model DIR]

Input: ``--rows`` short real texts (the bundled sentiment sample, repeated) split into ``--parts``
CSV files; the model: ``--model`` or the bundled all-MiniLM-L6-v2 fine-tuned for 1 epoch on 400
rows. Each engine scores the same rows; a local Ray is started once for both Ray runs and its
start is timed apart (not in the engines' times, which include building each actor pool and
loading the model in every actor). Prints a Markdown table (rows/s, ratio to in-process) with the load average, and checks that every
engine wrote the same labels in the same order.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=256, help="rows per Ray actor call")
    args = parser.parse_args()

    import ray

    from core import TrainConfig, read_csv, train
    from core.models import load_folder
    from core.predict import predict_csv
    from core.ray_predict import predict_ray

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    model_dir = args.model
    if model_dir is None:
        model_dir = work / "model"
        df = read_csv(SAMPLE).sample(400, random_state=0)
        train(df, TrainConfig(text_columns=("text",), label_column="label", epochs=1.0, method="full")).save(model_dir)
    texts = pd.read_csv(SAMPLE)["text"]
    rows = pd.DataFrame({"id": range(args.rows), "text": [texts[i % len(texts)] for i in range(args.rows)]})
    parts = work / "parts"
    parts.mkdir()
    size = -(-args.rows // args.parts)
    for i in range(args.parts):
        rows.iloc[i * size : (i + 1) * size].to_csv(parts / f"part-{i:03d}.csv", index=False)
    rows.to_csv(work / "all.csv", index=False)

    results = []
    model = load_folder(model_dir)
    started = time.monotonic()
    predict_csv(model, work / "all.csv", work / "local.csv")
    results.append({"engine": "in-process", "seconds": time.monotonic() - started, "load": load_avg()})

    t0 = time.monotonic()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.monotonic() - t0
    for workers in (1, 2):
        started = time.monotonic()
        _, facts = predict_ray(model_dir, parts, work / f"ray{workers}.csv", workers=workers, batch_size=args.batch_size)
        results.append({"engine": f"Ray, {workers} actor(s)", "seconds": time.monotonic() - started, "load": load_avg(), **facts})
    ray.shutdown()

    reference = pd.read_csv(work / "local.csv")["predicted_label"]
    for workers in (1, 2):
        got = pd.read_csv(work / f"ray{workers}.csv")["predicted_label"]
        assert got.equals(reference), f"Ray with {workers} actor(s) wrote other labels than in-process"
    base = args.rows / results[0]["seconds"]
    print(f"{args.rows:,} rows in {args.parts} files; local Ray started in {ray_start:.1f} s (not in the times); "
          f"{os.cpu_count()} CPUs")
    print("| engine | seconds | rows/s | vs in-process | load (1/5/15 min) |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        rate = args.rows / r["seconds"]
        print(f"| {r['engine']} | {r['seconds']:.1f} | {rate:,.0f} | {rate / base:.2f}x | {r['load']} |")
    print(json.dumps(results))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
