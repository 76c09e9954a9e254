"""Benchmarks (run by hand or by make targets; never part of the test suite)."""

import os


def load_avg() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them (printed next to every timing)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
