"""The Ad Copy Lab page in AppTest: variants typed, pasted, uploaded and edited; the success
class; the explanation view and edit loop; the targeting heatmap and its downloads; and the
messages for no model and for a model without profile columns.

Models are tiny BERTs trained once per module and copied into the ``models_dir`` registry.
Download buttons make their files when clicked (deferred callables); AppTest drops its media
manager after each run, so the ``downloads`` fixture records each callable by file name.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core import TrainConfig, train
from tests.conftest import make_sentiment_frame
from ui.adlab import attribution_html, top_words

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "ad_lab.py")
TINY = {
    "method": "full",  # fine-tuning with a test split (the default "auto" picks few-shot for 160 rows)
    "epochs": 2,  # enough to load and score; quality is tested in test_adlab.py
    "batch_size": 16,
    "learning_rate": 3e-3,
    "max_length": 48,
    "early_stopping_patience": 100,
}


@pytest.fixture(scope="module")
def trained_models(tiny_model_dir, trained_tiny, tmp_path_factory) -> Path:
    """A folder with three saved models: text-only classifier, classifier with profile
    columns (age, channel), and a regression model with one profile column (age)."""
    root = tmp_path_factory.mktemp("adlab-models")
    shutil.copytree(trained_tiny[1], root / "sentiment")
    df = make_sentiment_frame(160, seed=1)
    config = TrainConfig(base_model=str(tiny_model_dir), profile_columns=("age", "channel"), **TINY)
    train(df, config).save(root / "profiled")
    df["ctr"] = (df["label"] == "positive") * 2.0 + df["age"] / 100
    config = TrainConfig(
        base_model=str(tiny_model_dir),
        task="regression",
        label_column="ctr",
        profile_columns=("age",),
        **TINY,
    )
    train(df, config).save(root / "value")
    return root


@pytest.fixture
def registry(models_dir, trained_models):
    """Put the named models into the test's registry: registry("sentiment", ...)."""

    def put(*names: str) -> Path:
        for name in names:
            shutil.copytree(trained_models / name, models_dir / name)
        return models_dir

    return put


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """{file_name: callable returning the bytes}, for every deferred download button."""
    made: dict = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made


def fetch_csv(downloads: dict, name: str) -> pd.DataFrame:
    assert name in downloads, f"no download named {name}; have {sorted(downloads)}"
    data = downloads[name]()
    return pd.read_csv(
        io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False, na_values=[""]
    )


