"""Bulk explanation on Ray Data: `--rows` rows through explain-dataset locally and on Ray with 1 and 2 actors
(and a third run, 2 actors, with one killed mid-job), throughput ratio and equality of the results (docs/engines.md).

Runs the test's scenario (tests/ray_scenarios.py) with the counts given, in a network namespace with only
loopback. Methods: mask-lrp and attnlrp unless `--methods` says otherwise.

    python benchmarks/tiny_artifact.py /tmp/tiny && python benchmarks/ray_data_bulk.py /tmp/tiny [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.loopback import in_loopback_namespace, loopback_only  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--methods", default="mask-lrp,attnlrp", help="comma-separated (default: mask-lrp,attnlrp)")
    args = parser.parse_args()
    if not all(loopback_only().values()):
        os.execvp("unshare", in_loopback_namespace([sys.executable, *sys.argv]))
    import ray

    from tests.ray_scenarios import bulk_scenarios

    ray.init(num_cpus=4, object_store_memory=256 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as work:
            methods = tuple(args.methods.split(","))
            seen = bulk_scenarios(args.artifact, Path(work), args.rows, separate_kill_run=True, methods=methods)
    finally:
        ray.shutdown()
    print(json.dumps(seen, indent=1))
    print(f"\n{seen['expected_rows']} rows with text, methods {args.methods}, {os.cpu_count()} cores")
    for name in ("local", "ray-1", "ray-2", "ray-2-kill"):
        run = seen[name]
        print(
            f"{name:<8} {run['rows_per_s']:8.1f} rows/s  {run['seconds']:7.1f} s  rows {run['table_rows']} "
            f"unique {run['unique_ids']}  equal to local: {run['equal_to_local']}"
        )
    print(
        f"2 actors / 1 actor throughput: {seen['ray-2']['rows_per_s'] / seen['ray-1']['rows_per_s']:.2f}; "
        f"actor killed in the last run: pid {seen['killed_actor']}; rerun wrote {seen['rerun_written']} rows"
    )


if __name__ == "__main__":
    main()
