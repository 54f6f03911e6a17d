"""Client hosts: machines on the testbed LAN that are not cluster nodes, the source of an application's traffic.

Theory of operation: a client is what an administrator's users sit behind: it reaches the services' floating
addresses over the same switch as the nodes, and nothing else. It is a network namespace ``<prefix>-<name>``
cabled to the switch like a node (``netns.create_host``: its own address, IPv6 off, no route out of the
LAN), but it has no holder, no daemon and no power of its own: commands run in it with ``ip netns exec``,
which gives each one the client's network and the machine's files (a test's workload writes its records
where the test reads them). Clients are recorded in ``state.json`` so that the CLI and other controllers
see them, and ``down`` removes them with everything else of the prefix.

Network faults are about the cluster: ``partition``, ``one_way`` and ``loss`` cut or thin the links between
nodes only (each node drops the *nodes'* source addresses), so a client reaches every powered node whatever
the faults, as clients on the far side of a broken inter-switch link would still reach both halves. A test
that partitions a service's owner away therefore sees that owner keep answering until it stops its services
on quorum loss, which is the case that loses data when a cluster gets it wrong.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from quorate.testbed import netns, procs
from quorate.testbed.conf import TestbedError, client_spec
from quorate.testbed.control import ControlMixin
from quorate.testbed.state import ClientState

#: How long ``client_popen`` waits for its program to enter the client's namespace.
ENTER_TIMEOUT = 5.0

DEFAULT_CLIENT_ADDRESS = "192.168.0.100"


class ClientMixin(ControlMixin):
    """Client host operations, on top of the node operations (``Testbed`` is one)."""

    # ------------------------------------------------------------ description
    @property
    def clients(self) -> list[str]:
        """Client names, in the order they were added."""
        self._refresh()
        return [client.name for client in self._state.clients]

    def is_client(self, name: str) -> bool:
        return name in self.clients

    def _client(self, name: str) -> ClientState:
        for client in self._state.clients:
            if client.name == name:
                return client
        known = ", ".join(client.name for client in self._state.clients) or "none"
        raise TestbedError(f"unknown client {name!r}; this testbed's clients: {known}")

    def client_address(self, name: str) -> str:
        self._refresh()
        return self._client(name).address

    def client_netns(self, name: str) -> str:
        """Name of the client's network namespace (for ``ip -n`` or ``ip netns exec``)."""
        self._refresh()
        return self._client(name).netns

    # ---------------------------------------------------------- life cycle
    def add_client(self, name: str, address: str = DEFAULT_CLIENT_ADDRESS) -> str:
        """Cable a client host to the LAN with ``address``/24; returns its network namespace's name."""
        with self._edit():
            state = self._state
            spec = client_spec(
                name, address, [node.spec for node in state.nodes], [client.spec for client in state.clients]
            )
            entry = ClientState(name=spec.name, address=spec.address, netns=spec.netns(state.prefix), veth=spec.veth())
            if entry.netns in netns.list_netns():
                raise TestbedError(f"network namespace {entry.netns} already exists (left over? run down)")
            try:
                netns.create_host(entry.netns, state.switch_ns, entry.veth, entry.address, multicast=False)
                if not netns.wait_link_up(entry.netns):
                    raise TestbedError(f"client {name}: its link did not come up")
            except BaseException:
                netns.delete_netns(entry.netns)
                raise
            state.clients.append(entry)
            return entry.netns

    def remove_client(self, name: str) -> None:
        """Unplug a client: whatever runs in it is killed, its namespace (and cable) deleted."""
        with self._edit():
            entry = self._client(name)
            ident = procs.file_ns_id(Path(netns.NETNS_DIR) / entry.netns)
            survivors = procs.kill_namespace_members("net", [ident]) if ident else []
            netns.delete_netns(entry.netns)
            self._state.clients.remove(entry)
            if survivors:
                raise TestbedError(f"client {name}: processes would not die: {survivors}")

    # ------------------------------------------------------------ commands
    def _launcher(self, name: str) -> list[str]:
        self._refresh()
        entry = self._client(name)
        if entry.netns not in netns.list_netns():
            raise TestbedError(f"client {name}: its namespace {entry.netns} is gone")
        return ["ip", "netns", "exec", entry.netns]

    def client_exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 30,
        check: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on a client and capture its output (text); same contract as ``exec`` on a node."""
        return self._captured(self._launcher(name), argv, input, timeout, check, env)

    def client_popen(self, name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a command on a client; ``kwargs`` go to subprocess.Popen.

        ``ip netns exec`` replaces itself with the program, so the returned process *is* the program:
        signal it directly (``terminate``) to let it finish cleanly; ``down`` kills what is left. It is
        returned once it runs inside the client's namespace: before that, ``remove_client`` would not find it
        there and delete the namespace while ``ip`` still holds it open, and the program would then run on in
        an orphaned namespace that nothing kills.
        """
        kwargs.setdefault("start_new_session", True)
        launcher = self._launcher(name)
        inside = procs.file_ns_id(Path(netns.NETNS_DIR) / launcher[-1])
        proc: subprocess.Popen[Any] = subprocess.Popen([*launcher, *argv], **kwargs)
        self._popened.append(proc)
        deadline = time.monotonic() + ENTER_TIMEOUT
        while proc.poll() is None and procs.ns_id(proc.pid, "net") != inside and time.monotonic() < deadline:
            time.sleep(0.002)
        return proc

    def client_neighbours(self, name: str) -> list[tuple[str, str | None, str]]:
        """The client's neighbour table: (address, MAC or None, state) per entry, as ``ip neigh`` has it."""
        return netns.neighbours(self.client_netns(name))
