"""Pure helpers for the Train page's data and column-mapping steps (no Streamlit calls).

They only suggest: the user's choice in the widgets always wins, and ``core.validate_mapping``
has the last word on whether training can start.
"""

from __future__ import annotations

import re
import time

import pandas as pd

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


def non_empty(series: pd.Series) -> pd.Series:
    """True where a cell holds something other than nothing or whitespace."""
    return series.notna() & (series.astype(str).str.strip() != "")


def column_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per column: dtype, share of non-empty cells (0..1), distinct values, an example."""
    rows = []
    for name in df.columns:
        col = df[name]
        present = non_empty(col)
        example = col[present].iloc[0] if present.any() else ""
        example = str(example)
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


def suggest_text_columns(df: pd.DataFrame) -> list[str]:
    """The column most likely to hold the text: a text column named like text/review/headline/
    copy/content/comment..., else the text column with the longest average content."""
    candidates = [c for c in df.columns if _text_like(df, c)]
    for wanted in TEXT_NAMES:
        for c in candidates:
            words = re.split(r"[^a-z]+", str(c).lower())
            if wanted in words or str(c).lower() == wanted:
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


def default_model_name(stem: str, now: float | None = None) -> str:
    """A valid model name from a file name: ``<stem>-<YYYYMMDD-HHMM>`` with unsafe characters
    replaced by '-' (see ``core.validate_name``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "model"
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(now))
    return f"{safe[:48]}-{stamp}"


def field_of_config_error(message: str) -> str:
    """Which setting a ``TrainConfig`` ValueError is about ("Setting 'epochs' must be ...")."""
    match = re.search(r"Setting '([a-z_]+)'", message)
    return match.group(1) if match else ""
