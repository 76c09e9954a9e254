"""The "Check data" panel of the Train page: run core.check as a background job (kind "check",
ui/jobs.py's panel), show what it found, and let the user drop flagged rows or take the
suggested labels before training."""

from __future__ import annotations

import unicodedata

import pandas as pd
import streamlit as st

from core import TrainConfig, jobs
from core.check import ISSUE_KINDS, DataReport
from core.words import rows_words
from ui.downloads import csv_download
from ui.jobs import JobPanel, live_panel
from ui.markdown import plain

KIND_NAMES = {
    "label_error": "Suspected label errors",
    "conflicting_duplicate": "Same text, different labels",
    "exact_duplicate": "Exact duplicates",
    "near_duplicate": "Near duplicates",
    "outlier": "Outliers",
    "label_variant": "Label spelling variants",
    "no_text": "Rows without text",
    "no_label": "Rows without a label",
    "label_not_a_number": "Labels that are not numbers",
}
RELABEL_KINDS = ("label_error", "conflicting_duplicate", "label_variant")  # kinds with a suggested label
GROUPED_KINDS = ("conflicting_duplicate", "exact_duplicate", "near_duplicate")  # kinds with a group
# What "score" means for each kind (core.check's definitions), shown as the column's help.
SCORE_HELP = {
    "label_error": "1 - cleanlab's label quality: higher = the given label is more likely wrong",
    "conflicting_duplicate": "share of the group's copies with another label than this row's",
    "exact_duplicate": "how many copies the text has",
    "near_duplicate": "closest character n-gram similarity to another text of the group (0-1)",
    "outlier": "mean cosine distance to the 10 most similar rows: higher = less like the rest",
    "label_variant": "1 - this spelling's share among the label's spellings: rarer spellings first",
    "no_text": "1: training leaves this row out",
    "no_label": "1: training leaves this row out",
    "label_not_a_number": "1: training leaves this row out",
}
WORST_ROWS = 50  # rows shown in the table (all of them are in ISSUES.csv)
EMBEDDING_ROWS = 5000  # above this the embeddings (about 12 ms of CPU a short text) are off by default


def visible(label: str) -> str:
    """``label`` with invisible characters and outer spaces shown: 'positive⟨U+200B⟩', '⟨space⟩x'."""
    shown = "".join(f"⟨U+{ord(ch):04X}⟩" if unicodedata.category(ch) in ("Cf", "Zl", "Zp") else ch for ch in label)
    lead, trail = len(shown) - len(shown.lstrip(" ")), len(shown) - len(shown.rstrip(" "))
    return "⟨space⟩" * lead + shown.strip(" ") + "⟨space⟩" * trail if shown.strip(" ") else shown


def _ident(df: pd.DataFrame, config: TrainConfig) -> tuple:
    """What a report belongs to: the mapped columns and a hash of their values (ms for 3,000 rows)."""
    columns = list(dict.fromkeys([*config.profile_columns, *config.text_columns, config.label_column]))
    digest = int(pd.util.hash_pandas_object(df[columns].astype(str), index=False).sum()) if len(df) else 0
    return (tuple(columns), config.task, config.multi_label, len(df), digest)


PANEL = JobPanel(key="train_check", what=lambda status: "the data check", effect=lambda status: "keeps no report",
                 note="The check runs in the background: you can switch pages and come back to its report.",
                 cancelling=lambda status: "Cancelling… no report is kept.")


def render_check(df: pd.DataFrame, config: TrainConfig, *, key: str, data_name: str = "data") -> pd.DataFrame:
    """Draw the panel for ``df`` mapped by ``config``; return the frame to train on: ``df`` itself,
    or a copy with the rows the user chose to drop removed and the suggested labels written in.

    **Check data** starts a background job (``core.jobs.start_check_job``: its progress, Cancel
    with confirmation, a page change survived: ui/jobs.py); ``st.session_state[f"{key}_job"]``
    holds (data it was started for, job id). Its report, read from the job once done, is kept in
    ``st.session_state[f"{key}_report"]`` with the data it was made for; a changed file or
    mapping hides it until the check is run again.
    """
    ss = st.session_state
    ident = _ident(df, config)
    saved = ss.get(f"{key}_report")
    report: DataReport | None = saved[1] if saved and saved[0] == ident else None
    job = ss.get(f"{key}_job")
    job_id = job[1] if job and job[0] == ident and report is None else None
    with st.expander("Check data: label errors, duplicates, outliers", expanded=report is not None or job_id is not None):
        st.caption(
            "Looks for labels that a simple model trained on the other rows disagrees with (cleanlab), "
            "repeated and nearly repeated texts, texts unlike the rest, and labels spelled several ways. "
            "Nothing changes unless you choose it below."
        )
        left, right = st.columns([1, 2])
        embeddings = right.checkbox(
            "Also use the base model's sentence embeddings",
            value=len(df) <= EMBEDDING_ROWS,
            key=f"{key}_embeddings",
            help="Finds more label errors (68% vs 48% of planted label flips ranked on top in bench/bench_check.py) "
            "but takes longer: about 40 s of CPU for 3,000 short texts.",
        )
        running = job_id is not None and _job_state(job_id) in jobs.ACTIVE_STATES
        if left.button("Check data", key=f"{key}_run", icon=":material/fact_check:", disabled=running,
                       help="The check is running; cancel it below to start another." if running else None):
            try:  # looked up now: tests replace core.jobs functions
                job_id = jobs.start_check_job(df, config, features="auto" if embeddings else "tfidf", data_name=data_name)
            except ValueError as exc:
                st.error(plain(exc))
                return df
            ss[f"{key}_job"] = (ident, job_id)
            ss.pop(f"{key}_report", None)
            saved = None
        if report is None and job_id is not None:
            report = _job_report(job_id, ident, key)
        if report is None:
            if saved and job_id is None:  # a report for other data or another column, label or task choice
                st.info(
                    "The file, the columns or the task changed since the last check, so its results and the "
                    "drops or label fixes chosen there no longer apply. Run Check data again to see them for "
                    "these settings.",
                    icon=":material/info:",
                )
            return df
        return _show(df, config, report, key)


