"""Two lanes for background jobs, so that a job of seconds never waits behind a fine-tune of an hour.

A job's lane is decided once, when it is queued (``core.jobs``), from an estimate of its run time,
and stored in its request.json as ``lane`` and ``estimate_s``:

- **long**: every job that fine-tunes a transformer (Train's full or LoRA fine-tuning, "auto" when
  it picks fine-tuning, a Targeting comparison with the transformer), and any other job whose
  estimate is over :data:`SHORT_LANE_MAX_SECONDS`. A fine-tune is long whatever its estimate: the
  estimate uses idle-machine speeds, and a fine-tune on a busy laptop runs 2-10 times longer
  (1,000 reviews: 13 minutes on the shared 2-core machine, issue 26).
- **short**: everything else estimated under that threshold: a Targeting comparison without the
  transformer (seconds), a few-shot training on small data (about a minute), a handful of
  suggested rewrites of an ad (about a minute and a half for 5).

Each lane has its own lock in the queue folder (:data:`LOCKS`) and runs one job at a time, so at
most two jobs run at once: a 2-core laptop stays usable, and a short job starts while a fine-tune
runs. The short job runs with half the cores' torch threads (:func:`limit_threads`) so that the
fine-tune keeps the rest.

Within a lane the next job is chosen fairly between people (:func:`fair_order`): the oldest job of
the person with the fewest jobs running or already ahead in that lane, so one person's second job
goes behind another person's first. On a laptop everything is one person's: plain first come,
first served.

New kinds of job (a data check, a prediction) add their estimator to :data:`ESTIMATORS`; a kind
without one goes to the long lane.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from . import fewshot
from .config import TrainConfig
from .response import (
    FINE_TUNE_ROWS_PER_SECOND,
    SCORE_ROWS_PER_SECOND,
    estimate_transformer_seconds,
    language_texts,
    mean_tokens,
)

LONG, SHORT = "long", "short"
LANES = (LONG, SHORT)
# The lock each lane's running job holds, in the queue folder. The long lane keeps the name the
# one queue had, so a worker started before the lanes existed and a new long job still exclude
# each other.
LOCKS = {LONG: ".trainer.lock", SHORT: ".short.lock"}
LANE_WORDS = {LONG: "the long-job lane", SHORT: "the short-job lane"}
# Two minutes: a short job waits at most about that long for the short job ahead of it. The
# jobs it admits measured well under it (a profile-only Targeting comparison of 10,000 bank rows:
# 3.4 s; with two text columns, 1,000 rows: 12 s; both at load ~8 on 2 cores), and a few-shot
# run on small data is estimated at about a minute (fewshot.py's table: 47-82 s at load 8-17).
SHORT_LANE_MAX_SECONDS = 120.0

# Measured for the estimates (core/lanes.py's own measurements, the shared 2-core machine at load
# ~8, so they overestimate an idle laptop): a response comparison without the transformer takes
# about 2 s plus 0.1 ms per row of profile columns and 10 ms per row with text columns (TF-IDF
# cross-fitting and the hybrid); loading a base model and the TF-IDF baselines about 10 s.
COMPARISON_BASE_SECONDS = 5.0
COMPARISON_ROW_SECONDS = 1e-4
COMPARISON_TEXT_ROW_SECONDS = 0.01
LOAD_SECONDS = 10.0
# One contrastive few-shot step of 12 texts on minilm-en: 0.42 s of CPU measured (fewshot.py),
# rounded up for the head's fit and the evaluations.
FEWSHOT_STEP_SECONDS = 0.6
# Suggested rewrites with SmolLM2-135M (core/generate.py; bench/bench_generate.py, docs/measurements.md):
# loading the 4-bit file took 20-35 s at load 4-5 (53-78 s at load 11-13), one attempt 3.1-5.6 s
# (about 15 tokens at 3-4 tokens/s, load 11-13), and 1.9-2.7 attempts were made per rewrite kept;
# since near-copies of the base are refused (round 5), 2.8-3.4 attempts per rewrite kept.
GENERATOR_LOAD_SECONDS = 30.0
REWRITE_ATTEMPT_SECONDS = 5.0
ATTEMPTS_PER_REWRITE = 3.0
# The data check (core/check.py): TF-IDF cross-fitting and the near-duplicate search about 5 ms a
# row; the base model's sentence embeddings about 13 ms of CPU a short text more ("about 40 s of CPU
# for 3,000 short texts", ui/check.py), rounded up, plus loading the encoder.
CHECK_BASE_SECONDS = 2.0
CHECK_ROW_SECONDS = 0.005
CHECK_EMBEDDING_ROW_SECONDS = 0.015


@dataclass(frozen=True)
class Estimate:
    """A job's estimated run time in seconds (None: unknown) and whether it fine-tunes a transformer."""

    seconds: float | None
    fine_tunes: bool

    @property
    def lane(self) -> str:
        """:data:`SHORT` for a job that fine-tunes nothing and is estimated under the threshold."""
        if self.fine_tunes or self.seconds is None or self.seconds > SHORT_LANE_MAX_SECONDS:
            return LONG
        return SHORT


