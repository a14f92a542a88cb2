"""The HTTP server: ``POST /explain``, ``GET /health``, ``GET /metadata``, ``GET /openapi.json``.

``POST /explain`` takes what the artifact's task explains (``onnxplain.runtime.tasks``): texts (``text``, or
``texts``, each a string or ``{"text": ..., "target": ...}``) for a classifier or language model, question +
context pairs (``question`` + ``context``, or ``pairs``) for a question answering model.

The request's one description is the task's JSON Schema. ``/openapi.json`` publishes it, and every body is
validated against that same document (``request_checks``) before anything else reads it. Chosen over pydantic
models with FastAPI because (1) the validator's semantics are JSON Schema's own, so what the document admits is
exactly what is accepted (``45.0`` is an integer in JSON Schema; pydantic's lax and strict modes each differ
from it somewhere), (2) the schema depends on the artifact (its methods, its labels, up to a whole vocabulary
for a language model, and the server's limits), which is data to fill in rather than classes to generate, (3) a
client in another language can validate against the same document, and (4) it adds one small library
(``jsonschema``) to Starlette, which stays the server's toolkit. Served by uvicorn. Every error is a JSON
``{"error": "<one sentence>", "status": <code>}``; a 405 carries ``Allow`` (RFC 9110).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onnxplain import __version__
from onnxplain.errors import RequestError, UserError
from onnxplain.runtime.disconnects import CancelOnDisconnect
from onnxplain.runtime.draining import Drain, DrainMiddleware
from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.microbatch import MicroBatcher, QueueFull
from onnxplain.runtime.openapi import openapi_document, request_schema
from onnxplain.runtime.process_memory import process_peak_bytes, resident_bytes
from onnxplain.runtime.request_checks import RequestChecker
from onnxplain.runtime.server_limits import ServerLimits


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def refusal(error: QueueFull | UserError) -> JSONResponse:
    """The answer to a request the server cannot serve: 503 while the queue is full, a request error's own
    status (413...), 422 for any other user error."""
    if isinstance(error, QueueFull):
        return _error(503, f"the server is busy: {error}; retry shortly", {"Retry-After": "1"})
    if isinstance(error, RequestError):
        return _error(error.status, str(error))
    return _error(422, str(error))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request body has {declared} bytes, more than the {limit} accepted")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"the request body is larger than the {limit} bytes accepted")
    return bytes(body)


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_json(body: bytes) -> Any:
    """The body as JSON (strict: no NaN or Infinity, no unpaired surrogate escape); 400 when it is not."""
    try:
        payload = json.loads(body, parse_constant=_not_a_number)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the request body is not valid JSON ({error})") from None
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply to be a request") from None
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise RequestError(
                    400, "the request body holds an unpaired surrogate escape (\\ud800-\\udfff); send Unicode text"
                ) from None
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return payload


@functools.lru_cache(maxsize=8)
def request_checker(explainer: Explainer, limits: ServerLimits) -> RequestChecker:
    """The validator of this artifact's request schema under these limits (built once: a language model's
    schema lists its whole vocabulary)."""
    task = explainer.task
    return RequestChecker(request_schema(explainer, limits), task.request_shape(), task.item_noun, explainer.labels)


def parse_explain_request(
    payload: Any, explainer: Explainer, limits: ServerLimits
) -> tuple[list[Any], str, np.ndarray]:
    """Check a ``POST /explain`` body against the request schema; return its inputs, encoded, the method and
    the graph's targets. ``RequestError`` (413 or 422) names the problem."""
    request_checker(explainer, limits).check(payload)
    items, target = explainer.task.request_items(payload)
    try:
        encodings = explainer.encode(items)
        targets = explainer.task.targets(target, encodings)
    except UserError as error:  # the schema admits only inputs that encode; this is a second line of defence
        raise RequestError(422, str(error)) from None
    return encodings, payload.get("method", explainer.default_method), targets


