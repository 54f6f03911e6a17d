"""Table deltas: when every member announces them, a change sends only the records that changed, numbered so a
member notices one it missed and asks for the whole table; the whole table still goes for every view and every
period; a view with one member without the feature gets whole tables, as 0.3.0 sends them."""

from __future__ import annotations

from services_wiring import FEW_SERVICES, Cluster, FeatureCluster

from quorate.core.features import SUPPORTED, TABLE_DELTAS
from quorate.core.messages import SvcInventory, SvcTable, decode
from quorate.core.placement import ServiceSpec
from quorate.core.service_replication import GAP_WAIT
from quorate.core.services import TABLE_PERIOD, St

SERVICES = FEW_SERVICES


def formed(cluster: FeatureCluster) -> FeatureCluster:
    cluster.form({1, 2, 3})
    assert all(cluster.started_on(name) for name in SERVICES)
    cluster.slow = True  # from here on, each test looks at the wire before delivering
    return cluster


def tables_to(cluster: FeatureCluster, node: int) -> list[SvcTable]:
    return [m for sender, to, m in cluster.on_wire() if to == node and isinstance(m, SvcTable)]


def copy_of(cluster: FeatureCluster, node: int) -> dict[str, tuple[St, int, int]]:
    return {rec.name: (rec.state, rec.owner, rec.version) for rec in cluster.managers[node].table()}


def frozen_on(cluster: FeatureCluster, node: int, service: str) -> bool:
    return cluster.managers[node].records[service].frozen


def release(cluster: FeatureCluster) -> None:
    cluster.slow = False
    cluster.pump()
    cluster.slow = True


def step(cluster: FeatureCluster) -> None:
    """Deliver what is on the wire now, and put on it what the receivers send in answer (and no more)."""
    held, cluster.wire = list(cluster.wire), type(cluster.wire)()
    for sender, to, data in held:
        if to in cluster.members:
            cluster.managers[to].receive(cluster.now, sender, decode(data))
    for nodeid in sorted(cluster.alive):
        for effect in cluster.managers[nodeid].take_effects():
            cluster._carry_out(nodeid, effect)


def inventories(cluster: FeatureCluster) -> list[tuple[int, SvcInventory]]:
    return [(sender, m) for sender, _, m in cluster.on_wire() if isinstance(m, SvcInventory)]


def test_a_change_sends_only_the_changed_records_numbered_after_a_whole_table() -> None:
    c = formed(FeatureCluster())
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    for member in (2, 3):
        (delta,) = tables_to(c, member)
        assert delta.delta and delta.seq > 1 and delta.view == c.coordinator.view
        assert [rec.name for rec in delta.records] == ["svc1"] and delta.records[0].frozen
    release(c)
    assert copy_of(c, 2) == copy_of(c, 3) == copy_of(c, 1)
    assert c.managers[2].records["svc1"].frozen


def test_a_new_view_starts_with_the_whole_table_numbered_one() -> None:
    c = FeatureCluster()
    c.slow = True
    c.form({1, 2, 3})
    step(c)  # the members' inventories reach the coordinator, which then publishes
    first = tables_to(c, 2)
    assert first and first[0].seq == 1 and not first[0].delta and first[0].part == 0
    assert {rec.name for rec in first[0].records} == set(SERVICES)


def test_the_whole_table_still_goes_every_period_under_the_same_number() -> None:
    c = formed(FeatureCluster())
    seq = c.coordinator.table_seq
    c.advance(TABLE_PERIOD)
    (whole,) = tables_to(c, 3)
    assert not whole.delta and whole.seq == seq and {rec.name for rec in whole.records} == set(SERVICES)


def test_only_the_members_a_delta_concerns_answer_it() -> None:
    c = formed(FeatureCluster())
    owner = c.started_on("svc1")[0]
    assert owner != 1
    bystander = ({2, 3} - {owner}).pop()
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    step(c)  # the delta reaches both members
    ((answered, inventory),) = inventories(c)
    assert answered == owner and answered != bystander
    assert inventory.table == ()  # the coordinator merged this member's copy before it published
    c.managers[1].request(c.now, "freeze", "svc0" if c.started_on("svc0") != [owner] else "svc2")
    c.pump()
    step(c)  # a record that neither owns: nobody answers
    concerned = {sender for sender, _ in inventories(c)}
    frozen = next(n for n in ("svc0", "svc2") if c.coordinator.records[n].frozen)
    assert concerned == set(c.started_on(frozen)) - {1}


