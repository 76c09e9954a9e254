"""The Label page's rounds: the project's own models rank the rows and are recorded as rounds
(core.label_rounds), and "Gain per round" shows how each round did on the rows labelled after it
and against the round before on the same rows. Widget keys start with ``label_rounds_``."""

from __future__ import annotations

import zlib

import pandas as pd
import streamlit as st

from core.label_rounds import (
    BIAS_NOTE,
    TRAIN_AFTER_LABELS,
    gain_table,
    gain_words,
    rank_and_record,
    read_rounds,
    suggest_rows,
)
from core.labeling import LabelStore
from core.models.folder import stamp
from core.registry import model_path, read_info
from ui.markdown import plain
from ui.state import get_model

# Said above the table (issue 30): it and the verdict on the zero-shot model can disagree, because
# they score different rows.
GAIN_TABLE_NOTE = (
    "Each row of this table scores a round's model on every row labelled after that round, the rows it "
    "was least sure of included (the hardest for it). The verdict on which model was kept scores both "
    "models on the random checks only, so the two can disagree."
)


def ranked_rows(store: LabelStore, name: str, pool: pd.DataFrame, n: int, *, own: bool) -> pd.DataFrame:
    """The ``n`` rows of ``pool`` to label next for saved model ``name``: its least-sure rows mixed
    with random checks (core.label_rounds.suggest_rows, ``reason`` per row); when it is one of the
    project's own models (``own``: its zero-shot or trained model) the ranking is recorded as a
    round the first time this version of it ranks. Another model (the active one, trained
    elsewhere, perhaps on these very rows) ranks without being scored. The random rows are seeded
    by the model's version alone: the same in every session, and saving labels keeps the rows still
    shown (the saved ones leave the pool, the next in the same random order fill in; walk, round 11:
    with the label count in the seed every random check changed after each save)."""
    model = get_model(name)
    version = f"{name}@{stamp(model_path(name))}"
    seed = zlib.crc32(version.encode())
    if not own:
        return suggest_rows(model, pool, n, seed=seed)
    info = read_info(model_path(name))
    return rank_and_record(store, model, pool, n, name=name, version=version, kind=info.kind, metrics=info.metrics,
                           seed=seed)


def gain_section(store: LabelStore, counts: dict[str, int], has_own_model: bool, *, training: bool = False) -> None:
    """The rounds so far as a table (model, labels, its own score, how it did on the rows labelled
    since, the gain on the same rows), and a nudge to train once a few dozen rows are labelled;
    not while the project's model is ``training`` (queued or running): the rows section says so
    (ui.label.training_words), and pressing Train again would only queue a second run."""
    if counts["labeled"] >= TRAIN_AFTER_LABELS and not has_own_model and not training:
        st.info(f"You have {counts['labeled']} labels: press **Train on the labelled rows**. The leaderboard tries "
                "few-shot while the labels are few (fine-tuning later) and keeps the best, whose suggestions are then the "
                "ones shown below.", icon=":material/trending_up:")
    if not read_rounds(store):
        return
    table = gain_table(store)
    with st.expander("Gain per round", expanded=len(table) > 1, icon=":material/trending_up:"):
        st.markdown(GAIN_TABLE_NOTE)
        shown = pd.DataFrame({
            "round": table["round"],
            "model": table["model"],
            "labels it learned from": table["labels"],
            "rows labelled since": table["rows_since"],
            "macro-F1 on them": table["macro_f1"],
            "suggestions kept": table["accuracy"],
            "vs previous round (same rows)": [gain_words(row) for _, row in table.iterrows()],
            "its own score (macro-F1)": table["own_score"],
            "how its own score was measured": table["own_score_how"],
        })
        st.dataframe(shown, hide_index=True, key="label_rounds_table", column_config={
            "macro-F1 on them": st.column_config.NumberColumn(format="%.3f"),
            "suggestions kept": st.column_config.NumberColumn(format="percent"),
            "its own score (macro-F1)": st.column_config.NumberColumn(format="%.3f"),
            # Sentences, not numbers: wide enough to read without hovering (issue 30).
            "vs previous round (same rows)": st.column_config.TextColumn(width="large"),
            "how its own score was measured": st.column_config.TextColumn(width="large"),
        })
        last = table.iloc[-1]
        if last["same_rows"] and last["gain"] < 0 and not last["gain_high"] >= 0:  # behind, and not within noise
            st.warning(f"Round {int(last['round'])} ({plain(last['model'])}) is behind round {int(last['round']) - 1} on "
                       f"the same rows: {plain(last['lead'])}. With few labels a trained "
                       "model can be worse than the one before it: label more rows before trusting it. An earlier model that "
                       "is still saved can pick the rows instead: make it the active model in the sidebar, then choose "
                       "**Use the active model**.", icon=":material/trending_down:")
        st.caption(plain(BIAS_NOTE) + " Its own score comes from its training run, on other rows for each round: "
                   "not compared across rounds.")
