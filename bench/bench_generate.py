"""Benchmark: suggested rewrites (core/generate.py) with SmolLM2-135M-Instruct on this CPU.

Timed: loading the generator (the 4-bit GGUF file, dequantised by transformers; once per process)
and, for each of ``--headlines`` held-out review titles used as base ad copy, ``--n`` rewrites
(``--max-chars`` limit): tokens generated per second, seconds per attempt and per rewrite kept,
the attempts dropped and why. Each rewrite is scored by a classifier trained on other titles: a
TF-IDF + logistic regression model (core.evaluation.tfidf_estimator, saved as core's
TfidfClassifier) fitted on ``--train-rows`` titles of /work/shared/data/womens_clothing_ecommerce_reviews.csv
(Women's E-Commerce Clothing Reviews, CC0) to predict ``recommended``; the base titles are taken
from rows it never saw (titles standing in for ad headlines; its held-out accuracy is printed for
orientation only). Torch threads: core.cpu.cpu_threads (1 on a busy machine).

Quality of the writing (issue 30: "12 of 17 attempts echoed the base copy"), counted here rather
than read from the generator's own filters, so that a change of filter cannot flatter itself:
``delivered`` (share of the requested rewrites that came back), ``copy_share`` (share of attempts
dropped as the base again or a near-copy of it), ``echo_share`` (share dropped as talk about the
task), ``distinct_from_base`` (mean 1 - similarity of each kept rewrite to the base) and
``distinct_between`` (mean 1 - similarity between two kept rewrites of the same base), similarity
being difflib's ratio on the normalised texts (core.generate.normalise: lower-cased, no
punctuation); ``near_copies_kept``: kept rewrites at similarity >= 0.8 to the base;
``meaning_kept``: mean cosine similarity of each kept rewrite to its base in all-MiniLM-L6-v2's
mean-pooled embeddings (core.ood.encoder_embedder("minilm-en")), a check that distinct wording did
not cost the topic (about 0.2 between unrelated review titles, 1 for the same text);
``meaning_kept_real`` the same over the kept rewrites that are no near-copy (a near-copy scores
near 1 and flatters a run that keeps them), ``real_rewrites`` their number.
``--rescore FILE...`` recomputes these for the JSON lines of earlier runs (results or printed output),
and ``refiltered_now``: what the filters of this checkout would do with the rewrites those runs kept
(kept, repaired, or dropped and why: :func:`refilter`).

The machine is shared: the load averages are recorded with every number. One line per headline and
a summary line go to bench/results/generate.jsonl (``--label`` names the run, e.g. "before").

``--threads`` also times greedy generation with 1 and with 2 torch threads; ``--batch-check`` times
it with 1 and with ``BATCH_SIZE`` replies per pass (alternately, twice each, so a load change hits both).
``--batch``, ``--tries`` and ``--no-ban`` set core.generate's BATCH_SIZE, TRIES_PER_SLOT and BAN_BASE
for a run (to compare with the shipped values on the same titles).

``--readings FILE`` (with ``--rescore``): one reader's verdicts on kept rewrites, JSON lines of
{"base", "text", "reads_right"} (bench/generate_readings.jsonl); the rescore then says how many kept
rewrites read right (``read_right`` of ``read``; ``unread``: kept rewrites the file has no verdict for),
and ``refiltered_now`` splits what this checkout's filters drop into ``odd_dropped`` and
``read_right_dropped``.

Usage: nice -n 5 .venv/bin/python -m bench.bench_generate [--n 5] [--headlines 3] [--skip 0] [--max-chars 80]
       [--threads] [--batch-check] [--label NAME] [--temperature T] [--top-p P] [--repetition-penalty R]
       [--batch B] [--tries T] [--no-ban] | --rescore FILE... [--readings FILE]
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_avg  # noqa: E402 - after the path is set, so the file also runs as a script

RESULTS = ROOT / "bench" / "results"
DATA = Path("/work/shared/data/womens_clothing_ecommerce_reviews.csv")


def title_classifier(train_rows: int, seed: int = 0):
    """(TfidfClassifier on titles -> recommended, held-out titles frame, held-out accuracy)."""
    from core.evaluation import tfidf_estimator
    from core.models import TfidfClassifier

    df = pd.read_csv(DATA, usecols=["title", "recommended"]).dropna()
    df = df[df["title"].str.len().between(15, 60)].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df["recommended"] = df["recommended"].astype(int).astype(str)
    train, held = df.iloc[:train_rows], df.iloc[train_rows:]
    pipeline = tfidf_estimator("classification", 1.0).fit(train["title"].tolist(), train["recommended"])
    schema = {"text_columns": ["title"], "profile_columns": [], "label_column": "recommended", "positive_class": "1"}
    model = TfidfClassifier.from_pipeline(pipeline, task="classification", classes=["0", "1"], schema=schema)
    accuracy = float((pipeline.predict(held["title"].tolist()[:2000]) == held["recommended"][:2000]).mean())
    return model, held, accuracy


def thread_check(chat, tokens: int = 24) -> dict[str, float]:
    """Greedy tokens/s of the loaded generator with 1 and with 2 torch threads (the same prompt,
    ``tokens`` new tokens each), to check core/cpu.py's choice of threads for this model."""
    import torch

    from core.generate import build_messages

    inputs = chat.tokenizer.apply_chat_template(build_messages("Our softest summer dress."), add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
    speeds = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        with torch.inference_mode():
            chat.model.generate(**inputs, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)
        speeds[f"tokens_per_s_{threads}_threads"] = round(tokens / (time.perf_counter() - t0), 2)
    return speeds


def batch_check(chat, tokens: int = 24, rounds: int = 2) -> dict[str, float]:
    """Greedy tokens/s (all rows' tokens / seconds) of the loaded generator writing 1 and
    ``core.generate.BATCH_SIZE`` replies per pass, ``tokens`` new tokens each, the two alternated
    ``rounds`` times (best of each kept), with core.cpu.cpu_threads threads."""
    import torch

    from core.cpu import cpu_threads
    from core.generate import BATCH_SIZE, build_messages

    inputs = chat.tokenizer.apply_chat_template(build_messages("Our softest summer dress."), add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
    torch.set_num_threads(cpu_threads())
    best: dict[int, float] = {}
    for _ in range(rounds):
        for rows in (1, BATCH_SIZE):
            t0 = time.perf_counter()
            batch = {key: value.repeat(rows, 1) for key, value in inputs.items()}  # greedy: no num_return_sequences
            with torch.inference_mode():
                chat.model.generate(**batch, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)
            best[rows] = max(best.get(rows, 0.0), rows * tokens / (time.perf_counter() - t0))
    return {f"tokens_per_s_batch_{rows}": round(speed, 2) for rows, speed in best.items()} | {"threads": cpu_threads()}


def similarity(a: str, b: str) -> float:
    """difflib's ratio (2 x matching characters / both lengths) of the normalised texts, 0..1."""
    from core.generate import normalise

    return difflib.SequenceMatcher(None, normalise(a), normalise(b)).ratio()


def meaning_kept(base: str, texts: list[str]) -> float | None:
    """Mean cosine similarity of ``texts`` to ``base`` in MiniLM's sentence embeddings (module docstring)."""
    if not texts:
        return None
    from core.ood import encoder_embedder

    emb = np.asarray(encoder_embedder("minilm-en")([base, *texts]), dtype=float)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return round(float((emb[1:] @ emb[0]).mean()), 3)


def load_readings(path: str | None) -> dict[tuple[str, str], bool]:
    """(base, rewrite) -> reads right, from a JSON lines file of one reader's verdicts (module docstring)."""
    if not path:
        return {}
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["base"], r["text"]): bool(r["reads_right"]) for r in lines}


