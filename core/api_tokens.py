"""API tokens on a team server: each token maps to one person's workspace.

An admin issues a token with ``python -m core api-token add PERSON`` (PERSON: the e-mail the
person signs in with, or their workspace id ``u-...``); the token is printed once and only its
SHA-256 digest is kept, in ``<data_dir>/api_tokens.json`` (owner-only, written whole and renamed
into place)::

    {"version": 1, "tokens": {"<sha256 hex of the token>": {"workspace": "u-...", "person": "ben@x.org",
      "issuer": "...", "subject": "...", "created": "2026-...", "id": "<first 12 hex of the digest>"}}}

``python -m core serve --team`` answers each request in the workspace of the token's holder,
through the one resolver (:meth:`core.workspace.Workspace.resolve_model`): a token never reaches
another person's models, and never grants admin rights (an API caller is a member, whatever their
e-mail). A token is a random 32-byte secret (``secrets.token_urlsafe``), so its plain SHA-256 is
safe to keep: nobody can search such a space for a preimage (a password would need a slow hash).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from .files import atomic_write
from .workspace import (
    ID_PATTERN,
    PROJECT_ROOT,
    Identity,
    TeamSettings,
    Workspace,
    WorkspaceError,
    all_workspace_folders,
    for_identity,
    owner_of,
)

TOKENS_FILE = "api_tokens.json"  # in the team server's data_dir
TOKEN_PREFIX = "mkt_"  # says what a stray token is when it turns up in a log or a paste
DEFAULT_SECRETS = PROJECT_ROOT / ".streamlit" / "secrets.toml"
TOKEN_ID_PATTERN = re.compile(r"^[0-9a-f]{6,64}\Z")


@dataclass(frozen=True)
class TokenHolder:
    """Whose token a request carried: their workspace id and e-mail, and the token's short id."""

    workspace: str
    person: str
    issuer: str
    subject: str
    token_id: str


def team_settings_from(path: str | Path | None = None) -> TeamSettings:
    """The team server's settings from its secrets.toml (default `.streamlit/secrets.toml`).

    Raises ValueError when the file is missing, is not TOML, or has no ``[auth]`` section (then
    it is a laptop, where one token for the one workspace does: ``MARKETUNE_API_TOKEN``)."""
    path = Path(path) if path else DEFAULT_SECRETS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"No {path}: a team server is configured there (docs/team-server.md).") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"Cannot read {path}: {exc}") from None
    if "auth" not in data:
        raise ValueError(f"{path} has no [auth] section, so this is not a team server: on a laptop set "
                         "MARKETUNE_API_TOKEN (or --token-file) instead of per-person tokens.")
    return TeamSettings.from_mapping(data.get("marketune"))


