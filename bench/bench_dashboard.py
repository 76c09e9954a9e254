"""Benchmark: dashboard recomputation on a 1,000,000-row prediction table.

Builds a prediction table by repeating real review texts from
/work/shared/data/womens_clothing_ecommerce_reviews.csv (CC0) with synthetic predictions
(label drawn from the star rating with 15% noise, random confidence and p_* columns), random
day-first date strings over two years and random segments (channel, department, region).
The labels are synthetic: this measures speed, nothing about model quality.

Timed:
- one-off work the page caches: prepare_frame (date parsing + categoricals), distinctive words;
- one filter change + every KPI and aggregate the dashboard shows (the per-interaction cost),
  on the prepared frame and, for comparison, on the raw frame;
- building the plotly figures from those aggregates;
- the Dashboard page's own code path (core.dashboard_view: prepare once, then compute_view +
  build_figures + the figures' JSON for the browser on each filter change; distinctive words
  separately, as the page caches them per filter state);
- with ``--apptest``: the whole page in Streamlit's AppTest, reading a CSV of the same table
  from disk as the Predict page's result, then one rerun per filter change (widgets, caches,
  every chart serialised; no browser).

Usage: .venv/bin/python bench/bench_dashboard.py [--rows 1000000] [--repeats 5] [--apptest]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.charts.dashboard import (  # noqa: E402
    confidence_histogram,
    distinctive_words_chart,
    label_share_chart,
    net_sentiment_heatmap_chart,
    segment_mix_chart,
)
from core.dashboard import (  # noqa: E402
    choose_period,
    filter_mask,
    is_sentiment_like,
    kpis,
    label_mix_by_segment,
    label_share_over_time,
    negative_share_alerts,
    net_sentiment_heatmap,
    prepare_frame,
    top_examples,
)
from core.words import distinctive_words  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/womens_clothing_ecommerce_reviews.csv")
SEGMENTS = ["channel", "department", "region"]
CLASSES = ["negative", "neutral", "positive"]


def build_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """A prediction table of ``rows`` rows, as batch prediction would write it."""
    rng = np.random.default_rng(seed)
    src = pd.read_csv(DATA, usecols=["text", "rating", "department"]).dropna(subset=["text"])
    pick = rng.integers(0, len(src), rows)
    rating = src["rating"].to_numpy()[pick]
    label_idx = np.where(rating >= 4, 2, np.where(rating <= 2, 0, 1))
    noise = rng.random(rows) < 0.15
    label_idx = np.where(noise, rng.integers(0, 3, rows), label_idx)
    conf = rng.uniform(0.34, 1.0, rows)
    # The other two classes share the remaining probability at random.
    split = rng.random(rows)
    rest = 1.0 - conf
    proba = np.empty((rows, 3))
    proba[np.arange(rows), label_idx] = conf
    others = np.array([[1, 2], [0, 2], [0, 1]])[label_idx]
    proba[np.arange(rows), others[:, 0]] = rest * split
    proba[np.arange(rows), others[:, 1]] = rest * (1 - split)
    days = rng.integers(0, 730, rows)
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.arange(730), unit="D")
    date_str = np.asarray(dates.strftime("%d/%m/%Y"), dtype=object)[days]
    channel = np.array(["web", "app", "store", "email", "social"], dtype=object)[rng.integers(0, 5, rows)]
    channel[rng.random(rows) < 0.02] = None  # some rows without a channel
    region = np.array([f"region {i:02d}" for i in range(12)], dtype=object)[rng.integers(0, 12, rows)]
    df = pd.DataFrame(
        {
            "text": src["text"].to_numpy()[pick],
            "date": date_str,
            "channel": channel,
            "department": src["department"].to_numpy()[pick],
            "region": region,
            "predicted_label": np.array(CLASSES, dtype=object)[label_idx],
            "confidence": conf,
        }
    )
    for j, c in enumerate(CLASSES):
        df[f"p_{c}"] = proba[:, j]
    # As read_csv would give it (pandas 3: pyarrow-backed strings).
    for col in ["text", "date", "channel", "department", "region", "predicted_label"]:
        df[col] = df[col].astype("str" if col != "channel" else "string")
    return df


NARROW = {
    "date_range": ("2024-01-01", "2024-12-31"),
    "segment_filters": {"channel": ["web", "app", "(missing)"]},
    "min_confidence": 0.5,
}
BROAD = {"min_confidence": 0.4}  # keeps ~90% of the rows: the worst case for aggregation


LIGHT = ["date", *SEGMENTS, "predicted_label", "confidence"]  # everything but the texts


def recompute(df: pd.DataFrame, sentiment: tuple, period: str, filters: dict) -> dict:
    """One filter change and everything the dashboard recomputes after it, the way a page
    should do it: aggregates on a view without the text column, examples via the mask."""
    mask = filter_mask(df, date_col="date", **filters)
    view = df[LIGHT] if mask is None else df.loc[mask, LIGHT]
    out = {
        "view_rows": len(view),
        "kpis": kpis(view, "predicted_label", "confidence", sentiment),
        "share": label_share_over_time(view, "date", "predicted_label", period),
        "mix": {s: label_mix_by_segment(view, s, "predicted_label") for s in SEGMENTS},
        "heat": net_sentiment_heatmap(view, "region", "date", period, *sentiment, with_counts=True),
        "alerts": negative_share_alerts(view, "region", "date", period, sentiment[1]),
        "examples": top_examples(df, "predicted_label", "confidence", "text", n=5, mask=mask),
    }
    return out


def naive(df: pd.DataFrame, sentiment: tuple, period: str, filters: dict) -> dict:
    """The simple way: one filtered copy of the whole table (texts included)."""
    mask = filter_mask(df, date_col="date", **filters)
    view = df if mask is None else df[mask]
    return {
        "kpis": kpis(view, "predicted_label", "confidence", sentiment),
        "share": label_share_over_time(view, "date", "predicted_label", period),
        "mix": {s: label_mix_by_segment(view, s, "predicted_label") for s in SEGMENTS},
        "heat": net_sentiment_heatmap(view, "region", "date", period, *sentiment, with_counts=True),
        "alerts": negative_share_alerts(view, "region", "date", period, sentiment[1]),
        "examples": top_examples(view, "predicted_label", "confidence", "text", n=5),
    }


class Times(list):
    """Wall-clock seconds per repeat, with the process CPU seconds alongside.

    The CPU time of this single-threaded work is close to what the wall clock would show on an
    idle machine; on a shared, busy one the wall clock can be several times longer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cpu: list[float] = []


