"""The whole stack at scale, a bounded seeded subset for CI: more nodes and services than the stack simulator's
three, with crashes and partitions, every invariant checked after every event and every service running again
after the faults. The documented sweep (32 nodes, 1000 services, 200 seeds) is
`python -m quorate.sim.scale_sim --nodes 32 --services 1000 --seeds 0-199`."""

from __future__ import annotations

import pytest

from quorate.sim.kernel import InvariantViolation
from quorate.sim.scale_sim import run, scale_services

NODES, SERVICES = 8, 60


@pytest.mark.parametrize(("scenario", "seed"), [("crash", 0), ("partition", 0)])
def test_scale_run_keeps_every_invariant(scenario: str, seed: int) -> None:
    try:
        outcome = run(seed, scenario, nodes=NODES, services=SERVICES)
    except InvariantViolation as exc:
        replay = (f"python -m quorate.sim.scale_sim --nodes {NODES} --services {SERVICES} --seed {seed} "
                  f"--scenario {scenario} -v")  # fmt: skip
        pytest.fail(f"{exc}\nreplay: {replay}", pytrace=False)
    assert outcome.simulated > 20.0 and outcome.events > 0


def test_services_spread_over_twenty_domains_each_headed_by_a_different_node() -> None:
    specs = scale_services(32, 1000)
    domains = {spec.domain.name: spec.domain for spec in specs.values() if spec.domain is not None}
    assert len(specs) == 1000 and len(domains) == 20
    heads = {min(d.priorities, key=d.priorities.__getitem__) for d in domains.values()}
    assert heads == set(range(1, 21))
    assert all(sorted(d.priorities) == list(range(1, 33)) for d in domains.values())
