"""Ad Copy Lab: what-if scoring of ad copy variants, word attributions, audience x ad targeting.

Plain Python over any saved model (``core.models.SavedModel``: ``task``, ``classes_``,
``schema``, ``input_columns``, ``predict``, ``predict_proba``, ``test_predictions``). The ad
text goes into one of the model's text columns; models trained with profile columns (age,
department, ...) also take a profile, one value per column.

Score
    Classification: the predicted probability of the *positive class* (the outcome that counts as success) (e.g. "clicked", "1").
    Regression: the predicted value (e.g. CTR). Higher is better in both cases.

How sure is the model? (:func:`uncertainty_margin`)
    A model's scores are never exact. We measure, on the model's own saved test predictions,
    how far its scores are from what actually happened: the test rows are sorted by score and
    cut into equal-count bins (about 30+ rows each, at most 10 bins); in each bin we compare the
    mean score with the mean outcome (the success rate, or the mean true value). The margin is
    the root-mean-square of these gaps (weighted by bin size), but never less than the
    root-mean-square standard error of the bin means (binomial with a +1/+2 Laplace correction
    for classifiers, sample variance / n for regression): a test set of 40 rows cannot vouch for
    differences finer than its own sampling noise. Two scores closer than this margin are
    "no clear difference", and a variant's rank counts only the texts that beat it by at least
    the margin (texts the model cannot tell apart share a rank). It is a yardstick for "the
    model cannot tell these apart", not a significance test; it is one number per model and
    positive class, in score units. Without it (no saved test rows; a zero-shot model, which had
    no labelled rows to test on) no variant is called "better" or "worse": the verdict says only
    "higher" or "lower", with "uncertainty unknown" (:data:`UNKNOWN_VERDICTS`).

Attributions (:func:`explain`)
    Leave-one-word-out occlusion: each word is deleted from the text in turn and the text is
    re-scored (all versions in one batched predict call); a word's attribution is the full
    text's score minus the score without it, in score units. Positive: the word pushes the
    score up. Chinese and Japanese have no spaces, so each Han/kana character is one unit
    (no word segmenter is needed, and a character is what the tokenizer sees anyway).
    Punctuation runs ("!!!") are units too, because they can matter.

Targeting (:func:`targeting_matrix`, :func:`best_ad_per_segment`, :func:`targeting_uplift`)
    Each segment is scored as one typical member (its profile values: the category, or the
    median of a numeric bin), crossed with every ad. The uplift of targeting compares showing
    each segment its best ad with showing everyone the one ad that is best overall, weighting
    segments by their size when sizes are known (else equally).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from .calibration import equal_count_gaps
from .columns import POSITIVE_NAMES
from .models import SavedModel
from .words import UNSPACED_RANGES, rows_words

__all__ = [
    "ATTRIBUTION_METHOD",
    "UNKNOWN_VERDICTS",
    "Margin",
    "best_ad_per_segment",
    "default_positive_class",
    "explain",
    "model_inputs",
    "profile_columns",
    "profile_frame_from_test",
    "remove_spans",
    "score_texts",
    "score_variants",
    "segments_from_profile",
    "targeting_matrix",
    "targeting_uplift",
    "text_column_for",
    "text_units",
    "typical_value",
    "uncertainty_margin",
]

ATTRIBUTION_METHOD = (
    "Leave-one-word-out occlusion: each word is deleted in turn and the text re-scored; a word's "
    "attribution is the score with it minus the score without it. Chinese/Japanese text: each "
    "character is one unit."
)
MIN_TEST_ROWS = 10  # fewer test rows than this: the margin is not measured
# Verdicts when the margin is unknown: a difference is stated, never called better or worse.
UNKNOWN_VERDICTS = {1: "higher (uncertainty unknown)", -1: "lower (uncertainty unknown)", 0: "same score"}
ROWS_PER_BIN = 30  # aim for at least this many test rows per calibration bin
MAX_BINS = 10
MAX_EXPLAIN_UNITS = 400  # more words than this would take long; the model truncates anyway
MAX_MATRIX_CELLS = 20_000  # segments x ads scored in one go
MAX_SEGMENTS = 500
MAX_DISTINCT_AS_CATEGORY = 10  # numeric columns with more distinct values are binned

# Han ideographs and kana (written without spaces): one unit per character.
_UNIT = re.compile(
    rf"[{UNSPACED_RANGES}]|(?:(?![{UNSPACED_RANGES}])\w)+(?:['’](?:(?![{UNSPACED_RANGES}])\w)+)*|[^\w\s]+"
)


def is_word(token: str) -> bool:
    """True when ``token`` has a letter, a digit or a CJK character: punctuation and symbol
    runs ("!!!", ",", ":)", "—") are not words, so word lists leave them out (they keep their
    shading in the text itself). Python's ``str.isalnum`` counts CJK ideographs and kana."""
    return any(ch.isalnum() for ch in str(token))


