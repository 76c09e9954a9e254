"""The Train page's settings survive a replaced file, also after a finished job (AppTest).

The browser race behind the bug: replacing a file is two reruns, "no file" (the settings are not
drawn, so the browser forgets their values) and "new file". The browser may send the second with
the settings' old values, so Streamlit believed they were still on screen and sent nothing; the
freshly drawn widgets then showed their own defaults, min_value for these number inputs (batch 1,
fractions 0.01, seed 0, patience 1), and the next click trained with them. AppTest sends only
what it drew last, so the tests add the old widget states by hand, as test_page_train_data does.
"""

from __future__ import annotations

import json

import pytest

import core.jobs
from tests.conftest import make_sentiment_frame
from tests.ui.test_page_train import jobs_cleanup, open_train, poll, texts, upload, use_base_folder  # noqa: F401

USER_SETTINGS = {  # what the user typed, none of them a default or a minimum
    "train_batch_size": 16,
    "train_val_fraction": 0.15,
    "train_test_fraction": 0.25,
    "train_seed": 7,
    "train_patience": 100,
    "train_epochs": 6.0,
    "train_max_length": 32,
}
CONFIG_FIELD = {
    "train_batch_size": "batch_size",
    "train_val_fraction": "val_fraction",
    "train_test_fraction": "test_fraction",
    "train_seed": "seed",
    "train_patience": "early_stopping_patience",
    "train_epochs": "epochs",
    "train_max_length": "max_length",
}


def browser_shows(widget):
    """What a freshly mounted widget shows in the browser: the value Streamlit sends with it
    (``set_value``), else the element's own default (a number input's ``default`` field; for a
    radio, the option at its ``default`` index)."""
    proto = widget.proto
    if hasattr(proto, "raw_value"):  # a radio: the value is the option's text
        return proto.raw_value if proto.set_value else proto.options[proto.default]
    return proto.value if proto.set_value else proto.default


def replace_file_in_a_race(at, name: str, df) -> None:
    """Clear the uploader, then add ``name`` with every widget state the browser last held."""
    stale = [w._widget_state for w in (*at.number_input, *at.checkbox, *at.radio)]
    at.file_uploader(key="train_upload").set_value(None).run()
    assert not at.exception, at.exception
    assert not any(w.key == "train_batch_size" for w in at.number_input)  # the settings were not drawn
    at.file_uploader(key="train_upload").set_value((name, df.to_csv(index=False).encode(), "text/csv"))
    states = at._tree.get_widget_states()
    states.widgets.extend(stale)
    at._run(states)
    assert not at.exception, at.exception


def click_train_as_the_browser(at, monkeypatch):
    """Press Train with the values the browser shows (it sends those), and return the config the
    page would start the job with (the job is recorded, not started)."""
    for widget in at.number_input:
        widget.set_value(browser_shows(widget))
    sent = []

    def fake_start_job(df, config, name):
        sent.append(config)
        raise ValueError("test: not started")

    monkeypatch.setattr(core.jobs, "start_job", fake_start_job)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    (config,) = sent
    return config


def test_settings_survive_a_replaced_file(models_dir, monkeypatch):
    at = upload(open_train(), make_sentiment_frame(60))
    for key, value in USER_SETTINGS.items():
        at.number_input(key=key).set_value(value)
    assert at.checkbox(key="train_class_weighting").value is True  # on by default (TrainConfig's default)
    at.checkbox(key="train_class_weighting").uncheck()  # the user's choice must survive the replaced file
    at.radio(key="train_method").set_value("lora").run()
    replace_file_in_a_race(at, "second.csv", make_sentiment_frame(70, seed=3))
    shown = {key: browser_shows(at.number_input(key=key)) for key in USER_SETTINGS}
    assert shown == pytest.approx(USER_SETTINGS)
    assert browser_shows(at.checkbox(key="train_class_weighting")) is False
    assert browser_shows(at.radio(key="train_method")) == "LoRA"
    config = click_train_as_the_browser(at, monkeypatch)
    assert {key: getattr(config, field) for key, field in CONFIG_FIELD.items()} == pytest.approx(USER_SETTINGS)
    assert config.method == "lora" and config.class_weighting is False


def test_after_a_finished_job_the_next_file_keeps_the_settings(models_dir, tiny_model_dir, jobs_cleanup, monkeypatch):  # noqa: F811
    at = upload(open_train(), make_sentiment_frame(80))
    use_base_folder(at, tiny_model_dir)
    at.radio(key="train_preset").set_value("Fast").run()
    at.radio(key="train_method").set_value("full").run()
    for key, value in USER_SETTINGS.items():
        at.number_input(key=key).set_value(value)
    at.run()
    at.button(key="train_start").click().run()
    assert not at.error, texts(at.error)
    job_id = at.session_state["train_job_id"]
    first = json.loads((core.jobs.jobs_root() / job_id / "request.json").read_text())["config"]
    assert {key: first[field] for key, field in CONFIG_FIELD.items()} == pytest.approx(USER_SETTINGS)
    poll(at, lambda at: core.jobs.job_status(job_id).state == "done")  # the best so far is announced before the end
    assert core.jobs.job_status(job_id).state == "done"

    replace_file_in_a_race(at, "second.csv", make_sentiment_frame(90, seed=5))
    assert "second.csv" in texts(at.markdown)
    shown = {key: browser_shows(at.number_input(key=key)) for key in USER_SETTINGS}
    assert shown == pytest.approx(USER_SETTINGS)  # before the fix: batch 1, fractions 0.01, seed 0, ...
    config = click_train_as_the_browser(at, monkeypatch)
    assert {key: getattr(config, field) for key, field in CONFIG_FIELD.items()} == pytest.approx(USER_SETTINGS)
    assert config.method == "full"
