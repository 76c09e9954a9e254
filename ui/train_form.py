"""The Train page's form: data, columns, settings and the Train button (pages/train.py calls
the sections in order). Every choice lives in session state under a ``train_`` key; the
choices survive a page switch and a replaced file (:func:`restore_settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import (
    ConfigError,
    MappingReport,
    TrainConfig,
    build_texts,
    choose_method,
    jobs,  # jobs.start_job looked up at the click: tests replace it
    lanes,
    resolve_base_model,
    validate_mapping,
    validate_name,
    workspace,
)
from core.base_models import needs_build, training_defaults
from core.charts.evaluation import label_distribution_chart, target_histogram_chart
from core.columns import (
    column_summary,
    default_model_name,
    suggest_label_column,
    suggest_text_columns,
    training_samples,
)
from core.config import default_of, form_range
from core.data import TAG_LISTS, suggest_task
from core.multilabel import ROWS_PER_TAG_NOTE
from core.reading import read_table
from core.registry import model_path
from core.words import rows_words
from ui.account import estimate_line, queue_summary
from ui.base_model_picker import base_model_picker
from ui.figures import inert
from ui.markdown import plain
from ui.multilabel import multi_label_toggle
from ui.state import TRAIN_DATA_KEY, TrainData, train_data
from ui.upload import how_read_line, table_upload
from ui.zeroshot import TITLE as ZS_TITLE

SAMPLES = training_samples(Path(__file__).resolve().parent.parent / "sample_data")
METHODS = {  # what the Method radio offers, in words
    "auto": "Auto (recommended)",
    "fewshot": "Few-shot",
    "full": "Full fine-tuning",
    "lora": "LoRA",
}
METHOD_HELP = (
    "**Auto** picks few-shot for small labelled sets and full fine-tuning for larger ones (shown below). "
    "**Few-shot**: a sentence encoder plus a small classifier; best with a few hundred labelled rows per class. "
    "**Full fine-tuning**: every weight of the base model is trained. "
    "**LoRA**: only small adapter matrices are trained (a tiny share of the weights), so training needs "
    "less memory and the trained part is small; it is usually a little less accurate than full fine-tuning."
)
PRESETS = {  # quality/speed presets: epochs and tokens kept per text
    "Fast": {"train_epochs": 1.0, "train_max_length": 64},
    "Balanced": {"train_epochs": default_of("epochs"), "train_max_length": default_of("max_length")},
    "Best": {"train_epochs": 5.0, "train_max_length": 128},
}
# The form's settings: widget key -> TrainConfig field; their defaults, and the number boxes'
# bounds, are TrainConfig's own (field metadata, core.config.form_range), as in the CLI.
SETTING_FIELDS = {
    "train_epochs": "epochs",
    "train_learning_rate": "learning_rate",
    "train_batch_size": "batch_size",
    "train_max_length": "max_length",
    "train_method": "method",
    "train_class_weighting": "class_weighting",
    "train_refit": "refit_on_all_rows",
    "train_val_fraction": "val_fraction",
    "train_test_fraction": "test_fraction",
    "train_seed": "seed",
    "train_patience": "early_stopping_patience",
}
ADVANCED_DEFAULTS = {
    **{key: default_of(name) for key, name in SETTING_FIELDS.items()},
    "train_learning_rate": TrainConfig(method="full").effective_learning_rate,  # shown; sent only once typed
    "train_lr_custom": False,  # True once the user typed a learning rate (then it is sent as is)
    "train_preset": "Balanced",
    **PRESETS["Balanced"],
}
MAPPING_KEYS = (
    "train_text_cols",
    "train_profile_cols",
    "train_label_col",
    "train_task",
    "train_model_name",
    "train_base_select",  # ui.base_model_picker's widgets
    "train_base_custom",
)
ss = st.session_state


def restore_settings() -> None:
    """Put the kept choices back before any widget is drawn (call first on every run).

    Streamlit forgets a widget's value when a run does not draw it (another page was open), so
    the choices are kept in a plain dict as well. When the last run did not draw the settings
    (no file: e.g. the moment between removing a file and adding the next), the browser forgets
    their values and mounts them afresh next time. The browser may still have sent its old
    values with the new file, so Streamlit believes they are on screen and does not send them;
    a fresh widget then shows its own default, which for these number inputs is min_value
    (batch 1, fractions 0.01, seed 0), and the next click sent those to training. Setting the
    kept values again makes Streamlit send them to the browser.
    """
    kept = ss.setdefault("train_kept", dict(ADVANCED_DEFAULTS))
    settings_were_shown = ss.pop("train_settings_shown", False)
    for k, v in kept.items():
        if k not in ss or not settings_were_shown:
            ss[k] = v


def remember_settings() -> None:
    """Keep the choices drawn in this run (call last, only in a run that drew the settings)."""
    ss["train_kept"].update({k: ss[k] for k in (*ADVANCED_DEFAULTS, *MAPPING_KEYS) if k in ss})
    ss["train_settings_shown"] = True  # read by restore_settings in the next run


def apply_preset() -> None:
    ss.update(PRESETS[ss["train_preset"]])


def method_changed() -> None:
    ss["train_lr_custom"] = False  # a new method brings its own default learning rate


def learning_rate_edited() -> None:
    ss["train_lr_custom"] = True


def fresh_model_name(file_name: str) -> str:
    """``<file stem>-<date>``, with -2, -3, ... added while a saved model has that name."""
    name = default_model_name(Path(file_name).stem)
    n = 1
    while model_path(name if n == 1 else f"{name}-{n}").exists():
        n += 1
    return name if n == 1 else f"{name}-{n}"


def _use_data(key: str, name: str, loaded) -> None:
    """Show a table read from an upload or a sample and reset the mapping to suggested defaults."""
    ss.pop("train_data_error", None)
    df = loaded.frame
    ss[TRAIN_DATA_KEY] = TrainData(key, name, df, loaded.describe(), column_summary(df))
    texts = suggest_text_columns(df)
    ss.update(
        train_text_cols=texts,
        train_profile_cols=[],
        train_label_col=suggest_label_column(df, texts),
        train_model_name=fresh_model_name(name),
    )
    ss.pop("train_task_for", None)  # the task is suggested again for the new data


def _use_sample(path: Path) -> None:
    try:
        loaded = read_table(path, path.name)
    except ValueError as exc:
        ss.pop(TRAIN_DATA_KEY, None)
        ss["train_data_error"] = str(exc)
        return
    _use_data(f"sample:{path}", path.name, loaded)


def data_section() -> TrainData | None:
    """Section 1: the uploader and the sample buttons; the table shown, if any."""
    st.subheader("1. Data")
    # What is shown follows the uploader: a new file (or sheet) replaces the data, removing the file
    # removes it. Derived here in the page body, so the order of widget callbacks cannot matter.
    uploaded = table_upload("Upload a CSV or Excel file", key="train_upload")
    if uploaded is not None and ss.get("train_seen_upload") != uploaded.ident:
        ss["train_seen_upload"] = uploaded.ident  # a new upload replaces whatever was shown
        _use_data(uploaded.ident, uploaded.name, uploaded.table)
    elif uploaded is None:
        ss.pop("train_seen_upload", None)  # the same file uploaded again counts as new
        if getattr(train_data(), "key", "").startswith("upload:"):
            ss.pop(TRAIN_DATA_KEY)  # the user removed the file (or it could not be read)
    st.caption("Or try a bundled sample:")
    sample_cols = st.columns(max(1, len(SAMPLES)))
    for col, (path, (short, description)) in zip(sample_cols, SAMPLES.items()):
        if col.button(short, key=f"train_sample_{path.stem}", icon=":material/dataset:", help=description, width="stretch"):
            _use_sample(path)
    if ss.get("train_data_error"):
        st.error(plain(ss["train_data_error"]))

    data = train_data()
    if data is not None and ss.pop("train_bump_name", False):
        ss["train_model_name"] = fresh_model_name(data.name)  # the last name is taken now
    return data


@dataclass(frozen=True)
class Columns:
    """Section 2's answers. ``df`` is the table after the data-health check (which may drop or
    relabel rows); ``mapping`` is None while the choices do not make a valid TrainConfig;
    ``problems``: what stops training, as said on the page."""

    df: pd.DataFrame
    text_cols: list[str]
    profile_cols: list[str]
    label_col: str | None
    task: str
    merge_variants: bool
    mapping: TrainConfig | None
    report: MappingReport | None
    multi_label: bool = False  # several tags per row (ui/multilabel.py)
    label_sep: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Section 3's answers: the config to train with (None while the columns are not valid), the
    model name, and what stops training (each said on the page where it was found)."""

    config: TrainConfig | None
    model_name: str
    problems: tuple[str, ...] = ()


