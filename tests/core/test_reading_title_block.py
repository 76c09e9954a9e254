"""A CSV with a title block above its header (walk-c's MAJOR, issue 27): found by core.reading the
way a workbook's is, on every reader, never on an ordinary file; a likely header it is not sure of
is named with the fix (--header-row N, the Header row box). Truths: pandas.read_csv with the
lines to skip given by hand, and the files' own lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from core.reading import (
    count_rows,
    csv_title_block,
    find_title_block,
    open_stream,
    pandas_chunks,
    read_table,
    sniff_delimiter,
)
from tests.core.test_faults import FAULTS, FAULTS3, review_rows, run_cli, streamed, table_rows

WALK_C = "Report title\ngenerated 2026\n\ntext,label\nhello there,positive\nbad thing,negative\n"


def by_hand(data: bytes, skip: int, sep: str = ",") -> tuple[list[str], list[tuple[str, ...]]]:
    """The table pandas reads with ``skip`` lines skipped, given by hand (every cell as text)."""
    frame = pd.read_csv(io.BytesIO(data), skiprows=skip, sep=sep, dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    return table_rows(frame)


SEMICOLONS = "Report, Q3 2026\n\ntext;label;channel\n" + "".join(
    f"review {i} was fine;{'positive' if i % 2 else 'negative'};web\n" for i in range(6))
TABS = "Source: CRM\nOwner: marketing\nAs of 2026-01-05\ntext\tlabel\tchannel\n" + "".join(
    f"nice {i}\tpositive\temail\n" for i in range(4))
ADS = '\ufeffCampaign report\r\n"January 1, 2026 - January 31, 2026"\r\nCampaign,text,label\r\n' + "".join(
    f'C{i},"great, {i}",positive\r\n' for i in range(5))
# (file bytes, lines above the header, delimiter)
TITLED = {
    "walk-c: title, date, blank": (WALK_C.encode(), 3, ","),
    "semicolons, a comma in the title": (SEMICOLONS.encode(), 2, ";"),
    "tabs, three notes, no blank": (TABS.encode(), 3, "\t"),
    "BOM, CRLF, a quoted date range": (ADS.encode(), 2, ","),
}


@pytest.mark.parametrize("shape", sorted(TITLED))
def test_a_title_block_is_skipped_with_a_note_and_every_row_kept(shape, tmp_path):
    data, skip, sep = TITLED[shape]
    truth = by_hand(data, skip, sep)
    loaded = read_table(data, "export.csv")
    assert table_rows(loaded.frame) == truth  # count in = count out, cell for cell
    assert loaded.delimiter == sep and loaded.header_row == skip + 1
    note = next(n for n in loaded.notes if "title block" in n)
    assert note.startswith(f"header read from line {skip + 1}; the {skip} line(s) above it (a title block: ")
    assert "--header-row N or 'Header row' on the page" in note
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    stream = open_stream(path)
    assert isinstance(stream.data, Path) and stream.skip_lines == skip  # streamed from disk, not read whole
    assert stream.notes == (note,) and count_rows(stream) == len(truth[1])
    assert table_rows(streamed(path)) == truth
    assert table_rows(read_table(path, header_row=skip + 1).frame) == truth  # asked for: the same rows


def test_the_walk_c_note_names_the_lines_skipped():
    loaded = read_table(WALK_C.encode(), "title.csv")
    assert loaded.notes == ("header read from line 4; the 3 line(s) above it (a title block: 'Report title', "
                            "'generated 2026', 1 blank) skipped (--header-row N or 'Header row' on the page chooses "
                            "another)",)


def test_the_sniffer_is_not_fooled_by_title_lines():
    """Without the block found, no delimiter splits "Report title", and the comma was the fallback."""
    text = "Report title\nby the team\n\ntext;label;channel\n" + "good, really;positive;web\n" * 4
    assert sniff_delimiter(text) == ";"
    assert sniff_delimiter(text.split("\n", 3)[3]) == ";"  # the same as from the header on


ORDINARY = {
    "ordinary": "text,label\nhello,positive\nbad,negative\n",
    "one column, quoted commas": 'text\n"I love it, works great"\nfine\n"ok, ok"\n',
    "one column, blank rows": "review\ngreat\n\nawful\n\nfine\n",
    "first data rows short": "text,label,channel\nhello,positive\nbad\ngood,positive,web\nmeh,negative,email\n",
    "header with an empty name": "text,\nhello,positive\nbye,negative\n",
    "semicolons, decimal commas": "headline;ctr;note\n" + "sale now;0,12;x\n" * 12,
    "index column from pandas": ",text,label\n0,hello,positive\n1,bye,negative\n",
}


@pytest.mark.parametrize("shape", sorted(ORDINARY))
def test_an_ordinary_file_is_read_from_its_first_line(shape):
    data = ORDINARY[shape].encode()
    assert find_title_block(ORDINARY[shape]) is None
    loaded = read_table(data, "plain.csv")
    assert loaded.header_row is None and not any("header" in n for n in loaded.notes), loaded.notes
    sep = ";" if "semicolons" in shape else ","
    first = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, nrows=0).columns
    assert list(loaded.frame.columns)[:2] == [c.strip() for c in first][:2]


def test_a_one_column_file_with_commas_is_not_taken_for_a_title_block():
    """Walk-a's three.csv: a one-column file with a comma in some rows is refused as before, naming the row."""
    data = b"text\nI love this phone, works great\nTerrible service, never again\nThe food was okay I guess\n"
    block = find_title_block(data.decode())
    assert block is None
    with pytest.raises(ValueError, match=r"^Row 2 of the file has 2 fields but the header names 1 column;[^:]*$"):
        read_table(data, "three.csv")


