"""Throughput and latency of `onnxplain serve` against Ray Serve with 1 and 2 replicas, memory per replica, and
the Open Inference (V2) route's overhead against `/explain` (docs/engines.md).

Re-executes itself in a network namespace that has only loopback (Ray advertises the machine's address), starts
each server in turn on 127.0.0.1, and sends `--requests` one-text requests from `--clients` concurrent clients
(threads, one connection per request, the same client for every server). Prints explanations/s, p50/p99 latency
and resident memory (peak) of the serving processes, and the ratios, from one run.

    python benchmarks/engines_throughput.py ARTIFACT [--requests 320] [--clients 32] [--method mask-lrp]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


def builtin(artifact: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, "-m", "onnxplain", "serve", str(artifact), "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, timeout=300)
        name = artifact.resolve().name if artifact.name != "artifact" else artifact.resolve().parent.name
        warm = bodies(args.clients, args.method, v2=False)
        measure(port, "/explain", warm, args.clients)
        explain = measure(port, "/explain", bodies(args.requests, args.method, v2=False), args.clients)
        v2 = measure(port, f"/v2/models/{name}/infer", bodies(args.requests, args.method, v2=True), args.clients)
        explain_again = measure(port, "/explain", bodies(args.requests, args.method, v2=False), args.clients)
        return {"explain": explain, "v2": v2, "explain_again": explain_again, "peak_rss_mib": peak_mib(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=60)


def on_ray(artifact: Path, replicas: int, args: argparse.Namespace) -> dict[str, Any]:
    from ray import serve

    from onnxplain.engines.ray_serve import build_app

    port = free_port()
    threads = max(1, (os.cpu_count() or 1) // replicas)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    started = time.monotonic()
    serve.run(build_app(artifact, replicas=replicas, load_options={"intra_op_threads": threads}), name="onnxplain")
    ready_s = time.monotonic() - started
    try:
        measure(port, "/explain", bodies(args.clients, args.method, v2=False), args.clients)
        explain = measure(port, "/explain", bodies(args.requests, args.method, v2=False), args.clients)
        pids = processes_named("ServeReplica:onnxplain")
        return {"explain": explain, "replica_peak_rss_mib": [peak_mib(p) for p in pids], "deploy_s": ready_s}
    finally:
        serve.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--method", default="mask-lrp")
    args = parser.parse_args()
    if not all(loopback_only().values()):
        os.execvp("unshare", in_loopback_namespace([sys.executable, *sys.argv]))
    import ray

    figures: dict[str, Any] = {"builtin": builtin(args.artifact, args)}
    ray.init(num_cpus=4, object_store_memory=128 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        for replicas in (1, 2):
            figures[f"ray-{replicas}"] = on_ray(args.artifact, replicas, args)
    finally:
        ray.shutdown()
    base = figures["builtin"]["explain"]["explanations_per_s"]
    print(json.dumps(figures, indent=1))
    print(f"\n{args.requests} one-text requests, {args.clients} clients, {args.method}, {os.cpu_count()} cores")
    print(f"{'server':<22}{'expl/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs builtin':>12}")
    rows = [("onnxplain serve", figures["builtin"]["explain"]), ("  V2 infer", figures["builtin"]["v2"])]
    rows.append(("  (again /explain)", figures["builtin"]["explain_again"]))
    rows += [(f"Ray Serve, {r} replica(s)", figures[f"ray-{r}"]["explain"]) for r in (1, 2)]
    for name, f in rows:
        print(
            f"{name:<22}{f['explanations_per_s']:>9.1f}{f['p50_ms']:>9.0f}{f['p99_ms']:>9.0f}"
            f"{f['explanations_per_s'] / base:>12.2f}"
        )
    print(
        f"peak RSS: onnxplain serve {figures['builtin']['peak_rss_mib']:.0f} MiB; Ray replicas "
        + ", ".join(f"{m:.0f}" for r in (1, 2) for m in figures[f"ray-{r}"]["replica_peak_rss_mib"])
        + " MiB"
    )


if __name__ == "__main__":
    main()
