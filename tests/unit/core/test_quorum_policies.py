"""votequorum's last_man_standing and auto_tie_breaker (Q-13..Q-15): the verdict against a reference, table-driven,
and the lowering of expected votes by a real membership core after the window."""

from __future__ import annotations

from dataclasses import replace

import pytest
from membership_rig import Rig

from quorate.core.effects import QuorumChanged
from quorate.core.membership import Membership
from quorate.core.messages import FLAG_QUORATE
from quorate.core.quorum import QuorumTracker
from quorate.core.quorum_policies import QuorumPolicies, Reference, tie_breaker_node

LMS = QuorumPolicies(last_man_standing=True, lms_window=3.0)
ATB = QuorumPolicies(auto_tie_breaker=True)
BOTH = QuorumPolicies(last_man_standing=True, lms_window=3.0, auto_tie_breaker=True)


def ref(nodes: set[int], *, committed: bool = True, votes: dict[int, int] | None = None) -> Reference:
    table = votes or {n: 1 for n in range(1, 6)}
    return Reference(frozenset(nodes), {n: table[n] for n in nodes}, committed=committed)


# --------------------------------------------------------------------------- the verdict, one evaluation


@pytest.mark.parametrize(
    ("policies", "members", "expected", "reference", "quorate", "why"),
    [
        # auto_tie_breaker on four one-vote nodes: an exact half wins only with the tie-breaker node.
        (ATB, {1, 2}, 4, ref({1, 2, 3, 4}), True, "tie-breaker node 1"),
        (ATB, {3, 4}, 4, ref({1, 2, 3, 4}), False, "tie-breaker node 1 is in the other half"),
        (replace(ATB, tie_breaker="highest"), {3, 4}, 4, ref({1, 2, 3, 4}), True, "tie-breaker node 4"),
        (replace(ATB, tie_breaker=(3, 1)), {2, 3}, 4, ref({1, 2, 3, 4}), True, "tie-breaker node 3"),
        (replace(ATB, tie_breaker=(3, 1)), {1, 2}, 4, ref({1, 2, 3, 4}), False, "in the other half"),
        (ATB, {1}, 4, ref({1, 2, 3, 4}), False, "1 votes, quorum needs 3"),  # a quarter is no tie
        (ATB, {1, 2, 3}, 4, ref({1, 2, 3, 4}), True, "quorate: 3 votes, quorum 3"),  # a majority needs no help
        (ATB, {1, 2}, 5, ref({1, 2, 3, 4}), False, "quorum needs 3"),  # expected_votes above the nodes' votes
        # a node of 2 votes and two of 1: the 2-vote node alone is exactly half.
        (ATB, {1}, 4, ref({1, 2, 3}, votes={1: 2, 2: 1, 3: 1}), True, "exactly half of 4 votes"),
        (ATB, {2, 3}, 4, ref({1, 2, 3}, votes={1: 2, 2: 1, 3: 1}), False, "in the other half"),
        # last man standing: a lowered reference needs its majority, whatever the expected votes say.
        (LMS, {1, 2}, 3, ref({1, 2, 3}), True, "last man standing: expected votes lowered to the 3"),
        (LMS, {3}, 3, ref({1, 2, 3}), False, "quorum needs 2"),
        (LMS, {3, 4, 5}, 5, ref({1, 2, 3}), False, "1 of the 3 votes of nodes [1, 2, 3] are present"),
        (LMS, {3, 4, 5}, 5, ref({1, 2, 3}, committed=False), False, "not yet announced by every member"),
        (LMS, {1, 2}, 2, ref({1, 2}), True, "quorate: 2 votes, quorum 2"),
        (LMS, {1}, 2, ref({1, 2}), False, "quorum needs 2"),  # no tie-breaker: the last two cannot split
        # both: the tie-breaker settles the last two.
        (BOTH, {1}, 2, ref({1, 2}), True, "tie-breaker node 1"),
        (BOTH, {2}, 2, ref({1, 2}), False, "in the other half"),
        (BOTH, {1}, 2, ref({1, 2}, committed=False), False, "quorum needs 2"),  # a prepared reference breaks no tie
        (replace(BOTH, tie_breaker=(5, 2)), {2}, 2, ref({1, 2}), True, "tie-breaker node 2"),  # 5 is gone
    ],
)
def test_verdict_against_the_reference(
    policies: QuorumPolicies,
    members: set[int],
    expected: int,
    reference: Reference,
    quorate: bool,
    why: str,
) -> None:
    tracker = QuorumTracker(
        two_node=False, wait_for_all=False, all_node_ids=frozenset({1, 2, 3, 4, 5}), policies=policies
    )
    votes = {m: reference.votes.get(m, 1) for m in members}
    result = tracker.evaluate(member_votes=votes, expected=expected, qdisk_votes=0, reference=reference)
    assert result.quorate is quorate, result.reason
    assert why in result.reason


