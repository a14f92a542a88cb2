"""How ``evaluate --engine ray`` cuts texts into blocks (no Ray needed)."""

from __future__ import annotations

import pytest

from onnxplain.evaluation.engines import BLOCK_BATCHES, block_batches


@pytest.mark.parametrize(
    "texts, batch, actors, expected",
    [
        (1000, 16, 2, BLOCK_BATCHES),  # plenty of texts: full blocks
        (88, 16, 2, 3),  # 6 explain batches: 3 per actor, where 4 would give one actor 4 and the other 2
        (17, 4, 2, 3),  # 5 batches: blocks of 3 and 2
        (5, 16, 2, 1),  # a single batch: one block, whatever the actors
        (40, 4, 1, BLOCK_BATCHES),
    ],
)
def test_blocks_are_whole_batches_and_give_every_actor_work_where_there_is_enough(
    texts: int, batch: int, actors: int, expected: int
) -> None:
    per_block = block_batches(texts, batch, actors)
    assert per_block == expected
    blocks = -(-texts // (per_block * batch))
    assert blocks >= min(actors, -(-texts // batch))  # as many blocks as actors, where there are batches enough
