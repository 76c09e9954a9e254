"""A training job's leaderboard on the Train page (live and finished) and the Models page.

The rows are ``core.progress.CandidateRow.to_dict()`` snapshots: while the job runs, from its
latest progress event that carries a leaderboard (``ProgressEvent.leaderboard``, written to the
job's events.jsonl by core.worker); once a model is saved, from its ``metrics["leaderboard"]``
(falling back to the job's last event when the model folder does not record one). Keys read from
each row: ``kind``, ``title``, ``status``, ``score``, ``metric``, ``n_val``, ``seconds``,
``note``, ``leader``, ``saved``.

Everything here is plain text: the table is an ``st.dataframe`` (its cells are never Markdown)
and every value from a row that meets Markdown passes through :func:`ui.markdown.plain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.candidates import board_note
from core.evaluation import out_of_fold_title
from core.registry import SHORT_KIND_NAMES
from core.words import rows_words
from ui.jobs import duration
from ui.markdown import plain

Row = dict[str, Any]
METRIC_WORDS = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "r2": "R²"}
PENDING = ("waiting", "running")  # statuses of candidates that may still replace the leader
PREDICT_PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "predict.py")


def saved_leaderboard(metrics: dict[str, Any] | None) -> list[Row]:
    """The leaderboard a saved model's metrics.json records (``metrics["leaderboard"]``), or ``[]``."""
    board = (metrics or {}).get("leaderboard")
    return [row for row in board if isinstance(row, dict)] if isinstance(board, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value else None


def in_use_index(rows: Sequence[Row], in_use_kind: str | None) -> int | None:
    """Which row is the model in the folder now. While the job runs (``in_use_kind`` None): the
    row marked ``saved``. Once it ended: the row of the folder's kind (core.registry.ModelInfo.kind,
    which follows a "Use ... instead" switch); of several rows of that kind, the saved one, else
    the best-scoring one (a model folder keeps one model per kind)."""
    if in_use_kind is None:
        return next((i for i, row in enumerate(rows) if row.get("saved")), None)
    same = [i for i, row in enumerate(rows) if row.get("kind") == in_use_kind]
    if not same:
        return None
    saved = [i for i in same if rows[i].get("saved")]
    return saved[0] if saved else max(same, key=lambda i: _number(rows[i].get("score")) or float("-inf"))


def score_column(folds: int = 0) -> str:
    """The score column's name: "validation score", or for a run cross-validated in ``folds`` folds
    (core.evaluation.cross_validated_folds; small data) "out-of-fold score (5-fold cross-validation)"."""
    return out_of_fold_title(folds, "score") if folds else "validation score"


def title(row: Row) -> str:
    """A candidate's name on the board: its row's title, but the two soft votes by their short names
    (core.registry.SHORT_KIND_NAMES: "The soft vote with the fine-tune"): their titles list every
    member, which the table cut ("The soft vote with the fine-tune (TF-IDF + LR, e...") and the
    "may replace it" line repeated in nested brackets (walk r13); the members are on the Models page."""
    kind = str(row.get("kind") or "")
    if kind in SHORT_KIND_NAMES:
        return "The " + SHORT_KIND_NAMES[kind]
    return str(row.get("title") or kind or "?")


def leaderboard_frame(rows: Sequence[Row], in_use_kind: str | None = None, *, ended: bool = False,
                      folds: int = 0) -> pd.DataFrame:
    """One line per candidate, in the order they ran, as text (a score 0.8123 reads "0.812"):
    candidate, standing ("leader", "in use"), score (:func:`score_column`), what it was scored on
    ("macro-F1, 210 rows"), time, status and note. ``ended``: the job is over, so a candidate
    the last snapshot has waiting or running reads "not finished"."""
    in_use, score_name = in_use_index(rows, in_use_kind), score_column(folds)
    lines = []
    for i, row in enumerate(rows):
        score = _number(row.get("score"))
        metric = METRIC_WORDS.get(str(row.get("metric")), str(row.get("metric") or ""))
        n_val = int(_number(row.get("n_val")) or 0)
        standing = [word for word, flag in (("leader", row.get("leader")), ("in use", i == in_use)) if flag]
        status = str(row.get("status") or "")
        status = "not finished" if ended and status in PENDING else status
        lines.append({
            "candidate": title(row),
            "standing": ", ".join(standing),
            score_name: f"{score:.3f}" if score is not None else "",
            "scored on": f"{metric}, {rows_words(n_val)}" if score is not None and n_val else (metric if score is not None else ""),
            "time": duration(seconds) if (seconds := _number(row.get("seconds"))) is not None else (
                "running…" if status == "running" else ""),
            "status": status,
            "note": board_note(row, i == in_use, ended=ended, other_in_use=ended and in_use is not None and i != in_use),
        })
    return pd.DataFrame(lines, columns=["candidate", "standing", score_name, "scored on", "time", "status", "note"])


# Widths that fit each short column's longest words ("leader, in use", "macro-F1, 1,234 rows"): left
# to the grid's own sizing, the walk found them cut ("leader, in u…"). The score column's name varies
# (score_column): it takes SCORE_WIDTH.
COLUMN_WIDTHS = {"candidate": 300, "standing": 110, "scored on": 160, "time": 80, "status": 110}
SCORE_WIDTH = 120


def note_lines(frame: pd.DataFrame, skip: Sequence[str] = ()) -> list[str]:
    """"**<candidate>**: <note>" for each line of :func:`leaderboard_frame` with a note whose status is
    not in ``skip`` (Markdown, values escaped)."""
    return [f"**{plain(line.candidate)}**: {plain(line.note)}" for line in frame.itertuples()
            if line.note and line.status not in skip]


def render_leaderboard(rows: Sequence[Row], key: str, in_use_kind: str | None = None, *, ended: bool = False,
                       notes_said: Sequence[str] = (), folds: int = 0) -> None:
    """The leaderboard table (nothing for no rows), its notes in full below it. ``in_use_kind``: see
    :func:`in_use_index`; ``ended``, ``folds``: see :func:`leaderboard_frame`; ``notes_said``: statuses
    whose notes the caller says itself (render_live's stopped-early lines)."""
    if not rows:
        return
    st.markdown("##### Leaderboard")
    frame = leaderboard_frame(rows, in_use_kind, ended=ended, folds=folds)
    widths = {**COLUMN_WIDTHS, score_column(folds): SCORE_WIDTH}
    # A note is often a sentence or two (a cross-validated score, why a candidate was not put in place):
    # cut to a cell it lost its point, so the notes are listed in full under the table instead.
    st.dataframe(frame, hide_index=True, key=key, column_order=[c for c in frame.columns if c != "note"],
                 column_config={column: st.column_config.TextColumn(width=width) for column, width in widths.items()})
    if lines := note_lines(frame, notes_said):
        st.markdown("Notes:\n" + "\n".join(f"- {line}" for line in lines))


def pending_titles(rows: Sequence[Row]) -> list[str]:
    """The candidates still waiting or running, in their order."""
    return [title(row) for row in rows if row.get("status") in PENDING]


def _mid_sentence(title: str) -> str:
    """A title inside a sentence: "The soft vote ..." -> "the soft vote ..."; "TF-IDF ..." stays."""
    return title[:1].lower() + title[1:] if title[1:2].islower() else title


def ready_line(rows: Sequence[Row], model_name: str) -> str | None:
    """While the job runs: "<leader> is saved as <model> and usable now .... <pending> may replace
    it if it scores better" (and is then retrained, for a candidate that ``refits``), or "...; it is
    being retrained on the training + validation rows ..." while the saved leader is ``refitting``;
    None while no saved leader exists (Markdown, values escaped)."""
    leader = next((row for row in rows if row.get("saved") and row.get("leader")), None)
    if leader is None:
        return None
    line = (f"**{plain(leader.get('title') or leader.get('kind'))}** is saved as **{plain(model_name)}** and usable now "
            "on Predict, the Dashboard and Ad Copy Lab, and in the CLI")
    pending = pending_titles(rows)
    if pending:
        retrained = [_mid_sentence(title(row)) for row in rows
                     if row.get("status") in PENDING and row.get("refits")]
        names = [pending[0], *map(_mid_sentence, pending[1:])]
        line += f". {plain(' or '.join(names))} may replace it if it scores better" + (
            f" ({plain(' or '.join(retrained))}, if saved, is then retrained on train + validation, about as long again)."
            if retrained else ".")
    elif leader.get("refitting"):
        line += ("; it is being retrained on the training + validation rows, and the retrained copy replaces it "
                 "when the job ends.")
    return line + ("" if pending or leader.get("refitting") else ".")


def stopped_lines(rows: Sequence[Row]) -> list[str]:
    """One sentence per candidate stopped early, with its note (why)."""
    lines = []
    for row in rows:
        if row.get("status") == "stopped early":
            why = f": {plain(row['note'])}" if row.get("note") else "."
            lines.append(f"**{plain(title(row))}** was stopped early{why}")
    return lines


def render_live(rows: Sequence[Row], model_name: str, key: str, *, not_usable: str = "", caution: str = "",
                in_use: str = "", folds: int = 0) -> bool:
    """The running job's part: the table, the stopped-early lines, and the "ready to use now" line
    with a link to Predict. ``not_usable``: the saved model's verdict warning when it is no better
    than guessing (then said instead of "usable now"); ``caution``: its verdict's caution (several
    tags per row: no better than a constant guess on Hamming loss) as Markdown in the words every
    view uses (ui.results.notice_markdown), which makes the line a warning; ``in_use``: another
    model that stays the active one (the line says so, and how to switch); ``folds``: see
    :func:`leaderboard_frame`. Returns whether a usable saved leader exists."""
    render_leaderboard(rows, key, notes_said=("stopped early",), folds=folds)
    for line in stopped_lines(rows):
        st.info(line, icon=":material/timer_off:")
    line = ready_line(rows, model_name)
    if line is None:
        return False
    if not_usable:
        st.warning(f"The best model so far is saved as **{plain(model_name)}**, but it is not usable: "
                   f"{plain(not_usable)}", icon=":material/warning:")
        return False
    if in_use:
        line += (f" **{plain(in_use)}** stays the active model: choose **{plain(model_name)}** "
                 "in the sidebar to make it the active one.")
    if caution:
        st.warning(f"{line} {caution}", icon=":material/warning:")
    else:
        st.success(line, icon=":material/check_circle:")
    st.page_link(PREDICT_PAGE, label="Use it on **Predict**", icon=":material/online_prediction:")
    return True
