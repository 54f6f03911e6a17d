"""Effects of the quorum-disk core, and the status it reports. The daemon carries these out in order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from quorate.core.effects import Log
from quorate.core.qdisk_block import Block


@dataclass(frozen=True, slots=True)
class WriteBlock:
    """Write this block at its owner's slot (``block.nodeid``); the shell stamps time and latencies."""

    block: Block


@dataclass(frozen=True, slots=True)
class SetVotes:
    """The quorum-disk votes this node now counts in its quorum (``Membership.set_qdisk_votes``)."""

    votes: int
    reason: str


@dataclass(frozen=True, slots=True)
class KillNode:
    """Ask the cluster to evict and fence ``nodeid``: it stopped writing to the disk (spec D-11)."""

    nodeid: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reboot:
    """Reboot this machine now, without a clean shutdown (eviction notice, score drop, io_timeout)."""

    reason: str


@dataclass(frozen=True, slots=True)
class StopCman:
    """Leave the cluster: this node must not take part without its quorum disk (``stop_cman``)."""

    reason: str


QdiskEffect = WriteBlock | SetVotes | KillNode | Reboot | StopCman | Log


@dataclass(frozen=True, slots=True)
class QdiskStatus:
    """What ``quorate status --json`` shows about the quorum disk."""

    nodeid: int
    state: str
    incarnation: str
    master: int | None
    votes: int
    reason: str
    score: int
    score_max: int
    score_required: int
    bidding: bool
    master_mask: tuple[int, ...]
    nodes: tuple[dict[str, Any], ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def block_for_stamp(block: Block, timestamp: int, avg_latency: float, last_latency: float) -> Block:
    """The shell's finishing touch before encoding: wall-clock time and measured latencies."""
    return replace(block, timestamp=timestamp, avg_latency=avg_latency, last_latency=last_latency)


def stage(effects: list[QdiskEffect]) -> tuple[list[QdiskEffect], list[Block], list[QdiskEffect]]:
    """Order a cycle's effects for the shell: (at once, blocks to write, only once the writes landed).

    Everything that takes something away (a withdrawal, a reboot, a kill request) or only informs goes out
    at once: waiting for a write would let a node count votes it already gave up. A grant (``SetVotes``
    above 0) goes out only after this cycle's writes succeeded, because the others learn this node is
    alive from those writes, and only through `QdiskCore.release`, which drops a grant that a view change
    or an I/O error overruled meanwhile. Only the last ``SetVotes`` of the cycle counts.
    """
    votes = [e for e in effects if isinstance(e, SetVotes)]
    final = votes[-1] if votes else None
    now: list[QdiskEffect] = []
    later: list[QdiskEffect] = []
    writes: list[Block] = []
    for e in effects:
        if isinstance(e, WriteBlock):
            writes.append(e.block)
        elif isinstance(e, SetVotes):
            if e is final:
                (later if e.votes > 0 else now).append(e)
        else:
            now.append(e)
    return now, writes, later
