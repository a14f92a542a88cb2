"""The ATen decompositions of the traced explain graph, through public torch entry points only.

``make_fx`` decomposes the explain function while it traces it, with ``torch.export.default_decompositions()``
(the public core-ATen table that ``torch.export`` itself applies) less ``KEPT``: operations the ONNX exporter
translates as they are and would otherwise decompose back (measured on every architecture and task).

``torch.onnx.export`` then decomposes the program once more with its own table, through the public
``ExportedProgram.run_decompositions``: a second functionalising re-trace of the whole graph, by itself about
three times as long as the rest of the export (tiny BERT with every method: about 160 s against 50 s). On a
graph that holds no operation of that table the pass changes nothing, so ``skip_idle_decompositions`` returns
the program unchanged in exactly that case, and runs the pass as usual in any other. No public option of
``torch.onnx.export`` skips it (torch 2.13 and 2.14): this wrapper of a public method, active only while the
exporter runs, is the one place where onnxplain leans on how the exporter works inside, and it is safe
either way: a torch that stops calling ``run_decompositions`` only loses the shortcut, and a graph the table
would change is decomposed as the exporter intends (slower, logged).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

logger = logging.getLogger(__name__)
aten = torch.ops.aten

# ``default_decompositions`` turns ``squeeze.dim`` into ``squeeze.dims``, which the ONNX exporter decomposes
# back; kept, the exporter translates it directly.
KEPT = (aten.squeeze.dim,)


def decomposition_table() -> dict[Any, Callable[..., Any]]:
    """The table ``make_fx`` decomposes the explain function with: public core ATen, less ``KEPT``."""
    table = torch.export.default_decompositions()
    for operation in KEPT:
        table.pop(operation)
    return dict(table.items())


def is_mutating(target: Any) -> bool:
    """In-place and ``out=`` ATen operations, by ATen's naming convention (``add_.Tensor``, ``add.out``),
    which the exporter's decomposition pass would functionalise."""
    name, _, overload = getattr(target, "__name__", "").partition(".")
    return name.endswith("_") and not name.startswith("_") or overload == "out"


def operations_to_decompose(program: torch.export.ExportedProgram, table: Mapping[Any, Any]) -> list[str]:
    """The operations of ``program`` that decomposing with ``table`` would change."""
    return sorted(
        {
            str(node.target)
            for node in program.graph.nodes
            if node.op == "call_function" and (node.target in table or is_mutating(node.target))
        }
    )


@contextlib.contextmanager
def skip_idle_decompositions() -> Iterator[list[str]]:
    """While active, ``ExportedProgram.run_decompositions`` returns a program unchanged where its table holds
    none of the program's operations. Yields a list that collects the operations of every pass that did
    run (empty: every pass was skipped)."""
    original = torch.export.ExportedProgram.run_decompositions
    decomposed: list[str] = []

    def run_decompositions(self: torch.export.ExportedProgram, decomp_table: Any = None, *args: Any, **kwargs: Any):
        table = torch.export.default_decompositions() if decomp_table is None else decomp_table
        changed = operations_to_decompose(self, table)
        if not changed:
            return self
        logger.info("the exporter decomposes %s again (a full re-trace)", ", ".join(changed))
        decomposed.extend(changed)
        return original(self, decomp_table, *args, **kwargs)

    torch.export.ExportedProgram.run_decompositions = run_decompositions  # type: ignore[method-assign]
    try:
        yield decomposed
    finally:
        torch.export.ExportedProgram.run_decompositions = original  # type: ignore[method-assign]
