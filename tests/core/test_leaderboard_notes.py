"""The leaderboard's note on each candidate says in plain words why it was not saved (issue 26's walk:
the soft vote tied at 0.822 with the saved model and few-shot behind, with no reason given)."""

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
    assert tie.startswith(f"Not saved: tied with TF-IDF + logistic regression ({f_tfidf:.3f} vs {f_tfidf:.3f} macro-F1 "
                          "on the same 200 validation rows, within the tie margin of 0.5 points), so the cheaper one")
    rows = _run(_board(("tfidf", "embedding", "softvote", "transformer")), [tfidf, embedding, vote, fine])
    assert rows["softvote"]["leader"] and rows["softvote"]["note"] == "The best so far."
    # The former leader's and the tied one's notes now measure them against the new leader.
    gap = f"{(f_vote - f_tfidf) * 100:.1f} points behind the soft vote"
    for kind in ("tfidf", "embedding"):
        assert rows[kind]["note"].startswith(f"Not saved: {gap}") and not rows[kind]["leader"]
        assert "noise of 200 validation rows (95% interval" in rows[kind]["note"]
    assert rows["transformer"]["note"] == stop  # where it stopped and by how much, as the fine-tune said it


def test_a_higher_candidate_not_saved_says_the_settings_keep_the_requested_one():
    tfidf, f_tfidf = _fitted("tfidf", 20)
    fine, f_fine = _fitted("transformer", 50)
    rows = _run(_board(("tfidf", "transformer"), "transformer"), [tfidf, fine], preferred="transformer")
    assert rows["transformer"]["leader"] and "settings ask to keep it" in rows["transformer"]["note"]
    assert rows["tfidf"]["note"] == (f"Not saved: it scored higher than the fine-tuned transformer ({f_tfidf:.3f} vs "
                                     f"{f_fine:.3f} macro-F1 on the same 200 validation rows), but the settings ask to "
                                     "keep the fine-tuned transformer.")
