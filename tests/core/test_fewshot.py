import json
import threading

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open

import core.fewshot as fewshot
from core import TrainConfig, TrainingCancelled, load_folder, train
from core.evaluation import combine_folds, cv_summary_frame
from core.fewshot import choose_method, fit_head, train_fewshot
from core.models.fewshot import FewShotClassifier, head_proba
from tests.conftest import make_sentiment_frame

# The tiny random BERT learns the sentiment words with a large step, 24 texts per step and its
# (random) word embeddings trained (measured: CV macro-F1 0.84 on 40 rows with 20 steps at
# lr 1e-2; TF-IDF 0.76). With them frozen, as for real models, it stays near 0.6.
STEPS = 20
TEXTS_PER_STEP = 24


def tiny_config(tiny_model_dir, **changes):
    settings = dict(base_model=str(tiny_model_dir), max_length=32, learning_rate=1e-2, method="fewshot")
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def fewshot_run(tiny_model_dir):
    """One few-shot training on 40 rows (20 per class): (result, events, data)."""
    df = make_sentiment_frame(40)
    events = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fewshot, "FREEZE_WORD_EMBEDDINGS", False)
        result = train_fewshot(
            df, tiny_config(tiny_model_dir), on_progress=events.append, steps=STEPS, texts_per_step=TEXTS_PER_STEP
        )
    return result, events, df


# --------------------------------------------------------------------------- method choice


def test_auto_choice_at_the_threshold_boundaries():
    limit, max_rows = fewshot.AUTO_FEWSHOT_MAX_PER_CLASS, fewshot.AUTO_FEWSHOT_MAX_ROWS
    assert choose_method(limit, 2 * limit)[0] == "fewshot"
    assert choose_method(limit + 1, 2 * (limit + 1))[0] == "full"
    assert choose_method(3, max_rows)[0] == "fewshot"
    assert choose_method(3, max_rows + 1)[0] == "full"  # one tiny class in a big data set
    assert choose_method(8, 24, task="regression")[0] == "full"
    method, reason = choose_method(8, 24, n_classes=3)
    assert method == "fewshot" and "8 labelled rows" in reason and "3 classes" in reason

    # several tags per row: the counts are rows carrying each tag, said as tags (walk: "13 labelled rows (600 rows
    # across 7 classes)" for GoEmotions tags)
    method, reason = choose_method(13, 600, n_classes=7, tags=True)
    assert method == "fewshot" and "the smallest tag has 13 rows carrying it" in reason and "across 7 tags" in reason
    assert "smallest class" not in reason and "classes)" not in reason
    assert "every tag has more than" in choose_method(limit + 1, 2 * (limit + 1), tags=True)[1]


def test_train_auto_dispatches_and_says_why(tiny_model_dir, monkeypatch):
    # Thresholds lowered so that both sides of the boundary train in seconds on the tiny model.
    monkeypatch.setattr(fewshot, "AUTO_FEWSHOT_MAX_PER_CLASS", 10)
    monkeypatch.setattr(fewshot, "FEWSHOT_STEPS", 3)
    monkeypatch.setattr(fewshot, "CV_STEPS", 3)
    common = dict(base_model=str(tiny_model_dir), max_length=32, epochs=1, batch_size=16, choose_simpler=False)
    events = []
    small = train(make_sentiment_frame(20), TrainConfig(**common), on_progress=events.append)  # 10 per class
    assert small.metrics["method_chosen"] == "fewshot"
    assert isinstance(small.model, FewShotClassifier)
    assert "10 labelled rows" in small.metrics["method_reason"]
    assert events[0].phase == "prepare" and events[0].message == small.metrics["method_reason"]
    assert small.model.training_config["method"] == "fewshot"
    assert small.model.training_config["extra"]["method_requested"] == "auto"

    large = train(make_sentiment_frame(22), TrainConfig(**common))  # 11 per class
    assert large.metrics["method_chosen"] == "full"
    assert "more than 10" in large.metrics["method_reason"]
    assert type(large.model).__name__ == "TextClassifier"


def test_config_accepts_the_new_methods_and_defaults_to_auto():
    assert TrainConfig().method == "auto"
    assert TrainConfig(method="fewshot").effective_learning_rate == 2e-5
    assert TrainConfig(method="auto").effective_learning_rate == 1e-4
    with pytest.raises(ValueError, match="method"):
        TrainConfig(method="setfit")


