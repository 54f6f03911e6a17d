"""The daemon's CPU priority: real-time round robin for quorated itself, normal priority for what it starts.

Why: heartbeats are late when the daemon waits for a CPU, and a node whose heartbeats are late by a token is
evicted and fenced, though it was only busy. On a machine whose CPUs are taken (a database at full load, a node
starting a thousand services' agents, eight testbed nodes on two cores) a normal-priority daemon waits its turn
behind every busy process; at real-time priority it runs as soon as it has work, which is little. corosync does
the same (round robin real-time by default, `-p` to refuse it). The priority is not handed down: agents, the
services they start and the daemon's own helper threads run at normal priority (SCHED_RESET_ON_FORK), so a
service can never starve the machine through quorated.

The priority stays below the kernel's threaded interrupt handlers (50 on kernels that thread them), so the
interrupts that bring heartbeats in are never held back by the daemon that waits for them.
"""

from __future__ import annotations

import os

REALTIME_PRIORITY = 40


def run_at_realtime_priority(priority: int = REALTIME_PRIORITY) -> str:
    """Switch this process to SCHED_RR; returns the sentence the log says either way (never raises)."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return (
            f"could not run at real-time priority (SCHED_RR {priority}): {why}; running at normal priority, "
            "so heartbeats may be late when this machine's CPUs are busy (run quorated as root with CAP_SYS_NICE, "
            "or pass --no-realtime to say this is intended)"
        )
    return f"running at real-time priority (SCHED_RR {priority}); agents and services run at normal priority"
