"""Heartbeats during a control-socket flood: ``sudo .venv/bin/python -m bench flood``.

    sudo .venv/bin/python -m bench flood [--requests 2000] [--connections 50] [--seconds 10] [--token 1000]

A 3-node scale testbed (`quorate testbed up --nodes 3 --services 10`) with a 1 s token: its heartbeats leave
every ``min(token / 5, 1 s)``. On node02 a raw packet socket stamps every UDP datagram node01 sends it; on node01
a client sends ``--requests`` `status` requests to the daemon's control socket from ``--connections``
connections at a time, again and again for ``--seconds``. Heartbeat lateness is each gap between consecutive
datagrams from node01 minus the heartbeat interval, over the gaps of at least half an interval (a table or a
report between two heartbeats makes two short gaps, not a late heartbeat): max and p99, first over a quiet
window of the same length (the baseline), then during the flood. The flood's answers are counted: answered,
refused as busy (the control socket's bounds), or failed. Figures are printed, never asserted; measured on a
busy machine they show the spread of the machine as much as the daemon's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from typing import Any

from bench.common import BenchError, testbed_missing, wait_log
from quorate.testbed import TestbedError
from quorate.testbed.scale import ScaleShape
from quorate.testbed.scale_bed import up_scale

PREFIX = "qflood"

CAPTURE = r"""
import json, socket, sys, time
source, seconds = sys.argv[1], float(sys.argv[2])
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
raw.settimeout(0.2)
stamps = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        frame = raw.recv(65535)
    except TimeoutError:
        continue
    now = time.monotonic()
    if len(frame) >= 34 and frame[23] == 17 and socket.inet_ntoa(frame[26:30]) == source:
        stamps.append(now)
print(json.dumps(stamps))
"""

FLOOD = r"""
import asyncio, json, sys, time
from quorate.cli.client import socket_path
total, width, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
counts = {"answered": 0, "busy": 0, "failed": 0, "rounds": 0}

async def ask(path):
    try:
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 22)
        writer.write(b'{"cmd":"status"}\n')
        await writer.drain()
        line = await reader.readline()
        writer.close()
        answer = json.loads(line)
    except (OSError, ValueError):
        counts["failed"] += 1
        return
    if answer.get("ok"):
        counts["answered"] += 1
    elif "busy" in str(answer.get("error")):
        counts["busy"] += 1
    else:
        counts["failed"] += 1

async def connection(path, share):
    for _ in range(share):
        await ask(path)

async def main():
    path = socket_path()
    began = time.monotonic()
    while time.monotonic() < began + seconds:
        await asyncio.gather(*(connection(path, total // width) for _ in range(width)))
        counts["rounds"] += 1
    counts["began"], counts["ended"] = began, time.monotonic()

asyncio.run(main())
print(json.dumps(counts))
"""


def lateness_ms(stamps: list[float], interval: float, start: float, end: float) -> tuple[float, float, int]:
    """(max, p99, heartbeats) of the lateness of datagrams stamped within [start, end]."""
    within = [t for t in stamps if start <= t <= end]
    gaps = [b - a for a, b in itertools.pairwise(within) if b - a >= interval / 2]
    late = sorted(max(0.0, gap - interval) * 1000 for gap in gaps)
    if not late:
        return float("nan"), float("nan"), 0
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    return late[-1], p99, len(late)


def measure(requests: int, connections: int, seconds: float, token_ms: int) -> dict[str, Any]:
    interval = min(token_ms / 5000, 1.0)
    with up_scale(ScaleShape(nodes=3, services=10, token_ms=token_ms), prefix=PREFIX, start_daemons=False) as tb:
        t0 = time.time()
        for node in tb.nodes:
            tb.start_daemon(node)
        for node in tb.nodes:
            wait_log(tb, [node], r"quorum regained", t0 - 0.01, 120)
        time.sleep(2.0)
        sender, receiver = tb.nodes[0], tb.nodes[1]
        source = tb.address(sender)
        captured: dict[str, Any] = {}

        def capture() -> None:
            done = tb.exec(receiver, [sys.executable, "-c", CAPTURE, source, str(2 * seconds + 3)],
                           timeout=2 * seconds + 30)  # fmt: skip
            captured["out"], captured["err"] = done.stdout, done.stderr

        thread = threading.Thread(target=capture)
        thread.start()
        quiet_start = time.monotonic()
        time.sleep(seconds + 1)
        flood = tb.exec(sender, [sys.executable, "-c", FLOOD, str(requests), str(connections), str(seconds)],
                        timeout=seconds + 120)  # fmt: skip
        thread.join()
        if flood.returncode != 0:
            raise BenchError(f"the flood failed: {flood.stderr.strip()[-500:]}")
        if not captured.get("out"):
            raise BenchError(f"the capture on {receiver} failed: {captured.get('err', '').strip()[-500:]}")
        stamps = json.loads(captured["out"])
        counts = json.loads(flood.stdout)
        quiet = lateness_ms(stamps, interval, quiet_start, quiet_start + seconds)
        during = lateness_ms(stamps, interval, counts["began"], counts["ended"])
    return {"interval_ms": interval * 1000, "quiet": quiet, "flood": during, "counts": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--token", type=int, default=1000, help="token (ms)")
    args = parser.parse_args(argv)
    if testbed_missing("bench flood"):
        return 2
    try:
        out = measure(args.requests, args.connections, args.seconds, args.token)
    except (BenchError, TestbedError, OSError) as exc:
        print(f"bench flood: {exc}", file=sys.stderr)
        return 1
    counts = out["counts"]
    print(f"heartbeat interval {out['interval_ms']:.0f} ms; lateness of node01's datagrams seen on node02 (ms):")
    print(f"{'window':>8} {'heartbeats':>11} {'max':>8} {'p99':>8}")
    for label in ("quiet", "flood"):
        worst, p99, count = out[label]
        print(f"{label:>8} {count:>11} {worst:>8.1f} {p99:>8.1f}")
    seconds = counts["ended"] - counts["began"]
    print(f"flood: {counts['rounds']} x {args.requests} status requests from {args.connections} connections in "
          f"{seconds:.1f} s: {counts['answered']} answered, {counts['busy']} busy, {counts['failed']} failed "
          f"({(counts['answered'] + counts['busy']) / seconds:.0f} per second)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
