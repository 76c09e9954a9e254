"""Batch scoring on a local Ray (actors of 0.5 CPU each; two where their number matters, else one, as
each actor imports torch): the same rows, columns, order and
cells as the in-process path, each actor loading the model once, a one-off failure retried, and
nothing written when rows go missing.

The plumbing tests (parts, retries, missing rows, the CLI) score with a TF-IDF model: the same
actors, reads and writer, without each actor importing torch and loading a transformer (about
10 s per test on 2 cores). The transformer is scored by the tests that are about it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_sentiment_frame

ray = pytest.importorskip("ray")

from core.models import load_folder  # noqa: E402
from core.predict import predict_csv  # noqa: E402 - after the skip
from core.ray_predict import CALLS_PER_ACTOR, ROWS_PER_CALL, Scorer, input_files, predict_ray, rows_per_call  # noqa: E402
from tests.core.test_decimal_comma import comma_model  # noqa: E402,F401 - the fixture, shared


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tfidf_model(tmp_path_factory) -> Path:
    """A saved TF-IDF + logistic regression text model (the scikit-learn kind of saved model)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from core.models import TfidfClassifier

    df = make_sentiment_frame(160)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(df["text"], df["label"])
    folder = tmp_path_factory.mktemp("tfidf") / "model"
    TfidfClassifier.from_pipeline(pipe, task="classification", classes=sorted(df["label"].unique()),
                                  schema={"text_columns": ["text"], "label_column": "label"}).save(folder)
    return folder


@pytest.fixture
def parts(tmp_path) -> tuple[Path, pd.DataFrame]:
    """Three CSV parts (with an empty text, a formula-like cell and a quoted newline) and their rows."""
    df = make_sentiment_frame(150, seed=3)
    df.loc[7, "text"] = ""
    df.loc[8, "text"] = "=1+1 great"
    df.loc[9, "text"] = "love it,\nreally"
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (start, stop) in enumerate([(0, 40), (40, 95), (95, 150)]):
        df.iloc[start:stop].to_csv(folder / f"part-{i}.csv", index=False)
    return folder, df


def assert_same_as_in_process(
    output: Path, model_dir: Path, df: pd.DataFrame, tmp_path: Path, *, formula_safe: bool = False
) -> None:
    """``output`` has the in-process output's columns, rows, order and cells; probabilities may
    differ in the last float bits only (other batch compositions pad differently)."""
    source, reference = tmp_path / f"{output.stem}-in.csv", tmp_path / f"{output.stem}-ref.csv"
    df.to_csv(source, index=False)
    predict_csv(load_folder(model_dir), source, reference, formula_safe=formula_safe)
    got, want = (pd.read_csv(p, dtype=str, keep_default_na=False) for p in (output, reference))
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    numeric = [c for c in want.columns if c == "confidence" or c.startswith("p_")]
    pd.testing.assert_frame_equal(got.drop(columns=numeric), want.drop(columns=numeric))
    for col in numeric:
        assert (got[col] == "").equals(want[col] == "")
        assert pd.to_numeric(got[col]).sub(pd.to_numeric(want[col])).abs().max() < 1e-6
    assert output.read_bytes().count(b"\r\n") == reference.read_bytes().count(b"\r\n")  # same CRLF rows


