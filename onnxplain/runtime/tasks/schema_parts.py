"""JSON Schema pieces that several tasks' request and result schemas share (JSON Schema 2020-12, the dialect of
OpenAPI 3.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnxplain.runtime.server_limits import ServerLimits

# a string with at least one character that is not white space: what "a text" means to every task
NOT_BLANK = r"\S"


def text_schema(limits: ServerLimits, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": NOT_BLANK, "maxLength": limits.max_text_chars}
    if description:
        schema["description"] = description
    return schema


def method_schema(methods: Sequence[str], default_method: str) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(methods),
        "default": default_method,
        "description": "explanation method (default: the artifact's default method)",
    }


def span_schema(extra: dict[str, Any]) -> dict[str, Any]:
    """A token or word: its text, its character span in the input and its relevance, plus ``extra``."""
    properties = {
        "text": {"type": "string"},
        "start": {"type": "integer", "description": "first character, into the request's text"},
        "end": {"type": "integer", "description": "one past the last character"},
        "relevance": {"type": "number"},
        **extra,
    }
    return {"type": "object", "required": list(properties), "properties": properties}


TOKEN_INDICES = {"tokens": {"type": "array", "items": {"type": "integer"}}}
WORDS = {"type": "array", "items": span_schema(TOKEN_INDICES)}
