"""Customer targeting: gains, lift, calibration and budgeted contact lists.

Everything here is a pure function on numpy arrays (or a small DataFrame in, DataFrame out):

- ``y_true``: shape ``(n,)``, the observed response, 0/1 (or bool). 1 = responded.
- ``scores``: shape ``(n,)``, finite reals; higher = more likely to respond. For ranking
  (gains, lift, selections) only the order matters; for calibration, ECE and money the
  scores must be probabilities in ``[0, 1]``.

Ties. A model often gives many customers the same score (trees do). When tied customers straddle
a cut-off there is no honest way to say which of them were "contacted first". The curves and
tables (``gains_curve``, ``lift_by_decile``, ``gains_readout``) therefore report the *expected*
result if ties were broken at random: the tied group's responders are shared pro rata across
the boundary. This makes them independent of the file's row order (a file sorted by response
would otherwise flatter a constant model) and makes a constant model show exactly lift 1.0.
Concrete lists (``select_by_count``, ``select_by_share``, ``target_list``,
``precision_recall_at``) must pick actual rows; they break ties by original row position
(stable sort), which is deterministic and documented.

Money. ``profit_curve`` / ``best_cutoff`` use expected values: contacting customer ``i`` costs
``cost_per_contact`` and brings ``p_i * value_per_conversion``. Contacting the ``k`` most
likely customers therefore yields ``sum(p_1..p_k) * value - k * cost``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Calibrator",
    "best_cutoff",
    "calibrate_proba",
    "expected_calibration_error",
    "fit_calibrator",
    "gains_curve",
    "gains_readout",
    "lift_by_decile",
    "precision_recall_at",
    "profit_curve",
    "reliability_table",
    "select_by_count",
    "select_by_share",
    "target_list",
]


# --------------------------------------------------------------------------------------------
# Input checks (user data reaches these functions, so they raise ValueError, never assert)
# --------------------------------------------------------------------------------------------


def _as_binary(y_true: Any, name: str = "y_true") -> np.ndarray:
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


def _as_scores(scores: Any, n: int | None = None, name: str = "scores") -> np.ndarray:
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


def _as_probabilities(p: Any, n: int | None = None, name: str = "probabilities") -> np.ndarray:
    """Like ``_as_scores`` but also requires every value to lie in ``[0, 1]``."""
    p = _as_scores(p, n, name)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"{name} must lie between 0 and 1; found values from {p.min():g} to {p.max():g}")
    return p


def _check_share(share: float, name: str = "share") -> float:
    share = float(share)
    if not (0.0 < share <= 1.0):
        raise ValueError(f"{name} must be in (0, 1]; found {share!r}")
    return share


def _check_money(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite amount >= 0; found {value!r}")
    return value


def _rank_desc(scores: np.ndarray) -> np.ndarray:
    """Row indices ordered by descending score; ties keep their original row order."""
    return np.argsort(-scores, kind="stable")


# --------------------------------------------------------------------------------------------
# Gains and lift
# --------------------------------------------------------------------------------------------


def _tie_group_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (contacts, responders) at the end of each group of tied scores.

    Returns ``(k, r, thr)`` each of shape ``(n_groups + 1,)`` starting with ``(0, 0, inf)``:
    ``k[j]`` customers with score >= ``thr[j]`` hold ``r[j]`` responders. Between two points
    the expected responders under random tie-breaking is the straight line joining them.
    """
    order = _rank_desc(s)
    s_sorted = s[order]
    cum = np.cumsum(y[order], dtype=np.int64)
    # Last index of every tie group: where the next score differs, plus the final row.
    ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    k = np.r_[0, ends + 1].astype(np.int64)
    r = np.r_[0, cum[ends]].astype(np.int64)
    thr = np.r_[np.inf, s_sorted[ends]]
    return k, r, thr


