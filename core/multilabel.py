"""Multi-label ("several tags per row"): detecting a label column that holds lists, parsing it into
a binary indicator matrix, choosing a threshold per tag on validation, and the metrics.

A list-like label cell is tags joined by ``|``, ``;`` or ``,`` (spaces around them allowed:
``"price | delivery"``), or a JSON list (``["price", "delivery"]``). The field's terms: a *tag* is
one of the labels a row may carry; the indicator matrix Y (n rows, k tags) has Y[i, j] = 1 when row
i carries tag j (scikit-learn's ``MultiLabelBinarizer``). Metrics are scikit-learn's multi-label
ones: micro-F1 (the headline: every (row, tag) decision counts once), macro-F1 (the mean of the
per-tag F1s), per-tag precision/recall/F1, Hamming loss and subset accuracy (a row counts only when
all its tags are right).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .words import rows_words

__all__ = [
    "JSON_LIST", "ROWS_PER_TAG_NOTE", "SEPARATORS", "ListLabels", "binarize", "cut_offs", "detect",
    "first_labels_separator", "hidden_joins", "hidden_joins_sentence", "joined", "joined_values", "refusal",
    "multilabel_metrics", "parse_labels", "pos_weight", "prediction_columns", "sigmoid", "split_tags", "tags_from_proba",
    "tag_counts",
]

JSON_LIST = "json"  # the separator name of JSON-list cells
SEPARATORS = ("|", ";", ",")  # tried in this order; the first that fits is the column's
MIN_SEVERAL_SHARE = 0.02  # a column is list-like when at least this share of its labelled rows holds 2+ tags
MIXED_RECURRING_SHARE = 0.8  # "|" or ";": this share of the rows holding one must split into recurring tags
MAX_TAG_CHARS = 40  # a tag is a short name; longer pieces are free text with commas in it
MAX_TAG_WORDS = 4
MAX_TAGS = 200  # more distinct pieces than this reads as free text, not a tag vocabulary
THRESHOLD_FALLBACK = 0.5  # the lowest cut-off of a tag the model cannot yet tell (core.multilabel.cut_offs)
OUTPUT_SEP = "|"  # predicted_labels joins tags with this, whatever the training file used
PREDICTED_LABELS = "predicted_labels"
# Under a chart of rows per tag (Train, Predict): what its bars and shares count, in one set of words.
ROWS_PER_TAG_NOTE = ("Each bar counts the rows carrying that tag, and its share is of all {n:,} rows: a row with two "
                     "tags counts in both bars, so the shares add up to more than 100%.")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, shape kept (numerically stable for large |x|)."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def tags_from_proba(proba: np.ndarray, tags: Sequence[str], thresholds: np.ndarray) -> np.ndarray:
    """``predicted_labels`` per row of ``proba`` (n, k): the tags whose probability is at least
    their threshold, in ``tags`` order, joined by "|"; "" when none passes. A NaN row (no text)
    gives "". Returns an object array (n,)."""
    proba = np.asarray(proba, dtype=np.float64)
    chosen = np.nan_to_num(proba, nan=-1.0) >= np.asarray(thresholds, dtype=np.float64)[None, :]
    names = [str(t) for t in tags]
    return np.array([OUTPUT_SEP.join(n for n, on in zip(names, row) if on) for row in chosen], dtype=object)


# How every sentence about a label column of tag lists starts (ListLabels.finding), so a page
# can tell core.data's warning of it from others (ui/multilabel.py says it in the page's words).
LIST_LABELS_LEAD = "Label column '{column}' looks like several tags per row:"


@dataclass(frozen=True)
class ListLabels:
    """What :func:`detect` found in a label column (``separator``: "|", ";", "," or "json")."""

    column: str
    separator: str
    tags: list[str]  # the tag vocabulary, most frequent first, spellings differing only in case merged
    share_several: float  # share of labelled rows with two or more tags (0..1)
    n_rows: int  # labelled rows looked at
    json_rows: int = 0  # cells written as JSON lists among joined ones (exports mix spellings; split_tags reads both)
    # {tag in ``tags``: [its other spellings]}: merged per tag as training reads them (merge_tag_case)
    merged: dict[str, list[str]] = field(default_factory=dict)

    def finding(self) -> str:
        """What was found, without what to do: "Label column 'tags' looks like several tags per row:
        tags joined by '|', 5 tags ('price', ...; 'Price' read as 'price', as training merges tags
        that differ only in case); 40% of its 200 labelled rows have two or more."."""
        joined_by = ("JSON lists" if self.separator == JSON_LIST
                     else f"tags joined by {' or '.join(repr(c) for c in self.separator)}"
                     + (f", or JSON lists ({rows_words(self.json_rows)})" if self.json_rows else ""))
        shown = ", ".join(repr(t) for t in self.tags[:8]) + (f" and {len(self.tags) - 8} more" if len(self.tags) > 8 else "")
        if self.merged:
            listed = [f"{' and '.join(map(repr, others))} read as {tag!r}" for tag, others in self.merged.items()]
            shown += (f"; {', '.join(listed[:5])}{f' and {len(listed) - 5} more' if len(listed) > 5 else ''}, as "
                      "training merges tags that differ only in case")
        return (f"{LIST_LABELS_LEAD.format(column=self.column)} {joined_by}, {len(self.tags)} tags "
                f"({shown}); {self.share_several:.0%} of its {self.n_rows:,} labelled rows have two or more.")

    def sentence(self) -> str:
        """One line for ``check`` and the API: what was found and what to do (the Train page says
        the second part in its own words, ui/multilabel.py)."""
        sep = "" if self.separator in ("|", "|;") else f" --label-sep {self.separator!r}"
        return (f"{self.finding()} Train with several tags per row (multi-label: the Train page's toggle, or "
                f"`--multi-label{sep}`) so that each tag is learned on its own; otherwise every combination becomes a "
                "class of its own.")


