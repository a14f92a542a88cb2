"""The canonical models behind one call: an encoder (post-norm, BERT family) or a causal decoder (pre-norm,
GPT-2 and Llama family), chosen by the weights' type. Methods are written against this, not against
either model."""

from __future__ import annotations

from torch import Tensor

from onnxplain.export.architectures import CanonicalWeights
from onnxplain.export.architectures.decoders import DecoderWeights
from onnxplain.export.decoder import decode
from onnxplain.export.encoder import encode
from onnxplain.export.rulesets import Gradient
from onnxplain.export.trace import Trace

__all__ = ["CanonicalWeights", "forward"]


def forward(
    weights: CanonicalWeights,
    rules: Gradient,
    input_ids: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    head_mask: Tensor,
    explained_rows_only: bool = False,
) -> Trace:
    """One forward pass through ``rules``, recording what the explanation methods read; with
    ``explained_rows_only`` an encoder classifier's last layer runs for the explained token alone (see
    ``encode``)."""
    if isinstance(weights, DecoderWeights):
        return decode(weights, rules, input_ids, attention_mask, head_mask)
    return encode(weights, rules, input_ids, attention_mask, token_type_ids, head_mask, explained_rows_only)
