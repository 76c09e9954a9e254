"""Retraining with a challenger (core/versions.py): a worse challenger is not promoted, a better one
is, every version is kept, and a rollback puts the old one back. Truths: each folder's own
predictions on the fixed holdout, computed in the test."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from core.cli import main as cli_main
from core.models import load_folder
from core.versions import (
    VERSIONS,
    challenge,
    history_events,
    holdout_path,
    list_versions,
    outcome_in_brief,
    rollback,
    rollback_risk,
    version_name,
)
from tests.conftest import make_sentiment_frame


def holdout_accuracy(folder) -> float:
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    pred = load_folder(folder).predict(test["text"].astype(str).tolist())
    return float(np.mean(np.asarray(pred, dtype=str) == test["true_label"].astype(str).to_numpy()))


@pytest.fixture
def flipped(trained_tiny, tmp_path):
    """The session's tiny model with its class scores negated: a model in use that is plainly worse."""
    folder = tmp_path / "models" / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    model = load_folder(folder)
    model.model.classifier.weight.data.neg_()
    model.model.classifier.bias.data.neg_()
    model.save(folder, overwrite=True)
    assert (folder / "test_predictions.csv").is_file()
    return folder


def test_a_better_challenger_is_promoted_kept_and_rolled_back(flipped):
    before = holdout_accuracy(flipped)
    n_test = len(pd.read_csv(flipped / "test_predictions.csv"))
    data, new = make_sentiment_frame(160, seed=1), make_sentiment_frame(40, seed=2)
    outcome = challenge(flipped, data, new)
    assert outcome.promoted and outcome.sentence.startswith("Promoted: v2 is now in use in place of v1.")
    assert outcome.in_use == "v2" and outcome_in_brief(outcome.sentence) == "promoted: v2 now in use"
    assert outcome.n_holdout == n_test and outcome.n_new_eval == 12
    holdout = pd.read_csv(flipped / "holdout.csv")  # carried by the model in place: the old test split, fixed
    assert len(holdout) == n_test and oct((flipped / "holdout.csv").stat().st_mode & 0o777) == "0o600"
    test = pd.read_csv(flipped / VERSIONS / "v1" / "test_predictions.csv", keep_default_na=False)
    assert holdout["text"].astype(str).tolist() == test["text"].astype(str).tolist()
    assert f"The fixed holdout stays as it was ({n_test:,} rows)" in outcome.sentence
    after = holdout_accuracy(flipped)
    assert after > before  # the model in place now is the better one, on rows neither trained on
    kind = json.loads((flipped / "marketune.json").read_text())["kind"]  # the comparison names whose it is
    assert json.loads((flipped / "comparison.json").read_text())["compared_kind"] == kind
    [kept] = list_versions(flipped)
    assert kept["version"] == "v1" and kept["status"] == "replaced by a better challenger"
    assert version_name(flipped) == "v2" and version_name(flipped / VERSIONS / "v1") == "v1"
    assert holdout_accuracy(flipped / VERSIONS / "v1") == pytest.approx(before)

    assert rollback(flipped) == "v1"
    assert holdout_accuracy(flipped) == pytest.approx(before)
    versions = {v["version"]: v for v in list_versions(flipped)}
    assert set(versions) == {"v2"} and versions["v2"]["status"] == "set aside by a rollback from v2 to v1"
    assert holdout_accuracy(flipped / VERSIONS / "v2") == pytest.approx(after)

    # Each model's comparison travels with it: the challenger set aside keeps its "promoted", and the
    # replaced model, rolled in and out again, still says it lost (rollback_risk warns).
    delta = outcome.comparison["delta"]
    assert versions["v2"]["outcome"] == "promoted" and versions["v2"]["sentence"] == outcome.sentence
    assert rollback(flipped) == "v2"  # the default undoes the last change: the model in use before it
    # Numbers are stable: the flipped model is v1 wherever it is, the challenger v2; no v3 appears.
    [v1] = list_versions(flipped)
    assert v1["version"] == "v1" and v1["status"] == "set aside by a rollback from v1 to v2"
    assert version_name(flipped) == "v2"
    assert v1["outcome"] == "replaced by a better challenger" and v1["comparison"]["delta"] == pytest.approx(delta)
    assert holdout_accuracy(flipped / VERSIONS / "v1") == pytest.approx(before)  # the flipped model, aside again
    assert [e["event"] for e in history_events(flipped)] == [
        "v2 (a challenger) was promoted in place of v1", "rolled back from v2 to v1: v1 is in use, v2 is kept",
        "rolled back from v1 to v2: v2 is in use, v1 is kept"]
    risk = rollback_risk(flipped, "v1")
    assert risk.lost and "was replaced" in risk.sentence and "rollback from v1 to v2" in risk.sentence
    assert f"{delta * 100:+.1f} points of macro-F1" in risk.sentence
    assert risk.comparison["a"] < risk.comparison["b"]  # and it still scores worse on the same rows
    # The dialog compares the two on the fixed holdout, which the retrain's new rows never joined.
    assert risk.comparison["n"] == n_test == outcome.comparison["n"] - outcome.n_new_eval


