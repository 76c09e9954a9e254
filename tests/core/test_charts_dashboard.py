"""Tests for core.charts.dashboard: figure data (not pixels) and the HTML report."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.charts.dashboard import (
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    confidence_histogram,
    distinctive_words_chart,
    figure_to_html,
    label_colors,
    label_share_chart,
    net_sentiment_heatmap_chart,
    segment_mix_chart,
    summary_report_html,
)
from core.dashboard import (
    kpis,
    label_mix_by_segment,
    label_share_over_time,
    net_sentiment_heatmap,
)
from core.words import distinctive_words


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-04",
                                    "2024-01-04", "2024-01-04"]),
            "region": ["north", "north", "south", "south", None, "north"],
            "predicted_label": ["positive", "negative", "positive", "positive", "negative",
                                "neutral"],
            "confidence": [0.91, 0.55, 0.72, 1.0, 0.33, 0.049],
            "text": ["love it", "hate it", "love the fit", "love", "hate", "fine"],
        }
    )


def test_label_colors_sentiment_and_palette():
    colors = label_colors(["negative", "neutral", "positive"], ("positive", "negative"))
    assert colors["positive"] == POSITIVE_COLOR and colors["negative"] == NEGATIVE_COLOR
    plain = label_colors(["a", "b", "c"])
    assert len(set(plain.values())) == 3 and POSITIVE_COLOR not in plain.values()


def test_label_share_chart_data(frame):
    share = label_share_over_time(frame, "date", "predicted_label", "D")
    fig = label_share_chart(share, label_order=["positive", "neutral", "negative"])
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["positive", "neutral", "negative"]
    pos = fig.data[0]
    assert list(pd.to_datetime(pos.x)) == list(pd.date_range("2024-01-01", "2024-01-04"))
    assert pos.y[0] == pytest.approx(0.5)  # 1 of 2 on Jan 1
    assert pos.y[1] == pytest.approx(1.0)
    assert np.isnan(pos.y[2])  # Jan 3 has no rows: a gap, not a zero
    assert pos.customdata[3].tolist() == [1, 3]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_segment_mix_chart_stacked_in_segment_order(frame):
    mix = label_mix_by_segment(frame, "region", "predicted_label")
    fig = segment_mix_chart(mix)
    assert fig.layout.barmode == "stack"
    assert list(fig.data[0].y) == ["north", "south", "(missing)"]
    by_label = {t.name: list(t.x) for t in fig.data}
    assert by_label["positive"] == pytest.approx([1 / 3, 1.0, 0.0])
    assert by_label["negative"] == pytest.approx([1 / 3, 0.0, 1.0])
    totals = np.sum([t.x for t in fig.data], axis=0)
    assert totals == pytest.approx([1.0, 1.0, 1.0])


def test_net_sentiment_heatmap_chart(frame):
    net, counts = net_sentiment_heatmap(frame, "region", "date", "D", "positive", "negative",
                                        with_counts=True)
    fig = net_sentiment_heatmap_chart(net, counts)
    hm = fig.data[0]
    assert list(hm.y) == ["north", "south", "(missing)"]
    assert hm.zmin == -1 and hm.zmax == 1
    z = np.array(hm.z, dtype=float)
    assert z[0, 0] == pytest.approx(0.0)  # north Jan 1: one positive, one negative
    assert np.isnan(z[0, 1])  # north has no rows on Jan 2
    assert z[1, 3] == pytest.approx(1.0)
    assert np.array(hm.customdata)[0, 0] == 2


def test_distinctive_words_chart(frame):
    words = distinctive_words(frame["text"], frame["predicted_label"], min_count=1)
    fig = distinctive_words_chart(words)
    assert [t.name for t in fig.data] == list(words)
    pos = fig.data[list(words).index("positive")]
    assert list(pos.y) == list(words["positive"]["word"])
    assert "love" in pos.y
    empty = distinctive_words_chart({})
    assert len(empty.data) == 0


def test_confidence_histogram_bins_counts_and_edges(frame):
    fig = confidence_histogram(frame["confidence"], frame["predicted_label"], bins=10)
    assert fig.layout.barmode == "stack"
    totals = np.sum([t.y for t in fig.data], axis=0)
    assert totals.sum() == len(frame)
    assert totals[9] == 2  # 0.91 and 1.0 (the top edge belongs to the last bin)
    assert totals[0] == 1  # 0.049
    assert fig.data[0].x[0] == pytest.approx(0.05)
    assert fig.data[0].customdata[9].tolist() == pytest.approx([0.9, 1.0])
    plain = confidence_histogram(np.array([0.2, np.nan, 0.8]), bins=2)
    assert list(plain.data[0].y) == [1, 1]
    with pytest.raises(ValueError, match="bins"):
        confidence_histogram(frame["confidence"], bins=0)


def test_charts_reject_wrong_tables():
    with pytest.raises(ValueError, match="share"):
        label_share_chart(pd.DataFrame({"period": [], "label": []}))


def test_figure_to_html_is_standalone(frame):
    fig = confidence_histogram(frame["confidence"])
    page = figure_to_html(fig)
    assert page.lstrip().lower().startswith("<!doctype html>") and "</html>" in page
    assert not re.search(r"<script[^>]*\ssrc=", page)  # nothing fetched from a CDN
    assert len(page) > 1_000_000  # plotly.js inlined


def test_summary_report_html_includes_plotly_once_and_escapes(frame):
    hostile = frame.assign(predicted_label=frame["predicted_label"].replace(
        "neutral", "<script>alert(1)</script>"))
    k = kpis(hostile, "predicted_label", "confidence", ("positive", "negative"))
    share = label_share_over_time(hostile, "date", "predicted_label", "D")
    figs = {"Share over time": label_share_chart(share),
            "Confidence": confidence_histogram(hostile["confidence"])}
    page = summary_report_html(k, figs, title="Q1 <review>", notes=["Region: north"])
    assert page.count("Plotly.newPlot") == 2
    # plotly.js (~4.5 MB) inlined exactly once: a second copy would double the size.
    one_js = len(figure_to_html(go.Figure()))
    assert one_js * 0.9 < len(page) < 1.5 * one_js
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # KPI card, escaped
    assert "Q1 &lt;review&gt;" in page and "Region: north" in page
    assert "+16.7 pts" in page  # net sentiment (2 - 1) / 6
    assert "Rows" in page and ">6<" in page
