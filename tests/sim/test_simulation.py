"""Deterministic simulation sweeps: every seed checks the safety invariants after every step and liveness
after the faults stop. A failure names the one command that replays it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweeping import sweep_failures

from quorate.sim.kernel import InvariantViolation
from quorate.sim.scenarios import SCENARIOS, run

SEEDS_PER_SCENARIO = int(os.environ.get("QUORATE_SIM_SEEDS", "60"))
REGRESSIONS = Path(__file__).with_name("regression_seeds.txt")


def _regressions() -> list[tuple[str, int]]:
    cases = []
    for line in REGRESSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("witness-"):  # the witness simulator's (tests/sim/test_witness_sim.py)
            scenario, seed = line.split()
            cases.append((scenario, int(seed)))
    return cases


def _run(scenario: str, seed: int) -> None:
    try:
        run(seed, scenario)
    except InvariantViolation as exc:
        pytest.fail(f"{exc}\nreplay: python -m quorate.sim --seed {seed} --scenario {scenario}", pytrace=False)


@pytest.mark.parametrize(("scenario", "seed"), _regressions())
def test_regression_seed(scenario: str, seed: int) -> None:
    _run(scenario, seed)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_sweep(scenario: str) -> None:
    replay = f"python -m quorate.sim --seed {{seed}} --scenario {scenario}"
    failures = sweep_failures(lambda seed: run(seed, scenario), range(1000, 1000 + SEEDS_PER_SCENARIO), replay)
    assert not failures, "\n".join(failures)


def test_the_simulator_is_deterministic() -> None:
    a = run(7, "chaos")
    b = run(7, "chaos")
    assert (a.steps, a.end, a.views) == (b.steps, b.end, b.views)


def test_the_checker_catches_a_split_brain() -> None:
    """The invariant checker must be able to fail: two disjoint quorate views are reported."""
    import random

    from quorate.core.membership import MembershipConfig, NodeSpec
    from quorate.sim.cluster import SimCluster

    config = MembershipConfig(
        nodes=(NodeSpec(1, "n1", 1), NodeSpec(2, "n2", 1)), expected_votes=1, token=1.0, config_version=1, two_node=True
    )
    c = SimCluster(config, random.Random(1))  # two_node: each half of a split is quorate (fencing must decide)
    for n in (1, 2):
        c.start(n)
    c.run_until(1.0)
    c.net.partition([{1}, {2}])
    with pytest.raises(InvariantViolation, match="split brain"):
        c.run_until(5.0)
