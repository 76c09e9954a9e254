"""A CSV with a title block above its header (walk-c's MAJOR, issue 27): found by core.reading the
way a workbook's is, on every reader, never on an ordinary file; a likely header it is not sure of
is named with the fix (--header-row N, the Header row box). Truths: pandas.read_csv with the
lines to skip given by hand, and the files' own lines."""

from __future__ import annotations

import io
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
from tests.core.test_faults import FAULTS, FAULTS3, run_cli, streamed, table_rows

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


PADDED = "Report title,,\ngenerated 2026,,\n,,\ntext,label,channel\nhello,positive,web\nbad,negative,email\n"


def test_a_padded_title_block_is_not_sure_and_every_message_names_the_fix(tmp_path, capsys):
    """Excel's Save as CSV pads the title lines to the table's width ("Report title,,"): such a
    line is as wide as the header, so it is not skipped without asking; the note, the missing
    column message and the CLI say which line looks like the header and how to choose it."""
    data = PADDED.encode()
    block = csv_title_block(data, "padded.csv")
    assert block is not None and not block.sure and block.header_line == 4
    loaded = read_table(data, "padded.csv")
    assert list(loaded.frame.columns) == ["Report title", "Unnamed: 1", "Unnamed: 2"]  # as pandas reads it
    assert any("line 4 looks like the header ('text', 'label', 'channel')" in n for n in loaded.notes)
    with pytest.raises(ValueError) as info:
        loaded.require(["text"])
    message = str(info.value)
    assert "found ['Report title', 'Unnamed: 1', 'Unnamed: 2']" in message  # what was found
    assert "--header-row 4" in message and "'Header row' box" in message  # the fix, on each surface
    assert table_rows(read_table(data, header_row=4).frame) == by_hand(data, 3)
    path = tmp_path / "padded.csv"
    path.write_bytes(data)
    rc, _, err = run_cli(capsys, "train", "--data", str(path), "--text-col", "text", "--label-col", "label",
                         "--out", str(tmp_path / "m"))
    assert rc == 2 and "--header-row 4" in err and "found ['Report title'" in err, err
    assert open_stream(path).header_hint == block.hint()  # predict's missing-column message ends with it


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
