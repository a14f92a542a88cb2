"""The order in which ONNX Runtime runs an explain graph's nodes, chosen for memory.

An explain graph is a forward pass and one or more backward passes through rule sets. Much of a backward
rule reads only forward values (``|x|`` of a linear layer's input, a product rule's denominator, its sign),
so a topological order may run it long before the backward reaches its layer and keep the result alive until
then; a reduction (an attention map's mean over heads) may wait until the end while its input stays alive.
Which order ONNX Runtime takes decides how much of that happens: with its default order (a depth-first walk
back from the outputs) ``mask-lrp`` needed 2.9 GiB of working memory at 8 x 512 tokens, with its priority-based
order (among the nodes ready to run, the lowest index first) 2.1 GiB, but ``transatt`` the other way round
(``benchmarks/liveness.py``, ONNX Runtime's own count of bytes in use).

``memory_order`` sorts the nodes greedily for a low peak of live tensors: a ready node that frees at least as
much as it allocates runs at once, otherwise the one with the longest path still to go to an output (the
forward pass, on which everything after it waits, before any backward node, and each backward node about
when its layer is reached, where its result is read). The priority-based order then runs the nodes in the
order of the graph, with one catch: a node that ONNX Runtime's optimiser creates (a transpose fused into a
matrix product) takes the next free index, the lowest priority, and every other ready node runs before it.
So ``scheduled_model`` lets ONNX Runtime optimise the graph first (once, saving the result), sorts the
optimised nodes, and the session is built from that with the priority-based order. The optimised graph's
weights that are the artifact's own are read from the artifact's shared weights file, as every session's are.

Some forward values a backward pass reads are cheaper to compute again than to keep: a residual connection's
sum, read by the norm after it and, half a graph later, by the backward's rule for that sum, from two inputs
the backward keeps anyway. ``recomputing_order`` copies such a node (elementwise arithmetic, a transpose) for
its later readers where the value is held idle across the order's peak, and keeps the copies where the peak
falls (``mask-lrp`` at 8 x 512 tokens: 848 to 764 MiB by ONNX Runtime's count). The session built from the
sorted graph does not optimise it again: that would merge each copy back into its original.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import ModelProto, NodeProto, TensorProto, ValueInfoProto

from onnxplain.runtime.pruning import subgraph_inputs

# The shape at which the sizes of ``value_bytes`` are reckoned: only their ratios steer ``memory_order``.
NOMINAL_DIMS = {"batch": 8, "sequence": 512}
ELEMENT_BYTES: dict[int, int] = {
    TensorProto.FLOAT: 4,
    TensorProto.FLOAT16: 2,
    TensorProto.INT64: 8,
    TensorProto.BOOL: 1,
}
# the same by the type names of ONNX Runtime's profiler (``profiled_nodes``)
PROFILED_ELEMENT_BYTES = {"float": 4, "float16": 2, "int64": 8, "int32": 4, "bool": 1, "int8": 1, "uint8": 1}


def value_bytes(values: Iterable[ValueInfoProto], dims: Mapping[str, int] = NOMINAL_DIMS) -> dict[str, int]:
    """Bytes of each value whose type the graph records (its ``value_info``), at ``dims`` for the symbolic
    dimensions (1 for one not named there)."""
    sizes: dict[str, int] = {}
    for value in values:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        count = 1
        for dim in tensor.shape.dim:
            count *= dim.dim_value if dim.HasField("dim_value") else dims.get(dim.dim_param, 1)
        sizes[value.name] = count * ELEMENT_BYTES.get(int(tensor.elem_type), 4)
    return sizes


def inferred_value_bytes(model: ModelProto) -> dict[str, int]:
    """``value_bytes`` of every value ONNX's shape inference can type in ``model`` (the exporter records
    fewer: not those of ``Reshape``, ``Concat``, ``Cast``), and of the graph's inputs and outputs."""
    bare = ModelProto()
    bare.CopyFrom(model)  # cheap where the weights are external, as in a session pool
    del bare.graph.value_info[:]  # inferred afresh: an exporter's record may disagree (fp16 casts)
    try:
        graph = onnx.shape_inference.infer_shapes(bare).graph
    except onnx.shape_inference.InferenceError:
        graph = model.graph  # the exporter's record alone: an order chosen on fewer sizes, still valid
    return value_bytes([*graph.value_info, *graph.input, *graph.output])


