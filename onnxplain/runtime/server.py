"""The HTTP server: ``POST /explain``, ``GET /health``, ``GET /metadata``, ``GET /openapi.json``.

``POST /explain`` takes what the artifact explains: texts (``text``/``texts``) for a classifier or language
model, question + context pairs (``question`` + ``context``, or ``pairs``) for a question answering model.

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
from onnxplain.runtime.artifact import PREDICTED_TARGET, TOKENIZER_FILE
from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.microbatch import MicroBatcher, QueueFull
from onnxplain.runtime.openapi import openapi_document
from onnxplain.runtime.question_answering import QUESTION_ANSWERING, encode_pairs, explain_answers
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


TEXT_FIELDS = {"text", "texts", "method", "target"}
QUESTION_FIELDS = {"question", "context", "pairs", "method"}


def _check_string(value: Any, name: str, limits: ServerLimits) -> str:
    if not isinstance(value, str):
        raise HTTPException(422, f"{name} is {type(value).__name__}, not a string")
    if not value.strip():
        raise HTTPException(422, f"{name} is empty; send at least one word")
    if len(value) > limits.max_text_chars:
        raise HTTPException(413, f"{name} has {len(value)} characters, more than the {limits.max_text_chars} allowed")
    return value


def _check_method(payload: dict[str, Any], explainer: Explainer) -> str:
    method = payload.get("method", explainer.default_method)
    if not isinstance(method, str) or method not in explainer.methods:
        raise HTTPException(422, f"unknown method {method!r}; this model offers {', '.join(explainer.methods)}")
    return method


def parse_question_request(
    payload: Any, explainer: Explainer, limits: ServerLimits
) -> tuple[list[tuple[str, str]], str, np.ndarray]:
    """Check a ``POST /explain`` body for a question answering artifact: ``{"question": q, "context": c}`` or
    ``{"pairs": [{"question": q, "context": c}, ...]}``, optional ``method``; the predicted answer is explained."""
    if not isinstance(payload, dict):
        raise HTTPException(422, 'the body must be a JSON object such as {"question": "...", "context": "..."}')
    if set(payload) & {"text", "texts", "target"}:
        raise HTTPException(
            422,
            'this model answers questions: send {"question": "...", "context": "..."} or {"pairs": [...]} '
            'instead of "text"/"texts"; it explains its predicted answer, so "target" does not apply',
        )
    unknown = set(payload) - QUESTION_FIELDS
    if unknown:
        raise HTTPException(422, f"unknown field(s) {', '.join(sorted(unknown))}; use question + context, or pairs")
    single = "question" in payload or "context" in payload
    if single == ("pairs" in payload):
        raise HTTPException(422, 'give either "question" and "context" (strings) or "pairs" (a list of them)')
    if single:
        if "question" not in payload or "context" not in payload:
            raise HTTPException(422, 'give both "question" and "context"')
        pairs = [{"question": payload["question"], "context": payload["context"]}]
    else:
        pairs = payload["pairs"]
        if not isinstance(pairs, list) or not pairs:
            raise HTTPException(
                422, '"pairs" must be a non-empty list of objects such as {"question": "...", "context": "..."}'
            )
    if len(pairs) > limits.max_texts:
        raise HTTPException(413, f"{len(pairs)} pairs in one request, more than the {limits.max_texts} allowed")
    items = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, dict) or set(pair) != {"question", "context"}:
            raise HTTPException(422, f'pair {index} must be an object with exactly "question" and "context"')
        question = _check_string(pair["question"], f"question {index}", limits)
        items.append((question, _check_string(pair["context"], f"context {index}", limits)))
    try:  # a question too long for the model fails here, not in a batch shared with other requests
        questions, contexts = [q for q, _ in items], [c for _, c in items]
        encode_pairs(explainer.directory / TOKENIZER_FILE, questions, contexts, explainer.max_length)
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    targets = np.full((len(items), 2), PREDICTED_TARGET, dtype=np.int64)
    return items, _check_method(payload, explainer), targets


def parse_explain_request(
    payload: Any, explainer: Explainer, limits: ServerLimits
) -> tuple[list[str], str, np.ndarray]:
    """Check a ``POST /explain`` body; raise ``HTTPException`` (413 or 422) naming the problem."""
    if not isinstance(payload, dict):
        raise HTTPException(422, 'the body must be a JSON object such as {"texts": ["..."]}')
    if set(payload) & {"question", "context", "pairs"}:
        raise HTTPException(
            422,
            f"this model is a {explainer.manifest.task} model and explains texts, not questions; "
            'send {"text": "..."} or {"texts": [...]}',
        )
    unknown = set(payload) - TEXT_FIELDS
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
        _check_string(text, f"text {index}", limits)
    method = _check_method(payload, explainer)
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


def create_app(explainer: Explainer, limits: ServerLimits | None = None, model_name: str | None = None) -> Starlette:
    """The server's ASGI app; ``model_name`` names the model in the Open Inference (``/v2``) routes."""
    from onnxplain.runtime.open_inference import open_inference_routes  # it builds on this module

    limits = limits or ServerLimits()
    answers_questions = explainer.manifest.task == QUESTION_ANSWERING
    parse = parse_question_request if answers_questions else parse_explain_request
    body_limit = limits.body_bytes(strings_per_item=2 if answers_questions else 1)

    def explain_batch(items: list[Any], method: str, targets: np.ndarray) -> list[Any]:
        if answers_questions:
            return explain_answers(explainer, [q for q, _ in items], [c for _, c in items], method)
        return explainer.explain_encodings(explainer.tokenize(items), method, targets)

    batcher = MicroBatcher(explain_batch, limits.max_batch, limits.max_wait_ms / 1000, limits.max_queued_texts)
    document = openapi_document(explainer, limits)
    about = metadata(explainer, limits)

    async def explain(request: Request) -> Response:
        try:
            with batcher.arriving() as arrival:
                body = await _read_body(request, body_limit)
                try:
                    payload = json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    raise HTTPException(400, f"the request body is not valid JSON ({error})") from None
                items, method, targets = parse(payload, explainer, limits)
                results = await arrival.explain(items, method, targets)
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
            *open_inference_routes(explainer, limits, batcher, model_name),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
