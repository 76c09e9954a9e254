"""Multi-label training end to end on tiny data: a sigmoid head, thresholds chosen on validation
and saved, TF-IDF one-vs-rest as the comparison, predicted_labels in every prediction output."""

import json
import random

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from core.cli import main
from core.config import TrainConfig
from core.models import load_folder
from core.multilabel import binarize, parse_labels
from core.predict import output_task, predict_csv, predict_frame, read_predictions
from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE
from tests.ui.test_page_label import labels_dir  # noqa: F401 - the Label page tests' project folder
from tests.ui.test_page_predict import downloads  # noqa: F401 - the Predict page tests' download recorder


def make_tagged_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Texts whose tags are given away by words: "pos" by a positive word, "neg" by a negative one,
    both when both are there, "other" when neither is."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words, tags = [rng.choice(NEUTRAL) for _ in range(3)], []
        if i % 3 != 2:
            words.append(rng.choice(POSITIVE))
            tags.append("pos")
        if i % 2 == 0:
            words.append(rng.choice(NEGATIVE))
            tags.append("neg")
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "tags": " | ".join(tags or ["other"])})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from core.pipeline import train

    config = TrainConfig(base_model=str(tiny_model_dir), label_column="tags", method="full", multi_label=True,
                         epochs=4, batch_size=16, learning_rate=3e-3, max_length=32, choose_simpler=False)
    result = train(make_tagged_frame(), config)
    return result, result.save(tmp_path_factory.mktemp("ml") / "tagged")


def test_the_saved_model_has_a_sigmoid_head_and_its_thresholds(trained):
    result, folder = trained
    model = load_folder(folder)
    assert model.multi_label and list(model.classes_) == ["neg", "other", "pos"]
    assert model.model.config.problem_type == "multi_label_classification"
    saved = json.loads((folder / "thresholds.json").read_text())
    assert saved["tags"] == ["neg", "other", "pos"] and saved["label_sep"] == "|"
    assert np.allclose(model.thresholds, saved["thresholds"])
    proba = model.predict_proba(["great love it", "bad hate this"])
    assert proba.shape == (2, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert result.metrics["headline"] == "micro_f1" and "tfidf_ovr" in result.metrics["baselines"]
    assert sorted(result.alternatives) == ["tfidf"]  # the TF-IDF one-vs-rest model is kept beside it


def test_thresholds_json_says_where_the_cut_offs_were_chosen_and_which_tags_cannot_be_told(trained):
    result, folder = trained
    saved = json.loads((folder / "thresholds.json").read_text())
    assert saved["chosen_on"] == f"validation ({result.metrics['split_sizes']['validation']:,} rows)"
    model = load_folder(folder)
    assert model.untold_tags == saved["cannot_tell_yet"] and set(saved["cannot_tell_yet"]) <= {"neg", "other", "pos"}
    assert result.metrics["cannot_tell_yet"] == saved["cannot_tell_yet"]
    card = (folder / "README.md").read_text()
    assert f"Cut-offs per tag (chosen on {saved['chosen_on']})" in card
    for tag, cut in zip(saved["tags"], saved["thresholds"]):
        assert f"- {tag}: {cut:.3f}" in card


def test_reported_metrics_are_scikit_learns_on_the_saved_test_predictions(trained):
    result, _ = trained
    frame = result.model.test_predictions
    tags = list(result.model.classes_)
    Y, _ = binarize(parse_labels(frame["true_labels"].tolist(), "|")[0], tags)
    P, _ = binarize(parse_labels(frame["predicted_labels"].fillna("").tolist(), "|")[0], tags)
    m = result.metrics["model"]
    assert m["micro_f1"] == pytest.approx(skm.f1_score(Y, P, average="micro", zero_division=0))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(Y, P, average="macro", zero_division=0))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(Y, P))
    assert m["n_rows"] == len(frame) == result.metrics["split_sizes"]["test"]


