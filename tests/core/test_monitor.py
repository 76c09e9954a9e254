"""The watch on drift (core/monitor.py): each scoring adds the counts of what it wrote; alarms
follow their stated rules; the CLI, the API and the Models page show the same history.

Truths: the prediction file itself (value counts, means of its columns), PSI by its formula.
"""

from __future__ import annotations

import json
import math
import shutil
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.cli import main as cli_main
from core.models import load_folder
from core.monitor import HISTORY_FILE, PSI_ALARM, alarms, history, psi, report
from core.predict import predict_csv
from core.serve import MicroBatcher, create_app
from tests.ui.test_page_models import open_models
from tests.ui.test_page_train import figures, texts

POSITIVE = ["great love it", "love great fast", "great great"]
NEGATIVE = ["terrible broken", "awful refund terrible", "broken awful"]


@pytest.fixture
def folder(trained_tiny, models_dir):
    copy = models_dir / "sentiment-tiny"
    shutil.copytree(trained_tiny[1], copy)
    (copy / HISTORY_FILE).unlink(missing_ok=True)  # other tests score with the session's model too
    return copy


def score(folder, rows, tmp_path, source="cli", name="in.csv"):
    data, out = tmp_path / name, tmp_path / f"out-{name}"
    pd.DataFrame({"text": rows}).to_csv(data, index=False)
    predict_csv(load_folder(folder), data, out, ood=True, history=source)
    return pd.read_csv(out, keep_default_na=False)


def test_a_scoring_adds_the_counts_of_the_file_it_wrote(folder, tmp_path):
    rows = POSITIVE * 10 + NEGATIVE * 5 + [""]
    out = score(folder, rows, tmp_path)
    [line] = history(folder)
    scored = out[out["prediction_error"] == ""]
    assert line["source"] == "cli" and line["rows"] == len(rows) and line["scored"] == len(rows) - 1
    expected_mix = scored["predicted_label"].value_counts(normalize=True)
    assert line["label_mix"] == pytest.approx(expected_mix.to_dict(), abs=1e-6)
    assert line["mean_confidence"] == pytest.approx(scored["confidence"].astype(float).mean(), abs=1e-6)
    flagged = scored["out_of_distribution"].astype(str).eq("True").mean()
    assert line["share_unlike_training"] == pytest.approx(flagged, abs=1e-6)
    assert oct((folder / HISTORY_FILE).stat().st_mode & 0o777) == "0o600"
    assert "great" not in (folder / HISTORY_FILE).read_text()  # counts only, never a text


def test_psi_by_its_formula_and_the_alarm_rules():
    e, a = {"x": 0.5, "y": 0.5}, {"x": 0.9, "y": 0.1}
    assert psi(e, a) == pytest.approx((0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5))
    assert psi(e, e) == 0
    ref = {"label_mix": e, "mean_confidence": 0.9, "share_unlike_training": 0.01}
    calm = {"scored": 500, "label_mix": {"x": 0.52, "y": 0.48}, "mean_confidence": 0.88, "share_unlike_training": 0.02}
    assert alarms(calm, ref) == []
    shifted = {**calm, "label_mix": a, "mean_confidence": 0.7, "share_unlike_training": 0.3}
    found = alarms(shifted, ref)
    assert len(found) == 3 and "PSI" in found[0] and "'x' is 90%" in found[0]
    assert alarms({**shifted, "scored": 49}, ref) == []  # too few rows to say anything
    assert psi(e, a) > PSI_ALARM


def test_cli_monitor_prints_the_history_and_fails_on_alarm_when_asked(folder, tmp_path, capsys):
    score(folder, POSITIVE * 20 + NEGATIVE * 20, tmp_path, name="a.csv")
    score(folder, NEGATIVE * 40, tmp_path, name="b.csv")  # only one label predicted: the mix moved
    capsys.readouterr()
    assert cli_main(["monitor", "--model", str(folder)]) == 0
    printed = capsys.readouterr()
    found = json.loads(printed.out)
    assert found == json.loads(json.dumps(report(folder)))
    assert len(found["history"]) == 2
    expected_psi = psi(found["reference"]["label_mix"], found["history"][1]["label_mix"])
    assert found["history"][1]["psi"] == pytest.approx(expected_psi, abs=1e-4)
    assert expected_psi > PSI_ALARM and found["alarm"]  # all "negative" against a mixed test split
    assert "alarm: the predicted-label mix moved" in printed.err
    assert cli_main(["monitor", "--model", str(folder), "--fail-on-alarm"]) == 3


