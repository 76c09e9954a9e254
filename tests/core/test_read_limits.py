"""What reading one person's file may cost (core/limits.py: ReadLimits and its checks), checked
before the costly work, through core's readers, the CLI and a page: the longest cell, the widest
row, a workbook's unpacked size and packing ratio, and a sparse sheet's table size."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import core.data
import core.limits
import core.predict
from core.cli import main as cli
from core.limits import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    ReadLimitError,
    ReadLimits,
    check_csv_file,
    scan_csv,
    sheet_rows,
)
from core.predict import predict_csv
from core.reading import count_rows, load_csv, open_stream, read_head, read_table, sheet_names
from core.workspace import TeamSettings, WorkspaceError
from tests.ui.test_page_predict import registry  # noqa: F401 (a fixture)
from tests.ui.test_page_train import texts

ROOT = Path(__file__).resolve().parents[2]
FAULTS = Path("/work/shared/data/faults")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def long_cell_csv(cell_chars: int, row: int = 3) -> bytes:
    """A text,label CSV whose data row ``row - 1`` (file row ``row``, the header is 1) holds a
    cell of ``cell_chars`` characters; the other cells are short."""
    lines = ["text,label"] + [f"review {i},pos" for i in range(1, 6)]
    lines[row - 1] = "x" * cell_chars + ",neg"
    return ("\n".join(lines) + "\n").encode()


def wide_csv(columns: int) -> bytes:
    return (",".join(f"c{i}" for i in range(columns)) + "\n" + ",".join("1" * columns) + "\n").encode()


def no_pandas_parse(monkeypatch) -> None:
    """Make any pandas CSV or Excel parse in core fail the test: a refusal must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("pandas was asked to parse a file over a limit")
    monkeypatch.setattr(core.data.pd, "read_csv", refuse)
    monkeypatch.setattr(core.data.pd, "ExcelFile", refuse)


