"""The working memory of one explain call, as a function of batch and length, measured on the artifact.

An explain graph keeps activations for its backward passes: tensors of ``[batch, tokens, hidden]`` and
``[batch, heads, tokens, tokens]`` (attention and its relevance). So the memory one call adds to the process
is modelled as

    bytes(batch, tokens) = fixed + batch * (per_token * tokens + per_token_pair * tokens**2)

with the three coefficients fitted (non-negative, relative least squares) to calls measured at a few shapes
and then scaled up until the model covers every measured call (less a few MiB of noise), plus a margin. A
measurement is the rise of this process's resident memory during one call: freed heap handed back first
(``malloc_trim``), the kernel's high-water mark reset, the call run, the mark read (see ``process_memory``).
That is the cost that matters here, the one an out-of-memory killer counts, and it is measured per artifact
because graph passes change it (``benchmarks/`` and ``docs/memory.md`` have the figures).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from onnxplain.runtime import process_memory

MARGIN = 1.1  # on top of the scaled fit: allocator rounding and measurement noise
SLACK = 4 * 2**20  # what a measurement may exceed the fit by without scaling it: noise from other threads
PROBE_VERSION = 3  # in the cache's entry names: entries measured by an older probe are measured again
Shape = tuple[int, int]  # (batch, tokens)
Probe = tuple[int, int, int]  # (batch, tokens, measured bytes)


@dataclass(frozen=True)
class WorkingMemory:
    """Bytes one call adds to the process: ``fixed + batch * (per_token * T + per_token_pair * T**2)``."""

    fixed: float
    per_token: float
    per_token_pair: float
    probes: tuple[Probe, ...] = ()  # the measurements it was fitted to

    def bytes(self, batch: int, tokens: int) -> int:
        per_text = self.per_token * tokens + self.per_token_pair * tokens * tokens
        return int(self.fixed + batch * per_text)

    def to_json(self) -> dict[str, object]:
        return {
            "fixed": self.fixed,
            "per_token": self.per_token,
            "per_token_pair": self.per_token_pair,
            "probes": [list(p) for p in self.probes],
        }

    @classmethod
    def from_json(cls, data: dict) -> WorkingMemory:
        probes = tuple((int(b), int(t), int(m)) for b, t, m in data.get("probes", ()))
        return cls(float(data["fixed"]), float(data["per_token"]), float(data["per_token_pair"]), probes)


def _terms(batch: float, tokens: float) -> list[float]:
    return [1.0, batch * tokens, batch * tokens * tokens]


def fit(probes: Sequence[Probe]) -> WorkingMemory:
    """The non-negative coefficients that fit ``probes`` best in relative terms, scaled to cover them all."""
    if not probes:
        raise ValueError("fitting working memory needs at least one measured call")
    design = np.asarray([_terms(b, t) for b, t, _ in probes])
    measured = np.asarray([m for _, _, m in probes], dtype=float)
    weights = 1.0 / np.maximum(measured, 2**20)  # relative error; calls under 1 MiB count as 1 MiB
    best: tuple[float, np.ndarray] | None = None
    for size in (1, 2, 3):  # every subset of the terms: a small exact non-negative least squares
        for columns in itertools.combinations(range(3), size):
            solution, *_ = np.linalg.lstsq(design[:, columns] * weights[:, None], measured * weights, rcond=None)
            if np.any(solution < 0):
                continue
            coefficients = np.zeros(3)
            coefficients[list(columns)] = solution
            error = float(np.sum(((design @ coefficients - measured) * weights) ** 2))
            if best is None or error < best[0]:
                best = (error, coefficients)
    assert best is not None  # the single-term fits of positive measurements are never negative
    coefficients = best[1]
    predicted = np.maximum(design @ coefficients, 1.0)
    scale = max(1.0, float(np.max((measured - SLACK) / predicted))) * MARGIN
    fixed, per_token, per_token_pair = (float(c) * scale for c in coefficients)
    return WorkingMemory(fixed, per_token, per_token_pair, tuple(probes))


def probe_shapes(max_length: int) -> list[Shape]:
    """Where to measure: one text at an eighth, a quarter, half and all of the length limit, and four texts
    at a quarter (which tells the batch term from the fixed one), cheapest first."""
    quarter = max(2, max_length // 4)
    lengths = sorted({max(2, max_length // 8), quarter, max(2, max_length // 2), max_length})
    shapes = [(1, t) for t in lengths]
    shapes.insert(shapes.index((1, quarter)) + 1, (4, quarter))
    return shapes


class CallsAndProbes:
    """A probe measures the whole process, so nothing else may run beside it: calls share, a probe excludes
    (every explainer of the process, every thread). The probing thread's own calls pass (``probing_here``)."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._calls = 0
        self._probing = False
        self._here = threading.local()

    def probing_here(self) -> bool:
        return bool(getattr(self._here, "probing", False))

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._state:
            while self._probing:
                self._state.wait()
            self._calls += 1
        try:
            yield
        finally:
            with self._state:
                self._calls -= 1
                self._state.notify_all()

    @contextmanager
    def probe(self) -> Iterator[None]:
        with self._state:
            while self._probing or self._calls:
                self._state.wait()
            self._probing = True
        self._here.probing = True
        try:
            yield
        finally:
            self._here.probing = False
            with self._state:
                self._probing = False
                self._state.notify_all()


MEASURING = CallsAndProbes()


def refit(model: WorkingMemory, batch: int, tokens: int, measured: int) -> WorkingMemory:
    """The model refitted with one more measured call (one it underestimated)."""
    return fit((*model.probes, (batch, tokens, measured)))


def measure_call(call: Callable[[], object]) -> int | None:
    """How much one call raised this process's resident memory; None where it cannot be told (no /proc)."""
    process_memory.trim()
    before = process_memory.resident_bytes()
    if before is None:
        return None
    peak = process_memory.watch(call).peak_bytes
    return None if peak is None else max(0, peak - before)


def probe(run: Callable[[int, int], object], max_length: int, limit: int) -> WorkingMemory | None:
    """Measure ``run(batch, tokens)`` at ``probe_shapes`` and fit; a shape that the calls so far (scaled by
    batch and tokens squared) say would cost more than ``limit`` bytes is skipped. None without /proc. A first,
    unmeasured call at two tokens builds whatever the calls need once (the session, its kernels). A call that
    measures less than a smaller one did is measured again, and never counts for less than that one."""
    run(1, 2)
    probes: list[Probe] = []
    for batch, tokens in probe_shapes(max_length):
        if probes:
            last_batch, last_tokens, last_bytes = probes[-1]
            if last_bytes * (batch / last_batch) * (tokens / last_tokens) ** 2 > limit:
                continue
        measured = measure_call(functools.partial(run, batch, tokens))
        if measured is None:
            return None
        smaller = max((m for b, t, m in probes if b <= batch and t <= tokens), default=0)
        if measured < smaller:  # a larger call cannot need less: memory was reused; measure it again
            measured = max(smaller, measure_call(functools.partial(run, batch, tokens)) or 0)
        probes.append((batch, tokens, measured))
    return fit(probes)
