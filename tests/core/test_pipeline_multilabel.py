"""Several tags per row on the one leaderboard (core.pipeline): every candidate kind (TF-IDF one-vs-rest,
frozen embeddings one-vs-rest, few-shot with a one-vs-rest head, the sigmoid fine-tune) is scored by
micro-F1 on the same validation rows, the rule's choice is saved (the best so far at once), each kind
saves, loads and predicts tags, and the chosen model is refitted."""

from __future__ import annotations

import json
import unittest.mock

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import core.pipeline as pipeline
from core import TrainConfig
from core.evaluation import TIE_MARGIN
from core.models import KINDS, load_folder
from core.models.candidates import kept_kinds
from core.multilabel import binarize, parse_labels
from core.predict import predict_frame
from core.prepare import prepare
from tests.core.test_multilabel_training import make_tagged_frame

TAGS = ["neg", "other", "pos"]


def tiny(tiny_model_dir, **changes) -> TrainConfig:
    base = dict(base_model=str(tiny_model_dir), label_column="tags", multi_label=True, epochs=2, batch_size=16,
                max_length=32, learning_rate=3e-3, early_stopping_patience=100)
    return TrainConfig(**{**base, **changes})


def rule(scores: list[float]) -> int:
    """The choice rule written again: cheapest first, a later one leads only when more than TIE_MARGIN ahead."""
    leader = 0
    for i, score in enumerate(scores):
        if score - scores[leader] > TIE_MARGIN:
            leader = i
    return leader


def run(df: pd.DataFrame, config: TrainConfig, folder, monkeypatch) -> tuple:
    """Train with a spy on the validation predictions of each candidate (kind -> indicator matrix)
    and the best so far saved at ``folder`` each time it changes."""
    val_rows = prepare(df, config).splits["validation"]
    predicted: dict[str, np.ndarray] = {}
    real_score = pipeline.score_tags

    def spy(model, prepared, positions):
        scored = real_score(model, prepared, positions)
        if np.array_equal(positions, val_rows):
            predicted[next(k for k, cls in KINDS.items() if type(model) is cls)] = np.asarray(scored.pred, dtype=int)
        return scored

    saves = []

    def on_leader(result):
        saves.append(result.metrics["saved_kind"])
        result.save(folder, overwrite=folder.exists())

    monkeypatch.setattr(pipeline, "score_tags", spy)
    result = pipeline.train(df, config, on_leader=on_leader)
    result.save(folder, overwrite=True)
    return result, predicted, saves, prepare(df, config).y[val_rows]


def check_tags(folder, expected_kind: str) -> None:
    """The folder loads as ``expected_kind`` and predicts predicted_labels + p_<tag>, each row's tags
    being those at or above the thresholds its thresholds.json holds."""
    model = load_folder(folder)
    assert json.loads((folder / "marketune.json").read_text())["kind"] == expected_kind and model.multi_label
    cuts = json.loads((folder / "thresholds.json").read_text())["thresholds"]
    out = predict_frame(model, pd.DataFrame({"text": ["great love it", "bad hate this", "phone order"]}))
    assert list(out.columns[1:5]) == ["predicted_labels", "p_neg", "p_other", "p_pos"]
    for _, row in out.iterrows():
        assert row["predicted_labels"] == "|".join(t for t, cut in zip(TAGS, cuts) if row[f"p_{t}"] >= cut)