def read_right(lines: list[dict], readings: dict[tuple[str, str], bool]) -> dict[str, float | int | None]:
    """How many kept rewrites of ``lines`` read right by ``readings``, of those it has a verdict for."""
    verdicts = [readings.get((r["base"], t)) for r in lines for t in r["rewrites"]]
    read = [v for v in verdicts if v is not None]
    return {"read_right": sum(read), "read": len(read), "unread": len(verdicts) - len(read),
            "read_right_share": round(sum(read) / len(read), 3) if read else None}


def rescore(files: list[str], readings_file: str | None = None) -> int:
    """Print, per run label, the quality measures recomputed from the per-headline lines of ``files``."""
    readings = load_readings(readings_file)
    rows = [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.startswith("{")]
    for label in dict.fromkeys(r.get("label", "") for r in rows):
        lines = [r for r in rows if r.get("bench") == "generate" and r.get("label", "") == label]
        texts = [(r["base"], t) for r in lines for t in r["rewrites"]]
        pairs = [p for r in lines for p in itertools.combinations(r["rewrites"], 2)]
        meaning = [meaning_kept(r["base"], r["rewrites"]) for r in lines if r["rewrites"]]
        # the same over real rewrites only: a near-copy kept scores near 1 and flatters a run that keeps them
        real = [(r["base"], [t for t in r["rewrites"] if similarity(t, r["base"]) < 0.8]) for r in lines]
        real_meaning = [meaning_kept(b, ts) for b, ts in real if ts]
        attempts = sum(r["attempts"] for r in lines)
        print(json.dumps({"label": label, "headlines": len(lines), "asked": sum(r["n"] for r in lines),
                          "kept": sum(r["kept"] for r in lines), "attempts": attempts,
                          "delivered": round(sum(r["kept"] for r in lines) / max(sum(r["n"] for r in lines), 1), 3),
                          "copy_share": round(sum(r["copies_dropped"] for r in lines) / max(attempts, 1), 3),
                          "echo_share": round(sum(r["echoes_dropped"] for r in lines) / max(attempts, 1), 3),
                          "distinct_from_base": round(float(np.mean([1 - similarity(t, b) for b, t in texts])), 3),
                          "distinct_between": round(float(np.mean([1 - similarity(a, b) for a, b in pairs])), 3),
                          "near_copies_kept": sum(similarity(t, b) >= 0.8 for b, t in texts),
                          "meaning_kept": round(float(np.mean(meaning)), 3) if meaning else None,
                          "real_rewrites": sum(len(ts) for _, ts in real),
                          "meaning_kept_real": round(float(np.mean(real_meaning)), 3) if real_meaning else None,
                          "tokens_per_s": round(sum(r["tokens"] for r in lines) / sum(r["generation_s"] for r in lines), 2),
                          "s_per_kept_rewrite": round(sum(r["wall_s"] for r in lines) / max(sum(r["kept"] for r in lines), 1), 1),
                          "loads": [r["load_before"] for r in lines], **(read_right(lines, readings) if readings else {}),
                          "refiltered_now": refilter(lines, readings)}))
    return 0


