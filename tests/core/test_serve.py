"""The HTTP API (core/serve.py): its answers are the CLI's, the token, the limits, the batching.

Truths are independent of the API: the CLI's predictions CSV for the same rows, and plain HTTP
status codes from FastAPI's TestClient.
"""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.cli import main as cli_main
from core.serve import ApiLimits, BodyLimit, MicroBatcher, check_exposure, create_app, read_token

TEXTS = ["great fast delivery love it", "terrible broken refund", "ok fine", "", "awful awful awful"]


@pytest.fixture(scope="module")
def folder(trained_tiny):
    return trained_tiny[1]


@pytest.fixture(scope="module")
def client(folder):
    return TestClient(create_app(folder, limits=ApiLimits(max_rows=50, max_text_chars=200)))


def test_answers_equal_the_cli_for_the_same_rows(client, folder, tmp_path):
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    assert cli_main(["predict", "--model", str(folder), "--data", str(data), "--out", str(out), "--ood"]) == 0
    expected = pd.read_csv(out, keep_default_na=False)

    answer = client.post("/predict", json={"texts": TEXTS})
    assert answer.status_code == 200
    got = answer.json()["predictions"]
    assert len(got) == len(TEXTS)
    for (_, row), prediction in zip(expected.iterrows(), got):
        if row["prediction_error"]:  # the empty text: no prediction, the CLI's reason
            assert prediction == {"error": row["prediction_error"]}
            continue
        assert prediction["label"] == row["predicted_label"]
        assert prediction["confidence"] == pytest.approx(float(row["confidence"]), abs=1e-6)
        for label, p in prediction["probabilities"].items():
            assert p == pytest.approx(float(row[f"p_{label}"]), abs=1e-6)
        assert prediction["ood"] == (str(row["out_of_distribution"]) == "True")


def test_the_openapi_schema_names_every_answer_field(client):
    schema = client.get("/openapi.json").json()
    answer = schema["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/Predictions")
    fields = schema["components"]["schemas"]["Prediction"]["properties"]
    assert {"label", "labels", "confidence", "probabilities", "value", "ood", "error"} <= set(fields)
    sent = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [option["required"] for option in sent["oneOf"]] == [["texts"], ["rows"]]
    got = client.post("/predict", json={"texts": TEXTS[:2]}).json()["predictions"]
    assert all(set(a) == {"label", "confidence", "probabilities", "ood"} for a in got)  # no null fields sent


def test_a_model_without_an_ood_reference_answers_ood_null():
    from types import SimpleNamespace

    from core.serve import predictions

    model = SimpleNamespace(task="classification", classes_=["neg", "pos"], multi_label=False)
    scored = pd.DataFrame({"predicted_label": ["pos"], "confidence": [0.8], "p_neg": [0.2], "p_pos": [0.8],
                           "prediction_error": [""]})
    assert predictions(model, scored, [], ood=False) == [
        {"label": "pos", "confidence": 0.8, "probabilities": {"neg": 0.2, "pos": 0.8}, "ood": None}]


def test_rows_form_gives_the_same_answers_as_texts(client):
    by_text = client.post("/predict", json={"texts": TEXTS[:3]}).json()
    by_row = client.post("/predict", json={"rows": [{"text": t} for t in TEXTS[:3]]}).json()
    assert by_text == by_row


def test_a_row_that_leaves_the_text_out_gets_its_own_error_the_others_their_answers(client):
    """As the docs say: a row without text gets {"error"} in its place (the same as an empty text,
    the CLI's empty cell); a column no row has is a misnamed one (422, closest key named)."""
    answer = client.post("/predict", json={"rows": [{"text": TEXTS[0]}, {"other": "x"}, {"text": TEXTS[1]}]})
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    alone = client.post("/predict", json={"texts": [TEXTS[0], "", TEXTS[1]]}).json()["predictions"]
    assert "error" in alone[1] and got == alone
    misnamed = client.post("/predict", json={"rows": [{"Text": "hi"}, {"Text": "ho"}]})
    assert misnamed.status_code == 422 and "'text' -> 'Text'" in misnamed.json()["detail"]


