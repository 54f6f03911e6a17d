"""A lock-step harness for quorum-disk cores over an in-memory disk: no threads, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from quorate.core.qdisk import Block, QdiskCore, QdiskEffect, SetVotes, WriteBlock, block_for_stamp
from quorate.core.qdisk_block import MAX_NODES
from quorate.core.qdisk_config import QdiskSettings
from quorate.qdisk.format import empty_status

WALL = 1_284_756_951  # Fri Sep 17 2010, the article's mkqdisk -L date


@dataclass
class Node:
    core: QdiskCore
    members: frozenset[int]
    quorate: bool = True
    score: tuple[int, int] = (1, 1)
    read_ok: bool = True
    write_ok: bool = True
    running: bool = True
    effects: list[tuple[float, QdiskEffect]] = field(default_factory=list)
    votes: int = 0

    def of(self, kind: type) -> list:
        return [e for _, e in self.effects if isinstance(e, kind)]

    def logs(self) -> list[str]:
        return [getattr(e, "text", "") for _, e in self.effects if hasattr(e, "text")]


class Rig:
    def __init__(
        self,
        config: QdiskSettings,
        ids: tuple[int, ...] = (1, 2, 3),
        *,
        start: dict[int, float] | None = None,
        dt: float | None = None,
        token_ms: int | None = None,
    ) -> None:
        self.config = config
        self.ids = ids
        self.disk: dict[int, Block] = {n: empty_status(n, WALL) for n in range(1, MAX_NODES + 1)}
        self.t = 0.0
        self.dt = dt or float(config.interval) / 10
        self.nodes: dict[int, Node] = {}
        self.starts = start or {n: 0.0 for n in ids}
        self.token_ms = token_ms
        self.boots: dict[int, int] = {}

    def boot(self, n: int) -> Node:
        self.boots[n] = self.boots.get(n, 0) + 1
        core = QdiskCore(self.config, n, self.ids, incarnation=1000 * self.boots[n] + n, token_ms=self.token_ms)
        node = Node(core, frozenset(self.ids))
        self.nodes[n] = node
        return node

    def cycle(self, n: int) -> None:
        node = self.nodes[n]
        blocks = dict(self.disk) if node.read_ok else {}
        io_ok = node.read_ok and node.write_ok
        out = node.core.cycle(self.t, blocks, io_ok, *node.score, node.members, node.quorate)
        self.apply(n, out)

    def apply(self, n: int, out: list[QdiskEffect]) -> None:
        node = self.nodes[n]
        for e in out:
            node.effects.append((self.t, e))
            if isinstance(e, WriteBlock):
                if node.write_ok:
                    self.disk[e.block.nodeid] = block_for_stamp(e.block, WALL + int(self.t), 0.0, 0.0)
            elif isinstance(e, SetVotes):
                node.votes = e.votes
        if not node.write_ok and any(isinstance(e, WriteBlock) for e in out):
            for e in node.core.io_error(self.t, "simulated write failure"):
                node.effects.append((self.t, e))
                if isinstance(e, SetVotes):
                    node.votes = e.votes

    def run(self, until: float) -> None:
        while self.t <= until + 1e-9:
            for n in self.ids:
                if n not in self.nodes and self.t + 1e-9 >= self.starts.get(n, float("inf")):
                    self.boot(n)
            for n in sorted(self.nodes):
                node = self.nodes[n]
                deadline = node.core.next_deadline()
                if node.running and deadline is not None and deadline <= self.t + 1e-9:
                    self.cycle(n)
            self.t = round(self.t + self.dt, 9)

    def set_members(self, groups: list[set[int]]) -> None:
        """A network partition: each node's view becomes its group, told at once (membership_changed)."""
        for group in groups:
            for n in group:
                node = self.nodes[n]
                node.members = frozenset(group)
                self.apply(n, node.core.membership_changed(self.t, node.members, node.quorate))

    def first(self, n: int, kind: type, pred=lambda e: True) -> float | None:  # type: ignore[no-untyped-def]
        for t, e in self.nodes[n].effects:
            if isinstance(e, kind) and pred(e):
                return t
        return None
