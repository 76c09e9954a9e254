"""The product's saved model against a plain Hugging Face Trainer fine-tune of the same base model on
the same rows (issue 26: "the final model at least as good as a plain fine-tune ... within 0.5 points").

    OMP_NUM_THREADS=1 nice -n 5 python -m bench.bench_plain_finetune [--rows 2000] [--sets uci emotions]
        [--seeds 0 1] [--out FILE] [--config KEY=VALUE ...] [--plain-from FILE] [--trace]

For each set (bench.bench_regret's sets and stratified sample) and seed:

- **product**: ``core.pipeline.train`` with every default (method "auto", the set's base model): the
  model it saves and that model's test macro-F1 (``metrics["model"]``);
- **plain**: what the issue's newcomer ran: ``transformers.Trainer`` on the same base model
  (``AutoModelForSequenceClassification``), 3 epochs, learning rate 1e-4, batch 32, no early
  stopping, trained on the same rows the product learns from (its training + validation split:
  a plain run has no use for validation rows), scored on the product's own test rows.

The split is the product's (core.prepare.prepare + core.training.with_validation with the run's
config), so both are scored on the very same test rows; the bench checks the count against the
saved metrics. Prints one JSON line per run and the mean difference (points). Accuracy does not
depend on the machine's load; the seconds do.

Finding why the two differ (round 9): ``--config KEY=VALUE`` sets TrainConfig fields for the product
run only (e.g. ``refit_on_all_rows=true``, ``precision=fp32``); ``--plain-from FILE`` takes the plain
score of each (set, rows, seed) from an earlier run's JSON lines instead of training it again (it does
not depend on the product's settings, only on the split, so settings that move the split are
refused); ``--trace`` scores the fine-tune on the test rows at each of its validation passes
(``trace``: [step, validation macro-F1, test macro-F1]; diagnosis only, never used to choose) and
records what the loop did (best step, stop reason, refit). ``--unbucketed`` (round 10) draws the product's
batches as the Trainer does (shuffled rows cut in order) instead of grouped by length. Round 10's
``--refit-whole`` (a bench-only swap of the refit's steps for a whole schedule) became the product's
refit in round 11 (core.pipeline._refit_steps) and was removed; its lines carry ``"refit_whole": true``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

import core.pipeline
from bench import load_avg
from bench.bench_bf16 import _random_batches
from bench.bench_regret import DATA, SETS, sample
from core import TrainConfig, train
from core.base_models import resolve_base_model
from core.prepare import prepare
from core.training import with_validation


def plain_fine_tune(base_path: str, texts: list[str], labels: list[str], test_texts: list[str], seed: int) -> list[str]:
    """Predicted labels of ``test_texts`` from a plain Trainer fine-tune (3 epochs, lr 1e-4, batch 32)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=len(classes))

    class Rows(torch.utils.data.Dataset):
        def __init__(self, texts: list[str], targets: list[int] | None) -> None:
            self.encoded = tokenizer(texts, truncation=True, max_length=128)
            self.targets = targets

        def __len__(self) -> int:
            return len(self.encoded["input_ids"])

        def __getitem__(self, i: int) -> dict:
            item = {k: v[i] for k, v in self.encoded.items()}
            if self.targets is not None:
                item["labels"] = self.targets[i]
            return item

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, num_train_epochs=3, learning_rate=1e-4, per_device_train_batch_size=32,
                                 per_device_eval_batch_size=64, save_strategy="no", eval_strategy="no",
                                 report_to=[], seed=seed, use_cpu=True, disable_tqdm=True, logging_strategy="no")
        from transformers import DataCollatorWithPadding

        trainer = Trainer(model=model, args=args, train_dataset=Rows(texts, [index[y] for y in labels]),
                          data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
        logits = trainer.predict(Rows(test_texts, None)).predictions
    return [classes[i] for i in np.asarray(logits).argmax(axis=1)]


class TestTrace:
    """A fit_transformer callback that scores the network on the test rows at each validation pass:
    how the test score moves along the run, against the step early stopping keeps (diagnosis only)."""

    def __init__(self, base_path: str, texts: list[str], truth: list[str], classes: list[str], max_length: int) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        self.texts, self.truth, self.classes, self.max_length = texts, truth, classes, max_length
        self.points: list[list[float]] = []
        self.seconds = 0.0

    def on_evaluate(self, state, loop, event) -> None:
        import torch

        started = time.monotonic()
        model = loop.accelerator.unwrap_model(loop.model)
        model.eval()  # the loop sets train mode again after its callbacks
        predicted = []
        with torch.inference_mode():  # fp32, no dropout, no random draw: training goes on unchanged
            for i in range(0, len(self.texts), 64):
                batch = self.tokenizer(self.texts[i : i + 64], truncation=True, max_length=self.max_length,
                                       padding=True, return_tensors="pt")
                predicted += model(**batch).logits.argmax(dim=1).tolist()
        labels = [self.classes[i] for i in predicted]
        test = f1_score(self.truth, labels, average="macro", labels=sorted(set(self.truth) | set(labels)))
        self.points.append([state.step, round(state.scores[-1][1], 4), round(float(test), 4)])
        self.seconds += time.monotonic() - started


def _traced(trace: TestTrace):
    """core.pipeline's fit_transformer with ``trace`` among its callbacks (the refit runs without
    validation passes, so the trace stays the candidate's)."""
    fit = core.pipeline.fit_transformer

    def wrapped(*args, callbacks=(), **kwargs):
        return fit(*args, callbacks=(*callbacks, trace), **kwargs)

    return fit, wrapped


def rest_of(frame: pd.DataFrame, sampled: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (as bench_regret.sample filters it) outside the sample: more held-out rows
    for both runs, so a 0.5-point difference is not one or two test rows."""
    frame = frame.dropna()
    frame = frame[frame["text"].astype(str).str.strip() != ""]
    frame = frame[frame["label"].isin(sampled["label"].unique())]
    taken = sampled["text"].astype(str).value_counts()
    left = frame.assign(_n=frame.groupby(frame["text"].astype(str)).cumcount())
    left = left[left["_n"] >= left["text"].astype(str).map(taken).fillna(0)]  # a text sampled k times: its first k copies out
    return left.drop(columns="_n").reset_index(drop=True)


def _macro_f1(truth: list[str], predicted: list[str]) -> float:
    return float(f1_score(truth, predicted, average="macro", labels=sorted(set(truth) | set(predicted))))


def run(name: str, rows: int, seed: int, overrides: dict | None = None, plain_cache: dict | None = None,
        trace: bool = False, extra_test: bool = False) -> dict:
    file, shape, base_model = SETS[name]
    frame = shape(pd.read_csv(DATA / file))
    df = sample(frame, rows, seed)
    extra = rest_of(frame, df) if extra_test else None
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model, seed=seed,
                         **(overrides or {}))
    prepared = with_validation(prepare(df, config), config)
    splits = prepared.splits
    learn = np.sort(np.concatenate([splits["train"], splits["validation"]]))
    test = splits["test"]
    truth = [str(y) for y in prepared.labels[test]]
    tracer = TestTrace(resolve_base_model(base_model).location, prepared.texts_at(test), truth,
                       list(prepared.classes), config.max_length) if trace else None
    if tracer is not None:
        original, core.pipeline.fit_transformer = _traced(tracer)
    try:
        started = time.monotonic()
        result = train(df, config)
        metrics = result.metrics
        product_seconds = time.monotonic() - started - (tracer.seconds if tracer else 0.0)
    finally:
        if tracer is not None:
            core.pipeline.fit_transformer = original
    if len(test) != metrics["split_sizes"]["test"]:
        raise RuntimeError(f"split mismatch: {len(test)} test rows here, {metrics['split_sizes']['test']} in the run")
    cached = (plain_cache or {}).get((name, len(df), seed))
    if extra is not None and cached is not None and (cached.get("extra") or {}).get("plain") is None:
        cached = None  # a line without the rows outside the sample: the plain run is needed again
    extra_texts = [] if extra is None else extra["text"].astype(str).tolist()
    if plain_cache is None:  # --no-plain: the product run only (compare with another run's plain lines)
        plain, plain_seconds, plain_extra = float("nan"), None, float("nan")
    elif cached is not None:
        if cached["test_n"] != len(test) or cached["learn_n"] != len(learn):
            raise RuntimeError(f"--plain-from: {name} seed {seed} had {cached['test_n']} test / {cached['learn_n']} "
                               f"learning rows there, {len(test)} / {len(learn)} here")
        plain, plain_seconds = float(cached["plain"]), None
        plain_extra = (cached.get("extra") or {}).get("plain")
    else:
        started = time.monotonic()
        predicted = plain_fine_tune(resolve_base_model(base_model).location, prepared.texts_at(learn),
                                    [str(y) for y in prepared.labels[learn]], prepared.texts_at(test) + extra_texts, seed)
        predicted, plain_extra_predicted = predicted[:len(test)], predicted[len(test):]
        plain = _macro_f1(truth, predicted)
        plain_extra = _macro_f1(extra["label"].astype(str).tolist(), plain_extra_predicted) if extra is not None else None
        plain_seconds = round(time.monotonic() - started, 1)
    product = float(metrics["model"]["macro_f1"])
    fine = metrics["candidates"].get("transformer") or (metrics.get("before_refit") or metrics["model"]
                                                        if metrics["saved_kind"] == "transformer" else None)
    more = {}
    if extra is not None:  # the saved model, its fine-tune and the plain one on the rows outside the sample
        extra_truth = extra["label"].astype(str).tolist()
        tuned = result.model if metrics["saved_kind"] == "transformer" else result.alternatives.get("transformer")
        more = {"extra_n": len(extra),
                "extra": {"product": round(_macro_f1(extra_truth, [str(v) for v in result.model.predict(extra_texts)]), 4),
                          "plain": round(float(plain_extra), 4),
                          "fine_tune": round(_macro_f1(extra_truth, [str(v) for v in tuned.predict(extra_texts)]), 4)
                          if tuned is not None else None}}
        more["extra"]["difference_points"] = round((more["extra"]["product"] - more["extra"]["plain"]) * 100, 2)
    return {"set": name, "rows": len(df), "seed": seed, "test_n": len(test), "learn_n": len(learn), **more,
            "config": overrides or {}, "saved_kind": metrics["saved_kind"], "product": round(product, 4),
            "plain": round(plain, 4), "plain_from": "none" if plain_cache is None else "cache" if cached is not None else "run",
            "difference_points": round((product - plain) * 100, 2),
            "fine_tune_test": round(float(fine["macro_f1"]), 4) if fine else None,
            "validation": {k: round(v, 4) for k, v in metrics["validation"].items()},
            "split_sizes": metrics["split_sizes"], "best_step": metrics["best_step"], "steps": metrics["steps"],
            "total_steps": metrics["total_steps"], "stopped_reason": metrics["stopped_reason"],
            "refit": metrics.get("refit"), "refit_skipped": metrics.get("refit_skipped"),
            **({"trace": tracer.points} if tracer else {}),
            "fine_tune_seconds": metrics.get("train_seconds"), "product_seconds": round(product_seconds, 1),
            "plain_seconds": plain_seconds, "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}


def plain_again(name: str, rows: int, seed: int, plain_seed: int, *, train_only: bool = False,
                extra_test: bool = False) -> dict:
    """The plain fine-tune alone on seed ``seed``'s rows and split, with another training seed
    (``plain_seed``: the head's initialisation and the batch order): how far the plain recipe
    itself moves on the very same rows, the noise any product-minus-plain difference sits in.
    ``train_only``: learn from the product's training split alone (not its validation rows): the
    plain recipe on the rows the product's fine-tune sees, which separates the loop from the rows."""
    file, shape, base_model = SETS[name]
    frame = shape(pd.read_csv(DATA / file))
    df = sample(frame, rows, seed)
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model, seed=seed)
    prepared = with_validation(prepare(df, config), config)
    learn = prepared.splits["train"] if train_only else np.sort(np.concatenate([prepared.splits["train"],
                                                                                prepared.splits["validation"]]))
    test = prepared.splits["test"]
    truth = [str(y) for y in prepared.labels[test]]
    extra = rest_of(frame, df) if extra_test else None
    extra_texts = [] if extra is None else extra["text"].astype(str).tolist()
    started = time.monotonic()
    predicted = plain_fine_tune(resolve_base_model(base_model).location, prepared.texts_at(learn),
                                [str(y) for y in prepared.labels[learn]], prepared.texts_at(test) + extra_texts, plain_seed)
    record = {"set": name, "rows": len(df), "seed": seed, "plain_seed": plain_seed, "test_n": len(test),
              "learn_n": len(learn), "train_only": train_only, "plain": round(_macro_f1(truth, predicted[:len(test)]), 4)}
    if extra is not None:
        record.update(extra_n=len(extra), extra={"plain": round(_macro_f1(extra["label"].astype(str).tolist(),
                                                                          predicted[len(test):]), 4)})
    return {**record, "plain_seconds": round(time.monotonic() - started, 1),
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}


# Settings that move the split: the plain score of another run cannot be reused with them.
SPLIT_SETTINGS = ("val_fraction", "test_fraction", "seed", "split_column", "text_columns", "label_column")


def parse_settings(pairs: list[str]) -> dict:
    """``["precision=fp32", "refit_on_all_rows=true"]`` -> TrainConfig field values, typed like each
    field's default (true/false for flags; a number or "none" where the default is None)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--config takes KEY=VALUE with KEY a TrainConfig field; got {pair!r}")
        default = fields[key].default
        if text.lower() == "none":
            value = None
        elif isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise SystemExit(f"--config {key} takes true or false; got {text!r}")
            value = text.lower() == "true"
        elif default is None or isinstance(default, (int, float)):
            value = float(text) if default is None or isinstance(default, float) else int(text)
        else:
            value = text
        out[key] = value
    TrainConfig(**out)  # a bad value is refused here, before any training, with the field's own message
    return out


def plain_scores(path: str | None, overrides: dict) -> dict:
    """(set, rows, seed) -> an earlier run's record with a plain score, from the JSON lines at ``path``."""
    if path is None:
        return {}
    moved = sorted(set(overrides) & set(SPLIT_SETTINGS))
    if moved:
        raise SystemExit(f"--plain-from cannot be used with {moved}: they change the split the plain run was scored on")
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return {(r["set"], r["rows"], r["seed"]): r for r in records if r.get("plain") is not None and r.get("plain_from", "run") == "run"
            and "plain_seed" not in r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--sets", nargs="+", default=["uci", "emotions"], choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="TrainConfig settings for the product run (e.g. precision=fp32 refit_on_all_rows=true)")
    parser.add_argument("--plain-from", default=None, metavar="FILE",
                        help="take the plain fine-tune's score from an earlier run's JSON lines (same set, rows, seed)")
    parser.add_argument("--trace", action="store_true", help="score the fine-tune on the test rows at each validation pass")
    parser.add_argument("--extra-test", action="store_true",
                        help="also score the saved model, its fine-tune and a plain run (trained again) on the set's rows "
                             "outside the sample")
    parser.add_argument("--plain-train-only", action="store_true",
                        help="with --plain-seed: the plain run learns from the product's training split only")
    parser.add_argument("--no-plain", action="store_true",
                        help="run the product only (its lines carry plain NaN; compare with another run's plain lines)")
    parser.add_argument("--unbucketed", action="store_true",
                        help="product run with random batches (shuffled rows cut in order), as the Trainer draws them")
    parser.add_argument("--plain-seed", type=int, default=None, metavar="N",
                        help="run only the plain fine-tune, on each seed's rows, with training seed N (its own noise)")
    args = parser.parse_args()
    if args.plain_seed is not None:
        for name in args.sets:
            for seed in args.seeds:
                record = {**plain_again(name, args.rows, seed, args.plain_seed, train_only=args.plain_train_only,
                                        extra_test=args.extra_test), "load_after": load_avg()}
                print(json.dumps(record), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
        return
    overrides = parse_settings(args.config)
    cache = None if args.no_plain else plain_scores(args.plain_from, overrides)
    print(f"load before: {load_avg()}", flush=True)
    records = []
    for name in args.sets:
        for seed in args.seeds:
            with _random_batches(args.unbucketed):
                record = run(name, args.rows, seed, overrides, cache, args.trace, args.extra_test)
            record["batches"] = "random" if args.unbucketed else "length-grouped"
            # The effective setting, not only the overrides: its default changed in round 11.
            record["refit_on_all_rows"] = TrainConfig(**overrides).refit_on_all_rows
            record["load_after"] = load_avg()
            records.append(record)
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
    diffs = [r["difference_points"] for r in records]
    print(f"\n{len(records)} runs: product minus plain fine-tune, mean {np.mean(diffs):+.2f} points "
          f"(from {min(diffs):+.2f} to {max(diffs):+.2f})")


if __name__ == "__main__":
    main()
