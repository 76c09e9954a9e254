"""Accuracy and training speed of the default recipe against the baselines.

    make bench-accuracy                      # the bundled sentiment sample (3,000 rows)
    python -m bench.bench_accuracy --data FILE.csv --text-col text --label-col label [--rows 5000]

Prints model vs majority vs TF-IDF + LR (macro-F1, accuracy), wall time, training texts/s,
mean tokens per text and peak memory (max RSS of this process), plus one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from core import TrainConfig, read_csv, train

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "sentiment_reviews_en.csv"))
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--rows", type=int, default=None, help="stratified sample of this many rows")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--method", default="full")
    parser.add_argument("--base-model", default="minilm-en")
    args = parser.parse_args()

    df = read_csv(args.data)
    df = df[df[args.text_col].notna() & df[args.label_col].notna()]
    if args.rows and args.rows < len(df):
        share = args.rows / len(df)
        df = df.groupby(args.label_col, group_keys=False).sample(frac=share, random_state=0)
    config = TrainConfig(
        text_columns=(args.text_col,), label_column=args.label_col, epochs=args.epochs,
        method=args.method, base_model=args.base_model,
        choose_simpler=False,  # this measures the fine-tuned model, even where TF-IDF ties it
    )
    started = time.monotonic()
    result = train(df, config)
    wall = time.monotonic() - started
    m = result.metrics
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(result.model.tokenizer.name_or_path)
    texts = df[args.text_col].astype(str).tolist()
    mean_tokens = sum(len(t) for t in tokenizer(texts, truncation=True, max_length=config.max_length)["input_ids"]) / len(texts)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()
    rows = [("fine-tuned " + args.base_model, m["model"])] + list(m["baselines"].items())
    print(f"\ndata: {args.data} ({len(df):,} rows; split {m['split_sizes']}), recipe: {config.method}, "
          f"{config.epochs} epochs, lr {config.effective_learning_rate}, batch {config.batch_size}")
    print("| model | macro-F1 | accuracy |\n|---|---|---|")
    for name, values in rows:
        print(f"| {name} | {values['macro_f1']:.3f} | {values['accuracy']:.3f} |")
    print(f"\nwall time {wall:.0f} s (training {m['train_seconds']:.0f} s, stopped: {m['stopped_reason']}); "
          f"training {m['train_texts_per_second']:.1f} texts/s incl. validation; mean {mean_tokens:.1f} tokens/text; "
          f"peak RSS {peak_mb:.0f} MB; load average {load[0]:.2f}")
    print(json.dumps({
        "rows": len(df), "macro_f1": m["model"]["macro_f1"], "tfidf_macro_f1": m["baselines"]["tfidf_lr"]["macro_f1"],
        "majority_macro_f1": m["baselines"]["majority"]["macro_f1"], "wall_s": round(wall, 1),
        "train_texts_per_s": m["train_texts_per_second"], "mean_tokens": round(mean_tokens, 1), "peak_rss_mb": round(peak_mb),
        "loadavg_1m": load[0],
    }))


if __name__ == "__main__":
    main()
