"""The witness daemon: one UDP socket, the clusters' keys, and the pure arbiter deciding.

Theory of operation
-------------------
Every datagram is opened before anything reads its body, exactly as on the cluster transport: the header's
cluster id selects the codecs of the clusters registered with that id (two names may hash to one id; each is
tried), the codec authenticates the datagram with that cluster's witness key, checks the sender is a node id
the cluster may have, and refuses replays and stale epochs. Only then is the body decoded; a request must name
the cluster whose key opened it and the node the header authenticated. Anything else is refused, counted by
reason, and logged at most once a minute per reason, so that a flood cannot fill the journal.

The witness's own epoch grows at every start (persisted in the state directory, and never below the clock's
seconds), so that its answers seal under fresh nonces and the nodes accept it again after a restart. It keeps
no other state: after a start the arbiter refuses every request for one lease (`witness_server`), the longest
any earlier run may have granted (the state directory keeps that too).

Readiness is systemd's ``Type=notify`` (`quorate.node.sdnotify`); the status line counts clusters, answers
and refusals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Final

from quorate.core.witness_protocol import MalformedWitnessDatagram, WitnessAsk, decode, encode
from quorate.core.witness_server import WitnessServer
from quorate.node.sdnotify import Notifier
from quorate.node.wire import HEADER, HEADER_SIZE, Dropped, WireCodec
from quorate.node.witness_link import WITNESS_NODEID, witness_key
from quorate.system.files import write_atomically
from quorate.witness.clusters import ServedCluster

log = logging.getLogger("quorate.witness")

DEFAULT_STATE_DIR: Final = Path("/var/lib/quorate/witness")
DEFAULT_MAX_LEASE: Final = 30.0
LOG_EVERY: Final = 60.0


def previous_max_lease(state_dir: Path, max_lease: float) -> float:
    """The longest lease the previous runs may have granted (persisted), and from now on ``max_lease`` too: a
    witness restarted with a shorter --max-lease must still wait out the longer leases it gave before."""
    path = state_dir / "max_lease"
    try:
        previous = float(path.read_text().strip())
    except (OSError, ValueError):
        previous = 0.0
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, f"{max_lease}\n".encode(), mode=0o600)
    return max(previous, max_lease)


def next_epoch(state_dir: Path) -> int:
    """This start's epoch: above the last one persisted and above the clock's seconds, then persisted."""
    path = state_dir / "epoch"
    try:
        last = int(path.read_text().strip())
    except (OSError, ValueError):
        last = 0
    epoch = max(last + 1, int(time.time()))
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, f"{epoch}\n".encode(), mode=0o600)
    return epoch


class WitnessService(asyncio.DatagramProtocol):
    def __init__(
        self, clusters: list[ServedCluster], *, epoch: int, max_lease: float, now: float, learn: float | None = None
    ) -> None:
        self.server = WitnessServer(now=now, max_lease=max_lease, learn=learn)
        self.codecs: dict[int, list[tuple[ServedCluster, WireCodec]]] = {}
        for cluster in clusters:
            codec = WireCodec(
                witness_key(cluster.key()),
                cluster.cluster_id,
                WITNESS_NODEID,
                epoch,
                range(1, cluster.max_nodeid + 1),
            )
            self.codecs.setdefault(cluster.cluster_id, []).append((cluster, codec))
            self.server.add_cluster(cluster.name, cluster.cluster_id, now)
        self.transport: asyncio.DatagramTransport | None = None
        self.refused: Counter[str] = Counter()
        self.answered = 0
        self._logged: dict[str, float] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = asyncio.get_running_loop().time()
        answer = self.handle(data, addr, now)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)

    def handle(self, data: bytes, addr: tuple[str, int], now: float) -> bytes | None:
        """The sealed answer to one datagram, or None (refused: counted and, now and then, logged)."""
        if len(data) < HEADER_SIZE:
            return self._refuse("too_short", addr)
        cluster_id = HEADER.unpack_from(data)[3]
        candidates = self.codecs.get(cluster_id)
        if not candidates:
            return self._refuse("unknown_cluster", addr)
        reason = "auth_failed"
        for cluster, codec in candidates:
            try:
                sender, _epoch, payload = codec.open(data)
            except Dropped as exc:
                reason = exc.reason
                continue
            try:
                req = decode(payload)
            except MalformedWitnessDatagram:
                return self._refuse("undecodable", addr)
            if not isinstance(req, WitnessAsk):
                return self._refuse("not_a_request", addr)
            if (req.cluster, req.cluster_id, req.node) != (cluster.name, cluster.cluster_id, sender):
                return self._refuse("wrong_identity", addr)
            answer = self.server.ask(req, now)
            if answer is None:
                return self._refuse("stale_request", addr)
            self.answered += 1
            return codec.seal(encode(answer))
        return self._refuse(reason, addr)

    def _refuse(self, reason: str, addr: tuple[str, int]) -> None:
        self.refused[reason] += 1
        self.server.refuse(reason)
        now = time.monotonic()
        if now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
            self._logged[reason] = now
            log.warning("refused a datagram from %s: %s (%d so far)", addr[0], reason, self.refused[reason])
        return None

    def status_line(self) -> str:
        refused = sum(self.refused.values())
        return f"serving {len(self.server.clusters)} clusters, {self.answered} answers, {refused} refused"


async def serve(clusters: list[ServedCluster], host: str, port: int, *, state_dir: Path, max_lease: float) -> int:
    """Run the witness until SIGTERM or SIGINT; 0 on a clean stop."""
    loop = asyncio.get_running_loop()
    epoch = next_epoch(state_dir)
    learn = previous_max_lease(state_dir, max_lease)
    service = WitnessService(clusters, epoch=epoch, max_lease=max_lease, now=loop.time(), learn=learn)
    transport, _ = await loop.create_datagram_endpoint(lambda: service, local_addr=(host, port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    names = ", ".join(f"{c.name} (id {c.cluster_id})" for c in clusters) or "none"
    log.info("quorum witness listening on %s:%d, epoch %d, clusters: %s", host, port, epoch, names)
    notifier.ready(service.status_line())
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 5.0)
            except TimeoutError:
                notifier.status(service.status_line())
    finally:
        notifier.stopping()
        transport.close()
    log.info("quorum witness stopped (pid %d)", os.getpid())
    return 0
