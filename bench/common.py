"""What every benchmark shares: the figures and their targets, results, daemon-log times, process costs.

Theory of operation: a benchmark measures on the testbed and records values under a figure's key; nothing
here asserts anything. Times of cluster events come from the daemons' own log stamps (every namespace shares
the host clock, and a stamp is taken where the event happens, not when a poller notices it). Whole-process
times of commands are taken *inside* the node by a small timer program, so nsenter's cost is not counted.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from quorate.testbed import Testbed, missing_prerequisites

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) quorated\[\d+\]: (.*)$")
BIN = Path(sys.executable).parent


class BenchError(Exception):
    """A trial could not measure what it wanted (a timeout, a failed command); the message says what."""


@dataclass(frozen=True)
class Figure:
    """One printed line: ``limit`` is the target on the median, in ``unit`` (None: no target)."""

    key: str
    label: str
    unit: str
    limit: float | None
    target: str


def figures(token_ms: int) -> list[Figure]:
    """The figures measured at one token, in the order they are printed (targets as README.md, Benchmarks,
    lists them)."""
    failover = token_ms + 150
    idle_limit = 0.2 if token_ms >= 10000 else 1.0
    return [
        Figure("start_to_quorate", "start of 3 nodes to quorate", "ms", None, "-"),
        Figure("start_to_service", "start of 3 nodes to service started", "ms", 2000, "<= 2000 ms"),
        Figure("relocate", "relocate (clusvcadm -r, whole command)", "ms", 180, "<= 180 ms"),
        Figure("failover_owner_not_coordinator", "kill owner (not coordinator) to started", "ms", failover,
               f"<= token + 150 = {failover} ms"),
        Figure("failover_owner_coordinator", "kill owner (coordinator) to started", "ms", failover,
               f"<= token + 150 = {failover} ms"),
        Figure("kill_to_fenced", "kill (not coordinator) to fence confirmed", "ms", None, "-"),
        Figure("after_detection", "detection to the start command, fence incl.", "ms", 150, "<= 150 ms"),
        Figure("after_detection_started", "detection to the service started", "ms", None, "-"),
        Figure("step_view", "  detection to the new view installed", "ms", None, "-"),
        Figure("step_fence_decision", "  view to the fence agent launched", "ms", None, "-"),
        Figure("step_fence_agent", "  fence agent run, to confirmed", "ms", None, "-"),
        Figure("step_placement", "  fence confirmed to the start decided", "ms", None, "-"),
        Figure("step_agent_start", "  start decided to started (agents)", "ms", None, "-"),
        Figure("config_push", "ccs_tool update, 3 nodes (whole command)", "ms", None, "-"),
        Figure("config_push_all", "ccs_tool update to active on all 3", "ms", None, "-"),
        Figure("idle_cpu", "idle CPU per node", "%", idle_limit, f"<= {idle_limit} % of a core"),
        Figure("rss", "RSS per node", "MiB", 60, "<= 60 MiB"),
        Figure("bare_python", "python3 -c pass (interpreter start, for scale)", "ms", None, "-"),
        Figure("clustat", "clustat (whole process)", "ms", 12, "<= 12 ms median"),
        Figure("cman_tool_status", "cman_tool status (whole process)", "ms", 12, "<= 12 ms median"),
        Figure("cman_tool_nodes", "cman_tool nodes (whole process)", "ms", 12, "<= 12 ms median"),
        Figure("quorate_status", "quorate status (whole process)", "ms", 12, "<= 12 ms median"),
        Figure("status_over_python", "  the slowest of those 4, over python3 -c pass", "ms", None, "-"),
        Figure("quorate_why", "quorate why test (whole process)", "ms", 50, "<= 50 ms median"),
    ]  # fmt: skip


@dataclass
class Results:
    """Values per (token, figure key), and what went wrong in trials that did not finish."""

    values: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, token_ms: int, key: str, *values: float) -> None:
        self.values.setdefault((token_ms, key), []).extend(values)

    def rows(self, tokens: Sequence[int]) -> list[dict[str, Any]]:
        rows = []
        for token_ms in tokens:
            for fig in figures(token_ms):
                values = self.values.get((token_ms, fig.key), [])
                row: dict[str, Any] = {
                    "token_ms": token_ms, "figure": fig.key, "label": fig.label, "unit": fig.unit,
                    "n": len(values), "values": [round(v, 3) for v in values], "target": fig.target,
                    "limit": fig.limit,
                }  # fmt: skip
                if values:
                    median = statistics.median(values)
                    row.update(min=min(values), median=median, max=max(values))
                    row["meets_target"] = None if fig.limit is None else median <= fig.limit
                rows.append(row)
        return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The table people read: each figure with min / median / max next to its target (judged on the median)."""
    lines = []
    token = None
    for row in rows:
        if row["token_ms"] != token:
            token = row["token_ms"]
            lines.append(f"\ntoken {token} ms")
        head = f"  {row['label']:<42}"
        if not row["n"]:
            lines.append(f"{head} no data{'':<46}target {row['target']}")
            continue
        unit = row["unit"]
        verdict = {True: "ok", False: "MISSED", None: ""}[row["meets_target"]]
        lines.append(
            f"{head} min {row['min']:8.1f}  median {row['median']:8.1f}  max {row['max']:8.1f} {unit:<3} "
            f"(n={row['n']:<2}) target {row['target']} {verdict}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- daemon logs


def log_times(tb: Testbed, node: str, pattern: str, after: float) -> list[float]:
    """Wall-clock stamps of the node's log lines matching ``pattern`` at or after ``after``."""
    found = []
    for line in tb.daemon_log(node).splitlines():
        m = STAMP.match(line)
        if m and re.search(pattern, m.group(2)):
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if stamp >= after:
                found.append(stamp)
    return found


def wait_log(tb: Testbed, nodes: Sequence[str], pattern: str, after: float, timeout: float) -> float:
    """Earliest stamp of ``pattern`` on any of ``nodes`` after ``after``, waiting up to ``timeout`` s for one."""
    deadline = time.monotonic() + timeout
    while True:
        stamps = [t for node in nodes for t in log_times(tb, node, pattern, after)]
        if stamps:
            return min(stamps)
        if time.monotonic() > deadline:
            raise BenchError(f"no /{pattern}/ in the logs of {', '.join(nodes)} within {timeout:.0f} s")
        time.sleep(0.05)


def wait(what: str, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------- process costs


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_with_children(pid: int) -> tuple[float, float]:
    """(own, children) CPU seconds of a process so far: utime+stime, and cutime+cstime of its reaped children (a
    daemon's status checks, whose processes it waits for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


TIMER = r"""
import json, subprocess, sys, time
runs, commands = int(sys.argv[1]), json.loads(sys.argv[2])
times = [[] for _ in commands]
for _ in range(runs):
    for argv, took in zip(commands, times):
        t = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        took.append((time.perf_counter() - t) * 1000)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode().strip()}")
print(json.dumps(times))
"""


def timed_in_node(tb: Testbed, node: str, argv: Sequence[str], runs: int) -> list[float]:
    """Whole-process times (ms) of ``argv`` run ``runs`` times on ``node``, timed inside the node."""
    [took] = timed_together_in_node(tb, node, [argv], runs)
    return took


def timed_together_in_node(tb: Testbed, node: str, commands: Sequence[Sequence[str]], runs: int) -> list[list[float]]:
    """Whole-process times (ms) of each command, run in turn ``runs`` times on ``node``: taken in alternation, so
    that a change of the machine's load touches them all alike and their differences stay meaningful."""
    import json

    program = [sys.executable, "-c", TIMER, str(runs), json.dumps([list(argv) for argv in commands])]
    done = tb.exec(node, program, timeout=60 + 10 * runs * len(commands))
    if done.returncode != 0:
        raise BenchError(f"timing on {node}: {done.stderr.strip()}")
    times: list[list[float]] = json.loads(done.stdout)
    return times


def testbed_missing(prog: str) -> bool:
    """Whether the testbed cannot be built here; if so, says what is missing on stderr, as ``prog``."""
    problems = missing_prerequisites()
    if problems:
        print(f"{prog}: {'; '.join(problems)}", file=sys.stderr)
    return bool(problems)
