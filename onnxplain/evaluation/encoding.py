"""Choose the token sequences the evaluation perturbs, applying SPEC section 4's length rule: texts shorter
than ``min_tokens`` (special tokens counted) are skipped, and both the skipped and the truncated (longer than
the tokenizer's ``max_length``) texts are counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxplain.evaluation.data import LabelledText
from onnxplain.runtime.tokenization import TextEncoding

MIN_TOKENS = 20


@dataclass(frozen=True)
class EncodedText:
    input_ids: np.ndarray  # int64 [tokens]
    special_tokens: np.ndarray  # bool [tokens]: never ranked or replaced
    label: int
    source_index: int  # row of the text in the data file (0-based, among the rows read)
    text: str = ""
    offsets: tuple[tuple[int, int], ...] = ()  # each token's character span in ``text`` (empty for special)


@dataclass(frozen=True)
class EncodedTexts:
    texts: list[EncodedText]
    skipped_short: int
    truncated: int


def select_texts(
    examples: Sequence[LabelledText],
    encodings: Sequence[TextEncoding],
    *,
    min_tokens: int = MIN_TOKENS,
    first_index: int = 0,
) -> EncodedTexts:
    """The texts of at least ``min_tokens`` tokens, from ``examples`` and their tokenizations; ``examples``
    start at row ``first_index`` of the data file."""
    texts: list[EncodedText] = []
    skipped_short = truncated = 0
    for index, (example, encoding) in enumerate(zip(examples, encodings, strict=True)):
        if len(encoding.ids) < min_tokens:
            skipped_short += 1
            continue
        truncated += encoding.truncated
        texts.append(
            EncodedText(
                input_ids=encoding.ids,
                special_tokens=encoding.special,
                label=example.label,
                source_index=first_index + index,
                text=encoding.text,
                offsets=encoding.offsets,
            )
        )
    return EncodedTexts(texts=texts, skipped_short=skipped_short, truncated=truncated)
