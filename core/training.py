"""Fine-tuning: ``train(df, config, on_progress)`` -> :class:`TrainResult`.

A plain training loop (in the spirit of minGPT's trainer) driven by ``accelerate``, so the same
code runs on a CPU, one GPU with bf16/fp16, or several GPUs under ``accelerate launch``/torchrun.
Why not the HF Trainer: we need a progress event per optimizer step, cancellation within one
step, the best weights kept in memory (checkpoint files only when asked for: a training job and
the CLI ask, to survive being killed; see core.checkpoint) and our own length-grouped batching;
a 200-line loop is easier to read than the callbacks to bend Trainer.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import checkpoint as checkpoints
from .base_models import base_model_source, ensure_base_model, needs_build, resolve_base_model
from .config import TrainConfig
from .cpu import cpu_threads
from .evaluation import (
    choose_saved_model,
    classification_metrics,
    evaluate,
    fit_baselines,
    regression_metrics,
    score_predictions,
    tfidf_estimator,
)
from .fewshot import choose_method, fit_fewshot
from .models import SavedModel
from .models.folder import pad_batch, pause_point, softmax
from .models.tfidf import TfidfClassifier
from .models.transformer import TextClassifier
from .prepare import Prepared, prepare
from .progress import Cancel, ProgressCallback, ProgressEvent, TrainingCancelled, TrainResult, cancel_check

# Tokens in one forward/backward pass. Training activations of MiniLM take ~350 KB per token on
# CPU (1.4 GB for a batch of 32 texts of 128 tokens); a longer batch runs as several slices of this many
# tokens whose gradients add up to the whole batch's (the same step, dropout draws aside; lower peak memory).
MAX_TOKENS_PER_PASS = 1024


def train(
    df: pd.DataFrame,
    config: TrainConfig,
    on_progress: ProgressCallback | None = None,
    cancel: Cancel = None,
    *,
    checkpoint: str | Path | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train a model on ``df`` with ``config.method`` and evaluate it against the baselines.

    Prepares the data once (:func:`core.prepare.prepare`: validation, usable rows, split, model
    inputs), then fits: "full"/"lora": :func:`fit_transformer`; "fewshot":
    :func:`core.fewshot.fit_fewshot`; "auto": :func:`core.fewshot.choose_method` picks one from
    the labelled rows per class.
    ``metrics["method_chosen"]`` and ``metrics["method_reason"]`` say which and why; the saved
    training config records the method used (and "auto" in ``extra["method_requested"]``).
    Raises ``ValueError`` for a mapping that does not fit the data and
    :class:`TrainingCancelled` when ``cancel`` is set; no files are written either way.

    ``checkpoint``: a folder where fine-tuning keeps its state at each evaluation and resumes
    from when it finds one (:func:`fit_transformer`); None (the default) writes nothing. The
    caller removes it once the model is saved. The few-shot fit takes seconds to minutes and
    writes none: interrupted, it starts again from the beginning.

    ``deadline``: a ``time.monotonic()`` value (a server's per-job time limit, core/worker.py)
    at which training stops as at ``config.max_train_seconds``: ``stopped_reason`` "time
    limit", the best model so far kept, tested and compared as usual.
    """
    if not is_main_process():  # under torchrun/accelerate launch only rank 0 reports progress
        on_progress = None
    if needs_build(config.base_model):
        _build_base_model(config.base_model, on_progress)
    prepared = prepare(df, config)
    method, reason = config.method, f"Method '{config.method}', as chosen in the settings."
    if config.method == "auto" and config.multi_label:  # the few-shot head is single-label
        method, reason = "full", "Several tags per row: full fine-tuning (the few-shot head learns one class per row)."
        config = config.replace(method=method, extra={**config.extra, "method_requested": "auto", "method_reason": reason})
    elif config.method == "auto":
        counts = prepared.report.class_counts
        method, reason = choose_method(
            min(counts.values()) if counts else 0, prepared.report.n_rows_used, task=config.task, n_classes=len(counts) or None
        )
        config = config.replace(method=method, extra={**config.extra, "method_requested": "auto", "method_reason": reason})
    if on_progress is not None:
        on_progress(ProgressEvent("prepare", 0, 0, 0.0, message=reason))
    if method == "fewshot":
        result = fit_fewshot(prepared, config, on_progress, cancel, deadline=deadline)
        result.metrics["verdict"] = _fewshot_verdict(result.metrics, result.model.test_predictions, config.seed,
                                                     config.class_weighting)
        result.metrics["saved_kind"] = "fewshot"
    else:
        result = fit_transformer(prepared, config, on_progress, cancel, checkpoint=checkpoint, deadline=deadline)
    result.note(method_chosen=method, method_reason=reason)
    result.ood_reference = _ood_reference(prepared.texts, config)
    return result


def _build_base_model(name: str, on_progress: ProgressCallback | None) -> None:
    """Build a catalog base model missing on this machine (a fresh home folder, a cleared cache),
    reported as "prepare" events: a missing base model is built, never replaced by another."""
    def report(fraction: float, message: str) -> None:
        if on_progress is not None:
            on_progress(ProgressEvent("prepare", 0, 0, 0.0, message=f"Building {name} once (offline, about a "
                                      f"minute; {fraction:.0%}): {message}"))

    ensure_base_model(name, on_progress=report)


def _ood_reference(texts: list[str], config: TrainConfig) -> Any:
    """The out-of-distribution reference of the rows trained on (``texts``: model inputs as the
    model reads them), embedded by the base model's frozen encoder; None when it cannot be built (a model
    folder without one builds it later from its test predictions, core.check.model_ood_reference).
    At most core.check.OOD_REFERENCE_ROWS texts are embedded, so this costs seconds."""
    from .check import OodReference, ood_encoder

    try:
        return OodReference.from_texts(texts, ood_encoder(config.base_model), seed=config.seed)
    except Exception:  # noqa: BLE001 - too few rows, encoder not installed...: never fail a training for it
        return None


