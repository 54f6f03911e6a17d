"""Several `ServiceManager`s wired in memory, with obedient executors and an explicit clock.

Each node has a manager and an executor that behaves as the daemon's does: a start sets the service
`starting`, then `started` (or nothing, if it fails) and reports; a stop sets it `stopping`, then nothing (or
`failed`) and reports; every change is told to the manager as the executor's facts. Every message crosses the
wire format (`encode`/`decode`) and is delivered only between members of the current view, as the daemon does.

Executors finish their jobs at once unless `auto` is off; then the jobs wait for `finish`, so a test can look
at a command in flight. Datagrams are delivered at once unless `slow` is on; `deaf` nodes lose theirs.
`fail` lists (node, service, action) triples whose agent fails. `gone` is what the fencing layer would call
safely gone (fence confirmed or clean leave). Whenever an executor starts a service, S1 is checked on the
executors' facts: no other live node may hold it, in any state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.features import SUPPORTED
from quorate.core.messages import Message, ViewId, decode, encode
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.service_records import Record
from quorate.core.service_replication import inventory_deadline
from quorate.core.services import (
    Action,
    FenceForService,
    Outcome,
    RequestDone,
    ServiceManager,
    St,
    StartLocal,
    StopLocal,
)

NAMES = {1: "balthasar", 2: "casper", 3: "melchior", 4: "node4"}


def domain(
    *nodes: int,
    ordered: bool = False,
    restricted: bool = False,
    nofailback: bool = False,
    priorities: dict[int, int] | None = None,
) -> DomainSpec:
    prio = priorities if priorities is not None else {n: (i + 1 if ordered else 0) for i, n in enumerate(nodes)}
    return DomainSpec("dom", ordered=ordered, restricted=restricted, nofailback=nofailback, priorities=prio)


@dataclass
class Job:
    node: int
    service: str
    cmd: int
    action: Action


class Cluster:
    def __init__(self, specs: dict[str, ServiceSpec] | list[ServiceSpec], n: int = 3) -> None:
        self.specs = specs if isinstance(specs, dict) else {s.name: s for s in specs}
        self.now = 0.0
        self.gone: set[int] = set()
        self.managers = {i: self._manager(i) for i in range(1, n + 1)}
        self.alive = set(self.managers)
        self.executors: dict[int, dict[str, str]] = {i: {} for i in self.managers}
        self.jobs: deque[Job] = deque()
        self.wire: deque[tuple[int, int, bytes]] = deque()
        self.auto = True
        self.fail: set[tuple[int, str, Action]] = set()
        self.deaf: set[int] = set()  # nodes that receive nothing (their datagrams are lost)
        self.slow = False  # datagrams wait on the wire until `slow` is off again
        self.fence_first = False  # the crashed nodes not in `gone` count as awaiting their fence (`_unfenced`)
        self.copies_allowed = False  # else two executors holding one service at once fail the test (S1)
        self.members: frozenset[int] = frozenset()
        self.seen: dict[int, frozenset[int]] = {}  # each node's last view
        self.seq = 0
        self.answers: dict[tuple[int, int], RequestDone] = {}
        self.fences: list[tuple[int, FenceForService]] = []  # (node that asked, the request)
        self.logs: list[tuple[int, str]] = []
        self.commands: list[tuple[int, str, Action]] = []  # every command an executor received, in order

    def _manager(self, nodeid: int) -> ServiceManager:
        return ServiceManager(dict(self.specs), NAMES, nodeid, safely_gone=self.gone.__contains__,
                              unfenced=self._unfenced)  # fmt: skip

    def _unfenced(self) -> frozenset[int]:
        """What the fencing layer would list as victims, when ``fence_first`` is on: crashed, not yet fenced."""
        return frozenset(set(self.managers) - self.alive - self.gone) if self.fence_first else frozenset()

    # ------------------------------------------------------------------------------- membership

    def form(self, members: set[int] | frozenset[int], *, quorate: bool = True) -> None:
        """Install a view of `members` on each of them; the lowest id coordinates (as membership does)."""
        self.seq += 1
        members = frozenset(members)
        coordinator = min(members)
        self.members = members
        for nodeid in sorted(members):
            # As membership does: who joined and who failed is relative to this node's previous view.
            before = self.seen.get(nodeid, frozenset())
            view = ViewId(self.seq, coordinator)
            installed = ViewInstalled(view, members, members - before, frozenset(), before - members, quorate, "test")
            self.seen[nodeid] = members
            self.managers[nodeid].on_view(self.now, installed, coordinator=nodeid == coordinator)
        self.pump()

    def crash(self, nodeid: int) -> None:
        """Power `nodeid` off (its executor forgets everything) and form a view of the others."""
        self.alive.discard(nodeid)
        self.executors[nodeid] = {}
        self.jobs = deque(job for job in self.jobs if job.node != nodeid)
        self.form(self.members - {nodeid})

    def restart(self, nodeid: int) -> None:
        """A new run of `nodeid` joins (it stopped everything at start, R-30)."""
        self.managers[nodeid] = self._manager(nodeid)
        self.seen.pop(nodeid, None)
        self.alive.add(nodeid)
        self.form(self.members | {nodeid})

    # ---------------------------------------------------------------------------------- driving

    def pump(self) -> None:
        for _ in range(max(10_000, 200 * len(self.specs))):  # one datagram or job a round: bounded, never a spin
            moved = False
            for nodeid in sorted(self.alive):
                for effect in self.managers[nodeid].take_effects():
                    moved = True
                    self._carry_out(nodeid, effect)
            if self.wire and not self.slow:
                sender, to, data = self.wire.popleft()
                if to in self.alive and to in self.members and sender in self.members and to not in self.deaf:
                    self.managers[to].receive(self.now, sender, decode(data))
                moved = True
            elif self.auto and self.jobs:
                job = self.jobs.popleft()
                self._finish(job, ok=(job.node, job.service, job.action) not in self.fail)
                moved = True
            if not moved and not self._inventory_timer():
                return
        raise AssertionError("the managers never settle")

    def _inventory_timer(self) -> bool:
        """Quiet, but a member holds back an inventory (INVENTORY_SPACING): time passes to it, as the daemon's
        timer would let it, and the member sends it."""
        due = [(t, n) for n in sorted(self.alive) if (t := inventory_deadline(self.managers[n])) is not None]
        if not due:
            return False
        self.now = max(self.now, min(due)[0])
        for at, nodeid in due:
            if at <= self.now:
                self.managers[nodeid].tick(self.now)
        return True

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for nodeid in sorted(self.alive):
            self.managers[nodeid].tick(self.now)
        self.pump()

    def request(self, node: int, op: str, service: str = "svc", target: int = 0) -> RequestDone | None:
        """clusvcadm typed on `node`; the answer once everything settled (None if none came)."""
        req = self.managers[node].request(self.now, op, service, target)
        self.pump()
        return self.answers.get((node, req))

    def finish(self, node: int, service: str = "svc", *, ok: bool = True) -> None:
        """With `auto` off: the executor of `node` finishes its oldest job for `service`."""
        job = next(j for j in self.jobs if j.node == node and j.service == service)
        self.jobs.remove(job)
        self._finish(job, ok=ok)
        self.pump()

    def executor_holds(self, node: int, service: str, state: str | None) -> None:
        """What `node`'s executor runs changed by itself (a stop after a quorum loss, say)."""
        self._set(node, service, state)
        self.pump()

    def status_failed(self, node: int, service: str = "svc") -> None:
        """A periodic status check of `service` failed on `node`."""
        self.managers[node].executor_report(self.now, service, 0, Outcome.STATUS_FAILED, "status returned 1")
        self.pump()

    # ------------------------------------------------------------------------------- observing

    @property
    def coordinator(self) -> ServiceManager:
        return self.managers[min(self.members)]

    def record(self, service: str = "svc") -> Record:
        return self.coordinator.records[service]

    def where(self, service: str = "svc") -> list[int]:
        """The nodes whose executor really holds `service` (in any state)."""
        return sorted(n for n in self.alive if service in self.executors[n])

    def started_on(self, service: str = "svc") -> list[int]:
        return sorted(n for n in self.alive if self.executors[n].get(service) == "started")

    def starts(self, service: str = "svc") -> list[int]:
        return [node for node, name, action in self.commands if name == service and action is Action.START]

    # --------------------------------------------------------------------------------- internals

    def _carry_out(self, nodeid: int, effect: object) -> None:
        if isinstance(effect, Send):
            for to in effect.to:
                self.wire.append((nodeid, to, encode(effect.message)))
        elif isinstance(effect, StartLocal | StopLocal):
            action = Action.START if isinstance(effect, StartLocal) else Action.STOP
            self.commands.append((nodeid, effect.service, action))
            self._set(nodeid, effect.service, "starting" if action is Action.START else "stopping")
            self.jobs.append(Job(nodeid, effect.service, effect.cmd, action))
        elif isinstance(effect, FenceForService):
            self.fences.append((nodeid, effect))
        elif isinstance(effect, RequestDone):
            self.answers[(nodeid, effect.req)] = effect
        elif isinstance(effect, Log):
            self.logs.append((nodeid, effect.text))
        else:
            raise AssertionError(f"unexpected effect {effect!r}")

    def _set(self, nodeid: int, service: str, state: str | None) -> None:
        if state is None:
            self.executors[nodeid].pop(service, None)
        else:
            others = [n for n in self.where(service) if n != nodeid]
            if state in ("starting", "started") and others and not self.copies_allowed:
                raise AssertionError(f"S1 violated: service {service} starts on {nodeid} while {others} hold it")
            self.executors[nodeid][service] = state
        self.managers[nodeid].local_state(self.now, self.executors[nodeid])

    def _finish(self, job: Job, *, ok: bool) -> None:
        if job.node not in self.alive:
            return
        manager = self.managers[job.node]
        if job.action is Action.START:
            self._set(job.node, job.service, "started" if ok else None)
            outcome = Outcome.STARTED if ok else Outcome.START_FAILED
        else:
            self._set(job.node, job.service, None if ok else "failed")
            outcome = Outcome.STOPPED if ok else Outcome.STOP_FAILED
        manager.executor_report(self.now, job.service, job.cmd, outcome, "simulated agent")


