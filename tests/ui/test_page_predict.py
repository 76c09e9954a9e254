"""AppTest of the Predict page with the tiny trained model in a temporary registry."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import torch
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import core.fastpath as fastpath
from core.fastpath import FAST_PATH_FILE
from core.models import TextClassifier
from core.predict import predict_csv
from tests.ui.test_page_train import texts as shown_text

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture
def registry(models_dir, trained_tiny):
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_tiny[1], models_dir / "tiny-sentiment")
    return models_dir


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """{file_name: bytes or a callable returning them}, for every download button the page made.

    AppTest drops its media manager after each run, so the files are recorded as they are made.
    """
    made: dict = {}
    deferred, static = MediaFileManager.add_deferred, MediaFileManager.add

    def record_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    def record_static(self, path_or_data, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = path_or_data
        return static(self, path_or_data, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    monkeypatch.setattr(MediaFileManager, "add", record_static)
    return made


def fetch(downloads: dict, suffix: str) -> bytes:
    names = [n for n in downloads if n and n.endswith(suffix)]
    assert len(names) == 1, f"expected one download ending {suffix}; have {sorted(map(str, downloads))}"
    data = downloads[names[0]]
    return data() if callable(data) else data


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
    assert result["text"][3] == "=HYPERLINK(\"x\")"  # the saved file keeps the text exactly
    assert result["predicted_label"][2] == "" and result["prediction_error"][2]
    assert any("8 rows from **new\\_rows.csv**" in s.value for s in at.success)  # escaped: ui/markdown.py
    assert any("1 row without usable input" in w.value for w in at.warning)
    assert not any("Every row was scored" in c.value for c in at.caption)

    previews = [d.value for d in at.dataframe if "predicted_label" in d.value.columns]
    assert previews, "no preview table"
    preview = previews[0]
    assert {"predicted_label", "confidence", "p_negative", "p_positive", "prediction_error"} <= set(preview.columns)
    assert len(preview) == 8 and preview["confidence"].dtype == float
    assert preview["predicted_label"][2] == "" and preview["text"].notna().all()  # empty cells show empty

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
    assert any("0 rows (0.0%) have confidence below 0%" in c.value for c in at.caption)


def test_missing_column_is_explained_and_can_be_mapped(registry):
    at = open_page()
    upload(at, NEW_ROWS.rename(columns={"text": "review"}))
    assert "trained on column(s) 'text', which this file" in shown_text(at.warning)
    assert at.selectbox(key="predict_map_text").value == "— choose a column —"
    assert at.button(key="predict_run").disabled
    assert any("Choose a column for 'text' to predict" in e.value for e in at.error)

    at.selectbox(key="predict_map_text").set_value("review")
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error
    result = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    assert list(result.columns[:2]) == ["id", "review"] and len(result) == 8


def test_the_missing_column_warning_lists_the_columns_found_and_the_closest_match(registry):
    """Issue 27: the page's missing-column message is the one every entry point gives (core.reading.
    missing_columns_message). Truth: the columns the test wrote; 'text' is held by 'Review Text'."""
    at = open_page()
    upload(at, NEW_ROWS.rename(columns={"text": "Review Text"}))
    warning = shown_text(at.warning)
    assert "found ['id', 'Review Text']" in warning and "Closest match: 'text' -> 'Review Text'" in warning, warning
    # The walk: the message named 'Review Text' while the box stayed on "choose a column" with a red
    # error. The closest match is preselected (the person can change it), and the words say so.
    assert "Check the column chosen below for each (the closest match is preselected)" in warning, warning
    assert at.selectbox(key="predict_map_text").value == "Review Text"
    assert not at.error and not at.button(key="predict_run").disabled


def test_one_closest_match_for_two_model_columns_is_preselected_for_neither():
    """Two of the model's columns whose closest match is the same file column: guessing it for both would
    read one column twice, so both boxes wait for the person (and the words say to pick)."""
    from streamlit.testing.v1 import AppTest

    def form():
        from types import SimpleNamespace

        from ui.predict import column_map_form

        model = SimpleNamespace(input_columns=["title", "titles"], schema={"text_columns": ["title", "titles"]})
        column_map_form(model, ["id", "Ad Title"], key="m")

    at = AppTest.from_function(form).run()
    assert not at.exception, at.exception
    assert [at.selectbox(key=f"m_{c}").value for c in ("title", "titles")] == ["— choose a column —"] * 2
    assert "Pick the file's column" in shown_text(at.warning)


def _two_sheets() -> bytes:
    """A workbook whose sheets 'March' (3 rows) and 'April' (5 rows) both hold the model's 'text'."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, n in (("March", 3), ("April", 5)):
            pd.DataFrame({"text": [f"great phone {i}" for i in range(n)], "note": [f"n{i}" for i in range(n)]}).to_excel(
                writer, sheet_name=sheet, index=False)
    return buffer.getvalue()


