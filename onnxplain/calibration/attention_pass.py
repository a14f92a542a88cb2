"""The corpus pass: tokenize the sentences, run the model in length-sorted batches with attention outputs,
and feed every batch's attention argmax into ``HeadStatistics``.

Rows counted for the positional statistic: every real token except the tokenizer's special tokens
([CLS], [SEP], <s>, ...): their attention says nothing about relative position in the text. Padding is
never counted, and never wins an argmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from onnxplain.calibration.alignment import AlignedArcs, TokenOffsets, align_arcs
from onnxplain.calibration.dependencies import DependencyArc
from onnxplain.calibration.statistics import BatchArcs, HeadStatistics, attention_argmax

# Attention maps of one batch are [layers, batch, heads, tokens, tokens] floats; a batch is cut so that
# they stay below this many elements (512 MiB in float32), whatever the sentence length.
ATTENTION_ELEMENTS_PER_BATCH = 1 << 27


def length_batches(lengths: Sequence[int], batch_size: int, cells_per_example: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), each holding at most ``batch_size``
    examples and at most ``ATTENTION_ELEMENTS_PER_BATCH / (cells_per_example * length**2)`` of them."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = lengths[order[start]]
        fits = ATTENTION_ELEMENTS_PER_BATCH // max(1, cells_per_example * longest * longest)
        size = max(1, min(batch_size, fits))
        batches.append(order[start : start + size])
        start += size
    return batches


def model_max_length(tokenizer, model) -> int:
    """Longest input the model takes: the tokenizer's limit, or else the model's position table."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    positions = getattr(model.config, "max_position_embeddings", None)
    return int(positions) if positions else 512


def collect_head_statistics(
    model,
    tokenizer,
    texts: Sequence[str],
    arcs: Sequence[Sequence[DependencyArc]],
    *,
    batch_size: int = 64,
    max_length: int | None = None,
    progress: bool = True,
) -> HeadStatistics:
    """Run ``model`` (a Hugging Face encoder or decoder loaded with eager attention) over ``texts`` and
    return the syntactic and positional statistics of its heads; ``arcs[i]`` are the arcs of ``texts[i]``.
    Sentences are cut at ``max_length`` tokens, never beyond the model's own limit."""
    limit = model_max_length(tokenizer, model)
    max_length = min(max_length, limit) if max_length else limit
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    aligned = [
        align_arcs(sentence_arcs, TokenOffsets(offsets, special))
        for sentence_arcs, offsets, special in zip(
            arcs, encoded["offset_mapping"], encoded["special_tokens_mask"], strict=True
        )
    ]
    config = model.config
    num_layers, num_heads = int(config.num_hidden_layers), int(config.num_attention_heads)
    statistics = HeadStatistics(num_layers, num_heads, max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    feature_names = [name for name in tokenizer.model_input_names if name in encoded]
    bar = tqdm(total=len(texts), desc="attention", unit="sentence", disable=not progress)
    with torch.inference_mode():
        for batch in length_batches(lengths, batch_size, num_layers * num_heads):
            features = tokenizer.pad(
                [{name: encoded[name][i] for name in feature_names} for i in batch], return_tensors="pt"
            )
            outputs = model(**features, output_attentions=True)
            attention_mask = features["attention_mask"]
            argmax = attention_argmax(outputs.attentions, attention_mask)
            special = _padded_special_tokens_mask(
                [encoded["special_tokens_mask"][i] for i in batch],
                attention_mask.shape[1],
                tokenizer.padding_side,
            )
            query_mask = attention_mask.bool() & ~special
            statistics.add_positional(argmax, query_mask)
            shifts = [attention_mask.shape[1] - lengths[i] if tokenizer.padding_side == "left" else 0 for i in batch]
            statistics.add_syntactic(argmax, _batch_arcs([aligned[i] for i in batch], shifts))
            bar.update(len(batch))
    bar.close()
    return statistics


def _padded_special_tokens_mask(rows: Sequence[Sequence[int]], length: int, padding_side: str) -> torch.Tensor:
    """``[batch, length]`` bool: True on special tokens and on padding, placed as the tokenizer pads."""
    mask = torch.ones(len(rows), length, dtype=torch.bool)
    for i, row in enumerate(rows):
        flags = torch.tensor(row, dtype=torch.bool)
        if padding_side == "left":
            mask[i, length - len(row) :] = flags
        else:
            mask[i, : len(row)] = flags
    return mask


def _batch_arcs(sentences: Sequence[AlignedArcs], shifts: Sequence[int]) -> BatchArcs:
    """One batch's arcs; ``shifts[i]`` moves example ``i``'s token positions past its left padding."""
    example = np.concatenate([np.full(len(arcs), i, dtype=np.int64) for i, arcs in enumerate(sentences)])
    shift = np.concatenate([np.full(len(arcs), s, dtype=np.int64) for arcs, s in zip(sentences, shifts, strict=True)])
    return BatchArcs(
        example=torch.from_numpy(example),
        query=torch.from_numpy(np.concatenate([arcs.query for arcs in sentences]) + shift),
        head_start=torch.from_numpy(np.concatenate([arcs.head_start for arcs in sentences]) + shift),
        head_end=torch.from_numpy(np.concatenate([arcs.head_end for arcs in sentences]) + shift),
        relation=torch.from_numpy(np.concatenate([arcs.relation for arcs in sentences])),
    )
