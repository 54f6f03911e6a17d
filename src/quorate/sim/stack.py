"""The whole stack on virtual time: every node a real `NodeCore`, with simulated agents, fence devices and power.

Each host runs the daemon's node core unchanged (`quorate.sim.host`). Its executor is simulated: starting or
stopping a service takes a while and may fail; a fence device powers a node off after a delay, and may fail or
hang. What an executor really runs is the ground truth the invariants are checked on, not what any core
believes:

* S1: a service runs on at most one machine at any instant (a paused or killed daemon's services keep running:
  that is exactly the case fencing exists for);
* nothing starts on a node that is not in a quorate view (checked as the start leaves the node core);
* only the coordinator of a quorate view runs fences (checked as the fence starts);
* no two disjoint views are quorate at once;
* liveness: after faults stop, every enabled service runs on a node its failover domain allows.

The ``reconfigure`` scenario pushes new configuration files through the real distribution (`ccs_tool update`
from a random node) whose activation changes the resources of some services: each node that runs one of them
restarts it on its own (stop with the old tree, start with the new: R-90), which no coordinator commands; node
crashes and failing agents come in between.

`python -m quorate.sim.stack --seed N --scenario NAME` replays one run.
"""

from __future__ import annotations

import itertools
import random
import sys

from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_io import ConfigActivated, KillMember, PushConfig, ServiceRequest
from quorate.core.node_settings import NodeSettings
from quorate.core.placement import DomainSpec, ServiceSpec, best_target
from quorate.core.service_vocabulary import St
from quorate.sim.kernel import InvariantViolation
from quorate.sim.sweep import finish, sweep_main
from quorate.sim.world import TemplateModel, World, make_file, version_of

NAMES = ["balthasar", "casper", "melchior", "adam", "lilith"]
SCENARIOS = ("crash", "pause", "partition", "failures", "kill", "reconfigure")


def default_services(n: int) -> dict[str, ServiceSpec]:
    ring = DomainSpec("ring01", ordered=True, restricted=True, nofailback=False, priorities={1: 10, 2: 20, 3: 30})
    free = DomainSpec("any", ordered=False, restricted=False, nofailback=False, priorities={})
    return {
        "test": ServiceSpec("test", domain=ring, recovery="relocate"),
        "web": ServiceSpec("web", domain=free),
        "db": ServiceSpec("db", domain=ring, recovery="restart", max_restarts=2),
    }


def node_names(n: int) -> dict[int, str]:
    """The hosts' names: the article's machines for small clusters, node01... beyond five."""
    if n <= len(NAMES):
        return {i: f"{NAMES[i - 1]}.localdomain" for i in range(1, n + 1)}
    return {i: f"node{i:02d}" for i in range(1, n + 1)}


def stack_settings(n: int, services: dict[str, ServiceSpec], *, token: float = 1.0) -> TemplateModel:
    nodes = tuple(NodeSpec(i, name, 1) for i, name in node_names(n).items())
    membership = MembershipConfig(nodes=nodes, expected_votes=n, token=token, config_version=1)
    fencing = FencingConfig(node_names={s.nodeid: s.name for s in nodes}, post_join_delay=1.0, override_time=0.5)
    return RestartingModel(lambda i: NodeSettings(i, membership, fencing, services, status_interval=5.0))


class RestartingModel(TemplateModel):
    """Files as `TemplateModel`'s; one naming ``restart:a,b;`` changes the resources of services a and b, as the
    configuration layer would say of a new file that edits their trees (each running copy restarts: R-90)."""

    def activation(self, nodeid: int, old: bytes, new: bytes) -> ConfigActivated:
        marker = new.find(b"restart:")
        names = new[marker + 8 : new.find(b";", marker)].decode().split(",") if marker >= 0 else []
        return ConfigActivated(self.settings(nodeid, new), new, {name: "restart" for name in names if name})


def resources_changed(version: int, names: list[str]) -> bytes:
    """A cluster.conf of ``version`` whose activation restarts ``names`` where they run (`RestartingModel`)."""
    return make_file(version).replace(b">", f">restart:{','.join(names)};".encode(), 1)