def _slowdown(base_model: str | None) -> float:
    """How much slower than minilm-en a base model runs (unknown models: as the slowest known)."""
    speed = FINE_TUNE_ROWS_PER_SECOND.get(base_model or "", min(FINE_TUNE_ROWS_PER_SECOND.values()))
    return FINE_TUNE_ROWS_PER_SECOND["minilm-en"] / speed


def _comparison_seconds(n_rows: int, has_text: bool) -> float:
    per_row = COMPARISON_ROW_SECONDS + (COMPARISON_TEXT_ROW_SECONDS if has_text else 0.0)
    return COMPARISON_BASE_SECONDS + n_rows * per_row


def _estimate_response(request: dict[str, Any], df: pd.DataFrame) -> Estimate:
    from .base_models import training_defaults

    r = request["response"]
    seconds = _comparison_seconds(len(df), bool(r.get("text_columns")))
    if not r.get("include_transformer"):
        return Estimate(seconds, fine_tunes=False)
    base = r.get("base_model") or "minilm-en"
    settings = {**training_defaults(base), **(r.get("transformer_settings") or {})}
    seconds += LOAD_SECONDS + estimate_transformer_seconds(
        len(df), base_model=base, epochs=float(settings.get("epochs", TrainConfig.epochs)),
        max_train_rows=r.get("transformer_max_train_rows"))
    return Estimate(seconds, fine_tunes=True)


def _label_counts(config: dict[str, Any], df: pd.DataFrame) -> tuple[pd.Series, int]:
    """(rows per class, labelled rows), counted as training counts them (core.data.validate_mapping,
    on the raw cells: the rows training drops are few): several tags per row (``multi_label``) count
    rows per tag (core.multilabel.parse_labels with the job's ``label_sep``), never per combination
    of tags ("anger|joy" is no class of its own)."""
    label = config.get("label_column", TrainConfig.label_column)
    if label not in df.columns:
        return pd.Series(dtype=int), 0
    cells = df[label].dropna()
    cells = cells[cells.astype(str).str.strip() != ""]
    if not config.get("multi_label"):
        return cells.astype(str).value_counts(), len(cells)
    from .multilabel import parse_labels

    try:
        lists, _ = parse_labels(cells.tolist(), config.get("label_sep"))
    except ValueError:  # the job will refuse its data: counted as one class per cell
        return cells.astype(str).value_counts(), len(cells)
    return pd.Series([t for tags in lists for t in tags], dtype=object).value_counts(), len(cells)


def _method(config: dict[str, Any], df: pd.DataFrame) -> str:
    """The method a training job runs: "auto" decided as core.pipeline decides it
    (core.fewshot.choose_method on :func:`_label_counts`)."""
    method = config.get("method", "auto")
    if method != "auto":
        return method
    counts, n = _label_counts(config, df)
    if counts.empty:
        return "full"  # the job will fail on its data; the long lane is the safe guess
    return fewshot.choose_method(int(counts.min()), n, task=config.get("task", "classification"),
                                 n_classes=len(counts), tags=bool(config.get("multi_label")))[0]


