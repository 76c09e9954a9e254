"""The fast path: int8 dynamic quantization, offered for a model only after it is checked.

Quantizing the Linear layers to int8 makes CPU inference about twice as fast, but it changes
the numbers a little, and for some models (small data, near-tied classes) it changes labels.
So the fast path is offered per model, after a check on that model's own test split
(``test_predictions.csv`` in the folder: the built model input ``text`` and ``true_label``):

- predicted labels of the int8 model agree with the fp32 model on >= 99% of the rows, and
- test accuracy drops by less than 0.5 percentage points.

The result is written to ``fast_path.json`` in the model folder. Saving a model replaces its
whole folder, so a re-trained model never inherits an old check. A check made under another
torch version (other quantized kernels) counts as missing.

ONNX Runtime was not adopted: see bench/bench_predict.py and the report of issue 4.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FAST_PATH_FILE = "fast_path.json"
MIN_AGREEMENT = 0.99  # share of test rows whose int8 label equals the fp32 label
MAX_ACCURACY_DROP = 0.005  # 0.5 percentage points, as a fraction


def check_fast_path(model_folder: str | Path, model: Any | None = None) -> dict[str, Any]:
    """Compare the fp32 and int8 models of ``model_folder`` on its test split; record the result.

    ``model`` may be the already loaded fp32 model of that folder (it is not modified; the
    int8 model is a quantized copy). Returns the record written to ``fast_path.json``::

        {"passed": bool, "reason": str, "n_rows": int, "agreement": float (0-1),
         "accuracy_fp32": float, "accuracy_int8": float, "accuracy_drop_points": float,
         "seconds_fp32": float, "seconds_int8": float, "speedup": float,
         "min_agreement": 0.99, "max_accuracy_drop_points": 0.5,
         "torch_version": str, "checked_at": str}

    A model the check cannot apply to (not a transformer, a regression model, no test split)
    gets ``passed: False`` with the reason; nothing is raised for those.
    """
    import torch

    folder = Path(model_folder)
    record: dict[str, Any] = {
        "passed": False,
        "reason": "",
        "n_rows": 0,
        "min_agreement": MIN_AGREEMENT,
        "max_accuracy_drop_points": MAX_ACCURACY_DROP * 100,
        "torch_version": torch.__version__,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if model is None:
        from .registry import load_folder

        model = load_folder(folder)
    reason = _not_applicable(model, folder)
    if reason:
        record["reason"] = reason
        _write(folder, record)
        return record

    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False, na_values=[""])
    texts = ["" if pd.isna(t) else str(t) for t in test["text"].tolist()]
    truth = np.asarray([str(v) for v in test["true_label"].tolist()], dtype=object)

    fast = quantized_copy(model)
    for m in (model, fast):  # warm up (thread pools, first-call allocations) before timing
        m.predict(texts[:8])
    seconds_fp32, labels_fp32 = _timed_predict(model, texts)
    seconds_int8, labels_int8 = _timed_predict(fast, texts)

    agreement = float(np.mean(labels_fp32 == labels_int8))
    acc_fp32 = float(np.mean(labels_fp32 == truth))
    acc_int8 = float(np.mean(labels_int8 == truth))
    drop = acc_fp32 - acc_int8
    # Rounded before comparing so that exactly 99% or exactly 0.5 points is judged as written,
    # not by the last bit of a float (1 - 0.995 > 0.005 in binary).
    passed = round(agreement, 9) >= MIN_AGREEMENT and round(drop, 9) < MAX_ACCURACY_DROP
    if passed:
        reason = "int8 labels agree with fp32 and accuracy holds on the test split"
    else:
        problems = []
        if round(agreement, 9) < MIN_AGREEMENT:
            problems.append(f"labels agree on {agreement:.1%} of test rows (needs >= {MIN_AGREEMENT:.0%})")
        if round(drop, 9) >= MAX_ACCURACY_DROP:
            problems.append(f"accuracy drops by {drop * 100:.2f} points (needs < {MAX_ACCURACY_DROP * 100:.1f})")
        reason = "; ".join(problems)
    record.update(
        passed=bool(passed),
        reason=reason,
        n_rows=len(texts),
        agreement=round(agreement, 6),
        accuracy_fp32=round(acc_fp32, 6),
        accuracy_int8=round(acc_int8, 6),
        accuracy_drop_points=round(drop * 100, 4),
        seconds_fp32=round(seconds_fp32, 4),
        seconds_int8=round(seconds_int8, 4),
        speedup=round(seconds_fp32 / seconds_int8, 3) if seconds_int8 > 0 else None,
    )
    _write(folder, record)
    return record


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
    return record


def fast_path_allowed(model_folder: str | Path) -> bool:
    """True when the folder's recorded check (current torch version) passed."""
    record = read_fast_path(model_folder)
    return bool(record and record.get("passed") is True)


def quantized_copy(model: Any) -> Any:
    """An int8-quantized copy of a loaded TextClassifier; ``model`` itself stays fp32.

    Copying matters because loaded models are cached and shared between pages/sessions.
    """
    if not hasattr(model, "quantize"):
        raise ValueError(f"The fast path needs a transformer model; this one is {type(model).__name__}.")
    return copy.deepcopy(model).quantize()


def load_fast_model(model_folder: str | Path) -> Any:
    """Load ``model_folder`` and return its int8 model; refuses if the check has not passed."""
    from .registry import load_folder

    if not fast_path_allowed(model_folder):
        raise ValueError(
            f"The fast path is not offered for {Path(model_folder).name}: its int8 check has not passed."
        )
    return load_folder(model_folder).quantize()


# ---------------------------------------------------------------------- helpers


def _not_applicable(model: Any, folder: Path) -> str:
    if not hasattr(model, "quantize"):
        return f"the fast path applies to transformer models only (this is {type(model).__name__})"
    if getattr(model, "task", None) != "classification":
        return "the fast path is checked on labels; it is not offered for regression models"
    path = folder / "test_predictions.csv"
    if not path.is_file():
        return "the model folder has no test_predictions.csv to check the fast path on"
    columns = pd.read_csv(path, nrows=0).columns
    if not {"text", "true_label"} <= set(columns):
        return f"test_predictions.csv lacks 'text'/'true_label' columns (has {list(columns)})"
    if len(pd.read_csv(path, usecols=["text"])) == 0:
        return "the test split is empty"
    return ""


def _timed_predict(model: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    labels = model.predict(texts)
    return time.perf_counter() - started, np.asarray([str(v) for v in labels], dtype=object)


def _write(folder: Path, record: dict[str, Any]) -> None:
    """Write fast_path.json atomically (a reader never sees half a file)."""
    tmp = folder / f".{FAST_PATH_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    tmp.replace(folder / FAST_PATH_FILE)
