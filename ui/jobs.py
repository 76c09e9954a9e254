"""The one job panel: what every page that runs a background job (core.jobs) shows of it.

Train, Label, Targeting, Check data and Ad Copy Lab's rewrites use :func:`follow_job` (which job
a page shows), :func:`live_panel` (while it is queued or running: a fragment re-reads its folder
every ``JobPanel.poll_seconds``, ``POLL_SECONDS`` unless the page asks otherwise, and draws the bar
from its latest ``ProgressEvent``, the page's note and Cancel, confirmed; when it ends, or another job
the page drew changes state, the page reruns),
:func:`resume_or_close` and :func:`recent_jobs`. Widget and session keys start with the page's
``key``: ``<key>_cancel`` (``_yes``, ``_no``), ``<key>_resume``, ``<key>_dismiss``,
``<key>_show_<id>``, ``<key>_job_id``, ``<key>_dismissed``. Predict's scoring, a thread of the
server rather than a queued job, gives the panel its own status and cancel (``JobPanel.status_of``,
``JobPanel.cancel``). Inline runs (the Dashboard's scoring) draw their ProgressEvents with
:func:`show_progress`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core import jobs, lanes
from core.jobs import JobStatus, list_jobs, server_queue
from core.progress import ProgressEvent
from core.words import counted
from ui.account import duration_words, render_queue_position
from ui.markdown import plain

POLL_SECONDS = 1.5
SEEN = "jobs_seen"  # session key: jobs_stamp() as the page's last full run drew it


def duration(seconds: float | None) -> str:
    """"42 s", "3:05"; "…" when unknown."""
    if seconds is None:
        return "…"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def queue_words(ahead: int) -> str:
    """"2 jobs ahead" / "next": the jobs ahead of a queued one, the running job included. (A
    "position" counted from the waiting jobs alone disagreed with the admin's queue table.)"""
    return f"{counted(ahead, 'job')} ahead" if ahead else "next"


def queued_line(status: JobStatus, elapsed: str) -> str:
    """A queued job's progress line: its lane, the jobs ahead, when it should start, its wait so far."""
    starts = f", starts in {duration_words(status.wait_s)}" if status.queue_position and status.wait_s is not None else ""
    return (f"Queued for {lanes.LANE_WORDS.get(status.lane, status.lane)} ({queue_words(status.queue_position)}"
            f"{starts}) · waiting {elapsed}")


def progress_line(status: JobStatus, now: float | None = None) -> tuple[float, str]:
    """(fraction done 0..1, one line) for a job: queued, its place in the queue; running, its
    latest event's ``fraction`` and ``message`` (core.progress.ProgressEvent) and the time since
    it was queued."""
    elapsed = duration((time.time() if now is None else now) - status.created)
    if status.state == "queued":
        return 0.0, queued_line(status, elapsed)
    last = status.last_event
    if last is None:
        return 0.0, f"Starting · elapsed {elapsed}"
    return float(min(max(last.get("fraction") or 0.0, 0.0), 1.0)), f"{last.get('message') or 'Working'} · elapsed {elapsed}"


def show_progress(bar: Any, event: ProgressEvent) -> None:
    """An inline run's progress (Predict, the Dashboard's scoring) in ``bar`` (an ``st.progress``):
    the event's fraction and message, with the time left when known."""
    left = f" · about {duration(event.eta_s)} left" if event.eta_s is not None and event.fraction < 1 else ""
    bar.progress(event.fraction, text=plain(event.message + left))


def jobs_stamp() -> tuple:
    """What a page draws from the jobs outside its polling fragment: each of the caller's jobs (all
    kinds) with its state, and each job in the server's queue with its state. When this changes,
    the fragment reruns the whole page (a job that finished must not read "running" in the
    Recent list or the queue line until a reload)."""
    own = tuple((j.id, j.state) for j in list_jobs(kind=None))
    return own + tuple((e.workspace_id, e.id, e.state) for e in server_queue())


def follow(panel: Callable[..., None], job_id: str, *args: Any) -> None:
    """Draw ``panel`` (a polling fragment) for ``job_id`` from a full page run, noting what the
    rest of the page drew (:func:`jobs_stamp`) so that the fragment can tell when it is out of date."""
    st.session_state[SEEN] = jobs_stamp()
    panel(job_id, *args)


def rerun_if_page_is_stale() -> None:
    """Inside a polling fragment: rerun the whole page when a job changed state since the page
    was drawn (another of the person's jobs finished, one joined or left the queue)."""
    if st.session_state.get(SEEN) != jobs_stamp():
        st.rerun()


def follow_job(kind: str, *, key: str, match: Callable[[JobStatus], bool] | None = None,
               latest_only: bool = False, done_too: bool = False) -> str | None:
    """The job a page shows: ``st.session_state[<key>_job_id]`` (the one this session started or
    chose); else (a refreshed browser, a second tab, the server restarted) the latest job of
    ``kind`` (passing ``match``) still queued or running, which is then followed to its end like
    a job started here, or else the latest interrupted one that can be resumed, not closed in this
    session (``<key>_dismissed``). ``latest_only``: look at the latest such job alone (an older
    interrupted run resumed after a newer one finished would replace the newer model);
    ``done_too``: the latest job however it ended (done: its result is the page's; cancelled or
    failed: said, never hidden behind an older job's result)."""
    ss = st.session_state
    if ss.get(f"{key}_job_id") is None:
        dismissed = ss.get(f"{key}_dismissed", set())
        found = [j for j in list_jobs(kind=kind) if (match is None or match(j))]
        if latest_only:
            found = found[-1:]
        found = [j for j in found if j.id not in dismissed]
        shown = ([j for j in found if j.active or done_too]
                 or [j for j in found if j.state == "interrupted" and j.resumable])
        if shown:
            ss[f"{key}_job_id"] = shown[-1].id
    return ss.get(f"{key}_job_id")


def shown_job(kind: str, *, key: str, **options: Any) -> JobStatus | None:
    """The status of the job :func:`follow_job` finds (with ``options``); None when there
    is none, or its folder was removed (said in an error, and the page stops showing it)."""
    job_id = follow_job(kind, key=key, **options)
    if job_id is None:
        return None
    try:
        return jobs.job_status(job_id)
    except ValueError as exc:
        st.error(plain(exc))
        st.session_state.pop(f"{key}_job_id", None)
        return None


def cancel_button(job_id: str, key: str, label: str, what: str, effect: str = "saves nothing",
                  cancel: Callable[[str], None] | None = None) -> None:
    """Cancel, confirmed: the first click asks "Cancel <what>? It stops within a few seconds and
    <effect>; ..." with **Yes, cancel** (key ``<key>_yes``) and **No, keep it** (``<key>_no``);
    only the first sends the cancel (``cancel(job_id)``, by default ``core.jobs.cancel_job``, looked
    up at the click: tests replace it). Callbacks, so the fragment's next run already draws the new state."""
    ss = st.session_state
    asking, problem = f"{key}_asking", f"{key}_problem"

    def ask() -> None:
        ss[asking] = job_id

    def keep() -> None:
        ss.pop(asking, None)

    def send() -> None:
        ss.pop(asking, None)
        try:
            (cancel or jobs.cancel_job)(job_id)
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


@dataclass(frozen=True)
class JobPanel:
    """What one page's live panel says (:func:`live_panel`); the rest is the same everywhere."""

    key: str  # widget keys: <key>_cancel, <key>_cancel_yes, <key>_cancel_no
    what: Callable[[JobStatus], str]  # what Cancel stops, for its question: "the comparison **q3**"
    note: str  # the caption under the bar while it runs: that the page may be left
    cancel_label: str = "Cancel"
    effect: Callable[[JobStatus], str] = lambda status: "saves nothing"  # what a cancel does
    cancelling: Callable[[JobStatus], str] = lambda status: "Cancelling… nothing is saved."  # once it was sent
    line: Callable[[JobStatus], tuple[float, str]] = progress_line  # (fraction, line) of the bar
    extra: Callable[[JobStatus], None] | None = None  # drawn under the note (Train: the leaderboard, the chart)
    can_cancel: Callable[[JobStatus], bool] | None = None  # None: always while active
    # A run that is not a queued job (Predict's scoring thread): its status by id, and how to stop it.
    status_of: Callable[[str], JobStatus] | None = None  # None: core.jobs.job_status
    cancel: Callable[[str], None] | None = None  # None: core.jobs.cancel_job
    poll_seconds: float = POLL_SECONDS  # how often the bar is redrawn while the job runs


# One polling fragment per interval (st.fragment fixes run_every when it wraps the function).
_POLLING: dict[float, Callable[[str, JobPanel], None]] = {}


def live_panel(job_id: str, panel: JobPanel) -> None:
    """The job's live panel (:func:`_live_panel`, redrawn every ``panel.poll_seconds``), called
    from the page's full run."""
    if panel.poll_seconds not in _POLLING:
        _POLLING[panel.poll_seconds] = st.fragment(run_every=panel.poll_seconds)(_live_panel)
    follow(_POLLING[panel.poll_seconds], job_id, panel)


def _live_panel(job_id: str, panel: JobPanel) -> None:
    """Progress bar, the page's note and extras, and Cancel: a fragment's body (:func:`live_panel`)."""
    status = (panel.status_of or jobs.job_status)(job_id)
    if not status.active:
        st.rerun()  # draw the outcome in the page body; this fragment stops polling
    rerun_if_page_is_stale()
    fraction, line = panel.line(status)
    st.progress(fraction, text=plain(line))
    if status.state == "queued":
        render_queue_position(status)  # lane, who is ahead (names for admins only), when it starts
    st.caption(panel.note)
    if panel.extra is not None and status.state != "queued":
        panel.extra(status)
    if status.cancel_requested:
        st.caption(panel.cancelling(status))
    elif panel.can_cancel is None or panel.can_cancel(status):
        cancel_button(job_id, f"{panel.key}_cancel", panel.cancel_label, panel.what(status), panel.effect(status),
                      panel.cancel)


DISCARD_HELP = ("Delete what this interrupted run kept to resume (its copy of the data and its checkpoint). "
                "It cannot be resumed afterwards and is not shown again; saved models and labels stay.")


def close_button(column: Any, status: JobStatus, prefix: str, close_help: str) -> None:
    """Close (this session only: the id goes to ``<prefix>_dismissed``) or, for a job that could
    be resumed, Discard: the page shows a resumable job again in every new session (after a
    restart, to anyone who might press Resume), so only giving up the resume
    (``core.jobs.abandon_job``: its kept data and checkpoint deleted) puts it away for good, and
    frees the disk and the customer data it holds. Key ``<prefix>_dismiss``."""
    key = f"{prefix}_dismiss"
    if status.resumable:
        if not column.button("Discard", key=key, help=DISCARD_HELP, icon=":material/delete:"):
            return
        jobs.abandon_job(status.id)  # looked up now: tests replace core.jobs functions
    elif not column.button("Close", key=key, help=close_help):
        return
    st.session_state.setdefault(f"{prefix}_dismissed", set()).add(status.id)
    st.session_state.pop(f"{prefix}_job_id", None)
    st.rerun()


def resume_button(column: Any, status: JobStatus, prefix: str, on_resumed: Callable[[], None] | None = None) -> None:
    """Resume (key ``<prefix>_resume``): ``core.jobs.resume_job`` (looked up now: tests replace
    it) puts the job back in the queue as ``<prefix>_job_id``; ``on_resumed()`` runs after a
    successful resume, before the rerun; a refusal (a ValueError, worded for people) is an error."""
    if column.button("Resume", key=f"{prefix}_resume", icon=":material/play_arrow:", type="primary"):
        try:
            st.session_state[f"{prefix}_job_id"] = jobs.resume_job(status.id)
        except ValueError as exc:
            st.error(plain(exc))
        else:
            if on_resumed is not None:
                on_resumed()
            st.rerun()  # queued again: the live panel follows it


def resume_or_close(status: JobStatus, prefix: str, close_help: str, on_resumed: Callable[[], None] | None = None) -> None:
    """Resume (when the job's data was kept: :func:`resume_button`) and Close (:func:`close_button`)
    under an interrupted job's message, for pages whose only choices are these two."""
    if status.resumable:
        resume, close, _ = st.columns([1, 1, 4])
        resume_button(resume, status, prefix, on_resumed)
    else:
        close, _ = st.columns([1, 5])
    close_button(close, status, prefix, close_help)


def recent_jobs(kinds: str | Mapping[str, str], *, key: str, title: str,
                state: Callable[[JobStatus], str] = lambda job: job.state,
                show: Callable[[JobStatus], None] | None = None) -> None:
    """The last five jobs of ``kinds`` (a kind, or {kind: its words}, said on each job's line) in
    an expander called ``title``, each with its ``state`` words (and where an interrupted one
    stopped) and a Show button (``<key>_show_<id>``) that shows it here
    (``<key>_job_id``) or calls ``show``."""
    words = {kinds: ""} if isinstance(kinds, str) else kinds
    recent = [job for job in list_jobs(kind=None) if job.kind in words][-5:]
    if not recent:
        return
    with st.expander(title):
        for job in reversed(recent):
            when = dt.datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M")
            a, b = st.columns([4, 1])
            at = "" if job.checkpoint_step is None else f" at step {job.checkpoint_step} of {job.total_steps}"
            kind = f"{words[job.kind]}, " if words[job.kind] else ""
            a.markdown(f"`{when}` **{plain(job.model_name)}** — {kind}{plain(state(job))}{at}")
            if b.button("Show", key=f"{key}_show_{job.id}"):
                if show is not None:
                    show(job)
                    continue
                st.session_state[f"{key}_job_id"] = job.id
                st.rerun()