@pytest.mark.parametrize("path", sorted([*FAULTS.glob("*.csv"), *FAULTS3.glob("*.csv*")]), ids=lambda p: p.name)
def test_no_fault_file_is_taken_for_a_titled_one(path):
    assert csv_title_block(path, path.name) is None
    assert not any("title block" in n for n in read_table(path).notes)


# Excel's Save as CSV pads every title line to the table's width ("Report title,,"); with no blank
# line between the title and the header, the title lines could be a header with empty names.
PADDED = "Report title,,\ngenerated 2026,,\ntext,label,channel\nhello,positive,web\nbad,negative,email\n"


def test_a_padded_title_block_without_a_blank_line_is_not_sure_and_every_message_names_the_fix(tmp_path, capsys):
    """A padded title line is as wide as the header, so without a blank (padded) line under the
    title and without the columns asked for it is not skipped; the missing column message and the
    CLI say which line looks like the header and how to choose it (advice, not a note on how the
    file was read)."""
    data = PADDED.encode()
    block = csv_title_block(data, "padded.csv")
    assert block is not None and not block.sure and block.header_line == 3
    loaded = read_table(data, "padded.csv")
    assert list(loaded.frame.columns) == ["Report title", "Unnamed: 1", "Unnamed: 2"]  # as pandas reads it
    assert "line 3 looks like the header ('text', 'label', 'channel')" in loaded.header_hint
    assert not any("looks like" in n for n in loaded.notes)
    with pytest.raises(ValueError) as info:
        loaded.require(["text"])
    message = str(info.value)
    assert "found ['Report title', '(column 2 has no name)', '(column 3 has no name)']" in message  # not pandas' names
    assert "--header-row 3" in message and "'Header row' box" in message  # the fix, on each surface
    assert table_rows(read_table(data, header_row=3).frame) == by_hand(data, 2)
    path = tmp_path / "padded.csv"
    path.write_bytes(data)
    rc, _, err = run_cli(capsys, "train", "--data", str(path), "--text-col", "body", "--label-col", "label",
                         "--out", str(tmp_path / "m"))  # 'body' is on no line: the header is not found
    assert rc == 2 and "--header-row 3" in err and "found ['Report title'" in err, err
    assert open_stream(path).header_hint == block.hint()  # predict's missing-column message ends with it


