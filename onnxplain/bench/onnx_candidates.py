"""What ONNX Runtime is timed on: the runtime's own pruned sessions, as ``Explainer.run`` uses them.

``forward`` is the session for ``logits`` alone (the forward graph); each method is the session for
``logits`` and that method's relevance (its explain graph)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from onnxplain.bench.inputs import Batch
from onnxplain.runtime import Explainer

FORWARD = "forward"


def load_explainer(artifact_dir: Path, device: str, threads: int | None, methods: int = 1) -> Explainer:
    """An explainer that keeps a session for the forward graph and for each of ``methods`` explain graphs:
    with fewer, interleaved rounds would rebuild sessions inside the timed calls."""
    return Explainer.load(artifact_dir, device=device, intra_op_threads=threads, cached_sessions=methods + 2)


def onnx_candidates(explainer: Explainer, methods: Sequence[str], batch: Batch) -> dict[str, Callable[[], object]]:
    """One call per candidate: the forward graph, then each method's explain graph, on ``batch``."""

    def call(wanted: tuple[str, ...]) -> Callable[[], object]:
        return lambda: explainer.run(batch.input_ids, batch.attention_mask, methods=wanted)

    candidates = {FORWARD: call(())}
    candidates.update({method: call((method,)) for method in methods})
    return candidates
