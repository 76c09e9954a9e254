"""Embeddings of one seed's training and held-out texts, computed once and cached (issue 28, round 10).

    OMP_NUM_THREADS=1 nice -n 5 python -m bench.zh_embed_cache --set zh --train 2000 --test 1000 --seed 0

The split and the preparation are bench.bench_embedding_rows' (bench.bench_embedding.split, then
core.prepare + core.training.with_validation with the CLI's 70/10/20 split, seeded by ``--seed``);
the encoder is the product's frozen encoder exactly as core.embedding.fit_embedding builds it
(mean-pooled, L2-normalised, "query: " for e5). Saved with ``np.save`` under ``--cache``:
``{set}_{model}_s{seed}_{train}_{test}_X.npy`` (the prepared rows, in prepared order),
``..._Xtest.npy`` (the held-out rows, in order) and ``..._texts.json`` (a SHA-256 of the texts, so
a reader can check the arrays belong to the texts it has). bench.bench_zh_candidates reads them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from bench.bench_embedding import loadavg, split
from bench.bench_regret import SETS


def digest(texts: list[str]) -> str:
    return hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()


def stem(cache: Path, name: str, base_model: str, seed: int, n_train: int, n_test: int, max_length: int = 128) -> Path:
    """The files' common path; ``max_length`` other than the product's 128 tokens is in the name."""
    tail = "" if max_length == 128 else f"_len{max_length}"
    return cache / f"{name}_{base_model}_s{seed}_{n_train}_{n_test}{tail}"


def prepared_split(name: str, n_train: int, n_test: int, seed: int, base_model: str | None = None):
    """(frame, prepared, test, config): bench_embedding_rows' split and preparation."""
    from core.config import TrainConfig
    from core.prepare import prepare
    from core.training import with_validation

    frame = split(name, n_train, n_test, seed)
    train = frame[frame["split"] == "train"].drop(columns="split").reset_index(drop=True)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    config = TrainConfig(text_columns=("text",), label_column="label", base_model=base_model or SETS[name][2],
                         method="embedding", seed=seed)
    prepared = with_validation(prepare(train, config), config)
    return frame, prepared, test, config


def load(cache: Path, name: str, base_model: str, seed: int, n_train: int, n_test: int,
         texts: list[str], test_texts: list[str], max_length: int = 128) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (X, X_test) when they exist and were computed from exactly these texts."""
    base = stem(cache, name, base_model, seed, n_train, n_test, max_length)
    meta = Path(f"{base}_texts.json")
    if not meta.exists():
        return None
    facts = json.loads(meta.read_text())
    if facts["train_sha256"] != digest(texts) or facts["test_sha256"] != digest(test_texts):
        raise SystemExit(f"{meta}: cached embeddings were computed from other texts; delete them")
    return np.load(f"{base}_X.npy"), np.load(f"{base}_Xtest.npy")


def main() -> None:
    import torch

    from core.base_models import input_prefix
    from core.cpu import cpu_threads
    from core.models.embedding import load_encoder
    from core.models.fewshot import encode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zh", choices=list(SETS))
    parser.add_argument("--base-model", default=None, help="default: the set's model in bench.bench_regret.SETS")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/r10zh"))
    parser.add_argument("--max-length", type=int, default=128, help="tokens per text (the product's TrainConfig: 128)")
    args = parser.parse_args()
    base_model = args.base_model or SETS[args.set][2]
    _, prepared, test, config = prepared_split(args.set, args.train, args.test, args.seed, base_model)
    config = dataclasses.replace(config, max_length=args.max_length)
    texts = prepared.texts_at(np.arange(len(prepared.y)))
    test_texts = test["text"].astype(str).tolist()
    if load(args.cache, args.set, base_model, args.seed, args.train, args.test, texts, test_texts, args.max_length) is not None:
        print("already cached")
        return
    started, load_before = time.monotonic(), loadavg()
    body, tokenizer, base = load_encoder(config.base_model)
    torch.set_num_threads(cpu_threads())
    # The embedding candidate's arithmetic (EmbeddingClassifier.embed calls this encode), without a head.
    X, X_test = (encode(body, tokenizer, part, config.max_length, text_prefix=input_prefix(base)).astype(np.float32)
                 for part in (texts, test_texts))
    args.cache.mkdir(parents=True, exist_ok=True)
    base_path = stem(args.cache, args.set, base_model, args.seed, args.train, args.test, args.max_length)
    np.save(f"{base_path}_X.npy", X)
    np.save(f"{base_path}_Xtest.npy", X_test)
    facts = {"train_sha256": digest(texts), "test_sha256": digest(test_texts), "n": len(texts), "n_test": len(test_texts),
             "embed_s": round(time.monotonic() - started, 1), "load_before": load_before, "load_after": loadavg(),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": torch.get_num_threads(), "max_length": args.max_length}
    Path(f"{base_path}_texts.json").write_text(json.dumps(facts))
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