def _save_as_csv(title: list[str], header: list[str], rows: list[list[str]]) -> bytes:
    """A sheet saved by Excel as CSV: every line padded with commas to the table's width."""
    width = len(header)
    lines = [",".join([t, *[""] * (width - 1)]) for t in title] + [",".join(header)]
    lines += [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


SAVED_AS_CSV = {  # (title lines as written, before padding; the header's width)
    "issue 27: 'Q3 export,' then ','": (["Q3 export", ""], 2),
    "title, date, blank; three columns": (["Q3 review export", "generated 2026-10-02", ""], 3),
    "blank, title, blank": (["", "Q3 export", ""], 2),
}


@pytest.mark.parametrize("shape", sorted(SAVED_AS_CSV))
def test_a_padded_title_block_above_a_blank_line_is_skipped_with_no_column_asked(shape, tmp_path):
    """Excel's Save as CSV of a sheet with a title block: lines whose only value is the first cell (or
    none), then the header. Read from the header by every reader without any column asked (the Train
    page asks none up front), with the note the other paths give; truth: pandas with the lines
    skipped by hand."""
    import core

    title, width = SAVED_AS_CSV[shape]
    header = ["text", "label", "channel"][:width]
    rows = [[t, lab, "web"][:width] for t, lab in review_rows(12)]
    data = _save_as_csv(title, header, rows)
    truth = by_hand(data, len(title))
    assert truth == (header, [tuple(r) for r in rows])
    loaded = read_table(data, "q3.csv")
    assert table_rows(loaded.frame) == truth and loaded.header_row == len(title) + 1 and not loaded.header_hint
    note = loaded.notes[0]
    assert note.startswith(f"header read from line {len(title) + 1}; the {len(title)} line(s) above it (a title block")
    assert note == read_table(data, "q3.csv", columns=header[:2]).notes[0]  # as where columns are asked for
    assert table_rows(core.read_csv(data)) == truth and table_rows(core.load_csv(data).frame) == truth
    path = tmp_path / "q3.csv"
    path.write_bytes(data)
    stream = open_stream(path)
    assert stream.notes == (note,) and count_rows(stream) == 12 and table_rows(streamed(path)) == truth


def test_the_same_padded_title_on_a_sheet_is_skipped_alike():
    from tests.core.test_faults import xlsx_bytes

    rows = [[t, lab] for t, lab in review_rows(6)]
    loaded = read_table(xlsx_bytes([["Q3 export"], [], ["text", "label"], *rows]), "q3.xlsx")
    assert loaded.header_row == 3 and table_rows(loaded.frame) == (["text", "label"], [tuple(r) for r in rows])


GENUINE = {  # line 1 is the header; the title-like rows below it must not move it
    "first data rows with empty trailing cells": "text,label\ngreat fit,\nlovely,\n,\nslow delivery,negative\n"
                                                 "fine,positive\n",
    "a header with an empty name over short rows": "review,\ngreat,\nfine,\nbad,negative\nok,positive\n",
}


@pytest.mark.parametrize("shape", sorted(GENUINE))
def test_a_file_whose_first_rows_have_empty_trailing_cells_is_read_from_line_1(shape):
    text = GENUINE[shape]
    block = find_title_block(text)
    assert block is None or not block.sure  # at most advice ("line 4 looks like the header"), never a skip
    loaded = read_table(text.encode(), "plain.csv")
    assert loaded.header_row is None and not any("header" in n for n in loaded.notes), loaded.notes
    truth = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)  # pandas from line 1
    assert list(loaded.frame.columns)[0] == truth.columns[0] and len(loaded.frame) == len(truth)


def test_a_title_block_with_short_rows_fails_naming_the_fix():
    """Two columns under two title lines without a blank line between: not sure (a one-column file
    with commas looks the same), so the parse error says which line to choose."""
    data = b"Report title\ngenerated 2026\ntext,label\nhello,positive\nbye,negative\n"
    assert not find_title_block(data.decode()).sure
    with pytest.raises(ValueError, match=r"Expected 1 fields.*--header-row 3.*'Header row' box"):
        read_table(data, "t.csv")
    assert table_rows(read_table(data, header_row=3).frame) == by_hand(data, 2)


