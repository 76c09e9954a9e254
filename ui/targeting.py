"""Renderers for the Targeting page: column roles, the comparison job, deploy, target list.

Thin Streamlit code over ``core.response`` / ``core.targeting`` / ``core.charts.targeting`` and
``core.jobs`` (the comparison runs as a background job of kind "response" in the worker process,
like training: it survives page changes, shows progress and can be cancelled).
Every widget has a ``tg_`` key. Results live in ``st.session_state``: ``tg_job_id`` (the
comparison job shown), ``tg_comparison`` (its ``ResponseComparison`` read back from the job
folder, ``tg_comparison_job`` says which job), ``tg_target_list`` (the last exported list),
``tg_dismissed`` (ids of interrupted jobs closed in this session).
A comparison whose worker died (server restart, crash) is shown by itself with **Resume**
(``core.jobs.resume_job``), which runs it again from the beginning: comparisons keep no checkpoint.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core import jobs, lanes, to_xlsx_bytes, workspace
from core.calibration import reliability_table
from core.charts.targeting import gains_chart, lift_chart, profit_chart, reliability_chart
from core.data import format_value
from core.jobs import SAVED, JobStatus, job_status, response_result_folder, start_response_job
from core.models.response import MODEL_LABELS
from core.models.tabular import infer_column_kinds
from core.response import (
    ResponseComparison,
    budget_selection,
    deploy,
    estimate_transformer_seconds,
    language_texts,
    load_comparison,
    positive_class_of,
    score_customers,
    transformer_base_model,
)
from core.targeting import (
    best_cutoff,
    gains_curve,
    gains_readout,
    lift_by_decile,
    precision_recall_at,
    profit_curve,
)
from core.words import rows_words
from ui.account import estimate_line, queue_summary
from ui.downloads import csv_download, download_button
from ui.figures import inert
from ui.jobs import JobPanel, follow_job, live_panel, resume_or_close, shown_job
from ui.jobs import recent_jobs as jobs_list
from ui.markdown import plain

COMPARISON = "tg_comparison"
TARGET_LIST = "tg_target_list"
PROB = "response_probability"
FAST = {"epochs": 1.0}
FAST_MAX_ROWS = 3000
XLSX_MAX_ROWS = 200_000


# ---------------------------------------------------------------------------------------------
# 2. Columns
# ---------------------------------------------------------------------------------------------


def column_kinds_frame(df: pd.DataFrame, profile: list[str]) -> pd.DataFrame:
    """What the models will do with each profile column (kind, distinct values, missing)."""
    kinds = infer_column_kinds(df, profile)
    return pd.DataFrame(
        {
            "column": profile,
            "treated as": [kinds[c] for c in profile],
            "distinct values": [int(df[c].nunique()) for c in profile],
            "missing": [f"{df[c].isna().mean():.0%}" for c in profile],
            "example": [str(df[c].dropna().iloc[0])[:40] if df[c].notna().any() else "" for c in profile],
        }
    )


# ---------------------------------------------------------------------------------------------
# 3. Training
# ---------------------------------------------------------------------------------------------


JOB_ID = "tg_job_id"
FORM_JOB = "tg_form_job"  # the job whose data and columns the form was last set to (form_follows_job)
FORM_NOTE = "tg_form_note"  # which uploaded file the shown comparison was run on
SAMPLE_DATA = "sample"  # a job's data_name when it ran on the sample table
NO_ROWS = "The budget above selects no customers: raise it to download a list."
TRAIN_HELP = {False: "Choose at least one profile column above first.", True: None}  # by whether there is one
COMPARISON_JOB = "tg_comparison_job"


def _minutes(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds / 60))} min"


def transformer_options(df: pd.DataFrame, text: list[str]) -> tuple[bool, bool, str]:
    """The transformer's checkbox, its Fast/Full choice, time estimate and base model.

    Returns ``(use_transformer, fast, base_model)``. The box starts ticked only when there are
    text columns (profile-only data: gradient boosting wins in seconds), and is reset to that
    default whenever text columns appear or disappear. The language check (and so a
    multilingual base model) looks at the text columns only; profile fields read as
    "column: value" are no language, and the English model reads them.
    """
    from ui.base_model_picker import base_model_picker

    ss = st.session_state
    has_text = bool(text)
    if ss.get("tg_transformer_default_for") != has_text or "tg_use_transformer" not in ss:
        ss["tg_transformer_default_for"] = has_text
        ss["tg_use_transformer"] = has_text
    cols = st.columns(2)
    use = cols[0].checkbox("Also fine-tune the transformer (minutes, not seconds)", key="tg_use_transformer")
    fast = cols[1].radio(
        "Transformer run", [True, False], key="tg_fast", disabled=not use, horizontal=True,
        help=None if use else "Tick 'Also fine-tune the transformer' to choose how long it runs.",
        format_func=lambda f: "Fast: 1 epoch, ≤ 3,000 training rows" if f else "Full: 3 epochs, every training row",
    )
    if has_text and use:
        base_model = base_model_picker(language_texts(df, text), key="tg_base")
    else:
        base_model, _ = transformer_base_model(df, text)
    seconds = estimate_transformer_seconds(
        len(df), base_model=base_model, epochs=FAST["epochs"] if fast else 3.0,
        max_train_rows=FAST_MAX_ROWS if fast else None,
    )
    if not has_text:
        st.caption(
            f"No text column: gradient boosting on the profile columns is the default and takes seconds. "
            f"The transformer would read each row as \"column: value\" fields with the English model "
            f"**{plain(base_model)}** (about {_minutes(seconds)} on a laptop CPU, {'Fast' if fast else 'Full'} run) "
            "and has ranked customers worse than gradient boosting on such data."
        )
    else:
        st.caption(f"The transformer ({plain(workspace.current().base_model_label(base_model))}, {'Fast' if fast else 'Full'} run) takes about "
                   f"{_minutes(seconds)} on a laptop CPU; gradient boosting and the hybrid take seconds.")
    return use, fast, base_model


def start_comparison(df: pd.DataFrame, setup: dict[str, Any], name: str, *, use_transformer: bool, fast: bool,
                     base_model: str = "minilm-en", data_name: str = "") -> str | None:
    """Start the comparison as a background job; returns its id (None after showing an error).
    ``data_name``: SAMPLE_DATA or the uploaded file's name (kept with the job: :func:`form_follows_job`)."""
    try:
        job_id = start_response_job(
            df,
            setup,
            name.strip(),
            include_transformer=use_transformer,
            base_model=base_model,
            transformer_settings=FAST if (use_transformer and fast) else None,
            transformer_max_train_rows=FAST_MAX_ROWS if (use_transformer and fast) else None,
            column_kinds=infer_column_kinds(df, setup["profile_columns"]),
            data_name=data_name,
        )
    except ValueError as exc:
        st.error(plain(exc))
        return None
    ss = st.session_state
    ss[JOB_ID] = ss[FORM_JOB] = job_id  # the form already shows this job's data and columns
    ss.pop(COMPARISON, None)
    ss.pop(COMPARISON_JOB, None)
    ss.pop(TARGET_LIST, None)
    return job_id


