"""The model registry: saved models as folders under one root (default ./models).

Without an explicit ``root``, every name goes through the caller's workspace
(:mod:`core.workspace`): a plain name is the caller's own model, ``team:<name>`` the team's, and
anything outside the caller's workspaces is refused with a ``ValueError`` saying why. On a
laptop that is the one ``models/`` folder of today."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import workspace
from .config import METHOD_NAMES
from .export import neutralise_csv_file
from .models import SavedModel, load_folder
from .models.candidates import kept_kinds, leaderboard_kind
from .models.folder import MANIFEST, METRICS, SCHEMA, TRAINING_CONFIG, is_model_folder
from .models.softvote import WITH_FINE_TUNE, members_in_words
from .workspace import NAME_PATTERN, validate_name

# How pages name each kind of saved model (marketune.json's "kind") and each method; only the
# kinds in BASE_MODEL_KINDS run on a base model.
KIND_NAMES = {
    "transformer": "fine-tuned transformer",
    "fewshot": "few-shot model",
    "tfidf": "TF-IDF + logistic regression",
    "tabular": "gradient-boosted trees",
    "hybrid": "gradient-boosted trees + TF-IDF text score",
    "embedding": "frozen-encoder embeddings + logistic regression",
    "softvote": "soft vote of TF-IDF + LR and embeddings + LR",
    WITH_FINE_TUNE: "soft vote of " + members_in_words(("tfidf", "embedding", "transformer")),  # a candidate's folder
    "zeroshot": "zero-shot model",
}
# The Models table's short name of the kinds whose KIND_NAMES words list their members: a cell, not
# a sentence (the full words are ModelInfo.describe's, said under the table for the model inspected).
SHORT_KIND_NAMES = {"softvote": "soft vote", WITH_FINE_TUNE: "soft vote with the fine-tune"}
# What built a kind whose run's method does not describe it (the run's "full" or "fewshot" was
# another candidate's): said instead of METHOD_NAMES.
KIND_METHODS = {"embedding": "encoder frozen, not fine-tuned", "softvote": "probabilities averaged, encoder frozen",
                "zeroshot": "never trained on labels"}
BASE_MODEL_KINDS = ("transformer", "fewshot", "embedding", "softvote", "zeroshot")


@dataclass(frozen=True)
class ModelInfo:
    """What the Models page lists for one saved model (read from its JSON files only)."""

    name: str
    path: Path
    kind: str
    task: str
    classes: list[str]
    base_model: str
    method: str
    n_rows: int
    saved_at: str
    metrics: dict[str, Any]  # the full metrics.json
    config: dict[str, Any]  # training_config.json
    text_columns: tuple[str, ...] | None = None  # data_schema.json's: () profile-only, None unknown
    candidates: tuple[str, ...] = ()  # kinds kept beside it in candidates/ (core.models.candidates)
    members: tuple[str, ...] = ()  # a soft vote's member kinds, in voting order (marketune.json's "members")

    @property
    def reads_text(self) -> bool:
        """Whether the model reads a text column (Ad Copy Lab, the Dashboard and Label need one).
        A folder that does not record its columns counts as reading text, as every kind but
        the profile-only response model does."""
        return self.text_columns is None or bool(self.text_columns)

    @property
    def candidate_kind(self) -> str:
        """Its kind on the run's leaderboard (core.models.candidates.leaderboard_kind): ``kind``, or
        "softvote_ft" for a soft vote with a fine-tuned member."""
        return leaderboard_kind({"kind": self.kind, "members": self.members})

    @property
    def base_model_used(self) -> str | None:
        """The base model the saved model runs on, or None for the kinds built on none (TF-IDF,
        gradient-boosted trees): their manifest's ``base_model`` ("tfidf-lr") names no base model,
        and the run's config names the one the losing fine-tune used."""
        return self.base_model if self.kind in BASE_MODEL_KINDS else None

    def describe(self, base_label: Callable[[str], str] = str) -> str:
        """What the saved model is, in words, for every page that names it (issue 28): its kind,
        its base model (``base_label`` names it, e.g. ``Workspace.base_model_label``; "no base
        model" for kinds with none) and its method, e.g. "fine-tuned transformer · base model
        minilm-en · LoRA adapters" or "TF-IDF + logistic regression · no base model"."""
        kind = self.kind_words(base_label)
        if self.base_model_used is None:
            return f"{kind} · no base model"
        return " · ".join(part for part in (kind, f"base model {base_label(self.base_model) or '?'}", self.method_words)
                          if part)

    def kind_words(self, base_label: Callable[[str], str] = str) -> str:
        """The saved model's kind in words (KIND_NAMES), as :meth:`describe` and the Models table name it."""
        if self.kind == "tfidf" and self.task == "regression":
            return "TF-IDF + ridge regression"
        if self.kind == "softvote":  # its base model is its embedding member's: "... and multilingual-e5-small embeddings + LR"
            return "soft vote of " + members_in_words(list(self.members or ("tfidf", "embedding"))).replace(
                "embeddings + LR", f"{base_label(self.base_model) or '?'} embeddings + LR")
        return KIND_NAMES.get(self.kind, self.kind)

    @property
    def method_words(self) -> str:
        """How the saved model was built, in words; "" for a kind on no base model (its kind says
        it). KIND_METHODS first: ``method`` is the run's ("full" for an embeddings model saved
        from a fine-tuning run), which did not build a frozen-encoder kind."""
        if self.base_model_used is None:
            return ""
        if self.candidate_kind == WITH_FINE_TUNE:  # its fine-tuned member was built by the run's method
            return ("probabilities averaged, encoder frozen for the embeddings, "
                    f"{METHOD_NAMES.get(self.method, self.method)} for the fine-tune")
        return KIND_METHODS.get(self.kind) or METHOD_NAMES.get(self.method, self.method)

    @property
    def multi_label(self) -> bool:
        """Several tags per row (its metrics are multi-label ones: micro-F1 first)."""
        return bool((self.metrics.get("model") or {}).get("multi_label") or self.config.get("multi_label"))

    def what_it_predicts(self) -> str:
        """"7 tags (several per row)", "3 classes" or "a number", for the pages that name it."""
        if self.task != "classification":
            return "a number"
        return f"{len(self.classes)} tags (several per row)" if self.multi_label else f"{len(self.classes)} classes"

    @property
    def headline(self) -> dict[str, float]:
        model = self.metrics.get("model", {})
        keys = ("accuracy", "macro_f1", "roc_auc") if self.task == "classification" else ("r2", "mae", "spearman")
        if self.multi_label:
            keys = ("micro_f1", "macro_f1", "hamming_loss")
        return {k: model[k] for k in keys if isinstance(model.get(k), (int, float))}