def test_a_row_with_values_past_the_header_is_named_by_its_line_in_the_file(tmp_path):
    """Below a title block, the row refused is numbered as the file's line, by the whole read and
    the stream alike; a wider row among the first ones makes the block unsure (the fix named)."""
    ok = "".join(f"fine {i},positive\n" for i in range(60))
    data = (WALK_C + ok + "one more, with a comma,positive\n").encode()
    line = data.decode().splitlines().index("one more, with a comma,positive") + 1  # as an editor numbers it
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"Expected 2 fields in line {line}, saw 3"):
        read_table(data, "t.csv")
    with pytest.raises(ValueError, match=f"^Row {line} of the file has 3 fields"):
        list(pandas_chunks(open_stream(path), 10))
    early = (WALK_C + "one more, with a comma,positive\n" + ok).encode()
    with pytest.raises(ValueError, match=r"Expected 1 fields in line 4.*--header-row 4"):
        read_table(early, "t.csv")
    with pytest.raises(ValueError, match="Expected 2 fields in line 7, saw 3"):  # the file's line
        read_table(early, "t.csv", header_row=4)


# The common "text to score" file (walk-e's MAJOR): one column under a title line. Its title line is
# as wide as its header, so only the columns asked for (the model's, --text-col/--label-col) find it.
def _one_column(title: list[str], n: int = 12, newline: str = "\n", bom: str = "") -> tuple[bytes, int]:
    """(bytes, lines above the header) of a one-column file to score, a quoted comma in some rows."""
    rows = [f'"{t}"' if "," in t else t for t, _ in review_rows(n)]
    return (bom + newline.join([*title, "text", *rows]) + newline).encode(), len(title)


ONE_COLUMN = {
    "title, blank": _one_column(["Q3 CRM export - to score", ""]),
    "title, date, no blank": _one_column(["Q3 CRM export - to score", "generated 2026-10-02"]),
    "BOM, CRLF, padded title": _one_column(["Q3 CRM export, to score", ",", ""], newline="\r\n", bom="\ufeff"),
}


@pytest.mark.parametrize("shape", sorted(ONE_COLUMN))
def test_a_one_column_file_under_a_title_is_read_from_its_header_by_every_entry_point(shape, tmp_path, trained_tiny,
                                                                                       capsys):
    import core
    from core.predict import predict_csv
    from core.registry import load_folder

    data, skip = ONE_COLUMN[shape]
    truth = by_hand(data, skip)
    assert truth[0] == ["text"] and len(truth[1]) == 12
    path = tmp_path / "to_score.csv"
    path.write_bytes(data)
    found = find_title_block(data.decode("utf-8-sig"))  # without the columns: only a blank line under the title tells
    assert (found.header_line if found else None) == (None if "no blank" in shape else skip + 1)
    assert csv_title_block(data, path.name, columns=["text"]).header_line == skip + 1  # the pages' Header row box
    read = {
        "read_table": table_rows(read_table(path, columns=["text"]).frame),
        "read_csv": table_rows(core.read_csv(path, columns=["text"])),
        "load_csv": table_rows(core.load_csv(data, columns=["text"]).frame),
        "stream (predict, Ray)": table_rows(streamed(path, columns=["text"])),
    }
    for entry, got in read.items():
        assert got == truth, entry
    stream = open_stream(path, columns=["text"])
    assert isinstance(stream.data, Path) and stream.header_row == skip + 1 and count_rows(stream) == 12
    assert stream.notes[0].startswith(f"header read from line {skip + 1}; the {skip} line(s) above it (a title block")
    model = load_folder(trained_tiny[1])
    summary = predict_csv(model, path, tmp_path / "api.csv")
    assert summary.n_rows == 12 and pd.read_csv(tmp_path / "api.csv", dtype=str)["text"].tolist() == [
        r[0] for r in truth[1]]
    rc, stdout, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path),
                              "--out", str(tmp_path / "cli.csv"))
    assert rc == 0 and f"header read from line {skip + 1}" in err, err
    assert pd.read_csv(tmp_path / "cli.csv", dtype=str)["text"].tolist() == [r[0] for r in truth[1]]


# A one-column file under a title block, read where no column is asked for (the Label and Train pages'
# uploads): a title line, a blank line, then the header. The blank line is what tells the title from
# the header (both are one field wide), in a CSV and on a sheet alike (core.reading.header_below_title).
LABEL_EXPORT = ["Export from Shop X, 2026-11-01", "", "review", "great fit", '"small, but nice"', "too long",
                "lovely colour"]


