"""Excel uploads on the pages other than Train (ui/upload.py): the sheet is read as the user wrote
it and the page goes on as with a CSV."""

from __future__ import annotations

import io

import pandas as pd

from tests.ui.test_page_dashboard import open_page as open_dashboard
from tests.ui.test_page_dashboard import predictions_frame, rows_shown, set_and_run
from tests.ui.test_page_targeting import campaign_table
from tests.ui.test_page_targeting import open_page as open_targeting

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(frames: dict[str, pd.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in frames.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return buffer.getvalue()


def test_dashboard_reads_the_chosen_sheet_of_a_prediction_workbook():
    df = predictions_frame()
    at = open_dashboard()
    set_and_run(at, "radio", "dash_source", "upload")
    data = xlsx({"About": pd.DataFrame({"note": ["scored in May"]}), "Scores": df})
    at.file_uploader(key="dash_upload").set_value(("preds.xlsx", data, XLSX)).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="dash_upload_sheet").options == ["About", "Scores"]
    set_and_run(at, "selectbox", "dash_upload_sheet", "Scores")
    assert not at.exception, [e.message for e in at.exception]
    assert rows_shown(at) == len(df)
    assert at.selectbox(key="dash_map_text").value == "review"


def test_targeting_takes_an_excel_campaign_table(models_dir):
    df = campaign_table(80, seed=1)
    at = open_targeting()
    at.radio(key="tg_source").set_value("upload").run()
    at.file_uploader(key="tg_upload").set_value(("campaign.xlsx", xlsx({"Sheet1": df}), XLSX)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="tg_label").value == "y"
    assert set(at.selectbox(key="tg_label").options) == set(df.columns)


def test_a_workbook_that_is_not_one_is_refused_plainly(models_dir):
    at = open_targeting()
    at.radio(key="tg_source").set_value("upload").run()
    at.file_uploader(key="tg_upload").set_value(("campaign.xlsx", b"PK\x03\x04nope", XLSX)).run()
    assert not at.exception
    assert any("Could not open campaign.xlsx as an Excel workbook" in e.value for e in at.error)


def test_a_notes_sheet_first_on_the_train_page_preselects_the_data_sheet_and_names_both(models_dir):
    """The newcomer walk: a workbook whose first sheet holds notes. The picker names both sheets and
    preselects the first that looks like a table ('Reviews'); choosing the notes sheet says what it
    has and what to do, never "Setting 'label_column' must be a column name"."""
    from tests.ui.test_page_train import open_train, texts

    reviews = pd.DataFrame({"text": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10})
    data = xlsx({"About": pd.DataFrame({"note": ["exported in May"]}), "Reviews": reviews})
    at = open_train()
    at.file_uploader(key="train_upload").set_value(("reviews.xlsx", data, XLSX)).run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.selectbox(key="train_upload_sheet")
    assert picker.options == ["About", "Reviews"] and picker.value == "Reviews"
    assert "About, Reviews" in picker.help and "2 in this workbook" in picker.label
    assert not at.error, texts(at.error)
    assert at.selectbox(key="train_label_col").value == "label"
    at.selectbox(key="train_upload_sheet").set_value("About").run()
    errors = texts(at.error)
    assert "has one column, 'note'; training needs at least two" in errors and "choose the data sheet" in errors
    assert "Setting 'label_column'" not in errors
