"""The perturbations of SPEC section 4: remove (deletion) or keep (sufficiency) the most relevant tokens.

Only non-special tokens are ranked and replaced; a replaced token becomes the pad id at the same position,
so every perturbed copy has the length and attention mask of the original. At each fraction ``k`` of
``FRACTIONS`` the top ``round(k * n)`` of the ``n`` candidate tokens are affected; the last fraction is 1,
where deletion replaces every candidate (the authors' loop leaves one in place; this one does not).
"""

from __future__ import annotations

import numpy as np

FRACTIONS: np.ndarray = np.linspace(0.0, 1.0, 10)[1:]


def removal_order(relevance: np.ndarray, special_tokens: np.ndarray) -> np.ndarray:
    """Positions of the non-special tokens, most relevant first; equal relevance goes left to right."""
    candidates = np.flatnonzero(~special_tokens)
    # a stable sort of the negated relevance keeps position order among ties
    return candidates[np.argsort(-relevance[candidates], kind="stable")]


def fraction_counts(num_candidates: int) -> np.ndarray:
    """How many tokens each fraction affects: ``round(k * n)`` (never a tie: ``j * n / 9`` is no half)."""
    return np.rint(FRACTIONS * num_candidates).astype(np.int64)


def deletion_copies(input_ids: np.ndarray, order: np.ndarray, pad_token_id: int) -> np.ndarray:
    """``[len(FRACTIONS), seq]`` copies of ``input_ids`` with the top ``round(k * n)`` tokens of ``order``
    replaced by ``pad_token_id``."""
    copies = np.repeat(input_ids[None, :], len(FRACTIONS), axis=0)
    for row, count in enumerate(fraction_counts(len(order))):
        copies[row, order[:count]] = pad_token_id
    return copies


def sufficiency_copies(input_ids: np.ndarray, order: np.ndarray, pad_token_id: int) -> np.ndarray:
    """``[len(FRACTIONS), seq]`` copies of ``input_ids`` that keep only the top ``round(k * n)`` tokens of
    ``order`` (and the special tokens); every other candidate becomes ``pad_token_id``."""
    copies = np.repeat(input_ids[None, :], len(FRACTIONS), axis=0)
    for row, count in enumerate(fraction_counts(len(order))):
        copies[row, order[count:]] = pad_token_id
    return copies