def refuse_too_few_columns(data: TrainData) -> bool:
    """Say so and return True when the table has fewer than two columns (a workbook's notes or
    cover sheet, a file of texts without labels): training needs a text column and a label."""
    df = data.frame
    if len(df.columns) >= 2:
        return False
    found = f"one column, {plain(repr(str(df.columns[0])))}" if len(df.columns) else "no columns"
    sheet = " If this is a notes or cover sheet, choose the data sheet in the Sheet box above." if (
        "sheet" in data.how_read.lower()) else ""
    if len(df.columns) == 1 and not sheet:
        # Most likely texts without labels: the right path is the zero-shot section just below,
        # so not a red error above it (round-7 walk).
        st.info(f"**{plain(data.name)}** ({plain(data.how_read)}) has {found} and no labels, so there is nothing to "
                f"train on yet. Build a model from your category names in **{ZS_TITLE}** below, or add a label "
                "column to the file and upload it again.", icon=":material/info:")
        return True
    st.error(f"**{plain(data.name)}** ({plain(data.how_read)}) has {found}; training needs at least two: the text "
             f"the model reads and the label it learns.{sheet}")
    return True


def columns_section(data: TrainData) -> Columns:
    """The preview and section 2: which columns to read and learn, and what is wrong with them."""
    mapping = report = None
    problems: list[str] = []
    df = data.frame
    st.markdown(how_read_line(data.name, data.how_read, len(df), len(df.columns)))  # as Predict and the Dashboard
    st.dataframe(df.head(20), key="train_preview", placeholder="")  # an empty cell shows empty, not "None"
    with st.expander("Column summary"):
        st.dataframe(
            data.summary,
            hide_index=True,
            key="train_summary",
            column_config={"non-empty": st.column_config.ProgressColumn("non-empty", format="percent")},
        )

    # ------------------------------------------------------------------------- 2. columns
    st.subheader("2. Columns")
    left, right = st.columns(2)
    with left:
        text_cols = st.multiselect("Text column(s): what the model reads", list(df.columns), key="train_text_cols")
        text_slot = st.container()
        profile_cols = st.multiselect(
            "Profile columns (optional): written into the model input",
            list(df.columns),
            key="train_profile_cols",
            help="E.g. age or segment: 'age: 34 | review: ...'.",
        )
        profile_slot = st.container()
    with right:
        label_col = st.selectbox(
            "Label column: what the model learns to predict",
            list(df.columns),
            key="train_label_col",
        )
        label_slot = st.container()
        if ss.get("train_task_for") != (data.key, label_col):
            # A new file or label: suggest the task again (the user's own choice stands until then).
            ss["train_task_for"] = (data.key, label_col)
            # In the page body, not a widget callback: a callback may run in the rerun where the
            # file it would read has just been replaced or removed (the old KeyError on "train_data").
            ss["train_task"] = suggest_task(df, label_col)
        task = st.radio(
            "Task",
            ["classification", "regression"],
            key="train_task",
            horizontal=True,
            help="Classification: labels such as positive/negative. Regression: a number such as a rating.",
        )
        task_slot = st.container()
        merge_variants = task != "classification" or st.checkbox(
            "Merge labels that differ only in case", value=True, key="train_merge_label_variants",
            help="'positive', 'Positive' and 'POSITIVE' become one class, spelled as most rows spell it.",
        )
        multi_label, refused = multi_label_toggle(df, label_col, data.key) if task == "classification" else (False, None)
        problems += [refused] if refused else []  # tag lists unticked: refused, as `train --no-multi-label`
        label_sep = None  # as the CLI without --label-sep: training reads the separator(s) itself (core.multilabel.detect)
    slots = {"text_columns": text_slot, "profile_columns": profile_slot, "label_column": label_slot, "task": task_slot}
    try:
        mapping = TrainConfig(
            text_columns=text_cols, label_column=label_col or "", profile_columns=profile_cols, task=task,
            merge_label_variants=merge_variants, multi_label=multi_label, label_sep=label_sep,
        )
    except ConfigError as exc:
        slots.get(exc.field, label_slot).error(plain(exc))
        problems.append(str(exc))
    else:
        report = validate_mapping(df, mapping)
        for problem in report.errors:
            slots.get(problem.field, label_slot).error(plain(problem.message))
        for problem in report.warnings:
            if problem.kind != TAG_LISTS:  # the tick box says that one in the page's words
                slots.get(problem.field, label_slot).warning(plain(problem.message))
        problems += [p.message for p in report.errors]
        summary = st.container()  # filled below, once the check panel has said which rows training gets
        if report.ok:  # the data-health check; may drop or relabel rows (ui/check.py)
            from ui.check import render_check

            checked = render_check(df, mapping, key="train_check", data_name=data.name)
            if checked is not df:  # rows dropped or relabelled: count classes and rows again
                df, report = checked, validate_mapping(checked, mapping)
                problems += [p.message for p in report.errors]
                for problem in report.errors:  # e.g. dropping flagged rows left a class too small
                    summary.error(f"After the data check's changes: {plain(problem.message)}")
        with summary:
            after = " after the data check's changes" if df is not data.frame else ""
            if refused:  # tag lists, box unticked: no chart or count of the joined values as classes (walk)
                st.caption(f"No classes are counted: while some labels join several tags, the "
                           f"{rows_words(report.n_rows_used)}{after} cannot be used as one class each. Tick **Several "
                           "tags per row (multi-label)** above to count and learn each tag on its own.")
            elif report.class_counts and task == "classification" and multi_label:  # rows carrying each tag
                st.plotly_chart(inert(label_distribution_chart(report.class_counts, n_rows=report.n_rows_used)),
                                key="train_label_chart")
                st.caption(ROWS_PER_TAG_NOTE.format(n=report.n_rows_used))
            elif report.class_counts and task == "classification":
                st.plotly_chart(inert(label_distribution_chart(report.class_counts)), key="train_label_chart")
            elif task == "regression" and label_col:
                st.plotly_chart(inert(target_histogram_chart(df[label_col])), key="train_label_chart")
            if report.n_dropped:
                st.info(f"{rows_words(report.n_dropped)} will be left out{after} — {plain(report.summary())}.")
            elif report.ok and not refused:
                st.caption(f"All {report.n_rows_used:,} rows are usable{after}.")
    return Columns(df, text_cols, profile_cols, label_col, task, merge_variants, mapping, report, multi_label, label_sep,
                   tuple(problems))


