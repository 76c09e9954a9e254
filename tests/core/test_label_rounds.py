"""Rounds of a labelling project and the gain per step (core.label_rounds).

Independent truths: the suggestions' order is recomputed here from the model's own probabilities
(smallest gap between the two likeliest classes first); every score in the gain table is
scikit-learn's f1_score / accuracy_score on the rows the test works out itself (labelled after the
round was built; for the gain, after both rounds were built)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from core.label_rounds import BIAS_NOTE, gain_table, gain_words, own_score, rank_and_record, read_rounds
from core.labeling import LabelStore

CLASSES = ["complaint", "praise", "question"]


class Scripted:
    """A classifier whose probabilities are a fixed function of the text and a seed."""

    task, multi_label, input_columns = "classification", False, ["text"]

    def __init__(self, seed: int) -> None:
        self.seed, self.classes_ = seed, np.array(CLASSES, dtype=object)

    def texts_from(self, df):
        return df["text"].astype(str).tolist()

    def proba_of(self, texts):
        rng = [np.random.default_rng(zlib.crc32(f"{self.seed}:{t}".encode())) for t in texts]
        raw = np.array([g.random(len(CLASSES)) ** 3 for g in rng])
        return raw / raw.sum(axis=1, keepdims=True)

    def predict_proba(self, df, batch_size=64, on_batch=None):
        return self.proba_of(self.texts_from(df))


@pytest.fixture
def store(tmp_path):
    texts = [f"row {i}: {w} item number {i * 7 % 13}" for i, w in enumerate(["bad", "nice", "why", "late"] * 15)]
    return LabelStore(tmp_path / "p").create(pd.DataFrame({"text": texts}), ["text"], "label")


def _truth(i: int) -> str:
    return CLASSES[(i * 5) % 3]


def test_suggestions_come_least_sure_first_with_the_models_own_label(store):
    model, pool = Scripted(1), store.unlabeled()
    ranked = rank_and_record(store, model, pool, 10, name="label-p-zeroshot", version="v0", kind="zeroshot",
                             metrics={"trained_on_labels": False}, random_share=0.0)  # least sure only
    assert set(ranked["reason"]) == {"least sure"}
    proba = model.proba_of(pool["text"].tolist())
    top2 = np.sort(proba, axis=1)[:, ::-1]
    margin = pd.Series(top2[:, 0] - top2[:, 1], index=pool.index)
    picked = margin[ranked.index]
    assert len(ranked) == 10 and list(picked) == sorted(picked)  # least sure first
    assert picked.max() <= margin.drop(ranked.index).min() + 1e-12  # no less sure row left out
    expected = pd.Series(np.array(CLASSES)[proba.argmax(axis=1)], index=pool.index)
    assert list(ranked["predicted_label"]) == list(expected[ranked.index])
    # The round is recorded once, with its label for every row it scored (unseen by it).
    rounds = read_rounds(store)
    assert len(rounds) == 1 and rounds[0]["labels"] == 0 and len(rounds[0]["predicted"]) == len(pool)
    rank_and_record(store, model, pool, 5, name="label-p-zeroshot", version="v0", kind="zeroshot", metrics={})
    assert len(read_rounds(store)) == 1


def test_gain_is_scored_on_rows_labelled_since_and_on_the_same_rows_for_two_rounds(store):
    zero, trained = Scripted(1), Scripted(2)
    store.set_labels({59: _truth(59)})  # labelled before the zero-shot model, which still learns from no label
    # Round 0 scored a sample of the rows (rows 0-49; the page samples big projects), so rows 50-58 are not its.
    rank_and_record(store, zero, store.unlabeled().loc[:49], 5, name="zs", version="a", kind="zeroshot", metrics={})
    first = list(range(0, 24))  # labelled after round 0 only
    store.set_labels({i: _truth(i) for i in first})
    metrics = {"model": {"macro_f1": 0.61}, "split_sizes": {"test": 5}}
    rank_and_record(store, trained, store.unlabeled(), 5, name="own", version="b", kind="fewshot", metrics=metrics)
    table = gain_table(store)
    assert table["rows_since"].tolist() == [24, 0] and np.isnan(table.loc[1, "macro_f1"])
    assert gain_words(table.iloc[1]).startswith("not measured yet")
    second = list(range(24, 44))  # labelled after both rounds
    store.set_labels({i: _truth(i) for i in [*second, 50, 51, 52]})  # 50-52: after round 1, never scored by round 0
    table = gain_table(store)
    texts = store.frame()["text"]
    truth = [_truth(i) for i in first + second]
    zero_pred = np.array(CLASSES)[zero.proba_of(texts[first + second].tolist()).argmax(axis=1)]
    assert table.loc[0, "macro_f1"] == pytest.approx(f1_score(truth, zero_pred, average="macro"))
    assert table.loc[0, "accuracy"] == pytest.approx(accuracy_score(truth, zero_pred))
    truth2 = [_truth(i) for i in second]
    zero2 = np.array(CLASSES)[zero.proba_of(texts[second].tolist()).argmax(axis=1)]
    own2 = np.array(CLASSES)[trained.proba_of(texts[second].tolist()).argmax(axis=1)]
    row = table.iloc[1]
    assert row["rows_since"] == 23 and row["same_rows"] == 20 and row["labels"] == 25 and table.loc[0, "labels"] == 0
    classes = sorted(set(truth2) | set(zero2) | set(own2))  # macro-F1 over every class either side used
    previous_f1 = f1_score(truth2, zero2, average="macro", labels=classes, zero_division=0)
    this_f1 = f1_score(truth2, own2, average="macro", labels=classes, zero_division=0)
    assert row["previous_macro_f1"] == pytest.approx(previous_f1) and row["this_macro_f1"] == pytest.approx(this_f1)
    assert row["gain"] == pytest.approx(this_f1 - previous_f1)
    assert "on the same rows" in gain_words(row) and "on 20 labelled rows" in row["lead"]
    assert np.isnan(row["gain_low"]) or row["gain_low"] <= row["gain"] <= row["gain_high"]
    assert gain_words(table.iloc[0]) == "first round"
    assert row["own_score"] == 0.61 and "held-out: 5 labelled rows" in row["own_score_how"]
    assert "never saw" in BIAS_NOTE


def test_own_score_says_how_it_was_measured():
    assert own_score("zeroshot", {}) == (None, "none: built from the category names, never trained on labels")
    cv = {"cv": {"model": {"macro_f1": {"mean": 0.7, "values": [0.6, 0.7, 0.8]}}}, "model": {"macro_f1": 0.5}}
    assert own_score("fewshot", cv) == (0.7, "cross-validated over 3 folds")
    assert own_score("tfidf", {}) == (None, "not measured")


def test_a_model_with_several_tags_per_row_ranks_but_is_not_recorded(store):
    model = Scripted(3)
    model.multi_label = True
    model.thresholds = np.full(len(CLASSES), 0.5)
    ranked = rank_and_record(store, model, store.unlabeled(), 5, name="x", version="t", kind="transformer", metrics={})
    assert len(ranked) == 5 and read_rounds(store) == []


def test_the_label_page_shows_the_gain_and_warns_when_a_round_is_behind(tmp_path, monkeypatch, models_dir):
    """Two recorded rounds, the later one worse on the same rows: the page's table carries
    scikit-learn's numbers and a warning says the round is behind."""
    from core.labeling import label_store
    from tests.ui.test_page_label import open_label

    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    texts = [f"review number {i}" for i in range(30)]
    store = label_store("gain").create(pd.DataFrame({"text": texts}), ["text"], "label")
    rank_and_record(store, Scripted(1), store.unlabeled(), 5, name="zs", version="a", kind="zeroshot", metrics={})
    first = Scripted(1).proba_of(texts).argmax(axis=1)  # the truth is round 0's own label: it is always right
    rank_and_record(store, Scripted(2), store.unlabeled(), 5, name="own", version="b", kind="tfidf", metrics={})
    store.set_labels({i: CLASSES[first[i]] for i in range(12)})
    at = open_label()
    at.selectbox(key="label_project").set_value("gain").run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "vs previous round (same rows)" in d.value.columns)
    truth = [CLASSES[k] for k in first[:12]]
    second = np.array(CLASSES)[Scripted(2).proba_of(texts[:12]).argmax(axis=1)]
    assert table["macro-F1 on them"].tolist() == pytest.approx([1.0, f1_score(truth, second, average="macro")])
    assert table["model"].tolist() == ["zero-shot model (category names)", "TF-IDF + logistic regression"]
    assert any("is behind round 0 on the same rows" in w.value and "on 12 labelled rows" in w.value for w in at.warning)
    # What the table compares, said above it (issue 30: it read as contradicting the verdict).
    from ui.label_rounds import GAIN_TABLE_NOTE

    assert any(m.value == GAIN_TABLE_NOTE for m in at.markdown)
    assert "random checks only" in GAIN_TABLE_NOTE and "least sure of included" in GAIN_TABLE_NOTE


