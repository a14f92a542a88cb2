"""A soak of mixed load against ``onnxplain serve`` on loopback, shared by ``benchmarks/soak.py`` and the
slow soak test: the server in its own process, its resident memory watched, concurrent keep-alive clients
sending a mix of short texts, long texts, several methods and bad requests, every answer checked, and a
SIGTERM in the middle of the load that must not lose a request it accepted.

A request is *accepted* when the server read it: it must then get its answer (200 with its own results, or
the 4xx its fault deserves), or a 503 that says why. A request the server never read (connection refused
once it has stopped listening, or a keep-alive connection it had closed, retried once as HTTP clients do)
is *not accepted*, which is fine after SIGTERM and a failure before it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onnxplain.bench.http_client import Connection, ConnectionLost

SHORT_TEXTS = (
    "A gripping, beautifully shot film.",
    "dull",
    "I laughed, I cried, and then I bought the soundtrack on the way home.",
    "An ambitious mess whose actors seem as lost as the audience.",
    "Charming.",
    "Not bad, not great; somewhere in between, with a few good jokes and one memorable scene.",
)
LONG_PASSAGE = (
    "The film opens with a long, quiet shot of a harbour at dawn, and for a while nothing happens at all. "
    "Then the story finds its feet: a retired ferry captain, a daughter who has not called in years, and a "
    "boat that everyone agrees should have been scrapped. The acting is warm and unshowy, the jokes land more "
    "often than not, and the score never tells you what to feel. It drags in the middle, where a subplot about "
    "a land deal goes nowhere, but the last half hour is as moving as anything I have seen this year. "
)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def long_text(number: int, words: int = 420) -> str:
    """About ``words`` words of real prose (500-odd tokens for a BERT vocabulary), different per ``number``."""
    passage = LONG_PASSAGE.split()
    start = number % len(passage)
    return f"({number}) " + " ".join((passage[start:] + passage[:start]) * (1 + words // len(passage)))[: words * 6]


@dataclass(frozen=True)
class Job:
    """One request: its body and what must come back (``status``; for 200, ``texts`` explained by ``method``)."""

    kind: str
    body: bytes
    status: int
    texts: tuple[str, ...] = ()
    method: str = ""


def bad_jobs(max_texts: int) -> list[Job]:
    return [
        Job("bad", b"{not json", 400),
        Job("bad", json.dumps({"text": "fine", "method": "no-such-method"}).encode(), 422),
        Job("bad", json.dumps({"text": "   "}).encode(), 422),
        Job("bad", json.dumps({"text": "fine", "colour": "red"}).encode(), 422),
        Job("bad", json.dumps({"texts": ["a"] * (max_texts + 1)}).encode(), 413),
    ]


def mixed_jobs(
    count: int, methods: Sequence[str], max_texts: int = 64, seed: int = 0, long_share: float = 0.2
) -> list[Job]:
    """``count`` requests: a short text (the most), a long text, two to four short texts, or a bad request."""
    rng = random.Random(seed)
    bad = bad_jobs(max_texts)
    jobs = []
    for number in range(count):
        method = methods[number % len(methods)]
        draw = rng.random()
        if draw < 0.15:
            jobs.append(bad[number % len(bad)])
            continue
        if draw < 0.15 + long_share:
            texts: tuple[str, ...] = (long_text(number),)
        elif draw < 0.25 + long_share:
            texts = tuple(f"{rng.choice(SHORT_TEXTS)} ({number}.{i})" for i in range(rng.randint(2, 4)))
        else:
            texts = (f"{rng.choice(SHORT_TEXTS)} ({number})",)
        body = {"texts": list(texts), "method": method}
        jobs.append(Job("long" if len(texts[0]) > 500 else "short", json.dumps(body).encode(), 200, texts, method))
    return jobs


@dataclass
class Outcome:
    job: Job
    status: int | None  # None: not accepted (see the module's docstring)
    payload: dict | None
    seconds: float
    sent_at: float
    note: str = ""


async def _send(port: int, connection: Connection | None, job: Job) -> tuple[Connection | None, Outcome]:
    """Send ``job``; reuse ``connection`` unless the server closed it; one retry on a fresh one."""
    sent_at = time.monotonic()
    for attempt in (0, 1):
        fresh = connection is None
        try:
            if connection is None:
                connection = await Connection(port).__aenter__()
            status, _, body = await connection.request("POST", "/explain", job.body)
        except OSError as error:  # could not connect: the server is not listening (any more)
            return None, Outcome(job, None, None, time.monotonic() - sent_at, sent_at, f"refused: {error}")
        except ConnectionLost as error:
            connection = None
            if fresh or attempt == 1:  # the server read it, then dropped it: a lost request
                return None, Outcome(job, -1, None, time.monotonic() - sent_at, sent_at, f"lost: {error}")
            continue
        if connection.closed_by_server:
            await connection.__aexit__()
            connection = None
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        return connection, Outcome(job, status, payload, time.monotonic() - sent_at, sent_at)
    raise AssertionError("unreachable")


async def run_clients(
    port: int, jobs: Sequence[Job], clients: int, seconds: float, outcomes: list[Outcome] | None = None
) -> list[Outcome]:
    """``clients`` concurrent keep-alive clients take ``jobs`` in turn until all are sent or ``seconds`` pass;
    a client stops once the server no longer accepts connections. Outcomes are appended to ``outcomes`` as
    they come (so a caller can watch the load's progress) and returned."""
    pending = iter(jobs)
    deadline = time.monotonic() + seconds
    outcomes = [] if outcomes is None else outcomes

    async def client() -> None:
        connection: Connection | None = None
        for job in pending:
            if time.monotonic() > deadline:
                break
            connection, outcome = await _send(port, connection, job)
            outcomes.append(outcome)
            if outcome.status is None:
                break
            if outcome.status == 503:  # busy or shutting down: wait as its Retry-After says
                await asyncio.sleep(1)
        if connection is not None:
            await connection.__aexit__()

    await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes


Expected = Callable[[str, str], list[float]]  # (text, method) -> the relevance of each token


def problems(outcomes: Sequence[Outcome], expected: Expected | None, accepted_only: bool = False) -> list[str]:
    """What went wrong: a good request not answered with its own results (compared with ``expected``), a bad
    one without its 4xx, a lost one; 503s and (with ``accepted_only``) requests not accepted are allowed."""
    found = []
    for outcome in outcomes:
        job, status = outcome.job, outcome.status
        if status is None:
            if not accepted_only:
                found.append(f"not accepted: {outcome.note}")
            continue
        if status == -1:
            found.append(f"lost: {outcome.note}")
        elif status == 503 and accepted_only:
            continue
        elif status != job.status:
            found.append(f"{job.kind} request got {status} instead of {job.status}: {str(outcome.payload)[:200]}")
        elif status == 200:
            results = (outcome.payload or {}).get("results", [])
            if [r["text"] for r in results] != list(job.texts) or {r["method"] for r in results} != {job.method}:
                found.append(f"a {job.kind} request got someone else's results")
            elif expected is not None:
                for result in results:
                    relevance = [t["relevance"] for t in result["tokens"]]
                    reference = expected(result["text"], job.method)
                    scale = max(1e-12, max(abs(r) for r in reference))
                    if len(relevance) != len(reference) or any(
                        abs(a - b) > 1e-4 * scale + 3e-7 for a, b in zip(relevance, reference, strict=True)
                    ):
                        found.append(f"a {job.kind} {job.method} result differs from the Python API's")
    return found


def latency_figures(outcomes: Sequence[Outcome], seconds: float) -> dict[str, float]:
    good = sorted(o.seconds for o in outcomes if o.status == 200)
    texts = sum(len(o.job.texts) for o in outcomes if o.status == 200)
    if not good:
        return {"answered": 0, "texts_per_s": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "answered": len(good),
        "texts_per_s": texts / seconds,
        "p50_ms": 1000 * statistics.median(good),
        "p99_ms": 1000 * good[min(len(good) - 1, int(0.99 * len(good)))],
    }


class MemoryWatch:
    """The peak resident memory of a process, read from its ``VmHWM`` (the kernel's high-water mark) every
    ``interval`` seconds until it exits; ``VmRSS`` samples too."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_bytes = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def read(self) -> tuple[int, int] | None:
        try:
            fields = dict(
                line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines() if ":" in line
            )
        except OSError:
            return None
        if "VmRSS" not in fields:  # exited, not yet reaped
            return None
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

    def _watch(self) -> None:
        while not self._stop.is_set():
            now = self.read()
            if now is None:
                return
            self.samples.append(now[0])
            self.peak_bytes = max(self.peak_bytes, now[1])
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes


@dataclass
class Server:
    """``onnxplain serve`` in a child process on a loopback port (``pythonpath``: whose code runs it)."""

    artifact: Path
    port: int
    arguments: list[str] = field(default_factory=list)
    pythonpath: str | None = None

    def start(self, timeout: float = 600) -> Server:
        command = [sys.executable, "-m", "onnxplain", "serve", str(self.artifact), "--port", str(self.port)]
        command += ["--host", "127.0.0.1", "--log-level", "warning", *self.arguments]
        env = {**os.environ, "NO_COLOR": "1"}
        if self.pythonpath is not None:
            env["PYTHONPATH"] = self.pythonpath
        # python -m puts the working directory first on sys.path: run from the code that is meant to run
        folder = self.pythonpath or None
        self.process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.memory = MemoryWatch(self.process.pid)
        deadline = time.monotonic() + timeout
        while asyncio.run(self._health()) is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the server did not answer within {timeout} s")
            time.sleep(0.3)
        return self

    def warm_up(self, methods: Sequence[str]) -> None:
        """One short request per method, so that the server probes each method's working memory now: a
        probe resets the kernel's high-water mark, which would hide an earlier peak from ``memory``."""

        async def send() -> None:
            async with Connection(self.port) as connection:
                for method in methods:
                    body = json.dumps({"text": SHORT_TEXTS[0], "method": method}).encode()
                    status, _, payload = await connection.request("POST", "/explain", body)
                    if status != 200:
                        raise RuntimeError(f"warming up {method} got {status}: {payload[:300]!r}")

        asyncio.run(send())

    async def _health(self) -> dict | None:
        try:
            async with Connection(self.port) as connection:
                status, _, body = await connection.request("GET", "/health")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def get(self, path: str) -> dict:
        async def fetch() -> dict:
            async with Connection(self.port) as connection:
                return json.loads((await connection.request("GET", path))[2])

        return asyncio.run(fetch())

    def terminate(self) -> float:
        """Send SIGTERM; the time it was sent (``time.monotonic``)."""
        self.process.send_signal(signal.SIGTERM)
        return time.monotonic()

    async def terminate_under_load(
        self, jobs: Sequence[Job], clients: int, seconds: float, answered_first: int, signal_after: float | None = None
    ) -> tuple[list[Outcome], float]:
        """Send ``jobs`` from ``clients`` clients for at most ``seconds``; SIGTERM once ``answered_first``
        requests have been answered or ``signal_after`` seconds (default ``seconds``) have passed; the
        outcomes and when the signal went."""
        outcomes: list[Outcome] = []
        load = asyncio.ensure_future(run_clients(self.port, jobs, clients, seconds, outcomes))
        deadline = time.monotonic() + (seconds if signal_after is None else signal_after)
        while len(outcomes) < answered_first and time.monotonic() < deadline and not load.done():
            await asyncio.sleep(0.05)
        signalled = self.terminate()
        return await load, signalled

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.memory.stop()

    def peak_bytes(self) -> int:
        """The server's peak resident memory: its own account (``/health``: across the resets of ``VmHWM`` that
        its probes and calls make) where it gives one, and what the watch saw."""
        reported = 0
        if self.process.poll() is None:
            reported = int(self.get("/health").get("peak_resident_bytes") or 0)
        return max(reported, self.memory.peak_bytes)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.memory.stop()
