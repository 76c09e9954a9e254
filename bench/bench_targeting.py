"""Customer-response benchmark: transformer vs gradient boosting vs hybrid, on one split.

    PYTHONPATH=. .venv/bin/python bench/bench_targeting.py [--dataset bank|clothing|both]
        [--epochs 3] [--seed 0] [--no-transformer] [--out bench/results/bench_targeting.json]
    PYTHONPATH=. .venv/bin/python bench/bench_targeting.py --recheck bench/results/<run>_scores.csv

A run writes its JSON (``--out``) and, next to it, ``<out stem>_<data>_scores.csv`` with every
model's raw validation and test scores; ``--recheck`` recomputes calibration, test metrics and
the recommendation from such a file with the current code, without retraining.

Protocol (both data sets): a stratified sample of 10,000 rows (seed 0) goes through
``core.response.train_response_models`` with ``test_fraction=0.5`` and ``val_fraction=0.1``:
5,000 training rows (4,000 to fit, 1,000 validation rows that calibrate each model and choose
the recommended one) and 5,000 test rows that only produce the numbers below. Every model sees
the same rows.

- bank: UCI Bank Marketing (Moro, Cortez & Rita 2014, CC BY 4.0), response ``y == "yes"``, the
  15 profile columns, ``duration`` dropped (known only after the call: it leaks the answer).
  The data has no text column, so there is no hybrid; the transformer reads the profile fields
  as text ("age: 58 | job: management | ...").
- clothing: Women's E-Commerce Clothing Reviews (CC0), rows with a review, response
  ``recommended == 1``, profile ``age`` and ``department``, text ``text`` (the review). Here all
  three models run, the hybrid included. ``rating`` is left out (it all but states the answer).

The transformer is minilm-en (all-MiniLM-L6-v2) with the default recipe (3 epochs, lr 1e-4,
batch 32, max length 128) unless ``--epochs`` says otherwise. Training seconds are wall-clock on
this machine; the machine is shared, so the load average (``uptime``) is recorded before and
after each data set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from core.response import ResponseSetup, train_response_models

DATA = Path("/work/shared/data")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' to_markdown needs the optional 'tabulate')."""

    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _sample(df: pd.DataFrame, label: str, n: int, seed: int) -> pd.DataFrame:
    if len(df) <= n:
        return df
    keep, _ = train_test_split(df, train_size=n, stratify=df[label], random_state=seed)
    return keep.sort_index()


def load(name: str, n: int, seed: int) -> tuple[pd.DataFrame, dict]:
    if name == "bank":
        df = pd.read_csv(DATA / "bank_marketing_full.csv").drop(columns=["duration"])
        spec = {"profile": [c for c in df.columns if c != "y"], "text": [], "label": "y", "positive": "yes"}
    elif name == "clothing":
        df = pd.read_csv(DATA / "womens_clothing_ecommerce_reviews.csv", keep_default_na=False, na_values=[""])
        df = df[df["text"].notna() & (df["text"].astype(str).str.strip() != "")]
        spec = {"profile": ["age", "department"], "text": ["text"], "label": "recommended", "positive": "1"}
    else:
        raise ValueError(f"unknown data set {name!r}")
    return _sample(df, spec["label"], n, seed), spec


def run(name: str, args: argparse.Namespace) -> dict:
    df, spec = load(name, args.n_train + args.n_test, args.seed)
    before = _uptime()
    last = [0.0]

    def progress(event) -> None:
        now = time.monotonic()
        if now - last[0] > 30 or event.phase != "transformer":
            print(f"[{name}] {event.phase} {event.fraction:.0%} {event.message}", file=sys.stderr, flush=True)
            last[0] = now

    t0 = time.monotonic()
    setup = ResponseSetup(
        spec["profile"],
        spec["text"],
        spec["label"],
        spec["positive"],
        base_model=args.base_model,
        seed=args.seed,
        val_fraction=args.n_train * 0.2 / (args.n_train + args.n_test),
        test_fraction=args.n_test / (args.n_train + args.n_test),
        include_transformer=not args.no_transformer,
        transformer_settings={"epochs": args.epochs},
    )
    comp = train_response_models(df, setup, on_progress=progress)
    total = time.monotonic() - t0
    table = comp.table().drop(columns=["key"])
    # The raw scores, so that calibration or metrics can be re-examined without retraining.
    scores = pd.DataFrame({"split": "test", "y": comp.y_test, **{f"raw_{n}": c.test_scores_raw for n, c in comp.candidates.items()}})
    val = pd.DataFrame({"split": "validation", "y": comp.y_val, **{f"raw_{n}": c.val_scores_raw for n, c in comp.candidates.items()}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([val, scores]).to_csv(args.out.with_name(f"{args.out.stem}_{name}_scores.csv"), index=False, float_format="%.6g")
    return {
        "data": name,
        "rows": {k: int(v) for k, v in comp.split.value_counts().items()},
        "base_rate_test": float(comp.y_test.mean()),
        "profile_columns": comp.profile_columns,
        "column_kinds": comp.column_kinds,
        "text_columns": comp.text_columns,
        "models": {n: c.metrics for n, c in comp.candidates.items()},
        "recommended": comp.recommended,
        "recommendation": comp.recommendation,
        "table_markdown": _markdown(table),
        "seconds_total": round(total, 1),
        "uptime_before": before,
        "uptime_after": _uptime(),
        "warnings": comp.warnings,
    }


def recheck(path: Path) -> None:
    """Recompute calibration, test metrics and the recommendation from a saved scores CSV (the
    raw validation and test scores of a run), with the code as it is now; no retraining."""
    from core.calibration import choose_calibrator
    from core.response import _response_metrics, recommend_model

    d = pd.read_csv(path)
    val, test = d[d["split"] == "validation"], d[d["split"] == "test"]
    names = [c[4:] for c in d.columns if c.startswith("raw_")]
    y_val, y_test = val["y"].to_numpy(), test["y"].to_numpy()
    out = {}
    for n in names:
        cal, info = choose_calibrator(val[f"raw_{n}"].to_numpy(), y_val)
        p_test = cal.transform(test[f"raw_{n}"].to_numpy().clip(0, 1))
        m = _response_metrics(y_test, test[f"raw_{n}"].to_numpy(), p_test)
        out[n] = {k: m[k] for k in ("roc_auc", "top_decile_lift", "ece_uncalibrated", "ece_calibrated", "readout")}
        out[n]["calibration"] = info["method"]
    best, reason = recommend_model({n: val[f"raw_{n}"].to_numpy() for n in names}, y_val)
    print(json.dumps({"scores": str(path), "models": out, "recommended": best, "recommendation": reason}, indent=2, default=float))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recheck", type=Path, help="a saved *_scores.csv: recompute without retraining")
    ap.add_argument("--dataset", choices=["bank", "clothing", "both"], default="both")
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-model", default="minilm-en")
    ap.add_argument("--no-transformer", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_targeting.json"))
    args = ap.parse_args()
    if args.recheck:
        recheck(args.recheck)
        return
    names = ["bank", "clothing"] if args.dataset == "both" else [args.dataset]
    results = {"cpu_count": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    for name in names:
        res = run(name, args)
        results["runs"].append(res)
        print(f"\n## {name}  ({res['uptime_before']})\n\n{res['table_markdown']}\n", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