def workbook(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def workbook_with_cell(text: str) -> bytes:
    """A text,label workbook whose row 2 holds ``text`` as written into the sheet's XML (Excel and
    openpyxl cut a cell at 32,767 characters, so a longer one is always a crafted file)."""
    made = zipfile.ZipFile(io.BytesIO(workbook([["text", "label"], ["PLACEHOLDER", "pos"], ["short", "neg"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as crafted:
        for member in made.infolist():
            body = made.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                assert b"PLACEHOLDER" in body
                body = body.replace(b"PLACEHOLDER", text.encode())
            crafted.writestr(member, body)
    return out.getvalue()


# ---------------------------------------------------------------------------- the CSV scan


def csv_truth(text: str, delimiter: str) -> tuple[int, int]:
    """(longest field as written, widest row) by the csv module: the independent truth."""
    def written(value: str) -> int:
        quoted = any(c in value for c in (delimiter, '"', "\n", "\r"))
        return len(value) + (2 + value.count('"') if quoted else 0)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    longest = max((2 if row == [""] else written(v)) for row in rows for v in row)
    return longest, max(len(row) for row in rows)


def test_the_byte_scan_sees_the_fields_the_csv_module_parses():
    rng = random.Random(7)
    alphabet = 'ab é中,;"\n\r\t|'
    for trial in range(60):
        delimiter = rng.choice(",;\t|")
        rows = [["".join(rng.choices(alphabet, k=rng.randint(0, 25))) for _ in range(rng.randint(1, 6))]
                for _ in range(rng.randint(1, 30))]
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
        text = buffer.getvalue()
        raw = text.encode()
        for size in (7, 1 << 20):  # fields, quotes and UTF-8 characters cut across chunks
            shape = scan_csv([raw[i:i + size] for i in range(0, len(raw), size)], delimiter,
                             limits=ReadLimits(max_cell_chars=10**9, max_columns=10**9))
            assert shape.regular, (trial, text)
            assert (shape.longest_cell, shape.widest) == csv_truth(text, delimiter), (trial, size, text)


def test_a_stray_quote_falls_back_to_the_csv_module_and_the_numbers_stay_right(tmp_path):
    # '5" screen': a quote inside an unquoted cell is text; quote parity alone would merge the
    # rows after it into one cell and refuse the file.
    text = 'text,label\n5" screen,pos\n' + "".join(f"row {i},neg\n" for i in range(50)) + '"with, comma",pos\n'
    path = tmp_path / "stray.csv"
    path.write_text(text)
    assert not scan_csv([text.encode()], ",").regular
    check_csv_file(path, "utf-8", ",", ReadLimits(max_cell_chars=12, max_columns=2))  # the longest is 11
    with pytest.raises(ReadLimitError, match="a cell of 11 characters on row 53"):
        check_csv_file(path, "utf-8", ",", ReadLimits(max_cell_chars=10))
    assert len(load_csv(path, limits=ReadLimits(max_cell_chars=12)).frame) == 52


def test_an_unclosed_quote_is_named_with_its_row(monkeypatch):
    raw = b'text,label\nfine,pos\n"never closed,neg\n' + b"more text,pos\n" * 200
    with pytest.raises(ReadLimitError, match="The quote opened on row 3 is never closed, so the rest of the file"):
        load_csv(raw, limits=ReadLimits(max_cell_chars=1000))
    monkeypatch.setattr(core.limits, "SCAN_CHUNK_BYTES", 1000)  # the scan stops at the first chunk over the limit
    with pytest.raises(ReadLimitError, match="a cell of at least [0-9,]+ characters on row 3.*The quote opened on row "
                                             "3 is still open there"):
        load_csv(raw, limits=ReadLimits(max_cell_chars=1000))


# ---------------------------------------------------------------------------- core's readers


def test_a_long_cell_is_refused_before_pandas_parses_with_the_limit_and_where_it_is_set(monkeypatch):
    raw = long_cell_csv(2_000_000)
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError) as refused:
        load_csv(raw, limits=ReadLimits(max_cell_chars=1_000_000))
    message = str(refused.value)
    assert "a cell of 2,000,000 characters on row 3 (the header is row 1)" in message
    assert "the limit here is 1,000,000 characters per cell (it is MAX_CELL_CHARS in core/limits.py)" in message
    server = ReadLimits(max_cell_chars=1_000_000, from_server_settings=True)
    with pytest.raises(ReadLimitError, match=r"max_cell_chars under \[marketune\] in .streamlit/secrets.toml"):
        read_table(raw, "big.csv", limits=server)


def test_the_r12_fault_files_long_cell_is_well_inside_the_default():
    # r12 holds a 150,000-character cell that must still be read (and written back whole).
    frame = load_csv(FAULTS / "r12_huge_cell.csv").frame
    assert frame["text"].str.len().max() == 150_000 < MAX_CELL_CHARS


def test_a_wide_row_is_refused_at_the_limit_and_read_below_it(monkeypatch):
    limits = ReadLimits(max_columns=10)
    assert list(load_csv(wide_csv(10), limits=limits).frame.columns) == [f"c{i}" for i in range(10)]
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError, match=r"has 11 columns on row 1 .*the limit here is 10 columns \(it is MAX_COLUMNS"):
        load_csv(wide_csv(11), limits=limits)
    # A data row wider than its header counts too.
    raw = b"a,b\n1,2\n" + b",".join([b"3"] * 12) + b"\n"
    with pytest.raises(ReadLimitError, match="has 12 columns on row 3"):
        load_csv(raw, limits=limits)


def test_the_default_column_limit_refuses_a_header_one_wider(monkeypatch):
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError, match=f"has {MAX_COLUMNS + 1:,} columns on row 1"):
        load_csv(wide_csv(MAX_COLUMNS + 1))


def test_utf16_and_gb18030_files_are_scanned_as_their_characters():
    text = "text,label\n" + "好" * 30 + ",pos\nok,neg\n"
    for encoding in ("utf-16", "gb18030"):
        raw = text.encode(encoding)
        assert len(load_csv(raw, limits=ReadLimits(max_cell_chars=30)).frame) == 2
        with pytest.raises(ReadLimitError, match="a cell of 30 characters on row 2"):
            load_csv(raw, limits=ReadLimits(max_cell_chars=29))


def test_the_prediction_readers_check_before_they_read(tmp_path, monkeypatch):
    path = tmp_path / "rows.csv"
    path.write_bytes(long_cell_csv(5_000, row=4))
    limits = ReadLimits(max_cell_chars=1_000)
    assert list(read_head(path, n=1, limits=ReadLimits(max_cell_chars=5_000)).columns) == ["text", "label"]
    with pytest.raises(ReadLimitError, match="a cell of 5,000 characters on row 4"):
        read_head(path, n=5, limits=limits)
    with pytest.raises(ReadLimitError, match="a cell of 5,000 characters on row 4"):
        open_stream(path, limits=limits)  # before count_rows or any chunk is read
    assert count_rows(open_stream(path, limits=ReadLimits(max_cell_chars=5_000))) == 5
    out = tmp_path / "scored.csv"
    monkeypatch.setattr(core.predict.pd, "read_csv", lambda *a, **k: pytest.fail("pandas read a refused file"))
    with pytest.raises(ReadLimitError, match="a cell of 5,000 characters on row 4"):
        predict_csv(object(), path, out, limits=limits)  # refused before the model is used
    assert list(tmp_path.iterdir()) == [path]  # nothing written


# ---------------------------------------------------------------------------- workbooks


def test_a_zip_bomb_like_workbook_is_refused_before_openpyxl_opens_it(monkeypatch):
    bomb = workbook_with_cell("a" * 3_000_000)  # 3 MB of one letter: about 1,000 to 1
    assert len(bomb) < 100_000
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError, match=r"holds a part \(xl/worksheets/sheet1.xml\) packed [\d,]+ to 1;.* more "
                                             "than 100 to 1"):
        read_table(bomb, "bomb.xlsx")
    with pytest.raises(ReadLimitError, match=r"unpacks to 3 MB .* the limit here is 1 MB unpacked \(it is "
                                             r"MAX_UNPACKED_MB in core/limits.py\)"):
        sheet_names(bomb, "bomb.xlsx", limits=ReadLimits(max_unpacked_bytes=1024 * 1024))


def test_a_workbook_cell_over_the_limit_is_found_in_its_xml(monkeypatch):
    rng = random.Random(3)
    cell = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=200_000))  # packs ~1.7 to 1: not a bomb
    data = workbook_with_cell(cell)
    limits = ReadLimits(max_cell_chars=100_000, from_server_settings=True)
    read = read_table(data, "ok.xlsx", limits=ReadLimits(max_cell_chars=200_100)).frame
    assert read["text"].tolist() == [cell, "short"]
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError, match=r"a cell of about 200,\d{3} characters; the limit here is 100,000 .*"
                                             "max_cell_chars under \\[marketune\\]"):
        read_table(data, "long.xlsx", limits=limits)


