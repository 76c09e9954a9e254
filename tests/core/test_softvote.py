"""The soft-vote candidate (core.softvote) and its saved kind (core.models.softvote).

Independent truths: the members' own ``predict_proba`` averaged here (scikit-learn's soft voting:
the mean of the probabilities, the argmax the label); scikit-learn's ``f1_score`` of that mean on
the validation rows, recomputed from the data's own split; the choice rule written out here
(a later candidate leads only when more than the tie margin ahead); scikit-learn's pipeline
refitted here on train + validation for the refit.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from core.config import TrainConfig
from core.evaluation import TIE_MARGIN, tfidf_estimator
from core.models import SoftVoteClassifier, TfidfClassifier, load_folder
from core.prepare import prepare
from core.training import with_validation
from tests.conftest import make_sentiment_frame


def _config(tiny_model_dir, **changes) -> TrainConfig:
    return TrainConfig(**{"base_model": str(tiny_model_dir), "max_length": 32, "method": "embedding", **changes})


@pytest.fixture(scope="module")
def members(tiny_model_dir):
    """A TF-IDF and an embedding model fitted on the same training rows of 3-class data."""
    from core.embedding import fit_embedding

    config = _config(tiny_model_dir)
    prepared = prepare(make_sentiment_frame(120, seed=4, classes=3), config)
    train = prepared.splits["train"]
    tfidf = TfidfClassifier.from_pipeline(tfidf_estimator("classification", 4.0).fit(prepared.texts_at(train), prepared.labels[train]),
                                          task="classification", classes=prepared.classes, schema=prepared.schema)
    return prepared, tfidf, fit_embedding(prepared, config)


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    """The leaderboard with method "embedding" (TF-IDF, embeddings, the soft vote) on 3-class data."""
    from core import train

    df = make_sentiment_frame(240, seed=5, classes=3)
    config = _config(tiny_model_dir)
    return df, config, train(df, config)


def test_probabilities_are_the_mean_of_the_members_and_survive_save_and_load(members, tmp_path):
    prepared, tfidf, embedding = members
    vote = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, schema=prepared.schema)
    texts = make_sentiment_frame(30, seed=9, classes=3)
    truth = (tfidf.predict_proba(texts) + embedding.predict_proba(texts)) / 2
    np.testing.assert_allclose(vote.predict_proba(texts), truth, rtol=0, atol=1e-12)
    assert list(vote.predict(texts)) == list(np.asarray(prepared.classes, dtype=object)[truth.argmax(axis=1)])
    assert vote.base_model == embedding.base_model
    folder = vote.save(tmp_path / "vote")
    loaded = load_folder(folder)
    assert type(loaded) is SoftVoteClassifier and list(loaded.members) == ["tfidf", "embedding"]
    np.testing.assert_allclose(loaded.predict_proba(texts), truth, atol=1e-6)
    assert json.loads((folder / "softvote.json").read_text())["voting"] == "soft"
    assert tfidf.path is None and embedding.path is None  # the member objects are left as they were (a kept candidate's)


def test_weights_follow_scikit_learns_weighted_soft_vote(members):
    prepared, tfidf, embedding = members
    vote = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, weights=[3, 1], schema=prepared.schema)
    texts = ["great phone", "awful broken", "the box"]
    np.testing.assert_allclose(vote.predict_proba(texts),
                               np.average([tfidf.predict_proba(texts), embedding.predict_proba(texts)], axis=0,
                                          weights=[3, 1]), atol=1e-12)


@pytest.mark.parametrize("members_json", [["tfidf", "../../elsewhere"], ["tfidf", "fewshot"], "tfidf"])
def test_a_folder_naming_other_members_is_refused(members, tmp_path, members_json):
    prepared, tfidf, embedding = members
    folder = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, schema=prepared.schema).save(tmp_path / "v")
    meta = json.loads((folder / "softvote.json").read_text())
    (folder / "softvote.json").write_text(json.dumps({**meta, "members": members_json}))
    with pytest.raises(ValueError, match="a soft vote holds only"):
        load_folder(folder)


def test_a_missing_member_is_refused_in_words(members, tmp_path):
    prepared, tfidf, embedding = members
    folder = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, schema=prepared.schema).save(tmp_path / "v")
    shutil.rmtree(folder / "members" / "embedding")
    with pytest.raises(ValueError, match="embedding member is missing"):
        load_folder(folder)


def test_the_leaderboard_scores_the_vote_from_its_members_on_the_same_validation_rows(trained):
    df, config, result = trained
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert rows["softvote"]["status"] == "done"
    vote = result.model if result.metrics["saved_kind"] == "softvote" else result.alternatives["softvote"]
    # The same split, recomputed from the data (prepare is deterministic for a seed).
    prepared = with_validation(prepare(df, config), config)
    val = prepared.splits["validation"]
    texts = prepared.texts_at(val)
    mean = sum(m.predict_proba(texts) for m in vote.members.values()) / 2
    truth = f1_score(prepared.labels[val], np.asarray(prepared.classes)[mean.argmax(axis=1)], average="macro")
    assert rows["softvote"]["score"] == pytest.approx(truth, abs=1e-9)
    assert rows["softvote"]["n_val"] == len(val)
    # Its cost on the table: both members' fits (nothing fitted again).
    assert rows["softvote"]["seconds"] >= rows["tfidf"]["seconds"] + rows["embedding"]["seconds"] - 0.02


def test_the_saved_model_is_the_rules_choice_given_the_scores(trained):
    _, _, result = trained
    board = [r for r in result.metrics["leaderboard"] if r["status"] == "done"]
    assert [r["kind"] for r in board] == ["tfidf", "embedding", "softvote"]
    leader = board[0]
    for row in board[1:]:  # cheapest first; a later one leads only when more than the tie margin ahead
        if row["score"] - leader["score"] > TIE_MARGIN:
            leader = row
    assert result.metrics["saved_kind"] == leader["kind"]


def test_choose_leader_takes_the_vote_only_when_its_score_says_so():
    from core.evaluation import Scored
    from core.pipeline import choose_leader
    from core.result import Fitted

    def fitted(kind: str, score: float) -> Fitted:
        scored = Scored({"macro_f1": score}, pd.DataFrame(), np.array(["a"] * 50, dtype=object), None)
        return Fitted(kind, None, scored, scored, 1.0)

    base = [fitted("tfidf", 0.80), fitted("embedding", 0.83)]
    assert choose_leader([*base, fitted("softvote", 0.84)], "classification") == "softvote"
    assert choose_leader([*base, fitted("softvote", 0.83 + TIE_MARGIN / 2)], "classification") == "embedding"
    assert choose_leader([*base, fitted("softvote", 0.82)], "classification") == "embedding"


def test_it_is_skipped_with_a_reason_for_several_tags_per_row(tiny_model_dir):
    from core.pipeline import candidate_table

    df = pd.DataFrame({"text": [f"great phone {i}" if i % 2 else f"bad box {i}" for i in range(60)],
                       "tags": ["pos|new" if i % 2 else "neg" for i in range(60)]})
    config = _config(tiny_model_dir, label_column="tags", multi_label=True)
    table = {c.kind: c for c in candidate_table(prepare(df, config), config, None)}
    assert table["softvote"].fit is None and "several tags per row" in table["softvote"].skip
    assert table["embedding"].fit is not None  # the members run there: only the vote is left out


def test_refit_fits_both_members_on_train_and_validation(trained, tiny_model_dir):
    import dataclasses

    from core.progress import Events
    from core.result import Fitted
    from core.softvote import refit_vote

    df, config, _ = trained
    prepared = with_validation(prepare(df, config), config)
    both = np.sort(np.concatenate([prepared.splits["train"], prepared.splits["validation"]]))
    more = dataclasses.replace(prepared, splits={**prepared.splits, "train": both, "validation": np.array([], dtype=int)})
    chosen = Fitted("softvote", None, None, None, 0.0, facts={"tfidf_param": 2.0, "weights": [0.5, 0.5]})
    vote = refit_vote(more, config, chosen, Events(None), None)
    reference = tfidf_estimator("classification", 2.0).fit(prepared.texts_at(both), prepared.labels[both])
    texts = prepared.texts_at(prepared.splits["test"])
    order = [list(reference.classes_).index(c) for c in prepared.classes]
    np.testing.assert_allclose(vote.members["tfidf"].predict_proba(texts), reference.predict_proba(texts)[:, order], atol=1e-9)
    assert vote.members["embedding"].metrics["embedding"]["rows"] == len(both)


def test_pages_and_cli_describe_it_with_its_base_model(trained, tmp_path, capsys):
    from core.cli import main
    from core.registry import ModelInfo, read_info

    _, _, result = trained
    folder = result.save(tmp_path / "m")
    info = read_info(folder if result.metrics["saved_kind"] == "softvote" else folder / "candidates" / "softvote")
    assert isinstance(info, ModelInfo) and info.kind == "softvote"
    described = info.describe(lambda base: "BASE")
    assert described.startswith("soft vote of TF-IDF + LR and BASE embeddings + LR · base model BASE")
    # `python -m core choose` lists it and can put it in place.
    if result.metrics["saved_kind"] != "softvote":
        assert main(["choose", str(folder), "softvote"]) == 0
        capsys.readouterr()
    assert json.loads((folder / "marketune.json").read_text())["kind"] == "softvote"
    assert type(load_folder(folder)) is SoftVoteClassifier


def test_onnx_export_refuses_it_in_words(members, tmp_path):
    from core.onnx_form import export

    prepared, tfidf, embedding = members
    folder = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, schema=prepared.schema).save(tmp_path / "v")
    with pytest.raises(ValueError, match=r"ONNX export is for fine-tuned transformers; this model is a soft vote"):
        export(folder)


@pytest.fixture(scope="module")
def saved_vote(members, tmp_path_factory):
    prepared, tfidf, embedding = members
    vote = SoftVoteClassifier({"tfidf": tfidf, "embedding": embedding}, schema=prepared.schema)
    return vote, vote.save(tmp_path_factory.mktemp("softvote") / "vote")


def test_cli_api_and_ray_actor_answer_with_the_members_mean(saved_vote, tmp_path):
    """The CLI's predict, the HTTP API and the Ray actor (core.ray_predict.Scorer, called as Ray calls it)
    all give the members' averaged probabilities."""
    from fastapi.testclient import TestClient

    from core.cli import main
    from core.ray_predict import FILE_ID, ROW_ID, Scorer
    from core.serve import create_app

    vote, folder = saved_vote
    texts = ["great phone", "awful service", "the box arrived", "love it"]
    truth = sum(m.predict_proba(texts) for m in vote.members.values()) / 2
    columns = [f"p_{c}" for c in vote.classes_]
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": texts}).to_csv(data, index=False)
    assert main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)[columns].to_numpy(), truth, atol=1e-6)
    answer = TestClient(create_app(folder)).post("/predict", json={"texts": texts}).json()["predictions"]
    np.testing.assert_allclose([[a["probabilities"][c] for c in vote.classes_] for a in answer], truth, atol=1e-6)
    batch = pd.DataFrame({"text": texts, FILE_ID: 0, ROW_ID: range(len(texts))})
    np.testing.assert_allclose(Scorer(str(folder), False, None, 64)(batch)[columns].to_numpy(), truth, atol=1e-6)


