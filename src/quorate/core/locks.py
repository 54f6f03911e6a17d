"""Cluster locks with the DLM's semantics (what the DLM did for clvmd and GFS), mastered by the coordinator.

Theory of operation
-------------------
Every node runs one `LockManager`, a façade over two halves that share one `lock_state.LockState` (the view,
its master and members, whether this node masters, the outbox of effects):

* *the member half* (`lock_member`, every node) keeps the locks this node's clients hold or wait for (`held`)
  and sends each operation (request, convert, unlock) to the lock master until the master answers it;
* *the master half* (`lock_master`, the coordinator of the quorate view only: one authority, S2) holds the table
  (`quorate.core.lock_table`) and serves it; after every view change it first recovers the table from the
  members' inventories (`lock_recovery`), keeping the locks of failed nodes until they are fenced.

The façade routes each input: client operations and the master's answers to the member half, members'
operations and inventories to the master half, and after every message or tick it lets the master half
re-evaluate (orphans of fenced nodes released, grants blocked or unblocked, timeouts, serving). On a new quorate
view the member half's operations in flight wait to be resent to the master, and the coordinator starts a round
of recovery while a former master forgets its table. A node whose view is not quorate, or that is evicted or
leaves, drops every lock at once and tells its clients (`LockLost`): a lock holder that leaves the quorate view
loses its locks, because the others will recover them once it is fenced.

Inputs take ``now`` (monotonic seconds); outputs are effects collected with `take_effects`.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.core.effects import ViewInstalled
from quorate.core.lock_master import LockMaster
from quorate.core.lock_member import INVENTORY_CHUNK, RESEND, Held, LockMember
from quorate.core.lock_messages import (
    LockConvert,
    LockDeny,
    LockGrant,
    LockInventory,
    LockRecover,
    LockRequest,
    LockUnlock,
    LockUnlocked,
    View,
)
from quorate.core.lock_recovery import MAX_DEFERRED
from quorate.core.lock_state import (
    LockDenied,
    LockEffect,
    LockGranted,
    LockLost,
    LockReleased,
    LockState,
    view_of,
)
from quorate.core.lock_table import LockTable
from quorate.core.messages import Message, ViewId

__all__ = [
    "INVENTORY_CHUNK",
    "MAX_DEFERRED",
    "RESEND",
    "Held",
    "LockDenied",
    "LockEffect",
    "LockGranted",
    "LockLost",
    "LockManager",
    "LockReleased",
]


class LockManager:
    """One node's lock service. Feed inputs, then drain `take_effects()`."""

    def __init__(
        self,
        local_id: int,
        node_names: dict[int, str],
        *,
        safely_gone: Callable[[int], bool] = lambda _n: False,
        unfenced: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        self._state = LockState(local_id, node_names, safely_gone=safely_gone, unfenced=unfenced)
        self._member = LockMember(self._state, deliver=self._to_local_master)
        self._master = LockMaster(self._state, self._member)

    # --------------------------------------------------------------------------- what others read

    @property
    def local_id(self) -> int:
        return self._state.local_id

    @property
    def names(self) -> dict[int, str]:
        return self._state.names

    @property
    def view(self) -> View | None:
        """The quorate view this node is in, as (sequence, coordinator); None while it is in none."""
        return self._state.view

    @property
    def master(self) -> int:
        return self._state.master

    @property
    def members(self) -> frozenset[int]:
        return self._state.members

    @property
    def acting(self) -> bool:
        """This node masters the cluster locks."""
        return self._state.acting

    @property
    def recovering(self) -> bool:
        return self._master.recovering

    @property
    def held(self) -> dict[int, Held]:
        return self._member.held

    @property
    def table(self) -> LockTable:
        """The master's table (empty on a node that does not master)."""
        return self._master.table

    # --------------------------------------------------------------------------------- client API

    def lock(self, now: float, lockspace: str, name: str, mode: str | int, *, timeout: float | None = None) -> int:
        """Ask for a new lock; the answer comes as `LockGranted` or `LockDenied`. timeout 0 is a try-lock."""
        return self._member.lock(now, lockspace, name, mode, timeout=timeout)

    def convert(
        self, now: float, lkid: int, mode: str | int, *, timeout: float | None = None, lvb: bytes | None = None
    ) -> None:
        """Change a granted lock's mode; `lvb` is written if converting down from PW or EX."""
        self._member.convert(now, lkid, mode, timeout=timeout, lvb=lvb)

    def unlock(self, now: float, lkid: int, *, lvb: bytes | None = None) -> None:
        """Release a lock, or cancel it while it waits; `LockReleased` follows once the master knows."""
        self._member.unlock(now, lkid, lvb=lvb)

    def drop_all(self, now: float, reason: str) -> None:
        """This node must stop holding anything (quorum lost, evicted, leaving)."""
        self._lose_everything(now, reason)

    # ----------------------------------------------------------------------------- cluster inputs

    def on_view(self, now: float, installed: ViewInstalled, *, coordinator: bool) -> None:
        if not installed.quorate:
            self._lose_everything(now, "this node's view is not quorate")
            return
        self._enter(now, view_of(installed.view), installed.members, coordinator, installed.left, installed.failed)

    def on_quorum(self, now: float, *, quorate: bool, coordinator: bool, view: ViewId, members: frozenset[int]) -> None:
        """Quorum changed without a new view (lost, evicted, or regained through the quorum disk)."""
        if not quorate:
            self._lose_everything(now, "this node lost quorum")
        elif self._state.view is None:
            self._enter(now, view_of(view), members, coordinator, frozenset(), frozenset())

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, (LockGrant, LockDeny, LockUnlocked, LockRecover)):
            self._member.receive(now, sender, message)
        elif isinstance(message, (LockRequest, LockConvert, LockUnlock, LockInventory)):
            self._master.receive(now, sender, message)
        self._master.evaluate(now)

    def tick(self, now: float) -> None:
        self._member.resend(now)
        self._master.ask_if_due(now)
        self._master.evaluate(now)

    # ------------------------------------------------------------------------------------ outputs

    def take_effects(self) -> list[LockEffect]:
        effects, self._state.effects = self._state.effects, []
        return effects

    def next_deadline(self) -> float | None:
        times = self._member.deadlines() + self._master.deadlines()
        # Past times are returned as they are: `tick` moves every one of them forward (it resends, or expires).
        return min(times) if times else None

    def status(self, now: float) -> dict[str, object]:
        state = self._state
        return {
            "master": state.name(state.master) if state.view is not None else None,
            "master_here": state.acting,
            "state": "no quorate view" if state.view is None else self._master.holdup() or "ready",
            "local": self._member.describe(now),
            "resources": self._master.resources(),
        }

    # ---------------------------------------------------------------------------------- internals

    def _enter(
        self,
        now: float,
        view: View,
        members: frozenset[int],
        coordinator: bool,
        left: frozenset[int],
        failed: frozenset[int],
    ) -> None:
        """A new quorate view (or quorum regained): members carry on, the coordinator recovers the table."""
        state = self._state
        state.view, state.master, state.members = view, view[1], members
        self._member.view_installed(now)
        if coordinator:
            self._master.take_over(now, left, failed)
        else:
            self._master.hand_over()

    def _lose_everything(self, now: float, reason: str) -> None:
        self._member.lose_everything(now, reason)
        self._master.stop()

    def _to_local_master(self, now: float, message: Message) -> None:
        self._master.receive(now, self._state.local_id, message)