def test_the_api_adds_its_traffic_when_it_stops(folder):
    with TestClient(create_app(folder)) as client:
        for _ in range(3):
            assert client.post("/predict", json={"texts": POSITIVE + NEGATIVE}).status_code == 200
    [line] = history(folder)  # written at shutdown (the minute had not passed)
    assert line["source"] == "api" and line["scored"] == 18


def test_the_api_writes_its_counts_each_interval_without_losing_or_double_counting(folder):
    """A tiny interval stands for the minute: the counts reach the history while the server runs
    (no request after them, no shutdown), then what came after at the stop; each row once.
    Truth: the rows sent, and the labels the API answered."""
    model = load_folder(folder)
    batcher = MicroBatcher(model, ood=None, max_rows=100, history_every_s=0.2)
    first = batcher.submit(pd.DataFrame({"text": POSITIVE + NEGATIVE})).result(30)
    deadline = time.monotonic() + 10
    while not history(folder) and time.monotonic() < deadline:  # written by the batcher's timer alone
        time.sleep(0.05)
    [line] = history(folder)
    assert line["source"] == "api" and line["scored"] == 6
    answered = first["predicted_label"].astype(str).value_counts(normalize=True).to_dict()
    assert line["label_mix"] == pytest.approx(answered)
    time.sleep(0.4)  # an interval without traffic writes nothing more
    assert len(history(folder)) == 1
    batcher.submit(pd.DataFrame({"text": NEGATIVE + ["ok"]})).result(30)
    batcher.stop()  # the server stops before the interval ends: the rest is written once
    assert [h["scored"] for h in history(folder)] == [6, 4]
    assert sum(h["scored"] for h in history(folder)) == 10


