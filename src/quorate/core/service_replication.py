"""Replication of the service records: the coordinator's table, members' inventories, and a new coordinator's merge.

Theory of operation
-------------------
The coordinator is the only writer of the records. After every evaluation that changed a record it sends the
table to the other members (and the whole table at least every `TABLE_PERIOD` seconds, so a lost datagram
heals), and a member adopts a table only from the coordinator of its current view. So any node can answer
`clustat`, and a node that becomes coordinator starts from the last table it saw.

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

A running list itself can be too long for one message (a node running some 400 services or more). It cannot
be cut short: absence from an inventory is a fact the coordinator acts on. When every member announces
`INVENTORY_PARTS`, such an inventory goes in consecutive parts, numbered as inventories are, each but the last
marked ``more`` and each but the first naming the first part's number; the coordinator takes it only once every
part has come, in whatever order they arrive, and a part of a newer inventory drops an assembly still missing a
part (the newer one replaces it, and at the latest the answer to the next whole table does). In a view with a
member without the feature, the inventory is not sent and the log says why, once: the coordinator then waits,
as it would for an inventory lost on the way.

Parts also carry an inventory whose records need more than one message: a coordinator that starts afresh
decides as soon as it holds an inventory of every member, so it must hold each member's whole copy of the table
by then. Sent as independent messages, each with the whole running list (as 0.4.0 members still do, and as a
view with one keeps doing), the first one made the coordinator ready while the records in the others were not
merged yet: a service whose owner was gone and not yet fenced, recorded only in a later message, could be
started elsewhere (found by the scale simulator at 3 nodes and 1000 services, `failures` seed 0).

Deltas (R-35)
-------------
Sending the whole table after every change costs O(M) per change to every member, O(M^2 x N) to start M
services. When every member of the view announces `TABLE_DELTAS` (Q-20; a 0.3.0 member would adopt a delta
without noticing that one before it was lost, and answer each with its whole copy of the table), publications
are numbered in each view (``seq``, every part of one publication sharing it, ``part`` counting its parts) and
a publication carries only the records whose version changed since the previous one (a delta). The whole
table, also numbered, goes to every member for the first publication of each view (so a new coordinator and a
new view start from a complete copy), whenever the period is due, and when the coordinator switches from whole
tables to deltas.

Datagrams may arrive out of order (parts of one publication as well as publications), so a member holds what
comes beyond a hole and counts on once the hole fills; and within a view, a record this view's coordinator
versioned later is never replaced by an older one (versions of a view only grow with its publications), so the
order of arrival changes nothing in the copy. A hole still open `GAP_WAIT` after a later part came is a loss,
not a delay: the member asks for the whole table, once, with the gap flag of its inventory, rather than wait
for the period, because a stale copy shows wrong owners in that node's `clustat` for up to `TABLE_PERIOD`
(after a failover it costs nothing: the new coordinator's merge takes the newest version any member knew). The
ask waits for the hole to outlast a late datagram: asking at once would turn every reordering into a whole
table. The coordinator answers with the whole table as of its latest publication, to the askers only and under
that publication's number, so the others' count is not disturbed. An ask that is lost is covered by the next
periodic whole table. Without the feature (a mixed view), tables are whole and unnumbered, exactly as 0.3.0
sends them.

A member answers every whole table with its inventory, as before, but a delta only when its running set
differs from what its last inventory said, or when the delta changed a record this node owns. S1 does not rest
on those answers: a member sends its inventory on every change of its executor, for every view and for every
whole table; an answer only replaces an inventory lost on the way. The coordinator therefore still learns of
every start and stop as soon as the executor reports it; a lost inventory is replaced by the next delta about a
record the node owns (the records the coordinator is deciding about on its behalf) and otherwise within
`TABLE_PERIOD`, the bound it always had when nothing changed. Once a member has heard a
numbered table in its view, its inventories no longer carry its whole copy of the table: the coordinator
publishes only after it took every member's inventory of the view (and merged the copies in them), so a whole
copy sent later would never be merged. They carry only the copies of the records that say the member runs a
service its executor does not (usually none), the evidence `service_decisions.on_inventory` recovers from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

import msgspec

from quorate.core.effects import Send
from quorate.core.features import INVENTORY_PARTS, TABLE_DELTAS
from quorate.core.messages import MAX_MESSAGE_BYTES, SvcInventory, SvcRecord, SvcTable
from quorate.core.service_records import Record, ServiceLedger
from quorate.core.service_vocabulary import St

T = TypeVar("T")

TABLE_PERIOD = 5.0
#: How long a hole in the numbered publications may wait for a late datagram before the member asks for the table.
GAP_WAIT = 0.5
#: Least time between two inventories a member sends because its executor's facts changed (answers to a view,
#: a whole table or a lost part go at once). Why: a node that stops or starts M services at once (R-30 at its
#: start, a failover onto it) changes its running list M times; one inventory each is M messages of up to M
#: entries for it to send and its coordinator to read, which at 1000 services kept both from their heartbeats.
#: Spaced, the changes of a tenth of a second go together. Delaying facts is safe: an inventory late by this
#: much says "held" a little longer of a service already gone (the coordinator waits), and a service a member
#: gains is one its coordinator commanded, whose record already names that member.
INVENTORY_SPACING = 0.1
MAX_AHEAD = 4096  # publication parts held beyond a hole (bounded: the whole table replaces them all)
VERSIONS_PER_VIEW = 100000
#: Room kept in each message for its tag, the tuple's header and an inventory's counters.
ENVELOPE = 64
_encode = msgspec.msgpack.Encoder().encode


def table(ledger: ServiceLedger) -> list[SvcRecord]:
    return [ledger.records[name].message() for name in sorted(ledger.records)]


def publish(ledger: ServiceLedger, now: float, names: AbstractSet[str] | None = None) -> None:
    """After an evaluation: version every record that changed, and send what members need (see the module).

    ``names`` are the only records that may have changed since the last publication (None: any of them); the
    others are not looked at. Versions are handed out in the records' order either way."""
    changed: list[str] = []
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
            changed.append(name)
            ledger.version_counter += 1
            record.version = ledger.view.seq * VERSIONS_PER_VIEW + ledger.version_counter
            previous = record.message()  # with its new version
            ledger.published_sizes[name] = len(_encode(previous))
        published[name] = previous
    ledger.published = published
    due = now >= ledger.last_table + TABLE_PERIOD
    if TABLE_DELTAS not in ledger.shared_features(ledger.members):
        ledger.numbered = False  # a member without deltas: whole, unnumbered tables, as 0.3.0 sends them
        if changed or due:
            send_table(ledger, now)
        return
    if not ledger.numbered:
        ledger.numbered = ledger.whole_due = True  # members count publications from a whole one
    if ledger.whole_due or due:
        if changed or ledger.whole_due:
            ledger.table_seq += 1
        ledger.whole_due = False
        ledger.resync.clear()
        send_table(ledger, now)
        return
    if changed:
        ledger.table_seq += 1
        _send_parts(ledger, _others(ledger), [published[name] for name in sorted(changed)], delta=True)
    if ledger.resync:
        # The whole table as of the latest publication (its number is not a new one): the others never see it.
        askers = tuple(sorted(ledger.resync & ledger.members))
        ledger.resync.clear()
        if askers:
            _send_parts(ledger, askers, [published[name] for name in sorted(published)], delta=False)


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


