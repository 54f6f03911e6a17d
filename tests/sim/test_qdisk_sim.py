"""Quorum-disk simulation sweeps: every seed checks S4 (one partition counts the disk's votes), a single
acting master and prompt self-removal of evicted nodes after every event, and convergence once faults stop.
A failure names the one command that replays it."""

from __future__ import annotations

import os

import pytest
from sweeping import sweep_failures

from quorate.core.qdisk_state import QdiskState
from quorate.sim import qdisk_sim
from quorate.sim.qdisk_sim import SCENARIOS, InvariantViolation, run_qdisk

SEEDS = int(os.environ.get("QUORATE_QDISK_SIM_SEEDS", "30"))

# Seeds that broke earlier versions of the core (each found a real bug): keep them green.
REGRESSIONS = [
    ("crash", 3),  # views not refreshed on boot
    ("heuristic", 5),  # a withdrawal delivered only after the write completed
    ("disk", 22),  # a node that never read the disk finished INIT and elected itself
    ("disk", 24),  # a block changed during my read outage looked fresh
    ("pause", 7),  # a node declared dead with no master to evict it blocked every election
    ("pause", 10),  # bid cycles counted while frozen
    ("pause", 200),  # bidding right after a freeze, before seeing the others again
    ("pause", 555),  # a frozen master counted the votes on waking up
    ("partition", 151),  # a grant released after a view change had withdrawn it
    ("crash", 237),
    ("disk", 217),
    ("disk", 361),
    ("pause", 178),
    ("chaos", 16),
    ("heuristic", 5017),  # one missed read (phase jitter) made the votes flap
    ("pause", 2327),  # two nodes, each still counting the other as dead, elected themselves
]


def _run(scenario: str, seed: int) -> None:
    try:
        run_qdisk(seed, scenario)
    except InvariantViolation as exc:
        replay = f"python -m quorate.sim.qdisk_sim --seed {seed} --scenario {scenario}"
        pytest.fail(f"{exc}\nreplay: {replay}", pytrace=False)


@pytest.mark.parametrize(("scenario", "seed"), REGRESSIONS)
def test_regression_seed(scenario: str, seed: int) -> None:
    _run(scenario, seed)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sweep(scenario: str) -> None:
    replay = f"python -m quorate.sim.qdisk_sim --seed {{seed}} --scenario {scenario}"
    failures = sweep_failures(lambda seed: run_qdisk(seed, scenario), range(5000, 5000 + SEEDS), replay)
    assert not failures, "\n".join(failures)


def test_a_failing_seed_prints_its_replay_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(self: qdisk_sim.QdiskSim) -> None:
        if self.t > 30:
            self.fail("injected")

    monkeypatch.setattr(qdisk_sim.QdiskSim, "check", broken)
    assert qdisk_sim.main(["--seed", "7", "--scenario", "crash"]) == 1
    err = capsys.readouterr().err
    assert "FAIL seed=7 scenario=crash: t=" in err and "injected" in err
    assert "replay: python -m quorate.sim.qdisk_sim --seed 7 --scenario crash" in err


def test_replay_of_a_passing_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert qdisk_sim.main(["--seed", "3", "--scenario", "steady"]) == 0
    assert "ok seed=3 scenario=steady" in capsys.readouterr().out


def test_runs_are_deterministic() -> None:
    a = run_qdisk(11, "chaos")
    b = run_qdisk(11, "chaos")
    assert (a.steps, a.end) == (b.steps, b.end)


def test_the_checker_catches_a_core_that_ignores_the_masters_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the S4 clause (the master must be in my view) partitions make two sides count the votes."""
    original = QdiskState._desired_votes

    def careless(self: QdiskState) -> tuple[int, str]:
        votes, why = original(self)
        if votes == 0 and why.endswith("is not in my cluster view"):
            return self.config.votes, "granted despite the partition"
        return votes, why

    monkeypatch.setattr(QdiskState, "_desired_votes", careless)
    caught = 0
    for seed in range(40):
        try:
            run_qdisk(seed, "partition")
        except InvariantViolation as exc:
            caught += "S4" in str(exc)
    assert caught > 0
