"""The leaderboard (core.pipeline): the rule's choice is saved, no candidate is lost, the best so
far is usable while a later candidate runs, a hopeless fine-tune is stopped early."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import core.pipeline as pipeline
from core import TrainConfig
from core.evaluation import TIE_MARGIN, Scored
from core.models import KINDS, load_folder
from core.models.candidates import kept_kinds
from core.prepare import prepare
from core.result import Fitted
from tests.conftest import make_sentiment_frame


def tiny(tiny_model_dir, **changes) -> TrainConfig:
    base = dict(base_model=str(tiny_model_dir), method="full", epochs=2, batch_size=16, max_length=32,
                learning_rate=3e-3, early_stopping_patience=100)
    return TrainConfig(**{**base, **changes})


def rule(scores: list[float]) -> int:
    """The choice rule, written again here: cheapest first, a later one replaces the leader only
    when it is more than TIE_MARGIN ahead."""
    leader = 0
    for i, score in enumerate(scores):
        if score - scores[leader] > TIE_MARGIN:
            leader = i
    return leader


@pytest.mark.parametrize("f1s", [(0.70, 0.703, 0.72), (0.70, 0.704, 0.70), (0.80, 0.60, 0.70), (0.5, 0.9, 0.95)])
def test_choose_leader_is_the_rule_on_validation_macro_f1(f1s):
    rng = np.random.default_rng(0)
    true = np.array(["a", "b"] * 500, dtype=object)
    fitted, scores = [], []
    for kind, target in zip(("tfidf", "fewshot", "transformer"), f1s):
        # Predictions with about the target macro-F1: flip a share of the rows.
        pred = true.copy()
        flip = rng.random(len(true)) < 1 - target
        pred[flip] = np.where(true[flip] == "a", "b", "a")
        score = f1_score(true, pred, average="macro")
        scores.append(score)
        val = Scored({"macro_f1": score}, pd.DataFrame(), pred, None)
        fitted.append(Fitted(kind, None, val, val, 0.0))
    assert pipeline.choose_leader(fitted, "classification") == fitted[rule(scores)].kind
    # The settings' "keep the fine-tune" wins once it ran, whatever the scores.
    assert pipeline.choose_leader(fitted, "classification", preferred="transformer") == "transformer"


def test_the_saved_model_is_the_rules_choice_no_candidate_is_lost_and_the_best_so_far_is_usable(tiny_model_dir, tmp_path,
                                                                                              monkeypatch):
    """Scores recomputed with scikit-learn from each candidate's own validation predictions; the
    best so far is loaded from the folder while the fine-tune runs."""
    df, config = make_sentiment_frame(120), tiny(tiny_model_dir)
    folder = tmp_path / "model"
    val_rows = prepare(df, config).splits["validation"]
    val_true = prepare(df, config).labels[val_rows]
    predicted: dict[str, np.ndarray] = {}
    real_evaluate = pipeline.evaluate

    def spy(model, prepared, positions):  # the validation predictions of each candidate, by its kind
        scored = real_evaluate(model, prepared, positions)
        if np.array_equal(positions, val_rows):
            kind = next(k for k, cls in KINDS.items() if type(model) is cls)
            predicted[kind] = np.asarray(scored.pred, dtype=str)
        return scored

    seen_while_running = []
    real_fit = pipeline.fit_transformer

    def fit_transformer(*args, **kwargs):  # the fine-tune starts: the folder holds the best so far
        model = load_folder(folder)
        kind = json.loads((folder / "marketune.json").read_text())["kind"]
        seen_while_running.append((kind, list(model.predict(["great phone", "awful refund"]))))
        return real_fit(*args, **kwargs)

    saves = []

    def on_leader(result):
        saves.append(result.metrics["saved_kind"])
        result.save(folder, overwrite=folder.exists())

    monkeypatch.setattr(pipeline, "evaluate", spy)
    monkeypatch.setattr(pipeline, "fit_transformer", fit_transformer)
    events = []
    result = pipeline.train(df, config, on_progress=events.append, on_leader=on_leader)
    result.save(folder, overwrite=True)

    order = [k for k in ("tfidf", "embedding", "fewshot", "transformer") if k in predicted]
    assert order == ["tfidf", "transformer"]
    scores = [f1_score(val_true.astype(str), predicted[k], average="macro", labels=["negative", "positive"]) for k in order]
    chosen = order[rule(scores)]
    assert result.metrics["saved_kind"] == chosen == json.loads((folder / "marketune.json").read_text())["kind"]
    assert result.metrics["validation"] == pytest.approx(dict(zip(order, scores)))
    # No finished candidate is lost: every other one is kept, whole, in candidates/<kind>/.
    assert kept_kinds(folder) == sorted(set(order) - {chosen})
    for kind in kept_kinds(folder):
        assert type(load_folder(folder / "candidates" / kind)) is KINDS[kind]
    # While the fine-tune ran, the TF-IDF model (the first leader) was in the folder and predicting.
    assert saves[0] == "tfidf" and seen_while_running == [("tfidf", ["positive", "negative"])]
    # The leaderboard: every change sent, the last one complete (skipped ones say why).
    boards = [e.leaderboard for e in events if e.leaderboard]
    running = [b for b in boards if any(r["kind"] == "transformer" and r["status"] == "running" for r in b)]
    assert running and all(r["saved"] and r["leader"] for r in running[0] if r["kind"] == "tfidf")
    final = {r["kind"]: r for r in boards[-1]}
    assert final["embedding"]["status"] == final["fewshot"]["status"] == "skipped" and final["fewshot"]["note"]
    assert [k for k, r in final.items() if r["leader"]] == [chosen]
    assert final["tfidf"]["score"] == pytest.approx(scores[0]) and final["tfidf"]["n_val"] == len(val_rows)
    assert final["tfidf"]["cv_n"] == len(val_rows) + len(prepare(df, config).splits["train"])


def test_a_hopeless_fine_tune_is_stopped_early_and_the_leader_stays_saved(tiny_model_dir, tmp_path, monkeypatch):
    import core.training

    df = make_sentiment_frame(160)
    # A learning rate of 1e-9: the fine-tune cannot move from chance, TF-IDF gets every row.
    config = tiny(tiny_model_dir, epochs=10, learning_rate=1e-9, evals_per_epoch=2)
    # This tiny network gives every row one class at every evaluation: not judged against the
    # leader (BehindTheLeader), so its own patience ends it, and TF-IDF stays the saved model.
    alone = pipeline.train(df, config)
    assert {e.metrics["predicted_classes"] for e in alone.history if e.phase == "evaluate"} == {1}
    assert alone.metrics["saved_kind"] == "tfidf"
    assert {r["kind"]: r for r in alone.metrics["leaderboard"]}["transformer"]["status"] == "done"
    # Made to report two classes, the same run is judged: stopped early behind the leader.
    evaluate = core.training._evaluate
    monkeypatch.setattr(core.training, "_evaluate", lambda *a: {**evaluate(*a), "predicted_classes": 2})
    folder = tmp_path / "model"
    result = pipeline.train(df, config, on_leader=lambda r: r.save(folder, overwrite=folder.exists()))
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert rows["transformer"]["status"] == "stopped early" and "behind" in rows["transformer"]["note"]
    assert rows["tfidf"]["leader"] and result.metrics["saved_kind"] == "tfidf"
    assert json.loads((folder / "marketune.json").read_text())["kind"] == "tfidf"
    # The rule, checked on the evaluations it saw: the stop came at the first evaluation after 40%
    # of the planned steps whose best so far trailed TF-IDF by more than the margin, without a new best.
    evaluations = [(e.step, e.metrics["macro_f1"]) for e in result.history if e.phase == "evaluate"]
    total, stop_step = result.metrics["total_steps"], result.metrics["steps"]
    assert stop_step < total and evaluations[-1][0] == stop_step
    leader = rows["tfidf"]["score"]
    expected = next(step for i, (step, score) in enumerate(evaluations)
                    if i >= 1 and step >= 0.4 * total and leader - max(s for _, s in evaluations[:i + 1]) > 0.05
                    and score <= max(s for _, s in evaluations[:i]))
    assert stop_step == expected
    # The stopped fine-tune is kept as a candidate (its best weights so far).
    assert kept_kinds(result.save(tmp_path / "final")) == ["transformer"]


def test_cancel_after_the_first_leader_takes_the_jobs_model_away(tiny_model_dir, tmp_path):
    """A training job that saved its best so far and is then cancelled leaves nothing (it created the folder)."""
    from core import worker
    from core.jobs import job_status, write_state

    models, folder = tmp_path / "models", tmp_path / "jobs" / "20260101-000000-abcdef"
    folder.mkdir(parents=True)
    make_sentiment_frame(80).to_csv(folder / "data.csv", index=False)
    config = tiny(tiny_model_dir, epochs=3)
    (folder / "request.json").write_text(json.dumps({"config": config.to_dict(), "model_name": "m1",
                                                     "models_dir": str(models), "overwrite": False, "created": 0}))
    write_state(folder, "queued")
    real_fit = pipeline.fit_transformer

    def cancel_when_the_fine_tune_starts(*args, **kwargs):
        assert (models / "m1" / "marketune.json").is_file()  # the best so far is in the registry
        (folder / "cancel").touch()
        return real_fit(*args, **kwargs)

    import unittest.mock

    with unittest.mock.patch.object(pipeline, "fit_transformer", cancel_when_the_fine_tune_starts):
        worker.run(folder)
    assert job_status(folder.name, folder.parent).state == "cancelled"
    assert not (models / "m1").exists()
    assert Path(folder / "events.jsonl").is_file()


def test_a_resumed_job_keeps_the_fine_tunes_events_up_to_its_checkpoint(tmp_path):
    """The worker's trim before a resume: the fine-tune's events up to the checkpoint's step stay
    (the live chart continues), the earlier candidates' events go (they run again)."""
    from core import worker
    from core.jobs import CHECKPOINT

    folder = tmp_path / "job"
    step_folder = folder / CHECKPOINT / "step-0000004-abcdef"
    step_folder.mkdir(parents=True)
    (step_folder / "trainer.json").write_text("{}")
    (folder / CHECKPOINT / "latest.json").write_text(json.dumps({"folder": step_folder.name, "step": 4, "total_steps": 8}))

    def board(status):
        return {"phase": "candidates", "step": 0, "leaderboard": [{"kind": "tfidf", "status": "done"},
                                                               {"kind": "transformer", "status": status}]}

    embedding = [{"phase": "train", "step": s, "total_steps": 3} for s in (1, 2, 3)]
    fine_tune = [{"phase": "train", "step": s, "total_steps": 8} for s in range(1, 7)]
    fine_tune += [{"phase": "evaluate", "step": 2, "total_steps": 8}, {"phase": "evaluate", "step": 4, "total_steps": 8}]
    fine_tune.sort(key=lambda e: (e["step"], e["phase"] == "evaluate"))
    events = [board("waiting"), *embedding, board("running"), *fine_tune]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    worker._trim_events(folder, response=False)
    kept = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert kept == [e for e in fine_tune if e["step"] <= 4]


