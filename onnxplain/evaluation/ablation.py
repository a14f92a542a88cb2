"""The head-mask ablation of Mask-LRP (SPEC section 3): which heads carry relevance, and does it matter?

Besides the artifact's calibrated mask (``mask-lrp``: syntactic or positional heads), Mask-LRP is evaluated
with the syntactic heads only, the positional heads only, every head, no head, and random masks with as many
heads as the calibrated one. A calibrated selection means something only where it beats the random and empty
masks. ``mask-lrp:all`` differs from ``transatt`` only by the factor 2 of SPEC section 2.2 step 4 (the
stored attention relevance is taken before halving when a mask is given), so showing both separates the
effect of masking heads from the effect of that factor.
"""

from __future__ import annotations

import numpy as np

from onnxplain.evaluation.faithfulness import Variant
from onnxplain.runtime.artifact import Manifest

MASKED_METHOD = "mask-lrp"
RANDOM_MASKS = 5


def default_head_mask(manifest: Manifest) -> np.ndarray:
    return np.asarray(manifest.default_head_mask, dtype=np.float32).reshape(
        manifest.num_layers, manifest.num_heads
    )


def random_head_mask(num_layers: int, num_heads: int, kept: int, seed: int) -> np.ndarray:
    """A ``[layers, heads]`` mask that keeps ``kept`` heads drawn uniformly without replacement."""
    mask = np.zeros(num_layers * num_heads, dtype=np.float32)
    mask[np.random.default_rng(seed).choice(mask.size, size=kept, replace=False)] = 1.0
    return mask.reshape(num_layers, num_heads)


def calibrated_mode_masks(manifest: Manifest) -> dict[str, np.ndarray]:
    """The syntactic-only and positional-only masks the calibration stored in the manifest, by mode name."""
    stored = manifest.head_mask.get("modes", {})
    shape = (manifest.num_layers, manifest.num_heads)
    return {mode: np.asarray(mask, dtype=np.float32).reshape(shape) for mode, mask in stored.items()}


def ablation_variants(
    manifest: Manifest, *, random_masks: int = RANDOM_MASKS, seed: int = 0
) -> list[Variant]:
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
