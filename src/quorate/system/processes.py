"""The processes of this PID namespace, read from ``/proc``: which program, which arguments, which parent.

Why: rgmanager stopped an application by signalling its own process (SIGTERM) and watching it go; an agent
that polls once a second makes every stop last at least that second. The resource layer finds the process
here, by its exact arguments, and watches it with a short period. Read-only; a process that ends while it is
being read is simply absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    ppid: int
    argv: tuple[str, ...]


def _read(pid: int, proc: str) -> ProcessInfo | None:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
        with open(f"{proc}/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    argv = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if not argv:
        return None  # a kernel thread or a zombie
    # The command name in parentheses may hold spaces and parentheses: the fields follow the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 2 or fields[0] == "Z":
        return None
    return ProcessInfo(pid, int(fields[1]), argv)


def processes(proc: str = "/proc") -> list[ProcessInfo]:
    """Every live process of this PID namespace with its arguments (zombies and kernel threads left out)."""
    found = []
    for entry in os.listdir(proc):
        if entry.isdigit():
            info = _read(int(entry), proc)
            if info is not None:
                found.append(info)
    return found


def with_arguments(program: str, *pairs: tuple[str, str], proc: str = "/proc") -> list[ProcessInfo]:
    """Processes of ``program`` (same base name) whose arguments hold each ``(option, value)`` pair in a row."""
    name = os.path.basename(program)

    def matches(info: ProcessInfo) -> bool:
        if os.path.basename(info.argv[0]) != name:
            return False
        adjacent = set(zip(info.argv[1:], info.argv[2:], strict=False))
        return all(pair in adjacent for pair in pairs)

    return [info for info in processes(proc) if matches(info)]


def topmost(found: list[ProcessInfo]) -> list[ProcessInfo]:
    """Those of ``found`` whose parent is not among them: the servers' main processes, not their workers."""
    pids = {info.pid for info in found}
    return [info for info in found if info.ppid not in pids]
