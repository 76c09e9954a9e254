"""AppTest of the Targeting page: sample -> comparison job -> views -> leave and come back ->
budgeted target list and its real download bytes; upload with text; errors; cancel; the
transformer; an interrupted comparison shown by itself with Resume. The comparison runs in the worker process (core.jobs), so the tests wait for the
job and rerun the page, as a browser's polling fragment would."""

from __future__ import annotations

import fcntl
import io
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.jobs import job_status, jobs_root
from core.targeting import best_cutoff
from tests.core.test_response import campaign_table

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/targeting.py")
    at.run()
    ok(at)
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def wait_job(at: AppTest, timeout: float = 240) -> str:
    """Wait for the page's comparison job to end, then rerun the page; returns its state."""
    job_id = at.session_state["tg_job_id"]
    deadline = time.monotonic() + timeout
    while job_status(job_id).active:
        assert time.monotonic() < deadline, f"job {job_id} still running"
        time.sleep(0.3)
    at.run()
    return job_status(job_id).state


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """{file_name: callable returning the bytes}, for every deferred download button."""
    made: dict = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made


def interrupted_job(job_id: str, model_name: str, kind: str = "response") -> Path:
    """A job folder as a killed worker (SIGKILL, a server restart) leaves it: state "running",
    a pid that no longer runs, its data kept; ``core.jobs.job_status`` reads it "interrupted"
    and resumable. Returns the folder."""
    folder = jobs_root() / job_id
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("text,label\na,b\n")
    (folder / "request.json").write_text(json.dumps({"kind": kind, "model_name": model_name,
                                                     "created": time.time() - 60, "config": {}}))
    (folder / "state.json").write_text(json.dumps({"state": "running", "message": "Working"}))
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "pid").write_text(str(dead.pid))
    return folder


def read_csv_download(downloads: dict, name: str = "target_list.csv") -> pd.DataFrame:
    assert name in downloads, f"no download named {name}; have {sorted(downloads)}"
    return pd.read_csv(io.BytesIO(downloads[name]()), encoding="utf-8-sig", keep_default_na=False,
                       na_values=[""], dtype=str)