def test_a_one_column_file_under_a_title_and_a_blank_line_is_found_without_the_columns():
    data = ("\n".join(LABEL_EXPORT) + "\n").encode()
    truth = by_hand(data, 2)
    assert truth == (["review"], [("great fit",), ("small, but nice",), ("too long",), ("lovely colour",)])
    block = csv_title_block(data, "export.csv")  # what gives the pages their "Header row" box
    assert block is not None and block.sure and block.header_line == 3
    loaded = read_table(data, "export.csv")
    assert table_rows(loaded.frame) == truth and loaded.header_row == 3 and not loaded.header_hint
    assert loaded.notes == ("header read from line 3; the 2 line(s) above it (a title block: 'Export from Shop X, "
                            "2026-11-01', 1 blank) skipped (--header-row N or 'Header row' on the page chooses "
                            "another)",)
    assert table_rows(read_table(data, "export.csv", header_row=1).frame)[0] == ["Export from Shop X", "2026-11-01"]


def test_a_one_column_sheet_under_a_title_and_a_blank_row_is_found_without_the_columns():
    from tests.core.test_faults import xlsx_bytes

    rows = [[v.strip('"')] if v else [] for v in LABEL_EXPORT]
    loaded = read_table(xlsx_bytes(rows), "export.xlsx")
    assert list(loaded.frame.columns) == ["review"] and loaded.header_row == 3
    assert loaded.frame["review"].tolist() == ["great fit", "small, but nice", "too long", "lovely colour"]
    assert loaded.notes[-1].startswith("header read from row 3 of sheet")


NOT_A_TITLE = {
    "no blank line under the first": "Export from Shop X\nreview\ngreat fit\ntoo long\n",
    "blank lines among the rows": "review\ngreat\n\nawful\nfine\n\nok\n",
    "one row below": "Export from Shop X\n\nreview\ngreat fit\n",
    "a number below the blank line": "Export from Shop X\n\n2026\ngreat fit\ntoo long\n",
    "nine title lines": "".join(f"note {i}\n" for i in range(9)) + "\nreview\ngreat fit\ntoo long\n",
}


@pytest.mark.parametrize("shape", sorted(NOT_A_TITLE))
def test_a_one_column_file_is_read_from_line_1_unless_a_blank_line_sets_a_short_title_apart(shape):
    assert find_title_block(NOT_A_TITLE[shape]) is None
    assert read_table(NOT_A_TITLE[shape].encode(), "plain.csv").header_row is None


def test_a_one_column_file_whose_header_is_not_found_names_header_row_and_what_was_read(tmp_path, trained_tiny,
                                                                                         capsys):
    """The model reads 'text'; the file's header says 'Review' right under a title line (no blank line
    between): no line holds the column, so the file is read from line 1 and the message names what it
    found and how to choose the header's line. With a blank line under the title, 'Review' is found
    (header_below_title) and named as what the file has."""
    titled = b"Q3 CRM export - to score\n\nReview\ngreat value\nslow delivery\n"
    with pytest.raises(ValueError, match=r"found \['Review'\]\.$"):
        read_table(titled, "t.csv", columns=["text"]).require(["text"])
    data = titled.replace(b"\n\n", b"\n", 1)
    path = tmp_path / "to_score.csv"
    path.write_bytes(data)
    out = str(tmp_path / "o.csv")
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path), "--out", out)
    assert rc == 2 and "found ['Q3 CRM export - to score']" in err and "--header-row N" in err, err
    rc, _, err = run_cli(capsys, "predict", "--model", str(trained_tiny[1]), "--data", str(path), "--out", out,
                         "--header-row", "2")
    assert rc == 2 and "found ['Review']" in err and "--header-row N" not in err, err  # the header asked for: read
    with pytest.raises(ValueError, match=r"found \['Q3 CRM export - to score'\]\..*--header-row N"):
        read_table(path, columns=["text"]).require(["text"])  # the Python API says the same


def _padded(n: int = 12) -> tuple[bytes, int]:
    """Excel's Save as CSV of a sheet with a title block: every title line padded to the table's width."""
    lines = ["Q3 review export,,", "generated 2026-10-02,,", ",,", "text,label,channel",
             *[f'"{t}",{lab},web' for t, lab in review_rows(n)]]
    return ("\n".join(lines) + "\n").encode(), 3