# --------------------------------------------------------------------------- model inputs


def text_column_for(model: SavedModel, text_column: str | None = None) -> str:
    """The model text column that receives the ad copy (default: the first text column)."""
    text_columns = list(model.schema.get("text_columns", []))
    if not text_columns:
        raise ValueError(
            "This model reads no text (it was trained on profile columns only), so it cannot "
            "score ad copy. Choose a model trained with a text column."
        )
    if text_column is None:
        return text_columns[0]
    if text_column not in text_columns:
        raise ValueError(
            f"Text column {text_column!r} is not one of the model's text columns {text_columns}."
        )
    return text_column


def profile_columns(model: SavedModel) -> list[str]:
    """The model's profile columns, in training order; [] for text-only models."""
    return list(model.schema.get("profile_columns", []))


def default_positive_class(model: SavedModel) -> str | None:
    """A sensible default positive class: the model's declared positive class if it has one,
    else a class named like a good outcome ("1", "yes", "positive", "clicked", ...), else the
    last class. None for regression models."""
    if model.task == "regression":
        return None
    classes = [str(c) for c in model.classes_]
    declared = model.schema.get("positive_class")  # response models name their positive class
    if declared is not None and str(declared) in classes:
        return str(declared)
    lowered = {c.strip().lower(): c for c in classes}
    for name in POSITIVE_NAMES:
        if name in lowered:
            return lowered[name]
    return classes[-1]


def _positive_index(model: SavedModel, positive_class: str | None) -> int | None:
    """Column of ``predict_proba`` holding P(success); None for regression."""
    if model.task == "regression":
        if positive_class not in (None, ""):
            raise ValueError(
                f"This is a regression model: its score is the predicted value, so there is no "
                f"positive class (the outcome that counts as success) to choose (got {positive_class!r})."
            )
        return None
    classes = [str(c) for c in model.classes_]
    chosen = default_positive_class(model) if positive_class in (None, "") else str(positive_class)
    if chosen not in classes:
        raise ValueError(f"Success class {chosen!r} is not one of the model's classes {classes}.")
    return classes.index(chosen)


def model_inputs(
    model: SavedModel,
    texts: Sequence[str],
    profile: Mapping[str, Any] | None = None,
    *,
    text_column: str | None = None,
) -> pd.DataFrame:
    """One row per text with the model's ``input_columns``: the ad text in the text column and
    the profile values (same for every row) in the profile columns.

    Profile columns missing from ``profile`` are left empty: the model input then leaves that
    field out, as it does for empty cells in training. Unknown profile keys raise ValueError.
    """
    column = text_column_for(model, text_column)
    profile = dict(profile or {})
    columns = list(model.input_columns)
    unknown = sorted(set(profile) - (set(columns) - {column}))
    if unknown:
        raise ValueError(
            f"Profile value(s) for {unknown} do not fit this model; its profile columns are "
            f"{profile_columns(model)} and the ad text goes into {column!r}."
        )
    n = len(texts)
    data = {c: [str(t) for t in texts] if c == column else [profile.get(c)] * n for c in columns}
    return pd.DataFrame(data, columns=columns)


def score_texts(model: SavedModel, inputs: pd.DataFrame, positive_class: str | None = None) -> np.ndarray:
    """Scores (n,) of model input rows: P(positive class), or the predicted value (regression)."""
    index = _positive_index(model, positive_class)
    if len(inputs) == 0:
        return np.zeros(0, dtype=float)
    if index is None:
        return np.asarray(model.predict(inputs), dtype=float)
    return np.asarray(model.predict_proba(inputs), dtype=float)[:, index]


# --------------------------------------------------------------------------- uncertainty