def _result_shown(at: AppTest) -> list[str]:
    return [s.value for s in at.success if "rows from" in s.value]


def test_a_result_shows_only_under_the_file_sheet_and_columns_it_scored(registry):
    """walk: after picking another sheet, the previous sheet's result stayed below the new picker.
    A result is shown only while the file, sheet and column choice it scored are the page's."""
    at = open_page()
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    at.file_uploader(key="predict_upload").set_value(("months.xlsx", _two_sheets(), xlsx)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="predict_upload_sheet").value == "March"
    at.button(key="predict_run").click().run()
    assert any("3 rows from" in s for s in _result_shown(at)), _result_shown(at)
    at.selectbox(key="predict_upload_sheet").set_value("April").run()
    assert not at.exception and not _result_shown(at), _result_shown(at)  # March's result is not April's
    assert not [d for d in at.dataframe if "predicted_label" in d.value.columns]
    assert any("is hidden" in c.value for c in at.caption)
    at.button(key="predict_run").click().run()
    assert any("5 rows from" in s for s in _result_shown(at)), _result_shown(at)
    at.selectbox(key="predict_map_text").set_value("note").run()  # another column: not what was scored
    assert not _result_shown(at)
    at.selectbox(key="predict_map_text").set_value("text").run()  # back to what was scored: shown again
    assert any("5 rows from" in s for s in _result_shown(at))


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
    assert any(c.value.startswith("Every row was scored: the `prediction_error` column") for c in at.caption)


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
    assert any("No fast form is offered: labels agree on 90.0%" in c.value for c in at.caption)

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


def _independent_fast_verdict(folder: Path) -> bool:
    """Whether a fast form should be offered, computed here from both forms' own labels on the
    test split (agreement >= 99%, accuracy drop < 0.5 points; speed fixed by the caller)."""
    test = pd.read_csv(folder / "test_predictions.csv")
    texts, truth = test["text"].tolist(), test["true_label"].astype(str).to_numpy()
    fp32 = TextClassifier.load(folder).predict(texts).astype(str)
    offered = False
    for method in ("int8", "bf16"):
        fast = TextClassifier.load(folder).quantize(method).predict(texts).astype(str)
        offered |= bool(np.mean(fast == fp32) >= 0.99 and np.mean(fp32 == truth) - np.mean(fast == truth) < 0.005)
    return offered


