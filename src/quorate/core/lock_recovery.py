"""Recovery of the lock master's table after a view change: the members' own knowledge is the truth.

Theory of operation
-------------------
After every view change (or quorum regained) the coordinator grants nothing until every member has sent its
inventory (what it holds and what it waits for); then it rebuilds the table from them, oldest waiters first.
Operations that arrive meanwhile are kept (up to `MAX_DEFERRED`) and replayed after the rebuild. Each round has
a number (`rid`): an inventory of an older round or another view is ignored, and the master asks the members
that have not answered again until they do. An inventory may come in several parts; a member counts as reported
once all of them are in.

The old table may know more than the members: what a failed node held. So when the master stays the same, the
granted locks of the nodes that failed (not those that left cleanly: a clean leave drops every lock first) are
carried into the rebuilt table as *orphans*, with the value blocks the old table kept; they block what conflicts
with them until the fencing layer says their node is safely gone (`lock_master` purges them). A new master has no
old table: the locks of nodes that failed before it took over are unknown, and it grants nothing until they are
fenced (`lock_master` again).

The inventories rebuild the queues as the members believe them, with two corrections for what the old master may
have done that no member heard of:

* an unlock in flight counts as done (the value block written if the holder was a writer), and is answered;
* a conversion in flight may have been granted by the old master, which may then have granted others what the new
  mode allows: a conversion down counts as granted (and is answered so), a sideways one keeps what both modes
  allow, and waits for the rest.

An entry no honest member could have sent (a bad name, an unknown mode) is left out of the table.
"""

from __future__ import annotations

from quorate.core.lock_messages import LockEntry, LockInventory
from quorate.core.lock_modes import LVB_WRITERS, MODES, NO_MODE, from_ms, is_down, meet
from quorate.core.lock_state import invalid_request
from quorate.core.lock_table import Answer, Key, LockTable, MLock, ResName
from quorate.core.messages import Message

MAX_DEFERRED = 10_000

ValueBlocks = dict[ResName, tuple[bytes, int]]  # resource -> (value block, its sequence number)
GrantTrace = list[tuple[ResName, int, bool]] | None


def carry_over(table: LockTable, members: frozenset[int], left: frozenset[int]) -> tuple[list[MLock], ValueBlocks]:
    """What the old table keeps for the rebuild: the granted locks of failed nodes, and every written value block."""
    gone = {lk.node for lk in table.locks.values()} - members
    carried = [
        lk for lk in table.locks.values() if lk.node in gone and lk.node not in left and lk.granted != NO_MODE
    ]
    lvbs = {r.name: (r.lvb, r.lvb_seq) for r in table.resources.values() if r.lvb_seq}
    return carried, lvbs


class Recovery:
    """One round of recovery: the inventories in so far, what the old table carries over, the operations kept."""

    def __init__(
        self,
        rid: int,
        local_id: int,
        own: list[LockEntry],
        unfenced: frozenset[int],
        carried: list[MLock],
        carried_lvbs: ValueBlocks,
    ) -> None:
        """``own``: the master's own inventory, taken as the round starts; ``unfenced``: its fencing layer's victims."""
        self.rid = rid
        self.inventories: dict[int, dict[int, tuple[LockEntry, ...]]] = {local_id: {0: tuple(own)}}
        self.expected_parts: dict[int, int] = {local_id: 1}
        self.reported_unfenced: set[int] = set(unfenced)
        self.carried = carried
        self.carried_lvbs = carried_lvbs
        self.deferred: list[tuple[int, Message]] = []
        self.asked_at = -1e18

    def reported(self, node: int) -> bool:
        parts = self.inventories.get(node)
        return parts is not None and len(parts) == self.expected_parts.get(node, -1)

    def missing(self, members: frozenset[int]) -> tuple[int, ...]:
        return tuple(sorted(n for n in members if not self.reported(n)))

    def complete(self, members: frozenset[int]) -> bool:
        return all(self.reported(n) for n in members)

    def take(self, sender: int, message: LockInventory) -> None:
        """One part of `sender`'s inventory (of this round and view: the master checked)."""
        self.inventories.setdefault(sender, {})[message.part] = message.entries
        self.expected_parts[sender] = message.parts
        self.reported_unfenced |= set(message.unfenced)

    def defer(self, sender: int, message: Message) -> None:
        """An operation that arrived during the round: replayed after the rebuild (a flood is cut, not kept)."""
        if len(self.deferred) < MAX_DEFERRED:
            self.deferred.append((sender, message))

    def rebuild(self, now: float, names: dict[int, str], trace: GrantTrace) -> tuple[LockTable, list[Answer]]:
        """The new table, and the answers to unlocks that were in flight (to send before anything else)."""
        table = LockTable(names)
        table.grant_trace = trace
        for lock in self.carried:
            lock.orphan, lock.requested, lock.deadline = True, NO_MODE, None
            table.adopt(lock, *self.carried_lvbs.get(lock.res, (b"", 0)))
        for name, (lvb, seq) in self.carried_lvbs.items():
            table.adopt_lvb(name, lvb, seq)
        age: dict[Key, float] = {}
        granted: list[Answer] = []
        released: list[Answer] = []
        for node in sorted(self.inventories):
            for part in sorted(self.inventories[node]):
                for entry in self.inventories[node][part]:
                    _adopt_entry(now, table, node, entry, age, granted, released)
        table.renumber(age)
        for grant in granted:
            lock = table.locks[(grant.node, grant.lkid)]
            resource = table.resources[lock.res]
            lock.last = Answer(grant.node, grant.lkid, grant.op, "grant", grant.mode, resource.lvb, resource.lvb_seq)
            table.answers.append(lock.last)
        return table, released


def _adopt_entry(
    now: float,
    table: LockTable,
    node: int,
    e: LockEntry,
    age: dict[Key, float],
    granted: list[Answer],
    released: list[Answer],
) -> None:
    if not _valid_entry(e):
        return
    res = (e.lockspace, e.name)
    if e.releasing:
        if e.new_lvb is not None and e.granted in LVB_WRITERS:
            table.adopt_lvb(res, e.new_lvb, e.lvb_seq + 1)
        else:
            table.adopt_lvb(res, e.lvb, e.lvb_seq)
        released.append(Answer(node, e.lkid, e.op, "unlocked"))
        return
    wait = from_ms(e.timeout_ms)
    deadline = None if e.requested == NO_MODE or wait is None else now + wait
    mode, requested = e.granted, e.requested
    if mode != NO_MODE and requested != NO_MODE:
        # A conversion in flight may have been granted by the old master, which may have granted others what
        # the new mode allows: count it as done going down, and as what both modes allow sideways.
        if is_down(mode, requested):
            mode, requested = requested, NO_MODE
            granted.append(Answer(node, e.lkid, e.op, "grant", mode))
        else:
            mode = meet(mode, requested)
    deadline = None if requested == NO_MODE else deadline
    lock = MLock(node, e.lkid, e.op, res, granted=mode, requested=requested, deadline=deadline)
    table.adopt(lock, e.lvb, e.lvb_seq)
    age[(node, e.lkid)] = e.waited_ms / 1000.0


def _valid_entry(e: LockEntry) -> bool:
    if invalid_request(e.lockspace, e.name, max(e.granted, e.requested, 0)):
        return False
    return all(m == NO_MODE or 0 <= m < len(MODES) for m in (e.granted, e.requested))
