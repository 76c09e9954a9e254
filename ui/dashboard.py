"""Dashboard page helpers: reading and caching prediction tables, the per-interaction
computation, and small Streamlit renderers.

The computation (:func:`prepare_dashboard`, :func:`compute_view`, :func:`build_figures`,
:func:`words_for`) is plain pandas over ``core.dashboard`` so that bench/bench_dashboard.py
times exactly what the page runs on a filter change. Only the ``cached_*`` wrappers and
``render_*`` functions touch Streamlit.

Caching: tables and prepared frames are kept with ``st.cache_resource`` (the same object is
handed back, never copied). ``st.cache_data`` would pickle and unpickle a million-row frame on
every rerun, which alone costs seconds. The frames are treated as read-only: every filter makes
a new view. Keys are a content hash (uploads) or path + size + mtime (files on disk), plus the
column mapping.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core import read_table, to_csv_bytes, workspace
from core.charts.dashboard import figure_to_html, summary_report_html
from core.columns import detect_prediction_columns
from core.dashboard_tags import cooccurrence, cooccurrence_chart, tag_counts_chart, tag_table
from core.dashboard_view import (
    PERIOD_NAMES,
    ColumnMap,
    DashboardFrame,
    Filters,
    View,
    alert_method,
    auto_period,
    build_figures,
    compute_view,
    guess_text_column,
    prepare_dashboard,
    words_figure,
    words_for,
    words_method,
    words_panels,
)
from core.data import ROW_NUMBERING
from core.files import atomic_write
from core.limits import BROWSER_SCORING_MAX_ROWS
from core.models.zeroshot import shares_note
from core.multilabel import PREDICTED_LABELS
from core.reading import LoadedCsv, in_page_words
from core.registry import model_path, read_info
from core.words import rows_words
from ui.downloads import download_button
from ui.figures import inert
from ui.jobs import show_progress
from ui.markdown import plain, plain_lines
from ui.state import active_model_name, get_model, last_prediction_model, last_prediction_path, text_model_for_page
from ui.upload import csv_upload, how_read_line, read_limits

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATH = ROOT / "sample_data" / "dashboard_clothing_predictions.csv"
SAMPLE_NOTE = (
    "Sample: 5,000 real clothing reviews (Women's E-Commerce Clothing Reviews, CC0) scored by "
    "a sentiment model fine-tuned on the bundled UCI review sentences; its 0/1 classes are "
    "shown as negative/positive. **The review dates are synthetic** (drawn at random over "
    "January-June 2024; the reviews carry none), so trends over time and time-based alerts "
    "in this sample are noise. Segments (department, class, age group) are real."
)
NONE = "(none)"
# Files on disk (the Predict page's output) may be larger than a browser upload.
MAX_FILE_BYTES = 2 * 1024**3
MAX_ROWS = 2_000_000


# --------------------------------------------------------------------------------------------
# Streamlit caching (one entry per file / mapping / filter state)
# --------------------------------------------------------------------------------------------


@st.cache_resource(max_entries=3, show_spinner="Reading the prediction file…")
def cached_reading(key: str, _source: bytes | str) -> LoadedCsv:
    """The file as read (table and notes), once per ``key`` (content hash or path+size+mtime)."""
    limit = MAX_FILE_BYTES if isinstance(_source, str) else None
    # core.reading's reader, as every entry point reads a file (a CSV, or what csv_upload made of another kind).
    return read_table(_source, max_bytes=limit, max_rows=MAX_ROWS, limits=read_limits())


def cached_table(key: str, _source: bytes | str) -> pd.DataFrame:
    """The raw table of :func:`cached_reading`."""
    return cached_reading(key, _source).frame


def reading_note(source: Source) -> None:
    """How the file was read, in the Train page's words (ui.upload.how_read_line), when reading
    it changed something (repeated header rows dropped, CR line ends, ...). A workbook, JSON or
    compressed upload was said by csv_upload already (its CSV has nothing more to note)."""
    loaded = cached_reading(source.key, source.data)
    if loaded.notes:
        st.caption(how_read_line(source.name, loaded.describe(), len(loaded.frame), len(loaded.frame.columns)))


@st.cache_resource(max_entries=3)
def cached_detection(key: str, _raw: pd.DataFrame) -> dict[str, Any]:
    return detect_prediction_columns(_raw)


@st.cache_resource(max_entries=4, show_spinner="Parsing dates and indexing the table…")
def cached_prepare(key: str, columns: ColumnMap, _raw: pd.DataFrame) -> DashboardFrame:
    return prepare_dashboard(_raw, columns)


@st.cache_data(max_entries=64, show_spinner="Finding distinctive words…")
def cached_words(
    key: str, columns: ColumnMap, filters: Filters, _prepared: DashboardFrame, _mask: np.ndarray | None
) -> dict[Any, pd.DataFrame]:
    return words_for(_prepared, columns, _mask)


def bytes_key(data: bytes) -> str:
    return "upload:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def path_key(path: str | Path) -> str:
    st_ = Path(path).stat()
    return f"path:{Path(path).resolve()}:{st_.st_size}:{st_.st_mtime_ns}"


# --------------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def render_kpis(view: View, max_labels: int = 4) -> None:
    """KPI cards; while filtered, deltas compare with all rows."""
    k, base = view.kpis, view.kpis_all
    # (name, value, delta, arrow): "off" deltas are plain context, not a change.
    cards: list[tuple[str, str, str | None, str]] = []
    total = base.get("volume") if base else None
    cards.append(("Rows", f"{k['volume']:,}", f"of {total:,}" if total is not None else None, "off"))
    if k["net_sentiment"] is not None:
        delta = None
        if base and base.get("net_sentiment") is not None:
            d = (k["net_sentiment"] - base["net_sentiment"]) * 100
            delta = f"{d:+.1f} pts vs all rows"
        cards.append(("Net sentiment", f"{k['net_sentiment'] * 100:+.1f}", delta, "auto"))
    if k["avg_confidence"] is not None:
        cards.append(("Avg confidence", _pct(k["avg_confidence"]), None, "off"))
    for lab, share in list(k["label_shares"].items())[:max_labels]:
        cards.append((f"Share {plain(lab)}", _pct(share), rows_words(k['label_counts'][lab]), "off"))
    cols = st.columns(len(cards))
    for col, (name, value, delta, arrow) in zip(cols, cards, strict=True):
        col.metric(
            name, value, delta, delta_color="normal" if arrow == "auto" else "off", delta_arrow=arrow, border=True
        )
    if k["net_sentiment"] is not None:
        st.caption(
            f"Net sentiment = share “{plain(k['positive_label'])}” − share “{plain(k['negative_label'])}”, in "
            "percentage points of all rows in view (neutral rows count in the denominator)."
        )


def render_alerts(view: View, alpha: float) -> None:
    alerts = view.alerts
    if alerts is None or alerts.empty:
        st.caption("No segment had data in the last two periods.")
        return
    flagged = alerts[alerts["flagged"]]
    latest = pd.Timestamp(alerts["latest_period"].iloc[0]).date()
    prev = pd.Timestamp(alerts["prev_period"].iloc[0]).date()
    what = f"share of “{plain(view.watch_label)}”"
    if flagged.empty:
        st.success(
            f"No segment's {what} rose significantly in the period starting {latest} "
            f"compared with the one starting {prev}.",
            icon=":material/check_circle:",
        )
    for row in flagged.itertuples():
        st.warning(
            f"**{plain(row.column)} = {plain(row.segment)}**: {what} rose from {row.prev_share:.1%} "
            f"({rows_words(row.n_prev)}) to {row.latest_share:.1%} ({rows_words(row.n_latest)}); "
            f"adjusted p = {row.p_adjusted:.3g}.",
            icon=":material/trending_up:",
        )
    st.caption(alert_method(alpha))
    with st.expander(f"All segments tested ({int(alerts['p_value'].notna().sum())})"):
        table = alerts[
            [
                "column",
                "segment",
                "prev_share",
                "latest_share",
                "n_prev",
                "n_latest",
                "z",
                "p_value",
                "p_adjusted",
                "flagged",
            ]
        ]
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "prev_share": st.column_config.NumberColumn("previous share", format="percent"),
                "latest_share": st.column_config.NumberColumn("latest share", format="percent"),
            },
        )


def render_examples(examples: dict[Any, pd.DataFrame], columns: ColumnMap) -> None:
    """One tab per label; each example an expander holding the full text and its columns."""
    if not examples:
        st.caption("No rows in view.")
        return
    tabs = st.tabs([plain(lab) for lab in examples])
    for tab, rows in zip(tabs, examples.values(), strict=True):
        with tab:
            for row in rows.to_dict("records"):
                text = str(row[columns.text])
                short = text if len(text) <= 90 else text[:90].rsplit(" ", 1)[0] + " …"
                conf = row.get(columns.confidence) if columns.confidence else None
                head = f"{conf:.0%} · {plain(short)}" if conf is not None else plain(short)
                with st.expander(head):
                    st.markdown(plain_lines(text))
                    meta = [f"row {row['row']}"] + [f"{c}: {_fmt(row[c])}" for c in (columns.date, *columns.segments) if c]
                    st.caption(plain(" · ".join(meta)))


def _fmt(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return "no date" if pd.isna(value) else str(value.date())
    return str(value)


# --------------------------------------------------------------------------------------------
# The page's sections (pages/dashboard.py calls them in order)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The prediction file the page shows: a cache key, the bytes or path, its name, and where
    it came from (one of :data:`SOURCES`)."""

    key: str
    data: bytes | str
    name: str
    kind: str
    model: str | None = None  # the saved model that scored it, where the page knows (Predict's, scored here)


