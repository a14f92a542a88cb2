"""Throughput and latency of `onnxplain serve` against Ray Serve with 1 and 2 replicas, memory per replica, and
the Open Inference (V2) route's overhead against `/explain` (docs/engines.md).

Re-executes itself in a network namespace that has only loopback (Ray advertises the machine's address), starts
`onnxplain serve` and two Ray Serve applications (1 and 2 replicas) side by side on 127.0.0.1, and, in
interleaved rounds, sends `--requests` one-text requests from `--clients` concurrent clients to each (threads,
one connection per request, the same client for every server). Prints explanations/s, p50/p99 latency (medians
over the rounds), peak resident memory of every serving process, and the ratios, from one run.

    python benchmarks/engines_throughput.py ARTIFACT [--requests 320] [--clients 32] [--method mask-lrp]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onnxplain.engines import load  # noqa: E402
from tests.loopback import in_loopback_namespace, loopback_only, processes_named  # noqa: E402
from tests.servers import free_port, wait_until_up  # noqa: E402

SENTENCES = [
    "A gripping, beautifully shot film.",
    "The plot meanders for two hours and the ending, frankly, makes no sense at all.",
    "Not bad, not great; somewhere in between, with a few good jokes and one memorable scene.",
    "I laughed, I cried, and then I bought the soundtrack on the way home.",
    "An ambitious mess whose actors seem as lost as the audience.",
    "It is the kind of movie that stays with you for days, quietly rearranging what you think about family.",
]


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bodies(count: int, method: str, v2: bool) -> list[load.Planned]:
    plans = []
    for index in range(count):
        text = f"{SENTENCES[index % len(SENTENCES)]} ({index})"
        if v2:
            document = {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}],
                "parameters": {"method": method},
            }
        else:
            document = {"text": text, "method": method}
        plans.append(load.Planned(index, "good", json.dumps(document).encode(), text))
    return plans


def measure(port: int, path: str, plans: list[load.Planned], clients: int) -> dict[str, float]:
    def one(plan: load.Planned) -> tuple[int | None, float]:
        began = time.monotonic()
        status, _ = load.send("127.0.0.1", port, path, plan.body, 120)
        return status, time.monotonic() - began

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(one, plans))
    seconds = time.monotonic() - start
    ok = np.asarray([s for status, s in outcomes if status == 200])
    return {
        "explanations_per_s": len(ok) / seconds,
        "p50_ms": float(np.percentile(ok, 50) * 1000) if len(ok) else float("nan"),
        "p99_ms": float(np.percentile(ok, 99) * 1000) if len(ok) else float("nan"),
        "failed": len(outcomes) - len(ok),
    }


@contextmanager
def builtin_server(artifact: Path) -> Iterator[tuple[int, int]]:
    """``onnxplain serve`` in a child process; its port and pid."""
    port = free_port()
    command = [sys.executable, "-m", "onnxplain", "serve", str(artifact), "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, timeout=300)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)


def deploy_on_ray(artifact: Path, port: int) -> dict[int, float]:
    """Two Serve applications side by side: 1 replica under /ray-1, 2 replicas under /ray-2; deploy seconds."""
    from ray import serve

    from onnxplain.engines.ray_serve import build_app

    serve.start(http_options={"host": "127.0.0.1", "port": port})
    seconds = {}
    for replicas in (1, 2):
        threads = max(1, (os.cpu_count() or 1) // replicas)
        app = build_app(artifact, replicas=replicas, load_options={"intra_op_threads": threads})
        started = time.monotonic()
        serve.run(app, name=f"ray-{replicas}", route_prefix=f"/ray-{replicas}")
        seconds[replicas] = time.monotonic() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    parser.add_argument("--method", default="mask-lrp")
    args = parser.parse_args()
    if not all(loopback_only().values()):
        os.execvp("unshare", in_loopback_namespace([sys.executable, *sys.argv]))
    import ray

    name = args.artifact.resolve().name
    name = args.artifact.resolve().parent.name if name == "artifact" else name
    ray.init(num_cpus=4, object_store_memory=128 * 2**20, include_dashboard=False, log_to_driver=False)
    ray_port = free_port()
    targets = {
        "onnxplain serve": (None, "/explain", False),
        "  V2 infer": (None, f"/v2/models/{name}/infer", True),
        "Ray Serve, 1 replica": (ray_port, "/ray-1/explain", False),
        "Ray Serve, 2 replicas": (ray_port, "/ray-2/explain", False),
    }
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in targets}
    try:
        with builtin_server(args.artifact) as (builtin_port, builtin_pid):
            deploy_s = deploy_on_ray(args.artifact, ray_port)
            for port, path, v2 in targets.values():  # warm every server up
                measure(port or builtin_port, path, bodies(args.clients, args.method, v2), args.clients)
            for _ in range(args.rounds):
                for key, (port, path, v2) in targets.items():
                    plans = bodies(args.requests, args.method, v2)
                    runs[key].append(measure(port or builtin_port, path, plans, args.clients))
            memory = {"onnxplain serve": peak_mib(builtin_pid)}
            memory["Ray replicas"] = [peak_mib(p) for p in processes_named("ServeReplica:")]  # type: ignore[assignment]
    finally:
        ray.shutdown()
    print(json.dumps({"runs": runs, "peak_rss_mib": memory, "deploy_s": deploy_s}, indent=1))
    print(
        f"\n{args.requests} one-text requests x {args.rounds} interleaved rounds, {args.clients} clients, "
        f"{args.method}, {os.cpu_count()} cores (medians)"
    )
    base = float(np.median([r["explanations_per_s"] for r in runs["onnxplain serve"]]))
    print(f"{'server':<24}{'expl/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs builtin':>12}")
    for key, measured in runs.items():
        rate, p50, p99 = (
            float(np.median([r[k] for r in measured])) for k in ("explanations_per_s", "p50_ms", "p99_ms")
        )
        print(f"{key:<24}{rate:>9.1f}{p50:>9.0f}{p99:>9.0f}{rate / base:>12.2f}")
    print(f"peak RSS (MiB): {memory}")


if __name__ == "__main__":
    main()
