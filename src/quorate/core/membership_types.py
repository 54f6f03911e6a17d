"""The data of membership: configuration, states and transitions, per-peer records, refusals, and status.

Split from `membership` so that the protocol's decisions read on their own; nothing here decides anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from quorate.core.messages import NO_VIEW, RefusalCode, ViewId
from quorate.core.quorum import QuorumResult
from quorate.core.quorum_policies import QuorumPolicies


@dataclass(frozen=True, slots=True)
class NodeSpec:
    nodeid: int
    name: str
    votes: int = 1


@dataclass(frozen=True, slots=True)
class MembershipConfig:
    """The part of cluster.conf that membership needs, in core units (seconds)."""

    nodes: tuple[NodeSpec, ...]
    expected_votes: int
    token: float = 10.0
    join: float = 0.06
    two_node: bool = False
    wait_for_all: bool = False
    config_version: int = 0
    config_digest: str = ""
    policies: QuorumPolicies = field(default_factory=QuorumPolicies)

    @property
    def heartbeat_interval(self) -> float:
        # Ten heartbeats per token at most one second apart: loss of a few datagrams never evicts a node.
        return min(self.token / 5.0, 1.0)

    @property
    def settle(self) -> float:
        return 2.0 * self.token

    @property
    def round_timeout(self) -> float:
        return max(self.token / 2.0, 4 * self.heartbeat_interval)

    def spec(self, nodeid: int) -> NodeSpec:
        for node in self.nodes:
            if node.nodeid == nodeid:
                return node
        raise KeyError(nodeid)


class State(enum.Enum):
    JOINING = "Joining"
    MEMBER = "Cluster-Member"
    LEFT = "Not-in-Cluster"


class Event(enum.Enum):
    VIEW_INSTALLED = "view installed"
    EVICTED = "evicted"
    LEAVE = "leave"
    JOIN = "join"


# state x event -> state. A missing entry is a bug in the caller and raises.
TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.JOINING, Event.VIEW_INSTALLED): State.MEMBER,
    (State.MEMBER, Event.VIEW_INSTALLED): State.MEMBER,
    (State.MEMBER, Event.EVICTED): State.JOINING,
    (State.JOINING, Event.EVICTED): State.JOINING,
    (State.JOINING, Event.LEAVE): State.LEFT,
    (State.MEMBER, Event.LEAVE): State.LEFT,
    (State.LEFT, Event.JOIN): State.JOINING,
}


class MembershipError(Exception):
    """A local command that cannot be carried out, with the reason an administrator needs."""


@dataclass(slots=True)
class Peer:
    spec: NodeSpec
    last_rx: float | None = None
    heard_since: float | None = None
    lost_boot: int | None = None
    boot: int | None = None
    incarnation: int = 0
    hears: frozenset[int] = frozenset()
    view: ViewId = NO_VIEW
    members: frozenset[int] = frozenset()
    promised: ViewId = NO_VIEW
    expected: int = 0
    config_version: int = 0
    config_digest: str = ""
    flags: int = 0
    left_stamp: tuple[int, int] | None = None
    failed_stamp: tuple[int, int] | None = None
    joined_seq: int = 0
    joined_at: float | None = None
    member_boot: int | None = None
    barred_boot: int | None = None
    hb_number: int = 0

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.boot or 0, self.incarnation)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a node may not be in a view (or a proposal is refused): a code to decide on, prose for people, and
    the nodes it is about, by id."""

    code: RefusalCode
    reason: str
    nodes: tuple[int, ...] = ()


@dataclass(slots=True)
class Round:
    view: ViewId
    members: frozenset[int]
    started: float
    last_send: float
    acks: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    nodeid: int
    name: str
    votes: int
    member: bool
    heard: bool
    incarnation: int
    joined_seq: int
    joined_at: float | None
    last_heard_age: float | None
    refused: str | None


@dataclass(frozen=True, slots=True)
class MembershipStatus:
    local_id: int
    state: str
    view: ViewId
    members: tuple[int, ...]
    coordinator: int
    quorum: QuorumResult
    nodes: tuple[NodeStatus, ...]
    dirty: bool
    incarnation: int
    reason: str
