"""Sign-in and workspaces on the Streamlit side: who is signed in, and which folders are theirs.

With an ``[auth]`` section in `.streamlit/secrets.toml` the server is a team server: every
page asks for sign-in first (Streamlit's own ``st.login`` with an OpenID Connect provider),
and each person works in their own workspace (core/workspace.py). Without it, the laptop
mode of today: no sign-in, one workspace.

The workspace is looked up from ``st.user`` of the script run that asks, every time core
asks (``core.workspace.set_session_lookup``, registered once at import): Streamlit serves many
sessions from one process, so nothing per person may sit in a module global or os.environ,
and a fragment rerun or a widget callback runs without app.py's top, so a value set there
would be missing or stale.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any

import pandas as pd
import streamlit as st

from core import lanes, workspace
from core.cleanup import CleanupReport, cleanup, server_folders
from core.cpu import busy_load
from core.job_limits import JobLimits
from core.jobs import JobStatus, QueueEntry, cancel_job, list_jobs, queue_ahead, server_queue, wait_seconds
from core.models.folder import is_model_folder
from core.registry import list_models, model_path
from core.words import counted
from core.workspace import Identity, TeamSettings, Workspace, WorkspaceError
from ui.markdown import plain
from ui.serving import sign_in_configured

MODEL_PARAM = "model"  # ?model=<name>: open the app with that model active (a deep link)


def _marketune_section() -> dict[str, Any] | None:
    """The ``[marketune]`` table of secrets.toml, or None."""
    try:
        section = st.secrets.get("marketune")
    except Exception:  # no secrets file at all (Streamlit raises a FileNotFoundError subclass)
        section = None
    return dict(section) if section else None


def team_settings() -> TeamSettings:
    """The ``[marketune]`` table of secrets.toml (data_dir, admins, team_workspace, job limits)."""
    return TeamSettings.from_mapping(_marketune_section())


def laptop_job_limits() -> JobLimits:
    """The per-job limits a laptop's secrets.toml sets under ``[marketune]`` (none unless set:
    a laptop's queue is its owner's). Raises ``WorkspaceError`` naming a bad value."""
    try:
        return JobLimits.from_settings(_marketune_section(), team=False)
    except ValueError as exc:
        raise WorkspaceError(str(exc)) from None


def _claims() -> dict[str, Any]:
    return dict(st.user.to_dict())


def session_workspace() -> Workspace:
    """The workspace of whoever runs this script run: the laptop's without sign-in, else the
    signed-in person's (created on first use). Raises ``WorkspaceError`` when sign-in is
    configured and nobody is signed in (core then opens nothing)."""
    if not sign_in_configured():
        return dataclasses.replace(workspace.laptop(), job_limits=laptop_job_limits())
    # Before any folder of anyone's is handed out: every file and folder this server process
    # creates from now on is owner-only (0600 / 0700), whoever writes it (pandas' to_csv, a model's
    # save_pretrained, Streamlit, a library's temporary file): other accounts on the host must not
    # read customer data. Process-wide and idempotent, so setting it on every lookup costs one
    # system call and holds in every session, callback and fragment rerun. The training worker
    # sets the same itself (core/worker.py): it may be started without this process.
    os.umask(0o077)
    claims = _claims()
    if not claims.get("is_logged_in"):
        raise WorkspaceError("Sign in first: this server keeps each person's models and files apart.")
    identity = Identity.from_claims(claims)
    # A folder made before the server's workspace key moves to the new id unless a job of it is
    # queued or running (its worker writes to that folder's absolute paths): core/workspace.py.
    found = workspace.for_identity(identity, team_settings(),
                                   jobs_busy=lambda jobs: any(j.active for j in list_jobs(jobs, kind=None)))
    if not (found.models.parent / "owner.json").is_file():
        found.ensure(identity)
    return found


workspace.set_session_lookup(session_workspace)


@st.cache_resource(show_spinner=False)
def startup_cleanup() -> CleanupReport | None:
    """Once per server process (app.py calls it on every run; the cache makes it once): remove
    the disk dead jobs and cut-off saves left behind (core/cleanup.py), in every workspace on a
    team server, and log each removal with its size. A problem here is logged, never shown."""
    cleanup_log = logging.getLogger("marketune.cleanup")
    if not cleanup_log.handlers:  # Streamlit configures only its own loggers: make these lines visible
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        cleanup_log.addHandler(handler)
        cleanup_log.setLevel(logging.INFO)
    try:
        settings = team_settings()
        folders = server_folders(settings if sign_in_configured() else None)
        return cleanup(*folders, keep_interrupted_days=settings.keep_interrupted_days)
    except Exception:  # noqa: BLE001 - the app must start even when a folder cannot be cleaned
        cleanup_log.exception("Start-up cleanup failed; nothing else is affected.")
        return None


def providers() -> list[str | None]:
    """The sign-in providers of the ``[auth]`` section: named ones (``[auth.google]``, ...), or
    [None] for the single provider written into ``[auth]`` itself."""
    section = st.secrets.get("auth") or {}
    named = [k for k, v in section.items() if hasattr(v, "keys") and ("client_id" in v or "server_metadata_url" in v)]
    return named or [None]


def require_sign_in() -> None:
    """Stop the page with a sign-in button unless someone is signed in (team servers only).

    Called by app.py before any page runs. An account the provider describes without a
    subject gets an explanation and a sign-out button instead of a workspace.
    """
    if not sign_in_configured():
        return
    if _claims().get("is_logged_in"):
        try:
            session_workspace()
            return
        except WorkspaceError as exc:
            st.error(plain(exc))
            if st.button("Sign out", key="account_signout_error"):
                sign_out()
            st.stop()
    st.title("Marketune")
    st.write(
        "Sign in to open your workspace. Your models, training jobs, label projects and files are "
        "yours alone on this server; admins can see every workspace."
    )
    for provider in providers():
        label = f"Sign in with {provider.capitalize()}" if provider else "Sign in"
        if st.button(label, key=f"account_login_{provider or 'default'}", type="primary", icon=":material/login:"):
            st.login(provider)  # None: the provider written into [auth] itself
    st.stop()


def render_account() -> None:
    """The sidebar's "Signed in as ... / Sign out" (team servers only)."""
    if not sign_in_configured():
        return
    mine = session_workspace()
    claims = _claims()
    with st.sidebar:
        who = claims.get("email") or claims.get("name") or "signed in"
        st.caption(f"Signed in as **{plain(who)}**" + (" · admin" if mine.admin else ""))
        if st.button("Sign out", key="account_signout", icon=":material/logout:"):
            sign_out()


