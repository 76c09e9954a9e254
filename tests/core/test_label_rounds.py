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
                             metrics={"trained_on_labels": False})
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


# ---------------------------------------------------------------- the zero-shot model kept or replaced
# Issue 30: a model trained on 29 labels replaced the zero-shot model without a comparison.
# Truth: the macro-F1 of each model is worked out here with scikit-learn's f1_score on rows whose
# labels and predictions the test writes itself; the zero-shot stand-in predicts by a fixed rule.


class RuleZeroShot:
    """A stand-in zero-shot model: "positive" when the text has "good" in it, else "negative"."""

    multi_label = False

    def predict(self, texts):
        return ["positive" if "good" in t else "negative" for t in texts]


def _trained_folder(tmp_path, truth, predicted, evaluation="5-fold cross-validation"):
    import json

    folder = tmp_path / "label-p"
    folder.mkdir()
    (folder / "marketune.json").write_text("{}")
    (folder / "metrics.json").write_text(json.dumps({"evaluation": evaluation}))
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
    trained = _trained_folder(tmp_path, truth, truth, evaluation="held-out test split")
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
