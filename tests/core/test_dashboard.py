"""Tests for core.dashboard: dates, filters, KPIs, aggregates, words, alerts, examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.columns import detect_prediction_columns
from core.dashboard import (
    MISSING,
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
from core.words import distinctive_words


def apply_filters(df: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    """The rows passing the filters, as the Dashboard takes them: ``df[filter_mask(...)]``."""
    mask = filter_mask(df, *args, **kwargs)
    return df if mask is None else df[mask]

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def preds() -> pd.DataFrame:
    """12 predictions over two weeks, three channels (one row without a channel)."""
    return pd.DataFrame(
        {
            "text": [
                "love it", "great fit", "awful", "meh", "love the colour", "broke fast",
                "great value", "terrible seams", "ok I guess", "lovely", "poor", "fine",
            ],
            "date": [
                "2024-03-04", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07",
                "2024-03-08", "2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14",
                "2024-03-15", "not a date",
            ],
            "channel": ["web", "web", "app", "app", "store", None,
                        "web", "app", "app", "store", "web", "store"],
            "predicted_label": ["positive", "positive", "negative", "neutral", "positive",
                                "negative", "positive", "negative", "neutral", "positive",
                                "negative", "neutral"],
            "confidence": [0.9, 0.8, 0.95, 0.5, 0.7, 0.85, 0.6, 0.99, 0.4, 0.75, 0.65, 0.55],
            "p_positive": [0.9, 0.8, 0.02, 0.3, 0.7, 0.1, 0.6, 0.0, 0.3, 0.75, 0.2, 0.25],
            "p_negative": [0.05, 0.1, 0.95, 0.2, 0.2, 0.85, 0.2, 0.99, 0.3, 0.05, 0.65, 0.2],
            "p_neutral": [0.05, 0.1, 0.03, 0.5, 0.1, 0.05, 0.2, 0.01, 0.4, 0.2, 0.15, 0.55],
        }
    )


# --------------------------------------------------------------------------------------------
# column detection
# --------------------------------------------------------------------------------------------


def test_detect_prediction_columns(preds):
    cols = detect_prediction_columns(preds)
    assert cols["label"] == "predicted_label"
    assert cols["confidence"] == "confidence"
    assert cols["proba"] == {"positive": "p_positive", "negative": "p_negative",
                             "neutral": "p_neutral"}
    assert cols["date_candidates"] == ["date"]
    assert "channel" in cols["segment_candidates"]
    assert "predicted_label" not in cols["segment_candidates"]


def test_rows_without_prediction_show_as_missing_label():
    df = pd.DataFrame({"predicted_label": ["a", "", "b"], "confidence": [0.9, np.nan, 0.8],
                       "prediction_error": ["", "no text in ['text']", ""],
                       "text": ["x", None, "y"]})
    assert detect_prediction_columns(df)["error"] == "prediction_error"
    assert "prediction_error" not in detect_prediction_columns(df)["segment_candidates"]
    prepared, _ = prepare_frame(df, label_col="predicted_label")
    k = kpis(prepared, "predicted_label", "confidence")
    assert k["label_counts"] == {"a": 1, "b": 1, MISSING: 1}
    assert k["avg_confidence"] == pytest.approx(0.85)


def test_detect_prediction_columns_ignores_text_p_columns():
    df = pd.DataFrame({"p_code": ["a", "b"], "p_1": [0.2, 0.7], "label": ["x", "y"]})
    cols = detect_prediction_columns(df)
    assert cols["proba"] == {"1": "p_1"}
    assert cols["label"] is None and cols["confidence"] is None


def test_choose_period():
    day = pd.Timestamp("2024-01-01")
    assert choose_period(pd.Series([day, day + pd.Timedelta(days=60)])) == "D"
    assert choose_period(pd.Series([day, day + pd.Timedelta(days=61)])) == "W"
    assert choose_period(pd.Series([day, day + pd.Timedelta(days=366)])) == "W"
    assert choose_period(pd.Series([day, day + pd.Timedelta(days=400), pd.NaT])) == "M"
    assert choose_period(pd.Series([pd.NaT, pd.NaT])) == "D"


# --------------------------------------------------------------------------------------------
# sentiment
# --------------------------------------------------------------------------------------------


def test_is_sentiment_like_is_conservative():
    assert is_sentiment_like(["Positive", "Negative", "Neutral"]) == ("Positive", "Negative")
    assert is_sentiment_like(["pos", "neg", MISSING, None]) == ("pos", "neg")
    assert is_sentiment_like(["正面", "负面"]) == ("正面", "负面")
    assert is_sentiment_like(["positive", "negative", "spam"]) is None
    assert is_sentiment_like([0, 1]) is None  # could be "clicked"
    assert is_sentiment_like([0, 1], numeric_binary=True) == (1, 0)
    assert is_sentiment_like(["-1", "0", "1"], numeric_binary=True) == ("1", "-1")
    assert is_sentiment_like(["positive"]) is None
    assert is_sentiment_like(["yes", "no"], numeric_binary=True) is None


# --------------------------------------------------------------------------------------------
# filters and KPIs
# --------------------------------------------------------------------------------------------


def test_filters_affect_kpis(preds):
    df, rep = prepare_frame(preds, label_col="predicted_label", date_col="date",
                            segment_cols=["channel"])
    assert rep.n_unparseable == 1
    sentiment = is_sentiment_like(df["predicted_label"].cat.categories)
    all_k = kpis(df, "predicted_label", "confidence", sentiment)
    assert all_k["volume"] == 12
    assert all_k["label_counts"]["positive"] == 5
    assert all_k["net_sentiment"] == pytest.approx((5 - 4) / 12)
    assert all_k["avg_confidence"] == pytest.approx(preds["confidence"].mean())

    web = apply_filters(df, segment_filters={"channel": ["web"]})
    k = kpis(web, "predicted_label", "confidence", sentiment)
    assert k["volume"] == 4
    assert k["net_sentiment"] == pytest.approx((3 - 1) / 4)
    assert k["label_counts"]["neutral"] == 0  # categorical: zero kept for stable cards

    week2 = apply_filters(df, date_range=("2024-03-11", "2024-03-15"), date_col="date")
    assert len(week2) == 5  # "not a date" row excluded while a date range is active
    confident = apply_filters(df, min_confidence=0.8, labels=["negative"])
    assert sorted(confident["confidence"]) == [0.85, 0.95, 0.99]
    missing = apply_filters(df, segment_filters={"channel": [MISSING]})
    assert list(missing["text"]) == ["broke fast"]


def test_apply_filters_without_filters_returns_same_frame_and_works_on_raw(preds):
    assert apply_filters(preds) is preds
    assert apply_filters(preds, segment_filters={"channel": []}) is preds
    raw = apply_filters(preds, segment_filters={"channel": ["app", MISSING]})
    assert len(raw) == 5
    with pytest.raises(ValueError, match="date_col"):
        apply_filters(preds, date_range=("2024-01-01", None))


def test_filter_mask_columns_and_masked_examples(preds):
    assert filter_mask(preds) is None
    mask = filter_mask(preds, segment_filters={"channel": ["app"]})
    assert mask.sum() == 4
    assert list(apply_filters(preds, segment_filters={"channel": ["app"]}).index) == list(np.flatnonzero(mask))
    ex = top_examples(preds, "predicted_label", "confidence", "text", n=5, mask=mask)
    assert list(ex) == ["negative", "neutral"]  # app has no positive rows
    assert list(ex["negative"]["text"]) == ["terrible seams", "awful"]
    with pytest.raises(ValueError, match="one entry per row"):
        top_examples(preds, "predicted_label", "confidence", "text", mask=mask[:3])


def test_numeric_segments_with_gaps_show_and_filter_as_written():
    df = pd.DataFrame({"age": [33, None, 41, 33], "predicted_label": ["a", "b", "a", "a"]})
    mix = label_mix_by_segment(df, "age", "predicted_label")
    assert list(dict.fromkeys(mix["segment"])) == ["33", "41", MISSING]
    assert len(apply_filters(df, segment_filters={"age": ["33", MISSING]})) == 3
    prepared, _ = prepare_frame(df, label_col="predicted_label", segment_cols=["age"])
    assert list(prepared["age"].cat.categories) == ["33", "41", MISSING]
    assert len(apply_filters(prepared, segment_filters={"age": [41]})) == 1


def test_apply_filters_end_date_includes_whole_day():
    df = pd.DataFrame({"d": pd.to_datetime(["2024-01-31 23:00", "2024-02-01 00:00"]),
                       "predicted_label": ["a", "b"]})
    assert len(apply_filters(df, date_range=(None, "2024-01-31"), date_col="d")) == 1


def test_single_label_file():
    df = pd.DataFrame({"predicted_label": ["spam"] * 4, "confidence": [0.9] * 4,
                       "text": ["buy now", "buy cheap", "cheap now", "now now"],
                       "seg": ["a", "a", "b", None]})
    assert is_sentiment_like(df["predicted_label"]) is None
    k = kpis(df, "predicted_label", "confidence", None)
    assert k["label_shares"] == {"spam": 1.0} and k["net_sentiment"] is None
    mix = label_mix_by_segment(df, "seg", "predicted_label")
    assert list(mix["segment"]) == ["a", "b", MISSING]
    assert list(mix["share"]) == [1.0, 1.0, 1.0]
    words = distinctive_words(df["text"], df["predicted_label"])
    assert list(words) == ["spam"] and words["spam"].empty


# --------------------------------------------------------------------------------------------
# aggregates
# --------------------------------------------------------------------------------------------


def test_label_share_over_time_weekly(preds):
    df, _ = prepare_frame(preds, label_col="predicted_label", date_col="date")
    out = label_share_over_time(df, "date", "predicted_label", "W")
    assert list(out["period"].unique()) == [pd.Timestamp("2024-03-04"),
                                            pd.Timestamp("2024-03-11")]
    week1 = out[out["period"] == pd.Timestamp("2024-03-04")].set_index("label")
    assert week1.loc["positive", "count"] == 3 and week1.loc["positive", "total"] == 6
    assert week1.loc["positive", "share"] == pytest.approx(0.5)
    assert out.groupby("period")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert out.attrs["n_without_date"] == 1


def test_label_share_over_time_keeps_empty_periods_as_nan():
    df = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-01-03"]),
                       "predicted_label": ["a", "b"]})
    out = label_share_over_time(df, "d", "predicted_label", "D")
    gap = out[out["period"] == pd.Timestamp("2024-01-02")]
    assert len(gap) == 2 and gap["total"].eq(0).all() and gap["share"].isna().all()


def test_label_share_over_time_monthly():
    dates = pd.to_datetime(["2023-12-31 23:59", "2024-02-15 00:00", "2024-02-01 00:00"])
    df = pd.DataFrame({"d": dates, "predicted_label": ["a", "b", "b"]})
    out = label_share_over_time(df, "d", "predicted_label", "M")
    assert list(out["period"].unique()) == list(pd.to_datetime(
        ["2023-12-01", "2024-01-01", "2024-02-01"]))


def test_label_mix_by_segment_sorted_and_missing_shown(preds):
    mix = label_mix_by_segment(preds, "channel", "predicted_label")
    segments = list(dict.fromkeys(mix["segment"]))
    assert segments == ["app", "web", "store", MISSING]  # by volume: 4, 4, 3, 1
    by_neg = label_mix_by_segment(preds, "channel", "predicted_label", sort_by="negative")
    assert by_neg["segment"].iloc[0] == MISSING  # 1 of 1 negative
    app = mix[mix["segment"] == "app"].set_index("label")
    assert app.loc["negative", "share"] == pytest.approx(0.5)
    assert app["segment_total"].eq(4).all()
    with pytest.raises(ValueError, match="sort_by"):
        label_mix_by_segment(preds, "channel", "predicted_label", sort_by="nope")


def test_label_mix_by_segment_pools_small_segments():
    df = pd.DataFrame({"seg": list("aaabbc"), "predicted_label": ["x"] * 6})
    mix = label_mix_by_segment(df, "seg", "predicted_label", max_segments=1)
    assert list(mix["segment"]) == ["a", "(other)"] and list(mix["count"]) == [3, 3]


def test_net_sentiment_heatmap(preds):
    df, _ = prepare_frame(preds, label_col="predicted_label", date_col="date",
                          segment_cols=["channel"])
    net, counts = net_sentiment_heatmap(df, "channel", "date", "W", "positive", "negative",
                                        with_counts=True)
    assert list(net.columns) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11")]
    assert net.loc["web", pd.Timestamp("2024-03-04")] == pytest.approx(1.0)
    assert net.loc["web", pd.Timestamp("2024-03-11")] == pytest.approx(0.0)
    assert net.loc["app", pd.Timestamp("2024-03-11")] == pytest.approx(-0.5)
    assert counts.loc["app", pd.Timestamp("2024-03-11")] == 2
    assert MISSING in net.index
    sparse = net_sentiment_heatmap(df, "channel", "date", "W", "positive", "negative",
                                   min_count=2)
    assert np.isnan(sparse.loc["store", pd.Timestamp("2024-03-04")])  # one row only


# --------------------------------------------------------------------------------------------
# alerts
# --------------------------------------------------------------------------------------------


def _alert_frame(rise_to: float, seed: int = 0) -> pd.DataFrame:
    """Eight regions, 400 rows per week for two weeks, negative share 20%; region 'north'
    goes to ``rise_to`` in the second week."""
    rng = np.random.default_rng(seed)
    rows = []
    for region in ["north", "south", "east", "west", "centre", "coast", "hills", "city"]:
        for week, start in enumerate(["2024-05-06", "2024-05-13"]):
            p = rise_to if (region == "north" and week == 1) else 0.2
            neg = rng.random(400) < p
            days = rng.integers(0, 7, 400)
            rows.append(pd.DataFrame({
                "region": region,
                "date": pd.Timestamp(start) + pd.to_timedelta(days, unit="D"),
                "predicted_label": np.where(neg, "negative", "positive"),
            }))
    return pd.concat(rows, ignore_index=True)


def test_alerts_flag_a_real_rise_only():
    out = negative_share_alerts(_alert_frame(0.35), "region", "date", "W", "negative")
    assert list(out.columns[:9]) == ["segment", "prev_share", "latest_share", "n_prev",
                                     "n_latest", "z", "p_value", "p_adjusted", "flagged"]
    assert out["flagged"].sum() == 1
    top = out.iloc[0]
    assert top["segment"] == "north" and top["flagged"]
    assert top["latest_share"] > top["prev_share"]
    assert top["n_prev"] == 400 and top["n_latest"] == 400
    assert "Benjamini-Hochberg" in top["test"] and "8 segments" in top["test"]
    assert top["latest_period"] == pd.Timestamp("2024-05-13")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alerts_do_not_flag_noise(seed):
    out = negative_share_alerts(_alert_frame(0.2, seed), "region", "date", "W", "negative",
                                correction="bonferroni")
    assert not out["flagged"].any()
    assert out["test"].str.contains("Bonferroni").all()


def test_alerts_skip_small_segments_and_ignore_drops():
    df = _alert_frame(0.05)  # north *improves*: never an alert
    df = pd.concat([df, pd.DataFrame({"region": "tiny", "date": pd.Timestamp("2024-05-14"),
                                      "predicted_label": ["negative"] * 5})])
    out = negative_share_alerts(df, "region", "date", "W", "negative", min_count=20)
    assert not out["flagged"].any()
    tiny = out.set_index("segment").loc["tiny"]
    assert np.isnan(tiny["p_value"]) and tiny["test"].startswith("not tested")


def test_top_examples(preds):
    ex = top_examples(preds, "predicted_label", "confidence", "text", n=2,
                      columns=["channel"])
    assert list(ex) == ["positive", "negative", "neutral"]  # most frequent first
    neg = ex["negative"]
    assert list(neg["text"]) == ["terrible seams", "awful"]
    assert list(neg["row"]) == [7, 2]
    assert list(neg.columns) == ["row", "text", "confidence", "channel"]


def test_top_examples_dedupes_texts():
    df = pd.DataFrame({"predicted_label": ["a"] * 4, "confidence": [0.9, 0.9, 0.8, 0.7],
                       "text": ["same", "same", "other", "third"]})
    assert list(top_examples(df, "predicted_label", "confidence", "text", n=2)["a"]["text"]
                ) == ["same", "other"]
