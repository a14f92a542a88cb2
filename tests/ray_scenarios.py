"""Every Ray scenario of the tests in one Ray session (Ray takes tens of seconds to start on 2 cores).

Run by ``tests/test_engines_ray.py`` inside a network namespace that has only loopback (see ``loopback``):
    python tests/ray_scenarios.py ARTIFACT WORK_DIR RESULT.json [--requests N] [--rows N]
It writes what it saw as JSON; the test asserts on it. Every request loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.loopback import loopback_only, processes_named  # noqa: E402

RECOVERY_LIMIT_S = 120.0


def serve_scenarios(artifact: Path, requests: int) -> dict[str, Any]:
    import urllib.request

    from ray import serve

    from onnxplain.engines import load
    from onnxplain.engines.ray_serve import build_app
    from onnxplain.runtime import Explainer
    from onnxplain.runtime.openapi import openapi_document
    from onnxplain.runtime.server import metadata
    from onnxplain.runtime.server_limits import ServerLimits

    limits = ServerLimits(max_text_chars=200, max_texts=4, max_queued_texts=256, max_batch=16)
    port = free_port()
    started = time.monotonic()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(artifact, limits, replicas=2, load_options={"intra_op_threads": 1}), name="onnxplain")
    result: dict[str, Any] = {"serve_start_s": time.monotonic() - started}
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(base + path, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    explainer = Explainer.load(artifact, batch_size=limits.max_batch)
    # /metadata adds the replica's own memory budget (its default depends on what that process has loaded)
    status, served = get("/metadata")
    replica_memory = served.pop("memory", None) if isinstance(served, dict) else None
    same = (status, served) == (200, json.loads(json.dumps(metadata(explainer, limits))))
    result["same_metadata"] = same and isinstance(replica_memory, dict) and "budget" in json.dumps(replica_memory)
    result["same_openapi"] = get("/openapi.json") == (200, openapi_document(explainer, limits))
    result["not_found"] = get("/nope")
    result["v2_ready"] = get("/v2/health/ready")
    name = artifact.resolve().name
    v2 = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["fine", "not fine"]}]}
    status, body = load.send("127.0.0.1", port, f"/v2/models/{name}/infer", json.dumps(v2).encode(), 30)
    outputs = {o["name"]: o for o in json.loads(body)["outputs"]} if status == 200 else {}
    result["v2_infer"] = [status, outputs.get("logits", {}).get("shape")]

    plans = load.plan_requests(requests, bad_every=3, max_text_chars=limits.max_text_chars)
    good = [p.text for p in plans if p.text is not None]
    expected = {t: json.loads(json.dumps(r.to_json())) for t, r in zip(good, explainer.explain(good), strict=True)}
    replicas = processes_named("ServeReplica:onnxplain")
    result["replica_pids_before"] = replicas
    killed: dict[str, Any] = {}

    def kill_one(done: int) -> None:  # a third of the way in, once
        if done >= requests // 3 and not killed:
            killed["pid"], killed["at"] = replicas[0], time.monotonic()
            os.kill(replicas[0], signal.SIGKILL)

    report = load.run_load("127.0.0.1", port, plans, clients=32, timeout=60, deadline=300, during=kill_one)
    result["load"] = load.check(report, expected) | {"seconds": report.seconds, "counts": report.counts()}
    failed = [o for o in report.outcomes if o.status is None or o.status >= 500]
    in_flight = report.in_flight_at(killed["at"])
    result["load"]["server_errors"] = sorted({o.body.decode(errors="replace")[:300] for o in failed})
    result["load"]["in_flight_at_kill"] = len(in_flight)
    result["load"]["failed_not_in_flight_at_kill"] = len([o for o in failed if o not in in_flight])
    # Ray's router may still send a request to the dead replica until the controller notices: seconds after
    # the kill that the last failed request was sent
    result["load"]["last_failure_sent_after_kill_s"] = max((o.started - killed["at"] for o in failed), default=None)
    # back to two replicas: two replica processes, a new one among them, and Serve saying so
    recovered = None
    while time.monotonic() - killed["at"] < RECOVERY_LIMIT_S:
        pids = processes_named("ServeReplica:onnxplain")
        status = serve.status().applications["onnxplain"].deployments["onnxplain"]
        if len(pids) == 2 and killed["pid"] not in pids and status.replica_states.get("RUNNING", 0) == 2:
            recovered = time.monotonic() - killed["at"]
            break
        time.sleep(0.5)
    result["killed_pid"], result["recovered_after_s"] = killed["pid"], recovered
    result["after_recovery"] = list(load.send("127.0.0.1", port, "/explain", b'{"text": "still here"}', 30)[:1])

    # graceful shutdown: requests in flight when the application is deleted are answered (or refused, saying why)
    plans = load.plan_requests(96, bad_every=10**6, max_text_chars=limits.max_text_chars)
    deleting: list[threading.Thread] = []

    def delete_once(done: int) -> None:  # as soon as the first answer is back, with the others in flight
        if not deleting:
            deleting.append(threading.Thread(target=serve.delete, args=("onnxplain",)))
            deleting[0].start()

    report = load.run_load("127.0.0.1", port, plans, clients=32, timeout=60, deadline=120, during=delete_once)
    deleting[0].join()
    result["shutdown_counts"] = report.counts()
    result["shutdown_seconds"] = report.seconds

    # an autoscaling config instead of a replica count: deployed between its bounds, answering
    autoscaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}
    serve.run(build_app(artifact, limits, autoscaling=autoscaling, load_options={"intra_op_threads": 1}))
    status = serve.status().applications["default"].deployments["onnxplain"]
    result["autoscaled"] = {
        "status": str(status.status),
        "running": status.replica_states.get("RUNNING", 0),
        "answer": load.send("127.0.0.1", port, "/explain", b'{"text": "scaled"}', 30)[0],
    }
    serve.shutdown()
    return result


def command_line_scenario(artifact: Path) -> dict[str, Any]:
    """``onnxplain serve --engine ray`` as a user starts it (its own Ray), then SIGTERM with requests in flight."""
    import subprocess

    from onnxplain.engines import load
    from tests.servers import wait_until_up

    port = free_port()
    command = [sys.executable, "-m", "onnxplain", "serve", str(artifact), "--engine", "ray", "--replicas", "2"]
    server = subprocess.Popen(command + ["--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result: dict[str, Any] = {}
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, timeout=180)
        plans = load.plan_requests(64, bad_every=10**6, max_text_chars=10_000)
        stopping: dict[str, float] = {}
        probes: list[tuple[int | None, bytes]] = []

        def probe() -> None:  # a request every 50 ms from the signal on, until the port closes (at most 60 s)
            while time.monotonic() - stopping["at"] < 60:
                probes.append(load.send("127.0.0.1", port, "/explain", b'{"text": "after the signal"}', 30))
                if probes[-1][0] is None:
                    return
                time.sleep(0.05)

        probing = threading.Thread(target=probe)

        def terminate_once(done: int) -> None:  # as soon as the first answer is back, with the others in flight
            if not stopping:
                stopping["at"] = time.monotonic()
                server.send_signal(signal.SIGTERM)
                probing.start()

        report = load.run_load("127.0.0.1", port, plans, clients=32, timeout=60, deadline=120, during=terminate_once)
        result["counts"] = report.counts()
        in_flight = report.in_flight_at(stopping["at"])
        result["in_flight_at_sigterm"] = dict(Counter(str(o.status) for o in in_flight))
        probing.join()
        result["after_sigterm"] = dict(Counter(str(status) for status, _ in probes))
        result["refusals_say_why"] = all(b"shutting down" in body for status, body in probes if status == 503)
        result["exit_status"] = server.wait(timeout=120)
        result["exit_s"] = time.monotonic() - stopping["at"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = server.stdout.read().decode(errors="replace") if server.stdout else ""
    result["said_stopping"] = "stopping: the replicas finish what they accepted" in output
    return result


def evaluate_scenario(artifact: Path, work: Path, texts: int = 40) -> dict[str, Any]:
    """``onnxplain evaluate --engine ray`` (2 actors, in this Ray session) and the local engine on the same
    texts: every curve, relevance and metric alike."""
    import numpy as np

    from onnxplain.cli import main as cli

    data = work / "labelled.csv"
    words = "the film is a warm funny and sharp look at love loss music friends and the long road home".split()
    generator = random.Random(1)
    sentences = (" ".join(generator.choice(words) for _ in range(generator.randint(3, 30))) for _ in range(texts))
    write_csv(data, ["label", "text"], ([generator.randint(0, 2), sentence] for sentence in sentences))
    common = ["evaluate", str(artifact), "--data", str(data), "--bootstrap", "50", "--quiet", "--batch-size", "4"]
    common += ["--methods", "mask-lrp,attnlrp,rollout", "--random-masks", "1", "--threads", "1"]
    outs = {"local": work / "evaluate-local", "ray": work / "evaluate-ray"}
    result: dict[str, Any] = {
        "status": {
            "local": cli([*common, "--out", str(outs["local"])]),
            "ray": cli([*common, "--out", str(outs["ray"]), "--engine", "ray", "--actors", "2"]),
        },
        "ray_still_up": __import__("ray").is_initialized(),  # a session it joined is left to its owner
    }
    with np.load(outs["local"] / "curves.npz") as local, np.load(outs["ray"] / "curves.npz") as on_ray:
        compared = [key for key in local.files if not key.startswith("counters/") and key != "model_sha256"]
        result["same_arrays"] = sorted(local.files) == sorted(on_ray.files)
        result["same_model"] = str(local["model_sha256"]) == str(on_ray["model_sha256"])
        result["max_difference"] = max(float(np.abs(local[k] - on_ray[k]).max(initial=0.0)) for k in compared)
        result["texts"] = int(local["p0"].shape[0])
    reports = {name: json.loads((out / "results.json").read_text()) for name, out in outs.items()}
    means = {
        name: [v["protocols"][p]["aopc"]["mean"] for v in report["variants"] for p in report["protocols"]]
        for name, report in reports.items()
    }
    result["aopc_max_difference"] = max(abs(a - b) for a, b in zip(means["local"], means["ray"], strict=True))
    result["variants"] = [v["name"] for v in reports["ray"]["variants"]]
    return result


def write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def write_rows(path: Path, count: int) -> None:
    words = "good bad dull moving long honest gripping boring fine awful great slow".split()
    generator = random.Random(0)
    texts = (" ".join(generator.choice(words) for _ in range(generator.randint(1, 40))) for _ in range(count))
    # a few rows without text
    write_csv(path, ["id", "text"], ([f"row-{i}", text if i % 97 else ""] for i, text in enumerate(texts)))


def bulk_scenarios(
    artifact: Path,
    work: Path,
    rows: int,
    separate_kill_run: bool = False,
    methods: tuple[str, ...] = ("mask-lrp", "attnlrp"),
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from onnxplain.bulk.command import explain_dataset
    from onnxplain.bulk.rows import InputColumns

    data = work / "rows.csv"
    write_rows(data, rows)
    columns = InputColumns(id="id")
    common = {"methods": list(methods), "columns": columns, "part_rows": 256, "progress": False}
    cores = os.cpu_count() or 1
    result: dict[str, Any] = {}
    runs = {}
    local = explain_dataset(artifact, data, work / "local", engine="local", **common)
    runs["local"] = local
    # the test kills an actor in the 2-actor run; the benchmark keeps that run clean for the throughput ratio
    # and kills in a third run
    plan = [("ray-1", 1, False), ("ray-2", 2, not separate_kill_run)]
    if separate_kill_run:
        plan.append(("ray-2-kill", 2, True))
    for name, actors, kill in plan:
        threads = {"intra_op_threads": max(1, cores // actors)}
        killed: dict[str, Any] = {}

        def kill_an_actor(written: int, kill: bool = kill, killed: dict[str, Any] = killed) -> None:
            if kill and written >= rows // 4 and not killed:
                pids = processes_named("RowExplainer")
                if pids:
                    killed["pid"] = pids[0]
                    os.kill(pids[0], signal.SIGKILL)

        runs[name] = explain_dataset(
            artifact,
            data,
            work / name,
            engine="ray",
            actors=actors,
            load_options=threads,
            on_rows=kill_an_actor,
            **common,
        )
        if kill:
            result["killed_actor"] = killed.get("pid")
    rerun = explain_dataset(artifact, data, work / name, engine="ray", actors=2, **common)
    tables = {name: pq.read_table(work / name).sort_by("position") for name in runs}
    reference = tables["local"]
    for name, summary in runs.items():
        table = tables[name]
        ids = table.column("id").to_pylist()
        result[name] = {
            "rows": summary.rows,
            "written": summary.written,
            "seconds": summary.seconds,
            "rows_per_s": summary.written / summary.seconds,
            "skipped_empty": summary.skipped_empty,
            "duplicates_dropped": summary.duplicates_dropped,
            "table_rows": table.num_rows,
            "unique_ids": len(set(ids)),
            "equal_to_local": table.equals(reference),
        }
    result["rerun_written"], result["rerun_already"] = rerun.written, rerun.already
    result["expected_rows"] = rows - len(range(0, rows, 97))
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    result: dict[str, Any] = {"loopback_only": loopback_only()}
    if not all(result["loopback_only"].values()):
        args.result.write_text(json.dumps(result))
        return
    import ray

    started = time.monotonic()
    ray.init(num_cpus=4, object_store_memory=128 * 2**20, include_dashboard=False, log_to_driver=False)
    result["ray_start_s"] = time.monotonic() - started
    try:
        for name, scenario in (
            ("serve", lambda: serve_scenarios(args.artifact, args.requests)),
            ("bulk", lambda: bulk_scenarios(args.artifact, args.work, args.rows)),
            ("evaluate", lambda: evaluate_scenario(args.artifact, args.work)),
        ):
            try:
                result[name] = scenario()
            except Exception:  # the test shows what went wrong; the other scenario still runs
                result[name] = {"error": traceback.format_exc()}
    finally:
        ray.shutdown()
    try:
        result["command_line"] = command_line_scenario(args.artifact)
    except Exception:
        result["command_line"] = {"error": traceback.format_exc()}
    args.result.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
