"""Votes (quorum inputs): expected votes lowered by a member, leave-remove arithmetic, quorum-disk votes."""

from __future__ import annotations

import pytest
from membership_rig import Rig

from quorate.core.effects import PersistRejoin, QuorumChanged
from quorate.core.membership import MembershipError
from quorate.core.messages import Commit, Heartbeat, Leave, Propose, SetExpected, ViewId


def quorum_of(rig: Rig) -> tuple[int, int, int, bool]:
    q = rig.core.quorum
    return q.expected_votes, q.total_votes, q.quorum, q.quorate


# ----------------------------------------------------------------------------- expected votes


@pytest.mark.parametrize(
    ("steps", "announced", "after"),
    [
        # balthasar and casper are the view of a 4-vote cluster: 2 votes, quorum 3, not quorate.
        ([], 4, (4, 2, 3, False)),
        (["order from casper"], 2, (4, 2, 3, False)),  # casper still announces 4: E is the members' highest
        (["order from casper", "casper announces 2"], 2, (2, 2, 2, True)),
        (["casper announces 2", "order from casper"], 2, (2, 2, 2, True)),  # the order arrives after it
        (["casper announces 2"], 4, (4, 2, 3, False)),  # no order here: this node's own 4 still counts
        (["order from adam"], 4, (4, 2, 3, False)),  # not a member of this view: ignored
    ],
    ids=["nothing", "order only", "order, then heartbeat", "heartbeat, then order", "heartbeat only", "outsider"],
)
def test_expected_votes_lowered_by_a_member(
    steps: list[str], announced: int, after: tuple[int, int, int, bool]
) -> None:
    rig = Rig(votes=(1, 1, 1, 1))
    rig.talk(1.0, (2,))
    rig.heartbeat(4)  # adam talks but is refused nothing: it simply is not in this view yet
    assert rig.core.members == {1, 2} and quorum_of(rig) == (4, 2, 3, False)
    casper_says = 4
    for step in steps:
        if step == "order from casper":
            rig.receive(2, SetExpected(2))
        elif step == "order from adam":
            rig.receive(4, SetExpected(2))
        else:
            casper_says = 2
        rig.heartbeat(2, view=rig.core.view, members=rig.core.members, expected=casper_says)
    assert quorum_of(rig) == after
    assert rig.sent(Heartbeat)[-1].expected == announced, "what this node announces from now on"
    flips = rig.of(QuorumChanged)
    assert bool(flips and flips[-1].quorate) is after[3]


def test_the_administrators_order_is_checked_then_sent_to_every_member() -> None:
    rig = Rig(votes=(1, 1, 1, 1))
    rig.talk(1.0, (2, 3))
    assert quorum_of(rig) == (4, 3, 3, True)
    mark = rig.mark()
    rig.core.set_expected(rig.now, 3)
    assert rig.sent(SetExpected, to=2, since=mark) == rig.sent(SetExpected, to=3, since=mark) == [SetExpected(3)]
    assert rig.core.my_expected == 3 and rig.sent(Heartbeat)[-1].expected == 3
    with pytest.raises(MembershipError, match="expected votes 6 would make the quorum 4 but only 3 votes are present"):
        rig.core.set_expected(rig.now, 6)
    with pytest.raises(MembershipError, match="must be a positive integer"):
        rig.core.set_expected(rig.now, 0)


# ----------------------------------------------------------------------------- leave with remove


@pytest.mark.parametrize(
    ("votes", "leaver", "order", "after"),
    [
        ((1, 1, 1), 3, "leave first", (2, 2, 2, True)),
        ((1, 1, 1), 3, "view first", (2, 2, 2, True)),
        ((1, 1, 3), 3, "leave first", (2, 2, 2, True)),  # the heavy node leaves: the pair keeps quorum
        ((1, 1, 3), 3, "view first", (2, 2, 2, True)),
        ((1, 2, 1, 1), 4, "leave first", (4, 4, 3, True)),
        ((1, 2, 1, 1), 3, "view first", (4, 4, 3, True)),
    ],
)
def test_a_leave_with_remove_lowers_expected_votes_to_what_remains(
    votes: tuple[int, ...], leaver: int, order: str, after: tuple[int, int, int, bool]
) -> None:
    """Casper (2) is a member; balthasar (1) coordinates. Whether the leaver's Leave or the view without it
    arrives first, the quorum ends where the remaining votes put it (Q-8)."""
    rig = Rig(local=2, votes=votes)
    everyone = set(rig.ids)
    rig.heartbeat(1)
    for peer in everyone - {1, 2}:
        rig.heartbeat(peer)
    commit(rig, everyone, seq=1)
    rest = everyone - {leaver}
    if order == "leave first":
        rig.receive(leaver, Leave(0, remove=True))
        commit(rig, rest, seq=2)
    else:
        commit(rig, rest, seq=2, left=(leaver,))
        rig.receive(leaver, Leave(0, remove=True))
    for peer in rest - {2}:  # the other members lowered too
        rig.heartbeat(peer, view=rig.core.view, members=rest, expected=after[0])
    assert rig.views()[-1].left == {leaver} and not rig.views()[-1].failed
    assert quorum_of(rig) == after


