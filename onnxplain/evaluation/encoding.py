"""Turn labelled texts into the token sequences the evaluation perturbs, applying SPEC section 4's length
rule: texts shorter than ``min_tokens`` (special tokens counted) are skipped, longer than the artifact's
``max_length`` truncated, and both are counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from onnxplain.evaluation.data import LabelledText

MIN_TOKENS = 20


@dataclass(frozen=True)
class EncodedText:
    input_ids: np.ndarray  # int64 [tokens]
    special_tokens: np.ndarray  # bool [tokens]: never ranked or replaced
    label: int
    source_index: int  # row of the text in the data file (0-based, among the rows read)


@dataclass(frozen=True)
class EncodedTexts:
    texts: list[EncodedText]
    skipped_short: int
    truncated: int


def encode_texts(
    tokenizer_file: str | Path,
    examples: Sequence[LabelledText],
    *,
    max_length: int,
    min_tokens: int = MIN_TOKENS,
) -> EncodedTexts:
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    encodings = tokenizer.encode_batch([example.text for example in examples])
    texts: list[EncodedText] = []
    skipped_short = truncated = 0
    for index, (example, encoding) in enumerate(zip(examples, encodings, strict=True)):
        if len(encoding.ids) < min_tokens:
            skipped_short += 1
            continue
        truncated += bool(encoding.overflowing)
        texts.append(
            EncodedText(
                input_ids=np.asarray(encoding.ids, dtype=np.int64),
                special_tokens=np.asarray(encoding.special_tokens_mask, dtype=bool),
                label=example.label,
                source_index=index,
            )
        )
    return EncodedTexts(texts=texts, skipped_short=skipped_short, truncated=truncated)
