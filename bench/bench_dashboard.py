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
- building the plotly figures from those aggregates.

Usage: .venv/bin/python bench/bench_dashboard.py [--rows 1000000] [--repeats 5]
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
    apply_filters,
    choose_period,
    distinctive_words,
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
    channel = np.array(["web", "app", "store", "email", "social"], dtype=object)[
        rng.integers(0, 5, rows)]
    channel[rng.random(rows) < 0.02] = None  # some rows without a channel
    region = np.array([f"region {i:02d}" for i in range(12)], dtype=object)[
        rng.integers(0, 12, rows)]
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


NARROW = {"date_range": ("2024-01-01", "2024-12-31"),
          "segment_filters": {"channel": ["web", "app", "(missing)"]}, "min_confidence": 0.5}
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
        "heat": net_sentiment_heatmap(view, "region", "date", period, *sentiment,
                                      with_counts=True),
        "alerts": negative_share_alerts(view, "region", "date", period, sentiment[1]),
        "examples": top_examples(df, "predicted_label", "confidence", "text", n=5, mask=mask),
    }
    return out


def naive(df: pd.DataFrame, sentiment: tuple, period: str, filters: dict) -> dict:
    """The simple way: one filtered copy of the whole table (texts included)."""
    view = apply_filters(df, date_col="date", **filters)
    return {
        "kpis": kpis(view, "predicted_label", "confidence", sentiment),
        "share": label_share_over_time(view, "date", "predicted_label", period),
        "mix": {s: label_mix_by_segment(view, s, "predicted_label") for s in SEGMENTS},
        "heat": net_sentiment_heatmap(view, "region", "date", period, *sentiment,
                                      with_counts=True),
        "alerts": negative_share_alerts(view, "region", "date", period, sentiment[1]),
        "examples": top_examples(view, "predicted_label", "confidence", "text", n=5),
    }


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s, min {min(times):.3f} s (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    raw = build_frame(args.rows)
    print(f"built {len(raw):,} rows in {time.perf_counter() - t0:.2f} s "
          f"({raw.memory_usage(deep=True).sum() / 1e6:.0f} MB)")

    t0 = time.perf_counter()
    df, report = prepare_frame(raw, label_col="predicted_label", date_col="date",
                               segment_cols=SEGMENTS)
    print(f"prepare_frame (parse dates + categoricals, once): "
          f"{time.perf_counter() - t0:.3f} s -- {report.summary}")

    sentiment = is_sentiment_like(df["predicted_label"].cat.categories)
    period = choose_period(df["date"])
    print(f"sentiment labels: {sentiment}; period: {period}")

    raw_parsed = raw.assign(date=df["date"])  # dates parsed, strings left as strings
    for name, filters in [("narrow", NARROW), ("broad", BROAD)]:
        times, res = timed(lambda f=filters: recompute(df, sentiment, period, f), args.repeats)
        print(f"[{name} filter] filter change + all KPIs/aggregates, prepared frame: "
              f"{fmt(times)}; view {res['view_rows']:,} rows, net sentiment "
              f"{res['kpis']['net_sentiment']:+.3f}, alerts flagged "
              f"{int(res['alerts']['flagged'].sum())}")
        times_raw, _ = timed(lambda f=filters: recompute(raw_parsed, sentiment, period, f),
                             max(1, args.repeats // 2))
        print(f"[{name} filter] same on the raw frame (str columns): {fmt(times_raw)}")
        times_naive, _ = timed(lambda f=filters: naive(df, sentiment, period, f),
                               max(1, args.repeats // 2))
        print(f"[{name} filter] same with apply_filters copying every column: "
              f"{fmt(times_naive)}")

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


if __name__ == "__main__":
    main()
