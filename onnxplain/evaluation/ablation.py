"""The head-mask ablation of Mask-LRP (SPEC section 3): which heads carry relevance, and does it matter?

Besides the artifact's calibrated mask (``mask-lrp``: syntactic or positional heads), Mask-LRP is evaluated
with the syntactic heads only, the positional heads only, every head, no head, and random masks with as many
heads as the calibrated one. A calibrated selection means something only where it beats the random and empty
masks. ``mask-lrp:all`` differs from ``transatt`` only by the factor 2 of SPEC section 2.2 step 4 (the
stored attention relevance is taken before halving when a mask is given), so showing both separates the
effect of masking heads from the effect of that factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from onnxplain.evaluation.faithfulness import Variant
from onnxplain.runtime.artifact import Manifest

MASKED_METHOD = "mask-lrp"
RANDOM_MASKS = 5


def default_head_mask(manifest: Manifest) -> np.ndarray:
    return np.asarray(manifest.default_head_mask, dtype=np.float32).reshape(manifest.num_layers, manifest.num_heads)


def random_head_mask(num_layers: int, num_heads: int, kept: int, seed: int) -> np.ndarray:
    """A ``[layers, heads]`` mask that keeps ``kept`` heads drawn uniformly without replacement."""
    mask = np.zeros(num_layers * num_heads, dtype=np.float32)
    mask[np.random.default_rng(seed).choice(mask.size, size=kept, replace=False)] = 1.0
    return mask.reshape(num_layers, num_heads)


def calibration_statistics(head_mask: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The calibration statistics (``onnxplain.calibration``'s ``statistics_json``) stored anywhere in the
    manifest's ``head_mask`` entry, or None for a mask that did not come from a calibration."""
    if "syntactic_heads" in head_mask and "positional_heads" in head_mask:
        return head_mask
    for value in head_mask.values():
        if isinstance(value, Mapping) and (found := calibration_statistics(value)) is not None:
            return found
    return None


def calibrated_mode_masks(manifest: Manifest) -> dict[str, np.ndarray]:
    """The syntactic-only and positional-only masks of the artifact's calibration, when it stored them."""
    statistics = calibration_statistics(manifest.head_mask)
    if statistics is None:
        return {}
    masks = {}
    for mode in ("syntactic", "positional"):
        mask = np.zeros((manifest.num_layers, manifest.num_heads), dtype=np.float32)
        for layer, head in statistics[f"{mode}_heads"]:
            mask[layer, head] = 1.0
        masks[mode] = mask
    return masks


def ablation_variants(manifest: Manifest, *, random_masks: int = RANDOM_MASKS, seed: int = 0) -> list[Variant]:
    """The ablation's masked Mask-LRP variants (the calibrated default itself is the ``mask-lrp`` method)."""
    shape = (manifest.num_layers, manifest.num_heads)
    variants = [
        Variant(f"{MASKED_METHOD}:{mode}", MASKED_METHOD, mask)
        for mode, mask in calibrated_mode_masks(manifest).items()
    ]
    variants.append(Variant(f"{MASKED_METHOD}:all", MASKED_METHOD, np.ones(shape, dtype=np.float32)))
    variants.append(Variant(f"{MASKED_METHOD}:none", MASKED_METHOD, np.zeros(shape, dtype=np.float32)))
    kept = int(default_head_mask(manifest).sum())
    for index in range(random_masks):
        mask = random_head_mask(*shape, kept=kept, seed=seed + index)
        variants.append(Variant(f"{MASKED_METHOD}:random-{index}", MASKED_METHOD, mask))
    return variants
