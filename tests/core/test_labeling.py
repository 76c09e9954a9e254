import numpy as np
import pandas as pd
import pytest

from core.labeling import LabelStore, diverse_order, label_store, list_projects, uncertainty_ranking


class FixedModel:
    """A stand-in classifier whose probabilities are read from the text ("p=0.70 ...")."""

    task = "classification"
    classes_ = np.array(["negative", "positive"], dtype=object)
    input_columns = ["text"]

    def texts_from(self, df):
        return df["text"].fillna("").astype(str).tolist()

    def predict_proba(self, df, batch_size=64, on_batch=None):
        p = np.array([float(t.split()[0][2:]) for t in self.texts_from(df)])
        return np.column_stack([1 - p, p])


def test_a_coin_toss_ranks_above_a_confident_row():
    df = pd.DataFrame(
        {"text": ["p=0.99 love it", "p=0.50 it arrived", "p=0.05 broken", "p=0.60 okay I guess"], "id": [1, 2, 3, 4]},
        index=[10, 11, 12, 13],
    )
    ranked = uncertainty_ranking(FixedModel(), df, n=4)
    assert ranked["id"].tolist() == [2, 4, 3, 1]  # margins 0.0, 0.2, 0.9, 0.98
    assert ranked.index.tolist() == [11, 13, 12, 10]  # the caller's row index is kept
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert ranked["margin"].iloc[0] == pytest.approx(0.0)
    assert ranked["entropy"].iloc[0] == pytest.approx(1.0)
    assert ranked["confidence"].iloc[-1] == pytest.approx(0.99)
    assert ranked["predicted_label"].iloc[-1] == "positive"


def test_diversity_skips_near_duplicates():
    texts = [
        "p=0.50 free shipping on all summer dresses today",
        "p=0.51 free shipping on all summer dresses today",
        "p=0.52 free shipping on all summer dresses today",
        "p=0.60 the zipper broke after one wash",
        "p=0.70 lovely colour and fits well",
    ]
    df = pd.DataFrame({"text": texts})
    plain = uncertainty_ranking(FixedModel(), df, n=3, diversity=False)
    assert plain.index.tolist() == [0, 1, 2]  # three copies of one ad
    diverse = uncertainty_ranking(FixedModel(), df, n=3, diversity=True)
    assert diverse.index.tolist() == [0, 3, 4]
    # when only near-duplicates are left, they still fill the list (in order)
    assert uncertainty_ranking(FixedModel(), df, n=5).index.tolist() == [0, 3, 4, 1, 2]


def test_diverse_order_keeps_distinct_texts_in_order():
    texts = ["red shoes sale", "blue hat", "red shoes sale!", "green scarf"]
    assert diverse_order(np.arange(4), texts, 3).tolist() == [0, 1, 3]


def test_rows_without_text_are_skipped_and_errors_are_worded():
    df = pd.DataFrame({"text": ["p=0.5 a", "", None]})
    assert uncertainty_ranking(FixedModel(), df, n=5).index.tolist() == [0]
    with pytest.raises(ValueError, match="input column"):
        uncertainty_ranking(FixedModel(), pd.DataFrame({"review": ["x"]}))
    with pytest.raises(ValueError, match="at least 1"):
        uncertainty_ranking(FixedModel(), df, n=0)


def test_ranking_with_a_real_fewshot_model(tiny_model_dir):
    from core import TrainConfig
    from core.fewshot import train_fewshot
    from tests.conftest import make_sentiment_frame

    df = make_sentiment_frame(30)
    model = train_fewshot(df, TrainConfig(base_model=str(tiny_model_dir), max_length=32, method="fewshot"), steps=2).model
    pool = make_sentiment_frame(40, seed=5).drop(columns="label")
    ranked = uncertainty_ranking(model, pool, n=10)
    assert len(ranked) == 10 and ranked["margin"].is_monotonic_increasing is not None
    margins = np.abs(np.diff(model.predict_proba(pool), axis=1))[:, 0]
    assert ranked["margin"].iloc[0] == pytest.approx(margins.min())  # the least sure row comes first


