"""core.language_check: texts in a language the saved model does not read are named in a
warning (issue 30). The truth is written by hand: these rows are Chinese, those English."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from core.language_check import language_warning
from core.models.folder import MANIFEST, TEST_PREDICTIONS
from core.predict import predict_csv

CHINESE = ["这家酒店的服务很好，房间也很干净", "物流太慢了，包装也坏了", "质量不错，价格便宜，值得购买",
           "客服态度很差，再也不买了", "味道一般，分量太少"]
ENGLISH = ["The room was clean and the staff were friendly", "Delivery was slow and the box was broken",
           "Great value for the price, would buy again", "Customer service was rude to me", "It tastes fine"]


def saved(tmp_path, kind: str, base_model: str, test_texts: list[str] | None = None):
    folder = tmp_path / f"{kind}-{base_model.replace('/', '_')}"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"kind": kind, "task": "classification", "base_model": base_model}))
    if test_texts is not None:
        pd.DataFrame({"text": test_texts, "label": "x"}).to_csv(folder / TEST_PREDICTIONS, index=False)
    return folder


def test_chinese_rows_on_an_english_model_are_named_with_their_count(tmp_path):
    for kind in ("transformer", "zeroshot", "embedding"):
        warning = language_warning(saved(tmp_path, kind, "minilm-en"), CHINESE * 2 + ENGLISH)
        assert warning is not None and warning.startswith("10 of 15 texts (67%)")
        assert "Chinese" in warning and "minilm-en" in warning and "English only" in warning


def test_english_rows_on_an_english_model_and_any_rows_on_a_multilingual_one_are_not(tmp_path):
    assert language_warning(saved(tmp_path, "transformer", "minilm-en"), ENGLISH * 3) is None
    multilingual = saved(tmp_path, "zeroshot", "multilingual-e5-small")
    assert language_warning(multilingual, CHINESE * 3) is None
    # A folder of the user's own: its languages are unknown, so it is not second-guessed.
    assert language_warning(saved(tmp_path, "transformer", "/models/my-bert"), CHINESE) is None


def test_only_the_first_rows_of_a_long_file_are_said_to_be_checked(tmp_path):
    warning = language_warning(saved(tmp_path, "transformer", "minilm-en"), CHINESE * 2, of_rows=5000)
    assert warning.startswith("Of 10 texts checked (the first 10 of the 5,000 rows), 10 (100%) look like Chinese")


def test_a_small_share_is_not_worth_a_warning(tmp_path):
    english_model = saved(tmp_path, "transformer", "minilm-en")
    assert language_warning(english_model, CHINESE[:1] + ENGLISH * 2) is None  # 1 of 11
    assert language_warning(english_model, CHINESE[:2] + ENGLISH + ENGLISH[:3]) is not None  # 2 of 10


def test_a_tfidf_model_is_judged_by_its_training_texts_or_not_at_all(tmp_path):
    english_trained = saved(tmp_path, "tfidf", "tfidf-lr", ENGLISH * 4)
    warning = language_warning(english_trained, CHINESE)
    assert warning is not None and "trained on texts in English only" in warning
    assert language_warning(english_trained, ENGLISH) is None
    chinese_trained = saved(tmp_path / "", "tfidf", "tfidf-ridge", CHINESE * 4)
    assert language_warning(chinese_trained, CHINESE) is None
    assert "English" in language_warning(chinese_trained, ENGLISH)
    assert language_warning(saved(tmp_path, "softvote", "multilingual-e5-small"), CHINESE) is None
    no_rows = tmp_path / "bare"
    no_rows.mkdir()
    (no_rows / MANIFEST).write_text(json.dumps({"kind": "tfidf", "base_model": "tfidf-lr"}))
    assert language_warning(no_rows, CHINESE) is None


def test_predict_csv_and_the_cli_carry_the_warning(trained_tiny, tmp_path, capsys):
    from core.cli import main as cli_main
    from core.models import load_folder

    folder = tmp_path / "english-model"
    shutil.copytree(trained_tiny[1], folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "base_model": "minilm-en"}))  # as if built on minilm-en
    model = load_folder(folder)
    text_column = model.schema["text_columns"][0]
    chinese = tmp_path / "zh.csv"
    pd.DataFrame({text_column: CHINESE}).to_csv(chinese, index=False)
    english = tmp_path / "en.csv"
    pd.DataFrame({text_column: ENGLISH}).to_csv(english, index=False)
    assert "5 of 5 texts" in predict_csv(model, chinese, tmp_path / "out.csv").language_warning
    assert predict_csv(model, english, tmp_path / "out2.csv").language_warning is None
    # The untouched fixture runs on a folder of its own: languages unknown, no warning.
    assert predict_csv(trained_tiny[0].model, chinese, tmp_path / "out3.csv").language_warning is None
    capsys.readouterr()
    assert cli_main(["predict", "--model", str(folder), "--data", str(chinese), "--out", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning: 5 of 5 texts (100%) look like Chinese" in err
    # CLI words on the CLI: the train flag, not a page (round-9 walk).
    assert "--base-model multilingual-e5-small" in err and "page" not in err.split("warning:")[-1]


def test_a_zero_shot_build_on_an_english_base_model_from_chinese_texts_is_warned_before_it_runs(tmp_path, capsys,
                                                                                                  monkeypatch):
    """Round-9 walk: `zero-shot --base-model minilm-en` on Chinese reviews built a model that put every row
    in one class, and said nothing; only `predict` warned later. The same check, before the build."""
    import core.zeroshot
    from core.cli import main
    from core.language_check import build_warning

    warning = build_warning("minilm-en", CHINESE * 2 + ENGLISH)
    assert warning is not None and warning.startswith("10 of 15 texts (67%) look like Chinese")
    assert "minilm-en" in warning and "English only" in warning
    assert build_warning("minilm-en", ENGLISH * 3) is None and build_warning("multilingual-e5-small", CHINESE) is None
    assert "--base-model multilingual-e5-small" in build_warning("minilm-en", CHINESE, cli=True)

    data = tmp_path / "zh.csv"
    pd.DataFrame({"text": CHINESE * 2}).to_csv(data, index=False)
    built = []

    def build(*args, **kwargs):  # the build itself is not what is tested: stop before minutes of it
        built.append(kwargs["base_model"])
        raise ValueError("stopped here")

    monkeypatch.setattr(core.zeroshot, "build_zeroshot", build)
    assert main(["zero-shot", "--data", str(data), "--text-col", "text", "--labels", "差评,好评",
                 "--base-model", "minilm-en", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert built == ["minilm-en"]
    assert "warning: 10 of 10 texts (100%) look like Chinese" in err and "--base-model multilingual-e5-small" in err
    assert err.index("warning:") < err.index("stopped here")


def test_texts_without_letters_are_said_so_the_counts_add_up_to_every_row(tmp_path):
    """Round-9 walk: "497 of 499 texts" for a 500-row file (one row was "3、"). The rows not judged are named."""
    texts = CHINESE * 2 + ["3、", "42", ""]
    warning = language_warning(saved(tmp_path, "transformer", "minilm-en"), texts)
    judged = len(CHINESE) * 2  # the hand-written truth: 10 Chinese rows, 3 without a letter
    assert warning.startswith(f"{judged} of {judged} texts (100%; the other 3 of the {len(texts)} have no letters to judge)")
    assert language_warning(saved(tmp_path, "zeroshot", "minilm-en"), CHINESE + ["3、"]).startswith(
        "5 of 5 texts (100%; the other 1 of the 6 has no letters to judge)")
