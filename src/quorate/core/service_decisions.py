"""The coordinator's decisions: where each service runs, how it moves, and what executors' reports change.

Theory of operation
-------------------
One node decides: the coordinator of a quorate view (S2). It decides only once it holds every member's
inventory for the current view (what each executor really runs), so that it decides on facts, not hopes.
Each evaluation then takes three steps, the same every time something changes (a view, a report, a request,
a tick):

1. Reconcile the records with the inventories: a service an executor runs gets that owner when the table has
   none (right after a take-over), a start or stop whose command was lost with the old coordinator (or with
   this node's own earlier period of coordinating, before a quorum loss) is settled by the owner's inventory,
   and a copy on a node that does not own it is stopped.
2. Decide, record by record:
   - an owner that left the view keeps its services until it is safely gone (fence confirmed or clean leave;
     see `service_records`); then they become stopped (R-32). Until then a fence is asked for once;
   - a stopped, enabled, unfrozen service is started on the best node its failover domain allows
     (R-40..R-45), never while any member's inventory still holds it (S1 on facts); `autostart="0"` makes a
     never-touched service disabled (R-31); a service added while the cluster runs stays stopped until
     enabled or the next membership change (R-92);
   - a started service whose domain prefers a node that just joined moves there (failback, R-42).
3. Publish the records that changed (`service_replication`).

Reports from executors move records between evaluations: a start that failed is stopped there and tried
elsewhere (R-54); a failed status check follows the service's recovery policy (R-53); a failed stop makes the
service `failed` and its node a fencing victim, because its resources may still be held and powering the node
off is the only safe way on. What follows a stop was written down when it was commanded (`FollowUp`). A member's
inventory can move one too: when its current copy of a record says it runs a service its executor does not (it
stopped it in a non-quorate view this coordinator never saw), the owner is commanded to stop it (`on_inventory`).
A failed service is settled by its owner's fence, or by a new run of the owner that stopped it at start-up.

Which records an evaluation looks at: all of them after a view, a request, a new configuration, a merge of
members' tables, when failback is due or a new run finished its start-up stops. Otherwise (a report, an
inventory, a tick: nearly every event) only the records whose facts changed since the last evaluation (a
report about them, a holder's state in an inventory) and those not at rest (`_at_rest`: anything with a command
in flight, stopped and looking for a node, failed, or owned by a node awaiting its fence). A record at rest is
one the steps above would leave as it is until one of its facts changes, so skipping it decides nothing
differently, and a report about one of M services has the evaluation decide about a few records instead of M
(publishing a change still sends the whole table: `service_replication`). Placement within one
evaluation keeps who runs what up to date as it goes (`placement.Placer`) rather than working it out again for
each service, so placing a failed node's services is linear in M.
"""

from __future__ import annotations

from quorate.core.messages import SvcInventory, SvcReport
from quorate.core.placement import BEST, GOOD, Placer, ServiceSpec
from quorate.core.service_records import FenceForService, Record, ServiceLedger, holders_by_service
from quorate.core.service_replication import publish
from quorate.core.service_vocabulary import RUNNING, Action, Answer, FollowUp, Outcome, St


def ready(ledger: ServiceLedger) -> bool:
    return ledger.acting and set(ledger.inventories) >= set(ledger.members)


def evaluate(ledger: ServiceLedger, now: float) -> None:
    ledger.last_eval = now
    if not ready(ledger):
        return
    full = ledger.evaluate_all or ledger.adopting or ledger.failback_due or _new_runs_settle(ledger)
    if full:
        # Inventories do not change while an evaluation runs (commands are effects, carried out later): index
        # them once, so that each service looks its holders up instead of scanning every member's inventory.
        ledger.held_by = holders_by_service(ledger.inventories)
        names: list[str] = sorted(ledger.records)
    else:
        names = sorted((ledger.touched | ledger.unsettled) & ledger.records.keys())
    ledger.holding = ledger.held_by
    try:
        reconcile(ledger, names)
        for name in names:
            record = ledger.records[name]
            decide(ledger, now, record)
            if ledger.placer is not None:
                # Who runs what, once a placement needed it, is kept current record by record: each placement
                # sees the ones decided before it, as if `running_map` were worked out again for each.
                ledger.placer.moved(name, ledger.running_on(record))
            if _at_rest(ledger, record):
                ledger.unsettled.discard(name)
            else:
                ledger.unsettled.add(name)
    finally:
        ledger.holding = None
        ledger.placer = None
    ledger.failback_due = False
    publish(ledger, now, None if full else set(names))
    ledger.touched.clear()
    ledger.evaluate_all = False


