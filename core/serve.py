"""An HTTP API for one saved model: ``python -m core serve --model NAME_OR_DIR``.

FastAPI + uvicorn (OpenAPI docs at ``/docs``):

- ``POST /predict`` with ``{"texts": [...]}`` (a model that reads one text column) or
  ``{"rows": [{column: value}, ...]}`` returns ``{"predictions": [...]}``, one per input in
  order: ``{"label", "confidence", "probabilities": {class: p}, "ood"}`` for a classifier,
  ``{"value", "ood"}`` for a regression model. The numbers are :func:`core.predict.predict_frame`'s,
  the same function ``python -m core predict`` writes its CSV with. A row the model cannot use
  (no text) gets ``{"error": ...}`` in its place, as the CLI's ``prediction_error`` column says.
- ``GET /health``: ``{"status": "ok", "model": name}``; ``GET /model``: the model's card.

A bearer token (``Authorization: Bearer <token>``, from ``MARKETUNE_API_TOKEN`` or ``--token-file``)
is required when one is set, and a server bound beyond loopback refuses to start without one: the
rule the app follows (ui/serving.py). Limits: rows per request and characters per text (413 with
the limit and what was sent, the server keeps serving), and the request body's size (checked from
Content-Length before it is read).

Requests are batched under load (:class:`MicroBatcher`): while the model scores one batch, the
requests that arrive wait together and are scored as the next single batch, so 20 concurrent
clients cost a few forward passes rather than 20.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Request  # module level: FastAPI reads the routes' annotations from this module's names

from .models import SavedModel, load_folder
from .models.folder import MANIFEST, METRICS
from .monitor import ScoringTally, record
from .predict import ERROR_COLUMN, MULTI_LABEL, OOD_COLUMN, output_names, output_task, predict_frame

TOKEN_ENV = "MARKETUNE_API_TOKEN"
# The API's counts reach the model's scoring history once a minute of traffic (docs/serving.md).
HISTORY_EVERY_S = 60.0


@dataclass(frozen=True)
class ApiLimits:
    """What one request may ask (413 beyond). Defaults: 1,000 rows keep one request's scoring to
    seconds on a laptop CPU for MiniLM (core/predict.py's chunk is 5,000 rows); 10,000 characters
    per text is far beyond what the model reads (it truncates at its max_length tokens)."""

    max_rows: int = 1000
    max_text_chars: int = 10_000
    max_body_bytes: int = 20 * 1024 * 1024
    max_batch_rows: int = 2048  # rows scored in one pass when requests are batched together


class RequestTooLarge(ValueError):
    """A request over an :class:`ApiLimits` bound (413)."""


class MicroBatcher:
    """Scores frames for many concurrent requests in few passes.

    ``submit(frame)`` returns a Future of the scored frame (same rows, same order). One thread
    takes every frame waiting (up to ``max_rows`` rows), scores them as one ``predict_frame``
    call and splits the result: a request never waits for more than the batch ahead of it.
    """

    def __init__(self, model: SavedModel, *, ood: Any, max_rows: int, history_every_s: float = HISTORY_EVERY_S,
                 clock: Any = time.monotonic) -> None:
        self.model, self.ood, self.max_rows = model, ood, max_rows
        self._waiting: queue.Queue[tuple[pd.DataFrame, Future] | None] = queue.Queue()
        self.batches = 0  # passes made
        # The API's scoring history (core.monitor): the counts of the rows scored reach it at most
        # ``history_every_s`` seconds after the first of them was scored (one line per interval of
        # traffic: a line per request would swamp the history), and at :meth:`stop`. Only this
        # batcher's thread counts and writes, so no row is lost or counted twice.
        self.tally, self.history_every_s, self._clock = ScoringTally(), history_every_s, clock
        self._since: float | None = None  # when the first row of the counts not yet written was scored
        self._thread = threading.Thread(target=self._run, name="marketune-api-batcher", daemon=True)
        self._thread.start()

    def submit(self, frame: pd.DataFrame) -> Future:
        future: Future = Future()
        if not self._thread.is_alive():  # stopped: nobody would ever answer
            future.set_exception(RuntimeError("The model is no longer served (the server is stopping)."))
            return future
        self._waiting.put((frame, future))
        return future

    def stop(self, wait_s: float | None = 30.0) -> None:
        """Score what waits, write the counts, and end the thread (the server stops, or lets the
        model go); waits up to ``wait_s`` seconds for it (None: does not wait)."""
        self._waiting.put(None)
        if wait_s is not None and threading.current_thread() is not self._thread:
            self._thread.join(wait_s)

    def _run(self) -> None:
        while True:
            try:  # wakes when the counts are due, even without traffic
                first = self._waiting.get(timeout=self._until_due())
            except queue.Empty:
                self._flush_if_due()
                continue
            if first is None:
                self.flush()
                return
            batch, rows, stopping = [first], len(first[0]), False
            while rows < self.max_rows:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                rows += len(item[0])
            self._score(batch)
            if stopping:
                self.flush()
                return
            self._flush_if_due()

    def _until_due(self) -> float | None:
        """Seconds until the counts are due (None: nothing to write, wait for a request)."""
        if self._since is None:
            return None
        return max(0.0, self.history_every_s - (self._clock() - self._since))

    def _score(self, batch: list[tuple[pd.DataFrame, Future]]) -> None:
        frames = [frame for frame, _ in batch]
        try:
            scored = predict_frame(self.model, pd.concat(frames, ignore_index=True), ood=self.ood)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, the thread lives on
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        try:  # counted before anyone is answered, so a shutdown right after an answer writes it too
            self._count(scored, frames[0].columns)
        except Exception:  # noqa: BLE001 - the history never stops the serving
            pass
        start = 0
        for frame, future in batch:
            future.set_result(scored.iloc[start:start + len(frame)].reset_index(drop=True))
            start += len(frame)

    def _count(self, scored: pd.DataFrame, columns: pd.Index) -> None:
        names = output_names(self.model, list(columns), ood=self.ood is not None)
        self.tally.add(scored, names, self.model.task, self.ood is not None)
        if self._since is None and self.tally.n_rows:
            self._since = self._clock()

    def _flush_if_due(self) -> None:
        due = self._until_due()
        if due is not None and due <= 0:
            self.flush()

    def flush(self) -> None:
        """Write the counts so far as one history line (nothing when no row was scored). Called
        by the batcher's own thread (the one that counts)."""
        try:
            record(getattr(self.model, "path", None), self.tally, "api")
        except Exception:  # noqa: BLE001 - the history never stops the serving
            pass
        self.tally, self._since = ScoringTally(), None


# The OpenAPI schema of /predict (the body is read as a dict so that a malformed one gets
# request_frame's message, not a validator's): what may be sent, and what comes back.
PREDICT_REQUEST = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [
        {"type": "object", "required": ["texts"], "title": "Texts",
         "properties": {"texts": {"type": "array", "items": {"type": "string"},
                                  "description": "one text per row (a model that reads one text column)"}}},
        {"type": "object", "required": ["rows"], "title": "Rows",
         "properties": {"rows": {"type": "array", "items": {"type": "object"},
                                 "description": "one {column: value} per row, the model's input columns"}}},
    ]}}}}}


