"""Shutting down without losing a request: on SIGTERM the server drains, then exits, within a bounded time.

Draining: every new request is answered 503 with ``Retry-After`` (``GET /health`` says ``draining``, so a load
balancer stops sending), while every request already accepted runs to its answer. When none is left, or after
``drain_timeout`` seconds, the server exits (status 0); a request still unanswered by then gets a 503 that
says so, never a dropped connection. A second SIGTERM (or Ctrl-C) cuts the wait short the same way.
"""

from __future__ import annotations

import asyncio
import json
from types import FrameType
from typing import Any

import uvicorn

LIVE_DURING_DRAIN = ("/v2/health/live",)  # answered as usual: the process is alive while it drains


class Drain:
    """The requests in flight and whether the server is draining (shared by the middleware and the server)."""

    def __init__(self) -> None:
        self.draining = False
        self.abandoned = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def begin(self) -> None:
        self.draining = True
        if not self._in_flight:
            self._idle.set()

    async def finish(self, timeout: float) -> bool:
        """Wait until every accepted request is answered; True if all were within ``timeout`` seconds."""
        self.begin()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            self.abandon()
            return False

    def abandon(self) -> None:
        """Answer every request still in flight with a 503 (its handler is cancelled)."""
        self.abandoned = True
        for task in list(self._in_flight):
            task.cancel()

    def enter(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.add(task)
        self._idle.clear()

    def leave(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)
        if not self._in_flight and self.draining:
            self._idle.set()


async def _send_json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class DrainMiddleware:
    """Counts the requests in flight; while draining answers new ones 503 (``/health``: ``draining``)."""

    def __init__(self, app: Any, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in LIVE_DURING_DRAIN:
            await self.app(scope, receive, send)
            return
        closing = [(b"connection", b"close"), (b"retry-after", b"1")]
        if self.drain.draining:
            if scope["path"] == "/health":
                await _send_json(send, 503, {"status": "draining", "in_flight": self.drain.in_flight}, closing)
                return
            message = "the server is shutting down and takes no new requests; retry shortly (another instance)"
            await _send_json(send, 503, {"error": message, "status": 503}, closing)
            return
        task = asyncio.current_task()
        assert task is not None
        started = False

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.drain.enter(task)
        try:
            await self.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if not self.drain.abandoned or started:
                raise
            message = "the server shut down before this request could be answered (drain timeout); retry it"
            await _send_json(send, 503, {"error": message, "status": 503}, closing)
        finally:
            self.drain.leave(task)


class DrainingServer(uvicorn.Server):
    """uvicorn, with SIGTERM and SIGINT starting a drain (see the module's docstring) instead of an exit."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_timeout: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_timeout = drain_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)
        elif self._draining is None:
            self._loop.call_soon_threadsafe(self._start_draining)
        else:  # asked again: stop waiting
            self._loop.call_soon_threadsafe(self.drain.abandon)

    def _start_draining(self) -> None:
        self._draining = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        finished = await self.drain.finish(self.drain_timeout)
        if not finished:
            await asyncio.sleep(0.2)  # let the abandoned requests send their 503
        self.should_exit = True
