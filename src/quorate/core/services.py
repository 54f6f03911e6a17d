"""The resource manager's decisions (what rgmanager did): where each service runs, and how it moves.

Theory of operation
-------------------
One node decides: the coordinator of a quorate view (S2). It holds the service records (state, owner, last
owner, restarts, frozen) and replicates them to every member after each change, so any node can answer
`clustat` and a new coordinator starts from the last table. Before a new coordinator decides anything it
waits for every member's inventory (what its executor really runs), and reconciles the table with it.

Each node's executor starts and stops only what the coordinator commands, and reports what happened; so the
coordinator knows facts, not hopes. The rule that keeps a service on one node (S1): a start is commanded
only for a record without an owner, and a record loses its owner only when that owner reported the stop,
or left the view and its fence is confirmed (the fencing layer answers `safely_gone`).

Decisions, in order, every time something changes:
1. An owner that left the view: once it is safely gone, its services become stopped (R-32), else they wait.
2. A stopped, enabled, unfrozen service is started on the best node its failover domain allows (R-40..R-45);
   `autostart="0"` makes a never-touched service disabled (R-31); a service added while the cluster runs
   stays stopped until enabled (R-92).
3. A started service whose domain now prefers another online node moves there (failback, R-42).
4. Reports: a failed start is stopped and tried elsewhere (R-54); a failed status check follows the
   service's recovery policy (R-53); a failed stop makes the service `failed` and its node a fencing victim:
   its resources may still be held, so the only safe way on is to power it off.
Administrator requests (clusvcadm) are checked against rgmanager's advise tables (5.3) and answered with the
original's result strings once the operation completed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from msgspec.structs import astuple

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.messages import (
    Message,
    SvcCommand,
    SvcInventory,
    SvcRecord,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
    ViewId,
)
from quorate.core.placement import BEST, GOOD, ServiceSpec, best_target, can_run, score

TABLE_PERIOD = 5.0


class St(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    FAILED = "failed"
    DISABLED = "disabled"
    RECOVERING = "recovering"
    UNINITIALIZED = "uninitialized"


RUNNING = {St.STARTING, St.STARTED, St.STOPPING}


@dataclass(frozen=True, slots=True)
class StartLocal:
    service: str
    cmd: int


@dataclass(frozen=True, slots=True)
class StopLocal:
    service: str
    cmd: int


@dataclass(frozen=True, slots=True)
class FenceForService:
    """A stop failed: the owner may still hold the service's resources, so it must be fenced."""

    nodeid: int
    reason: str


@dataclass(frozen=True, slots=True)
class RequestDone:
    """Answer to a request typed on this node (clusvcadm waits for it)."""

    req: int
    ok: bool
    result: str
    owner: int


SvcEffect = StartLocal | StopLocal | FenceForService | RequestDone | Send | Log


@dataclass(slots=True)
class Record:
    name: str
    state: St = St.STOPPED
    owner: int = 0
    last_owner: int = 0
    restarts: int = 0
    frozen: bool = False
    touched: bool = False
    enabled: bool = True
    reason: str = ""
    # coordinator-only bookkeeping
    cmd: int = 0  # command in flight (0: none)
    cmd_node: int = 0
    then: str = ""  # after the stop in flight: "stopped", "disabled", "relocate", "restart", "recover"
    target: int = 0  # preferred node for the start that follows
    excluded: set[int] = field(default_factory=set)  # nodes where a start failed in this round
    restart_times: list[float] = field(default_factory=list)
    waiting_fence_logged: bool = False
    held: bool = False  # `clusvcadm -s`: stay stopped until the next membership change
    requests: list[tuple[int, int]] = field(default_factory=list)  # (origin node, req id) to answer
    stray_stops: set[int] = field(default_factory=set)  # nodes told to stop a copy they do not own
    version: int = 0
    fence_asked: bool = False

    def message(self) -> SvcRecord:
        return SvcRecord(
            self.name,
            self.state.value,
            self.owner,
            self.last_owner,
            self.restarts,
            self.frozen,
            self.touched,
            self.enabled,
            self.reason,
            self.version,
        )


