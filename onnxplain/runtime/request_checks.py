"""Checking a ``POST /explain`` body against the JSON Schema that ``/openapi.json`` publishes, and saying what is
wrong in one sentence.

The server has one description of a request: the task's JSON Schema (``Task.request_schema``, JSON Schema
2020-12, the dialect of OpenAPI 3.1). The same document is served in ``/openapi.json`` and validates every body
(with the ``jsonschema`` library), so what is published and what is enforced cannot drift apart: a body the
schema admits is explained, a body it refuses is answered 413 (a string or a list over a limit) or 422. This
module turns the validator's first error into a sentence naming the field, the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from onnxplain.errors import RequestError

TOO_LARGE = {"maxLength", "maxItems"}  # a limit of the server's, answered 413 Content Too Large
SHOWN_CHOICES = 8
LARGE_ENUM = 64  # an enum longer than this (a vocabulary) is checked for strings by a set, not a scan


def where(path: Sequence[Any]) -> str:
    """A field's place in the body: ``texts[1].target``; the body itself when the path is empty."""
    if not path:
        return "the body"
    place = ""
    for part in path:
        place += f"[{part}]" if isinstance(part, int) else f".{part}" if place else str(part)
    return place


def kind(value: Any) -> str:
    """A JSON value's type in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def choices(values: Sequence[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:SHOWN_CHOICES])
    return shown + (f", … ({len(values)} in all; see GET /metadata)" if len(values) > SHOWN_CHOICES else "")


def _has_type(branch: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` has the JSON type of a branch of anyOf/oneOf (any, when the branch names none)."""
    types = branch.get("type")
    names = [] if types is None else [types] if isinstance(types, str) else types
    return not names or any(Draft202012Validator.TYPE_CHECKER.is_type(value, name) for name in names)


def fitting_branches(branches: Sequence[dict[str, Any]], value: Any) -> list[int]:
    """The branches ``value`` was meant for: those of its type and, among several objects, those whose required
    properties it has (``{"text": ...}`` is the one-text form even when the text is too long)."""
    fitting = [i for i, branch in enumerate(branches) if _has_type(branch, value)]
    if len(fitting) > 1 and isinstance(value, dict):
        fitting = [i for i in fitting if set(branches[i].get("required", ())) <= set(value)]
    return fitting


def validator_class() -> type[Draft202012Validator]:
    """Draft 2020-12 with the same ``enum`` semantics, but a string is looked up in a large enum by a set (a
    language model's labels are its vocabulary: a scan of 50,000 names took 28 ms a request)."""
    scan = Draft202012Validator.VALIDATORS["enum"]
    members: dict[int, tuple[list[Any], frozenset[str]]] = {}

    def enum(validator: Any, enums: list[Any], instance: Any, schema: dict[str, Any]) -> Any:
        if not isinstance(instance, str) or len(enums) <= LARGE_ENUM:
            yield from scan(validator, enums, instance, schema)
            return
        if id(enums) not in members:  # the list is kept with its set, so its id is never reused meanwhile
            members[id(enums)] = (enums, frozenset(e for e in enums if isinstance(e, str)))
        if instance not in members[id(enums)][1]:
            yield ValidationError(f"{instance!r} is not one of the {len(enums)} values allowed")

    return validators.extend(Draft202012Validator, {"enum": enum})