def _training_now(model_name: str) -> bool:
    """This session's job is training ``model_name`` now: the folder there is its best so far
    (core.pipeline saves it while later candidates run), not a name taken by another model."""
    job_id = st.session_state.get("train_job_id")
    if not job_id:
        return False
    try:
        status = jobs.job_status(job_id, with_events=False)
    except ValueError:
        return False
    return status.active and status.model_name == model_name


def settings_section(cols: Columns) -> Settings:
    """Section 3: base model, name, method and the advanced settings (:class:`Settings`)."""
    df, report, config = cols.df, cols.report, None
    # ------------------------------------------------------------------------- 3. settings
    st.subheader("3. Settings")
    left, right = st.columns(2)
    with left:
        sample_texts = build_texts(df.head(2000), cols.text_cols, cols.profile_cols) if report is not None and report.ok else []
        base_name = base_model_picker(sample_texts, key="train_base")
    with right:
        model_name, name_problem = _model_name_input()
        _method_input(cols, base_name)
    problems = [name_problem] if name_problem else []
    try:
        workspace.current().check_base_model(base_name)
        if not needs_build(base_name):  # a catalog model not built yet: the job builds it first
            resolve_base_model(base_name)
    except ValueError as exc:  # the picker has said why (not installed, no such folder, not offered)
        problems.append(str(exc) if base_name else "Choose a base model under \"Other\", or one from the list.")
    limits = workspace.current().job_limits  # a team server's, set by its admin (none on a laptop)
    if limits.active:
        st.caption(limits.sentence())
    _advanced_settings()
    if report is not None:
        try:
            config = _config_from_state(cols, base_name)
        except ValueError as exc:
            st.error(plain(exc))
            problems.append(str(exc))
    if config is not None:  # refused here, before the click: core.jobs would refuse the job the same way
        for problem in limits.problems(rows=len(df), epochs=config.epochs, max_length=config.max_length):
            st.error(problem)
            problems.append(problem)
    return Settings(config, model_name, tuple(problems))