def refilter(lines: list[dict], readings: dict[tuple[str, str], bool] | None = None) -> dict[str, int]:
    """How the shipped filters (core.generate: the repair of a phrase said twice, then drop_reason and
    the meaning check) would treat the rewrites an earlier run kept: reason -> count ("kept": kept
    as written, "repaired": kept once a repeated phrase is said once), over the JSON lines ``lines``;
    with ``readings``, also ``odd_dropped`` and ``read_right_dropped`` (of the rewrites it has a verdict for)."""
    from core.generate import MIN_MEANING, Generation, collapse_repeats, drop_reason, language_of, meaning_scorer

    counts: dict[str, int] = {}
    for r in lines:
        kept: list[str] = []
        cosine = meaning_scorer(r["base"])
        for text in r["rewrites"]:
            fixed = collapse_repeats(text, r["base"])
            why = drop_reason(Generation(fixed), fixed, base_copy=r["base"], kept=kept, keep_words=(), avoid_words=(),
                              max_chars=r.get("max_chars", 80), base_language=language_of(r["base"]))
            if why is None and cosine is not None and cosine(fixed) < MIN_MEANING:
                why = "off_meaning"
            if why is None:
                kept.append(fixed)
                why = "repaired" if fixed != text else "kept"
            counts[why] = counts.get(why, 0) + 1
            verdict = (readings or {}).get((r["base"], text))
            if verdict is not None and why not in ("kept", "repaired"):
                key = "read_right_dropped" if verdict else "odd_dropped"
                counts[key] = counts.get(key, 0) + 1
    return counts


