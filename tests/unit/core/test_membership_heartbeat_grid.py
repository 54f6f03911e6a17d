"""The heartbeat grid: periodic heartbeats go out on a grid of the interval, never later than one interval after
the previous one, so nodes sharing the grid send together and failure detection keeps its margin."""

from __future__ import annotations

import itertools

import pytest

from quorate.core.effects import Send
from quorate.core.membership import Membership, MembershipConfig, NodeSpec
from quorate.core.messages import Heartbeat

NAMES = ["balthasar.localdomain", "casper.localdomain", "melchior.localdomain"]


def membership(token: float, now: float) -> Membership:
    specs = tuple(NodeSpec(i + 1, NAMES[i], 1) for i in range(3))
    config = MembershipConfig(nodes=specs, expected_votes=3, token=token, config_version=1)
    return Membership(config, 1, boot=1, now=now)


def heartbeat_times(m: Membership, until: float) -> list[float]:
    """Drive `m` alone by its own deadlines (as the shell's timer does); the times it sent a heartbeat."""
    sent = []
    while True:
        for effect in m.take_effects():
            if isinstance(effect, Send) and isinstance(effect.message, Heartbeat):
                assert m.last_heartbeat is not None
                sent.append(m.last_heartbeat)
        deadline = m.next_deadline()
        assert deadline is not None
        if deadline > until:
            return sent
        m.tick(deadline)


@pytest.mark.parametrize("token", [0.3, 1.0, 10.0])
@pytest.mark.parametrize("phase", [0.0, 0.0173, -1_764_800_000.123])
def test_heartbeats_land_on_the_grid_and_never_more_than_one_interval_apart(token: float, phase: float) -> None:
    start = 5.0371  # off the grid: the first heartbeat goes out at once, and so does the one of its own view
    m = membership(token, start)
    m.heartbeat_phase = phase
    interval = m.config.heartbeat_interval
    times = heartbeat_times(m, start + 30 * interval)
    assert times[0] == pytest.approx(start)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= interval + 1e-9, "a heartbeat came later than one interval after the previous one"
    assert min(gaps) < interval * 0.99, "an off-grid heartbeat was not followed sooner by one on the grid"
    steady = [t for t in times if t > start + 3 * interval]
    assert len(steady) >= 25
    for t in steady:
        offset = (t - phase) % interval
        assert min(offset, interval - offset) == pytest.approx(0.0, abs=1e-6), f"{t} is off the grid"


def test_two_nodes_starting_apart_send_in_the_same_instants() -> None:
    """Nodes whose shells set the same grid (the wall clock's) send together whatever their start times."""
    a, b = membership(0.3, 2.004), membership(0.3, 2.047)
    for m in (a, b):
        m.heartbeat_phase = 0.0
    end = 3.0
    shared = set(round(t, 6) for t in heartbeat_times(a, end)[1:]) & set(
        round(t, 6) for t in heartbeat_times(b, end)[1:]
    )
    assert len(shared) >= 14  # 1 s at one heartbeat every 60 ms, all but the start-up ones in common


def test_a_grid_that_moves_never_delays_a_heartbeat() -> None:
    """The shell follows a wall-clock step by moving the phase: the next heartbeat still comes within one
    interval of the previous one."""
    m = membership(0.3, 1.0)
    interval = m.config.heartbeat_interval
    heartbeat_times(m, 1.5)
    last = m.last_heartbeat
    assert last is not None
    for phase in (0.031, 0.059, 0.001, 123.4567):
        m.heartbeat_phase = phase
        due = m.next_deadline()
        assert due is not None and last < due <= last + interval + 1e-9
