"""Fencing decisions: who is fenced, when, by whom, and when a node's services may move (fenced's rules)."""

from __future__ import annotations

from quorate.core.effects import Send, ViewInstalled
from quorate.core.fencing import CancelFence, FenceConfirmed, Fencing, FencingConfig, Phase, RunFence
from quorate.core.messages import FenceAck, FenceNotice, FenceStatus, ViewId

NAMES = {1: "balthasar.localdomain", 2: "casper.localdomain", 3: "melchior.localdomain"}
STAMPS = {1: (10, 0), 2: (20, 0), 3: (30, 0)}


def view(seq: int, members: set[int], *, failed: set[int] = frozenset(), joined: set[int] = frozenset(),
         left: set[int] = frozenset(), quorate: bool = True, coord: int = 1) -> ViewInstalled:  # fmt: skip
    return ViewInstalled(
        ViewId(seq, coord), frozenset(members), frozenset(joined), frozenset(left), frozenset(failed), quorate, "test"
    )


def fencing(local: int = 1, **kw: object) -> Fencing:
    config = FencingConfig(node_names=NAMES, post_join_delay=3.0, **kw)  # type: ignore[arg-type]
    return Fencing(config, local)


def runs(f: Fencing) -> list[RunFence]:
    return [e for e in f.take_effects() if isinstance(e, RunFence)]


def formed(f: Fencing, now: float = 0.0) -> None:
    f.on_view(now, view(1, {1, 2, 3}, joined={1, 2, 3}), STAMPS, coordinator=f.local_id == 1)
    f.take_effects()


def test_failed_node_is_fenced_by_the_coordinator_and_confirmed() -> None:
    f = fencing()
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    assert [r.nodeid for r in runs(f)] == [3]
    assert not f.is_safely_gone(3)
    f.fence_result(11.0, 3, ok=True, method="single", detail="fenced melchior", duration=1.0)
    effects = f.take_effects()
    confirmed = [e for e in effects if isinstance(e, FenceConfirmed)]
    assert confirmed and confirmed[0].record.nodeid == 3 and confirmed[0].record.boot == 30
    assert any(isinstance(e, Send) and isinstance(e.message, FenceNotice) for e in effects)
    assert f.is_safely_gone(3)


def test_a_member_records_the_coordinators_fence_in_its_history() -> None:
    coordinator, member = fencing(local=1), fencing(local=2)
    formed(coordinator)
    formed(member)
    coordinator.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    member.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=False)
    runs(coordinator)
    coordinator.fence_result(12.0, 3, ok=True, method="netns", detail="powered off", duration=2.0)
    notices = [e.message for e in coordinator.take_effects() if isinstance(e, Send) and e.to == (2,)]
    for message in notices:
        member.receive(12.5, 1, message)
    assert member.is_safely_gone(3)
    (entry,) = member.status(13.0)["history"]
    assert (entry["name"], entry["ok"], entry["method"], entry["by"]) == (NAMES[3], True, "netns", NAMES[1])


def test_clean_leave_is_never_fenced() -> None:
    f = fencing()
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, left={3}), STAMPS, coordinator=True)
    assert runs(f) == [] and 3 not in f.pending()


def test_non_coordinator_defers_and_never_runs_a_fence() -> None:
    f = fencing(local=2)
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=False)
    f.tick(100.0)
    assert runs(f) == []
    assert f.pending()[3].phase is Phase.QUEUED
    assert not f.is_safely_gone(3)


def test_no_fencing_without_quorum_then_fence_when_quorum_returns() -> None:
    f = fencing()
    formed(f)
    f.on_view(10.0, view(2, {1}, failed={2, 3}, quorate=False), STAMPS, coordinator=True)
    assert runs(f) == []
    f.on_view(20.0, view(3, {1, 2}, joined={2}), STAMPS, coordinator=True)
    assert [r.nodeid for r in runs(f)] == [3]  # casper came back (averted); melchior is still a victim


def test_post_fail_delay_is_respected() -> None:
    f = fencing(post_fail_delay=5.0)
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    assert runs(f) == []
    assert f.next_deadline() is not None and f.next_deadline() <= 15.0  # type: ignore[operator]
    f.tick(14.9)
    assert runs(f) == []
    f.tick(15.0)
    assert [r.nodeid for r in runs(f)] == [3]


def test_failed_run_is_retried_after_override_time_forever() -> None:
    f = fencing(override_time=3.0)
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    runs(f)
    for attempt in range(1, 4):
        now = 10.0 + attempt * 10
        f.fence_result(now, 3, ok=False, method="", detail="all 1 methods failed", duration=0.1)
        assert f.pending()[3].phase is Phase.RETRY and f.pending()[3].attempts == attempt
        f.tick(now + 2.9)
        assert runs(f) == []
        f.tick(now + 3.0)
        assert [r.nodeid for r in runs(f)] == [3]
    assert not f.is_safely_gone(3), "a failing fence must never count as fenced"


def test_manual_acknowledgement_confirms_and_cancels_the_run() -> None:
    f = fencing()
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    runs(f)
    f.manual_waiting(10.5, 3)
    status = f.status(11.0)
    assert status["victims"][0]["detail"] == "waiting for manual acknowledgement of melchior.localdomain"  # type: ignore[index]
    assert f.acknowledge(12.0, 3, by=1) is None
    effects = f.take_effects()
    assert any(isinstance(e, CancelFence) and e.nodeid == 3 for e in effects)
    assert any(isinstance(e, FenceConfirmed) for e in effects)
    assert f.is_safely_gone(3)


