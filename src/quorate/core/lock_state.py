"""What both halves of the lock service share: the effects clients see, the view, and one outbox.

Theory of operation
-------------------
The lock service is two halves composed by the `quorate.core.locks.LockManager` façade: the member half
(`lock_member`, on every node) and the master half (`lock_master`, with its recovery in `lock_recovery`, on the
coordinator of the quorate view only). Each half keeps its own bookkeeping; a fact lives here only when both
need it:

* who this node is, what it calls the others, and the two questions it asks the fencing layer (is a node
  safely gone; which nodes still wait for their fence);
* the quorate view this node is in (None while it is in none), its master and its members: the façade sets
  them when a view is installed, and the member half clears them when the node drops everything;
* whether this node masters the locks now (`acting`): the master half sets it, and the member half reads it,
  because the master's own operations are handed to the master half at once instead of being sent.

Every effect of both halves is appended to one list in the order the decisions are taken, so a node's
datagrams and its clients' answers leave in exactly that order.

What a peer sends is checked before the master uses it (names, modes, value block lengths): an operation
that fails the check is refused, and an inventory entry that fails it is left out of the rebuilt table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.effects import Log, Send
from quorate.core.lock_messages import View
from quorate.core.lock_modes import MODES, LockError, check_lvb, check_name
from quorate.core.messages import ViewId

# Effects ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockGranted:
    """A request or conversion of this node's lock `lkid` is granted in `mode`; `lvb` is the value block."""

    lkid: int
    mode: str
    lvb: bytes


@dataclass(frozen=True, slots=True)
class LockDenied:
    """A request or conversion failed (code: timeout, busy, invalid); `held` is the mode still held, if any."""

    lkid: int
    code: str
    detail: str
    held: str | None


@dataclass(frozen=True, slots=True)
class LockReleased:
    """The master confirmed the unlock (or the cancel of a waiting request) of `lkid`."""

    lkid: int


@dataclass(frozen=True, slots=True)
class LockLost:
    """This node left the quorate view: lock `lkid` is no longer held (or waited for); stop using it now."""

    lkid: int
    reason: str
    was_granted: bool


LockEffect = LockGranted | LockDenied | LockReleased | LockLost | Send | Log


def view_of(view: ViewId) -> View:
    """A committed view as the lock messages carry it."""
    return (view.seq, view.coord)


class LockState:
    """One node's lock-service facts that both halves read, and the outbox of their effects."""

    def __init__(
        self,
        local_id: int,
        names: dict[int, str],
        *,
        safely_gone: Callable[[int], bool],
        unfenced: Callable[[], frozenset[int]],
    ) -> None:
        self.local_id = local_id
        self.names = names
        self.safely_gone = safely_gone
        self.unfenced = unfenced
        self.view: View | None = None  # None while this node is not in a quorate view
        self.master = 0
        self.members: frozenset[int] = frozenset()
        self.acting = False  # this node masters the cluster locks (it coordinates the quorate view)
        self.effects: list[LockEffect] = []

    def name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def log(self, text: str, level: str = "info") -> None:
        self.effects.append(Log(text, level))


# Checks on what peers send ------------------------------------------------------------------------------------


def lvb_too_long(lvb: bytes) -> bool:
    """A value block longer than the limit (a peer's bug): a conversion carrying it is refused, an unlock drops it."""
    try:
        check_lvb(lvb)
    except LockError:
        return True
    return False


def invalid_request(lockspace: str, name: str, mode: int) -> str:
    """Why a peer's lock on (lockspace, name) in mode number `mode` cannot exist; "" when it can."""
    try:
        check_name("lock space", lockspace)
        check_name("lock", name)
    except LockError as exc:
        return str(exc)
    return "" if 0 <= mode < len(MODES) else f"unknown mode number {mode}"
