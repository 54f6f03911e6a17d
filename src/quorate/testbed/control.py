"""Running things on testbed hosts: commands, the daemon, power and faults.

Theory of operation: these are the ``Testbed`` operations that act on a
running testbed; they live in a mixin only to keep modules small.  Each one
that changes anything runs inside ``_edit``: take the testbed lock, re-read
``state.json``, act, write it back.  Commands run through ``nsenter`` into the
holder's namespaces, in their own session so that a timeout can kill the
whole process group (what nsenter forked inside the node first, then nsenter).

The daemon's recorded PID is nsenter's child, i.e. the program itself, so
signals reach it directly.  nsenter stops itself when its child stops, so
``resume`` continues the launcher as well as the daemon.  A PID only counts
as "the daemon" while it lives in the node's PID namespace, which guards
against PID reuse after a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from quorate.testbed import faults as nft
from quorate.testbed import hosts, netns, procs
from quorate.testbed.conf import NodeSpec, TestbedError, resolve
from quorate.testbed.state import BedState, NodeState, locked, save

DAEMON_LOG = "var/log/quorate/quorated.log"
FIREWALL = [sys.executable, "-m", "quorate.cli.main", "firewall"]
DAEMON_START_TIMEOUT = 5.0


class ControlMixin:
    """Operations on a running testbed (mixed into ``Testbed``)."""

    _state: BedState
    _children: list[subprocess.Popen[bytes]]
    _popened: list[subprocess.Popen[Any]]

    def _refresh(self) -> None:  # pragma: no cover - provided by Testbed
        raise NotImplementedError

    def _boot(self, names: Sequence[str]) -> None:  # pragma: no cover - provided by Testbed
        raise NotImplementedError

    def _reap(self, wait_for: Iterable[int] = (), timeout: float = 5.0) -> None:  # pragma: no cover - in Testbed
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    def _node(self, node: str) -> NodeState:
        spec = resolve([entry.spec for entry in self._state.nodes], node)
        return next(entry for entry in self._state.nodes if entry.name == spec.name)

    @contextmanager
    def _edit(self) -> Iterator[None]:
        with locked(self._state.prefix):
            self._refresh()
            yield
            save(self._state)

    def _holder(self, node: str) -> int:
        """PID to nsenter for a powered node; a clear error when it is off."""
        self._refresh()
        return self._holder_of(self._node(node))

    @staticmethod
    def _holder_of(entry: NodeState) -> int:
        if not entry.powered or not entry.holder_pid or not procs.is_alive(entry.holder_pid):
            raise TestbedError(f"node {entry.name} is powered off")
        return entry.holder_pid

    @staticmethod
    def _env(env: Mapping[str, str] | None) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(env or {})
        return merged

    # --------------------------------------------------------------- commands
    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 30,
        check: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on a node and capture its output (text).

        ``env`` is added to this process's environment.  On timeout the command and
        everything it forked in its process group are killed and TimeoutExpired is raised.
        """
        return self._captured(procs.nsenter_argv(self._holder(node)), argv, input, timeout, check, env)

    def _captured(
        self,
        launcher: Sequence[str],
        argv: Sequence[str],
        input: str | None,
        timeout: float,
        check: bool,
        env: Mapping[str, str] | None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``launcher + argv`` in a session of its own, output captured; a timeout kills the session."""
        argv = list(argv)
        with subprocess.Popen(
            [*launcher, *argv],
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(env),
            start_new_session=True,
        ) as proc:
            try:
                out, err = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                procs.kill_launched(proc.pid)
                try:
                    proc.communicate(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass  # a grandchild that left the group still holds the pipes
                raise
        done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if check:
            done.check_returncode()
        return done

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a command on a node; ``kwargs`` go to subprocess.Popen.

        The returned process is nsenter, in a session of its own; ``inner_pid(proc)``
        gives the program's own PID, and ``end_popen(proc)`` stops it cleanly (killing
        nsenter first would orphan the program to the machine's init).
        """
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(procs.nsenter_argv(self._holder(node)) + list(argv), **kwargs)
        self._popened.append(proc)  # reaped by down() if the caller did not end it
        return proc

    @staticmethod
    def end_popen(proc: subprocess.Popen[Any], timeout: float = 5.0) -> int | None:
        """Kill what ``popen`` started (its session, inside first) and reap it; returns its status."""
        if proc.poll() is None:
            procs.kill_launched(proc.pid, timeout)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    @staticmethod
    def inner_pid(proc: subprocess.Popen[Any], timeout: float = DAEMON_START_TIMEOUT) -> int | None:
        """Host-visible PID of the program a ``popen`` started (nsenter's child, once it runs the program)."""
        return procs.wait_for_exec(proc.pid, timeout)

    # ----------------------------------------------------------------- daemon
    def start_daemon(self, node: str, extra_args: Sequence[str] = (), *, command: Sequence[str] | None = None) -> int:
        """Start the daemon on a node, output appended to its quorated.log; returns its PID.

        ``command`` replaces the testbed's daemon command and ``daemon_args`` for this start.
        """
        with self._edit():
            entry = self._node(node)
            holder = self._holder_of(entry)
            if self._daemon_alive(entry):
                raise TestbedError(f"the daemon is already running on {entry.name} (pid {entry.daemon_pid})")
            base = list(command) if command else [*self._state.daemon_command, *self._state.daemon_args]
            argv = procs.nsenter_argv(holder) + base + list(extra_args)
            log_path = Path(entry.dir) / DAEMON_LOG
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env({"PYTHONUNBUFFERED": "1"}),
                    start_new_session=True,
                )
            self._children.append(proc)
            pid = procs.wait_for_exec(proc.pid, DAEMON_START_TIMEOUT)
            if pid is None:
                raise TestbedError(f"could not start the daemon on {entry.name}; see {log_path}")
            entry.daemon_pid, entry.daemon_launcher_pid = pid, proc.pid
            return pid

    def _daemon_alive(self, entry: NodeState) -> bool:
        pid = entry.daemon_pid
        if not entry.powered or not pid or not entry.holder_pid or not procs.is_alive(pid):
            return False
        return procs.ns_id(pid, "pid") == procs.ns_id(entry.holder_pid, "pid")

    def daemon_running(self, node: str) -> bool:
        self._refresh()
        self._reap()
        return self._daemon_alive(self._node(node))

    def daemon_pid(self, node: str) -> int | None:
        """Host-visible PID of the node's daemon, None if it is not running."""
        self._refresh()
        entry = self._node(node)
        return entry.daemon_pid if self._daemon_alive(entry) else None

    def daemon_log(self, node: str) -> str:
        try:
            return (Path(self._node(node).dir) / DAEMON_LOG).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _signal_daemon(self, node: str, sig: int) -> NodeState:
        self._refresh()
        entry = self._node(node)
        if not self._daemon_alive(entry):
            raise TestbedError(f"no daemon is running on {entry.name}")
        procs.send(entry.daemon_pid, sig)
        return entry

    def kill(self, node: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the node's daemon; SIGKILL also waits (bounded) until it is gone."""
        entry = self._signal_daemon(node, sig)
        if sig == signal.SIGKILL:
            procs.send(entry.daemon_launcher_pid, signal.SIGCONT)  # a stopped nsenter would not reap
            procs.wait_gone([entry.daemon_pid or 0], 5.0)
            self._reap(wait_for=[entry.daemon_launcher_pid or 0])

    def pause(self, node: str) -> None:
        """Freeze the daemon (SIGSTOP), as a long scheduling stall or a hung host would."""
        entry = self._signal_daemon(node, signal.SIGSTOP)
        procs.wait_state(entry.daemon_pid or 0, "Tt", 2.0)

    def resume(self, node: str) -> None:
        """Thaw a paused daemon (SIGCONT to it and to its nsenter, which stopped with it)."""
        entry = self._signal_daemon(node, signal.SIGCONT)
        procs.send(entry.daemon_launcher_pid, signal.SIGCONT)
        procs.wait_state(entry.daemon_pid or 0, "RSDI", 2.0)

    def stop_daemon(self, node: str, timeout: float = 10.0) -> None:
        """SIGTERM the daemon, SIGKILL it if it has not gone after ``timeout`` seconds."""
        self._refresh()
        entry = self._node(node)
        if not self._daemon_alive(entry):
            return
        pid = entry.daemon_pid or 0
        procs.send(pid, signal.SIGTERM)
        procs.send(pid, signal.SIGCONT)
        procs.send(entry.daemon_launcher_pid, signal.SIGCONT)
        if not procs.wait_gone([pid], timeout):
            procs.send(pid, signal.SIGKILL)
            procs.wait_gone([pid], 5.0)
        self._reap(wait_for=[entry.daemon_launcher_pid or 0])

    # ------------------------------------------------------------------ power
    def is_powered(self, node: str) -> bool:
        self._refresh()
        entry = self._node(node)
        return entry.powered and procs.is_alive(entry.holder_pid)

    def power_off(self, node: str) -> None:
        """Pull the plug: every process of the node dies, its mounts go, its port goes down, and its network
        keeps only its configured address (the floating addresses its services held go with the power)."""
        with self._edit():
            entry = self._node(node)
            launchers = [pid for pid in (entry.launcher_pid, entry.daemon_launcher_pid) if pid]
            hosts.kill_holder(entry)
            netns.set_port(self._state.switch_ns, entry.veth, up=False)
            netns.reset_to_boot(entry.netns, entry.address)
            entry.powered = False
            entry.holder_pid = entry.launcher_pid = None
            entry.daemon_pid = entry.daemon_launcher_pid = None
        self._reap(wait_for=launchers)

    def power_on(self, node: str, *, start_daemon: bool = False) -> None:
        """Boot a node again: fresh processes, fresh /run, same disk; port up."""
        with self._edit():
            entry = self._node(node)
            if entry.powered and procs.is_alive(entry.holder_pid):
                raise TestbedError(f"node {entry.name} is already powered on")
            self._boot([entry.name])
            netns.set_port(self._state.switch_ns, entry.veth, up=True)
            netns.wait_link_up(entry.netns)
            for other in self._state.nodes:
                if other.name != entry.name:
                    netns.forget_neighbour(other.netns, entry.address)
            for client in self._state.clients:
                netns.forget_neighbour(client.netns, entry.address)
        if start_daemon:
            self.start_daemon(node)

    # ----------------------------------------------------------------- faults
    def _specs(self, names: Sequence[str]) -> list[NodeSpec]:
        return [self._node(name).spec for name in names]

    def partition(self, *groups: Sequence[str]) -> None:
        """Split the LAN: nodes in different groups (unnamed nodes alone) stop hearing each other."""
        with self._edit():
            every = [entry.spec for entry in self._state.nodes]
            resolved = [self._specs([group] if isinstance(group, str) else group) for group in groups]
            drops = nft.partition_drops(every, resolved)
            for entry in self._state.nodes:
                nft.apply(entry.netns, nft.base_script() + nft.drop_from_script(drops[entry.name]))
            self._state.faults.append({"partition": [[spec.name for spec in group] for group in resolved]})

    def one_way(self, src: str, dst: str) -> None:
        """Packets from ``src`` no longer reach ``dst``; ``dst`` -> ``src`` still works."""
        with self._edit():
            source, target = self._node(src), self._node(dst)
            nft.apply(target.netns, nft.base_script() + nft.drop_from_script([source.address]))
            self._state.faults.append({"one_way": [source.name, target.name]})

    def loss(self, node: str, percent: int) -> None:
        """The node drops ``percent`` % of incoming packets at random."""
        with self._edit():
            entry = self._node(node)
            nft.apply(entry.netns, nft.base_script() + nft.loss_script(int(percent)))
            self._state.faults.append({"loss": [entry.name, int(percent)]})

    def heal(self) -> None:
        """Remove every fault on every node."""
        with self._edit():
            for entry in self._state.nodes:
                nft.apply(entry.netns, nft.heal_script())
            self._state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The faults in force, in the order they were added."""
        self._refresh()
        return list(self._state.faults)

    # --------------------------------------------------------------- firewall
    def apply_firewall(self, nodes: Sequence[str] | None = None, *, policy: str = "drop") -> None:
        """Load ``quorate firewall --apply`` on each node, as an administrator would on a real host.

        It runs on the node, so it reads the node's own cluster.conf and resolves names through the node's
        /etc/hosts. The rules live in the node's network namespace, which outlives power cycles, like a
        firewall loaded at boot; they are a table of their own (``inet quorate``), untouched by ``heal``.
        ``policy="drop"`` makes them the node's whole input firewall.
        """
        self._refresh()
        for name in nodes or [entry.name for entry in self._state.nodes]:
            done = self.exec(name, [*FIREWALL, "--apply", "--policy", policy], timeout=60)
            if done.returncode != 0:
                raise TestbedError(f"quorate firewall --apply failed on {name}: {(done.stderr or done.stdout).strip()}")

    def firewall_rules(self, node: str) -> str:
        """The node's ``inet quorate`` table with its counters, as ``nft list`` prints it ("" without one)."""
        argv = ["ip", "netns", "exec", self._node(node).netns, "nft", "list", "table", "inet", "quorate"]
        return netns.run(argv, check=False)