def test_a_challenger_that_is_not_better_is_kept_aside_and_nothing_changes(trained_tiny, tmp_path, capsys):
    folder = tmp_path / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    weights = (folder / "model.safetensors").read_bytes()
    assert holdout_accuracy(folder) == 1.0  # a model in use that cannot be beaten on the holdout
    holdout_before = pd.read_csv(holdout_path(folder), keep_default_na=False)[["text", "true_label"]]
    data, new = tmp_path / "data.csv", tmp_path / "new.csv"
    make_sentiment_frame(160, seed=1).to_csv(data, index=False)
    noisy = make_sentiment_frame(40, seed=3)
    noisy["label"] = noisy["label"].map({"positive": "negative", "negative": "positive"})  # wrong labels
    noisy.to_csv(new, index=False)
    assert cli_main(["retrain", "--model", str(folder), "--data", str(data), "--new", str(new)]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    said = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert said and not [line for line in said if not line.split("]", 1)[1].strip()]  # no empty "[train] " lines
    assert printed["promoted"] is False and printed["version_kept"] == "v2" and printed["in_use"] == "v1"
    # Not promoted, the new rows both models call otherwise are listed to check all the same (walk: wrong
    # new labels were invisible when nothing was promoted). Truth: the labels the test flipped.
    review = pd.read_csv(folder / "holdout_review.csv", keep_default_na=False, dtype=str)
    assert printed["n_review"] == len(review) > 0 and printed["review_file"] == str(folder / "holdout_review.csv")
    wrong = dict(zip(noisy["text"], noisy["label"]))
    assert all(wrong[t] == g for t, g in zip(review["text"], review["given_label"]))
    assert review["retrain"].str.startswith("v2 not promoted, v1 stays, ").all()
    assert f"{len(review)} rows both models call otherwise are listed to check: {folder / 'holdout_review.csv'}" in printed["sentence"]
    # How often the model in use disagrees with the new labels, against the fixed holdout's. Truth: its own
    # predictions of the comparison's new rows (the review's texts among them) and of the holdout.
    texts_before = holdout_before["text"].astype(str).tolist()
    on_holdout = np.mean(np.asarray(load_folder(folder).predict(texts_before), dtype=str)
                         != holdout_before["true_label"].astype(str).to_numpy())
    assert f"against {on_holdout:.0%} on the fixed holdout: some new labels may be wrong" in printed["sentence"]
    assert printed["sentence"].startswith("Kept v1: the challenger (v2) was not better")
    assert outcome_in_brief(printed["sentence"]) == "kept v1: the challenger was not better"
    # The new rows, whose (flipped) labels lost, do not join the fixed holdout: its rows are the same.
    holdout = pd.read_csv(folder / "holdout.csv", keep_default_na=False)[["text", "true_label"]]
    assert holdout.equals(holdout_before) and not set(holdout["text"]) & set(noisy["text"])
    assert f"The fixed holdout stays as it was ({len(holdout_before):,} rows)" in printed["sentence"]
    # The rows it trained on, from its own split sizes (train() splits what it is given again).
    sizes = json.loads((folder / VERSIONS / "v2" / "metrics.json").read_text())
    learned = (sizes.get("refit") or {}).get("rows") or sizes["split_sizes"]["train"]
    assert printed["n_trained"] == learned
    assert f"The challenger trained on {learned:,} rows (" in printed["sentence"]
    assert (folder / "model.safetensors").read_bytes() == weights  # the model in use is untouched
    assert list_versions(folder)[0]["status"] == "challenger, not promoted"
    with pytest.raises(ValueError, match=r"no version that was in use before \(kept: v2 \(challenger, not promoted"):
        rollback(folder)

    # Rolling forward to the challenger that lost: said with both scores on the same rows, and refused
    # without --anyway. Truth: scikit-learn's macro-F1 of each folder's own predictions on the holdout.
    texts, truth = holdout["text"].astype(str).tolist(), holdout["true_label"].astype(str)
    expected = [f1_score(truth, np.asarray(load_folder(f).predict(texts), dtype=str), average="macro")
                for f in (folder / VERSIONS / "v2", folder)]
    risk = rollback_risk(folder, "v2")
    assert risk.lost and "was not promoted" in risk.sentence
    assert [risk.comparison["a"], risk.comparison["b"]] == pytest.approx(expected)
    assert f"macro-F1 {expected[0]:.3f} against {expected[1]:.3f}" in risk.sentence
    capsys.readouterr()
    assert cli_main(["rollback", "--model", str(folder), "--to", "v2"]) == 2
    err = capsys.readouterr().err
    assert f"macro-F1 {expected[0]:.3f} against {expected[1]:.3f}" in err and "--anyway" in err
    assert (folder / "model.safetensors").read_bytes() == weights  # refused: nothing changed
    assert cli_main(["rollback", "--model", str(folder), "--to", "v2", "--anyway"]) == 0
    assert "rolled back from v1 to v2: v2 is in use now, v1 is kept as a version" in capsys.readouterr().err
    assert (folder / "model.safetensors").read_bytes() != weights
    # `versions` in words: the one in use first, times as people read them, n_trained explained.
    assert cli_main(["versions", "--model", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    aside = list_versions(folder)[0]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(aside["set_aside"]))
    assert lines[0].startswith("v2  in use  ")
    assert lines[1].startswith(f"v1  set aside by a rollback from v1 to v2 ({when})")
    assert f"trained on {printed['n_trained']:,} rows (" in lines[0]
    assert not any(str(aside["set_aside"]) in line for line in lines)  # no raw timestamp
    assert lines[-1].endswith("rolled back from v1 to v2: v2 is in use, v1 is kept")
    assert pd.read_csv(folder / "holdout.csv", keep_default_na=False)[["text", "true_label"]].equals(holdout)

    # Rolled out again, the losing challenger still needs --anyway: its outcome travelled with it.
    assert cli_main(["rollback", "--model", str(folder)]) == 0  # the default: the model in use before
    assert (folder / "model.safetensors").read_bytes() == weights
    assert {v["version"]: v["outcome"] for v in list_versions(folder)} == {"v2": "challenger, not promoted"}
    capsys.readouterr()
    assert cli_main(["rollback", "--model", str(folder), "--to", "v2"]) == 2
    assert "was not promoted" in capsys.readouterr().err and (folder / "model.safetensors").read_bytes() == weights


def test_refuses_files_without_the_model_columns(trained_tiny, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(trained_tiny[1], folder)
    with pytest.raises(ValueError, match=r"The new labelled rows lack \['label'\]"):
        challenge(folder, make_sentiment_frame(20), make_sentiment_frame(20).drop(columns="label"))


def test_refuses_new_rows_with_labels_the_model_does_not_know_and_changes_nothing(trained_tiny, tmp_path):
    """walk-f: "positive"/"negative" rows for a model of other classes trained a challenger of more
    classes, promoted it and joined the holdout. Refused before anything runs; the folder unchanged."""
    folder = tmp_path / "m"
    shutil.copytree(trained_tiny[1], folder)
    before = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*"))
    classes = sorted(str(c) for c in load_folder(folder).classes_)
    new = make_sentiment_frame(20)
    new.loc[:5, "label"] = "great"  # 6 rows
    new.loc[6:6, "label"] = "awful"  # 1 row
    assert not {"great", "awful"} & set(classes)
    with pytest.raises(ValueError) as refused:
        challenge(folder, make_sentiment_frame(20), new)
    message = str(refused.value)
    assert "The new labelled rows have labels in 'label' that the model does not know" in message
    assert "'great' (6 rows)" in message and "'awful' (1 row)" in message and ", ".join(classes) in message
    assert sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*")) == before


def test_out_of_fold_test_rows_are_no_holdout_only_new_rows_judge(trained_tiny, tmp_path):
    """A model scored by cross-validation (core.small_data) trained on every row its
    test_predictions.csv holds: they cannot judge a challenger. Only the held-out share of the new
    rows does, and the words say so; with too few new rows the retrain is refused. Its metrics carry
    the folds ("cv") alone, as a kept candidate's did when an earlier version saved it (no
    "evaluation" sentence): they were taken for a fixed holdout."""
    from core.versions import MIN_NEW_ROWS, NEW_EVAL_SHARE, eval_rows, holdout_rows, rule_in_words, without_holdout

    folder = tmp_path / "m"
    shutil.copytree(trained_tiny[1], folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "cv": {"k": 3}}))
    assert holdout_rows(folder) == 0 and "no fixed holdout" in rule_in_words(folder)
    why, judged = without_holdout(folder)
    assert judged and why.startswith("This model was scored by 3-fold cross-validation on its "), why
    new = make_sentiment_frame(40, seed=5)
    texts, truth, new_train, n_holdout = eval_rows(load_folder(folder), new, seed=0)
    assert n_holdout == 0 and len(texts) == len(truth) == round(40 * NEW_EVAL_SHARE) and len(new_train) == 40 - len(texts)
    assert set(texts) <= set(new["text"])  # only new rows judge
    with pytest.raises(ValueError, match=rf"at least {MIN_NEW_ROWS} new labelled rows are needed\). .* The new file has 5 labelled rows\.$"):
        eval_rows(load_folder(folder), new.head(5), seed=0)
    # Saved by an older version without its test rows (`python -m core retrain` reaches it): refused, in
    # its own words; it read "its test rows are out-of-fold" like the cross-validated model's.
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "test_predictions.csv").unlink()
    with pytest.raises(ValueError, match="^m: This model has no held-out test rows saved") as refused:
        eval_rows(load_folder(folder), new, seed=0)
    assert "out-of-fold" not in str(refused.value)



