"""A short job's wait behind a long one (issue 26): a Targeting comparison with the page's defaults
(the 10,000-row bank sample, every profile column, no transformer) queued while a real minilm-en
fine-tune of 1,000 review sentences (every Train default: method auto picks full fine-tuning, 3
epochs) runs, through the same core.jobs calls the pages make, with the real workers.

    .venv/bin/python -m bench.bench_lanes [--one-lane]

Prints one JSON line: the seconds from the comparison's "click" (``start_response_job``) to its
state "done", the lane it ran in, the fine-tune's seconds from its click to done, and the load
average. ``--one-lane`` measures the behaviour before the lanes: the comparison is put in the long
lane, so it waits for the fine-tune as every job did behind the one trainer lock (first come, first
served). Without it the fine-tune is cancelled once the comparison is done unless ``--finish`` is
given (its time is then measured too, with the comparison's seconds of competition in it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait(job_id: str, states: set[str], limit: float = 3600.0) -> float:
    """Poll the job until it is in one of ``states``; returns the time.time() it was seen there."""
    from core.jobs import job_status

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = job_status(job_id, with_events=False)
        if status.state in states:
            return time.time()
        if not status.active:
            raise SystemExit(f"job {job_id} ended {status.state}: {status.message}")
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} still not {states} after {limit} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-lane", action="store_true", help="the behaviour before the lanes: one queue")
    parser.add_argument("--finish", action="store_true", help="let the fine-tune finish and time it too")
    parser.add_argument("--rows", type=int, default=1000, help="review sentences the fine-tune trains on")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lanes-"))
    os.environ["MARKETUNE_MODELS_DIR"] = str(work / "models")  # inherited by the workers
    os.environ["MARKETUNE_JOBS_DIR"] = str(work / "jobs")

    import pandas as pd

    from core import TrainConfig, lanes
    from core.base_models import training_defaults
    from core.jobs import cancel_job, job_status, start_job, start_response_job
    from core.models.tabular import infer_column_kinds

    if args.one_lane:  # every job in the one queue the trainer lock made
        estimate_response = lanes.ESTIMATORS["response"]
        lanes.ESTIMATORS["response"] = lambda request, df: lanes.Estimate(estimate_response(request, df).seconds, True)

    reviews = pd.read_csv(ROOT / "sample_data" / "sentiment_reviews_en.csv").sample(args.rows, random_state=0)
    config = TrainConfig(**{**training_defaults("minilm-en"), "base_model": "minilm-en", "text_columns": ("text",),
                            "label_column": "label"})
    long_clicked = time.time()
    long_id = start_job(reviews[["text", "label"]], config, "reviews")
    wait(long_id, {"running"})
    # Into its training loop (the base model loaded, steps being counted), as a user would see it.
    while not any(e.get("phase") == "train" for e in job_status(long_id).events):
        time.sleep(0.5)

    bank = pd.read_csv(ROOT / "sample_data" / "bank_marketing.csv")
    profile = [c for c in bank.columns if c != "y"]
    setup = {"label_column": "y", "positive_class": "yes", "profile_columns": profile, "text_columns": []}
    clicked = time.time()
    short_id = start_response_job(bank, setup, "targets", column_kinds=infer_column_kinds(bank, profile))
    lane = job_status(short_id, with_events=False).lane
    short_done = wait(short_id, {"done"})
    result = {"one_lane": args.one_lane, "comparison_lane": lane, "comparison_click_to_done_s": round(short_done - clicked, 1),
              "fine_tune_rows": args.rows, "load_1min_at_end": round(os.getloadavg()[0], 2)}
    if args.one_lane or args.finish:
        result["fine_tune_click_to_done_s"] = round(wait(long_id, {"done"}) - long_clicked, 1)
    else:
        cancel_job(long_id)
        result["fine_tune_state_then"] = "running (cancelled now)"
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