def deliver_raw(manager: ServiceManager, now: float, sender: int, message: Message) -> None:
    """Hand `manager` a message from `sender` as the daemon would: through the wire format."""
    manager.receive(now, sender, decode(encode(message)))


def state_of(cluster: Cluster, service: str = "svc") -> tuple[St, int]:
    record = cluster.record(service)
    return record.state, record.owner


OLD_RELEASE = frozenset({"key-rotation"})  # what 0.3.0 announces
FEW_SERVICES = [f"svc{i}" for i in range(6)]


class FeatureCluster(Cluster):
    """The wired cluster, each node announcing its own features: this release's, or ``older_features`` for the
    nodes in ``older``. Without ``specs``, six services, each on its own node's domain."""

    def __init__(
        self,
        n: int = 3,
        *,
        older: frozenset[int] = frozenset(),
        specs: list[ServiceSpec] | None = None,
        older_features: frozenset[str] = OLD_RELEASE,
    ) -> None:
        self.features = {i: older_features if i in older else SUPPORTED for i in range(1, n + 1)}
        if specs is None:
            specs = [ServiceSpec(name, domain=domain(i % n + 1)) for i, name in enumerate(FEW_SERVICES)]
        super().__init__(specs, n)

    def _manager(self, nodeid: int) -> ServiceManager:
        return ServiceManager(
            dict(self.specs), NAMES, nodeid, safely_gone=self.gone.__contains__, shared_features=self._shared
        )

    def _shared(self, members: frozenset[int]) -> frozenset[str]:
        shared = SUPPORTED
        for nodeid in members:
            shared &= self.features[nodeid]
        return shared

    def on_wire(self) -> list[tuple[int, int, object]]:
        """Hold the datagrams on the wire: (sender, receiver, message) of each, in order."""
        return [(sender, to, decode(data)) for sender, to, data in self.wire]