def parts(items: Sequence[T], budget: int, cost: Callable[[T], int] | None = None) -> list[tuple[T, ...]]:
    """The items (records, or a running list's entries) in consecutive runs of at most ``budget`` encoded bytes
    each (at least one run, maybe empty).

    ``cost``: each item's encoded size, when known (the coordinator's published records); else it is encoded."""
    runs: list[tuple[T, ...]] = []
    current: list[T] = []
    size = 0
    for item in items:
        weight = cost(item) if cost is not None else len(_encode(item))
        if current and size + weight > budget:
            runs.append(tuple(current))
            current, size = [], 0
        current.append(item)
        size += weight
    runs.append(tuple(current))
    return runs


def _others(ledger: ServiceLedger) -> tuple[int, ...]:
    return tuple(sorted(ledger.members - {ledger.local_id}))


def send_table(ledger: ServiceLedger, now: float) -> None:
    """The whole table to every other member (numbered when the last publication was)."""
    ledger.last_table = now
    others = _others(ledger)
    if others:
        # Called right after `publish`: what it kept is the table (each record's message, version included).
        published = ledger.published
        _send_parts(ledger, others, [published[name] for name in sorted(published)], delta=False)


def _send_parts(ledger: ServiceLedger, to: tuple[int, ...], records: list[SvcRecord], *, delta: bool) -> None:
    sizes = ledger.published_sizes
    runs = parts(records, MAX_MESSAGE_BYTES - ENVELOPE, lambda record: sizes[record.name])
    for index, run in enumerate(runs):
        last = index == len(runs) - 1
        if ledger.numbered:
            message = SvcTable(run, last, ledger.table_seq, index, delta, ledger.view)
        else:
            message = SvcTable(run, last=last)
        ledger.effects.append(Send(to, message))


