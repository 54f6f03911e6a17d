"""Decision events from the node core (E-1): what each node reports, in what order, with which reasons.

Driven through the whole-stack simulator, so the events come from the same `NodeCore` quorated runs.
"""

from __future__ import annotations

import random
import re

import pytest

from quorate.core.events import Event, log_text
from quorate.core.node_io import ServiceRequest
from quorate.sim.stack import StackSim, default_services


def _boot(seed: int = 1) -> StackSim:
    sim = StackSim(random.Random(seed), 3, default_services(3))
    for i in (1, 2, 3):
        sim.world.schedule(0.1 * i, f"boot {i}", lambda i=i: sim.world.hosts[i].power_on())
    sim.run_until(8.0)
    return sim


def _events(sim: StackSim, collected: list[Event]) -> list[Event]:
    for host in sim.world.hosts.values():
        if host.core is not None:
            collected.extend(host.core.take_events())
    return sorted(collected, key=lambda e: e.at)


def _run(sim: StackSim, until: float, collected: list[Event]) -> list[Event]:
    """Run the simulation, taking every node's events after each step (a fenced node's core goes with its power)."""
    take = lambda: _events(sim, collected)  # noqa: E731
    sim.kernel.checks.append(take)
    try:
        sim.run_until(until)
    finally:
        sim.kernel.checks.remove(take)
    return sorted(collected, key=lambda e: e.at)


def _coordinator(sim: StackSim):  # type: ignore[no-untyped-def]
    return next(h for h in sim.world.live() if h.core is not None and h.core.services.acting)


def test_relocation_then_owner_crash_tells_the_story_from_the_deciding_nodes() -> None:
    sim = _boot()
    world, hosts = sim.world, sim.world.hosts
    coord = _coordinator(sim)
    collected: list[Event] = []
    _events(sim, collected)
    start = [e for e in collected if e.kind == "service" and e.subject == "test"]
    assert [e.outcome for e in start] == ["placed", "started"]
    first_owner = coord.core.services.records["test"].owner
    target = max(i for i in hosts if i != first_owner)
    world.schedule(8.1, "relocate", lambda: coord.request(ServiceRequest("relocate", "test", target)))
    _run(sim, 12.0, collected)
    assert coord.core.services.records["test"].owner == target
    world.schedule(12.1, "crash", lambda: hosts[target].power_off("crash"))
    events = [e for e in _run(sim, 20.0, collected) if e.at > 8.0]
    story = [(e.node, e.kind, e.outcome) for e in events if e.kind in ("service", "fence") and e.subject in
             ("test", hosts[target].name)]  # fmt: skip
    c = coord.nodeid
    assert story == [
        (c, "service", "relocated"),
        (first_owner, "service", "stopped"),
        (c, "service", "placed"),
        (target, "service", "started"),
        (c, "fence", "scheduled"),
        (c, "fence", "run"),
        (c, "fence", "confirmed"),
        (c, "service", "placed"),
        (hosts[coord.core.services.records["test"].owner].nodeid, "service", "started"),
    ]
    relocated = next(e for e in events if e.outcome == "relocated")
    assert relocated.reason.startswith("R-56: ") and hosts[target].name in relocated.reason
    takeover = [e for e in events if e.kind == "service" and e.outcome == "placed"][-1]
    assert takeover.reason.startswith("R-32: ") and f"previously on {hosts[target].name}" in takeover.reason
    eviction = next(e for e in events if e.kind == "view" and e.node == c and e.at > 12.0)
    assert eviction.outcome == "installed" and "failed" in eviction.reason and hosts[target].name in eviction.reason
    assert eviction.view > relocated.view
    # Each survivor reports the view it installed; only the coordinator reports the fence.
    views = {e.node for e in events if e.kind == "view" and e.view == eviction.view}
    assert views == {i for i in hosts if i != target}


def test_a_node_cut_off_reports_quorum_lost_and_the_others_a_view_without_it() -> None:
    sim = _boot(2)
    world = sim.world
    collected: list[Event] = []
    _events(sim, collected)
    world.schedule(8.1, "partition", lambda: world.net.partition([{1}, {2, 3}]))
    events = [e for e in _run(sim, 14.0, collected) if e.at > 8.0]
    lost = [e for e in events if e.kind == "quorum"]
    assert [(e.node, e.outcome) for e in lost] == [(1, "lost")]
    assert lost[0].reason.startswith("Q-4: ")
    votes = [e for e in events if e.kind == "votes" and e.node == 2]
    assert votes and "total votes 3 -> 2" in votes[0].reason


def test_events_refuse_words_outside_their_vocabulary() -> None:
    with pytest.raises(ValueError, match="outcome 'exploded' is not one of"):
        Event(0.0, 1, 1, "service", "test", "exploded", "R-1: no")
    with pytest.raises(ValueError, match="kind 'weather'"):
        Event(0.0, 1, 1, "weather", "test", "placed", "R-1: no")


def test_log_line_names_kind_subject_outcome_view_and_reason() -> None:
    event = Event(3.0, 1, 7, "fence", "casper", "confirmed", "F-26: fence_netns succeeded")
    assert log_text(event) == "event fence casper confirmed (view 7): F-26: fence_netns succeeded"


