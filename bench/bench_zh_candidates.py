"""The cheap candidates and the choice among them, on cached embeddings (issue 28, Chinese, round 10).

    OMP_NUM_THREADS=1 nice -n 5 python -m bench.zh_embed_cache --set zh --seed 0        # once per seed
    OMP_NUM_THREADS=1 nice -n 5 python -m bench.bench_zh_candidates --set zh --seed 0

The sample, its disjoint held-out rows and the product's 70/10/20 split of the training rows are
bench.bench_embedding_rows' (same seed, same rows); the e5 embeddings are read from
bench.zh_embed_cache's files (checked against the texts). Nothing here calls core.pipeline: every
candidate is rebuilt from scikit-learn parts, all logistic regressions class-balanced as the
product's (max_iter 3000), so that variants of the candidates and of the choice cost seconds.

Candidates (each a pipeline on row positions, so TF-IDF is fitted inside each fold):

- ``tfidf_product``: core.evaluation.tfidf_features (word 1-2-grams, scikit-learn's default token
  pattern, + char_wb 1-3-grams) + LR, C in (1, 4, 16);
- ``tfidf_char``: character 1-3-grams (sublinear tf, min_df 2) + LR: issue 28's yardstick;
- ``tfidf_jieba_char``: jieba words 1-2-grams (core.words.chinese_segmenter, every token but
  whitespace) + character 1-3-grams;
- ``emb``: the e5 embeddings + LR, C in core.embedding.C_GRID;
- ``vote(a)``: the mean of ``a``'s and ``emb``'s class probabilities (core.softvote's rule);
- ``concat(a)``: one LR on ``a``'s TF-IDF columns beside the embeddings (centred, times ``--emb-scale``).

Each candidate's C is chosen by 5-fold CV (macro-F1) on the rows it is fitted on; a vote's members
each choose their own. For every candidate this reports, on the product's split:

- ``val``: fitted on the training split (~1,400), macro-F1 on the validation split (~200): what
  today's rule sees;
- ``oof_tv``: 5-fold out-of-fold macro-F1 over train + validation (~1,600) at the C the CV chose
  (the same folds for every candidate): what an out-of-fold rule would see;
- ``oof_all``: the same over every labelled row (~2,000);
- ``held_tv`` / ``held_all``: held-out macro-F1 (``--test`` rows) of the copy fitted on train +
  validation / on every labelled row. Reported, never used to choose.

Then the rules: ``today`` (TF-IDF, embeddings, soft vote in that order; a later one kept when more
than core.evaluation.TIE_MARGIN ahead on validation; TF-IDF saved refitted on all rows, the others on
train + validation, as core.pipeline does), ``oof`` (the same order and margin on ``oof_tv``) and
variants. The yardstick is bench_embedding_rows': character TF-IDF + LR on all ``--train`` rows, C by
5-fold CV (bench.bench_embedding.tfidf_run). One JSON line per run to ``--out``; ``--predictions``
adds each all-rows copy's held-out classes, and ``--summary [--summary-seeds ...]`` prints the tables of
docs/measurements.md (round 10) from those lines: every candidate against the yardstick, paired
bootstrap intervals between candidates, and every rule x candidate set x refit.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from bench.bench_embedding import loadavg, tfidf_run
from bench.bench_regret import SETS
from bench.zh_embed_cache import load, prepared_split

RESULTS = Path(__file__).resolve().parent / "results"
TFIDF_C = (1.0, 4.0, 16.0)  # core.evaluation.fit_baselines' grid


def jieba_tokens(text: str) -> list[str]:
    from core.words import chinese_segmenter

    return [w for w in chinese_segmenter().lcut(text) if w.strip()]


class Rows:
    """The texts and embeddings of the labelled rows, then the held-out rows, addressed by position."""

    def __init__(self, texts: list[str], X: np.ndarray, test_texts: list[str], X_test: np.ndarray) -> None:
        self.texts = np.asarray(texts + test_texts, dtype=object)
        self.X = np.vstack([X, X_test]).astype(np.float64)
        self.centre = X.mean(axis=0)  # of the labelled rows only
        self.n = len(texts)
        self.segmented: np.ndarray | None = None

    def words(self) -> np.ndarray:
        if self.segmented is None:  # jieba once per text, tokens joined by a separator no text holds
            self.segmented = np.asarray(["\x1f".join(jieba_tokens(t)) for t in self.texts], dtype=object)
        return self.segmented


def tfidf_part(kind: str, rows: Rows):
    """An unfitted transformer from row positions (an (n, 1) int array) to TF-IDF columns."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from core.evaluation import tfidf_features

    texts = FunctionTransformer(lambda idx: list(rows.texts[np.asarray(idx).ravel()]))
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    if kind == "product":
        return make_pipeline(texts, tfidf_features())
    if kind == "char":
        return make_pipeline(texts, char)
    if kind == "char14":
        return make_pipeline(texts, TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2))
    if kind == "jieba_char":
        words = make_pipeline(FunctionTransformer(lambda idx: list(rows.words()[np.asarray(idx).ravel()])),
                              TfidfVectorizer(tokenizer=lambda s: s.split("\x1f") if s else [], token_pattern=None,
                                              lowercase=True, ngram_range=(1, 2), sublinear_tf=True))
        return FeatureUnion([("words", words), ("chars", make_pipeline(texts, char))])
    raise ValueError(kind)


