"""The ``--engine ray`` options of ``onnxplain serve`` and the run that uses them (see ``ray_serve``).

Kept apart from ``ray_serve`` so that ``onnxplain serve --help`` works without the ``ray`` extra.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from typing import Any

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import read_manifest
from onnxplain.runtime.server_limits import ServerLimits


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "engine", "run the same server in Ray Serve replicas (pip install 'onnxplain[ray]')"
    )
    group.add_argument(
        "--engine", choices=("builtin", "ray"), default="builtin", help="builtin: one uvicorn process (default)"
    )
    group.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas (default: 1)")
    group.add_argument(
        "--autoscaling",
        help='Ray Serve autoscaling config as JSON instead of --replicas, e.g. \'{"min_replicas": 1, '
        '"max_replicas": 4, "target_ongoing_requests": 32}\'',
    )
    group.add_argument("--replica-cpus", type=float, default=1.0, help="Ray CPUs reserved per replica (default: 1)")
    group.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")


def autoscaling_config(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"--autoscaling is not valid JSON ({error.msg}); pass an object such as "
            '\'{"min_replicas": 1, "max_replicas": 4}\''
        ) from None
    if not isinstance(config, dict) or "max_replicas" not in config:
        raise UserError('--autoscaling must be a JSON object with at least "max_replicas"')
    return config


def run_on_ray(args: argparse.Namespace, limits: ServerLimits) -> int:
    if args.replicas < 1:
        raise UserError(f"--replicas {args.replicas} is not positive; use 1 or more")
    autoscaling = autoscaling_config(args.autoscaling)
    from onnxplain.engines.ray_serve import build_app, serve_until_stopped  # Ray only once the options hold

    most = int(autoscaling["max_replicas"]) if autoscaling else args.replicas
    cores = os.cpu_count() or 1
    # the replicas share the machine's cores for their ONNX Runtime threads unless told otherwise
    threads = args.threads or max(1, cores // most)
    load_options = {"device": args.device, "max_length": args.max_length, "intra_op_threads": threads}
    if getattr(args, "memory_budget", None) is not None:  # each replica gets the whole budget given
        load_options["memory_budget"] = args.memory_budget
    read_manifest(args.artifact)  # a wrong path fails here in one sentence, before Ray starts
    app_for = functools.partial(
        build_app,
        args.artifact,
        limits,
        replicas=args.replicas,
        autoscaling=autoscaling,
        load_options=load_options,
        model_name=args.model_name,
        replica_cpus=args.replica_cpus,
    )
    cpus = max(cores, most * args.replica_cpus)
    serve_until_stopped(app_for, args.host, args.port, args.ray_address, num_cpus=cpus)
    return 0
