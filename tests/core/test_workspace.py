"""The workspace resolver (core/workspace.py): each person's folders, and every model name checked.

Saved models here are bare folders with a marketune.json (all list_models reads); the resolver
never loads weights, so no model is trained.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from core import workspace
from core.cleanup import OLD_NAME, TEMP_NAME
from core.jobs import cancel_job, jobs_root
from core.labeling import label_store, labels_root
from core.registry import (
    can_share,
    delete_model,
    list_models,
    load_model,
    model_path,
    models_root,
    share_model,
    validate_name,
    zip_model,
)
from core.workspace import Identity, TeamSettings

ANA = Identity(issuer="https://idp.example", subject="ana-123", email="Ana@Example.com")
BEN = Identity(issuer="https://idp.example", subject="ben-456", email="ben@example.com")


def fake_model(folder: Path, saved_at: str = "2026-01-01T00:00:00") -> Path:
    folder.mkdir(parents=True)
    manifest = {"kind": "tfidf", "task": "classification", "classes": ["neg", "pos"], "saved_at": saved_at}
    (folder / "marketune.json").write_text(json.dumps(manifest))
    (folder / "model.safetensors").write_bytes(b"weights of " + folder.name.encode())
    return folder


@pytest.fixture
def server(tmp_path):
    """A team server's data folder with Ana's and Ben's workspaces (one model each, both named
    "churn") and a team model; yields a function that makes someone the caller."""
    settings = TeamSettings(data_dir=tmp_path / "data", admins=frozenset({"boss@example.com"}))
    spaces = {who.subject: workspace.for_identity(who, settings).ensure(who) for who in (ANA, BEN)}
    fake_model(spaces["ana-123"].models / "churn", "2026-01-02T00:00:00")
    fake_model(spaces["ben-456"].models / "churn", "2026-01-03T00:00:00")
    fake_model(settings.data_dir / "team" / "models" / "shared-sentiment")

    def sign_in(who: Identity, **changes):
        ws = workspace.for_identity(who, TeamSettings(**{**settings.__dict__, **changes})).ensure(who)
        workspace.set_session_lookup(lambda: ws)
        return ws

    previous = workspace._session_lookup  # ui/account.py's, when an AppTest module imported it first
    yield sign_in, spaces, settings
    workspace.set_session_lookup(previous)


def test_laptop_mode_is_todays_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_MODELS_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("MARKETUNE_JOBS_DIR", str(tmp_path / "j"))
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "l"))
    assert (models_root(), jobs_root(), labels_root()) == (tmp_path / "m", tmp_path / "j", tmp_path / "l")
    assert model_path("churn") == tmp_path / "m" / "churn"
    monkeypatch.delenv("MARKETUNE_MODELS_DIR")
    assert models_root() == Path(workspace.__file__).resolve().parent.parent / "models"
    # A laptop has no other workspaces: a qualified name is simply not a model name there.
    with pytest.raises(ValueError, match="not allowed"):
        model_path("team:churn")


@pytest.mark.parametrize("name", ["../churn", "..", "/etc/passwd", "a/b", "churn/../../x", "", ".hidden", "a:b:c"])
def test_traversal_and_absolute_names_are_refused(server, name):
    sign_in, _, _ = server
    sign_in(ANA)
    with pytest.raises(ValueError) as error:
        model_path(name)
    assert "not allowed" in str(error.value) or "names no workspace" in str(error.value)


def test_each_person_has_their_own_folders_from_issuer_and_subject(server):
    sign_in, spaces, settings = server
    ana, ben = spaces["ana-123"], spaces["ben-456"]
    assert ana.id != ben.id and workspace.ID_PATTERN.match(ana.id)
    # The id is a hash of (issuer, subject), not of anything typed: the same subject at another
    # provider is another person, and an e-mail change keeps the workspace.
    key = workspace.workspace_key(settings)
    assert Identity("https://other.example", "ana-123").workspace_id(key) != ana.id
    assert Identity("https://idp.example", "ana-123", email="new@example.com").workspace_id(key) == ana.id
    assert ana.models == settings.data_dir / "workspaces" / ana.id / "models"
    assert json.loads((ana.models.parent / "owner.json").read_text())["email"] == "Ana@Example.com"
    # Owner-only as this process (umask 022) made them: no server umask is needed for these.
    made = [ana.models.parent / "owner.json", settings.data_dir / workspace.SECRET_FILE, settings.data_dir,
            ana.models, ana.jobs, ana.labels, ana.predictions]
    assert [f"{p.stat().st_mode & 0o777:o} {p.name}" for p in made] == [
        "600 owner.json", "600 .workspace_secret", "700 data", "700 models", "700 jobs", "700 labels", "700 predictions"]
    sign_in(ANA)
    assert (models_root(), jobs_root(), labels_root()) == (ana.models, ana.jobs, ana.labels)


def test_nobody_lists_or_opens_another_persons_model(server):
    sign_in, spaces, _ = server
    ben = spaces["ben-456"]
    sign_in(ANA)
    listed = [m.name for m in list_models()]
    assert listed == ["churn", "team:shared-sentiment"]
    assert list_models()[0].path == spaces["ana-123"].models / "churn"  # her own, not Ben's newer one
    crafted = f"{ben.id}:churn"
    for action in (model_path, load_model, zip_model, delete_model):
        with pytest.raises(ValueError, match="another person's workspace"):
            action(crafted)
    assert (ben.models / "churn" / "marketune.json").is_file()


def test_a_link_out_of_the_workspace_is_refused_and_not_listed(server):
    sign_in, spaces, _ = server
    ana = sign_in(ANA)
    (ana.models / "stolen").symlink_to(spaces["ben-456"].models / "churn", target_is_directory=True)
    assert "stolen" not in [m.name for m in list_models()]
    with pytest.raises(ValueError, match="link"):
        model_path("stolen")
    with pytest.raises(ValueError, match="link"):
        zip_model("stolen")


def test_a_link_inside_a_model_folder_is_left_out_of_the_download(server, tmp_path):
    sign_in, _, _ = server
    ana = sign_in(ANA)
    secret = tmp_path / "secret.txt"
    secret.write_text("server secret")
    os.symlink(secret, ana.models / "churn" / "notes.txt")
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(zip_model("churn"))).namelist()
    assert names == ["churn/marketune.json", "churn/model.safetensors"]


def test_team_workspace_is_read_only_unless_configured(server):
    sign_in, _, settings = server
    sign_in(ANA)
    assert model_path("team:shared-sentiment") == settings.data_dir / "team" / "models" / "shared-sentiment"
    with pytest.raises(ValueError, match="read-only"):
        delete_model("team:shared-sentiment")
    sign_in(ANA, team_workspace="write")
    delete_model("team:shared-sentiment")
    assert not (settings.data_dir / "team" / "models" / "shared-sentiment").exists()
    sign_in(ANA, team_workspace="off")
    with pytest.raises(ValueError, match="no team workspace"):
        model_path("team:shared-sentiment")
    assert [m.name for m in list_models()] == ["churn"]


def test_sharing_copies_ones_own_model_into_a_writable_team_workspace_only(server):
    sign_in, spaces, settings = server
    sign_in(ANA)  # team_workspace "read" (the default)
    assert not can_share()
    with pytest.raises(ValueError, match="read-only"):
        share_model("churn")
    sign_in(ANA, team_workspace="write")
    assert can_share()
    assert share_model("churn") == "team:churn"
    team_copy = settings.data_dir / "team" / "models" / "churn"
    own = spaces["ana-123"].models / "churn"
    assert (team_copy / "model.safetensors").read_bytes() == (own / "model.safetensors").read_bytes() == b"weights of churn"
    assert own.is_dir() and not [p for p in team_copy.parent.iterdir() if p.name.startswith(".")]  # no temp left
    assert [p.stat().st_mode & 0o777 for p in (team_copy, *team_copy.iterdir())] == [0o700, 0o600, 0o600]  # owner-only
    sign_in(BEN)  # another person, read-only team: sees and opens the shared copy, not Ana's own
    assert "team:churn" in [m.name for m in list_models()] and model_path("team:churn") == team_copy
    sign_in(BEN, team_workspace="write")
    with pytest.raises(ValueError, match="already has a model named 'churn'"):
        share_model("churn")  # Ben's own "churn" may not replace the team's
    with pytest.raises(ValueError, match="Only your own models"):
        share_model(f"{spaces['ana-123'].id}:churn")
    with pytest.raises(ValueError, match="No saved model"):
        share_model("nothing-here")
    sign_in(ANA, team_workspace="off")
    assert not can_share()


def test_admins_see_every_workspace_but_change_none(server):
    sign_in, spaces, settings = server
    boss = Identity("https://idp.example", "boss-1", email="BOSS@example.com", email_verified=True)
    admin = sign_in(boss)
    assert admin.admin
    ben = spaces["ben-456"]
    listed = {m.name: m.path for m in list_models()}
    assert listed[f"{ben.id}:churn"] == ben.models / "churn"
    assert listed[f"{spaces['ana-123'].id}:churn"] == spaces["ana-123"].models / "churn"
    assert zip_model(f"{ben.id}:churn")  # may download it
    with pytest.raises(ValueError, match="admins may look"):
        delete_model(f"{ben.id}:churn")
    assert {wid for wid, _ in admin.other_workspaces()} == {ben.id, spaces["ana-123"].id}
    # An address the provider marks unverified is not trusted as an admin's.
    unverified = Identity("https://idp.example", "boss-2", email="boss@example.com", email_verified=False)
    assert not workspace.for_identity(unverified, settings).admin
    with pytest.raises(ValueError, match="Only admins"):
        sign_in(ANA).other_workspaces()


def test_one_training_queue_for_the_whole_server(server):
    sign_in, spaces, settings = server
    ana = sign_in(ANA)
    assert ana.queue_dir == settings.data_dir / "queue"
    roots = workspace.jobs_roots_sharing(ana.queue_dir)
    assert set(roots) == {spaces["ana-123"].jobs, spaces["ben-456"].jobs}
    assert workspace.jobs_roots_sharing(Path("/somewhere/jobs")) == [Path("/somewhere/jobs")]  # a laptop's


def test_settings_and_identity_errors_are_worded():
    assert TeamSettings.from_mapping({"admins": "a@x.org"}).admins == {"a@x.org"}
    assert TeamSettings.from_mapping({"data_dir": "/srv/mt"}).data_dir == Path("/srv/mt")
    with pytest.raises(ValueError, match="team_workspace must be one of"):
        TeamSettings.from_mapping({"team_workspace": "everyone"})
    with pytest.raises(ValueError, match="admins must be a list"):
        TeamSettings.from_mapping({"admins": [1, 2]})
    with pytest.raises(ValueError, match="no subject"):
        Identity.from_claims({"email": "a@x.org", "iss": "https://idp.example"})
    claims = Identity.from_claims({"sub": "42", "iss": "https://idp.example", "email": "a@x.org", "email_verified": True})
    assert claims.workspace_id(b"k" * 32) == Identity("https://idp.example", "42").workspace_id(b"k" * 32)


@pytest.mark.parametrize("verified", ["missing", "false", "true", False, True])
def test_admin_rights_need_email_verified_to_be_the_boolean_true(tmp_path, verified):
    claims = {"sub": "boss-1", "iss": "https://idp.example", "email": "boss@example.com"}
    if verified != "missing":
        claims["email_verified"] = verified
    settings = TeamSettings(data_dir=tmp_path / "data", admins=frozenset({"boss@example.com"}))
    assert workspace.for_identity(Identity.from_claims(claims), settings).admin is (verified is True)


def test_names_and_ids_with_a_trailing_newline_are_refused(server):
    sign_in, spaces, settings = server
    ana = sign_in(ANA)
    ben = spaces["ben-456"].id
    for name in ("churn\n", "team:shared-sentiment\n"):
        with pytest.raises(ValueError, match="not allowed"):
            model_path(name)
    with pytest.raises(ValueError, match="not allowed"):
        validate_name("churn\n")
    with pytest.raises(ValueError, match="not allowed"):
        label_store("spring\n")
    with pytest.raises(ValueError, match="Invalid job id"):
        cancel_job("20260101-000000-abcdef\n", ana.jobs)
    boss = sign_in(Identity("https://idp.example", "boss-1", email="boss@example.com", email_verified=True))
    with pytest.raises(ValueError, match="names no workspace"):
        model_path(f"{ben}\n:churn")
    with pytest.raises(ValueError, match="No workspace"):
        boss.jobs_of(f"{ben}\n")
    (settings.data_dir / "workspaces" / f"{ben}\n").mkdir()  # a folder named like an id and a newline
    assert f"{ben}\n" not in [f.name for f in workspace.all_workspace_folders(settings.data_dir)]
    assert TEMP_NAME.match(".data.csv.tmp") and not TEMP_NAME.match(".data.csv.tmp\n")
    assert OLD_NAME.match(".churn.old-42") and not OLD_NAME.match(".churn.old-42\n")


def test_workspace_ids_need_the_servers_key(tmp_path):
    who = Identity("https://idp.example", "ana-123")
    first, second = TeamSettings(data_dir=tmp_path / "a"), TeamSettings(data_dir=tmp_path / "b")
    key = workspace.workspace_key(first)  # made on first use
    key_file = tmp_path / "a" / workspace.SECRET_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key) == 64 and int(key, 16) >= 0
    ids = [workspace.for_identity(who, s).id for s in (first, second)]
    assert ids[0] != ids[1]  # another server, another key
    assert workspace.for_identity(who, first).id == ids[0] and workspace.workspace_key(first) == key  # kept
    message = b"https://idp.example\nana-123"
    assert ids[0] == "u-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    public = "u-" + hashlib.sha256(message).hexdigest()[:20]  # what anyone knowing the provider could compute
    assert public == who.legacy_workspace_id and public not in ids
    # A configured secret wins over the file: the same on any data folder, and no file is made.
    configured = [TeamSettings.from_mapping({"data_dir": str(tmp_path / d), "workspace_secret": "s" * 40}) for d in "cd"]
    assert workspace.for_identity(who, configured[0]).id == workspace.for_identity(who, configured[1]).id
    assert workspace.for_identity(who, configured[0]).id not in ids and not (tmp_path / "c" / workspace.SECRET_FILE).exists()
    assert "s" * 40 not in repr(configured[0])
    with pytest.raises(ValueError, match="workspace_secret must be text of at least 32 characters.*found 5 characters"):
        TeamSettings.from_mapping({"workspace_secret": "short"})
    # An existing key file is read, never replaced; a damaged one stops sign-in with a message.
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / workspace.SECRET_FILE).write_text("k" * 40 + "\n")
    assert workspace.workspace_key(TeamSettings(data_dir=tmp_path / "e")) == b"k" * 40
    (tmp_path / "plain").write_text("a file where the data folder's parent should be")
    with pytest.raises(ValueError, match="Cannot create this server's workspace key .*set \\[marketune\\] workspace_secret"):
        workspace.workspace_key(TeamSettings(data_dir=tmp_path / "plain" / "data"))
    key_file.write_text("0123")
    with pytest.raises(ValueError, match="damaged .4 characters.*restore it from a backup"):
        workspace.for_identity(who, first)


def legacy_workspace(data: Path, who: Identity) -> workspace.Workspace:
    """A workspace as a server before the workspace key made it (its id: plain SHA-256), with
    one model and one job that ended without saving (its request names the old models folder)."""
    folder = data / "workspaces" / who.legacy_workspace_id
    old = workspace.Workspace(folder.name, folder / "models", folder / "jobs", folder / "labels",
                              folder / "predictions", data_dir=data).ensure(who)
    fake_model(old.models / "churn")
    job = old.jobs / "20260101-000000-abcdef"
    job.mkdir()
    (job / "request.json").write_text(json.dumps({"kind": "train", "model_name": "next", "created": 1.0,
                                                  "models_dir": str(old.models), "queue_dir": str(data / "queue")}))
    (job / "state.json").write_text(json.dumps({"state": "failed", "message": "x"}))
    return old


def test_a_folder_from_before_the_key_moves_to_the_new_id_with_its_models_and_jobs(tmp_path):
    settings = TeamSettings(data_dir=tmp_path / "data")
    old = legacy_workspace(settings.data_dir, ANA)
    # Without a way to tell whether its jobs run, or while one does, it is used where it is.
    assert workspace.for_identity(ANA, settings).id == old.id
    assert workspace.for_identity(ANA, settings, jobs_busy=lambda jobs: True).id == old.id
    # Another person's sign-in never takes it (its owner.json names Ana).
    impostor = Identity(ANA.issuer, "someone-else")
    assert workspace.for_identity(impostor, settings, jobs_busy=lambda jobs: False).id != old.id
    assert old.models.is_dir()

    ana = workspace.for_identity(ANA, settings, jobs_busy=lambda jobs: False)
    assert ana.id != old.id and workspace.ID_PATTERN.match(ana.id)
    assert not old.models.parent.exists()
    assert (ana.models / "churn" / "model.safetensors").read_bytes() == b"weights of churn"
    request = json.loads((ana.jobs / "20260101-000000-abcdef" / "request.json").read_text())
    assert request["models_dir"] == str(ana.models) and request["queue_dir"] == str(settings.data_dir / "queue")
    assert workspace.for_identity(ANA, settings).id == ana.id  # from now on, without a check
# ---------------------------------------------------------------------- base models (issue 32)


def transformer_folder(folder: Path) -> Path:
    """A folder the base-model resolver treats as a Hugging Face model (config.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return folder


def test_a_team_server_offers_only_its_own_base_models(server, tmp_path):
    sign_in, spaces, settings = server
    bens = transformer_folder(spaces["ben-456"].models / "ben-bert")
    outside = transformer_folder(tmp_path / "anywhere" / "bert")
    listed = transformer_folder(tmp_path / "srv" / "bert-zh")
    mine = transformer_folder(spaces["ana-123"].models / "ana-bert")
    team = transformer_folder(settings.data_dir / "team" / "models" / "team-bert")
    ana = sign_in(ANA, base_model_folders=(("bert-zh", listed),))

    offered = dict(ana.base_model_choices())
    assert set(offered) == {"server:bert-zh", "ana-bert", "team:team-bert"}  # not Ben's, not a TF-IDF model
    assert ana.resolve_base_model("minilm-en") == "minilm-en"
    assert ana.resolve_base_model("ana-bert") == str(mine.resolve())
    assert ana.resolve_base_model("team:team-bert") == str(team.resolve())
    assert ana.resolve_base_model("server:bert-zh") == str(listed.resolve())
    # Another person's model, any folder on the server, a missing one, a TF-IDF model, a hub id:
    # one message, which says nothing about what exists.
    refusals = [str(bens), f"{spaces['ben-456'].id}:ben-bert", str(outside), str(tmp_path / "nothing"),
                "no-such-model", "churn", "server:other", "owner/model", "../ben-456/models/ben-bert"]
    messages = set()
    for typed in refusals:
        with pytest.raises(workspace.WorkspaceError) as caught:
            ana.resolve_base_model(typed)
        messages.add(str(caught.value).replace(repr(typed), "<typed>"))
    assert len(messages) == 1 and "not one this server offers" in messages.pop()


def test_every_job_start_checks_the_base_model(server, tmp_path):
    import pandas as pd

    from core import jobs
    from core.config import TrainConfig

    sign_in, spaces, _ = server
    bens = transformer_folder(spaces["ben-456"].models / "ben-bert")
    ana = sign_in(ANA)
    link = spaces["ana-123"].models / "looks-mine"
    link.symlink_to(bens, target_is_directory=True)
    df = pd.DataFrame({"text": ["good", "bad"] * 5, "label": ["pos", "neg"] * 5})
    for sneaky in (str(bens), str(link), str(link / "."), "owner/model"):
        with pytest.raises(workspace.WorkspaceError, match="not one this server offers"):
            jobs.start_job(df, TrainConfig(base_model=sneaky), "stolen")
        assert not any(ana.jobs.iterdir())  # refused before any job folder is written
    ana.check_base_model("minilm-en")  # the catalog always passes
    ana.check_base_model(str(transformer_folder(ana.models / "ana-bert")))
    workspace.laptop().check_base_model(str(bens))  # a laptop is one person's machine


def test_hub_ids_only_when_the_admin_allows_them(server, tmp_path, monkeypatch):
    sign_in, _, _ = server
    ana = sign_in(ANA, allow_hub_models=True)
    assert ana.resolve_base_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    monkeypatch.chdir(tmp_path)
    transformer_folder(tmp_path / "owner" / "model")  # a relative path that looks like a hub id
    with pytest.raises(workspace.WorkspaceError):
        ana.resolve_base_model("owner/model")
    with pytest.raises(workspace.WorkspaceError, match="allow_hub_models must be true or false"):
        TeamSettings.from_mapping({"allow_hub_models": "yes"})
    from types import MappingProxyType  # st.secrets hands sub-tables over as a Mapping, not a dict

    parsed = TeamSettings.from_mapping({"base_models": MappingProxyType({"bert-zh": "/srv/models/bert-zh"})})
    assert parsed.base_model_folders == (("bert-zh", Path("/srv/models/bert-zh")),)
    with pytest.raises(workspace.WorkspaceError, match="base_models"):
        TeamSettings.from_mapping({"base_models": {"../x": "/srv"}})


def test_pages_name_a_base_model_folder_by_its_reference_never_its_server_path(server, tmp_path):
    """The probe saw "base model /srv/.../tiny-bert" in a member's sidebar: a team server names a
    base-model folder the way the picker offers it; a laptop shows what was typed."""
    sign_in, spaces, settings = server
    listed = transformer_folder(tmp_path / "srv" / "bert-zh")
    mine = transformer_folder(spaces["ana-123"].models / "ana-bert")
    team = transformer_folder(settings.data_dir / "team" / "models" / "team-bert")
    ana = sign_in(ANA, base_model_folders=(("bert-zh", listed),))
    assert ana.base_model_label(str(listed)) == "server:bert-zh"
    assert ana.base_model_label(str(mine)) == "ana-bert"
    assert ana.base_model_label(str(team)) == "team:team-bert"
    assert ana.base_model_label("minilm-en") == "minilm-en"
    assert ana.base_model_label(str(tmp_path / "elsewhere" / "model")) == "model"  # no path, whatever it is
    assert workspace.laptop().base_model_label(str(listed)) == str(listed)
