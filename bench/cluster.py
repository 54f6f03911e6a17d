"""Cluster-level figures on a running testbed: start to quorate, idle cost per node, status-command times.

Run them all with ``python -m bench`` (see bench/__main__.py); these functions measure one thing each on a
testbed they are given and record the values, so the services figures can share the same cluster.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import BIN, BenchError, Results, cpu_with_children, rss_mib, timed_together_in_node, wait_log
from quorate.testbed import Testbed


def start_all(tb: Testbed, results: Results, token_ms: int) -> float:
    """Start every node's daemon at once; record start -> every node logged "quorum regained". Returns t0."""
    t0 = time.time()
    for node in tb.nodes:
        tb.start_daemon(node)
    ready = [wait_log(tb, [node], r"quorum regained", t0 - 0.01, 60) for node in tb.nodes]
    results.add(token_ms, "start_to_quorate", (max(ready) - t0) * 1000)
    return t0


def idle_cost(tb: Testbed, results: Results, token_ms: int, seconds: float) -> None:
    """CPU (% of one core) and RSS of every node's daemon over ``seconds`` of a quiet cluster; the CPU counts the
    processes its status checks ran (`python -m bench idle` shows the two apart, over several windows)."""
    pids = {node: tb.daemon_pid(node) for node in tb.nodes}
    if not all(pids.values()):
        raise BenchError(f"idle measurement needs every daemon running: {pids}")
    before = {node: sum(cpu_with_children(pid)) for node, pid in pids.items() if pid}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    for node, pid in pids.items():
        assert pid is not None
        results.add(token_ms, "idle_cpu", (sum(cpu_with_children(pid)) - before[node]) / elapsed * 100)
        results.add(token_ms, "rss", rss_mib(pid))


STATUS_COMMANDS = ("clustat", "cman_tool_status", "cman_tool_nodes", "quorate_status")


def status_commands(tb: Testbed, node: str, results: Results, token_ms: int, runs: int) -> None:
    """`clustat`, `cman_tool status|nodes`, `quorate status` and `quorate why test` whole-process times on
    ``node`` (interpreter start included), next to the start of a bare interpreter (`python3 -c pass`, the same
    interpreter the commands run on), timed before and after them: what a command costs over the interpreter's
    own start holds on any machine, where the bare figure changes with the machine and its load.

    The package is byte-compiled first, as an installed package is: a source file edited since its .pyc was
    written would otherwise be compiled again on every run when PYTHONDONTWRITEBYTECODE is set."""
    import compileall

    import quorate

    compileall.compile_dir(str(Path(quorate.__file__).parent), quiet=1)
    bare = [sys.executable, "-c", "pass"]
    commands: dict[str, Sequence[str]] = {
        "clustat": [str(BIN / "clustat")],
        "cman_tool_status": [str(BIN / "cman_tool"), "status"],
        "cman_tool_nodes": [str(BIN / "cman_tool"), "nodes"],
        "quorate_status": [str(BIN / "quorate"), "status"],
        "quorate_why": [str(BIN / "quorate"), "why", "test"],
    }
    interpreter, *took = timed_together_in_node(tb, node, [bare, *commands.values()], runs)
    results.add(token_ms, "bare_python", *interpreter)
    over = {}
    for key, times in zip(commands, took, strict=True):
        results.add(token_ms, key, *times)
        over[key] = statistics.median(t - b for t, b in zip(times, interpreter, strict=True))
    results.add(token_ms, "status_over_python", max(over[key] for key in STATUS_COMMANDS))
