"""Cluster lock figures on the testbed: uncontended grant+release round trip, grants per second under contention.

    sudo .venv/bin/python bench/locks.py [--rounds 200] [--seconds 10]

Three testbed nodes (token 3 s, no fencing needed). A worker program runs *inside* a node and talks to that
node's quorated through `quorate.locks.LockSession`, so each figure is what an application on a cluster node
sees, with no nsenter or process start-up in it:

* round trip: one lock (EX) granted and released (the release confirmed by the master), again and again on one
  resource nobody else wants; measured on balthasar, the lock master (no datagram leaves the node), and on
  casper (two datagram round trips to the master per cycle);
* contention: a worker on each of the three nodes takes EX on the same resource, releases it, and asks again,
  for a fixed time; the figure is the total of grants per second (each grant waits for the previous holder's
  release to reach the master, FIFO across the nodes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from quorate.testbed import Testbed
from quorate.testbed.support import MAGI, unique_prefix, write_cluster_conf

WORKER = r"""
import json, sys, time
from quorate.locks import LockSession
mode, name, count, start, until = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
session = LockSession(client="bench")
time.sleep(max(0.0, start - time.time()))
times, grants = [], 0
while (count and len(times) < count) or (not count and time.time() < until):
    t0 = time.perf_counter()
    lock = session.lock(name, mode, lockspace="bench")
    session.unlock(lock)
    times.append(time.perf_counter() - t0)
    grants += 1
print(json.dumps({"times": times, "grants": grants}))
"""


def worker(tb: Testbed, node: str, *args: str) -> list[str]:
    return [sys.executable, "-c", WORKER, *args]


def wait_quorate(tb: Testbed, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = tb.exec(tb.nodes[0], [sys.executable, "-m", "quorate.cli.main", "status", "--json"], timeout=20)
        if done.returncode == 0:
            state = json.loads(done.stdout)
            if state["quorate"] and len(state["members"]) == 3:
                return
        time.sleep(0.5)
    raise SystemExit("the testbed cluster did not become quorate")


def round_trip(tb: Testbed, node: str, rounds: int) -> list[float]:
    done = tb.exec(node, worker(tb, node, "EX", f"solo-{node}", str(rounds), "0", "0"), timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"worker on {node} failed: {done.stderr}")
    return [t * 1000 for t in json.loads(done.stdout)["times"]]


def contention(tb: Testbed, seconds: float) -> tuple[float, dict[str, int]]:
    until = time.time() + 2.0 + seconds
    start = until - seconds
    jobs = {
        node: tb.popen(
            node, worker(tb, node, "EX", "contended", "0", str(start), str(until)), stdout=-1, stderr=-1, text=True
        )
        for node in tb.nodes
    }
    counts = {}
    for node, job in jobs.items():
        out, err = job.communicate(timeout=seconds + 120)
        if job.returncode != 0:
            raise SystemExit(f"worker on {node} failed: {err}")
        counts[node] = json.loads(out)["grants"]
    return sum(counts.values()) / seconds, counts


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ms, min {min(values):.2f} ms, max {max(values):.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/locks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        conf = write_cluster_conf(Path(directory) / "cluster.conf", MAGI)
        text = conf.read_text().replace("<clusternodes>", '<totem token="3000"/>\n  <clusternodes>')
        conf.write_text(text)
        tb = Testbed.up(conf, prefix=unique_prefix())
        try:
            wait_quorate(tb)
            master, member = tb.nodes[0], tb.nodes[1]
            local = round_trip(tb, master, args.rounds)
            remote = round_trip(tb, member, args.rounds)
            rate, counts = contention(tb, args.seconds)
        finally:
            tb.down()
    print(
        f"uncontended EX grant+release round trip on the lock master ({master}), {len(local)} rounds: {describe(local)}"
    )
    print(f"uncontended EX grant+release round trip on a member ({member}), {len(remote)} rounds: {describe(remote)}")
    shares = ", ".join(f"{node.split('.')[0]} {n}" for node, n in counts.items())
    print(f"contention, 3 nodes taking EX on one resource for {args.seconds:g} s: {rate:.0f} grants/s ({shares})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