def test_ray_scoring_writes_what_in_process_writes_and_loads_the_model_once_per_actor(
    local_ray, trained_tiny, parts, tmp_path
):
    model_dir = trained_tiny[1]
    folder, df = parts
    loads = tmp_path / "loads.txt"

    class CountingScorer(Scorer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            with open(loads, "a") as handle:
                handle.write(f"{os.getpid()}\n")

    out = tmp_path / "out.csv"
    summary, facts = predict_ray(model_dir, folder, out, workers=2, batch_size=20, scorer=CountingScorer)

    assert_same_as_in_process(out, model_dir, df, tmp_path)
    assert summary.n_rows == 150 and summary.n_errors == 1
    got = pd.read_csv(out, keep_default_na=False)
    assert got["age"].tolist() == df["age"].tolist()  # every row, in file order
    pids = loads.read_text().split()
    assert len(pids) == len(set(pids)) <= 2  # each actor loaded the model once, for 8+ batches
    assert 1 <= facts["actors"] <= 2 and facts["cpus_per_actor"] == 0.5


def test_parts_mode_writes_one_output_per_input_file(local_ray, tfidf_model, parts, tmp_path):
    model_dir = tfidf_model
    folder, df = parts
    out = tmp_path / "out"
    predict_ray(model_dir, str(folder / "part-*.csv"), out, workers=1, batch_size=25, parts=True)
    assert sorted(p.name for p in out.iterdir()) == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert_same_as_in_process(out / "part-1.csv", model_dir, df.iloc[40:95], tmp_path)


def test_a_one_off_failure_is_retried_and_no_row_is_lost(local_ray, tfidf_model, parts, tmp_path):
    model_dir = tfidf_model
    folder, df = parts
    marker = tmp_path / "failed-once"

    class FailingOnce(Scorer):
        def __call__(self, batch):
            if not marker.exists():
                marker.touch()
                raise RuntimeError("injected one-off failure")
            return super().__call__(batch)

    out = tmp_path / "out.csv"
    predict_ray(model_dir, folder, out, workers=1, batch_size=30, scorer=FailingOnce)
    assert marker.exists()  # the failure did happen
    assert_same_as_in_process(out, model_dir, df, tmp_path)


def test_rows_missing_from_the_cluster_write_nothing(local_ray, tfidf_model, parts, tmp_path):
    model_dir = tfidf_model
    folder, _ = parts

    class DropsARow(Scorer):
        def __call__(self, batch):
            return super().__call__(batch).iloc[1:]

    out = tmp_path / "out.csv"
    with pytest.raises(RuntimeError, match="out of order|came back"):
        predict_ray(model_dir, folder, out, workers=1, batch_size=50, scorer=DropsARow)
    assert not out.exists() and not list(tmp_path.glob(".out.csv.partial*"))


def test_cli_engine_ray_on_a_glob(local_ray, tfidf_model, parts, tmp_path, capsys):
    import shutil

    from core.cli import main
    from core.monitor import history

    model_dir = shutil.copytree(tfidf_model, tmp_path / "model")  # its scoring history is this test's own
    folder, df = parts
    out = tmp_path / "cli.csv"
    code = main(["predict", "--model", str(model_dir), "--data", str(folder / "*.csv"), "--out", str(out),
                 "--engine", "ray", "--workers", "1", "--batch-size", "40"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["engine"] == "ray" and printed["rows"] == 150 and printed["files"] == 3
    assert_same_as_in_process(out, model_dir, df, tmp_path, formula_safe=True)  # the CLI's default, as in-process
    assert "'=1+1 great" in out.read_text()
    # The scoring is in the model's history, with the counts in-process scoring records for the same rows.
    twin = shutil.copytree(tfidf_model, tmp_path / "twin")
    df.to_csv(tmp_path / "all.csv", index=False)
    predict_csv(load_folder(twin), tmp_path / "all.csv", tmp_path / "twin.csv", history="cli")
    (ray_line,), (in_process_line,) = history(model_dir), history(twin)
    for key in ("source", "rows", "scored", "label_mix", "mean_confidence"):
        assert ray_line[key] == pytest.approx(in_process_line[key]), key


def test_inputs_are_checked_before_any_cluster_work(trained_tiny, tmp_path):
    with pytest.raises(ValueError, match="No CSV files found"):
        input_files(tmp_path / "nothing-*.csv")
    folder = tmp_path / "mixed"
    folder.mkdir()
    pd.DataFrame({"text": ["a"], "x": [1]}).to_csv(folder / "a.csv", index=False)
    pd.DataFrame({"review": ["b"]}).to_csv(folder / "b.csv", index=False)
    with pytest.raises(ValueError, match="same columns"):
        predict_ray(trained_tiny[1], folder, tmp_path / "o.csv")
    only_b = tmp_path / "only_b"
    only_b.mkdir()
    (folder / "b.csv").rename(only_b / "b.csv")
    with pytest.raises(ValueError, match="lacks column"):
        predict_ray(trained_tiny[1], only_b, tmp_path / "o.csv")


def test_decimal_commas_are_read_per_file_as_in_process(local_ray, comma_model, tmp_path):  # noqa: F811
    """A ';' export with decimal commas (1.234,56), split in two files: the Ray path gives the
    model the numbers training read (truth: the model's own predict_proba on the same rows with
    decimal points), and writes the user's cells back as they were."""
    import numpy as np

    _, model_dir, comma, dot = comma_model
    model = load_folder(model_dir)
    truth = model.predict_proba(pd.read_csv(dot))
    header, *rows = comma.read_bytes().split(b"\r\n")[:-1]
    folder = tmp_path / "eu"
    folder.mkdir()
    half = len(rows) // 2
    for i, part in enumerate([rows[:half], rows[half:]]):
        (folder / f"part-{i}.csv").write_bytes(b"\r\n".join([header, *part]) + b"\r\n")
    out = tmp_path / "ray.csv"
    predict_ray(model_dir, folder, out, workers=1, batch_size=30)
    got = pd.read_csv(out, dtype={"spend": str, "rate": str})
    for i, c in enumerate(model.classes_):
        np.testing.assert_allclose(got[f"p_{c}"].to_numpy(), truth[:, i], atol=1e-9)
    assert got["spend"].tolist() == [r.split(b";")[0].decode("cp1252") for r in rows]


def test_ood_flags_are_the_same_as_in_process(local_ray, trained_tiny, tmp_path):
    """The out-of-distribution column (core/ood.py) from the actors equals the in-process one."""
    from tests.core.test_ood import _chinese

    folder = trained_tiny[1]
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": [*make_sentiment_frame(20, seed=12)["text"], *_chinese(20, seed=13), ""]}).to_csv(source, index=False)
    want = predict_csv(load_folder(folder), source, tmp_path / "local.csv", ood=True)
    got, _facts = predict_ray(folder, source, tmp_path / "ray.csv", workers=1, batch_size=16, ood=True)
    local, remote = (pd.read_csv(tmp_path / n, dtype=str, keep_default_na=False) for n in ("local.csv", "ray.csv"))
    assert list(remote.columns) == list(local.columns) and remote.columns[-1] == "out_of_distribution"
    assert remote["out_of_distribution"].tolist() == local["out_of_distribution"].tolist()  # "True"/"False" text
    assert got.n_out_of_distribution == want.n_out_of_distribution == (local["out_of_distribution"] == "True").sum()


def test_every_kind_core_reads_is_scored_on_ray_as_in_process(local_ray, tfidf_model, tmp_path):
    """tests/data/faults3's gzip and JSON Lines files, a workbook and a CR-only CSV in one folder:
    the Ray path reads each as core.reading does (the rows of predict_csv, in file order)."""
    from tests.core.test_faults import FAULTS3, xlsx_bytes

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("t13_gzip.csv.gz", "t14_reviews.jsonl"):
        (folder / name).write_bytes((FAULTS3 / name).read_bytes())
    rows = make_sentiment_frame(12, seed=5)[["text", "label"]]
    (folder / "c_book.xlsx").write_bytes(xlsx_bytes([["Exported rows"], ["text", "label"], *rows.values.tolist()]))
    (folder / "d_mac.csv").write_bytes(rows.to_csv(index=False, lineterminator="\r").encode())
    from tests.core.test_reading_kinds import KINDS, build

    written = 0
    for i, kind in enumerate(KINDS):  # every kind of issue 27, as tests/test_reading_kinds.py builds it
        name, data, kind_rows = build(kind)
        (folder / f"k{i:02d}_{name}").write_bytes(data)
        written += len(kind_rows)
    summary, _ = predict_ray(tfidf_model, folder, tmp_path / "ray.csv")
    model = load_folder(tfidf_model)
    expected, notes = [], []
    for path in input_files(folder):
        in_process = predict_csv(model, path, tmp_path / f"{path.name}.csv")
        expected.append(pd.read_csv(tmp_path / f"{path.name}.csv", dtype=str, keep_default_na=False))
        notes += [f"{path.name}: {note}" for note in in_process.notes]
    got = pd.read_csv(tmp_path / "ray.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(got, pd.concat(expected, ignore_index=True))
    assert list(summary.notes) == notes and any("title block" in n for n in notes)  # said as in-process says them
    assert len(got) == 60 + 60 + 12 + 12 + written


@pytest.mark.parametrize("total,workers", [(150, 1), (4_000, 2), (20_000, 2), (50_000_000, 64), (0, 2)])
def test_rows_per_call_gives_every_actor_several_calls_of_at_most_2048_rows(total, workers):
    """Big calls (64-row calls made Ray 4.5x slower, issue 28), yet enough of them that no actor
    idles: counted here by splitting the rows as Ray Data does (ceil(total / rows per call))."""
    n = rows_per_call(total, workers)
    assert 64 <= n <= ROWS_PER_CALL
    calls = -(-total // n)
    # every actor gets CALLS_PER_ACTOR calls, unless that would make calls under 64 rows
    assert calls >= min(workers * CALLS_PER_ACTOR, total // 64)
    if total >= workers * CALLS_PER_ACTOR * ROWS_PER_CALL:
        assert n == ROWS_PER_CALL

