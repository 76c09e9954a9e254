"""The team server's API (core/serve_team.py, core/api_tokens.py): a token reaches its holder's
workspace only. Truths: the folders the workspaces were made with (core.workspace, the app's own
sign-in path), the CLI's predictions for the same rows, and plain HTTP status codes."""

from __future__ import annotations

import shutil
import stat

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.api_tokens import digest, issue, list_tokens, revoke, team_settings_from, tokens_path
from core.cli import main as cli_main
from core.serve_team import create_team_app
from core.workspace import Identity, for_identity

SECRET = "k" * 40


@pytest.fixture(scope="module")
def server(trained_tiny, tmp_path_factory):
    """A team server with two people, each with one model of their own: (settings, {name: (workspace, token)})."""
    root = tmp_path_factory.mktemp("team")
    secrets = root / "secrets.toml"
    secrets.write_text(f'[auth]\nredirect_uri = "x"\n\n[marketune]\ndata_dir = "{root / "data"}"\n'
                       f'workspace_secret = "{SECRET}"\n')
    settings = team_settings_from(secrets)
    people = {}
    for name in ("ana", "ben"):
        identity = Identity(issuer="https://idp", subject=f"sub-{name}", email=f"{name}@example.org", email_verified=True)
        ws = for_identity(identity, settings).ensure(identity)
        shutil.copytree(trained_tiny[1], ws.models / f"{name}-model")
        token, _ = issue(settings, f"{name.upper()}@example.org")  # the e-mail without case
        people[name] = (ws, token)
    return settings, people, secrets


@pytest.fixture(scope="module")
def client(server):
    return TestClient(create_team_app(server[0]))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_or_an_unknown_one_is_401(client, server):
    assert client.post("/predict?model=ana-model", json={"texts": ["hi"]}).status_code == 401
    assert client.get("/health", headers=auth("mkt_not-issued")).status_code == 401
    assert client.get("/health").json() == {"status": "ok"}  # a load balancer's probe: no token, no model named
    assert client.get("/model?model=ana-model", headers={"Authorization": server[1]["ana"][1]}).status_code == 401


def test_each_token_reaches_its_own_model_with_the_clis_answers(client, server, tmp_path):
    texts = ["great fast delivery love it", "terrible broken refund"]
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": texts}).to_csv(data, index=False)
    for name in ("ana", "ben"):
        ws, token = server[1][name]
        folder = ws.models / f"{name}-model"
        assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out)]) == 0
        expected = pd.read_csv(out)
        got = client.post(f"/predict?model={name}-model", json={"texts": texts}, headers=auth(token))
        assert got.status_code == 200, got.text
        assert [p["label"] for p in got.json()["predictions"]] == expected["predicted_label"].astype(str).tolist()
        assert client.get(f"/model?model={name}-model", headers=auth(token)).json()["name"] == f"{name}-model"


@pytest.mark.parametrize("caller, other", [("ben", "ana"), ("ana", "ben")])
def test_a_token_never_reaches_another_persons_models(client, server, caller, other):
    token = server[1][caller][1]
    other_ws = server[1][other][0]
    plain = client.post(f"/predict?model={other}-model", json={"texts": ["hi"]}, headers=auth(token))
    assert plain.status_code == 404
    assert f"workspace of {caller}@example.org" in plain.json()["detail"]
    by_id = client.get(f"/model?model={other_ws.id}:{other}-model", headers=auth(token))
    assert by_id.status_code == 403 and "another person's workspace" in by_id.json()["detail"]
    sneaky = client.get("/model?model=../../x", headers=auth(token))
    assert sneaky.status_code == 403


def test_token_file_keeps_digests_only_and_is_owner_only(server):
    settings, people, _ = server
    path = tokens_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    for _, token in people.values():
        assert token not in text and digest(token) in text
    holders = {r["person"] for r in list_tokens(settings)}
    assert holders == {"ana@example.org", "ben@example.org"}


def test_revoked_token_is_401_at_once_and_admin_cli_prints_a_token_once(server, tmp_path, capsys):
    settings, people, secrets = server
    client = TestClient(create_team_app(settings, model="ben-model"))
    assert cli_main(["api-token", "add", "ben@example.org", "--secrets", str(secrets)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("mkt_")
    assert client.get("/health", headers=auth(token)).json() == {"status": "ok", "model": "ben-model"}
    record = next(r for r in list_tokens(settings) if r["id"] == digest(token)[:12])
    assert cli_main(["api-token", "revoke", record["id"], "--secrets", str(secrets)]) == 0
    assert client.get("/health", headers=auth(token)).status_code == 401
    assert client.get("/health", headers=auth(people["ben"][1])).status_code == 200  # others stay valid
    with pytest.raises(ValueError, match="tokens have an id"):
        revoke(settings, record["id"])


def test_unknown_person_and_laptop_settings_are_refused_with_what_to_do(server, tmp_path, capsys):
    settings = server[0]
    with pytest.raises(ValueError, match="signs in to the app once"):
        issue(settings, "nobody@example.org")
    laptop = tmp_path / "secrets.toml"
    laptop.write_text("[marketune]\nmax_rows = 10\n")
    assert cli_main(["api-token", "list", "--secrets", str(laptop)]) == 2
    assert "not a team server" in capsys.readouterr().err
