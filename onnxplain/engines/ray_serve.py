"""The HTTP server in Ray Serve replicas: ``onnxplain serve ARTIFACT --engine ray --replicas N``.

Each replica loads the artifact once (weights memory-mapped, as in ``onnxplain serve``) and serves the very
ASGI app of ``onnxplain.runtime.server.create_app`` through ``serve.ingress``: the same routes (``/explain``,
``/health``, ``/metadata``, ``/openapi.json`` and the Open Inference ``/v2`` routes), the same JSON, limits and
one-sentence errors, and the same micro-batching, inside each replica. Ray Serve's proxy spreads requests over
the replicas, restarts a replica that dies, and scales between bounds with an autoscaling config.

For a Serve config or ``serve run`` of your own::

    serve run onnxplain.engines.ray_serve:app_builder artifact=/path/to/artifact replicas=2

or in Python: ``serve.run(build_app("artifact/", replicas=2), route_prefix="/")``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve import Application

from onnxplain.runtime.artifact import read_manifest
from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits

DEPLOYMENT = "onnxplain"
APPLICATION = "onnxplain"
GRACEFUL_SHUTDOWN_S = 20.0  # how long a stopping replica waits for its accepted requests to be answered
REPORT_EVERY_S = 0.25  # how often a replica tells the command line's drain signal what it holds
REPLICA_GONE_S = 2.0  # a replica silent this long is dead (restarted or killed): the drain stops waiting for it


@ray.remote(num_cpus=0)
class DrainSignal:
    """What ``serve_until_stopped`` and the replicas share while the command line stops.

    Ray Serve has no public way to reach every replica of a deployment, so each replica reports to this actor
    every ``REPORT_EVERY_S`` (its requests in flight, whether it is draining) and learns from the answer when
    to drain. Draining is the built-in server's: new requests get a 503 that says why, accepted ones run on.
    """

    def __init__(self) -> None:
        self.draining = False
        self.replicas: dict[int, tuple[float, bool, int]] = {}  # pid: (reported at, draining, in flight)

    def begin(self) -> None:
        self.draining = True

    def report(self, replica: int, draining: bool, in_flight: int) -> bool:
        self.replicas[replica] = (time.monotonic(), draining, in_flight)
        return self.draining

    def drained(self) -> bool:
        """Every live replica drains and holds no request (and at least one has said so)."""
        now = time.monotonic()
        live = [(d, n) for at, d, n in self.replicas.values() if now - at < REPLICA_GONE_S]
        return bool(live) and all(d and n == 0 for d, n in live)


@serve.ingress()
class ExplainerReplica:
    """One Serve replica: the artifact loaded once, and the built-in server's app on it."""

    def __init__(
        self,
        artifact: str,
        limits: dict[str, Any],
        load_options: dict[str, Any],
        model_name: str | None,
        drain_signal: Any = None,
    ) -> None:
        self.limits = ServerLimits(**limits)
        self.explainer = Explainer.load(artifact, batch_size=self.limits.max_batch, **load_options)
        self.model_name = model_name
        self.drain_signal = drain_signal

    def __serve_build_asgi_app__(self) -> Any:
        app = create_app(self.explainer, self.limits, self.model_name)
        if self.drain_signal is not None:
            threading.Thread(target=self._follow, args=(app.state.drain,), daemon=True).start()
        return app

    def _follow(self, drain: Any) -> None:
        """Report to the drain signal until the replica ends; begin draining when it says so."""
        while True:
            try:
                if ray.get(self.drain_signal.report.remote(os.getpid(), drain.draining, drain.in_flight)):
                    # a flag the request path reads (its idle event only matters to Drain.finish, unused here)
                    drain.begin()
            except ray.exceptions.RayError:  # the signal's owner (the command line) is gone
                return
            time.sleep(REPORT_EVERY_S)