def test_a_workbook_row_wider_than_the_limit_is_refused_before_it_is_read(monkeypatch):
    data = workbook([[f"c{i}" for i in range(30)], list(range(30))])
    no_pandas_parse(monkeypatch)
    with pytest.raises(ReadLimitError, match="has 30 columns; the limit here is 20 columns"):
        read_table(data, "wide.xlsx", limits=ReadLimits(max_columns=20))


def test_a_stray_cell_far_right_does_not_expand_a_sheet_into_a_huge_table():
    rows = [["text", "label"]] + [[f"review {i}", "pos"] for i in range(60)]
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.active.cell(row=2, column=5000, value="note")  # every row becomes 5,000 wide in pandas
    buffer = io.BytesIO()
    book.save(buffer)
    small = ReadLimits(max_unpacked_bytes=80_000, max_columns=16_384)  # room for 10,000 cells; it would be 61 x 5,000
    assert sum(m.file_size for m in zipfile.ZipFile(buffer).infolist()) < 80_000
    with pytest.raises(ReadLimitError, match=r"would be a table of \d+ rows x 5,000 columns.*Ctrl\+End"):
        read_table(buffer.getvalue(), "stray.xlsx", limits=small)


def test_sheet_rows_gives_the_cells_pandas_gives(tmp_path):
    import datetime

    path = tmp_path / "types.xlsx"
    rows = [
        ["text", "n", "x", "flag", "when", "code"],
        ["NA", 1, 2.5, True, datetime.datetime(2024, 5, 1, 9, 30), "#N/A"],
        [None, 1e20, -1.25, False, None, "007"],  # 1e20 is written "1e+20": a whole float, an int for pandas
        [],
        ["", 0, None, None, datetime.datetime(2023, 1, 2), "=not a formula"],
        ["last", 2**40, 1e-9, True, None, None],
    ]
    path.write_bytes(workbook(rows))
    truth = pd.read_excel(path, header=None, dtype=object, keep_default_na=False, na_values=[""]).dropna(how="all")
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    mine = pd.DataFrame(sheet_rows(book["Data"], ReadLimits()), dtype=object)
    book.close()
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), truth.reset_index(drop=True), check_dtype=False)
    assert [[type(v) for v in row] for row in mine.values] == [[type(v) for v in row] for row in truth.values]
    assert type(mine.iloc[2, 1]) is int