def joined_values(values: pd.Series | Sequence[Any], separator: str) -> Counter:
    """{cell: rows} of the label cells holding several tags when read with ``separator`` (the
    values a single-label model would train as classes of their own), most frequent first."""
    cells = pd.Series(values, dtype=object).dropna().astype(str).str.strip()
    return Counter(c for c in cells if len(split_tags(c, separator)) >= 2)


def refusal(found: ListLabels, values: pd.Series | Sequence[Any], remedy: str) -> str:
    """Why multi-label off is refused on a column :func:`detect` reads as tag lists, naming the
    joined values (one rule for ``train --no-multi-label`` and the Train page's unticked box);
    ``remedy``: what to do, in the caller's words."""
    joined = joined_values(values, found.separator)
    shown = ", ".join(repr(c) for c, _ in joined.most_common(5)) + (f" and {len(joined) - 5} more" if len(joined) > 5 else "")
    n_joined = sum(joined.values())
    return (f"Label column '{found.column}' holds several tags per row: {rows_words(n_joined)} "
            f"join{'s' if n_joined == 1 else ''} tags "
            f"({shown}). With multi-label off each such value would be a class of its own (a class called "
            f"{joined.most_common(1)[0][0]!r}), so training one class per row is refused. {remedy}")


def split_tags(value: Any, separator: str) -> list[str]:
    """The tags of one cell, stripped, without empty pieces or repeats (first spelling kept).

    ``separator`` "json": the cell must be a JSON list of strings or numbers (``ValueError``
    otherwise, naming the cell). A missing cell or "[]" has no tags.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    text = str(value).strip()
    if separator == JSON_LIST:
        try:
            items = json.loads(text) if text else []
        except json.JSONDecodeError as exc:
            raise ValueError(f"Label {text[:60]!r} is not a JSON list ({exc.msg}); expected e.g. [\"price\", \"delivery\"].") from exc
        if not isinstance(items, list) or any(isinstance(i, (list, dict)) for i in items):
            raise ValueError(f"Label {text[:60]!r} is not a flat JSON list of tags; expected e.g. [\"price\", \"delivery\"].")
        pieces = [str(i) for i in items if i is not None]
    elif _looks_like_json_list(text) and (items := _json_items(text)) is not None:
        pieces = items  # a JSON list among joined cells (exports mix spellings): its items, not its text
    else:
        # Several separator characters ("|;"): cells of one column joined either way, each split on any.
        pieces = re.split("|".join(map(re.escape, separator)), text) if len(separator) > 1 else text.split(separator)
    return list(dict.fromkeys(p.strip() for p in pieces if p.strip()))


def _json_items(text: str) -> list[str] | None:
    """The items of a flat JSON list of strings or numbers, as text; None when ``text`` is not one."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(items, list) or any(isinstance(i, (list, dict)) for i in items):
        return None
    return [str(i) for i in items if i is not None]


