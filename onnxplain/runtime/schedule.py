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
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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


def memory_order(nodes: Sequence[NodeProto], sizes: Mapping[str, int]) -> list[NodeProto]:
    """``nodes`` (a topologically sorted graph) re-sorted for a low peak of live tensors, greedily: of the
    nodes ready to run, one that frees at least as many bytes (inputs it is the last to read) as it
    allocates (``sizes`` of its outputs; 0 where unknown) runs first, the earliest in ``nodes`` of those;
    otherwise the one with the longest path to a node nothing reads (ties: the earliest)."""
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    reads = [
        sorted({producer[name] for name in (*node.input, *subgraph_inputs(node)) if name in producer}) for node in nodes
    ]
    readers: list[list[int]] = [[] for _ in nodes]
    for index, sources in enumerate(reads):
        for source in sources:
            readers[source].append(index)
    height = [0] * len(nodes)
    for index in reversed(range(len(nodes))):  # readers come later in a topological order
        height[index] = 1 + max((height[reader] for reader in readers[index]), default=0)
    made = [sum(sizes.get(name, 0) for name in node.output if name) for node in nodes]
    unread = [len(reader) for reader in readers]  # readers of each node's outputs not yet run
    waiting = [len(sources) for sources in reads]
    ran = [False] * len(nodes)
    shrinking = [False] * len(nodes)
    # Ready nodes: those that free at least what they allocate, by index; the others by (-height, index).
    # A node's bytes freed only grow (its inputs lose their other readers), so a node moves from the second
    # heap to the first at most once; the second heap drops it lazily.
    shrink_heap: list[int] = []
    other_heap: list[tuple[int, int]] = []

    def frees_enough(index: int) -> bool:
        return sum(made[source] for source in reads[index] if unread[source] == 1) >= made[index]

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
        for source in reads[chosen]:
            unread[source] -= 1
            if unread[source] == 1:  # its last reader may now free it
                last = next(reader for reader in readers[source] if not ran[reader])
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
    model = onnx.load(optimising.optimized_model_filepath, load_external_data=False)
    nodes = memory_order(model.graph.node, sizes)
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
    return scheduled
