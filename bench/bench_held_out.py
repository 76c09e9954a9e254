"""The product's defaults as a user gets them, scored on disjoint held-out rows (issue 28).

    nice -n 10 python -m bench.bench_held_out --set zh --train 2000 --test 1000 --seeds 0 1
    nice -n 10 python -m bench.bench_held_out --set clothing3 --train 1500 --test 1000 --seeds 0 \
        --train-args="--method lora"     (then --train-args="--method full")

For each seed: ``--train`` stratified rows of a public set and ``--test`` disjoint stratified rows
(bench.bench_embedding.split: bench_regret's sets and sampling). The training rows are written
to a CSV and trained by ``python -m core train --data CSV --text-col text --label-col label --out
DIR`` in a child process, exactly as a user runs it (no --base-model: chosen by the text's
language; the method "auto" unless ``--train-args`` says otherwise; the leaderboard runs its
candidates on its own 70/10/20 split of those rows and saves its choice). Then, in this process:

- the saved model (DIR) and every kept candidate (DIR/candidates/<kind>) predict the held-out
  rows; their macro-F1 is scikit-learn's ``f1_score(average="macro")`` on those rows;
- two baselines are fitted on the same training rows (all of them) and scored on the same rows:
  character 1-3-gram TF-IDF + class-balanced logistic regression ("char TF-IDF + LR", issue 28's
  Chinese yardstick) and the product's word + character TF-IDF, C by 5-fold CV on the training
  rows (bench.bench_embedding.tfidf_run).

The child's wall-clock seconds and peak resident memory (``os.wait4``'s rusage, the child alone)
are recorded with the load average (/proc/loadavg) before and after: seconds compare only at
similar load; macro-F1 does not depend on it. Results are appended to bench/results/held_out.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.bench_embedding import loadavg, split, tfidf_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def train_cli(train: pd.DataFrame, folder: Path, extra: list[str]) -> dict:
    """``python -m core train`` on ``train`` (columns text, label) into ``folder``: its final JSON
    line plus ``wall_s``, ``peak_rss_mb`` (the child's own) and the load before/after."""
    data = folder.parent / "train.csv"
    train[["text", "label"]].to_csv(data, index=False)
    command = [sys.executable, "-m", "core", "train", "--data", str(data), "--text-col", "text", "--label-col", "label",
               "--out", str(folder), "--quiet", *extra]
    load_before, started = loadavg(), time.monotonic()
    log = folder.parent / "train.log"
    with open(log, "w", encoding="utf-8") as err:
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1"})
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)  # this child's rusage alone (peak RSS in KiB)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"core train failed; its log:\n{log.read_text()[-4000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    record = json.loads(lines[-1])
    record["stderr_notes"] = [line for line in log.read_text().splitlines()
                              if line.startswith(("base model:", "verdict:", "warning:"))]
    record["candidate_lines"] = [json.loads(line) for line in lines[:-1] if '"event": "candidate"' in line]
    return {**record, "wall_s": round(time.monotonic() - started, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "load_before": load_before, "load_after": loadavg()}


def held_out_f1(folder: Path, test: pd.DataFrame) -> dict:
    """Macro-F1 on ``test`` of the model saved in ``folder`` (any kind), with its kind and seconds."""
    from sklearn.metrics import f1_score

    from core.models import load_folder

    model = load_folder(folder)
    started = time.monotonic()
    pred = model.predict(test["text"].astype(str).tolist())
    manifest = json.loads((folder / "marketune.json").read_text(encoding="utf-8"))
    return {"kind": manifest.get("kind"), "macro_f1": round(float(f1_score(test["label"].astype(str), pred.astype(str),
                                                                          average="macro")), 4),
            "score_s": round(time.monotonic() - started, 1)}


def run(name: str, n_train: int, n_test: int, seed: int, extra: list[str], folder: Path | None = None,
        skip: tuple[str, ...] = ()) -> dict:
    """One seed: train with the CLI (or, with ``folder``, score a model already trained on this
    seed's training rows, e.g. the best so far of a run stopped early) and score on the held-out rows.
    ``skip``: kept candidate kinds not scored (each costs a pass over the held-out rows)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from core.evaluation import tfidf_features

    frame = split(name, n_train, n_test, seed)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    record: dict = {"set": name, "train": len(train), "test": len(test), "seed": seed, "train_args": extra,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            folder = Path(tmp) / "model"
            # --seed: the product's split and initialisation follow the bench seed (the CLI's default is fixed)
            cli = train_cli(train, folder, ["--seed", str(seed), *extra])
            saved = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            cli.update({k: saved.get(k) for k in ("best_step", "steps", "total_steps", "validation")})
        else:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            cli = {**metrics, "scored_folder": str(folder), "wall_s": None, "peak_rss_mb": None}
        record["cli"] = {k: cli.get(k) for k in (
            "saved_kind", "method_chosen", "split_sizes", "train_seconds", "wall_s", "peak_rss_mb", "load_before",
            "load_after", "stopped_reason", "best_step", "steps", "total_steps", "stderr_notes", "candidate_lines",
            "refit", "validation", "scored_folder")}
        record["product_test_macro_f1"] = cli["model"].get("macro_f1")
        record["saved"] = held_out_f1(folder, test)
        record["candidates"] = {kind.name: held_out_f1(kind, test)
                                for kind in sorted((folder / "candidates").glob("*")) if kind.is_dir() and kind.name not in skip}
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    record["tfidf_char"] = tfidf_run(char, train, test, seed)
    record["tfidf"] = tfidf_run(tfidf_features(), train, test, seed)
    record["load_end"] = loadavg()
    return record


def main() -> None:
    from bench.bench_regret import SETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-args", default="", help='more `core train` flags, e.g. "--method lora"')
    parser.add_argument("--score-folder", type=Path, default=None,
                        help="score this saved model (trained on the first seed's training rows) instead of training")
    parser.add_argument("--skip", nargs="*", default=[], help="kept candidate kinds not to score, e.g. embedding")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    records = []
    for seed in args.seeds:
        record = run(args.set, args.train, args.test, seed, shlex.split(args.train_args), args.score_folder,
                     tuple(args.skip))
        records.append(record)
        print(json.dumps(record), flush=True)
        with open(RESULTS / "held_out.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    print("\n| set, seed | train args | saved (kind) | held-out macro-F1: saved | candidates | char TF-IDF + LR "
          "| word+char TF-IDF + LR | saved - char TF-IDF | wall s | peak RSS MB | load |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---|")
    for r in records:
        cands = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in r["candidates"].items())
        delta = (r["saved"]["macro_f1"] - r["tfidf_char"]["macro_f1"]) * 100
        print(f"| {r['set']}, {r['seed']} | {' '.join(r['train_args'])} | {r['cli']['saved_kind']} | "
              f"{r['saved']['macro_f1']:.3f} | {cands} | {r['tfidf_char']['macro_f1']:.3f} | {r['tfidf']['macro_f1']:.3f} "
              f"| {delta:+.1f} | {r['cli']['wall_s']} | {r['cli']['peak_rss_mb']} | {r['cli']['load_before']} -> "
              f"{r['cli']['load_after']} |")


if __name__ == "__main__":
    main()
