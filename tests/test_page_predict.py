"""AppTest of the Predict page with the tiny trained model in a temporary registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.fastpath import FAST_PATH_FILE

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@pytest.fixture
def registry(models_dir, trained_tiny):
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_tiny[1], models_dir / "tiny-sentiment")
    return models_dir


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, frame: pd.DataFrame, name: str = "new_rows.csv") -> AppTest:
    at.file_uploader(key="predict_upload").set_value((name, frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


NEW_ROWS = pd.DataFrame({
    "id": range(1, 9),
    "text": ["great phone", "awful service", "", "=HYPERLINK(\"x\")", "love it, really\nlove it", "bad", "the best",
             "worst order"],
})


def test_page_without_models_points_to_training(models_dir):
    at = open_page()
    assert any("No saved model yet" in i.value for i in at.info)


def test_upload_run_preview_charts_downloads_and_review(registry):
    at = open_page()
    assert at.selectbox(key="predict_model").value == "tiny-sentiment"
    assert at.button(key="predict_run").disabled  # nothing to predict yet
    upload(at, NEW_ROWS)
    assert at.selectbox(key="predict_map_text").value == "text"  # pre-filled from the saved schema
    assert not at.button(key="predict_run").disabled

    at.button(key="predict_run").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

    path = Path(at.session_state["last_prediction_path"])
    result = pd.read_csv(path, keep_default_na=False)
    assert len(result) == len(NEW_ROWS)
    assert result["id"].tolist() == list(range(1, 9))
    assert result["text"][3] == "'=HYPERLINK(\"x\")"
    assert result["predicted_label"][2] == "" and result["prediction_error"][2]
    assert any("8 rows from **new_rows.csv**" in s.value for s in at.success)
    assert any("1 row(s) without usable input" in w.value for w in at.warning)

    previews = [d.value for d in at.dataframe if "predicted_label" in d.value.columns]
    assert previews, "no preview table"
    preview = previews[0]
    assert {"predicted_label", "confidence", "p_negative", "p_positive", "prediction_error"} <= set(preview.columns)
    assert len(preview) == 8 and preview["confidence"].dtype == float

    charts = at.get("plotly_chart")
    assert len(charts) == 2
    assert at.download_button(key="predict_download_csv").label == "Download CSV"
    assert at.download_button(key="predict_download_xlsx").label == "Download Excel (.xlsx)"

    at.slider(key="predict_conf_threshold").set_value(1.0)
    at.run()
    low = [d.value for d in at.dataframe if "row" in d.value.columns]
    assert len(low) == 1 and len(low[0]) == 7  # every row with a prediction is below 100%
    assert low[0]["confidence"].is_monotonic_increasing
    assert at.download_button(key="predict_download_low")
    at.slider(key="predict_conf_threshold").set_value(0.0)
    at.run()
    assert not [d for d in at.dataframe if "row" in d.value.columns]
    assert any("0 row(s) (0.0%) have confidence below 0%" in c.value for c in at.caption)


def test_missing_column_is_explained_and_can_be_mapped(registry):
    at = open_page()
    upload(at, NEW_ROWS.rename(columns={"text": "review"}))
    assert any("trained on column(s) ['text']" in w.value for w in at.warning)
    assert at.selectbox(key="predict_map_text").value == "— choose a column —"
    assert at.button(key="predict_run").disabled
    assert any("Choose a column for ['text']" in e.value for e in at.error)

    at.selectbox(key="predict_map_text").set_value("review")
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error
    result = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    assert list(result.columns[:2]) == ["id", "review"] and len(result) == 8


def test_bundled_sample_runs(registry):
    at = open_page()
    at.radio(key="predict_source").set_value("A bundled sample")
    at.run()
    default = at.selectbox(key="predict_sample").value  # a sample that has the model's columns
    assert "text" in pd.read_csv(ROOT / "sample_data" / default, nrows=0).columns
    at.selectbox(key="predict_sample").set_value("sentiment_reviews_en.csv")
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error
    result = pd.read_csv(at.session_state["last_prediction_path"], usecols=["predicted_label"])
    assert len(result) == 3000


def test_fast_checkbox_only_when_the_check_passed(registry):
    folder = registry / "tiny-sentiment"
    at = open_page()
    assert not [c for c in at.checkbox if c.key == "predict_fast"]
    assert at.button(key="predict_check_fast")  # no record yet: offer to run the check

    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": False, "method": None, "candidates": {},
                                                     "reason": "labels agree on 90.0% of test rows",
                                                     "torch_version": torch.__version__}))
    at.run()
    assert not [c for c in at.checkbox if c.key == "predict_fast"]
    assert any("No fast path is offered for this model: labels agree on 90.0%" in c.value for c in at.caption)

    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": True, "method": "bf16", "candidates": {}, "reason": "ok",
                                                     "agreement": 1.0, "speedup": 1.8, "accuracy_fp32": 0.9,
                                                     "accuracy_fast": 0.9, "torch_version": torch.__version__}))
    at.run()
    assert at.checkbox(key="predict_fast").label == "Fast (bfloat16 weights, 1.8x)"
    at.checkbox(key="predict_fast").check()
    upload(at, NEW_ROWS)
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error
    assert any("(fast, bf16)" in s.value for s in at.success)
    assert len(pd.read_csv(at.session_state["last_prediction_path"])) == 8


def test_check_button_runs_the_check(registry):
    at = open_page()
    at.button(key="predict_check_fast").click()
    at.run()
    assert not at.exception
    assert (registry / "tiny-sentiment" / FAST_PATH_FILE).is_file()
    record = json.loads((registry / "tiny-sentiment" / FAST_PATH_FILE).read_text())
    offered = [c for c in at.checkbox if c.key == "predict_fast"]
    assert bool(offered) == record["passed"]


def test_unparseable_upload_shows_an_error_not_a_traceback(registry):
    at = open_page()
    at.file_uploader(key="predict_upload").set_value(("bad.csv", b"id,text\n1,great\n2,a,b,c,d\n", "text/csv"))
    at.run()
    assert not at.exception
    assert any("Could not read the start of the file" in e.value for e in at.error)
    assert at.button(key="predict_run").disabled

    late = b"id,text\n" + b"".join(b"%d,great\n" % i for i in range(20)) + b"21,a,b,c\n"
    at.file_uploader(key="predict_upload").set_value(("late.csv", late, "text/csv"))
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception
    assert any("Could not parse" in e.value for e in at.error)
    assert "last_prediction_path" not in at.session_state
