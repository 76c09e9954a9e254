"""An HTTP API for one saved model: ``python -m core serve --model NAME_OR_DIR``.

FastAPI + uvicorn (OpenAPI docs at ``/docs``):

- ``POST /predict`` with ``{"texts": [...]}`` (a model that reads one text column) or
  ``{"rows": [{column: value}, ...]}`` returns ``{"predictions": [...]}``, one per input in
  order: ``{"label", "confidence", "probabilities": {class: p}, "ood"}`` for a classifier,
  ``{"value", "ood"}`` for a regression model. The numbers are :func:`core.predict.predict_frame`'s,
  the same function ``python -m core predict`` writes its CSV with. A row the model cannot use
  (no text) gets ``{"error": ...}`` in its place, as the CLI's ``prediction_error`` column says.
- ``GET /health``: ``{"status": "ok"}`` without a token (load balancers' probes), ``{"status": "ok",
  "model": name}`` with it (or on a server that needs none); a wrong token gets 401; ``GET /model``: the model's card.

A bearer token (``Authorization: Bearer <token>``, from ``MARKETUNE_API_TOKEN`` or ``--token-file``)
is required when one is set, and a server bound beyond loopback refuses to start without one: the
rule the app follows (ui/serving.py). Limits: rows per request and characters per text (413 with
the limit and what was sent, the server keeps serving), and the request body's size (checked from
Content-Length before it is read, and counted as it arrives for a body sent without one, e.g.
``Transfer-Encoding: chunked``: 413 once over, the rest is never read; :class:`BodyLimit`).

The model answering is the one in the folder now: a retrain's promotion or a rollback replaces the
folder, and the next request loads the new model and swaps it in whole (model, ``/model``'s card,
the scoring history the counts go to; :class:`ModelCache`); the counts the old one made reach its
own history under ``versions/``.

Requests are batched under load (:class:`MicroBatcher`): while the model scores one batch, the
requests that arrive wait together and are scored as the next single batch, so 20 concurrent
clients cost a few forward passes rather than 20.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
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
# The API's counts reach the model's scoring history at most this many seconds after their first
# row was scored (docs/serving.md); each line is stamped with when its rows were scored
# (core.monitor.ScoringTally), not when it is written. 10 s: Use over time is at most that late,
# and steady traffic writes at most 8,640 short lines a day (a minute, before, left it 60 s behind).
HISTORY_EVERY_S = 10.0


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


class BodyLimit:
    """ASGI middleware: counts a request body's bytes as they are received and answers 413 once
    the count passes ``max_bytes`` (raised from ``receive`` as an HTTPException, which FastAPI turns
    into the answer), so a chunked body (no Content-Length) is never read whole into memory."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    from fastapi import HTTPException

                    raise HTTPException(status_code=413, detail=f"The request body has over {self.max_bytes:,} "
                                        f"bytes (read so far: {seen:,}); at most {self.max_bytes:,}.")
            return message

        await self.app(scope, counted, send)