class StackSim:
    """A `World` of ``n`` hosts running ``services``, with the stack's invariants checked after every event."""

    def __init__(self, rng: random.Random, n: int, services: dict[str, ServiceSpec], *, token: float = 1.0) -> None:
        self.specs = services
        names = node_names(n)
        self.world = World(rng, stack_settings(n, services, token=token), range(1, n + 1), names=names)
        self.kernel = self.world.kernel
        self.trace = self.kernel.trace
        self._gained: list[str] = []  # every host appends here (`SimHost.truth_gained`)
        for host in self.world.hosts.values():
            host.truth_gained = self._gained
        self.kernel.checks.append(self.check)

    def run_until(self, end: float) -> None:
        self.kernel.run_until(end)

    def check(self) -> None:
        """The world's S1 and split-brain checks, after every event, in time linear in the hosts.

        S1 can break only when a service appears on a host (`SimHost.truth_gained`; powering off or on empties a
        host, and a stop only changes a state), so only the services that appeared since the last event are
        looked up on every powered host. Quorate hosts of one view share one member set: the set of distinct
        member sets is compared pairwise (`World.check_split_brain`). S1 finds exactly the violations the world's
        full scan (`World.check_one_owner`) finds."""
        hosts = self.world.hosts
        if self._gained:
            gained = set(self._gained)
            self._gained.clear()
            for service in sorted(gained):
                where = [h.name for h in hosts.values() if h.powered and service in h.truth]
                if len(where) > 1:
                    raise InvariantViolation(f"S1 violated: service {service} runs on {where} at once")
        self.world.check_split_brain()

    def check_converged(self) -> None:
        live = [h for h in self.world.live()]
        online = frozenset(h.nodeid for h in live)
        for name, spec in self.specs.items():
            holders = [h.name for h in live if h.truth.get(name) == "started"]
            best, _why = best_target(spec, online)
            if best is None:
                continue
            if not holders:
                states = {
                    h.name: h.core.services.records[name].state.value for h in live if h.core is not None
                }
                raise InvariantViolation(f"service {name} runs nowhere after faults stopped (records: {states})")

    def set_failures(self, rate: float) -> None:
        for host in self.world.hosts.values():
            host.faults.agent_fail = host.faults.fence_fail = rate

    def schedule_recovery(self, t: float) -> None:
        """What follows the faults, at ``t``: the network heals, agents and fence devices work again, and every
        machine runs its daemon (powered on, resumed, or rebooted by hand when its daemon exited unfenced). Then
        the administrator's rounds: at t + 4 s, power on what was fenced since (a stop that failed just before
        the faults stopped is fenced after them, and with half the nodes off no view is quorate: right, but not
        what the end check is about); at t + 6 s, read clustat and enable each service whose start failed on
        every node that may run it (R-54 keeps it stopped until someone does)."""
        world, hosts = self.world, self.world.hosts

        def recover() -> None:
            world.net.heal()
            self.set_failures(0.0)
            for host in hosts.values():
                if host.powered and host.core is None:  # its daemon exited and was never fenced
                    host.power_off("rebooted by the administrator")
                if not host.powered:
                    host.power_on()
                elif host.paused:
                    host.resume()

        def power_on_the_fenced() -> None:
            for host in hosts.values():
                if not host.powered:
                    host.power_on()

        def enable_what_failed_everywhere() -> None:
            coordinators = [h for h in world.live() if h.core is not None and h.core.services.acting]
            for host in coordinators[:1]:
                for name, record in sorted(host.core.services.records.items()):
                    if record.state is St.STOPPED and record.held and "start failed" in record.reason:
                        host.request(ServiceRequest("enable", name))

        world.schedule(t + 0.01, "all faults stop", recover)
        world.schedule(t + 4.0, "power on what was fenced since", power_on_the_fenced)
        world.schedule(t + 6.0, "clusvcadm -e for what failed everywhere", enable_what_failed_everywhere)


def run(seed: int, scenario: str, *, verbose: bool = False) -> StackSim:
    rng = random.Random(f"stack:{scenario}:{seed}")
    n = rng.choice([3, 3, 4])
    sim = StackSim(rng, n, default_services(n))
    world = sim.world
    hosts = world.hosts
    for i in range(1, n + 1):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: hosts[i].power_on())
    t = 4.0
    versions = itertools.count(2)  # the files pushed in the reconfigure scenario
    for _ in range(rng.randint(1, 3)):
        victim = rng.randint(1, n)
        t += rng.uniform(0.5, 3.0)
        if scenario == "crash":
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
            t += rng.uniform(1, 4)
            world.schedule(t, f"restart {victim}", lambda v=victim: hosts[v].power_on())
        elif scenario == "pause":
            world.schedule(t, f"pause {victim}", lambda v=victim: hosts[v].pause())
            t += rng.uniform(0.5, 4)
            world.schedule(t, f"resume {victim}", lambda v=victim: hosts[v].resume())
        elif scenario == "kill":
            by = rng.choice([i for i in range(1, n + 1) if i != victim])
            order = f"node {by}: cman_tool kill -n {victim}"
            world.schedule(t, order, lambda b=by, v=victim: hosts[b].request(KillMember(v)))
            t += rng.uniform(1, 4)
            world.schedule(t, f"restart {victim}", lambda v=victim: hosts[v].power_on())
        elif scenario == "partition":
            ids = list(range(1, n + 1))
            rng.shuffle(ids)
            cut = rng.randint(1, n - 1)
            groups = [set(ids[:cut]), set(ids[cut:])]
            world.schedule(t, f"partition {groups}", lambda g=groups: world.net.partition(g))
            t += rng.uniform(0.5, 4)
            world.schedule(t, "heal", world.net.heal)
        elif scenario == "reconfigure":
            failing, crash = rng.random() < 0.5, rng.random() < 0.5
            if failing:  # the restarts' stops and starts may fail too
                world.schedule(t, "agents and fence devices fail 30%", lambda: sim.set_failures(0.3))
            for _step in range(rng.randint(1, 3)):
                changed = sorted(rng.sample(sorted(sim.specs), rng.randint(1, len(sim.specs))))
                by = rng.randint(1, n)
                data = resources_changed(next(versions), changed)
                world.schedule(t, f"node {by}: ccs_tool update (resources of {changed} changed)",
                               lambda b=by, d=data: push(b, d))  # fmt: skip
                t += rng.uniform(0.05, 1.5)
            if crash:
                world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
                t += rng.uniform(1, 4)
            world.schedule(t, "agents and fence devices healthy", lambda: sim.set_failures(0.0))
            if crash:
                world.schedule(t + 0.5, f"restart {victim}", lambda v=victim: hosts[v].power_on())
        else:
            world.schedule(t, "agents and fence devices fail 30%", lambda: sim.set_failures(0.3))
            t += rng.uniform(0.2, 1.0)
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
            t += rng.uniform(1, 4)
            world.schedule(t, "agents and fence devices healthy", lambda: sim.set_failures(0.0))
            world.schedule(t + 0.5, f"restart {victim}", lambda v=victim: hosts[v].power_on())

    def push(nodeid: int, data: bytes) -> None:
        host = hosts[nodeid]
        if host.running_daemon and not host.paused:
            host.request(PushConfig(data, version_of(data)))

    sim.schedule_recovery(t)
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