def open_page(model: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if model:
        at.session_state["active_model"] = model
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def table(at: AppTest) -> pd.DataFrame:
    """The scored variants table (st.dataframe keeps no key without selections: by columns)."""
    return next(d.value for d in at.dataframe if list(d.value.columns[:2]) == ["rank", "variant"])


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def info_text(at: AppTest) -> str:
    return "\n".join(i.value for i in at.info)


# --------------------------------------------------------------------------- messages


def test_no_model_says_so(models_dir):
    at = open_page()
    assert "No model yet" in info_text(at)
    assert not at.get("plotly_chart")


def test_text_only_model_explains_why_no_targeting(registry):
    registry("sentiment")
    at = open_page("sentiment")
    assert "no profile columns" in info_text(at)
    assert "adlab_seg_source" not in [r.key for r in at.radio]
    assert not [e for e in at.get("download_button") if "matrix" in e.proto.label]


# --------------------------------------------------------------------------- what-if scoring


def test_paste_variants_score_and_positive_class(registry, downloads):
    registry("sentiment")
    at = open_page("sentiment")
    assert len(table(at)) == 4  # the example base + 3 variants
    at.text_area(key="adlab_base").set_value("the dress is very")
    at.text_area(key="adlab_paste").set_value(
        "love this great dress\n\n  terrible awful dress  \nlove this great dress"
    )
    at.button(key="adlab_add_lines").click()
    run(at)
    assert at.text_area(key="adlab_paste").value == ""  # cleared after adding
    scored = table(at)
    assert len(scored) == 6  # blank line and the duplicate were dropped
    assert list(scored.columns) == ["rank", "variant", "text", "score", "delta", "verdict"]
    by_text = scored.set_index("text")
    assert (
        by_text.loc["love this great dress", "score"] > by_text.loc["terrible awful dress", "score"]
    )
    assert scored["score"].is_monotonic_decreasing  # sorted best first
    assert by_text.loc["the dress is very", "verdict"] == "base"
    assert set(scored["verdict"]) <= {"base", "better", "worse", "no clear difference"}
    bar = figures(at)[0]["data"][0]
    assert bar["type"] == "bar" and bar["y"] == scored["variant"].tolist()
    assert "Model uncertainty" in "\n".join(c.value for c in at.caption)

    exported = fetch_csv(downloads, "ad_variants_scored.csv")
    assert len(exported) == 6 and {"variant", "text", "score", "delta", "verdict", "model"} <= set(
        exported.columns
    )
    assert exported["model"].eq("sentiment").all()

    at.selectbox(key="adlab_success").set_value("negative")
    run(at)
    flipped = table(at).set_index("text")
    assert (
        flipped.loc["terrible awful dress", "score"] > flipped.loc["love this great dress", "score"]
    )
    assert flipped.loc["love this great dress", "score"] == pytest.approx(
        1 - by_text.loc["love this great dress", "score"], abs=1e-5
    )


def test_editor_rows_and_csv_upload(registry):
    registry("sentiment")
    at = open_page("sentiment")
    first = at.data_editor[0].value["text"].iloc[0]
    # The editor's edit state, as the browser would send it: delete row 0, add one row.
    at.session_state["adlab_variants"] = {
        "edited_rows": {},
        "added_rows": [{"text": "best amazing offer"}],
        "deleted_rows": [0],
    }
    run(at)
    texts = table(at)["text"].tolist()
    assert "best amazing offer" in texts and first not in texts

    csv = pd.DataFrame({"id": [1, 2], "copy": ["happy wonderful dress", "=HYPERLINK(1)"]}).to_csv(
        index=False
    )
    at.file_uploader(key="adlab_csv").set_value(("ads.csv", csv.encode(), "text/csv"))
    run(at)
    at.selectbox(key="adlab_csv_column").set_value("copy")
    run(at)
    at.button(key="adlab_add_csv").click()
    run(at)
    texts = table(at)["text"].tolist()
    assert (
        "happy wonderful dress" in texts and "best amazing offer" in texts
    )  # the editor's row survived
    at.button(key="adlab_clear").click()
    run(at)
    assert table(at)["variant"].tolist() == ["Base"]


# --------------------------------------------------------------------------- explain & edit


def test_explanation_view_and_edit_loop(registry):
    registry("sentiment")
    at = open_page("sentiment")
    at.text_area(key="adlab_paste").set_value("phone was great")
    at.button(key="adlab_add_lines").click()
    run(at)
    name = table(at).set_index("text").loc["phone was great", "variant"]
    at.selectbox(key="adlab_explain_pick").set_value(name)
    run(at)
    assert at.text_area(key="adlab_edit").value == "phone was great"
    html = markdown_text(at)
    assert 'class="adlab-attribution"' in html and ">great</span>" in html
    assert any("occlusion" in c.value for c in at.caption)  # the method is named
    assert "Pushes the score up" in html and "great (+" in html
    before = float(at.metric[0].value.rstrip("%"))

    at.text_area(key="adlab_edit").set_value("phone was terrible")
    run(at)
    after = float(at.metric[0].value.rstrip("%"))
    assert after < before
    assert at.metric[0].delta.startswith("-")  # against the variant as scored
    assert ">terrible</span>" in markdown_text(at)
    at.button(key="adlab_keep").click()
    run(at)
    assert "phone was terrible" in table(at)["text"].tolist()
    assert "phone was great" in table(at)["text"].tolist()  # the original stays


def _picked_and_explained(at: AppTest, name: str, text: str) -> None:
    """The explain tab shows ``name``'s current ``text`` in the editor and in the shading."""
    assert at.selectbox(key="adlab_explain_pick").value == name
    assert at.text_area(key="adlab_edit").value == text
    shaded = next(m.value for m in at.markdown if 'class="adlab-attribution"' in m.value)
    assert all(f">{w}</span>" in shaded for w in re.findall(r"\w+", text)), shaded
    assert not at.metric[0].delta  # the draft is the variant itself: no change to show


def test_explain_follows_replaced_variants_and_the_first_pick(registry):
    registry("sentiment")
    at = open_page("sentiment")
    at.button(key="adlab_clear").click()
    run(at)
    at.text_area(key="adlab_paste").set_value("phone was great\nlove this dress")
    at.button(key="adlab_add_lines").click()
    run(at)
    assert table(at).set_index("variant").loc["V2", "text"] == "love this dress"
    at.selectbox(key="adlab_explain_pick").set_value("V2")  # the first pick
    run(at)
    _picked_and_explained(at, "V2", "love this dress")

    # Replace V2's text in the variants table: the name V2 stays, its text changes.
    at.session_state["adlab_variants"] = {
        "edited_rows": {1: {"text": "terrible broken order"}}, "added_rows": [], "deleted_rows": [],
    }
    run(at)
    _picked_and_explained(at, "V2", "terrible broken order")  # not the stale "love this dress"

    # Replace every variant: V2 is gone for a moment (the base is shown), then picked again.
    at.button(key="adlab_clear").click()
    run(at)
    _picked_and_explained(at, "Base", at.text_area(key="adlab_base").value)
    at.text_area(key="adlab_paste").set_value("awful service\nbad dress")
    at.button(key="adlab_add_lines").click()
    run(at)
    at.selectbox(key="adlab_explain_pick").set_value("V1")
    run(at)
    _picked_and_explained(at, "V1", "awful service")


# --------------------------------------------------------------------------- targeting


def test_targeting_heatmap_uplift_and_downloads(registry, downloads):
    registry("profiled")
    at = open_page("profiled")
    assert at.text_input(key="adlab_profile_age").value != ""  # default from the test rows
    assert at.radio(key="adlab_seg_source").value == "the model's test data"
    heat = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")
    ads = heat["data"][0]["x"]
    assert ads == ["Base", "V1", "V2", "V3"]
    n_segments = len(heat["data"][0]["y"])
    assert n_segments >= 4  # age bins x channel
    marks = heat["data"][1]
    assert len(marks["x"]) == n_segments and set(marks["x"]) <= set(ads)
    labels = [m.label for m in at.metric]
    assert (
        any(label.startswith("Everyone sees") for label in labels)
        and "Uplift of targeting" in labels
    )

    matrix = fetch_csv(downloads, "targeting_matrix.csv")
    assert list(matrix.columns[:2]) == ["segment", "size"] and len(matrix) == n_segments
    assert matrix["size"].sum() == 32  # the model's test rows
    assignment = fetch_csv(downloads, "targeting_assignment.csv")
    values = matrix.set_index("segment")[ads]
    expected = values.idxmax(axis=1)
    assert assignment.set_index("segment")["best_ad"].to_dict() == expected.to_dict()
    assert {"best_ad_text", "age", "channel", "gain", "single_best_ad"} <= set(assignment.columns)
    # Uplift by hand from the matrix, weighted by size.
    w = (matrix["size"] / matrix["size"].sum()).to_numpy()
    single = (values.to_numpy() * w[:, None]).sum(axis=0).max()
    targeted = (values.max(axis=1).to_numpy() * w).sum()
    shown = next(m for m in at.metric if m.label == "Best ad per segment").value
    assert shown == f"{targeted:.1%}"
    assert (
        next(m for m in at.metric if m.label.startswith("Everyone sees")).value == f"{single:.1%}"
    )


def test_targeting_from_uploaded_audience(registry, downloads):
    registry("profiled")
    at = open_page("profiled")
    at.radio(key="adlab_seg_source").set_value("an audience CSV I upload")
    run(at)
    people = pd.DataFrame({"age": [22, 25, 31, 47, 52, 68], "channel": ["email", "social"] * 3})
    at.file_uploader(key="adlab_audience").set_value(
        ("people.csv", people.to_csv(index=False).encode(), "text/csv")
    )
    run(at)
    at.multiselect(key="adlab_seg_columns").set_value(["channel"])
    run(at)
    assert any("Held at their typical value: age" in c.value for c in at.caption)
    matrix = fetch_csv(downloads, "targeting_matrix.csv")
    assert sorted(matrix["segment"]) == ["channel email", "channel social"]
    assert matrix["size"].tolist() == [3, 3]

    segments = pd.DataFrame(
        {
            "segment": ["young", "old"],
            "age": [25, 60],
            "channel": ["email", "email"],
            "Size": [900, 100],
        }
    )
    at.file_uploader(key="adlab_audience").set_value(
        ("segments.csv", segments.to_csv(index=False).encode(), "text/csv")
    )
    run(at)
    matrix = fetch_csv(downloads, "targeting_matrix.csv")
    assert matrix["segment"].tolist() == ["young", "old"] and matrix["size"].tolist() == [900, 100]
    assert "1,000 people" in "\n".join(c.value for c in at.caption)


def test_regression_model_scores_values(registry):
    registry("value")
    at = open_page("value")
    assert "adlab_success" not in [s.key for s in at.selectbox]
    assert "predicted ctr" in markdown_text(at)
    scored = table(at)
    assert scored["score"].between(-5, 10).all() and len(scored) == 4
    assert any(
        f["data"][0]["type"] == "heatmap" for f in figures(at)
    )  # profile columns: targeting works too


# --------------------------------------------------------------------------- renderer


def test_attribution_html_shades_and_escapes():
    text = "great <b>deal</b>\nbad"
    expl = pd.DataFrame(
        {
            "word": ["great", "<", "b", ">", "deal", "</", "b", ">", "bad"],
            "start": [0, 6, 7, 8, 9, 13, 15, 16, 18],
            "end": [5, 7, 8, 9, 13, 15, 16, 17, 21],
            "attribution": [0.4, 0, 0, 0, 0.1, 0, 0, 0, -0.2],
        }
    )
    html = attribution_html(text, expl)
    assert "<b>" not in html and "&lt;" in html  # user text cannot inject markup
    assert "rgba(44,160,44,0.750)" in html  # strongest positive word: full green
    assert "rgba(214,39,40,0.375)" in html  # half as strong, negative: red at half opacity
    assert 'title="+40.00 points"' in html and "<br>" in html


def test_top_words_leave_out_negligible_moves():
    expl = pd.DataFrame(
        {"word": ["a", "great", "bad", "the"], "attribution": [0.001, 0.3, -0.2, -0.0001]}
    )
    up, down = top_words(expl, k=5)
    assert up == [("great", 0.3)]  # "a" moves the score by under 1% of the largest move
    assert down == [("bad", -0.2)]


def test_top_words_leave_out_punctuation():
    expl = pd.DataFrame(
        {"word": ["!!!", "great", ",", "差", ":(", "bad", "…"], "attribution": [0.9, 0.3, 0.5, -0.1, -0.8, -0.2, -0.4]}
    )
    up, down = top_words(expl, k=5)
    assert up == [("great", 0.3)]
    assert down == [("bad", -0.2), ("差", -0.1)]


def test_variants_download_neutralises_only_formula_cells(registry, downloads):
    registry("sentiment")
    at = open_page("sentiment")
    at.button(key="adlab_clear").click()
    run(at)
    pasted = {'=HYPERLINK("http://x")': True, "@united thanks for the help": False, "-2+3": True,
              "@SUM(A1)": True, "great dress -3.5": False}
    at.text_area(key="adlab_paste").set_value("\n".join(pasted))
    at.button(key="adlab_add_lines").click()
    run(at)
    assert set(table(at)["text"]) >= set(pasted)  # shown exactly as typed
    raw = downloads["ad_variants_scored.csv"]()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    written = {r["variant"]: r["text"] for r in rows}
    by_name = dict(zip(table(at)["variant"], table(at)["text"], strict=True))
    for name, text in by_name.items():
        if text in pasted:
            assert written[name] == ("'" + text if pasted[text] else text), text
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)


