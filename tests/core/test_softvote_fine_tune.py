"""The soft vote with the fine-tune (core.softvote's ``softvote_ft``): the leaderboard's last
candidate, TF-IDF + LR, embeddings + LR and the fine-tuned transformer averaged.

Independent truths: each member's own ``predict_proba`` on the validation rows recomputed from the
data's split, averaged and scored here with scikit-learn's ``f1_score``; the refit's rows and steps
worked out here from the split and ``planned_steps``' formula (epochs x batches); the saved folder
loaded back and compared with its members' own probabilities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from core.config import TrainConfig
from core.models import SoftVoteClassifier, TextClassifier, load_folder
from core.prepare import prepare
from core.softvote import WITH_FINE_TUNE
from core.training import with_validation
from tests.conftest import make_sentiment_frame


def _config(tiny_model_dir, **changes) -> TrainConfig:
    return TrainConfig(**{"base_model": str(tiny_model_dir), "max_length": 32, "method": "full", "epochs": 1.0,
                          "batch_size": 16, **changes})


def _run(tiny_model_dir, take_vote: bool, **changes):
    """The leaderboard on 3-class data with the tiny BERT counted as a sentence encoder (so the embeddings
    and both votes run beside the fine-tune); ``take_vote``: the vote with the fine-tune is chosen whatever
    its score (the choice rule is tested in test_softvote.py; the refit is under test here). Returns
    (df, config, result, the candidates as fitted on the training rows)."""
    from core import pipeline, train

    patch, fitted = pytest.MonkeyPatch(), {}
    patch.setattr(pipeline, "_sentence_encoder", lambda _config: True)
    rule, assemble = pipeline.choose_leader, pipeline.assemble_result

    def choose(done, task, preferred=None):
        return WITH_FINE_TUNE if take_vote and any(f.kind == WITH_FINE_TUNE for f in done) else rule(done, task, preferred)

    def capture(view, config, run, leader, *args, **kwargs):
        fitted.update(run)
        return assemble(view, config, run, leader, *args, **kwargs)

    patch.setattr(pipeline, "choose_leader", choose)
    patch.setattr(pipeline, "assemble_result", capture)
    try:
        df = make_sentiment_frame(240, seed=5, classes=3)
        config = _config(tiny_model_dir, **changes)
        return df, config, train(df, config), fitted
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def voted(tiny_model_dir):
    return _run(tiny_model_dir, take_vote=True)


def test_it_runs_last_and_scores_the_mean_of_its_three_members_on_the_validation_rows(voted):
    df, config, result, fitted = voted
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert list(rows)[-2:] == ["transformer", WITH_FINE_TUNE] and rows[WITH_FINE_TUNE]["status"] == "done"
    prepared = with_validation(prepare(df, config), config)  # the same split, recomputed from the data
    val = prepared.splits["validation"]
    texts = prepared.texts_at(val)
    mean = sum(fitted[k].model.predict_proba(texts) for k in ("tfidf", "embedding", "transformer")) / 3
    truth = f1_score(prepared.labels[val], np.asarray(prepared.classes)[mean.argmax(axis=1)], average="macro")
    assert rows[WITH_FINE_TUNE]["score"] == pytest.approx(truth, abs=1e-6)
    # Its time on the table is its members' (nothing is fitted again).
    assert rows[WITH_FINE_TUNE]["seconds"] >= sum(rows[k]["seconds"] for k in ("tfidf", "embedding", "transformer")) - 0.05


def test_chosen_every_member_is_refitted_on_train_and_validation_and_it_predicts_their_mean(voted):
    df, config, result, fitted = voted
    vote = result.model
    assert result.metrics["saved_kind"] == WITH_FINE_TUNE and type(vote) is SoftVoteClassifier
    assert list(vote.members) == ["tfidf", "embedding", "transformer"]
    prepared = with_validation(prepare(df, config), config)
    both = len(prepared.splits["train"]) + len(prepared.splits["validation"])
    # The fine-tuned member: retrained over a whole schedule on train + validation (epochs x batches).
    steps = math.ceil(config.epochs * math.ceil(both / config.batch_size))
    assert result.metrics["refit"]["rows"] == both and result.metrics["refit"]["steps"] == steps
    assert vote.members["transformer"] is not fitted["transformer"].model
    assert isinstance(vote.members["transformer"], TextClassifier)
    assert vote.members["embedding"].metrics["embedding"]["rows"] == both
    assert "fine-tuned member was retrained for" in result.metrics["refit"]["sentence"]
    texts = ["great phone", "awful broken thing", "the box arrived"]
    truth = sum(m.predict_proba(texts) for m in vote.members.values()) / 3
    np.testing.assert_allclose(vote.predict_proba(texts), truth, atol=1e-9)
    # Its settings are the fine-tune's: a retrain runs the same leaderboard, the fine-tune included.
    assert vote.training_config.get("method") == "full"


def test_saved_it_loads_describes_itself_and_has_the_fast_forms_of_both_networks(voted, tmp_path):
    from core.registry import read_info

    _, _, result, _ = voted
    folder = result.save(tmp_path / "m")
    loaded = load_folder(folder)
    texts = ["great phone", "awful broken thing", "the box arrived"]
    np.testing.assert_allclose(loaded.predict_proba(texts), result.model.predict_proba(texts), atol=1e-5)
    info = read_info(folder)
    assert info.members == ("tfidf", "embedding", "transformer")
    assert info.describe(lambda _base: "BASE") == (
        "soft vote of TF-IDF + LR, BASE embeddings + LR and the fine-tuned transformer · base model BASE · "
        "probabilities averaged, encoder frozen for the embeddings, full fine-tuning for the fine-tune")
    assert "int8" in loaded.fast_forms
    loaded.quantize("int8")
    assert loaded.members["embedding"].quantized == "int8" and loaded.members["transformer"].quantized == "int8"
    assert loaded.predict_proba(texts).shape == (3, 3)


def test_without_the_fine_tune_it_is_skipped_saying_why_not_failed(tiny_model_dir, monkeypatch):
    from core import training

    def broken(*_args, **_kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("core.pipeline.fit_transformer", broken)
    _, _, result, _ = _run(tiny_model_dir, take_vote=False)
    rows = {r["kind"]: r for r in result.metrics["leaderboard"]}
    assert rows["transformer"]["status"] == "failed"
    assert rows[WITH_FINE_TUNE]["status"] == "skipped"
    assert "did not finish" in rows[WITH_FINE_TUNE]["note"] and "fine-tuned transformer" in rows[WITH_FINE_TUNE]["note"]
    assert set(result.metrics["failed_candidates"]) == {"transformer"}
    assert training.fit_transformer is not broken


def test_it_is_not_in_the_table_where_the_fine_tune_does_not_run(tiny_model_dir):
    from core.pipeline import candidate_table

    config = _config(tiny_model_dir, method="embedding")
    table = {c.kind: c for c in candidate_table(prepare(make_sentiment_frame(60, seed=1), config), config, None)}
    assert table[WITH_FINE_TUNE].fit is None and "fine-tune does not run" in table[WITH_FINE_TUNE].skip


def test_a_skipped_candidate_says_why_in_the_settings_words(tiny_model_dir):
    """Walk (r13): "Few-shot is for small data sets; method 'full' was chosen." on 400 rows the page had
    just called small enough for few-shot: the reason is the method, said as the settings name it."""
    from core.pipeline import candidate_table

    for method, words in (("full", "full fine-tuning"), ("embedding", "frozen embeddings + logistic regression")):
        config = _config(tiny_model_dir, method=method)
        table = {c.kind: c for c in candidate_table(prepare(make_sentiment_frame(60, seed=1), config), config, None)}
        assert table["fewshot"].skip == (f"Not run: this run uses {words}; few-shot runs when the method is few-shot "
                                         "(Auto picks it for small data).")
        assert "'" not in table["fewshot"].skip and "small data sets" not in table["fewshot"].skip


def test_the_rule_takes_the_vote_over_a_leader_it_adds_to_as_soon_as_it_scores_higher():
    """Written out: a later candidate leads when more than the tie margin ahead; the vote with the fine-tune,
    which averages the leader's own models with more, leads when ahead at all, except over TF-IDF."""
    import pandas as pd

    from core.evaluation import TIE_MARGIN, Scored
    from core.pipeline import choose_leader
    from core.result import Fitted

    def fitted(kind: str, score: float, members: tuple[str, ...] = ()) -> Fitted:
        scored = Scored({"macro_f1": score}, pd.DataFrame(), np.array(["a"] * 200, dtype=object), None)
        return Fitted(kind, None, scored, scored, 1.0, facts={"members": list(members)} if members else {})

    three = ("tfidf", "embedding", "transformer")
    cheap = [fitted("tfidf", 0.775), fitted("embedding", 0.804), fitted("softvote", 0.814, ("tfidf", "embedding"))]
    small = TIE_MARGIN * 0.9  # ahead, within the tie margin
    assert choose_leader([*cheap, fitted("transformer", 0.792), fitted(WITH_FINE_TUNE, 0.814 + small, three)],
                         "classification") == WITH_FINE_TUNE
    assert choose_leader([*cheap, fitted("transformer", 0.792), fitted(WITH_FINE_TUNE, 0.814, three)],
                         "classification") == "softvote"  # level: the leader stays
    # The fine-tune leading: the vote averages it with more, so the same holds.
    assert choose_leader([*cheap, fitted("transformer", 0.825), fitted(WITH_FINE_TUNE, 0.825 + small, three)],
                         "classification") == WITH_FINE_TUNE
    # TF-IDF leading keeps its margin (as the verdict against TF-IDF does).
    assert choose_leader([fitted("tfidf", 0.80), fitted(WITH_FINE_TUNE, 0.80 + small, three)], "classification") == "tfidf"
    # Any other later candidate still needs more than the margin.
    assert choose_leader([fitted("tfidf", 0.70), fitted("embedding", 0.80), fitted("transformer", 0.80 + small)],
                         "classification") == "embedding"


