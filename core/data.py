"""Checking a column mapping, label hygiene, building model inputs, splitting.

Reading files is core/reading.py's. Everything here is pure pandas/numpy and raises
``ValueError`` with a message meant for the person who uploaded the file: what was expected
and what was found.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig
from .reading import missing_columns_message, non_empty, to_number
from .words import rows_words

# A numeric label with more distinct values than this is probably a quantity, not a class.
MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION = 20
# ... when at most this share of its values are not numbers ('n/a', a word): still a quantity.
MAX_NOT_NUMBER_SHARE = 0.1
MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test
FEW_ROWS_PER_CLASS = 10  # below this a class trains, with a warning that its scores are rough
MIN_DISTINCT_FOR_IDENTIFIER = 5  # a value on every row of 5+ rows is an id, however few rows
MAX_SMALL_CLASSES_LISTED = 5  # classes named one by one as too small; the rest are counted
SPLIT_NAMES = ("train", "validation", "test")


# --------------------------------------------------------------------------- column mapping


TAG_LISTS = "tag_lists"  # Problem.kind of the warning that the label column holds several tags per row


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping; ``field`` names the control it concerns."""

    field: str  # "text_columns", "label_column", "profile_columns", "split_column" or "task"
    message: str
    # What it is about, where a caller says it in its own words instead: TAG_LISTS (the label
    # column holds several tags per row; the Train page's tick box and the CLI's check say that).
    kind: str = ""


@dataclass
class MappingReport:
    """What :func:`validate_mapping` found. Training may start only when ``errors`` is empty."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    n_rows_in: int = 0
    n_rows_used: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> row count
    class_counts: dict[str, int] = field(default_factory=dict)
    suggested_task: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def errors_for(self, field_name: str) -> list[str]:
        return [p.message for p in self.errors if p.field == field_name]

    def summary(self) -> str:
        parts = [f"{self.n_rows_used:,} of {self.n_rows_in:,} rows usable"]
        parts += [f"{n:,} dropped: {why}" for why, n in self.dropped.items() if n]
        return "; ".join(parts)


# --------------------------------------------------------------------------- label hygiene

# Characters that show as nothing but make "positive" and "positive\u200b" two classes: zero-width
# space/joiners, word joiner, BOM, soft hyphen, direction marks and embeddings.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069\u180e]")
_ODD_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\\s]+")


def clean_label(value: Any) -> str:
    """One label cell as the class name training uses; "" for a missing cell.

    Numbers keep their own spelling without a float's '.0' (1.0 -> "1", so a column of 0/1
    with blanks, which pandas reads as floats, still has classes "0" and "1"); booleans are
    "True"/"False"; text is NFC-normalised, invisible characters (zero-width space, BOM, NBSP's
    kin, direction marks) removed, runs of whitespace made one space and outer whitespace cut.
    Case is kept: merging case variants is :func:`clean_labels`'s choice.
    """
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = unicodedata.normalize("NFC", str(value))
    text = _INVISIBLE.sub("", text)
    return _ODD_SPACE.sub(" ", text).strip()


def label_variants(series: pd.Series, *, merge_case: bool = True) -> dict[str, list[str]]:
    """Spellings of one class that differ only in case, whitespace, Unicode normalisation or
    invisible characters: ``{canonical: [variant, ...]}``, for classes with such variants only.

    The canonical spelling is the most frequent cleaned spelling of the group (ties: the one
    seen first); variants are the distinct raw cell values (as strings, in order of first
    appearance) that are not exactly it. With ``merge_case=False`` only case-preserving
    clean-ups count (``Positive`` stays its own class).
    """
    raw = [v for v in series.tolist() if clean_label(v)]
    cleaned = [clean_label(v) for v in raw]
    canonical = _canonical_spellings(pd.Series(cleaned, dtype=object), merge_case)
    variants: dict[str, dict[str, None]] = {}  # canonical -> variants, in order of first appearance
    for value, c in zip(raw, cleaned):
        spelled = value if isinstance(value, str) else c
        if spelled != canonical[c]:
            variants.setdefault(canonical[c], {})[spelled] = None
    return {c: list(found) for c, found in variants.items()}


def clean_labels(series: pd.Series, *, merge_case: bool = True) -> pd.Series:
    """``series`` with every label cleaned by :func:`clean_label` and, with ``merge_case``,
    case variants spelled as their group's most frequent spelling; missing labels are NaN."""
    cleaned = series.map(clean_label)
    if merge_case:
        canonical = _canonical_spellings(cleaned, merge_case)
        cleaned = cleaned.map(lambda c: canonical.get(c, c))
    return cleaned.where(cleaned != "", np.nan)


