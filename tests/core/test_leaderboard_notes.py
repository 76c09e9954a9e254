"""The leaderboard's note on each candidate says in plain words why it was not put in place (never "not
saved": the job keeps it as a candidate; issue 26's walk: the soft vote tied at 0.822 with the saved model and few-shot behind, with no reason given)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

import core.pipeline as pipeline
from core.evaluation import Scored
from core.progress import Events
from core.result import Fitted

TRUE = np.array(["a", "b"] * 100, dtype=object)


def _fitted(kind: str, wrong: int, note: str = "") -> tuple[Fitted, float]:
    """A candidate wrong on the first ``wrong`` validation rows, and its macro-F1 by scikit-learn."""
    pred = TRUE.copy()
    pred[:wrong] = np.where(TRUE[:wrong] == "a", "b", "a")
    score = f1_score(TRUE, pred, average="macro")
    val = Scored({"macro_f1": score}, pd.DataFrame(), pred, None)
    return Fitted(kind, None, val, val, 1.0, "stopped early" if note else "done", note), score


def _board(kinds: tuple[str, ...], preferred: str | None = None) -> pipeline.Leaderboard:
    prepared = SimpleNamespace(task="classification", multi_label=False, classification=True, labels=TRUE,
                               splits={"validation": np.arange(len(TRUE))}, classes=["a", "b"], out_of_fold=False)
    return pipeline.Leaderboard(Events(), prepared, [pipeline.Candidate(kind, lambda *_: None) for kind in kinds], preferred)


def _run(board: pipeline.Leaderboard, fitted: list[Fitted], preferred: str | None = None) -> dict[str, dict]:
    for i, one in enumerate(fitted):
        board.finished(one, pipeline.choose_leader(fitted[: i + 1], "classification", preferred))
    return {row["kind"]: row for row in board.rows()}


def test_each_candidate_not_saved_says_why_against_the_leader_as_it_stands():
    tfidf, f_tfidf = _fitted("tfidf", 40)
    embedding, _ = _fitted("embedding", 40)  # the same rows wrong: tied with TF-IDF
    vote, f_vote = _fitted("softvote", 20)
    stop = "Stopped early at step 4 of 10: its best validation macro-F1 was 20.0 points behind."
    fine, _ = _fitted("transformer", 60, note=stop)
    board = _board(("tfidf", "embedding", "softvote", "transformer"))
    board.finished(tfidf, "tfidf")
    board.finished(embedding, pipeline.choose_leader([tfidf, embedding], "classification"))
    tie = {row["kind"]: row for row in board.rows()}["embedding"]["note"]
    assert tie.startswith(f"Not put in place: tied with TF-IDF + logistic regression ({f_tfidf:.3f} vs {f_tfidf:.3f} macro-F1 "
                          "on the same 200 validation rows, within the tie margin of 0.5 points), so the cheaper one")
    rows = _run(_board(("tfidf", "embedding", "softvote", "transformer")), [tfidf, embedding, vote, fine])
    assert rows["softvote"]["leader"] and rows["softvote"]["note"] == "The best so far."
    # The former leader's and the tied one's notes now measure them against the new leader.
    gap = f"{(f_vote - f_tfidf) * 100:.1f} points behind the soft vote"
    for kind in ("tfidf", "embedding"):
        assert rows[kind]["note"].startswith(f"Not put in place: {gap}") and not rows[kind]["leader"]
        assert "noise of 200 validation rows (95% interval" in rows[kind]["note"]
    assert rows["transformer"]["note"] == stop  # where it stopped and by how much, as the fine-tune said it


def test_a_higher_candidate_not_saved_says_the_settings_keep_the_requested_one():
    tfidf, f_tfidf = _fitted("tfidf", 20)
    fine, f_fine = _fitted("transformer", 50)
    rows = _run(_board(("tfidf", "transformer"), "transformer"), [tfidf, fine], preferred="transformer")
    assert rows["transformer"]["leader"] and "settings ask to keep it" in rows["transformer"]["note"]
    assert rows["tfidf"]["note"] == (f"Not put in place: it scored higher than the fine-tuned transformer ({f_tfidf:.3f} vs "
                                     f"{f_fine:.3f} macro-F1 on the same 200 validation rows), but the settings ask to "
                                     "keep the fine-tuned transformer.")


def test_a_fine_tune_kept_by_the_settings_under_a_higher_candidate_says_so_in_the_verdict_and_the_note():
    """Round 11's walk: with --keep-transformer the verdict said "The fine-tuned transformer scored
    higher than TF-IDF + logistic regression (0.86 vs 0.82 ...), so it was kept." while the soft vote
    (0.905) and the embeddings (0.890) scored higher on the same rows and the transformer's own note
    said it was kept by the settings though it scored lower. Now both name the best-scoring one with
    its score beside the kept one's, and the verdict still compares with TF-IDF."""
    from core.result import choose_verdict, verdict_account

    test_true = np.array(["a", "b"] * 100, dtype=object)
    prepared = SimpleNamespace(task="classification", multi_label=False, classification=True, out_of_fold=False,
                               labels=np.concatenate([TRUE, test_true]), classes=["a", "b"],
                               splits={"validation": np.arange(200), "test": np.arange(200, 400)})
    tfidf, f_tfidf = _fitted("tfidf", 36)
    embedding, f_embedding = _fitted("embedding", 22)
    vote, f_vote = _fitted("softvote", 19)
    fine, f_fine = _fitted("transformer", 28)
    assert f_tfidf < f_fine < f_embedding < f_vote  # the walk's order: the kept one beats TF-IDF alone
    fitted = {f.kind: f for f in (tfidf, embedding, vote, fine)}
    config = SimpleNamespace(choose_simpler=False, class_weighting=None, seed=0)
    verdict = choose_verdict(prepared, config, fitted, "transformer", fine.test.pred, SimpleNamespace(constant="a"))
    said = verdict_account(verdict)  # what the CLI prints after "verdict:" and the pages show
    assert verdict["chosen"] == "transformer" and "so it was kept" not in said
    assert said.startswith(
        "The fine-tuned transformer was kept because the settings ask to keep it; the soft vote (TF-IDF + LR averaged "
        f"with embeddings + LR) scored higher: {f_vote:.3f} vs {f_fine:.3f} macro-F1 on the same 200 validation rows. "
        f"Against TF-IDF + logistic regression: {f_fine:.2f} vs {f_tfidf:.2f} macro-F1 on the 200 validation rows, "
        f"{(f_fine - f_tfidf) * 100:.1f} points ahead.")
    assert "better bet" not in said  # the higher score did not decide the keeping
    assert verdict["settings_kept_over"] == {"kind": "softvote", "name": verdict["settings_kept_over"]["name"],
                                             "score": f_vote, "kept_score": f_fine, "n": 200}
    assert verdict["validation"]["b"] == f_tfidf  # the TF-IDF pair the Models page's scores read stays as it was
    rows = _run(_board(("tfidf", "embedding", "softvote", "transformer"), "transformer"), [tfidf, embedding, vote, fine],
                preferred="transformer")
    assert rows["transformer"]["note"] == (
        "Kept because the settings ask to keep it, though the soft vote (TF-IDF + LR averaged with embeddings + LR) "
        f"scored higher: {f_vote:.3f} vs {f_fine:.3f} macro-F1 on the same 200 validation rows.")
    # Without the setting the rule keeps the best, and the verdict says nothing of the settings.
    config.choose_simpler = True
    plain = choose_verdict(prepared, config, fitted, "softvote", vote.test.pred, SimpleNamespace(constant="a"))
    assert "settings" not in plain["reason"] and "settings_kept_over" not in plain
