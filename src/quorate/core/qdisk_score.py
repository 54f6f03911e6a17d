"""Heuristic scoring for the quorum disk (spec D-25), without running anything.

Theory of operation
-------------------
The shell asks `due(now)` which heuristics to start, starts them (``/bin/sh -c program`` through
`quorate.system.process.run_agent`), calls `started`, and later `finished` with the outcome. This module
only keeps the books:

| Heuristic state | event                      | next state  | log                              |
|-----------------|----------------------------|-------------|----------------------------------|
| unavailable     | success                    | available   | "Heuristic: 'p' UP"              |
| available       | success                    | available   |                                  |
| available       | failure, misses < tko      | available   | "Heuristic: 'p' missed (m/tko)"  |
| available       | failure, misses reach tko  | unavailable | "Heuristic: 'p' DOWN (m/tko)"    |
| unavailable     | failure                    | unavailable |                                  |

A heuristic starts unavailable: a node is not fit until its checks have passed once. A heuristic still
running when its interval comes round again is not started twice. Score = sum of available scores,
max = sum of all scores; with no heuristics both are 1 (always fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quorate.core.effects import Log
from quorate.core.qdisk_config import HeuristicSpec


@dataclass(slots=True)
class HeuristicState:
    program: str
    score: int
    interval: float
    tko: int
    available: bool = False
    misses: int = 0
    running: bool = False
    next_start: float = 0.0
    runs: int = 0
    last_ok: bool | None = None


class HeuristicTracker:
    """The books of all heuristics of one node; `score()` is what the qdisk core receives."""

    def __init__(self, heuristics: Sequence[HeuristicSpec]) -> None:
        self.items = [
            HeuristicState(
                h.program,
                max(h.score, 1),
                float(h.interval) if h.interval > 0 else 2.0,
                max(h.tko, 1),
            )
            for h in heuristics
        ]

    def due(self, now: float) -> list[int]:
        """Indices of heuristics to start now (their interval has passed and they are not running)."""
        return [i for i, h in enumerate(self.items) if not h.running and now >= h.next_start]

    def started(self, index: int, now: float) -> None:
        h = self.items[index]
        h.running = True
        h.next_start = now + h.interval

    def finished(self, index: int, now: float, ok: bool, detail: str = "") -> list[Log]:
        """Record one run's outcome; returns the sentences worth logging."""
        h = self.items[index]
        h.running = False
        h.runs += 1
        h.last_ok = ok
        if ok:
            h.misses = 0
            if not h.available:
                h.available = True
                return [Log(f"Heuristic: '{h.program}' UP")]
            return []
        h.misses += 1
        suffix = f": {detail}" if detail else ""
        if h.available and h.misses >= h.tko:
            h.available = False
            return [Log(f"Heuristic: '{h.program}' DOWN ({h.misses}/{h.tko}){suffix}", "warning")]
        if h.available:
            return [Log(f"Heuristic: '{h.program}' missed ({h.misses}/{h.tko}){suffix}", "info")]
        return []

    def score(self) -> tuple[int, int]:
        if not self.items:
            return 1, 1
        return sum(h.score for h in self.items if h.available), sum(h.score for h in self.items)

    def next_deadline(self) -> float | None:
        waiting = [h.next_start for h in self.items if not h.running]
        return min(waiting) if waiting else None