def test_a_padded_title_above_the_columns_asked_for_is_found_by_every_entry_point(tmp_path, trained_tiny, capsys):
    data, skip = _padded()
    truth = by_hand(data, skip)
    path = tmp_path / "padded.csv"
    path.write_bytes(data)
    for asked in ((), ["text", "label"]):  # the padded title and blank line: found with or without the columns
        block = find_title_block(data.decode(), asked)
        assert block.sure and block.header_line == 4, asked
    loaded = read_table(path, columns=["text", "label"])
    assert table_rows(loaded.frame) == truth and loaded.header_row == 4 and not loaded.header_hint
    assert loaded.notes == ("header read from line 4; the 3 line(s) above it (a title block: 'Q3 review export', "
                            "'generated 2026-10-02', 1 blank) skipped (--header-row N or 'Header row' on the page "
                            "chooses another)",)
    assert table_rows(streamed(path, columns=["text"])) == truth
    model = str(trained_tiny[1])
    rc, _, err = run_cli(capsys, "predict", "--model", model, "--data", str(path), "--out", str(tmp_path / "o.csv"))
    assert rc == 0, err
    assert table_rows(pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)[truth[0]]) == truth
    rc, stdout, err = run_cli(capsys, "evaluate", "--model", model, "--data", str(path), "--label-col", "label")
    assert rc == 0 and json.loads(stdout.strip().splitlines()[-1])["rows_skipped"] == 0, err
    rc, stdout, err = run_cli(capsys, "check", "--data", str(path), "--text-col", "text", "--label-col", "label",
                              "--features", "tfidf", "--out", str(tmp_path / "ISSUES.csv"))
    assert rc == 0 and "checked 12 row(s)" in stdout and "header read from line 4" in err, err


def test_the_columns_asked_for_never_move_the_header_of_an_ordinary_file():
    """Line 1 holds them: read from line 1, as without them (a repeated header inside, a data cell
    named like a column, a one-column file)."""
    for text in ("text,label\nhello,positive\ntext,label\nbye,negative\n", "text\nlabel\ntext\nfine\n",
                 "label,text\npositive,text\n"):
        assert find_title_block(text, ["text", "label"] if text.count(",") else ["text"]) is None
    assert find_title_block("text\nfine\n", ["text", "label"]) is None  # not all held: by the widths (none)


@pytest.mark.parametrize("path", sorted([*FAULTS.glob("*.csv"), *FAULTS3.glob("*.csv*")]), ids=lambda p: p.name)
def test_no_fault_file_is_taken_for_a_titled_one_with_the_columns_asked_for(path):
    header = read_table(path).frame.columns
    for columns in (["text", "label"], ["text"], list(header[:2])):
        assert csv_title_block(path, path.name, columns=columns) is None, columns


def test_the_pages_words_name_the_boxes_never_a_flag():
    from core.reading import in_page_words

    hint = read_table(PADDED.encode(), "padded.csv").header_hint
    assert "--header-row 3 (python -m core)" in hint  # the CLI's and the API's words
    page = in_page_words(hint)
    assert page.endswith("if the column names are on line 3, type 3 in the 'Header row' box above.")
    assert "--" not in in_page_words(read_table(WALK_C.encode(), "t.csv").notes[0])
    not_found = read_table(b"Title\n\nReview\nok\n", "t.csv", columns=["text"]).header_hint
    assert "--header-row N" in not_found and "--" not in in_page_words(not_found)


def test_a_chosen_header_line_without_names_is_named_in_the_refusal(tmp_path):
    # walk-s: `check --header-row 2` on a file whose line 2 is ",," said "The first row is empty".
    path = tmp_path / "padded.csv"
    path.write_text("Q3 export,,\n,,\ntext,label,channel\ngood,pos,web\n", encoding="utf-8")
    with pytest.raises(ValueError) as asked:
        read_table(path, header_row=2)
    assert "Line 2, read as the header, names no column" in str(asked.value)
    assert "first row" not in str(asked.value)
    # Line 1 asked (or nothing asked on a file that starts with an empty row of delimiters): the first row.
    blank_first = tmp_path / "blank_first.csv"
    blank_first.write_text(",,\ngood,pos,web\n", encoding="utf-8")
    with pytest.raises(ValueError, match="The first row names no column"):
        read_table(blank_first, header_row=1)