# The shape of ``measured_value_bytes``'s one small call: a batch and a length that no dimension of a model
# is a multiple of (hidden sizes, heads, head and vocabulary sizes are not multiples of 5 or 19), so that a
# dimension that is tells how it follows the batch and the length (flattened batch x tokens included).
PROBE_DIMS = {"batch": 5, "sequence": 19}


def nominal_dimension(size: int, probe: Mapping[str, int] = PROBE_DIMS, dims: Mapping[str, int] = NOMINAL_DIMS) -> int:
    """A dimension of ``size`` at the ``probe`` shape, at the ``dims`` shape: each factor of the probe's
    length becomes the nominal length, then a factor of its batch the nominal batch."""
    scale = 1
    for name in ("sequence", "batch"):
        while size and size % probe[name] == 0:
            size //= probe[name]
            scale *= dims[name]
            if name == "batch":
                break  # one batch axis per dimension; lengths may come twice ([T, T] flattened)
    return size * scale


def probe_feeds(session: ort.InferenceSession, probe: Mapping[str, int] = PROBE_DIMS) -> dict[str, np.ndarray]:
    """Inputs of the probe's shape for every input of ``session``: masks of ones, other integers zeros (the
    pad or first token, the first class), floats ones (a head mask that keeps every head)."""
    feeds = {}
    for value in session.get_inputs():
        shape = [probe.get(d, 1) if isinstance(d, str) else 1 if d is None else d for d in value.shape]
        if "float" in value.type:
            feeds[value.name] = np.ones(shape, dtype=np.float16 if "float16" in value.type else np.float32)
        else:
            fill = 1 if "mask" in value.name else 0
            feeds[value.name] = np.full(shape, fill, dtype=np.int64 if "int64" in value.type else np.int32)
    return feeds


def measured_value_bytes(path: Path, graph: onnx.GraphProto, threads: int | None = None) -> dict[str, int]:
    """Bytes of every node output of ``graph``, saved at ``path`` (run on CPU as it is, not optimised again), at the
    nominal shape, from one call at ``PROBE_DIMS`` with ONNX Runtime's profiler on, which records each node's
    output shapes, scaled by ``nominal_dimension``. ONNX's shape inference loses the dimensions of most
    tensors after a reshape to a computed shape (an explain graph's [B, H, T, T] tensors among them), and
    ``memory_order`` would take those for a few bytes."""
    import json
    import tempfile

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    outputs = {node.name: list(node.output) for node in graph.node}
    with tempfile.TemporaryDirectory() as scratch:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(scratch) / "probe")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(None, probe_feeds(session))
        events = json.loads(Path(session.end_profiling()).read_text())
    sizes: dict[str, int] = {}
    for node, _, made in profiled_nodes(events):
        for name, (kind, shape) in zip(outputs.get(node, []), made, strict=False):
            count = 1
            for size in shape:
                count *= nominal_dimension(size)
            sizes[name] = count * PROFILED_ELEMENT_BYTES.get(kind, 4)
    return sizes


def profiled_nodes(events: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], list[tuple[str, list[int]]]]]:
    """The node events of an ONNX Runtime profile, in the order the nodes ran: each node's name, the event's
    arguments (its operator, the memory in use) and each output's element type and shape."""
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        args = event["args"]
        made = [next(iter(record.items())) for record in args.get("output_type_shape", [])]
        outputs = [(kind, [int(size) for size in shape]) for kind, shape in made]
        yield event["name"].removesuffix("_kernel_time"), args, outputs


