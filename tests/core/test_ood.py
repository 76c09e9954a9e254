"""The out-of-distribution flag: rows unlike the training data, judged by embedding distance,
with the threshold taken from the training data's own spread (core.ood.OodReference), wired
into training (saved with the model), core.predict and ``python -m core predict --ood``."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import CHINESE, make_sentiment_frame

from core.ood import OOD_FILE, OodReference, model_ood_reference


def _char_ngrams(texts: list[str]) -> np.ndarray:
    """An embedder independent of core: hashed character 1-3-grams, L2-normalised."""
    from sklearn.feature_extraction.text import HashingVectorizer

    x = HashingVectorizer(analyzer="char", ngram_range=(1, 3), n_features=2**12, alternate_sign=False).transform(texts)
    return x.toarray().astype(np.float32)


def _chinese(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(CHINESE) for _ in range(rng.randint(4, 12))) for _ in range(n)]


def _random_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = "qxzjvkwy0123456789#%&"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(8, 20))) for _ in range(n)]


def test_a_reference_flags_other_kinds_of_text_and_few_of_its_own():
    reference = OodReference.fit(_char_ngrams(make_sentiment_frame(300, seed=1)["text"].tolist()))
    fresh = make_sentiment_frame(200, seed=7)["text"].tolist()  # same kind, rows never seen
    assert reference.flags(_char_ngrams(fresh)).mean() <= 0.1
    assert reference.flags(_char_ngrams(_chinese(100))).mean() >= 0.9
    assert reference.flags(_char_ngrams(_random_strings(100))).mean() >= 0.9


def test_the_threshold_is_the_reference_spread():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    centre = rng.normal(size=16)
    centre /= np.linalg.norm(centre)

    def cloud(spread: float, n: int = 300) -> np.ndarray:
        x = centre + spread * rng.normal(size=(n, 16))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    tight, wide = cloud(0.05), cloud(0.3)
    fitted = OodReference.fit(tight)
    # Independent truth: sklearn's cosine kNN (self excluded), then the 99th percentile.
    dist, _ = NearestNeighbors(n_neighbors=fitted.k + 1, metric="cosine").fit(tight).kneighbors(tight)
    mean = dist[:, 1:].mean(axis=1)
    assert fitted.threshold == pytest.approx(np.percentile(mean, 99), rel=1e-4)
    assert (mean > fitted.threshold).sum() == 3  # 1% of the 300 reference rows lie beyond it
    # A wider training spread moves the threshold up, and a row at a middling distance is
    # unlike the tight data but like the wide data.
    loose = OodReference.fit(wide)
    assert loose.threshold > 3 * fitted.threshold
    middling = cloud(0.15, 50)
    assert fitted.flags(middling).mean() >= 0.9
    assert loose.flags(middling).mean() <= 0.1


def test_a_saved_reference_keeps_its_encoder_and_an_old_folder_builds_one(tmp_path):
    texts = make_sentiment_frame(80, seed=2)["text"].tolist()
    reference = OodReference.from_texts(texts, "some-encoder", embed=_char_ngrams)
    reference.save(tmp_path)
    loaded = OodReference.load(tmp_path)
    assert loaded.encoder == "some-encoder" and loaded.threshold == pytest.approx(reference.threshold)
    assert np.array_equal(loaded.embeddings, reference.embeddings)
    # An older model folder (no reference) builds it from its held-out test texts, once.
    old = tmp_path / "old"
    old.mkdir()
    pd.DataFrame({"text": texts}).to_csv(old / "test_predictions.csv", index=False)
    (old / "data_schema.json").write_text('{"text_columns": ["text"]}')
    built = model_ood_reference(old, embedder=_char_ngrams)
    assert (old / OOD_FILE).is_file() and built.flag_texts(_chinese(20)).all()
    # A tabular model (no text columns) gets none.
    tabular = tmp_path / "tabular"
    tabular.mkdir()
    pd.DataFrame({"text": texts}).to_csv(tabular / "test_predictions.csv", index=False)
    (tabular / "data_schema.json").write_text('{"text_columns": [], "profile_columns": ["age"]}')
    assert model_ood_reference(tabular, embedder=_char_ngrams) is None


def test_predict_frame_appends_the_flag_without_touching_user_columns(trained_tiny):
    from core.predict import OOD_COLUMN, predict_frame

    result, folder = trained_tiny
    model = result.model
    reference = OodReference.fit(_char_ngrams(make_sentiment_frame(160)["text"].tolist()), embed=_char_ngrams)
    df = pd.DataFrame({
        "text": [*make_sentiment_frame(10, seed=3)["text"], *_chinese(10), ""],
        OOD_COLUMN: ["mine"] * 21,  # the user's own column of that name stays as it was
    })
    out = predict_frame(model, df, ood=reference)
    assert out[OOD_COLUMN].tolist() == ["mine"] * 21
    flags = out[f"{OOD_COLUMN}_2"]
    assert flags.dtype == bool and list(out.columns).index(f"{OOD_COLUMN}_2") == len(out.columns) - 1
    assert not flags[:10].any() and flags[10:20].all()
    assert not flags.iloc[20]  # no text: no prediction, no flag (the error column says why)
    assert OOD_COLUMN not in predict_frame(model, df.drop(columns=OOD_COLUMN)).columns  # opt-in only


def test_training_saves_a_reference_and_the_cli_flag_writes_the_column(trained_tiny, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from core.ood import encoder_embedder
    from core.predict import read_predictions

    result, folder = trained_tiny
    assert (folder / OOD_FILE).is_file()
    saved = OodReference.load(folder)
    assert saved.encoder == result.model.training_config["base_model"]
    # The reference is the training rows, embedded by the base model's frozen encoder.
    train_texts = make_sentiment_frame(160)["text"].tolist()
    assert len(saved.embeddings) == len(train_texts)
    assert saved.flags(encoder_embedder(saved.encoder)(train_texts)).mean() <= 0.1
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [*make_sentiment_frame(20, seed=11)["text"], *_chinese(20, seed=4)]}).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "core", "predict", "--model", str(folder), "--data", str(data),
                          "--out", str(out), "--ood"], cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    written = pd.read_csv(out)
    assert written.columns[-1] == "out_of_distribution"
    flags = written["out_of_distribution"].astype(bool)
    # The tiny test encoder has random weights: it separates Chinese from the English texts it
    # was "trained" near well but not perfectly (85% measured); a real encoder: bench/bench_ood.py.
    assert flags[20:].mean() >= 0.7 and flags[:20].mean() <= 0.2
    import json

    assert json.loads(run.stdout.strip().splitlines()[-1])["out_of_distribution"] == int(flags.sum())
    assert "look unlike the training data" in run.stderr
    assert read_predictions(out, result.model.task, result.model.classes_)["out_of_distribution"].dtype == bool
    # Without --ood: no column.
    subprocess.run([sys.executable, "-m", "core", "predict", "--model", str(folder), "--data", str(data),
                    "--out", str(out)], cwd=root, check=True, capture_output=True, timeout=300)
    assert "out_of_distribution" not in pd.read_csv(out).columns


def test_predict_csv_counts_flags_and_a_folder_without_reference_builds_it(trained_tiny, tmp_path):
    from core.models import load_folder
    from core.predict import predict_csv, prediction_overview

    result, folder = trained_tiny
    copy = tmp_path / "old-model"
    shutil.copytree(folder, copy)
    (copy / OOD_FILE).unlink()  # a folder saved before the flag existed
    model = load_folder(copy)
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [*make_sentiment_frame(30, seed=5)["text"], *_chinese(10, seed=6)]}).to_csv(data, index=False)
    summary = predict_csv(model, data, tmp_path / "out.csv", ood=True, chunk_rows=7)
    written = pd.read_csv(tmp_path / "out.csv")
    assert summary.n_out_of_distribution == int(written["out_of_distribution"].sum())
    assert (copy / OOD_FILE).is_file()
    held_out = pd.read_csv(copy / "test_predictions.csv")["text"]
    assert len(OodReference.load(copy).embeddings) == len(held_out)  # built from the held-out texts
    assert prediction_overview(tmp_path / "out.csv", model.task, model.classes_).n_rows == 40  # reads past the flag column
    assert predict_csv(model, data, tmp_path / "plain.csv").n_out_of_distribution is None


@pytest.fixture
def registry(models_dir, trained_tiny):
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_tiny[1], models_dir / "tiny-sentiment")
    return models_dir


def test_predict_page_flags_by_default_and_says_what_share(registry):
    from pathlib import Path

    from tests.ui.test_page_predict import open_page, upload

    at = open_page()
    rows = pd.DataFrame({"text": [*make_sentiment_frame(10, seed=8)["text"], *_chinese(10, seed=9)]})
    upload(at, rows)
    assert at.checkbox(key="predict_ood").value is True  # the model has a reference: on by default
    at.button(key="predict_run").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    written = pd.read_csv(Path(at.session_state["last_prediction_path"]))
    n = int(written["out_of_distribution"].sum())
    lines = [m.value for m in [*at.info, *at.warning] if "look unlike the training data" in m.value]
    assert len(lines) == 1 and f"({n:,} of 20)" in lines[0] and lines[0].startswith(f"{n / 20:.0%} of rows")
    assert "rows/s, the check for rows unlike the training data included)" in at.success[0].value  # in the time
    flags = written["out_of_distribution"]
    assert flags[10:].sum() > flags[:10].sum()  # the Chinese rows more often (random tiny encoder)
    at.checkbox(key="predict_ood").uncheck()
    at.button(key="predict_run").click()
    at.run()
    assert "out_of_distribution" not in pd.read_csv(Path(at.session_state["last_prediction_path"])).columns
    assert not [m for m in [*at.info, *at.warning] if "look unlike the training data" in m.value]
    assert "rows/s)." in at.success[0].value and "unlike" not in at.success[0].value


def test_ad_copy_lab_flags_ads_unlike_the_training_texts_as_predict_does(trained_tiny, tmp_path):
    from core.adlab import unlike_training
    from core.models import load_folder
    from core.predict import OOD_COLUMN, ood_reference, predict_frame

    result, folder = trained_tiny
    model = load_folder(folder)
    texts = [*make_sentiment_frame(20, seed=21)["text"], *_chinese(20, seed=22)]
    flags = unlike_training(model, texts)
    assert flags.dtype == bool and len(flags) == 40
    assert flags[20:].mean() >= 0.7 and flags[:20].mean() <= 0.2  # the tiny random encoder: ~85% apart
    # The same rows flagged as the Predict page flags them.
    predicted = predict_frame(model, pd.DataFrame({"text": texts}), ood=ood_reference(model, folder))
    assert predicted[OOD_COLUMN].tolist() == flags.tolist()
    # A folder with no reference and nothing to build one from: no flags rather than a guess.
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / OOD_FILE).unlink()
    (bare / "test_predictions.csv").unlink()
    assert unlike_training(load_folder(bare), texts) is None


def test_the_share_never_reads_0_percent_for_a_count_above_zero():
    """Walk finding: the CLI's note read "0% of rows (1 of 200)". Truth: the counts themselves."""
    from core.ood import ood_message

    assert ood_message(1, 200).startswith("under 1% of rows (1 of 200) look unlike")
    assert ood_message(0, 200).startswith("0% of rows (0 of 200)")
    assert ood_message(199, 200).startswith("over 99% of rows (199 of 200)")
    assert ood_message(1, 2000).startswith("under 1% of rows (1 of 2,000)")
    assert ood_message(200, 200).startswith("100% of rows")
    assert ood_message(24, 200).startswith(f"{24 / 200:.0%} of rows (24 of 200)")
