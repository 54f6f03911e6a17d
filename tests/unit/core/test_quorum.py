"""cman's quorum arithmetic (Q-2..Q-5), table-driven, with the article's numbers."""

from __future__ import annotations

import pytest

from quorate.core.quorum import QuorumTracker, compute_quorum


@pytest.mark.parametrize(
    ("expected", "total", "quorum"),
    [
        (3, 5, 3),  # magi all up: three nodes and the quorum disk's two votes
        (3, 3, 2),  # magi before the quorum disk registered
        (3, 1, 2),
        (5, 5, 3),
        (4, 4, 3),
        (1, 1, 1),
        (3, 7, 4),  # T above E: the larger wins
    ],
)
def test_formula(expected: int, total: int, quorum: int) -> None:
    assert compute_quorum(expected, total) == quorum


def tracker(**kw: object) -> QuorumTracker:
    return QuorumTracker(
        two_node=bool(kw.get("two_node", False)),
        wait_for_all=bool(kw.get("wait_for_all", False)),
        all_node_ids=frozenset({1, 2, 3}),
    )


def test_magi_last_node_standing_keeps_quorum_only_with_the_disk() -> None:
    t = tracker()
    full = t.evaluate(member_votes={1: 1, 2: 1, 3: 1}, expected=3, qdisk_votes=2)
    assert (full.expected_votes, full.total_votes, full.quorum, full.quorate) == (3, 5, 3, True)
    last = t.evaluate(member_votes={1: 1}, expected=3, qdisk_votes=2)
    assert (last.total_votes, last.quorum, last.quorate) == (3, 3, True)
    assert "2 from the quorum disk" in last.reason
    lost = t.evaluate(member_votes={1: 1}, expected=3, qdisk_votes=0)
    assert (lost.total_votes, lost.quorum, lost.quorate) == (1, 3, False)
    assert lost.reason == "not quorate: 1 votes, quorum needs 3"


def test_quorum_never_decreases_on_ordinary_events() -> None:
    t = tracker()
    assert t.evaluate(member_votes={1: 1, 2: 1, 3: 1}, expected=3, qdisk_votes=2).quorum == 3
    # The disk goes away with all three nodes up: computed quorum would be 2, the floor keeps 3.
    after = t.evaluate(member_votes={1: 1, 2: 1, 3: 1}, expected=3, qdisk_votes=0)
    assert after.quorum == 3 and after.quorate
    two = t.evaluate(member_votes={1: 1, 2: 1}, expected=3, qdisk_votes=0)
    assert two.quorum == 3 and not two.quorate


def test_administrative_change_may_lower_quorum() -> None:
    t = tracker()
    t.evaluate(member_votes={1: 1, 2: 1, 3: 1}, expected=3, qdisk_votes=2)
    lowered = t.evaluate(member_votes={1: 1}, expected=1, qdisk_votes=0, allow_decrease=True)
    assert (lowered.quorum, lowered.quorate) == (1, True)


def test_three_nodes_without_disk_split_one_two() -> None:
    pair, single = tracker(), tracker()
    assert pair.evaluate(member_votes={2: 1, 3: 1}, expected=3, qdisk_votes=0).quorate
    assert not single.evaluate(member_votes={1: 1}, expected=3, qdisk_votes=0).quorate


def test_two_node_each_half_is_quorate() -> None:
    t = QuorumTracker(two_node=True, wait_for_all=False, all_node_ids=frozenset({1, 2}))
    result = t.evaluate(member_votes={1: 1}, expected=1, qdisk_votes=0)
    assert (result.quorum, result.quorate) == (1, True)


def test_wait_for_all_needs_every_node_once() -> None:
    t = tracker(wait_for_all=True)
    early = t.evaluate(member_votes={1: 1, 2: 1}, expected=3, qdisk_votes=0)
    assert not early.quorate and "wait_for_all" in early.reason
    assert t.evaluate(member_votes={1: 1, 2: 1, 3: 1}, expected=3, qdisk_votes=0).quorate
    assert t.evaluate(member_votes={1: 1, 2: 1}, expected=3, qdisk_votes=0).quorate


def test_not_a_member_is_never_quorate() -> None:
    result = tracker().evaluate(member_votes={}, expected=3, qdisk_votes=2)
    assert not result.quorate and result.total_votes == 0


@pytest.mark.parametrize(
    ("new", "total", "error"),
    [(1, 1, None), (2, 3, None), (3, 1, "only 1 votes are present"), (0, 3, "positive")],
)
def test_expected_validation(new: int, total: int, error: str | None) -> None:
    message = QuorumTracker.check_expected(new, total)
    if error is None:
        assert message is None
    else:
        assert message is not None and error in message