def test_small_data_scores_every_candidate_out_of_fold_on_every_row(tiny_model_dir):
    """30 labelled rows (core.fewshot.is_small): TF-IDF and few-shot are each fitted on k-1 folds
    and score the k-th, the rule chooses on all 30 out-of-fold rows (not a 3-row validation split),
    and the saved copy is trained on every row. Independent truth: TF-IDF's out-of-fold macro-F1
    recomputed here with scikit-learn's cross_val_predict on the same folds."""
    from sklearn.model_selection import cross_val_predict

    from core.evaluation import tfidf_estimator
    from core.fewshot import cross_validation_folds

    df = make_sentiment_frame(30, classes=3)
    config = tiny(tiny_model_dir, method="fewshot")
    saves: list[str] = []
    events: list = []
    result = pipeline.train(df, config, on_leader=lambda r: saves.append(r.metrics["saved_kind"]), on_progress=events.append)
    m = result.metrics
    prepared = prepare(df, config)
    folds = cross_validation_folds(prepared, config.seed)
    assert m["evaluation"] == f"{len(folds)}-fold cross-validation" and m["split_sizes"]["test"] == 30
    oof = cross_val_predict(tfidf_estimator("classification", 1.0), prepared.texts, prepared.labels, cv=folds)
    assert m["validation"]["tfidf"] == pytest.approx(f1_score(prepared.labels, oof, average="macro"))
    assert {row["kind"]: row["n_val"] for row in m["leaderboard"] if row["status"] == "done"} == {"tfidf": 30, "fewshot": 30}
    order = [m["validation"]["tfidf"], m["validation"]["fewshot"]]
    assert m["saved_kind"] == ["tfidf", "fewshot"][rule(order)]
    assert saves[0] == "tfidf" and saves[-1] == m["saved_kind"]  # the best so far first, then the rule's choice
    assert set(result.alternatives) == {"tfidf", "fewshot"} - {m["saved_kind"]}
    assert m["refit"]["rows"] == 30 and len(result.model.predict_proba(prepared.texts)) == 30  # trained on every row
    assert "out-of-fold rows" in m["verdict"]["reason"]
    fold_progress_is_named(events, len(folds), 30)