def _canonical_spellings(cleaned: pd.Series, merge_case: bool) -> dict[str, str]:
    """Each non-empty spelling of ``cleaned`` (labels as :func:`clean_label` gives them) -> its
    class's spelling: the most frequent of the spellings equal to it (ignoring case with
    ``merge_case``); ties: the one seen first."""
    counts = cleaned[cleaned != ""].value_counts(sort=False).to_dict()
    groups: dict[str, list[str]] = {}  # key -> spellings in order of first appearance
    for spelling in counts:
        groups.setdefault(spelling.casefold() if merge_case else spelling, []).append(spelling)
    return {c: max(spellings, key=counts.get) for spellings in groups.values() for c in spellings}


def _variants_message(variants: dict[str, list[str]], merge_case: bool) -> str:
    listed = "; ".join(f"{', '.join(map(repr, found))} -> {canonical!r}" for canonical, found in variants.items())
    keep_apart = (
        " To keep classes that differ in case apart, untick 'Merge labels that differ only in case' (CLI: --no-merge-label-case)."
        if merge_case else ""
    )
    return f"Labels that look like one class were read as one (case, spaces or invisible characters): {listed}.{keep_apart}"


# How Marketune numbers a table's data rows, everywhere (messages, ISSUES.csv, the check's table,
# Predict's review table, the Label page, the Dashboard): from 0, the row's position in the table as
# read (pandas' index), so a number in a message finds the same row in every table and in the CLI's
# output. Pages say so with ROW_NUMBERING. A position in the file itself (the header's sheet row, a
# CSV line, "--header-row N") is numbered as Excel and editors number them: POSITION_NUMBERING.
ROW_NUMBERING = "0 = the first row after the header"


def _row_numbers(mask: pd.Series | np.ndarray, limit: int = 10) -> str:
    """"row(s) 3, 17 (0 = the first row after the header)": the rows of a boolean mask numbered as
    everywhere else in Marketune (:data:`ROW_NUMBERING`), so a number in a message finds the same
    row there."""
    rows = np.flatnonzero(np.asarray(mask))
    listed = ", ".join(map(str, rows[:limit]))
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row(s) {listed}{more} ({ROW_NUMBERING})"


def validate_mapping(df: pd.DataFrame, config: TrainConfig) -> MappingReport:
    """Check that ``config``'s columns fit ``df`` before any training starts.

    Rows with no text in any text column, or no label, are dropped and counted in the report.
    """
    report = MappingReport(n_rows_in=len(df))
    _check_columns_exist(df, config, report)
    if report.errors:
        return report

    text_present = _text_present(df, config.text_columns)
    _check_text_columns(df, config, report, text_present)
    raw_label = df[config.label_column]
    merge_case = getattr(config, "merge_label_variants", True)
    # What training will see as classes; several tags per row: case is merged per tag (_check_tags),
    # never per cell, which would make new tags ('anger|joy' -> 'Anger|Joy').
    label = clean_labels(raw_label, merge_case=merge_case and not getattr(config, "multi_label", False))
    label_present = label.notna()
    report.dropped["no text"] = int((~text_present).sum())
    report.dropped["no label"] = int((text_present & ~label_present).sum())
    keep = text_present & label_present
    number = to_number(raw_label)

    if config.task == "regression":
        keep = _check_regression_labels(report, config, raw_label, number, keep)
    elif getattr(config, "multi_label", False):
        _check_tags(report, label[keep], config)
    else:
        _check_class_labels(report, config, raw_label, label, number[keep], keep, merge_case)
    if config.split_column:
        _check_split_values(df, config, keep, report)
    report.n_rows_used = int(keep.sum())
    report.dropped = {k: v for k, v in report.dropped.items() if v}
    return report


