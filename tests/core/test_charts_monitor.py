"""The drift chart's time axis: history stamps with a UTC offset drawn as times, not categories."""

from datetime import datetime

from core.charts.monitor import drift_chart


def test_history_stamps_with_an_offset_become_utc_times_on_a_date_axis():
    line = {"share_unlike_training": 0.1, "psi": 0.02, "mean_confidence": 0.8, "version": "v1"}
    report = {"reference": {"mean_confidence": 0.85}, "version": "v2", "earlier": [],
              "history": [{**line, "at": "2026-12-07T03:24:20+0000"},
                          {**line, "at": "2026-12-07T05:30:00+0100", "model_changed": True}]}
    fig = drift_chart(report)
    # plotly.js reads no offset in a date string: the x values must be the UTC times themselves
    assert list(fig.data[0].x) == [datetime(2026, 12, 7, 3, 24, 20), datetime(2026, 12, 7, 4, 30)]
    assert [shape.x0 for shape in fig.layout.shapes if shape.line.dash == "dot" and shape.line.color == "gray"
            and shape.x0 == shape.x1][:1] == [datetime(2026, 12, 7, 4, 30)]
