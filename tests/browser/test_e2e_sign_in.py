"""End to end in headless Chromium: sign-in with a real OpenID Connect flow, one workspace each.

A test identity provider (tests/oidc_provider.py, on Authlib) runs in this process; the app
runs as a team server (an ``[auth]`` section in its secrets file). Ana and Ben sign in, in two
separate browser contexts (two people's cookies), each trains a tiny model (a few rows, the tiny
random BERT); neither sees the other's model on the Models or Predict page, a link naming
Ben's model is refused on Ana's page with a message, and signing out leaves only the sign-in
button.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("tests.browser.browser_utils")
from tests.browser.browser_utils import (  # noqa: E402 - after register_assert_rewrite, on purpose
    ARTIFACTS,
    ROOT,
    by_key,
    cancel_jobs,
    choose,
    click,
    fill,
    free_port,
    nav_to,
    options_of,
    screenshot,
    start_streamlit,
    stop_streamlit,
    upload,
    wait_idle,
    wait_ready,
)
from tests.browser.oidc_provider import TestIdentityProvider  # noqa: E402

pytest_plugins = ["tests.browser.browser_utils"]  # the chromium_browser fixture

TRAIN_LIMIT_MS = 300_000  # a tiny job takes ~30-60 s; the second waits for the first (one queue)
USERS = {
    "ana": {"email": "ana@example.com", "email_verified": True, "name": "Ana"},
    "ben": {"email": "ben@example.com", "email_verified": True, "name": "Ben"},
    "boss": {"email": "boss@example.com", "email_verified": True, "name": "Boss"},
}


@pytest.fixture
def team_server(tmp_path, tiny_model_dir):
    """The identity provider and the app configured to use it; yields (app, idp, data folder)."""
    client_id, client_secret = "marketune-test", "test-client-secret"
    port = free_port()
    data = tmp_path / "data"
    with TestIdentityProvider(USERS, client_id, client_secret) as idp:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-that-is-long-enough"\n'
            f'client_id = "{client_id}"\n'
            f'client_secret = "{client_secret}"\n'
            f'server_metadata_url = "{idp.metadata_url}"\n'
            "[marketune]\n"
            f'data_dir = "{data}"\n'
            'admins = ["boss@example.com"]\n'
            "[marketune.base_models]\n"  # the tiny model, offered by the admin: no path is typed on a team server
            f'tiny = "{tiny_model_dir}"\n',
            encoding="utf-8",
        )
        app = start_streamlit(tmp_path / "laptop-models", tmp_path / "laptop-jobs", tmp_path / "streamlit.log",
                              options=("--secrets.files", str(secrets)), port=port)
        try:
            yield app, idp, data
        finally:
            for jobs in data.glob("workspaces/*/jobs"):
                cancel_jobs(jobs)
            stop_streamlit(app.process)


def sign_in(page, app, user: str) -> None:
    page.goto(app.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=f"Sign in as {user}").click()  # the provider's page
    page.wait_for_url(re.compile(re.escape(app.url)))
    wait_ready(page)
    # The address is shown with an invisible word joiner before the "@" (ui/markdown.py: no mailto link).
    shown = re.escape(USERS[user]["email"]).replace("@", "\u2060?@")
    expect(page.get_by_test_id("stSidebar")).to_contain_text(re.compile(f"Signed in as {shown}"), timeout=60_000)


def start_tiny_training(page, csv, model_name: str) -> None:
    nav_to(page, "Train")
    page.get_by_role("heading", name="Train a model").wait_for()
    upload(page, "train_upload", csv)
    for _ in range(3):  # on a busy machine the pick is sometimes lost to a rerun still running: pick again
        try:
            choose(page, "train_base_select", "Other")
            by_key(page, "train_base_ref").get_by_role("combobox").wait_for(timeout=15_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            page.keyboard.press("Escape")
            wait_idle(page)
    # Issue 32: a list of what the server offers, never a path field (a path could read Ben's model).
    expect(by_key(page, "train_base_custom")).to_have_count(0)
    choose(page, "train_base_ref", "server:tiny")
    by_key(page, "train_preset").get_by_text("Fast", exact=True).click()
    wait_idle(page)
    # Full fine-tuning, one epoch: seconds; auto would cross-validate a few-shot model on 60 rows.
    by_key(page, "train_method").get_by_text("Full fine-tuning", exact=True).click()
    wait_idle(page)
    fill(page, "train_model_name", model_name)
    click(page, "train_start")


def wait_trained(page, model_name: str) -> None:
    # A model this small may be no better than guessing: saved with a warning then, which is fine here.
    page.get_by_text(re.compile(f"Model {model_name} (is trained and saved|was saved)")).wait_for(timeout=TRAIN_LIMIT_MS)


def models_listed(page) -> list[str]:
    """The model names in the Models page's "Model" box (its options)."""
    nav_to(page, "Models")
    page.get_by_role("heading", name="Models").wait_for()
    return options_of(page, "models_open")