@dataclass(frozen=True)
class Margin:
    """How far apart two scores must be before the model can tell them apart (score units)."""

    value: float | None  # None when it could not be measured
    n_test: int  # test rows it was measured on
    n_bins: int  # equal-count score bins
    calibration_rms: float | None  # RMS gap between mean score and mean outcome per bin
    sampling_rms: float | None  # RMS standard error of the bin means (the test set's resolution)
    note: str  # one sentence for people

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def unmeasured(cls, note: str, n_test: int = 0) -> Margin:
        """A margin that could not be measured on ``n_test`` test rows; ``note`` says why."""
        return cls(None, n_test, 0, None, None, note)


def uncertainty_margin(model: SavedModel, positive_class: str | None = None) -> Margin:
    """The model's measured uncertainty of its score, from its saved test predictions.

    See the module docstring for the rule. Classifiers need ``true_label`` and
    ``p_<class>`` columns in ``model.test_predictions``; regression models ``true_value`` and
    ``predicted_value``. Without them (or with fewer than 10 test rows) ``value`` is None.
    """
    index = _positive_index(model, positive_class)
    from .models.zeroshot import ZeroShotClassifier

    if isinstance(model, ZeroShotClassifier):
        return Margin.unmeasured("This zero-shot model was never checked against labelled rows, so "
                                 "its uncertainty cannot be estimated: a difference between two scores may be noise.")
    tp = getattr(model, "test_predictions", None)
    if index is None:
        needed = ["true_value", "predicted_value"]
    else:  # several tags per row: the tag's own yes/no is in true_labels ("|"-joined)
        cls = str(model.classes_[index])
        needed = ["true_labels" if getattr(model, "multi_label", False) else "true_label", f"p_{cls}"]
    if tp is None or not set(needed) <= set(tp.columns):
        return Margin.unmeasured("The model has no saved test predictions, so its uncertainty is unknown.")
    s = pd.to_numeric(tp[needed[1]], errors="coerce").to_numpy(dtype=float)  # the score: a value or P(cls)
    if index is None:
        y = pd.to_numeric(tp["true_value"], errors="coerce").to_numpy(dtype=float)
    else:
        y = ((tp["true_label"].astype(str).str.strip() == cls) if needed[0] == "true_label" else
             tp["true_labels"].fillna("").astype(str).str.split("|").map(lambda tags: cls in tags)).to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(s)
    y, s = y[ok], s[ok]
    n = len(y)
    if n < MIN_TEST_ROWS:
        return Margin.unmeasured(
            f"Only {rows_words(n, 'test')} {'was' if n == 1 else 'were'} saved; too few to measure the model's uncertainty.", n)
    n_bins, calibration, sampling = equal_count_gaps(
        y, s, binary=index is not None, rows_per_bin=ROWS_PER_BIN, max_bins=MAX_BINS
    )
    value = max(calibration, sampling)
    unit = "probability points" if index is not None else "units of the predicted value"
    shown = f"{value * 100:.1f} {unit}" if index is not None else f"{value:.4g} {unit}"
    note = (
        f"On its {n} test rows (in {n_bins} score bin{'s' if n_bins > 1 else ''}) the model's "
        "scores are "
        f"typically {shown} away from what happened (calibration gap {calibration:.3g}, sampling "
        f"noise {sampling:.3g}); smaller differences are marked 'no clear difference'."
    )
    return Margin(value, n, n_bins, calibration, sampling, note)


# --------------------------------------------------------------------------- what-if scoring


def unlike_training(
    model: SavedModel,
    texts: Sequence[str],
    profile: Mapping[str, Any] | None = None,
    *,
    text_column: str | None = None,
    folder: str | None = None,
) -> np.ndarray | None:
    """(n,) bool: which of ``texts`` (as ad copy, with ``profile``) look unlike the texts the model
    was trained on: the Predict page's out-of-distribution flag (core.ood.OodReference: sentence
    embeddings farther from the training texts than 99% of those are from each other), e.g. English
    ads for a model trained on Chinese reviews. None when the model has no such reference (it reads
    no text, or its folder has neither a saved reference nor test predictions to build one)."""
    from .ood import ood_available
    from .predict import model_texts, ood_reference

    where = folder or model.path
    if where is None or not ood_available(where):
        return None
    reference = ood_reference(model, where)  # None for a model that reads no text
    if reference is None:
        return None
    return reference.flag_texts(model_texts(model, model_inputs(model, texts, profile, text_column=text_column)))


