"""Runs of the scale simulator that once ended with a service running nowhere, replayed in CI (8 nodes and 100
services, about 4 s each): each failed its end check, every service running again after the faults."""

from __future__ import annotations

import pytest

from quorate.sim.kernel import InvariantViolation
from quorate.sim.scale_sim import replay, run

NODES, SERVICES = 8, 100


@pytest.mark.parametrize(
    ("scenario", "seed"),
    [
        # its owner stopped it in a non-quorate view the coordinator never saw: the record said started there
        ("partition", 4),
        # the coordinator's own stop failed; it self-fenced and came back as a new run: the record said failed
        ("failures", 0),
    ],
)
def test_every_service_runs_again_after_the_faults(scenario: str, seed: int) -> None:
    try:
        outcome = run(seed, scenario, nodes=NODES, services=SERVICES)
    except InvariantViolation as exc:
        pytest.fail(f"{exc}\nreplay: {replay(NODES, SERVICES, seed, scenario)}", pytrace=False)
    assert outcome.simulated > 20.0
