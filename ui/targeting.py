"""Renderers for the Targeting page: column roles, the model comparison, deploy, target list.

Thin Streamlit code over ``core.response`` / ``core.targeting`` / ``core.charts.targeting``.
Every widget has a ``tg_`` key. Results live in ``st.session_state``:
``tg_comparison`` (the last ``ResponseComparison``), ``tg_target_list`` (the last exported list).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core import to_csv_bytes, to_xlsx_bytes
from core.charts.targeting import gains_chart, lift_chart, profit_chart, reliability_chart
from core.data import format_value
from core.response import (
    MODEL_LABELS,
    ResponseComparison,
    budget_selection,
    deploy,
    positive_class_of,
    score_customers,
    train_response_models,
)
from core.tabular import infer_column_kinds
from core.targeting import (
    best_cutoff,
    gains_curve,
    gains_readout,
    lift_by_decile,
    precision_recall_at,
    profit_curve,
    reliability_table,
)

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


def run_comparison(df: pd.DataFrame, setup: dict[str, Any], *, use_transformer: bool, fast: bool,
                   base_model: str = "minilm-en") -> ResponseComparison | None:
    """Train in this script run with a progress bar; store and return the comparison (None on error)."""
    bar = st.progress(0.0, text="Starting…")

    def on_progress(event) -> None:
        bar.progress(event.fraction, text=event.message)

    try:
        comp = train_response_models(
            df,
            setup["profile_columns"],
            setup["text_columns"],
            setup["label_column"],
            setup["positive_class"],
            base_model=base_model,
            on_progress=on_progress,
            include_transformer=use_transformer,
            transformer_settings=FAST if fast else None,
            transformer_max_train_rows=FAST_MAX_ROWS if fast else None,
        )
    except ValueError as exc:
        bar.empty()
        st.error(str(exc))
        return None
    bar.progress(1.0, text=f"Done in {comp.settings['seconds_total']:.0f} s")
    st.session_state[COMPARISON] = comp
    st.session_state.pop(TARGET_LIST, None)
    return comp


# ---------------------------------------------------------------------------------------------
# 4. Comparison and evaluation views
# ---------------------------------------------------------------------------------------------


def render_comparison(comp: ResponseComparison) -> None:
    st.caption(
        f"Response **{comp.label_column} = {comp.positive_class}** · profile: {', '.join(comp.profile_columns)}"
        + (f" · text: {', '.join(comp.text_columns)}" if comp.text_columns else "")
        + f" · split {', '.join(f'{k} {v:,}' for k, v in comp.split.value_counts().items())} (the same rows for every model)"
    )
    for w in comp.warnings:
        st.warning(w)
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
    st.success(f"Recommended: {comp.recommendation}", icon=":material/recommend:")
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
    st.info(gains_readout(y, p, share), icon=":material/campaign:")
    pr = precision_recall_at(y, p, share=share)
    cols = st.columns(4)
    cols[0].metric("Customers contacted", f"{pr['k']:,}")
    cols[1].metric("Precision (response rate)", f"{pr['precision']:.1%}", help="Share of contacted customers who responded.")
    cols[2].metric("Recall (responders reached)", f"{pr['recall']:.1%}")
    cols[3].metric("Lift", f"{pr['lift']:.2f}x", help="Response rate of the list over the overall rate.")
    left, right = st.columns(2)
    left.plotly_chart(gains_chart(gains_curve(y, p), title=f"Cumulative gains — {c.label}"), key="tg_gains")
    right.plotly_chart(lift_chart(lift_by_decile(y, p), title=f"Lift by decile — {c.label}"), key="tg_lift")
    raw_table, cal_table = reliability_table(y, np.clip(c.test_scores_raw, 0, 1)), reliability_table(y, p)
    st.plotly_chart(
        reliability_chart(raw_table, name="Before calibration", compare=cal_table, compare_name="Calibrated",
                          title=f"Reliability — {c.label}"),
        key="tg_reliability",
    )
    m = c.metrics
    st.caption(
        f"ECE on the test split: {m['ece_uncalibrated']:.3f} before, {m['ece_calibrated']:.3f} after calibration. "
        f"{m['calibration_reason'][0].upper() + m['calibration_reason'][1:]}."
    )


def render_deploy(comp: ResponseComparison) -> None:
    names = list(comp.candidates)
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
            st.error(str(exc))
        else:
            from ui.state import set_active_model

            set_active_model(folder.name)
            st.session_state["sidebar_active_model"] = folder.name
            st.success(f"Saved **{folder.name}** ({MODEL_LABELS[which]}) and made it the active model.")


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


def render_budget(scored: pd.DataFrame, label_column: str | None, positive: str) -> None:
    """Budget widgets, the profit curve, the selected list and its downloads."""
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
        st.error(str(exc))
        return
    k = len(chosen)
    if mode == "profit":
        st.plotly_chart(profit_chart(curve, best), key="tg_profit")
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
        )
    export = chosen
    st.session_state[TARGET_LIST] = export
    st.dataframe(export.head(100), hide_index=True, key="tg_list_preview")
    st.caption(f"Showing the first {min(100, k):,} of {k:,} rows, best first.")
    dl = st.columns(2)
    dl[0].download_button(
        "Download CSV", to_csv_bytes(export), file_name="target_list.csv", mime="text/csv", key="tg_download_csv", disabled=k == 0
    )
    if k <= XLSX_MAX_ROWS:
        dl[1].download_button(
            "Download Excel (.xlsx)",
            to_xlsx_bytes(export, sheet_name="target list"),
            file_name="target_list.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key="tg_download_xlsx",
            disabled=k == 0,
        )


def model_positive_class(model: Any, key: str) -> str | None:
    """The response class of the active model (asked when the model does not say)."""
    default = positive_class_of(model)
    if default is None:
        return None
    classes = [str(c) for c in model.classes_]
    return st.selectbox("Response class (what counts as responding)", classes, index=classes.index(default), key=key)