def _model_name_input() -> tuple[str, str]:
    """The model name box and what is wrong with the name ("" when nothing): a name that is
    invalid or taken is said under it."""
    model_name = st.text_input("Model name", key="train_model_name", max_chars=64)
    try:
        validate_name(model_name)
        if model_path(model_name).exists() and not _training_now(model_name):
            raise ValueError(f"A model named '{model_name}' already exists; choose another name.")
    except ValueError as exc:
        st.error(plain(exc))
        return model_name, str(exc)
    return model_name, ""


def _method_input(cols: Columns, base_name: str) -> None:
    """The preset and method radios, what auto would pick, and the learning rate that follows the method."""
    report, task = cols.report, cols.task
    st.radio(
        "Quality / speed",
        list(PRESETS),
        key="train_preset",
        horizontal=True,
        on_change=apply_preset,
        help="Fast: 1 epoch, 64 tokens. Balanced: 3 epochs. Best: 5 epochs. Fine-tune them below.",
    )
    method = st.radio(
        "Method",
        list(METHODS),
        format_func=METHODS.get,
        key="train_method",
        horizontal=True,
        on_change=method_changed,
        help=METHOD_HELP,
    )
    auto_pick = None
    if report is not None and report.ok:
        counts = report.class_counts if task == "classification" else {}
        auto_pick, auto_reason = choose_method(
            min(counts.values()) if counts else 0, report.n_rows_used, task=task, n_classes=len(counts) or None,
            tags=cols.multi_label,
        )
        if method == "auto":
            st.caption(f"Auto will use **{METHODS[auto_pick].lower()}** for this data. {plain(auto_reason)}")
    if method == "lora":
        st.caption(
            "LoRA trains small adapters instead of every weight (about 4% of them): less memory, a "
            "little less accuracy. Measured on 3,000 reviews: 0.922 vs 0.927 macro-F1 for full "
            "fine-tuning on balanced sentiment, 0.619 vs 0.648 on 3 imbalanced classes with class "
            "weighting on (the default). The adapters are merged into the "
            "saved model, so it predicts like any other."
        )
    if not ss.get("train_lr_custom"):
        # The learning rate follows the method (auto: the one it will pick) until the user types one.
        used = auto_pick if method == "auto" and auto_pick else method
        ss["train_learning_rate"] = TrainConfig(
            **{**training_defaults(base_name), "method": used}
        ).effective_learning_rate


