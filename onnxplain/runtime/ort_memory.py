"""How ONNX Runtime manages the CPU memory of a session's calls: its arena, memory patterns, arena shrinkage.

ONNX Runtime's defaults suit a fixed shape run again and again: a per-session arena that grows to the
largest call and keeps it, and a memory pattern (one planned block per input shape). An explainer sees a
new batch shape at almost every call and keeps several sessions (one per method set), so with the defaults
each session holds on to the peak of its largest call. ``benchmarks/ort_memory_settings.py`` measures every
combination on a mixed workload; the figures and the choice are in ``docs/memory.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnxruntime as ort

from onnxplain.runtime import process_memory

SHRINK_CPU_ARENA = ("memory.enable_memory_arena_shrinkage", "cpu:0")


@dataclass(frozen=True)
class OrtMemorySettings:
    """``cpu_arena``: ONNX Runtime's own CPU allocator arena (off: the C library's malloc, which gives large
    blocks back when freed); ``memory_pattern``: plan one block per input shape; ``arena_shrinkage``: hand
    the arena's unused chunks back after every call (only with the arena); ``reuse_heap``: without the arena,
    keep freed blocks in the C heap for the next call (``process_memory.reuse_freed_heap``, process-wide)."""

    cpu_arena: bool = False
    memory_pattern: bool = False
    arena_shrinkage: bool = False
    reuse_heap: bool = True

    def apply(self, options: ort.SessionOptions) -> ort.SessionOptions:
        if self.reuse_heap and not self.cpu_arena:
            process_memory.reuse_freed_heap()
        options.enable_cpu_mem_arena = self.cpu_arena
        options.enable_mem_pattern = self.memory_pattern
        return options

    def run_options(self) -> ort.RunOptions | None:
        if not (self.cpu_arena and self.arena_shrinkage):
            return None
        run_options = ort.RunOptions()
        run_options.add_run_config_entry(*SHRINK_CPU_ARENA)
        return run_options

    @property
    def name(self) -> str:
        if not self.cpu_arena:
            heap = ", freed heap kept" if self.reuse_heap else ""
            return "no arena" + (", memory pattern" if self.memory_pattern else "") + heap
        parts = ["arena", "memory pattern" if self.memory_pattern else "no memory pattern"]
        return ", ".join(parts + (["shrinkage"] if self.arena_shrinkage else []))


ONNXRUNTIME_DEFAULTS = OrtMemorySettings(cpu_arena=True, memory_pattern=True, arena_shrinkage=False)
CHOSEN = OrtMemorySettings()  # see docs/memory.md for the measurements behind it
