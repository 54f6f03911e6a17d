"""The shared quorum disk of a simulated cluster: one block per node, and each node's path to it.

A node's path has a latency and jitter, can fail every transfer (EIO), or hang: a transfer started before
``hang_until`` completes only then. Each node has one I/O worker, as the daemon has: while a transfer hangs,
the worker is busy and the next one fails at once, without I/O. A write that missed its deadline still lands
when it completes, as on a real disk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.qdisk_block import Block, DiskState

WALL = 1_284_756_951  # the wall clock the simulated blocks carry (a fixed date: only order matters)


@dataclass
class DiskAccess:
    """One node's path to the shared disk."""

    latency: float = 0.002
    jitter: float = 0.004
    error: bool = False  # every transfer fails at once (EIO)
    hang_until: float = 0.0  # transfers started before this return only then
    busy_until: float = 0.0  # the node's single I/O worker is busy until then

    def transfer(self, now: float, rng: random.Random) -> tuple[float, bool]:
        """Start one transfer: (completion time, success). Keeps the worker busy until then."""
        done = now + self.latency + rng.random() * self.jitter
        if self.hang_until > now:
            done = max(done, self.hang_until)
        self.busy_until = done
        return done, not self.error


class SimDisk:
    """The LUN: what `mkqdisk -c` left, then whatever the nodes wrote."""

    def __init__(self, slots: int = 16) -> None:
        self.blocks: dict[int, Block] = {n: Block(n, 0, DiskState.NONE, 0, timestamp=WALL) for n in range(1, slots + 1)}
        self.landed: list[tuple[float, Block]] = []
        self.on_land: Callable[[float, Block], None] | None = None

    def read(self) -> dict[int, Block | None]:
        return dict(self.blocks)

    def land(self, now: float, block: Block) -> None:
        self.blocks[block.nodeid] = block
        self.landed.append((now, block))
        if self.on_land is not None:
            self.on_land(now, block)
        if len(self.landed) > 2000:
            del self.landed[:1000]
