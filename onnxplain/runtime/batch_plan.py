"""Batches formed by what they cost: texts packed into ONNX Runtime calls under a memory budget.

Texts are sorted longest first, so each call is padded to its first text's length; a call takes the next
text while its estimated working memory (``memory_model``) stays within the budget and its count within
``max_batch``. A text that alone needs more than the budget is refused before anything runs, with one
sentence naming the budget and the text's length (the server answers 413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from onnxplain.errors import RequestError
from onnxplain.runtime.memory_budget import format_size

Cost = Callable[[int, int], int]  # (batch, tokens) -> bytes


class OverBudget(RequestError):
    """One text (or question + context pair) needs more working memory than the whole memory budget (a server
    answers it 413)."""

    def __init__(
        self, index: int, tokens: int, method: str, needed: int, budget: int, what: str = "text", total: int = 0
    ) -> None:
        self.index, self.tokens, self.needed, self.budget = index, tokens, needed, budget
        room = f"the memory budget of {format_size(budget)}"
        if total > budget:  # part of the budget is held by sessions or set aside
            room = f"the {format_size(budget)} that the memory budget of {format_size(total)} leaves for one call"
        super().__init__(
            413,
            f"{what} {index} has {tokens} tokens, and explaining it with {method} needs about "
            f"{format_size(needed)} of working memory, more than {room}; shorten it (or lower the max length), "
            "or raise the memory budget",
        )


def check_fits(
    lengths: Sequence[int], cost: Cost, budget: int, method: str, what: str = "text", total: int = 0
) -> None:
    """Raise ``OverBudget`` for the first text that does not fit ``budget`` (of the whole ``total``) alone."""
    for index, tokens in enumerate(lengths):
        needed = cost(1, tokens)
        if needed > budget:
            raise OverBudget(index, tokens, method, needed, budget, what, total)


def pack(
    lengths: Sequence[int], cost: Cost, budget: int, max_batch: int, method: str, what: str = "text", total: int = 0
) -> list[list[int]]:
    """Indices into ``lengths`` grouped into calls, longest texts first; every call's estimated cost at
    its padded length is within ``budget`` (bytes) and holds at most ``max_batch`` texts."""
    check_fits(lengths, cost, budget, method, what, total)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        if current and len(current) < max_batch and cost(len(current) + 1, lengths[current[0]]) <= budget:
            current.append(index)
        else:
            batches.append([index])
    return batches


def fits_one_call(lengths: Sequence[int], cost: Cost, budget: int, max_batch: int) -> bool:
    """Whether these texts go into a single call: at most ``max_batch`` of them, padded to the longest."""
    return 0 < len(lengths) <= max_batch and cost(len(lengths), max(lengths)) <= budget