def render_queue_line(df: pd.DataFrame, text: list[str], *, use_transformer: bool, fast: bool,
                      base_model: str) -> None:
    """Under the start button: how long the comparison would take on an idle machine; while any job is
    queued or running, the queue's lanes and where it would go (the short-job lane without the
    transformer: it does not wait for a fine-tune)."""
    queue = jobs.server_queue()
    request = {"kind": "response", "response": {
        "text_columns": list(text), "include_transformer": use_transformer, "base_model": base_model,
        "transformer_settings": FAST if (use_transformer and fast) else {},
        "transformer_max_train_rows": FAST_MAX_ROWS if (use_transformer and fast) else None}}
    minutes = workspace.current().job_limits.max_job_minutes
    cost = lanes.estimate(request, df, minutes * 60 if minutes else None)
    line = queue_summary(queue, cost.lane, cost.seconds) if queue else estimate_line(cost.seconds, "This comparison")
    if line:
        st.caption(line)


PANEL = JobPanel(key="tg", what=lambda status: f"the comparison **{plain(status.model_name)}**",
                 note="The comparison runs in the background: you can switch pages and come back.")


def interrupted_text(status: JobStatus) -> str:
    """What an interrupted comparison says: that it stopped, and (when it can be resumed) what
    Resume does. A comparison keeps no checkpoint, so Resume starts it over."""
    if not status.resumable:
        return f"The comparison **{plain(status.model_name)}** was interrupted: {plain(status.message)}"
    return (
        f"The comparison **{plain(status.model_name)}** was interrupted: the process running it stopped unexpectedly "
        "(server restart or crash), and nothing was saved. **Resume** runs it again from the beginning with "
        "the same settings and data (a comparison keeps no checkpoint to continue from)."
    )


