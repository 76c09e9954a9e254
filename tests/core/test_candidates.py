"""Every candidate is kept (issue 26): the model training did not choose is saved inside the model
folder, loads on its own, and can be put in place (core, CLI, Models and Train pages) without
retraining, atomically, and back again to the very same files."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LogisticRegression

import core.models.candidates as candidates_module
from core import TfidfClassifier, delete_model, list_models, load_folder, zip_model
from core.candidates import candidates_of
from core.cli import main
from core.jobs import jobs_root, write_state
from core.models import TextClassifier
from core.registry import choose_candidate, model_path
from tests.conftest import make_sentiment_frame
from tests.core.test_verdict import sklearn_pipeline
from tests.ui.test_page_models import open_models
from tests.ui.test_page_train import frame_with, open_train, texts

PROBE = ["love this dress", "awful broken phone", "the service was very", "happy with the order"]
NAME = "sentiment-tiny"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def macro_f1_of(folder: Path) -> float:
    """The macro-F1 of a model folder's own test predictions, by scikit-learn."""
    tp = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False)
    return skm.f1_score(tp["true_label"].astype(str), tp["predicted_label"].astype(str), average="macro")


@pytest.fixture
def saved(models_dir, trained_tiny) -> Path:
    """The session's tiny transformer (kept by the rule: choose_simpler=False) with its TF-IDF
    candidate, copied into this test's models folder."""
    _, folder = trained_tiny
    return Path(shutil.copytree(folder, models_dir / NAME))


def test_training_keeps_the_candidate_not_chosen_and_it_loads_on_its_own(trained_tiny):
    result, folder = trained_tiny
    assert result.metrics["saved_kind"] == "transformer" and set(result.alternatives) == {"tfidf"}
    assert isinstance(load_folder(folder), TextClassifier)
    tfidf = load_folder(folder / "candidates" / "tfidf")
    assert isinstance(tfidf, TfidfClassifier)
    # Refitted on every labelled row with the C chosen on validation, as scikit-learn does it.
    df = make_sentiment_frame(160)
    pipe = sklearn_pipeline(LogisticRegression(C=tfidf.estimator["C"], max_iter=2000, class_weight="balanced"))
    pipe.fit(df["text"], df["label"])
    assert tfidf.predict_proba(PROBE) == pytest.approx(pipe.predict_proba(PROBE), abs=1e-8)
    # Its own numbers (the copy fitted on the training rows, scored on the test rows), the run's baselines.
    own = json.loads((folder / "candidates" / "tfidf" / "metrics.json").read_text())
    assert own["saved_kind"] == "tfidf" and own["model"] == own["baselines"]["tfidf_lr"]
    assert own["model"]["macro_f1"] == pytest.approx(macro_f1_of(folder / "candidates" / "tfidf"))
    assert own["verdict"]["usefulness"]["vs_constant"]["a"] == pytest.approx(macro_f1_of(folder / "candidates" / "tfidf"))
    assert own["method_chosen"] == result.metrics["method_chosen"] == "full"
    top = json.loads((folder / "metrics.json").read_text())
    assert top["model"]["macro_f1"] == pytest.approx(macro_f1_of(folder)) and "choice" not in top


def test_the_comparison_reads_the_verdict_from_each_side(saved):
    verdict = json.loads((saved / "metrics.json").read_text())["verdict"]
    in_place, kept = candidates_of(saved)
    assert (in_place.kind, in_place.in_place, kept.kind, kept.in_place) == ("transformer", True, "tfidf", False)
    assert in_place.test == pytest.approx(macro_f1_of(saved))
    assert kept.test == pytest.approx(macro_f1_of(saved / "candidates" / "tfidf"))
    assert (in_place.validation, kept.validation) == (verdict["validation"]["a"], verdict["validation"]["b"])
    n = verdict["validation"]["n"]
    gap = abs(verdict["validation"]["delta"]) * 100
    # Each lead names the model it is against (walk r13: "10.1 points ahead" in a list of several said not of which).
    against = {in_place.kind: "against TF-IDF + logistic regression: ", kept.kind: "against the fine-tuned transformer: "}
    if gap:  # the two leads are the same gap, said from either side
        ahead, behind = (in_place, kept) if verdict["validation"]["delta"] > 0 else (kept, in_place)
        assert ahead.lead.startswith(f"{against[ahead.kind]}{gap:.1f} points ahead on {n} validation rows")
        assert behind.lead.startswith(f"{against[behind.kind]}{gap:.1f} points behind on {n} validation rows")
    else:  # level; when the two predicted the same on every row, that is said instead of a 0-to-0 interval
        level = (f"the two models predict the same label on all {n} validation rows" if verdict["validation"].get("same")
                 else f"level on {n} validation rows")
        assert in_place.lead.startswith(against["transformer"] + level)
        assert kept.lead.startswith(against["tfidf"] + level)