def _looks_like_json_list(text: str) -> bool:
    return text.startswith("[") and text.endswith("]")


def _tag_like(piece: str) -> bool:
    return len(piece) <= MAX_TAG_CHARS and len(piece.split()) <= MAX_TAG_WORDS


def detect(values: pd.Series | Sequence[Any], column: str = "label") -> ListLabels | None:
    """A :class:`ListLabels` when the label ``values`` look like lists of tags, else None.

    JSON lists: at least 90% of the labelled cells parse as flat JSON lists. A separator s
    ("|", ";", "," tried in order) fits when at least 2% of the cells hold s, every piece is short
    (at most 40 characters and 4 words), the pieces form a vocabulary of at most 200 tags, that
    vocabulary is smaller than the number of distinct cells, and the pieces of cells holding s
    are tags that recur (free text has pieces that are met once; spellings differing in case
    count as one): for "|" and ";" at least 80% of the rows holding s split into pieces each met
    in 2+ rows (a tag met once or only in combination does not turn detection off); for "," every
    such piece recurs and at least half of them are also whole cells. A plain single-label column
    (no separator in it) gives None.
    """
    cells = pd.Series(values, dtype=object).dropna().astype(str).str.strip()
    cells = cells[cells != ""]
    if len(cells) == 0:
        return None
    json_like = cells.map(_looks_like_json_list)
    if json_like.mean() >= 0.9:
        try:
            lists = [split_tags(c, JSON_LIST) for c in cells[json_like]]
        except ValueError:
            lists = None
        if lists is not None:
            return _found(column, JSON_LIST, lists, len(cells))
    distinct = cells.unique()
    # Cells joined by '|' in some rows and by ';' in others (exports merged from two tools): both at once.
    both = "".join(s for s in ("|", ";") if cells.str.contains(s, regex=False).mean() >= MIN_SEVERAL_SHARE)
    for separator in ([both] if len(both) > 1 else []) + list(SEPARATORS):
        holding = [c for c in distinct if any(ch in c for ch in separator)]
        if not holding or cells.map(lambda c, s=separator: any(ch in c for ch in s)).mean() < MIN_SEVERAL_SHARE:
            continue
        lists = [split_tags(c, separator) for c in cells]
        counts = Counter(t for tags in lists for t in tags)
        if len(counts) > MAX_TAGS or len(counts) >= len(distinct) or not all(_tag_like(t) for t in counts):
            continue
        pieces = {t for c in holding for t in split_tags(c, separator)}
        alone = {c for c in distinct if not any(ch in c for ch in separator)}
        folded = Counter(t.casefold() for tags in lists for t in tags)  # 'JOY' recurs when 'joy' does
        # A comma is common in free text: there every piece must recur and the tags must also stand
        # alone in some cells. '|' and ';' are rare in prose: a column is tag lists when most rows
        # holding one split into recurring tags, so a tag met once or only in combination ('joy;
        # love' among single tags) is no sign of free text.
        if separator == ",":
            recurring = all(folded[t.casefold()] >= 2 for t in pieces)
        else:
            rows = [split_tags(c, separator) for c in cells if any(ch in c for ch in separator)]
            recurring = sum(all(folded[t.casefold()] >= 2 for t in r) for r in rows) >= MIXED_RECURRING_SHARE * len(rows)
        if recurring and (separator != "," or len(pieces & alone) * 2 >= len(pieces)):
            if separator in ("|", ";") and hidden_joins(lists, separator):  # a few rows joined the other way: read both
                separator = "|;"
                lists = [split_tags(c, separator) for c in cells]
            return _found(column, separator, lists, len(cells), int(json_like.sum()))
    return None


def hidden_joins(lists: Sequence[Sequence[str]], separator: str) -> Counter:
    """{tag: rows} of the tags read with ``separator`` that another separator splits into tags
    ('movies; food' read with '|'): by '|' or ';' always (rare in a tag name), by ',' when each
    piece is a tag of its own elsewhere ('Home, Garden' alone stays one tag)."""
    known = {t.casefold() for r in lists for t in r}
    found: Counter = Counter()
    for tags in lists:
        for tag in tags:
            for other in (o for o in SEPARATORS if o not in separator and o in tag):
                pieces = [p.strip() for p in tag.split(other) if p.strip()]
                if len(pieces) >= 2 and (other != "," or all(p.casefold() in known for p in pieces)):
                    found[tag] += 1
                    break
    return found


