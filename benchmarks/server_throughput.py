"""Server throughput (explanations per second) at 1 and 32 concurrent clients, and the server's memory.

Starts ``onnxplain serve ARTIFACT`` as its own process on loopback, sends one-text requests from N concurrent
clients (asyncio, keep-alive), and prints explanations/s, latency percentiles, how many ONNX Runtime calls the
micro-batcher made, and the server process's resident memory (now and peak). The clients share the CPU with
the server, so on a small machine the figures are a lower bound.

    python benchmarks/server_throughput.py ARTIFACT [--method mask-lrp] [--requests 300] [--clients 1 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

SENTENCES = [
    "A gripping, beautifully shot film.",
    "dull",
    "The plot meanders for two hours and the ending, frankly, makes no sense at all.",
    "Not bad, not great; somewhere in between, with a few good jokes and one memorable scene.",
    "I laughed, I cried, and then I bought the soundtrack on the way home.",
    "An ambitious mess whose actors seem as lost as the audience.",
    "Charming.",
    "It is the kind of movie that stays with you for days, quietly rearranging what you think about family.",
]


def memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mib": fields["VmRSS"], "peak_rss_mib": fields["VmHWM"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: cheap enough that the clients, which share
    the CPU with the server, do not become what is measured (httpx costs about 2 ms of CPU per request)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if ": " in line)
        payload = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), payload


async def measure(port: int, method: str, requests: int, clients: int) -> dict[str, float]:
    latencies: list[float] = []
    pending = iter(range(requests))

    async def client() -> None:
        async with Connection(port) as connection:
            for number in pending:
                text = f"{SENTENCES[number % len(SENTENCES)]} ({number})"
                start = time.perf_counter()
                status, _ = await connection.request(
                    "POST", "/explain", json.dumps({"text": text, "method": method}).encode()
                )
                latencies.append(time.perf_counter() - start)
                assert status == 200, status

    async def batches_so_far() -> int:
        # a fresh connection each time: the server closes one left idle through a long run (keep-alive)
        async with Connection(port) as connection:
            return int(json.loads((await connection.request("GET", "/health"))[1])["batches"])

    batches_before = await batches_so_far()
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    batches = await batches_so_far() - batches_before
    latencies.sort()
    return {
        "explanations_per_s": requests / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "onnxruntime_calls": batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--method", default="mask-lrp")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--serve-args", default="", help="extra arguments for onnxplain serve")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "onnxplain", "serve", str(args.artifact), "--port", str(port)]
    command += ["--log-level", "warning", *args.serve_args.split()]
    server = subprocess.Popen(command, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url + "/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        cores = os.cpu_count()
        print(f"artifact {args.artifact}, method {args.method}, {cores} CPU cores shared with the clients")
        print(f"server memory after start: {memory_mib(server.pid)}")
        asyncio.run(measure(port, args.method, 32, 4))  # warm-up: sessions built, arenas grown
        for clients in args.clients:
            figures = asyncio.run(measure(port, args.method, args.requests, clients))
            shown = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
            print(f"{clients:>3} client(s), {args.requests} requests: {shown}")
        print(f"server memory after the runs: {memory_mib(server.pid)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
