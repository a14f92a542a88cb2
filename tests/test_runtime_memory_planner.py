"""An explainer under a memory budget: probed once per artifact (then cached), batches that fit it, the same
answers as without it, and a text too large for it refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxplain.runtime import Explainer
from onnxplain.runtime.batch_plan import OverBudget
from onnxplain.runtime.memory_budget import MemoryBudget

needs_proc = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measuring memory needs Linux /proc")
pytestmark = needs_proc

ATOL = 3e-7  # rollouts add attention to the identity in float32: another batch moves values by its rounding of 1
TEXTS = [  # about 420, 3, 300, 4 and 280 tokens: the long ones well above what a test process moves around a call
    "A gripping, beautifully shot film. " * 60,
    "dull",
    "The plot meanders for two hours and the ending makes no sense at all. " * 20,
    "Charming.",
    "Not bad, not great; somewhere in between. " * 28,
]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path_factory.getbasetemp() / "memory-cache"))


@pytest.fixture(scope="module")
def unlimited(long_artifact: Path) -> Explainer:
    return Explainer.load(long_artifact, memory_budget="unlimited")


def test_the_working_memory_is_probed_once_and_read_back_from_the_cache(
    long_artifact: Path, memory_measuring: str
) -> None:
    first = Explainer.load(long_artifact, memory_budget="1GiB")
    assert first.memory.budget == MemoryBudget(2**30, "given")
    model = first.memory.working_memory("mask-lrp")
    assert model is not None and len(model.probes) == 5
    assert model.bytes(4, 512) > model.bytes(1, 512) > model.bytes(1, 64) > 0
    again = Explainer.load(long_artifact, memory_budget="1GiB")
    assert again.memory.measured("mask-lrp") and again.memory.models["mask-lrp"] == model
    default = Explainer.load(long_artifact)
    assert default.memory.budget is not None and default.memory.budget.source.startswith("default")
    assert default.memory.loaded_bytes > 0


def test_batches_fit_the_budget_and_explanations_equal_those_without_one(
    long_artifact: Path, unlimited: Explainer, memory_measuring: str
) -> None:
    probed = Explainer.load(long_artifact, batch_size=64)
    model = probed.memory.working_memory("mask-lrp")
    assert model is not None
    lengths = [len(e) for e in probed.tokenize(TEXTS)]
    budgeted = Explainer.load(long_artifact, batch_size=64, memory_budget=model.bytes(2, max(lengths)))
    batches = budgeted.memory.batches(lengths, "mask-lrp", 64)
    budget = budgeted.memory.call_budget
    assert budget is not None and len(batches) >= 2 and len(max(batches, key=len)) > 2  # short texts pack tighter
    assert all(model.bytes(len(b), max(lengths[i] for i in b)) <= budget for b in batches)
    for ours, reference in zip(budgeted.explain(TEXTS), unlimited.explain(TEXTS), strict=True):
        np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-5, atol=ATOL)
        assert ours.label == reference.label


def test_a_text_too_large_for_the_budget_is_refused_naming_it(long_artifact: Path, memory_measuring: str) -> None:
    probed = Explainer.load(long_artifact)
    model = probed.memory.working_memory("mask-lrp")
    assert model is not None
    long_text, short_text = TEXTS[0], TEXTS[1]
    tokens = len(probed.tokenize(long_text)[0])
    small = Explainer.load(long_artifact, memory_budget=(model.bytes(1, tokens) + model.bytes(1, 8)) // 2)
    with pytest.raises(OverBudget, match=rf"text 1 has {tokens} tokens.*more than the memory budget of"):
        small.explain([short_text, long_text])
    assert small.explain(short_text)[0].tokens


def test_a_call_of_several_methods_is_split_into_rows_that_fit(long_artifact: Path, unlimited: Explainer) -> None:
    explainer = Explainer.load(long_artifact, memory_budget="1GiB")
    methods = ("mask-lrp", "attnlrp")
    ids = np.tile(explainer.tokenize(TEXTS[0])[0].ids, (6, 1))
    explainer.run(ids[:1], np.ones_like(ids[:1]), methods)  # probes both methods, builds the joint session
    cost = explainer.memory.cost(methods)
    assert cost is not None
    explainer.memory.budget = MemoryBudget(cost(2, ids.shape[1]) + explainer.memory._added_sessions_bytes(), "test")
    assert explainer.memory.rows_per_call(methods, 6, ids.shape[1]) == 2
    ours = explainer.run(ids, np.ones_like(ids), methods)
    reference = unlimited.run(ids, np.ones_like(ids), methods)
    for name in ("logits", *methods):
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-5, atol=ATOL)


def test_unlimited_bounds_batches_by_count_only(unlimited: Explainer) -> None:
    assert unlimited.memory.budget is None and unlimited.memory.working_memory("mask-lrp") is None
    assert unlimited.memory.batches([5, 50, 9], "mask-lrp", 2) == [[1, 2], [0]]
