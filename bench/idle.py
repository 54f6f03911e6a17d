"""``python -m bench idle``: what a quiet cluster costs, per node and per token, owner and non-owners apart.

    sudo .venv/bin/python -m bench idle [--tokens 300,10000] [--windows 6] [--window-seconds 20]
                                        [--profile SECONDS] [--json FILE] [--no-floor]

Theory of operation: for each token a fresh three-node testbed of the article's cluster (service `test`: ext3 on
a shared loop LUN plus the article's init script, fence_netns, no quorum disk) is brought up; once the service
has started and a settling pause has passed, the CPU of every daemon is read from /proc/PID/stat over several
consecutive windows: user + system time of the daemon itself *and* of its waited-for children (cutime + cstime:
the status checks' processes, the init script's `ps | grep` included), so a check that forks is counted where it
is paid. The figure per node is the median of the windows (robust to a neighbour's burst on a shared machine);
the load average is printed beside it. The service's own workload (the article's program, detached from the
daemon) is not counted: it is not the cluster manager's cost.

``--profile SECONDS`` also counts, on the owner and on one non-owner, the system calls of the daemon over that
long (strace -c -f, children included), which is where the breakdown of README "Scale" comes from.

Each token's table ends with a *floor* (`bench.idle_floor`, measured over the same windows while the cluster is
still up): a bare asyncio process with the daemons' wakeups and datagrams and nothing else. The daemons' figure
minus the floor is what quorate's own work costs; the floor is what any Python event loop pays on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import idle_floor, services
from bench.common import BenchError, cpu_with_children, testbed_missing, wait_log
from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

PREFIX = "qidle"
SETTLE = 5.0


def measure(pids: dict[str, int], windows: int, seconds: float) -> dict[str, dict[str, list[float]]]:
    """Per node: the daemon's own and its children's CPU, % of one core, in each of ``windows`` windows."""
    found: dict[str, dict[str, list[float]]] = {node: {"own": [], "children": [], "total": []} for node in pids}
    for _ in range(windows):
        before = {node: cpu_with_children(pid) for node, pid in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        for node, pid in pids.items():
            own, children = cpu_with_children(pid)
            own_pct = (own - before[node][0]) / elapsed * 100
            children_pct = (children - before[node][1]) / elapsed * 100
            found[node]["own"].append(own_pct)
            found[node]["children"].append(children_pct)
            found[node]["total"].append(own_pct + children_pct)
    return found


def syscalls(pid: int, seconds: float) -> str:
    """strace's summary table of the daemon's system calls (threads and children included) over ``seconds``."""
    if shutil.which("strace") is None:
        return "strace is not installed"
    done = subprocess.run(["timeout", "-s", "INT", str(seconds), "strace", "-c", "-f", "-p", str(pid)],
                          capture_output=True, text=True, timeout=seconds + 30)  # fmt: skip
    return done.stderr


def one_token(directory: Path, lun: str, token_ms: int, args: argparse.Namespace) -> dict[str, Any]:
    conf = services.conf_for(directory, lun, None if token_ms == 10000 else token_ms)
    with Testbed.up(conf, prefix=PREFIX, start_daemons=False) as tb:
        start_power_switch(tb, secret=services.SECRET)
        t0 = time.time()
        for node in tb.nodes:
            tb.start_daemon(node)
        wait_log(tb, tb.nodes, services.started_on(services.B), t0, 60)
        time.sleep(SETTLE)
        pids = {node: tb.daemon_pid(node) for node in tb.nodes}
        if not all(pids.values()):
            raise BenchError(f"idle measurement needs every daemon running: {pids}")
        load = os.getloadavg()[0]
        found = measure({n: p for n, p in pids.items() if p}, args.windows, args.window_seconds)
        load = (load + os.getloadavg()[0]) / 2
        result: dict[str, Any] = {"token_ms": token_ms, "load": load, "owner": services.B, "nodes": found}
        if not args.no_floor:  # with the cluster still up, so the machine is as busy as it was for the daemons
            interval = min(token_ms / 5000, 1.0)  # the daemons' heartbeat interval (token / 5, at most 1 s)
            result["floor"] = idle_floor.measure(interval, args.windows, args.window_seconds, len(tb.nodes) - 1)
        if args.profile:
            result["syscalls"] = {
                node: syscalls(pid, args.profile)
                for node, pid in pids.items()
                if pid and node in (services.B, services.C)
            }
        return result


def report(result: dict[str, Any]) -> str:
    lines = [f"token {result['token_ms']} ms (load average {result['load']:.1f}; median of "
             f"{len(next(iter(result['nodes'].values()))['total'])} windows, % of one core)"]  # fmt: skip
    for node, values in result["nodes"].items():
        role = "owner" if node == result["owner"] else "non-owner"
        med = {k: statistics.median(v) for k, v in values.items()}
        windows = " ".join(f"{v:.2f}" for v in values["total"])
        lines.append(
            f"  {node:<24} {role:<10} total {med['total']:6.3f}  (daemon {med['own']:6.3f}, "
            f"children {med['children']:6.3f})  windows {windows}"
        )
    if "floor" in result:
        floor = result["floor"]
        lines.append(
            f"  {'floor':<24} {'':<10} total {statistics.median(floor):6.3f}  (a bare asyncio process with the same "
            f"wakeups and datagrams: `python -m bench.idle_floor`)  windows {' '.join(f'{v:.2f}' for v in floor)}"
        )
    for node, table in result.get("syscalls", {}).items():
        lines.append(f"  system calls of {node}:")
        lines.extend(f"    {line}" for line in table.strip().splitlines())
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench idle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--tokens", default="300,10000", help="comma-separated token values (ms)")
    parser.add_argument("--windows", type=int, default=6, help="consecutive windows per token (default 6)")
    parser.add_argument("--window-seconds", type=float, default=20.0, help="length of one window (default 20)")
    parser.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                        help="also count system calls of the owner and one non-owner over SECONDS")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the values as JSON")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor: a bare asyncio process with the daemons' wakeups and datagrams")
    args = parser.parse_args(argv)
    if testbed_missing("bench idle"):
        return 2
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    directory = Path(tempfile.mkdtemp(prefix="quorate-idle-"))
    lun = services.make_lun(directory)
    results = []
    try:
        for token_ms in tokens:
            result = one_token(directory, lun, token_ms, args)
            print(report(result), flush=True)
            results.append(result)
    finally:
        services.detach(lun)
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
