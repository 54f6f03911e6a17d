"""Liveness after faults: a service the table says runs somewhere, but nothing runs, is recovered.

Two ways a record used to stay wrong for ever: an owner that emergency-stopped its services in a non-quorate
view the coordinator never saw (its record still said started there), and a coordinator that self-fenced for
a stop that failed on itself, then came back as a new run (the record still said failed). Every test keeps the
wiring's S1 check on: nothing starts anywhere while an executor holds the service.
"""

from __future__ import annotations

import pytest
from services_wiring import NAMES, Cluster, deliver_raw, domain

from quorate.core.effects import ViewInstalled
from quorate.core.features import SUPPORTED
from quorate.core.messages import SvcInventory, SvcRecord, ViewId
from quorate.core.placement import ServiceSpec
from quorate.core.services import Action, ServiceManager, St

FIRST_ON_3 = ServiceSpec("svc", domain=domain(3, 2, 1, ordered=True), recovery="relocate")
FIRST_ON_1 = ServiceSpec("svc", domain=domain(1, 2, 3, ordered=True), recovery="relocate")


class DeltaCluster(Cluster):
    """The same cluster with every member announcing table deltas: after a view's first table, inventories
    carry only the records that say their sender runs what its executor does not."""

    def _manager(self, nodeid: int) -> ServiceManager:
        return ServiceManager(dict(self.specs), NAMES, nodeid, safely_gone=self.gone.__contains__,
                              shared_features=lambda _members: SUPPORTED)  # fmt: skip


BOTH = pytest.mark.parametrize("make", [Cluster, DeltaCluster], ids=["whole-tables", "table-deltas"])


def _alone_without_quorum(c: Cluster, node: int) -> None:
    """``node`` installs a view of itself, not quorate, that no other node ever sees, and stops everything."""
    c.seq += 1
    installed = ViewInstalled(ViewId(c.seq, node), frozenset({node}), frozenset(), frozenset(),
                              c.seen[node] - {node}, False, "test")  # fmt: skip
    c.seen[node] = frozenset({node})
    c.managers[node].on_view(c.now, installed, coordinator=True)
    c.managers[node].on_quorum_lost(c.now, "not quorate")
    c.pump()


@BOTH
def test_an_owner_that_stopped_in_a_view_the_coordinator_never_saw_gets_its_services_back(make: type[Cluster]) -> None:
    c = make([FIRST_ON_3])
    c.form({1, 2, 3})
    assert c.started_on() == [3]
    _alone_without_quorum(c, 3)
    c.executor_holds(3, "svc", "stopping")  # its emergency stop, unseen by the coordinator
    c.executor_holds(3, "svc", None)
    c.form({1, 2, 3})  # the coordinator stayed quorate throughout: for it, melchior never left
    assert c.started_on() == [3], "placed again by its domain once its owner's stop was confirmed"
    record = c.record()
    assert (record.state, record.owner) == (St.STARTED, 3)
    assert [(node, action.value) for node, name, action in c.commands][-2:] == [(3, "stop"), (3, "start")]


@BOTH
def test_a_not_running_owner_is_stopped_by_command_first_and_a_failed_stop_fences_it(make: type[Cluster]) -> None:
    c = make([FIRST_ON_3])
    c.form({1, 2, 3})
    _alone_without_quorum(c, 3)
    c.executor_holds(3, "svc", None)
    c.fail.add((3, "svc", Action.STOP))
    c.form({1, 2, 3})
    record = c.record()
    assert (record.state, record.owner) == (St.FAILED, 3)
    assert {(asker, fence.nodeid) for asker, fence in c.fences} == {(1, 3)}
    assert c.starts() == [3], "never started elsewhere while melchior may hold it"


def test_an_inventory_older_than_the_owners_copy_of_the_record_frees_nothing() -> None:
    # Melchior's copy is of an earlier version (of an earlier time it ran the service, say): the inventory may
    # predate the start that the coordinator's record is about, so absence in it proves nothing.
    c = Cluster([FIRST_ON_3])
    c.form({1, 2, 3})
    coordinator = c.managers[1]
    record = coordinator.records["svc"]
    stale = SvcRecord("svc", St.STARTED, 3, 0, 0, False, True, True, "started on melchior", record.version - 1)
    commands = list(c.commands)
    deliver_raw(coordinator, c.now, 3, SvcInventory(coordinator.view, (), (stale,), 10_000))
    c.pump()
    assert c.commands == commands, "no stop, no start: the record is left as it is"
    assert (record.state, record.owner, record.cmd) == (St.STARTED, 3, 0)


def test_a_coordinator_back_as_a_new_run_after_self_fencing_for_its_failed_stop_recovers_the_service() -> None:
    c = Cluster([FIRST_ON_1])
    c.form({1, 2, 3})
    assert c.started_on() == [1]
    c.executor_holds(1, "svc", "failed")  # its stop failed (an emergency stop, say): it fences itself
    assert c.record().state is St.FAILED and {fence.nodeid for _, fence in c.fences} == {1}
    # The daemon exits and comes back (the machine still holds what the failed stop left behind): the new
    # run stops everything before it runs anything, and it coordinates again.
    c.managers[1] = c._manager(1)
    c.seen.pop(1)
    c.executor_holds(1, "svc", "stopping")
    c.form({1, 2, 3})
    assert c.record().state is St.STOPPING and c.starts() == [1]
    c.executor_holds(1, "svc", None)  # that stop succeeded: nothing of it is left
    assert c.started_on() == [1]
    assert c.record().state is St.STARTED


def test_a_frozen_service_its_owner_no_longer_runs_is_left_alone_until_unfrozen() -> None:
    c = Cluster([FIRST_ON_3])
    c.form({1, 2, 3})
    assert c.request(1, "freeze") is not None
    _alone_without_quorum(c, 3)
    c.executor_holds(3, "svc", None)
    c.form({1, 2, 3})
    assert c.starts() == [3] and c.record().state is St.STARTED, "frozen: no stop, no start, no failover"
    assert c.request(1, "unfreeze") is not None
    c.advance(5.0)  # the next table, answered with an inventory
    assert c.started_on() == [3] and c.starts() == [3, 3]
