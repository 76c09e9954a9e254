"""Training recipes: the LoRA head, and the per-method / per-base-model defaults.

The numbers pinned here were chosen by measurement (bench/bench_accuracy.py,
bench/bench_multilingual.py; tables in the README); these tests keep them from drifting
silently and check that the LoRA recipe really trains what it claims to train.
"""

from __future__ import annotations

import pytest

from core import TrainConfig, train
from tests.conftest import make_sentiment_frame


def _seq_cls(tiny_model_dir, num_labels=2):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=num_labels)


def test_with_lora_trains_the_whole_head_and_only_adapters_below(tiny_model_dir):
    import torch

    from core.training import _with_lora

    plain = _seq_cls(tiny_model_dir)
    head_shapes = {n: tuple(p.shape) for n, p in plain.named_parameters() if n.startswith(("classifier.", "bert.pooler."))}
    assert set(head_shapes) == {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    # Every LayerNorm, found by type in the plain model (before peft wraps it in place): the truth.
    norms = {n: tuple(p.shape) for n, p in plain.named_parameters()
             if isinstance(plain.get_submodule(n.rsplit(".", 1)[0]), torch.nn.LayerNorm)}
    assert len(norms) == 2 * (1 + 2 * plain.config.num_hidden_layers)  # embeddings' and 2 a layer; weight, bias
    model = _with_lora(plain, TrainConfig(method="lora"))
    trainable = {n: tuple(p.shape) for n, p in model.named_parameters() if p.requires_grad}
    # Every head parameter has a trainable, full-size copy (peft's modules_to_save) ...
    for name, shape in head_shapes.items():
        module = "classifier" if name.startswith("classifier.") else "bert.pooler"
        rest = name[len(module) + 1 :]
        assert trainable.get(f"base_model.model.{module}.modules_to_save.default.{rest}") == shape, name
    # ... every LayerNorm too, each a full-size copy ...
    for name, shape in norms.items():
        module, rest = name.rsplit(".", 1)
        assert trainable.get(f"base_model.model.{module}.modules_to_save.default.{rest}") == shape, name
    # ... and below the head only LoRA matrices and those copies train: no encoder weight, no embedding.
    below = [n for n in trainable if "modules_to_save" not in n]
    assert below and all("lora_A" in n or "lora_B" in n for n in below)
    assert len(trainable) == len(below) + len(head_shapes) + len(norms)
    for kind in ("query", "key", "value", "attention.output.dense", "intermediate.dense", "0.output.dense"):
        assert any(f"{kind}.lora_A" in n for n in below), kind  # "0.output": the feed-forward's second layer


def test_lora_training_moves_the_pooler_and_merges_it(tiny_model_dir):
    import torch

    plain = _seq_cls(tiny_model_dir)
    base = plain.bert.pooler.dense.weight.detach().clone()
    norm = plain.bert.encoder.layer[0].output.LayerNorm.weight.detach().clone()
    df = make_sentiment_frame(100)
    config = TrainConfig(
        base_model=str(tiny_model_dir), method="lora", epochs=2, batch_size=16, learning_rate=1e-2, max_length=32,
        choose_simpler=False,  # the LoRA transformer is under test, even where TF-IDF ties it
    )
    result = train(df, config)
    merged = result.model.model
    assert "peft" not in type(merged).__module__
    moved = (merged.bert.pooler.dense.weight.detach() - base).abs()
    # A full-rank update: every row of the pooler moved, not a rank-r slice of it.
    assert torch.linalg.matrix_rank(merged.bert.pooler.dense.weight.detach() - base) > config.lora_r
    assert float(moved.max()) > 1e-4
    # The trained LayerNorm copies are merged in place of the base model's.
    assert float((merged.bert.encoder.layer[0].output.LayerNorm.weight.detach() - norm).abs().max()) > 1e-4


def test_lora_defaults_are_the_measured_recipe():
    config = TrainConfig(method="lora")
    assert (config.lora_r, config.lora_alpha) == (LORA_R, LORA_ALPHA)
    assert config.effective_learning_rate == pytest.approx(LORA_LR)
    assert TrainConfig(method="full").effective_learning_rate == pytest.approx(1e-4)


# The LoRA defaults as measured (docs/measurements.md, "LoRA against full fine-tuning" and "LoRA
# defaults at 1,000 rows"): `bench.bench_accuracy --method lora` on the clothing reviews' 3 rating
# classes and the UCI sentences, `bench.bench_lora_full` on clothing3 and goemo3, against full
# fine-tuning. Change them only with a measurement.
LORA_R, LORA_ALPHA, LORA_LR = 16, 64, 2e-3


def test_multilingual_preset_leaves_the_method_to_auto(monkeypatch, tmp_path):
    """The e5 preset must not force full fine-tuning: the CLI's "auto" has to survive it."""
    from core import base_models, cli, pipeline

    assert "method" not in base_models.training_defaults(base_models.MULTILINGUAL_BASE_MODEL)
    seen = []

    class Stop(Exception):
        pass

    def fake_train(df, config, on_progress=None, cancel=None, checkpoint=None, on_leader=None):
        seen.append(config)
        raise Stop("stop")

    monkeypatch.setattr(pipeline, "train", fake_train)
    monkeypatch.setattr(cli, "_base_model_for", lambda args, df, say=True: base_models.MULTILINGUAL_BASE_MODEL, raising=False)
    data = tmp_path / "zh.csv"
    data.write_text("text,label\n很好,1\n很差,0\n", encoding="utf-8")
    args = ["train", "--data", str(data), "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "m"),
            "--base-model", base_models.MULTILINGUAL_BASE_MODEL]
    try:
        cli.main(args)
    except Stop:
        pass
    assert seen and (seen[-1].method, seen[-1].freeze_embeddings) == ("auto", True)
