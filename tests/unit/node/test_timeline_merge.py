"""`quorate timeline` on the daemon's side (E-3): clock correction, merge, the members' exchange over the
cluster transport (chunked, with members that do not answer), and the printed forms."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from quorate.core.events import EventRecord
from quorate.core.messages import MAX_MESSAGE_BYTES, Message, TimelineChunk, decode, encode
from quorate.node.journal import Journal
from quorate.node.journal_peers import Filters, TimelineExchange, _chunks
from quorate.node.journal_timeline import format_json, format_text, merge

T0 = 1_800_000_000.0


def _e(at: float, node: str, kind: str = "service", subject: str = "test", outcome: str = "placed",
       reason: str = "R-40: starting", view: int = 4) -> EventRecord:  # fmt: skip
    return EventRecord(at, node, view, kind, subject, outcome, reason)


def test_a_skewed_node_is_put_back_in_order() -> None:
    # casper's clock runs 5 s ahead: its fence (really at T0+2) is stamped T0+7, after melchior's takeover (T0+3).
    answers = {
        "balthasar": [_e(T0 + 0, "balthasar", outcome="relocated", reason="R-56: moving")],
        "casper": [_e(T0 + 7, "casper", kind="fence", subject="melchior", outcome="confirmed", reason="F-26: off")],
        "melchior": [_e(T0 + 3, "melchior", outcome="started", reason="R-70: started")],
    }
    timeline = merge(answers, {"balthasar": 0.0, "casper": 5.0, "melchior": 0.0})
    assert [(line.nodes, line.event.outcome) for line in timeline.lines] == [
        (["balthasar"], "relocated"),
        (["casper"], "confirmed"),
        (["melchior"], "started"),
    ]
    assert abs(timeline.lines[1].at - (T0 + 2)) < 1e-9
    uncorrected = merge(answers, {"balthasar": 0.0, "casper": None, "melchior": 0.0})
    assert uncorrected.uncorrected == ["casper"] and uncorrected.lines[-1].event.node == "casper"


def test_the_same_decision_seen_by_several_nodes_is_one_line() -> None:
    view = dict(kind="view", subject="view 5", outcome="installed", reason="Q-1: view 5 installed", view=5)
    answers = {
        "balthasar.localdomain": [_e(T0, "balthasar.localdomain", **view)],  # type: ignore[arg-type]
        "casper.localdomain": [_e(T0 + 0.01, "casper.localdomain", **view)],  # type: ignore[arg-type]
    }
    timeline = merge(answers, {"balthasar.localdomain": 0.0, "casper.localdomain": 0.0}, missing=["melchior"])
    assert len(timeline.lines) == 1 and timeline.lines[0].nodes == ["balthasar.localdomain", "casper.localdomain"]
    text = format_text(timeline, utc=True)
    assert "  balthasar,casper  view view 5 installed (view 5): Q-1: view 5 installed" in text
    assert text.rstrip().endswith("-- melchior did not answer in time: its events are missing")
    doc = json.loads(format_json(timeline))
    assert doc["missing"] == ["melchior"] and doc["events"][0]["nodes"] == ["balthasar.localdomain",
                                                                             "casper.localdomain"]  # fmt: skip
    assert doc["events"][0]["time"].startswith("2027-01-15 08:00:00")


def test_chunks_stay_within_one_datagram_and_lose_nothing() -> None:
    events = [_e(T0 + i, "casper", reason="R-40: " + "y" * (i % 700)) for i in range(400)]
    events.append(_e(T0 + 500, "casper", reason="R-40: " + "z" * 20_000))  # capped, not dropped
    parts = _chunks(events)
    assert len(parts) > 1 and sum(len(p) for p in parts) == len(events)
    for i, part in enumerate(parts):
        message = TimelineChunk(1, i, i == len(parts) - 1, len(events), tuple(part))
        assert len(encode(message)) <= MAX_MESSAGE_BYTES
        assert decode(encode(message)) == message
    assert _chunks([]) == [[]]


class Net:
    """Three exchanges wired through encode/decode; ``silent`` nodes never answer."""

    def __init__(self, tmp: Path, silent: set[int], offsets: dict[tuple[int, int], float]) -> None:
        self.names = {1: "balthasar", 2: "casper", 3: "melchior"}
        self.silent = silent
        self.sent: list[tuple[int, int, Message]] = []
        self.journals = {i: Journal(tmp / f"{i}.sqlite") for i in self.names}
        self.nodes = {
            i: TimelineExchange(
                self.journals[i],
                local_name=self.names[i],
                send=lambda to, message, i=i: self._send(i, to, message),
                name_of=self.names.__getitem__,
                offset_of=lambda peer, i=i: offsets.get((i, peer)),
            )
            for i in self.names
        }

    def _send(self, sender: int, to: tuple[int, ...], message: Message) -> None:
        loop = asyncio.get_running_loop()
        for peer in to:
            self.sent.append((sender, peer, message))
            if peer not in self.silent:
                data = encode(message)
                loop.call_soon(lambda p=peer, d=data: self.nodes[p].receive(sender, decode(d)))


def test_members_answer_over_the_transport_and_a_silent_one_is_named(tmp_path: Path) -> None:
    # casper's clock is 5 s ahead of balthasar's (balthasar measured +5, casper measured -5).
    net = Net(tmp_path, silent={3}, offsets={(1, 2): 5.0, (2, 1): -5.0, (1, 3): 0.0})
    for journal in net.journals.values():
        journal.start()
    net.journals[1].append(_e(T0 + 10, "balthasar", outcome="relocated"))
    net.journals[2].append(_e(T0 + 16, "casper", kind="fence", subject="melchior", outcome="confirmed"))
    net.journals[2].append(_e(T0 + 2000, "casper", outcome="started"))  # outside the window, on any clock
    for n in range(300):  # enough for several chunks
        net.journals[2].append(_e(T0 + 20 + n / 100, "casper", subject="web", outcome="started", reason="R" * 90))
    net.journals[3].append(_e(T0 + 12, "melchior", outcome="started"))

    async def ask() -> object:
        return await net.nodes[1].gather(Filters(T0, T0 + 1000), [2, 3], wait=0.5)

    timeline = asyncio.run(ask())
    for journal in net.journals.values():
        journal.close()
    assert timeline.missing == ["melchior"]  # type: ignore[attr-defined]
    lines = timeline.lines  # type: ignore[attr-defined]
    assert [(line.event.node, line.event.outcome) for line in lines[:2]] == [("balthasar", "relocated"),
                                                                            ("casper", "confirmed")]  # fmt: skip
    assert abs(lines[1].at - (T0 + 11)) < 1e-6  # casper's stamp, on balthasar's clock
    assert len(lines) == 2 + 300
    chunks = [m for s, p, m in net.sent if isinstance(m, TimelineChunk)]
    assert len(chunks) > 1 and chunks[-1].last and chunks[-1].total == 301
    # The service filter travels with the query.
    async def ask_service() -> object:
        return await net.nodes[1].gather(Filters(T0, 0.0, service="web"), [2], wait=0.5)

    for journal in net.journals.values():
        journal.start()
    narrowed = asyncio.run(ask_service())
    for journal in net.journals.values():
        journal.close()
    assert {line.event.subject for line in narrowed.lines} == {"web", "melchior"}  # type: ignore[attr-defined]
