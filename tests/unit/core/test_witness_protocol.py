"""The quorum witness: which partition each algorithm chooses, and what the arbiter and a node's client decide."""

from __future__ import annotations

import pytest

from quorate.core.messages import ViewId
from quorate.core.witness_client import WitnessClient
from quorate.core.witness_protocol import (
    Algorithm,
    MalformedWitnessDatagram,
    Partition,
    WitnessAnswer,
    WitnessAsk,
    WitnessSettings,
    choose,
    decode,
    encode,
)
from quorate.core.witness_server import WitnessServer

FF, LMS = Algorithm.FFSPLIT, Algorithm.LMS


def part(seq: int, *members: int) -> Partition:
    return Partition(ViewId(seq, min(members)), frozenset(members))


# (algorithm, tie_breaker, node count, partitions, members of the winner or None)
CHOICES = [
    (FF, "lowest", 2, [part(5, 1), part(6, 2)], {1}),
    (FF, "highest", 2, [part(5, 1), part(6, 2)], {2}),
    (FF, "2", 2, [part(5, 1), part(6, 2)], {2}),
    (FF, "lowest", 3, [part(5, 1, 2), part(6, 3)], {1, 2}),
    (FF, "lowest", 4, [part(5, 1), part(6, 2, 3, 4)], {2, 3, 4}),
    (FF, "highest", 4, [part(5, 1, 2), part(6, 3, 4)], {3, 4}),
    (FF, "lowest", 4, [part(5, 1), part(6, 2)], None),  # neither holds half of the nodes
    (FF, "lowest", 2, [part(5, 2)], {2}),  # the other node is dead: the survivor holds half
    (FF, "7", 2, [part(5, 1), part(6, 2)], None),  # the tie-breaker node is in neither half
    (LMS, "lowest", 4, [part(5, 1), part(6, 2)], {1}),  # lms: any partition may have it
    (LMS, "lowest", 5, [part(5, 4)], {4}),
    (LMS, "highest", 5, [part(5, 1, 2), part(6, 3), part(7, 4, 5)], {4, 5}),
    (LMS, "lowest", 5, [part(5, 1, 2, 3), part(7, 4, 5)], {1, 2, 3}),
    (LMS, "lowest", 3, [], None),
]


@pytest.mark.parametrize(("algorithm", "tie", "count", "partitions", "winner"), CHOICES)
def test_each_algorithm_chooses_as_corosync_qnetd_does(
    algorithm: Algorithm, tie: str, count: int, partitions: list[Partition], winner: set[int] | None
) -> None:
    chosen, why = choose(partitions, algorithm, tie, count)
    assert (set(chosen.members) if chosen is not None else None) == winner
    assert why.startswith(algorithm.value) or chosen is None


@pytest.mark.parametrize(
    ("algorithm", "votes", "count", "expected"), [(FF, 0, 2, 1), (LMS, 0, 5, 4), (LMS, 0, 1, 1), (FF, 3, 4, 3)]
)
def test_default_votes_follow_the_algorithm(algorithm: Algorithm, votes: int, count: int, expected: int) -> None:
    assert WitnessSettings("w", votes=votes, algorithm=algorithm).votes_for(count) == expected


def test_datagrams_round_trip_and_garbage_is_refused() -> None:
    ask = WitnessAsk("alpha", 7, 1, 1, 3, ViewId(4, 1), (1, 2), 2, False, 6.0, FF, "lowest")
    assert decode(encode(ask)) == ask
    with pytest.raises(MalformedWitnessDatagram):
        decode(b"\x93\x01\x02")


# ------------------------------------------------------------------------------------------------ arbiter

LEASE = 5.0


def asks(
    node: int,
    seq: int,
    view: int,
    members: tuple[int, ...],
    *,
    holding: bool = False,
    algorithm: Algorithm = FF,
    tie: str = "lowest",
    count: int = 2,
) -> WitnessAsk:
    view_id = ViewId(view, min(members))
    return WitnessAsk("alpha", 7, node, 1, seq, view_id, members, count, holding, LEASE, algorithm, tie)


def server(*views: tuple[int, tuple[int, ...]], algorithm: Algorithm = FF, count: int = 2) -> WitnessServer:
    """A witness past its learning lease that heard each node of ``views`` (view, members) ask once (seq 1)."""
    s = WitnessServer(now=0.0, max_lease=LEASE)
    s.add_cluster("alpha", 7, 0.0)
    for view, members in views:
        for node in members:
            s.ask(asks(node, 1, view, members, algorithm=algorithm, count=count), 4.0)
    return s


