"""The data-health check: suspected label errors, duplicates, outliers and label variants.

``check(df, config)`` looks at the rows a training run would read (``config.text_columns``,
``config.profile_columns`` and ``config.label_column`` of a :class:`~core.config.TrainConfig`)
and returns a :class:`DataReport` whose ``issues`` table has one line per flagged row and
issue kind:

- ``label_error``: the given label disagrees with out-of-fold probabilities of a cheap model
  (logistic regression on TF-IDF word and character n-grams, plus, with ``features="both"``,
  on frozen sentence embeddings of the base model), ranked by ``cleanlab``'s
  ``get_label_quality_scores`` (self-confidence); the top 5% are listed when planted flips show
  the ranking beats chance, with their expected precision (core.label_errors);
  ``score`` = 1 - label quality.
- ``exact_duplicate``: same text after normalising case, Unicode form, invisible characters,
  whitespace, URLs, @mentions and digits; every copy after the first is flagged.
- ``conflicting_duplicate``: such a group whose copies carry different labels (every copy is
  flagged; the group's majority label is suggested where there is one).
- ``near_duplicate``: character n-gram TF-IDF cosine >= :data:`NEAR_DUPLICATE_COSINE` to an
  earlier row with a different normalised text.
- ``outlier``: mean cosine distance to the :data:`OUTLIER_K` nearest rows above the
  interquartile rule cleanlab's Datalab uses for its outlier issue.
- ``label_variant``: a label spelled differently from the most frequent spelling of the same
  label (case, whitespace, Unicode form or invisible characters only).
- ``no_text``, ``no_label``, ``label_not_a_number``: rows training leaves out (core.data's
  validate_mapping counts them): no text in any text column; an empty label; for regression a
  label that is not a finite number ('n/a', 'inf'). score = 1.

``row`` is the 0-based position of the data row in ``df`` (= in the file as read: the header
line is not a row). Nothing here imports Streamlit.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig
from .data import clean_label
from .data import normalise_for_duplicates as normalise_text  # one duplicate key for the split and the check
from .duplicates import NEAR_DUPLICATE_COSINE as NEAR_DUPLICATE_COSINE  # re-exported: the check documents it
from .duplicates import near_duplicate_groups  # one near-duplicate method for the split and the check
from .label_models import MAX_FOLDS as MAX_FOLDS  # re-exported: the benches read them here
from .label_models import out_of_fold_proba as out_of_fold_proba
from .label_models import tag_proba as tag_proba
from .label_models import tfidf_features as tfidf_features
from .ood import OUTLIER_K, base_model_embedder, nearest_distances
from .progress import Cancel, ProgressCallback, ProgressEvent, TrainingCancelled, cancel_check
from .reading import missing_columns_message, to_number
from .words import rows_words

ISSUE_KINDS = (
    "label_error",
    "conflicting_duplicate",
    "exact_duplicate",
    "near_duplicate",
    "outlier",
    "label_variant",
    "no_text",
    "no_label",
    "label_not_a_number",
)
ISSUE_COLUMNS = ["row", "issue", "score", "suggested_label", "group", "label", "text"]
FEATURES = ("auto", "tfidf", "embeddings", "both")

# Outliers: the mean cosine distance to the K nearest rows, flagged above Q3 + s * IQR with
# s = 1/0.37037 - 1 = 1.7, the default rule of cleanlab's Datalab outlier issue
# (OutlierIssueManager.DEFAULT_THRESHOLDS["features"]); k = 10 is Datalab's default too.
OUTLIER_IQR_SCALE = 1 / 0.37037 - 1

_SPACE = re.compile(r"\s+")
# Zero-width and other invisible format characters that spreadsheets and web forms leave behind.
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")


@dataclass
class DataReport:
    """What :func:`check` found.

    ``issues``: DataFrame with :data:`ISSUE_COLUMNS`, one line per (row, issue kind), sorted by
    issue kind then score (highest = most suspect first). ``row`` is the 0-based position in the
    checked frame; ``group`` the first row of a duplicate group (-1 otherwise); ``label`` the row's
    label as given; ``text`` its text cell(s) as written in the file (several joined by " | ");
    ``suggested_label`` '' where none applies. ``n_rows``: rows checked;
    ``n_rows_analysed``: rows with text (and, for label errors, a label); ``features``: what
    the label-error model read; ``seconds``: wall time; ``notes``: sentences for the user;
    ``label_error_precision``: the expected share (0-1) of the most suspect 5% of rows whose label
    is wrong, measured with planted flips (core.label_errors), None where the ranking was no
    better than chance or too weak for the estimate to hold (core.label_errors.MIN_AUC) or
    labels were not checked.
    """

    issues: pd.DataFrame
    n_rows: int
    n_rows_analysed: int
    features: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    label_error_precision: float | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Flagged rows per issue kind, every kind listed (0 when none)."""
        found = self.issues["issue"].value_counts()
        return {kind: int(found.get(kind, 0)) for kind in ISSUE_KINDS}

    def rows(self, *kinds: str) -> list[int]:
        """Sorted distinct row positions flagged with any of ``kinds`` (all kinds if none given)."""
        sel = self.issues if not kinds else self.issues[self.issues["issue"].isin(kinds)]
        return sorted({int(r) for r in sel["row"]})

    def summary(self) -> str:
        """One line per issue kind with a count, e.g. "label_error: 12 row(s)"."""
        lines = [f"checked {self.n_rows:,} row(s) in {self.seconds:.1f}s (label model: {self.features})"]
        lines += [f"{kind}: {n:,} row(s)" for kind, n in self.counts.items()]
        return "\n".join(lines + self.notes)

    def to_csv_bytes(self) -> bytes:
        """ISSUES.csv: UTF-8 with BOM, text cells made formula-safe (core.export)."""
        from .export import to_csv_bytes

        return to_csv_bytes(self.issues)

    def apply(
        self, df: pd.DataFrame, label_column: str, *, drop: tuple[str, ...] = (), relabel: tuple[str, ...] = ()
    ) -> tuple[pd.DataFrame, int, int]:
        """``df`` (the frame that was checked) with the rows flagged with any of ``drop`` removed
        and, in the remaining rows flagged with any of ``relabel`` that have a suggestion, the
        suggested label written into ``label_column``. Returns (new frame, rows dropped, rows whose
        label changed). ``df`` itself is not changed."""
        if len(df) != self.n_rows:
            raise ValueError(f"This check was run on {rows_words(self.n_rows)}; the data now has {len(df):,}. Run the check again.")
        dropped = self.rows(*drop) if drop else []
        keep = np.ones(len(df), dtype=bool)
        keep[dropped] = False
        out = df.copy()
        changed = 0
        if relabel:
            sel = self.issues[self.issues["issue"].isin(relabel) & (self.issues["suggested_label"] != "")]
            # one suggestion per row: the first in ISSUE_KINDS order (label errors before variants)
            column = out.columns.get_loc(label_column)
            for row, label in sel.drop_duplicates("row")[["row", "suggested_label"]].itertuples(index=False):
                if keep[row] and _clean_label(out.iat[row, column]) != label:
                    out.iat[row, column] = _as_column_value(out[label_column], label)
                    changed += 1
        return out.loc[keep], len(dropped), changed

    def to_json(self) -> str:
        """The report as JSON (a check job's result file; :meth:`from_json` reads it back equal)."""
        facts = {"n_rows": self.n_rows, "n_rows_analysed": self.n_rows_analysed, "features": self.features,
                 "seconds": self.seconds, "notes": list(self.notes)}
        return json.dumps({**facts, "issues": self.issues.to_dict(orient="list")}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DataReport:
        data = json.loads(text)
        issues = pd.DataFrame(data.pop("issues"), columns=ISSUE_COLUMNS)
        issues = issues.astype({"row": int, "group": int, "score": float, "issue": str, "suggested_label": str,
                                "label": str, "text": str})
        return cls(issues, **data)


def _as_column_value(column: pd.Series, label: str) -> Any:
    """A suggested label (text) in the column's own type, so a 0/1 column stays numeric."""
    if pd.api.types.is_bool_dtype(column):
        return label == "True"
    if pd.api.types.is_numeric_dtype(column):
        try:
            value = float(label)
        except ValueError:
            return label
        return int(value) if value.is_integer() and pd.api.types.is_integer_dtype(column) else value
    return label


def check(
    df: pd.DataFrame,
    config: TrainConfig,
    *,
    features: str = "tfidf",
    embedder: Callable[[list[str]], np.ndarray] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Cancel = None,
) -> DataReport:
    """Check the rows a training run on ``df`` with ``config`` would read.

    ``features``: what the label-error model reads: "tfidf" (word 1-2-grams and character
    2-5-grams, seconds on 3,000 rows), "embeddings" (frozen mean-pooled sentence embeddings of
    ``config.base_model``), "both" (the two models' out-of-fold probabilities averaged; the best
    measured, see bench/bench_check.py) or "auto" (= "both" when the base model loads, else
    "tfidf"). ``embedder`` (texts -> (n, d) L2-normalised array) replaces the base model's
    encoder (tests). ``on_progress`` is called between steps with a ``core.progress.ProgressEvent``
    (phase "check", its ``fraction`` of the whole check); ``cancel`` (a function or an Event) is
    looked at there too: set, the check raises ``core.progress.TrainingCancelled``.

    Label errors need ``config.task == "classification"`` and at least two classes with two
    labelled rows each; otherwise only duplicates, outliers and label variants are checked and a
    note says why. Raises ``ValueError`` when a configured column is missing from ``df``.
    """
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}; got {features!r}.")
    start = time.perf_counter()
    progress = _reporter(on_progress, cancel, start)
    columns = [*config.profile_columns, *config.text_columns, config.label_column]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(missing_columns_message(missing, df.columns, lead=f"Column(s) {missing} are not in the data"))
    from .data import build_texts

    frame = df.reset_index(drop=True)
    texts = build_texts(frame, config.text_columns, config.profile_columns)
    only_text = build_texts(frame, config.text_columns, ())
    has_text = np.array([bool(t.strip()) for t in only_text], dtype=bool)
    raw_labels = frame[config.label_column]
    spelled = raw_labels.map(lambda v: _clean_label(v, strip=False))
    notes: list[str] = []
    parts: list[pd.DataFrame] = []

    progress(0.02, "label spellings")
    if getattr(config, "multi_label", False) and config.task == "classification":
        # Several tags per row: spellings merged per tag ('Joy' -> 'joy'), as training merges them.
        canonical, variant_issues = _tag_variants(spelled, config.label_sep)
    else:
        canonical, variant_issues = _label_variants(spelled)
    parts.append(variant_issues)
    labels = spelled.map(lambda v: _clean_label(canonical.get(v, v)))  # variants merged for the checks below

    progress(0.05, "duplicates")
    # Duplicates are judged on the text columns alone: profile values ("age: 34") would make
    # every copy of a reposted text look different, and digits are normalised away anyway.
    keys = [normalise_text(t) for t in only_text]  # the same key as training's duplicate-aware split
    parts += _exact_duplicates(keys, labels, has_text)
    near, char_vectors = _near_duplicates(keys, has_text)
    parts.append(near)

    used = "none"
    precision = None
    embeddings = None
    analysed = int(has_text.sum())
    if features in ("auto", "both", "embeddings"):
        progress(0.15, "sentence embeddings")
        try:
            embed = embedder or base_model_embedder(config)
            encoded = np.asarray(embed([t for t, k in zip(texts, has_text) if k]), dtype=np.float32)
            embeddings = np.zeros((len(texts), encoded.shape[1] if encoded.ndim == 2 else 0), dtype=np.float32)
            embeddings[has_text] = encoded  # rows without text keep zeros and are never read
        except Exception as exc:  # noqa: BLE001 - "auto" falls back to TF-IDF whatever broke; others re-raise
            if features != "auto":
                raise
            notes.append(f"Sentence embeddings were not available ({exc}); the label check used TF-IDF only.")
            embeddings = None

    if config.task != "classification":
        notes.append("Label errors are checked for classification only; this label is a number.")
    elif getattr(config, "multi_label", False):  # several tags per row: issues per tag (cleanlab multi-label)
        progress(0.5, "out-of-fold probabilities per tag")
        mode = "both" if features == "auto" and embeddings is not None else ("tfidf" if features == "auto" else features)
        found, used, analysed, note, precision = tag_label_errors(texts, raw_labels, has_text, mode, embeddings,
                                                                  config.seed, config.label_sep)
        parts.append(found)
        if note:
            notes.append(note)
    else:
        progress(0.5, "out-of-fold probabilities")
        mode = "both" if features == "auto" and embeddings is not None else ("tfidf" if features == "auto" else features)
        found, used, n_labelled, note, precision = _label_errors(texts, labels, has_text, mode, embeddings, config.seed)
        parts.append(found)
        analysed = n_labelled
        if note:
            notes.append(note)

    progress(0.85, "outliers")
    outlier_features = embeddings if embeddings is not None else _reduced(char_vectors, config.seed)
    if outlier_features is not None:
        parts.append(_outliers(outlier_features, np.flatnonzero(has_text)))
    if (~has_text).any():
        notes.append(f"{int((~has_text).sum()):,} row(s) without text were not checked.")
    parts += _unusable(has_text, labels, raw_labels, config.task)

    issues = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else _empty()
    # The label as written (a trailing or zero-width space kept: that is what a label variant is);
    # numbers as training spells them (1.0 read from a column with blanks is "1").
    issues["label"] = [_clean_label(raw_labels.iat[int(r)], strip=False) for r in issues["row"]]
    written = _as_written(frame, config.text_columns)  # the user's own text, spaces and line breaks kept
    issues["text"] = [written[int(r)] for r in issues["row"]]
    order = {kind: i for i, kind in enumerate(ISSUE_KINDS)}
    issues = issues.assign(_k=issues["issue"].map(order)).sort_values(["_k", "score", "row"], ascending=[True, False, True])
    issues = issues.drop(columns="_k").reset_index(drop=True)[ISSUE_COLUMNS]
    issues["row"] = issues["row"].astype(int)
    issues["group"] = issues["group"].astype(int)
    issues["score"] = issues["score"].astype(float).round(6)
    progress(1.0, "done")
    return DataReport(issues, len(frame), analysed, used, time.perf_counter() - start, notes, precision)


