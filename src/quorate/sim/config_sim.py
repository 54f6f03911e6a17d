"""Configuration pushes on virtual time: membership and distribution cores of every node, with faults.

Each node runs the real `Membership` and `ConfigDistribution` cores wired as the daemon wires them; its
"shell" keeps the running file and a staged one on a simulated disk that survives crashes. A file is a small
byte string naming its version; a file containing ``refuse:N`` is refused by node N's validation, as a file
that is valid on one node and not on another would be (a node whose fence agent is missing, say).

Invariants, checked after every step on what the nodes actually run:

* *all or nothing*: a node activates a version only if it was committed, and the coordinator commits only
  what every member of its view staged; a version some member refused is never run anywhere;
* *no mix* (liveness): after faults stop, every live node runs the same version, and a push answered
  "updated" is that version or a later one.

`python -m quorate.sim.config_sim --seed N` replays one run.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass, field

from quorate.core.config_dist import Activate, Adopt, ConfigDistribution, Discard, PushDone, Stage, digest_of, short
from quorate.core.config_messages import CfgAbort, CfgChunk, CfgCommit, CfgFetch, CfgResult, CfgStaged
from quorate.core.effects import Effect, Evicted, Log, QuorumChanged, Send, ViewInstalled
from quorate.core.membership import Membership, MembershipConfig, NodeSpec, State
from quorate.core.messages import Heartbeat, Message
from quorate.sim.cluster import InvariantViolation, SimCluster

FAULTS = ("none", "crash-coordinator", "crash-member", "partition", "loss", "restart-late", "coordinator-dies-waiting")
CONFIG_MESSAGES = (CfgChunk, CfgStaged, CfgCommit, CfgAbort, CfgResult, CfgFetch)


def make_file(version: int, *, refuse: int = 0, size: int = 200) -> bytes:
    body = f'<cluster config_version="{version}">' + (f"refuse:{refuse}" if refuse else "")
    return (body + "x" * max(0, size - len(body))).encode()


def version_of(data: bytes) -> int:
    found = re.search(rb'config_version="(\d+)"', data)
    return int(found.group(1)) if found else 0


@dataclass
class Disk:
    """What survives a crash: the running file."""

    data: bytes


@dataclass
class Observer:
    """What the invariants need, gathered from every node's effects."""

    committed: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    staged_ok: dict[int, set[int]] = field(default_factory=dict)
    answers: list[tuple[int, bool, str]] = field(default_factory=list)


