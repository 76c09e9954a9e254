"""The constant baselines of a multi-label result and its honest verdict (core/multilabel_training.py):
"each tag's most common value" is scikit-learn's DummyClassifier, and a model no better than a
constant guess on Hamming loss is never shown as a plain success (the Train page's outcome, the
results view's banner, the CLI's warning)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from core.jobs import JobStatus
from core.multilabel import multilabel_metrics
from core.multilabel_training import MOST_FREQUENT, baseline_notes, most_frequent_per_tag
from ui.train_job import outcome_message

TAGS = ["joy", "anger", "fear"]


def _tags(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    return (rng.random((n, len(shares))) < np.asarray(shares)).astype(int)


def test_each_tags_most_common_value_is_predicted_for_every_row():
    rng = np.random.default_rng(0)
    train, test = _tags(rng, 400, (0.7, 0.2, 0.05)), _tags(rng, 100, (0.7, 0.2, 0.05))
    found = most_frequent_per_tag(train, test, TAGS)
    on = train.mean(axis=0) > 0.5  # by hand: a tag on more than half the training rows is given to every row
    assert found["predicts"] == [t for t, o in zip(TAGS, on) if o] == ["joy"]
    guess = np.tile(on.astype(int), (len(test), 1))
    assert found["hamming_loss"] == pytest.approx(skm.hamming_loss(test, guess))
    assert found["micro_f1"] == pytest.approx(skm.f1_score(test, guess, average="micro", zero_division=0))
    sparse = most_frequent_per_tag(_tags(rng, 400, (0.3, 0.2, 0.05)), test, TAGS)
    assert sparse["predicts"] == [] and sparse["hamming_loss"] == pytest.approx(test.mean())  # no tag at all


def _baselines(test: np.ndarray, train: np.ndarray) -> dict:
    common = np.zeros_like(test)
    common[:, int(np.argmax(train.sum(axis=0)))] = 1
    return {"most_common_tag": multilabel_metrics(test, common, TAGS), MOST_FREQUENT: most_frequent_per_tag(train, test, TAGS)}


def test_a_model_that_over_tags_is_told_which_baseline_it_fails_on_hamming_loss():
    rng = np.random.default_rng(1)
    train, test = _tags(rng, 400, (0.4, 0.2, 0.1)), _tags(rng, 200, (0.4, 0.2, 0.1))
    over = np.where(rng.random(test.shape) < 0.55, 1, test)  # every true tag found, many false ones added
    saved = multilabel_metrics(test, over, TAGS)
    baselines = _baselines(test, train)
    nothing = np.zeros_like(test)
    assert skm.f1_score(test, over, average="micro") > skm.f1_score(test, np.tile(train.sum(0) == train.sum(0).max(),
                                                                                   (len(test), 1)), average="micro")
    assert skm.hamming_loss(test, over) > skm.hamming_loss(test, nothing)  # worse than predicting no tag at all
    warning, caution = baseline_notes(saved, baselines)
    assert warning == ""  # it finds tags: usable
    assert "each tag's most common value (here: no tag at all)" in caution
    assert f"{skm.hamming_loss(test, over):.3f}" in caution and f"{skm.hamming_loss(test, nothing):.3f}" in caution
    good = multilabel_metrics(test, test, TAGS)
    assert baseline_notes(good, baselines) == ("", "")


def test_a_model_below_the_most_common_tag_on_micro_f1_is_not_usable():
    rng = np.random.default_rng(2)
    train, test = _tags(rng, 400, (0.45, 0.2, 0.1)), _tags(rng, 200, (0.45, 0.2, 0.1))
    weak = np.zeros_like(test)
    weak[:5, 2] = 1  # almost never predicts anything
    warning, caution = baseline_notes(multilabel_metrics(test, weak, TAGS), _baselines(test, train))
    assert "always the most common tag" in warning
    assert f"{skm.f1_score(test, weak, average='micro', zero_division=0):.3f}" in warning


def test_a_caution_is_a_warning_on_the_train_page_but_the_model_stays_active():
    done = JobStatus(id="j", state="done", model_name="tags", created=0.0)
    caution = "Its Hamming loss on the 20 test rows is 0.300, no better than each tag's most common value (0.200)."
    kind, text = outcome_message(done, {"verdict": {"useless": False, "caution": caution, "reason": "Kept."}})
    assert kind == "warning" and "0.300" in text and "now the active model" in text
    assert outcome_message(done, {"verdict": {"useless": False, "reason": "Kept."}})[0] == "success"


def test_the_results_view_shows_the_caution_as_a_warning_not_a_plain_verdict():
    from streamlit.testing.v1 import AppTest

    def view():
        from ui.results import render_verdict

        caution = ("Its Hamming loss on the 119 test rows is 0.281, no better than the 0.160 of each tag's most "
                   "common value (here: no tag at all).")
        render_verdict({"saved_kind": "tfidf", "task": "classification", "verdict": {
            "useless": False, "reason": "TF-IDF was saved.", "sentence": f"TF-IDF was saved. {caution}",
            "caution": caution}})

    at = AppTest.from_function(view).run()
    assert not at.exception
    assert len(at.warning) == 1 and "0.281, no better than the 0.160 of each tag's" in at.warning[0].value
    assert not at.success
    account = " ".join(m.value for m in at.markdown)  # which model was saved and why, without the caution again
    assert "TF-IDF was saved." in account and "0.281" not in account


def test_the_live_leaderboard_line_is_a_warning_when_the_saved_leader_has_a_caution():
    from streamlit.testing.v1 import AppTest

    def live():
        import streamlit as st

        from ui.leaderboard import render_live
        from ui.results import notice_markdown

        rows = [{"kind": "tfidf", "title": "TF-IDF + logistic regression", "status": "done", "saved": True,
                 "leader": True, "score": 0.5, "metric": "micro_f1"}]
        link = st.page_link  # no pages in a one-function app: the link is not what is tested here
        st.page_link = lambda *args, **kwargs: None
        try:
            render_live(rows, "tags", "live", caution=notice_markdown({"caution": "Its Hamming loss on the 24 test rows is 0.389."}))
        finally:
            st.page_link = link

    at = AppTest.from_function(live).run()
    assert not at.exception
    assert not at.success and "usable now" in at.warning[0].value and "0.389" in at.warning[0].value
    assert "**Worse than a constant guess on one measure:**" in at.warning[0].value  # the words every view uses