def _reporter(on_progress: ProgressCallback | None, cancel: Cancel, start: float) -> Callable[[float, str], None]:
    """The check's ``progress(fraction, step name)``: stops a cancelled check, then reports."""
    stop = cancel_check(cancel)

    def progress(fraction: float, step: str) -> None:
        if stop():
            raise TrainingCancelled("The data check was cancelled.")
        if on_progress is not None:
            message = "Done" if step == "done" else f"Checking the data: {step}"
            on_progress(ProgressEvent("check", fraction=fraction, message=message, elapsed_s=time.perf_counter() - start))

    return progress


# --------------------------------------------------------------------------- pieces


def _as_written(frame: pd.DataFrame, text_columns: tuple[str, ...]) -> list[str]:
    """Each row's text cells as in the file (not the model's whitespace-collapsed input), so a
    row in ISSUES.csv can be found in the user's file: one column's cell itself, several joined
    by " | "; empty cells are ''."""
    cells = frame[list(text_columns)].astype(object).where(frame[list(text_columns)].notna(), "").astype(str)
    if len(text_columns) == 1:
        return cells.iloc[:, 0].tolist()
    return [" | ".join(v for v in row if v) for row in cells.itertuples(index=False)]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype=int), "issue": pd.Series(dtype=object),
                         "score": pd.Series(dtype=float), "suggested_label": pd.Series(dtype=object),
                         "group": pd.Series(dtype=int)})


