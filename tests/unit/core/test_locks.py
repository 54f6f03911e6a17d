"""The cluster lock service's pure core: modes, queues, conversions, try-locks, timeouts, value blocks, recovery.

A small harness wires several `LockManager`s through an in-memory network that delivers every datagram at
once (or drops what a test says), and installs views the way membership would.
"""

from __future__ import annotations

import itertools

import pytest

from quorate.core.effects import Send, ViewInstalled
from quorate.core.lock_modes import COMPAT, MODES, LockError, is_down
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockManager, LockReleased
from quorate.core.messages import ViewId, decode, encode

NAMES = {1: "balthasar", 2: "casper", 3: "melchior"}


class Cluster:
    def __init__(self, n: int = 3) -> None:
        self.now = 0.0
        self.gone: set[int] = set()  # nodes the fencing layer says are safely gone
        self.victims: set[int] = set()
        self.nodes = {
            i: LockManager(i, NAMES, safely_gone=self.gone.__contains__, unfenced=lambda: frozenset(self.victims))
            for i in range(1, n + 1)
        }
        self.events: dict[int, list[object]] = {i: [] for i in self.nodes}
        self.seq = 0
        self.members: frozenset[int] = frozenset()
        self.dropping = False

    def view(self, members: set[int], *, left: set[int] = frozenset(), failed: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.seq += 1
        coord = min(members)
        joined = frozenset(members) - self.members
        self.members = frozenset(members)
        installed = ViewInstalled(
            ViewId(self.seq, coord), self.members, joined, frozenset(left), frozenset(failed), True, "test"
        )
        for nodeid in sorted(members):
            self.nodes[nodeid].on_view(self.now, installed, coordinator=nodeid == coord)
        self.pump()

    def pump(self) -> None:
        for _ in range(1000):
            moved = False
            for nodeid, node in self.nodes.items():
                for effect in node.take_effects():
                    if isinstance(effect, Send):
                        if self.dropping:
                            continue
                        for to in effect.to:
                            if to in self.members:
                                moved = True
                                message = decode(encode(effect.message))  # every message crosses the wire format
                                self.nodes[to].receive(self.now, nodeid, message)
                    elif not hasattr(effect, "text"):
                        self.events[nodeid].append(effect)
            if not moved:
                return
        raise AssertionError("messages never settle")

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            deadlines = [d for n in self.nodes.values() if (d := n.next_deadline()) is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            for nodeid in sorted(self.members):
                self.nodes[nodeid].tick(self.now)
            self.pump()
        self.now = end
        for nodeid in sorted(self.members):
            self.nodes[nodeid].tick(self.now)
        self.pump()

    def lock(self, node: int, name: str, mode: str, timeout: float | None = None) -> int:
        lkid = self.nodes[node].lock(self.now, "ls", name, mode, timeout=timeout)
        self.pump()
        return lkid

    def unlock(self, node: int, lkid: int, lvb: bytes | None = None) -> None:
        self.nodes[node].unlock(self.now, lkid, lvb=lvb)
        self.pump()

    def granted(self, node: int, lkid: int) -> LockGranted | None:
        return next((e for e in self.events[node] if isinstance(e, LockGranted) and e.lkid == lkid), None)

    def denied(self, node: int, lkid: int) -> LockDenied | None:
        return next((e for e in self.events[node] if isinstance(e, LockDenied) and e.lkid == lkid), None)


@pytest.fixture
def cl() -> Cluster:
    c = Cluster()
    c.view({1, 2, 3})
    return c


def test_compatibility_table_is_the_dlms() -> None:
    expected = {
        "NL": "NL CR CW PR PW EX",
        "CR": "NL CR CW PR PW",
        "CW": "NL CR CW",
        "PR": "NL CR PR",
        "PW": "NL CR",
        "EX": "NL",
    }
    for a, b in itertools.product(range(6), repeat=2):
        assert COMPAT[a][b] == (MODES[b] in expected[MODES[a]].split()), (MODES[a], MODES[b])
        assert COMPAT[a][b] == COMPAT[b][a]
    assert is_down(MODES.index("EX"), MODES.index("PR"))
    assert not is_down(MODES.index("PR"), MODES.index("CW"))


@pytest.mark.parametrize(("first", "second"), list(itertools.product(MODES, repeat=2)))
def test_two_nodes_get_a_resource_at_once_only_when_the_table_allows(cl: Cluster, first: str, second: str) -> None:
    a = cl.lock(2, "r", first)
    b = cl.lock(3, "r", second)
    assert cl.granted(2, a)
    together = COMPAT[MODES.index(first)][MODES.index(second)]
    assert bool(cl.granted(3, b)) == together
    if not together:
        cl.unlock(2, a)
        assert cl.granted(3, b), "the waiter is granted once the holder released"


def test_waiters_are_served_in_order_and_readers_cannot_starve_a_writer(cl: Cluster) -> None:
    r1 = cl.lock(1, "vg", "PR")
    w = cl.lock(2, "vg", "EX")
    r2 = cl.lock(3, "vg", "PR")  # compatible with the granted PR, but queued behind the writer
    assert cl.granted(1, r1) and not cl.granted(2, w) and not cl.granted(3, r2)
    cl.unlock(1, r1)
    assert cl.granted(2, w) and not cl.granted(3, r2)
    cl.unlock(2, w)
    assert cl.granted(3, r2)


def test_try_lock_is_answered_at_once(cl: Cluster) -> None:
    held = cl.lock(2, "vg", "EX")
    tried = cl.lock(3, "vg", "PR", timeout=0)
    denied = cl.denied(3, tried)
    assert denied is not None and denied.code == "busy" and denied.detail == "held in EX by casper"
    cl.unlock(2, held)
    again = cl.lock(3, "vg", "PR", timeout=0)
    assert cl.granted(3, again)


def test_a_waiter_times_out_and_the_queue_behind_it_moves(cl: Cluster) -> None:
    cl.lock(1, "vg", "PR")
    slow = cl.lock(2, "vg", "EX", timeout=2.0)
    reader = cl.lock(3, "vg", "PR")
    cl.advance(1.9)
    assert cl.denied(2, slow) is None and not cl.granted(3, reader)
    cl.advance(0.2)
    denied = cl.denied(2, slow)
    assert denied is not None and denied.code == "timeout" and denied.held is None
    assert cl.granted(3, reader), "the reader queued behind the timed-out writer is served"
    assert 2 not in [h for h in cl.nodes[2].held]


def test_conversion_up_waits_down_is_immediate_and_a_failed_conversion_keeps_the_old_mode(cl: Cluster) -> None:
    a = cl.lock(2, "vg", "PR")
    b = cl.lock(3, "vg", "PR")
    cl.nodes[2].convert(cl.now, a, "EX", timeout=1.0)
    cl.pump()
    assert [e for e in cl.events[2] if isinstance(e, LockGranted)] == [LockGranted(a, "PR", b"")]
    cl.advance(1.5)
    denied = cl.denied(2, a)
    assert denied is not None and denied.code == "timeout" and denied.held == "PR"
    cl.nodes[2].convert(cl.now, a, "EX")
    cl.pump()
    cl.unlock(3, b)
    assert cl.events[2][-1] == LockGranted(a, "EX", b"")
    c = cl.lock(1, "vg", "CR")
    assert not cl.granted(1, c)
    cl.nodes[2].convert(cl.now, a, "PW")  # down: at once, and the CR waiter fits next to PW
    cl.pump()
    assert cl.events[2][-1] == LockGranted(a, "PW", b"") and cl.granted(1, c)


def test_conversions_go_before_new_waiters(cl: Cluster) -> None:
    a = cl.lock(1, "r", "PR")
    b = cl.lock(2, "r", "PR")
    w = cl.lock(3, "r", "PR", timeout=None)
    assert cl.granted(3, w)
    cl.nodes[1].convert(cl.now, a, "EX")
    cl.pump()
    x = cl.lock(3, "r", "CR")  # compatible with everything granted, but a conversion is queued
    assert not cl.granted(3, x)
    cl.unlock(2, b)
    cl.unlock(3, w)
    assert cl.events[1][-1] == LockGranted(a, "EX", b"")
    assert not cl.granted(3, x)
    cl.unlock(1, a)
    assert cl.granted(3, x)


def test_value_block_is_written_by_exclusive_holders_and_read_on_grant(cl: Cluster) -> None:
    a = cl.lock(2, "vg", "EX")
    cl.unlock(2, a, lvb=b"seqno=7")
    b = cl.lock(3, "vg", "PR")
    assert cl.granted(3, b) == LockGranted(b, "PR", b"seqno=7")
    cl.unlock(3, b, lvb=b"ignored: PR does not write")
    c = cl.lock(1, "vg", "NL")
    assert cl.granted(1, c) == LockGranted(c, "NL", b"seqno=7")
    with pytest.raises(LockError, match="limit is 32 bytes"):
        cl.nodes[1].unlock(cl.now, c, lvb=b"x" * 33)


def test_bad_input_is_refused_with_a_clear_reason(cl: Cluster) -> None:
    node = cl.nodes[2]
    with pytest.raises(LockError, match="unknown lock mode 'XX': use one of NL, CR, CW, PR, PW, EX"):
        node.lock(0, "ls", "r", "XX")
    with pytest.raises(LockError, match="65 bytes long; the limit is 64 bytes"):
        node.lock(0, "ls", "r" * 65, "EX")
    with pytest.raises(LockError, match="lock space name is empty"):
        node.lock(0, "", "r", "EX")
    with pytest.raises(LockError, match="timeout must be between"):
        node.lock(0, "ls", "r", "EX", timeout=-1)
    with pytest.raises(LockError, match="no lock 99"):
        node.unlock(0, 99)
    assert node.lock(0, "ls", "é" * 32, "EX")  # 64 bytes of UTF-8 is the limit, not 64 characters


def test_unlock_cancels_a_waiting_request(cl: Cluster) -> None:
    a = cl.lock(2, "r", "EX")
    b = cl.lock(3, "r", "EX")
    cl.unlock(3, b)
    assert LockReleased(b) in cl.events[3]
    cl.unlock(2, a)
    assert not cl.granted(3, b)
    assert not cl.nodes[1].table.locks


def test_lost_datagrams_are_resent_and_repeats_are_answered_once(cl: Cluster) -> None:
    cl.dropping = True
    a = cl.lock(2, "r", "EX")
    cl.advance(0.2)
    cl.dropping = False
    cl.advance(1.0)
    assert [e for e in cl.events[2] if isinstance(e, LockGranted)] == [LockGranted(a, "EX", b"")]
    cl.dropping = True
    cl.unlock(2, a)
    cl.dropping = False
    cl.advance(1.0)
    assert cl.events[2][-1] == LockReleased(a) and not cl.nodes[1].table.locks


def test_failed_holder_keeps_its_locks_until_fenced(cl: Cluster) -> None:
    held = cl.lock(3, "vg", "EX")
    other = cl.lock(3, "unrelated", "EX")
    waiter = cl.lock(2, "vg", "EX")
    assert cl.granted(3, held) and cl.granted(3, other) and not cl.granted(2, waiter)
    cl.victims.add(3)
    cl.view({1, 2}, failed={3})
    free = cl.lock(2, "elsewhere", "EX")
    assert cl.granted(2, free), "the master knew node 3's locks: unrelated resources stay usable"
    cl.advance(10)
    assert not cl.granted(2, waiter), "granted before the failed holder was fenced"
    assert (
        cl.denied(1, cl.lock(1, "vg", "PR", timeout=0)).detail
        == "held in EX by melchior (failed, waiting for its fence)"
    )  # type: ignore[union-attr]
    cl.victims.discard(3)
    cl.gone.add(3)
    cl.advance(0.1)
    assert cl.granted(2, waiter)


def test_a_new_master_grants_nothing_until_the_failed_old_master_is_fenced(cl: Cluster) -> None:
    held = cl.lock(1, "vg", "EX")  # node 1 masters and holds
    waiter = cl.lock(2, "vg", "EX")
    unrelated = cl.lock(3, "r", "PR")
    assert cl.granted(1, held) and cl.granted(3, unrelated)
    cl.victims.add(1)
    cl.view({2, 3}, failed={1})
    assert cl.nodes[2].acting and cl.nodes[2].table.blocked == "lock recovery waits for the fence of balthasar"
    other = cl.lock(3, "other", "EX")
    cl.advance(5)
    assert not cl.granted(2, waiter) and not cl.granted(3, other)
    assert cl.nodes[2].table.locks[(3, unrelated)].granted == MODES.index("PR"), "recovered from node 3's inventory"
    cl.victims.discard(1)
    cl.gone.add(1)
    cl.advance(0.1)
    assert cl.granted(2, waiter) and cl.granted(3, other)


def test_clean_leave_releases_at_once(cl: Cluster) -> None:
    held = cl.lock(3, "vg", "EX")
    waiter = cl.lock(2, "vg", "EX")
    assert cl.granted(3, held)
    cl.nodes[3].drop_all(cl.now, "leaving")
    cl.view({1, 2}, left={3})
    assert cl.granted(2, waiter)


def test_a_node_that_loses_quorum_drops_its_locks_and_says_so(cl: Cluster) -> None:
    held = cl.lock(3, "vg", "EX")
    waiting = cl.lock(3, "other", "EX")
    cl.unlock(3, waiting)
    waiting = cl.lock(2, "vg", "EX")
    cl.nodes[3].on_quorum(cl.now, quorate=False, coordinator=False, view=ViewId(cl.seq, 1), members=frozenset())
    cl.pump()
    assert LockLost(held, "this node lost quorum", True) in cl.events[3]
    with pytest.raises(LockError, match="not in a quorate cluster"):
        cl.nodes[3].lock(cl.now, "ls", "vg", "EX")
    assert not cl.granted(2, waiting)


def test_recovery_keeps_waiters_oldest_first_and_the_value_block(cl: Cluster) -> None:
    a = cl.lock(3, "vg", "EX")
    cl.unlock(3, a, lvb=b"v1")
    a = cl.lock(3, "vg", "EX")
    cl.advance(1)
    early = cl.lock(2, "vg", "EX")
    cl.advance(1)
    late = cl.lock(3, "vg2", "EX")
    late = cl.lock(3, "vg", "EX")
    cl.victims.add(1)
    cl.view({2, 3}, failed={1})  # the master dies; its successor rebuilds from the members
    cl.victims.discard(1)
    cl.gone.add(1)
    cl.advance(0.1)
    cl.unlock(3, a)
    assert cl.granted(2, early) == LockGranted(early, "EX", b"v1") and not cl.granted(3, late)
