"""The element-wise activations of the canonical models, each with its ratio ``f(x) / x`` where that has a
closed form (the identity rule of CP-LRP and AttnLRP then needs no division)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from onnxplain.export.rulesets import Activation

SQRT_HALF = math.sqrt(0.5)
SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)


def standard_normal_cdf(x: Tensor) -> Tensor:
    """``Phi(x)``, which is ``gelu(x) / x``."""
    return 0.5 * (1.0 + torch.erf(x * SQRT_HALF))


def tanh_gelu_ratio(x: Tensor) -> Tensor:
    """``gelu_tanh(x) / x``: the tanh approximation of ``Phi(x)``."""
    return 0.5 * (1.0 + torch.tanh(SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x)))


def relu_ratio(x: Tensor) -> Tensor:
    """``relu(x) / x``: 1 where ``x > 0``, else 0."""
    return (x > 0).to(x.dtype)


def gelu(x: Tensor) -> Tensor:
    """``x * Phi(x)`` written out, so that the identity rule's ratio is the forward pass's own ``Phi(x)``
    (the traced graph computes it once; ``F.gelu`` would hide it in one kernel and the rule recompute it)."""
    return x * standard_normal_cdf(x)


def tanh_gelu(x: Tensor) -> Tensor:
    """The tanh approximation of GELU, written out for the same reason as ``gelu``."""
    return x * tanh_gelu_ratio(x)


# Every activation by its Hugging Face name (tanh has no closed-form ratio: the rule divides).
_GELU = Activation(gelu, standard_normal_cdf)
_TANH_GELU = Activation(tanh_gelu, tanh_gelu_ratio)
_SILU = Activation(torch.nn.functional.silu, torch.sigmoid)
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
