"""One progress type (core/progress.py ProgressEvent) from every long run: training (the
leaderboard and few-shot), the response comparison, batch prediction, rewrites and the data check
each send ProgressEvents whose ``fraction`` is in [0, 1] and never goes back within a phase (a
run of consecutive events of one phase), and ends at 1 where the run says it is done."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

from core import TrainConfig
from core.check import check
from core.fewshot import fit_and_score_fewshot
from core.generate import suggest_rewrites
from core.predict import predict_csv
from core.prepare import prepare
from core.progress import ProgressEvent
from core.response import ResponseSetup, train_response_models
from tests.conftest import make_sentiment_frame
from tests.core.test_generate import BASE, REPLIES, FakeModel, Scripted
from tests.core.test_response import campaign_table


def assert_sound(events: list, phases: set[str] | None = None) -> None:
    """Every event a ProgressEvent, its fraction a number in [0, 1], non-decreasing within each
    run of consecutive events of one phase; ``phases``: the phases that must appear."""
    assert events, "no progress event was sent"
    assert all(type(e) is ProgressEvent for e in events), {type(e).__name__ for e in events}
    for e in events:
        assert isinstance(e.fraction, float) and 0.0 <= e.fraction <= 1.0, e
    for phase, run in itertools.groupby(events, key=lambda e: e.phase):
        fractions = [e.fraction for e in run]
        assert fractions == sorted(fractions), (phase, fractions)
    if phases is not None:
        assert phases <= {e.phase for e in events}, {e.phase for e in events}


def test_fraction_defaults_to_the_steps_done_and_is_kept_in_range():
    assert ProgressEvent("train", 3, 12).fraction == 0.25  # step / total_steps
    assert ProgressEvent("prepare").fraction == 0.0 and ProgressEvent("done").fraction == 1.0
    assert [ProgressEvent("x", fraction=f).fraction for f in (-0.5, 1.7, math.nan, math.inf)] == [0.0, 1.0, 0.0, 1.0]
    event = ProgressEvent("check", fraction=0.4, message="Checking")
    assert ProgressEvent(**event.to_dict()) == event  # a job's events.jsonl line reads back the same


def test_training_sends_sound_events(trained_tiny):
    result = trained_tiny[0]  # core.pipeline.train: the leaderboard, then the fine-tune's steps
    assert_sound(result.history, {"prepare", "train", "evaluate", "done"})
    assert result.history[-1].fraction == 1.0
    steps = [e for e in result.history if e.phase == "train" and e.total_steps]
    assert all(e.fraction == pytest.approx(e.step / e.total_steps) for e in steps)


def test_fewshot_cross_validation_sends_sound_events(tiny_model_dir):
    df = make_sentiment_frame(24)
    config = TrainConfig(base_model=str(tiny_model_dir), method="fewshot", max_length=16)
    events: list = []
    fit_and_score_fewshot(prepare(df, config), config, events.append, steps=2, texts_per_step=4, cv=True)
    assert_sound(events, {"prepare", "train", "evaluate", "done"})
    train = [e for e in events if e.phase == "train" and "fold" in e.message]
    assert train and train[-1].total_steps > train[0].total_steps / 2  # folds counted as one run


def test_comparison_sends_sound_events():
    events: list = []
    train_response_models(campaign_table(240), ResponseSetup(["age", "segment", "channel"], ["review"], "y", "yes",
                                                             include_transformer=False), on_progress=events.append)
    assert_sound(events, {"prepare", "tabular", "hybrid", "calibrate", "done"})
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)  # one bar for the whole run
    assert events[-1].fraction == 1.0


def test_prediction_sends_sound_events(trained_tiny, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": make_sentiment_frame(25)["text"]}).to_csv(source, index=False)
    events: list = []
    predict_csv(trained_tiny[0].model, source, tmp_path / "out.csv", chunk_rows=10, on_progress=events.append)
    assert_sound(events, {"predict"})
    assert [(e.step, e.total_steps) for e in events] == [(10, 25), (20, 25), (25, 25)]
    assert events[-1].fraction == 1.0


def test_rewrites_send_sound_events():
    events: list = []
    suggest_rewrites(BASE, 2, classifier=FakeModel(features=()), keep_words=["dress"], avoid_words=["cheap"],
                     max_chars=80, generator=Scripted([r for r, _ in REPLIES]), max_attempts=len(REPLIES),
                     on_progress=events.append)
    assert_sound(events, {"write", "score"})
    assert events[-1].fraction == 1.0 and events[-1].metrics["kept"] == 2


def test_the_data_check_sends_sound_events_and_stops_when_cancelled():
    df = make_sentiment_frame(80)[["text", "label"]]
    config = TrainConfig(text_columns=("text",), label_column="label")
    events: list = []
    check(df, config, on_progress=events.append)
    assert_sound(events, {"check"})
    assert events[-1].fraction == 1.0
    from core.progress import TrainingCancelled

    seen: list = []
    with pytest.raises(TrainingCancelled):
        check(df, config, on_progress=seen.append, cancel=lambda: len(seen) >= 2)
    assert len(seen) == 2  # stopped at the next step after the cancel
