"""Load and faults on Ray Serve: 2 replicas, `--requests` requests from 32 clients, a third of them bad (empty
text, unknown method, too long, bad JSON), and one replica's process killed a third of the way in (docs/engines.md).

Runs the test's scenario (tests/ray_scenarios.py) with the counts given, in a network namespace with only
loopback, and prints how many requests got their own correct answer, their 4xx, or a 5xx (and what it said),
how many were in flight on the killed replica, and how long the deployment took to be back to 2 replicas.

    python benchmarks/tiny_artifact.py /tmp/tiny && python benchmarks/ray_serve_load.py /tmp/tiny [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.loopback import in_loopback_namespace, loopback_only  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    if not all(loopback_only().values()):
        os.execvp("unshare", in_loopback_namespace([sys.executable, *sys.argv]))
    import ray

    from tests.ray_scenarios import serve_scenarios

    ray.init(num_cpus=4, object_store_memory=128 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        seen = serve_scenarios(args.artifact, args.requests)
    finally:
        ray.shutdown()
    load = seen["load"]
    print(json.dumps(seen, indent=1))
    print(f"\n{args.requests} requests, 32 clients, 2 replicas, one replica killed after {args.requests // 3} answers")
    print(f"outcomes: {load['tally']}; unanswered: {load['tally'].get('unanswered', 0)}")
    print(f"in flight at the kill: {load['in_flight_at_kill']}; 5xx bodies: {load['server_errors']}")
    print(
        f"failed requests not in flight at the kill: {load['failed_not_in_flight_at_kill']} (the last sent "
        f"{load['last_failure_sent_after_kill_s']} s after it)"
    )
    print(f"back to 2 replicas after {seen['recovered_after_s']:.1f} s; load took {load['seconds']:.1f} s")
    print(f"application deleted with requests in flight: {seen['shutdown_counts']}")


if __name__ == "__main__":
    main()