def test_undrained_events_stay_bounded() -> None:
    from quorate.core.events_derive import PENDING_LIMIT, DecisionEvents

    events = DecisionEvents(1, str)
    for i in range(PENDING_LIMIT + 10):
        events.quorum(float(i), quorate=i % 2 == 0, reason="flap")
    taken = events.take()
    assert len(taken) == PENDING_LIMIT and taken[-1].at == PENDING_LIMIT + 9
    assert events.take() == []


def test_a_push_is_staged_and_activated_everywhere_and_a_refused_one_aborted() -> None:
    from quorate.core.membership import MembershipConfig, NodeSpec
    from quorate.sim.config_sim import ConfigSim, make_file

    specs = tuple(NodeSpec(i, f"node{i}", 1) for i in range(1, 4))
    sim = ConfigSim(MembershipConfig(nodes=specs, expected_votes=3, token=1.0), random.Random(1))
    for n in sim.nodes:
        sim.start(n)
    sim.run_until(5.0)
    for host in sim.world.hosts.values():
        host.core.take_events()
    sim.schedule(5.0, "push 2", lambda c: c.push(2, make_file(2)))
    sim.schedule(8.0, "push 3, which node3 cannot use", lambda c: c.push(1, make_file(3, refuse=3)))
    sim.run_until(12.0)
    events = sorted((e for h in sim.world.hosts.values() for e in h.core.take_events()), key=lambda e: e.at)
    assert all(e.kind == "config" for e in events)
    by_version = {v: sorted((e.node, e.outcome) for e in events if e.subject == f"version {v}") for v in (2, 3)}
    assert by_version[2] == [(1, "activated"), (1, "staged"), (2, "activated"), (2, "staged"), (3, "activated"),
                             (3, "staged")]  # fmt: skip
    assert by_version[3] == [(1, "aborted"), (1, "staged"), (2, "aborted"), (2, "staged"), (3, "aborted")]
    refusal = next(e for e in events if e.node == 3 and e.outcome == "aborted")
    expected = r"C-41: transaction \d+: this node refused the file: node 3 cannot use this file"
    assert re.fullmatch(expected, refusal.reason), refusal.reason


def test_a_refused_proposal_is_a_view_refused_event_with_the_reason_sent() -> None:
    from quorate.core.messages import Accept, Propose, ViewId
    from quorate.core.node_core import NodeCore
    from quorate.sim.stack import stack_settings

    core = NodeCore(stack_settings(3, {}).settings(2, b""), boot=5, now=0.0)
    core.take_events()
    core.deliver(Propose(ViewId(7, 3), (2, 3)), 3, 0.5)  # casper is not the lowest id of {casper, melchior}
    refused = [e for e in core.take_events() if e.kind == "view" and e.outcome == "refused"]
    sent = [s.message for s in core.take_effects() if isinstance(getattr(s, "message", None), Accept)]
    assert len(refused) == 1 and len(sent) == 1 and not sent[0].ok
    assert (refused[0].node, refused[0].subject, refused[0].at) == (2, "view 7", 0.5)
    assert refused[0].reason == f"Q-1: {sent[0].reason}"


def test_fence_node_typed_by_an_administrator_is_confirmed_by_the_node_that_ran_it() -> None:
    from quorate.core.node_core import NodeCore
    from quorate.core.node_io import FenceDone, FenceNow, FenceOnce
    from quorate.sim.stack import stack_settings

    core = NodeCore(stack_settings(3, {}).settings(1, b""), boot=5, now=0.0)
    core.take_events()
    core.request(FenceNow(3), 1.0)
    [once] = [e for e in core.take_effects() if isinstance(e, FenceOnce)]
    core.report(FenceDone(3, False, "single", "no answer from the switch", 2.0, rid=once.rid), 3.0)
    core.request(FenceNow(3), 4.0)
    [again] = [e for e in core.take_effects() if isinstance(e, FenceOnce)]
    core.report(FenceDone(3, True, "single", "Powered OFF", 0.3, rid=again.rid), 4.5)
    fences = [(e.at, e.subject, e.outcome, e.reason) for e in core.take_events() if e.kind == "fence"]
    failed = "F-40: fence_node: single failed after 2.0 s: no answer from the switch"
    assert fences == [
        (3.0, "melchior.localdomain", "failed", failed),
        (4.5, "melchior.localdomain", "confirmed", "F-40: fence_node: single: Powered OFF"),
    ]


def test_a_failed_run_against_a_victim_says_it_will_be_retried() -> None:
    from quorate.core.events_derive import DecisionEvents

    events = DecisionEvents(1, {3: "melchior.localdomain"}.__getitem__)
    events.fence_done(7.0, 3, ok=False, method="single", detail="timed out", duration=20.0)
    events.fence_done(8.0, 3, ok=True, method="single", detail="off", duration=0.3)  # told when confirmed
    [failed] = events.take()
    assert failed.reason == "F-21: single failed after 20.0 s: timed out; will retry"
