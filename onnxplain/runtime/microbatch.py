"""Micro-batching for the server: requests that arrive together share one ONNX Runtime call per method.

Requests wait in a bounded asyncio queue. One worker takes the first waiting request and all that queued up
while the previous batch ran; if other requests are still arriving (being read and checked), it waits up to
``max_wait`` seconds for them, but a request that arrives alone is not held back. Up to ``max_batch`` texts
are grouped by method, each group runs in one worker thread (so the event loop keeps answering), and every
request gets back exactly its own results, in its own order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# what is explained (an encoded input of the artifact's task) and what comes back (the task's result)
Item = Any
Result = Any
ExplainBatch = Callable[[list[Item], str, np.ndarray], list[Result]]


class QueueFull(Exception):
    """More texts are waiting than the server accepts; the client should retry later."""


class Arrival:
    """A request being read and checked; the batch being formed may wait for it (see ``arriving``)."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self._batcher = batcher
        self.open = True

    async def explain(self, texts: Sequence[Item], method: str, targets: np.ndarray) -> list[Result]:
        self.close()  # and, in the same step of the event loop, join the queue
        return await self._batcher.explain(texts, method, targets)

    def close(self) -> None:
        if self.open:
            self.open = False
            self._batcher.arriving_count -= 1
            self._batcher.wake()


@dataclass
class _Request:
    texts: list[Item]
    method: str
    targets: np.ndarray
    answer: asyncio.Future[list[Result]] = field(repr=False)


class MicroBatcher:
    def __init__(
        self, explain: ExplainBatch, max_batch: int = 32, max_wait: float = 0.002, max_queued: int = 256
    ) -> None:
        self._explain = explain
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queued = max_queued
        self.queued = 0  # texts accepted and not yet answered
        self.batches = 0  # ONNX Runtime calls made, for monitoring
        self.arriving_count = 0  # requests being read and checked
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
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

    async def explain(self, texts: Sequence[Item], method: str, targets: np.ndarray) -> list[Result]:
        """Queue texts (or question pairs) and wait for their results; ``QueueFull`` when the queue is full."""
        if self.queued + len(texts) > self.max_queued:
            raise QueueFull(f"{self.queued} texts are already waiting (the limit is {self.max_queued})")
        self.queued += len(texts)
        request = _Request(list(texts), method, targets, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(request)
        self._arrived.set()
        try:
            return await request.answer
        finally:
            self.queued -= len(texts)

    async def _gather(self) -> list[_Request]:
        """The first waiting request and those queued or arriving within ``max_wait``; ``max_batch`` texts."""
        requests = [await self._queue.get()]
        size = len(requests[0].texts)
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while size < self.max_batch:
            try:
                request = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - asyncio.get_running_loop().time()
                if self.arriving_count == 0 or remaining <= 0:
                    break
                # wait on an event, not on the queue: a cancelled queue.get() may swallow a request
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
                continue
            requests.append(request)
            size += len(request.texts)
        return requests

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            requests = await self._gather()
            by_method: dict[str, list[_Request]] = {}
            for request in requests:
                if not request.answer.done():  # its client may have gone away
                    by_method.setdefault(request.method, []).append(request)
            for method, group in by_method.items():
                texts = [text for request in group for text in request.texts]
                targets = np.concatenate([request.targets for request in group])
                try:
                    results = await loop.run_in_executor(self._executor, self._explain, texts, method, targets)
                except Exception as error:  # every request of the batch learns why it failed
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