def _check_columns_exist(df: pd.DataFrame, config: TrainConfig, report: MappingReport) -> None:
    """Errors for chosen columns that are not in ``df`` or hold two roles."""
    columns = set(df.columns)
    roles = [("text_columns", c, "Column") for c in config.text_columns]
    roles += [("profile_columns", c, "Column") for c in config.profile_columns]
    for kind, name, what in [*roles, ("label_column", config.label_column, "Label column")]:
        if name not in columns:
            report.errors.append(Problem(kind, missing_columns_message(
                [name], df.columns, lead=f"{what} '{name}' is not in the file")))
    overlap = set(config.profile_columns) & (set(config.text_columns) | {config.label_column})
    if overlap:
        report.errors.append(
            Problem("profile_columns", f"Column(s) {sorted(overlap)} cannot be both a profile column and a text/label column.")
        )
    if config.split_column and config.split_column not in columns:
        report.errors.append(Problem("split_column", missing_columns_message(
            [config.split_column], df.columns, lead=f"Split column '{config.split_column}' is not in the file")))


def _check_text_columns(df: pd.DataFrame, config: TrainConfig, report: MappingReport, text_present: pd.Series) -> None:
    """An error when most rows have no text; a warning when the "text" holds a few categories."""
    if text_present.mean() < 0.5:
        report.errors.append(
            Problem(
                "text_columns",
                f"Only {text_present.mean():.0%} of rows have text in {list(config.text_columns)}; "
                "expected mostly non-empty text. Is this the right column?",
            )
        )
    categorical = [c for c in config.text_columns if _looks_like_categories(df[c])]
    if categorical and len(categorical) == len(config.text_columns):
        examples = ", ".join(repr(str(v)) for v in df[categorical[0]].dropna().astype(str).value_counts().index[:3])
        report.warnings.append(Problem(
            "text_columns",
            f"{', '.join(repr(c) for c in categorical)} hold(s) a few short categories (e.g. {examples}), not free "
            "text, so a language model has little to read. Use such columns as profile columns beside a real text "
            "column, or, with profile columns only, the Targeting page (gradient boosting on the profile).",
        ))


def _check_regression_labels(
    report: MappingReport, config: TrainConfig, raw_label: pd.Series, number: pd.Series, keep: pd.Series
) -> pd.Series:
    """Rows whose label is no finite number are dropped (named in a warning); returns the rows kept."""
    not_number = keep & number.isna()
    report.dropped["label is not a number"] = int(not_number.sum())
    # inf, -inf and 1e400 (read as inf) are numbers to pandas but no target to learn from.
    infinite = keep & number.notna() & ~np.isfinite(number)
    report.dropped["label is not a finite number"] = int(infinite.sum())
    if infinite.any():
        examples = sorted({str(v).strip() for v in raw_label[infinite]})[:5]
        report.warnings.append(Problem(
            "label_column",
            f"{int(infinite.sum())} row(s) have a label that is not a finite number ({', '.join(examples)}) "
            f"and are left out of training: {_row_numbers(infinite)}.",
        ))
    if not_number.any():
        examples = list(dict.fromkeys(str(v).strip() for v in raw_label[not_number]))[:5]
        comma = [v for v in examples if re.fullmatch(r"[+-]?\d[\d. ]*,\d+", v)]
        why = (
            f" Some use a decimal comma ({', '.join(comma[:3])}); a column is read with a decimal comma only "
            "when every value in it parses that way, so fix the other values or save the file with decimal points."
            if comma else ""
        )
        report.warnings.append(Problem(
            "label_column",
            f"{int(not_number.sum())} row(s) have a label that is not a number ({', '.join(map(repr, examples))}) "
            f"and are left out of training: {_row_numbers(not_number)}.{why}",
        ))
    keep &= number.notna() & np.isfinite(number.fillna(0))
    if _looks_like_numeric_identifier(number[keep]):
        report.errors.append(_identifier_problem(config.label_column, number[keep]))
    elif int(keep.sum()) < 10:
        report.errors.append(Problem(
            "label_column",
            f"Regression needs at least 10 rows with a numeric label; found {int(keep.sum())}."
            + (" Values with a decimal comma were found; see the warning about them." if "decimal comma" in "".join(p.message for p in report.warnings) else ""),
        ))
    return keep


