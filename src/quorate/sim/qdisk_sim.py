"""Deterministic simulation of the quorum disk: whole nodes (`NodeCore`) on one shared disk and a partitionable
network.

Theory of operation
-------------------
Every node is a `quorate.sim.host.SimHost` running the daemon's node core: membership is real (views form and
break as heartbeats come and go), and the quorum disk's cycles go through the node core's driver, whose reads
and writes the simulated disk answers (`quorate.sim.disk`): each node has its own latency, errors and hangs, so
a node can see the disk while its network is cut, and the reverse. A write that misses its deadline may still
land later, as on a real disk. Fencing is real too: the master's eviction requests become fencing victims, and
the coordinator's fence powers the victim off; a powered-off node boots again after a while, as does a node
whose daemon rebooted itself (the disk's ``reboot``). A ``restart`` fault restarts the disk service alone, as
quorated does when a new cluster.conf changes a setting qdiskd reads only at start.

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
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_io import ConfigActivated
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_block import Block, DiskState
from quorate.core.qdisk_config import HeuristicParams, QdiskParams
from quorate.sim.disk import DiskAccess
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation
from quorate.sim.world import TemplateModel, World

__all__ = ["SCENARIOS", "InvariantViolation", "Outcome", "QdiskSim", "main", "run_qdisk"]

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


@dataclass
class Outcome:
    steps: int
    end: float
    masters: int


class QdiskSim:
    def __init__(self, seed: int, scenario: str, nodes: int | None = None) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.scenario = scenario
        self.n = nodes or rng.randint(2, 5)
        tko = rng.randint(4, 8)
        heur = (HeuristicParams("check", score=1),) if scenario in ("heuristic", "chaos") else ()
        master_wins = self.n == 2 and not heur and rng.random() < 0.3
        self.params = QdiskParams.derived(
            interval=1.0, tko=tko, votes=self.n - 1, heuristics=heur, master_wins=master_wins, reboot=rng.random() < 0.5
        )
        self.ids = tuple(range(1, self.n + 1))
        self.token = rng.uniform(1.5, 4.0)
        names = {i: f"node{i}" for i in self.ids}
        specs = tuple(NodeSpec(i, names[i], 1) for i in self.ids)
        membership = MembershipConfig(
            nodes=specs, expected_votes=self.n + self.params.votes, token=self.token, config_version=1
        )
        fencing = FencingConfig(node_names=names, post_join_delay=3.0, override_time=1.0)
        self.settings = lambda i: NodeSettings(i, membership, fencing, qdisk=self.params)
        self.world = World(rng, TemplateModel(self.settings), self.ids, names=names, shared_disk=True)
        self.world.auto_boot = (2.0, 8.0)  # a machine powered off boots again after that long
        self.kernel = self.world.kernel
        self.trace = self.kernel.trace
        self.notice_at: dict[int, float] = {}
        self.resumed_at: dict[int, float] = {}
        assert self.world.disk is not None
        self.world.disk.on_land = self._landed
        self.kernel.checks.append(self.check)

    @property
    def t(self) -> float:
        return self.kernel.t

    @property
    def steps(self) -> int:
        return self.kernel.steps

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self.kernel.at(t, fn)

    def run(self, until: float) -> None:
        self.kernel.run_until(until)

    def log(self, text: str) -> None:
        self.world.log(text)

    @property
    def hosts(self) -> dict[int, SimHost]:
        return self.world.hosts

    # ------------------------------------------------------------------------------------------- faults

    def boot(self, n: int) -> None:
        self.hosts[n].power_on()

    def pause(self, n: int, length: float) -> None:
        host = self.hosts[n]
        if host.running_daemon and not host.paused:
            host.pause()
            self.at(self.t + length, lambda: self.resume(n))

    def resume(self, n: int) -> None:
        host = self.hosts[n]
        if host.paused:
            self.resumed_at[n] = self.t
            host.resume()

    def partition(self, groups: list[set[int]]) -> None:
        self.world.net.partition(groups)
        self.log(f"network: {[sorted(g) for g in groups]}")

    def restart_disk(self, n: int) -> None:
        """The disk service alone restarts, as for a cluster.conf change of a setting read only at start."""
        host = self.hosts[n]
        if host.running_daemon and not host.paused:
            self.log(f"disk service of node {n} restarts (new settings)")
            settings = self.settings(n)
            host.report(ConfigActivated(settings, b"", qdisk_change="restart", qdisk_fields=("tko",)))

    def _landed(self, now: float, block: Block) -> None:
        target = self.hosts.get(block.nodeid)
        driver = target.core.qdisk if target is not None and target.core is not None else None
        core = driver.core if driver is not None else None
        if block.state is DiskState.EVICT and core is not None and block.incarnation == core.incarnation:
            self.notice_at.setdefault(block.nodeid, now)
        elif block.updatenode == block.nodeid:
            self.notice_at.pop(block.nodeid, None)

    # --------------------------------------------------------------------------------------- invariants

    def _disk_core(self, host: SimHost):  # type: ignore[no-untyped-def]
        driver = host.core.qdisk if host.core is not None else None
        return driver.core if driver is not None else None

    def check(self) -> None:
        active = [h for h in self.hosts.values() if h.running_daemon and not h.paused and self._disk_core(h)]
        counting = [h for h in active if h.core is not None and h.core.membership.qdisk_votes > 0]
        views = {h.nodeid: self.world.members_of(h) for h in counting}
        for i, a in enumerate(counting):
            for b in counting[i + 1 :]:
                if not views[a.nodeid] & views[b.nodeid]:
                    self.fail(
                        f"S4: nodes {a.nodeid} (view {sorted(views[a.nodeid])}) and {b.nodeid} "
                        f"(view {sorted(views[b.nodeid])}) both count the quorum disk's votes"
                    )
        masters = {self._disk_core(h).master for h in counting}
        if len(masters) > 1:
            who = ", ".join(f"{h.nodeid}->{self._disk_core(h).master}" for h in counting)
            self.fail(f"nodes counting the votes name different masters: {who}")
        acting = []
        for h in active:
            core = self._disk_core(h)
            resumed = self.resumed_at.get(h.nodeid)  # a completed cycle (a fresh read) since it last resumed
            cycled = resumed is None or (core.last_cycle is not None and core.last_cycle > h.local(resumed))
            if core.state is DiskState.MASTER and core.io_ok and cycled and not core.halted:
                acting.append(h.nodeid)
        if len(acting) > 1:
            self.fail(f"two acting masters: {acting}")
        limit = 2 * self.params.interval + self.params.interval / 2
        for n, since in self.notice_at.items():
            host = self.hosts[n]
            driver = host.core.qdisk if host.core is not None else None
            late = self.t - since > limit
            if host in counting and driver is not None and late and driver.cycle_start > host.local(since):
                self.fail(f"node {n} still counts the votes {self.t - since:.2f} s after its eviction notice")

    def check_settled(self) -> None:
        live = [h for h in self.hosts.values() if h.running_daemon and self._disk_core(h) is not None]
        masters = [h.nodeid for h in live if self._disk_core(h).state is DiskState.MASTER]
        if len(masters) != 1:
            self.fail(f"after the faults stopped: {len(masters)} masters ({masters})")
        expect = {masters[0]} if self.params.master_wins else {h.nodeid for h in live}
        counting = {h.nodeid for h in live if h.core is not None and h.core.membership.qdisk_votes > 0}
        if counting != expect:
            why = "; ".join(f"{h.nodeid}: {self._disk_core(h).reason}" for h in live if h.nodeid not in counting)
            self.fail(
                f"after the faults stopped: nodes {sorted(counting)} count the votes, expected {sorted(expect)} ({why})"
            )

    def fail(self, text: str) -> None:
        tail = "\n".join(self.trace[-40:])
        raise InvariantViolation(f"t={self.t:.3f}: {text}\n--- last trace lines ---\n{tail}")


# ------------------------------------------------------------------------------------------- scenarios


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
    host, rng = sim.hosts[n], sim.rng

    def later(fn: Callable[[], None]) -> None:
        sim.at(sim.t + length, fn)

    def act() -> None:
        if kind == "crash":
            host.power_off("power cut")
        elif kind == "partition":
            others = [i for i in sim.ids if i != n]
            rng.shuffle(others)
            cut = rng.randint(0, len(others))
            sim.partition([{n, *others[:cut]}, set(others[cut:])] if others[cut:] else [{n, *others}])
            later(lambda: sim.partition([set(sim.ids)]))
        elif kind == "disk":
            host.access.error = True
            sim.log(f"disk errors for node {n} for {length:.1f} s")
            later(lambda: setattr(host.access, "error", False))
        elif kind == "hang":
            host.access.hang_until = max(host.access.hang_until, sim.t + length)
            sim.log(f"disk hangs for node {n} for {length:.1f} s")
        elif kind == "slow":
            host.access.latency = rng.uniform(0.2, 1.2)
            sim.log(f"disk slow for node {n} ({host.access.latency:.2f} s) for {length:.1f} s")
            later(lambda: setattr(host.access, "latency", 0.002))
        elif kind == "pause":
            sim.pause(n, length)
        elif kind == "heuristic":
            host.faults.score_ok = False
            sim.log(f"heuristic fails on node {n} for {length:.1f} s")
            later(lambda: setattr(host.faults, "score_ok", True))
        elif kind == "restart":
            sim.restart_disk(n)
        elif kind == "split":  # n loses the network but sees the disk; another node the reverse
            sim.partition([{n}, {i for i in sim.ids if i != n}] if sim.n > 1 else [{n}])
            other = sim.hosts[rng.choice(sim.ids)]
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


def _settle_time(sim: QdiskSim) -> float:
    p = sim.params
    return 10.0 + 3 * p.interval * (p.tko + p.master_wait + p.upgrade_wait + p.tko_up + 2) + 3 * sim.token


def _heal_everything(sim: QdiskSim) -> None:
    for host in sim.hosts.values():
        host.access = DiskAccess()
        host.faults.score_ok = True
    sim.partition([set(sim.ids)])
    for n in sim.ids:
        sim.resume(n)
        if not sim.hosts[n].powered:
            sim.boot(n)


def _outnumbered(sim: QdiskSim) -> None:
    """The master's node is cut off alone from the others (all still see the disk): the larger side must end
    up counting the disk's votes and the master's side must not (D-21), then everything heals."""
    settle = _settle_time(sim)
    for n in sim.ids:
        sim.at(sim.rng.uniform(0.0, 3.0), lambda n=n: sim.boot(n))
    sim.run(settle)
    sim.check_settled()
    master = next(
        h.nodeid for h in sim.hosts.values() if sim._disk_core(h) and sim._disk_core(h).state is DiskState.MASTER
    )
    others = {i for i in sim.ids if i != master}
    sim.partition([{master}, others])
    sim.run(2 * settle)
    if len(others) > 1 and not sim.params.master_wins:
        counting = {h.nodeid for h in sim.hosts.values() if h.core is not None and h.core.membership.qdisk_votes > 0}
        if counting != others:
            why = "; ".join(f"{h.nodeid}: {sim._disk_core(h).reason}" for h in sim.hosts.values() if sim._disk_core(h))
            sim.fail(
                f"master {master} cut off alone: nodes {sorted(counting)} count the votes, not {sorted(others)} ({why})"
            )
    _heal_everything(sim)
    sim.run(3 * settle)
    sim.check_settled()


def _script(sim: QdiskSim) -> None:
    for n in sim.ids:
        sim.at(sim.rng.uniform(0.0, 3.0), lambda n=n: sim.boot(n))
    faults_end = 10.0 + sim.rng.uniform(40.0, 90.0)
    _faults(sim, KINDS[sim.scenario], 10.0, faults_end)
    sim.run(faults_end)
    sim.log("faults stop: everything heals")
    _heal_everything(sim)
    sim.run(faults_end + _settle_time(sim) + 10.0)
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
    masters = sum(1 for h in sim.hosts.values() if sim._disk_core(h) and sim._disk_core(h).state is DiskState.MASTER)
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