def _issues(rows: Any, kind: str, scores: Any, suggested: Any = "", group: Any = -1) -> pd.DataFrame:
    rows = np.asarray(rows, dtype=int)
    frame = pd.DataFrame({"row": rows, "issue": kind, "score": np.asarray(scores, dtype=float)})
    frame["suggested_label"] = suggested if isinstance(suggested, str) else [str(s) for s in suggested]
    frame["group"] = group if np.isscalar(group) else np.asarray(group, dtype=int)
    return frame if len(rows) else _empty()


def _clean_label(value: Any, *, strip: bool = True) -> str:
    """A label as training reads it (core.data.clean_label), or (``strip=False``) its raw
    spelling, so a trailing or zero-width space still counts as a variant spelling."""
    if not strip and isinstance(value, str):
        return value
    return clean_label(value)


def _label_key(label: str) -> str:
    return _SPACE.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", label))).strip().casefold()


def _tag_variants(raw_labels: pd.Series, separator: str | None) -> tuple[dict[str, str], pd.DataFrame]:
    """Rows with a tag spelled otherwise than the most frequent spelling of that tag (case only),
    several tags per row (core.multilabel.merge_tag_case): the suggested label is the row's tags so
    spelled, written with the column's separator; score = 1 - the rarest such spelling's share.
    Returns ({cell: that cell so spelled}, issues), as :func:`_label_variants`."""
    from .multilabel import join_tags, merge_tag_case, parse_labels

    present = np.flatnonzero(raw_labels.map(lambda v: bool(_clean_label(v))).to_numpy())
    try:
        lists, separator = parse_labels(raw_labels.iloc[present].tolist(), separator)
    except ValueError:  # cells that do not parse: said by validate_mapping
        return {}, _empty()
    merged, variants = merge_tag_case(lists)
    if not variants:
        return {}, _empty()
    counts = pd.Series([t for r in lists for t in r], dtype=object).value_counts()
    kind = counts.groupby(counts.index.map(str.casefold)).sum()  # rows of each tag, all spellings
    odd = {v for found in variants.values() for v in found}
    rows, scores, suggested, canonical = [], [], [], {}
    for i, tags, fixed in zip(present, lists, merged):
        if odd & set(tags):
            canonical[str(raw_labels.iloc[i])] = join_tags(fixed, separator)
            rows.append(int(i))
            scores.append(max(1.0 - counts[t] / kind[t.casefold()] for t in tags if t in odd))
            suggested.append(join_tags(fixed, separator))
    return canonical, _issues(rows, "label_variant", scores, suggested)


