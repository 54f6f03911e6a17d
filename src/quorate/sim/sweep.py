"""What every seeded simulator shares: run to a time and check, with the trace on failure, and the seed-sweep CLI.

A failing run raises `InvariantViolation` carrying the trace's tail (all of it with ``verbose``), and the sweep
prints, for each failure, the one command that replays it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from quorate.sim.kernel import InvariantViolation


class Traced(Protocol):
    trace: list[str]

    def run_until(self, end: float) -> None: ...


def finish(sim: Traced, end: float, check: Callable[[], None], *, verbose: bool) -> None:
    """Run ``sim`` to ``end`` then ``check``; on a violation, re-raise it with the trace."""
    try:
        sim.run_until(end)
        check()
    except InvariantViolation as exc:
        tail = "\n".join(sim.trace if verbose else sim.trace[-40:])
        raise InvariantViolation(f"{exc}\n--- trace ---\n{tail}") from None
    if verbose:
        print("\n".join(sim.trace))


def sweep_main(
    argv: list[str] | None,
    *,
    module: str,
    description: str | None,
    scenarios: Sequence[str],
    default_seeds: str,
    run: Callable[[int, str, bool], Any],
    summary: Callable[[list[Any]], str] = lambda _results: "",
) -> int:
    """``python -m MODULE [--seed N | --seeds A-B] [--scenario S|all] [-v]``: 0 when every run passed."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--seeds", default=default_seeds)
    parser.add_argument("--scenario", default="all", choices=[*scenarios, "all"])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.seed is not None:
        seeds = [args.seed]
    else:
        lo, _, hi = args.seeds.partition("-")
        seeds = list(range(int(lo), int(hi or lo) + 1))
    chosen = tuple(scenarios) if args.scenario == "all" else (args.scenario,)
    failed = 0
    results: list[Any] = []
    for scenario in chosen:
        for seed in seeds:
            try:
                results.append(run(seed, scenario, args.verbose and len(seeds) == 1))
            except InvariantViolation as exc:
                failed += 1
                print(f"FAIL seed={seed} scenario={scenario}: {exc}", file=sys.stderr)
                print(f"replay: python -m {module} --seed {seed} --scenario {scenario} -v", file=sys.stderr)
    extra = summary(results)
    print(f"{len(seeds) * len(chosen) - failed} passed, {failed} failed" + (f" ({extra})" if extra else ""))
    return 1 if failed else 0