def test_health_and_card(client, folder):
    assert client.get("/health").json() == {"status": "ok", "model": folder.name}
    card = client.get("/model").json()
    manifest = json.loads((folder / "marketune.json").read_text())
    assert card["kind"] == manifest["kind"] and card["classes"] == [str(c) for c in manifest["classes"]]
    assert card["input_columns"] == ["text"]


def test_too_many_rows_is_413_and_the_server_keeps_serving(client):
    big = client.post("/predict", json={"texts": ["hello"] * 51})
    assert big.status_code == 413 and "at most 50" in big.json()["detail"]
    long = client.post("/predict", json={"texts": ["x" * 201]})
    assert long.status_code == 413 and "201" in long.json()["detail"]
    assert client.post("/predict", json={"texts": ["hello"]}).status_code == 200


def test_body_over_the_byte_limit_is_413_before_it_is_read(folder):
    small = TestClient(create_app(folder, limits=ApiLimits(max_body_bytes=100)))
    answer = small.post("/predict", json={"texts": ["a" * 150]})
    assert answer.status_code == 413 and "bytes" in answer.json()["detail"]


def test_a_chunked_body_over_the_limit_is_413_and_the_server_keeps_serving(folder):
    small = TestClient(create_app(folder, limits=ApiLimits(max_body_bytes=1000)))

    def chunks():  # a generator body: httpx sends it chunked, with no Content-Length
        yield b'{"texts": ['
        for _ in range(100):
            yield b'"' + b"a" * 50 + b'",'
        yield b'"b"]}'

    answer = small.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "1,000" in answer.json()["detail"]
    assert small.get("/health").status_code == 200
    assert small.post("/predict", json={"texts": ["hello"]}).status_code == 200


def test_the_body_limit_stops_reading_once_over():
    pulled = []

    async def receive():  # an endless chunked body, 100 bytes a message
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    async def app(scope, receive, send):  # reads the body the way a framework does: until no more
        while (await receive()).get("more_body"):
            pass

    from fastapi import HTTPException

    # Stepped by hand, without an event loop (nothing here waits on one): asyncio.run fails where an
    # earlier test in the same worker left a loop running in this thread.
    with pytest.raises(HTTPException) as caught:
        BodyLimit(app, max_bytes=1000)({"type": "http"}, receive, None).send(None)
    assert caught.value.status_code == 413
    assert len(pulled) == 11  # 1,100 bytes: the first message past 1,000, and none after


@pytest.mark.parametrize("body", [{}, {"texts": "one string"}, {"rows": [1, 2]}, {"texts": [], "rows": []},
                                  {"rows": [{"other": "x"}]}])
def test_malformed_bodies_are_422_with_what_was_expected(client, body):
    answer = client.post("/predict", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]