def with_versions(trained_tiny, tmp_path):
    """The session's tiny model (a transformer in front, TF-IDF kept as a candidate) as a retrain
    leaves it, written here: v3 in use, v1 replaced (set aside first), v2 a challenger that lost
    (numbered after v1, set aside never), a fixed holdout, a scoring history and the event history."""
    folder = tmp_path / "models" / "sentiment"
    shutil.copytree(trained_tiny[1], folder)
    for name, status in (("v1", {"status": "replaced by a better challenger", "set_aside": 1000.0}),
                         ("v2", {"status": "challenger, not promoted"})):
        kept = folder / VERSIONS / name
        shutil.copytree(trained_tiny[1], kept)
        (kept / "version.json").write_text(json.dumps(status))
        (kept / "version_name.json").write_text(json.dumps({"version": name}))
    (folder / "version_name.json").write_text(json.dumps({"version": "v3"}))
    (folder / VERSIONS / "history.jsonl").write_text(
        json.dumps({"at": "2026-01-01T00:00:00+0000", "event": "v2 (a challenger) was not promoted; v1 stays in use"})
        + "\n" + json.dumps({"at": "2026-01-02T00:00:00+0000", "event": "v3 (a challenger) was promoted in place of v1"})
        + "\n")
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    test[["text", "true_label"]].head(7).to_csv(folder / "holdout.csv", index=False)  # not the test split's size
    (folder / "scoring_history.jsonl").write_text(json.dumps({"at": "2026-01-03T00:00:00+0000", "rows": 5}) + "\n")
    (folder / "comparison.json").write_text(json.dumps({  # v3's comparison with v1, as a promotion writes it
        "comparison": {"delta": 0.05, "ci": [0.01, 0.09], "n": 40, "within_noise": False},
        "at": "2026-01-02T00:00:00+0000", "n_trained": 150, "outcome": "promoted", "compared_kind": "transformer"}))
    return folder


