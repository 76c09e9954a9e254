"""The labelling loop: which unlabelled rows to label next, and a labelled set kept on the server.

Uncertainty sampling with diversity: rows are ranked by the *margin* between the model's two
most likely classes (a 50/50 row has margin 0 and comes first; a 99/1 row has margin 0.98),
then walked in that order, skipping a row whose TF-IDF cosine similarity to a row already
picked is at least ``NEAR_DUPLICATE_COSINE``. TF-IDF (word 1-2-grams) rather than the model's
embeddings: it works the same for every model kind, is cheap, and what it skips are the
near-identical texts (templated ads, reposted reviews) that waste a labeller's time;
embedding similarity would also skip texts that merely mean the same, which we still want
labelled when the model is unsure of them.

:class:`LabelStore` keeps a labelling project in a folder (default
``.marketune/labels/<project>/``): ``data.csv`` (every row, its label or empty) and
``meta.json`` (columns, counts, times), both replaced atomically on every save, so labels
survive a closed browser tab or a server restart. The folder is owner-only (0700, its files
0600): the rows are customer data. ``reasons.json`` records why each labelled row was suggested
(:data:`LEAST_SURE` or :data:`RANDOM_CHECK`, core.label_rounds.suggest_rows), kept beside the
labels rather than as a column of data.csv so the labelled set's CSV and columns stay the
person's own; a labelled row with no reason recorded (a project older than the record, a row
labelled in the file or before any suggestion) counts as least sure.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import workspace
from .export import to_csv_bytes
from .files import atomic_write, read_json_object
from .reading import missing_columns_message
from .registry import validate_name

# TF-IDF cosine at or above which two texts count as near-duplicates. Measured on short texts:
# one ad with a word changed or its case/punctuation changed scores 0.63-0.74, "zipper broke
# after one wash" vs "... two washes" 0.54, unrelated reviews 0.0-0.1.
NEAR_DUPLICATE_COSINE = 0.6
ROW_ID = "_row_id"  # the store's stable row key (not exported)
# Why a row was suggested for labelling (core.label_rounds.suggest_rows), kept per labelled row.
LEAST_SURE, RANDOM_CHECK = "least sure", "random check"
REASONS_FILE = "reasons.json"


def uncertainty_ranking(
    model: Any,
    unlabeled_df: pd.DataFrame,
    n: int = 20,
    diversity: bool = True,
    *,
    similarity_threshold: float = NEAR_DUPLICATE_COSINE,
    batch_size: int = 64,
    on_batch: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The ``n`` unlabelled rows the model is least sure about, most unsure first.

    ``model``: any classifier with ``predict_proba`` and ``classes_`` (and ``texts_from`` or
    ``input_columns``); ``unlabeled_df`` must hold the model's input columns. Returns those
    rows (original index, all columns) plus ``predicted_label``, ``confidence`` (top
    probability), ``margin`` (top minus second probability, 0 = a coin toss),
    ``entropy`` (normalised to 0-1) and ``rank`` (1 = label first). Rows without text are
    skipped. With ``diversity``, a row whose TF-IDF cosine to an already chosen row is at least
    ``similarity_threshold`` is passed over (used only if too few rows remain otherwise).
    """
    if getattr(model, "task", "classification") != "classification":
        raise ValueError("Uncertainty ranking needs a classification model; this one predicts a number.")
    if n < 1:
        raise ValueError(f"Expected at least 1 row to rank; got n={n}.")
    missing = [c for c in getattr(model, "input_columns", []) if c not in unlabeled_df.columns]
    if missing:
        raise ValueError(missing_columns_message(missing, unlabeled_df.columns, lead="The unlabelled rows lack the model's "
                                                 f"input column(s) {', '.join(repr(c) for c in missing)}"))
    texts = model.texts_from(unlabeled_df) if hasattr(model, "texts_from") else unlabeled_df.iloc[:, 0].astype(str).tolist()
    has_text = np.array([bool(str(t).strip()) for t in texts], dtype=bool)
    rows = unlabeled_df.loc[has_text]
    texts = [t for t, keep in zip(texts, has_text) if keep]
    columns = ["predicted_label", "confidence", "margin", "entropy", "rank"]
    if not len(rows):
        return pd.DataFrame(columns=[*unlabeled_df.columns, *columns])
    proba = np.asarray(model.predict_proba(rows, batch_size=batch_size, on_batch=on_batch), dtype=float)
    multi_label = getattr(model, "multi_label", False)
    if multi_label:
        predicted, confidence, margin, entropy = _tag_uncertainty(model, proba)
    else:
        top2 = np.sort(proba, axis=1)[:, ::-1][:, :2]
        margin = top2[:, 0] - (top2[:, 1] if proba.shape[1] > 1 else 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(proba > 0, proba * np.log(proba), 0.0), axis=1)
        entropy /= np.log(proba.shape[1]) if proba.shape[1] > 1 else 1.0
        predicted, confidence = np.asarray(model.classes_, dtype=object)[proba.argmax(axis=1)], proba.max(axis=1)
    order = np.lexsort((-entropy, margin))  # smallest margin first; ties: higher entropy first
    chosen = diverse_order(order, texts, n, similarity_threshold) if diversity else order[:n]
    out = rows.iloc[chosen].copy()
    for column, values in zip(columns, (predicted, confidence, margin, entropy)):
        out[column] = values[chosen]
    out["rank"] = np.arange(1, len(chosen) + 1)
    return out[[*rows.columns, *columns]] if multi_label else out