def score_variants(
    model: SavedModel,
    base_text: str,
    variants: Sequence[str],
    positive_class: str | None = None,
    profile: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str] | None = None,
    text_column: str | None = None,
    margin: Margin | None = None,
) -> pd.DataFrame:
    """Score a base ad copy and its variants, best first.

    Returns one row per text (base included), sorted by score descending, columns:
    ``variant`` (name: "Base", "V1", ... or ``names``), ``text``, ``is_base``, ``score``
    (P(success) or predicted value), ``rank`` (1 + the number of texts that score higher by
    at least the margin: texts the model cannot tell apart share a rank; with no margin, the
    plain rank by score, ties sharing),
    ``delta`` (score − base score), ``no_clear_difference`` (|delta| < the model's margin;
    False for the base and when the margin is unknown), ``verdict`` ("base", "better",
    "worse" or "no clear difference"; with the margin unknown one of :data:`UNKNOWN_VERDICTS`)
    and ``near_best`` (within the margin of the top score).
    ``df.attrs`` holds ``margin`` (Margin.to_dict()), ``positive_class`` and ``base_score``.
    All scored in one predict call.
    """
    if not isinstance(base_text, str) or not base_text.strip():
        raise ValueError("Expected a base ad copy to compare the variants against; it is empty.")
    if isinstance(variants, str):
        raise ValueError(
            "Expected a list of variant texts, got a single string; wrap it in a list."
        )
    variants = [str(v) for v in variants]
    if names is None:
        names = [f"V{i + 1}" for i in range(len(variants))]
    elif len(names) != len(variants):
        raise ValueError(
            f"Got {len(names)} names for {len(variants)} variants; expected one name per variant."
        )
    names = ["Base", *[str(x) for x in names]]
    if len(set(names)) != len(names):
        raise ValueError(f"Variant names must be unique (and not 'Base'); found {names}.")
    texts = [base_text, *variants]
    index = _positive_index(model, positive_class)  # validates before any model work
    chosen = None if index is None else str(model.classes_[index])
    scores = score_texts(
        model, model_inputs(model, texts, profile, text_column=text_column), chosen
    )
    if margin is None:
        margin = uncertainty_margin(model, chosen)
    delta = scores - scores[0]
    m = margin.value
    unclear = np.abs(delta) < m if m is not None else np.zeros(len(texts), dtype=bool)
    unclear[0] = False
    if m is None:  # no stated uncertainty: a difference is not called better or worse
        verdict = np.array([UNKNOWN_VERDICTS[int(np.sign(d))] for d in delta], dtype=object)
    else:
        verdict = np.where(
            unclear, "no clear difference", np.where(delta >= 0, "better", "worse")
        ).astype(object)
    verdict[0] = "base"
    df = pd.DataFrame(
        {
            "variant": names,
            "text": texts,
            "is_base": [True] + [False] * len(variants),
            "score": scores,
            "delta": delta,
            "no_clear_difference": unclear,
            "verdict": verdict,
            "near_best": scores >= scores.max() - (m or 0.0),
        }
    )
    # Honest rank: only texts that are clearly better (by >= the margin) count as ahead.
    ahead = scores[None, :] - scores[:, None]  # [i, j]: how much j beats i
    clearly = ahead >= m if m is not None else ahead > 0
    df.insert(4, "rank", 1 + clearly.sum(axis=1))
    df = df.sort_values(["score", "is_base"], ascending=[False, False], kind="stable").reset_index(
        drop=True
    )
    df.attrs = {"margin": margin.to_dict(), "positive_class": chosen, "base_score": float(scores[0])}
    return df


# --------------------------------------------------------------------------- attributions


def text_units(text: str) -> list[tuple[str, int, int]]:
    """The units occlusion removes: (unit, start, end) character spans of ``text``.

    Words (letters/digits, with inner apostrophes: "don't"), punctuation runs, and single
    Han/kana characters (Chinese and Japanese are written without spaces).
    """
    return [(m.group(), m.start(), m.end()) for m in _UNIT.finditer(text)]