def models_root() -> Path:
    """The caller's own models folder: on a laptop $MARKETUNE_MODELS_DIR, or models/ in the
    project folder; on a team server the signed-in person's workspace (core.workspace)."""
    return workspace.current().models


def model_path(name: str, root: Path | None = None, *, write: bool = False) -> Path:
    """The folder of model ``name``: ``root / name`` when ``root`` is given, else resolved in the
    caller's workspace (``write``: to create, replace or delete it). Raises ``ValueError`` for a
    name that is not allowed or lies outside the caller's workspaces."""
    if root is not None:
        return root / validate_name(name)
    return workspace.current().resolve_model(name, write=write)


def find_model(ref: str | Path) -> Path:
    """The folder of the saved model a person names where a path or a name may be typed (the
    command line's ``--model`` of predict, evaluate, serve, export, monitor, retrain...): an
    existing model folder as typed, else a model name resolved in the caller's workspace
    (:func:`model_path`, the one resolver: ``team:<name>`` and the workspace rules hold).

    Raises ValueError, one message everywhere: a folder that holds no saved model, or a name
    that is neither a folder nor a saved model (:func:`unknown_model_message`, listing the names)."""
    path = Path(ref)
    if is_model_folder(path):
        return path
    try:
        folder = model_path(str(ref))
    except ValueError:  # not a name at all (a path that does not exist, a name outside the rules)
        folder = None
    if folder is not None and is_model_folder(folder):
        return folder
    if path.is_dir():
        raise ValueError(f"{ref} is a folder but not a saved Marketune model (it has no {MANIFEST}), and no saved "
                         "model has that name.")
    raise ValueError(unknown_model_message(str(ref)))


