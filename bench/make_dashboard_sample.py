"""Build sample_data/dashboard_clothing_predictions.csv: a ready prediction file for the
Dashboard page.

What it is: real customer reviews (Women's E-Commerce Clothing Reviews, CC0) scored by a
sentiment model fine-tuned on the bundled UCI "Sentiment Labelled Sentences"
(sample_data/sentiment_reviews_en.csv, CC BY 4.0). Nothing about the reviews is invented
except the dates: the reviews carry none, so each row gets a synthetic ``review_date`` drawn
uniformly at random over ``--start``..``--end`` (written day-first, dd/mm/yyyy, so the page's
date parser shows its day/month-order report). Trends over time in this file are therefore
noise; segment differences (department, class, age group) are real model outputs on real reviews.

The model's classes are 0/1 (the UCI labels); they are renamed for readability:
``0 -> negative``, ``1 -> positive`` (``p_0``/``p_1`` become ``p_negative``/``p_positive``).

Steps (about 4 minutes on 2 CPU cores):

    .venv/bin/python -m core train --data sample_data/sentiment_reviews_en.csv \
        --text-col text --label-col label --out /tmp/sent_model --epochs 2
    .venv/bin/python bench/make_dashboard_sample.py --model /tmp/sent_model

The script prints the agreement of the predictions with the star ratings (a sanity check of
the model on this out-of-domain data, not a benchmark).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import load_folder  # noqa: E402
from core.predict import predict_frame  # noqa: E402

DATA = Path("/work/shared/data/womens_clothing_ecommerce_reviews.csv")
OUT = ROOT / "sample_data" / "dashboard_clothing_predictions.csv"
LABEL_NAMES = {"0": "negative", "1": "positive"}
AGE_BINS = [0, 25, 35, 45, 55, 65, 200]
AGE_NAMES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def age_group(age: pd.Series) -> pd.Series:
    """Ten-year bands (18-24 first): age itself has ~80 values, too many for a segment."""
    return pd.cut(age, bins=AGE_BINS, right=False, labels=AGE_NAMES).astype(object)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved sentiment model folder (0/1 classes)")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01", help="first synthetic date")
    parser.add_argument("--end", default="2024-06-30", help="last synthetic date")
    args = parser.parse_args()

    src = pd.read_csv(args.data)
    src.insert(0, "review_id", np.arange(1, len(src) + 1))  # row number in the source file
    src = src[src["text"].notna() & (src["text"].astype(str).str.strip() != "")]
    src = src.dropna(subset=["department", "class_name"])
    sample = src.sample(n=min(args.rows, len(src)), random_state=args.seed).sort_values("review_id")
    rng = np.random.default_rng(args.seed)
    days = pd.date_range(args.start, args.end, freq="D")
    # Independent of everything in the review; rows are then ordered by date, as an export
    # from a shop system would be.
    sample["date"] = days[rng.integers(0, len(days), len(sample))]
    sample = sample.sort_values(["date", "review_id"]).reset_index(drop=True)
    sample["review_date"] = sample["date"].dt.strftime("%d/%m/%Y")
    sample["age_group"] = age_group(sample["age"])

    model = load_folder(args.model)
    classes = [str(c) for c in model.classes_]
    if sorted(classes) != ["0", "1"]:
        raise ValueError(f"expected a model with classes 0/1; found {classes}")
    t0 = time.perf_counter()
    scored = predict_frame(model, sample[["text"]], batch_size=64)
    seconds = time.perf_counter() - t0
    out = sample[
        [
            "review_id",
            "review_date",
            "text",
            "title",
            "rating",
            "recommended",
            "department",
            "class_name",
            "age",
            "age_group",
        ]
    ].copy()
    out["predicted_label"] = scored["predicted_label"].astype(str).map(LABEL_NAMES)
    out["confidence"] = scored["confidence"].round(4)
    for c in classes:
        out[f"p_{LABEL_NAMES[c]}"] = scored[f"p_{c}"].round(4)
    if out["predicted_label"].isna().any():
        raise ValueError("some rows got no prediction")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)

    size = Path(args.out).stat().st_size
    print(
        f"wrote {len(out):,} rows to {args.out} ({size / 1e6:.2f} MB); "
        f"predicted in {seconds:.0f} s ({len(out) / seconds:.0f} rows/s)"
    )
    print("predicted label counts:", out["predicted_label"].value_counts().to_dict())
    stars = out["rating"]
    pos = out["predicted_label"] == "positive"
    agree = ((stars >= 4) & pos) | ((stars <= 2) & ~pos)
    clear = (stars >= 4) | (stars <= 2)
    print(
        f"agreement with stars (4-5 = positive, 1-2 = negative, 3 left out): "
        f"{agree[clear].mean():.3f} on {int(clear.sum()):,} reviews"
    )
    for r in range(1, 6):
        print(f"  rating {r}: positive share {pos[stars == r].mean():.3f} (n={int((stars == r).sum())})")


if __name__ == "__main__":
    main()
