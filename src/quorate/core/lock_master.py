"""The master half of the lock service: the coordinator of the quorate view keeps the table and serves it.

Theory of operation
-------------------
One authority (S2): only the coordinator of the quorate view masters the cluster locks. It holds the table
(`quorate.core.lock_table`): queues per resource, FIFO grants with the DLM's compatibility table, conversions,
try-locks, timeouts on the master's clock, value blocks. Members' operations are checked first (a bad name, mode
or value block is refused as "invalid", never trusted), applied to the table, and the table's answers go back
to their nodes; the answers for this node's own locks go straight to its member half.

Becoming master, or a new view while master, starts a round of recovery (`lock_recovery`): nothing is served
until the table is rebuilt from the members' inventories. Two sets of nodes then decide what may be granted:

* `known`, the nodes whose locks this master's table knew: the members it rebuilt from, and the failed nodes
  whose granted locks it carried as orphans. An orphan is purged, and what waited behind it served, once its node
  is safely gone (its fence confirmed) or back in the view as a new run (membership admits a failed node only
  after it reset, so it holds nothing).
* `blind`, the failed nodes whose locks this master never knew (they failed before it took over, or a member's
  inventory names them as still waiting for their fence): their locks died with an old master's table, so
  nothing at all is granted until every one of them is safely gone or back (the DLM's "recovery waits for
  fencing"); try-locks are refused with that reason.

A master that stops coordinating forgets its table: the next master rebuilds one from the members.
"""

from __future__ import annotations

from quorate.core.effects import Send
from quorate.core.lock_member import RESEND, LockMember
from quorate.core.lock_messages import (
    LockConvert,
    LockDeny,
    LockGrant,
    LockInventory,
    LockRecover,
    LockRequest,
    LockUnlock,
    LockUnlocked,
)
from quorate.core.lock_modes import MODES, from_ms
from quorate.core.lock_recovery import Recovery, carry_over
from quorate.core.lock_state import LockState, invalid_request, lvb_too_long
from quorate.core.lock_table import Answer, LockTable
from quorate.core.messages import Message