def hidden_joins_sentence(lists: Sequence[Sequence[str]], separator: str, column: str) -> str | None:
    """What :func:`hidden_joins` found, in one sentence naming the values and their rows, or None."""
    found = hidden_joins(lists, separator)
    if not found:
        return None
    shown = ", ".join(f"{t!r} ({rows_words(n)})" for t, n in found.most_common(5))
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return (f"Label column '{column}' split on {separator!r} leaves tags that another separator joins: {shown}{more}, "
            f"{rows_words(sum(found.values()))} in all. Each is learned as one tag; to read its parts as tags, leave the "
            "separator to be found (no --label-sep), or make the file use one separator.")


def first_labels_separator(values: pd.Series | Sequence[Any]) -> str | None:
    """The tag separator of a few first labels (a labelling project's pre-labelled rows), or None:
    :func:`detect`'s, else "|" (:data:`OUTPUT_SEP`, the separator the product writes tags with) when
    at least MIN_SEVERAL_SHARE of the labelled cells join two or more tags by it and every piece is
    a short tag (as detect's). Detection alone wants tags that recur, which a handful of rows such
    as "food|price", "service" cannot show; "|" is rare enough in a class name to be read as tags."""
    found = detect(values)
    if found is not None:
        return found.separator
    cells = pd.Series(values, dtype=object).dropna().astype(str).str.strip()
    cells = cells[cells != ""]
    lists = [split_tags(c, OUTPUT_SEP) if OUTPUT_SEP in c else [] for c in cells]
    several = sum(len(tags) >= 2 for tags in lists)
    tag_like = all(_tag_like(t) for tags in lists for t in tags)
    return OUTPUT_SEP if len(cells) and several >= max(1, MIN_SEVERAL_SHARE * len(cells)) and tag_like else None


def _found(column: str, separator: str, lists: list[list[str]], n_rows: int, json_rows: int = 0) -> ListLabels | None:
    several = sum(len(t) >= 2 for t in lists)
    if several == 0:
        return None  # one tag per row: an ordinary class column
    merged_lists, merged = merge_tag_case(lists)  # 'Price' and 'price' one tag, as training reads them
    counts = Counter(t for tags in merged_lists for t in tags)
    return ListLabels(column, separator, [t for t, _ in counts.most_common()], several / max(1, len(lists)), n_rows,
                      json_rows, merged)


def join_tags(tags: Sequence[str], separator: str) -> str:
    """One label cell from ``tags``, written as a column joined by ``separator`` writes them
    ("|", "; ", ", " or a JSON list): the inverse of :func:`split_tags`."""
    if separator == JSON_LIST:
        return json.dumps([str(t) for t in tags], ensure_ascii=False)
    separator = separator[0]  # several ("|;": a column joined either way): written with the first
    return {";": "; ", ",": ", "}.get(separator, separator).join(str(t) for t in tags)


def parse_labels(values: Iterable[Any], separator: str | None = None) -> tuple[list[list[str]], str]:
    """``(tags per cell, separator used)``; ``separator`` None: the one :func:`detect` finds, else
    the separator most cells hold (multi-label asked for by hand: 'fear; surprise' is two tags,
    never one), else "|" (a column of single tags is a valid multi-label column too)."""
    values = list(values)
    if separator is None:
        found = detect(pd.Series(values, dtype=object))
        separator = found.separator if found is not None else _most_held(values)
    return [split_tags(v, separator) for v in values], separator