def model_files(folder) -> dict[str, bytes]:
    """The bytes of what belongs to the model, not to the candidate in front (history.jsonl apart)."""
    paths = [folder / "holdout.csv", folder / "scoring_history.jsonl", folder / "version_name.json",
             folder / "comparison.json", *[folder / "holdout_review.csv"][:(folder / "holdout_review.csv").is_file()],
             *(p for p in sorted((folder / VERSIONS).rglob("*")) if p.is_file() and p.name != "history.jsonl")]
    return {str(p.relative_to(folder)): p.read_bytes() for p in paths}


def test_use_instead_leaves_the_versions_holdout_and_history_in_place_and_is_an_event(trained_tiny, tmp_path, capsys):
    """walk-f: "Use ... instead" moved versions/, the holdout and the scoring history into
    candidates/<kind>/ (Versions then said "No earlier version", a retrain fell back to the test
    split). Truth: the bytes written in the test, and the history lines written in the test."""
    from core.monitor import history
    from core.versions import HISTORY, choose, holdout_rows, in_use, previous_version

    folder = with_versions(trained_tiny, tmp_path)
    (folder / "holdout_review.csv").write_text("text,given_label\nlove it,negative\n")  # rows set aside: the model's too
    before, events = model_files(folder), history_events(folder)
    assert "holdout_review.csv" in before
    tfidf = load_folder(folder / "candidates" / "tfidf").predict(["love it", "awful"])
    assert choose(folder, "tfidf") == "transformer"
    assert list(load_folder(folder).predict(["love it", "awful"])) == list(tfidf)  # the candidate is in front
    assert model_files(folder) == before  # versions, holdout, scoring history, number, comparison: byte for byte
    # walk-m: the comparison kept through the swap was the transformer's, never TF-IDF's: said so, not shown as TF-IDF's
    assert in_use(folder)["own_words"] == ("Not compared: you put TF-IDF + logistic regression in place after the "
                                           "last retrain, whose comparison was of the fine-tuned transformer.")
    aside = folder / "candidates" / "transformer"
    assert not [n for n in ("versions", "holdout.csv", "scoring_history.jsonl", "version_name.json") if (aside / n).exists()]
    assert holdout_rows(folder) == 7 and [line["rows"] for line in history(folder)] == [5]
    assert [v["version"] for v in list_versions(folder)] == ["v1", "v2"] and version_name(folder) == "v3"
    assert previous_version(folder) == "v1"  # a swap is no version change: the default still undoes the promotion
    after = history_events(folder)
    assert after[:2] == events and len(after) == 3 and after[2]["action"] == "swapped"
    # People's names only (newcomer walk: "the candidate ... (embedding) put in front in place of few-shot model (fewshot)").
    assert after[2]["event"] == ("v3: you put TF-IDF + logistic regression in place of the fine-tuned transformer; the "
                                 "fine-tuned transformer is kept as a candidate")
    # A swap recorded in the older words reads the same, from the kinds its line records.
    lines = (folder / VERSIONS / HISTORY).read_text().splitlines()
    old = {**json.loads(lines[2]), "event": "v3: the candidate TF-IDF + logistic regression (tfidf) put in front in "
                                             "place of fine-tuned transformer (transformer), by hand; transformer is kept"}
    (folder / VERSIONS / HISTORY).write_text("\n".join([*lines[:2], json.dumps(old)]) + "\n")
    assert history_events(folder) == after
    # Back with the CLI: the same files, one more event, and the candidate's own files as they were.
    assert cli_main(["choose", str(folder), "transformer"]) == 0
    assert "the swap is in the model's version history" in capsys.readouterr().err
    assert model_files(folder) == before and len(history_events(folder)) == 4
    assert in_use(folder)["own_words"].startswith("Promoted: this model was 5.0 points ahead")  # its own again
    assert not (folder / "candidates" / "tfidf" / VERSIONS).exists()