def test_swapping_it_out_and_back_keeps_every_candidate_under_its_own_name(voted, tmp_path):
    """Saved as kind "softvote" with three members, it is the candidate softvote_ft: set aside under that
    name (not over the two-member soft vote kept beside it), and put back whole."""
    from core.candidates import candidates_of
    from core.models.candidates import kept_kinds, switch_candidate
    from core.registry import read_info

    _, _, result, _ = voted
    folder = result.save(tmp_path / "m")
    before = sorted(kept_kinds(folder))
    assert WITH_FINE_TUNE not in before and "softvote" in before and read_info(folder).candidate_kind == WITH_FINE_TUNE
    assert [c.kind for c in candidates_of(folder) if c.in_place] == [WITH_FINE_TUNE]
    texts = ["great phone", "awful broken thing"]
    vote_proba = load_folder(folder).predict_proba(texts)
    two = load_folder(folder / "candidates" / "softvote")
    assert switch_candidate(folder, "transformer") == WITH_FINE_TUNE
    assert sorted(kept_kinds(folder)) == sorted([k for k in before if k != "transformer"] + [WITH_FINE_TUNE])
    assert list(load_folder(folder / "candidates" / "softvote").members) == ["tfidf", "embedding"]
    np.testing.assert_allclose(load_folder(folder / "candidates" / "softvote").predict_proba(texts), two.predict_proba(texts))
    assert switch_candidate(folder, WITH_FINE_TUNE) == "transformer"
    assert sorted(kept_kinds(folder)) == before
    np.testing.assert_allclose(load_folder(folder).predict_proba(texts), vote_proba, atol=1e-6)