class Guard:
    """ASGI middleware: ``guard(scope, receive, send, inner)`` decides, ``inner`` is the app behind
    a :class:`BodyLimit` of ``max_bytes``."""

    def __init__(self, app: Any, guard: Any, max_bytes: int) -> None:
        self.guard, self.inner = guard, BodyLimit(app, max_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.guard(scope, receive, send, self.inner)


class ServingStopped(RuntimeError):
    """The batcher was stopped: a newer version of the model is served by another (ask again)."""


def folder_stamp(folder: str | Path) -> tuple[int, int]:
    """Changes whenever the model in ``folder`` is replaced: a save, a retrain's promotion and a
    rollback all rename a new folder into place (new inode) with a freshly written manifest. Two
    ``stat`` calls: cheap enough for every request. ``OSError`` while no folder is there."""
    folder = Path(folder)
    return folder.stat().st_ino, (folder / MANIFEST).stat().st_mtime_ns


def history_home(folder: str | Path | None, manifest: dict[str, Any] | None) -> Path | None:
    """Where the model loaded from ``folder`` with ``manifest`` (its marketune.json) lives now: the
    folder while it is still in place, else the kept version under ``versions/`` that carries the
    same manifest (a promotion or a rollback moved it there, history and all). A model a swap put
    among its version's candidates ("Use ... instead") counts for that version: the scoring history
    is the version's, whichever candidate is in front (core.versions.MODEL_FILES). None once it is
    gone (its counts are then dropped rather than written into another model's history).
    ``manifest`` None: ``folder`` as it is."""
    if folder is None or manifest is None:
        return None if folder is None else Path(folder)
    from .models.candidates import CANDIDATES
    from .versions import VERSIONS

    folder = Path(folder)
    kept = folder / VERSIONS
    versions = sorted(kept.glob("v*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else 0, reverse=True)
    for place in (folder, *versions):
        for model in (place, *sorted((place / CANDIDATES).glob("*"))):
            try:
                if _json(model / MANIFEST) == manifest:
                    return place
            except (OSError, ValueError):  # mid-swap or damaged: not this one
                continue
    return None


class MicroBatcher:
    """Scores frames for many concurrent requests in few passes.

    ``submit(frame)`` returns a Future of the scored frame (same rows, same order). One thread
    takes every frame waiting (up to ``max_rows`` rows), scores them as one ``predict_frame``
    call and splits the result: a request never waits for more than the batch ahead of it.
    """

    def __init__(self, model: SavedModel, *, ood: Any, max_rows: int, history_every_s: float = HISTORY_EVERY_S,
                 clock: Any = time.monotonic, folder: str | Path | None = None,
                 manifest: dict[str, Any] | None = None) -> None:
        self.model, self.ood, self.max_rows = model, ood, max_rows
        # Whose history the counts go to: the model loaded from ``folder`` with ``manifest``, wherever it
        # is when they are written (:func:`history_home`: a retrain or a rollback moves it to versions/).
        self.folder = folder if folder is not None else getattr(model, "path", None)
        self.manifest = manifest
        self._waiting: queue.Queue[tuple[pd.DataFrame, Future] | None] = queue.Queue()
        self._lock, self._stopping = threading.Lock(), False  # no request is queued behind the stop
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
        with self._lock:
            if self._stopping or not self._thread.is_alive():  # stopped: nobody would ever answer
                future.set_exception(ServingStopped("This model is no longer served (the server is stopping, or "
                                                    "a newer version replaced it)."))
                return future
            self._waiting.put((frame, future))
        return future

    def stop(self, wait_s: float | None = 30.0) -> None:
        """Score what waits, write the counts, and end the thread (the server stops, or lets the
        model go); waits up to ``wait_s`` seconds for it (None: does not wait)."""
        with self._lock:
            self._stopping = True
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
        # Counted before anyone is answered, so a shutdown right after an answer writes it too;
        # the history never stops the serving.
        with contextlib.suppress(Exception):
            self._count(scored, frames[0].columns)
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
        with contextlib.suppress(Exception):  # the history never stops the serving
            if self.tally.n_rows:
                record(history_home(self.folder, self.manifest), self.tally, "api")
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
    ``{"rows": [{column: value}, ...]}`` any model; a row that leaves a column out reads it as an
    empty cell (a row without text then gets its own error, :func:`predictions`). Raises
    :class:`RequestTooLarge` over ``limits`` and ``ValueError`` (422) for any other shape or a
    column no row has, naming what was expected and found.
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
        # Other keys are ignored, as the CLI ignores other columns. A key some rows leave out is an
        # empty cell there, as in a CSV (a row without text gets its own error); a key NO row has is
        # a misnamed column: the one missing-columns message, with the keys found and the closest match.
        sent = sorted({key for record in records for key in record})
        absent = [c for c in columns if c not in sent]
        if records and absent:
            from .reading import missing_columns_message

            raise ValueError(missing_columns_message(absent, sent, lead=f"No row has {absent}; the model reads "
                                                                     f"{columns}"))
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
        else:
            if task == MULTI_LABEL:
                joined = str(row[name[PREDICTED_LABELS]] or "")
                item = {"labels": joined.split(OUTPUT_SEP) if joined else []}
            else:
                item = {"label": _plain(row[name["predicted_label"]]), "confidence": float(row[name["confidence"]])}
            item["probabilities"] = {str(c): float(row[name[f"p_{c}"]]) for c in model.classes_}
        item["ood"] = bool(row[name[OOD_COLUMN]]) if ood else None
        out.append(item)
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def model_card(folder: Path, model: SavedModel) -> dict[str, Any]:
    """What ``GET /model`` says: its version (the stable number core/versions.py gives it at its
    first retrain; "v1" before, the number that retrain gives it), kind, task, classes, input columns, base model and the test
    metrics recorded at training (JSON files of the folder, nothing recomputed)."""
    from .versions import version_name

    manifest = _json(folder / MANIFEST)
    metrics = _json(folder / METRICS)
    headline = {k: v for k, v in metrics.get("model", {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
    return {
        "name": folder.name,
        "version": version_name(folder) or "v1",
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
    if not loopback and not (token or "").strip():
        # read_token reads a blank variable as unset: say it was blank, or "set it" reads as a mistake
        blank = TOKEN_ENV in os.environ and not os.environ[TOKEN_ENV].strip()
        raise ValueError(f"--host {host} reaches beyond this machine: "
                         + (f"{TOKEN_ENV} is set but blank (spaces only); put the token in it"
                            if blank else f"set {TOKEN_ENV}")
                         + " (or --token-file) so every request must carry 'Authorization: Bearer <token>', or serve "
                         "on 127.0.0.1.")


@dataclass
class Served:
    """One model as the API serves it, swapped whole when the folder changes: the loaded model, its
    out-of-distribution reference, its card (``GET /model``), its manifest (whose history the
    counts go to) and the batcher that scores its requests."""

    folder: Path
    model: SavedModel
    ood: Any
    batcher: MicroBatcher
    card: dict[str, Any]
    manifest: dict[str, Any]

    @classmethod
    def load(cls, folder: str | Path, limits: ApiLimits) -> Served:
        from .onnx_form import load_onnx, onnx_or_torch, read_record
        from .predict import ood_reference

        folder = Path(folder)
        for _ in range(3):  # a folder replaced while it was read is read again
            manifest = _json(folder / MANIFEST)
            # The checked ONNX form when `python -m core export` made one (same labels on >= 99% of the
            # test rows) and measured it faster than the saved model as it is (torch fp32), else that.
            record = read_record(folder)
            use, why = onnx_or_torch(record, "torch_fp32")
            if record is not None:
                print(f"{folder.name}: {'the ONNX form runs' if use else 'the ONNX form is not used'}: {why}",
                      file=sys.stderr, flush=True)
            model = (load_onnx(folder) if use else None) or load_folder(folder)
            ood = ood_reference(model, folder)
            card = model_card(folder, model)
            if _json(folder / MANIFEST) == manifest:
                break
        batcher = MicroBatcher(model, ood=ood, max_rows=limits.max_batch_rows, folder=folder, manifest=manifest)
        return cls(folder, model, ood, batcher, card, manifest)


class ModelCache:
    """The models loaded now, by folder, each reloaded when its folder changes on disk
    (:func:`folder_stamp`: a retrain's promotion or a rollback replaces it) and swapped whole
    (model, card, history); least recently used let go first beyond ``max_models``."""

    def __init__(self, limits: ApiLimits, max_models: int) -> None:
        self.limits, self.max_models = limits, max_models
        self._loaded: OrderedDict[Path, tuple[tuple[int, int], Served]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: Path) -> Served:
        with self._lock:  # one load per folder, even when its first requests come at once
            found = self._loaded.get(folder)
            try:
                stamp = folder_stamp(folder)
            except OSError:  # between the two renames of a swap: the loaded model answers until the new one is in
                if found is not None:
                    return found[1]
                raise
            if found is not None and found[0] == stamp:
                self._loaded.move_to_end(folder)
                return found[1]
            served = Served.load(folder, self.limits)
            if found is not None:  # its thread scores what it holds and writes the counts to that model's history
                found[1].batcher.stop(wait_s=None)
            self._loaded[folder] = (stamp, served)
            self._loaded.move_to_end(folder)
            while len(self._loaded) > self.max_models:
                _, (_, old) = self._loaded.popitem(last=False)
                old.batcher.stop(wait_s=None)
            return served

    def all(self) -> list[Served]:
        with self._lock:
            return [served for _, served in self._loaded.values()]


def create_app(folder: str | Path, *, token: str | None = None, limits: ApiLimits | None = None) -> Any:
    """The FastAPI app serving the model saved in ``folder``; ``token``: the bearer token every
    request must carry (None: no token needed, loopback only - :func:`check_exposure`).
    A ``?model=NAME`` naming another model gets 404. A retrain's promotion or a rollback in the
    folder is picked up by the next request: answers, ``/model`` and the scoring history follow."""
    from fastapi import HTTPException

    limits = limits or ApiLimits()
    folder = Path(folder)
    token = (token or "").strip() or None  # a blank token is none (bearer_token strips what is sent)
    cache = ModelCache(limits, max_models=1)
    first = cache.get(folder)  # loaded now: a broken model fails at start, not at the first request

    def authorize(request: Any) -> Any:
        if token is not None and not hmac.compare_digest(bearer_token(request).encode(), token.encode()):
            return unauthorized()
        return None

    def served_for(_request: Any, name: str | None) -> Served:
        if name not in (None, "", folder.name):
            raise HTTPException(status_code=404, detail=f"This server serves the model '{folder.name}' only; "
                                f"found ?model={name}.")
        return cache.get(folder)

    app = build_api(limits, authorize, served_for, cache.all,
                    f"Predictions of the saved model '{folder.name}' ({first.model.task}).")
    app.state.models = cache
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

    from fastapi import Depends
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.security import HTTPBearer
    from starlette.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    # /docs works offline: Swagger UI's files are served from the swagger-ui-bundle package, not a CDN.
    app = FastAPI(title="Marketune model API", version="1", lifespan=lifespan, description=description,
                  docs_url=None, redoc_url=None)
    app.mount(DOCS_STATIC, StaticFiles(directory=swagger_ui_path), name="docs-static")
    # The bearer token in the schema (Swagger's Authorize button); the Guard below does the checking.
    bearer = Depends(HTTPBearer(auto_error=False, scheme_name="bearer",
                                description="The server's token: MARKETUNE_API_TOKEN or --token-file."))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=DOCS_OPENAPI, title="Marketune model API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png")

    @app.get(DOCS_OPENAPI, include_in_schema=False)
    def docs_schema() -> JSONResponse:
        # The bundled Swagger UI (4.15) renders OpenAPI 3.0 documents only: the same schema, labelled 3.0.3
        # for it; /openapi.json stays as FastAPI writes it.
        return JSONResponse({**app.openapi(), "openapi": "3.0.3"})

    async def guard(scope: dict, receive: Any, send: Any, inner: Any) -> None:
        """The token and the body size, before any work (a plain ASGI wrapper rather than
        ``@app.middleware``: an HTTPException raised while the body is received reaches FastAPI
        as itself, not inside a task group's ExceptionGroup)."""
        if scope.get("type") != "http":
            await inner(scope, receive, send)
            return
        request = Request(scope)  # headers and state only: the body is read by the route
        # /health without a token is a load balancer's probe: let in, it answers {"status": "ok"} only.
        probe = request.url.path == "/health" and "authorization" not in request.headers
        if not is_open_path(request.url.path) and not probe:
            denied = authorize(request)
            if denied is not None:
                await denied(scope, receive, send)
                return
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limits.max_body_bytes:
            await JSONResponse({"detail": f"The request body has {int(size):,} bytes; at most "
                                f"{limits.max_body_bytes:,}."}, status_code=413)(scope, receive, send)
            return
        await inner(scope, receive, send)  # inner: BodyLimit counts a body without Content-Length

    app.add_middleware(Guard, guard=guard, max_bytes=limits.max_body_bytes)

    @app.get("/health")
    def health(request: Request, model: str | None = None) -> dict[str, Any]:
        """``{"status": "ok"}`` to anyone (a load balancer's probe); with the token (or on a server that
        needs none) the model's name too. A wrong token gets 401."""
        if "authorization" not in request.headers and authorize(request) is not None:
            return {"status": "ok"}
        return {"status": "ok", "model": served_for(request, model).folder.name}

    @app.get("/model", dependencies=[bearer])
    def card(request: Request, model: str | None = None) -> dict[str, Any]:
        return served_for(request, model).card

    @app.post("/predict", response_model=_answer_models()[1], response_model_exclude_unset=True,
              openapi_extra=PREDICT_REQUEST, dependencies=[bearer])
    def predict(request: Request, body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
        for _ in range(3):  # a newer version replaced the model between the lookup and the scoring: ask it
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
            except ServingStopped:
                continue
            except ValueError as exc:  # the model refused these rows (a column it needs is missing...)
                raise HTTPException(status_code=422, detail=str(exc)) from None
            # the answer is read with the model that scored it (its classes), even if a newer one is in place now
            return {"predictions": predictions(served.model, scored, list(frame.columns), served.ood is not None)}
        raise HTTPException(status_code=503, detail="The model is being replaced right now; ask again.")

    return app


# Swagger UI's files (the swagger-ui-bundle package) and the schema it reads: open, like /docs and /openapi.json.
DOCS_STATIC, DOCS_OPENAPI = "/docs-static", "/docs-openapi.json"


def is_open_path(path: str) -> bool:
    """A path every client may read without the token: the API's documentation and its files."""
    return path in ("/docs", "/openapi.json", DOCS_OPENAPI) or path.startswith(DOCS_STATIC + "/")


def bearer_token(request: Any) -> str:
    """The token of ``Authorization: Bearer <token>``; the scheme's case does not matter (RFC 7235:
    "bearer" is "Bearer"). "" when none is sent."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


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
    return os.environ.get(TOKEN_ENV, "").strip() or None  # blank or whitespace: unset


def serve(folder: str | Path, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          limits: ApiLimits | None = None) -> None:
    """Run the API until interrupted (uvicorn, one process: the batcher shares one model)."""
    import uvicorn

    check_exposure(host, token)
    uvicorn.run(create_app(folder, token=token, limits=limits), host=host, port=port, log_level="info")
