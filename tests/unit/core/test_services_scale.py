"""Many services: a table larger than one message still reaches every member, and a new coordinator still
learns every record, so failover works the same with a table of several messages as with one."""

from __future__ import annotations

from services_wiring import Cluster, domain

from quorate.core.messages import MAX_MESSAGE_BYTES, SvcTable, encode
from quorate.core.placement import ServiceSpec
from quorate.core.service_replication import send_table
from quorate.core.services import TABLE_PERIOD, St

COUNT = 120
# Long names make a table of 120 records larger than one message (about 9 KB) while each node runs only half.
NAMES = [f"an-application-service-with-a-long-name-number-{i:04d}" for i in range(COUNT)]
FIRST, THIRD = domain(1, 2, 3, ordered=True), domain(3, 2, 1, ordered=True)


def _cluster() -> Cluster:
    return Cluster([ServiceSpec(name, domain=FIRST if i % 2 else THIRD) for i, name in enumerate(NAMES)])


def test_every_member_learns_every_record_of_a_large_table() -> None:
    c = _cluster()
    c.form({1, 2, 3})
    owners = {name: c.started_on(name) for name in NAMES}
    assert all(len(where) == 1 for where in owners.values())  # each started once (S1 checked on the way)
    for member in (2, 3):
        table = {rec.name: rec for rec in c.managers[member].table()}
        assert {name: (table[name].state, [table[name].owner]) for name in NAMES} == {
            name: (St.STARTED, owners[name]) for name in NAMES
        }


def test_a_large_table_goes_in_parts_under_the_message_cap_and_only_the_last_asks_for_inventories() -> None:
    c = _cluster()
    c.form({1, 2, 3})
    coordinator = c.coordinator
    send_table(coordinator, c.now)
    tables = [effect.message for effect in coordinator.take_effects() if isinstance(effect.message, SvcTable)]
    assert len(tables) > 1
    assert all(len(encode(table)) <= MAX_MESSAGE_BYTES for table in tables)
    assert [table.last for table in tables] == [False] * (len(tables) - 1) + [True]
    assert [rec.name for table in tables for rec in table.records] == sorted(NAMES)


def test_a_new_coordinator_takes_over_every_record_of_a_large_table() -> None:
    c = _cluster()
    c.form({1, 2, 3})
    on_first = [name for name in NAMES if c.started_on(name) == [1]]
    assert on_first
    c.gone.add(1)
    c.crash(1)
    assert all(c.started_on(name) in ([2], [3]) for name in NAMES)
    moved = {name: c.record(name) for name in on_first}
    assert all(rec.state is St.STARTED and rec.last_owner == 1 for rec in moved.values())


def test_a_lost_start_report_is_settled_by_the_owners_inventory() -> None:
    c = Cluster([ServiceSpec("svc", domain=domain(2, 3, ordered=True))])  # runs on casper; balthasar coordinates
    c.auto = False
    c.form({1, 2, 3})
    assert c.record().state is St.STARTING and c.record().cmd
    c.deaf = {1}  # the coordinator hears nothing while casper's executor finishes: the report is lost
    c.finish(2)
    c.deaf = set()
    assert c.record().state is St.STARTING and c.started_on() == [2]
    c.advance(TABLE_PERIOD)  # the periodic table; casper answers with its inventory, which shows it started
    record = c.record()
    assert (record.state, record.owner, record.cmd) == (St.STARTED, 2, 0)
    assert record.reason == "started on casper"
    c.advance(TABLE_PERIOD)
    assert c.starts() == [2]  # settled, never started twice
