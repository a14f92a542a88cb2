"""Head selection: thresholds, the modes, and the seeded random control."""

from __future__ import annotations

import numpy as np
import pytest

from onnxplain.calibration.selection import MODES, Thresholds, kept_head_list, select_heads
from onnxplain.errors import UserError

NAN = float("nan")


def statistics() -> tuple[np.ndarray, np.ndarray]:
    """2 layers x 3 heads: (0, 0) syntactic for amod only, (0, 1) positional, (1, 2) both, (1, 0) just under
    every threshold, (1, 1) with a NaN (relation without arcs)."""
    accuracy = np.zeros((2, 3, 4))
    frequency = np.full((2, 3), 0.1)
    accuracy[0, 0] = [0.1, 0.1, 0.77, 0.1]
    frequency[0, 1] = 0.95
    accuracy[1, 2] = [0.5, 0.0, 0.0, 0.0]
    frequency[1, 2] = 0.81
    accuracy[1, 0] = [0.46, 0.43, 0.76, 0.72]  # equal to theta is not above it
    frequency[1, 0] = 0.8
    accuracy[1, 1] = [NAN, NAN, NAN, NAN]
    return accuracy, frequency


@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        ("synt+pos", [[0, 0], [0, 1], [1, 2]]),
        ("synt", [[0, 0], [1, 2]]),
        ("pos", [[0, 1], [1, 2]]),
        ("all", [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]),
        ("none", []),
    ],
)
def test_modes_with_the_paper_thresholds(mode: str, kept: list[list[int]]) -> None:
    mask = select_heads(*statistics(), mode=mode)
    assert mask.dtype == np.float32 and mask.shape == (2, 3)
    assert kept_head_list(mask) == kept


def test_thresholds_can_be_overridden() -> None:
    lower_amod = Thresholds.from_mapping({"amod": 0.5, "positional": 0.9})
    mask = select_heads(*statistics(), mode="synt+pos", thresholds=lower_amod)
    # (1, 0) now passes amod (0.76 > 0.5); (1, 2) stays syntactic though 0.81 is no longer positional
    assert kept_head_list(mask) == [[0, 0], [0, 1], [1, 0], [1, 2]]


def test_random_mode_keeps_as_many_heads_as_synt_pos_and_follows_its_seed() -> None:
    accuracy, frequency = statistics()
    masks = [select_heads(accuracy, frequency, mode="random", seed=seed) for seed in range(20)]
    assert all(mask.sum() == 3 for mask in masks)
    np.testing.assert_array_equal(masks[0], select_heads(accuracy, frequency, mode="random", seed=0))
    assert len({mask.tobytes() for mask in masks}) > 1


def test_unknown_mode_and_bad_thresholds_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown head selection mode"):
        select_heads(*statistics(), mode="syntactic")
    with pytest.raises(UserError, match="unknown head threshold"):
        Thresholds.from_mapping({"dobj": 0.5})
    with pytest.raises(UserError, match="outside"):
        Thresholds.from_mapping({"nsubj": 1.5})


def test_defaults_are_the_papers() -> None:
    defaults = Thresholds()
    assert defaults.syntactic().tolist() == [0.46, 0.43, 0.76, 0.72]
    assert defaults.positional == 0.8
    assert MODES[0] == "synt+pos"
