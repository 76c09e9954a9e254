"""Customer targeting: gains, lift and budgeted contact lists (calibration: core.calibration).

Everything here is a pure function on numpy arrays (or a small DataFrame in, DataFrame out):

- ``y_true``: shape ``(n,)``, the observed response, 0/1 (or bool). 1 = responded.
- ``scores``: shape ``(n,)``, finite reals; higher = more likely to respond. For ranking
  (gains, lift, selections) only the order matters; for money the scores must be
  probabilities in ``[0, 1]``.

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
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from .calibration import as_binary, as_probabilities, as_scores

__all__ = [
    "best_cutoff",
    "gains_curve",
    "gains_readout",
    "lift_by_decile",
    "precision_recall_at",
    "profit_curve",
    "select_by_count",
    "select_by_share",
    "target_list",
]


# --------------------------------------------------------------------------------------------
# Input checks (user data reaches these functions, so they raise ValueError, never assert)
# --------------------------------------------------------------------------------------------


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


def _with_responders(y_true: Any, scores: Any, needs: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(y, s, n_pos)``: 0/1 responses, finite scores of the same length and the number of
    responders; ``ValueError`` when there is none (``needs``: "gains need", what says so)."""
    y = as_binary(y_true)
    s = as_scores(scores, y.size)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError(f"y_true has no responders (all 0); {needs} at least one 1")
    return y, s, n_pos


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
    y, s, n_pos = _with_responders(y_true, scores, "gains need")
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
    y = as_binary(y_true)
    s = as_scores(scores, y.size)
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
    y, s, n_pos = _with_responders(y_true, scores, "gains need")
    k_pts, r_pts, _ = _tie_group_points(y, s)
    reached = float(_expected_responders(k_pts, r_pts, np.array([share * y.size]))[0]) / n_pos
    return (
        f"Contact the top {_format_pct(share)} to reach {reached * 100:.0f}% of responders "
        f"({reached / share:.1f}x random)"
    )


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
    s = as_scores(scores)
    n = _check_count(n)
    return _rank_desc(s)[:n]


def select_by_share(scores: Any, share: float) -> np.ndarray:
    """Row indices of the top ``share`` (0..1] of customers, best first.

    The count is ``floor(share * n)`` (never more than the share asked for); ties as in
    ``select_by_count``.
    """
    share = _check_share(share)
    s = as_scores(scores)
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
    p = as_probabilities(probabilities)
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
    p = as_probabilities(probabilities)
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
    p = as_probabilities(pd.to_numeric(df[prob_col], errors="coerce").to_numpy(), name=prob_col)
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
    y, s, n_pos = _with_responders(y_true, scores, "recall needs")
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
