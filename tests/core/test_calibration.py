"""Calibrators, ECE and reliability tables against hand-computed values and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.calibration import (
    Calibrator,
    calibrate_proba,
    choose_calibrator,
    expected_calibration_error,
    fit_calibrator,
    reliability_table,
)


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident scores: sigmoid(2 * logit(p_true)); y drawn from p_true."""
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < p_true).astype(int)
    logit = np.log(p_true / (1 - p_true))
    return y, 1 / (1 + np.exp(-2 * logit))


def test_ece_hand_computed():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.8, 0.9])
    # Bin [0, .5): mean .15 vs rate .5; bin [.5, 1]: mean .85 vs rate .5; each weight 1/2.
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.35)


def test_reliability_table_hand_computed_and_edges():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9, 1.0])  # 1.0 belongs to the last bin
    t = reliability_table(y, p, n_bins=2)
    assert t["bin"].tolist() == [0, 1]
    assert t["count"].tolist() == [2, 3]
    assert t["mean_predicted"].tolist() == pytest.approx([0.15, 0.9])
    assert t["observed_rate"].tolist() == pytest.approx([0.5, 2 / 3])
    assert t["bin_lower"].tolist() == [0.0, 0.5] and t["bin_upper"].tolist() == [0.5, 1.0]
    # Empty bins are left out.
    assert reliability_table(y, p, n_bins=10)["bin"].tolist() == [1, 2, 8, 9]


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_reduces_ece_on_fresh_data(method):
    y_val, s_val = _miscalibrated(4000, seed=1)
    y_test, s_test = _miscalibrated(4000, seed=2)
    before = expected_calibration_error(y_test, s_test)
    cal = fit_calibrator(s_val, y_val, method=method)
    after = expected_calibration_error(y_test, cal.transform(s_test))
    assert before > 0.07
    assert after < before / 2


def test_platt_recovers_the_temperature():
    y, s = _miscalibrated(20000, seed=3)
    cal = fit_calibrator(s, y, method="platt")
    # sigmoid(0.5 * logit(s)) undoes sigmoid(2 * logit(p)).
    assert cal.a == pytest.approx(0.5, abs=0.05)
    assert cal.b == pytest.approx(0.0, abs=0.05)


def test_isotonic_matches_sklearn_and_round_trips_through_json():
    from sklearn.isotonic import IsotonicRegression

    y, s = _miscalibrated(500, seed=4)
    cal = fit_calibrator(s, y, method="isotonic")
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(s, y)
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(cal.transform(grid), ref.predict(grid), atol=1e-12)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    np.testing.assert_array_equal(again.transform(grid), cal.transform(grid))
    out = cal.transform(grid)
    assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1


def test_platt_round_trips_and_identity():
    cal = Calibrator.from_dict(json.loads(json.dumps({"method": "platt", "a": 1.0, "b": 0.0})))
    p = np.array([0.01, 0.3, 0.5, 0.99])
    np.testing.assert_allclose(cal.transform(p), p, rtol=1e-12)
    assert Calibrator.from_dict(cal.to_dict()) == cal


def test_calibration_bad_input():
    with pytest.raises(ValueError, match="both responders"):
        fit_calibrator([0.2, 0.4], [1, 1])
    with pytest.raises(ValueError, match="method"):
        fit_calibrator([0.2, 0.4], [0, 1], method="beta")
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit_calibrator([0.2, 1.4], [0, 1])
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibrator.from_dict({"method": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]})
    with pytest.raises(ValueError, match="method"):
        Calibrator.from_dict({"method": "pickle"})


def test_choose_calibrator_platt_on_small_validation_else_cross_validated():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=100)
    y = (rng.uniform(size=100) < s**3).astype(int)
    cal, info = choose_calibrator(s, y)
    assert info["method"] == "platt" and "only" in info["reason"] and cal.method == "platt"
    s = rng.uniform(size=3000)
    y = (rng.uniform(size=3000) < s**3).astype(int)  # needs a bend Platt's two numbers can follow
    cal, info = choose_calibrator(s, y)
    assert set(info["cv_ece"]) == {"none", "isotonic", "platt"}
    assert info["method"] == min(info["cv_ece"], key=info["cv_ece"].get)
    assert expected_calibration_error(y, cal.transform(s)) < expected_calibration_error(y, s)
    y = (rng.uniform(size=3000) < s).astype(int)  # already calibrated: leave it alone
    cal, info = choose_calibrator(s, y)
    assert info["method"] == "none" and "own probabilities" in info["reason"]
    np.testing.assert_allclose(cal.transform(s), s, atol=1e-9)
    assert info["cv_ece"]["none"] == pytest.approx(expected_calibration_error(y, s))


def test_calibrate_proba_handles_either_column_order():
    cal = {"positive_class": "yes", "calibrator": Calibrator("platt", a=1.0, b=1.0).to_dict()}
    raw = np.array([[0.2, 0.8], [0.5, 0.5]])
    out = calibrate_proba(raw, ["no", "yes"], cal)
    flipped = calibrate_proba(raw[:, ::-1], ["yes", "no"], cal)
    np.testing.assert_allclose(out, flipped[:, ::-1])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert out[1, 1] == pytest.approx(1 / (1 + np.exp(-1.0)))  # logit(0.5) = 0, plus b = 1
    with pytest.raises(ValueError, match="not one of"):
        calibrate_proba(raw, ["neg", "pos"], cal)
