"""Sign-in and workspaces in AppTest (ui/account.py): a team server (an [auth] section) asks for
sign-in first, then shows each person their own models only; links to another person's model
are refused on the page; admins see every workspace and the queue.

AppTest fakes the signed-in person through ``at.user`` (the claims ``st.user`` returns) and the
configuration through ``at.secrets``; the real OpenID Connect flow is in
tests/test_e2e_sign_in.py. Saved models are JSON-only folders (tests/test_page_models.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import workspace
from core.workspace import Identity, TeamSettings
from tests.ui.test_page_models import regression_folder
from tests.ui.test_page_train import frame_with, texts

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.example"
ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana-1", "email": "ana@example.com", "name": "Ana"}
BEN = {"is_logged_in": True, "iss": ISSUER, "sub": "ben-2", "email": "ben@example.com", "name": "Ben"}
BOSS = {"is_logged_in": True, "iss": ISSUER, "sub": "boss-3", "email": "boss@example.com", "name": "Boss",
        "email_verified": True}


@pytest.fixture
def team(tmp_path, models_dir):
    """A team server's data folder where Ana and Ben each saved a model, plus one on the laptop
    models folder (which a team server must never show)."""
    data = tmp_path / "data"
    settings = TeamSettings(data_dir=data)
    ids = {}
    for claims, name in ((ANA, "ana-model"), (BEN, "ben-model")):
        ws = workspace.for_identity(Identity.from_claims(claims), settings).ensure(Identity.from_claims(claims))
        regression_folder(ws.models / name)
        ids[claims["sub"]] = ws.id
    regression_folder(models_dir / "laptop-model")
    return data, ids


def team_app(data: Path, user: dict, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets = {
        "auth": {
            "redirect_uri": "http://localhost:8501/oauth2callback",
            "cookie_secret": "a-test-secret-of-thirty-two-chars!",
            "client_id": "marketune",
            "client_secret": "not-used-here",
            "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
        },
        "marketune": {"data_dir": str(data), "admins": ["boss@example.com"]},
    }
    at.user = dict(user)
    at.query_params.update(query or {})
    return at


def on_models_page(at: AppTest, home: list | None = None) -> AppTest:
    """Run the app (home page), then the Models page. ``home`` collects the first run's sidebar
    captions and page errors: AppTest runs a switched-to page on its own, without the sidebar."""
    at.run()
    assert not at.exception, at.exception
    if home is not None:
        home += [texts(at.sidebar.caption), texts(at.error), [s.value for s in at.sidebar.selectbox]]
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    return at


def model_names(at: AppTest) -> set[str]:
    return set(frame_with(at, "base model")["name"])


def test_nothing_but_sign_in_until_someone_signs_in(team):
    data, _ = team
    at = team_app(data, {}).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    shown = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.title))
    for name in ("ana-model", "ben-model", "laptop-model", "Active model"):
        assert name not in shown
    assert not at.dataframe


def test_a_page_run_without_the_sign_in_gate_opens_nothing(team):
    """Fail closed: should a page ever run without app.py's gate, core refuses to pick a
    workspace for nobody instead of falling back to the laptop folder."""
    data, _ = team
    at = AppTest.from_file(str(ROOT / "pages" / "models.py"), default_timeout=60)
    at.secrets = team_app(data, {}).secrets
    at.user = {}
    at.run()
    assert at.exception  # core.workspace.WorkspaceError "Sign in first" (the page shows it redacted)
    assert not at.dataframe and not at.selectbox


def test_each_person_sees_only_their_own_models(team):
    data, _ = team
    home = []
    ana = on_models_page(team_app(data, ANA), home)
    assert model_names(ana) == {"ana-model"}
    assert "Signed in as **ana@example.com**" in home[0]
    assert home[2] == ["ana-model"]  # the sidebar's model picker
    ben = on_models_page(team_app(data, BEN))
    assert model_names(ben) == {"ben-model"}
    assert not any("All workspaces" in s for s in texts(ben.subheader))


def test_a_new_person_gets_an_empty_workspace(team):
    data, _ = team
    newcomer = {"is_logged_in": True, "iss": ISSUER, "sub": "new-4", "email": "new@example.com"}
    at = on_models_page(team_app(data, newcomer))
    assert "No saved models yet" in texts(at.info)
    wid = workspace.for_identity(Identity.from_claims(newcomer), TeamSettings(data_dir=data)).id
    assert workspace.owner_of(data / "workspaces" / wid)["email"] == "new@example.com"


def test_a_workspace_from_before_the_key_moves_at_sign_in_once_no_job_of_it_runs(tmp_path):
    """A server upgraded from plain SHA-256 ids: Ana's old folder (a model, a queued job) stays in
    use while the job waits; her first sign-in after it ended moves it to her new id."""
    data = tmp_path / "data"
    ana = Identity.from_claims(ANA)
    old = data / "workspaces" / ana.legacy_workspace_id
    workspace.Workspace(old.name, old / "models", old / "jobs", old / "labels", old / "predictions",
                        data_dir=data).ensure(ana)
    regression_folder(old / "models" / "from-last-year")
    job = old / "jobs" / "20260101-000000-abcdef"
    job.mkdir()
    (job / "request.json").write_text(json.dumps({"kind": "train", "model_name": "next", "created": 1.0,
                                                  "models_dir": str(old / "models")}))
    (job / "state.json").write_text(json.dumps({"state": "queued"}))  # its worker is starting: no pid yet

    assert model_names(on_models_page(team_app(data, ANA))) == {"from-last-year"}
    new = data / "workspaces" / ana.workspace_id(workspace.workspace_key(TeamSettings(data_dir=data)))
    assert old.is_dir() and not new.exists()  # the worker writes to the old folder's paths

    (job / "state.json").write_text(json.dumps({"state": "failed", "message": "x"}))
    assert model_names(on_models_page(team_app(data, ANA))) == {"from-last-year"}
    assert not old.exists() and (new / "models" / "from-last-year" / "marketune.json").is_file()
    assert json.loads((new / "jobs" / job.name / "request.json").read_text())["models_dir"] == str(new / "models")


@pytest.mark.parametrize("crafted", ["{ben}:ben-model", "../{ben}/models/ben-model", "/etc", "team:ben-model"])
def test_a_link_to_another_persons_model_is_refused_with_a_message(team, crafted):
    data, ids = team
    link = crafted.format(ben=ids["ben-2"])
    home = []
    at = on_models_page(team_app(data, ANA, {"model": link}), home)
    assert "The link's model cannot be opened" in home[1]
    if crafted.startswith("team:"):  # no such team model: the message names the team's workspace, not hers
        assert "No saved model named 'team:ben-model' in the team's workspace." in home[1]
    assert home[2] == ["ana-model"]  # still her own model
    assert model_names(at) == {"ana-model"}


def test_a_link_to_ones_own_model_opens_it(team):
    data, _ = team
    settings = TeamSettings(data_dir=data)
    folder = regression_folder(workspace.for_identity(Identity.from_claims(ANA), settings).models / "ana-older")
    manifest = json.loads((folder / "marketune.json").read_text())
    (folder / "marketune.json").write_text(json.dumps({**manifest, "saved_at": "2019-01-01T00:00:00+0000"}))
    plain = team_app(data, ANA).run()
    assert plain.sidebar.selectbox[0].value == "ana-model"  # the newest, without a link
    linked = team_app(data, ANA, {"model": "ana-older"}).run()
    assert not linked.error
    assert linked.sidebar.selectbox[0].value == "ana-older"
    assert "model" not in linked.query_params  # applied once; the sidebar's choice wins afterwards


def test_admins_see_every_workspace_and_the_queue(team):
    data, ids = team
    home = []
    at = on_models_page(team_app(data, BOSS), home)
    assert {f"{ids['ana-1']}:ana-model", f"{ids['ben-2']}:ben-model"} <= model_names(at)
    assert "All workspaces (admin)" in texts(at.subheader)
    owners = set(frame_with(at, "owner")["owner"])
    assert {"ana@example.com", "ben@example.com", "boss@example.com"} <= owners
    assert "Signed in as **boss@example.com** · admin" in home[0]
    # Looking, not changing: on another person's model no Delete is offered (it would be refused).
    at.selectbox(key="models_open").set_value(f"{ids['ana-1']}:ana-model").run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "models_delete"]
    own = on_models_page(team_app(data, ANA))
    assert [b for b in own.button if b.key == "models_delete"]  # the owner has it


def test_share_with_team_appears_only_where_the_team_workspace_is_writable(team):
    data, _ = team
    read_only = on_models_page(team_app(data, ANA))
    assert not [b for b in read_only.button if b.key == "models_share"]
    at = team_app(data, ANA)
    at.secrets["marketune"] = {**at.secrets["marketune"], "team_workspace": "write"}
    at = on_models_page(at)
    at.button(key="models_share").click().run()
    assert not at.exception, at.exception
    assert "Shared with the team as **team:ana-model**" in texts(at.success)
    assert (data / "team" / "models" / "ana-model" / "marketune.json").is_file()
    assert "team:ana-model" in model_names(on_models_page(team_app(data, BEN)))  # Ben sees the team's copy
