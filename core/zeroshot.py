"""Zero-shot classification: a model from category names (and descriptions), no labelled rows.

How a model is built (:func:`build_zeroshot`), each step measured in bench/bench_zeroshot.py:

1. Label prototypes: every category name is put into a few sentence templates ("This text is
   about {label}."), optionally with the user's description of it; the base model's frozen
   encoder embeds them (mean pooling, L2-normalised, as few-shot and the data check encode) and
   their mean, normalised, is the class's prototype. E5 encoders get their "query: " prefix on
   both sides (they were trained with it; symmetric tasks use "query: ").
2. Scores: cosine similarity of a text to each prototype, divided by a temperature, softmax.
   Centred: each class's mean similarity over the user's unlabelled rows is subtracted first,
   so a category name that is simply "closer to everything" does not take every row.
3. Self-training (optional): the rows of the user's own file that step 2 is surest of, the same
   number per class, pseudo-label a logistic regression on the embeddings; its head replaces
   the prototypes'.

Either head is linear in the embedding, so the saved model is a
:class:`core.models.zeroshot.ZeroShotClassifier` (kind "zeroshot"), which predicts like any
other kind. It is never trained on labels and says so (``NEVER_TRAINED``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .models.zeroshot import NEVER_TRAINED, ZeroShotClassifier
from .progress import Cancel, TrainingCancelled, cancel_check

# Templates per language; "{label}" is the category name. Averaging several phrasings makes the
# prototype less sensitive to any one of them (CLIP's prompt ensembling, Radford et al. 2021).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("{label}", "This text is about {label}.", "This review is about {label}.", "It is {label}.",
           "The customer feels {label}."),
    "zh": ("{label}", "这段文字是关于{label}的。", "这条评论是关于{label}的。", "这是{label}。", "顾客觉得{label}。"),
}
PLAIN_TEMPLATES = ("{label}",)  # the label name alone: the baseline the issue measured (macro-F1 0.42)
E5_PREFIX = "query: "
# Cosine / temperature, then softmax. Cosines of one text to different labels differ by a few
# hundredths, so a small temperature is needed for probabilities that are not all near 1/k;
# 0.05 is within the range sentence-embedding zero-shot uses (CLIP learns 0.01).
TEMPERATURE = 0.05
# Self-training: per class, the surest SELF_TRAIN_SHARE of the rows the zero-shot head puts in
# it, the same number for every class (the smallest class's count), between these bounds.
SELF_TRAIN_SHARE = 0.5
SELF_TRAIN_MIN_PER_CLASS = 5
SELF_TRAIN_MAX_PER_CLASS = 500
SELF_TRAIN_C = 1.0  # logistic regression's inverse regularisation (scikit-learn's default)
MAX_ROWS = 3000  # unlabelled rows embedded for centring and self-training (a random sample beyond)
MAX_LENGTH = 128
MAX_LABELS = 50


@dataclass(frozen=True)
class Options:
    """How a zero-shot head is built: the variants bench/bench_zeroshot.py compares."""

    templates: tuple[str, ...] | None = None  # None: TEMPLATES of the text's language
    centre: bool = True
    self_training: bool = True
    temperature: float = TEMPERATURE


# --------------------------------------------------------------------------- what the user typed


def parse_labels(text: str | Sequence[str]) -> list[str]:
    """Category names from "a, b, c" (commas, Chinese commas or new lines) or a list.

    Raises ``ValueError`` for fewer than 2 names, an empty name (two commas in a row, or one at
    either end: "negative,,positive" is not taken for 2 classes), duplicate names (compared
    without case and surrounding spaces), or more than MAX_LABELS."""
    parts = re.split(r"[,，、\n]", text.strip()) if isinstance(text, str) else [str(t) for t in text]
    labels = [p.strip() for p in parts]
    empty = [i + 1 for i, label in enumerate(labels) if not label]
    if empty and len(empty) < len(labels):  # all empty: "at least 2" below says what is missing
        which = f"name {empty[0]} is" if len(empty) == 1 else f"names {', '.join(map(str, empty))} are"
        raise ValueError(f"Category names cannot be empty; of the {len(labels)} separated by commas, {which} "
                         f"empty (found {labels}). Remove the extra comma.")
    labels = [label for label in labels if label]
    if len(labels) < 2:
        raise ValueError(f"A zero-shot model needs at least 2 category names, separated by commas "
                         f"(e.g. \"complaint, praise, question\"); found {len(labels)}: {labels}.")
    seen: dict[str, str] = {}
    for label in labels:
        key = label.casefold()
        if key in seen:
            raise ValueError(f"Category names must differ; '{label}' repeats '{seen[key]}'.")
        seen[key] = label
    if len(labels) > MAX_LABELS:
        raise ValueError(f"At most {MAX_LABELS} category names; found {len(labels)}.")
    return labels


def parse_descriptions(text: str | dict[str, str] | None, labels: Sequence[str]) -> dict[str, str]:
    """Descriptions from "a=...; b=..." (semicolons or new lines) or a dict, keyed by label.

    Raises ``ValueError`` for an entry without "=", a name that is not one of ``labels`` (the
    message lists them) or a name given twice. Empty descriptions are left out."""
    if not text:
        return {}
    pairs = list(text.items()) if isinstance(text, dict) else []
    if isinstance(text, str):
        for entry in (e.strip() for e in re.split(r"[;；\n]", text)):
            if not entry:
                continue
            if "=" not in entry:
                raise ValueError(f"A description is written name=description (e.g. \"praise=the customer is "
                                 f"happy\"); found '{entry}'.")
            name, _, description = entry.partition("=")
            pairs.append((name, description))
    by_key = {label.casefold(): label for label in labels}
    found: dict[str, str] = {}
    for name, description in pairs:
        label = by_key.get(str(name).strip().casefold())
        if label is None:
            raise ValueError(f"A description names '{str(name).strip()}', which is not one of the categories "
                             f"({', '.join(labels)}).")
        if label in found:
            raise ValueError(f"'{label}' has two descriptions; give one.")
        if str(description).strip():
            found[label] = str(description).strip()
    return found


# --------------------------------------------------------------------------- the encoder


def text_prefix(base_model: str, location: str = "") -> str:
    """"query: " for an E5 encoder (its name or folder says e5), else ""."""
    return E5_PREFIX if re.search(r"(^|[^a-z])e5([^a-z]|$)", f"{base_model} {location}".lower()) else ""


def load_encoder(base_model: str) -> tuple[Any, Any, str]:
    """(body, tokenizer, location) of a base model through the resolver (core.base_models),
    built first when it is a catalog model not built yet. Raises ``ValueError`` for a name that
    resolves to nothing."""
    from transformers import AutoModel, AutoTokenizer

    from .base_models import ensure_base_model, resolve_base_model

    ensure_base_model(base_model)
    base = resolve_base_model(base_model)
    body = AutoModel.from_pretrained(str(base.location))
    body.eval()
    return body, AutoTokenizer.from_pretrained(str(base.location)), str(base.location)


def choose_base_model(texts: Sequence[str], labels: Sequence[str], chosen: str = "auto") -> tuple[str, str]:
    """The base model for these texts and labels: ``chosen`` unless "auto"; "auto" picks by
    language as training does (:func:`core.base_models.recommend_base_model`). (name, reason)."""
    from .base_models import DEFAULT_BASE_MODEL, recommend_base_model

    if chosen and chosen != "auto":
        return chosen, ""
    return recommend_base_model([*texts[:2000], *labels], DEFAULT_BASE_MODEL)


def language_of(texts: Sequence[str], labels: Sequence[str]) -> str:
    """"zh" when the labels or the texts are mostly Chinese (core.words.detect_language), else "en"."""
    from .words import detect_language

    return "zh" if "zh" in (detect_language(list(labels)), detect_language(list(texts))) else "en"


# --------------------------------------------------------------------------- the heads


def label_prototypes(
    embed: Callable[[list[str]], np.ndarray],
    labels: Sequence[str],
    templates: Sequence[str],
    descriptions: dict[str, str] | None = None,
) -> np.ndarray:
    """(k, d) L2-normalised prototypes: per label the mean embedding of its templates, averaged
    with its description's embedding when it has one. ``embed``: texts -> (n, d) normalised."""
    descriptions = descriptions or {}
    rows = []
    for label in labels:
        vectors = np.asarray(embed([t.format(label=label) for t in templates]), dtype=np.float64)
        vector = vectors.mean(axis=0)
        if label in descriptions:
            vector = 0.5 * vector / np.linalg.norm(vector) + 0.5 * np.asarray(embed([descriptions[label]]))[0]
        rows.append(vector / np.linalg.norm(vector))
    return np.vstack(rows).astype(np.float32)