def _tag_uncertainty(model: Any, proba: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`uncertainty_ranking`'s (predicted_label, confidence, margin, entropy), each (n,), for
    a model with several tags per row: a row is as unsure as its most doubtful tag. ``margin``: the
    smallest distance of a tag's probability from that tag's threshold (0 = on the cut);
    ``confidence``: the probability of the decision taken on that tag (p, or 1 - p when the tag is
    not given); ``entropy``: the mean binary entropy over the tags (0-1); ``predicted_label``: the
    tags given, joined by "|"."""
    from .multilabel import tags_from_proba

    thresholds = model.thresholds if model.thresholds is not None else np.full(proba.shape[1], 0.5)
    gap = np.abs(proba - thresholds[None, :])
    doubtful = gap.argmin(axis=1)
    margin = gap[np.arange(len(proba)), doubtful]
    p = proba[np.arange(len(proba)), doubtful]
    decided = np.where(p >= thresholds[doubtful], p, 1.0 - p)
    q = np.clip(proba, 1e-12, 1 - 1e-12)
    entropy = (-(q * np.log2(q) + (1 - q) * np.log2(1 - q))).mean(axis=1)
    return tags_from_proba(proba, model.classes_, thresholds), decided, margin, entropy


def diverse_order(order: np.ndarray, texts: list[str], n: int, threshold: float = NEAR_DUPLICATE_COSINE) -> np.ndarray:
    """Greedy pick of ``n`` positions from ``order`` (best first), skipping near-duplicates.

    A candidate is skipped when its TF-IDF cosine to any position already picked is
    >= ``threshold``; skipped ones fill the list, in order, only if too few remain.
    Only the first ``max(20 n, 500)`` candidates are compared (the rest are far down the ranking).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    pool = np.asarray(order[: max(20 * n, 500)])
    if len(pool) <= 1:
        return pool[:n]
    try:
        vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform([texts[i] for i in pool])
    except ValueError:  # no words at all (e.g. only punctuation): nothing to compare
        return pool[:n]
    picked: list[int] = []
    skipped: list[int] = []
    for j in range(len(pool)):
        if len(picked) == n:
            break
        if picked and (vectors[picked] @ vectors[j].T).max() >= threshold:
            skipped.append(j)
            continue
        picked.append(j)
    picked += skipped[: n - len(picked)]
    return pool[picked]


def label_model_features(
    texts: list[str], embedder: Callable[[list[str]], np.ndarray] | None
) -> tuple[str, np.ndarray | None, str]:
    """What the label-error model reads, chosen as the data check's ``features="auto"`` chooses it
    (core.check): ``("both", embeddings (n, d), "")`` when ``embedder`` (texts -> (n, d) sentence
    embeddings, e.g. core.ood.encoder_embedder of the base model) gives them: TF-IDF and embeddings,
    the two models' out-of-fold probabilities averaged (best measured, docs/measurements.md);
    ``("tfidf", None, why)`` when it fails or gives a wrong shape (why: a sentence for people; "" when
    ``embedder`` is None)."""
    if embedder is None:
        return "tfidf", None, ""
    try:
        embeddings = np.asarray(embedder(texts), dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - as the check's "auto": TF-IDF only, whatever broke
        return "tfidf", None, f"Sentence embeddings were not available ({exc}); the label model read TF-IDF only."
    if embeddings.ndim != 2 or len(embeddings) != len(texts):
        return "tfidf", None, (f"Sentence embeddings came back as {embeddings.shape} for {len(texts)} texts; "
                               "the label model read TF-IDF only.")
    return "both", embeddings, ""


def suspected_label_errors(
    labeled_df: pd.DataFrame, text_columns: list[str] | tuple[str, ...], label_column: str, n: int = 20, *,
    seed: int = 42, embedder: Callable[[list[str]], np.ndarray] | None = None,
) -> pd.DataFrame:
    """The ``n`` labelled rows whose label looks most wrong, most suspect first, or none at all.

    No saved model is needed: the data check's own ranking (core.label_errors.rank_class_errors:
    out-of-fold probabilities of logistic regression fitted on the other labelled rows, on TF-IDF
    and, with ``embedder``, on sentence embeddings too, as the check's "auto" (:func:`label_model_features`);
    cleanlab's self-confidence label quality), calibrated by flips planted in copies of these
    labels (4 cross-fits). Rows are listed only when that ranking beats chance, at least
    core.label_errors.MIN_ROWS rows are ranked and the lower bound of its expected precision is
    at least core.label_errors.MIN_PRECISION; otherwise the frame is empty and its note says why.
    At most half the ranked rows are listed.
    Returns those rows (original index, all columns) plus ``suggested_label`` (the out-of-fold
    likeliest class), ``label_probability`` (out-of-fold probability of the given label, 0-1),
    ``suspect_score`` (1 - cleanlab's label quality; higher = more suspect) and ``rank``;
    ``attrs``: ``note`` (the sentence to show: expected precision, or why it or any row is not
    given), ``precision`` (expected share of the listed rows that are wrong, 0-1, or None: also when
    the ranking is too weak for the estimate, core.label_errors.MIN_AUC), ``n_ranked`` (rows
    ranked), ``label_model`` ("both" or "tfidf") and ``label_model_note`` (why not "both", or "").
    Rows of a class with fewer than 2 labelled rows are not ranked.
    Raises ``ValueError`` when fewer than two classes have 2 labelled rows each.
    """
    from .label_errors import rank_class_errors

    labels = _clean_labels(labeled_df[label_column])
    counts = labels[labels != ""].value_counts()
    kept = counts[counts >= 2].index
    rows = labeled_df.loc[labels.isin(kept).to_numpy()]
    if len(kept) < 2:
        raise ValueError(f"Ranking label errors needs two classes with 2 labelled rows each; found {dict(counts)}.")
    texts = [" | ".join(str(v) for v in r) for r in rows[list(text_columns)].fillna("").astype(str).itertuples(index=False)]
    classes = np.array(sorted(kept), dtype=object)
    y = np.searchsorted(classes, labels.loc[rows.index].to_numpy(dtype=object))
    mode, embeddings, why = label_model_features(texts, embedder)
    ranking, proba = rank_class_errors(texts, y, mode, embeddings, seed, k=min(n, max(1, len(y) // 2)))
    order = ranking.listed
    out = rows.iloc[order].copy()
    out["suggested_label"] = classes[proba[order].argmax(axis=1)]
    out["label_probability"] = proba[order, y[order]]
    out["suspect_score"] = ranking.scores[order]
    out["rank"] = np.arange(1, len(order) + 1)
    out.attrs.update(note=ranking.note(), precision=ranking.stated_precision, n_ranked=len(y), label_model=mode,
                     label_model_note=why)
    return out


# --------------------------------------------------------------------------- the labelled set


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


class ModelFit:
    """Whether a model's labels fit a labelling project's (the Label page's "Use the active model"):
    ``shared`` the project's labels the model knows (compared ignoring case). It fits when the
    project has no label yet, or the model knows at least half of the project's labels; an
    unfitting model's suggestions are not pre-selected (a 7-emotion model would pre-fill
    'neutral' in a food/price/service project)."""

    def __init__(self, model_labels: list[str], project_labels: list[str]) -> None:
        self.model_labels = [str(c) for c in model_labels]
        self.project_labels = [str(c) for c in project_labels]
        known = {c.casefold() for c in self.model_labels}
        self.shared = [c for c in self.project_labels if c.casefold() in known]

    @property
    def fits(self) -> bool:
        return not self.project_labels or 2 * len(self.shared) >= len(self.project_labels)

    def sentence(self, model: str) -> str:
        """What was expected and what was found, for a model that does not fit."""
        knows = (f"it knows only {len(self.shared)} of this project's {len(self.project_labels)} labels "
                 f"({_listed(self.shared)})" if self.shared else "it shares no label with this project")
        return (f"The model '{model}' does not fit this project: it was trained on {_listed(self.model_labels)}, "
                f"while this project labels {_listed(self.project_labels)}; {knows}. Its guesses are shown under "
                "\"model says\" but not filled in as labels.")


def model_fit(model_labels: Any, project_labels: Any) -> ModelFit:
    """:class:`ModelFit` of a model's classes (or tags) against a project's labels (or tags)."""
    return ModelFit(list(model_labels), list(project_labels))


def labels_root() -> Path:
    """The caller's labelling projects: on a laptop $MARKETUNE_LABELS_DIR, or .marketune/labels
    in the project folder; on a team server the signed-in person's workspace (core.workspace)."""
    return workspace.current().labels


def list_projects(root: Path | None = None) -> list[str]:
    """Names of the labelling projects saved on this server, most recently changed first."""
    root = root or labels_root()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / "meta.json").is_file() and (p / "data.csv").is_file()]
    return [p.name for p in sorted(found, key=lambda p: (p / "meta.json").stat().st_mtime, reverse=True)]


def label_store(project: str, root: Path | None = None) -> LabelStore:
    """The store of a named project (the name is checked like a model name)."""
    return LabelStore((root or labels_root()) / validate_name(project))


class LabelStore:
    """A labelling project on disk: every row with its label (empty = not labelled yet).

    Create it from a DataFrame with :meth:`create`; then :meth:`set_labels` records labels,
    :meth:`append` adds rows, :meth:`frame`/:meth:`labeled`/:meth:`unlabeled` read it back and
    :meth:`export_csv` gives the CSV to download. Every change is written at once (atomically).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    # ------------------------------------------------------------------ creating

    @property
    def exists(self) -> bool:
        return (self.folder / "meta.json").is_file() and (self.folder / "data.csv").is_file()

    def create(
        self, df: pd.DataFrame, text_columns: list[str] | tuple[str, ...], label_column: str, *, overwrite: bool = False
    ) -> LabelStore:
        """Start the project from ``df``: rows with an empty ``label_column`` are unlabelled.

        A missing ``label_column`` is added (all rows unlabelled). Raises ``ValueError`` when
        the project exists (unless ``overwrite``) or a text column is missing. Pre-labelled rows with
        several tags joined by one separator (core.multilabel.first_labels_separator) make it a
        project of several tags per row from the start (meta.json ``label_sep``): counted and trained
        per tag before any tag is saved on the page.
        """
        if self.exists and not overwrite:
            raise ValueError(f"A labelling project already exists in {self.folder}; open it or choose another name.")
        text_columns = list(text_columns)
        missing = [c for c in text_columns if c not in df.columns]
        if missing or not text_columns:
            raise ValueError(f"Text column(s) {missing or text_columns} are not in the data; found {list(df.columns)}.")
        if label_column in text_columns:
            raise ValueError(f"The label column '{label_column}' cannot also be a text column.")
        frame = df.reset_index(drop=True).copy()
        if ROW_ID in frame.columns:
            raise ValueError(f"The data already has a column named '{ROW_ID}'; rename it first.")
        if label_column not in frame.columns:
            frame[label_column] = ""
        frame[label_column] = _clean_labels(frame[label_column])
        frame.insert(0, ROW_ID, np.arange(len(frame)))
        meta = {"text_columns": text_columns, "label_column": label_column, "created": time.time(), "rounds": 0}
        from .multilabel import first_labels_separator

        labelled = frame[label_column][frame[label_column] != ""]
        separator = first_labels_separator(labelled) if len(labelled) else None
        if separator:  # pre-labelled rows with several tags: a tag project from the start (counted, trained per tag)
            meta["label_sep"] = separator
        self._save(frame, meta)
        (self.folder / REASONS_FILE).unlink(missing_ok=True)  # an overwritten project's reasons were other rows'
        return self

    # ------------------------------------------------------------------ reading

    @property
    def meta(self) -> dict[str, Any]:
        if not self.exists:
            raise ValueError(f"No labelling project in {self.folder}.")
        return json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))

    @property
    def label_column(self) -> str:
        return self.meta["label_column"]

    @property
    def text_columns(self) -> list[str]:
        return list(self.meta["text_columns"])

    def frame(self) -> pd.DataFrame:
        """Every row (index = the store's row id), labels as strings ('' = unlabelled)."""
        if not self.exists:
            raise ValueError(f"No labelling project in {self.folder}.")
        df = pd.read_csv(self.folder / "data.csv", keep_default_na=False, na_values=[], dtype=str)
        df[ROW_ID] = df[ROW_ID].astype(int)
        return df.set_index(ROW_ID)

    def labeled(self) -> pd.DataFrame:
        df = self.frame()
        return df[df[self.label_column] != ""]

    def unlabeled(self) -> pd.DataFrame:
        df = self.frame()
        return df[df[self.label_column] == ""]

    def counts(self) -> dict[str, int]:
        """{"labeled": n, "unlabeled": n, "<class or tag>": n, ...}: labelled rows per class, or per
        tag in a project of several tags per row (:meth:`label_counts`)."""
        labels = self.frame()[self.label_column]
        done = labels[labels != ""]
        return {"labeled": int(len(done)), "unlabeled": int((labels == "").sum()), **self.label_counts()[0]}

    def tag_separator(self, labels: pd.Series | None = None) -> str | None:
        """The separator of a project labelled with several tags per row, else None: the one the
        Label page saved tags with or the project's pre-labelled rows were joined by (meta.json
        ``label_sep``, kept by :meth:`set_labels` and :meth:`create`), or the one
        core.multilabel.detect finds in the labels (``labels``: the labelled cells, read when None).
        The first is needed because detection wants tags that recur: a few first labels such as
        "anger", "anger|neutral" read as two classes."""
        if self.meta.get("label_sep"):
            return str(self.meta["label_sep"])
        from .multilabel import detect

        if labels is None:
            labels = self.frame()[self.label_column]
            labels = labels[labels != ""]
        found = detect(labels, self.label_column) if len(labels) else None
        return found.separator if found is not None else None

    def label_counts(self) -> tuple[dict[str, int], str | None]:
        """(labelled rows per label, the tag separator or None), most rows first. One label per row:
        rows per class. Several tags per row (:meth:`tag_separator`): rows carrying each tag, so a
        row with two tags counts once for each and the counts add up to more than the labelled rows;
        a combination such as "anger|joy" is no class of its own."""
        from .multilabel import split_tags

        labels = self.frame()[self.label_column]
        done = labels[labels != ""]
        separator = self.tag_separator(done)
        if separator is None:
            return {str(k): int(v) for k, v in done.value_counts().items()}, None
        tags = pd.Series([t for cell in done for t in dict.fromkeys(split_tags(cell, separator))], dtype=object)
        return {str(k): int(v) for k, v in tags.value_counts().items()}, separator

    def reasons(self) -> pd.Series:
        """Why each labelled row was suggested (index = row id, every labelled row): the reason
        saved with its label (:meth:`set_labels`), :data:`LEAST_SURE` where none was recorded."""
        labelled = self.labeled().index
        recorded = read_json_object(self.folder / REASONS_FILE)
        return pd.Series([str(recorded.get(str(int(r)), LEAST_SURE)) for r in labelled], index=labelled, dtype=object)

    def classes(self) -> list[str]:
        labels = self.frame()[self.label_column]
        return sorted(set(labels[labels != ""]))

    # ------------------------------------------------------------------ writing

    def set_labels(self, labels: Mapping[Any, Any] | pd.Series, *, tag_sep: str | None = None,
                   reasons: Mapping[Any, str] | pd.Series | None = None) -> int:
        """Record labels by row id ({row_id: label}); '' or None clears a label. Returns how many
        rows changed. Unknown row ids raise ``ValueError`` (nothing is written then). ``tag_sep``:
        the labels are tags joined by it (several tags per row), kept in meta.json ``label_sep``
        (:meth:`tag_separator`). ``reasons``: why rows were suggested ({row_id: LEAST_SURE or
        RANDOM_CHECK}), kept with the labels of those rows (:meth:`reasons`); a cleared label
        drops its row's reason, and a row labelled without one keeps the one it had."""
        labels = dict(labels.items()) if isinstance(labels, pd.Series) else dict(labels)
        df = self.frame()
        try:
            ids = [int(k) for k in labels]
        except (TypeError, ValueError):
            raise ValueError(f"Row ids must be whole numbers; got {list(labels)[:5]}.") from None
        unknown = sorted(set(ids) - set(df.index))
        if unknown:
            raise ValueError(f"Row id(s) {unknown[:5]} are not in this labelling project.")
        new = _clean_labels(pd.Series(list(labels.values()), index=ids))
        column = self.label_column
        changed = int((df.loc[new.index, column] != new).sum())
        meta = self.meta
        if tag_sep and meta.get("label_sep") != tag_sep:
            meta["label_sep"] = tag_sep
            if not changed:
                _write_json(self.folder / "meta.json", meta)
        if changed:
            df.loc[new.index, column] = new
            self._save(df.reset_index(), meta)
        self._keep_reasons(new, dict(reasons.items()) if isinstance(reasons, pd.Series) else dict(reasons or {}))
        return changed

    def _keep_reasons(self, new: pd.Series, reasons: dict[Any, str]) -> None:
        """reasons.json after labels ``new`` (row id -> label, '' = cleared) were saved."""
        path = self.folder / REASONS_FILE
        recorded = read_json_object(path)
        before = dict(recorded)
        given = {int(k): str(v) for k, v in reasons.items() if v}
        for row, label in new.items():
            if label == "":
                recorded.pop(str(int(row)), None)
            elif int(row) in given:
                recorded[str(int(row))] = given[int(row)]
        if recorded != before:
            _write_json(path, recorded)

    def append(self, rows: pd.DataFrame) -> list[int]:
        """Add rows (missing columns left empty); returns their new row ids."""
        df = self.frame()
        rows = rows.reset_index(drop=True).copy()
        if self.label_column not in rows.columns:
            rows[self.label_column] = ""
        rows[self.label_column] = _clean_labels(rows[self.label_column])
        start = int(df.index.max()) + 1 if len(df) else 0
        ids = list(range(start, start + len(rows)))
        rows.index = pd.Index(ids, name=ROW_ID)
        combined = pd.concat([df, rows.astype(object).where(rows.notna(), "")], axis=0).fillna("")
        combined.index.name = ROW_ID
        self._save(combined.reset_index(), self.meta)
        return ids

    def note_round(self) -> int:
        """Count one more train-and-label round (shown to the user); returns the new count."""
        meta = self.meta
        meta["rounds"] = int(meta.get("rounds", 0)) + 1
        _write_json(self.folder / "meta.json", meta)
        return meta["rounds"]

    def export_csv(self, labeled_only: bool = True) -> bytes:
        """The labelled set (or every row) as UTF-8 CSV bytes, spreadsheet formulas neutralised."""
        df = self.labeled() if labeled_only else self.frame()
        return to_csv_bytes(df.reset_index(drop=True))

    def _save(self, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        labels = frame[meta["label_column"]].astype(str)
        meta = {**meta, "updated": time.time(), "n_rows": int(len(frame)), "n_labeled": int((labels != "").sum())}
        # Streamed into a 0600 temporary file (mkstemp), not built in memory first: a project
        # may hold up to the row limit.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".data.csv.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                frame.to_csv(handle, index=False)
            os.replace(tmp, self.folder / "data.csv")  # readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _write_json(self.folder / "meta.json", meta)


def _clean_labels(values: pd.Series) -> pd.Series:
    """Labels as stripped strings; missing values and whitespace become ''. Whole-number floats
    (1.0, from a CSV column with gaps) are written as integers, so 1 and 1.0 are one class."""

    def clean(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()

    return values.map(clean).astype(object)


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))  # 0600, never half a file
