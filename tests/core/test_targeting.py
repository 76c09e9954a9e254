"""Gains, lift and budget arithmetic against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.targeting import (
    best_cutoff,
    gains_curve,
    gains_readout,
    lift_by_decile,
    precision_recall_at,
    profit_curve,
    select_by_count,
    select_by_share,
    target_list,
)

# Ten customers, scores strictly decreasing, responders at ranks 1, 3 and 6 (base rate 0.3).
Y10 = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
S10 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


# ---------------------------------------------------------------------------------------------
# gains and lift
# ---------------------------------------------------------------------------------------------


def test_gains_curve_hand_computed():
    g = gains_curve(Y10, S10)
    assert g["n_contacted"].tolist() == list(range(11))
    assert g["responders_reached"].tolist() == [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    assert g["share_responders"].iloc[3] == pytest.approx(2 / 3)
    assert g["share_contacted"].tolist() == pytest.approx([k / 10 for k in range(11)])
    assert g["random"].equals(g["share_contacted"])
    assert g["threshold"].iloc[0] == np.inf and g["threshold"].iloc[1] == 0.9


def test_gains_curve_is_independent_of_row_order():
    rng = np.random.default_rng(0)
    perm = rng.permutation(10)
    a = gains_curve(Y10, S10)
    b = gains_curve(Y10[perm], S10[perm])
    pd.testing.assert_frame_equal(a, b)


def test_gains_curve_ties_form_one_step():
    y = np.array([1, 0, 0, 1])
    s = np.array([0.5, 0.5, 0.2, 0.2])
    g = gains_curve(y, s)
    assert g["n_contacted"].tolist() == [0, 2, 4]
    assert g["responders_reached"].tolist() == [0, 1, 2]


def test_lift_by_decile_hand_computed():
    t = lift_by_decile(Y10, S10, n_bins=5)
    assert t["decile"].tolist() == [1, 2, 3, 4, 5]
    assert t["n"].tolist() == [2, 2, 2, 2, 2]
    assert t["responders"].tolist() == [1, 1, 1, 0, 0]
    assert t["response_rate"].tolist() == [0.5, 0.5, 0.5, 0.0, 0.0]
    assert t["lift"].tolist() == pytest.approx([5 / 3, 5 / 3, 5 / 3, 0, 0])
    assert t["cumulative_responders"].tolist() == [1, 2, 3, 3, 3]
    assert t["cumulative_lift"].tolist() == pytest.approx([5 / 3, 5 / 3, 5 / 3, 1.25, 1.0])
    assert t["cumulative_gain"].tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert t["max_score"].tolist() == [0.9, 0.7, 0.5, 0.3, 0.1]
    assert t["min_score"].tolist() == [0.8, 0.6, 0.4, 0.2, 0.05]


def test_lift_bins_of_unequal_size_use_floor_cut_points():
    t = lift_by_decile(Y10, S10, n_bins=3)
    assert t["n"].tolist() == [3, 3, 4]  # ranks 0-2, 3-5, 6-9
    assert t["responders"].tolist() == [2, 1, 0]


def test_lift_shares_tied_responders_pro_rata():
    # Ranks: 0.9 (responder), then three tied at 0.5 holding one responder, then two at 0.1.
    y = np.array([1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.1])
    t = lift_by_decile(y, s, n_bins=3)
    # Top bin: the 0.9 customer + one of three tied customers (1/3 of a responder expected).
    assert t["responders"].tolist() == pytest.approx([4 / 3, 2 / 3, 0.0])
    assert t["cumulative_responders"].iloc[-1] == 2


def test_constant_scores_give_lift_one_whatever_the_row_order():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # sorted by response: a trap for stable sorting
    t = lift_by_decile(y, np.full(10, 0.3), n_bins=5)
    assert t["lift"].tolist() == pytest.approx([1.0] * 5)


def test_gains_readout_text():
    assert gains_readout(Y10, S10, share=0.2) == ("Contact the top 20% to reach 33% of responders (1.7x random)")
    assert gains_readout(Y10, S10, share=0.3) == ("Contact the top 30% to reach 67% of responders (2.2x random)")
    # Fractional shares interpolate the curve: 12.5% of 10 = 1.25 contacts -> 1 responder.
    assert gains_readout(Y10, S10, share=0.125).startswith("Contact the top 12.5% to reach 33%")


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], "no responders"),
        ([1, 2, 0], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([1, 0, 0], [0.1, 0.2], "must match"),
        ([1, 0, 0], [0.1, np.nan, 0.3], "missing or infinite"),
        (["yes", "no"], [0.1, 0.2], "0/1"),
    ],
)
def test_gains_bad_input_raises_value_error(y, s, message):
    with pytest.raises(ValueError, match=message):
        gains_curve(y, s)


def test_lift_rejects_more_bins_than_rows():
    with pytest.raises(ValueError, match="n_bins"):
        lift_by_decile([1, 0], [0.2, 0.1], n_bins=10)


# ---------------------------------------------------------------------------------------------
# cut-offs, budgets and money
# ---------------------------------------------------------------------------------------------


def test_select_by_count_breaks_ties_by_row_order():
    s = np.array([0.2, 0.9, 0.5, 0.9])
    assert select_by_count(s, 2).tolist() == [1, 3]
    assert select_by_count(s, 3).tolist() == [1, 3, 2]
    assert select_by_count(s, 10).tolist() == [1, 3, 2, 0]
    assert select_by_count(s, 0).tolist() == []
    with pytest.raises(ValueError, match="whole number"):
        select_by_count(s, -1)


def test_select_by_share_uses_exact_floor():
    s = np.linspace(1, 0, 100)
    assert len(select_by_share(s, 0.29)) == 29  # 0.29 * 100 is 28.999... in floating point
    assert len(select_by_share(s, 0.57)) == 57
    assert len(select_by_share(np.arange(7.0), 0.2)) == 1  # floor(1.4)
    assert select_by_share(np.arange(7.0), 0.3).tolist() == [6, 5]  # floor(2.1) = 2, best first
    with pytest.raises(ValueError, match="share"):
        select_by_share(s, 0)


def test_profit_curve_hand_computed():
    t = profit_curve([0.5, 0.25, 0.75], cost_per_contact=1, value_per_conversion=4)
    assert t["k"].tolist() == [0, 1, 2, 3]
    assert t["expected_conversions"].tolist() == [0.0, 0.75, 1.25, 1.5]
    assert t["expected_revenue"].tolist() == [0.0, 3.0, 5.0, 6.0]
    assert t["expected_cost"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert t["expected_profit"].tolist() == [0.0, 2.0, 3.0, 3.0]
    assert t["probability"].tolist()[1:] == [0.75, 0.5, 0.25]


def test_best_cutoff_hand_computed():
    p = [0.5, 0.25, 0.75]
    # Marginal profit 4p - 1: +2, +1, 0 -> the break-even third customer is not worth it.
    assert best_cutoff(p, 1, 4) == 2
    assert best_cutoff(p, 1, 4, max_contacts=1) == 1
    assert best_cutoff(p, 0.5, 4) == 3
    assert best_cutoff(p, 10, 4) == 0


def test_best_cutoff_is_the_profit_curve_argmax():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 8, 2000)
    t = profit_curve(p, cost_per_contact=2.0, value_per_conversion=30.0)
    k = best_cutoff(p, 2.0, 30.0)
    assert k == int(t["expected_profit"].to_numpy().argmax())
    assert 0 < k < len(p)


def test_money_inputs_are_checked():
    with pytest.raises(ValueError, match="cost_per_contact"):
        profit_curve([0.5], -1, 2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        best_cutoff([1.5], 1, 2)


def test_target_list_ranks_and_values():
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "p": [0.5, 0.25, 0.75, 0.5]})
    out = target_list(df, "p", cost_per_contact=1, value_per_conversion=4)
    assert out["id"].tolist() == ["c", "a", "d", "b"]  # tie a/d keeps row order
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["expected_value"].tolist() == [2.0, 1.0, 1.0, 0.0]
    assert out["cumulative_expected_profit"].tolist() == [2.0, 3.0, 4.0, 4.0]
    assert target_list(df, "p", n=2)["id"].tolist() == ["c", "a"]
    assert target_list(df, "p", share=0.5)["id"].tolist() == ["c", "a"]
    prof = target_list(df, "p", cost_per_contact=1, value_per_conversion=4, profitable_only=True)
    assert prof["id"].tolist() == ["c", "a", "d"]
    assert list(df.columns) == ["id", "p"]  # input untouched


def test_target_list_errors():
    df = pd.DataFrame({"p": [0.5, np.nan]})
    with pytest.raises(ValueError, match="not found"):
        target_list(df, "prob")
    with pytest.raises(ValueError, match="missing or infinite"):
        target_list(df, "p")
    with pytest.raises(ValueError, match="either n or share"):
        target_list(pd.DataFrame({"p": [0.5]}), "p", n=1, share=0.5)


def test_precision_recall_at_cutoffs():
    r = precision_recall_at(Y10, S10, k=3)
    assert r["k"] == 3 and r["responders"] == 2
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["lift"] == pytest.approx((2 / 3) / 0.3)
    assert precision_recall_at(Y10, S10, threshold=0.65) == r
    half = precision_recall_at(Y10, S10, share=0.5)
    assert (half["k"], half["responders"]) == (5, 2)
    none = precision_recall_at(Y10, S10, k=0)
    assert none["recall"] == 0 and np.isnan(none["precision"])
    with pytest.raises(ValueError, match="exactly one"):
        precision_recall_at(Y10, S10, k=3, share=0.3)
