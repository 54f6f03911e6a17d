"""The floor under `bench idle`: what a bare asyncio process costs with the daemon's idle event pattern.

    .venv/bin/python -m bench.idle_floor [--interval-ms 60] [--windows 4] [--window-seconds 15] [--peers 2]

Theory of operation: an idle quorated at a 300 ms token wakes on a grid every 60 ms (token / 5), sends one
heartbeat and receives one from each peer. Two processes play that here, on loopback: the *measured* one runs
an asyncio loop whose timer fires on the same wall-clock grid and sends one datagram of a heartbeat's size, and
whose datagram endpoint receives; the *peers* process (not measured) sends ``--peers`` datagrams on the grid to
it. The measured process does nothing else: no decoding, no authentication, no protocol. Its CPU, read from /proc
as `bench idle` reads the daemons', is the part of a daemon's idle cost that any Python asyncio program with
those wakeups and datagrams pays on this machine (interpreter wakeups, the event loop's turn, the system
calls), so the daemon's figure can be read against it on any machine. The processes take the daemon's
real-time priority when they may (root), as quorated does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

from bench.common import cpu_with_children

DATAGRAM = b"\x00" * 240  # about a three-node heartbeat with its header and tag


def _realtime() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(40))
    except (PermissionError, AttributeError, OSError):
        pass  # not root: the comparison still holds, both at normal priority only if the daemons were too


def _next_grid(interval: float) -> float:
    """Seconds until the next point of the wall-clock grid (the daemons' heartbeat grid)."""
    now = time.time()
    return (now // interval + 1) * interval - now


async def _measured(port: int, peer_port: int, interval: float) -> None:
    loop = asyncio.get_running_loop()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            pass

    transport, _ = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", port))

    def beat() -> None:
        transport.sendto(DATAGRAM, ("127.0.0.1", peer_port))
        loop.call_later(_next_grid(interval), beat)

    loop.call_later(_next_grid(interval), beat)
    await asyncio.Event().wait()


def _peers(port: int, own_port: int, interval: float, peers: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", own_port))
    sock.setblocking(False)
    while True:
        time.sleep(_next_grid(interval))
        for _ in range(peers):
            sock.sendto(DATAGRAM, ("127.0.0.1", port))
        try:
            while True:
                sock.recv(2048)
        except BlockingIOError:
            pass


def measure(interval: float, windows: int, seconds: float, peers: int = 2) -> list[float]:
    """CPU of the measured process, % of one core, in each of ``windows`` windows of ``seconds``."""
    port, peer_port = _free_port(), _free_port()
    argv = [sys.executable, "-m", "bench.idle_floor", "--interval-ms", str(interval * 1000)]
    ports = ["--port", str(port), "--peer-port", str(peer_port)]
    procs = [
        subprocess.Popen([*argv, "--role", "measured", *ports]),
        subprocess.Popen([*argv, "--role", "peers", *ports, "--peers", str(peers)]),
    ]
    try:
        time.sleep(2.0)  # imports and the first turns of the loop are not the idle cost
        found = []
        for _ in range(windows):
            before, started = sum(cpu_with_children(procs[0].pid)), time.monotonic()
            time.sleep(seconds)
            found.append((sum(cpu_with_children(procs[0].pid)) - before) / (time.monotonic() - started) * 100)
        return found
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--interval-ms", type=float, default=60.0, help="heartbeat interval (default 60: token 300)")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window-seconds", type=float, default=15.0)
    parser.add_argument("--peers", type=int, default=2, help="datagrams received per interval (default 2)")
    parser.add_argument("--role", choices=("measured", "peers"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    interval = args.interval_ms / 1000
    if args.role == "measured":
        _realtime()
        asyncio.run(_measured(args.port, args.peer_port, interval))
        return 0
    if args.role == "peers":
        _realtime()
        _peers(args.port, args.peer_port, interval, args.peers)
        return 0
    found = measure(interval, args.windows, args.window_seconds, args.peers)
    windows = " ".join(f"{v:.2f}" for v in found)
    print(f"floor: a bare asyncio process, {1 / interval:.1f} wakeups/s, 1 datagram sent and {args.peers} received "
          f"per wakeup: {statistics.median(found):.3f} % of one core (windows {windows})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