def shown_comparison() -> ResponseComparison | None:
    """The comparison of the job shown, read from its folder once (None while none is done)."""
    ss = st.session_state
    job_id = ss.get(JOB_ID)
    if job_id is None:
        return None
    if ss.get(COMPARISON_JOB) == job_id and ss.get(COMPARISON) is not None:
        return ss[COMPARISON]
    try:
        status = job_status(job_id, with_events=False)
        if status.state != "done":
            return None
        comp = load_comparison(response_result_folder(job_id))
    except ValueError:
        return None
    ss[COMPARISON], ss[COMPARISON_JOB] = comp, job_id
    return comp


def form_follows_job(sample: Callable[[], pd.DataFrame]) -> None:
    """Before the form is drawn: when the page shows a comparison the form was not set for (a
    reload, a second tab, a server restart, or Show under Recent comparisons), set the form to
    that comparison's data and columns, so the form never shows one table beside the result of
    another. Sample data: its columns are picked again. An uploaded file is not kept after the
    job, so the form waits for it (Upload a CSV) and a caption names it. ``sample()``: the
    sample table (read only when needed)."""
    ss = st.session_state
    job_id = follow_job("response", key="tg")
    if job_id is not None and ss.get(FORM_JOB) != job_id:
        ss[FORM_JOB] = job_id
        try:
            setup = jobs.read_request(response_result_folder(job_id).parent).get("response") or {}
        except (OSError, ValueError):
            setup = {}
        ss.pop(FORM_NOTE, None)
        if setup.get("data_name") == SAMPLE_DATA:
            ss["tg_source"] = "sample"
            _set_columns(sample(), setup)
        elif setup.get("data_name"):
            ss["tg_source"] = "upload"
            ss[FORM_NOTE] = (
                f"The comparison below was run on **{plain(setup['data_name'])}** (response column "
                f"**{plain(setup.get('label_column', '?'))}**). Upload it again to change the setup and train again."
            )
    if ss.get(FORM_NOTE) and ss.get("tg_source") == "upload":
        st.caption(ss[FORM_NOTE])


def _set_columns(df: pd.DataFrame, setup: dict[str, Any]) -> None:
    """The form's column widgets set to ``setup`` (a job's), where the columns are ``df``'s."""
    ss, columns = st.session_state, set(df.columns)
    label = setup.get("label_column")
    if label not in columns:
        return
    ss["tg_label"] = label
    if str(setup.get("positive_class")) in set(df[label].dropna().map(format_value).str.strip()):
        ss["tg_positive"] = str(setup["positive_class"])
    ss["tg_profile"] = [c for c in setup.get("profile_columns", []) if c in columns and c != label]
    ss["tg_text"] = [c for c in setup.get("text_columns", []) if c in columns and c not in ss["tg_profile"]]


def _made_what(made_active: bool) -> str:
    """The end of the "Saved ..." sentence: where the new model is used."""
    if made_active:
        return "made it the active model."
    return (
        "made it the model the target list below scores with. It reads no text (profile columns only), "
        "so it does not replace the active model that Ad Copy Lab and the Dashboard use."
    )


