"""The API follows the model in its folder (core/serve.py): after a rollback (a retrain's promotion
swaps the folder the same way, core.versions._keep) the next request is answered by the model now
in place, ``GET /model`` describes it, and each model's scorings reach its own history.

Truths: each folder's own ``predict_proba`` computed in the test, its own metrics.json, and the
history lines counted in the test."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.models import load_folder
from core.monitor import HISTORY_FILE, history
from core.serve import create_app
from core.versions import VERSION_FILE, VERSIONS, rollback

TEXTS = ["great fast delivery love it", "terrible broken refund", "awful awful awful", "love it, great"]


@pytest.fixture
def folder(trained_tiny, tmp_path):
    """The session's tiny model in place, and under versions/v1 a copy with its class scores negated
    (it answers the opposite label) and a marked test score, as a retrain would have kept it."""
    folder = tmp_path / "models" / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    kept = folder / VERSIONS / "v1"
    shutil.copytree(trained_tiny[1], kept)
    model = load_folder(kept)
    model.model.classifier.weight.data.neg_()
    model.model.classifier.bias.data.neg_()
    model.save(kept, overwrite=True)
    metrics = json.loads((kept / "metrics.json").read_text())
    metrics.setdefault("model", {})["macro_f1"] = 0.123  # tells the two cards apart
    (kept / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((kept / "marketune.json").read_text())  # saved earlier, as a kept version was
    (kept / "marketune.json").write_text(json.dumps({**manifest, "saved_at": "2026-01-02T03:04:05+0000"}))
    for place in (folder, kept):  # the session model's own scorings by other tests are not this test's
        (place / HISTORY_FILE).unlink(missing_ok=True)
    (kept / VERSION_FILE).write_text(json.dumps({"status": "replaced by a better challenger"}))
    return folder


def expected(place) -> list[dict[str, float]]:
    model = load_folder(place)
    proba = np.asarray(model.predict_proba(TEXTS))
    return [{str(c): float(p) for c, p in zip(model.classes_, row)} for row in proba]


def check_answers(client, place) -> None:
    got = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
    for answer, probabilities in zip(got, expected(place), strict=True):
        assert answer["probabilities"] == pytest.approx(probabilities, abs=1e-5)
        assert answer["label"] == max(probabilities, key=probabilities.get)
    card = client.get("/model").json()
    metrics = json.loads((place / "metrics.json").read_text())
    assert card["test_metrics"]["macro_f1"] == pytest.approx(metrics["model"]["macro_f1"])
    assert card["saved_at"] == json.loads((place / "marketune.json").read_text())["saved_at"]
    number = place / "version_name.json"  # the version's stable number, v1 before its first retrain gives it
    assert card["version"] == (json.loads(number.read_text())["version"] if number.is_file() else "v1")


def api_rows(place) -> int:
    return sum(line["rows"] for line in history(place) if line.get("source") == "api")


def test_a_rollback_under_a_running_server_changes_the_answers_the_card_and_the_history(folder):
    original = expected(folder)
    assert [max(p, key=p.get) for p in original] != [max(p, key=p.get) for p in expected(folder / VERSIONS / "v1")]
    app = create_app(folder)
    with TestClient(app) as client:
        check_answers(client, folder)
        first = app.state.models.all()[0]

        assert rollback(folder, "v1") == "v1"  # the negated model is in place; the original is kept as v2
        check_answers(client, folder)
        assert client.get("/model").json()["test_metrics"]["macro_f1"] == pytest.approx(0.123)
        first.batcher.stop(wait_s=10)  # let go at the swap: its counts are written by its thread
        assert api_rows(folder / VERSIONS / "v2") == len(TEXTS)  # the original's scorings, moved with it
        assert not (folder / HISTORY_FILE).exists()  # none written into the negated model's history
        second = app.state.models.all()[0]

        assert rollback(folder, "v2") == "v2"  # and back: the original answers again
        check_answers(client, folder)
        assert [max(p, key=p.get) for p in expected(folder)] == [max(p, key=p.get) for p in original]
        second.batcher.stop(wait_s=10)
    # the server stopped: the last counts reached the original's history, now in place again
    assert api_rows(folder) == 2 * len(TEXTS)
    assert api_rows(folder / VERSIONS / "v1") == len(TEXTS)  # the negated model's, kept again as v1 (stable numbers)


def test_a_swap_of_candidates_under_a_running_server_keeps_the_counts_in_the_models_history(folder):
    """ "Use ... instead" puts the model being served among the candidates: its counts still belong to
    the model (core.versions.MODEL_FILES), not dropped and not written into candidates/. Truth: the
    rows sent here, and the TF-IDF candidate's own probabilities."""
    from core.versions import choose

    app = create_app(folder)
    with TestClient(app) as client:
        check_answers(client, folder)
        first = app.state.models.all()[0]
        assert choose(folder, "tfidf") == "transformer"
        check_answers(client, folder)  # the TF-IDF candidate answers now, and the card is its own
        assert client.get("/model").json()["kind"] == "tfidf"
        first.batcher.stop(wait_s=10)
        assert api_rows(folder) == len(TEXTS)  # the transformer's scorings, in the model's history
        assert not (folder / "candidates" / "transformer" / HISTORY_FILE).exists()
    assert api_rows(folder) == 2 * len(TEXTS)