def test_rollback_defaults_to_the_version_in_use_before_not_the_newest_number(trained_tiny, tmp_path):
    """walk-f: right after a promotion "Roll back..." offered the challenger that lost (the highest
    number kept). Truth: the history written in the test: v3 was promoted in place of v1."""
    from core.versions import previous_version

    folder = with_versions(trained_tiny, tmp_path)
    assert previous_version(folder) == "v1" and rollback(folder, dry_run=True) == "v1"


def test_a_challenger_ahead_only_through_the_new_rows_labels_is_not_promoted():
    """Wrong new labels (round 7 walk): the challenger agrees with them, so it leads on all the shared
    rows while it is worse on the fixed holdout, whose labels judged every earlier version."""
    from core.evaluation import TIE_MARGIN, compare_on_rows
    from core.versions import outcome_sentence, promotes

    rng = np.random.default_rng(0)
    truth_holdout = rng.choice(["0", "1"], 120)
    old_holdout = truth_holdout.copy()
    old_holdout[:8] = np.where(old_holdout[:8] == "0", "1", "0")  # the model in use: 8 of 120 wrong
    new_holdout = truth_holdout.copy()
    new_holdout[:12] = np.where(new_holdout[:12] == "0", "1", "0")  # the challenger: 12 of 120 wrong
    wrong_new = rng.choice(["0", "1"], 60)  # the new rows' (wrong) labels, which the challenger learned
    old_new = np.where(wrong_new == "0", "1", "0")  # the model in use disagrees with every one of them
    truth = np.concatenate([truth_holdout, wrong_new])
    pred_new = np.concatenate([new_holdout, wrong_new])
    pred_old = np.concatenate([old_holdout, old_new])
    overall = compare_on_rows("classification", truth, pred_new, pred_old, ["0", "1"], seed=42)
    fixed = compare_on_rows("classification", truth_holdout, new_holdout, old_holdout, ["0", "1"], seed=42)
    # the independent truth: scikit-learn's macro-F1 of each model on each part
    lead_all = f1_score(truth, pred_new, average="macro") - f1_score(truth, pred_old, average="macro")
    lead_fixed = f1_score(truth_holdout, new_holdout, average="macro") - f1_score(truth_holdout, old_holdout,
                                                                                   average="macro")
    assert lead_all > TIE_MARGIN and lead_fixed < -TIE_MARGIN
    assert overall["delta"] == pytest.approx(lead_all) and fixed["delta"] == pytest.approx(lead_fixed)
    assert not promotes(overall, fixed)
    assert promotes(overall, None)  # without a holdout (or without new rows) the one comparison decides
    same = compare_on_rows("classification", truth_holdout, old_holdout, old_holdout, ["0", "1"], seed=42)
    assert promotes(overall, same)  # level on the holdout: the new rows' lead decides
    words = outcome_sentence(False, "v1", "v2", overall, 120, 60, fixed=fixed)
    assert words.startswith("Kept v1: the challenger (v2) was not promoted: it was")
    assert "behind on 120 holdout rows" in words and "ahead on 180 shared rows" in words
    # The version list says the same later, from each side (walk-n: it gave "not better by the margin")
    from core.versions import KEPT_OVER, NOT_PROMOTED, own_words

    kept = {"comparison": overall, "holdout_comparison": fixed}
    challenger_words = own_words({**kept, "outcome": NOT_PROMOTED})
    in_use_words = own_words({**kept, "outcome": KEPT_OVER})
    assert "ahead on 180 shared rows" in challenger_words and "alone" in challenger_words
    assert f"{abs(lead_fixed) * 100:.1f} points behind on 120 holdout rows" in challenger_words
    assert in_use_words.startswith("Kept in use (the challenger was not promoted)")
    assert f"{abs(lead_fixed) * 100:.1f} points ahead on 120 holdout rows" in in_use_words


