"""Membership behaviour a cluster administrator would notice, on simulated time with the real core."""

from __future__ import annotations

import random

import pytest

from quorate.core.effects import Evicted, Killed, QuorumChanged, ViewInstalled
from quorate.core.membership import MembershipConfig, MembershipError, NodeSpec, State
from quorate.core.messages import Kill
from quorate.sim.cluster import SimCluster

TOKEN = 1.0
NAMES = ["balthasar.localdomain", "casper.localdomain", "melchior.localdomain", "adam.localdomain"]


def cluster(n: int = 3, seed: int = 1, **kw: object) -> SimCluster:
    specs = tuple(NodeSpec(i + 1, NAMES[i], 1) for i in range(n))
    config = MembershipConfig(nodes=specs, expected_votes=int(kw.pop("expected", n)), token=TOKEN, config_version=1)
    c = SimCluster(config, random.Random(seed))
    for nodeid in range(1, n + 1):
        c.start(nodeid)
    return c


def core(c: SimCluster, nodeid: int):  # type: ignore[no-untyped-def]
    node = c.nodes[nodeid].core
    assert node is not None
    return node


def views(c: SimCluster, nodeid: int) -> list[ViewInstalled]:
    return [e for _, e in c.nodes[nodeid].events if isinstance(e, ViewInstalled)]


def test_three_nodes_form_one_quorate_view_quickly() -> None:
    c = cluster()
    c.run_until(0.5)
    for n in (1, 2, 3):
        assert core(c, n).members == {1, 2, 3}
        assert core(c, n).quorum.quorate
        assert core(c, n).state is State.MEMBER
    assert core(c, 1).view == core(c, 2).view == core(c, 3).view
    assert core(c, 1).is_coordinator and not core(c, 2).is_coordinator


def test_a_crashed_node_is_evicted_after_the_token_as_a_failure() -> None:
    c = cluster()
    c.run_until(1.0)
    c.crash(3)
    # Silence is measured from the last heartbeat, at most one heartbeat interval (token / 5) before the crash.
    c.run_until(1.0 + TOKEN * 0.75)
    assert core(c, 1).members == {1, 2, 3}, "evicted before the token expired"
    c.run_until(1.0 + TOKEN + 0.1)
    assert core(c, 1).members == {1, 2}
    last = views(c, 1)[-1]
    assert last.failed == {3} and not last.left and last.quorate
    assert "failed: {melchior.localdomain}" in last.reason


def test_clean_leave_is_not_a_failure_and_remove_lowers_expected() -> None:
    c = cluster()
    c.run_until(1.0)
    c.leave(3, remove=True)
    c.run_until(1.5)
    last = views(c, 1)[-1]
    assert last.members == {1, 2} and last.left == {3} and not last.failed
    assert core(c, 1).quorum.expected_votes == 2
    assert core(c, 3).state is State.LEFT and not core(c, 3).quorum.quorate


def test_two_of_three_dead_leaves_the_survivor_inquorate_and_it_says_so_at_once() -> None:
    c = cluster()
    c.run_until(1.0)
    c.crash(2)
    c.crash(3)
    c.run_until(1.0 + TOKEN + 0.2)
    assert not core(c, 1).quorum.quorate
    flips = [e for _, e in c.nodes[1].events if isinstance(e, QuorumChanged)]
    assert flips[-1].quorate is False and "quorum needs 2" in flips[-1].reason


def test_partition_two_one_only_the_pair_is_quorate_and_heal_merges() -> None:
    c = cluster()
    c.run_until(1.0)
    c.net.partition([{1}, {2, 3}])
    c.run_until(1.0 + 2 * TOKEN)
    assert core(c, 2).members == {2, 3} and core(c, 2).quorum.quorate
    assert not core(c, 1).quorum.quorate
    c.net.heal()
    c.run_until(1.0 + 2 * TOKEN + 3 * TOKEN + 1.0)
    assert core(c, 1).members == core(c, 2).members == {1, 2, 3}
    assert core(c, 1).quorum.quorate


