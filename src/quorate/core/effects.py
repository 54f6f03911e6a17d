"""What the core asks the shell to do. The core never performs I/O; it returns these."""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.messages import Message, ViewId


@dataclass(frozen=True, slots=True)
class Send:
    """Send `message` to each node id in `to` (the shell may use multicast when it reaches them all)."""

    to: tuple[int, ...]
    message: Message


@dataclass(frozen=True, slots=True)
class PersistGeneration:
    """Store the highest view sequence seen, so a restarted node never reuses one."""

    seq: int


@dataclass(frozen=True, slots=True)
class PersistRejoin:
    """Store (or clear, with ``expected`` 0) the raised expected votes this node announces after a leave with
    ``remove``, and the nodes it must meet again before it drops them: a restart must not forget them."""

    expected: int
    awaiting: frozenset[int]


@dataclass(frozen=True, slots=True)
class Log:
    """One sentence explaining a decision, for the log and `quorate status`."""

    text: str
    level: str = "info"


@dataclass(frozen=True, slots=True)
class ViewInstalled:
    """A committed view: who joined, who left cleanly, who failed (fencing victims)."""

    view: ViewId
    members: frozenset[int]
    joined: frozenset[int]
    left: frozenset[int]
    failed: frozenset[int]
    quorate: bool
    reason: str


@dataclass(frozen=True, slots=True)
class QuorumChanged:
    """The local verdict flipped. On `quorate=False` the resource manager stops everything at once."""

    quorate: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Evicted:
    """The rest of the cluster moved on without this node: stop every resource now (no resurrection)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Killed:
    """A member of this node's view ordered it out (`cman_tool kill`): stop everything and exit without a
    clean leave, so that the others fence it before they recover what it ran."""

    reason: str


Effect = Send | PersistGeneration | PersistRejoin | Log | ViewInstalled | QuorumChanged | Evicted | Killed
