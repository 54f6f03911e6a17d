"""Where the coordinator starts services: failover domains, priorities, ties, failback, exclusive, autostart.

Nodes are balthasar (1), casper (2), melchior (3) and node4 (4); `domain(...)` builds the failover domain
"dom" (unordered unless `ordered`, priorities in the order given). Rows give a configuration and the nodes
in the view, and the node where the service runs once the managers settled (0: nowhere, it stays stopped).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from services_wiring import Cluster, domain

from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.services import TABLE_PERIOD, St


@dataclass(frozen=True)
class Row:
    why: str
    domain: DomainSpec | None
    view: frozenset[int]
    runs_on: int


def row(why: str, dom: DomainSpec | None, view: set[int], runs_on: int) -> Row:
    return Row(why, dom, frozenset(view), runs_on)


PLACEMENT = [
    row("no domain: every node is BEST, the tie goes to the highest id (kept quirk)", None, {1, 2, 3}, 3),
    row("no domain, four nodes", None, {1, 2, 3, 4}, 4),
    row("ordered: the lowest priority number wins", domain(1, 2, ordered=True), {1, 2, 3}, 1),
    row("ordered, first choice down: the next one", domain(1, 2, ordered=True), {2, 3}, 2),
    row("ordered, order given by priorities not ids", domain(3, 1, 2, ordered=True), {1, 2, 3}, 3),
    row(
        "ordered, equal priorities: the tie goes to the highest id",
        domain(ordered=True, priorities={1: 1, 2: 1, 3: 2}),
        {1, 2, 3},
        2,
    ),
    row("unordered: every member is BEST, highest id wins", domain(1, 2), {1, 2, 3}, 2),
    row("unrestricted: a node outside is only GOOD while a member is online", domain(1), {1, 2, 3}, 1),
    row("unrestricted, no member online: any node is BEST", domain(1), {2, 3}, 3),
    row("restricted: never outside", domain(1, 2, restricted=True), {1, 3}, 1),
    row("restricted, no member online: stays stopped", domain(1, 2, restricted=True), {3}, 0),
    row("ordered restricted, first choice down", domain(2, 1, ordered=True, restricted=True), {1, 3}, 1),
]


@pytest.mark.parametrize("case", PLACEMENT, ids=lambda case: case.why)
def test_placement(case: Row) -> None:
    c = Cluster([ServiceSpec("svc", domain=case.domain)], n=4)
    c.form(case.view)
    if case.runs_on:
        assert c.started_on() == [case.runs_on]
        assert c.starts() == [case.runs_on], "one start, on the right node at once"
        assert c.record().state is St.STARTED and c.record().owner == case.runs_on
    else:
        assert c.where() == [] and c.starts() == []
        assert c.record().state is St.STOPPED
        assert c.record().reason == "no member of its restricted failover domain dom is online"


def test_a_restricted_service_starts_when_a_member_comes_online() -> None:
    c = Cluster([ServiceSpec("svc", domain=domain(1, 2, restricted=True))])
    c.alive = {3}
    c.form({3})
    assert c.where() == []
    c.restart(2)
    assert c.started_on() == [2]


ORDERED = domain(1, 2, 3, ordered=True)


def _failover(dom: DomainSpec) -> Cluster:
    """The service runs on balthasar; balthasar fails, is fenced, and comes back."""
    c = Cluster([ServiceSpec("svc", domain=dom)])
    c.form({1, 2, 3})
    assert c.started_on() == [1]
    c.gone.add(1)
    c.crash(1)
    assert c.started_on() == [2], "the next node by priority takes it over"
    c.gone.discard(1)
    c.restart(1)
    return c


def test_failback_to_the_preferred_node_when_it_returns() -> None:
    c = _failover(ORDERED)
    assert c.started_on() == [1]
    assert c.starts() == [1, 2, 1]
    assert ("balthasar" in c.record().reason) and c.record().state is St.STARTED


def test_nofailback_keeps_the_service_where_it_runs() -> None:
    c = _failover(domain(1, 2, 3, ordered=True, nofailback=True))
    c.advance(TABLE_PERIOD)
    assert c.started_on() == [2] and c.starts() == [1, 2]


def test_failback_into_an_unrestricted_domain() -> None:
    c = Cluster([ServiceSpec("svc", domain=domain(1))])
    c.alive = {2, 3}
    c.form({2, 3})
    assert c.started_on() == [3], "no member online: any node is BEST"
    c.restart(1)
    assert c.started_on() == [1] and c.starts() == [3, 1]


def test_nofailback_keeps_a_service_outside_an_unrestricted_domain() -> None:
    # Differs: in rgmanager the owner compares scores, and a domain member (BETTER under nofailback)
    # beats a node outside the domain (GOOD), so the service is pulled back in. quorate moves a service only
    # to a BEST node, which nofailback denies to every node but the owner: the service stays outside.
    c = Cluster([ServiceSpec("svc", domain=domain(1, nofailback=True))])
    c.alive = {2, 3}
    c.form({2, 3})
    assert c.started_on() == [3]
    c.restart(1)
    c.advance(TABLE_PERIOD)
    assert c.started_on() == [3] and c.starts() == [3]


def test_failback_is_considered_when_a_node_joins_not_at_every_event() -> None:
    c = Cluster([ServiceSpec("svc", domain=ORDERED)])
    c.form({1, 2, 3})
    done = c.request(1, "relocate", target=3)
    assert done is not None and done.ok and c.started_on() == [3]
    c.advance(TABLE_PERIOD)
    c.advance(TABLE_PERIOD)
    assert c.started_on() == [3], "an administrator's choice stands until membership changes"
    c.crash(2)
    assert c.started_on() == [3]
    c.restart(2)
    assert c.started_on() == [1], "a node joined: the domain's preferred node gets it back"


def test_exclusive_takes_an_empty_node_and_keeps_others_off_it() -> None:
    c = Cluster([ServiceSpec("a_excl", exclusive=True), ServiceSpec("b_web"), ServiceSpec("c_db")])
    c.form({1, 2, 3})
    assert c.started_on("a_excl") == [3]
    assert c.started_on("b_web") == [2] and c.started_on("c_db") == [2]
    done = c.request(1, "relocate", "b_web", target=3)
    assert done is not None and (done.ok, done.result) == (False, "Service not runnable: cannot run exclusive")
    done = c.request(1, "enable", "a_excl")
    assert done is not None and (done.ok, done.result) == (True, "Service is already running")


def test_an_exclusive_service_waits_when_every_node_runs_something() -> None:
    specs = [
        ServiceSpec("a_web", domain=domain(2, restricted=True)),
        ServiceSpec("b_db", domain=domain(1, restricted=True)),
        ServiceSpec("c_excl", exclusive=True),
    ]
    c = Cluster(specs, n=2)
    c.form({1, 2})
    assert c.started_on("a_web") == [2] and c.started_on("b_db") == [1]
    assert c.where("c_excl") == []
    record = c.record("c_excl")
    assert record.state is St.STOPPED
    assert record.reason == "node 1 runs other services (exclusive); node 2 runs other services (exclusive)"
    c.request(1, "disable", "a_web")
    assert c.started_on("c_excl") == [2]


def test_autostart_off_leaves_a_new_service_disabled_until_enabled() -> None:
    c = Cluster([ServiceSpec("svc", autostart=False)])
    c.form({1, 2, 3})
    assert (c.record().state, c.record().reason) == (St.DISABLED, "autostart is off")
    c.advance(TABLE_PERIOD)
    assert c.starts() == []
    done = c.request(2, "enable")
    assert done is not None and (done.ok, done.result, done.owner) == (True, "Success", 2)


def test_enable_may_go_outside_an_unrestricted_domain_but_not_a_restricted_one() -> None:
    # an enable needs only GOOD. Differs: rgmanager answers a restricted refusal with plain "Failure".
    c = Cluster([ServiceSpec("free", domain=domain(1)), ServiceSpec("tied", domain=domain(1, restricted=True))])
    c.form({1, 2, 3})
    for name in ("free", "tied"):
        c.request(1, "disable", name)
    done = c.request(3, "enable", "free")
    assert done is not None and (done.ok, done.owner) == (True, 3) and c.started_on("free") == [3]
    done = c.request(3, "enable", "tied")
    assert done is not None and (done.ok, done.result) == (False, "Service not runnable")
    assert c.where("tied") == [] and c.record("tied").state is St.DISABLED


def test_a_service_added_by_reconfiguration_stays_stopped_until_enabled() -> None:
    # the article's `ccs_tool update` adds service "test"; `clusvcadm -e test` on balthasar starts it.
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    specs = {"svc": ServiceSpec("svc"), "test": ServiceSpec("test")}
    for nodeid in sorted(c.alive):
        c.managers[nodeid].reconfigure(c.now, dict(specs))
    c.pump()
    c.advance(TABLE_PERIOD)
    record = c.record("test")
    assert (record.state, record.owner) == (St.STOPPED, 0) and c.starts("test") == []
    assert record.reason.startswith("added by a configuration change")
    assert c.managers[3].records["test"].state is St.STOPPED, "members show it too"
    done = c.request(1, "enable", "test")
    assert done is not None and (done.ok, done.result, done.owner) == (True, "Success", 1)


def test_a_service_added_by_reconfiguration_starts_at_the_next_membership_change() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    for nodeid in sorted(c.alive):
        c.managers[nodeid].reconfigure(c.now, {"svc": ServiceSpec("svc"), "test": ServiceSpec("test")})
    c.pump()
    assert c.starts("test") == []
    c.crash(1)
    assert c.started_on("test") == [3]


def test_a_removed_service_is_forgotten() -> None:
    c = Cluster([ServiceSpec("svc"), ServiceSpec("old")])
    c.form({1, 2, 3})
    for nodeid in sorted(c.alive):
        c.managers[nodeid].reconfigure(c.now, {"svc": ServiceSpec("svc")})
    c.pump()
    assert [r.name for r in c.coordinator.table()] == ["svc"]
    done = c.request(2, "enable", "old")
    assert done is not None and done.result == "Service does not exist"
