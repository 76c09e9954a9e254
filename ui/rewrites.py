"""Ad Copy Lab's "Suggest rewrites": a background job (core.jobs.start_rewrite_job) writes N
rewrites of the base copy with a small instruction model on this machine and scores each with the
user's model; they are shown as suggestions, each with a button that adds it to the variants.

The job runs in the worker process like training, so it survives page changes and reloads: the
section shows this session's job, else the latest rewrite job for the model (running, or done).
While it runs a fragment polls it (progress bar and Cancel, ui.train_job's). Every widget has a
``rw_`` key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from core import jobs
from core.generate import Rewrite, generator_info, generator_source
from core.jobs import JobStatus, job_status, list_jobs, rewrite_result
from core.models.folder import stamp
from core.models.zeroshot import unchecked_scores_note
from core.registry import model_path
from ui.jobs import JobPanel, follow_job, live_panel
from ui.markdown import plain

JOB_ID = "rw_job_id"
MAX_ASKED = 10  # rewrites one click may ask for on the page (the CLI allows MAX_REWRITES)


def render_suggestions(lab: Any, base: str, add: Callable[[list[str]], None]) -> None:
    """The "Suggest rewrites" section for the Ad Copy Lab ``lab`` (ui.adlab.Lab) and the base
    copy ``base``; ``add(texts)`` puts texts into the variant table (ui.adlab.add_texts)."""
    job_id = follow_job("rewrite", key="rw", match=lambda job: job.model_name == lab.name, done_too=True)
    with st.expander("Suggest rewrites (written on this machine)", expanded=job_id is not None):
        info = generator_info()
        st.caption(
            f"Written by **{info['name']}** ({plain(info['size'])}; licence {plain(info['licence'])}), a small "
            "instruction model that runs on this machine: your ad copy is never sent anywhere. Each rewrite is "
            f"scored by your model **{plain(lab.name)}** like the variants above. It is a small model: treat its "
            "rewrites as drafts to edit."
        )
        if not info["installed"]:
            try:
                generator_source()
            except ValueError as exc:
                st.warning(plain(exc))
            return
        _request_form(lab, base)
        if job_id is not None:
            _job_panel(lab, base, job_id, add)


# The choices typed, kept past a page change (the length limit too: it showed 0 beside rewrites
# written with 70, round-7 walk).
TYPED, KEPT = ("rw_n", "rw_tone", "rw_keep", "rw_avoid", "rw_max_chars"), "rw_typed_kept"


def _request_form(lab: Any, base: str) -> None:
    ss = st.session_state
    for key, value in ss.get(KEPT, {}).items():  # Streamlit drops a widget's key when its page is not drawn
        ss.setdefault(key, value)
    left, middle, right = st.columns(3)
    n = left.number_input("Rewrites", 1, MAX_ASKED, 5, key="rw_n",
                          help="About 15 s each on a laptop CPU, plus half a minute to load the model.")
    tone = middle.text_input("Tone (optional)", key="rw_tone", placeholder="e.g. playful, formal, urgent")
    max_chars = right.number_input("Longest rewrite, characters (0: no limit)", 0, 1000, 0, step=10,
                                   key="rw_max_chars")
    left, right = st.columns(2)
    keep = left.text_input("Words to keep (comma-separated)", key="rw_keep")
    avoid = right.text_input("Words to avoid (comma-separated)", key="rw_avoid")
    ss[KEPT] = {key: ss[key] for key in TYPED if key in ss}
    if st.button("Suggest rewrites", key="rw_start", icon=":material/edit_note:", disabled=not base.strip()):
        try:
            st.session_state[JOB_ID] = jobs.start_rewrite_job(  # looked up now: tests replace it
                base, lab.name, n=int(n), tone=tone.strip() or None, keep_words=keep, avoid_words=avoid,
                max_chars=int(max_chars) or None, positive_class=lab.success, profile=lab.profile,
                text_column=lab.text_column)
        except ValueError as exc:
            st.error(plain(exc))
            return
        st.rerun()


def _job_panel(lab: Any, base: str, job_id: str, add: Callable[[list[str]], None]) -> None:
    try:
        status = job_status(job_id)
    except ValueError:  # its folder was removed
        st.session_state.pop(JOB_ID, None)
        return
    if status.active:
        live_panel(job_id, PANEL)
        return
    if status.state == "done":
        _suggestions(lab, base, job_id, status.message, add)
        return
    if status.state == "cancelled":
        st.warning("The rewrites were cancelled; none were kept.")
    elif status.state == "failed":
        st.error(f"Writing the rewrites failed: {plain(status.message)}")
    else:
        st.warning(f"Writing the rewrites was interrupted: {plain(status.message)} Ask again.")
    _earlier_suggestions(lab, base, status, add)


ENDED = {"cancelled": "was cancelled", "failed": "failed", "interrupted": "was interrupted"}


def _earlier_suggestions(lab: Any, base: str, status: JobStatus, add: Callable[[list[str]], None]) -> None:
    """Under a rewrite job that ended without rewrites: the latest earlier finished job's for the same
    model, said to be from that earlier run (walk: after a cancel they showed as if they were its result)."""
    earlier = [j for j in list_jobs(kind="rewrite") if j.model_name == lab.name and j.state == "done" and j.created < status.created]
    if not earlier:
        return
    when = dt.datetime.fromtimestamp(earlier[-1].created).strftime("%Y-%m-%d %H:%M")
    st.caption(f"The rewrites below are from an earlier run (asked {when}), not from the one that "
               f"{ENDED.get(status.state, 'ended')}.")
    _suggestions(lab, base, earlier[-1].id, earlier[-1].message, add)


PANEL = JobPanel(key="rw", what=lambda status: "the rewrites",
                 # The generator's loading cannot be interrupted (core.generate.write_rewrites).
                 effect=lambda status: "keeps none of them (while the generator is still loading, up to about a "
                                       "minute, it stops once the loading ends)",
                 note="The rewrites are written in the background: you can switch pages and come back.",
                 cancelling=lambda status: "Cancelling…")


def _suggestions(lab: Any, base: str, job_id: str, message: str, add: Callable[[list[str]], None]) -> None:
    try:
        result = rewrite_result(job_id)
    except ValueError as exc:
        st.error(plain(exc))
        return
    request = jobs.rewrite_request(job_id)
    if other := made_for_another(lab, base, result, request):
        st.caption(other)
        return
    st.caption(f"Rewrites of “{plain(result.base_copy)}” ({plain(asked_words(request))}). {plain(message)}")
    if note := unchecked_scores_note(lab.model):  # said again beside the scores it is about
        st.caption(plain(note))
    if not result:
        st.info("No rewrite passed the checks; try again, perhaps with fewer words to keep or a longer limit.")
    for rewrite in result:
        _suggestion(lab, rewrite, add)


def made_for_another(lab: Any, base: str, result: Any, request: dict) -> str:
    """"" when the rewrites ``result`` (of the job asked ``request``) were made for what the lab
    shows now: the same model folder and save (its stamp), base copy and scored outcome; else the
    caption that hides them. Walk of issue 30: after switching the model, the old P(1) scores showed
    under the new model's class name with a "better" verdict, and another base copy."""
    folder = model_path(lab.name)
    try:
        now = stamp(folder)
    except FileNotFoundError:
        now = None
    made_in = str(request.get("model_folder") or "")
    same_model = made_in == str(folder) and request.get("model_stamp", now) == now  # older jobs: the folder alone
    same_base = result.base_copy.strip() == base.strip()
    same_outcome = result.positive_class in (None, lab.success)
    if same_model and same_base and same_outcome:
        return ""
    earlier = " (an earlier save)" if made_in == str(folder) and not same_model else ""
    who = f"model **{plain(Path(made_in).name or 'unknown')}**{earlier}"
    scored = f", scored as P({plain(result.positive_class)})" if result.positive_class is not None else ""
    now_as = f", P({plain(lab.success)})" if lab.success is not None and not same_outcome else ""
    return (f"Suggested rewrites made with {who} for “{plain(result.base_copy)}”{scored} are hidden: suggest again "
            f"to score the base copy above with **{plain(lab.name)}**{now_as}.")