def _expected_responders(k_pts: np.ndarray, r_pts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Expected responders among the top ``k`` (k may be fractional) under random tie order."""
    return np.interp(np.asarray(k, dtype=np.float64), k_pts, r_pts)


def gains_curve(y_true: Any, scores: Any) -> pd.DataFrame:
    """Cumulative gains: share of responders reached against share of customers contacted.

    Args:
        y_true: shape ``(n,)``, 0/1 responses; at least one 1.
        scores: shape ``(n,)``, finite; higher = contact first.

    Returns:
        One row per distinct score plus a starting row at (0, 0), ordered by share contacted:
        ``n_contacted`` (customers with score >= ``threshold``), ``responders_reached``,
        ``share_contacted`` (0..1), ``share_responders`` (0..1), ``random`` (the baseline of
        contacting at random: equal to ``share_contacted``), ``threshold`` (score of the last
        group included; ``inf`` on the starting row). Tied scores form one step, so the straight
        line between two rows is the expected result of breaking the tie at random.
    """
    y = _as_binary(y_true)
    s = _as_scores(scores, y.size)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("y_true has no responders (all 0); gains need at least one 1")
    k, r, thr = _tie_group_points(y, s)
    return pd.DataFrame(
        {
            "n_contacted": k,
            "responders_reached": r,
            "share_contacted": k / y.size,
            "share_responders": r / n_pos,
            "random": k / y.size,
            "threshold": thr,
        }
    )


def lift_by_decile(y_true: Any, scores: Any, n_bins: int = 10) -> pd.DataFrame:
    """Response rate and lift per score bin (deciles by default), best customers first.

    Customers are ranked by descending score and cut into ``n_bins`` groups of equal size
    (sizes differ by at most one: bin ``b`` holds ranks ``floor((b-1)*n/n_bins)`` to
    ``floor(b*n/n_bins) - 1``). When tied scores straddle a boundary their responders are
    shared pro rata (expected value under random tie order), so ``responders`` can be
    fractional.

    Args:
        y_true: shape ``(n,)``, 0/1 responses; at least one 1.
        scores: shape ``(n,)``, finite.
        n_bins: number of groups, ``1 <= n_bins <= n``.

    Returns:
        ``n_bins`` rows: ``decile`` (1 = highest scores), ``n``, ``responders``,
        ``response_rate`` (responders / n), ``lift`` (response_rate / overall rate),
        ``cumulative_n``, ``cumulative_responders``, ``cumulative_response_rate``,
        ``cumulative_lift``, ``cumulative_gain`` (share of all responders reached),
        ``min_score``, ``max_score`` (score range of the ranks in the bin).
    """
    y = _as_binary(y_true)
    s = _as_scores(scores, y.size)
    n = y.size
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a whole number >= 1; found {n_bins!r}")
    if n_bins > n:
        raise ValueError(f"n_bins={n_bins} is more than the {n} customers; use n_bins <= {n}")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("y_true has no responders (all 0); lift needs at least one 1")
    bounds = (np.arange(n_bins + 1, dtype=np.int64) * n) // n_bins  # exact integer cut points
    k_pts, r_pts, _ = _tie_group_points(y, s)
    cum_resp = _expected_responders(k_pts, r_pts, bounds)
    cum_resp[-1] = n_pos  # exact at the end whatever interp does
    sizes = np.diff(bounds)
    resp = np.diff(cum_resp)
    base_rate = n_pos / n
    s_sorted = s[_rank_desc(s)]
    cum_n = bounds[1:]
    out = pd.DataFrame(
        {
            "decile": np.arange(1, n_bins + 1),
            "n": sizes,
            "responders": resp,
            "response_rate": resp / sizes,
            "lift": (resp / sizes) / base_rate,
            "cumulative_n": cum_n,
            "cumulative_responders": cum_resp[1:],
            "cumulative_response_rate": cum_resp[1:] / cum_n,
            "cumulative_lift": (cum_resp[1:] / cum_n) / base_rate,
            "cumulative_gain": cum_resp[1:] / n_pos,
            "min_score": s_sorted[bounds[1:] - 1],
            "max_score": s_sorted[bounds[:-1]],
        }
    )
    return out


def _format_pct(share: float) -> str:
    """0.2 -> '20%', 0.125 -> '12.5%' (no trailing zeros)."""
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def gains_readout(y_true: Any, scores: Any, share: float = 0.2) -> str:
    """One plain sentence for a marketer, e.g. "Contact the top 20% to reach 58% of responders
    (2.9x random)".

    ``share`` in (0, 1] is the share of customers contacted; the reached share is the gains
    curve at that point (expected value under random tie order), and "x random" is
    reached / share (contacting at random reaches ``share`` of responders).
    """
    share = _check_share(share)
    y = _as_binary(y_true)
    s = _as_scores(scores, y.size)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("y_true has no responders (all 0); gains need at least one 1")
    k_pts, r_pts, _ = _tie_group_points(y, s)
    reached = float(_expected_responders(k_pts, r_pts, np.array([share * y.size]))[0]) / n_pos
    return (
        f"Contact the top {_format_pct(share)} to reach {reached * 100:.0f}% of responders "
        f"({reached / share:.1f}x random)"
    )


# --------------------------------------------------------------------------------------------
# Calibration
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
        s = _as_probabilities(scores, name="scores")
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
    y = _as_binary(y_val, "y_val")
    s = _as_probabilities(scores_val, y.size, "scores_val")
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
    yy = _as_binary(y, "y")
    pp = _as_probabilities(p, yy.size, "p")
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


# --------------------------------------------------------------------------------------------
# Cut-offs, budgets and money
# --------------------------------------------------------------------------------------------


def _check_count(n: Any, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name} must be a whole number >= 0; found {n!r}")
    return int(n)


def _count_for_share(share: float, n: int) -> int:
    """floor(share * n) computed exactly on the decimal value the user typed.

    ``0.29 * 100`` is 28.999999999999996 in floating point; going through the shortest decimal
    repr (Fraction('0.29')) gives exactly 29. Floor, not round: never exceed the budget.
    """
    return math.floor(Fraction(repr(float(share))) * n)


def select_by_count(scores: Any, n: int) -> np.ndarray:
    """Row indices of the ``n`` highest scores, best first; shape ``(min(n, len(scores)),)``.

    Ties are broken by original row order (earlier row first). ``n`` larger than the list
    selects everyone.
    """
    s = _as_scores(scores)
    n = _check_count(n)
    return _rank_desc(s)[:n]


def select_by_share(scores: Any, share: float) -> np.ndarray:
    """Row indices of the top ``share`` (0..1] of customers, best first.

    The count is ``floor(share * n)`` (never more than the share asked for); ties as in
    ``select_by_count``.
    """
    share = _check_share(share)
    s = _as_scores(scores)
    return _rank_desc(s)[: _count_for_share(share, s.size)]


def profit_curve(probabilities: Any, cost_per_contact: float, value_per_conversion: float) -> pd.DataFrame:
    """Expected conversions and profit of contacting the ``k`` most likely customers.

    Args:
        probabilities: shape ``(n,)``, calibrated response probabilities in [0, 1].
        cost_per_contact: cost of one contact (any currency unit, >= 0).
        value_per_conversion: value of one response, same unit (>= 0).

    Returns:
        ``n + 1`` rows for ``k = 0..n``: ``k``, ``share_contacted`` (k/n),
        ``probability`` (of the k-th customer; NaN at k=0), ``expected_conversions``
        (sum of the k highest probabilities), ``expected_cost`` (k * cost),
        ``expected_revenue`` (conversions * value), ``expected_profit`` (revenue - cost).
    """
    p = _as_probabilities(probabilities)
    cost = _check_money(cost_per_contact, "cost_per_contact")
    value = _check_money(value_per_conversion, "value_per_conversion")
    p_sorted = p[_rank_desc(p)]
    k = np.arange(p.size + 1, dtype=np.int64)
    conv = np.r_[0.0, np.cumsum(p_sorted)]
    revenue = conv * value
    exp_cost = k * cost
    return pd.DataFrame(
        {
            "k": k,
            "share_contacted": k / p.size,
            "probability": np.r_[np.nan, p_sorted],
            "expected_conversions": conv,
            "expected_cost": exp_cost.astype(np.float64),
            "expected_revenue": revenue,
            "expected_profit": revenue - exp_cost,
        }
    )


def best_cutoff(
    probabilities: Any,
    cost_per_contact: float,
    value_per_conversion: float,
    max_contacts: int | None = None,
) -> int:
    """Number of top customers ``k`` to contact for the highest expected profit.

    A contact pays off exactly when ``p * value_per_conversion > cost_per_contact``; since
    customers are taken in order of decreasing ``p``, profit rises while that holds and falls
    after, so the best ``k`` is the count of such customers (capped at ``max_contacts``, the
    budget). Break-even customers (equal) are left out: same profit, fewer contacts. This is
    the argmax of ``profit_curve(...)["expected_profit"]`` without cumulative-sum rounding.
    """
    p = _as_probabilities(probabilities)
    cost = _check_money(cost_per_contact, "cost_per_contact")
    value = _check_money(value_per_conversion, "value_per_conversion")
    k = int(np.count_nonzero(p * value > cost))
    if max_contacts is not None:
        k = min(k, _check_count(max_contacts, "max_contacts"))
    return k


def target_list(
    df: pd.DataFrame,
    prob_col: str,
    *,
    cost_per_contact: float = 0.0,
    value_per_conversion: float = 1.0,
    n: int | None = None,
    share: float | None = None,
    profitable_only: bool = False,
) -> pd.DataFrame:
    """``df`` ranked by ``prob_col`` (best first) with the money columns, ready to export.

    Args:
        df: one row per customer; ``prob_col`` holds response probabilities in [0, 1].
        cost_per_contact, value_per_conversion: as in ``profit_curve``.
        n: keep only the top ``n`` rows (budget as a count).
        share: keep only the top ``share`` (0..1] of rows, ``floor(share * len(df))``.
        profitable_only: keep only rows whose expected value is > 0 (the ``best_cutoff``).

    Returns:
        A copy of the kept rows, original columns first, plus ``rank`` (1 = contact first),
        ``expected_value`` (p * value - cost for that customer) and
        ``cumulative_expected_profit``. The index is reset; the original index is not kept
        (use an id column). Ties keep their original row order.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; found {type(df).__name__}")
    if prob_col not in df.columns:
        raise ValueError(f"column {prob_col!r} not found; columns are {list(df.columns)[:20]}")
    if n is not None and share is not None:
        raise ValueError("give either n or share, not both")
    clash = {"rank", "expected_value", "cumulative_expected_profit"} & set(df.columns)
    if clash:
        raise ValueError(f"df already has column(s) {sorted(clash)}; rename them first")
    p = _as_probabilities(pd.to_numeric(df[prob_col], errors="coerce").to_numpy(), name=prob_col)
    cost = _check_money(cost_per_contact, "cost_per_contact")
    value = _check_money(value_per_conversion, "value_per_conversion")
    order = _rank_desc(p)
    keep = p.size
    if n is not None:
        keep = min(keep, _check_count(n))
    if share is not None:
        keep = min(keep, _count_for_share(_check_share(share), p.size))
    if profitable_only:
        keep = min(keep, best_cutoff(p, cost, value))
    order = order[:keep]
    out = df.iloc[order].reset_index(drop=True)
    ev = p[order] * value - cost
    out["rank"] = np.arange(1, keep + 1)
    out["expected_value"] = ev
    out["cumulative_expected_profit"] = np.cumsum(ev)
    return out


def precision_recall_at(
    y_true: Any,
    scores: Any,
    *,
    k: int | None = None,
    share: float | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """Precision and recall of one concrete contact list.

    Give exactly one of: ``k`` (top k rows), ``share`` (top floor(share*n) rows) or
    ``threshold`` (every row with score >= threshold). Ties at the cut-off follow row order
    (as ``select_by_count``), because a real list contains actual rows.

    Returns:
        ``{"k", "responders", "precision", "recall", "lift"}``: rows selected, responders among
        them, responders / k (NaN if k = 0), responders / all responders, precision / base rate.
    """
    given = [v is not None for v in (k, share, threshold)]
    if sum(given) != 1:
        raise ValueError("give exactly one of k, share or threshold")
    y = _as_binary(y_true)
    s = _as_scores(scores, y.size)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("y_true has no responders (all 0); recall needs at least one 1")
    if k is not None:
        chosen = select_by_count(s, k)
    elif share is not None:
        chosen = select_by_share(s, share)
    else:
        chosen = np.flatnonzero(s >= float(threshold))
    n_sel = int(chosen.size)
    hits = int(y[chosen].sum())
    precision = hits / n_sel if n_sel else float("nan")
    return {
        "k": n_sel,
        "responders": hits,
        "precision": precision,
        "recall": hits / n_pos,
        "lift": precision / (n_pos / y.size) if n_sel else float("nan"),
    }