def lose_a_delta_then_change_again(c: FeatureCluster) -> None:
    """Node 3 loses the delta freezing svc1; the next delta (svc2) reaches it, past the hole."""
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    c.wire = type(c.wire)(d for d in c.wire if d[1] != 3)  # node 3 loses the delta
    release(c)
    assert not frozen_on(c, 3, "svc1")
    c.managers[1].request(c.now, "freeze", "svc2")
    c.pump()
    step(c)
    assert frozen_on(c, 3, "svc2") and not frozen_on(c, 3, "svc1")


def test_a_member_that_missed_a_delta_asks_once_the_hole_outlasts_a_late_datagram() -> None:
    c = formed(FeatureCluster())
    lose_a_delta_then_change_again(c)
    assert not [m for _, m in inventories(c) if m.gap]  # the missing one may still be on its way
    release(c)
    c.now += GAP_WAIT
    c.managers[1].request(c.now, "freeze", "svc3")
    c.pump()
    release(c)  # 3 still lacks a number: it asks, and the whole table comes to it alone
    assert frozen_on(c, 3, "svc1") and frozen_on(c, 3, "svc2") and frozen_on(c, 3, "svc3")
    assert copy_of(c, 3) == copy_of(c, 1)
    c.managers[1].request(c.now, "freeze", "svc4")
    c.pump()
    step(c)
    assert not [m for _, m in inventories(c) if m.gap]  # back in step: the next delta is taken without asking
    release(c)
    assert copy_of(c, 3) == copy_of(c, 2) == copy_of(c, 1)


def test_the_whole_table_a_member_asked_for_goes_to_it_only() -> None:
    c = formed(FeatureCluster())
    lose_a_delta_then_change_again(c)
    release(c)
    c.now += GAP_WAIT
    c.managers[1].request(c.now, "freeze", "svc3")
    c.pump()
    step(c)  # the delta: node 3's hole is older than GAP_WAIT, it asks
    assert [(sender, m.gap) for sender, m in inventories(c) if m.gap] == [(3, True)]
    step(c)  # the ask reaches the coordinator
    resent = [(to, m) for _, to, m in c.on_wire() if isinstance(m, SvcTable) and not m.delta]
    assert resent and {to for to, _ in resent} == {3}
    assert resent[0][1].seq == c.coordinator.table_seq


def test_deltas_that_arrive_out_of_order_are_taken_without_asking_and_the_older_never_wins() -> None:
    c = formed(FeatureCluster())
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    first = [d for d in c.wire if d[1] == 3]
    c.wire = type(c.wire)(d for d in c.wire if d[1] != 3)
    release(c)
    c.managers[1].request(c.now, "unfreeze", "svc1")
    c.pump()
    step(c)  # the second delta (svc1 unfrozen) reaches node 3 first
    c.wire.extend(first)
    step(c)  # then the first (svc1 frozen), late
    assert not frozen_on(c, 3, "svc1")  # the later version stays
    assert not [m for _, m in inventories(c) if m.gap]
    assert c.managers[3].table_next == (c.coordinator.table_seq + 1, 0)  # in step again, nothing held
    release(c)
    assert copy_of(c, 3) == copy_of(c, 1)


def test_a_mixed_view_gets_whole_unnumbered_tables_and_every_member_answers() -> None:
    c = formed(FeatureCluster(older=frozenset({3})))
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    for member in (2, 3):
        tables = tables_to(c, member)
        assert tables and all(t.seq == 0 and not t.delta for t in tables)
        assert {rec.name for t in tables for rec in t.records} == set(SERVICES)
    step(c)
    assert {sender for sender, _ in inventories(c)} == {2, 3}  # a whole table is answered by every member
    release(c)
    assert copy_of(c, 3) == copy_of(c, 1)


def test_deltas_begin_with_a_whole_table_once_the_last_member_announces_them() -> None:
    c = formed(FeatureCluster(older=frozenset({3})))
    c.features[3] = SUPPORTED  # node 3 upgraded in place (its heartbeats announce the feature)
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    (whole,) = tables_to(c, 3)
    assert not whole.delta and whole.seq >= 1
    release(c)
    c.managers[1].request(c.now, "freeze", "svc2")
    c.pump()
    (delta,) = tables_to(c, 3)
    assert delta.delta and [rec.name for rec in delta.records] == ["svc2"]


def test_without_the_feature_a_manager_keeps_whole_tables() -> None:
    c = Cluster([ServiceSpec(name) for name in SERVICES])
    c.form({1, 2, 3})
    assert TABLE_DELTAS in SUPPORTED
    c.slow = True
    c.managers[1].request(c.now, "freeze", "svc1")
    c.pump()
    tables = [decode(d) for _, to, d in c.wire if to == 2]
    assert [t.seq for t in tables if isinstance(t, SvcTable)] == [0]
    assert {rec.name for t in tables if isinstance(t, SvcTable) for rec in t.records} == set(SERVICES)
