"""A seeded, in-memory datagram network for the simulator.

Every delivery is decided by one `random.Random`, so a run is a pure function of its seed. Faults are the
ones real networks produce and the testbed can inject: loss, duplication, reordering (random delay),
symmetric and one-way partitions. A blocked link drops at send time, like a firewall rule.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from quorate.core.messages import Message


@dataclass(order=True)
class Delivery:
    at: float
    order: int
    sender: int = field(compare=False)
    receiver: int = field(compare=False)
    message: Message = field(compare=False)


class SimNetwork:
    def __init__(self, rng: random.Random, *, base_delay: float = 0.0005, jitter: float = 0.002) -> None:
        self.rng = rng
        self.base_delay = base_delay
        self.jitter = jitter
        self.loss = 0.0
        self.duplicate = 0.0
        self.blocked: set[tuple[int, int]] = set()
        self._queue: list[Delivery] = []
        self._order = itertools.count()
        self.sent = 0
        self.dropped = 0

    def send(self, now: float, sender: int, receiver: int, message: Message) -> None:
        self.sent += 1
        if (sender, receiver) in self.blocked or self.rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.base_delay + self.rng.random() * self.jitter
            heapq.heappush(self._queue, Delivery(now + delay, next(self._order), sender, receiver, message))

    def next_time(self) -> float | None:
        return self._queue[0].at if self._queue else None

    def pop(self) -> Delivery:
        return heapq.heappop(self._queue)

    def partition(self, groups: list[set[int]]) -> None:
        self.blocked = {(a, b) for ga in groups for gb in groups if ga is not gb for a in ga for b in gb}

    def one_way(self, sender: int, receiver: int) -> None:
        self.blocked.add((sender, receiver))

    def heal(self) -> None:
        self.blocked.clear()
        self.loss = 0.0
        self.duplicate = 0.0