def _advanced_settings() -> None:
    """The advanced settings expander (the widgets keep their values in session state)."""
    with st.expander("Advanced settings"):
        a, b, c = st.columns(3)
        a.checkbox(
            "Weight classes by inverse frequency",
            key="train_class_weighting",
            help="On by default: rare classes count as much as common ones, so the model does not learn to "
            "predict the common class only. Makes no difference when the classes are balanced.",
        )
        a.checkbox(
            "Refit on train + validation",
            key="train_refit",
            help="After choosing, retrain the transformer on the training and validation rows for the same number "
            "of epochs, as a plain fine-tune does (about as long again; the model trained on the training rows is "
            "saved and usable meanwhile). The test rows stay held out. The other kinds are always refitted (in "
            "seconds): TF-IDF on every labelled row, the embeddings, the soft vote and few-shot on train + "
            "validation.",
        )
        b.number_input("Epochs", *form_range("epochs"), step=0.5, key="train_epochs")
        b.number_input(
            "Learning rate",
            *form_range("learning_rate"),
            step=1e-5,
            format="%.1e",
            key="train_learning_rate",
            on_change=learning_rate_edited,
            help="Follows the method (its default) until you type one.",
        )
        b.number_input("Batch size", *form_range("batch_size"), step=8, key="train_batch_size")
        b.number_input("Max length (tokens per text)", *form_range("max_length"), step=16, key="train_max_length")
        c.number_input("Validation fraction", *form_range("val_fraction"), step=0.05, key="train_val_fraction")
        c.number_input("Test fraction", *form_range("test_fraction"), step=0.05, key="train_test_fraction")
        c.number_input("Seed", *form_range("seed"), step=1, key="train_seed")
        c.number_input(
            "Early stopping patience",
            *form_range("early_stopping_patience"),
            step=1,
            key="train_patience",
            help="Stop after this many validation checks (2 per epoch) without improvement.",
        )