def similarity_head(
    prototypes: np.ndarray, temperature: float, embeddings: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(coef (k, d), intercept (k,)) of softmax((cos(x, prototype_k) - centre_k) / temperature).

    ``embeddings`` (n, d): the unlabelled rows whose mean cosine to each prototype is the centre;
    None: no centring (intercept 0)."""
    coef = np.asarray(prototypes, dtype=np.float64) / temperature
    if embeddings is None or not len(embeddings):
        return coef, np.zeros(len(prototypes))
    centre = (np.asarray(embeddings, dtype=np.float64) @ np.asarray(prototypes, dtype=np.float64).T).mean(axis=0)
    return coef, -centre / temperature


def confident_rows(
    proba: np.ndarray, share: float = SELF_TRAIN_SHARE, priors: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Rows to pseudo-label, the surest of each class (highest probability among rows whose top
    class it is). ``priors`` None: the same number n for every class, ``share`` of the smallest
    class's count. ``priors`` (k,): class c gets ``share`` * prior_c * rows (at most its own
    count), so the pseudo-labels keep the file's estimated class shares. Counts above
    SELF_TRAIN_MAX_PER_CLASS are scaled down together. Returns (row indices, smallest count);
    0 and no rows when a class would get fewer than SELF_TRAIN_MIN_PER_CLASS."""
    top = proba.argmax(axis=1)
    counts = np.bincount(top, minlength=proba.shape[1])
    if priors is None:
        per_class = np.full(proba.shape[1], int(np.ceil(share * counts.min())))
    else:
        per_class = np.minimum(np.ceil(share * np.asarray(priors) * len(proba)), counts)
    if per_class.max() > SELF_TRAIN_MAX_PER_CLASS:
        per_class = np.ceil(per_class * SELF_TRAIN_MAX_PER_CLASS / per_class.max())
    per_class = per_class.astype(int)
    if per_class.min() < SELF_TRAIN_MIN_PER_CLASS:
        return np.array([], dtype=int), 0
    chosen = []
    for k in range(proba.shape[1]):
        rows = np.flatnonzero(top == k)
        chosen.append(rows[np.argsort(-proba[rows, k], kind="stable")[: per_class[k]]])
    return np.concatenate(chosen), int(per_class.min())


def self_trained_head(
    embeddings: np.ndarray, proba: np.ndarray, seed: int = 0, share: float = SELF_TRAIN_SHARE,
    priors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(coef, intercept, smallest rows per class) of a logistic regression fitted on
    :func:`confident_rows` (``share``, ``priors``) pseudo-labelled by ``proba``'s top class; 0
    (and empty arrays) when there are too few."""
    from sklearn.linear_model import LogisticRegression

    rows, n = confident_rows(proba, share, priors)
    if n == 0:
        return np.zeros((0, 0)), np.zeros(0), 0
    lr = LogisticRegression(C=SELF_TRAIN_C, max_iter=2000, random_state=seed)
    lr.fit(np.asarray(embeddings, dtype=np.float64)[rows], proba[rows].argmax(axis=1))
    return lr.coef_, lr.intercept_, n


# --------------------------------------------------------------------------- building a model


def rows_to_read(data: pd.DataFrame | Sequence[str], text_columns: Sequence[str], seed: int) -> list[str]:
    """The non-empty texts of ``data`` (a DataFrame's ``text_columns`` joined as training joins
    them, or texts), at most MAX_ROWS (a ``seed``-ed sample beyond, in file order). Raises
    ``ValueError`` for missing columns or no text at all."""
    from .data import build_texts

    if isinstance(data, pd.DataFrame):
        missing = [c for c in text_columns if c not in data.columns]
        if missing:
            raise ValueError(f"Text column(s) {missing} not in the file; its columns are {list(data.columns)}.")
        texts = build_texts(data, tuple(text_columns), ())
    else:
        texts = ["" if t is None else str(t) for t in data]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("The file has no text to read in the chosen column(s); a zero-shot model needs rows of text.")
    if len(texts) > MAX_ROWS:
        picked = np.random.default_rng(seed).choice(len(texts), MAX_ROWS, replace=False)
        texts = [texts[i] for i in sorted(picked)]
    return texts


def build_zeroshot(
    data: pd.DataFrame | Sequence[str],
    labels: str | Sequence[str],
    *,
    text_columns: Sequence[str] = ("text",),
    descriptions: str | dict[str, str] | None = None,
    base_model: str = "auto",
    options: Options = Options(),
    on_progress: Callable[[float, str], None] | None = None,
    cancel: Cancel = None,
    seed: int = 0,
) -> ZeroShotClassifier:
    """A zero-shot model for ``labels`` (names; "a, b, c" or a list), read from ``data`` (a
    DataFrame with ``text_columns``, or texts): the unlabelled rows only centre the scores and
    pick the self-training rows (up to MAX_ROWS, a seeded sample beyond); no label is read.

    ``on_progress(fraction, message)``; ``cancel`` as the trainers take it (TrainingCancelled).
    Raises ``ValueError`` for bad names or descriptions (:func:`parse_labels`,
    :func:`parse_descriptions`), missing text columns or a file without any text.
    """
    started = time.perf_counter()
    progress = on_progress or (lambda fraction, message: None)
    cancelled = cancel_check(cancel)
    names = parse_labels(labels)
    described = parse_descriptions(descriptions, names)
    texts = rows_to_read(data, text_columns, seed)
    name, reason = choose_base_model(texts, names, base_model)
    progress(0.05, f"Loading the base model {name}")
    body, tokenizer, location = load_encoder(name)
    prefix = text_prefix(name, location)
    language = language_of(texts, names)
    templates = tuple(options.templates or TEMPLATES[language])

    def embed(batch: list[str], rows: bool = False) -> np.ndarray:
        """``rows``: the file's rows, reported as 10-90 % of the build; the category names'
        few texts report nothing (a "Reading 5 of 5" before "Reading 64 of 600" went backwards)."""
        import torch

        from .cpu import cpu_threads
        from .models.fewshot import encode

        before = torch.get_num_threads()
        torch.set_num_threads(cpu_threads())
        report = (lambda done, total: progress(0.1 + 0.8 * done / total, f"Reading {done:,} of {total:,} rows")) \
            if rows else None
        try:
            return encode(body, tokenizer, batch, MAX_LENGTH, text_prefix=prefix, on_batch=report)
        finally:
            torch.set_num_threads(before)

    progress(0.08, f"Reading the {len(names)} category names")
    prototypes = label_prototypes(embed, names, templates, described)
    embeddings = None
    if options.centre or options.self_training:
        if cancelled():
            raise TrainingCancelled("Cancelled before reading the rows.")
        embeddings = embed(texts, rows=True)
    if cancelled():
        raise TrainingCancelled("Cancelled; nothing was saved.")
    from .models.fewshot import head_proba

    coef, intercept = similarity_head(prototypes, options.temperature, embeddings if options.centre else None)
    method = "label-name similarity" + (", centred on the file's rows" if options.centre else "")
    self_training: dict[str, Any] = {}
    warnings: list[str] = []
    if options.self_training and embeddings is not None:
        progress(0.92, "Self-training on the surest rows")
        st_coef, st_intercept, n = self_trained_head(embeddings, head_proba(embeddings, coef, intercept), seed)
        if n:
            coef, intercept = st_coef, st_intercept
            method += f", then self-trained (logistic regression on the {n} surest rows per class of {len(texts):,})"
            self_training = {"rows_per_class": n, "rows_read": len(texts), "sentence": (
                f"a logistic regression fitted on the {n} rows per class that label-name similarity was surest of, "
                f"among {len(texts):,} unlabelled rows of the file (pseudo-labels, not the user's labels)")}
        else:
            warnings.append("Self-training was skipped: some category was the best match of too few rows "
                            f"(it needs {SELF_TRAIN_MIN_PER_CLASS} sure rows per category), so the model uses "
                            "label-name similarity alone.")
    if reason:
        warnings.append(reason)
    seconds = round(time.perf_counter() - started, 2)
    progress(1.0, "Done")
    return ZeroShotClassifier(
        body, tokenizer, prototypes=prototypes, text_prefix=prefix,
        zero_shot={"method": method, "templates": list(templates), "descriptions": described,
                   "temperature": options.temperature, "centred": options.centre, "language": language,
                   "self_training": self_training},
        classes=names, coef=coef, intercept=intercept,
        schema={"text_columns": list(text_columns), "profile_columns": [], "label_column": None},
        max_length=MAX_LENGTH,
        training_config={"method": "zeroshot", "base_model": name, "labels": names, "descriptions": described,
                         "text_columns": list(text_columns), "self_training": options.self_training,
                         "rows_read": len(texts), "seed": seed},
        metrics={"trained_on_labels": False, "evaluation": NEVER_TRAINED, "n_rows_used": 0,
                 "rows_read": len(texts), "train_seconds": seconds, "warnings": warnings},
        base_model=name,
    )