# --------------------------------------------------------------------------- training


def test_fewshot_end_to_end_learns_with_progress(fewshot_run):
    result, events, df = fewshot_run
    train_events = [e for e in events if e.phase == "train" and e.loss is not None]
    steps = [e.step for e in train_events]
    k = result.metrics["cv"]["k"]
    assert steps == list(range(1, (k + 1) * STEPS + 1))  # one event per step, folds + final model
    assert all(e.total_steps == (k + 1) * STEPS for e in train_events)
    assert sum(e.phase == "evaluate" for e in events) == k
    assert any("head" in e.message for e in events if e.phase == "train")
    assert events[-1].phase == "done"
    assert result.metrics["model"]["macro_f1"] >= 0.7  # cross-validated; chance is 0.5
    assert result.model.predict(["great great love", "bad awful hate"]).tolist() == ["positive", "negative"]
    proba = result.model.predict_proba(df)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(axis=1), 1)


def test_cross_validated_metrics_on_a_tiny_data_set(fewshot_run):
    result, _, df = fewshot_run
    m = result.metrics
    assert m["evaluation"] == "3-fold cross-validation"  # 40 rows: 3 folds of ~13 rows
    cv = m["cv"]
    assert cv["k"] == 3 and sum(f["n_test"] for f in cv["folds"]) == len(df)
    for scores in (cv["model"]["macro_f1"], cv["baselines"]["tfidf_lr"]["macro_f1"]):
        assert len(scores["values"]) == 3
        assert scores["min"] <= scores["mean"] <= scores["max"]
        assert scores["std"] == pytest.approx(np.std(scores["values"], ddof=1))
    assert m["model"]["macro_f1"] == pytest.approx(cv["model"]["macro_f1"]["mean"])
    assert np.asarray(m["model"]["confusion_matrix"]["matrix"]).sum() == len(df)  # every row once
    assert set(m["baselines"]) == {"majority", "tfidf_lr"}
    assert m["split_sizes"] == {"train": 40, "validation": 0, "test": 40}  # the final model saw all
    # out-of-fold predictions: every row once, with its fold
    preds = result.model.test_predictions
    assert sorted(preds["row"]) == list(df.index) and set(preds["fold"]) == {1, 2, 3}
    assert any("rough" in w for w in result.warnings)
    assert any("across the 3 cross-validation folds" in w for w in result.warnings)


def test_fold_count_follows_rows_and_the_smallest_class():
    from core.fewshot import cv_folds

    assert cv_folds(24, 8) == 3  # 8 rows per test fold
    assert cv_folds(80, 40) == 4
    assert cv_folds(100, 50) == cv_folds(190, 20) == 5
    assert cv_folds(120, 4) == 4  # each fold needs one row of every class
    assert cv_folds(40, 2) == 2


def test_folds_shrink_for_a_tiny_class(tiny_model_dir):
    df = make_sentiment_frame(200)
    df = pd.concat([df[df.label == "positive"], df[df.label == "negative"].head(3)])  # 100 + 3 rows
    result = train_fewshot(df, tiny_config(tiny_model_dir), steps=2)
    assert result.metrics["cv"]["k"] == 3
    assert "smallest class 'negative': 3" in " ".join(result.warnings)


def test_large_data_uses_a_test_split(tiny_model_dir):
    df = make_sentiment_frame(200)
    result = train_fewshot(df, tiny_config(tiny_model_dir), steps=2)
    assert "cv" not in result.metrics
    assert result.metrics["split_sizes"]["test"] == 40
    assert len(result.model.test_predictions) == 40 and "fold" not in result.model.test_predictions


def test_cancel_stops_within_one_step(tiny_model_dir):
    stop = threading.Event()
    seen = []

    def on_progress(event):
        seen.append(event)
        if event.phase == "train" and event.step == 3:
            stop.set()

    with pytest.raises(TrainingCancelled):
        train_fewshot(make_sentiment_frame(40), tiny_config(tiny_model_dir), on_progress, stop, steps=STEPS)
    assert max(e.step for e in seen) == 3


