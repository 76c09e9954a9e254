"""Benchmark: few-shot training vs plain fine-tuning vs TF-IDF + LR with few labelled rows.

Data: sample_data/sentiment_reviews_en.csv (UCI Sentiment Labelled Sentences, CC BY 4.0; 3,000
review sentences, positive/negative). A fixed, stratified held-out set of 600 rows (300 per
class, seed 0) is the test set of every run; the training rows are drawn from the other 2,400:
8, 16, 32 and 64 rows per class, one draw per seed (seeds 0, 1, 2).

Methods (base model minilm-en = all-MiniLM-L6-v2 for all transformer methods):
- fewshot: ``core.fewshot.train_fewshot`` (the product's few-shot method, default settings),
  trained on the drawn rows, scored on the 600 (a split column, so no cross-validation here);
- full: ``core.pipeline.train(method="full")`` with the product defaults (3 epochs, batch 32,
  lr 1e-4, validation carved from the drawn rows, best checkpoint kept);
- tfidf: the product's TF-IDF + logistic-regression baseline (C=1, balanced classes: what the
  app shows when there is no validation split to tune C on);
- frozen (optional): the base model's mean-pooled embeddings + the same logistic-regression
  head, no contrastive stage (what the contrastive stage adds);
- setfit (optional): SetFit's default recipe re-implemented here as a reference (the package
  is not installed): all unique pairs, the rarer kind (positive/negative) oversampled,
  batches of 16 pairs, 1 epoch, lr 2e-5 with 10 % warm-up, CosineSimilarityLoss, then a
  logistic-regression head. Its cost grows with the square of the rows per class.

Reported: macro-F1 on the 600 rows (mean, sample std and min-max over seeds) and training
seconds (the contrastive stage + head, or the fine-tuning loop; model loading and scoring
excluded). The machine is shared: the load average is recorded with every run.

``--timing`` instead runs the product path end to end, ``core.train(method="auto")`` on 8 rows
per class x 3 classes (the ``source`` column: amazon / imdb / yelp) with cross-validation, and
reports its wall time (what a user waits for).

Usage: .venv/bin/python -m bench.bench_fewshot [--sizes 8,16,32,64] [--seeds 0,1,2]
       [--methods fewshot,full,tfidf] [--timing] [--fresh]
Raw runs are appended to bench/results/bench_fewshot.jsonl (a rerun skips runs already there);
the table goes to bench/results/bench_fewshot.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_avg  # noqa: E402 - after the path is set, so the file also runs as a script

DATA = ROOT / "sample_data" / "sentiment_reviews_en.csv"
RESULTS = ROOT / "bench" / "results"
RAW = RESULTS / "bench_fewshot.jsonl"
TABLE = RESULTS / "bench_fewshot.md"
TEST_ROWS = 600


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message} (load {load_avg()})", file=sys.stderr, flush=True)


def split_data(df: pd.DataFrame, label: str = "label") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pool, test): a fixed stratified test set of TEST_ROWS rows and the rest."""
    rng = np.random.default_rng(0)
    classes = sorted(df[label].unique())
    per_class = TEST_ROWS // len(classes)
    test_idx = np.concatenate([rng.permutation(np.flatnonzero(df[label] == c))[:per_class] for c in classes])
    test = df.iloc[np.sort(test_idx)]
    return df.drop(index=test.index), test


def draw(pool: pd.DataFrame, per_class: int, seed: int, label: str = "label") -> pd.DataFrame:
    rng = np.random.default_rng(1000 + seed)
    parts = [pool[pool[label] == c] for c in sorted(pool[label].unique())]
    return pd.concat([p.iloc[np.sort(rng.choice(len(p), per_class, replace=False))] for p in parts])


def with_split(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)


def macro_f1(true, pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score([str(v) for v in true], [str(v) for v in pred], average="macro"))


# --------------------------------------------------------------------------- methods


FEWSHOT_OVERRIDES: dict = {}  # --steps / --lr / --texts-per-step, for calibration runs


