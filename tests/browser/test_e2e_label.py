"""End to end in headless Chromium: one label-and-retrain round on the Label page.

Create a project from an uploaded CSV (12 labelled rows in 3 classes, 30 to label), train on
the labelled rows (few-shot and TF-IDF, each cross-validated on every row, the better kept), label two of the
suggested rows in the data editor itself, then "Save and retrain". The real app, a real worker
process and the real grid; the only shortcut is the tiny random BERT as the base model.

st.data_editor is Glide Data Grid drawn on a canvas: a cell is opened by double-clicking its
position (rows and the header are 35 px tall), which puts the cell's editor, a react-select
list, into the page's "portal". Glide also keeps an accessibility table of the visible cells
(``data-testid="glide-cell-<column>-<row>"``), which is where the test reads the grid back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from core.labeling import label_store  # noqa: E402
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
from tests.conftest import NEGATIVE, POSITIVE, make_sentiment_frame  # noqa: E402

pytest_plugins = ["tests.browser.browser_utils"]  # the streamlit_app, chromium_browser and page fixtures

PROJECT = "e2e-round"
TRAIN_LIMIT_MS = 600_000  # a tiny few-shot job with 3-fold CV takes ~30-60 s; the machine may be busy
ROW_PX = 35  # Glide's row height in Streamlit, the header row included
LABEL_COLUMN = 6  # row, text, why suggested, model says, sure, accept, label
N_LABELLED, N_TO_LABEL = 12, 30


def project_csv(folder: Path) -> Path:
    """12 labelled rows (4 per class; one word gives the label away) and 30 with an empty label."""
    labelled = make_sentiment_frame(N_LABELLED, classes=3)[["text", "label"]]
    unlabelled = make_sentiment_frame(N_TO_LABEL, seed=7, classes=3)[["text"]].assign(label="")
    path = folder / "to_label.csv"
    pd.concat([labelled, unlabelled], ignore_index=True).to_csv(path, index=False)
    return path


def true_label(text: str) -> str:
    words = set(text.split())
    return "positive" if words & set(POSITIVE) else "negative" if words & set(NEGATIVE) else "neutral"


def metric(page, label: str) -> str:
    """The value shown by the st.metric titled ``label``."""
    title = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=title).get_by_test_id("stMetricValue").inner_text()


def counts_shown(page) -> tuple[str, str, str]:
    """The project's metrics: (labelled, still to label, training rounds)."""
    return metric(page, "Labelled"), metric(page, "Still to label"), metric(page, "Training rounds")


def grid_cell(page, key: str, column: int, row: int):
    """A visible cell of the st.data_editor made with ``key`` (Glide's accessibility table)."""
    return by_key(page, key).get_by_test_id(f"glide-cell-{column}-{row}")