def test_a_third_candidate_outside_the_verdicts_pair_shows_the_runs_own_scores(saved):
    """Newcomer screenshot: with embeddings in place and TF-IDF the verdict's other side, the kept
    fine-tune read "no scores recorded" although the leaderboard had them. A candidate outside the
    verdict's pair shows the run's own record: its validation score and its test metrics."""
    metrics = json.loads((saved / "metrics.json").read_text())
    metrics["validation"] = {**metrics.get("validation", {}), "embedding": 0.8125}
    metrics["candidates"] = {**metrics.get("candidates", {}), "embedding": {"macro_f1": 0.75, "accuracy": 0.76}}
    (saved / "metrics.json").write_text(json.dumps(metrics))
    shutil.copytree(saved / "candidates" / "tfidf", saved / "candidates" / "embedding")
    third = next(c for c in candidates_of(saved) if c.kind == "embedding")
    assert (third.validation, third.test, third.lead) == (0.8125, 0.75, "")


def test_after_a_swap_every_kept_candidate_keeps_its_test_number(saved):
    """Walk finding: after "Use ... instead" the other candidates lost their test numbers (the model
    put in front carries its own metrics.json, without the run's record of the others). Truth:
    scikit-learn's macro-F1 of each folder's own test predictions."""
    shutil.copytree(saved / "candidates" / "tfidf", saved / "candidates" / "embedding")  # a third kind kept
    candidates_module.switch_candidate(saved, "tfidf")
    found = {c.kind: c for c in candidates_of(saved)}
    assert set(found) == {"tfidf", "transformer", "embedding"} and found["tfidf"].in_place
    for kind, candidate in found.items():
        where = saved if candidate.in_place else saved / "candidates" / kind
        assert candidate.test == pytest.approx(macro_f1_of(where)), kind


def test_the_switched_in_candidate_predicts_as_it_did_and_twice_gives_back_the_same_files(saved):
    before = files_of(saved)
    tfidf_proba = load_folder(saved / "candidates" / "tfidf").predict_proba(PROBE)
    transformer_proba = load_folder(saved).predict_proba(PROBE)

    info = choose_candidate(NAME, "tfidf")
    assert (info.kind, info.method, info.candidates) == ("tfidf", "tfidf", ("transformer",))
    assert load_folder(saved).predict_proba(PROBE) == pytest.approx(tfidf_proba, abs=0)
    assert load_folder(saved / "candidates" / "transformer").predict_proba(PROBE) == pytest.approx(transformer_proba, abs=0)
    metrics = json.loads((saved / "metrics.json").read_text())
    assert metrics["choice"]["kind"] == "tfidf" and metrics["choice"]["rule_kind"] == "transformer"
    assert metrics["choice"]["at"].startswith(time.strftime("%Y-%m-%d"))
    assert metrics["verdict"]["chosen"] == "transformer"  # the rule's numbers stay as they were

    choose_candidate(NAME, "transformer")
    history = files_of(saved).pop("versions/history.jsonl")  # each swap is an event of the model's history
    assert [json.loads(line)["action"] for line in history.decode().splitlines()] == ["swapped", "swapped"]
    assert {k: v for k, v in files_of(saved).items() if k != "versions/history.jsonl"} == before
    assert not [p.name for p in saved.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_an_unknown_candidate_is_refused_naming_those_kept(saved):
    with pytest.raises(ValueError, match=r"keeps no candidate 'fewshot'; the candidates kept are: tfidf"):
        choose_candidate(NAME, "fewshot")
    with pytest.raises(ValueError, match="No saved model named 'missing'"):
        choose_candidate("missing", "tfidf")


@pytest.mark.parametrize("where", ["copying", "renaming"])
def test_a_crash_while_switching_leaves_the_model_in_place(saved, monkeypatch, where):
    before = files_of(saved)
    if where == "copying":
        calls, real_copy = [], shutil.copy

        def copy(*args, **kwargs):
            calls.append(args)
            if len(calls) == 3:
                raise OSError("disk full")
            return real_copy(*args, **kwargs)

        monkeypatch.setattr(candidates_module.shutil, "copy", copy)
    else:
        monkeypatch.setattr("core.files.replace_folder", lambda tmp, folder: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        choose_candidate(NAME, "tfidf")
    assert files_of(saved) == before and isinstance(load_folder(saved), TextClassifier)
    assert [p.name for p in saved.parent.iterdir()] == [NAME]  # the half-built folder is gone


def test_a_crash_while_saving_never_leaves_half_a_model(trained_tiny, tmp_path, monkeypatch):
    result, folder = trained_tiny
    target = Path(shutil.copytree(folder, tmp_path / "models" / "m"))
    before = files_of(target)
    tfidf = result.alternatives["tfidf"]
    monkeypatch.setattr(result.model, "path", result.model.path)  # restored after the test
    monkeypatch.setattr(tfidf, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("killed while saving")))
    with pytest.raises(OSError):
        result.save(target, overwrite=True)  # replacing a model: the old one stays whole
    assert files_of(target) == before and result.model.path == folder
    with pytest.raises(OSError):
        result.save(tmp_path / "models" / "new")  # a new model: nothing appears
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]


