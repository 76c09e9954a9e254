"""Workspaces: where each person's models, jobs, label projects and prediction files live,
and the one resolver every model name goes through.

Two modes, chosen by the server's configuration (``ui/account.py`` decides; core never reads
Streamlit):

- **Laptop** (no sign-in): one workspace, ``local``, at today's places: ``models/`` in the project
  (``$MARKETUNE_MODELS_DIR``), ``.marketune/jobs`` (``$MARKETUNE_JOBS_DIR``) and
  ``.marketune/labels`` (``$MARKETUNE_LABELS_DIR``); prediction files (and their inputs) in the system's
  temporary folder. Model names are plain (``churn-v2``).
- **Team** (sign-in): under one data folder (``[marketune] data_dir``, default ``.marketune``)::

      .workspace_secret              the server's key for workspace ids (owner-only; never overwritten)
      workspaces/<id>/owner.json     who signed in (email, name): for admins and backups
      workspaces/<id>/models/        saved models (one folder each)
      workspaces/<id>/jobs/          training jobs (their data.csv while they run)
      workspaces/<id>/labels/        labelling projects
      workspaces/<id>/predictions/   files the pages score and the predictions they write
      team/models/                   the shared team workspace (read-only unless configured)
      queue/.trainer.lock            the long-job lane: one fine-tune at a time (core/lanes.py)
      queue/.short.lock              the short-job lane: one short job at a time beside it

  ``<id>`` is ``u-`` + 20 hex digits of HMAC-SHA256, keyed with the server's secret
  (:func:`workspace_key`), over the identity provider's issuer and the person's subject (the
  ``iss`` and ``sub`` claims: stable, assigned by the provider, never typed by anyone), so no name
  a person chooses can reach another folder, and nobody can work out another person's id from
  the provider and their account id. A folder made before the secret (plain SHA-256) is renamed
  to the new id when its owner signs in (:func:`for_identity`).

  Everything under the data folder is owner-only (folders 0700, files 0600): the server process
  sets its umask so (ui/account.py), and the writers here create their files so themselves.

Model references: a plain name is the caller's own model; ``team:<name>`` a model of the team
workspace; ``<id>:<name>`` one in another person's workspace, which only admins may open (read
only). :meth:`Workspace.resolve_model` turns a reference into a folder or raises
:class:`WorkspaceError` (a ``ValueError``) saying why: a malformed name (``..``, slashes, an
absolute path), another person's workspace, a link out of the workspace, or a write to a
read-only place.

How a request finds its workspace: :func:`current`. The Streamlit side registers a lookup once
(:func:`set_session_lookup`) that reads the signed-in user of the script run calling it, so it
is right in every session of one server process, in widget callbacks and in fragment reruns
alike (a value stored per run at the top of app.py would miss those: a fragment rerun does not
run app.py). Without a registered lookup (the CLI, the training worker, tests) it is the laptop
workspace, and core functions also take explicit folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base_models import CATALOG, HUB_ID
from .files import atomic_write, to_json
from .job_limits import NO_LIMITS, TEAM_LIMITS, JobLimits
from .limits import DEFAULT_MAX_BYTES, MAX_CELL_CHARS, MAX_COLUMNS, MAX_UNPACKED_MB, MB, ReadLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# \Z, not $: "$" also matches before a trailing newline, so "churn\n" would pass a .match().
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
ID_PATTERN = re.compile(r"^u-[0-9a-f]{20}\Z")
LOCAL_ID = "local"
TEAM = "team"  # the reference prefix of the shared team workspace: team:<name>
SEP = ":"  # never part of a model name (NAME_PATTERN), so a reference splits unambiguously
SERVER = "server"  # the reference prefix of a base-model folder an admin lists: server:<name>
TEAM_ACCESS = ("off", "read", "write")
SECRET_FILE = ".workspace_secret"  # <data_dir>/.workspace_secret: the key of the workspace ids
MIN_SECRET_CHARS = 32  # a shorter key could be guessed, and with it every id
NOT_YOUR_JOB = ("That job belongs to another person: you can cancel only your own jobs "
                "(an admin can cancel any job from the queue on the Models page).")


class WorkspaceError(ValueError):
    """A model name or path that the caller may not use; the message says why, for people."""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe folder name, else raise ``ValueError`` saying why.

    1-64 characters of letters, digits, '_', '-', '.', starting with a letter or digit: no
    path separators, no '..', no hidden or absolute paths.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise WorkspaceError(
            f"Model name {name!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no slashes, no '..')."
        )
    return name


@dataclass(frozen=True)
class Identity:
    """Who signed in, from the identity provider's ID-token claims (``st.user``)."""

    issuer: str  # the provider (``iss``)
    subject: str  # the person's stable id at that provider (``sub``)
    email: str = ""
    name: str = ""
    email_verified: bool | None = None  # the ``email_verified`` claim when it is a JSON boolean, else None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Identity:
        """From the claims of an ID token. Raises :class:`WorkspaceError` without a subject."""
        subject = str(claims.get("sub") or "").strip()
        if not subject:
            raise WorkspaceError(
                "The sign-in provider sent no subject (`sub` claim) for this account, so Marketune "
                "cannot tell whose workspace it is. Check the provider's OpenID Connect settings."
            )
        verified = claims.get("email_verified")
        return cls(
            issuer=str(claims.get("iss") or ""),
            subject=subject,
            email=str(claims.get("email") or "").strip(),
            name=str(claims.get("name") or ""),
            email_verified=verified if isinstance(verified, bool) else None,
        )

    def workspace_id(self, key: bytes) -> str:
        """``u-`` + 20 hex digits of HMAC-SHA256(``key``, issuer, newline, subject): stable, no
        typed text in it, and not computable without the server's key (:func:`workspace_key`)."""
        digest = hmac.new(key, f"{self.issuer}\n{self.subject}".encode(), hashlib.sha256).hexdigest()
        return f"u-{digest[:20]}"

    @property
    def legacy_workspace_id(self) -> str:
        """The id folders had before the server key: ``u-`` + 20 hex digits of plain
        SHA-256(issuer, newline, subject). Only used to find such a folder and rename it."""
        digest = hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()
        return f"u-{digest[:20]}"


