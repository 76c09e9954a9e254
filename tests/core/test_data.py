import io
import zipfile

import pandas as pd
import pytest

from core import TrainConfig, build_texts, load_csv, read_csv, split_indices, validate_mapping
from core.reading import decode_report
from core.words import cjk_share

# ---------------------------------------------------------------- reading CSVs


def test_reads_utf8_with_bom_and_reports_encoding():
    loaded = load_csv("text,label\ncafé,1\nnaïve,0\n".encode("utf-8-sig"))
    assert loaded.encoding == "utf-8-sig"
    assert list(loaded.frame.columns) == ["text", "label"]
    assert loaded.frame["text"].tolist() == ["café", "naïve"]


def test_reads_gbk_chinese():
    raw = "评论,标签\n质量很好，非常满意,正面\n太差了，退货,负面\n".encode("gbk")
    loaded = load_csv(raw)
    assert loaded.encoding == "gb18030"
    assert loaded.frame["评论"].tolist() == ["质量很好，非常满意", "太差了，退货"]


def test_reads_cp1252_not_mistaken_for_gbk():
    raw = "text,label\nCafé crème was great,1\nMüller’s service — awful,0\n".encode("cp1252")
    loaded = load_csv(raw)
    assert loaded.encoding == "cp1252"
    assert loaded.frame["text"].tolist()[0] == "Café crème was great"


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_detects_delimiter(delimiter):
    raw = f"text{delimiter}label\nhello, world{delimiter}1\nbye{delimiter}0\n"
    if delimiter == ",":
        raw = 'text,label\n"hello, world",1\nbye,0\n'
    loaded = load_csv(raw.encode())
    assert loaded.delimiter == delimiter
    assert loaded.frame["text"].tolist() == ["hello, world", "bye"]


def test_one_column_file_with_tabs_in_cells_is_not_read_as_tsv():
    # The newcomer's file: one text column, one cell starting with a tab (pandas' "C error" before).
    texts = ["@user loved it, thanks!", "\tTabbed start", "plain good product", "two\ttabs\there"]
    raw = "text\n" + "\n".join(f'"{t}"' if "," in t else t for t in texts) + "\n"
    loaded = load_csv(raw.encode())
    assert loaded.delimiter == ","
    assert list(loaded.frame.columns) == ["text"]
    assert loaded.frame["text"].tolist() == texts


def test_one_column_file_where_most_cells_hold_one_tab_is_not_read_as_tsv():
    # csv.Sniffer picks tab here (19 of 21 lines have one); the header has none.
    texts = [f"word{i}\tmore" for i in range(19)] + ["x\ty\tz"]
    loaded = load_csv(("text\n" + "\n".join(texts) + "\n").encode())
    assert loaded.delimiter == ","
    assert loaded.frame["text"].tolist() == texts


def test_uneven_tab_counts_give_way_to_a_delimiter_that_fits():
    # The header splits on tab and on ';', but tab gives some rows more fields than the header.
    rows = [f"c{i}\tnote{i};pos" for i in range(10)] + ["c10\tnote\twith tab;neg"]
    loaded = load_csv(("customer\tnote;label\n" + "\n".join(rows) + "\n").encode())
    assert loaded.delimiter == ";"
    assert loaded.frame["label"].tolist() == ["pos"] * 10 + ["neg"]


def test_real_tsv_with_commas_and_a_short_row_stays_tsv():
    raw = "text\tlabel\tscore\nhello, world\tpos\t1\nbye, then\tneg\t0\nno score\tpos\n"
    loaded = load_csv(raw.encode())
    assert loaded.delimiter == "\t"
    assert loaded.frame["text"].tolist() == ["hello, world", "bye, then", "no score"]
    assert loaded.frame["label"].tolist() == ["pos", "neg", "pos"]


def test_quoted_newlines_stay_in_one_row():
    df = read_csv(b'text,label\n"line one\nline two",1\nplain,0\n')
    assert len(df) == 2
    assert df["text"][0] == "line one\nline two"


def test_na_text_is_not_treated_as_missing():
    df = read_csv(b"text,label\nNA,1\nNone,0\n,1\n")
    assert df["text"].tolist()[:2] == ["NA", "None"]
    assert pd.isna(df["text"][2])


def test_empty_file_refused():
    with pytest.raises(ValueError, match="empty"):
        read_csv(b"  \n")


def test_header_only_refused():
    with pytest.raises(ValueError, match="header row but no data rows"):
        read_csv(b"text,label\n")


def test_xlsx_renamed_csv_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<xml/>")
    with pytest.raises(ValueError, match="Excel workbook"):
        read_csv(buffer.getvalue())


def test_binary_refused():
    with pytest.raises(ValueError, match="binary"):
        read_csv(bytes(range(256)) * 10)


def test_duplicate_column_names_refused():
    with pytest.raises(ValueError, match=r"duplicated name\(s\) \['text'\]"):
        read_csv(b"text,text,label\na,b,1\n")


def test_row_limit():
    raw = "text,label\n" + "".join(f"t{i},1\n" for i in range(11))
    with pytest.raises(ValueError, match="more than 10 rows"):
        read_csv(raw.encode(), max_rows=10)


def test_byte_limit():
    with pytest.raises(ValueError, match="limit is"):
        read_csv(b"text,label\n" + b"x,1\n" * 100, max_bytes=50)


