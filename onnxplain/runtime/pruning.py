"""Cut an ONNX graph down to the nodes that a chosen set of outputs needs.

ONNX Runtime runs every node of a graph on every call, even when only some outputs are fetched (measured:
fetching only ``logits`` from an artifact costs as much as fetching every method). So the runtime builds one
session per requested output set from a graph pruned here, and a method costs only what it computes.
"""

from __future__ import annotations

from collections.abc import Iterable

from onnx import AttributeProto, GraphProto, ModelProto, NodeProto


def subgraph_inputs(node: NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing graph."""
    names: set[str] = set()
    for attribute in node.attribute:
        graphs = [attribute.g] if attribute.type == AttributeProto.GRAPH else list(attribute.graphs)
        for graph in graphs:
            produced = {i.name for i in graph.input} | {i.name for i in graph.initializer}
            for inner in graph.node:
                produced.update(inner.output)
            for inner in graph.node:
                names.update(n for n in inner.input if n and n not in produced)
                names.update(subgraph_inputs(inner) - produced)
    return names


def needed_names(graph: GraphProto, outputs: Iterable[str]) -> tuple[list[NodeProto], set[str]]:
    """The nodes (in their original, topological order) and every value name that ``outputs`` depend on."""
    producer = {name: node for node in graph.node for name in node.output if name}
    needed: set[str] = set()
    kept: set[int] = set()
    pending = list(outputs)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        node = producer.get(name)
        if node is not None and id(node) not in kept:
            kept.add(id(node))
            pending.extend(n for n in node.input if n)
            pending.extend(subgraph_inputs(node))
    return [node for node in graph.node if id(node) in kept], needed


def pruned_model(model: ModelProto, outputs: Iterable[str]) -> ModelProto:
    """A copy of ``model`` that computes ``outputs`` alone: the nodes, inputs, value information and
    initializers they need (``needed_names``), the rest of the model (opsets, metadata) as it was."""
    outputs = list(outputs)
    nodes, needed = needed_names(model.graph, outputs)
    source = model.graph
    copy = ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    del graph.node[:], graph.input[:], graph.output[:], graph.value_info[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.input.extend(i for i in source.input if i.name in needed)
    graph.output.extend(o for o in source.output if o.name in outputs)
    graph.value_info.extend(v for v in source.value_info if v.name in needed)
    graph.initializer.extend(t for t in source.initializer if t.name in needed)
    return copy