def test_change_vs_base_is_shown_in_points(registry):
    registry("sentiment")
    at = open_page("sentiment")
    shown = table(at)
    base = float(shown.loc[shown["variant"] == "Base", "score"].iloc[0])
    np.testing.assert_allclose(shown["delta"], (shown["score"] - base) * 100, atol=1e-6)
    config = json.loads(next(d for d in at.dataframe if "rank" in d.value.columns).proto.columns)
    assert config["delta"]["type_config"]["format"] == "%+.1f pts"


def test_page_opens_through_the_app_router(registry):
    registry("sentiment")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/ad_lab.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Ad Copy Lab"
    assert len(table(at)) == 4


def test_ads_unlike_the_training_texts_get_a_warning(registry):
    from tests.core.test_ood import _chinese

    registry("sentiment")
    at = open_page("sentiment")
    at.button(key="adlab_clear").click()  # the example ads are about dresses; the tiny model's texts are not
    run(at)
    english = make_sentiment_frame(6, seed=31)["text"].tolist()  # like its training texts
    chinese = _chinese(5, seed=32)
    at.text_area(key="adlab_base").set_value(english[0])
    run(at)
    assert not [w for w in at.warning if "look unlike the texts" in w.value]  # nothing to say
    at.text_area(key="adlab_paste").set_value("\n".join([*english[1:], *chinese]))
    at.button(key="adlab_add_lines").click()
    run(at)
    names = table(at).set_index("text")["variant"]
    [warning] = [w.value for w in at.warning if "look unlike the texts" in w.value]
    listed = warning.split("(", 1)[1].split(")", 1)[0].split(" and ")[0]  # "V6, V7, ... and 2 more"
    named = set(listed.split(", "))
    # The tiny test encoder has random weights: it tells Chinese from these texts well, not perfectly.
    assert len(named & {names[t] for t in chinese}) >= 3 and len(named & {names[t] for t in english}) <= 1
    assert int(warning.split(" of ")[0]) >= len(named) and f" of {len(names)} texts" in warning


