"""Whole-stack simulation (membership + fencing + services with simulated agents and power switches).

Every step checks S1 on what the simulated executors really run, that nothing starts on an inquorate node and
that only a quorate coordinator fences; after the faults stop every enabled service must run again. The
``reconfigure`` scenario pushes configurations that change services' resources (each running copy restarts).
"""

from __future__ import annotations

import os

import pytest
from sweeping import sweep_failures

from quorate.sim.cluster import InvariantViolation
from quorate.sim.stack import SCENARIOS, run

SEEDS = int(os.environ.get("QUORATE_STACK_SEEDS", "30"))
REGRESSIONS = [
    ("pause", 4),  # a node stopped its services on quorum loss; the record kept saying started
    ("pause", 5),  # a copy on a non-owner was told to stop at every event, forever
    ("pause", 23),  # a service was started while another node was still stopping it (S1)
    ("pause", 25),  # a fresh coordinator ignored the members' records and started a service twice (S1)
    ("partition", 0),  # two coordinators took turns with the node they shared
    ("partition", 9),  # an outside coordinator split a quorate view
    ("crash", 20),  # an owner restarted within the token: its new run's inventory was not believed
    ("failures", 26),  # a stop failed on the coordinator itself: nobody fenced it
    ("failures", 41),  # a member whose stop failed was not fenced (it was still in the view)
    ("failures", 527),  # a failed service whose owner came back as a new run stayed failed
    ("failures", 154),  # a coordinator again after a quorum loss kept a start lost with a crashed node
    ("reconfigure", 6),  # a restart for a new configuration: absent between its stop and start, started elsewhere (S1)
    ("reconfigure", 157),  # a stop failed as the faults ended: two nodes fenced after them stayed off (no quorum)
]


def _run(scenario: str, seed: int) -> None:
    try:
        run(seed, scenario)
    except InvariantViolation as exc:
        pytest.fail(f"{exc}\nreplay: python -m quorate.sim.stack --seed {seed} --scenario {scenario}", pytrace=False)


@pytest.mark.parametrize(("scenario", "seed"), REGRESSIONS)
def test_regression(scenario: str, seed: int) -> None:
    _run(scenario, seed)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sweep(scenario: str) -> None:
    replay = f"python -m quorate.sim.stack --seed {{seed}} --scenario {scenario}"
    failures = sweep_failures(lambda seed: run(seed, scenario), range(500, 500 + SEEDS), replay)
    assert not failures, "\n".join(failures)
