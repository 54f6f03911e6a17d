"""Agreement (two-phase views): proposals, refusals with their codes, commits, and the coordinator's retries."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from membership_rig import Rig

from quorate.core.membership import State
from quorate.core.messages import (
    FLAG_DIRTY,
    Accept,
    Commit,
    MalformedMessage,
    Propose,
    RefusalCode,
    ViewId,
    decode,
    encode,
)


def member(*, talking: tuple[int, ...] = (1, 3)) -> Rig:
    """Casper (2) hears `talking`; balthasar (1), the lowest id, is the coordinator the test plays."""
    rig = Rig(local=2)
    for peer in talking:
        rig.heartbeat(peer)
    rig.at(0.05)
    return rig


def propose(rig: Rig, members: set[int], *, sender: int = 1, coord: int | None = None, seq: int = 0) -> Accept:
    """`sender` proposes a view of `members` (by default above anything casper promised); returns the answer."""
    view = ViewId(seq or rig.core.promised.seq + 1, sender if coord is None else coord)
    mark = rig.mark()
    rig.receive(sender, Propose(view, tuple(sorted(members))))
    (reply,) = rig.sent(Accept, to=sender, since=mark)
    assert decode(encode(reply)) == reply, "the answer crosses the wire unchanged"
    return reply


def install(rig: Rig, members: set[int]) -> ViewId:
    """Balthasar proposes and commits a view of `members`, casper accepts it."""
    reply = propose(rig, members)
    assert reply.ok, reply.reason
    rig.receive(1, Commit(reply.view, tuple(sorted(members))))
    assert rig.core.view == reply.view and rig.core.members == members
    return reply.view


# ----------------------------------------------------------------------------- situations before a proposal


# Each returns the sequence of the view to propose next (0: one above anything casper promised).


def nothing(rig: Rig) -> int:
    return 0


def left(rig: Rig) -> int:
    rig.core.leave(rig.now)
    return 0


def promised_newer(rig: Rig) -> int:
    newer = propose(rig, {1, 2, 3}, seq=rig.core.promised.seq + 5)
    assert newer.ok
    return newer.view.seq - 2  # a proposal that was overtaken in the network


def fenced_melchior(rig: Rig) -> int:
    rig.core.bar_until_restart(3, rig.boots[3])
    return 0


def stale_melchior(rig: Rig) -> int:
    """Melchior fails out of the quorate view {1, 2, 3} and comes back with the same run, past the settle time."""
    install(rig, {1, 2, 3})
    rig.talk(1.5, (1,))
    install(rig, {1, 2})
    rig.talk(4.0, (1, 3))
    return 0


def dirty_melchior(rig: Rig) -> int:
    """Melchior, never in the view, talks while it claims cluster state."""
    install(rig, {1, 2})
    rig.heartbeat(3, flags=FLAG_DIRTY)
    return 0


REFUSALS: list[tuple[str, tuple[int, ...], Callable[[Rig], int], set[int], int, int | None, RefusalCode, str]] = [
    # id, talking, before, proposed members, sender, coordinator, code, reason
    ("left", (1, 3), left, {1, 2, 3}, 1, None, RefusalCode.LEFT, "this node has left the cluster"),
    ("older", (1, 3), promised_newer, {1, 2, 3}, 1, None, RefusalCode.PROMISED, "already promised view"),
    ("without me", (1, 3), nothing, {1, 3}, 1, None, RefusalCode.NOT_INCLUDED, "does not include this node"),
    ("not lowest", (1, 3), nothing, {1, 2, 3}, 3, None, RefusalCode.NOT_LOWEST, "not the lowest node id"),
    ("not the sender", (1, 3), nothing, {1, 2, 3}, 3, 1, RefusalCode.NOT_LOWEST, "not the lowest node id"),
    ("deaf", (1,), nothing, {1, 2, 3}, 1, None, RefusalCode.NOT_HEARD, "does not hear {melchior}"),
    ("fenced", (1, 3), fenced_melchior, {1, 2, 3}, 1, None, RefusalCode.FENCED, "{melchior} was fenced"),
    ("stale", (1, 3), stale_melchior, {1, 2, 3}, 1, None, RefusalCode.STALE_RUN, "{melchior} failed and came back"),
    ("dirty", (1,), dirty_melchior, {1, 2, 3}, 1, None, RefusalCode.DIRTY_OUTSIDE, "{melchior} claims cluster state"),
]


@pytest.mark.parametrize(
    ("talking", "before", "members", "sender", "coord", "code", "reason"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_each_refusal_of_a_proposal_carries_its_code(
    talking: tuple[int, ...],
    before: Callable[[Rig], int],
    members: set[int],
    sender: int,
    coord: int | None,
    code: RefusalCode,
    reason: str,
) -> None:
    rig = member(talking=talking)
    seq = before(rig)
    view_before = rig.core.view
    reply = propose(rig, members, sender=sender, coord=coord, seq=seq)
    assert (reply.ok, reply.code) == (False, code)
    assert reason in reply.reason
    assert reply.promised == rig.core.promised, "a refusal says what the member promised instead"
    assert rig.core.view == view_before
    if code in (RefusalCode.NOT_HEARD, RefusalCode.FENCED, RefusalCode.STALE_RUN, RefusalCode.DIRTY_OUTSIDE):
        assert reply.nodes == (3,), "the refusal names the node it is about, by id"


def test_an_outside_coordinator_may_not_split_a_quorate_view() -> None:
    rig = Rig(local=2)  # casper coordinates {casper, melchior}; balthasar is silent
    rig.talk(1.0, (3,))
    assert rig.core.members == {2, 3} and rig.core.quorum.quorate
    rig.heartbeat(1, hears=(1, 2))  # balthasar appears, hearing casper but not melchior
    reply = propose(rig, {1, 2})
    assert (reply.ok, reply.code, reply.nodes) == (False, RefusalCode.SPLITS_VIEW, (3,))
    assert "splits this node's view: it drops {melchior}" in reply.reason
    assert propose(rig, {1, 2, 3}).ok, "merging the view is accepted"


def test_an_acceptable_proposal_is_accepted_again_when_it_comes_again() -> None:
    rig = member()
    first = propose(rig, {1, 2, 3})
    again = propose(rig, {1, 2, 3}, seq=first.view.seq)  # the first answer was lost; the coordinator resends
    assert first.ok and again.ok and again.code is None and first.view == again.view


@pytest.mark.parametrize(
    ("sender", "view_shift", "members", "installs"),
    [
        (1, 0, {1, 2, 3}, True),
        (3, 0, {1, 2, 3}, False),  # a member's heartbeat is no commit
        (1, 1, {1, 2, 3}, False),  # not the view casper promised
        (1, 0, {1, 3}, False),  # without casper
    ],
    ids=["coordinator", "another member", "another view", "without me"],
)
def test_the_coordinators_heartbeat_doubles_as_a_commit(
    sender: int, view_shift: int, members: set[int], installs: bool
) -> None:
    rig = member()
    reply = propose(rig, {1, 2, 3})
    assert reply.ok and rig.core.promised == reply.view and rig.core.view != reply.view
    view = ViewId(reply.view.seq + view_shift, 1)
    rig.heartbeat(sender, view=view, members=members)  # the Commit datagram was lost
    assert (rig.core.view == reply.view) is installs
    assert (rig.core.state is State.MEMBER and rig.core.members == {1, 2, 3}) is installs
    assert bool([v for v in rig.views() if v.view == reply.view]) is installs


def coordinator() -> Rig:
    """Balthasar (1) hears casper and melchior; it proposes them a view, the test answers (or not)."""
    rig = Rig()
    rig.heartbeat(2)
    rig.heartbeat(3)
    rig.talk(0.1, (2, 3), answer=False)
    return rig


@pytest.mark.parametrize("end", ["round timeout", "refusal"])
def test_the_coordinator_retries_one_heartbeat_interval_after_a_round_ends(end: str) -> None:
    rig = coordinator()
    (first,) = rig.sent(Propose)
    (started,) = rig.when(Propose)
    assert sorted(first.members) == [1, 2, 3]
    rig.receive(2, Accept(first.view, True, first.view))
    if end == "refusal":
        rig.receive(3, Accept(first.view, False, first.view, "this node does not hear {casper}", RefusalCode.NOT_HEARD))
        ended = rig.logged_at("melchior refused view")
        assert rig.logs()[-1] == f"melchior refused view {first.view.seq}: this node does not hear {{casper}}"
    else:
        rig.talk(started + 1.0, (2, 3), answer=False)  # melchior keeps talking but never answers
        ended = rig.logged_at(f"view {first.view.seq} not accepted in time by {{melchior}}; retrying")
        assert started + 0.8 <= ended < started + 0.8 + 0.1, "the round times out after max(token/2, 4 heartbeats)"
    retries = [t for t, p in zip(rig.when(Propose), rig.sent(Propose), strict=True) if p.view != first.view]
    if not retries:
        rig.talk(ended + 0.4, (2, 3), answer=False)
        retries = [t for t, p in zip(rig.when(Propose), rig.sent(Propose), strict=True) if p.view != first.view]
    retry = next(p for p in rig.sent(Propose) if p.view != first.view)
    assert ended + 0.2 <= retries[0] < ended + 0.3, "the next round starts one heartbeat interval later"
    assert retry.view.seq == first.view.seq + 1 and sorted(retry.members) == [1, 2, 3]
    rig.answer((2, 3))
    assert rig.core.view == retry.view and rig.core.members == {1, 2, 3}


def test_a_round_resends_only_to_the_members_that_have_not_accepted() -> None:
    rig = coordinator()
    (first,) = rig.sent(Propose)
    rig.receive(2, Accept(first.view, True, first.view))
    mark = rig.mark()
    rig.talk(rig.now + 0.5, (2, 3), answer=False)
    assert rig.sent(Propose, since=mark), "the proposal is resent"
    assert not rig.sent(Propose, to=2, since=mark)


def wire(*fields: object) -> bytes:
    return msgspec.msgpack.encode(["ac", [3, 1], *fields])


@pytest.mark.parametrize(
    "data",
    [
        wire(False, [2, 1], "stale", "no-such-code", []),
        wire(True, [3, 1], "", "stale-run", []),
        wire(False, [2, 1], "no code", None, []),
        wire(False, [2, 1], "why", "stale-run", ["melchior"]),
        wire(False, [2, 1], "why", 7, []),
    ],
    ids=["unknown code", "acceptance with a code", "refusal without a code", "nodes by name", "code not a string"],
)
def test_a_malformed_answer_is_rejected_at_the_boundary(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(data)


def test_a_refusal_crosses_the_wire_with_its_code_and_nodes() -> None:
    data = wire(False, [2, 1], "{melchior} failed and came back", "stale-run", [3])
    assert decode(data) == Accept(
        ViewId(3, 1), False, ViewId(2, 1), "{melchior} failed and came back", RefusalCode.STALE_RUN, (3,)
    )