def test_byte_limit_on_path(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"text,label\n" + b"x,1\n" * 100)
    with pytest.raises(ValueError, match="limit is"):
        read_csv(path, max_bytes=50)


def test_decode_latin1_fallback():
    decoded = decode_report(b"caf\xe9 \x81")  # 0x81 is undefined in cp1252
    assert decoded.encoding == "latin-1"
    assert decoded.text.startswith("café")


# ---------------------------------------------------------------- mapping validation


def test_mapping_missing_column():
    df = pd.DataFrame({"text": ["a", "b"], "label": [1, 0]})
    report = validate_mapping(df, TrainConfig(text_columns=("review",), label_column="label"))
    assert not report.ok
    assert "Column 'review' is not in the file" in report.errors_for("text_columns")[0]


def test_mapping_single_class_label():
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": ["yes"] * 3})
    report = validate_mapping(df, TrainConfig())
    assert report.errors_for("label_column") == [
        "Column 'label' has 1 distinct value ('yes'); training needs at least 2 classes."
    ]


def test_mapping_names_the_class_too_small():
    df = pd.DataFrame({"text": list("abcdefg"), "label": ["a"] * 5 + ["rare"] * 2})
    report = validate_mapping(df, TrainConfig())
    assert any("Class 'rare' has 2 rows; each class needs at least 3" in m for m in report.errors_for("label_column"))
    report = validate_mapping(df.iloc[:6], TrainConfig())  # one 'rare' row: in the singular (walk: "1 rows")
    assert any("Class 'rare' has 1 row; each class needs at least 3" in m for m in report.errors_for("label_column"))


def test_mapping_counts_dropped_rows():
    df = pd.DataFrame({"text": ["a", None, "c", "d", " ", "f", "g", "h", "i"], "label": ["x", "y", None, "x", "y", "y", "x", "y", "y"]})
    report = validate_mapping(df, TrainConfig())
    assert report.dropped == {"no text": 2, "no label": 1}
    assert report.n_rows_used == 6
    assert report.ok


def test_mapping_suggests_regression_for_many_numbers():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(60)], "label": [i * 0.37 for i in range(60)]})
    report = validate_mapping(df, TrainConfig())
    assert report.suggested_task == "regression"
    assert "regression" in report.errors_for("task")[0]
    assert validate_mapping(df, TrainConfig(task="regression")).ok


def test_mapping_regression_drops_non_numbers():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(12)], "label": ["1.5"] * 10 + ["n/a", "2"]})
    report = validate_mapping(df, TrainConfig(task="regression"))
    assert report.dropped == {"label is not a number": 1}
    assert report.n_rows_used == 11


def test_mapping_mostly_empty_text():
    df = pd.DataFrame({"text": ["a", None, None, None], "label": [1, 0, 1, 0]})
    report = validate_mapping(df, TrainConfig())
    assert "expected mostly non-empty text" in report.errors_for("text_columns")[0]


def test_mapping_bad_split_values():
    df = pd.DataFrame({"text": list("abcdef"), "label": [0, 1] * 3, "split": ["train", "test", "dev"] * 2})
    report = validate_mapping(df, TrainConfig(split_column="split"))
    assert "found ['dev']" in report.errors_for("split_column")[0]


# ---------------------------------------------------------------- model input


def test_build_texts_single_column_is_raw_text():
    df = pd.DataFrame({"review": ["Love  it\nreally", "Meh"]})
    assert build_texts(df, ["review"]) == ["Love it really", "Meh"]


def test_build_texts_with_profile_columns_is_deterministic():
    df = pd.DataFrame({"age": [34, None], "department": ["Dresses", "Tops"], "title": ["Nice", None], "review": ["Love it", "Too small"]})
    texts = build_texts(df, ["title", "review"], ["age", "department"])
    assert texts == [
        "age: 34 | department: Dresses | title: Nice | review: Love it",
        "department: Tops | review: Too small",
    ]


def test_build_texts_formats_numbers():
    df = pd.DataFrame({"x": [1.0, 2.5, 1234567.0, 0.000123456], "t": ["a"] * 4})
    assert build_texts(df, ["t"], ["x"]) == ["x: 1 | t: a", "x: 2.5 | t: a", "x: 1234567 | t: a", "x: 0.0001235 | t: a"]


def test_cjk_share():
    assert cjk_share(["这个产品很好"]) == 1.0
    assert cjk_share(["great product"]) == 0.0
    assert cjk_share(["good 很好 ok"]) == 2 / 8


# ---------------------------------------------------------------- splits


def test_split_is_stratified_and_deterministic():
    labels = ["a"] * 50 + ["b"] * 20 + ["c"] * 3
    first = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=7)
    second = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=7)
    other = split_indices(labels, val_fraction=0.1, test_fraction=0.2, seed=8)
    for name in first:
        assert first[name].tolist() == second[name].tolist()
    assert first["test"].tolist() != other["test"].tolist()
    all_rows = sorted(sum((v.tolist() for v in first.values()), []))
    assert all_rows == list(range(len(labels)))
    for name in ("train", "validation", "test"):
        assert {labels[i] for i in first[name]} == {"a", "b", "c"}
    assert len(first["test"]) == 10 + 4 + 1
