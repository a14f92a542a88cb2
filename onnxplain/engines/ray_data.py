"""How onnxplain's Ray Data jobs (``explain-bulk --engine ray``, ``evaluate --engine ray``) set up Ray Data."""

from __future__ import annotations

from typing import Any


def prepare_context() -> Any:
    """The current ``ray.data.DataContext``, set for an onnxplain job: results in input order, no progress
    bars (the commands print their own), and no limit on how long a block may take without output.

    Ray Data stops a job in which no block has moved for 30 minutes (``execution_no_progress_timeout_s``).
    A block of an evaluation is four explain batches and their perturbed copies under every protocol:
    with ``mpnet-sentiment`` about 20 processor-seconds per text, so 64 texts per block took longer than
    that on a shared machine and the run was stopped half-way, its work lost. A dead actor is reported by
    Ray itself, so the job does not wait on one for ever without this limit."""
    import ray

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.execution_no_progress_timeout_s = -1
    return context


def actor_pool(actors: int) -> Any:
    """A fixed pool of ``actors`` actors that each take one block at a time.

    Ray Data hands an actor more than one block by default (tasks in flight per actor): with 3 blocks for 2
    actors, one actor held two; once the other had finished its block it was let go ("consumed all inputs")
    and the two blocks ran one after the other on one actor while a core stood idle (seen on an MPNet
    evaluation: 27 processor-minutes per block). One block at a time, the next block goes to the actor that
    is free first. A block is seconds to minutes of work, so the round trip this gives up is negligible."""
    import ray

    return ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1)