def test_every_cheap_kind_runs_with_tags_and_the_rules_choice_is_saved(tiny_model_dir, tmp_path, monkeypatch):
    """TF-IDF one-vs-rest, frozen embeddings one-vs-rest and few-shot with a one-vs-rest head (the
    data is small) on one split; scores are scikit-learn's micro-F1 of each candidate's own
    validation predictions."""
    df, config = make_tagged_frame(90), tiny(tiny_model_dir, method="fewshot")
    monkeypatch.setattr(pipeline, "_sentence_encoder", lambda _config: True)  # the tiny BERT as an encoder
    monkeypatch.setattr("core.fewshot.FEWSHOT_STEPS", 10)  # a fast few-shot fit (the candidate, not its quality)
    folder = tmp_path / "model"
    result, predicted, saves, truth = run(df, config, folder, monkeypatch)
    order = [k for k in ("tfidf", "embedding", "fewshot", "transformer") if k in predicted]
    assert order == ["tfidf", "embedding", "fewshot"]
    scores = [f1_score(truth, predicted[k], average="micro", zero_division=0) for k in order]
    chosen = order[rule(scores)]
    assert result.metrics["validation"] == pytest.approx(dict(zip(order, scores)))
    assert result.metrics["saved_kind"] == chosen and result.metrics["verdict"]["metric"] == "micro-F1"
    assert saves[0] == "tfidf" and saves[-1] == chosen  # the best so far saved at once, then each new leader
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert [k for k, r in rows.items() if r["leader"]] == [chosen] and rows["tfidf"]["metric"] == "micro_f1"
    assert rows["transformer"]["status"] == "skipped"
    # Every candidate saves, loads and predicts tags, the chosen one in place, the others kept.
    check_tags(folder, chosen)
    assert kept_kinds(folder) == sorted(set(order) - {chosen})
    for kind in kept_kinds(folder):
        check_tags(folder / "candidates" / kind, kind)
    assert result.metrics["multi_label"] and {"tfidf_ovr", "most_common_tag"} <= set(result.metrics["baselines"])
    assert set(result.metrics["thresholds"]) == set(TAGS)


def test_the_fine_tune_with_tags_is_a_candidate_and_the_chosen_model_is_refitted(tiny_model_dir, tmp_path, monkeypatch):
    df = make_tagged_frame(120)
    config = tiny(tiny_model_dir, method="full", refit_on_all_rows=True, choose_simpler=False)
    folder = tmp_path / "model"
    fitted_thresholds = {}
    from core.multilabel_training import carry_tags as real_carry

    def carry(model, source, prepared):
        fitted_thresholds[type(model).__name__] = np.array(source.thresholds)
        return real_carry(model, source, prepared)

    with unittest.mock.patch("core.multilabel_training.carry_tags", carry):
        result, predicted, saves, truth = run(df, config, folder, monkeypatch)
    assert sorted(predicted) == ["tfidf", "transformer"] and saves == ["tfidf", "transformer"]
    assert result.metrics["saved_kind"] == "transformer"  # kept as the settings ask
    # Refitted on train + validation, with the thresholds chosen on validation by the copy fitted on the training rows.
    n = result.metrics["split_sizes"]
    assert result.metrics["refit"]["rows"] == n["train"] + n["validation"]
    saved = load_folder(folder)
    assert np.allclose(saved.thresholds, fitted_thresholds["TextClassifier"])
    check_tags(folder, "transformer")
    check_tags(folder / "candidates" / "tfidf", "tfidf")  # refitted on every labelled row, thresholds kept
    assert np.allclose(load_folder(folder / "candidates" / "tfidf").thresholds, fitted_thresholds["TfidfClassifier"])
    # The reported test numbers are scikit-learn's on the saved test predictions.
    frame = result.model.test_predictions
    Y, _ = binarize(parse_labels(frame["true_labels"].tolist(), "|")[0], TAGS)
    P, _ = binarize(parse_labels(frame["predicted_labels"].fillna("").tolist(), "|")[0], TAGS)
    assert result.metrics["model"]["micro_f1"] == pytest.approx(f1_score(Y, P, average="micro", zero_division=0))


