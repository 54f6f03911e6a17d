"""Helpers for tests and the demo that drive a testbed: prefixes, confs, probes.

Theory of operation: test fixtures (``tests/e2e/conftest.py``) need three
things besides ``Testbed`` itself — a prefix no other test or worker uses and
short enough for interface and namespace names, a factory that always tears
its testbeds down, and a way to check real connectivity.  ``udp_probe``
starts a receiver on one node (it reports when it is bound, so the sender
never races it), sends a few datagrams from another node and says whether one
arrived; with ``group`` it does the same over multicast, the way the cluster
daemons talk.  All waits are bounded.
"""

from __future__ import annotations

import itertools
import os
import selectors
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quorate.testbed import procs
from quorate.testbed.conf import TestbedError
from quorate.testbed.testbed import Testbed, missing_prerequisites

#: The article's three hosts.
MAGI = ("balthasar.localdomain", "casper.localdomain", "melchior.localdomain")
CLUSTER_PORT = 5405

_serial = itertools.count()


def _letters(number: int) -> str:
    out = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


def unique_prefix() -> str:
    """``qt<pid%1000><letters>``: unique per process and call, digits then letters so never ambiguous."""
    return f"qt{os.getpid() % 1000}{_letters(next(_serial))}"


def prerequisite_problems() -> list[str]:
    return missing_prerequisites()


def write_cluster_conf(path: str | Path, names: Sequence[str] = MAGI, *, cluster_name: str = "magi") -> Path:
    """A minimal cluster.conf with the given nodes, nodeids 1..n in order."""
    nodes = "\n".join(
        f'    <clusternode name="{name}" nodeid="{index}" votes="1"/>' for index, name in enumerate(names, start=1)
    )
    text = (
        '<?xml version="1.0"?>\n'
        f'<cluster name="{cluster_name}" config_version="1">\n'
        "  <clusternodes>\n"
        f"{nodes}\n"
        "  </clusternodes>\n"
        "</cluster>\n"
    )
    target = Path(path)
    target.write_text(text)
    return target


class BedFactory:
    """Makes testbeds with unique prefixes and downs every one of them on ``close``."""

    def __init__(self) -> None:
        self.beds: list[Testbed] = []
        self.prefixes: list[str] = []

    def __call__(self, conf_path: str | Path, prefix: str | None = None, **kwargs: Any) -> Testbed:
        prefix = prefix or unique_prefix()
        self.prefixes.append(prefix)  # recorded first: a failing up still gets cleaned
        bed = Testbed.up(conf_path, prefix=prefix, **kwargs)
        self.beds.append(bed)
        return bed

    def close(self) -> list[str]:
        """Tear everything down; returns problems instead of raising, for use in finalizers."""
        problems = []
        for bed in self.beds:
            try:
                bed.down()
            except TestbedError as exc:
                problems.append(str(exc))
        for prefix in self.prefixes:
            try:
                Testbed.down_prefix(prefix)
            except TestbedError as exc:
                problems.append(str(exc))
        return problems


_RECEIVER = """
import socket, struct, sys
port, timeout, token, group, local = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", port))
if group:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(local))
print("bound", flush=True)
s.settimeout(timeout)
try:
    while True:
        data, peer = s.recvfrom(2048)
        if data.decode(errors="replace") == token:
            print("got", peer[0], flush=True)
            break
except TimeoutError:
    print("timeout", flush=True)
"""

_SENDER = """
import socket, sys, time
target, port, token, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for _ in range(count):
    s.sendto(token.encode(), (target, port))
    time.sleep(0.02)
"""


def udp_probe(
    bed: Testbed,
    src: str,
    dst: str,
    *,
    port: int = CLUSTER_PORT,
    timeout: float = 1.0,
    group: str | None = None,
    count: int = 3,
) -> bool:
    """Does a UDP datagram from ``src`` reach ``dst`` (unicast, or via multicast ``group``)?"""
    token = uuid.uuid4().hex
    argv = [sys.executable, "-I", "-c", _RECEIVER, str(port), str(timeout), token, group or "", bed.address(dst)]
    receiver = bed.popen(dst, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    lines = _Lines(receiver)
    try:
        if lines.next(10.0) != "bound":
            raise TestbedError(f"UDP receiver on {dst} did not start")
        target = group or bed.address(dst)
        sender = [sys.executable, "-I", "-c", _SENDER, target, str(port), token, str(count)]
        bed.exec(src, sender, timeout=10, check=True)
        verdict = lines.next(timeout + 5.0)
    finally:
        if receiver.poll() is None:
            procs.kill_launched(receiver.pid)
        receiver.communicate(timeout=5.0)
    return verdict.startswith("got ")


class _Lines:
    """Line reader over a child's stdout pipe that never blocks past its timeout."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self._buffer = b""

    def next(self, timeout: float) -> str:
        """The next line without its newline, or "" at end of output or timeout."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return ""
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    return ""
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace").strip()