def test_evicted_node_learns_it_was_evicted() -> None:
    c = cluster()
    c.run_until(1.0)
    c.pause(3)
    c.run_until(1.0 + 2 * TOKEN)
    c.resume(3)
    c.run_until(1.0 + 2 * TOKEN + 0.2)
    evicted = [e for _, e in c.nodes[3].events if isinstance(e, Evicted)]
    assert evicted and "formed without this node" in evicted[0].reason


def test_one_way_link_converges_without_flapping() -> None:
    c = cluster()
    c.run_until(1.0)
    c.net.one_way(3, 1)  # balthasar no longer hears melchior; melchior still hears balthasar
    c.run_until(1.0 + 10 * TOKEN)
    installed_late = [e for t, e in c.nodes[2].events if isinstance(e, ViewInstalled) and t > 1.0 + 3 * TOKEN]
    assert installed_late == [], "views kept changing under a steady one-way fault"
    m1, m2, _m3 = core(c, 1).members, core(c, 2).members, core(c, 3).members
    assert 1 in m1 and 3 not in m1 and m1 == m2, "the one-way pair must not share a view"
    assert core(c, 2).quorum.quorate


def test_expected_votes_lowered_by_the_administrator() -> None:
    c = cluster()
    c.run_until(1.0)
    c.crash(2)
    c.crash(3)
    c.run_until(1.0 + TOKEN + 0.5)
    survivor = core(c, 1)
    assert not survivor.quorum.quorate
    with pytest.raises(MembershipError, match="only 1 votes are present"):
        survivor.set_expected(c.nodes[1].local(c.t), 3)
    survivor.set_expected(c.nodes[1].local(c.t), 1)
    assert survivor.quorum.quorate and survivor.quorum.quorum == 1


def test_a_restarted_node_never_reuses_a_view_generation() -> None:
    c = cluster()
    c.run_until(1.0)
    before = core(c, 1).view.seq
    c.crash(1)
    c.run_until(1.5)
    c.start(1)
    c.run_until(3.0 + 3 * TOKEN)
    assert core(c, 1).view.seq > before
    assert core(c, 1).members == {1, 2, 3}


def killed(c: SimCluster, nodeid: int) -> list[Killed]:
    return [e for _, e in c.nodes[nodeid].events if isinstance(e, Killed)]


def test_cman_tool_kill_orders_a_member_out_once_and_spares_its_next_run() -> None:
    c = cluster()
    c.run_until(1.0)
    first = core(c, 1)
    with pytest.raises(MembershipError, match="use cman_tool leave"):
        first.kill(c.nodes[1].local(c.t), 1)
    with pytest.raises(MembershipError, match="is not a member of the cluster"):
        first.kill(c.nodes[1].local(c.t), 9)
    old_run = (core(c, 3).boot, core(c, 3).incarnation)
    first.kill(c.nodes[1].local(c.t), 3)
    c.run_until(1.2)
    (order,) = killed(c, 3)  # three copies were sent; the node obeys once
    assert order.reason == "killed by balthasar.localdomain (cman_tool kill)"
    assert not killed(c, 2) and core(c, 3).members == {1, 2, 3}  # the core only reports it; the daemon exits
    c.crash(3)  # what the daemon does: exit without a clean leave
    c.run_until(1.2 + TOKEN + 0.5)
    last = views(c, 1)[-1]
    assert last.failed == {3} and not last.left, "a killed node is a failure, so it is fenced"
    c.start(3)
    c.run_until(4.0 + 3 * TOKEN)
    assert core(c, 3).members == {1, 2, 3}
    late = core(c, 3)
    late.receive(c.nodes[3].local(c.t), 1, Kill(*old_run))  # a copy of the old order, delayed in the network
    assert not [e for e in late.take_effects() if isinstance(e, Killed)], "a late copy killed the node's next run"
    late.receive(c.nodes[3].local(c.t), 2, Kill(late.boot, late.incarnation))  # an order for this run is obeyed
    assert [e.reason for e in late.take_effects() if isinstance(e, Killed)] == [
        "killed by casper.localdomain (cman_tool kill)"
    ]


