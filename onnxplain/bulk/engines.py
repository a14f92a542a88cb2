"""The two engines of ``explain-dataset``: a loop in this process, or Ray Data with one actor per ONNX Runtime
session. Both feed the same ``RowExplainer`` the same chunks and write through the same ``PartWriter``, so
they give identical results.

On Ray, the rows become a dataset of blocks (whole chunks each), ``map_batches`` runs ``RowExplainer`` in a
pool of ``actors`` actors (each loads the artifact once), and the results stream back in input order to this
process, which writes the parts. Ray Data restarts an actor that dies and runs its batch again; the writer
drops any row it has already written, so every row lands exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from onnxplain.bulk.explain_rows import RowExplainer
from onnxplain.bulk.parts import PartWriter

CHUNKS_PER_BLOCK = 8  # chunks per Ray Data block (one actor call): small enough to spread, large enough to pay


def blocks(rows: pa.Table, chunk_rows: int, chunks_per_block: int = CHUNKS_PER_BLOCK) -> Iterator[pa.Table]:
    """``rows`` cut into blocks of whole chunks (consecutive ``position // chunk_rows`` values)."""
    chunk_of = rows.column("position").to_numpy() // chunk_rows
    if len(chunk_of) == 0:
        return
    # a new block starts where the chunk changes for the chunks_per_block-th time
    starts = np.flatnonzero(np.diff(chunk_of, prepend=chunk_of[0] - 1))
    for first in range(0, len(starts), chunks_per_block):
        begin = int(starts[first])
        end = int(starts[first + chunks_per_block]) if first + chunks_per_block < len(starts) else len(chunk_of)
        yield rows.slice(begin, end - begin)


def connect_ray(address: str | None, actors: int) -> None:
    """Join the Ray cluster at ``address``, or start one on this machine with at least ``actors`` CPUs (once:
    a session already connected is kept)."""
    import os

    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, num_cpus=max(os.cpu_count() or 1, actors))


def explain_local(rows: pa.Table, explainer: RowExplainer, writer: PartWriter, progress: Callable[[int], None]) -> None:
    for block in blocks(rows, explainer.chunk_rows):
        progress(writer.add(explainer(block)))
    writer.flush()


def explain_on_ray(
    rows: pa.Table,
    explainer_args: tuple[str, Sequence[str], int, dict[str, Any]],
    actors: int,
    writer: PartWriter,
    progress: Callable[[int], None],
    actor_cpus: float = 1.0,
) -> None:
    """Run on the Ray cluster this process is connected to (``ray.init`` first)."""
    import ray

    from onnxplain.engines.ray_data import actor_pool, prepare_context

    prepare_context()
    chunk_rows = explainer_args[2]
    dataset = ray.data.from_arrow(list(blocks(rows, chunk_rows)))
    explained = dataset.map_batches(
        RowExplainer,
        fn_constructor_args=explainer_args,
        batch_format="pyarrow",
        batch_size=None,
        compute=actor_pool(actors),
        num_cpus=actor_cpus,
    )
    for table in explained.iter_batches(batch_format="pyarrow", batch_size=None):
        progress(writer.add(table))
    writer.flush()
