"""The quorum-disk core on a lock-step in-memory disk: timings, elections, votes, evictions, heuristics."""

from __future__ import annotations

import json

import pytest
from qdisk_rig import Rig

from quorate.core.qdisk import KillNode, QdiskCore, Reboot, SetVotes, StopCman, WriteBlock
from quorate.core.qdisk_block import Block, DiskState, Msg
from quorate.core.qdisk_config import HeuristicParams, QdiskParams, required_score, timing_warnings

FAST = QdiskParams.derived(interval=1.0, tko=6, votes=2)  # tko_up 2, master_wait 3, upgrade_wait 2


def started(config: QdiskParams = FAST, ids: tuple[int, ...] = (1, 2, 3), until: float = 20.0, **kw: object) -> Rig:
    rig = Rig(config, ids, **kw)  # type: ignore[arg-type]
    rig.run(until)
    return rig


# ---------------------------------------------------------------- the article's timings


def test_article_values_are_derived_as_qdiskd_does() -> None:
    p = QdiskParams.derived(interval=3, tko=20, votes=2)
    assert (p.tko_up, p.master_wait, p.upgrade_wait) == (6, 10, 2)


def test_article_timings_master_after_about_96_seconds_then_all_granted() -> None:
    """D-19 (docs/qdisk-format.md, Timings): 20 INIT cycles (60 s) + 2 upgrade cycles + 10 bidding cycles:
    node 1 masters at 93 s
    (the 32nd cycle, "about 96 s"), and the others count the votes from their next read on."""
    rig = Rig(QdiskParams.derived(interval=3, tko=20, votes=2), (1, 2, 3), dt=1.0)
    rig.run(120)
    assert rig.first(1, SetVotes) == 93.0
    assert rig.nodes[1].core.master == 1
    for n in (1, 2, 3):
        assert rig.nodes[n].votes == 2
        assert 90 <= (rig.first(n, SetVotes) or 0) <= 96
    # nobody counted votes during the 60 s of INIT
    assert all(t >= 60 for n in (1, 2, 3) for t, e in rig.nodes[n].effects if isinstance(e, SetVotes))


def test_article_node_death_detected_after_more_than_20_misses() -> None:
    rig = Rig(QdiskParams.derived(interval=3, tko=20, votes=2), (1, 2, 3), dt=1.0)
    rig.run(120)
    rig.nodes[3].running = False  # crashed at t=120
    rig.run(200)
    t = rig.first(1, KillNode)
    assert t is not None and 180 <= t <= 190  # > 20 misses, about 63 s
    assert rig.disk[3].state is DiskState.EVICT and rig.disk[3].updatenode == 1


def test_article_timing_check_warns_and_names_the_minimum_token() -> None:
    warnings = timing_warnings(QdiskParams.derived(interval=3, tko=20, votes=2), 10000)
    assert any("too slow for configured token timeout" in w and "99000 ms" in w for w in warnings)
    assert any("twice the quorum disk timeout" in w for w in warnings)
    assert timing_warnings(QdiskParams.derived(interval=1, tko=10, votes=1), 9000)[0].startswith(
        "Configured totem token (9000 ms) is too fast"
    )
    # qdisk(5)'s example: interval 2, tko 7, master_wait 2 (forced to tko_up + 1 = 3), upgrade_wait 2
    example = QdiskParams.derived(interval=2, tko=7, master_wait=2, votes=1)
    assert any("at least 26000 ms, it is 24000 ms" in w for w in timing_warnings(example, 24000))
    assert timing_warnings(example, 30000) == []


def test_timing_warnings_are_logged_at_the_first_cycle() -> None:
    core = QdiskCore(QdiskParams.derived(interval=3, tko=20, votes=2), 1, (1, 2, 3), incarnation=1, token_ms=10000)
    out = core.cycle(0.0, {}, True, 1, 1, frozenset({1, 2, 3}), True)
    assert any("too slow" in getattr(e, "text", "") for e in out)


# ---------------------------------------------------------------- election


