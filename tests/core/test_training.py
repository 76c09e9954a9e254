import threading

import numpy as np
import pytest

from core import TrainConfig, TrainingCancelled, train
from tests.conftest import make_sentiment_frame


def tiny_config(tiny_model_dir, **changes):
    base = dict(base_model=str(tiny_model_dir), method="full", epochs=2, batch_size=16, learning_rate=3e-3, max_length=32, choose_simpler=False)
    base.update(changes)
    return TrainConfig(**base)


def test_train_end_to_end_with_progress(tiny_model_dir):
    df = make_sentiment_frame(100)
    events = []
    result = train(df, tiny_config(tiny_model_dir, early_stopping_patience=100), on_progress=events.append)
    # The fine-tune, then its refit on train + validation (on by default), each reporting its steps.
    refit_at = next(i for i, e in enumerate(events) if e.message.startswith("Refitting on train + validation"))
    fine_tune = [e for e in events[:refit_at] if e.phase == "train"]
    # (the leaderboard's other candidates report "train" progress of their own)
    fine_tune = [e for e in fine_tune if e.total_steps == fine_tune[-1].total_steps]
    refit = [e for e in events[refit_at + 1:] if e.phase == "train"]
    assert fine_tune[-1].total_steps == 2 * 5  # 2 epochs x ceil(70 training rows / 16)
    assert refit[-1].total_steps == 2 * 5 == result.metrics["refit"]["steps"]  # 2 x ceil(80 / 16)
    for run in (fine_tune, refit):
        steps = [e.step for e in run]
        assert steps == list(range(1, len(steps) + 1))  # one event per optimizer step, increasing
        assert steps[-1] == run[-1].total_steps
        assert all(e.loss is not None and e.eta_s is not None for e in run)
    assert any(e.phase == "evaluate" and "macro_f1" in e.metrics for e in events)
    assert events[-1].phase == "done"
    metrics = result.metrics
    assert metrics["split_sizes"] == {"train": 70, "validation": 10, "test": 20}
    assert set(metrics["baselines"]) == {"majority", "tfidf_lr"}
    assert metrics["baselines"]["majority"]["macro_f1"] == pytest.approx(1 / 3)
    cm = metrics["model"]["confusion_matrix"]
    assert cm["labels"] == ["negative", "positive"]
    assert np.asarray(cm["matrix"]).sum() == 20
    assert set(metrics["model"]["per_class"]) == {"negative", "positive"}
    assert 0 <= metrics["model"]["roc_auc"] <= 1
    assert len(result.model.test_predictions) == 20


def test_tiny_model_learns_the_signal(trained_tiny):
    result, _ = trained_tiny
    assert result.metrics["model"]["accuracy"] >= 0.8


def test_cancel_stops_within_one_step(tiny_model_dir):
    df = make_sentiment_frame(100)
    stop = threading.Event()
    seen = []

    def on_progress(event):
        seen.append(event)
        if event.phase == "train" and event.step == 2:
            stop.set()

    with pytest.raises(TrainingCancelled):
        train(df, tiny_config(tiny_model_dir), on_progress=on_progress, cancel=stop)
    assert max(e.step for e in seen) == 2


def test_bad_mapping_raises_before_training(tiny_model_dir):
    df = make_sentiment_frame(30).assign(label="same")
    with pytest.raises(ValueError, match="at least 2 classes"):
        train(df, tiny_config(tiny_model_dir))


def test_regression(tiny_model_dir):
    df = make_sentiment_frame(120)
    rng = np.random.default_rng(0)
    df["ctr"] = np.where(df["label"] == "positive", 0.05, 0.01) + rng.normal(0, 0.002, len(df))
    result = train(df, tiny_config(tiny_model_dir, label_column="ctr", task="regression", epochs=3))
    metrics = result.metrics
    assert set(metrics["model"]) >= {"mae", "rmse", "r2", "spearman"}
    assert set(metrics["baselines"]) == {"mean", "tfidf_ridge"}
    predictions = result.model.predict(["great phone", "awful phone"])
    assert predictions.dtype.kind == "f"
    assert 0.0 < predictions.mean() < 0.1  # de-standardised back to the CTR scale
    # The verdict compares R² on the same test rows: its numbers are those of the two models' metrics.
    verdict = metrics["verdict"]
    assert verdict["metric"] == "R²" and verdict["test"]["test"].startswith("Wilcoxon")
    assert verdict["delta"] == pytest.approx(metrics["model"]["r2"] - metrics["baselines"]["tfidf_ridge"]["r2"])
    assert verdict["ci"][0] <= verdict["delta"] <= verdict["ci"][1]


