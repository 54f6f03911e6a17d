"""The result of a `quorate chaos` run: one line per round, summed up per scenario as a Markdown table.

Theory of operation: a round either recovered (its recovery time is the seconds from the end of the fault to
the first moment the recovery check passed) or did not within the bound (no time; that is itself a
violation). The table gives, per scenario, the number of rounds, the minimum/median/maximum recovery time
and how many rounds kept every invariant, so that a regression shows as a number that moved. Pure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RoundResult:
    scenario: str
    round: int
    seed: int
    recovery: float | None  # seconds, None when the cluster did not recover within the bound
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.recovery is not None and not self.violations


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


def table(results: Sequence[RoundResult]) -> str:
    """Markdown: scenario | rounds | recovery min / median / max | invariants ok / violated."""
    lines = [
        "| scenario | rounds | recovery min | median | max | invariants ok | violated |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    order: list[str] = []
    for result in results:
        if result.scenario not in order:
            order.append(result.scenario)
    for scenario in order:
        mine = [r for r in results if r.scenario == scenario]
        times = [r.recovery for r in mine if r.recovery is not None]
        spread = (
            [_seconds(min(times)), _seconds(statistics.median(times)), _seconds(max(times))] if times else ["-"] * 3
        )
        ok = sum(1 for r in mine if r.ok)
        lines.append(f"| {scenario} | {len(mine)} | {' | '.join(spread)} | {ok} | {len(mine) - ok} |")
    return "\n".join(lines) + "\n"


def details(results: Sequence[RoundResult]) -> str:
    """Every violation, under the round that saw it (empty when there were none)."""
    out = []
    for result in results:
        if result.violations:
            out.append(f"- {result.scenario} round {result.round} (seed {result.seed}):")
            out += [f"  - {text}" for text in result.violations]
    return "\n".join(out) + ("\n" if out else "")