def _new_runs_settle(ledger: ServiceLedger) -> bool:
    """Whether a node that joined as a new run finished its start-up stops (then what it lacks, it does not run:
    every record it owns is looked at again). While none does, the new runs change nothing."""
    return any(St.STOPPING not in ledger.inventories.get(n, {}).values() for n in ledger.new_runs)


def _at_rest(ledger: ServiceLedger, record: Record) -> bool:
    """Whether evaluating ``record`` again would change nothing until one of its facts changes (its holders, a
    report about it, a request, a view): a command in flight to a member (only its report, its node's
    inventory or a view settles it: `reconcile` and `decide` pass over it otherwise); with no command in
    flight, started on a member; disabled; or stopped and either kept stopped (held, not enabled, frozen) or
    waiting for the executors that still hold it.

    Everything else (stopped and waiting for a node, failed, a stop or start decided with no command, owned by
    a node outside the view and waiting for its fence) is looked at by every evaluation, as all records once
    were. Commands in flight at rest keep a burst of M starts linear: each report looks at its own record, not
    at the M - 1 others still starting."""
    if record.requests:
        return False
    if record.cmd:
        return record.cmd_node in ledger.members and (not record.owner or record.owner in ledger.members)
    if record.state is St.STARTED:
        return record.owner in ledger.members
    if record.owner:
        return False
    if record.state is St.DISABLED:
        return True
    return record.state is St.STOPPED and (
        record.held or not record.enabled or record.frozen or record.name in ledger.held_by
    )


def _holders(ledger: ServiceLedger, name: str) -> dict[int, St]:
    """Which members' executors hold service ``name``, and in what state (from the index while evaluating)."""
    if ledger.holding is not None:
        return dict(ledger.holding.get(name, {}))
    return {n: inv[name] for n, inv in ledger.inventories.items() if name in inv}