class RequestChecker:
    """Validates request bodies against one JSON Schema; ``shape`` shows a valid body in messages."""

    def __init__(self, schema: dict[str, Any], shape: str, noun: str, labels: dict[int, str]) -> None:
        Draft202012Validator.check_schema(schema)
        self.validator = validator_class()(schema)
        self.shape = shape
        self.noun = noun
        self.labels = labels

    def check(self, payload: Any) -> None:
        """Return if ``payload`` is valid; else raise ``RequestError`` (413 or 422) about its first problem."""
        errors = sorted(self.validator.iter_errors(payload), key=lambda e: len(e.absolute_path))
        if errors:
            raise self.describe(errors[0])

    def describe(self, error: ValidationError) -> RequestError:
        path, value, keyword = list(error.absolute_path), error.instance, error.validator
        field = next((p for p in reversed(path) if isinstance(p, str)), None)
        place = where(path)
        if field == "target" and (path[-1] == "target"):
            return RequestError(422, self.label_problem(place, value))
        if keyword in ("anyOf", "oneOf"):
            branches = error.schema[keyword]
            fitting = fitting_branches(branches, value)
            inner = [e for e in error.context or () if e.relative_schema_path[0] in fitting]
            if len(fitting) == 1 and inner:
                return self.describe(sorted(inner, key=lambda e: len(e.absolute_path))[0])
            if not path:
                return RequestError(422, self.shape_problem(value, branches, len(fitting)))
            accepted = " or ".join(_branch_kind(b) for b in branches)
            return RequestError(422, f"{place} is {kind(value)}; send {accepted}")
        if keyword == "type":
            expected = error.validator_value
            expected = " or ".join(expected) if isinstance(expected, list) else expected
            if not path:
                return RequestError(422, f"the body must be a JSON object such as {self.shape}")
            return RequestError(422, f"{place} is {kind(value)}, not {_article(expected)}")
        if keyword == "additionalProperties":
            unknown = sorted(set(value) - set(error.schema.get("properties", {})))
            allowed = ", ".join(error.schema.get("properties", {}))
            return RequestError(422, f"unknown field(s) {', '.join(unknown)} in {place}; use {allowed}")
        if keyword == "required":
            missing = [name for name in error.validator_value if name not in value]
            return RequestError(422, f'{place} lacks "{missing[0]}"; send {self.shape}')
        if keyword == "pattern":
            return RequestError(422, f"{place} is empty; send at least one word")
        if keyword == "maxLength":
            return RequestError(
                413, f"{place} has {len(value)} characters, more than the {error.validator_value} allowed"
            )
        if keyword == "maxItems":
            return RequestError(
                413, f"{place} holds {len(value)} items in one request, more than the {error.validator_value} allowed"
            )
        if keyword == "minItems":
            return RequestError(422, f"{place} is an empty list; send at least one item")
        if keyword == "enum" and field == "method":
            return RequestError(422, f"unknown method {value!r}; this model offers {choices(error.validator_value)}")
        if keyword == "enum":
            return RequestError(422, f"{place} is {value!r}; use one of {choices(error.validator_value)}")
        return RequestError(422, f"{place}: {error.message}; see GET /openapi.json for the request's schema")

    def shape_problem(self, value: Any, branches: Sequence[dict[str, Any]], fitting: int) -> str:
        """What is wrong with a body that fits none, or more than one, of the request's forms."""
        if not isinstance(value, dict):
            return f"the body must be a JSON object such as {self.shape}"
        if fitting > 1:
            return f"the body mixes two forms of request; send {self.shape}"
        required = [list(branch.get("required", ())) for branch in branches]
        closest = max(required, key=lambda names: sum(name in value for name in names))
        missing = [name for name in closest if name not in value]
        if len(missing) == len(closest):
            return f"the body does not say what to explain; this model explains {self.noun}s: send {self.shape}"
        return f'the body lacks "{missing[0]}"; send {self.shape}'

    def label_problem(self, place: str, value: Any) -> str:
        known = [f"{i} ({n})" for i, n in sorted(self.labels.items())]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
            return f"unknown label {value!r}; this model's labels are {choices(known)}; send one of them"
        return f"{place} is {kind(value)}; send a label name or index, or null for the predicted label"


def _article(name: str) -> str:
    return {"array": "a list", "object": "an object", "integer": "an integer"}.get(name, f"a {name}")


def _branch_kind(branch: dict[str, Any]) -> str:
    types = branch.get("type", "value")
    return " or ".join(_article(t) for t in ([types] if isinstance(types, str) else types))