def test_without_policies_the_reference_changes_nothing() -> None:
    tracker = QuorumTracker(two_node=False, wait_for_all=False, all_node_ids=frozenset({1, 2, 3, 4}))
    result = tracker.evaluate(member_votes={1: 1, 2: 1}, expected=4, qdisk_votes=0, reference=ref({1, 2, 3, 4}))
    assert not result.quorate and result.reason == "not quorate: 2 votes, quorum needs 3"


@pytest.mark.parametrize(
    ("choice", "reference", "breaker"),
    [("lowest", {2, 4, 5}, 2), ("highest", {2, 4, 5}, 5), ((3, 4, 2), {2, 4, 5}, 4), ((3,), {2, 4}, None)],
)
def test_tie_breaker_node_is_taken_from_the_reference(
    choice: str | tuple[int, ...], reference: set[int], breaker: int | None
) -> None:
    policies = QuorumPolicies(auto_tie_breaker=True, tie_breaker=choice)
    assert tie_breaker_node(policies, frozenset(reference)) == breaker


# --------------------------------------------------------------------------- a membership core over time


def policy_rig(policies: QuorumPolicies, n: int, *, votes: tuple[int, ...] | None = None) -> Rig:
    rig = Rig(votes=votes or (1,) * n)
    rig.config = replace(rig.config, policies=policies, wait_for_all=policies.last_man_standing)
    rig.core = Membership(rig.config, 1, boot=1, now=0.0)
    rig.effects.clear()
    rig.times.clear()
    return rig


def run(rig: Rig, until: float, peers: tuple[int, ...], *, fencing_pending: bool = False) -> None:
    """Peers heartbeat as members and announce what a core like this one would: the view's votes once the
    window passed (they lower at the same moment), and accept proposals."""
    while rig.now < until - 1e-9:
        rig.at(min(until, rig.now + 0.1))
        rig.core.lms_tick(rig.now, fencing_pending=fencing_pending)
        lowered = rig.core.my_expected
        for peer in peers:
            if peer in rig.core.members:
                flags = FLAG_QUORATE if rig.core.quorum.quorate else 0
                rig.heartbeat(peer, view=rig.core.view, members=rig.core.members, expected=lowered, flags=flags)
            else:
                rig.heartbeat(peer)
        rig.answer(peers)