def new_view(ledger: ServiceLedger) -> None:
    """Numbering starts again in every view, from a whole table (a member's copy may have missed anything)."""
    ledger.table_seq = 0
    ledger.whole_due = True
    ledger.resync.clear()
    ledger.table_next, ledger.ahead, ledger.whole_parts, ledger.hole_since = None, {}, None, None
    ledger.gap_asked = ledger.table_heard = False
    ledger.inventory_sent = None


def receive_table(ledger: ServiceLedger, now: float, table: SvcTable) -> None:
    """A member takes a part of its coordinator's table, keeps count of publications, and answers when needed."""
    if not table.seq:  # a coordinator that publishes whole tables only: every part is adopted, the last answered
        ledger.table_next, ledger.ahead, ledger.whole_parts = None, {}, None
        adopt(ledger, table.records)
        if ledger.members and table.last:
            send_inventory(ledger, now)  # an inventory lost on the way is replaced
        return
    if table.view != ledger.view:
        if table.view > ledger.view:
            adopt(ledger, table.records)  # the newest there is, but counted in a view this node has yet to install
        return
    ledger.table_heard = True
    # Parts may arrive in any order: a record this view's coordinator versioned later than the one in hand stays.
    floor = ledger.view.seq * VERSIONS_PER_VIEW
    held = ledger.records
    fresh = [rec for rec in table.records if rec.name not in held or held[rec.name].version <= max(rec.version, floor)]
    adopt(ledger, fresh)
    if table.delta:
        if ledger.table_next is None or (table.seq, table.part) >= ledger.table_next:
            ledger.ahead[(table.seq, table.part)] = table.last
            _catch_up(ledger)
        if ledger.members and any(rec.owner == ledger.local_id for rec in table.records):
            send_inventory(ledger, now)
        elif ledger.members and ledger.inventory_sent != ledger.local_running:
            facts_changed(ledger, now)
    else:
        collecting = ledger.whole_parts
        if collecting is None or collecting[0] != table.seq:
            collecting = (table.seq, frozenset(), -1)
        seq, parts_seen, last = collecting
        parts_seen |= {table.part}
        last = table.part if table.last else last
        ledger.whole_parts = (seq, parts_seen, last)
        if last >= 0 and len(parts_seen) == last + 1:  # every part: the copy is complete as of this publication
            ledger.whole_parts = None
            if ledger.table_next is None or (seq + 1, 0) > ledger.table_next:
                ledger.table_next = (seq + 1, 0)
            ledger.ahead = {at: end for at, end in ledger.ahead.items() if at >= ledger.table_next}
            ledger.gap_asked = False
            _catch_up(ledger)
        if ledger.members and table.last:
            send_inventory(ledger, now)  # every whole table is answered: an inventory lost on the way is replaced
    if ledger.ahead or ledger.table_next is None:
        if ledger.hole_since is None:
            ledger.hole_since = now
        elif now - ledger.hole_since >= GAP_WAIT:
            _gap(ledger, now)
    else:
        ledger.hole_since = None


