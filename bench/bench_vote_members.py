"""Each leaderboard candidate's probabilities on its own validation/test rows and on disjoint held-out
rows, to see what a vote of any members would score before building it (issue 28, round 12).

    OMP_NUM_THREADS=2 nice -n 5 python -m bench.bench_vote_members --set zh --seed 0
    python -m bench.bench_vote_members --summary bench/results/vote_members/zh_0.npz

The training rows and held-out rows are bench_held_out's (bench.bench_embedding.split: 2,000 and
1,000 stratified rows); ``core.pipeline.train`` runs the product's leaderboard on the training rows
(its own 70/10/20 split; method auto, here full fine-tuning) with the refit switched off, so every
candidate is the copy fitted on the 1,400 training rows, and each candidate's ``predict_proba`` of the
held-out rows is saved beside its validation and test probabilities (``.npz``, one per set and seed).
``--summary`` prints each candidate and the votes of two or three of them (mean of probabilities, the
argmax the label): macro-F1 on the 200 validation rows (what the choice sees), the 400 test rows and
the 1,000 held-out rows (scikit-learn's ``f1_score(average="macro")``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "vote_members"


def run(name: str, seed: int, base_model: str) -> Path:
    import core.pipeline as pipeline
    from bench.bench_embedding import split
    from core.config import TrainConfig

    captured: dict = {}
    assemble = pipeline.assemble_result

    def capture(view, config, fitted, leader, *args, **kwargs):
        captured.update(fitted=fitted, view=view, leader=leader)
        return assemble(view, config, fitted, leader, *args, **kwargs)

    pipeline.assemble_result = capture
    pipeline.refit = lambda *_args, **_kwargs: None  # every candidate stays the copy fitted on the training rows
    frame = split(name, 2000, 1000, seed)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model, seed=seed)
    started = time.monotonic()
    pipeline.train(train[["text", "label"]].reset_index(drop=True), config)
    view = captured["view"]
    out = {"classes": np.array(view.classes, dtype=object).astype(str),
           "val_y": np.asarray(view.labels[view.splits["validation"]]).astype(str),
           "test_y": np.asarray(view.labels[view.splits["test"]]).astype(str),
           "held_y": test["label"].astype(str).to_numpy(), "leader": np.array(captured["leader"])}
    texts = test["text"].astype(str).tolist()
    for kind, fitted in captured["fitted"].items():
        out[f"val_{kind}"], out[f"test_{kind}"] = fitted.val.proba, fitted.test.proba
        out[f"held_{kind}"] = fitted.model.predict_proba(texts)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}_{seed}.npz"
    np.savez(path, **out)
    print(json.dumps({"set": name, "seed": seed, "leader": captured["leader"], "seconds": round(time.monotonic() - started)}))
    return path


def summary(path: Path) -> None:
    from sklearn.metrics import f1_score

    data = np.load(path, allow_pickle=True)
    classes = data["classes"]
    kinds = [k[4:] for k in data.files if k.startswith("val_") and k != "val_y"]
    votes = {k: [k] for k in kinds}
    if {"tfidf", "embedding", "transformer"} <= set(kinds):
        votes.update({"tfidf+embedding+transformer": ["tfidf", "embedding", "transformer"],
                      "embedding+transformer": ["embedding", "transformer"], "tfidf+transformer": ["tfidf", "transformer"]})
    print(f"{path.name} (the run's leader: {data['leader']})\n| candidate | validation | test | held out |\n|---|---:|---:|---:|")
    for name, members in votes.items():
        scores = [f1_score(data[f"{side}_y"], classes[np.mean([data[f"{side}_{m}"] for m in members], axis=0).argmax(axis=1)],
                           average="macro") for side in ("val", "test", "held")]
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")


def main() -> None:
    from bench.bench_regret import SETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-model", default="multilingual-e5-small")
    parser.add_argument("--summary", type=Path, nargs="*", help="print the table of these .npz files instead of running")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for path in args.summary or [run(args.set, args.seed, args.base_model)]:
        summary(path)


if __name__ == "__main__":
    main()