@dataclass(frozen=True)
class TeamSettings:
    """A team server's ``[marketune]`` settings (docs/team-server.md).

    ``data_dir``: where workspaces live; ``admins``: e-mail addresses (compared without case)
    that may see every workspace and the whole jobs queue; ``team_workspace``: "off", "read"
    (everyone may open the team's models) or "write" (everyone may also add and delete them);
    ``max_jobs_per_person``: queued + running jobs one person may have at once (both kinds);
    ``keep_interrupted_days``: how long the start-up cleanup keeps an interrupted job (its data
    and checkpoint, so it can be resumed) before removing it (``core.cleanup``);
    ``job_limits``: what one job may ask of the trainer (``max_job_minutes``, ``max_rows``,
    ``max_epochs``, ``max_length``; core/job_limits.py says why each default).
    ``workspace_secret``: the key of the workspace ids ("" : the one kept in
    ``<data_dir>/.workspace_secret``, see :func:`workspace_key`).
    ``max_cell_chars``, ``max_columns``, ``max_unpacked_mb``: what reading one person's file may
    cost (:meth:`read_limits`; defaults and their reasons in core/limits.py).
    """

    data_dir: Path = PROJECT_ROOT / ".marketune"
    admins: frozenset[str] = frozenset()
    team_workspace: str = "read"
    # Two: one training and one response comparison, or one running and the next queued; a third
    # would only wait behind everybody else's jobs while holding its data on the server's disk.
    max_jobs_per_person: int = 2
    # A week: long enough to come back after a weekend and press Resume, short enough that the
    # customer data of a job nobody resumes does not stay on the server for good.
    keep_interrupted_days: float = 7.0
    # Folders an admin lets everyone fine-tune from, by the name the Train page shows:
    # ``[marketune.base_models]`` with ``name = "/srv/models/bert-zh"``. A typed path is never
    # accepted on a team server (it would read any folder the server can: another person's model).
    base_model_folders: tuple[tuple[str, Path], ...] = ()
    # Hub ids (owner/model) downloaded at training time: off unless the admin turns it on, since
    # a download runs code-free but still fetches whatever the id names onto the server's disk.
    allow_hub_models: bool = False
    job_limits: JobLimits = TEAM_LIMITS  # core.job_limits.TEAM_DEFAULTS for the keys left out
    workspace_secret: str = field(default="", repr=False)  # never in a log line or a traceback
    max_cell_chars: int = MAX_CELL_CHARS
    max_columns: int = MAX_COLUMNS
    max_unpacked_mb: int = MAX_UNPACKED_MB

    @classmethod
    def from_mapping(cls, section: dict[str, Any] | None) -> TeamSettings:
        """From the ``[marketune]`` table of secrets.toml (missing keys take the defaults).
        Raises :class:`WorkspaceError` naming a bad value."""
        section = dict(section or {})
        admins = section.get("admins", [])
        if isinstance(admins, str):
            admins = [admins]
        if not isinstance(admins, (list, tuple)) or not all(isinstance(a, str) for a in admins):
            raise WorkspaceError(f"[marketune] admins must be a list of e-mail addresses; found {admins!r}.")
        access = str(section.get("team_workspace", "read")).lower()
        if access not in TEAM_ACCESS:
            raise WorkspaceError(f"[marketune] team_workspace must be one of {TEAM_ACCESS}; found {access!r}.")
        data_dir = Path(str(section["data_dir"])).expanduser() if section.get("data_dir") else cls.data_dir
        if not data_dir.is_absolute():
            data_dir = PROJECT_ROOT / data_dir
        max_jobs = section.get("max_jobs_per_person", cls.max_jobs_per_person)
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise WorkspaceError(f"[marketune] max_jobs_per_person must be a whole number of at least 1; found {max_jobs!r}.")
        keep_days = section.get("keep_interrupted_days", cls.keep_interrupted_days)
        if isinstance(keep_days, bool) or not isinstance(keep_days, (int, float)) or keep_days < 0:
            raise WorkspaceError(f"[marketune] keep_interrupted_days must be a number of days, 0 or more; found {keep_days!r}.")
        secret = section.get("workspace_secret", "")
        if not isinstance(secret, str) or (secret and len(secret.strip()) < MIN_SECRET_CHARS):
            found = f"{len(secret.strip())} characters" if isinstance(secret, str) else type(secret).__name__
            raise WorkspaceError(
                f"[marketune] workspace_secret must be text of at least {MIN_SECRET_CHARS} characters (python -c "
                f"\"import secrets; print(secrets.token_hex(32))\"); found {found}.")
        folders = section.get("base_models", {})  # st.secrets gives a Mapping (AttrDict), not a dict
        if not isinstance(folders, Mapping) or not all(isinstance(v, str) for v in folders.values()):
            raise WorkspaceError("[marketune.base_models] must map names to model folders, like "
                                 f"bert-zh = \"/srv/models/bert-zh\"; found {folders!r}.")
        for label in folders:
            if not NAME_PATTERN.fullmatch(str(label)) or ".." in str(label) or str(label).startswith(TEAM):
                raise WorkspaceError(f"[marketune.base_models] name {label!r} is not allowed: use 1-64 letters, "
                                     "digits, '_', '-' or '.' (not starting with 'team').")
        hub = section.get("allow_hub_models", False)
        if not isinstance(hub, bool):
            raise WorkspaceError(f"[marketune] allow_hub_models must be true or false; found {hub!r}.")
        try:
            job_limits = JobLimits.from_settings(section, team=True)
        except ValueError as exc:
            raise WorkspaceError(str(exc)) from None
        read = {}
        for key in ("max_cell_chars", "max_columns", "max_unpacked_mb"):
            value = section.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WorkspaceError(f"[marketune] {key} must be a whole number of at least 1; found {value!r}.")
            read[key] = value
        return cls(data_dir=data_dir, admins=frozenset(a.strip().lower() for a in admins if a.strip()),
                   team_workspace=access, max_jobs_per_person=max_jobs, keep_interrupted_days=float(keep_days),
                   base_model_folders=tuple((str(k), Path(v).expanduser()) for k, v in folders.items()),
                   allow_hub_models=hub, job_limits=job_limits, workspace_secret=secret.strip(), **read)

    def read_limits(self, max_bytes: int | None = None) -> ReadLimits:
        """What reading one person's file may cost on this server: these settings, the upload's
        byte limit ``max_bytes`` (None: core's default) and core's row limit; messages name
        the settings (``from_server_settings``)."""
        return ReadLimits(max_bytes=max_bytes or DEFAULT_MAX_BYTES, max_cell_chars=self.max_cell_chars,
                          max_columns=self.max_columns, max_unpacked_bytes=self.max_unpacked_mb * MB,
                          from_server_settings=True)