def test_predicted_labels_agree_with_p_tag_and_thresholds(trained, tmp_path):
    _, folder = trained
    model = load_folder(folder)
    df = pd.DataFrame({"text": ["great love", "bad hate great", "", "phone order"]})
    out = predict_frame(model, df)
    assert output_task(model) == "multi_label"
    assert list(out.columns[1:]) == ["predicted_labels", "p_neg", "p_other", "p_pos", "prediction_error"]
    for _, row in out.iloc[[0, 1, 3]].iterrows():
        expected = [t for t, cut in zip(model.classes_, model.thresholds) if row[f"p_{t}"] >= cut]
        assert row["predicted_labels"] == "|".join(expected)
    assert out.loc[2, "predicted_labels"] == "" and out.loc[2, "prediction_error"] != ""
    # The saved prediction file reads back the same (CSV, then typed as the pages and XLSX read it).
    df.to_csv(tmp_path / "in.csv", index=False)
    predict_csv(model, tmp_path / "in.csv", tmp_path / "out.csv")
    back = read_predictions(tmp_path / "out.csv", "multi_label", list(model.classes_))
    assert back["predicted_labels"].tolist() == out["predicted_labels"].tolist()
    assert np.allclose(back["p_pos"].to_numpy(dtype=float), out["p_pos"].to_numpy(dtype=float), equal_nan=True)


def test_the_tfidf_candidate_scores_as_its_scikit_learn_pipeline(trained):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    from core.evaluation import tfidf_features
    from core.multilabel_training import tfidf_ovr_model
    from core.prepare import prepare

    config = TrainConfig(label_column="tags", multi_label=True)
    prepared = prepare(make_tagged_frame(), config)
    pipe = make_pipeline(tfidf_features(), OneVsRestClassifier(LogisticRegression(C=4.0, max_iter=2000)))
    pipe.fit(prepared.texts, prepared.y)
    model = tfidf_ovr_model(pipe, prepared, config)
    texts = ["great love it", "bad hate", "phone"]
    assert np.allclose(model.predict_proba(texts), pipe.predict_proba(texts))