def timed(fn, repeats: int) -> tuple[Times, object]:
    times, result = Times(), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        times.cpu.append(time.process_time() - c0)
    return times, result


def fmt(times: list[float]) -> str:
    out = f"median {statistics.median(times):.3f} s, min {min(times):.3f} s (n={len(times)})"
    if getattr(times, "cpu", None):
        out += f" [CPU median {statistics.median(times.cpu):.3f} s]"
    return out


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> str:
    """'1.23 s (CPU 0.98 s)' since ``start = clock()``."""
    return f"{time.perf_counter() - start[0]:.2f} s (CPU {time.process_time() - start[1]:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--apptest", action="store_true", help="also time the whole page in Streamlit's AppTest")
    args = parser.parse_args()

    t0 = time.perf_counter()
    raw = build_frame(args.rows)
    print(
        f"built {len(raw):,} rows in {time.perf_counter() - t0:.2f} s "
        f"({raw.memory_usage(deep=True).sum() / 1e6:.0f} MB)"
    )

    t0 = time.perf_counter()
    df, report = prepare_frame(raw, label_col="predicted_label", date_col="date", segment_cols=SEGMENTS)
    print(f"prepare_frame (parse dates + categoricals, once): {time.perf_counter() - t0:.3f} s -- {report.summary}")

    sentiment = is_sentiment_like(df["predicted_label"].cat.categories)
    period = choose_period(df["date"])
    print(f"sentiment labels: {sentiment}; period: {period}")

    raw_parsed = raw.assign(date=df["date"])  # dates parsed, strings left as strings
    for name, filters in [("narrow", NARROW), ("broad", BROAD)]:
        times, res = timed(lambda f=filters: recompute(df, sentiment, period, f), args.repeats)
        print(
            f"[{name} filter] filter change + all KPIs/aggregates, prepared frame: "
            f"{fmt(times)}; view {res['view_rows']:,} rows, net sentiment "
            f"{res['kpis']['net_sentiment']:+.3f}, alerts flagged "
            f"{int(res['alerts']['flagged'].sum())}"
        )
        times_raw, _ = timed(lambda f=filters: recompute(raw_parsed, sentiment, period, f), max(1, args.repeats // 2))
        print(f"[{name} filter] same on the raw frame (str columns): {fmt(times_raw)}")
        times_naive, _ = timed(lambda f=filters: naive(df, sentiment, period, f), max(1, args.repeats // 2))
        print(f"[{name} filter] same with one filtered copy of every column: {fmt(times_naive)}")

    def figures():
        return [
            label_share_chart(res["share"]),
            segment_mix_chart(res["mix"]["channel"]),
            net_sentiment_heatmap_chart(*res["heat"]),
            confidence_histogram(df["confidence"], df["predicted_label"]),
        ]

    times_fig, _ = timed(figures, args.repeats)
    print(f"building 4 figures (histogram over all rows): {fmt(times_fig)}")

    t0 = time.perf_counter()
    words = distinctive_words(df["text"], df["predicted_label"], top_n=15)
    t_words = time.perf_counter() - t0
    print(f"distinctive_words (samples 50k texts; cache it): {t_words:.2f} s")
    for label, frame in words.items():
        print(f"  {label}: {', '.join(frame['word'].head(8))}")
    distinctive_words_chart(words)

    page_path(raw, args.repeats)
    if args.apptest:
        apptest(raw)


def page_path(raw: pd.DataFrame, repeats: int) -> None:
    """What pages/dashboard.py computes, through the same core.dashboard_view functions (no Streamlit)."""
    import plotly.io as pio

    from core import dashboard_view as dash

    columns = dash.ColumnMap(
        label="predicted_label", confidence="confidence", date="date", segments=tuple(SEGMENTS), text="text"
    )
    t0 = clock()
    prepared = dash.prepare_dashboard(raw, columns)
    print(f"[page] prepare (once per file and mapping, cached): {since(t0)}")
    page_filters = {
        "none": dash.Filters(),
        "narrow": dash.Filters(
            date_range=(pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-12-31").date()),
            segments=(("channel", ("web", "app", "(missing)")),),
            min_confidence=0.5,
        ),
        "broad": dash.Filters(min_confidence=0.4),
        "label": dash.Filters(labels=("negative",), segments=(("region", ("region 03",)),)),
    }
    for name, filters in page_filters.items():

        def change(f=filters):
            view = dash.compute_view(prepared, columns, filters=f, period=None, breakdown="region", watch_label="negative")
            figs = dash.build_figures(view, prepared, columns, "region")
            # st.plotly_chart sends each figure as JSON; time that too.
            size = sum(len(pio.to_json(fig, validate=False)) for fig in figs.values())
            return view, size

        times, (view, size) = timed(change, repeats)
        print(
            f"[page, {name} filter] filter change -> KPIs, alerts, examples, 4 figures as "
            f"JSON: {fmt(times)}; view {view.n_rows:,} rows, {size / 1e3:.0f} kB of JSON"
        )
        t0 = clock()
        words = dash.words_for(prepared, columns, view.mask)
        print(
            f"[page, {name} filter] distinctive words (first time for this filter state, "
            f"then cached; {dash.WORDS_MAX_TEXTS:,} texts sampled): "
            f"{since(t0)}; negative: "
            f"{', '.join(words.get('negative', pd.DataFrame(columns=['word']))['word'][:6])}"
        )


def apptest(raw: pd.DataFrame) -> None:
    """The whole page in AppTest on a CSV of ``raw``: first load, then filter changes."""
    import os
    import tempfile

    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.csv"
        t0 = time.perf_counter()
        raw.to_csv(path, index=False)
        print(f"[apptest] wrote {path.stat().st_size / 1e6:.0f} MB CSV in {time.perf_counter() - t0:.1f} s")
        os.chdir(ROOT)
        at = AppTest.from_file(str(ROOT / "pages" / "dashboard.py"), default_timeout=900)
        at.session_state["last_prediction_path"] = str(path)
        t0 = clock()
        at.run()
        print(f"[apptest] first load (read CSV, detect, prepare, words, everything): {since(t0)}")
        if at.exception:
            raise RuntimeError(at.exception[0].message)
        at.multiselect(key="dash_map_segments").set_value(SEGMENTS).run()
        # New filter states compute distinctive words once (then cached); a return to a state
        # seen before, or a change that leaves the rows alone, shows the cost without them.
        steps = [
            ("filter change: minimum confidence 0.6", "slider", "dash_f_minconf", 0.6),
            ("filter change: channel = web, app", "multiselect", "dash_f_seg_channel", ["web", "app"]),
            ("filter change: region = region 03", "multiselect", "dash_f_seg_region", ["region 03"]),
            ("filter change: label = negative", "multiselect", "dash_f_labels", ["negative"]),
            ("filter change: minimum confidence 0.8", "slider", "dash_f_minconf", 0.8),
            ("back to minimum confidence 0.6 (words cached)", "slider", "dash_f_minconf", 0.6),
            ("time grain monthly -> weekly (same rows)", "selectbox", "dash_period", "W"),
            ("break down by channel (same rows)", "selectbox", "dash_breakdown", "channel"),
        ]
        for what, kind, key, value in steps:
            getattr(at, kind)(key=key).set_value(value)
            t0 = clock()
            at.run()
            rows = next(m.value for m in at.metric if m.label == "Rows")
            print(f"[apptest] {what}: whole page rerun {since(t0)}; rows {rows}")
            if at.exception:
                raise RuntimeError(at.exception[0].message)


if __name__ == "__main__":
    main()
