"""Micro-batching for the server: requests that arrive together share one ONNX Runtime call, within the
memory budget.

Requests wait in a bounded queue (``max_queued`` texts; beyond it ``QueueFull``). Each text comes encoded (the
server tokenizes as it checks a request), so that one too large for the memory budget on its own is refused
as it arrives (``OverBudget``, a 413), before it can share a call with anyone. One worker forms one call at a time: the
oldest waiting request, joined by the waiting requests of the same method whose lengths are closest to its
own, as many as the budget (``cost``: the explainer's ``MemoryPlanner``) and ``max_batch`` allow; if other
requests are still arriving (being read and checked), it waits up to ``max_wait`` seconds for them, but a
request that arrives alone is not held back. The oldest request is always in the next call, so none
starves. Each call runs in the worker's thread (the event loop keeps answering), and every request gets
back exactly its own results, in its own order. A request whose client went away before its call started
(its future cancelled) is dropped from the queue; one whose call has started is computed and discarded.

A method whose working memory has not been measured yet is probed in the worker thread (seconds, once per
artifact) before its first call; then its waiting requests are checked against the budget one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

# what is explained (an input of the artifact's task, usually encoded) and what comes back (the task's result)
Item = Any
Result = Any
# the items handed to ExplainBatch and their lengths in tokens; raises UserError for a bad item
Prepare = Callable[[list[Item]], tuple[list[Any], list[int]]]
ExplainBatch = Callable[[list[Any], str, np.ndarray], list[Result]]


class CallCost(Protocol):
    """What the batcher asks about the memory budget (``memory_planner.MemoryPlanner`` answers)."""

    def measured(self, method: str) -> bool: ...

    def working_memory(self, method: str) -> object: ...

    def check(self, lengths: Sequence[int], method: str, what: str = "text") -> None: ...

    def fits_one_call(self, lengths: Sequence[int], method: str, max_batch: int) -> bool: ...


class CountOnly:
    """No budget: a call holds up to ``max_batch`` texts, whatever they cost."""

    def measured(self, method: str) -> bool:
        return True

    def working_memory(self, method: str) -> object:
        return None

    def check(self, lengths: Sequence[int], method: str, what: str = "text") -> None:
        return None

    def fits_one_call(self, lengths: Sequence[int], method: str, max_batch: int) -> bool:
        return len(lengths) <= max_batch


class QueueFull(Exception):
    """More texts are waiting than the server accepts; the client should retry later."""


class Arrival:
    """A request being read and checked; the batch being formed may wait for it (see ``arriving``)."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self._batcher = batcher
        self.open = True

    async def explain(self, texts: Sequence[Item], method: str, targets: np.ndarray) -> list[Result]:
        try:
            prepared, lengths = self._batcher.prepare(list(texts), method)
        finally:
            self.close()  # and, in the same step of the event loop, join the queue
        return await self._batcher.explain_prepared(prepared, lengths, method, targets)

    def close(self) -> None:
        if self.open:
            self.open = False
            self._batcher.arriving_count -= 1
            self._batcher.wake()


@dataclass
class _Request:
    texts: list[Any]  # prepared (tokenized) items
    lengths: list[int]
    method: str
    targets: np.ndarray
    answer: asyncio.Future[list[Result]] = field(repr=False)

    @property
    def longest(self) -> int:
        return max(self.lengths)


def encoded(items: list[Item]) -> tuple[list[Any], list[int]]:
    """Items already encoded: their lengths are their token counts."""
    return list(items), [len(item) for item in items]


