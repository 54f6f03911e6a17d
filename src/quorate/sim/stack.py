"""The whole stack on virtual time: membership, fencing and services cores, simulated executors and power switches.

Each node runs the real cores, wired the way the daemon wires them. Its executor is simulated: starting or
stopping a service takes a while and may fail or hang, as a seeded agent would; a fence device powers a node
off after a delay, and may fail. What an executor runs is the ground truth the invariants are checked on,
not what any core believes:

* S1: a service runs on at most one node at any instant (a paused node's services keep running: that is
  exactly the case fencing exists for);
* nothing starts on a node that is not in a quorate view;
* only the coordinator of a quorate view runs fences;
* liveness: after faults stop, every enabled service runs on the node its failover domain prefers.

`python -m quorate.sim.stack --seed N --scenario NAME` replays one run.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.core.effects import (
    Evicted,
    Killed,
    Log,
    PersistGeneration,
    PersistRejoin,
    QuorumChanged,
    Send,
    ViewInstalled,
)
from quorate.core.fencing import CancelFence, FenceConfirmed, Fencing, FencingConfig, RunFence
from quorate.core.membership import Membership, MembershipConfig, MembershipError, NodeSpec
from quorate.core.messages import (
    FenceAck,
    FenceNotice,
    FenceStatus,
    Message,
    SvcCommand,
    SvcInventory,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
)
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.services import FenceForService, RequestDone, ServiceManager, StartLocal, StopLocal
from quorate.sim.cluster import InvariantViolation
from quorate.sim.network import SimNetwork
from quorate.sim.sweep import finish, sweep_main

FENCE_MSGS = (FenceStatus, FenceAck, FenceNotice)
SVC_MSGS = (SvcTable, SvcCommand, SvcReport, SvcInventory, SvcRequest, SvcReply)
NAMES = ["balthasar", "casper", "melchior", "adam", "lilith"]


@dataclass
class Job:
    at: float
    node: int
    service: str
    action: str  # start / stop
    cmd: int
    ok: bool
    report: bool = True


@dataclass
class StackNode:
    nodeid: int
    alive: bool = False
    paused: bool = False
    killed: bool = False  # its daemon exited on `cman_tool kill`; what it ran may still run until it is fenced
    boots: int = 0
    persisted_seq: int = 0
    persisted_rejoin: tuple[int, frozenset[int]] = (0, frozenset())
    membership: Membership | None = None
    fencing: Fencing | None = None
    services: ServiceManager | None = None
    running: dict[str, str] = field(default_factory=dict)  # the executor's ground truth
    inbox: list[tuple[int, Message]] = field(default_factory=list)


class StackSim:
    def __init__(self, rng: random.Random, n: int, services: dict[str, ServiceSpec], *, token: float = 1.0) -> None:
        self.rng = rng
        self.net = SimNetwork(rng)
        self.t = 0.0
        self.specs = services
        self.mconfig = MembershipConfig(
            nodes=tuple(NodeSpec(i, f"{NAMES[i - 1]}.localdomain", 1) for i in range(1, n + 1)),
            expected_votes=n,
            token=token,
            config_version=1,
        )
        self.fconfig = FencingConfig(
            node_names={s.nodeid: s.name for s in self.mconfig.nodes}, post_join_delay=1.0, override_time=0.5
        )
        self.nodes = {i: StackNode(i) for i in range(1, n + 1)}
        self.jobs: list[Job] = []
        self.fences: list[tuple[float, int, int, bool]] = []  # (at, fencer, victim, ok)
        self.actions: list[tuple[float, str, Callable[[StackSim], None]]] = []
        self.trace: list[str] = []
        self.fail_rate = 0.0
        self.fence_fail_rate = 0.0
        self.requests: list[RequestDone] = []

    # --------------------------------------------------------------------------------- lifecycle

    def start(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        node.boots += 1
        node.alive, node.paused, node.killed, node.inbox, node.running = True, False, False, [], {}
        node.membership = Membership(
            self.mconfig,
            nodeid,
            boot=node.boots,
            now=self.t,
            highest_seq=node.persisted_seq,
            rejoin=node.persisted_rejoin,
        )
        node.fencing = Fencing(self.fconfig, nodeid)
        node.services = ServiceManager(self.specs, self.fconfig.node_names, nodeid)
        node.services.safely_gone = node.fencing.is_safely_gone
        self._log(f"start node {nodeid} (boot {node.boots})")
        self._drain(node)

    def power_off(self, nodeid: int, why: str) -> None:
        node = self.nodes[nodeid]
        node.alive, node.membership, node.fencing, node.services = False, None, None, None
        node.running, node.inbox, node.paused = {}, [], False
        self.jobs = [j for j in self.jobs if j.node != nodeid]
        self._log(f"power off node {nodeid}: {why}")

    def pause(self, nodeid: int) -> None:
        if self.nodes[nodeid].alive:
            self.nodes[nodeid].paused = True
            self._log(f"pause node {nodeid} (its services keep running)")

    def admin_kill(self, by: int, victim: int) -> None:
        """`cman_tool kill -n victim` typed on node ``by`` (refused unless both are in ``by``'s view)."""
        node = self.nodes[by]
        if not node.alive or node.paused or node.membership is None:
            return
        try:
            node.membership.kill(self.t, victim)
        except MembershipError as exc:
            self._log(f"n{by}: cman_tool kill -n {victim} refused: {exc}")
            return
        self._drain(node)

    def resume(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        if node.alive and node.paused and not node.killed:
            node.paused = False
            pending, node.inbox = node.inbox, []
            self._log(f"resume node {nodeid}")
            assert node.membership is not None
            node.membership.tick(self.t)
            self._drain(node)
            for sender, message in pending:
                self._deliver(sender, nodeid, message)

    def set_failures(self, rate: float) -> None:
        self.fail_rate = self.fence_fail_rate = rate

    def schedule(self, at: float, name: str, apply: Callable[[StackSim], None]) -> None:
        self.actions.append((at, name, apply))
        self.actions.sort(key=lambda a: a[0])

    # -------------------------------------------------------------------------------------- loop

    def run_until(self, end: float) -> None:
        while True:
            candidates: list[tuple[float, int, str]] = []
            if self.actions:
                candidates.append((self.actions[0][0], 0, "action"))
            if self.net.next_time() is not None:
                candidates.append((self.net.next_time() or 0.0, 1, "net"))
            if self.jobs:
                candidates.append((min(j.at for j in self.jobs), 2, "job"))
            if self.fences:
                candidates.append((min(f[0] for f in self.fences), 3, "fence"))
            for nodeid, node in self.nodes.items():
                if node.alive and not node.paused:
                    at = self._deadline(node)
                    if at is not None:
                        candidates.append((max(at, self.t), 10 + nodeid, "timer"))
            if not candidates:
                self.t = end
                return
            at, key, kind = min(candidates)
            if at > end:
                self.t = end
                return
            self.t = at
            if kind == "action":
                _, name, apply = self.actions.pop(0)
                self._log(f"fault: {name}")
                apply(self)
            elif kind == "net":
                d = self.net.pop()
                self._deliver(d.sender, d.receiver, d.message)
            elif kind == "job":
                job = min(self.jobs, key=lambda j: j.at)
                self.jobs.remove(job)
                self._finish_job(job)
            elif kind == "fence":
                fence = min(self.fences)
                self.fences.remove(fence)
                self._finish_fence(*fence)
            else:
                node = self.nodes[key - 10]
                assert node.membership and node.fencing and node.services
                node.membership.tick(self.t)
                node.fencing.tick(self.t)
                node.services.tick(self.t)
                self._drain(node)
            self.check()

    def _deadline(self, node: StackNode) -> float | None:
        assert node.membership and node.fencing and node.services
        times = [
            d
            for d in (node.membership.next_deadline(), node.fencing.next_deadline(), node.services.next_deadline())
            if d is not None
        ]
        if not times:
            return None
        at = min(times)
        return math.nextafter(at, math.inf) if at <= self.t else at

    def _deliver(self, sender: int, receiver: int, message: Message) -> None:
        node = self.nodes[receiver]
        if not node.alive or node.membership is None:
            return
        if node.paused:
            node.inbox.append((sender, message))
            return
        assert node.fencing and node.services
        if isinstance(message, FENCE_MSGS):
            if sender in node.membership.members:
                node.fencing.receive(self.t, sender, message)
        elif isinstance(message, SVC_MSGS):
            if sender in node.membership.members:
                node.services.receive(self.t, sender, message)
        else:
            node.membership.receive(self.t, sender, message)
        self._drain(node)

    def _drain(self, node: StackNode) -> None:
        for _ in range(50):
            if not node.alive or node.membership is None:
                return
            assert node.fencing and node.services
            busy = False
            for e in node.membership.take_effects():
                busy = True
                if isinstance(e, Send):
                    self._send(node.nodeid, e)
                elif isinstance(e, PersistGeneration):
                    node.persisted_seq = max(node.persisted_seq, e.seq)
                elif isinstance(e, PersistRejoin):
                    node.persisted_rejoin = (e.expected, e.awaiting)
                elif isinstance(e, ViewInstalled):
                    coord = node.membership.is_coordinator
                    node.fencing.on_view(self.t, e, node.membership.stamps(), coordinator=coord)
                    node.services.on_view(self.t, e, coordinator=coord)
                    self._log(f"n{node.nodeid}: {e.reason}")
                elif isinstance(e, QuorumChanged):
                    node.fencing.on_quorum(self.t, quorate=e.quorate, coordinator=node.membership.is_coordinator)
                    if not e.quorate:
                        self._emergency(node, e.reason)
                elif isinstance(e, Evicted):
                    node.fencing.on_quorum(self.t, quorate=False, coordinator=False)
                    self._emergency(node, e.reason)
                elif isinstance(e, Killed):
                    # The daemon exits without a clean leave. The worst case: its attempt to stop the services
                    # failed, so they keep running until the fence cuts the power.
                    node.killed, node.paused = True, True
                    self._log(f"n{node.nodeid}: {e.reason}: the daemon exits, {sorted(node.running)} still run")
                    return
            for fe in node.fencing.take_effects():
                busy = True
                if isinstance(fe, RunFence):
                    if not (node.membership.is_coordinator and node.membership.quorum.quorate):
                        raise InvariantViolation(
                            f"node {node.nodeid} ran a fence without being the quorate coordinator"
                        )
                    ok = self.rng.random() >= self.fence_fail_rate
                    # A failing device sometimes hangs until the executor's timeout kills it (then it failed).
                    delay = self.rng.uniform(0.05, 0.5) if ok or self.rng.random() < 0.5 else 3.0
                    self.fences.append((self.t + delay, node.nodeid, fe.nodeid, ok))
                elif isinstance(fe, CancelFence):
                    self.fences = [f for f in self.fences if not (f[1] == node.nodeid and f[2] == fe.nodeid)]
                elif isinstance(fe, FenceConfirmed):
                    node.membership.bar_until_restart(fe.record.nodeid, fe.record.boot)
                    node.services.tick(self.t)
                elif isinstance(fe, Send):
                    self._send(node.nodeid, fe)
                elif isinstance(fe, Log):
                    self._log(f"n{node.nodeid}: {fe.text}")
            for se in node.services.take_effects():
                busy = True
                if isinstance(se, StartLocal):
                    if not node.membership.quorum.quorate:
                        raise InvariantViolation(f"node {node.nodeid} was told to start {se.service} while inquorate")
                    node.running[se.service] = "starting"
                    self._job(node, se.service, "start", se.cmd)
                elif isinstance(se, StopLocal):
                    if se.service in node.running:
                        node.running[se.service] = "stopping"
                    self._job(node, se.service, "stop", se.cmd)
                elif isinstance(se, FenceForService) and se.nodeid == node.nodeid:
                    self.power_off(node.nodeid, f"self-fence: {se.reason}")
                    return
                elif isinstance(se, FenceForService):
                    stamp = node.membership.stamps().get(se.nodeid, (0, 0))
                    node.fencing.add_victim(self.t, se.nodeid, stamp[0], stamp[1], se.reason, force=True)
                elif isinstance(se, RequestDone):
                    self.requests.append(se)
                elif isinstance(se, Send):
                    self._send(node.nodeid, se)
                elif isinstance(se, Log):
                    self._log(f"n{node.nodeid}: {se.text}")
            if not busy:
                return
            node.membership.set_dirty(self.t, bool(node.running))
            node.services.local_state(self.t, self._inventory(node))

    def _inventory(self, node: StackNode) -> dict[str, str]:
        return {k: v for k, v in node.running.items()}

    def _send(self, sender: int, e: Send) -> None:
        for to in e.to:
            self.net.send(self.t, sender, to, e.message)

    def _job(self, node: StackNode, service: str, action: str, cmd: int, report: bool = True) -> None:
        ok = self.rng.random() >= self.fail_rate
        self.jobs.append(Job(self.t + self.rng.uniform(0.01, 0.3), node.nodeid, service, action, cmd, ok, report))

    def _emergency(self, node: StackNode, reason: str) -> None:
        assert node.services
        node.services.on_quorum_lost(self.t, reason)
        for service in list(node.running):
            node.running[service] = "stopping"
            self._job(node, service, "stop", 0, report=False)

    def _finish_job(self, job: Job) -> None:
        node = self.nodes[job.node]
        if not node.alive or node.services is None:
            return
        if job.action == "start":
            if job.ok and node.running.get(job.service) == "starting":
                node.running[job.service] = "started"
                outcome = "started"
            else:
                node.running.pop(job.service, None)
                outcome = "start_failed"
        else:
            stop_ok = job.ok or self.rng.random() < 0.5  # stops fail less often than starts
            if stop_ok:
                node.running.pop(job.service, None)
            else:
                node.running[job.service] = "failed"
            outcome = "stopped" if stop_ok else "stop_failed"
        if node.killed:
            return  # no daemon to tell
        assert node.membership is not None
        node.membership.set_dirty(self.t, bool(node.running))
        node.services.local_state(self.t, self._inventory(node))
        if job.report:
            node.services.executor_report(self.t, job.service, job.cmd, outcome, "simulated agent")
        self._drain(node)

    def _finish_fence(self, at: float, fencer: int, victim: int, ok: bool) -> None:
        node = self.nodes[fencer]
        if not node.alive or node.fencing is None or node.paused:
            return
        if ok:
            self.power_off(victim, f"fenced by node {fencer}")
        node.fencing.fence_result(self.t, victim, ok=ok, method="sim", detail="simulated switch", duration=0.1)
        self._drain(node)

    # -------------------------------------------------------------------------------- invariants

    def check(self) -> None:
        owners: dict[str, list[int]] = {}
        for nodeid, node in self.nodes.items():
            if node.alive:
                for service in node.running:
                    owners.setdefault(service, []).append(nodeid)
        for service, nodes in owners.items():
            if len(nodes) > 1:
                raise InvariantViolation(f"S1 violated: service {service} runs on nodes {nodes} at once")

    def check_converged(self) -> None:
        live = [n for n, node in self.nodes.items() if node.alive and not node.paused]
        online = frozenset(live)
        from quorate.core.placement import best_target

        for name, spec in self.specs.items():
            holders = [n for n in live if self.nodes[n].running.get(name) == "started"]
            best, _why = best_target(spec, online)
            if best is None:
                continue
            if not holders:
                states = {n: self.nodes[n].services.records[name].state.value for n in live}  # type: ignore[union-attr]
                raise InvariantViolation(f"service {name} runs nowhere after faults stopped (records: {states})")

    def _log(self, text: str) -> None:
        self.trace.append(f"{self.t:9.3f} {text}")


def default_services(n: int) -> dict[str, ServiceSpec]:
    ring = DomainSpec("ring01", ordered=True, restricted=True, nofailback=False, priorities={1: 10, 2: 20, 3: 30})
    free = DomainSpec("any", ordered=False, restricted=False, nofailback=False, priorities={})
    return {
        "test": ServiceSpec("test", domain=ring, recovery="relocate"),
        "web": ServiceSpec("web", domain=free),
        "db": ServiceSpec("db", domain=ring, recovery="restart", max_restarts=2),
    }


SCENARIOS = ("crash", "pause", "partition", "failures", "kill")


def run(seed: int, scenario: str, *, verbose: bool = False) -> StackSim:
    rng = random.Random(f"stack:{scenario}:{seed}")
    n = rng.choice([3, 3, 4])
    sim = StackSim(rng, n, default_services(n))
    for i in range(1, n + 1):
        sim.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda s, i=i: s.start(i))
    t = 4.0
    for _ in range(rng.randint(1, 3)):
        victim = rng.randint(1, n)
        t += rng.uniform(0.5, 3.0)
        if scenario == "crash":
            sim.schedule(t, f"crash {victim}", lambda s, v=victim: s.power_off(v, "crash"))
            t += rng.uniform(1, 4)
            sim.schedule(t, f"restart {victim}", lambda s, v=victim: s.nodes[v].alive or s.start(v))
        elif scenario == "pause":
            sim.schedule(t, f"pause {victim}", lambda s, v=victim: s.pause(v))
            t += rng.uniform(0.5, 4)
            sim.schedule(t, f"resume {victim}", lambda s, v=victim: s.resume(v))
        elif scenario == "kill":
            by = rng.choice([i for i in range(1, n + 1) if i != victim])
            sim.schedule(t, f"node {by}: cman_tool kill -n {victim}", lambda s, b=by, v=victim: s.admin_kill(b, v))
            t += rng.uniform(1, 4)
            sim.schedule(t, f"restart {victim}", lambda s, v=victim: s.nodes[v].alive or s.start(v))
        elif scenario == "partition":
            ids = list(range(1, n + 1))
            rng.shuffle(ids)
            cut = rng.randint(1, n - 1)
            groups = [set(ids[:cut]), set(ids[cut:])]
            sim.schedule(t, f"partition {groups}", lambda s, g=groups: s.net.partition(g))
            t += rng.uniform(0.5, 4)
            sim.schedule(t, "heal", lambda s: s.net.heal())
        else:
            sim.schedule(t, "agents and fence devices fail 30%", lambda s: s.set_failures(0.3))
            t += rng.uniform(0.2, 1.0)
            sim.schedule(t, f"crash {victim}", lambda s, v=victim: s.power_off(v, "crash"))
            t += rng.uniform(1, 4)
            sim.schedule(t, "agents and fence devices healthy", lambda s: s.set_failures(0.0))
            sim.schedule(t + 0.5, f"restart {victim}", lambda s, v=victim: s.nodes[v].alive or s.start(v))

    def recover(s: StackSim) -> None:
        s.net.heal()
        s.set_failures(0.0)
        for i, node in s.nodes.items():
            if node.alive and node.killed:  # never fenced (the fence failed): the administrator reboots it
                s.power_off(i, "rebooted by the administrator")
            if not node.alive:
                s.start(i)
            elif node.paused:
                s.resume(i)

    sim.schedule(t + 0.01, "all faults stop", recover)
    finish(sim, t + 15.0, sim.check_converged, verbose=verbose)
    return sim


def main(argv: list[str] | None = None) -> int:
    return sweep_main(
        argv,
        module="quorate.sim.stack",
        description=__doc__,
        scenarios=SCENARIOS,
        default_seeds="0-49",
        run=lambda seed, scenario, verbose: run(seed, scenario, verbose=verbose),
    )


if __name__ == "__main__":
    sys.exit(main())
