"""Ad Copy Lab's "Suggest rewrites" (ui/rewrites.py) in AppTest: the request starts a rewrite job
with the choices made; a running job shows progress and Cancel (which reaches the job); a finished
job's rewrites are listed with the user's model's scores, and one click adds one to the variants."""

from __future__ import annotations

import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

import core.generate as generate
import core.jobs as jobs
import core.worker as worker
from tests.core.test_generate import Scripted
from tests.ui.test_page_ad_lab import PAGE


@pytest.fixture
def lab_model(models_dir, trained_tiny, monkeypatch):
    shutil.copytree(trained_tiny[1], models_dir / "tiny")
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)  # the tests run the worker themselves
    return "tiny"


def open_lab(model: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["active_model"] = model
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_request_starts_a_job_with_the_choices(lab_model, monkeypatch):
    asked = []
    monkeypatch.setattr(jobs, "start_rewrite_job", lambda *a, **k: asked.append((a, k)) or "20260101-000000-abcdef")
    at = open_lab(lab_model)
    text = captions(at)
    assert generate.GENERATOR_NAME in text and "Apache-2.0" in text and "never sent anywhere" in text
    at.number_input(key="rw_n").set_value(3)
    at.text_input(key="rw_tone").set_value("playful")
    at.text_input(key="rw_keep").set_value("dress, summer")
    at.button(key="rw_start").click()
    at.run()
    (base, name), options = asked[0]
    assert name == lab_model and base == at.text_area(key="adlab_base").value
    assert options["n"] == 3 and options["tone"] == "playful" and options["keep_words"] == "dress, summer"
    assert options["max_chars"] is None and options["positive_class"] == at.selectbox(key="adlab_success").value


def test_a_base_copy_not_in_english_is_refused_with_why_and_no_job_starts(lab_model):
    at = open_lab(lab_model)
    at.text_area(key="adlab_base").set_value("这款耳机音质很好，价格实惠，值得购买")
    at.run()
    at.button(key="rw_start").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("writes English only" in e.value and "table above" in e.value for e in at.error), [e.value for e in at.error]
    assert "rw_job_id" not in at.session_state and not jobs.list_jobs()


def test_running_job_shows_progress_and_cancel_reaches_it(lab_model):
    job_id = jobs.start_rewrite_job("the dress is very", lab_model, n=2)
    at = open_lab(lab_model)  # a new session finds the job (a reload, another page visited)
    assert at.session_state["rw_job_id"] == job_id
    at.button(key="rw_cancel").click()
    at.run()
    # The generator's loading cannot be interrupted: the confirmation says so (a walk waited 52 s).
    assert any("stops once the loading ends" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key="rw_cancel_yes").click()
    at.run()
    assert (jobs.jobs_root() / job_id / "cancel").exists()


def test_finished_rewrites_are_scored_and_added_in_one_click(lab_model, monkeypatch):
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "terrible awful dress"]))
    job_id = jobs.start_rewrite_job("the dress is very", lab_model, n=2, positive_class="positive", max_chars=70,
                                    tone="warm", keep_words="dress")
    worker.run(jobs.jobs_root() / job_id)
    result = jobs.rewrite_result(job_id)
    at = open_lab(lab_model)
    at.text_area(key="adlab_base").set_value("the dress is very")  # shown under the base copy they rewrite
    at.run()
    # A new session's form shows its defaults (no limit): the result says the limit it was written with.
    assert at.number_input(key="rw_max_chars").value == 0
    assert "(longest 70 characters, tone warm, keeping dress)" in captions(at)
    shown = "\n".join(m.value for m in at.markdown)
    assert "love this great dress" in shown and "terrible awful dress" in shown
    first = result[0]
    assert f"{first.score:.1%}" in captions(at)  # the model's own score, as the lab formats it
    at.button(key=f"rw_add_{first.name}").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert first.text in list(at.session_state["adlab_rows"]["text"])
    assert at.button(key=f"rw_add_{first.name}").disabled  # already a variant