def _label_variants(labels: pd.Series) -> tuple[dict[str, str], pd.DataFrame]:
    """Labels that differ only in case, whitespace, Unicode form or invisible characters.

    Returns ({spelling: most frequent spelling of its kind}, issues for the rows spelled
    otherwise; score = 1 - that spelling's share of its kind, so rare spellings rank first).
    The raw values are compared (before :func:`_clean_label` strips them) so that a trailing
    space or a zero-width space counts as a variant too.
    """
    raw = labels.astype(str)
    present = raw[raw.map(lambda v: v.strip() != "")]
    canonical: dict[str, str] = {}
    rows: list[int] = []
    scores: list[float] = []
    suggested: list[str] = []
    for _key, spellings in present.groupby(present.map(_label_key)):
        counts = spellings.value_counts()
        if len(counts) < 2:
            continue
        top = str(counts.index[0])
        for spelling, n in counts.items():
            canonical[str(spelling)] = top
            if spelling == top:
                continue
            where = np.flatnonzero((raw == spelling).to_numpy())
            rows += where.tolist()
            scores += [1.0 - n / counts.sum()] * len(where)
            suggested += [_clean_label(top)] * len(where)
    return canonical, _issues(rows, "label_variant", scores, suggested)


def _unusable(has_text: np.ndarray, labels: pd.Series, raw_labels: pd.Series, task: str) -> list[pd.DataFrame]:
    """The rows training leaves out, one kind per reason (the first that applies), so ISSUES.csv
    lists every row that needs the user's attention, not only the suspect ones."""
    no_label = has_text & (labels.astype(str).to_numpy() == "")
    found = [_issues(np.flatnonzero(~has_text), "no_text", 1.0), _issues(np.flatnonzero(no_label), "no_label", 1.0)]
    if task == "regression":
        number = to_number(raw_labels).to_numpy(dtype=float)
        found.append(_issues(np.flatnonzero(has_text & ~no_label & ~np.isfinite(number)), "label_not_a_number", 1.0))
    return found


