"""The fixed holdout stays fixed once a model has one: a promotion's new comparison rows judge only that
comparison (round 8 walk: rows joining it, less those both models got wrong, inflated every later
holdout score). On every retrain the new rows whose given label both models call otherwise
(core.versions.suspected_label_errors: likely label errors) are listed in holdout_review.csv for a
person to check.

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


def test_a_promotion_keeps_the_fixed_holdout_and_lists_the_rows_both_models_call_otherwise(leaning):
    folder = leaning
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    test[["text", "true_label"]].to_csv(folder / "holdout.csv", index=False)  # a holdout an earlier retrain wrote
    holdout_bytes = (folder / "holdout.csv").read_bytes()
    data = make_sentiment_frame(160, seed=11)
    new = make_sentiment_frame(80, seed=12)
    seen = set(test["text"]) | set(data["text"])
    new = new[~new["text"].isin(seen)].drop_duplicates("text").reset_index(drop=True)
    # Flip a known set: every second positive row is labelled negative.
    flip = new.index[new["label"] == "positive"][::2]
    new.loc[flip, "label"] = "negative"
    flipped = set(new.loc[flip, "text"])

    outcome = challenge(folder, data, new)
    assert outcome.promoted, outcome.sentence
    assert (folder / "holdout.csv").read_bytes() == holdout_bytes  # the fixed holdout stays, byte for byte
    holdout = pd.read_csv(folder / "holdout.csv", keep_default_na=False, dtype=str)
    review = pd.read_csv(folder / HOLDOUT_REVIEW, keep_default_na=False, dtype=str)
    assert oct((folder / HOLDOUT_REVIEW).stat().st_mode & 0o777) == "0o600"  # customer text, like holdout.csv
    assert list(review.columns) == list(REVIEW_COLUMNS)
    # The comparison's new rows: new texts neither model trained on (the review's among them); none joined.
    assert not set(new["text"]) & set(holdout["text"])
    given = dict(zip(new["text"], new["label"]))
    review_texts = set(review["text"])
    assert review_texts <= set(new["text"])
    before, after = predictions(folder / VERSIONS / "v1", list(review_texts)), predictions(folder, list(review_texts))
    # (a) each listed row is one both models call otherwise, with the label given and both predictions.
    for row, b, a in zip(review.set_index("text").loc[list(review_texts)].itertuples(), before, after):
        assert row.given_label == given[row.Index] != b and row.given_label != a
        assert row.model_in_use_predicted == b and row.challenger_predicted == a
        assert row.retrain.startswith("v2 promoted in place of v1, ")
    assert outcome.n_review == len(review) > 0 and review_texts & flipped  # the truth has something to say
    assert sum(t in flipped for t in review_texts) / len(review_texts) >= 0.5  # mostly the flipped rows

    n = len(review)
    assert outcome.review_file == str(folder / HOLDOUT_REVIEW)
    assert (f"{n} rows both models call otherwise are listed to check: {folder / HOLDOUT_REVIEW}.") in outcome.sentence
    assert f"The fixed holdout stays as it was ({len(test)} rows)" in outcome.sentence
    assert "The fixed holdout stays fixed" in rule_in_words(folder)
    assert "listed in a file for you to check" in rule_in_words(folder)

    # A rollback keeps the fixed holdout and its review file as they are, whichever version is in place.
    review_bytes = (folder / HOLDOUT_REVIEW).read_bytes()
    assert rollback(folder) == "v1"
    assert (folder / "holdout.csv").read_bytes() == holdout_bytes
    assert (folder / HOLDOUT_REVIEW).read_bytes() == review_bytes
    assert oct((folder / HOLDOUT_REVIEW).stat().st_mode & 0o777) == "0o600"
    assert rollback(folder) == "v2" and (folder / HOLDOUT_REVIEW).read_bytes() == review_bytes


def test_the_outcome_counts_the_rows_to_check_and_the_disagreement_and_names_the_file():
    from core.versions import outcome_sentence

    ahead = {"delta": 0.05, "ci": (0.02, 0.08), "n": 40, "within_noise": False}
    one = outcome_sentence(True, "v1", "v2", ahead, 30, 10, n_review=1, review_file="/m/holdout_review.csv",
                           disagrees=(0.55, 0.44))
    assert "The fixed holdout stays as it was (30 rows): the 10 new rows of this comparison judged only this one" in one
    assert ("The model in use disagrees with 55% of your new labels, against 44% on the fixed holdout: some new "
            "labels may be wrong, or your texts have changed.") in one
    assert one.endswith("1 row both models call otherwise is listed to check: /m/holdout_review.csv. Correct the wrong "
                        "labels and add those rows to the next retrain's new rows.")
    # Not promoted: the rows to check and the disagreement are said all the same.
    kept = outcome_sentence(False, "v1", "v2", {**ahead, "delta": -0.05, "ci": (-0.08, -0.02)}, 30, 10, n_review=3,
                            review_file="/m/holdout_review.csv", disagrees=(0.1, 0.08))
    assert "The fixed holdout stays as it was (30 rows)" in kept
    assert "disagrees with 10% of your new labels, against 8% on the fixed holdout." in kept  # no alarm: close
    assert "3 rows both models call otherwise are listed to check: /m/holdout_review.csv." in kept
    # No fixed holdout (cross-validated): the first promotion's new rows less the suspect ones become it.
    first = outcome_sentence(True, "v1", "v2", ahead, 0, 10, n_review=2, review_file="/m/r.csv", disagrees=(0.3, None))
    assert "8 of the 10 new rows of this comparison are now the fixed holdout" in first
    assert "disagrees with 30% of your new labels." in first


def test_the_rows_the_challenger_trained_on_are_its_own_split_sizes():
    from core.versions import trained_in_words, trained_rows

    plain = trained_rows({"split_sizes": {"train": 778, "validation": 111, "test": 222}}, 1111)
    assert plain["learned"] == 778
    assert trained_in_words(plain) == ("trained on 778 rows (111 more chose its settings and 222 checked it; all 1,111 "
                                       "were its to learn from)")
    refit = trained_rows({"split_sizes": {"train": 778, "validation": 111, "test": 222}, "refit": {"rows": 889}}, 1111)
    assert refit["learned"] == 889
    assert trained_in_words(refit) == ("trained on 889 rows (778, then again with the 111 that chose its settings; "
                                       "222 checked it; all 1,111 were its to learn from)")