def reconcile(ledger: ServiceLedger, names: list[str] | None = None) -> None:
    """Make the table agree with what executors report (after a coordinator change, or lost datagrams).

    Only facts move a record: a service an executor runs gets that owner (when the table has none, right
    after this node took over); a start or stop whose command was lost with the old coordinator is settled
    by the owner's inventory for this view (which the owner sends only after it stopped obeying the old
    coordinator); a copy on a node that does not own it is stopped. Absence alone never frees a started
    service, except right after a take-over, when the inventories are known to be current.
    """
    adopting = ledger.adopting
    ledger.adopting = False
    # A node that joined as a new run stops everything before it runs anything: once its inventory shows
    # no stop in progress, what it lacks it does not run. It stays a new run until then.
    new_runs = set(ledger.new_runs)
    ledger.new_runs = {n for n in new_runs if St.STOPPING in ledger.inventories.get(n, {}).values()}
    for record in ledger.records.values() if names is None else (ledger.records[name] for name in names):
        holders = _holders(ledger, record.name)
        if record.cmd:
            if record.state is St.STARTING and holders.get(record.cmd_node) is St.STARTED:
                # The start's report was lost (a datagram, or a member between views): the node's inventory says
                # the same, and it is newer than the command (no executor held the service when it was given).
                _started(ledger, record, record.cmd_node)
            continue
        owner_live = record.owner in ledger.members
        if record.owner and owner_live:
            there = holders.get(record.owner)
            transitional = record.state in (St.STARTING, St.STOPPING)
            if there is St.STARTED and record.state is not St.STARTED:
                record.state, record.reason = St.STARTED, f"running on {ledger.name(record.owner)}"
            elif there is St.STOPPING and record.state is St.STARTED:
                # Stopped by its executor on its own (quorum was lost there): absence will then be a fact.
                record.state, record.reason = St.STOPPING, f"being stopped on {ledger.name(record.owner)}"
            elif there is St.STOPPING and record.state is St.FAILED:
                # A run that failed to stop it never tries again (an emergency stop skips what failed), so this
                # is a new run's start-up stop, the owner's daemon having self-fenced and restarted:
                # the coordinator's own new run included, which `new_runs` never lists. If it succeeds,
                # absence is a fact as above; if it fails, the owner is fenced again.
                record.state = St.STOPPING
                record.reason = f"being stopped again on {ledger.name(record.owner)} after a failed stop"
            elif there is St.FAILED and not ledger.safely_gone(record.owner):
                # (Once its fence is confirmed the node is off: its last inventory is no longer a fact.)
                record.state = St.FAILED
                record.reason = f"a stop failed on {ledger.name(record.owner)}"
                ledger.effects.append(FenceForService(record.owner, f"service:{record.name} failed to stop on it"))
            elif there is None and (
                transitional
                or (adopting and record.state in (St.STARTED, St.FAILED))
                or (
                    record.owner in new_runs
                    and record.owner not in ledger.new_runs
                    and record.state in (St.STARTED, St.FAILED)
                )
            ):
                record.last_owner, record.owner, record.state = record.owner, 0, St.STOPPED
                record.reason = f"not running on {ledger.name(record.last_owner)} (its executor says so)"
                ledger.log(f"service:{record.name}: {record.reason}")
        elif record.owner == 0 and adopting and len(holders) == 1 and record.state is not St.DISABLED:
            ((node, state),) = holders.items()
            if state in (St.STARTED, St.STARTING):
                record.owner, record.state = node, St.STARTED if state is St.STARTED else St.STARTING
                record.reason = f"found running on {ledger.name(node)} by its executor"
                ledger.log(f"service:{record.name} is running on {ledger.name(node)}: recorded as its owner")
        record.stray_stops &= set(holders)
        for stray in sorted(set(holders) - {record.owner} - record.stray_stops):
            if stray in ledger.members and holders[stray] is St.FAILED:
                # A copy its node failed to stop (its stop-before-start, say): its resources may still be held
                # there, so nothing can start it anywhere until that node is fenced, asked once.
                record.stray_stops.add(stray)
                ledger.log(f"service:{record.name} failed to stop on {ledger.name(stray)}: fencing it", "warning")
                ledger.effects.append(FenceForService(stray, f"service:{record.name} failed to stop on it"))
            elif stray in ledger.members and holders[stray] is not St.STOPPING:
                record.stray_stops.add(stray)
                ledger.log(
                    f"service:{record.name} also runs on {ledger.name(stray)}, which does not own it: stopping it",
                    "warning",
                )
                ledger.stop_stray(stray, record)


def decide(ledger: ServiceLedger, now: float, record: Record) -> None:
    spec = ledger.specs[record.name]
    online = ledger.members
    if record.owner and record.owner not in online:
        if not ledger.safely_gone(record.owner):
            if not record.fence_asked and record.state is not St.DISABLED:
                # Its owner is out of the view and nobody knows that it stopped: only a fence makes it safe.
                record.fence_asked = True
                ledger.effects.append(
                    FenceForService(record.owner, f"it owns service:{record.name} but is not in the view")
                )
            if not record.waiting_fence_logged:
                record.waiting_fence_logged = True
                record.reason = f"waiting for {ledger.name(record.owner)} to be fenced before recovery"
                ledger.log(f"service:{record.name}: {record.reason}")
            return
        gone = record.owner
        record.last_owner, record.owner, record.cmd = gone, 0, 0
        record.waiting_fence_logged = False
        record.fence_asked = False
        if record.state in RUNNING or record.state is St.FAILED:
            record.state = St.STOPPED
        record.reason = f"{ledger.name(gone)} {ledger.gone_how(gone)}: recovering"
        ledger.log(f"service:{record.name}: {record.reason}")
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
        place(ledger, now, record, spec, minimum=BEST)
    elif record.state is St.STARTED and record.owner and ledger.failback_due:
        placer = _placer(ledger)
        target, _ = placer.best_target(spec, running_on=record.owner)
        if target and target != record.owner:
            if placer.score(spec, target, running_on=record.owner) > placer.score(
                spec, record.owner, running_on=record.owner
            ):
                record.reason = f"relocating to better node {ledger.name(target)}"
                ledger.log(f"service:{record.name}: {record.reason}")
                record.target = target
                ledger.command(record.owner, record, Action.STOP, then=FollowUp.RELOCATE)


