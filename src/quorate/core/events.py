"""Decision events: what a node decided, when, about what, and why, in one typed record.

Theory of operation
-------------------
A log line tells a person what happened on one node; an event tells a program the same thing with its parts
apart, so that `quorate timeline` can merge every node's history, filter it by service, node or kind, and count
decisions in the metrics. The node core produces an `Event` where it makes (or learns) a decision
(`quorate.core.events_derive`), stamped with the core's monotonic ``at``; the shell turns that into wall-clock
seconds once, and from then on the event is the same everywhere: in the log line, in the journal, in
`quorate status` and on the wire (`EventRecord`, an array-like struct so that a chunk of them stays small).

Every reason is one sentence that starts with the rule it applies (``Q-4: ...``, ``F-13: ...``, see
docs/rules.md) and names the facts the decision rests on, so a line read alone still explains itself.
Pure: no clocks, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import msgspec


class Kind(enum.StrEnum):
    """What an event is about; `quorate timeline --kind` takes these words."""

    VIEW = "view"
    QUORUM = "quorum"
    VOTES = "votes"
    QDISK = "qdisk"
    FENCE = "fence"
    SERVICE = "service"
    CONFIG = "config"


KINDS: Final = tuple(k.value for k in Kind)

# The outcomes each kind may have: a closed vocabulary, so that metrics have bounded labels.
OUTCOMES: Final[dict[str, tuple[str, ...]]] = {
    Kind.VIEW: ("installed", "refused"),
    Kind.QUORUM: ("gained", "lost"),
    Kind.VOTES: ("changed",),
    Kind.QDISK: ("master", "votes"),
    Kind.FENCE: ("scheduled", "run", "failed", "confirmed", "acknowledged"),
    Kind.SERVICE: ("placed", "started", "stopped", "failed", "restarted", "relocated", "refused"),
    Kind.CONFIG: ("staged", "activated", "aborted"),
}


@dataclass(frozen=True, slots=True)
class Event:
    """One decision. ``at``: the core's monotonic seconds until the shell stamps it with wall-clock seconds;
    ``node``: the node id that decided; ``view``: the view sequence it decided in; ``subject``: what the decision
    is about (a service name, a node name, a configuration version, the cluster)."""

    at: float
    node: int
    view: int
    kind: str
    subject: str
    outcome: str
    reason: str

    def __post_init__(self) -> None:
        allowed = OUTCOMES.get(self.kind)
        if allowed is None:
            raise ValueError(f"event kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.outcome not in allowed:
            raise ValueError(f"event outcome {self.outcome!r} is not one of {', '.join(allowed)} for {self.kind}")

    def record(self, node_name: str) -> EventRecord:
        return EventRecord(self.at, node_name, self.view, self.kind, self.subject, self.outcome, self.reason)


class EventRecord(msgspec.Struct, frozen=True, array_like=True):
    """An event as it is stored and sent: wall-clock ``at`` (seconds since the epoch, on the deciding node's
    clock) and the deciding node's name."""

    at: float
    node: str
    view: int
    kind: str
    subject: str
    outcome: str
    reason: str


def log_text(event: EventRecord | Event) -> str:
    """The event as one log sentence: ``event service test relocated (view 4): R-56: ...``."""
    return f"event {event.kind} {event.subject} {event.outcome} (view {event.view}): {event.reason}"
