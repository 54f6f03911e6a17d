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


def test_the_sweep_in_worker_processes_gives_each_seed_the_same_outcome(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bench simscale --jobs N` splits a long sweep over the cores; a seed's run must not depend on
    what runs beside it, so the simulated time of every run is the same as in one process."""
    import re
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2]))  # bench/ sits beside src/, as `python -m` sees it
    from bench import simscale

    def outcomes(jobs: int) -> list[str]:
        assert simscale.main(["--nodes", "4", "--services", "20", "--seeds", "0-1", "--jobs", str(jobs)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[-1].startswith("6 passed, 0 failed (4 nodes, 20 services;")
        return sorted(re.sub(r" in .*", "", line) for line in lines[:-1])

    alone = outcomes(1)
    assert len(alone) == 6 and all(line.startswith("ok seed=") for line in alone)
    assert outcomes(2) == alone
