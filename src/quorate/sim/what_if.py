"""What the cluster would do: the engine of `quorate simulate`, whole nodes (`NodeCore`) on virtual time.

Theory of operation
-------------------
Before pulling a cable or typing `clusvcadm -r`, an administrator wants to know where every service would end
up, whether the survivors keep quorum and which node is fenced first. The answer comes from the daemon's own
node core: every node of cluster.conf is a simulated host (`quorate.sim.host`) running it, on a simulated
network, with the quorum disk of the file on a simulated LUN, obedient agents and a power switch that always
works (a `fence_manual` device is taken as acknowledged; the output says so). The cluster first settles from
the starting state (who is up, what runs where, what is disabled), so startup fencing is over; then each event
is applied and virtual time runs until everything has settled again (a view change, a quorum-disk master
election, fence delays, status checks, restarts: minutes of virtual time, milliseconds of real time).

Each step is described from the facts: the members and quorum of the coordinator's view, the fences the power
switch carried out during the step, the fences still pending, and for each service where it really runs and
the coordinator's reasons in order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from quorate.core.effects import Log
from quorate.core.fencing import RunFence
from quorate.core.messages import SvcRecord
from quorate.core.node_io import Effect, Reply, ServiceRequest
from quorate.core.node_settings import NodeSettings
from quorate.core.placement import SCORE_NAMES, score
from quorate.core.services import RUNNING
from quorate.sim.host import SimHost
from quorate.sim.world import TemplateModel, World

ACK_PREFIXES = ("started on ", "stopped on ")
EXECUTOR_NOTES = ("started", "restarted")  # the coordinator's own executor speaking, not a decision
SEED = 0


class WhatIfError(ValueError):
    """A bad event or starting state: the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Event:
    verb: str
    nodes: tuple[str, ...] = ()
    service: str = ""
    target: str = ""

    def text(self) -> str:
        return " ".join([self.verb, *([",".join(self.nodes)] if self.nodes else []), self.service, self.target]).strip()


@dataclass
class Start:
    """Where the simulation starts: who is up, where services run, the quorum disk, expected votes."""

    up: frozenset[int]
    running: dict[str, int] = field(default_factory=dict)
    records: list[SvcRecord] = field(default_factory=list)
    qdisk: bool = True
    expected: int | None = None
    typed_on: int = 0  # the node clusvcadm is typed on (live: the local node)


def find_node(names: dict[int, str], word: str) -> int:
    """A node by cluster.conf name, short name or id."""
    for nodeid, name in names.items():
        if word in (name, name.split(".")[0], str(nodeid)):
            return nodeid
    raise WhatIfError(f"unknown node {word!r}: cluster.conf has {', '.join(names.values())}")


def find_service(names: Iterable[str], word: str) -> str:
    name = word.removeprefix("service:")
    known = sorted(names)
    if name not in known:
        raise WhatIfError(f"unknown service {word!r}: cluster.conf has {', '.join(known) or 'none'}")
    return name


@dataclass
class ClusterFile:
    """What the engine needs of cluster.conf, already in the node core's terms (the command line builds it):
    each node's settings (the cluster is settled, so startup fencing is over: ``clean_start``) and each node's
    fence configuration in words, for the description of a fence."""

    names: dict[int, str]
    settings: Callable[[int], NodeSettings]
    fence_methods: dict[int, str]

    @property
    def any(self) -> NodeSettings:
        return self.settings(min(self.names))