def sign_out() -> None:
    """Sign out and end this script run. ``st.logout`` empties ``st.user`` and sends the browser
    to the logout address, but returns: the rest of the run would then ask for a workspace with
    nobody signed in, and log "Sign in first" tracebacks for the sidebar and the page."""
    st.logout()
    st.stop()


def apply_model_link() -> None:
    """Open the model a link names (``?model=<name>``) as the active model, once; a name outside
    the caller's workspaces gets the resolver's message on the page instead."""
    from ui.state import set_active_model  # ui.state imports this module

    ref = st.query_params.get(MODEL_PARAM)
    if ref is None:
        return
    del st.query_params[MODEL_PARAM]  # applied once: the sidebar's choice wins afterwards
    try:
        folder = model_path(ref)
        if not is_model_folder(folder):
            where = "the team's workspace" if ref.startswith(f"{workspace.TEAM}:") else (
                "that workspace" if ":" in ref else "your workspace")
            raise WorkspaceError(f"No saved model named {ref!r} in {where}.")
    except ValueError as exc:
        st.session_state["account_link_error"] = str(exc)
        return
    set_active_model(ref)


def render_link_error() -> None:
    """The message of a refused ``?model=`` link, on the page (kept across the rerun that
    removed the parameter from the address)."""
    message = st.session_state.pop("account_link_error", None)
    if message:
        st.error(f"The link's model cannot be opened. {plain(message)}")


