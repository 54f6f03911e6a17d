"""`quorate simulate`: what the cluster would do if a node died, joined back, or a service were moved.

Why it exists: before pulling a cable or typing `clusvcadm -r`, an administrator wants to know where every
service would end up, whether the survivors keep quorum, and which node is fenced first. Guessing from the
configuration is how clusters go down, so the answer here comes from the daemon's own decision code:

* quorum from `quorate.core.quorum.QuorumTracker` (cman's arithmetic, quorum-disk votes included, with the
  quorum floor that keeps the bar from dropping as nodes die);
* service decisions from `quorate.core.services.ServiceManager`, which places services through
  `quorate.core.placement` (failover domains, priorities, restricted, nofailback, exclusive, recovery
  policies, the clusvcadm advise rules and their answers);
* fencing decisions from `quorate.core.fencing.Fencing` (who is a victim, and that nothing of a failed node
  moves before its fence is confirmed).

Those cores are driven here the way the daemon drives them, by one coordinator that watches the whole
simulated cluster. The executors are simulated: every start, stop and fence succeeds at once (a
`fence_manual` device is assumed acknowledged; the output says so). The simulation starts from a settled
cluster, so startup fencing (`post_join_delay`) is already over.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.fencing import FenceConfirmed, Fencing, FencingConfig, Phase, RunFence
from quorate.core.messages import SvcCommand, SvcInventory, SvcRecord, SvcReport, ViewId
from quorate.core.placement import SCORE_NAMES, ServiceSpec, score
from quorate.core.quorum import QuorumResult, QuorumTracker
from quorate.core.services import RUNNING, FenceForService, RequestDone, ServiceManager, St, StartLocal, StopLocal

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


@dataclass(frozen=True, slots=True)
class Event:
    verb: str
    nodes: tuple[str, ...] = ()
    service: str = ""
    target: str = ""

    def text(self) -> str:
        return " ".join([self.verb, *([",".join(self.nodes)] if self.nodes else []), self.service, self.target]).strip()


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


def find_node(names: dict[int, str], word: str) -> int:
    """A node by cluster.conf name, short name or id."""
    for nodeid, name in names.items():
        if word in (name, name.split(".")[0], str(nodeid)):
            return nodeid
    raise SimulationError(f"unknown node {word!r}: cluster.conf has {', '.join(names.values())}")


def find_service(specs: dict[str, ServiceSpec], word: str) -> str:
    name = word.removeprefix("service:")
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise SimulationError(f"unknown service {word!r}: cluster.conf has {known}")
    return name


@dataclass
class Start:
    """Where the simulation starts: who is up, where services run, the quorum disk, expected votes."""

    up: frozenset[int]
    running: dict[str, int] = field(default_factory=dict)
    records: list[SvcRecord] = field(default_factory=list)
    qdisk: bool = True
    expected: int | None = None
    typed_on: int = 0  # the node clusvcadm is typed on (live: the local node)


class Simulation:
    """One observer coordinator driving the daemon's cores over a simulated, obedient cluster."""

    def __init__(self, cfg: ClusterConfig, start: Start) -> None:
        from quorate.config.to_core import service_specs

        self.cfg = cfg
        self.names = {n.nodeid: n.name for n in cfg.nodes}
        self.votes = {n.nodeid: n.votes for n in cfg.nodes}
        self.observer = max(self.names) + 1000  # not a node: it only decides, never runs anything
        self.specs = service_specs(cfg)
        self.expected = start.expected or cfg.expected_votes
        self.qdisk_votes = cfg.quorumd.votes if cfg.quorumd is not None else 0
        self.qdisk_ok = start.qdisk and self.qdisk_votes > 0
        self.typed_on = start.typed_on
        self.tracker = QuorumTracker(two_node=cfg.two_node, wait_for_all=False, all_node_ids=frozenset(self.names))
        self.manager = ServiceManager(self.specs, self.names, self.observer)
        fd = cfg.fence_daemon
        self.fencing = Fencing(
            FencingConfig(
                self.names,
                post_join_delay=float(fd.post_join_delay),
                post_fail_delay=float(fd.post_fail_delay),
                clean_start=True,
                override_time=float(fd.override_time),
                two_node=cfg.two_node,
            ),
            self.observer,
        )
        self.manager.safely_gone = self.fencing.is_safely_gone
        self.now = 0.0
        self.seq = 0
        self.up: frozenset[int] = frozenset()
        self.boots = dict.fromkeys(self.names, 0)
        self.executors: dict[int, dict[str, str]] = {n: {} for n in self.names}
        self.quorum = QuorumResult(self.expected, 0, 0, False, "not started")
        self.view = ViewId(0, 0)
        self.seed_table = tuple(start.records)
        self._step_log: list[str] = []
        self._fences: list[dict[str, Any]] = []
        self._answers: list[dict[str, Any]] = []
        self._trail: dict[str, list[str]] = {}
        self._start(start)

    # ---------------------------------------------------------------------------------- public

    def node(self, word: str) -> int:
        return find_node(self.names, word)

    def service(self, word: str) -> str:
        return find_service(self.specs, word)

    def step(self, event: Event) -> dict[str, Any]:
        """Apply one event, let the cores settle, and describe the outcome."""
        before = self._owners()
        self._begin()
        self.now += 1.0
        note = ""
        if event.verb == "kill":
            nodes = {self.node(n) for n in event.nodes}
            down = sorted(n for n in nodes if n not in self.up)
            if down:
                raise SimulationError(f"cannot kill {self._names(down)}: not up at this point")
            for n in nodes:
                self.executors[n] = {}  # powered off: whatever it ran is gone with it
            self._view(self.up - nodes, joined=frozenset(), failed=frozenset(nodes))
        elif event.verb == "join":
            nodes = {self.node(n) for n in event.nodes}
            already = sorted(n for n in nodes if n in self.up)
            if already:
                raise SimulationError(f"cannot join {self._names(already)}: already up at this point")
            for n in nodes:
                self.boots[n] += 1
                self.executors[n] = {}  # a new run stops everything before it joins
            self._view(self.up | nodes, joined=frozenset(nodes), failed=frozenset())
        elif event.verb in ("qdisk-lost", "qdisk-back"):
            if self.qdisk_votes == 0:
                raise SimulationError("cluster.conf has no quorum disk (<quorumd>) with votes")
            self.qdisk_ok = event.verb == "qdisk-back"
            self._recompute_quorum()
        elif event.verb == "fail":
            name = self.service(event.service)
            record = self.manager.records[name]
            if record.state is not St.STARTED or not record.owner:
                raise SimulationError(f"service:{name} is {record.state.value}: only a started service can fail")
            self.manager.receive(self.now, record.owner, SvcReport(name, 0, "status_failed", "simulated failure"))
        else:
            note = self._admin(event)
        self._settle()
        return self._describe(event.text(), before, note)

    def initial(self) -> dict[str, Any]:
        return self._describe("starting point", {}, "", first=True)

    # ------------------------------------------------------------------------------ internals

    def _start(self, start: Start) -> None:
        self._begin()
        for name, nodeid in start.running.items():
            self.executors[nodeid][name] = "started"
        for n in start.up:
            self.boots[n] = 1
        self._view(start.up, joined=frozenset(), failed=frozenset())
        self._settle()

    def _begin(self) -> None:
        self._step_log, self._fences, self._answers = [], [], []
        self._trail = {name: [] for name in self.specs}

    def _view(self, members: frozenset[int], *, joined: frozenset[int], failed: frozenset[int]) -> None:
        """Install a view the way membership does: quorum first, then fencing and services hear of it."""
        was_quorate = self.quorum.quorate
        self.up = members
        self.seq += 1
        self.view = ViewId(self.seq, min(members) if members else 0)
        self.quorum = self._evaluate()
        installed = ViewInstalled(self.view, members, joined, frozenset(), failed, self.quorum.quorate, "")
        stamps = {n: (self.boots[n], 1) for n in self.names}
        self.fencing.on_view(self.now, installed, stamps, coordinator=True)
        self.manager.on_view(self.now, installed, coordinator=True)
        if self.quorum.quorate:
            for n in sorted(members):
                self._inventory(n)
        elif was_quorate or self.seq == 1:
            self._quorum_lost()

    def _recompute_quorum(self) -> None:
        """A vote change without a view (the quorum disk): what the daemon does on membership's QuorumChanged.

        Like the daemon: fencing hears of it, and the service manager starts again as on a new view (same
        view id), asking every member what it runs."""
        was = self.quorum.quorate
        self.quorum = self._evaluate()
        if was and not self.quorum.quorate:
            self._quorum_lost()
        elif not was and self.quorum.quorate:
            self.fencing.on_quorum(self.now, quorate=True, coordinator=True)
            same = ViewInstalled(self.view, self.up, frozenset(), frozenset(), frozenset(), True, "quorum regained")
            self.manager.on_view(self.now, same, coordinator=True)
            for n in sorted(self.up):
                self._inventory(n)

    def _quorum_lost(self) -> None:
        """S2: every node stops what it runs; nothing is fenced or started until quorum returns."""
        self.fencing.on_quorum(self.now, quorate=False, coordinator=True)
        self.manager.on_quorum_lost(self.now, self.quorum.reason)
        for n in self.up:
            self.executors[n] = {}

    def _evaluate(self) -> QuorumResult:
        member_votes = {n: self.votes[n] for n in self.up}
        disk = self.qdisk_votes if self.qdisk_ok and self.up else 0
        return self.tracker.evaluate(member_votes=member_votes, expected=self.expected, qdisk_votes=disk)

    def _inventory(self, n: int) -> None:
        running = tuple(sorted(self.executors[n].items()))
        table = self.seed_table or tuple(self.manager.table())
        self.manager.receive(self.now, n, SvcInventory(self.view, running, table))

    def _admin(self, event: Event) -> str:
        name = self.service(event.service)
        target = self.node(event.target) if event.target else 0
        if event.verb == "enable" and not target:
            target = self.typed_on if self.typed_on in self.up else min(self.up, default=0)
        self.manager.request(self.now, ADMIN_OPS[event.verb], name, target)
        return f"clusvcadm {event.verb} service:{name}" + (f" on {self.names[target]}" if target else "")

    def _settle(self) -> None:
        """Carry out every effect until nothing moves; jump over fence delays when a fence waits for one."""
        for _ in range(1000):
            if self._drain():
                continue
            acting = self.quorum.quorate
            due = [v.not_before for v in self.fencing.victims.values() if not v.running and v.phase is Phase.DELAY]
            if acting and due and min(due) > self.now:
                self.now = min(due)
                self.fencing.tick(self.now)
                continue
            break
        self.seed_table = ()

    def _drain(self) -> bool:
        """One round of effects. The service manager's go first: a fence runs for a while in a real cluster, so
        what the manager asks while it runs (a victim already pending) must reach fencing before it completes."""
        busy = False
        for se in self.manager.take_effects():
            busy = True
            if isinstance(se, Send) and isinstance(se.message, SvcCommand):
                for n in se.to:
                    self._execute(n, se.message)
            elif isinstance(se, RequestDone):
                self._answers.append({"ok": se.ok, "result": se.result})
            elif isinstance(se, Log):
                self._note(se.text)
            elif isinstance(se, FenceForService):
                self.fencing.add_victim(self.now, se.nodeid, self.boots[se.nodeid], 1, se.reason, force=True)
            elif isinstance(se, StartLocal | StopLocal):  # pragma: no cover - the observer is never an owner
                raise AssertionError("the observing coordinator was told to run a service")
        for fe in self.fencing.take_effects():
            busy = True
            if isinstance(fe, RunFence):
                owned = [
                    r.name for r in self.manager.records.values() if r.owner == fe.nodeid and r.state is not St.DISABLED
                ]
                victim = self.fencing.victims.get(fe.nodeid)
                self._fences.append(
                    {
                        "node": self.names[fe.nodeid],
                        "reason": victim.reason if victim else "",
                        "services_waiting": sorted(owned),
                        "method": self._methods(fe.nodeid),
                    }
                )
                self.fencing.fence_result(
                    self.now, fe.nodeid, ok=True, method="simulated", detail="simulated fence", duration=0.0
                )
            elif isinstance(fe, FenceConfirmed):
                self.manager.tick(self.now)
            elif isinstance(fe, Log):
                self._step_log.append(fe.text)
        return busy

    def _note(self, text: str) -> None:
        """Keep the log, and each service's decisions in order (its reasons, not the acknowledgements)."""
        self._step_log.append(text)
        for name, trail in self._trail.items():
            prefix = f"service:{name}"
            if text.startswith((prefix + ": ", prefix + " ")):
                reason = text[len(prefix) :].removeprefix(":").strip()
                if not reason.startswith(ACK_PREFIXES) and (not trail or trail[-1] != reason):
                    trail.append(reason)

    def _execute(self, n: int, command: SvcCommand) -> None:
        """An obedient executor: the command succeeds at once, and the node tells what it runs, then reports."""
        if n not in self.up:
            return
        if command.action == "start":
            self.executors[n][command.service] = "started"
            outcome = "started"
        else:
            self.executors[n].pop(command.service, None)
            outcome = "stopped"
        self._inventory(n)
        self.manager.receive(self.now, n, SvcReport(command.service, command.cmd, outcome, "simulated"))

    def _methods(self, nodeid: int) -> str:
        node = next(n for n in self.cfg.nodes if n.nodeid == nodeid)
        agents = {d.name: d.agent for d in self.cfg.fencedevices}
        if not node.fence:
            return "no fence method configured: recovery would wait forever (or for fence_ack_manual)"
        parts = []
        for method in node.fence:
            devices = ", ".join(f"{d.name} ({agents.get(d.name, '?')})" for d in method.devices)
            parts.append(f"method {method.name}: {devices}")
        text = "; then ".join(parts)
        if any(agents.get(d.name) == "fence_manual" for m in node.fence for d in m.devices):
            text += f" (fence_manual: recovery waits for 'fence_ack_manual {self.names[nodeid]}'; assumed given)"
        return text

    def _owners(self) -> dict[str, int]:
        return {name: r.owner for name, r in self.manager.records.items() if r.owner and r.state in RUNNING}

    def _names(self, ids: Iterable[int]) -> str:
        return ", ".join(self.names[n] for n in sorted(ids))

    def _describe(self, event: str, before: dict[str, int], note: str, *, first: bool = False) -> dict[str, Any]:
        q = self.quorum
        services = []
        for name in sorted(self.specs):
            services.append(self._service_outcome(name, before, first=first))
        return {
            "event": event,
            "request": note,
            "answers": list(self._answers),
            "members": [self.names[n] for n in sorted(self.up)],
            "quorum": {
                "quorate": q.quorate,
                "total_votes": q.total_votes,
                "expected_votes": q.expected_votes,
                "quorum": q.quorum,
                "qdisk_votes": self.qdisk_votes if self.qdisk_ok and self.up else 0,
                "reason": q.reason,
            },
            "fenced": list(self._fences),
            "pending_fences": [
                {"node": self.names[v.nodeid], "reason": v.reason, "state": v.phase.value}
                for v in self.fencing.victims.values()
            ],
            "services": services,
            "log": list(self._step_log),
        }

    def _service_outcome(self, name: str, before: dict[str, int], *, first: bool) -> dict[str, Any]:
        record = self.manager.records[name]
        holders = sorted(n for n, running in self.executors.items() if name in running)
        runs_on = self.names[holders[0]] if holders else None
        trail = list(self._trail.get(name, []))
        if not self.quorum.quorate:
            reason = "nothing runs: the cluster is not quorate, so every node stops its services and none starts"
            state = "stopped" if not holders else record.state.value
        elif trail:
            reason = trail[-1]
            state = record.state.value
        elif record.owner and record.owner in self.up:
            s = score(self.specs[name], record.owner, self.up, running_on=record.owner)
            reason = f"stays on {self.names[record.owner]}, a {SCORE_NAMES[s]} node for its failover domain"
            state = record.state.value
        else:
            reason = record.reason or "stays stopped"
            state = record.state.value
        moved_from = before.get(name)
        return {
            "name": name,
            "state": state,
            "runs_on": runs_on,
            "previous_owner": self.names[moved_from] if moved_from else None,
            "moved": not first and bool(holders) and moved_from not in (None, holders[0]),
            "reason": reason,
            "trail": trail,
            "restarts": record.restarts,
            "frozen": record.frozen,
        }


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
    from quorate.config.to_core import service_specs

    names = {n.nodeid: n.name for n in cfg.nodes}
    specs = service_specs(cfg)
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


def simulate_steps(cfg: ClusterConfig, start: Start, events: list[Event]) -> list[dict[str, Any]]:
    """Run the events from `start`; one description per step, the starting point first."""
    sim = Simulation(cfg, start)
    steps = [sim.initial()]
    for event in events:
        steps.append(sim.step(event))
    return steps


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
    start = _live_start(status, cfg) if status is not None else _offline_start(cfg, up, running, disabled, no_qdisk)
    steps = simulate_steps(cfg, start, parse_events(events))
    if as_json:
        click.echo(json.dumps({"config": str(path), "steps": steps}, indent=2))
    else:
        click.echo(render(steps), nl=False)
