"""Every kind of export issue 27 lists, built here, read through every entry point: the rows each
read are compared with one another and with the truth, the rows written into the file.

Entry points: the Python API (core.read_table, core.read_csv), the streamed reader of prediction
and the Ray path (core.reading.open_stream + pandas_chunks), `python -m core predict|evaluate|check`,
the HTTP API (the rows the file holds, posted as JSON: the same answers as the CLI's file), the
Train page's upload and the Dashboard's (AppTest). Refusals (header only, duplicate names, a
missing column, formulas without saved results) give one message through all of them.
Files of tests/data/faults3 and the kinds' deeper checks: tests/test_faults.py.
"""

from __future__ import annotations

import datetime
import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sklearn.metrics import accuracy_score

import core
from core.serve import create_app
from tests.core.test_faults import cell, gz, review_rows, run_cli, streamed, table_rows, xlsx_bytes, zipped
from tests.ui.test_page_train_data import put

HEADER = ["text", "label"]


def csv_text(rows: list[list[str]], newline: str = "\n", bom: bool = False) -> str:
    body = newline.join([",".join(HEADER), *(f'"{a}",{b}' for a, b in rows)]) + newline
    return ("\ufeff" if bom else "") + body


def workbook(sheets: dict[str, list[list]], merged: dict[str, list[str]] | None = None) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for ref in (merged or {}).get(name, []):
            sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def merged_labels(rows: list[list[str]]) -> bytes:
    """Labels written once per pair of rows, the pair's label cells merged (B2:B3, B4:B5, ...)."""
    cells = [HEADER] + [[text, label if i % 2 == 0 else None] for i, (text, label) in enumerate(rows)]
    refs = [f"B{r}:B{r + 1}" for r in range(2, len(rows) + 2, 2)]
    return workbook({"Reviews": cells}, {"Reviews": refs})