@pytest.mark.browser
def test_two_people_sign_in_and_never_see_each_others_models(chromium_browser, team_server, tmp_path):
    app, idp, data = team_server
    rows = pd.read_csv(ROOT / "sample_data" / "sentiment_reviews_en.csv").groupby("label").head(30)
    csv = tmp_path / "reviews.csv"
    rows.to_csv(csv, index=False)

    ana_context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    ben_context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    ana, ben = ana_context.new_page(), ben_context.new_page()
    for tab in (ana, ben):
        tab.set_default_timeout(60_000)
    try:
        # Before sign-in: a sign-in button and nothing else, whatever page the address names.
        ana.goto(f"{app.url}/models")
        ana.get_by_role("button", name="Sign in").wait_for()
        expect(ana.get_by_text("Active model")).to_have_count(0)

        sign_in(ana, app, "ana")
        sign_in(ben, app, "ben")
        assert idp.sign_ins == ["ana", "ben"]
        # Both start; Ben's job waits in the one queue behind Ana's.
        start_tiny_training(ana, csv, "ana-model")
        start_tiny_training(ben, csv, "ben-model")
        wait_trained(ana, "ana-model")
        wait_trained(ben, "ben-model")

        # On disk: one workspace each, each holding its own model only.
        folders = {p.parent.name: p.parents[2].name for p in data.glob("workspaces/*/models/*/marketune.json")}
        assert set(folders) == {"ana-model", "ben-model"} and folders["ana-model"] != folders["ben-model"]
        ben_id = folders["ben-model"]

        assert models_listed(ana) == ["ana-model"]
        assert models_listed(ben) == ["ben-model"]
        # Issue 32: Ben may fine-tune from his own model and the admin's folder, never from Ana's.
        nav_to(ben, "Train")
        upload(ben, "train_upload", csv)
        choose(ben, "train_base_select", "Other")
        offered = options_of(ben, "train_base_ref")
        # His model is offered when it is a fine-tuned transformer (a tiny one may lose to TF-IDF).
        transformer = (data / "workspaces" / ben_id / "models" / "ben-model" / "config.json").is_file()
        assert sorted(o.split(" — ")[0] for o in offered) == ["ben-model"] * transformer + ["server:tiny"], offered

        # The admin sees both workspaces and both models (read only), named <workspace>:<model>.
        boss_context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
        boss = boss_context.new_page()
        boss.set_default_timeout(60_000)
        sign_in(boss, app, "boss")
        assert sorted(name.split(":")[-1] for name in models_listed(boss)) == ["ana-model", "ben-model"]
        admin_table = boss.get_by_text("All workspaces (admin)")
        admin_table.wait_for()
        boss_context.close()
        nav_to(ana, "Predict")
        box = by_key(ana, "predict_model").get_by_role("combobox")
        expect(box).to_have_value("ana-model", timeout=60_000)
        assert options_of(ana, "predict_model") == ["ana-model"]

        # Crafted links naming Ben's model: refused on the page, Ana's own model stays active.
        for crafted in (f"{ben_id}:ben-model", f"../{ben_id}/models/ben-model"):
            ana.goto(f"{app.url}/models?model={crafted}")
            wait_ready(ana)
            error = ana.get_by_test_id("stAlertContentError").filter(has_text="The link's model cannot be opened")
            error.wait_for()
            expect(error).to_contain_text(re.compile(r"another person's workspace|not allowed"))
            expect(ana.get_by_test_id("stSidebar").get_by_role("combobox")).to_have_value("ana-model", timeout=60_000)
        # A crafted model name on the Train page cannot write into Ben's workspace either.
        nav_to(ana, "Train")
        upload(ana, "train_upload", csv)
        fill(ana, "train_model_name", f"{ben_id}:ben-model")
        ana.get_by_text(f"Model name '{ben_id}:ben-model' is not allowed").wait_for()
        expect(by_key(ana, "train_start").locator("button")).to_be_disabled()

        # Sign out: back to the sign-in button; the app shows nothing of Ana's any more.
        ana.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        ana.get_by_role("button", name="Sign in").wait_for()
        ana.goto(f"{app.url}/models")
        ana.get_by_role("button", name="Sign in").wait_for()
        expect(ana.get_by_text("ana-model")).to_have_count(0)
        # Signing out is an expected state, not an error: no traceback in the server's log.
        log = (tmp_path / "streamlit.log").read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log and "Unexpected error" not in log, log[-3000:]
    except Exception:
        for who, tab in (("ana", ana), ("ben", ben)):  # what each browser showed when it failed
            screenshot(tab, f"FAILED-sign_in-{who}.png")
            (ARTIFACTS / f"FAILED-sign_in-{who}.txt").write_text(tab.inner_text("body"), encoding="utf-8")
        raise
    finally:
        ana_context.close()
        ben_context.close()
