"""An explainer's memory budget at work: each method's working memory, probed once per artifact and cached,
and the batches the budget allows.

The budget covers everything the explainer adds to the process once loaded: the working memory of the call
running, every session built after the first (each method set has its own, of 100-250 MiB for MiniLM; each
is measured when built), and what a caller reserves (a server: its queue of requests). So a call may use the
budget less the sessions held beyond those at load and less the reserve. Where memory
cannot be measured (no /proc: macOS, Windows), or with the budget ``"unlimited"``, batches are bounded by
their count only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from tokenizers import Tokenizer

from onnxplain.errors import UserError
from onnxplain.runtime import batch_plan, process_memory
from onnxplain.runtime.artifact import MODEL_FILE, TOKENIZER_FILE
from onnxplain.runtime.memory_budget import MemoryBudget, format_size, memory_budget
from onnxplain.runtime.memory_model import MEASURING, WorkingMemory, probe, refit
from onnxplain.runtime.memory_probes import ProbeCache

if TYPE_CHECKING:
    from onnxplain.runtime.explainer import Explainer

UNLIMITED = "unlimited"
FORWARD = "forward"  # the working memory of the logits-only graph, beside the methods'
Value = TypeVar("Value")
LEARN_SLACK = 16 * 2**20


PROBE_TEXT = "The quiet harbour film finds its feet slowly, and the acting stays warm and unshowy throughout. "
# Run a method's graph at (batch, tokens); ``method`` FORWARD runs the logits-only graph.
RunShape = Callable[[str, int, int], object]


def learns_from(predicted: int, budget: int) -> bool:
    """Whether a call of ``predicted`` bytes is large enough to the budget to refit its model from (a quarter):
    such a call is measured from a trimmed heap."""
    return predicted >= budget / 4


class MemoryPlanner:
    """The budget, the measured working memory of each method (``models``) and the batches they allow."""

    def __init__(
        self,
        budget: MemoryBudget | None,
        loaded_bytes: int,
        max_length: int,
        run_shape: RunShape,
        added_sessions_bytes: Callable[[], int],
        cache: ProbeCache | None = None,
    ) -> None:
        self.budget = budget  # None: unlimited
        self.loaded_bytes = loaded_bytes
        self.max_length = max_length
        self.models: dict[str, WorkingMemory] = {} if cache is None else cache.read()
        self._run_shape = run_shape
        self._added_sessions_bytes = added_sessions_bytes
        self._cache = cache
        self.reserved = 0  # set aside for what is not a call (a server's request queue), see ``reserve``
        self.reserved_for = ""
        self._lock = threading.RLock()
        self._probing = False  # the probe's own calls are not planned
        self._unmeasurable = False

    @classmethod
    def unlimited(cls, max_length: int) -> MemoryPlanner:
        """No budget: batches bounded by their count only."""
        return cls(None, 0, max_length, lambda method, batch, tokens: None, lambda: 0)

    @classmethod
    def for_explainer(cls, explainer: Explainer, budget: int | float | str | None) -> MemoryPlanner:
        """The planner of a freshly loaded explainer."""
        if budget == UNLIMITED:
            return cls.unlimited(explainer.max_length)
        process_memory.trim()
        loaded = process_memory.resident_bytes()
        chosen = memory_budget(budget, loaded or 0)
        sessions = explainer._sessions
        setting = f"{explainer.device.name}; {sessions.memory.name}"
        cache = ProbeCache(explainer.directory / MODEL_FILE, setting)
        tokenizer = Tokenizer.from_file(str(explainer.directory / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(explainer.max_length)
        probe_ids = np.asarray(tokenizer.encode(PROBE_TEXT * (1 + explainer.max_length // 8)).ids, dtype=np.int64)

        def run_shape(method: str, batch: int, tokens: int) -> object:
            ids = np.concatenate([probe_ids[: tokens - 1], probe_ids[-1:]])  # keeps the closing special token
            input_ids = np.tile(ids, (batch, 1))
            methods = () if method == FORWARD else (method,)
            return explainer.run(input_ids, np.ones_like(input_ids), methods)

        at_load = sessions.held_bytes

        def added_sessions_bytes() -> int:
            return max(0, sessions.held_bytes - at_load)

        return cls(chosen, loaded or 0, explainer.max_length, run_shape, added_sessions_bytes, cache)

    def reserve(self, size: int, what: str) -> None:
        """Set ``size`` bytes of the budget aside for ``what`` (not calls); a ``UserError`` if nothing is left."""
        if self.budget is not None and size >= self.budget.bytes:
            raise UserError(
                f"the memory budget of {self.budget} leaves nothing for explanations once {format_size(size)} is "
                f"set aside for {what}; raise the memory budget or lower those limits"
            )
        self.reserved, self.reserved_for = size, what

    @property
    def call_budget(self) -> int | None:
        """Bytes one call may use now: the budget less the sessions built since load and what is reserved;
        None: no limit."""
        if self.budget is None:
            return None
        return max(0, self.budget.bytes - self._added_sessions_bytes() - self.reserved)

    def run_call(self, methods: Sequence[str], batch: int, tokens: int, call: Callable[[], Value]) -> Value:
        """Run one ONNX Runtime call under the budget's watch: never beside a probe; a call of one method and at
        least a quarter of the budget has its peak measured, and the method's model refitted to cover it (and
        cached) where the peak proves it too low (by more than 16 MiB or 2% of the budget: other threads
        allocate too). Smaller calls are not measured (reading /proc for it took 0.15 ms a call).

        The C heap that earlier calls freed is kept for this one to reuse (``process_memory.reuse_freed_heap``:
        no page faults on blocks it reuses) unless it and this call's predicted working memory could together
        exceed the call budget, or the call is large enough to refit its model: then it is handed back first
        (``malloc_trim``, 1-100 ms), so that memory stays within the budget even where a call of another shape
        or from another thread cannot reuse what is kept, and a large call is measured from a clean heap."""
        if self.budget is None or self._unmeasurable or MEASURING.probing_here():
            return call()
        method = methods[0] if len(methods) == 1 else FORWARD if not methods else None
        with self._lock:
            known = [self.models.get(m) for m in (methods or (FORWARD,))]
            predicted = None if None in known else sum(m.bytes(batch, tokens) for m in known if m is not None)
        with MEASURING.call():
            budget = self.call_budget or 0
            before = process_memory.resident_bytes()
            kept = None if before is None else before - self.loaded_bytes - self._added_sessions_bytes()
            learning = method is not None and predicted is not None and learns_from(predicted, budget)
            if predicted is None or kept is None or learning or max(0, kept) + predicted > budget:
                process_memory.trim()
            if not learning:  # its peak would teach nothing: not measured (0.15 ms less a call)
                return call()
            before = process_memory.resident_bytes()  # of the trimmed heap
            watched = process_memory.watch(call)
            value = watched.value
            peak = watched.peak_bytes
            used = peak - before if peak is not None and before is not None else 0
        assert method is not None and predicted is not None  # what ``learning`` holds
        with self._lock:
            model = self.models.get(method)
            # learn from calls large enough to matter to the budget, by more than other threads' noise
            outgrown = used > predicted + max(LEARN_SLACK, budget / 50)
            if model is not None and outgrown:
                self.models[method] = refit(model, batch, tokens, used)
                if self._cache is not None:
                    self._cache.write(method, self.models[method])
        return value

    def measured(self, method: str) -> bool:
        """Whether planning ``method``'s calls needs no probe (measured already, or nothing to measure)."""
        return self.budget is None or self._unmeasurable or method in self.models

    def _total(self) -> int:
        return 0 if self.budget is None else self.budget.bytes

    def working_memory(self, method: str) -> WorkingMemory | None:
        """The method's model, probed now if this artifact has none yet (seconds, once per machine)."""
        if self.budget is None or self._unmeasurable:
            return None
        with self._lock:
            if self._probing:
                return None
            if method not in self.models:
                limit = self.call_budget or 0
                self._probing = True
                try:
                    with MEASURING.probe():
                        model = probe(lambda b, t: self._run_shape(method, b, t), self.max_length, limit)
                finally:
                    self._probing = False
                if model is None:
                    self._unmeasurable = True
                    return None
                self.models[method] = model
                if self._cache is not None:
                    self._cache.write(method, model)
            return self.models[method]

    def cost(self, methods: Sequence[str]) -> batch_plan.Cost | None:
        """Estimated bytes of one call computing ``methods`` (none: the forward graph) at (batch, tokens);
        several methods in one call are counted as the sum of their graphs (shared parts counted twice)."""
        models = [self.working_memory(m) for m in (methods or (FORWARD,))]
        if any(m is None for m in models):
            return None
        return lambda batch, tokens: sum(m.bytes(batch, tokens) for m in models if m is not None)

    def batches(self, lengths: Sequence[int], method: str, max_batch: int, what: str = "text") -> list[list[int]]:
        """Indices of texts per ONNX Runtime call, longest first; ``OverBudget`` for a text too large."""
        cost, budget = self.cost((method,)), self.call_budget
        if cost is None or budget is None:
            order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
            return [order[i : i + max_batch] for i in range(0, len(order), max_batch)]
        return batch_plan.pack(lengths, cost, budget, max_batch, method, what, self._total())

    def check(self, lengths: Sequence[int], method: str, what: str = "text") -> None:
        """``OverBudget`` for the first text that does not fit the budget on its own."""
        cost, budget = self.cost((method,)), self.call_budget
        if cost is not None and budget is not None:
            batch_plan.check_fits(lengths, cost, budget, method, what, self._total())

    def fits_one_call(self, lengths: Sequence[int], method: str, max_batch: int) -> bool:
        cost, budget = self.cost((method,)), self.call_budget
        if cost is None or budget is None:
            return len(lengths) <= max_batch
        return batch_plan.fits_one_call(lengths, cost, budget, max_batch)

    def rows_per_call(self, methods: Sequence[str], batch: int, tokens: int) -> int:
        """How many rows of a [batch, tokens] call fit the budget at once (at least 1: a row that does not fit
        alone raises ``OverBudget``)."""
        cost, budget = self.cost(methods), self.call_budget
        if cost is None or budget is None:
            return batch
        name = ", ".join(methods) or FORWARD
        batch_plan.check_fits([tokens], cost, budget, name, "row", self._total())
        rows = 1
        while rows < batch and cost(rows + 1, tokens) <= budget:
            rows += 1
        return rows

    def to_json(self) -> dict[str, object]:
        return {
            "budget": None if self.budget is None else self.budget.to_json(),
            "loaded_model": format_size(self.loaded_bytes),
            "loaded_model_bytes": self.loaded_bytes,
            "sessions_added_bytes": self._added_sessions_bytes(),
            "reserved_bytes": self.reserved,
            "reserved_for": self.reserved_for,
            "call_budget_bytes": self.call_budget,
            "working_memory": {method: model.to_json() for method, model in sorted(self.models.items())},
        }