# ---------------------------------------------------------------------------- settings, CLI, a page


def test_team_settings_set_the_read_limits_and_refuse_bad_values():
    settings = TeamSettings.from_mapping({"max_cell_chars": 5000, "max_columns": 50, "max_unpacked_mb": 20})
    limits = settings.read_limits(max_bytes=10 * 1024 * 1024)
    assert (limits.max_cell_chars, limits.max_columns, limits.max_unpacked_bytes, limits.max_bytes) == (
        5000, 50, 20 * 1024 * 1024, 10 * 1024 * 1024)
    assert limits.from_server_settings
    assert TeamSettings.from_mapping(None).read_limits().max_cell_chars == MAX_CELL_CHARS
    for key in ("max_cell_chars", "max_columns", "max_unpacked_mb"):
        for bad in (0, -5, 2.5, "big", True):
            with pytest.raises(WorkspaceError, match=f"{key} must be a whole number of at least 1; found"):
                TeamSettings.from_mapping({key: bad})


def test_the_cli_refuses_over_limit_files_in_one_line(tmp_path, capsys, trained_tiny):
    long = tmp_path / "long.csv"
    long.write_bytes(long_cell_csv(MAX_CELL_CHARS + 1))
    wide = tmp_path / "wide.csv"
    wide.write_bytes(wide_csv(MAX_COLUMNS + 1))
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(workbook_with_cell("a" * 3_000_000))
    runs = {
        "train long": (["train", "--data", str(long), "--text-col", "text", "--label-col", "label",
                        "--out", str(tmp_path / "m")], f"a cell of {MAX_CELL_CHARS + 1:,} characters on row 3"),
        "train bomb": (["train", "--data", str(bomb), "--text-col", "text", "--label-col", "label",
                        "--out", str(tmp_path / "m")], "packed"),
        "check wide": (["check", "--data", str(wide), "--text-col", "c0", "--label-col", "c1",
                        "--out", str(tmp_path / "issues.csv")], f"{MAX_COLUMNS + 1:,} columns on row 1"),
        "predict long": (["predict", "--model", str(trained_tiny[1]), "--data", str(long),
                          "--out", str(tmp_path / "scored.csv")], f"a cell of {MAX_CELL_CHARS + 1:,} characters"),
    }
    for name, (argv, expected) in runs.items():
        assert cli(argv) == 2, name
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]  # after the model's own loading lines, for predict
        assert last.startswith("error: ") and "Traceback" not in err, (name, err)
        assert expected in last and "in core/limits.py" in last, (name, err)
    assert not (tmp_path / "m").exists() and not (tmp_path / "scored.csv").exists()