def unknown_model_message(ref: str) -> str:
    """"No saved model named 'x' ...": the names the caller can use (the first 20), and where."""
    try:
        names, area = [m.name for m in list_models()], workspace.current().models
    except ValueError as exc:  # a team server's caller who is not signed in: say why, list nothing
        return f"No model folder {ref!r}, and the saved models cannot be listed: {exc}"
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return (f"No saved model named {ref!r} and no model folder at that path. "
            + (f"Saved models (in {area}): {listed}." if names else f"There is no saved model yet (in {area}).")
            + " Give one of these names, or the path of a model folder.")


def list_models(root: Path | None = None) -> list[ModelInfo]:
    """All complete model folders, newest first. Half-written (temporary) folders are skipped.

    Without ``root``: every model the caller may open, named as :func:`model_path` takes them
    (own models plainly, the team's as ``team:<name>``, for admins others' as ``<id>:<name>``).
    """
    if root is not None:
        return _sorted(_infos(root, ""))
    return _sorted([info for prefix, area in workspace.current().visible_model_areas() for info in _infos(area, prefix)])


def _infos(root: Path, prefix: str) -> list[ModelInfo]:
    if not root.is_dir():
        return []
    infos = []
    for folder in root.iterdir():
        if (folder.is_dir() and not folder.is_symlink() and NAME_PATTERN.match(folder.name)
                and is_model_folder(folder)):
            try:
                info = read_info(folder)
            except (ValueError, json.JSONDecodeError, OSError):
                continue  # a damaged folder must not break the list
            infos.append(dataclasses.replace(info, name=prefix + info.name) if prefix else info)
    return infos


def _sorted(infos: list[ModelInfo]) -> list[ModelInfo]:
    return sorted(infos, key=lambda i: i.saved_at, reverse=True)


def read_info(folder: Path) -> ModelInfo:
    def load(name: str) -> dict[str, Any]:
        path = folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    manifest, metrics, config = load(MANIFEST), load(METRICS), load(TRAINING_CONFIG)
    schema = load(SCHEMA)
    return ModelInfo(
        name=folder.name,
        path=folder,
        kind=manifest.get("kind", "?"),
        task=manifest.get("task", "?"),
        classes=manifest.get("classes", []),
        base_model=manifest.get("base_model", ""),
        method=_method(manifest, metrics, config),
        n_rows=int(metrics.get("n_rows_used", 0)),
        saved_at=manifest.get("saved_at", ""),
        metrics=metrics,
        config=config,
        text_columns=_text_columns(schema, config),
        candidates=tuple(kept_kinds(folder)),
        members=tuple(m for m in manifest.get("members") or () if isinstance(m, str)),
    )


def _method(manifest: dict[str, Any], metrics: dict[str, Any], config: dict[str, Any]) -> str:
    """The method that built the saved model. A TF-IDF model saved in place of a fine-tuned one
    keeps that run's config ("full"): it is named by its own kind. The method "auto" chose
    (``metrics["method_chosen"]``) beats the config's "auto"."""
    kind = manifest.get("kind", "")
    if kind == "tfidf":
        return "tfidf"
    return str(metrics.get("method_chosen") or config.get("method") or kind)


def _text_columns(schema: dict[str, Any], config: dict[str, Any]) -> tuple[str, ...] | None:
    for source in (schema, config):
        if isinstance(source.get("text_columns"), list):
            return tuple(str(c) for c in source["text_columns"])
    return None


def load_model(name: str, root: Path | None = None, **kwargs: Any) -> SavedModel:
    """Load a saved model by name, whatever its kind (:func:`core.models.load_folder`)."""
    folder = model_path(name, root)
    if not folder.is_dir():
        raise ValueError(f"No saved model named {name!r} in {folder.parent}.")
    return load_folder(folder, **kwargs)


