"""S1 on facts: one owner at a time, decided from what executors report, never from hopes.

Every test runs with the wiring's S1 check on (no two live executors ever hold one service), except where a
test builds the double copy it then expects the coordinator to clean up.
"""

from __future__ import annotations

import pytest
from services_wiring import NAMES, Cluster, deliver_raw, domain

from quorate.core.messages import SvcCommand, SvcRecord, SvcTable
from quorate.core.placement import ServiceSpec
from quorate.core.services import TABLE_PERIOD, Action, FenceForService, ServiceManager, St, StopLocal

SVC = ServiceSpec("svc")


def test_no_start_while_a_member_still_holds_the_service() -> None:
    c = Cluster([SVC])
    c.executor_holds(2, "svc", "stopping")  # left over from before (stopping after a quorum loss, say)
    c.form({1, 2, 3})
    record = c.record()
    assert (record.state, record.owner) == (St.STOPPED, 0)
    assert record.reason == "waiting for casper to finish stopping it"
    c.advance(TABLE_PERIOD)
    assert c.starts() == []
    c.executor_holds(2, "svc", None)  # casper's executor reports the stop done
    assert c.started_on() == [3]


def test_a_copy_a_node_failed_to_stop_gets_that_node_fenced_once_and_nothing_starts_before() -> None:
    # Its stop-before-start failed on casper: the resources may still be held there.
    c = Cluster([SVC])
    c.executor_holds(2, "svc", "failed")
    c.form({1, 2, 3})
    assert [(asker, fence.nodeid, fence.reason) for asker, fence in c.fences] == [
        (1, 2, "service:svc failed to stop on it")
    ]
    c.advance(3 * TABLE_PERIOD)
    assert len(c.fences) == 1, "asked once, not at every evaluation"
    assert c.starts() == [] and c.record().reason == "waiting for casper to finish stopping it"
    c.gone.add(2)
    c.crash(2)  # fenced: powered off, its copy gone with it
    assert c.started_on() == [3]


def test_a_copy_found_running_after_a_take_over_is_adopted_not_started_again() -> None:
    c = Cluster([SVC])
    c.executor_holds(2, "svc", "started")
    c.form({1, 2, 3})
    record = c.record()
    assert (record.state, record.owner) == (St.STARTED, 2)
    assert record.reason == "found running on casper by its executor"
    assert c.starts() == []


def test_two_copies_found_after_a_take_over_are_both_stopped_before_one_starts() -> None:
    c = Cluster([SVC])
    c.copies_allowed = True  # a double copy left over (from a partition, say), for the coordinator to find
    c.executor_holds(1, "svc", "started")
    c.executor_holds(2, "svc", "started")
    c.copies_allowed = False
    c.auto = False
    c.form({1, 2, 3})
    assert sorted((node, action.value) for node, _, action in c.commands) == [(1, "stop"), (2, "stop")]
    c.finish(1)
    assert c.starts() == [], "casper still holds it"
    c.finish(2)
    assert c.starts() == [3]
    c.finish(3)
    assert c.started_on() == [3]


def test_an_owner_out_of_the_view_keeps_its_services_until_it_is_safely_gone() -> None:
    c = Cluster([SVC])
    c.form({1, 2, 3})
    c.crash(3)  # failed: not fenced yet
    record = c.record()
    assert (record.state, record.owner) == (St.STARTED, 3)
    assert record.reason == "waiting for melchior to be fenced before recovery"
    assert [(asker, fence) for asker, fence in c.fences] == [
        (1, FenceForService(3, "it owns service:svc but is not in the view"))
    ]
    for _ in range(6):
        c.advance(TABLE_PERIOD)
    assert c.starts() == [3] and len(c.fences) == 1, "no start, and the fence is asked for once"
    c.gone.add(3)  # the fence is confirmed
    c.advance(0.1)
    assert c.started_on() == [2]
    assert c.record().last_owner == 3


def test_a_node_that_left_cleanly_gives_its_services_up_at_once() -> None:
    c = Cluster([SVC])
    c.form({1, 2, 3})
    c.gone.add(3)  # a clean leave is safely gone too
    c.crash(3)
    assert c.started_on() == [2] and c.fences == []


