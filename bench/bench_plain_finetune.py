"""The product's saved model against a plain Hugging Face Trainer fine-tune of the same base model on
the same rows (issue 26: "the final model at least as good as a plain fine-tune ... within 0.5 points").

    OMP_NUM_THREADS=1 nice -n 5 python -m bench.bench_plain_finetune [--rows 2000] [--sets uci emotions]
        [--seeds 0 1] [--out FILE]

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
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

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


def run(name: str, rows: int, seed: int) -> dict:
    file, shape, base_model = SETS[name]
    df = sample(shape(pd.read_csv(DATA / file)), rows, seed)
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model, seed=seed)
    started = time.monotonic()
    metrics = train(df, config).metrics
    product_seconds = time.monotonic() - started
    prepared = with_validation(prepare(df, config), config)
    splits = prepared.splits
    learn = np.sort(np.concatenate([splits["train"], splits["validation"]]))
    test = splits["test"]
    if len(test) != metrics["split_sizes"]["test"]:
        raise RuntimeError(f"split mismatch: {len(test)} test rows here, {metrics['split_sizes']['test']} in the run")
    truth = [str(y) for y in prepared.labels[test]]
    started = time.monotonic()
    predicted = plain_fine_tune(resolve_base_model(base_model).location, prepared.texts_at(learn),
                                [str(y) for y in prepared.labels[learn]], prepared.texts_at(test), seed)
    plain = float(f1_score(truth, predicted, average="macro", labels=sorted(set(truth) | set(predicted))))
    product = float(metrics["model"]["macro_f1"])
    return {"set": name, "rows": len(df), "seed": seed, "test_n": len(test), "learn_n": len(learn),
            "saved_kind": metrics["saved_kind"], "product": round(product, 4), "plain": round(plain, 4),
            "difference_points": round((product - plain) * 100, 2), "product_seconds": round(product_seconds, 1),
            "plain_seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--sets", nargs="+", default=["uci", "emotions"], choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    args = parser.parse_args()
    records = []
    for name in args.sets:
        for seed in args.seeds:
            record = run(name, args.rows, seed)
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
