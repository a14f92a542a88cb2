"""The weight types every canonical model is built from, and the reader that takes them out of a checkpoint's
state dict. A leaf: the encoder and decoder adapters both build on it, and it knows neither."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from onnxplain.errors import UserError


@dataclass(frozen=True)
class Linear:
    weight: Tensor  # [out, in]
    bias: Tensor | None


@dataclass(frozen=True)
class Norm:
    weight: Tensor
    bias: Tensor | None
    eps: float


@dataclass(frozen=True)
class SelfAttention:
    """The four projections of a multi-head self-attention block (keys and values may have fewer heads)."""

    query: Linear
    key: Linear
    value: Linear
    output: Linear


@dataclass(frozen=True)
class StateReader:
    """Reads float32 weights out of a state dict by name; a missing weight is one ``UserError`` that says
    what the checkpoint was expected to be (``expected``, e.g. "a bert sequence-classification model")."""

    state: Mapping[str, Tensor]
    expected: str
    eps: float  # of every norm
    transposed: bool = False  # linear weights stored as [in, out] (GPT-2's Conv1D)

    def has(self, name: str) -> bool:
        return name in self.state

    def tensor(self, name: str) -> Tensor:
        if name not in self.state:
            raise UserError(f"the checkpoint has no weight {name!r}; is it {self.expected}?")
        return self.state[name].detach().to(torch.float32)

    def optional(self, name: str) -> Tensor | None:
        return self.tensor(name) if name in self.state else None

    def linear(self, name: str) -> Linear:
        weight = self.tensor(f"{name}.weight")
        return Linear(weight.T.contiguous() if self.transposed else weight, self.optional(f"{name}.bias"))

    def norm(self, name: str) -> Norm:
        return Norm(self.tensor(f"{name}.weight"), self.optional(f"{name}.bias"), self.eps)