def test_regression_is_refused(tiny_model_dir):
    df = make_sentiment_frame(40).assign(ctr=np.linspace(0, 1, 40))
    with pytest.raises(ValueError, match="classes"):
        train_fewshot(df, tiny_config(tiny_model_dir, label_column="ctr", task="regression"))


# --------------------------------------------------------------------------- saving


def test_save_load_round_trip_identical_and_without_pickle(fewshot_run, tmp_path):
    result, _, df = fewshot_run
    folder = result.save(tmp_path / "fs")
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "head.safetensors", "config.json", "marketune.json", "metrics.json"} <= names
    for path in folder.iterdir():  # weights are safetensors, everything else is text
        assert path.suffix in {".json", ".safetensors", ".txt", ".csv", ".md"}, path.name
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="numpy") as handle:
                assert list(handle.keys())
        else:
            path.read_text(encoding="utf-8")
    manifest = json.loads((folder / "marketune.json").read_text())
    assert manifest["kind"] == "fewshot" and manifest["classes"] == ["negative", "positive"]
    loaded = load_folder(folder)
    assert isinstance(loaded, FewShotClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(df), result.model.predict_proba(df))
    assert loaded.metrics["cv"]["k"] == 3
    assert loaded.test_predictions["fold"].tolist() == result.model.test_predictions["fold"].tolist()
    assert loaded.input_columns == ["text"]


def test_predict_frame_works_with_a_fewshot_model(fewshot_run):
    from core.predict import predict_frame

    result, _, _ = fewshot_run
    out = predict_frame(result.model, pd.DataFrame({"text": ["great phone", "", "awful"]}))
    assert list(out["predicted_label"])[1] == "" and set(out["predicted_label"][[0, 2]]) <= {"negative", "positive"}
    assert {"p_negative", "p_positive", "confidence"} <= set(out.columns)


# --------------------------------------------------------------------------- head


@pytest.mark.parametrize("n_classes", [2, 3])
def test_head_probabilities_match_scikit_learn(n_classes):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = np.arange(60) % n_classes
    x[:, 0] += y
    coef, intercept = fit_head(x, y, n_classes)
    reference = LogisticRegression(C=fewshot.HEAD_C, max_iter=1000, random_state=42).fit(x, y)
    np.testing.assert_allclose(head_proba(x, coef, intercept), reference.predict_proba(x), rtol=1e-9, atol=1e-12)


def test_head_keeps_every_class_when_a_fold_lacks_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4))
    y = np.array([0, 2] * 10)  # class 1 absent
    coef, intercept = fit_head(x, y, 3)
    proba = head_proba(x, coef, intercept)
    assert proba.shape == (20, 3) and np.allclose(proba.sum(axis=1), 1)
    assert proba[:, 1].max() < 1e-6


def test_combine_folds_pools_the_confusion_matrix():
    from core import classification_metrics

    folds = [
        classification_metrics(["a", "b"], ["a", "a"], ["a", "b"]),
        classification_metrics(["a", "b", "b"], ["a", "b", "b"], ["a", "b"]),
    ]
    combined = combine_folds(folds, ["a", "b"])
    assert combined["confusion_matrix"]["matrix"] == [[2, 0], [1, 2]]
    assert combined["accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert combined["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    assert combined["n"] == 5


def test_cv_summary_frame(fewshot_run):
    result, _, _ = fewshot_run
    table = cv_summary_frame(result.metrics)
    assert table["model"].tolist() == ["this model", "majority class", "TF-IDF + logistic regression"]
    assert table["folds"].tolist() == [3, 3, 3]
    assert table.loc[0, "mean"] == pytest.approx(result.metrics["cv"]["model"]["macro_f1"]["mean"])
    assert cv_summary_frame({"model": {}}).empty


def test_word_embeddings_stay_fixed_and_the_layers_move(tiny_model_dir):
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_model_dir)
    result = train_fewshot(make_sentiment_frame(30), tiny_config(tiny_model_dir), steps=3)
    body = result.model.body
    assert np.array_equal(body.get_input_embeddings().weight.detach().numpy(), base.get_input_embeddings().weight.detach().numpy())
    moved = body.encoder.layer[0].attention.self.query.weight.detach().numpy()
    assert not np.array_equal(moved, base.encoder.layer[0].attention.self.query.weight.detach().numpy())
    assert result.metrics["fewshot"]["word_embeddings_frozen"] is True
