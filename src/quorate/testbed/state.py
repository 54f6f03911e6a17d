"""The testbed's record of what it made, so another process can attach or clean up.

Theory of operation: everything a testbed creates — namespace names, run
directory, host-visible PIDs of holders, daemons and their launchers, the
faults in force, the client hosts — is written to ``/run/quorate-testbed/<prefix>/state.json``
after every change.  ``Testbed.attach`` rebuilds a controller from it (the CLI
is a new process per command), and teardown uses it as a first guide, while
not trusting it: PIDs are checked against namespaces before being killed, and
leftovers are also found by name.  Writes go through a temporary file and a
rename so a crash never leaves half a file; a lock file serialises
read-modify-write cycles between processes.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quorate.system.files import write_atomically
from quorate.testbed.conf import ClientSpec, NodeSpec, TestbedError

RUN_ROOT = Path("/run/quorate-testbed")
STATE_FILE = "state.json"
LOCK_FILE = ".lock"


@dataclass
class NodeState:
    """One host: fixed layout plus the PIDs that are its current life."""

    name: str
    nodeid: int
    short: str
    address: str
    netns: str
    veth: str
    dir: str
    powered: bool = False
    holder_pid: int | None = None
    launcher_pid: int | None = None
    daemon_pid: int | None = None
    daemon_launcher_pid: int | None = None

    @property
    def spec(self) -> NodeSpec:
        return NodeSpec(name=self.name, nodeid=self.nodeid)


@dataclass
class ClientState:
    """A client host: a network namespace on the LAN, no holder, no daemon, no power of its own."""

    name: str
    address: str
    netns: str
    veth: str

    @property
    def spec(self) -> ClientSpec:
        return ClientSpec(name=self.name, address=self.address)


@dataclass
class BedState:
    """The whole testbed."""

    prefix: str
    run_dir: str
    switch_ns: str
    conf_path: str
    key_path: str
    daemon_command: list[str]
    daemon_args: list[str]
    creator_pid: int
    nodes: list[NodeState] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    clients: list[ClientState] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BedState:
        raw = json.loads(text)
        nodes = [NodeState(**node) for node in raw.pop("nodes", [])]
        clients = [ClientState(**client) for client in raw.pop("clients", [])]
        return cls(nodes=nodes, clients=clients, **raw)


def run_dir(prefix: str) -> Path:
    return RUN_ROOT / prefix


def state_path(prefix: str) -> Path:
    return run_dir(prefix) / STATE_FILE


def load(prefix: str) -> BedState:
    path = state_path(prefix)
    try:
        return BedState.from_json(path.read_text())
    except FileNotFoundError as exc:
        raise TestbedError(f"no testbed {prefix!r} is up (no {path})") from exc
    except (ValueError, TypeError) as exc:
        raise TestbedError(f"{path} is damaged ({exc}); use down to clean up") from exc


def load_or_none(prefix: str) -> BedState | None:
    try:
        return load(prefix)
    except TestbedError:
        return None


def save(state: BedState) -> None:
    path = state_path(state.prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, state.to_json().encode(), mode=0o644)


@contextmanager
def locked(prefix: str, timeout: float = 60.0) -> Iterator[None]:
    """Hold the testbed's lock file, so two controllers do not interleave changes."""
    directory = run_dir(prefix)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TestbedError(f"testbed {prefix!r} is locked by another controller") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def known_prefixes() -> list[str]:
    """Prefixes that have a run directory (up, or left behind by a crash)."""
    try:
        return sorted(entry.name for entry in RUN_ROOT.iterdir() if entry.is_dir())
    except FileNotFoundError:
        return []
