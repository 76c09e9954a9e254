"""How many CPU threads torch may use, decided in one place for every trainer and encoder.

OpenMP threads wait for each other at every operation; a thread on a core that another process
keeps busy mostly waits, and its partners spin. Measured on the shared 2-core machine: one MiniLM
step at load ~14 took 0.8 s of CPU with 1 thread and 2-3 s with 2; a 24-row few-shot run took
165 s with 1 thread at load 5.9 but 311 s with 2 at load 1.8; two tiny-BERT trainings side by side
took 0.46 s per step each with 2 threads and 0.08-0.10 s with 1 (0.07 s alone with 2).
"""

from __future__ import annotations

import os


def cpu_threads(adapt_to_load: bool = True) -> int:
    """Torch threads for one process's CPU work (at least 1).

    The ceiling is ``OMP_NUM_THREADS`` when set (an administrator's or a test suite's choice is
    kept, never raised), else the cores this process may run on, shared by the processes of a
    distributed run (``LOCAL_WORLD_SIZE``). With ``adapt_to_load`` the cores other processes keep
    busy (the 1-minute load average, rounded) are left to them.
    """
    cores = max(1, len(os.sched_getaffinity(0)) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)))
    try:
        ceiling = min(cores, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):  # not set, or not a number: OpenMP itself ignores it then
        ceiling = cores
    if not adapt_to_load:
        return max(1, ceiling)
    return max(1, min(ceiling, cores - round(_load() or 0.0)))


def _load() -> float | None:
    """The 1-minute load average; None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def busy_load() -> tuple[float, int] | None:
    """(1-minute load average, cores this process may use) when other work already keeps every core
    busy (load >= cores), else None. The time estimates are an idle machine's: on the shared 2-core
    machine a 2,000-row fine-tune estimated at 125 s took 144 s idle and 491 s at load 3-4
    (bench/bench_estimates.py, docs/measurements.md), so a page says when the machine is busy."""
    load, cores = _load(), len(os.sched_getaffinity(0))
    return (load, cores) if load is not None and load >= cores else None
