"""Deterministic simulation of quorum-disk cores on one shared disk and a partitionable network.

Theory of operation
-------------------
Each simulated node runs the real `QdiskCore` the way `quorate.qdisk.shell` drives it: at each deadline
``begin``, then one read of all blocks (with a deadline of half an interval), ``cycle``, then its writes
(deadline: the end of the interval), then the other effects; a transfer still hung keeps the node's
single I/O worker busy, so later cycles fail without I/O. A write that misses its deadline may still land
later, as on a real disk. The disk model gives every node its own latency, errors and hangs, so a node can
see the disk while its network is cut, and the reverse.

Membership is scripted, not simulated: the network is a list of groups; when it changes, every live node
learns its new view (its group's live, unpaused members) after its own random detection delay, which is how
views drift apart in reality. A paused node learns nothing until it resumes. Quorum is cman's arithmetic on
that view plus the node's own qdisk votes. ``KillNode`` fences (crashes) the victim after a short delay;
``Reboot`` crashes the node itself; crashed nodes restart later with a new incarnation. ``restart`` faults
restart the disk service alone, the node staying in its view (a cluster.conf change of a start-only setting).

Invariants, checked after every event:
- **S4**: the views of all nodes counting the disk's votes pairwise intersect (no two disjoint partitions
  count them), and they all name the same master;
- at most one *acting* master: MASTER, last I/O fine, not paused, and cycled since it last resumed;
- a node whose eviction notice has been on the disk for more than two intervals plus the read deadline,
  and that has cycled since, counts no votes (it rebooted or lost the grant).
After the faults stop and everything has had time to settle: one master, every live node counts the votes.

Replay a failure: ``python -m quorate.sim.qdisk_sim --seed N --scenario S``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.core.qdisk import Block, QdiskCore, QdiskEffect, SetVotes, block_for_stamp
from quorate.core.qdisk_block import DiskState
from quorate.core.qdisk_config import HeuristicParams, QdiskParams
from quorate.core.qdisk_effects import KillNode, Reboot, StopCman, stage

SCENARIOS = (
    "steady",
    "crash",
    "partition",
    "disk",
    "hang",
    "pause",
    "heuristic",
    "split",
    "chaos",
    "outnumbered",
    "reconfigure",
)
WALL = 1_284_756_951


class InvariantViolation(AssertionError):
    pass


@dataclass
class DiskAccess:
    """One node's path to the shared disk."""

    latency: float = 0.002
    jitter: float = 0.004
    error: bool = False  # every transfer fails at once (EIO)
    hang_until: float = 0.0  # transfers started before this return only then


@dataclass
class SimNode:
    nodeid: int
    core: QdiskCore | None = None
    alive: bool = False
    paused: bool = False
    boots: int = 0
    view: frozenset[int] = frozenset()
    votes: int = 0
    busy_until: float = 0.0
    write_ok: bool = True
    cycle_start: float = 0.0
    cycled_since_resume: bool = False
    generation: int = 0  # bumps on crash/pause so stale scheduled steps are dropped
    score: tuple[int, int] = (1, 1)
    access: DiskAccess = field(default_factory=DiskAccess)
    pending: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class Outcome:
    steps: int
    end: float
    masters: int


