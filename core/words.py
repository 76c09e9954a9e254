"""Words: which script a text is in, how to cut it into words, and which words set one label's
texts apart from the rest (:func:`distinctive_words`). Pure pandas/numpy/scikit-learn, and jieba for Chinese words.

This module owns the one answer to "is this Chinese?" (:data:`CJK_RANGES`): the training data
check (:func:`cjk_share`), the base-model language check (``core.base_models``) and the
dashboard's tokeniser all read it from here.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

# Chinese, Japanese and Korean letters: CJK radicals, kana and ideographs incl. extension A
# (U+2E80-9FFF), Hangul jamo and syllables, compatibility ideographs, half-width kana and
# Hangul, ideograph extensions B and later. A regex character-class body: f"[{CJK_RANGES}]".
CJK_RANGES = "\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uffdc\U00020000-\U0003ffff"
# The part of those written without spaces between words (Han ideographs and kana): tokenisers
# cut these into characters or character pairs; Korean (Hangul) has spaces and keeps its words.
UNSPACED_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")


def counted(n: int, noun: str) -> str:
    """A count in words, singular for one: counted(1, "label") -> "1 label", counted(1234, "label")
    -> "1,234 labels" (regular nouns only). The one plural rule on the pages and in messages."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def rows_words(n: int, what: str = "") -> str:
    """A count of rows in words, singular for one: "1 row", "1,234 rows"; ``what`` goes before the
    noun: "1 test row", "20 labelled rows" (:func:`counted`)."""
    return counted(n, f"{what} row" if what else "row")


def is_cjk(ch: str) -> bool:
    """True when the one character ``ch`` lies in :data:`CJK_RANGES` (letters, and the CJK
    punctuation such as "。" that sits among them: count letters with ``ch.isalpha()`` first)."""
    return bool(_CJK_CHAR.match(ch))


def cjk_share(texts: Sequence[str], sample: int = 2000) -> float:
    """Share of letters (0..1) that are Chinese/Japanese/Korean, over the first ``sample`` texts;
    0.0 when they hold no letters."""
    letters = cjk = 0
    for text in list(texts)[:sample]:
        for ch in str(text):
            if ch.isalpha():
                letters += 1
                cjk += is_cjk(ch)
    return cjk / letters if letters else 0.0


# Runs of unspaced letters (punctuation such as "。" ends a run; it is not a letter).
_CJK_RUN = re.compile(f"(?:(?=[^\\W\\d_])[{UNSPACED_RANGES}])+")
_LATIN_WORD = re.compile(r"[^\W\d_]{2,}")
# CJK ideographs count as letters for \w; the Chinese tokeniser's word pattern excludes them.
_NON_CJK_WORD = re.compile(f"(?:(?![{UNSPACED_RANGES}])[^\\W\\d_]){{2,}}")
# Words made only of these function characters carry no meaning ("的", "我们", "一个").
_ZH_STOP_CHARS = set("的了是我你他她它在有这那就也都和与及而着吗吧呢啊个一们")
# Pronoun contractions are as empty as their stop-word parts; negations ("didn't") are kept
# on purpose, they separate negative from positive texts.
_EN_EXTRA_STOP = {"it's", "i'm", "i've", "i'd", "i'll", "that's", "they're", "you're",
                  "we're", "there's", "he's", "she's", "let's", "you've", "we've", "'s"}


