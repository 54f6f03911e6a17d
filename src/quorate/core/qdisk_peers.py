"""What one node believes about the others on the quorum disk (spec D-10, D-11), from their blocks alone.

Theory of operation
-------------------
A peer whose block says INIT or above is running. Its ``(timestamp, seq)`` must change between two of my
reads; an unchanged or unreadable block is a miss, a changed one is a sighting. A peer absent from a
cycle's reads (my own read failed) is neither: I learned nothing. Beliefs (first matching row wins):

| belief  | condition                                          | next     | log               |
|---------|----------------------------------------------------|----------|-------------------|
| UP      | block says EVICT (the master evicted it)           | OFFLINE  | Node N evicted    |
| UP      | block says NONE                                    | OFFLINE  | Node N shutdown   |
| UP      | another incarnation (restarted)                    | OFFLINE  | Node N restarted  |
| UP      | misses > tko                                       | EVICTED  | Node N ... dead   |
| EVICTED | the notice landed (EVICT), or NONE                 | OFFLINE  | Node N evicted    |
| EVICTED | another incarnation                                | OFFLINE  | Node N restarted  |
| EVICTED | fresh write, notice pending that no master will write | OFFLINE | ...comes back  |
| EVICTED | fresh write with the evicted incarnation           | EVICTED  | Node N is undead  |
| OFFLINE | fresh write with the evicted incarnation           | EVICTED  | Node N is undead  |
| OFFLINE | running and seen > tko_up                          | UP       | Node N is UP      |

An EVICTED peer carries ``notice_pending`` (the master must write an eviction notice into its block until
it lands) and ``kill_pending`` (the master must ask the cluster once to kill it, with ``allow_kill``).
The evicted incarnation is remembered ("evil") after the notice lands, so that a node that kept running
unaware (it could not read the notice) is caught the moment it writes again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from quorate.core.effects import Log
from quorate.core.qdisk_block import Block, DiskState

MISSING: Any = object()
"""Stands for a node id absent from a cycle's reads: not read (read error), which is not silence."""


class Belief(enum.Enum):
    OFFLINE = "offline"
    UP = "online"
    EVICTED = "evicted"


@dataclass(slots=True)
class Peer:
    nodeid: int
    belief: Belief = Belief.OFFLINE
    block: Block | None = None
    last_key: tuple[int, int] | None = None
    fresh: bool = False
    misses: int = 0
    seen: int = 0
    incarnation: int = 0
    evil: int = 0
    last_write_at: float | None = None  # when I saw its block change (for status)
    written_after: float | None = None  # it wrote after this time for sure: my read before that change
    notice_pending: bool = False
    kill_pending: bool = False

    @property
    def running_up(self) -> bool:
        return self.belief is Belief.UP and self.block is not None and self.block.state.running

    def reset(self) -> None:
        self.seen = self.misses = self.incarnation = 0


def read_peer(now: float, p: Peer, b: Block | None, previous_read: float | None) -> None:
    """Count a sighting or a miss from this cycle's read of ``p``'s block.

    ``previous_read`` is when my last successful read happened: a change seen now only proves the peer
    wrote after that moment. After a gap in my own reads that moment is old, and a block that merely
    changed during the gap must not look recent (its writer may have died since).
    """
    p.fresh = False
    if b is MISSING:
        return
    if b is None or b.nodeid != p.nodeid:  # torn, corrupt or misplaced: silence
        if p.block is not None and p.block.state.running:
            p.misses += 1
        return
    p.block = b
    if not b.state.running:
        return
    if b.liveness_key == p.last_key:
        p.misses += 1
    else:
        p.misses, p.fresh, p.last_key, p.last_write_at = 0, True, b.liveness_key, now
        p.written_after = previous_read
        p.seen += 1


def transition(p: Peer, *, tko: int, tko_up: int, allow_kill: bool, master_known: bool = True) -> list[Log]:
    """Apply the table above to one peer; returns the sentences to log. ``master_known``: a master will
    write this peer's eviction notice (I am master, or the master does not count it online)."""
    b = p.block
    if b is None:
        return []
    n = p.nodeid
    own_write = b.updatenode in (0, n)
    if p.belief is Belief.UP:
        if b.state is DiskState.EVICT:
            return _offline(p, f"Node {n} evicted", keep_evil=p.incarnation)
        if b.state is DiskState.NONE:
            return _offline(p, f"Node {n} shutdown")
        if b.incarnation != p.incarnation:
            return _offline(p, f"Node {n} restarted (new incarnation); it must come up again")
        if p.misses > tko:
            p.belief, p.evil, p.seen = Belief.EVICTED, p.incarnation, 0
            p.notice_pending, p.kill_pending = True, allow_kill
            return [Log(f"Node {n} missed {p.misses} updates (more than tko={tko}); it is dead on disk", "warning")]
        return []
    if p.belief is Belief.EVICTED:
        if b.state is DiskState.EVICT:
            return _offline(p, f"Node {n} evicted", keep_evil=p.evil)
        if b.state is DiskState.NONE:
            return _offline(p, f"Node {n} shutdown (after it was declared dead)", keep_evil=p.evil)
        if b.incarnation != p.evil:
            return _offline(p, f"Node {n} restarted (new incarnation) after its eviction")
        if p.fresh and own_write and p.notice_pending and not master_known:
            # Declared dead, but no master will write the notice (there is none, or it counts the node
            # online): nobody acts on its death, so it comes back the normal way (tko_up sightings)
            # instead of staying invisible to elections forever.
            logs = _offline(p, f"Node {n} writes again before any master evicted it; watching it come back")
            p.seen = 1  # this write is its first sighting
            return logs
        if p.fresh and own_write and not p.notice_pending:
            return _undead(p, allow_kill)
        return []
    if p.evil and p.fresh and own_write and b.state.running and b.incarnation == p.evil:
        return _undead(p, allow_kill)
    if b.state.running and p.seen > tko_up:
        p.belief, p.incarnation, p.evil = Belief.UP, b.incarnation, 0
        return [Log(f"Node {n} is UP (seen {p.seen} times)")]
    return []


def _offline(p: Peer, text: str, keep_evil: int = 0) -> list[Log]:
    p.belief, p.evil, p.notice_pending, p.kill_pending = Belief.OFFLINE, keep_evil, False, False
    p.reset()
    return [Log(text)]


def _undead(p: Peer, allow_kill: bool) -> list[Log]:
    p.belief, p.notice_pending, p.kill_pending = Belief.EVICTED, True, allow_kill
    return [Log(f"Node {p.nodeid} is undead: it writes again with the incarnation that was evicted", "critical")]