def _check_class_labels(
    report: MappingReport, config: TrainConfig, raw_label: pd.Series, label: pd.Series, numeric: pd.Series,
    keep: pd.Series, merge_case: bool,
) -> None:
    """Class counts, and errors for identifiers, quantities, one class or classes too small to split."""
    n_distinct = int(label[keep].nunique())
    variants = label_variants(raw_label[keep], merge_case=merge_case)
    if variants:
        report.warnings.append(Problem("label_column", _variants_message(variants, merge_case)))
    from .multilabel import detect  # tag lists trained as classes: every combination would be one

    if (tag_lists := detect(raw_label[keep], config.label_column)) is not None:
        report.warnings.append(Problem("label_column", tag_lists.sentence(), kind=TAG_LISTS))
    counts = label[keep].value_counts()
    report.class_counts = {str(k): int(v) for k, v in counts.items()}
    n_not_number = int(numeric.isna().sum())
    if numeric.notna().all() and _looks_like_numeric_identifier(numeric):
        report.errors.append(_identifier_problem(config.label_column, numeric))
    # Mostly numbers (a CTR column with a few 'n/a' or 'inf' cells is still a quantity).
    elif len(numeric) and n_not_number <= MAX_NOT_NUMBER_SHARE * len(numeric) and n_distinct > MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION:
        report.suggested_task = "regression"
        others = (f" ({n_not_number} of its values are not numbers; regression leaves those rows out and names them)"
                  if n_not_number else "")
        report.errors.append(
            Problem(
                "task",
                f"Label column '{config.label_column}' holds numbers with {n_distinct} distinct "
                f"values{others}; that looks like a quantity. Choose the regression task to predict it.",
            )
        )
    elif len(counts) < 2:
        found = f"1 distinct value ({counts.index[0]!r})" if len(counts) else "no values"
        report.errors.append(
            Problem("label_column", f"Column '{config.label_column}' has {found}; training needs at least 2 classes.")
        )
    else:
        small = counts[counts < MIN_ROWS_PER_CLASS]
        identifier = _looks_like_identifier(len(counts), len(small), int(keep.sum()))
        if identifier:
            # One message, not one per value: a column of ids or free text is the wrong column.
            report.errors.append(_identifier_problem(config.label_column, label[keep], len(small)))
            small = small.iloc[:0]
        if len(small) == 1:
            cls, n = next(iter(small.items()))
            report.errors.append(Problem(
                "label_column",
                f"Class {cls!r} has {rows_words(n)}; each class needs at least "
                f"{MIN_ROWS_PER_CLASS} (one each for training, validation and test).",
            ))
        elif len(small):  # one message however many: a page of red boxes hides what to do
            named = ", ".join(f"{c!r} ({n})" for c, n in small.iloc[:MAX_SMALL_CLASSES_LISTED].items())
            more = f" and {len(small) - MAX_SMALL_CLASSES_LISTED} more" if len(small) > MAX_SMALL_CLASSES_LISTED else ""
            report.errors.append(Problem(
                "label_column",
                f"{len(small)} classes have fewer than {MIN_ROWS_PER_CLASS} rows: {named}{more}. Each class "
                f"needs at least {MIN_ROWS_PER_CLASS} (one each for training, validation and test); "
                "add rows for them or merge them into other classes.",
            ))
        few = counts[(counts >= MIN_ROWS_PER_CLASS) & (counts < FEW_ROWS_PER_CLASS)]
        if len(few) and len(small) == 0:
            report.warnings.append(Problem(
                "label_column",
                f"Class(es) {', '.join(f'{c!r} ({rows_words(n)})' for c, n in few.iloc[:MAX_SMALL_CLASSES_LISTED].items())} "
                f"have fewer than {FEW_ROWS_PER_CLASS} rows: the model sees very few examples of them and their "
                "scores rest on very few rows. Add rows for them if you can.",
            ))
        if len(counts) > 100 and not identifier:
            report.warnings.append(Problem("label_column", f"{len(counts)} classes is a lot; is '{config.label_column}' really a label?"))
    if numeric.notna().all() and 2 < n_distinct <= MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION:
        report.warnings.append(
            Problem("task", f"The label is numeric with {n_distinct} values; if it is a quantity (e.g. a rating), regression may suit it better.")
        )


