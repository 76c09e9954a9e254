"""Replay of the leaderboard's choice: the cheap candidates chosen on validation (today) or on
out-of-fold scores over train + validation (the lever issue 26 names), on the regret bench's runs.

    nice -n 5 python -m bench.bench_rule_replay [--rows 1000] [--seeds 0 1 2] [--sets uci clothing3 department emotions zh]
        [--results bench/results/regret_r4.jsonl docs/measurements.md bench/results/regret_r6.jsonl ...] [--out FILE]

For each set and seed, bench.bench_regret's sample and configuration, so core.prepare gives the
same split (~700 training, ~100 validation, ~200 test rows at 1,000). In this process, without a
fine-tune (seconds per run, a minute for Chinese):

- the cheap candidates as core.pipeline fits them on the training rows: TF-IDF + LR (its C chosen
  on validation, core.evaluation.fit_baselines), frozen embeddings + LR (core.embedding's
  estimator: C by CV on the training rows), the soft vote (the mean of their probabilities);
- their validation macro-F1 (the score today's rule chooses on) and their 5-fold out-of-fold
  macro-F1 on train + validation (StratifiedKFold, seed 0 as core.pipeline.cross_validated;
  TF-IDF with its C, the embeddings' LR with its C, the vote the mean of the two out-of-fold
  probabilities); every text is embedded once;
- their test macro-F1 as each rule would deliver them: refitted on train + validation with the
  same C (the product refits the chosen cheap model on those rows) and scored on the test rows.

The fine-tune's validation and test macro-F1 come from the regret bench's stored runs
(``--results``, oldest first, a later source winning: JSON lines files, and docs/measurements.md's
uncapped table for the round-5 runs no file holds, 3 decimals); a run whose stored TF-IDF
validation score differs from the replay's by more than 0.002 had another split and its fine-tune
is left out (said per run). ``--summarise FILE`` fits nothing and applies the rules again to the
runs an earlier ``--out FILE`` holds. A stored fine-tune's
test score is its refit's when it was saved, else its training-rows copy's.

Rules (TIE_MARGIN as core.evaluation; cheapest first, a later one replaces the leader only when
more than the margin ahead):

- ``today``: TF-IDF, embeddings, soft vote, fine-tune in that order on validation macro-F1;
- ``oof``: the fine-tune decided as today (against the cheap leader on validation); where it does
  not win, the cheap one chosen by the same rule on out-of-fold macro-F1;
- ``oof_vs_leader``: the cheap leader chosen out of fold first, then the fine-tune replaces it only
  when more than the margin ahead of that leader on validation (it has no out-of-fold score).

Regret = best test macro-F1 among the candidates minus the chosen one's, in points: among the
three cheap candidates (every run) and with the fine-tune (runs with a stored fine-tune). Prints
one line per run, then mean / worst per rule. Accuracy does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from bench.bench_regret import DATA, SETS, sample
from core import TrainConfig
from core.base_models import input_prefix
from core.embedding import MAX_ITER, _fit_linear
from core.evaluation import TIE_MARGIN, fit_baselines, tfidf_estimator
from core.models.embedding import EmbeddingClassifier, encoder_reference, load_encoder
from core.prepare import prepare
from core.training import with_validation

CHEAP = ("tfidf", "embedding", "softvote")
ROOT = Path(__file__).resolve().parent.parent
FOLDS = 5


def sequential(order: list[str], scores: dict[str, float], leader: str | None = None) -> str:
    """core.pipeline.choose_leader's rule on plain scores: in ``order``, a later one replaces the
    leader only when more than TIE_MARGIN ahead (``leader``: the one to start from)."""
    for kind in order:
        if leader is None or scores[kind] - scores[leader] > TIE_MARGIN:
            leader = kind
    return leader


def stored_runs(sources: list[str], rows: int) -> dict[tuple[str, int], dict]:
    """(set, seed) -> {"val": {kind: f1}, "test": {kind: f1}, "from": source} of the regret bench's
    runs at ``rows`` rows, from ``sources`` in order (a later one wins for the same set and seed):
    JSON lines files, or a Markdown file (docs/measurements.md) whose uncapped regret table is read."""
    found: dict[tuple[str, int], dict] = {}
    for source in map(Path, sources):
        if not source.is_file():
            continue
        if source.suffix == ".md":
            section = source.read_text(encoding="utf-8").split("### The whole leaderboard's regret, uncapped", 1)[-1]
            kinds = ("tfidf", "embedding", "transformer")
            for name, seed, val, test in re.findall(r"^\| (\w+) (\d)(?: \(round \d\))? \| ([\d./ ]+) \| ([\d./ ]+) \|",
                                                    section.split("\n### ", 1)[0], flags=re.M):
                found[(name, int(seed))] = {"val": dict(zip(kinds, map(float, val.split("/")))),
                                            "test": dict(zip(kinds, map(float, test.split("/")))), "from": source.name}
            continue
        for line in source.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("rows") == rows and "val" in record:
                found[(record["set"], record["seed"])] = {"val": record["val"], "test": record["test"], "from": source.name}
    return found


def _aligned(proba: np.ndarray, fitted_classes: list, classes: list[str]) -> np.ndarray:
    """``proba``'s columns in ``classes`` order (a class the fit never saw: 0)."""
    out = np.zeros((len(proba), len(classes)))
    for j, c in enumerate(fitted_classes):
        out[:, classes.index(str(c))] = proba[:, j]
    return out


