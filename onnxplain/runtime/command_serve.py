"""``onnxplain serve ARTIFACT``: serve explanations over HTTP (see ``onnxplain.runtime.server``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from onnxplain.runtime.server_limits import DEFAULT_LIMITS as limits

    parser.add_argument("artifact", type=Path, help="artifact directory written by `onnxplain export`")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all; default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where to run (default: cpu)")
    parser.add_argument("--max-length", type=int, help="cut texts after this many tokens (default: the model's)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: one per core)")
    parser.add_argument("--max-text-chars", type=int, default=limits.max_text_chars, help="characters per text")
    parser.add_argument("--max-texts", type=int, default=limits.max_texts, help="texts per request")
    parser.add_argument("--max-queued-texts", type=int, default=limits.max_queued_texts, help="queue depth (texts)")
    parser.add_argument("--max-batch", type=int, default=limits.max_batch, help="texts per ONNX Runtime call")
    parser.add_argument("--max-wait-ms", type=float, default=limits.max_wait_ms, help="micro-batching window")
    parser.add_argument(
        "--memory-budget",
        help="memory the explanations may use beyond the loaded model, such as 2GiB; batches are formed to stay "
        "within it and a text too large for it is refused (413). Default: from the container's memory limit or "
        "the machine's RAM (see /metadata); 'unlimited': batches bounded by --max-batch only",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=limits.drain_timeout_s,
        help="on SIGTERM, seconds to finish the accepted requests before exiting (default: %(default)s)",
    )
    parser.add_argument("--model-name", help="the model's name in the /v2 routes (default: the artifact folder's)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    from onnxplain.engines.serve_command import add_engine_options  # --engine ray and its options

    add_engine_options(parser)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from onnxplain.runtime import Explainer
    from onnxplain.runtime.draining import DrainingServer
    from onnxplain.runtime.server import create_app
    from onnxplain.runtime.server_limits import ServerLimits

    limits = ServerLimits(
        max_text_chars=args.max_text_chars,
        max_texts=args.max_texts,
        max_queued_texts=args.max_queued_texts,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        drain_timeout_s=args.drain_timeout,
    )
    if args.engine == "ray":
        from onnxplain.engines.serve_command import run_on_ray

        return run_on_ray(args, limits)
    explainer = Explainer.load(
        args.artifact,
        device=args.device,
        batch_size=limits.max_batch,
        max_length=args.max_length,
        intra_op_threads=args.threads,
        memory_budget=args.memory_budget,
    )
    if explainer.device.note:
        print(f"onnxplain serve: {explainer.device.note}")
    budget = explainer.memory.budget
    print(f"onnxplain serve: memory budget {budget or 'unlimited'}" + (f" ({budget.source})" if budget else ""))
    app = create_app(explainer, limits, args.model_name)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    DrainingServer(config, app.state.drain, limits.drain_timeout_s).run()
    return 0