def _check_split_values(df: pd.DataFrame, config: TrainConfig, keep: pd.Series, report: MappingReport) -> None:
    """The split column's values must be the split names, with train and test rows."""
    values = set(df.loc[keep, config.split_column].astype(str).str.strip().str.lower())
    bad = sorted(values - set(SPLIT_NAMES))
    if bad:
        report.errors.append(Problem("split_column", f"Split column values must be {SPLIT_NAMES}; found {bad[:5]}."))
    elif not {"train", "test"} <= values:
        report.errors.append(Problem("split_column", "The split column needs at least 'train' and 'test' rows."))


def _looks_like_categories(column: pd.Series) -> bool:
    """True for a "text" column that holds a few short categories (a job title, a channel), not
    free text: 50+ non-empty rows, distinct values at most 5% of them, under 3 words on average."""
    values = column[non_empty(column)].astype(str).str.strip()
    if len(values) < 50:
        return False
    distinct = values.unique()
    return len(distinct) <= 0.05 * len(values) and float(np.mean([len(v.split()) for v in distinct])) < 3


def suggest_task(df: pd.DataFrame, label_column: str | None) -> str:
    """"classification" or "regression" for ``label_column`` of ``df``: regression when it holds
    numbers with more than MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION distinct values (what
    :func:`validate_mapping` suggests), else classification. The Train page's and the CLI's default."""
    others = [c for c in df.columns if c != label_column][:1]
    if label_column not in df.columns or not others:
        return "classification"
    from .config import TrainConfig

    report = validate_mapping(df, TrainConfig(text_columns=others, label_column=label_column))
    return report.suggested_task or "classification"


def _looks_like_identifier(n_classes: int, n_small: int, n_rows: int) -> bool:
    """True for a label column that holds ids or free text rather than categories: more than
    MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION distinct values, most of them on too few rows to
    learn from, and at least one distinct value per two rows (60 values in 60 rows, say); or a
    different value on every one of at least MIN_DISTINCT_FOR_IDENTIFIER rows."""
    every_row_its_own = n_classes == n_rows >= MIN_DISTINCT_FOR_IDENTIFIER  # 10 customer ids in 10 rows
    return every_row_its_own or (
        n_classes > MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION
        and n_small > n_classes / 2
        and n_classes >= n_rows / 2
    )


def _looks_like_numeric_identifier(numbers: pd.Series) -> bool:
    """True for a numeric label that numbers the rows instead of measuring something: more than
    MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION rows, every value a whole number found on one row
    only, and either packed densely (the range at most twice the row count: 1..n, or 1000..1399
    with gaps) or evenly spaced (10, 20, 30, ...).

    Why not every unique whole number: quantities can be unique per row too (revenue 1523,
    2890, ...), but they spread wider than the row count and unevenly; ratings and counts repeat.
    """
    values = np.sort(pd.to_numeric(numbers, errors="coerce").to_numpy(dtype=float))
    n = len(values)
    if n <= MAX_CLASSES_BEFORE_SUGGESTING_REGRESSION or not np.isfinite(values).all():
        return False
    if not (values == np.round(values)).all() or len(np.unique(values)) != n:
        return False
    return values[-1] - values[0] + 1 <= 2 * n or len(np.unique(np.diff(values))) == 1


