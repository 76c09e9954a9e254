"""Per-job limits of a server: how long one job may hold the trainer, and how much one job may
ask of it (rows, epochs, tokens per text), so that one person's job cannot hold everybody's
queue for days.

The admin sets them under ``[marketune]`` in `.streamlit/secrets.toml` (docs/team-server.md,
**Limits**, *Per job*); ``core.workspace.TeamSettings`` reads them. The Train page states them and refuses
settings over them, ``core.jobs`` refuses a job over them before it is queued (every page's job
goes through it), and the worker checks them again from the job's request.json (written by the
server, never by a person) and stops training at the time limit the way early stopping does: the
best model evaluated so far is tested and saved (core/worker.py).

A team server applies :data:`TEAM_DEFAULTS` to the keys the admin leaves out; a laptop has no
limits unless its secrets.toml sets them. A value of 0 means "no limit".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYS = ("max_job_minutes", "max_rows", "max_epochs", "max_length")
TEAM_DEFAULTS: dict[str, float | int] = {
    # Two hours of the trainer per job, counted from when the job gets it (waiting in the queue does
    # not count): the measured default run on 5,000 long reviews took 525 s on 2 cores (docs/measurements.md,
    # "Accuracy and training speed"), so real jobs of tens of thousands of rows finish well inside it, and a
    # person with one job ahead of theirs waits at most this long for it.
    "max_job_minutes": 120,
    # 200,000 rows: 3 epochs over the training split of that many short texts take about 90 minutes
    # at the measured 77 texts/s, about the time limit; more rows would only be cut off by it (one
    # epoch over the 2,000,000 rows a table may have takes about 5 hours).
    "max_rows": 200_000,
    # 20 epochs: the presets use 1-5 and early stopping ends most runs before 10; 20 leaves room for
    # the many passes a small table needs, while the form's 100 passes over a large table would
    # hold the trainer for days.
    "max_epochs": 20,
    # 512 tokens per text: what the catalog's base models read at most (their position
    # embeddings); attention's time and memory grow with the square of the length, so the form's
    # 8,192 would cost 256 times as much per text for nothing those models can use.
    "max_length": 512,
}
WHAT = {  # how each limit is named in a sentence, and what it counts
    "max_job_minutes": "time",
    "max_rows": "rows",
    "max_epochs": "epochs",
    "max_length": "tokens per text",
}
WHO_CHANGES = "the server's admin sets it as `{key}` under [marketune] in .streamlit/secrets.toml"


class JobLimitError(ValueError):
    """A job, or a limit setting, over or outside what the server allows; the message says which
    limit, what was asked and who changes it."""


def _number(value: float) -> str:
    """1,234 for whole numbers (rows, epochs), 0.5 otherwise."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def duration_text(minutes: float) -> str:
    """``minutes`` for people: "2 h", "90 min", "3 s"."""
    if minutes * 60 < 60:
        return f"{minutes * 60:.3g} s"
    if minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"


@dataclass(frozen=True)
class JobLimits:
    """What one job may ask of the server's trainer; None: no limit.

    ``max_job_minutes``: run time once the job has the trainer lock (fractions allowed: tests use
    seconds); ``max_rows``: rows of the table one job trains on (both kinds of job);
    ``max_epochs``: passes over the training rows of a fine-tuning; ``max_length``: tokens kept
    per text in a fine-tuning.
    """

    max_job_minutes: float | None = None
    max_rows: int | None = None
    max_epochs: float | None = None
    max_length: int | None = None

    @classmethod
    def from_settings(cls, section: Mapping[str, Any] | None, *, team: bool) -> JobLimits:
        """From the ``[marketune]`` table of secrets.toml. Missing keys: :data:`TEAM_DEFAULTS` when
        ``team``, else no limit; 0: no limit. Raises :class:`JobLimitError` naming a bad value."""
        section = dict(section or {})
        values: dict[str, Any] = {}
        for key in KEYS:
            value = section.get(key, TEAM_DEFAULTS[key] if team else 0)
            whole = key in ("max_rows", "max_length")
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value < 0:
                kind = "a whole number" if whole else "a number"
                raise JobLimitError(f"[marketune] {key} must be {kind}, 0 or more (0: no limit); found {value!r}.")
            values[key] = None if value == 0 else (int(value) if whole else float(value))
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> JobLimits:
        """From a job's request.json (:meth:`to_dict`); None or {}: no limits (a job queued
        before limits existed)."""
        data = dict(data or {})
        return cls.from_settings({k: data.get(k) or 0 for k in KEYS}, team=False)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, key) is not None for key in KEYS)

    def deadline(self, now: float) -> float | None:
        """When a job that got the trainer at ``now`` (``time.monotonic()``) must stop training;
        None without a time limit."""
        return None if self.max_job_minutes is None else now + self.max_job_minutes * 60

    def sentence(self) -> str:
        """One line for the page: the limits in force and who sets them ("" when none is)."""
        parts = []
        if self.max_job_minutes is not None:
            parts.append(f"{duration_text(self.max_job_minutes)} of training once it starts (then it stops and "
                         "saves the best model so far)")
        if self.max_rows is not None:
            parts.append(f"{self.max_rows:,} rows")
        if self.max_epochs is not None:
            parts.append(f"{_number(self.max_epochs)} epochs")
        if self.max_length is not None:
            parts.append(f"{self.max_length:,} tokens per text")
        if not parts:
            return ""
        return f"Limits per job on this server, set by its admin: {', '.join(parts)}."

    def problems(self, *, rows: int | None = None, epochs: float | None = None,
                 max_length: int | None = None) -> list[str]:
        """A sentence for each of ``rows``, ``epochs``, ``max_length`` (None: not asked for, e.g.
        a comparison without the transformer) that is over its limit: the limit, what was
        chosen, and who changes it."""
        found = []
        for key, value, fix in (
            ("max_rows", rows, "Train on a sample of the rows"),
            ("max_epochs", epochs, "Choose fewer epochs"),
            ("max_length", max_length, "Choose a shorter max length"),
        ):
            limit = getattr(self, key)
            if limit is not None and value is not None and value > limit:
                what = WHAT[key]
                found.append(
                    f"This job asks for {_number(value)} {what}; this server allows at most {_number(limit)} {what} per job, "
                    f"so that one job cannot hold the shared trainer for long. {fix}, or ask for more: "
                    f"{WHO_CHANGES.format(key=key)}."
                )
        return found

    def check(self, *, rows: int | None = None, epochs: float | None = None, max_length: int | None = None) -> None:
        """Raise :class:`JobLimitError` with every :meth:`problems` sentence, if any."""
        found = self.problems(rows=rows, epochs=epochs, max_length=max_length)
        if found:
            raise JobLimitError(" ".join(found))

    def time_limit_message(self, step: int | None = None, total_steps: int | None = None,
                           kept: str | None = None) -> str:
        """What a job stopped by the time limit says (its state is "done"): the limit, where it
        stopped (``step`` of ``total_steps``, when known) and what was ``kept`` (None: a
        fine-tuning's best checkpoint)."""
        kept = kept or "the best checkpoint (the best validation score so far) was tested and saved as usual"
        where = f" at step {step:,} of {total_steps:,}" if step is not None and total_steps else ""
        limit = duration_text(self.max_job_minutes) if self.max_job_minutes is not None else "its"
        return (f"Stopped at this server's time limit of {limit} per job{where}, so that the next job in the queue "
                f"could start; {kept}.")


NO_LIMITS = JobLimits()
TEAM_LIMITS = JobLimits.from_settings(None, team=True)
