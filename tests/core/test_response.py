"""Response models (core.response): profile encoding through the model, the tabular baseline,
the hybrid, the transformer in the comparison (tiny BERT), calibration in the pipeline, safe
save/load of every kind, scoring lists and the CLI on a tabular model."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.calibration import expected_calibration_error
from core.models import load_folder
from core.models.response import HYBRID, TABULAR, TRANSFORMER, ResponseModel, TextScorer
from core.registry import load_model
from core.response import (
    ResponseSetup,
    cross_fit_text_scores,
    deploy,
    positive_class_of,
    recommend_model,
    response_labels,
    score_customers,
    train_response_models,
)
from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE

ROOT = Path(__file__).resolve().parents[2]
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".npy", ".npz"}
TINY = {"epochs": 4, "batch_size": 16, "learning_rate": 3e-3, "max_length": 32, "early_stopping_patience": 100}


def campaign_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers with numbers, categories, holes and a review; the response depends on all."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(float)
    age[rng.uniform(size=n) < 0.1] = np.nan
    segment = rng.choice(["gold", "silver", "bronze", None], n, p=[0.3, 0.3, 0.3, 0.1])
    channel = rng.choice(["email", "phone"], n)
    likes = rng.uniform(size=n) < 0.5
    reviews = [
        " ".join([*rng.choice(NEUTRAL, 3), str(rng.choice(POSITIVE if like else NEGATIVE))]) for like in likes
    ]
    logit = -1.2 + 3.0 * likes + 1.5 * (segment == "gold") + 0.03 * np.nan_to_num(age - 45)
    y = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"age": age, "segment": segment, "channel": channel, "review": reviews, "y": y})


def assert_no_pickle_files(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, folder
    bad = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
    assert not bad, bad
    for p in files:  # the pickle protocol's first bytes, whatever the name
        assert p.read_bytes()[:2] not in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"), p.name


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles while it runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


@pytest.fixture(scope="module")
def quick() -> tuple:
    """Tabular + hybrid (no transformer) on 800 rows."""
    df = campaign_table(800, seed=1)
    comp = train_response_models(df, ResponseSetup(
        ["age", "segment", "channel"], ["review"], "y", "yes", include_transformer=False, val_fraction=0.25, test_fraction=0.3
    ))
    return df, comp


@pytest.fixture(scope="module")
def full(tiny_model_dir) -> tuple:
    """All three kinds, the transformer being the tiny random BERT (tiny settings)."""
    df = campaign_table(240, seed=2)
    events = []
    setup = ResponseSetup(["age", "segment"], ["review"], "y", "yes", base_model=str(tiny_model_dir), val_fraction=0.25,
                          test_fraction=0.3, transformer_settings=TINY)
    comp = train_response_models(df, setup, on_progress=events.append)
    return df, comp, events


# ---------------------------------------------------------------------------------------------
# labels and checks
# ---------------------------------------------------------------------------------------------


def test_response_labels_names_and_numbers():
    y, pos, neg = response_labels(pd.Series(["yes", " no", "yes"]), "yes")
    assert y.tolist() == [1, 0, 1] and (pos, neg) == ("yes", "no")
    y, pos, neg = response_labels(pd.Series([1.0, 0.0, 1.0]), 1)  # floats read from CSV
    assert y.tolist() == [1, 0, 1] and (pos, neg) == ("1", "0")
    y, pos, neg = response_labels(pd.Series(["bought", "ignored", "complained"]), "bought")
    assert y.tolist() == [1, 0, 0] and neg == "not bought"
    with pytest.raises(ValueError, match="does not occur"):
        response_labels(pd.Series(["yes", "no"]), "maybe")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile_columns": []}, "at least one profile column"),
        ({"profile_columns": ["age", "y"]}, "cannot also be a profile"),
        ({"profile_columns": ["age", "nope"]}, "not in the table"),
        ({"text_columns": ["age"]}, "both profile and text"),
        ({"positive_class": "perhaps"}, "does not occur"),
        ({"test_fraction": 0.7}, "test_fraction"),
    ],
)
def test_bad_requests_raise_value_errors(kwargs, message):
    args = {"profile_columns": ["age", "segment"], "text_columns": [], "positive_class": "yes", **kwargs}
    with pytest.raises(ValueError, match=message):
        train_response_models(campaign_table(60), ResponseSetup(label_column="y", include_transformer=False, **args))


def test_the_setup_is_frozen_checked_when_made_and_read_from_a_job_request():
    setup = ResponseSetup(["age"], ["review"], "y", "yes", column_kinds={"age": "numeric"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setup.seed = 1
    assert setup.profile_columns == ("age",) and setup.profile == ["age"]
    with pytest.raises(ValueError, match="test_fraction"):
        ResponseSetup(["age"], val_fraction=0.4, test_fraction=0.45)
    with pytest.raises(ValueError, match="not profile columns"):
        ResponseSetup(["age"], column_kinds={"segment": "categorical"})
    request = {"profile_columns": ["age"], "text_columns": [], "label_column": "y", "positive_class": "yes",
               "include_transformer": False, "data_name": "sample", "transformer_max_train_rows": None}
    assert ResponseSetup.from_dict(request) == ResponseSetup(["age"], (), "y", "yes", include_transformer=False)


def test_scores_are_those_saved_before_the_setup_object(quick):
    """The comparison's scores with ResponseSetup equal those of the 17-argument version it
    replaced (tests/data/response_scores_before_setup.json, saved from main at 9e5942f)."""
    _df, comp = quick
    before = json.loads((ROOT / "tests" / "data" / "response_scores_before_setup.json").read_text())
    assert comp.recommended == before["recommended"] and set(comp.candidates) == set(before["candidates"])
    for name, scores in before["candidates"].items():
        for field, values in scores.items():
            np.testing.assert_allclose(getattr(comp.candidates[name], field), values, atol=1e-9, err_msg=f"{name} {field}")
        assert comp.candidates[name].metrics["roc_auc"] == pytest.approx(before["roc_auc"][name], abs=1e-12)


def test_too_few_responders_is_explained():
    df = campaign_table(60)
    df["y"] = "no"
    df.loc[:1, "y"] = "yes"
    with pytest.raises(ValueError, match="at least 3 rows of each outcome"):
        train_response_models(df, ResponseSetup(["age"], (), "y", "yes", include_transformer=False))


def test_rows_without_label_or_inputs_are_dropped_and_counted():
    df = campaign_table(300)
    df["age"] = df["age"].fillna(40.0)
    df.loc[:4, "y"] = None
    df.loc[5:7, ["age", "segment"]] = None
    comp = train_response_models(df, ResponseSetup(["age", "segment"], (), "y", "yes", include_transformer=False))
    assert len(comp.split) == 300 - 5 - 3
    assert any("without a response" in w for w in comp.warnings)
    assert any("every profile and text cell empty" in w for w in comp.warnings)


# ---------------------------------------------------------------------------------------------
# the tabular baseline and the hybrid
# ---------------------------------------------------------------------------------------------


def test_profile_encoding_numbers_categories_missing_through_the_model(quick):
    _, comp = quick
    assert comp.column_kinds == {"age": "numeric", "segment": "categorical", "channel": "categorical"}
    model = comp.candidates[TABULAR].model
    odd = pd.DataFrame(
        {
            "age": [np.nan, "45", "not a number", 30.0],
            "segment": [None, "platinum", " gold ", "gold"],  # missing, unseen, padded
            "channel": ["email", None, "fax", "phone"],
        }
    )
    proba = model.predict_proba(odd)
    assert proba.shape == (4, 2) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # " gold " is the gold category once trimmed: same score as "gold" with the same other cells.
    same = pd.DataFrame({"age": [30.0, 30.0], "segment": [" gold ", "gold"], "channel": ["phone", "phone"]})
    p = model.predict_proba(same)[:, 1]
    assert p[0] == p[1]
    # Gold customers respond more in the data; the model learnt it.
    gold = pd.DataFrame({"age": [50.0] * 2, "segment": ["gold", "bronze"], "channel": ["email"] * 2})
    p = model.predict_proba(gold)[:, 1]
    assert p[0] > p[1]


def test_tabular_and_hybrid_on_a_tiny_table(quick):
    _, comp = quick
    assert list(comp.candidates) == [TABULAR, HYBRID]
    tab, hyb = comp.candidates[TABULAR], comp.candidates[HYBRID]
    assert tab.model.classes_.tolist() == ["no", "yes"] and hyb.model.classes_.tolist() == ["no", "yes"]
    assert tab.model.schema["text_columns"] == [] and hyb.model.schema["text_columns"] == ["review"]
    # The response depends strongly on the review's words: the hybrid must rank much better.
    assert hyb.metrics["roc_auc"] > tab.metrics["roc_auc"] + 0.1
    assert hyb.metrics["roc_auc"] > 0.8
    # Same test rows for both, and the numbers are computed on them.
    assert len(tab.test_scores) == len(hyb.test_scores) == len(comp.test_frame) == comp.y_test.size
    assert roc_auc_score(comp.y_test, hyb.test_scores) == pytest.approx(hyb.metrics["roc_auc"])
    table = comp.table()
    assert table["key"].tolist() == [TABULAR, HYBRID]
    assert table["recommended"].sum() == 1
    assert comp.recommended == HYBRID  # clearly better on validation, so it replaces the baseline
    assert "Contact the top 20%" in hyb.metrics["readout"]


def test_text_scores_for_training_rows_are_out_of_fold():
    """Noise text (a unique token per row): in-sample scores separate the training rows
    perfectly; out-of-fold scores must not (they carry no information)."""
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"note": [f"tok{i}x word{rng.integers(0, 3)}" for i in range(n)]})
    y = (rng.uniform(size=n) < 0.4).astype(int)
    in_sample = TextScorer(["note"], C=100.0, min_df=1).fit(df, y).predict_proba(df)[:, 1]
    assert roc_auc_score(y, in_sample) > 0.95
    oof = cross_fit_text_scores(df, y, ["note"], seed=0, C=100.0, min_df=1)
    assert roc_auc_score(y, oof) < 0.65


def test_text_scorer_matches_scikit_learn_and_survives_save_load(tmp_path, no_unpickling):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    df = campaign_table(200, seed=4)
    y = (df["y"] == "yes").to_numpy().astype(int)
    scorer = TextScorer(["review", "channel"]).fit(df, y)
    texts = scorer.texts(df)
    assert texts[0] == f"{df['review'][0]} {df['channel'][0]}"
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True)
    ref = LogisticRegression(C=1.0, max_iter=2000).fit(vec.fit_transform(texts), y)
    new = campaign_table(50, seed=5)
    expected = ref.predict_proba(vec.transform(scorer.texts(new)))[:, 1]
    np.testing.assert_allclose(scorer.predict_proba(new)[:, 1], expected, atol=1e-10)
    np.testing.assert_allclose(scorer.predict_proba(new).sum(axis=1), 1.0)
    scorer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text_scorer.json", "text_scorer.safetensors"]
    np.testing.assert_array_equal(TextScorer.load(tmp_path).predict_proba(new), scorer.predict_proba(new))


# ---------------------------------------------------------------------------------------------
# calibration and the recommendation
# ---------------------------------------------------------------------------------------------


def test_calibration_in_the_pipeline_fixes_an_overconfident_model():
    df = campaign_table(1500, seed=6)
    overfit = {"max_iter": 300, "learning_rate": 1.0, "min_samples_leaf": 1, "max_leaf_nodes": 63, "early_stopping": False}
    comp = train_response_models(df, ResponseSetup(
        ["age", "segment", "channel"], ["review"], "y", "yes", include_transformer=False, tabular_params=overfit,
        val_fraction=0.3, test_fraction=0.3, refit=False,  # the held-out fit itself is checked here
    ))
    for c in comp.candidates.values():
        m = c.metrics
        assert m["ece_uncalibrated"] == pytest.approx(expected_calibration_error(comp.y_test, c.test_scores_raw))
        assert m["ece_calibrated"] == pytest.approx(expected_calibration_error(comp.y_test, c.test_scores))
        assert m["ece_calibrated"] < m["ece_uncalibrated"]
        # The model's predict_proba is the calibrated one (what deploy saves).
        np.testing.assert_allclose(c.model.predict_proba(comp.test_frame)[:, 1], c.test_scores, atol=1e-12)
        assert c.model.calibration["positive_class"] == "yes"
    tab = comp.candidates[TABULAR].metrics
    assert tab["ece_uncalibrated"] > 0.1  # it really was miscalibrated
    assert tab["calibration_method"] in ("isotonic", "platt") and tab["calibration_reason"]  # not "none"


def test_recommend_model_keeps_the_simpler_model_unless_clearly_better():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=600) < 0.3).astype(int)
    noise = rng.normal(size=600)
    base = y + 1.5 * noise
    same = y + 1.5 * noise + rng.normal(scale=0.05, size=600)  # a near-copy: not clearly better
    better = y + 0.5 * noise
    best = y + 0.1 * noise
    name, reason = recommend_model({TABULAR: base, TRANSFORMER: same}, y)
    assert name == TABULAR and "was not clearly better than" in reason
    name, reason = recommend_model({TABULAR: base, TRANSFORMER: same, HYBRID: better}, y)
    assert name == HYBRID and "bootstrap" in reason
    # A tie between the hybrid and the transformer goes to the simpler hybrid ...
    name, _ = recommend_model({TRANSFORMER: better + rng.normal(scale=0.01, size=600), TABULAR: base, HYBRID: better}, y)
    assert name == HYBRID
    # ... a transformer that is clearly better than the hybrid wins.
    name, reason = recommend_model({TABULAR: base, HYBRID: better, TRANSFORMER: best}, y)
    assert name == TRANSFORMER and reason.count(" beat ") == 2


# ---------------------------------------------------------------------------------------------
# the transformer in the comparison, deploy, safe save/load of every kind
# ---------------------------------------------------------------------------------------------


def test_comparison_with_the_transformer_uses_one_split(full):
    df, comp, events = full
    assert list(comp.candidates) == [TRANSFORMER, TABULAR, HYBRID]
    tr = comp.candidates[TRANSFORMER]
    # The transformer trained on our split: its test predictions are exactly our test rows.
    assert tr.model.test_predictions["row"].tolist() == comp.test_frame.index.tolist()
    assert (comp.split == "test").sum() == len(comp.test_frame)
    assert tr.model.metrics["split_sizes"] == {k: int((comp.split == k).sum()) for k in ("train", "validation", "test")}
    # It reads the original columns, the input built as in training.
    assert tr.model.schema["profile_columns"] == ["age", "segment"] and tr.model.schema["text_columns"] == ["review"]
    assert tr.model.input_columns == ["age", "segment", "review"]
    np.testing.assert_allclose(tr.model.predict_proba(comp.test_frame)[:, list(tr.model.classes_).index("yes")],
                               tr.test_scores, atol=1e-5)
    for name, c in comp.candidates.items():
        for key in ("roc_auc", "top_decile_lift", "ece_uncalibrated", "ece_calibrated", "train_seconds", "readout"):
            assert key in c.metrics, (name, key)
        assert c.model.metrics["response"]["recommended"] == comp.recommended
    stages = [e.phase for e in events]
    assert stages[0] == "prepare" and stages[-1] == "done" and "transformer" in stages
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_transformers_scores_through_the_pipeline_match_its_own_predictions_and_scikit_learn(full):
    """The fine-tune runs through core.pipeline.fit_and_score; what it recorded is checked against
    the saved model's own predictions on the original columns and scikit-learn's metrics."""
    import copy

    from sklearn.metrics import accuracy_score, f1_score

    df, comp, _ = full
    tr = comp.candidates[TRANSFORMER]
    uncalibrated = copy.copy(tr.model)
    uncalibrated.calibration = None
    yes = list(tr.model.classes_).index("yes")
    val_rows = df.loc[comp.split.index[comp.split == "validation"]]
    np.testing.assert_allclose(tr.val_scores_raw, uncalibrated.predict_proba(val_rows)[:, yes], atol=1e-5)
    np.testing.assert_allclose(tr.test_scores_raw, uncalibrated.predict_proba(comp.test_frame)[:, yes], atol=1e-5)
    assert tr.metrics["roc_auc_uncalibrated"] == pytest.approx(roc_auc_score(comp.y_test, tr.test_scores_raw))
    assert tr.metrics["validation_roc_auc"] == pytest.approx(roc_auc_score(comp.y_val, tr.val_scores_raw))
    names = np.where(comp.y_test == 1, "yes", "no")
    picked = np.where(tr.test_scores_raw >= 0.5, "yes", "no")  # two classes: argmax is p >= 0.5 (no exact ties here)
    raw = tr.model.metrics["model_uncalibrated"]
    assert raw["accuracy"] == pytest.approx(accuracy_score(names, picked))
    assert raw["macro_f1"] == pytest.approx(f1_score(names, picked, average="macro"))


def test_deploy_every_kind_loads_back_identically_without_pickle(full, models_dir, no_unpickling):
    df, comp, _ = full
    sample = df.head(25)
    for name, c in comp.candidates.items():
        folder = deploy(comp, name, f"resp-{name}")
        assert folder == models_dir / f"resp-{name}"
        manifest = json.loads((folder / "marketune.json").read_text())
        assert manifest["kind"] == name and manifest["task"] == "classification"
        assert {"saved_at", "base_model", "classes"} <= set(manifest)
        assert (folder / "metrics.json").is_file() and (folder / "training_config.json").is_file()
        assert json.loads((folder / "calibration.json").read_text())["positive_class"] == "yes"
        assert_no_pickle_files(folder)
        loaded = load_model(f"resp-{name}")
        assert type(loaded) is type(c.model)
        assert list(loaded.classes_) == list(c.model.classes_) and loaded.input_columns == c.model.input_columns
        np.testing.assert_allclose(loaded.predict_proba(sample), c.model.predict_proba(sample), atol=1e-6)
        assert positive_class_of(loaded) == "yes"
        assert json.loads((folder / "metrics.json").read_text())["response"]["deployed"] == name
    with pytest.raises(ValueError, match="already exists"):
        deploy(comp, TABULAR, "resp-tabular")
    with pytest.raises(ValueError, match="not allowed"):
        deploy(comp, TABULAR, "../escape")
    with pytest.raises(ValueError, match="no model"):
        deploy(comp, "forest", "resp-forest")


def test_transformer_calibration_json_is_applied_on_load(full, tmp_path):
    _, comp, _ = full
    tr = comp.candidates[TRANSFORMER]
    folder = tr.model.save(tmp_path / "tr")
    calibrated = load_folder(folder).predict_proba(comp.test_frame)
    (folder / "calibration.json").unlink()
    raw = load_folder(folder).predict_proba(comp.test_frame)
    pos = list(tr.model.classes_).index("yes")
    np.testing.assert_allclose(raw[:, pos], tr.test_scores_raw, atol=1e-5)
    np.testing.assert_allclose(calibrated[:, pos], tr.test_scores, atol=1e-5)
    assert not np.allclose(raw, calibrated)


def test_recommended_default_is_at_least_as_good_as_the_baseline_on_validation(full):
    _, comp, _ = full
    val = {n: c.metrics["validation_roc_auc"] for n, c in comp.candidates.items()}
    assert val[comp.recommended] >= val[TABULAR]


# ---------------------------------------------------------------------------------------------
# scoring lists: predict_frame, score_customers, the CLI
# ---------------------------------------------------------------------------------------------


def test_score_customers_with_tabular_and_hybrid(quick):
    _, comp = quick
    customers = campaign_table(30, seed=9).drop(columns=["y"])
    customers.insert(0, "customer_id", range(100, 130))
    customers.loc[3, "review"] = ""  # no text: a hybrid cannot be asked via predict_frame
    scored, n_unscored = score_customers(comp.candidates[TABULAR].model, customers)
    assert n_unscored == 0 and len(scored) == 30
    expected = comp.candidates[TABULAR].model.predict_proba(customers)[:, 1]
    np.testing.assert_allclose(scored["response_probability"], expected)
    scored, n_unscored = score_customers(comp.candidates[HYBRID].model, customers)
    assert n_unscored == 1 and 103 not in scored["customer_id"].tolist()
    with pytest.raises(ValueError, match="not one of the model's classes"):
        score_customers(comp.candidates[TABULAR].model, customers, positive_class="maybe")


def test_predict_frame_works_on_a_model_without_text_columns(quick):
    from core.predict import predict_frame, prediction_columns

    _, comp = quick
    model = comp.candidates[TABULAR].model
    out = predict_frame(model, comp.test_frame.drop(columns=["y", "review"]))
    assert list(out.columns[-len(prediction_columns(model)):]) == prediction_columns(model)
    assert (out["prediction_error"] == "").all()
    np.testing.assert_allclose(out["p_yes"], model.predict_proba(comp.test_frame)[:, 1])


def test_chosen_cheap_models_are_refitted_on_every_labelled_row(quick, models_dir):
    """The deployed gradient boosting is the fit on all 800 rows (same settings), not the
    training-split fit whose held-out numbers are reported; the metrics say so."""
    from core.models.tabular import TabularModel

    df, comp = quick
    kinds = comp.column_kinds
    params = comp.settings["tabular_params"]
    y = (df["y"] == "yes").to_numpy().astype(int)
    all_rows = TabularModel(["age", "segment", "channel"], kinds=kinds, **params).fit(df, y)
    train_idx = comp.split.index[comp.split == "train"]
    train_only = TabularModel(["age", "segment", "channel"], kinds=kinds, **params).fit(df.loc[train_idx], y[train_idx])
    folder = deploy(comp, TABULAR, "gb-refit")
    saved = load_folder(folder)
    raw = saved.raw_scores(df)
    np.testing.assert_allclose(raw, all_rows.predict_proba(df)[:, 1], atol=1e-9)
    assert np.abs(raw - train_only.predict_proba(df)[:, 1]).max() > 1e-3
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["fitted_on_rows"] == 800
    assert json.loads((folder / "training_config.json").read_text())["fitted_on_rows"] == 800
    assert "held-out" in metrics["refit_note"] and "all 800 labelled rows" in metrics["refit_note"]
    assert metrics["refit_note"] in (folder / "README.md").read_text()
    # The reported numbers stay those of the training-split fit on the test rows.
    test_idx = comp.split.index[comp.split == "test"]
    held_out = roc_auc_score(y[test_idx], train_only.predict_proba(df.loc[test_idx])[:, 1])
    assert comp.candidates[TABULAR].metrics["roc_auc_uncalibrated"] == pytest.approx(held_out, abs=1e-9)
    # The hybrid is refitted too: its saved text scorer learnt words from all rows.
    hybrid = comp.candidates[HYBRID].model
    assert hybrid.metrics["fitted_on_rows"] == 800
    assert len(hybrid.text_scorer.vocabulary_) == len(TextScorer(["review"]).fit(df, y).vocabulary_)


def test_refit_can_be_turned_off():
    df = campaign_table(300, seed=9)
    comp = train_response_models(df, ResponseSetup(["age", "segment"], [], "y", "yes", include_transformer=False, refit=False))
    c = comp.candidates[TABULAR]
    np.testing.assert_allclose(c.model.predict_proba(comp.test_frame)[:, 1], c.test_scores, atol=1e-12)
    assert "refit_note" not in c.metrics and c.metrics["fitted_on_rows"] == int((comp.split == "train").sum())


def test_comparison_survives_save_and_load_and_deploys_from_the_folder(quick, tmp_path, models_dir):
    from core.response import load_comparison, save_comparison

    _, comp = quick
    save_comparison(comp, tmp_path / "cmp")
    back = load_comparison(tmp_path / "cmp")
    assert back.recommended == comp.recommended and list(back.candidates) == list(comp.candidates)
    pd.testing.assert_frame_equal(back.table(), comp.table())
    for name, c in comp.candidates.items():
        np.testing.assert_array_equal(back.candidates[name].test_scores, c.test_scores)
    np.testing.assert_array_equal(back.y_test, comp.y_test)
    assert back.split.value_counts().to_dict() == comp.split.value_counts().to_dict()
    folder = deploy(back, HYBRID, "from-folder")
    np.testing.assert_allclose(load_folder(folder).predict_proba(comp.test_frame),
                               comp.candidates[HYBRID].model.predict_proba(comp.test_frame), atol=1e-12)
    with pytest.raises(ValueError, match="already exists"):
        deploy(back, HYBRID, "from-folder")
    with pytest.raises(ValueError, match="no saved comparison"):
        load_comparison(tmp_path)


def test_language_check_reads_text_columns_only():
    """The bank sample has no text: its "age: 34 | job: admin." rows are no language, and the
    transformer's base model stays the English one; a Chinese review column still counts."""
    from core.base_models import MULTILINGUAL_BASE_MODEL, language_mix
    from core.columns import suggest_setup
    from core.data import build_texts
    from core.response import language_texts, transformer_base_model

    bank = pd.read_csv(ROOT / "sample_data" / "bank_marketing.csv").head(300)
    setup = suggest_setup(bank)
    assert setup["text_columns"] == [] and setup["include_transformer"] is False
    # The profile fields as text were once read as 100% non-English; terse English now stays English.
    assert language_mix(build_texts(bank, [], setup["profile_columns"])).english == 1.0
    assert language_texts(bank, setup["text_columns"]) == []
    assert transformer_base_model(bank, setup["text_columns"]) == ("minilm-en", "")
    zh = bank.assign(review=[f"第{i}位客人：这家酒店的服务很好，房间干净，早餐也不错，下次还会再来住。" for i in range(len(bank))])
    assert suggest_setup(zh)["include_transformer"] is True
    assert transformer_base_model(zh, ["review"])[0] == MULTILINGUAL_BASE_MODEL
    assert language_texts(zh, ["review"])[0] == zh["review"][0]


