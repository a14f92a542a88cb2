"""Turning head statistics into a 0/1 head mask (SPEC §3): thresholds and selection modes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from onnxplain.calibration.dependencies import RELATIONS
from onnxplain.errors import UserError

# synt+pos: the paper's mask. all = no mask; none = no head keeps relevance; random: as many heads as
# synt+pos, drawn with a seed (the paper's ablation and the control every evaluation must show).
MODES: tuple[str, ...] = ("synt+pos", "synt", "pos", "all", "none", "random")
DEFAULT_MODE = "synt+pos"


@dataclass(frozen=True)
class Thresholds:
    """A head is syntactic when its hit rate for some relation is above that relation's theta, positional
    when its top offset holds more than ``positional`` of the rows. Defaults: the paper's (SST-2)."""

    nsubj: float = 0.46
    obj: float = 0.43
    amod: float = 0.76
    advmod: float = 0.72
    positional: float = 0.8

    def syntactic(self) -> np.ndarray:
        """The four syntactic thresholds in ``RELATIONS`` order."""
        return np.array([getattr(self, relation) for relation in RELATIONS])

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None) -> Thresholds:
        """Defaults overridden by ``values`` (keys: nsubj, obj, amod, advmod, positional)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown head threshold(s) {', '.join(unknown)}; use {', '.join(sorted(known))}")
        for name, value in values.items():
            if not 0.0 <= float(value) <= 1.0:
                raise UserError(f"head threshold {name}={value} is outside [0, 1]; give a share between 0 and 1")
        return cls(**{name: float(value) for name, value in values.items()})


def syntactic_heads(accuracy: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Bool ``[layers, heads]``: some relation's hit rate is above its theta (a relation with no arcs,
    NaN, never qualifies)."""
    with np.errstate(invalid="ignore"):
        return np.any(np.nan_to_num(accuracy, nan=-1.0) > thresholds.syntactic(), axis=-1)


def positional_heads(frequency: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Bool ``[layers, heads]``: the head's top offset holds more than xi of the rows."""
    return frequency > thresholds.positional


def select_heads(
    accuracy: np.ndarray,
    frequency: np.ndarray,
    *,
    mode: str = DEFAULT_MODE,
    thresholds: Thresholds | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The float32 0/1 head mask ``[layers, heads]`` (1 = the head keeps its relevance) of ``mode``."""
    thresholds = thresholds or Thresholds()
    syntactic = syntactic_heads(accuracy, thresholds)
    positional = positional_heads(frequency, thresholds)
    if mode == "synt+pos":
        kept = syntactic | positional
    elif mode == "synt":
        kept = syntactic
    elif mode == "pos":
        kept = positional
    elif mode == "all":
        kept = np.ones_like(syntactic)
    elif mode == "none":
        kept = np.zeros_like(syntactic)
    elif mode == "random":
        count = int((syntactic | positional).sum())
        chosen = np.random.default_rng(seed).choice(syntactic.size, size=count, replace=False)
        kept = np.zeros(syntactic.size, dtype=bool)
        kept[chosen] = True
        kept = kept.reshape(syntactic.shape)
    else:
        raise UserError(f"unknown head selection mode {mode!r}; use one of {', '.join(MODES)}")
    return kept.astype(np.float32)


def kept_head_list(mask: np.ndarray) -> list[list[int]]:
    """The kept heads as ``[layer, head]`` pairs, in layer-major order."""
    return [[int(layer), int(head)] for layer, head in np.argwhere(mask > 0)]
