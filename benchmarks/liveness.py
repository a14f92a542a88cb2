"""What is alive at an explain graph's memory peak: ONNX Runtime's own count of the bytes in use after each
node of one call, and the tensors alive at the peak worked out from the optimised graph and the order the
nodes ran in.

    python benchmarks/liveness.py ARTIFACT --methods mask-lrp,cp-lrp [--orders DEFAULT,PRIORITY_BASED,runtime]
        [--batch 8] [--length 512] [--top 15] [--calls 5]

With ``--calls``, each method's graph is also timed in every order, the orders' calls interleaved (median,
and the ratio to the first order).

``bench.memory`` measures a process's high-water mark, which includes the allocator's slack and, on this
project's machines, scatters by up to 3x between fresh processes for some graphs. ONNX Runtime's profiler
(with its arena, the default) records after every node how many bytes its tensors asked for; that count is the
same on every run of the same graph and order, and the difference between its peak and its value before
the first node is the call's working memory as ONNX Runtime schedules it.

The tensors alive at the peak come from a replay of the run: a node's outputs are allocated when it runs
(their shapes from the profile) and an intermediate is freed after the last node that reads it; the outputs
of ``Reshape``-like operators share their input's buffer. The replay's peak is printed beside ONNX Runtime's
count; where they agree, its list says which tensors make the peak, grouped by the operator that made them
and by when they were made (forward or backward half of the run).

Orders: ONNX Runtime's ``DEFAULT`` and ``PRIORITY_BASED``, and ``runtime``, the one onnxplain's sessions use
(``onnxplain.runtime.schedule``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from graph_profile import benchmark_feeds  # this folder: run as a script

from onnxplain.runtime import schedule
from onnxplain.runtime.artifact import LOGITS, MODEL_FILE, read_manifest
from onnxplain.runtime.pruning import pruned_model

ALIASING = schedule.ALIASING  # operators whose output is a view of their first input (no new buffer)
BYTES = {**schedule.PROFILED_ELEMENT_BYTES, "double": 8}  # by the profiler's type names
MIB = 2**20
RUNTIME = "runtime"  # the order the runtime's sessions use: schedule.memory_order, run as ordered


@dataclass
class Step:
    """One node as it ran: its name, operator, output sizes in bytes and ONNX Runtime's bytes in use after it."""

    name: str
    op: str
    output_bytes: list[int]
    output_shapes: list[list[int]]
    in_use: int


def build(
    path: Path, threads: int, order: str, sizes: dict, profile: bool = False
) -> tuple[ort.InferenceSession, Path]:
    """A CPU session of ``path`` in ``order`` (``sizes``: the artifact's ``schedule.inferred_value_bytes``,
    for the runtime's order) and, with ``profile``, the profiler on; and where its optimised graph is saved."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if order == RUNTIME:
        path = schedule.scheduled_model(path, options, ["CPUExecutionProvider"], sizes, {})
    else:
        options.execution_order = getattr(ort.ExecutionOrder, order)
    optimised_path = path.with_suffix(f".{order}.optimised.onnx")
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(path.with_suffix(""))
        options.optimized_model_filepath = str(optimised_path)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), optimised_path


def run_profiled(
    path: Path, feeds: dict[str, np.ndarray], threads: int, order: str, sizes: dict
) -> tuple[list[Step], int, onnx.GraphProto]:
    """One call of ``path`` with ONNX Runtime's profiler on: the steps, the bytes in use before the first node,
    and the optimised graph the steps ran."""
    session, optimised_path = build(path, threads, order, sizes, profile=True)
    wanted = {i.name for i in session.get_inputs()}
    session.run(None, {name: value for name, value in feeds.items() if name in wanted})
    events = json.loads(Path(session.end_profiling()).read_text())
    steps = []
    start: int | None = None
    for name, args, outputs in schedule.profiled_nodes(events):
        shapes = [shape for _, shape in outputs]
        made = [int(np.prod(shape)) * BYTES.get(kind, 4) for kind, shape in outputs]
        in_use = int(args["mem_bytes_requested_in_use"])
        if start is None:
            start = in_use - int(args["mem_requested_in_use_delta"])
        steps.append(Step(name, args["op_name"], made, shapes, in_use))
    assert start is not None, "the profile has no node events"
    return steps, start, onnx.load(str(optimised_path), load_external_data=False).graph


def replay(steps: list[Step], graph: onnx.GraphProto) -> tuple[list[int], list[dict[str, tuple[int, int]]]]:
    """Bytes alive after each step, and at each step the alive tensors: name -> (bytes, step that made it)."""
    nodes = {node.name: node for node in graph.node}
    # Nodes ONNX Runtime adds after saving the optimised graph (a few Casts) stand for themselves: an output
    # that nothing in the saved graph reads, freed at once.
    order = [nodes.get(step.name) or onnx.helper.make_node(step.op, [], [step.name], name=step.name) for step in steps]
    last_use: dict[str, int] = {}
    for index, node in enumerate(order):
        for name in node.input:
            last_use[name] = index
    kept = {output.name for output in graph.output}
    owner: dict[str, str] = {}  # a view's name -> the buffer it shares
    alive: dict[str, tuple[int, int]] = {}
    readers: dict[str, int] = {}  # a buffer -> the last step that reads it or any of its views
    totals, snapshots = [], []
    for index, (step, node) in enumerate(zip(steps, order, strict=True)):
        if node.op_type in ALIASING and node.input and node.input[0] in owner:
            buffer = owner[node.input[0]]
            owner[node.output[0]] = buffer
            readers[buffer] = max(readers[buffer], last_use.get(node.output[0], index))
        else:
            for name, size in zip(node.output, step.output_bytes, strict=False):
                if name:
                    owner[name] = name
                    alive[name] = (size, index)
                    readers[name] = last_use.get(name, index)
        totals.append(sum(size for size, _ in alive.values()))
        snapshots.append(dict(alive))
        for name in list(alive):
            if readers[name] <= index and name not in kept:
                del alive[name]
    return totals, snapshots


def describe(steps: list[Step], snapshot: dict[str, tuple[int, int]], top: int) -> None:
    """The tensors alive at one step, by the operator and output shape that made them, and by when."""
    by_kind: dict[tuple[str, str], list[int]] = defaultdict(list)
    for size, made in snapshot.values():
        step = steps[made]
        shape = "x".join(str(d) for d in step.output_shapes[0]) if step.output_shapes else "?"
        by_kind[(step.op, shape)].append(size)
    print(f"    alive: {len(snapshot)} tensors, {sum(s for s, _ in snapshot.values()) / MIB:,.0f} MiB")
    for (op, shape), sizes in sorted(by_kind.items(), key=lambda item: -sum(item[1]))[:top]:
        print(f"    {sum(sizes) / MIB:8,.0f} MiB  {len(sizes):3d} x {op:<22} {shape}")
    made_at: Counter[int] = Counter()
    for size, made in snapshot.values():
        made_at[10 * made // len(steps)] += size
    tenths = ", ".join(f"{tenth}: {size / MIB:,.0f}" for tenth, size in sorted(made_at.items()))
    print(f"    MiB by when made (tenths of the run): {tenths}")


def peak(
    model: onnx.ModelProto, outputs: list[str], feeds: dict, threads: int, order: str, top: int, sizes: dict
) -> int:
    """ONNX Runtime's count of working memory at its peak for ``outputs``; with ``top``, what is alive there."""
    if order == RUNTIME and outputs == [LOGITS]:
        order = "DEFAULT"  # the runtime schedules only graphs with a backward pass
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "graph.onnx"
        onnx.save(pruned_model(model, outputs), str(path))
        steps, start, graph = run_profiled(path, feeds, threads, order, sizes)
    counted = [step.in_use - start for step in steps]
    at = int(np.argmax(counted))
    if top:
        totals, snapshots = replay(steps, graph)
        print(
            f"{outputs[-1]} ({order}): {len(steps)} nodes; ONNX Runtime's count {counted[at] / MIB:,.0f} MiB at "
            f"node {at} ({steps[at].op}); the replay {totals[at] / MIB:,.0f} MiB there, its own peak "
            f"{max(totals) / MIB:,.0f} MiB"
        )
        describe(steps, snapshots[at], top)
    return counted[at]