def place(ledger: ServiceLedger, now: float, record: Record, spec: ServiceSpec, *, minimum: int) -> None:
    """Start a stopped record: on its requested node if that is allowed, else on the best one (or nowhere)."""
    online = ledger.members
    busy = sorted(_holders(ledger, record.name))
    if busy:
        # S1 on facts: an executor still holds it (stopping after a quorum loss, say): wait until it is done.
        why = f"waiting for {', '.join(ledger.name(n) for n in busy)} to finish stopping it"
        if record.reason != why:
            record.reason = why
            ledger.log(f"service:{record.name}: {why}")
        return
    outside = sorted(ledger.unfenced() - online)
    if outside:
        # A node that left a view without a clean leave may still run copies that no record and no inventory
        # of this view names (a copy it failed to stop, its daemon gone since): nothing starts until it is off,
        # as rgmanager waited for fenced.
        why = f"waiting for {', '.join(ledger.name(n) for n in outside)} to be fenced before starting anything"
        if record.reason != why:
            record.reason = why
        return
    placer = _placer(ledger)
    target = record.target if record.target in online and record.target not in record.excluded else 0
    if target and placer.can_run(spec, target):
        target = 0
    why = "requested node"
    if not target:
        found, why = placer.best_target(
            spec, exclude=frozenset(record.excluded), minimum=minimum if not record.excluded else GOOD
        )
        if found is None:
            if record.failed_starts:
                # Every node that could take it failed to start it in this round: it stays stopped until
                # an administrator's enable or the next membership change, not retried at every evaluation.
                failed = ", ".join(ledger.name(n) for n in sorted(record.failed_starts))
                why = f"{why}; its start failed on {failed}"
                record.held = True
            if record.reason != why:
                record.reason = why
                ledger.log(f"service:{record.name} stays stopped: {why}")
            record.excluded.clear()
            record.failed_starts.clear()
            record.target = 0
            ledger.finish_requests(record, False, Answer.FAILURE)
            return
        target = found
    record.target = 0
    record.owner, record.state, record.touched = target, St.STARTING, True
    record.reason = f"starting on {ledger.name(target)} ({why})"
    ledger.log(f"service:{record.name}: {record.reason}")
    ledger.command(target, record, Action.START, then=FollowUp.NONE)


def _placer(ledger: ServiceLedger) -> Placer:
    """The evaluation's placer (made when its first placement needs it), or a fresh one between evaluations
    (for an administrator's request)."""
    if ledger.holding is None:
        return ledger.new_placer()
    if ledger.placer is None:
        ledger.placer = ledger.new_placer()
    return ledger.placer


def _started(ledger: ServiceLedger, record: Record, node: int) -> None:
    """The start commanded on ``node`` succeeded."""
    name = ledger.name(node)
    record.cmd = 0
    record.state, record.reason = St.STARTED, f"started on {name}"
    record.excluded.clear()
    record.failed_starts.clear()
    ledger.log(f"service:{record.name} started on {name}")
    ledger.finish_requests(record, True, Answer.SUCCESS)


def on_report(ledger: ServiceLedger, now: float, sender: int, report: SvcReport) -> None:
    """An executor's report: the end of a command, or a failed status check of a running service."""
    record = ledger.records.get(report.service)
    if record is None:
        return
    ledger.touched.add(record.name)
    spec = ledger.specs[record.name]
    name = ledger.name(sender)
    outcome = Outcome(report.outcome)
    if outcome is Outcome.STATUS_FAILED:
        if record.owner == sender and record.state is St.STARTED and not record.cmd:
            recover(ledger, now, record, spec, report.detail)
        return
    if report.cmd != record.cmd or sender != record.cmd_node:
        return  # a stale report, or a stop of a stray copy
    record.cmd = 0
    if outcome is Outcome.STARTED:
        _started(ledger, record, sender)
    elif outcome is Outcome.START_FAILED:
        record.reason = f"start on {name} failed: {report.detail}"
        ledger.log(f"service:{record.name}: {record.reason}; stopping it there, then trying another node", "warning")
        record.excluded.add(sender)
        record.failed_starts.add(sender)
        ledger.command(sender, record, Action.STOP, then=FollowUp.RECOVER)
    elif outcome is Outcome.STOPPED:
        then = record.then
        record.last_owner, record.owner = record.owner, 0
        record.state = St.DISABLED if then is FollowUp.DISABLED else St.STOPPED
        record.reason = f"stopped on {name}"
        ledger.log(f"service:{record.name} stopped on {name}")
        if then in (FollowUp.DISABLED, FollowUp.STOPPED):
            record.held = then is FollowUp.STOPPED
            ledger.finish_requests(record, True, Answer.SUCCESS)
        elif then is FollowUp.RESTART:
            record.target = record.last_owner
        elif then is FollowUp.RELOCATE and not record.target:
            record.excluded.add(record.last_owner)
    elif outcome is Outcome.STOP_FAILED:
        record.state, record.reason = St.FAILED, f"stop on {name} failed: {report.detail}"
        ledger.log(f"service:{record.name}: {record.reason}; fencing {name}", "warning")
        ledger.effects.append(FenceForService(sender, f"service:{record.name} failed to stop on it"))
        ledger.finish_requests(record, False, Answer.ABORTED)