COPIES = ("same_as_base", "near_copy")  # the drop reasons that mean "the base copy again, or nearly"


def quality(base: str, texts: list[str], dropped: dict[str, int], attempts: int) -> dict[str, float | int | None]:
    """The writing's quality measures for one base (module docstring)."""
    pairs = list(itertools.combinations(texts, 2))
    return {"copies_dropped": sum(dropped.get(r, 0) for r in COPIES), "echoes_dropped": dropped.get("echo", 0),
            "distinct_from_base": round(float(np.mean([1 - similarity(t, base) for t in texts])), 3) if texts else None,
            "distinct_between": round(float(np.mean([1 - similarity(a, b) for a, b in pairs])), 3) if pairs else None,
            "near_copies_kept": sum(similarity(t, base) >= 0.8 for t in texts), "meaning_kept": meaning_kept(base, texts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--headlines", type=int, default=3)
    parser.add_argument("--max-chars", type=int, default=80)
    parser.add_argument("--skip", type=int, default=0, help="start after this many held-out titles (a fresh set)")
    parser.add_argument("--train-rows", type=int, default=3000)
    parser.add_argument("--threads", action="store_true", help="also time greedy generation with 1 and 2 torch threads")
    parser.add_argument("--label", default="", help="a name for this run in the results (e.g. before, after)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (default core.generate.TEMPERATURE)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling's p (default core.generate.TOP_P)")
    parser.add_argument("--repetition-penalty", type=float, help="default core.generate.REPETITION_PENALTY")
    parser.add_argument("--batch-check", action="store_true", help="also time greedy generation of 1 and BATCH_SIZE rows")
    parser.add_argument("--batch", type=int, help="replies per pass (default core.generate.BATCH_SIZE)")
    parser.add_argument("--tries", type=int, help="attempts per rewrite asked for (default core.generate.TRIES_PER_SLOT)")
    parser.add_argument("--no-ban", action="store_true", help="let the generator write the base copy again (BAN_BASE off)")
    parser.add_argument("--rescore", nargs="+", metavar="FILE", help="only recompute the measures of earlier runs' lines")
    parser.add_argument("--readings", metavar="FILE", help="with --rescore: one reader's verdicts (module docstring)")
    args = parser.parse_args()
    if args.rescore:
        return rescore(args.rescore, args.readings)
    import core.generate as generate

    for name, value in (("TEMPERATURE", args.temperature), ("TOP_P", args.top_p),
                        ("REPETITION_PENALTY", args.repetition_penalty), ("BATCH_SIZE", args.batch),
                        ("TRIES_PER_SLOT", args.tries), ("BAN_BASE", False if args.no_ban else None)):
        if value is not None:  # write_rewrites reads them at each call
            setattr(generate, name, value)
    sampling = {"temperature": generate.TEMPERATURE, "top_p": generate.TOP_P,
                "repetition_penalty": getattr(generate, "REPETITION_PENALTY", None),  # None: a version without it
                "batch_size": getattr(generate, "BATCH_SIZE", 1), "tries_per_slot": generate.TRIES_PER_SLOT,
                "ban_base": getattr(generate, "BAN_BASE", False)}
    print(f"sampling: {sampling}")
    from core.cpu import cpu_threads
    from core.generate import generator_info, load_generator, suggest_rewrites

    model, held, accuracy = title_classifier(args.train_rows)
    print(f"title classifier: held-out accuracy {accuracy:.3f} (orientation only) | load {load_avg()}")
    before = load_avg()
    started = time.perf_counter()
    chat = load_generator()
    load_s = time.perf_counter() - started
    info = generator_info()
    print(f"loaded {info['name']} ({info['megabytes']} MB) in {load_s:.1f} s | load {before} -> {load_avg()}")
    threads = {**thread_check(chat), "load": load_avg()} if args.threads else {}
    if threads:
        print(f"greedy speed by torch threads: {threads}")
    if args.batch_check:
        threads["batch_check"] = {**batch_check(chat), "load": load_avg()}
        print(f"greedy speed by rows per pass: {threads['batch_check']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "generate.jsonl"
    totals = {"tokens": 0, "generation_s": 0.0, "attempts": 0, "kept": 0, "wall_s": 0.0, "copies_dropped": 0,
              "echoes_dropped": 0, "near_copies_kept": 0}
    from_base, between = [], []
    with out.open("a", encoding="utf-8") as fh:
        for base in held["title"].iloc[args.skip:args.skip + args.headlines]:
            before, t0 = load_avg(), time.perf_counter()
            result = suggest_rewrites(base, args.n, classifier=model, max_chars=args.max_chars, seed=0)
            wall = time.perf_counter() - t0
            texts = [r.text for r in result]
            row = {"bench": "generate", "label": args.label, **sampling, "base": base, "n": args.n, "kept": len(result),
                   "attempts": result.attempts, **quality(base, texts, result.dropped, result.attempts),
                   "dropped": result.dropped, "tokens": result.tokens, "generation_s": round(result.generation_s, 2),
                   "tokens_per_s": round(result.tokens / result.generation_s, 2) if result.generation_s else None,
                   "s_per_attempt": round(result.generation_s / max(result.attempts, 1), 2),
                   "s_per_kept_rewrite": round(wall / max(len(result), 1), 2), "wall_s": round(wall, 2),
                   "base_score": result.base_score, "scores": [round(r.score, 3) for r in result],
                   "rewrites": [r.text for r in result], "threads": cpu_threads(),
                   "load_before": before, "load_after": load_avg(), "time": time.time()}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            print(json.dumps(row, ensure_ascii=False))
            for key in ("tokens", "generation_s", "attempts", "kept", "copies_dropped", "echoes_dropped", "near_copies_kept"):
                totals[key] += row[key]
            totals["wall_s"] += wall
            from_base += [1 - similarity(t, base) for t in texts]
            between += [1 - similarity(a, b) for a, b in itertools.combinations(texts, 2)]
        attempts = max(totals["attempts"], 1)
        summary = {"bench": "generate-summary", "label": args.label, **sampling, "generator": info["name"], "megabytes": info["megabytes"],
                   "delivered": round(totals["kept"] / (args.headlines * args.n), 3),
                   "copy_share": round(totals["copies_dropped"] / attempts, 3),
                   "echo_share": round(totals["echoes_dropped"] / attempts, 3),
                   "distinct_from_base": round(float(np.mean(from_base)), 3) if from_base else None,
                   "distinct_between": round(float(np.mean(between)), 3) if between else None,
                   "near_copies_kept": totals["near_copies_kept"], "kept": totals["kept"], "attempts": totals["attempts"],
                   "load_s": round(load_s, 1), "headlines": args.headlines, "n": args.n, "max_chars": args.max_chars,
                   "tokens_per_s": round(totals["tokens"] / max(totals["generation_s"], 1e-9), 2),
                   "s_per_attempt": round(totals["generation_s"] / max(totals["attempts"], 1), 2),
                   "attempts_per_kept": round(totals["attempts"] / max(totals["kept"], 1), 2),
                   "s_per_kept_rewrite": round(totals["wall_s"] / max(totals["kept"], 1), 2),
                   "classifier_accuracy": round(accuracy, 3), "thread_check": threads, "load_end": load_avg(), "time": time.time(),
                   "seconds_total": round(totals["wall_s"] + load_s, 1)}
        fh.write(json.dumps(summary) + "\n")
    print(json.dumps(summary))
    return 0 if np.isfinite(summary["tokens_per_s"]) else 1


if __name__ == "__main__":
    sys.exit(main())