NEGLIGIBLE_BYTES = 64 * 1024  # a node that allocates no more than this runs as soon as it is ready

# Operators whose output ONNX Runtime's CPU kernels give the input's buffer (a view), allocating nothing: a
# buffer is freed only once every reader of it and of its views has run.
ALIASING = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"})


@dataclass
class Buffers:
    """How the nodes of a topologically sorted graph use memory. Buffers are named by the node that allocates
    them; a view's output is its input's buffer."""

    reads: list[list[int]]  # of each node: the nodes whose outputs it reads
    readers: list[list[int]]  # of each node: the nodes that read its outputs
    views: list[bool]  # whether a node's output is a view of its input (it allocates nothing)
    buffer_of: dict[str, int]  # of each value: the node whose buffer holds it
    made: list[int]  # of each node: the bytes it allocates
    consumes: list[list[int]]  # of each node: the buffers it reads, through any view of them
    consumers: list[list[int]]  # of each buffer: the nodes that read it or a view of it


def buffers(nodes: Sequence[NodeProto], sizes: Mapping[str, int]) -> Buffers:
    """``Buffers`` of ``nodes`` (topologically sorted), ``sizes`` the bytes of their outputs (0 where unknown)."""
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    reads = [
        sorted({producer[name] for name in (*node.input, *subgraph_inputs(node)) if name in producer}) for node in nodes
    ]
    readers: list[list[int]] = [[] for _ in nodes]
    for index, sources in enumerate(reads):
        for source in sources:
            readers[source].append(index)
    views = [node.op_type in ALIASING and bool(node.input) and node.input[0] in producer for node in nodes]
    buffer_of: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            buffer_of[name] = buffer_of[node.input[0]] if views[index] else index  # inputs come first
    made = [
        0 if views[index] else sum(sizes.get(name, 0) for name in node.output if name)
        for index, node in enumerate(nodes)
    ]
    consumes = [
        []
        if views[index]
        else sorted({buffer_of[name] for name in (*node.input, *subgraph_inputs(node)) if name in buffer_of})
        for index, node in enumerate(nodes)
    ]
    consumers: list[list[int]] = [[] for _ in nodes]
    for index, used in enumerate(consumes):
        for buffer in used:
            consumers[buffer].append(index)
    return Buffers(reads, readers, views, buffer_of, made, consumes, consumers)


def memory_order(nodes: Sequence[NodeProto], sizes: Mapping[str, int]) -> list[NodeProto]:
    """``nodes`` (a topologically sorted graph) re-sorted for a low peak of live tensors, greedily: of the
    nodes ready to run, one that frees at least as many bytes (buffers it is the last to read, through any
    view of them) as it allocates (``sizes`` of its outputs; 0 where unknown, and for a view) runs first, the
    earliest in ``nodes`` of those; otherwise the one with the longest path to a node nothing reads (ties:
    the earliest)."""
    use = buffers(nodes, sizes)
    reads, readers, made, consumes, consumers = use.reads, use.readers, use.made, use.consumes, use.consumers
    height = [0] * len(nodes)
    for index in reversed(range(len(nodes))):  # readers come later in a topological order
        height[index] = 1 + max((height[reader] for reader in readers[index]), default=0)
    unread = [len(consumer) for consumer in consumers]  # consumers of each buffer not yet run
    waiting = [len(sources) for sources in reads]
    ran = [False] * len(nodes)
    shrinking = [False] * len(nodes)
    # Ready nodes: those that free at least what they allocate, by index; the others by (-height, index).
    # A node's bytes freed only grow (its buffers lose their other consumers), so a node moves from the
    # second heap to the first at most once; the second heap drops it lazily.
    shrink_heap: list[int] = []
    other_heap: list[tuple[int, int]] = []

    def frees_enough(index: int) -> bool:
        if made[index] <= NEGLIGIBLE_BYTES:  # a view, or a scalar Cast of a constant: it must not hold up its readers
            return True
        return sum(made[buffer] for buffer in consumes[index] if unread[buffer] == 1) >= made[index]

    def offer(index: int) -> None:
        if frees_enough(index):
            shrinking[index] = True
            heapq.heappush(shrink_heap, index)
        else:
            heapq.heappush(other_heap, (-height[index], index))

    for index in range(len(nodes)):
        if waiting[index] == 0:
            offer(index)
    order: list[NodeProto] = []
    while shrink_heap or other_heap:
        if shrink_heap:
            chosen = heapq.heappop(shrink_heap)
        else:
            chosen = heapq.heappop(other_heap)[1]
            if shrinking[chosen]:
                continue
        ran[chosen] = True
        order.append(nodes[chosen])
        for buffer in consumes[chosen]:
            unread[buffer] -= 1
            if unread[buffer] == 1:  # its last consumer may now free it
                last = next(consumer for consumer in consumers[buffer] if not ran[consumer])
                if waiting[last] == 0 and not shrinking[last] and frees_enough(last):
                    shrinking[last] = True
                    heapq.heappush(shrink_heap, last)
        for reader in readers[chosen]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                offer(reader)
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle or a node that reads a later node's output")
    return order