def test_a_leaderboard_note_and_the_verdict_give_one_interval_for_one_comparison():
    """The same pair on the same validation rows gets the same bootstrap resamples (the run's seed) in
    the leaderboard's note and in the verdict (core.evaluation.choose_saved_model), so a person never
    reads two intervals for one difference. Truth: the verdict's own interval, mirrored for the note
    that reads TF-IDF minus the leader."""
    import pandas as pd

    from core.evaluation import Scored, choose_saved_model, classification_metrics
    from core.pipeline import Candidate, Leaderboard
    from core.progress import Events
    from core.result import Fitted

    config = TrainConfig(seed=7)
    prepared = with_validation(prepare(make_sentiment_frame(1000, seed=3, classes=3), config), config)
    truth = prepared.labels[prepared.splits["validation"]]
    rng = np.random.default_rng(0)

    def noisy(kind: str, right: float) -> Fitted:  # right about ``right`` of the rows, wrong at random elsewhere
        pred = np.where(rng.random(len(truth)) < right, truth, rng.choice(prepared.classes, len(truth))).astype(object)
        scored = Scored(classification_metrics(truth, pred, prepared.classes), pd.DataFrame(), pred, None)
        return Fitted(kind, None, scored, scored, 1.0)

    tfidf, tuned = noisy("tfidf", 0.6), noisy("transformer", 0.8)
    board = Leaderboard(Events(None), prepared, [Candidate("tfidf", None), Candidate("transformer", None)], seed=config.seed)
    board.finished(tfidf, "tfidf")
    board.finished(tuned, "transformer")
    verdict = choose_saved_model("classification", prepared.classes, candidate="transformer", val_true=truth,
                                 val_candidate=tuned.val.pred, val_tfidf=tfidf.val.pred, test_true=truth,
                                 test_candidate=tuned.val.pred, test_tfidf=tfidf.val.pred,
                                 test_constant=[truth[0]] * len(truth), seed=config.seed)
    low, high = verdict["validation"]["ci"]
    assert low < high  # a real interval, not a degenerate one
    note = next(r["note"] for r in board.rows() if r["kind"] == "tfidf")
    assert f"95% interval {-high * 100:+.1f} points to {-low * 100:+.1f} points" in note, (note, verdict["validation"])


