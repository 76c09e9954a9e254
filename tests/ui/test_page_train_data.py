"""The Train page's data step in AppTest: replacing, clearing and re-adding files in any order,
Excel uploads, the sample buttons, and the method the page sends to the training job."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from openpyxl import Workbook

from core.config import DEFAULT_LEARNING_RATE
from core.fewshot import choose_method
from tests.conftest import make_sentiment_frame
from tests.ui.test_page_train import open_train, texts

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def put(at, name: str, data: bytes | None, mime: str = "text/csv"):
    """Upload ``data`` as ``name`` (None clears the uploader) and rerun; no exception allowed."""
    at.file_uploader(key="train_upload").set_value(None if data is None else (name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def shown_file(at) -> str | None:
    """The name of the file the page shows (the bold name above the preview), or None."""
    for line in texts(at.markdown).splitlines():
        if line.startswith("**") and " rows · " in line:
            return line.split("**")[1]
    return None


def workbook_bytes(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_replace_clear_sample_and_upload_again_never_raises(models_dir):
    first = make_sentiment_frame(40)
    second = pd.DataFrame(
        {"review": [f"great thing {i}" if i % 2 else f"awful thing {i}" for i in range(30)],
         "sentiment": ["pos", "neg"] * 15, "stars": [1, 5] * 15}
    )
    at = open_train()
    put(at, "first.csv", first.to_csv(index=False).encode())
    assert shown_file(at) == "first.csv"
    at.selectbox(key="train_label_col").set_value("label").run()
    assert at.selectbox(key="train_label_col").value == "label"

    # Replace the file (the uploader's "+" sends the new file in place of the old one).
    put(at, "second.csv", second.to_csv(index=False).encode())
    assert shown_file(at) == "second.csv"
    assert at.multiselect(key="train_text_cols").value == ["review"]
    assert at.selectbox(key="train_label_col").value == "sentiment"
    assert at.radio(key="train_task").value == "classification"

    # Change the label to a numeric one, then replace again at once: the task follows each file.
    at.selectbox(key="train_label_col").set_value("stars").run()
    assert not at.exception
    put(at, "first.csv", first.to_csv(index=False).encode())
    assert shown_file(at) == "first.csv"

    put(at, "", None)  # the user removes the file
    assert shown_file(at) is None and not at.get("arrow_data_frame")

    at.button(key="train_sample_sentiment_reviews_en").click().run()
    assert not at.exception
    assert shown_file(at) == "sentiment_reviews_en.csv"

    put(at, "second.csv", second.to_csv(index=False).encode())  # an upload replaces the sample
    assert shown_file(at) == "second.csv"
    put(at, "", None)
    put(at, "second.csv", second.to_csv(index=False).encode())  # the same file again is shown again
    assert shown_file(at) == "second.csv"
    assert not at.error


def test_an_unreadable_replacement_shows_its_error_and_hides_the_old_data(models_dir):
    at = open_train()
    put(at, "first.csv", make_sentiment_frame(40).to_csv(index=False).encode())
    put(at, "broken.xlsx", b"PK\x03\x04 not really a workbook", XLSX_MIME)
    assert shown_file(at) is None
    assert "Could not open broken.xlsx as an Excel workbook" in texts(at.error)


def test_xlsx_upload_with_two_sheets_reads_the_chosen_sheet(models_dir):
    frame = make_sentiment_frame(30)
    rows = [list(frame.columns)] + frame.values.tolist()
    data = workbook_bytes({"Notes": [["read me: the data is on the next sheet"]], "Reviews": rows})
    at = open_train()
    put(at, "campaign.xlsx", data, XLSX_MIME)
    # The picker offers both and preselects the first sheet that looks like a table ("Notes" is one note).
    assert at.selectbox(key="train_upload_sheet").options == ["Notes", "Reviews"]
    assert at.selectbox(key="train_upload_sheet").value == "Reviews"
    at.selectbox(key="train_upload_sheet").set_value("Notes").run()
    assert shown_file(at) is None  # "Notes" has a header but no data rows, and the message names the other sheet
    assert "has a header row but no data rows" in texts(at.error) and "'Reviews'" in texts(at.error)
    at.selectbox(key="train_upload_sheet").set_value("Reviews").run()
    assert not at.exception
    assert shown_file(at) == "campaign.xlsx"
    assert "30 rows" in texts(at.markdown) and "Excel sheet 'Reviews' (of 2)" in texts(at.markdown)
    assert at.multiselect(key="train_text_cols").value == ["text"]
    assert at.selectbox(key="train_label_col").value == "label"
    assert at.radio(key="train_task").value == "classification"
    assert not at.button(key="train_start").disabled


def test_single_sheet_xlsx_has_no_sheet_picker(models_dir):
    frame = make_sentiment_frame(30)
    at = open_train()
    put(at, "one.xlsx", workbook_bytes({"Sheet1": [list(frame.columns)] + frame.values.tolist()}), XLSX_MIME)
    assert shown_file(at) == "one.xlsx"
    assert not [s for s in at.selectbox if s.key == "train_upload_sheet"]


def test_id_like_label_gives_one_message_not_one_per_value(models_dir):
    df = pd.DataFrame({"text": [f"some review text {i}" for i in range(60)], "order_id": [f"A{i:03d}" for i in range(60)]})
    at = open_train()
    put(at, "orders.csv", df.to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("order_id").run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "looks like an id or free-text column" in errors[0]
    assert "rows are usable" not in texts(at.caption)
    assert at.button(key="train_start").disabled


def test_numeric_id_label_is_refused_as_a_regression_target(models_dir):
    df = pd.DataFrame({"text": [f"some review text {i}" for i in range(60)], "id": range(1000, 1060)})
    at = open_train()
    put(at, "orders.csv", df.to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("id").run()
    at.radio(key="train_task").set_value("regression").run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "looks like an id or free-text column" in errors[0]
    assert at.button(key="train_start").disabled


def test_samples_have_short_names_with_help_and_no_prediction_file(models_dir):
    at = open_train()
    samples = [b for b in at.button if str(b.key).startswith("train_sample_")]
    keys = {b.key for b in samples}
    assert "train_sample_dashboard_clothing_predictions" not in keys  # a model's output, not labels
    assert "train_sample_sentiment_reviews_en" in keys
    for button in samples:
        assert len(button.label) <= 28 and ".csv" not in button.label
        assert ".csv" in button.help  # the full description names the file



def test_method_auto_is_the_default_and_is_sent(models_dir, sent_requests):
    df = make_sentiment_frame(60)
    at = open_train()
    put(at, "reviews.csv", df.to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("label").run()
    assert at.radio(key="train_method").value == "auto"
    assert at.radio(key="train_method").options == ["Auto (recommended)", "Few-shot", "Full fine-tuning", "LoRA"]
    # The page says what auto will pick, as core decides it (30 rows per class, 60 rows: few-shot).
    expected, _ = choose_method(30, 60, task="classification", n_classes=2)
    assert expected == "fewshot"
    assert "Auto will use **few-shot**" in texts(at.caption)
    assert at.number_input(key="train_learning_rate").value == pytest.approx(DEFAULT_LEARNING_RATE["fewshot"])
    at.button(key="train_start").click().run()
    assert not at.exception
    (frame, config, _name), = sent_requests
    assert config.method == "auto"
    assert config.learning_rate is None  # training uses the default of the method auto picks
    assert len(frame) == 60


def test_typed_learning_rate_is_sent_and_a_new_method_resets_it(models_dir, sent_requests):
    at = open_train()
    put(at, "reviews.csv", make_sentiment_frame(60).to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("label").run()
    at.radio(key="train_method").set_value("lora").run()
    assert at.number_input(key="train_learning_rate").value == pytest.approx(DEFAULT_LEARNING_RATE["lora"])
    assert "less memory, a little less accuracy" in texts(at.caption) and "0.619 vs 0.648" in texts(at.caption)
    at.number_input(key="train_learning_rate").set_value(3e-3).run()
    at.button(key="train_start").click().run()
    assert sent_requests[-1][1].method == "lora" and sent_requests[-1][1].learning_rate == pytest.approx(3e-3)
    at.radio(key="train_method").set_value("full").run()
    assert at.number_input(key="train_learning_rate").value == pytest.approx(DEFAULT_LEARNING_RATE["full"])


def test_a_stale_label_value_sent_with_the_replacement_file_does_not_break_the_page(models_dir):
    """The browser race behind the old KeyError: the user removes the file (the mapping widgets
    go away) and picks a new one, and the browser still sends the label box's last value with the
    new file. A callback on that box ran before the page had read the new file."""
    at = open_train()
    put(at, "first.csv", make_sentiment_frame(40).to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("channel")
    stale = at.selectbox(key="train_label_col")._widget_state  # what the browser still holds
    at.run()
    put(at, "", None)
    second = pd.DataFrame({"review": [f"text {i}" for i in range(30)], "sentiment": ["a", "b", "c"] * 10})
    at.file_uploader(key="train_upload").set_value(("second.csv", second.to_csv(index=False).encode(), "text/csv"))
    states = at._tree.get_widget_states()
    states.widgets.append(stale)
    at._run(states)  # AppTest.run() sends only the widgets drawn last time; the browser may send more
    assert not at.exception, at.exception
    assert shown_file(at) == "second.csv"
    assert at.selectbox(key="train_label_col").value == "sentiment"


def test_the_column_boxes_follow_a_second_file_with_other_columns(models_dir):
    """Newcomer walk: with a label picked for file A, a file B with other columns must show B's own
    suggested columns (core.columns), not keep A's choice or fail. Seen here: it does (ui.train_form's
    _use_data sets the keyed boxes afresh for every new file); kept as a guard."""
    from core.columns import suggest_label_column, suggest_text_columns
    from core.data import suggest_task

    a = pd.DataFrame({"text": [f"great thing {i}" if i % 2 else f"awful thing {i}" for i in range(30)],
                      "note": [f"call {i}" for i in range(30)], "sentiment": ["pos", "neg"] * 15,
                      "topic": ["price", "service", "delivery"] * 10})
    b = pd.DataFrame({"review": [f"good item {i}" if i % 2 else f"bad item {i}" for i in range(30)],
                      "rating": [5, 1] * 15, "channel": ["web", "app", "shop"] * 10})
    at = put(open_train(), "a.csv", a.to_csv(index=False).encode())
    at.selectbox(key="train_label_col").set_value("topic").run()  # the user's own choices, not the guesses
    at.multiselect(key="train_text_cols").set_value(["note"]).run()
    assert (at.selectbox(key="train_label_col").value, at.multiselect(key="train_text_cols").value) == ("topic", ["note"])

    put(at, "b.csv", b.to_csv(index=False).encode())
    text_b = suggest_text_columns(b)
    assert at.multiselect(key="train_text_cols").value == text_b
    label_b = suggest_label_column(b, text_b)
    assert at.selectbox(key="train_label_col").value == label_b and at.selectbox(key="train_label_col").options == list(b.columns)
    assert not at.error and at.radio(key="train_task").value == suggest_task(b, label_b)
