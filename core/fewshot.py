"""Few-shot classification in the style of SetFit (Tunstall et al., 2022), written here.

Two stages, as in SetFit:

1. Contrastive fine-tuning of the base model's sentence encoder (mean pooling over tokens).
   Pairs of texts from the same class should embed close together (cosine 1), pairs from
   different classes far apart (cosine 0): SetFit's ``CosineSimilarityLoss``, a squared error
   between the pair's cosine and its 0/1 target.
2. A logistic-regression head (scikit-learn) on the L2-normalised embeddings.

Where this differs from the ``setfit`` package (which we do not install: it pulls
sentence-transformers and datasets and, with them, a CUDA torch): SetFit draws 2 x 20 pairs per
text and encodes both texts of every pair, 16 pairs per step, so its cost grows with the data
(60 steps for 24 texts, 480 for 192). Here each step encodes a class-balanced batch of up to
``TEXTS_PER_STEP`` texts once and scores *all* pairs among them, positives and negatives
weighted equally (SetFit's pairs are half positive, half negative). One step thus sees a few
hundred pairs for the price of encoding ~24 texts, and the number of steps is fixed, so the
training time hardly depends on the data size. Measured in bench/bench_fewshot.py.

The trained model is a :class:`core.models.fewshot.FewShotClassifier` (kind "fewshot").

Small data sets are evaluated by stratified k-fold cross-validation (see :func:`fit_and_score_fewshot`);
the saved model is then trained on every labelled row.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .base_models import base_model_source, resolve_base_model
from .config import DEFAULT_LEARNING_RATE, TrainConfig
from .cpu import cpu_threads
from .evaluation import (
    baseline_metrics,
    combine_folds,
    evaluate,
    fold_spread,
)
from .models.fewshot import KIND, FewShotClassifier, encode, mean_pooled
from .models.folder import default_device, device_of, pad_batch
from .prepare import Prepared, prepare
from .progress import Cancel, Events, ProgressCallback, ProgressEvent, TrainingCancelled, TrainResult, cancel_check
from .words import rows_words

# Contrastive stage. Calibrated with bench/bench_fewshot.py (sentiment_reviews_en.csv, minilm-en,
# 3 seeds, 600 held-out rows; macro-F1 means at 8 rows per class):
#   40 steps of all 16 texts 0.783; 20 steps 0.760; 40 steps of 8 texts 0.769;
#   40 steps of 12 texts with frozen word embeddings 0.778 at ~60 % of the cost of 16 texts.
# Reference points on the same draws: SetFit's default recipe re-implemented 0.727, frozen
# encoder + logistic regression 0.703, plain fine-tuning 0.486, TF-IDF + LR 0.566.
FEWSHOT_STEPS = 40  # optimizer steps of the contrastive stage, whatever the data size
# Under cross-validation the model is trained k+1 times (3 folds + the final model for 24 rows),
# so each run gets fewer steps to keep a small data set's wait near a minute on a laptop CPU:
# 24 steps scored 0.760 at 8 rows per class (vs 0.778 with 40; SetFit's recipe 0.727), and
# 24 rows x 3 classes then train end to end in 54 s (1 thread, shared machine at load ~3).
CV_STEPS = 24
TEXTS_PER_STEP = 12  # texts encoded per step; every pair among them is scored
# Word embeddings stay fixed: with a few dozen texts they barely move, and updating their 11.7M
# weights (half of MiniLM) costs ~0.1 s of CPU per step (measured 0.42 vs 0.55 s for 12 texts).
FREEZE_WORD_EMBEDDINGS = True
# Lowest transformer layers kept fixed (with all embeddings). 3 of MiniLM's 6 cut the CPU per
# step by a third (0.28 vs 0.42 s) but macro-F1 fell to 0.746 (vs 0.778) at 8 rows per class.
FROZEN_LAYERS = 0
WARMUP_FRACTION = 0.1  # linear warm-up, then linear decay (as sentence-transformers' fit)
HEAD_C = 1.0  # inverse regularisation of the logistic-regression head (scikit-learn default)

# Small data: honest numbers need cross-validation (a 20 % test split of 24 rows is 5 rows).
CV_MIN_PER_CLASS = 30  # below this many rows in the smallest class ...
CV_MIN_ROWS = 200  # ... or this many rows in all, metrics are cross-validated
CV_MAX_FOLDS = 5
CV_ROWS_PER_FOLD = 20  # aim for test folds of about this many rows (at least 3 folds)
FEW_EXAMPLES_ROWS = 100  # fewer evaluated rows than this: say the numbers are rough

# Automatic method choice. Measured with bench/bench_fewshot.py (sentiment_reviews_en.csv, 2
# classes, minilm-en, 3 seeds, 600 held-out rows, product defaults; train seconds on the shared
# 2-core machine at load ~8-17, so only their ratio means much):
#   rows/class   few-shot F1   full F1        TF-IDF F1   few-shot s   full s
#        8       0.778         0.486          0.566        59           64
#       16       0.839         0.515          0.601        56           56
#       32       0.870         0.511 (±0.18)  0.636        48          105
#       64       0.879         0.545 (±0.17)  0.673        64          152
#      128       0.892         0.839          0.713        47          232
#      256       0.890         0.883          0.766        82          486
# Few-shot led at every size measured and its time does not grow with the data, while full
# fine-tuning needs ~250+ rows per class to come close and takes longer. So: few-shot up to 256
# rows in the smallest class (the largest size measured), and at most 1,000 rows in all (beyond
# the measurements, full fine-tuning gets enough steps to learn; the cap keeps it the choice for
# big data sets with one rare class).
AUTO_FEWSHOT_MAX_PER_CLASS = 256  # few-shot while the smallest class has at most this many rows
AUTO_FEWSHOT_MAX_ROWS = 1000  # ... and the data set has at most this many labelled rows


def choose_method(
    n_rows_per_class_min: int,
    n_rows: int,
    *,
    task: str = "classification",
    n_classes: int | None = None,
    tags: bool = False,
) -> tuple[str, str]:
    """Pick the training method for ``method="auto"``: (method, reason for people).

    ``n_rows_per_class_min``: labelled rows in the smallest class; ``n_rows``: labelled rows in
    all. Few-shot for small classification data sets (smallest class <= AUTO_FEWSHOT_MAX_PER_CLASS
    rows and <= AUTO_FEWSHOT_MAX_ROWS rows), full fine-tuning otherwise; regression always uses
    full fine-tuning (the few-shot head is a classifier). ``tags``: several tags per row, where the
    counts are rows carrying each tag, said as tags, not classes.
    """
    if task != "classification":
        return "full", "Full fine-tuning: few-shot training only handles classification, and this is regression."
    kind = "tag" if tags else "class"
    classes = f" across {n_classes} {'tags' if tags else 'classes'}" if n_classes else ""
    if n_rows_per_class_min <= AUTO_FEWSHOT_MAX_PER_CLASS and n_rows <= AUTO_FEWSHOT_MAX_ROWS:
        carrying = "rows carrying it" if tags else "labelled rows"
        return "fewshot", (
            f"Few-shot: the smallest {kind} has {n_rows_per_class_min} {carrying} "
            f"({n_rows} rows{classes}). With up to {AUTO_FEWSHOT_MAX_PER_CLASS} rows per {kind}, few-shot "
            "training was more accurate than full fine-tuning in our measurements (macro-F1 0.78 vs "
            "0.49 at 8 rows per class, 0.89 vs 0.84 at 128), and its time hardly grows with the data."
        )
    if n_rows > AUTO_FEWSHOT_MAX_ROWS:
        why = f"{n_rows:,} labelled rows (more than {AUTO_FEWSHOT_MAX_ROWS:,}) give fine-tuning enough to learn from"
    else:
        why = (
            f"every {kind} has more than {AUTO_FEWSHOT_MAX_PER_CLASS} labelled rows "
            f"(smallest: {n_rows_per_class_min})"
        )
    return "full", f"Full fine-tuning: {why}; with this much data it matches or beats few-shot training."


# --------------------------------------------------------------------------- training


def train_fewshot(
    df: pd.DataFrame,
    config: TrainConfig,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: Cancel = None,
    **options: Any,
) -> TrainResult:
    """Few-shot training of ``config.base_model`` on ``df``: :func:`core.prepare.prepare`, then
    :func:`fit_and_score_fewshot` (``options``: its ``steps``, ``texts_per_step`` and ``cv``). Raises
    ``ValueError`` for a mapping that does not fit or a regression task."""
    return fit_and_score_fewshot(prepare(df, config), config, on_progress, cancel, **options)


def fit_fewshot(
    prepared: Prepared,
    config: TrainConfig,
    events: Events | Callable[[ProgressEvent], None] | None = None,
    cancel: Cancel = None,
    *,
    steps: int | None = None,
    texts_per_step: int | None = None,
    deadline: float | None = None,
    seed: int | None = None,
) -> FewShotClassifier:
    """A few-shot model of ``config.base_model`` fitted on ``prepared.splits["train"]`` rows only;
    returns the model (scoring is the caller's: core.pipeline scores it on the validation rows
    like every candidate and refits it on train + validation with a second call).

    ``steps`` contrastive steps (default ``FEWSHOT_STEPS``) of ``texts_per_step`` texts, then the
    logistic-regression head. ``model.metrics`` holds the fit's facts (``steps``,
    ``steps_trained``, ``stopped_reason``: "completed" or "time limit" at ``deadline`` (a
    ``time.monotonic()`` value) or ``config.max_train_seconds``, ``train_seconds``, ``fewshot``).
    ``seed``: the contrastive stage's (default ``config.seed``; a cross-validation fold's differs).
    One "train" event per step. Raises ``ValueError`` for regression and
    :class:`TrainingCancelled` when ``cancel`` is set (checked before every step).
    """
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    if not prepared.classification:
        raise ValueError(f"Few-shot training predicts classes; task '{prepared.task}' needs the 'full' or 'lora' method.")
    events, started = Events.of(events), time.monotonic()
    steps, texts_per_step = int(steps or FEWSHOT_STEPS), int(texts_per_step or TEXTS_PER_STEP)
    base, rows = resolve_base_model(config.base_model), prepared.splits["train"]
    device = default_device()
    if device == "cpu":
        torch.set_num_threads(cpu_threads())
    transformers.logging.set_verbosity_error()
    seed = config.seed if seed is None else seed
    events.emit(ProgressEvent("prepare", 0, 0, 0.0, elapsed_s=0.0, message=f"Loading {base.name}"))
    tokenizer = AutoTokenizer.from_pretrained(base.location)
    body = AutoModel.from_pretrained(base.location, use_safetensors=True if base.is_local else None).to(device)
    texts = prepared.texts_at(rows)
    encoded = tokenizer(texts, truncation=True, max_length=config.max_length, padding=False)["input_ids"]
    lr = config.learning_rate or DEFAULT_LEARNING_RATE["fewshot"]
    max_seconds = config.max_train_seconds or None
    if deadline is not None:
        max_seconds = max(1e-9, min(max_seconds or math.inf, deadline - time.monotonic()))  # 0 would mean "no limit"

    def on_step(step: int, loss: float) -> None:
        elapsed = time.monotonic() - started
        events.emit(ProgressEvent("train", step, steps, step / steps, loss, elapsed_s=elapsed,
                                  eta_s=elapsed / step * (steps - step), message=f"contrastive step {step}/{steps}"))

    transformers.set_seed(seed)
    strata = None
    if prepared.multi_label:  # batches balanced over each row's rarest tag; pairs sharing a tag are positives
        from .multilabel import rarest_tag

        strata = rarest_tag(prepared.y[rows], prepared.classes)
    ran = contrastive_finetune(
        body, encoded, prepared.y[rows], strata=strata, pad_id=tokenizer.pad_token_id or 0, steps=steps,
        texts_per_step=texts_per_step,
        learning_rate=lr, weight_decay=config.weight_decay, seed=seed,
        freeze_embeddings=FREEZE_WORD_EMBEDDINGS or config.freeze_embeddings, freeze_layers=FROZEN_LAYERS,
        cancelled=cancel_check(cancel), on_step=on_step, max_seconds=max_seconds,
    )
    body.eval()
    events.emit(ProgressEvent("train", ran, steps, 1.0, elapsed_s=time.monotonic() - started, message="Fitting the classification head"))
    embedded = encode(body, tokenizer, texts, config.max_length)
    if prepared.multi_label:
        coef, intercept = fit_tag_head(embedded, prepared.y[rows], config.class_weighting, config.seed)
    else:
        coef, intercept = fit_head(embedded, prepared.y[rows], len(prepared.classes), config.class_weighting, config.seed)
    clf = FewShotClassifier(body, tokenizer, classes=prepared.classes, coef=coef, intercept=intercept, schema=prepared.schema,
                            max_length=config.max_length, training_config=prepared.training_config(config), base_model=base.name,
                            multi_label=prepared.multi_label)
    clf.metrics = {
        "method": KIND, "steps": steps, "steps_trained": ran, "best_step": ran, "total_steps": steps,
        "stopped_reason": "completed" if ran >= steps else "time limit", "train_seconds": round(time.monotonic() - started, 2),
        "device": str(device), "base_model_source": base_model_source(base),
        "fewshot": {"steps": steps, "texts_per_step": texts_per_step, "learning_rate": lr, "head_C": HEAD_C,
                    "word_embeddings_frozen": FREEZE_WORD_EMBEDDINGS or config.freeze_embeddings},
    }
    return clf


def fit_and_score_fewshot(
    prepared: Prepared,
    config: TrainConfig,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: Cancel = None,
    *,
    steps: int | None = None,
    texts_per_step: int | None = None,
    cv: bool | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Few-shot training of ``config.base_model`` on the prepared rows, scored on its own
    (:func:`train_fewshot`; training jobs use core.pipeline); returns a :class:`TrainResult`.

    Evaluation: with a user split column, train on its train+validation rows and score its
    test rows. Otherwise, when the data is small (smallest class < ``CV_MIN_PER_CLASS`` rows
    or < ``CV_MIN_ROWS`` rows; ``cv`` forces it on/off) the reported metrics are stratified
    k-fold cross-validated (k from :func:`cv_folds`: 3-5; copies of a text in one fold) for the
    model and the baselines alike, with the spread across folds in ``metrics["cv"]``; else the
    prepared split's test rows. The returned model is trained on all training rows (every
    labelled row under cross-validation).

    Settings used: base_model, max_length, learning_rate (default 2e-5), seed, class_weighting
    (balanced head), max_train_seconds (shared out evenly over the folds and
    the final model). Epochs, batch size and early stopping do not apply: the
    contrastive stage runs ``steps`` (default ``FEWSHOT_STEPS``, ``CV_STEPS`` per run under
    cross-validation) steps of ``texts_per_step`` texts. Progress: one "train" event per step, an "evaluate" event per fold.
    ``deadline``: a ``time.monotonic()`` value (a server's per-job time limit): the time left is
    shared out over the runs still to do, each of which runs at least one step
    (``stopped_reason`` "time limit"; ``metrics["steps_trained"]`` of ``metrics["total_steps"]``).
    Raises ``ValueError`` for a regression task and :class:`TrainingCancelled` when ``cancel``
    is set (checked before every step).
    """
    if not prepared.classification:
        raise ValueError(f"Few-shot training predicts classes; task '{prepared.task}' needs the 'full' or 'lora' method.")
    started, events = time.monotonic(), Events(on_progress)
    emit, cancelled = events.emit, cancel_check(cancel)
    classes, y, splits = prepared.classes, prepared.y, prepared.splits
    warnings, counts = list(prepared.warnings), np.bincount(y, minlength=len(classes))
    plan, evaluation = _plan(prepared, config, cv)
    steps, texts_per_step = int(steps or (CV_STEPS if len(plan) > 1 else FEWSHOT_STEPS)), int(texts_per_step or TEXTS_PER_STEP)
    total_steps = steps * len(plan)
    seconds_per_run = config.max_train_seconds / len(plan) if config.max_train_seconds else None
    emit(ProgressEvent("prepare", 0, 0, 0.0, elapsed_s=0.0, message=f"Loading {resolve_base_model(config.base_model).name}"))
    done_steps = trained_steps = 0
    train_started, stopped_reason = time.monotonic(), "completed"
    fold_results: list[dict[str, Any]] = []
    oof_rows: list[pd.DataFrame] = []
    for run_index, (name, train_idx, test_idx) in enumerate(plan):
        run_seconds = seconds_per_run
        if deadline is not None:  # every run left gets its share, so the final model is trained too
            share = max(deadline - time.monotonic(), 0.0) / (len(plan) - run_index)
            run_seconds = share if run_seconds is None else min(run_seconds, share)
        run = dataclasses.replace(prepared, splits={"train": train_idx, "validation": np.array([], dtype=int), "test": test_idx})
        model = fit_fewshot(run, config.replace(max_train_seconds=None), _run_events(emit, done_steps, total_steps, name, started),
                            cancel, steps=steps, texts_per_step=texts_per_step, seed=config.seed + run_index,
                            deadline=None if run_seconds is None else time.monotonic() + max(run_seconds, 1e-9))
        ran = int(model.metrics["steps_trained"])
        trained_steps, done_steps = trained_steps + ran, done_steps + steps  # the bar stays honest about what is left
        if ran < steps:
            stopped_reason = "time limit"
        if len(test_idx) == 0:
            continue
        scored = evaluate(model, prepared, test_idx)
        model_m, frame, labels = scored.metrics, scored.predictions, prepared.labels
        # No validation rows to tune the TF-IDF baseline on: it keeps C=1 (its first grid value).
        val_idx = splits["validation"] if prepared.split_column else np.array([], dtype=int)
        base_m = baseline_metrics("classification", prepared.texts_at(train_idx), labels[train_idx], prepared.texts_at(val_idx),
                                  labels[val_idx], prepared.texts_at(test_idx), labels[test_idx], classes)
        fold_results.append({"name": name, "n_train": int(len(train_idx)), "n_test": int(len(test_idx)), "model": model_m, "baselines": base_m})
        if name != "final":
            frame.insert(1, "fold", run_index + 1)
        oof_rows.append(frame)
        emit(ProgressEvent("evaluate", done_steps, total_steps, done_steps / total_steps,
                           metrics={k: model_m[k] for k in ("accuracy", "macro_f1", "weighted_f1")},
                           elapsed_s=time.monotonic() - started, message=f"{name}: macro-F1 {model_m['macro_f1']:.3f} on {rows_words(len(test_idx))}"))
    train_seconds = time.monotonic() - train_started
    refit_sentence = None
    if len(plan) == 1 and len(plan[0][2]):
        # The head is cheap to refit: after scoring, refit it on every labelled row (the body
        # stays as trained on train + validation); the reported numbers stay the held-out ones.
        if cancelled():
            raise TrainingCancelled("Training was cancelled; nothing was saved.")
        model.coef_, model.intercept_ = fit_head(encode(model.model, model.tokenizer, prepared.texts, config.max_length), y,
                                               len(classes), config.class_weighting, config.seed)
        refit_sentence = (
            f"The saved model's classification head was refitted on all {len(y):,} labelled rows (its encoder was "
            f"tuned on the {len(plan[0][1]):,} training rows); the numbers shown are from before, on the "
            f"{len(plan[0][2]):,} held-out test rows."
        )
    emit(ProgressEvent("baselines", done_steps, total_steps, 1.0, elapsed_s=time.monotonic() - started, message="Comparing with the baselines"))
    metrics = _scored_metrics(prepared, config, fold_results, counts, warnings)
    final_train = plan[-1][1]
    metrics.update(
        evaluation=evaluation, split_sizes={"train": int(len(final_train)), "validation": 0, "test": metrics.pop("n_tested")},
        best_step=steps, steps=steps, steps_trained=trained_steps, total_steps=total_steps, stopped_reason=stopped_reason,
        train_seconds=round(train_seconds, 2),
        train_texts_per_second=round(done_steps * min(texts_per_step, len(final_train)) / max(train_seconds, 1e-9), 2),
        device=model.metrics["device"], base_model_source=model.metrics["base_model_source"], fewshot=model.metrics["fewshot"])
    if refit_sentence:
        metrics["refit"] = {"rows": int(len(y)), "sentence": refit_sentence}
    model.metrics, model.test_predictions = metrics, pd.concat(oof_rows, ignore_index=True) if oof_rows else None
    elapsed = time.monotonic() - started
    emit(ProgressEvent("done", done_steps, total_steps, 1.0, metrics={k: metrics["model"][k] for k in ("accuracy", "macro_f1")},
                       elapsed_s=elapsed, eta_s=0.0, message="Done"))
    return TrainResult(model, metrics, events.history, prepared.report, metrics["warnings"], stopped_reason, elapsed)


