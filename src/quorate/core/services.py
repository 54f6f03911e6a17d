"""The resource manager (what rgmanager did): where each service runs, and how it moves.

Theory of operation
-------------------
One node decides: the coordinator of a quorate view (S2). It holds the service records (state, owner, last
owner, restarts, frozen) and replicates them to every member after each change, so any node can answer
`clustat` and a new coordinator starts from the last table. Before a new coordinator decides anything it
waits for every member's inventory (what its executor really runs), merges the members' versioned records
and reconciles the table with the inventories.

Each node's executor starts and stops only what the coordinator commands, and reports what happened; so the
coordinator knows facts, not hopes. The rule that keeps a service on one node (S1): a start is commanded
only for a record without an owner, while no member's executor holds the service, and a record loses its
owner only when that owner reported the stop, or left the view and is safely gone.

"Safely gone" is a question this manager asks the fencing layer (`safely_gone`, a constructor argument): it
means the node's fence was confirmed, or it left the cluster cleanly. It must never mean "no fence is
pending": a coordinator that took over does not know failures older than itself, so for it an owner outside
the view with no fence pending may still run the service, and only a confirmed fence (which it asks for)
makes taking the service over safe. The default answers "never", which keeps such services where they are.

`ServiceManager` is the entry point: events in (views, executor facts and reports, messages, requests,
ticks, each with `now`), effects out (`take_effects`). The work is split by responsibility:
- `service_vocabulary`: the typed words (states, follow-ups, actions, outcomes, requests, answers);
- `service_records`: records, effects, and the ledger every part shares (the manager is that ledger);
- `service_decisions`: evaluation, placement, failover and failback, reports and recovery policies;
- `service_admin`: clusvcadm's requests against rgmanager's advise tables, and their answers;
- `service_replication`: the table sent to members, inventories, and a new coordinator's merge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from quorate.core import service_admin, service_decisions, service_replication
from quorate.core.effects import Send, ViewInstalled
from quorate.core.messages import (
    Message,
    SvcCommand,
    SvcInventory,
    SvcRecord,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
)
from quorate.core.placement import ServiceSpec
from quorate.core.service_records import (
    FenceForService,
    Record,
    RequestDone,
    ServiceLedger,
    StartLocal,
    StopLocal,
    SvcEffect,
    gone_by_fence,
    never_gone,
    no_features,
)
from quorate.core.service_replication import TABLE_PERIOD
from quorate.core.service_vocabulary import RUNNING, Action, AdminOp, Answer, FollowUp, Outcome, St

_ADMIN_OPS = frozenset(AdminOp)
_STATES: dict[str, St] = {state.value: state for state in St}

__all__ = [
    "RUNNING",
    "TABLE_PERIOD",
    "Action",
    "AdminOp",
    "Answer",
    "FenceForService",
    "FollowUp",
    "Outcome",
    "Record",
    "RequestDone",
    "ServiceManager",
    "St",
    "StartLocal",
    "StopLocal",
    "SvcEffect",
]


class ServiceManager(ServiceLedger):
    """One node's resource manager. Attributes read by the shell and the simulators (`records`, `acting`,
    `members`, `coordinator`, `specs`, `safely_gone`, ...) are the ledger's (`service_records`)."""

    def __init__(
        self,
        specs: dict[str, ServiceSpec],
        node_names: dict[int, str],
        local_id: int,
        *,
        initial: bool = True,
        safely_gone: Callable[[int], bool] = never_gone,
        gone_how: Callable[[int], str] = gone_by_fence,
        shared_features: Callable[[frozenset[int]], frozenset[str]] = no_features,
        unfenced: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        """``shared_features``: the optional features every one of the given members announced (table deltas
        are used only when all share them); the default, none, keeps whole tables."""
        super().__init__(specs, node_names, local_id, safely_gone=safely_gone, shared_features=shared_features,
                         gone_how=gone_how, unfenced=unfenced)
        self._next_req = 1
        self._pending_requests: dict[int, str] = {}

    # ------------------------------------------------------------------------------------------ inputs

    def on_view(self, now: float, installed: ViewInstalled, *, coordinator: bool) -> None:
        was_acting = self.acting
        service_replication.new_view(self)
        self.members = installed.members if installed.quorate else frozenset()
        self.view = installed.view
        self.coordinator = installed.view.coord
        self.acting = coordinator and installed.quorate
        self.reset_inventories({self.local_id: dict(self.local_running)} if self.acting else {})
        self.inventory_seqs = {}
        self.inventory_parts = {}
        for record in self.records.values():
            record.held = False
            record.excluded.clear()
            record.failed_starts.clear()
            if record.cmd and (record.cmd_node in installed.joined or record.cmd_node not in installed.members):
                # Its addressee restarted (a new run that claims nothing) or left: the command will never be
                # answered. The facts decide from here: the new run's inventory, or the fence of the old one.
                record.cmd = 0
        if installed.joined - {self.local_id}:
            self.failback_due = True
        # A node that joins is a new run: what its inventory lacks, it does not run (it stopped all at start).
        self.new_runs |= set(installed.joined - {self.local_id})
        self.version_counter = 0
        if not self.acting:
            self.new_runs.clear()
        if self.acting and not was_acting:
            self.adopting = True
            # Commands this node gave in an earlier period of coordinating are facts of a past view: no report
            # may ever come (their node may have restarted meanwhile), so this view's inventories settle them.
            for record in self.records.values():
                record.cmd = 0
            self.log("coordinating services: waiting for every member's inventory before deciding")
        if not self.acting and self.coordinator != self.local_id and installed.quorate:
            service_replication.send_inventory(self, now)
        elif self.acting:
            self.inventory_due = False
        service_decisions.evaluate(self, now)

    def reconfigure(self, now: float, specs: dict[str, ServiceSpec]) -> None:
        """A new cluster.conf is active (R-90..R-92): placement settings change in place; a removed service is
        forgotten (each executor stops its own copy); an added one stays stopped, even with autostart, until
        `clusvcadm -e` or the next membership change, as the article saw after `ccs_tool update` (R-92)."""
        added = [name for name in specs if name not in self.specs]
        removed = [name for name in self.specs if name not in specs]
        self.specs = specs
        self.evaluate_all = True
        for name in removed:
            self.records.pop(name, None)
            self.published.pop(name, None)
        for name in added:
            self.records[name] = Record(
                name,
                enabled=specs[name].autostart,
                held=True,
                reason="added by a configuration change: stopped until `clusvcadm -e` or a membership change",
            )
        if added or removed:
            self.log(
                "configuration change: "
                + ", ".join(
                    [f"service:{n} added (stays stopped)" for n in added] + [f"service:{n} removed" for n in removed]
                )
            )
        service_decisions.evaluate(self, now)

    def on_quorum_lost(self, now: float, reason: str) -> None:
        """Quorum gone or evicted: stop deciding; the shell stops every local service at once (R-33)."""
        self.acting = False
        self.members = frozenset()
        self.reset_inventories({})
        self.log(f"stopping every local service: {reason}", "warning")

    def local_state(self, now: float, running: Mapping[str, str]) -> None:
        """The executor's facts: services in a non-stopped state on this node (starting, started, stopping,
        failed)."""
        # The executor reports its whole list at every change (a node's start-up stops M services one by one):
        # a lookup per entry instead of an enum call keeps that list cheap to take.
        self.local_running = {name: _STATES.get(state) or St(state) for name, state in running.items()}
        if self.acting:
            self.set_inventory(self.local_id, dict(self.local_running))
            service_decisions.evaluate(self, now)
        elif self.members:
            service_replication.facts_changed(self, now)

    def executor_report(self, now: float, service: str, cmd: int, outcome: str, detail: str) -> None:
        """The local executor finished a command (or a status check failed: cmd 0, outcome status_failed).

        `outcome` is an `Outcome` or its string; any other string raises ValueError."""
        report = SvcReport(service, cmd, Outcome(outcome), detail)
        if self.acting:
            service_decisions.on_report(self, now, self.local_id, report)
            service_decisions.evaluate(self, now)
        elif self.coordinator and self.members:
            self.effects.append(Send((self.coordinator,), report))

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, SvcTable):
            if not self.acting and sender == self.coordinator:
                service_replication.receive_table(self, now, message)
        elif isinstance(message, SvcCommand):
            if sender == self.coordinator and self.members:
                effect = StartLocal if Action(message.action) is Action.START else StopLocal
                self.effects.append(effect(message.service, message.cmd))
        elif isinstance(message, SvcReport):
            if self.acting:
                service_decisions.on_report(self, now, sender, message)
        elif isinstance(message, SvcInventory):
            if self.acting and message.view == self.view and sender in self.members:
                if message.gap:
                    self.resync.add(sender)  # it missed part of a delta: the whole table goes to it
                taken = service_replication.take_inventory(self, sender, message)
                if taken is None:
                    pass  # a newer one arrived first, or parts of this one are still to come
                elif self.adopting:
                    service_replication.merge(self, taken.table)
                else:
                    service_decisions.on_inventory(self, sender, taken)
        elif isinstance(message, SvcRequest):
            if self.acting:
                op = AdminOp(message.op)
                self.evaluate_all = True
                service_admin.handle(self, now, op, message.service, message.target, (sender, message.req))
            else:
                self.effects.append(Send((sender,), SvcReply(message.req, False, Answer.TRY_AGAIN)))
        elif isinstance(message, SvcReply):
            if message.req in self._pending_requests:
                del self._pending_requests[message.req]
                self.effects.append(RequestDone(message.req, message.ok, message.result, message.owner))
        service_decisions.evaluate(self, now)

    def request(self, now: float, op: str, service: str, target: int = 0) -> int:
        """A clusvcadm request typed here (an `AdminOp` or its string); the answer comes later as
        `RequestDone(req, ...)`. An operation quorate does not know is answered at once, here."""
        req = self._next_req
        self._next_req += 1
        if not self.members:
            self.effects.append(RequestDone(req, False, Answer.NEEDS_QUORUM, 0))
        elif op not in _ADMIN_OPS:
            self.effects.append(RequestDone(req, False, f"unknown operation {op}", 0))
        elif self.acting:
            self.evaluate_all = True
            service_admin.handle(self, now, AdminOp(op), service, target, (self.local_id, req))
            service_decisions.evaluate(self, now)
        else:
            self._pending_requests[req] = service
            self.effects.append(Send((self.coordinator,), SvcRequest(req, AdminOp(op), service, target)))
        return req

    def tick(self, now: float) -> None:
        service_replication.send_due_inventory(self, now)
        service_decisions.evaluate(self, now)

    # ----------------------------------------------------------------------------------------- outputs

    def take_effects(self) -> list[SvcEffect]:
        effects, self.effects = self.effects, []
        return effects

    def next_deadline(self) -> float | None:
        if self.acting:
            t = self.last_table + TABLE_PERIOD
            return t if t > self.last_eval else None
        return service_replication.inventory_deadline(self)

    def table(self) -> list[SvcRecord]:
        return service_replication.table(self)
