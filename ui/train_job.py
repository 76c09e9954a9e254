"""The Train page's job panel: live progress of a background training job, then its outcome.

The job runs in its own worker process (``core.jobs``); this panel only reads the job's folder.
While the job is queued or running, a fragment re-reads it every 1.5 s; when it ends, or when any
other job the page drew outside the fragment changes state (the "Recent jobs" list, the queue
line: :func:`jobs_stamp`), the whole page reruns once, so no finished job reads "running" there.
A leaderboard job (core.pipeline: candidates cheapest first) shows its table as candidates
finish, and "usable now" with a link to Predict once the best so far is saved (ui/leaderboard.py).
Cancel asks to confirm (:func:`cancel_button`). A job whose worker died
(server restart, crash) reads "interrupted at step k of n" and offers Resume (core.jobs.resume_job),
which puts it back in the queue to continue from its last checkpoint.
"""

from __future__ import annotations

import datetime as dt
import time

import streamlit as st

from core import jobs, lanes
from core.charts.evaluation import training_curve_chart
from core.jobs import JobStatus, job_status, list_jobs, server_queue
from core.registry import model_path, read_info
from ui.account import duration_words, render_queue_position
from ui.figures import inert
from ui.leaderboard import latest_leaderboard, pending_titles, ready_line, render_leaderboard, render_live
from ui.markdown import plain
from ui.results import render_results
from ui.state import set_active_model