SOURCES = {
    "predict": "Result of the Predict page",
    "upload": "Upload a prediction CSV",
    "score": "Score a CSV now",
    "sample": "Sample: clothing reviews",
}


def choose_source() -> Source | None:
    """Section 1: which prediction file (the Predict page's result, an upload, a CSV scored now,
    or the sample); None with a message while there is none."""
    source = st.radio("Prediction file", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="dash_source")
    key = data = scorer = None  # scorer: the saved model that scored the file, where known
    name = ""
    if source == "predict":
        path = last_prediction_path()
        if path is not None:
            key, data, name = path_key(path), str(path), Path(path).name
            # The model that scored the file, not the sidebar's: the two differ once the active model changes.
            if scorer := last_prediction_model():
                active = active_model_name()
                st.caption(f"Predictions scored by **{plain(scorer)}** on the Predict page"
                           + (f" (the active model is now **{plain(active)}**)." if active and active != scorer else "."))
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
                st.session_state["dash_upload_key"] = bytes_key(up.getvalue())
            key, data, name = st.session_state["dash_upload_key"], up.getvalue(), up.name
    elif source == "score":
        model_name = text_model_for_page("the Dashboard")  # a model that reads text
        if model_name is None:
            if active_model_name() is None:
                st.info("No saved model yet: train one on the **Train** page, or explore the sample.")
        else:
            st.caption(f"Scores every row with **{plain(model_name)}** (the active model is chosen in the sidebar).")
            # The model's text columns pick a workbook's sheet and header, as `python -m core predict` does.
            reads = read_info(model_path(model_name)).text_columns or ()
            raw_up = csv_upload("CSV or Excel file to score", key="dash_score_upload", scoring=True, columns=tuple(reads))
            if raw_up is not None and st.button("Score it", key="dash_score_btn", type="primary"):
                from core.predict import predict_csv

                src = bar = None
                try:
                    model = get_model(model_name)
                    if model.task != "classification":
                        raise ValueError(f"The dashboard needs a classification model; {model_name!r} predicts numbers.")
                    folder = workspace.current().predictions  # the caller's own (core/workspace.py)
                    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                    stem = bytes_key(raw_up.getvalue()).split(":")[1][:12]
                    src, out = folder / f"{stem}-input.csv", folder / f"{stem}-{model_name}.csv"
                    atomic_write(src, raw_up.getvalue())  # owner-only (0600), like the predictions
                    bar = st.progress(0.0, text="Scoring…")
                    predict_csv(
                        model,
                        src,
                        out,
                        max_rows=BROWSER_SCORING_MAX_ROWS,  # more: the CLI or the cluster (core/limits.py)
                        limits=read_limits(),
                        history="dashboard",
                        on_progress=lambda event: show_progress(bar, event),
                    )
                    st.session_state["dash_scored"] = (str(out), raw_up.name, model_name)
                except ValueError as exc:
                    if bar is not None:  # no empty "Scoring…" bar beside the refusal
                        bar.empty()
                    st.error(plain(in_page_words(str(exc))))
                finally:  # the upload's copy goes whether it was scored or refused: nothing left behind
                    if src is not None:
                        src.unlink(missing_ok=True)
            scored = st.session_state.get("dash_scored")
            if scored and Path(scored[0]).is_file():
                key, data, name, scorer = path_key(scored[0]), scored[0], scored[1], scored[2]
    else:
        key, data, name = path_key(SAMPLE_PATH), str(SAMPLE_PATH), SAMPLE_PATH.name
        st.info(SAMPLE_NOTE, icon=":material/science:")
    return None if key is None else Source(key, data, name, source, scorer)