def _catch_up(ledger: ServiceLedger) -> None:
    """Move the count past every publication part held in order; what is beyond a hole waits in ``ahead``."""
    position = ledger.table_next
    while position is not None and position in ledger.ahead:
        last = ledger.ahead.pop(position)
        position = (position[0] + 1, 0) if last else (position[0], position[1] + 1)
    ledger.table_next = position
    if len(ledger.ahead) > MAX_AHEAD:
        ledger.ahead.clear()  # far out of step: the whole table this node asks for (or the period's) settles it


def _gap(ledger: ServiceLedger, now: float) -> None:
    """A part is still missing `GAP_WAIT` after a later one came: it was lost, not late. Ask once."""
    if ledger.members and not ledger.gap_asked:
        ledger.gap_asked = True
        send_inventory(ledger, now, gap=True)


def facts_changed(ledger: ServiceLedger, now: float) -> None:
    """A member's executor changed its running list (or a delta found it changed since the last inventory):
    an inventory goes now, or `INVENTORY_SPACING` after the last one (`inventory_deadline`)."""
    if now - ledger.inventory_at >= INVENTORY_SPACING:
        send_inventory(ledger, now)
    else:
        ledger.inventory_due = True


def inventory_deadline(ledger: ServiceLedger) -> float | None:
    return ledger.inventory_at + INVENTORY_SPACING if ledger.inventory_due else None


def send_due_inventory(ledger: ServiceLedger, now: float) -> None:
    """The inventory `facts_changed` put off goes once its spacing is over; a node that has become the
    coordinator meanwhile (or is alone) has nobody to send it to, and its own facts are already in its table."""
    due = inventory_deadline(ledger)
    if due is None or now < due:
        return
    if ledger.members and not ledger.acting:
        send_inventory(ledger, now)
    ledger.inventory_due = False


def send_inventory(ledger: ServiceLedger, now: float, *, gap: bool = False) -> None:
    """A member tells its coordinator what its executor runs, with the records it knows (the records in as
    many inventories as they need, each with the whole of what runs here) until the coordinator published a
    numbered table in this view: it did so only after it had merged this member's copy.

    After that, an inventory carries only the member's copies of the records that say it runs a service its
    executor does not (usually none): the evidence the coordinator needs to recover a service this member
    stopped in a view the coordinator never saw (`service_decisions.on_inventory`), taken at the same moment
    as the running list it comes with."""
    if ledger.coordinator and ledger.coordinator != ledger.local_id:
        running = tuple(sorted(ledger.local_running.items()))
        ledger.inventory_sent = dict(ledger.local_running)
        ledger.inventory_at, ledger.inventory_due = now, False
        if ledger.table_heard:
            records: list[SvcRecord] = [
                record.message()
                for name, record in ledger.records.items()
                if record.owner == ledger.local_id and record.state is St.STARTED and name not in ledger.local_running
            ]
        else:
            records = table(ledger)
        room = MAX_MESSAGE_BYTES - ENVELOPE - len(_encode(SvcInventory(ledger.view, running, (), 0)))
        runs = parts(records, max(room, 0))
        parts_shared = INVENTORY_PARTS in ledger.shared_features(ledger.members)
        if room >= 0 and (len(runs) == 1 or (room >= MIN_RECORD_ROOM and not parts_shared)):
            # One message; or, beside a member without parts, each run of records with the whole running list.
            for run in runs:
                ledger.inventory_seq += 1
                inventory = SvcInventory(ledger.view, running, run, ledger.inventory_seq, gap)
                ledger.effects.append(Send((ledger.coordinator,), inventory))
        elif parts_shared:
            _send_in_parts(ledger, running, records, gap)
        elif not ledger.inventory_too_long_said:
            ledger.inventory_too_long_said = True
            lacking = sorted(n for n in ledger.members if INVENTORY_PARTS not in ledger.shared_features(frozenset({n})))
            ledger.log(
                f"cannot send this node's service inventory ({len(running)} services in a non-stopped state here, "
                f"more than one message holds) to the coordinator: "
                f"{', '.join(ledger.name(n) for n in lacking) or 'a member'} runs a release without service "
                "inventories in parts; upgrade it, or run fewer services on this node",
                "error",
            )