def test_check_button_runs_the_check_and_says_what_it_found(registry, monkeypatch):
    # Each fast form takes 1 s against 2 s for fp32, so only the labels decide.
    monkeypatch.setattr(fastpath, "timed_predict", lambda m, texts: (
        1.0 if m.quantized else 2.0, np.asarray(m.predict(texts), dtype=str).astype(object)))
    expected = _independent_fast_verdict(registry / "tiny-sentiment")
    at = open_page()
    at.button(key="predict_check_fast").click()
    at.run()
    assert not at.exception
    assert (registry / "tiny-sentiment" / FAST_PATH_FILE).is_file()
    offered = [c for c in at.checkbox if c.key == "predict_fast"]
    assert bool(offered) == expected
    said = [m.value for m in (*at.success, *at.info) if m.value.startswith("Fast-path check done.")]
    assert len(said) == 1
    n_rows = len(pd.read_csv(registry / "tiny-sentiment" / "test_predictions.csv"))
    if expected:
        assert "A fast form is offered:" in said[0] and "2.0x faster" in said[0] and f"{n_rows:,} test rows" in said[0]
    else:
        assert "No fast form is offered: on the" in said[0] and "changed" in said[0]


def test_fast_box_changes_which_model_scores_the_rows(registry):
    """With Fast ticked the file holds the bf16 form's probabilities, without it fp32's."""
    folder = registry / "tiny-sentiment"
    (folder / FAST_PATH_FILE).write_text(json.dumps({"passed": True, "method": "bf16", "candidates": {}, "reason": "ok",
                                                     "agreement": 1.0, "speedup": 1.8, "accuracy_fp32": 0.9,
                                                     "accuracy_fast": 0.9, "n_rows": 40,
                                                     "torch_version": torch.__version__}))
    texts = NEW_ROWS["text"].tolist()
    usable = [t for t in texts if t]
    fp32 = TextClassifier.load(folder).predict_proba(usable)
    bf16 = TextClassifier.load(folder).quantize("bf16").predict_proba(usable)
    assert np.abs(fp32 - bf16).max() > 1e-4  # the two forms are distinguishable

    at = open_page()
    upload(at, NEW_ROWS)
    got = {}
    for ticked in (True, False):
        at.checkbox(key="predict_fast").set_value(ticked)
        at.run()
        at.button(key="predict_run").click()
        at.run()
        assert not at.exception and not at.error
        out = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
        got[ticked] = out.loc[out["text"] != "", ["p_negative", "p_positive"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got[True], bf16, atol=1e-6)
    np.testing.assert_allclose(got[False], fp32, atol=1e-6)


# ------------------------------------------------------------------ what is shown and downloaded

FORMULA_ROWS = pd.read_csv("/work/shared/data/faults/r13_formula_cells.csv", dtype=str, keep_default_na=False)
# Whether each r13 text is formula-like (written out by hand, not computed by the code under test).
R13_FORMULA = [True, True, True, True, True, True, False, True, False, True]
EXTRA = [("@united thanks for the help", False), ("@SUM(A1)", True), ("+1+1", True), ("-3.5", False),
         ("great phone", False)]


def test_page_shows_raw_text_and_downloads_neutralise_only_formula_cells(registry, downloads):
    frame = pd.DataFrame({
        "text": [*FORMULA_ROWS["text"], *(t for t, _ in EXTRA)],
        "customer": [*FORMULA_ROWS["customer"], *("c" for _ in EXTRA)],
    })
    formula = R13_FORMULA + [f for _, f in EXTRA]
    at = open_page()
    at.file_uploader(key="predict_upload").set_value(
        ("tweets.csv", frame.to_csv(index=False, lineterminator="\r\n").encode(), "text/csv"))
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error

    preview = next(d.value for d in at.dataframe if "predicted_label" in d.value.columns)
    assert preview["text"].tolist() == frame["text"].tolist()  # shown exactly as uploaded
    at.slider(key="predict_conf_threshold").set_value(1.0)
    at.run()
    low = next(d.value for d in at.dataframe if "row" in d.value.columns)
    assert low["text"].tolist() == [frame["text"][r] for r in low["row"]]  # rows counted from 0

    names = sorted(n for n in downloads if n)
    full = next(n for n in names if n.startswith("predictions-") and n.endswith(".csv"))
    raw = downloads[full]()
    assert raw.startswith(b"\xef\xbb\xbf")
    with io.StringIO(raw.decode("utf-8-sig"), newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["text", "customer"]
    for (text, is_formula), row in zip(zip(frame["text"], formula, strict=True), rows[1:], strict=True):
        assert row[0] == ("'" + text if is_formula else text), text
    assert rows[1][1] == "'=1+1" and rows[2][1] == "cust1"
    confidence = rows[0].index("confidence")
    assert all(0.0 <= float(r[confidence]) <= 1.0 for r in rows[1:])  # numbers, not "'0.93"

    low_csv = downloads["low_confidence_rows.csv"]()  # made when clicked, like every download
    low_rows = list(csv.reader(io.StringIO(low_csv.decode("utf-8-sig"), newline="")))
    text_at = low_rows[0].index("text")
    for row in low_rows[1:]:
        text = frame["text"][int(row[0])]
        assert row[text_at] == ("'" + text if formula[int(row[0])] else text)

    sheet = openpyxl.load_workbook(io.BytesIO(fetch(downloads, ".xlsx"))).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2, max_col=1)]
    assert [c.value for c in cells] == frame["text"].tolist()  # exact text, no apostrophe
    assert all(c.data_type == "s" for c in cells)


