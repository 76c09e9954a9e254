"""The saved response models of the Targeting page (kinds "tabular" and "hybrid").

``ResponseModel`` is a calibrated P(response) on profile columns: gradient-boosted trees
(core.models.tabular) and, for the hybrid, one more input, a text score from ``TextScorer``
(TF-IDF word 1-2-grams + logistic regression on the text columns). core.response trains and
compares them; this module only holds, predicts, saves and loads them.

Saved folder (JSON + safetensors only, nothing is unpickled): the common files of
core.models.folder (with calibration.json) plus::

    tabular_model.json + tabular_model.safetensors   # the trees (core.models.tabular)
    text_scorer.json + text_scorer.safetensors       # hybrid only: TF-IDF + LR weights
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..calibration import Calibrator
from ..data import format_value, missing_columns_message
from .folder import (
    FORMAT_VERSION,
    SCHEMA,
    input_columns,
    keep_common,
    manifest_of,
    read_calibration,
    read_model_files,
    save_model_folder,
)
from .tabular import TabularModel
from .tfidf import tfidf_transform, vectorizer_spec

TRANSFORMER, TABULAR, HYBRID = "transformer", "tabular", "hybrid"
MODEL_LABELS = {
    TRANSFORMER: "Transformer (fine-tuned)",
    TABULAR: "Gradient boosting (profile)",
    HYBRID: "Hybrid (gradient boosting + text score)",
}
RESPONSE_KINDS = (TABULAR, HYBRID)  # kinds saved by ResponseModel
TEXT_SCORE_COLUMN = "__text_score__"  # the hybrid's extra numeric feature


# --------------------------------------------------------------------------------------------
# The hybrid's text score: TF-IDF + logistic regression, stored as plain arrays
# --------------------------------------------------------------------------------------------

TEXT_SCORER_JSON = "text_scorer.json"
TEXT_SCORER_ARRAYS = "text_scorer.safetensors"
TEXT_SCORER_FORMAT = "marketune-tfidf-lr"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default word pattern


class TextScorer:
    """P(response | text): TF-IDF (word 1-2-grams, sublinear tf, l2 rows) + logistic regression.

    Fitted with scikit-learn; scored (before and after ``load``) from the stored vocabulary,
    idf weights and coefficients with a fixed-vocabulary ``CountVectorizer`` and numpy, so a
    saved scorer is JSON + safetensors only. Several text columns are joined with a space.
    """

    def __init__(
        self,
        text_columns: Sequence[str],
        *,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name for the inverse regularisation
        ngram_max: int = 2,
        min_df: int = 2,
        max_features: int = 50_000,
    ) -> None:
        if not text_columns:
            raise ValueError("TextScorer needs at least one text column")
        self.text_columns = list(text_columns)
        self.C = float(C)
        self.ngram_max = int(ngram_max)
        self.min_df = int(min_df)
        self.max_features = int(max_features)
        self.vocabulary_: list[str] | None = None
        self.idf_: np.ndarray | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-ready), in the constructor's order."""
        return {name: getattr(self, name) for name in inspect.signature(TextScorer).parameters}

    def texts(self, df: pd.DataFrame) -> list[str]:
        """One string per row: the text columns' cells joined by a space (missing = empty)."""
        absent = [c for c in self.text_columns if c not in df.columns]
        if absent:
            raise ValueError(missing_columns_message(absent, df.columns, lead=f"The table lacks text column(s) {absent}"))
        parts = [df[c].map(format_value).astype(str).tolist() for c in self.text_columns]
        return [" ".join(p for p in row if p) for row in zip(*parts)]

    def fit(self, df: pd.DataFrame, y: np.ndarray) -> TextScorer:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = self.texts(df)
        y = np.asarray(y).astype(np.int64)
        min_df = self.min_df if len(texts) >= 50 else 1  # tiny tables: keep every word
        vectorizer = TfidfVectorizer(
            ngram_range=(1, self.ngram_max),
            min_df=min_df,
            max_features=self.max_features,
            sublinear_tf=True,
            token_pattern=TOKEN_PATTERN,
            dtype=np.float64,
        )
        try:
            X = vectorizer.fit_transform(texts)
        except ValueError:  # "empty vocabulary"
            raise ValueError(
                f"the text column(s) {self.text_columns} hold no words to learn from; "
                "leave them out or choose another column"
            ) from None
        clf = LogisticRegression(C=self.C, max_iter=2000)
        clf.fit(X, y)
        spec, self.idf_ = vectorizer_spec(vectorizer)
        self.vocabulary_ = spec["vocabulary"]
        self.coef_ = np.asarray(clf.coef_[0], dtype=np.float64)
        self.intercept_ = float(clf.intercept_[0])
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """[P(no response), P(response)] from the text alone, shape ``(len(df), 2)`` (scikit-learn's
        order: classes 0, 1); empty text gets the intercept's probability."""
        from scipy.special import expit

        if self.vocabulary_ is None:
            raise ValueError("this TextScorer is not fitted yet")
        spec = {"analyzer": "word", "ngram_range": (1, self.ngram_max), "token_pattern": TOKEN_PATTERN,
                "vocabulary": self.vocabulary_}  # sublinear tf, idf, l2 rows: tfidf_transform's defaults
        X = tfidf_transform(self.texts(df), spec, self.idf_)
        p = expit(X @ self.coef_ + self.intercept_)
        return np.column_stack([1.0 - p, p])

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        if self.vocabulary_ is None:
            raise ValueError("this TextScorer is not fitted yet")
        meta = {"format": TEXT_SCORER_FORMAT, "format_version": FORMAT_VERSION, "params": self.params(),
                "vocabulary": self.vocabulary_, "intercept": self.intercept_}
        (folder / TEXT_SCORER_JSON).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        save_file({"idf": self.idf_, "coef": self.coef_}, str(folder / TEXT_SCORER_ARRAYS))

    @classmethod
    def load(cls, folder: Path) -> TextScorer:
        from safetensors.numpy import load_file

        json_path, arrays_path = folder / TEXT_SCORER_JSON, folder / TEXT_SCORER_ARRAYS
        if not json_path.is_file() or not arrays_path.is_file():
            raise ValueError(f"{folder} lacks the hybrid's text model ({TEXT_SCORER_JSON}, {TEXT_SCORER_ARRAYS})")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
            if meta.get("format") != TEXT_SCORER_FORMAT:
                raise ValueError(f"{json_path} is not a {TEXT_SCORER_FORMAT} file")
            scorer = cls(**meta["params"])
            vocabulary = [str(t) for t in meta["vocabulary"]]
            intercept = float(meta["intercept"])
            arrays = load_file(str(arrays_path))
            idf, coef = np.asarray(arrays["idf"], np.float64), np.asarray(arrays["coef"], np.float64)
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{folder}: the hybrid's text model files are damaged ({exc!r})") from exc
        if not (len(vocabulary) == idf.size == coef.size) or len(set(vocabulary)) != len(vocabulary):
            raise ValueError(f"{folder}: the text model's vocabulary and weights do not match")
        scorer.vocabulary_, scorer.idf_, scorer.coef_, scorer.intercept_ = vocabulary, idf, coef, intercept
        return scorer


