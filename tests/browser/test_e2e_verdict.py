"""End to end in headless Chromium: the Train page's verdict banner tells the truth.

1. A transformer that cannot learn (a tiny random BERT at the lowest learning rate the page allows, 1e-6) against
   TF-IDF on 1,000 rows of the real sample: the page says the simpler TF-IDF model was saved and why.
2. Labels that are coin flips: whatever is saved is no better than guessing, so the page shows
   a warning instead of a success, and the model is not made the active one.
"""

from __future__ import annotations

import json
import random
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    ROOT,
    by_key,
    choose,
    click,
    fill,
    nav_to,
    open_page,
    screenshot,
    upload,
    wait_idle,
)

pytest_plugins = ["tests.browser.browser_utils"]

SAMPLE = ROOT / "sample_data" / "sentiment_reviews_en.csv"
TRAIN_LIMIT_MS = 420_000


def train_on_page(page, app, data, tiny_model_dir, learning_rate: str) -> None:
    open_page(page, app)
    nav_to(page, "Train")
    upload(page, "train_upload", data)
    by_key(page, "train_label_chart").locator(".js-plotly-plot").wait_for()
    choose(page, "train_base_select", "Other")
    fill(page, "train_base_custom", str(tiny_model_dir))
    by_key(page, "train_preset").get_by_text("Fast", exact=True).click()
    wait_idle(page)
    by_key(page, "train_method").get_by_text("Full fine-tuning", exact=True).click()
    wait_idle(page)
    page.get_by_text("Advanced settings").click()
    fill(page, "train_batch_size", "64")
    fill(page, "train_learning_rate", learning_rate)
    click(page, "train_start")


@pytest.mark.browser
def test_a_transformer_no_better_than_tfidf_is_not_what_gets_saved(page, streamlit_app, tiny_model_dir, tmp_path):
    # 1,000 of the 3,000 reviews: TF-IDF is clearly better than a transformer that cannot learn
    # on these too, and the tiny BERT's steps, the bulk of the test's time, are a third.
    data = tmp_path / "reviews_1000.csv"
    pd.read_csv(SAMPLE).sample(1000, random_state=0).to_csv(data, index=False)
    train_on_page(page, streamlit_app, data, tiny_model_dir, "1e-6")
    page.get_by_text("is trained and saved", exact=False).wait_for(timeout=TRAIN_LIMIT_MS)
    wait_idle(page)
    banner = page.get_by_test_id("stAlertContentSuccess").filter(has_text="is trained and saved")
    expect(banner).to_contain_text("TF-IDF model was saved")
    expect(banner).to_contain_text(re.compile(r"macro-F1 on the 100 validation rows, [0-9.]+ points behind"))  # the numbers behind the choice
    screenshot(page, "train_verdict_tfidf.png")
    [saved] = [p for p in streamlit_app.models_dir.iterdir() if (p / "marketune.json").is_file()]
    assert json.loads((saved / "marketune.json").read_text())["kind"] == "tfidf"


@pytest.mark.browser
def test_coin_flip_labels_get_a_warning_not_a_success(page, streamlit_app, tiny_model_dir, tmp_path):
    rng = random.Random(7)
    words = pd.read_csv(SAMPLE)["text"].str.split().explode().dropna().unique().tolist()
    rows = [{"text": " ".join(rng.sample(words, 6)), "label": rng.choice(["yes", "no"])} for _ in range(400)]
    data = tmp_path / "coin_flips.csv"
    pd.DataFrame(rows).to_csv(data, index=False)

    train_on_page(page, streamlit_app, data, tiny_model_dir, "3e-3")
    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="was saved, but it is not usable")
    warning.wait_for(timeout=TRAIN_LIMIT_MS)
    expect(warning).to_contain_text("was not made the active model")
    assert page.get_by_test_id("stAlertContentSuccess").filter(has_text="is trained and saved").count() == 0
    by_key(page, "train_use_anyway").wait_for()  # the user may still choose it, knowingly
    screenshot(page, "train_verdict_useless.png")
