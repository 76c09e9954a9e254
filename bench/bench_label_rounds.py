"""The Label page's cold start, simulated end to end: does its "Gain per round" tell the truth?

    nice -n 5 /work/main/.venv/bin/python -m bench.bench_label_rounds [--set goemotions3] [--pool 600]
        [--heldout 300] [--per-round 20] [--max-train-seconds 90]

A seeded shuffle of a public labelled set is cut into a labelling project (``--pool`` rows, all
unlabelled) and a random *held-out* set (``--heldout`` rows, never labelled, never seen). The run
goes through the product's own code paths, as the page drives them: the zero-shot model is built by
a background job (core.jobs.start_zeroshot_job, a real worker process), each round ranks the
unlabelled rows and is recorded (core.label_rounds.rank_and_record), a simulated person labels the
``--per-round`` least-sure rows with their true labels (an oracle: no anchoring on the suggestion),
and training is a background job (core.jobs.start_job, core.pipeline.train, method auto) after 40
and 80 labels. Rounds: zero-shot -> 40 labels -> train -> 40 more -> train -> 20 more.

Printed and written to bench/results/label_rounds.jsonl: per round the page's table (macro-F1 on
the rows labelled since, the gain on the same rows) beside each round's macro-F1 on the random
held-out rows (scikit-learn), the check being whether the page's gain has the held-out gain's sign
(the page's words come with a paired-bootstrap interval: read "within noise" as no sign).

Each round's rows are the product's own mix (core.label_rounds.suggest_rows: RANDOM_SHARE of them
random checks, the rest the least sure), labelled with the reason saved as the Label page saves it;
``--random-share S`` overrides the share (0: least-sure rows only, the product before round 8);
``--first-train-only`` stops after the first training and prints the Label page's
comparison of the trained model with the zero-shot model on the labelled rows
(core.label_rounds.compare_with_zeroshot) beside both models' held-out macro-F1 (appended to
bench/results/label_rounds_mix.jsonl): is the choice right, and is the labelled rows' score closer
to the held-out one with random rows mixed in?
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "label_rounds.jsonl"


def _wait(job_id: str, timeout: float = 1800) -> None:
    from core import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.job_status(job_id)
        if not status.active:
            if status.state != "done":
                raise RuntimeError(f"job {job_id} ended {status.state}: {status.message}")
            return
        time.sleep(2)
    raise RuntimeError(f"job {job_id} still running after {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="goemotions3")
    parser.add_argument("--pool", type=int, default=600)
    parser.add_argument("--heldout", type=int, default=300)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--max-train-seconds", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-share", type=float, default=None,
                        help="share of each round's rows drawn at random from the unlabelled rows instead of the "
                             "least sure (default: the product's, core.label_rounds.RANDOM_SHARE)")
    parser.add_argument("--first-train-only", action="store_true",
                        help="stop after the first training and its comparison with the zero-shot model")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-label-rounds-"))
    os.environ.update(MARKETUNE_MODELS_DIR=str(home / "models"), MARKETUNE_JOBS_DIR=str(home / "jobs"))
    from sklearn.metrics import f1_score

    from bench.bench_zeroshot import load_set
    from core import TrainConfig, jobs
    from core.base_models import training_defaults
    from core.label_rounds import RANDOM_SHARE, gain_table, gain_words, rank_and_record, rows_to_train
    from core.labeling import LabelStore
    from core.models import load_folder
    from core.registry import model_path, read_info

    if args.random_share is None:
        args.random_share = RANDOM_SHARE  # what ships
    texts, labels, descriptions, base = load_set(args.set)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    pool_i, held_i = order[: args.pool], order[args.pool : args.pool + args.heldout]
    truth = labels.iloc[pool_i].astype(str).reset_index(drop=True)
    held = pd.DataFrame({"text": texts.iloc[held_i].astype(str).values})
    held_truth = labels.iloc[held_i].astype(str).tolist()
    store = LabelStore(home / "labels" / "bench").create(
        pd.DataFrame({"text": texts.iloc[pool_i].astype(str).values, "label": ""}), ["text"], "label")
    names = sorted(set(labels))
    started, load = time.time(), open("/proc/loadavg").read().split()[:3]
    heldout: list[float] = []

    def use(name: str) -> None:
        """Rank with model ``name`` (recorded once per version) and label the rows it suggests (the
        least sure and the random checks), each with the reason it was suggested."""
        model = load_folder(model_path(name))
        version = f"{name}@{(model_path(name) / 'marketune.json').stat().st_mtime_ns}"
        info = read_info(model_path(name))
        recorded = len(gain_table(store))
        ranked = rank_and_record(store, model, store.unlabeled(), args.per_round, name=name, version=version,
                                 kind=info.kind, metrics=info.metrics, random_share=args.random_share,
                                 seed=args.seed + 1 + store.counts()["labeled"])
        if len(gain_table(store)) > recorded:  # a new round: its held-out score on the random rows
            heldout.append(float(f1_score(held_truth, model.predict(held), average="macro")))
        store.set_labels({int(r): truth[int(r)] for r in ranked.index}, reasons=ranked["reason"])

    job = jobs.start_zeroshot_job(store.unlabeled(), "text", names, "zs", descriptions=descriptions, base_model=base)
    _wait(job)
    use("zs")
    use("zs")
    config = TrainConfig(text_columns=["text"], label_column="label",
                         **{**training_defaults(base), "base_model": base, "method": "auto",
                            "max_train_seconds": args.max_train_seconds})
    for rounds in (2, 1):
        _wait(jobs.start_job(rows_to_train(store, "own"), config, "own", overwrite=True))
        if args.first_train_only:
            _first_train_record(args, store, model_path, held, held_truth, heldout[0], time.time() - started, load)
            return
        for _ in range(rounds):
            use("own")
    table = gain_table(store)
    table["heldout_macro_f1"] = heldout
    table["heldout_gain"] = table["heldout_macro_f1"].diff()
    seconds = round(time.time() - started, 1)
    print(f"{args.set}: {args.pool} rows to label, {args.heldout} random held-out rows, {seconds} s, load {load}")
    for _, row in table.iterrows():
        print(f"round {row['round']} {row['model']:<32} labels {row['labels']:>3}  since {row['rows_since']:>3}  "
              f"macro-F1 {row['macro_f1']:.3f}  | {gain_words(row):<62} | held-out {row['heldout_macro_f1']:.3f} "
              f"({row['heldout_gain']:+.3f})  own: {row['own_score']:.3f} {row['own_score_how']}")
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        for record in table.to_dict("records"):
            out.write(json.dumps({"set": args.set, "pool": args.pool, "heldout": args.heldout, "seconds": seconds,
                                  "load": load, **record}, default=float) + "\n")


def _first_train_record(args, store, model_path, held, held_truth, zs_heldout, seconds, load) -> None:
    """The page's comparison of the first trained model with the zero-shot model (core.label_rounds.
    compare_with_zeroshot: on the random-check rows when there are enough, else on every labelled
    row; ``compared_on`` says which, ``labelled_*`` are its scores), beside both models' macro-F1
    on the random held-out rows: was the choice right, and how far is each score from held-out?"""
    from sklearn.metrics import f1_score

    from core.label_rounds import compare_with_zeroshot
    from core.models import load_folder

    found = compare_with_zeroshot(store, model_path("own"), model_path("zs"))
    own_heldout = float(f1_score(held_truth, load_folder(model_path("own")).predict(held), average="macro"))
    # Beside it, what the page compared before round 8: every labelled row (test_predictions.csv).
    from core.evaluation import better_than, paired_bootstrap

    tested = pd.read_csv(model_path("own") / "test_predictions.csv", dtype=str, keep_default_na=False)
    zs_said = [str(p) for p in load_folder(model_path("zs")).predict(tested["text"].tolist())]
    truth, new = tested["true_label"].tolist(), tested["predicted_label"].tolist()
    every = paired_bootstrap("classification", truth, new, zs_said, sorted(set(truth) | set(new) | set(zs_said)))
    right = "trained" if own_heldout > zs_heldout else "zeroshot"
    record = {"set": args.set, "seed": args.seed, "random_share": args.random_share,
              "labelled": store.counts()["labeled"], "random_checks": found.get("random_checks", 0),
              "compared_on": found.get("rows_used", "all labelled"), "labels": found["n"],
              "kept": found["kept"], "right_on_heldout": right, "keep_right": found["kept"] == right,
              "labelled_trained": round(found["trained_macro_f1"], 3), "labelled_zeroshot": round(found["zeroshot_macro_f1"], 3),
              "interval": [None if v != v else round(100 * v, 1) for v in found["comparison"]["ci"]],
              "all_rows": {"n": every["n"], "trained": round(every["a"], 3), "zeroshot": round(every["b"], 3),
                           "kept": "trained" if better_than(every) else "zeroshot"},
              "heldout_trained": round(own_heldout, 3), "heldout_zeroshot": round(zs_heldout, 3),
              "seconds": round(seconds, 1), "load": load}
    print(json.dumps(record))
    out = RESULTS.with_name("label_rounds_mix.jsonl")
    out.parent.mkdir(exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