class LockMaster:
    """The table this node masters while it coordinates, its recovery, and what blocks grants."""

    def __init__(self, state: LockState, member: LockMember) -> None:
        self._state = state
        self._member = member
        self.table = LockTable(state.names)
        self.table_valid = False  # the table was rebuilt in this period of mastering: it knows who holds what
        self.known: set[int] = set()
        self.blind: set[int] = set()
        self.rid = 0
        self.recovery: Recovery | None = None

    @property
    def recovering(self) -> bool:
        return self.recovery is not None

    # -------------------------------------------------------------------------------- who masters

    def take_over(self, now: float, left: frozenset[int], failed: frozenset[int]) -> None:
        """This node coordinates the new quorate view: recover the table before granting anything."""
        state = self._state
        if state.acting and self.table_valid:
            known = set(self.known)
            carried, lvbs = carry_over(self.table, state.members, left)
        else:
            known, carried, lvbs = set(), [], {}
        self.known = known - (set(left) - {lk.node for lk in carried})
        self.blind |= set(failed) - state.members - self.known
        # The table stays as it was (operations wait until the rebuild): if another view comes before the
        # rebuild, what it knew is still the best knowledge of the nodes that fail then.
        state.acting = True
        self.rid += 1
        own = self._member.inventory(now)
        self.recovery = Recovery(self.rid, state.local_id, own, state.unfenced(), carried, lvbs)
        state.log(
            f"lock master for view {state.view[0] if state.view else 0}: recovering the cluster locks "
            f"from {len(state.members)} member(s) before granting anything"
        )
        self._ask_inventories(now)
        self._maybe_rebuild(now)

    def hand_over(self) -> None:
        """Another node coordinates the new view: if this one mastered, it forgets its table."""
        if self._state.acting:
            self._state.log(
                f"no longer the lock master: {self._state.name(self._state.master)} masters the cluster locks now"
            )
            self.stop()

    def stop(self) -> None:
        """Master no more (another master, or no quorate view): the table is forgotten, its trace kept."""
        self._state.acting = False
        self.recovery = None
        self.table_valid = False
        trace = self.table.grant_trace
        self.table = LockTable(self._state.names)
        self.table.grant_trace = trace
        self.known, self.blind = set(), set()

    # ------------------------------------------------------------------------------------ inputs

    def receive(self, now: float, sender: int, message: Message) -> None:
        """A member's operation (request, convert, unlock) or a part of its inventory."""
        state = self._state
        if not state.acting or sender not in state.members:
            return
        if isinstance(message, LockInventory):
            recovery = self.recovery
            current = recovery is not None and message.view == state.view and message.rid == recovery.rid
            if recovery is not None and current and message.parts > 0:
                recovery.take(sender, message)
                self._maybe_rebuild(now)
            return
        if not isinstance(message, (LockRequest, LockConvert, LockUnlock)) or message.view != state.view:
            return
        if self.recovery is not None:
            self.recovery.defer(sender, message)
            return
        table = self.table
        if isinstance(message, LockRequest):
            problem = invalid_request(message.lockspace, message.name, message.mode)
            if problem:
                self._answer(now, Answer(sender, message.lkid, message.op, "deny", code="invalid", detail=problem))
                return
            res = (message.lockspace, message.name)
            table.request(now, sender, message.lkid, message.op, res, message.mode, from_ms(message.timeout_ms))
        elif isinstance(message, LockConvert):
            if not 0 <= message.mode < len(MODES) or (message.lvb is not None and lvb_too_long(message.lvb)):
                self._answer(now, Answer(sender, message.lkid, message.op, "deny", code="invalid", detail="bad mode"))
                return
            table.convert(now, sender, message.lkid, message.op, message.mode, from_ms(message.timeout_ms), message.lvb)
        else:
            lvb = message.lvb if message.lvb is None or not lvb_too_long(message.lvb) else None
            table.unlock(now, sender, message.lkid, message.op, lvb)
        self._flush_table(now)

    def ask_if_due(self, now: float) -> None:
        """Ask again for the inventories still missing, `RESEND` after the last time."""
        recovery = self.recovery
        if self._state.acting and recovery is not None and now >= recovery.asked_at + RESEND:
            self._ask_inventories(now)

    def evaluate(self, now: float) -> None:
        """Release orphans of nodes now safely gone or back, block or unblock grants, expire waiters, serve."""
        state = self._state
        if not state.acting or self.recovery is not None:
            return
        table = self.table
        for node in sorted({lk.node for lk in table.locks.values() if lk.orphan}):
            if node in state.members or state.safely_gone(node):
                why = "is back as a new run" if node in state.members else "is fenced"
                count = len(table.purge(node))
                state.log(f"{state.name(node)} {why}: its {count} cluster lock(s) are released")
        was_blocked = table.blocked
        self.blind = {n for n in self.blind if n not in state.members and not state.safely_gone(n)}
        if self.blind:
            names = ", ".join(state.name(n) for n in sorted(self.blind))
            table.blocked = f"lock recovery waits for the fence of {names}"
        else:
            table.blocked = ""
        if was_blocked and not table.blocked:
            state.log("every failed node is fenced: cluster locks are granted again")
            table.touch_all()
        elif table.blocked and not was_blocked:
            state.log(f"{table.blocked}: no cluster lock is granted until then", "warning")
        table.expire(now)
        table.serve()
        self._flush_table(now)

    # ----------------------------------------------------------------------------------- outputs

    def deadlines(self) -> list[float]:
        """The next ask for inventories while recovering; the next waiter's timeout while serving."""
        if not self._state.acting:
            return []
        if self.recovery is not None:
            return [self.recovery.asked_at + RESEND]
        expiry = self.table.next_deadline()
        return [] if expiry is None else [expiry]

    def holdup(self) -> str:
        """Why this master grants nothing now ("" when it serves, or does not master)."""
        state = self._state
        if not state.acting:
            return ""
        if self.recovery is not None:
            missing = sorted(state.members - set(self.recovery.inventories) - {state.local_id})
            return "recovering: waiting for the inventories of " + ", ".join(state.name(n) for n in missing)
        return self.table.blocked

    def resources(self) -> list[dict[str, object]] | None:
        """The table for `quorate locks`, only from a master that serves (a recovering table is incomplete)."""
        if self._state.acting and self.recovery is None:
            return self.table.describe(self._state.names)
        return None

    # --------------------------------------------------------------------------------- internals

    def _ask_inventories(self, now: float) -> None:
        state = self._state
        recovery = self.recovery
        assert state.view is not None and recovery is not None
        recovery.asked_at = now
        missing = recovery.missing(state.members)
        if missing:
            state.effects.append(Send(missing, LockRecover(state.view, recovery.rid)))

    def _maybe_rebuild(self, now: float) -> None:
        state = self._state
        recovery = self.recovery
        assert recovery is not None
        if not recovery.complete(state.members):
            return
        table, released = recovery.rebuild(now, state.names, self.table.grant_trace)
        for answer in released:
            self._answer(now, answer)
        self.table = table
        self.known = set(state.members) | {lk.node for lk in recovery.carried}
        self.blind |= recovery.reported_unfenced - state.members - self.known
        self.recovery = None
        self.table_valid = True
        orphans = len([lk for lk in table.locks.values() if lk.orphan])
        state.log(
            f"cluster locks recovered: {len(table.locks) - orphans} lock(s) of {len(state.members)} member(s)"
            + (f", {orphans} held by failed nodes until they are fenced" if orphans else "")
        )
        self.evaluate(now)
        for sender, message in recovery.deferred:
            self.receive(now, sender, message)

    def _flush_table(self, now: float) -> None:
        answers, self.table.answers = self.table.answers, []
        for answer in answers:
            self._answer(now, answer)

    def _answer(self, now: float, a: Answer) -> None:
        state = self._state
        if state.view is None or a.node not in state.members:
            return
        message: Message
        if a.kind == "grant":
            message = LockGrant(state.view, a.lkid, a.op, a.mode, a.lvb, a.lvb_seq)
        elif a.kind == "deny":
            message = LockDeny(state.view, a.lkid, a.op, a.code, a.detail, a.mode)
        else:
            message = LockUnlocked(state.view, a.lkid, a.op)
        if a.node == state.local_id:
            self._member.receive(now, state.local_id, message)
        else:
            state.effects.append(Send((a.node,), message))