def test_leave_remove_of_a_heavy_node_leaves_the_others_quorate() -> None:
    """Q-8: the quorum is recomputed with decrease allowed once the leaver's votes are out of the count, whether
    its Leave arrives before or after the view without it (here melchior has 3 of the 5 votes)."""
    for seed in range(20):
        specs = (NodeSpec(1, NAMES[0], 1), NodeSpec(2, NAMES[1], 1), NodeSpec(3, NAMES[2], 3))
        config = MembershipConfig(nodes=specs, expected_votes=5, token=TOKEN, config_version=1)
        c = SimCluster(config, random.Random(seed))
        for nodeid in (1, 2, 3):
            c.start(nodeid)
        c.run_until(1.0)
        assert core(c, 1).quorum.quorum == 3
        c.leave(3, remove=True)
        c.run_until(1.0 + 2 * TOKEN)
        for nodeid in (1, 2):
            q = core(c, nodeid).quorum
            assert core(c, nodeid).members == {1, 2} and q.quorate, f"seed {seed}: node {nodeid}: {q.reason}"
            assert (q.expected_votes, q.quorum) == (2, 2)


def test_a_node_that_left_with_remove_is_not_quorate_alone_when_it_comes_back_cut_off() -> None:
    """The others lowered their expected votes to their own 2: melchior (3 of 5 votes), back but cut off from
    them, must not be quorate alone on its configured 5, even after a restart; once back with both, everyone
    counts the configured expected votes again."""
    specs = (NodeSpec(1, NAMES[0], 1), NodeSpec(2, NAMES[1], 1), NodeSpec(3, NAMES[2], 3))
    config = MembershipConfig(nodes=specs, expected_votes=5, token=TOKEN, config_version=1)
    c = SimCluster(config, random.Random(3))
    for nodeid in (1, 2, 3):
        c.start(nodeid)
    c.run_until(1.0)
    c.leave(3, remove=True)
    c.run_until(1.0 + 2 * TOKEN)
    assert core(c, 1).quorum.quorate and core(c, 3).rejoin_expected == 2 + 2 * 3
    c.net.partition([{1, 2}, {3}])
    c.crash(3)
    c.start(3)  # a fresh run remembers (the daemon keeps it in its state file)
    c.run_until(4.0 + 3 * TOKEN)
    alone = core(c, 3)
    assert alone.members == {3} and not alone.quorum.quorate, alone.quorum.reason
    assert core(c, 1).quorum.quorate and core(c, 1).members == {1, 2}
    c.net.heal()
    c.run_until(8.0 + 6 * TOKEN)
    for nodeid in (1, 2, 3):
        q = core(c, nodeid).quorum
        assert core(c, nodeid).members == {1, 2, 3} and q.quorate and q.quorum == 3, q
    assert core(c, 3).rejoin_expected == 0


def test_fewer_quorum_disk_votes_from_a_new_configuration_lower_the_quorum() -> None:
    """Disk votes lost to a fault leave the quorum where it was (Q-3); fewer disk votes in a pushed file
    (``resized``) are recomputed with decrease allowed, or the last node standing could not keep quorum."""
    c = cluster()
    c.run_until(1.0)
    node = core(c, 1)
    node.set_qdisk_votes(c.nodes[1].local(c.t), 3)
    assert (node.quorum.total_votes, node.quorum.quorum) == (6, 4)
    node.set_qdisk_votes(c.nodes[1].local(c.t), 0)  # a fault: the quorum stays
    assert (node.quorum.total_votes, node.quorum.quorum) == (3, 4) and not node.quorum.quorate
    node.set_qdisk_votes(c.nodes[1].local(c.t), 2, resized=True)  # the new file's 2 votes granted
    assert (node.quorum.total_votes, node.quorum.quorum, node.quorum.quorate) == (5, 3, True)
