"""Membership benchmarks on the namespace testbed (needs root). Prints figures; asserts nothing.

    sudo .venv/bin/python bench/cluster.py [--runs 3] [--idle 60] [--conf FILE]

Measures, with min / median / max over the runs:
  * start to quorate: all three daemons started at once -> every node logged "quorum regained";
  * kill to eviction: SIGKILL of one daemon -> the survivors logged the view without it (against the token);
  * idle CPU per node over --idle seconds, as a percentage of one core;
  * RSS per node;
  * `cman_tool status` whole-process time, run on a node (interpreter start included).
Times come from the daemons' own log stamps (all namespaces share the host clock).
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from quorate.config import load_config
from quorate.testbed import Testbed

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "tests" / "fixtures" / "article" / "cluster-1.conf"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) quorated\[\d+\]: (.*)$")


def log_events(tb: Testbed, node: str, pattern: str, after: float) -> list[float]:
    times = []
    for line in tb.daemon_log(node).splitlines():
        m = STAMP.match(line)
        if m and re.search(pattern, m.group(2)):
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if t >= after:
                times.append(t)
    return times


def wait_log(tb: Testbed, node: str, pattern: str, after: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = log_events(tb, node, pattern, after)
        if found:
            return found[0]
        time.sleep(0.05)
    raise SystemExit(f"bench: {node} never logged /{pattern}/ within {timeout} s")


def summary(name: str, values: list[float], unit: str, target: str = "") -> None:
    line = (
        f"{name:<34} min {min(values):8.1f} {unit}  median {statistics.median(values):8.1f} {unit}  "
        f"max {max(values):8.1f} {unit}  (n={len(values)})"
    )
    print(line + (f"   target {target}" if target else ""), flush=True)


def proc_times(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


TIMER = r"""
import subprocess, sys, time
runs = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "status"], stdout=subprocess.DEVNULL, check=True)
    runs.append((time.perf_counter() - t) * 1000)
print(" ".join(f"{r:.2f}" for r in runs))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--conf", type=Path, default=ARTICLE)
    parser.add_argument("--prefix", default="qbench")
    args = parser.parse_args()
    token_ms = load_config(args.conf).token_ms
    starts: list[float] = []
    evictions: list[float] = []
    print(f"quorate membership benchmark: {args.conf.name}, token {token_ms} ms, {args.runs} runs", flush=True)
    for run in range(args.runs):
        with Testbed.up(args.conf, prefix=args.prefix, start_daemons=False) as tb:
            nodes = tb.nodes
            time.sleep(0.3)
            t0 = time.time()
            for node in nodes:
                tb.start_daemon(node)
            ready = [wait_log(tb, n, r"quorum regained", t0 - 0.01, 30) for n in nodes]
            starts.append((max(ready) - t0) * 1000)
            time.sleep(2)
            victim, survivor = nodes[-1], nodes[0]
            t_kill = time.time()
            tb.kill(victim, signal.SIGKILL)
            pattern = r"installed .*failed: \{" + re.escape(victim)
            evicted = wait_log(tb, survivor, pattern, t_kill, token_ms / 1000 + 10)
            evictions.append((evicted - t_kill) * 1000)
            if run == args.runs - 1:
                measure_idle_and_cli(tb, nodes[:-1], args.idle)
    summary("start to quorate (3 nodes)", starts, "ms", "<= 1000 ms")
    summary("kill to eviction", evictions, "ms", f"<= token + 100 = {token_ms + 100} ms")
    return 0


def measure_idle_and_cli(tb: Testbed, nodes: list[str], idle: float) -> None:
    pids = {n: tb.daemon_pid(n) for n in nodes}
    before = {n: proc_times(p) for n, p in pids.items() if p}
    time.sleep(idle)
    cpu = [(proc_times(pids[n]) - before[n]) / idle * 100 for n in before]
    summary(f"idle CPU per node over {idle:.0f} s", cpu, "%", "<= 0.4 % of a core")
    summary("RSS per node", [rss_mib(p) for p in pids.values() if p], "MiB", "<= 60 MiB")
    cman_tool = str(Path(sys.executable).with_name("cman_tool"))
    out = tb.exec(nodes[0], [sys.executable, "-c", TIMER, cman_tool, "30"], timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"bench: cman_tool timing failed: {out.stderr}")
    summary("cman_tool status (whole process)", [float(x) for x in out.stdout.split()], "ms", "<= 20 ms median")


if __name__ == "__main__":
    sys.exit(main())
