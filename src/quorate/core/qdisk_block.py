"""The logical content of one quorum-disk status block, shared by the pure core and the disk shell.

Theory of operation
-------------------
Each node owns one status block on the shared disk (docs/qdisk-format.md). This module holds the block as a value: what
the core decides to write and what the shell decoded from the disk. Byte layout, checksums and direct I/O
live in `quorate.qdisk.format`; nothing here knows about bytes, clocks or devices.

Two fields are filled by the shell, not the core, because they come from the outside world: ``timestamp``
(wall-clock seconds of the write, shown by ``mkqdisk -d``) and the write latencies. The core decides
liveness from ``(timestamp, seq)``: ``seq`` counts writes and is stored in the shared header's ``h_view``
field, which the original always wrote as 0 and never read. A node therefore looks alive even when it
writes several times within one wall-clock second (sub-second intervals), and a block written by an
original qdiskd (seq always 0) still looks alive through its changing timestamp.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_NODES = 16
"""Node ids 1..16 have a block on the disk (spec D-2)."""


class DiskState(enum.IntEnum):
    """``ps_state``: what a node says about itself. INIT and above count as running (spec D-10)."""

    NONE = 0  # down or cleanly stopped ("logout"), or score insufficient
    EVICT = 1  # written by the master into a victim's block
    INIT = 2  # starting up: watching the disk for tko cycles before taking part
    RUN = 5  # fit and taking part in elections
    MASTER = 6  # the elected master: grants the disk's votes

    @property
    def running(self) -> bool:
        return self >= DiskState.INIT

    @property
    def label(self) -> str:
        """The state names ``mkqdisk -d`` prints."""
        return _STATE_NAMES[self]


_STATE_NAMES = {
    DiskState.NONE: "None",
    DiskState.EVICT: "Evicted",
    DiskState.INIT: "Initializing",
    DiskState.RUN: "Running",
    DiskState.MASTER: "Master",
}


class Msg(enum.IntEnum):
    """``ps_msg``: the election messages carried in the status block (spec D-14)."""

    NONE = 0
    BID = 1
    ACK = 2
    NACK = 3


@dataclass(frozen=True, slots=True)
class Block:
    """One decoded status block. ``mask``/``master_mask`` are node-id sets (1..16), not bitmaps."""

    nodeid: int
    updatenode: int
    state: DiskState
    incarnation: int
    seq: int = 0
    timestamp: int = 0
    flags: int = 0
    score: int = 0
    score_max: int = 0
    msg: Msg = Msg.NONE
    msg_seq: int = 0
    msg_arg: int = 0
    mask: frozenset[int] = frozenset()
    master_mask: frozenset[int] = frozenset()
    avg_latency: float = 0.0
    last_latency: float = 0.0

    @property
    def liveness_key(self) -> tuple[int, int]:
        """Changes on every write of a live node: the pair the core compares between reads."""
        return (self.timestamp, self.seq)

    @property
    def foreign(self) -> bool:
        """Written by someone other than the owner (an eviction notice, or a bug)."""
        return self.updatenode not in (0, self.nodeid)


def mask_to_bytes(nodes: frozenset[int]) -> bytes:
    """The on-disk bitmap: bit (id-1), byte (id-1)//8, least significant bit first, 8 bytes."""
    out = bytearray(8)
    for n in nodes:
        if 1 <= n <= 64:
            out[(n - 1) // 8] |= 1 << ((n - 1) % 8)
    return bytes(out)


def mask_from_bytes(raw: bytes) -> frozenset[int]:
    return frozenset(i * 8 + bit + 1 for i, byte in enumerate(raw[:8]) for bit in range(8) if byte & (1 << bit))
