"""Customer-profile columns and a gradient-boosted tree model that is saved without pickle.

How columns are treated
-----------------------
``infer_column_kinds`` decides, per column, "numeric" or "categorical":

1. bool columns and pandas ``category`` columns are categorical;
2. numeric columns (int/float, nullable or not) are numeric when they have more than
   ``max_distinct`` (15) distinct non-missing values, else categorical (a 0/1 flag or a
   "number of children" 0..5 is better split as categories: trees then group any values);
3. text columns whose every non-missing value reads as a number (a CSV column with numbers
   stored as text) follow rule 2; other text columns are categorical;
4. a column with no value at all is categorical (it only holds "missing");
5. date/time columns raise ValueError: derive month, weekday, days-since as numbers first.

Numbers are passed to the trees as float64; text that does not read as a number, empty cells and
infinities become *missing*. Categories are stored as a vocabulary per column (the
``max_categories`` most frequent values seen in training, at most 255, most frequent first) and
encoded as their position. Missing values, values never seen in training and rare values beyond
the vocabulary are all *missing*: the trees learn, at each split, which side missing goes to.
Category values are compared as text, after trimming spaces; whole numbers are written without
".0" so that 1, 1.0 and "1" are the same category.

Hybrid models: ``extra_numeric`` names further columns that are always numeric, for example a
fine-tuned transformer's score of a free-text column. Nothing else is special about them. Score
the training rows out-of-fold (or with a model that did not see them); a text model's scores on
its own training rows are over-confident and the trees would lean on them too much.

Saved format, and why
---------------------
A saved model is two files in a folder: ``tabular_model.json`` (columns, kinds, vocabularies,
classes, hyper-parameters, versions) and ``tabular_model.safetensors`` (the fitted trees as flat
arrays: per node value, feature, threshold, missing direction, children, leaf/categorical flags,
bitset index; per tree its class and first node; the categorical split bitsets and the bitsets of
known categories). Loading reads only these two files and predicts with a small numpy
re-implementation of scikit-learn's tree walk (``_predict_from_raw_data``), without
scikit-learn's estimator object and without refitting.

Why not the alternatives: pickle/joblib run code on load, so a shared model folder would be a
way to run code on the user's machine (and pickles break across scikit-learn versions); ``skops``
still rebuilds Python objects from a type allow-list and adds a dependency; ONNX needs
``skl2onnx`` + ``onnxruntime`` and loses exactness for categorical splits. The trees are small
and their structure is simple, so plain arrays + JSON are safe to load, readable by any tool,
and exact: a test checks that loaded probabilities equal scikit-learn's to 1e-6 (in practice
~1e-15). The price is that saving reads private scikit-learn attributes (``_predictors``,
``_baseline_prediction``, ``_bin_mapper``, ``_preprocessor``); the equality test fails loudly if
a scikit-learn upgrade changes them, and the version used is written into the JSON.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import missing_columns_message
from ..files import atomic_write

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "TabularModel",
    "infer_column_kinds",
]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MAX_DISTINCT_FOR_CATEGORY = 15  # numeric columns with at most this many values are categories
MAX_CATEGORIES = 255  # scikit-learn's limit: categories must fit in its 255 bins
# The constructor's arguments passed on as they are to HistGradientBoostingClassifier.
_ESTIMATOR_PARAMS = ("max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization",
                     "early_stopping", "random_state")

FORMAT_NAME = "marketune-tabular-hgb"
FORMAT_VERSION = 1
JSON_NAME = "tabular_model.json"
ARRAYS_NAME = "tabular_model.safetensors"

_NODE_FIELDS = {
    # name in the file -> (field of scikit-learn's PREDICTOR_RECORD_DTYPE, dtype we store)
    "node_value": ("value", np.float64),
    "node_feature": ("feature_idx", np.int64),
    "node_threshold": ("num_threshold", np.float64),
    "node_missing_left": ("missing_go_to_left", np.uint8),
    "node_left": ("left", np.int64),
    "node_right": ("right", np.int64),
    "node_is_leaf": ("is_leaf", np.uint8),
    "node_is_categorical": ("is_categorical", np.uint8),
    "node_bitset": ("bitset_idx", np.int64),
}


# --------------------------------------------------------------------------------------------
# Column kinds and encoding
# --------------------------------------------------------------------------------------------


def _numeric_view(col: pd.Series) -> pd.Series | None:
    """The column as float64 if it is numbers (or text that all reads as numbers), else None."""
    if pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_numeric_dtype(col):
        return pd.to_numeric(col, errors="coerce").astype(np.float64)
    present = col[~col.isna()]
    if present.empty:
        return None
    text = present.astype(str).str.strip()
    text = text[text != ""]
    parsed = pd.to_numeric(text, errors="coerce")
    if text.empty or parsed.isna().any():
        return None
    return pd.to_numeric(col.astype(object).map(_strip_text), errors="coerce").astype(np.float64)


def _strip_text(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


def infer_column_kinds(
    df: pd.DataFrame,
    cols: Sequence[str] | None = None,
    max_distinct: int = MAX_DISTINCT_FOR_CATEGORY,
) -> dict[str, str]:
    """``{column: "numeric" | "categorical"}`` for ``cols`` (default: all columns).

    Rules in the module docstring: numbers with more than ``max_distinct`` distinct values are
    numeric, everything else (text, bool, few distinct numbers, all-missing) is categorical;
    date/time columns raise ValueError.
    """
    cols = list(df.columns if cols is None else cols)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found; the table has {list(df.columns)[:20]}")
    repeated = sorted({c for c in cols if (df.columns == c).sum() > 1})
    if repeated:
        raise ValueError(f"column name(s) {repeated} appear more than once; names must be unique")
    kinds: dict[str, str] = {}
    for c in cols:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            raise ValueError(
                f"column {c!r} holds dates/times; derive numbers from it (month, weekday, "
                "days since) and use those instead"
            )
        num = _numeric_view(col)
        if num is None:
            kinds[c] = CATEGORICAL
            continue
        finite = num[np.isfinite(num)]
        kinds[c] = NUMERIC if finite.nunique() > max_distinct else CATEGORICAL
    return kinds


def _category_key(v: Any) -> str | None:
    """The text a category value is compared as; None for missing."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return None
        if f.is_integer() and abs(f) < 2**53:
            return str(int(f))
        return repr(f)
    text = str(v).strip()
    return text or None