def build_app(
    artifact: str | Path,
    limits: ServerLimits | None = None,
    *,
    replicas: int = 1,
    autoscaling: dict[str, Any] | None = None,
    load_options: dict[str, Any] | None = None,
    model_name: str | None = None,
    replica_cpus: float = 1.0,
    max_ongoing_requests: int | None = None,
    graceful_shutdown_s: float = GRACEFUL_SHUTDOWN_S,
    drain_signal: Any = None,
) -> Application:
    """The Serve application: ``replicas`` copies, or Ray's ``autoscaling`` config (min_replicas,
    max_replicas, target_ongoing_requests, ...) instead. ``load_options`` go to ``Explainer.load`` in every
    replica (device, max_length, intra_op_threads, ...). A replica takes up to ``max_ongoing_requests`` at once
    (default: the queue limit, so that its micro-batcher, not Ray, decides when it is busy). A ``DrainSignal``
    actor handle lets ``serve_until_stopped`` drain every replica before Serve shuts down."""
    limits = limits or ServerLimits()
    artifact = Path(artifact).resolve()
    read_manifest(artifact)  # a wrong path fails here in one sentence, not in every replica
    scaling: dict[str, Any] = {"autoscaling_config": autoscaling} if autoscaling else {"num_replicas": replicas}
    deployment = serve.deployment(
        ExplainerReplica,
        name=DEPLOYMENT,
        ray_actor_options={"num_cpus": replica_cpus},
        max_ongoing_requests=max_ongoing_requests or limits.max_queued_texts,
        graceful_shutdown_timeout_s=graceful_shutdown_s,
        **scaling,
    )
    bound: Application = deployment.bind(  # type: ignore[attr-defined]  # serve.deployment's stub omits Deployment
        str(artifact), asdict(limits), dict(load_options or {}), model_name, drain_signal
    )
    return bound


def app_builder(args: dict[str, str]) -> Application:
    """For ``serve run onnxplain.engines.ray_serve:app_builder artifact=DIR [replicas=N] [device=cpu]
    [threads=N] [model_name=NAME]`` and Serve config files (``import_path`` + ``args``)."""
    known = {"artifact", "replicas", "device", "threads", "model_name"}
    unknown = set(args) - known
    if unknown or "artifact" not in args:
        raise ValueError(f"give artifact=DIR and optionally {', '.join(sorted(known - {'artifact'}))}")
    load_options: dict[str, Any] = {"device": args.get("device", "cpu")}
    if "threads" in args:
        load_options["intra_op_threads"] = int(args["threads"])
    return build_app(
        args["artifact"],
        replicas=int(args.get("replicas", 1)),
        load_options=load_options,
        model_name=args.get("model_name"),
    )


def serve_until_stopped(
    app_for: Callable[..., Application],
    host: str,
    port: int,
    ray_address: str | None = None,
    num_cpus: float | None = None,
    graceful_shutdown_s: float = GRACEFUL_SHUTDOWN_S,
) -> None:
    """Start (or join) Ray, serve ``app_for(drain_signal=...)`` (``build_app`` with its arguments bound) on
    ``host:port`` and block until SIGINT or SIGTERM. Then drain: every replica answers new requests 503 (saying
    why) and runs the accepted ones to their answers; once none holds a request (or after
    ``graceful_shutdown_s``), Serve and Ray shut down. Shutting Serve down at once could drop requests its proxy
    had accepted."""
    stop = threading.Event()
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if ray_address is None:
        options["num_cpus"] = num_cpus or os.cpu_count()
    ray.init(address=ray_address, **options)
    # after ray.init, which installs a SIGTERM handler of its own that ends the process at once
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        drain_signal = DrainSignal.remote()  # type: ignore[attr-defined]
        serve.start(http_options={"host": host, "port": port})
        serve.run(app_for(drain_signal=drain_signal), name=APPLICATION, route_prefix="/")
        print(
            f"onnxplain serve: Ray Serve is answering on http://{host}:{port} (Ctrl-C or SIGTERM stops it)", flush=True
        )
        while not stop.wait(1.0):
            pass
        print("onnxplain serve: stopping: the replicas finish what they accepted", flush=True)
        ray.get(drain_signal.begin.remote())
        deadline = time.monotonic() + graceful_shutdown_s
        while not ray.get(drain_signal.drained.remote()) and time.monotonic() < deadline:
            time.sleep(REPORT_EVERY_S / 2)
        serve.shutdown()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        ray.shutdown()