def body_limit(explainer: Explainer, limits: ServerLimits) -> int:
    """The largest body a request that the schema admits can take (see ``ServerLimits.body_bytes``)."""
    longest_label = max((len(name) for name in explainer.labels.values()), default=0)
    return limits.body_bytes(explainer.task.strings_per_item, extra_chars_per_item=longest_label)


def metadata(explainer: Explainer, limits: ServerLimits) -> dict[str, Any]:
    manifest = explainer.manifest
    mask = np.asarray(manifest.default_head_mask, dtype=np.float32)
    return {
        "onnxplain": __version__,
        "architecture": manifest.architecture,
        "task": manifest.task,
        "labels": {str(i): name for i, name in sorted(manifest.labels.items())},
        "methods": list(explainer.methods),
        "default_method": explainer.default_method,
        "head_mask": {
            "layers": manifest.num_layers,
            "heads": manifest.num_heads,
            "kept": [[int(layer), int(head)] for layer, head in np.argwhere(mask > 0.5)],
            "kept_count": int((mask > 0.5).sum()),
            "source": manifest.head_mask.get("source"),
        },
        "max_length": explainer.max_length,
        "device": explainer.device.name,
        "device_note": explainer.device.note,
        "precision": manifest.precision,
        "not_recommended": dict(explainer.not_recommended),
        "limits": asdict(limits),
    }


def create_app(explainer: Explainer, limits: ServerLimits | None = None, model_name: str | None = None) -> Starlette:
    """The server's ASGI app; ``model_name`` names the model in the Open Inference (``/v2``) routes."""
    from onnxplain.runtime.open_inference import open_inference_routes  # it builds on this module

    limits = limits or ServerLimits()
    largest_body = body_limit(explainer, limits)
    what = f"the request queue ({limits.max_queued_texts} texts of up to {limits.max_text_chars} characters)"
    explainer.memory.reserve(limits.queue_bytes(explainer.max_length), what)
    batcher = MicroBatcher(
        explainer.explain_encodings,
        limits.max_batch,
        limits.max_wait_ms / 1000,
        limits.max_queued_texts,
        cost=explainer.memory,
        noun=explainer.task.item_noun,
    )
    drain = Drain()
    document = openapi_document(explainer, limits)
    about = metadata(explainer, limits)
    request_checker(explainer, limits)  # build the validator now, not at the first request

    async def explain(request: Request) -> Response:
        try:
            with batcher.arriving() as arrival:
                payload = read_json(await _read_body(request, largest_body))
                encodings, method, targets = parse_explain_request(payload, explainer, limits)
                results = await arrival.explain(encodings, method, targets)
        except (QueueFull, UserError) as error:
            return refusal(error)
        return JSONResponse({"results": [r.to_json() for r in results]})

    async def health(request: Request) -> Response:
        memory = {"resident_bytes": resident_bytes(), "peak_resident_bytes": process_peak_bytes()}
        return JSONResponse({"status": "ok", "queued_texts": batcher.queued, "batches": batcher.batches, **memory})

    async def get_metadata(request: Request) -> Response:
        return JSONResponse({**about, "memory": explainer.memory.to_json()})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        message = error.detail
        if error.status_code == 405 and error.headers and "Allow" in error.headers:
            message = f"{request.method} is not allowed on {request.url.path}; use {error.headers['Allow']}"
        return _error(error.status_code, message, dict(error.headers) if error.headers else None)

    async def server_error(request: Request, error: Exception) -> Response:
        return _error(500, f"internal error ({type(error).__name__}); the server logged it and keeps running")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start()
        await batcher.measure(explainer.default_method)  # so that its requests are checked as they arrive
        yield
        await batcher.stop()

    app = Starlette(
        routes=[
            Route("/explain", explain, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metadata", get_metadata, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            *open_inference_routes(explainer, limits, batcher, model_name),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
        middleware=[Middleware(DrainMiddleware, drain=drain), Middleware(CancelOnDisconnect)],
    )
    app.state.drain = drain  # for DrainingServer: SIGTERM drains it (see draining)
    return app
