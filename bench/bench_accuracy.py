"""Accuracy and training speed of the default recipe against the baselines.

    make bench-accuracy                      # the bundled sentiment sample (3,000 rows)
    python -m bench.bench_accuracy --data FILE.csv --text-col text --label-col label [--rows 5000]
        [--label-map 1:neg,2:neg,3:neutral,4:pos,5:pos] [--set lora_r=16 --set learning_rate=2e-3]
        [--lora-pooler-frozen] [--name RUN]

``--set`` takes any TrainConfig field (values parsed as JSON, else kept as text); the recipe
comparison in the README (LoRA vs full fine-tuning on the clothing reviews' 3 rating classes)
was made with it. ``--lora-pooler-frozen`` is the ablation of ``core.training._with_lora``'s
fully trained pooler (the recipe before it: LoRA adapters on the pooler, the classifier alone
trained in full). With ``--name`` the JSON line is also appended to bench/results/accuracy.jsonl.

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
    parser.add_argument("--seed", type=int, default=0, help="the row sample's seed (the split's is TrainConfig.seed)")
    parser.add_argument("--label-map", default=None, help="old:new pairs, e.g. 1:neg,2:neg,3:neutral,4:pos,5:pos")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a TrainConfig override")
    parser.add_argument("--lora-pooler-frozen", action="store_true", help="ablation: LoRA without the pooler in the head")
    parser.add_argument("--name", default=None, help="append the JSON line to bench/results/accuracy.jsonl")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    if args.lora_pooler_frozen:
        from peft import LoraConfig, TaskType, get_peft_model

        import core.training as training

        def old_lora(model, config):
            return get_peft_model(model, LoraConfig(
                task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout, target_modules=["query", "key", "value", "dense"]))

        training._with_lora = old_lora

    df = read_csv(args.data)
    df = df[df[args.text_col].notna() & df[args.label_col].notna()]
    if args.label_map:
        mapping = dict(pair.split(":", 1) for pair in args.label_map.split(","))
        df = df.assign(**{args.label_col: df[args.label_col].astype(str).str.strip().map(mapping)})
        df = df[df[args.label_col].notna()]
    if args.rows and args.rows < len(df):
        share = args.rows / len(df)
        df = df.groupby(args.label_col, group_keys=False).sample(frac=share, random_state=args.seed)
    config = TrainConfig(
        text_columns=(args.text_col,), label_column=args.label_col, epochs=args.epochs,
        method=args.method, base_model=args.base_model,
        # this measures the fine-tuned model, even where TF-IDF ties it (unless --set says otherwise)
        **{"choose_simpler": False, **overrides},
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
    per_class = {c: round(v["recall"], 3) for c, v in m["model"].get("per_class", {}).items() if isinstance(v, dict) and "recall" in v}
    line = json.dumps({
        "name": args.name, "data": Path(args.data).name, "label_map": args.label_map, "overrides": overrides,
        "lora_pooler_frozen": args.lora_pooler_frozen, "method": m.get("method_chosen", config.method),
        "learning_rate": config.replace(method=m.get("method_chosen", config.method)).effective_learning_rate,
        "epochs": config.epochs, "test_rows": m["split_sizes"]["test"], "recall_per_class": per_class,
        "steps": m.get("steps"), "best_step": m.get("best_step"),
        "rows": len(df), "macro_f1": m["model"]["macro_f1"], "tfidf_macro_f1": m["baselines"]["tfidf_lr"]["macro_f1"],
        "majority_macro_f1": m["baselines"]["majority"]["macro_f1"], "wall_s": round(wall, 1),
        "train_texts_per_s": m["train_texts_per_second"], "mean_tokens": round(mean_tokens, 1), "peak_rss_mb": round(peak_mb),
        "loadavg_1m": load[0],
    })
    print(line)
    if args.name:
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        with open(ROOT / "bench" / "results" / "accuracy.jsonl", "a", encoding="utf-8") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
