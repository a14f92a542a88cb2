"""The element-wise activations of the canonical models, each with its ratio ``f(x) / x`` where that has a
closed form (the identity rule of CP-LRP and AttnLRP then needs no division)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from onnxplain.export.rulesets import Activation

SQRT_TWO = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
INVERSE_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x: Tensor) -> Tensor:
    """``(x / 2) (1 + erf(x / sqrt 2))`` written out in the order, and with the division, that ONNX Runtime's
    GELU fusion recognises: the session runs one ``Gelu`` kernel instead of five element-wise passes over the
    [B, T, 4 D] tensor, in the forward pass and wherever a backward pass computes the activation anew."""
    return (x * 0.5) * (1.0 + torch.erf(x / SQRT_TWO))


def standard_normal_cdf(x: Tensor, zero: Tensor) -> Tensor:
    """``Phi(x)``, which is ``gelu(x) / x``, computed once ``zero`` (an exact 0 from the backward pass) exists,
    and as a product by ``1 / sqrt 2`` where ``gelu`` divides: with the forward's operations it would be merged
    into the forward pass (which then could not be fused) and kept from it until the backward reads it."""
    return 0.5 * (1.0 + torch.erf(x * (zero + SQRT_HALF)))


def gelu_derivative(x: Tensor, zero: Tensor) -> Tensor:
    """``gelu'(x) = Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``, computed once ``zero`` (an exact
    0 from the arriving gradient) exists: ten element-wise passes, where autograd through ``gelu``'s operations
    took more."""
    scaled = x * (zero + SQRT_HALF)  # the traced graph computes it once, here and in ``standard_normal_cdf``
    return standard_normal_cdf(x, zero) + (x * INVERSE_SQRT_TWO_PI) * torch.exp(-(scaled * scaled))


def tanh_gelu_ratio(x: Tensor, zero: Tensor | None = None) -> Tensor:
    """``gelu_tanh(x) / x``: the tanh approximation of ``Phi(x)``, shared with the forward pass's ``tanh_gelu``."""
    return 0.5 * (1.0 + torch.tanh(SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x)))


def relu_ratio(x: Tensor, zero: Tensor) -> Tensor:
    """``relu(x) / x``: 1 where ``x > 0``, else 0."""
    return (x > zero).to(x.dtype)


def sigmoid_ratio(x: Tensor, zero: Tensor) -> Tensor:
    """``silu(x) / x``, shared with the forward pass's sigmoid."""
    return torch.sigmoid(x)


def tanh_gelu(x: Tensor) -> Tensor:
    """The tanh approximation of GELU, written out so that the identity rule's ratio is the forward's own."""
    return x * tanh_gelu_ratio(x)


# Every activation by its Hugging Face name (tanh has no closed-form ratio: the rule divides).
_GELU = Activation(gelu, standard_normal_cdf, gelu_derivative)
_TANH_GELU = Activation(tanh_gelu, tanh_gelu_ratio)
_SILU = Activation(torch.nn.functional.silu, sigmoid_ratio)
ACTIVATIONS = {
    "gelu": _GELU,
    "gelu_new": _TANH_GELU,
    "gelu_pytorch_tanh": _TANH_GELU,
    "relu": Activation(torch.relu, relu_ratio),
    "tanh": Activation(torch.tanh),
    "silu": _SILU,
    "swish": _SILU,
}


def activation_function(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise NotImplementedError(f"activation {name!r} has no rule; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
