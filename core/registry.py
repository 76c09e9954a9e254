"""The model registry: saved models as folders under one root (default ./models)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import SavedModel, load_folder

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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

    @property
    def reads_text(self) -> bool:
        """Whether the model reads a text column (Ad Copy Lab, the Dashboard and Label need one).
        A folder that does not record its columns counts as reading text, as every kind but
        the profile-only response model does."""
        return self.text_columns is None or bool(self.text_columns)

    @property
    def headline(self) -> dict[str, float]:
        model = self.metrics.get("model", {})
        keys = ("accuracy", "macro_f1", "roc_auc") if self.task == "classification" else ("r2", "mae", "spearman")
        return {k: model[k] for k in keys if isinstance(model.get(k), (int, float))}


def models_root() -> Path:
    """$MARKETUNE_MODELS_DIR, or models/ in the project folder."""
    root = os.environ.get("MARKETUNE_MODELS_DIR")
    return Path(root) if root else Path(__file__).resolve().parent.parent / "models"


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe folder name, else raise ``ValueError`` saying why.

    1-64 characters of letters, digits, '_', '-', '.', starting with a letter or digit: no
    path separators, no '..', no hidden or absolute paths.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise ValueError(
            f"Model name {name!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no slashes, no '..')."
        )
    return name


def model_path(name: str, root: Path | None = None) -> Path:
    return (root or models_root()) / validate_name(name)


def list_models(root: Path | None = None) -> list[ModelInfo]:
    """All complete model folders, newest first. Half-written (temporary) folders are skipped."""
    root = root or models_root()
    if not root.is_dir():
        return []
    infos = []
    for folder in root.iterdir():
        if folder.is_dir() and NAME_PATTERN.match(folder.name) and (folder / "marketune.json").is_file():
            try:
                infos.append(read_info(folder))
            except (ValueError, json.JSONDecodeError, OSError):
                continue  # a damaged folder must not break the list
    return sorted(infos, key=lambda i: i.saved_at, reverse=True)


def read_info(folder: Path) -> ModelInfo:
    def load(name: str) -> dict[str, Any]:
        path = folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    manifest, metrics, config = load("marketune.json"), load("metrics.json"), load("training_config.json")
    schema = load("data_schema.json")
    return ModelInfo(
        name=folder.name,
        path=folder,
        kind=manifest.get("kind", "?"),
        task=manifest.get("task", "?"),
        classes=manifest.get("classes", []),
        base_model=manifest.get("base_model", ""),
        # A TF-IDF model saved in place of a fine-tuned one keeps that run's config: name its own kind.
        method="tfidf" if manifest.get("kind") == "tfidf" else config.get("method", manifest.get("kind", "")),
        n_rows=int(metrics.get("n_rows_used", 0)),
        saved_at=manifest.get("saved_at", ""),
        metrics=metrics,
        config=config,
        text_columns=_text_columns(schema, config),
    )


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
    folder = model_path(name, root)
    if not (folder / "marketune.json").is_file():
        raise ValueError(f"No saved model named {name!r}.")
    shutil.rmtree(folder)


def zip_model(name: str, root: Path | None = None) -> bytes:
    """The model folder as a zip archive (bytes), for download."""
    folder = model_path(name, root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(name) / path.relative_to(folder))
    return buffer.getvalue()
