"""The Ray Data settings onnxplain's jobs run under (``onnxplain.engines.ray_data``); no cluster is started."""

from __future__ import annotations

import pytest


def test_jobs_keep_order_and_have_no_progress_deadline() -> None:
    """A block of an evaluation may legitimately take longer than Ray Data's default 30 minutes without
    output (it stopped an MPNet run half-way): the jobs lift that deadline and keep input order."""
    ray_data = pytest.importorskip("ray.data")
    from onnxplain.engines.ray_data import prepare_context

    context = ray_data.DataContext.get_current()
    saved = (context.execution_no_progress_timeout_s, context.execution_options.preserve_order)
    try:
        context.execution_no_progress_timeout_s = 1800
        context.execution_options.preserve_order = False
        prepared = prepare_context()
        assert prepared is context
        assert context.execution_no_progress_timeout_s == -1
        assert context.execution_options.preserve_order
        assert not context.enable_progress_bars
    finally:
        context.execution_no_progress_timeout_s, context.execution_options.preserve_order = saved


def test_the_actor_pool_gives_each_actor_one_block_at_a_time() -> None:
    """With Ray Data's default several blocks in flight per actor, 3 MPNet blocks on 2 actors ran two of them
    one after the other on one actor once the other actor, done, was let go; the pool takes one at a time."""
    pytest.importorskip("ray.data")
    from onnxplain.engines.ray_data import actor_pool

    pool = actor_pool(3)
    assert (pool.min_size, pool.max_size) == (3, 3)
    assert pool.max_tasks_in_flight_per_actor == 1