def test_two_models_that_predict_the_same_on_every_row_are_said_to_and_never_within_noise_or_minus_zero():
    """Newcomer walk: a retrain whose challenger predicted the same as the model in use on all 92
    shared rows read "level on 92 shared rows; within noise (95% interval +0.0 points to +0.0
    points)", and the version list "-0.0 points to -0.0 points": an interval of 0 to 0 by
    construction, not a measure of noise."""
    from core.evaluation import compare_on_rows, points_text
    from core.versions import KEPT_OVER, NOT_PROMOTED, RECORDED, outcome_sentence, own_words

    rng = np.random.default_rng(0)
    truth = rng.choice(["0", "1"], 92)
    pred = truth.copy()
    pred[:10] = np.where(pred[:10] == "0", "1", "0")  # both wrong on the same 10 rows
    same = compare_on_rows("classification", truth, pred, pred.copy(), ["0", "1"], seed=42)
    assert same["same"] and list(same["ci"]) == [0.0, 0.0]
    said = outcome_sentence(False, "v1", "v2", same, 92, 0)
    assert said.startswith("Kept v1: the challenger (v2) was not better, so it was not promoted: the two models predict "
                           "the same label on all 92 shared rows (92 holdout + 0 new rows")
    record = {"comparison": {k: same[k] for k in RECORDED}}  # as a retrain records it
    assert own_words({**record, "outcome": NOT_PROMOTED}) == (
        "Not promoted: this model and the model then in use predict the same label on all 92 shared rows.")
    assert own_words({**record, "outcome": KEPT_OVER}) == ("Kept in use (the challenger was not promoted): this model "
                                                          "and that challenger predict the same label on all 92 shared rows.")
    # Models that differ, level or not, keep their interval; a signed zero never reads "-0.0".
    other = pred.copy()
    other[10:12] = np.where(other[10:12] == "0", "1", "0")
    differ = compare_on_rows("classification", truth, other, pred, ["0", "1"], seed=42)
    assert not differ["same"] and "within noise (95% interval" in own_words({"comparison": differ, "outcome": KEPT_OVER})
    assert (points_text(-0.0, "classification"), points_text(-0.0004, "classification"), points_text(-0.0, "regression")) == (
        "0.0 points", "0.0 points", "0.000")
    level = {"delta": 0.0, "ci": [0.0, 0.0], "n": 92, "within_noise": True}  # recorded before "same" was
    assert "-0.0" not in own_words({"comparison": level, "outcome": KEPT_OVER})