def granted(s: WitnessServer, req: WitnessAsk, now: float) -> bool:
    ans = s.ask(req, now)
    assert ans is not None
    return ans.granted


def test_nothing_is_granted_during_the_first_lease_after_a_start() -> None:
    s = server()
    assert not granted(s, asks(1, 1, 3, (1, 2)), 1.0)
    assert not granted(s, asks(1, 2, 3, (1, 2)), LEASE - 0.1)
    assert granted(s, asks(1, 3, 3, (1, 2)), LEASE + 0.1)


def test_a_split_in_two_halves_goes_to_the_tie_breaker_and_never_to_both() -> None:
    s = server((3, (1, 2)))
    assert granted(s, asks(1, 2, 3, (1, 2)), 6.0) and granted(s, asks(2, 2, 3, (1, 2)), 6.0)
    # the link between them breaks: each forms a view alone and acknowledges at once
    assert not granted(s, asks(2, 3, 5, (2,)), 10.0)  # node 1's grant for {1, 2} still runs
    # node 1 holds the tie-breaker (lowest) of the pair that held the vote: its half keeps it at once, without
    # waiting an interval for the other half to report (the other half could not win the tie)
    assert granted(s, asks(1, 3, 4, (1,)), 10.0)
    assert not granted(s, asks(2, 4, 5, (2,)), 11.1)  # lowest: the vote stays on node 1's side
    assert granted(s, asks(1, 4, 4, (1,)), 11.2)
    assert not granted(s, asks(2, 5, 5, (2,)), 12.0)
    assert s.clusters[("alpha", 7)].holder(12.0) == {1}


@pytest.mark.parametrize("first", [1, 2])
def test_the_tie_breakers_half_keeps_the_vote_whichever_half_asks_first(first: int) -> None:
    s = server((3, (1, 2)))
    assert granted(s, asks(1, 2, 3, (1, 2)), 6.0) and granted(s, asks(2, 2, 3, (1, 2)), 6.0)
    order = (1, 2) if first == 1 else (2, 1)
    answers = {node: granted(s, asks(node, 3, 3 + node, (node,)), 10.0 + 0.01 * i) for i, node in enumerate(order)}
    assert answers == {1: True, 2: False}, "node 1 (lowest of the holder) keeps it, whenever node 2 acknowledges"
    assert s.clusters[("alpha", 7)].holder(10.5) == {1}


def test_a_half_without_the_tie_breaker_loses_to_the_other() -> None:
    s = server((3, (1, 2)))
    for node in (1, 2):
        assert granted(s, asks(node, 2, 3, (1, 2), tie="highest"), 6.0)
    assert not granted(s, asks(1, 3, 4, (1,), tie="highest"), 10.0)  # node 2 is the tie-breaker now
    assert granted(s, asks(2, 3, 5, (2,), tie="highest"), 10.01)
    assert not granted(s, asks(1, 4, 4, (1,), tie="highest"), 11.0)


def test_the_vote_moves_only_after_the_holder_acknowledged_or_its_lease_ran_out() -> None:
    s = server((4, (1,)))
    assert granted(s, asks(1, 1 + 1, 4, (1,)), 6.0)
    # node 2 alone, while node 1 keeps renewing: it never gets the vote
    for i in range(3, 8):
        assert granted(s, asks(1, i, 4, (1,), holding=True), 6.0 + i)
        assert not granted(s, asks(2, i, 5, (2,), algorithm=FF, tie="highest"), 6.0 + i + 0.5)
    # node 1 stops asking (dead or cut off): once its lease ran out, node 2 has it
    assert not granted(s, asks(2, 20, 5, (2,), tie="highest"), 13.0 + LEASE - 0.1)
    assert granted(s, asks(2, 21, 5, (2,), tie="highest"), 13.0 + LEASE + 0.1)


def test_the_larger_part_of_a_split_holder_keeps_the_vote_at_once() -> None:
    s = server((3, (1, 2, 3)), algorithm=LMS, count=3)
    for node in (1, 2, 3):
        assert granted(s, asks(node, 2, 3, (1, 2, 3), algorithm=LMS, count=3), 6.0)
    assert granted(s, asks(1, 3, 4, (1, 2), algorithm=LMS, count=3), 7.0)  # 2 of 3: a majority, at once
    assert not granted(s, asks(3, 3, 5, (3,), algorithm=LMS, count=3), 7.0)


