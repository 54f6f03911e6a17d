"""Seed sweeps shared by the simulator tests: every failing seed is listed with the command that replays it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from quorate.sim.kernel import InvariantViolation


def sweep_failures(run: Callable[[int], object], seeds: Iterable[int], replay: str) -> list[str]:
    """Run every seed; one entry per failure: its first line and ``replay`` (a command with ``{seed}``)."""
    failures = []
    for seed in seeds:
        try:
            run(seed)
        except InvariantViolation as exc:
            first = str(exc).splitlines()[0]
            failures.append(f"seed {seed}: {first}\n  replay: {replay.format(seed=seed)}")
    return failures
