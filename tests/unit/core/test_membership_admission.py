"""Admission (who may be in a view): every refusal, stale-run resets, eviction of this node, kill orders."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from membership_rig import DIGEST, Rig

from quorate.core.effects import Evicted, Killed, QuorumChanged
from quorate.core.membership import MembershipConfig, MembershipError, NodeSpec, State
from quorate.core.membership_admission import Admission
from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import Peer
from quorate.core.messages import (
    FLAG_DIRTY,
    FLAG_QUORATE,
    Accept,
    Commit,
    Heartbeat,
    Kill,
    Propose,
    RefusalCode,
    ViewId,
)
from quorate.core.quorum import QuorumResult

# ----------------------------------------------------------------------------- the refusals, one by one


def fenced(p: Peer) -> None:
    p.barred_boot = p.boot


def fenced_then_restarted(p: Peer) -> None:
    p.barred_boot = 7
    p.boot = 8


def stale(p: Peer) -> None:
    p.failed_stamp = p.stamp


def failed_then_reset(p: Peer) -> None:
    p.failed_stamp = p.stamp
    p.incarnation += 1


def dirty(p: Peer) -> None:
    p.flags = FLAG_DIRTY


def other_version(p: Peer) -> None:
    p.config_version = 2


def other_file(p: Peer) -> None:
    p.config_digest = "d2"


def not_heard_yet(p: Peer) -> None:
    p.config_version, p.config_digest = 0, ""


def fenced_and_stale(p: Peer) -> None:
    fenced(p)
    stale(p)


def nothing(p: Peer) -> None:
    pass


REFUSALS: list[tuple[str, Callable[[Peer], None], bool, bool, RefusalCode | None, str]] = [
    # id, what is known of melchior, this node quorate, melchior a member, code, reason
    ("nothing against it", nothing, True, False, None, ""),
    ("fenced run", fenced, True, True, RefusalCode.FENCED, "was fenced; it must restart quorated before it rejoins"),
    ("fenced, inquorate", fenced, False, False, RefusalCode.FENCED, "was fenced"),
    ("fenced, then restarted", fenced_then_restarted, True, False, None, ""),
    ("stale run", stale, True, False, RefusalCode.STALE_RUN, "failed and came back with the same incarnation"),
    ("stale run, inquorate", stale, False, False, None, ""),
    ("failed, then a new incarnation", failed_then_reset, True, False, None, ""),
    ("dirty outside", dirty, True, False, RefusalCode.DIRTY_OUTSIDE, "claims cluster state while outside the view"),
    ("dirty member", dirty, True, True, None, ""),
    ("dirty outside, inquorate", dirty, False, False, None, ""),
    ("other version", other_version, True, False, RefusalCode.CONFIG_MISMATCH, "version 2, this node runs 1"),
    (
        "other file",
        other_file,
        False,
        False,
        RefusalCode.CONFIG_MISMATCH,
        "runs another file with the same config version 1 (digest d2, this node d1): push a higher version",
    ),
    ("other version, member", other_version, True, True, None, ""),
    ("not heard yet", not_heard_yet, True, False, None, ""),
    ("fenced and stale", fenced_and_stale, True, False, RefusalCode.FENCED, "was fenced"),
]


@pytest.mark.parametrize(
    ("situation", "quorate", "member", "code", "reason"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_every_refusal_of_a_peer(
    situation: Callable[[Peer], None], quorate: bool, member: bool, code: RefusalCode | None, reason: str
) -> None:
    """Balthasar (1) judges melchior (3), which talks with boot 5, incarnation 0 and the same configuration."""
    config = MembershipConfig(
        nodes=(NodeSpec(1, "balthasar"), NodeSpec(2, "casper"), NodeSpec(3, "melchior")),
        expected_votes=3,
        config_version=1,
        config_digest=DIGEST,
    )
    verdict = QuorumResult(3, 2, 2, quorate, "as the test says")
    state = MembershipState(config, 1, boot=1, incarnation=0, highest_seq=0, quorum=verdict)
    state.members = frozenset({1, 3} if member else {1, 2})
    admission = Admission(state, send_heartbeat=lambda now: None)
    peer = state.peers[3]
    peer.boot, peer.config_version, peer.config_digest = 5, 1, DIGEST
    situation(peer)
    refusal = admission.refusal(peer)
    if code is None:
        assert refusal is None
    else:
        assert refusal is not None and (refusal.code, refusal.nodes) == (code, (3,))
        assert reason in refusal.reason


def test_a_refused_node_is_shown_refused_only_while_it_talks_and_a_fenced_one_until_it_restarts() -> None:
    rig = Rig()
    rig.talk(1.0, (2, 3))
    rig.core.bar_until_restart(3, rig.boots[3])
    rig.talk(2.0, (2, 3))
    assert rig.core.members == {1, 2}, "a fenced run is taken out of the view"
    assert rig.refused(3) == "was fenced; it must restart quorated before it rejoins"
    assert rig.refused(2) is None
    rig.talk(3.5, (2,))
    assert rig.refused(3) is None, "a silent node is out, not refused"
    rig.restart(3)
    rig.talk(4.5, (2, 3))
    assert rig.core.members == {1, 2, 3} and rig.refused(3) is None


# ----------------------------------------------------------------------------- this node's stale run


@pytest.mark.parametrize(
    ("quorate", "code", "nodes", "reason", "resets"),
    [
        (False, RefusalCode.STALE_RUN, (1,), "(the prose does not matter)", True),
        (False, RefusalCode.STALE_RUN, (3,), "{balthasar} failed and came back with the same incarnation", False),
        (False, RefusalCode.DIRTY_OUTSIDE, (1,), "{balthasar} claims cluster state while outside the view", False),
        (False, RefusalCode.NOT_HEARD, (), "{balthasar} failed and came back with the same incarnation", False),
        (True, RefusalCode.STALE_RUN, (1,), "{balthasar} failed and came back with the same incarnation", False),
    ],
    ids=["this node's run", "another node's run", "another code", "prose alone", "quorate proposer"],
)
def test_a_refusal_coded_as_this_nodes_stale_run_makes_an_inquorate_proposer_reset(
    quorate: bool, code: RefusalCode, nodes: tuple[int, ...], reason: str, resets: bool
) -> None:
    rig = Rig()
    if quorate:
        rig.talk(1.0, (2,))
        assert rig.core.quorum.quorate and rig.core.members == {1, 2}
    rig.heartbeat(2)
    rig.heartbeat(3)
    rig.talk(rig.now + 0.1, (2, 3), answer=False)
    proposal = rig.sent(Propose, to=3)[-1]
    before = rig.core.incarnation
    rig.receive(3, Accept(proposal.view, False, proposal.view, reason, code, nodes))
    assert rig.core.incarnation == before + int(resets)
    reset = f"the cluster holds this node's previous run as failed: rejoining as incarnation {before + 1}"
    assert (reset in rig.logs()) is resets
    assert rig.logs()[-1] == f"melchior refused view {proposal.view.seq}: {reason}"
    rig.at(rig.now + 0.2)
    assert rig.sent(Heartbeat)[-1].incarnation == before + int(resets), "the next heartbeat announces the run"


def test_a_quorate_node_lists_stale_runs_in_its_heartbeats_until_they_reset() -> None:
    rig = Rig()
    rig.talk(1.0, (2, 3))
    rig.talk(2.5, (2,))
    assert rig.views()[-1].failed == {3}
    rig.talk(5.0, (2, 3))  # melchior's process was alive all along: same run, settled
    assert rig.sent(Heartbeat)[-1].stale == (3,) and rig.core.members == {1, 2}
    assert rig.refused(3) == "failed and came back with the same incarnation (it must reset before rejoining)"
    rig.incarnations[3] += 1  # what melchior does on reading its id there
    rig.talk(6.0, (2, 3))
    assert rig.sent(Heartbeat)[-1].stale == () and rig.core.members == {1, 2, 3}


PAIR_VIEW = ViewId(4, 1)


def from_the_pair(rig: Rig, sender: int, *, view: ViewId = PAIR_VIEW, stale: tuple[int, ...] = ()) -> None:
    """A heartbeat from balthasar or casper, quorate together in `view` without melchior, which they do not hear."""
    rig.heartbeat(sender, hears=(1, 2), view=view, members=(1, 2), flags=FLAG_QUORATE, stale=stale)


def test_an_inquorate_node_listed_stale_resets_once_per_quorate_peer() -> None:
    rig = Rig(local=3)  # melchior, cut off: it hears the pair, they do not hear it
    from_the_pair(rig, 1)
    assert rig.core.incarnation == 1, "the pair formed a quorate view without this inquorate node"
    from_the_pair(rig, 1, stale=(3,))
    assert rig.core.incarnation == 2
    from_the_pair(rig, 1, stale=(3,))  # sent before balthasar heard the new incarnation
    from_the_pair(rig, 2, stale=(3,))
    assert rig.core.incarnation == 3
    from_the_pair(rig, 2, stale=(3,))
    assert rig.core.incarnation == 3
    assert rig.logs().count("balthasar holds this node's previous run as failed: rejoining as incarnation 2") == 1


# ----------------------------------------------------------------------------- eviction of this node


def member_of_all(votes: tuple[int, ...]) -> Rig:
    """Melchior (3) is a member of balthasar's quorate view of every node."""
    rig = Rig(local=3, votes=votes)
    everyone = tuple(rig.ids)
    for peer in everyone:
        if peer != 3:
            rig.heartbeat(peer)
    rig.receive(1, Propose(ViewId(1, 1), everyone))
    rig.receive(1, Commit(ViewId(1, 1), everyone))
    assert rig.core.members == set(everyone) and rig.core.quorum.quorate
    return rig