@dataclass(frozen=True)
class Workspace:
    """One person's folders (or the laptop's), and what else they may read.

    ``id``: "local" or ``u-<20 hex>``; ``email``: the signed-in address ("" on a laptop);
    ``admin``: may open every workspace (read only), see the whole queue and cancel anyone's
    job; ``team_models``: the team workspace's models folder (None: no team workspace);
    ``team_writable``: whether the caller may add or delete models there; ``data_dir``: the
    team server's data folder (None on a laptop); ``max_jobs``: queued + running jobs this
    person may have at once (None: no limit, the laptop); ``job_limits``: what one job may ask
    of the trainer (none on a laptop unless its secrets.toml sets them).
    """

    id: str
    models: Path
    jobs: Path
    labels: Path
    predictions: Path
    email: str = ""
    admin: bool = False
    team_models: Path | None = None
    team_writable: bool = False
    data_dir: Path | None = None
    max_jobs: int | None = None
    base_model_folders: tuple[tuple[str, Path], ...] = ()  # TeamSettings.base_model_folders
    allow_hub_models: bool = False  # TeamSettings.allow_hub_models
    job_limits: JobLimits = NO_LIMITS

    @property
    def team_mode(self) -> bool:
        return self.data_dir is not None

    @property
    def queue_dir(self) -> Path:
        """Where the trainer lock lives: one queue for the whole server."""
        return self.data_dir / "queue" if self.data_dir is not None else self.jobs

    # ------------------------------------------------------------------ resolving names

    def resolve_model(self, ref: str, *, write: bool = False) -> Path:
        """The folder of model ``ref`` (which need not exist yet), or :class:`WorkspaceError`.

        ``ref``: a plain name (own workspace), ``team:<name>`` or, for admins, ``<id>:<name>``.
        ``write``: the caller means to create, replace or delete it (only the own workspace, and
        the team's when it is writable). A folder that is a link, or that resolves outside its
        workspace, is refused.
        """
        if not isinstance(ref, str):
            raise WorkspaceError(f"A model name must be text; got {type(ref).__name__}.")
        scope, _, name = ref.rpartition(SEP) if SEP in ref else ("", "", ref)
        if scope and not self.team_mode:
            validate_name(ref)  # a laptop has no other workspaces: the plain name rule explains
        validate_name(name)
        if scope in ("", self.id):
            area = self.models
        elif scope == TEAM:
            if self.team_models is None:
                raise WorkspaceError(f"Model {ref!r}: this server has no team workspace.")
            if write and not self.team_writable:
                raise WorkspaceError(
                    f"Model {ref!r} is in the team workspace, which is read-only on this server "
                    "([marketune] team_workspace = \"read\"); save it under your own name instead."
                )
            area = self.team_models
        elif ID_PATTERN.match(scope) and self.data_dir is not None:
            if not self.admin:
                raise WorkspaceError(
                    f"Model {ref!r} is in another person's workspace; you can open only your own "
                    "models and the team's."
                )
            if write:
                raise WorkspaceError(f"Model {ref!r} is in another person's workspace: admins may look, not change it.")
            area = self.data_dir / "workspaces" / scope / "models"
        else:
            raise WorkspaceError(
                f"Model {ref!r} names no workspace you can reach: use a plain model name "
                f"(your own), or {TEAM}{SEP}<name> for the team's models."
            )
        return _inside(area / name, area, ref)

    # ------------------------------------------------------------------ base models

    def base_model_choices(self) -> list[tuple[str, str]]:
        """(reference, description) of each base model beyond the catalog that the caller may
        fine-tune from on a team server: folders the admin lists (``server:<name>``), the
        caller's own fine-tuned transformers (``<name>``) and the team's (``team:<name>``). A
        model folder qualifies when it holds a Hugging Face ``config.json`` (TF-IDF and
        response models do not). Empty on a laptop, where any folder may be typed."""
        if not self.team_mode:
            return []
        found = [(f"{SERVER}{SEP}{name}", f"set up by the admin ({folder.name})")
                 for name, folder in self.base_model_folders if (folder / "config.json").is_file()]
        for prefix, area, whose in (("", self.models, "your model"), (TEAM + SEP, self.team_models, "team model")):
            if area is None or not area.is_dir():
                continue
            for folder in sorted(area.iterdir()):
                if (NAME_PATTERN.fullmatch(folder.name) and not folder.is_symlink()
                        and (folder / "config.json").is_file()):
                    found.append((prefix + folder.name, whose))
        return found

    def resolve_base_model(self, ref: str) -> str:
        """What ``TrainConfig.base_model`` should hold for the base model ``ref`` a person chose.

        Laptop: ``ref`` itself (a catalog name, any local folder or a hub id: the person owns the
        machine). Team server: a catalog name as is; ``server:<name>`` (an admin's folder), a
        plain name (one's own fine-tuned transformer) or ``team:<name>`` as the folder's absolute
        path; a hub id only when ``allow_hub_models`` is on. Anything else raises
        :class:`WorkspaceError` with one message that does not say whether a folder or another
        person's model exists.
        """
        ref = (ref or "").strip()
        if not self.team_mode or ref in CATALOG:
            return ref
        if ref.startswith(SERVER + SEP):
            for name, folder in self.base_model_folders:
                if f"{SERVER}{SEP}{name}" == ref and (folder / "config.json").is_file():
                    return str(folder.resolve())
            raise WorkspaceError(_NOT_OFFERED.format(ref))
        if self.allow_hub_models and _hub_id(ref):
            return ref
        try:
            folder = self.resolve_model(ref)
        except WorkspaceError:
            raise WorkspaceError(_NOT_OFFERED.format(ref)) from None
        if not (folder / "config.json").is_file():
            raise WorkspaceError(_NOT_OFFERED.format(ref))
        return str(folder.resolve())

    def base_model_label(self, value: str | None) -> str:
        """How a page names the base model ``value`` (as TrainConfig.base_model holds it): on a
        team server a folder is named by its reference (``server:<name>``, one's own model's
        name, ``team:<name>``; another folder by its last part), so no server path is shown to
        members; on a laptop ``value`` itself."""
        value = (value or "").strip()
        path = Path(value)
        if not self.team_mode or not value or not path.is_absolute():
            return value
        real = path.resolve()
        areas = [(f"{SERVER}{SEP}{name}", folder) for name, folder in self.base_model_folders]
        for prefix, area in (("", self.models), (TEAM + SEP, self.team_models)):
            if area is not None and real.parent == area.resolve():
                return prefix + real.name
        for ref, folder in areas:
            if real == folder.resolve():
                return ref
        return path.name

    def check_base_model(self, value: str | None) -> None:
        """Raise :class:`WorkspaceError` unless a job's ``base_model`` (as :meth:`resolve_base_model`
        returns it) is one the caller may use: every job start checks it, whatever page or
        request built the job. No-op on a laptop and for jobs without a base model."""
        value = (value or "").strip()
        if not self.team_mode or not value or value in CATALOG:
            return
        if self.allow_hub_models and _hub_id(value):
            return
        path = Path(value)
        if path.is_absolute() and not path.is_symlink():
            real = path.resolve()
            allowed = [self.models, *([self.team_models] if self.team_models is not None else []),
                       *(folder for _, folder in self.base_model_folders)]
            if any(real == a.resolve() or real.is_relative_to(a.resolve()) for a in allowed):
                return
        raise WorkspaceError(_NOT_OFFERED.format(value))

    def visible_model_areas(self) -> list[tuple[str, Path]]:
        """(reference prefix, models folder) for every place whose models the caller may list:
        own ("" prefix), the team's (``team:``), and for admins everyone else's (``<id>:``)."""
        areas = [("", self.models)]
        if self.team_models is not None:
            areas.append((TEAM + SEP, self.team_models))
        if self.admin:
            areas += [(other + SEP, folder / "models") for other, folder in self.other_workspaces()]
        return areas

    def other_workspaces(self) -> list[tuple[str, Path]]:
        """(id, folder) of every other person's workspace on this server; admins only."""
        if not self.admin or self.data_dir is None:
            raise WorkspaceError("Only admins can see other people's workspaces.")
        return [(f.name, f) for f in all_workspace_folders(self.data_dir) if f.name != self.id]

    def jobs_of(self, workspace_id: str | None) -> Path:
        """The jobs folder of workspace ``workspace_id`` (None: the caller's own): another
        person's only for admins, else :class:`WorkspaceError` saying that one may act only on
        one's own jobs."""
        if workspace_id in (None, self.id):
            return self.jobs
        if not self.admin or self.data_dir is None:
            raise WorkspaceError(NOT_YOUR_JOB)
        if not isinstance(workspace_id, str) or not ID_PATTERN.match(workspace_id):
            raise WorkspaceError(f"No workspace {workspace_id!r} on this server.")
        return self.data_dir / "workspaces" / workspace_id / "jobs"

    def ensure(self, identity: Identity | None = None) -> Workspace:
        """Create the folders (owner-only, 0700) and, in team mode, ``owner.json`` (0600) if
        missing; returns self. Folders that exist keep their mode."""
        for folder in (self.models, self.jobs, self.labels, self.predictions):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if identity is not None and self.data_dir is not None:
            owner = self.models.parent / "owner.json"
            if not owner.is_file():
                data = {"email": identity.email, "name": identity.name, "issuer": identity.issuer,
                        "subject": identity.subject, "created": time.time()}
                atomic_write(owner, to_json(data, indent=2).encode("utf-8"))  # 0600
        return self