def job_section() -> ResponseComparison | None:
    """The comparison job: live progress, or its outcome. Returns the finished comparison."""
    from ui.state import set_targeting_model

    ss = st.session_state
    status = shown_job("response", key="tg")
    if status is None:
        return None
    job_id = status.id
    if status.active:
        live_panel(job_id, PANEL)
        return None
    if status.state == "done":
        if ss.get("tg_activated") != job_id:
            # A profile-only model becomes the targeting model only, not the active model (ui.state).
            ss["tg_activated"] = job_id
            ss["tg_made_active"] = set_targeting_model(status.model_name)
            st.rerun()  # so the sidebar, drawn before the page, shows the new active model
        comp = shown_comparison()
        label = MODEL_LABELS.get(comp.recommended, comp.recommended) if comp else "the recommended model"
        st.success(f"Saved **{plain(status.model_name)}** ({plain(label)}) and {_made_what(ss.get('tg_made_active', True))}")
        if status.message and status.message != SAVED:  # e.g. the server's time limit cut the transformer short
            st.info(plain(status.message))
        if comp is None:
            st.error("The comparison's files could not be read back; the saved model is on the Models page.")
        return comp
    if status.state == "cancelled":
        st.warning(f"The comparison was cancelled; nothing was saved. {plain(status.message)}")
    elif status.state == "failed":
        st.error(f"The comparison failed: {plain(status.message)}")
    else:
        st.warning(interrupted_text(status))
        resume_or_close(status, "tg", "Hide this comparison; Recent comparisons still lists it.")
    return None


def recent_jobs() -> None:
    """The last comparisons, each with a Show button (results of older jobs stay readable)."""
    jobs_list("response", key="tg", title="Recent comparisons")


# ---------------------------------------------------------------------------------------------
# 4. Comparison and evaluation views
# ---------------------------------------------------------------------------------------------


