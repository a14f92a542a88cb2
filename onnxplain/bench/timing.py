"""Interleaved timing: every candidate runs once per round, so load from other processes on a shared machine
hits all of them alike, and the median over rounds is what is reported."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate: the median and every measured round."""

    median: float
    rounds: tuple[float, ...]

    def to_json(self) -> dict[str, object]:
        return {"median_s": self.median, "rounds_s": list(self.rounds)}


def interleaved(candidates: Mapping[str, Callable[[], object]], rounds: int, budget_s: float) -> dict[str, Timing]:
    """Run each candidate once to warm it up, then ``rounds`` rounds of one call each, in turn.

    The warm-up call is never a measurement: a runtime's first call of a method builds its session (and, on
    CPU, optimises and schedules its graph), which can take longer than the call itself. A candidate whose
    warm-up call alone takes longer than ``budget_s`` / ``rounds`` gets fewer rounds, so that one slow
    yardstick does not hold the grid up, but at least one; the others still get ``rounds``.
    """
    warm: dict[str, float] = {}
    for name, call in candidates.items():
        start = time.perf_counter()
        call()
        warm[name] = time.perf_counter() - start
    wanted = {name: max(1, min(rounds, int(budget_s / max(seconds, 1e-9)))) for name, seconds in warm.items()}
    measured: dict[str, list[float]] = {name: [] for name in candidates}
    for round_index in range(max(wanted.values(), default=0)):
        for name, call in candidates.items():
            if round_index >= wanted[name]:
                continue
            start = time.perf_counter()
            call()
            measured[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(times), tuple(times)) for name, times in measured.items()}
