"""One preparation step for every trainer: ``prepare(df, config) -> Prepared``.

It validates the column mapping (once), drops and counts the unusable rows, cleans the labels,
builds each row's model input (``"age: 34 | review: Love it"``, core.data.build_texts), groups
copies and near copies of a text and splits the rows (stratified, copies on one side; or the
user's split column). The trainers (core.training.fit_transformer, core.fewshot.fit_fewshot)
read only the :class:`Prepared`; the response comparison builds its own from its text and split
with :func:`prepared_from_texts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .base_models import language_advice, resolve_base_model
from .config import TrainConfig
from .data import (
    MappingReport,
    build_texts,
    duplicate_groups,
    natural_key,
    split_from_column,
    split_indices,
    usable_rows,
    validate_mapping,
)
from .multilabel import binarize, joined, merge_tag_case, parse_labels, rarest_tag
from .words import cjk_share

__all__ = ["BUILT_FORMAT", "Prepared", "prepare", "prepared_from_texts"]

BUILT_FORMAT = "'column: value' fields joined by ' | ', profile columns first; empty cells left out"


@dataclass(frozen=True)
class Prepared:
    """The rows a model trains and is scored on, as every trainer reads them (n usable rows)."""

    task: str  # "classification" or "regression"
    index: pd.Index  # the input table's index of each usable row (n,)
    texts: list[str]  # the model input of each row (n)
    y: np.ndarray  # (n,) class position in ``classes`` (int) or the target (float)
    labels: np.ndarray  # (n,) class name (object) or the target (float): what metrics compare
    classes: list[str]  # class names in natural order ("2" before "10"); [label column] for regression
    splits: dict[str, np.ndarray]  # positions (0..n-1) of the train, validation and test rows
    groups: list[str] | None  # copy-group key per row when some texts are copies; None otherwise
    schema: dict[str, Any]  # the columns the model reads and how its input is built (saved with it)
    split_column: str | None  # the user's split column; None when the split is ours
    report: MappingReport  # rows in, used, dropped (reason -> count), class counts
    warnings: tuple[str, ...]  # sentences for people: mapping, language, dropped rows, copies
    # Several tags per row (config.multi_label): ``y`` is then the indicator matrix (n, k) of 0/1
    # float32 over ``classes`` (the tags), ``labels`` each row's tags joined by "|", and this the
    # separator the label cells used ("|", ";", "," or "json").
    label_sep: str | None = None
    # Every row is a validation and a test row, scored by a copy of the model trained without it
    # (k-fold cross-validation on small data, core.small_data.scored_view): words say "out-of-fold".
    out_of_fold: bool = False

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def multi_label(self) -> bool:
        return self.label_sep is not None

    def texts_at(self, positions: np.ndarray) -> list[str]:
        """The model inputs of the rows at ``positions``."""
        return [self.texts[i] for i in positions]

    def training_config(self, config: TrainConfig) -> dict[str, Any]:
        """What a model trained on these rows saves as its training_config: ``config``'s settings
        with the columns it read (the same as ``config``'s own for :func:`prepare`)."""
        return {
            **config.to_dict(),
            "text_columns": list(self.schema["text_columns"]),
            "profile_columns": list(self.schema["profile_columns"]),
            "label_column": self.schema["label_column"],
            "split_column": self.split_column,
        }


def prepare(df: pd.DataFrame, config: TrainConfig) -> Prepared:
    """Validate ``config``'s mapping on ``df`` and prepare its usable rows for training.

    Rows without text or label (or, for regression, a finite number) are dropped and counted in
    ``report.dropped`` and a warning. Without a split column, copies and near copies of one text
    (core.data.duplicate_groups on the text columns alone, as the data-health check compares
    them: a reposted text is a copy whatever the profile says) stay in one split, stratified by
    label for classification (core.data.split_indices with ``config``'s fractions and seed).
    Raises ``ValueError`` with every problem found when the mapping does not fit ``df``.
    """
    report = validate_mapping(df, config)
    if not report.ok:
        raise ValueError(" ".join(p.message for p in report.errors))
    rows = usable_rows(df, config)
    texts = build_texts(rows, config.text_columns, config.profile_columns)
    warnings = [p.message for p in report.warnings]
    advice = language_advice(cjk_share(texts), resolve_base_model(config.base_model))
    if advice:
        warnings.append(advice)
    if report.n_dropped:
        warnings.append(f"{report.n_dropped:,} row(s) were not used: {report.summary()}.")
    classification = config.task == "classification"
    label_sep = strata = None
    if config.multi_label:
        tag_lists, label_sep = parse_labels(rows[config.label_column].tolist(), config.label_sep)
        if getattr(config, "merge_label_variants", True):  # 'Joy' and 'joy' one tag (per tag, never per cell)
            tag_lists, _ = merge_tag_case(tag_lists)
        y, classes = binarize(tag_lists, sorted({t for r in tag_lists for t in r}, key=natural_key))
        labels = joined(y, classes)
        strata = rarest_tag(y, classes)  # stratify on each row's rarest tag: every tag in every split
    elif classification:
        labels = rows[config.label_column].astype(str).str.strip().to_numpy()
        classes = sorted(set(labels.tolist()), key=natural_key)
        y = np.array([classes.index(v) for v in labels])
    else:
        classes = [config.label_column]
        labels = y = pd.to_numeric(rows[config.label_column]).to_numpy(dtype=np.float64)
    groups = None
    if config.split_column:
        splits = split_from_column(rows[config.split_column])
    else:
        keys, duplicates_note = duplicate_groups(build_texts(rows, config.text_columns, ()), labels)
        if duplicates_note:
            warnings.append(duplicates_note)
            groups = keys
        splits = split_indices(
            strata if strata is not None else labels if classification else np.zeros(len(y)),
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
            stratify=classification,
            groups=groups,
        )
    schema = _schema(config.text_columns, config.profile_columns, config.label_column)
    return Prepared(config.task, rows.index, texts, y, labels, classes, splits, groups, schema,
                    config.split_column, report, tuple(warnings), label_sep)


def prepared_from_texts(
    texts: list[str],
    labels: np.ndarray,
    split: np.ndarray,
    *,
    index: pd.Index,
    schema: dict[str, Any],
    base_model: str,
) -> Prepared:
    """A classification :class:`Prepared` from model inputs built and split by the caller.

    ``texts``, ``labels`` (class names) and ``split`` ("train"/"validation"/"test") hold one
    value per row of ``index``; ``schema`` is saved with the model (its ``text_columns``,
    ``profile_columns`` and ``label_column`` say which columns build the input at prediction
    time). Every row is used; the only warning is the language check against ``base_model``.
    """
    labels = np.asarray(labels, dtype=object)
    classes = sorted(set(labels.tolist()), key=natural_key)
    y = np.array([classes.index(v) for v in labels])
    advice = language_advice(cjk_share(texts), resolve_base_model(base_model))
    counts = {c: int(n) for c, n in zip(classes, np.bincount(y, minlength=len(classes)))}
    report = MappingReport(n_rows_in=len(texts), n_rows_used=len(texts), class_counts=counts)
    return Prepared("classification", index, list(texts), y, labels, classes,
                    split_from_column(pd.Series(split)), None, schema, None, report, (advice,) if advice else ())


def _schema(text_columns, profile_columns, label_column: str) -> dict[str, Any]:
    return {
        "text_columns": list(text_columns),
        "profile_columns": list(profile_columns),
        "label_column": label_column,
        "format": "raw text" if len(text_columns) == 1 and not profile_columns else BUILT_FORMAT,
    }