def _plan(prepared: Prepared, config: TrainConfig, cv: bool | None) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], str]:
    """Which rows train which model and which rows score it: [(name, train rows, scored rows)], the
    last one "final" (the model returned), and the evaluation in words (see :func:`fit_and_score_fewshot`)."""
    y, splits = prepared.y, prepared.splits
    if prepared.split_column:
        return ([("final", np.sort(np.concatenate([splits["train"], splits["validation"]])), splits["test"])],
                "test split (your split column)")
    if cv if cv is not None else is_small(prepared):
        folds = cross_validation_folds(prepared, config.seed)
        k = len(folds)
        plan = [(f"fold {i + 1}/{k}", tr, te) for i, (tr, te) in enumerate(folds)]
        return [*plan, ("final", np.arange(len(y)), np.array([], dtype=int))], f"{k}-fold cross-validation"
    return ([("final", np.sort(np.concatenate([splits["train"], splits["validation"]])), splits["test"])],
            f"test split ({config.test_fraction:.0%} of the rows)")


def _run_events(emit: ProgressCallback, offset: int, total: int, name: str, started: float) -> ProgressCallback:
    """One run's progress events as the whole run's: steps counted from ``offset`` of ``total``,
    the run's ``name`` in the message (the fit's own "prepare" events are left out)."""
    train_started = time.monotonic()

    def on_event(event: ProgressEvent) -> None:
        if event.phase == "train":
            done, elapsed = offset + event.step, time.monotonic() - train_started
            emit(dataclasses.replace(event, step=done, total_steps=total, epoch=done / total, fraction=None,
                                     elapsed_s=time.monotonic() - started, metrics={},
                                     eta_s=elapsed / max(event.step, 1) * (total - done), message=f"{event.message} ({name})"))

    return on_event