def test_lowest_id_becomes_master_and_everybody_counts_votes() -> None:
    rig = started()
    assert [rig.nodes[n].core.master for n in (1, 2, 3)] == [1, 1, 1]
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [2, 2, 2]
    assert rig.disk[1].master_mask == {1, 2, 3}


def test_a_running_master_is_not_replaced_by_a_lower_id_that_starts_later() -> None:
    rig = started(start={2: 0.0, 3: 0.0, 1: 15.0}, until=40.0)
    assert rig.nodes[2].core.state is DiskState.MASTER
    assert rig.nodes[1].core.state is DiskState.RUN
    assert rig.nodes[1].votes == 2  # granted by node 2 once it is online on disk


def test_nobody_is_elected_while_a_node_is_still_initialising() -> None:
    rig = started(start={1: 0.0, 2: 0.0, 3: 4.0}, until=9.0)
    # node 1 bid at t=8 at the earliest, but node 3 (INIT until t=9) must acknowledge first
    assert rig.nodes[1].core.state is not DiskState.MASTER
    rig.run(20)
    assert rig.nodes[1].core.state is DiskState.MASTER


def test_bid_refused_by_a_node_that_sees_a_master() -> None:
    core = QdiskCore(FAST, 3, (1, 2, 3), incarnation=9)
    master = Block(1, 1, DiskState.MASTER, 11, seq=0)
    bidder = Block(2, 2, DiskState.RUN, 22, seq=0, msg=Msg.BID, msg_seq=4)
    last = []
    for i in range(12):
        blocks = {1: _again(master, i), 2: _again(bidder, i)}
        last = core.cycle(float(i), blocks, True, 1, 1, frozenset({1, 2, 3}), True)
    mine = next(e.block for e in last if isinstance(e, WriteBlock))
    assert (mine.msg, mine.msg_arg, mine.msg_seq) == (Msg.NACK, 2, 4)


def _again(block: Block, i: int) -> Block:
    from dataclasses import replace

    return replace(block, seq=i + 1, timestamp=1000 + i)


def test_master_conflict_higher_id_abdicates() -> None:
    core = QdiskCore(FAST, 2, (1, 2), incarnation=2)
    core.state = DiskState.MASTER
    core.init_left = 0
    other = Block(1, 1, DiskState.MASTER, 11, mask=frozenset({1, 2}))
    for i in range(6):
        core.cycle(float(i), {1: _again(other, i)}, True, 1, 1, frozenset({1, 2}), True)
    assert core.state is DiskState.RUN and core.master == 1


# ---------------------------------------------------------------- votes and partitions (rule S4)


def test_last_node_standing_keeps_the_votes_when_it_is_the_master() -> None:
    rig = started()
    rig.nodes[2].running = rig.nodes[3].running = False
    rig.set_members([{1}])
    rig.run(40)
    assert rig.nodes[1].votes == 2
    assert not [e for e in rig.nodes[1].of(SetVotes) if e.votes == 0]
    assert {e.nodeid for e in rig.nodes[1].of(KillNode)} == {2, 3}


def test_last_node_standing_regains_the_votes_as_new_master_when_the_master_died() -> None:
    rig = started()
    death = rig.t
    rig.nodes[1].running = rig.nodes[2].running = False
    rig.set_members([{3}])
    assert rig.nodes[3].votes == 0  # the master left its view: withdrawn at once
    rig.run(60)
    assert rig.nodes[3].core.state is DiskState.MASTER and rig.nodes[3].votes == 2
    regained = rig.first(3, SetVotes, lambda e: e.votes == 2 and "master" in e.reason and e.reason.startswith("I am"))
    # > tko misses to declare node 1 dead, then master_wait bidding cycles
    assert regained is not None and death + 6 < regained < death + 6 + 3 + 4


def test_partition_only_the_masters_side_counts_the_votes() -> None:
    rig = started()
    rig.set_members([{1, 2}, {3}])
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [2, 2, 0]
    rig.run(40)
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [2, 2, 0]
    assert rig.disk[1].master_mask == {1, 2}
    assert rig.nodes[3].core.reason == "the master (node 1) is not in my cluster view"


