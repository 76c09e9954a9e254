"""Calibration: is a model's probability what happens? Calibrators, ECE and reliability tables.

Pure numpy/pandas on 1-d arrays, and the ground floor of core (it imports nothing else from core),
so the saved models (core.models), the response comparison (core.response), targeting
(core.targeting) and Ad Copy Lab (core.adlab) share one copy:

- ``y``: shape ``(n,)``, observed outcome, 0/1 (or bool). 1 = responded (the positive class).
- ``p`` / scores: shape ``(n,)``, probabilities of the positive class in ``[0, 1]``.

:class:`Calibrator` (isotonic or Platt on the logit) is plain data and is saved with a model as
``calibration.json`` (``{"positive_class", "calibrator"}``); :func:`calibrate_proba` applies it to a
binary model's ``predict_proba`` output. :func:`choose_calibrator` picks the calibrator for a
model from its validation scores. :func:`expected_calibration_error` and
:func:`reliability_table` use equal-width bins; :func:`equal_count_gaps` measures the same gap
over equal-count score bins, with the test set's own sampling noise (Ad Copy Lab's margin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .words import rows_words

__all__ = [
    "PLATT_BELOW",
    "Calibrator",
    "as_binary",
    "as_probabilities",
    "as_scores",
    "calibrate_proba",
    "choose_calibrator",
    "equal_count_gaps",
    "expected_calibration_error",
    "fit_calibrator",
    "reliability_table",
]

PLATT_BELOW = 50  # fewer validation positives (or negatives) than this: Platt scaling


# --------------------------------------------------------------------------------------------
# Input checks (user data reaches these functions, so they raise ValueError, never assert)
# --------------------------------------------------------------------------------------------


def as_binary(y_true: Any, name: str = "y_true") -> np.ndarray:
    """``y_true`` as an int8 array of 0/1, or ValueError saying what was found."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; found shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty; at least one customer is needed")
    if y.dtype == bool:
        return y.astype(np.int8)
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{name} must hold 0/1 responses; found values of type {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains missing or infinite values; expected only 0 and 1")
    bad = np.setdiff1d(np.unique(y), [0, 1])
    if bad.size:
        raise ValueError(f"{name} must hold only 0 and 1; found also {bad[:5].tolist()}")
    return y.astype(np.int8)


def as_scores(scores: Any, n: int | None = None, name: str = "scores") -> np.ndarray:
    """``scores`` as a finite float64 array (of length ``n`` if given)."""
    if isinstance(scores, pd.Series):
        scores = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; found shape {s.shape}")
    if s.dtype == bool or not (np.issubdtype(s.dtype, np.number) or s.dtype == object):
        raise ValueError(f"{name} must be numbers; found values of type {s.dtype}")
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers; found non-numeric values") from exc
    if n is not None and s.size != n:
        raise ValueError(f"{name} has {s.size} values but y_true has {n}; they must match")
    if s.size == 0:
        raise ValueError(f"{name} is empty; at least one customer is needed")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains {int((~np.isfinite(s)).sum())} missing or infinite values")
    return s


def as_probabilities(p: Any, n: int | None = None, name: str = "probabilities") -> np.ndarray:
    """Like ``as_scores`` but also requires every value to lie in ``[0, 1]``."""
    p = as_scores(p, n, name)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"{name} must lie between 0 and 1; found values from {p.min():g} to {p.max():g}")
    return p


# --------------------------------------------------------------------------------------------
# Calibrators
# --------------------------------------------------------------------------------------------

_LOGIT_EPS = 1e-12  # keeps logit finite for scores of exactly 0 or 1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Two-branch form avoids overflow in exp for large |z|.
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


