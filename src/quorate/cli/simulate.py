"""`quorate simulate`: what the cluster would do if a node died, joined back, or a service were moved.

Why it exists: before pulling a cable or typing `clusvcadm -r`, an administrator wants to know where every
service would end up, whether the survivors keep quorum, and which node is fenced first. Guessing from the
configuration is how clusters go down, so the answer comes from the daemon's own node core: the engine
(`quorate.sim.what_if`) runs every node of cluster.conf as a simulated host on virtual time, quorum disk
included. This module is the command line: the starting state, the events, and the text or JSON output.

Event grammar, one or more steps after the options (words may also be given as one quoted string):

    kill NODE[,NODE...]        nodes die at once (power loss, crash): the others see them fail
    join NODE[,NODE...]        nodes boot and join (a new run that runs nothing yet)
    relocate SERVICE [NODE]    clusvcadm -r SERVICE [-m NODE]
    enable SERVICE [NODE]      clusvcadm -e SERVICE [-m NODE] (default: on the coordinator)
    disable SERVICE            clusvcadm -d SERVICE
    stop SERVICE               clusvcadm -s SERVICE
    restart SERVICE            clusvcadm -R SERVICE
    freeze SERVICE / unfreeze SERVICE      clusvcadm -Z / -U
    fail SERVICE               its status check fails on its owner (the recovery policy applies)
    qdisk-lost / qdisk-back    the quorum disk stops / starts giving its votes

Nodes are named by their cluster.conf name, their short name (`casper`) or their node id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from quorate.core.messages import SvcRecord
from quorate.sim.what_if import ClusterFile, Event, Start, WhatIfError, find_node, find_service
from quorate.sim.what_if import simulate_steps as _simulate_steps

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig

ADMIN_OPS = {
    "relocate": "relocate",
    "enable": "enable",
    "disable": "disable",
    "stop": "stop",
    "restart": "restart",
    "freeze": "freeze",
    "unfreeze": "unfreeze",
}
NODE_VERBS = ("kill", "join")
BARE_VERBS = ("qdisk-lost", "qdisk-back")
VERBS = (*NODE_VERBS, *ADMIN_OPS, "fail", *BARE_VERBS)
ACK_PREFIXES = ("started on ", "stopped on ")


class SimulationError(click.ClickException):
    """A bad event or starting state: the message names what is wrong."""


def parse_events(words: Iterable[str]) -> list[Event]:
    """Split the command line's words into steps; each step starts with a verb."""
    tokens = [t for word in words for t in word.split()]
    events: list[Event] = []
    i = 0
    while i < len(tokens):
        verb = tokens[i].lower()
        if verb not in VERBS:
            raise SimulationError(f"unknown event {tokens[i]!r}: expected one of {', '.join(VERBS)}")
        args: list[str] = []
        i += 1
        while i < len(tokens) and tokens[i].lower() not in VERBS:
            args.append(tokens[i])
            i += 1
        if verb in NODE_VERBS:
            nodes = tuple(n for a in args for n in a.split(",") if n)
            if not nodes:
                raise SimulationError(f"{verb} needs at least one node, e.g. '{verb} casper'")
            events.append(Event(verb, nodes=nodes))
        elif verb in BARE_VERBS:
            if args:
                raise SimulationError(f"{verb} takes no argument (got {' '.join(args)})")
            events.append(Event(verb))
        else:
            most = 2 if verb in ("relocate", "enable") else 1
            if not 1 <= len(args) <= most:
                shape = f"{verb} SERVICE [NODE]" if most == 2 else f"{verb} SERVICE"
                raise SimulationError(f"usage: {shape} (got {' '.join([verb, *args])!r})")
            events.append(Event(verb, service=args[0], target=args[1] if len(args) > 1 else ""))
    return events


# ------------------------------------------------------------------------------------------- output