# --------------------------------------------------------------------------------------------
# ResponseModel: the saved tabular and hybrid kinds
# --------------------------------------------------------------------------------------------


class ResponseModel:
    """A calibrated response model on profile columns (kind ``"tabular"``), optionally with a
    text score (kind ``"hybrid"``). Implements :class:`core.models.SavedModel`: ``classes_`` is
    ``[negative, positive]`` and ``predict_proba`` is calibrated; trees are fast already, so it
    has no fast form (``fast_forms`` is empty, no ``quantize``). The saved folder is described
    in the module docstring.
    """

    task = "classification"
    fast_forms: tuple[str, ...] = ()

    def __init__(
        self,
        kind: str,
        tabular: TabularModel,
        *,
        classes: Sequence[str],
        schema: dict[str, Any],
        text_scorer: TextScorer | None = None,
        calibration: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        test_predictions: pd.DataFrame | None = None,
        training_config: dict[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        if kind not in RESPONSE_KINDS:
            raise ValueError(f"kind must be one of {RESPONSE_KINDS}; found {kind!r}")
        if kind == HYBRID and text_scorer is None:
            raise ValueError("a hybrid response model needs its text scorer")
        if len(classes) != 2:
            raise ValueError(f"a response model has 2 classes [negative, positive]; found {list(classes)}")
        self.kind = kind
        self.tabular = tabular
        self.text_scorer = text_scorer
        self.classes_ = np.array([str(c) for c in classes], dtype=object)
        keep_common(self, schema, training_config, metrics, test_predictions, path)
        self.calibration = calibration
        self.base_model = "tfidf-lr + gradient boosting" if kind == HYBRID else "gradient boosting"

    @property
    def input_columns(self) -> list[str]:
        """Columns a table must have: profile columns, then text columns."""
        return input_columns(self.schema)

    @property
    def positive_class(self) -> str:
        return str(self.classes_[1])

    def _frame(self, data: Any) -> pd.DataFrame:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(
                f"a response model scores a table with columns {self.input_columns}; found {type(data).__name__}"
            )
        absent = [c for c in self.input_columns if c not in data.columns]
        if absent:
            raise ValueError(missing_columns_message(absent, data.columns,
                                                     lead=f"The table lacks column(s) {absent} that the model needs"))
        return data

    def raw_scores(self, data: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(positive), shape ``(n,)``."""
        df = self._frame(data)
        if self.kind == HYBRID:
            df = df[self.schema["profile_columns"]].copy()
            df[TEXT_SCORE_COLUMN] = self.text_scorer.predict_proba(data)[:, 1]
        return self.tabular.predict_proba(df)[:, 1]

    def predict_proba(self, data: pd.DataFrame, batch_size: int | None = None, on_batch: Any = None) -> np.ndarray:
        """Calibrated probabilities, shape ``(n, 2)``, columns ``classes_`` = [negative, positive].
        ``batch_size`` and ``on_batch`` are accepted for interface parity (trees need no batches)."""
        p = self.raw_scores(data)
        if self.calibration is not None:
            p = Calibrator.from_dict(self.calibration["calibrator"]).transform(np.clip(p, 0.0, 1.0))
        if on_batch is not None:
            on_batch(len(p), len(p))
        return np.column_stack([1.0 - p, p])

    def predict(self, data: pd.DataFrame, batch_size: int | None = None, on_batch: Any = None) -> np.ndarray:
        """Most likely class per row (calibrated P(positive) >= 0.5 means positive)."""
        proba = self.predict_proba(data, batch_size, on_batch)
        return self.classes_[(proba[:, 1] >= 0.5).astype(int)]

    # -- persistence -------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return manifest_of(self, self.kind, positive_class=self.positive_class)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the folder atomically (temporary folder, then rename). Returns the folder."""
        def write(tmp: Path) -> None:
            self.tabular.save(tmp)
            if self.text_scorer is not None:
                self.text_scorer.save(tmp)

        self.path = save_model_folder(folder, self, _model_card(self), overwrite=overwrite, write=write,
                                      calibration=self.calibration)
        return self.path

    @classmethod
    def load(cls, folder: str | Path, **_: Any) -> ResponseModel:
        """Load a saved folder; reads JSON and safetensors only."""
        folder = Path(folder)
        found, common = read_model_files(folder, RESPONSE_KINDS, required=(SCHEMA,))
        kind = found["kind"]
        tabular = TabularModel.load(folder)
        scorer = TextScorer.load(folder) if kind == HYBRID else None
        calibration = read_calibration(folder)
        if calibration is not None:
            Calibrator.from_dict(calibration.get("calibrator"))  # fails early on a damaged file
        return cls(kind, tabular, classes=found["classes"], text_scorer=scorer, calibration=calibration, **common)


def _model_card(model: ResponseModel) -> str:
    response = model.metrics.get("response", {}).get("models", {}).get(model.kind, {})
    lines = [
        "# Marketune response model",
        "",
        f"- Kind: {model.kind} ({MODEL_LABELS[model.kind]})",
        f"- Predicts P({model.schema.get('label_column')} = {model.positive_class}), calibrated "
        f"({(model.calibration or {}).get('method', 'none')}) on the validation split",
        f"- Profile columns: {model.schema.get('profile_columns', [])}",
        f"- Text columns: {model.schema.get('text_columns', [])}",
        "",
        "## Test metrics",
        "",
    ]
    for key, label in [("roc_auc", "ROC-AUC"), ("top_decile_lift", "top-decile lift"),
                       ("ece_uncalibrated", "ECE before calibration"), ("ece_calibrated", "ECE after calibration")]:
        if isinstance(response.get(key), (int, float)):
            lines.append(f"- {label}: {response[key]:.3f}")
    if response.get("readout"):
        lines.append(f"- {response['readout']}")
    if model.metrics.get("refit_note"):
        lines += ["", model.metrics["refit_note"]]
    lines += ["", "Load with `core.registry.load_folder(folder)`; files are JSON and safetensors only.", ""]
    return "\n".join(lines)