def asked_words(request: dict) -> str:
    """The choices a rewrite job was made with, in words: "longest 70 characters, tone playful,
    keeping dress" ("no length limit" when none); the form may show other values by now."""
    limit = request.get("max_chars")
    parts = [f"longest {limit} characters" if limit else "no length limit"]
    if request.get("tone"):
        parts.append(f"tone {request['tone']}")
    for key, what in (("keep_words", "keeping"), ("avoid_words", "avoiding")):
        if request.get(key):
            parts.append(f"{what} {', '.join(request[key])}")
    return ", ".join(parts)


def _suggestion(lab: Any, rewrite: Rewrite, add: Callable[[list[str]], None]) -> None:
    from ui.adlab import current_texts, top_words  # imported here: ui.adlab imports this module

    with st.container(border=True):
        text, button = st.columns([5, 1])
        text.markdown(plain(rewrite.text))
        change = lab.fmt(rewrite.delta, signed=True)
        text.caption(f"{plain(lab.score_label)}: {lab.fmt(rewrite.score)} ({change} against the base; "
                     f"{rewrite.verdict})")
        up, down = top_words(rewrite.explanation())
        if up or down:
            words = [f"{plain(w)} {lab.fmt(v, signed=True)}" for w, v in [*up[:3], *down[:3]]]
            text.caption("Words that move the score: " + ", ".join(words))
        button.button("Add to variants", key=f"rw_add_{rewrite.name}", on_click=add, args=([rewrite.text],),
                      disabled=rewrite.text in current_texts(), help="Add it to the variants above, to edit it there.")
