"""The one training pipeline: prepare -> candidates, cheapest first -> choose -> refit -> save.

:func:`train` reads as the recipe. Candidates, in the order they run (cheapest first):

- ``tfidf``: word 1-2-gram + character 1-3-gram TF-IDF with logistic regression (ridge for
  regression), its C (alpha) chosen on validation (core.evaluation.fit_baselines);
- ``embedding``: the frozen base encoder's embeddings + logistic regression (core.embedding,
  classification; skipped, saying so, where that module is not installed);
- ``softvote``: the mean of TF-IDF's and the embeddings' class probabilities (core.softvote; no
  fit of its own, single-label classification where the embeddings run);
- ``fewshot``: contrastive few-shot (core.fewshot.fit_fewshot) where the data is small
  (core.fewshot.choose_method's threshold, or method "fewshot");
- ``transformer``: fine-tuning, full or LoRA (core.training.fit_transformer), where the data
  supports it (method "full"/"lora", or "auto" above the few-shot threshold);
- ``softvote_ft``: the soft vote with the fine-tune as a third member (core.softvote; no fit of its
  own, where the soft vote and the fine-tune both ran).

Every candidate is fitted on the same training rows and scored on the same validation rows
(core.evaluation.evaluate). The leader is chosen by the rule of core.evaluation: a later
(costlier) candidate replaces the leader only when it scores more than ``TIE_MARGIN`` higher
(:func:`core.evaluation.better_than`); within the margin the cheaper one stays (except a vote that
adds a member to the leader's models, :func:`adds_to`: it needs only to score higher). How sure a lead
is is said in words (:func:`core.evaluation.noise_in_words`), never used to overrule it. With
``config.choose_simpler`` False the requested fine-tune is kept once it has run.

Each time a candidate becomes the leader, ``on_leader(result)`` gets a complete
:class:`TrainResult` (the leader, every other finished candidate as an alternative), so a job
or the CLI can save the best so far while later candidates run. A fine-tune clearly behind the
leader is stopped early (:class:`BehindTheLeader`). A ``ProgressEvent`` of phase "candidates"
with the whole leaderboard (``leaderboard``: CandidateRow dicts) is sent whenever a candidate
starts, finishes, is skipped, fails or is stopped early. A candidate that fails once a leader
exists (the fine-tune out of memory, say) is marked "failed" and named in the result's
``failed_candidates`` and warnings; the leader saved so far stays. Only the first failing fails
the training.

Several tags per row (``prepared.multi_label``) run the same table: each kind learns a yes/no
output per tag (one-vs-rest logistic regression on TF-IDF or frozen embeddings, a one-vs-rest
few-shot head, a sigmoid fine-tune), gets a threshold per tag chosen on the validation rows, and
is scored by micro-F1 (core.multilabel_training); the rule, the saves and the refit are the same.

Every row the evidence allows: the choice is made on the validation split (the same rows for all
candidates, so the comparison is paired). On small few-shot data (core.fewshot.is_small: the
smallest class under 30 rows or fewer than 200 rows, no split column of the user's) every
candidate is instead cross-validated on all labelled rows and chosen on its out-of-fold
predictions (core.small_data), the saved copy trained on every row. Otherwise, on data with
fewer than ``CV_BELOW_ROWS`` training + validation rows, the TF-IDF candidate is also 5-fold cross-validated on train + validation, its
out-of-fold score reported beside its validation score (``cv_score``, ``cv_n``), as a second,
larger sample, but not used to choose (the other candidates have no out-of-fold predictions).
The chosen model is then refitted on more rows: TF-IDF on every labelled row (cheap; its
numbers stay those of the copy fitted on the training rows), few-shot, embeddings and the soft vote's two members on train +
validation, the fine-tune on train + validation over a whole schedule (:func:`_refit_steps`) when
``config.refit_on_all_rows`` (in the vote with the fine-tune: its cheap members, and its fine-tuned
member as a chosen fine-tune). The test rows are never used to fit or choose.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .base_models import ensure_base_model, needs_build, resolve_base_model
from .candidates import BEST_SO_FAR_NOTE, NOT_IN_PLACE, kept_over, kind_name, kind_title
from .checkpoint import CheckpointMismatch, LoopCheckpoint
from .config import METHOD_NAMES, TrainConfig
from .evaluation import (
    FittedBaselines,
    Scored,
    better_than,
    evaluate,
    fit_baselines,
    paired_bootstrap,
    tfidf_estimator,
)
from .fewshot import choose_method, fit_fewshot
from .models import SavedModel
from .models.embedding import embedding_cache
from .models.tfidf import TfidfClassifier
from .multilabel_training import carry_tags, score_tags, set_thresholds, tag_baselines, tag_comparison
from .prepare import Prepared, prepare
from .progress import (
    BEST_SO_FAR,
    CANDIDATES_PHASE,
    Cancel,
    CandidateRow,
    Events,
    ProgressCallback,
    ProgressEvent,
    TrainingCancelled,
    TrainResult,
    cancel_check,
)
from .result import Fitted, assemble_result, ood_reference, tfidf_refit
from .small_data import FoldEvents, Folds, cross_fit, describe, folds_for, oof_baselines, scored_view
from .softvote import WITH_FINE_TUNE
from .training import check_batch_split, fit_transformer, is_main_process, planned_steps, with_validation

# Early stop of a fine-tune behind the leader (BehindTheLeader). Chosen, not fitted: by 40% of
# the planned steps the linear schedule is past its warm-up (10%) and most of a fine-tune's gain
# is in; 5 points of macro-F1 (0.05 R²) is about the half-width of the 95% paired-bootstrap
# interval on the ~200 validation rows of a 2,000-row set (issue 26's "6 points ahead on 147
# validation rows; within noise (-1.2 to +13.1)"), so a gap wider than that, not closing, is
# rarely noise. bench/ measures the regret of the whole rule.
STOP_AFTER_FRACTION = 0.4
STOP_MARGIN = 0.05
# What a candidate's fit fails with (bad rows for its method, a torch/CUDA error or out of memory,
# a missing optional package, a disk that is full): after the first candidate, such a failure
# costs that candidate only. Anything else (a cancel, an interrupt, a bug raised from a callback)
# ends the training as before, and so does a checkpoint of another run (core.checkpoint.CheckpointMismatch).
CANDIDATE_FAILURES = (ValueError, RuntimeError, MemoryError, ImportError, OSError)
CV_BELOW_ROWS = 2000  # cross-validate the TF-IDF candidate below this many training + validation rows
CV_FOLDS = 5


@dataclass(frozen=True)
class Candidate:
    """One row of the candidate table: ``fit(prepared, config, events, cancel, deadline, callbacks)``
    returns a model fitted on ``prepared.splits["train"]``; None with ``skip``: why it does not run."""

    kind: str
    fit: Callable[..., SavedModel] | None
    skip: str = ""
    # True: ``fit(fitted, view, folds)`` builds a Fitted from the candidates already run (the soft
    # votes, core.softvote.combine) instead of fitting a model.
    combines: bool = False
    needs: tuple[str, ...] = ()  # the candidates a combining one averages: skipped, saying so, when one did not finish


@embedding_cache()  # each text embedded once per run by the frozen encoder (candidate, its scoring and refit, OOD)
def train(
    df: pd.DataFrame,
    config: TrainConfig,
    on_progress: ProgressCallback | None = None,
    cancel: Cancel = None,
    *,
    checkpoint: str | Path | None = None,
    deadline: float | None = None,
    on_leader: Callable[[TrainResult], None] | None = None,
) -> TrainResult:
    """Run the leaderboard on ``df`` and return the chosen model with its honest evaluation.

    ``config.method``: "auto" picks few-shot or fine-tuning with :func:`core.fewshot.choose_method`
    (``metrics["method_chosen"]``/``["method_reason"]`` say which and why); the cheaper candidates
    run whatever the method (see the module doc). ``checkpoint``: a folder where the fine-tune
    keeps its state at each evaluation and resumes from (core.checkpoint.LoopCheckpoint); the
    caller removes it once the model is saved. ``deadline``: a ``time.monotonic()`` value where the
    fine-tune stops as at ``config.max_train_seconds`` ("time limit"; the refit is skipped when it
    would end after it). ``on_leader(result)``: called with the best so far each time the leader
    changes (module doc). Raises ``ValueError`` for a mapping that does not fit the data or a
    checkpoint of another run, :class:`TrainingCancelled` when ``cancel`` is set; nothing is
    written here either way (``on_leader`` writes what its caller chooses).
    """
    events = Events(on_progress, report=is_main_process())  # under torchrun only rank 0 reports
    started = time.monotonic()
    check_batch_split(config.batch_size)
    if needs_build(config.base_model):
        _build_base_model(config.base_model, events)
    prepared = with_validation(prepare(df, config), config)
    config, reason = _resolve_method(prepared, config)
    events.emit(ProgressEvent("prepare", 0, 0, 0.0, message=reason))
    folds = folds_for(prepared, config)  # small single-label data: every candidate cross-validated on all rows (core.small_data)
    events.emit(ProgressEvent("baselines", 0, 0, 0.0, message="Fitting TF-IDF + logistic regression" + (
        " (one-vs-rest: a yes/no per tag)" if prepared.multi_label else "") + " and the baselines"))
    baselines = _baselines(prepared, config) if folds is None else None  # from TF-IDF's out-of-fold predictions once it ran
    table = candidate_table(prepared, config, baselines, checkpoint, time.monotonic() - started)
    view = prepared if folds is None else scored_view(prepared)  # the rows the candidates are scored on
    board = Leaderboard(events, view, table, _preferred(config),
                        refits=("transformer", WITH_FINE_TUNE) if config.refit_on_all_rows and folds is None else (),
                        seed=config.seed)
    fitted: dict[str, Fitted] = {}
    leader, ood = None, None

    def result(**extra: Any) -> TrainResult:
        done = assemble_result(view, config, fitted, leader, baselines, board.rows(), started, reason, ood_reference=ood, **extra)
        if folds is not None:  # the kept candidates were cross-validated too: their metrics say so as well
            for kind, kept in {leader: done, **done.alternatives}.items():
                describe(kept.metrics, fitted, kind, len(prepared.texts), len(folds))
        return done

    for candidate in table:
        if candidate.fit is None:
            continue
        _check(cancel)
        absent = [kind_name(k, prepared.task) for k in candidate.needs if k not in fitted]
        if absent:  # a member failed: the vote was not built, it did not fail
            board.update(candidate.kind, status="skipped", note=f"Not built: {' and '.join(absent)} did not finish.")
            continue
        board.update(candidate.kind, status="running")
        hooks = _early_stop(config, fitted, leader, prepared)
        try:
            if candidate.combines:
                fitted[candidate.kind] = candidate.fit(fitted, view, folds)
            elif folds is None:
                fitted[candidate.kind] = fit_and_score(candidate, prepared, config, events, cancel, deadline, hooks)
            else:
                fitted[candidate.kind] = _cross_run(candidate, prepared, config, events, cancel, deadline, folds)
                baselines = baselines or oof_baselines(prepared, fitted["tfidf"])
        except CheckpointMismatch:
            raise  # the person's checkpoint, not the candidate: delete it or resume with the same data
        except CANDIDATE_FAILURES as exc:
            if not fitted:
                raise  # the first candidate failing is the training failing: nothing was saved
            # A later candidate that fails (too few rows per class for its cross-validation, out
            # of memory, the fine-tune itself) leaves the leader saved so far in place; the
            # leaderboard, the result's warnings and the job's message name it.
            board.update(candidate.kind, status="failed", note=failure_note(exc))
            continue
        leader = choose_leader(list(fitted.values()), prepared.task, _preferred(config))
        board.finished(fitted[candidate.kind], leader)
        if leader == candidate.kind and on_leader is not None:
            best = result()
            best.metrics[BEST_SO_FAR] = {"job": None}  # not the final model: the caller's worker names its job
            on_leader(best)
            board.saved(leader)
        # After the first save, so that the first usable model waits for neither: TF-IDF's
        # cross-validated score, and the OOD reference (seconds: the base encoder embeds the rows;
        # a folder saved without one builds it when first asked, core.ood.model_ood_reference).
        if candidate.kind == "tfidf" and folds is None:
            board.cross_validated(candidate.kind, cross_validated(prepared, baselines))
        ood = ood if ood is not None else ood_reference(prepared.texts, config)
    _check(cancel)
    if folds is not None:
        refitted = fitted[leader].refitted  # cross-validated: the saved copy is already trained on every row
    else:
        try:
            refitted = refit(prepared, config, fitted[leader], events, cancel, deadline,
                             on_start=lambda: board.refitting(leader, True))
        except CANDIDATE_FAILURES as exc:  # the leader as fitted on the training rows is still whole
            refitted = {"skipped": f"The refit on train + validation failed ({failure_note(exc)}); the saved model is "
                                   f"{kind_name(leader, prepared.task)} as fitted on the training rows."}
        board.refitting(leader, False)
    final = result(refitted=refitted)
    final.history = events.history
    events.emit(ProgressEvent("done", 0, 0, 1.0, metrics=final.metrics["model"], elapsed_s=time.monotonic() - started,
                              eta_s=0.0, message="Done", leaderboard=board.rows()))
    return final


def candidate_table(prepared: Prepared, config: TrainConfig, baselines: FittedBaselines | None,
                    checkpoint: str | Path | None = None, baseline_seconds: float = 0.0) -> list[Candidate]:
    """The candidates in the order they run (cheapest first), each runnable or skipped with a reason.
    ``config.method`` is resolved ("full", "lora" or "fewshot"); ``baselines``: the TF-IDF candidate,
    already fitted (in ``baseline_seconds``), or None where each fit fits its own (cross-validation);
    ``checkpoint``: the fine-tune's folder."""

    def tfidf(prepared: Prepared, config: TrainConfig, *_: Any) -> SavedModel:
        if baselines is None:  # cross-validated (core.small_data): fitted on this run's training rows, C=1
            train = prepared.splits["train"]
            pipeline, param = tfidf_estimator(prepared.task, 1.0).fit(prepared.texts_at(train), prepared.labels[train]), 1.0
            model = TfidfClassifier.from_pipeline(pipeline, task=prepared.task, classes=prepared.classes,
                                                  schema=prepared.schema, training_config=prepared.training_config(config))
        elif prepared.multi_label:  # tag_baselines' one-vs-rest model, a TfidfClassifier already
            model, param = baselines.pipeline, baselines.param
        else:
            model, param = TfidfClassifier.from_pipeline(
                baselines.pipeline, task=prepared.task, classes=prepared.classes, schema=prepared.schema,
                training_config=prepared.training_config(config)), baselines.param
        # C (alpha), chosen on validation: the refit uses it; the fit's seconds count in its time.
        model.metrics = {"param": param, "fit_seconds": baseline_seconds}
        return model

    def fine_tune(prepared: Prepared, config: TrainConfig, events: Events, cancel: Cancel, deadline: float | None,
                  hooks: tuple[Any, ...]) -> SavedModel:
        fit_events, mark = Events(events.emit), len(events.history)
        model = fit_transformer(prepared, config, fit_events, cancel, deadline=deadline, callbacks=hooks,
                                checkpoint=LoopCheckpoint(checkpoint) if checkpoint is not None else None)
        events.history[mark:mark] = fit_events.restored  # a resumed run's earlier events (not sent again) belong in its history
        return model

    def fewshot(prepared: Prepared, config: TrainConfig, events: Events, cancel: Cancel, deadline: float | None,
                _hooks: Any) -> SavedModel:
        return fit_fewshot(prepared, config, events, cancel, deadline=deadline)

    table = [Candidate("tfidf", tfidf)]
    if prepared.classification:
        table.append(_embedding_candidate() if config.method == "embedding" or _sentence_encoder(config) else Candidate(
            "embedding", None, "The base model is not a sentence encoder: its frozen embeddings are not used as "
            "features (it is fine-tuned instead)."))
        table.append(_soft_vote_candidate(prepared, table[-1].fit is not None))
        # In the settings' words (walk r13: "method 'full' was chosen" read as a code, and as if the data were large).
        table.append(Candidate("fewshot", fewshot) if config.method == "fewshot" else Candidate(
            "fewshot", None, f"Not run: this run uses {METHOD_NAMES.get(config.method, config.method)}; few-shot runs "
            "when the method is few-shot (Auto picks it for small data)."))
    why_not = ("Few-shot was chosen for this data size instead of fine-tuning." if config.method == "fewshot"
               else f"Not run: this run uses {METHOD_NAMES.get(config.method, config.method)}, as the settings say.")
    table.append(Candidate("transformer", fine_tune if config.method in ("full", "lora") else None,
                           "" if config.method in ("full", "lora") else why_not))
    if prepared.classification:
        soft_vote_runs = next(c for c in table if c.kind == "softvote").fit is not None
        table.append(_soft_vote_candidate(prepared, soft_vote_runs, WITH_FINE_TUNE, table[-1].fit is not None))
    return table


