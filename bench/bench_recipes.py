"""The product's default recipe against a plain Hugging Face fine-tune on the same labelled rows.

    python -m bench.bench_recipes --data /work/shared/data/uci_sentiment_labelled_sentences.csv \
        --text-col text --label-col label --train-rows 2000 --test-rows 1000
    python -m bench.bench_recipes --data /work/shared/data/womens_clothing_ecommerce_reviews.csv \
        --text-col text --label-col rating --label-map 1:neg,2:neg,3:neutral,4:pos,5:pos

A stratified sample of ``--train-rows`` labelled rows is all any recipe sees; a disjoint stratified
sample of ``--test-rows`` rows is the hidden test set every recipe is scored on (macro-F1, scikit-
learn). Runs (``--runs``, comma-separated):

- ``plain``: ``transformers.Trainer`` on every training row, no validation, no early stopping
  (3 epochs, lr 1e-4, batch 32, linear decay, the base model's own classification head): what an ML
  engineer writes first, and the bar issue 13 set;
- ``default``: ``core.train`` with every default (it holds 10% out for early stopping and 20% for
  its own test split, and may save TF-IDF when the transformer is not clearly better);
- ``refit``: the default plus ``refit_on_all_rows`` (after the comparison, the transformer is
  retrained on train + validation + test for the steps early stopping chose);
- ``tfidf``: ``core.evaluation``'s TF-IDF + logistic regression (C=1) on every training row.

Accuracy only: the machine may be shared, so no timings are reported. One JSON line per run is
printed and, with ``--name``, appended to bench/results/recipes.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("plain", "default", "refit", "tfidf")


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows, hidden test rows) with columns ``text`` and ``label`` (strings)."""
    df = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    df = pd.DataFrame({"text": df[args.text_col].str.strip(), "label": df[args.label_col].str.strip()})
    if args.label_map:
        df["label"] = df["label"].map(dict(pair.split(":", 1) for pair in args.label_map.split(",")))
    df = df[(df["text"] != "") & df["label"].notna() & (df["label"] != "")]
    df = df.drop_duplicates("text")  # a text in both samples would flatter every run alike
    train, test = train_test_split(df, train_size=args.train_rows, test_size=args.test_rows,
                                   stratify=df["label"], random_state=args.seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def plain_finetune(train: pd.DataFrame, test: pd.DataFrame, base_model: str, seed: int) -> np.ndarray:
    """Predicted labels for ``test`` from a plain ``transformers.Trainer`` run on all of ``train``."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from core.base_models import resolve_base_model

    path = str(resolve_base_model(base_model).location)
    classes = sorted(train["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(classes))

    def encode(frame: pd.DataFrame, labels: bool) -> list[dict]:
        enc = tokenizer(frame["text"].tolist(), truncation=True, max_length=128)
        rows = [{k: enc[k][i] for k in enc} for i in range(len(frame))]
        if labels:
            for row, label in zip(rows, frame["label"]):
                row["labels"] = index[label]
        return rows

    out = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_recipes_plain"
    arguments = TrainingArguments(
        output_dir=str(out), num_train_epochs=3, learning_rate=1e-4, per_device_train_batch_size=32,
        per_device_eval_batch_size=64, save_strategy="no", report_to=[], seed=seed, logging_steps=50,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=encode(train, True),
                      data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()
    logits = trainer.predict(encode(test, False)).predictions
    return np.asarray(classes)[np.asarray(logits).argmax(axis=1)]


def product(train: pd.DataFrame, test: pd.DataFrame, base_model: str, **fields) -> tuple[np.ndarray, dict]:
    """Predicted labels for ``test`` from ``core.train`` with defaults (plus ``fields``)."""
    from core import TrainConfig
    from core import train as core_train

    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model, **fields)
    result = core_train(train, config)
    proba = result.model.predict_proba(test["text"].tolist())
    classes = [str(c) for c in result.model.classes_]
    m = result.metrics
    facts = {"saved_kind": m.get("verdict", {}).get("saved", type(result.model).__name__),
             "method": m.get("method_chosen"), "steps": m.get("steps"), "best_step": m.get("best_step"),
             "own_test_macro_f1": m["model"]["macro_f1"], "split_sizes": m["split_sizes"]}
    return np.asarray(classes)[proba.argmax(axis=1)], facts


def tfidf(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """TF-IDF + LR (the product's baseline features, C=1) fitted on every training row."""
    from core.evaluation import tfidf_estimator

    return tfidf_estimator("classification", 1.0).fit(train["text"], train["label"]).predict(test["text"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT / "sample_data" / "sentiment_reviews_en.csv"))
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--label-map", default=None, help="old:new pairs, e.g. 1:neg,2:neg,3:neutral,4:pos,5:pos")
    ap.add_argument("--train-rows", type=int, default=2000)
    ap.add_argument("--test-rows", type=int, default=1000)
    ap.add_argument("--base-model", default="minilm-en")
    ap.add_argument("--runs", default=",".join(RUNS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    train, test = load(args)
    print(f"{args.data}: {len(train)} training rows, {len(test)} hidden test rows, "
          f"classes {dict(train['label'].value_counts())}", flush=True)
    for run in args.runs.split(","):
        facts: dict = {}
        if run == "plain":
            pred = plain_finetune(train, test, args.base_model, args.seed)
        elif run == "default":
            pred, facts = product(train, test, args.base_model)
        elif run == "refit":
            pred, facts = product(train, test, args.base_model, refit_on_all_rows=True)
        elif run == "tfidf":
            pred = tfidf(train, test)
        else:
            raise SystemExit(f"unknown run {run!r}; expected one of {RUNS}")
        score = f1_score(test["label"], pred, average="macro")
        line = {"name": args.name, "data": Path(args.data).name, "run": run, "train_rows": len(train),
                "test_rows": len(test), "hidden_test_macro_f1": round(float(score), 4),
                "predicted_classes": int(len(set(pred))), **facts, "loadavg_1m": os.getloadavg()[0]}
        print(json.dumps(line), flush=True)
        if args.name:
            (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
            with open(ROOT / "bench" / "results" / "recipes.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