def test_token_required_when_set(folder):
    secured = TestClient(create_app(folder, token="s3cret"))
    assert secured.post("/predict", json={"texts": ["hi"]}).status_code == 401
    wrong = secured.post("/predict", json={"texts": ["hi"]}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # /health answers a load balancer's probe without the token, and names the model only with it.
    probe = secured.get("/health")
    assert probe.status_code == 200 and probe.json() == {"status": "ok"}
    assert secured.get("/health", headers={"Authorization": "Bearer s3cret"}).json() == {"status": "ok", "model": folder.name}
    assert secured.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert secured.get("/model").status_code == 401  # the rest stays closed
    ok = secured.post("/predict", json={"texts": ["hi"]}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
    for scheme in ("bearer", "BEARER"):  # RFC 7235: the scheme name is case-insensitive
        lower = secured.post("/predict", json={"texts": ["hi"]}, headers={"Authorization": f"{scheme} s3cret"})
        assert lower.status_code == 200, scheme
    assert secured.post("/predict", json={"texts": ["hi"]}, headers={"Authorization": "Basic s3cret"}).status_code == 401


def test_beyond_loopback_needs_a_token():
    check_exposure("127.0.0.1", None)
    check_exposure("localhost", None)
    with pytest.raises(ValueError, match="MARKETUNE_API_TOKEN"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", "token")
    assert cli_main(["serve", "--model", "does-not-matter", "--host", "0.0.0.0"]) == 2


def test_token_file_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MARKETUNE_API_TOKEN", raising=False)
    assert read_token(None) is None
    monkeypatch.setenv("MARKETUNE_API_TOKEN", "from-env")
    assert read_token(None) == "from-env"
    monkeypatch.setenv("MARKETUNE_API_TOKEN", "  from-env \n")
    assert read_token(None) == "from-env"
    monkeypatch.setenv("MARKETUNE_API_TOKEN", "   ")  # walk finding: whitespace started the server, then 401 always
    assert read_token(None) is None
    with pytest.raises(ValueError, match="reaches beyond this machine: MARKETUNE_API_TOKEN is set but blank"):
        check_exposure("0.0.0.0", read_token(None))
    with pytest.raises(ValueError, match="reaches beyond this machine"):
        check_exposure("0.0.0.0", "   ")
    monkeypatch.delenv("MARKETUNE_API_TOKEN")
    with pytest.raises(ValueError, match="reaches beyond this machine: set MARKETUNE_API_TOKEN"):
        check_exposure("0.0.0.0", None)
    (tmp_path / "t").write_text("from-file\n")
    assert read_token(str(tmp_path / "t")) == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_token(str(tmp_path / "empty"))


def test_concurrent_requests_each_get_their_own_rows(folder):
    client = TestClient(create_app(folder))
    texts = [t for t in TEXTS if t]
    alone = {t: client.post("/predict", json={"texts": [t]}).json()["predictions"][0] for t in texts}
    answers: dict[int, tuple[str, dict]] = {}

    def ask(i: int) -> None:
        text = texts[i % len(texts)]
        answers[i] = (text, client.post("/predict", json={"texts": [text]}).json()["predictions"][0])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 20
    for text, prediction in answers.values():  # each request got the prediction of its own text
        assert prediction["label"] == alone[text]["label"]
        assert prediction["confidence"] == pytest.approx(alone[text]["confidence"], abs=1e-5)


def test_requests_waiting_behind_a_pass_are_scored_together(monkeypatch):
    """While one pass runs, the frames that arrive wait and go in ONE next pass, each answered
    with its own rows in order."""
    import core.serve

    release, calls = threading.Event(), []

    def slow_predict_frame(model, frame, ood=None):
        calls.append(len(frame))
        if len(calls) == 1:
            release.wait(5)
        return frame.assign(doubled=frame["x"] * 2)

    monkeypatch.setattr(core.serve, "predict_frame", slow_predict_frame)
    batcher = MicroBatcher(model=None, ood=None, max_rows=100)
    first = batcher.submit(pd.DataFrame({"x": [0]}))
    while not calls:  # the first pass has started and is blocked
        threading.Event().wait(0.01)
    waiting = [batcher.submit(pd.DataFrame({"x": [i, i + 100]})) for i in range(1, 6)]
    release.set()
    assert first.result(5)["doubled"].tolist() == [0]
    for i, future in enumerate(waiting, start=1):
        assert future.result(5)["doubled"].tolist() == [2 * i, 2 * (i + 100)]
    assert calls == [1, 10]  # five requests of 2 rows: one pass
    assert batcher.batches == 2


def test_the_docs_work_offline_and_declare_the_bearer_token(folder):
    """Walk: /docs was a blank page offline (Swagger UI's JS/CSS from cdn.jsdelivr.net, a favicon from
    fastapi.tiangolo.com). Truth: the HTML the server sends and the files it answers, with a token set
    (the documentation is open, as before; the routes are not)."""
    import re

    client = TestClient(create_app(folder, token="s3cret"))
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and not [u for u in urls if re.match(r"(?i)https?://", u)]  # nothing outside the server
    assert not re.search(r"(?i)https?://(?!localhost|127\.0\.0\.1)", page.text)
    for url in urls:  # every file the page loads answers, without the token
        assert client.get(url).status_code == 200, url
    js = client.get("/docs-static/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 100_000
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "The server's token: MARKETUNE_API_TOKEN or --token-file."}
    for path, method in (("/predict", "post"), ("/model", "get")):
        assert schema["paths"][path][method]["security"] == [{"bearer": []}]
    assert client.get("/model").status_code == 401  # the Authorize button's token is what opens these
    assert client.get("/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/docs-openapi.json").json()["paths"] == schema["paths"]