def _scored_metrics(prepared: Prepared, config: TrainConfig, fold_results: list[dict[str, Any]], counts: np.ndarray,
                    warnings: list[str]) -> dict[str, Any]:
    """The model's and the baselines' metrics over the scored runs (pooled over folds, with their spread)."""
    classes = prepared.classes
    if len(fold_results) == 1:
        model_metrics, baselines = fold_results[0]["model"], fold_results[0]["baselines"]
        cv_summary = None
    else:
        model_metrics = combine_folds([f["model"] for f in fold_results], classes)
        baselines = {b: combine_folds([f["baselines"][b] for f in fold_results], classes) for b in fold_results[0]["baselines"]}
        cv_summary = {
            "k": len(fold_results),
            "folds": [{"n_train": f["n_train"], "n_test": f["n_test"]} for f in fold_results],
            "model": fold_spread([f["model"] for f in fold_results]),
            "baselines": {b: fold_spread([f["baselines"][b] for f in fold_results]) for b in baselines},
            "note": "Each row was scored once, by a model trained without it; the numbers are means "
            "over the folds, std is the sample standard deviation across folds. The saved model "
            "is trained on all rows.",
        }
    metrics = {"task": "classification", "method": KIND, "model": model_metrics, "baselines": baselines,
               "n_tested": int(sum(f["n_test"] for f in fold_results)), "n_rows_used": int(len(prepared.y)),
               "rows_dropped": prepared.report.dropped,
               "warnings": warnings + small_data_warnings(model_metrics, baselines, cv_summary, counts, classes)}
    if cv_summary:
        metrics["cv"] = cv_summary
    return metrics


