"""The OpenAPI 3.1 description of the server, filled in with this artifact's methods, labels and limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onnxplain import __version__
from onnxplain.runtime.question_answering import QUESTION_ANSWERING

if TYPE_CHECKING:
    from onnxplain.runtime.explainer import Explainer
    from onnxplain.runtime.server_limits import ServerLimits


def _span(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["text", "start", "end", "relevance"],
        "properties": {
            "text": {"type": "string"},
            "start": {"type": "integer", "description": "first character, into the request's text"},
            "end": {"type": "integer", "description": "one past the last character"},
            "relevance": {"type": "number"},
            **extra,
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _question_schemas(explainer: Explainer, limits: ServerLimits) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and result schemas of ``POST /explain`` for a question answering artifact."""
    text = {"type": "string", "minLength": 1, "maxLength": limits.max_text_chars}
    pair = {
        "type": "object",
        "additionalProperties": False,
        "required": ["question", "context"],
        "properties": {"question": text, "context": text},
    }
    request = {
        "type": "object",
        "additionalProperties": False,
        "description": "one question with its context, or several pairs; the predicted answer is explained",
        "properties": {
            "question": text,
            "context": text,
            "pairs": {"type": "array", "items": pair, "minItems": 1, "maxItems": limits.max_texts},
            "method": {"type": "string", "enum": list(explainer.methods), "default": explainer.default_method},
        },
        "oneOf": [{"required": ["question", "context"]}, {"required": ["pairs"]}],
    }
    segment = {
        "segment": {
            "oneOf": [{"type": "integer", "enum": [0, 1]}, {"type": "null"}],
            "description": "0: the offsets are into the question, 1: into the context, null: a special token",
        },
        "special": {"type": "boolean"},
    }
    words = {"type": "array", "items": _span({"tokens": {"type": "array", "items": {"type": "integer"}}})}
    result = {
        "type": "object",
        "required": ["question", "context", "method", "answer", "answer_start", "answer_end", "tokens"],
        "properties": {
            "question": {"type": "string"},
            "context": {"type": "string"},
            "method": {"type": "string"},
            "answer": {"type": "string", "description": "the predicted answer ('' when it lies outside the context)"},
            "answer_start": {"type": "integer", "description": "first character of the answer in the context"},
            "answer_end": {"type": "integer", "description": "one past its last character"},
            "start_token": {"type": "integer"},
            "end_token": {"type": "integer"},
            "tokens": {"type": "array", "items": _span(segment)},
            "question_words": words,
            "context_words": words,
            "truncated": {"type": "boolean", "description": "the context was cut to the model's token limit"},
        },
    }
    return request, result


def openapi_document(explainer: Explainer, limits: ServerLimits) -> dict[str, Any]:
    if explainer.manifest.task == QUESTION_ANSWERING:
        request, result = _question_schemas(explainer, limits)
        return _document(request, result, "Explain extractive question answering.", "Explain the answers to questions")
    request, result = _text_schemas(explainer, limits)
    return _document(request, result, "Explain text classifications.", "Explain one or more texts")


def _text_schemas(explainer: Explainer, limits: ServerLimits) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and result schemas of ``POST /explain`` for a classifier or language model."""
    labels = list(explainer.labels.values())
    label = {"oneOf": [{"type": "string", "enum": labels}, {"type": "integer", "minimum": 0}]}
    text = {"type": "string", "minLength": 1, "maxLength": limits.max_text_chars}
    request = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "text": text,
            "texts": {"type": "array", "items": text, "minItems": 1, "maxItems": limits.max_texts},
            "method": {
                "type": "string",
                "enum": list(explainer.methods),
                "default": explainer.default_method,
            },
            "target": {
                "description": ("label to explain (default: the predicted one); one for all texts, or one per text"),
                "oneOf": [label, {"type": "array", "items": {"oneOf": [label, {"type": "null"}]}}],
            },
        },
        "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
    }
    result = {
        "type": "object",
        "required": ["text", "method", "label", "target", "probabilities", "tokens", "words", "truncated"],
        "properties": {
            "text": {"type": "string"},
            "method": {"type": "string"},
            "label": {"type": "string", "description": "the predicted label"},
            "target": {"type": "string", "description": "the explained label"},
            "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
            "tokens": {"type": "array", "items": _span({"special": {"type": "boolean"}})},
            "words": {
                "type": "array",
                "items": _span({"tokens": {"type": "array", "items": {"type": "integer"}}}),
            },
            "truncated": {"type": "boolean"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
        },
    }
    return request, result


def _document(request: dict[str, Any], result: dict[str, Any], description: str, summary: str) -> dict[str, Any]:
    json_object = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "onnxplain",
            "version": __version__,
            "description": description,
        },
        "paths": {
            "/explain": {
                "post": {
                    "summary": summary,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExplainRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "one result per text (or pair), in request order",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "results": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Explanation"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("the body is not valid JSON"),
                        "413": _error("too many texts or pairs, a text too long, or a body too large"),
                        "422": _error(
                            "a missing or empty text, an unknown method or label, a wrong field (such as a "
                            "question sent to a classifier, or a text sent to a question answering model)"
                        ),
                        "503": _error("the queue is full; retry after the Retry-After seconds"),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": {"description": "ok", "content": json_object}},
                }
            },
            "/metadata": {
                "get": {
                    "summary": "Labels, methods, kept heads, limits",
                    "responses": {"200": {"description": "the model's metadata", "content": json_object}},
                }
            },
        },
        "components": {
            "schemas": {
                "ExplainRequest": request,
                "Explanation": result,
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                },
            }
        },
    }