def test_cli_round_trip_with_lora(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "tagged.csv"
    frame = make_tagged_frame(90, seed=1)
    frame["tags"] = [json.dumps(t.split(" | ")) for t in frame["tags"]]  # JSON lists this time
    frame.to_csv(data, index=False)
    out = tmp_path / "model"
    code = main(["train", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--out", str(out),
                 "--base-model", str(tiny_model_dir), "--method", "lora", "--multi-label", "--epochs", "1",
                 "--batch-size", "16", "--max-length", "32", "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "micro_f1" in printed["model"] and "tfidf_ovr" in printed["baselines"]
    assert json.loads((out / "thresholds.json").read_text())["label_sep"] == "json"
    assert main(["predict", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "pred.csv")]) == 0
    scored = pd.read_csv(tmp_path / "pred.csv", keep_default_na=False)
    assert {"predicted_labels", "p_neg", "p_other", "p_pos"} <= set(scored.columns)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(data), "--label-col", "tags"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = load_folder(out)
    Y, _ = binarize(parse_labels(frame["tags"].tolist(), "json")[0], list(model.classes_))
    P, _ = binarize(parse_labels(scored["predicted_labels"].tolist(), "|")[0], list(model.classes_))
    assert evaluated["micro_f1"] == pytest.approx(skm.f1_score(Y, P, average="micro", zero_division=0))


def test_evaluate_reads_the_files_own_separator_and_names_tags_the_model_lacks(trained, tmp_path, capsys):
    frame = make_tagged_frame(60, seed=3)
    lists = [t.split(" | ") for t in frame["tags"]]
    written = {"pipe": ["|".join(t) for t in lists], "json": [json.dumps(t) for t in lists],
               "semicolon": ["; ".join(t) for t in lists], "comma": [", ".join(t) for t in lists]}
    results, notes = {}, {}
    for name, cells in written.items():
        data = tmp_path / f"{name}.csv"
        frame.assign(tags=cells).to_csv(data, index=False)
        capsys.readouterr()
        assert main(["evaluate", "--model", str(trained[1]), "--data", str(data), "--label-col", "tags"]) == 0
        out, notes[name] = capsys.readouterr()
        results[name] = json.loads(out.strip().splitlines()[-1])
    assert all(r == results["pipe"] for r in results.values()), results
    assert "tags_not_in_model" not in results["pipe"]
    assert "read as" not in notes["pipe"] and "read as tags joined by ';'" in notes["semicolon"]
    assert "read as JSON lists" in notes["json"] and "trained on tags joined by '|'" in notes["comma"]
    # A tag the model never learned: named on stderr with its rows, not only in a JSON key.
    data = tmp_path / "extra.csv"
    frame.assign(tags=[c + ("; price" if i < 4 else "") for i, c in enumerate(written["semicolon"])]).to_csv(data, index=False)
    assert main(["evaluate", "--model", str(trained[1]), "--data", str(data), "--label-col", "tags"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["tags_not_in_model"] == ["price"]
    assert "'price' (4 rows)" in err and "not ones the model learned" in err


def capitalised(frame: pd.DataFrame, share: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """``frame`` with about ``share`` of its tags written capitalised ('pos' -> 'Pos'), per tag."""
    rng = random.Random(seed)
    return frame.assign(tags=["|".join(t.capitalize() if rng.random() < share else t for t in cell.split(" | "))
                              for cell in frame["tags"]])


def test_tags_that_differ_only_in_case_are_merged_per_tag_in_training_and_in_the_check(tiny_model_dir, tmp_path):
    from core.check import check
    from core.data import validate_mapping
    from core.pipeline import train
    from core.prepare import prepare

    df = capitalised(make_tagged_frame(120, seed=4))
    assert df["tags"].str.contains("Pos|Neg|Other").mean() > 0.2
    config = TrainConfig(base_model=str(tiny_model_dir), label_column="tags", method="full", multi_label=True,
                         epochs=1, batch_size=16, max_length=32, choose_simpler=False)
    assert list(prepare(df, config).classes) == ["neg", "other", "pos"]
    said = " ".join(p.message for p in validate_mapping(df, config).warnings)
    assert "differ only in case were read as one tag" in said and "'Pos' -> 'pos'" in said
    assert "'Pos|Neg'" not in said and "-> 'Neg|Pos'" not in said  # never whole cells
    folder = train(df, config).save(tmp_path / "cased")
    assert list(load_folder(folder).classes_) == ["neg", "other", "pos"]  # each tag learned once
    issues = check(df, config, features="tfidf").issues
    variants = issues[issues["issue"] == "label_variant"]
    assert len(variants) == df["tags"].str.contains("Pos|Neg|Other").sum()
    assert all(set(v.split("|")) <= {"pos", "neg", "other"} for v in variants["suggested_label"])


def test_check_cli_first_tag_note_lists_the_merged_tags_and_the_spellings_merged(tmp_path, capsys):
    """Issue 27: `check`'s note on a tag-list column names each tag once ('pos', never 'Pos' beside
    it), as the check and training read them, and says which spellings were merged. Truth: the
    test's own cells split and case-folded by hand."""
    df = capitalised(make_tagged_frame(120, seed=4))
    data = tmp_path / "cased.csv"
    df.to_csv(data, index=False)
    spellings = {t for cell in df["tags"] for t in cell.split("|")}
    assert spellings > {"pos", "Pos"}  # both written
    assert main(["check", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--features", "tfidf",
                 "--out", str(tmp_path / "ISSUES.csv")]) == 0
    note = next(line for line in capsys.readouterr().err.splitlines() if "looks like several tags per row" in line)
    tags = {t.casefold() for t in spellings}
    assert f"{len(tags)} tags (" in note, note
    listed = note.split(" tags (", 1)[1].split(";")[0]  # the tags, before the spellings merged
    for spelling in spellings:
        if spelling != spelling.casefold():  # a rarer spelling: named as merged into the common one
            assert f"'{spelling}' read as '{spelling.casefold()}'" in note, note
            assert f"'{spelling}'" not in listed, note  # not listed as a tag of its own
    assert all(f"'{t}'" in listed for t in tags)


def test_train_page_names_the_list_column_and_sends_a_multi_label_config(models_dir, tiny_model_dir, sent_requests):
    from tests.ui.test_page_train import open_train, tiny_settings, upload

    at = upload(open_train(), make_tagged_frame(60), "tagged.csv")
    if at.selectbox(key="train_label_col").value != "tags":
        at.selectbox(key="train_label_col").set_value("tags").run()
    assert any("several tags per row" in i.value for i in at.info)
    assert at.checkbox(key="train_multi_label").value is True
    at = tiny_settings(at, tiny_model_dir)
    at.button(key="train_start").click().run()
    (sent, config, _), = sent_requests
    # label_sep None, as `train` without --label-sep: training finds '|' (parse_labels, as the CLI's run).
    assert config.multi_label and config.label_sep is None and config.label_column == "tags"
    assert parse_labels(sent["tags"].tolist(), config.label_sep)[1] == "|"
    at.checkbox(key="train_multi_label").set_value(False).run()  # untick: combinations as classes, refused
    assert not at.exception and at.button(key="train_start").disabled


def test_results_view_shows_multi_label_numbers_and_a_per_tag_confusion(trained, models_dir):
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.ui.test_page_train import ROOT, figures

    result, folder = trained
    shutil.copytree(folder, models_dir / "tagged")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="models_open").set_value("tagged").run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    assert float(cards["Micro-F1 (headline)"]) == pytest.approx(result.metrics["model"]["micro_f1"], abs=5e-4)
    assert {"Macro-F1", "Hamming loss", "Subset accuracy"} <= set(cards)
    per_tag = next(d.value for d in at.dataframe if "threshold" in d.value.columns)
    assert sorted(per_tag["tag"]) == ["neg", "other", "pos"]
    tag = at.selectbox(key="models_inspect_tag_cm").value
    counts = result.metrics["model"]["per_tag"][tag]
    heatmap = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")
    assert np.asarray(heatmap["data"][0]["z"]).tolist() == [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]


def test_check_cli_names_a_list_like_label_column(tmp_path, capsys):
    data = tmp_path / "tagged.csv"
    make_tagged_frame(60).to_csv(data, index=False)
    assert main(["check", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--features", "tfidf",
                 "--no-multi-label", "--out", str(tmp_path / "ISSUES.csv")]) == 0
    err = capsys.readouterr().err
    assert "Label column 'tags' looks like several tags per row" in err and "--multi-label" in err
    assert err.count("looks like several tags per row") == 1  # said once (walk-e)


def test_check_cli_checks_tag_lists_per_tag_by_default_as_the_train_page_does(tmp_path, capsys):
    from core.check import check

    data = tmp_path / "tagged.csv"
    df = make_tagged_frame(120)
    df.to_csv(data, index=False)
    out = tmp_path / "ISSUES.csv"
    assert main(["check", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--features", "tfidf",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Checked per tag" in err and "--no-multi-label" in err
    cli = pd.read_csv(out, keep_default_na=False)
    page = check(df, TrainConfig(label_column="tags", multi_label=True), features="tfidf").issues
    assert (cli["issue"] == "label_error").sum() == (page["issue"] == "label_error").sum()
    suggested = cli.loc[cli["issue"] == "label_error", "suggested_label"]
    assert all({t.strip() for t in str(v).split("|")} - {""} <= {"pos", "neg", "other"} for v in suggested), suggested
    assert main(["check", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--no-multi-label",
                 "--label-sep", "|", "--out", str(out)]) != 0
    assert "pass --multi-label with it" in capsys.readouterr().err


def test_train_cli_trains_tag_lists_per_tag_by_default_as_check_does(tiny_model_dir, tmp_path, capsys):
    """Issue 27: `train` without --multi-label on a label column of tag lists learns one output per tag
    (check's rule, core.cli._tags_checked), saying so on stderr; --no-multi-label is refused, naming
    the joined values (faults3 README: never a class called 'electronics|food'). Truth: the tags and combinations the test wrote."""
    data = tmp_path / "tagged.csv"
    frame = make_tagged_frame(90, seed=1)
    frame.to_csv(data, index=False)
    written = {t for cell in frame["tags"] for t in cell.split(" | ")}
    common = ["--data", str(data), "--text-col", "text", "--label-col", "tags", "--base-model", str(tiny_model_dir),
              "--method", "lora", "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--quiet"]
    assert main(["train", *common, "--out", str(tmp_path / "tags")]) == 0
    err = capsys.readouterr().err
    assert "Label column 'tags' looks like several tags per row" in err and "Trained per tag" in err, err
    assert "pass --no-multi-label to train every combination" in err
    model = load_folder(tmp_path / "tags")
    assert output_task(model) == "multi_label" and sorted(map(str, model.classes_)) == sorted(written)
    # --no-multi-label: refused, naming a joined value as written (never a class of combinations).
    assert main(["train", *common, "--no-multi-label", "--out", str(tmp_path / "combos")]) != 0
    err = capsys.readouterr().err
    joined = frame["tags"][frame["tags"].str.contains(" | ", regex=False)].value_counts().index[0]
    assert "refused" in err and repr(joined) in err and "--multi-label" in err, err
    assert not (tmp_path / "combos").exists()


def test_data_check_flags_tags_that_were_flipped_and_suggests_the_right_ones():
    from core.check import check

    df = make_tagged_frame(240, seed=2)
    # 12 rows (5%) with one tag toggled at random: the wrong label the check's calibration plants too.
    rng = np.random.default_rng(0)
    flipped = sorted(rng.choice(len(df), 12, replace=False).tolist())
    truth = {r: set(df.at[r, "tags"].split(" | ")) for r in flipped}
    for r in flipped:
        df.at[r, "tags"] = " | ".join(sorted(truth[r] ^ {str(rng.choice(["neg", "other", "pos"]))})) or "other"
    report = check(df, TrainConfig(label_column="tags", multi_label=True, label_sep="|"), features="tfidf")
    errors = report.issues[report.issues["issue"] == "label_error"].set_index("row")
    found = [r for r in flipped if r in errors.index]
    assert len(found) >= len(flipped) // 2, (errors, report.notes)
    right = [r for r in found if set(errors.loc[r, "suggested_label"].split("|")) == truth[r]]
    assert len(right) >= len(found) // 2, errors
    assert report.label_error_precision is not None and len(errors) == 12  # the top 5% of 240 rows


def test_predict_page_scores_tags_and_offers_them_in_csv_and_xlsx(trained, models_dir,
                                                                  downloads):  # noqa: F811 - the fixture
    import io
    import shutil

    from tests.ui.test_page_predict import fetch, open_page, upload

    made = downloads
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained[1], models_dir / "tagged")
    at = upload(open_page(), pd.DataFrame({"text": ["great love bad", "phone order", ""]}))
    at.selectbox(key="predict_model").set_value("tagged").run()
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    preview = next(d.value for d in at.dataframe if "predicted_labels" in d.value.columns)
    model = load_folder(models_dir / "tagged")
    for _, row in preview.iloc[:2].iterrows():
        assert row["predicted_labels"] == "|".join(
            t for t, cut in zip(model.classes_, model.thresholds) if row[f"p_{t}"] >= cut)
    xlsx = pd.read_excel(io.BytesIO(fetch(made, ".xlsx")), keep_default_na=False)
    assert xlsx["predicted_labels"].tolist() == preview["predicted_labels"].fillna("").tolist()
    scored = next(n for n in made if n.endswith(".csv") and not n.endswith("-cut-offs.csv"))  # not the cut-offs file
    csv = pd.read_csv(io.BytesIO(fetch(made, scored)), keep_default_na=False)
    assert list(csv.columns)[:6] == ["text", "predicted_labels", "p_neg", "p_other", "p_pos", "prediction_error"]


def test_ad_copy_lab_scores_each_tag_and_measures_its_margin_on_that_tag(trained):
    from core.adlab import model_inputs, score_texts, score_variants, uncertainty_margin

    model = trained[0].model
    texts = ["great love it", "bad awful", "phone order"]
    for j, tag in enumerate(model.classes_):  # each tag is a success class of its own: P(tag), not a softmax share
        scores = score_texts(model, model_inputs(model, texts), positive_class=tag)
        assert np.allclose(scores, model.predict_proba(texts)[:, j])
    margin = uncertainty_margin(model, "pos")
    assert margin.n_test == len(model.test_predictions) and margin.value is not None
    ranked = score_variants(model, "phone order", ["great phone order"], positive_class="neg", margin=margin)
    assert set(ranked["variant"]) == {"Base", "V1"}


def test_label_page_ranks_by_the_most_doubtful_tag_and_saves_several_tags(trained, models_dir,
                                                                          labels_dir):  # noqa: F811 - the fixture
    import shutil

    from core.labeling import label_store, uncertainty_ranking
    from tests.ui.test_page_label import open_label

    frame = make_tagged_frame(60, seed=4).rename(columns={"tags": "label"})
    frame.loc[30:, "label"] = ""
    store = label_store("tags").create(frame, ["text"], "label")
    shutil.copytree(trained[1], models_dir / "label-tags")  # the project's model of an earlier round
    model = load_folder(models_dir / "label-tags")
    ranked = uncertainty_ranking(model, store.unlabeled(), n=10, diversity=False)
    proba = model.predict_proba(ranked["text"].tolist())
    assert np.allclose(ranked["margin"], np.abs(proba - model.thresholds).min(axis=1))
    assert ranked["margin"].is_monotonic_increasing
    at = open_label()
    at.selectbox(key="label_project").set_value("tags").run()
    assert not at.exception, at.exception
    view = at.data_editor(key="label_editor").value
    first, second = int(view["row"].iloc[0]), int(view["row"].iloc[1])
    at.session_state["label_editor"] = {"edited_rows": {0: {"label": ["neg", "pos"]}, 1: {"label": ["other"]}},
                                        "added_rows": [], "deleted_rows": []}
    at.button(key="label_save").click().run()
    assert not at.exception, at.exception
    saved = label_store("tags").frame()["label"]
    assert saved[first] == "neg|pos" and saved[second] == "other"  # joined by the project's own separator


def test_the_live_chart_follows_validation_micro_f1(trained):
    from core.charts.evaluation import training_curve_chart

    events = [e.to_dict() for e in trained[0].history]
    chart = training_curve_chart(events)
    validation = [trace for trace in chart.data if trace.name == "Validation micro-F1"]
    assert len(validation) == 1  # one line, beside the fine-tune's and the refit's losses
    assert list(validation[0].y) == pytest.approx([e["metrics"]["micro_f1"] for e in events if e["phase"] == "evaluate"])


def test_the_verdict_judges_the_saved_model_against_both_constant_baselines(trained):
    from core.multilabel_training import MOST_FREQUENT

    result, _ = trained
    frame = result.model.test_predictions
    tags = list(result.model.classes_)
    Y, _ = binarize(parse_labels(frame["true_labels"].tolist(), "|")[0], tags)
    P, _ = binarize(parse_labels(frame["predicted_labels"].fillna("").tolist(), "|")[0], tags)
    dummy = result.metrics["baselines"][MOST_FREQUENT]
    guess = np.tile([t in dummy["predicts"] for t in tags], (len(Y), 1))
    assert dummy["hamming_loss"] == pytest.approx(skm.hamming_loss(Y, guess))
    verdict = result.metrics["verdict"]
    worse = skm.hamming_loss(Y, P) >= min(b["hamming_loss"] for k, b in result.metrics["baselines"].items() if k != "tfidf_ovr")
    assert bool(verdict["caution"]) == worse  # said whenever a constant guess makes no more wrong (row, tag) decisions
    if worse and not verdict["useless"]:
        assert verdict["caution"] in verdict["sentence"]


def test_predict_says_the_rows_a_tag_it_cannot_tell_still_got(trained, models_dir):
    """Walk finding: "The model cannot yet tell 'surprise' ... (in practice: rarely or never)" beside
    a chart giving 'surprise' to 14.7% of rows. The sentence now names the rows the file gave it;
    truth: the scored file's own predicted_labels, counted here."""
    import shutil

    from tests.ui.test_page_predict import open_page
    from tests.ui.test_page_train import texts

    _, folder = trained
    models_dir.mkdir(parents=True, exist_ok=True)
    saved = shutil.copytree(folder, models_dir / "tagged")
    cut = json.loads((saved / "thresholds.json").read_text())
    cut["cannot_tell_yet"] = ["pos"]  # as a model whose validation rows could not settle 'pos'
    (saved / "thresholds.json").write_text(json.dumps(cut))
    at = open_page()
    frame = make_tagged_frame(30, seed=5)[["text"]]
    at.file_uploader(key="predict_upload").set_value(("new.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    at.button(key="predict_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    scored = pd.read_csv(at.session_state["last_prediction_path"], dtype=str, keep_default_na=False)
    given = sum("pos" in cell.split("|") for cell in scored["predicted_labels"])
    shown = texts(at.caption)
    assert "rarely or never" not in shown
    if given:
        assert f"'pos' to {given:,} of {len(scored):,} rows ({given / len(scored):.1%})" in shown, shown
    else:
        assert "In this file no row was given it" in shown, shown


def test_the_untold_sentence_promises_nothing_without_a_file():
    from core.models.tags import untold_sentence

    said = untold_sentence(["surprise"])
    assert "cannot yet tell 'surprise'" in said and "rarely" not in said and "In this file" not in said
    assert "no row was given any of them" in untold_sentence(["fear", "surprise"], {"joy": 5}, 10)
    assert "'surprise' to 3 of 20 rows (15.0%)" in untold_sentence(["fear", "surprise"], {"surprise": 3}, 20)


@pytest.mark.parametrize("odd", [["pos", "love"], ["POS", "neg"]])
def test_evaluate_reads_a_file_with_one_odd_row_with_its_own_separator(trained, tmp_path, capsys, odd):
    """Walk finding (issue 27): one row 'joy;love' in a '; '-joined file made evaluate read every
    two-tag row as one unknown tag ('joy;neutral'). Truth: the same rows written with the model's
    own '|' (read with it, as the tests above show), scored alike."""
    frame = make_tagged_frame(60, seed=4)
    lists = [t.split(" | ") for t in frame["tags"]]
    lists[0] = odd  # a tag met once and never alone, or another case
    results = {}
    for name, join in {"pipe": "|", "semicolon": "; ", "tight": ";"}.items():
        data = tmp_path / f"{name}.csv"
        frame.assign(tags=[join.join(t) for t in lists]).to_csv(data, index=False)
        capsys.readouterr()
        assert main(["evaluate", "--model", str(trained[1]), "--data", str(data), "--label-col", "tags"]) == 0
        results[name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["semicolon"] == results["pipe"] == results["tight"]
    assert not any(";" in t for t in results["semicolon"].get("tags_not_in_model", []))


def test_cli_merge_label_case_flag_keeps_case_variants_apart_or_merges_them(tiny_model_dir, tmp_path, capsys):
    """The CLI's own switch for the Train page's 'Merge labels that differ only in case' (walk-s: the
    CLI's note told users to untick a page box). Truth: the tags the test wrote, case-folded or not."""
    df = capitalised(make_tagged_frame(120, seed=4))
    data = tmp_path / "cased.csv"
    df.to_csv(data, index=False)
    written = {t for cell in df["tags"] for t in cell.split("|")}
    assert written > {"pos", "Pos"}
    base = ["train", "--data", str(data), "--text-col", "text", "--label-col", "tags", "--base-model",
            str(tiny_model_dir), "--method", "embedding", "--max-length", "32"]
    assert main([*base, "--out", str(tmp_path / "merged")]) == 0
    said = capsys.readouterr().err
    assert "(CLI: --no-merge-label-case)" in said and "untick" in said  # both surfaces named
    assert sorted(load_folder(tmp_path / "merged").classes_) == sorted({t.casefold() for t in written})
    assert main([*base, "--no-merge-label-case", "--out", str(tmp_path / "apart")]) == 0
    assert sorted(load_folder(tmp_path / "apart").classes_) == sorted(written)