def test_the_api_waits_the_interval_before_it_writes(folder):
    """With a clock the test moves, a line is written only once the interval has passed."""
    now = [0.0]
    batcher = MicroBatcher(load_folder(folder), ood=None, max_rows=100, history_every_s=60, clock=lambda: now[0])
    batcher.submit(pd.DataFrame({"text": POSITIVE})).result(30)
    now[0] = 30.0  # (the batcher then waits 30 real seconds at most: the next request comes first)
    batcher.submit(pd.DataFrame({"text": NEGATIVE})).result(30)  # the batcher looks at the clock after each pass
    assert history(folder) == []
    now[0] = 60.5
    batcher.submit(pd.DataFrame({"text": POSITIVE})).result(30)
    deadline = time.monotonic() + 10
    while not history(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [h["scored"] for h in history(folder)] == [9]
    batcher.stop()
    assert [h["scored"] for h in history(folder)] == [9]  # nothing left to write, nothing written twice


def test_the_api_stamps_its_lines_with_when_the_rows_were_scored_not_when_they_are_written(folder):
    """walk-f: API scorings reached Use over time up to a minute late, stamped at write time. Truth:
    the clock read in the test around each request, and the write one and a half seconds later."""
    from datetime import datetime

    batcher = MicroBatcher(load_folder(folder), ood=None, max_rows=100, history_every_s=600)
    started = time.time()
    batcher.submit(pd.DataFrame({"text": POSITIVE})).result(30)
    batcher.submit(pd.DataFrame({"text": NEGATIVE})).result(30)
    answered = time.time()
    time.sleep(1.5)
    batcher.stop()  # written now, 1.5 s after the last row was scored
    [line] = history(folder)
    at, until = (datetime.strptime(line[k], "%Y-%m-%dT%H:%M:%S%z").timestamp() for k in ("at", "until"))
    assert int(started) <= at <= until <= answered  # second precision: the floor of each time
    assert line["scored"] == 6


def test_models_page_draws_the_history_and_says_when_it_alarms(folder, tmp_path):
    score(folder, POSITIVE * 20 + NEGATIVE * 20, tmp_path, name="a.csv")
    score(folder, NEGATIVE * 20, tmp_path, name="b.csv")
    at = open_models()
    chart = next(f for f in figures(at) if any("PSI" in str(a.get("text")) for a in f["layout"].get("annotations", [])))
    assert len(chart["data"][0]["x"]) == 2
    assert report(folder)["alarm"]
    warning = texts(at.warning)
    assert "looks different" in warning and "PSI" in warning


def test_use_over_time_shows_earlier_versions_scorings_marked_by_version(folder, tmp_path):
    """Walk finding: after a promotion the chart showed only the model in place, the earlier scorings
    sat unseen in versions/vN. Truth: each file's own lines (share unlike training, mean confidence)."""
    from core.versions import VERSIONS

    score(folder, POSITIVE * 20 + NEGATIVE * 20, tmp_path, name="a.csv")
    score(folder, NEGATIVE * 20, tmp_path, name="b.csv")
    kept = folder / VERSIONS / "v1"
    shutil.copytree(folder, kept)  # as a promotion leaves it: the replaced model and its history under versions/
    (folder / HISTORY_FILE).unlink()
    (folder / "version_name.json").write_text(json.dumps({"version": "v2"}))  # the challenger promoted in place
    score(folder, POSITIVE[:1], tmp_path, name="c.csv")  # one row: "1 row", no alarm below 50
    found = report(folder)
    truth = [json.loads(line) for line in (kept / HISTORY_FILE).read_text().splitlines()]
    assert [line["version"] for line in found["earlier"]] == ["v1", "v1"] and len(found["history"]) == 1
    assert [line["mean_confidence"] for line in found["earlier"]] == [line["mean_confidence"] for line in truth]
    at = open_models()
    chart = next(f for f in figures(at) if any("PSI" in str(a.get("text")) for a in f["layout"].get("annotations", [])))
    series = {trace["name"]: trace for trace in chart["data"] if trace["yaxis"] in ("y3",)}
    assert set(series) == {"v1", "v2 (in use)"}
    assert list(series["v1"]["y"]) == [line["mean_confidence"] for line in truth]
    assert "The last scoring had 1 row;" in texts(at.info)
    assert "and 2 of earlier versions (v1)" in " ".join(c.value for c in at.caption)


def test_small_scorings_add_up_to_an_alarm_and_a_small_one_hides_none(folder, tmp_path, capsys):
    """Walk finding: an API's lines of 20-28 rows each never alarmed (each under the 50-row minimum),
    and one small request hid an earlier alarm. Truth: the prediction files themselves (their label
    mix pooled by pandas) and PSI by its formula against the test split's mix."""
    outs = [score(folder, NEGATIVE * 6, tmp_path, name=f"s{i}.csv") for i in range(3)]  # 18 rows each
    found = report(folder)
    assert all(line["alarms"] == [] and line["scored"] < 50 for line in found["history"])  # none alone
    pooled_rows = pd.concat(outs)
    mix = pooled_rows["predicted_label"].astype(str).value_counts(normalize=True).to_dict()
    test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    test_mix = test["predicted_label"].astype(str).value_counts(normalize=True).to_dict()
    assert psi(test_mix, mix) > PSI_ALARM  # the three together moved the mix
    assert found["alarm"] and "PSI" in found["last_alarms"][0]
    assert found["last_covers"]["scorings"] == 3 and found["last_covers"]["rows"] == len(pooled_rows) == 54
    assert found["last_in_words"] == "the last 3 scorings pooled (54 rows)"
    capsys.readouterr()
    assert cli_main(["monitor", "--model", str(folder), "--fail-on-alarm"]) == 3
    assert "judged on the last 3 scorings pooled (54 rows)" in capsys.readouterr().err

    score(folder, POSITIVE[:1], tmp_path, name="one.csv")  # one small request after the alarm
    found = report(folder)
    assert found["alarm"] and found["last_covers"] == {**found["last_covers"], "scorings": 4, "rows": 55}
    assert cli_main(["monitor", str(folder), "--fail-on-alarm"]) == 3  # the model named as the issue wrote it


def test_each_scoring_is_judged_against_the_model_that_scored_it(folder, tmp_path):
    """Walk finding: after "Use ... instead" every earlier scoring was re-judged against the new
    model's test split (9 of 14 lines became alarms). Truth: each model's own test_predictions.csv
    (mean confidence, label mix by pandas), read in the test before and after the swap."""
    from core.monitor import references
    from core.versions import choose

    old_test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    score(folder, POSITIVE * 20 + NEGATIVE * 20, tmp_path, name="a.csv")
    choose(folder, "tfidf")
    new_test = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    score(folder, POSITIVE * 20 + NEGATIVE * 20, tmp_path, name="b.csv")
    lines = report(folder)["history"]
    refs = references(folder)  # kept beside the history through the swap (core.versions.MODEL_FILES)
    assert [line["kind"] for line in lines] == ["transformer", "tfidf"]
    assert [line["model_changed"] for line in lines] == [False, True]
    for line, test in zip(lines, (old_test, new_test)):
        ref = refs[line["reference_id"]]
        assert ref["mean_confidence"] == pytest.approx(test["confidence"].mean(), abs=1e-6)
        test_mix = test["predicted_label"].astype(str).value_counts(normalize=True).to_dict()
        assert line["psi"] == pytest.approx(psi(test_mix, line["label_mix"]), abs=1e-4)
        fell = test["confidence"].mean() - line["mean_confidence"] > 0.10
        assert any("mean confidence fell" in a for a in line["alarms"]) == fell


def test_the_model_in_use_is_v1_before_any_retrain(folder):
    assert report(folder)["version"] == "v1"
