"""The app's own overhead: CPU used by the Streamlit server while idle and during a prediction.

    .venv/bin/python -m bench.bench_server_cpu [--rows 2000] [--idle-seconds 30] [--watchers none auto]

Starts `streamlit run app.py` (the project's .streamlit/config.toml, plus
``--server.fileWatcherType W`` for each W asked), opens it in headless Chromium, then measures
the server process's CPU time (user + system, psutil, children included):
1. idle: a Home tab open, nothing clicked, for ``--idle-seconds``;
2. a prediction: the Predict page scores a CSV of ``--rows`` real short texts (the bundled
   sentiment sample, repeated) with a model fine-tuned for 1 epoch on 400 rows of it; wall time
   from the click to the drawn label chart, and the server's CPU seconds over it.
Reports CPU as cores used (CPU seconds / wall seconds; 1.0 = one whole core) with the load average.
The project folder holds .venv, which is what made the watcher expensive. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
from playwright.sync_api import sync_playwright

from bench import load_avg
from tests.browser.browser_utils import (
    CHROMIUM_ARGS,
    ROOT,
    by_key,
    click,
    nav_to,
    open_page,
    start_streamlit,
    stop_streamlit,
    upload,
)

SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children so far."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def train_model(folder: Path) -> None:
    from core import TrainConfig, read_csv, train

    df = read_csv(SAMPLE).sample(400, random_state=0)
    config = TrainConfig(text_columns=("text",), label_column="label", epochs=1.0, method="full")
    train(df, config).save(folder)


def measure(watcher: str, work: Path, data: Path, rows: int, idle_seconds: float, chromium: str) -> dict:
    run = work / f"watcher-{watcher}"
    shutil.copytree(work / "models", run / "models")
    app = start_streamlit(run / "models", run / "jobs", run / "server.log", options=("--server.fileWatcherType", watcher))
    pid = app.process.pid
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            open_page(page, app)
            time.sleep(5)  # let the first run's imports settle
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(idle_seconds)
            idle = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
            load_idle = load_avg()
            nav_to(page, "Predict")
            upload(page, "predict_upload", data)
            page.get_by_text("Columns the model reads").wait_for()
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            click(page, "predict_run")
            page.get_by_text(f"{rows:,} rows from").first.wait_for()
            by_key(page, "predict_dist_chart").locator(".js-plotly-plot").wait_for()
            wall = time.monotonic() - t0
            cpu = cpu_seconds(pid) - cpu0
            browser.close()
    finally:
        stop_streamlit(app.process)
    overflow = "Inotify queue overflowed" in app.log.read_text(errors="replace")
    return {
        "watcher": watcher,
        "idle_cores": round(idle, 3),
        "idle_load": load_idle,
        "predict_rows": rows,
        "predict_wall_s": round(wall, 1),
        "predict_server_cpu_s": round(cpu, 1),
        "predict_load": load_avg(),
        "inotify_overflow_logged": overflow,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--watchers", nargs="+", default=["none", "auto"], choices=["none", "auto", "poll", "watchdog"])
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="bench-server-cpu-"))
    train_model(work / "models" / "bench-sentiment")
    texts = pd.read_csv(SAMPLE)["text"]
    data = work / "to_score.csv"
    pd.DataFrame({"text": [texts[i % len(texts)] for i in range(args.rows)]}).to_csv(data, index=False)
    results = [measure(w, work, data, args.rows, args.idle_seconds, chromium) for w in args.watchers]
    print("| file watcher | idle server CPU (cores) | prediction wall (s) | server CPU during it (s) | load |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['watcher']} | {r['idle_cores']:.3f} | {r['predict_wall_s']} | {r['predict_server_cpu_s']} "
            f"| {r['idle_load']} / {r['predict_load']} |"
        )
    print(json.dumps(results))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
