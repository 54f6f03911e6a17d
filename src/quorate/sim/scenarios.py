"""Seeded fault scenarios. Each one schedules faults in a window, then the run must converge.

A scenario is a pure function of its random generator: the same seed schedules the same faults at the same
virtual times, so `python -m quorate.sim --seed N --scenario NAME` replays a failure exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.sim.cluster import SimCluster


@dataclass(frozen=True)
class Outcome:
    seed: int
    scenario: str
    steps: int
    end: float
    views: int


Scenario = Callable[[random.Random, SimCluster, float], float]
"""Schedules faults starting at `start`; returns the time by which every fault has stopped."""


def _ids(cluster: SimCluster) -> list[int]:
    return sorted(cluster.nodes)


def crash(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start
    for _ in range(rng.randint(1, 3)):
        victim = rng.choice(_ids(c))
        t += rng.uniform(0.5, 3) * c.config.token
        c.schedule(t, f"crash {victim}", lambda cl, v=victim: cl.crash(v))
        t += rng.uniform(0.1, 3) * c.config.token
        c.schedule(t, f"restart {victim}", lambda cl, v=victim: cl.start(v))
    return t


def partition(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start
    for _ in range(rng.randint(1, 3)):
        ids = _ids(c)
        rng.shuffle(ids)
        cut = rng.randint(1, len(ids) - 1)
        groups = [set(ids[:cut]), set(ids[cut:])]
        t += rng.uniform(0.2, 2) * c.config.token
        c.schedule(t, f"partition {groups}", lambda cl, g=groups: cl.net.partition(g))
        t += rng.uniform(0.2, 4) * c.config.token
        c.schedule(t, "heal", lambda cl: cl.net.heal())
    return t


def one_way(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start
    for _ in range(rng.randint(1, 3)):
        a, b = rng.sample(_ids(c), 2)
        t += rng.uniform(0.2, 2) * c.config.token
        c.schedule(t, f"one-way {a}->{b} blocked", lambda cl, a=a, b=b: cl.net.one_way(a, b))
        t += rng.uniform(0.5, 5) * c.config.token
        c.schedule(t, "heal", lambda cl: cl.net.heal())
    return t


def pause(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start
    for _ in range(rng.randint(1, 3)):
        victim = rng.choice(_ids(c))
        t += rng.uniform(0.2, 2) * c.config.token
        c.schedule(t, f"pause {victim}", lambda cl, v=victim: cl.pause(v))
        t += rng.uniform(0.3, 4) * c.config.token
        c.schedule(t, f"resume {victim}", lambda cl, v=victim: cl.resume(v))
    return t


def lossy(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start + rng.uniform(0.1, 1) * c.config.token
    loss, dup = rng.uniform(0.05, 0.3), rng.uniform(0.0, 0.2)

    def degrade(cl: SimCluster) -> None:
        cl.net.loss, cl.net.duplicate, cl.net.jitter = loss, dup, 0.05 * cl.config.token

    c.schedule(t, f"loss {loss:.0%} duplication {dup:.0%} reordering", degrade)
    t += rng.uniform(2, 8) * c.config.token

    def restore(cl: SimCluster) -> None:
        cl.net.heal()
        cl.net.jitter = 0.002

    c.schedule(t, "network restored", restore)
    return t


def flap(rng: random.Random, c: SimCluster, start: float) -> float:
    a, b = rng.sample(_ids(c), 2)
    t = start
    for _ in range(rng.randint(3, 8)):
        t += rng.uniform(0.2, 1.5) * c.config.token
        c.schedule(t, f"cut {a}<->{b}", lambda cl, a=a, b=b: (cl.net.one_way(a, b), cl.net.one_way(b, a)))
        t += rng.uniform(0.1, 1.5) * c.config.token
        c.schedule(t, "heal", lambda cl: cl.net.heal())
    return t


def _rejoin(victim: int) -> Callable[[SimCluster], None]:
    """`cman_tool join` on a node that left (nothing if it crashed or is paused meanwhile)."""

    def do_join(cl: SimCluster) -> None:
        cl.join(victim)

    return do_join


def leave(rng: random.Random, c: SimCluster, start: float) -> float:
    victim = rng.choice(_ids(c))
    t = start + rng.uniform(0.2, 2) * c.config.token

    def do_leave(cl: SimCluster) -> None:
        cl.leave(victim)

    c.schedule(t, f"leave {victim}", do_leave)
    t += rng.uniform(0.5, 3) * c.config.token
    c.schedule(t, f"join {victim}", _rejoin(victim))
    return t


def leave_remove(rng: random.Random, c: SimCluster, start: float) -> float:
    """A node (nodes carry 1 to 3 votes here) leaves with ``remove``: the others lower their expected votes and
    must stay quorate, whatever order the Leave and the new view reach them in; then a crash or a partition
    among the rest, and the leaver comes back."""
    victim = rng.choice(_ids(c))
    t = start + rng.uniform(0.2, 2) * c.config.token

    def do_leave(cl: SimCluster) -> None:
        cl.leave(victim, remove=True)

    c.schedule(t, f"leave {victim} remove", do_leave)
    t += rng.uniform(0.05, 2) * c.config.token
    t = rng.choice([crash, partition, lossy])(rng, c, t)

    t += rng.uniform(0.5, 3) * c.config.token
    c.schedule(t, f"join {victim}", _rejoin(victim))
    return t


def chaos(rng: random.Random, c: SimCluster, start: float) -> float:
    t = start
    for _ in range(rng.randint(2, 4)):
        t = rng.choice([crash, partition, one_way, pause, lossy, flap])(rng, c, t)
    return t


SCENARIOS: dict[str, Scenario] = {
    "startup": lambda rng, c, start: start,
    "crash": crash,
    "partition": partition,
    "one-way": one_way,
    "pause": pause,
    "loss": lossy,
    "flap": flap,
    "leave": leave,
    "leave-remove": leave_remove,
    "chaos": chaos,
}


def default_config(nodes: int, token: float, votes: list[int] | None = None) -> MembershipConfig:
    names = ["balthasar", "casper", "melchior", "adam", "lilith", "sachiel", "ramiel"]
    each = votes or [1] * nodes
    specs = tuple(NodeSpec(i + 1, f"{names[i % len(names)]}.localdomain", each[i]) for i in range(nodes))
    return MembershipConfig(nodes=specs, expected_votes=sum(each), token=token, config_version=1)


def run(seed: int, scenario: str, *, nodes: int | None = None, token: float = 1.0, verbose: bool = False) -> Outcome:
    """Run one seeded scenario to convergence; raises InvariantViolation (with the trace tail) on failure."""
    rng = random.Random(f"{scenario}:{seed}")
    count = nodes or rng.choice([3, 3, 4, 5])
    skew = rng.choice([0.0, 0.0, 0.01, 0.05])
    votes = [rng.randint(1, 3) for _ in range(count)] if scenario == "leave-remove" else None
    config = default_config(count, token, votes)
    cluster = SimCluster(config, rng, skew=skew)
    for nodeid in sorted(cluster.nodes):
        cluster.schedule(rng.uniform(0, 0.5), f"boot {nodeid}", lambda cl, n=nodeid: cl.start(n))
    faults_end = SCENARIOS[scenario](rng, cluster, 1.0 + 3 * token)

    # Restart anything still down and resume anything paused, then give the cluster a bounded time.
    def recover(cl: SimCluster) -> None:
        cl.net.heal()
        for nodeid, node in cl.nodes.items():
            if not node.alive:
                cl.start(nodeid)
            elif node.paused:
                cl.resume(nodeid)

    cluster.schedule(faults_end + 0.001, "all faults stop", recover)
    bound = config.settle + 4 * config.token + 2 * config.round_timeout + 1.0
    try:
        cluster.run_until(faults_end + bound)
        cluster.check_converged()
    except AssertionError as exc:
        tail = "\n".join(cluster.trace[-60:] if not verbose else cluster.trace)
        raise type(exc)(f"{exc}\n--- trace (last events) ---\n{tail}") from None
    if verbose:
        print("\n".join(cluster.trace))
    return Outcome(seed, scenario, cluster.steps, cluster.t, len(cluster.committed))
