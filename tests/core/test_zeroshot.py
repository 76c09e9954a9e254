"""Zero-shot models (core.zeroshot, kind "zeroshot"): the head's arithmetic recomputed with numpy
on the model's own embeddings, class order, save/load, the CLI, and refusals.

The tiny random BERT cannot tell categories apart by their names, so the truths here are the
mechanics (cosine / temperature -> softmax, centring, the self-training row choice) computed
independently; accuracy on real data is measured in bench/bench_zeroshot.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.bench_zeroshot import estimate_priors, shifted_intercept  # measured there, not used by the product
from core.cli import main
from core.models import load_folder
from core.models.zeroshot import NEVER_TRAINED, SCORES_UNCHECKED, ZeroShotClassifier
from core.zeroshot import (
    Options,
    build_zeroshot,
    confident_rows,
    parse_descriptions,
    parse_labels,
)
from tests.conftest import make_sentiment_frame

TEXTS = make_sentiment_frame(60, classes=3)["text"].tolist()
PLAIN = Options(templates=("{label}", "this is {label}"), centre=False, self_training=False)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def built(tiny_model_dir) -> ZeroShotClassifier:
    return build_zeroshot(TEXTS, "great, bad, service", base_model=str(tiny_model_dir), options=PLAIN)


def test_probabilities_are_cosine_over_temperature_softmaxed(built):
    # Prototypes recomputed: each label's templates embedded, averaged, normalised.
    protos = []
    for label in ["great", "bad", "service"]:
        v = built.embed([f"{label}", f"this is {label}"]).astype(np.float64).mean(axis=0)
        protos.append(v / np.linalg.norm(v))
    protos = np.array(protos)
    np.testing.assert_allclose(built.prototypes, protos, atol=1e-5)
    emb = built.embed(TEXTS[:10]).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    expected = _softmax(emb @ protos.T / PLAIN.temperature)
    np.testing.assert_allclose(built.predict_proba(TEXTS[:10]), expected, atol=1e-4)
    assert list(built.predict(TEXTS[:10])) == list(np.array(["great", "bad", "service"])[expected.argmax(axis=1)])


def test_centring_subtracts_each_class_mean_cosine_over_the_file(tiny_model_dir, built):
    centred = build_zeroshot(TEXTS, "great, bad, service", base_model=str(tiny_model_dir),
                             options=Options(templates=PLAIN.templates, centre=True, self_training=False))
    emb = built.embed(TEXTS).astype(np.float64)
    cos = emb @ built.prototypes.astype(np.float64).T
    expected = _softmax((cos - cos.mean(axis=0)) / PLAIN.temperature)
    np.testing.assert_allclose(centred.predict_proba(TEXTS), expected, atol=1e-4)


def test_probability_columns_follow_the_classes_order(tiny_model_dir, built):
    permuted = build_zeroshot(TEXTS, ["service", "great", "bad"], base_model=str(tiny_model_dir), options=PLAIN)
    assert list(permuted.classes_) == ["service", "great", "bad"]
    np.testing.assert_allclose(permuted.predict_proba(TEXTS), built.predict_proba(TEXTS)[:, [2, 0, 1]], atol=1e-6)
    # Self-training too: the same pseudo-labels under another class order give the same model.
    options = Options(templates=PLAIN.templates, centre=True, self_training=True)
    a = build_zeroshot(TEXTS, ["great", "bad", "service"], base_model=str(tiny_model_dir), options=options)
    b = build_zeroshot(TEXTS, ["service", "great", "bad"], base_model=str(tiny_model_dir), options=options)
    assert a.zero_shot["self_training"]["rows_per_class"] == b.zero_shot["self_training"]["rows_per_class"] > 0
    np.testing.assert_allclose(b.predict_proba(TEXTS), a.predict_proba(TEXTS)[:, [2, 0, 1]], atol=2e-3)


def test_confident_rows_take_the_same_number_of_surest_rows_per_class():
    rng = np.random.default_rng(0)
    proba = _softmax(rng.normal(size=(200, 3)) * 3)
    rows, n = confident_rows(proba, share=0.5)
    top = proba.argmax(axis=1)
    assert n == int(np.ceil(0.5 * np.bincount(top).min()))
    for k in range(3):
        mine = np.flatnonzero(top == k)
        surest = set(mine[np.argsort(-proba[mine, k])[:n]])
        assert set(rows[top[rows] == k]) == surest
    few_rows, few_n = confident_rows(proba[:6], share=0.5)  # 2 rows per class at most: too few to self-train on
    assert few_n == 0 and len(few_rows) == 0


def _posteriors_from(priors: list[float], n: int, seed: int) -> np.ndarray:
    """Rows drawn from 1-D Gaussians N(2c, 1) for class c with the given class shares, and the
    posterior an equal-shares model gives them (Bayes' rule with uniform priors): what a zero-shot
    head trained for balanced classes reports on a file whose true shares are ``priors``."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(priors), size=n, p=priors)
    x = rng.normal(2.0 * y, 1.0)
    means = 2.0 * np.arange(len(priors))
    return _softmax(-0.5 * (x[:, None] - means[None, :]) ** 2)


@pytest.mark.parametrize("priors", [[0.7, 0.2, 0.1], [0.05, 0.25, 0.7], [0.9, 0.1]])
def test_em_recovers_the_class_shares_the_rows_were_drawn_with(priors):
    proba = _posteriors_from(priors, 20_000, seed=1)
    # The balanced model's own argmax shares are far from the truth (what made the bench's shares too even) ...
    naive = np.bincount(proba.argmax(axis=1), minlength=len(priors)) / len(proba)
    assert np.abs(naive - priors).max() > 0.04
    # ... EM's estimate is within 0.02 of the shares the rows were drawn with.
    estimate, rounds = estimate_priors(proba)
    np.testing.assert_allclose(estimate, priors, atol=0.02)
    assert estimate.sum() == pytest.approx(1.0) and rounds <= 100


def test_em_is_a_no_op_on_balanced_rows_and_the_shift_is_bayes_rule():
    proba = _posteriors_from([1 / 3] * 3, 20_000, seed=2)
    estimate, _ = estimate_priors(proba)
    np.testing.assert_allclose(estimate, [1 / 3] * 3, atol=0.02)
    # The shifted head's probabilities are the old ones times the shares, renormalised (Bayes' rule),
    # computed here from the logits without core's helper.
    rng = np.random.default_rng(3)
    emb, coef, intercept = rng.normal(size=(50, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    before = _softmax(emb @ coef.T + intercept)
    after = _softmax(emb @ coef.T + shifted_intercept(coef, intercept, estimate))
    expected = before * estimate / estimate.sum()
    np.testing.assert_allclose(after, expected / expected.sum(axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(after, before, atol=0.05)  # balanced: almost nothing moves
    skewed = np.array([0.6, 0.3, 0.1])
    moved = _softmax(emb @ coef.T + shifted_intercept(coef, intercept, skewed))
    expected = before * skewed
    np.testing.assert_allclose(moved, expected / expected.sum(axis=1, keepdims=True), atol=1e-9)
    # Two classes, scikit-learn's one-row head (sigmoid of class 1's score).
    one = rng.normal(size=(1, 4))
    p1 = 1 / (1 + np.exp(-(emb @ one.T + 0.3)[:, 0]))
    q1 = 1 / (1 + np.exp(-(emb @ one.T + shifted_intercept(one, np.array([0.3]), np.array([0.8, 0.2])))[:, 0]))
    np.testing.assert_allclose(q1, p1 * 0.2 / (p1 * 0.2 + (1 - p1) * 0.8), atol=1e-9)
    with pytest.raises(ValueError, match="rows"):
        estimate_priors(np.zeros((0, 3)))


def test_confident_rows_in_proportion_to_the_shares():
    rng = np.random.default_rng(0)
    proba = _softmax(rng.normal(size=(600, 3)) * 3 + np.log([0.6, 0.3, 0.1]))
    top = proba.argmax(axis=1)
    counts = np.bincount(top)
    rows, n = confident_rows(proba, share=0.5, priors=np.array([0.6, 0.3, 0.1]))
    per_class = np.bincount(top[rows], minlength=3)
    expected = np.minimum(np.ceil(0.5 * np.array([0.6, 0.3, 0.1]) * 600), counts)
    assert list(per_class) == list(expected) and n == expected.min()
    for k in range(3):  # the surest of each class
        mine = np.flatnonzero(top == k)
        assert set(rows[top[rows] == k]) == set(mine[np.argsort(-proba[mine, k])[: per_class[k]]])


def test_progress_only_goes_forward(tiny_model_dir):
    seen: list[tuple[float, str]] = []
    build_zeroshot(TEXTS, "great, bad, service", base_model=str(tiny_model_dir),
                   options=Options(templates=PLAIN.templates), on_progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0, seen
    assert any(f"of {len(TEXTS)} rows" in m for _, m in seen)  # the rows' reading is reported


def test_save_load_round_trip_says_it_was_never_trained_on_labels(built, tmp_path):
    folder = built.save(tmp_path / "zs")
    loaded = load_folder(folder)
    assert isinstance(loaded, ZeroShotClassifier)
    assert list(loaded.classes_) == ["great", "bad", "service"]
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), built.predict_proba(TEXTS), atol=1e-6)
    manifest = json.loads((folder / "marketune.json").read_text())
    assert manifest["kind"] == "zeroshot" and manifest["trained_on_labels"] is False
    assert NEVER_TRAINED in (folder / "README.md").read_text()
    assert not [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pickle")]
    frame = pd.DataFrame({"text": TEXTS[:5], "other": 1})
    assert list(loaded.predict(frame)) == list(built.predict(TEXTS[:5]))


def test_cli_round_trip_then_predict(tmp_path, tiny_model_dir, capsys):
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": TEXTS}).to_csv(data, index=False)
    out = tmp_path / "zs-model"
    assert main(["zero-shot", "--data", str(data), "--text-col", "review", "--labels", "great,bad",
                 "--descriptions", "bad=terrible and awful", "--base-model", str(tiny_model_dir),
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["kind"] == "zeroshot" and printed["trained_on_labels"] is False
    model = load_folder(out)
    assert model.zero_shot["descriptions"] == {"bad": "terrible and awful"}
    assert main(["predict", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "pred.csv")]) == 0
    written = pd.read_csv(tmp_path / "pred.csv")
    assert list(written["predicted_label"]) == list(model.predict(TEXTS))
    assert SCORES_UNCHECKED in capsys.readouterr().err  # the CLI says what Predict's page says


@pytest.mark.parametrize("labels, words", [("complaint", "at least 2"), ("a, b, A ", "repeats"), (",", "at least 2"),
                                           ("negative,,positive", "name 2 is empty"), ("a, b,", "name 3 is empty")])
def test_refuses_fewer_than_two_or_duplicate_names(labels, words, tmp_path, capsys):
    with pytest.raises(ValueError, match=words):
        parse_labels(labels)
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": ["x", "y"]}).to_csv(data, index=False)
    assert main(["zero-shot", "--data", str(data), "--text-col", "text", "--labels", labels,
                 "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_descriptions_are_checked_against_the_names():
    assert parse_descriptions("praise = happy ; complaint=a problem", ["complaint", "praise"]) == {
        "praise": "happy", "complaint": "a problem"}
    with pytest.raises(ValueError, match="not one of the categories"):
        parse_descriptions("refund=money back", ["complaint", "praise"])
    with pytest.raises(ValueError, match="name=description"):
        parse_descriptions("just words", ["complaint", "praise"])


def test_e5_gets_its_query_prefix_and_chinese_gets_chinese_templates():
    from core.zeroshot import TEMPLATES, language_of, text_prefix

    assert text_prefix("multilingual-e5-small") == "query: "
    assert text_prefix("/models/intfloat-e5-base") == "query: "
    assert text_prefix("minilm-en") == "" and text_prefix("/x/bert5-tiny") == ""
    assert language_of(["质量很好，物流很快", "太差了"], ["好评", "差评"]) == "zh"
    assert language_of(["great phone", "awful service"], ["praise", "complaint"]) == "en"
    assert all("{label}" in t for t in TEMPLATES["zh"]) and any("评论" in t for t in TEMPLATES["zh"])
