"""The frozen-embedding candidate's final fit: which rows, which settings (issue 28, Chinese).

    nice -n 10 python -m bench.bench_embedding_rows --set zh --train 2000 --test 1000 --seed 0

bench.bench_held_out scores what ``python -m core train`` saves; this asks what the embedding
candidate (core.embedding) would score with other choices, without training anything but
logistic regressions: the ``--train`` rows and ``--test`` disjoint held-out rows of a set (the
same split as bench_held_out and bench_embedding, same seed) are embedded ONCE with the product's
frozen encoder (mean-pooled, L2-normalised, "query: " for e5), then the product's own linear fit
(core.embedding._fit_linear: balanced logistic regression, C by 5-fold CV on the rows it is given)
is run on:

- ``train``: the product's training split of the ``--train`` rows (core.prepare with the CLI's
  70/10/20 split, seeded by ``--seed`` as bench_held_out passes it): the candidate as scored
  (its held-out score is bench_held_out's for the embedding model saved before any refit);
- ``train+validation``: what the pipeline's refit saves today when embeddings lead;
- ``all rows``: every labelled row, as the TF-IDF candidate's refit already does.

Each row of the table gives the 5-fold CV macro-F1 on its own fit rows (what a choice may use)
and the held-out macro-F1 (reported, never used to choose), beside character 1-3-gram TF-IDF + LR
on all ``--train`` rows (bench.bench_held_out's yardstick). Appends to bench/results/embedding_rows.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.bench_embedding import loadavg, split, tfidf_run
from bench.bench_regret import SETS

RESULTS = Path(__file__).resolve().parent / "results"


def soft_vote(X: np.ndarray, X_test: np.ndarray, prepared, test, seed: int) -> dict:
    """An idea, not a product candidate: the mean of character TF-IDF + LR's and e5 + LR's class
    probabilities (balanced LR, C=16 and C=4, the values CV chose most often), fitted on all rows;
    5-fold out-of-fold macro-F1 on those rows (what a choice may use) and held-out macro-F1."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    texts, y = prepared.texts_at(np.arange(len(prepared.y))), prepared.y
    char = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2),
                         LogisticRegression(C=16.0, max_iter=2000, class_weight="balanced"))
    emb = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced")
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):
        oof = (cross_val_predict(char, texts, y, cv=folds, method="predict_proba")
               + cross_val_predict(emb, X, y, cv=folds, method="predict_proba")) / 2
        proba = (char.fit(texts, y).predict_proba(test["text"].astype(str).tolist()) + emb.fit(X, y).predict_proba(X_test)) / 2
    classes = np.asarray(prepared.classes).astype(str)
    return {"cv_macro_f1": round(float(f1_score(y, oof.argmax(axis=1), average="macro")), 4),
            "held_out_macro_f1": round(float(f1_score(test["label"].astype(str), classes[proba.argmax(axis=1)],
                                                      average="macro")), 4)}


def main() -> None:
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import f1_score

    from core.base_models import input_prefix
    from core.config import TrainConfig
    from core.cpu import cpu_threads
    from core.embedding import _fit_linear
    from core.models.embedding import EmbeddingClassifier, encoder_reference, load_encoder
    from core.prepare import prepare
    from core.training import with_validation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--soft-vote", action="store_true",
                        help="also: char TF-IDF + LR and e5 + LR (C=4) probabilities averaged, on all rows")
    args = parser.parse_args()
    frame = split(args.set, args.train, args.test, args.seed)
    train = frame[frame["split"] == "train"].drop(columns="split").reset_index(drop=True)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=SETS[args.set][2],
                         method="embedding", seed=args.seed)
    prepared = with_validation(prepare(train, config), config)
    started, load_before = time.monotonic(), loadavg()
    # The encoder exactly as core.embedding.fit_embedding builds it (its linear part unused here).
    body, tokenizer, base = load_encoder(config.base_model)
    torch.set_num_threads(cpu_threads())
    encoder = {"base_model": encoder_reference(base), "prefix": input_prefix(base), "max_length": config.max_length}
    dim = int(body.config.hidden_size)
    model = EmbeddingClassifier(body, tokenizer, task=prepared.task, classes=prepared.classes,
                                coef=np.zeros((len(prepared.classes), dim)), intercept=np.zeros(len(prepared.classes)),
                                schema=prepared.schema, encoder=encoder)
    everything = np.arange(len(prepared.y))
    X = model.embed(prepared.texts_at(everything)).astype(np.float64)
    X_test = model.embed(test["text"].astype(str).tolist()).astype(np.float64)
    embed_s = time.monotonic() - started
    truth = test["label"].astype(str).to_numpy()
    classes = np.asarray(prepared.classes).astype(str)
    splits = prepared.splits
    fits = {"train": splits["train"], "train+validation": np.sort(np.concatenate([splits["train"], splits["validation"]])),
            "all rows": everything}

    def groups(rows: np.ndarray) -> np.ndarray | None:  # copies of a text in one CV fold, as fit_embedding does
        return None if prepared.groups is None else np.asarray(prepared.groups)[rows]

    record = {"set": args.set, "seed": args.seed, "train": len(train), "test": len(test), "rows": {},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": load_before}
    for name, rows in fits.items():
        with threadpool_limits(limits=1):  # as core.embedding fits it (OpenBLAS threads spin on a busy machine)
            coef, intercept, facts = _fit_linear(X[rows], prepared.y[rows], prepared, config, groups(rows))
        pred = classes[np.argmax(X_test @ coef.T + intercept, axis=1)]
        record["rows"][name] = {"n": int(len(rows)), "C": facts.get("C"), "cv_macro_f1": round(facts["cv_score"], 4),
                                "held_out_macro_f1": round(float(f1_score(truth, pred, average="macro")), 4)}
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    record["tfidf_char"] = tfidf_run(char, frame[frame["split"] == "train"], frame[frame["split"] == "test"], args.seed)
    if args.soft_vote:
        record["soft_vote"] = soft_vote(X, X_test, prepared, test, args.seed)
    record.update(embed_s=round(embed_s, 1), load_after=loadavg(),
                  peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print(json.dumps(record), flush=True)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "embedding_rows.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    char_f1 = record["tfidf_char"]["macro_f1"]
    print(f"\n| fit rows (seed {args.seed}) | n | C | 5-fold CV macro-F1 | held-out macro-F1 | minus char TF-IDF ({char_f1:.3f}) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in record["rows"].items():
        print(f"| {name} | {r['n']} | {r['C']:g} | {r['cv_macro_f1']:.3f} | {r['held_out_macro_f1']:.3f} | "
              f"{(r['held_out_macro_f1'] - char_f1) * 100:+.1f} |")


if __name__ == "__main__":
    main()