def _identifier_problem(column: str, values: pd.Series, n_small: int | None = None) -> Problem:
    """The one message for a label column that holds ids or free text (numbers or words)."""
    if n_small is None:
        detail = f"whole numbers from {values.min():g} to {values.max():g}, each on one row"
    else:
        detail = f"{n_small:,} of them on fewer than {MIN_ROWS_PER_CLASS} rows"
    return Problem(
        "label_column",
        f"Column '{column}' has {values.nunique():,} distinct values in {len(values):,} rows ({detail}); "
        "that looks like an id or free-text column, not a label. Choose the column that holds what the "
        "model should learn: a few categories (e.g. positive/negative) or a quantity such as a rating.",
    )


def _text_present(df: pd.DataFrame, text_columns: tuple[str, ...]) -> pd.Series:
    present = pd.Series(False, index=df.index)
    for col in text_columns:
        present |= non_empty(df[col])
    return present


def _check_tags(report: MappingReport, labels: pd.Series, config: TrainConfig) -> None:
    """The label checks of a multi-label mapping (several tags per row, core.multilabel): the
    cells parse, at least 2 tags, a warning for tags with fewer than MIN_ROWS_PER_CLASS rows
    (they are trained, but some split may hold none). ``report.class_counts``: rows per tag."""
    from .multilabel import hidden_joins_sentence, merge_tag_case, parse_labels, tag_variants_message

    try:
        lists, separator = parse_labels(labels.tolist(), getattr(config, "label_sep", None))
    except ValueError as exc:
        report.errors.append(Problem("label_column", f"Label column '{config.label_column}': {exc}"))
        return
    if (hidden := hidden_joins_sentence(lists, separator, config.label_column)) is not None:
        report.warnings.append(Problem("label_column", hidden))  # 'movies; food' read with '|': said, not hidden
    if getattr(config, "merge_label_variants", True):  # per tag, as core.prepare merges them
        lists, variants = merge_tag_case(lists)
        if variants:
            report.warnings.append(Problem("label_column", tag_variants_message(variants, config.label_column)))
    counts = pd.Series([t for tags in lists for t in tags], dtype=object).value_counts()
    report.class_counts = {str(k): int(v) for k, v in counts.items()}
    if len(counts) < 2:
        found = f"1 tag ({counts.index[0]!r})" if len(counts) else "no tags"
        report.errors.append(Problem("label_column", f"Column '{config.label_column}' has {found} when split on "
                                     f"{separator!r}; several tags per row needs at least 2 tags."))
        return
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if len(small):
        named = ", ".join(f"{c!r} ({n})" for c, n in small.iloc[:MAX_SMALL_CLASSES_LISTED].items())
        report.warnings.append(Problem("label_column", f"Tag(s) {named} have fewer than {MIN_ROWS_PER_CLASS} rows: "
                                       "they are learned, but their test scores rest on one row or none."))


