"""Does a saved model read the language of the texts it is asked to score? (issue 30)

One warning for Predict, Ad Copy Lab and ``python -m core predict``: when a clear share of the
texts to score is in a language the model's base model does not cover (Chinese rows for a model
built on the English-only minilm-en, for example), their predictions are close to guesses.
The language of each text is judged as the Train page judges its data
(``core.base_models.text_languages``, the check behind ``language_mix``); nothing else is detected here.

What a model reads: its base model's catalog languages (``core.base_models.CATALOG``: English
only, or ~100 languages); a folder or hub id whose languages are unknown is not judged. A model
built on no base model (TF-IDF) reads the languages of its training texts: those of its saved
test rows (``test_predictions.csv``) when the folder has them, else it is not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .base_models import BUNDLED_HUB_ID, LANGUAGE_SAMPLE, catalog_languages, text_languages
from .models.folder import TEST_PREDICTIONS

WARN_SHARE = 0.2  # at least this share of the texts (with letters) in a language the model does not read
TRAINED_SHARE = 0.05  # a language is part of the training texts from this share of them up
KIND_WORDS = {
    "english": "English",
    "cjk": "Chinese, Japanese or Korean",
    "other_script": "a non-Latin script such as Cyrillic or Arabic",
    "other_latin": "a language other than English (Spanish, French, German, ...)",
}


def model_reads(folder: str | Path) -> tuple[frozenset[str], str] | None:
    """The language kinds a saved model reads and why, in words; None when it reads every
    language (a multilingual base model) or that is unknown (a model folder or hub id of the
    user's, a TF-IDF model without saved test rows)."""
    from .registry import read_info

    folder = Path(folder)
    info = read_info(folder)
    base = info.base_model_used
    if base is not None:
        return base_model_reads(base)
    path = folder / TEST_PREDICTIONS
    if not path.is_file():
        return None
    try:
        texts = pd.read_csv(path, keep_default_na=False, dtype=str, usecols=["text"])["text"].tolist()
    except (ValueError, OSError, pd.errors.ParserError):
        return None
    kinds = text_languages(texts)
    if not kinds:
        return None
    read = frozenset(k for k in set(kinds) if kinds.count(k) / len(kinds) >= TRAINED_SHARE)
    if read == frozenset(KIND_WORDS):
        return None
    words = " and ".join(KIND_WORDS[k] for k in sorted(read))
    return read, f"it was trained on texts in {words} only"


def base_model_reads(base: str) -> tuple[frozenset[str], str] | None:
    """:func:`model_reads` of a model built on the base model ``base`` (a catalog name, the bundled
    hub id, or a folder or hub id of the user's: not judged)."""
    languages = ("en",) if base == BUNDLED_HUB_ID else catalog_languages(base)
    if languages == ("en",):
        return frozenset({"english"}), f"its base model '{base}' reads English only"
    return None


def language_warning(folder: str | Path | None, texts: Sequence[object], of_rows: int | None = None) -> str | None:
    """A plain warning when at least ``WARN_SHARE`` of ``texts`` (those with letters; up to
    ``LANGUAGE_SAMPLE`` looked at) are in a language the saved model at ``folder`` does not read
    (:func:`model_reads`), naming how many; None otherwise, or when that cannot be judged.
    ``of_rows``: the rows of the whole file when ``texts`` are only its first ones (core.predict)."""
    if folder is None or not texts:
        return None
    try:
        reads = model_reads(folder)
    except (OSError, ValueError):
        return None
    found = _unread(reads, texts, of_rows)
    if found is None:
        return None
    return (f"{found}: its predictions for them are likely little better than guesses. Score such texts with a "
            f"model trained on multilingual-e5-small {ON_THE_PAGE}, or check a sample of them by hand.")


def build_warning(base: str, texts: Sequence[object], *, cli: bool = False) -> str | None:
    """:func:`language_warning` before a zero-shot model is built on the base model ``base`` from
    ``texts`` (core.zeroshot.build_zeroshot: ``python -m core zero-shot``, the Train and Label
    pages' zero-shot forms): a walk built one on minilm-en from Chinese reviews that put every row
    in one class, and only ``predict`` warned. ``cli``: the fix as a flag, else as the pages have it."""
    found = _unread(base_model_reads(base), texts, None)
    if found is None:
        return None
    fix = ("build it with --base-model multilingual-e5-small" if cli else
           "check a sample of its suggestions for them by hand")
    return f"{found}: a zero-shot model built on it will sort them little better than by chance; {fix}."


def _unread(reads: tuple[frozenset[str], str] | None, texts: Sequence[object], of_rows: int | None) -> str | None:
    """"<how many> look like <language>, but <why>" (:func:`language_warning`'s first half) when at
    least WARN_SHARE of ``texts`` are in a language outside ``reads``; None otherwise."""
    if reads is None or not texts:
        return None
    read, why = reads
    kinds = text_languages(texts)
    unread = [k for k in kinds if k not in read]
    if not kinds or len(unread) / len(kinds) < WARN_SHARE:
        return None
    main = max(sorted(set(unread)), key=unread.count)
    where = ""  # every text given was checked
    if len(texts) > LANGUAGE_SAMPLE:
        where = f"Of {len(kinds):,} texts checked (spread over all {len(texts):,}), "
    elif of_rows is not None and of_rows > len(texts):
        where = f"Of {len(kinds):,} texts checked (the first {len(texts):,} of the {of_rows:,} rows), "
    share = f"{len(unread) / len(kinds):.0%}"
    if not where and len(kinds) < len(texts):  # "497 of 499 texts" for a 500-row file said nothing of the last one
        none = len(texts) - len(kinds)
        share += f"; the other {none:,} of the {len(texts):,} {'has' if none == 1 else 'have'} no letters to judge"
    count = f"{len(unread):,} ({share})" if where else f"{len(unread):,} of {len(kinds):,} texts ({share})"
    other = " or another language" if len(set(unread)) > 1 else ""
    return f"{where}{count} look like {KIND_WORDS[main]}{other}, but {why}"


# Where the pages say to train such a model, and what `python -m core predict` says instead (a
# newcomer at the CLI was sent to a page; round-9 walk).
ON_THE_PAGE = "(Train page)"
ON_THE_CLI = "(python -m core train --base-model multilingual-e5-small)"


def cli_words(warning: str) -> str:
    """:func:`language_warning`'s sentence as the CLI says it: the train flag instead of the page."""
    return warning.replace(ON_THE_PAGE, ON_THE_CLI)