def test_lora_trains_and_merges(tiny_model_dir):
    df = make_sentiment_frame(100)
    result = train(df, tiny_config(tiny_model_dir, method="lora", learning_rate=1e-2))
    assert "peft" not in type(result.model.model).__module__  # merged into a plain model
    assert result.model.predict_proba(["great", "awful"]).shape == (2, 2)


def test_profile_columns_and_class_weighting(tiny_model_dir):
    df = make_sentiment_frame(90, classes=3)
    config = tiny_config(tiny_model_dir, profile_columns=("age", "channel"), class_weighting=True)
    result = train(df, config)
    assert result.model.schema["profile_columns"] == ["age", "channel"]
    assert result.model.test_predictions["text"].iloc[0].startswith("age: ")
    assert len(result.model.classes_) == 3


def test_time_limit_keeps_a_model(tiny_model_dir):
    df = make_sentiment_frame(100)
    result = train(df, tiny_config(tiny_model_dir, epochs=50, max_train_seconds=0.5))
    assert result.stopped_reason in ("time limit", "early stopping")
    assert result.metrics["steps"] < 50 * 5


def test_split_column_is_respected(tiny_model_dir):
    df = make_sentiment_frame(60)
    df["split"] = ["train"] * 40 + ["validation"] * 8 + ["test"] * 12
    result = train(df, tiny_config(tiny_model_dir, split_column="split", epochs=1))
    assert result.metrics["split_sizes"] == {"train": 40, "validation": 8, "test": 12}


def test_chinese_text_with_english_model_warns(tiny_model_dir, monkeypatch):
    from core import base_models

    real = base_models.resolve_base_model

    def pretend_english(name):
        resolved = real(name)
        return base_models.BaseModel(resolved.name, resolved.location, ("en",), "", True)

    monkeypatch.setattr("core.prepare.resolve_base_model", pretend_english)
    df = make_sentiment_frame(40)
    df["text"] = [("很好 喜欢 满意" if lab == "positive" else "很差 失望 退货") for lab in df["label"]]
    result = train(df, tiny_config(tiny_model_dir, epochs=1))
    assert any("English-only" in w for w in result.warnings)


@pytest.mark.parametrize("regression,weighted", [(False, False), (False, True), (True, False)])
def test_a_batch_run_in_token_slices_gives_the_whole_batch_gradient(tiny_model_dir, regression, weighted):
    import torch
    from transformers import AutoModelForSequenceClassification

    from core.training import _RowLoss, _slices

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1 if regression else 3)
    model.eval()  # no dropout: the two runs must see the same network
    ids = torch.randint(5, 60, (7, 12))
    attention = torch.ones_like(ids)
    attention[3:, 9:] = 0  # some padding
    targets = torch.randn(7) if regression else torch.tensor([0, 1, 2, 2, 2, 0, 2])
    loss_fn = _RowLoss(regression, None if regression or not weighted else torch.tensor([3.0, 2.0, 0.5]))

    def gradient(max_tokens):
        model.zero_grad()
        total = loss_fn.total_weight(targets)
        for rows in _slices(len(targets), ids.shape[1], max_tokens):
            (loss_fn(model(input_ids=ids[rows], attention_mask=attention[rows]).logits, targets[rows]).sum() / total).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()

    assert [(s.start, s.stop) for s in _slices(7, 12, 30)] == [(0, 2), (2, 4), (4, 6), (6, 7)]
    whole, sliced = gradient(10_000), gradient(30)
    assert torch.allclose(whole, sliced, atol=1e-6)
    # and the whole-batch loss is torch's own (weighted) mean
    model.zero_grad()
    logits = model(input_ids=ids, attention_mask=attention).logits
    expected = (torch.nn.functional.mse_loss(logits[:, 0], targets) if regression
                else torch.nn.functional.cross_entropy(logits, targets, weight=loss_fn.class_weight))
    assert torch.isclose(loss_fn(logits, targets).sum() / loss_fn.total_weight(targets), expected)


