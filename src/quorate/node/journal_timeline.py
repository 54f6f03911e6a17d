"""One timeline from every member's journal: clock correction, merge, and the lines `quorate timeline` prints.

Theory of operation
-------------------
Each node stamps its events with its own wall clock. The asking node knows, for each peer, how far that peer's
clock is from its own (`quorate.core.clock_skew`), so it moves every peer event onto its own clock (``at -
offset``) before it sorts: a node whose clock runs 5 s ahead no longer appears to decide 5 s late. A peer whose
offset is unknown (an older release, or no round trip measured yet) keeps its own stamps, and the answer says so.

The same decision is often seen by several nodes: every member installs the same view and may say so with the
same sentence. Lines that agree in everything but the node, within `SAME_WITHIN` seconds, are printed once with
the nodes that reported them, so a three-node view change is one line, not three.

Members that did not answer in time are named at the end (text) or listed (``--json``): a timeline that lacks a
node's events says so instead of looking complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from quorate.core.events import EventRecord

SAME_WITHIN = 2.0
# The kinds every member reports for itself (the others are reported once, by the node that decided).
SHARED_KINDS = frozenset(("view", "quorum", "votes", "qdisk", "config"))


@dataclass(slots=True)
class Line:
    """One merged line: the corrected time, the event, and every node that reported it."""

    at: float
    event: EventRecord
    nodes: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    lines: list[Line]
    missing: list[str]  # members that did not answer in time
    uncorrected: list[str]  # answering peers whose clock offset is unknown
    offsets: dict[str, float]  # the offsets applied, seconds (peer's clock minus this node's)
    truncated: list[str]  # nodes whose answer was cut at the limit


def merge(
    answers: Mapping[str, Sequence[EventRecord]],
    offsets: Mapping[str, float | None],
    *,
    missing: Sequence[str] = (),
    truncated: Sequence[str] = (),
) -> Timeline:
    """``answers``: each answering node's events (its own clock); ``offsets``: its clock minus ours (None:
    unknown; the local node has 0)."""
    corrected: list[tuple[float, EventRecord]] = []
    for name, events in answers.items():
        offset = offsets.get(name) or 0.0
        corrected.extend((event.at - offset, event) for event in events)
    corrected.sort(key=_order)
    lines: list[Line] = []
    recent: dict[tuple[str, str, str, str, int], Line] = {}
    for at, event in corrected:
        if event.kind in SHARED_KINDS:
            key = (event.kind, event.subject, event.outcome, event.reason, event.view)
            same = recent.get(key)
            if same is not None and at - same.at <= SAME_WITHIN and event.node not in same.nodes:
                same.nodes.append(event.node)
                continue
            line = Line(at, event, [event.node])
            recent[key] = line
        else:
            line = Line(at, event, [event.node])
        lines.append(line)
    applied = {name: float(o) for name, o in offsets.items() if o is not None and name in answers}
    unknown = sorted(name for name in answers if offsets.get(name, 0.0) is None)
    return Timeline(lines, sorted(missing), unknown, applied, sorted(truncated))


def _order(pair: tuple[float, EventRecord]) -> tuple[float, str]:
    return pair[0], pair[1].node


def format_text(timeline: Timeline, *, utc: bool = False) -> str:
    out = []
    labels = [",".join(_short(n) for n in line.nodes) for line in timeline.lines]
    width = max((len(label) for label in labels), default=4)
    stamp = _Stamps(utc)
    for line, nodes in zip(timeline.lines, labels, strict=True):
        e = line.event
        out.append(f"{stamp(line.at)}  {nodes:<{width}}  {e.kind} {e.subject} {e.outcome} (view {e.view}): {e.reason}")
    if not timeline.lines:
        out.append("no events in this window")
    for name in timeline.missing:
        out.append(f"-- {name} did not answer in time: its events are missing")
    for name in timeline.uncorrected:
        out.append(f"-- {name}: clock offset unknown, its times are its own clock's")
    for name in timeline.truncated:
        out.append(f"-- {name}: more events than one answer holds; narrow the window for the older ones")
    return "\n".join(out) + "\n"


def format_json(timeline: Timeline) -> str:
    doc = {
        "events": [
            {
                "at": round(line.at, 6),
                "time": _stamp(line.at, True),
                "nodes": line.nodes,
                "view": line.event.view,
                "kind": line.event.kind,
                "subject": line.event.subject,
                "outcome": line.event.outcome,
                "reason": line.event.reason,
                "reported_at": round(line.event.at, 6),
            }
            for line in timeline.lines
        ],
        "missing": timeline.missing,
        "uncorrected": timeline.uncorrected,
        "offsets": {name: round(value, 6) for name, value in sorted(timeline.offsets.items())},
        "truncated": timeline.truncated,
    }
    return json.dumps(doc, indent=2) + "\n"


def _short(name: str) -> str:
    return name.split(".")[0]


class _Stamps:
    """Date and time to the millisecond; the date and time to the second is formatted once per second (a busy
    timeline has many events in each)."""

    def __init__(self, utc: bool) -> None:
        self.utc = utc
        self._second = -1
        self._prefix = ""

    def __call__(self, at: float) -> str:
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at) if self.utc else time.localtime(at))
        return f"{self._prefix}.{int((at - second) * 1000):03d}"


def _stamp(at: float, utc: bool) -> str:
    moment = time.gmtime(at) if utc else time.localtime(at)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment) + f".{int((at % 1) * 1000):03d}"
