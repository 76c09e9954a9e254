"""The Models page's Versions tab in AppTest: "Retrain with new labels" runs as a background job
(kind "retrain", a real worker), says the rule before and the comparison after, promotes only a
better challenger; a rollback asks first. Truths: each folder's own predictions on the fixed
holdout, computed in the test (tests/test_versions.py's helper), and the job's own state."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import list_jobs
from core.models import load_folder
from core.versions import VERSIONS, list_versions
from tests.conftest import make_sentiment_frame
from tests.core.test_versions import holdout_accuracy
from tests.ui.test_page_models import ROOT
from tests.ui.test_page_train import frame_with, texts


@pytest.fixture
def flipped_model(models_dir, trained_tiny):
    """The session's tiny model with its class scores negated, saved as "sentiment": plainly worse."""
    folder = models_dir / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    model = load_folder(folder)
    model.model.classifier.weight.data.neg_()
    model.model.classifier.bias.data.neg_()
    model.save(folder, overwrite=True)
    # One epoch for the challenger (the job trains with the saved settings): the test is about the job
    # and the page, and a negated model is beaten by any challenger that learnt anything.
    settings = json.loads((folder / "training_config.json").read_text())
    (folder / "training_config.json").write_text(json.dumps({**settings, "epochs": 1.0}))
    return folder


def open_versions() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, key: str, df: pd.DataFrame) -> None:
    at.file_uploader(key=key).set_value((f"{key}.csv", df.to_csv(index=False).encode(), "text/csv")).run()


def test_retrain_from_the_page_promotes_a_better_challenger_then_rolls_back(flipped_model):
    before = holdout_accuracy(flipped_model)
    n_test = len(pd.read_csv(flipped_model / "test_predictions.csv"))
    at = open_versions()
    rule = " ".join(m.value for m in at.markdown)
    assert f"fixed holdout ({n_test:,} rows)" in rule and "more than 0.5 points higher" in rule
    assert at.button(key="models_versions_start").disabled  # nothing uploaded yet
    upload(at, "models_versions_old", make_sentiment_frame(160, seed=1))
    upload(at, "models_versions_new", make_sentiment_frame(40, seed=2))
    at.button(key="models_versions_start").click().run()
    assert not at.exception, at.exception
    [job] = list_jobs(kind="retrain")
    deadline = time.monotonic() + 240
    while list_jobs(kind="retrain")[0].active and time.monotonic() < deadline:
        time.sleep(1)
    [job] = list_jobs(kind="retrain")
    assert job.state == "done", job.message
    at.run()
    assert "was promoted" in texts(at.success)
    assert holdout_accuracy(flipped_model) > before  # the model in place is the better one
    assert [v["status"] for v in list_versions(flipped_model)] == ["replaced by a better challenger"]
    assert frame_with(at, "what happened")["what happened"].tolist() == ["replaced by a better challenger"]

    at.button(key="models_versions_rollback").click().run()
    assert "kept as a new version" in texts(at.warning)
    assert holdout_accuracy(flipped_model) > before  # asked, not done yet
    at.button(key="models_versions_confirm").click().run()
    assert "**v1** is in place again" in texts(at.success)
    assert holdout_accuracy(flipped_model) == pytest.approx(before)
    assert (flipped_model / VERSIONS / "v2").is_dir()


def test_a_table_without_the_label_is_refused_before_any_job(flipped_model):
    at = open_versions()
    upload(at, "models_versions_old", make_sentiment_frame(40, seed=1))
    upload(at, "models_versions_new", make_sentiment_frame(20, seed=2).drop(columns="label"))
    at.button(key="models_versions_start").click().run()
    assert "The new labelled rows lack ['label']" in texts(at.error)
    assert list_jobs(kind="retrain") == []


def test_a_model_without_versions_says_what_a_retrain_keeps(flipped_model):
    at = open_versions()
    assert any("No earlier version yet" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "models_versions_rollback"]