def test_a_promotion_within_noise_says_it_scored_higher_then_how_sure_in_a_sentence_of_its_own():
    """Round 8 walk: "The challenger was promoted: 1.2 points ahead ...; within noise" read as
    "promoted on noise". The verdict's way instead (core.evaluation.noise_in_words): it scored
    higher, so it is in use; then how sure that is. The rule is unchanged (promotes)."""
    from core.versions import outcome_sentence, promotes

    within = {"delta": 0.012, "ci": (-0.010, 0.034), "n": 56, "within_noise": True}
    said = outcome_sentence(True, "v1", "v2", within, 32, 24)
    first, rest = said.split(" The difference is ", 1)
    assert first == ("Promoted: v2 is now in use in place of v1. The challenger scored higher, so it is in use: 1.2 "
                     "points ahead on 56 shared rows (32 holdout + 24 new rows, neither model trained on them).")
    assert rest.startswith("within the noise of 56 shared rows (95% interval -1.0 points to +3.4 points), so keeping "
                           "the higher score is the better bet, not a sure one. v1 is kept under versions/")
    assert outcome_in_brief(said) == "promoted: v2 now in use"
    beyond = {"delta": 0.05, "ci": (0.02, 0.08), "n": 56, "within_noise": False}
    assert "The difference is beyond the noise of 56 shared rows" in outcome_sentence(True, "v1", "v2", beyond, 32, 24)
    assert promotes(within, None)  # the rule itself: more than 0.5 points ahead, noise or not


def test_new_rows_that_are_holdout_rows_judge_once(trained_tiny, tmp_path):
    """New labelled rows that repeat holdout rows are compared as holdout rows only: not again among
    the new rows (a walk found 48 counted twice), and never trained on."""
    from core.versions import eval_rows, holdout_path

    folder = tmp_path / "m"
    shutil.copytree(trained_tiny[1], folder)
    holdout = pd.read_csv(holdout_path(folder), keep_default_na=False, na_values=[""])
    fresh = make_sentiment_frame(40, seed=11)
    repeated = pd.DataFrame({"text": holdout["text"].head(8), "label": holdout["true_label"].head(8)})
    texts, truth, new_train, n_holdout = eval_rows(load_folder(folder), pd.concat([fresh, repeated], ignore_index=True), 0)
    assert n_holdout == len(holdout) and texts[:n_holdout] == holdout["text"].astype(str).tolist()
    new_part = texts[n_holdout:]
    assert not set(new_part) & set(holdout["text"].astype(str)) and not set(new_train["text"]) & set(holdout["text"])
    assert len(new_part) + len(new_train) == (~fresh["text"].isin(holdout["text"])).sum()
