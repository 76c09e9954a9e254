"""Targeting charts carry the right data (not pixels)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from core.calibration import reliability_table
from core.charts.targeting import gains_chart, lift_chart, profit_chart, reliability_chart
from core.targeting import best_cutoff, gains_curve, lift_by_decile, profit_curve

Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


def test_gains_chart_data():
    g = gains_curve(Y, S)
    fig = gains_chart(g)
    assert isinstance(fig, go.Figure)
    model, random = fig.data
    np.testing.assert_allclose(model.x, g["share_contacted"])
    np.testing.assert_allclose(model.y, g["share_responders"])
    assert list(random.x) == [0.0, 1.0] and list(random.y) == [0.0, 1.0]
    assert fig.layout.xaxis.tickformat == ".0%"


def test_lift_chart_data():
    t = lift_by_decile(Y, S, n_bins=5)
    fig = lift_chart(t)
    bars, cumulative = fig.data
    assert bars.type == "bar"
    assert list(bars.x) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(bars.y, [5 / 3, 5 / 3, 5 / 3, 0, 0])
    np.testing.assert_allclose(cumulative.y, t["cumulative_lift"])
    assert any(shape.y0 == 1.0 and shape.y1 == 1.0 for shape in fig.layout.shapes)


def test_reliability_chart_with_comparison():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9, 1.0])
    before = reliability_table(y, p, n_bins=2)
    after = reliability_table(y, np.full(5, 0.6), n_bins=2)
    fig = reliability_chart(before, compare=after)
    assert [tr.name for tr in fig.data] == ["Model", "Calibrated", "Perfect calibration"]
    np.testing.assert_allclose(fig.data[0].x, [0.15, 0.9])
    np.testing.assert_allclose(fig.data[0].y, [0.5, 2 / 3])
    assert fig.data[0].marker.size[1] > fig.data[0].marker.size[0]  # 3 customers vs 2
    np.testing.assert_allclose(fig.data[1].x, [0.6])
    assert len(reliability_chart(before).data) == 2


def test_profit_chart_marks_best_cutoff():
    p = [0.5, 0.25, 0.75]
    t = profit_curve(p, 1, 4)
    k = best_cutoff(p, 1, 4)
    fig = profit_chart(t, k, currency="€")
    line, best = fig.data
    assert list(line.x) == [0, 1, 2, 3]
    assert list(line.y) == [0.0, 2.0, 3.0, 3.0]
    assert list(best.x) == [2] and list(best.y) == [3.0]
    assert "€" in line.hovertemplate
    assert len(profit_chart(t).data) == 1


def test_charts_reject_wrong_tables():
    g = gains_curve(Y, S)
    with pytest.raises(ValueError, match="lift"):
        lift_chart(g)
    with pytest.raises(ValueError, match="share_responders"):
        gains_chart(g.drop(columns=["share_responders"]))
    with pytest.raises(ValueError, match="best_k"):
        profit_chart(profit_curve([0.5], 1, 4), best_k=5)
