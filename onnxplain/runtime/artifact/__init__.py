"""The explainer artifact: the one place where its format is defined (format 3; versions 1 and 2 still load).

An artifact is a directory::

    model.onnx        the explain graph (weights inside, or beside it in model.onnx.data, ONNX external data)
    tokenizer.json    a Hugging Face ``tokenizers`` file: no padding, truncation at manifest["max_length"]
    manifest.json     described by the JSON Schema manifest.schema.json beside this module; the same JSON,
                      less its "files", is stored in model.onnx's metadata under "onnxplain"

Graph inputs, in the order of ``manifest["inputs"]``:

    input_ids       int64   [batch, sequence]   token ids, padded on the right with manifest["pad_token_id"]
    attention_mask  int64   [batch, sequence]   1 = real token, 0 = padding
    token_type_ids  int64   [batch, sequence]   only where listed (BERT, ELECTRA); the segment of each token
    target          int64   [batch] or [batch, 2] (question answering): what to explain; -1 = the predicted one
    head_mask       float32 [layers, heads]     required: feed manifest["head_mask"]["default"] unless
                                                overriding it (1 = the head passes relevance on)

Graph outputs: ``logits`` and, for every method, one float32 [batch, sequence] relevance named by
``manifest["methods"][name]["output"]``. Padding gets exactly zero relevance, and every output of an example
depends on that example alone, never on the rest of its batch. Per task (``manifest["task"]``):

    sequence-classification  target [batch] label index    logits [batch, labels]        first-token or
                                                                                          last-real-token
    causal-lm                target [batch] next-token id   logits [batch, vocabulary]    last-real-token
    question-answering       target [batch, 2] answer start logits [batch, sequence, 2]   answer-start-and-end
                             and end token                  (start, end logit per token)

The last column is ``manifest["explained_position"]``: the token whose final state the logits read, whose
attention row the row-reading methods read. Character offsets of tokens are Unicode code points.

Reduced-precision artifacts (``onnxplain export --precision`` or ``onnxplain quantize``) keep these inputs and
outputs (float32 in and out) and add two manifest keys: ``precision`` (``int8`` or ``fp16``; absent means
``fp32``) and ``fidelity``, measured against the fp32 artifact on held-out texts: the ``data``, the
``thresholds``, and per method the Spearman correlation of token relevance (median, 5th percentile), top-5
overlap, prediction agreement, AOPC and fp32's, ``relevance_path`` (``fp32`` where that method's relevance nodes
were kept in fp32, in a copy of its own: other methods' stay reduced) and ``recommended`` (false: use the fp32
artifact for that method).

The writer of this format lives in ``onnxplain.export``; everything else only reads it, through here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from onnxplain.runtime.artifact.errors import ArtifactError
from onnxplain.runtime.artifact.files import FileRecord, record_files, verify_files
from onnxplain.runtime.artifact.layout import (
    ANSWER_START_AND_END,
    ATTENTION_MASK,
    EXPLAINED_POSITIONS,
    EXTERNAL_DATA_FILE,
    FIRST_TOKEN,
    FORMAT_VERSION,
    HEAD_MASK,
    INPUT_IDS,
    LAST_REAL_TOKEN,
    LOGITS,
    MANIFEST_FILE,
    METADATA_KEY,
    MODEL_FILE,
    PREDICTED_TARGET,
    READABLE_FORMAT_VERSIONS,
    TARGET,
    TOKEN_TYPE_IDS,
    TOKENIZER_FILE,
    relevance_output_name,
)
from onnxplain.runtime.artifact.manifest import Manifest, read_manifest, write_manifest
from onnxplain.runtime.artifact.methods import RULE_SETS, MethodRecord

SCHEMA_FILE = "manifest.schema.json"


@cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``manifest.json``, format 3."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


__all__ = [
    "ANSWER_START_AND_END",
    "ATTENTION_MASK",
    "EXPLAINED_POSITIONS",
    "EXTERNAL_DATA_FILE",
    "FIRST_TOKEN",
    "FORMAT_VERSION",
    "HEAD_MASK",
    "INPUT_IDS",
    "LAST_REAL_TOKEN",
    "LOGITS",
    "MANIFEST_FILE",
    "METADATA_KEY",
    "MODEL_FILE",
    "PREDICTED_TARGET",
    "READABLE_FORMAT_VERSIONS",
    "RULE_SETS",
    "SCHEMA_FILE",
    "TARGET",
    "TOKENIZER_FILE",
    "TOKEN_TYPE_IDS",
    "ArtifactError",
    "FileRecord",
    "Manifest",
    "MethodRecord",
    "manifest_schema",
    "read_manifest",
    "record_files",
    "relevance_output_name",
    "verify_files",
    "write_manifest",
]
