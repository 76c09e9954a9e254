"""Benchmark: several tags per row, fine-tuned minilm-en (sigmoid head, binary cross-entropy,
per-tag thresholds on validation) against TF-IDF one-vs-rest logistic regression on the same rows.

Data: /work/shared/data/goemotions_ekman_train.csv (GoEmotions, Demszky et al. 2020, train split,
Ekman grouping; Apache-2.0): 43,410 Reddit comments, 7 tags joined by "|" (anger, disgust, fear,
joy, neutral, sadness, surprise), 8.8% of rows with two or more. With seed 0 we draw our own
held-out test rows (``--test-rows``, default 2,000) and, from the rest, ``--rows`` (default 3,000)
rows to learn from; a split column gives 10% of those to validation (early stopping and the
thresholds), the rest to training. Both models see exactly these rows and are scored on the same
held-out test rows.

Run through the product path: ``core.pipeline.train`` with ``multi_label=True``, method "full",
``choose_simpler=False`` (the fine-tuned model's own numbers are reported; the TF-IDF one-vs-rest
model is the run's baseline "tfidf_ovr", fitted on the same training rows, C and thresholds chosen
on the same validation rows).

Reported: micro-F1 (the headline), macro-F1, Hamming loss, subset accuracy on the test rows, the
paired-bootstrap interval of the micro-F1 difference, and wall seconds (the fine-tuning loop:
``train_seconds``; the whole run) with the load average (the machine is shared: no speed claims).

Usage: nice -n 5 .venv/bin/python -m bench.bench_multilabel [--rows 3000] [--test-rows 2000]
       [--epochs 3] [--max-length 64] [--max-train-seconds S] [--no-class-weighting] [--method auto --rule]
``--method auto --rule``: the whole leaderboard with tags (TF-IDF one-vs-rest, frozen embeddings,
few-shot on small data, or the fine-tune) and the rule's choice, each candidate's test micro-F1 recorded.
``--seed N``: another draw of the rows (and training seed 42 + N). ``refit_vs_training_rows``: where
the saved model was refitted on train + validation, it and the copy fitted on the training rows (whose
validation cut-offs it carries) on the same test rows: Hamming loss, micro- and macro-F1, and per tag
the share of test rows given it against the share carrying it, worst first (issue 27, round 8).
Appends one JSON line to bench/results/bench_multilabel.jsonl (``--out`` for another file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_avg  # noqa: E402 - after the path is set, so the file also runs as a script

DATA = Path("/work/shared/data/goemotions_ekman_train.csv")
RESULTS = ROOT / "bench" / "results"
RAW = RESULTS / "bench_multilabel.jsonl"


def rows_for(rows: int, test_rows: int, seed: int = 0) -> pd.DataFrame:
    """The held-out test rows and the rows to learn from, with a ``split`` column."""
    df = pd.read_csv(DATA, keep_default_na=False)
    order = np.random.default_rng(seed).permutation(len(df))
    test, learn = order[:test_rows], order[test_rows : test_rows + rows]
    n_val = rows // 10
    split = ["test"] * len(test) + ["validation"] * n_val + ["train"] * (len(learn) - n_val)
    return df.iloc[np.concatenate([test, learn])].assign(split=split).reset_index(drop=True)


def given_rates(metrics: dict) -> dict:
    """Per tag: the share of test rows given the tag and the share that carry it, worst first (by |given - true|)."""
    n = max(1, int(metrics["n_rows"]))
    rates = {t: {"given": round(v["predicted"] / n, 4), "true": round(v["support"] / n, 4)}
             for t, v in metrics["per_tag"].items()}
    return dict(sorted(rates.items(), key=lambda kv: -abs(kv[1]["given"] - kv[1]["true"])))


def refit_comparison(m: dict) -> dict | None:
    """``metrics["model"]`` (the saved model, refitted) against ``metrics["before_refit"]`` (the copy
    fitted on the training rows, scored on the same test rows); None when the run kept no such pair
    (no refit, or TF-IDF, whose numbers are the training-rows copy's)."""
    if "before_refit" not in m:
        return None
    keys = ("hamming_loss", "micro_f1", "macro_f1")
    out = {}
    for name, metrics in (("refitted", m["model"]), ("training_rows", m["before_refit"])):
        rates = given_rates(metrics)
        out[name] = {**{k: metrics[k] for k in keys}, "worst_3_tags": dict(list(rates.items())[:3]), "per_tag_rate": rates}
    out["refit_minus_training_rows"] = {k: round(out["refitted"][k] - out["training_rows"][k], 4) for k in keys}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--test-rows", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--base-model", default="minilm-en")
    parser.add_argument("--class-weighting", action=argparse.BooleanOptionalAction, default=True,
                        help="per-tag positive weights in the loss (and balanced TF-IDF) - the product default")
    parser.add_argument("--method", default="full", choices=("full", "lora", "fewshot", "embedding", "auto"),
                        help="the fine-tune ('full', as measured first) or 'auto' (few-shot on small data)")
    parser.add_argument("--rule", action="store_true",
                        help="let the choice rule pick among the candidates (choose_simpler=True) instead of "
                             "keeping the requested model; every candidate's test micro-F1 is recorded either way")
    parser.add_argument("--max-train-seconds", type=float, default=None,
                        help="stop fine-tuning after this long (the best validation checkpoint is kept), for a shared machine")
    parser.add_argument("--seed", type=int, default=0,
                        help="the draw of test and learning rows (and the training seed, 42 + this); 0 as measured first")
    parser.add_argument("--out", type=Path, default=RAW, help="the JSON-lines file to append to")
    args = parser.parse_args()
    from core.config import TrainConfig
    from core.pipeline import train

    df = rows_for(args.rows, args.test_rows, args.seed)
    config = TrainConfig(seed=42 + args.seed, text_columns=("text",), label_column="labels", split_column="split", multi_label=True,
                         base_model=args.base_model, method=args.method, epochs=args.epochs, max_length=args.max_length,
                         choose_simpler=args.rule, max_train_seconds=args.max_train_seconds,
                         class_weighting=args.class_weighting)
    load_before, started = load_avg(), time.monotonic()
    result = train(df, config, on_progress=lambda e: e.phase == "evaluate" and print(
        f"[{time.strftime('%H:%M:%S')}] step {e.step}/{e.total_steps} {e.message} (load {load_avg()})",
        file=sys.stderr, flush=True))
    wall = time.monotonic() - started
    m = result.metrics
    keys = ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy")
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": args.rows, "test_rows": args.test_rows,
        "epochs": args.epochs, "max_length": args.max_length, "base_model": args.base_model,
        "class_weighting": args.class_weighting, "max_train_seconds": args.max_train_seconds,
        "split_sizes": m["split_sizes"], "steps": m["steps"], "stopped_reason": m["stopped_reason"],
        # "fine_tuned": the saved model (with --rule, the rule's choice, which need not be the fine-tune).
        "fine_tuned": {k: m["model"][k] for k in keys}, "tfidf_ovr": {k: m["baselines"]["tfidf_ovr"][k] for k in keys},
        "most_common_tag": {k: m["baselines"]["most_common_tag"][k] for k in keys},
        "per_tag_f1": {t: {"fine_tuned": m["model"]["per_tag"][t]["f1"], "tfidf_ovr": m["baselines"]["tfidf_ovr"]["per_tag"][t]["f1"],
                           "support": m["model"]["per_tag"][t]["support"]} for t in m["tags"]},
        "micro_f1_difference": {k: m["verdict"][k] for k in ("delta", "ci", "p_value")},
        "method": args.method, "rule": args.rule, "method_chosen": m.get("method_chosen"), "saved_kind": m["saved_kind"],
        "validation_micro_f1": m["validation"],  # every candidate on the same validation rows (the rule's basis)
        "test_micro_f1": {**{k: v["micro_f1"] for k, v in (m.get("candidates") or {}).items()},
                          m["saved_kind"]: (m.get("before_refit") or m["model"])["micro_f1"]},  # fitted on the training rows
        "saved_test_micro_f1": m["model"]["micro_f1"],  # the saved model (refitted where the run refits)
        # Every candidate's test headline numbers (fitted on the training rows, its own cut-offs on validation),
        # the constant "each tag's most common value" baseline, and the saved model's cut-offs: how many test
        # rows each tag was given (against its support) and the tags it cannot yet tell (core.multilabel.cut_offs).
        "test_candidates": {**{k: {q: v.get(q) for q in keys} for k, v in (m.get("candidates") or {}).items()},
                            m["saved_kind"]: {q: (m.get("before_refit") or m["model"]).get(q) for q in keys}},
        "most_frequent_per_tag": {k: m["baselines"].get("most_frequent_per_tag", {}).get(k) for k in keys},
        "thresholds": m.get("thresholds"), "cannot_tell_yet": m.get("cannot_tell_yet"),
        "thresholds_chosen_on": m.get("thresholds_chosen_on"),
        "per_tag_given": {t: [m["model"]["per_tag"][t]["predicted"], m["model"]["per_tag"][t]["support"]] for t in m["tags"]},
        # Every candidate's test rows given each tag against the tag's test rows (round 8: frequent tags over-given).
        "per_tag_given_by_candidate": {
            k: {t: [v["per_tag"][t]["predicted"], v["per_tag"][t]["support"]] for t in m["tags"]}
            for k, v in {**(m.get("candidates") or {}), m["saved_kind"]: m.get("before_refit") or m["model"]}.items()
            if "per_tag" in v},
        # The saved model (refitted on train + validation where the run refits) against the copy fitted on
        # the training rows, whose per-tag cut-offs they both use (chosen on validation): issue 27.
        "refit_vs_training_rows": refit_comparison(m),
        "refit": m.get("refit"), "refit_skipped": m.get("refit_skipped"),  # what the run says of its refit
        "seed": args.seed,
        "train_seconds": m["train_seconds"], "wall_seconds": round(wall, 1), "load_before": load_before,
        "load_after": load_avg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