def run_fewshot(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    import core.fewshot as fewshot
    from core import TrainConfig
    from core.fewshot import train_fewshot

    if "frozen_layers" in FEWSHOT_OVERRIDES:
        fewshot.FROZEN_LAYERS = FEWSHOT_OVERRIDES["frozen_layers"]
    config = TrainConfig(
        method="fewshot",
        split_column="split",
        seed=seed,
        learning_rate=FEWSHOT_OVERRIDES.get("lr"),
        **({"freeze_embeddings": FEWSHOT_OVERRIDES["freeze"]} if "freeze" in FEWSHOT_OVERRIDES else {}),
    )
    result = train_fewshot(
        with_split(train, test),
        config,
        steps=FEWSHOT_OVERRIDES.get("steps"),
        texts_per_step=FEWSHOT_OVERRIDES.get("texts_per_step"),
    )
    return {"macro_f1": result.metrics["model"]["macro_f1"], "train_seconds": result.metrics["train_seconds"]}


def run_full(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    from core import TrainConfig
    from core import train as train_model

    config = TrainConfig(method="full", split_column="split", seed=seed, choose_simpler=False)  # the fine-tune itself
    result = train_model(with_split(train, test), config)
    return {"macro_f1": result.metrics["model"]["macro_f1"], "train_seconds": result.metrics["train_seconds"]}


def run_tfidf(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    from core import baseline_metrics

    started = time.monotonic()
    classes = sorted(train["label"].astype(str).unique())
    scores = baseline_metrics(
        "classification", train["text"].tolist(), train["label"].astype(str), [], [],
        test["text"].tolist(), test["label"].astype(str), classes,
    )
    return {"macro_f1": scores["tfidf_lr"]["macro_f1"], "train_seconds": round(time.monotonic() - started, 2)}


class Encoder:
    """The base model, loaded once; ``fresh()`` gives an untouched copy for each run."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from core.base_models import resolve_base_model
        from core.cpu import cpu_threads

        torch.set_num_threads(cpu_threads())
        location = resolve_base_model("minilm-en").location
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        self.body = AutoModel.from_pretrained(location, use_safetensors=True)

    def fresh(self):
        return copy.deepcopy(self.body)


_ENCODER: Encoder | None = None


def encoder() -> Encoder:
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = Encoder()
    return _ENCODER


def _head_score(body, tokenizer, train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """(macro-F1 on test, seconds to embed the training rows and fit the head)."""
    from core.fewshot import fit_head
    from core.models.fewshot import encode, head_proba

    classes = sorted(train["label"].unique())
    y = np.array([classes.index(v) for v in train["label"]])
    started = time.monotonic()
    coef, intercept = fit_head(encode(body, tokenizer, train["text"].tolist(), 128), y, len(classes))
    seconds = time.monotonic() - started
    proba = head_proba(encode(body, tokenizer, test["text"].tolist(), 128), coef, intercept)
    return macro_f1(test["label"], np.asarray(classes)[proba.argmax(axis=1)]), seconds


def run_frozen(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    enc = encoder()
    f1, seconds = _head_score(enc.body, enc.tokenizer, train, test)
    return {"macro_f1": f1, "train_seconds": round(seconds, 2)}


def setfit_pairs(labels: np.ndarray, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's default "oversampling" pairs: every unique pair (i < j), the rarer kind
    (positive or negative) repeated at random until both kinds are equally many; shuffled."""
    rng = np.random.default_rng(seed)
    pos, neg = [], []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            (pos if labels[i] == labels[j] else neg).append((i, j, 1.0 if labels[i] == labels[j] else 0.0))
    small, large = (pos, neg) if len(pos) < len(neg) else (neg, pos)
    extra = [small[k] for k in rng.integers(0, len(small), len(large) - len(small))] if small else []
    pairs = pos + neg + extra
    return [pairs[k] for k in rng.permutation(len(pairs))]


def run_setfit(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    import torch
    import transformers

    from core.models.fewshot import mean_pooled
    from core.models.folder import pad_batch

    enc = encoder()
    body = enc.fresh()
    transformers.set_seed(seed)
    classes = sorted(train["label"].unique())
    labels = np.array([classes.index(v) for v in train["label"]])
    ids = enc.tokenizer(train["text"].tolist(), truncation=True, max_length=128)["input_ids"]
    pairs = setfit_pairs(labels, seed)
    batches = [pairs[i : i + 16] for i in range(0, len(pairs), 16)]
    optimizer = torch.optim.AdamW(body.parameters(), lr=2e-5, weight_decay=0.01)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * len(batches)), len(batches))
    started = time.monotonic()
    body.train()
    for batch in batches:
        a, b, target = zip(*batch)
        input_ids, attention = pad_batch([ids[i] for i in a + b], 0)
        emb = mean_pooled(body, input_ids, attention)
        cosine = (emb[: len(a)] * emb[len(a) :]).sum(dim=1)
        loss = torch.nn.functional.mse_loss(cosine, torch.tensor(target))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    contrastive = time.monotonic() - started
    f1, head_seconds = _head_score(body, enc.tokenizer, train, test)
    return {"macro_f1": f1, "train_seconds": round(contrastive + head_seconds, 2), "steps": len(batches)}


METHODS = {"fewshot": run_fewshot, "full": run_full, "tfidf": run_tfidf, "frozen": run_frozen, "setfit": run_setfit}


# --------------------------------------------------------------------------- reporting


def read_raw() -> list[dict]:
    if not RAW.is_file():
        return []
    return [json.loads(line) for line in RAW.read_text().splitlines() if line.strip()]


def table(rows: list[dict]) -> str:
    df = pd.DataFrame([r for r in rows if r.get("kind") == "accuracy"])
    if df.empty:
        return "(no runs yet)\n"
    lines = [
        "| rows/class | method | macro-F1 mean ± std | min-max | seeds | train s (mean) | load (1-min avg) |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    order = {m: i for i, m in enumerate(METHODS)}
    groups = sorted(df.groupby(["per_class", "method"]), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][1]))
    for (size, method), g in groups:
        f1 = g["macro_f1"].to_numpy()
        std = f1.std(ddof=1) if len(f1) > 1 else 0.0
        load = np.mean([float(v.split()[0]) for v in g["load"]])
        lines.append(
            f"| {size} | {method} | {f1.mean():.3f} ± {std:.3f} | {f1.min():.3f}-{f1.max():.3f} | {len(f1)} | "
            f"{g['train_seconds'].mean():.1f} | {load:.1f} |"
        )
    timing = [r for r in rows if r.get("kind") == "timing"]
    if timing:
        lines += ["", "End-to-end `core.train(method='auto')`, 8 rows/class x 3 classes (source column), with cross-validation:", ""]
        lines += [
            "| wall s | CPU s | contrastive + head s (wall) | method | CV macro-F1 | threads | load 1/5/15 min |",
            "|---:|---:|---:|---|---|---:|---|",
        ]
        for r in timing:
            lines.append(
                f"| {r['wall_seconds']:.1f} | {r.get('cpu_seconds', float('nan')):.1f} | {r['train_seconds']:.1f} | "
                f"{r['method']} | {r['cv_macro_f1']} | {r['threads']} | {r['load']} |"
            )
    return "\n".join(lines) + "\n"


def timing_run() -> dict:
    from core import TrainConfig, train
    from core.cpu import cpu_threads

    df = pd.read_csv(DATA)
    rows = draw(df, 8, 0, label="source")[["text", "source"]]
    threads = cpu_threads()
    load = load_avg()
    started, cpu_started = time.monotonic(), time.process_time()
    result = train(rows, TrainConfig(label_column="source"))
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
    cv = result.metrics.get("cv", {}).get("model", {}).get("macro_f1", {})
    return {
        "kind": "timing",
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # CPU time of all threads: close to the wall time on an idle core
        "train_seconds": result.metrics["train_seconds"],
        "method": result.metrics["method_chosen"],
        "cv_macro_f1": f"{cv.get('mean', float('nan')):.3f} ± {cv.get('std', float('nan')):.3f}",
        "threads": threads,
        "load": load,
        "at": time.strftime("%Y-%m-%d %H:%M"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="8,16,32,64")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="fewshot,full,tfidf")
    parser.add_argument("--timing", action="store_true", help="time the product path (auto, 8 rows x 3 classes)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs")
    parser.add_argument("--steps", type=int, help="few-shot: contrastive steps (calibration)")
    parser.add_argument("--lr", type=float, help="few-shot: learning rate (calibration)")
    parser.add_argument("--texts-per-step", type=int, help="few-shot: texts per step (calibration)")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, help="few-shot: freeze word embeddings")
    parser.add_argument("--frozen-layers", type=int, help="few-shot: lowest layers kept fixed (calibration)")
    args = parser.parse_args(argv)
    overrides = {"steps": args.steps, "lr": args.lr, "texts_per_step": args.texts_per_step, "freeze": args.freeze,
                 "frozen_layers": args.frozen_layers}
    FEWSHOT_OVERRIDES.update({k: v for k, v in overrides.items() if v is not None})
    # A calibration variant is reported under its own name, e.g. "fewshot[steps=80]".
    variant = ",".join(f"{k}={v}" for k, v in FEWSHOT_OVERRIDES.items())
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        RAW.unlink(missing_ok=True)
    import transformers

    transformers.logging.set_verbosity_error()
    if args.timing:
        log("timing run: core.train(method=auto), 8 rows/class x 3 classes")
        record = timing_run()
        with RAW.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        log(json.dumps(record))
    else:
        df = pd.read_csv(DATA)
        pool, test = split_data(df)
        done = {(r["method"], r["per_class"], r["seed"]) for r in read_raw() if r.get("kind") == "accuracy"}
        for size in [int(s) for s in args.sizes.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                train = draw(pool, size, seed)
                for method in args.methods.split(","):
                    name = f"{method}[{variant}]" if method == "fewshot" and variant else method
                    if (name, size, seed) in done:
                        continue
                    load = load_avg()
                    log(f"{name} {size}/class seed {seed}")
                    result = METHODS[method](train, test, seed)
                    record = {"kind": "accuracy", "method": name, "per_class": size, "seed": seed, "load": load, **result}
                    with RAW.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    log(json.dumps(record))
    TABLE.write_text(table(read_raw()))
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