def tokens_path(settings: TeamSettings) -> Path:
    return settings.data_dir / TOKENS_FILE


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_tokens(path: Path) -> dict[str, dict[str, Any]]:
    """digest -> record of the token file ({} when there is none). ValueError when it is damaged."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tokens = data["tokens"]
        if not isinstance(tokens, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is damaged (expected JSON with a 'tokens' object); an admin must fix or remove "
                         "it, then issue the tokens again.") from None
    return tokens


def _write_tokens(path: Path, tokens: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps({"version": 1, "tokens": tokens}, indent=2).encode("utf-8"))  # 0600


def find_person(settings: TeamSettings, person: str) -> tuple[str, dict[str, Any]]:
    """(workspace id, owner.json) of the one workspace whose owner signs in as ``person`` (an
    e-mail, without case) or whose id is ``person``. ValueError naming what was found otherwise:
    the person must have signed in once, which makes their workspace."""
    wanted = person.strip().lower()
    found = []
    for folder in all_workspace_folders(settings.data_dir):
        owner = owner_of(folder)
        if folder.name == person.strip() or (wanted and str(owner.get("email", "")).lower() == wanted):
            found.append((folder.name, owner))
    if not found:
        raise ValueError(f"No workspace of {person!r} under {settings.data_dir / 'workspaces'}: the person signs in "
                         "to the app once (which makes their workspace), then a token can be issued.")
    if len(found) > 1:
        ids = ", ".join(wid for wid, _ in found)
        raise ValueError(f"{person!r} owns several workspaces ({ids}): name one by its id instead.")
    return found[0]


def issue(settings: TeamSettings, person: str) -> tuple[str, dict[str, Any]]:
    """A new token for ``person``: (the token, to be shown once; its record as kept)."""
    wid, owner = find_person(settings, person)
    if not owner.get("subject"):
        raise ValueError(f"Workspace {wid} has no owner.json with the person's sign-in subject; they sign in once "
                         "to the app to write it.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = digest(token)
    record = {"workspace": wid, "person": str(owner.get("email", "")), "issuer": str(owner.get("issuer", "")),
              "subject": str(owner["subject"]), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "id": key[:12]}
    path = tokens_path(settings)
    tokens = read_tokens(path)
    tokens[key] = record
    _write_tokens(path, tokens)
    return token, record


def list_tokens(settings: TeamSettings) -> list[dict[str, Any]]:
    """The kept tokens' records (never a token or its full digest), oldest first."""
    return sorted(read_tokens(tokens_path(settings)).values(), key=lambda r: r.get("created", ""))


def revoke(settings: TeamSettings, token_id: str) -> dict[str, Any]:
    """Remove the token whose id (``list_tokens``' "id", or a longer prefix of its digest) is
    ``token_id``; returns its record. ValueError when none or several match."""
    if not TOKEN_ID_PATTERN.match(token_id or ""):
        raise ValueError(f"{token_id!r} is not a token id: 6-64 hex digits, as `api-token list` shows them.")
    path = tokens_path(settings)
    tokens = read_tokens(path)
    matches = [key for key in tokens if key.startswith(token_id)]
    if len(matches) != 1:
        raise ValueError(f"{len(matches)} tokens have an id starting {token_id!r}; `api-token list` shows them.")
    record = tokens.pop(matches[0])
    _write_tokens(path, tokens)
    return record


class TokenBook:
    """The token file as a server reads it: read again whenever it changes on disk, so a token
    issued or revoked applies to the next request without a restart."""

    def __init__(self, settings: TeamSettings) -> None:
        self.settings, self.path = settings, tokens_path(settings)
        self._stamp: tuple[int, int] | None = None
        self._tokens: dict[str, dict[str, Any]] = {}
        self._workspaces: dict[str, Workspace] = {}

    def _fresh(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._tokens, self._stamp = (read_tokens(self.path) if stamp else {}), stamp
        return self._tokens

    def holder(self, token: str) -> TokenHolder | None:
        """Who holds ``token`` (None: nobody; an unknown token and a revoked one look the same)."""
        record = self._fresh().get(digest(token)) if token else None
        if record is None:
            return None
        return TokenHolder(record["workspace"], record.get("person", ""), record.get("issuer", ""),
                           record.get("subject", ""), record.get("id", ""))

    def workspace(self, holder: TokenHolder) -> Workspace:
        """The holder's workspace, made the way the app makes it at sign-in (core.workspace.for_identity),
        so the team workspace and every rule of the resolver apply. Never an admin's: an API caller
        is a member. WorkspaceError when the server's key changed since the token was issued."""
        if holder.workspace not in self._workspaces:
            identity = Identity(issuer=holder.issuer, subject=holder.subject, email=holder.person, email_verified=None)
            found = for_identity(identity, self.settings)  # no jobs_busy: an old folder is used where it is
            if found.id != holder.workspace or not ID_PATTERN.match(found.id):
                raise WorkspaceError("This token was issued for a workspace this server no longer finds (its key "
                                     "changed): ask the admin for a new token.")
            self._workspaces[holder.workspace] = found
        return self._workspaces[holder.workspace]