def _category_keys(col: pd.Series) -> pd.Series:
    return col.astype(object).map(_category_key)


def _encode_numeric(col: pd.Series) -> np.ndarray:
    """float64 column; text that is not a number and +-inf become NaN (missing)."""
    if pd.api.types.is_bool_dtype(col):
        out = col.astype(float).to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(col):
        out = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out = pd.to_numeric(col.astype(object).map(_strip_text), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    out = np.array(out, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def _encode_categorical(col: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    """Position of each value in ``vocabulary`` as float64; NaN for missing/unseen/rare."""
    lookup = {key: float(i) for i, key in enumerate(vocabulary)}
    keys = _category_keys(col)
    return keys.map(lambda k: lookup.get(k, np.nan) if k is not None else np.nan).to_numpy(dtype=np.float64)


def _build_vocabulary(col: pd.Series, max_categories: int) -> list[str]:
    keys = _category_keys(col).dropna()
    counts = keys.value_counts()
    # Most frequent first, ties by text so that the vocabulary does not depend on row order.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in ordered[:max_categories]]


# --------------------------------------------------------------------------------------------
# The exported forest and its numpy predictor
# --------------------------------------------------------------------------------------------


def _bit_is_set(bitsets: np.ndarray, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Bit ``codes`` of bitset ``rows`` (each bitset: 8 uint32 words = 256 bits)."""
    words = bitsets[rows, codes >> 5]
    return ((words >> (codes & 31).astype(np.uint32)) & 1).astype(bool)


class _Forest:
    """Fitted trees as flat arrays + the numpy tree walk (mirrors scikit-learn's Cython one)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]):
        self.arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        self.baseline = np.asarray(meta["baseline"], dtype=np.float64)
        self.n_features = int(meta["n_features"])
        self.n_classes = int(meta["n_classes"])
        self.feature_order = np.asarray(meta["feature_order"], dtype=np.int64)
        self._validate()
        a = self.arrays
        self.value = a["node_value"]
        self.feature = a["node_feature"]
        self.threshold = a["node_threshold"]
        self.missing_left = a["node_missing_left"].astype(bool)
        self.left = a["node_left"]
        self.right = a["node_right"]
        self.is_leaf = a["node_is_leaf"].astype(bool)
        self.is_cat = a["node_is_categorical"].astype(bool)
        self.bitset = a["node_bitset"]
        self.roots = a["tree_offsets"][:-1]
        self.tree_class = a["tree_class"]
        # A zero-row bitset array cannot be indexed even under a mask; one empty row is inert.
        self.raw_bits, self.known_bits = (bits if bits.shape[0] else np.zeros((1, 8), dtype=np.uint32)
                                          for bits in (a["raw_left_cat_bitsets"], a["known_cat_bitsets"]))
        self.f_idx_map = a["f_idx_map"]

    @classmethod
    def from_sklearn(cls, est: Any) -> _Forest:
        """Export a fitted ``HistGradientBoostingClassifier`` (reads private attributes)."""
        n_features = int(est.n_features_in_)
        # Internal column order: with categorical features scikit-learn's ColumnTransformer puts
        # the categorical columns first; node feature indices refer to that order.
        if est._preprocessor is None:
            order = np.arange(n_features)
        else:
            order = np.full(n_features, -1, dtype=np.int64)
            for name, _, cols in est._preprocessor.transformers_:
                if name == "remainder":
                    continue
                cols = np.asarray(cols)
                idx = np.flatnonzero(cols) if cols.dtype == bool else cols.astype(np.int64)
                order[est._preprocessor.output_indices_[name]] = idx
            if (order < 0).any():
                raise RuntimeError("could not map scikit-learn's internal feature order")
            encoder = est._preprocessor.named_transformers_["encoder"]
            for cats in encoder.categories_:
                cats = np.asarray(cats, dtype=np.float64)
                cats = cats[~np.isnan(cats)]
                # Our codes are 0..k-1 and all occur in training, so the encoder is the identity.
                if not np.array_equal(cats, np.arange(cats.size)):
                    raise RuntimeError("categorical codes were re-mapped by scikit-learn")
        nodes, raw_bitsets, offsets, classes_of_tree = [], [], [0], []
        node_offset = bitset_offset = 0
        for predictors_of_iteration in est._predictors:
            for k, predictor in enumerate(predictors_of_iteration):
                tree = predictor.nodes
                cols = {}
                for name, (field, dtype) in _NODE_FIELDS.items():
                    cols[name] = tree[field].astype(dtype)
                leaf = cols["node_is_leaf"].astype(bool)
                cols["node_left"] = np.where(leaf, -1, cols["node_left"] + node_offset)
                cols["node_right"] = np.where(leaf, -1, cols["node_right"] + node_offset)
                cat = cols["node_is_categorical"].astype(bool) & ~leaf
                cols["node_bitset"] = np.where(cat, cols["node_bitset"] + bitset_offset, 0)
                nodes.append(cols)
                bits = np.asarray(predictor.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)
                raw_bitsets.append(bits)
                node_offset += tree.shape[0]
                bitset_offset += bits.shape[0]
                offsets.append(node_offset)
                classes_of_tree.append(k)
        arrays = {
            name: np.concatenate([t[name] for t in nodes]) if nodes else np.zeros(0, dtype)
            for name, (_, dtype) in _NODE_FIELDS.items()
        }
        arrays["raw_left_cat_bitsets"] = np.concatenate(raw_bitsets) if raw_bitsets else np.zeros((0, 8), np.uint32)
        arrays["tree_offsets"] = np.asarray(offsets, dtype=np.int64)
        arrays["tree_class"] = np.asarray(classes_of_tree, dtype=np.int64)
        if est._bin_mapper.is_categorical_ is None:
            known, f_idx_map = np.zeros((0, 8), np.uint32), np.zeros(n_features, np.uint32)
        else:
            known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
        arrays["known_cat_bitsets"] = np.asarray(known, dtype=np.uint32).reshape(-1, 8)
        arrays["f_idx_map"] = np.asarray(f_idx_map, dtype=np.int64)
        meta = {
            "baseline": np.asarray(est._baseline_prediction, dtype=np.float64).ravel().tolist(),
            "n_features": n_features,
            "n_classes": len(est.classes_),
            "feature_order": order.tolist(),
        }
        return cls(arrays, meta)

    def meta(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.tolist(),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "feature_order": self.feature_order.tolist(),
        }

    def _validate(self) -> None:
        """Reject files whose arrays would index out of range or loop (ValueError)."""
        a = self.arrays
        needed = [
            *_NODE_FIELDS,
            "raw_left_cat_bitsets",
            "tree_offsets",
            "tree_class",
            "known_cat_bitsets",
            "f_idx_map",
        ]
        absent = [k for k in needed if k not in a]
        if absent:
            raise ValueError(f"saved model arrays are missing {absent}")
        n = a["node_value"].shape[0]
        for name in _NODE_FIELDS:
            if a[name].ndim != 1 or a[name].shape[0] != n:
                raise ValueError(f"saved model array {name} has shape {a[name].shape}; need ({n},)")
        n_trees_per_iter = 1 if self.n_classes <= 2 else self.n_classes
        if self.n_classes < 2 or self.baseline.shape != (n_trees_per_iter,):
            raise ValueError(
                f"saved model has {self.n_classes} classes and baseline of shape "
                f"{self.baseline.shape}; they do not match"
            )
        offsets, tree_class = a["tree_offsets"], a["tree_class"]
        if (
            offsets.ndim != 1
            or offsets.size < 1
            or offsets[0] != 0
            or offsets[-1] != n
            or np.any(np.diff(offsets) < 1)
            or tree_class.shape != (offsets.size - 1,)
            or (tree_class.size and (tree_class.min() < 0 or tree_class.max() >= n_trees_per_iter))
        ):
            raise ValueError("saved model tree offsets or tree classes are inconsistent")
        p = self.n_features
        if sorted(self.feature_order.tolist()) != list(range(p)):
            raise ValueError(f"saved model feature_order is not a permutation of 0..{p - 1}")
        tree_end = np.repeat(offsets[1:], np.diff(offsets))
        inner = ~a["node_is_leaf"].astype(bool)
        idx = np.arange(n)
        for side in ("node_left", "node_right"):
            child = a[side][inner]
            # Children come after their parent inside the same tree: the walk must end.
            if np.any(child <= idx[inner]) or np.any(child >= tree_end[inner]):
                raise ValueError("saved model tree links point outside their tree")
        feat = a["node_feature"][inner]
        if feat.size and (feat.min() < 0 or feat.max() >= p):
            raise ValueError("saved model splits on a feature that does not exist")
        for name in ("raw_left_cat_bitsets", "known_cat_bitsets"):
            if a[name].ndim != 2 or a[name].shape[1] != 8 or a[name].dtype != np.uint32:
                raise ValueError(f"saved model array {name} must be uint32 of shape (m, 8)")
        cat = inner & a["node_is_categorical"].astype(bool)
        bits = a["node_bitset"][cat]
        if bits.size and (bits.min() < 0 or bits.max() >= a["raw_left_cat_bitsets"].shape[0]):
            raise ValueError("saved model categorical split points to a missing bitset")
        fmap = a["f_idx_map"]
        if fmap.shape != (p,):
            raise ValueError(f"saved model f_idx_map has shape {fmap.shape}; need ({p},)")
        cat_feats = np.unique(a["node_feature"][cat])
        if cat_feats.size and (fmap[cat_feats].min() < 0 or fmap[cat_feats].max() >= a["known_cat_bitsets"].shape[0]):
            raise ValueError("saved model known-category map points outside its bitsets")

    def _walk(self, X: np.ndarray) -> np.ndarray:
        """Leaf value reached by every (row, tree); X in internal column order, (R, p)."""
        n_rows = X.shape[0]
        idx = np.broadcast_to(self.roots, (n_rows, self.roots.size)).copy()
        while True:
            active_r, active_t = np.nonzero(~self.is_leaf[idx])
            if active_r.size == 0:
                break
            nid = idx[active_r, active_t]
            f = self.feature[nid]
            v = X[active_r, f]
            missing = np.isnan(v)
            go_left = np.zeros(v.shape, dtype=bool)
            numeric = ~missing & ~self.is_cat[nid]
            go_left[numeric] = v[numeric] <= self.threshold[nid[numeric]]
            cat = ~missing & self.is_cat[nid]
            if cat.any():
                cv = v[cat]
                out_of_range = (cv < 0) | (cv >= 256)
                codes = np.where(out_of_range, 0, cv).astype(np.int64)  # truncation, as Cython
                in_left = _bit_is_set(self.raw_bits, self.bitset[nid[cat]], codes)
                known = _bit_is_set(self.known_bits, self.f_idx_map[f[cat]], codes)
                # Outside the range or an unknown category: treated as missing, like sklearn.
                cat_missing = out_of_range | (~in_left & ~known)
                go_left[cat] = in_left & ~cat_missing
                missing[cat] = cat_missing
            go_left[missing] = self.missing_left[nid[missing]]
            idx[active_r, active_t] = np.where(go_left, self.left[nid], self.right[nid])
        return self.value[idx]

    def raw_predict(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds), shape (n, n_trees_per_iteration); X in our column order."""
        X = np.ascontiguousarray(X[:, self.feature_order], dtype=np.float64)
        n_trees = self.roots.size
        raw = np.tile(self.baseline, (X.shape[0], 1))
        chunk = max(1, 1_000_000 // max(n_trees, 1))  # bounds the (rows, trees) work arrays
        for start in range(0, X.shape[0], chunk):
            leaves = self._walk(X[start : start + chunk])
            for k in range(self.baseline.size):
                raw[start : start + chunk, k] += leaves[:, self.tree_class == k].sum(axis=1)
        return raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from scipy.special import expit, softmax

        raw = self.raw_predict(X)
        if self.n_classes == 2:
            p1 = expit(raw[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return softmax(raw, axis=1)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class TabularModel:
    """Response model on profile columns: scikit-learn ``HistGradientBoostingClassifier`` with
    native categorical splits, saved as JSON + safetensors (no pickle).

    Args:
        columns: feature columns; default every column of the table passed to ``fit``.
        kinds: ``{column: "numeric"|"categorical"}`` overrides; others are inferred by
            ``infer_column_kinds``.
        extra_numeric: further columns that are always numeric (e.g. a text model's score);
            appended to ``columns`` if not already there.
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization,
        early_stopping, random_state: passed to ``HistGradientBoostingClassifier``.
        max_categories: vocabulary size per categorical column (1..255); rarer values are
            treated as missing.
        n_threads: OpenMP threads scikit-learn may use to fit and predict (None: all cores).
            On a busy machine (a transformer training next door, 2 shared cores) OpenMP's
            spinning threads can make a fit 10-30x slower than with ``n_threads=1``; for the
            few thousand rows of a campaign one thread is already well under a second.

    Attributes after ``fit`` / ``load``: ``classes_`` (ndarray of labels, sorted, the column
    order of ``predict_proba``), ``columns_``, ``kinds_``, ``vocabularies_``.
    """

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        kinds: Mapping[str, str] | None = None,
        extra_numeric: Sequence[str] = (),
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        early_stopping: str | bool = "auto",
        max_categories: int = MAX_CATEGORIES,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ) -> None:
        self.columns = list(columns) if columns is not None else None
        self.kinds = dict(kinds or {})
        self.extra_numeric = list(extra_numeric)
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.max_categories = max_categories
        self.random_state = random_state
        self.n_threads = n_threads
        for c, k in self.kinds.items():
            if k not in (NUMERIC, CATEGORICAL):
                raise ValueError(f"kind of column {c!r} must be 'numeric' or 'categorical'; found {k!r}")
        if not (1 <= int(max_categories) <= MAX_CATEGORIES):
            raise ValueError(f"max_categories must be 1..{MAX_CATEGORIES}; found {max_categories}")
        self._estimator: Any = None
        self._forest: _Forest | None = None

    # -- parameters -------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-ready), in the constructor's order."""
        return {name: getattr(self, name) for name in inspect.signature(TabularModel).parameters}

    def _thread_limit(self) -> Any:
        """Context manager capping scikit-learn's OpenMP threads at ``n_threads`` (if set)."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=int(self.n_threads), user_api="openmp")

    def _check_fitted(self) -> None:
        if self._forest is None:
            raise ValueError("this TabularModel is not fitted yet; call fit(df, y) or load(folder)")

    # -- data -------------------------------------------------------------------------------

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the trees see, shape ``(len(df), len(columns_))``: numbers as
        numbers, categories as vocabulary positions, NaN for missing/unseen."""
        self._check_fitted()
        return self._encode(df)

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame; found {type(df).__name__}")
        absent = [c for c in self.columns_ if c not in df.columns]
        if absent:
            raise ValueError(missing_columns_message(absent, df.columns, lead=f"The table lacks column(s) {absent} that the "
                                                                           "model was trained on"))
        X = np.empty((len(df), len(self.columns_)), dtype=np.float64)
        for j, c in enumerate(self.columns_):
            if self.kinds_[c] == NUMERIC:
                X[:, j] = _encode_numeric(df[c])
            else:
                X[:, j] = _encode_categorical(df[c], self.vocabularies_[c])
        return X

    # -- fit / predict ----------------------------------------------------------------------

    def fit(self, df: pd.DataFrame, y: Any) -> TabularModel:
        """Fit on ``df`` (one row per customer) and labels ``y`` (shape ``(len(df),)``, at
        least two distinct values, no missing)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame; found {type(df).__name__}")
        if df.columns.duplicated().any():
            dup = df.columns[df.columns.duplicated()].tolist()
            raise ValueError(f"column names must be unique; found repeated {dup}")
        labels = pd.Series(y).reset_index(drop=True)
        if labels.size != len(df):
            raise ValueError(f"y has {labels.size} values but the table has {len(df)} rows")
        if labels.isna().any():
            raise ValueError(f"y has {int(labels.isna().sum())} missing labels; drop those rows")
        labels = labels.to_numpy(dtype=object if not pd.api.types.is_numeric_dtype(labels) else None)
        if len(pd.unique(labels)) < 2:
            raise ValueError("y has 1 distinct value; training needs at least 2")
        columns = list(self.columns) if self.columns is not None else list(df.columns)
        columns += [c for c in self.extra_numeric if c not in columns]
        if not columns:
            raise ValueError("no feature columns to train on")
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise ValueError(f"column(s) {absent} not found; the table has {list(df.columns)[:20]}")
        unknown = [c for c in self.kinds if c not in columns]
        if unknown:
            raise ValueError(f"kinds given for column(s) {unknown} that are not feature columns")
        to_infer = [c for c in columns if c not in self.kinds and c not in self.extra_numeric]
        kinds = {**infer_column_kinds(df, to_infer), **self.kinds, **dict.fromkeys(self.extra_numeric, NUMERIC)}
        for c in columns:
            if kinds[c] == NUMERIC and np.isnan(_encode_numeric(df[c])).all():
                raise ValueError(f"column {c!r} is set to numeric but holds no numbers")
        vocabularies = {
            c: _build_vocabulary(df[c], int(self.max_categories)) for c in columns if kinds[c] == CATEGORICAL
        }
        self.columns_ = columns
        self.kinds_ = {c: kinds[c] for c in columns}
        self.vocabularies_ = vocabularies
        X = self._encode(df)
        is_cat = np.array([self.kinds_[c] == CATEGORICAL for c in columns])
        est = HistGradientBoostingClassifier(**{name: getattr(self, name) for name in _ESTIMATOR_PARAMS},
                                             categorical_features=is_cat if is_cat.any() else None)
        with self._thread_limit():
            est.fit(X, labels)
        self._estimator = est
        self._forest = _Forest.from_sklearn(est)
        self.classes_ = np.asarray(est.classes_)
        self.n_iter_ = int(est.n_iter_)
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(len(df), len(classes_))``, columns in ``classes_``
        order (binary: column 1 is the positive class, the later label in sorted order)."""
        X = self.encode(df)
        if self._estimator is not None:
            with self._thread_limit():
                return self._estimator.predict_proba(X)
        return self._forest.predict_proba(X)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Most likely label per row, shape ``(len(df),)``."""
        return self.classes_[np.argmax(self.predict_proba(df), axis=1)]

    # -- save / load ------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``tabular_model.json`` + ``tabular_model.safetensors`` into ``folder``
        (created if needed; other files there are left alone). Returns the folder."""
        from safetensors.numpy import save as save_arrays
        from sklearn import __version__ as sklearn_version

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "sklearn_version": sklearn_version,
            "params": self.get_params(),
            "columns": self.columns_,
            "kinds": self.kinds_,
            "vocabularies": self.vocabularies_,
            "classes": self.classes_.tolist(),
            "n_iter": self.n_iter_,
            "forest": self._forest.meta(),
        }
        arrays = save_arrays(dict(self._forest.arrays), metadata={"format": FORMAT_NAME})
        atomic_write(folder / ARRAYS_NAME, arrays)
        atomic_write(folder / JSON_NAME, json.dumps(meta, indent=1).encode("utf-8"))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> TabularModel:
        """Load a model saved by ``save``; reads JSON and safetensors only, never pickle.
        Predicts with the numpy tree walk; ``fit`` again to retrain with the same settings."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        json_path, arrays_path = folder / JSON_NAME, folder / ARRAYS_NAME
        if not json_path.is_file() or not arrays_path.is_file():
            raise ValueError(f"{folder} is not a saved tabular model: expected {JSON_NAME} and {ARRAYS_NAME} in it")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{json_path} is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(f"{json_path} is not a {FORMAT_NAME} file")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{json_path} has format version {meta.get('format_version')}; this code reads version {FORMAT_VERSION}"
            )
        try:
            params = dict(meta["params"])
            model = cls(**params)
            columns = [str(c) for c in meta["columns"]]
            kinds = {str(c): str(k) for c, k in meta["kinds"].items()}
            vocabularies = {str(c): [str(v) for v in vs] for c, vs in meta["vocabularies"].items()}
            classes = list(meta["classes"])
            forest_meta = dict(meta["forest"])
            n_iter = int(meta.get("n_iter", 0))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{json_path} lacks or mangles a field: {exc!r}") from exc
        if set(kinds) != set(columns) or any(k not in (NUMERIC, CATEGORICAL) for k in kinds.values()):
            raise ValueError(f"{json_path}: kinds do not match the columns")
        if any(kinds[c] == CATEGORICAL and c not in vocabularies for c in columns):
            raise ValueError(f"{json_path}: a categorical column has no vocabulary")
        if any(len(v) > MAX_CATEGORIES for v in vocabularies.values()):
            raise ValueError(f"{json_path}: a vocabulary is longer than {MAX_CATEGORIES}")
        try:
            arrays = load_file(str(arrays_path))
        except Exception as exc:  # safetensors raises its own error types on corrupt files
            raise ValueError(f"{arrays_path} is not a valid safetensors file: {exc}") from exc
        forest = _Forest(arrays, forest_meta)
        if forest.n_features != len(columns) or forest.n_classes != len(classes):
            raise ValueError(f"{folder}: the arrays do not match the columns/classes in the JSON")
        model.columns_ = columns
        model.kinds_ = kinds
        model.vocabularies_ = vocabularies
        model.classes_ = np.asarray(classes)
        model.n_iter_ = n_iter
        model._forest = forest
        return model