def render(steps: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for i, step in enumerate(steps):
        title = "Starting point" if i == 0 else f"Step {i}: {step['event']}"
        lines.append(title)
        q = step["quorum"]
        disk = f" ({q['qdisk_votes']} from the quorum disk)" if q["qdisk_votes"] else ""
        votes = "1 vote" if q["total_votes"] == 1 else f"{q['total_votes']} votes"
        verdict = "quorate" if q["quorate"] else "NOT quorate"
        lines.append(f"  Members: {', '.join(step['members']) or 'none'}")
        lines.append(f"  Quorum: {votes}{disk}, expected {q['expected_votes']}, quorum {q['quorum']}: {verdict}")
        for answer in step["answers"]:
            lines.append(f"  {step['request']}: {answer['result']}")
        for order, fence in enumerate(step["fenced"], 1):
            waiting = fence["services_waiting"]
            first = (
                f"; it owned {', '.join('service:' + s for s in waiting)}, which may move only after this fence is "
                "confirmed"
                if waiting
                else ""
            )
            lines.append(f"  Fence {order}: {fence['node']} ({fence['reason']}){first}")
            lines.append(f"    through {fence['method']}")
        for pending in step["pending_fences"]:
            lines.append(f"  Fence pending: {pending['node']} ({pending['reason']}): {pending['state']}")
        for svc in step["services"]:
            where = f"on {svc['runs_on']}" if svc["runs_on"] else "nowhere"
            moved = f" (moved from {svc['previous_owner']})" if svc["moved"] else ""
            lines.append(f"  service:{svc['name']}: {svc['state']} {where}{moved}")
            lines.append(f"    why: {'; then '.join(svc['trail']) if svc['trail'] else svc['reason']}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------ command


def _split(values: Iterable[str]) -> list[str]:
    return [v for value in values for v in value.split(",") if v]


def _offline_start(
    cfg: ClusterConfig, up: tuple[str, ...], running: tuple[str, ...], disabled: tuple[str, ...], no_qdisk: bool
) -> Start:
    """The starting state from the command line: who is up, what runs where, what the administrator disabled."""
    names = {n.nodeid: n.name for n in cfg.nodes}
    specs = [s.name for s in cfg.rm.managed]
    up_ids = frozenset(find_node(names, n) for n in _split(up)) if up else frozenset(names)
    placed: dict[str, int] = {}
    for item in running:
        service, sep, node = item.partition("=")
        if not sep:
            raise SimulationError(f"--running wants SERVICE=NODE, got {item!r}")
        nodeid = find_node(names, node)
        if nodeid not in up_ids:
            raise SimulationError(f"--running {item}: {names[nodeid]} is not up (see --up)")
        placed[find_service(specs, service)] = nodeid
    records = [
        SvcRecord(name, "started", nodeid, 0, 0, False, True, True, f"running on {names[nodeid]}", 1)
        for name, nodeid in placed.items()
    ]
    for item in _split(disabled):
        name = find_service(specs, item)
        if name in placed:
            raise SimulationError(f"service:{name} cannot be both running and disabled")
        records.append(SvcRecord(name, "disabled", 0, 0, 0, False, True, False, "disabled by the administrator", 1))
    return Start(up=up_ids, running=placed, records=records, qdisk=not no_qdisk)


def _live_start(status: dict[str, Any], cfg: ClusterConfig) -> Start:
    """The running cluster as `quorate status --json` shows it: members, votes and the service table."""
    ids = {n.name: n.nodeid for n in cfg.nodes}
    up = frozenset(int(n) for n in status.get("members", []))
    running: dict[str, int] = {}
    records = []
    for svc in status.get("services", []):
        owner = ids.get(svc.get("owner") or "", 0)
        state = svc.get("state", "stopped")
        if owner and state in ("started", "starting") and owner in up:
            running[svc["name"]] = owner
        records.append(
            SvcRecord(
                svc["name"],
                state,
                owner,
                ids.get(svc.get("last_owner") or "", 0),
                int(svc.get("restarts", 0)),
                bool(svc.get("frozen", False)),
                True,
                state != "disabled",
                str(svc.get("reason", "")),
                1,
            )
        )
    return Start(
        up=up,
        running=running,
        records=records,
        qdisk=bool(status.get("qdisk_votes")),
        expected=int(status.get("expected_votes") or 0) or None,
        typed_on=int(status.get("node_id") or 0),
    )


def cluster_file(cfg: ClusterConfig, expected: int | None = None) -> ClusterFile:
    """cluster.conf as the simulation engine takes it: every node's settings in the node core's terms, settled
    (no startup fencing), with ``expected`` votes when the live cluster has changed them."""
    from dataclasses import replace

    from quorate.config.to_core import node_settings

    def settings(nodeid: int) -> Any:
        base = node_settings(cfg, nodeid)
        membership = replace(base.membership, expected_votes=expected) if expected else base.membership
        return replace(base, fencing=replace(base.fencing, clean_start=True), membership=membership)

    methods = {n.nodeid: fence_methods(cfg, n.nodeid) for n in cfg.nodes}
    return ClusterFile({n.nodeid: n.name for n in cfg.nodes}, settings, methods)


def fence_methods(cfg: ClusterConfig, nodeid: int) -> str:
    """A node's fence configuration in words, as the output shows it before a fence."""
    node = next(n for n in cfg.nodes if n.nodeid == nodeid)
    agents = {d.name: d.agent for d in cfg.fencedevices}
    if not node.fence:
        return "no fence method configured: recovery would wait forever (or for fence_ack_manual)"
    parts = []
    for method in node.fence:
        devices = ", ".join(f"{d.name} ({agents.get(d.name, '?')})" for d in method.devices)
        parts.append(f"method {method.name}: {devices}")
    text = "; then ".join(parts)
    if any(agents.get(d.name) == "fence_manual" for m in node.fence for d in m.devices):
        text += f" (fence_manual: recovery waits for 'fence_ack_manual {node.name}'; assumed given)"
    return text


def simulate_steps(cfg: ClusterConfig, start: Start, events: list[Event]) -> list[dict[str, Any]]:
    """Run the events from `start` with the node core on virtual time; one description per step."""
    try:
        return _simulate_steps(cluster_file(cfg, start.expected), start, events)
    except WhatIfError as exc:
        raise SimulationError(str(exc)) from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", default=None, help="cluster.conf to simulate (default: /etc/cluster).")
@click.option("--up", multiple=True, metavar="NODES", help="Nodes up at the start (default: all), comma-separated.")
@click.option("--running", multiple=True, metavar="SERVICE=NODE", help="A service already running on NODE.")
@click.option("--disabled", multiple=True, metavar="SERVICE", help="A service disabled by the administrator.")
@click.option("--no-qdisk", is_flag=True, help="Start with the quorum disk giving no votes.")
@click.option("--live", is_flag=True, help="Start from the running cluster's state (asks the local quorated).")
@click.option("--json", "as_json", is_flag=True, help="Print every step as JSON.")
@click.argument("events", nargs=-1)
def simulate(
    config_path: str | None,
    up: tuple[str, ...],
    running: tuple[str, ...],
    disabled: tuple[str, ...],
    no_qdisk: bool,
    live: bool,
    as_json: bool,
    events: tuple[str, ...],
) -> None:
    """What happens if EVENTS occur: quorum, fences, and where each service runs, with the daemon's own code.

    \b
    Events (several make a story, applied in order):
      kill NODE[,NODE]   join NODE[,NODE]   qdisk-lost   qdisk-back
      relocate SERVICE [NODE]   enable SERVICE [NODE]   disable|stop|restart SERVICE
      freeze|unfreeze SERVICE   fail SERVICE (its status check fails)
    \b
    Example: quorate simulate -c /etc/cluster/cluster.conf kill balthasar join balthasar
    """
    from quorate.config.parser import DEFAULT_PATH, load_config

    status: dict[str, Any] | None = None
    if live:
        if up or running or disabled or no_qdisk:
            raise SimulationError("--live takes the starting state from the cluster: drop --up/--running/--disabled")
        from quorate.cli import client

        try:
            status = client.status()
        except client.NotRunning:
            raise SimulationError(
                f"quorated is not running on this node (no answer on {client.socket_path()})"
            ) from None
    path = config_path or (status.get("config_file") if status else None) or DEFAULT_PATH
    try:
        cfg = load_config(path)
    except Exception as exc:  # a located config error, or a missing file: say which
        raise SimulationError(f"cannot load {path}: {exc}") from None
    try:
        start = _live_start(status, cfg) if status is not None else _offline_start(cfg, up, running, disabled, no_qdisk)
    except WhatIfError as exc:
        raise SimulationError(str(exc)) from None
    steps = simulate_steps(cfg, start, parse_events(events))
    if as_json:
        click.echo(json.dumps({"config": str(path), "steps": steps}, indent=2))
    else:
        click.echo(render(steps), nl=False)
