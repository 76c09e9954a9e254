"""Which column plays which role, guessed from names and values: the text to learn from, the
label, a campaign's response and its positive class, profile columns, sentiment labels, the
roles in a prediction table (the Dashboard's defaults); plus the bundled samples. Pure
pandas, used by core and the pages alike.

Every word list lives here once. They only suggest: the user's choice in the widgets always
wins, and ``core.validate_mapping`` has the last word on whether training can start.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .data import format_value
from .dates import parse_dates
from .reading import csv_rows, non_empty

# --------------------------------------------------------------------------------------------
# Word lists (each once; matched case-insensitively against whole words of a name or value)
# --------------------------------------------------------------------------------------------

# Column names that usually hold the text to learn from, most telling first.
TEXT_NAMES = (
    "text",
    "review",
    "headline",
    "copy",
    "content",
    "comment",
    "body",
    "message",
    "description",
    "sentence",
    "tweet",
    "post",
    "subject",
    "feedback",
    "title",
)
# Column names that usually hold the label.
LABEL_NAMES = (
    "label",
    "labels",
    "sentiment",
    "class",
    "category",
    "target",
    "outcome",
    "response",
    "intent",
    "topic",
    "rating",
    "stars",
    "score",
    "y",
)
MAX_LABEL_CLASSES = 20  # a column with more distinct values is not suggested as a class label
# Column names that usually hold a campaign's response (the Targeting page's label).
RESPONSE_NAMES = ("y", "response", "responded", "converted", "target", "label")
# Class names that usually mean "the good outcome" (positive class, Ad Copy Lab's success
# class), in order of preference.
POSITIVE_NAMES = tuple(
    "1 yes true y positive pos clicked click converted conversion success responded response "
    "purchased purchase bought recommended good".split()
)
# Label values that read as sentiment (core.dashboard.is_sentiment_like, the chart colours).
POSITIVE_SENTIMENT = frozenset({"positive", "pos", "+", "正面", "积极", "好评"})
NEGATIVE_SENTIMENT = frozenset({"negative", "neg", "-", "负面", "消极", "差评"})
NEUTRAL_SENTIMENT = frozenset({"neutral", "neu", "mixed", "none", "irrelevant", "中性"})


def column_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per column: dtype, share of non-empty cells (0..1), distinct values, an example."""
    rows = []
    for name in df.columns:
        col = df[name]
        present = non_empty(col)
        example = str(col[present].iloc[0]) if present.any() else ""
        rows.append(
            {
                "column": str(name),
                "type": str(col.dtype),
                "non-empty": float(present.mean()) if len(col) else 0.0,
                "distinct values": int(col[present].nunique()),
                "example": example if len(example) <= 80 else example[:77] + "…",
            }
        )
    return pd.DataFrame(rows, columns=["column", "type", "non-empty", "distinct values", "example"])


def _text_like(df: pd.DataFrame, name: str) -> bool:
    return df[name].dtype == object or pd.api.types.is_string_dtype(df[name])


def name_words(name: object) -> list[str]:
    """The lower-case words of a column name: "reviewText" and "review_text" give
    ["review", "text"]."""
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower())


def named_like(name: object, names: tuple[str, ...]) -> bool:
    """True when one of the words of column ``name`` (:func:`name_words`) is in ``names``."""
    return any(word in names for word in name_words(name))


def match_column(name: str, columns: list[str]) -> str | None:
    """The column of ``columns`` that is ``name``: the exact name, else the first one equal to it
    ignoring case and whitespace (``Text `` or ``TEXT`` for ``text``; an underscore still counts);
    None when there is none."""
    if name in columns:
        return name
    squeezed = "".join(name.split()).casefold()
    return next((c for c in columns if "".join(str(c).split()).casefold() == squeezed), None)


def suggest_text_columns(df: pd.DataFrame) -> list[str]:
    """The column most likely to hold the text: a text column named like text/review/headline/
    copy/content/comment..., else the text column with the longest average content."""
    candidates = [c for c in df.columns if _text_like(df, c)]
    for wanted in TEXT_NAMES:
        for c in candidates:
            if wanted in name_words(c):
                return [c]
    if not candidates:
        return [df.columns[0]] if len(df.columns) else []
    sample = df[candidates].head(2000)
    lengths = {c: sample[c].dropna().astype(str).str.len().mean() for c in candidates}
    return [max(candidates, key=lambda c: lengths[c] if pd.notna(lengths[c]) else 0)]


def suggest_label_column(df: pd.DataFrame, exclude: list[str] | tuple[str, ...] = ()) -> str | None:
    """The column most likely to hold the label: one named like label/sentiment/class/... with
    2 or more distinct values, else the column with the fewest distinct values (2 to 20)."""
    candidates = [c for c in df.columns if c not in exclude]
    distinct = {c: df[c][non_empty(df[c])].nunique() for c in candidates}
    for wanted in LABEL_NAMES:
        for c in candidates:
            if str(c).strip().lower() == wanted and distinct[c] >= 2:
                return c
    low = [c for c in candidates if 2 <= distinct[c] <= MAX_LABEL_CLASSES]
    if low:
        return min(low, key=lambda c: (distinct[c], candidates.index(c)))
    return candidates[-1] if candidates else None


