"""The Models page's "Versions" tab: retrain with new labels (a challenger, promoted only when
better) as a background job, every kept version, and a rollback with confirmation.
The logic is core/versions.py's; this module draws it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core import jobs, to_csv_bytes
from core.jobs import job_status
from core.models.folder import stamp
from core.registry import KIND_NAMES, can_change
from core.versions import (
    HOLDOUT_REVIEW,
    KEEP_PHASE,
    LABELS_DOUBT,
    PROMOTED_LEAD,
    RollbackRisk,
    history_events,
    holdout_rows,
    in_use,
    list_versions,
    previous_version,
    readable_time,
    review_rows,
    rollback,
    rollback_risk,
    rule_in_words,
    without_holdout,
)
from core.words import rows_words
from ui.downloads import download_button
from ui.jobs import JobPanel, live_panel
from ui.markdown import plain
from ui.upload import table_upload

JOBS = "versions_jobs"  # session key: {model name: the id of its last retrain job started here}


def render_versions(name: str, folder: Path, task: str, key: str) -> None:
    """The tab for model ``name`` (saved in ``folder``; ``task``: its task)."""
    st.caption(f"Model **{plain(name)}** (choose another under *Inspect a model*).")
    if task != "classification":
        st.info("Retraining with a challenger is built for classifiers; this model predicts numbers.")
    elif not can_change(name):
        st.info("This model is read-only for you (the team's, on a read-only team workspace): retrain your own copy.")
    else:
        _retrain(name, folder, key)
    _versions(name, folder, key)


def _retrain(name: str, folder: Path, key: str) -> None:
    st.subheader("Retrain with new labels")
    no_holdout, judged = ("", True) if holdout_rows(folder) else without_holdout(folder)
    if judged:  # the rule of a comparison that cannot run would say untrue things
        st.markdown(plain(rule_in_words(folder)))
    job_id = _job_of(name)
    if job_id:
        _job(job_id, folder)
    _review(name, folder, key)
    if no_holdout:
        st.info(plain(no_holdout))
    if not judged:
        return
    old = table_upload("Labelled rows the model was trained on (CSV or Excel)", key=f"{key}_old")
    new = table_upload("New labelled rows", key=f"{key}_new")
    busy = bool(job_id) and _active(job_id)
    why = "A retrain of this model is running." if busy else (
        "Upload both tables first." if old is None or new is None else None)
    if st.button("Retrain with new labels", key=f"{key}_start", type="primary", disabled=why is not None, help=why):
        _start(name, old.table.frame, new.table.frame)


def _job_of(name: str) -> str | None:
    """The retrain job of model ``name`` this session follows; else (a new browser session, another
    tab, a restarted server) its latest retrain still queued or running in the job store, which
    is then followed to its end as if started here - as the Train page finds its jobs
    (ui.jobs.follow_job); a newer one started elsewhere replaces one that ended. None when there is none."""
    followed = st.session_state.setdefault(JOBS, {})
    if not followed.get(name) or not _active(followed[name]):
        running = [j for j in jobs.list_jobs(kind="retrain") if j.active and j.model_name == name]
        if running:
            followed[name] = running[-1].id
    return followed.get(name)


def _start(name: str, old: pd.DataFrame, new: pd.DataFrame) -> None:
    try:
        job_id = jobs.start_retrain_job(name, old, new)  # looked up at the click: tests replace it
    except ValueError as exc:
        st.error(plain(exc))
        return
    st.session_state.setdefault(JOBS, {})[name] = job_id
    st.rerun()


def _active(job_id: str) -> bool:
    try:
        return job_status(job_id, with_events=False).active
    except ValueError:
        return False


def _job(job_id: str, folder: Path) -> None:
    try:
        status = job_status(job_id)
    except ValueError:  # its folder was removed
        return
    if status.active:
        live_panel(job_id, PANEL)
    elif status.state == "done":
        # core.versions.outcome_sentence ("Promoted: ..."), and an older release's ("... was promoted: ...")
        promoted = status.message.startswith(PROMOTED_LEAD) or "was promoted" in status.message
        # The rows set aside for review are listed and offered just below (_review), not at a server path.
        said = status.message.replace(str(folder / HOLDOUT_REVIEW), "the list below (Rows to check)")
        # The doubt about the new labels is one clause deep in the outcome: said first, as a warning of its own.
        doubt = next((part for part in re.split(r"(?<=\.) ", said) if LABELS_DOUBT in part), None)
        if doubt:
            st.warning(plain(doubt))
        (st.success if promoted else st.info)(plain(said))
    elif status.state == "cancelled":
        st.warning("The retraining was cancelled; the model in use and its versions are unchanged.")
    else:
        st.error(f"The retraining did not finish: {plain(status.message)}")


# The review file's columns as the page names them (core.versions.REVIEW_COLUMNS).
REVIEW_NAMES = {"text": "text", "given_label": "label given", "model_in_use_predicted": "the model then in use said",
                "challenger_predicted": "the challenger said", "retrain": "retrain"}


def _review(name: str, folder: Path, key: str) -> None:
    """The new labelled rows both models called otherwise in a retrain, promoted or not
    (core.versions.review_rows): shown and offered for download, to be checked."""
    rows = review_rows(folder)
    if rows.empty:
        return
    n = len(rows)
    them = "them" if n != 1 else "it"
    with st.expander(f"Rows to check ({n:,}): new labelled rows, both models call {them} otherwise",
                     icon=":material/fact_check:"):
        st.markdown(f"In {rows_words(n, 'new labelled')} of your retrains, the model then in use and "
                    f"its challenger both predicted another label than the one given, so the label may be wrong. "
                    f"Check these labels; correct the wrong ones and add those rows to the next retrain's new "
                    f"labelled rows.")
        st.dataframe(rows.rename(columns=REVIEW_NAMES), hide_index=True, key=f"{key}_review_table")
        download_button("Download the rows to check (CSV)", lambda: to_csv_bytes(rows),
                        file_name=f"{name.replace(':', '_')}_rows_to_check.csv", mime="text/csv",
                        key=f"{key}_review_download", icon=":material/download:")


# The one job panel (ui/jobs.py): progress, the queue line, Cancel with confirmation.
# Cancel only while it can still change nothing: not once the outcome is being written (KEEP_PHASE),
# nor for a job that ended (its panel is replaced by the outcome: _job).
PANEL = JobPanel(key="versions", what=lambda status: "the retraining", effect=lambda status: "changes nothing",
                 note="The challenger trains in the background: you can switch pages and come back.",
                 can_cancel=lambda status: status.active and (status.last_event or {}).get("phase") != KEEP_PHASE)


def _versions(name: str, folder: Path, key: str) -> None:
    st.subheader("Versions")
    kept = list_versions(folder)
    if not kept:
        st.caption("No earlier version yet: a retrain keeps the model it replaces (or the challenger that lost) here.")
    else:
        current = in_use(folder)
        # Each model's latest comparison from its own side (core.versions.own_words): a winner reads "ahead".
        rows = [{"version": current["version"] or "(unnumbered)", "what happened": "in use",
                 "model": KIND_NAMES.get(current["kind"], current["kind"]), "saved": readable_time(current["saved_at"]),
                 "comparison": current["own_words"]}]
        rows += [{"version": v["version"], "what happened": v.get("status", ""),
                  "model": KIND_NAMES.get(v.get("kind"), v.get("kind")), "saved": readable_time(v.get("saved_at", "")),
                  "comparison": v["own_words"]} for v in reversed(kept)]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}_table", column_config={
            "comparison": st.column_config.TextColumn(width="large", help="Each comparison in full is below the table.")})
        # A cell shows one line: each comparison in full, to be read (walk: the cell was cut off).
        compared = [r for r in rows if r["comparison"]]
        if compared:
            with st.expander("Each version's comparison in full"):
                st.markdown("\n".join(f"- **{plain(r['version'])}** ({plain(r['what happened'])}): {plain(r['comparison'])}"
                                       for r in compared))
    events = history_events(folder)  # a swap of candidates ("Use ... instead") is one too, with or without versions
    if events:
        with st.expander(f"History ({len(events)} event{'s' if len(events) != 1 else ''}): numbers never change; "
                         "a rollback and a swap of candidates are events"):
            st.markdown("\n".join(f"- `{plain(readable_time(e.get('at', '')))}` {plain(e.get('event', ''))}" for e in reversed(events)))
    if kept and can_change(name):
        _rollback(folder, kept, current["version"], key)


def _rollback(folder: Path, kept: list[dict], current: str, key: str) -> None:
    """The version picker (the version in use just before the current one first: core.versions.
    previous_version), "Roll back…" and its confirmation. ``kept``: the versions as listed above,
    ``current``: the version in use ("" when never numbered), read once per rerun."""
    ss = st.session_state
    pending = f"{key}_pending"
    choice, button, _ = st.columns([1, 1, 2])
    before = previous_version(folder, kept)
    options = [v["version"] for v in reversed(kept)]
    options = ([before] if before in options else []) + [v for v in options if v != before]
    now = current or "the model in use"
    # Keyed on what is in use: after a promotion or a rollback the picker starts again at the default.
    version = choice.selectbox("Version", options, key=f"{key}_pick_{now}", label_visibility="collapsed",
                               format_func=lambda v: f"{v} (in use before {now})" if v == before else v)
    if button.button("Roll back…", key=f"{key}_rollback", icon=":material/history:"):
        ss[pending] = version
    if ss.get(pending) in {v["version"] for v in kept}:
        risk = _risk(folder, ss[pending], key)
        undo = (f"The model in use is kept as {'**' + plain(current) + '**' if current else 'a version'} (numbers never "
                "change), so this can be undone the same way.")
        if risk is None or not risk.lost:
            st.warning(f"Put **{plain(ss[pending])}** back in place of the model in use? "
                       + (f"{plain(risk.sentence)} " if risk else "") + undo)
        else:  # a version that lost its comparison: say so, with its score now, before it is put back
            st.warning(f"{plain(risk.sentence)} Put it back in place of the model in use anyway? {undo}",
                       icon=":material/warning:")
        yes, no, _ = st.columns([1, 1, 4])
        label = "Yes, roll back anyway" if risk is not None and risk.lost else "Yes, roll back"
        if yes.button(label, key=f"{key}_confirm", type="primary"):
            try:
                put = rollback(folder, ss.pop(pending))
            except ValueError as exc:
                st.error(plain(exc))
            else:
                ss[f"{key}_done"] = (previous_version(folder), put)  # (set aside now, in use now)
                st.rerun()
        if no.button("Cancel", key=f"{key}_cancel"):
            ss.pop(pending, None)
            st.rerun()
    else:
        ss.pop(f"{key}_risk", None)
    if ss.get(f"{key}_done"):
        aside, put = ss.pop(f"{key}_done")
        st.success(f"Rolled back from **{plain(aside)}** to **{plain(put)}**: {plain(put)} is in use now, "
                   f"{plain(aside)} is kept as a version (Roll back… puts it back).")


def _risk(folder: Path, version: str, key: str) -> RollbackRisk | None:
    """:func:`core.versions.rollback_risk`, computed once per asked rollback (it scores both models);
    None, with the reason shown, when it cannot be computed (the question is still asked)."""
    ss = st.session_state
    asked = (str(folder), version, stamp(folder))  # a retrain or rollback since: computed again
    found = ss.get(f"{key}_risk")
    if found is not None and found[0] == asked:
        return found[1]
    try:
        with st.spinner(f"Scoring {version} and the model in use on the same rows…"):
            risk = rollback_risk(folder, version)
    except (ValueError, OSError) as exc:
        st.error(f"Could not compare {plain(version)} with the model in use: {plain(exc)}")
        return None
    ss[f"{key}_risk"] = (asked, risk)
    return risk
