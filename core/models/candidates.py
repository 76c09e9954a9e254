"""Candidates kept inside a saved model folder, and putting one of them in place.

Training compares the fine-tuned model with TF-IDF + LR and saves one; the other is kept, a
complete model folder of its own, under ``candidates/<kind>/``::

    <model>/                     # the model in place: what every page and the CLI predict with
        marketune.json, metrics.json, ...
        candidates/
            tfidf/               # the model not chosen: its own metrics.json ("model": its own
                marketune.json   # test numbers; the baselines and the verdict shared), its own
                ...              # test_predictions.csv and weights; loads with load_folder

The whole folder, candidates included, is written beside its place and renamed into it
(:func:`save_with_candidates`), and :func:`switch_candidate` swaps a candidate and the model in
place by building the swapped folder beside it and renaming it into place once: a crash at any
point leaves either the old folder or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..files import atomic_folder, pause_alias, pause_point, replace_folder, write_json
from .folder import MANIFEST, METRICS, read_json
from .softvote import WITH_FINE_TUNE

CANDIDATES = "candidates"
CHOICE = "choice"  # the metrics.json key recording that a person chose the model in place over the rule's


def kept_kinds(folder: str | Path) -> list[str]:
    """The kinds kept under ``folder/candidates/`` (complete folders only), sorted; [] when none."""
    root = Path(folder) / CANDIDATES
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink() and (p / MANIFEST).is_file())


def leaderboard_kind(manifest: Mapping[str, Any]) -> str:
    """The leaderboard's kind of a saved model (its ``candidates/<kind>/`` name) from its
    marketune.json: the manifest's ``kind``, except a soft vote with a fine-tuned member, which is
    the candidate "softvote_ft" (core.softvote) though it is saved as kind "softvote"."""
    kind = str(manifest.get("kind") or "?")
    if kind == "softvote" and "transformer" in (manifest.get("members") or ()):
        return WITH_FINE_TUNE
    return kind


def kind_of_verdict_name(name: str | None) -> str | None:
    """The folder kind of a verdict's model name: "tfidf_lr"/"tfidf_ridge" -> "tfidf", else as is."""
    if not name:
        return None
    return "tfidf" if name.startswith("tfidf") else name


def rule_kind(metrics: Mapping[str, Any]) -> str | None:
    """The kind the choice rule saved (``metrics["verdict"]["chosen"]``), or None without a verdict."""
    return kind_of_verdict_name((metrics.get("verdict") or {}).get("chosen"))