def _exact_duplicates(keys: list[str], labels: pd.Series, has_text: np.ndarray) -> list[pd.DataFrame]:
    """Exact and conflicting duplicates from the normalised texts.

    exact_duplicate: every copy after the first of a group (score = group size, so copies of
    often repeated texts come first). conflicting_duplicate: every row of a group with two or
    more different labels (score = 1 - the share of the row's label in the group; suggested =
    the group's majority label, '' on a tie).
    """
    frame = pd.DataFrame({"key": keys, "label": labels.astype(str).to_numpy(), "row": np.arange(len(keys))})
    frame = frame[has_text]
    frame = frame[frame.duplicated("key", keep=False)]
    exact, conflict = [], []
    for _key, group in frame.groupby("key", sort=False):
        first = int(group["row"].min())
        size = len(group)
        copies = group[group["row"] != first]
        exact.append(_issues(copies["row"], "exact_duplicate", [size] * len(copies), "", first))
        given = group.loc[group["label"] != "", "label"]
        counts = given.value_counts()
        if len(counts) >= 2:
            majority = str(counts.index[0]) if counts.iloc[0] > counts.iloc[1] else ""
            share = group["label"].map(counts).fillna(0).to_numpy() / counts.sum()
            conflict.append(_issues(group["row"], "conflicting_duplicate", 1.0 - share, majority, first))
    return exact + conflict