def _answer_models() -> Any:
    """(Prediction, Predictions): the answer's schema (pydantic models, read by FastAPI)."""
    from pydantic import BaseModel, Field

    class Prediction(BaseModel):
        """One row's answer: the fields of its model's task, ``ood`` on every one, or ``error``."""

        label: Any = Field(None, description="the predicted class (a classifier)")
        labels: list[str] | None = Field(None, description="the tags at or above their thresholds (several per row)")
        confidence: float | None = Field(None, description="the predicted class's probability, 0-1")
        probabilities: dict[str, float] | None = Field(None, description="each class's (or tag's) probability, 0-1")
        value: float | None = Field(None, description="the predicted number (a regression model)")
        ood: bool | None = Field(None, description="True when the row is unlike the training data (core/ood.py, as "
                                 "`python -m core predict --ood` writes it); null for a model that reads no text")
        error: str | None = Field(None, description="why the row got no prediction (no text)")

    class Predictions(BaseModel):
        predictions: list[Prediction]

    return Prediction, Predictions


def request_frame(model: SavedModel, body: dict[str, Any], limits: ApiLimits) -> pd.DataFrame:
    """The rows of one ``/predict`` body as a frame of the model's input columns.

    ``{"texts": [str, ...]}`` needs a model that reads exactly one column (its text column);
    ``{"rows": [{column: value}, ...]}`` any model. Raises :class:`RequestTooLarge` over
    ``limits`` and ``ValueError`` (422) for any other shape, naming what was expected and found.
    """
    if not isinstance(body, dict) or ("texts" in body) == ("rows" in body):
        found = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise ValueError(f'Send {{"texts": [...]}} or {{"rows": [{{column: value}}]}}; found {found}.')
    columns = model.input_columns
    if "texts" in body:
        texts = body["texts"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError('"texts" must be a list of strings.')
        if len(columns) != 1:
            raise ValueError(f'This model reads the columns {columns}; send {{"rows": [{{column: value}}]}} instead of "texts".')
        records = [{columns[0]: t} for t in texts]
    else:
        records = body["rows"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError('"rows" must be a list of objects, one per row: {column: value}.')
        for i, record in enumerate(records):  # other keys are ignored, as the CLI ignores other columns
            absent = [c for c in columns if c not in record]
            if absent:  # the one missing-columns message: the keys found and the closest match
                from .reading import missing_columns_message

                raise ValueError(missing_columns_message(absent, list(record),
                                                         lead=f"Row {i} lacks {absent}; the model reads {columns}"))
    if len(records) > limits.max_rows:
        raise RequestTooLarge(f"{len(records):,} rows sent; at most {limits.max_rows:,} per request "
                              "(split the rows, or score a file with `python -m core predict`).")
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    for column in columns:
        longest = frame[column].map(lambda v: len(v) if isinstance(v, str) else 0).max() if len(frame) else 0
        if longest > limits.max_text_chars:
            raise RequestTooLarge(f"A text in '{column}' has {longest:,} characters; at most {limits.max_text_chars:,}.")
    return frame


def predictions(model: SavedModel, scored: pd.DataFrame, columns: list[str], ood: bool) -> list[dict[str, Any]]:
    """One JSON-ready dict per row of ``scored`` (``predict_frame``'s output for a frame with
    ``columns``): the numbers as predict_frame computed them, NaN never sent.

    A classifier: ``{"label", "confidence", "probabilities": {class: p}, "ood"}``; several tags per
    row: ``{"labels": [tag, ...], "probabilities": {tag: p}, "ood"}`` (each tag's own probability;
    the tags at or above their saved thresholds); regression: ``{"value", "ood"}``. ``"ood"`` is
    every answer's: the out-of-distribution flag ``python -m core predict --ood`` writes (bool), or
    None where the model has no reference (it reads no text: ``ood`` False). A row the model cannot
    use is ``{"error": reason}``."""
    from .multilabel import OUTPUT_SEP, PREDICTED_LABELS

    name = output_names(model, columns, ood=ood)
    task = output_task(model)
    out = []
    for _, row in scored.iterrows():
        if row[name[ERROR_COLUMN]]:
            out.append({"error": str(row[name[ERROR_COLUMN]])})
            continue
        if task == "regression":
            item: dict[str, Any] = {"value": float(row[name["predicted_value"]])}
        elif task == MULTI_LABEL:
            joined = str(row[name[PREDICTED_LABELS]] or "")
            item = {"labels": joined.split(OUTPUT_SEP) if joined else [],
                    "probabilities": {str(c): float(row[name[f"p_{c}"]]) for c in model.classes_}}
        else:
            item = {
                "label": _plain(row[name["predicted_label"]]),
                "confidence": float(row[name["confidence"]]),
                "probabilities": {str(c): float(row[name[f"p_{c}"]]) for c in model.classes_},
            }
        item["ood"] = bool(row[name[OOD_COLUMN]]) if ood else None
        out.append(item)
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def model_card(folder: Path, model: SavedModel) -> dict[str, Any]:
    """What ``GET /model`` says: kind, task, classes, input columns, base model and the test
    metrics recorded at training (JSON files of the folder, nothing recomputed)."""
    manifest = _json(folder / MANIFEST)
    metrics = _json(folder / METRICS)
    headline = {k: v for k, v in metrics.get("model", {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
    return {
        "name": folder.name,
        "kind": manifest.get("kind"),
        "task": model.task,
        "classes": [str(c) for c in model.classes_] if model.task != "regression" else [],
        "input_columns": model.input_columns,
        "base_model": model.base_model,
        "saved_at": manifest.get("saved_at"),
        "form": "onnx" if getattr(model, "quantized", False) == "onnx" else "saved weights",
        "test_metrics": headline,
        "saved_kind_reason": metrics.get("verdict", {}).get("reason") if isinstance(metrics.get("verdict"), dict) else None,
    }


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token (ValueError): the app's rule (ui/serving.py)."""
    from ipaddress import ip_address

    name = host.strip().strip("[]").lower()
    try:
        loopback = name == "localhost" or ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise ValueError(f"--host {host} reaches beyond this machine: set {TOKEN_ENV} (or --token-file) so every "
                         "request must carry 'Authorization: Bearer <token>', or serve on 127.0.0.1.")


@dataclass
class Served:
    """One model as the API serves it: the loaded model, its out-of-distribution reference and
    the batcher that scores its requests."""

    folder: Path
    model: SavedModel
    ood: Any
    batcher: MicroBatcher

    @classmethod
    def load(cls, folder: str | Path, limits: ApiLimits) -> Served:
        from .onnx_form import load_onnx
        from .predict import ood_reference

        folder = Path(folder)
        # The checked ONNX form when `python -m core export` made one (same labels on >= 99% of the
        # test rows), else the saved model as it is.
        model = load_onnx(folder) or load_folder(folder)
        ood = ood_reference(model, folder)
        return cls(folder, model, ood, MicroBatcher(model, ood=ood, max_rows=limits.max_batch_rows))


def create_app(folder: str | Path, *, token: str | None = None, limits: ApiLimits | None = None) -> Any:
    """The FastAPI app serving the model saved in ``folder``; ``token``: the bearer token every
    request must carry (None: no token needed, loopback only - :func:`check_exposure`).
    A ``?model=NAME`` naming another model gets 404."""
    from fastapi import HTTPException

    limits = limits or ApiLimits()
    served = Served.load(folder, limits)

    def authorize(request: Any) -> Any:
        if token is not None and not hmac.compare_digest(bearer_token(request).encode(), token.encode()):
            return unauthorized()
        return None

    def served_for(_request: Any, name: str | None) -> Served:
        if name not in (None, "", served.folder.name):
            raise HTTPException(status_code=404, detail=f"This server serves the model '{served.folder.name}' only; "
                                f"found ?model={name}.")
        return served

    app = build_api(limits, authorize, served_for, lambda: [served],
                    f"Predictions of the saved model '{served.folder.name}' ({served.model.task}).")
    app.state.batcher = served.batcher
    return app


def build_api(limits: ApiLimits, authorize: Any, served_for: Any, all_served: Any, description: str) -> Any:
    """The routes every form of the API shares. ``authorize(request)``: None to let the request
    in, else the response to send (401); ``served_for(request, name)``: the :class:`Served` model
    for ``?model=name`` (None: the default), raising HTTPException; ``all_served()``: the models
    loaded now (their counts are written at shutdown)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse

    @asynccontextmanager
    async def lifespan(_app):
        yield
        for served in all_served():
            served.batcher.stop()  # the last minute's counts are written (by the batcher's thread) before the end

    app = FastAPI(title="Marketune model API", version="1", lifespan=lifespan, description=description)

    @app.middleware("http")
    async def guard(request: Request, call_next):  # the token and the body size, before any work
        if request.url.path not in ("/docs", "/openapi.json"):
            denied = authorize(request)
            if denied is not None:
                return denied
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limits.max_body_bytes:
            return JSONResponse({"detail": f"The request body has {int(size):,} bytes; at most "
                                 f"{limits.max_body_bytes:,}."}, status_code=413)
        return await call_next(request)

    @app.get("/health")
    def health(request: Request, model: str | None = None) -> dict[str, Any]:
        return {"status": "ok", "model": served_for(request, model).folder.name}

    @app.get("/model")
    def card(request: Request, model: str | None = None) -> dict[str, Any]:
        served = served_for(request, model)
        return model_card(served.folder, served.model)

    @app.post("/predict", response_model=_answer_models()[1], response_model_exclude_unset=True,
              openapi_extra=PREDICT_REQUEST)
    def predict(request: Request, body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
        served = served_for(request, model)
        try:
            frame = request_frame(served.model, body, limits)
        except RequestTooLarge as exc:
            raise HTTPException(status_code=413, detail=str(exc)) from None
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if frame.empty:
            return {"predictions": []}
        try:
            scored = served.batcher.submit(frame).result()
        except ValueError as exc:  # the model refused these rows (a column it needs is missing...)
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"predictions": predictions(served.model, scored, list(frame.columns), served.ood is not None)}

    return app


def bearer_token(request: Any) -> str:
    sent = request.headers.get("authorization", "")
    return sent[len("Bearer "):].strip() if sent.startswith("Bearer ") else ""


def unauthorized() -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": "Missing or wrong token: send 'Authorization: Bearer <token>'."},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


def read_token(token_file: str | None) -> str | None:
    """The bearer token: the first line of ``token_file`` when given, else ``$MARKETUNE_API_TOKEN``;
    None when neither is set. Raises ValueError for an empty token file."""
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip().splitlines()
        if not token or not token[0].strip():
            raise ValueError(f"{token_file} is empty; put the token on its first line.")
        return token[0].strip()
    return os.environ.get(TOKEN_ENV) or None


def serve(folder: str | Path, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          limits: ApiLimits | None = None) -> None:
    """Run the API until interrupted (uvicorn, one process: the batcher shares one model)."""
    import uvicorn

    check_exposure(host, token)
    uvicorn.run(create_app(folder, token=token, limits=limits), host=host, port=port, log_level="info")