def test_unparseable_upload_shows_an_error_not_a_traceback(registry):
    at = open_page()
    at.file_uploader(key="predict_upload").set_value(("bad.csv", b"id,text\n1,great\n2,a,b,c,d\n", "text/csv"))
    at.run()
    assert not at.exception
    assert any("Row 3 of the file has 5 fields but the header names 2" in e.value for e in at.error)
    assert at.button(key="predict_run").disabled

    # Past the start the page checks (64 KB), a bad row is found while scoring, and named there.
    late = b"id,text\n" + b"".join(b"%d,great review number %d\n" % (i, i) for i in range(4000)) + b"21,a,b,c\n"
    at.file_uploader(key="predict_upload").set_value(("late.csv", late, "text/csv"))
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception
    assert any("Could not parse" in e.value for e in at.error)
    assert "last_prediction_path" not in at.session_state


def test_run_on_the_cluster_when_one_is_configured(registry, monkeypatch):
    """With MARKETUNE_RAY_ADDRESS set, the page offers the cluster and hands the file to
    core.ray_predict.predict_ray (spied here: the real Ray path is tests/test_ray_predict.py)."""
    from core import ray_predict
    from core.predict import PredictSummary

    calls = []

    def spy(model_dir, source, output, **kwargs):
        calls.append({"model_dir": Path(model_dir), "address": kwargs["address"], "history": kwargs.get("history")})
        from core.models import load_folder

        summary = predict_csv(load_folder(model_dir), source, output)
        return PredictSummary(summary.n_rows, summary.n_errors, summary.seconds, Path(output)), {"actors": 2}

    at = open_page()
    assert "predict_on_cluster" not in [c.key for c in at.checkbox]  # no cluster configured: nothing offered

    monkeypatch.setenv("MARKETUNE_RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setattr(ray_predict, "predict_ray", spy)
    upload(at, NEW_ROWS)
    at.checkbox(key="predict_on_cluster").check()
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls and calls[0]["address"] == "ray://head:10001" and calls[0]["model_dir"].name == "tiny-sentiment"
    assert calls[0]["history"] == "page"  # the cluster's scoring goes into the model's history, as in-process
    assert any("on the Ray cluster (ray://head:10001)" in s.value for s in at.success)
    result = pd.read_csv(Path(at.session_state["last_prediction_path"]), keep_default_na=False)
    assert result["id"].tolist() == list(range(1, 9))


def test_predict_says_a_tags_models_hamming_caution_once_and_not_for_a_model_without_one(registry):
    """A multi-label model whose Hamming loss is no better than a constant guess (its first clause
    checked against scikit-learn's hamming_loss) is cautioned under the model box, as the Models and
    Label pages and the CLI do (core.result.verdict_notice)."""
    from core.result import CAUTION
    from tests.ui.test_page_verdict import save_cautioned_tags_model

    first = save_cautioned_tags_model("tags-model")
    at = open_page()
    at.selectbox(key="predict_model").set_value("tags-model").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if first in w.value]
    assert len(said) == 1 and said[0].startswith(f"**{CAUTION}:**")
    others = [n for n in at.selectbox(key="predict_model").options if n != "tags-model"]
    assert others, "the fixture model is listed beside it"
    at.selectbox(key="predict_model").set_value(others[0]).run()
    assert not any(first in w.value or CAUTION in w.value for w in at.warning)