class ServiceManager:
    def __init__(
        self,
        specs: dict[str, ServiceSpec],
        node_names: dict[int, str],
        local_id: int,
        *,
        initial: bool = True,
    ) -> None:
        self.specs = specs
        self.names = node_names
        self.local_id = local_id
        self.records: dict[str, Record] = {name: Record(name, enabled=spec.autostart) for name, spec in specs.items()}
        self.acting = False
        self.members: frozenset[int] = frozenset()
        self.view: ViewId = ViewId(0, 0)
        self.coordinator = 0
        self.inventories: dict[int, dict[str, str]] = {}
        self._inventory_seqs: dict[int, int] = {}  # per member: the newest inventory heard in this view
        self._inventory_seq = 0
        self.local_running: dict[str, str] = {}
        self.safely_gone: Callable[[int], bool] = lambda _node: False
        self._next_cmd = 1
        self._next_req = 1
        self._pending_requests: dict[int, str] = {}
        self._effects: list[SvcEffect] = []
        self._last_table = -1e18
        self._last_eval = -1e18
        self._adopting = False
        self._failback = False  # failback is considered when nodes join, not at every event
        self._new_runs: set[int] = set()
        self._version_counter = 0
        self._published: dict[str, SvcRecord] = {}

    # ------------------------------------------------------------------------------------------ inputs

    def on_view(self, now: float, installed: ViewInstalled, *, coordinator: bool) -> None:
        was_acting = self.acting
        self.members = installed.members if installed.quorate else frozenset()
        self.view = installed.view
        self.coordinator = installed.view.coord
        self.acting = coordinator and installed.quorate
        self.inventories = {self.local_id: dict(self.local_running)} if self.acting else {}
        self._inventory_seqs = {}
        for record in self.records.values():
            record.held = False
            record.excluded.clear()
            if record.cmd and (record.cmd_node in installed.joined or record.cmd_node not in installed.members):
                # Its addressee restarted (a new run that claims nothing) or left: the command will never be
                # answered. The facts decide from here: the new run's inventory, or the fence of the old one.
                record.cmd = 0
        if installed.joined - {self.local_id}:
            self._failback = True
        # A node that joins is a new run: what its inventory lacks, it does not run (it stopped all at start).
        self._new_runs |= set(installed.joined - {self.local_id})
        self._version_counter = 0
        if not self.acting:
            self._new_runs.clear()
        if self.acting and not was_acting:
            self._adopting = True
            self._log("coordinating services: waiting for every member's inventory before deciding")
        if not self.acting and self.coordinator != self.local_id and installed.quorate:
            self._send_inventory()
        self._evaluate(now)

    def reconfigure(self, now: float, specs: dict[str, ServiceSpec]) -> None:
        """A new cluster.conf is active (R-90..R-92): placement settings change in place; a removed service is
        forgotten (each executor stops its own copy); an added one stays stopped, even with autostart, until
        `clusvcadm -e` or the next membership change, as the article saw after `ccs_tool update` (R-92)."""
        added = [name for name in specs if name not in self.specs]
        removed = [name for name in self.specs if name not in specs]
        self.specs = specs
        for name in removed:
            self.records.pop(name, None)
            self._published.pop(name, None)
        for name in added:
            self.records[name] = Record(
                name,
                enabled=specs[name].autostart,
                held=True,
                reason="added by a configuration change: stopped until `clusvcadm -e` or a membership change",
            )
        if added or removed:
            self._log(
                "configuration change: "
                + ", ".join(
                    [f"service:{n} added (stays stopped)" for n in added] + [f"service:{n} removed" for n in removed]
                )
            )
        self._evaluate(now)

    def on_quorum_lost(self, now: float, reason: str) -> None:
        """Quorum gone or evicted: stop deciding; the shell stops every local service at once (R-33)."""
        self.acting = False
        self.members = frozenset()
        self.inventories = {}
        self._log(f"stopping every local service: {reason}", "warning")

    def local_state(self, now: float, running: dict[str, str]) -> None:
        """The executor's facts: services in a non-stopped state on this node."""
        self.local_running = dict(running)
        if self.acting:
            self.inventories[self.local_id] = dict(running)
            self._evaluate(now)
        elif self.members:
            self._send_inventory()

    def executor_report(self, now: float, service: str, cmd: int, outcome: str, detail: str) -> None:
        """The local executor finished a command (or a status check failed: cmd 0, outcome status_failed)."""
        if self.acting:
            self._on_report(now, self.local_id, SvcReport(service, cmd, outcome, detail))
            self._evaluate(now)
        elif self.coordinator and self.members:
            self._effects.append(Send((self.coordinator,), SvcReport(service, cmd, outcome, detail)))

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, SvcTable):
            if not self.acting and sender == self.coordinator:
                self._adopt_table(message)
                if self.members:
                    self._send_inventory()  # an inventory lost on the way is replaced at every table
        elif isinstance(message, SvcCommand):
            if sender == self.coordinator and self.members:
                effect = StartLocal if message.action == "start" else StopLocal
                self._effects.append(effect(message.service, message.cmd))
        elif isinstance(message, SvcReport):
            if self.acting:
                self._on_report(now, sender, message)
        elif isinstance(message, SvcInventory):
            newest = message.seq > self._inventory_seqs.get(sender, 0) or not message.seq
            if self.acting and message.view == self.view and sender in self.members and newest:
                self._inventory_seqs[sender] = message.seq
                self.inventories[sender] = dict(message.running)
                if self._adopting:
                    self._merge(message.table)
        elif isinstance(message, SvcRequest):
            if self.acting:
                self._admin(now, message.op, message.service, message.target, (sender, message.req))
            else:
                self._effects.append(Send((sender,), SvcReply(message.req, False, "Temporary failure; try again")))
        elif isinstance(message, SvcReply):
            if message.req in self._pending_requests:
                del self._pending_requests[message.req]
                self._effects.append(RequestDone(message.req, message.ok, message.result, message.owner))
        self._evaluate(now)

    def request(self, now: float, op: str, service: str, target: int = 0) -> int:
        """A clusvcadm request typed here; the answer comes later as `RequestDone(req, ...)`."""
        req = self._next_req
        self._next_req += 1
        if not self.members:
            self._effects.append(RequestDone(req, False, "Operation requires quorum", 0))
        elif self.acting:
            self._admin(now, op, service, target, (self.local_id, req))
            self._evaluate(now)
        else:
            self._pending_requests[req] = service
            self._effects.append(Send((self.coordinator,), SvcRequest(req, op, service, target)))
        return req

    def tick(self, now: float) -> None:
        self._evaluate(now)

    # ----------------------------------------------------------------------------------------- outputs

    def take_effects(self) -> list[SvcEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        if self.acting:
            t = self._last_table + TABLE_PERIOD
            return t if t > self._last_eval else None
        return None

    def table(self) -> list[SvcRecord]:
        return [self.records[name].message() for name in sorted(self.records)]

    # ---------------------------------------------------------------------------------- coordinator

    def _ready(self) -> bool:
        return self.acting and set(self.inventories) >= set(self.members)

    def _evaluate(self, now: float) -> None:
        self._last_eval = now
        if not self._ready():
            return
        before = self._published
        self._reconcile(now)
        for name in sorted(self.records):
            self._decide(now, self.records[name])
        self._failback = False
        changed = False
        for name, record in self.records.items():
            previous = before.get(name)
            if previous is None or astuple(record.message())[:-1] != astuple(previous)[:-1]:
                changed = True
                self._version_counter += 1
                record.version = self.view.seq * 100000 + self._version_counter
        self._published = {name: r.message() for name, r in self.records.items()}
        if changed or now >= self._last_table + TABLE_PERIOD:
            self._send_table(now)

    def _running_map(self) -> dict[int, frozenset[str]]:
        out: dict[int, set[str]] = {}
        for record in self.records.values():
            if record.owner and record.state in RUNNING:
                out.setdefault(record.owner, set()).add(record.name)
        return {n: frozenset(s) for n, s in out.items()}

    def _exclusive(self) -> frozenset[str]:
        return frozenset(n for n, s in self.specs.items() if s.exclusive)

    def _reconcile(self, now: float) -> None:
        """Make the table agree with what executors report (after a coordinator change, or lost datagrams).

        Only facts move a record: a service an executor runs gets that owner (when the table has none, right
        after this node took over); a start or stop whose command was lost with the old coordinator is settled
        by the owner's inventory for this view (which the owner sends only after it stopped obeying the old
        coordinator); a copy on a node that does not own it is stopped. Absence alone never frees a started
        service, except right after a take-over, when the inventories are known to be current.
        """
        adopting = self._adopting
        self._adopting = False
        # A node that joined as a new run stops everything before it runs anything: once its inventory
        # shows no stop in progress, what it lacks it does not run. It stays a new run until then.
        new_runs = set(self._new_runs)
        self._new_runs = {
            n for n in new_runs if any(state == "stopping" for state in self.inventories.get(n, {}).values())
        }
        for record in self.records.values():
            if record.cmd:
                continue
            holders = {n: inv[record.name] for n, inv in self.inventories.items() if record.name in inv}
            owner_live = record.owner in self.members
            if record.owner and owner_live:
                there = holders.get(record.owner)
                transitional = record.state in (St.STARTING, St.STOPPING)
                if there == "started" and record.state is not St.STARTED:
                    record.state, record.reason = St.STARTED, f"running on {self._name(record.owner)}"
                elif there == "stopping" and record.state is St.STARTED:
                    # Stopped by its executor on its own (quorum was lost there): absence will then be a fact.
                    record.state, record.reason = St.STOPPING, f"being stopped on {self._name(record.owner)}"
                elif there == "failed" and not self.safely_gone(record.owner):
                    # (Once its fence is confirmed the node is off: its last inventory is no longer a fact.)
                    record.state = St.FAILED
                    record.reason = f"a stop failed on {self._name(record.owner)}"
                    self._effects.append(FenceForService(record.owner, f"service:{record.name} failed to stop on it"))
                elif there is None and (
                    transitional
                    or (adopting and record.state in (St.STARTED, St.FAILED))
                    or (
                        record.owner in new_runs
                        and record.owner not in self._new_runs
                        and record.state in (St.STARTED, St.FAILED)
                    )
                ):
                    record.last_owner, record.owner, record.state = record.owner, 0, St.STOPPED
                    record.reason = f"not running on {self._name(record.last_owner)} (its executor says so)"
                    self._log(f"service:{record.name}: {record.reason}")
            elif record.owner == 0 and adopting and len(holders) == 1 and record.state is not St.DISABLED:
                ((node, state),) = holders.items()
                if state in ("started", "starting"):
                    record.owner, record.state = node, St.STARTED if state == "started" else St.STARTING
                    record.reason = f"found running on {self._name(node)} by its executor"
                    self._log(f"service:{record.name} is running on {self._name(node)}: recorded as its owner")
            record.stray_stops &= set(holders)
            for stray in sorted(set(holders) - {record.owner} - record.stray_stops):
                if stray in self.members and holders[stray] not in ("stopping", "failed"):
                    record.stray_stops.add(stray)
                    self._log(
                        f"service:{record.name} also runs on {self._name(stray)}, which does not own it: stopping it",
                        "warning",
                    )
                    self._command(stray, record, "stop", then="keep")

    def _decide(self, now: float, record: Record) -> None:
        spec = self.specs[record.name]
        online = self.members
        if record.owner and record.owner not in online:
            if not self.safely_gone(record.owner):
                if not record.fence_asked and record.state is not St.DISABLED:
                    # Its owner is out of the view and nobody knows that it stopped: only a fence makes it safe.
                    record.fence_asked = True
                    self._effects.append(
                        FenceForService(record.owner, f"it owns service:{record.name} but is not in the view")
                    )
                if not record.waiting_fence_logged:
                    record.waiting_fence_logged = True
                    record.reason = f"waiting for {self._name(record.owner)} to be fenced before recovery"
                    self._log(f"service:{record.name}: {record.reason}")
                return
            gone = record.owner
            record.last_owner, record.owner, record.cmd = gone, 0, 0
            record.waiting_fence_logged = False
            record.fence_asked = False
            if record.state in RUNNING or record.state is St.FAILED:
                record.state = St.STOPPED
            record.reason = f"{self._name(gone)} failed and is fenced: recovering"
            self._log(f"service:{record.name}: {record.reason}")
        if record.cmd or record.frozen:
            return
        if record.state is St.STOPPED and not record.held:
            if not record.touched and not spec.autostart and not record.enabled:
                record.state, record.reason = St.DISABLED, "autostart is off"
                return
            if not record.enabled:
                if not record.reason:
                    record.reason = "added while the cluster ran: enable it with clusvcadm -e"
                return
            self._place(now, record, spec, minimum=BEST)
        elif record.state is St.STARTED and record.owner and self._failback:
            target, _ = best_target(
                spec,
                online,
                services_on=self._running_map(),
                exclusive_services=self._exclusive(),
                running_on=record.owner,
            )
            if target and target != record.owner:
                if score(spec, target, online, running_on=record.owner) > score(
                    spec, record.owner, online, running_on=record.owner
                ):
                    record.reason = f"relocating to better node {self._name(target)}"
                    self._log(f"service:{record.name}: {record.reason}")
                    record.target = target
                    self._command(record.owner, record, "stop", then="relocate")

    def _place(self, now: float, record: Record, spec: ServiceSpec, *, minimum: int) -> None:
        online = self.members
        busy = sorted(n for n, inv in self.inventories.items() if record.name in inv)
        if busy:
            # S1 on facts: an executor still holds it (stopping after a quorum loss, say): wait until it is done.
            why = f"waiting for {', '.join(self._name(n) for n in busy)} to finish stopping it"
            if record.reason != why:
                record.reason = why
                self._log(f"service:{record.name}: {why}")
            return
        services_on = self._running_map()
        target = record.target if record.target in online and record.target not in record.excluded else 0
        if target and can_run(spec, target, online, services_on=services_on, exclusive_services=self._exclusive()):
            target = 0
        why = "requested node"
        if not target:
            found, why = best_target(
                spec,
                online,
                exclude=frozenset(record.excluded),
                services_on=services_on,
                exclusive_services=self._exclusive(),
                minimum=minimum if not record.excluded else GOOD,
            )
            if found is None:
                if record.reason != why:
                    record.reason = why
                    self._log(f"service:{record.name} stays stopped: {why}")
                record.excluded.clear()
                record.target = 0
                self._finish_requests(record, False, "Failure")
                return
            target = found
        record.target = 0
        record.owner, record.state, record.touched = target, St.STARTING, True
        record.reason = f"starting on {self._name(target)} ({why})"
        self._log(f"service:{record.name}: {record.reason}")
        self._command(target, record, "start", then="")

    def _command(self, node: int, record: Record, action: str, *, then: str) -> None:
        cmd = self._next_cmd
        self._next_cmd += 1
        if then != "keep":
            record.cmd, record.cmd_node, record.then = cmd, node, then
            if action == "stop":
                record.state = St.STOPPING
        if node == self.local_id:
            self._effects.append((StartLocal if action == "start" else StopLocal)(record.name, cmd))
        else:
            self._effects.append(Send((node,), SvcCommand(record.name, action, cmd)))

    def _on_report(self, now: float, sender: int, report: SvcReport) -> None:
        record = self.records.get(report.service)
        if record is None:
            return
        spec = self.specs[record.name]
        name = self._name(sender)
        if report.outcome == "status_failed":
            if record.owner == sender and record.state is St.STARTED and not record.cmd:
                self._recover(now, record, spec, report.detail)
            return
        if report.cmd != record.cmd or sender != record.cmd_node:
            return  # a stale report, or a stop of a stray copy
        record.cmd = 0
        if report.outcome == "started":
            record.state, record.reason = St.STARTED, f"started on {name}"
            record.excluded.clear()
            self._log(f"service:{record.name} started on {name}")
            self._finish_requests(record, True, "Success")
        elif report.outcome == "start_failed":
            record.reason = f"start on {name} failed: {report.detail}"
            self._log(f"service:{record.name}: {record.reason}; stopping it there, then trying another node", "warning")
            record.excluded.add(sender)
            self._command(sender, record, "stop", then="recover")
        elif report.outcome == "stopped":
            then = record.then
            record.last_owner, record.owner = record.owner, 0
            record.state = St.DISABLED if then == "disabled" else St.STOPPED
            record.reason = f"stopped on {name}"
            self._log(f"service:{record.name} stopped on {name}")
            if then in ("disabled", "stopped"):
                record.held = then == "stopped"
                self._finish_requests(record, True, "Success")
            elif then == "restart":
                record.target = record.last_owner
            elif then == "relocate" and not record.target:
                record.excluded.add(record.last_owner)
        elif report.outcome == "stop_failed":
            record.state, record.reason = St.FAILED, f"stop on {name} failed: {report.detail}"
            self._log(f"service:{record.name}: {record.reason}; fencing {name}", "warning")
            self._effects.append(FenceForService(sender, f"service:{record.name} failed to stop on it"))
            self._finish_requests(record, False, "Aborted; service failed")

    def _recover(self, now: float, record: Record, spec: ServiceSpec, detail: str) -> None:
        owner = record.owner
        record.reason = f"status check failed on {self._name(owner)}: {detail}"
        self._log(f"service:{record.name}: {record.reason}; recovery policy {spec.recovery}", "warning")
        if spec.recovery == "disable":
            self._command(owner, record, "stop", then="disabled")
            return
        if spec.recovery == "relocate":
            record.excluded.add(owner)
            self._command(owner, record, "stop", then="relocate")
            return
        window = spec.restart_expire_time
        record.restart_times = [t for t in record.restart_times if not window or now - t <= window]
        if spec.max_restarts and len(record.restart_times) >= spec.max_restarts:
            record.restart_times.clear()
            if spec.recovery == "restart-disable":
                self._command(owner, record, "stop", then="disabled")
            else:
                record.excluded.add(owner)
                self._command(owner, record, "stop", then="relocate")
            return
        record.restart_times.append(now)
        record.restarts += 1
        self._command(owner, record, "stop", then="restart")

    # ----------------------------------------------------------------------------------- requests

    def _admin(self, now: float, op: str, service: str, target: int, origin: tuple[int, int]) -> None:
        record = self.records.get(service)
        if record is None:
            self._answer(origin, False, "Service does not exist", 0)
            return
        spec = self.specs[service]
        if op == "freeze":
            record.frozen, record.reason = True, "frozen by the administrator"
            self._answer(origin, True, "Success", record.owner)
            return
        if op == "unfreeze":
            record.frozen, record.reason = False, ""
            self._answer(origin, True, "Success", record.owner)
            return
        if record.frozen:
            self._answer(origin, False, "Failure: Service is frozen", record.owner)
            return
        if record.cmd:
            self._answer(origin, False, "Temporary failure; try again", record.owner)
            return
        if op == "enable":
            if record.state is St.FAILED:
                self._answer(origin, False, "Failure", record.owner)
                return
            if record.state in RUNNING:
                self._answer(origin, True, "Service is already running", record.owner)
                return
            node = target or origin[0]
            refusal = can_run(
                spec, node, self.members, services_on=self._running_map(), exclusive_services=self._exclusive()
            )
            if refusal:
                self._answer(origin, False, refusal, 0)
                return
            record.enabled, record.held, record.target = True, False, node
            record.state = St.STOPPED
            record.requests.append(origin)
            self._place(now, record, spec, minimum=GOOD)
        elif op in ("disable", "stop"):
            then = "disabled" if op == "disable" else "stopped"
            if op == "disable":
                record.enabled = False
            if record.state in RUNNING and record.owner:
                record.requests.append(origin)
                self._command(record.owner, record, "stop", then=then)
            else:
                record.state = St.DISABLED if op == "disable" else record.state
                record.held = op == "stop"
                self._answer(origin, True, "Success", 0)
        elif op == "relocate":
            if record.state in (St.DISABLED, St.UNINITIALIZED, St.FAILED):
                self._answer(origin, False, "Invalid operation for resource", 0)
                return
            if target:
                refusal = can_run(
                    spec, target, self.members, services_on=self._running_map(), exclusive_services=self._exclusive()
                )
                if refusal:
                    self._answer(origin, False, refusal, record.owner)
                    return
            record.requests.append(origin)
            if record.state in RUNNING and record.owner:
                record.target = target
                if not target:
                    record.excluded.add(record.owner)
                self._command(record.owner, record, "stop", then="relocate")
            else:
                record.target = target
                self._place(now, record, spec, minimum=GOOD)
        elif op == "restart":
            if record.state not in RUNNING or not record.owner:
                self._answer(origin, False, "Invalid operation for resource", 0)
                return
            record.requests.append(origin)
            self._command(record.owner, record, "stop", then="restart")
        else:
            self._answer(origin, False, f"unknown operation {op}", 0)

    def _finish_requests(self, record: Record, ok: bool, result: str) -> None:
        for origin in record.requests:
            self._answer(origin, ok, result, record.owner if ok else 0)
        record.requests.clear()

    def _answer(self, origin: tuple[int, int], ok: bool, result: str, owner: int) -> None:
        node, req = origin
        if node == self.local_id:
            self._effects.append(RequestDone(req, ok, result, owner))
        else:
            self._effects.append(Send((node,), SvcReply(req, ok, result, owner)))

    # --------------------------------------------------------------------------------- replication

    def _send_table(self, now: float) -> None:
        self._last_table = now
        others = tuple(sorted(self.members - {self.local_id}))
        if others:
            self._effects.append(Send(others, SvcTable(tuple(self.table()))))

    def _merge(self, table: tuple[SvcRecord, ...]) -> None:
        """A new coordinator takes, record by record, the newest state any member knew (then reconciles)."""
        newer = [rec for rec in table if rec.name in self.records and rec.version > self.records[rec.name].version]
        if newer:
            self._adopt_table(SvcTable(tuple(newer)))

    def _adopt_table(self, table: SvcTable) -> None:
        for rec in table.records:
            record = self.records.get(rec.name)
            if record is None:
                continue
            record.state = St(rec.state) if rec.state in St._value2member_map_ else St.STOPPED
            record.owner, record.last_owner, record.restarts = rec.owner, rec.last_owner, rec.restarts
            record.frozen, record.touched, record.enabled, record.reason = (
                rec.frozen,
                rec.touched,
                rec.enabled,
                rec.reason,
            )
            record.cmd = 0
            record.version = rec.version

    def _send_inventory(self) -> None:
        if self.coordinator and self.coordinator != self.local_id:
            running = tuple(sorted(self.local_running.items()))
            self._inventory_seq += 1
            inventory = SvcInventory(self.view, running, tuple(self.table()), self._inventory_seq)
            self._effects.append(Send((self.coordinator,), inventory))

    def _name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))
