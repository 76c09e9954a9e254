"""Load test of the HTTP API (issue 31): ``python -m core serve`` on loopback, 20 concurrent clients.

    .venv/bin/python -m bench.bench_api [--model FOLDER] [--clients 20] [--requests 25] [--texts 1]

Without ``--model`` it first fine-tunes minilm-en for one epoch on 600 UCI sentiment sentences
(../shared/data/uci_sentiment_labelled_sentences.csv; the model's quality is not the point here).
Then it starts the server as a user would (a subprocess of ``python -m core serve``), and each client
thread sends ``--requests`` POST /predict requests of ``--texts`` held-out sentences, one after
another. Prints one JSON line: errors, p50/p95/max latency (ms), rows/s through the API, rows/s of ``predict_frame`` in this process
on the same rows (one call, the ceiling without HTTP), whether every answer's label equals that
in-process prediction, and the load average before and after; the line is appended to
bench/results/api.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "uci_sentiment_labelled_sentences.csv"
RESULTS = ROOT / "bench" / "results" / "api.jsonl"


def train_model(folder: Path) -> Path:
    df = pd.read_csv(DATA).sample(frac=1.0, random_state=0)
    train_csv = folder / "train.csv"
    df.iloc[:600].to_csv(train_csv, index=False)
    text_col, label_col = "text", "label"
    out = folder / "model"
    subprocess.run([sys.executable, "-m", "core", "train", "--data", str(train_csv), "--text-col", text_col,
                    "--label-col", label_col, "--method", "full", "--epochs", "1", "--out", str(out), "--quiet",
                    "--keep-transformer"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--texts", type=int, default=1, help="texts per request")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    folder = Path(args.model) if args.model else train_model(work)
    df = pd.read_csv(DATA).sample(frac=1.0, random_state=0)
    pool = df.iloc[600:]["text"].astype(str).tolist()
    n = args.clients * args.requests * args.texts
    texts = [pool[i % len(pool)] for i in range(n)]

    from core.models import load_folder
    from core.predict import predict_frame

    model = load_folder(folder)
    text_col = model.input_columns[0]
    started = time.perf_counter()
    expected = predict_frame(model, pd.DataFrame({text_col: texts}))["predicted_label"].tolist()
    in_process = n / (time.perf_counter() - started)

    load_before = os.getloadavg()
    port = free_port()
    log = work / "server.log"
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--model", str(folder), "--port", str(port)],
                              cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        latencies: list[float] = []
        errors: list[str] = []
        answers: dict[int, str] = {}
        lock = threading.Lock()

        def client(c: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as http:
                for r in range(args.requests):
                    first = (c * args.requests + r) * args.texts
                    batch = texts[first:first + args.texts]
                    t0 = time.perf_counter()
                    try:
                        reply = http.post("/predict", json={"texts": batch})
                        ok = reply.status_code == 200
                    except httpx.HTTPError as exc:
                        ok, reply = False, exc
                    elapsed = time.perf_counter() - t0
                    with lock:
                        latencies.append(elapsed)
                        if not ok:
                            errors.append(str(getattr(reply, "status_code", reply)))
                            continue
                        for i, p in enumerate(reply.json()["predictions"]):
                            answers[first + i] = p.get("label", "")

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(30)
    ms = np.array(latencies) * 1000
    agree = sum(answers.get(i) == expected[i] for i in range(n)) / n
    line = json.dumps({
        "clients": args.clients, "requests": len(latencies), "texts_per_request": args.texts, "errors": len(errors),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1), "api_rows_per_s": round(n / wall, 1),
        "in_process_rows_per_s": round(in_process, 1), "labels_agree_with_in_process": round(agree, 4),
        "model": str(folder), "load_before": load_before, "load_after": os.getloadavg(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