def column_form(raw: pd.DataFrame, det: dict[str, Any], name: str) -> ColumnMap:
    """Section 2: the roles of the table's columns, defaulting to ``det``
    (``core.columns.detect_prediction_columns``)."""
    cols = list(raw.columns)
    opt = [NONE, *cols]
    with st.expander(f"Columns of **{plain(name)}** ({rows_words(len(raw))})", expanded=det["label"] is None):
        c1, c2, c3, c4 = st.columns(4)
        label_col = c1.selectbox(
            "Predicted label", cols, index=cols.index(det["label"]) if det["label"] in cols else 0, key="dash_map_label"
        )
        conf_col = c2.selectbox("Confidence", opt, index=opt.index(det["confidence"] or NONE), key="dash_map_conf")
        date_col = c3.selectbox(
            "Date", opt, index=opt.index((det["date_candidates"] or [NONE])[0]), key="dash_map_date"
        )
        text_col = c4.selectbox(
            "Text", opt, index=opt.index(guess_text_column(raw, det) or NONE), key="dash_map_text"
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
    return ColumnMap(
        label=label_col,
        confidence=None if conf_col == NONE else conf_col,
        date=None if date_col == NONE else date_col,
        segments=tuple(segs),
        text=None if text_col == NONE else text_col,
        dayfirst={"auto": None, "day": True, "month": False}[order],
        one_is_positive=one_pos,
    )


@dataclass(frozen=True)
class Choices:
    """Section 3's answers: the filters and how to slice the rows in view."""

    filters: Filters
    period: str | None  # None: automatic
    breakdown: str | None
    watch: Any  # the label whose rising share raises alerts; None: no alerts


def filter_form(prep: DashboardFrame, columns: ColumnMap) -> Choices:
    """Section 3: filters, time grain, breakdown and the label to watch."""
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
        tags = prep.tags is not None  # several tags per row: the filter keeps rows carrying any chosen tag
        labels = f2.multiselect("Tags" if tags else "Labels", prep.labels, key="dash_f_labels",
                                placeholder="All tags" if tags else "All labels",
                                help="Rows carrying any of the chosen tags." if tags else None)
        min_conf = 0.0
        if columns.confidence:
            min_conf = f3.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05, key="dash_f_minconf")
        seg_filters = []
        if columns.segments:
            for col, slot in zip(columns.segments, st.columns(len(columns.segments)), strict=True):
                chosen = slot.multiselect(plain(col), prep.segment_values[col], key=f"dash_f_seg_{col}", placeholder=f"All {col}")
                seg_filters.append((col, tuple(chosen)))
    filters = Filters(date_range, tuple(seg_filters), tuple(labels), float(min_conf), tuple(prep.list_segments.items()),
                      tags=tags)

    v1, v2, v3 = st.columns(3)
    period = None
    if prep.date_min is not None:
        auto = auto_period(prep, filters)
        period = v1.selectbox(
            "Time grain",
            ["auto", "D", "W", "M"],
            key="dash_period",
            format_func=lambda p: (
                f"Automatic ({PERIOD_NAMES[auto]})" if p == "auto" else PERIOD_NAMES[p].capitalize()
            ),
        )
        period = None if period == "auto" else period
    breakdown = None
    if columns.segments:  # a column of tag lists (e.g. the ground-truth "labels") is offered last, never preset
        options = prep.breakdown_options(columns.segments)
        breakdown = v2.selectbox("Break down by", options, key="dash_breakdown", placeholder="Choose a column",
                                 index=None if options[0] in prep.list_segments else 0)
    watch = prep.sentiment[1] if prep.sentiment else None
    if watch is None and prep.date_min is not None and columns.segments:
        options = list(map(str, prep.tags.columns)) if prep.tags is not None else prep.labels
        watch = v3.selectbox(f"Alert when this {'tag' if prep.tags is not None else 'label'}'s share rises", options,
                             key="dash_watch")
    return Choices(filters, period, breakdown, watch)