# --------------------------------------------------------------------------- LabelStore


def upload_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["love it", "=cmd|' /C calc'!A0", "arrived late", "great fit", "meh"],
            "label": ["positive", "negative", None, "", "  "],
            "channel": ["email", "social", "email", "social", "email"],
        }
    )


def test_labels_survive_a_new_session(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    store = label_store("spring-campaign").create(upload_frame(), ["text"], "label")
    assert store.counts() == {"labeled": 2, "unlabeled": 3, "positive": 1, "negative": 1}
    assert store.set_labels({2: "negative", 3: "positive"}) == 2
    del store  # the browser tab closes; a new session opens the project by name

    again = label_store("spring-campaign")
    assert again.exists and list_projects() == ["spring-campaign"]
    assert again.labeled()["label"].to_dict() == {0: "positive", 1: "negative", 2: "negative", 3: "positive"}
    assert again.unlabeled().index.tolist() == [4]
    assert again.frame()["channel"].tolist() == ["email", "social", "email", "social", "email"]
    project = tmp_path / "labels" / "spring-campaign"
    assert (project / "data.csv").is_file()
    # Owner-only, under this process's umask 022 too: the rows are customer data.
    modes = {p.name: p.stat().st_mode & 0o777 for p in (project, *project.iterdir())}
    assert modes == {"spring-campaign": 0o700, "data.csv": 0o600, "meta.json": 0o600}


def test_update_clear_append_and_export(tmp_path):
    store = LabelStore(tmp_path / "p").create(upload_frame(), ["text"], "label")
    assert store.set_labels({0: "positive"}) == 0  # unchanged
    assert store.set_labels({0: ""}) == 1  # cleared
    assert 0 in store.unlabeled().index
    ids = store.append(pd.DataFrame({"text": ["new one", "another"], "label": ["positive", None]}))
    assert ids == [5, 6]
    assert store.frame().loc[6, "label"] == "" and store.frame().loc[5, "channel"] == ""
    with pytest.raises(ValueError, match="not in this labelling project"):
        store.set_labels({99: "positive"})
    exported = pd.read_csv(pd.io.common.BytesIO(store.export_csv()), keep_default_na=False)
    assert list(exported.columns) == ["text", "label", "channel"]  # no internal row id
    assert exported["label"].tolist() == ["negative", "positive"]
    assert exported["text"].iloc[0].startswith("'=")  # spreadsheet formula neutralised
    assert len(pd.read_csv(pd.io.common.BytesIO(store.export_csv(labeled_only=False)))) == 7


def test_numeric_labels_with_gaps_stay_one_class(tmp_path):
    df = pd.DataFrame({"text": list("abcd"), "label": [1.0, np.nan, 0.0, 1.0]})
    store = LabelStore(tmp_path / "p").create(df, ["text"], "label")
    assert store.classes() == ["0", "1"]


def test_create_refuses_bad_input(tmp_path):
    store = LabelStore(tmp_path / "p").create(upload_frame(), ["text"], "label")
    with pytest.raises(ValueError, match="already exists"):
        store.create(upload_frame(), ["text"], "label")
    with pytest.raises(ValueError, match="not in the data"):
        LabelStore(tmp_path / "q").create(upload_frame(), ["review"], "label")
    with pytest.raises(ValueError, match="not allowed"):
        label_store("../escape")
    fresh = LabelStore(tmp_path / "r").create(upload_frame().drop(columns="label"), ["text"], "label")
    assert fresh.counts()["unlabeled"] == 5


def test_label_counts_are_per_class_or_per_tag(tmp_path):
    single = LabelStore(tmp_path / "single").create(upload_frame(), ["text"], "label")
    assert single.label_counts() == ({"positive": 1, "negative": 1}, None)
    labels = ["anger|joy", "anger", "joy|disgust|anger", "", "joy", "disgust"]
    frame = pd.DataFrame({"text": list("abcdef"), "label": labels})
    tagged = LabelStore(tmp_path / "tags").create(frame, ["text"], "label")
    per_tag, separator = tagged.label_counts()
    truth = pd.Series([t for cell in labels if cell for t in cell.split("|")]).value_counts().to_dict()
    assert separator == "|" and per_tag == truth == {"anger": 3, "joy": 3, "disgust": 2}


def test_first_tags_saved_by_the_label_page_count_per_tag_before_detection_can_tell(tmp_path):
    """The walk's case: "anger" three times and "anger|neutral" once read as two classes to
    core.multilabel.detect (a tag must recur); tags saved as tags (``tag_sep``) count per tag."""
    from core.multilabel import detect

    frame = pd.DataFrame({"text": [f"comment {i}" for i in range(6)], "label": [""] * 6})
    store = LabelStore(tmp_path / "first").create(frame, ["text"], "label")
    picks = {0: "anger", 1: "anger", 2: "anger", 3: "anger|neutral"}
    assert detect(pd.Series(list(picks.values())), "label") is None  # detection alone cannot tell yet
    assert store.set_labels(picks, tag_sep="|") == 4
    per_tag, separator = store.label_counts()
    truth = pd.Series(list(picks.values())).str.split("|").explode().value_counts().to_dict()
    assert separator == "|" and per_tag == truth == {"anger": 4, "neutral": 1}
    assert LabelStore(tmp_path / "first").tag_separator() == "|"  # kept in meta.json for the next session
    plain = LabelStore(tmp_path / "plain").create(frame, ["text"], "label")
    plain.set_labels(picks)  # one label per row: "anger|neutral" stays a class of its own
    assert plain.label_counts() == ({"anger": 3, "anger|neutral": 1}, None)


def test_a_project_uploaded_with_a_few_tag_rows_counts_per_tag_from_the_start(tmp_path):
    """Walk finding: three pre-labelled rows "food|price", "food", "service" counted "food|price" as a
    label of its own until tags were saved on the page (detection wants tags that recur). The
    project is a tag project from its creation: counted (and trained) per tag."""
    from core.multilabel import detect

    labels = ["food|price", "food", "service", "", "", ""]
    frame = pd.DataFrame({"text": [f"review {i}" for i in range(6)], "label": labels})
    assert detect(pd.Series(labels[:3]), "label") is None  # detection alone cannot tell yet
    store = LabelStore(tmp_path / "tags").create(frame, ["text"], "label")
    truth = pd.Series([t for cell in labels if cell for t in cell.split("|")]).value_counts().to_dict()
    assert store.label_counts() == (truth, "|") and truth == {"food": 2, "price": 1, "service": 1}
    assert store.counts() == {"labeled": 3, "unlabeled": 3, **truth}
    assert LabelStore(tmp_path / "tags").meta["label_sep"] == "|"  # kept for the next session and the training
    plain = LabelStore(tmp_path / "plain").create(frame.assign(label=["a", "b", "a", "", "", ""]), ["text"], "label")
    assert plain.label_counts() == ({"a": 2, "b": 1}, None) and "label_sep" not in plain.meta
    # One joined cell among many single labels (under core.multilabel.MIN_SEVERAL_SHARE) is no tag project.
    rare = pd.DataFrame({"text": [f"r{i}" for i in range(60)], "label": ["a", "b"] * 29 + ["a|b", ""]})
    assert LabelStore(tmp_path / "rare").create(rare, ["text"], "label").label_counts()[1] is None


def test_the_label_model_reads_embeddings_as_the_check_does_and_falls_back_to_tfidf():
    from core.labeling import label_model_features

    texts = ["good", "bad", "fine"]
    mode, emb, why = label_model_features(texts, lambda t: np.eye(3)[: len(t)])
    assert mode == "both" and emb.shape == (3, 3) and why == ""
    assert label_model_features(texts, None) == ("tfidf", None, "")

    def missing(t):
        raise OSError("minilm-en is not installed")

    mode, emb, why = label_model_features(texts, missing)
    assert (mode, emb) == ("tfidf", None) and "minilm-en is not installed" in why and "TF-IDF only" in why
    assert label_model_features(texts, lambda t: np.zeros((2, 4)))[0] == "tfidf"  # one vector short
