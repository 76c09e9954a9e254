"""The Predict page's sections (pages/predict.py calls them in order): the model, the rows to
score, the column map, the fast-path box, the run, and the result with its downloads. Every
widget key starts with ``predict_``.

The upload is written to a temporary file and predicted chunk by chunk into another file on
disk (core.predict.predict_csv); the result shows a preview and counts read back from that
file, never a whole giant table, and the downloads are built only when clicked.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import lanes, list_models, ray_predict, to_xlsx_bytes, workspace
from core.charts.predict import confidence_histogram, prediction_distribution, value_histogram
from core.columns import match_column
from core.data import ROW_NUMBERING
from core.export import neutralise_csv_file
from core.fastpath import check_fast_path, describe_check, fast_path_allowed, quantized_copy, read_fast_path
from core.jobs import JobStatus
from core.limits import BROWSER_SCORING_MAX_ROWS, check_scoring_rows
from core.models import SavedModel
from core.models.folder import stamp
from core.models.zeroshot import unchecked_scores_note
from core.multilabel import ROWS_PER_TAG_NOTE
from core.ood import ood_available, ood_message
from core.predict import (
    PredictSummary,
    low_confidence_rows,
    missing_columns,
    ood_reference,
    output_task,
    predict_csv,
    prediction_overview,
    read_predictions,
    renamed_message,
)
from core.progress import ProgressEvent, TrainingCancelled
from core.reading import (
    HEADER_ONLY,
    closest_column,
    count_rows,
    in_page_words,
    missing_columns_message,
    open_stream,
    read_head,
)
from core.registry import model_path
from core.words import rows_words
from ui.downloads import csv_download, download_button
from ui.figures import inert
from ui.jobs import JobPanel, live_panel, progress_line
from ui.markdown import plain
from ui.multilabel import render_cut_offs
from ui.results import notice_markdown
from ui.state import LAST_PREDICTION_KEY, LAST_PREDICTION_MODEL_KEY, active_model_name, get_model
from ui.upload import SheetAsCsv, csv_upload, how_read_line, read_limits

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {p.name: p for p in sorted((ROOT / "sample_data").glob("*.csv"))}
RESULT = "predict_result"  # a Result: the last run of this session
RUN = "predict_scoring"  # a Scoring: the run this session started, until the page has shown how it ended
UPLOAD = "predict_upload"  # the uploader's key
KEPT = "predict_kept_upload"  # (file on disk, name): the last upload, scored after a page change emptied the uploader
FOLLOWED = "predict_model_followed"  # the active model the Model box last followed (choose_model)
KEPT_SHOWN = "predict_kept_from"  # "uploader" while the uploader holds the kept file, "kept" once it emptied
XLSX_SHEET_ROWS = 1_048_576  # Excel's hard limit, header row included
XLSX_MAX_ROWS = 100_000  # openpyxl: ~1 s and ~3.5 MB of memory per 1,000 rows (measured): CSV only above
PREVIEW_ROWS = 100
FAST_LABELS = {"int8": "int8 quantized", "bf16": "bfloat16 weights"}
CHOOSE = "— choose a column —"
# walk-f, 1,000 rows on the page: 91 s with the flag, 28 s without (load ~8, one run each).
OOD_COST = ("Slower: every row also goes through a sentence encoder, a second pass over the file that can "
            "take longer than the scoring itself (about 3 times as long in all, in one run of 1,000 rows). "
            "Untick it when you only need the predictions.")


@dataclass(frozen=True)
class Result:
    """A finished run: core's summary (the scored file, counts, time) and the run's context."""

    summary: PredictSummary
    model: str
    task: str
    classes: tuple[str, ...]
    source: str  # the input file's name
    fast: str | None  # the fast form used ("int8", "bf16"), if any
    engine: str  # "" on this server, else where it ran, in words
    choice: tuple = ()  # what was scored (:func:`choice_of`): shown only while the page's choice is the same


def choice_of(name: str, rows: tuple[Path, str] | None, column_map: dict[str, str] | None) -> tuple:
    """The choices a result belongs to: the model, the file scored and the column map. The file is
    the one on disk, whose name holds the upload's id, the sheet and the header row read
    (ui.upload.csv_upload's ``file_id``), so another file, sheet or header row is another choice."""
    return (name, str(rows[0]) if rows else None,
            None if column_map is None else tuple(sorted(column_map.items())))


@dataclass(frozen=True)
class RunOptions:
    fast: str | None  # the checked fast form to use, or None for the full model
    cluster: str | None  # the Ray cluster to run on, or None for this server
    flag_ood: bool


@st.cache_resource(show_spinner="Preparing the fast model…", max_entries=2)
def _fast_model(name: str, stamp: tuple[str, float], method: str):
    # ``stamp``: (folder, save time); the folder, as two people's models may share a name.
    return quantized_copy(get_model(name), method)


@st.cache_data(show_spinner=False, max_entries=8)
def _overview(path: str, mtime: float, task: str, classes: tuple[str, ...]):
    return prediction_overview(path, task, classes)


@st.cache_data(show_spinner=False, max_entries=8)
def _low_confidence(path: str, mtime: float, classes: tuple[str, ...], threshold: float):
    return low_confidence_rows(path, "classification", classes, threshold)


@st.cache_data(show_spinner=False, max_entries=32)
def _columns(path: str, mtime: float) -> list[str]:
    return [str(c) for c in read_head(path, n=0).columns]


def _session_dir() -> Path:
    """A temporary folder for this browser session's uploads and results."""
    folder = st.session_state.get("predict_tmp_dir")
    if not folder or not Path(folder).is_dir():
        own = workspace.current().predictions  # the person's own folder on a team server
        own.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = tempfile.mkdtemp(prefix="marketune-predict-", dir=own)  # 0700
        st.session_state["predict_tmp_dir"] = folder
    return Path(folder)


def _saved_upload(upload) -> Path:
    """The uploaded file on disk (written once per upload; older uploads removed)."""
    # CSV: ui.upload.csv_upload hands over any other kind (workbook, JSON, gzip, zip) as the CSV of
    # the table core.reading read from it.
    path = _session_dir() / f"input-{upload.file_id}.csv"
    if not path.is_file():
        for old in _session_dir().glob("input-*"):
            old.unlink(missing_ok=True)
        path.write_bytes(upload.getbuffer())
    return path


def duration(seconds: float) -> str:
    """``seconds`` in words: "42 s", "3 min 05 s", "2 h 07 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _link(page: str, label: str) -> None:
    if (ROOT / "pages" / page).is_file():
        st.page_link(str(ROOT / "pages" / page), label=label)


def choose_model() -> tuple[str, SavedModel] | None:
    """The model box (the active model first) and what the model reads and predicts; None, with
    a message, when no model is saved or the chosen one cannot be loaded."""
    models = list_models()
    if not models:
        st.info("No saved model yet. Train one on the **Train** page first.")
        _link("train.py", "Go to Train")
        return None
    names = [m.name for m in models]
    active = active_model_name()
    # Streamlit keeps a keyed box's value across reruns, so a new active model (chosen in the
    # sidebar, or by Train or Label) would leave the box on the old one and score with it while
    # the sidebar names the new one. The box follows the active model whenever that changes; a
    # model picked in the box itself stays until the active model changes again.
    if active in names and st.session_state.get(FOLLOWED) != active:
        st.session_state[FOLLOWED] = active
        st.session_state["predict_model"] = active
    if st.session_state.get("predict_model") not in names:  # deleted since, or a first visit
        st.session_state["predict_model"] = active if active in names else names[0]
    name = st.selectbox("Model", names, key="predict_model")
    try:
        model = get_model(name)
    except ValueError as exc:
        st.error(plain(exc))
        return None
    classes = [str(c) for c in model.classes_]
    several = "tags (several per row)" if getattr(model, "multi_label", False) else "classes"
    what = f"{len(classes)} {several}: {', '.join(classes)}" if model.task == "classification" else "a number"
    st.caption(f"Predicts {plain(what)} · reads {plain(', '.join(model.input_columns) or '(no columns)')}")
    if notice := notice_markdown((getattr(model, "metrics", None) or {}).get("verdict") or {}):
        st.warning(notice)  # not usable, or (several tags) a Hamming loss no better than a constant guess
    if note := unchecked_scores_note(model):  # a zero-shot model (issue 30)
        st.info(plain(note), icon=":material/label_off:")
    return name, model


def _kept_upload(*, removed: bool) -> tuple[Path, str] | None:
    """The file uploaded before the uploader emptied (Streamlit drops a widget's value when its
    page is left), said with a Remove button; None when there is none, or when the person removed
    it with the uploader's × (``removed``) or Remove."""
    kept = st.session_state.get(KEPT)
    if kept is not None and (removed or not kept[0].is_file()):
        st.session_state.pop(KEPT, None)
        kept = None
    if kept is None:
        return None
    st.session_state[KEPT_SHOWN] = "kept"
    note, remove = st.columns([5, 1])
    note.caption(f"Scoring **{plain(kept[1])}**, uploaded earlier (the box above empties when you switch pages); "
                 "upload another to replace it.")
    if remove.button("Remove", key="predict_forget_upload", icon=":material/close:"):
        st.session_state.pop(KEPT, None)
        kept[0].unlink(missing_ok=True)
        st.rerun()
    _how_read_caption(*kept)
    return kept


def choose_rows(model: SavedModel) -> tuple[Path, str] | None:
    """An upload or a bundled sample (those with the model's columns first): (file on disk, its
    name), or None while there is none."""
    kind = st.radio(
        "Input", ["Upload a CSV", "A bundled sample"], key="predict_source", horizontal=True, label_visibility="collapsed"
    )
    if kind == "Upload a CSV":
        drawn = UPLOAD in st.session_state  # False on the first run after a page change emptied the uploader
        upload = csv_upload("CSV or Excel file (a CSV is read in chunks)", key=UPLOAD, scoring=True,
                            columns=tuple(model.input_columns))
        if upload is None:
            return _kept_upload(removed=drawn and st.session_state.get(KEPT_SHOWN) == "uploader")
        path = _saved_upload(upload)
        if _row_count(str(path), path.stat().st_mtime) == (0, ""):  # refused at upload, as Train and the CLI do
            st.error(HEADER_ONLY)
            return None
        st.session_state[KEPT], st.session_state[KEPT_SHOWN] = (path, upload.name), "uploader"
        if not isinstance(upload, SheetAsCsv):  # a CSV as uploaded (csv_upload said how it read any other kind)
            _how_read_caption(path, upload.name)
        return path, upload.name
    if not SAMPLES:
        st.info("No bundled sample is installed.")
        return None
    fitting = [n for n, p in SAMPLES.items() if not missing_columns(model, _columns(str(p), p.stat().st_mtime))]
    sample = st.selectbox(
        "Sample file", [*fitting, *(n for n in SAMPLES if n not in fitting)], key="predict_sample",
        format_func=lambda n: n if n in fitting else f"{n} (lacks the model's columns)",
    )
    _how_read_caption(SAMPLES[sample], sample)
    return SAMPLES[sample], sample


@st.cache_data(show_spinner=False, max_entries=16)
def _how_read(path: str, mtime: float) -> tuple[str, int] | None:
    """How scoring reads the file (core.reading.Stream.describe: encoding, delimiter and every
    note, e.g. repeated header rows dropped) and its number of columns; None when it cannot be
    read (file_columns says why)."""
    try:
        stream = open_stream(path, limits=read_limits(), check_rows=PREVIEW_ROWS)
    except ValueError:
        return None
    return stream.describe(), len(stream.header)


def _how_read_caption(path: Path, name: str) -> None:
    """The line the Train page shows above its preview (ui.upload.how_read_line), for the file to score."""
    read = _how_read(str(path), path.stat().st_mtime)
    if read is not None:
        n_rows, refused = _row_count(str(path), path.stat().st_mtime)
        st.caption(how_read_line(name, read[0], None if refused else n_rows, read[1]))


def file_columns(source: Path) -> list[str] | None:
    """The file's first rows shown, and its column names; None (with the reason) when its start
    cannot be read as CSV."""
    try:
        head = read_head(source, limits=read_limits())
    except ValueError as exc:
        st.error(plain(in_page_words(str(exc))))
        return None
    st.dataframe(head, hide_index=True, key="predict_input_head", placeholder="")
    return [str(c) for c in head.columns]


def column_map_form(model: SavedModel, columns: list[str], *, key: str) -> dict[str, str] | None:
    """One box per column the model reads, offering the file's ``columns``, preset to the same
    name (ignoring case and whitespace: :func:`core.columns.match_column`). Returns {model's
    column: file's column}, or None (with an error naming them) while any is unchosen. Box keys:
    ``<key>_<model column>``."""
    absent = missing_columns(model, columns)
    guesses = {needed: match_column(needed, columns) for needed in model.input_columns}
    # The closest match the message names is preselected (the person can change it), unless two of the
    # model's columns would get the same one: then neither is guessed.
    closest = {needed: closest_column(needed, columns) for needed in absent}
    taken = [c for c in [*guesses.values(), *closest.values()] if c]
    guesses.update({needed: c for needed, c in closest.items() if c and taken.count(c) == 1})
    if absent:  # the one missing-column message (the columns found, the closest match), then what to do here
        lead = (f"The model was trained on column(s) {', '.join(repr(str(c)) for c in absent)}, which this file does "
                "not have under that name")
        pick = ("Check the column chosen below for each (the closest match is preselected), or pick the one"
                if any(guesses[c] for c in absent) else "Pick the file's column")
        st.warning(plain(missing_columns_message(absent, columns, lead=lead) + f" {pick} that holds the same kind "
                         "of content; columns that do not exist in the file cannot be predicted from."))
    text_cols = set(model.schema.get("text_columns", []))
    boxes = st.columns(max(1, min(3, len(model.input_columns))))
    options = [CHOOSE, *columns]
    column_map: dict[str, str] = {}
    for i, needed in enumerate(model.input_columns):
        guess = guesses[needed]
        kind = "text" if needed in text_cols else "profile"
        chosen = boxes[i % len(boxes)].selectbox(
            f"{plain(needed)} ({kind})", options, index=options.index(guess) if guess else 0, key=f"{key}_{needed}",
            help=f"The model learned from a {kind} column named '{plain(needed)}'.",
        )
        if chosen != CHOOSE:
            column_map[needed] = chosen
    unmapped = [c for c in model.input_columns if c not in column_map]
    if unmapped:
        st.error(f"Choose a column for {plain(', '.join(repr(c) for c in unmapped))} to predict.")
        return None
    return column_map


def fast_path_box(name: str, model: SavedModel) -> str | None:
    """The Fast checkbox where the model's fast-path check passed, the check's verdict where it
    did not, or a button to run the check. Returns the fast form to use ("int8", "bf16") or None."""
    if not (model.fast_forms and model.task == "classification"):
        return None  # several tags per row are checked too: per tag decision (core.fastpath)
    folder = model_path(name)
    record = read_fast_path(folder)
    just_checked = st.session_state.pop("predict_fast_checked", None) == name
    if record is not None and just_checked:
        # Say what the check found, right where the button was.
        (st.success if fast_path_allowed(folder) else st.info)(f"Fast-path check done. {plain(describe_check(record))}")
    fast = None
    if fast_path_allowed(folder):
        method = record["method"]
        label = f"Fast ({FAST_LABELS.get(method, method)}, {record.get('speedup') or 0:.1f}x)"
        fast = method if st.checkbox(label, key="predict_fast", help=plain(describe_check(record))) else None
    if record is not None:
        if not just_checked:
            st.caption(plain(describe_check(record)))
        return fast
    if st.button("Check whether a fast path is safe for this model", key="predict_check_fast"):
        with st.spinner("Comparing the fast forms (int8, bf16) with the full model on the test split…"):
            try:
                check_fast_path(folder, model)
            except (ValueError, OSError) as exc:
                st.error(f"The check could not run: {plain(exc)}")
            else:
                st.session_state["predict_fast_checked"] = name
                st.rerun()
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def _row_count(path: str, mtime: float) -> tuple[int, str]:
    """(data rows, "") or (0, why the file is over a read limit): the whole file is checked
    (core.limits.check_csv_file) before it is counted; a refusal is kept like a count."""
    try:
        return count_rows(open_stream(path, limits=read_limits())), ""
    except ValueError as exc:
        return 0, str(exc)


def predict_help(rows, column_map: dict[str, str] | None, too_many: bool) -> str | None:
    """Why Predict is greyed out, for its tooltip (None while it is not): ``rows`` from
    :func:`choose_rows`, ``column_map`` from :func:`column_map_form`, ``too_many`` from
    :func:`too_many_rows`."""
    if rows is None:
        return "Upload a CSV or pick a bundled sample above first."
    if column_map is None:
        return "Choose, above, the file's column for each column the model reads."
    if too_many:
        return "This file has more rows than the browser scores; the message above says how to score it."
    return None


def too_many_rows(source: Path, options: RunOptions) -> bool:
    """Whether ``source`` has more rows than the browser scores in the server's process
    (``BROWSER_SCORING_MAX_ROWS``), said on the page with the way to score them, before Predict
    is pressed. Never for a run on the Ray cluster, which scores any number of rows."""
    if options.cluster is not None:
        return False
    with st.spinner("Counting rows…"):
        n_rows, refused = _row_count(str(source), source.stat().st_mtime)
    try:
        if refused:
            raise ValueError(refused)
        check_scoring_rows(n_rows, BROWSER_SCORING_MAX_ROWS)
    except ValueError as exc:
        st.error(plain(in_page_words(str(exc))))
        return True
    return False


def run_options(name: str, model: SavedModel) -> RunOptions:
    """The fast-path box, the Ray cluster box (when MARKETUNE_RAY_ADDRESS is set) and the
    out-of-distribution box (when the model has the reference for it)."""
    fast = fast_path_box(name, model)
    cluster = ray_predict.configured_address()
    on_cluster = cluster is not None and st.checkbox(
        f"Run on the Ray cluster ({plain(cluster)})", key="predict_on_cluster",
        help="Ray Data scores the file on the cluster's actors (MARKETUNE_RAY_ADDRESS); the rows come back here in order.",
    )
    flag_ood = bool(model.schema.get("text_columns")) and ood_available(model_path(name)) and st.checkbox(
        "Flag rows unlike the training data", value=True, key="predict_ood",
        help="Adds an `out_of_distribution` column: True where a row's text is farther from the training texts "
        "(in sentence-embedding space) than the training texts are from each other. Costs one pass of the "
        "small base encoder over the file.",
    )
    if flag_ood:  # on by default, so say what it costs where it can be unticked
        st.caption(OOD_COST)
    return RunOptions(fast, cluster if on_cluster else None, flag_ood)


@dataclass
class Scoring:
    """One press of Predict, scored in a thread of this server (:func:`run`): it goes on while the
    person uses other pages, and the page shows it in the one job panel (ui/jobs.py) until it ends."""

    id: str
    model: str
    created: float
    stop: threading.Event
    state: str = "running"  # then "done", "cancelled" or "failed" (core.jobs' words)
    message: str = ""  # why it failed
    event: dict | None = None  # the latest ProgressEvent, as a dict
    result: Result | None = None

    def status(self, _job_id: str = "") -> JobStatus:
        """What the job panel reads (core.jobs.JobStatus)."""
        return JobStatus(self.id, self.state, self.model, self.created, self.message,
                         events=[self.event] if self.event else [], kind="predict", lane=lanes.SHORT,
                         cancel_requested=self.stop.is_set() and self.state == "running")

    def score(self, work: Callable[[Callable[[ProgressEvent], None]], PredictSummary],
              finish: Callable[[PredictSummary], Result]) -> None:
        """Run ``work(on_progress)``; a cancel stops it at the next chunk (core.predict writes the
        scored file only when it is complete, so nothing is left half-written)."""
        def on_progress(event: ProgressEvent) -> None:
            if self.stop.is_set():
                raise TrainingCancelled("Cancelled; no predictions were kept.")
            self.event = event.to_dict()

        try:
            self.result = finish(work(on_progress))
        except TrainingCancelled:
            self.state = "cancelled"
        except (ValueError, RuntimeError) as exc:
            self.state, self.message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug, but the page must still say the run ended
            self.state, self.message = "failed", f"Unexpected error ({type(exc).__name__}): {exc}"
        else:
            self.state = "done"


ENDED = Scoring("", "", 0.0, threading.Event(), state="done")  # what the panel reads once the page took the run


# Rows per chunk when the page scores: the panel's bar moves once per chunk, so at 1,000 a file of
# 1,000 rows sat at "Starting" for its whole run (walk-f: 28-91 s); 200 moves it five times there
# and costs one more pandas read and model call per 200 rows (the model batches within a chunk).
PAGE_CHUNK_ROWS = 200


def _start(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread that outlives this script run (tests run it at once)."""
    threading.Thread(target=work, name="marketune-predict", daemon=True).start()


def _line(status: JobStatus) -> tuple[float, str]:
    """The panel's bar: the jobs' line plus the time left, when the scoring knows it."""
    fraction, line = progress_line(status)
    eta = (status.last_event or {}).get("eta_s")
    return fraction, line + (f" · about {duration(eta)} left" if eta is not None and fraction < 1 else "")


# How often the panel redraws while a file is scored. The scoring is a thread of this server, so
# each redraw (a fragment run that also re-reads the person's job list) takes the same process's
# time: walk-f saw 300 rows take 26 s with the usual 1.5 s polling and 9 s with 6 s (load 12-17, one
# run each, not measured idle). The bar moves once per chunk (PAGE_CHUNK_ROWS), several seconds
# apart, so a redraw every 3 s still shows each step.
PREDICT_POLL_SECONDS = 3.0

# The one job panel (ui/jobs.py): progress, Cancel with confirmation; the status is the thread's.
PANEL = JobPanel(key="predict", what=lambda status: f"scoring with **{plain(status.model_name)}**",
                 note="It runs on this server: you can switch pages and come back for the result.",
                 effect=lambda status: "keeps no predictions", line=_line,
                 cancelling=lambda status: "Cancelling… no predictions are kept.",
                 status_of=lambda job_id: st.session_state.get(RUN, ENDED).status(),
                 cancel=lambda job_id: st.session_state.get(RUN, ENDED).stop.set(),
                 poll_seconds=PREDICT_POLL_SECONDS)


def run(name: str, model: SavedModel, rows: tuple[Path, str], column_map: dict[str, str], options: RunOptions) -> None:
    """Start scoring ``rows`` (file, name) into this session's folder (:class:`Scoring`, in
    ``st.session_state[RUN]``); :func:`render_result` follows it. Everything that reads the
    session (its folder, the limits, the fast model) is read here, before the thread starts."""
    if (running := st.session_state.get(RUN)) is not None and running.state == "running":
        st.warning("A file is still being scored: wait for it, or cancel it below, before starting another.")
        return
    source, source_name = rows
    folder, cluster, limits = model_path(name), options.cluster, read_limits()
    choice = choice_of(name, rows, column_map)
    out = _session_dir() / f"predictions-{Path(source_name).stem[:40] or 'file'}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    runner = _fast_model(name, (str(folder), stamp(folder)), options.fast) if options.fast and cluster is None else model

    def work(on_progress: Callable[[ProgressEvent], None]) -> PredictSummary:
        if cluster is not None:
            return ray_predict.predict_ray(folder, source, out, address=None if cluster == "local" else cluster,
                                           fast=bool(options.fast), column_map=column_map, on_progress=on_progress,
                                           ood=options.flag_ood, limits=limits, history="page")[0]
        return predict_csv(runner, source, out, column_map=column_map, chunk_rows=PAGE_CHUNK_ROWS, on_progress=on_progress,
                           ood=ood_reference(model, folder) if options.flag_ood else None,
                           max_rows=BROWSER_SCORING_MAX_ROWS,  # more: the CLI or the cluster
                           limits=limits, history="page")

    def finish(summary: PredictSummary) -> Result:
        return Result(summary, name, output_task(model), tuple(str(c) for c in model.classes_), source_name,
                      options.fast, f"the Ray cluster ({cluster})" if cluster is not None else "", choice)

    scoring = Scoring(f"predict-{time.time_ns()}", name, time.time(), threading.Event())
    st.session_state[RUN] = scoring
    _start(lambda: scoring.score(work, finish))


def _follow_run() -> bool:
    """The run this session started: its live panel while it scores (True: nothing else to show
    yet); once it ended, its result becomes the page's (the previous result's file is removed) or
    what stopped it is said, once."""
    scoring: Scoring | None = st.session_state.get(RUN)
    if scoring is None:
        return False
    if scoring.state == "running":
        live_panel(scoring.id, PANEL)
        return True
    st.session_state.pop(RUN)
    if scoring.state == "cancelled":
        st.warning("Scoring was cancelled; no predictions were kept.")
    elif scoring.state == "failed":
        st.error(plain(in_page_words(scoring.message)))
    elif scoring.result is not None:
        previous = st.session_state.get(RESULT)
        out = scoring.result.summary.output
        if previous and previous.summary.output.parent == _session_dir() and previous.summary.output != out:
            previous.summary.output.unlink(missing_ok=True)
        st.session_state[LAST_PREDICTION_KEY] = str(out)
        st.session_state[LAST_PREDICTION_MODEL_KEY] = scoring.result.model  # the Dashboard names it
        st.session_state[RESULT] = scoring.result
    return False


def render_result(choice: tuple) -> None:
    """The running scoring's panel, or the last run's summary, notes, preview, charts,
    low-confidence review and downloads, when it was scored from the page's ``choice``
    (:func:`choice_of`); after another file, sheet, header row, column or model is chosen, a
    caption says the result is hidden until Predict is pressed (it never shows under another file)."""
    if _follow_run():
        return
    result: Result | None = st.session_state.get(RESULT)
    if result is None or not result.summary.output.is_file():
        return
    if result.choice != choice:
        st.caption(f"The last result (**{plain(result.source)}** scored by **{plain(result.model)}**) is hidden: the "
                   "file, sheet, header row, columns or model chosen above changed since. Press Predict to score these "
                   "rows.")
        return
    done, path = result.summary, result.summary.output
    st.subheader("3. Result")
    st.success(
        f"{rows_words(done.n_rows)} from **{plain(result.source)}** predicted by **{plain(result.model)}**"
        f"{' (fast, ' + result.fast + ')' if result.fast else ''}"
        f"{' on ' + plain(result.engine) if result.engine else ''} in {duration(done.seconds)} ({done.rows_per_second:,.0f} rows/s"
        # The unlike-training check embeds every row with a sentence encoder: often most of the time.
        f"{', the check for rows unlike the training data included' if done.n_out_of_distribution is not None else ''})."
    )
    if result.engine:
        st.caption(f"The scored file was written to {plain(path)} on this server; download it below.")
    if done.n_errors:
        st.warning(
            f"{rows_words(done.n_errors)} without usable input got an empty prediction and a note in "
            "the `prediction_error` column; they are kept, in their place."
        )
    else:  # the column is always written (a stable layout for scripts), so say why it is empty
        st.caption("Every row was scored: the `prediction_error` column, which names why a row could not be, is empty.")
    if done.renamed:
        st.info(plain(renamed_message(done.renamed)))
    if (n_ood := done.n_out_of_distribution) is not None:
        # A tenth of the file or more off the training ground is worth a warning, not a note.
        (st.warning if done.n_rows and n_ood / done.n_rows >= 0.1 else st.info)(plain(ood_message(n_ood, done.n_rows)))
    if done.language_warning:  # many texts in a language the model does not read (core.language_check)
        st.warning(plain(done.language_warning), icon=":material/translate:")
    st.caption(f"First {rows_words(min(PREVIEW_ROWS, done.n_rows))}:")
    preview = read_predictions(path, result.task, result.classes, nrows=PREVIEW_ROWS)
    text = preview.select_dtypes(include=["object", "string"]).columns
    preview[text] = preview[text].fillna("")  # an empty cell shows empty, not as "None"
    number_format = {
        c: st.column_config.NumberColumn(format="%.3f") for c in preview.columns if c == "confidence" or c.startswith("p_")
    }
    st.dataframe(preview, hide_index=True, column_config=number_format, key="predict_preview", placeholder="")
    overview = _overview(str(path), path.stat().st_mtime, result.task, result.classes)
    if result.task == "classification":
        _review(result, overview, number_format)
    elif result.task == "multi_label":  # rows given each tag ("" : none passed its threshold), shares of rows
        scored = overview.n_rows - overview.n_errors
        st.plotly_chart(inert(prediction_distribution(overview.label_counts, list(result.classes), n_rows=scored)),
                        key="predict_dist_chart")
        st.caption(ROWS_PER_TAG_NOTE.format(n=scored))
        render_cut_offs(result.model, result.classes, path, done.renamed,  # ui/multilabel.py: said once, here
                        given=overview.label_counts, n_rows=scored)
    else:
        st.plotly_chart(inert(value_histogram(overview.hist_edges, overview.hist_counts["all"])), key="predict_value_chart")
    _downloads(result)


def _review(result: Result, overview, number_format: dict) -> None:
    """The label and confidence charts, and the rows below the confidence slider's threshold."""
    path = result.summary.output
    left, right = st.columns(2)
    threshold = st.session_state.get("predict_conf_threshold", 0.6)  # the slider below, drawn on the chart
    left.plotly_chart(inert(prediction_distribution(overview.label_counts, list(result.classes))), key="predict_dist_chart")
    right.plotly_chart(
        inert(confidence_histogram(overview.hist_edges, overview.hist_counts, list(result.classes), threshold)),
        key="predict_conf_chart",
    )
    st.subheader("Review the rows the model is least sure about")
    threshold = st.slider("Show rows with confidence below", 0.0, 1.0, 0.6, 0.05, key="predict_conf_threshold")
    low, n_low = _low_confidence(str(path), path.stat().st_mtime, result.classes, threshold)
    share = n_low / result.summary.n_rows if result.summary.n_rows else 0
    st.caption(
        f"{rows_words(n_low)} ({share:.1%}) {'has' if n_low == 1 else 'have'} confidence below {threshold:.0%}"
        + (f"; the {len(low):,} least confident are shown, `row` is the row's number in the file "
           f"({ROW_NUMBERING})." if n_low else ".")
    )
    if n_low:
        row_help = st.column_config.NumberColumn("row", help=f"The row's position in the file ({ROW_NUMBERING})")
        st.dataframe(low, hide_index=True, column_config={**number_format, "row": row_help}, key="predict_low_table",
                     placeholder="")
        csv_download("Download these rows (CSV)", low, file_name="low_confidence_rows.csv", key="predict_download_low")


