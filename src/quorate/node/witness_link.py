"""The datagrams between a node and the quorum witness: sealed and opened like the cluster's, on their own key.

Theory of operation
-------------------
The witness speaks the cluster transport's wire format (`quorate.node.wire`): ChaCha20-Poly1305 with a
per-(cluster, sender, epoch) subkey, the counter as the nonce, a 128-datagram replay window per sender and the
sender's boot epoch that grows at every start. Two things differ:

* the key is not the cluster key itself but a key derived from it for the witness alone (`witness_key`): a
  node's cluster transport and its witness link run in the same epoch with counters that both start at 1, and
  one key would then encrypt two datagrams under one nonce;
* the witness has a node id of its own, `WITNESS_NODEID`, outside the range of cluster node ids, so its
  answers can never be taken for a member's datagram and a member cannot speak for it.

`WitnessLink` is the node's side: one UDP socket (an ephemeral port on the node's cluster address), the node
core's `SendToWitness` payloads sealed and sent to the configured host and port, and the witness's answers
opened and handed to the node core. What fails to open is counted by reason (the codec's ``drops``).
"""

from __future__ import annotations

import asyncio
import errno
from collections import Counter
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from quorate.node.wire import Dropped, WireCodec

WITNESS_NODEID: Final = 0xFFFFFFFE
_SALT: Final = b"quorate quorum witness key salt"
_INFO: Final = b"quorate-witness-v1"


def witness_key(cluster_key: bytes) -> bytes:
    """The witness link's key, derived from the cluster key (domain separation from the cluster transport)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(cluster_key)


class WitnessLink(asyncio.DatagramProtocol):
    def __init__(
        self, cluster_key: bytes, cluster_id: int, local_nodeid: int, epoch: int, deliver: Callable[[bytes], None]
    ) -> None:
        self.codec = WireCodec(witness_key(cluster_key), cluster_id, local_nodeid, epoch, {WITNESS_NODEID})
        self.deliver = deliver
        self.transport: asyncio.DatagramTransport | None = None
        self.sent = 0
        self.received = 0
        self.send_errors: Counter[str] = Counter()

    @classmethod
    async def open(
        cls,
        local_address: str,
        cluster_key: bytes,
        cluster_id: int,
        local_nodeid: int,
        epoch: int,
        deliver: Callable[[bytes], None],
    ) -> WitnessLink:
        loop = asyncio.get_running_loop()
        link = cls(cluster_key, cluster_id, local_nodeid, epoch, deliver)
        await loop.create_datagram_endpoint(lambda: link, local_addr=(local_address, 0))
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            sender, _epoch, payload = self.codec.open(data)
        except Dropped:
            return  # counted by the codec, by reason
        if sender == WITNESS_NODEID:
            self.received += 1
            self.deliver(payload)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the witness is down: expected, counted, harmless.
        self.send_errors[type(exc).__name__] += 1

    def send(self, host: str, port: int, payload: bytes) -> None:
        if self.transport is None:
            return
        try:
            self.transport.sendto(self.codec.seal(payload), (host, port))
            self.sent += 1
        except OSError as exc:
            self.send_errors[errno.errorcode.get(exc.errno or 0, "OSError")] += 1

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def status(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "received": self.received,
            "dropped": dict(sorted(self.codec.drops.items())),
            "send_errors": dict(sorted(self.send_errors.items())),
        }