def remove_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the character spans deleted, and the double spaces this leaves collapsed."""
    keep, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            raise ValueError(f"Spans overlap at character {start}; expected separate spans.")
        keep.append(text[pos:start])
        pos = end
    keep.append(text[pos:])
    return re.sub(r"[ \t]{2,}", " ", "".join(keep)).strip()


def explain(
    model: SavedModel,
    text: str,
    positive_class: str | None = None,
    profile: Mapping[str, Any] | None = None,
    *,
    text_column: str | None = None,
    max_units: int = MAX_EXPLAIN_UNITS,
) -> pd.DataFrame:
    """Word attributions of ``text`` by leave-one-word-out occlusion (see ATTRIBUTION_METHOD).

    Returns one row per unit, in text order: ``word``, ``start``, ``end`` (character offsets
    in ``text``), ``attribution`` (score of the full text − score without this unit, in score
    units: probability for classifiers, the predicted value for regression). ``df.attrs``
    holds ``score`` (the full text's score), ``positive_class`` and ``method``. One predict
    call on 1 + n_units texts; the profile (if any) is held fixed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Expected a text to explain; it is empty.")
    units = text_units(text)
    if len(units) > max_units:
        raise ValueError(
            f"The text has {len(units)} words; explanations are limited to {max_units}. Shorten it."
        )
    index = _positive_index(model, positive_class)
    chosen = None if index is None else str(model.classes_[index])
    texts = [text] + [remove_spans(text, [(start, end)]) for _, start, end in units]
    scores = score_texts(
        model, model_inputs(model, texts, profile, text_column=text_column), chosen
    )
    df = pd.DataFrame(
        {
            "word": [u[0] for u in units],
            "start": [u[1] for u in units],
            "end": [u[2] for u in units],
            "attribution": scores[0] - scores[1:],
        }
    )
    df.attrs = {"score": float(scores[0]), "positive_class": chosen, "method": ATTRIBUTION_METHOD}
    return df


# --------------------------------------------------------------------------- segments


def profile_frame_from_test(model: SavedModel) -> pd.DataFrame:
    """The profile values of the model's saved test rows, one row per test row.

    Read from ``test_predictions``: its profile columns if present, else parsed from the model
    input text ("age: 34 | department: Dresses | review: ..."; profile fields come first and
    empty cells were left out). Numbers come back as numbers. Empty frame if nothing is saved.
    """
    columns = profile_columns(model)
    tp = getattr(model, "test_predictions", None)
    if not columns or tp is None or len(tp) == 0:
        return pd.DataFrame(columns=columns)
    if set(columns) <= set(tp.columns):
        out = tp[columns].copy()
    elif "text" in tp.columns:
        rows = []
        for text in tp["text"].astype(str):
            row, rest = {}, text
            for col in columns:
                prefix = f"{col}: "
                if rest.startswith(prefix):
                    cut = rest.find(" | ")
                    row[col] = rest[len(prefix) : cut] if cut >= 0 else rest[len(prefix) :]
                    rest = rest[cut + 3 :] if cut >= 0 else ""
                else:
                    row[col] = None
            rows.append(row)
        out = pd.DataFrame(rows, columns=columns)
    else:
        return pd.DataFrame(columns=columns)
    for col in columns:
        numeric = pd.to_numeric(out[col], errors="coerce")
        present = out[col].notna()
        if present.any() and numeric[present].notna().all():
            out[col] = numeric
    return out.reset_index(drop=True)


def _is_numeric(series: pd.Series) -> bool:
    present = series.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().all()


def _number_text(x: float, integer: bool) -> str:
    return f"{int(round(x))}" if integer else f"{x:.3g}"


def typical_value(series: pd.Series) -> Any:
    """Median of a numeric column, else its most common value (for columns held fixed)."""
    present = series.dropna()
    if present.empty:
        return None
    if _is_numeric(present):
        values = pd.to_numeric(present)
        med = float(values.median())
        return int(round(med)) if (values % 1 == 0).all() else med
    return present.astype(str).value_counts().index[0]


def _column_groups(
    series: pd.Series, spec: int | Sequence[float], max_categories: int
) -> tuple[pd.Series, dict[str, Any], list[str]]:
    """(group label per row, label -> representative value, labels in display order)."""
    present = series.dropna()
    numeric = _is_numeric(present)
    values = pd.to_numeric(series, errors="coerce") if numeric else series
    many = numeric and present.nunique() > MAX_DISTINCT_AS_CATEGORY
    if numeric and (many or not isinstance(spec, int)):
        integer = bool((values.dropna() % 1 == 0).all())
        if isinstance(spec, int):
            if spec < 1:
                raise ValueError(f"Number of bins must be at least 1; got {spec}.")
            cut = pd.qcut(values, q=spec, duplicates="drop")
        else:
            edges = sorted(float(e) for e in spec)
            if len(edges) < 2:
                raise ValueError(f"Bin edges must hold at least 2 numbers; got {list(spec)}.")
            cut = pd.cut(values, bins=edges, include_lowest=True)
        labels = pd.Series(None, index=series.index, dtype=object)
        reps: dict[str, Any] = {}
        order = []
        for interval in cut.cat.categories:
            inside = cut == interval
            if not inside.any():
                continue
            member_values = values[inside]
            lo, hi = member_values.min(), member_values.max()
            label = (
                _number_text(lo, integer)
                if lo == hi
                else f"{_number_text(lo, integer)}–{_number_text(hi, integer)}"
            )
            med = float(member_values.median())
            reps[label] = int(round(med)) if integer else med
            labels[inside] = label
            order.append(label)
        return labels, reps, order
    keys = values.map(
        lambda v: (
            None
            if pd.isna(v)
            else (_number_text(float(v), float(v) % 1 == 0) if numeric else str(v).strip())
        )
    )
    counts = keys.value_counts()
    keep = list(counts.index[:max_categories])
    reps = {}
    for key in keep:
        first = values[keys == key].iloc[0]
        reps[key] = (
            (int(first) if float(first) % 1 == 0 else float(first))
            if numeric
            else str(first).strip()
        )
    labels = keys.where(keys.isin(keep))
    order = sorted(keep, key=lambda k: float(k)) if numeric else keep
    return labels, reps, order


def segments_from_profile(
    data: pd.DataFrame | Mapping[str, Sequence[Any]],
    columns: Sequence[str],
    bins: int | Mapping[str, int | Sequence[float]] = 4,
    *,
    fixed_columns: Sequence[str] = (),
    max_categories: int = 12,
    max_segments: int = MAX_SEGMENTS,
) -> pd.DataFrame:
    """Audience segments from profile columns.

    ``data`` is either a DataFrame of people (customers, or a model's test rows) or a mapping
    column -> list of values.

    - DataFrame: each column in ``columns`` is grouped by its values (the ``max_categories``
      most common; rarer values are left out of the segments) or, for a numeric column with more
      than 10 distinct values, cut into ``bins`` equal-count bins (``bins`` may be a mapping
      column -> bin count or explicit bin edges). Segments are the combinations that occur;
      ``size`` counts their people. A bin is represented by the median of its members.
      ``fixed_columns`` (other profile columns in ``data``) are held at their median/most common
      value for every segment.
    - Mapping: every combination of the given values is a segment (no ``size`` column).

    Returns columns ``segment`` (label, e.g. "age 30–39 · department Dresses"), the profile
    columns (the values the model is given), and ``size`` for DataFrames; largest first.
    """
    columns = list(columns)
    if not columns:
        raise ValueError("Choose at least one profile column to build segments from.")
    if isinstance(data, Mapping):
        missing = [c for c in columns if c not in data]
        if missing:
            raise ValueError(f"No values given for column(s) {missing}; found {list(data)}.")
        value_lists = [list(dict.fromkeys(data[c])) for c in columns]
        n = math.prod(len(v) for v in value_lists)
        if n > max_segments:
            raise ValueError(
                f"{n} segments is more than the limit of {max_segments}; use fewer values."
            )
        rows = []
        for combo in product(*value_lists):
            label = " · ".join(f"{c} {v}" for c, v in zip(columns, combo))
            rows.append({"segment": label, **dict(zip(columns, combo))})
        return pd.DataFrame(rows, columns=["segment", *columns])
    missing = [c for c in [*columns, *fixed_columns] if c not in data.columns]
    if missing:
        raise ValueError(
            f"Column(s) {missing} are not in the audience data; it has {list(data.columns)}."
        )
    if len(data) == 0:
        raise ValueError("The audience data has no rows.")
    label_cols, reps, orders = {}, {}, {}
    for col in columns:
        spec = bins.get(col, 4) if isinstance(bins, Mapping) else bins
        label_cols[col], reps[col], orders[col] = _column_groups(data[col], spec, max_categories)
    labels = pd.DataFrame(label_cols)
    covered = labels.notna().all(axis=1)
    counts = labels[covered].groupby(columns, sort=False).size()
    if len(counts) > max_segments:
        raise ValueError(
            f"These columns give {len(counts)} segments, more than the limit of {max_segments}; "
            "use fewer columns or fewer bins."
        )
    fixed = {c: typical_value(data[c]) for c in fixed_columns if c not in columns}
    rows = []
    for key, size in counts.items():
        key = key if isinstance(key, tuple) else (key,)
        label = " · ".join(f"{c} {k}" for c, k in zip(columns, key))
        rows.append(
            {
                "segment": label,
                **{c: reps[c][k] for c, k in zip(columns, key)},
                **fixed,
                "size": int(size),
            }
        )
    out = pd.DataFrame(rows, columns=["segment", *columns, *fixed, "size"])
    # Largest segments first; ties in a stable, readable order (bins low to high).
    rank = {c: {k: i for i, k in enumerate(orders[c])} for c in columns}
    order_key = [
        tuple(rank[c][k] for c, k in zip(columns, key if isinstance(key, tuple) else (key,)))
        for key in counts.index
    ]
    out["_order"] = order_key
    out = out.sort_values(["size", "_order"], ascending=[False, True], kind="stable").drop(
        columns="_order"
    )
    out.attrs = {"n_people": int(len(data)), "n_covered": int(covered.sum())}
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- targeting


def _segment_labels(model: SavedModel, segments: pd.DataFrame) -> list[str]:
    if "segment" in segments.columns:
        labels = [str(x) for x in segments["segment"]]
    else:
        cols = [c for c in profile_columns(model) if c in segments.columns]
        labels = [
            " · ".join(f"{c} {v}" for c, v in zip(cols, row) if pd.notna(v))
            for row in segments[cols].itertuples(index=False)
        ]
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})[:5]
        raise ValueError(f"Segment labels must be unique; found duplicates {dupes}.")
    return labels