@pytest.mark.parametrize(
    ("votes", "policies", "history", "quorate", "expected_after"),
    [
        # five nodes, one crash, then the window: expected votes follow the four present.
        ((1, 1, 1, 1, 1), LMS, [(5,)], True, 4),
        # two crashes spaced by the window: down to three, still quorate, expected 3.
        ((1, 1, 1, 1, 1), LMS, [(5,), (4,)], True, 3),
        # three crashes spaced by the window: the last two of five keep quorum.
        ((1, 1, 1, 1, 1), LMS, [(5,), (4,), (3,)], True, 2),
        # two nodes lost at once out of five: the three left are a majority, lowered to 3.
        ((1, 1, 1, 1, 1), LMS, [(4, 5)], True, 3),
        # three of five lost at once: no majority, so last man standing never acts (it needs quorum).
        ((1, 1, 1, 1, 1), LMS, [(3, 4, 5)], False, 5),
        # the last two: one more crash leaves one node, which is not quorate without the tie-breaker...
        ((1, 1, 1), LMS, [(3,), (2,)], False, 2),
        # ...and is with it, when it is the tie-breaker (lowest id: node 1 is the local node).
        ((1, 1, 1), BOTH, [(3,), (2,)], True, 1),
        # a 2-vote node and two 1-vote nodes: losing the 2-vote node leaves exactly half, which the window
        # does not lower (no majority); the tie-breaker (lowest, node 1) is present, so still quorate.
        ((1, 2, 1), BOTH, [(2,)], True, 2),
    ],
)
def test_last_man_standing_after_the_window(
    votes: tuple[int, ...],
    policies: QuorumPolicies,
    history: list[tuple[int, ...]],
    quorate: bool,
    expected_after: int,
) -> None:
    rig = policy_rig(policies, len(votes), votes=votes)
    alive = tuple(range(2, len(votes) + 1))
    run(rig, 1.5, alive)
    assert rig.core.members == frozenset(range(1, len(votes) + 1)) and rig.core.quorum.quorate
    for lost in history:
        alive = tuple(p for p in alive if p not in lost)
        run(rig, rig.now + 3.0 + 3.5, alive)  # the views settle, then the window passes
    q = rig.core.quorum
    assert q.quorate is quorate, q.reason
    assert rig.core.my_expected == expected_after


def test_nothing_is_lowered_while_a_lost_node_waits_to_be_fenced() -> None:
    rig = policy_rig(LMS, 5)
    run(rig, 1.5, (2, 3, 4, 5))
    run(rig, 10.0, (3, 4, 5), fencing_pending=True)
    assert rig.core.my_expected == 5 and rig.core.quorum.quorum == 3
    # fenced: the view has been stable for longer than the window, so the count drops at the next tick
    run(rig, 10.2, (3, 4, 5))
    assert rig.core.my_expected == 4 and rig.core.quorum.quorum == 3


def test_a_node_back_restores_the_configured_expected_votes() -> None:
    rig = policy_rig(LMS, 4)
    run(rig, 1.5, (2, 3, 4))
    run(rig, 8.0, (2, 3))
    assert rig.core.my_expected == 3 and rig.core.quorum.quorum == 2
    rig.restart(4)  # fenced, rebooted
    run(rig, 11.0, (2, 3, 4))
    assert rig.core.members == {1, 2, 3, 4}
    assert rig.core.my_expected == 4
    assert any("back, expected votes 4 again" in line for line in rig.logs())


def test_quorum_drops_only_once_every_member_announces_the_lower_count() -> None:
    rig = policy_rig(LMS, 5)
    run(rig, 1.5, (2, 3, 4, 5))
    # node 5 is lost; the others (played here) keep announcing 5 after the window: nothing is committed.
    while rig.now < 9.0:
        rig.at(rig.now + 0.1)
        rig.core.lms_tick(rig.now, fencing_pending=False)
        for peer in (2, 3, 4):
            if peer in rig.core.members:
                rig.heartbeat(peer, view=rig.core.view, members=rig.core.members, expected=5)
            else:
                rig.heartbeat(peer)
        rig.answer((2, 3, 4))
    assert rig.core.my_expected == 4, "this node announces the lower count"
    assert (rig.core.quorum.expected_votes, rig.core.quorum.quorum) == (5, 3), "but the others still say 5"
    for peer in (2, 3, 4):
        rig.heartbeat(peer, view=rig.core.view, members=rig.core.members, expected=4)
    assert (rig.core.quorum.expected_votes, rig.core.quorum.quorum) == (4, 3)
    assert any("every member announces 4" in line for line in rig.logs())
    assert not [f for f in rig.of(QuorumChanged) if not f.quorate]
