"""Driving the web and db cluster under a client's load: bring it up, move services, wait until served again.

Theory of operation: the end-to-end test and the benchmark do the same things in a different order, so the
steps live here. `bring_up` takes a testbed of `webdb`'s cluster.conf to the state both start from: the power
switch running, a client host cabled, both services enabled on their first nodes, the database's account and
table created, and the client's workload (``workload.py``) writing its records. `Driver.step` then runs one
operation (a clusvcadm, a kill, a power cut...), records when it began and which service must end up where,
and waits until the cluster says so *and* the client's own last attempts succeeded against that node: a
service counts as back only when its users are served again. Every wait is bounded and its failure says what
was awaited. Times are ``time.time()``, the clock of the workload's records and of the nodes' logs.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorate.testbed import availability, webdb
from quorate.testbed.availability import Attempt, Operation
from quorate.testbed.power import start_power_switch
from quorate.testbed.testbed import Testbed

CLIENT, CLIENT_ADDRESS = "client", "192.168.0.100"
#: Consecutive successes (one period apart) that say the client is served again by the expected node.
STEADY = 10


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited and what was last seen."""


def wait_until(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what} (last seen: {last!r})")


class Records:
    """The workload's records, read as the file grows (only complete lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.attempts: list[Attempt] = []
        self._offset = 0

    def refresh(self) -> list[Attempt]:
        if self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
            self.attempts += availability.parse_records(complete.decode().splitlines())
        return self.attempts

    def served_by(self, kind: str, node: str, since: float) -> bool:
        """The last `STEADY` attempts of ``kind`` started after ``since`` all succeeded on ``node``."""
        recent = sorted((a for a in self.refresh() if a.kind == kind and a.t0 > since), key=lambda a: a.t0)
        tail = recent[-STEADY:]
        return len(tail) == STEADY and all(a.ok and a.node == node for a in tail)


@dataclass
class Client:
    """The running workload and where its records go."""

    process: subprocess.Popen[Any]
    records: Records
    directory: Path

    def stop(self, timeout: float = 60.0) -> list[Attempt]:
        """Let the workload finish its attempts under way (SIGTERM), then return every record."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.records.refresh()


def bring_up(tb: Testbed, page: str, directory: Path, *, secret: str, timeout: float = 240.0) -> Client:
    """Power switch, client host, services enabled where their domains put them first, the database's account
    and table, and the workload started on the client (its files in ``directory``)."""
    start_power_switch(tb, secret=secret)
    tb.add_client(CLIENT, CLIENT_ADDRESS)
    webdb.enable_services(tb, timeout)
    want = {"web": webdb.WEB_PREFERENCE[0], "db": webdb.DB_PREFERENCE[0]}
    wait_until(f"services started as {want}", lambda: placed(tb, want, tb.nodes), timeout)
    password = secrets.token_hex(12)
    webdb.sql_as_root(tb, want["db"], webdb.bootstrap_sql(CLIENT_ADDRESS, password))
    (directory / "page.html").write_text(page)
    (directory / "db.password").write_text(password)
    (directory / "db.password").chmod(0o600)
    out = directory / "workload.jsonl"
    argv = [
        sys.executable, "-m", "quorate.testbed.workload", "--web", webdb.WEB_VIP,
        "--expect", str(directory / "page.html"), "--db", webdb.DB_VIP,
        "--password-file", str(directory / "db.password"), "--out", str(out),
    ]  # fmt: skip
    with open(directory / "workload.err", "wb") as err:
        process = tb.client_popen(CLIENT, argv, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
    return Client(process, Records(out), directory)


def placed(tb: Testbed, want: dict[str, str], observers: Iterable[str]) -> bool:
    seen = webdb.services(tb, list(observers))
    return seen is not None and all(seen.get(service) == ("started", node) for service, node in want.items())


@dataclass
class Driver:
    """The operations run so far, the owners each service had, and the waits between operations."""

    tb: Testbed
    records: Records
    timeout: float = 240.0
    operations: list[Operation] = field(default_factory=list)
    owners: dict[str, list[str]] = field(
        default_factory=lambda: {"web": [webdb.WEB_PREFERENCE[0]], "db": [webdb.DB_PREFERENCE[0]]}
    )
    touched: dict[str, set[str]] = field(default_factory=dict)
    #: Nodes whose view of the cluster does not count (powered off, or cut off from the majority).
    down: set[str] = field(default_factory=set)

    def where(self) -> dict[str, str]:
        return {service: owners[-1] for service, owners in self.owners.items()}

    def served(self, since: float) -> bool:
        want = self.where()
        if not placed(self.tb, want, [n for n in self.tb.nodes if n not in self.down]):
            return False
        return self.records.served_by("http", want["web"], since) and self.records.served_by(
            "sql", want["db"], since
        )

    def settle(self, since: float, what: str = "the client served by both services") -> None:
        try:
            wait_until(f"{what}: {self.where()}", lambda: self.served(since), self.timeout)
        except WaitTimeout as exc:
            logs = "".join(f"\n--- {n} (tail) ---\n{self.tb.daemon_log(n)[-1500:]}" for n in self.tb.nodes)
            raise WaitTimeout(f"{exc}{logs}") from None

    def step(self, label: str, moves: dict[str, str], action: Callable[[], None]) -> Operation:
        """Run ``action``; wait until each moved service runs on its new node and the client is served there."""
        operation = Operation(label, time.time())
        self.operations.append(operation)
        self.touched[label] = set(moves)
        for service, node in moves.items():
            self.owners[service].append(node)
        action()
        self.settle(operation.started, f"after '{label}'")
        return operation

    # -------------------------------------------------------------------------------------- actions
    def clusvcadm(self, *args: str) -> None:
        node = next(n for n in self.tb.nodes if n not in self.down)
        done = self.tb.exec(node, [*webdb.CLUSVCADM, *args], timeout=self.timeout)
        if done.returncode != 0:
            raise AssertionError(f"clusvcadm {' '.join(args)} on {node}: {(done.stdout + done.stderr).strip()}")

    def relocate(self, service: str, node: str) -> Operation:
        return self.step(f"clusvcadm -r {service} -m {node.split('.')[0]}", {service: node},
                         lambda: self.clusvcadm("-r", service, "-m", node))  # fmt: skip

    def kill_daemon(self, node: str, service: str, heir: str) -> Operation:
        """SIGKILL the daemon of ``service``'s owner ``node``: its applications go on until the fence cuts the
        power; then ``heir`` takes the service over."""

        def action() -> None:
            self.tb.kill(node)
            self.down.add(node)
            wait_until(f"{node} powered off by the fence", lambda: not self.tb.is_powered(node), self.timeout)

        return self.step(f"SIGKILL quorated on {node.split('.')[0]} ({service}): fence, takeover", {service: heir},
                         action)  # fmt: skip

    def power_off(self, node: str, service: str, heir: str) -> Operation:
        def action() -> None:
            self.tb.power_off(node)
            self.down.add(node)

        return self.step(f"{node.split('.')[0]} ({service}) powered off: fence, takeover", {service: heir}, action)

    def boot(self, node: str, service: str) -> Operation:
        """Power ``node`` on with its daemon; it rejoins and ``service`` fails back to it."""

        def action() -> None:
            self.tb.power_on(node, start_daemon=True)
            self.down.discard(node)

        return self.step(f"{node.split('.')[0]} powered on, rejoins: {service} fails back", {service: node}, action)