@pytest.mark.parametrize("method,rows,chosen", [
    ("full", 60, "full"), ("lora", 60, "lora"), ("fewshot", 24, "fewshot"), ("auto", 24, "fewshot"), ("auto", 60, "full"),
])
def test_train_prepares_and_validates_the_data_once(tiny_model_dir, monkeypatch, method, rows, chosen):
    """One prepare() (and so one validate_mapping) per train(), whatever the method; "auto"
    chooses after it (24 rows: few-shot; 60 with a lowered threshold: full, then the refit run)."""
    import sys

    import core.fewshot as fewshot
    import core.prepare

    monkeypatch.setattr(fewshot, "AUTO_FEWSHOT_MAX_PER_CLASS", 20)
    monkeypatch.setattr(fewshot, "FEWSHOT_STEPS", 1)
    monkeypatch.setattr(fewshot, "CV_STEPS", 1)
    calls = {"prepare": 0, "validate_mapping": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    # Every core module's own reference, so that a trainer calling either directly is counted too.
    reals = {"prepare": core.prepare.prepare, "validate_mapping": core.prepare.validate_mapping}
    for module in [m for n, m in list(sys.modules.items()) if n == "core" or n.startswith("core.")]:
        for name, real in reals.items():
            if getattr(module, name, None) is real:
                monkeypatch.setattr(module, name, counted(name, real))
    config = tiny_config(tiny_model_dir, method=method, epochs=1, refit_on_all_rows=True)
    result = train(make_sentiment_frame(rows), config)
    assert result.metrics["method_chosen"] == chosen
    assert calls == {"prepare": 1, "validate_mapping": 1}


def _fit_with_scores(tiny_model_dir, monkeypatch, scores, **changes):
    """The loop's facts when the validation scores are scripted (one per evaluation; one
    evaluation per step: 70 training rows in batches of 16 are 5 steps an epoch)."""
    from core import training
    from core.prepare import prepare

    script = iter(scores)

    def scripted(self, model):
        score = next(script)
        return {"macro_f1": score}, score

    monkeypatch.setattr(training._Scorer, "__call__", scripted)
    config = tiny_config(tiny_model_dir, evals_per_epoch=5, **changes)
    return training.fit_transformer(prepare(make_sentiment_frame(100), config), config).metrics


@pytest.mark.parametrize("tolerance,kept", [(0.0, 2), (0.005, 5), (0.002, 3)])
def test_the_weights_kept_are_the_latest_within_the_tolerance_of_the_best(tiny_model_dir, monkeypatch, tolerance, kept):
    facts = _fit_with_scores(tiny_model_dir, monkeypatch, [0.80, 0.90, 0.899, 0.85, 0.895], epochs=1,
                             early_stopping_patience=100, checkpoint_tolerance=tolerance)
    assert (facts["steps"], facts["best_step"]) == (5, kept)


@pytest.mark.parametrize("tolerance,stopped_at,kept", [(0.0, 4, 2), (0.005, 6, 4)])
def test_an_evaluation_within_the_tolerance_resets_the_patience(tiny_model_dir, monkeypatch, tolerance, stopped_at, kept):
    facts = _fit_with_scores(tiny_model_dir, monkeypatch, [0.80, 0.90, 0.85, 0.899, 0.85, 0.85, 0.99, 0.99], epochs=2,
                             early_stopping_patience=2, checkpoint_tolerance=tolerance)
    assert (facts["stopped_reason"], facts["steps"], facts["best_step"]) == ("early stopping", stopped_at, kept)


@pytest.mark.parametrize("max_norm", [None, 0.01])
def test_gradients_are_clipped_to_max_grad_norm_before_each_step(tiny_model_dir, monkeypatch, max_norm):
    import accelerate
    import torch

    from core import training
    from core.prepare import prepare

    norms, original = [], accelerate.Accelerator.clip_grad_norm_

    def recording(self, parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = original(self, parameters, max_norm, *args, **kwargs)  # the norm before clipping
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters if p.grad is not None]))
        norms.append((float(total), float(after)))
        return total

    monkeypatch.setattr(accelerate.Accelerator, "clip_grad_norm_", recording)
    config = tiny_config(tiny_model_dir, epochs=1, max_grad_norm=max_norm)
    facts = training.fit_transformer(prepare(make_sentiment_frame(100), config), config).metrics
    if max_norm is None:
        assert norms == []
    else:
        assert len(norms) == facts["steps"] == 5
        assert all(before > max_norm and after <= max_norm * 1.001 for before, after in norms)


def test_patience_running_out_at_the_last_evaluation_is_a_completed_schedule(tiny_model_dir, monkeypatch):
    """Every step ran: the walk read "stopped: early stopping" for a fine-tune that ran 33 of 33 steps
    (its patience ran out at the last evaluation, where nothing was left to stop)."""
    facts = _fit_with_scores(tiny_model_dir, monkeypatch, [0.80, 0.90, 0.85, 0.85, 0.85], epochs=1,
                             early_stopping_patience=3)
    assert (facts["stopped_reason"], facts["steps"], facts["best_step"]) == ("completed", 5, 2)
    stopped = _fit_with_scores(tiny_model_dir, monkeypatch, [0.80, 0.90, 0.85, 0.85, 0.85, 0.85], epochs=2,
                               early_stopping_patience=3)
    assert (stopped["stopped_reason"], stopped["steps"]) == ("early stopping", 5)
