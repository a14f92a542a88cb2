"""The memory budget's parts that need no artifact: sizes, the default, the working-memory fit, the packing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from onnxplain.errors import UserError
from onnxplain.runtime import memory_budget, process_memory
from onnxplain.runtime.batch_plan import OverBudget, fits_one_call, pack
from onnxplain.runtime.memory_budget import default_budget, format_size, parse_size
from onnxplain.runtime.memory_model import WorkingMemory, fit, measure_call, probe, probe_shapes

MIB = 2**20


@pytest.mark.parametrize(
    "text, size",
    [("2GiB", 2 * 2**30), (" 512 MiB ", 512 * MIB), ("1.5GB", 1_500_000_000), ("64k", 64_000), (4096, 4096)],
)
def test_sizes_are_read_in_bytes_and_binary_or_decimal_units(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["two gigs", "5 parsecs", "0", "-1GiB", "", True])
def test_a_size_that_is_not_one_is_refused_in_one_sentence(text: object) -> None:
    with pytest.raises(UserError, match="memory size"):
        parse_size(text)  # type: ignore[arg-type]


def test_sizes_are_shown_in_binary_units() -> None:
    assert format_size(2 * 2**30) == "2.0 GiB" and format_size(1536 * 2**10) == "1.5 MiB" and format_size(12) == "12 B"


def test_the_default_budget_is_three_quarters_of_the_cgroup_limit_less_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    monkeypatch.setattr(memory_budget, "CGROUP_V2_LIMIT", v2)
    monkeypatch.setattr(memory_budget, "CGROUP_V1_LIMIT", v1)
    v2.write_text("4294967296\n")
    budget = default_budget(loaded_bytes=500 * MIB)
    assert budget.bytes == 3 * 2**30 - 500 * MIB and str(v2) in budget.source and "500.0 MiB" in budget.source
    v2.write_text("max\n")  # no v2 limit: the v1 file, here saying "no limit" too, then the machine's RAM
    v1.write_text(str(2**63 - 4096))
    budget = default_budget(loaded_bytes=0)
    assert "machine's RAM" in budget.source and budget.bytes == int(0.75 * memory_budget.machine_memory())
    shared = default_budget(loaded_bytes=100 * MIB, processes=3)  # two Ray actors and their driver
    assert shared.bytes == int(0.75 * memory_budget.machine_memory()) // 3 - 100 * MIB
    assert "shared by 3 processes" in shared.source
    v1.write_text(str(2**30))  # a small container: never below the floor
    assert default_budget(loaded_bytes=2**30).bytes == memory_budget.MINIMUM_DEFAULT


def test_the_fit_recovers_a_known_model_and_covers_every_measured_call() -> None:
    truth = WorkingMemory(fixed=2 * MIB, per_token=40_000, per_token_pair=900)
    probes = [(b, t, truth.bytes(b, t)) for b, t in probe_shapes(512)]
    model = fit(probes)
    for batch, tokens, measured in probes:
        assert measured <= model.bytes(batch, tokens) <= measured * 1.12
    assert model.bytes(32, 512) == pytest.approx(truth.bytes(32, 512) * 1.1, rel=0.02)
    noisy = [(b, t, int(m * f)) for (b, t, m), f in zip(probes, [1.2, 0.9, 1.05, 1.0, 0.95], strict=True)]
    model = fit(noisy)
    assert all(model.bytes(b, t) >= m for b, t, m in noisy)
    assert WorkingMemory.from_json(model.to_json()) == model


def test_probe_shapes_run_cheapest_first_and_tell_batch_from_length() -> None:
    assert probe_shapes(512) == [(1, 64), (1, 128), (4, 128), (1, 256), (1, 512)]
    assert probe_shapes(16) == [(1, 2), (1, 4), (4, 4), (1, 8), (1, 16)]


needs_proc = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measuring memory needs Linux /proc")


@needs_proc
def test_a_call_is_measured_by_how_much_it_raises_resident_memory() -> None:
    measured = measure_call(lambda: np.ones(64 * MIB // 8).sum())  # 64 MiB, touched
    assert measured is not None and 60 * MIB <= measured <= 80 * MIB


@needs_proc
def test_a_reset_the_kernel_ignores_is_noticed_and_the_call_is_measured_by_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    np.ones(96 * MIB // 8).sum()  # a peak well above what is resident once it is freed
    process_memory.trim()
    monkeypatch.setattr(process_memory, "_clear_refs", lambda: None)  # what such a kernel does with the request
    assert not process_memory.reset_high_water_mark()

    def call() -> float:  # 64 MiB, touched, held for 20 ms: under the lifetime peak, so the mark cannot tell
        block = np.ones(64 * MIB // 8)
        time.sleep(0.02)
        return float(block.sum())

    watched = process_memory.watch(call)
    assert watched.value == 64 * MIB // 8 and not watched.exact
    measured = measure_call(call)
    assert measured is not None and 60 * MIB <= measured <= 80 * MIB


@needs_proc
def test_the_probe_measures_each_shape_and_skips_those_over_the_limit() -> None:
    calls: list[tuple[int, int]] = []

    def run(batch: int, tokens: int) -> object:  # 64 bytes per token pair: 16 MiB for one text of 512
        calls.append((batch, tokens))
        return np.ones(batch * tokens * tokens * 8).sum()

    model = probe(run, 512, limit=64 * MIB)
    assert model is not None
    assert calls == [(1, 2), (1, 64), (1, 128), (4, 128), (1, 256), (1, 512)]
    assert 16 * MIB <= model.bytes(1, 512) <= 16 * MIB * 1.4
    calls.clear()
    probe(run, 512, limit=5 * MIB)  # (1, 512) would need about 16 MiB
    assert (1, 512) not in calls and (1, 256) in calls


def test_texts_are_packed_longest_first_within_the_budget_and_the_count() -> None:
    def cost(batch: int, tokens: int) -> int:
        return batch * tokens * tokens

    lengths = [100] * 9 + [10] * 20 + [50, 7]
    budget = 4 * 100 * 100
    batches = pack(lengths, cost, budget, max_batch=16, method="mask-lrp")
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 16 and cost(len(batch), max(lengths[i] for i in batch)) <= budget
        assert lengths[batch[0]] == max(lengths[i] for i in batch)  # padded to its first text
    assert [len(b) for b in batches][:3] == [4, 4, 4] and len(batches) == 5
    assert fits_one_call([100, 100, 10], cost, budget, 16) and not fits_one_call([100] * 5, cost, budget, 16)


def test_a_text_too_large_for_the_budget_alone_is_refused_naming_the_budget_and_its_length() -> None:
    def cost(batch: int, tokens: int) -> int:
        return batch * tokens * MIB

    with pytest.raises(OverBudget) as refused:
        pack([5, 300, 12], cost, budget=256 * MIB, max_batch=8, method="mask-lrp")
    message = str(refused.value)
    assert "text 1 has 300 tokens" in message and "300.0 MiB" in message and "memory budget of 256.0 MiB" in message
    assert message.count(".") <= 3  # one sentence (the dots are the two sizes' decimals)


@needs_proc
def test_a_large_call_that_outgrows_its_model_refits_it_and_a_small_noisy_one_does_not() -> None:
    from onnxplain.runtime.memory_budget import MemoryBudget
    from onnxplain.runtime.memory_planner import MemoryPlanner

    planner = MemoryPlanner(MemoryBudget(256 * MIB, "test"), 0, 2048, lambda m, b, t: None, lambda: 0)
    per_pair = 80 * MIB / 1000**2  # the model says 80 MiB for one text of 1000 tokens
    planner.models["m"] = WorkingMemory(0.0, 0.0, per_pair, probes=((1, 1000, 80 * MIB),))
    small = planner.models["m"]
    planner.run_call(("m",), 1, 64, lambda: np.ones(64 * MIB // 8).sum())  # 64 MiB where 0.3 MiB was foreseen
    assert planner.models["m"] is small  # too small a call to matter to the budget: other threads' noise
    planner.run_call(("m",), 1, 1000, lambda: np.ones(128 * MIB // 8).sum())
    assert planner.models["m"].bytes(1, 1000) >= 120 * MIB


@needs_proc
def test_only_a_call_large_enough_to_refit_from_has_its_peak_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    from onnxplain.runtime.memory_budget import MemoryBudget
    from onnxplain.runtime.memory_planner import MemoryPlanner

    watched: list[int] = []
    real_watch = process_memory.watch

    def counted_watch(call):  # type: ignore[no-untyped-def]
        watched.append(1)
        return real_watch(call)

    monkeypatch.setattr(process_memory, "watch", counted_watch)
    planner = MemoryPlanner(MemoryBudget(256 * MIB, "test"), 0, 2048, lambda m, b, t: None, lambda: 0)
    planner.models["m"] = WorkingMemory(0.0, 0.0, 80 * MIB / 1000**2, probes=((1, 1000, 80 * MIB),))
    planner.models["n"] = planner.models["m"]
    assert planner.run_call(("m",), 1, 64, lambda: 7) == 7  # 0.3 MiB foreseen: its peak would teach nothing
    assert planner.run_call(("m", "n"), 1, 1000, lambda: 8) == 8  # 160 MiB, but two methods: no one model to refit
    assert watched == []
    assert planner.run_call(("m",), 1, 1000, lambda: 9) == 9  # 80 MiB, over a quarter of the budget
    assert watched == [1]


def freed_blocks(count: int, size: int) -> None:
    """Allocate, touch and free ``count`` blocks of ``size`` bytes (each below glibc's raised mmap threshold)."""
    blocks = [np.ones(size // 8) for _ in range(count)]
    del blocks


@needs_proc
def test_freed_blocks_stay_in_the_heap_for_the_next_call_until_trimmed() -> None:
    if not process_memory.reuse_freed_heap():
        pytest.skip("the C library has no mallopt (not glibc)")
    process_memory.trim()
    before = process_memory.resident_bytes()
    freed_blocks(4, 16 * MIB)  # 64 MiB freed: kept, where glibc's defaults would have unmapped each block
    kept = process_memory.resident_bytes()
    process_memory.trim()
    trimmed = process_memory.resident_bytes()
    assert before is not None and kept is not None and trimmed is not None
    assert kept - before >= 48 * MIB, (before, kept)
    assert kept - trimmed >= 48 * MIB, (kept, trimmed)


@needs_proc
def test_the_kept_heap_is_handed_back_before_a_call_it_could_push_over_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from onnxplain.runtime.memory_budget import MemoryBudget
    from onnxplain.runtime.memory_planner import MemoryPlanner

    if not process_memory.reuse_freed_heap():
        pytest.skip("the C library has no mallopt (not glibc)")
    trims: list[int | None] = []
    real_trim = process_memory.trim

    def counted_trim() -> bool:
        trims.append(process_memory.resident_bytes())
        return real_trim()

    real_trim()
    loaded = process_memory.resident_bytes() or 0
    planner = MemoryPlanner(MemoryBudget(150 * MIB, "test"), loaded, 2048, lambda m, b, t: None, lambda: 0)
    planner.models["m"] = WorkingMemory(0.0, 0.0, 30 * MIB / 1000**2, probes=((1, 1000, 30 * MIB),))  # 30 MiB
    monkeypatch.setattr(process_memory, "trim", counted_trim)
    small = lambda: np.ones(MIB // 8).sum()  # noqa: E731

    planner.run_call(("m",), 1, 1000, small)  # 30 MiB foreseen, nothing kept: the heap is left as it is
    assert trims == []
    freed_blocks(8, 16 * MIB)  # 128 MiB kept: with the next call's 30 MiB over the 150 MiB budget
    planner.run_call(("m",), 1, 1000, small)
    assert len(trims) == 1 and trims[0] is not None and trims[0] - loaded >= 100 * MIB
    planner.run_call(("m",), 1, 1000, small)  # handed back: nothing to trim again
    assert len(trims) == 1
    planner.run_call(("m",), 2, 1000, small)  # 60 MiB, over a quarter of the budget: measured from a clean heap
    assert len(trims) == 2