def failure_note(exc: BaseException) -> str:
    """A failed candidate's note, for people: "Could not be fitted: <the error's first line>"
    (a ValueError is worded for people already; any other names its type)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    if not isinstance(exc, ValueError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"Could not be fitted: {text}"


def _sentence_encoder(config: TrainConfig) -> bool:
    from .base_models import is_sentence_encoder, resolve_base_model

    try:
        return is_sentence_encoder(resolve_base_model(config.base_model))
    except ValueError:
        return False


def _embedding_candidate() -> Candidate:
    """The frozen-encoder candidate (core.embedding, built beside this module); skipped where absent."""
    try:
        from .embedding import fit_embedding  # type: ignore[import-not-found]
    except ImportError:
        return Candidate("embedding", None, "Frozen-encoder embeddings are not available in this version.")

    def fit(prepared: Prepared, config: TrainConfig, events: Events, cancel: Cancel, *_: Any) -> SavedModel:
        return fit_embedding(prepared, config, events.emit, cancel)

    return Candidate("embedding", fit)


def _soft_vote_candidate(prepared: Prepared, members_run: bool, kind: str = "softvote", fine_tune_runs: bool = True) -> Candidate:
    """TF-IDF's and the embeddings' probabilities averaged (core.softvote; ``kind`` WITH_FINE_TUNE: with
    the fine-tune's too), or skipped saying why. ``members_run``: the embeddings (the soft vote, for
    the vote with the fine-tune) run here."""
    from .softvote import VOTES, combine, skip_reason

    why = skip_reason(prepared, members_run, kind, fine_tune_runs)
    if why:
        return Candidate(kind, None, why)
    return Candidate(kind, functools.partial(combine, kind=kind), combines=True, needs=VOTES[kind])


def fit_and_score(candidate: Candidate, prepared: Prepared, config: TrainConfig, events: Events, cancel: Cancel,
                  deadline: float | None, hooks: tuple[Any, ...]) -> Fitted:
    """Fit one candidate and score it on the validation and test rows (also the response
    comparison's fine-tune, core.response)."""
    started = time.monotonic()
    model = candidate.fit(prepared, config, events, cancel, deadline, hooks)
    _check(cancel)
    if prepared.multi_label:  # every kind's per-tag thresholds, chosen on the same validation rows
        set_thresholds(model, prepared)
    events.emit(ProgressEvent("test", 0, 0, 1.0, message=f"Scoring {kind_name(candidate.kind, prepared.task)} on the "
                              "validation and test rows"))
    val = score(model, prepared, prepared.splits["validation"])
    test = score(model, prepared, prepared.splits["test"])
    _check(cancel)
    facts = dict(getattr(model, "metrics", None) or {})
    stopped = facts.get("stopped_reason") == BehindTheLeader.REASON
    return Fitted(candidate.kind, model, val, test, time.monotonic() - started + facts.get("fit_seconds", 0.0),
                  "stopped early" if stopped else "done", facts.get("stop_note", "") if stopped else "", facts)


def _cross_run(candidate: Candidate, prepared: Prepared, config: TrainConfig, events: Events, cancel: Cancel,
               deadline: float | None, folds: Folds) -> Fitted:
    """Fit one candidate on each fold and on every row, scored out of fold (core.small_data.cross_fit)."""
    title = kind_title(candidate.kind, prepared.task)

    fold_events = FoldEvents(events, title, len(folds), len(prepared.texts))  # its messages name the fold

    def fit(run: Prepared) -> SavedModel:
        _check(cancel)
        return candidate.fit(run, config, fold_events, cancel, deadline, ())

    return cross_fit(candidate.kind, fit, prepared, folds, fold_events)


def score(model: SavedModel, prepared: Prepared, positions: np.ndarray) -> Scored:
    """A candidate scored on the rows at ``positions``: core.evaluation.evaluate, or with several
    tags per row core.multilabel_training.score_tags (its tags at its thresholds, micro-F1 first)."""
    if prepared.multi_label:
        return score_tags(model, prepared, positions)
    return evaluate(model, prepared, positions)


def choose_leader(fitted: list[Fitted], task: str, preferred: str | None = None) -> str:
    """The rule: in the order they ran (cheapest first), a candidate replaces the leader only when
    its validation score is more than TIE_MARGIN higher (core.evaluation.better_than); the
    ``preferred`` kind (``config.choose_simpler`` False: the requested fine-tune) wins once it ran.
    One exception, :func:`adds_to`: a vote that averages the leader's own models with more replaces
    a leader other than TF-IDF as soon as it scores higher."""
    if preferred is not None and any(f.kind == preferred for f in fitted):
        return preferred
    leader = fitted[0]
    for other in fitted[1:]:
        delta = other.score(task) - leader.score(task)
        if better_than({"n": len(other.val.pred), "delta": delta}) or (delta > 0 and adds_to(other, leader)):
            leader = other
    return leader.kind


def adds_to(vote: Fitted, leader: Fitted) -> bool:
    """Whether ``vote`` averages every model of ``leader`` (the leader itself, or a soft vote's
    members) with more, and ``leader`` is not TF-IDF. The tie margin keeps a cheaper model when a
    costlier one is not clearly better; this vote is the leader plus a member, and on 2,000 Chinese
    reviews the vote with the fine-tune led the soft vote by 0.45 points on 200 validation rows (a
    tie) and by 1.8 points on 1,000 held-out reviews (docs/measurements.md "Round 12: the soft vote
    with the fine-tune"). TF-IDF keeps its margin, as in the verdict against it
    (core.evaluation.choose_saved_model), so the two never disagree."""
    members = set(vote.facts.get("members") or ())
    return leader.kind != "tfidf" and set(leader.facts.get("members") or (leader.kind,)) < members


def refit(prepared: Prepared, config: TrainConfig, chosen: Fitted, events: Events, cancel: Cancel,
          deadline: float | None, on_start: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """The chosen model refitted on more rows (module doc): ``{"model", "test" (Scored, or None
    when the numbers stay the training-rows copy's), "sentence", "rows", "steps"?}``; None when
    there is no refit (a fine-tune without ``config.refit_on_all_rows``, or one past ``deadline``).
    ``on_start()`` is called when a refit that takes a while (a fine-tune's, few-shot's) starts."""
    splits = prepared.splits
    both = np.sort(np.concatenate([splits["train"], splits["validation"]]))
    more = dataclasses.replace(prepared, splits={**splits, "train": both, "validation": np.array([], dtype=int)})
    held_out = f"the {len(splits['test']):,} test rows stayed held out and the numbers shown are its score on them."
    if chosen.kind == "tfidf":
        events.emit(ProgressEvent("baselines", 0, 0, 1.0, message="Refitting TF-IDF on every labelled row"))
        return tfidf_refit(prepared, config, chosen)
    if chosen.kind == "transformer":
        if not config.refit_on_all_rows:
            return None
        tuned = _refit_fine_tune(more, config, chosen.facts, chosen.seconds, events, cancel, deadline, on_start)
        if isinstance(tuned, str):
            return {"skipped": f"The refit on train + validation was skipped: {tuned}. The saved transformer is the one "
                               "trained on the training rows."}
        model, steps, why = tuned
        sentence = (f"The saved transformer was retrained from {resolve_base_model(config.base_model).name} on the "
                    f"{len(both):,} training + validation rows for {steps} steps ({why}); {held_out}")
        extra = {"steps": steps}
    elif chosen.kind == WITH_FINE_TUNE:
        model, sentence, extra = _refit_vote_with_fine_tune(prepared, more, config, chosen, events, cancel, deadline, on_start)
    elif deadline is not None and time.monotonic() + chosen.seconds > deadline:
        return {"skipped": f"The refit on train + validation was skipped: it would have run past this server's time limit "
                           f"per job. The saved model is {kind_name(chosen.kind, prepared.task)} trained on the training rows."}
    elif chosen.kind == "fewshot":
        if on_start is not None:
            on_start()
        events.emit(ProgressEvent("train", 0, 0, 0.0, message="Refitting the few-shot model on train + validation"))
        model = fit_fewshot(more, config, events.emit, cancel, deadline=deadline)
        sentence = f"The saved few-shot model was retrained on the {len(both):,} training + validation rows; {held_out}"
        extra = {}
    else:
        model = _refit_other(chosen, more, config, events, cancel)
        sentence = f"The saved model was refitted on the {len(both):,} training + validation rows; {held_out}"
        extra = {}
    _check(cancel)
    # Several tags per row: the cut-offs chosen on validation for the copy fitted on the training rows go with
    # the refit, though the refit shifts the probabilities they were chosen for. Kept after measuring (issue 27,
    # round 8, docs/measurements.md "Round 8: the refit of a multi-label model"): 600 GoEmotions rows, refit
    # minus training-rows copy on the same 400 test rows, mean of draws 0-2 (of all draws: few-shot 0-5,
    # embeddings 0-4): few-shot Hamming loss +0.0006 (-0.0002), under 2 of its 2,800 (row, tag) decisions,
    # micro-F1 +0.005 (+0.005); embeddings Hamming loss -0.002 (-0.0001), micro-F1 +0.026 (+0.024). Not worse on
    # both, higher on the headline: the refit stays. The training-rows copy over-gives the same tags (few-shot
    # 'surprise' on draw 0: 20.2% of test rows for 10.5% true, refitted 22.5%): its 60 validation rows set that.
    if prepared.multi_label and model is not chosen.model:
        carry_tags(model, chosen.model, prepared)
    return {"model": model, "test": score(model, prepared, splits["test"]), "rows": int(len(both)),
            "sentence": sentence, **extra}


def _refit_fine_tune(more: Prepared, config: TrainConfig, facts: dict[str, Any], seconds: float, events: Events,
                     cancel: Cancel, deadline: float | None, on_start: Callable[[], None] | None) -> tuple[SavedModel, int, str] | str:
    """A fine-tune (``facts``, ``seconds``: the one fitted on the training rows) retrained on
    ``more.splits["train"]`` over :func:`_refit_steps`: ``(model, steps, why those steps)``, or why
    it was not (it would run past ``deadline``)."""
    steps, schedule, why = _refit_steps(facts, len(more.splits["train"]), config)
    if deadline is not None and time.monotonic() + seconds / max(int(facts.get("steps") or 0), 1) * steps > deadline:
        return "it would have run past this server's time limit per job"
    if on_start is not None:
        on_start()
    events.emit(ProgressEvent("train", 0, 0, 0.0, message=f"Refitting on train + validation for {steps} steps"))
    return fit_transformer(more, config, events.emit, cancel, steps=(steps, schedule)), steps, why


def _refit_vote_with_fine_tune(prepared: Prepared, more: Prepared, config: TrainConfig, chosen: Fitted, events: Events,
                               cancel: Cancel, deadline: float | None,
                               on_start: Callable[[], None] | None) -> tuple[SavedModel, str, dict[str, Any]]:
    """The chosen vote with the fine-tune refitted: its fine-tuned member as a chosen fine-tune
    (where ``config.refit_on_all_rows`` and the time limit allow; else the copy fitted on the
    training rows stays), then its cheap members (core.softvote.refit_vote). ``(model, sentence, extra)``."""
    from .softvote import refit_vote

    n, n_test = len(more.splits["train"]), len(prepared.splits["test"])
    tuned = (_refit_fine_tune(more, config, chosen.facts["fine_tune"], chosen.facts["fine_tune"]["seconds"], events,
                              cancel, deadline, on_start)
             if config.refit_on_all_rows else "the settings keep the fine-tune trained on the training rows")
    events.emit(ProgressEvent("train", 0, 0, 0.0, message="Refitting TF-IDF and the embeddings on train + validation"))
    model = refit_vote(more, config, chosen, events, cancel, fine_tune=None if isinstance(tuned, str) else tuned[0])
    if isinstance(tuned, str):
        tuned_words, extra = f"its fine-tuned member stayed the one trained on the training rows ({tuned})", {}
    else:
        tuned_words, extra = f"its fine-tuned member was retrained for {tuned[1]} steps ({tuned[2]})", {"steps": tuned[1]}
    sentence = (f"The saved soft vote's TF-IDF and embedding members were refitted on the {n:,} training + validation "
                f"rows and {tuned_words}; the {n_test:,} test rows stayed held out and the numbers shown are its score on them.")
    return model, sentence, extra


def _refit_steps(facts: dict[str, Any], n_rows: int, config: TrainConfig) -> tuple[int, int, str]:
    """The fine-tune's refit on ``n_rows`` train + validation rows: ``(steps, schedule_steps, why)``.

    A whole schedule planned for those rows (``config.epochs`` passes, as a plain fine-tune runs),
    not the step early stopping kept on the training rows: that step is chosen on the validation
    rows alone (about 200 at 2,000 rows), and one lucky evaluation can put it early (seed 1 of the
    UCI review sentences kept step 44 of 132). Measured (docs/measurements.md "Round 11: the refit
    over a whole schedule"): UCI review sentences, 2,000 rows, six seeds, 1,400 held-out rows each, the
    saved model minus a plain Trainer fine-tune on the same 1,600 rows was -0.93 points (standard
    error 0.45) without a refit and +0.27 (0.18) with this one. A fine-tune cut by the person's own time limit
    (``max_train_seconds``) refits only the steps it reached at its best, of its own schedule, so
    the refit stays about as long as the time they allowed."""
    if facts.get("stopped_reason") == "time limit":
        best = max(1, int(facts.get("best_step") or 1))
        return best, int(facts["total_steps"]), "where the fine-tune had its best validation score within the time limit"
    whole = planned_steps(n_rows, config)
    epochs = f"{config.epochs:g} pass{'es' if config.epochs != 1 else ''}"
    return whole, whole, f"{epochs} over them, a whole schedule as a plain fine-tune runs"


def _refit_other(chosen: Fitted, more: Prepared, config: TrainConfig, events: Events, cancel: Cancel) -> SavedModel:
    """A candidate kind this module does not fit itself (embeddings, the soft vote), refitted with its table's fit."""
    if chosen.kind == "softvote":  # the vote with the fine-tune is refitted by _refit_vote_with_fine_tune
        from .softvote import refit_vote

        return refit_vote(more, config, chosen, events, cancel)
    candidate = _embedding_candidate()
    if candidate.fit is None or candidate.kind != chosen.kind:
        return chosen.model
    return candidate.fit(more, config, events, cancel, None, ())


class BehindTheLeader:
    """Stops a fine-tune clearly behind the leader (a fit_transformer callback).

    The rule: at an evaluation after at least ``STOP_AFTER_FRACTION`` of the planned steps, with
    at least two evaluations done, when the fine-tune's best validation score so far is more than
    ``STOP_MARGIN`` below the leader's and this evaluation brought no new best (not closing). Its
    best weights so far are kept, scored and kept as a candidate ("stopped early").

    Never while its latest evaluation gives every validation row one class: a class-weighted fine-tune
    on imbalanced data keeps its logits tied for its first steps (clothing ratings, 1,000 rows: validation
    macro-F1 0.016-0.07 until steps 22-55 of 66, then 0.30 / 0.63 on test, docs/measurements.md "Fine-tunes
    on the imbalanced clothing ratings"); stopped there it was saved as a near one-class candidate. Its
    own patience still ends a fine-tune that never leaves that state."""

    REASON = "behind the leader"

    def __init__(self, leader_score: float, leader_title: str, task: str, n_val: int, metric: str = "") -> None:
        self.leader_score, self.leader_title, self.task, self.n_val = leader_score, leader_title, task, n_val
        self.metric = metric or ("macro-F1" if task == "classification" else "R²")

    def on_evaluate(self, state: Any, loop: Any, event: Any) -> None:
        if state.step < STOP_AFTER_FRACTION * loop.total_steps or len(state.scores) < 2:
            return
        if (getattr(event, "metrics", None) or {}).get("predicted_classes") == 1:
            return  # not started to separate the classes yet: its score says nothing of where it ends
        gap = self.leader_score - state.best_score
        if gap > STOP_MARGIN and state.evals_since_best >= 1:
            size = f"{gap * 100:.1f} points" if self.task == "classification" else f"{gap:.3f}"
            state.stopped_reason = self.REASON
            state.note = (f"Stopped early at step {state.step} of {loop.total_steps}: its best validation {self.metric} "
                          f"({state.best_score:.3f}) was {size} behind {self.leader_title} ({self.leader_score:.3f}) on "
                          f"{self.n_val:,} validation rows and no longer closing the gap.")


def _early_stop(config: TrainConfig, fitted: dict[str, Fitted], leader: str | None, prepared: Prepared) -> tuple[Any, ...]:
    if leader is None or not config.choose_simpler:  # keep-the-fine-tune runs are never cut short
        return ()
    best = fitted[leader]
    score = best.score(prepared.task)
    if prepared.multi_label:
        # The fine-tune's evaluations cut every tag at 0.5 (its thresholds are chosen after it):
        # so is the leader's score it is compared with here.
        from .multilabel import multilabel_metrics

        truth = prepared.y[prepared.splits["validation"]]
        score = multilabel_metrics(truth, best.val.proba >= 0.5, prepared.classes)["micro_f1"]
    return (BehindTheLeader(score, kind_title(leader, prepared.task), prepared.task, len(best.val.pred),
                            metric=_metric_words(prepared)),)


def _metric_words(prepared: Prepared) -> str:
    """The headline's name for people: "micro-F1" (several tags per row), "macro-F1" or "R²"."""
    return "micro-F1" if prepared.multi_label else "macro-F1" if prepared.classification else "R²"


def _preferred(config: TrainConfig) -> str | None:
    if config.choose_simpler:
        return None
    return {"fewshot": "fewshot", "embedding": "embedding"}.get(config.method, "transformer")


def _resolve_method(prepared: Prepared, config: TrainConfig) -> tuple[TrainConfig, str]:
    """``config`` with "auto" resolved (:func:`core.fewshot.choose_method`), and the reason in words."""
    if config.method != "auto":
        return config, f"Method '{config.method}', as chosen in the settings."
    counts = prepared.report.class_counts
    method, reason = choose_method(min(counts.values()) if counts else 0, prepared.report.n_rows_used,
                                   task=config.task, n_classes=len(counts) or None, tags=prepared.multi_label)
    return config.replace(method=method, extra={**config.extra, "method_requested": "auto", "method_reason": reason}), reason


def _baselines(prepared: Prepared, config: TrainConfig) -> FittedBaselines:
    """The majority/mean baseline and the TF-IDF candidate, fitted on the training rows (C or alpha
    chosen on validation); several tags per row: core.multilabel_training.tag_baselines."""
    if prepared.multi_label:
        return tag_baselines(prepared, config)
    s, labels = prepared.splits, prepared.labels
    return fit_baselines(prepared.task, prepared.texts_at(s["train"]), labels[s["train"]], prepared.texts_at(s["validation"]),
                         labels[s["validation"]], prepared.texts_at(s["test"]), labels[s["test"]], prepared.classes)


def cross_validated(prepared: Prepared, baselines: FittedBaselines) -> tuple[float, int] | None:
    """The TF-IDF candidate's 5-fold out-of-fold score on train + validation (stratified for
    classes), with its C/alpha; None above ``CV_BELOW_ROWS`` rows or with too few rows per class."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    from .evaluation import classification_metrics, regression_metrics, tfidf_estimator

    rows = np.sort(np.concatenate([prepared.splits["train"], prepared.splits["validation"]]))
    if len(rows) >= CV_BELOW_ROWS or prepared.multi_label:  # per-tag thresholds need validation rows of their own
        return None
    y = prepared.labels[rows]
    if prepared.classification:
        smallest = int(pd.Series(y).value_counts().min())
        if smallest < 2:
            return None
        folds = StratifiedKFold(n_splits=min(CV_FOLDS, smallest), shuffle=True, random_state=0)
        y = np.asarray([str(v) for v in y], dtype=object)
    else:
        folds = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    pred = cross_val_predict(tfidf_estimator(prepared.task, baselines.param), prepared.texts_at(rows), y, cv=folds)
    if prepared.classification:
        return classification_metrics(y, pred, prepared.classes)["macro_f1"], len(rows)
    return regression_metrics(y, pred)["r2"], len(rows)


def _check(cancel: Cancel) -> None:
    """Between phases: a cancel during scoring, the baselines or a refit counts too."""
    if cancel_check(cancel)():
        raise TrainingCancelled("Training was cancelled; nothing was saved.")


def _build_base_model(name: str, events: Events) -> None:
    """Build a catalog base model missing on this machine (a fresh home folder, a cleared cache),
    reported as "prepare" events: a missing base model is built, never replaced by another."""
    def report(fraction: float, message: str) -> None:
        events.emit(ProgressEvent("prepare", 0, 0, 0.0, message=f"Building {name} once (offline, about a "
                                  f"minute; {fraction:.0%}): {message}"))

    ensure_base_model(name, on_progress=report)


class Leaderboard:
    """The candidates' rows as they stand; every change is sent as a ProgressEvent with all rows."""

    def __init__(self, events: Events, prepared: Prepared, table: list[Candidate], preferred: str | None = None,
                 refits: tuple[str, ...] = (), seed: int = 0) -> None:
        self.events, self.prepared, self.task = events, prepared, prepared.task
        self.seed = seed  # the verdict's (config.seed): a pair it also compares gets the same resamples, so the same interval
        self.preferred = preferred  # the kind the settings keep once it ran (choose_leader), or None
        self.metric = "micro_f1" if prepared.multi_label else "macro_f1" if prepared.classification else "r2"
        self.fitted: dict[str, Fitted] = {}
        self._cv: dict[str, tuple[float, int]] = {}
        self._comparisons: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, other kind) -> _comparison
        self._rows = {c.kind: CandidateRow(c.kind, kind_title(c.kind, self.task), metric=self.metric,
                                           status="skipped" if c.fit is None else "waiting", note=c.skip,
                                           refits=c.kind in refits and c.fit is not None) for c in table}
        self._send("Candidates: " + ", ".join(f"{r.title} ({r.status})" for r in self._rows.values()))

    def rows(self) -> tuple[dict[str, Any], ...]:
        return tuple(row.to_dict() for row in self._rows.values())

    def refitting(self, kind: str, on: bool) -> None:
        """``kind``, the saved leader, is (``on``) or no longer is being retrained on train + validation."""
        row = self._rows[kind]
        if row.refitting != on:
            meanwhile = "; the copy saved so far stays usable meanwhile" if row.saved else ""
            self.update(kind, refitting=on, message=f"{row.title}: retraining on train + validation" + (
                meanwhile if on else " ended"))

    def update(self, kind: str, message: str = "", **changes: Any) -> None:
        self._rows[kind] = dataclasses.replace(self._rows[kind], **changes)
        self._send(message or f"{self._rows[kind].title}: {self._rows[kind].status}")

    def finished(self, fitted: Fitted, leader: str) -> None:
        """``fitted`` has run: its score, time and note; the leader flag moves to ``leader`` (a new
        leader is not saved yet: :meth:`saved` says when it is), and every finished candidate's note
        says again why it is or is not the one kept, against the leader as it now stands."""
        self.fitted[fitted.kind] = fitted
        self._comparisons = {k: v for k, v in self._comparisons.items() if fitted.kind not in k}  # a kind run again
        for kind, row in self._rows.items():
            if kind in self.fitted and kind != fitted.kind:
                self._rows[kind] = dataclasses.replace(row, leader=kind == leader, saved=row.saved and kind == leader,
                                                       note=self._why(self.fitted[kind], leader) + self._cv_note(kind))
        score, row = fitted.score(self.task), self._rows[fitted.kind]
        metric = _metric_words(self.prepared)
        self.update(fitted.kind, status=fitted.status, score=score, n_val=len(fitted.val.pred), leader=fitted.kind == leader,
                    seconds=round(fitted.seconds, 2), note=self._why(fitted, leader),
                    message=f"{row.title}: validation {metric} {score:.3f}{' (leader)' if fitted.kind == leader else ''}")

    def cross_validated(self, kind: str, cv: tuple[float, int] | None) -> None:
        """Set ``kind``'s out-of-fold score (:func:`cross_validated`) beside its validation score."""
        if cv is None:
            return
        self._cv[kind] = cv
        row = self._rows[kind]
        self.update(kind, cv_score=cv[0], cv_n=cv[1], note=(row.note + self._cv_note(kind)).strip(),
                    message=f"{row.title}: {CV_FOLDS}-fold cross-validated {cv[0]:.3f} on {cv[1]:,} rows")

    def _cv_note(self, kind: str) -> str:
        if kind not in self._cv:
            return ""
        score, n = self._cv[kind]
        return f" {CV_FOLDS}-fold cross-validated on {n:,} training + validation rows: {score:.3f}."

    def saved(self, kind: str) -> None:
        self.update(kind, saved=True, message=f"{self._rows[kind].title}: saved as the best so far")

    def _why(self, fitted: Fitted, leader: str) -> str:
        """Why ``fitted`` is or is not the one put in place, in plain words: the leader is "the best so far"
        (or kept by the settings); one stopped early keeps its stop note (behind the leader at step k);
        any other is behind the leader by so much on the same rows (and how sure that is,
        core.evaluation.noise_in_words), tied with it (within TIE_MARGIN) so the cheaper one, run
        first, stays, or ahead of it while the settings keep the requested model. "Not put in place"
        (core.candidates.NOT_IN_PLACE), never "not saved": the job's end keeps every finished
        candidate beside the leader (core.result's alternatives, "Use ... instead")."""
        from .evaluation import TIE_MARGIN, noise_in_words

        basis = "out-of-fold" if self.prepared.out_of_fold else "validation"
        if fitted.kind == leader:
            # The same one the verdict names (core.candidates.kept_over), so the two never disagree.
            ahead = kept_over(self.fitted, leader, self.task) if leader == self.preferred else None
            if ahead:
                return (f"Kept because the settings ask to keep it, though {ahead['name']} scored higher: "
                        f"{ahead['score']:.3f} vs {ahead['kept_score']:.3f} {_metric_words(self.prepared)} on the same "
                        f"{len(fitted.val.pred):,} {basis} rows.")
            return BEST_SO_FAR_NOTE
        if fitted.note:  # stopped early: the note says at which step and by how much it trailed
            return fitted.note
        comparison = self._comparison(fitted, self.fitted[leader])
        name, delta = kind_name(leader, self.task), comparison["delta"]
        scores = (f"{comparison['a']:.3f} vs {comparison['b']:.3f} {_metric_words(self.prepared)} on the same "
                  f"{comparison['n']:,} {basis} rows")
        points = (lambda d: f"{d * 100:.1f} points") if self.task == "classification" else (lambda d: f"{d:.3f}")
        order = list(self._rows)
        if delta > TIE_MARGIN:
            return f"{NOT_IN_PLACE}it scored higher than {name} ({scores}), but the settings ask to keep {name}."
        if abs(delta) <= TIE_MARGIN and order.index(fitted.kind) > order.index(leader):
            return (f"{NOT_IN_PLACE}tied with {name} ({scores}, within the tie margin of {points(TIE_MARGIN)}), so the "
                    "cheaper one, run first, stays.")
        return f"{NOT_IN_PLACE}{points(-delta)} behind {name} ({scores}). {noise_in_words(comparison, self.task, basis)}".strip()

    def _comparison(self, fitted: Fitted, other: Fitted) -> dict[str, Any]:
        """``fitted`` minus ``other`` on the same validation rows, paired (core.evaluation.paired_bootstrap;
        several tags per row: micro-F1, core.multilabel_training.tag_comparison). Worked out once per
        pair: every finished candidate's note is written again against the leader each time one finishes."""
        key = (fitted.kind, other.kind)
        if key not in self._comparisons:
            if self.prepared.multi_label:
                truth = self.prepared.y[self.prepared.splits["validation"]]
                self._comparisons[key] = tag_comparison(truth, fitted.val.pred, other.val.pred, self.seed)
            else:
                truth = self.prepared.labels[self.prepared.splits["validation"]]
                self._comparisons[key] = paired_bootstrap(self.task, truth, fitted.val.pred, other.val.pred,
                                                          self.prepared.classes, seed=self.seed)
        return self._comparisons[key]

    def _send(self, message: str) -> None:
        self.events.emit(ProgressEvent(CANDIDATES_PHASE, 0, 0, 0.0, message=message, leaderboard=self.rows()))
