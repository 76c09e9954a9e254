"""Training configuration: one frozen, validated dataclass that is saved with every model."""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass, field
from typing import Any

TASKS = ("classification", "regression")
# "fewshot": SetFit-style contrastive training + logistic-regression head (core/fewshot.py);
# "embedding": the base model's frozen sentence embeddings + logistic regression / ridge (core/embedding.py);
# "auto": few-shot for small labelled sets, full fine-tuning otherwise (fewshot.choose_method).
METHODS = ("full", "lora", "fewshot", "embedding", "auto")
# Learning rates that measured well on this CPU (docs/measurements.md, "Accuracy and training speed"
# and "LoRA against full fine-tuning"); LoRA trains far fewer weights and needs a larger step;
# few-shot uses SetFit's body learning rate.
DEFAULT_LEARNING_RATE = {"full": 1e-4, "lora": 2e-3, "fewshot": 2e-5}
PRECISIONS = ("auto", "fp32")
LABEL_SEPS = ("|", ";", ",", "json")  # how a multi-label cell joins its tags ("json": a JSON list)
LABEL_SEP_NAMES = {"pipe": "|", "semicolon": ";", "comma": ","}


def _setting(default: Any, low: float | None = None, high: float | None = None, *, bounds: str = "[]",
             form: tuple[float, float] | None = None, fine_tuning: bool = True) -> Any:
    """A TrainConfig field with its rule in its metadata, read by the check, the Train form and the CLI.

    ``low``/``high``: the allowed range (None: unbounded on that side); ``bounds``: which ends are
    included, "[]", "(]", "[)" or "()". ``form``: the closed (min, max) a form's number box offers
    (defaults to (low, high); needed where an end is open or unbounded). ``fine_tuning``: how the
    network is fine-tuned, the settings a response comparison passes to its transformer
    (``FINE_TUNING_SETTINGS``).
    """
    metadata: dict[str, Any] = {"fine_tuning": fine_tuning}
    if low is not None or high is not None:
        metadata.update(range=(low, high), bounds=bounds)
    if form is None and (bounds != "[]" or high is None) and low is not None:
        raise TypeError(f"a setting with an open or unbounded end needs its form range; bounds {bounds!r}, high {high}")
    if form or low is not None:
        metadata["form"] = form or (low, high)
    return field(default=default, metadata=metadata)


