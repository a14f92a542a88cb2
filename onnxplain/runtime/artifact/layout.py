"""The names of the artifact contract: its format versions, its files and its graph's inputs and outputs."""

from __future__ import annotations

# Format 3 describes each method (rule set, head mask, one line) and the default one, puts the explained
# position at the top level and records every file's sha256; the graph is the same as in format 2.
FORMAT_VERSION = 3
# Versions this runtime reads: 1 gave head_mask an initializer default in the graph; 2 named each method's
# output only (its facts are derived from the name, see ``methods.FORMAT_2_METHODS``).
READABLE_FORMAT_VERSIONS = (1, 2, 3)

MODEL_FILE = "model.onnx"
EXTERNAL_DATA_FILE = "model.onnx.data"  # beside model.onnx for a graph of 2 GB or more
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
METADATA_KEY = "onnxplain"  # model.onnx's metadata entry holding the manifest (less its ``files``)

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
TARGET = "target"
HEAD_MASK = "head_mask"
LOGITS = "logits"
PREDICTED_TARGET = -1

# Which token's final state the logits read, per ``manifest["explained_position"]``.
FIRST_TOKEN = "first-token"  # encoder classifiers: [CLS] / <s>
LAST_REAL_TOKEN = "last-real-token"  # decoders, wherever the padding is
ANSWER_START_AND_END = "answer-start-and-end"  # extractive question answering: the two explained logits
EXPLAINED_POSITIONS = (FIRST_TOKEN, LAST_REAL_TOKEN, ANSWER_START_AND_END)


def relevance_output_name(method: str) -> str:
    """ONNX output name of a method's relevance, e.g. ``mask-lrp`` -> ``relevance_mask_lrp``."""
    return "relevance_" + method.replace("-", "_")
