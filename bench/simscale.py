"""The whole-stack simulator at scale, with its speed: ``python -m bench simscale``.

    .venv/bin/python -m bench simscale [--nodes 32] [--services 1000] [--seeds 0-199] [--scenario all]

Runs `quorate.sim.scale_sim` (every node a real `NodeCore`; seeded crashes, partitions and failing agents; the
stack's invariants after every event; every service running again after the faults) over the given seeds and
prints, for each run and in all, how many simulated seconds one second of this machine buys (wall time, so a
busy machine lowers it). A failing seed prints the one command that replays it. Exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time

from quorate.sim.kernel import InvariantViolation
from quorate.sim.scale_sim import SCENARIOS, replay, run, seed_range


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench simscale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seeds", default="0-199")
    parser.add_argument("--scenario", default="all", choices=[*SCENARIOS, "all"])
    args = parser.parse_args(argv)
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    seeds = seed_range(args.seeds)
    failed = 0
    simulated = wall = 0.0
    for seed in seeds:
        for scenario in chosen:
            began = time.perf_counter()
            try:
                outcome = run(seed, scenario, nodes=args.nodes, services=args.services)
            except InvariantViolation as exc:
                failed += 1
                first = str(exc).splitlines()[0]
                print(f"FAIL seed={seed} scenario={scenario}: {first}\n  replay: "
                      f"{replay(args.nodes, args.services, seed, scenario)}", flush=True)  # fmt: skip
                continue
            spent = time.perf_counter() - began
            simulated += outcome.simulated
            wall += spent
            print(f"ok seed={seed} scenario={scenario}: {outcome.simulated:.1f} s simulated in {spent:.1f} s "
                  f"({outcome.simulated / spent:.2f} simulated s per s)", flush=True)  # fmt: skip
    runs = len(seeds) * len(chosen)
    speed = f"; {simulated / wall:.2f} simulated seconds per wall second" if wall else ""
    print(f"{runs - failed} passed, {failed} failed ({args.nodes} nodes, {args.services} services{speed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
