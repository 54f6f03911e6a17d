"""A seeded, in-memory datagram network for the simulator, delivering through the simulation kernel.

Every delivery is decided by one `random.Random`, so a run is a pure function of its seed. Faults are the
ones real networks produce and the testbed can inject: loss, duplication, reordering (random delay),
symmetric and one-way partitions. A blocked link drops at send time, like a firewall rule.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from quorate.core.messages import Message
from quorate.sim.kernel import Kernel

Deliver = Callable[[int, int, Message], None]


class SimNetwork:
    def __init__(
        self,
        kernel: Kernel,
        rng: random.Random,
        deliver: Deliver,
        *,
        base_delay: float = 0.0005,
        jitter: float = 0.002,
    ) -> None:
        self.kernel = kernel
        self.rng = rng
        self.deliver = deliver
        self.base_delay = base_delay
        self.jitter = jitter
        self.loss = 0.0
        self.duplicate = 0.0
        self.blocked: set[tuple[int, int]] = set()
        self.sent = 0
        self.dropped = 0

    def send(self, sender: int, receiver: int, message: Message) -> None:
        self.sent += 1
        if (sender, receiver) in self.blocked or (self.loss and self.rng.random() < self.loss):
            self.dropped += 1
            return
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.base_delay + self.rng.random() * self.jitter
            self.kernel.after(delay, lambda: self.deliver(sender, receiver, message))

    def partition(self, groups: list[set[int]]) -> None:
        self.blocked = {(a, b) for ga in groups for gb in groups if ga is not gb for a in ga for b in gb}

    def one_way(self, sender: int, receiver: int) -> None:
        self.blocked.add((sender, receiver))

    def heal(self) -> None:
        self.blocked.clear()
        self.loss = 0.0
        self.duplicate = 0.0