def _fewshot_seconds(config: dict[str, Any], df: pd.DataFrame) -> float:
    """Few-shot training: a fixed number of contrastive steps per run (one run, or one per
    cross-validation fold plus the final one on small data with one class per row: several tags
    per row are never cross-validated, core.small_data), and every row encoded once per run."""
    counts, n = _label_counts(config, df)
    if counts.empty:
        counts, n = pd.Series([len(df)]), len(df)
    smallest = int(counts.min())
    cv = not config.get("split_column") and not config.get("multi_label") and (
        smallest < fewshot.CV_MIN_PER_CLASS or n < fewshot.CV_MIN_ROWS)
    runs = fewshot.cv_folds(n, smallest) + 1 if cv else 1
    steps = fewshot.CV_STEPS if cv else fewshot.FEWSHOT_STEPS
    per_run = steps * FEWSHOT_STEP_SECONDS + n / SCORE_ROWS_PER_SECOND
    return LOAD_SECONDS + runs * per_run * _slowdown(config.get("base_model"))


def _mean_tokens(config: dict[str, Any], df: pd.DataFrame) -> float | None:
    """The training texts' mean length in tokens (core.response.mean_tokens of the text columns'
    cells joined, core.response.language_texts), or None where there are none to read."""
    texts = language_texts(df, config.get("text_columns") or (), n=1000)
    return mean_tokens(texts, int(config.get("max_length", TrainConfig.max_length))) or None


def _estimate_train(request: dict[str, Any], df: pd.DataFrame) -> Estimate:
    config = request["config"]
    baselines = _comparison_seconds(len(df), True)  # TF-IDF + LR and the majority class on the same split
    if _method(config, df) == "fewshot":
        return Estimate(_fewshot_seconds(config, df) + baselines, fine_tunes=False)
    tuning = estimate_transformer_seconds(
        len(df), base_model=config.get("base_model") or "minilm-en",
        epochs=float(config.get("epochs", TrainConfig.epochs)),
        val_fraction=float(config.get("val_fraction", TrainConfig.val_fraction)),
        test_fraction=float(config.get("test_fraction", TrainConfig.test_fraction)),
        evals_per_epoch=int(config.get("evals_per_epoch", TrainConfig.evals_per_epoch)),
        mean_tokens=_mean_tokens(config, df))
    capped = bool(config.get("max_train_seconds")) and tuning > float(config["max_train_seconds"])
    if capped:
        tuning = float(config["max_train_seconds"])
    if config.get("refit_on_all_rows"):
        # A second run (core.pipeline._refit_steps): a whole schedule on train + validation, longer
        # than the first by the validation rows' share; cut by a time limit, at most the first again.
        val = float(config.get("val_fraction", TrainConfig.val_fraction))
        test = float(config.get("test_fraction", TrainConfig.test_fraction))
        tuning *= 2 if capped else 1 + (1 - test) / max(1 - val - test, 0.05)
    return Estimate(LOAD_SECONDS + tuning + baselines, fine_tunes=True)


def _estimate_rewrite(request: dict[str, Any], df: pd.DataFrame) -> Estimate:
    """Suggested rewrites (core.generate): the generator's load, then about
    :data:`ATTEMPTS_PER_REWRITE` attempts per rewrite kept (the filters drop the rest), each
    :data:`REWRITE_ATTEMPT_SECONDS`; scoring them with the user's model is seconds. It fine-tunes
    nothing, so up to 6 rewrites go to the short lane and 7 or more to the long one."""
    n = int(request["rewrite"].get("n") or 5)
    return Estimate(GENERATOR_LOAD_SECONDS + n * ATTEMPTS_PER_REWRITE * REWRITE_ATTEMPT_SECONDS, fine_tunes=False)