@dataclass(frozen=True)
class Calibrator:
    """A fitted score -> probability map that is plain data (JSON via ``to_dict``).

    ``method="isotonic"``: a non-decreasing step-and-line function through the points
    (``x[i]``, ``y[i]``); scores between points are interpolated linearly and scores outside
    ``[x[0], x[-1]]`` are clipped to the end values (same as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")``).

    ``method="platt"``: ``p = sigmoid(a * logit(score) + b)``. Working on the logit of the
    score (not the raw score as in Platt's SVM paper) lets it represent "no change" (a=1, b=0)
    and fix over- or under-confidence exactly when that is a temperature (a) and bias (b).
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in ("isotonic", "platt"):
            raise ValueError(f"method must be 'isotonic' or 'platt'; found {self.method!r}")
        if self.method == "isotonic":
            x = np.asarray(self.x, dtype=np.float64)
            y = np.asarray(self.y, dtype=np.float64)
            if x.size == 0 or x.size != y.size:
                raise ValueError(
                    f"isotonic calibrator needs x and y of equal, non-zero length; found {x.size} and {y.size}"
                )
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                raise ValueError("isotonic calibrator x and y must be finite numbers")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValueError("isotonic calibrator x and y must be non-decreasing")
            if y.min() < 0 or y.max() > 1:
                raise ValueError("isotonic calibrator y values must lie between 0 and 1")
        elif not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"platt calibrator a and b must be finite; found {self.a}, {self.b}")

    def transform(self, scores: Any) -> np.ndarray:
        """Calibrated probabilities, shape ``(n,)``, for scores of shape ``(n,)`` in [0, 1]."""
        s = as_probabilities(scores, name="scores")
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        return _sigmoid(self.a * _logit(s) + self.b)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``Calibrator.from_dict(c.to_dict()) == c``."""
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        return {"method": "platt", "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild from ``to_dict`` output (for example read back from JSON)."""
        if not isinstance(data, dict) or "method" not in data:
            raise ValueError(f"calibrator data must be a dict with a 'method'; found {data!r:.80}")
        if data["method"] == "isotonic":
            return cls(
                method="isotonic",
                x=tuple(float(v) for v in data.get("x", ())),
                y=tuple(float(v) for v in data.get("y", ())),
            )
        if data["method"] == "platt":
            return cls(method="platt", a=float(data["a"]), b=float(data["b"]))
        return cls(method=str(data["method"]))  # __post_init__ raises with the method found


def _fit_platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of y on logit(s) by Newton's method, Platt's smoothed targets.

    Platt's targets (n_pos+1)/(n_pos+2) and 1/(n_neg+2) instead of 1/0 keep the fit finite
    when the validation scores separate the classes perfectly.
    """
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    z = _logit(s)
    a, b = 1.0, 0.0

    def loss(a_: float, b_: float) -> float:
        m = a_ * z + b_
        # log(1 + exp(m)) - t*m, written stably.
        return float(np.sum(np.logaddexp(0.0, m) - t * m))

    current = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * z + b)
        g = p - t
        w = p * (1.0 - p)
        grad = np.array([np.dot(g, z), g.sum()])
        hess = np.array([[np.dot(w, z * z), np.dot(w, z)], [np.dot(w, z), w.sum()]])
        hess += 1e-12 * np.eye(2)  # all-equal scores make the Hessian singular
        step = np.linalg.solve(hess, grad)
        lr = 1.0
        while lr > 1e-10:  # backtracking: Newton can overshoot far from the optimum
            cand = loss(a - lr * step[0], b - lr * step[1])
            if cand <= current:
                break
            lr *= 0.5
        else:
            break
        a, b = a - lr * step[0], b - lr * step[1]
        improvement = current - cand
        current = cand
        if improvement < 1e-12 * max(1.0, abs(current)):
            break
    return float(a), float(b)


def fit_calibrator(scores_val: Any, y_val: Any, method: str = "isotonic") -> Calibrator:
    """Fit a calibrator on held-out validation scores (never on the training rows).

    Args:
        scores_val: shape ``(n,)``, model probabilities in [0, 1] on validation rows.
        y_val: shape ``(n,)``, 0/1 responses of the same rows; both values must occur.
        method: ``"isotonic"`` (flexible, needs a few hundred rows) or ``"platt"``
            (two parameters, safer on small validation sets).
    """
    y = as_binary(y_val, "y_val")
    s = as_probabilities(scores_val, y.size, "scores_val")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError(
            f"calibration needs both responders and non-responders in y_val; found {n_pos} responders out of {y.size}"
        )
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(s, y.astype(np.float64))
        return Calibrator(
            method="isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    if method == "platt":
        a, b = _fit_platt(s, y)
        return Calibrator(method="platt", a=a, b=b)
    raise ValueError(f"method must be 'isotonic' or 'platt'; found {method!r}")


def calibrate_proba(proba: Any, classes: Any, calibration: dict[str, Any]) -> np.ndarray:
    """Apply a stored calibration to a binary model's class probabilities.

    Args:
        proba: shape ``(n, 2)``, probabilities in ``classes`` order.
        classes: the two class labels (a model's ``classes_``).
        calibration: ``{"positive_class": label, "calibrator": Calibrator.to_dict()}`` (the
            ``calibration.json`` that ``core.response`` saves with a model).

    Returns:
        shape ``(n, 2)``: the positive class's column calibrated, the other ``1 -`` that.
    """
    p = np.asarray(proba, dtype=np.float64)
    names = [str(c) for c in classes]
    if p.ndim != 2 or p.shape[1] != 2 or len(names) != 2:
        raise ValueError(f"calibration applies to two-class probabilities; found shape {p.shape} and classes {names}")
    positive = str(calibration.get("positive_class"))
    if positive not in names:
        raise ValueError(f"the calibration is for class {positive!r}, which is not one of {names}")
    if p.shape[0] == 0:
        return p
    j = names.index(positive)
    pos = Calibrator.from_dict(calibration.get("calibrator")).transform(np.clip(p[:, j], 0.0, 1.0))
    out = np.empty_like(p)
    out[:, j] = pos
    out[:, 1 - j] = 1.0 - pos
    return out


# --------------------------------------------------------------------------------------------
# How well calibrated: reliability table, ECE, equal-count gaps
# --------------------------------------------------------------------------------------------


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each probability; bin ``i`` is [i/n_bins, (i+1)/n_bins), last closed."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a whole number >= 1; found {n_bins!r}")
    return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)


def reliability_table(y: Any, p: Any, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against observed response rate in equal-width probability bins.

    Args:
        y: shape ``(n,)``, 0/1 responses.
        p: shape ``(n,)``, predicted probabilities of a response, in [0, 1].
        n_bins: number of equal-width bins over [0, 1].

    Returns:
        One row per non-empty bin, in order: ``bin`` (0-based), ``bin_lower``, ``bin_upper``,
        ``mean_predicted``, ``observed_rate``, ``count``.
    """
    yy = as_binary(y, "y")
    pp = as_probabilities(p, yy.size, "p")
    idx = _bin_index(pp, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy.astype(np.float64), minlength=n_bins)
    keep = count > 0
    bins = np.arange(n_bins)[keep]
    return pd.DataFrame(
        {
            "bin": bins,
            "bin_lower": bins / n_bins,
            "bin_upper": (bins + 1) / n_bins,
            "mean_predicted": sum_p[keep] / count[keep],
            "observed_rate": sum_y[keep] / count[keep],
            "count": count[keep],
        }
    )


def expected_calibration_error(y: Any, p: Any, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean of |mean predicted - observed rate| over equal-width bins.

    0 = perfectly calibrated on this sample; in probability units (0.05 = five points off on
    average). Uses the same bins as ``reliability_table``.
    """
    t = reliability_table(y, p, n_bins)
    weights = t["count"].to_numpy() / t["count"].sum()
    gaps = np.abs(t["mean_predicted"].to_numpy() - t["observed_rate"].to_numpy())
    return float(np.sum(weights * gaps))


def choose_calibrator(scores_val: np.ndarray, y_val: np.ndarray, *, seed: int = 0) -> tuple[Calibrator, dict[str, Any]]:
    """Fit the calibrator for one model on its validation scores (shape ``(n,)``, in [0, 1]).

    Platt when either class has fewer than ``PLATT_BELOW`` validation rows. Otherwise the option
    with the lowest ECE on the validation rows: isotonic and Platt by 5-fold cross-validation,
    "none" (the model's own probabilities, which need no fitting) directly; ties go to the
    simpler (none, then Platt). "none" is stored as the identity (Platt with a=1, b=0).
    Returns the calibrator fitted on all validation rows and ``{"method", "reason", "cv_ece"}``.
    """
    from sklearn.model_selection import StratifiedKFold

    s = np.clip(np.asarray(scores_val, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(y_val).astype(np.int64)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if min(n_pos, n_neg) < PLATT_BELOW:
        reason = f"Platt scaling: the validation split has only {rows_words(min(n_pos, n_neg))} of its smaller class (isotonic needs more)"
        return fit_calibrator(s, y, "platt"), {"method": "platt", "reason": reason, "cv_ece": {}}
    cv_ece = {"none": expected_calibration_error(y, s)}
    for method in ("platt", "isotonic"):
        pred = np.empty_like(s)
        for fit_idx, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(s, y):
            pred[held] = fit_calibrator(s[fit_idx], y[fit_idx], method).transform(s[held])
        cv_ece[method] = expected_calibration_error(y, pred)
    order = list(cv_ece)  # simplest first
    method = min(order, key=lambda m: (cv_ece[m], order.index(m)))
    numbers = ", ".join(f"{m} {v:.3f}" for m, v in cv_ece.items())
    if method == "none":
        reason = f"none: the model's own probabilities had the lowest ECE on the validation split ({numbers})"
        return Calibrator("platt", a=1.0, b=0.0), {"method": "none", "reason": reason, "cv_ece": cv_ece}
    reason = f"{method}: lowest cross-validated ECE on the validation split ({numbers})"
    return fit_calibrator(s, y, method), {"method": method, "reason": reason, "cv_ece": cv_ece}


def equal_count_gaps(
    y: Any, s: Any, *, binary: bool, rows_per_bin: int = 30, max_bins: int = 10
) -> tuple[int, float, float]:
    """How far scores are from outcomes over equal-count score bins: ``(n_bins, calibration_rms, sampling_rms)``.

    ``y``, ``s``: shape ``(n,)`` finite numbers, outcomes and scores (0/1 and probabilities when
    ``binary``; true and predicted values otherwise), at least one row. Rows are sorted by score
    and cut into ``n // rows_per_bin`` bins (1 to ``max_bins``). ``calibration_rms``: the root of
    the bin-size-weighted mean of (mean outcome - mean score)^2. ``sampling_rms``: the same mean
    of each bin mean's variance, binomial with a +1/+2 Laplace correction when ``binary`` (a bin
    of all 0s still has noise), sample variance / size otherwise: the finest difference the rows
    can vouch for. Both are in score units.
    """
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    n = len(y)
    n_bins = int(np.clip(n // rows_per_bin, 1, max_bins))
    order = np.argsort(s, kind="stable")
    gap2 = var = 0.0
    for chunk in np.array_split(order, n_bins):
        m = len(chunk)
        w = m / n
        gap2 += w * (y[chunk].mean() - s[chunk].mean()) ** 2
        if binary:
            p = (y[chunk].sum() + 1) / (m + 2)
            var += w * p * (1 - p) / m
        else:
            var += w * (y[chunk].var(ddof=1) / m if m > 1 else 0.0)
    return n_bins, math.sqrt(gap2), math.sqrt(var)
