"""quorated's CPU priority: real-time for the daemon, normal for every process it starts."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os, subprocess, sys, threading
from quorate.system.priority import follow_in_this_thread, run_at_realtime_priority
said = run_at_realtime_priority()
child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                       capture_output=True, text=True, check=True).stdout.strip()
seen = []
def thread(follow):
    if follow:
        follow_in_this_thread()
    seen.append(os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK)
for follow in (True, False):
    t = threading.Thread(target=thread, args=(follow,)); t.start(); t.join()
print(said)
print(os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK, os.sched_getparam(0).sched_priority, child, *seen)
"""


def test_the_daemon_runs_round_robin_and_what_it_starts_does_not() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    said, figures = out.strip().splitlines()
    policy, priority, child, following, other = (int(x) for x in figures.split())
    assert child == os.SCHED_OTHER, "an agent must not inherit the daemon's priority"
    assert other == os.SCHED_OTHER, "nor a thread, unless it takes it (SCHED_RESET_ON_FORK)"
    if os.geteuid() == 0:
        assert said.startswith("running at real-time priority (SCHED_RR 40)")
        assert (policy, priority) == (os.SCHED_RR, 40)
        assert following == os.SCHED_RR, "the daemon's threads run at its priority: none holds the GIL behind it"
    else:  # refused: said so, with the way out, and nothing changed
        assert said.startswith("could not run at real-time priority (SCHED_RR 40): ")
        assert "--no-realtime" in said
        assert policy == os.SCHED_OTHER