def targeting_matrix(
    model: SavedModel,
    ads: Sequence[str] | Mapping[str, str],
    segments: pd.DataFrame,
    positive_class: str | None = None,
    *,
    text_column: str | None = None,
) -> pd.DataFrame:
    """Predicted response of each segment to each ad: DataFrame (n_segments, n_ads).

    ``ads`` is a list of texts (named "Ad 1", "Ad 2", ...) or a mapping name -> text.
    ``segments`` holds one row per segment with profile columns (missing profile columns are
    left empty in the model input), an optional ``segment`` label column and an optional
    ``size`` column (ignored here; pass it to :func:`targeting_uplift`). The index is the
    segment label, the columns the ad names; values are scores (P(success) or predicted
    value). One predict call for all cells.
    """
    features = profile_columns(model)
    if not features:
        raise ValueError(
            "This model has no profile columns (it reads the ad text only), so every audience "
            "would get the same scores. Targeting needs a model trained with profile columns "
            "(e.g. age, department) plus the ad text."
        )
    ad_map = (
        dict(ads)
        if isinstance(ads, Mapping)
        else {f"Ad {i + 1}": str(t) for i, t in enumerate(ads)}
    )
    if not ad_map:
        raise ValueError("Expected at least one ad to score; found none.")
    empty = [name for name, t in ad_map.items() if not str(t).strip()]
    if empty:
        raise ValueError(f"Ad(s) {empty} have no text.")
    if not isinstance(segments, pd.DataFrame) or len(segments) == 0:
        raise ValueError("Expected at least one audience segment; found none.")
    present = [c for c in features if c in segments.columns]
    if not present:
        raise ValueError(
            f"The segments have none of the model's profile columns {features}; "
            f"found {list(segments.columns)}."
        )
    n_cells = len(segments) * len(ad_map)
    if n_cells > MAX_MATRIX_CELLS:
        raise ValueError(
            f"{len(segments)} segments x {len(ad_map)} ads = {n_cells:,} scores, over the limit "
            f"of {MAX_MATRIX_CELLS:,}; use fewer segments or ads."
        )
    labels = _segment_labels(model, segments)
    column = text_column_for(model, text_column)
    # Segment-major order: rows s*n_ads .. s*n_ads + n_ads-1 are segment s with every ad.
    texts = list(ad_map.values()) * len(segments)
    inputs = model_inputs(model, texts, text_column=column)
    for col in present:
        inputs[col] = np.repeat(segments[col].to_numpy(dtype=object), len(ad_map))
    inputs = inputs.astype(object).where(inputs.notna(), None)
    scores = score_texts(model, inputs, positive_class).reshape(len(segments), len(ad_map))
    matrix = pd.DataFrame(scores, index=pd.Index(labels, name="segment"), columns=list(ad_map))
    matrix.columns.name = "ad"
    return matrix


