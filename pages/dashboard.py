"""Dashboard: label and sentiment trends over a prediction file (time, segments, words, examples)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core import to_csv_bytes
from core.charts.dashboard import figure_to_html, summary_report_html
from ui import dashboard as dash
from ui.state import active_model_name, get_model, text_model_for_page
from ui.upload import csv_upload

st.title("Dashboard")
st.caption(
    "Label and sentiment trends over a prediction file: over time, by segment, the words "
    "that set each label apart, and the reviews behind them."
)

# ---- 1. Which prediction file ---------------------------------------------------------------
SOURCES = {
    "predict": "Result of the Predict page",
    "upload": "Upload a prediction CSV",
    "score": "Score a CSV now",
    "sample": "Sample: clothing reviews",
}
source = st.radio("Prediction file", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="dash_source")
key = data = None
name = ""
if source == "predict":
    path = st.session_state.get("last_prediction_path")
    if path and Path(path).is_file():
        key, data, name = dash.path_key(path), str(path), Path(path).name
    else:
        st.info(
            "No prediction file yet in this session. Score a CSV on the **Predict** page, "
            "upload a prediction CSV, score one here, or explore the sample.",
            icon=":material/info:",
        )
elif source == "upload":
    up = csv_upload(
        "Prediction file (the CSV or Excel file the Predict page writes, or any table with a predicted label column)",
        key="dash_upload",
    )
    if up is not None:
        if st.session_state.get("dash_upload_id") != up.file_id:
            st.session_state["dash_upload_id"] = up.file_id
            st.session_state["dash_upload_key"] = dash.bytes_key(up.getvalue())
        key, data, name = st.session_state["dash_upload_key"], up.getvalue(), up.name
elif source == "score":
    model_name = text_model_for_page("the Dashboard")  # a model that reads text
    if model_name is None:
        if active_model_name() is None:
            st.info("No saved model yet: train one on the **Train** page, or explore the sample.")
    else:
        st.caption(f"Scores every row with **{model_name}** (the active model is chosen in the sidebar).")
        raw_up = csv_upload("CSV or Excel file to score", key="dash_score_upload")
        if raw_up is not None and st.button("Score it", key="dash_score_btn", type="primary"):
            from core.predict import predict_csv

            try:
                model = get_model(model_name)
                if model.task != "classification":
                    raise ValueError(f"The dashboard needs a classification model; {model_name!r} predicts numbers.")
                folder = Path(tempfile.gettempdir()) / "marketune-dashboard"
                folder.mkdir(exist_ok=True)
                stem = dash.bytes_key(raw_up.getvalue()).split(":")[1][:12]
                src, out = folder / f"{stem}-input.csv", folder / f"{stem}-{model_name}.csv"
                src.write_bytes(raw_up.getvalue())
                bar = st.progress(0.0, text="Scoring…")
                predict_csv(
                    model,
                    src,
                    out,
                    on_progress=lambda p: bar.progress(
                        min(1.0, p.rows_done / p.total_rows) if p.total_rows else 0.0,
                        text=f"Scored {p.rows_done:,} rows",
                    ),
                )
                src.unlink(missing_ok=True)
                st.session_state["dash_scored"] = (str(out), raw_up.name)
            except ValueError as exc:
                st.error(str(exc))
        scored = st.session_state.get("dash_scored")
        if scored and Path(scored[0]).is_file():
            key, data, name = dash.path_key(scored[0]), scored[0], scored[1]
else:
    key, data, name = dash.path_key(dash.SAMPLE_PATH), str(dash.SAMPLE_PATH), dash.SAMPLE_PATH.name
    st.info(dash.SAMPLE_NOTE, icon=":material/science:")
if key is None:
    st.stop()

try:
    raw = dash.cached_table(key, data)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
det = dash.cached_detection(key, raw)
# New file: forget the mapping and filters chosen for the previous one.
if st.session_state.get("dash_loaded") != key:
    for k in [k for k in st.session_state if str(k).startswith(("dash_map_", "dash_f_"))]:
        del st.session_state[k]
    st.session_state["dash_loaded"] = key

if det["label"] is None:
    st.warning(
        "No predicted label column found (expected `predicted_label`, as the Predict "
        "page writes; a model that predicts numbers has none). Choose the column that "
        "holds the labels under Columns."
    )

# ---- 2. Columns -----------------------------------------------------------------------------
cols = list(raw.columns)
opt = [dash.NONE, *cols]


with st.expander(f"Columns of **{name}** ({len(raw):,} rows)", expanded=det["label"] is None):
    c1, c2, c3, c4 = st.columns(4)
    label_col = c1.selectbox(
        "Predicted label", cols, index=cols.index(det["label"]) if det["label"] in cols else 0, key="dash_map_label"
    )
    conf_col = c2.selectbox("Confidence", opt, index=opt.index(det["confidence"] or dash.NONE), key="dash_map_conf")
    date_col = c3.selectbox(
        "Date", opt, index=opt.index((det["date_candidates"] or [dash.NONE])[0]), key="dash_map_date"
    )
    text_col = c4.selectbox(
        "Text", opt, index=opt.index(dash.guess_text_column(raw, det) or dash.NONE), key="dash_map_text"
    )
    # Named categories (channel, region) before numeric codes (rating, 0/1 flags).
    default_segments = sorted(
        (c for c in det["segment_candidates"] if c not in (label_col, date_col, text_col)),
        key=lambda c: pd.api.types.is_numeric_dtype(raw[c]),
    )[:3]
    seg_options = [c for c in cols if c not in (label_col, conf_col, text_col, date_col)]
    segs = st.multiselect(
        "Segments (channel, product, region, …)",
        seg_options,
        default=[c for c in default_segments if c in seg_options],
        key="dash_map_segments",
    )
    order = st.radio(
        "Numeric dates such as 03/04/2024",
        ["auto", "day", "month"],
        horizontal=True,
        format_func={"auto": "Decide from the values", "day": "Day first", "month": "Month first"}.get,
        key="dash_map_dayfirst",
    )
    one_pos = st.checkbox(
        "Labels 1/0: 1 means positive",
        key="dash_map_one_positive",
        help="Numeric labels are not assumed to be sentiment (1 might mean "
        "'clicked' or 'churned'). Tick to read 1 as positive, 0 as negative.",
    )
cmap = dash.ColumnMap(
    label=label_col,
    confidence=None if conf_col == dash.NONE else conf_col,
    date=None if date_col == dash.NONE else date_col,
    segments=tuple(segs),
    text=None if text_col == dash.NONE else text_col,
    dayfirst={"auto": None, "day": True, "month": False}[order],
    one_is_positive=one_pos,
)
# New mapping: filters chosen on other columns no longer apply.
if st.session_state.get("dash_cmap") != cmap:
    for k in [k for k in st.session_state if str(k).startswith(("dash_f_", "dash_breakdown", "dash_watch"))]:
        del st.session_state[k]
    st.session_state["dash_cmap"] = cmap
try:
    prep = dash.cached_prepare(key, cmap, raw)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
if prep.report is not None:
    r = prep.report
    (st.warning if r.n_unparseable else st.caption)(
        f"Date column **{cmap.date}**: {r.summary}"
        + (
            " Unparseable dates are kept but left out of charts over time and excluded while a date range is set."
            if r.n_unparseable
            else ""
        )
    )
if prep.numeric_labels and not cmap.one_is_positive:
    st.caption("The labels are numeric: tick *1 means positive* under Columns to see net sentiment.")

# ---- 3. Filters -----------------------------------------------------------------------------
with st.container(border=True):
    f1, f2, f3 = st.columns([2, 2, 1])
    date_range = None
    if prep.date_min is not None:
        picked = f1.date_input(
            "Date range",
            value=(prep.date_min, prep.date_max),
            min_value=prep.date_min,
            max_value=prep.date_max,
            key="dash_f_dates",
        )
        picked = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
        start = picked[0] if picked else None
        end = picked[1] if len(picked) > 1 else None
        if (start, end) != (prep.date_min, prep.date_max):
            date_range = (start, end)
    labels = f2.multiselect("Labels", prep.labels, key="dash_f_labels", placeholder="All labels")
    min_conf = 0.0
    if cmap.confidence:
        min_conf = f3.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05, key="dash_f_minconf")
    seg_filters = []
    if cmap.segments:
        for col, slot in zip(cmap.segments, st.columns(len(cmap.segments)), strict=True):
            chosen = slot.multiselect(col, prep.segment_values[col], key=f"dash_f_seg_{col}", placeholder=f"All {col}")
            seg_filters.append((col, tuple(chosen)))
filters = dash.Filters(date_range, tuple(seg_filters), tuple(labels), float(min_conf))

v1, v2, v3 = st.columns(3)
period = None
if prep.date_min is not None:
    auto = dash.auto_period(prep, filters)
    period = v1.selectbox(
        "Time grain",
        ["auto", "D", "W", "M"],
        key="dash_period",
        format_func=lambda p: (
            f"Automatic ({dash.PERIOD_NAMES[auto]})" if p == "auto" else dash.PERIOD_NAMES[p].capitalize()
        ),
    )
    period = None if period == "auto" else period
breakdown = v2.selectbox("Break down by", cmap.segments, key="dash_breakdown") if cmap.segments else None
watch = prep.sentiment[1] if prep.sentiment else None
if watch is None and prep.date_min is not None and cmap.segments:
    watch = v3.selectbox("Alert when this label's share rises", prep.labels, key="dash_watch")
alpha = 0.05

view = dash.compute_view(prep, cmap, filters, period, breakdown, watch, alpha)
figs = dash.build_figures(view, prep, cmap, breakdown)

# ---- 4. Results -----------------------------------------------------------------------------
if filters.describe():
    st.caption("Filtered: " + " · ".join(filters.describe()))
dash.render_kpis(view)
if view.n_rows == 0:
    st.warning("No rows match the filters. Widen them to see charts.")
    st.stop()

if view.alerts is not None:
    st.subheader("Alerts")
    dash.render_alerts(view, alpha)


def chart(name: str, file_stem: str, caption: str | None = None) -> None:
    st.plotly_chart(figs[name], key=f"dash_chart_{name}")
    if caption:
        st.caption(caption)
    dash.download(
        "Chart as HTML",
        lambda fig=figs[name]: figure_to_html(fig).encode("utf-8"),
        f"{file_stem}.html",
        "text/html",
        key=f"dash_dl_{name}",
        type="tertiary",
        icon=":material/download:",
    )


if "share" in figs:
    st.subheader("Over time")
    n_nodate = view.share.attrs.get("n_without_date", 0)
    chart(
        "share",
        "label_share_over_time",
        f"{n_nodate:,} rows without a readable date are left out." if n_nodate else None,
    )
if "mix" in figs:
    st.subheader(f"By {breakdown}")
    chart("mix", f"label_mix_by_{breakdown}")
    if "heat" in figs:
        chart(
            "heat",
            f"net_sentiment_{breakdown}_by_period",
            "Green: more positive than negative rows; red: the reverse. Blank: no rows.",
        )
    elif prep.date_min is not None:
        st.caption("The net-sentiment heatmap needs sentiment labels (positive/negative).")

if cmap.text:
    st.subheader("Distinctive words")
    # Words contrast labels, so the label filter picks which panels to show, not the texts.
    words_filters = dash.Filters(filters.date_range, filters.segments, (), filters.min_confidence)
    words_mask = view.mask if not filters.labels else words_filters.mask(prep.frame, cmap)
    words = dash.cached_words(key, cmap, words_filters, prep, words_mask)
    if filters.labels:
        words = {lab: w for lab, w in words.items() if str(lab) in filters.labels}
    figs["words"] = dash.words_figure(words, prep, cmap)
    note = (
        " With a label filter, the chosen labels are compared with all other labels in view." if filters.labels else ""
    )
    chart("words", "distinctive_words", dash.words_method(words) + note)
    st.subheader("Examples with the highest confidence")
    st.caption("Click an example to read it in full.")
    dash.render_examples(view.examples, cmap)
else:
    st.caption("Map a text column to see distinctive words and examples.")

if "confidence" in figs:
    st.subheader("Model confidence")
    chart("confidence", "confidence_histogram")

# ---- 5. Export ------------------------------------------------------------------------------
st.subheader("Export")
stem = Path(name).stem or "predictions"
e1, e2 = st.columns(2)
with e1:
    dash.download(
        f"Filtered rows as CSV ({view.n_rows:,})",
        lambda r=raw, m=view.mask: to_csv_bytes(r if m is None else r[m]),
        f"{stem}_filtered.csv",
        "text/csv",
        key="dash_dl_csv",
    )
with e2:
    notes = [f"File: {name}", *(filters.describe() or ["No filters"])]
    if source == "sample":
        notes.append("Sample data: the review dates are synthetic (random over Jan-Jun 2024).")
    titles = {
        "share": "Over time",
        "mix": f"By {breakdown}",
        "heat": "Net sentiment",
        "words": "Distinctive words",
        "confidence": "Model confidence",
    }
    dash.download(
        "One-page summary (HTML)",
        lambda k=view.kpis, f={titles[k]: f for k, f in figs.items()}, n=notes: summary_report_html(
            k, f, title=f"Dashboard: {name}", notes=n
        ).encode("utf-8"),
        f"{stem}_summary.html",
        "text/html",
        key="dash_dl_report",
    )
st.caption(
    "A text cell that a spreadsheet would run as a formula (such as `=HYPERLINK(…)` or `@SUM(…)`; not "
    "`@united thanks`) gets a leading apostrophe in the CSV; everything shown here is the text as it is."
)