def test_partition_the_larger_side_takes_the_disk_from_a_master_left_alone() -> None:
    """D-21 (qdiskd would keep the votes with the master's side whatever its size)."""
    rig = started()
    rig.set_members([{1}, {2, 3}])
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [2, 0, 0]  # at once: only the master's side
    rig.run(40)
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [0, 2, 2]
    assert rig.nodes[2].core.state is DiskState.MASTER
    assert any("A larger partition (nodes [2, 3])" in t for t in rig.nodes[1].logs())


def test_partition_tie_keeps_the_masters_side() -> None:
    rig = started(ids=(1, 2, 3, 4))
    rig.set_members([{1, 3}, {2, 4}])
    rig.run(40)
    assert [rig.nodes[n].votes for n in (1, 2, 3, 4)] == [2, 0, 2, 0]


def test_heal_regrants_the_votes() -> None:
    rig = started()
    rig.set_members([{1, 2}, {3}])
    rig.run(30)
    rig.set_members([{1, 2, 3}])
    rig.run(35)
    assert [rig.nodes[n].votes for n in (1, 2, 3)] == [2, 2, 2]


def test_master_wins_only_the_master_counts() -> None:
    rig = started(QdiskParams.derived(interval=1.0, tko=6, votes=1, master_wins=True), ids=(1, 2))
    assert [rig.nodes[n].votes for n in (1, 2)] == [1, 0]
    assert "master_wins" in rig.nodes[2].core.reason


def test_not_in_a_view_means_no_votes() -> None:
    rig = started()
    node = rig.nodes[2]
    node.members = frozenset()
    rig.apply(2, node.core.membership_changed(rig.t, frozenset(), False))
    assert node.votes == 0


# ---------------------------------------------------------------- I/O failures and evictions


def test_write_failure_withdraws_at_once_and_the_master_evicts_the_silent_node() -> None:
    rig = started()
    rig.nodes[3].write_ok = False  # sees the disk, its writes do not land
    rig.run(rig.t + 1)
    assert rig.nodes[3].votes == 0
    rig.run(40)
    assert any(e.nodeid == 3 for e in rig.nodes[1].of(KillNode))
    assert rig.disk[3].state is DiskState.EVICT  # the notice landed; node 3 reads it...
    assert rig.nodes[3].of(Reboot)  # ...and reboots (D-26)


def test_read_failure_withdraws_votes_and_counts_no_misses() -> None:
    rig = started()
    rig.nodes[2].read_ok = False
    rig.run(rig.t + 1)
    assert rig.nodes[2].votes == 0
    assert all(p.misses == 0 for p in rig.nodes[2].core.peers.values())
    rig.nodes[2].read_ok = True
    rig.run(rig.t + 2)
    assert rig.nodes[2].votes == 2


def test_paused_node_is_evicted_and_reboots_when_it_resumes() -> None:
    rig = started()
    rig.nodes[3].running = False  # SIGSTOP
    rig.run(40)
    assert rig.disk[3].state is DiskState.EVICT
    rig.nodes[3].running = True
    rig.run(41)
    assert rig.nodes[3].of(Reboot) and rig.nodes[3].core.halted
    assert rig.nodes[3].votes == 0


def test_paused_master_gives_up_the_role_when_it_resumes() -> None:
    rig = started()
    rig.nodes[1].running = False
    rig.run(25.8)  # paused 5.8 intervals: not yet dead on disk (tko 6), but close to it
    rig.nodes[1].running = True
    rig.run(26)
    assert any("giving up the master role" in text for text in rig.nodes[1].logs())