def test_a_header_only_file_is_refused_at_upload_and_predict_stays_disabled(registry):
    """As the Train page and the CLI do: the refusal is said on upload, not only after pressing Predict."""
    from core.reading import HEADER_ONLY

    at = open_page()
    at.file_uploader(key="predict_upload").set_value(("empty.csv", b"text\n", "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [HEADER_ONLY]
    assert at.button(key="predict_run").disabled
    assert not any("empty.csv" in c.value for c in at.caption)  # no "0 rows · 1 column" line
    upload(at, NEW_ROWS)  # a file with rows is taken as before
    assert not at.error and not at.button(key="predict_run").disabled


def test_a_tags_models_cut_offs_are_stated_once_and_downloadable_as_their_own_file(models_dir, downloads):
    """Several tags per row: the page states each tag's cut-off (the model's thresholds.json) once,
    and the cut-offs download lets a spreadsheet user redo predicted_labels from the p_<tag> columns
    of the predictions download."""
    from tests.ui.test_page_verdict import save_cautioned_tags_model

    save_cautioned_tags_model("tags-model")
    saved = json.loads((models_dir / "tags-model" / "thresholds.json").read_text())
    at = open_page()
    at.selectbox(key="predict_model").set_value("tags-model").run()
    texts = ["great love it", "bad hate this awful", "phone order today", "love it but awful delivery", ""]
    upload(at, pd.DataFrame({"text": texts}))
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    table = next(d.value for d in at.dataframe if "cut_off" in d.value.columns)
    assert table["tag"].tolist() == saved["tags"] and table["cut_off"].tolist() == pytest.approx(saved["thresholds"])
    assert sum("at or above its cut-off" in c.value for c in at.caption) == 1 and len(table) == 3
    cuts = pd.read_csv(io.BytesIO(fetch(downloads, "-cut-offs.csv")), encoding="utf-8-sig")
    name = next(n for n in downloads if n.endswith(".csv") and not n.endswith("-cut-offs.csv"))  # Download CSV
    scored = pd.read_csv(io.BytesIO(fetch(downloads, name)), encoding="utf-8-sig", keep_default_na=False)
    assert list(cuts.columns) == ["tag", "probability_column", "cut_off", "note"]
    assert set(cuts["probability_column"]) <= set(scored)
    untold = set(saved.get("cannot_tell_yet") or [])
    assert [isinstance(n, str) and "cannot tell yet" in n for n in cuts["note"]] == [t in untold for t in cuts["tag"]]
    for _, row in scored[scored["text"] != ""].iterrows():  # the spreadsheet user's own check, row by row
        given = [t for t, col, cut, _ in cuts.itertuples(index=False) if float(row[col]) >= cut]
        assert row["predicted_labels"] == "|".join(given)


def test_a_running_scoring_shows_the_job_panel_survives_a_page_change_and_cancels_after_confirming(
        registry, monkeypatch):
    """Held: the scoring thread has not run yet. The page shows the one job panel (ui/jobs.py), a
    second Predict is refused, the panel is there again after visiting another page, and Cancel
    asks first; the confirmed cancel stops the scoring at its first chunk and keeps no file."""
    import ui.predict

    held = []
    monkeypatch.setattr(ui.predict, "_start", held.append)
    at = open_page()
    upload(at, NEW_ROWS)
    at.button(key="predict_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(held) == 1
    assert any("switch pages and come back" in c.value for c in at.caption)
    assert at.button(key="predict_cancel").label == "Cancel"
    assert not [s for s in at.success if "rows from" in s.value]  # no result yet
    at.button(key="predict_run").click().run()
    assert len(held) == 1 and any("still being scored" in w.value for w in at.warning)

    at.switch_page("pages/models.py").run()
    at.switch_page("pages/predict.py").run()
    assert at.button(key="predict_cancel").label == "Cancel"  # still followed after the page change

    at.button(key="predict_cancel").click().run()
    assert any("Cancel scoring with" in w.value for w in at.warning)  # asked first
    scoring = at.session_state[ui.predict.RUN]
    assert not scoring.stop.is_set()
    at.button(key="predict_cancel_yes").click().run()
    assert scoring.stop.is_set()
    held[0]()  # the thread runs now: it stops at the first chunk
    at.run()
    assert any("Scoring was cancelled" in w.value for w in at.warning)
    assert "last_prediction_path" not in at.session_state
    assert not list(Path(scoring_folder := at.session_state["predict_tmp_dir"]).glob("predictions-*")), scoring_folder


def test_the_panel_bar_moves_once_per_chunk_of_a_1000_row_file(registry, monkeypatch):
    """walk-f: a 1,000-row file sat at "Starting" for its whole run (one chunk of 1,000). The page
    scores in chunks of PAGE_CHUNK_ROWS; the panel reads the latest event, so the fractions it can
    show are counted here from the events the scoring sends."""
    import ui.predict

    fractions = []
    scoring = ui.predict.predict_csv

    def counted(*args, on_progress, **kwargs):
        def record(event):
            fractions.append(event.fraction)
            on_progress(event)
        return scoring(*args, on_progress=record, **kwargs)

    monkeypatch.setattr(ui.predict, "predict_csv", counted)
    at = open_page()
    rows = pd.DataFrame({"text": [f"order number {i} was great" if i % 2 else f"item {i} broke" for i in range(1000)]})
    upload(at, rows)
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    below_one = sorted({round(f, 3) for f in fractions if 0 < f < 1})
    assert len(below_one) >= 4, fractions  # the bar moves at least four times before the end


def test_the_upload_is_kept_after_a_page_change_until_it_is_removed(registry):
    """walk-f: the uploader empties when the page is left (Streamlit drops a widget's value); the
    page keeps scoring the file uploaded before, says so, and drops it on Remove or the uploader's ×."""
    at = open_page()
    upload(at, NEW_ROWS, name="kept_rows.csv")
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.file_uploader(key="predict_upload").value is None  # the widget did empty
    assert any("kept\\_rows.csv" in c.value and "uploaded earlier" in c.value for c in at.caption)
    assert not at.button(key="predict_run").disabled
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    scored = pd.read_csv(at.session_state["last_prediction_path"], keep_default_na=False)
    assert scored["id"].tolist() == NEW_ROWS["id"].tolist()  # the kept file, every row in its place
    at.button(key="predict_forget_upload").click().run()
    assert at.button(key="predict_run").disabled
    assert not any("uploaded earlier" in c.value for c in at.caption)

    upload(at, NEW_ROWS, name="other.csv")  # removed with the uploader's ×: not offered again
    at.file_uploader(key="predict_upload").set_value(None).run()
    assert at.button(key="predict_run").disabled
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/predict.py").run()
    assert at.button(key="predict_run").disabled and not any("uploaded earlier" in c.value for c in at.caption)


def test_the_unlike_training_box_says_what_it_costs(registry):
    import ui.predict

    at = open_page()
    upload(at, NEW_ROWS)
    box = at.checkbox(key="predict_ood")
    assert box.value  # on by default
    assert sum(ui.predict.OOD_COST == c.value for c in at.caption) == 1
    box.uncheck().run()
    assert not any(ui.predict.OOD_COST == c.value for c in at.caption)


def test_the_scoring_panel_polls_at_its_own_interval(monkeypatch):
    """The Predict panel is a fragment redrawn every PREDICT_POLL_SECONDS, the other pages' every
    POLL_SECONDS (ui/jobs.py keeps one fragment per interval)."""
    import ui.jobs
    import ui.predict

    made, followed = [], []
    monkeypatch.setattr(ui.jobs, "_POLLING", {})
    monkeypatch.setattr(ui.jobs.st, "fragment", lambda run_every: lambda body: made.append(run_every) or body)
    monkeypatch.setattr(ui.jobs, "follow", lambda fragment, job_id, panel: followed.append((fragment, panel)))
    other = ui.jobs.JobPanel(key="tg", what=str, note="")
    for panel in (ui.predict.PANEL, other, ui.predict.PANEL):
        ui.jobs.live_panel("job", panel)
    assert made == [ui.predict.PREDICT_POLL_SECONDS, ui.jobs.POLL_SECONDS]  # one fragment per interval
    assert ui.predict.PREDICT_POLL_SECONDS > ui.jobs.POLL_SECONDS
    assert [f is ui.jobs._live_panel for f, _ in followed] == [True] * 3 and followed[0][1] is ui.predict.PANEL


def test_the_model_box_follows_a_new_active_model_and_the_dashboard_names_the_scorer(models_dir, trained_tiny):
    """Walk finding: the sidebar switched to another model, the Predict page's box stayed on the
    old one and scored with it, and the Dashboard showed the file under the sidebar's name."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in ("first-model", "second-model"):
        shutil.copytree(trained_tiny[1], models_dir / name)
    at = open_page()
    before = at.selectbox(key="predict_model").value
    other = "second-model" if before == "first-model" else "first-model"
    # The sidebar box's on_change (ui.state._sidebar_changed) sets the active model; done here the
    # same way, because AppTest leaves the sidebar empty after another AppTest ran in the process.
    at.session_state["active_model"] = other
    at.run()
    assert at.selectbox(key="predict_model").value == other
    upload(at, NEW_ROWS)
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"predicted by **{other}**" in s.value for s in at.success), [s.value for s in at.success]

    # A model picked in the box itself stays while the active model does not change.
    at.selectbox(key="predict_model").set_value(before)
    at.run()
    assert at.selectbox(key="predict_model").value == before
    at.button(key="predict_run").click()
    at.run()
    assert any(f"predicted by **{before}**" in s.value for s in at.success)

    at.switch_page("pages/dashboard.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"scored by **{before}**" in c.value and f"active model is now **{other}**" in c.value
               for c in at.caption), [c.value for c in at.caption]


def test_rows_in_a_language_the_base_model_does_not_read_are_named_in_a_warning(registry):
    """Issue 30: Chinese rows (in a column mapped by hand) scored by a model built on the
    English-only minilm-en get a warning with their count (core.language_check); English rows none."""
    from tests.core.test_ood import _chinese

    manifest_path = registry / "tiny-sentiment" / "marketune.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "base_model": "minilm-en"}))  # as if built on it
    at = open_page()
    rows = pd.DataFrame({"review": [*_chinese(6, seed=5), "great phone", "awful service"]})
    upload(at, rows)
    at.selectbox(key="predict_map_text").set_value("review")
    at.run()
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception and not at.error
    [warning] = [w.value for w in at.warning if "English only" in w.value]
    assert warning.startswith("6 of 8 texts (75%) look like Chinese") and "minilm-en" in warning
    upload(at, NEW_ROWS, name="english.csv")
    at.button(key="predict_run").click()
    at.run()
    assert "predictions-english-" in at.session_state["last_prediction_path"]  # scored, and
    assert not [w for w in at.warning if "English only" in w.value]
