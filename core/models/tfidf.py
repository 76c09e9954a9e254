"""TF-IDF + a linear model as a first-class saved model, stored as plain arrays (no pickle).

Training picks this model when the fine-tuned transformer does not score higher than it on
validation (``core.evaluation.choose_saved_model``). It is fitted with scikit-learn, then kept
as what scoring needs: each vectoriser's settings and vocabulary (JSON) and its idf weights,
the coefficients and intercepts (safetensors). Scoring rebuilds the term counts with a
fixed-vocabulary ``CountVectorizer`` and applies sublinear tf, idf and l2 normalisation with
numpy/scipy, which is what ``TfidfVectorizer.transform`` does; so a saved model scores exactly
like the scikit-learn pipeline it came from, before and after loading.

Folder layout::

    tfidf.json            # the vectoriser blocks (settings + vocabulary) and the estimator's settings
    tfidf.safetensors     # idf_<i> per block, coef (k, n_features), intercept (k,)

plus the common files of core.models.folder (kind "tfidf").
:func:`tfidf_transform` is shared with ``core.models.response.TextScorer`` (the hybrid's text score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .folder import (
    TextInputs,
    keep_common,
    manifest_of,
    read_model_files,
    read_own_files,
    save_model_folder,
)
from .tags import LinearHead, card_lines

KIND = "tfidf"
TFIDF_JSON = "tfidf.json"
TFIDF_ARRAYS = "tfidf.safetensors"
SCORE_CHUNK = 4096  # rows per scoring pass (progress callbacks; bounded sparse matrices)


# ---------------------------------------------------------------------- vectoriser as data


def vectorizer_spec(vectorizer: Any) -> tuple[dict[str, Any], np.ndarray]:
    """(settings + vocabulary as JSON-ready dict, idf array) of a fitted ``TfidfVectorizer``.

    Raises ``ValueError`` for settings this format cannot reproduce (a custom analyzer,
    tokenizer or preprocessor, stop words, binary counts, no idf).
    """
    if callable(vectorizer.analyzer) or vectorizer.tokenizer is not None or vectorizer.preprocessor is not None:
        raise ValueError("a TF-IDF vectoriser with custom callables cannot be stored as data")
    if vectorizer.stop_words is not None or vectorizer.binary or not vectorizer.use_idf:
        raise ValueError("only TF-IDF vectorisers without stop words, binary counts or idf=False can be stored")
    vocabulary: list[str] = [""] * len(vectorizer.vocabulary_)
    for term, i in vectorizer.vocabulary_.items():
        vocabulary[i] = term
    spec = {
        "analyzer": vectorizer.analyzer,
        "ngram_range": list(vectorizer.ngram_range),
        "lowercase": bool(vectorizer.lowercase),
        "strip_accents": vectorizer.strip_accents,
        "token_pattern": vectorizer.token_pattern if vectorizer.analyzer == "word" else None,
        "sublinear_tf": bool(vectorizer.sublinear_tf),
        "norm": vectorizer.norm,
        "vocabulary": vocabulary,
    }
    return spec, np.asarray(vectorizer.idf_, dtype=np.float64)


def tfidf_transform(texts: Sequence[str], spec: dict[str, Any], idf: np.ndarray) -> Any:
    """TF-IDF rows (scipy CSR, shape (len(texts), len(vocabulary))) as ``TfidfVectorizer.transform``.

    ``spec``: as :func:`vectorizer_spec` returns (``analyzer``, ``ngram_range``, ``vocabulary``,
    and optionally ``lowercase``, ``strip_accents``, ``token_pattern``, ``sublinear_tf`` (default
    True), ``norm`` (default "l2")). Words outside the vocabulary are ignored; an empty text is a
    row of zeros.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    options: dict[str, Any] = {
        "vocabulary": spec["vocabulary"],
        "analyzer": spec.get("analyzer", "word"),
        "ngram_range": tuple(spec.get("ngram_range", (1, 1))),
        "lowercase": spec.get("lowercase", True),
        "strip_accents": spec.get("strip_accents"),
        "dtype": np.float64,
    }
    if options["analyzer"] == "word" and spec.get("token_pattern"):
        options["token_pattern"] = spec["token_pattern"]
    X = CountVectorizer(**options).transform(list(texts)).tocsr()
    if spec.get("sublinear_tf", True):
        X.data = np.log(X.data) + 1.0
    X = X.multiply(np.asarray(idf, dtype=np.float64)).tocsr()
    if spec.get("norm", "l2"):
        X = normalize(X, norm=spec.get("norm", "l2"))
    return X