def emb_part(rows: Rows, scale: float = 1.0, centred: bool = False):
    from sklearn.preprocessing import FunctionTransformer

    shift = rows.centre if centred else 0.0
    return FunctionTransformer(lambda idx: (rows.X[np.asarray(idx).ravel()] - shift) * scale)


def estimator(name: str, rows: Rows, emb_scale: float):
    """(pipeline, C grid) of a single-model candidate."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    from core.embedding import C_GRID

    lr = LogisticRegression(max_iter=3000, class_weight="balanced")
    if name == "emb":
        return make_pipeline(emb_part(rows), lr), C_GRID
    if name.startswith("tfidf_"):
        return make_pipeline(tfidf_part(name.removeprefix("tfidf_"), rows), lr), TFIDF_C
    if name.startswith("concat_"):
        union = FeatureUnion([("tfidf", tfidf_part(name.removeprefix("concat_"), rows)),
                              ("emb", emb_part(rows, emb_scale, centred=True))])
        return make_pipeline(union, lr), TFIDF_C
    raise ValueError(name)


class Scorer:
    """One seed's candidates scored every way (module doc), with the fold plans shared by all."""

    def __init__(self, rows: Rows, y: np.ndarray, y_test: np.ndarray, splits: dict, seed: int, emb_scale: float) -> None:
        from sklearn.model_selection import StratifiedKFold

        self.rows, self.y, self.y_test, self.seed, self.emb_scale = rows, y, y_test, seed, emb_scale
        self.tr = np.sort(splits["train"])
        self.va = np.sort(splits["validation"])
        self.tv = np.sort(np.concatenate([self.tr, self.va]))
        self.all = np.arange(rows.n)
        self.test = np.arange(rows.n, rows.n + len(y_test))
        self.folds = lambda: StratifiedKFold(5, shuffle=True, random_state=seed)
        self.cache: dict[tuple, tuple] = {}
        self.keep_predictions = False

    def fit(self, name: str, fit_rows: np.ndarray) -> tuple:
        """(fitted estimator, C, CV macro-F1, out-of-fold probabilities on fit_rows at that C)."""
        from sklearn.base import clone
        from sklearn.model_selection import GridSearchCV, cross_val_predict

        key = (name, len(fit_rows), int(fit_rows.sum()))
        if key not in self.cache:
            pipe, grid = estimator(name, self.rows, self.emb_scale)
            idx, y = fit_rows.reshape(-1, 1), self.y[fit_rows]
            search = GridSearchCV(pipe, {"logisticregression__C": list(grid)}, scoring="f1_macro", cv=self.folds()).fit(idx, y)
            best = clone(pipe).set_params(logisticregression__C=search.best_params_["logisticregression__C"])
            oof = cross_val_predict(best, idx, y, cv=self.folds(), method="predict_proba")
            self.cache[key] = (search.best_estimator_, search.best_params_["logisticregression__C"],
                               float(search.best_score_), oof)
        return self.cache[key]

    def proba(self, name: str, fit_rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        return self.fit(name, fit_rows)[0].predict_proba(at.reshape(-1, 1))

    def members(self, name: str) -> list[str]:
        return ["tfidf_" + name.removeprefix("vote_"), "emb"] if name.startswith("vote_") else [name]

    def score(self, name: str) -> dict:
        from sklearn.metrics import f1_score

        order = np.unique(self.y)  # LogisticRegression.classes_ of every fit (the same class set)

        def f1(truth, proba) -> float:
            return round(float(f1_score(truth, order[proba.argmax(axis=1)], average="macro")), 4)

        def mean(fn) -> np.ndarray:
            parts = [fn(m) for m in self.members(name)]
            return sum(parts) / len(parts)

        out = {"val": f1(self.y[self.va], mean(lambda m: self.proba(m, self.tr, self.va))),
               "oof_tv": f1(self.y[self.tv], mean(lambda m: self.fit(m, self.tv)[3])),
               "oof_all": f1(self.y[self.all], mean(lambda m: self.fit(m, self.all)[3])),
               "held_tv": f1(self.y_test, mean(lambda m: self.proba(m, self.tv, self.test))),
               "held_all": f1(self.y_test, mean(lambda m: self.proba(m, self.all, self.test))),
               "C_all": [self.fit(m, self.all)[1] for m in self.members(name)]}
        if self.keep_predictions:  # the all-rows copy's held-out classes, one character per row, for paired bootstraps
            out["pred_all"] = "".join(str(int(i)) for i in mean(lambda m: self.proba(m, self.all, self.test)).argmax(axis=1))
        return out


def choose(scores: dict, order: list[str], on: str, margin: float) -> str:
    """core.pipeline.choose_leader's rule: cheapest first, a later one kept when more than ``margin`` ahead."""
    leader = order[0]
    for name in order[1:]:
        if scores[name][on] > scores[leader][on] + margin:
            leader = name
    return leader


def variant_name(record: dict, name: str) -> str:
    """A candidate's name in the summary: with its embedding scale / max length where not the default."""
    extra = "" if record.get("emb_scale", 1.0) == 1.0 or not name.startswith("concat_") else f" x{record['emb_scale']:g}"
    extra += "" if record.get("max_length", 128) == 128 else f" len{record['max_length']}"
    return name + extra


def paired_bootstrap(truth: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(macro-F1 of a minus b, 2.5th and 97.5th percentile of that difference over ``n_boot`` resamples of the rows), points."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(truth), len(truth))
        deltas.append(f1_score(truth[idx], a[idx], average="macro") - f1_score(truth[idx], b[idx], average="macro"))
    delta = f1_score(truth, a, average="macro") - f1_score(truth, b, average="macro")
    low, high = np.percentile(deltas, [2.5, 97.5])
    return 100 * delta, 100 * low, 100 * high


def summary(path: Path, set_name: str, only: list[int] | None = None) -> None:
    """Tables over the seeds of ``path``'s lines for ``set_name``: every candidate held out (fitted on all rows and
    on train + validation) against the yardstick, and the choice rules, including the rules that also
    consider ``concat_char`` (the same rule, cheapest first: TF-IDF, embeddings, soft vote, concatenation)."""
    from core.evaluation import TIE_MARGIN

    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_seed: dict[int, dict[str, dict]] = {}
    base: dict[int, float] = {}
    for r in lines:
        if r["set"] != set_name or (only and r["seed"] not in only):
            continue
        base[r["seed"]] = r["tfidf_char_yardstick"]["macro_f1"]
        for name, c in r["candidates"].items():
            by_seed.setdefault(r["seed"], {})[variant_name(r, name)] = c
    seeds = sorted(by_seed)
    names = list(dict.fromkeys(n for s in seeds for n in by_seed[s]))
    print(f"| candidate ({set_name}) | " + " | ".join(f"seed {s}: held out, all rows (vs char {base[s]:.3f})" for s in seeds)
          + " | mean points (min..max) | fitted on train + validation: mean points | mean oof all rows |")
    print("|---|" + "---:|" * (len(seeds) + 3))
    for n in names:
        if not all(n in by_seed[s] for s in seeds):
            continue
        pts = [(by_seed[s][n]["held_all"] - base[s]) * 100 for s in seeds]
        tv = [(by_seed[s][n]["held_tv"] - base[s]) * 100 for s in seeds]
        cells = " | ".join(f"{by_seed[s][n]['held_all']:.3f} ({p:+.1f})" for s, p in zip(seeds, pts))
        oof = np.mean([by_seed[s][n]["oof_all"] for s in seeds])
        print(f"| {n} | {cells} | {np.mean(pts):+.2f} ({min(pts):+.1f}..{max(pts):+.1f}) | {np.mean(tv):+.2f} | {oof:.3f} |")
    print()
    pairs = [("concat_char", "vote_product"), ("concat_char", "emb"), ("vote_product", "emb"), ("vote_char", "emb")]
    truth = {r["seed"]: np.array(list(r["truth"]), dtype=int) for r in lines
             if r["set"] == set_name and "truth" in r and r["seed"] in seeds}
    if truth:
        print("| held out, all-rows copies (paired bootstrap over the 1,000 rows) | " + " | ".join(f"seed {s}" for s in seeds) + " |")
        print("|---|" + "---|" * len(seeds))
        for a, b in pairs:
            cells = []
            for s in seeds:
                ca, cb = by_seed[s].get(a, {}), by_seed[s].get(b, {})
                if s not in truth or "pred_all" not in ca or "pred_all" not in cb:
                    cells.append("")
                    continue
                d, lo, hi = paired_bootstrap(truth[s], np.array(list(ca["pred_all"]), dtype=int), np.array(list(cb["pred_all"]), dtype=int))
                cells.append(f"{d:+.1f} ({lo:+.1f}..{hi:+.1f})")
            print(f"| {a} minus {b} | " + " | ".join(cells) + " |")
        print()
    sets = {"product trio": ["tfidf_product", "emb", "vote_product"],
            "product trio + concat_char": ["tfidf_product", "emb", "vote_product", "concat_char"],
            "char trio": ["tfidf_char", "emb", "vote_char"],
            "char trio + concat_char": ["tfidf_char", "emb", "vote_char", "concat_char"],
            "jieba+char trio": ["tfidf_jieba_char", "emb", "vote_jieba_char"]}
    print("| candidates | chosen on | refit on | " + " | ".join(f"seed {s}" for s in seeds) + " | mean points (min..max) |")
    print("|---|---|---|" + "---|" * len(seeds) + "---:|")
    for label, order in sets.items():
        if not all(n in by_seed[s] for s in seeds for n in order):
            continue
        for on, on_words in (("val", "validation (~200)"), ("oof_tv", "oof train+validation (~1,600)"), ("oof_all", "oof all rows (~2,000)")):
            for refit in ("held_tv", "held_all", "product"):
                if refit == "product" and label != "product trio":
                    continue
                cells, pts = [], []
                for s in seeds:
                    pick = choose(by_seed[s], order, on, TIE_MARGIN)
                    key = ("held_all" if pick.startswith("tfidf") else "held_tv") if refit == "product" else refit
                    f1 = by_seed[s][pick][key]
                    pts.append((f1 - base[s]) * 100)
                    cells.append(f"{pick} {f1:.3f} ({pts[-1]:+.1f})")
                words = {"held_tv": "train + validation", "held_all": "all rows",
                         "product": "as core.pipeline (TF-IDF all rows, others train + validation)"}[refit]
                print(f"| {label} | {on_words} | {words} | " + " | ".join(cells) + f" | {np.mean(pts):+.2f} ({min(pts):+.1f}..{max(pts):+.1f}) |")


def main() -> None:
    from core.evaluation import TIE_MARGIN

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/r10zh"))
    parser.add_argument("--emb-scale", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=128, help="which cached embeddings (bench.zh_embed_cache --max-length)")
    parser.add_argument("--candidates", nargs="+",
                        default=["tfidf_product", "tfidf_char", "tfidf_jieba_char", "emb", "vote_product", "vote_char",
                                 "vote_jieba_char", "concat_char", "concat_jieba_char"])
    parser.add_argument("--out", type=Path, default=RESULTS / "zh_candidates_r10.jsonl")
    parser.add_argument("--summary", action="store_true", help="only print the tables over the seeds in --out")
    parser.add_argument("--summary-seeds", type=int, nargs="+", default=None, help="--summary over these seeds only")
    parser.add_argument("--predictions", action="store_true",
                        help="also record each all-rows copy's held-out predictions (class positions) and the truth")
    args = parser.parse_args()
    if args.summary:
        summary(args.out, args.set, args.summary_seeds)
        return
    from threadpoolctl import threadpool_limits

    base_model = args.base_model or SETS[args.set][2]
    frame, prepared, test, _ = prepared_split(args.set, args.train, args.test, args.seed, base_model)
    texts = prepared.texts_at(np.arange(len(prepared.y)))
    test_texts = test["text"].astype(str).tolist()
    cached = load(args.cache, args.set, base_model, args.seed, args.train, args.test, texts, test_texts, args.max_length)
    if cached is None:
        raise SystemExit(f"no cached embeddings: run python -m bench.zh_embed_cache --set {args.set} --seed {args.seed} first")
    started, load_before = time.monotonic(), loadavg()
    classes = np.asarray(prepared.classes).astype(str)
    y = classes[np.asarray(prepared.y)]
    scorer = Scorer(Rows(texts, cached[0], test_texts, cached[1]), y, test["label"].astype(str).to_numpy(),
                    prepared.splits, args.seed, args.emb_scale)
    scorer.keep_predictions = args.predictions
    record: dict = {"set": args.set, "seed": args.seed, "base_model": base_model, "train": args.train, "test": args.test,
                    "n_labelled": int(scorer.rows.n), "n_train": len(scorer.tr), "n_validation": len(scorer.va),
                    "emb_scale": args.emb_scale, "max_length": args.max_length, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_before": load_before, "candidates": {}, "seconds": {}}
    if args.predictions:
        order = list(np.unique(y))
        record["truth"] = "".join(str(order.index(v)) for v in scorer.y_test)
    with threadpool_limits(limits=1):
        record["tfidf_char_yardstick"] = tfidf_run(
            __import__("sklearn.feature_extraction.text", fromlist=["TfidfVectorizer"]).TfidfVectorizer(
                analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2),
            frame[frame["split"] == "train"], frame[frame["split"] == "test"], args.seed)
        for name in args.candidates:
            t0 = time.monotonic()
            record["candidates"][name] = scorer.score(name)
            record["seconds"][name] = round(time.monotonic() - t0, 1)
            print(name, {k: v for k, v in record["candidates"][name].items() if k != "pred_all"}, record["seconds"][name], flush=True)
    s = record["candidates"]
    rules = {}
    product = [c for c in ("tfidf_product", "emb", "vote_product") if c in s]
    if len(product) == 3:
        # The final copy as core.pipeline refits it: TF-IDF on all rows, embeddings / soft vote on train + validation.
        refit = {"tfidf_product": "held_all", "emb": "held_tv", "vote_product": "held_tv"}
        for rule, on in (("today (validation)", "val"), ("oof train+validation", "oof_tv")):
            pick = choose(s, product, on, TIE_MARGIN)
            rules[rule] = {"chosen": pick, "held_out": s[pick][refit[pick]], "held_out_all_rows_refit": s[pick]["held_all"]}
    for variant in ("char", "jieba_char"):
        trio = [f"tfidf_{variant}", "emb", f"vote_{variant}"]
        if all(c in s for c in trio):
            for rule, on in ((f"{variant}: validation", "val"), (f"{variant}: oof train+validation", "oof_tv"),
                             (f"{variant}: oof all rows", "oof_all")):
                pick = choose(s, trio, on, TIE_MARGIN)
                rules[rule] = {"chosen": pick, "held_out": s[pick]["held_all"]}
    record["rules"] = rules
    record.update(run_s=round(time.monotonic() - started, 1), load_after=loadavg(),
                  peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    args.out.parent.mkdir(exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    base = record["tfidf_char_yardstick"]["macro_f1"]
    print(f"\n| candidate (seed {args.seed}) | val | oof train+val | oof all | held (train+val fit) | held (all rows fit) | vs char TF-IDF ({base:.3f}) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in s.items():
        print(f"| {name} | {r['val']:.3f} | {r['oof_tv']:.3f} | {r['oof_all']:.3f} | {r['held_tv']:.3f} | {r['held_all']:.3f} | "
              f"{(r['held_all'] - base) * 100:+.1f} |")
    for rule, r in rules.items():
        print(f"rule {rule}: {r['chosen']} held out {r['held_out']:.3f} ({(r['held_out'] - base) * 100:+.1f})")
    print(json.dumps({k: record[k] for k in ("run_s", "load_before", "load_after", "peak_rss_mb")}))


if __name__ == "__main__":
    main()
