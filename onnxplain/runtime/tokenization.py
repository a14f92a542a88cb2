"""Text to token ids with character offsets, using the artifact's ``tokenizer.json`` (no transformers).

A ``TextEncoding`` is what ``Explainer.tokenize`` returns and what the low-level ``Explainer.run`` is fed
with (after ``pad``). Conventions:

- ``offsets[i]`` is the span ``(start, end)`` of token ``i`` in the original text, in Python characters.
- Special tokens (``[CLS]``, ``[SEP]``, ``<s>``...) cover no text: their span is empty and sits where they
  stand, at the end of the token before them (0 for a leading one). ``special[i]`` marks them.
- ``word_ids[i]`` numbers the words of the tokenizer's pre-tokenizer (punctuation is a word of its own);
  ``None`` for special tokens.
- Texts longer than ``max_length`` tokens (special tokens included) are cut, and ``truncated`` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from onnxplain.runtime.artifact import ArtifactError


@dataclass(frozen=True)
class TextEncoding:
    text: str
    ids: np.ndarray  # int64 [tokens]
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    special: np.ndarray  # bool [tokens]
    word_ids: tuple[int | None, ...]
    truncated: bool

    def __len__(self) -> int:
        return len(self.ids)


def _from_encoding(text: str, encoding: Encoding) -> TextEncoding:
    special = np.asarray(encoding.special_tokens_mask, dtype=bool)
    offsets: list[tuple[int, int]] = []
    for (start, end), is_special in zip(encoding.offsets, special, strict=True):
        if is_special:
            position = offsets[-1][1] if offsets else 0
            start = end = position
        offsets.append((start, end))
    return TextEncoding(
        text=text,
        ids=np.asarray(encoding.ids, dtype=np.int64),
        tokens=tuple(encoding.tokens),
        offsets=tuple(offsets),
        special=special,
        word_ids=tuple(None if s else w for w, s in zip(encoding.word_ids, special, strict=True)),
        truncated=bool(encoding.overflowing),
    )


class TextTokenizer:
    """The artifact's tokenizer with its own padding off and truncation at ``max_length`` tokens."""

    def __init__(self, path: Path, max_length: int) -> None:
        self.max_length = max_length
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # tokenizers raises a plain Exception for a file it cannot parse
            raise ArtifactError(
                f"{path} cannot be read as a tokenizers file ({error}); it is damaged or incomplete: copy the "
                "artifact again or re-export it"
            ) from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)

    def encode(self, texts: Sequence[str]) -> list[TextEncoding]:
        encodings = self._tokenizer.encode_batch(list(texts))
        return [_from_encoding(text, encoding) for text, encoding in zip(texts, encodings, strict=True)]


def pad(encodings: Sequence[TextEncoding], pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask``, int64 [batch, longest], right-padded with ``pad_token_id``."""
    longest = max(len(e) for e in encodings)
    input_ids = np.full((len(encodings), longest), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(encodings), longest), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding)] = encoding.ids
        attention_mask[row, : len(encoding)] = 1
    return input_ids, attention_mask
