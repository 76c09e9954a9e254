"""AppTest of the Targeting page: sample -> compare -> views -> deploy -> budgeted target list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core import to_csv_bytes
from core.targeting import best_cutoff
from tests.test_response import campaign_table

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


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


def test_sample_compare_views_deploy_and_budget_export(models_dir):
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

    at.checkbox(key="tg_use_transformer").uncheck()
    at.run()
    at.button(key="tg_train").click()
    at.run()
    ok(at)
    table = next(d.value for d in at.dataframe if "ROC-AUC" in d.value.columns)
    assert table["model"].tolist() == ["Gradient boosting (profile)"]
    assert 0.6 < table["ROC-AUC"][0] < 0.95 and table["top-decile lift"][0] > 1.5
    assert any(s.value.startswith("Recommended: Gradient boosting") for s in at.success)
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # gains, lift, reliability
    readout = [i for i in infos(at) if i.startswith("Contact the top 20%")]
    assert readout and "x random" in readout[0]
    at.slider(key="tg_cutoff").set_value(10)
    at.run()
    assert any(i.startswith("Contact the top 10%") for i in infos(at))
    assert [m.value for m in at.metric][0] == "200"  # 10% of the 2,000 test customers

    at.text_input(key="tg_deploy_name").set_value("bank-gb")
    at.button(key="tg_deploy").click()
    at.run()
    ok(at)
    assert any("Saved **bank-gb**" in s.value for s in at.success)
    assert json.loads((models_dir / "bank-gb" / "marketune.json").read_text())["kind"] == "tabular"

    # Target list: the test split scored by the deployed (now active) model.
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
    assert any("known outcomes" in c.value for c in at.caption)

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


def test_upload_with_text_trains_hybrid_and_scores_an_uploaded_list(models_dir):
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
    at.checkbox(key="tg_use_transformer").uncheck()
    at.run()
    at.button(key="tg_train").click()
    at.run()
    ok(at)
    table = next(d.value for d in at.dataframe if "ROC-AUC" in d.value.columns)
    assert table["model"].tolist() == ["Gradient boosting (profile)", "Hybrid (gradient boosting + text score)"]
    at.selectbox(key="tg_deploy_which").set_value("hybrid")
    at.text_input(key="tg_deploy_name").set_value("camp-hybrid")
    at.button(key="tg_deploy").click()
    at.run()
    ok(at)
    assert json.loads((models_dir / "camp-hybrid" / "marketune.json").read_text())["kind"] == "hybrid"

    customers = campaign_table(40, seed=8).drop(columns=["y"])
    customers.insert(0, "customer_id", [f"N{i}" for i in range(40)])
    customers.loc[0, "review"] = ""  # cannot be scored by a text model
    customers.loc[1, "channel"] = "=HYPERLINK(\"http://x\")"
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
    # The download goes through core.export: the formula cell is neutralised.
    assert b"'=HYPERLINK" in to_csv_bytes(chosen)


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
    assert any("at least 3 rows of each outcome" in e.value for e in at.error)

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
    chosen = at.session_state["tg_target_list"]
    assert len(chosen) == len(comp.test_frame) // 5  # the default budget: a fifth of the list
    # The deployed transformer, loaded back, scores the test rows as in the comparison (calibrated).
    np.testing.assert_allclose(
        chosen["response_probability"].to_numpy(), np.sort(tr.test_scores)[::-1][: len(chosen)], atol=1e-5
    )
