"""The stack simulator's invariant checks, which look only at what changed, find what the world's full scans find:
a service that appears on a second powered host, and two disjoint quorate views."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from quorate.sim.kernel import InvariantViolation
from quorate.sim.stack import StackSim, default_services


def _sim() -> StackSim:
    sim = StackSim(random.Random(0), 3, default_services(3))
    for host in sim.world.hosts.values():
        host.power_on(daemon=False)
    return sim


def test_a_service_appearing_on_a_second_host_breaks_s1_at_that_event() -> None:
    sim = _sim()
    hosts = sim.world.hosts
    hosts[1]._set("web", "started", report=False)
    sim.check()
    sim.check()  # nothing new: still fine
    hosts[3]._set("web", "starting", report=False)
    with pytest.raises(InvariantViolation, match="S1 violated: service web runs on"):
        sim.check()
    with pytest.raises(InvariantViolation):
        sim.world.check_one_owner()  # the full scan agrees


def test_a_host_powered_off_holds_nothing_and_a_stop_is_no_new_holder() -> None:
    sim = _sim()
    hosts = sim.world.hosts
    hosts[1]._set("web", "started", report=False)
    sim.check()
    hosts[1].power_off("test")
    hosts[2]._set("web", "started", report=False)
    sim.check()  # the first holder is gone
    hosts[2]._set("web", "stopping", report=False)
    sim.check()
    sim.world.check_one_owner()


def test_two_disjoint_quorate_views_are_a_split_brain() -> None:
    sim = _sim()
    hosts = sim.world.hosts

    def quorate(members: set[int]) -> object:
        quorum = SimpleNamespace(quorate=True)
        return SimpleNamespace(quorate=True, membership=SimpleNamespace(members=frozenset(members), quorum=quorum))

    hosts[1].core, hosts[2].core = quorate({1, 2}), quorate({1, 2})  # type: ignore[assignment]
    sim.check()
    hosts[3].core = quorate({3})  # type: ignore[assignment]
    with pytest.raises(InvariantViolation, match="split brain"):
        sim.check()
    with pytest.raises(InvariantViolation, match="split brain"):
        sim.world.check_split_brain()
