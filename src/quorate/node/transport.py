"""UDP transport: authenticated datagrams to every configured node, by unicast or by multicast.

Theory of operation: one UDP socket bound to the cluster port (5405 by default, cman's). Outgoing messages
are sealed once (`wire.WireCodec`) and sent either to each destination's address (the default: it works on
every network, including clouds without multicast) or, when cluster.conf sets `<multicast addr>` and the
message goes to every peer, once to the group. Incoming datagrams are authenticated before anything looks at
their body; what fails is counted by reason and dropped, and nothing a peer sends can raise out of here.

A configured node whose datagrams do not authenticate is said in the log once per node and reason (a node that
missed a key rotation is the usual cause, and the sentence says what to do); datagrams that only the retired key
opens go to `deliver_retired` (key fetches), never to the node core as cluster traffic.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct
from collections import Counter
from collections.abc import Callable

from quorate.node.wire import VERSION as WIRE_VERSION
from quorate.node.wire import Dropped, RetiredKeyDatagram, WireCodec

log = logging.getLogger("quorated")


class TransportError(Exception):
    """The socket cannot be set up (port in use, address missing); the message is for the administrator."""


class Transport(asyncio.DatagramProtocol):
    def __init__(
        self,
        codec: WireCodec,
        addresses: dict[int, str],
        port: int,
        deliver: Callable[[int, int, bytes], None],
        multicast: str | None = None,
        deliver_retired: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        self.codec = codec
        self._peers: frozenset[int] = frozenset()
        self.addresses = addresses
        self.port = port
        self.deliver = deliver
        self.multicast = multicast
        self.sent = 0
        self.send_errors: Counter[str] = Counter()
        self.transport: asyncio.DatagramTransport | None = None
        self.versions_said: set[tuple[str, int]] = set()
        self.deliver_retired = deliver_retired
        self.refusals_said: set[tuple[int, str]] = set()

    @property
    def addresses(self) -> dict[int, str]:
        return self._addresses

    @addresses.setter
    def addresses(self, addresses: dict[int, str]) -> None:
        # Every other configured node, worked out once per configuration rather than once per datagram sent.
        self._addresses = addresses
        self._peers = frozenset(addresses) - {self.codec.local_nodeid}

    @staticmethod
    def open_socket(local_address: str, port: int, multicast: str | None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            bind_to = "0.0.0.0" if multicast else local_address
            try:
                sock.bind((bind_to, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise TransportError(
                        f"UDP port {port} on {bind_to} is in use: another quorated (or corosync) is running"
                    ) from None
                raise TransportError(f"cannot bind UDP {bind_to}:{port}: {exc.strerror}") from None
            if multicast:
                group = ipaddress.IPv4Address(multicast)
                if not group.is_multicast:
                    raise TransportError(f"multicast address {multicast} is not an IPv4 multicast address")
                mreq = struct.pack("4s4s", group.packed, socket.inet_aton(local_address))
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                except OSError as exc:
                    raise TransportError(
                        f"cannot join multicast group {multicast} on {local_address}: {exc.strerror} "
                        "(is there a route for 224.0.0.0/4?)"
                    ) from None
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local_address))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    # asyncio callbacks ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            sender, epoch, payload = self.codec.open(data)
        except RetiredKeyDatagram as exc:
            self._say_refusal_once(exc.sender, exc.reason, addr[0])
            if self.deliver_retired is not None:
                self.deliver_retired(exc.sender, exc.epoch, exc.payload)
            return
        except Dropped as exc:
            if exc.reason == "bad_version":
                self._say_version_once(data, addr[0])
            elif exc.reason == "auth_failed" and len(data) >= 12:
                self._say_refusal_once(int.from_bytes(data[6:10], "big"), exc.reason, addr[0])
            return  # counted by the codec, by reason
        self.deliver(sender, epoch, payload)

    def _say_version_once(self, data: bytes, address: str) -> None:
        """A configured node speaking another wire version runs another release: say it once per address and
        version (the header is not authenticated yet, so only configured addresses are named, and a bounded
        number of them)."""
        names = [str(nodeid) for nodeid, known in self.addresses.items() if known == address]
        said = (address, data[2])
        if not names or said in self.versions_said or len(self.versions_said) >= 64:
            return
        self.versions_said.add(said)
        log.warning(
            "node id %s (%s) sends wire protocol version %d and this quorated speaks %d: they cannot form one "
            "view; every node must run the same quorate release (stop quorated on every node, upgrade, start)",
            ",".join(names), address, data[2], WIRE_VERSION,
        )  # fmt: skip

    def _say_refusal_once(self, nodeid: int, reason: str, address: str) -> None:
        """Once per configured node and reason (an unauthenticated header names the node: only a configured node
        sending from its own address is named, so a forger cannot fill the log)."""
        if self.addresses.get(nodeid) != address or (nodeid, reason) in self.refusals_said:
            return
        self.refusals_said.add((nodeid, reason))
        if reason == "retired_key":
            text = (f"node id {nodeid} ({address}) still uses the cluster key that a rotation retired: it was down "
                    "during the rotation; run 'quorate key fetch' on it (within the grace period) or copy the key "
                    "file to it")  # fmt: skip
        else:
            text = (f"datagrams from node id {nodeid} ({address}) do not authenticate with this node's cluster key: "
                    "if the key was rotated while one of the two was down, run 'quorate key fetch' on the one that was "
                    "down "
                    "(within the grace period) or copy the key file from a member")  # fmt: skip
        log.warning("%s (said once; counted as %s)", text, reason)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a node whose daemon is down: expected, counted, harmless.
        self.send_errors[type(exc).__name__] += 1

    # sending ----------------------------------------------------------------------------------------

    def send(self, to: tuple[int, ...], payload: bytes, *, retired: bool = False) -> None:
        if self.transport is None or not to:
            return
        datagram = self.codec.seal(payload, retired=retired)
        if self.multicast and len(to) > 1 and self._peers.issubset(to):
            self._sendto(datagram, self.multicast)
            return
        for nodeid in to:
            address = self.addresses.get(nodeid)
            if address is not None:
                self._sendto(datagram, address)

    def _sendto(self, datagram: bytes, address: str) -> None:
        assert self.transport is not None
        try:
            self.transport.sendto(datagram, (address, self.port))
            self.sent += 1
        except OSError as exc:
            self.send_errors[errno.errorcode.get(exc.errno or 0, "OSError")] += 1
