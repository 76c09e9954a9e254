"""Drafts: a person's unfinished work on a page, kept on disk so that it survives a reload, a
second tab and a server restart, as a training job does (core.jobs keeps its job on disk).

One small JSON file per page in the caller's workspace (core.workspace): ``drafts/<page>.json``
beside the workspace's ``jobs`` folder (on a laptop ``.marketune/drafts``; on a team server
``<data>/workspaces/<id>/drafts``, so no one reads another person's draft). The folder is 0700,
the file 0600 and written whole or not at all (core.models.folder.atomic_write). JSON only,
never pickled; a draft that cannot be read is ignored, as if there were none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import workspace
from .files import atomic_write
from .workspace import validate_name

MAX_DRAFT_BYTES = 2_000_000  # a page's draft is a few texts; anything larger is not one of ours


def drafts_dir() -> Path:
    """The caller's drafts folder (not created here)."""
    return workspace.current().jobs.parent / "drafts"


def draft_path(page: str) -> Path:
    """The file of ``page``'s draft; ``ValueError`` for a page name that is not a plain name."""
    return drafts_dir() / f"{validate_name(page)}.json"


def save_draft(page: str, data: dict[str, Any]) -> None:
    """Keep ``data`` (JSON-serialisable) as ``page``'s draft, replacing the one before.
    Raises ``ValueError`` when it is larger than :data:`MAX_DRAFT_BYTES` once written."""
    raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
    if len(raw) > MAX_DRAFT_BYTES:
        raise ValueError(f"A draft holds at most {MAX_DRAFT_BYTES:,} bytes; this one has {len(raw):,}.")
    path = draft_path(page)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, raw)


def load_draft(page: str) -> dict[str, Any]:
    """``page``'s draft as saved, or ``{}`` when there is none or it cannot be read (damaged,
    too large, not a JSON object)."""
    path = draft_path(page)
    try:
        if path.is_symlink() or path.stat().st_size > MAX_DRAFT_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