def test_a_failed_fine_tune_with_tags_keeps_tfidf_one_vs_rest(tiny_model_dir, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(pipeline, "fit_transformer", broken)
    folder = tmp_path / "model"
    result = pipeline.train(make_tagged_frame(60), tiny(tiny_model_dir, method="full"),
                            on_leader=lambda r: r.save(folder, overwrite=folder.exists()))
    assert result.metrics["saved_kind"] == "tfidf" and list(result.metrics["failed_candidates"]) == ["transformer"]
    check_tags(folder, "tfidf")


def _counting(monkeypatch, target: str) -> list[int]:
    """Wrap the fit at ``target`` (module.function): each call's number of training rows is recorded."""
    import importlib

    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    real, rows = getattr(module, name), []

    def fit(prepared, *args, **kwargs):
        rows.append(int(len(prepared.splits["train"])))
        return real(prepared, *args, **kwargs)

    monkeypatch.setattr(module, name, fit)
    return rows


@pytest.mark.parametrize("method, fit", [("fewshot", "core.pipeline.fit_fewshot"), ("embedding", "core.embedding.fit_embedding")])
def test_a_tagged_model_is_refitted_with_the_cut_offs_its_training_rows_copy_chose(method, fit, tiny_model_dir, tmp_path,
                                                                                   monkeypatch):
    """Issue 27, round 8: the few-shot and embeddings models with tags are refitted on train +
    validation and carry the per-tag cut-offs chosen on validation by the copy fitted on the training
    rows (measured against keeping that copy: docs/measurements.md, "Round 8: the refit of a
    multi-label model"). Independent truth: the fit runs on the training rows, then on train +
    validation; the saved cut-offs are core.multilabel.cut_offs of the first copy's own validation
    probabilities; the test numbers of both are scikit-learn's on their own test predictions."""
    from core.multilabel import cut_offs

    monkeypatch.setattr(pipeline, "_sentence_encoder", lambda _config: True)  # the tiny BERT as an encoder
    monkeypatch.setattr("core.fewshot.FEWSHOT_STEPS", 10)
    rows = _counting(monkeypatch, fit)
    copies = []  # the models whose thresholds were chosen on validation (the training-rows copies)
    real_set = pipeline.set_thresholds

    def set_thresholds(model, prepared):
        copies.append(model)
        return real_set(model, prepared)

    monkeypatch.setattr(pipeline, "set_thresholds", set_thresholds)
    df = make_tagged_frame(90)
    config = tiny(tiny_model_dir, method=method, choose_simpler=False)
    folder = tmp_path / "model"
    result, _, _, truth = run(df, config, folder, monkeypatch)
    prepared = prepare(df, config)
    s, Y_test = prepared.splits, prepared.y[prepared.splits["test"]]
    assert result.metrics["saved_kind"] == method
    assert rows == [len(s["train"]), len(s["train"]) + len(s["validation"])]  # the candidate, then the refit
    assert result.metrics["refit"]["rows"] == len(s["train"]) + len(s["validation"])
    copy = next(m for m in copies if type(m).__name__ == type(result.model).__name__)
    expected, _ = cut_offs(truth, np.asarray(copy.predict_proba(prepared.texts_at(s["validation"]))),
                           prepared.y[s["train"]].mean(axis=0))
    saved = load_folder(folder)
    assert np.allclose(saved.thresholds, expected) and np.allclose(copy.thresholds, expected)
    # Both scored on the same test rows at the same cut-offs: the saved (refitted) model and the copy (before_refit).
    for model, key in ((saved, "model"), (copy, "before_refit")):
        pred = np.asarray(model.predict_proba(prepared.texts_at(s["test"]))) >= np.asarray(expected)[None, :]
        assert result.metrics[key]["micro_f1"] == pytest.approx(f1_score(Y_test, pred, average="micro", zero_division=0))
        assert result.metrics[key]["hamming_loss"] == pytest.approx(float((pred != Y_test.astype(bool)).mean()))


def test_a_single_label_embeddings_model_is_still_refitted_on_train_and_validation(tiny_model_dir, monkeypatch):
    """The refit is unchanged for one label per row: the embeddings are fitted again on train + validation."""
    monkeypatch.setattr(pipeline, "_sentence_encoder", lambda _config: True)
    rows = _counting(monkeypatch, "core.embedding.fit_embedding")
    df = make_tagged_frame(90).assign(tags=lambda d: d["tags"].str.split(" | ", regex=False).str[0])
    config = tiny(tiny_model_dir, method="embedding", multi_label=False, choose_simpler=False)
    result = pipeline.train(df, config)
    s = prepare(df, config).splits
    assert result.metrics["saved_kind"] == "embedding"
    assert rows == [len(s["train"]), len(s["train"]) + len(s["validation"])]
    assert result.metrics["refit"]["rows"] == len(s["train"]) + len(s["validation"]) and "before_refit" in result.metrics