class ConfigError(ValueError):
    """A training setting with a bad value; ``field`` names it (e.g. "epochs"), so a form can
    show the message next to that widget."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# The training methods in words (the Models page's method column, a skipped candidate's note).
METHOD_NAMES = {"full": "full fine-tuning", "lora": "LoRA adapters", "fewshot": "SetFit-style contrastive tuning + logistic regression",
                "embedding": "frozen embeddings + logistic regression"}

@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained. Bad values raise :class:`ConfigError`
    (a ``ValueError`` that names the field)."""

    text_columns: tuple[str, ...] = ("text",)  # columns whose text the model reads
    label_column: str = "label"  # what the model learns to predict
    profile_columns: tuple[str, ...] = ()  # e.g. age or segment, written into the model input
    split_column: str | None = None  # optional column with train/validation/test per row
    task: str = "classification"  # "classification" (labels) or "regression" (a number)
    base_model: str = "minilm-en"  # catalog name, local HF folder, or hub id
    # "full", "lora" (merged on save), "fewshot", "embedding", or "auto" (chosen from the data)
    method: str = _setting("auto")
    epochs: float = _setting(3.0, 0, 100, bounds="(]", form=(0.1, 100.0))  # passes over the training split (may be fractional)
    # None: the method's default (1e-4 full, 2e-3 LoRA, 2e-5 few-shot)
    learning_rate: float | None = _setting(None, 0, 1, bounds="()", form=(1e-6, 0.5))
    batch_size: int = _setting(32, 1, 4096)  # texts per optimizer step
    max_length: int = _setting(128, 8, 8192)  # tokens kept per text; longer texts are truncated
    warmup_fraction: float = _setting(0.1, 0, 1, bounds="[)", form=(0.0, 0.99))  # share of steps with a linearly rising learning rate
    weight_decay: float = _setting(0.01, 0, 1, bounds="[)", form=(0.0, 0.99))  # AdamW decoupled weight decay
    # Clip the gradient's global L2 norm at this value before each step (transformers.TrainingArguments'
    # max_grad_norm, 1.0 there); None: no clipping.
    max_grad_norm: float | None = _setting(None, 0, None, bounds="(]", form=(0.01, 1000.0))
    # Weight the loss by inverse class frequency (sklearn's "balanced": n / (K * count)), so training
    # aims at macro-F1, the metric every verdict uses. On by default: full fine-tuning on 3 imbalanced
    # clothing classes 0.473 -> 0.648 macro-F1, few-shot on 600 Chinese reviews (70/30) 0.749 -> 0.759
    # (minority recall 0.58 -> 0.78); on balanced classes every weight is 1, so nothing changes
    # (docs/measurements.md, "LoRA against full fine-tuning").
    class_weighting: bool = _setting(True)
    # share of rows held out for early stopping / for the reported metrics
    val_fraction: float = _setting(0.1, 0, 0.5, bounds="()", form=(0.01, 0.49), fine_tuning=False)
    test_fraction: float = _setting(0.2, 0, 0.5, bounds="()", form=(0.01, 0.49), fine_tuning=False)
    # fixes the split, the head's initialisation and the batch order
    seed: int = _setting(42, form=(0, 2**31 - 1), fine_tuning=False)  # any integer; a form offers these
    evals_per_epoch: int = _setting(2, 1, 20)  # validation passes per epoch (points on the live chart)
    # evaluations without improvement before stopping
    early_stopping_patience: int = _setting(3, 1, None, form=(1, 1000))
    # The weights kept: those of the latest evaluation scoring within this of the best so far (macro-F1
    # or R², 0-1 scale); 0 keeps the best-scoring one. Such an evaluation also resets the patience.
    checkpoint_tolerance: float = _setting(0.0, 0, 1, form=(0.0, 1.0))
    # stop training after this long (best model kept)
    max_train_seconds: float | None = _setting(None, 0, None, bounds="(]", form=(1.0, 7 * 24 * 3600.0))
    freeze_embeddings: bool = _setting(False)  # keep word embeddings fixed (large vocabularies)
    # Fine-tuning's arithmetic on a CPU: "auto" runs the forward pass under bfloat16 autocast where
    # the CPU has native bf16 (AVX512-BF16 or AMX: core.training.cpu_has_bf16), fp32 elsewhere;
    # weights, optimizer state, loss, validation and the saved model stay fp32. "fp32" turns it off.
    # Measured in bench/bench_bf16.py (docs/measurements.md, "bf16 autocast for fine-tuning"):
    # faster at the same macro-F1 within noise.
    precision: str = "auto"
    # LoRA rank and scaling, measured with lr 2e-3 (docs/measurements.md, "LoRA against full
    # fine-tuning", issue 13): r=16 matched r=8 on balanced UCI sentences (0.922 vs 0.923) and beat
    # it on the imbalanced clothing classes (0.619 vs 0.585). Alpha 64 (the adapters' output scaled
    # by alpha / r = 4, twice the step of alpha 32), with the LayerNorms trained in full
    # (core.training._with_lora), took LoRA from 4.3-5.4 points behind full fine-tuning to 1.0 behind on
    # average (worst 3.0, four runs) at 1,000 rows, where 3 epochs are only 66 steps (docs/measurements.md,
    # "LoRA defaults at 1,000 rows").
    lora_r: int = _setting(16, 1, 256)  # LoRA rank
    lora_alpha: int = _setting(64, 1, None, form=(1, 1024))  # LoRA scaling (the update is scaled by alpha / r)
    lora_dropout: float = _setting(0.1, 0, 1, bounds="[)", form=(0.0, 0.99))  # dropout on the LoRA path
    # Save TF-IDF + LR instead when the fine-tuned model does not score higher on validation
    # (core.evaluation.choose_saved_model); False always keeps the fine-tuned model.
    choose_simpler: bool = True
    # After choosing, retrain the transformer from the base on train + validation over a whole
    # schedule (core.pipeline._refit_steps; the test split stays held out); TF-IDF, embeddings,
    # the soft vote and few-shot always refit. On by default (round 11): UCI review sentences, 2,000 rows,
    # six seeds, 1,400 held-out rows each, the saved model minus a plain fine-tune on the same rows
    # went from -0.93 points (SE 0.45) without it to +0.27 (SE 0.18) with it (docs/measurements.md
    # "Round 11: the refit over a whole schedule"); the fine-tune on the training rows is saved and
    # usable while it runs.
    refit_on_all_rows: bool = True
    # Labels differing only in case ("positive"/"Positive") are one class, spelled as the most
    # frequent variant; False keeps them apart (invisible characters and spaces are cleaned always).
    merge_label_variants: bool = True
    # Several tags per row (core/multilabel.py): the label column holds tags joined by label_sep
    # ("|", ";", ",") or JSON lists ("json"); None finds the separator in the data. Each tag is learned
    # on its own (a sigmoid per tag, binary cross-entropy) with a threshold per tag chosen on validation.
    multi_label: bool = False
    label_sep: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the model

    def __post_init__(self) -> None:
        # Accept lists from JSON/CLI but store tuples so the config stays hashable-ish and frozen.
        for name in ("text_columns", "profile_columns"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        _check(bool(self.text_columns), "text_columns", self.text_columns, "at least one column")
        _check(bool(self.label_column), "label_column", self.label_column, "a column name")
        _check(
            self.label_column not in self.text_columns,
            "label_column",
            self.label_column,
            "a column that is not also a text column",
        )
        _check(self.task in TASKS, "task", self.task, f"one of {TASKS}")
        _check(self.method in METHODS, "method", self.method, f"one of {METHODS}")
        for spec in dataclasses.fields(self):  # the ranges in the fields' metadata (_setting)
            value = getattr(self, spec.name)
            if "range" in spec.metadata and value is not None:
                _check(_in_range(value, spec.metadata), spec.name, value, range_text(spec.name))
        _check(
            self.val_fraction + self.test_fraction < 0.8,
            "test_fraction",
            self.test_fraction,
            "validation + test fractions below 0.8, so that something is left to train on",
        )
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {PRECISIONS}")
        if self.label_sep is not None:  # the names --label-sep also takes, stored as the character
            object.__setattr__(self, "label_sep", LABEL_SEP_NAMES.get(str(self.label_sep).strip().lower(),
                                                                    str(self.label_sep).strip()))
        # Several characters ("|;", as core.multilabel.detect finds a column joined either way) are read on any of them.
        combined = (isinstance(self.label_sep, str) and self.label_sep != "json" and len(self.label_sep) > 1
                    and len(set(self.label_sep)) == len(self.label_sep) and set(self.label_sep) <= set("|;,"))
        _check(self.label_sep in (None, *LABEL_SEPS) or combined, "label_sep", self.label_sep,
               f"one of {LABEL_SEPS}, several of '|;,' together (e.g. '|;'), or None")
        if self.multi_label:
            _check(self.task == "classification", "task", self.task,
                   "'classification' with several tags per row (multi_label)")
        for name in ("choose_simpler", "refit_on_all_rows", "multi_label"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate training uses: the explicit one or the method's default.

        For "auto" the default is the one of the method training picks (full's until then).
        """
        return self.learning_rate or DEFAULT_LEARNING_RATE.get(self.method, DEFAULT_LEARNING_RATE["full"])

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["text_columns"] = list(self.text_columns)
        data["profile_columns"] = list(self.profile_columns)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. training_config.json or a job's request.json); unknown keys are
        an error, old key names are read as their new ones (:func:`renamed_keys`)."""
        data = renamed_keys(data, "Training settings")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s) {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


# Keys renamed since models and job requests were first saved: old name -> new name. Folders and
# request.json files written before "feature_columns" became "profile_columns" (one term for one
# concept, the one the pages use) still say the old name; the model loader and from_dict read it
# through renamed_keys, so the rest of the code only ever sees the new one.
RENAMED_KEYS = {"feature_columns": "profile_columns"}


def renamed_keys(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of ``data`` with old key names (:data:`RENAMED_KEYS`) replaced by the new ones, in
    place of the old key so the order stays. Raises :class:`ConfigError` starting with ``source``
    (e.g. a file's path) when ``data`` holds both names with different values."""
    def same(a: Any, b: Any) -> bool:  # a tuple from code and a list from JSON say the same
        return (list(a) if isinstance(a, tuple) else a) == (list(b) if isinstance(b, tuple) else b)

    out: dict[str, Any] = {}
    for key, value in data.items():
        new = RENAMED_KEYS.get(key)
        if new is None:
            out[key] = value
        elif new in data and not same(data[new], value):
            raise ConfigError(
                f"{source}: both '{key}' (the old name) and '{new}' are given, with different values "
                f"({value!r} and {data[new]!r}); keep only '{new}'.",
                field=new,
            )
        else:
            out[new] = data.get(new, value)
    return out


FINE_TUNING_SETTINGS = frozenset(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("fine_tuning"))


def default_of(name: str) -> Any:
    """TrainConfig's default for field ``name`` (the CLI's and the Train form's defaults)."""
    return TrainConfig.__dataclass_fields__[name].default


def form_range(name: str) -> tuple[float, float]:
    """The closed (min, max) a form's number box offers for field ``name`` (from its metadata)."""
    return TrainConfig.__dataclass_fields__[name].metadata["form"]


def range_text(name: str) -> str:
    """Field ``name``'s allowed range in words: "in (0, 100]", "at least 1", "above 0"."""
    meta = TrainConfig.__dataclass_fields__[name].metadata
    (low, high), bounds = meta["range"], meta["bounds"]
    if high is None:
        return f"at least {low}" if bounds[0] == "[" else f"above {low}"
    return f"in {bounds[0]}{low}, {high}{bounds[1]}"


def _in_range(value: Any, meta: Any) -> bool:
    (low, high), bounds = meta["range"], meta["bounds"]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:  # NaN
        return False
    above = value >= low if bounds[0] == "[" else value > low
    below = high is None or (value <= high if bounds[1] == "]" else value < high)
    return above and below


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"Setting '{name}' must be {expected}; got {value!r}.", field=name)