MAX_LABEL_LENGTH = 50  # characters: a longer value reads as text (a title, a sentence), not as a label


def suggest_label_to_fill(df: pd.DataFrame, exclude: list[str] | tuple[str, ...] = ()) -> str | None:
    """The column of a labelling project (the Label page) that holds its labels, or None: a new, empty
    label column. Unlike :func:`suggest_label_column` (training, where some column must be the label),
    a column is guessed only when it looks like labels: named like one (LABEL_NAMES; empty or with
    short values), or with 2 to MAX_LABEL_CLASSES distinct short values AND rows still empty to label.
    A newcomer's file of text and `source` (amazon, imdb, yelp on every row) was opened with `source`
    as its labels: "2,000 labelled, 0 to label", before anything was labelled."""
    candidates = [c for c in df.columns if c not in exclude]
    filled = {c: non_empty(df[c]) for c in candidates}
    short = {c: bool(df[c][filled[c]].astype(str).str.len().le(MAX_LABEL_LENGTH).all()) for c in candidates}
    distinct = {c: df[c][filled[c]].nunique() for c in candidates}
    for wanted in LABEL_NAMES:
        for c in candidates:
            if str(c).strip().lower() == wanted and short[c] and distinct[c] <= MAX_LABEL_CLASSES:
                return c
    partly = [c for c in candidates if short[c] and 2 <= distinct[c] <= MAX_LABEL_CLASSES and not filled[c].all()]
    return min(partly, key=lambda c: (distinct[c], candidates.index(c))) if partly else None


def default_model_name(stem: str, now: float | None = None) -> str:
    """A valid model name from a file name: ``<stem>-<YYYYMMDD-HHMM>`` with unsafe characters
    replaced by '-' (see ``core.validate_name``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "model"
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(now))
    return f"{safe[:48]}-{stamp}"


# Short button names and descriptions of the bundled samples (sample_data/README.md has more).
SAMPLE_NOTES = {
    "sentiment_reviews_en": (
        "Review sentiment (English)",
        "3,000 English review sentences from Amazon, IMDb and Yelp labelled positive (1) or negative (0). "
        "UCI Sentiment Labelled Sentences, CC BY 4.0.",
    ),
    "ad_response_clothing": (
        "Clothing reviews",
        "4,000 women's clothing reviews with age and department; label: recommended (1/0). CC0.",
    ),
    "bank_marketing": (
        "Bank marketing",
        "10,000 bank customers (profile columns, no text) and whether they subscribed (y). "
        "Best used on the Targeting page. UCI Bank Marketing, CC BY 4.0.",
    ),
    "label_reviews_unlabelled": (
        "Reviews, partly labelled",
        "English review sentences, most of them without a label yet: made for the Label page.",
    ),
}
PREDICTION_COLUMNS = ("predicted_label", "confidence")


def looks_like_predictions(columns: list[str]) -> bool:
    """True for a file the Predict page wrote: a predicted_label or confidence column, or p_<class>
    probability columns. Such a file holds a model's guesses, not labels to learn from."""
    names = [str(c).strip().lower() for c in columns]
    return any(n in PREDICTION_COLUMNS for n in names) or sum(n.startswith("p_") for n in names) >= 2


# The roles of a prediction table's columns (the Dashboard's defaults): the names tried, in order.
ERROR_COLUMN = "prediction_error"  # = core.predict.ERROR_COLUMN: "" where the row was scored
# predicted_labels: several tags per row joined by "|" (core.multilabel); each combination is a label
# in the label charts, and the Dashboard adds a view per tag (core.dashboard_tags).
LABEL_COLUMN_CANDIDATES = ("predicted_label", "prediction", "predicted", "pred_label", "predicted_labels")
CONFIDENCE_COLUMN_CANDIDATES = ("confidence", "predicted_confidence", "score")
PROBA_PREFIX = "p_"


