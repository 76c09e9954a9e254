"""Suspected label errors of a labelling project with several tags per row, per tag.

The Label page's review (ui/label.py) asks which labelled rows to look at again. With one label
per row that is core.labeling.suspected_label_errors; with several tags per row a row is rarely
wrong as a whole: one tag is missing or one is too many. So each (row, tag) decision is scored
against out-of-fold probabilities of a one-vs-rest logistic regression (TF-IDF, and sentence
embeddings where the base model loads, as the data check) fitted on the other labelled rows,
with cleanlab's multi-label scores: the data check's own calibrated ranking
(core.label_errors.rank_tag_errors: rows ranked by ``get_label_quality_scores``, listed only when
the ranking finds tags toggled on purpose in copies of the data better than chance) and
``get_label_quality_scores_per_class`` to say which tag of a row looks wrong (its self-confidence:
p of the tag when given, 1 - p when not, both with cleanlab's class-imbalance adjustment).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

SUSPECT_BELOW = 0.5  # a tag decision whose out-of-fold self-confidence is below this looks wrong


def suspected_tag_errors(labeled_df: pd.DataFrame, text_columns: Sequence[str], label_column: str, n: int = 20, *,
                         separator: str | None = None, seed: int = 42,
                         embedder: Callable[[list[str]], np.ndarray] | None = None) -> pd.DataFrame:
    """The ``n`` labelled rows whose tags look most wrong, most suspect first, or none at all.

    ``labeled_df``: the labelled rows (original index kept); ``label_column`` holds each row's tags
    joined by ``separator`` (None: the one core.multilabel.detect finds, else "|"). Tags on fewer
    than 2 rows are left out. Returns those rows (all columns) plus ``suspect_tags`` (the tags whose
    decision looks wrong, e.g. "+price, -delivery": + missing, - given but unlikely; the least
    likely one when none crosses 0.5), ``suggested_label`` (the given tags with the suspect ones
    flipped, written with the project's separator), ``suspect_score`` (1 - cleanlab's row quality,
    0-1, higher = more suspect) and ``rank``; no rows when the ranking is no better than chance, the
    rows are fewer than core.label_errors.MIN_ROWS or its expected precision's lower bound is below
    core.label_errors.MIN_PRECISION; at most half the rows are listed. ``attrs``: ``note`` (the
    sentence to show: expected precision, or why it or any row is not given), ``precision`` (0-1 or
    None), ``n_ranked`` (rows), ``tags``, ``label_model`` and ``label_model_note`` (``embedder``:
    as core.labeling.suspected_label_errors, TF-IDF and sentence embeddings as the check's "auto").
    Raises ``ValueError`` when fewer than two tags have 2 labelled rows each, or fewer than 4 rows
    are labelled (two folds of two).
    """
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    from .label_errors import rank_tag_errors
    from .label_models import MAX_FOLDS
    from .labeling import label_model_features
    from .multilabel import binarize, join_tags, parse_labels

    raw = labeled_df[label_column]
    keep = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    rows = labeled_df.loc[keep]
    lists, separator = parse_labels(rows[label_column].tolist(), separator)
    counts = pd.Series([t for r in lists for t in r], dtype=object).value_counts()
    tags = sorted(counts[counts >= 2].index)
    folds = min(MAX_FOLDS, len(rows) // 2)
    if len(tags) < 2 or folds < 2:
        raise ValueError(f"Ranking tag errors needs two tags with 2 labelled rows each; found {dict(counts)} on "
                         f"{len(rows)} labelled row(s).")
    Y, tags = binarize(lists, tags)
    texts = [" | ".join(str(v) for v in r) for r in rows[list(text_columns)].fillna("").astype(str).itertuples(index=False)]
    # adjust_pred_probs: cleanlab's correction for class imbalance. Tags are often rare (and a "none
    # of these" tag is hard for a linear model); without it the rows of the rarest tag fill the top
    # (planted wrong tags in the top 8: 1-2 of 8 without, 4-8 with; tests/core/test_tag_review.py's data, 4 seeds).
    mode, embeddings, why = label_model_features(texts, embedder)
    ranking, proba = rank_tag_errors(texts, Y, mode, embeddings, seed, folds, k=min(n, max(1, len(rows) // 2)),
                                     adjust_pred_probs=True)
    given = [list(np.flatnonzero(row)) for row in Y]
    scores = get_label_quality_scores_per_class(given, proba, adjust_pred_probs=True)  # (n, k); documented as a list of k (n,) arrays
    per_tag = np.column_stack(scores) if isinstance(scores, list) else np.asarray(scores)
    order = ranking.listed
    out = rows.iloc[order].copy()
    marks, suggested = [], []
    for i in order:
        wrong = per_tag[i] < SUSPECT_BELOW
        shown = np.flatnonzero(wrong) if wrong.any() else [int(np.argmin(per_tag[i]))]
        marks.append(", ".join(("-" if Y[i, j] else "+") + tags[j] for j in shown))
        flipped = Y[i].astype(bool) ^ wrong
        suggested.append(join_tags([t for t, on in zip(tags, flipped) if on], separator))
    out["suspect_tags"] = marks
    out["suggested_label"] = suggested
    out["suspect_score"] = ranking.scores[order]
    out["rank"] = np.arange(1, len(order) + 1)
    out.attrs.update(note=ranking.note("tags"), precision=ranking.stated_precision, n_ranked=len(rows), tags=tags,
                     label_model=mode, label_model_note=why)
    return out
