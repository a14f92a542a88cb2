"""Tensors in the Open Inference Protocol's REST form (KServe V2), with Triton's binary tensor data extension.

A request or response body is a JSON document, optionally followed by raw tensor bytes: the header
``Inference-Header-Content-Length`` then gives the JSON part's length, and each tensor whose data is binary
says how many bytes it takes with the parameter ``binary_data_size``, in the order the tensors are listed.
Binary data is little-endian, row-major; a BYTES element is a 4-byte little-endian length and its bytes.
Without binary data, a tensor's ``data`` is a (possibly nested) JSON list in row-major order.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMPY_TYPES = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}


class TensorError(ValueError):
    """A tensor that does not follow the protocol; the message says what is wrong."""


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON document of a body and the binary data after it; ``TensorError`` when either is malformed."""
    if header_length is None:
        json_part, binary = body, b""
    elif not header_length.isdigit() or int(header_length) > len(body):
        raise TensorError(f"the {HEADER_LENGTH} header ({header_length!r}) is not a length within the body")
    else:
        json_part, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        return json.loads(json_part), binary
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TensorError(f"the request body is not valid JSON ({error})") from None


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def decode_strings(tensor: dict[str, Any], binary: bytes, offset: int) -> tuple[list[str], int]:
    """The UTF-8 strings of a BYTES input tensor (JSON data or binary at ``offset``) and the next offset."""
    name = tensor.get("name")
    shape = tensor.get("shape")
    if tensor.get("datatype") != "BYTES":
        raise TensorError(f"input {name!r} has datatype {tensor.get('datatype')!r}; send it as BYTES")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise TensorError(f"input {name!r} needs a shape, a list of integers such as [2]")
    count = int(np.prod(shape)) if shape else 1
    parameters = tensor.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        if "data" not in tensor:
            raise TensorError(f"input {name!r} has neither data nor a binary_data_size parameter")
        values = _flatten(tensor["data"])
        if not all(isinstance(v, str) for v in values):
            raise TensorError(f"every element of input {name!r} must be a string")
        strings = list(values)
    else:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise TensorError(f"input {name!r} declares {size!r} binary bytes, more than the body holds")
        strings, chunk, position = [], binary[offset : offset + size], 0
        while position < len(chunk):
            if position + 4 > len(chunk):
                raise TensorError(f"input {name!r} ends inside a BYTES element's 4-byte length")
            (length,) = struct.unpack_from("<I", chunk, position)
            element = chunk[position + 4 : position + 4 + length]
            if len(element) != length:
                raise TensorError(f"input {name!r} has a BYTES element longer than its binary data")
            try:
                strings.append(element.decode("utf-8"))
            except UnicodeDecodeError:
                raise TensorError(f"element {len(strings)} of input {name!r} is not UTF-8 text") from None
            position += 4 + length
        offset += size
    if len(strings) != count:
        raise TensorError(f"input {name!r} has shape {shape} but {len(strings)} elements; make them agree")
    return strings, offset


@dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str  # FP32, INT32, INT64, BOOL or BYTES
    shape: tuple[int, ...]
    values: np.ndarray | Sequence[str]  # numbers as an array of that shape; BYTES as strings, row-major


def _bytes_payload(strings: Sequence[str]) -> bytes:
    parts = []
    for value in strings:
        encoded = value.encode("utf-8")
        parts.append(struct.pack("<I", len(encoded)) + encoded)
    return b"".join(parts)


def encode_response(document: dict[str, Any], outputs: Sequence[tuple[OutputTensor, bool]]) -> tuple[bytes, int | None]:
    """The body of a response: ``document`` with each output added (as binary data when its flag is set),
    and the JSON part's length when binary data follows it (None when the body is JSON only)."""
    tensors, binary = [], []
    for tensor, as_binary in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if tensor.datatype == "BYTES":
            strings = list(tensor.values)  # type: ignore[arg-type]
            payload = _bytes_payload(strings) if as_binary else None
            data: list[Any] = strings
        else:
            array: np.ndarray = np.ascontiguousarray(tensor.values, dtype=NUMPY_TYPES[tensor.datatype])
            payload = array.astype(array.dtype.newbyteorder("<")).tobytes() if as_binary else None
            data = array.reshape(-1).tolist()
        if payload is None:
            entry["data"] = data
        else:
            entry["parameters"] = {"binary_data_size": len(payload)}
            binary.append(payload)
        tensors.append(entry)
    header = json.dumps({**document, "outputs": tensors}).encode("utf-8")
    if not binary:
        return header, None
    return header + b"".join(binary), len(header)