class QdiskSim:
    def __init__(self, seed: int, scenario: str, nodes: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.scenario = scenario
        self.n = nodes or self.rng.randint(2, 5)
        tko = self.rng.randint(4, 8)
        heur = (HeuristicParams("check", score=1),) if scenario in ("heuristic", "chaos") else ()
        master_wins = self.n == 2 and not heur and self.rng.random() < 0.3
        self.params = QdiskParams.derived(
            interval=1.0,
            tko=tko,
            votes=self.n - 1,
            heuristics=heur,
            master_wins=master_wins,
            reboot=self.rng.random() < 0.5,
        )
        self.ids = tuple(range(1, self.n + 1))
        self.expected = self.n + self.params.votes
        self.t = 0.0
        self.blocks: dict[int, Block] = {  # as mkqdisk -c leaves the disk
            n: Block(n, 0, DiskState.NONE, 0, timestamp=WALL) for n in range(1, 17)
        }
        self.nodes = {i: SimNode(i) for i in self.ids}
        self.groups: list[set[int]] = [set(self.ids)]
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.steps = 0
        self.trace: list[str] = []
        self.notice_at: dict[int, float] = {}
        self.token = self.rng.uniform(1.5, 4.0)

    # ------------------------------------------------------------- scheduling

    def at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (t, next(self.order), fn))

    def for_node(self, node: SimNode, t: float, fn: Callable[[], None]) -> None:
        """Schedule a step of ``node``'s process; dropped if the node crashed or paused meanwhile."""
        gen = node.generation

        def step() -> None:
            if node.generation != gen or not node.alive:
                return
            if node.paused:
                node.pending.append(fn)
                return
            fn()

        self.at(t, step)

    def run(self, until: float) -> None:
        while self.queue and self.queue[0][0] <= until:
            t, _, fn = heapq.heappop(self.queue)
            self.t = max(self.t, t)
            self.steps += 1
            fn()
            self.check()
        self.t = until

    def log(self, text: str) -> None:
        self.trace.append(f"{self.t:9.3f} {text}")

    # ---------------------------------------------------------------- nodes

    def boot(self, n: int) -> None:
        node = self.nodes[n]
        node.boots += 1
        node.generation += 1
        node.alive, node.paused, node.votes, node.write_ok, node.busy_until = True, False, 0, True, 0.0
        node.core = QdiskCore(self.params, n, self.ids, incarnation=node.boots * 1000 + n)
        node.view = frozenset()
        self.log(f"boot node {n} (incarnation {node.core.incarnation})")
        self.for_node(node, self.t, lambda: self.cycle_begin(node))
        self.network_changed()

    def crash(self, n: int, why: str) -> None:
        node = self.nodes[n]
        if not node.alive:
            return
        node.alive, node.votes, node.core, node.pending = False, 0, None, []
        node.generation += 1
        self.log(f"crash node {n}: {why}")
        self.network_changed()
        self.at(self.t + self.rng.uniform(2.0, 8.0), lambda: self.boot(n) if not self.nodes[n].alive else None)

    def restart_disk(self, n: int, gap: float) -> None:
        """The disk service alone restarts, as quorated does when a new cluster.conf changes a setting qdiskd
        reads only at start: a clean stop (votes given back, block written NONE), then after ``gap`` a new
        incarnation. The node stays a member of its view all along."""
        node = self.nodes[n]
        if not node.alive or node.paused or node.core is None:
            return
        now, writes, _later = stage(node.core.stop(self.t))
        self.apply(node, now)
        if writes and not node.access.error and node.access.hang_until <= self.t and node.busy_until <= self.t:
            for block in writes:
                self.land(block_for_stamp(block, WALL + int(self.t), 0.0, 0.0))
        node.core, node.votes, node.pending = None, 0, []
        node.generation += 1  # the old service's scheduled steps die with it
        boots = node.boots
        self.log(f"disk service of node {n} restarts (new settings), back in {gap:.2f} s")

        def start() -> None:
            if not node.alive or node.boots != boots or node.core is not None:
                return  # crashed (and maybe rebooted) meanwhile: the boot started a service already
            node.boots += 1
            node.write_ok, node.busy_until = True, 0.0  # a new I/O worker
            node.core = QdiskCore(self.params, n, self.ids, incarnation=node.boots * 1000 + n)
            self.log(f"disk service of node {n} started (incarnation {node.core.incarnation})")
            self.for_node(node, self.t, lambda: self.cycle_begin(node))
            self.view_change(node, self.t)

        self.at(self.t + gap, start)

    def pause(self, n: int, length: float) -> None:
        node = self.nodes[n]
        if node.alive and not node.paused:
            node.paused, node.cycled_since_resume = True, False
            self.log(f"pause node {n} for {length:.1f} s")
            self.network_changed()
            self.at(self.t + length, lambda: self.resume(n))

    def resume(self, n: int) -> None:
        node = self.nodes[n]
        if not node.alive or not node.paused:
            return
        node.paused = False
        self.log(f"resume node {n}")
        if node.core is not None:  # the shell's lease watch: first thing after waking up
            self.apply(node, node.core.begin(self.t))
        pending, node.pending = node.pending, []
        for fn in pending:
            fn()
        self.network_changed()

    # ------------------------------------------------------------ the cycle

    def cycle_begin(self, node: SimNode) -> None:
        core = node.core
        assert core is not None
        node.cycle_start = self.t
        self.apply(node, core.begin(self.t))
        budget = core.interval / 2
        if node.busy_until > self.t:
            self.for_node(node, self.t, lambda: self.cycle_end(node, None))
            return
        done, ok = self.transfer(node)
        if done - self.t > budget:
            self.for_node(node, self.t + budget, lambda: self.cycle_end(node, None))
        else:
            self.for_node(node, done, lambda: self.cycle_end(node, dict(self.blocks) if ok else None))

    def transfer(self, node: SimNode) -> tuple[float, bool]:
        """Start one transfer: (completion time, success). Keeps the worker busy until then."""
        a = node.access
        done = self.t + a.latency + self.rng.random() * a.jitter
        if a.hang_until > self.t:
            done = max(done, a.hang_until)
        node.busy_until = done
        return done, not a.error

    def cycle_end(self, node: SimNode, blocks: dict[int, Block] | None) -> None:
        core = node.core
        assert core is not None
        view = node.view
        quorate = len(view) + node.votes >= self.expected // 2 + 1
        score = node.score if core.config.heuristics else (1, 1)
        effects = core.cycle(self.t, blocks or {}, blocks is not None and node.write_ok, *score, view, quorate)
        node.cycled_since_resume = True
        now, writes, later = stage(effects)  # as the shell does
        self.apply(node, now)
        self.write_next(node, writes, later, node.cycle_start + core.interval)

    def write_next(self, node: SimNode, writes: list[Block], later: list[QdiskEffect], deadline: float) -> None:
        if not writes:
            node.write_ok = True
            self.finish(node, node.core.release(later) if node.core else [])
            return
        if node.busy_until > self.t:
            self.write_failed(node, "previous transfer still hung")
            return
        block = block_for_stamp(writes[0], WALL + int(self.t), 0.0, 0.0)
        done, ok = self.transfer(node)
        if ok:
            self.at(done, lambda: self.land(block))  # lands even if the node gave up waiting
        if done > deadline:
            self.for_node(node, deadline, lambda: self.write_failed(node, "write missed its deadline"))
        elif not ok:
            self.for_node(node, done, lambda: self.write_failed(node, "EIO"))
        else:
            self.for_node(node, done, lambda: self.write_next(node, writes[1:], later, deadline))

    def write_failed(self, node: SimNode, why: str) -> None:
        assert node.core is not None
        node.write_ok = False
        self.finish(node, node.core.io_error(self.t, why))

    def land(self, block: Block) -> None:
        self.blocks[block.nodeid] = block
        target = self.nodes.get(block.nodeid)
        if block.state is DiskState.EVICT and target and target.core and block.incarnation == target.core.incarnation:
            self.notice_at.setdefault(block.nodeid, self.t)
        elif block.updatenode == block.nodeid:
            self.notice_at.pop(block.nodeid, None)

    def finish(self, node: SimNode, effects: list[QdiskEffect]) -> None:
        self.apply(node, effects)
        core = node.core
        if core is None or core.halted or not node.alive:
            return
        deadline = core.next_deadline()
        assert deadline is not None
        self.for_node(node, max(deadline, self.t), lambda: self.cycle_begin(node))

    def apply(self, node: SimNode, effects: list[QdiskEffect]) -> None:
        for e in effects:
            if isinstance(e, SetVotes):
                node.votes = e.votes
            elif isinstance(e, KillNode):
                victim = e.nodeid
                self.log(f"node {node.nodeid} asks to kill node {victim}")
                self.at(self.t + self.rng.uniform(0.1, 1.0), lambda v=victim: self.crash(v, "fenced"))
            elif isinstance(e, Reboot | StopCman):
                self.log(f"node {node.nodeid}: {type(e).__name__}: {e.reason}")
                self.at(self.t, lambda n=node.nodeid: self.crash(n, "rebooted itself"))
            elif hasattr(e, "text"):
                self.log(f"node {node.nodeid}: {e.text}")

    # -------------------------------------------------------------- network

    def network_changed(self) -> None:
        for node in self.nodes.values():
            if node.alive and not node.paused:
                self.view_change(node, self.t + self.rng.uniform(0.1, self.token))

    def view_change(self, node: SimNode, when: float) -> None:
        def change() -> None:
            group = next((g for g in self.groups if node.nodeid in g), {node.nodeid})
            view = frozenset(n for n in group if self.nodes[n].alive and not self.nodes[n].paused)
            if view != node.view:
                node.view = view
                if node.core is not None:  # None: the disk service is restarting; the view still changes
                    quorate = len(view) + node.votes >= self.expected // 2 + 1
                    self.apply(node, node.core.membership_changed(self.t, view, quorate))

        self.for_node(node, when, change)

    def partition(self, groups: list[set[int]]) -> None:
        self.groups = groups
        self.log(f"network: {[sorted(g) for g in groups]}")
        self.network_changed()

    # ----------------------------------------------------------- invariants

    def check(self) -> None:
        active = [m for m in self.nodes.values() if m.alive and not m.paused and m.core and not m.core.halted]
        counting = [m for m in active if m.votes > 0]
        for i, a in enumerate(counting):
            for b in counting[i + 1 :]:
                if not a.view & b.view:
                    self.fail(
                        f"S4: nodes {a.nodeid} (view {sorted(a.view)}) and {b.nodeid} (view {sorted(b.view)}) "
                        "both count the quorum disk's votes"
                    )
        masters = {m.core.master for m in counting if m.core}
        if len(masters) > 1:
            who = ", ".join(f"{m.nodeid}->{m.core.master} ({m.core.reason})" for m in counting if m.core)
            self.fail(f"nodes counting the votes name different masters: {who}")
        acting = [
            m.nodeid
            for m in active
            if m.cycled_since_resume and m.core and m.core.state is DiskState.MASTER and m.core.io_ok
        ]
        if len(acting) > 1:
            self.fail(f"two acting masters: {acting}")
        limit = 2 * self.params.interval + self.params.interval / 2
        for n, since in self.notice_at.items():
            m = self.nodes[n]
            if m in counting and self.t - since > limit and m.cycled_since_resume:
                self.fail(f"node {n} still counts the votes {self.t - since:.2f} s after its eviction notice")

    def check_settled(self) -> None:
        live = [m for m in self.nodes.values() if m.alive and m.core and not m.core.halted]
        masters = [m.nodeid for m in live if m.core and m.core.state is DiskState.MASTER]
        if len(masters) != 1:
            self.fail(f"after the faults stopped: {len(masters)} masters ({masters})")
        if self.params.master_wins:
            expect = {masters[0]}
        else:
            expect = {m.nodeid for m in live}
        counting = {m.nodeid for m in live if m.votes > 0}
        if counting != expect:
            why = "; ".join(f"{m.nodeid}: {m.core.reason}" for m in live if m.core and m.nodeid not in counting)
            self.fail(
                f"after the faults stopped: nodes {sorted(counting)} count the votes, expected {sorted(expect)} ({why})"
            )

    def fail(self, text: str) -> None:
        tail = "\n".join(self.trace[-40:])
        raise InvariantViolation(f"t={self.t:.3f}: {text}\n--- last trace lines ---\n{tail}")