TAGS_COUNTED = ("Several tags per row (the model's `predicted_labels`): every chart counts each tag, so a row tagged "
                "`price|delivery` counts in the bar of `price` and in the bar of `delivery`; shares are of rows and "
                "add up to more than 100%. A combination of tags is never a label of its own.")


SPLIT_BREAKDOWN = ("'{column}' holds several tags per row: it is split into its tags, so a row tagged \"anger|joy\" "
                   "counts under \"anger\" and under \"joy\" (a combination is never a bar of its own).")


def render_tags(raw: pd.DataFrame, mask: Any) -> None:
    """Several tags per row (``predicted_labels``): rows per tag and the tags that occur together."""
    labels = raw[PREDICTED_LABELS] if mask is None else raw.loc[np.asarray(mask), PREDICTED_LABELS]
    st.subheader("Tags")
    st.caption("Rows per tag (a row counts once for each of its tags) and how often two tags are given to the same row.")
    left, right = st.columns(2)
    left.plotly_chart(inert(tag_counts_chart(tag_table(labels))), key="dash_chart_tags")
    right.plotly_chart(inert(cooccurrence_chart(cooccurrence(labels))), key="dash_chart_tags_together")


def scorer_note(model: str | None) -> str | None:
    """What to say above the numbers about the model that scored the file: a zero-shot model's
    shares are rough (core.models.zeroshot.shares_note); None for other kinds or an unknown model."""
    if not model:
        return None
    try:
        return shares_note(read_info(model_path(model)).kind)
    except (OSError, ValueError):  # deleted or renamed since it scored the file
        return None


