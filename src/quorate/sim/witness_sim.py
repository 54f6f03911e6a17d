"""The whole stack with a quorum witness on a third machine, on virtual time.

Theory of operation
-------------------
The nodes are the stack simulator's (`quorate.sim.stack`: every node a real `NodeCore`, simulated agents and
power switches) with a ``<witness>`` in their settings; the witness is one more machine on the same simulated
network, at address `WITNESS_ID`, running the daemon's pure arbiter (`quorate.core.witness_server`) on its own
clock. Its links can be cut like any other (both ways or one way), and it can be killed and restarted (it then
forgets everything, as the real one does). The datagrams are encoded and decoded as on the wire.

Invariants, after every event, on top of the stack's (S1 on the ground truth, nothing starts on an inquorate
node, only a quorate coordinator fences, no two disjoint quorate views):

* W-1: no two nodes whose views are disjoint count the witness's votes at once;
* W-2: no node counts the witness's votes while its view is disjoint from the members of a grant the witness
  (this run or an earlier one) still considers running: a vote given to another partition is never used.

Liveness: after the faults stop, every service runs again and every running node counts the witness's vote.

Scenarios: ``split`` (two nodes, ffsplit, cut in halves and healed, repeatedly), ``restart`` (the witness
killed and restarted while the nodes run, and during a split), ``oneway`` (links to and from the witness cut
in one direction, with splits), ``lms`` (three or four nodes, last man standing, crashed one after the other
then brought back). `python -m quorate.sim.witness_sim --seed N --scenario NAME -v` replays one run.
"""

from __future__ import annotations

import random
import sys
from dataclasses import replace

from quorate.core.membership import MembershipConfig
from quorate.core.node_io import Effect
from quorate.core.witness_driver import SendToWitness
from quorate.core.witness_protocol import Algorithm, WitnessAnswer, WitnessAsk, WitnessSettings, decode, encode
from quorate.core.witness_server import WitnessServer
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation
from quorate.sim.stack import StackSim, default_services, stack_settings
from quorate.sim.sweep import finish, sweep_main
from quorate.sim.world import TemplateModel

WITNESS_ID = 100
CLUSTER = ("alpha", 4242)
SCENARIOS = ("split", "restart", "oneway", "lms")


class SimWitness:
    """The witness machine: an arbiter that lives until killed, and the grants every run of it gave."""

    def __init__(self, sim: WitnessSim, lease: float) -> None:
        self.sim = sim
        self.lease = lease
        self.server: WitnessServer | None = None
        self.runs = 0
        self.grants: list[tuple[float, int, frozenset[int]]] = []  # (expires, node, members), every run's

    def start(self) -> None:
        if self.server is not None:
            return
        now = self.sim.kernel.t
        self.server = WitnessServer(now=now, max_lease=self.lease)
        self.server.add_cluster(*CLUSTER, now)
        self.runs += 1
        self.sim.world.log(f"witness starts (run {self.runs})")

    def kill(self) -> None:
        if self.server is not None:
            self.sim.world.log("witness killed")
        self.server = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def receive(self, sender: int, payload: bytes) -> None:
        server = self.server
        if server is None:
            return
        req = decode(payload)
        if not isinstance(req, WitnessAsk) or req.node != sender:
            server.refuse("not a request from its own sender")
            return
        now = self.sim.kernel.t
        answer = server.ask(req, now)
        if answer is None:
            return
        if answer.granted:
            self.grants.append((now + answer.lease, req.node, frozenset(req.members)))
        self.sim.world.net.send(WITNESS_ID, sender, answer)  # type: ignore[arg-type]

    def running_grants(self) -> list[tuple[int, frozenset[int]]]:
        now = self.sim.kernel.t
        self.grants = [g for g in self.grants if g[0] > now]
        return [(node, members) for _e, node, members in self.grants]