def test_acknowledging_a_node_that_is_not_waiting_is_refused() -> None:
    f = fencing()
    formed(f)
    error = f.acknowledge(5.0, 2, by=1)
    assert error == "casper.localdomain is not waiting to be fenced: nothing to acknowledge"


def test_acknowledgement_on_a_member_is_forwarded_to_the_coordinator() -> None:
    member = fencing(local=2)
    formed(member)
    member.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=False)
    member.take_effects()
    assert member.acknowledge(11.0, 3, by=2) is None
    sends = [e for e in member.take_effects() if isinstance(e, Send)]
    assert sends == [Send((1,), FenceAck(3))]


def test_victim_that_rejoins_is_averted() -> None:
    f = fencing(post_fail_delay=5.0)
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    f.on_view(12.0, view(3, {1, 2, 3}, joined={3}), STAMPS, coordinator=True)
    f.tick(20.0)
    assert runs(f) == [] and 3 not in f.pending()


def test_startup_fencing_of_absent_nodes_unless_they_join_or_clean_start() -> None:
    f = fencing()
    f.on_view(0.0, view(1, {1, 2}, joined={1, 2}), STAMPS, coordinator=True)
    assert runs(f) == []
    assert f.pending()[3].startup
    f.tick(2.9)
    assert runs(f) == []
    f.tick(3.0)
    assert [r.nodeid for r in runs(f)] == [3]
    clean = fencing(clean_start=True)
    clean.on_view(0.0, view(1, {1, 2}, joined={1, 2}), STAMPS, coordinator=True)
    assert clean.pending() == {}


def test_a_startup_victim_heard_still_stopping_is_waited_for_within_a_bound() -> None:
    """F-14: melchior is up but still running its start-up stops (its heartbeats say dirty) when post_join_delay
    runs out: fencing waits while it is heard so, and fences it once it goes silent or the bound is reached."""
    stopping: set[int] = {3}
    config = FencingConfig(node_names=NAMES, post_join_delay=3.0)
    f = Fencing(config, 1, stopping=lambda now: frozenset(stopping))
    f.on_view(0.0, view(1, {1, 2}, joined={1, 2}), STAMPS, coordinator=True)
    f.take_effects()
    f.tick(3.0)
    effects = f.take_effects()
    assert not [e for e in effects if isinstance(e, RunFence)]
    assert any("still stopping its services" in getattr(e, "text", "") for e in effects)
    assert f.pending()[3].phase is Phase.DELAY and "still stopping" in f.pending()[3].detail
    assert f.next_deadline() == 4.0  # rechecked every second
    f.tick(60.0)
    assert runs(f) == []
    stopping.clear()  # silent now (or clean and not joining): fenced at the next check
    f.tick(61.0)
    assert [r.nodeid for r in runs(f)] == [3]

    bounded = Fencing(config, 1, stopping=lambda now: frozenset({3}))
    bounded.on_view(0.0, view(1, {1, 2}, joined={1, 2}), STAMPS, coordinator=True)
    bounded.take_effects()
    bounded.tick(3.0 + 299.0)
    assert runs(bounded) == []
    bounded.tick(3.0 + 300.0)
    assert [r.nodeid for r in runs(bounded)] == [3]


def test_a_failure_victim_is_fenced_even_if_heard_stopping() -> None:
    """The wait of F-14 is for start-up only: a node that failed out of a view is fenced after post_fail_delay."""
    f = Fencing(FencingConfig(node_names=NAMES, post_join_delay=3.0), 1, stopping=lambda now: frozenset({3}))
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    assert [r.nodeid for r in runs(f)] == [3]


def test_a_new_coordinator_takes_over_a_pending_fence() -> None:
    old, new = fencing(local=1), fencing(local=2)
    formed(old)
    formed(new)
    old.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    status = [e.message for e in old.take_effects() if isinstance(e, Send) and isinstance(e.message, FenceStatus)]
    new.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=False)
    new.receive(10.1, 1, status[-1])
    assert runs(new) == []
    # balthasar (the coordinator) dies in the middle: casper now coordinates and fences both.
    new.on_view(25.0, view(3, {2}, failed={1}, coord=2, quorate=True), STAMPS, coordinator=True)
    assert sorted(r.nodeid for r in runs(new)) == [1, 3]


def test_two_node_cluster_the_higher_id_waits_so_the_lower_wins_the_race() -> None:
    names = {1: "a", 2: "b"}
    low = Fencing(FencingConfig(node_names=names, two_node=True), 1)
    high = Fencing(FencingConfig(node_names=names, two_node=True), 2)
    for f, other in ((low, 2), (high, 1)):
        f.on_view(0.0, view(1, {1, 2}, joined={1, 2}, coord=1), {}, coordinator=f.local_id == 1)
        f.take_effects()
        f.on_view(10.0, view(2, {f.local_id}, failed={other}, coord=f.local_id), {}, coordinator=True)
    assert [r.nodeid for r in runs(low)] == [2]
    assert runs(high) == []
    high.tick(14.9)
    assert runs(high) == []
    high.tick(15.0)
    assert [r.nodeid for r in runs(high)] == [1]


def test_losing_the_coordinator_role_cancels_running_fences() -> None:
    f = fencing()
    formed(f)
    f.on_view(10.0, view(2, {1, 2}, failed={3}), STAMPS, coordinator=True)
    runs(f)
    f.on_quorum(11.0, quorate=False, coordinator=False)
    assert any(isinstance(e, CancelFence) for e in f.take_effects())
    f.tick(50.0)
    assert runs(f) == []