@pytest.mark.parametrize(
    ("votes", "view", "members", "evicted"),
    [
        ((1, 1, 1), ViewId(2, 1), (1, 2), True),  # the rest of this node's view went on without it
        ((1, 1, 1), ViewId(2, 1), (1, 2, 3), False),  # it is in the newer view
        ((1, 1, 1), ViewId(1, 1), (1, 2), False),  # not newer than its own
        ((1, 1, 1), ViewId(2, 3), (1, 2), False),  # its coordinator is not a member: not a committed view
        ((1, 1, 1, 1, 1), ViewId(2, 1), (1, 4), False),  # neither the rest of its view nor quorate alone
        ((1, 1, 1, 1, 1), ViewId(2, 1), (1, 4, 5), True),  # could be quorate on their own
    ],
    ids=["rest of the view", "included", "older", "no coordinator", "a minority", "a majority"],
)
def test_a_newer_view_without_this_node_evicts_it(
    votes: tuple[int, ...], view: ViewId, members: tuple[int, ...], evicted: bool
) -> None:
    rig = member_of_all(votes)
    incarnation = rig.core.incarnation
    mark = rig.mark()
    rig.heartbeat(1, view=view, members=members, flags=FLAG_QUORATE)
    effects = rig.of(Evicted, mark)
    assert bool(effects) is evicted
    if evicted:
        names = {1: "balthasar", 2: "casper", 4: "adam", 5: "lilith"}
        expected = f"evicted: view 2 of {{{', '.join(names[m] for m in members)}}} was formed without this node"
        assert [e.reason for e in effects] == [expected]
        assert [q.quorate for q in rig.of(QuorumChanged, mark)] == [False]
        assert rig.core.state is State.JOINING and not rig.core.members and not rig.core.quorum.quorate
        assert rig.core.incarnation == incarnation + 1 and rig.core.reason == expected
    else:
        assert rig.core.state is State.MEMBER and rig.core.incarnation == incarnation