def build(kind: str) -> tuple[str, bytes, list[list[str]]]:
    """(file name, bytes, the rows written: text and label) of one kind."""
    rows = review_rows(14, seed=len(kind))
    if kind == "merged label cells":
        rows = [[text, ["positive", "negative"][i // 2 % 2]] for i, (text, _) in enumerate(rows)]  # one label a pair
        return "merged.xlsx", merged_labels(rows), rows
    if kind == "concatenated, BOM and repeated header":
        more = review_rows(5, seed=99)
        return "joined.csv", (csv_text(rows, bom=True) + csv_text(more, bom=True)).encode("utf-8"), rows + more
    data = {
        "xlsx": ("reviews.xlsx", xlsx_bytes([HEADER, *rows])),
        "CR-only line ends": ("mac.csv", csv_text(rows, "\r").encode("cp1252")),
        "gzip": ("reviews.csv.gz", gz(csv_text(rows).encode())),
        "zip": ("reviews.zip", zipped({"export/reviews.csv": csv_text(rows).encode()})),
        "JSON": ("reviews.json", json.dumps([dict(zip(HEADER, r)) for r in rows]).encode()),
        "JSON Lines": ("reviews.jsonl", "".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in rows).encode()),
        "several sheets": ("book.xlsx", workbook({"About": [["About this export"], ["Owner", "Marketing"]],
                                                  "Reviews": [HEADER, *rows]})),
        "title block": ("titled.xlsx", xlsx_bytes([["Q3 review export"], ["Exported", datetime.datetime(2024, 5, 1)],
                                                   [], HEADER, *rows])),
        # walk-c: a CSV, not a workbook, with a title block (read right by every entry point, issue 27)
        "title block (csv)": ("title.csv", ("Report title\ngenerated 2026\n\n" + csv_text(rows)).encode()),
    }[kind]
    return *data, rows


KINDS = ["xlsx", "CR-only line ends", "gzip", "zip", "JSON", "JSON Lines", "several sheets", "title block",
         "title block (csv)", "merged label cells", "concatenated, BOM and repeated header"]


@pytest.fixture(scope="module")
def api(trained_tiny):
    return TestClient(create_app(trained_tiny[1]))


@pytest.mark.parametrize("kind", KINDS)
def test_every_entry_point_reads_the_rows_written(kind, tmp_path, trained_tiny, api, capsys):
    name, data, rows = build(kind)
    path = tmp_path / name
    path.write_bytes(data)
    truth = (HEADER, [tuple(cell(v) for v in r) for r in rows])
    model = str(trained_tiny[1])
    read = {"core.read_table": table_rows(core.read_table(path).frame),
            "core.read_csv": table_rows(core.read_csv(path)),
            "stream (predict, Ray)": table_rows(streamed(path, columns=["text"]))}
    rc, _, err = run_cli(capsys, "predict", "--model", model, "--data", str(path), "--out", str(tmp_path / "o.csv"), "--raw")
    assert rc == 0, err
    scored = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    read["python -m core predict"] = table_rows(scored[HEADER])
    for entry, got in read.items():
        assert got == truth, entry
    # The HTTP API, given the rows written, answers as the CLI did for the file.
    answers = api.post("/predict", json={"rows": [{"text": t} for t, _ in rows]}).json()["predictions"]
    assert [a["label"] for a in answers] == scored["predicted_label"].tolist()
    rc, stdout, err = run_cli(capsys, "evaluate", "--model", model, "--data", str(path), "--label-col", "label")
    metrics = json.loads(stdout.strip().splitlines()[-1])
    assert rc == 0 and metrics["rows_skipped"] == 0, err
    assert metrics["accuracy"] == pytest.approx(accuracy_score([b for _, b in rows], scored["predicted_label"]))
    rc, _, err = run_cli(capsys, "check", "--data", str(path), "--text-col", "text", "--label-col", "label",
                         "--features", "tfidf", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 0, err
    issues = pd.read_csv(tmp_path / "ISSUES.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for _, issue in issues.iterrows():  # every row an issue names is the row written there
        assert issue["text"] == rows[int(issue["row"])][0], issue


@pytest.mark.parametrize("kind", KINDS)
def test_the_pages_read_the_rows_written(kind, models_dir):
    from tests.ui.test_page_dashboard import open_page as open_dashboard
    from tests.ui.test_page_dashboard import set_and_run
    from tests.ui.test_page_train import open_train
    from ui.dashboard import cached_table

    name, data, rows = build(kind)
    truth = (HEADER, [tuple(cell(v) for v in r) for r in rows])
    at = put(open_train(), name, data)
    assert not at.error, [e.value for e in at.error]
    assert table_rows(at.session_state["train_data"].frame) == truth
    dash = open_dashboard()
    set_and_run(dash, "radio", "dash_source", "upload")
    dash.file_uploader(key="dash_upload").set_value((name, data, "application/octet-stream")).run()
    assert not dash.exception, [e.message for e in dash.exception]
    shown = cached_table(dash.session_state["dash_upload_key"], b"")  # the frame the page read (its cache)
    assert table_rows(shown) == truth


def header_only() -> dict[str, tuple[str, bytes]]:
    return {"csv": ("h.csv", b"text,label\n"), "xlsx": ("h.xlsx", xlsx_bytes([HEADER])),
            "jsonl": ("h.jsonl", b"\n"), "zip": ("h.zip", zipped({"h.csv": b"text,label\r\n"}))}


REFUSED = {
    "header only (csv)": (*header_only()["csv"], "header row but no data rows"),
    "header only (xlsx)": (*header_only()["xlsx"], "header row but no data rows"),
    "header only (zip)": (*header_only()["zip"], "header row but no data rows"),
    "duplicate names (csv)": ("d.csv", b"text,label,text\na,positive,b\n", "duplicated name(s) ['text']"),
    "duplicate names (json)": ("d.json", b'[{"text": "a", "label": "x", " text": "b"}]', "duplicated name(s) ['text']"),
    "missing column (closest match)": ("m.csv", b"Review Text,label\ngreat,positive\n",
                                       "Closest match: 'text' -> 'Review Text'"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_a_refused_file_gets_one_message_everywhere(kind, tmp_path, trained_tiny, models_dir, api, capsys):
    from core.predict import predict_csv
    from tests.ui.test_page_dashboard import open_page as open_dashboard
    from tests.ui.test_page_dashboard import set_and_run
    from tests.ui.test_page_train import open_train, texts

    name, data, message = REFUSED[kind]
    path = tmp_path / name
    path.write_bytes(data)
    model = str(trained_tiny[1])
    with pytest.raises(ValueError, match="Closest match" if "missing" in kind else None) as info:
        predict_csv(core.load_folder(model), path, tmp_path / "out.csv")
    assert message in str(info.value) and not (tmp_path / "out.csv").exists()
    for command in (["predict", "--model", model, "--out", str(tmp_path / "o.csv")],
                    ["evaluate", "--model", model, "--label-col", "label"],
                    ["check", "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "I.csv")],
                    ["train", "--text-col", "text", "--label-col", "label", "--out", str(tmp_path / "m")]):
        rc, _, err = run_cli(capsys, *command, "--data", str(path))
        assert rc == 2 and message in err and "Traceback" not in err, (command, err)
    if "missing" in kind:  # the HTTP API, sent the file's rows as they are; the pages offer the file's columns
        answer = api.post("/predict", json={"rows": [{"Review Text": "great", "label": "positive"}]})
        assert answer.status_code == 422 and message in answer.json()["detail"], answer.json()
        return
    at = put(open_train(), name, data)
    assert message in texts(at.error), texts(at.error)
    dash = open_dashboard()
    set_and_run(dash, "radio", "dash_source", "upload")
    dash.file_uploader(key="dash_upload").set_value((name, data, "application/octet-stream")).run()
    assert not dash.exception and message in texts(dash.error), texts(dash.error)


@pytest.mark.parametrize("kind", ["xlsx", "JSON Lines"])  # CSV: tests/test_faults_pages.py (t06)
def test_excel_serial_dates_read_as_dates_on_the_dashboard_whatever_the_file(kind):
    """Excel serial day numbers (45292 = 2024-01-01, the 1900 system) in a date column: the
    Dashboard maps the column, reads every row and says the numbers were read as Excel dates;
    the dates of the frame the page read are Excel's, counted here from 1899-12-30."""
    from core.dates import parse_dates
    from tests.ui.test_page_dashboard import open_page as open_dashboard
    from tests.ui.test_page_dashboard import rows_shown, set_and_run
    from tests.ui.test_page_train import texts
    from ui.dashboard import cached_table

    rows = [[45292 + 3 * i, text, label] for i, (text, label) in enumerate(review_rows(30, seed=6))]
    header = ["date", "text", "predicted_label"]
    name, data = {"xlsx": ("d.xlsx", xlsx_bytes([header, *rows])),
                  "JSON Lines": ("d.jsonl", "".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows).encode())}[kind]
    at = open_dashboard()
    set_and_run(at, "radio", "dash_source", "upload")
    at.file_uploader(key="dash_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="dash_map_date").value == "date" and rows_shown(at) == len(rows)
    shown = "\n".join(texts(getattr(at, k)) for k in ("warning", "info", "caption", "markdown"))
    assert "Excel serial dates" in shown and "too small" not in shown
    parsed, _ = parse_dates(cached_table(at.session_state["dash_upload_key"], b"")["date"])
    assert parsed.dt.date.tolist() == [datetime.date(1899, 12, 30) + datetime.timedelta(days=d) for d, _, _ in rows]


def test_a_streamed_file_with_a_value_past_the_header_is_refused_like_a_loaded_one(tmp_path):
    """Walk finding: `predict` read "I love this phone, works great,email" under `text,channel`
    as text "I love this phone" (pandas took the extra field for an index and dropped one value,
    with a warning only). Streaming now refuses it as loading does, naming the row; a trailing
    empty field is still fine."""
    from core import read_csv
    from core.reading import open_stream, pandas_chunks

    bad = tmp_path / "bad.csv"
    bad.write_text("text,channel\nI love this phone, works great,email\nbad battery,social\n")
    with pytest.raises(ValueError, match=r"Row 2 of the file has 3 fields but the header names 2") as streamed:
        list(pandas_chunks(open_stream(bad), 100))
    with pytest.raises(ValueError) as loaded:
        read_csv(bad)
    assert str(streamed.value) == str(loaded.value)
    fine = tmp_path / "fine.csv"
    fine.write_text("text,channel,\ngood phone,email,\nbad battery,social,\n")
    rows = pd.concat(list(pandas_chunks(open_stream(fine), 100)))
    assert rows["text"].tolist() == ["good phone", "bad battery"] and rows["channel"].tolist() == ["email", "social"]
