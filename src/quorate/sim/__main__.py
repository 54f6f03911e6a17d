"""`python -m quorate.sim --seed N --scenario NAME`: run or replay deterministic simulations.

A failing run prints its seed and the one command that replays it; `--seeds A-B` sweeps a range.
"""

from __future__ import annotations

import argparse
import sys

from quorate.sim.kernel import InvariantViolation
from quorate.sim.scenarios import SCENARIOS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.sim", description=__doc__)
    parser.add_argument("--seed", type=int, help="one seed to run (replay)")
    parser.add_argument("--seeds", help="a range of seeds, e.g. 0-499")
    parser.add_argument("--scenario", default="chaos", choices=[*SCENARIOS, "all"])
    parser.add_argument("--nodes", type=int, help="number of nodes (default: chosen by the seed)")
    parser.add_argument("--token", type=float, default=1.0, help="token timeout in seconds (default 1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the whole trace")
    args = parser.parse_args(argv)
    if args.seed is not None:
        seeds = [args.seed]
    elif args.seeds:
        lo, _, hi = args.seeds.partition("-")
        seeds = list(range(int(lo), int(hi or lo) + 1))
    else:
        seeds = list(range(100))
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    failures = 0
    runs = 0
    for scenario in scenarios:
        for seed in seeds:
            runs += 1
            try:
                outcome = run(seed, scenario, nodes=args.nodes, token=args.token, verbose=args.verbose)
            except InvariantViolation as exc:
                failures += 1
                replay = f"python -m quorate.sim --seed {seed} --scenario {scenario}"
                if args.nodes:
                    replay += f" --nodes {args.nodes}"
                print(f"FAIL seed={seed} scenario={scenario}: {exc}\nreplay: {replay}", file=sys.stderr)
                continue
            if len(seeds) == 1:
                print(
                    f"ok seed={seed} scenario={scenario}: {outcome.steps} steps, {outcome.views} views, "
                    f"{outcome.end:.1f} s simulated"
                )
    print(f"{runs - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
