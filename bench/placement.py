"""What placing a failed node's services costs the coordinator: ``python -m bench placement``.

    .venv/bin/python -m bench placement [--nodes 3,8,16,32] [--services 10,100,1000] [--domains 20] [--repeat 5]

Only the resource manager's pure core runs (`ServiceManager`, one per node, in one process): no membership, no
network, no clock. Each shape starts from a formed, quorate cluster with every service started where its
failover domain puts it (the records and the executors' inventories agree); then the node that owns the most
services (not the coordinator) leaves the view, its fence already confirmed, and the survivors' inventories
reach the coordinator in order. The figure is the coordinator's CPU time (`time.process_time`) from the view
change to its last start command for the failed node's services: every input it handles in between (the view,
each inventory part), as a real coordinator would. Each shape is repeated and the minimum and median printed;
the minimum is the figure least disturbed by other work on the machine.

The services are dealt over ``--domains`` ordered, unrestricted failover domains (each a rotation of the nodes,
so every node heads some domain), as a cluster of that size plausibly is. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import deque
from collections.abc import Sequence

from quorate.core.effects import Send, ViewInstalled
from quorate.core.messages import Message, SvcCommand, SvcRecord, ViewId
from quorate.core.placement import DomainSpec, ServiceSpec, best_target
from quorate.core.service_records import StartLocal, StopLocal
from quorate.core.service_replication import adopt
from quorate.core.service_vocabulary import Action, St
from quorate.core.services import ServiceManager

TARGET_MS = 50.0


def cluster_specs(nodes: int, services: int, domains: int) -> dict[str, ServiceSpec]:
    """``services`` services over ``domains`` ordered failover domains, each a rotation of the ``nodes`` nodes."""
    specs: dict[str, ServiceSpec] = {}
    rings = []
    for d in range(domains):
        order = [(d + k) % nodes + 1 for k in range(nodes)]
        rings.append(DomainSpec(f"dom{d:02d}", ordered=True, restricted=False, nofailback=False,
                                priorities={node: rank for rank, node in enumerate(order, start=1)}))  # fmt: skip
    for i in range(services):
        name = f"svc{i:04d}"
        specs[name] = ServiceSpec(name, domain=rings[i % domains], recovery="relocate")
    return specs


def _view(seq: int, members: frozenset[int], joined: frozenset[int] = frozenset()) -> ViewInstalled:
    left = frozenset()
    return ViewInstalled(ViewId(seq, min(members)), members, joined, left, frozenset(), True, "bench")


class Bench:
    """N resource managers, a FIFO of messages between them, and executors that start and stop at once."""

    def __init__(self, nodes: int, specs: dict[str, ServiceSpec]) -> None:
        self.names = {i: f"node{i:02d}" for i in range(1, nodes + 1)}
        self.gone: set[int] = set()
        self.managers = {
            i: ServiceManager(specs, self.names, i, safely_gone=self.gone.__contains__) for i in self.names
        }
        self.queue: deque[tuple[int, int, Message]] = deque()
        self.starts: list[tuple[int, str]] = []  # (node told to start, service), in the order commanded
        online = frozenset(self.names)
        table = []
        for name, spec in specs.items():
            owner, _ = best_target(spec, online)
            assert owner is not None
            table.append(SvcRecord(name, St.STARTED, owner, 0, 0, False, True, True, "", 1))
            self.managers[owner].local_running[name] = St.STARTED
        for manager in self.managers.values():
            adopt(manager, table)
        self.view_seq = 1
        self.install(online)
        self.drain()

    def install(self, members: frozenset[int]) -> None:
        self.view_seq += 1
        view = _view(self.view_seq, members)
        for i in sorted(members):
            manager = self.managers[i]
            manager.on_view(0.0, view, coordinator=i == view.view.coord)
            self.collect(i)

    def collect(self, node: int) -> None:
        for effect in self.managers[node].take_effects():
            if isinstance(effect, Send):
                if isinstance(effect.message, SvcCommand) and effect.message.action == Action.START:
                    self.starts.append((effect.to[0], effect.message.service))
                for dest in effect.to:
                    self.queue.append((node, dest, effect.message))
            elif isinstance(effect, StartLocal):
                self.starts.append((node, effect.service))
            elif isinstance(effect, StopLocal):
                pass

    def drain(self) -> None:
        while self.queue:
            sender, dest, message = self.queue.popleft()
            if dest not in self.gone:
                self.managers[dest].receive(0.0, sender, message)
                self.collect(dest)


def victim_of(bench: Bench) -> tuple[int, list[str]]:
    coordinator = min(bench.managers)
    owned: dict[int, list[str]] = {}
    for record in bench.managers[coordinator].records.values():
        owned.setdefault(record.owner, []).append(record.name)
    victim = max((n for n in owned if n != coordinator), key=lambda n: (len(owned[n]), -n))
    return victim, owned[victim]


def failover_ms(nodes: int, services: int, domains: int) -> tuple[float, int]:
    """One measurement: (coordinator CPU ms from the view change to its last start command, services moved)."""
    return measure(Bench(nodes, cluster_specs(nodes, services, domains)))


def measure(bench: Bench) -> tuple[float, int]:
    """Fail the node owning the most services; the coordinator's CPU ms until it commanded all of them started."""
    nodes = len(bench.managers)
    services = len(bench.managers[min(bench.managers)].records)
    victim, moved = victim_of(bench)
    coordinator = bench.managers[min(bench.managers)]
    bench.gone.add(victim)
    survivors = frozenset(bench.managers) - {victim}
    view = _view(bench.view_seq + 1, survivors)
    spent = 0.0
    began = time.process_time()
    coordinator.on_view(0.0, view, coordinator=True)
    spent += time.process_time() - began
    bench.collect(coordinator.local_id)
    for i in sorted(survivors - {coordinator.local_id}):
        bench.managers[i].on_view(0.0, view, coordinator=False)
        bench.collect(i)
    while len(bench.starts) < len(moved) and bench.queue:
        sender, dest, message = bench.queue.popleft()
        if dest in bench.gone:
            continue
        target = bench.managers[dest]
        began = time.process_time()
        target.receive(0.0, sender, message)
        if dest == coordinator.local_id:
            spent += time.process_time() - began
        bench.collect(dest)
    commanded = {name for _, name in bench.starts}
    if not set(moved) <= commanded:
        raise RuntimeError(f"{nodes} nodes, {services} services: not every service of node {victim} was placed")
    return spent * 1000, len(moved)