def fit_transformer(
    prepared: Prepared,
    config: TrainConfig,
    on_progress: ProgressCallback | None = None,
    cancel: Cancel = None,
    *,
    refit: tuple[int, int] | None = None,
    checkpoint: str | Path | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Fine-tune ``config.base_model`` on the prepared rows (``config.method`` "full" or "lora"),
    evaluate it against the baselines and choose
    the model to save (:func:`core.evaluation.choose_saved_model`: the TF-IDF model when the
    transformer does not score higher on validation; ``metrics["verdict"]`` says which and why).
    The other one is kept in ``TrainResult.alternatives`` (:func:`_kept_alternatives`), saved
    with the model in its ``candidates/`` folder.
    A split without validation rows (a user's split column) gives ``config.val_fraction`` of
    its training rows to validation, for early stopping.

    ``refit=(stop_at, schedule_steps)`` is the internal refit run (``config.refit_on_all_rows``):
    the same rows and split, trained on train + validation for ``stop_at`` optimizer steps of a
    learning-rate schedule planned for ``schedule_steps`` (the first run's), with no evaluation
    and no time limit; it returns the model only (``metrics`` holds ``steps``).

    ``checkpoint``: a folder (core.checkpoint) where the state of the loop is written at each
    evaluation: trainable weights, AdamW and scheduler state, the RNG states, step, epoch and
    batches done in it, best-so-far score/step/weights, evaluations since the best, recent
    losses, progress events and seconds trained. When the folder already holds a checkpoint the
    run continues from it, after the batches it had done (the batch order is fixed by seed and
    epoch), to the same result as a run never stopped: the same optimizer steps and, on a CPU,
    the same weights; the first event then says "Resumed from step k of n" and
    ``metrics["resumed_from_step"]`` is k. Raises ``ValueError`` when the checkpoint was written
    for other data (model inputs, targets, split) or settings. The refit run (below) keeps no
    checkpoint: a run killed during it resumes after the main loop and refits again from the
    start. ``config.max_train_seconds`` counts the seconds trained before the interruption too.
    Only the main process writes; under torchrun every process reads it back. The caller
    deletes the folder once the model is saved (:func:`core.checkpoint.remove`).

    ``deadline``: a ``time.monotonic()`` value at which the loop stops, as at
    ``config.max_train_seconds`` ("time limit"; a server's per-job limit): after at least one
    step, so a run whose time ran out before any evaluation is evaluated once and keeps those
    weights. Testing, the baselines and the choice follow as usual; the refit on train +
    validation is skipped (a warning says so) when it would end after the deadline.

    Raises :class:`TrainingCancelled` when ``cancel`` is set (checked every step and between
    the test, baseline, choice and refit phases); no model is written either way (a checkpoint
    folder is left as it was, for the caller to delete).
    """
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    started = time.monotonic()
    history: list[ProgressEvent] = []
    cancelled = cancel_check(cancel)

    def emit(event: ProgressEvent) -> None:
        history.append(event)
        if on_progress is not None and accelerator.is_main_process:
            on_progress(event)

    base = resolve_base_model(config.base_model)
    texts, y, y_out, classes, splits = prepared.texts, prepared.y, prepared.labels, prepared.classes, prepared.splits
    warnings = list(prepared.warnings)
    classification = prepared.classification
    if len(splits["validation"]) == 0:  # a user split without validation rows: carve some out
        train_idx = splits["train"]
        rng = np.random.default_rng(config.seed)
        n_val = max(1, int(len(train_idx) * config.val_fraction))
        chosen = rng.permutation(len(train_idx))[:n_val]
        splits = {**splits, "validation": np.sort(train_idx[chosen]), "train": np.delete(train_idx, chosen)}
    if refit is not None:  # the refit run learns from train + validation; test stays held out
        splits = {**splits, "train": np.sort(np.concatenate([splits["train"], splits["validation"]]))}
    target_scale = (0.0, 1.0)
    if not classification:  # standardise so one learning rate suits CTRs and revenues alike
        train_y = y[splits["train"]]
        target_scale = (float(train_y.mean()), float(train_y.std() or 1.0))

    accelerator = _accelerator(config.batch_size)
    if accelerator.device.type == "cpu":  # the cores, shared by a distributed run's processes
        # Not adapted to the load: a run of minutes to hours outlives the load at its start.
        torch.set_num_threads(cpu_threads(adapt_to_load=False))
    transformers.set_seed(config.seed)
    transformers.logging.set_verbosity_error()  # "newly initialized classifier" is expected
    emit(ProgressEvent("prepare", 0, 0, 0.0, elapsed_s=time.monotonic() - started, message=f"Loading {base.name}"))

    tokenizer = AutoTokenizer.from_pretrained(base.location)
    model = AutoModelForSequenceClassification.from_pretrained(
        base.location,
        num_labels=len(classes) if classification else 1,
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
        problem_type=("multi_label_classification" if prepared.multi_label else "single_label_classification")
        if classification else "regression",
        use_safetensors=True if base.is_local else None,
    )
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if config.method == "lora":
        model = _with_lora(model, config)

    encoded = tokenizer(texts, truncation=True, max_length=config.max_length, padding=False)["input_ids"]
    pad_id = tokenizer.pad_token_id or 0
    scaled_y = (y - target_scale[0]) / target_scale[1] if not classification else y
    train_loader = _loader(encoded, scaled_y, splits["train"], config, pad_id, shuffle=True)
    sampler = train_loader.batch_sampler  # prepare() wraps it for sharding; set_epoch must reach it
    val_loader = _loader(encoded, scaled_y, splits["validation"], config, pad_id, shuffle=False)

    # split_batches (see _accelerator): the prepared loader has as many batches as this one, so the
    # steps, the schedule and the evaluation cadence are those of a single process.
    steps_per_epoch = len(train_loader)
    total_steps = refit[1] if refit else max(1, math.ceil(config.epochs * steps_per_epoch))
    stop_at = min(refit[0], total_steps) if refit else total_steps
    eval_every = max(1, steps_per_epoch // config.evals_per_epoch)
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.effective_learning_rate)
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_fraction * total_steps), total_steps
    )
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler
    )
    loss_fn = _loss_fn(config, y[splits["train"]], len(classes), accelerator.device, multi_label=prepared.multi_label)
    autocast = _cpu_autocast(config, accelerator.device.type)

    best_score, best_state, evals_since_best = -math.inf, None, 0
    best_step, step, stopped_reason = 0, 0, "completed"
    recent_losses: list[float] = []
    train_started = time.monotonic()
    epoch, batch_in_epoch, resumed_from = 0, 0, None
    if refit is not None:
        checkpoint = None  # see the docstring: the refit run starts from the base model each time
    fingerprint = checkpoints.fingerprint(texts, y, splits, config.to_dict()) if checkpoint is not None else ""
    found = checkpoints.load(checkpoint) if checkpoint is not None else None
    rng_to_restore = None
    if found is not None:
        saved = found.state
        if saved["fingerprint"] != fingerprint or saved["total_steps"] != total_steps or saved["steps_per_epoch"] != steps_per_epoch:
            raise ValueError(
                f"The checkpoint in {checkpoint} was written by a run on other data or with other settings "
                f"(step {saved['step']} of {saved['total_steps']}), so it cannot continue this one. Resume with the "
                "same data and settings, or delete the checkpoint to start afresh."
            )
        net = accelerator.unwrap_model(model)
        _load_trainable(net, found.tensors("weights"), checkpoint)
        optimizer.load_state_dict(checkpoints.optimizer_state_dict(found.tensors("optimizer"), saved["optimizer"]))
        scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler") and getattr(accelerator, "scaler", None) is not None:  # fp16 loss scaling
            accelerator.scaler.load_state_dict(saved["scaler"])
        step, epoch, batch_in_epoch = int(saved["step"]), int(saved["epoch_index"]), int(saved["batch_in_epoch"])
        best_score = -math.inf if saved["best_score"] is None else float(saved["best_score"])
        best_step, evals_since_best = int(saved["best_step"]), int(saved["evals_since_best"])
        stopped_reason, recent_losses = saved["stopped_reason"], [float(v) for v in saved["recent_losses"]]
        if saved["has_best"]:
            best_state = found.tensors("best") or {
                n: p.detach().to("cpu", copy=True) for n, p in net.named_parameters() if p.requires_grad
            }
        history[:] = [ProgressEvent(**event) for event in found.history]
        train_started = time.monotonic() - float(saved["train_seconds"])
        started = time.monotonic() - float(saved["elapsed_s"])
        rng_to_restore = (found.tensors("rng"), saved["rng"])
        resumed_from = step
        emit(ProgressEvent("train", step, total_steps, step / steps_per_epoch, float(np.mean(recent_losses)) if recent_losses else None,
                           elapsed_s=time.monotonic() - started, message=f"Resumed from step {step} of {total_steps}"))

    def save_checkpoint(event: ProgressEvent) -> None:
        """Write the loop's state after an evaluation (``event``, its progress event, included)."""
        net = accelerator.unwrap_model(model)
        weights = {n: p for n, p in net.named_parameters() if p.requires_grad}
        optimizer_tensors, optimizer_rest = checkpoints.optimizer_parts(optimizer.state_dict())
        rng_tensors, rng_rest = checkpoints.rng_parts()
        tensors = {"weights": weights, "optimizer": optimizer_tensors, "rng": rng_tensors}
        if best_state is not None and best_step != step:
            tensors["best"] = best_state
        state = {
            "fingerprint": fingerprint, "step": step, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch,
            "epoch": step / steps_per_epoch, "epoch_index": epoch, "batch_in_epoch": batch_in_epoch,
            "best_score": None if best_score == -math.inf else best_score, "best_step": best_step,
            "has_best": best_state is not None, "evals_since_best": evals_since_best, "stopped_reason": stopped_reason,
            "recent_losses": recent_losses, "train_seconds": time.monotonic() - train_started,
            "elapsed_s": time.monotonic() - started, "optimizer": optimizer_rest, "scheduler": scheduler.state_dict(),
            "rng": rng_rest,
            "scaler": accelerator.scaler.state_dict() if getattr(accelerator, "scaler", None) is not None else None,
        }
        checkpoints.save(checkpoint, state, [e.to_dict() for e in [*history, event]], tensors)

    while step < stop_at and stopped_reason == "completed":
        # The prepared loader sets the sampler's epoch from its own count of passes, which starts
        # at 0 in a resumed run: tell it which epoch this is.
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        sampler.set_epoch(epoch)
        model.train()
        batches = iter(train_loader)
        for _ in range(batch_in_epoch):  # a resumed run: the batches the checkpointed run had done
            next(batches, None)
        if rng_to_restore is not None:  # after the skip, so every later random draw is the one it would have been
            checkpoints.set_rng(*rng_to_restore)
            rng_to_restore = None
        for input_ids, attention, targets in batches:
            pause_point(f"step-{step + 1}")
            if _any_process(accelerator, cancelled()):
                raise TrainingCancelled("Training was cancelled; nothing was saved.")
            loss_value, total_weight = 0.0, _batch_weight(accelerator, loss_fn.total_weight(targets))
            parts = _slices(len(targets), input_ids.shape[1], MAX_TOKENS_PER_PASS)
            for i, part in enumerate(parts):
                # Processes may cut their rows into different numbers of slices: gradients are
                # averaged across processes once, at the last slice's backward.
                with contextlib.nullcontext() if i == len(parts) - 1 else accelerator.no_sync(model):
                    with autocast():
                        logits = model(input_ids=input_ids[part], attention_mask=attention[part]).logits
                    loss = loss_fn(logits.float(), targets[part]).sum() / total_weight  # this slice's part of the batch mean
                    accelerator.backward(loss)
                loss_value += float(loss.detach())
            loss_value = _mean_over_processes(accelerator, loss_value)  # the whole batch's mean loss
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            batch_in_epoch += 1
            recent_losses = (recent_losses + [loss_value])[-20:]
            elapsed_train = time.monotonic() - train_started
            emit(
                ProgressEvent(
                    "train",
                    step,
                    total_steps,
                    step / steps_per_epoch,
                    float(np.mean(recent_losses)),
                    elapsed_s=time.monotonic() - started,
                    eta_s=elapsed_train / step * (total_steps - step),
                )
            )
            if refit is None and (step % eval_every == 0 or step == total_steps):
                val = _evaluate(model, val_loader, accelerator, classification, classes, target_scale)
                score = val[_score_key(val, classification)]
                if score > best_score:
                    best_score, best_step, evals_since_best = score, step, 0
                    best_state = {
                        n: p.detach().to("cpu", copy=True)
                        for n, p in accelerator.unwrap_model(model).named_parameters()
                        if p.requires_grad
                    }
                else:
                    evals_since_best += 1
                if evals_since_best >= config.early_stopping_patience:
                    stopped_reason = "early stopping"
                event = ProgressEvent(
                    "evaluate",
                    step,
                    total_steps,
                    step / steps_per_epoch,
                    float(np.mean(recent_losses)),
                    metrics=val,
                    elapsed_s=time.monotonic() - started,
                    eta_s=elapsed_train / step * (total_steps - step),
                    message=f"validation {_score_key(val, classification).replace('_f1', '-F1').replace('r2', 'R²')} {score:.3f}",
                )
                if checkpoint is not None and accelerator.is_main_process:
                    save_checkpoint(event)  # before the event: an "evaluate" event means its checkpoint is on disk
                emit(event)
                model.train()
            # Every process must stop at the same step (or the others wait forever in the next
            # gradient exchange), so the time limit counts when any process has reached it.
            out_of_time = (bool(config.max_train_seconds) and elapsed_train >= config.max_train_seconds) or (
                deadline is not None and time.monotonic() >= deadline)
            if (config.max_train_seconds or deadline is not None) and refit is None and _any_process(accelerator, out_of_time):
                stopped_reason = "time limit"
            if step >= stop_at or stopped_reason != "completed":
                break
        else:
            epoch, batch_in_epoch = epoch + 1, 0
    if rng_to_restore is not None:  # resumed after the loop's end (killed while testing or saving)
        checkpoints.set_rng(*rng_to_restore)

    if refit is None and step % eval_every != 0 and step != total_steps:  # stopped between evaluations
        val = _evaluate(model, val_loader, accelerator, classification, classes, target_scale)
        score = val[_score_key(val, classification)]
        if score > best_score or best_state is None:
            best_state, best_step = None, step  # the current weights are the best
    net = accelerator.unwrap_model(model)
    if best_state is not None:
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, value in best_state.items():
                params[name].copy_(value.to(params[name].device))
    if config.method == "lora":
        net = net.merge_and_unload()  # a plain model that pipeline() and our loader can read
    net.eval()

    clf = TextClassifier(
        net,
        tokenizer,
        task=prepared.task,
        classes=classes,
        schema=prepared.schema,
        max_length=config.max_length,
        target_scale=target_scale,
        training_config=prepared.training_config(config),
        base_model=base.name,
    )
    if refit is not None:
        return TrainResult(clf, {"steps": step}, history, prepared.report, warnings, "refit", time.monotonic() - started)
    if prepared.multi_label:  # thresholds on validation, test metrics, TF-IDF one-vs-rest: core/multilabel_training.py
        from .multilabel_training import finish_transformer

        return finish_transformer(clf, prepared, config, splits, history, emit, warnings=warnings, step=step,
                                  total_steps=total_steps, best_step=best_step, stopped_reason=stopped_reason,
                                  train_seconds=time.monotonic() - train_started, started=started,
                                  device=accelerator.device.type, base_model_source=base_model_source(base))

    def check_cancel() -> None:  # between phases: a cancel during scoring or baselines counts too
        if _any_process(accelerator, cancelled()):
            raise TrainingCancelled("Training was cancelled; nothing was saved.")

    check_cancel()
    emit(ProgressEvent("test", step, total_steps, step / steps_per_epoch, elapsed_s=time.monotonic() - started, message="Scoring the test split"))
    test_idx, val_idx = splits["test"], splits["validation"]
    test_texts = prepared.texts_at(test_idx)
    true = y_out[test_idx]
    scored = first = evaluate(clf, prepared, test_idx)  # first: the fine-tuned model's own, kept if it is not saved
    pred, model_metrics, test_predictions = scored.pred, scored.metrics, scored.predictions
    check_cancel()
    emit(ProgressEvent("baselines", step, total_steps, step / steps_per_epoch, elapsed_s=time.monotonic() - started, message="Training the baselines"))
    fitted = fit_baselines(
        prepared.task,
        prepared.texts_at(splits["train"]),
        y_out[splits["train"]],
        prepared.texts_at(val_idx),
        y_out[val_idx],
        test_texts,
        true,
        classes,
    )
    baselines = fitted.metrics
    check_cancel()
    val_pred = evaluate(clf, prepared, val_idx).pred
    verdict_inputs = dict(
        candidate="transformer",
        val_true=y_out[val_idx],
        val_candidate=val_pred,
        val_tfidf=fitted.val_pred,
        test_true=true,
        test_tfidf=fitted.test_pred,
        test_constant=[fitted.constant] * len(test_idx),
        allow_simpler=config.choose_simpler,
        class_weighting=config.class_weighting,
        seed=config.seed,
    )
    verdict = choose_saved_model(prepared.task, classes, test_candidate=pred, **verdict_inputs)
    train_seconds = time.monotonic() - train_started
    metrics = {
        "task": prepared.task,
        "model": model_metrics,
        "baselines": baselines,
        "split_sizes": {k: int(len(v)) for k, v in splits.items()},
        "n_rows_used": int(len(texts)),
        "rows_dropped": prepared.report.dropped,
        "best_step": best_step,
        "steps": step,
        "total_steps": total_steps,
        "stopped_reason": stopped_reason,
        "train_seconds": round(train_seconds, 2),
        "train_texts_per_second": round(step * config.batch_size / max(train_seconds, 1e-9), 2),
        "warnings": warnings,
        "device": accelerator.device.type,
        "processes": accelerator.num_processes,
        "base_model_source": base_model_source(base),  # package/version/sha256 of weights+tokenizer
    }
    if resumed_from is not None:
        metrics["resumed_from_step"] = resumed_from
    saved: SavedModel = clf
    # Each process scored the test and validation rows itself; rank 0's verdict picks the branch
    # for all (the refit run below trains together, so every process must take it or none).
    if not _same_as_main(accelerator, verdict["chosen"] == "transformer"):
        # The TF-IDF model is cheap to fit: refit it on every labelled row with the setting chosen
        # on validation, as AutoML tools do; the numbers reported stay those of the copy fitted on
        # the training rows and scored on the held-out test rows.
        check_cancel()
        emit(ProgressEvent("baselines", step, total_steps, step / steps_per_epoch, elapsed_s=time.monotonic() - started, message="Refitting TF-IDF on every labelled row"))
        saved, metrics["refit"] = _tfidf_refit(prepared, config, fitted, splits)
        metrics["candidates"] = {"transformer": model_metrics}
        metrics["model"] = model_metrics = baselines[fitted.tfidf_key]
        test_predictions = score_predictions(prepared, test_idx, fitted.test_pred, fitted.test_proba).predictions
    elif config.refit_on_all_rows and deadline is not None and (
            time.monotonic() + train_seconds / max(step, 1) * max(1, best_step) > deadline):
        # The refit trains best_step steps again from the base: past the deadline it would hold
        # the trainer beyond the server's limit, so the model trained on the training rows stays.
        note = ("The refit on train + validation was skipped: it would have run past this server's time limit per "
                "job. The saved transformer is the one trained on the training rows.")
        warnings.append(note)
        metrics["refit_skipped"] = note
    elif config.refit_on_all_rows:
        check_cancel()
        emit(ProgressEvent("train", step, total_steps, step / steps_per_epoch, elapsed_s=time.monotonic() - started, message=f"Refitting on train + validation for {best_step} steps"))
        refitted = fit_transformer(prepared, config, on_progress, cancel, refit=(max(1, best_step), total_steps)).model
        check_cancel()
        saved = refitted
        scored = evaluate(refitted, prepared, test_idx)
        metrics["before_refit"] = model_metrics
        metrics["model"] = model_metrics = scored.metrics
        test_predictions = scored.predictions
        verdict = choose_saved_model(prepared.task, classes, test_candidate=scored.pred, **verdict_inputs)
        n_fit = len(splits["train"]) + len(val_idx)
        metrics["refit"] = {
            "rows": int(n_fit),
            "steps": int(max(1, best_step)),
            "sentence": f"The saved transformer was retrained from {base.name} on the {n_fit:,} training + validation "
            f"rows for {max(1, best_step)} steps (where early stopping had found the best validation score); the "
            f"{len(test_idx):,} test rows stayed held out and the numbers shown are its score on them.",
        }
    metrics["verdict"] = verdict
    if classification and len(test_idx) < 100:
        warnings.append(
            f"The test split has only {len(test_idx)} rows, so these numbers are rough; the few-shot "
            "method reports cross-validated numbers on small data sets."
        )
    metrics["saved_kind"] = "transformer" if verdict["chosen"] == "transformer" else "tfidf"
    saved.metrics = metrics
    saved.test_predictions = test_predictions
    check_cancel()
    if metrics["saved_kind"] == "transformer":
        emit(ProgressEvent("baselines", step, total_steps, step / steps_per_epoch, elapsed_s=time.monotonic() - started, message="Refitting TF-IDF on every labelled row, kept as the other candidate"))
    alternatives = _kept_alternatives(prepared, config, fitted, splits, metrics, clf, first, scored.pred)
    elapsed = time.monotonic() - started
    emit(ProgressEvent("done", step, total_steps, step / steps_per_epoch, metrics=model_metrics, elapsed_s=elapsed, eta_s=0.0, message="Done"))
    return TrainResult(saved, metrics, history, prepared.report, warnings, stopped_reason, elapsed, alternatives=alternatives)


# ---------------------------------------------------------------------- pieces


def _tfidf_refit(prepared: Prepared, config: TrainConfig, fitted: Any, splits: dict[str, np.ndarray]
                 ) -> tuple[TfidfClassifier, dict[str, Any]]:
    """The TF-IDF model to keep, refitted on every labelled row with the setting chosen on
    validation (``fitted``: core.evaluation.fit_baselines' result), as AutoML tools do: it is
    cheap to fit. Returns it with ``metrics["refit"]`` (rows, a sentence): the numbers reported
    stay those of the copy fitted on the training rows and scored on the held-out test rows."""
    texts = prepared.texts
    pipeline = tfidf_estimator(prepared.task, fitted.param).fit(texts, prepared.labels)
    model = TfidfClassifier.from_pipeline(
        pipeline, task=prepared.task, classes=prepared.classes, schema=prepared.schema,
        training_config=prepared.training_config(config),
    )
    param = "C" if prepared.classification else "alpha"
    return model, {
        "rows": int(len(texts)),
        "sentence": f"The saved TF-IDF model was refitted on all {len(texts):,} labelled rows (train + validation "
        f"+ test, {param}={fitted.param:g} as chosen on validation); the numbers shown are those of the same model "
        f"fitted on the {len(splits['train']):,} training rows and scored on the {len(splits['test']):,} held-out test rows.",
    }


def _kept_alternatives(prepared: Prepared, config: TrainConfig, fitted: Any, splits: dict[str, np.ndarray],
                       metrics: dict[str, Any], transformer: TextClassifier, first: Any, saved_pred: np.ndarray
                       ) -> dict[str, SavedModel]:
    """The candidate not saved, kept beside the saved one (core.models.candidates), so a person can
    put it in place later without retraining: the fine-tuned ``transformer`` (with ``first``, its
    own test scores) when TF-IDF was saved, else the TF-IDF model refitted as :func:`_tfidf_refit`
    does. Its metrics are the run's (baselines, verdict, split) with its own "model" numbers, test
    predictions and usefulness check. ``saved_pred``: the fine-tuned model's final test predictions
    (after a refit), those of the saved model when it is the one saved."""
    if metrics["saved_kind"] == "tfidf":
        kind, model, saved_pred = "transformer", transformer, fitted.test_pred
        own_pred, own_predictions = first.pred, first.predictions
        own_metrics = {k: v for k, v in metrics.items() if k not in ("refit", "candidates")}
        own_metrics["model"] = first.metrics
    else:  # scored as the TF-IDF-saved branch of fit_transformer scores it
        kind = "tfidf"
        model, refit = _tfidf_refit(prepared, config, fitted, splits)
        own_pred = fitted.test_pred
        own_predictions = score_predictions(prepared, splits["test"], fitted.test_pred, fitted.test_proba).predictions
        own_metrics = {k: v for k, v in metrics.items() if k not in ("refit", "before_refit")}
        own_metrics.update(model=metrics["baselines"][fitted.tfidf_key], refit=refit)
    test_true = prepared.labels[splits["test"]]
    constant = [fitted.constant] * len(test_true)
    own_metrics.update(saved_kind=kind, verdict=_own_verdict(
        metrics["verdict"], prepared.task, prepared.classes, test_true, own_pred, saved_pred, constant, config.seed))
    model.metrics, model.test_predictions = own_metrics, own_predictions
    return {kind: model}


def _own_verdict(verdict: dict[str, Any], task: str, classes: Any, test_true: Any, own_pred: Any, saved_pred: Any,
                 constant: list[Any], seed: int) -> dict[str, Any]:
    """The run's verdict as a kept candidate carries it: the same choice and comparison, with the
    usefulness check (and the note on accuracy below always guessing) of the candidate's own test
    predictions instead of the saved model's, so whichever is put in place is flagged for itself."""
    from .evaluation import below_majority_note, usefulness_check

    usefulness = usefulness_check(task, test_true, own_pred, constant, classes, seed=seed + 2)
    sentence = verdict.get("sentence", "")
    if task == "classification":
        if not verdict.get("useless"):
            sentence = sentence.replace(below_majority_note(test_true, saved_pred, constant), "")
        if not usefulness["useless"]:
            sentence += below_majority_note(test_true, own_pred, constant)
    return {**verdict, "usefulness": usefulness, "useless": usefulness["useless"], "warning": usefulness["message"],
            "sentence": sentence}


def _fewshot_verdict(metrics: dict[str, Any], predictions: pd.DataFrame | None, seed: int,
                     class_weighting: bool = True) -> dict[str, Any]:
    """The few-shot model's verdict: it is kept (its body cannot be compared on a validation
    split it never had); its score is set beside TF-IDF's in words, and its scored rows (out of
    fold under cross-validation) are checked against always predicting the most common label
    (:func:`core.evaluation.usefulness_check`)."""
    from .evaluation import below_majority_note, missed_classes, missed_classes_sentence, usefulness_check

    model, tfidf = metrics.get("model") or {}, (metrics.get("baselines") or {}).get("tfidf_lr") or {}
    where = metrics.get("evaluation", "the test rows")
    # The page already says "Saved model: the few-shot model."; the sentence says how it scored.
    sentence = (
        f"Scored by {where}: {model.get('macro_f1', float('nan')):.2f} macro-F1 "
        f"against {tfidf.get('macro_f1', float('nan')):.2f} for TF-IDF + logistic regression."
    )
    usefulness = {"useless": False, "message": ""}
    missed: list[str] = []
    if predictions is not None and len(predictions) and "predicted_label" in predictions:
        true = predictions["true_label"].astype(str).to_numpy()
        predicted = predictions["predicted_label"].astype(str).to_numpy()
        values, counts = np.unique(true, return_counts=True)
        constant = [values[counts.argmax()]] * len(true)  # always the most common label
        classes = model.get("confusion_matrix", {}).get("labels") or sorted(values)
        usefulness = usefulness_check("classification", true, predicted, constant, classes, seed=seed)
        missed = missed_classes(true, predicted)
        if not usefulness["useless"]:
            sentence += below_majority_note(true, predicted, constant)
        sentence += missed_classes_sentence(true, missed, "it", "those rows", class_weighting)
    return {
        "chosen": "fewshot",
        "candidate": "fewshot",
        "reason": "The few-shot method was used; it is compared with TF-IDF on the same rows but not replaced by it.",
        "delta": (model.get("macro_f1", float("nan")) - tfidf.get("macro_f1", float("nan"))) if tfidf else None,
        "ci": None,
        "p_value": None,
        "within_noise": None,
        "usefulness": usefulness,
        "useless": bool(usefulness["useless"]),
        "warning": usefulness["message"],
        "missed_classes": missed,
        "sentence": sentence,
    }


class LengthGroupedBatches:
    """Batches of similar-length texts (less padding), in a shuffled order each epoch.

    Rows are shuffled, cut into pools of 50 batches, each pool sorted by length and cut into
    batches; then the batch order is shuffled. Deterministic for a seed and epoch.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, shuffle: bool) -> None:
        self.lengths, self.batch_size, self.seed, self.shuffle = lengths, batch_size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            yield from (order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size))
            return
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(n)
        pool = self.batch_size * 50
        batches = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort([self.lengths[i] for i in chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        # The one short batch goes last: accelerate's sharding (BatchSamplerShard) expects only the
        # last batch to be short and would drop a short one met earlier, with its rows.
        for b in sorted(rng.permutation(len(batches)), key=lambda b: len(batches[b]) < self.batch_size):
            yield batches[b]

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def _load_trainable(net, weights: dict[str, Any], where: Any) -> None:
    """Copy a checkpoint's trainable parameters (name -> CPU tensor) into ``net``; ``ValueError``
    when they are not the network's trainable parameters (another base model or method)."""
    import torch

    params = {n: p for n, p in net.named_parameters() if p.requires_grad}
    if set(params) != set(weights) or any(params[n].shape != weights[n].shape for n in params):
        raise ValueError(f"The checkpoint in {where} holds the weights of another network; delete it to start afresh.")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))


def _score_key(val: dict[str, Any], classification: bool) -> str:
    """The validation number early stopping follows: micro-F1 with several tags per row, else
    macro-F1 (classification) or R²."""
    return "micro_f1" if "micro_f1" in val else "macro_f1" if classification else "r2"


def _slices(n_rows: int, length: int, max_tokens: int) -> list[slice]:
    """Row slices of a padded (n_rows, length) batch with at most ``max_tokens`` tokens each."""
    per_slice = max(1, max_tokens // max(1, length))
    return [slice(start, min(start + per_slice, n_rows)) for start in range(0, n_rows, per_slice)]


def _loader(encoded, y, positions, config: TrainConfig, pad_id: int, shuffle: bool):
    import torch
    from torch.utils.data import DataLoader

    items = [(encoded[i], y[i]) for i in positions]
    # Class positions (long); a target number or, several tags per row, an indicator row (float).
    target_dtype = torch.long if config.task == "classification" and not config.multi_label else torch.float32

    def collate(batch):
        ids, mask = pad_batch([b[0] for b in batch], pad_id)
        return ids, mask, torch.tensor(np.array([b[1] for b in batch]), dtype=target_dtype)

    sampler = LengthGroupedBatches([len(x[0]) for x in items], config.batch_size, config.seed, shuffle)
    return DataLoader(items, batch_sampler=sampler, collate_fn=collate)


def _evaluate(model, loader, accelerator, classification: bool, classes, target_scale) -> dict[str, Any]:
    import torch

    model.eval()
    outputs, targets = [], []
    with torch.inference_mode():
        for input_ids, attention, target in loader:
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
            logits, target = accelerator.gather_for_metrics((logits, target))
            outputs.append(logits.cpu().numpy())
            targets.append(target.cpu().numpy())
    logits = np.concatenate(outputs) if outputs else np.zeros((0, len(classes)))
    target = np.concatenate(targets) if targets else np.zeros(0)
    if len(target) != len(loader.dataset):  # several processes: each row gathered exactly once
        raise RuntimeError(f"Validation gathered {len(target)} rows from the processes; expected {len(loader.dataset)}.")
    if classification and target.ndim == 2:  # several tags per row: the default 0.5 cut while training
        from .multilabel import multilabel_metrics, sigmoid

        result = multilabel_metrics(target, sigmoid(logits) >= 0.5, classes)
        return {k: result[k] for k in ("micro_f1", "macro_f1", "hamming_loss")}
    if classification:
        proba = softmax(logits)
        names = np.asarray(classes, dtype=object)
        result = classification_metrics(names[target.astype(int)], names[proba.argmax(axis=1)], classes, proba)
        return {k: result[k] for k in ("accuracy", "macro_f1", "weighted_f1") if k in result}
    mean, std = target_scale
    return regression_metrics(target * std + mean, logits[:, 0] * std + mean)


class _RowLoss:
    """Per-row losses, and the batch total they are divided by to give the batch mean.

    Cross-entropy (class-weighted: each row's loss times its class weight, normalised by the
    batch's total weight, as torch's weighted mean does) or, for regression, squared error.
    Per-row losses let a batch run in slices (MAX_TOKENS_PER_PASS) with exactly the gradient
    of the whole batch.
    """

    def __init__(self, regression: bool, class_weight: Any = None, pos_weight: Any = None) -> None:
        self.regression, self.class_weight, self.pos_weight = regression, class_weight, pos_weight

    def __call__(self, logits, target):
        import torch

        if target.ndim == 2:  # several tags per row: binary cross-entropy per tag, averaged over the tags
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits, target.float(), pos_weight=self.pos_weight, reduction="none").mean(dim=1)
        if self.regression:
            return torch.nn.functional.mse_loss(logits[:, 0].float(), target.float(), reduction="none")
        return torch.nn.functional.cross_entropy(logits, target, weight=self.class_weight, reduction="none")

    def total_weight(self, target) -> Any:
        if self.class_weight is None or self.regression or target.ndim == 2:
            return float(len(target))
        return self.class_weight[target].sum()


def _loss_fn(config: TrainConfig, train_y: np.ndarray, n_classes: int, device, *, multi_label: bool = False) -> _RowLoss:
    import torch

    if config.task == "regression":
        return _RowLoss(regression=True)
    if multi_label:  # per-tag positive weight (negatives / positives) when class weighting is on
        from .multilabel import pos_weight

        weight = torch.tensor(pos_weight(train_y), device=device) if config.class_weighting else None
        return _RowLoss(regression=False, pos_weight=weight)
    weight = None
    if config.class_weighting:
        counts = np.bincount(train_y.astype(int), minlength=n_classes).astype(float)
        weight = torch.tensor(len(train_y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    return _RowLoss(regression=False, class_weight=weight)


def _param_groups(model, weight_decay: float):
    """Decay weights but not biases or LayerNorm parameters (the usual AdamW practice)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _with_lora(model, config: TrainConfig):
    """Wrap ``model`` in LoRA adapters (peft); the classification head is trained in full.

    Adapters go on every linear layer of the encoder (attention query/key/value/output and
    both feed-forward layers). The head is ``classifier`` (added by peft for SEQ_CLS) plus
    BERT's ``pooler`` where the model has one: the pooler sits between the encoder and the
    classifier, is new (random) in multilingual-e5-small and was never tuned for the task in
    the others, so a low-rank update of it alone starved the head (see LORA_* in core/config.py).
    """
    from peft import LoraConfig, TaskType, get_peft_model

    head = [name for name, _ in model.named_modules() if name.split(".")[-1] == "pooler"][:1]
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=["query", "key", "value", "dense"],
        modules_to_save=[name.split(".")[-1] for name in head] or None,
    )
    return get_peft_model(model, lora)


def is_main_process() -> bool:
    """True in a single process and on rank 0 of ``torchrun``/``accelerate launch`` (their ``RANK``
    environment variable); only that process reports progress and writes the model."""
    return int(os.environ.get("RANK", "0")) == 0


def _accelerator(batch_size: int):
    """The ``Accelerator`` for one training run: one process, or one of the ``WORLD_SIZE`` processes
    started by ``torchrun``/``accelerate launch`` (DistributedDataParallel, NCCL on GPUs, gloo on CPUs).

    ``batch_size`` stays the rows per optimizer step: each of N processes gets ``batch_size / N``
    rows of every batch (``split_batches``), so the steps, learning-rate schedule and evaluations
    are those of one process and the settings mean the same on one machine or eight GPUs.
    Raises ``ValueError`` when ``batch_size`` does not split evenly over the processes.
    """
    import torch
    from accelerate import Accelerator, DataLoaderConfiguration

    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and batch_size % launched:
        raise ValueError(
            f"Each optimizer step's {batch_size} rows are shared out over {launched} processes, so the batch size "
            f"must be a multiple of {launched}; found {batch_size} (try {batch_size + launched - batch_size % launched})."
        )
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(),
        # Without CUDA, accelerate joins the torchrun group (gloo) only when told it runs on CPUs;
        # otherwise every process would train alone on all the rows.
        cpu=launched > 1 and not torch.cuda.is_available(),
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )
    if accelerator.num_processes != launched:
        raise RuntimeError(
            f"{launched} processes were launched (WORLD_SIZE) but accelerate joined {accelerator.num_processes}; "
            "training alone in each would save different models."
        )
    return accelerator


def _any_process(accelerator, flag: bool) -> bool:
    """``flag`` if any process has it set (the same answer in every process)."""
    if accelerator.num_processes == 1:
        return bool(flag)
    import torch

    return bool(accelerator.reduce(torch.tensor([float(flag)], device=accelerator.device), "sum").item() > 0)


def _same_as_main(accelerator, flag: bool) -> bool:
    """Rank 0's ``flag``, in every process."""
    if accelerator.num_processes == 1:
        return bool(flag)
    import torch
    from accelerate.utils import broadcast

    return bool(broadcast(torch.tensor([float(flag)], device=accelerator.device), from_process=0).item() > 0)


def _batch_weight(accelerator, local_weight):
    """What each process divides its summed row losses by so that DDP's mean of the processes'
    gradients is the gradient of the whole batch's (weighted) mean loss: the batch's total weight
    over all processes divided by their number (one process: its own total)."""
    if accelerator.num_processes == 1:
        return local_weight
    import torch

    weight = torch.as_tensor(local_weight, dtype=torch.float32, device=accelerator.device).reshape(1)
    return accelerator.reduce(weight, "sum")[0] / accelerator.num_processes


def _mean_over_processes(accelerator, value: float) -> float:
    """The mean of ``value`` over the processes (with :func:`_batch_weight`, the whole batch's mean loss)."""
    if accelerator.num_processes == 1:
        return value
    import torch

    return float(accelerator.reduce(torch.tensor([value], device=accelerator.device), "mean").item())


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX, read from /proc/cpuinfo;
    False where that file is missing): oneDNN then runs bf16 matrix products at about twice the
    fp32 rate. Without it, bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _cpu_autocast(config: TrainConfig, device_type: str):
    """A context-manager factory for the forward pass: bfloat16 autocast on a CPU with native bf16
    when ``config.precision`` is "auto", else no change (fp32; a GPU run uses accelerate's own
    mixed precision, :func:`_mixed_precision`)."""
    import torch

    if device_type == "cpu" and config.precision == "auto" and cpu_has_bf16():
        return lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _mixed_precision() -> str:
    import torch

    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
