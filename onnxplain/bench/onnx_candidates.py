"""What ONNX Runtime is timed on: the runtime's own pruned sessions, as ``Explainer.run`` uses them.

``forward`` is the session for ``logits`` alone (the forward graph); each method is the session for
``logits`` and that method's relevance (its explain graph); ``standard-forward`` is the same checkpoint exported
and optimised the standard way, in a plain ONNX Runtime session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from onnxplain.bench.inputs import Batch
from onnxplain.runtime import Explainer
from onnxplain.runtime.sessions import CPU_PROVIDER, CUDA_PROVIDER, session_options

FORWARD = "forward"
STANDARD = "standard-forward"


def load_explainer(artifact_dir: Path, device: str, threads: int | None, methods: int = 1) -> Explainer:
    """An explainer that keeps a session for the forward graph and for each of ``methods`` explain graphs:
    with fewer, interleaved rounds would rebuild sessions inside the timed calls. No memory budget: every call
    runs at exactly the shape it is timed or measured at."""
    return Explainer.load(
        artifact_dir, device=device, intra_op_threads=threads, cached_sessions=methods + 2, memory_budget="unlimited"
    )


def onnx_candidates(explainer: Explainer, methods: Sequence[str], batch: Batch) -> dict[str, Callable[[], object]]:
    """One call per candidate: the forward graph, then each method's explain graph, on ``batch``."""

    def call(wanted: tuple[str, ...]) -> Callable[[], object]:
        return lambda: explainer.run(batch.input_ids, batch.attention_mask, methods=wanted)

    candidates = {FORWARD: call(())}
    candidates.update({method: call((method,)) for method in methods})
    return candidates


def standard_session(path: Path, device: str, threads: int | None) -> ort.InferenceSession:
    """A session of the standard forward (see ``standard_forward``) with the runtime's own options (threads,
    no spinning) on the same device as the artifact's sessions."""
    providers = [CUDA_PROVIDER, CPU_PROVIDER] if device == "cuda" else [CPU_PROVIDER]
    return ort.InferenceSession(str(path), session_options(threads), providers=providers)


def standard_candidate(session: ort.InferenceSession, batch: Batch) -> Callable[[], object]:
    """One call of the standard forward on ``batch`` (token types 0, as the artifact's sessions get them)."""
    given = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    given["token_type_ids"] = np.zeros_like(batch.input_ids)
    feeds = {i.name: given[i.name] for i in session.get_inputs()}
    return lambda: session.run(None, feeds)