def test_safely_gone_defaults_to_never() -> None:
    c = Cluster([SVC])
    c.managers = {i: ServiceManager({"svc": SVC}, NAMES, i) for i in (1, 2, 3)}
    c.form({1, 2, 3})
    c.gone.add(3)  # the default ignores what fencing would say
    c.crash(3)
    c.advance(60)
    assert c.starts() == [3] and c.record().owner == 3
    # The attribute can still be set after construction.
    c.managers[1].safely_gone = c.gone.__contains__
    c.advance(0.1)
    assert c.started_on() == [2]


def test_a_new_coordinator_decides_nothing_before_every_inventory() -> None:
    c = Cluster([ServiceSpec("svc", domain=domain(1))])
    c.form({1, 2, 3})
    assert c.started_on() == [1]
    c.gone.add(1)
    c.slow = True  # melchior's inventory is on its way
    c.crash(1)
    assert c.starts() == [1]
    assert (2, "coordinating services: waiting for every member's inventory before deciding") in c.logs
    c.advance(TABLE_PERIOD)
    assert c.starts() == [1]
    c.slow = False
    c.pump()
    assert c.started_on() == [3] and c.starts() == [1, 3]


@pytest.mark.parametrize("stale", [2, 3], ids=["new-coordinator-stale", "member-stale"])
def test_a_new_coordinator_merges_the_newest_records(stale: int) -> None:
    # The service (on node4) is disabled while one node misses the table update; then the coordinator dies.
    # Whoever held the newer record, the new coordinator (casper) keeps it disabled: the newest version wins.
    c = Cluster([SVC], n=4)
    c.form({1, 2, 3, 4})
    assert c.started_on() == [4]
    c.deaf = {stale}
    c.request(1, "disable")
    c.deaf = set()
    assert c.managers[stale].records["svc"].state is St.STARTED, "this node missed the change"
    c.gone.add(1)
    c.crash(1)
    record = c.record()
    assert record.state is St.DISABLED and not record.enabled
    c.advance(TABLE_PERIOD)
    assert c.where() == [] and c.starts() == [4]
    assert c.managers[stale].records["svc"].state is St.DISABLED, "the merged record is replicated"


def test_an_inquorate_view_decides_nothing() -> None:
    c = Cluster([SVC])
    c.form({1, 2, 3}, quorate=False)
    c.advance(TABLE_PERIOD)
    assert c.starts() == [] and not any(m.acting for m in c.managers.values())


def test_a_member_obeys_only_its_coordinator() -> None:
    c = Cluster([SVC])
    c.form({1, 2, 3})
    member = c.managers[3]
    stale = SvcTable((SvcRecord("svc", St.DISABLED, 0, 3, 0, False, True, False, "", 10**9),))
    deliver_raw(member, c.now, 2, stale)
    deliver_raw(member, c.now, 2, SvcCommand("svc", Action.STOP, 99))
    assert member.take_effects() == [] and member.records["svc"].state is St.STARTED
    deliver_raw(member, c.now, 1, SvcCommand("svc", Action.STOP, 99))
    assert member.take_effects() == [StopLocal("svc", 99)]


def test_a_coordinator_that_regains_quorum_settles_its_old_commands_by_the_inventories() -> None:
    # Its start command went to melchior, which crashed before running it, and quorum went with melchior. When
    # the view is quorate again (melchior back as a new run), no report of that command will ever come.
    c = Cluster([SVC])
    c.form({1, 2, 3})
    c.request(1, "disable")
    c.auto = False
    c.managers[1].request(c.now, "enable", "svc", 3)
    c.pump()
    assert c.record().state is St.STARTING and [job.node for job in c.jobs] == [3]
    c.alive.discard(3)  # melchior crashes with the job
    c.executors[3] = {}
    c.jobs.clear()
    c.form({1, 2}, quorate=False)
    c.auto = True
    c.restart(3)
    assert c.started_on() == [3] and c.record().state is St.STARTED


def test_nothing_starts_anywhere_while_a_node_that_left_uncleanly_awaits_its_fence() -> None:
    """A node out of the view and not yet fenced may run copies no record names (a stray whose stop failed, its
    daemon gone since): no service starts until it is off, not only the services it owned."""
    c = Cluster([ServiceSpec("own", domain=domain(3)), ServiceSpec("other", autostart=False)])
    c.fence_first = True
    c.form({1, 2, 3})
    assert c.started_on("own") == [3]
    c.crash(3)
    c.request(1, "enable", "other")
    assert c.starts("other") == []
    assert c.record("other").reason == "waiting for melchior to be fenced before starting anything"
    c.gone.add(3)  # the fence is confirmed
    c.advance(1.0)
    assert c.started_on("other") != [] and c.started_on("own") != []
