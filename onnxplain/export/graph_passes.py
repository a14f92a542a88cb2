"""Clean-up passes on the traced explain graph, run before it is written as ONNX.

``explain`` runs one forward pass per rule set, and every rule set computes the same forward values (rules
change only the backward pass). Traced, those are copies of the same operations, apart from operations that
do nothing to values (``detach`` where a rule holds a tensor constant, ``clone`` in the head mask). Dropping
those no-ops and then merging identical operations leaves one forward pass that every rule set's backward
reads. ONNX Runtime's own common-subexpression elimination does not do this on the exported graph: each
copy has its own ``Constant`` nodes (epsilons, shapes), which it does not compare by value.

Batched matrix products (attention, and their backward) are traced as ``expand`` to the batch shape, then
``bmm``; where the operand already has that shape the ``expand`` changes nothing, but ONNX Runtime's
``Expand`` still copies the tensor, so those go too.
"""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten
# Operations that return their input's value unchanged; in a traced graph of plain values they are no-ops.
# (A ``clone`` that sets a memory format is kept: the ``view`` after it relies on that layout.)
VALUE_PRESERVING = (aten.detach.default, aten.alias.default, aten.clone.default, aten.lift_fresh_copy.default)
# Operations whose result differs between two calls with the same arguments.
NON_DETERMINISTIC = ("rand", "randn", "randint", "bernoulli", "dropout", "normal", "uniform", "multinomial")


def drop_value_preserving(module: GraphModule) -> int:
    """Replace every no-op (``detach``, ``alias``, ``clone``...) by its input; returns how many went."""
    removed = 0
    for node in list(module.graph.nodes):
        if node.op == "call_function" and node.target in VALUE_PRESERVING and "memory_format" not in node.kwargs:
            node.replace_all_uses_with(node.args[0])
            module.graph.erase_node(node)
            removed += 1
    return removed


def symbolic_shape(node: object) -> tuple[str, ...] | None:
    """The traced shape of a node's value as expressions in the symbolic sizes (``s0``, ``2*s1``...)."""
    value = node.meta.get("val") if isinstance(node, Node) else None
    return None if not isinstance(value, torch.Tensor) else tuple(str(size) for size in value.shape)


def drop_identity_expands(module: GraphModule) -> int:
    """Replace every ``expand`` whose result has its input's shape (for every batch and sequence length)
    by its input; returns how many went."""
    removed = 0
    for node in list(module.graph.nodes):
        if node.op != "call_function" or node.target != aten.expand.default:
            continue
        shape = symbolic_shape(node)
        if shape is not None and shape == symbolic_shape(node.args[0]):
            node.replace_all_uses_with(node.args[0])
            module.graph.erase_node(node)
            removed += 1
    return removed


def is_deterministic(node: Node) -> bool:
    name = str(node.target)
    return not any(word in name for word in NON_DETERMINISTIC)


def merge_common_subexpressions(module: GraphModule) -> int:
    """Merge every call whose target and (already merged) arguments equal an earlier call's; returns how
    many calls went. Nodes are visited in topological order, so one sweep merges whole duplicated chains."""
    seen: dict[tuple, Node] = {}
    merged = 0
    for node in list(module.graph.nodes):
        if node.op not in ("call_function", "get_attr") or not is_deterministic(node):
            continue
        key = (node.op, node.target, _hashable(node.args), _hashable(node.kwargs))
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = node
            continue
        node.replace_all_uses_with(earlier)
        module.graph.erase_node(node)
        merged += 1
    return merged


def _hashable(value: object) -> object:
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _hashable(v)) for k, v in value.items())))
    if isinstance(value, torch.dtype | torch.device | torch.memory_format | torch.layout):
        return str(value)
    if isinstance(value, float):
        return ("float", value.hex())  # 0.0 and -0.0 differ
    return value


def share_forward_passes(module: GraphModule) -> GraphModule:
    """The three passes, then dead code elimination; the module is changed in place and returned."""
    drop_value_preserving(module)
    drop_identity_expands(module)
    merge_common_subexpressions(module)
    module.graph.eliminate_dead_code()
    module.recompile()
    return module
