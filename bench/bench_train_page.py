"""The Train page as a marketer uses it: upload the 3,000-row sample, keep every default
(Balanced preset, the bundled base model, method auto), click Train, and time the click until
the results are on the page — in real headless Chromium against `streamlit run app.py`, with the
real background worker.

    .venv/bin/python -m bench.bench_train_page [--data FILE.csv]

Needs Debian's chromium (as the browser tests do). Prints the seconds from the click on Train to
the "trained and saved" message with the results drawn, the method the job chose, the test
macro-F1 the page shows, and the load average. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.browser_utils import (
    CHROMIUM_ARGS,
    ROOT,
    by_key,
    cancel_jobs,
    click,
    nav_to,
    open_page,
    start_streamlit,
    stop_streamlit,
    upload,
    wait_idle,
)

LIMIT_MS = 30 * 60 * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "sample_data" / "sentiment_reviews_en.csv")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="bench-train-page-"))
    app = start_streamlit(work / "models", work / "jobs", work / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_page(page, app)
            nav_to(page, "Train")
            upload(page, "train_upload", args.data)
            by_key(page, "train_label_chart").locator(".js-plotly-plot").wait_for(timeout=60_000)
            wait_idle(page)
            load_before = os.getloadavg()
            click(page, "train_start")
            started = time.monotonic()
            page.get_by_text("is trained and saved", exact=False).wait_for(timeout=LIMIT_MS)
            by_key(page, "train_results_cm").locator(".js-plotly-plot").wait_for(timeout=60_000)
            seconds = time.monotonic() - started
            load_after = os.getloadavg()
            macro = page.get_by_test_id("stMetric").filter(has_text="Macro-F1").first.inner_text()
            browser.close()
        [saved] = [p for p in (work / "models").iterdir() if (p / "metrics.json").is_file()]
        metrics = json.loads((saved / "metrics.json").read_text())
        config = json.loads((saved / "training_config.json").read_text())
    finally:
        cancel_jobs(work / "jobs")
        stop_streamlit(app.process)
    result = {
        "data": str(args.data),
        "click_to_results_s": round(seconds, 1),
        "method": config.get("method"),
        "epochs": config.get("epochs"),
        "test_macro_f1": metrics["model"].get("macro_f1"),
        "tfidf_macro_f1": metrics["baselines"]["tfidf_lr"].get("macro_f1"),
        "page_macro_f1_card": re.sub(r"\s+", " ", macro),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(f"click Train -> results on the page: {seconds:.0f} s ({seconds / 60:.1f} min); method {result['method']}, "
          f"{result['epochs']} epochs; test macro-F1 {result['test_macro_f1']:.3f} vs TF-IDF "
          f"{result['tfidf_macro_f1']:.3f}; load {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