def test_the_swap_says_a_kept_candidate_was_not_retrained_as_the_model_in_place_was(voted, tmp_path, capsys):
    """Walk (r12): a kept candidate is as the leaderboard fitted it on the training rows (core.result
    keeps it so), while the vote in place was retrained on train + validation; putting the kept one in
    place silently gave up the validation rows. The words come from each folder's own metrics; the
    row counts here from the data's split, recomputed."""
    from core.candidates import candidates_of, fitted_on
    from ui.candidates import _rows_words

    df, config, result, _ = voted
    prepared = with_validation(prepare(df, config), config)
    train, both = len(prepared.splits["train"]), len(prepared.splits["train"]) + len(prepared.splits["validation"])
    folder = result.save(tmp_path / "m")
    found = {c.kind: c for c in candidates_of(folder)}
    in_place, kept = found[WITH_FINE_TUNE], found["transformer"]
    assert fitted_on(in_place) == f"retrained on {both:,} labelled rows after the comparison"
    assert fitted_on(kept) == f"fitted on the {train:,} training rows only, as the comparison left it"
    assert _rows_words(kept, in_place) == (
        f" The fine-tuned transformer was fitted on the {train:,} training rows only, as the comparison left it; "
        f"{in_place.name} was retrained on {both:,} labelled rows after the comparison.")
    # TF-IDF is refitted on every labelled row, its test rows included (walk r13: the swap said nothing of it).
    test = len(prepared.splits["test"])
    tfidf_words = (f"retrained on all {len(df):,} labelled rows after the comparison, its {test:,} test rows included "
                   f"(its test numbers are those of its copy fitted on the {train:,} training rows)")
    assert fitted_on(found["tfidf"]) == tfidf_words
    assert _rows_words(found["tfidf"], in_place) == (
        f" TF-IDF + logistic regression was {tfidf_words}; {in_place.name} was retrained on {both:,} labelled rows "
        "after the comparison.")
    assert _rows_words(in_place, in_place) == ""  # the same rows: nothing to weigh
    from core.cli import main  # the CLI's list says the same of each

    assert main(["choose", str(folder)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("The fine-tuned transformer (kept) [kind: transformer]"))
    assert line.endswith(f"(fitted on the {train:,} training rows only, as the comparison left it)")
