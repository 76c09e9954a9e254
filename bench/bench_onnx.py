"""ONNX speed against torch fp32 and bf16, in the same run (issue 31).

    nice -n 5 .venv/bin/python -m bench.bench_onnx --model FOLDER [--rows 1000] [--rounds 3]

``FOLDER``: a saved fine-tuned transformer (e.g. ``python -m core train ... --method full
--epochs 1 --keep-transformer --out /tmp/m`` on a few hundred UCI sentences). Two copies of it are
exported as ``python -m core export`` does (core.onnx_form.export: fp32 ONNX, and int8 by ONNX
Runtime's dynamic quantization), each checked on the model's own test split; a form that fails is
refused (as the export refuses it), recorded under "refused" with the reason, and left out. Then the forms - torch fp32, torch bf16, ONNX fp32, ONNX int8 - score the same
``--rows`` held-out UCI sentences (rows 2,000 onward of the shuffled set, beyond any training rows of
a few hundred), ``--rounds`` times each in turn (interleaved, so a change of load hits all forms
alike); the median round gives rows/s. Label agreement with torch fp32 on those rows is reported too.
Prints one JSON line and appends it to bench/results/onnx.jsonl, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "uci_sentiment_labelled_sentences.csv"
RESULTS = ROOT / "bench" / "results" / "onnx.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from core.models import load_folder
    from core.onnx_form import export, load_onnx

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    records, forms, refused = {}, {}, {}
    for name, int8 in (("onnx_fp32", False), ("onnx_int8", True)):
        copy = shutil.copytree(args.model, work / name)
        try:
            records[name] = export(copy, int8=int8)
        except ValueError as exc:  # the form failed its check: refused, as `python -m core export` refuses it
            refused[name] = str(exc)
            continue
        forms[name] = load_onnx(copy)
    forms["torch_fp32"] = load_folder(args.model)
    forms["torch_bf16"] = load_folder(args.model).quantize("bf16")
    texts = pd.read_csv(DATA).sample(frac=1.0, random_state=0)["text"].astype(str).tolist()[2000:2000 + args.rows]
    order = [name for name in ("torch_fp32", "torch_bf16", "onnx_fp32", "onnx_int8") if name in forms]
    for name in order:
        forms[name].predict(texts[:16])  # warm up: first-call allocations are not the steady speed
    seconds: dict[str, list[float]] = {name: [] for name in order}
    labels: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name in order:
            started = time.perf_counter()
            labels[name] = np.asarray([str(v) for v in forms[name].predict(texts)], dtype=object)
            seconds[name].append(time.perf_counter() - started)
    line = {
        "bench": "onnx", "model": str(args.model), "rows": len(texts), "rounds": args.rounds,
        "rows_per_s": {name: round(len(texts) / float(np.median(seconds[name])), 1) for name in order},
        "agreement_with_torch_fp32": {name: round(float(np.mean(labels[name] == labels["torch_fp32"])), 4)
                                      for name in order[1:]},
        "export_check": {name: {k: records[name][k] for k in ("passed", "agreement", "accuracy_drop_points", "n_rows")}
                         for name in records},
        "refused": refused,
        "torch_threads": __import__("torch").get_num_threads(),
        "load_before": load_before, "load_after": os.getloadavg(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    print(json.dumps(line))


if __name__ == "__main__":
    main()