# Operators cheap enough to run twice (elementwise arithmetic, a transpose). A backward pass reads many forward
# values (the sum of a residual connection, a transposed query) long after the forward has used them; one
# of these may be computed anew just before that read, from inputs kept alive for it anyway, instead of
# being held in between.
RECOMPUTABLE = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Abs", "Sign", "Transpose"})
RECOMPUTED = "/recomputed"  # suffix of a recomputed node's name and output
RECOMPUTE_ROUNDS = 8


def live_bytes(order: Sequence[int], use: Buffers) -> list[int]:
    """Bytes of the buffers alive at each step of ``order`` (indices of the nodes ``use`` describes, all of
    them): a buffer from its node's step to its last consumer's."""
    step = {index: position for position, index in enumerate(order)}
    change = [0] * (len(order) + 1)
    for index, made in enumerate(use.made):
        if made:
            change[step[index]] += made
            change[max((step[c] for c in use.consumers[index]), default=step[index]) + 1] -= made
    return list(itertools.accumulate(change[:-1]))


def recomputing_order(nodes: Sequence[NodeProto], sizes: Mapping[str, int]) -> list[NodeProto]:
    """``memory_order`` of ``nodes``, with copies of ``RECOMPUTABLE`` nodes where they lower its peak: in
    rounds, every such node whose output is held idle across the peak, between a read and a later one, and
    whose inputs stay alive until that later read anyway gets a copy for the later readers; a round is
    kept if the new order's peak of live bytes is lower, and the next round looks at its peak."""
    nodes, sizes = list(nodes), dict(sizes)
    order = memory_order(nodes, sizes)
    peak = _order_peak(nodes, sizes, order)
    for _ in range(RECOMPUTE_ROUNDS):
        copied = _recomputed_across_peak(nodes, sizes, order)
        if copied is None:
            break
        candidate, candidate_sizes = copied
        candidate_order = memory_order(candidate, candidate_sizes)
        candidate_peak = _order_peak(candidate, candidate_sizes, candidate_order)
        if candidate_peak >= peak:
            break
        nodes, sizes, order, peak = candidate, candidate_sizes, candidate_order, candidate_peak
    return order


def _steps(nodes: Sequence[NodeProto], order: Sequence[NodeProto]) -> list[int]:
    """The step of ``order`` at which each of ``nodes`` runs."""
    index = {id(node): position for position, node in enumerate(nodes)}
    step = [0] * len(nodes)
    for position, node in enumerate(order):
        step[index[id(node)]] = position
    return step


