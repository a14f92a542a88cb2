"""This process's resident memory, read from Linux's /proc: now (``VmRSS``), the high-water mark (``VmHWM``)
and a reset of that mark, the most a call raised it (``watch``: by the mark where the kernel resets it, by
sampling where it does not), plus ``trim`` to hand freed heap back to the kernel and ``reuse_freed_heap`` to
keep freed blocks for the next call instead.

Everything here answers ``None``/``False`` where there is no /proc (macOS, Windows): callers then fall back
to what they can (``resource.getrusage``'s lifetime peak) or skip measuring.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import resource
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

KIB = 1024
RESET_SLACK_KIB = 256  # how far above resident memory the mark may read just after a reset that took
SAMPLE_SECONDS = 0.0005  # how often resident memory is read where the mark cannot be reset
T = TypeVar("T")
_peak_lock = threading.Lock()
_peak_before_resets = 0  # the high-water mark as it stood before each reset, the largest


def status_kib(field: str) -> int | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in KiB; None where there is no /proc."""
    return status_fields_kib(field)[0]


def status_fields_kib(*fields: str) -> tuple[int | None, ...]:
    """Several such lines from one read of /proc/self/status (one instant); None for each where there is none."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return (None,) * len(fields)
    found: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in fields:
            found[name] = int(rest.split()[0])
    return tuple(found.get(field) for field in fields)


@functools.cache
def _has_proc() -> bool:
    return Path("/proc/self/status").exists()


def resident_bytes() -> int | None:
    """Resident memory now, in bytes."""
    kib = status_kib("VmRSS")
    return None if kib is None else kib * KIB


def _sampled_resident_bytes() -> int:
    """Resident memory now, from /proc/self/statm (cheaper to read than status, for sampling); 0 without."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _page_bytes()
    except (OSError, IndexError, ValueError):
        return 0


@functools.cache
def _page_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def _clear_refs() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def reset_high_water_mark() -> bool:
    """Set ``VmHWM`` back to the present ``VmRSS`` (``/proc/self/clear_refs``); False where not allowed, or
    where the mark read back stands above resident memory (a kernel or sandbox that takes the request and
    ignores it, or another thread that freed memory in between): every call would otherwise measure the
    distance to an old peak, whatever it needed. The mark it clears is kept for ``process_peak_bytes``."""
    global _peak_before_resets
    with _peak_lock:
        mark = status_kib("VmHWM")
        if mark is not None:
            _peak_before_resets = max(_peak_before_resets, mark * KIB)
        try:
            _clear_refs()
        except OSError:
            return False
        mark, resident = status_fields_kib("VmHWM", "VmRSS")
        return mark is not None and resident is not None and mark - resident <= RESET_SLACK_KIB


def peak_resident_bytes() -> int:
    """The high-water mark of resident memory since the last reset (or, without /proc, since start)."""
    kib = status_kib("VmHWM")
    if kib is None:  # ru_maxrss is KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * KIB
    return kib * KIB


def process_peak_bytes() -> int:
    """The most this process has held resident since it started, whatever resets of ``VmHWM`` came between."""
    with _peak_lock:
        return max(_peak_before_resets, peak_resident_bytes())


@dataclass(frozen=True)
class Watched(Generic[T]):
    """What a watched call returned, the most resident memory reached while it ran (bytes; None without
    /proc) and whether the kernel's mark measured it (``exact``) or sampling every half millisecond did."""

    value: T
    peak_bytes: int | None
    exact: bool


def watch(call: Callable[[], T]) -> Watched[T]:
    """Run ``call`` and measure the peak of resident memory while it ran: the kernel's high-water mark,
    reset just before, where the kernel honours the reset; otherwise the largest of resident memory read
    by a thread every ``SAMPLE_SECONDS`` and once after the call (freed blocks kept in the heap stay
    resident, so the latter counts them even where the call was too short to be sampled). Sampling can
    miss a block that lives under half a millisecond: a lower bound, which the memory model's margin
    covers."""
    if not _has_proc():
        return Watched(call(), None, False)
    if reset_high_water_mark():
        value = call()
        return Watched(value, peak_resident_bytes(), True)
    done = threading.Event()
    most = [0]

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            most[0] = max(most[0], _sampled_resident_bytes())

    sampler = threading.Thread(target=sample, name="onnxplain-memory-sampler", daemon=True)
    sampler.start()
    try:
        value = call()
    finally:
        done.set()
        sampler.join()
    return Watched(value, max(most[0], resident_bytes() or 0), False)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name)
        library.malloc_trim  # noqa: B018 (glibc only: musl and others have none)
    except (OSError, AttributeError, TypeError):
        return None
    return library


def trim() -> bool:
    """Return the C heap's free pages to the kernel (glibc ``malloc_trim``), so that resident memory shows
    what is in use; False where the C library has no such call."""
    library = _libc()
    if library is None:
        return False
    library.malloc_trim(0)
    return True


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # the largest glibc accepts on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int: free memory at the top of the heap is kept up to 2 GiB


@functools.cache
def reuse_freed_heap() -> bool:
    """Keep blocks of up to 32 MiB that ONNX Runtime frees in the C heap for the next call (glibc ``mallopt``;
    once per process; False where the C library has no such call).

    Without ONNX Runtime's own arena every intermediate tensor is a ``malloc``, and glibc serves blocks
    over its mmap threshold (128 KiB at start, raised only as blocks are freed) by a fresh ``mmap`` that
    is handed back at ``free``: every page of every large intermediate is then faulted in and zeroed by the
    kernel at each call. Measured on MiniLM's ``mask-lrp`` at 8 x 128 tokens (1 thread): 1,650 ms per call,
    against 1,225 ms with freed blocks kept (kernel time 4.0 s against 0.9 s over the run); see
    docs/memory.md. The heap is still handed back by ``trim``, which the memory planner calls when the kept
    blocks and the next call could together exceed the budget."""
    library = _libc()
    if library is None or not hasattr(library, "mallopt"):
        return False
    mmap = library.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
    return bool(mmap and library.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
