"""Running Ray (which advertises the machine's own network address) where only loopback exists.

``in_loopback_namespace(argv)`` wraps a command in new network, PID and mount namespaces
(``unshare --net --pid --fork --mount-proc --map-root-user``) with only ``lo``, brought up: Ray can then use
nothing but 127.0.0.1, and when the command ends every process it started (Ray's too) is ended with the
namespace. ``loopback_only()`` is what the command checks about where it runs.
"""

from __future__ import annotations

import errno
import shlex
import shutil
import socket
from pathlib import Path

TOOLS = ("unshare", "ip")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def in_loopback_namespace(argv: list[str]) -> list[str]:
    inner = "ip link set lo up && exec " + " ".join(shlex.quote(a) for a in argv)
    return ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--map-root-user", "sh", "-c", inner]


def loopback_only() -> dict[str, bool]:
    """Facts about this process's network: only ``lo`` exists, and a non-loopback address is unreachable."""
    names = [name for _, name in socket.if_nameindex()]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed; a UDP connect sends nothing
        unreachable = False
    except OSError as error:
        unreachable = error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    finally:
        probe.close()
    return {"only_lo": names == ["lo"], "outside_unreachable": unreachable}


def processes_named(fragment: str) -> list[int]:
    """Pids of the processes (in this PID namespace) whose command line contains ``fragment``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in command:
            pids.append(int(entry.name))
    return sorted(pids)
