"""The Testbed: a whole cluster of network-namespace hosts on this one machine.

Theory of operation: ``Testbed.up`` reads the node list from cluster.conf,
tears down anything left under the same prefix, lays out each node's disk,
builds the switch and host namespaces (``netns.py``), launches one holder per
node (``hosts.py``) and optionally the daemons.  After that the object is a
thin controller over ``state.json``: every operation re-reads the state under
a lock, acts, and writes it back, so a test, the CLI and the demo can drive the
same testbed from different processes (``Testbed.attach``).

"On a node" means inside all of the holder's namespaces via nsenter; the
daemon's host-visible PID is nsenter's child.  Commands, daemon, power and
fault operations live in ``control.py`` (a mixin) to keep modules small, and
client hosts (not cluster nodes, the source of application traffic) in
``clients.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from quorate.testbed import hosts, netns, procs
from quorate.testbed.clients import ClientMixin
from quorate.testbed.conf import TestbedError, check_prefix, hosts_file, read_nodes, switch_netns
from quorate.testbed.state import BedState, NodeState, load, locked, run_dir, save

DEFAULT_DAEMON = ("-m", "quorate.node.daemon")
REQUIRED_TOOLS = ("ip", "nft", "unshare", "nsenter")
FIREWALL_ENV = "QUORATE_TESTBED_FIREWALL"


def missing_prerequisites() -> list[str]:
    """What keeps the testbed from running here: not root, or a missing tool."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the testbed needs root (network namespaces, mounts, nftables)")
    problems += [f"{tool} is not installed" for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    return problems


def _require_prerequisites() -> None:
    problems = missing_prerequisites()
    if problems:
        raise TestbedError("; ".join(problems))


class Testbed(ClientMixin):
    """A running testbed; build with ``up`` or ``attach``, end with ``down``."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, state: BedState) -> None:
        self._state = state
        self._children: list[subprocess.Popen[bytes]] = []
        self._popened: list[subprocess.Popen[Any]] = []
        self._closed = False

    # ----------------------------------------------------------- construction
    @classmethod
    def up(
        cls,
        conf_path: str | Path,
        *,
        prefix: str = "qt",
        key_path: str | Path | None = None,
        start_daemons: bool = True,
        daemon_args: Sequence[str] = (),
        daemon_command: Sequence[str] | None = None,
        firewall: str | None = None,
    ) -> Testbed:
        """Build the testbed described by ``conf_path`` (replacing any testbed of that prefix).

        ``daemon_command`` replaces ``[sys.executable, "-m", "quorate.node.daemon"]``
        for every node, which lets tests and the demo run another program as "the daemon".
        ``firewall`` ("accept" or "drop", default $QUORATE_TESTBED_FIREWALL or none) loads
        ``quorate firewall`` with that input policy on every node before the daemons start,
        so any test can be run behind the rules an administrator would load.
        """
        firewall = firewall or os.environ.get(FIREWALL_ENV) or None
        check_prefix(prefix)
        _require_prerequisites()
        specs = read_nodes(conf_path)
        conf_text = Path(conf_path).read_bytes()
        key = Path(key_path).read_bytes() if key_path else os.urandom(32)
        cls.down_prefix(prefix)
        directory = run_dir(prefix)
        command = list(daemon_command) if daemon_command else [sys.executable, *DEFAULT_DAEMON]
        state = BedState(
            prefix=prefix,
            run_dir=str(directory),
            switch_ns=switch_netns(prefix),
            conf_path=str(Path(conf_path).resolve()),
            key_path=str(directory / "quorate.key"),
            daemon_command=command,
            daemon_args=list(daemon_args),
            creator_pid=os.getpid(),
            nodes=[
                NodeState(
                    name=spec.name,
                    nodeid=spec.nodeid,
                    short=spec.short,
                    address=spec.address,
                    netns=spec.netns(prefix),
                    veth=spec.veth(),
                    dir=str(directory / spec.name),
                )
                for spec in specs
            ],
        )
        bed = cls(state)
        try:
            with locked(prefix):
                save(state)  # before creating anything, so a crash mid-way can be cleaned up
                fd = os.open(state.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(key)
                hosts_text = hosts_file(specs)
                for node in state.nodes:
                    hosts.prepare_node_dir(Path(node.dir), conf_text, key, hosts_text)
                netns.create_switch(state.switch_ns)
                for node in state.nodes:
                    netns.create_host(node.netns, state.switch_ns, node.veth, node.address)
                bed._boot([node.name for node in state.nodes])
                for node in state.nodes:
                    netns.wait_link_up(node.netns)
                save(state)
            if firewall:
                bed.apply_firewall(policy=firewall)
            if start_daemons:
                for node in state.nodes:
                    bed.start_daemon(node.name)
        except BaseException:
            bed.down()
            raise
        return bed

    @classmethod
    def attach(cls, prefix: str = "qt") -> Testbed:
        """Control a testbed that another process brought up."""
        check_prefix(prefix)
        return cls(load(prefix))

    @classmethod
    def down_prefix(cls, prefix: str) -> None:
        """Remove everything of testbed ``prefix``, even if its creator crashed mid-way."""
        check_prefix(prefix)
        problems = hosts.teardown(prefix)
        if problems:
            raise TestbedError(f"testbed {prefix!r} not fully removed: {'; '.join(problems)}")

    def down(self) -> None:
        """Kill every process of every node, delete the namespaces and the run directory."""
        if self._closed:
            return
        state = self._state
        try:
            with locked(state.prefix, timeout=10.0):
                self._refresh()
        except TestbedError:
            pass  # tear down with what we know
        problems = hosts.teardown(self._state.prefix, self._state)
        self._reap(wait_for=[proc.pid for proc in self._children])
        self._reap_popened()
        self._closed = True
        if problems:
            raise TestbedError(f"testbed {state.prefix!r} not fully removed: {'; '.join(problems)}")

    def __enter__(self) -> Testbed:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    # ------------------------------------------------------------ description
    @property
    def prefix(self) -> str:
        return self._state.prefix

    @property
    def nodes(self) -> list[str]:
        """Full node names, ordered by nodeid."""
        return [node.name for node in self._state.nodes]

    @property
    def run_dir(self) -> Path:
        return Path(self._state.run_dir)

    @property
    def key_path(self) -> Path:
        """The cluster key every node got (host path)."""
        return Path(self._state.key_path)

    def address(self, node: str) -> str:
        return self._node(node).address

    def node_dir(self, node: str) -> Path:
        """Host path of a node's files: ``etc/cluster``, ``var/lib/quorate``, ``var/log/quorate``, ``etc/hosts``."""
        return Path(self._node(node).dir)

    def netns(self, node: str) -> str:
        """Name of the node's network namespace (for ``ip netns exec``)."""
        return self._node(node).netns

    def holder_pid(self, node: str) -> int | None:
        """Host-visible PID of the node's PID 1, None while powered off."""
        self._refresh()
        entry = self._node(node)
        return entry.holder_pid if entry.powered else None

    def __repr__(self) -> str:
        return f"Testbed(prefix={self.prefix!r}, nodes={self.nodes!r})"

    # -------------------------------------------------------------- internals
    def _refresh(self) -> None:
        """Pick up changes made by other controllers (the CLI, another test process)."""
        if self._closed:
            raise TestbedError(f"testbed {self._state.prefix!r} is down")
        try:
            self._state = load(self._state.prefix)
        except TestbedError:
            pass  # keep what we have; teardown still knows the names

    def _boot(self, names: Sequence[str]) -> None:
        """Launch holders for the named nodes and wait until all are ready (lock held)."""
        launched = {}
        for name in names:
            node = self._node(name)
            proc = hosts.launch_holder(self._state, node)
            self._children.append(proc)
            node.launcher_pid = proc.pid
            launched[node.name] = proc
        ready = hosts.await_ready(launched)
        for name, pid in ready.items():
            node = self._node(name)
            node.holder_pid = pid
            node.powered = True
            node.daemon_pid = node.daemon_launcher_pid = None

    def _reap_popened(self, timeout: float = 5.0) -> None:
        """Collect what ``popen`` started and nobody ended: the nodes are gone, so nsenter exits too."""
        for proc in self._popened:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                procs.kill_launched(proc.pid, timeout)
                proc.wait(timeout=timeout)
        self._popened = []

    def _reap(self, wait_for: Iterable[int] = (), timeout: float = 5.0) -> None:
        """Collect exited children we launched; those in ``wait_for`` (being killed) get ``timeout`` to exit."""
        waited = set(wait_for)
        still: list[subprocess.Popen[bytes]] = []
        for proc in self._children:
            if proc.stdout is not None and not proc.stdout.closed:
                proc.stdout.close()
            try:
                proc.wait(timeout=timeout) if proc.pid in waited else proc.poll()
            except subprocess.TimeoutExpired:
                pass
            if proc.returncode is None:
                still.append(proc)
        self._children = still
