"""A saved model's kept candidates on the Train page's result and the Models page: how each
compares (validation and test score, the lead in words) and "Use ... instead", with a
confirmation, since it changes what every page predicts with (core.registry.choose_candidate)."""

from __future__ import annotations

import streamlit as st

from core import ModelInfo, can_change
from core.candidates import Candidate, candidates_of, fitted_on
from core.jobs import best_so_far_job
from core.registry import choose_candidate
from ui.markdown import plain


def render_candidates(info: ModelInfo, key: str) -> None:
    """The model in place and each candidate kept in its folder, one line each, then a
    "Use <candidate> instead" button per kept one (for whoever may change the model). Nothing
    for a model that keeps no candidate. Session keys: ``<key>_use_<kind>``,
    ``<key>_use_pending`` ((model name, kind) awaiting confirmation), ``<key>_use_confirm``,
    ``<key>_use_cancel``, ``<key>_switched`` (the message shown after the rerun)."""
    ss = st.session_state
    if ss.get(f"{key}_switched"):
        st.success(ss.pop(f"{key}_switched"))
    if not info.candidates:
        return
    try:
        found = candidates_of(info.path)
    except (ValueError, OSError) as exc:  # a damaged folder: say so, never a traceback
        st.warning(plain(f"The candidates kept with this model could not be read: {exc}"))
        return
    st.markdown("##### Candidates")
    found_job = best_so_far_job(info.metrics)
    running = found_job is not None and found_job.running
    lines = []
    for candidate in found:
        place = ("**in place** (every page predicts with it until its training job replaces it)" if running else
                 "**in place** (every page predicts with it)") if candidate.in_place else "kept"
        scores = ", ".join(candidate.scores("**")) or "no scores recorded"
        lead = f" — {candidate.lead}" if candidate.lead else ""
        lines.append(f"- {candidate.title}, {place}: {scores}{lead}")
    st.markdown("\n".join(lines))
    if running:  # a swap now would be undone when the job saves its final model over this folder
        st.caption("No candidate can be put in place while the training job that saved this model is still running: "
                   "when it ends it replaces this model and these candidates with its final ones. Choose once it has "
                   "ended.")
        return
    if not can_change(info.name):
        st.caption("Only the model's owner can put another candidate in its place.")
        return
    current = found[0]
    pending = ss.get(f"{key}_use_pending")
    for candidate in found[1:]:
        if st.button(f"Use {candidate.name} instead", key=f"{key}_use_{candidate.kind}",
                     icon=":material/swap_horiz:"):
            pending = ss[f"{key}_use_pending"] = (info.name, candidate.kind)
    chosen = next((c for c in found[1:] if pending == (info.name, c.kind)), None)
    if chosen is not None:
        _confirm(info.name, chosen, current, key)


def _rows_words(chosen: Candidate, current: Candidate) -> str:
    """" The soft vote was fitted on the 280 training rows only, ...; the fine-tuned transformer was
    retrained on 320 ..." where the two were fitted on different rows (a kept candidate is not
    retrained after the comparison; the model in place may have been; TF-IDF is refitted on every
    row, its test rows included), else ""."""
    words = fitted_on(chosen), fitted_on(current)
    if not all(words) or words[0] == words[1]:  # both on the same rows: nothing to weigh
        return ""
    return f" {chosen.title} was {words[0]}; {current.name} was {words[1]}."


def _confirm(name: str, chosen: Candidate, current: Candidate, key: str) -> None:
    ss = st.session_state
    st.warning(
        f"Put {chosen.name} in place of {current.name} "
        f"in model **{plain(name)}**? Every page and the CLI predict with it from now on, under the same name; "
        f"{current.name} stays kept here, so you can switch back. The model's versions, fixed holdout and "
        "scoring history stay as they are; the swap is written in its history (Versions tab)."
        + _rows_words(chosen, current)
    )
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, use it", key=f"{key}_use_confirm", type="primary"):
        try:
            choose_candidate(name, chosen.kind)
        except ValueError as exc:
            st.error(plain(str(exc)))
        else:
            ss.pop(f"{key}_use_pending", None)
            ss[f"{key}_switched"] = (f"Model **{plain(name)}** now predicts with {chosen.name}; "
                                     f"{current.name} is kept as a candidate; the swap is in the model's history "
                                     "(Versions tab).")
            st.rerun()
    if no.button("Cancel", key=f"{key}_use_cancel"):
        ss.pop(f"{key}_use_pending", None)
        st.rerun()