def test_the_train_page_says_which_limit_an_upload_crossed(models_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["marketune"] = {"max_columns": 5}  # an admin's setting, passed to the reader by the page
    at.run()
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="train_upload").set_value(("wide.csv", wide_csv(6), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = texts(at.error)  # as a person reads them (the page escapes Markdown)
    assert "This file has 6 columns on row 1" in errors
    assert "the limit here is 5 columns (an admin changes it with max_columns under [marketune]" in errors
    bomb = workbook_with_cell("a" * 3_000_000)
    at.file_uploader(key="train_upload").set_value(("bomb.xlsx", bomb, XLSX)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "packed" in "\n".join(e.value for e in at.error)


def test_the_predict_page_refuses_a_long_cell_past_its_preview_before_predict_is_pressed(registry, monkeypatch):  # noqa: F811
    # Small scan chunks: the preview's check (read_head) stops after its rows, so the refusal
    # comes from the whole-file check made before the rows are counted.
    monkeypatch.setattr(core.limits, "SCAN_CHUNK_BYTES", 64)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["marketune"] = {"max_cell_chars": 1000}
    at.run()
    at.switch_page("pages/predict.py").run()
    rows = pd.DataFrame({"text": ["great phone"] * 30 + ["y" * 1500]})  # row 32: past the 5-row preview
    at.file_uploader(key="predict_upload").set_value(("rows.csv", rows.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = texts(at.error)
    assert "characters on row 32 (the header is row 1); the limit here is 1,000 characters per cell" in errors
    assert "max_cell_chars under [marketune]" in errors
    assert at.button(key="predict_run").disabled


class LeftThePage(Exception):
    """What Streamlit's stop exception stands for here: the page that started the read went away."""


def test_a_read_stops_at_its_next_checkpoint_when_the_page_went_away(monkeypatch):
    """Issue 32: a runaway read ends when its page goes away. The readers call the limits'
    checkpoint between scan chunks and every CHECKPOINT_ROWS sheet rows; whatever it raises (on a
    page, Streamlit's stop exception) ends the read there. Counted against the number of chunks
    and rows the file has, computed here."""
    monkeypatch.setattr(core.limits, "SCAN_CHUNK_BYTES", 1024)
    raw = ("text,label\n" + "".join(f"row {i} of a long file,pos\n" for i in range(2000))).encode()
    calls = []
    counting = ReadLimits(checkpoint=lambda: calls.append(1))
    assert len(read_table(raw, "big.csv", limits=counting).frame) == 2000
    assert len(calls) >= len(raw) // 1024  # at least once per chunk of the scan

    def leave_after(n):
        seen = []

        def checkpoint():
            seen.append(1)
            if len(seen) >= n:
                raise LeftThePage
        return ReadLimits(checkpoint=checkpoint)

    with pytest.raises(LeftThePage):
        read_table(raw, "big.csv", limits=leave_after(3))
    rows = [[f"row {i}", "pos"] for i in range(3 * core.limits.CHECKPOINT_ROWS)]
    with pytest.raises(LeftThePage):  # the workbook: its XML scan, then its rows, give way too
        read_table(workbook([["text", "label"], *rows]), "big.xlsx", limits=leave_after(2))


def test_the_pages_reads_give_way_to_streamlit(monkeypatch):
    """ui/upload.read_limits hands every page's read a checkpoint that touches st.session_state,
    where Streamlit stops a run whose page went away (its SafeSessionState calls the script
    runner's execution-control check on every access)."""
    import ui.upload

    class Stopping:
        def __contains__(self, key):
            raise LeftThePage

    limits = ui.upload.read_limits()
    monkeypatch.setattr(ui.upload.st, "session_state", Stopping())
    with pytest.raises(LeftThePage):
        limits.tick()
