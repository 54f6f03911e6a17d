"""How quorate's costs grow with the number of nodes N and of services M: ``python -m bench scale``.

    sudo .venv/bin/python -m bench scale [--nodes 3,8,16] [--services 10,100] [--token 1000,10000] [--multicast]
                                         [--idle-seconds 20] [--core-only] [--core-services 1000]

Two kinds of figures, printed as tables and never asserted:

* **the pure core, simulated** (`quorate.sim.world`, each node a real `NodeCore`, simulated network, agents
  and power switch; no root needed): the core's CPU per node per second of an idle cluster, and the time the
  coordinator's core takes to place every service of a failed node, with ``--core-services`` services dealt
  over per-node failover domains as the scale testbed does (the longest single input it handles, and all of
  its inputs from the kill to the last start commanded). The simulation is seeded, so a run repeats.
* **the testbed** (root; `quorate.testbed.scale_bed`, the cluster of ``quorate testbed up --nodes N
  --services M``): start of every daemon to the last node quorate and to the last service started (from the
  daemons' log stamps); idle CPU and RSS per daemon; datagrams and bytes per second per node (the node's
  interface counters); `clustat` whole-process time on node01; then a power-off of the node that owns the most
  services and does not coordinate: eviction (the first "<node> failed" log line) and failover (the last of its
  services started elsewhere, fence included) from the power-off.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bench.common import BIN, STAMP, BenchError, cpu_seconds, rss_mib, testbed_missing, timed_in_node, wait_log
from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_core import NodeCore
from quorate.core.node_settings import NodeSettings
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.sim.world import TemplateModel, World
from quorate.testbed import Testbed, TestbedError
from quorate.testbed.netns import NODE_IF
from quorate.testbed.scale import (
    DEFAULT_MULTICAST,
    ScaleShape,
    domain_members,
    node_name,
    service_name,
    services_of,
    startup_grace,
)
from quorate.testbed.scale_bed import up_scale

PREFIX = "qscale"
VICTIM_ID = 2  # owns services, and the lowest nodeid coordinates
STARTED = re.compile(r"service:(\S+) started on ")


# ------------------------------------------------------------------------------------------ the pure core


def _world(nodes: int, services: int, token: float, seed: int) -> World:
    specs = tuple(NodeSpec(i, node_name(i), 1) for i in range(1, nodes + 1))
    domains = {}
    for nodeid in range(1, nodes + 1):
        order = [int(name[4:6]) for name in domain_members(nodeid, nodes)]
        priorities = {member: rank for rank, member in enumerate(order, start=1)}
        domains[nodeid] = DomainSpec(f"prefer-{nodeid}", ordered=True, restricted=False, nofailback=True,
                                     priorities=priorities)  # fmt: skip
    table = {}
    for i in range(1, services + 1):
        domain = domains[(i - 1) % nodes + 1]
        table[service_name(i)] = ServiceSpec(service_name(i), domain=domain, recovery="relocate", status_interval=30.0)
    membership = MembershipConfig(nodes=specs, expected_votes=nodes, token=token, config_version=1)
    fencing = FencingConfig(node_names={s.nodeid: s.name for s in specs}, post_join_delay=1.0, override_time=0.5)
    model = TemplateModel(lambda i: NodeSettings(i, membership, fencing, table, status_interval=30.0))
    rng = random.Random(f"bench-scale:{seed}")
    world = World(rng, model, range(1, nodes + 1), names={s.nodeid: s.name for s in specs})
    for i in range(1, nodes + 1):
        world.schedule(rng.uniform(0, 0.3), f"boot {i}", lambda i=i: world.hosts[i].power_on())
    return world


class CoreClock:
    """CPU time of every NodeCore input, per core: wraps the class's entry points while it is active."""

    ENTRIES = ("deliver", "receive", "report", "handle_timer", "request")

    def __init__(self) -> None:
        self.calls: dict[int, list[float]] = {}
        self._saved: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> CoreClock:
        for name in self.ENTRIES:
            original = getattr(NodeCore, name)
            self._saved[name] = original

            def timed(core: NodeCore, *args: Any, _original: Callable[..., Any] = original, **kw: Any) -> Any:
                began = time.process_time()
                try:
                    return _original(core, *args, **kw)
                finally:
                    self.calls.setdefault(id(core), []).append(time.process_time() - began)

            setattr(NodeCore, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(NodeCore, name, original)


def _all_started(world: World, names: Sequence[str], hosts: Sequence[int]) -> bool:
    running = {name for i in hosts for name, state in world.hosts[i].truth.items() if state == "started"}
    return all(name in running for name in names)


def core_idle(nodes: int, token: float, seed: int = 1, seconds: float = 20.0) -> float:
    """The core's CPU (ms) per node per second of an idle, formed cluster of ``nodes`` (10 services)."""
    world = _world(nodes, 10, token, seed)
    world.kernel.run_until(20.0)
    began = time.process_time()
    world.kernel.run_until(20.0 + seconds)
    return (time.process_time() - began) / seconds / nodes * 1000


def core_failover(nodes: int, services: int, seed: int = 1) -> dict[str, float]:
    """Simulated: the coordinator's core time placing every service of a powered-off node (1 s token)."""
    world = _world(nodes, services, 1.0, seed)
    everyone = list(range(1, nodes + 1))
    names = [service_name(i) for i in range(1, services + 1)]
    t = 0.0
    while not _all_started(world, names, everyone):
        t += 1.0
        if t > 300:
            raise BenchError(f"simulated {nodes} nodes did not start {services} services in 300 s")
        world.kernel.run_until(t)
    victims = services_of(node_name(VICTIM_ID), services, nodes)
    coordinator = world.hosts[1].core
    survivors = [i for i in everyone if i != VICTIM_ID]
    with CoreClock() as clock:
        world.hosts[VICTIM_ID].power_off("crash")
        while not _all_started(world, victims, survivors):
            t += 0.05
            if t > 600:
                raise BenchError("the simulated failover did not finish")
            world.kernel.run_until(t)
    calls = clock.calls.get(id(coordinator), [0.0])
    return {"place_longest_ms": max(calls) * 1000, "place_total_ms": sum(calls) * 1000, "moved": len(victims)}


# ------------------------------------------------------------------------------------------ the testbed


def _if_counters(tb: Testbed, node: str) -> tuple[int, int]:
    """(packets, bytes) the node has sent on its LAN interface."""
    out = subprocess.run(["ip", "-j", "-s", "-n", tb.netns(node), "link", "show", "dev", NODE_IF],
                         capture_output=True, text=True, check=True, timeout=10).stdout  # fmt: skip
    stats = json.loads(out)[0]["stats64"]["tx"]
    return int(stats["packets"]), int(stats["bytes"])


def testbed_run(nodes: int, services: int, token_ms: int, idle: float, cli_runs: int,
                multicast: bool = False) -> dict[str, float]:  # fmt: skip
    """Every testbed figure of one (N, M, token, transport); the testbed is down again when this returns."""
    out: dict[str, float] = {}
    shape = ScaleShape(nodes=nodes, services=services, token_ms=token_ms,
                       multicast=DEFAULT_MULTICAST if multicast else None)  # fmt: skip
    with up_scale(shape, prefix=PREFIX, start_daemons=False) as tb:
        t0 = time.time()
        for node in tb.nodes:
            tb.start_daemon(node)
        # A node joins after its start-up stops: with many services that is up to the start-up grace.
        patience = max(120, 3 * startup_grace(shape))
        quorate = [wait_log(tb, [node], r"quorum regained", t0 - 0.01, patience) for node in tb.nodes]
        out["start_to_quorate_ms"] = (max(quorate) - t0) * 1000
        names = {service_name(i) for i in range(1, services + 1)}
        out["start_to_services_ms"] = (_last_started(tb, names, t0, max(300, patience)) - t0) * 1000
        pids = {node: tb.daemon_pid(node) for node in tb.nodes}
        time.sleep(2.0)
        cpu0 = {node: cpu_seconds(pid) for node, pid in pids.items() if pid}
        net0 = {node: _if_counters(tb, node) for node in tb.nodes}
        began = time.monotonic()
        time.sleep(idle)
        elapsed = time.monotonic() - began
        cpu = [(cpu_seconds(pid) - cpu0[node]) / elapsed * 100 for node, pid in pids.items() if pid]
        net = {node: _if_counters(tb, node) for node in tb.nodes}
        out["idle_cpu_pct"] = statistics.median(cpu)
        out["idle_cpu_max_pct"] = max(cpu)
        out["rss_mib"] = statistics.median(rss_mib(pid) for pid in pids.values() if pid)
        out["datagrams_per_s"] = statistics.median((net[n][0] - net0[n][0]) / elapsed for n in tb.nodes)
        out["bytes_per_s"] = statistics.median((net[n][1] - net0[n][1]) / elapsed for n in tb.nodes)
        out["clustat_ms"] = statistics.median(timed_in_node(tb, tb.nodes[0], [str(BIN / "clustat")], cli_runs))
        victim, moved = _victim(tb)
        t1 = time.time()
        tb.power_off(victim)
        witness = next(node for node in tb.nodes if node != victim)  # node01 may be the victim
        out["evict_ms"] = (wait_log(tb, [witness], rf"{victim} failed", t1, 60) - t1) * 1000
        out["failover_ms"] = (_last_started(tb, moved, t1, 120) - t1) * 1000 if moved else float("nan")
    return out


def _victim(tb: Testbed) -> tuple[str, set[str]]:
    """The node (not the coordinator) that owns the most services now, and those services: where start-up put
    them may differ from their preferred nodes (the domains do not fail back)."""
    done = tb.exec(tb.nodes[0], [sys.executable, "-m", "quorate.cli.main", "status", "--json"], timeout=30)
    if done.returncode != 0:
        raise BenchError(f"quorate status on {tb.nodes[0]}: {done.stderr.strip()}")
    doc = json.loads(done.stdout)
    names = {n["nodeid"]: n["name"] for n in doc["nodes"]}
    owned: dict[str, set[str]] = {}
    for service in doc["services"]:
        if service["state"] == "started" and service["owner"] != names.get(doc["coordinator"]):
            owned.setdefault(service["owner"], set()).add(service["name"].split(":", 1)[-1])
    if not owned:
        return node_name(VICTIM_ID), set()
    victim = max(sorted(owned), key=lambda node: len(owned[node]))
    return victim, owned[victim]


def _last_started(tb: Testbed, names: set[str], after: float, timeout: float) -> float:
    """Stamp of the last of ``names`` to log "service:NAME started on" (on any node) after ``after``."""
    deadline = time.monotonic() + timeout
    while True:
        first: dict[str, float] = {}
        for node in tb.nodes:
            if not tb.is_powered(node):
                continue
            for line_time, name in _started_lines(tb, node, after):
                if name in names and line_time < first.get(name, float("inf")):
                    first[name] = line_time
        if len(first) == len(names):
            return max(first.values())
        if time.monotonic() > deadline:
            raise BenchError(f"{len(names) - len(first)} of {len(names)} services not started in {timeout:.0f} s")
        time.sleep(0.5)


def _started_lines(tb: Testbed, node: str, after: float) -> list[tuple[float, str]]:
    """(stamp, service) of the node's "service:NAME started on" log lines at or after ``after``."""
    found = []
    for line in tb.daemon_log(node).splitlines():
        m = STAMP.match(line)
        started = STARTED.match(m.group(2)) if m else None
        if m and started:
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if stamp >= after:
                found.append((stamp, started.group(1)))
    return found


# ------------------------------------------------------------------------------------------ printing


def table(title: str, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A fixed-width table: ``columns`` are (key, heading, format)."""
    widths = [max(len(heading), 9) for _key, heading, _fmt in columns]
    lines = [title, "  " + "  ".join(h.rjust(w) for (_k, h, _f), w in zip(columns, widths, strict=True))]
    for row in rows:
        cells = []
        for (key, _heading, fmt), width in zip(columns, widths, strict=True):
            value = row.get(key)
            cells.append(("-" if value is None else format(value, fmt)).rjust(width))
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--nodes", default="3,8,16", help="node counts (default 3,8,16; up to 32)")
    parser.add_argument("--services", default="10,100", help="service counts on the testbed (default 10,100)")
    parser.add_argument("--token", default="1000",
                        help="tokens (ms) of the testbed runs, comma-separated (default 1000; 10000 is cman's)")
    parser.add_argument("--multicast", action="store_true", help="also run each shape with <multicast>")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle window per testbed run")
    parser.add_argument("--cli-runs", type=int, default=20, help="clustat runs per testbed run")
    parser.add_argument("--core-services", type=int, default=1000, help="services in the simulated failover")
    parser.add_argument("--core-only", action="store_true", help="only the simulated figures (no root needed)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    node_counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    service_counts = [int(m) for m in args.services.split(",") if m.strip()]

    core_rows = []
    for n in node_counts:
        row: dict[str, Any] = {"N": n, "M": args.core_services}
        row["idle_1s"] = core_idle(n, 1.0, args.seed)
        row["idle_10s"] = core_idle(n, 10.0, args.seed)
        row.update(core_failover(n, args.core_services, args.seed))
        core_rows.append(row)
        print(f"  core N={n}: {row}", flush=True)
    print(table("\nthe pure core, simulated (CPU of this machine)", core_rows, [
        ("N", "N", "d"), ("idle_1s", "idle ms/s 1s", ".2f"), ("idle_10s", "idle ms/s 10s", ".2f"),
        ("M", "M", "d"), ("moved", "moved", "d"), ("place_longest_ms", "longest ms", ".1f"),
        ("place_total_ms", "total ms", ".1f"),
    ]))  # fmt: skip
    if args.core_only:
        return 0
    if testbed_missing("bench scale"):
        return 2
    rows, errors = [], []
    tokens = [int(token) for token in args.token.split(",") if token.strip()]
    shapes = [(n, m, token, multicast) for n in node_counts for m in service_counts for token in tokens
              for multicast in ((False, True) if args.multicast else (False,))]  # fmt: skip
    for n, m, token, multicast in shapes:
        what = f"N={n} M={m} token={token}{' multicast' if multicast else ''}"
        try:
            row = {"N": n, "M": m, "token": token, "via": "mcast" if multicast else "ucast",
                   **testbed_run(n, m, token, args.idle_seconds, args.cli_runs, multicast)}  # fmt: skip
        except (BenchError, TestbedError, subprocess.SubprocessError, OSError) as exc:
            errors.append(f"{what}: {exc}")
            print(f"  testbed {what}: FAILED: {exc}", flush=True)
            continue
        rows.append(row)
        print(f"  testbed {what}: {row}", flush=True)
    print(table(f"\nthe testbed ({args.idle_seconds:.0f} s idle window)", rows, [
        ("N", "N", "d"), ("M", "M", "d"), ("token", "token ms", "d"), ("via", "heartbeats", "s"),
        ("start_to_quorate_ms", "quorate ms", ".0f"),
        ("start_to_services_ms", "started ms", ".0f"), ("idle_cpu_pct", "idle CPU %", ".2f"),
        ("rss_mib", "RSS MiB", ".1f"), ("datagrams_per_s", "dgram/s", ".0f"), ("bytes_per_s", "bytes/s", ".0f"),
        ("clustat_ms", "clustat ms", ".1f"), ("evict_ms", "evict ms", ".0f"), ("failover_ms", "failover ms", ".0f"),
    ]))  # fmt: skip
    for error in errors:
        print(f"failed: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