def _near_duplicates(keys: list[str], has_text: np.ndarray) -> tuple[pd.DataFrame, Any]:
    """Groups of rows whose normalised texts are near duplicates (core.duplicates: character
    3-5-gram TF-IDF cosine >= NEAR_DUPLICATE_COSINE, transitively), the grouping training's split
    uses too; every member after the group's first row is flagged (score = its highest cosine to
    a member with another normalised text). Returns (issues, the (n_text_rows, v) sparse
    vectors for reuse, or None without text)."""
    idx = np.flatnonzero(has_text)
    if len(idx) < 2:
        return _empty(), None
    found = near_duplicate_groups([keys[i] for i in idx])
    first = pd.Series(np.arange(len(idx))).groupby(found.group).transform("min").to_numpy()
    flagged = np.flatnonzero(found.joined & (first != np.arange(len(idx))))
    issues = _issues(idx[flagged], "near_duplicate", found.best[flagged], "", idx[first[flagged]])
    return issues, found.key_vectors[found.codes]


def _reduced(vectors: Any, seed: int) -> np.ndarray | None:
    """Character TF-IDF vectors reduced to at most 100 dimensions and L2-normalised: the outlier
    check's features when no sentence embeddings were computed."""
    if vectors is None or vectors.shape[0] <= OUTLIER_K + 1 or vectors.shape[1] < 3:
        return None
    from sklearn.decomposition import TruncatedSVD

    dims = min(100, vectors.shape[1] - 1, vectors.shape[0] - 1)
    reduced = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(vectors)
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    return reduced / np.where(norms == 0, 1, norms)


