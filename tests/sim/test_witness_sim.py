"""The stack with a quorum witness on a third machine: two nodes split in halves, the witness restarted, links cut
one way, the last man standing. Every step checks the stack's invariants and the witness's (W-1, W-2); after the
faults stop every enabled service must run again. CI runs a bounded sweep (QUORATE_WITNESS_SEEDS)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sweeping import sweep_failures

from quorate.core.witness_protocol import Algorithm
from quorate.core.witness_server import ClusterArbiter
from quorate.sim.kernel import InvariantViolation
from quorate.sim.witness_sim import SCENARIOS, WitnessSim, run

SEEDS = int(os.environ.get("QUORATE_WITNESS_SEEDS", "15"))
REGRESSIONS = Path(__file__).with_name("regression_seeds.txt")
PREFIX = "witness-"


def witness_regressions() -> list[tuple[str, int]]:
    """The witness's lines of regression_seeds.txt (``witness-SCENARIO SEED``)."""
    cases = []
    for line in REGRESSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(PREFIX):
            scenario, seed = line.split()
            cases.append((scenario.removeprefix(PREFIX), int(seed)))
    return cases


def _run(scenario: str, seed: int) -> WitnessSim:
    try:
        return run(seed, scenario)
    except InvariantViolation as exc:
        replay = f"python -m quorate.sim.witness_sim --seed {seed} --scenario {scenario} -v"
        pytest.fail(f"{exc}\nreplay: {replay}", pytrace=False)


@pytest.mark.parametrize(("scenario", "seed"), witness_regressions())
def test_regression(scenario: str, seed: int) -> None:
    _run(scenario, seed)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sweep(scenario: str) -> None:
    replay = f"python -m quorate.sim.witness_sim --seed {{seed}} --scenario {scenario} -v"
    failures = sweep_failures(lambda seed: run(seed, scenario), range(SEEDS), replay)
    assert not failures, "\n".join(failures)


def test_a_split_of_two_nodes_leaves_exactly_one_side_quorate_and_fences_the_other() -> None:
    sim = WitnessSim(random.Random(1), 2, tie_breaker="highest", lease=4.0)
    world, hosts = sim.world, sim.world.hosts
    sim.witness.start()
    for host in hosts.values():
        host.power_on()
    sim.run_until(10.0)
    assert all(h.core is not None and h.core.quorate for h in hosts.values())
    assert all(h.core is not None and h.core.witness is not None and h.core.witness.votes == 1 for h in hosts.values())
    sim.split()
    sim.run_until(20.0)
    assert not hosts[1].powered  # tie broken by the highest node id: node 2 wins and fences node 1
    assert world.switch.cuts and {victim for _t, _fencer, victim in world.switch.cuts} == {1}
    assert hosts[2].core is not None and hosts[2].core.quorate
    assert {h.name for h in world.live() if h.truth} == {hosts[2].name}


def test_the_witness_going_away_changes_nothing_for_two_nodes_together() -> None:
    sim = WitnessSim(random.Random(2), 2, lease=3.0)
    hosts = sim.world.hosts
    sim.witness.start()
    for host in hosts.values():
        host.power_on()
    sim.run_until(10.0)
    running = {name for h in hosts.values() for name in h.truth}
    sim.witness.kill()
    sim.run_until(20.0)
    assert all(h.core is not None and h.core.quorate and h.core.witness.votes == 0 for h in hosts.values())  # type: ignore[union-attr]
    assert {name for h in hosts.values() for name in h.truth} == running
    assert not sim.world.switch.cuts
    sim.witness.start()
    sim.run_until(30.0)
    assert all(h.core is not None and h.core.witness is not None and h.core.witness.votes == 1 for h in hosts.values())


def test_lms_keeps_the_last_node_standing_quorate() -> None:
    sim = WitnessSim(random.Random(3), 3, algorithm=Algorithm.LMS, lease=3.0)
    hosts = sim.world.hosts
    sim.witness.start()
    for host in hosts.values():
        host.power_on()
    sim.run_until(10.0)
    hosts[3].power_off("crash")
    sim.run_until(20.0)
    hosts[2].power_off("crash")
    sim.run_until(35.0)
    last = hosts[1].core
    assert last is not None and last.quorate and last.witness is not None and last.witness.votes == 2
    assert sorted(hosts[1].truth) == ["db", "test", "web"]


def test_the_checker_catches_a_witness_that_gives_its_vote_to_both_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The witness's invariants can fail: an arbiter that grants every request is caught."""
    monkeypatch.setattr(ClusterArbiter, "_decide", lambda self, req, members, now: (True, "always"))
    failures = sweep_failures(lambda seed: run(seed, "split"), range(5), "{seed}")
    assert failures and all("W-1" in f or "W-2" in f or "split brain" in f for f in failures)
