"""core.cpu.cpu_threads: OMP_NUM_THREADS is a ceiling, a distributed run shares the cores, and the
busy cores are left to the processes using them."""

from __future__ import annotations

import os

import pytest

from core.cpu import cpu_threads


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_the_cores_less_the_load(four_cores):
    four_cores.setattr(os, "getloadavg", lambda: (1.4, 0.0, 0.0))
    assert cpu_threads(adapt_to_load=False) == 4
    assert cpu_threads() == 3
    four_cores.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert cpu_threads() == 1  # never none


def test_omp_num_threads_is_a_ceiling_never_raised(four_cores):
    four_cores.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    four_cores.setenv("OMP_NUM_THREADS", "2")
    assert cpu_threads() == 2 and cpu_threads(adapt_to_load=False) == 2
    four_cores.setenv("OMP_NUM_THREADS", "16")
    assert cpu_threads(adapt_to_load=False) == 4
    four_cores.setenv("OMP_NUM_THREADS", "many")  # OpenMP ignores what is not a number; so do we
    assert cpu_threads(adapt_to_load=False) == 4


def test_a_distributed_run_shares_the_cores(four_cores):
    four_cores.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    four_cores.setenv("LOCAL_WORLD_SIZE", "2")
    assert cpu_threads(adapt_to_load=False) == 2
    four_cores.setenv("LOCAL_WORLD_SIZE", "8")
    assert cpu_threads(adapt_to_load=False) == 1


def test_training_uses_it(tiny_model_dir, four_cores):
    """fit_transformer sets torch's threads from cpu_threads (OMP_NUM_THREADS=1 stays 1)."""
    import torch

    from core import TrainConfig, train
    from tests.conftest import make_sentiment_frame

    four_cores.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(3)
    try:
        train(make_sentiment_frame(40), TrainConfig(base_model=str(tiny_model_dir), method="full", epochs=1,
                                                     batch_size=16, max_length=16, choose_simpler=False))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)
