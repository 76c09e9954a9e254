"""Take docs/img/train-result.png: the Train page with a finished training, in headless Chromium.

Run from the repository root: `[SCREENSHOT_EPOCHS=0.25] .venv/bin/python docs/img/train_screenshot.py [OUT.png]`. The real app
(`streamlit run app.py`) on a free port with empty model/job folders in a temporary directory, the
bundled sample sentiment_reviews_en.csv, the default base model and the "Fast" preset, as a
marketer would click it. Needs Debian's chromium (as the browser tests) and takes a few minutes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402 - after the path is set

from tests.browser.browser_utils import (  # noqa: E402
    CHROMIUM_ARGS,
    by_key,
    cancel_jobs,
    click,
    fill,
    open_page,
    start_streamlit,
    stop_streamlit,
    upload,
    wait_idle,
)

SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"
TRAIN_LIMIT_MS = 1_500_000
EPOCHS = os.environ.get("SCREENSHOT_EPOCHS", "")  # e.g. 0.25; empty: the preset's 1 epoch
FULL = os.environ.get("SCREENSHOT_FULL", "")  # a path: also save the whole page there


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        tmp_path = Path(tmp)
        app = start_streamlit(tmp_path / "models", tmp_path / "jobs", tmp_path / "streamlit.log")
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            open_page(page, app, "train")
            upload(page, "train_upload", SAMPLE)
            page.get_by_text("3,000 rows").first.wait_for()
            by_key(page, "train_preset").get_by_text("Fast", exact=True).click()
            wait_idle(page)
            if EPOCHS:  # a shorter fine-tune than the preset's, so the picture is quick on a busy machine
                page.get_by_text("Advanced settings").click()
                fill(page, "train_epochs", EPOCHS)
            click(page, "train_start")
            page.get_by_text("is trained and saved", exact=False).wait_for(timeout=TRAIN_LIMIT_MS)
            wait_idle(page)
            page.wait_for_timeout(2_000)  # plotly draws its figures
            out.parent.mkdir(parents=True, exist_ok=True)
            if FULL:  # the whole page too, to choose the frame from
                height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
                page.set_viewport_size({"width": 1400, "height": min(int(height) + 50, 12_000)})
                page.wait_for_timeout(1_000)
                page.screenshot(path=FULL, full_page=True)
                page.set_viewport_size({"width": 1400, "height": 1000})
                page.wait_for_timeout(1_000)
            # The frame: the "Training" section (the verdict, the leaderboard, the test metrics) at the top.
            page.get_by_role("heading", name="Training").first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(1_000)
            page.screenshot(path=str(out))
            print(f"wrote {out}")
        finally:
            browser.close()
            cancel_jobs(app.jobs_dir)
            stop_streamlit(app.process)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "train-result.png")