MIN_RECORD_ROOM = 512  # below this, records beside a whole running list would go one or two per message


def _send_in_parts(
    ledger: ServiceLedger, running: tuple[tuple[str, St], ...], records: list[SvcRecord], gap: bool
) -> None:
    """One inventory in consecutive messages: the running list in runs, then the records in runs."""
    overhead = len(_encode(SvcInventory(ledger.view, (), (), 2**40, True, True, 2**40)))
    budget = MAX_MESSAGE_BYTES - ENVELOPE - overhead
    pieces: list[tuple[tuple[tuple[str, St], ...], tuple[SvcRecord, ...]]] = [
        (entries, ()) for entries in parts(running, budget)
    ]
    pieces.extend(((), run) for run in parts(records, budget) if run)
    first = ledger.inventory_seq + 1
    for index, (entries, run) in enumerate(pieces):
        ledger.inventory_seq += 1
        more = index < len(pieces) - 1
        inventory = SvcInventory(ledger.view, entries, run, ledger.inventory_seq, gap, more, first if index else 0)
        ledger.effects.append(Send((ledger.coordinator,), inventory))


MAX_PARTS = 512  # parts of one inventory held at most (a running list of some 200 000 services)


def _assemble(ledger: ServiceLedger, sender: int, part: SvcInventory) -> SvcInventory | None:
    """The inventory ``part`` completes, or None. Parts may come in any order (datagrams do). One assembly per
    member, the newest: a part of a newer inventory drops what an older one had gathered (it would lose to the
    newer one anyway), and a part of an older one is dropped. Complete once every number from the first part's
    to the last one's (the part without ``more``) has come."""
    base = part.first or part.seq
    held = ledger.inventory_parts.get(sender)
    if held is None or held[0] < base:
        held = (base, {})
        ledger.inventory_parts[sender] = held
    elif held[0] > base or len(held[1]) >= MAX_PARTS:
        return None
    parts_by_seq = held[1]
    parts_by_seq[part.seq] = part
    last = next((p for p in parts_by_seq.values() if not p.more), None)
    if last is None or len(parts_by_seq) != last.seq - base + 1 or base not in parts_by_seq:
        return None
    del ledger.inventory_parts[sender]
    ordered = [parts_by_seq[seq] for seq in range(base, last.seq + 1)]
    return SvcInventory(
        last.view,
        tuple(entry for p in ordered for entry in p.running),
        tuple(record for p in ordered for record in p.table),
        last.seq,
        any(p.gap for p in ordered),
    )


def take_inventory(ledger: ServiceLedger, sender: int, inventory: SvcInventory) -> SvcInventory | None:
    """The coordinator records a member's inventory of this view unless a newer one already arrived; the
    inventory taken (the parts of one sent in several, put together), or None (older, or parts still to come)."""
    if inventory.seq and inventory.seq <= ledger.inventory_seqs.get(sender, 0):
        return None
    if inventory.more or inventory.first:
        whole = _assemble(ledger, sender, inventory)
        if whole is None:
            return None
        inventory = whole
    ledger.inventory_seqs[sender] = inventory.seq
    ledger.set_inventory(sender, {name: St(state) for name, state in inventory.running})
    return inventory


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
