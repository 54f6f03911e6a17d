"""The simulation kernel: one priority queue of events on virtual time, shared by every simulator.

Theory of operation: everything that happens in a simulated cluster is an event with a virtual time: a datagram
delivered, a node's timer, an agent or a disk transfer finishing, a scripted fault. `Kernel.run_until` pops them
in time order (ties in the order they were scheduled, so a run is a pure function of its seed) and calls the
checks after every one of them. Nothing is ever polled: a node's timer is one event at its core's next deadline,
cancelled and re-armed when the deadline moves.

A failed check raises `InvariantViolation`; `finish` adds the trace, and `quorate.sim.sweep` turns a failing seed
into the one command that replays it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class InvariantViolation(AssertionError):
    """A simulated cluster broke a rule (S1..S6, a liveness bound): the message says which, where and when."""


class Event:
    """A scheduled action; `cancel` makes the kernel skip it."""

    __slots__ = ("action", "at", "cancelled")

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Kernel:
    """Virtual time, the event queue and the trace."""

    def __init__(self) -> None:
        self.t = 0.0
        self._queue: list[tuple[float, int, Event]] = []
        self._order = itertools.count()
        self.trace: list[str] = []
        self.steps = 0
        self.checks: list[Callable[[], None]] = []

    def at(self, t: float, action: Callable[[], None]) -> Event:
        """Schedule ``action`` at virtual time ``t`` (never in the past)."""
        event = Event(max(t, self.t), action)
        heapq.heappush(self._queue, (event.at, next(self._order), event))
        return event

    def after(self, delay: float, action: Callable[[], None]) -> Event:
        return self.at(self.t + delay, action)

    def run_until(self, end: float) -> None:
        """Run every event up to ``end`` in order, checking the invariants after each one; time ends at ``end``."""
        queue = self._queue
        checks = self.checks
        while queue and queue[0][0] <= end:
            event = heapq.heappop(queue)[2]
            if event.cancelled:
                continue
            self.t = event.at
            self.steps += 1
            event.action()
            for check in checks:
                check()
        self.t = max(self.t, end)

    def next_time(self) -> float | None:
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def log(self, text: str) -> None:
        self.trace.append(f"{self.t:10.4f}  {text}")
