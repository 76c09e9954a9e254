"""Near-duplicate grouping (core/duplicates.py) and the near-duplicate-aware split, end to end.

Truths are independent of the code under test: every pair compared with scikit-learn's own
vocabulary TfidfVectorizer and a full cosine matrix (no hashing, no prefix filter), and the
planted groups known by construction.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from core import TrainConfig
from core import check as run_check
from core.cli import main as cli_main
from core.data import duplicate_groups, normalise_for_duplicates, split_indices
from core.duplicates import NEAR_DUPLICATE_COSINE, char_vectors, near_duplicate_groups, similar_pairs

EMOJI = ["😀", "🔥", "👍", "💔", "✨"]


def random_word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(5, 9))))


def planted_frame(seed: int = 0, n_groups: int = 30, n_single: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """Texts of 24 random words: ``n_groups`` originals each followed later by 1-3 near copies
    (one word changed, dropped or an emoji added, plus case/URL/@handle/number noise), and
    ``n_single`` unrelated texts. Returns (frame with text and label, planted group per row:
    -1 for the unrelated ones). Rows are shuffled so copies are spread over the frame."""
    rng = np.random.default_rng(seed)
    rows, group = [], []
    for g in range(n_groups + n_single):
        words = [random_word(rng) for _ in range(24)]
        label = ["positive", "negative"][g % 2]
        rows.append((" ".join(words), label))
        group.append(g if g < n_groups else -1)
        n_copies = int(rng.integers(1, 4)) if g < n_groups else 0
        for at in rng.choice(len(words), size=n_copies, replace=False):  # each copy edited elsewhere
            copy = list(words)
            kind = int(rng.integers(3))
            if kind == 0:
                copy[at] = random_word(rng)
            elif kind == 1:
                del copy[at]
            else:
                copy.insert(at, EMOJI[int(rng.integers(len(EMOJI)))])
            text = " ".join(copy)
            text = text.upper() if rng.random() < 0.3 else text
            text += f" https://t.co/{random_word(rng)} @{random_word(rng)} {int(rng.integers(10, 99))}% off"
            rows.append((text, label))
            group.append(g)
    order = rng.permutation(len(rows))
    frame = pd.DataFrame([rows[i] for i in order], columns=["text", "label"])
    return frame, np.asarray(group)[order]


def brute_force_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """Every pair (i < j) with cosine >= threshold, from a vocabulary TfidfVectorizer (the
    definition: character 3-5-grams within words, sublinear tf) and the full cosine matrix."""
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
    sims = cosine_similarity(vectors)
    i, j = np.nonzero(np.triu(sims >= threshold - 1e-6, 1))
    return set(zip(i.tolist(), j.tolist()))


def straddling(groups: np.ndarray, splits: dict[str, np.ndarray]) -> list[int]:
    """Planted groups whose rows fall in more than one split."""
    where = {}
    for name, idx in splits.items():
        for i in idx:
            if groups[i] >= 0:
                where.setdefault(int(groups[i]), set()).add(name)
    return sorted(g for g, names in where.items() if len(names) > 1)


# --------------------------------------------------------------------------- pair finding


@pytest.mark.parametrize("threshold", [NEAR_DUPLICATE_COSINE, 0.7, 0.5])
def test_prefix_filter_finds_exactly_the_pairs_a_full_comparison_finds(threshold):
    frame, _ = planted_frame(seed=1)
    keys = list(dict.fromkeys(normalise_for_duplicates(t) for t in frame["text"]))
    vectors = char_vectors(keys)
    i, j, cos = similar_pairs(vectors, threshold, max_candidates=None)
    truth = brute_force_pairs(keys, threshold)
    assert set(zip(i.tolist(), j.tolist())) == truth
    full = cosine_similarity(vectors)
    np.testing.assert_allclose(cos, full[i, j], atol=1e-5)
    assert (i < j).all() and len(truth) > 0


def test_default_candidate_cap_still_finds_every_planted_pair():
    frame, _ = planted_frame(seed=2, n_groups=60, n_single=200)
    keys = list(dict.fromkeys(normalise_for_duplicates(t) for t in frame["text"]))
    i, j, _ = similar_pairs(char_vectors(keys))
    assert set(zip(i.tolist(), j.tolist())) == brute_force_pairs(keys, NEAR_DUPLICATE_COSINE)


def test_near_duplicate_groups_are_the_planted_groups():
    frame, planted = planted_frame(seed=3)
    keys = [normalise_for_duplicates(t) for t in frame["text"]]
    # The fixture is what it says: copies are >= the threshold from their original, others far.
    pairs = brute_force_pairs(keys, NEAR_DUPLICATE_COSINE)
    n = len(keys)
    a, b = zip(*pairs)
    _, truth = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    found = near_duplicate_groups(keys)
    same_found = found.group[:, None] == found.group[None, :]
    same_planted = (planted[:, None] == planted[None, :]) & (planted[:, None] >= 0)
    np.fill_diagonal(same_planted, True)
    assert (same_found == same_planted).all()
    assert (same_found == (truth[:, None] == truth[None, :])).all()
    assert (found.joined == (planted >= 0)).all()
    assert (found.best[planted >= 0] >= NEAR_DUPLICATE_COSINE).all()


def test_empty_texts_and_tiny_inputs_are_never_joined():
    found = near_duplicate_groups(["", "", "same words here", ""])
    assert found.group.tolist() == [0, 0, 1, 0]  # "" equals "" (one key), never a near copy
    assert not found.joined.any()
    assert near_duplicate_groups([]).group.tolist() == []
    assert similar_pairs(char_vectors(["only one"]))[0].tolist() == []


# --------------------------------------------------------------------------- the split


def test_planted_near_copies_never_straddle_splits_but_did_with_exact_grouping_only():
    frame, planted = planted_frame(seed=4)
    texts, labels = frame["text"].tolist(), frame["label"].tolist()
    exact_keys, _ = duplicate_groups(texts, labels, near=False)
    assert len(set(exact_keys)) == len(texts)  # every copy differs beyond case/URL/@/digits
    before = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=1, groups=exact_keys)
    assert len(straddling(planted, before)) >= 5  # the leak: copies of test rows in training

    keys, message = duplicate_groups(texts, labels)
    after = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=1, groups=keys)
    assert straddling(planted, after) == []
    assert sorted(np.concatenate(list(after.values())).tolist()) == list(range(len(texts)))
    for name in ("train", "validation", "test"):
        assert {labels[i] for i in after[name]} == {"positive", "negative"}
    n_rows, n_groups = int((planted >= 0).sum()), len(set(planted[planted >= 0]))
    assert f"{n_rows} row(s) in {n_groups} group(s) are near copies" in message
    assert "occur more than once" not in message  # no exact copies were planted


@pytest.fixture(scope="module")
def planted_model(tiny_model_dir, tmp_path_factory):
    """The CLI's train on the planted frame, tiny model: (folder, stderr, planted groups, frame)."""
    frame, planted = planted_frame(seed=5)
    folder = tmp_path_factory.mktemp("near") / "data.csv"
    frame.to_csv(folder, index=False)
    out = folder.parent / "model"
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli_main([
            "train", "--data", str(folder), "--text-col", "text", "--label-col", "label", "--out", str(out),
            "--base-model", str(tiny_model_dir), "--method", "full", "--epochs", "1", "--batch-size", "16",
            "--max-length", "32", "--quiet",
        ])
    assert rc == 0, err.getvalue()
    return out, err.getvalue(), planted, frame


