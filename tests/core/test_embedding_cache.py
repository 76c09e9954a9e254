"""One training run encodes each text once with the frozen encoder (the embedding candidate, its
scoring and refit, the OOD reference), and the cache changes no vector."""

from __future__ import annotations

from collections import Counter

import numpy as np

import core.models.embedding as embedding_model
import core.models.fewshot as fewshot_model
import core.ood as ood
from core import TrainConfig
from core.models.embedding import cached_embeddings, embedding_cache
from core.pipeline import train
from tests.conftest import make_sentiment_frame


def _fake(calls: list[str]):
    def embed(texts: list[str]) -> np.ndarray:
        calls.extend(texts)
        return np.array([[len(t), sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)
    return embed


def test_inside_the_scope_each_text_is_embedded_once_and_the_rows_are_those_of_a_direct_call():
    calls: list[str] = []
    texts, more = ["a", "bb", "a", "ccc"], ["ccc", "dddd", "bb"]
    with embedding_cache():
        first = cached_embeddings(("enc", "", 128), texts, _fake(calls))
        second = cached_embeddings(("enc", "", 128), more, _fake(calls))
        other_key = cached_embeddings(("enc", "query: ", 128), ["a"], _fake(calls))
    np.testing.assert_array_equal(first, _fake([])(texts))
    np.testing.assert_array_equal(second, _fake([])(more))
    np.testing.assert_array_equal(other_key, _fake([])(["a"]))
    assert Counter(calls) == Counter({"a": 2, "bb": 1, "ccc": 1, "dddd": 1})  # "a" once per key
    outside: list[str] = []
    cached_embeddings(("enc", "", 128), texts, _fake(outside))
    assert outside == texts  # no scope, no cache: every text embedded as asked


def test_a_training_run_encodes_each_text_once(tiny_model_dir, monkeypatch):
    encoded: list[str] = []

    def counting(real):
        def encode(body, tokenizer, texts, *args, **kwargs):
            encoded.extend(texts)
            return real(body, tokenizer, texts, *args, **kwargs)
        return encode

    monkeypatch.setattr(embedding_model, "encode", counting(embedding_model.encode))
    monkeypatch.setattr(fewshot_model, "encode", counting(fewshot_model.encode))  # the OOD reference's import
    monkeypatch.setattr(ood, "_ENCODERS", {})  # an OOD encoder loaded by an earlier test holds the real encode
    df = make_sentiment_frame(160, seed=3)
    result = train(df, TrainConfig(base_model=str(tiny_model_dir), method="embedding", max_length=128))
    assert result.ood_reference is not None  # it embedded every row, before the candidate embedded its own
    counts = Counter(encoded)
    assert set(df["text"]) <= set(counts) and max(counts.values()) == 1
