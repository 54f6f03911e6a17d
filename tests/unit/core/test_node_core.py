"""The node core, driven directly: its three inputs with an explicit clock, its effects checked as the shell sees
them. Several node cores are wired in memory (datagrams delivered in order, at once) so that what one node
decides can be seen acting on the others; no socket, no thread, no simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from quorate.core.effects import Log, Send
from quorate.core.fencing import FencingConfig, RunFence
from quorate.core.locks import LockGranted
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.messages import encode
from quorate.core.node_core import NodeCore
from quorate.core.node_io import (
    Action,
    ConfigActivated,
    DiskOpened,
    DiskRead,
    DiskWritten,
    ExecOutcome,
    FenceDone,
    FenceNow,
    FenceOnce,
    KillMember,
    LeaveCluster,
    LockAcquire,
    OpenDisk,
    ReadDisk,
    Refusal,
    Reply,
    SelfFence,
    ServiceDone,
    ServiceRequest,
    ServicesRunning,
    SetExpected,
    Shutdown,
    StartService,
    StopService,
    StopWhy,
    WriteDisk,
)
from quorate.core.node_settings import NodeSettings
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.qdisk_block import Block, DiskState
from quorate.core.qdisk_config import QdiskParams

NAMES = {1: "balthasar", 2: "casper", 3: "melchior"}
RING = DomainSpec("ring01", ordered=True, restricted=True, nofailback=False, priorities={1: 10, 2: 20, 3: 30})


def settings(
    local: int, *, services: bool = True, qdisk: QdiskParams | None = None, expected: int = 3
) -> NodeSettings:
    membership = MembershipConfig(
        nodes=tuple(NodeSpec(i, n, 1) for i, n in NAMES.items()), expected_votes=expected, token=1.0, config_version=1
    )
    fencing = FencingConfig(node_names=NAMES, post_join_delay=1.0, clean_start=True, override_time=0.5)
    specs = {"test": ServiceSpec("test", domain=RING, recovery="relocate")} if services else {}
    return NodeSettings(local, membership, fencing, specs, qdisk=qdisk, status_interval=5.0)


@dataclass
class Cluster:
    """Node cores on one in-memory network; ``out`` keeps every external effect but datagrams."""

    cores: dict[int, NodeCore]
    now: float = 0.0
    down: set[int] = field(default_factory=set)
    out: dict[int, list[Any]] = field(default_factory=dict)

    def pump(self) -> None:
        for _ in range(200):
            moved = False
            for nodeid, core in list(self.cores.items()):
                if nodeid in self.down:
                    continue
                for effect in core.take_effects():
                    moved = True
                    if isinstance(effect, Send):
                        for to in effect.to:
                            if to not in self.down and to in self.cores:
                                self.cores[to].receive(encode(effect.message), nodeid, self.now)
                    else:
                        self.out.setdefault(nodeid, []).append(effect)
            if not moved:
                return

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + step, 6)
            for nodeid, core in self.cores.items():
                if nodeid not in self.down:
                    deadline = core.next_deadline()
                    if deadline is not None and deadline <= self.now:
                        core.handle_timer(self.now)
            self.pump()

    def effects(self, nodeid: int, kind: type) -> list[Any]:
        return [e for e in self.out.get(nodeid, []) if isinstance(e, kind)]

    def logs(self, nodeid: int) -> list[str]:
        return [e.text for e in self.effects(nodeid, Log)]

    def finish_ops(self) -> None:
        """An obedient executor on every node: each start and stop succeeds at once."""
        for nodeid, core in self.cores.items():
            if nodeid in self.down:
                continue
            running = dict(core.local.running)
            pending = [e for e in self.out.get(nodeid, []) if isinstance(e, StartService | StopService)]
            self.out[nodeid] = [e for e in self.out.get(nodeid, []) if not isinstance(e, StartService | StopService)]
            for op in pending:
                if isinstance(op, StartService):
                    running[op.service] = "started"
                    core.report(ServicesRunning(dict(running)), self.now)
                    core.report(ServiceDone(op.service, op.cmd, Action.START, ExecOutcome.STARTED), self.now)
                else:
                    running.pop(op.service, None)
                    core.report(ServicesRunning(dict(running)), self.now)
                    core.report(ServiceDone(op.service, op.cmd, Action.STOP, ExecOutcome.STOPPED, why=op.why), self.now)
            self.pump()


def cluster(n: int = 3, **kw: Any) -> Cluster:
    cores = {i: NodeCore(settings(i, **kw), boot=1, now=0.0) for i in range(1, n + 1)}
    c = Cluster(cores)
    c.pump()
    return c


def settled(**kw: Any) -> Cluster:
    c = cluster(**kw)
    for _ in range(6):
        c.advance(0.5)
        c.finish_ops()
    return c


# ----------------------------------------------------------------------------------------------- start-up


def test_a_node_stops_every_configured_service_before_it_joins_and_is_dirty_until_then() -> None:
    core = NodeCore(settings(1), boot=1, now=0.0)
    effects = core.take_effects()
    assert StopService("test", 0, StopWhy.INITIAL) in effects
    assert core.membership.dirty
    core.report(ServicesRunning({"test": "stopping"}), 0.1)
    core.report(ServicesRunning({}), 0.2)
    assert core.membership.dirty  # the stop is not done until the executor says so
    core.report(ServiceDone("test", 0, Action.STOP, ExecOutcome.STOPPED, why=StopWhy.INITIAL), 0.2)
    assert not core.membership.dirty


def test_three_nodes_form_a_quorate_view_and_the_service_starts_on_its_best_node() -> None:
    c = settled()
    assert all(core.quorate for core in c.cores.values())
    assert {core.membership.members for core in c.cores.values()} == {frozenset({1, 2, 3})}
    assert c.cores[1].local.running == {"test": "started"}
    assert c.cores[1].services.records["test"].owner == 1


# --------------------------------------------------------------------------------------------- quorum loss


def test_a_node_that_loses_quorum_stops_what_it_runs_at_once() -> None:
    c = settled()
    c.down = {2, 3}
    c.out[1] = []
    c.advance(2.0)
    assert not c.cores[1].quorate
    assert StopService("test", 0, StopWhy.EMERGENCY) in c.effects(1, StopService)
    assert any("emergency stop of service:test" in text for text in c.logs(1))


def test_the_survivors_fence_the_owner_before_they_start_its_service() -> None:
    c = settled()
    c.down = {1}
    c.advance(2.0)
    fences = c.effects(2, RunFence)
    assert [f.nodeid for f in fences] == [1]
    c.finish_ops()
    assert not c.effects(2, StartService) and not c.effects(3, StartService)  # nothing moves before the fence
    c.cores[2].report(FenceDone(1, True, "single", "powered off", 0.1), c.now)
    c.pump()
    c.finish_ops()
    assert c.cores[2].local.running == {"test": "started"}


# ----------------------------------------------------------------------------------------------- self-fence


def test_a_killed_node_stops_its_services_and_then_takes_no_further_part() -> None:
    c = settled()
    assert c.cores[2].request(KillMember(1), c.now)
    c.out[1] = []
    c.pump()
    assert any(isinstance(e, SelfFence) for e in c.out[1])
    assert StopService("test", 0, StopWhy.EMERGENCY) in c.effects(1, StopService)
    core = c.cores[1]
    assert core.next_deadline() is None  # no more heartbeats: the others see a failure and fence it
    rid = core.request(SetExpected(2), c.now)
    (reply,) = [e for e in core.take_effects() if isinstance(e, Reply)]
    assert (reply.rid, reply.ok, reply.code) == (rid, False, Refusal.UNAVAILABLE)


def test_a_coordinator_dead_on_the_quorum_disk_is_ordered_out_and_fenced_by_the_next_one() -> None:
    from quorate.core.qdisk_effects import KillNode

    c = settled()  # node 1 coordinates and runs the service
    master = c.cores[2]
    once = [[KillNode(1, "node 1 stopped writing to the quorum disk")]]
    master.disk.take_effects = lambda: once.pop() if once else []  # type: ignore[method-assign]
    c.out[1] = []
    master._process(c.now)  # what the master's quorum disk decided, routed as after a disk cycle
    del master.disk.take_effects
    c.pump()
    assert any(isinstance(e, SelfFence) for e in c.out[1])  # told to leave: it stops everything as a failure
    assert StopService("test", 0, StopWhy.EMERGENCY) in c.effects(1, StopService)
    c.advance(2.0)
    assert [f.nodeid for f in c.effects(2, RunFence)] == [1]  # the next coordinator fences it


# -------------------------------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("request_", "ok", "code", "text"),
    [
        (SetExpected(0), False, Refusal.REFUSED, "expected votes must be a positive integer"),
        (SetExpected(3), True, Refusal.NONE, ""),
        (LeaveCluster(), False, Refusal.STATE_HELD, "service:test run here"),
        (KillMember(1), False, Refusal.REFUSED, "the local node"),
        (LockAcquire("lvm", "magi_vg", "EX"), True, Refusal.NONE, ""),
        (LockAcquire("lvm", "", "EX"), False, Refusal.INVALID, ""),
        (LockAcquire("lvm", "magi_vg", "XX"), False, Refusal.INVALID, ""),
    ],
)
def test_requests_answer_with_a_code_and_a_sentence(request_: Any, ok: bool, code: Refusal, text: str) -> None:
    c = settled()
    core = c.cores[1]
    rid = core.request(request_, c.now)
    replies = [e for e in core.take_effects() if isinstance(e, Reply) and e.rid == rid]
    assert len(replies) == 1
    assert (replies[0].ok, replies[0].code) == (ok, code)
    assert text in replies[0].text


def test_a_lock_request_is_answered_before_its_grant() -> None:
    c = settled()
    core = c.cores[1]  # the lock master: the grant is local and immediate
    rid = core.request(LockAcquire("lvm", "magi_vg", "EX"), c.now)
    effects = core.take_effects()
    reply_at = next(i for i, e in enumerate(effects) if isinstance(e, Reply) and e.rid == rid)
    grant_at = next(i for i, e in enumerate(effects) if isinstance(e, LockGranted))
    assert reply_at < grant_at and effects[grant_at].lkid == effects[reply_at].value


def test_a_forced_leave_stops_the_services_first_then_leaves_cleanly() -> None:
    c = settled()
    core = c.cores[1]
    rid = core.request(LeaveCluster(force=True), c.now)
    c.pump()
    assert StopService("test", 0, StopWhy.LEAVING) in c.effects(1, StopService)
    assert not [e for e in c.out[1] if isinstance(e, Reply) and e.rid == rid]  # not before the stop is done
    c.finish_ops()
    assert [e.ok for e in c.out[1] if isinstance(e, Reply) and e.rid == rid] == [True]
    c.advance(3.0)
    assert 1 not in c.cores[2].membership.members
    assert not c.effects(2, RunFence)  # a clean leave is never fenced
    c.finish_ops()
    said = [text for text in c.logs(2) if text.startswith("service:test: balthasar")]
    assert said == ["service:test: balthasar left the cluster cleanly: recovering"]  # not "failed and is fenced"


def test_a_node_stopping_for_good_is_not_given_back_the_service_it_stops() -> None:
    """quorated stopping on the coordinator that runs the service: once its executor says the service is
    stopping, then gone, the coordinator re-places it; its own node is still a member, but a start there is
    refused (it would be stopped again a moment later) and another node of the domain takes it."""
    c = settled()
    core = c.cores[1]
    assert core.local.running == {"test": "started"}
    rid = core.request(Shutdown(), c.now)
    c.pump()
    core.report(ServicesRunning({"test": "stopping"}), c.now)  # what the real executor says first
    c.pump()
    started_here: list[StartService] = []
    for _ in range(10):
        started_here += [e for e in c.out.get(1, []) if isinstance(e, StartService)]
        c.finish_ops()
        c.advance(0.2)
    assert started_here == []
    assert [e.ok for e in c.out[1] if isinstance(e, Reply) and e.rid == rid] == [True]
    assert "#68: Failed to start service:test: this node is leaving the cluster" in c.logs(1)
    assert core.local.running == {}
    assert [n for n in (2, 3) if c.cores[n].local.running == {"test": "started"}] != [], "another node runs it"


def test_fence_node_runs_one_pass_and_answers_with_its_outcome() -> None:
    c = settled()
    core = c.cores[2]
    rid = core.request(FenceNow(3), c.now)
    (order,) = [e for e in core.take_effects() if isinstance(e, FenceOnce)]
    assert (order.rid, order.nodeid, order.name) == (rid, 3, "melchior")
    core.report(FenceDone(3, False, "", "no method worked", 0.2, rid), c.now)
    (reply,) = [e for e in core.take_effects() if isinstance(e, Reply)]
    assert (reply.rid, reply.ok, reply.text) == (rid, False, "no method worked")


# ------------------------------------------------------------------------------------------- quorum disk


def disk_settings() -> QdiskParams:
    return QdiskParams.derived(interval=1.0, tko=4, votes=2)


def test_the_quorum_disk_opens_first_and_a_failure_with_stop_cman_self_fences() -> None:
    params = QdiskParams.derived(interval=1.0, tko=4, votes=2, stop_cman=True)
    core = NodeCore(settings(1, qdisk=params), boot=1, now=0.0)
    assert any(isinstance(e, OpenDisk) for e in core.take_effects())
    core.report(DiskOpened(False, error="not a usable quorum disk"), 0.1)
    effects = core.take_effects()
    assert any(isinstance(e, SelfFence) for e in effects)
    assert any(isinstance(e, Log) and "Quorum disk not started" in e.text for e in effects)


def test_disk_cycles_are_paced_and_the_votes_count_in_the_quorum() -> None:
    core = NodeCore(settings(1, services=False, qdisk=disk_settings(), expected=5), boot=1, now=0.0)
    core.take_effects()
    core.report(DiskOpened(True, "/dev/loop0", "magi_qdisk", 7), 0.0)
    now = 0.0
    blocks: dict[int, Block | None] = {n: Block(n, 0, DiskState.NONE, 0) for n in range(1, 17)}  # as mkqdisk -c
    for _ in range(400):  # a lone node: it watches tko cycles, then becomes master and counts the votes
        now = core.next_deadline() or now
        core.handle_timer(now)
        effects = core.take_effects()
        reads = [e for e in effects if isinstance(e, ReadDisk)]
        if not reads:
            continue
        assert reads[0].budget == 0.5  # half an interval
        core.report(DiskRead(True, blocks), now + 0.01)
        writes = [e for e in core.take_effects() if isinstance(e, WriteDisk)]
        for w in writes:
            for block in w.blocks:
                blocks[block.nodeid] = block
        core.report(DiskWritten(True), now + 0.02)
    assert core.membership.qdisk_votes == 2
    assert core.membership.quorum.total_votes == 3


def test_deadlines_never_stand_still() -> None:
    c = settled()
    for core in c.cores.values():
        deadline = core.next_deadline()
        assert deadline is not None and deadline > c.now - 1.0
        core.handle_timer(deadline)
        later = core.next_deadline()
        assert later is None or later > deadline


def test_a_datagram_that_does_not_decode_is_counted_not_fatal() -> None:
    core = NodeCore(settings(1), boot=1, now=0.0)
    core.receive(b"\x00garbage", 2, 0.1)
    assert core.undecodable == 1


# ------------------------------------------------------------------------------ restarts for a new configuration


def restart_for_new_configuration(c: Cluster, node: int) -> StopService:
    """A new cluster.conf changes the resources of service:test, which runs on ``node``: R-90's restart begins
    there (stop with the old tree); the executor says "stopping", then, once the agent is done, holds nothing."""
    core = c.cores[node]
    core.report(ConfigActivated(core.settings, b"", {"test": "restart"}), c.now)
    c.pump()
    (stop,) = [e for e in c.out[node] if isinstance(e, StopService)]
    c.out[node].remove(stop)
    assert stop.why is StopWhy.RECONFIG
    core.report(ServicesRunning({"test": "stopping"}), c.now)
    c.pump()
    core.report(ServicesRunning({}), c.now)  # before the ServiceDone, as the daemon's executor reports
    c.pump()
    c.advance(0.3)
    return stop


def started_on(c: Cluster) -> dict[int, list[StartService]]:
    found = {n: [e for e in c.out.get(n, []) if isinstance(e, StartService)] for n in c.cores}
    return {n: starts for n, starts in found.items() if starts}


def owner_off_its_best_node() -> tuple[Cluster, int]:
    """service:test relocated by the administrator to casper, a node its domain ranks below balthasar: any new
    placement would pick balthasar."""
    c = settled()
    c.cores[1].request(ServiceRequest("relocate", "test", 2), c.now)
    for _ in range(6):
        c.advance(0.3)
        c.finish_ops()
    assert c.cores[2].local.running == {"test": "started"}
    return c, 2


def test_a_service_restarting_for_a_new_configuration_stays_its_owners_and_starts_nowhere_else() -> None:
    """Between the restart's stop and its start the executor holds nothing; the coordinator (balthasar) must
    not take that absence as "free" and start the service on its best node while casper starts it again."""
    c, owner = owner_off_its_best_node()
    stop = restart_for_new_configuration(c, owner)
    coordinator = c.cores[1].services.records["test"]
    assert coordinator.owner == owner, coordinator.reason
    assert started_on(c) == {}
    c.cores[owner].report(ServiceDone("test", 0, Action.STOP, ExecOutcome.STOPPED, why=stop.why), c.now)
    c.pump()
    c.advance(0.3)
    assert started_on(c) == {owner: [StartService("test", 0)]}, "only the restart's own start, on its owner"
    c.finish_ops()
    c.advance(0.5)
    record = c.cores[1].services.records["test"]
    assert (record.owner, record.state.value) == (owner, "started")
    assert [n for n, core in c.cores.items() if core.local.running] == [owner]


def test_a_restart_whose_start_fails_is_recovered_elsewhere_once_its_node_holds_nothing() -> None:
    c, owner = owner_off_its_best_node()
    stop = restart_for_new_configuration(c, owner)
    core = c.cores[owner]
    core.report(ServiceDone("test", 0, Action.STOP, ExecOutcome.STOPPED, why=stop.why), c.now)
    c.pump()
    c.out[owner] = [e for e in c.out[owner] if not isinstance(e, StartService)]
    core.report(ServicesRunning({"test": "starting"}), c.now)
    core.report(ServicesRunning({}), c.now)
    c.pump()
    c.advance(0.3)
    assert started_on(c) == {}, "the start has not ended yet: the service is still casper's"
    core.report(ServiceDone("test", 0, Action.START, ExecOutcome.START_FAILED, "agent failed"), c.now)
    c.pump()
    for _ in range(6):
        c.advance(0.3)
        c.finish_ops()
    runs = [n for n, node in c.cores.items() if node.local.running.get("test") == "started"]
    assert len(runs) == 1 and runs != [owner], runs  # recovery="relocate": on another node, once
    assert "#68: Failed to start service:test: agent failed" in c.logs(owner)


def test_a_leave_while_a_restart_stops_the_service_starts_nothing_again() -> None:
    c, owner = owner_off_its_best_node()
    stop = restart_for_new_configuration(c, owner)
    core = c.cores[owner]
    core.request(LeaveCluster(force=True), c.now)
    c.pump()
    core.report(ServiceDone("test", 0, Action.STOP, ExecOutcome.STOPPED, why=stop.why), c.now)
    c.pump()
    assert owner not in started_on(c), "a node leaving the cluster starts nothing"
    assert not core.local.dirty
