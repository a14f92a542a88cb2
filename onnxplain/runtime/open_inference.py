"""The Open Inference Protocol (KServe V2, REST form) on the built-in server, beside ``POST /explain``.

    GET  /v2                              server metadata
    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}[/versions/1]   model metadata: inputs and outputs with datatypes and shapes
    GET  /v2/models/{name}/ready
    POST /v2/models/{name}[/versions/1]/infer

The one input is ``text``, BYTES ``[n]`` (UTF-8). Request parameters: ``method`` (default: the artifact's) and
``target`` (a label name or index for every text; default: each text's predicted label). The outputs are:

- ``logits`` and ``probabilities``, FP32 ``[n, labels]``
- ``relevance``, FP32 ``[n, tokens]``: the method's per-token relevance, special tokens included, for the
  longest text's token count; a shorter text's row is padded with 0.0 after its last token, and
  ``token_count`` (INT32 ``[n]``) says where each row ends
- ``tokens`` and ``words``, BYTES ``[n]``: each a JSON array, exactly the ``tokens`` and ``words`` of
  ``POST /explain`` (text, character span, relevance; a word's token indices)
- ``label`` (predicted) and ``target`` (explained), BYTES ``[n]``; ``truncated``, BOOL ``[n]``

The requests go through the same checks, limits and micro-batches as ``POST /explain``; errors are JSON
``{"error": "<one sentence>", "status": <code>}`` as the protocol asks (it reads ``error``). Triton's binary
tensor data extension is supported both ways (see ``open_inference_tensors``). Text artifacts only: a question
answering artifact answers ``infer`` with 400 and a pointer to ``POST /explain``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onnxplain import __version__
from onnxplain.errors import UserError
from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.microbatch import MicroBatcher, QueueFull
from onnxplain.runtime.open_inference_tensors import (
    HEADER_LENGTH,
    OutputTensor,
    TensorError,
    decode_strings,
    encode_response,
    split_body,
)
from onnxplain.runtime.results import Explanation
from onnxplain.runtime.server import _error, _read_body, body_limit, parse_explain_request, refusal
from onnxplain.runtime.server_limits import ServerLimits
from onnxplain.runtime.tasks import QUESTION_ANSWERING

MODEL_VERSION = "1"
TEXT_INPUT = "text"
REQUEST_FIELDS = {"id", "parameters", "inputs", "outputs"}
# protocol parameters a client may send that change nothing here (Triton's scheduling hints)
IGNORED_PARAMETERS = {"priority", "timeout"}


def output_specs(explainer: Explainer) -> list[tuple[str, str, list[int]]]:
    """(name, datatype, shape) of every output, -1 for a dimension that varies."""
    labels = len(explainer.labels)
    return [
        ("logits", "FP32", [-1, labels]),
        ("probabilities", "FP32", [-1, labels]),
        ("relevance", "FP32", [-1, -1]),
        ("token_count", "INT32", [-1]),
        ("tokens", "BYTES", [-1]),
        ("words", "BYTES", [-1]),
        ("label", "BYTES", [-1]),
        ("target", "BYTES", [-1]),
        ("truncated", "BOOL", [-1]),
    ]


def default_model_name(explainer: Explainer) -> str:
    """The artifact directory's name, or its parent's when that name is the generic ``artifact``."""
    directory = explainer.directory.resolve()
    return directory.parent.name if directory.name == "artifact" and directory.parent.name else directory.name


def model_metadata(explainer: Explainer, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": "onnxplain",
        "inputs": [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": n, "datatype": d, "shape": s} for n, d, s in output_specs(explainer)],
        "parameters": {
            "task": explainer.manifest.task,
            "methods": list(explainer.methods),
            "default_method": explainer.default_method,
            "labels": [explainer.labels[i] for i in sorted(explainer.labels)],
        },
    }


def parse_infer_request(
    document: Any, binary: bytes, output_names: Sequence[str]
) -> tuple[dict[str, Any], list[tuple[str, bool]], str | None]:
    """The ``POST /explain`` payload an infer request amounts to, the outputs it asks for (name, as binary)
    and its id; ``TensorError`` naming what does not follow the protocol."""
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise TensorError('the body must be a JSON object with an "inputs" list, as the protocol says')
    unknown = set(document) - REQUEST_FIELDS
    if unknown:
        raise TensorError(f"unknown field(s) {', '.join(sorted(unknown))}; use id, parameters, inputs, outputs")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise TensorError('"id" must be a string')
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise TensorError('"parameters" must be a JSON object')
    known = {"method", "target", "binary_data_output"} | IGNORED_PARAMETERS
    extra = set(parameters) - known
    if extra:
        raise TensorError(f"unknown parameter(s) {', '.join(sorted(extra))}; this model takes method and target")
    names = [t.get("name") if isinstance(t, dict) else None for t in document["inputs"]]
    if names != [TEXT_INPUT]:
        raise TensorError(f'give exactly one input, named "{TEXT_INPUT}" (BYTES [n]); got {names}')
    texts, _ = decode_strings(document["inputs"][0], binary, 0)
    payload: dict[str, Any] = {"texts": texts}
    for key in ("method", "target"):
        if key in parameters:
            payload[key] = parameters[key]
    as_binary = parameters.get("binary_data_output", False) is True
    requested = document.get("outputs")
    if requested is None:
        return payload, [(name, as_binary) for name in output_names], request_id
    if not isinstance(requested, list) or not all(isinstance(o, dict) and "name" in o for o in requested):
        raise TensorError('"outputs" must be a list of objects with a "name"')
    chosen = []
    for output in requested:
        if output["name"] not in output_names:
            raise TensorError(f"unknown output {output['name']!r}; this model has {', '.join(output_names)}")
        options = output.get("parameters") or {}
        chosen.append(
            (output["name"], bool(options.get("binary_data", as_binary)) if isinstance(options, dict) else as_binary)
        )
    return payload, chosen, request_id


def output_tensors(explainer: Explainer, results: Sequence[Explanation]) -> dict[str, OutputTensor]:
    count = len(results)
    lengths = [len(r.tokens) for r in results]
    relevance = np.zeros((count, max(lengths)), dtype=np.float32)
    for row, result in enumerate(results):
        relevance[row, : lengths[row]] = result.relevance
    labels = [explainer.labels[i] for i in sorted(explainer.labels)]
    probabilities = np.asarray([[r.probabilities[name] for name in labels] for r in results], dtype=np.float32)
    tensors = [
        OutputTensor("logits", "FP32", (count, len(labels)), np.asarray([r.logits for r in results], np.float32)),
        OutputTensor("probabilities", "FP32", probabilities.shape, probabilities),
        OutputTensor("relevance", "FP32", relevance.shape, relevance),
        OutputTensor("token_count", "INT32", (count,), np.asarray(lengths, dtype=np.int32)),
        OutputTensor("tokens", "BYTES", (count,), [json.dumps([t.to_json() for t in r.tokens]) for r in results]),
        OutputTensor("words", "BYTES", (count,), [json.dumps([w.to_json() for w in r.words]) for r in results]),
        OutputTensor("label", "BYTES", (count,), [r.label for r in results]),
        OutputTensor("target", "BYTES", (count,), [r.target for r in results]),
        OutputTensor("truncated", "BOOL", (count,), np.asarray([r.truncated for r in results], dtype=bool)),
    ]
    return {t.name: t for t in tensors}


def open_inference_routes(
    explainer: Explainer, limits: ServerLimits, batcher: MicroBatcher, name: str | None = None
) -> list[Route]:
    """The V2 routes for ``create_app``; ``name`` is the model's name in the paths (see ``default_model_name``)."""
    name = name or default_model_name(explainer)
    about = model_metadata(explainer, name)
    output_names = [spec[0] for spec in output_specs(explainer)]
    largest_body = body_limit(explainer, limits) + 4 * limits.max_texts  # binary BYTES carry a 4-byte length each

    def check_model(request: Request) -> None:
        asked, version = request.path_params["model"], request.path_params.get("version", MODEL_VERSION)
        if asked != name or version != MODEL_VERSION:
            raise HTTPException(404, f"unknown model {asked!r} version {version!r}; this server has {name!r} version 1")

    async def server_metadata(request: Request) -> Response:
        return JSONResponse({"name": "onnxplain", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    async def get_model(request: Request) -> Response:
        check_model(request)
        return JSONResponse(about)

    async def model_ready(request: Request) -> Response:
        check_model(request)
        return JSONResponse({"name": name, "ready": True})

    async def infer(request: Request) -> Response:
        check_model(request)
        if explainer.manifest.task == QUESTION_ANSWERING:
            return _error(400, "this model answers questions; the V2 routes explain texts, so use POST /explain")
        encoding = request.headers.get("content-encoding", "identity")
        if encoding != "identity":
            return _error(415, f"the body is {encoding}-compressed; send it uncompressed")
        try:
            with batcher.arriving() as arrival:
                body = await _read_body(request, largest_body)
                document, binary = split_body(body, request.headers.get(HEADER_LENGTH))
                payload, requested, request_id = parse_infer_request(document, binary, output_names)
                texts, method, targets = parse_explain_request(payload, explainer, limits)
                results = await arrival.explain(texts, method, targets)
        except TensorError as error:
            return _error(400, str(error))
        except (QueueFull, UserError) as error:
            return refusal(error)
        tensors = output_tensors(explainer, results)  # type: ignore[arg-type]
        reply: dict[str, Any] = {"model_name": name, "model_version": MODEL_VERSION, "parameters": {"method": method}}
        if request_id is not None:
            reply["id"] = request_id
        content, header_length = encode_response(reply, [(tensors[n], b) for n, b in requested])
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})

    return [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{model}", get_model, methods=["GET"]),
        Route("/v2/models/{model}/versions/{version}", get_model, methods=["GET"]),
        Route("/v2/models/{model}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{model}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{model}/infer", infer, methods=["POST"]),
        Route("/v2/models/{model}/versions/{version}/infer", infer, methods=["POST"]),
    ]