def test_undead_node_is_evicted_again() -> None:
    core = QdiskCore(FAST, 1, (1, 2), incarnation=1)
    core.state, core.init_left = DiskState.MASTER, 0
    peer = Block(2, 2, DiskState.RUN, 22)
    t = 0.0
    for i in range(4):  # node 2 comes up
        core.cycle(t, {2: _again(peer, i)}, True, 1, 1, frozenset({1, 2}), True)
        t += 1
    for _ in range(8):  # then stands still: evicted, notice written
        out = core.cycle(t, {2: _again(peer, 3)}, True, 1, 1, frozenset({1, 2}), True)
        t += 1
    core.cycle(t, {2: Block(2, 1, DiskState.EVICT, 22)}, True, 1, 1, frozenset({1, 2}), True)
    out = core.cycle(t + 1, {2: _again(peer, 20)}, True, 1, 1, frozenset({1, 2}), True)
    texts = [getattr(e, "text", "") for e in out]
    assert any("undead" in x for x in texts)
    assert any(isinstance(e, WriteBlock) and e.block.nodeid == 2 and e.block.state is DiskState.EVICT for e in out)
    assert any(isinstance(e, KillNode) for e in out)


def test_old_eviction_notice_for_a_previous_incarnation_is_ignored() -> None:
    core = QdiskCore(FAST, 2, (1, 2), incarnation=5)
    out = core.cycle(0.0, {2: Block(2, 1, DiskState.EVICT, 4)}, True, 1, 1, frozenset({1, 2}), True)
    assert not [e for e in out if isinstance(e, Reboot)]


def test_io_timeout_reboots_and_max_error_cycles_stops() -> None:
    core = QdiskCore(QdiskParams.derived(interval=1.0, tko=6, votes=1, io_timeout=True), 1, (1,), incarnation=1)
    reboots = []
    for i in range(8):
        reboots += [e for e in core.cycle(float(i), {}, False, 1, 1, frozenset({1}), True) if isinstance(e, Reboot)]
    assert reboots and "io_timeout" in reboots[0].reason
    core = QdiskCore(
        QdiskParams.derived(interval=1.0, tko=6, votes=1, max_error_cycles=3, stop_cman=True), 1, (1,), incarnation=1
    )
    effects = []
    for i in range(5):
        effects += core.cycle(float(i), {}, False, 1, 1, frozenset({1}), True)
    assert core.halted and any(isinstance(e, StopCman) for e in effects)
    assert core.next_deadline() is None


# ---------------------------------------------------------------- heuristics and score


def test_heuristic_failure_drops_the_node_and_reboots_it() -> None:
    h = (HeuristicParams("ping -c1 gw", score=1),)
    rig = started(QdiskParams.derived(interval=1.0, tko=6, votes=2, heuristics=h))
    assert rig.nodes[2].votes == 2
    rig.nodes[2].score = (0, 1)
    rig.run(rig.t + 1)
    node = rig.nodes[2]
    assert node.votes == 0 and node.of(Reboot)
    assert any("Score insufficient for master operation (0/1; required=1); downgrading" in x for x in node.logs())


def test_heuristic_failure_without_reboot_only_withdraws_and_recovers() -> None:
    h = (HeuristicParams("true", score=2), HeuristicParams("false", score=2))
    rig = started(QdiskParams.derived(interval=1.0, tko=6, votes=2, heuristics=h, reboot=False))
    for n in (1, 2, 3):
        rig.nodes[n].score = (4, 4)
    rig.run(30)
    rig.nodes[3].score = (2, 4)  # required = 4 // 2 + 1 = 3 (the code's rule, not the man page's 2)
    rig.run(33)
    assert rig.nodes[3].votes == 0 and not rig.nodes[3].of(Reboot)
    assert rig.disk[3].state is DiskState.NONE
    rig.nodes[3].score = (4, 4)
    rig.run(45)
    assert rig.nodes[3].votes == 2


def test_unfit_after_init_with_stop_cman_leaves_the_cluster() -> None:
    h = (HeuristicParams("false"),)
    rig = Rig(QdiskParams.derived(interval=1.0, tko=6, votes=1, heuristics=h, stop_cman=True), (1,))
    rig.starts = {1: 0.0}
    rig.run(0)
    rig.nodes[1].score = (0, 1)
    rig.run(10)
    assert rig.nodes[1].of(StopCman) and rig.nodes[1].votes == 0


def test_required_score_quirk() -> None:
    assert required_score(QdiskParams.derived(votes=1), 4) == 3  # floor(4/2)+1, man page says 2
    assert required_score(QdiskParams.derived(votes=1), 3) == 2
    assert required_score(QdiskParams.derived(votes=1, min_score=1), 4) == 1


