"""Architecture adapters, side by side: where each family of Hugging Face checkpoints keeps the weights of
its canonical model (`encoders`: the post-norm BERT family; `decoders`: the pre-norm GPT-2 and Llama family),
built from the weight types of `weights`. Adapters are data; the forwards are `onnxplain/export/encoder.py`
and `decoder.py`. This module only dispatches a model type to its family."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from onnxplain.errors import UserError
from onnxplain.export.architectures.decoders import (
    DecoderWeights,
    decoder_adapter_for,
    decoder_model_types,
    read_decoder_weights,
)
from onnxplain.export.architectures.encoders import (
    EncoderWeights,
    encoder_adapter_for,
    encoder_model_types,
    read_encoder_weights,
)

CanonicalWeights = EncoderWeights | DecoderWeights


def supported_model_types() -> list[str]:
    """Every Hugging Face ``model_type`` onnxplain exports, encoders and decoders."""
    return sorted(encoder_model_types() + decoder_model_types())


def read_weights(
    model_type: str, config: Any, state: dict[str, Tensor], task: str = "sequence-classification"
) -> CanonicalWeights:
    """Pick the canonical model's weights out of a checkpoint's state dict."""
    if decoder_adapter_for(model_type) is not None:
        return read_decoder_weights(model_type, config, state, task)
    if encoder_adapter_for(model_type) is not None:
        return read_encoder_weights(model_type, config, state, task)
    raise UserError(
        f"model type {model_type!r} is not supported; onnxplain exports {', '.join(supported_model_types())}"
    )
