"""Text from the data renders as the text it is (issue 32): labels, column names, file and model
names and cell text never become a Markdown image, link, LaTeX or colour on a page, nor a link in
a chart; downloads are made only when clicked and expire; the Models zip works on a team server
with its CSV's formulas neutralised.

The escaping (ui/markdown.py) is checked against an independent CommonMark parser (markdown-it-py,
which Streamlit's own dependencies install) and the autolink patterns Streamlit's frontend applies
after parsing (copied from its bundle). The pages are checked through every Markdown-rendered field
of every element AppTest sees (bodies, labels, help, radio options, progress texts).
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core import workspace
from core.labeling import label_store
from core.workspace import Identity, TeamSettings
from tests.ui.test_page_account import ANA, on_models_page, team_app
from tests.ui.test_page_models import regression_folder
from tests.ui.test_page_train import figures, open_train, texts
from ui.figures import inert
from ui.markdown import plain, plain_lines

ROOT = Path(__file__).resolve().parents[2]
BEACON = "![x](http://127.0.0.1:9/beacon.png)"
LINK = "[click](http://evil)"
MATH = "$x$"
COLOUR = ":red[boom]"
CHART_LINK = '<a href="http://evil">tap</a>'
# What a payload looks like unescaped in a Markdown source: an image, a link, LaTeX, a colour, a
# bare address GFM would link (an escaped one holds a backslash or a word joiner instead).
RAW = ("![x](", "[click](", "$x$", ":red[boom]", "http://", "www.evil")
ATTACKS = [BEACON, LINK, MATH, COLOUR, "<http://evil>", "www.evil.com", "ana@evil.com", "**b** _i_ `c` ~~s~~ <b>h</b>",
           "# heading", "- item", "12. item", "> quote", "a | b", "---", "line\n\n![y](http://e/y.png)", "x\\[y]",
           "&lt;img&gt; &#91;z&#93;(http://e)"]
# Streamlit's frontend links these in text nodes after parsing (mdast-util-gfm-autolink-literal).
GFM_URL = re.compile(r"(?i)(https?://|www(?=\.))[-.\w]+")
GFM_EMAIL = re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+")


def commonmark(source: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(source)


def text_of(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("\u2060", "").strip()


@pytest.mark.parametrize("value", ATTACKS)
def test_plain_renders_the_text_itself(value):
    source = plain(value)
    rendered = commonmark(source)
    assert re.fullmatch(r"<p>.*</p>\n", rendered, re.S), rendered  # one paragraph: no heading, list, quote, table
    assert "<a " not in rendered and "<img" not in rendered and "<em>" not in rendered
    assert text_of(rendered) == re.sub(r"\n+", " ", value)  # exactly what was written, on one line
    # Streamlit's own constructs: LaTeX and directives need an unescaped "$" / "[", links a bare address.
    assert not re.search(r"(?<!\\)[$\[]", source)
    assert not GFM_URL.search(source) and not GFM_EMAIL.search(source)


def test_plain_lines_keeps_the_lines_of_a_review():
    review = "Great fit!\n# Not a heading\n- not a list\n![y](http://127.0.0.1:9/y.png)"
    rendered = commonmark(plain_lines(review))
    assert rendered.count("<br />") == 3 and "<h1>" not in rendered and "<li>" not in rendered and "<img" not in rendered
    assert [text_of(line) for line in rendered.split("<br />")] == review.splitlines()


# ------------------------------------------------------------------ what the pages render


def markdown_fields(at: AppTest) -> list[str]:
    """Every text AppTest holds that Streamlit renders as Markdown (not table cells or the plain
    options of a selectbox or multiselect)."""
    found: list[str] = []

    def proto_texts(message) -> None:
        for field, value in message.ListFields():
            repeated = not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") and not hasattr(value, "ListFields")
            items = list(value) if repeated else [value]
            if field.type == field.TYPE_MESSAGE:
                for item in items:
                    proto_texts(item)
            elif field.name in ("body", "label", "help", "text") or (
                    field.name == "options" and message.DESCRIPTOR.name == "Radio"):
                found.extend(items)

    def visit(node) -> None:
        if getattr(node, "proto", None) is not None:
            proto_texts(node.proto)
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(at._tree)
    return [t for t in found if isinstance(t, str)]


def assert_shown_plainly(at: AppTest, *payloads: str) -> None:
    """No payload reaches a Markdown renderer raw, and each is on the page, escaped."""
    assert not at.exception, at.exception
    fields = markdown_fields(at)
    raw = [(marker, field) for field in fields for marker in RAW if marker in field]
    assert not raw, raw
    for payload in payloads:
        assert any(plain(payload) in field for field in fields), f"{payload!r} is not on the page"


def chart_strings(at: AppTest) -> set[str]:
    """Every string in the page's charts (data and layout)."""
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(figures(at))
    return found


