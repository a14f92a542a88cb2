"""The perturbations of SPEC section 4 and its variants: which tokens a step affects, and what happens to them.

Only non-special tokens are ranked and affected. At each fraction ``k`` of ``FRACTIONS`` the top
``round(k * n)`` of the ``n`` candidate tokens are affected; the last fraction is 1, where every candidate is
(the authors' loop leaves one in place; this one does not). ERASER's comprehensiveness and sufficiency use
the fractions of ``ERASER_FRACTIONS`` instead, rounded up so that each affects at least one token.

An affected token is either replaced by another token id at the same position (the length and the
attention mask stay those of the original) or deleted (the sequence shortens; the attention mask follows).
"""

from __future__ import annotations

import numpy as np

FRACTIONS: np.ndarray = np.linspace(0.0, 1.0, 10)[1:]
ERASER_FRACTIONS: np.ndarray = np.array([0.01, 0.05, 0.10, 0.20, 0.50])


def removal_order(relevance: np.ndarray, special_tokens: np.ndarray) -> np.ndarray:
    """Positions of the non-special tokens, most relevant first; equal relevance goes left to right."""
    candidates = np.flatnonzero(~special_tokens)
    # a stable sort of the negated relevance keeps position order among ties
    return candidates[np.argsort(-relevance[candidates], kind="stable")]


def fraction_counts(num_candidates: int) -> np.ndarray:
    """How many tokens each fraction affects: ``round(k * n)`` (never a tie: ``j * n / 9`` is no half)."""
    return np.rint(FRACTIONS * num_candidates).astype(np.int64)


def eraser_counts(num_candidates: int) -> np.ndarray:
    """How many tokens each ERASER fraction affects: ``ceil(k * n)``, so 1% of a sentence is one token, not
    none. (The tiny tolerance keeps ``0.1 * 30`` at 3 although it is 3.0000000000000004 in floating point.)"""
    return np.ceil(ERASER_FRACTIONS * num_candidates - 1e-9).astype(np.int64)


def replaced(input_ids: np.ndarray, positions: np.ndarray, token_id: int) -> np.ndarray:
    """A copy of ``input_ids`` with ``positions`` set to ``token_id``."""
    copy = input_ids.copy()
    copy[positions] = token_id
    return copy


def deleted(input_ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A copy of ``input_ids`` without ``positions`` (the others keep their order)."""
    return np.delete(input_ids, positions)


def deletion_copies(input_ids: np.ndarray, order: np.ndarray, pad_token_id: int) -> np.ndarray:
    """``[len(FRACTIONS), seq]`` copies of ``input_ids`` with the top ``round(k * n)`` tokens of ``order``
    replaced by ``pad_token_id`` (the paper's protocol)."""
    return np.stack([replaced(input_ids, order[:count], pad_token_id) for count in fraction_counts(len(order))])


def sufficiency_copies(input_ids: np.ndarray, order: np.ndarray, pad_token_id: int) -> np.ndarray:
    """``[len(FRACTIONS), seq]`` copies of ``input_ids`` that keep only the top ``round(k * n)`` tokens of
    ``order`` (and the special tokens); every other candidate becomes ``pad_token_id``."""
    return np.stack([replaced(input_ids, order[count:], pad_token_id) for count in fraction_counts(len(order))])