def _rewrites_shown(at: AppTest) -> bool:
    return any("love this great dress" in m.value for m in at.markdown)


def test_rewrites_show_only_under_the_model_save_base_copy_and_outcome_they_were_made_for(lab_model, models_dir,
                                                                                       monkeypatch):
    """Walk of issue 30: after switching the active model, model A's P(1) scores showed under model B's
    class name with a "better" verdict, and as rewrites of a base copy the box no longer held."""

    shutil.copytree(models_dir / lab_model, models_dir / "other")
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "terrible awful dress"]))
    job_id = jobs.start_rewrite_job("the dress is very", lab_model, n=2, positive_class="positive")
    worker.run(jobs.jobs_root() / job_id)
    at = open_lab(lab_model)
    at.text_area(key="adlab_base").set_value("the dress is very")
    at.run()
    assert _rewrites_shown(at) and at.selectbox(key="adlab_success").value == "positive"

    at.text_area(key="adlab_base").set_value("a new summer dress")  # another base copy
    at.run()
    assert not _rewrites_shown(at)
    assert "made with model **tiny** for “the dress is very”" in captions(at) and "suggest again" in captions(at)

    at.text_area(key="adlab_base").set_value("the dress is very")
    at.selectbox(key="adlab_success").set_value("negative")  # another outcome
    at.run()
    assert not _rewrites_shown(at) and "scored as P(positive)" in captions(at) and "P(negative)" in captions(at)

    other = AppTest.from_file(PAGE, default_timeout=120)  # the same session, the active model switched to another
    other.session_state["active_model"] = "other"
    other.session_state["rw_job_id"] = job_id
    other.run()
    other.text_area(key="adlab_base").set_value("the dress is very")
    other.run()
    assert not other.exception and not _rewrites_shown(other)
    assert "made with model **tiny**" in captions(other) and "score the base copy above with **other**" in captions(other)

    time.sleep(0.01)  # the same model saved again: its scores may differ
    manifest = models_dir / lab_model / "marketune.json"
    manifest.write_text(manifest.read_text())
    again = open_lab(lab_model)
    again.text_area(key="adlab_base").set_value("the dress is very")
    again.run()
    assert not _rewrites_shown(again) and "(an earlier save)" in captions(again)


def test_a_cancelled_job_says_so_and_the_earlier_rewrites_are_said_to_be_earlier(lab_model, monkeypatch):
    """Walk: after a cancel, a new session (a reload) showed the rewrites of the run before as if
    they were the result, with no word of the cancel. The cancel is said, and the earlier rewrites
    are shown as from the earlier run; in the session that cancelled too."""
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "terrible awful dress"]))
    earlier = jobs.start_rewrite_job("the dress is very", lab_model, n=2)
    worker.run(jobs.jobs_root() / earlier)
    time.sleep(1.1)  # job ids start with the second they were asked in: listed in order
    cancelled = jobs.start_rewrite_job("the dress is very", lab_model, n=2)
    jobs.cancel_job(cancelled)
    worker.run(jobs.jobs_root() / cancelled)
    assert jobs.job_status(cancelled).state == "cancelled"
    for fresh in (True, False):
        at = open_lab(lab_model)
        if not fresh:  # this session asked for it and cancelled it
            at.session_state["rw_job_id"] = cancelled
        at.text_area(key="adlab_base").set_value("the dress is very")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert at.session_state["rw_job_id"] == cancelled
        assert "The rewrites were cancelled; none were kept." in [w.value for w in at.warning]
        lines = captions(at).splitlines()
        said = next(i for i, c in enumerate(lines) if c.startswith("The rewrites below are from an earlier run (asked "))
        assert lines[said].endswith("not from the one that was cancelled.")
        assert lines[said + 1].startswith("Rewrites of “the dress is very”")  # the earlier run's own caption follows
        assert _rewrites_shown(at)