def usable_rows(df: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The rows training uses: text present, label present (and a finite number for regression).

    The label column comes back cleaned as :func:`validate_mapping` counted it: class names from
    :func:`clean_labels` (classification) or floats from :func:`to_number` (regression).
    """
    keep = _text_present(df, config.text_columns)
    if config.task == "regression":
        label = to_number(df[config.label_column])
        keep &= label.notna() & np.isfinite(label.fillna(0))
    else:
        # Several tags per row: case merged per tag by core.prepare, not per cell here.
        label = clean_labels(df[config.label_column], merge_case=getattr(config, "merge_label_variants", True)
                             and not getattr(config, "multi_label", False))
        keep &= label.notna()
    rows = df.loc[keep].copy()
    rows[config.label_column] = label[keep]
    return rows


# --------------------------------------------------------------------------- model input


def natural_key(value: str) -> tuple[int, float, str]:
    """Sort key for class names: numbers numerically ("2" before "10"), then text."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def format_value(value: Any) -> str:
    """A cell as the model reads it: integers without '.0', floats to 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else f"{float(value):.4g}"
    return " ".join(str(value).split())  # collapse newlines and runs of spaces


def build_texts(
    df: pd.DataFrame, text_columns: tuple[str, ...] | list[str], profile_columns: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """Build one model input per row, deterministically.

    One text column and no profile columns: the text itself (so a saved model also works on
    raw text, e.g. in ``transformers.pipeline``). Otherwise ``"name: value"`` fields joined
    by ``" | "``, profile columns first, then text columns, in the given order; empty cells
    are left out. Example: ``"age: 34 | department: Dresses | review: Love it"``.
    """
    columns = [*profile_columns, *text_columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(missing_columns_message(
            missing, df.columns, lead=f"Column(s) {missing} are missing (the model needs {columns})"))
    values = [[format_value(v) for v in df[c].tolist()] for c in columns]
    if len(text_columns) == 1 and not profile_columns:
        return values[0]
    return [" | ".join(f"{name}: {v}" for name, v in zip(columns, row) if v) for row in zip(*values)]


# --------------------------------------------------------------------------- splits


_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_DIGITS = re.compile(r"\d+")


def normalise_for_duplicates(text: Any) -> str:
    """The form two texts share when one is a copy of the other: NFKC, case folded, invisible
    characters removed, URLs and @mentions removed (a retweet with a link is still a copy),
    digit runs -> "0", whitespace runs -> one space, outer whitespace cut.
    ``"Great deal! http://x.co/1  @bob 20%"`` and ``"great deal! 35%"`` both give
    ``"great deal! 0%"``."""
    value = unicodedata.normalize("NFKC", format_value(text)).casefold()
    value = _INVISIBLE.sub("", value)
    value = _URL.sub(" ", value)
    value = _MENTION.sub(" ", value)
    value = _DIGITS.sub("0", value)
    return " ".join(value.split())


def duplicate_groups(texts: list[str], labels: Any, *, near: bool = True) -> tuple[list[str], str]:
    """Group keys for a group-aware split and a sentence for the user about duplicates ("" when
    every text is unique).

    Each row's key is :func:`normalise_for_duplicates` of its text, so copies share it. With
    ``near`` the rows whose keys are near duplicates of each other (character 3-5-gram TF-IDF
    cosine >= core.duplicates.NEAR_DUPLICATE_COSINE, transitively: a word, an emoji or a few
    characters changed) share one key too: the key of the group's first row. The sentence counts
    the texts that occur more than once, their rows (kept in one split), the conflicting ones (the
    same text with different labels) and the rows grouped as near copies.
    """
    keys = [normalise_for_duplicates(t) for t in texts]
    frame = pd.DataFrame({"key": keys, "label": pd.Series(labels).astype(str).to_numpy()})
    sizes = frame.groupby("key", sort=False)["label"].agg(["size", "nunique"])
    repeated = sizes[sizes["size"] > 1]
    sentences = []
    if len(repeated):
        conflicting = repeated[repeated["nunique"] > 1]
        sentences.append(
            f"{len(repeated):,} text(s) occur more than once ({int(repeated['size'].sum()):,} rows, compared "
            "ignoring case, spaces, URLs, @mentions and digits); each one's copies were kept in the same "
            "split so the test rows have no copy in training."
        )
        if len(conflicting):
            sentences.append(
                f"{len(conflicting):,} of them have different labels on their copies "
                f"({int(conflicting['size'].sum()):,} rows): conflicting duplicates, worth relabelling."
            )
    if near and len(keys) > 1:
        from .duplicates import NEAR_DUPLICATE_COSINE, near_duplicate_groups

        found = near_duplicate_groups(keys)
        joined = found.joined
        if joined.any():
            # The rows of a group of near copies take the key of the group's first row.
            first_row = pd.Series(np.arange(len(keys))).groupby(found.group).transform("min").to_numpy()
            n_groups = len(np.unique(found.group[joined]))
            keys = [keys[first_row[i]] if joined[i] else k for i, k in enumerate(keys)]
            sentences.append(
                f"{int(joined.sum()):,} row(s) in {n_groups:,} group(s) are near copies of each "
                f"other (the same text with a word, an emoji or a few characters changed: character n-gram "
                f"similarity >= {NEAR_DUPLICATE_COSINE}); each group was kept in one split as well."
            )
    return keys, " ".join(sentences)


def split_indices(
    labels: pd.Series | np.ndarray | list,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
    groups: pd.Series | np.ndarray | list | None = None,
) -> dict[str, np.ndarray]:
    """Positions (0..n-1) of the train/validation/test rows.

    Stratified by label (classification): every class with at least 3 rows gets at least one
    row in each split. Deterministic for a given seed and label order. With ``groups`` (one key
    per row, e.g. from :func:`duplicate_groups`) rows sharing a key land in the same split,
    stratified by each group's most common label; then a class gets a row in every split when
    it is the main label of at least 3 groups.
    """
    if groups is not None and len(set(groups)) < len(groups) and len(set(groups)) >= 3:
        return _group_split(labels, groups, val_fraction, test_fraction, seed, stratify)
    labels = np.asarray(pd.Series(labels).astype(str) if stratify else np.zeros(len(labels)))
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for value in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
        n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {name: np.sort(np.concatenate(chunks)) if chunks else np.array([], int) for name, chunks in parts.items()}


def _group_split(labels, groups, val_fraction: float, test_fraction: float, seed: int, stratify: bool) -> dict[str, np.ndarray]:
    codes = pd.factorize(pd.Series(list(groups)))[0]
    label_str = pd.Series(labels).astype(str).to_numpy() if stratify else np.zeros(len(codes)).astype(str)
    frame = pd.DataFrame({"group": codes, "label": label_str})
    # Each group's label for stratifying: its most common one (ties: the first in sorted order).
    main = frame.groupby(["group", "label"]).size().reset_index(name="n").sort_values(
        ["group", "n", "label"], ascending=[True, False, True], kind="stable"
    ).drop_duplicates("group").set_index("group")["label"]
    sizes = frame.groupby("group").size()
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for value in sorted(set(main.tolist())):
        gids = main.index[main.to_numpy() == value].to_numpy()
        gids = gids[rng.permutation(len(gids))]
        n = int(sizes[gids].sum())
        enough = len(gids) >= 3
        targets = {"test": max(1, round(n * test_fraction)) if enough else 0,
                   "validation": max(1, round(n * val_fraction)) if enough else 0}
        taken = {"test": [], "validation": [], "train": []}
        filled = {"test": 0, "validation": 0}
        for gid in gids:
            size = int(sizes[gid])
            for name in ("test", "validation"):
                if filled[name] + size <= targets[name]:
                    taken[name].append(gid)
                    filled[name] += size
                    break
            else:
                taken["train"].append(gid)
        # A group bigger than the target still gives an empty split a member: the smallest one.
        for name in ("test", "validation"):
            if targets[name] and not taken[name] and len(taken["train"]) > 1:
                smallest = min(taken["train"], key=lambda g: (int(sizes[g]), g))
                taken["train"].remove(smallest)
                taken[name].append(smallest)
        for name in SPLIT_NAMES:
            chosen[name] += taken[name]
    return {name: np.sort(np.flatnonzero(np.isin(codes, chosen[name]))) for name in SPLIT_NAMES}


def split_from_column(values: pd.Series) -> dict[str, np.ndarray]:
    """Positions of each split from a user's column of train/validation/test values."""
    normalised = values.astype(str).str.strip().str.lower().to_numpy()
    return {name: np.flatnonzero(normalised == name) for name in SPLIT_NAMES}