def save_with_candidates(
    model: Any,
    folder: str | Path,
    alternatives: Mapping[str, Any],
    *,
    overwrite: bool = False,
    also: Callable[[Path], Any] | None = None,
    pause: str = "model-save",
) -> Path:
    """Save ``model`` in ``folder`` with each of ``alternatives`` (kind -> saved-model object) in
    ``folder/candidates/<kind>/``; ``also(path)`` then runs on the model's folder and on each
    candidate's (the OOD reference is written there). Everything is written into a temporary
    folder beside ``folder`` and renamed into place at the end: a failure at any point leaves the
    old folder (or none) and removes the temporary one. Returns ``folder``; the objects' ``path``
    point into it. Raises ``ValueError`` when ``folder`` exists and ``overwrite`` is False.
    ``pause``: the name the test hook "model-save" answers to during this save
    (core.models.folder.pause_alias; "leader-save" for core.pipeline's best so far).
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise ValueError(f"{folder} already exists; choose another name or allow overwriting.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    models = [model, *alternatives.values()]
    paths = [getattr(m, "path", None) for m in models]  # each save points its model at the temporary folder
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        with pause_alias("model-save", pause):  # the test hook's name for this save
            written = _write(model, alternatives, staging / folder.name, also)
        replace_folder(written, folder)
    except BaseException:
        for m, path in zip(models, paths):
            m.path = path
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    model.path = folder
    for kind, alternative in alternatives.items():
        alternative.path = folder / CANDIDATES / kind
    return folder


def _write(model: Any, alternatives: Mapping[str, Any], target: Path, also: Callable[[Path], Any] | None) -> Path:
    """The whole folder written at ``target`` (in the staging folder), ready to be renamed into place."""
    written = Path(model.save(target))
    for kind, alternative in alternatives.items():
        alternative.save(written / CANDIDATES / kind)
    if also is not None:
        for path in [written, *(written / CANDIDATES / kind for kind in alternatives)]:
            also(path)
    pause_point("model-save")  # a test hook: the folder whole beside its place
    return written


def switch_candidate(folder: str | Path, kind: str, *, by: str = "person", stay: Collection[str] = (),
                     also: Callable[[Path, str], Any] | None = None) -> str:
    """Put the kept candidate ``kind`` in place of the model in ``folder``, and that model into
    ``candidates/<its kind>/``; returns the kind put aside. No retraining: the files move as they are.

    ``stay``: top-level names that belong to the model a person names, not to whichever candidate
    is in front (core.versions.MODEL_FILES: its versions, fixed holdout, scoring history, version
    number): they stay in place through the swap, byte for byte. A candidate set aside before
    this rule that carries one of them gives it back when the folder in place has none.
    ``also(new_folder, put_aside_kind)`` runs on the swapped folder before it is renamed into
    place (core.versions records the swap in the model's history there).

    metrics.json of the model in place records the choice when it is not the rule's
    (``{"choice": {"kind", "rule_kind", "by", "at"}}``; switching back to the rule's choice removes
    it, so two switches give back the very same files). The swapped folder is built beside
    ``folder`` (weights hard-linked where the file system allows, other files copied) and renamed
    into place once. Raises ``ValueError`` naming the kept kinds when ``kind`` is not one of them.
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise ValueError(f"{folder} is not a Marketune model folder (no {MANIFEST}).")
    with folder_lock(folder):
        kept = kept_kinds(folder)
        if kind not in kept:
            found = ", ".join(kept) if kept else "none"
            raise ValueError(f"{folder.name} keeps no candidate {kind!r}; the candidates kept are: {found}.")
        current = leaderboard_kind(read_json(folder / MANIFEST))
        source = folder / CANDIDATES / kind
        staying = [name for name in stay if (folder / name).exists()]
        with atomic_folder(folder, overwrite=True) as tmp:
            copy_tree(source, tmp, skip=staying)
            for name in staying:  # the model's own files: as they are, whichever candidate is in front
                _copy_any(folder / name, tmp / name)
            copy_tree(folder, tmp / CANDIDATES / current, skip=(CANDIDATES, *stay))
            for other in kept:
                if other != kind:
                    copy_tree(folder / CANDIDATES / other, tmp / CANDIDATES / other)
            _record_choice(tmp, kind, by)
            _record_choice(tmp / CANDIDATES / current, None, by)
            if also is not None:
                also(tmp, current)
            # marketune.json is a fresh file (copied), so every cache keyed on its time reloads.
    return current


def _copy_any(source: Path, target: Path) -> None:
    """A folder (:func:`copy_tree`) or one file (copied with its mode: owner-only stays owner-only)."""
    if source.is_dir():
        copy_tree(source, target)
    else:
        shutil.copy(source, target)


def _record_choice(folder: Path, kind: str | None, by: str) -> None:
    """Set (``kind`` in place by a person's choice) or clear (``kind`` None, or the rule's own
    choice) the choice record in ``folder``'s metrics.json; the file is rewritten only when it changes."""
    path = folder / METRICS
    if not path.is_file():
        return
    metrics = read_json(path)
    rule = rule_kind(metrics)
    if kind is None or kind == rule:
        if CHOICE not in metrics:
            return
        metrics.pop(CHOICE)
    else:
        metrics[CHOICE] = {"kind": kind, "rule_kind": rule, "by": by, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path.unlink()  # never write through to the candidate's own file
    write_json(path, metrics)


def copy_tree(source: Path, target: Path, *, skip: str | Collection[str] | None = None) -> None:
    """Copy the files under ``source`` into ``target`` (created): weights (``*.safetensors``, never
    rewritten in place) as hard links where possible, everything else as fresh copies (new
    modification times: caches keyed on them see the change). Links are skipped, never followed
    out of the folder, and so are hidden temporary files; ``skip``: a name (or names) left out at the top level."""
    skipped = {skip} if isinstance(skip, str) else set(skip or ())
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_symlink() or path.name in skipped or path.name.startswith("."):
            continue
        if path.is_dir():
            copy_tree(path, target / path.name)
        elif path.suffix == ".safetensors":
            try:
                os.link(path, target / path.name)
            except OSError:  # a file system without hard links
                shutil.copy(path, target / path.name)
        else:
            shutil.copy(path, target / path.name)  # the mode too: owner-only stays owner-only


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One switch at a time in a models folder (two would rename the same folder at once): an
    exclusive lock on the folder that holds the model, held until the swapped folder is in place."""
    fd = os.open(folder.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
