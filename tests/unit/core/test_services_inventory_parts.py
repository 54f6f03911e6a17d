"""A node running more services than one message lists: its inventory goes in consecutive parts, the
coordinator takes it only whole, and a view with a member of a release without parts says why in the log.

Three nodes and 1000 services on two of them (some 500 each): the running list of either node is about 9 KB,
beyond the 8000-byte cap of one message."""

from __future__ import annotations

from services_wiring import FeatureCluster, domain

from quorate.core.effects import Send
from quorate.core.features import INVENTORY_PARTS, SUPPORTED
from quorate.core.messages import MAX_MESSAGE_BYTES, SvcInventory, decode, encode
from quorate.core.placement import ServiceSpec
from quorate.core.service_replication import INVENTORY_SPACING, inventory_deadline
from quorate.core.services import St

COUNT = 1000
NAMES = [f"svc{i:04d}" for i in range(COUNT)]
FIRST, THIRD = domain(1, 2, 3, ordered=True), domain(3, 2, 1, ordered=True)
RELEASE_040 = SUPPORTED - {INVENTORY_PARTS}


def many(older: frozenset[int] = frozenset()) -> FeatureCluster:
    specs = [ServiceSpec(name, domain=FIRST if i % 2 else THIRD) for i, name in enumerate(NAMES)]
    return FeatureCluster(specs=specs, older=older, older_features=RELEASE_040)


def inventories(c: FeatureCluster, sender: int) -> list[SvcInventory]:
    return [m for s, _to, m in c.on_wire() if s == sender and isinstance(m, SvcInventory)]


def test_a_thousand_services_start_on_three_nodes_and_every_record_says_where() -> None:
    c = many()
    c.form({1, 2, 3})
    where = {name: c.started_on(name) for name in NAMES}
    assert all(len(nodes) == 1 for nodes in where.values())  # each started once (S1 checked on the way)
    assert sum(nodes == [3] for nodes in where.values()) == COUNT // 2
    coordinator = c.managers[1]
    assert len(coordinator.inventories[3]) == COUNT // 2, "the coordinator holds melchior's whole list"
    assert {rec.state for rec in coordinator.table()} == {St.STARTED}


def test_parts_are_under_the_cap_numbered_in_a_row_and_taken_only_whole() -> None:
    c = many()
    c.form({1, 2, 3})
    member, coordinator = c.managers[3], c.managers[1]
    running = dict(c.executors[3])
    gone = sorted(running)[0]
    del running[gone]
    c.now += INVENTORY_SPACING  # (a change right after the last inventory waits that long: see the next test)
    member.local_state(c.now, running)  # what melchior's executor says after a stop (the datagrams are ours)
    sent = [e.message for e in member.take_effects() if isinstance(e, Send) and isinstance(e.message, SvcInventory)]
    assert len(sent) >= 2
    assert all(len(encode(m)) <= MAX_MESSAGE_BYTES for m in sent)
    first = sent[0].seq
    assert [m.seq for m in sent] == list(range(first, first + len(sent)))
    assert [m.more for m in sent] == [True] * (len(sent) - 1) + [False]
    assert [m.first for m in sent] == [0] + [first] * (len(sent) - 1)
    assert sum(len(m.running) for m in sent) == COUNT // 2 - 1
    # Without its first part, the rest changes nothing: the coordinator keeps the last whole list.
    for m in sent[1:]:
        coordinator.receive(c.now, 3, decode(encode(m)))
    assert gone in coordinator.inventories[3]
    # Whole and in order, it is taken; a late part of it afterwards changes nothing either.
    for m in sent:
        coordinator.receive(c.now, 3, decode(encode(m)))
    assert gone not in coordinator.inventories[3] and len(coordinator.inventories[3]) == COUNT // 2 - 1
    coordinator.receive(c.now, 3, decode(encode(sent[0])))
    assert len(coordinator.inventories[3]) == COUNT // 2 - 1


def test_parts_arriving_in_reverse_order_make_the_inventory_and_a_newer_one_drops_an_unfinished_one() -> None:
    c = many()
    c.form({1, 2, 3})
    member, coordinator = c.managers[3], c.managers[1]
    running = dict(c.executors[3])

    def parts_without(name: str) -> list[SvcInventory]:
        del running[name]
        c.now += INVENTORY_SPACING
        member.local_state(c.now, running)
        return [e.message for e in member.take_effects() if isinstance(e, Send) and isinstance(e.message, SvcInventory)]

    one, two = sorted(running)[:2]
    older, newer = parts_without(one), parts_without(two)
    coordinator.receive(c.now, 3, decode(encode(older[-1])))  # the older one's last part only: unfinished
    for m in reversed(newer):
        coordinator.receive(c.now, 3, decode(encode(m)))
    assert one not in coordinator.inventories[3] and two not in coordinator.inventories[3]
    for m in older:  # the older inventory, complete now but late: it changes nothing
        coordinator.receive(c.now, 3, decode(encode(m)))
    assert two not in coordinator.inventories[3]


def test_a_service_stopped_on_a_node_with_a_long_list_is_seen_stopped() -> None:
    c = many()
    c.form({1, 2, 3})
    name = next(n for n in NAMES if c.started_on(n) == [3])
    c.request(1, "disable", name)
    assert c.started_on(name) == []
    assert name not in c.managers[1].inventories[3]
    assert c.record(name).state is St.DISABLED


def test_beside_a_member_of_a_release_without_parts_the_log_says_why_and_nothing_partial_is_sent() -> None:
    c = many(older=frozenset({2}))
    c.form({1, 2, 3})
    said = [text for node, text in c.logs if node == 3 and "cannot send this node's service inventory" in text]
    assert len(said) == 1, "said once"
    assert said[0].endswith(
        "services in a non-stopped state here, more than one message holds) to the coordinator: casper runs a "
        "release without service inventories in parts; upgrade it, or run fewer services on this node"
    )
    sent = [m for s, _to, m in c.on_wire() if s == 3 and isinstance(m, SvcInventory)]
    assert not [m for m in sent if m.more or m.first], "no part goes to a view that cannot read parts"


def test_a_burst_of_changes_goes_in_one_inventory_a_spacing_later_with_the_latest_list() -> None:
    """A node stopping many services one after the other (R-30, a failover) sends one inventory per
    INVENTORY_SPACING, not one per change: each carries its whole list, and M of them kept a node and its
    coordinator from their heartbeats at 1000 services."""
    c = many()
    c.form({1, 2, 3})
    member = c.managers[3]
    running = dict(c.executors[3])

    def inventories() -> list[SvcInventory]:
        return [e.message for e in member.take_effects() if isinstance(e, Send) and isinstance(e.message, SvcInventory)]

    c.now += INVENTORY_SPACING
    names = sorted(running)[:50]
    del running[names[0]]
    member.local_state(c.now, running)
    assert sum(not m.more for m in inventories()) == 1, "the first change goes at once"
    for name in names[1:]:
        del running[name]
        c.now += INVENTORY_SPACING / 100
        member.local_state(c.now, running)
        assert inventories() == [], "later ones wait"
    due = inventory_deadline(member)
    assert due is not None and due <= c.now + INVENTORY_SPACING
    member.tick(due)
    sent = inventories()
    assert sum(not m.more for m in sent) == 1
    assert sum(len(m.running) for m in sent) == COUNT // 2 - len(names)
    assert inventory_deadline(member) is None
