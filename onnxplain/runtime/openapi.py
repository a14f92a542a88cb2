"""The OpenAPI 3.1 description of the server, built around the artifact's task: its request schema (the very
one ``request_checks`` validates bodies with), its result schema, and this artifact's methods, labels and
limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onnxplain import __version__

if TYPE_CHECKING:
    from onnxplain.runtime.explainer import Explainer
    from onnxplain.runtime.server_limits import ServerLimits

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def request_schema(explainer: Explainer, limits: ServerLimits) -> dict[str, Any]:
    """The JSON Schema of a ``POST /explain`` body for this artifact and these limits."""
    return explainer.task.request_schema(explainer.methods, explainer.default_method, limits)


def _metadata_schema() -> dict[str, Any]:
    integer, string = {"type": "integer"}, {"type": "string"}
    head_mask = {
        "type": "object",
        "required": ["layers", "heads", "kept", "kept_count", "source"],
        "properties": {
            "layers": integer,
            "heads": integer,
            "kept": {"type": "array", "items": {"type": "array", "items": integer}},
            "kept_count": integer,
            "source": {"type": ["string", "null"]},
        },
    }
    properties = {
        "onnxplain": string,
        "architecture": string,
        "task": string,
        "labels": {"type": "object", "additionalProperties": string},
        "methods": {"type": "array", "items": string},
        "default_method": string,
        "head_mask": head_mask,
        "max_length": integer,
        "device": string,
        "device_note": {"type": ["string", "null"]},
        "precision": {"enum": ["fp32", "fp16", "int8"]},
        "not_recommended": {
            "type": "object",
            "additionalProperties": string,
            "description": "methods this reduced-precision artifact does not recommend, each with why",
        },
        "limits": {"type": "object", "description": "the server's limits (see ServerLimits)"},
    }
    return {"type": "object", "required": list(properties), "properties": properties}


def openapi_document(explainer: Explainer, limits: ServerLimits) -> dict[str, Any]:
    task = explainer.task
    results = {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Explanation"}}},
    }
    health = {
        "type": "object",
        "required": ["status", "queued_texts", "batches"],
        "properties": {"status": {"const": "ok"}, "queued_texts": {"type": "integer"}, "batches": {"type": "integer"}},
    }
    explain = {
        "summary": f"Explain {task.item_noun}s: the relevance of every token to the {task.name} model's output",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExplainRequest"}}},
        },
        "responses": {
            "200": _json(results, f"one result per {task.item_noun}, in request order"),
            "400": _error("the body is not JSON"),
            "413": _error(f"too many {task.item_noun}s, a text too long, or a body too large"),
            "422": _error("the body does not fit the request schema; the error names the field and the fix"),
            "503": _error("the queue is full; retry after the Retry-After seconds"),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "onnxplain",
            "version": __version__,
            "description": f"Explain a {task.name} model ({explainer.manifest.architecture}) with "
            f"{', '.join(explainer.methods)}. Explained position: {task.explained_position}.",
        },
        "paths": {
            "/explain": {"post": explain},
            "/health": {"get": {"summary": "Liveness", "responses": {"200": _json(health, "ok")}}},
            "/metadata": {
                "get": {
                    "summary": "Labels, methods, kept heads, limits",
                    "responses": {"200": _json(_metadata_schema(), "the model's metadata")},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
                }
            },
        },
        "components": {
            "schemas": {
                "ExplainRequest": request_schema(explainer, limits),
                "Explanation": task.result_schema(),
                "Error": {
                    "type": "object",
                    "required": ["error", "status"],
                    "properties": {
                        "error": {"type": "string", "description": "one sentence: the problem and the fix"},
                        "status": {"type": "integer"},
                    },
                },
            }
        },
    }