def _aligned_sizes(matrix: pd.DataFrame, sizes: Any) -> np.ndarray | None:
    """Sizes as floats in matrix row order (a Series with segment labels is aligned by label)."""
    if sizes is None:
        return None
    if isinstance(sizes, pd.Series) and not isinstance(sizes.index, pd.RangeIndex):
        sizes = sizes.reindex(matrix.index)
    w = pd.to_numeric(pd.Series(np.asarray(sizes, dtype=object).ravel()), errors="coerce").to_numpy(
        dtype=float
    )
    if len(w) != len(matrix):
        raise ValueError(f"Expected one size per segment ({len(matrix)}); got {len(w)}.")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            "Segment sizes must be non-negative numbers (no blanks) with a positive total."
        )
    return w


def _weights(matrix: pd.DataFrame, sizes: Any) -> tuple[np.ndarray, bool]:
    """Segment weights summing to 1: by size when known, else equal."""
    w = _aligned_sizes(matrix, sizes)
    if w is None:
        return np.full(len(matrix), 1.0 / len(matrix)), False
    return w / w.sum(), True


def best_ad_per_segment(
    matrix: pd.DataFrame, sizes: Any = None, margin: float | None = None
) -> pd.DataFrame:
    """The best ad for each segment (one row per segment, in matrix order).

    Columns: ``segment``, ``best_ad``, ``best_score``, ``runner_up``, ``runner_up_score``,
    ``lead`` (best − runner-up), ``clear`` (lead ≥ margin; None when the margin is unknown
    or there is one ad), ``single_best_ad`` and ``gain`` (best score − the score of the
    single best ad overall in this segment), plus ``size`` when sizes are given.
    """
    if matrix.empty:
        raise ValueError("The targeting matrix is empty.")
    values = matrix.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")
    rows = np.arange(len(matrix))
    best = order[:, 0]
    weights, _ = _weights(matrix, sizes)
    overall = int(np.argmax(weights @ values))
    out = pd.DataFrame(
        {
            "segment": matrix.index.astype(str),
            "best_ad": matrix.columns[best].astype(str),
            "best_score": values[rows, best],
        }
    )
    if values.shape[1] > 1:
        second = order[:, 1]
        out["runner_up"] = matrix.columns[second].astype(str)
        out["runner_up_score"] = values[rows, second]
        out["lead"] = out["best_score"] - out["runner_up_score"]
        out["clear"] = (out["lead"] >= margin) if margin is not None else None
    else:
        out["runner_up"], out["runner_up_score"], out["lead"], out["clear"] = (
            None,
            np.nan,
            np.nan,
            None,
        )
    out["single_best_ad"] = str(matrix.columns[overall])
    out["gain"] = out["best_score"] - values[:, overall]
    aligned = _aligned_sizes(matrix, sizes)
    if aligned is not None:
        out["size"] = aligned
    return out