# ------------------------------------------------------------------ scenarios


def _faults(sim: QdiskSim, kinds: tuple[str, ...], start: float, end: float) -> None:
    rng, tko = sim.rng, sim.params.tko
    t = start
    while kinds:
        t += rng.uniform(1.0, 6.0)
        if t >= end:
            return
        kind, n = rng.choice(kinds), rng.choice(sim.ids)
        length = rng.uniform(0.3, 3.0 * tko)
        sim.at(t, _fault(sim, kind, n, length))


def _fault(sim: QdiskSim, kind: str, n: int, length: float) -> Callable[[], None]:
    node, rng = sim.nodes[n], sim.rng

    def later(fn: Callable[[], None]) -> None:
        sim.at(sim.t + length, fn)

    def act() -> None:
        if kind == "crash":
            sim.crash(n, "power cut")
        elif kind == "partition":
            others = [i for i in sim.ids if i != n]
            rng.shuffle(others)
            cut = rng.randint(0, len(others))
            sim.partition([{n, *others[:cut]}, set(others[cut:])] if others[cut:] else [{n, *others}])
            later(lambda: sim.partition([set(sim.ids)]))
        elif kind == "disk":
            node.access.error = True
            sim.log(f"disk errors for node {n} for {length:.1f} s")
            later(lambda: setattr(node.access, "error", False))
        elif kind == "hang":
            node.access.hang_until = max(node.access.hang_until, sim.t + length)
            sim.log(f"disk hangs for node {n} for {length:.1f} s")
        elif kind == "slow":
            node.access.latency = rng.uniform(0.2, 1.2)
            sim.log(f"disk slow for node {n} ({node.access.latency:.2f} s) for {length:.1f} s")
            later(lambda: setattr(node.access, "latency", 0.002))
        elif kind == "pause":
            sim.pause(n, length)
        elif kind == "heuristic":
            node.score = (0, 1)
            sim.log(f"heuristic fails on node {n} for {length:.1f} s")
            later(lambda: setattr(node, "score", (1, 1)))
        elif kind == "restart":
            sim.restart_disk(n, rng.uniform(0.01, 2.0))
        elif kind == "split":  # n loses the network but sees the disk; another node the reverse
            sim.partition([{n}, {i for i in sim.ids if i != n}] if sim.n > 1 else [{n}])
            other = sim.nodes[rng.choice(sim.ids)]
            other.access.error = True
            sim.log(f"node {n} cut from the network, node {other.nodeid} cut from the disk")

            def heal() -> None:
                sim.partition([set(sim.ids)])
                other.access.error = False

            later(heal)

    return act


