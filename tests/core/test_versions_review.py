"""A promotion's new comparison rows join the fixed holdout, less those whose given label both
models call otherwise (core.versions.suspected_label_errors): likely label errors, set aside in
holdout_review.csv for a person to check instead of judging every later challenger (round 8 walk:
200 flipped labels of new rows could be promoted and then join the holdout for good).

Truths: the set of new rows whose labels the test itself flipped, and each saved folder's own
predictions of the comparison rows, computed here; for the selection, predictions written by hand."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from core.models import load_folder
from core.versions import (
    HOLDOUT_REVIEW,
    REVIEW_COLUMNS,
    VERSIONS,
    challenge,
    rollback,
    rule_in_words,
    suspected_label_errors,
)
from tests.conftest import make_sentiment_frame


def test_suspected_label_errors_are_the_rows_both_models_call_otherwise():
    given = ["pos", "neg", "pos", "neu", "neg", "pos", 1]
    in_use = ["neg", "neg", "neg", "pos", "pos", "pos", "0"]
    challenger = ["neg", "pos", "pos", "neg", "pos", "pos", 0]
    # row 0: both say neg for pos; 1: in use agrees; 2: challenger agrees; 3: both disagree with
    # the label and with each other; 4: both say pos for neg; 5: both agree; 6: labels compare as text
    assert suspected_label_errors(given, in_use, challenger).tolist() == [True, False, False, True, True, False, True]
    assert suspected_label_errors([], [], []).tolist() == []
    with pytest.raises(ValueError, match="as many"):
        suspected_label_errors(["a"], ["a", "b"], ["a"])


@pytest.fixture
def leaning(trained_tiny, tmp_path):
    """The session's tiny model with its "positive" score raised so far that it calls about half the
    negative rows positive: a model in use a challenger beats, that still reads positive rows right."""
    folder = tmp_path / "models" / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    model = load_folder(folder)
    classes = [str(c) for c in model.classes_]
    pos, neg = classes.index("positive"), classes.index("negative")
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    negatives = test.loc[test["true_label"] == "negative", "text"].astype(str).tolist()
    proba = model.predict_proba(negatives)
    margin = np.log(proba[:, neg]) - np.log(proba[:, pos])  # how far each negative row is from "positive"
    model.model.classifier.bias.data[pos] += float(np.median(margin)) + 1e-3
    model.save(folder, overwrite=True)
    return folder


def predictions(folder, texts: list[str]) -> np.ndarray:
    return np.asarray([str(v) for v in load_folder(folder).predict(texts)], dtype=object)


def test_a_promotion_sets_the_rows_both_models_call_otherwise_aside_for_review(leaning):
    folder = leaning
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    data = make_sentiment_frame(160, seed=11)
    new = make_sentiment_frame(80, seed=12)
    seen = set(test["text"]) | set(data["text"])
    new = new[~new["text"].isin(seen)].drop_duplicates("text").reset_index(drop=True)
    # Flip a known set: every second positive row is labelled negative.
    flip = new.index[new["label"] == "positive"][::2]
    truth = dict(zip(new["text"], new["label"]))
    new.loc[flip, "label"] = "negative"
    flipped = set(new.loc[flip, "text"])

    outcome = challenge(folder, data, new)
    assert outcome.promoted, outcome.sentence
    holdout = pd.read_csv(folder / "holdout.csv", keep_default_na=False, dtype=str)
    review = pd.read_csv(folder / HOLDOUT_REVIEW, keep_default_na=False, dtype=str)
    assert oct((folder / HOLDOUT_REVIEW).stat().st_mode & 0o777) == "0o600"  # customer text, like holdout.csv
    assert list(review.columns) == list(REVIEW_COLUMNS)
    # The comparison's new rows: the new texts now in the holdout or set aside (none other is either).
    compared = [t for t in new["text"] if t in set(holdout["text"]) | set(review["text"])]
    assert len(compared) == outcome.n_new_eval and len(holdout) + len(review) == len(test) + outcome.n_new_eval
    given = dict(zip(new["text"], new["label"]))
    before, after = predictions(folder / VERSIONS / "v1", compared), predictions(folder, compared)
    otherwise = {t for t, b, a in zip(compared, before, after) if b != given[t] and a != given[t]}
    flipped_compared = flipped & set(compared)
    assert len(flipped_compared) >= 3 and flipped_compared & otherwise  # the truth has something to say

    # (a) No flipped row both models call otherwise joined the fixed holdout; (b) each is set aside for
    # review, with the label given and both models' predictions.
    assert not flipped_compared & otherwise & set(holdout["text"])
    assert flipped_compared & otherwise <= set(review["text"])
    assert set(review["text"]) == otherwise and outcome.n_review == len(review) == len(otherwise)
    for row in review.itertuples():
        assert row.given_label == given[row.text] != truth[row.text]  # here every one is a flipped row
        assert row.model_in_use_predicted == before[compared.index(row.text)]
        assert row.challenger_predicted == after[compared.index(row.text)]
        assert row.retrain.startswith("v2 promoted in place of v1, ")
    # (c) Rows labelled right that the models agree with (either one) join the holdout, label as given.
    agreed = [t for t, b, a in zip(compared, before, after) if t not in flipped and given[t] in (b, a)]
    assert agreed and set(agreed) <= set(holdout["text"])
    joined = holdout[holdout["text"].isin(agreed)]
    assert (joined["true_label"] == joined["text"].map(given)).all()
    assert holdout["text"].head(len(test)).tolist() == test["text"].astype(str).tolist()  # the old holdout stays

    n = len(review)
    assert outcome.review_file == str(folder / HOLDOUT_REVIEW)
    assert (f"{n} of the new rows were not added to the fixed holdout: both models call them otherwise, so their "
            f"labels may be wrong; check these labels: {folder / HOLDOUT_REVIEW}.") in outcome.sentence
    assert (f"{outcome.n_new_eval - n} of the {outcome.n_new_eval} new rows of this comparison now join the fixed "
            f"holdout ({len(holdout)} rows)") in outcome.sentence
    assert "set aside in a file for you to check" in rule_in_words(folder)

    # A rollback keeps the fixed holdout and its review file as they are, whichever version is in place.
    holdout_bytes, review_bytes = (folder / "holdout.csv").read_bytes(), (folder / HOLDOUT_REVIEW).read_bytes()
    assert rollback(folder) == "v1"
    assert (folder / "holdout.csv").read_bytes() == holdout_bytes
    assert (folder / HOLDOUT_REVIEW).read_bytes() == review_bytes
    assert oct((folder / HOLDOUT_REVIEW).stat().st_mode & 0o777) == "0o600"
    assert rollback(folder) == "v2" and (folder / HOLDOUT_REVIEW).read_bytes() == review_bytes


def test_the_outcome_counts_the_rows_set_aside_and_names_the_file():
    from core.versions import outcome_sentence

    ahead = {"delta": 0.05, "ci": (0.02, 0.08), "n": 40, "within_noise": False}
    one = outcome_sentence(True, "v1", "v2", ahead, 30, 10, n_review=1, review_file="/m/holdout_review.csv")
    assert "9 of the 10 new rows of this comparison now join the fixed holdout (39 rows)" in one
    assert one.endswith("1 of the new rows was not added to the fixed holdout: both models call it otherwise, so its "
                        "label may be wrong; check these labels: /m/holdout_review.csv. Correct the wrong ones and "
                        "add those rows to the next retrain's new rows.")
    every = outcome_sentence(True, "v1", "v2", ahead, 30, 10, n_review=10, review_file="/m/holdout_review.csv")
    assert "None of the 10 new rows of this comparison joined the fixed holdout (still 30 rows)." in every
    assert "10 of the new rows were not added to the fixed holdout: both models call them otherwise" in every
    # Not promoted: no new row joins, none is set aside (the sentence says so as before).
    kept = outcome_sentence(False, "v1", "v2", {**ahead, "delta": -0.05, "ci": (-0.08, -0.02)}, 30, 10)
    assert "were not added to the fixed holdout (still 30 rows)" in kept and "check these labels:" not in kept