def _typed(name: str, value: Any) -> Any:
    """A widget's value as the type of TrainConfig's default for ``name`` (a number box may give 3 for 3.0)."""
    default = default_of(name)
    return type(default)(value) if isinstance(default, (bool, int, float)) else value


def _config_from_state(cols: Columns, base_name: str) -> TrainConfig:
    """The TrainConfig of the form's choices; raises ``ValueError`` (TrainConfig's own check)."""
    chosen: dict[str, Any] = {
        name: _typed(name, ss[key]) for key, name in SETTING_FIELDS.items() if key != "train_learning_rate"
    }
    chosen.update(text_columns=cols.text_cols, label_column=cols.label_col, profile_columns=cols.profile_cols,
                  task=cols.task, merge_label_variants=cols.merge_variants, base_model=base_name,
                  multi_label=cols.multi_label, label_sep=cols.label_sep)
    if ss.get("train_lr_custom"):
        chosen["learning_rate"] = float(ss["train_learning_rate"])
    # else no learning rate is sent: training uses the default of the method it runs
    # (for auto, of the method auto picks), as the CLI does.
    # The base model's preset (e.g. frozen embeddings for a large vocabulary) under the choices.
    return TrainConfig(**{**training_defaults(base_name), **chosen})


def start_section(df: pd.DataFrame, settings: Settings, problems: tuple[str, ...]) -> None:
    """Section 4: the Train button (disabled while there are ``problems``: every section's)."""
    config, model_name = settings.config, settings.model_name
    # ------------------------------------------------------------------------- 4. start
    queue = jobs.server_queue()  # every person's jobs of every kind: the counts the admin's table shows
    lane = estimate = None
    if config is not None and config.label_column in df.columns:
        minutes = workspace.current().job_limits.max_job_minutes
        cost = lanes.estimate({"kind": "train", "config": config.to_dict()}, df, minutes * 60 if minutes else None)
        lane, estimate = cost.lane, cost.seconds
    # Before anything is queued the estimate still matters (walk: it showed only behind a running job).
    line = queue_summary(queue, lane, estimate) if queue else estimate_line(estimate, "This training")
    if line:
        st.caption(line)
    if problems:
        st.caption("Fix the problems above to start training.")
    if st.button(
        "Train",
        key="train_start",
        type="primary",
        disabled=bool(problems) or config is None,
        icon=":material/model_training:",
    ):
        columns = list(dict.fromkeys([*config.profile_columns, *config.text_columns, config.label_column]))
        try:
            ss["train_job_id"] = jobs.start_job(df[columns], config, model_name)
            ss["train_last_request"] = (df[columns], config, model_name)
        except ValueError as exc:
            st.error(plain(exc))
