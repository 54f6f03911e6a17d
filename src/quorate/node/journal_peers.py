"""`quorate timeline` across the cluster: asking every member for its journal's events, and answering them.

Theory of operation
-------------------
The node where the command is typed reads its own journal and sends one `TimelineQuery` to every other member
of its view over the cluster transport (authenticated and encrypted like every datagram). Each member reads its
journal off the event loop and answers with `TimelineChunk`s, each well under one datagram, the last one marked
and carrying the number of events sent, so the asker can tell a complete answer from one that lost a part. The
asker waits until every member answered or the deadline passes, then merges (`journal_timeline.merge`) with each
peer's measured clock offset; members without a complete answer by then are named as missing.

The window travels in the asker's clock; a member moves it onto its own clock with its own estimate of the
asker's offset, and widens it by `WINDOW_MARGIN`, so an event near the edge is not lost to skew (the asker
filters again after correcting).

A node of the previous release does not know these messages: it drops them as undecodable (a counter in its
status) and never answers, so it is named as missing; nothing else changes for it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from quorate.core.events import EventRecord
from quorate.core.messages import MAX_MESSAGE_BYTES, Message, TimelineChunk, TimelineQuery
from quorate.node.journal import Journal, read_events
from quorate.node.journal_timeline import Timeline, merge

WINDOW_MARGIN = 2.0
PEER_LIMIT = 5_000  # events per member per answer
CHUNK_BUDGET = MAX_MESSAGE_BYTES - 200
REASON_CAP = 2_000
PACE_EVERY = 16  # chunks sent back to back before yielding to the loop (the peer's socket buffer drains)

_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True)
class Filters:
    since: float
    until: float
    service: str = ""
    node: str = ""
    kind: str = ""


@dataclass
class _Gathering:
    waiting: set[int]
    events: dict[int, list[EventRecord]] = field(default_factory=dict)
    expected: dict[int, int] = field(default_factory=dict)
    truncated: set[int] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class TimelineExchange:
    """The daemon's side: `gather` for a local command, `receive` for the members' queries and answers."""

    def __init__(
        self,
        journal: Journal,
        *,
        local_name: str,
        send: Callable[[tuple[int, ...], Message], None],
        name_of: Callable[[int], str],
        offset_of: Callable[[int], float | None],
    ) -> None:
        self.journal = journal
        self.local_name = local_name
        self.send = send
        self.name_of = name_of
        self.offset_of = offset_of
        self._ids = itertools.count(1)
        self._pending: dict[int, _Gathering] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.answered = 0

    async def gather(self, filters: Filters, peers: list[int], wait: float) -> Timeline:
        """Every member's events matching ``filters``, merged; ``peers``: the other members to ask."""
        req = next(self._ids)
        gathering = _Gathering(set(peers))
        self._pending[req] = gathering
        query = TimelineQuery(req, filters.since, filters.until, filters.service, filters.node, filters.kind)
        try:
            if peers:
                self.send(tuple(peers), query)
            local = asyncio.ensure_future(self._read(filters))
            if peers:
                try:
                    await asyncio.wait_for(gathering.done.wait(), wait)
                except TimeoutError:
                    pass
            own, own_cut = await local
        finally:
            self._pending.pop(req, None)
        answers = {self.local_name: own}
        offsets: dict[str, float | None] = {self.local_name: 0.0}
        truncated = [self.local_name] if own_cut else []
        for peer in peers:
            if peer in gathering.waiting:
                continue
            name = self.name_of(peer)
            offset = self.offset_of(peer)
            offsets[name] = offset
            answers[name] = [e for e in gathering.events.get(peer, []) if _within(e.at - (offset or 0.0), filters)]
            if peer in gathering.truncated:
                truncated.append(name)
        missing = [self.name_of(p) for p in sorted(gathering.waiting)]
        return merge(answers, offsets, missing=missing, truncated=truncated)

    def receive(self, sender: int, message: Message) -> None:
        if isinstance(message, TimelineQuery):
            task = asyncio.get_running_loop().create_task(self._answer(sender, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(message, TimelineChunk):
            self._chunk(sender, message)

    def _chunk(self, sender: int, chunk: TimelineChunk) -> None:
        gathering = self._pending.get(chunk.req)
        if gathering is None or sender not in gathering.waiting:
            return  # late, or for a command that already printed
        gathering.events.setdefault(sender, []).extend(chunk.events)
        if chunk.truncated:
            gathering.truncated.add(sender)
        if chunk.last:
            gathering.expected[sender] = chunk.total
        if sender in gathering.expected and len(gathering.events.get(sender, [])) >= gathering.expected[sender]:
            gathering.waiting.discard(sender)
            if not gathering.waiting:
                gathering.done.set()

    async def _answer(self, sender: int, query: TimelineQuery) -> None:
        offset = self.offset_of(sender) or 0.0  # the asker's clock minus ours
        filters = Filters(
            query.since - offset - WINDOW_MARGIN if query.since else 0.0,
            query.until - offset + WINDOW_MARGIN if query.until else 0.0,
            query.service,
            query.node,
            query.kind,
        )
        events, truncated = await self._read(filters, limit=PEER_LIMIT)
        chunks = list(_chunks(events))
        for part, batch in enumerate(chunks):
            last = part == len(chunks) - 1
            self.send((sender,), TimelineChunk(query.req, part, last, len(events), tuple(batch), truncated and last))
            if part % PACE_EVERY == PACE_EVERY - 1:
                await asyncio.sleep(0.001)
        self.answered += 1

    async def _read(self, filters: Filters, *, limit: int = PEER_LIMIT * 4) -> tuple[list[EventRecord], bool]:
        path: Path = self.journal.path
        journal = self.journal

        def read() -> tuple[list[EventRecord], bool]:
            journal.wait_written(0.5)  # what was decided a moment ago is in the answer
            return read_events(
                path,
                since=filters.since,
                until=filters.until,
                service=filters.service,
                node=filters.node,
                kind=filters.kind,
                limit=limit,
            )

        return await asyncio.to_thread(read)


def _within(at: float, filters: Filters) -> bool:
    return (not filters.since or at >= filters.since) and (not filters.until or at <= filters.until)


def _chunks(events: list[EventRecord]) -> list[list[EventRecord]]:
    """Events in parts that each encode well under one datagram; always at least one (possibly empty) part."""
    parts: list[list[EventRecord]] = [[]]
    size = 0
    for event in events:
        if len(event.reason) > REASON_CAP:
            event = msgspec.structs.replace(event, reason=event.reason[:REASON_CAP] + "...")
        cost = len(_encoder.encode(event)) + 2
        if parts[-1] and size + cost > CHUNK_BUDGET:
            parts.append([])
            size = 0
        parts[-1].append(event)
        size += cost
    return parts
