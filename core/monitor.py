"""A watch on drift: every scored file adds a line to its model's history, compared with training.

Each scoring (the Predict page, the Dashboard, ``python -m core predict``, the HTTP API) appends
one JSON line to ``<model folder>/scoring_history.jsonl``: when, from where, rows scored, the share
of rows flagged unlike the training data (when the flag was computed), the predicted-label mix and
the mean confidence. Only counts are kept, never a row's text. The reference is the model's own
held-out test split (``test_predictions.csv``: the same model's predictions on rows like its
training data) and, for the flag, the rate the flag's threshold was set at (core.ood.OOD_QUANTILE:
1% of training texts lie beyond it).

Three alarms, each a rule of thumb stated with its source:
- **Label mix**: population stability index (PSI) of the predicted-label mix against the test
  split's, alarm at PSI > 0.25, the usual "significant shift" line of credit-scoring practice
  (Siddiqi, *Credit Risk Scorecards*, 2006: < 0.1 stable, 0.1-0.25 some shift, > 0.25 significant).
- **Unlike the training data**: more than 10% of rows flagged, ten times the 1% the flag's
  threshold lets through on training-like text.
- **Confidence**: mean confidence more than 10 points below the test split's.
Fewer than 50 scored rows raise no alarm: their mix says too little. The verdict of "now" pools the
most recent scorings of the same model, newest first, until they hold at least 50 rows (an API
writes a line per 10 s of traffic: four rows a request add up), and says how many scorings and rows
it covers.

Each line is judged against the reference of the model that scored it: the line names it
(``"reference_id"``: version, kind and a fingerprint of its test-split numbers) and the folder keeps
each such reference in ``scoring_references.json``, so putting a candidate in front ("Use ...
instead") or rolling back never re-judges the scorings made before. A line written before lines
named their model is judged against the model in use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .files import atomic_write, read_json_lines, read_json_object
from .models.folder import MANIFEST, SCORING_HISTORY, SCORING_REFERENCES, TEST_PREDICTIONS
from .words import rows_words

HISTORY_FILE = SCORING_HISTORY
PSI_ALARM = 0.25
OOD_ALARM = 0.10
CONFIDENCE_DROP_ALARM = 0.10
MIN_ROWS_FOR_ALARM = 50
PSI_FLOOR = 1e-4  # a share of 0 in either mix counts as this, so PSI stays finite


@dataclass
class ScoringTally:
    """Counts of one scoring, added to chunk by chunk (:meth:`add`)."""

    n_rows: int = 0
    n_scored: int = 0  # rows with a prediction (not "no text")
    n_flagged: int = 0  # of the scored rows, flagged unlike the training data
    flag_computed: bool = False
    labels: Counter = field(default_factory=Counter)
    confidence_sum: float = 0.0
    value_sum: float = 0.0  # regression: the predicted values' sum
    with_confidence: bool = False  # single-label classification: a confidence per row
    # When the first and the last counted rows were scored (time.time()): the line is stamped with
    # them, not with when it is written (the API writes its counts up to HISTORY_EVERY_S later).
    first_at: float | None = None
    last_at: float | None = None

    def add(self, result: pd.DataFrame, names: dict[str, str], task: str, with_flag: bool) -> None:
        """Count one chunk of :func:`core.predict.predict_frame`'s output (``names``: its
        :func:`core.predict.output_names`)."""
        self.last_at = time.time()
        self.first_at = self.first_at or self.last_at
        scored = result[names["prediction_error"]].astype(str) == ""
        self.n_rows += len(result)
        self.n_scored += int(scored.sum())
        if task == "regression":
            self.value_sum += float(pd.to_numeric(result.loc[scored, names["predicted_value"]]).sum())
        elif "predicted_label" not in names:  # several tags per row: the mix counts each tag given
            column = names.get("predicted_labels", "predicted_labels")
            self.labels.update(t for cell in result.loc[scored, column].astype(str) for t in cell.split("|") if t)
        else:
            self.labels.update(str(v) for v in result.loc[scored, names["predicted_label"]])
            self.confidence_sum += float(pd.to_numeric(result.loc[scored, names["confidence"]]).sum())
            self.with_confidence = True
        if with_flag:
            self.flag_computed = True
            self.n_flagged += int(result.loc[scored, names["out_of_distribution"]].astype(bool).sum())

    def line(self, source: str) -> dict[str, Any]:
        """The history line: ``"at"`` when its first row was scored, ``"until"`` its last (local
        time, ISO 8601; both now for a tally that counted nothing), the counts as shares."""
        n = max(self.n_scored, 1)
        stamp = "%Y-%m-%dT%H:%M:%S%z"
        return {
            "at": time.strftime(stamp, time.localtime(self.first_at)),
            "until": time.strftime(stamp, time.localtime(self.last_at)),
            "source": source,
            "rows": self.n_rows,
            "scored": self.n_scored,
            "share_unlike_training": round(self.n_flagged / n, 6) if self.flag_computed and self.n_scored else None,
            "label_mix": {k: round(v / n, 6) for k, v in sorted(self.labels.items())} if self.labels else {},
            "mean_confidence": round(self.confidence_sum / n, 6) if self.with_confidence else None,
            "mean_value": round(self.value_sum / n, 6) if not self.labels and self.n_scored else None,
        }


def record(folder: str | Path | None, tally: ScoringTally, source: str) -> dict[str, Any] | None:
    """Append ``tally`` as one line to ``folder``'s history (owner-only file); returns the line.
    The line names the model that scored it (``"version"``, ``"kind"``, ``"reference_id"``) and its
    reference is kept beside the history (:func:`references`). None (nothing written) for a model
    without a folder or a scoring of no rows. A history that cannot be written (a read-only team
    folder) never fails the scoring: it is skipped."""
    if folder is None or tally.n_rows == 0:
        return None
    line = {**tally.line(source), **_scored_by(Path(folder))}
    path = Path(folder) / HISTORY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:  # one short write: appends do not interleave
            f.write(json.dumps(line) + "\n")
    except OSError:
        return None
    return line


def _scored_by(folder: Path) -> dict[str, Any]:
    """The model in ``folder`` now: its version ("v1" before any retrain numbered it), kind, and the
    id of its reference, which is added to the folder's references when new."""
    from .versions import version_name

    ref = reference(folder)
    kind = str(read_json_object(folder / MANIFEST).get("kind") or "")
    version = version_name(folder) or "v1"
    digest = hashlib.sha1(json.dumps(ref, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    ref_id = f"{version}:{kind}:{digest}"
    known = references(folder)
    if ref_id not in known:
        # A read-only folder: the line is judged against the model in use, as before.
        with contextlib.suppress(OSError):
            atomic_write(folder / SCORING_REFERENCES,
                         json.dumps({**known, ref_id: {**ref, "version": version, "kind": kind}}, indent=1).encode())
    return {"version": version, "kind": kind, "reference_id": ref_id}


def references(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The references of the models that scored the folder's lines, by ``reference_id``."""
    return read_json_object(Path(folder) / SCORING_REFERENCES)


def history(folder: str | Path) -> list[dict[str, Any]]:
    """The folder's scoring lines, oldest first (a damaged line is skipped)."""
    return read_json_lines(Path(folder) / HISTORY_FILE)


_REFERENCE_CACHE: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def reference(folder: str | Path) -> dict[str, Any]:
    """The training side: predicted-label mix and mean confidence on the model's test split
    (``{}`` when the folder has no test_predictions.csv with them), and the flag's expected rate.
    Read once per version of the file (the API asks at each line it writes)."""
    from .ood import OOD_QUANTILE

    out: dict[str, Any] = {"share_unlike_training": round(1 - OOD_QUANTILE, 6)}
    path = Path(folder) / TEST_PREDICTIONS
    try:
        stat = path.stat()
    except OSError:
        return out
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _REFERENCE_CACHE.get(str(path))
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    test = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "predicted_label" in test and "confidence" in test and len(test):
        counts = test["predicted_label"].astype(str).value_counts(normalize=True)
        out["label_mix"] = {k: round(float(v), 6) for k, v in sorted(counts.items())}
        out["mean_confidence"] = round(float(test["confidence"].mean()), 6)
        out["rows"] = int(len(test))
    _REFERENCE_CACHE[str(path)] = (key, out)
    return dict(out)


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index of two label mixes: sum over labels of (a - e) * ln(a / e),
    shares floored at PSI_FLOOR so a label absent on one side counts without being infinite."""
    labels = sorted(set(expected) | set(actual))
    e = np.array([max(expected.get(k, 0.0), PSI_FLOOR) for k in labels])
    a = np.array([max(actual.get(k, 0.0), PSI_FLOOR) for k in labels])
    return float(np.sum((a - e) * np.log(a / e)))


def alarms(line: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """The module's three alarms for one history line against the reference, in words."""
    if (line.get("scored") or 0) < MIN_ROWS_FOR_ALARM:
        return []
    found = []
    if line.get("label_mix") and ref.get("label_mix"):
        value = psi(ref["label_mix"], line["label_mix"])
        if value > PSI_ALARM:
            moved = max(line["label_mix"], key=lambda k: abs(line["label_mix"].get(k, 0) - ref["label_mix"].get(k, 0)))
            found.append(f"the predicted-label mix moved (PSI {value:.2f} > {PSI_ALARM}): '{moved}' is "
                         f"{line['label_mix'].get(moved, 0):.0%} of rows against {ref['label_mix'].get(moved, 0):.0%} "
                         "on the test split")
    share = line.get("share_unlike_training")
    if share is not None and share > OOD_ALARM:
        found.append(f"{share:.0%} of rows look unlike the training data (more than {OOD_ALARM:.0%}; about "
                     f"{ref['share_unlike_training']:.0%} of training-like text is flagged)")
    conf, ref_conf = line.get("mean_confidence"), ref.get("mean_confidence")
    if conf is not None and ref_conf is not None and ref_conf - conf > CONFIDENCE_DROP_ALARM:
        found.append(f"mean confidence fell to {conf:.0%} from {ref_conf:.0%} on the test split")
    return found


def report(folder: str | Path) -> dict[str, Any]:
    """What ``python -m core monitor`` prints and the Models page draws: the reference, each
    history line with its alarms (against the reference of the model that scored it; ``"model_changed"``
    where that model differs from the line before's), and the verdict of now: ``"last_alarms"``
    (``"alarm"``: any) of the most recent scorings pooled (:func:`pooled`), ``"last_covers"`` and
    ``"last_in_words"`` saying which; all of the model in use. ``"earlier"``: the scorings of its
    kept versions (``versions/vN``, each line with its ``"version"``, alarms against that version's
    own test split), oldest first."""
    from .versions import VERSIONS, version_name

    ref, refs = reference(folder), references(folder)
    lines = _judged(history(folder), ref, refs)
    last = pooled(lines, ref, refs)
    earlier = []
    kept = Path(folder) / VERSIONS
    for path in sorted(kept.glob("v*")) if kept.is_dir() else []:
        if path.is_dir() and (path / HISTORY_FILE).is_file():
            name = version_name(path) or path.name
            earlier += [{**line, "version": name} for line in _judged(history(path), reference(path), references(path))]
    return {"model": Path(folder).name, "version": version_name(folder) or "v1", "reference": ref, "history": lines,
            "alarm": bool(last["alarms"]), "last_alarms": last["alarms"], "last_covers": last["covers"],
            "last_in_words": last["words"], "earlier": sorted(earlier, key=lambda line: str(line.get("at")))}


def _judged(lines: list[dict[str, Any]], ref: dict[str, Any], refs: dict[str, Any]) -> list[dict[str, Any]]:
    out, before = [], None
    for line in lines:
        own = refs.get(line.get("reference_id")) or ref  # the reference of the model that scored it
        changed = before is not None and line.get("reference_id") != before
        out.append({**line, "alarms": alarms(line, own), "psi": _psi_of(line, own), "model_changed": changed})
        before = line.get("reference_id")
    return out


def pooled(lines: list[dict[str, Any]], ref: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    """The verdict of now ("words": "the last 3 scorings pooled (72 rows)"): the newest lines of the same model (``reference_id``) pooled, newest first,
    until they hold at least MIN_ROWS_FOR_ALARM scored rows, judged as one scoring (shares weighted by
    rows) against that model's reference. ``{"alarms", "covers": {"scorings", "rows", "at", "until"},
    "words"}``; no alarm when even all of them hold fewer rows."""
    taken: list[dict[str, Any]] = []
    for line in reversed(lines):
        if taken and line.get("reference_id") != taken[0].get("reference_id"):
            break
        taken.append(line)
        if sum(t.get("scored") or 0 for t in taken) >= MIN_ROWS_FOR_ALARM:
            break
    if not taken:
        return {"alarms": [], "covers": {"scorings": 0, "rows": 0}, "words": ""}
    taken.reverse()  # oldest first
    merged = merge_lines(taken)
    own = refs.get(taken[-1].get("reference_id")) or ref
    n, rows = len(taken), merged["scored"]
    what = "the last scoring" if n == 1 else f"the last {n:,} scorings"
    words = f"{what} ({rows_words(rows)})" if n == 1 else f"{what} pooled ({rows_words(rows)})"
    covers = {"scorings": n, "rows": rows, "at": taken[0].get("at"), "until": taken[-1].get("until") or taken[-1].get("at")}
    return {"alarms": alarms(merged, own), "covers": covers, "words": words}


def merge_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Several history lines as one: rows and scored rows summed, each share and mean weighted by
    the scored rows of the lines that have it."""
    scored = [max(int(line.get("scored") or 0), 0) for line in lines]

    def weighted(field: str) -> float | None:
        pairs = [(line[field], w) for line, w in zip(lines, scored) if line.get(field) is not None and w]
        total = sum(w for _, w in pairs)
        return round(sum(v * w for v, w in pairs) / total, 6) if total else None

    mix: Counter = Counter()
    for line, w in zip(lines, scored):
        for label, share in (line.get("label_mix") or {}).items():
            mix[label] += share * w
    total = sum(scored)
    return {"rows": sum(int(line.get("rows") or 0) for line in lines), "scored": total,
            "share_unlike_training": weighted("share_unlike_training"),
            "label_mix": {k: round(v / total, 6) for k, v in sorted(mix.items())} if total and mix else {},
            "mean_confidence": weighted("mean_confidence"), "mean_value": weighted("mean_value")}


def _psi_of(line: dict[str, Any], ref: dict[str, Any]) -> float | None:
    if not line.get("label_mix") or not ref.get("label_mix"):
        return None
    value = psi(ref["label_mix"], line["label_mix"])
    return round(value, 4) if math.isfinite(value) else None
