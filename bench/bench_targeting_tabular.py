"""Customer-targeting benchmark: TabularModel on the UCI bank-marketing data.

    PYTHONPATH=. .venv/bin/python bench/bench_targeting_tabular.py [--csv PATH] [--seed 0]

Protocol: drop ``duration`` (known only after the call: it leaks the answer), take a stratified
5,000-row training set and a disjoint stratified 5,000-row test set (seed 0). The model is fitted
on 4,000 training rows; the other 1,000 training rows (stratified) are the validation slice the
calibrators are fitted on. The test set is used only for the numbers printed. A one-hot logistic
regression is the baseline on the same rows; a model fitted on all 5,000 training rows is shown
for reference. Timings are wall-clock seconds on this machine, after a warm-up fit; fit time
is the median of --repeats fits.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.tabular import NUMERIC, TabularModel
from core.targeting import (
    expected_calibration_error,
    fit_calibrator,
    gains_readout,
    lift_by_decile,
    precision_recall_at,
)

DEFAULT_CSV = Path("/work/shared/data/bank_marketing_full.csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3, help="fits timed per thread setting")
    args = ap.parse_args()

    df = pd.read_csv(args.csv).drop(columns=["duration"])
    y_all = (df.pop("y") == "yes").astype(int).to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        df,
        y_all,
        train_size=args.n_train,
        test_size=args.n_test,
        stratify=y_all,
        random_state=args.seed,
    )
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_train, y_train, test_size=0.2, stratify=y_train, random_state=args.seed
    )

    # Warm-up: the first fit pays for importing scikit-learn's tree code and starting threads.
    TabularModel(max_iter=2).fit(X_fit.iloc[:300], y_fit[:300])
    # Fit times swing widely when OpenMP threads compete for busy cores, so report the median
    # of a few fits, with all cores (the default) and with one thread.
    fit_times: dict[str, list[float]] = {"all_cores": [], "one_thread": []}
    for _ in range(args.repeats):
        for key, n_threads in (("all_cores", None), ("one_thread", 1)):
            t0 = time.perf_counter()
            model = TabularModel(random_state=args.seed, n_threads=n_threads).fit(X_fit, y_fit)
            fit_times[key].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    p_test = model.predict_proba(X_test)[:, 1]
    predict_sklearn_s = time.perf_counter() - t0
    p_val = model.predict_proba(X_val)[:, 1]

    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        size_kb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1024
        loaded = TabularModel.load(tmp)
    t0 = time.perf_counter()
    p_loaded = loaded.predict_proba(X_test)[:, 1]
    predict_numpy_s = time.perf_counter() - t0

    lift = lift_by_decile(y_test, p_test)
    results: dict[str, object] = {
        "rows": {"fit": len(X_fit), "validation": len(X_val), "test": len(X_test)},
        "base_rate_test": float(y_test.mean()),
        "column_kinds": model.kinds_,
        "n_iter": model.n_iter_,
        "roc_auc": roc_auc_score(y_test, p_test),
        "log_loss": log_loss(y_test, p_test),
        "top_decile_lift": float(lift["lift"].iloc[0]),
        "top_decile_response_rate": float(lift["response_rate"].iloc[0]),
        "readout_20pct": gains_readout(y_test, p_test, 0.2),
        "precision_recall_top_10pct": precision_recall_at(y_test, p_test, share=0.1),
        "ece_raw": expected_calibration_error(y_test, p_test),
        "fit_seconds_median_all_cores": float(np.median(fit_times["all_cores"])),
        "fit_seconds_median_one_thread": float(np.median(fit_times["one_thread"])),
        "fit_seconds_all_runs": fit_times,
        "predict_seconds_sklearn_5000": predict_sklearn_s,
        "predict_seconds_numpy_loaded_5000": predict_numpy_s,
        "saved_size_kb": size_kb,
        "max_abs_diff_loaded_vs_sklearn": float(np.abs(p_loaded - p_test).max()),
    }
    for method in ("isotonic", "platt"):
        cal = fit_calibrator(p_val, y_val, method=method)
        p_cal = cal.transform(p_test)
        results[f"ece_{method}"] = expected_calibration_error(y_test, p_cal)
        results[f"roc_auc_{method}"] = roc_auc_score(y_test, p_cal)

    # Baseline: one-hot logistic regression on the same fit rows.
    num = [c for c, k in model.kinds_.items() if k == NUMERIC]
    cat = [c for c in model.columns_ if c not in num]
    baseline = make_pipeline(
        make_column_transformer((StandardScaler(), num), (OneHotEncoder(handle_unknown="ignore"), cat)),
        LogisticRegression(max_iter=2000),
    )
    t0 = time.perf_counter()
    baseline.fit(X_fit, y_fit)
    results["baseline_logreg_fit_seconds"] = time.perf_counter() - t0
    p_base = baseline.predict_proba(X_test)[:, 1]
    results["baseline_logreg_roc_auc"] = roc_auc_score(y_test, p_base)
    results["baseline_logreg_top_decile_lift"] = float(lift_by_decile(y_test, p_base)["lift"][0])
    results["baseline_logreg_ece"] = expected_calibration_error(y_test, p_base)

    t0 = time.perf_counter()
    full = TabularModel(random_state=args.seed).fit(X_train, y_train)
    results["all_5000_fit_seconds"] = time.perf_counter() - t0
    p_full = full.predict_proba(X_test)[:, 1]
    results["all_5000_roc_auc"] = roc_auc_score(y_test, p_full)
    results["all_5000_top_decile_lift"] = float(lift_by_decile(y_test, p_full)["lift"][0])

    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