def test_train_page_upload_mapping_and_check_panel(models_dir, monkeypatch):
    import core.jobs as jobs
    import core.worker as worker

    monkeypatch.setattr(jobs, "_launch_worker", worker.run)  # the check job runs at once, in this process
    rows = 40
    df = pd.DataFrame({
        LINK: [f"review number {i} about the {'good' if i % 2 else 'bad'} product" for i in range(rows)],
        f"{MATH} {COLOUR}": [BEACON if i % 2 else CHART_LINK for i in range(rows)],
    })
    at = open_train()
    at.file_uploader(key="train_upload").set_value((f"{BEACON}.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    at.multiselect(key="train_text_cols").set_value([LINK]).run()
    at.selectbox(key="train_label_col").set_value(f"{MATH} {COLOUR}").run()
    at.checkbox(key="train_check_embeddings").uncheck().run()
    at.button(key="train_check_run").click().run()
    assert_shown_plainly(at, f"{BEACON}.csv")
    assert f"**{BEACON}.csv**" in texts(at.markdown)  # a person reads the file name as it is
    assert at.metric  # the check panel ran
    shown = chart_strings(at)  # the label chart names both classes, the tag as text
    assert {BEACON, '<\u2060a href="http://evil">tap<\u2060/a>'} <= shown and CHART_LINK not in shown


def test_models_page_shows_a_models_own_strings_plainly(models_dir):
    folder = regression_folder(models_dir / "www.evil.com")
    manifest = json.loads((folder / "marketune.json").read_text())
    (folder / "marketune.json").write_text(json.dumps({**manifest, "base_model": BEACON}))
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics.update(warnings=[f"Column {LINK} had empty rows."], stopped_reason=MATH,
                   verdict={"useless": True, "warning": COLOUR, "sentence": f"Kept {LINK}."})
    (folder / "metrics.json").write_text(json.dumps(metrics))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert_shown_plainly(at, BEACON)  # the sidebar: the active model's base model
    at.switch_page("pages/models.py").run()
    assert_shown_plainly(at, f"Column {LINK} had empty rows.", MATH, COLOUR)
    at.button(key="models_delete").click().run()
    assert_shown_plainly(at, "www.evil.com")  # "Delete model **www.evil.com** …?"


def test_dashboard_labels_segments_and_reviews(tmp_path):
    n = 24
    df = pd.DataFrame({
        "review": [f"{BEACON} line one\n# {LINK} line two {i}" for i in range(n)],
        "predicted_label": [BEACON, LINK, CHART_LINK] * (n // 3),
        "confidence": [0.9, 0.8] * (n // 2),
        COLOUR: [MATH, "www.evil.com"] * (n // 2),
    })
    path = tmp_path / "scored.csv"
    df.to_csv(path, index=False)
    at = AppTest.from_file(str(ROOT / "pages" / "dashboard.py"), default_timeout=120)
    at.session_state["last_prediction_path"] = str(path)
    at.run()
    at.selectbox(key="dash_map_text").set_value("review").run()
    at.multiselect(key="dash_map_segments").set_value([COLOUR]).run()
    assert_shown_plainly(at, f"Share {BEACON}", LINK, COLOUR)
    assert {t.label for t in at.tabs} >= {plain(BEACON), plain(LINK)}
    full = [m.value for m in at.markdown if "line two" in m.value]
    assert full and all(m.count("  \n") == 1 for m in full)  # a review keeps its two lines, neither a heading
    assert not any(CHART_LINK in s for s in chart_strings(at))
    assert any('<\u2060a href="http://evil">tap<\u2060/a>' in s for s in chart_strings(at))


def test_predict_page_file_name(models_dir, trained_tiny):
    shutil.copytree(trained_tiny[1], models_dir / "tiny")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/predict.py").run()
    rows = pd.DataFrame({"text": ["great", "awful", LINK]})
    at.file_uploader(key="predict_upload").set_value((f"{BEACON}.csv", rows.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.button(key="predict_run").click().run()
    assert_shown_plainly(at, f"{BEACON}.csv")
    assert f"rows from **{BEACON}.csv**" in texts(at.success)


def test_label_page_classes_and_loaded_file(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETUNE_LABELS_DIR", str(tmp_path / "labels"))
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(6)], "label": [BEACON, LINK, COLOUR, "", "", ""]})
    label_store("demo").create(frame, ["text"], "label")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/label.py").run()
    at.selectbox(key="label_project").set_value("demo").run()
    assert_shown_plainly(at, BEACON, LINK, COLOUR)  # "Labels so far: …"


def test_a_tag_in_chart_text_is_drawn_as_text():
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[CHART_LINK, "plain<br>two lines"], y=[1, 2], hovertemplate="%{x}<extra></extra>"))
    fig.update_layout(title=f"By {CHART_LINK}", xaxis={"categoryarray": [CHART_LINK]})
    inert(fig)
    shown = '<\u2060a href="http://evil">tap<\u2060/a>'
    assert list(fig.data[0].x) == [shown, "plain<br>two lines"]  # a line break stays one
    assert fig.layout.title.text == f"By {shown}" and list(fig.layout.xaxis.categoryarray) == [shown]
    assert fig.data[0].hovertemplate == "%{x}<extra></extra>"  # the app's own template stays


# ------------------------------------------------------------------ downloads


@pytest.fixture
def deferred(monkeypatch) -> dict:
    """{file_name: the callable Streamlit runs on the click} for every deferred download."""
    made: dict = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made


def in_a_thread(make):
    """Call ``make`` as Streamlit does on a click: in a worker thread, outside any page run."""
    result: dict = {}

    def run():
        try:
            result["data"] = make()
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert "error" not in result, result.get("error")
    return result["data"]


def test_team_models_zip_is_made_outside_the_page_run_with_formulas_neutralised(tmp_path, models_dir, deferred):
    data = tmp_path / "data"
    ana = Identity.from_claims(ANA)
    ws = workspace.for_identity(ana, TeamSettings(data_dir=data)).ensure(ana)
    folder = regression_folder(ws.models / "churn")
    cells = ['=HYPERLINK("http://evil","x")', "+1+1", "@SUM(A1)", "-3.5", "plain text"]
    pd.DataFrame({"row": range(5), "text": cells, "true_value": [1.0] * 5, "predicted_value": [2.0] * 5}).to_csv(
        folder / "test_predictions.csv", index=False)
    on_models_page(team_app(data, ANA))
    archive = zipfile.ZipFile(io.BytesIO(in_a_thread(deferred["churn.zip"])))
    names = sorted(archive.namelist())
    assert names == sorted(f"churn/{p.name}" for p in folder.iterdir())
    for name in names:
        if not name.endswith(".csv"):
            assert archive.read(name) == (folder / Path(name).name).read_bytes()  # the model loads as saved
    got = pd.read_csv(io.BytesIO(archive.read("churn/test_predictions.csv")), encoding="utf-8-sig",
                      keep_default_na=False, dtype=str)
    raw = pd.read_csv(folder / "test_predictions.csv", keep_default_na=False, dtype=str)
    assert raw["text"].tolist() == cells  # the saved file keeps the text exactly
    assert got["text"].tolist() == ["'" + cells[0], "'+1+1", "'@SUM(A1)", "-3.5", "plain text"]
    assert got.drop(columns="text").equals(raw.drop(columns="text"))


def test_a_download_exists_only_after_the_click_and_expires(monkeypatch):
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    import ui.downloads as downloads

    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    monkeypatch.setattr(downloads.runtime, "exists", lambda: True)
    monkeypatch.setattr(downloads.runtime, "get_instance", lambda: type("R", (), {"media_file_mgr": manager})())
    started: list = []

    class Timer:  # runs only when the test says so, instead of a minute later
        def __init__(self, seconds, fn):
            self.seconds, self.fn, self.daemon = seconds, fn, False

        def start(self):
            started.append(self)

    monkeypatch.setattr(downloads.threading, "Timer", Timer)
    shown = manager.add(b"a table still on the page", "text/csv", "coords-shown", "shown.csv", is_for_static_download=True)
    file_id = manager.add_deferred(downloads.expiring(lambda: b"customer rows"), "text/csv", "coords", "rows.csv")
    assert not started and manager.read_file(file_id) is None  # nothing stored before the click
    url = manager.execute_deferred(file_id)  # the click
    clicked = url.split("/")[-1].split(".")[0]
    assert manager.read_file(clicked).content == b"customer rows"
    (timer,) = started
    assert timer.seconds == downloads.EXPIRE_S == 60 and timer.daemon  # never keeps the server from stopping
    timer.fn()
    assert manager.read_file(clicked) is None  # gone a minute after the click
    assert manager.read_file(shown.split("/")[-1].split(".")[0]) is not None  # what a page shows stays