def test_predict_page_scores_with_a_soft_vote(saved_vote, models_dir):
    from tests.ui.test_page_predict import NEW_ROWS, open_page, upload

    vote, folder = saved_vote
    shutil.copytree(folder, models_dir / "vote-model")
    at = open_page()
    assert at.selectbox(key="predict_model").value == "vote-model"
    # The sidebar names the model with ModelInfo.describe (ui/state.py); an AppTest draws the sidebar
    # only on the process's first rerouted run (ui/routing.py), so the description is read here.
    from core.registry import list_models

    info = next(m for m in list_models() if m.name == "vote-model")
    assert info.describe().startswith("soft vote of TF-IDF + LR and "), info.describe()
    upload(at, NEW_ROWS)
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    result = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    scored = (result["text"] != "").to_numpy()
    assert result.loc[scored, "predicted_label"].astype(str).tolist() == [str(v) for v in vote.predict(NEW_ROWS)[scored]]


def test_on_small_data_it_is_chosen_on_the_members_out_of_fold_probabilities(tiny_model_dir, monkeypatch):
    """Small data (core.small_data): every candidate scored out of fold on all rows; the vote's score is
    the macro-F1 of the mean of the members' out-of-fold p_<class> columns (their saved predictions)."""
    from core import pipeline, train

    monkeypatch.setattr(pipeline, "_sentence_encoder", lambda _config: True)  # the tiny BERT as an encoder

    def no_fewshot(*_args, **_kwargs):  # small data runs the few-shot method; its fit is not under test here
        raise ValueError("not under test")

    monkeypatch.setattr(pipeline, "fit_fewshot", no_fewshot)
    df = make_sentiment_frame(45, seed=6, classes=3)
    result = train(df, _config(tiny_model_dir, method="fewshot"))
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert rows["softvote"]["status"] == "done" and rows["softvote"]["n_val"] == len(df)

    def of(kind):
        return (result.model if result.metrics["saved_kind"] == kind else result.alternatives[kind]).test_predictions

    classes = sorted(df["label"].unique())
    mean = sum(of(k)[[f"p_{c}" for c in classes]].to_numpy() for k in ("tfidf", "embedding")) / 2
    truth = of("tfidf")["true_label"].astype(str)
    assert rows["softvote"]["score"] == pytest.approx(
        f1_score(truth, np.asarray(classes)[mean.argmax(axis=1)], average="macro"), abs=1e-9)
    assert result.metrics["evaluation"].endswith("cross-validation")
