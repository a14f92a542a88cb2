"""Memory-budgeted serving against count-bounded batching: peak memory, throughput and latency, and a SIGTERM
in the middle of the load.

Three parts, each run against a server under ``--memory-budget`` (default 2GiB) and against the count-bounded
batching it replaces (``--max-batch`` texts a call whatever they cost: the code of ``--before-src``, a checkout
from before the budget, or this code with ``--memory-budget unlimited``), one after the other on loopback:

1. the headline case: ``--clients`` concurrent one-text ``mask-lrp`` requests of about 500 tokens;
2. a mixed soak for ``--seconds``: the same clients sending short texts, ~500-token texts, two to four texts
   at once, bad requests, over several methods; every answer is checked (its own texts and method, the right
   4xx for a bad request);
3. SIGTERM to the budgeted server in the middle of a mixed load: every request it accepted must be answered,
   and it must exit (status 0) within the drain timeout.

Printed: the server's resident memory once loaded and its peak (the kernel's high-water mark), the limit the
budget promises (loaded model + budget), texts per second, p50/p99 latency, and anything that went wrong.

    python benchmarks/soak.py ARTIFACT [--budget 2GiB] [--before-src /tmp/before] [--seconds 120]
    [--headline-clients-before 32]

``--headline-clients-before`` can lower the concurrency of the count-bounded headline run where the machine
cannot hold its peak (32 ~500-token mask-lrp texts in one call need about 14 GiB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from onnxplain.bench.soak import Job, Server, free_port, latency_figures, long_text, mixed_jobs, problems, run_clients
from onnxplain.runtime.memory_budget import format_size

MIB = 2**20


def headline_jobs(count: int) -> list[Job]:
    jobs = []
    for number in range(count):
        text = long_text(number)
        jobs.append(Job("long", json.dumps({"text": text, "method": "mask-lrp"}).encode(), 200, (text,), "mask-lrp"))
    return jobs


def report(name: str, server: Server, outcomes: list, seconds: float, limit: int | None) -> dict:
    memory = server.get("/metadata").get("memory", {})
    loaded = memory.get("loaded_model_bytes")
    peak = server.peak_bytes()
    figures = latency_figures(outcomes, seconds)
    found = problems(outcomes, None)
    within = "" if limit is None else f" (limit {format_size(limit)}: {'within' if peak <= limit else 'OVER'})"
    print(
        f"  {name}: {len(outcomes)} requests in {seconds:.1f} s, {figures['answered']} answered 200, "
        f"{figures['texts_per_s']:.2f} texts/s, p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms; "
        f"peak RSS {format_size(peak)}{within}"
        + (f", loaded {format_size(loaded)}" if loaded else "")
        + (f"; {len(found)} problems, e.g. {found[0]}" if found else "; no problems"),
        flush=True,
    )
    return {"peak_bytes": peak, "problems": len(found), **figures}


def start(args: argparse.Namespace, budgeted: bool) -> Server:
    arguments = ["--max-batch", str(args.max_batch)]
    pythonpath = None
    if budgeted:
        arguments += ["--memory-budget", args.budget, "--drain-timeout", str(args.drain_timeout)]
    elif args.before_src is not None:  # code from before the budget knows neither option
        pythonpath = str(args.before_src)
    else:
        arguments += ["--memory-budget", "unlimited"]
    return Server(args.artifact, free_port(), arguments, pythonpath).start()


def limit_of(server: Server) -> int | None:
    memory = server.get("/metadata").get("memory")
    if not memory or not memory.get("budget"):
        return None
    return memory["loaded_model_bytes"] + memory["budget"]["bytes"]


def run_part(args: argparse.Namespace, budgeted: bool, part: str) -> dict:
    server = start(args, budgeted)
    name = f"memory budget {args.budget}" if budgeted else f"count-bounded (--max-batch {args.max_batch})"
    try:
        server.warm_up(args.methods if part == "soak" else ["mask-lrp"])
        if part == "headline":
            clients = args.clients if budgeted else args.headline_clients_before
            jobs = headline_jobs(clients)
        else:
            clients = args.clients
            jobs = mixed_jobs(100_000, args.methods, seed=3, long_share=args.long_share)
        started = time.monotonic()
        outcomes = asyncio.run(run_clients(server.port, jobs, clients, args.seconds))
        figures = report(f"{name}, {clients} clients", server, outcomes, time.monotonic() - started, limit_of(server))
    finally:
        server.stop()
    return figures


def sigterm_part(args: argparse.Namespace) -> None:
    server = start(args, budgeted=True)
    limit = limit_of(server)
    try:
        server.warm_up(args.methods)

        jobs = mixed_jobs(100_000, args.methods, seed=4)
        started = time.monotonic()
        peak_before = server.peak_bytes()
        outcomes, signalled = asyncio.run(
            server.terminate_under_load(jobs, args.clients, args.seconds + 60, 10**9, args.sigterm_after)
        )
        after = signalled - started
        code = server.wait(timeout=args.drain_timeout + 30)
        exited = time.monotonic() - signalled
        found = problems(outcomes, None, accepted_only=True)
        in_flight = [o for o in outcomes if o.sent_at < signalled < o.sent_at + o.seconds]
        answered = sum(o.status == o.job.status for o in in_flight)
        refused = sum(o.status in (None, 503) for o in outcomes if o.sent_at > signalled)
        peak = max(peak_before, server.memory.peak_bytes)
        print(
            f"  SIGTERM after {after:.0f} s of load: exit status {code} {exited:.1f} s later; "
            f"{answered} of {len(in_flight)} requests in flight at the signal answered; {refused} sent later "
            f"refused (503 or connection refused); peak RSS {format_size(peak)}"
            + ("" if limit is None else f" (limit {format_size(limit)})")
            + (f"; {len(found)} problems, e.g. {found[0]}" if found else "; no request lost"),
            flush=True,
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--budget", default="2GiB")
    parser.add_argument("--before-src", type=Path, help="source folder of the code to compare with (PYTHONPATH)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--headline-clients-before", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=120, help="length of the mixed soak (and the headline cap)")
    parser.add_argument("--methods", nargs="+", default=["mask-lrp", "attnlrp", "grad-input"])
    parser.add_argument("--long-share", type=float, default=0.1, help="share of ~500-token requests in the mix")
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--sigterm-after", type=float, default=20, help="seconds of mixed load before SIGTERM")
    parser.add_argument("--parts", nargs="+", default=["headline", "soak", "sigterm"])
    args = parser.parse_args()
    before = f"the code in {args.before_src}" if args.before_src else "this code with --memory-budget unlimited"
    print(f"artifact {args.artifact}; {os.cpu_count()} CPU cores shared by server and clients; count-bounded: {before}")
    for part in ("headline", "soak"):
        if part in args.parts:
            print(f"{part}:", flush=True)
            run_part(args, budgeted=False, part=part)
            run_part(args, budgeted=True, part=part)
    if "sigterm" in args.parts:
        print("sigterm:", flush=True)
        sigterm_part(args)


if __name__ == "__main__":
    main()
