"""Ray Serve and Ray Data on the tiny artifact, in a network namespace with only loopback.

One child process (``tests/ray_scenarios.py``) runs every scenario in one Ray session, since Ray takes tens of
seconds to start; the tests below read what it saw. It runs under ``unshare`` (new network, PID and mount
namespaces), so Ray can reach nothing but 127.0.0.1 and every process it starts ends with the namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.loopback import in_loopback_namespace, missing_tools

pytestmark = pytest.mark.slow
SCENARIOS = Path(__file__).with_name("ray_scenarios.py")
REQUESTS, ROWS = 1000, 2000
TIME_LIMIT_S = 900
FAILURE_WINDOW_S = 10.0  # after the kill, the most time requests may still be routed to the dead replica


@pytest.fixture(scope="module")
def seen(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("ray", reason="needs the ray extra: pip install 'onnxplain[ray]'")
    missing = missing_tools()
    assert not missing, f"{', '.join(missing)} missing: install util-linux and iproute2 (apt-get install iproute2)"
    work = tmp_path_factory.mktemp("ray-scenarios")
    result = work / "result.json"
    argv = [sys.executable, str(SCENARIOS), str(tiny_artifact), str(work), str(result)]
    argv += ["--requests", str(REQUESTS), "--rows", str(ROWS)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", RAY_USAGE_STATS_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(SCENARIOS.parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run(in_loopback_namespace(argv), env=env, capture_output=True, timeout=TIME_LIMIT_S)
    assert result.is_file(), f"the scenarios wrote no result (status {done.returncode}): {done.stderr[-3000:]!r}"
    return json.loads(result.read_text())


def test_the_scenarios_ran_where_only_loopback_exists(seen: dict[str, Any]) -> None:
    assert seen["loopback_only"] == {"only_lo": True, "outside_unreachable": True}


def test_ray_serve_answers_with_the_built_in_servers_api(seen: dict[str, Any]) -> None:
    serve = seen["serve"]
    assert "error" not in serve, serve.get("error")
    assert serve["same_metadata"] and serve["same_openapi"]
    assert serve["not_found"] == [404, {"error": "Not Found", "status": 404}]
    assert serve["v2_ready"] == [200, {"ready": True}] and serve["v2_infer"] == [200, [2, 3]]


def test_load_with_bad_requests_and_a_killed_replica(seen: dict[str, Any]) -> None:
    load = seen["serve"]["load"]
    tally = load["tally"]
    assert load["answered"] == REQUESTS and not load["problems"], load["problems"]
    assert set(tally) <= {"correct", "refused as expected", "server error with a reason"}, tally
    bad = REQUESTS // 3
    failed = tally.get("server error with a reason", 0)
    assert tally["refused as expected"] + tally["correct"] + failed == REQUESTS
    assert tally["refused as expected"] >= bad - failed
    # only requests in flight on the killed replica, or sent to it before Serve noticed its death, may fail,
    # each with a 5xx that says something; none after the deployment had time to notice
    last = load["last_failure_sent_after_kill_s"]
    assert last is None or last < FAILURE_WINDOW_S, load
    assert seen["serve"]["recovered_after_s"] is not None, "the deployment was not back to 2 replicas in time"
    assert seen["serve"]["after_recovery"] == [200]


def test_an_autoscaling_config_deploys_within_its_bounds(seen: dict[str, Any]) -> None:
    autoscaled = seen["serve"]["autoscaled"]
    assert autoscaled["status"].endswith("HEALTHY") and 1 <= autoscaled["running"] <= 2
    assert autoscaled["answer"] == 200


def test_deleting_the_application_answers_what_is_in_flight(seen: dict[str, Any]) -> None:
    counts = seen["serve"]["shutdown_counts"]
    assert sum(counts.values()) == 96
    assert not any(key.endswith("None") for key in counts), counts  # none unanswered
    assert counts.get("good: 200", 0) >= 1


def test_bulk_on_ray_equals_local_and_survives_a_killed_actor(seen: dict[str, Any]) -> None:
    bulk = seen["bulk"]
    assert "error" not in bulk, bulk.get("error")
    expected = bulk["expected_rows"]
    for name in ("local", "ray-1", "ray-2"):
        run = bulk[name]
        assert run["rows"] == run["written"] == run["table_rows"] == run["unique_ids"] == expected, (name, run)
        assert run["equal_to_local"], name
    assert bulk["killed_actor"] is not None, "no actor process was found to kill"
    assert bulk["rerun_written"] == 0 and bulk["rerun_already"] == expected


def test_evaluate_on_ray_data_equals_the_local_engine(seen: dict[str, Any]) -> None:
    evaluated = seen["evaluate"]
    assert "error" not in evaluated, evaluated.get("error")
    assert evaluated["status"] == {"local": 0, "ray": 0} and evaluated["ray_still_up"]
    assert evaluated["same_arrays"] and evaluated["same_model"] and evaluated["texts"] >= 10, evaluated
    assert "mask-lrp:random-0" in evaluated["variants"] and "random" in evaluated["variants"]
    # every curve and relevance alike up to the rounding of different padding (texts meet other texts in
    # the blocks of the actors than in the local batches)
    assert evaluated["max_difference"] < 1e-5 and evaluated["aopc_max_difference"] < 1e-6, evaluated


def test_the_command_line_stops_on_sigterm_after_answering_what_is_in_flight(seen: dict[str, Any]) -> None:
    seen = seen["command_line"]
    assert "error" not in seen, seen.get("error")
    assert seen["exit_status"] == 0 and seen["said_stopping"]
    # every request in flight when SIGTERM came is answered; requests sent after it are answered until the
    # replicas drain, then refused with a 503 that says why, until Serve has gone and the port is closed
    assert set(seen["in_flight_at_sigterm"]) == {"200"}, seen["in_flight_at_sigterm"]
    after = seen["after_sigterm"]
    assert "503" in after and set(after) <= {"200", "503", "None"}, after
    assert seen["refusals_say_why"]
    assert sum(seen["counts"].values()) == 64 and seen["counts"].get("good: 200", 0) >= 1