# ---------------------------------------------------------------- status and shutdown


def test_status_says_who_is_master_and_why_this_node_counts_the_votes() -> None:
    rig = started()
    status = rig.nodes[2].core.status(rig.t + 0.5).as_dict()
    json.dumps(status)
    assert status["master"] == 1 and status["votes"] == 2
    assert status["reason"] == "granted by the master (node 1)"
    by_id = {n["nodeid"]: n for n in status["nodes"]}
    assert by_id[1]["state"] == "Master" and by_id[1]["belief"] == "online"
    assert 0 <= by_id[3]["last_write_age"] <= 1.5 and by_id[2]["local"]


def test_clean_stop_writes_none_and_the_others_see_a_shutdown() -> None:
    rig = started()
    rig.apply(3, rig.nodes[3].core.stop(rig.t))
    rig.nodes[3].running = False
    assert rig.disk[3].state is DiskState.NONE and rig.nodes[3].votes == 0
    rig.run(rig.t + 2)
    assert any("Node 3 shutdown" in x for x in rig.nodes[1].logs())
    assert not rig.nodes[1].of(KillNode)


def test_node_ids_outside_1_to_16_are_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.\.16"):
        QdiskCore(FAST, 1, (1, 17), incarnation=1)


# ---------------------------------------------------------------- leases and staging (rule S4 in time)


def test_a_grant_overruled_before_the_write_landed_is_not_released() -> None:
    from quorate.core.qdisk_effects import stage

    rig = started()
    node = rig.nodes[2]
    node.votes = 0
    node.core.votes = 0  # pretend the grant is being renewed this cycle
    out = node.core.cycle(rig.t, dict(rig.disk), True, 1, 1, node.members, True)
    _now, writes, later = stage(out)
    assert [e.votes for e in later if isinstance(e, SetVotes)] == [2] and writes
    node.core.membership_changed(rig.t, frozenset({2, 3}), False)  # the master left the view meanwhile
    assert node.core.release(later) == []


def test_withdrawals_go_out_before_the_writes() -> None:
    from quorate.core.qdisk_effects import stage

    rig = started()
    node = rig.nodes[2]
    out = node.core.cycle(rig.t, dict(rig.disk), False, 1, 1, node.members, True)
    now, _, later = stage(out)
    assert SetVotes(0, "the last disk read or write failed") in now and not later


def test_after_a_freeze_begin_withdraws_before_any_io() -> None:
    rig = started()
    core = rig.nodes[2].core
    assert core.begin(rig.t + 1.0) == []
    out = core.begin(rig.t + 6.0)  # tko - 1 = 5 intervals
    assert next(e for e in out if isinstance(e, SetVotes)).votes == 0


def test_a_bid_is_withdrawn_when_a_transfer_fails_and_needs_watching_again() -> None:
    core = QdiskCore(FAST, 1, (1,), incarnation=1)
    members = frozenset({1})
    t = 0.0
    while not core.bidding:
        core.cycle(t, {}, True, 1, 1, members, True)
        t += 1
    out = core.cycle(t, {}, False, 1, 1, members, True)
    assert not core.bidding and any("Withdrawing my bid" in getattr(e, "text", "") for e in out)
    core.cycle(t + 1, {}, True, 1, 1, members, True)
    assert not core.bidding  # watched 1 cycle only: more than tko (6) needed, as after INIT
    for i in range(2, 7):
        core.cycle(t + i, {}, True, 1, 1, members, True)
    assert not core.bidding
    for i in range(7, 13):
        core.cycle(t + i, {}, True, 1, 1, members, True)
    assert core.state is DiskState.MASTER


def test_a_master_block_changed_during_my_read_outage_is_not_fresh() -> None:
    rig = started()
    node = rig.nodes[3]
    node.read_ok = False
    rig.run(rig.t + 6)
    node.read_ok = True
    rig.run(rig.t + 0.95)  # one read after the outage: node 1's block changed, but when?
    assert node.votes == 0 and "has not changed for more than" in node.core.reason
    rig.run(rig.t + 3)
    assert node.votes == 2