class WitnessSim(StackSim):
    """The stack simulator with a witness machine and the witness's invariants."""

    def __init__(
        self,
        rng: random.Random,
        n: int,
        *,
        algorithm: Algorithm = Algorithm.FFSPLIT,
        tie_breaker: str = "lowest",
        lease: float = 4.0,
        token: float = 1.0,
    ) -> None:
        services = default_services(n)
        self.witness_settings = WitnessSettings(
            "witness.sim", algorithm=algorithm, tie_breaker=tie_breaker, lease=lease
        )
        super().__init__(rng, n, services, token=token)
        votes = self.witness_settings.votes_for(n)
        base = stack_settings(n, services, token=token).template

        def template(i: int):  # type: ignore[no-untyped-def]
            s = base(i)
            membership: MembershipConfig = replace(s.membership, expected_votes=n + votes)
            return replace(
                s,
                membership=membership,
                witness=self.witness_settings,
                cluster_name=CLUSTER[0],
                cluster_id=CLUSTER[1],
            )

        self.world.model = TemplateModel(template)
        self.witness = SimWitness(self, lease)
        forward = self.world.net.deliver
        self.world.net.deliver = self._deliver  # type: ignore[method-assign]
        self._forward = forward
        for host in self.world.hosts.values():
            watch = host.on_effect
            host.on_effect = lambda h, e, watch=watch: self._effect(h, e, watch)

    def _effect(self, host: SimHost, effect: Effect, watch: object) -> None:
        if callable(watch):
            watch(host, effect)
        if isinstance(effect, SendToWitness):
            self.world.net.send(host.nodeid, WITNESS_ID, effect.payload)  # type: ignore[arg-type]

    def _deliver(self, sender: int, receiver: int, message: object) -> None:
        if receiver == WITNESS_ID:
            self.witness.receive(sender, message)  # type: ignore[arg-type]
        elif isinstance(message, WitnessAnswer):
            host = self.world.hosts.get(receiver)
            if host is not None:
                host.witness_answer(encode(message))
        else:
            self._forward(sender, receiver, message)  # type: ignore[arg-type]

    def check(self) -> None:
        super().check()
        self.check_witness_votes()

    def check_witness_votes(self) -> None:
        holding = [
            (h, h.core.membership.members)
            for h in self.world.hosts.values()
            if h.core is not None and h.core.witness is not None and h.core.witness.votes > 0
        ]
        for i, (a, members_a) in enumerate(holding):
            for b, members_b in holding[i + 1 :]:
                if not members_a & members_b:
                    raise InvariantViolation(
                        f"W-1: {a.name} (view {sorted(members_a)}) and {b.name} (view {sorted(members_b)}) both "
                        "count the witness's votes"
                    )
        grants = self.witness.running_grants()
        for host, members in holding:
            for node, granted in grants:
                if not members & granted:
                    raise InvariantViolation(
                        f"W-2: {host.name} counts the witness's votes in view {sorted(members)} while the witness "
                        f"gave them to node {node}'s partition {sorted(granted)}"
                    )

    def check_converged(self) -> None:
        """After the faults stopped: every service runs, and every running node counts the witness's vote again
        (the witness and every node lived through at least a lease since)."""
        super().check_converged()
        for host in self.world.live():
            core = host.core
            if core is not None and core.witness is not None and core.witness.votes == 0:
                status = core.witness.status(host.local())
                raise InvariantViolation(
                    f"{host.name} does not count the witness's vote after the faults stopped: {status['last_reason']}"
                )

    def split(self) -> None:
        """Cut the link between nodes 1 and 2 both ways, keeping whatever else is cut."""
        self.world.net.blocked |= {(1, 2), (2, 1)}

    def cut_witness(self, nodes: list[int], *, to_witness: bool = True, from_witness: bool = True) -> None:
        for node in nodes:
            if to_witness:
                self.world.net.one_way(node, WITNESS_ID)
            if from_witness:
                self.world.net.one_way(WITNESS_ID, node)


def run(seed: int, scenario: str, *, verbose: bool = False) -> WitnessSim:
    rng = random.Random(f"witness:{scenario}:{seed}")
    lms = scenario == "lms"
    n = rng.choice([3, 4]) if lms else 2
    algorithm = Algorithm.LMS if lms else Algorithm.FFSPLIT
    tie = rng.choice(["lowest", "highest", str(rng.randint(1, n))])
    sim = WitnessSim(rng, n, algorithm=algorithm, tie_breaker=tie, lease=rng.choice([3.0, 4.0, 6.0]))
    world = sim.world
    hosts = world.hosts
    world.schedule(0.0, "witness starts", sim.witness.start)
    for i in range(1, n + 1):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: hosts[i].power_on())
    t = 10.0
    if lms:
        order = list(range(1, n + 1))
        rng.shuffle(order)
        for victim in order[:-1]:  # all but the last man
            t += rng.uniform(2.0, 8.0)
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
    for _ in range(rng.randint(1, 3)):
        t += rng.uniform(1.0, 6.0)
        if scenario == "split":
            world.schedule(t, "partition [1] [2]", sim.split)
            t += rng.uniform(2.0, 12.0)
            world.schedule(t, "heal", world.net.heal)
        elif scenario == "restart":
            if rng.random() < 0.5:
                world.schedule(t, "witness restarts", sim.witness.restart)
            else:
                world.schedule(t, "witness killed", sim.witness.kill)
                world.schedule(t + rng.uniform(0.5, 8.0), "witness starts again", sim.witness.start)
            if rng.random() < 0.5:
                t += rng.uniform(0.0, 3.0)
                world.schedule(t, "partition [1] [2]", sim.split)
                t += rng.uniform(2.0, 10.0)
                world.schedule(t, "heal", world.net.heal)
        elif scenario == "oneway":
            node = rng.randint(1, n)
            to_w = rng.random() < 0.5
            what = f"{'node ' + str(node) + ' -> witness' if to_w else 'witness -> node ' + str(node)} cut"
            world.schedule(t, what, lambda nd=node, tw=to_w: sim.cut_witness([nd], to_witness=tw, from_witness=not tw))
            t += rng.uniform(0.0, 4.0)
            world.schedule(t, "partition [1] [2]", sim.split)
            t += rng.uniform(2.0, 10.0)
            world.schedule(t, "heal", world.net.heal)

    def recover() -> None:
        world.net.heal()
        sim.witness.start()
        for host in hosts.values():
            if host.powered and host.core is None:
                host.power_off("rebooted by the administrator")
            if not host.powered:
                host.power_on()

    world.schedule(t + 0.01, "all faults stop", recover)
    finish(sim, t + 25.0, sim.check_converged, verbose=verbose)
    return sim


def main(argv: list[str] | None = None) -> int:
    return sweep_main(
        argv,
        module="quorate.sim.witness_sim",
        description=__doc__,
        scenarios=SCENARIOS,
        default_seeds="0-49",
        run=lambda seed, scenario, verbose: run(seed, scenario, verbose=verbose),
    )


if __name__ == "__main__":
    sys.exit(main())