class MicroBatcher:
    def __init__(
        self,
        explain: ExplainBatch,
        max_batch: int = 32,
        max_wait: float = 0.002,
        max_queued: int = 256,
        prepare: Prepare = encoded,
        cost: CallCost | None = None,
        noun: str = "text",
    ) -> None:
        self._explain = explain
        self._prepare = prepare
        self.cost: CallCost = cost or CountOnly()
        self.noun = noun  # what one item is called in a refusal ("text", "pair")
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queued = max_queued
        self.queued = 0  # texts accepted and not yet answered
        self.batches = 0  # ONNX Runtime calls made, for monitoring
        self.arriving_count = 0  # requests being read and checked
        self._pending: list[_Request] = []  # in arrival order
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxplain-inference")
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def measure(self, method: str) -> None:
        """Probe ``method``'s working memory now, in the worker thread (the server does the default method's
        at start, so that its requests are checked against the budget as they arrive)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.cost.working_memory, method)

    @contextmanager
    def arriving(self) -> Iterator[Arrival]:
        """Wrap the reading and checking of a request; call ``explain`` on what it yields to queue it."""
        arrival = Arrival(self)
        self.arriving_count += 1
        try:
            yield arrival
        finally:
            arrival.close()

    def wake(self) -> None:
        self._arrived.set()

    def prepare(self, texts: list[Item], method: str) -> tuple[list[Any], list[int]]:
        """Tokenize; ``OverBudget`` now for a text too large alone, where the method's cost is known."""
        prepared, lengths = self._prepare(texts)
        if self.cost.measured(method):
            self.cost.check(lengths, method, self.noun)
        return prepared, lengths

    async def explain(self, texts: Sequence[Item], method: str, targets: np.ndarray) -> list[Result]:
        """Queue texts (or question pairs) and wait for their results; ``QueueFull`` when the queue is full."""
        prepared, lengths = self.prepare(list(texts), method)
        return await self.explain_prepared(prepared, lengths, method, targets)

    async def explain_prepared(
        self, prepared: list[Any], lengths: list[int], method: str, targets: np.ndarray
    ) -> list[Result]:
        if self.queued + len(prepared) > self.max_queued:
            raise QueueFull(f"{self.queued} texts are already waiting (the limit is {self.max_queued})")
        self.queued += len(prepared)
        request = _Request(prepared, lengths, method, targets, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        self._arrived.set()
        try:
            return await request.answer
        finally:
            self.queued -= len(prepared)

    def _drop_finished(self) -> None:
        """Forget requests already answered or given up (their client went away)."""
        self._pending = [r for r in self._pending if not r.answer.done()]

    async def _wait_for_arrivals(self) -> None:
        """Wait up to ``max_wait`` while requests are still being read, unless a full call is waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while self.arriving_count > 0 and sum(len(r.texts) for r in self._pending) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            # wait on an event, not on a queue: a cancelled queue.get() may swallow a request
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _select(self) -> list[_Request]:
        """The oldest request and the same-method requests closest to it in length that fit one call."""
        head = self._pending[0]
        group, lengths = [head], list(head.lengths)
        if self.cost.measured(head.method):
            others = [r for r in self._pending[1:] if r.method == head.method]
            for request in sorted(others, key=lambda r: abs(r.longest - head.longest)):
                if self.cost.fits_one_call(lengths + request.lengths, head.method, self.max_batch):
                    group.append(request)
                    lengths += request.lengths
        chosen = {id(r) for r in group}
        self._pending = [r for r in self._pending if id(r) not in chosen]
        return group

    async def _gather(self) -> list[_Request]:
        while True:
            self._drop_finished()
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._wait_for_arrivals()
            self._drop_finished()
            if self._pending:
                return self._select()

    async def _measure_first(self, method: str) -> None:
        """Probe ``method``, then refuse its waiting requests that the budget cannot hold."""
        try:
            await self.measure(method)
        except Exception as error:  # every waiting request of the method learns why
            for request in self._pending:
                if request.method == method and not request.answer.done():
                    request.answer.set_exception(error)
            return
        for request in self._pending:
            if request.method == method and not request.answer.done():
                try:
                    self.cost.check(request.lengths, method, self.noun)
                except Exception as error:
                    request.answer.set_exception(error)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = await self._gather()
            method = group[0].method
            if not self.cost.measured(method):
                self._pending[:0] = group  # back at the front, to be checked and selected again
                await self._measure_first(method)
                continue
            group = [r for r in group if not r.answer.done()]  # their clients may have gone away
            if not group:
                continue
            texts = [text for request in group for text in request.texts]
            targets = np.concatenate([request.targets for request in group])
            try:
                results = await loop.run_in_executor(self._executor, self._explain, texts, method, targets)
            except Exception as error:  # every request of the call learns why it failed
                for request in group:
                    if not request.answer.done():
                        request.answer.set_exception(error)
                continue
            self.batches += 1
            start = 0
            for request in group:
                mine = results[start : start + len(request.texts)]
                start += len(request.texts)
                if not request.answer.done():
                    request.answer.set_result(mine)
