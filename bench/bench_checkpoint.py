"""What a training checkpoint costs: seconds to write and read, and its size on disk.

    .venv/bin/python -m bench.bench_checkpoint [--base-model minilm-en] [--writes 3]

Builds the base model's classifier with AdamW state after one optimizer step (every parameter
trainable, as full fine-tuning has it), then writes the checkpoint core.training writes at each
evaluation (core.checkpoint.save: weights + AdamW moments + RNG states, each file fsynced, the
pointer switched) ``--writes`` times into a temporary folder, and reads it back once.
Prints one JSON line: seconds per write (each), read seconds, megabytes, trainable parameters.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default="minilm-en")
    parser.add_argument("--writes", type=int, default=3)
    args = parser.parse_args()

    import torch
    import transformers

    from core import checkpoint as checkpoints
    from core.base_models import resolve_base_model

    transformers.logging.set_verbosity_error()
    base = resolve_base_model(args.base_model)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(base.location, num_labels=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model(input_ids=torch.randint(0, 1000, (4, 16))).logits.sum().backward()
    optimizer.step()
    weights = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer_tensors, optimizer_rest = checkpoints.optimizer_parts(optimizer.state_dict())
    rng_tensors, rng_rest = checkpoints.rng_parts()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "checkpoint"
        writes = []
        for step in range(args.writes):
            started = time.perf_counter()
            checkpoints.save(folder, {"step": step, "total_steps": args.writes, "epoch": 0.0, "fingerprint": "bench",
                                      "optimizer": optimizer_rest, "rng": rng_rest}, [],
                             {"weights": weights, "optimizer": optimizer_tensors, "rng": rng_tensors})
            writes.append(round(time.perf_counter() - started, 2))
        started = time.perf_counter()
        found = checkpoints.load(folder)
        found.tensors("weights"), found.tensors("optimizer")
        read = round(time.perf_counter() - started, 2)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(json.dumps({"base_model": args.base_model, "write_s": writes, "read_s": read, "mb": round(size / 1e6),
                      "trainable_parameters": sum(p.numel() for p in weights.values())}))


if __name__ == "__main__":
    main()