def _estimate_zeroshot(request: dict[str, Any], df: pd.DataFrame) -> Estimate:
    """A zero-shot model (core.zeroshot): the base model's load, then one forward pass per text read
    (at most its MAX_ROWS, already sampled into the job's data) at the scoring speed; no fine-tune."""
    from .zeroshot import MAX_ROWS

    rows = min(len(df), MAX_ROWS)
    return Estimate(LOAD_SECONDS + rows / (SCORE_ROWS_PER_SECOND / _slowdown(request["zeroshot"].get("base_model"))),
                    fine_tunes=False)


def _estimate_check(request: dict[str, Any], df: pd.DataFrame) -> Estimate:
    """The data check (core.check): per row, plus the embeddings when its features use them; it
    fine-tunes nothing, so a check of a few thousand rows goes to the short lane."""
    per_row = CHECK_ROW_SECONDS
    embeds = request["check"].get("features", "tfidf") != "tfidf"
    if embeds:
        per_row += CHECK_EMBEDDING_ROW_SECONDS
    return Estimate(CHECK_BASE_SECONDS + (LOAD_SECONDS if embeds else 0.0) + per_row * len(df), fine_tunes=False)


# kind -> estimator(request, data): add one here for a new kind of job.
ESTIMATORS: dict[str, Callable[[dict[str, Any], pd.DataFrame], Estimate]] = {
    "train": _estimate_train,
    "response": _estimate_response,
    "rewrite": _estimate_rewrite,
    "zeroshot": _estimate_zeroshot,
    "retrain": _estimate_train,  # a challenger is a training run with the model's saved settings
    "check": _estimate_check,
}


def estimate(request: dict[str, Any], df: pd.DataFrame, max_seconds: float | None = None) -> Estimate:
    """The estimated run time of the job ``request`` (request.json's fields, ``kind`` included)
    on the table ``df``, at most ``max_seconds`` (the server's time limit per job: a job stops
    there). A kind without an estimator: unknown, long lane."""
    estimator = ESTIMATORS.get(request.get("kind", "train"))
    if estimator is None:
        return Estimate(None, fine_tunes=True)
    found = estimator(request, df)
    if found.seconds is not None and max_seconds:
        found = Estimate(min(found.seconds, float(max_seconds)), found.fine_tunes)
    return found


def lane_of(request: dict[str, Any]) -> str:
    """The lane of a queued job (request.json); a job queued before lanes existed is long (it
    waits for the lock it always waited for)."""
    lane = request.get("lane")
    return lane if lane in LANES else LONG


def short_lane_threads() -> int:
    """Torch threads for a short job: half the cores (at least 1), leaving the rest to the
    fine-tune that may run in the long lane."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


def limit_threads() -> None:
    """In a short job's worker, before any training: cap torch's threads (core.cpu.cpu_threads
    reads ``OMP_NUM_THREADS`` as its ceiling) at :func:`short_lane_threads`; a lower setting is kept."""
    threads = short_lane_threads()
    try:
        threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    os.environ["OMP_NUM_THREADS"] = str(max(1, threads))


T = TypeVar("T")


def fair_order(jobs: Sequence[T], *, person: Callable[[T], str], running: Callable[[T], bool],
               age: Callable[[T], Any]) -> list[T]:
    """``jobs`` of one lane in the order the lane serves them: the running one(s) first, then, one
    at a time, the oldest waiting job of the person with the fewest jobs running or already placed
    ahead (ties: the oldest job first). ``age`` gives a sortable key, oldest smallest.

    With one person (a laptop) this is oldest first. With people A (jobs at t=1, 2) and B (t=3):
    A1, B3, A2.
    """
    placed = sorted((j for j in jobs if running(j)), key=age)
    count = Counter(person(j) for j in placed)
    waiting = sorted((j for j in jobs if not running(j)), key=age)
    while waiting:
        chosen = waiting.pop(min(range(len(waiting)), key=lambda i: (count[person(waiting[i])], age(waiting[i]))))
        placed.append(chosen)
        count[person(chosen)] += 1
    return placed
