"""The ONNX form of a fine-tuned transformer: ``python -m core export --format onnx [--int8]``.

The network of a saved TextClassifier is exported to ``model.onnx`` in its folder (torch's
TorchScript-based exporter, opset 17, dynamic batch and sequence axes), optionally quantized to
int8 by ONNX Runtime (``model.int8.onnx``: dynamic quantization of the MatMul weights,
``onnxruntime.quantization.quantize_dynamic``). Then it is checked on the model's own test split
with the fast path's rule (core/fastpath.py): labels agree with the fp32 torch model on >= 99% of
the rows and accuracy drops by less than 0.5 points (a multi-label model: each tag's decisions
agree on >= 99% of the rows and micro-F1 drops by less than 0.5 points). The new form is built and
checked in a staging folder: one that fails is refused with the numbers and never replaces the form
checked earlier (``model.onnx`` and ``onnx.json`` stay as they were); one that passes is moved in and
recorded in ``onnx.json``. Speed is measured and recorded (rows/s beside torch fp32 and bf16 in the
same run) but not required to pass: ``python -m core predict --fast`` and ``python -m core serve`` use
the ONNX form only where its recorded rows/s beat the torch form they would use otherwise
(:func:`onnx_or_torch`; a walk measured ONNX at 9.9 rows/s against torch bf16 at 28.2), and say which
form runs and why.

At prediction the ONNX session plugs into TextClassifier's one forward loop (:class:`OrtNetwork`
stands where the torch network stood), so tokenisation, length bucketing, calibration and labels
are the same code whichever form runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .fastpath import MAX_ACCURACY_DROP, MIN_AGREEMENT, judge_form, read_test_split, score, tags_of, timed_predict
from .files import atomic_write
from .models import SavedModel, load_folder
from .models.folder import MANIFEST, read_json
from .registry import KIND_NAMES

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
RECORD_FILE = "onnx.json"
OPSET = 17


class OrtNetwork:
    """An ONNX Runtime session with the two things TextClassifier's forward loop asks of a torch
    network: ``config.num_labels`` and a call ``(input_ids=, attention_mask=) -> .logits``."""

    def __init__(self, path: Path, num_labels: int, problem_type: str | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # problem_type kept: a multi-label head stays sigmoid per tag (TextClassifier.multi_label)
        self.config = SimpleNamespace(num_labels=num_labels, problem_type=problem_type)

    def __call__(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        logits = self.session.run(["logits"], {"input_ids": input_ids.numpy().astype(np.int64),
                                               "attention_mask": attention_mask.numpy().astype(np.int64)})[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))

    def parameters(self):  # the loop reads the device from here: ONNX Runtime runs on the CPU
        import torch

        yield torch.zeros(0)

    def eval(self) -> OrtNetwork:
        return self


def export(folder: str | Path, *, int8: bool = False) -> dict[str, Any]:
    """Export ``folder``'s transformer to ONNX (and int8 when asked), check it, record it.

    Returns the record written to ``onnx.json``::

        {"passed": bool, "file": "model.onnx" | "model.int8.onnx", "reason": str, "n_rows": int,
         "agreement": float, "accuracy_fp32": float, "accuracy_fast": float,
         "accuracy_drop_points": float, "rows_per_s": {"torch_fp32": .., "torch_bf16": .., "onnx": ..},
         "opset": 17, "onnxruntime": version, "exported_at": str}

    Raises ValueError for a model that is not a transformer classifier or has no test split
    (the check needs its rows), and when the exported form fails the check (the numbers in the
    message; a form checked earlier stays in use). The torch model and its folder are otherwise left as they were.
    """
    from .fastpath import not_applicable

    folder = Path(folder)
    model = load_folder(folder)
    kind = read_json(folder / MANIFEST).get("kind")
    if kind != "transformer":  # embeddings, few-shot, zero-shot: their network has no classifier head to export
        raise ValueError(f"ONNX export is for fine-tuned transformers; this model is a {KIND_NAMES.get(kind, kind)} "
                         f"(kind '{kind}'). Score it as it is (`python -m core predict`), or train a fine-tune to export.")
    reason = not_applicable(model, folder)
    if reason or getattr(model, "tokenizer", None) is None:
        raise ValueError(f"ONNX export: {reason or 'this kind of model has no transformer network to export'}.")
    target = folder / (INT8_FILE if int8 else ONNX_FILE)
    staging = Path(tempfile.mkdtemp(prefix=".onnx-new-", dir=folder))  # the new form is checked under here
    try:
        record = _export_and_check(model, folder, staging, target.name, int8)
        if not record["passed"]:
            earlier = read_record(folder)
            kept = (f" The earlier checked form ({earlier['file']}) stays in use." if earlier else "")
            raise ValueError(f"The ONNX form{' (int8)' if int8 else ''} was refused: {record['reason']} on the model's "
                             f"{record['n_rows']:,} test rows. The model is unchanged; use it as it is.{kept}")
        os.replace(staging / target.name, target)  # only a form that passed replaces what was there
        for name in (ONNX_FILE, INT8_FILE):
            if name != target.name:
                (folder / name).unlink(missing_ok=True)  # only the form that was checked stays
        atomic_write(folder / RECORD_FILE, json.dumps(record, indent=2).encode("utf-8"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def _export_and_check(model: Any, folder: Path, staging: Path, name: str, int8: bool) -> dict[str, Any]:
    """Export ``model``'s network under ``staging`` (``name``: model.onnx or model.int8.onnx) and
    check it on ``folder``'s test split; the record (``passed`` True or False)."""
    import onnxruntime

    _export_network(model, staging / ONNX_FILE)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(staging / ONNX_FILE), str(staging / name), weight_type=QuantType.QInt8)
    texts, truth = read_test_split(folder)
    tags = tags_of(model)  # several tags per row: judged per tag decision, micro-F1 (core.fastpath)
    model.predict(texts[:8])
    seconds_fp32, labels_fp32 = timed_predict(model, texts)
    onnx_model = with_onnx(load_folder(folder), staging / name)
    onnx_model.predict(texts[:8])
    seconds_onnx, labels_onnx = timed_predict(onnx_model, texts)
    del onnx_model  # its ONNX Runtime session lets go of the staged file before it is moved
    bf16 = load_folder(folder).quantize("bf16")
    bf16.predict(texts[:8])
    seconds_bf16, _ = timed_predict(bf16, texts)
    judged = judge_form(labels_onnx, labels_fp32, truth, seconds_onnx, seconds_fp32, tags=tags)
    # Speed is reported, not required: the export is for other runtimes as much as for speed.
    problems = [p for p in judged["reason"].split("; ") if p != "passed" and "faster" not in p]
    n = len(texts)
    drop = judged["accuracy_drop_points"]
    return {
        "passed": not problems,
        "file": name,
        "reason": "; ".join(problems) or (
            f"{'each tag' if tags else 'labels'} agree{'s' if tags else ''} with the fp32 model on "
            f"{judged['agreement']:.1%} of {n:,} test rows{' or more' if tags else ''}; "
            + (f"no {'micro-F1' if tags else 'accuracy'} drop" if round(drop, 1) <= 0 else
               f"{'micro-F1' if tags else 'accuracy'} {drop:.1f} points lower")),
        "n_rows": n,
        "measure": "micro_f1" if tags else "accuracy",
        "agreement": judged["agreement"],
        "accuracy_fp32": round(score(labels_fp32, truth, tags), 6),
        "accuracy_fast": judged["accuracy_fast"],
        "accuracy_drop_points": judged["accuracy_drop_points"],
        "rows_per_s": {"torch_fp32": round(n / seconds_fp32, 1), "torch_bf16": round(n / seconds_bf16, 1),
                       "onnx": round(n / seconds_onnx, 1)},
        "min_agreement": MIN_AGREEMENT,
        "max_accuracy_drop_points": MAX_ACCURACY_DROP * 100,
        "opset": OPSET,
        "onnxruntime": onnxruntime.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _export_network(model: Any, path: Path) -> None:
    import torch

    net = model.model.eval()
    sample = model.tokenizer(["a short example", "a somewhat longer example text"], padding=True,
                             return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(net, (sample["input_ids"], sample["attention_mask"]), str(path), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                        "logits": {0: "batch"}}, opset_version=OPSET)


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The folder's passed ONNX record whose file is present, or None."""
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("passed") is not True:
        return None
    if record.get("file") not in (ONNX_FILE, INT8_FILE) or not (folder / record["file"]).is_file():
        return None
    return record


# The torch forms the export measures, as people read them.
TORCH_FORMS = {"torch_fp32": "the full model (torch fp32)", "torch_bf16": "the bf16 fast path (torch)"}


def onnx_or_torch(record: dict[str, Any] | None, torch_form: str, torch_rows_per_s: float | None = None) -> tuple[bool, str]:
    """(use the ONNX form, why in words) for a path that would otherwise run ``torch_form``
    (TORCH_FORMS' key; its speed: ``torch_rows_per_s`` when given, else the export's measurement of it).
    ONNX runs only when its rows/s, measured at export in the same run, beat that form's."""
    if record is None:
        return False, "no checked ONNX form (python -m core export --format onnx makes one)"
    rates = record.get("rows_per_s") or {}
    onnx, other = rates.get("onnx"), torch_rows_per_s if torch_rows_per_s is not None else rates.get(torch_form)
    name = TORCH_FORMS.get(torch_form, torch_form)
    if onnx is None or other is None:
        return False, f"the ONNX form's speed against {name} was not measured at export; export it again to compare"
    said = f"ONNX Runtime scored {onnx:,.1f} rows/s at export, {name} {other:,.1f}"
    if onnx > other:
        return True, f"{said}: ONNX is faster"
    return False, f"{said}: ONNX is not faster, so {name} runs"


def with_onnx(model: SavedModel, path: str | Path) -> SavedModel:
    """``model`` (a loaded TextClassifier) running its network through the ONNX file ``path``;
    it can no longer be saved (as a quantized model cannot)."""
    config = model.model.config
    model.model = OrtNetwork(Path(path), int(config.num_labels), getattr(config, "problem_type", None))
    model.quantized = "onnx"
    return model


def load_onnx(folder: str | Path) -> SavedModel | None:
    """The folder's model in its checked ONNX form, or None when it has none that passed."""
    record = read_record(folder)
    if record is None:
        return None
    return with_onnx(load_folder(folder), Path(folder) / record["file"])