def fold_progress_is_named(events: list, k: int, n: int) -> None:
    """The few-shot candidate's step counter restarts for each of the k folds and the final fit:
    every step event names its fit, in order, and the bar the Train and Label pages draw from
    the events (ui.train_job.progress_text) says the fold and never goes backwards."""
    from core.jobs import JobStatus
    from ui.train_job import progress_text

    at = [i for i, e in enumerate(events) if e.phase == "train" and e.total_steps and e.message.startswith("The few-shot")]
    steps = [events[i] for i in at]
    restarts = 1 + sum(b.step < a.step for a, b in zip(steps, steps[1:]))
    assert restarts == k + 1  # independent count: where the trainer's own step counter went back
    names = list(dict.fromkeys(e.metrics["fold"] for e in steps))
    assert names == [f"fold {i} of {k}" for i in range(1, k + 1)] + [f"final fit on all {n} rows (after {k} folds)"]
    dicts = [e.to_dict() for e in events]
    shown = [progress_text(JobStatus(id="x", state="running", model_name="m", created=0.0, events=dicts[:i + 1]), now=1.0)
             for i in at]
    assert [f for f, _ in shown] == sorted(f for f, _ in shown)  # the bar never goes back
    assert f"fold 2 of {k} · step" in shown[len(shown) // (k + 1) + 1][1]
    # The live loss chart (ui.train_job): one line per fit, never a line that goes back to step 1.
    from core.charts.evaluation import training_curve_chart

    lines = training_curve_chart(dicts).data[:-1]
    assert [t.name for t in lines] == [f"Loss, {name}" for name in names]
    with_loss = [e for e in steps if e.loss is not None]
    assert [x for t in lines for x in t.x] == [e.step for e in with_loss]  # every point, in order, none lost
    assert all(list(t.x) == sorted(t.x) for t in lines)


def test_a_fine_tune_giving_every_row_one_class_is_not_stopped_for_being_behind():
    """BehindTheLeader: the same evaluation, far behind the leader and not closing, stops the
    fine-tune when it gives two classes and not when it gives one (not started to separate them);
    the class count comes from core.training._evaluate, checked against np.unique of its argmax."""
    import types

    from core.training import LoopState, _evaluate

    def judged(predicted_classes: int) -> str:
        state = LoopState(started=0.0, train_started=0.0, step=40, best_score=0.07, evals_since_best=1,
                          scores=[(11, 0.07), (22, 0.07), (33, 0.07), (40, 0.07)])
        event = types.SimpleNamespace(metrics={"macro_f1": 0.07, "predicted_classes": predicted_classes})
        pipeline.BehindTheLeader(0.60, "TF-IDF", "classification", 100).on_evaluate(
            state, types.SimpleNamespace(total_steps=66), event)
        return state.stopped_reason

    assert judged(2) == pipeline.BehindTheLeader.REASON
    assert judged(1) == "completed"

    torch = pytest.importorskip("torch")

    class Tied(torch.nn.Module):  # logits that favour class 2 for every row, as a collapsed network's do
        def forward(self, input_ids, attention_mask):
            return types.SimpleNamespace(logits=torch.tensor([[0.0, 0.1, 0.2]]).repeat(len(input_ids), 1))

    rows = [(torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 3), torch.tensor([0, 1, 2, 0]))]
    loader = type("Loader", (), {"__iter__": lambda self: iter(rows), "dataset": range(4)})()
    accelerator = types.SimpleNamespace(gather_for_metrics=lambda pair: pair)
    val = _evaluate(Tied(), loader, accelerator, True, ["a", "b", "c"], (0.0, 1.0))
    assert val["predicted_classes"] == np.unique(np.full(4, 2)).size == 1
    assert val["macro_f1"] == pytest.approx(f1_score([0, 1, 2, 0], [2, 2, 2, 2], average="macro"))