def interleaved_times(
    model: onnx.ModelProto, outputs: list[str], feeds: dict, threads: int, orders: list[str], calls: int, sizes: dict
) -> dict[str, float]:
    """Median seconds per call of ``outputs``' graph in each order, the orders' calls interleaved."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "graph.onnx"
        onnx.save(pruned_model(model, outputs), str(path))
        sessions = {order: build(path, threads, order, sizes)[0] for order in orders}
    chosen = {
        name: value for name, value in feeds.items() if name in {i.name for i in sessions[orders[0]].get_inputs()}
    }
    times: dict[str, list[float]] = {order: [] for order in orders}
    for session in sessions.values():
        session.run(None, chosen)  # warm-up
    for _ in range(calls):
        for order, session in sessions.items():
            start = time.perf_counter()
            session.run(None, chosen)
            times[order].append(time.perf_counter() - start)
    return {order: statistics.median(values) for order, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--methods", default="mask-lrp", help="comma-separated")
    parser.add_argument(
        "--orders", default=f"DEFAULT,{RUNTIME}", help=f"comma-separated: DEFAULT, PRIORITY_BASED, {RUNTIME}"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=15, help="rows of what is alive at each peak; 0: none")
    parser.add_argument("--calls", type=int, default=0, help="also time this many interleaved calls per order")
    args = parser.parse_args()

    manifest = read_manifest(args.artifact)
    model = onnx.load(str(args.artifact / MODEL_FILE))
    feeds = benchmark_feeds(args.artifact, args.batch, args.length)
    orders = args.orders.split(",")
    sizes = schedule.inferred_value_bytes(model)
    print(f"working memory (MiB) at {args.batch} x {args.length}, ONNX Runtime's count; x the forward graph")
    print("| method | " + " | ".join(orders) + " |")
    print("|---|" + "---|" * len(orders))
    forward = {order: peak(model, [LOGITS], feeds, args.threads, order, 0, sizes) for order in orders}
    print("| logits | " + " | ".join(f"{forward[order] / MIB:,.0f}" for order in orders) + " |", flush=True)
    for method in args.methods.split(","):
        outputs = [LOGITS, manifest.output_name(method)]
        counts = {order: peak(model, outputs, feeds, args.threads, order, args.top, sizes) for order in orders}
        cells = [f"{counts[order] / MIB:,.0f} ({counts[order] / forward[order]:.1f}x)" for order in orders]
        if args.calls:
            times = interleaved_times(model, outputs, feeds, args.threads, orders, args.calls, sizes)
            cells = [
                f"{cell}, {times[order] * 1000:,.0f} ms ({times[order] / times[orders[0]]:.2f}x)"
                for cell, order in zip(cells, orders, strict=True)
            ]
        print(f"| {method} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