def _job_state(job_id: str) -> str | None:
    try:
        return jobs.job_status(job_id, with_events=False).state
    except ValueError:  # its folder was removed
        return None


def _job_report(job_id: str, ident: tuple, key: str) -> DataReport | None:
    """The check job's live panel while it runs; once done its report (kept in the session), else
    what stopped it."""
    try:
        status = jobs.job_status(job_id)
    except ValueError as exc:  # its folder was removed
        st.error(plain(exc))
        st.session_state.pop(f"{key}_job", None)
        return None
    if status.active:
        live_panel(job_id, PANEL)
    elif status.state == "done":
        try:
            report = jobs.check_result(job_id)
        except (ValueError, OSError) as exc:
            st.error(plain(exc))
            return None
        st.session_state[f"{key}_report"] = (ident, report)
        return report
    elif status.state == "cancelled":
        st.warning("The data check was cancelled; nothing changed. Press Check data to run it again.")
    elif status.state == "failed":
        st.error(f"The data check failed: {plain(status.message)}")
    else:
        st.warning(f"The data check was interrupted: {plain(status.message)} Press Check data to run it again.")
    return None


def _show(df: pd.DataFrame, config: TrainConfig, report: DataReport, key: str) -> pd.DataFrame:
    counts = report.counts
    st.caption(
        f"Checked {rows_words(report.n_rows)} in {report.seconds:.0f} s (label errors from: {report.features})."
    )
    for note in report.notes:
        st.info(plain(note))
    cells = st.columns(3)
    for i, kind in enumerate(ISSUE_KINDS):
        cells[i % 3].metric(KIND_NAMES[kind], f"{counts[kind]:,}")
    if report.issues.empty:
        st.success("Nothing was flagged.")
        return df
    found = [k for k in ISSUE_KINDS if counts[k]]
    shown = st.selectbox("Show", found, format_func=KIND_NAMES.get, key=f"{key}_kind")
    table = report.issues[report.issues["issue"] == shown].head(WORST_ROWS)
    # Only the columns this kind fills: "group" belongs to duplicates, a suggestion to the kinds
    # that make one (a column of -1 or of blanks only raises questions).
    unused = ["issue"] + ([] if shown in GROUPED_KINDS else ["group"]) + ([] if shown in RELABEL_KINDS else ["suggested_label"])
    if shown == "label_variant":  # a zero-width space or a trailing space is invisible in a table
        table = table.assign(label=[visible(v) for v in table["label"]])
    st.dataframe(
        table.drop(columns=unused),
        hide_index=True,
        key=f"{key}_table",
        column_config={
            "row": st.column_config.NumberColumn("row", help="0-based position of the row in the file"),
            "score": st.column_config.NumberColumn("score", format="%.3f", help=SCORE_HELP.get(shown, "higher = more suspect")),
            "group": st.column_config.NumberColumn("group", help="first row of the duplicate group (-1: none)"),
        },
    )
    csv_download("Download ISSUES.csv", report.issues, file_name="ISSUES.csv", key=f"{key}_download",
                 icon=":material/download:")
    if counts["label_error"] and report.label_error_precision is not None:
        # The share said in words in the note above was measured on this data with planted flips
        # (core.label_errors); the caption says what acting on the whole list trades.
        st.caption(
            f"Suspected label errors are rows to review, not proof: an estimated {report.label_error_precision:.0%} "
            "of them carry a wrong label (a rough estimate, see above). Dropping or relabelling them all also changes "
            "the correct ones."
        )
    st.markdown("**Before training**")
    drop = st.multiselect(
        "Drop the rows flagged as",
        # Variant spellings are merged into one class for training anyway: dropping them would
        # throw away correctly labelled rows.
        [k for k in found if k != "label_variant"],
        format_func=lambda k: f"{KIND_NAMES[k]} ({counts[k]:,})",
        key=f"{key}_drop",
    )
    can_relabel = [k for k in RELABEL_KINDS if k in found and k not in drop]
    relabel = st.multiselect(
        "Use the suggested label for",
        can_relabel,
        format_func=lambda k: f"{KIND_NAMES[k]} ({counts[k]:,})",
        key=f"{key}_relabel",
    ) if can_relabel else []
    if not drop and not relabel:
        return df
    try:
        out, n_dropped, n_changed = report.apply(df, config.label_column, drop=tuple(drop), relabel=tuple(relabel))
    except ValueError as exc:
        st.error(plain(exc))
        return df
    st.info(
        f"Training will use {len(out):,} of {len(df):,} rows: {n_dropped:,} dropped, "
        f"{n_changed:,} relabelled with the suggested label."
    )
    return out
