"""Stop working for a client that has gone away: an ASGI middleware that cancels the request's handler.

ASGI servers do not cancel a handler when its client disconnects; they only report ``http.disconnect`` to
the next ``receive()``. Once a request's body has been read in full, this middleware listens for that
message; if it comes before the response is complete, the handler is cancelled, which cancels the future
its texts wait on, so the micro-batcher drops them unless their call has already started (then the call's
results for them are discarded). Nothing is left holding memory for a client that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class CancelOnDisconnect:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        disconnected = asyncio.Event()
        response_complete = False

        async def tracked_receive() -> Message:
            if body_read.is_set():  # the listener below owns receive() now
                await disconnected.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
            elif not message.get("more_body", False):
                body_read.set()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal response_complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                response_complete = True

        async def listen() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        handler = asyncio.ensure_future(self.app(scope, tracked_receive, tracked_send))
        listener = asyncio.ensure_future(listen())
        try:
            await asyncio.wait({handler, listener}, return_when=asyncio.FIRST_COMPLETED)
            if not handler.done() and not response_complete:
                handler.cancel()  # the client left before its answer: stop waiting for it
                with contextlib.suppress(asyncio.CancelledError):
                    await handler
                return
            await handler
        finally:  # also when this request is cancelled from outside (a server shutting down)
            for task in (listener, handler):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