def test_a_partition_that_grew_keeps_the_vote_and_an_old_request_is_ignored() -> None:
    s = server((4, (1,)))
    assert granted(s, asks(1, 5, 4, (1,)), 6.0)
    assert granted(s, asks(2, 1, 6, (1, 2)), 6.5)  # node 2 joined node 1's partition
    assert s.ask(asks(1, 4, 4, (1,)), 7.0) is None  # a datagram older than one processed: ignored
    assert s.clusters[("alpha", 7)].stale == 1


def test_an_unknown_cluster_is_refused_and_counted() -> None:
    s = server()
    req = WitnessAsk("beta", 7, 1, 1, 1, ViewId(1, 1), (1,), 2, False, LEASE, FF, "lowest")
    assert s.ask(req, 10.0) is None
    assert s.refused == {"unknown cluster": 1}


def test_a_report_contradicted_by_one_of_its_members_does_not_compete() -> None:
    s = server((3, (1, 2)))
    assert granted(s, asks(1, 2, 3, (1, 2), tie="highest"), 6.0) and granted(s, asks(2, 2, 3, (1, 2)), 6.0)
    # node 2 dies; its grant and report name {1, 2}; node 1's new view contradicts the report, not the grant
    assert not granted(s, asks(1, 3, 4, (1,), tie="highest"), 8.0)
    assert not granted(s, asks(1, 4, 4, (1,), tie="highest"), 6.0 + LEASE - 0.1)
    assert granted(s, asks(1, 5, 4, (1,), tie="highest"), 6.0 + LEASE + 0.1)  # highest, yet node 2 is gone


# ------------------------------------------------------------------------------------------------ client


def client() -> WitnessClient:
    c = WitnessClient(
        WitnessSettings("w", lease=LEASE), cluster="alpha", cluster_id=7, local_id=1, node_count=2, now=0.0
    )
    c.view_changed(0.0, ViewId(3, 1), frozenset({1, 2}))
    return c


def answer(req: WitnessAsk, granted: bool) -> WitnessAnswer:
    return WitnessAnswer("alpha", 7, req.node, req.seq, req.view, granted, LEASE if granted else 0.0, "test")


def test_the_client_counts_a_grant_from_the_send_time_minus_the_margin() -> None:
    c = client()
    _, req = c.tick(0.0)
    assert req is not None and not req.holding
    change = c.answer(0.9, answer(req, True))  # a slow answer: the lease still runs from 0.0
    assert change is not None and change.votes == 1
    assert c.until == pytest.approx(LEASE - LEASE / 4)
    _, req2 = c.tick(1.0)  # the next request, one interval later
    assert req2 is not None and req2.holding
    change, _ = c.tick(LEASE - LEASE / 4)
    assert change is not None and change.votes == 0 and "ran out" in change.reason


def test_the_client_drops_the_vote_before_asking_with_a_view_that_lost_a_granted_member() -> None:
    c = client()
    _, req = c.tick(0.0)
    assert req is not None
    c.answer(0.01, answer(req, True))
    change = c.view_changed(1.0, ViewId(4, 1), frozenset({1}))
    assert change is not None and change.votes == 0
    _, req = c.tick(1.0)
    assert req is not None and not req.holding and req.members == (1,)


def test_the_client_keeps_the_vote_when_its_view_only_grew() -> None:
    c = client()
    _, req = c.tick(0.0)
    assert req is not None
    c.answer(0.01, answer(req, True))
    assert c.view_changed(1.0, ViewId(4, 1), frozenset({1, 2, 3})) is None
    assert c.votes == 1


def test_only_an_answer_to_the_latest_request_counts() -> None:
    c = client()
    _, first = c.tick(0.0)
    _, second = c.tick(2.0)
    assert first is not None and second is not None
    assert c.answer(2.1, answer(first, True)) is None and c.votes == 0
    c.answer(2.2, answer(second, True))
    assert c.votes == 1
    c.answer(2.3, answer(second, False))
    assert c.votes == 0  # a refusal of the latest request drops it


def test_a_restarted_node_is_heard_again_from_its_first_request() -> None:
    s = server((4, (1,)))
    assert granted(s, asks(1, 9, 4, (1,)), 6.0)
    reborn = WitnessAsk("alpha", 7, 1, 2, 1, ViewId(6, 1), (1,), 2, False, LEASE, FF, "lowest")
    answer = s.ask(reborn, 6.5)
    assert answer is not None and answer.seq == 1