def test_listing_zip_and_cli_show_and_switch_the_candidates(saved, capsys):
    (info,) = list_models()
    assert (info.kind, info.candidates) == ("transformer", ("tfidf",))
    names = zipfile.ZipFile(BytesIO(zip_model(NAME))).namelist()
    assert f"{NAME}/candidates/tfidf/tfidf.safetensors" in names and f"{NAME}/model.safetensors" in names

    assert main(["choose", str(saved)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("The fine-tuned transformer (in place) [kind: transformer]  validation macro-F1 ") and "validation rows" in lines[0]
    assert f"test macro-F1 {macro_f1_of(saved):.3f}" in lines[0]
    assert lines[1].startswith("TF-IDF + logistic regression (kept) [kind: tfidf]") and f"test macro-F1 {macro_f1_of(saved / 'candidates' / 'tfidf'):.3f}" in lines[1]

    assert main(["choose", str(saved), "tfidf"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[0].startswith("TF-IDF + logistic regression (in place) [kind: tfidf]") and "choose" in out.err
    assert "You chose TF-IDF + logistic regression" in out.err and "the rule had saved the fine-tuned transformer" in out.err
    assert isinstance(load_folder(saved), TfidfClassifier)
    assert main(["choose", str(saved), "nope"]) == 2
    assert "the candidates kept are: transformer" in capsys.readouterr().err
    # A saved model's name works as a folder does (core.registry.find_model, as every --model), and
    # switching back is said in the words the person typed.
    assert main(["choose", NAME, "transformer"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[0].startswith("The fine-tuned transformer (in place)")
    assert f"python -m core choose {NAME} tfidf switches back" in out.err
    delete_model(NAME)  # the candidates go with the model
    assert not saved.exists() and list_models() == []


def test_models_page_switches_after_confirmation_and_the_active_model_follows(saved):
    from ui.state import get_model  # what every page predicts with (cached across reruns and sessions)

    assert isinstance(get_model(NAME), TextClassifier)
    at = open_models()
    at.selectbox(key="models_open").set_value(NAME).run()
    page = texts(at.markdown)
    assert "##### Candidates" in page and "in place" in page and "validation rows" in page
    assert frame_with(at, "base model").set_index("name").loc[NAME, "kept candidates"] == "TF-IDF + logistic regression"
    at.button(key="models_inspect_use_tfidf").click().run()
    assert "Every page and the CLI predict with it" in texts(at.warning)
    at.button(key="models_inspect_use_cancel").click().run()
    assert isinstance(load_folder(saved), TextClassifier) and "Every page" not in texts(at.warning)

    at.button(key="models_inspect_use_tfidf").click().run()
    at.button(key="models_inspect_use_confirm").click().run()
    assert not at.exception, at.exception
    assert isinstance(load_folder(saved), TfidfClassifier)
    assert "now predicts with TF-IDF + logistic regression" in texts(at.success)
    assert "your choice" in texts(at.markdown) and "the rule had saved the fine-tuned transformer" in texts(at.markdown)
    # The rule's account below it is said as the run's (walk r13: it argued for the model swapped out).
    account = next(m.value for m in at.markdown if "your choice" in m.value)
    assert "The run's own comparison, for the rule's choice: " in account
    table = frame_with(at, "base model").set_index("name")
    assert (table.loc[NAME, "kind"], table.loc[NAME, "kept candidates"]) == ("TF-IDF + logistic regression", "the fine-tuned transformer")
    assert at.session_state["active_model"] == NAME
    model = get_model(NAME)  # the model now in place, not the cached one
    assert isinstance(model, TfidfClassifier)
    assert model.predict_proba(PROBE) == pytest.approx(load_folder(saved).predict_proba(PROBE), abs=0)


def test_train_result_offers_the_candidate(saved):
    folder = jobs_root() / "20260101-000000-cccccc"
    folder.mkdir(parents=True)
    (folder / "request.json").write_text(json.dumps({"model_name": NAME, "created": time.time(), "config": {}}))
    write_state(folder, "done", message="Saved", model_path=str(model_path(NAME)))
    at = open_train()
    at.button(key="train_show_20260101-000000-cccccc").click().run()
    assert "##### Candidates" in texts(at.markdown)
    assert np.any([b.label == "Use TF-IDF + logistic regression instead" for b in at.button])
    at.button(key="train_results_use_tfidf").click().run()
    at.button(key="train_results_use_confirm").click().run()
    assert isinstance(load_folder(saved), TfidfClassifier)
    assert "You chose TF-IDF + logistic regression" in texts(at.markdown)


def test_on_a_team_server_only_ones_own_model_can_be_switched(tmp_path):
    from core import workspace
    from core.workspace import Identity, TeamSettings

    settings = TeamSettings(data_dir=tmp_path / "data", admins=frozenset({"boss@example.com"}))
    ana, ben = (Identity("https://idp.example", s, email=f"{s}@example.com") for s in ("ana-1", "ben-2"))
    spaces = {who.subject: workspace.for_identity(who, settings).ensure(who) for who in (ana, ben)}
    folders = [spaces["ana-1"].models / "churn", spaces["ben-2"].models / "churn", settings.data_dir / "team" / "models" / "shared"]
    for folder in folders:  # bare folders: a switch moves files, it never loads weights
        for kind, where in (("transformer", folder), ("tfidf", folder / "candidates" / "tfidf")):
            where.mkdir(parents=True)
            (where / "marketune.json").write_text(json.dumps({"kind": kind, "task": "classification"}))
    before = {folder: files_of(folder) for folder in folders}
    previous = workspace._session_lookup
    try:
        for who, ref, refusal in ((ana, f"{spaces['ben-2'].id}:churn", "another person's workspace"),
                                  (ana, "team:shared", "read-only"),
                                  (Identity("https://idp.example", "boss", email="boss@example.com", email_verified=True),
                                   f"{spaces['ana-1'].id}:churn", "admins may look")):
            ws = workspace.for_identity(who, settings).ensure(who)
            workspace.set_session_lookup(lambda ws=ws: ws)
            with pytest.raises(ValueError, match=refusal):
                choose_candidate(ref, "tfidf")
        assert {folder: files_of(folder) for folder in folders} == before
        ws = workspace.for_identity(ana, settings).ensure(ana)
        workspace.set_session_lookup(lambda: ws)
        assert choose_candidate("churn", "tfidf").kind == "tfidf"  # her own: switched
        assert json.loads((folders[0] / "marketune.json").read_text())["kind"] == "tfidf"
        assert files_of(folders[1]) == before[folders[1]]  # Ben's model of the same name is untouched
    finally:
        workspace.set_session_lookup(previous)
