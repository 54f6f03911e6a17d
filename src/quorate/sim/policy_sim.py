"""The whole stack under votequorum's policies: last man standing and the automatic tie-breaker, on virtual time.

Theory of operation
-------------------
The nodes are the stack simulator's (`quorate.sim.stack`: every node a real `NodeCore`, simulated agents, fence
devices and power switches), configured with ``last_man_standing`` (and the ``wait_for_all`` it requires), with
``auto_tie_breaker``, or with both. Each run first crashes nodes one after the other, then cuts the network into
partitions, crashes more, heals, and finally stops every fault. Fenced nodes sometimes boot again by themselves
(a fence that reboots), so nodes that knew nothing of a lowered count come back while the survivors still use it.

Invariants, after every event, on top of the stack's (S1 on the ground truth, nothing starts on an inquorate
node, only a quorate coordinator fences):

* no two disjoint views are quorate at once (`World.check_split_brain`), which is what both policies could
  break;
* last man standing keeps what it promises: after crashes spaced by more than the window (plus the time to
  fence), the survivors are quorate while two or more of them remain, and the last one too with the
  tie-breaker policy when it is the tie-breaker's half (checked before the partitions start);
* the tie-breaker decides an exact half: after a clean 2/2 split of four nodes, the half holding the
  tie-breaker node is quorate once the views settled.

Liveness: after the faults stop, every service runs again.

Scenarios: ``lms``, ``atb``, ``lms_atb``. A failing seed prints the one command that replays it:
``python -m quorate.sim.policy_sim --seed N --scenario NAME -v``.
"""

from __future__ import annotations

import random
import sys
from dataclasses import replace

from quorate.core.quorum_policies import QuorumPolicies, tie_breaker_node
from quorate.sim.kernel import InvariantViolation
from quorate.sim.stack import StackSim, default_services, stack_settings
from quorate.sim.sweep import finish, sweep_main
from quorate.sim.world import TemplateModel

SCENARIOS = ("lms", "atb", "lms_atb")
WINDOW = 3.0
TOKEN = 1.0


class PolicySim(StackSim):
    """The stack simulator with the policies in every node's settings."""

    def __init__(self, rng: random.Random, n: int, policies: QuorumPolicies) -> None:
        services = default_services(n)
        super().__init__(rng, n, services, token=TOKEN)
        self.policies = policies
        base = stack_settings(n, services, token=TOKEN).template

        def template(i: int):  # type: ignore[no-untyped-def]
            s = base(i)
            membership = replace(s.membership, policies=policies, wait_for_all=policies.last_man_standing)
            return replace(s, membership=membership)

        self.world.model = TemplateModel(template)

    def check(self) -> None:
        super().check()
        self.world.check_views()  # each core's own invariants too (a tie-broken quorum below the bar included)

    def quorate_hosts(self) -> list[int]:
        return sorted(h.nodeid for h in self.world.live() if h.core is not None and h.core.quorate)

    def expect_quorate(self, nodes: list[int], why: str) -> None:
        for nodeid in nodes:
            host = self.world.hosts[nodeid]
            if host.core is None or not host.core.quorate:
                reason = host.core.membership.quorum.reason if host.core is not None else "no daemon"
                raise InvariantViolation(f"{host.name} is not quorate {why}: {reason}")


def run(seed: int, scenario: str, *, verbose: bool = False) -> PolicySim:
    rng = random.Random(f"policy:{scenario}:{seed}")
    lms = scenario in ("lms", "lms_atb")
    atb = scenario in ("atb", "lms_atb")
    n = 4 if scenario == "atb" else rng.choice([3, 4, 5])
    choice: str | tuple[int, ...] = rng.choice(["lowest", "highest", "list"])
    if choice == "list":
        ids = list(range(1, n + 1))
        rng.shuffle(ids)
        choice = tuple(ids[: rng.randint(1, n)])
    policies = QuorumPolicies(last_man_standing=lms, lms_window=WINDOW, auto_tie_breaker=atb, tie_breaker=choice)
    sim = PolicySim(rng, n, policies)
    world = sim.world
    hosts = world.hosts
    if rng.random() < 0.5:
        world.auto_boot = (2.0, 8.0)  # fences that reboot: the victims come back knowing nothing
    for i in range(1, n + 1):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: hosts[i].power_on())
    t = 6.0
    alive = list(range(1, n + 1))
    if lms:
        # Successive crashes, each after the window (and the fence) passed: the survivors must stay quorate.
        rounds = rng.randint(1, n - 1)
        for _ in range(rounds):
            victim = rng.choice(alive)
            alive.remove(victim)
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
            t += WINDOW + rng.uniform(4.0, 7.0)
            expected = list(alive)
            if len(alive) == 1:
                breaker = tie_breaker_node(policies, frozenset(alive) | {victim})
                if not (atb and breaker in alive):
                    expected = []
            if world.auto_boot is None:
                world.schedule(
                    t,
                    f"check: {expected} quorate",
                    lambda e=expected: sim.expect_quorate(e, "after crashes spaced by the window"),
                )
            t += 0.5
    elif n == 4:
        # A clean 2/2 split: the tie-breaker's half stays quorate.
        ids = list(range(1, n + 1))
        rng.shuffle(ids)
        groups = [set(ids[:2]), set(ids[2:])]
        world.schedule(t, f"partition {groups}", lambda g=groups: world.net.partition(g))
        breaker = tie_breaker_node(policies, frozenset(ids))
        winners = [sorted(g) for g in groups if breaker in g]
        if winners:
            world.schedule(
                t + 4.0,
                f"check: {winners[0]} quorate",
                lambda w=winners[0]: sim.expect_quorate(w, "in the tie-breaker's half of a 2/2 split"),
            )
        t += 4.5
        world.schedule(t, "heal", world.net.heal)
        t += 4.0
    for _ in range(rng.randint(2, 5)):
        t += rng.uniform(0.5, WINDOW + 3.0)
        if rng.random() < 0.6:
            ids = list(range(1, n + 1))
            rng.shuffle(ids)
            cuts = sorted(rng.sample(range(1, n), rng.randint(1, min(2, n - 1))))
            groups = [set(ids[a:b]) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
            world.schedule(t, f"partition {groups}", lambda g=groups: world.net.partition(g))
            t += rng.uniform(0.5, 2 * WINDOW + 4.0)
            if rng.random() < 0.7:
                world.schedule(t, "heal", world.net.heal)
        else:
            victim = rng.randint(1, n)
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))

    def recover() -> None:
        world.net.heal()
        world.auto_boot = (1.0, 3.0)  # a node fenced from now on boots again: every node must end up back
        for host in hosts.values():
            if host.powered and host.core is None:
                host.power_off("rebooted by the administrator")
            if not host.powered:
                host.power_on()
            elif host.paused:
                host.resume()

    world.schedule(t + 0.01, "all faults stop", recover)
    finish(sim, t + 25.0, sim.check_converged, verbose=verbose)
    return sim


def main(argv: list[str] | None = None) -> int:
    return sweep_main(
        argv,
        module="quorate.sim.policy_sim",
        description=__doc__,
        scenarios=SCENARIOS,
        default_seeds="0-199",
        run=lambda seed, scenario, verbose: run(seed, scenario, verbose=verbose),
    )


if __name__ == "__main__":
    sys.exit(main())