def _order_peak(nodes: Sequence[NodeProto], sizes: Mapping[str, int], order: Sequence[NodeProto]) -> int:
    step = _steps(nodes, order)
    by_step = sorted(range(len(nodes)), key=step.__getitem__)
    return max(live_bytes(by_step, buffers(nodes, sizes)), default=0)


def _recomputed_across_peak(
    nodes: Sequence[NodeProto], sizes: Mapping[str, int], order: Sequence[NodeProto]
) -> tuple[list[NodeProto], dict[str, int]] | None:
    """``nodes`` (topologically sorted) with a copy of each ``RECOMPUTABLE`` node held idle across the peak
    of ``order`` (see ``recomputing_order``) for its later readers, and ``sizes`` with the copies' outputs;
    None where there is none."""
    use = buffers(nodes, sizes)
    step = _steps(nodes, order)
    live = live_bytes(sorted(range(len(nodes)), key=step.__getitem__), use)
    at = live.index(max(live))
    last = [max((step[c] for c in use.consumers[index]), default=step[index]) for index in range(len(nodes))]
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    value_readers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            value_readers.setdefault(name, []).append(index)

    def lives(name: str, until: int) -> bool:  # whether a value's buffer lives until a step anyway
        return name not in use.buffer_of or last[use.buffer_of[name]] >= until

    def final_steps(index: int) -> list[int]:  # the steps of the non-view nodes reading a view's output
        return [
            position
            for reader in value_readers.get(nodes[index].output[0], [])
            for position in (final_steps(reader) if use.views[reader] else [step[reader]])
        ]

    copies: dict[int, list[NodeProto]] = {}  # of a node: its copies, placed after it
    renamed: dict[int, dict[str, str]] = {}
    # a node copied in an earlier round, or twice in this one, needs new names for each copy
    taken = {node.name for node in nodes} | set(producer) | set(value_readers)
    for index, node in enumerate(nodes):
        if node.op_type not in RECOMPUTABLE or len(node.output) != 1 or use.made[index] <= NEGLIGIBLE_BYTES:
            continue
        times = sorted(step[consumer] for consumer in use.consumers[index])
        idle = [(read, later) for read, later in zip([step[index], *times], times, strict=False) if read < at < later]
        if not idle:
            continue  # not held across the peak
        first_late = idle[0][1]
        moved = idle[0][0] == step[index]  # made early only to free an input, read only later: run it later
        # An input freed before the later read is computed again too, where its inputs live until then.
        again = [producer[name] for name in node.input if name in use.buffer_of and not lives(name, first_late)]
        if any(
            use.views[source]
            or nodes[source].op_type not in RECOMPUTABLE
            or len(nodes[source].output) != 1
            or not all(lives(name, first_late) for name in nodes[source].input)
            for source in again
        ):
            continue  # an input would live longer for the copy
        if moved and not again:
            continue
        for source in again:
            if source not in copies:  # else copied already for its own later readers: that copy is read
                copies[source] = [_copy(nodes[source], {}, taken)]
        sources = {nodes[source].output[0]: copies[source][0].output[0] for source in again}
        if moved:  # it reads the copies, and runs where they are made
            renamed.setdefault(index, {}).update(sources)
            for source in again:  # the originals are freed after their other reads
                last[source] = max((step[c] for c in use.consumers[source] if c != index), default=step[source])
            continue
        copy = _copy(node, sources, taken)
        copies.setdefault(index, []).append(copy)
        pending = [(node.output[0], copy.output[0])]
        while pending:  # the later readers read the copy; a view read before and after is copied too
            name, copied = pending.pop()
            for reader in value_readers.get(name, []):
                positions = final_steps(reader) if use.views[reader] else [step[reader]]
                if all(position >= first_late for position in positions):
                    renamed.setdefault(reader, {})[name] = copied
                elif any(position >= first_late for position in positions):
                    view = _copy(nodes[reader], {name: copied}, taken)
                    copies.setdefault(reader, []).append(view)
                    pending.append((nodes[reader].output[0], view.output[0]))
        last[index] = idle[0][0]  # the original is now freed after its earlier reads
    if not copies:
        return None
    result: list[NodeProto] = []
    for index, node in enumerate(nodes):
        if index in renamed:
            node = _reading(node, renamed[index])
        result.append(node)
        result.extend(copies.get(index, []))
    copied_sizes = dict(sizes)
    for index, made in copies.items():
        for copy in made:
            if nodes[index].output[0] in sizes:
                copied_sizes[copy.output[0]] = sizes[nodes[index].output[0]]
    return result, copied_sizes