# ---------------------------------------------------------------- the zero-shot model kept or replaced
# Issue 30: a model trained on 29 labels replaced the zero-shot model without a comparison.
# Truth: the macro-F1 of each model is worked out here with scikit-learn's f1_score on rows whose
# labels and predictions the test writes itself; the zero-shot stand-in predicts by a fixed rule.


class RuleZeroShot:
    """A stand-in zero-shot model: "positive" when the text has "good" in it, else "negative"."""

    multi_label = False

    def predict(self, texts):
        return ["positive" if "good" in t else "negative" for t in texts]


def _trained_folder(tmp_path, truth, predicted, folds=5):
    import json

    folder = tmp_path / "label-p"
    folder.mkdir()
    (folder / "marketune.json").write_text("{}")
    cv = {"evaluation": f"{folds}-fold cross-validation", "cv": {"k": folds}} if folds else {"evaluation": "held-out test split"}
    (folder / "metrics.json").write_text(json.dumps(cv))
    texts = [f"row {i} {'good' if t == 'positive' else 'poor'}" for i, t in enumerate(truth)]
    pd.DataFrame({"row": range(len(truth)), "text": texts, "true_label": truth,
                  "predicted_label": predicted}).to_csv(folder / "test_predictions.csv", index=False)
    return folder


