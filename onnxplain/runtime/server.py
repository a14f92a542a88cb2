"""The HTTP server: ``POST /explain``, ``GET /health``, ``GET /metadata``, ``GET /openapi.json``.

Built on Starlette (served by uvicorn): the small, well-kept ASGI toolkit that FastAPI itself stands on,
with no extra dependencies (no pydantic); the request checks here are few and written out plainly. Every
error is a JSON ``{"error": "<one sentence>", "status": <code>}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onnxplain import __version__
from onnxplain.errors import UserError
from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.microbatch import MicroBatcher, QueueFull
from onnxplain.runtime.openapi import openapi_document
from onnxplain.runtime.server_limits import ServerLimits


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


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


def parse_explain_request(
    payload: Any, explainer: Explainer, limits: ServerLimits
) -> tuple[list[str], str, np.ndarray]:
    """Check a ``POST /explain`` body; raise ``HTTPException`` (413 or 422) naming the problem."""
    if not isinstance(payload, dict):
        raise HTTPException(422, 'the body must be a JSON object such as {"texts": ["..."]}')
    unknown = set(payload) - {"text", "texts", "method", "target"}
    if unknown:
        raise HTTPException(422, f"unknown field(s) {', '.join(sorted(unknown))}; use text/texts, method, target")
    if ("text" in payload) == ("texts" in payload):
        raise HTTPException(422, 'give either "text" (one string) or "texts" (a list of strings)')
    texts = [payload["text"]] if "text" in payload else payload["texts"]
    if not isinstance(texts, list) or not texts:
        raise HTTPException(422, '"texts" must be a non-empty list of strings')
    if len(texts) > limits.max_texts:
        raise HTTPException(413, f"{len(texts)} texts in one request, more than the {limits.max_texts} allowed")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise HTTPException(422, f"text {index} is {type(text).__name__}, not a string")
        if not text.strip():
            raise HTTPException(422, f"text {index} is empty; send at least one word")
        if len(text) > limits.max_text_chars:
            raise HTTPException(
                413, f"text {index} has {len(text)} characters, more than the {limits.max_text_chars} allowed"
            )
    method = payload.get("method", explainer.default_method)
    if not isinstance(method, str) or method not in explainer.methods:
        raise HTTPException(422, f"unknown method {method!r}; this model offers {', '.join(explainer.methods)}")
    target = payload.get("target")
    if isinstance(target, bool) or not (target is None or isinstance(target, str | int) or isinstance(target, list)):
        raise HTTPException(422, '"target" must be a label name or index, or a list of them (one per text)')
    if isinstance(target, list) and any(
        isinstance(t, bool) or not (t is None or isinstance(t, str | int)) for t in target
    ):
        raise HTTPException(422, 'every entry of "target" must be a label name or index, or null (predicted)')
    try:
        targets = explainer.target_indices(target, len(texts))
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    return texts, method, targets


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
        "limits": asdict(limits),
    }


def create_app(explainer: Explainer, limits: ServerLimits | None = None) -> Starlette:
    limits = limits or ServerLimits()

    def explain_batch(texts: list[str], method: str, targets: np.ndarray) -> list[Any]:
        return explainer.explain_encodings(explainer.tokenize(texts), method, targets)

    batcher = MicroBatcher(explain_batch, limits.max_batch, limits.max_wait_ms / 1000, limits.max_queued_texts)
    document = openapi_document(explainer, limits)
    about = metadata(explainer, limits)

    async def explain(request: Request) -> Response:
        try:
            with batcher.arriving() as arrival:
                body = await _read_body(request, limits.max_body_bytes)
                try:
                    payload = json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    raise HTTPException(400, f"the request body is not valid JSON ({error})") from None
                texts, method, targets = parse_explain_request(payload, explainer, limits)
                results = await arrival.explain(texts, method, targets)
        except QueueFull as error:
            return _error(503, f"the server is busy: {error}; retry shortly", {"Retry-After": "1"})
        except UserError as error:
            return _error(422, str(error))
        return JSONResponse({"results": [r.to_json() for r in results]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "queued_texts": batcher.queued, "batches": batcher.batches})

    async def get_metadata(request: Request) -> Response:
        return JSONResponse(about)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _error(error.status_code, error.detail)

    async def server_error(request: Request, error: Exception) -> Response:
        return _error(500, f"internal error ({type(error).__name__}); the server logged it and keeps running")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start()
        yield
        await batcher.stop()

    return Starlette(
        routes=[
            Route("/explain", explain, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metadata", get_metadata, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