def delete_model(name: str, root: Path | None = None) -> None:
    """Delete a saved model's folder, the candidates kept in it included; ``ValueError`` if there
    is none or the caller may not."""
    folder = model_path(name, root, write=True)
    if not is_model_folder(folder):
        raise ValueError(f"No saved model named {name!r}.")
    shutil.rmtree(folder)


def choose_candidate(name: str, kind: str, root: Path | None = None) -> ModelInfo:
    """Put the candidate ``kind`` kept in model ``name`` in its place, and the model in place among
    the candidates (core.versions.choose: no retraining, one atomic replace of the folder;
    metrics.json records that a person chose it over the rule's choice, and when). The model's
    versions, fixed holdout, scoring history and version number stay in place, and the swap is
    an event of its version history. Every page and the CLI then predict with it under the same
    name. Returns the model's new ModelInfo. Raises ``ValueError``: no such model, not the
    caller's to change (another person's, a read-only team model), or no such candidate (the
    message names the ones kept)."""
    from .versions import choose

    folder = model_path(name, root, write=True)
    if not is_model_folder(folder):
        raise ValueError(f"No saved model named {name!r}.")
    choose(folder, kind)
    return dataclasses.replace(read_info(folder), name=name)


def can_change(name: str) -> bool:
    """Whether the caller may delete or replace model ``name`` (their own, or the team's when it
    is writable; never another person's, not even an admin), so pages offer only what works."""
    try:
        model_path(name, write=True)
    except ValueError:
        return False
    return True


def can_share() -> bool:
    """Whether the caller may copy models into the team workspace (a team server whose
    ``[marketune] team_workspace`` is "write")."""
    ws = workspace.current()
    return ws.team_models is not None and ws.team_writable


def share_model(name: str) -> str:
    """Copy the caller's own model ``name`` into the team workspace; returns its reference there,
    ``team:<name>``, which everyone on the server can list, open and predict with.

    The copy is written beside its place and renamed into it (nobody sees half a model); the
    own model stays. Raises ``ValueError`` saying why: not one's own model, no such model, no
    team workspace or a read-only one, or the team already has a model of that name.
    """
    if workspace.SEP in name:
        raise ValueError(f"Only your own models can be shared; {name!r} is not one of them.")
    source = model_path(name)
    if not is_model_folder(source):
        raise ValueError(f"No saved model named {name!r}.")
    ref = f"{workspace.TEAM}{workspace.SEP}{name}"
    target = model_path(ref, write=True)  # refuses without a (writable) team workspace
    if target.exists():
        raise ValueError(f"The team already has a model named {name!r}; rename yours (train it under another name) "
                         "or ask whoever shared it to delete the team's copy.")
    from .files import atomic_folder

    with atomic_folder(target) as tmp:
        for path in source.rglob("*"):
            if path.is_symlink():  # never follow a link out of the workspace into the team's
                continue
            destination = tmp / path.relative_to(source)
            if path.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
    return ref


def zip_model(name: str, root: Path | None = None) -> bytes:
    """The model folder as a zip archive (bytes), for download; its kept candidates come along
    (``candidates/<kind>/``, each a model folder that loads on its own).

    Its CSV files (``test_predictions.csv``: texts from the training data) are written as
    :func:`core.export.neutralise_csv_file` makes them, so a spreadsheet that opens one from the
    archive runs no formula; every other file is byte for byte the saved one (the model loads from
    the unpacked folder as from the original). Without ``root`` the name is resolved in the
    caller's workspace, which needs the caller's session: a caller building the archive later, in
    another thread (a deferred download), resolves the folder first and passes ``root``.
    """
    folder = model_path(name, root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():  # a link could point anywhere on the server
                member = str(Path(folder.name) / path.relative_to(folder))
                if path.suffix.lower() == ".csv":
                    archive.writestr(member, neutralise_csv_file(path))
                else:
                    archive.write(path, member)
    return buffer.getvalue()