def render_scorer_note(source: Source) -> None:
    if note := scorer_note(source.model):
        st.warning(note, icon=":material/balance:")


def render_view(source: Source, raw: pd.DataFrame, prep: DashboardFrame, columns: ColumnMap, choices: Choices,
                alpha: float = 0.05) -> None:
    """Sections 4 and 5: KPIs, alerts, charts, words, examples and the downloads."""
    filters, breakdown, key, name = choices.filters, choices.breakdown, source.key, source.name
    view = compute_view(prep, columns, filters, choices.period, breakdown, choices.watch, alpha)
    figs = build_figures(view, prep, columns, breakdown)
    if filters.describe():
        st.caption("Filtered: " + plain(" · ".join(filters.describe())))
    render_scorer_note(source)
    render_kpis(view)
    if prep.tags is not None:
        st.caption(TAGS_COUNTED)
    if view.n_rows == 0:
        st.warning("No rows match the filters. Widen them to see charts.")
        return

    if view.alerts is not None:
        st.subheader("Alerts")
        render_alerts(view, alpha)

    def chart(which: str, file_stem: str, caption: str | None = None) -> None:
        st.plotly_chart(inert(figs[which]), key=f"dash_chart_{which}")
        if caption:
            st.caption(plain(caption))
        download_button("Chart as HTML", lambda fig=figs[which]: figure_to_html(fig).encode("utf-8"),
                        file_name=f"{file_stem}.html", mime="text/html", key=f"dash_dl_{which}",
                        type="tertiary", icon=":material/download:")

    if "share" in figs:
        st.subheader("Over time")
        n_nodate = view.share.attrs.get("n_without_date", 0)
        chart(
            "share",
            "label_share_over_time",
            f"{rows_words(n_nodate)} without a readable date {'is' if n_nodate == 1 else 'are'} left out." if n_nodate else None,
        )
    if "mix" in figs:
        st.subheader(f"By {plain(breakdown)}")
        chart("mix", f"label_mix_by_{breakdown}", SPLIT_BREAKDOWN.format(column=breakdown)
              if breakdown in prep.list_segments else None)
        if "heat" in figs:
            chart(
                "heat",
                f"net_sentiment_{breakdown}_by_period",
                "Green: more positive than negative rows; red: the reverse. Blank: no rows.",
            )
        elif prep.date_min is not None:
            st.caption("The net-sentiment heatmap needs sentiment labels (positive/negative).")

    if columns.text:
        st.subheader("Distinctive words")
        # Words contrast labels, so the label filter picks which panels to show, not the texts.
        words_filters = replace(filters, labels=())
        words_mask = view.mask if not filters.labels else words_filters.mask(prep.frame, columns)
        words = cached_words(key, columns, words_filters, prep, words_mask)
        if filters.labels:
            words = {lab: w for lab, w in words.items() if str(lab) in filters.labels}
        drawn, left_out = words_panels(words, prep)  # several tags: too-rare tags named, not drawn empty
        figs["words"] = words_figure(drawn, prep, columns)
        note = (
            " With a label filter, the chosen labels are compared with all other labels in view." if filters.labels else ""
        )
        chart("words", "distinctive_words", words_method(words, tags=prep.tags is not None) + note
              + (f" {left_out}" if left_out else ""))
        st.subheader("Examples with the highest confidence")
        st.caption(f"Click an example to read it in full. Rows are numbered as in the file ({ROW_NUMBERING}).")
        render_examples(view.examples, columns)
    else:
        st.caption("Map a text column to see distinctive words and examples.")

    if prep.tags is not None:
        render_tags(raw, view.mask)

    if "confidence" in figs:
        st.subheader("Model confidence")
        chart("confidence", "confidence_histogram")

    st.subheader("Export")
    stem = Path(name).stem or "predictions"
    e1, e2 = st.columns(2)
    with e1:
        download_button(f"Filtered rows as CSV ({view.n_rows:,})",
                        lambda r=raw, m=view.mask: to_csv_bytes(r if m is None else r[m]),
                        file_name=f"{stem}_filtered.csv", mime="text/csv", key="dash_dl_csv")
    with e2:
        notes = [f"File: {name}", *(filters.describe() or ["No filters"])]
        if source.kind == "sample":
            notes.append("Sample data: the review dates are synthetic (random over Jan-Jun 2024).")
        titles = {
            "share": "Over time",
            "mix": f"By {breakdown}",
            "heat": "Net sentiment",
            "words": "Distinctive words",
            "confidence": "Model confidence",
        }
        download_button(
            "One-page summary (HTML)",
            lambda k=view.kpis, f={titles[k]: f for k, f in figs.items()}, n=notes: summary_report_html(
                k, f, title=f"Dashboard: {name}", notes=n
            ).encode("utf-8"),
            file_name=f"{stem}_summary.html", mime="text/html", key="dash_dl_report",
        )
    st.caption(
        "A text cell that a spreadsheet would run as a formula (such as `=HYPERLINK(…)` or `@SUM(…)`; not "
        "`@united thanks`) gets a leading apostrophe in the CSV; everything shown here is the text as it is."
    )