def targeting_uplift(matrix: pd.DataFrame, sizes: Any = None) -> dict[str, Any]:
    """Expected response with the best ad per segment vs everyone shown the single best ad.

    Segments are weighted by ``sizes`` (aligned with the matrix rows, or a Series indexed by
    segment) when given, else equally. Returns ``single_best_ad``, ``single_best_response``
    (weighted mean score of the ad that is best overall), ``targeted_response`` (weighted
    mean of each segment's best score), ``uplift`` (targeted − single, score units),
    ``relative_uplift`` (uplift / single; None if single ≤ 0), ``weighted_by_size``,
    ``n_segments``, ``n_segments_switched`` (segments whose best ad is not the single best)
    and ``total_size`` (None when sizes are unknown).
    """
    if matrix.empty:
        raise ValueError("The targeting matrix is empty.")
    values = matrix.to_numpy(dtype=float)
    w, weighted = _weights(matrix, sizes)
    per_ad = w @ values
    overall = int(np.argmax(per_ad))
    single = float(per_ad[overall])
    targeted = float(w @ values.max(axis=1))
    uplift = targeted - single
    best = values.argmax(axis=1)
    total = float(_aligned_sizes(matrix, sizes).sum()) if weighted else None
    return {
        "single_best_ad": str(matrix.columns[overall]),
        "single_best_response": single,
        "targeted_response": targeted,
        "uplift": uplift,
        "relative_uplift": uplift / single if single > 0 else None,
        "weighted_by_size": weighted,
        "n_segments": int(len(matrix)),
        "n_segments_switched": int(
            (values[np.arange(len(values)), best] > values[:, overall]).sum()
        ),
        "total_size": total,
    }