def detect_language(texts: Sequence[str], sample: int = 2000) -> Literal["en", "zh", "other"]:
    """"zh" if >= 30% of the letters in the first ``sample`` texts are CJK (:func:`cjk_share`),
    "en" if English stop words are >= 15% of the words, else "other". Cheap, and only used to
    pick a tokeniser."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    texts = [str(t) for t in list(texts)[:sample]]
    if cjk_share(texts, sample=sample) >= 0.3:
        return "zh"
    words = re.findall(r"[^\W\d_]+", " ".join(texts).lower())
    if words and sum(w in ENGLISH_STOP_WORDS for w in words) / len(words) >= 0.15:
        return "en"
    return "other"


_KANA = re.compile("[\u3040-\u30ff]")
_SEGMENTER: Any = None
_SEGMENTER_LOCK = threading.Lock()


def chinese_segmenter() -> Any:
    """jieba's word segmenter (a ``jieba.Tokenizer``), built once per process on first use
    (~1-2 s: it reads its 349,046-word dictionary) and without jieba's log lines on stderr.

    Its cache of that dictionary goes to a folder of our own (``$MARKETUNE_CACHE/jieba`` or
    ``~/.cache/marketune/jieba``, owner-only; the folder of ``core.base_models.cache_dir``, which
    imports this module), not jieba's default ``/tmp/jieba.cache``: jieba loads that file with
    ``marshal``, and in a shared /tmp anyone on the machine could plant it.
    """
    global _SEGMENTER
    with _SEGMENTER_LOCK:  # two threads of one server may ask at once: build it once
        if _SEGMENTER is None:
            import jieba

            logging.getLogger("jieba").setLevel(logging.WARNING)  # "Building prefix dict..." is debug noise
            folder = Path(os.environ.get("MARKETUNE_CACHE") or Path.home() / ".cache" / "marketune") / "jieba"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            tokenizer = jieba.Tokenizer()
            tokenizer.tmp_dir = str(folder)
            tokenizer.initialize()
            _SEGMENTER = tokenizer
        return _SEGMENTER


def chinese_words(run: str) -> list[str]:
    """The words of one run of unspaced CJK letters (:data:`UNSPACED_RANGES`): jieba's
    segmentation (precise mode, with its HMM for words not in the dictionary), e.g. "非常好" ->
    ["非常", "好"], "我知道" -> ["我", "知道"]. A run holding kana (Japanese), which jieba does not
    know, is cut into character bigrams instead."""
    if _KANA.search(run):
        return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return chinese_segmenter().lcut(run)


def _zh_analyzer(text: str) -> list[str]:
    """Words of runs of CJK letters (:func:`chinese_words`), function words such as 的 / 我们
    left out, plus Latin words (lower-cased)."""
    tokens = [w for run in _CJK_RUN.findall(text) for w in chinese_words(run)
              if not all(ch in _ZH_STOP_CHARS for ch in w)]
    tokens.extend(w.lower() for w in _NON_CJK_WORD.findall(text))
    return tokens


def _make_analyzer(language: str) -> Callable[[str], list[str]]:
    if language == "zh":
        return _zh_analyzer
    if language == "en":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = set(ENGLISH_STOP_WORDS) | _EN_EXTRA_STOP
        word = re.compile(r"[^\W\d_](?:[^\W\d_]|'(?=[^\W\d_]))+")

        def analyze(text: str) -> list[str]:
            t = text.lower().replace("\u2019", "'")
            return [w for w in word.findall(t) if w not in stop]

        return analyze
    return lambda text: [w.lower() for w in _LATIN_WORD.findall(text)]


def distinctive_words(
    texts: pd.Series | Sequence[str],
    labels: pd.Series | Sequence[Any],
    top_n: int = 15,
    language: Literal["auto", "en", "zh", "other"] = "auto",
    max_texts: int = 50_000,
    min_count: int = 2,
    prior_scale: float = 1.0,
    random_state: int = 0,
) -> dict[Any, pd.DataFrame]:
    """Words that most distinguish each label's texts from all other texts.

    Method: weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
    Quinn 2008, "Fightin' Words", eq. 22). For label i vs the rest, with word counts y, totals
    n and prior pseudo-counts a_w = prior_scale * (count of w in all sampled texts),
    a0 = sum(a_w)::

        delta_w = log((y_iw + a_w) / (n_i + a0 - y_iw - a_w))
                - log((y_rw + a_w) / (n_r + a0 - y_rw - a_w))
        z_w = delta_w / sqrt(1 / (y_iw + a_w) + 1 / (y_rw + a_w))

    The prior shrinks rare words toward the corpus rate, so a word seen twice cannot top the
    list the way it does with raw log-odds; z accounts for how much evidence there is.

    Tokenisation (``language="auto"`` detects it with :func:`detect_language`):
    - "en": lower-cased words, scikit-learn's English stop words (plus pronoun contractions)
      removed; negations such as "didn't" kept;
    - "zh": words of runs of Chinese characters as the jieba segmenter cuts them
      (:func:`chinese_words`: 非常好 -> 非常 / 好, where character bigrams gave the cross-word
      "常好"), function words (的, 我们) left out, plus Latin words;
    - "other": lower-cased words of >= 2 letters, no stop words.

    At most ``max_texts`` texts are used (default 50,000): each label keeps up to an equal
    share of that budget, drawn at random with ``random_state``, so rare labels keep all their
    texts. Empty/missing texts carry no words and are skipped.

    Returns ``{label: DataFrame(word, z_score, count)}`` for every label present, the
    ``top_n`` words with positive z, highest first; ``count`` is the word's count in that
    label's sampled texts (words with fewer than ``min_count`` are skipped). A table with a
    single label has nothing to contrast: its frame is empty. Each frame's
    ``attrs`` hold ``language`` and ``n_texts`` (texts of that label used).
    """
    t = pd.Series(texts).reset_index(drop=True)
    lab = pd.Series(labels).reset_index(drop=True)
    if len(t) != len(lab):
        raise ValueError(f"texts and labels differ in length: {len(t)} vs {len(lab)}")
    ok = t.notna().to_numpy() & lab.notna().to_numpy()
    t, lab = t[ok].astype(str), lab[ok]
    ok = (t.str.strip() != "").to_numpy()
    t, lab = t[ok], lab[ok]
    if isinstance(lab.dtype, pd.CategoricalDtype):
        codes, cats = lab.cat.codes.to_numpy().astype(np.int64), list(lab.cat.categories)
    else:
        codes, uniques = pd.factorize(lab, sort=True)
        codes, cats = codes.astype(np.int64), list(uniques)
    empty = _empty_words()
    if len(t) == 0:
        return {}
    # Per-label sample: shuffle, rank within label, keep the first `cap` of each label.
    if len(t) > max_texts:
        rng = np.random.default_rng(random_state)
        perm = rng.permutation(len(t))
        rank = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
        cap = math.ceil(max_texts / len(cats))
        sizes = np.bincount(codes, minlength=len(cats))
        # Hand unused budget of small labels to the big ones.
        spare = max_texts - np.minimum(sizes, cap).sum()
        big = sizes > cap
        if big.any() and spare > 0:
            cap = cap + int(spare // big.sum())
        keep = np.sort(perm[rank < cap])
        t, codes = t.iloc[keep], codes[keep]
    lang, x, vocab = _word_counts(t.tolist(), language)
    if x is None:
        return {c: empty.copy() for c in cats}
    from scipy import sparse

    onehot = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(cats), len(codes))
    )
    y = np.asarray((onehot @ x).todense(), dtype=np.float64)  # (n_labels, vocab)
    n_texts = np.bincount(codes, minlength=len(cats))
    y_all = y.sum(axis=0)
    a = prior_scale * y_all
    result: dict[Any, pd.DataFrame] = {}
    for i, label in enumerate(cats):
        if n_texts[i] == 0:
            continue
        frame = _top_words(y[i], y_all - y[i], a, vocab, top_n, min_count, empty)
        frame.attrs["language"] = lang
        frame.attrs["n_texts"] = int(n_texts[i])
        result[label] = frame
    return result


def _word_counts(texts: list[str], language: str) -> tuple[str, Any, np.ndarray]:
    """``(lang, x, vocab)``: the language read (detected when "auto"), the word counts (rows,
    vocab) (scipy CSR) and the vocabulary; ``x`` is None and ``vocab`` empty when no word is left
    (only stop words / digits). ``ValueError`` for a language other than auto, en, zh or other."""
    from sklearn.feature_extraction.text import CountVectorizer

    lang = detect_language(texts) if language == "auto" else language
    if lang not in ("en", "zh", "other"):
        raise ValueError(f"language must be 'auto', 'en', 'zh' or 'other'; got {language!r}")
    vec = CountVectorizer(analyzer=_make_analyzer(lang))
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary: only stop words / digits
        return lang, None, np.array([], dtype=object)
    return lang, x, np.asarray(vec.get_feature_names_out(), dtype=object)


def _empty_words() -> pd.DataFrame:
    return pd.DataFrame({"word": pd.Series(dtype=object), "z_score": pd.Series(dtype=float),
                         "count": pd.Series(dtype=np.int64)})


def _top_words(yi: np.ndarray, yr: np.ndarray, a: np.ndarray, vocab: np.ndarray, top_n: int, min_count: int,
               empty: pd.DataFrame) -> pd.DataFrame:
    """The ``top_n`` words of positive z (Monroe et al. 2008, eq. 22; see :func:`distinctive_words`)
    for word counts ``yi`` of one group against ``yr`` of the rest, prior pseudo-counts ``a``
    (all shape (vocab,)); words counted fewer than ``min_count`` times in the group are skipped."""
    a0 = a.sum()
    ni, nr = yi.sum(), yr.sum()
    if nr <= 0 or ni <= 0:
        return empty.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((yi + a) / (ni + a0 - yi - a)) - np.log((yr + a) / (nr + a0 - yr - a))
        z = delta / np.sqrt(1.0 / (yi + a) + 1.0 / (yr + a))
    good = (yi >= min_count) & np.isfinite(z) & (z > 0)
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(-z[idx], kind="stable")][:top_n]
    return pd.DataFrame({"word": vocab[idx], "z_score": z[idx], "count": yi[idx].astype(np.int64)})


def distinctive_words_per_tag(
    texts: pd.Series | Sequence[str],
    indicator: pd.DataFrame,
    top_n: int = 15,
    language: Literal["auto", "en", "zh", "other"] = "auto",
    min_count: int = 2,
    prior_scale: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """Words that most distinguish the rows carrying each tag from the rows not carrying it, for
    several tags per row.

    ``indicator``: one bool column per tag, a row per text (``texts`` in the same order; the
    multi-label indicator matrix Y of ``core.multilabel``). Each text is counted once: for tag j
    the group is the rows with Y[:, j] true and the rest the rows with it false, so a row tagged
    "joy|surprise" is in the group of both tags and in the rest of every other tag. The prior is
    the word counts of all rows (each once), as in :func:`distinctive_words`, whose method, tokens
    (``language``), ``top_n``, ``min_count`` and ``prior_scale`` these are. The caller samples.

    Returns ``{tag: DataFrame(word, z_score, count)}`` for every tag with at least one non-empty
    text, in ``indicator``'s column order; ``count`` is the word's count in the tag's rows; a tag
    that every row carries has nothing to contrast (empty frame). ``attrs``: ``language``,
    ``n_texts`` (rows carrying the tag). ``ValueError`` when the lengths differ.
    """
    t = pd.Series(texts).reset_index(drop=True)
    if len(t) != len(indicator):
        raise ValueError(f"texts and tag rows differ in length: {len(t)} vs {len(indicator)}")
    Y = indicator.to_numpy(dtype=bool)
    ok = (t.notna() & (t.astype(str).str.strip() != "")).to_numpy()
    t, Y = t[ok].astype(str), Y[ok]
    n_texts = Y.sum(axis=0)
    tags = [str(c) for c in indicator.columns]
    if len(t) == 0:
        return {}
    lang, x, vocab = _word_counts(t.tolist(), language)
    if x is not None:
        y_all = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        y_in = np.asarray((x.T @ Y.astype(np.float64)).T, dtype=np.float64)  # (tags, vocab): counts in each tag's rows
    result: dict[str, pd.DataFrame] = {}
    for j, tag in enumerate(tags):
        if n_texts[j] == 0:
            continue
        frame = (_top_words(y_in[j], y_all - y_in[j], prior_scale * y_all, vocab, top_n, min_count, _empty_words())
                 if x is not None else _empty_words())
        frame.attrs["language"] = lang
        frame.attrs["n_texts"] = int(n_texts[j])
        result[tag] = frame
    return result