# ---------------------------------------------------------------------- the saved model


class TfidfClassifier(LinearHead, TextInputs):
    """TF-IDF features + logistic regression (classification) or ridge (regression).

    Implements :class:`core.models.SavedModel` (and ``texts_from`` as the transformer does);
    it is already fast, so it has no fast form (``fast_forms`` is empty, no ``quantize``).
    """

    fast_forms: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        task: str,
        classes: Sequence[str],
        blocks: list[dict[str, Any]],
        idfs: list[np.ndarray],
        coef: np.ndarray,
        intercept: np.ndarray,
        schema: dict[str, Any],
        estimator: dict[str, Any] | None = None,
        training_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        path: Path | None = None,
    ) -> None:
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        n_features = sum(len(b["vocabulary"]) for b in blocks)
        if len(blocks) != len(idfs) or any(len(b["vocabulary"]) != len(i) for b, i in zip(blocks, idfs)):
            raise ValueError("the TF-IDF model's vocabularies and idf weights do not match")
        if coef.shape != (len(intercept), n_features):
            raise ValueError(
                f"the TF-IDF model's coefficients have shape {coef.shape}; expected ({len(intercept)}, {n_features})"
            )
        self.task = task
        self.classes_ = np.array(list(classes), dtype=object)
        if task == "classification" and len(self.classes_) != len(intercept):
            raise ValueError(f"{len(self.classes_)} classes but {len(intercept)} rows of coefficients")
        self.blocks, self.idfs = blocks, [np.asarray(i, dtype=np.float64) for i in idfs]
        self.coef_, self.intercept_ = coef, intercept
        keep_common(self, schema, training_config, metrics, test_predictions, path)
        self.estimator = estimator or {}
        self.base_model = "tfidf-lr" if task == "classification" else "tfidf-ridge"
        # Several tags per row: one-vs-rest logistic regression (estimator["multi_label"]), a
        # sigmoid per tag and a threshold per tag (core.models.tags: thresholds, label_sep).

    @property
    def multi_label(self) -> bool:
        return bool(self.estimator.get("multi_label"))

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Any,
        *,
        task: str,
        classes: Sequence[str],
        schema: dict[str, Any],
        **kwargs: Any,
    ) -> TfidfClassifier:
        """From a fitted ``make_pipeline(FeatureUnion of TfidfVectorizers | TfidfVectorizer,
        LogisticRegression | Ridge)`` (as ``core.evaluation.tfidf_estimator`` builds).

        Logistic regression's columns are put in ``classes`` order; a binary model's single
        row of coefficients becomes two rows (0 and the fitted row), whose softmax equals
        scikit-learn's sigmoid probabilities.
        """
        from sklearn.pipeline import FeatureUnion

        features, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
        vectorizers = [t for _, t in features.transformer_list] if isinstance(features, FeatureUnion) else [features]
        specs = [vectorizer_spec(v) for v in vectorizers]
        coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
        settings: dict[str, Any] = {"name": type(estimator).__name__}
        if task == "classification":
            fitted = [str(c) for c in estimator.classes_]
            if coef.shape[0] == 1:  # binary: P(classes_[1]) = sigmoid(z) = softmax([0, z])[1]
                coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
            missing = [c for c in classes if str(c) not in fitted]
            if missing:
                raise ValueError(f"the TF-IDF model was fitted without class(es) {missing}")
            order = [fitted.index(str(c)) for c in classes]
            coef, intercept = coef[order], intercept[order]
            settings.update(C=float(estimator.C), class_weight=estimator.class_weight)
        else:
            settings.update(alpha=float(estimator.alpha))
        return cls(
            task=task,
            classes=classes,
            blocks=[s for s, _ in specs],
            idfs=[i for _, i in specs],
            coef=coef,
            intercept=intercept,
            schema=schema,
            estimator=settings,
            **kwargs,
        )

    # ------------------------------------------------------------------ prediction

    def features(self, texts: Sequence[str]) -> Any:
        """The TF-IDF matrix (CSR, (n, n_features)): the blocks side by side, each l2-normalised."""
        from scipy.sparse import hstack

        return hstack([tfidf_transform(texts, b, i) for b, i in zip(self.blocks, self.idfs)], format="csr")

    def decision_function(
        self,
        data: pd.DataFrame | Sequence[str],
        batch_size: int = SCORE_CHUNK,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Linear scores X @ coef.T + intercept, shape (n, k)."""
        texts = self.texts_from(data)
        n, chunk = len(texts), max(int(batch_size), SCORE_CHUNK)
        out = np.zeros((n, len(self.intercept_)), dtype=np.float64)
        for start in range(0, n, chunk):
            X = self.features(texts[start : start + chunk])
            out[start : start + chunk] = X @ self.coef_.T + self.intercept_
            if on_batch:
                on_batch(min(start + chunk, n), n)
        return out

    # ------------------------------------------------------------------ persistence

    def manifest(self) -> dict[str, Any]:
        return manifest_of(self, KIND)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the self-describing folder atomically (temporary folder, then rename)."""
        arrays = {f"idf_{i}": idf for i, idf in enumerate(self.idfs)}
        arrays.update(coef=self.coef_, intercept=self.intercept_)
        self.path = save_model_folder(
            folder, self, model_card(self), overwrite=overwrite, write=self.write_tags,
            own_files={TFIDF_JSON: {"blocks": self.blocks, "estimator": self.estimator}, TFIDF_ARRAYS: arrays},
        )
        return self.path

    @classmethod
    def load(cls, folder: str | Path, **_ignored: Any) -> TfidfClassifier:
        """Load a saved folder (JSON + safetensors only). Extra keyword arguments (``device``)
        are accepted for the common loader and ignored: this model runs on the CPU."""
        folder = Path(folder)
        found, common = read_model_files(folder, (KIND,))
        meta, arrays = read_own_files(folder, TFIDF_JSON, TFIDF_ARRAYS, "the TF-IDF model")
        try:
            blocks = meta["blocks"]
            idfs = [arrays[f"idf_{i}"] for i in range(len(blocks))]
            coef, intercept = arrays["coef"], arrays["intercept"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{folder}: the TF-IDF model's files are damaged ({exc!r})") from exc
        model = cls(
            task=found["task"],
            classes=found["classes"],
            blocks=blocks,
            idfs=idfs,
            coef=coef,
            intercept=intercept,
            estimator=meta.get("estimator", {}),
            **common,
        )
        model.read_tags(folder)
        return model


def model_card(model: TfidfClassifier) -> str:
    """README.md for the folder: what the model is, why it was saved, its held-out numbers."""
    m = model.metrics
    verdict = m.get("verdict") or {}
    lines = [
        "# Marketune model: TF-IDF + " + ("logistic regression" if model.task == "classification" else "ridge regression"),
        "",
        f"- Task: {model.task}",
    ]
    if model.task == "classification":
        kind = "Tags (several per row, one-vs-rest)" if model.multi_label else "Classes"
        lines.append(f"- {kind}: {', '.join(str(c) for c in model.classes_)}")
    lines += [
        f"- Input columns: {', '.join(model.input_columns)}",
        f"- Features: {sum(len(b['vocabulary']) for b in model.blocks):,} "
        + " + ".join(f"{b['analyzer']} {b['ngram_range'][0]}-{b['ngram_range'][1]}-grams" for b in model.blocks),
        f"- Estimator: {model.estimator}",
    ]
    if verdict.get("sentence"):
        lines += ["", "## Why this model", "", verdict["sentence"]]
    if verdict.get("warning"):
        lines += ["", f"**Warning:** {verdict['warning']}"]
    if (m.get("refit") or {}).get("sentence"):
        lines += ["", m["refit"]["sentence"]]
    headline = m.get("model") or {}
    if headline:
        keys = ("accuracy", "macro_f1", "roc_auc") if model.task == "classification" else ("r2", "mae", "rmse")
        if model.multi_label:
            keys = ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy")
        lines += ["", "## Held-out test results", ""]
        lines += [f"- {k}: {headline[k]:.4f}" for k in keys if isinstance(headline.get(k), (int, float))]
    lines += card_lines(model)
    lines += ["", "Files: JSON + safetensors only (no pickle). Load with `core.registry.load_folder`."]
    return "\n".join(lines) + "\n"