def on_inventory(ledger: ServiceLedger, sender: int, inventory: SvcInventory) -> None:
    """A member's newest inventory, just taken: which services it runs by the table, but not by its executor.

    An owner stops its services on its own when it loses quorum (R-33); if the coordinator never saw that
    view (it stayed quorate, and the owner came back before its token expired), no view, report or
    transitional state tells it, and the record would say started there for ever, since absence from an
    inventory alone frees nothing: it may predate the start.

    The member's copy of the records travels in the same inventory, taken at the same moment as its running
    list. A copy that says started on the sender, with the very version the coordinator holds, was published
    after the start was a fact (after its report, or an inventory showing it), so the sender adopted it after
    the start; absence from the running list sent with it is therefore newer than the start. Anything older
    (a copy of an earlier version, a record changed since) proves nothing and is left to the next inventory,
    which every table is answered with.

    Even then the record is not freed on this evidence: the owner is commanded to stop the service (S1
    holds as everywhere else: a record loses its owner only on its owner's stop report, or its fence). The stop
    does no harm where nothing runs, settles a local start that came after the inventory (its executor runs
    one operation per service at a time, in order), and if it fails, the service is failed and the owner
    fenced as for any failed stop (R-11). Once it is reported done, the service is placed again by its domain
    like any service of a node that lost quorum (R-33), not by its recovery policy: nothing says it broke.
    """
    if ledger.adopting or not ready(ledger) or sender not in ledger.members:
        return  # (a new coordinator's reconciliation treats absence as a fact by itself)
    running = ledger.inventories.get(sender, {})
    for copy in inventory.table:
        record = ledger.records.get(copy.name)
        if (
            record is None
            or copy.name in running
            or copy.owner != sender
            or copy.state != St.STARTED
            or copy.version != record.version
            or record.owner != sender
            or record.state is not St.STARTED
            or record.cmd
            or record.frozen
        ):
            continue
        record.reason = f"not running on {ledger.name(sender)} (its executor says so): stopping it there first"
        ledger.log(f"service:{record.name}: {record.reason}", "warning")
        ledger.touched.add(record.name)
        ledger.command(sender, record, Action.STOP, then=FollowUp.RECOVER)


def recover(ledger: ServiceLedger, now: float, record: Record, spec: ServiceSpec, detail: str) -> None:
    """A status check failed on the owner: apply the service's recovery policy (R-53)."""
    owner = record.owner
    record.reason = f"status check failed on {ledger.name(owner)}: {detail}"
    ledger.log(f"service:{record.name}: {record.reason}; recovery policy {spec.recovery}", "warning")
    if spec.recovery == "disable":
        ledger.command(owner, record, Action.STOP, then=FollowUp.DISABLED)
        return
    if spec.recovery == "relocate":
        record.excluded.add(owner)
        ledger.command(owner, record, Action.STOP, then=FollowUp.RELOCATE)
        return
    window = spec.restart_expire_time
    record.restart_times = [t for t in record.restart_times if not window or now - t <= window]
    if spec.max_restarts and len(record.restart_times) >= spec.max_restarts:
        record.restart_times.clear()
        if spec.recovery == "restart-disable":
            ledger.command(owner, record, Action.STOP, then=FollowUp.DISABLED)
        else:
            record.excluded.add(owner)
            ledger.command(owner, record, Action.STOP, then=FollowUp.RELOCATE)
        return
    record.restart_times.append(now)
    record.restarts += 1
    ledger.command(owner, record, Action.STOP, then=FollowUp.RESTART)