def _copy(node: NodeProto, renames: Mapping[str, str], taken: set[str]) -> NodeProto:
    """A copy of ``node`` (one output) to run again, reading ``renames``' new names for some inputs; its name
    and output's name end in ``RECOMPUTED`` and are not in ``taken`` (node and value names), which gets them."""
    copy = _reading(node, renames)
    copy.name, copy.output[0] = (_fresh(name, taken) for name in (node.name, node.output[0]))
    return copy


def _fresh(name: str, taken: set[str]) -> str:
    """``name`` + ``RECOMPUTED``, numbered where that is taken; added to ``taken``."""
    fresh, number = name + RECOMPUTED, 1
    while fresh in taken:
        number += 1
        fresh = f"{name}/{number}{RECOMPUTED}"
    taken.add(fresh)
    return fresh


def _reading(node: NodeProto, renames: Mapping[str, str]) -> NodeProto:
    """A copy of ``node`` reading ``renames``' new names for some of its inputs."""
    changed = NodeProto()
    changed.CopyFrom(node)
    for position, name in enumerate(changed.input):
        changed.input[position] = renames.get(name, name)
    return changed


OPTIMISED_FILE = "optimised.onnx"
OPTIMISED_WEIGHTS = "optimised.weights"
EXTERNAL_MIN_BYTES = 1024


def scheduled_model(
    path: Path,
    options: ort.SessionOptions,
    providers: Sequence[str],
    sizes: Mapping[str, int],
    shared: Mapping[str, TensorProto],
) -> Path:
    """``path``'s graph optimised by ONNX Runtime (the optimiser's passes up to its extended level, under
    ``options``' threads and ``providers``), its nodes in ``memory_order``, saved beside it; ``options`` is
    set to run nodes in that order. ``shared``: initializers by name whose data is in a shared external file;
    the optimised graph's initializers of those names read it there instead of a second copy."""
    optimising = ort.SessionOptions()
    optimising.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    optimising.intra_op_num_threads = options.intra_op_num_threads
    optimising.log_severity_level = 3
    optimising.optimized_model_filepath = str(path.with_name(OPTIMISED_FILE))
    optimising.add_session_config_entry("session.optimized_model_external_initializers_file_name", OPTIMISED_WEIGHTS)
    optimising.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", str(EXTERNAL_MIN_BYTES)
    )
    ort.InferenceSession(str(path), optimising, providers=list(providers))
    optimised = Path(optimising.optimized_model_filepath)
    model = onnx.load(str(optimised), load_external_data=False)
    measured = measured_value_bytes(optimised, model.graph, options.intra_op_num_threads)
    nodes = recomputing_order(model.graph.node, {**sizes, **measured})
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for tensor in model.graph.initializer:
        original = shared.get(tensor.name)
        if (
            original is not None
            and tensor.data_location == TensorProto.EXTERNAL
            and list(tensor.dims) == list(original.dims)
            and tensor.data_type == original.data_type
        ):
            del tensor.external_data[:]
            tensor.external_data.extend(original.external_data)
    scheduled = path.with_name("scheduled.onnx")
    onnx.save(model, str(scheduled))
    options.execution_order = ort.ExecutionOrder.PRIORITY_BASED
    # optimised already; optimising again would merge the recomputed copies back (common subexpressions)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return scheduled