def test_a_leave_without_remove_keeps_the_expected_votes() -> None:
    rig = Rig(local=2)
    rig.heartbeat(1)
    rig.heartbeat(3)
    commit(rig, {1, 2, 3}, seq=1)
    rig.receive(3, Leave(0))
    commit(rig, {1, 2}, seq=2)
    assert rig.views()[-1].left == {3}
    assert quorum_of(rig) == (3, 2, 2, True)


@pytest.mark.parametrize(
    ("votes", "kept", "announced"),
    [((1, 1, 1), {1, 2}, 2 + 2 * 1), ((1, 1, 3), {1, 2}, 2 + 2 * 3), ((2, 1, 1, 1), {1, 2, 4}, 4 + 2 * 1)],
)
def test_the_leaver_announces_enough_expected_votes_to_stay_inquorate_alone(
    votes: tuple[int, ...], kept: set[int], announced: int
) -> None:
    """The others count without it: until it is back with them, it announces what they kept plus its own votes
    twice, and that is persisted."""
    rig = Rig(local=3, votes=votes)
    for peer in set(rig.ids) - {3}:
        rig.heartbeat(peer)
    commit(rig, set(rig.ids), seq=1)
    rig.core.leave(rig.now, remove=True)
    assert rig.of(PersistRejoin) == [PersistRejoin(max(announced, sum(votes)), frozenset(kept))]
    assert rig.core.rejoin_expected == max(announced, sum(votes))


def test_the_leaver_drops_its_raised_expected_votes_once_back_with_all_of_them() -> None:
    rig = Rig(local=3, votes=(1, 1, 3), rejoin=(8, frozenset({1, 2})))  # persisted by an earlier run
    rig.heartbeat(1)
    rig.heartbeat(2)
    assert rig.sent(Heartbeat)[-1].expected == 8
    commit(rig, {1, 2, 3}, seq=1)
    assert rig.of(PersistRejoin) == [PersistRejoin(0, frozenset())]
    assert rig.core.rejoin_expected == 0 and rig.sent(Heartbeat)[-1].expected == 5


def commit(rig: Rig, members: set[int], *, seq: int, left: tuple[int, ...] = ()) -> None:
    """Balthasar (1) proposes and commits a view; the core under test accepts and installs it."""
    view = ViewId(seq, 1)
    rig.receive(1, Propose(view, tuple(sorted(members))))
    rig.receive(1, Commit(view, tuple(sorted(members)), left))
    assert rig.core.view == view, rig.logs()[-3:]


# ----------------------------------------------------------------------------- quorum disk


@pytest.mark.parametrize(
    ("grants", "after"),
    [
        ([(3, False)], (6, 4, True)),
        ([(3, False), (0, False)], (3, 4, False)),  # a fault: the quorum stays where the disk put it
        ([(3, False), (0, False), (2, True)], (5, 3, True)),  # a pushed file's 2 votes: recomputed down
        ([(3, False), (0, True)], (3, 2, True)),  # the disk removed from the configuration
        ([(3, False), (3, True)], (6, 4, True)),  # the same count from a new file: nothing to lower
        ([(1, False), (3, False), (1, False)], (4, 4, True)),  # a smaller grant is no resize
    ],
    ids=["granted", "lost to a fault", "resized down", "removed", "resized equal", "regranted smaller"],
)
def test_quorum_disk_votes(grants: list[tuple[int, bool]], after: tuple[int, int, bool]) -> None:
    rig = Rig()
    rig.talk(1.0, (2, 3))
    for votes, resized in grants:
        rig.core.set_qdisk_votes(rig.now, votes, resized=resized)
    q = rig.core.quorum
    assert (q.total_votes, q.quorum, q.quorate) == after
    assert rig.core.qdisk_votes == grants[-1][0]
    if grants[-1][0]:
        assert f"including {grants[-1][0]} from the quorum disk" in q.reason
