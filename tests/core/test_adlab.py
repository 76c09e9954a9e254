"""core.adlab: what-if scoring, uncertainty margin, attributions (faithfulness), targeting.

Arithmetic is checked by hand on a fake model whose scores are known exactly; the
faithfulness and regression cases use tiny BERT models trained on data with a known signal.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from core import TrainConfig, adlab, train
from core.data import build_texts
from tests.conftest import NEGATIVE, POSITIVE, make_sentiment_frame


class FakeModel:
    """Duck-typed like TextClassifier. P(yes) = 0.3 + 0.1·#"great" − 0.1·#"bad"
    + 0.2 if channel is email and the ad says "sale" + 0.1 if age ≥ 40, clipped to [0, 1]."""

    def __init__(self, features=("age", "channel"), task="classification", test_predictions=None):
        self.task = task
        self.classes_ = np.array(["no", "yes"], dtype=object)
        self.schema = {
            "text_columns": ["ad"],
            "profile_columns": list(features),
            "label_column": "clicked",
        }
        self.test_predictions = test_predictions
        self.calls = 0

    @property
    def input_columns(self):
        return [*self.schema["profile_columns"], *self.schema["text_columns"]]

    def _p(self, df: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        out = []
        for _, row in df.iterrows():
            words = str(row["ad"]).lower().split()
            p = 0.3 + 0.1 * words.count("great") - 0.1 * words.count("bad")
            if row.get("channel") == "email" and "sale" in words:
                p += 0.2
            age = row.get("age")
            if age is not None and not pd.isna(age) and float(age) >= 40:
                p += 0.1
            out.append(min(1.0, max(0.0, p)))
        return np.array(out)

    def predict_proba(self, df):
        p = self._p(df)
        return np.stack([1 - p, p], axis=1)

    def predict(self, df):
        if self.task == "regression":
            return 10 * self._p(df)
        return self.classes_[(self._p(df) >= 0.5).astype(int)]


def half_and_half(n: int = 40) -> pd.DataFrame:
    """Test predictions: every score 0.5, half the rows successes -> one bin, no calibration gap."""
    return pd.DataFrame({"true_label": ["yes", "no"] * (n // 2), "p_yes": 0.5, "p_no": 0.5})


# --------------------------------------------------------------------------- margin


def test_margin_classification_by_hand():
    m = adlab.uncertainty_margin(FakeModel(test_predictions=half_and_half(40)), "yes")
    # One bin of 40 rows (40 // 30 = 1); gap |0.5 - 0.5| = 0; Laplace p = 21/42 = 0.5.
    assert m.n_test == 40 and m.n_bins == 1
    assert m.calibration_rms == pytest.approx(0.0)
    assert m.value == pytest.approx(math.sqrt(0.25 / 40))
    assert "40 test rows" in m.note


def test_margin_counts_calibration_gap_and_bins():
    # 60 rows -> 2 bins of 30: low bin predicts 0.1, sees 0.5; high bin predicts 0.9, sees 0.9.
    y_low = ["yes"] * 15 + ["no"] * 15
    y_high = ["yes"] * 27 + ["no"] * 3
    tp = pd.DataFrame({"true_label": y_low + y_high, "p_yes": [0.1] * 30 + [0.9] * 30})
    m = adlab.uncertainty_margin(FakeModel(test_predictions=tp), "yes")
    assert m.n_bins == 2
    assert m.calibration_rms == pytest.approx(math.sqrt(0.5 * 0.4**2 + 0.5 * 0.0**2))
    p1, p2 = 16 / 32, 28 / 32
    assert m.sampling_rms == pytest.approx(
        math.sqrt(0.5 * p1 * (1 - p1) / 30 + 0.5 * p2 * (1 - p2) / 30)
    )
    assert m.value == pytest.approx(max(m.calibration_rms, m.sampling_rms))


def test_margin_regression_by_hand():
    rng = np.random.default_rng(0)
    pred = np.linspace(0, 10, 60)
    true = pred + rng.normal(0, 1, 60) + 0.5
    tp = pd.DataFrame({"true_value": true, "predicted_value": pred})
    m = adlab.uncertainty_margin(FakeModel(task="regression", test_predictions=tp))
    gaps = [true[:30].mean() - pred[:30].mean(), true[30:].mean() - pred[30:].mean()]
    var = [true[:30].var(ddof=1) / 30, true[30:].var(ddof=1) / 30]
    assert m.calibration_rms == pytest.approx(math.sqrt(np.mean(np.square(gaps))))
    assert m.sampling_rms == pytest.approx(math.sqrt(np.mean(var)))


def test_margin_unknown_without_test_predictions():
    assert adlab.uncertainty_margin(FakeModel(test_predictions=None)).value is None
    small = adlab.uncertainty_margin(FakeModel(test_predictions=half_and_half(6)))
    assert small.value is None and small.n_test == 6


# --------------------------------------------------------------------------- scoring


def test_score_variants_scores_ranks_deltas_and_flag():
    model = FakeModel(test_predictions=half_and_half(40))  # margin ~0.079
    df = adlab.score_variants(
        model,
        "a plain ad",
        ["great ad", "great great ad", "bad ad", "a plain ad !"],
        "yes",
        {"age": 30},
    )
    assert model.calls == 1  # one batched predict call
    by = df.set_index("variant")
    np.testing.assert_allclose(
        by.loc[["Base", "V1", "V2", "V3", "V4"], "score"], [0.3, 0.4, 0.5, 0.2, 0.3]
    )
    np.testing.assert_allclose(
        by.loc[["V1", "V2", "V3", "V4"], "delta"], [0.1, 0.2, -0.1, 0.0], atol=1e-12
    )
    assert list(df["variant"][:2]) == ["V2", "V1"]  # sorted best first
    assert by.loc["V2", "rank"] == 1 and by.loc["V1", "rank"] == 2 and by.loc["V3", "rank"] == 5
    assert by.loc["Base", "rank"] == by.loc["V4", "rank"] == 3  # a tie shares the rank
    assert by.loc["V1", "verdict"] == "better" and by.loc["V3", "verdict"] == "worse"
    assert by.loc["V4", "verdict"] == "no clear difference" and by.loc["V4", "no_clear_difference"]
    assert by.loc["Base", "verdict"] == "base" and not by.loc["Base", "no_clear_difference"]
    assert by["near_best"].tolist().count(True) == 1  # only V2: 0.4 is more than 0.079 below 0.5
    assert df.attrs["base_score"] == pytest.approx(0.3)
    assert df.attrs["margin"]["value"] == pytest.approx(math.sqrt(0.25 / 40))


def test_small_differences_are_not_ranked_as_known():
    tp = half_and_half(40)
    model = FakeModel(test_predictions=tp)
    wide = adlab.Margin(0.15, 40, 1, 0.0, 0.15, "wide")
    df = adlab.score_variants(
        model, "a plain ad", ["great ad", "great great ad"], "yes", margin=wide
    )
    by = df.set_index("variant")
    assert by.loc["V1", "verdict"] == "no clear difference"  # +0.1 < 0.15
    assert by.loc["V2", "verdict"] == "better"  # +0.2 >= 0.15
    assert by.loc["V1", "near_best"]  # 0.4 is within 0.15 of the best 0.5
    # V1 cannot be told apart from V2, so both rank 1; V2 is clearly ahead of the base.
    assert by.loc["V1", "rank"] == by.loc["V2", "rank"] == 1 and by.loc["Base", "rank"] == 2


def test_positive_class_choice_and_errors():
    model = FakeModel(test_predictions=half_and_half())
    assert adlab.default_positive_class(model) == "yes"
    df = adlab.score_variants(model, "a plain ad", ["great ad"], "no")
    assert df.iloc[0]["variant"] == "Base"  # P(no) is higher for the base
    assert df.attrs["positive_class"] == "no"
    with pytest.raises(ValueError, match="not one of the model's classes"):
        adlab.score_variants(model, "a plain ad", ["great ad"], "maybe")
    with pytest.raises(ValueError, match="base ad copy"):
        adlab.score_variants(model, "  ", ["great ad"])
    with pytest.raises(ValueError, match="single string"):
        adlab.score_variants(model, "a", "great ad")
    model.schema["positive_class"] = "no"  # a response model names its positive class
    assert adlab.default_positive_class(model) == "no"


def test_profile_enters_the_model_input():
    model = FakeModel(test_predictions=half_and_half())
    young = adlab.score_variants(model, "sale now", [], "yes", {"age": 25, "channel": "social"})
    old_email = adlab.score_variants(model, "sale now", [], "yes", {"age": 45, "channel": "email"})
    assert young["score"].iloc[0] == pytest.approx(0.3)
    assert old_email["score"].iloc[0] == pytest.approx(0.6)
    inputs = adlab.model_inputs(model, ["x", "y"], {"age": 45})
    assert list(inputs.columns) == ["age", "channel", "ad"]
    assert inputs["ad"].tolist() == ["x", "y"] and inputs["age"].tolist() == [45, 45]
    assert inputs["channel"].isna().all()  # not given: left out of the model input
    with pytest.raises(ValueError, match="do not fit this model"):
        adlab.model_inputs(model, ["x"], {"income": 3})
    with pytest.raises(ValueError, match="do not fit this model"):
        adlab.model_inputs(model, ["x"], {"ad": "the text column is not a profile column"})


def test_model_without_text_cannot_score_ads():
    model = FakeModel()
    model.schema["text_columns"] = []
    with pytest.raises(ValueError, match="reads no text"):
        adlab.score_variants(model, "ad", [])


# --------------------------------------------------------------------------- explanations


def test_text_units_and_remove_spans():
    units = adlab.text_units("Don't miss it!!! 好评如潮")
    assert [u[0] for u in units] == ["Don't", "miss", "it", "!!!", "好", "评", "如", "潮"]
    assert units[0][1:] == (0, 5) and units[4][1:] == (17, 18)
    assert adlab.remove_spans("a great ad", [(2, 7)]) == "a ad"
    assert adlab.remove_spans("好评如潮", [(0, 1), (3, 4)]) == "评如"
    with pytest.raises(ValueError, match="overlap"):
        adlab.remove_spans("abcdef", [(0, 3), (2, 4)])


def test_explain_by_hand_on_the_fake_model():
    model = FakeModel()
    expl = adlab.explain(model, "a great but bad ad", "yes")
    assert model.calls == 1  # the full text and every occlusion in one call
    assert expl["word"].tolist() == ["a", "great", "but", "bad", "ad"]
    assert expl.attrs["score"] == pytest.approx(0.3)
    np.testing.assert_allclose(expl["attribution"], [0, 0.1, 0, -0.1, 0], atol=1e-12)
    text = "a great but bad ad"
    assert all(text[s:e] == w for w, s, e in zip(expl["word"], expl["start"], expl["end"]))
    assert "occlusion" in expl.attrs["method"].lower()
    with pytest.raises(ValueError, match="limited to"):
        adlab.explain(model, "word " * 50, max_units=10)


def _positive_texts(n: int) -> list[str]:
    df = make_sentiment_frame(4 * n, seed=11)
    return df.loc[df["label"] == "positive", "text"].tolist()[:n]


def test_attribution_faithfulness(trained_tiny):
    """Removing the top-k positively attributed words lowers P(positive) more than removing k
    random words, on average over texts (the signal is one sentiment word per text)."""
    model = trained_tiny[0].model
    rng = random.Random(0)
    drops_top, drops_random = [], []
    for text in _positive_texts(12):
        expl = adlab.explain(model, text, "positive")
        full = expl.attrs["score"]
        for k in (1, 2):
            if len(expl) <= k:
                continue
            top = expl.nlargest(k, "attribution")
            spans_top = list(zip(top["start"], top["end"]))
            others = [rng.sample(range(len(expl)), k) for _ in range(5)]
            texts = [adlab.remove_spans(text, spans_top)]
            texts += [
                adlab.remove_spans(text, [(expl["start"][i], expl["end"][i]) for i in pick])
                for pick in others
            ]
            scores = adlab.score_texts(model, adlab.model_inputs(model, texts), "positive")
            drops_top.append(full - scores[0])
            drops_random.append(float(np.mean(full - scores[1:])))
    assert len(drops_top) >= 15
    assert np.mean(drops_top) > np.mean(drops_random) + 0.05
    assert np.mean(np.array(drops_top) > np.array(drops_random)) >= 0.8


def test_top_word_is_the_sentiment_word(trained_tiny):
    model = trained_tiny[0].model
    texts = _positive_texts(10)
    hits = 0
    for text in texts:
        expl = adlab.explain(model, text, "positive")
        hits += expl.loc[expl["attribution"].idxmax(), "word"] in POSITIVE
    assert hits >= 8


# --------------------------------------------------------------------------- regression model


@pytest.fixture(scope="module")
def regression_model(tiny_model_dir):
    df = make_sentiment_frame(160, seed=3)
    rng = np.random.default_rng(0)
    df["ctr"] = np.where(df["label"] == "positive", 4.0, 1.0) + rng.normal(0, 0.2, len(df))
    config = TrainConfig(
        base_model=str(tiny_model_dir),
        task="regression",
        label_column="ctr",
        epochs=6,
        batch_size=16,
        learning_rate=3e-3,
        max_length=32,
        early_stopping_patience=100,
    )
    return train(df, config).model


def test_regression_model_scores_predicted_value(regression_model):
    model = regression_model
    assert adlab.default_positive_class(model) is None
    df = adlab.score_variants(
        model, "the dress was great", ["the dress was terrible", "love it excellent"]
    )
    by = df.set_index("variant")
    np.testing.assert_allclose(by["score"], model.predict(list(by["text"])), rtol=1e-5)
    assert by.loc["V1", "score"] < by.loc["Base", "score"]  # terrible < great
    assert by.loc["V1", "delta"] == pytest.approx(by.loc["V1", "score"] - by.loc["Base", "score"])
    m = adlab.uncertainty_margin(model)
    assert m.value is not None and 0 < m.value < 3  # in units of ctr
    assert by.loc["V1", "no_clear_difference"] == (abs(by.loc["V1", "delta"]) < m.value)
    with pytest.raises(ValueError, match="regression model"):
        adlab.score_variants(model, "a", ["b"], "positive")
    expl = adlab.explain(model, "the dress was terrible")
    assert (
        expl.loc[expl["attribution"].idxmin(), "word"] in NEGATIVE
    )  # pulls the predicted value down


# --------------------------------------------------------------------------- targeting


ADS = {"plain": "new dress", "great": "great dress", "sale": "dress sale"}


def test_targeting_matrix_by_hand():
    model = FakeModel()
    segments = pd.DataFrame({"age": [25, 45], "channel": ["email", "social"], "size": [300, 100]})
    matrix = adlab.targeting_matrix(model, ADS, segments, "yes")
    assert model.calls == 1
    assert list(matrix.columns) == ["plain", "great", "sale"]
    assert list(matrix.index) == ["age 25 · channel email", "age 45 · channel social"]
    np.testing.assert_allclose(matrix.to_numpy(), [[0.3, 0.4, 0.5], [0.4, 0.5, 0.4]])

    best = adlab.best_ad_per_segment(matrix, segments["size"], margin=0.05)
    assert best["best_ad"].tolist() == ["sale", "great"]
    assert best["runner_up"].tolist() == ["great", "plain"]
    np.testing.assert_allclose(best["lead"], [0.1, 0.1])
    assert best["clear"].tolist() == [True, True]
    # Weighted by size, "sale" is best overall: 0.75·0.5 + 0.25·0.4 = 0.475 vs great 0.425.
    assert set(best["single_best_ad"]) == {"sale"}
    np.testing.assert_allclose(best["gain"], [0.0, 0.1])

    up = adlab.targeting_uplift(matrix, segments["size"])
    assert up["single_best_ad"] == "sale"
    assert up["single_best_response"] == pytest.approx(0.475)
    assert up["targeted_response"] == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
    assert up["uplift"] == pytest.approx(0.025)
    assert up["relative_uplift"] == pytest.approx(0.025 / 0.475)
    assert up["weighted_by_size"] and up["total_size"] == 400
    assert up["n_segments_switched"] == 1


def test_uplift_without_sizes_counts_segments_equally():
    matrix = pd.DataFrame(
        [[0.3, 0.4, 0.5], [0.4, 0.5, 0.4]], index=["a", "b"], columns=["p", "g", "s"]
    )
    up = adlab.targeting_uplift(matrix)
    # Equal weights: g and s tie at 0.45; the first (g) is taken.
    assert up["single_best_ad"] == "g" and up["single_best_response"] == pytest.approx(0.45)
    assert up["targeted_response"] == pytest.approx(0.5) and up["uplift"] == pytest.approx(0.05)
    assert not up["weighted_by_size"] and up["total_size"] is None
    # Sizes as a Series indexed by segment label are aligned by label, not position.
    up2 = adlab.targeting_uplift(matrix, pd.Series({"b": 1, "a": 3}))
    assert up2["single_best_ad"] == "s" and up2["single_best_response"] == pytest.approx(0.475)
    with pytest.raises(ValueError, match="one size per segment"):
        adlab.targeting_uplift(matrix, [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        adlab.targeting_uplift(matrix, [1, -2])


def test_best_ad_single_ad_and_no_margin():
    matrix = pd.DataFrame({"only": [0.2, 0.3]}, index=["a", "b"])
    best = adlab.best_ad_per_segment(matrix)
    assert best["best_ad"].tolist() == ["only", "only"] and best["clear"].isna().all()
    assert adlab.targeting_uplift(matrix)["uplift"] == pytest.approx(0.0)


def test_targeting_needs_profile_columns_and_ads():
    with pytest.raises(ValueError, match="no profile columns"):
        adlab.targeting_matrix(FakeModel(features=()), ADS, pd.DataFrame({"age": [30]}))
    with pytest.raises(ValueError, match="none of the model's profile columns"):
        adlab.targeting_matrix(FakeModel(), ADS, pd.DataFrame({"region": ["north"]}))
    with pytest.raises(ValueError, match="at least one ad"):
        adlab.targeting_matrix(FakeModel(), {}, pd.DataFrame({"age": [30]}))
    # A missing profile column is left empty in the model input.
    matrix = adlab.targeting_matrix(FakeModel(), ["sale"], pd.DataFrame({"age": [50]}))
    assert matrix.iloc[0, 0] == pytest.approx(0.4) and list(matrix.columns) == ["Ad 1"]


def test_segments_from_profile_bins_categories_and_sizes():
    people = pd.DataFrame(
        {
            "age": [20, 22, 24, 26, 30, 35, 40, 45, 50, 60, 61, 62],
            "channel": [
                "email",
                "email",
                "social",
                "email",
                "social",
                "social",
                "email",
                "email",
                "social",
                "email",
                "social",
                "email",
            ],
            "region": ["n"] * 8 + ["s"] * 4,
        }
    )
    seg = adlab.segments_from_profile(people, ["age"], bins=3, fixed_columns=["region", "channel"])
    assert seg["size"].tolist() == [4, 4, 4]
    assert seg["segment"].tolist() == ["age 20–26", "age 30–45", "age 50–62"]
    assert seg["age"].tolist() == [23, 38, 60]  # medians (int column stays int)
    assert set(seg["region"]) == {"n"} and set(seg["channel"]) == {"email"}  # most common value

    both = adlab.segments_from_profile(people, ["age", "channel"], bins={"age": [0, 40, 100]})
    assert both["size"].sum() == 12
    assert both.loc[both["segment"] == "age 20–40 · channel email", "size"].item() == 4
    assert set(both.columns) == {"segment", "age", "channel", "size"}

    grid = adlab.segments_from_profile(
        {"age": [25, 45], "channel": ["email", "social"]}, ["age", "channel"]
    )
    assert len(grid) == 4 and "size" not in grid.columns
    assert grid["segment"].iloc[0] == "age 25 · channel email"

    top = adlab.segments_from_profile(people, ["channel"], max_categories=1)
    assert top["segment"].tolist() == ["channel email"]  # rarer values are left out, and counted
    assert top.attrs == {"n_people": 12, "n_covered": 7}

    with pytest.raises(ValueError, match="not in the audience data"):
        adlab.segments_from_profile(people, ["income"])
    with pytest.raises(ValueError, match="more than the limit"):
        adlab.segments_from_profile(people, ["age", "channel", "region"], bins=4, max_segments=3)


def test_segments_from_model_test_rows_feed_the_matrix():
    texts = build_texts(
        pd.DataFrame(
            {
                "age": [25, 45, 47, None],
                "channel": ["email", "social", "social", "email"],
                "ad": ["a", "b | c", "d", "e"],
            }
        ),
        ["ad"],
        ["age", "channel"],
    )
    model = FakeModel(test_predictions=pd.DataFrame({"text": texts}))
    profiles = adlab.profile_frame_from_test(model)
    assert profiles["age"].tolist()[:3] == [25, 45, 47] and pd.isna(profiles["age"].iloc[3])
    assert profiles["channel"].tolist() == ["email", "social", "social", "email"]
    no_text = FakeModel(test_predictions=pd.DataFrame({"true_label": ["yes"], "p_yes": [0.5]}))
    assert adlab.profile_frame_from_test(no_text).empty  # nothing to parse profiles from
    seg = adlab.segments_from_profile(profiles, ["channel"])
    matrix = adlab.targeting_matrix(model, ADS, seg)
    assert matrix.shape == (2, 3)
    assert dict(zip(seg["segment"], seg["size"])) == {"channel email": 2, "channel social": 2}
