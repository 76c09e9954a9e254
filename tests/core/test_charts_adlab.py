"""Ad Copy Lab charts carry the right data (not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.charts.adlab import (
    BETTER_COLOR,
    UNCLEAR_COLOR,
    WORSE_COLOR,
    attribution_bar_chart,
    targeting_heatmap,
    variants_bar_chart,
)


def scored_frame() -> pd.DataFrame:
    # As core.adlab.score_variants returns it (unsorted on purpose: the chart sorts).
    return pd.DataFrame(
        {
            "variant": ["V1", "Base", "V2", "V3"],
            "text": ["good", "base copy", "best", "bad"],
            "score": [0.42, 0.40, 0.60, 0.20],
            "delta": [0.02, 0.0, 0.20, -0.20],
            "verdict": ["no clear difference", "base", "better", "worse"],
        }
    )


def test_variants_bar_chart_data_and_colours():
    fig = variants_bar_chart(scored_frame(), margin=0.05)
    assert isinstance(fig, go.Figure)
    bars = fig.data[0]
    assert bars.type == "bar" and bars.orientation == "h"
    assert list(bars.y) == ["V2", "V1", "Base", "V3"]  # best first
    np.testing.assert_allclose(bars.x, [0.60, 0.42, 0.40, 0.20])
    assert list(bars.marker.color)[0] == BETTER_COLOR
    assert list(bars.marker.color)[1] == UNCLEAR_COLOR
    assert list(bars.marker.color)[3] == WORSE_COLOR
    band = fig.layout.shapes[0]  # base ± margin
    assert band.x0 == pytest.approx(0.35) and band.x1 == pytest.approx(0.45)
    assert fig.layout.xaxis.tickformat == ".0%"


def test_variants_bar_chart_regression_without_margin():
    fig = variants_bar_chart(scored_frame(), None, probability=False, score_label="predicted CTR")
    assert len(fig.layout.shapes) == 0
    assert fig.layout.xaxis.title.text == "predicted CTR"
    assert fig.layout.xaxis.tickformat is None
    with pytest.raises(ValueError, match="verdict"):
        variants_bar_chart(scored_frame().drop(columns="verdict"))


def test_attribution_bar_chart_top_words():
    expl = pd.DataFrame(
        {
            "word": ["a", "great", "bad", "a", "ad"],
            "start": [0, 2, 8, 12, 14],
            "end": [1, 7, 11, 13, 16],
            "attribution": [0.01, 0.30, -0.20, -0.02, 0.0],
        }
    )
    fig = attribution_bar_chart(expl, top=3)
    bars = fig.data[0]
    assert list(bars.y) == [
        "great",
        "bad",
        "a #2",
    ]  # by |attribution|; a repeated word gets its occurrence
    np.testing.assert_allclose(bars.x, [30.0, -20.0, -2.0])  # percentage points
    assert list(bars.marker.color) == [BETTER_COLOR, WORSE_COLOR, WORSE_COLOR]
    assert fig.layout.xaxis.ticksuffix == " pts" and "%}" not in bars.hovertemplate
    assert "pts" in bars.hovertemplate


def test_attribution_bar_chart_leaves_punctuation_out():
    expl = pd.DataFrame(
        {
            "word": ["great", "!!!", ",", "好", ":)", "—", "2x"],
            "start": [0, 5, 8, 9, 10, 12, 14],
            "end": [5, 8, 9, 10, 12, 13, 16],
            "attribution": [0.30, -0.50, 0.40, 0.10, 0.20, -0.3, 0.05],
        }
    )
    bars = attribution_bar_chart(expl, top=10).data[0]
    assert list(bars.y) == ["great", "好", "2x"]
    np.testing.assert_allclose(bars.x, [30.0, 10.0, 5.0])


def test_variants_bar_chart_change_vs_base_in_points():
    bars = variants_bar_chart(scored_frame(), margin=0.05).data[0]
    np.testing.assert_allclose(np.asarray(bars.customdata[:, 2], dtype=float), [20.0, 2.0, 0.0, -20.0])
    assert "customdata[2]:+.1f} pts" in bars.hovertemplate
    reg = variants_bar_chart(scored_frame(), None, probability=False).data[0]
    np.testing.assert_allclose(np.asarray(reg.customdata[:, 2], dtype=float), [0.20, 0.02, 0.0, -0.20])


def test_targeting_heatmap_marks_best_ad():
    matrix = pd.DataFrame(
        [[0.3, 0.4, 0.5], [0.4, 0.5, 0.4]],
        index=pd.Index(["young", "old"], name="segment"),
        columns=["plain", "great", "sale"],
    )
    best = pd.DataFrame({"segment": ["young", "old"], "best_ad": ["sale", "great"]})
    fig = targeting_heatmap(matrix, best)
    heat, marks = fig.data
    assert heat.type == "heatmap"
    np.testing.assert_allclose(np.array(heat.z, dtype=float), matrix.to_numpy())
    assert list(heat.x) == ["plain", "great", "sale"] and list(heat.y) == ["young", "old"]
    assert heat.text[0][2] == "50.0%"
    assert list(marks.x) == ["sale", "great"] and list(marks.y) == ["young", "old"]
    assert len(targeting_heatmap(matrix).data) == 1
    with pytest.raises(ValueError, match="non-empty"):
        targeting_heatmap(pd.DataFrame())
