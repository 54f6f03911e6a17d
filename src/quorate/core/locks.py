"""Cluster locks with the DLM's semantics (what the DLM did for clvmd and GFS), mastered by the coordinator.

Theory of operation
-------------------
Every node runs one `LockManager`. It has two halves:

* *The member half* (every node) keeps the locks this node's clients hold or wait for (`held`), sends each
  operation (request, convert, unlock) to the lock master and resends it every `RESEND` seconds until the
  master answers: the master answers a repeated operation again instead of doing it twice, so lost or
  duplicated datagrams are harmless. Answers from another view or another node than the master are ignored.
* *The master half* runs on the coordinator of the quorate view only (one authority, S2) and holds the
  table (`quorate.core.lock_table`): queues per resource, FIFO grants with the DLM's compatibility table,
  conversions, try-locks, timeouts on the master's clock, value blocks.

Recovery. The members' own knowledge is the truth: after every view change (or quorum regained) the
coordinator grants nothing until every member sent its inventory (what it holds and what it waits for),
then rebuilds the table from them, oldest waiters first. Operations that arrive meanwhile are replayed after
the rebuild. What a node that left the view held:

* left cleanly: released (a clean leave drops every lock first);
* failed: if this master's table knew its locks, its granted locks stay in the table as *orphans*, blocking
  what conflicts with them, until the fencing layer says it is safely gone (fence confirmed) or it comes
  back as a new run (membership admits a failed node only after it reset, so it holds nothing);
* failed and unknown to this master (the master changed, so its locks died with the old table): nothing at
  all is granted until every such node is safely gone (the DLM's "recovery waits for fencing").

A node whose view is not quorate, or that is evicted, drops every lock at once and tells its clients
(`LockLost`): a lock holder that leaves the quorate view loses its locks, because the others will recover
them once it is fenced.

Inputs take ``now`` (monotonic seconds); outputs are effects collected with `take_effects`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.lock_messages import (
    LockConvert,
    LockDeny,
    LockEntry,
    LockGrant,
    LockInventory,
    LockRecover,
    LockRequest,
    LockUnlock,
    LockUnlocked,
    View,
)
from quorate.core.lock_modes import (
    LVB_WRITERS,
    MODES,
    NO_MODE,
    LockError,
    NoQuorum,
    check_lvb,
    check_name,
    check_timeout,
    from_ms,
    is_down,
    meet,
    parse_mode,
    to_ms,
)
from quorate.core.lock_table import Answer, LockTable, MLock
from quorate.core.messages import Message, ViewId

RESEND = 0.5
INVENTORY_CHUNK = 24
MAX_DEFERRED = 10_000


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


@dataclass(slots=True)
class Held:
    """One lock of this node, as its member half knows it."""

    lkid: int
    lockspace: str
    name: str
    granted: int = NO_MODE
    requested: int = NO_MODE
    op: int = 0
    pending: str = ""  # "request" | "convert" | "unlock" | ""
    deadline: float | None = None
    since: float = 0.0
    sent_at: float = -1e18
    lvb: bytes = b""
    lvb_seq: int = 0
    new_lvb: bytes | None = None


def _view(view: ViewId) -> View:
    return (view.seq, view.coord)


class LockManager:
    def __init__(
        self,
        local_id: int,
        node_names: dict[int, str],
        *,
        safely_gone: Callable[[int], bool] = lambda _n: False,
        unfenced: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        self.local_id = local_id
        self.names = node_names
        self.safely_gone = safely_gone
        self.unfenced = unfenced
        self.held: dict[int, Held] = {}
        self.view: View | None = None  # None while this node is not in a quorate view
        self.master = 0
        self.members: frozenset[int] = frozenset()
        # master half
        self.acting = False
        self.recovering = False
        self.table = LockTable(self.names)
        self.table_valid = False
        self.known: set[int] = set()
        self.blind: set[int] = set()
        self.rid = 0
        self.inventories: dict[int, dict[int, tuple[LockEntry, ...]]] = {}
        self.expected_parts: dict[int, int] = {}
        self.reported_unfenced: set[int] = set()
        self.carried: list[MLock] = []
        self.carried_lvbs: dict[tuple[str, str], tuple[bytes, int]] = {}
        self.deferred: list[tuple[int, Message]] = []
        self._recover_sent = -1e18
        self._rebuilt_grants: list[Answer] = []
        self._next_lkid = 1
        self._effects: list[LockEffect] = []
        self._last_eval = -1e18

    # --------------------------------------------------------------------------------- client API

    def lock(self, now: float, lockspace: str, name: str, mode: str | int, *, timeout: float | None = None) -> int:
        """Ask for a new lock; the answer comes as `LockGranted` or `LockDenied`. timeout 0 is a try-lock."""
        check_name("lock space", lockspace)
        check_name("lock", name)
        wanted = parse_mode(mode)
        wait = check_timeout(timeout)
        if self.view is None:
            raise NoQuorum("this node is not in a quorate cluster: no lock can be granted")
        lkid = self._next_lkid
        self._next_lkid += 1
        held = Held(lkid, lockspace, name, requested=wanted, op=1, pending="request", since=now)
        held.deadline = None if wait is None else now + wait
        self.held[lkid] = held
        self._send_op(now, held)
        return lkid

    def convert(
        self, now: float, lkid: int, mode: str | int, *, timeout: float | None = None, lvb: bytes | None = None
    ) -> None:
        """Change a granted lock's mode; `lvb` is written if converting down from PW or EX."""
        held = self._own(lkid)
        wanted = parse_mode(mode)
        wait = check_timeout(timeout)
        check_lvb(lvb)
        if held.pending or held.granted == NO_MODE:
            raise LockError(f"lock {lkid} is not granted, or an operation on it is still in progress")
        held.op += 1
        held.pending, held.requested, held.since = "convert", wanted, now
        held.deadline = None if wait is None else now + wait
        held.new_lvb = lvb
        self._send_op(now, held)

    def unlock(self, now: float, lkid: int, *, lvb: bytes | None = None) -> None:
        """Release a lock, or cancel it while it waits; `LockReleased` follows once the master knows."""
        held = self._own(lkid)
        check_lvb(lvb)
        if held.pending == "unlock":
            return
        held.op += 1
        held.pending, held.deadline, held.since = "unlock", None, now
        held.new_lvb = lvb
        self._send_op(now, held)

    def drop_all(self, now: float, reason: str) -> None:
        """This node must stop holding anything (quorum lost, evicted, leaving)."""
        self._lose_everything(now, reason)

    # -------------------------------------------------------------------------------- cluster inputs

    def on_view(self, now: float, installed: ViewInstalled, *, coordinator: bool) -> None:
        if not installed.quorate:
            self._lose_everything(now, "this node's view is not quorate")
            return
        self._enter(now, _view(installed.view), installed.members, coordinator, installed.left, installed.failed)

    def on_quorum(self, now: float, *, quorate: bool, coordinator: bool, view: ViewId, members: frozenset[int]) -> None:
        """Quorum changed without a new view (lost, evicted, or regained through the quorum disk)."""
        if not quorate:
            self._lose_everything(now, "this node lost quorum")
        elif self.view is None:
            self._enter(now, _view(view), members, coordinator, frozenset(), frozenset())

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, (LockGrant, LockDeny, LockUnlocked, LockRecover)):
            self._member_receive(now, sender, message)
        elif isinstance(message, (LockRequest, LockConvert, LockUnlock, LockInventory)):
            self._master_receive(now, sender, message)
        self._evaluate(now)

    def tick(self, now: float) -> None:
        for held in list(self.held.values()):
            if held.pending and now >= held.sent_at + RESEND and self.view is not None and not self.acting:
                self._send_op(now, held)
        if self.acting and self.recovering and now >= self._recover_sent + RESEND:
            self._ask_inventories(now)
        self._evaluate(now)

    # ----------------------------------------------------------------------------------------- outputs

    def take_effects(self) -> list[LockEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        times = [h.sent_at + RESEND for h in self.held.values() if h.pending and self.view is not None]
        if self.acting:
            times = []  # the master's own operations are delivered locally: nothing to resend
        if self.acting and self.recovering:
            times.append(self._recover_sent + RESEND)
        if self.acting and not self.recovering:
            expiry = self.table.next_deadline()
            if expiry is not None:
                times.append(expiry)
        # Past times are returned as they are: `tick` moves every one of them forward (it resends, or expires).
        return min(times) if times else None

    def status(self, now: float) -> dict[str, object]:
        def mode(m: int) -> str | None:
            return MODES[m] if m != NO_MODE else None

        state = "no quorate view"
        if self.view is not None:
            state = "ready"
            if self.acting and self.recovering:
                missing = sorted(self.members - set(self.inventories) - {self.local_id})
                state = "recovering: waiting for the inventories of " + ", ".join(self._name(n) for n in missing)
            elif self.acting and self.table.blocked:
                state = self.table.blocked
        return {
            "master": self._name(self.master) if self.view is not None else None,
            "master_here": self.acting,
            "state": state,
            "local": [
                {
                    "lkid": h.lkid,
                    "lockspace": h.lockspace,
                    "name": h.name,
                    "granted": mode(h.granted),
                    "requested": mode(h.requested) if h.pending in ("request", "convert") else None,
                    "pending": h.pending,
                    "for": now - h.since,
                }
                for h in sorted(self.held.values(), key=lambda h: h.lkid)
            ],
            "resources": self.table.describe(self.names) if self.acting and not self.recovering else None,
        }

    # ----------------------------------------------------------------------------------- member half

    def _own(self, lkid: int) -> Held:
        held = self.held.get(lkid)
        if held is None:
            raise LockError(f"no lock {lkid} on this node")
        return held

    def _send_op(self, now: float, held: Held) -> None:
        assert self.view is not None
        held.sent_at = now
        message: Message
        if held.pending == "unlock":
            message = LockUnlock(self.view, held.lkid, held.op, held.new_lvb)
        else:
            remaining = -1 if held.deadline is None else to_ms(max(0.0, held.deadline - now))
            if remaining == 0 and held.deadline is not None and held.deadline > held.since:
                remaining = 1  # a resend after the local deadline is not a try-lock
            if held.pending == "request":
                message = LockRequest(
                    self.view, held.lkid, held.op, held.lockspace, held.name, held.requested, remaining
                )
            else:
                message = LockConvert(self.view, held.lkid, held.op, held.requested, remaining, held.new_lvb)
        self._to_master(now, message)

    def _to_master(self, now: float, message: Message) -> None:
        if self.acting:
            self._master_receive(now, self.local_id, message)
        else:
            self._effects.append(Send((self.master,), message))

    def _member_receive(self, now: float, sender: int, message: Message) -> None:
        if self.view is None or sender != self.master:
            return
        if isinstance(message, LockRecover):
            if message.view == self.view:
                self._send_inventory(now, message.rid)
            return
        if not isinstance(message, (LockGrant, LockDeny, LockUnlocked)) or message.view != self.view:
            return
        held = self.held.get(message.lkid)
        if held is None or message.op > held.op:
            if isinstance(message, LockGrant):  # granted after we gave up on it: give it back
                self._to_master(now, LockUnlock(self.view, message.lkid, message.op + 1))
            return
        if message.op != held.op or not held.pending:
            return
        if isinstance(message, LockGrant) and held.pending in ("request", "convert"):
            held.granted, held.requested, held.pending = message.mode, NO_MODE, ""
            held.lvb, held.lvb_seq, held.deadline, held.new_lvb = message.lvb, message.lvb_seq, None, None
            self._effects.append(LockGranted(held.lkid, MODES[message.mode], message.lvb))
        elif isinstance(message, LockDeny) and held.pending in ("request", "convert"):
            if held.pending == "convert" and 0 <= message.mode < len(MODES):
                held.granted = message.mode  # after a recovery the master may keep less than the old mode
            keep = MODES[held.granted] if held.pending == "convert" else None
            held.requested, held.pending, held.deadline, held.new_lvb = NO_MODE, "", None, None
            if keep is None:
                del self.held[held.lkid]
            self._effects.append(LockDenied(held.lkid, message.code, message.detail, keep))
        elif isinstance(message, LockUnlocked) and held.pending == "unlock":
            del self.held[held.lkid]
            self._effects.append(LockReleased(held.lkid))

    def _inventory(self, now: float) -> list[LockEntry]:
        entries = []
        for h in sorted(self.held.values(), key=lambda h: h.lkid):
            asking = h.pending in ("request", "convert")
            remaining = -1 if h.deadline is None else to_ms(max(0.0, h.deadline - now))
            entries.append(
                LockEntry(
                    h.lkid,
                    h.op,
                    h.lockspace,
                    h.name,
                    h.granted,
                    h.requested if asking else NO_MODE,
                    remaining if asking else -1,
                    to_ms(now - h.since) if asking else 0,
                    h.lvb,
                    h.lvb_seq,
                    h.pending == "unlock",
                    h.new_lvb,
                )
            )
        return entries

    def _send_inventory(self, now: float, rid: int) -> None:
        assert self.view is not None
        entries = self._inventory(now)
        chunks = [tuple(entries[i : i + INVENTORY_CHUNK]) for i in range(0, len(entries), INVENTORY_CHUNK)] or [()]
        unfenced = tuple(sorted(self.unfenced()))
        for part, chunk in enumerate(chunks):
            message = LockInventory(self.view, rid, part, len(chunks), chunk, unfenced)
            self._effects.append(Send((self.master,), message))

    def _lose_everything(self, now: float, reason: str) -> None:
        if self.held:
            self._log(f"dropping {len(self.held)} cluster lock(s): {reason}", "warning")
        for held in sorted(self.held.values(), key=lambda h: h.lkid):
            if held.pending == "unlock":
                self._effects.append(LockReleased(held.lkid))
            else:
                self._effects.append(LockLost(held.lkid, reason, held.granted != NO_MODE))
        self.held.clear()
        self.view, self.master, self.members = None, 0, frozenset()
        self._stop_mastering()

    # ----------------------------------------------------------------------------------- master half

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
        self.view, self.master, self.members = view, view[1], members
        for held in self.held.values():
            held.sent_at = now  # resend later, to the new master, once it has had time to recover
        if coordinator:
            self._start_recovery(now, left, failed)
        elif self.acting:
            self._log(f"no longer the lock master: {self._name(self.master)} masters the cluster locks now")
            self._stop_mastering()

    def _stop_mastering(self) -> None:
        self.acting = self.recovering = self.table_valid = False
        trace = self.table.grant_trace
        self.table = LockTable(self.names)
        self.table.grant_trace = trace
        self.known, self.blind, self.inventories, self.deferred, self.carried = set(), set(), {}, [], []

    def _start_recovery(self, now: float, left: frozenset[int], failed: frozenset[int]) -> None:
        if self.acting and self.table_valid:
            known = set(self.known)
            gone = {lk.node for lk in self.table.locks.values()} - self.members
            carried = [
                lk
                for lk in self.table.locks.values()
                if lk.node in gone and lk.node not in left and lk.granted != NO_MODE
            ]
            lvbs = {r.name: (r.lvb, r.lvb_seq) for r in self.table.resources.values() if r.lvb_seq}
        else:
            known, carried, lvbs = set(), [], {}
        self.carried, self.carried_lvbs = carried, lvbs
        self.known = known - (set(left) - {lk.node for lk in carried})
        self.blind |= set(failed) - self.members - self.known
        # The table stays as it was (operations wait until the rebuild): if another view comes before the
        # rebuild, what it knew is still the best knowledge of the nodes that fail then.
        self.acting, self.recovering = True, True
        self.rid += 1
        self.inventories = {self.local_id: {0: tuple(self._inventory(now))}}
        self.expected_parts = {self.local_id: 1}
        self.reported_unfenced = set(self.unfenced())
        self.deferred = []
        self._log(
            f"lock master for view {self.view[0] if self.view else 0}: recovering the cluster locks "
            f"from {len(self.members)} member(s) before granting anything"
        )
        self._ask_inventories(now)
        self._maybe_rebuild(now)

    def _ask_inventories(self, now: float) -> None:
        assert self.view is not None
        self._recover_sent = now
        missing = tuple(sorted(n for n in self.members if not self._reported(n)))
        if missing:
            self._effects.append(Send(missing, LockRecover(self.view, self.rid)))

    def _reported(self, node: int) -> bool:
        parts = self.inventories.get(node)
        return parts is not None and len(parts) == self.expected_parts.get(node, -1)

    def _maybe_rebuild(self, now: float) -> None:
        if not all(self._reported(n) for n in self.members):
            return
        trace = self.table.grant_trace
        table = LockTable(self.names)
        table.grant_trace = trace
        for lock in self.carried:
            lock.orphan, lock.requested, lock.deadline = True, NO_MODE, None
            table.adopt(lock, *self.carried_lvbs.get(lock.res, (b"", 0)))
        for name, (lvb, seq) in self.carried_lvbs.items():
            table.adopt_lvb(name, lvb, seq)
        age: dict[tuple[int, int], float] = {}
        self._rebuilt_grants = []
        for node in sorted(self.inventories):
            for part in sorted(self.inventories[node]):
                for entry in self.inventories[node][part]:
                    self._adopt_entry(now, table, node, entry, age)
        table.renumber(age)
        for grant in self._rebuilt_grants:
            lock = table.locks[(grant.node, grant.lkid)]
            resource = table.resources[lock.res]
            lock.last = Answer(grant.node, grant.lkid, grant.op, "grant", grant.mode, resource.lvb, resource.lvb_seq)
            table.answers.append(lock.last)
        self.table = table
        self.known = set(self.members) | {lk.node for lk in self.carried}
        self.blind |= self.reported_unfenced - self.members - self.known
        self.carried, self.carried_lvbs, self.inventories = [], {}, {}
        self.recovering, self.table_valid = False, True
        orphans = len([lk for lk in table.locks.values() if lk.orphan])
        self._log(
            f"cluster locks recovered: {len(table.locks) - orphans} lock(s) of {len(self.members)} member(s)"
            + (f", {orphans} held by failed nodes until they are fenced" if orphans else "")
        )
        self._evaluate(now)
        deferred, self.deferred = self.deferred, []
        for sender, message in deferred:
            self._master_receive(now, sender, message)

    def _adopt_entry(
        self, now: float, table: LockTable, node: int, e: LockEntry, age: dict[tuple[int, int], float]
    ) -> None:
        if not _valid_entry(e):
            return
        res = (e.lockspace, e.name)
        if e.releasing:
            if e.new_lvb is not None and e.granted in LVB_WRITERS:
                table.adopt_lvb(res, e.new_lvb, e.lvb_seq + 1)
            else:
                table.adopt_lvb(res, e.lvb, e.lvb_seq)
            self._answer(now, Answer(node, e.lkid, e.op, "unlocked"))
            return
        wait = from_ms(e.timeout_ms)
        deadline = None if e.requested == NO_MODE or wait is None else now + wait
        granted, requested = e.granted, e.requested
        if granted != NO_MODE and requested != NO_MODE:
            # A conversion in flight may have been granted by the old master, which may have granted others
            # what the new mode allows: count it as done going down, and as what both modes allow sideways.
            if is_down(granted, requested):
                granted, requested = requested, NO_MODE
                self._rebuilt_grants.append(Answer(node, e.lkid, e.op, "grant", granted))
            else:
                granted = meet(granted, requested)
        deadline = None if requested == NO_MODE else deadline
        lock = MLock(node, e.lkid, e.op, res, granted=granted, requested=requested, deadline=deadline)
        table.adopt(lock, e.lvb, e.lvb_seq)
        age[(node, e.lkid)] = e.waited_ms / 1000.0

    def _master_receive(self, now: float, sender: int, message: Message) -> None:
        if not self.acting or sender not in self.members:
            return
        if isinstance(message, LockInventory):
            if self.recovering and message.view == self.view and message.rid == self.rid and message.parts > 0:
                self.inventories.setdefault(sender, {})[message.part] = message.entries
                self.expected_parts[sender] = message.parts
                self.reported_unfenced |= set(message.unfenced)
                self._maybe_rebuild(now)
            return
        if not isinstance(message, (LockRequest, LockConvert, LockUnlock)) or message.view != self.view:
            return
        if self.recovering:
            if len(self.deferred) < MAX_DEFERRED:
                self.deferred.append((sender, message))
            return
        table = self.table
        if isinstance(message, LockRequest):
            problem = _invalid_request(message.lockspace, message.name, message.mode)
            if problem:
                self._answer(now, Answer(sender, message.lkid, message.op, "deny", code="invalid", detail=problem))
                return
            res = (message.lockspace, message.name)
            table.request(now, sender, message.lkid, message.op, res, message.mode, from_ms(message.timeout_ms))
        elif isinstance(message, LockConvert):
            if not 0 <= message.mode < len(MODES) or (message.lvb is not None and _lvb_too_long(message.lvb)):
                self._answer(now, Answer(sender, message.lkid, message.op, "deny", code="invalid", detail="bad mode"))
                return
            table.convert(now, sender, message.lkid, message.op, message.mode, from_ms(message.timeout_ms), message.lvb)
        else:
            lvb = message.lvb if message.lvb is None or not _lvb_too_long(message.lvb) else None
            table.unlock(now, sender, message.lkid, message.op, lvb)
        self._flush_table(now)

    def _evaluate(self, now: float) -> None:
        self._last_eval = now
        if not self.acting or self.recovering:
            return
        table = self.table
        for node in sorted({lk.node for lk in table.locks.values() if lk.orphan}):
            if node in self.members or self.safely_gone(node):
                why = "is back as a new run" if node in self.members else "is fenced"
                count = len(table.purge(node))
                self._log(f"{self._name(node)} {why}: its {count} cluster lock(s) are released")
        was_blocked = table.blocked
        self.blind = {n for n in self.blind if n not in self.members and not self.safely_gone(n)}
        if self.blind:
            names = ", ".join(self._name(n) for n in sorted(self.blind))
            table.blocked = f"lock recovery waits for the fence of {names}"
        else:
            table.blocked = ""
        if was_blocked and not table.blocked:
            self._log("every failed node is fenced: cluster locks are granted again")
            table.touch_all()
        elif table.blocked and not was_blocked:
            self._log(f"{table.blocked}: no cluster lock is granted until then", "warning")
        table.expire(now)
        table.serve()
        self._flush_table(now)

    def _flush_table(self, now: float) -> None:
        answers, self.table.answers = self.table.answers, []
        for answer in answers:
            self._answer(now, answer)

    def _answer(self, now: float, a: Answer) -> None:
        if self.view is None or a.node not in self.members:
            return
        message: Message
        if a.kind == "grant":
            message = LockGrant(self.view, a.lkid, a.op, a.mode, a.lvb, a.lvb_seq)
        elif a.kind == "deny":
            message = LockDeny(self.view, a.lkid, a.op, a.code, a.detail, a.mode)
        else:
            message = LockUnlocked(self.view, a.lkid, a.op)
        if a.node == self.local_id:
            self._member_receive(now, self.local_id, message)
        else:
            self._effects.append(Send((a.node,), message))

    def _name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))


def _lvb_too_long(lvb: bytes) -> bool:
    """A value block longer than the limit (a peer's bug): a conversion carrying it is refused, an unlock drops it."""
    try:
        check_lvb(lvb)
    except LockError:
        return True
    return False


def _invalid_request(lockspace: str, name: str, mode: int) -> str:
    try:
        check_name("lock space", lockspace)
        check_name("lock", name)
    except LockError as exc:
        return str(exc)
    return "" if 0 <= mode < len(MODES) else f"unknown mode number {mode}"


def _valid_entry(e: LockEntry) -> bool:
    if _invalid_request(e.lockspace, e.name, max(e.granted, e.requested, 0)):
        return False
    return all(m == NO_MODE or 0 <= m < len(MODES) for m in (e.granted, e.requested))
