"""Where ``evaluate`` computes its curves: in this process, or on Ray Data (``--engine ray``).

On Ray, the selected texts are cut into blocks of ``BLOCK_BATCHES`` explain batches (fewer where there are too
few texts to give every actor one); ``map_batches`` runs
``BlockCurves`` in a pool of ``actors`` actors, each of which loads the artifact once and computes a block's
curves with the very ``perturbation_curves`` of the local engine. A block's curves come back as the bytes of
``Curves.save`` and are pooled text by text in input order, as ``evaluate --curves`` pools the files of runs on
parts of a data set. Each text is explained, perturbed and de-duplicated within its own block, and the random
floor is seeded per text, so the result is the local one up to the float rounding of different padding; Ray
Data restarts an actor that dies and computes its block again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.faithfulness import Curves, Variant, perturbation_curves
from onnxplain.evaluation.protocols import Protocol

BLOCK_BATCHES = 4  # explain batches per Ray Data block (one actor call): enough blocks to spread over actors


class BlockCurves:
    """A Ray Data actor: the artifact loaded once; each call computes the curves of the blocks it is given."""

    def __init__(
        self,
        artifact: str,
        load_options: dict[str, Any],
        texts: Sequence[EncodedText],
        variants: Sequence[Variant],
        protocols: Sequence[Protocol],
        curve_options: dict[str, Any],
    ) -> None:
        from onnxplain.runtime import Explainer

        self.explainer = Explainer.load(artifact, **load_options)
        self.texts, self.variants, self.protocols = texts, variants, protocols
        self.curve_options = curve_options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        saved = []
        for first, last in zip(batch["first"], batch["last"], strict=True):
            curves = perturbation_curves(
                self.explainer, self.texts[first:last], self.variants, self.protocols, **self.curve_options
            )
            stream = io.BytesIO()
            curves.save(stream)
            saved.append(stream.getvalue())
        return {"first": list(batch["first"]), "curves": saved}


def block_batches(texts: int, batch: int, actors: int) -> int:
    """Explain batches per block: ``BLOCK_BATCHES``, fewer where that would leave an actor without a block
    (blocks stay whole explain batches, as the local engine forms them)."""
    batches = -(-texts // batch)
    return max(1, min(BLOCK_BATCHES, -(-batches // max(1, actors))))


def curves_on_ray(
    artifact: str | Path,
    load_options: dict[str, Any],
    texts: Sequence[EncodedText],
    variants: Sequence[Variant],
    protocols: Sequence[Protocol],
    *,
    actors: int,
    actor_cpus: float = 1.0,
    progress: Callable[[int], object] | None = None,
    **curve_options: Any,
) -> Curves:
    """``perturbation_curves`` of ``texts`` on the Ray cluster this process is connected to (``ray.init``
    first), ``actors`` actors of ``actor_cpus`` CPUs each; ``curve_options`` as for ``perturbation_curves``."""
    import ray

    from onnxplain.engines.ray_data import actor_pool, prepare_context

    prepare_context()
    batch = int(curve_options.get("batch_size", 16))
    block = batch * block_batches(len(texts), batch, actors)
    bounds = [{"first": first, "last": min(first + block, len(texts))} for first in range(0, len(texts), block)]
    dataset = ray.data.from_items(bounds, override_num_blocks=len(bounds))
    computed = dataset.map_batches(
        BlockCurves,
        fn_constructor_args=(str(artifact), load_options, list(texts), list(variants), list(protocols), curve_options),
        batch_format="numpy",
        batch_size=1,
        compute=actor_pool(actors),
        num_cpus=actor_cpus,
    )
    parts: list[io.BytesIO] = []
    for row in computed.iter_rows():
        parts.append(io.BytesIO(row["curves"]))
        if progress is not None:
            progress(min(block, len(texts) - int(row["first"])))
    if not parts:
        raise ValueError("no texts to evaluate")
    return Curves.load(*parts)
