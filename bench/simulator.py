"""Simulator speed: how much simulated cluster time one second of this machine buys.

Run with ``.venv/bin/python -m bench.simulator [--hours 1] [--seeds 40]``. Figures are printed, never asserted:

* one simulated hour of the whole stack (3 nodes, each a real `NodeCore`: membership, fencing, services, locks,
  configuration distribution; simulated agents and power switch), with a fault every 30 s (a crash, a pause, a
  partition, failing agents and fence devices, each healed or rebooted before the next), invariants checked after
  every event; target <= 10 s of wall time;
* seeds per minute of the stack simulator's sweep (`python -m quorate.sim.stack`, every scenario).
"""

from __future__ import annotations

import argparse
import random
import time

from quorate.sim import stack
from quorate.sim.kernel import InvariantViolation

TARGET_HOUR_SECONDS = 10.0


def one_hour(hours: float, seed: int = 1) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, events, faults) for ``hours`` of simulated time with a fault every 30 s."""
    rng = random.Random(f"bench:{seed}")
    sim = stack.StackSim(rng, 3, stack.default_services(3))
    world, hosts = sim.world, sim.world.hosts
    for i in (1, 2, 3):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: hosts[i].power_on())
    end = hours * 3600.0
    faults = 0
    t = 30.0
    while t < end - 30.0:
        victim = rng.randint(1, 3)
        kind = ("crash", "pause", "partition", "failures")[faults % 4]
        if kind == "crash":
            world.schedule(t, f"crash {victim}", lambda v=victim: hosts[v].power_off("crash"))
        elif kind == "pause":
            world.schedule(t, f"pause {victim}", lambda v=victim: hosts[v].pause())
            world.schedule(t + 3.0, f"resume {victim}", lambda v=victim: hosts[v].resume())
        elif kind == "partition":
            groups = [{victim}, {1, 2, 3} - {victim}]
            world.schedule(t, f"partition {groups}", lambda g=groups: world.net.partition(g))
            world.schedule(t + 4.0, "heal", world.net.heal)
        else:
            world.schedule(t, "agents fail 30%", lambda: sim.set_failures(0.3))
            world.schedule(t + 5.0, "agents healthy", lambda: sim.set_failures(0.0))

        def reboot_all() -> None:
            for host in hosts.values():
                if host.powered and host.core is None:
                    host.power_off("rebooted by the administrator")
                if not host.powered:
                    host.power_on()

        world.schedule(t + 15.0, "reboot whatever is down", reboot_all)
        faults += 1
        t += 30.0
    began, cpu = time.perf_counter(), time.process_time()
    sim.run_until(end)
    sim.check_converged()
    return time.perf_counter() - began, time.process_time() - cpu, sim.kernel.steps, faults


def sweep_rate(seeds: int) -> tuple[float, int, int]:
    """(seeds per minute, runs, failures) of the stack simulator over every scenario."""
    runs = failures = 0
    began = time.perf_counter()
    for scenario in stack.SCENARIOS:
        for seed in range(seeds):
            runs += 1
            try:
                stack.run(seed, scenario)
            except InvariantViolation:
                failures += 1
    elapsed = time.perf_counter() - began
    return runs / elapsed * 60.0, runs, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours of the whole stack (default 1)")
    parser.add_argument("--seeds", type=int, default=40, help="seeds per scenario for the sweep rate (default 40)")
    args = parser.parse_args(argv)
    wall, cpu, events, faults = one_hour(args.hours)
    verdict = "ok" if wall <= TARGET_HOUR_SECONDS * args.hours else "OVER"
    print(
        f"whole stack, 3 nodes, {args.hours:g} simulated hour(s), {faults} faults: {wall:.2f} s wall "
        f"({cpu:.2f} s CPU: wall above CPU means other work shared the machine), {events} events "
        f"({events / cpu:.0f} events per CPU second); target <= {TARGET_HOUR_SECONDS * args.hours:g} s {verdict}"
    )
    rate, runs, failures = sweep_rate(args.seeds)
    print(f"stack sweep: {runs} runs ({failures} failed), {rate:.0f} seeds per minute")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