def pick_in_cell(page, key: str, row: int, option: str, picked: int) -> None:
    """Set a SelectboxColumn cell in the last column of the data editor ``key`` the way a user does:
    double-click the cell, type into its list, click the option. ``picked``: how many rows are picked
    once this one is; the page counts the picks it has received under the editor."""
    grid = by_key(page, key).get_by_test_id("stDataFrame")
    editor = page.get_by_test_id("portal").locator(".gdg-clip-region").get_by_role("combobox")
    for attempt in range(3):  # a double-click that lands while the grid redraws opens nothing
        box = grid.bounding_box()
        grid.dblclick(position={"x": box["width"] - 60, "y": ROW_PX * (row + 1) + ROW_PX / 2})
        try:
            editor.wait_for(timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    editor.fill(option)  # opens the list (it is not always open when the editor appears) and filters it
    page.get_by_test_id("portal").get_by_role("option", name=option, exact=True).click()
    expect(grid_cell(page, key, LABEL_COLUMN, row)).to_have_text(option)
    # The grid shows the pick at once, but Streamlit sends an editor's edits to the server 150 ms
    # after the last one (later on a busy machine): a button clicked before then saves without it.
    page.get_by_text(f"{picked} row{'' if picked == 1 else 's'} picked, not saved yet.", exact=True).wait_for()
    wait_idle(page)


def wait_for_trained_model(page) -> None:
    page.get_by_text("is trained and saved", exact=False).wait_for(timeout=TRAIN_LIMIT_MS)
    wait_idle(page)
    by_key(page, "label_editor").locator("canvas").first.wait_for()  # the new model ranked the rows left
    wait_idle(page)


@pytest.mark.browser
def test_label_and_retrain_one_round(page, streamlit_app, tiny_model_dir, tmp_path):
    started = time.monotonic()
    open_page(page, streamlit_app)
    nav_to(page, "Label")
    page.get_by_role("heading", name="Label", exact=True).wait_for()

    # A new project from an upload.
    fill(page, "label_new_name", PROJECT)
    upload(page, "label_upload", project_csv(tmp_path))
    expect(by_key(page, "label_text_col").get_by_role("combobox")).to_have_value("text")
    expect(by_key(page, "label_label_col").get_by_role("combobox")).to_have_value("label")
    page.get_by_text(f"{N_LABELLED + N_TO_LABEL} rows: {N_LABELLED} labelled, {N_TO_LABEL} to label.").wait_for()
    click(page, "label_create")
    expect(by_key(page, "label_project").get_by_role("combobox")).to_have_value(PROJECT)
    assert counts_shown(page) == (str(N_LABELLED), str(N_TO_LABEL), "0")
    store = label_store(PROJECT, root=streamlit_app.labels_dir)
    assert store.counts()["labeled"] == N_LABELLED  # the app wrote the project where the test told it to
    assert not (ROOT / ".marketune" / "labels" / PROJECT).exists()

    # Round 1: train on the 12 labelled rows with the tiny base model.
    choose(page, "label_base_select", "Other")
    fill(page, "label_base_custom", str(tiny_model_dir))
    click(page, "label_train")
    wait_for_trained_model(page)
    model = f"label-{PROJECT}"
    # Few-shot (chosen for 12 rows) and TF-IDF are each cross-validated on all 12 rows (core.small_data);
    # the page names the model the rule kept, says why on those rows, and shows the folds.
    kept = json.loads((streamlit_app.models_dir / model / "metrics.json").read_text())["saved_kind"]
    title = "few-shot model · base model" if kept == "fewshot" else "TF-IDF + logistic regression · no base model"
    page.get_by_test_id("stMarkdown").filter(has_text=f"{model} · {title}").wait_for()
    page.get_by_text(f"on the {N_LABELLED} out-of-fold rows", exact=False).first.wait_for()
    page.get_by_text("Macro-F1 across the cross-validation folds", exact=False).wait_for()
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox")).to_have_value(model)
    assert metric(page, "Training rounds") == "1"

    # Label two of the first suggested rows in the grid with their true labels. A least-sure row
    # starts with the model's guess: where that is right already, picking it again is no edit (a
    # person ticks "accept" instead; tests/ui/test_page_label.py), so such a row is passed over.
    rows, labels = [], []
    for i in range(6):  # rows the grid shows (its accessibility table holds the visible ones)
        label = true_label(grid_cell(page, "label_editor", 1, i).inner_text())
        if grid_cell(page, "label_editor", LABEL_COLUMN, i).inner_text() == label:
            continue
        rows.append(int(grid_cell(page, "label_editor", 0, i).inner_text()))
        labels.append(label)
        pick_in_cell(page, "label_editor", i, label, picked=len(rows))
        if len(rows) == 2:
            break
    assert len(rows) == 2, "fewer than 2 of the first 6 suggestions were wrong or empty"
    assert set(rows) <= set(store.unlabeled().index)  # suggested rows are unlabelled ones
    assert store.counts()["labeled"] == N_LABELLED  # nothing saved before the button

    # Save and retrain: the labels are on disk at once, and a second job trains on 14 rows.
    click(page, "label_retrain")
    assert store.frame().loc[rows, "label"].tolist() == labels
    running = page.get_by_text("the next round's rows and the model's suggestions are shown here when it finishes", exact=False)
    flash = page.get_by_text("Saved 2 labels; retraining.", exact=True)
    running.wait_for()
    flash.wait_for(timeout=5_000)  # said while it is true
    expect(running).to_be_visible()
    assert metric(page, "Training rounds") == "2"
    wait_for_trained_model(page)
    expect(flash).to_have_count(0)  # once retrained, the page no longer says it is retraining
    page.get_by_text(f"on the {N_LABELLED + 2} out-of-fold rows", exact=False).first.wait_for(timeout=TRAIN_LIMIT_MS)  # the final model (a best-so-far one is saved first)
    assert counts_shown(page) == (str(N_LABELLED + 2), str(N_TO_LABEL - 2), "2")  # up by the 2 labelled here
    assert store.meta["rounds"] == 2
    assert store.counts()["labeled"] == N_LABELLED + 2
    metrics = json.loads((streamlit_app.models_dir / model / "metrics.json").read_text())
    assert metrics["method_chosen"] == "fewshot"
    assert f"({N_LABELLED + 2} rows across 3 classes)" in metrics["method_reason"]  # the retrained model
    shot = screenshot(page, "label_round.png")
    assert shot.stat().st_size > 10_000
    print(f"label round in the browser: {time.monotonic() - started:.0f} s")
