"""The stack under votequorum's policies (last man standing, auto_tie_breaker, both): successive crashes, then
partitions, crashes and heals, with fences that sometimes reboot their victims. Every step checks that no two
disjoint views are quorate at once; the survivors of crashes spaced by the window must stay quorate, and the
tie-breaker's half of a 2/2 split too. The full sweep is 200 seeds per policy (QUORATE_POLICY_SEEDS=200, or
``python -m quorate.sim.policy_sim --seeds 0-199``); CI runs a bounded one."""

from __future__ import annotations

import os
import random

import pytest
from sweeping import sweep_failures

from quorate.core.quorum_policies import QuorumPolicies, Reference, Verdict
from quorate.sim.kernel import InvariantViolation
from quorate.sim.policy_sim import SCENARIOS, PolicySim, run

SEEDS = int(os.environ.get("QUORATE_POLICY_SEEDS", "15"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sweep(scenario: str) -> None:
    replay = f"python -m quorate.sim.policy_sim --seed {{seed}} --scenario {scenario} -v"
    failures = sweep_failures(lambda seed: run(seed, scenario), range(SEEDS), replay)
    assert not failures, "\n".join(failures)


def test_the_last_of_three_keeps_quorum_with_the_tie_breaker() -> None:
    policies = QuorumPolicies(last_man_standing=True, lms_window=3.0, auto_tie_breaker=True)
    sim = PolicySim(random.Random(5), 3, policies)
    hosts = sim.world.hosts
    for host in hosts.values():
        host.power_on()
    sim.run_until(5.0)
    assert sim.quorate_hosts() == [1, 2, 3]
    hosts[3].power_off("crash")
    sim.run_until(14.0)
    assert sim.quorate_hosts() == [1, 2]
    assert hosts[1].core is not None and hosts[1].core.membership.my_expected == 2
    hosts[2].power_off("crash")
    sim.run_until(16.5)
    assert sim.quorate_hosts() == [1], "node 1 is the tie-breaker of the last two"
    core = hosts[1].core
    assert core is not None and "tie-breaker node 1" in core.membership.quorum.reason
    sim.run_until(30.0)  # a window later the last man stands on his own count
    assert sim.quorate_hosts() == [1] and core.membership.my_expected == 1


def test_the_checker_catches_a_tie_breaker_taken_from_each_half(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tie-breaker chosen among the view's own members (not the shared reference) makes both halves of a 2/2
    split quorate: the sweep must say so."""

    def judge(self: Reference, policies: QuorumPolicies, members: frozenset[int] | set[int]) -> Verdict:
        present, total = self.present(members), self.total
        if 2 * present >= total:
            return Verdict(True, 2 * present == total, "auto_tie_breaker: broken")
        return Verdict(False, False, "minority")

    monkeypatch.setattr(Reference, "judge", judge)
    with pytest.raises(InvariantViolation, match="split brain"):
        for seed in range(SEEDS):
            run(seed, "atb")