def test_an_inquorate_node_starts_a_new_incarnation_once_per_view_formed_without_it() -> None:
    rig = Rig(local=3)
    from_the_pair(rig, 1, view=ViewId(4, 1))
    from_the_pair(rig, 2, view=ViewId(4, 1))
    assert rig.core.incarnation == 1
    from_the_pair(rig, 1, view=ViewId(5, 1))
    assert rig.core.incarnation == 2
    rig.heartbeat(1, view=ViewId(6, 1), hears=(1, 2), members=(1, 2))  # an inquorate view: nothing to fear
    assert rig.core.incarnation == 2
    assert "view 5 was formed without this node; rejoining as incarnation 2" in rig.logs()


# ----------------------------------------------------------------------------- kill orders


@pytest.mark.parametrize(
    ("sender", "run", "obeyed"),
    [
        (1, "this", True),
        (2, "this", True),
        (1, "older incarnation", False),
        (1, "other boot", False),
        (4, "this", False),
    ],
    ids=["from the coordinator", "from a member", "an earlier run", "another boot", "from outside the view"],
)
def test_a_kill_order_stops_only_the_run_it_names_and_only_once(sender: int, run: str, obeyed: bool) -> None:
    rig = Rig(local=3, votes=(1, 1, 1, 1))
    rig.heartbeat(1)
    rig.heartbeat(2)
    rig.receive(1, Propose(ViewId(1, 1), (1, 2, 3)))
    rig.receive(1, Commit(ViewId(1, 1), (1, 2, 3)))
    rig.heartbeat(4)
    boot, incarnation = rig.core.boot, rig.core.incarnation
    order = {
        "this": Kill(boot, incarnation),
        "older incarnation": Kill(boot, incarnation - 1),
        "other boot": Kill(boot + 1, incarnation),
    }[run]
    for _ in range(3):  # the sender sends three copies
        rig.receive(sender, order)
    names = {1: "balthasar", 2: "casper", 4: "adam"}
    expected = [f"killed by {names[sender]} (cman_tool kill)"] if obeyed else []
    assert [k.reason for k in rig.of(Killed)] == expected


def test_cman_tool_kill_checks_the_target_then_sends_three_copies_of_an_order_for_its_run() -> None:
    rig = Rig(votes=(1, 1, 1, 1))
    with pytest.raises(MembershipError, match="not a member of a view"):
        Rig(local=2).core.kill(0.0, 1)
    rig.talk(1.0, (2, 3))
    rig.heartbeat(4)
    for target, error in [(1, "this is the local node: use cman_tool leave"), (4, "{adam} is not a member")]:
        with pytest.raises(MembershipError, match=error.replace("{", r"\{").replace("}", r"\}")):
            rig.core.kill(rig.now, target)
    rig.incarnations[3] = 0
    mark = rig.mark()
    rig.core.kill(rig.now, 3)
    assert rig.sent(Kill, to=3, since=mark) == [Kill(rig.boots[3], 0)] * 3
    assert not rig.sent(Kill, to=2, since=mark)
    assert "told melchior to leave the cluster (cman_tool kill): it will be fenced" in rig.logs(mark)