def _f1(truth: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return float(f1_score(truth, pred, labels=classes, average="macro", zero_division=0))


def _embeddings(prepared, config: TrainConfig, positions: np.ndarray) -> np.ndarray:
    """The frozen encoder's embeddings of the rows at ``positions`` (as core.embedding embeds them)."""
    body, tokenizer, base = load_encoder(config.base_model)
    k, d = len(prepared.classes), int(body.config.hidden_size)
    shell = EmbeddingClassifier(body, tokenizer, task="classification", classes=prepared.classes, coef=np.zeros((k, d)),
                                intercept=np.zeros(k), schema=prepared.schema,
                                encoder={"base_model": encoder_reference(base), "prefix": input_prefix(base),
                                         "max_length": config.max_length})
    return shell.embed(prepared.texts_at(positions)).astype(np.float64)


def _lr(settings: dict, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=settings["C"], class_weight=settings.get("class_weight"), max_iter=MAX_ITER).fit(X, y)


def cheap_scores(name: str, rows: int, seed: int) -> dict:
    """The three cheap candidates' validation, out-of-fold and test macro-F1 on one run's split."""
    file, shape, base_model = SETS[name]
    df = sample(shape(pd.read_csv(DATA / file)), rows, seed)
    config = TrainConfig(text_columns=("text",), label_column="label", method="full", base_model=base_model, seed=seed,
                         **({"freeze_embeddings": True} if base_model != "minilm-en" else {}))
    prepared = with_validation(prepare(df, config), config)
    s, labels, classes = prepared.splits, np.asarray([str(v) for v in prepared.labels], dtype=object), list(prepared.classes)
    both = np.sort(np.concatenate([s["train"], s["validation"]]))
    started = time.monotonic()
    base = fit_baselines("classification", prepared.texts_at(s["train"]), labels[s["train"]],
                         prepared.texts_at(s["validation"]), labels[s["validation"]], prepared.texts_at(s["test"]),
                         labels[s["test"]], classes)
    everything = np.concatenate([both, s["test"]])
    X = dict(zip(everything.tolist(), _embeddings(prepared, config, everything)))
    X_at = lambda positions: np.stack([X[i] for i in positions])  # noqa: E731
    embed_seconds = time.monotonic() - started
    groups = np.asarray(prepared.groups)[s["train"]] if prepared.groups is not None else None
    with threadpool_limits(limits=1):
        coef, intercept, settings = _fit_linear(X_at(s["train"]), prepared.y[s["train"]], prepared, config, groups)

    def emb_proba(positions: np.ndarray) -> np.ndarray:
        z = X_at(positions) @ coef.T + intercept
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    tfidf_proba = {side: _aligned(base.pipeline.predict_proba(prepared.texts_at(s[side])), base.pipeline.classes_, classes)
                   for side in ("validation", "test")}
    proba = {side: {"tfidf": tfidf_proba[side], "embedding": emb_proba(s[side])} for side in ("validation", "test")}
    # Out of fold on train + validation, the folds of core.pipeline.cross_validated.
    y_both = labels[both]
    folds = StratifiedKFold(n_splits=min(FOLDS, int(pd.Series(y_both).value_counts().min())), shuffle=True, random_state=0)
    oof = {"tfidf": _aligned(cross_val_predict(tfidf_estimator("classification", base.param), prepared.texts_at(both),
                                               y_both, cv=folds, method="predict_proba"), sorted(set(y_both)), classes)}
    oof["embedding"] = np.zeros((len(both), len(classes)))
    with threadpool_limits(limits=1):
        for train_at, test_at in folds.split(both, y_both):
            fit = _lr(settings, X_at(both[train_at]), prepared.y[both[train_at]])
            oof["embedding"][test_at] = _aligned(fit.predict_proba(X_at(both[test_at])), [classes[c] for c in fit.classes_],
                                                 classes)
        # Refitted on train + validation with the same C, as the product refits the chosen one.
        emb_refit = _lr(settings, X_at(both), prepared.y[both])
    tfidf_refit = tfidf_estimator("classification", base.param).fit(prepared.texts_at(both), y_both)
    refit = {"tfidf": _aligned(tfidf_refit.predict_proba(prepared.texts_at(s["test"])), tfidf_refit.classes_, classes),
             "embedding": _aligned(emb_refit.predict_proba(X_at(s["test"])), [classes[c] for c in emb_refit.classes_], classes)}
    for table in (proba["validation"], proba["test"], oof, refit):
        table["softvote"] = (table["tfidf"] + table["embedding"]) / 2
    truth = {"val": labels[s["validation"]], "test": labels[s["test"]]}
    return {"set": name, "seed": seed, "rows": len(df), "n": {k: int(len(v)) for k, v in s.items()}, "cv_n": int(len(both)),
            "val": {k: _f1(truth["val"], p, classes) for k, p in proba["validation"].items()},
            "oof": {k: _f1(y_both, p, classes) for k, p in oof.items()},
            "test_train_copy": {k: _f1(truth["test"], p, classes) for k, p in proba["test"].items()},
            "test": {k: _f1(truth["test"], p, classes) for k, p in refit.items()},
            "seconds": round(time.monotonic() - started, 1), "embed_seconds": round(embed_seconds, 1)}


def regrets(record: dict, stored: dict | None) -> dict:
    """Each rule's choice and regret (points), among the cheap candidates and with the fine-tune:
    ``today``; ``oof`` (the fine-tune decided as today, against the cheap leader on validation; when
    it does not win, the cheap one chosen out of fold); ``oof_vs_leader`` (the cheap leader chosen out
    of fold first, then the fine-tune against that leader's validation score)."""
    out: dict = {}
    test = dict(record["test"])
    for rule, basis in (("today", record["val"]), ("oof", record["oof"])):
        chosen = sequential(list(CHEAP), basis)
        out[f"cheap_{rule}"] = chosen
        out[f"cheap_{rule}_regret"] = round((max(test[k] for k in CHEAP) - test[chosen]) * 100, 2)
    matches = stored is not None and abs(stored["val"].get("tfidf", -1) - record["val"]["tfidf"]) <= 0.002
    out["fine_tune_from"] = (stored or {}).get("from") if matches else ("split differs" if stored else None)
    out["stored_val"] = (stored or {}).get("val")  # beside the replay's: the same split gives the same TF-IDF score
    if matches and "transformer" in stored["val"]:
        val = {**record["val"], "transformer": stored["val"]["transformer"]}
        test["transformer"] = stored["test"]["transformer"]
        best = max(test.values())
        today = sequential(["transformer"], val, leader=out["cheap_today"])
        choices = {"today": today, "oof": today if today == "transformer" else out["cheap_oof"],
                   "oof_vs_leader": sequential(["transformer"], val, leader=out["cheap_oof"])}
        for rule, chosen in choices.items():
            out[f"all_{rule}"], out[f"all_{rule}_regret"] = chosen, round((best - test[chosen]) * 100, 2)
        out["fine_tune"] = {"val": stored["val"]["transformer"], "test": stored["test"]["transformer"]}
    return out


def summary(records: list[dict]) -> None:
    table = pd.DataFrame(records)
    print("\n| choice among | rule | runs | mean regret (points) | worst | runs with regret > 0 |")
    print("|---|---|---:|---:|---:|---:|")
    for scope in ("cheap", "all"):
        for rule in ("today", "oof", "oof_vs_leader"):
            column = f"{scope}_{rule}_regret"
            if column not in table:
                continue
            regret = table[column].dropna().to_numpy(dtype=float)
            if len(regret):
                where = "the three cheap candidates" if scope == "cheap" else "cheap + the stored fine-tune"
                print(f"| {where} | {rule} | {len(regret)} | {regret.mean():.2f} | {regret.max():.2f} | {(regret > 0).sum()} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    results = ROOT / "bench" / "results"
    parser.add_argument("--results", nargs="*", default=[str(results / "regret_r4.jsonl"), str(ROOT / "docs" / "measurements.md"),
                                                          str(results / "regret_r6.jsonl"), str(results / "regret_r7.jsonl")],
                        help="the regret bench's JSON lines or docs/measurements.md (its uncapped table), oldest first: "
                             "a later one wins for the same set and seed")
    parser.add_argument("--out", default=None, help="append each run as a JSON line to this file")
    parser.add_argument("--summarise", default=None, metavar="FILE",
                        help="fit nothing: the rules again on the runs an earlier --out FILE holds, with --results")
    args = parser.parse_args()
    stored = stored_runs(args.results, args.rows)
    if args.summarise:
        records = [json.loads(line) for line in Path(args.summarise).read_text(encoding="utf-8").splitlines()]
        for record in records:
            record.update(regrets(record, stored.get((record["set"], record["seed"]))))
            print(json.dumps({k: record.get(k) for k in ("set", "seed", "cheap_today", "cheap_oof", "all_today", "all_oof",
                                                         "all_oof_vs_leader", "fine_tune_from")}))
        return summary(records)
    records = []
    for name in args.sets:
        for seed in args.seeds:
            record = cheap_scores(name, args.rows, seed)
            record.update(regrets(record, stored.get((name, seed))))
            records.append(record)
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
    summary(records)


if __name__ == "__main__":
    main()
