"""The HTTP API as a Ray Serve deployment: ``python -m core serve --model M --engine ray [--replicas 2]``.

The same FastAPI app (core/serve.py ``create_app``: routes, token, limits, batching, the same
answers) is built once in each replica; Ray Serve's HTTP proxy spreads requests over the
replicas. On a laptop Ray starts a local cluster; on a cluster, set ``RAY_ADDRESS`` as for any
Ray program. ``--cpus-per-replica`` defaults to 0.5 so two replicas fit on a 2-core machine.

Ray Serve needs the ``ray[serve]`` extra (grpcio, aiohttp and friends on top of plain ``ray``):
when ``import ray.serve`` fails, :func:`check_ray_serve` says what is missing and how to install
it; nothing is pretended.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .serve import ApiLimits, check_exposure, create_app

APP_NAME = "marketune"


def check_ray_serve() -> Any:
    """The ``ray.serve`` module, or RuntimeError saying why it cannot be used here."""
    try:
        from ray import serve
    except ImportError as exc:
        raise RuntimeError(
            f"--engine ray needs Ray Serve, which this installation cannot load ({exc}). Plain `ray` is installed "
            "without the serve extra: install it with `pip install \"ray[serve]\"` (same version as ray), or serve "
            "with the default engine (uvicorn, one process, requests batched)."
        ) from None
    return serve


def deployment(folder: str | Path, *, token: str | None, limits: ApiLimits, replicas: int,
               cpus_per_replica: float) -> Any:
    """The bound Ray Serve application: ``replicas`` copies of :func:`core.serve.create_app` for ``folder``."""
    serve = check_ray_serve()
    folder = str(Path(folder).resolve())

    def build() -> Any:  # runs in each replica: each loads the model once, with its own batcher
        return create_app(folder, token=token, limits=limits)

    ingress = serve.ingress(build)()
    return serve.deployment(ingress, name="marketune_api", num_replicas=replicas,
                            ray_actor_options={"num_cpus": cpus_per_replica}).bind()


def start(folder: str | Path, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          limits: ApiLimits | None = None, replicas: int = 2, cpus_per_replica: float = 0.5) -> None:
    """Deploy on Ray Serve and return once every replica is ready (it answers on ``host:port``)."""
    import ray

    serve = check_ray_serve()
    check_exposure(host, token)
    if replicas < 1 or cpus_per_replica <= 0:
        raise ValueError(f"--replicas must be >= 1 and --cpus-per-replica > 0; found {replicas} and {cpus_per_replica}.")
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    app = deployment(folder, token=token, limits=limits or ApiLimits(), replicas=replicas,
                     cpus_per_replica=cpus_per_replica)
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)


def stop() -> None:
    """Remove the deployment and stop Ray Serve (the replicas write their counts as they stop)."""
    from ray import serve

    serve.shutdown()


def serve_ray(folder: str | Path, **kwargs: Any) -> None:
    """Run until interrupted (Ctrl-C stops the deployment)."""
    start(folder, **kwargs)
    print(f"Ray Serve: {kwargs.get('replicas', 2)} replica(s) of the API on "
          f"http://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 8000)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        stop()
