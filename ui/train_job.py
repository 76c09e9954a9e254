"""The Train page's job panel: live progress of a background training job, then its outcome.

The job runs in its own worker process (``core.jobs``); this panel only reads the job's folder.
While the job is queued or running, a fragment re-reads it every 1.5 s; when it ends, or when any
other job the page drew outside the fragment changes state (the "Recent jobs" list, the queue
line: ``ui.jobs.jobs_stamp``), the whole page reruns once, so no finished job reads "running" there.
A leaderboard job (core.pipeline: candidates cheapest first) shows its table as candidates
finish, and "usable now" with a link to Predict once the best so far is saved (ui/leaderboard.py).
The bar, Cancel (confirmed), Resume and Close are the one job panel's (ui/jobs.py). A job whose worker died
(server restart, crash) reads "interrupted at step k of n" and offers Resume (core.jobs.resume_job),
which puts it back in the queue to continue from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import streamlit as st

from core import jobs
from core.charts.evaluation import training_curve_chart
from core.evaluation import cross_validated_folds
from core.jobs import JobStatus, latest_leaderboard
from core.registry import model_path, read_info
from core.result import verdict_notice
from ui.figures import inert
from ui.jobs import JobPanel, close_button, duration, live_panel, queued_line, recent_jobs, resume_button, shown_job
from ui.leaderboard import pending_titles, ready_line, render_leaderboard, render_live
from ui.markdown import plain
from ui.results import notice_markdown, render_results
from ui.state import other_active_model, set_active_model

PHASE_TEXT = {
    "prepare": "Loading the base model",
    "candidates": "Comparing candidates",
    "train": "Training",
    "evaluate": "Training",
    "test": "Scoring the test rows",
    "baselines": "Training the baselines on the same split",
    "done": "Saving the model",
}


def progress_text(status: JobStatus, now: float | None = None) -> tuple[float, str]:
    """(fraction done 0..1, one line: the candidate running (a leaderboard job), phase, step/total,
    epoch, elapsed, ETA) for a job."""
    now = time.time() if now is None else now
    elapsed = duration(now - status.created)
    if status.state == "queued":
        return 0.0, queued_line(status, elapsed)
    steps = [e for e in status.events if e.get("total_steps")]
    last = status.last_event or {}
    phase = PHASE_TEXT.get(last.get("phase", ""), "Starting the trainer")
    rows = latest_leaderboard(status.events)
    running = next((i for i, row in enumerate(rows) if row.get("status") == "running"), None)
    refitting = next((row for row in rows if row.get("refitting")), None)
    if running is not None:
        phase = f"{rows[running].get('title') or rows[running].get('kind')} (candidate {running + 1} of {len(rows)}) · {phase}"
    elif refitting is not None:  # the job's last step: its steps count afresh, the fine-tune's are done
        phase = f"{refitting.get('title') or refitting.get('kind')}, retrained on train + validation (the last step) · {phase}"
        start = next(i for i, e in enumerate(status.events)
                     if any(row.get("refitting") for row in e.get("leaderboard") or ()))
        steps = [e for e in status.events[start:] if e.get("total_steps")]
    if not steps:
        return 0.0, f"{phase} · elapsed {elapsed}"
    latest = steps[-1]
    step, total = int(latest["step"]), int(latest["total_steps"])
    eta = latest.get("eta_s") if last.get("phase") in ("train", "evaluate") else None
    fold = (latest.get("metrics") or {}).get("fold")
    if fold:  # small data, cross-validated: each fit counts its steps afresh (core.small_data.FoldEvents)
        return float(latest.get("fraction") or 0.0), f"{phase} · {fold} · step {step}/{total} · elapsed {elapsed}"
    line = f"{phase} · step {step}/{total} · epoch {float(latest.get('epoch') or 0):.2f} · elapsed {elapsed}"
    if eta is not None:
        line += f" · about {duration(eta)} left"
        if running is not None and rows[running].get("refits"):
            line += ", then about as long again to retrain it on train + validation if it wins"
    if last.get("message") and last.get("phase") == "evaluate":
        line += f" · {last['message']}"
    return min(1.0, step / total), line


# Said in the live chart's place while no fit has reported a point to draw (_live_extras).
NO_CURVE_YET = ("No training curve yet: no step has reported a loss or a validation score so far (a TF-IDF fit "
                "has no steps); it is drawn once one does.")


def _live_extras(status: JobStatus, *, activate: bool = True) -> None:
    """Under the bar: the leaderboard so far and the live loss/metric chart (``activate``: see
    :func:`_live_leaderboard`)."""
    _live_leaderboard(status, activate=activate)
    if any(e.get("phase") in ("train", "evaluate") for e in status.events):
        figure = training_curve_chart(status.events)
        # A fit's first event carries no loss (a cross-validated TF-IDF candidate's are all like
        # that): an empty frame of axes told the Label page's walker nothing, so say why instead.
        if any(len(trace.x or ()) for trace in figure.data):
            st.plotly_chart(inert(figure), key="train_live_chart")
        else:
            st.caption(NO_CURVE_YET)


def _leader_saved(status: JobStatus) -> bool:
    return ready_line(latest_leaderboard(status.events), status.model_name) is not None


def _refitting(status: JobStatus) -> bool:
    """The saved leader is being retrained on train + validation (the job's last step)."""
    return any(row.get("refitting") for row in latest_leaderboard(status.events))


def _cancel_effect(status: JobStatus) -> str:
    if _refitting(status):
        return "ends the retraining on train + validation (the model saved so far stays)"
    return "trains no further candidate" if _leader_saved(status) else "saves nothing"


def _can_cancel(status: JobStatus) -> bool:
    """While there is training left to spare: a fine-tune running, or candidates still to come."""
    return ((status.last_event or {}).get("phase") in ("train", "evaluate", "prepare", "candidates", None) or status.state == "queued"
            or bool(pending_titles(latest_leaderboard(status.events))))


# With a leader saved mid-run, what the cancel does to it is the pipeline's to say (the outcome
# reads the model folder: kept_before_the_end); the question only promises what is certain.
PANEL = JobPanel(
    key="train",
    what=lambda status: f"training **{plain(status.model_name)}**",
    note="Training runs in the background: you can switch pages or close the tab and come back.",
    cancel_label="Cancel training",
    effect=_cancel_effect,
    cancelling=lambda status: "Cancelling… the job stops within a few seconds; "
    + ("no further candidate is trained." if _leader_saved(status) else "nothing is saved."),
    line=lambda status: progress_text(status),
    extra=_live_extras,
    can_cancel=_can_cancel,
)
# The Label page's: the same, but the model becomes active only once the job has ended (ui/label.py
# compares it with the project's zero-shot model first; walk-v saw a rejected model active for a minute).
LABEL_PANEL = dataclasses.replace(PANEL, extra=lambda status: _live_extras(status, activate=False))


def _live_leaderboard(status: JobStatus, *, activate: bool = True) -> None:
    """The leaderboard so far and, once the best candidate so far is saved, "usable now" with a
    link to Predict. The first time a usable one is saved, it becomes the active model when no
    other model is in use (one no better than guessing never does), so Predict opens on it; with
    another in use, that one stays active until the person chooses (the line says how) or the job
    ends (its outcome says it is made active). Never with ``activate`` False (the Label page: the
    finished job's model is compared with the project's zero-shot model before either is made active)."""
    rows = latest_leaderboard(status.events)
    if not rows:
        return
    warning, readable, verdict, folds = "", False, {}, 0
    if ready_line(rows, status.model_name) is not None:
        try:
            metrics = read_info(model_path(status.model_name)).metrics
            verdict, folds, readable = metrics.get("verdict") or {}, cross_validated_folds(metrics), True
        except (ValueError, OSError):  # being replaced right now: the next poll reads it
            verdict = {}
        warning = (verdict.get("warning") or "it is no better than guessing.") if verdict.get("useless") else ""
    in_use = other_active_model(status.model_name) if activate else None
    usable = render_live(rows, status.model_name, "train_leaderboard", not_usable=warning,
                         caution="" if verdict.get("useless") else notice_markdown(verdict), in_use=in_use or "",
                         folds=folds)
    # Once per saved leader, not once per job: the sidebar (drawn outside this fragment) describes the
    # model in the folder, which a later leader replaces (the walk saw it name TF-IDF for the whole run).
    marker = f"{status.id}:{next((r.get('kind') for r in rows if r.get('saved') and r.get('leader')), '')}"
    if activate and not in_use and usable and readable and st.session_state.get("train_interim_active") != marker:
        st.session_state["train_interim_active"] = marker
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
    if info.candidate_kind != saved.get("kind") or when < int(status.created):
        return None
    return (f"**{plain(saved.get('title') or saved.get('kind'))}**, saved while the job ran, stays usable as "
            f"**{plain(status.model_name)}**.")


def outcome_message(status: JobStatus, metrics: dict | None = None, *, made_active: bool = True) -> tuple[str, str]:
    """(st element name, text) describing a finished job to people.

    ``metrics``: the saved model's metrics.json; its ``verdict`` says which model was saved
    and why, and whether it is any better than guessing. A model that is not (one class for
    everything, or within noise of the majority) gets a warning, never a success, and is not
    made the active model. ``made_active`` False: the caller kept another model in use (the
    Label page's zero-shot model), so the text does not say this one is active.
    """
    active = ("it is now the active model" if made_active
              else "it was **not** made the active model (the model in use stays; below)")
    if status.state == "done":
        verdict = (metrics or {}).get("verdict") or {}
        # What was unusual about the run, e.g. that it stopped at the server's time limit per job.
        note = f" {plain(status.message)}" if status.message and status.message != jobs.SAVED else ""
        # The verdict's notice is said here, the page's most visible place, and not again below
        # (render_results(notice_above=True)): one run, one caution (a newcomer read it three times).
        notice = notice_markdown(verdict)
        if verdict.get("useless"):  # core.result.verdict_notice's words, in this sentence
            return "warning", (
                f"Model **{plain(status.model_name)}** was saved, but it is not usable: {plain(verdict_notice(verdict)[1])} "
                "It was **not** made the active model (while no usable model is saved, the sidebar still lists "
                f"it, marked as no better than guessing).{note}"
            )
        why = f" {plain(verdict['reason'])}" if verdict.get("reason") else ""
        if notice:  # usable (made active), but never a plain success: the caution says why
            return "warning", (f"Model **{plain(status.model_name)}** is trained and saved; {active}. "
                               f"{notice}{why}{note}")
        return "success", f"Model **{plain(status.model_name)}** is trained and saved; {active}.{why}{note}"
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
        useless = bool(((info.metrics if info else {}).get("verdict") or {}).get("useless"))  # a caution stays usable
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
            render_results(info, key="train_results", leaderboard=rows, notice_above=True)  # said in the outcome
    resumable = status.state == "interrupted" and status.resumable
    if resumable:
        resume, left, right = st.columns([1, 1, 4])
        resume_button(resume, status, "train")
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
    close_button(right, status, "train", "Hide this job; a saved model stays on the Models page.")


def job_section() -> None:
    """The Train page's job area: the shown job's live progress or outcome, then recent jobs.

    Session keys: ``train_job_id`` (the job shown), ``train_last_request`` ((frame, config,
    name) of the last job this session started, for Retry), ``train_dismissed`` (closed ids).
    """
    status = shown_job("train", key="train")
    if status is not None:
        st.subheader("Training")
        if status.active:
            live_panel(status.id, PANEL)
        else:
            _outcome(status)
    # A training job is shown here; a retrain's Show opens its outcome on the Models page.
    recent_jobs(TRAINING_KINDS, key="train", title="Recent training jobs", state=_state, show=_show)


# The kinds of job that train a model, as the Train page's recent list names them.
TRAINING_KINDS = {"train": "training", "retrain": "retrain with new labels (Models page, Versions tab)"}


def _state(job: JobStatus) -> str:
    """A finished retrain says its outcome (promoted or kept), not just "done"."""
    from core.versions import outcome_in_brief

    return (job.kind == "retrain" and job.state == "done" and outcome_in_brief(job.message)) or job.state


def _show(job: JobStatus) -> None:
    """A training job is shown here; a retrain on the Models page's Versions tab (ui.versions follows it)."""
    if job.kind != "retrain":
        st.session_state["train_job_id"] = job.id
        st.rerun()
    from ui.versions import JOBS

    st.session_state.setdefault(JOBS, {})[job.model_name] = job.id
    st.session_state["models_open"] = job.model_name  # the Models page's model picker
    st.switch_page("pages/models.py")