class Simulation:
    """The cluster of ``cfg`` from ``start``; `step` applies one event and describes the outcome."""

    def __init__(self, cluster: ClusterFile, start: Start) -> None:
        self.cluster = cluster
        self.names = dict(cluster.names)
        first = cluster.any
        self.has_disk = first.qdisk is not None
        model = TemplateModel(cluster.settings)
        self.world = World(random.Random(SEED), model, self.names, names=self.names, shared_disk=self.has_disk)
        self.world.restart_daemons = True
        self.specs = sorted(first.services)
        self.typed_on = start.typed_on
        self.settle_time = self._settle_time(first)
        self._fences: list[dict[str, Any]] = []
        self._answers: list[dict[str, Any]] = []
        self._trail: dict[str, list[str]] = {}
        self._log: list[str] = []
        self._admin_rids: set[tuple[int, int]] = set()
        for host in self.world.hosts.values():
            host.on_effect = self._watch
            host.access.error = not start.qdisk
        self.world.on_reply = self._reply
        self._start(start)

    # ----------------------------------------------------------------------------------------- public

    def node(self, word: str) -> int:
        return find_node(self.names, word)

    def service(self, word: str) -> str:
        return find_service(self.specs, word)

    def initial(self) -> dict[str, Any]:
        return self._describe("starting point", {}, "", first=True)

    def step(self, event: Event) -> dict[str, Any]:
        """Apply one event, let the cluster settle, and describe the outcome."""
        before = self._owners()
        self._begin()
        hosts = self.world.hosts
        note = ""
        if event.verb == "kill":
            nodes = {self.node(n) for n in event.nodes}
            down = sorted(n for n in nodes if not hosts[n].powered)
            if down:
                raise WhatIfError(f"cannot kill {self._names(down)}: not up at this point")
            for n in nodes:
                hosts[n].power_off("killed (simulated power loss)")
        elif event.verb == "join":
            nodes = {self.node(n) for n in event.nodes}
            already = sorted(n for n in nodes if hosts[n].powered)
            if already:
                raise WhatIfError(f"cannot join {self._names(already)}: already up at this point")
            for n in nodes:
                hosts[n].power_on()
        elif event.verb in ("qdisk-lost", "qdisk-back"):
            disk = self.cluster.any.qdisk
            if disk is None or not disk.votes:
                raise WhatIfError("cluster.conf has no quorum disk (<quorumd>) with votes")
            for host in hosts.values():
                host.access.error = event.verb == "qdisk-lost"
        elif event.verb == "fail":
            name = self.service(event.service)
            owner = next((h for h in hosts.values() if h.truth.get(name) == "started"), None)
            if owner is None:
                raise WhatIfError(f"service:{name} is not running: only a started service can fail")
            owner.faults.status_fail.add(name)
        else:
            note = self._admin(event)
        self._settle()
        return self._describe(event.text(), before, note)

    # -------------------------------------------------------------------------------------- internals

    @staticmethod
    def _settle_time(settings: NodeSettings) -> float:
        """Long enough for anything an event sets off: detection, fence delays, a quorum-disk master election,
        status checks and restarts."""
        token = settings.membership.token
        fencing = settings.fencing
        q = settings.qdisk
        disk = 0.0
        if q is not None:
            disk = float(q.interval) * (2 * q.tko + q.master_wait + q.upgrade_wait + q.tko_up + 4)
        restarts = max((s.max_restarts for s in settings.services.values()), default=0) + 2
        status = settings.status_interval * restarts
        return 3 * token + fencing.post_fail_delay + fencing.post_join_delay + disk + status + 30.0

    def _start(self, start: Start) -> None:
        hosts = self.world.hosts
        for n in sorted(start.up):
            hosts[n].power_on()
        self._run()
        for record in start.records:
            if record.name not in self.specs:
                continue
            if record.state == "disabled":
                self._request(ServiceRequest("disable", record.name))
            elif record.name in start.running:
                owner = start.running[record.name]
                if not self._runs_on(record.name, owner):
                    self._request(ServiceRequest("relocate", record.name, owner))
            if record.frozen:
                self._request(ServiceRequest("freeze", record.name))
        for name, owner in start.running.items():
            if name in self.specs and not any(r.name == name for r in start.records):
                self._request(ServiceRequest("relocate", name, owner))
        self._run()
        coordinator = self._coordinator()
        if coordinator is not None and coordinator.core is not None:
            for record in start.records:
                own = coordinator.core.services.records.get(record.name)
                if own is not None:  # counts the live cluster kept (the restart budget already spent)
                    own.restarts = record.restarts
        self._begin()

    def _run(self) -> None:
        kernel = self.world.kernel
        kernel.run_until(kernel.t + self.settle_time)

    def _settle(self) -> None:
        self._run()

    def _begin(self) -> None:
        self._fences, self._answers, self._log = [], [], []
        self._trail = {name: [] for name in self.specs}

    def _request(self, req: ServiceRequest) -> None:
        host = self._typing_host()
        if host is None:
            return
        self._ask(host, req)
        self._run()

    def _typing_host(self) -> SimHost | None:
        hosts = self.world.hosts
        if self.typed_on in hosts and hosts[self.typed_on].running_daemon:
            return hosts[self.typed_on]
        live = [h for h in self.world.live()]
        return min(live, key=lambda h: h.nodeid) if live else None

    def _admin(self, event: Event) -> str:
        name = self.service(event.service)
        target = self.node(event.target) if event.target else 0
        if event.verb == "enable" and not target:
            host = self._typing_host()
            target = host.nodeid if host is not None else 0
        op = {"relocate": "relocate", "enable": "enable", "disable": "disable", "stop": "stop",
              "restart": "restart", "freeze": "freeze", "unfreeze": "unfreeze"}[event.verb]  # fmt: skip
        host = self._typing_host()
        if host is not None:
            self._ask(host, ServiceRequest(op, name, target))
        return f"clusvcadm {event.verb} service:{name}" + (f" on {self.names[target]}" if target else "")

    def _ask(self, host: SimHost, req: ServiceRequest) -> None:
        """clusvcadm typed on ``host``: answered at once (a refusal) or when the coordinator is done."""
        rid = host.request(req)
        if rid is None:
            return
        answered = host.replies.pop(rid, None)
        if answered is not None:
            self._answer(answered)
        else:
            self._admin_rids.add((host.nodeid, rid))

    def _reply(self, host: SimHost, reply: Reply) -> None:
        if (host.nodeid, reply.rid) in self._admin_rids:
            self._admin_rids.discard((host.nodeid, reply.rid))
            host.replies.pop(reply.rid, None)
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        value = reply.value if isinstance(reply.value, dict) else {"done": False, "result": reply.text}
        self._answers.append({"ok": bool(value.get("done")), "result": value.get("result", reply.text)})

    def _watch(self, host: SimHost, effect: Effect) -> None:
        self.world._watch(host, effect)
        core = host.core
        if isinstance(effect, RunFence) and core is not None:
            if any(f["node"] == self.names[effect.nodeid] for f in self._fences):
                return
            victim = core.fencing.victims.get(effect.nodeid)
            owned = sorted(
                r.name
                for r in core.services.records.values()
                if r.owner == effect.nodeid and r.state.value != "disabled"
            )
            self._fences.append(
                {
                    "node": self.names[effect.nodeid],
                    "reason": victim.reason if victim else "",
                    "services_waiting": owned,
                    "method": self._methods(effect.nodeid),
                }
            )
        elif isinstance(effect, Log) and core is not None and core.membership.is_coordinator:
            self._note(effect.text)

    def _note(self, text: str) -> None:
        """Keep the coordinator's log, and each service's decisions in order (its reasons, not the acks)."""
        self._log.append(text)
        for name, trail in self._trail.items():
            prefix = f"service:{name}"
            if text.startswith((prefix + ": ", prefix + " ")):
                reason = text[len(prefix) :].removeprefix(":").strip()
                if reason.startswith(ACK_PREFIXES) or reason in EXECUTOR_NOTES:
                    continue
                if not trail or trail[-1] != reason:
                    trail.append(reason)

    def _methods(self, nodeid: int) -> str:
        return self.cluster.fence_methods.get(nodeid, "")

    def _coordinator(self) -> SimHost | None:
        live = self.world.live()
        for host in live:
            if host.core is not None and host.core.membership.is_coordinator:
                return host
        return min(live, key=lambda h: h.nodeid) if live else None

    def _runs_on(self, name: str, nodeid: int) -> bool:
        return self.world.hosts[nodeid].truth.get(name) == "started"

    def _owners(self) -> dict[str, int]:
        owners = {}
        for host in self.world.hosts.values():
            if host.powered:
                for name, state in host.truth.items():
                    if state in ("started", "starting"):
                        owners[name] = host.nodeid
        return owners

    def _names(self, ids: Iterable[int]) -> str:
        return ", ".join(self.names[n] for n in sorted(ids))

    # ------------------------------------------------------------------------------------------ output

    def _describe(self, event: str, before: dict[str, int], note: str, *, first: bool = False) -> dict[str, Any]:
        host = self._coordinator()
        core = host.core if host is not None else None
        if core is not None:
            m = core.membership
            q = m.quorum
            members = [self.names[n] for n in sorted(m.members)]
            quorum = {
                "quorate": q.quorate,
                "total_votes": q.total_votes,
                "expected_votes": q.expected_votes,
                "quorum": q.quorum,
                "qdisk_votes": m.qdisk_votes,
                "reason": q.reason,
            }
            pending = [
                {"node": self.names[v.nodeid], "reason": v.reason, "state": v.phase.value}
                for v in core.fencing.victims.values()
            ]
        else:
            members, pending = [], []
            expected = self.cluster.any.membership.expected_votes
            quorum = {"quorate": False, "total_votes": 0, "expected_votes": expected, "quorum": 0,
                      "qdisk_votes": 0, "reason": "no node is up"}  # fmt: skip
        services = [self._service_outcome(name, before, host, first=first) for name in self.specs]
        return {
            "event": event,
            "request": note,
            "answers": list(self._answers),
            "members": members,
            "quorum": quorum,
            "fenced": list(self._fences),
            "pending_fences": pending,
            "services": services,
            "log": list(self._log),
        }

    def _service_outcome(
        self, name: str, before: dict[str, int], host: SimHost | None, *, first: bool
    ) -> dict[str, Any]:
        core = host.core if host is not None else None
        record = core.services.records.get(name) if core is not None else None
        holders = sorted(h.nodeid for h in self.world.hosts.values() if h.powered and h.truth.get(name) == "started")
        runs_on = self.names[holders[0]] if holders else None
        trail = list(self._trail.get(name, []))
        quorate = core is not None and core.quorate
        state = record.state.value if record is not None else "stopped"
        up = core.membership.members if core is not None else frozenset()
        if not quorate:
            reason = "nothing runs: the cluster is not quorate, so every node stops its services and none starts"
            state = "stopped" if not holders else state
        elif trail:
            reason = trail[-1]
        elif record is not None and record.owner and record.owner in up and record.state in RUNNING:
            spec = core.services.specs[name]  # type: ignore[union-attr]
            s = score(spec, record.owner, up, running_on=record.owner)
            reason = f"stays on {self.names[record.owner]}, a {SCORE_NAMES[s]} node for its failover domain"
        else:
            reason = (record.reason if record is not None else "") or "stays stopped"
        moved_from = before.get(name)
        return {
            "name": name,
            "state": state,
            "runs_on": runs_on,
            "previous_owner": self.names[moved_from] if moved_from else None,
            "moved": not first and bool(holders) and moved_from not in (None, holders[0]),
            "reason": reason,
            "trail": trail,
            "restarts": record.restarts if record is not None else 0,
            "frozen": record.frozen if record is not None else False,
        }


def simulate_steps(cluster: ClusterFile, start: Start, events: list[Event]) -> list[dict[str, Any]]:
    """Run the events from `start`; one description per step, the starting point first."""
    sim = Simulation(cluster, start)
    steps = [sim.initial()]
    for event in events:
        steps.append(sim.step(event))
    return steps