def render_admin_panel() -> None:
    """For admins on a team server: every workspace (owner, models, jobs) and the whole
    training queue. Shows nothing to anyone else."""
    if not sign_in_configured():
        return
    mine = session_workspace()
    if not mine.admin:
        return
    st.divider()
    st.subheader("All workspaces (admin)")
    rows = []
    for wid, folder in [(mine.id, mine.models.parent), *mine.other_workspaces()]:
        owner = workspace.owner_of(folder).get("email", "?")
        jobs = list_jobs(folder / "jobs", kind=None)
        rows.append({"workspace": wid, "owner": owner, "models": len(list_models(folder / "models")),
                     "active jobs": sum(j.active for j in jobs)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="account_admin_workspaces")
    st.caption("Open someone's model (read only) from the sidebar list, where it is named `<workspace>:<model>`.")
    render_admin_queue(mine)


def render_admin_queue(mine: Workspace) -> None:
    """The whole server queue, lane by lane in the order each lane takes them, and Cancel for any
    job in it (admins only: core.jobs.cancel_job refuses anyone else)."""
    st.markdown("**Job queue** (two lanes, one job at a time in each, in the order each lane takes them: "
                "fine-tunes in the long-job lane, short jobs in the short-job lane)")
    queue = server_queue(mine)
    if not queue:
        st.caption("No job is queued or running.")
        return
    positions: dict[str, int] = {}
    rows = []
    for e in queue:
        positions[e.lane] = positions.get(e.lane, 0) + 1
        rows.append({"lane": e.lane, "position": positions[e.lane], "owner": e.owner or e.workspace_id,
                     "kind": KIND_WORDS.get(e.kind, e.kind), "model": e.model_name, "state": e.state,
                     "time": f"{duration_words(e.time_left_s)} left" if e.state == "running"
                     else f"needs {duration_words(e.time_left_s)}",
                     "queued at": pd.Timestamp(e.created, unit="s").strftime("%Y-%m-%d %H:%M"), "job": e.id})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="account_admin_queue")
    by_key = {f"{e.workspace_id}/{e.id}": e for e in queue}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Job to cancel", list(by_key), key="account_admin_cancel_pick",
                            format_func=lambda k: f"{by_key[k].owner or by_key[k].workspace_id} · {by_key[k].model_name} ({by_key[k].state})")
    if right.button("Cancel this job", key="account_admin_cancel", icon=":material/stop:"):
        entry = by_key[chosen]
        try:
            cancel_job(entry.id, workspace_id=entry.workspace_id)
        except ValueError as exc:
            st.error(plain(exc))
        else:
            st.success(f"Asked job {entry.id} ({plain(entry.owner)}, {plain(entry.model_name)}) to stop; it saves nothing.")


KIND_WORDS = {"train": "training", "response": "targeting comparison", "rewrite": "ad-copy rewrites",
              "zeroshot": "zero-shot model", "retrain": "challenger training", "check": "data check"}


def duration_words(seconds: float | None) -> str:
    """A wait or run time for people: "under a minute", "about 12 min", "about 1 h 30 min";
    "an unknown time" for None (a job queued before estimates existed)."""
    if seconds is None:
        return "an unknown time"
    if seconds < 60:
        return "under a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def _entry_words(e: QueueEntry, who: str) -> str:
    """"your 'churn-v2' (training, running, about 12 min left)"."""
    kind = KIND_WORDS.get(e.kind, e.kind)
    if e.time_left_s is None:  # a job queued before estimates existed
        return f"{who} '{e.model_name}' ({kind}, {e.state}, time unknown)"
    if e.state == "running":
        return f"{who} '{e.model_name}' ({kind}, running, {duration_words(e.time_left_s)} left)"
    return f"{who} '{e.model_name}' ({kind}, queued, needs {duration_words(e.time_left_s)})"


