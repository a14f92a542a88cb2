"""The perturbation protocols of ``onnxplain evaluate``: what a step does to the tokens it affects, and
whether it takes them most- or least-relevant first.

- ``pad``: the most relevant tokens replaced by the pad id (SPEC section 4, the paper's protocol);
- ``mask``: the most relevant tokens replaced by the tokenizer's mask token (``[MASK]``, ``<mask>``);
- ``delete``: the most relevant tokens deleted; the sequence shortens and its attention mask with it;
- ``lerf``: the *least* relevant tokens replaced by the pad id first: a faithful ranking keeps the
  probability high. It takes the tokens in the reverse of the most-relevant-first order, so its step j
  leaves exactly the tokens that order ranks highest (the complement of ``pad``'s step 9 - j).

Each MoRF protocol's operator (replace by pad, replace by mask, delete) is also the one its ERASER
comprehensiveness and sufficiency use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onnxplain.errors import UserError
from onnxplain.evaluation.perturbation import deleted, eraser_counts, fraction_counts, replaced

PAD, MASK, DELETE, LERF = "pad", "mask", "delete", "lerf"


@dataclass(frozen=True)
class Protocol:
    name: str
    operator: str  # PAD, MASK or DELETE: what happens to an affected token
    most_relevant_first: bool
    description: str


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(PAD, PAD, True, "most relevant first, replaced by the pad token"),
        Protocol(MASK, MASK, True, "most relevant first, replaced by the mask token"),
        Protocol(DELETE, DELETE, True, "most relevant first, deleted (the sequence shortens)"),
        Protocol(LERF, PAD, False, "least relevant first, replaced by the pad token"),
    )
}


def mask_token_id(tokenizer_file: Path) -> int | None:
    """The id of the tokenizer's mask token (a special added token named ``[MASK]``, ``<mask>``...), if any."""
    added = json.loads(Path(tokenizer_file).read_text(encoding="utf-8")).get("added_tokens", [])
    for token in added:
        if token.get("special") and token["content"].strip("[]<>").lower() == "mask":
            return int(token["id"])
    return None


def choose_protocols(requested: str | None, mask_token: int | None) -> tuple[list[Protocol], list[str]]:
    """The protocols of ``--protocols`` (comma-separated; None = all) and notes on any left out."""
    if requested is None:
        names = list(PROTOCOLS)
        if mask_token is None:
            names.remove(MASK)
            return [PROTOCOLS[n] for n in names], ["the tokenizer has no mask token, so the mask protocol is left out"]
        return [PROTOCOLS[n] for n in names], []
    names = list(dict.fromkeys(n.strip() for n in requested.split(",") if n.strip()))
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise UserError(
            f"unknown protocol {', '.join(unknown) or '(none given)'}; "
            f"choose among {', '.join(PROTOCOLS)} in --protocols"
        )
    if MASK in names and mask_token is None:
        raise UserError("the artifact's tokenizer has no mask token; leave mask out of --protocols")
    return [PROTOCOLS[n] for n in names], []


@dataclass(frozen=True)
class Operators:
    """The token ids the replacing operators write."""

    pad_token_id: int
    mask_token_id: int | None

    def apply(self, operator: str, input_ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        if operator == DELETE:
            return deleted(input_ids, positions)
        token = self.pad_token_id if operator == PAD else self.mask_token_id
        if token is None:
            raise UserError("the artifact's tokenizer has no mask token; leave mask out of --protocols")
        return replaced(input_ids, positions, token)


def protocol_copies(protocol: Protocol, input_ids: np.ndarray, order: np.ndarray, ops: Operators) -> list[np.ndarray]:
    """The text after each step of ``protocol`` (``len(FRACTIONS)`` copies); ``order``: most relevant first."""
    ranked = order if protocol.most_relevant_first else order[::-1]
    return [ops.apply(protocol.operator, input_ids, ranked[:count]) for count in fraction_counts(len(order))]


def eraser_copies(
    operator: str, input_ids: np.ndarray, order: np.ndarray, ops: Operators
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """ERASER's copies at each of ``ERASER_FRACTIONS``: without the top tokens (comprehensiveness) and with
    only the top tokens and the special ones (sufficiency)."""
    counts = eraser_counts(len(order))
    without = [ops.apply(operator, input_ids, order[:count]) for count in counts]
    only = [ops.apply(operator, input_ids, order[count:]) for count in counts]
    return without, only


def operators_of(protocols: Sequence[Protocol]) -> list[str]:
    """The operators whose ERASER metrics are reported: those of the most-relevant-first protocols."""
    return list(dict.fromkeys(p.operator for p in protocols if p.most_relevant_first))