def detect_prediction_columns(df: pd.DataFrame, sample_rows: int = 20_000) -> dict[str, Any]:
    """Guess which columns of a prediction table play which role.

    Returns a dict with
    - ``label``: the predicted-label column (``predicted_label`` if present, else a few common
      names such as ``prediction``) or ``None``;
    - ``confidence``: ``confidence`` (or a close name) if numeric, else ``None``;
    - ``proba``: ``{class: column}`` for the numeric ``p_<class>`` columns, in table order;
    - ``classes``: the class names of ``proba`` (list of str);
    - ``error``: ``prediction_error`` (core.predict's "why this row has no prediction") or None;
    - ``date_candidates``, ``segment_candidates``, ``text_candidates``: lists of column names,
      heuristic suggestions for the page's defaults (checked on the first ``sample_rows`` rows).

    Nothing is modified. Detection is by name and dtype only, plus a parse check on a sample
    for dates, so it takes milliseconds on a million rows.
    """
    columns = list(df.columns)
    label = next((c for c in LABEL_COLUMN_CANDIDATES if c in df.columns), None)
    confidence = next(
        (
            c
            for c in CONFIDENCE_COLUMN_CANDIDATES
            if c in df.columns and pd.api.types.is_numeric_dtype(df[c])
        ),
        None,
    )
    proba = {
        str(c)[len(PROBA_PREFIX):]: c
        for c in columns
        if isinstance(c, str)
        and c.startswith(PROBA_PREFIX)
        and len(c) > len(PROBA_PREFIX)
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    }
    error = ERROR_COLUMN if ERROR_COLUMN in df.columns else None
    reserved = {label, confidence, error, *proba.values()}
    sample = df.head(sample_rows)
    dates: list[str] = []
    segments: list[str] = []
    texts: list[str] = []
    for col in columns:
        if col in reserved:
            continue
        s = sample[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            dates.append(col)
            continue
        name = str(col).lower()
        is_text_like = pd.api.types.is_string_dtype(s) or isinstance(
            s.dtype, pd.CategoricalDtype
        )
        dateish_number = pd.api.types.is_numeric_dtype(s) and re.search(
            r"date|time|created|timestamp", name
        )
        non_null = s.dropna()
        if len(non_null) and (is_text_like or dateish_number):
            _, rep = parse_dates(non_null.head(500))
            if rep.n_parsed >= 0.9 * max(1, rep.n_rows - rep.n_missing):
                dates.append(col)
                continue
        if pd.api.types.is_float_dtype(s):
            continue
        n_unique = s.nunique(dropna=True)
        if is_text_like:
            lengths = s.dropna().astype(str).str.len()
            if len(lengths) and lengths.mean() >= 25 and n_unique > 50:
                texts.append(col)
                continue
        if 2 <= n_unique <= 50:
            segments.append(col)
    return {
        "label": label,
        "confidence": confidence,
        "proba": proba,
        "classes": list(proba),
        "error": error,
        "date_candidates": dates,
        "segment_candidates": segments,
        "text_candidates": texts,
    }


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(csv_rows(handle), [])


def training_samples(folder: Path) -> dict[Path, tuple[str, str]]:
    """The bundled CSVs a model can be trained on: path -> (short button name, description).

    Prediction files (see :func:`looks_like_predictions`) and files without labels for most rows
    are left out; an unknown file gets its name as the button and no description.
    """
    samples = {}
    for path in sorted(folder.glob("*.csv")):
        if looks_like_predictions(_header(path)) or path.stem.endswith("_unlabelled"):
            continue
        short, description = SAMPLE_NOTES.get(path.stem, (path.stem.replace("_", " "), path.name))
        samples[path] = (short, f"{description} ({path.name})")
    return samples


def suggest_setup(df: pd.DataFrame, label_column: str | None = None) -> dict[str, Any]:
    """Defaults for the Targeting page from a campaign table (the user can change every one).

    Returns ``{"label_column", "positive_class", "profile_columns", "text_columns",
    "include_transformer"}``: the response column (``y``/``response``/... if present, else the
    last column with 2 values), its positive class (a "yes"-like value, else the rarer one), text
    columns (text with long, mostly distinct values: reviews, notes), every other column as
    profile columns (columns that look like ids, every value distinct, are left out), and whether
    to fine-tune the transformer by default: only when there is text. On numbers and categories
    alone gradient boosting is the better model at a fraction of the time (bench_targeting.py:
    ROC-AUC 0.770 in 0.3 s against 0.721 in 597 s on the bank sample).
    """
    columns = list(df.columns)
    if label_column is None or label_column not in columns:
        named = [c for c in columns if str(c).strip().lower() in RESPONSE_NAMES]
        binary = [c for c in columns if df[c].dropna().nunique() == 2]
        label_column = (named or binary[-1:] or columns[-1:] or [None])[0]
    positive = None
    if label_column is not None:
        values = df[label_column].dropna().map(format_value).astype(str).str.strip()
        counts = values[values != ""].value_counts()
        yes_like = [v for v in counts.index if v.lower() in POSITIVE_NAMES]
        positive = yes_like[0] if yes_like else (str(counts.index[-1]) if len(counts) else None)
    text, profile = [], []
    for c in columns:
        if c == label_column:
            continue
        col = df[c].dropna()
        if col.empty:
            continue
        is_text = col.dtype == object or pd.api.types.is_string_dtype(col)
        if is_text:
            as_text = col.astype(str)
            distinct = as_text.nunique() / len(as_text)
            if as_text.str.len().mean() > 30 and distinct > 0.5:
                text.append(c)
                continue
        if len(col) > 20 and col.nunique() == len(col) and (is_text or pd.api.types.is_integer_dtype(col)):
            continue  # an id: every value distinct, says nothing about a new customer
        profile.append(c)
    return {"label_column": label_column, "positive_class": positive, "profile_columns": profile, "text_columns": text,
            "include_transformer": bool(text)}
