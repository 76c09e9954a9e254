"""The fast path: a faster CPU form of a model, offered only after it is checked on that model.

Two forms are candidates (core.models.folder.fast_module): int8 dynamic quantization of the Linear
layers, and bfloat16 weights. Both change the numbers a little, and for some models (small
data, near-tied classes) they change labels; how much faster each is depends on the CPU. So
each is checked per model on its own test split (``test_predictions.csv`` in the folder: the
built model input ``text`` and ``true_label``), and a form passes when

- its predicted labels agree with the fp32 model on >= 99% of the rows,
- test accuracy drops by less than 0.5 percentage points, and
- it is at least 1.2x faster than fp32 there (a "fast" path that is not faster is not offered).

For a model with several tags per row (a sigmoid per tag, tags by threshold) the same bars
apply per tag decision: each tag's yes/no agrees with the fp32 model on >= 99% of the test rows
(the worst tag counts, so a rare tag cannot hide behind the easy "no"s of the others), and the
test micro-F1 (scikit-learn's, over the tags of ``true_labels``) drops by less than 0.5 points.

The fastest passing form is offered. Measured on the default model (bench/bench_predict.py):
int8 was ~2x faster but agreed on only 98.0-98.7% of labels, so it failed; bf16 agreed on 100%
at 1.7-1.8x on this machine's CPU (it has AVX512-BF16).

The result is written to ``fast_path.json`` in the model folder. Saving a model replaces its
whole folder, so a re-trained model never inherits an old check. A check made under another
torch version (other kernels) counts as missing.

ONNX Runtime was not adopted: see bench/bench_predict.py and the report of issue 4.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .files import atomic_write
from .models import FastModel, SavedModel, load_folder
from .models.folder import FAST_METHODS, TEST_PREDICTIONS

FAST_PATH_FILE = "fast_path.json"
MIN_AGREEMENT = 0.99  # share of test rows whose fast label equals the fp32 label
MAX_ACCURACY_DROP = 0.005  # 0.5 percentage points, as a fraction
MIN_SPEEDUP = 1.2  # on the test split, against fp32


def check_fast_path(model_folder: str | Path, model: SavedModel | None = None) -> dict[str, Any]:
    """Compare each fast form with the fp32 model of ``model_folder`` on its test split; record it.

    ``model`` may be the already loaded fp32 model of that folder (it is not modified; each
    fast form is made from a copy). Returns the record written to ``fast_path.json``::

        {"passed": bool, "method": "int8" | "bf16" | None (the form offered), "reason": str,
         "n_rows": int, "measure": "accuracy" | "micro_f1" (multi-label: accuracy_* hold micro-F1,
         agreement the worst tag's, agreement_per_tag each tag's), "accuracy_fp32": float, "seconds_fp32": float,
         # the offered form's numbers (or, when none passed, the fastest form's):
         "agreement": float (0-1), "accuracy_fast": float, "accuracy_drop_points": float,
         "seconds_fast": float, "speedup": float,
         "candidates": {"int8": {...same keys, "passed", "reason"}, "bf16": {...}},
         "min_agreement": 0.99, "max_accuracy_drop_points": 0.5, "min_speedup": 1.2,
         "torch_version": str, "checked_at": str}

    A multi-label model is judged per tag decision (module docstring).
    A model the check cannot apply to (not a transformer, a regression model, no test split)
    gets ``passed: False`` with the reason; nothing is raised for those.
    """
    import torch

    folder = Path(model_folder)
    record: dict[str, Any] = {
        "passed": False,
        "method": None,
        "reason": "",
        "n_rows": 0,
        "min_agreement": MIN_AGREEMENT,
        "max_accuracy_drop_points": MAX_ACCURACY_DROP * 100,
        "min_speedup": MIN_SPEEDUP,
        "torch_version": torch.__version__,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if model is None:
        model = load_folder(folder)
    reason = not_applicable(model, folder)
    if reason:
        record["reason"] = reason
        atomic_write(folder / FAST_PATH_FILE, json.dumps(record, indent=2).encode("utf-8"))
        return record

    texts, truth = read_test_split(folder)
    tags = tags_of(model)

    model.predict(texts[:8])  # warm up (thread pools, first-call allocations) before timing
    seconds_fp32, labels_fp32 = timed_predict(model, texts)
    acc_fp32 = score(labels_fp32, truth, tags)
    candidates = {}
    for method in FAST_METHODS:
        fast = quantized_copy(model, method)
        fast.predict(texts[:8])
        seconds, labels = timed_predict(fast, texts)
        candidates[method] = judge_form(labels, labels_fp32, truth, seconds, seconds_fp32, tags=tags)
        del fast

    passing = [m for m in FAST_METHODS if candidates[m]["passed"]]
    best = max(passing or FAST_METHODS, key=lambda m: candidates[m]["speedup"] or 0)
    chosen = candidates[best]
    if passing:
        what = "each tag's decisions agree" if tags else "labels agree"
        reason = (f"{best}: {what} with fp32 on {chosen['agreement']:.1%} of test rows or more, "
                  f"{'micro-F1' if tags else 'accuracy'} holds, {chosen['speedup']:.1f}x faster")
    else:
        reason = "; ".join(f"{m}: {candidates[m]['reason']}" for m in FAST_METHODS)
    record.update(
        passed=bool(passing),
        method=best if passing else None,
        reason=reason,
        n_rows=len(texts),
        measure="micro_f1" if tags else "accuracy",
        accuracy_fp32=round(acc_fp32, 6),
        seconds_fp32=round(seconds_fp32, 4),
        **{k: v for k, v in chosen.items() if k not in ("passed", "reason")},
        candidates=candidates,
    )
    atomic_write(folder / FAST_PATH_FILE, json.dumps(record, indent=2).encode("utf-8"))
    return record


def judge_form(labels: np.ndarray, labels_fp32: np.ndarray, truth: np.ndarray, seconds: float,
               seconds_fp32: float, *, tags: list[str] | None = None) -> dict[str, Any]:
    """One fast form's numbers against fp32, and whether they pass the three bars.

    ``labels``/``labels_fp32``/``truth``: one label per test row; with ``tags`` (a multi-label
    model's tags) each is a row's tags joined by "|", ``agreement`` is the lowest share of rows on
    which one tag's decision agrees (``agreement_per_tag`` gives each) and ``accuracy_*`` is
    micro-F1 (scikit-learn) instead of accuracy."""
    if tags:
        fast, full = decisions(labels, tags), decisions(labels_fp32, tags)
        per_tag = (fast == full).mean(axis=0) if len(fast) else np.ones(len(tags))
        worst = int(np.argmin(per_tag))
        agreement = float(per_tag[worst])
        agree_words = f"tag '{tags[worst]}' decisions agree on {agreement:.1%} of test rows (needs >= " \
                      f"{MIN_AGREEMENT:.0%} for every tag)"
        measure = "micro-F1"
    else:
        agreement = float(np.mean(labels == labels_fp32))
        agree_words = f"labels agree on {agreement:.1%} of test rows (needs >= {MIN_AGREEMENT:.0%})"
        measure = "accuracy"
    score_fast = score(labels, truth, tags)
    drop = score(labels_fp32, truth, tags) - score_fast
    speedup = seconds_fp32 / seconds if seconds > 0 else None
    # Rounded before comparing so that exactly 99% or exactly 0.5 points is judged as written,
    # not by the last bit of a float (1 - 0.995 > 0.005 in binary).
    problems = []
    if round(agreement, 9) < MIN_AGREEMENT:
        problems.append(agree_words)
    if round(drop, 9) >= MAX_ACCURACY_DROP:
        problems.append(f"{measure} drops by {drop * 100:.2f} points (needs < {MAX_ACCURACY_DROP * 100:.1f})")
    if speedup is not None and round(speedup, 9) < MIN_SPEEDUP:
        problems.append(f"only {speedup:.2f}x faster (needs >= {MIN_SPEEDUP}x)")
    judged = {
        "passed": not problems,
        "reason": "; ".join(problems) or "passed",
        "agreement": round(agreement, 6),
        "accuracy_fast": round(score_fast, 6),
        "accuracy_drop_points": round(drop * 100, 4),
        "seconds_fast": round(seconds, 4),
        "speedup": round(speedup, 3) if speedup is not None else None,
    }
    if tags:
        judged["agreement_per_tag"] = {t: round(float(a), 6) for t, a in zip(tags, per_tag)}
    return judged


def tags_of(model: SavedModel) -> list[str] | None:
    """A multi-label model's tags (the order of its ``p_<tag>`` columns); None for one label per row."""
    return [str(c) for c in model.classes_] if getattr(model, "multi_label", False) else None


def decisions(labels: np.ndarray, tags: list[str]) -> np.ndarray:
    """(n, k) bool: row i carries tag j, from labels joined by "|" (the model's ``predict``)."""
    from .multilabel import OUTPUT_SEP

    index = {t: j for j, t in enumerate(tags)}
    out = np.zeros((len(labels), len(tags)), dtype=bool)
    for i, value in enumerate(labels):
        for tag in ("" if pd.isna(value) else str(value)).split(OUTPUT_SEP):
            if tag in index:
                out[i, index[tag]] = True
    return out


def score(labels: np.ndarray, truth: np.ndarray, tags: list[str] | None = None) -> float:
    """Accuracy of ``labels`` against ``truth``; with ``tags``, scikit-learn's micro-F1 over the tag
    decisions (0 where neither side has a tag, as scikit-learn's zero_division=0)."""
    if not tags:
        return float(np.mean(labels == truth))
    from sklearn.metrics import f1_score

    return float(f1_score(decisions(truth, tags), decisions(labels, tags), average="micro", zero_division=0))


def read_test_split(folder: Path) -> tuple[list[str], np.ndarray]:
    """(texts, truth) of the folder's test_predictions.csv: ``true_label`` per row, or for a
    multi-label model ``true_labels`` (tags joined by "|", "" for none)."""
    test = pd.read_csv(folder / TEST_PREDICTIONS, keep_default_na=False, na_values=[""])
    texts = ["" if pd.isna(t) else str(t) for t in test["text"].tolist()]
    column = "true_label" if "true_label" in test.columns else "true_labels"
    return texts, np.asarray(["" if pd.isna(v) else str(v) for v in test[column].tolist()], dtype=object)


def read_fast_path(model_folder: str | Path) -> dict[str, Any] | None:
    """The recorded check of ``model_folder``, or None if there is none for this torch version."""
    import torch

    path = Path(model_folder) / FAST_PATH_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None  # a damaged record is as good as none: the check runs again
    if not isinstance(record, dict) or record.get("torch_version") != torch.__version__:
        return None
    if "candidates" not in record:  # a record from before bf16 was a candidate: check again
        return None
    return record


def fast_path_allowed(model_folder: str | Path) -> bool:
    """True when the folder's recorded check (current torch version) passed."""
    return _offered(read_fast_path(model_folder))


def _offered(record: dict[str, Any] | None) -> bool:
    return bool(record and record.get("passed") is True and record.get("method") in FAST_METHODS)


FAST_NAMES = {"int8": "int8 quantized", "bf16": "bfloat16 weights"}


def describe_check(record: dict[str, Any]) -> str:
    """What a recorded check found, in plain words for the Predict page (one or two sentences).

    ``record`` is what :func:`check_fast_path` returns. Says the offered form, its speed-up,
    label agreement and accuracy on the test split; or, when none is offered, why not, per form.
    """
    n = record.get("n_rows") or 0
    tagged = record.get("measure") == "micro_f1"  # several tags per row: decisions per tag, micro-F1
    measure = "micro-F1" if tagged else "accuracy"
    if _offered(record):
        name = FAST_NAMES.get(record["method"], record["method"])
        same = (f"each tag's decision is the same on at least {record.get('agreement', 0):.1%} of them" if tagged
                else f"it gives the same label on {record.get('agreement', 0):.1%} of them")
        return (
            f"A fast form is offered: {name}, {record.get('speedup') or 0:.1f}x faster than the full model on its "
            f"{n:,} test rows; {same}, and {measure} "
            f"goes from {record.get('accuracy_fp32', 0):.1%} to {record.get('accuracy_fast', 0):.1%}."
        )
    candidates = record.get("candidates") or {}
    if not candidates:
        return f"No fast form is offered: {record.get('reason') or 'the check did not run'}."
    parts = []
    for method, form in candidates.items():
        problems = []
        if round(form.get("agreement", 0), 9) < MIN_AGREEMENT:
            what = "of one tag's decisions" if tagged else "of the labels"
            problems.append(f"changed {1 - form.get('agreement', 0):.1%} {what} (at most "
                            f"{1 - MIN_AGREEMENT:.0%} allowed)")
        if round(form.get("accuracy_drop_points", 0), 9) >= MAX_ACCURACY_DROP * 100:
            problems.append(f"lost {form['accuracy_drop_points']:.1f} {measure} points (less than "
                            f"{MAX_ACCURACY_DROP * 100:.1f} allowed)")
        speedup = form.get("speedup")
        if speedup is not None and round(speedup, 9) < MIN_SPEEDUP:
            problems.append(f"was only {speedup:.1f}x as fast (at least {MIN_SPEEDUP}x needed)")
        parts.append(f"{FAST_NAMES.get(method, method)} {' and '.join(problems) or 'did not pass'}")
    return f"No fast form is offered: on the {n:,} test rows, " + "; ".join(parts) + ". The full model is used."


def quantized_copy(model: SavedModel, method: str = "int8") -> FastModel:
    """A copy of a loaded TextClassifier in its fast form ``method``; ``model`` itself stays fp32.

    Copying matters because loaded models are cached and shared between pages/sessions.
    """
    if not model.fast_forms:
        raise ValueError(f"The fast path needs a transformer model; this one is {type(model).__name__}.")
    return copy.deepcopy(model).quantize(method)


def load_fast_model(model_folder: str | Path) -> FastModel:
    """Load ``model_folder`` in the fast form its check chose; refuses if no form passed."""
    record = read_fast_path(model_folder)
    if not _offered(record):
        raise ValueError(f"The fast path is not offered for {Path(model_folder).name}: its check has not passed.")
    return load_folder(model_folder).quantize(record["method"])


# ---------------------------------------------------------------------- helpers


def not_applicable(model: SavedModel, folder: Path) -> str:
    if not model.fast_forms:
        return f"the fast path applies to transformer models only (this is {type(model).__name__})"
    if model.task != "classification":
        return "the fast path is checked on labels; it is not offered for regression models"
    path = folder / TEST_PREDICTIONS
    if not path.is_file():
        return "the model folder has no test_predictions.csv to check the fast path on"
    columns = pd.read_csv(path, nrows=0).columns
    truth = "true_labels" if getattr(model, "multi_label", False) else "true_label"
    if not {"text", truth} <= set(columns):
        return f"test_predictions.csv lacks 'text'/'{truth}' columns (has {list(columns)})"
    if len(pd.read_csv(path, usecols=["text"])) == 0:
        return "the test split is empty"
    return ""


def timed_predict(model: SavedModel, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    labels = model.predict(texts)
    return time.perf_counter() - started, np.asarray([str(v) for v in labels], dtype=object)

