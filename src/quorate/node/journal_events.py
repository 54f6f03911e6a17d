"""The daemon's side of decision events (E-1..E-4): stamp, log, journal, count, and answer `quorate timeline`.

Theory of operation
-------------------
The node core hands over its decision events with monotonic times (`NodeCore.take_events`). After every flush
of effects the daemon calls `DecisionLog.flush`, which stamps each event once with the wall clock (the core's
time plus the current difference between the wall and the loop's clocks), logs it as an ``event ...`` line,
queues it for the journal (written by the journal's own thread), counts it by kind and outcome for the metrics,
and keeps the last few for `quorate status`. The same call passes the members' timeline messages, which the
core set aside, to the exchange (`journal_peers.TimelineExchange`).

`answer` is the control request `timeline`: it checks the names it is given against the configuration (a
located refusal rather than an empty timeline), gathers every member's events and formats them.

The journal's writer thread may need to log (a fault); its lines are handed to the event loop's thread, or
straight to the logger once the loop has closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from quorate.core.events import KINDS, Event, log_text
from quorate.core.messages import Message, encode
from quorate.node import protocol
from quorate.node.journal import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, JOURNAL_NAME, Journal
from quorate.node.journal_peers import Filters, TimelineExchange
from quorate.node.journal_timeline import format_json, format_text

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig
    from quorate.core.node_core import NodeCore

RECENT = 20
MAX_WAIT = 8.0  # the control client gives up after 10 s


class DecisionLog:
    def __init__(
        self,
        state_dir: Path,
        *,
        bounds: tuple[int, float] = (DEFAULT_MAX_BYTES, DEFAULT_MAX_AGE),
        log_line: Callable[[str, str], None],
        logger: logging.Logger,
    ) -> None:
        self.journal = Journal(state_dir / JOURNAL_NAME, max_bytes=bounds[0], max_age=bounds[1],
                               log=self._from_thread)  # fmt: skip
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.exchange: TimelineExchange | None = None
        self._log_line = log_line
        self._logger = logger
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, core: NodeCore, local_name: str, send: Callable[[tuple[int, ...], bytes], None]) -> None:
        """On the event loop, once the node core exists: the journal's thread starts, the exchange opens."""
        self._loop = asyncio.get_running_loop()
        self.journal.start()

        def offset_of(peer: int) -> float | None:
            est = core.clock.offset(peer)
            return None if est is None else est.offset

        def send_message(to: tuple[int, ...], message: Message) -> None:
            send(to, encode(message))

        self.exchange = TimelineExchange(self.journal, local_name=local_name, send=send_message,
                                         name_of=core.node_name, offset_of=offset_of)  # fmt: skip

    async def close(self) -> None:
        await asyncio.to_thread(self.journal.close)

    def flush(self, core: NodeCore, loop_now: float) -> None:
        """The core's new events (stamped, logged, journaled, counted) and the members' timeline messages."""
        events = core.take_events()
        if events:
            wall_offset = time.time() - loop_now
            for event in events:
                self._record(event, core.node_name(event.node), wall_offset)
        inbox = core.timeline_inbox
        if inbox and self.exchange is not None:
            core.timeline_inbox = []
            for sender, message in inbox:
                self.exchange.receive(sender, message)

    def _record(self, event: Event, node_name: str, wall_offset: float) -> None:
        record = msgspec.structs.replace(event.record(node_name), at=event.at + wall_offset)
        self._logger.info("%s", log_text(record))
        self.journal.append(record)
        self.counts[(event.kind, event.outcome)] += 1
        self.recent.append({"at": record.at, "view": record.view, "kind": record.kind, "subject": record.subject,
                            "outcome": record.outcome, "reason": record.reason})  # fmt: skip

    async def answer(
        self, request: protocol.Timeline, *, config: ClusterConfig, core: NodeCore, local_id: int
    ) -> protocol.Answer:
        """`quorate timeline`: this node's journal and every other member's, merged on this node's clock."""
        node = ""
        if request.node:
            found = config.node_by_name(request.node)
            if found is None:
                names = ", ".join(n.name for n in config.nodes)
                return protocol.Answer(False, error=f"unknown node {request.node!r} (nodes: {names})", code="invalid")
            node = found.name
        if request.kind and request.kind not in KINDS:
            return protocol.Answer(False, error=f"unknown kind {request.kind!r} (kinds: {', '.join(KINDS)})",
                                   code="invalid")  # fmt: skip
        service = (request.service or "").removeprefix("service:")
        if service and service not in core.services.specs:
            names = ", ".join(sorted(core.services.specs)) or "none configured"
            return protocol.Answer(False, error=f"unknown service {service!r} (services: {names})", code="invalid")
        assert self.exchange is not None
        filters = Filters(float(request.since), float(request.until), service, node, request.kind or "")
        peers = sorted(core.membership.members - {local_id})
        merged = await self.exchange.gather(filters, peers, max(0.05, min(request.wait_ms / 1000, MAX_WAIT)))
        text = format_json(merged) if request.json else format_text(merged, utc=request.utc)
        return protocol.Answer(True, text=text)

    def _from_thread(self, text: str, level: str) -> None:
        """A line from the journal's writer thread, logged on the event loop's thread."""
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._log_line, text, level)
                return
            except RuntimeError:  # the loop has closed (the journal's last batch at exit)
                pass
        self._logger.log(logging.WARNING if level in ("warning", "error") else logging.INFO, text)
