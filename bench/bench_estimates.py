"""How close the Train page's time estimate comes to a real training run (the lanes' estimate,
core.lanes.estimate, shown as "estimated ... on an idle machine" beside the queue).

    python -m bench.bench_estimates --runs uci:500:full uci:500:auto uci:2000:full

Each run ``SET:ROWS:METHOD`` takes ROWS stratified rows of a public set (bench_regret's sets, the
sampling of bench.bench_embedding.split, seed ``--seed``), trains them with ``python -m core train``
in a child process exactly as a user runs it (bench.bench_held_out.train_cli: the product's defaults,
``--method METHOD``; the base model chosen by the text's language) and asks core.lanes for the
estimate of the same job (the same rows, the method asked for, the base model the run used, the
defaults the page sends). Printed and appended to bench/results/estimates.jsonl: the estimate, the
child's wall-clock seconds (process start to the saved model), their ratio, and the load average
before and after. A ratio is only meaningful on an idle machine (load under 1 before the run): the
estimate is of an idle machine's time, and the page says so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.bench_embedding import split
from bench.bench_held_out import RESULTS, train_cli


def run(name: str, rows: int, method: str, seed: int) -> dict:
    """One training run of ``rows`` rows of set ``name`` with ``method``, and its estimate."""
    from core import lanes
    from core.config import TrainConfig
    from core.response import language_texts, mean_tokens

    frame = split(name, rows, 10, seed)
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        record = train_cli(train, folder, ["--seed", str(seed), "--method", method])
        base_model = json.loads((folder / "marketune.json").read_text(encoding="utf-8")).get("base_model")
    config = TrainConfig(text_columns=["text"], label_column="label", method=method, base_model=base_model, seed=seed)
    estimate = lanes.estimate({"kind": "train", "config": config.to_dict()}, train)
    counts = train["label"].astype(str).value_counts()
    return {"set": name, "rows": len(train), "method": method, "method_chosen": record.get("method_chosen"),
            "saved_kind": record.get("saved_kind"), "base_model": base_model, "classes": len(counts),
            "smallest_class": int(counts.min()),
            "mean_tokens": round(mean_tokens(language_texts(train, ["text"], n=1000), TrainConfig.max_length), 1),
            "estimate_s": round(estimate.seconds, 1), "wall_s": record["wall_s"],
            "ratio": round(estimate.seconds / record["wall_s"], 2), "load_before": record["load_before"],
            "load_after": record["load_after"], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["uci:500:full", "uci:500:auto", "uci:2000:full"],
                        help="SET:ROWS:METHOD, e.g. uci:500:full (sets: bench.bench_regret.SETS)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    print("| set | rows | method (chosen) | base model | estimate s | wall s | estimate / wall | load |")
    print("|---|---:|---|---|---:|---:|---:|---|")
    for spec in args.runs:
        name, rows, method = spec.split(":")
        record = run(name, int(rows), method, args.seed)
        with open(RESULTS / "estimates.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"| {name} | {record['rows']} | {method} ({record['method_chosen']}) | {record['base_model']} "
              f"| {record['estimate_s']} | {record['wall_s']} | {record['ratio']} "
              f"| {record['load_before']} -> {record['load_after']} |", flush=True)


if __name__ == "__main__":
    main()
