"""core.charts.evaluation: figures and tables checked for their data, not their pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.charts.evaluation import (
    MAX_CURVE_POINTS,
    baseline_comparison_chart,
    confusion_matrix_chart,
    headline_numbers,
    label_distribution_chart,
    mistakes_frame,
    model_comparison_frame,
    per_class_frame,
    predicted_vs_actual_chart,
    roc_curve_chart,
    roc_inputs,
    target_histogram_chart,
    training_curve_chart,
)

CLS_METRICS = {
    "model": {
        "n": 40,
        "accuracy": 0.9,
        "macro_f1": 0.88,
        "per_class": {
            "neg": {"precision": 0.8, "recall": 1.0, "f1": 0.889, "support": 16},
            "pos": {"precision": 1.0, "recall": 0.833, "f1": 0.909, "support": 24},
        },
        "confusion_matrix": {"labels": ["neg", "pos"], "matrix": [[16, 0], [4, 20]]},
    },
    "baselines": {
        "majority": {"accuracy": 0.6, "macro_f1": 0.375},
        "tfidf_lr": {"accuracy": 0.8, "macro_f1": 0.78},
    },
}
REG_METRICS = {
    "model": {"n": 30, "r2": 0.5, "mae": 1.2},
    "baselines": {"mean": {"r2": -0.01, "mae": 2.0}, "tfidf_ridge": {"r2": 0.3, "mae": 1.5}},
}


def test_label_distribution_chart_keeps_order_and_counts():
    fig = label_distribution_chart({"1": 30, "0": 10})
    assert list(fig.data[0].x) == ["1", "0"]
    assert list(fig.data[0].y) == [30, 10]
    assert list(fig.data[0].customdata) == [0.75, 0.25]


def test_target_histogram_bins_numbers_and_skips_text():
    fig = target_histogram_chart([1, 2, 2, 3, "n/a", None], bins=2)
    assert sum(fig.data[0].y) == 4  # the text and the None are left out
    assert len(fig.data[0].x) == 2


def test_target_histogram_leaves_out_what_training_drops_and_reads_decimal_commas():
    # inf, -inf and 1e400 (read as inf) are dropped by training; they must not break the chart (r11).
    fig = target_histogram_chart([1.0, 2.0, float("inf"), float("-inf"), "1e400", float("nan"), 3.0], bins=3)
    assert sum(fig.data[0].y) == 3 and np.isfinite(fig.data[0].x).all()
    fig = target_histogram_chart(["2,5", "3,75", "1"], bins=3)  # a European column, as training reads it
    assert sum(fig.data[0].y) == 3 and min(fig.data[0].x) >= 1 and max(fig.data[0].x) <= 3.75


def _events():
    events = [{"phase": "prepare", "step": 0, "total_steps": 0, "loss": None, "metrics": {}}]
    for step in range(1, 7):
        events.append({"phase": "train", "step": step, "total_steps": 6, "loss": 1.0 / step, "metrics": {}})
        if step % 3 == 0:
            events.append(
                {
                    "phase": "evaluate",
                    "step": step,
                    "total_steps": 6,
                    "loss": 1.0 / step,
                    "metrics": {"macro_f1": step / 10},
                }
            )
    return events


def test_training_curve_chart_splits_loss_and_validation_metric():
    fig = training_curve_chart(_events())
    assert list(fig.data[0].x) == [1, 2, 3, 4, 5, 6]
    assert fig.data[0].y[1] == pytest.approx(0.5)
    assert list(fig.data[1].x) == [3, 6]
    assert list(fig.data[1].y) == [pytest.approx(0.3), pytest.approx(0.6)]
    assert fig.data[1].name == "Validation macro-F1"
    assert fig.data[1].yaxis == "y2"


def test_training_curve_chart_shows_the_whole_loss_line():
    # A high first loss (as a running mean starts) and a validation metric on the other axis.
    events = [{"phase": "train", "step": s, "total_steps": 40, "loss": 2.5 / s} for s in range(1, 41)]
    events += [{"phase": "evaluate", "step": 20, "total_steps": 40, "metrics": {"macro_f1": 0.4}}]
    fig = training_curve_chart(events)
    low, high = fig.layout.yaxis.range
    assert fig.layout.yaxis.autorange is False
    assert low <= min(fig.data[0].y) and high > max(fig.data[0].y) == pytest.approx(2.5)
    assert high <= 2.5 * 1.2  # not so high that the line is squashed
    x_low, x_high = fig.layout.xaxis.range
    assert x_low <= min(fig.data[0].x) and x_high >= max(fig.data[0].x)
    assert list(fig.layout.yaxis2.range) == [0, 1]


def test_training_curve_chart_detects_regression_and_thins_long_runs():
    events = [{"phase": "train", "step": s, "total_steps": 5000, "loss": 1.0} for s in range(1, 5001)]
    events.append({"phase": "evaluate", "step": 5000, "total_steps": 5000, "metrics": {"r2": 0.4, "mae": 1.0}})
    fig = training_curve_chart(events)
    assert fig.data[1].name == "Validation R²"
    assert len(fig.data[0].x) <= MAX_CURVE_POINTS
    assert fig.data[0].x[0] == 1 and fig.data[0].x[-1] == 5000


def test_training_curve_chart_with_no_events_is_empty_not_an_error():
    fig = training_curve_chart([])
    assert len(fig.data[0].x) == 0 and len(fig.data[1].x) == 0


def test_headline_numbers_classification_lift_in_points():
    cards = {c.label: c for c in headline_numbers(CLS_METRICS, "classification")}
    assert cards["Accuracy"].value == "90.0%"
    assert cards["Accuracy"].delta == "+30.0 pts"  # vs the majority baseline's accuracy
    assert cards["Macro-F1"].value == "0.880"
    assert cards["Lift over TF-IDF"].value == "+10.0 pts"
    assert cards["Lift over majority"].value == "+50.5 pts"
    assert cards["Accuracy"].delta_color == "normal"
    # A model that only matches the majority's accuracy gets no green arrow (a walker saw "+0.0 pts" in green).
    level = {**CLS_METRICS, "model": {**CLS_METRICS["model"], "accuracy": CLS_METRICS["baselines"]["majority"]["accuracy"]}}
    flat = next(c for c in headline_numbers(level, "classification") if c.label == "Accuracy")
    assert flat.delta == "+0.0 pts" and flat.delta_color == "off"


def test_a_saved_tfidf_model_is_set_beside_the_fine_tune_not_beside_itself():
    """Issue 28's small lie: a saved TF-IDF model showed "Lift over TF-IDF +0.0". It is now
    compared with the fine-tuned model it was chosen over (kept as a candidate)."""
    fine_tune = {"accuracy": 0.8, "macro_f1": 0.74}
    saved = {**CLS_METRICS, "saved_kind": "tfidf", "model": CLS_METRICS["baselines"]["tfidf_lr"],
             "candidates": {"transformer": fine_tune}}
    cards = {c.label: c for c in headline_numbers(saved, "classification")}
    assert "Lift over TF-IDF" not in cards
    tfidf_f1 = CLS_METRICS["baselines"]["tfidf_lr"]["macro_f1"]
    assert cards["Lift over the fine-tune"].value == f"{(tfidf_f1 - 0.74) * 100:+.1f} pts"


def test_headline_numbers_regression_and_missing_values():
    cards = {c.label: c for c in headline_numbers(REG_METRICS, "regression")}
    assert cards["R²"].value == "0.500"
    assert cards["R² vs TF-IDF"].value == "+0.200"
    # MAE is lower-is-better: its delta says so, and the cut against TF-IDF is positive when this
    # model errs less (1.2 vs 1.5 here: 0.3 less).
    assert cards["MAE"].delta == "-0.8 vs the mean (lower is better)" and cards["MAE"].delta_color == "inverse"
    assert cards["MAE cut vs TF-IDF"].value == "+0.3"
    worse = {c.label: c for c in headline_numbers({**REG_METRICS, "model": {"r2": 0.1, "mae": 1.9}}, "regression")}
    assert worse["MAE cut vs TF-IDF"].value == "-0.4" and worse["R² vs TF-IDF"].value == "-0.200"
    empty = {c.label: c for c in headline_numbers({}, "classification")}
    assert empty["Accuracy"].value == "n/a" and empty["Lift over TF-IDF"].value == "n/a"


def test_baseline_comparison_chart_model_first():
    fig = baseline_comparison_chart(CLS_METRICS, "classification")
    assert list(fig.data[0].y) == ["Your model", "Majority class", "TF-IDF + logistic regression"]
    assert list(fig.data[0].x) == [0.88, 0.375, 0.78]
    assert fig.layout.title.text == "Macro-F1 on the same test rows"


def test_baseline_comparison_chart_of_a_cross_validated_run_says_its_scores_are_out_of_fold():
    """The newcomer walk's 150-row file: every candidate cross-validated, no test rows, yet the
    chart said "on the same test rows" of its out-of-fold scores."""
    fig = baseline_comparison_chart({**CLS_METRICS, "cv": {"k": 5}}, "classification")
    assert fig.layout.title.text == "Out-of-fold macro-F1 (5-fold cross-validation)"


def test_per_class_frame():
    frame = per_class_frame(CLS_METRICS)
    assert frame["class"].tolist() == ["neg", "pos"]
    assert frame["support"].tolist() == [16, 24]
    assert per_class_frame({}).columns.tolist() == ["class", "precision", "recall", "f1", "support"]


def test_confusion_matrix_chart_counts_and_row_normalised():
    cm = CLS_METRICS["model"]["confusion_matrix"]
    counts = confusion_matrix_chart(cm["labels"], cm["matrix"])
    assert np.asarray(counts.data[0].z).tolist() == [[16, 0], [4, 20]]
    assert list(counts.data[0].x) == ["neg", "pos"] and list(counts.data[0].y) == ["neg", "pos"]
    shares = confusion_matrix_chart(cm["labels"], cm["matrix"], normalize=True)
    z = np.asarray(shares.data[0].z)
    assert z[1].tolist() == pytest.approx([4 / 24, 20 / 24])
    assert z.sum(axis=1).tolist() == pytest.approx([1.0, 1.0])
    assert "16" in shares.data[0].text[0][0]  # counts stay visible when normalised


def test_confusion_matrix_chart_empty_row_stays_zero():
    fig = confusion_matrix_chart(["a", "b"], [[0, 0], [1, 1]], normalize=True)
    assert np.asarray(fig.data[0].z)[0].tolist() == [0.0, 0.0]


def _predictions():
    # labels read back from CSV as integers, as pandas does with "0"/"1"
    return pd.DataFrame(
        {
            "row": [0, 1, 2, 3, 4, 5],
            "text": ["a", "b", "c", "d", "e", "f"],
            "true_label": [0, 1, 1, 0, 1, 0],
            "predicted_label": [0, 1, 0, 1, 1, 1],
            "confidence": [0.9, 0.8, 0.6, 0.95, 0.7, 0.55],
            "p_0": [0.9, 0.2, 0.6, 0.05, 0.3, 0.45],
            "p_1": [0.1, 0.8, 0.4, 0.95, 0.7, 0.55],
        }
    )


def test_roc_inputs_and_curve():
    truth, scores, positive = roc_inputs(_predictions(), ["0", "1"])
    assert positive == "1"
    assert truth.tolist() == [False, True, True, False, True, False]
    assert scores.tolist() == [0.1, 0.8, 0.4, 0.95, 0.7, 0.55]
    fig = roc_curve_chart(truth, scores, positive)
    assert fig.data[0].x[0] == 0 and fig.data[0].y[-1] == 1
    assert "AUC 0.556" in fig.data[0].name  # 5 of 9 positive-negative pairs ranked right
    assert list(fig.data[1].x) == [0, 1]


def test_roc_inputs_none_for_multiclass_or_missing_columns():
    assert roc_inputs(_predictions(), ["0", "1", "2"]) is None
    assert roc_inputs(_predictions().drop(columns=["p_1"]), ["0", "1"]) is None
    with pytest.raises(ValueError, match="both classes"):
        roc_curve_chart([True, True], [0.2, 0.3])


def test_mistakes_frame_most_confident_first():
    wrong = mistakes_frame(_predictions(), "classification")
    assert wrong["row"].tolist() == [3, 2, 5]
    assert wrong["confidence"].tolist() == [0.95, 0.6, 0.55]
    assert "p_0" not in wrong.columns
    assert len(mistakes_frame(_predictions(), "classification", limit=1)) == 1


def test_mistakes_frame_regression_largest_error_first():
    df = pd.DataFrame(
        {"row": [0, 1, 2], "text": ["a", "b", "c"], "true_value": [1.0, 2.0, 3.0], "predicted_value": [1.5, 0.0, 3.1]}
    )
    out = mistakes_frame(df, "regression")
    assert out["row"].tolist() == [1, 0, 2]
    assert out["error"].tolist() == pytest.approx([-2.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="true_value"):
        mistakes_frame(df.drop(columns=["true_value"]), "regression")


def test_predicted_vs_actual_chart_has_identity_line_and_samples_large_data():
    fig = predicted_vs_actual_chart([1, 2, 3], [1.5, 2.5, 2.0])
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [1.5, 2.5, 2.0]
    assert list(fig.data[1].x) == [1.0, 3.0] == list(fig.data[1].y)
    big = predicted_vs_actual_chart(np.arange(20_000), np.arange(20_000))
    assert len(big.data[0].x) == 5000
    with pytest.raises(ValueError, match="equal lengths"):
        predicted_vs_actual_chart([1, 2], [1])


def test_model_comparison_frame_columns_per_model():
    frame = model_comparison_frame(
        [
            ("a", "classification", CLS_METRICS, {"epochs": 3.0, "learning_rate": 1e-4, "class_weighting": True}),
            ("b", "regression", REG_METRICS, {"epochs": 1.0}),
        ]
    )
    assert frame.columns.tolist() == ["a", "b"]
    assert frame.loc["macro-F1", "a"] == "0.880" and frame.loc["macro-F1", "b"] == ""
    assert frame.loc["R²", "b"] == "0.500"
    assert frame.loc["epochs"].tolist() == ["3", "1"]
    assert frame.loc["learning rate", "a"] == "0.0001"
    assert frame.loc["class weighting", "a"] == "yes"


def test_training_curve_chart_draws_one_loss_line_per_cross_validation_fit():
    # The producer's own wrapper (core.small_data.FoldEvents) names each fit; each fit counts its
    # steps from 1 again, as fit_fewshot does, and ends with a step event that has no loss.
    from core.progress import Events, ProgressEvent
    from core.small_data import FoldEvents

    sink = Events()
    folds = FoldEvents(sink, "Few-shot", 3, 24)
    losses = {part: [round(2.0 - 0.1 * part - 0.2 * step, 3) for step in range(1, 6)] for part in range(4)}
    for part in range(4):
        folds.start(part)
        for step, loss in enumerate(losses[part], start=1):
            folds.emit(ProgressEvent("train", step, 5, step / 5, loss, message=f"contrastive step {step}/5"))
        folds.emit(ProgressEvent("train", 5, 5, 1.0, message="Fitting the classification head"))
    fig = training_curve_chart([e.to_dict() for e in sink.history])
    lines = fig.data[:-1]
    assert [t.name for t in lines] == ["Loss, fold 1 of 3", "Loss, fold 2 of 3", "Loss, fold 3 of 3",
                                       "Loss, final fit on all 24 rows (after 3 folds)"]
    for part, line in enumerate(lines):
        assert list(line.x) == [1, 2, 3, 4, 5]  # each fit on the shared step axis, none going back
        assert list(line.y) == pytest.approx(losses[part])
    assert len({t.line.color for t in lines}) == 4
    assert fig.data[-1].name == "Validation macro-F1" and fig.data[-1].yaxis == "y2"
    assert "each fold" in fig.layout.xaxis.title.text
    assert list(fig.layout.xaxis.range) == [0, 5]


def test_training_curve_chart_starts_a_new_line_where_an_unnamed_fit_restarts():
    # A fine-tune, then the refit on train + validation (core.pipeline.refit: a step-less event, then step 1 again).
    events = [{"phase": "train", "step": s, "total_steps": 4, "loss": 1.0 / s} for s in range(1, 5)]
    events += [{"phase": "train", "step": 0, "total_steps": 0, "loss": None, "message": "Refitting"}]
    events += [{"phase": "train", "step": s, "total_steps": 3, "loss": 0.5 / s} for s in range(1, 4)]
    fig = training_curve_chart(events)
    assert [t.name for t in fig.data[:-1]] == ["Loss, first fit", "Loss, refit"]
    assert [list(t.x) for t in fig.data[:-1]] == [[1, 2, 3, 4], [1, 2, 3]]
    # The axis names the refit, not folds there are none of (walk, round 11).
    assert "refit trains a fresh copy" in fig.layout.xaxis.title.text and "fold" not in fig.layout.xaxis.title.text