def queued_message(ahead: list[QueueEntry], admin: bool, lane: str = lanes.LONG) -> str:
    """What a person whose job waits in ``lane`` is told: what it waits for (the jobs ahead in its
    lane, the running one first), and when it should start: the running job's own ETA plus the
    estimates of the queued ones. Another person's job is named (owner and model) only for
    admins; everyone else reads "other people's"."""
    where = lanes.LANE_WORDS.get(lane, lane)
    if not ahead:  # nothing running in the lane either (the running job counts as ahead): it is free now
        return f"Waiting for {where}: your job is next, with nothing ahead of it, so it starts in a moment."
    parts = [_entry_words(e, "your") for e in ahead if e.mine]
    others = [e for e in ahead if not e.mine]
    if admin:
        parts += [_entry_words(e, f"{e.owner or e.workspace_id}'s") for e in others]
    elif others and not parts:
        parts = ["other people's"]
    elif others:
        parts.append(f"{len(others)} of other people's")
    wait = wait_seconds([e.time_left_s for e in ahead])
    when = "the time is unknown" if wait is None else f"it starts in {duration_words(wait)}"
    return (
        f"Waiting for {where}: {counted(len(ahead), 'job')} ahead ({'; '.join(parts)}), so {when} "
        "(the running job's own estimate plus estimates for the others). Each lane runs one job at a time: "
        "fine-tunes in the long-job lane, short jobs (a Targeting comparison without the transformer, "
        "few-shot training on little data) in the short-job lane. You can leave this page meanwhile."
    )


def render_queue_position(status: JobStatus) -> None:
    """The queued job's lane, who is ahead of it and when it should start (:func:`queued_message`)."""
    st.info(plain(queued_message(queue_ahead(status.id), session_workspace().admin, status.lane)))


def queue_summary(queue: list[QueueEntry], lane: str | None = None, estimate_s: float | None = None) -> str:
    """One line on the whole queue (every kind of job, every person's): how many jobs run and wait
    in each lane; with ``lane``, where a job started now would go and how long it should take."""
    parts = []
    for name in lanes.LANES:
        running = sum(e.lane == name and e.state == "running" for e in queue)
        waiting = sum(e.lane == name and e.state == "queued" for e in queue)
        lane_words = lanes.LANE_WORDS[name]
        if running:
            parts.append(f"{lane_words} runs {counted(running, 'job')}" + (f" with {waiting} waiting" if waiting else ""))
        elif waiting:
            # Nothing runs, so the first waiting job is being started (its worker takes the free lane):
            # "runs 0 jobs with 1 waiting" beside that job's own "(next)" read as a contradiction (walk).
            parts.append(f"{lane_words} is starting {'its 1 waiting job' if waiting == 1 else f'the first of {waiting} waiting jobs'}")
        else:
            parts.append(f"{lane_words} is free")
    where = "this server" if sign_in_configured() else "this computer"
    line = f"Jobs on {where} now: {'; '.join(parts)}."
    if lane is not None:
        ahead = sum(e.lane == lane for e in queue)
        line += (f" A new job would go to {lanes.LANE_WORDS[lane]} ({'estimated ' + duration_words(estimate_s) if estimate_s is not None else 'time unknown'} "
                 f"on an idle machine), " + (f"behind {counted(ahead, 'job')}." if ahead else "with nothing ahead."))
        line += busy_words()
    return line


def estimate_line(estimate_s: float | None, what: str = "This job") -> str:
    """The run time of a job not started yet, before anything is queued (a laptop's usual case):
    "This training would take about 2 min on an idle machine." plus :func:`busy_words`; "" when unknown."""
    if estimate_s is None:
        return ""
    return f"{what} would take {duration_words(estimate_s)} on an idle machine." + busy_words()


def busy_words() -> str:
    """" This machine is busy now (load average 4.0 on 2 cores), so expect it to take longer." when
    other work already keeps every core busy (core.cpu.busy_load), else "": the estimates are an idle
    machine's (a 2,000-row fine-tune: 144 s idle, 491 s at load 3-4; bench/bench_estimates.py)."""
    busy = busy_load()
    if busy is None:
        return ""
    return f" This machine is busy now (load average {busy[0]:.1f} on {counted(busy[1], 'core')}), so expect it to take longer."