_NOT_OFFERED = (
    "Base model {!r} is not one this server offers. Pick one from the list: the catalog, your own "
    "fine-tuned models, the team's, or folders your admin has set up ([marketune.base_models])."
)


def _hub_id(value: str) -> bool:
    """A hub id (owner/model) that is not also a path on this server (transformers would load the
    local folder first)."""
    return bool(HUB_ID.fullmatch(value)) and ".." not in value and not Path(value).exists()


def _inside(path: Path, area: Path, ref: str) -> Path:
    """``path`` if it is not a link and resolves inside ``area``, else :class:`WorkspaceError`."""
    if path.is_symlink() or (path.exists() and not path.resolve().is_relative_to(area.resolve())):
        raise WorkspaceError(f"Model {ref!r} is a link to a folder outside its workspace; it is not opened.")
    return path


def all_workspace_folders(data_dir: Path) -> list[Path]:
    """The per-person workspace folders under a team server's ``data_dir``, by id."""
    root = Path(data_dir) / "workspaces"
    if not root.is_dir():
        return []
    return sorted(f for f in root.iterdir() if ID_PATTERN.match(f.name) and f.is_dir() and not f.is_symlink())


def jobs_roots_sharing(queue_dir: Path) -> list[Path]:
    """Every jobs folder whose jobs wait for the trainer lock in ``queue_dir``: on a team server
    (``<data>/queue``) every workspace's ``jobs``; otherwise ``queue_dir`` itself, which is then
    the jobs folder (the laptop, or a test's own folder)."""
    queue_dir = Path(queue_dir)
    if queue_dir.name == "queue" and (queue_dir.parent / "workspaces").is_dir():
        return [f / "jobs" for f in all_workspace_folders(queue_dir.parent)]
    return [queue_dir]