def test_transformer_time_estimate_grows_with_rows_epochs_and_model_size():
    from core.response import estimate_transformer_seconds

    base = estimate_transformer_seconds(10_000, epochs=1, max_train_rows=3000)
    assert 60 < base < 600  # a few minutes for the Fast run on the bank sample
    assert estimate_transformer_seconds(10_000, epochs=3) > 3 * base
    assert estimate_transformer_seconds(10_000, epochs=1, max_train_rows=3000, base_model="multilingual-e5-small") > 2 * base


def test_cli_predict_on_a_tabular_model(quick, tmp_path):
    _, comp = quick
    model = comp.candidates[TABULAR].model
    folder = model.save(tmp_path / "tab")
    data = tmp_path / "customers.csv"
    customers = comp.test_frame.drop(columns=["y"]).head(40)
    customers.to_csv(data, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "core", "predict", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "p.csv")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows"] == 40
    pred = pd.read_csv(tmp_path / "p.csv")
    assert {"predicted_label", "p_no", "p_yes"} <= set(pred.columns)
    np.testing.assert_allclose(pred["p_yes"], model.predict_proba(customers)[:, 1], atol=1e-9)


def test_response_model_load_refuses_other_kinds_and_damaged_files(quick, tmp_path):
    _, comp = quick
    folder = comp.candidates[HYBRID].model.save(tmp_path / "hyb")
    (folder / "text_scorer.safetensors").unlink()
    with pytest.raises(ValueError, match="text model"):
        ResponseModel.load(folder)
    manifest = json.loads((folder / "marketune.json").read_text())
    (folder / "marketune.json").write_text(json.dumps({**manifest, "kind": "transformer"}))
    with pytest.raises(ValueError, match="kind"):
        ResponseModel.load(folder)