def growth(xs: Sequence[int], ys: Sequence[float]) -> str:
    """The exponent k of y ~ x^k between the smallest and the largest x (a statement of growth, not a fit)."""
    if len(xs) < 2 or min(ys) <= 0:
        return "-"
    return f"x^{math.log(ys[-1] / ys[0]) / math.log(xs[-1] / xs[0]):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench placement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--nodes", default="3,8,16,32")
    parser.add_argument("--services", default="10,100,1000")
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    nodes = [int(n) for n in args.nodes.split(",")]
    services = [int(m) for m in args.services.split(",")]
    print(f"coordinator CPU from a node's failure to its last start command (ms; min / median of {args.repeat}; "
          f"{args.domains} failover domains; target <= {TARGET_MS:.0f} ms at 32 nodes, 1000 services)")  # fmt: skip
    print(f"{'N':>4} {'M':>6} {'moved':>6} {'min ms':>9} {'median ms':>10}")
    table: dict[tuple[int, int], float] = {}
    for n in nodes:
        for m in services:
            runs = [failover_ms(n, m, args.domains) for _ in range(args.repeat)]
            times = [ms for ms, _ in runs]
            table[(n, m)] = min(times)
            print(f"{n:>4} {m:>6} {runs[0][1]:>6} {min(times):>9.2f} {statistics.median(times):>10.2f}", flush=True)
    print("\ngrowth (minimum times): in M at each N, then in N at each M")
    for n in nodes:
        print(f"  N={n:<3} M {services[0]}..{services[-1]}: {growth(services, [table[(n, m)] for m in services])}")
    for m in services:
        print(f"  M={m:<5} N {nodes[0]}..{nodes[-1]}: {growth(nodes, [table[(n, m)] for n in nodes])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