def test_sample_defaults_to_gradient_boosting_job_survives_page_change_and_exports(models_dir, downloads):
    at = open_page()
    # One-click sample, with the columns guessed.
    assert at.radio(key="tg_source").value == "sample"
    assert at.selectbox(key="tg_label").value == "y"
    assert at.selectbox(key="tg_positive").value == "yes"
    profile = at.multiselect(key="tg_profile").value
    assert "duration" not in profile and len(profile) == 15 and at.multiselect(key="tg_text").value == []
    kinds = next(d.value for d in at.dataframe if "treated as" in d.value.columns)
    assert dict(zip(kinds["column"], kinds["treated as"]))["job"] == "categorical"
    assert dict(zip(kinds["column"], kinds["treated as"]))["balance"] == "numeric"
    assert infos(at)[-1].startswith("No saved model yet")  # the list tab, before any deploy
    # Profile only: no transformer by default, offered with its time, English model, no
    # language verdict on "age: 34 | job: admin." rows.
    assert at.checkbox(key="tg_use_transformer").value is False
    offer = next(c.value for c in at.caption if c.value.startswith("No text column"))
    assert "minilm-en" in offer and " min on a laptop CPU" in offer
    assert not [s for s in at.selectbox if s.key == "tg_base_select"]
    page_text = " ".join(str(e.value) for e in [*at.caption, *at.info, *at.warning, *at.markdown])
    assert "non-English" not in page_text and "multilingual" not in page_text

    at.text_input(key="tg_model_name").set_value("bank-gb")
    at.button(key="tg_train").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job_id = at.session_state["tg_job_id"]
    # Right after the click: the job's progress bar (or, on a fast machine, its result).
    assert at.get("progress") or any("Saved **bank-gb**" in s.value for s in at.success)
    # Leave for another page while it runs, then come back: the job is still followed.
    at.switch_page("pages/home.py")
    at.run()
    assert wait_job(at) == "done"
    at.switch_page("pages/targeting.py")
    at.run()
    ok(at)
    assert at.session_state["tg_job_id"] == job_id
    assert any("Saved **bank-gb**" in s.value for s in at.success)
    table = next(d.value for d in at.dataframe if "ROC-AUC" in d.value.columns)
    assert table["model"].tolist() == ["Gradient boosting (profile)"]
    assert 0.6 < table["ROC-AUC"][0] < 0.95 and table["top-decile lift"][0] > 1.5
    assert any(s.value.startswith("Recommended: Gradient boosting") for s in at.success)
    assert any("refitted with the same settings on all 10,000 labelled rows" in c.value for c in at.caption)
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # gains, lift, reliability
    readout = [i for i in infos(at) if i.startswith("Contact the top 20%")]
    assert readout and "x random" in readout[0]
    at.slider(key="tg_cutoff").set_value(10)
    at.run()
    assert any(i.startswith("Contact the top 10%") for i in infos(at))
    assert [m.value for m in at.metric][0] == "200"  # 10% of the 2,000 test customers
    assert not [b for b in at.button if b.key == "tg_deploy"]  # one model: nothing else to save
    saved = models_dir / "bank-gb"
    assert json.loads((saved / "marketune.json").read_text())["kind"] == "tabular"
    assert json.loads((saved / "metrics.json").read_text())["fitted_on_rows"] == 10_000
    # A profile-only model reads no text: it is the targeting model, not made the active model
    # that Ad Copy Lab and the Dashboard use (ui.state; tests/test_active_model.py); the page says so.
    assert at.session_state["targeting_model"] == "bank-gb"
    assert any("does not replace the active model" in s.value for s in at.success)

    # Target list: the test split scored by the deployed model.
    at.run()
    ok(at)
    assert at.radio(key="tg_list_source").value == "test"
    assert at.selectbox(key="tg_list_positive").value == "yes"
    at.number_input(key="tg_budget_n").set_value(150)
    at.run()
    ok(at)
    chosen = at.session_state["tg_target_list"]
    assert len(chosen) == 150 and chosen["rank"].tolist() == list(range(1, 151))
    assert chosen["response_probability"].is_monotonic_decreasing
    assert {"y", "expected_value", "cumulative_expected_profit"} <= set(chosen.columns)
    assert "campaign" in chosen.columns and "duration" not in chosen.columns
    np.testing.assert_allclose(chosen["expected_value"], chosen["response_probability"] * 100.0 - 5.0)
    assert at.download_button(key="tg_download_csv").label == "Download CSV"
    assert at.download_button(key="tg_download_xlsx").label == "Download Excel (.xlsx)"
    assert any("known outcomes" in c.value and "refitted on every labelled row" in c.value for c in at.caption)
    # The bytes a click hands out: the list as shown, best first.
    exported = read_csv_download(downloads)
    assert exported["rank"].astype(int).tolist() == list(range(1, 151))
    np.testing.assert_allclose(exported["response_probability"].astype(float), chosen["response_probability"], rtol=1e-12)

    at.radio(key="tg_budget_mode").set_value("share")
    at.run()
    at.slider(key="tg_budget_share").set_value(5)
    at.run()
    ok(at)
    assert len(at.session_state["tg_target_list"]) == 100  # floor(5% of 2,000)

    at.radio(key="tg_budget_mode").set_value("profit")
    at.run()
    at.number_input(key="tg_cost").set_value(20.0)
    at.run()
    ok(at)
    chosen = at.session_state["tg_target_list"]
    scored = at.session_state["tg_scored"][1]
    k = best_cutoff(scored["response_probability"].to_numpy(), 20.0, 100.0)
    assert 0 < len(chosen) == k < len(scored)
    assert (chosen["expected_value"] > 0).all()
    profit = [c for c in at.get("plotly_chart") if "profit" in c.proto.spec]
    assert profit, "no profit chart"