def render_comparison(comp: ResponseComparison) -> None:
    st.caption(
        f"Response **{plain(comp.label_column)} = {plain(comp.positive_class)}** · "
        f"profile: {plain(', '.join(comp.profile_columns))}"
        + (f" · text: {plain(', '.join(comp.text_columns))}" if comp.text_columns else "")
        + f" · split {', '.join(f'{k} {v:,}' for k, v in comp.split.value_counts().items())} (the same rows for every model)"
    )
    for w in comp.warnings:
        st.warning(plain(w))
    table = comp.table().drop(columns=["key"])
    st.dataframe(
        table,
        hide_index=True,
        key="tg_table",
        column_config={
            "ROC-AUC": st.column_config.NumberColumn(format="%.3f"),
            "top-decile lift": st.column_config.NumberColumn(format="%.2fx"),
            "ECE before calibration": st.column_config.NumberColumn(format="%.3f"),
            "ECE after calibration": st.column_config.NumberColumn(format="%.3f"),
            "training seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    st.caption(
        "Measured on the test split. ROC-AUC: how well the model ranks responders above the others "
        "(0.5 = random). Top-decile lift: response rate among the top 10% scores over the overall rate. "
        "ECE: how far predicted probabilities are from observed response rates (0 = exact), before and "
        "after calibrating on the validation split."
    )
    st.success(f"Recommended: {plain(comp.recommendation)}", icon=":material/recommend:")
    note = comp.candidates[comp.recommended].metrics.get("refit_note")
    if note:
        st.caption(plain(note))
    if not comp.text_columns:
        st.caption("No text column was chosen, so there is no hybrid model (it adds a text score to the profile).")

    names = list(comp.candidates)
    which = st.selectbox(
        "Model to inspect",
        names,
        index=names.index(comp.recommended),
        format_func=MODEL_LABELS.get,
        key="tg_inspect",
    )
    c = comp.candidates[which]
    y, p = comp.y_test, c.test_scores
    share = st.slider("Contact the top … % of customers", 1, 100, 20, key="tg_cutoff") / 100
    st.info(plain(gains_readout(y, p, share)), icon=":material/campaign:")
    pr = precision_recall_at(y, p, share=share)
    cols = st.columns(4)
    cols[0].metric("Customers contacted", f"{pr['k']:,}")
    cols[1].metric("Precision (response rate)", f"{pr['precision']:.1%}", help="Share of contacted customers who responded.")
    cols[2].metric("Recall (responders reached)", f"{pr['recall']:.1%}")
    cols[3].metric("Lift", f"{pr['lift']:.2f}x", help="Response rate of the list over the overall rate.")
    left, right = st.columns(2)
    left.plotly_chart(inert(gains_chart(gains_curve(y, p), title=f"Cumulative gains — {c.label}")), key="tg_gains")
    table, what = lift_groups(y, p)
    right.plotly_chart(inert(lift_chart(table, title=f"Lift by {what} — {c.label}")), key="tg_lift")
    raw_table, cal_table = reliability_table(y, np.clip(c.test_scores_raw, 0, 1)), reliability_table(y, p)
    st.plotly_chart(
        inert(reliability_chart(raw_table, name="Before calibration", compare=cal_table, compare_name="Calibrated",
                          title=f"Reliability — {c.label}")),
        key="tg_reliability",
    )
    m = c.metrics
    st.caption(
        f"ECE on the test split: {m['ece_uncalibrated']:.3f} before, {m['ece_calibrated']:.3f} after calibration. "
        f"{plain(m['calibration_reason'][0].upper() + m['calibration_reason'][1:])}."
    )


def render_deploy(comp: ResponseComparison) -> None:
    names = list(comp.candidates)
    st.caption("The recommended model is already saved. To use another model of this comparison, save it under a new name.")
    cols = st.columns([2, 2, 1])
    which = cols[0].selectbox(
        "Model to deploy", names, index=names.index(comp.recommended), format_func=MODEL_LABELS.get, key="tg_deploy_which"
    )
    default = f"response-{comp.label_column}-{time.strftime('%Y%m%d-%H%M')}"
    name = cols[1].text_input("Save as", value=default, key="tg_deploy_name")
    cols[2].write("")
    if cols[2].button("Deploy", type="primary", key="tg_deploy"):
        try:
            folder = deploy(comp, which, name.strip())
        except ValueError as exc:
            st.error(plain(exc))
        else:
            from ui.state import set_targeting_model

            made_active = set_targeting_model(folder.name)
            if made_active:
                st.session_state["sidebar_active_model"] = folder.name
            st.success(f"Saved **{plain(folder.name)}** ({MODEL_LABELS[which]}) and {_made_what(made_active)}")


# ---------------------------------------------------------------------------------------------
# 5. Target list
# ---------------------------------------------------------------------------------------------


def _fingerprint(df: pd.DataFrame) -> str:
    digest = hashlib.sha1(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes()).hexdigest()
    return f"{len(df)}:{digest[:16]}"


def scored_list(model_key: str, model: Any, customers: pd.DataFrame, positive: str) -> tuple[pd.DataFrame, int]:
    """Score once per (model, list, class) and keep the result in the session (reruns are free)."""
    key = (model_key, _fingerprint(customers), positive)
    cached = st.session_state.get("tg_scored")
    if cached and cached[0] == key:
        return cached[1], cached[2]
    with st.spinner(f"Scoring {len(customers):,} customers…"):
        scored, n_unscored = score_customers(model, customers, positive, PROB)
    st.session_state["tg_scored"] = (key, scored, n_unscored)
    return scored, n_unscored


def render_budget(scored: pd.DataFrame, label_column: str | None, positive: str, *, seen_in_fit: bool = False) -> None:
    """Budget widgets, the profit curve, the selected list and its downloads. ``seen_in_fit``:
    the model was refitted on these very rows (the test split), so their outcomes flatter it."""
    n = len(scored)
    modes = {
        "count": "Number of contacts",
        "share": "Share of the list",
        "profit": "Cost per contact and value per conversion (best expected profit)",
    }
    mode = st.radio("Budget", list(modes), format_func=modes.get, key="tg_budget_mode", horizontal=True)
    cols = st.columns(3)
    cost = cols[0].number_input("Cost per contact", min_value=0.0, value=5.0, step=0.5, key="tg_cost")
    value = cols[1].number_input("Value per conversion", min_value=0.0, value=100.0, step=5.0, key="tg_value")
    kwargs: dict[str, Any] = {}
    if mode == "count":
        kwargs["n"] = int(cols[2].number_input("Contacts", min_value=0, max_value=n, value=max(1, n // 5), step=100, key="tg_budget_n"))
    elif mode == "share":
        kwargs["share"] = cols[2].slider("Share of the list (%)", 1, 100, 20, key="tg_budget_share") / 100
    p = scored[PROB].to_numpy(dtype=float)
    curve = profit_curve(p, cost, value)
    best = best_cutoff(p, cost, value)
    try:
        chosen = budget_selection(scored, PROB, mode=mode, cost_per_contact=cost, value_per_conversion=value, **kwargs)
    except ValueError as exc:
        st.error(plain(exc))
        return
    k = len(chosen)
    if mode == "profit":
        st.plotly_chart(inert(profit_chart(curve, best)), key="tg_profit")
    expected = float(chosen[PROB].sum())
    profit = float(chosen["expected_value"].sum()) if k else 0.0
    total_expected = float(p.sum())
    st.info(
        f"**{k:,}** of {n:,} customers selected ({k / n:.0%}): about **{expected:,.1f}** expected "
        f"responses ({expected / total_expected:.0%} of all expected in the list), expected profit "
        f"**{profit:,.2f}** at {cost:g} per contact and {value:g} per response. "
        f"The best cut-off for profit is {best:,} contacts ({float(curve['expected_profit'][best]):,.2f}).",
        icon=":material/paid:",
    )
    if label_column and label_column in chosen.columns and k:
        known = chosen[label_column].map(format_value).str.strip() == positive
        st.caption(
            f"These customers have known outcomes (the test split): {int(known.sum()):,} of the {k:,} selected "
            f"responded ({known.mean():.1%})."
            + (" The model was refitted on every labelled row, these included, so this share flatters it; "
               "the held-out numbers are in the comparison above." if seen_in_fit else "")
        )
    export = chosen
    st.session_state[TARGET_LIST] = export
    st.dataframe(export.head(100), hide_index=True, key="tg_list_preview", placeholder="")
    st.caption(f"Showing the first {min(100, k):,} of {rows_words(k)}, best first.")
    dl = st.columns(2)
    # Deferred: the files are made (formula-neutralised by core.export) only when clicked, so
    # moving a budget slider over a 45,000-row list does not rebuild an .xlsx on every rerun.
    csv_download("Download CSV", export, file_name="target_list.csv", key="tg_download_csv", disabled=k == 0,
                 where=dl[0], help=NO_ROWS if k == 0 else None)
    if k <= XLSX_MAX_ROWS:
        download_button(
            "Download Excel (.xlsx)",
            lambda: to_xlsx_bytes(export, sheet_name="target list"),
            where=dl[1],
            file_name="target_list.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key="tg_download_xlsx",
            disabled=k == 0,
            help=NO_ROWS if k == 0 else None,
        )


def model_positive_class(model: Any, key: str) -> str | None:
    """The response class of the active model (asked when the model does not say)."""
    default = positive_class_of(model)
    if default is None:
        return None
    classes = [str(c) for c in model.classes_]
    return st.selectbox("Response class (what counts as responding)", classes, index=classes.index(default), key=key)


def lift_groups(y, p) -> tuple:
    """(core.targeting.lift_by_decile's table, what its groups are) for the test split's ``y``
    and scores ``p``: deciles, or one group per customer when a small table left fewer than 10
    customers in its test split (ten groups of fewer than one customer do not exist)."""
    n_bins = min(10, len(y))
    return lift_by_decile(y, p, n_bins=n_bins), "decile" if n_bins == 10 else f"customer ({n_bins} in the test split)"
