"""The memory budget: how many bytes an explainer's calls may use beyond the loaded model.

Given as bytes or as a size such as ``"2GiB"``, ``"512MiB"``, ``"1.5GB"``. The default comes from the
memory this process may use: the container's cgroup limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)
where there is one, else the machine's RAM; a quarter of it is left for everything that is not a call
(the interpreter, requests waiting, other processes), and the loaded model is taken off the rest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from onnxplain.errors import UserError

UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
CGROUP_V2_LIMIT = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
UNLIMITED = 2**60  # cgroup v1 writes a page-rounded 2**63 - 1 when there is no limit
SHARE_FOR_CALLS = 0.75  # of the process's memory limit; the rest is for everything that is not a call
MINIMUM_DEFAULT = 256 * 2**20


def parse_size(value: int | float | str) -> int:
    """Bytes of ``2147483648``, ``"2GiB"``, ``"2 GB"``, ``"512m"``, ``"1.5GiB"``; a ``UserError`` otherwise."""
    if isinstance(value, bool):
        raise UserError(f"memory size {value!r} is not a size; give bytes or a size such as 2GiB")
    if isinstance(value, int | float):
        size = int(value)
    else:
        match = SIZE.match(str(value))
        if match is None or match.group(2).lower() not in UNITS:
            raise UserError(f"memory size {value!r} is not a size; write it as bytes or like 2GiB, 512MiB, 1.5GB")
        size = int(float(match.group(1)) * UNITS[match.group(2).lower()])
    if size <= 0:
        raise UserError(f"memory size {value!r} is not positive; give a size such as 2GiB")
    return size


def format_size(size: float) -> str:
    """``2147483648`` -> ``"2.0 GiB"``: binary units, one decimal."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"


@dataclass(frozen=True)
class MemoryBudget:
    """``bytes`` the explainer's calls may use beyond the loaded model; ``source`` says where it came from."""

    bytes: int
    source: str

    def __str__(self) -> str:
        return format_size(self.bytes)

    def to_json(self) -> dict[str, object]:
        return {"bytes": self.bytes, "size": str(self), "source": self.source}


def cgroup_limit() -> tuple[int, str] | None:
    """The container's memory limit in bytes and the file it came from; None where there is none."""
    for path in (CGROUP_V2_LIMIT, CGROUP_V1_LIMIT):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < UNLIMITED:
            return int(text), str(path)
    return None


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): assume a small machine
        return 4 * 2**30


def default_budget(loaded_bytes: int, processes: int = 1) -> MemoryBudget:
    """A quarter of the memory limit kept back, the rest shared by ``processes`` processes of this machine
    that each load the model (Ray actors of one run), the loaded model (``loaded_bytes`` resident) taken off
    each share, never below 256 MiB."""
    limit = cgroup_limit()
    total, where = limit if limit is not None else (machine_memory(), "the machine's RAM")
    size = max(MINIMUM_DEFAULT, int(SHARE_FOR_CALLS * total) // processes - loaded_bytes)
    shared = f", shared by {processes} processes," if processes > 1 else ""
    source = (
        f"default: {SHARE_FOR_CALLS:.0%} of {format_size(total)} ({where}){shared} less the loaded model "
        f"({format_size(loaded_bytes)})"
    )
    return MemoryBudget(size, source)


def memory_budget(value: int | float | str | None, loaded_bytes: int) -> MemoryBudget:
    """The budget asked for (bytes or a size string), or the default when ``value`` is None."""
    if value is None:
        return default_budget(loaded_bytes)
    return MemoryBudget(parse_size(value), "given")
