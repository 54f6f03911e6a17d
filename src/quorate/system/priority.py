"""The daemon's CPU priority: real-time round robin for quorated itself, normal priority for what it starts.

Why: heartbeats are late when the daemon waits for a CPU, and a node whose heartbeats are late by a token is
evicted and fenced, though it was only busy. On a machine whose CPUs are taken (a database at full load, a node
starting a thousand services' agents, eight testbed nodes on two cores) a normal-priority daemon waits its turn
behind every busy process; at real-time priority it runs as soon as it has work, which is little. corosync does
the same (round robin real-time by default, `-p` to refuse it). The priority is not handed down: agents, the
services they start and the daemon's own helper threads run at normal priority (SCHED_RESET_ON_FORK), so a
service can never starve the machine through quorated. The daemon's own threads (the journal's writer, the
quorum disk's I/O, the worker threads) do not inherit it either, so each takes it as it starts
(`follow_in_this_thread`): a thread at normal priority that holds the interpreter's lock while busy agents
keep it off the CPU would stall the real-time loop behind it (one node went 12 s without a heartbeat so).

The priority stays below the kernel's threaded interrupt handlers (50 on kernels that thread them), so the
interrupts that bring heartbeats in are never held back by the daemon that waits for them.
"""

from __future__ import annotations

import os

REALTIME_PRIORITY = 40
_chosen: int | None = None  # the priority this process runs at, once it does


def run_at_realtime_priority(priority: int = REALTIME_PRIORITY) -> str:
    """Switch this process to SCHED_RR; returns the sentence the log says either way (never raises)."""
    global _chosen
    try:
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
        _chosen = priority
    except (OSError, AttributeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return (
            f"could not run at real-time priority (SCHED_RR {priority}): {why}; running at normal priority, "
            "so heartbeats may be late when this machine's CPUs are busy (run quorated as root with CAP_SYS_NICE, "
            "or pass --no-realtime to say this is intended)"
        )
    return f"running at real-time priority (SCHED_RR {priority}); agents and services run at normal priority"


def follow_in_this_thread() -> None:
    """A thread of the daemon takes the daemon's real-time priority (nothing if the daemon has none)."""
    if _chosen is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(_chosen))
        except OSError:
            pass  # the process could, so the thread can; if not, it runs on at normal priority