POLL_SECONDS = 1.5
PHASE_TEXT = {
    "prepare": "Loading the base model",
    "candidates": "Comparing candidates",
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


def queue_words(ahead: int) -> str:
    """"2 jobs ahead" / "next": the jobs ahead of a queued one, the running job included. (A
    "position" counted from the waiting jobs alone disagreed with the admin's queue table.)"""
    return f"{ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else "next"


def queued_line(status: JobStatus, elapsed: str) -> str:
    """A queued job's progress line: its lane, the jobs ahead, when it should start, its wait so far."""
    starts = f", starts in {duration_words(status.wait_s)}" if status.queue_position and status.wait_s is not None else ""
    return (f"Queued for {lanes.LANE_WORDS.get(status.lane, status.lane)} ({queue_words(status.queue_position)}"
            f"{starts}) · waiting {elapsed}")


SEEN = "jobs_seen"  # session key: jobs_stamp() as the page's last full run drew it


def jobs_stamp() -> tuple:
    """What a page draws from the jobs outside its polling fragment: each of the caller's jobs (all
    kinds) with its state, and each job in the server's queue with its state. When this changes,
    the fragment reruns the whole page (a job that finished must not read "running" in the
    Recent list or the queue line until a reload)."""
    own = tuple((j.id, j.state) for j in list_jobs(kind=None))
    return own + tuple((e.workspace_id, e.id, e.state) for e in server_queue())


def follow(panel, job_id: str) -> None:
    """Draw ``panel`` (a polling fragment) for ``job_id`` from a full page run, noting what the
    rest of the page drew (:func:`jobs_stamp`) so that the fragment can tell when it is out of date."""
    st.session_state[SEEN] = jobs_stamp()
    panel(job_id)


def rerun_if_page_is_stale() -> None:
    """Inside a polling fragment: rerun the whole page when a job changed state since the page
    was drawn (another of the person's jobs finished, one joined or left the queue)."""
    if st.session_state.get(SEEN) != jobs_stamp():
        st.rerun()


def cancel_button(job_id: str, key: str, label: str, what: str, effect: str = "saves nothing") -> None:
    """Cancel, confirmed: the first click asks "Cancel <what>? It stops within a few seconds and
    <effect>; ..." with **Yes, cancel** (key
    ``<key>_yes``) and **No, keep it** (``<key>_no``); only the first sends the cancel
    (``core.jobs.cancel_job``, looked up at the click: tests replace it). Callbacks, so the
    fragment's next run already draws the new state."""
    ss = st.session_state
    asking, problem = f"{key}_asking", f"{key}_problem"

    def ask() -> None:
        ss[asking] = job_id

    def keep() -> None:
        ss.pop(asking, None)

    def send() -> None:
        ss.pop(asking, None)
        try:
            jobs.cancel_job(job_id)
        except ValueError as exc:
            ss[problem] = str(exc)

    if ss.get(problem):
        st.error(ss.pop(problem))
    if ss.get(asking) != job_id:
        st.button(label, key=key, icon=":material/stop:", on_click=ask)
        return
    st.warning(f"Cancel {what}? It stops within a few seconds and {effect}; this cannot be undone.")
    yes, no, _ = st.columns([1, 1, 3])
    yes.button("Yes, cancel", key=f"{key}_yes", type="primary", icon=":material/stop:", on_click=send)
    no.button("No, keep it", key=f"{key}_no", on_click=keep)


def progress_text(status: JobStatus, now: float | None = None) -> tuple[float, str]:
    """(fraction done 0..1, one line: the candidate running (a leaderboard job), phase, step/total,
    epoch, elapsed, ETA) for a job."""
    now = time.time() if now is None else now
    elapsed = _duration(now - status.created)
    if status.state == "queued":
        return 0.0, queued_line(status, elapsed)
    steps = [e for e in status.events if e.get("total_steps")]
    last = status.last_event or {}
    phase = PHASE_TEXT.get(last.get("phase", ""), "Starting the trainer")
    rows = latest_leaderboard(status.events)
    running = next((i for i, row in enumerate(rows) if row.get("status") == "running"), None)
    if running is not None:
        phase = f"{rows[running].get('title') or rows[running].get('kind')} (candidate {running + 1} of {len(rows)}) · {phase}"
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


def live_panel(job_id: str) -> None:
    """The job's live panel (:func:`_live_panel`), called from the page's full run (the Train and
    Label pages)."""
    follow(_live_panel, job_id)


@st.fragment(run_every=POLL_SECONDS)
def _live_panel(job_id: str) -> None:
    """Progress bar, live loss/metric chart and Cancel, refreshed every ``POLL_SECONDS``."""
    status = job_status(job_id)
    if not status.active:
        st.rerun()  # draw the outcome in the page body; this fragment stops polling
    rerun_if_page_is_stale()
    fraction, line = progress_text(status)
    st.progress(fraction, text=plain(line))
    if status.state == "queued":
        render_queue_position(status)  # lane, who is ahead (names for admins only), when it starts
    else:
        st.caption("Training runs in the background: you can switch pages or close the tab and come back.")
        _live_leaderboard(status)
    if any(e.get("phase") in ("train", "evaluate") for e in status.events):
        st.plotly_chart(inert(training_curve_chart(status.events)), key="train_live_chart")
    # With a leader saved mid-run, what the cancel does to it is the pipeline's to say (the outcome
    # reads the model folder: kept_before_the_end); the question only promises what is certain.
    rows = latest_leaderboard(status.events)
    saved = ready_line(rows, status.model_name) is not None
    if status.cancel_requested:
        st.caption("Cancelling… the job stops within a few seconds; "
                   + ("no further candidate is trained." if saved else "nothing is saved."))
    elif ((status.last_event or {}).get("phase") in ("train", "evaluate", "prepare", "candidates", None) or status.state == "queued"
          or pending_titles(rows)):  # candidates still to come: cancelling spares their time
        cancel_button(job_id, "train_cancel", "Cancel training", f"training **{plain(status.model_name)}**",
                      "trains no further candidate" if saved else "saves nothing")


def _live_leaderboard(status: JobStatus) -> None:
    """The leaderboard so far and, once the best candidate so far is saved, "usable now" with a
    link to Predict. The first time a usable one is saved, it becomes the active model (as the
    finished job's model does; one no better than guessing never does), so Predict opens on it."""
    rows = latest_leaderboard(status.events)
    if not rows:
        return
    warning, readable = "", False
    if ready_line(rows, status.model_name) is not None:
        try:
            verdict = read_info(model_path(status.model_name)).metrics.get("verdict") or {}
            readable = True
        except (ValueError, OSError):  # being replaced right now: the next poll reads it
            verdict = {}
        warning = (verdict.get("warning") or "it is no better than guessing.") if verdict.get("useless") else ""
    usable = render_live(rows, status.model_name, "train_leaderboard", not_usable=warning)
    if usable and readable and st.session_state.get("train_interim_active") != status.id:
        st.session_state["train_interim_active"] = status.id
        set_active_model(status.model_name)
        st.rerun()  # the whole page: the sidebar shows the new active model


def kept_before_the_end(status: JobStatus, rows: list[dict]) -> str | None:
    """For a job that ended without finishing (failed, cancelled, interrupted): "<candidate>, saved
    while the job ran, stays usable as <model>" when its leaderboard had a saved candidate and the
    model folder still holds a model of that kind saved since the job was created; else None."""
    saved = next((row for row in rows if row.get("saved")), None)
    if saved is None:
        return None
    try:
        info = read_info(model_path(status.model_name))
        when = dt.datetime.strptime(info.saved_at, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except (ValueError, OSError):  # no model folder (taken away when the job ended), or no date
        return None
    if info.kind != saved.get("kind") or when < int(status.created):
        return None
    return (f"**{plain(saved.get('title') or saved.get('kind'))}**, saved while the job ran, stays usable as "
            f"**{plain(status.model_name)}**.")


def outcome_message(status: JobStatus, metrics: dict | None = None) -> tuple[str, str]:
    """(st element name, text) describing a finished job to people.

    ``metrics``: the saved model's metrics.json; its ``verdict`` says which model was saved
    and why, and whether it is any better than guessing. A model that is not (one class for
    everything, or within noise of the majority) gets a warning, never a success, and is not
    made the active model.
    """
    if status.state == "done":
        verdict = (metrics or {}).get("verdict") or {}
        # What was unusual about the run, e.g. that it stopped at the server's time limit per job.
        note = f" {plain(status.message)}" if status.message and status.message != jobs.SAVED else ""
        if verdict.get("useless"):
            return "warning", (
                f"Model **{plain(status.model_name)}** was saved, but it is not usable: {plain(verdict.get('warning', ''))} "
                "It was **not** made the active model (while no usable model is saved, the sidebar still lists "
                f"it, marked as no better than guessing).{note}"
            )
        why = f" {plain(verdict['reason'])}" if verdict.get("reason") else ""
        return "success", f"Model **{plain(status.model_name)}** is trained and saved; it is now the active model.{why}{note}"
    if status.state == "failed":
        return "error", f"Training **{plain(status.model_name)}** failed: {plain(status.message)}"
    if status.state == "cancelled":
        return "warning", f"Training **{plain(status.model_name)}** was cancelled; nothing was saved."
    if status.state == "interrupted":
        return "warning", interrupted_text(status)
    return "info", f"Training **{plain(status.model_name)}**: {status.state}."


def interrupted_text(status: JobStatus, *, offer_resume: bool = False) -> str:
    """What an interrupted job's outcome says: where it stopped and (``offer_resume``: the page
    shows the Resume button) what Resume will do."""
    name = f"**{plain(status.model_name)}**"
    if status.checkpoint_step is not None:
        text = (f"Training {name} was interrupted at step {status.checkpoint_step} of {status.total_steps}: the "
                "training process stopped unexpectedly (server restart or crash).")
        if offer_resume and status.resumable:
            text += f" **Resume** continues from step {status.checkpoint_step} to the result an uninterrupted run gives."
        return text
    if offer_resume and status.resumable:
        return (f"Training {name} was interrupted before its first checkpoint: the training process stopped "
                "unexpectedly (server restart or crash). **Resume** starts it again from the beginning.")
    return f"Training {name} was interrupted: {plain(status.message)}"


def _shown_job_id() -> str | None:
    """This session's job; else (a refreshed browser, a second tab, the server restarted) the
    latest job still running, which is then followed to its end like a job started here, or the
    latest one that was interrupted and can be resumed."""
    ss = st.session_state
    if ss.get("train_job_id") is None:
        dismissed = ss.get("train_dismissed", set())
        jobs_now = [j for j in list_jobs() if j.id not in dismissed]
        shown = [j for j in jobs_now if j.active] or [j for j in jobs_now if j.state == "interrupted" and j.resumable]
        if shown:
            ss["train_job_id"] = shown[-1].id
    return ss.get("train_job_id")


def resume_or_close(status: JobStatus, prefix: str, close_help: str, on_resumed=None) -> None:
    """Resume (when the job's data was kept) and Close under an interrupted job's message, for
    pages whose only choices are these two. Keys ``<prefix>_resume`` and ``<prefix>_dismiss``; the
    job shown is ``st.session_state["<prefix>_job_id"]``, closed ids go to ``"<prefix>_dismissed"``.
    ``on_resumed()`` runs after a successful resume, before the rerun; a refusal from
    ``core.jobs.resume_job`` (a ValueError, worded for people) is shown as an error."""
    ss = st.session_state
    if status.resumable:
        resume, close, _ = st.columns([1, 1, 4])
        if resume.button("Resume", key=f"{prefix}_resume", icon=":material/play_arrow:", type="primary"):
            try:
                ss[f"{prefix}_job_id"] = jobs.resume_job(status.id)  # looked up now: tests replace it
            except ValueError as exc:
                st.error(plain(exc))
            else:
                if on_resumed is not None:
                    on_resumed()
                st.rerun()  # queued again: the live panel follows it
    else:
        close, _ = st.columns([1, 5])
    if _close_button(close, status, f"{prefix}_dismiss", close_help):
        ss.setdefault(f"{prefix}_dismissed", set()).add(status.id)
        ss.pop(f"{prefix}_job_id", None)
        st.rerun()


DISCARD_HELP = ("Delete what this interrupted run kept to resume (its copy of the data and its checkpoint). "
                "It cannot be resumed afterwards and is not shown again; saved models and labels stay.")


def _close_button(column, status: JobStatus, key: str, close_help: str) -> bool:
    """Close (this session only) or, for a job that could be resumed, Discard: the page shows a
    resumable job again in every new session (after a restart, to anyone who might press Resume),
    so only giving up the resume (``core.jobs.abandon_job``: its kept data and checkpoint deleted)
    puts it away for good, and frees the disk and the customer data it holds."""
    if not status.resumable:
        return column.button("Close", key=key, help=close_help)
    if column.button("Discard", key=key, help=DISCARD_HELP, icon=":material/delete:"):
        jobs.abandon_job(status.id)  # looked up now: tests replace core.jobs functions
        return True
    return False


def _outcome(status: JobStatus) -> None:
    """A finished job: its message, the saved model's results, Retry and Close."""
    ss = st.session_state
    info, problem = None, None
    if status.state == "done":
        try:
            info = read_info(model_path(status.model_name))
        except (ValueError, OSError) as exc:
            problem = f"The saved model could not be read: {plain(exc)}"
    kind, text = outcome_message(status, info.metrics if info else None)
    if status.state == "interrupted":  # this page has the Resume button: say what it does
        text = interrupted_text(status, offer_resume=True)
    rows = latest_leaderboard(status.events)
    kept = kept_before_the_end(status, rows) if status.state != "done" else None
    if kept is not None and status.state == "cancelled":
        kind, text = "warning", f"Training **{plain(status.model_name)}** was cancelled; nothing more was trained."
    getattr(st, kind)(text)
    if kept is not None:
        st.info(kept, icon=":material/check_circle:")
    if status.state != "done":
        render_leaderboard(rows, "train_leaderboard_end", ended=True)
    if status.state == "done":
        useless = kind == "warning"
        if ss.get("train_activated") != status.id:
            ss["train_activated"] = status.id
            ss["train_bump_name"] = True  # the page offers a fresh name for the next model
            if not useless:  # a model no better than guessing is never made active silently
                set_active_model(status.model_name)
            # Rerun either way: the sidebar (drawn before the page) shows the new active model, and
            # the form above offers the fresh name instead of "a model named ... already exists".
            st.rerun()
        if useless and st.button("Use this model anyway", key="train_use_anyway"):
            set_active_model(status.model_name)
            st.rerun()
        if problem:
            st.error(problem)
        elif info is not None:
            render_results(info, key="train_results", leaderboard=rows)
    resumable = status.state == "interrupted" and status.resumable
    if resumable:
        resume, left, right = st.columns([1, 1, 4])
        if resume.button("Resume", key="train_resume", icon=":material/play_arrow:", type="primary"):
            try:
                ss["train_job_id"] = jobs.resume_job(status.id)  # looked up now, as Retry's start_job below
            except ValueError as exc:
                st.error(plain(exc))
            else:
                st.rerun()  # the job is queued again: the live panel follows it
    else:
        left, right = st.columns([1, 5])
    last = ss.get("train_last_request")
    if status.state in ("failed", "cancelled", "interrupted"):
        if last is None or last[2] != status.model_name:
            if not resumable:
                st.caption("To try again, load the data above and press Train.")
        elif left.button("Start again" if resumable else "Retry", key="train_retry", icon=":material/refresh:"):
            try:
                # Looked up now, not bound at import: a module imported while a test had
                # replaced core.jobs.start_job would otherwise keep the stand-in for good.
                ss["train_job_id"] = jobs.start_job(*last)
            except ValueError as exc:
                st.error(plain(exc))
            else:
                if resumable:  # started afresh: the interrupted run's data and checkpoint can go
                    jobs.abandon_job(status.id)
                st.rerun()
    if _close_button(right, status, "train_dismiss", "Hide this job; a saved model stays on the Models page."):
        ss.setdefault("train_dismissed", set()).add(status.id)
        ss.pop("train_job_id", None)
        st.rerun()


def job_section() -> None:
    """The Train page's job area: the shown job's live progress or outcome, then recent jobs.

    Session keys: ``train_job_id`` (the job shown), ``train_last_request`` ((frame, config,
    name) of the last job this session started, for Retry), ``train_dismissed`` (closed ids).
    """
    job_id = _shown_job_id()
    if job_id is not None:
        st.subheader("Training")
        try:
            status = job_status(job_id)
        except ValueError as exc:  # its folder was removed
            st.error(plain(exc))
        else:
            if status.active:
                live_panel(job_id)
            else:
                _outcome(status)
    recent = list_jobs()[-5:]
    if recent:
        with st.expander("Recent training jobs"):
            for job in reversed(recent):
                when = dt.datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M")
                a, b = st.columns([4, 1])
                state = job.state if job.checkpoint_step is None else f"{job.state} at step {job.checkpoint_step} of {job.total_steps}"
                a.markdown(f"`{when}` **{plain(job.model_name)}** — {state}")
                if b.button("Show", key=f"train_show_{job.id}"):
                    st.session_state["train_job_id"] = job.id
                    st.rerun()