def test_the_base_copy_and_rewrite_settings_survive_a_visit_to_another_page(registry):
    """Walk finding: after a look at the Dashboard while rewrites were written, the base copy, tone
    and keep words were empty and the page said the base copy was empty (Streamlit clears the key
    of a widget whose page is not drawn; the page puts back what it kept)."""
    registry("sentiment")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/ad_lab.py").run()
    at.text_area(key="adlab_base").set_value("Fresh summer sandals: comfy all day.").run()
    at.text_input(key="rw_tone").set_value("playful").run()
    at.text_input(key="rw_keep").set_value("sandals").run()
    at.switch_page("pages/dashboard.py").run()
    at.switch_page("pages/ad_lab.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.text_area(key="adlab_base").value == "Fresh summer sandals: comfy all day."
    assert at.text_input(key="rw_tone").value == "playful" and at.text_input(key="rw_keep").value == "sandals"
    assert not any("base ad copy" in e.value for e in at.error)


def test_ads_in_a_language_the_base_model_does_not_read_get_a_warning(registry):
    """Issue 30: Chinese variants for a model built on the English-only minilm-en are named, with
    their count (core.language_check); the English base copy alone is not."""
    from tests.core.test_ood import _chinese

    folder = registry("sentiment") / "sentiment"
    manifest = json.loads((folder / "marketune.json").read_text())
    (folder / "marketune.json").write_text(json.dumps({**manifest, "base_model": "minilm-en"}))  # as if built on it
    at = open_page("sentiment")
    at.button(key="adlab_clear").click()
    run(at)
    at.text_area(key="adlab_base").set_value(make_sentiment_frame(1, seed=31)["text"].iloc[0])
    run(at)
    assert not [w for w in at.warning if "English only" in w.value]
    at.text_area(key="adlab_paste").set_value("\n".join(_chinese(3, seed=32)))
    at.button(key="adlab_add_lines").click()
    run(at)
    [warning] = [w.value for w in at.warning if "English only" in w.value]
    assert warning.startswith("3 of 4 texts (75%) look like Chinese") and "minilm-en" in warning