class NodeStack:
    """Membership plus distribution, with the same face as `Membership` for `SimCluster`."""

    def __init__(self, base: MembershipConfig, nodeid: int, disk: Disk, observer: Observer, **kw: object) -> None:
        self.base, self.nodeid, self.disk, self.observer = base, nodeid, disk, observer
        version = version_of(disk.data)
        self.membership = Membership(self._config(disk.data), nodeid, **kw)  # type: ignore[arg-type]
        names = {n.nodeid: n.name for n in base.nodes}
        # first_tx stays 0: a restarted node reuses its transaction numbers, the worst case the daemon avoids
        self.dist = ConfigDistribution(nodeid, version, disk.data, names=names, timeout=base.token * 2)
        self._out: list[Effect] = []
        self._pending_stage: list[Stage] = []
        self._req = 0

    def _config(self, data: bytes) -> MembershipConfig:
        return MembershipConfig(
            nodes=self.base.nodes,
            expected_votes=self.base.expected_votes,
            token=self.base.token,
            config_version=version_of(data),
            config_digest=short(digest_of(data)),
        )

    # the Membership face used by SimCluster
    @property
    def view(self):  # type: ignore[no-untyped-def]
        return self.membership.view

    @property
    def members(self) -> frozenset[int]:
        return self.membership.members

    @property
    def state(self) -> State:
        return self.membership.state

    @property
    def quorum(self):  # type: ignore[no-untyped-def]
        return self.membership.quorum

    def check_invariants(self) -> None:
        self.membership.check_invariants()

    def leave(self, now: float, *, remove: bool = False) -> None:
        self.membership.leave(now, remove=remove)
        self._pump(now)

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, CONFIG_MESSAGES):
            self.dist.receive(now, sender, message)
        else:
            self.membership.receive(now, sender, message)
            if isinstance(message, Heartbeat):
                self.dist.heard(now, sender, message, self.membership.members)
        self._pump(now)

    def tick(self, now: float) -> None:
        self.membership.tick(now)
        self.dist.tick(now)
        self._pump(now)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.membership.next_deadline(), self.dist.next_deadline()) if t is not None]
        return min(times) if times else None

    def take_effects(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def push(self, now: float, data: bytes) -> None:
        self._req += 1
        self.dist.push(now, self._req, data, version_of(data))
        self._pump(now)

    # the simulated shell
    def _pump(self, now: float) -> None:
        for _ in range(50):
            moved = False
            for effect in self.membership.take_effects():
                moved = True
                self._out.append(effect)
                if isinstance(effect, (ViewInstalled, QuorumChanged, Evicted)):
                    m = self.membership
                    self.dist.on_view(now, m.members, m.view.coord, m.quorum.quorate)
            for effect in self.dist.take_effects():
                moved = True
                if isinstance(effect, (Send, Log)):
                    self._out.append(effect)
                elif isinstance(effect, Stage):
                    ok, error = self._validate(effect.data)
                    (self.observer.staged_ok.setdefault(effect.version, set()) if ok else set()).add(self.nodeid)
                    if not ok:
                        self.observer.refused.add(effect.version)
                    self.dist.staged_result(now, effect.tx, effect.digest, ok, error)
                elif isinstance(effect, Activate):
                    if effect.why == "every member staged it":
                        members = self.membership.members
                        staged = self.observer.staged_ok.get(effect.version, set())
                        if not members <= staged:
                            raise InvariantViolation(
                                f"node {self.nodeid} committed version {effect.version} staged only by "
                                f"{sorted(staged)} while its view is {sorted(members)}"
                            )
                        self.observer.committed.add(effect.version)
                    self._activate(now, effect.version, effect.data)
                elif isinstance(effect, Adopt):
                    ok, error = self._validate(effect.data)
                    if ok:
                        self._activate(now, effect.version, effect.data)
                    else:
                        self.dist.adopt_refused(effect.version, effect.digest, error)
                elif isinstance(effect, PushDone):
                    self.observer.answers.append((version_of(self.dist.data), effect.ok, effect.text))
                elif isinstance(effect, Discard):
                    pass
            if not moved:
                return

    def _validate(self, data: bytes) -> tuple[bool, str]:
        if f"refuse:{self.nodeid}".encode() in data:
            return False, f"node {self.nodeid} cannot use this file"
        if version_of(data) <= version_of(self.disk.data):
            return False, "not a higher config_version"
        return True, ""

    def _activate(self, now: float, version: int, data: bytes) -> None:
        if version not in self.observer.committed:
            raise InvariantViolation(f"node {self.nodeid} activated version {version}, which was never committed")
        if version in self.observer.refused:
            raise InvariantViolation(f"node {self.nodeid} activated version {version}, which a member refused")
        self.disk.data = data
        self.membership.reconfigure(now, self._config(data))
        self.dist.activated(version, data)


class ConfigSim(SimCluster):
    def __init__(self, config: MembershipConfig, rng: random.Random) -> None:
        super().__init__(config, rng)
        self.observer = Observer()
        self.disks = {n.nodeid: Disk(make_file(1)) for n in config.nodes}
        self.must_succeed: set[int] = set()

    def start(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        node.boots += 1
        node.alive, node.paused, node.inbox = True, False, []
        node.core = NodeStack(  # type: ignore[assignment]
            self.config,
            nodeid,
            self.disks[nodeid],
            self.observer,
            boot=node.boots,
            now=node.local(self.t),
            highest_seq=node.persisted_seq,
        )
        self._log(f"start {node.spec.name} (boot {node.boots}, config {version_of(self.disks[nodeid].data)})")
        self._drain(node)

    def push(self, nodeid: int, data: bytes) -> None:
        node = self.nodes[nodeid]
        if node.alive and not node.paused and node.core is not None:
            self._log(f"push version {version_of(data)} from {node.spec.name}")
            node.core.push(node.local(self.t), data)  # type: ignore[attr-defined]
            self._drain(node)

    def check_versions_converged(self) -> None:
        live = self.live_nodes()
        versions = {n: version_of(self.disks[n].data) for n in live}
        if len(set(versions.values())) > 1:
            raise InvariantViolation(f"a mix of versions after faults stopped: {versions}")
        updated = {int(t.split()[-1]) for _v, ok, t in self.observer.answers if ok}
        if self.must_succeed - updated:
            failures = [t for _v, ok, t in self.observer.answers if not ok]
            raise InvariantViolation(
                f"pushes of versions {sorted(self.must_succeed - updated)} met no fault yet failed: {failures}"
            )
        newest_ok = max((int(t.split()[-1]) for _v, ok, t in self.observer.answers if ok), default=0)
        if versions and max(versions.values()) < newest_ok:
            raise InvariantViolation(f"a push answered 'updated' to {newest_ok} but nodes run {versions}")


def run(seed: int, *, nodes: int = 3, verbose: bool = False) -> ConfigSim:
    """One seeded run: pushes (some refused by a member), with a crash, a partition or loss in the middle."""
    rng = random.Random(seed)
    specs = tuple(NodeSpec(i, f"node{i}", 1) for i in range(1, nodes + 1))
    config = MembershipConfig(nodes=specs, expected_votes=nodes, token=1.0)
    sim = ConfigSim(config, rng)
    for n in sim.nodes:
        sim.start(n)
    sim.run_until(5.0)
    version = 1
    t = 5.0
    for _ in range(rng.randint(2, 4)):
        version += 1
        fault = rng.choice(FAULTS)
        victim = rng.choice([n.nodeid for n in specs])
        # a file one node cannot use, pushed while that node is down, keeps it out for good: by design, so
        # the generator does not ask for convergence in that case
        usable = [n.nodeid for n in specs if not (fault == "restart-late" and n.nodeid == victim)]
        refuse = rng.choice([0, 0, 0, *usable])
        size = rng.choice([200, 9000, 20000])
        data = make_file(version, refuse=refuse, size=size)
        origin = rng.choice([n.nodeid for n in specs])
        sim.schedule(t, f"push {version} from node{origin}", lambda c, o=origin, d=data: c.push(o, d))  # type: ignore[misc]
        at = t + rng.uniform(0.0, 0.05)
        if fault == "none" and not refuse:
            sim.must_succeed.add(version)  # no fault, every node can use it: liveness says it goes through
        if fault == "crash-coordinator":
            sim.schedule(at, "crash the coordinator", lambda c: c.crash(min(c.live_nodes() or {1})))
            sim.schedule(at + 4.0, "restart it", lambda c: [c.start(n) for n in c.nodes if not c.nodes[n].alive])
        elif fault == "coordinator-dies-waiting":
            # a member frozen during the push, the coordinator killed while it waits, back as coordinator later
            member = rng.choice([n.nodeid for n in specs[1:]])
            sim.schedule(t - 0.01, f"pause node{member}", lambda c, v=member: c.pause(v))
            sim.schedule(t + 0.05, "crash node1", lambda c: c.crash(1))
            sim.schedule(t + 0.3, f"resume node{member}", lambda c, v=member: c.resume(v))
            sim.schedule(t + 4.0, "restart node1", lambda c: c.start(1))
        elif fault == "crash-member":
            sim.schedule(at, f"crash node{victim}", lambda c, v=victim: c.crash(v))
            sim.schedule(at + 4.0, f"restart node{victim}", lambda c, v=victim: c.start(v))
        elif fault == "restart-late":
            sim.schedule(t - 0.5, f"crash node{victim}", lambda c, v=victim: c.crash(v))
            sim.schedule(t + 6.0, f"restart node{victim}", lambda c, v=victim: c.start(v))
        elif fault == "partition":
            sim.schedule(at, f"isolate node{victim}", lambda c, v=victim: c.net.partition([{v}, set(c.nodes) - {v}]))
            sim.schedule(at + 3.0, "heal", lambda c: c.net.heal())
        elif fault == "loss":
            sim.schedule(at, "lose 30 %", lambda c: setattr(c.net, "loss", 0.3))
            sim.schedule(at + 3.0, "no loss", lambda c: setattr(c.net, "loss", 0.0))
        t += 10.0
    try:
        sim.run_until(t + 30.0)
        sim.check_converged()
        sim.check_versions_converged()
    except InvariantViolation:
        if verbose:
            print("\n".join(sim.trace[-200:]))
        raise
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay one seeded configuration-distribution run.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        sim = run(args.seed, nodes=args.nodes, verbose=True)
    except InvariantViolation as exc:
        print(f"seed {args.seed}: INVARIANT VIOLATED: {exc}", file=sys.stderr)
        return 1
    for _version, ok, text in sim.observer.answers:
        print(f"answer: {'ok' if ok else 'refused'}: {text.splitlines()[0]}")
    print(f"seed {args.seed}: ok, every node runs version {version_of(next(iter(sim.disks.values())).data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