def _most_held(values: Sequence[Any]) -> str:
    """The separator of :data:`SEPARATORS` held by the most cells (ties: the first), "|" when none is."""
    cells = [str(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    held = {s: sum(s in c for c in cells) for s in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: held[s])  # max keeps the first of equals
    return best if held[best] else OUTPUT_SEP


def merge_tag_case(tag_lists: Sequence[Sequence[str]]) -> tuple[list[list[str]], dict[str, list[str]]]:
    """``(tag_lists with each tag spelled as the most frequent spelling of its kind, {spelling:
    [other spellings]})``: tags that differ only in case are one tag ('Joy' and 'joy' merged per
    tag, never per cell, so no new tag is made); ties: the spelling seen first. A row keeps each
    merged tag once."""
    counts = Counter(t for r in tag_lists for t in r)
    best: dict[str, str] = {}
    for spelling, n in counts.items():  # in order of first appearance
        key = spelling.casefold()
        if key not in best or n > counts[best[key]]:
            best[key] = spelling
    variants: dict[str, list[str]] = {}
    for spelling in counts:
        top = best[spelling.casefold()]
        if spelling != top:
            variants.setdefault(top, []).append(spelling)
    merged = [list(dict.fromkeys(best[t.casefold()] for t in r)) for r in tag_lists]
    return merged, variants


def tag_variants_message(variants: dict[str, list[str]], column: str) -> str:
    """What merging tags that differ only in case did, in plain words."""
    listed = "; ".join(f"{', '.join(map(repr, found))} -> {canonical!r}" for canonical, found in variants.items())
    return (f"Tags in '{column}' that differ only in case were read as one tag, each spelled as its most frequent "
            f"spelling: {listed}. To keep them apart, untick 'Merge labels that differ only in case' (CLI: --no-merge-label-case).")


def binarize(tag_lists: Sequence[Sequence[str]], tags: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """``(Y, tags)``: the indicator matrix (n, k) of 0/1 float32 and its tag order (``tags`` when
    given, else sorted) by scikit-learn's ``MultiLabelBinarizer``. Tags outside a given ``tags``
    are ignored (scikit-learn warns; we do not)."""
    import warnings

    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=list(tags) if tags is not None else sorted({t for r in tag_lists for t in r}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "unknown class(es) will be ignored": intended here
        Y = binarizer.fit_transform([list(r) for r in tag_lists])
    return np.asarray(Y, dtype=np.float32), [str(t) for t in binarizer.classes_]


def joined(Y: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """One string per row of an indicator matrix: its tags in ``tags`` order joined by "|" ("" for none)."""
    return tags_from_proba(np.asarray(Y, dtype=np.float64), tags, np.full(len(tags), 0.5))


def tag_counts(Y: np.ndarray, tags: Sequence[str]) -> dict[str, int]:
    """Rows carrying each tag."""
    return {str(t): int(n) for t, n in zip(tags, np.asarray(Y).sum(axis=0))}


def pos_weight(Y_train: np.ndarray) -> np.ndarray:
    """Per-tag positive weight for ``BCEWithLogitsLoss(pos_weight=...)``: negatives / positives on
    the training rows (torch's documented choice, the binary form of scikit-learn's "balanced"),
    1 for a tag without positive or negative rows. Shape (k,)."""
    Y_train = np.asarray(Y_train, dtype=np.float64)
    pos = Y_train.sum(axis=0)
    neg = len(Y_train) - pos
    return np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1), 1.0).astype(np.float32)


RATE_SAMPLING_Z = 2.0  # core.multilabel.cut_offs: a tag's rate on validation may exceed its training rate by 2 standard errors


def cut_offs(Y_val: np.ndarray, P_val: np.ndarray, rates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-tag cut-offs (k,) chosen on held-out rows (validation), and which tags the model cannot
    yet tell (a boolean mask (k,)). A row gets tag j when its probability is at or above the cut-off.

    The rule, per tag: among the cut-offs that make *no more errors* on these rows than never giving
    the tag, the one with the best F1 (the highest cut-off among ties). The candidates are the
    tag's own probabilities on the rows; a cut-off's errors are its false positives plus false
    negatives, never giving the tag errs on its positives only, so a cut-off qualifies when its
    false positives are not more than its true positives (precision at least 0.5 on these rows).
    When none qualifies (or the tag has no positive row here) the tag is one the model *cannot yet
    tell*: its cut-off is just above the highest probability seen on these rows, and at least 0.5,
    so it is given only to a row it scores above every row seen.

    Why not the plain F1-optimal cut-off: for a weak tag it is low (the F1-optimal threshold is
    about half the best F1 reachable), and on a few dozen rows it can fall below most probabilities
    and tag nearly every row; on GoEmotions (600 rows, 59 validation rows) 'surprise' went to 97.5%
    of new rows for 15% true, a Hamming loss worse than giving no tag at all. An F1 gain is worth
    taking only where it does not add errors over not tagging.

    ``rates``: each tag's share of the training rows (k,). When given, a cut-off must also not give
    the tag to more validation rows than the tag could plausibly occur on: its share of these n rows
    at most ``rate + RATE_SAMPLING_Z * sqrt(rate * (1 - rate) / n)`` (the tag's rate plus two
    standard errors of a share of n rows; the limit widens as n shrinks and tightens as it grows):
    a best-F1 cut-off above the limit is raised to the lowest qualifying cut-off within it (where
    none is, the rule above stands alone). Why: on 60 validation rows the best-F1 cut-off of a
    frequent tag is picked among many noisy near-ties, most of them low; the few-shot and embedding models of bench/bench_multilabel.py (600 GoEmotions rows, three
    draws, round 8 in docs/measurements.md) gave joy to 45-69% of new rows for 41-43% true and
    neutral to 46% for 33%. With the limit their Hamming loss fell (few-shot 0.151 -> 0.148,
    embeddings 0.158 -> 0.151, mean of the three draws) at about the same micro-F1 (0.503 -> 0.501,
    0.483 -> 0.481); on 3,000 rows (300 validation rows) it changed no cut-off.
    """
    Y_val, P_val = np.asarray(Y_val), np.asarray(P_val, dtype=np.float64)
    k = Y_val.shape[1]
    out, untold = np.full(k, THRESHOLD_FALLBACK), np.zeros(k, dtype=bool)
    for j in range(k):
        seen = ~np.isnan(P_val[:, j])
        y, p = Y_val[seen, j].astype(bool), P_val[seen, j]
        if not len(p):
            untold[j] = True
            continue
        order = np.argsort(-p, kind="stable")
        p_sorted, y_sorted = p[order], y[order]
        last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), len(p_sorted) - 1]  # the last row of each distinct p
        tp, fp = np.cumsum(y_sorted)[last], np.cumsum(~y_sorted)[last]
        positives = int(y.sum())
        f1 = 2 * tp / np.maximum(tp + fp + positives, 1)
        ok = fp <= tp  # errors fp + (positives - tp) not above never-tag's positives
        if positives == 0 or not ok.any():
            untold[j] = True
            out[j] = max(THRESHOLD_FALLBACK, float(np.nextafter(p_sorted[0], np.inf)))
            continue
        best = np.flatnonzero(ok & (f1 >= f1[ok].max() - 1e-12))[0]  # the highest cut-off among the best
        if rates is not None:  # raised, if need be, to the nearest cut-off giving the tag no more rows than it plausibly has
            rate = float(np.clip(rates[j], 0.0, 1.0))
            limit = len(p) * rate + RATE_SAMPLING_Z * np.sqrt(len(p) * rate * (1 - rate)) + 1e-9
            within = np.flatnonzero(ok & (tp + fp <= limit))
            if tp[best] + fp[best] > limit and len(within):
                best = within[-1]  # the lowest cut-off within the limit (rows sorted by falling probability)
        out[j] = float(p_sorted[last[best]])
    return out, untold


def multilabel_metrics(Y_true: np.ndarray, Y_pred: np.ndarray, tags: Sequence[str]) -> dict[str, Any]:
    """Multi-label metrics by scikit-learn, for indicator matrices (n, k).

    ``micro_f1`` (the headline), ``macro_f1``, ``micro_precision``, ``micro_recall``,
    ``hamming_loss``, ``subset_accuracy`` (also as ``accuracy``: scikit-learn's ``accuracy_score``
    on indicator matrices), ``samples_f1``; ``per_tag``: {tag: precision, recall, f1, support
    (true rows), predicted (rows given the tag), tn, fp, fn, tp}; ``multi_label`` True. Undefined
    ratios (a tag never predicted or never true) count as 0, as ``zero_division=0`` does.
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    Y_true, Y_pred = np.asarray(Y_true).astype(int), np.asarray(Y_pred).astype(int)
    p, r, f, s = precision_recall_fscore_support(Y_true, Y_pred, average=None, zero_division=0)
    confusion = multilabel_confusion_matrix(Y_true, Y_pred) if len(Y_true) else np.zeros((len(tags), 2, 2), int)
    per_tag = {
        str(t): {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(s[j]),
                 "predicted": int(Y_pred[:, j].sum()), "tn": int(confusion[j][0, 0]), "fp": int(confusion[j][0, 1]),
                 "fn": int(confusion[j][1, 0]), "tp": int(confusion[j][1, 1])}
        for j, t in enumerate(tags)
    }
    subset = float(accuracy_score(Y_true, Y_pred))
    micro_p, micro_r, micro_f, _ = precision_recall_fscore_support(Y_true, Y_pred, average="micro", zero_division=0)
    return {
        "multi_label": True,
        "micro_f1": float(micro_f),
        "macro_f1": float(f1_score(Y_true, Y_pred, average="macro", zero_division=0)),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "samples_f1": float(f1_score(Y_true, Y_pred, average="samples", zero_division=0)),
        "hamming_loss": float(hamming_loss(Y_true, Y_pred)),
        "subset_accuracy": subset,
        "accuracy": subset,
        "n_rows": int(len(Y_true)),
        "per_tag": per_tag,
    }


def file_separator(values: Sequence[Any], model_separator: str | None, column: str = "label") -> str | None:
    """How the tags of a file's label cells ``values`` are joined: what :func:`detect` finds in
    them (an export may join them otherwise than the training file did: '; ', ', ', JSON lists),
    else the model's ``model_separator``."""
    found = detect(pd.Series(list(values), dtype=object), column)
    return found.separator if found is not None else model_separator


def separator_words(separator: str | None) -> str:
    """"JSON lists" or "tags joined by '|'" (either character of "|;")."""
    if separator == JSON_LIST:
        return "JSON lists"
    return f"tags joined by {' or '.join(repr(c) for c in (separator or OUTPUT_SEP))}"


def known_spellings(lists: Sequence[Sequence[str]], tags: Sequence[str]) -> list[list[str]]:
    """``lists`` with each tag that differs from one of the model's ``tags`` only in case written as the model's."""
    known = {str(t) for t in tags}
    by_case = {str(t).casefold(): str(t) for t in tags}
    return [list(dict.fromkeys(t if t in known else by_case.get(t.casefold(), t) for t in r)) for r in lists]


def unknown_tag_rows(values: Sequence[Any], tags: Sequence[str], separator: str | None) -> dict[str, int]:
    """Tags of the label cells ``values`` (read with ``separator``) the model's ``tags`` lack, each
    with the number of rows carrying it, most frequent first."""
    lists = known_spellings(parse_labels(values, separator)[0], tags)
    counts = Counter(t for r in lists for t in r if t not in {str(k) for k in tags})
    return dict(counts.most_common())


def evaluate_tags(values: Sequence[Any], proba: np.ndarray, tags: Sequence[str], thresholds: np.ndarray | None,
                  separator: str | None) -> dict[str, Any]:
    """:func:`multilabel_metrics` of a saved model's probabilities ``proba`` (n, k) against label
    cells ``values`` (parsed with ``separator``; found when None). A tag that differs from one of
    the model's only in case counts as it. Tags the model does not know are listed in
    ``tags_not_in_model`` and left out of the scores."""
    lists = known_spellings(parse_labels(values, separator)[0], tags)
    unknown = sorted({t for r in lists for t in r} - {str(t) for t in tags})
    Y, _ = binarize(lists, [str(t) for t in tags])
    cut = np.asarray(thresholds if thresholds is not None else np.full(len(tags), 0.5), dtype=np.float64)
    metrics = multilabel_metrics(Y, np.asarray(proba) >= cut, [str(t) for t in tags])
    if unknown:
        metrics["tags_not_in_model"] = unknown
    return metrics


def prediction_columns(tags: Sequence[str]) -> list[str]:
    """The columns a multi-label prediction appends: ``predicted_labels`` and ``p_<tag>`` per tag."""
    return [PREDICTED_LABELS, *[f"p_{t}" for t in tags]]


def rarest_tag(Y: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """Each row's rarest tag ("" for a row without tags): the stratum a split stratifies on, so
    that every tag with 3+ rows lands in train, validation and test (a light form of iterative
    stratification, Sechidis et al. 2011)."""
    Y = np.asarray(Y)
    counts = Y.sum(axis=0)
    rank = np.where(Y > 0, counts[None, :], np.inf)
    best = rank.argmin(axis=1)
    names = np.asarray([str(t) for t in tags], dtype=object)
    return np.where(np.isfinite(rank.min(axis=1)), names[best] if len(tags) else "", "")

