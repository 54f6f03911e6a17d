"""Routine inputs change no decision: whole simulations, with faults, give the same trace with the node core's
short path for routine heartbeats and ticks (`NodeCore.routine_inputs`) as without it.

The short path skips the evaluation and routing of a heartbeat that repeats the sender's last one while nothing
changed here (`Membership.routine_heartbeat`). Its claim is exactness: every log line, fence, start, stop and
view in the trace, at the same simulated instant. A difference names the simulation, seed and scenario; replay
it with `python -m quorate.sim.stack --seed N --scenario S -v` (or the module named) after setting
`NodeCore.routine_inputs = False` to see the reference run.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator

import pytest

from quorate.core.node_core import NodeCore
from quorate.sim import config_sim, kernel, key_sim, locks_sim, qdisk_sim, scale_sim, stack, witness_sim

SEEDS = int(os.environ.get("QUORATE_ROUTINE_SEEDS", "8"))


@pytest.fixture
def kernels(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[kernel.Kernel]]:
    """Every simulation kernel made during a run, so that the whole trace can be compared."""
    made: list[kernel.Kernel] = []
    original = kernel.Kernel.__init__

    def remember(self: kernel.Kernel) -> None:
        original(self)
        made.append(self)

    monkeypatch.setattr(kernel.Kernel, "__init__", remember)
    yield made
    NodeCore.routine_inputs = True


def both_ways(run: Callable[[], object], made: list[kernel.Kernel]) -> tuple[list[str], list[str]]:
    traces = []
    for routine in (True, False):
        NodeCore.routine_inputs = routine
        made.clear()
        run()
        traces.append([line for k in made for line in k.trace])
    NodeCore.routine_inputs = True
    return traces[0], traces[1]


def assert_same(name: str, short: list[str], full: list[str]) -> None:
    for i, (a, b) in enumerate(zip(short, full, strict=False)):
        assert a == b, f"{name}: traces differ at line {i}:\n  routine inputs on:  {a}\n  routine inputs off: {b}"
    assert len(short) == len(full), f"{name}: {len(short)} trace lines with routine inputs, {len(full)} without"


@pytest.mark.parametrize("scenario", stack.SCENARIOS)
def test_stack_simulations_decide_the_same(scenario: str, kernels: list[kernel.Kernel]) -> None:
    for seed in range(SEEDS):
        short, full = both_ways(lambda seed=seed: stack.run(seed, scenario), kernels)  # type: ignore[misc]
        assert_same(f"stack seed {seed} {scenario}", short, full)


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("qdisk", lambda seed, sc: qdisk_sim.run_qdisk(seed, sc)),
        ("keys", lambda seed, sc: key_sim.run(seed, sc)),
        ("locks", lambda seed, sc: locks_sim.run(seed, sc)),
        ("witness", lambda seed, sc: witness_sim.run(seed, sc)),
    ],
)
def test_other_simulations_decide_the_same(name: str, run: Callable[[int, str], object],
                                           kernels: list[kernel.Kernel]) -> None:  # fmt: skip
    module = {"qdisk": qdisk_sim, "keys": key_sim, "locks": locks_sim, "witness": witness_sim}[name]
    for seed in range(max(1, SEEDS // 4)):
        for scenario in module.SCENARIOS:  # type: ignore[attr-defined]
            short, full = both_ways(lambda seed=seed, sc=scenario: run(seed, sc), kernels)  # type: ignore[misc]
            assert_same(f"{name} seed {seed} {scenario}", short, full)


def test_configuration_pushes_decide_the_same(kernels: list[kernel.Kernel]) -> None:
    for seed in range(max(1, SEEDS // 2)):
        short, full = both_ways(lambda seed=seed: config_sim.run(seed), kernels)  # type: ignore[misc]
        assert_same(f"config seed {seed}", short, full)


def test_scale_simulation_decides_the_same(kernels: list[kernel.Kernel]) -> None:
    for scenario in scale_sim.SCENARIOS:
        short, full = both_ways(lambda sc=scenario: scale_sim.run(0, sc, nodes=8, services=100), kernels)
        assert_same(f"scale 8 x 100 seed 0 {scenario}", short, full)


def test_most_heartbeats_of_a_quiet_cluster_are_routine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above proves nothing if the short path never runs: in these simulations most heartbeats
    take it (faults and boots take the full path)."""
    taken: collections.Counter[bool] = collections.Counter()
    original = NodeCore._routine_heartbeat

    def counting(self: NodeCore, *args: object) -> bool:
        short = original(self, *args)  # type: ignore[arg-type]
        taken[short] += 1
        return short

    monkeypatch.setattr(NodeCore, "_routine_heartbeat", counting)
    stack.run(0, "crash")
    assert taken[True] > 2 * taken[False], f"routine heartbeats: {taken[True]}, full path: {taken[False]}"


@pytest.mark.parametrize("scenario", ["crash", "partition"])
def test_a_routine_heartbeat_that_leaves_nothing_to_do_keeps_the_armed_timer(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """quorated skips its flush and the re-arming of its timer after such a heartbeat (`unchanged_by_routine`):
    that is right only if it left no effect and moved no deadline earlier. Checked at every delivery of a
    simulation with faults."""
    seen: collections.Counter[bool] = collections.Counter()
    original = NodeCore.deliver

    def checking(self: NodeCore, message: object, sender: int, now: float, *, wall: float | None = None) -> None:
        armed = self.next_deadline()
        before = self.routine_mark()
        original(self, message, sender, now, wall=wall)  # type: ignore[arg-type]
        quiet = self.unchanged_by_routine(before)
        seen[quiet] += 1
        if quiet:
            after = self.next_deadline()
            assert after is None or (armed is not None and after >= armed), (
                f"node {self.local_id} at {now}: the deadline moved from {armed} to {after}"
            )
            assert not self._effects

    monkeypatch.setattr(NodeCore, "deliver", checking)
    stack.run(1, scenario)
    assert seen[True] > 100, f"quiet routine heartbeats: {seen[True]}, others: {seen[False]}"