def test_a_table_with_repeated_index_labels_is_handled():
    df = campaign_table(300, seed=11)
    df.index = [i // 2 for i in range(len(df))]  # e.g. two files concatenated
    comp = train_response_models(df, ResponseSetup(["age", "segment"], ["review"], "y", "yes", include_transformer=False))
    assert comp.split.index.is_unique and len(comp.split) == 300
    assert len(comp.test_frame) == comp.y_test.size


def test_the_transformer_is_fitted_on_the_comparisons_own_rows_without_fake_columns(tiny_model_dir, tmp_path, monkeypatch):
    """The comparison hands core.training.fit_transformer a Prepared of its own input texts and
    split: the model comes back reading the original columns, and nothing named __marketune_*
    reaches the data, the model, its training config or the saved folder."""
    import core.pipeline
    import core.training
    from core.data import build_texts

    seen = {}
    real = core.training.fit_transformer

    def spy(prepared, config, *args, **kwargs):
        seen["prepared"], seen["config"] = prepared, config
        model = real(prepared, config, *args, **kwargs)
        seen["schema"], seen["training_config"] = dict(model.schema), dict(model.training_config)
        return model

    monkeypatch.setattr(core.training, "fit_transformer", spy)
    monkeypatch.setattr(core.pipeline, "prepare", lambda *a, **k: pytest.fail("the comparison must not call prepare()"))
    df = campaign_table(120, seed=3)
    comp = train_response_models(df, ResponseSetup(["age", "segment"], ["review"], "y", "yes", base_model=str(tiny_model_dir),
                                                   transformer_settings={**TINY, "epochs": 1}, transformer_max_train_rows=50))
    prepared, model = seen["prepared"], comp.candidates[TRANSFORMER].model
    # The model inputs are the rows' own columns, "age: 41 | segment: gold | review: ...", and the split is ours.
    assert prepared.texts == build_texts(df.loc[prepared.index], ["review"], ["age", "segment"])
    row = df.loc[prepared.index].dropna().iloc[0]
    assert f"age: {int(row['age'])} | segment: {row['segment']} | review: {row['review']}" in prepared.texts
    for part in ("validation", "test"):
        assert list(prepared.index[prepared.splits[part]]) == list(comp.split.index[comp.split == part])
    assert len(prepared.splits["train"]) == 50
    # What fit_transformer returned is what is deployed: no schema or config rewritten afterwards.
    assert model.schema == seen["schema"] and model.training_config == seen["training_config"]
    assert model.schema["text_columns"] == ["review"] and model.schema["profile_columns"] == ["age", "segment"]
    assert model.training_config["split_column"] is None and model.training_config["method"] == "full"
    folder = model.save(tmp_path / "tr")
    for text in [json.dumps(seen["config"].to_dict()), json.dumps(model.metrics, default=str),
                 *(p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix in (".json", ".csv", ".md"))]:
        assert "__marketune_" not in text
