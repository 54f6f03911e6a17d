"""Configuration pushes on virtual time: whole nodes (`NodeCore`), with crashes, partitions and loss mid-push.

Each host runs the daemon's node core; its "shell" keeps the running file on a simulated disk that survives
crashes. A file is a small byte string naming its version (`quorate.sim.world.make_file`); a file containing
``refuse:N`` is refused by node N's validation, as a file that is valid on one node and not on another would be
(a node whose fence agent is missing, say).

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
import sys
from dataclasses import dataclass, field

from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_io import PushConfig, Reply
from quorate.core.node_settings import NodeSettings
from quorate.sim.cluster import SimCluster
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation
from quorate.sim.world import TemplateModel, make_file, version_of

__all__ = ["ConfigSim", "Observer", "make_file", "run", "version_of"]

FAULTS = ("none", "crash-coordinator", "crash-member", "partition", "loss", "restart-late", "coordinator-dies-waiting")


@dataclass
class Observer:
    """What the invariants need, gathered from every node's effects."""

    committed: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    staged_ok: dict[int, set[int]] = field(default_factory=dict)
    answers: list[tuple[int, bool, str]] = field(default_factory=list)
    pushes: dict[tuple[int, int], int] = field(default_factory=dict)  # (node, request id) -> version


class ConfigSim(SimCluster):
    def __init__(self, config: MembershipConfig, rng: random.Random) -> None:
        super().__init__(config, rng)
        names = {n.nodeid: n.name for n in config.nodes}
        fencing = FencingConfig(node_names=names, post_join_delay=3.0, override_time=2.0)
        self.world.model = TemplateModel(lambda i: NodeSettings(i, config, fencing))
        self.observer = Observer()
        for host in self.world.hosts.values():
            host.data = make_file(1)
        self.must_succeed: set[int] = set()
        self.world.on_staged = self._staged
        self.world.on_activated = self._activated
        self.world.on_reply = self._reply

    @property
    def disks(self) -> dict[int, bytes]:
        return {i: h.data for i, h in self.world.hosts.items()}

    def push(self, nodeid: int, data: bytes) -> None:
        host = self.world.hosts[nodeid]
        if host.running_daemon and not host.paused:
            self._log(f"push version {version_of(data)} from {host.name}")
            rid = host.request(PushConfig(data, version_of(data)))
            if rid is not None:
                self.observer.pushes[(nodeid, rid)] = version_of(data)

    # -------------------------------------------------------------------------------------- observers

    def _staged(self, host: SimHost, version: int, ok: bool) -> None:
        if ok:
            self.observer.staged_ok.setdefault(version, set()).add(host.nodeid)
        else:
            self.observer.refused.add(version)

    def _activated(self, host: SimHost, version: int, by_commit: bool) -> None:
        if by_commit:
            members = self.world.members_of(host)
            staged = self.observer.staged_ok.get(version, set())
            if not members <= staged:
                raise InvariantViolation(
                    f"{host.name} committed version {version} staged only by {sorted(staged)} while its view is "
                    f"{sorted(members)}"
                )
            self.observer.committed.add(version)
        if version not in self.observer.committed:
            raise InvariantViolation(f"{host.name} activated version {version}, which was never committed")
        if version in self.observer.refused:
            raise InvariantViolation(f"{host.name} activated version {version}, which a member refused")

    def _reply(self, host: SimHost, reply: Reply) -> None:
        version = self.observer.pushes.pop((host.nodeid, reply.rid), None)
        if version is not None:
            self.observer.answers.append((version_of(host.data), reply.ok, reply.text))

    # ------------------------------------------------------------------------------------- invariants

    def check_versions_converged(self) -> None:
        live = self.live_nodes()
        versions = {n: version_of(self.world.hosts[n].data) for n in live}
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
    print(f"seed {args.seed}: ok, every node runs version {version_of(next(iter(sim.disks.values())))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