def test_cli_training_says_how_many_rows_it_grouped_and_keeps_copies_out_of_test(planted_model):
    out, stderr, planted, frame = planted_model
    n_rows, n_groups = int((planted >= 0).sum()), len(set(planted[planted >= 0]))
    assert f"{n_rows} row(s) in {n_groups} group(s) are near copies" in stderr
    # The saved test split: every planted group in it is there whole.
    tested = pd.read_csv(out / "test_predictions.csv", dtype=str, keep_default_na=False)["text"]
    row_of = {" ".join(t.split()): i for i, t in enumerate(frame["text"])}
    test_rows = [row_of[t] for t in tested]
    assert test_rows, "the test split is empty"
    in_test = pd.Series(planted[test_rows]).value_counts()
    sizes = pd.Series(planted).value_counts()
    partial = [g for g, n in in_test.items() if g >= 0 and n != sizes[g]]
    assert partial == [], f"planted groups split between test and training: {partial}"
    assert any(g >= 0 for g in in_test.index)  # the check is not vacuous
    metrics = json.loads((out / "metrics.json").read_text())
    assert any("near copies" in w for w in metrics.get("warnings", []))


def test_models_page_shows_the_grouped_rows(planted_model, models_dir):
    import shutil

    from tests.ui.test_page_models import open_models

    out, _, planted, _ = planted_model
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(out, models_dir / "near-copies")
    at = open_models()
    at.selectbox(key="models_open").set_value("near-copies").run()
    assert not at.exception
    shown = " ".join(w.value for w in at.warning)
    n_rows = int((planted >= 0).sum())
    assert re.search(rf"\b{n_rows} row\(s\) in \d+ group\(s\) are near copies", shown), shown


def test_check_lists_every_near_copy_after_its_groups_first_row():
    frame, planted = planted_frame(seed=6)
    report = run_check(frame, TrainConfig(text_columns=("text",), label_column="label"), features="tfidf")
    near = report.issues[report.issues["issue"] == "near_duplicate"]
    first = pd.Series(np.arange(len(frame))).groupby(planted).transform("min").to_numpy()
    expected = {i for i in range(len(frame)) if planted[i] >= 0 and first[i] != i}
    assert set(near["row"]) == expected
    assert all(near["group"].to_numpy() == first[near["row"].to_numpy()])


def test_texts_without_copies_keep_their_plain_keys_and_get_no_sentence():
    # Unique, unrelated texts: no sentence, and the keys are the plain normalised texts.
    frame, _ = planted_frame(seed=7, n_groups=0, n_single=30)
    keys, message = duplicate_groups(frame["text"].tolist(), frame["label"].tolist())
    assert message == "" and keys == [normalise_for_duplicates(t) for t in frame["text"]]


@pytest.mark.parametrize("method", ["full", "fewshot"])
def test_training_groups_by_the_text_alone_not_the_profile_columns(tiny_model_dir, method):
    # Short texts from a small vocabulary: shared profile values ("age: 0 | channel: email")
    # would make more of them look alike; copies are judged on the text, as the check does.
    from core import train
    from core.data import build_texts
    from tests.conftest import make_sentiment_frame

    df = make_sentiment_frame(160)
    _, by_text = duplicate_groups(df["text"].tolist(), df["label"].tolist())
    _, by_input = duplicate_groups(build_texts(df, ("text",), ("age", "channel")), df["label"].tolist())
    assert by_text != by_input and "near copies" in by_text  # the data tells the two apart
    config = TrainConfig(base_model=str(tiny_model_dir), method=method, epochs=1, batch_size=16, max_length=32,
                         profile_columns=("age", "channel"), **({"learning_rate": 3e-3} if method == "full" else {}))
    result = train(df, config)
    assert by_text in result.warnings
