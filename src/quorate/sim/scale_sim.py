"""The whole stack at scale: many nodes and services, seeded faults, the stack's invariants after every event.

    python -m bench simscale --nodes 32 --services 1000 --seeds 0-199      # the documented sweep, with its speed
    python -m quorate.sim.scale_sim --nodes 32 --services 1000 --seed 7 --scenario crash -v   # replay one run

Theory of operation
-------------------
The same world as `quorate.sim.stack` (every node a real `NodeCore`; simulated agents, fence devices, power and
network; S1, split brain, starts only in quorate views and fences only by a quorate coordinator checked after
every event), at the sizes the scale testbed builds: ``--services`` services dealt over twenty ordered failover
domains, each a rotation of the nodes, so every node heads some domain and a failed node's services spread
over the survivors. A run boots every node, waits until every service runs, then plays its scenario's faults
(chosen by the seed: which nodes, when, how long), stops them, and demands that every service runs again on a
node its domain allows within a bounded settling time.

Scenarios: ``crash`` (power off one to three nodes, one after another, each back later), ``partition`` (cut a
minority off, then heal), ``failures`` (agents and fence devices fail 30% of the time while an owner crashes).
A failing run prints its seed and the one command that replays it. The simulator keeps off the machine's clock
(it runs on the core alone), so the sweep's speed (simulated seconds per second of this machine) is printed by
its bench, `bench/simscale.py`, which runs the same seeds.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass

from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.sim.kernel import InvariantViolation
from quorate.sim.stack import StackSim
from quorate.sim.sweep import finish

SCENARIOS = ("crash", "partition", "failures")
DOMAINS = 20


def scale_services(nodes: int, services: int, domains: int = DOMAINS) -> dict[str, ServiceSpec]:
    """``services`` services over ``domains`` ordered, unrestricted failover domains (rotations of the nodes)."""
    rings = [
        DomainSpec(f"dom{d:02d}", ordered=True, restricted=False, nofailback=False,
                   priorities={(d + k) % nodes + 1: k + 1 for k in range(nodes)})
        for d in range(domains)
    ]  # fmt: skip
    return {
        f"svc{i:04d}": ServiceSpec(f"svc{i:04d}", domain=rings[i % domains], recovery="relocate", status_interval=30.0)
        for i in range(services)
    }


@dataclass
class Outcome:
    simulated: float  # seconds of simulated time
    events: int  # lines of trace


def _all_started(sim: StackSim) -> bool:
    running = {name for host in sim.world.live() for name, state in host.truth.items() if state == "started"}
    return len(running) == len(sim.specs)


def run(seed: int, scenario: str, *, nodes: int, services: int, verbose: bool = False) -> Outcome:
    """One seeded run; raises `InvariantViolation` (with the trace's tail) when an invariant breaks."""
    rng = random.Random(f"scale:{scenario}:{nodes}:{services}:{seed}")
    sim = StackSim(rng, nodes, scale_services(nodes, services))
    world, hosts = sim.world, sim.world.hosts
    for i in range(1, nodes + 1):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: hosts[i].power_on())
    t = 0.0
    while not _all_started(sim):
        t += 1.0
        if t > 60.0 + nodes:
            raise InvariantViolation(f"{services} services were not all started {t:.0f} s after boot")
        finish(sim, t, lambda: None, verbose=False)
    ids = list(range(1, nodes + 1))
    minority = max(1, (nodes - 1) // 2)
    for _ in range(rng.randint(1, 3)):
        t += rng.uniform(0.5, 3.0)
        victim = rng.choice(ids)
        if scenario == "crash":
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
            t += rng.uniform(1, 4)
            world.schedule(t, f"restart {victim}", lambda v=victim: hosts[v].power_on())
        elif scenario == "partition":
            cut = set(rng.sample(ids, rng.randint(1, minority)))
            groups = [cut, set(ids) - cut]
            world.schedule(t, f"partition {sorted(cut)} from the rest", lambda g=groups: world.net.partition(g))
            t += rng.uniform(0.5, 4)
            world.schedule(t, "heal", world.net.heal)
        else:
            world.schedule(t, "agents and fence devices fail 30%", lambda: sim.set_failures(0.3))
            t += rng.uniform(0.2, 1.0)
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
            t += rng.uniform(1, 4)
            world.schedule(t, "agents and fence devices healthy", lambda: sim.set_failures(0.0))
            world.schedule(t + 0.5, f"restart {victim}", lambda v=victim: hosts[v].power_on())

    sim.schedule_recovery(t)
    end = t + 20.0 + nodes / 2
    finish(sim, end, sim.check_converged, verbose=verbose)
    return Outcome(end, len(sim.trace))


def replay(nodes: int, services: int, seed: int, scenario: str) -> str:
    """The one command that replays a run."""
    where = f"--nodes {nodes} --services {services}"
    return f"python -m quorate.sim.scale_sim {where} --seed {seed} --scenario {scenario} -v"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.sim.scale_sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seed", type=int, help="one seed (a replay)")
    parser.add_argument("--seeds", default="0-199")
    parser.add_argument("--scenario", default="all", choices=[*SCENARIOS, "all"])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else seed_range(args.seeds)
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    failed = 0
    for scenario in chosen:
        for seed in seeds:
            try:
                outcome = run(seed, scenario, nodes=args.nodes, services=args.services,
                              verbose=args.verbose and len(seeds) == 1)  # fmt: skip
            except InvariantViolation as exc:
                failed += 1
                print(f"FAIL seed={seed} scenario={scenario}: {exc}", file=sys.stderr)
                print(f"replay: {replay(args.nodes, args.services, seed, scenario)}", file=sys.stderr)
                continue
            print(f"ok seed={seed} scenario={scenario}: {outcome.simulated:.1f} s simulated", flush=True)
    print(f"{len(seeds) * len(chosen) - failed} passed, {failed} failed ({args.nodes} nodes, {args.services} services)")
    return 1 if failed else 0


def seed_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


if __name__ == "__main__":
    sys.exit(main())
