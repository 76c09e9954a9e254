"""The Train page's job panel: live progress of a background training job, then its outcome.

The job runs in its own worker process (``core.jobs``); this panel only reads the job's folder.
While the job is queued or running, a fragment re-reads it every 1.5 s; when it ends, the whole
page reruns once so the results are drawn outside the polling fragment.
"""

from __future__ import annotations

import time

import streamlit as st

from core.charts.evaluation import training_curve_chart
from core.jobs import JobStatus, cancel_job, job_status

POLL_SECONDS = 1.5
PHASE_TEXT = {
    "prepare": "Loading the base model",
    "train": "Training",
    "evaluate": "Training",
    "test": "Scoring the test rows",
    "baselines": "Training the baselines on the same split",
    "done": "Saving the model",
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def progress_text(status: JobStatus, now: float | None = None) -> tuple[float, str]:
    """(fraction done 0..1, one line: phase, step/total, epoch, elapsed, ETA) for a job."""
    now = time.time() if now is None else now
    elapsed = _duration(now - status.created)
    if status.state == "queued":
        return 0.0, f"Queued (position {max(1, status.queue_position)}) · waiting {elapsed}"
    steps = [e for e in status.events if e.get("total_steps")]
    last = status.last_event or {}
    phase = PHASE_TEXT.get(last.get("phase", ""), "Starting the trainer")
    if not steps:
        return 0.0, f"{phase} · elapsed {elapsed}"
    latest = steps[-1]
    step, total = int(latest["step"]), int(latest["total_steps"])
    eta = latest.get("eta_s") if last.get("phase") in ("train", "evaluate") else None
    line = f"{phase} · step {step}/{total} · epoch {float(latest.get('epoch') or 0):.2f} · elapsed {elapsed}"
    if eta is not None:
        line += f" · about {_duration(eta)} left"
    if last.get("message") and last.get("phase") == "evaluate":
        line += f" · {last['message']}"
    return min(1.0, step / total), line


@st.fragment(run_every=POLL_SECONDS)
def live_panel(job_id: str) -> None:
    """Progress bar, live loss/metric chart and Cancel, refreshed every ``POLL_SECONDS``."""
    status = job_status(job_id)
    if not status.active:
        st.rerun()  # draw the outcome in the page body; this fragment stops polling
    fraction, line = progress_text(status)
    st.progress(fraction, text=line)
    if status.state == "queued":
        st.info(
            f"Your job is queued (position {max(1, status.queue_position)}): jobs run one at a time on this "
            "machine, so it starts when the job ahead of it finishes. You can leave this page meanwhile."
        )
    else:
        st.caption("Training runs in the background: you can switch pages or close the tab and come back.")
    if any(e.get("phase") in ("train", "evaluate") for e in status.events):
        st.plotly_chart(training_curve_chart(status.events), key="train_live_chart")
    if (status.last_event or {}).get("phase") in ("train", "evaluate", "prepare", None) or status.state == "queued":
        if st.button("Cancel training", key="train_cancel", icon=":material/stop:"):
            cancel_job(job_id)
            st.toast("Cancelling… the job stops within a few seconds; nothing is saved.")


def outcome_message(status: JobStatus) -> tuple[str, str]:
    """(st element name, text) describing a finished job to people."""
    if status.state == "done":
        return "success", f"Model **{status.model_name}** is trained and saved; it is now the active model."
    if status.state == "failed":
        return "error", f"Training **{status.model_name}** failed: {status.message}"
    if status.state == "cancelled":
        return "warning", f"Training **{status.model_name}** was cancelled; nothing was saved."
    if status.state == "interrupted":
        return "warning", f"Training **{status.model_name}** was interrupted: {status.message}"
    return "info", f"Training **{status.model_name}**: {status.state}."
