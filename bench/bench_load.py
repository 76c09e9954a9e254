"""Many people at once: N concurrent browser sessions through upload -> predict -> dashboard.

    .venv/bin/python -m bench.bench_load [--sessions 1,5,10] [--rows 300] [--model minilm|tfidf]
                                         [--with-training] [--out bench/results/load.jsonl]

One `streamlit run app.py` server (the project's .streamlit/config.toml) with one small saved
model, trained in the setup through core: ``minilm`` (the bundled base model fine-tuned 1 epoch
on 400 rows of the sentiment sample, as a person would) or ``tfidf`` (TF-IDF + logistic
regression on the same rows: scoring costs almost nothing, so the times are the app's own).
For each N, N headless Chromium sessions (one browser, a context each) start together and each:

1. **open**: loads the app (Home drawn, sidebar ready);
2. **upload**: goes to Predict and uploads a CSV of ``--rows`` real clothing reviews with dates
   and segments (sample_data/dashboard_clothing_predictions.csv without its predictions), until
   the column map is drawn;
3. **predict**: clicks Predict, until the result line and the label chart are drawn;
4. **dashboard**: goes to the Dashboard (the session's prediction file), until a chart is drawn;
5. **filter**: picks one label in the Dashboard's Labels filter, until the page is redrawn.

Each step's time is from the action to the page being drawn (expected text or chart visible,
no element left stale, Streamlit's running indicator gone). Reported per N: median and worst
time per step over the sessions, errors (a step that timed out or raised, or an error box or
exception shown on a page: must be 0), and the server's memory: peak and final RSS of the server
process tree (psutil, sampled every 0.5 s), and the training worker's peak RSS when one runs.

``--with-training``: for each N, a second round while a training job runs in the same server's
queue (minilm, full fine-tuning, long enough to outlast the round): the Dashboard filter time with
and without it says whether pages stay responsive while a job trains.

Writes one JSON line per run to ``--out`` and a markdown table to stdout. The browser runs on the
same machine as the server, so on a small machine it takes CPU from the server too: the numbers
are for "server and N users' browsers on this machine", an upper bound for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from bench import load_avg
from tests.browser.browser_utils import CHROMIUM_ARGS, ROOT, start_streamlit, stop_streamlit

SENTIMENT = ROOT / "sample_data" / "sentiment_reviews_en.csv"
REVIEWS = ROOT / "sample_data" / "dashboard_clothing_predictions.csv"
STEPS = ("open", "upload", "predict", "dashboard", "filter")
STEP_TIMEOUT_MS = 600_000  # ten sessions scoring at once on 2 cores take minutes, not hours
MODEL_NAME = "bench-load"
# Background tabs must not be throttled: every session is someone's foreground tab.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows"]
SETTLED_JS = """() => {
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    const busy = running && running.offsetParent !== null && /Running|Stop/i.test(running.innerText);
    return !busy && !document.querySelector('[data-stale="true"]');
}"""
ERRORS_JS = """() => document.querySelectorAll(
    '[data-testid="stException"], [data-testid="stAlertContentError"]').length"""


# ------------------------------------------------------------------------------ setup


def train_model(folder: Path, kind: str) -> None:
    """The one saved model every session scores with (see the module's docstring)."""
    from core import TrainConfig, read_csv, train

    df = read_csv(SENTIMENT).sample(400, random_state=0)
    df["label"] = df["label"].map({0: "negative", 1: "positive"})  # words: the Dashboard reads them as sentiment
    if kind == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from core.models import TfidfClassifier

        pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(df["text"], df["label"])
        classes = sorted(df["label"].unique())
        TfidfClassifier.from_pipeline(pipe, task="classification", classes=classes,
                                      schema={"text_columns": ["text"], "label_column": "label"}).save(folder)
        return
    config = TrainConfig(text_columns=("text",), label_column="label", epochs=1.0, method="full", choose_simpler=False)
    train(df, config).save(folder)


def scoring_file(path: Path, rows: int) -> Path:
    """``rows`` real reviews with their dates and segments, without any prediction column."""
    frame = pd.read_csv(REVIEWS)[["review_id", "review_date", "text", "department", "age_group"]]
    frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
    frame.to_csv(path, index=False)
    return path


def training_job(models_dir: Path, jobs_dir: Path) -> str:
    """Queue a fine-tuning long enough to outlast a round, in the server's jobs folder; returns its id
    once it is running (past loading the base model)."""
    from core import TrainConfig, read_csv
    from core.jobs import job_status, start_job

    df = read_csv(SENTIMENT)
    config = TrainConfig(text_columns=("text",), label_column="label", epochs=20.0, method="full", choose_simpler=False)
    job_id = start_job(df, config, f"bench-training-{int(time.time())}", root=jobs_dir, models_dir=models_dir)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = job_status(job_id, jobs_dir)
        if status.state not in ("queued", "running"):
            raise RuntimeError(f"the background training job ended early: {status.state} {status.message}")
        if any(e.get("phase") == "train" for e in status.events):
            return job_id
        time.sleep(1)
    raise RuntimeError("the background training job did not start training within 10 minutes")


class MemoryProbe:
    """Peak RSS of a process and its children, sampled every ``every`` seconds in a thread."""

    def __init__(self, pid: int | None, every: float = 0.5) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        if self.pid is None:
            return 0
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(self.every)

    def __enter__(self) -> MemoryProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------ one session


async def settled(page) -> None:
    """The script run the last action started is over and its elements are drawn."""
    await page.wait_for_timeout(50)  # let the click's rerun request leave the browser
    await page.wait_for_function(SETTLED_JS, timeout=STEP_TIMEOUT_MS, polling=50)


async def session(browser, url: str, data: Path, rows: int) -> tuple[dict[str, float], list[str]]:
    """One person's way through the app; returns ({step: seconds}, [errors])."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    times: dict[str, float] = {}
    errors: list[str] = []
    sidebar = page.get_by_test_id("stSidebar")

    async def step(name: str, action, done) -> None:
        started = time.monotonic()
        await action()
        await done()
        await settled(page)
        times[name] = time.monotonic() - started
        shown = await page.evaluate(ERRORS_JS)
        if shown:
            text = await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').first.inner_text()
            errors.append(f"{name}: an error on the page: {text[:200]}")

    try:
        await step("open", lambda: page.goto(url),
                   lambda: sidebar.get_by_text("Active model").first.wait_for())
        await step("upload",
                   lambda: _upload(page, sidebar, data),
                   lambda: page.get_by_text("Columns the model reads").first.wait_for())
        await step("predict",
                   lambda: page.locator(".st-key-predict_run button").first.click(),
                   lambda: _predicted(page, rows))
        await step("dashboard",
                   lambda: sidebar.get_by_role("link", name="Dashboard", exact=True).first.click(),
                   lambda: page.locator('[class*="st-key-dash_chart_"] .js-plotly-plot').first.wait_for())
        await step("filter", lambda: _pick_label(page), lambda: page.get_by_text("Filtered:").first.wait_for())
    except Exception as exc:  # noqa: BLE001 - a failed step is a counted error, not the end of the run
        errors.append(f"{len(times) < len(STEPS) and STEPS[len(times)]}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()
    return times, errors


async def _upload(page, sidebar, data: Path) -> None:
    await sidebar.get_by_role("link", name="Predict", exact=True).first.click()
    await page.locator('.st-key-predict_upload input[type="file"]').set_input_files(str(data))


async def _predicted(page, rows: int) -> None:
    await page.get_by_text(f"{rows:,} rows from").first.wait_for()
    await page.locator('.st-key-predict_dist_chart .js-plotly-plot').wait_for()


async def _pick_label(page) -> None:
    box = page.locator(".st-key-dash_f_labels").get_by_role("combobox")
    await box.click()
    await page.get_by_role("option").first.click()
    await page.keyboard.press("Escape")


async def round_of(n: int, url: str, data: Path, rows: int, chromium: str) -> list[tuple[dict[str, float], list[str]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=BROWSER_ARGS, headless=True)
        try:
            return await asyncio.gather(*(session(browser, url, data, rows) for _ in range(n)))
        finally:
            await browser.close()


# ------------------------------------------------------------------------------ the measurement


def measure(n: int, app, data: Path, rows: int, chromium: str, training: bool) -> dict:
    job_id = training_job(app.models_dir, app.jobs_dir) if training else None
    # The bench starts the training worker itself, so it is not the server's child: its own probe.
    worker_pid = int((app.jobs_dir / job_id / "pid").read_text()) if job_id else None
    try:
        with MemoryProbe(app.process.pid) as probe, MemoryProbe(worker_pid) as worker:
            started = time.monotonic()
            results = asyncio.run(round_of(n, app.url, data, rows, chromium))
            wall = time.monotonic() - started
            end_rss = probe.rss()
        if job_id is not None:
            from core.jobs import job_status

            state = job_status(job_id, app.jobs_dir, with_events=False).state
            if state != "running":
                raise RuntimeError(f"the training job was {state} before the round ended: make it longer")
    finally:
        if job_id is not None:
            from core.jobs import cancel_job

            cancel_job(job_id, app.jobs_dir)
    steps = {}
    for name in STEPS:
        values = [times[name] for times, _ in results if name in times]
        steps[name] = {"median_s": round(statistics.median(values), 2) if values else None,
                       "worst_s": round(max(values), 2) if values else None, "n": len(values)}
    errors = [e for _, errs in results for e in errs]
    return {"sessions": n, "training": training, "steps": steps, "errors": len(errors), "error_messages": errors[:10],
            "wall_s": round(wall, 1), "server_rss_peak_mb": round(probe.peak / 2**20), "server_rss_end_mb": round(end_rss / 2**20),
            "training_worker_rss_peak_mb": round(worker.peak / 2**20) if worker_pid else None, "load": load_avg()}


def wait_no_jobs(jobs_dir: Path, timeout: float = 120) -> None:
    """Wait until no job of the server runs (a cancelled training stops within a step)."""
    from core.jobs import list_jobs

    deadline = time.monotonic() + timeout
    while any(j.active for j in list_jobs(jobs_dir, kind=None)) and time.monotonic() < deadline:
        time.sleep(1)


def table(results: list[dict]) -> str:
    head = "| sessions | training job | " + " | ".join(f"{s} median / worst (s)" for s in STEPS) + \
        " | errors | server RSS peak / end (MB) | training worker RSS peak (MB) | load |"
    lines = [head, "|" + "---|" * (len(STEPS) + 6)]
    for r in results:
        cells = [f"{r['steps'][s]['median_s']} / {r['steps'][s]['worst_s']}" for s in STEPS]
        lines.append(f"| {r['sessions']} | {'yes' if r['training'] else 'no'} | " + " | ".join(cells) +
                     f" | {r['errors']} | {r['server_rss_peak_mb']} / {r['server_rss_end_mb']} "
                     f"| {r['training_worker_rss_peak_mb'] or '—'} | {r['load']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,5,10", help="comma-separated numbers of concurrent sessions")
    parser.add_argument("--rows", type=int, default=300, help="rows in the CSV each session scores")
    parser.add_argument("--model", choices=["minilm", "tfidf"], default="minilm")
    parser.add_argument("--with-training", action="store_true",
                        help="for each N, a second round while a training job runs (pages stay responsive?)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.jsonl")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    print(f"setup: training the {args.model} model …", flush=True)
    train_model(work / "models" / MODEL_NAME, args.model)
    data = scoring_file(work / "reviews_to_score.csv", args.rows)
    app = start_streamlit(work / "models", work / "jobs", work / "server.log")
    results = []
    try:
        for n in counts:
            for training in ([False, True] if args.with_training else [False]):
                print(f"round: {n} session(s){' with a training job' if training else ''} …", flush=True)
                results.append(measure(n, app, data, args.rows, chromium, training))
                wait_no_jobs(app.jobs_dir)
    finally:
        stop_streamlit(app.process)
    record = {"bench": "load", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": args.model, "rows": args.rows,
              "cpus": os.cpu_count(), "machine": platform.machine(), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(table(results))
    for r in results:
        for message in r["error_messages"]:
            print(f"error ({r['sessions']} sessions): {message}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
