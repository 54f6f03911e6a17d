"""Replication of the service records: the coordinator's table, members' inventories, and a new coordinator's merge.

Theory of operation
-------------------
The coordinator is the only writer of the records. After every evaluation that changed a record it sends the
whole table to the other members (and at least every `TABLE_PERIOD` seconds, so a lost datagram heals), and
a member adopts a table only from the coordinator of its current view. So any node can answer `clustat`, and
a node that becomes coordinator starts from the last table it saw.

That table may be old: the previous coordinator may have changed records after this node last heard from
it. So each record carries a version, `view sequence x 100000 + changes in that view`, which only grows
(view sequences only grow), and every member sends its own copy of the table with its inventory when a view
forms. A new coordinator takes, record by record, the newest version any member knew before it decides
anything; facts (the inventories) then correct what even the newest record got wrong (reconciliation, in
`service_decisions`).

An inventory is the member's executor state, sent for every view, on every change and in answer to every table
(so a lost one is replaced within `TABLE_PERIOD`): the services it has in a non-stopped state. It is the ground
truth S1 is enforced on. Each carries a sequence number that grows with every inventory the member's run sends,
so the coordinator keeps the newest even when datagrams arrive out of order.

A table of a hundred services or more does not fit in one message (`MAX_MESSAGE_BYTES`): tables and the
records in inventories then go in consecutive parts. Nothing needs a whole table at once, because adoption and
merging go record by record; each inventory part repeats the whole running list, and members answer only the
last part of a table, so a table costs them one inventory, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet

import msgspec

from quorate.core.effects import Send
from quorate.core.messages import MAX_MESSAGE_BYTES, SvcInventory, SvcRecord, SvcTable
from quorate.core.service_records import Record, ServiceLedger
from quorate.core.service_vocabulary import St

TABLE_PERIOD = 5.0
VERSIONS_PER_VIEW = 100000
#: Room kept in each message for its tag, the tuple's header and an inventory's counters.
ENVELOPE = 64
_encode = msgspec.msgpack.Encoder().encode


def table(ledger: ServiceLedger) -> list[SvcRecord]:
    return [ledger.records[name].message() for name in sorted(ledger.records)]


def publish(ledger: ServiceLedger, now: float, names: AbstractSet[str] | None = None) -> None:
    """After an evaluation: version every record that changed, and send the table if any did (or it is due).

    ``names`` are the only records that may have changed since the last publication (None: any of them); the
    others are not looked at. Versions are handed out in the records' order either way."""
    changed = False
    if names is None:
        published: dict[str, SvcRecord] = {}
        candidates: Iterable[str] = ledger.records
    else:
        published = ledger.published
        candidates = [name for name in ledger.records if name in names] if names else ()
    for name in candidates:
        record = ledger.records[name]
        previous = ledger.published.get(name)
        if previous is None or _differs(record, previous):
            changed = True
            ledger.version_counter += 1
            record.version = ledger.view.seq * VERSIONS_PER_VIEW + ledger.version_counter
            previous = record.message()  # with its new version
        published[name] = previous
    ledger.published = published
    if changed or now >= ledger.last_table + TABLE_PERIOD:
        send_table(ledger, now)


def _differs(record: Record, published: SvcRecord) -> bool:
    """Whether the shared part of ``record`` (its version aside) differs from what was last published: field by
    field, so that an unchanged record (nearly all of them, at every evaluation) costs no new message."""
    return (
        record.state != published.state
        or record.owner != published.owner
        or record.last_owner != published.last_owner
        or record.restarts != published.restarts
        or record.frozen != published.frozen
        or record.touched != published.touched
        or record.enabled != published.enabled
        or record.reason != published.reason
    )


def parts(records: list[SvcRecord], budget: int) -> list[tuple[SvcRecord, ...]]:
    """The records in consecutive runs of at most ``budget`` encoded bytes each (at least one run, maybe empty)."""
    runs: list[tuple[SvcRecord, ...]] = []
    current: list[SvcRecord] = []
    size = 0
    for record in records:
        cost = len(_encode(record))
        if current and size + cost > budget:
            runs.append(tuple(current))
            current, size = [], 0
        current.append(record)
        size += cost
    runs.append(tuple(current))
    return runs


def send_table(ledger: ServiceLedger, now: float) -> None:
    ledger.last_table = now
    others = tuple(sorted(ledger.members - {ledger.local_id}))
    if others:
        # Called right after `publish`: what it kept is the table (each record's message, version included).
        published = ledger.published
        runs = parts([published[name] for name in sorted(published)], MAX_MESSAGE_BYTES - ENVELOPE)
        for index, run in enumerate(runs):
            ledger.effects.append(Send(others, SvcTable(run, last=index == len(runs) - 1)))


def send_inventory(ledger: ServiceLedger) -> None:
    """A member tells its coordinator what its executor runs, with the records it knows (the records in as
    many inventories as they need, each with the whole of what runs here)."""
    if ledger.coordinator and ledger.coordinator != ledger.local_id:
        running = tuple(sorted(ledger.local_running.items()))
        room = MAX_MESSAGE_BYTES - ENVELOPE - len(_encode(SvcInventory(ledger.view, running, (), 0)))
        for run in parts(table(ledger), max(room, 0)):
            ledger.inventory_seq += 1
            inventory = SvcInventory(ledger.view, running, run, ledger.inventory_seq)
            ledger.effects.append(Send((ledger.coordinator,), inventory))


def take_inventory(ledger: ServiceLedger, sender: int, inventory: SvcInventory) -> bool:
    """The coordinator records a member's inventory of this view unless a newer one already arrived."""
    if inventory.seq and inventory.seq <= ledger.inventory_seqs.get(sender, 0):
        return False
    ledger.inventory_seqs[sender] = inventory.seq
    ledger.set_inventory(sender, {name: St(state) for name, state in inventory.running})
    return True


def merge(ledger: ServiceLedger, records: Iterable[SvcRecord]) -> None:
    """A new coordinator takes, record by record, the newest state any member knew (then reconciles)."""
    newer = [rec for rec in records if rec.name in ledger.records and rec.version > ledger.records[rec.name].version]
    if newer:
        adopt(ledger, newer)
        ledger.evaluate_all = True


def adopt(ledger: ServiceLedger, records: Iterable[SvcRecord]) -> None:
    """Take the shared part of each record as given; the coordinator's bookkeeping about commands is dropped."""
    for rec in records:
        record = ledger.records.get(rec.name)
        if record is None:
            continue
        if record.version == rec.version and not _differs(record, rec):
            record.cmd = 0  # the same record again (nearly all of a table, each time one is sent)
            continue
        record.state = St(rec.state) if rec.state in St._value2member_map_ else St.STOPPED
        record.owner, record.last_owner, record.restarts = rec.owner, rec.last_owner, rec.restarts
        record.frozen, record.touched, record.enabled, record.reason = (
            rec.frozen,
            rec.touched,
            rec.enabled,
            rec.reason,
        )
        record.cmd = 0
        record.version = rec.version