KINDS = {
    "steady": (),
    "crash": ("crash",),
    "partition": ("partition",),
    "disk": ("disk", "slow"),
    "hang": ("hang", "slow"),
    "pause": ("pause",),
    "heuristic": ("heuristic",),
    "split": ("split",),
    "chaos": ("crash", "partition", "disk", "hang", "slow", "pause", "heuristic", "split", "restart"),
    "outnumbered": (),
    "reconfigure": ("restart", "restart", "partition", "crash"),
}


def _outnumbered(sim: QdiskSim) -> None:
    """The master's node is cut off alone from the others (all still see the disk): the larger side must end
    up counting the disk's votes and the master's side must not (DESIGN section 3), then everything heals."""
    p = sim.params
    settle = 10.0 + 3 * p.interval * (p.tko + p.master_wait + p.upgrade_wait + p.tko_up + 2)
    for n in sim.ids:
        sim.at(sim.rng.uniform(0.0, 3.0), lambda n=n: sim.boot(n))
    sim.run(settle)
    sim.check_settled()
    master = next(m.nodeid for m in sim.nodes.values() if m.core and m.core.state is DiskState.MASTER)
    others = {i for i in sim.ids if i != master}
    sim.partition([{master}, others])
    sim.run(2 * settle)
    if len(others) > 1 and not p.master_wins:
        counting = {m.nodeid for m in sim.nodes.values() if m.votes > 0}
        if counting != others:
            why = "; ".join(f"{m.nodeid}: {m.core.reason}" for m in sim.nodes.values() if m.core)
            sim.fail(
                f"master {master} cut off alone: nodes {sorted(counting)} count the votes, not {sorted(others)} ({why})"
            )
    sim.partition([set(sim.ids)])
    sim.run(3 * settle)
    sim.check_settled()