def workspace_id_of_jobs(root: Path) -> str:
    """The id of the workspace a jobs folder belongs to: ``u-…`` for ``<data>/workspaces/u-…/jobs``,
    else "local" (the laptop's, or a test's own folder)."""
    root = Path(root)
    if root.name == "jobs" and ID_PATTERN.match(root.parent.name) and root.parent.parent.name == "workspaces":
        return root.parent.name
    return LOCAL_ID


def owner_of(folder: Path) -> dict[str, Any]:
    """The workspace's ``owner.json`` ({} when missing or unreadable)."""
    try:
        return json.loads((Path(folder) / "owner.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def laptop() -> Workspace:
    """The one workspace of a server without sign-in: today's folders (environment read now)."""
    env = os.environ.get
    models = Path(env("MARKETUNE_MODELS_DIR") or PROJECT_ROOT / "models")
    jobs = Path(env("MARKETUNE_JOBS_DIR") or PROJECT_ROOT / ".marketune" / "jobs")
    labels = Path(env("MARKETUNE_LABELS_DIR") or PROJECT_ROOT / ".marketune" / "labels")
    # Prediction files (and the uploads they score) stay temporary on a laptop, as they always were.
    return Workspace(LOCAL_ID, models, jobs, labels, Path(tempfile.gettempdir()) / "marketune-predictions")


def workspace_key(settings: TeamSettings) -> bytes:
    """The server's key for workspace ids: ``[marketune] workspace_secret`` when set (for a
    server that rebuilds its data folder), else the one in ``<data_dir>/.workspace_secret``.

    That file is made on first use: 64 random hex digits, owner-only (0600), written whole under
    a temporary name and linked into place, so two processes starting at once agree on one key
    and an existing key is never replaced (every workspace id depends on it). Raises
    :class:`WorkspaceError` when the file cannot be made or read, or is shorter than 32 characters.
    """
    if settings.workspace_secret:
        return settings.workspace_secret.encode("utf-8")
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        try:
            _create_key_file(path)
        except OSError as exc:  # a read-only disk, or one without hard links
            raise WorkspaceError(
                f"Cannot create this server's workspace key {path} ({exc}); an admin can set "
                "[marketune] workspace_secret in secrets.toml instead."
            ) from None
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"Cannot read this server's workspace key {path} ({exc}); an admin must fix it.") from None
    if len(key) < MIN_SECRET_CHARS:
        raise WorkspaceError(
            f"This server's workspace key {path} is damaged ({len(key)} characters, expected at least "
            f"{MIN_SECRET_CHARS}): an admin must restore it from a backup, as every workspace's folder name depends on it."
        )
    return key.encode("ascii")


def _create_key_file(path: Path) -> None:
    """Write 64 random hex digits to ``path`` (0600) unless it exists: whole, under a temporary
    name, then hard-linked into place (unlike a rename, a link fails when the file exists, so the
    first key made stays and no reader sees half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{SECRET_FILE}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: that one is the key
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def for_identity(identity: Identity, settings: TeamSettings, *,
                 jobs_busy: Callable[[Path], bool] | None = None) -> Workspace:
    """The signed-in person's workspace on a team server (folders not created: :meth:`Workspace.ensure`).

    Its id is :meth:`Identity.workspace_id` under the server's key. A folder of this person
    under the id of before the key is renamed to it first (:func:`_move_legacy_folder`) when
    ``jobs_busy(jobs folder)`` says none of its jobs is queued or running (ui/account.py passes
    core.jobs' answer: this module sits below core.jobs); without ``jobs_busy`` it is used where
    it is, never moved.
    Admin: the e-mail is in ``settings.admins`` and the provider vouches for it
    (``email_verified`` is the boolean true: a missing claim or the text "true" is not enough).
    Raises :class:`WorkspaceError` when the key cannot be read.
    """
    wid = _move_legacy_folder(identity, settings.data_dir / "workspaces", identity.workspace_id(workspace_key(settings)),
                              jobs_busy or (lambda _jobs: True))
    folder = settings.data_dir / "workspaces" / wid
    email = identity.email.lower()
    admin = bool(email) and email in settings.admins and identity.email_verified is True
    team = settings.data_dir / TEAM / "models" if settings.team_workspace != "off" else None
    return Workspace(
        wid, folder / "models", folder / "jobs", folder / "labels", folder / "predictions",
        email=identity.email, admin=admin, team_models=team, team_writable=settings.team_workspace == "write",
        data_dir=settings.data_dir, max_jobs=settings.max_jobs_per_person, job_limits=settings.job_limits,
        base_model_folders=settings.base_model_folders, allow_hub_models=settings.allow_hub_models,
    )


def _move_legacy_folder(identity: Identity, root: Path, wid: str, jobs_busy: Callable[[Path], bool]) -> str:
    """The id to use for ``identity`` under ``root`` (``<data_dir>/workspaces``): ``wid``, after
    renaming the person's folder of before the server key (``legacy_workspace_id``) to it when
    ``wid`` has no folder yet and the old one's owner.json names the same issuer and subject.

    While ``jobs_busy(<old>/jobs)`` (a job there is queued or running) the old folder stays where
    it is and its id is returned (the job's worker writes to absolute paths in that folder); the
    next sign-in after the job ends moves it. A moved job's ``models_dir`` and ``model_path`` are
    rewritten, so an interrupted job resumes into the new folder.
    """
    new = root / wid
    if new.exists():
        return wid
    old = root / identity.legacy_workspace_id
    if old.is_symlink() or not old.is_dir():
        return wid
    owner = owner_of(old)
    if (owner.get("issuer"), owner.get("subject")) != (identity.issuer, identity.subject):
        return wid
    if jobs_busy(old / "jobs"):
        return old.name
    try:
        old.rename(new)
    except OSError:  # another session of this person moved it a moment ago, or the disk refused
        return wid if new.exists() else old.name
    for job in (new / "jobs").iterdir() if (new / "jobs").is_dir() else ():
        _rehome_job(job, old, new)
    return wid


def _rehome_job(job: Path, old: Path, new: Path) -> None:
    """Point the absolute paths a job folder keeps (request ``models_dir``, state ``model_path``)
    from the moved workspace folder ``old`` to ``new``; files that do not parse are left alone."""
    for name, key in (("request.json", "models_dir"), ("state.json", "model_path")):
        try:
            data = json.loads((job / name).read_text(encoding="utf-8"))
            value = Path(data[key])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if value.is_relative_to(old):
            data[key] = str(new / value.relative_to(old))
            atomic_write(job / name, to_json(data).encode("utf-8"))


_session_lookup: Callable[[], Workspace] | None = None


def set_session_lookup(lookup: Callable[[], Workspace] | None) -> None:
    """Register how :func:`current` finds the caller's workspace (the Streamlit side does, once
    per process; None: back to the laptop workspace). The lookup itself must read the caller's
    session: it is shared by every session of the process."""
    global _session_lookup
    _session_lookup = lookup


def current() -> Workspace:
    """The caller's workspace: the registered lookup's answer, else the laptop workspace.

    Raises :class:`WorkspaceError` (from the lookup) when sign-in is configured and the caller
    is not signed in: no folder is ever guessed.
    """
    return _session_lookup() if _session_lookup is not None else laptop()