def _zeroshot_folder(tmp_path):
    folder = tmp_path / "label-p-zeroshot"
    folder.mkdir()
    (folder / "marketune.json").write_text("{}")
    return folder


def test_a_trained_model_that_scores_lower_leaves_the_zero_shot_model_in_place(tmp_path, monkeypatch):
    import core.models
    from core.label_rounds import compare_with_zeroshot, zeroshot_kept

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    truth = ["positive"] * 10 + ["negative"] * 19
    predicted = ["positive"] * 29  # the trained model says positive every time
    trained = _trained_folder(tmp_path, truth, predicted)
    store = LabelStore(tmp_path / "proj").create(pd.DataFrame({"text": ["a", "b"]}), ["text"], "label")
    found = compare_with_zeroshot(store, trained, _zeroshot_folder(tmp_path))
    assert found["kept"] == "zeroshot" and found["n"] == 29
    assert found["trained_macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert found["zeroshot_macro_f1"] == pytest.approx(1.0)  # the rule is right on every row
    words = found["sentence"]
    assert f"{found['trained_macro_f1']:.2f} vs 1.00 macro-F1 on the same 29 labelled rows" in words
    assert "zero-shot model stays" in words and "out of fold" in words
    assert "least sure" in words and "rough" in words
    assert zeroshot_kept(store, trained)

    # Kept for this version: a second reading does not load the models again.
    monkeypatch.setattr(core.models, "load_folder", lambda folder: pytest.fail("compared again"))
    assert compare_with_zeroshot(store, trained, tmp_path / "label-p-zeroshot")["kept"] == "zeroshot"


def test_a_trained_model_that_scores_higher_takes_the_place_and_a_tie_keeps_the_zero_shot_one(tmp_path, monkeypatch):
    import core.models
    from core.label_rounds import compare_with_zeroshot, zeroshot_kept

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    store = LabelStore(tmp_path / "proj").create(pd.DataFrame({"text": ["a", "b"]}), ["text"], "label")
    zeroshot = _zeroshot_folder(tmp_path)
    truth = ["positive"] * 15 + ["negative"] * 15
    trained = _trained_folder(tmp_path, truth, truth, folds=0)
    # The zero-shot rule cannot read these texts: swap the words so it is wrong on every row.
    rows = pd.read_csv(trained / "test_predictions.csv")
    rows["text"] = rows["text"].str.replace("good", "XX").str.replace("poor", "good")
    rows.to_csv(trained / "test_predictions.csv", index=False)
    found = compare_with_zeroshot(store, trained, zeroshot)
    assert found["kept"] == "trained" and found["basis"] == "held-out"
    assert (found["trained_macro_f1"], found["zeroshot_macro_f1"]) == (pytest.approx(1.0), pytest.approx(0.0))
    assert "takes its place" in found["sentence"] and not zeroshot_kept(store, trained)

    # The same predictions as the zero-shot model's: a tie, and the model in place stays.
    import shutil
    import time

    shutil.rmtree(trained)
    time.sleep(0.01)
    tie = _trained_folder(tmp_path, truth, RuleZeroShot().predict(
        [f"row {i} {'good' if t == 'positive' else 'poor'}" for i, t in enumerate(truth)]))
    assert compare_with_zeroshot(store, tie, zeroshot)["kept"] == "zeroshot" and zeroshot_kept(store, tie)


# ---------------------------------------------------------------- random checks mixed into the suggestions
# Round 8: the suggestions mix random rows with the least-sure ones, and each label keeps why its row
# was suggested. Truth: the fake model's sureness is set per row here (row i: the likeliest class's
# probability grows with i), so the least-sure rows are known without the product's ranking.


class Graded:
    """A two-class model whose sureness is set by the row: text "t<i> ..." -> P(first) = 0.5 + i / 2N."""

    task, multi_label, input_columns = "classification", False, ["text"]

    def __init__(self, n_rows: int) -> None:
        self.n, self.classes_ = n_rows, np.array(["complaint", "praise"], dtype=object)

    def texts_from(self, df):
        return df["text"].astype(str).tolist()

    def predict_proba(self, df, batch_size=64, on_batch=None):
        i = np.array([int(t.split()[0][1:]) for t in self.texts_from(df)], dtype=float)
        p = 0.5 + i / (2 * self.n)
        return np.column_stack([p, 1 - p])


def _graded_store(tmp_path, n=60):
    # Distinct words per row: no text is a near-duplicate of another (the ranking would skip it).
    texts = [f"t{i} alpha{i} beta{i} gamma{i}" for i in range(n)]
    return LabelStore(tmp_path / "g").create(pd.DataFrame({"text": texts}), ["text"], "label")


@pytest.mark.parametrize("share, n", [(0.5, 20), (0.25, 20), (0.5, 7)])
def test_a_round_holds_the_asked_share_of_random_rows_and_the_least_sure_of_the_others(tmp_path, share, n):
    from core.label_rounds import suggest_rows

    store = _graded_store(tmp_path)
    pool = store.unlabeled()
    rows = suggest_rows(Graded(len(pool)), pool, n, random_share=share, seed=3)
    k = int(round(share * n))
    assert len(rows) == n and rows.index.is_unique and set(rows.index) <= set(pool.index)
    assert (rows["reason"] == "random check").sum() == k and (rows["reason"] == "least sure").sum() == n - k
    # Row i is the i-th least sure: the least-sure part is the first n-k rows of 0, 1, 2, ... that were
    # not drawn as random checks (a check is drawn from every row, least sure or not), in that order.
    least = rows.index[rows["reason"] == "least sure"]
    checks = rows.index[rows["reason"] == "random check"]
    assert list(least) == [i for i in range(len(pool)) if i not in set(checks)][: n - k]
    assert max(checks) >= n  # not simply the next least sure ones (60 rows; this seed reaches past them)
    # Spread among the least-sure rows, not all at the end, and ranked 1..n in the order shown.
    assert list(rows["rank"]) == list(range(1, n + 1))
    assert (rows["reason"].iloc[: (n + 1) // 2] == "random check").sum() >= k // 2
    # Each random row carries the model's own label and sureness for it, as the least-sure rows do.
    p = 0.5 + np.asarray(checks, dtype=float) / (2 * len(pool))
    assert rows.loc[checks, "confidence"].tolist() == pytest.approx(np.maximum(p, 1 - p).tolist())
    assert set(rows.loc[checks, "predicted_label"]) == {"complaint"}
    # Another seed, other random rows; the same seed, the same ones.
    assert set(suggest_rows(Graded(len(pool)), pool, n, random_share=share, seed=3).index) == set(rows.index)
    if k >= 3:
        assert set(suggest_rows(Graded(len(pool)), pool, n, random_share=share, seed=4).index) != set(rows.index)


def test_more_rows_per_round_keep_the_random_checks_already_drawn(tmp_path):
    """Walk finding (round 9): changing "Rows per round" drew new random checks. The least-sure rows
    are rows 0..m-1 (Graded); every row shown for a smaller n must still be shown for a larger one."""
    from core.label_rounds import suggest_rows

    pool = _graded_store(tmp_path).unlabeled()
    shown = {n: suggest_rows(Graded(len(pool)), pool, n, seed=5) for n in (6, 10, 20)}
    for small, large in ((6, 10), (10, 20), (6, 20)):
        checks = set(shown[small].index[shown[small]["reason"] == "random check"])
        assert checks and checks <= set(shown[large].index), (small, large)
        assert (shown[large]["reason"] == "random check").sum() == round(0.5 * large)


@pytest.mark.parametrize("seed", range(6))
def test_more_rows_per_round_keep_every_row_shown_with_its_reason_and_place(tmp_path, seed):
    """Walk finding (r11): raising "Rows per round" turned random checks already shown into
    "least sure" rows (a larger n's least-sure rows reached them) and drew other checks in their
    place. Now the rows for a smaller n are the first rows for a larger one: same rows, same reason,
    same order; and the counts of each kind are still round(0.5 n) checks and the rest least sure."""
    from core.label_rounds import suggest_rows

    pool = _graded_store(tmp_path).unlabeled()
    shown = {n: suggest_rows(Graded(len(pool)), pool, n, seed=seed) for n in (5, 10, 20, 40)}
    for small, large in ((5, 10), (10, 20), (20, 40), (5, 40)):
        first = shown[large].iloc[:small]
        assert list(first.index) == list(shown[small].index), (seed, small, large)
        assert first["reason"].tolist() == shown[small]["reason"].tolist(), (seed, small, large)
    for n, rows in shown.items():
        assert (rows["reason"] == "random check").sum() == round(0.5 * n) and rows.index.is_unique


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_labelled_since_free_their_places_and_the_rest_stay(tmp_path, seed):
    """Walk finding (round 11): after saving three labels, a larger "Rows per round" showed none of
    the random checks still waiting. The pool loses the labelled rows; every row shown and still
    unlabelled must stay for the same or a larger n, and a random check stays a random check (a
    least-sure row may become one: a freed check place can fall before its turn)."""
    from core.label_rounds import suggest_rows

    pool = _graded_store(tmp_path).unlabeled()
    before = suggest_rows(Graded(len(pool)), pool, 20, seed=seed)
    checks = before.index[before["reason"] == "random check"]
    labelled = [checks[0], checks[1], before.index[before["reason"] == "least sure"][0]]
    rest = pool.drop(index=labelled)
    for n in (20, 25):
        after = suggest_rows(Graded(len(pool)), rest, n, seed=seed)
        waiting = before.drop(index=labelled)
        assert set(waiting.index) <= set(after.index), (seed, n)
        still = waiting.index[waiting["reason"] == "random check"]
        assert (after.loc[still, "reason"] == "random check").all(), (seed, n)
        assert (after["reason"] == "random check").sum() == round(0.5 * n)


def test_the_product_mixes_half_random_rows_by_default(tmp_path):
    from core.label_rounds import RANDOM_SHARE

    store = _graded_store(tmp_path)
    ranked = rank_and_record(store, Graded(60), store.unlabeled(), 20, name="zs", version="v", kind="zeroshot", metrics={})
    assert RANDOM_SHARE == 0.5 and (ranked["reason"] == "random check").sum() == 10


def test_the_reason_is_saved_with_the_label_and_survives_a_reload(tmp_path):
    store = _graded_store(tmp_path, n=10)
    assert store.reasons().empty  # nothing labelled yet
    store.set_labels({0: "complaint", 1: "praise", 2: "praise"}, reasons={0: "least sure", 1: "random check"})
    again = LabelStore(tmp_path / "g")  # another session reads it from disk
    assert again.reasons().to_dict() == {0: "least sure", 1: "random check", 2: "least sure"}  # 2: none saved
    # A correction without a reason keeps the row's reason; a cleared label drops it.
    again.set_labels({1: "complaint"})
    assert LabelStore(tmp_path / "g").reasons()[1] == "random check"
    again.set_labels({1: ""})
    again.set_labels({1: "praise"})
    assert LabelStore(tmp_path / "g").reasons()[1] == "least sure"
    # The labelled set's CSV stays the person's own columns.
    assert list(pd.read_csv(__import__("io").BytesIO(again.export_csv())).columns) == ["text", "label"]


def test_an_old_project_without_reasons_counts_every_label_as_least_sure(tmp_path):
    store = _graded_store(tmp_path, n=10)
    store.set_labels({3: "praise", 4: "complaint"})
    assert not (store.folder / "reasons.json").exists()
    assert store.reasons().to_dict() == {3: "least sure", 4: "least sure"}


def _checks_project(tmp_path, n_checks: int, n_least: int = 20):
    """A project whose labelled rows are ``n_checks`` random checks and ``n_least`` least-sure rows,
    trained (rows_to_train records them), and a trained folder whose out-of-fold predictions are
    wrong on half the random checks and right on every least-sure row. The zero-shot stand-in
    (RuleZeroShot: "good" -> positive) is right on every random check and wrong on every least-sure row."""
    import json

    from core.label_rounds import rows_to_train

    n = n_checks + n_least
    truth = ["positive" if i % 2 else "negative" for i in range(n)]
    check = [i % 3 == 0 for i in range(n)]  # checks spread among the rows
    while sum(check) != n_checks:  # exactly n_checks of them
        i = check.index(False) if sum(check) < n_checks else len(check) - 1 - check[::-1].index(True)
        check[i] = not check[i]
    # The rule reads "good": on a check the word matches the truth, on a least-sure row it is swapped.
    texts = [f"row {i} {'good' if (t == 'positive') == c else 'poor'}" for i, (t, c) in enumerate(zip(truth, check))]
    store = LabelStore(tmp_path / "proj").create(pd.DataFrame({"text": texts, "label": ""}), ["text"], "label")
    store.set_labels(dict(enumerate(truth)), reasons={i: "random check" if c else "least sure" for i, c in enumerate(check)})
    rows_to_train(store, "label-p")
    # The trained model: right on every least-sure row, wrong on every other random check.
    flip = {"positive": "negative", "negative": "positive"}
    seen, predicted = 0, []
    for t, c in zip(truth, check):
        predicted.append(flip[t] if c and seen % 2 == 0 else t)
        seen += c
    folder = tmp_path / "label-p"
    folder.mkdir()
    (folder / "marketune.json").write_text("{}")
    (folder / "metrics.json").write_text(json.dumps({"evaluation": "5-fold cross-validation", "cv": {"k": 5}}))
    pd.DataFrame({"row": range(n), "text": texts, "true_label": truth, "predicted_label": predicted}).to_csv(
        folder / "test_predictions.csv", index=False)
    return store, folder, truth, predicted, check, texts


def test_the_zero_shot_model_is_compared_on_the_random_checks_alone_when_there_are_enough(tmp_path, monkeypatch):
    import core.models
    from core.label_rounds import RANDOM_FLOOR, compare_with_zeroshot

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    store, trained, truth, predicted, check, texts = _checks_project(tmp_path, n_checks=RANDOM_FLOOR + 2)
    zs = RuleZeroShot().predict(texts)
    on = [i for i, c in enumerate(check) if c]
    # On every labelled row the trained model wins; on the random checks the zero-shot one does.
    assert f1_score(truth, predicted, average="macro") > f1_score(truth, zs, average="macro")
    found = compare_with_zeroshot(store, trained, _zeroshot_folder(tmp_path))
    assert found["rows_used"] == "random checks" and found["n"] == len(on) == RANDOM_FLOOR + 2
    assert found["random_checks"] == len(on)
    assert found["trained_macro_f1"] == pytest.approx(f1_score([truth[i] for i in on], [predicted[i] for i in on],
                                                               average="macro"))
    assert found["zeroshot_macro_f1"] == pytest.approx(1.0)
    assert found["kept"] == "zeroshot"
    words = found["sentence"]
    assert f"on the same {len(on)} labelled rows picked at random" in words and "fair to both models" in words
    assert "rough" in words and f"{len(on)} rows is few" in words


def test_below_the_floor_of_random_checks_every_labelled_row_is_compared_with_the_bias_said(tmp_path, monkeypatch):
    import core.models
    from core.label_rounds import RANDOM_FLOOR, compare_with_zeroshot

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    store, trained, truth, predicted, check, texts = _checks_project(tmp_path, n_checks=RANDOM_FLOOR - 1)
    found = compare_with_zeroshot(store, trained, _zeroshot_folder(tmp_path))
    zs = RuleZeroShot().predict(texts)
    assert found["rows_used"] == "all labelled" and found["n"] == len(truth) and found["random_checks"] == RANDOM_FLOOR - 1
    assert found["trained_macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert found["zeroshot_macro_f1"] == pytest.approx(f1_score(truth, zs, average="macro"))
    assert found["kept"] == "trained"  # the least-sure rows tip it, as the sentence warns
    words = found["sentence"]
    assert f"on the same {len(truth)} labelled rows" in words
    assert f"only {RANDOM_FLOOR - 1} of them were random checks, under the {RANDOM_FLOOR} needed" in words
    assert "least sure" in words and "favours the new model" in words


def test_random_checks_are_told_only_from_the_training_that_made_the_model(tmp_path, monkeypatch):
    """trained_rows.json of another training (other rows at those positions), or of another model:
    no test row is taken for a random check, and the comparison falls back to every labelled row."""
    import json

    import core.models
    from core.label_rounds import RANDOM_FLOOR, compare_with_zeroshot

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    store, trained, truth, *_ = _checks_project(tmp_path, n_checks=RANDOM_FLOOR + 2)
    recorded = store.folder / "trained_rows.json"
    rows = json.loads(recorded.read_text())["rows"]
    recorded.write_text(json.dumps({"model": "label-p", "rows": rows[1:] + rows[:1]}))  # positions shifted by one
    found = compare_with_zeroshot(store, trained, _zeroshot_folder(tmp_path))
    assert found["rows_used"] == "all labelled" and found["random_checks"] == 0 and found["n"] == len(truth)
    recorded.write_text(json.dumps({"model": "another-model", "rows": rows}))
    (store.folder / "zeroshot_choice.json").unlink()
    assert compare_with_zeroshot(store, trained, tmp_path / "label-p-zeroshot")["random_checks"] == 0


def test_a_not_usable_trained_model_never_replaces_the_zero_shot_one_even_when_ahead(tmp_path, monkeypatch):
    """Issue 30's walk: a model the page called "Not usable" replaced the zero-shot model because it
    scored higher on a few random checks. Its own verdict (metrics.json's, the one the page shows)
    outranks the comparison; the same model with a usable verdict still takes the place."""
    import json

    import core.models
    from core.label_rounds import compare_with_zeroshot, zeroshot_kept
    from core.result import verdict_notice

    monkeypatch.setattr(core.models, "load_folder", lambda folder: RuleZeroShot())
    store = LabelStore(tmp_path / "proj").create(pd.DataFrame({"text": ["a", "b"]}), ["text"], "label")
    zeroshot = _zeroshot_folder(tmp_path)
    truth = ["positive"] * 15 + ["negative"] * 15
    trained = _trained_folder(tmp_path, truth, truth, folds=0)
    rows = pd.read_csv(trained / "test_predictions.csv")  # the zero-shot rule is wrong on every row
    rows["text"] = rows["text"].str.replace("good", "XX").str.replace("poor", "good")
    rows.to_csv(trained / "test_predictions.csv", index=False)
    warning = "This model could not be told apart from always predicting the most common label. Do not rely on it."
    verdict = {"useless": True, "warning": warning, "sentence": warning}
    (trained / "metrics.json").write_text(json.dumps({"evaluation": "held-out test split", "verdict": verdict}))
    assert verdict_notice(verdict)[0] == "Not usable"  # the verdict the page shows for this model

    found = compare_with_zeroshot(store, trained, zeroshot)
    assert (found["trained_macro_f1"], found["zeroshot_macro_f1"]) == (pytest.approx(1.0), pytest.approx(0.0))
    assert found["kept"] == "zeroshot" and zeroshot_kept(store, trained)
    assert found["sentence"].startswith("The zero-shot model label-p-zeroshot stays the one in use")
    assert "not usable by its own verdict" in found["sentence"] and "could not be told apart" in found["sentence"]
    assert trained.is_dir()  # kept for later rounds

    # A record made before the verdict was read is not trusted: the same model, usable, takes the place.
    (trained / "metrics.json").write_text(json.dumps({"evaluation": "held-out test split", "verdict": {}}))
    record = json.loads((store.folder / "zeroshot_choice.json").read_text())
    record.pop("trained_not_usable")
    record["kept"] = "trained"
    (store.folder / "zeroshot_choice.json").write_text(json.dumps(record))
    again = compare_with_zeroshot(store, trained, zeroshot)
    assert again["kept"] == "trained" and "takes its place" in again["sentence"]