def _script(sim: QdiskSim) -> None:
    for n in sim.ids:
        sim.at(sim.rng.uniform(0.0, 3.0), lambda n=n: sim.boot(n))
    p = sim.params
    faults_end = 10.0 + sim.rng.uniform(40.0, 90.0)
    _faults(sim, KINDS[sim.scenario], 10.0, faults_end)
    sim.run(faults_end)
    for node in sim.nodes.values():  # faults stop: heal everything
        node.access = DiskAccess()
        node.score = (1, 1)
    sim.partition([set(sim.ids)])
    for n in sim.ids:
        sim.resume(n)
    sim.run(faults_end + 10.0 + 3 * p.interval * (p.tko + p.master_wait + p.upgrade_wait + p.tko_up + 2))
    sim.check_settled()


def run_qdisk(seed: int, scenario: str, *, nodes: int | None = None, verbose: bool = False) -> Outcome:
    """One seeded run; raises `InvariantViolation` (with the trace tail) when a rule is broken."""
    if scenario not in KINDS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    sim = QdiskSim(seed, scenario, nodes)
    try:
        _outnumbered(sim) if scenario == "outnumbered" else _script(sim)
    finally:
        if verbose:
            print("\n".join(sim.trace))
    masters = sum(1 for m in sim.nodes.values() if m.core and m.core.state is DiskState.MASTER)
    return Outcome(sim.steps, sim.t, masters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.sim.qdisk_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="one seed (replay)")
    parser.add_argument("--seeds", default="0-99", help="a range of seeds, e.g. 0-499")
    parser.add_argument("--scenario", "--qdisk", default="chaos", choices=[*SCENARIOS, "all"])
    parser.add_argument("--nodes", type=int, help="number of nodes (default: chosen by the seed)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the whole trace")
    args = parser.parse_args(argv)
    lo, _, hi = args.seeds.partition("-")
    seeds = [args.seed] if args.seed is not None else list(range(int(lo), int(hi or lo) + 1))
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    failures = runs = 0
    for scenario in scenarios:
        for seed in seeds:
            runs += 1
            try:
                outcome = run_qdisk(seed, scenario, nodes=args.nodes, verbose=args.verbose)
            except InvariantViolation as exc:
                failures += 1
                replay = f"python -m quorate.sim.qdisk_sim --seed {seed} --scenario {scenario}"
                replay += f" --nodes {args.nodes}" if args.nodes else ""
                print(f"FAIL seed={seed} scenario={scenario}: {exc}\nreplay: {replay}", file=sys.stderr)
                continue
            if len(seeds) == 1:
                print(f"ok seed={seed} scenario={scenario}: {outcome.steps} steps, {outcome.end:.1f} s simulated")
    print(f"{runs - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