def _downloads(result: Result) -> None:
    """CSV always (formula-like cells made inert), Excel up to XLSX_MAX_ROWS, and a link to the Dashboard."""
    path, n_rows = result.summary.output, result.summary.n_rows
    st.subheader("Download")
    download_button(
        "Download CSV", lambda: neutralise_csv_file(path), file_name=f"{path.stem}.csv", mime="text/csv",
        key="predict_download_csv", type="primary",
    )
    if n_rows >= XLSX_SHEET_ROWS:
        st.info(
            f"An Excel sheet holds at most {XLSX_SHEET_ROWS:,} rows (header included); this result has "
            f"{n_rows:,}, so it is offered as CSV only."
        )
    elif n_rows > XLSX_MAX_ROWS:
        st.info(
            f"Excel download is offered up to {XLSX_MAX_ROWS:,} rows (Excel itself stops at "
            f"{XLSX_SHEET_ROWS:,}, and a workbook this large takes minutes to build): use the CSV."
        )
    else:
        download_button(
            "Download Excel (.xlsx)", lambda: to_xlsx_bytes(read_predictions(path, result.task, result.classes)),
            file_name=f"{path.stem}.xlsx", key="predict_download_xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    st.caption(
        "In the CSV, a text cell that a spreadsheet would run as a formula (such as `=HYPERLINK(…)`, "
        "`+1+1` or `@SUM(…)`; not `@united thanks` nor `-3.5`) starts with an apostrophe. The Excel "
        "file keeps every text exactly, as text cells that are never run; numbers stay numbers."
    )
    _link("dashboard.py", "Explore these predictions on the Dashboard")
