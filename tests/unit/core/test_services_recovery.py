"""What follows a failure: recovery policies and their restart budget, failed starts, failed stops.

The service runs on melchior (3) when the tests begin (no failover domain: the tie goes to the highest id);
a failed status check is reported by melchior's executor, as the daemon's status loop does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from services_wiring import Cluster

from quorate.core.placement import ServiceSpec
from quorate.core.services import TABLE_PERIOD, Action, St


def _running(spec: ServiceSpec) -> Cluster:
    c = Cluster([spec])
    c.form({1, 2, 3})
    assert c.started_on() == [3]
    return c


@dataclass(frozen=True)
class Row:
    why: str
    spec: ServiceSpec
    failures_at: tuple[float, ...]  # times of the status failures, each on the service's owner of the moment
    starts: tuple[int, ...]  # every start commanded, in order (the first one is the initial placement)
    then: St
    restarts: int  # clustat's restart counter


def _spec(recovery: str, max_restarts: int = 0, expire: float = 0.0) -> ServiceSpec:
    return ServiceSpec("svc", recovery=recovery, max_restarts=max_restarts, restart_expire_time=expire)


# Differs: rgmanager clears clustat's restart counter when the budget relocates or disables a service;
# quorate clears the budget's window but the counter keeps counting.
POLICIES = [
    Row("restart: in place, on the same node", _spec("restart"), (10,), (3, 3), St.STARTED, 1),
    Row("restart without budget: always in place", _spec("restart"), (10, 20, 30, 40), (3, 3, 3, 3, 3), St.STARTED, 4),
    Row("relocate: to the best other node", _spec("relocate"), (10,), (3, 2), St.STARTED, 0),
    Row("disable: stopped and disabled", _spec("disable"), (10,), (3,), St.DISABLED, 0),
    Row(
        "restart, max_restarts=2: the third failure relocates",
        _spec("restart", max_restarts=2),
        (10, 20, 30),
        (3, 3, 3, 2),
        St.STARTED,
        2,
    ),
    Row(
        "restart budget is spent per window: old restarts expire",
        _spec("restart", max_restarts=1, expire=30),
        (10, 50, 60),
        (3, 3, 3, 2),
        St.STARTED,
        2,
    ),
    Row(
        "restart budget: a failure at the window's edge still counts",
        _spec("restart", max_restarts=1, expire=30),
        (10, 40),
        (3, 3, 2),
        St.STARTED,
        1,
    ),
    Row(
        "restart-disable, max_restarts=1: the second failure disables",
        _spec("restart-disable", max_restarts=1),
        (10, 20),
        (3, 3),
        St.DISABLED,
        1,
    ),
    Row(
        "after a relocation the new node has a fresh budget",
        _spec("restart", max_restarts=1),
        (10, 20, 30),
        (3, 3, 2, 2),
        St.STARTED,
        2,
    ),
]


@pytest.mark.parametrize("case", POLICIES, ids=lambda case: case.why)
def test_recovery_policy(case: Row) -> None:
    c = _running(case.spec)
    for at in case.failures_at:
        c.advance(at - c.now)
        (owner,) = c.started_on()
        c.status_failed(owner)
    assert tuple(c.starts()) == case.starts
    record = c.record()
    assert (record.state, record.restarts) == (case.then, case.restarts)
    assert c.started_on() == ([case.starts[-1]] if case.then is St.STARTED else [])


def test_a_status_failure_reported_by_a_node_that_does_not_own_the_service_is_ignored() -> None:
    c = _running(_spec("relocate"))
    c.status_failed(2)
    assert c.starts() == [3] and c.started_on() == [3]


def test_a_failed_start_is_stopped_there_and_tried_elsewhere() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.fail.add((3, "svc", Action.START))
    c.form({1, 2, 3})
    assert c.commands == [(3, "svc", Action.START), (3, "svc", Action.STOP), (2, "svc", Action.START)]
    assert c.started_on() == [2]


def test_an_enable_whose_start_fails_answers_once_another_node_runs_it() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    c.request(1, "disable")
    c.fail.add((1, "svc", Action.START))
    done = c.request(1, "enable")
    assert done is not None and (done.ok, done.result, done.owner) == (True, "Success", 3)
    assert c.starts() == [3, 1, 3]


def test_a_restart_in_place_that_fails_relocates() -> None:
    c = _running(_spec("restart"))
    c.fail.add((3, "svc", Action.START))
    c.status_failed(3)
    assert c.starts() == [3, 3, 2] and c.started_on() == [2]


def test_when_every_node_fails_to_start_it_the_service_stays_stopped_and_the_request_fails() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    c.request(1, "disable")
    c.fail |= {(n, "svc", Action.START) for n in (1, 2, 3)}
    done = c.request(2, "enable")
    assert done is not None and (done.ok, done.result, done.owner) == (False, "Failure", 0)
    assert c.starts() == [3, 2, 3, 1]
    assert c.record().state is St.STOPPED and c.where() == []
    # It stays stopped: not retried at every evaluation, however many pass.
    assert "its start failed on" in c.record().reason
    c.advance(3 * TABLE_PERIOD)
    assert c.starts() == [3, 2, 3, 1]
    # An administrator's enable tries again, once the cause is fixed.
    c.fail.clear()
    done = c.request(2, "enable")
    assert done is not None and (done.ok, done.result) == (True, "Success")
    assert c.started_on() == [2]


def test_a_failed_stop_makes_the_service_failed_and_fences_its_node() -> None:
    c = _running(_spec("restart"))
    c.fail.add((3, "svc", Action.STOP))
    c.status_failed(3)
    record = c.record()
    assert (record.state, record.owner) == (St.FAILED, 3)
    assert "stop failed" in record.reason and "melchior" in record.reason
    assert {(asker, fence.nodeid) for asker, fence in c.fences} == {(1, 3)}
    c.advance(30)
    assert c.starts() == [3], "a failed service is never started again while its node may hold it"
    c.gone.add(3)
    c.crash(3)  # the fence confirmed
    assert c.started_on() == [2], "once its node is fenced, the service recovers elsewhere"


def test_a_failed_stop_aborts_the_request_that_caused_it() -> None:
    c = _running(_spec("restart"))
    c.fail.add((3, "svc", Action.STOP))
    done = c.request(2, "relocate")
    assert done is not None and (done.ok, done.result) == (False, "Aborted; service failed")
    assert c.record().state is St.FAILED