def is_small(prepared: Prepared) -> bool:
    """Whether ``prepared`` (classification, one label per row) is small enough that its metrics are
    cross-validated: the smallest class under ``CV_MIN_PER_CLASS`` rows or fewer than ``CV_MIN_ROWS`` rows."""
    counts = np.bincount(prepared.y, minlength=len(prepared.classes))
    return bool(counts.min() < CV_MIN_PER_CLASS or len(prepared.y) < CV_MIN_ROWS)


def cross_validation_folds(prepared: Prepared, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold over every prepared row (k from :func:`cv_folds`; copies of a text, the
    ``groups``, kept in one fold): [(training positions, scored positions)] * k, each row scored once."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = prepared.y
    k = cv_folds(len(y), int(np.bincount(y, minlength=len(prepared.classes)).min()))
    if prepared.groups is not None:
        return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, prepared.groups))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def cv_folds(n_rows: int, smallest_class: int) -> int:
    """Folds for cross-validation: test folds of about ``CV_ROWS_PER_FOLD`` rows, 3 to 5 folds,
    never more than the smallest class has rows (each fold must hold one of each class).

    Why not always 5: a macro-F1 on a 5-row test fold moves in steps of 0.2, and every fold
    is one more training run (about 10 s on a laptop CPU); 24 rows get 3 folds of 8 rows.
    """
    return int(max(2, min(CV_MAX_FOLDS, max(3, n_rows // CV_ROWS_PER_FOLD), smallest_class)))


def contrastive_finetune(
    body: Any,
    encoded: list[list[int]],
    labels: np.ndarray,
    *,
    strata: np.ndarray | None = None,
    pad_id: int,
    steps: int,
    texts_per_step: int,
    learning_rate: float,
    weight_decay: float = 0.01,
    seed: int = 42,
    freeze_embeddings: bool = False,
    freeze_layers: int = 0,
    cancelled: Callable[[], bool] = lambda: False,
    on_step: Callable[[int, float], None] | None = None,
    max_seconds: float | None = None,
) -> int:
    """Fine-tune ``body`` in place with the all-pairs cosine-similarity loss; returns steps run.

    ``encoded``: token ids per text; ``labels``: class index per text (n,), or several tags per
    row: the indicator matrix (n, k), a pair then being positive when its texts share a tag (as
    SetFit's multi-label pairs), with ``strata`` (n,) the classes batches balance (each row's
    rarest tag). Each step encodes
    a class-balanced batch of up to ``texts_per_step`` texts and minimises, over every pair
    (i < j) in it, ``(cos(e_i, e_j) - [y_i == y_j])^2``, with the positive and the negative
    pairs each carrying half the weight. ``on_step(step, loss)`` after every step.
    ``freeze_layers``: keep all embeddings and the lowest that many transformer layers fixed
    (no gradient flows below them, which saves their share of the backward pass).
    """
    import torch
    import transformers

    for name, param in body.named_parameters():
        if (freeze_embeddings and "word_embeddings" in name) or _below(name, freeze_layers):
            param.requires_grad_(False)
    params = [p for p in body.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate
    )
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(WARMUP_FRACTION * steps), steps)
    batches = BalancedBatches(labels if strata is None else strata, texts_per_step, seed)
    device = device_of(body)
    body.train()
    started = time.monotonic()
    recent: list[float] = []
    for step in range(1, steps + 1):
        if cancelled():
            raise TrainingCancelled("Training was cancelled; nothing was saved.")
        batch = batches.next()
        input_ids, attention = pad_batch([encoded[i] for i in batch], pad_id)
        emb = mean_pooled(body, input_ids.to(device), attention.to(device))
        loss = pair_loss(emb, torch.as_tensor(labels[batch], device=device))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [float(loss.detach())])[-10:]
        if on_step:
            on_step(step, float(np.mean(recent)))
        if max_seconds and time.monotonic() - started >= max_seconds:
            return step
    return steps


def _below(name: str, layers: int) -> bool:
    """Is parameter ``name`` an embedding or in one of the lowest ``layers`` layers?"""
    if layers <= 0:
        return False
    if name.startswith("embeddings.") or ".embeddings." in name:
        return True
    match = re.search(r"(?:^|\.)layers?\.(\d+)\.", name)
    return bool(match) and int(match.group(1)) < layers


def pair_loss(embeddings: Any, labels: Any) -> Any:
    """SetFit's CosineSimilarityLoss over all pairs of a batch, positives and negatives balanced.

    ``embeddings``: (b, d) L2-normalised; ``labels``: (b,) class indices, or (b, k) tag indicators
    (a pair is positive when it shares a tag). A batch without positive (or negative) pairs puts
    all the weight on the kind it has.
    """
    import torch

    cosine = embeddings @ embeddings.T
    if labels.dim() == 2:
        same = ((labels.float() @ labels.float().T) > 0).to(cosine.dtype)
    else:
        same = (labels[:, None] == labels[None, :]).to(cosine.dtype)
    upper = torch.triu(torch.ones_like(cosine), diagonal=1)
    pos, neg = same * upper, (1 - same) * upper
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos > 0 and n_neg > 0:
        weight = 0.5 * pos / n_pos + 0.5 * neg / n_neg
    else:
        weight = upper / upper.sum().clamp(min=1)
    return (weight * (cosine - same) ** 2).sum()


class BalancedBatches:
    """Class-balanced batches of row positions, cycling through each class in shuffled order.

    Each batch takes about ``size / n_classes`` rows from every class (at least 2 when the
    class has them, so that every class contributes positive pairs); all rows when they fit.
    Deterministic for a seed.
    """

    def __init__(self, labels: np.ndarray, size: int, seed: int) -> None:
        self.labels = np.asarray(labels)
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.by_class = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
        self.queues: list[list[int]] = [[] for _ in self.by_class]

    def next(self) -> np.ndarray:
        if len(self.labels) <= self.size:
            return np.arange(len(self.labels))
        per_class = max(2, self.size // len(self.by_class))
        chosen: list[int] = []
        for c, members in enumerate(self.by_class):
            take = min(per_class, len(members))
            while len(self.queues[c]) < take:
                self.queues[c] += self.rng.permutation(members).tolist()
            chosen += self.queues[c][:take]
            self.queues[c] = self.queues[c][take:]
        return np.asarray(chosen)


def fit_head(
    embeddings: np.ndarray, y: np.ndarray, n_classes: int, balanced: bool = False, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression on the embeddings: (coef (1|n_classes, d), intercept) as float64.

    Classes absent from ``y`` (possible in a cross-validation fold) get a score that never wins.
    """
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=HEAD_C, max_iter=1000, class_weight="balanced" if balanced else None, random_state=seed)
    head.fit(embeddings.astype(np.float64), y)
    present = head.classes_.astype(int)
    coef, intercept = head.coef_.astype(np.float64), head.intercept_.astype(np.float64)
    if len(present) == n_classes:
        return coef, intercept
    # Expand to all classes (multinomial form) so probabilities keep the model's column order.
    dim = embeddings.shape[1]
    full_coef, full_intercept = np.zeros((n_classes, dim)), np.full(n_classes, -1e4)
    if len(present) == 2:  # binary: scores (0, z) give the same sigmoid probabilities
        full_coef[present[1]], full_intercept[present[1]] = coef[0], intercept[0]
        full_intercept[present[0]] = 0.0
    else:
        full_coef[present], full_intercept[present] = coef, intercept
    return full_coef, full_intercept


def fit_tag_head(embeddings: np.ndarray, Y: np.ndarray, balanced: bool = False, seed: int = 42
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Several tags per row: a logistic regression per tag on the embeddings (one-vs-rest), as
    (coef (k, d), intercept (k,)) float64; a tag constant on these rows gets zero coefficients
    and an intercept of +-20 (a probability of 1 or 0)."""
    from sklearn.linear_model import LogisticRegression

    Y = np.asarray(Y)
    coef, intercept = np.zeros((Y.shape[1], embeddings.shape[1])), np.zeros(Y.shape[1])
    for j in range(Y.shape[1]):
        column = Y[:, j].astype(int)
        if column.min() == column.max():
            intercept[j] = 20.0 if column[0] else -20.0
            continue
        head = LogisticRegression(C=HEAD_C, max_iter=1000, class_weight="balanced" if balanced else None, random_state=seed)
        head.fit(embeddings.astype(np.float64), column)
        coef[j], intercept[j] = head.coef_[0], head.intercept_[0]
    return coef, intercept


# --------------------------------------------------------------------------- evaluation


def small_data_warnings(
    model: dict[str, Any],
    baselines: dict[str, dict[str, Any]],
    cv_summary: dict[str, Any] | None,
    counts: np.ndarray,
    classes: Sequence[str],
) -> list[str]:
    """Plain sentences for people when the numbers rest on too few examples."""
    out = []
    n_scored = int(model.get("n", 0))
    smallest = int(counts.min())
    if n_scored < FEW_EXAMPLES_ROWS or smallest < CV_MIN_PER_CLASS:
        small_class = classes[int(counts.argmin())]
        out.append(
            f"These numbers rest on only {n_scored} scored row(s) (smallest class '{small_class}': "
            f"{smallest} labelled rows), so they are rough: a few different rows could move them a "
            "lot. Label more rows (the Label page picks the most useful ones) before trusting them."
        )
    if cv_summary:
        spread = cv_summary["model"].get("macro_f1")
        tfidf = cv_summary["baselines"].get("tfidf_lr", {}).get("macro_f1")
        if spread:
            out.append(
                f"Macro-F1 varied from {spread['min']:.2f} to {spread['max']:.2f} across the "
                f"{cv_summary['k']} cross-validation folds (mean {spread['mean']:.2f} ± {spread['std']:.2f})."
            )
        if spread and tfidf and abs(spread["mean"] - tfidf["mean"]) < max(spread["std"], tfidf["std"]):
            out.append(
                f"The model (macro-F1 {spread['mean']:.2f}) and the TF-IDF baseline ({tfidf['mean']:.2f}) "
                "are within the fold-to-fold spread of each other: the data cannot tell which is better."
            )
    return out