def test_upload_with_text_trains_hybrid_and_scores_an_uploaded_list(models_dir, downloads):
    at = open_page()
    at.radio(key="tg_source").set_value("upload")
    at.run()
    df = campaign_table(700, seed=3)
    df.insert(0, "customer_id", [f"C{i:04d}" for i in range(len(df))])
    at.file_uploader(key="tg_upload").set_value(("campaign.csv", df.to_csv(index=False).encode(), "text/csv"))
    at.run()
    ok(at)
    assert at.selectbox(key="tg_label").value == "y"
    assert "customer_id" not in at.multiselect(key="tg_profile").value  # an id, not a profile
    at.multiselect(key="tg_profile").set_value(["age", "segment", "channel"])
    at.run()
    at.multiselect(key="tg_text").set_value(["review"])
    at.run()
    assert at.checkbox(key="tg_use_transformer").value is True  # text: the transformer is offered ticked
    at.checkbox(key="tg_use_transformer").uncheck()
    at.run()
    at.text_input(key="tg_model_name").set_value("camp-recommended")
    at.button(key="tg_train").click()
    at.run()
    assert wait_job(at) == "done"
    ok(at)
    table = next(d.value for d in at.dataframe if "ROC-AUC" in d.value.columns)
    assert table["model"].tolist() == ["Gradient boosting (profile)", "Hybrid (gradient boosting + text score)"]
    assert (models_dir / "camp-recommended" / "marketune.json").is_file()
    at.selectbox(key="tg_deploy_which").set_value("hybrid")
    at.text_input(key="tg_deploy_name").set_value("camp-hybrid")
    at.button(key="tg_deploy").click()
    at.run()
    ok(at)
    assert json.loads((models_dir / "camp-hybrid" / "marketune.json").read_text())["kind"] == "hybrid"

    customers = campaign_table(40, seed=8).drop(columns=["y"])
    customers.insert(0, "customer_id", [f"N{i}" for i in range(40)])
    customers.loc[0, "review"] = ""  # cannot be scored by a text model
    customers.loc[1, "customer_id"] = "=1+1"
    customers.loc[2, "customer_id"] = "@SUM(A1)"
    customers.loc[3, "channel"] = "=HYPERLINK(\"http://x\")"
    at.radio(key="tg_list_source").set_value("upload")
    at.run()
    at.file_uploader(key="tg_list_upload").set_value(("list.csv", customers.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception
    assert any("1 customer(s) could not be scored" in w.value for w in at.warning)
    at.radio(key="tg_budget_mode").set_value("share")
    at.run()
    at.slider(key="tg_budget_share").set_value(100)
    at.run()
    ok(at)
    chosen = at.session_state["tg_target_list"]
    assert len(chosen) == 39 and "N0" not in chosen["customer_id"].tolist()
    assert chosen.columns[0] == "rank" and chosen.columns[1] == "customer_id"
    # The page's real download bytes: formula-like cells cannot run in a spreadsheet, and keep
    # the customer's text after the neutralising mark.
    exported = read_csv_download(downloads)
    ids = exported["customer_id"].tolist()
    for dangerous in ("=1+1", "@SUM(A1)"):
        cell = next(v for v in ids if v.endswith(dangerous))
        assert not cell.startswith(FORMULA_START), cell
    cell = next(v for v in exported["channel"] if "HYPERLINK" in v)
    assert not cell.startswith(FORMULA_START), cell
    book = openpyxl.load_workbook(io.BytesIO(downloads["target_list.xlsx"]()))
    cells = [c for row in book.active.iter_rows() for c in row if isinstance(c.value, str) and c.value.endswith("=1+1")]
    # XLSX keeps the exact text in string cells, which no spreadsheet evaluates (README's rule).
    assert cells and all(c.data_type == "s" and not c.value.startswith("'") for c in cells)
    assert [c.value for c in cells] == ["=1+1"]


def test_impossible_requests_show_errors_not_tracebacks(models_dir):
    at = open_page()
    at.radio(key="tg_source").set_value("upload")
    at.run()
    df = campaign_table(80, seed=1)
    df["y"] = "no"
    df.loc[:1, "y"] = "yes"  # two responders: too few to split
    at.file_uploader(key="tg_upload").set_value(("few.csv", df.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.checkbox(key="tg_use_transformer").uncheck()
    at.run()
    at.button(key="tg_train").click()
    at.run()
    assert not at.exception
    assert wait_job(at) == "failed"
    assert not at.exception
    assert any("at least 3 rows of each outcome" in e.value for e in at.error)
    assert not list(models_dir.glob("*/marketune.json"))

    at.file_uploader(key="tg_upload").set_value(("bad.csv", b"\x00\x01\x02binary", "text/csv"))
    at.run()
    assert not at.exception
    assert at.error


def test_target_list_explains_a_model_that_cannot_load(models_dir):
    folder = models_dir / "broken"
    folder.mkdir(parents=True)
    (folder / "marketune.json").write_text(json.dumps({"kind": "tabular", "task": "classification", "saved_at": "x"}))
    at = AppTest.from_file(str(ROOT / "pages" / "targeting.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("broken" in e.value for e in at.error)


def test_transformer_in_the_page_with_progress_and_its_target_list(models_dir, tiny_model_dir):
    at = open_page()
    at.radio(key="tg_source").set_value("upload")
    at.run()
    df = campaign_table(240, seed=5)
    at.file_uploader(key="tg_upload").set_value(("campaign.csv", df.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.multiselect(key="tg_profile").set_value(["age", "segment"])
    at.run()
    at.multiselect(key="tg_text").set_value(["review"])
    at.run()
    assert at.checkbox(key="tg_use_transformer").value and at.radio(key="tg_fast").value is True
    at.selectbox(key="tg_base_select").set_value("other").run()
    at.text_input(key="tg_base_custom").set_value(str(tiny_model_dir)).run()
    at.button(key="tg_train").click()
    at.run()
    assert wait_job(at) == "done"
    ok(at)
    comp = at.session_state["tg_comparison"]
    assert list(comp.candidates) == ["transformer", "tabular", "hybrid"]
    tr = comp.candidates["transformer"]
    assert tr.metrics["epochs"] == 1.0  # the fast run
    table = next(d.value for d in at.dataframe if "ROC-AUC" in d.value.columns)
    assert table["model"][0] == "Transformer (fine-tuned)" and table["recommended"].sum() == 1
    at.selectbox(key="tg_deploy_which").set_value("transformer")
    at.text_input(key="tg_deploy_name").set_value("camp-transformer")
    at.button(key="tg_deploy").click()
    at.run()
    ok(at)
    folder = models_dir / "camp-transformer"
    assert json.loads((folder / "marketune.json").read_text())["kind"] == "transformer"
    assert (folder / "calibration.json").is_file()
    at.run()
    ok(at)
    assert at.session_state["active_model"] == "camp-transformer"
    chosen = at.session_state["tg_target_list"]
    assert len(chosen) == len(comp.test_frame) // 5  # the default budget: a fifth of the list
    # The deployed transformer, loaded back, scores the test rows as in the comparison (calibrated).
    np.testing.assert_allclose(
        chosen["response_probability"].to_numpy(), np.sort(tr.test_scores)[::-1][: len(chosen)], atol=1e-5
    )


def test_cancel_while_queued_saves_nothing_and_says_so(models_dir):
    """Another short job holds the short-job lane (a comparison without the transformer goes there):
    this one waits in the queue, shows it, and Cancel, once confirmed, ends it."""
    from core import lanes

    root = jobs_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / lanes.LOCKS[lanes.SHORT], "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        at = open_page()
        at.text_input(key="tg_model_name").set_value("never-saved")
        at.button(key="tg_train").click()
        at.run()
        deadline = time.monotonic() + 60
        while job_status(at.session_state["tg_job_id"]).state != "queued":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        at.run()
        assert any("Queued for the short-job lane" in str(p.proto.text) for p in at.get("progress"))
        at.button(key="tg_cancel").click()
        at.run()
        assert job_status(at.session_state["tg_job_id"]).state == "queued"  # not yet: it asks first
        assert any("Cancel the comparison **never-saved**?" in w.value for w in at.warning)
        at.button(key="tg_cancel_yes").click()
        at.run()
        assert wait_job(at) == "cancelled"
    assert not at.exception
    assert any("cancelled; nothing was saved" in w.value for w in at.warning)
    assert not (models_dir / "never-saved").exists()


def test_an_interrupted_comparison_is_shown_by_itself_and_resume_resumes_it(models_dir, monkeypatch):
    """After a server restart no session knows the comparison: the page finds it, says what
    happened and what Resume does; Resume calls core.jobs.resume_job with its id; a refusal from
    resume_job is an error on the page, never a traceback; Close hides it."""
    import core.jobs

    job_id = "20000101-000000-cmpkil"
    folder = interrupted_job(job_id, "response-killed")
    at = open_page()  # a fresh session
    warning = " ".join(w.value for w in at.warning)
    assert "**response-killed** was interrupted" in warning and "server restart or crash" in warning
    assert "**Resume** runs it again from the beginning with the same settings and data" in warning
    assert at.session_state["tg_job_id"] == job_id

    calls = []
    monkeypatch.setattr(core.jobs, "resume_job", lambda resumed, root=None: calls.append(resumed) or resumed)
    at.button(key="tg_resume").click().run()
    ok(at)
    assert calls == [job_id] and at.session_state["tg_job_id"] == job_id

    refusal = "A model named 'response-killed' has been saved since this job started"

    def refuse(resumed, root=None):
        raise ValueError(refusal)

    monkeypatch.setattr(core.jobs, "resume_job", refuse)
    at.button(key="tg_resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [refusal]

    # Closing a resumable job is for good: its kept data goes, and the next session does not show it.
    assert at.button(key="tg_dismiss").label == "Discard"
    at.button(key="tg_dismiss").click().run()
    ok(at)
    assert "tg_job_id" not in at.session_state and not any("interrupted" in w.value for w in at.warning)
    assert not (folder / "data.csv").exists() and (folder / "state.json").exists()  # still listed, not resumable
    fresh = open_page()
    assert "tg_job_id" not in fresh.session_state and not any("interrupted" in w.value for w in fresh.warning)


def test_the_lift_chart_of_a_small_test_split_has_one_group_per_customer():
    """The probe's crash: a 40-row table leaves 8 customers in the test split, and deciles of 8
    customers raised ValueError on the results page. Now each customer is a group; the lift of a
    group is its response over the split's rate, computed here."""
    import numpy as np

    from ui.targeting import lift_groups

    y, p = np.array([1, 0, 1, 0, 0, 1, 0, 0]), np.linspace(0.9, 0.2, 8)
    table, what = lift_groups(y, p)
    assert what == "customer (8 in the test split)" and len(table) == 8
    np.testing.assert_allclose(table["lift"], y / y.mean())
    assert lift_groups(np.tile(y, 2), np.linspace(0.9, 0.1, 16))[1] == "decile"