def _outliers(features: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """Rows whose mean cosine distance to their OUTLIER_K nearest rows is above
    Q3 + OUTLIER_IQR_SCALE * IQR of that distance over all rows (Datalab's rule); score = the
    mean distance. ``features``: (n_rows, d) for the text rows only when its length equals
    ``len(rows)``, else (n_all, d) indexed by ``rows``."""
    x = features if len(features) == len(rows) else features[rows]
    if len(x) <= OUTLIER_K + 1:
        return _empty()
    mean = nearest_distances(x, x, OUTLIER_K, same=True)
    threshold = distance_threshold(mean)
    flagged = np.flatnonzero(mean > threshold)
    return _issues(rows[flagged], "outlier", mean[flagged])


def distance_threshold(mean_distances: np.ndarray) -> float:
    """Datalab's outlier cut: Q3 + (1/0.37037 - 1) * IQR of the rows' mean kNN distances."""
    q1, q3 = np.percentile(mean_distances, [25, 75])
    return float(q3 + OUTLIER_IQR_SCALE * (q3 - q1))


# --------------------------------------------------------------------------- label errors


def _label_errors(
    texts: list[str], labels: pd.Series, has_text: np.ndarray, mode: str, embeddings: np.ndarray | None, seed: int
) -> tuple[pd.DataFrame, str, int, str, float | None]:
    """(issues, features used, rows analysed, note, expected precision). The ranking (1 - cleanlab's self-confidence
    label quality over out-of-fold probabilities) is calibrated by planted flips
    (core.label_errors.calibrated_ranking): its top 5% are listed, with their expected precision
    in the note, when it beats chance, and nothing is listed otherwise. suggested label = the
    out-of-fold most likely class."""
    from .label_errors import rank_class_errors

    given = labels.astype(str).to_numpy()
    usable = has_text & (given != "")
    counts = pd.Series(given[usable]).value_counts()
    kept_classes = counts[counts >= 2].index
    small = counts[counts < 2]
    note = ""
    if len(small):
        note = f"{len(small)} class(es) with a single row were left out of the label check."
    usable &= np.isin(given, kept_classes)
    if len(kept_classes) < 2 or counts[kept_classes].min() < 2:
        return _empty(), "none", 0, "Label errors need at least two classes with two labelled rows each.", None
    idx = np.flatnonzero(usable)
    classes = np.array(sorted(kept_classes), dtype=object)
    y = np.searchsorted(classes, given[idx])
    emb = embeddings[idx] if embeddings is not None else None
    ranking, proba = rank_class_errors([texts[i] for i in idx], y, mode, emb, seed)
    note = " ".join(filter(None, [note, ranking.note()]))
    where = ranking.listed
    suggested = classes[proba[where].argmax(axis=1)]
    return _issues(idx[where], "label_error", ranking.scores[where], suggested), mode, len(idx), note, ranking.stated_precision


def tag_label_errors(texts: list[str], raw_labels: pd.Series, has_text: np.ndarray, mode: str,
                     embeddings: np.ndarray | None, seed: int, separator: str | None
                     ) -> tuple[pd.DataFrame, str, int, str, float | None]:
    """Label issues of a column with several tags per row: (issues, features used, rows analysed,
    note, expected precision).

    Out-of-fold per-tag probabilities (one-vs-rest logistic regression, KFold; mode as
    :func:`out_of_fold_proba`), ranked by 1 - cleanlab's multi-label ``get_label_quality_scores``
    and calibrated by planted tag toggles (core.label_errors): the top 5% are listed when the
    ranking beats chance. The suggested label is the row's tags with the tag whose given value the
    model finds least likely toggled (written with the column's own separator). Tags on fewer than
    2 rows are left out of the check."""
    from .label_errors import rank_tag_errors
    from .multilabel import binarize, join_tags, merge_tag_case, parse_labels

    present = raw_labels.notna().to_numpy() & has_text
    idx = np.flatnonzero(present)
    lists, separator = parse_labels(raw_labels.iloc[idx].tolist(), separator)
    lists, _ = merge_tag_case(lists)  # 'Joy' and 'joy' one tag, as training reads them
    counts = pd.Series([t for r in lists for t in r], dtype=object).value_counts()
    tags = sorted(counts[counts >= 2].index)
    folds = min(MAX_FOLDS, len(idx) // 2)
    if len(tags) < 2 or folds < 2:
        return _empty(), "none", 0, "Label errors need at least two tags with two labelled rows each.", None
    Y, tags = binarize(lists, tags)
    emb = embeddings[idx] if embeddings is not None else None
    ranking, proba = rank_tag_errors([texts[i] for i in idx], Y, mode, emb, seed, folds)
    where = ranking.listed
    suggested = []
    for i in where:
        row = Y[i].astype(bool)
        row[np.argmax(np.abs(proba[i] - row))] ^= True  # toggle the least likely given value
        suggested.append(join_tags([t for t, on in zip(tags, row) if on], separator))
    return (_issues(idx[where], "label_error", ranking.scores[where], suggested), mode, len(idx),
            ranking.note("tags"), ranking.stated_precision)
