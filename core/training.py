"""Fine-tuning: :func:`fit_transformer` (prepared rows -> :class:`TextClassifier`), one model, nothing else.

A plain training loop (in the spirit of minGPT's trainer) driven by ``accelerate``, so the same
code runs on a CPU, one GPU with bf16/fp16, or several GPUs under ``accelerate launch``/torchrun.
Why not the HF Trainer: we need a progress event per optimizer step, cancellation within one
step, the best weights kept in memory, our own length-grouped batching and callbacks at each
evaluation (a checkpoint, core.checkpoint.LoopCheckpoint; the leaderboard's early stop,
core.pipeline); a 200-line loop is easier to read than the callbacks to bend Trainer.
Scoring, the choice among candidates and saving are core.pipeline's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint as checkpoints
from .base_models import base_model_source, resolve_base_model
from .config import TrainConfig
from .cpu import cpu_threads
from .evaluation import classification_metrics, regression_metrics
from .files import pause_point
from .models.folder import pad_batch, softmax
from .models.transformer import TextClassifier
from .prepare import Prepared
from .progress import Cancel, Events, ProgressCallback, ProgressEvent, TrainingCancelled, cancel_check

# Tokens in one forward/backward pass. Training activations of MiniLM take ~350 KB per token on
# CPU (1.4 GB for a batch of 32 texts of 128 tokens); a longer batch runs as several slices of this many
# tokens whose gradients add up to the whole batch's (the same step, dropout draws aside; lower peak memory).
MAX_TOKENS_PER_PASS = 1024


@dataclass
class LoopState:
    """Where the fine-tuning loop is: what a checkpoint saves and restores, and what callbacks read."""

    started: float  # time.monotonic() when the fit started (moved back by a resumed run's seconds)
    train_started: float  # ... when the loop started
    step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch under way (0-based)
    batch_in_epoch: int = 0  # batches done in it
    best_score: float = -math.inf  # best validation headline so far (macro-F1 or R²)
    best_step: int = 0
    best_state: dict[str, Any] | None = None  # trainable weights at best_step (CPU), None: the current ones
    evals_since_best: int = 0
    stopped_reason: str = "completed"  # "early stopping", "time limit", "behind the leader" (a callback's)
    note: str = ""  # a callback's reason for stopping, in words
    recent_losses: list[float] = field(default_factory=list)
    scores: list[tuple[int, float]] = field(default_factory=list)  # (step, validation score) of each evaluation
    resumed_from: int | None = None
    rng_to_restore: Any = None  # a checkpoint's RNG states, set after the resumed epoch's skipped batches


@dataclass
class Loop:
    """The torch objects of one fit, for the loop and its callbacks."""

    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    total_steps: int  # optimizer steps the schedule plans
    steps_per_epoch: int
    stop_at: int  # the step the loop stops at (total_steps, or a refit's best step)
    eval_every: int  # 0: no evaluation (a refit)
    loss_fn: Any = None  # _RowLoss
    max_grad_norm: float | None = None  # TrainConfig.max_grad_norm

    def trainable(self) -> dict[str, Any]:
        net = self.accelerator.unwrap_model(self.model)
        return {n: p for n, p in net.named_parameters() if p.requires_grad}


def with_validation(prepared: Prepared, config: TrainConfig) -> Prepared:
    """``prepared`` itself, or, for a split without validation rows (a user's split column), a copy
    whose validation split is ``config.val_fraction`` of its training rows (seeded): early
    stopping and the choice among candidates need validation rows."""
    if len(prepared.splits["validation"]):
        return prepared
    train_idx = prepared.splits["train"]
    n_val = max(1, int(len(train_idx) * config.val_fraction))
    chosen = np.random.default_rng(config.seed).permutation(len(train_idx))[:n_val]
    splits = {**prepared.splits, "validation": np.sort(train_idx[chosen]), "train": np.delete(train_idx, chosen)}
    return dataclasses.replace(prepared, splits=splits)


def fit_transformer(
    prepared: Prepared,
    config: TrainConfig,
    events: Events | ProgressCallback | None = None,
    cancel: Cancel = None,
    *,
    checkpoint: str | Path | checkpoints.LoopCheckpoint | None = None,
    deadline: float | None = None,
    steps: tuple[int, int] | None = None,
    callbacks: tuple[Any, ...] = (),
) -> TextClassifier:
    """Fine-tune ``config.base_model`` (``config.method`` "full" or "lora") on ``prepared``'s
    training rows, evaluating on its validation rows (carved out of training by
    :func:`with_validation` when there are none) to keep the best weights; returns the model.

    ``model.metrics`` holds the loop's facts only: ``best_step``, ``steps``, ``total_steps``,
    ``stopped_reason`` ("completed", "early stopping" after ``config.early_stopping_patience``
    evaluations without a better score, "time limit", or a callback's, e.g. "behind the leader"),
    ``stop_note``, ``train_seconds``, ``train_texts_per_second``, ``device``, ``processes``,
    ``base_model_source`` and ``resumed_from_step`` after a resume. Testing and choosing are the
    caller's (core.pipeline).

    ``events``: an :class:`core.progress.Events` (its ``history`` gets every event, a resumed
    run's earlier ones first) or a progress callback. ``steps=(stop_at, schedule_steps)``: the
    refit run (core.pipeline): train on all of ``prepared``'s training rows for ``stop_at``
    steps of a schedule planned for ``schedule_steps``, no evaluation, no checkpoint, no limit.
    ``callbacks``: objects with ``on_start(state, loop, events)`` and/or ``on_evaluate(state,
    loop, event)`` (:class:`LoopState`, :class:`Loop`); one may stop the loop by setting
    ``state.stopped_reason``. ``checkpoint``: a folder (or a :class:`core.checkpoint.LoopCheckpoint`)
    saved at each evaluation and resumed from when it holds one (see that class: the same
    steps and, on a CPU, the same weights as a run never stopped; ``ValueError`` for another
    run's checkpoint). ``deadline``: a ``time.monotonic()`` value where the loop stops as at
    ``config.max_train_seconds`` ("time limit", after at least one step, the best weights kept).
    Raises :class:`TrainingCancelled` when ``cancel`` is set (checked every step).
    """
    import torch
    import transformers

    events, started = Events.of(events), time.monotonic()
    refit = steps is not None
    if not refit:
        prepared = with_validation(prepared, config)
    base = resolve_base_model(config.base_model)
    target_scale = (0.0, 1.0)
    if not prepared.classification:  # standardise so one learning rate suits CTRs and revenues alike
        train_y = prepared.y[prepared.splits["train"]]
        target_scale = (float(train_y.mean()), float(train_y.std() or 1.0))
    accelerator = _accelerator(config.batch_size)
    events.report = events.report and accelerator.is_main_process  # under torchrun only rank 0 reports
    if accelerator.device.type == "cpu":  # the cores, shared by a distributed run's processes
        # Not adapted to the load: a run of minutes to hours outlives the load at its start.
        torch.set_num_threads(cpu_threads(adapt_to_load=False))
    transformers.set_seed(config.seed)
    transformers.logging.set_verbosity_error()  # "newly initialized classifier" is expected
    events.emit(ProgressEvent("prepare", 0, 0, 0.0, elapsed_s=time.monotonic() - started, message=f"Loading {base.name}"))
    tokenizer, model = _network(base, prepared, config)
    encoded = tokenizer(prepared.texts, truncation=True, max_length=config.max_length, padding=False)["input_ids"]
    scaled_y = (prepared.y - target_scale[0]) / target_scale[1] if not prepared.classification else prepared.y
    pad_id = tokenizer.pad_token_id or 0
    train_loader = _loader(encoded, scaled_y, prepared.splits["train"], config, pad_id, shuffle=True)
    sampler = train_loader.batch_sampler  # prepare() wraps it for sharding; set_epoch must reach it
    val_loader = _loader(encoded, scaled_y, prepared.splits["validation"], config, pad_id, shuffle=False)
    # split_batches (see _accelerator): the prepared loader has as many batches as this one, so the
    # steps, the schedule and the evaluation cadence are those of a single process.
    steps_per_epoch = len(train_loader)
    total_steps = steps[1] if refit else planned_steps(len(prepared.splits["train"]), config)
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.effective_learning_rate)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, val_loader, scheduler)
    loop = Loop(accelerator, model, optimizer, scheduler, total_steps, steps_per_epoch,
                min(steps[0], total_steps) if refit else total_steps,
                0 if refit else max(1, steps_per_epoch // config.evals_per_epoch),
                _loss_fn(config, prepared.y[prepared.splits["train"]], len(prepared.classes), accelerator.device,
                         multi_label=prepared.multi_label), config.max_grad_norm)
    hooks = list(callbacks)
    if checkpoint is not None and not refit:  # a refit starts from the base model each time
        saver = checkpoint if isinstance(checkpoint, checkpoints.LoopCheckpoint) else checkpoints.LoopCheckpoint(checkpoint)
        saver.fingerprint = checkpoints.fingerprint(prepared.texts, prepared.y, prepared.splits, config.to_dict())
        hooks.insert(0, saver)  # saved before a callback may stop the loop
    state = LoopState(started=started, train_started=time.monotonic())
    for hook in hooks:
        if hasattr(hook, "on_start"):
            hook.on_start(state, loop, events)
    scorer = _Scorer(val_loader, accelerator, prepared.classification, prepared.classes, target_scale)
    _run_loop(loop, state, events, config, (train_loader, sampler), scorer, hooks, cancel_check(cancel), deadline)
    net = _best_network(loop, state, scorer, config)
    clf = TextClassifier(net, tokenizer, task=prepared.task, classes=prepared.classes, schema=prepared.schema,
                         max_length=config.max_length, target_scale=target_scale,
                         training_config=prepared.training_config(config), base_model=base.name)
    train_seconds = time.monotonic() - state.train_started
    clf.metrics = {
        "best_step": state.best_step, "steps": state.step, "total_steps": total_steps,
        "stopped_reason": "refit" if refit else state.stopped_reason, "stop_note": state.note,
        "train_seconds": round(train_seconds, 2),
        "train_texts_per_second": round(state.step * config.batch_size / max(train_seconds, 1e-9), 2),
        "device": accelerator.device.type, "processes": accelerator.num_processes,
        "base_model_source": base_model_source(base),  # package/version/sha256 of weights+tokenizer
        **({"resumed_from_step": state.resumed_from} if state.resumed_from is not None else {}),
    }
    return clf


def _network(base: Any, prepared: Prepared, config: TrainConfig) -> tuple[Any, Any]:
    """The tokenizer and the sequence-classification network to fine-tune (LoRA-wrapped for "lora")."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.location)
    model = AutoModelForSequenceClassification.from_pretrained(
        base.location,
        num_labels=len(prepared.classes) if prepared.classification else 1,
        id2label=dict(enumerate(prepared.classes)),
        label2id={c: i for i, c in enumerate(prepared.classes)},
        problem_type=("multi_label_classification" if prepared.multi_label else "single_label_classification")
        if prepared.classification else "regression",
        use_safetensors=True if base.is_local else None,
    )
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if config.method == "lora":
        model = _with_lora(model, config)
    return tokenizer, model


@dataclass
class _Scorer:
    """Validation scoring of the network in training: its metrics and headline."""

    loader: Any
    accelerator: Any
    classification: bool
    classes: list[str]
    target_scale: tuple[float, float]

    def __call__(self, model) -> tuple[dict[str, Any], float]:
        val = _evaluate(model, self.loader, self.accelerator, self.classification, self.classes, self.target_scale)
        return val, float(val[_score_key(val, self.classification)])


def _run_loop(loop: Loop, state: LoopState, events: Events, config: TrainConfig, train: tuple[Any, Any],
              scorer: _Scorer, hooks: list[Any], cancelled: Any, deadline: float | None) -> None:
    """Optimizer steps until ``loop.stop_at`` or a stop (patience, time, a callback); one "train"
    event per step and an evaluation every ``loop.eval_every`` steps (:func:`_evaluate_now`)."""
    accelerator, model, (train_loader, sampler) = loop.accelerator, loop.model, train
    loss_fn = loop.loss_fn
    autocast = _cpu_autocast(config, accelerator.device.type)
    timed = bool(config.max_train_seconds) or deadline is not None
    while state.step < loop.stop_at and state.stopped_reason == "completed":
        # The prepared loader sets the sampler's epoch from its own count of passes, which starts
        # at 0 in a resumed run: tell it which epoch this is.
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(state.epoch)
        sampler.set_epoch(state.epoch)
        model.train()
        batches = iter(train_loader)
        for _ in range(state.batch_in_epoch):  # a resumed run: the batches the checkpointed run had done
            next(batches, None)
        if state.rng_to_restore is not None:  # after the skip, so every later random draw is the one it would have been
            checkpoints.set_rng(*state.rng_to_restore)
            state.rng_to_restore = None
        for input_ids, attention, targets in batches:
            pause_point(f"step-{state.step + 1}")
            if _any_process(accelerator, cancelled()):
                raise TrainingCancelled("Training was cancelled; nothing was saved.")
            loss_value = _optimizer_step(loop, loss_fn, autocast, input_ids, attention, targets)
            state.step += 1
            state.batch_in_epoch += 1
            state.recent_losses = (state.recent_losses + [loss_value])[-20:]
            elapsed_train = time.monotonic() - state.train_started
            eta = elapsed_train / state.step * (loop.total_steps - state.step)
            events.emit(ProgressEvent("train", state.step, loop.total_steps, state.step / loop.steps_per_epoch,
                                      float(np.mean(state.recent_losses)), elapsed_s=time.monotonic() - state.started, eta_s=eta))
            if loop.eval_every and (state.step % loop.eval_every == 0 or state.step == loop.total_steps):
                _evaluate_now(loop, state, events, config, scorer, hooks, eta)
            # Every process must stop at the same step (or the others wait forever in the next
            # gradient exchange), so the time limit counts when any process has reached it.
            out_of_time = (bool(config.max_train_seconds) and elapsed_train >= config.max_train_seconds) or (
                deadline is not None and time.monotonic() >= deadline)
            if timed and loop.eval_every and _any_process(accelerator, out_of_time):
                state.stopped_reason = "time limit"
            if state.step >= loop.stop_at or state.stopped_reason != "completed":
                break
        else:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    if state.rng_to_restore is not None:  # resumed after the loop's end (killed while testing or saving)
        checkpoints.set_rng(*state.rng_to_restore)


def _optimizer_step(loop: Loop, loss_fn: Any, autocast: Any, input_ids: Any, attention: Any, targets: Any) -> float:
    """One optimizer step on a batch, run in token slices (MAX_TOKENS_PER_PASS); the batch's mean loss."""
    accelerator, model = loop.accelerator, loop.model
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
    if loop.max_grad_norm:
        accelerator.clip_grad_norm_(model.parameters(), loop.max_grad_norm)
    loop.optimizer.step()
    loop.scheduler.step()
    loop.optimizer.zero_grad(set_to_none=True)
    return _mean_over_processes(accelerator, loss_value)  # the whole batch's mean loss


def _evaluate_now(loop: Loop, state: LoopState, events: Events, config: TrainConfig, scorer: _Scorer,
                  hooks: list[Any], eta: float) -> None:
    """Score the validation rows, keep the best weights, count patience, run the callbacks (a
    checkpoint is on disk before its "evaluate" event is sent), then send the event."""
    val, score = scorer(loop.model)
    state.scores.append((state.step, score))
    if _keeps(score, state.best_score, config):
        state.best_score, state.best_step, state.evals_since_best = max(score, state.best_score), state.step, 0
        state.best_state = {n: p.detach().to("cpu", copy=True) for n, p in loop.trainable().items()}
    else:
        state.evals_since_best += 1
    if state.evals_since_best >= config.early_stopping_patience and state.step < loop.stop_at:
        state.stopped_reason = "early stopping"  # not at the last evaluation: the schedule is complete there
    event = ProgressEvent("evaluate", state.step, loop.total_steps, state.step / loop.steps_per_epoch,
                          float(np.mean(state.recent_losses)), metrics=val, elapsed_s=time.monotonic() - state.started,
                          eta_s=eta, message=f"validation {_score_key(val, scorer.classification).replace('_f1', '-F1').replace('r2', 'R²')} {score:.3f}")
    for hook in hooks:
        if hasattr(hook, "on_evaluate"):
            hook.on_evaluate(state, loop, event)
    if state.note and state.stopped_reason not in ("completed", "early stopping", "time limit"):
        event = dataclasses.replace(event, message=f"{event.message}; {state.note}")
    events.emit(event)
    loop.model.train()


def _keeps(score: float, best_score: float, config: TrainConfig) -> bool:
    """Whether weights scoring ``score`` on validation replace the kept ones: a new best, or a later
    evaluation within ``config.checkpoint_tolerance`` of the best (the schedule's later weights, the
    small gap being the validation rows' noise)."""
    tolerance = config.checkpoint_tolerance
    return score > best_score or (tolerance > 0 and score >= best_score - tolerance - 1e-9)


def _best_network(loop: Loop, state: LoopState, scorer: _Scorer, config: TrainConfig) -> Any:
    """The network with its best validation weights (the current ones when the loop stopped between
    evaluations and they score higher), LoRA merged, in eval mode."""
    import torch

    if loop.eval_every and state.step % loop.eval_every != 0 and state.step != loop.total_steps:
        _, score = scorer(loop.model)  # stopped between evaluations
        if _keeps(score, state.best_score, config) or state.best_state is None:
            state.best_state, state.best_step = None, state.step  # the current weights are the best
    net = loop.accelerator.unwrap_model(loop.model)
    if state.best_state is not None:
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, value in state.best_state.items():
                params[name].copy_(value.to(params[name].device))
    if config.method == "lora":
        net = net.merge_and_unload()  # a plain model that pipeline() and our loader can read
    net.eval()
    return net


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


def _score_key(val: dict[str, Any], classification: bool) -> str:
    """The validation number early stopping follows: micro-F1 with several tags per row, else
    macro-F1 (classification) or R²."""
    return "micro_f1" if "micro_f1" in val else "macro_f1" if classification else "r2"


def _slices(n_rows: int, length: int, max_tokens: int) -> list[slice]:
    """Row slices of a padded (n_rows, length) batch with at most ``max_tokens`` tokens each."""
    per_slice = max(1, max_tokens // max(1, length))
    return [slice(start, min(start + per_slice, n_rows)) for start in range(0, n_rows, per_slice)]


def planned_steps(n_rows: int, config: TrainConfig) -> int:
    """Optimizer steps of a whole fine-tune on ``n_rows`` training rows: ``config.epochs`` passes
    of ``ceil(n_rows / config.batch_size)`` batches (the loader's batches, :class:`LengthGroupedBatches`),
    at least 1."""
    return max(1, math.ceil(config.epochs * math.ceil(n_rows / config.batch_size)))


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
        # How many classes the network gives at all: 1 while it has not started to separate them
        # (core.pipeline.BehindTheLeader does not judge a fine-tune in that state).
        return {**{k: result[k] for k in ("accuracy", "macro_f1", "weighted_f1") if k in result},
                "predicted_classes": int(np.unique(proba.argmax(axis=1)).size)}
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
    """Wrap ``model`` in LoRA adapters (peft); the classification head and every LayerNorm are
    trained in full.

    Adapters go on every linear layer of the encoder (attention query/key/value/output and
    both feed-forward layers). The head is ``classifier`` (added by peft for SEQ_CLS) plus
    BERT's ``pooler`` where the model has one: the pooler sits between the encoder and the
    classifier, is new (random) in multilingual-e5-small and was never tuned for the task in
    the others, so a low-rank update of it alone starved the head (see LORA_* in core/config.py).
    The LayerNorms (found by type, so any encoder's names) add under 0.1% of the weights and let
    each layer rescale and shift its features, which adapters alone reach only slowly at a few
    hundred steps (docs/measurements.md, "LoRA defaults at 1,000 rows"). peft keeps a trained copy
    of each ``modules_to_save`` module and ``merge_and_unload`` puts the copies in place.
    """
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    head = [name for name, _ in model.named_modules() if name.split(".")[-1] == "pooler"][:1]
    norms = sorted({name.split(".")[-1] for name, module in model.named_modules()
                    if isinstance(module, torch.nn.LayerNorm)})
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=["query", "key", "value", "dense"],
        modules_to_save=[name.split(".")[-1] for name in head] + norms or None,
    )
    return get_peft_model(model, lora)


def is_main_process() -> bool:
    """True in a single process and on rank 0 of ``torchrun``/``accelerate launch`` (their ``RANK``
    environment variable); only that process reports progress and writes the model."""
    return int(os.environ.get("RANK", "0")) == 0


def check_batch_split(batch_size: int) -> int:
    """The number of processes launched (``WORLD_SIZE``, 1 without torchrun); raises ``ValueError``
    in words when ``batch_size`` rows per optimizer step do not split evenly over them (checked
    before any candidate runs, so nothing is saved)."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and batch_size % launched:
        raise ValueError(
            f"Each optimizer step's {batch_size} rows are shared out over {launched} processes, so the batch size "
            f"must be a multiple of {launched}; found {batch_size} (try {batch_size + launched - batch_size % launched})."
        )
    return launched


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

    launched = check_batch_split(batch_size)
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
