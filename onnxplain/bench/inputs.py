"""Benchmark batches: real English text cut to exactly the asked number of tokens, no padding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from onnxplain.runtime.artifact import TOKENIZER_FILE

PASSAGE = (
    "The film opens with a long, quiet shot of a harbour at dawn, and for a while nothing happens at all. "
    "Then the story finds its feet: a retired ferry captain, a daughter who has not called in years, and a "
    "boat that everyone agrees should have been scrapped. The acting is warm and unshowy, the jokes land more "
    "often than not, and the score never tells you what to feel. It drags in the middle, where a subplot about "
    "a land deal goes nowhere, but the last half hour is as moving as anything I have seen this year. "
)


@dataclass(frozen=True)
class Batch:
    """int64 ``input_ids`` and ``attention_mask`` of shape [batch, length]."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.input_ids.shape  # type: ignore[return-value]


def benchmark_batch(artifact_dir: Path, batch: int, length: int) -> Batch:
    """``batch`` different texts (the passage started at different words), each exactly ``length`` tokens
    long with the tokenizer's special tokens, so that every row is real text and none is padding."""
    tokenizer = Tokenizer.from_file(str(Path(artifact_dir) / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(length)
    words = PASSAGE.split()
    repeats = 1 + (2 * length) // len(words)
    texts = [" ".join((words[row:] + words[:row]) * repeats) for row in range(batch)]
    ids = np.asarray([encoding.ids for encoding in tokenizer.encode_batch(texts)], dtype=np.int64)
    if ids.shape != (batch, length):
        raise ValueError(f"could not build {batch} texts of {length} tokens (got {ids.shape})")
    return Batch(ids, np.ones_like(ids))
