"""``serve --engine ray`` (core/serve_ray.py): the same app as a Ray Serve deployment.

Where Ray Serve cannot load (this machine's ray has no serve extra: grpcio and aiohttp are
missing), the command must say so and how to fix it; where it can, two replicas must answer
as the in-process app does for the same texts."""

from __future__ import annotations

import importlib

import pytest

from core.cli import main as cli_main

TEXTS = ["great fast delivery love it", "terrible broken refund", "ok fine"]


def _ray_serve_error() -> str | None:
    try:
        importlib.import_module("ray.serve")
    except ImportError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_ray_serve_error() is not None, reason="Ray Serve is not loadable here (ray without the "
                    "serve extra): the message test below covers this machine")
def test_ray_engine_answers_like_the_in_process_app(trained_tiny):
    import socket

    import httpx
    from fastapi.testclient import TestClient

    from core import serve_ray
    from core.serve import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    expected = TestClient(create_app(trained_tiny[1])).post("/predict", json={"texts": TEXTS}).json()
    serve_ray.start(trained_tiny[1], port=port, replicas=2, cpus_per_replica=0.5)
    try:
        got = httpx.post(f"http://127.0.0.1:{port}/predict", json={"texts": TEXTS}, timeout=60).json()
    finally:
        serve_ray.stop()
    assert [p["label"] for p in got["predictions"]] == [p["label"] for p in expected["predictions"]]
    for a, b in zip(got["predictions"], expected["predictions"]):
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-5)


@pytest.mark.skipif(_ray_serve_error() is None, reason="Ray Serve loads here: the parity test above runs instead")
def test_without_ray_serve_the_cli_says_what_is_missing(tmp_path, capsys):
    assert cli_main(["serve", "--model", str(tmp_path), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert "Ray Serve" in err and 'ray[serve]' in err and _ray_serve_error().split("'")[1] in err


def test_ray_engine_and_team_mode_do_not_mix(capsys):
    assert cli_main(["serve", "--team", "--engine", "ray"]) == 2
    assert "--engine ray serves one model folder" in capsys.readouterr().err
