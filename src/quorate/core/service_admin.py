"""Administrator requests (clusvcadm): which request is accepted in which state, and what it answers.

Theory of operation
-------------------
Requests reach the coordinator (a member forwards what is typed on it) and are judged against rgmanager's
"advise" tables (R-55) with the record as the coordinator knows it. A request is either answered at once
(refused, or nothing to do) or becomes an operation: the record remembers who asked, and the answer goes out
when the operation ends, after the executors' reports (a start reported, a stop reported, no node found, a
failed stop). So clusvcadm's "Success" means the service really runs (or really stopped), as in the original.

Two rules come before the tables. Freezing and unfreezing are always accepted: they only change whether the
coordinator acts on the record. A frozen record, or one with a command in flight, accepts nothing else: the
answer to a request that would overlap a command is "try again", never a second command. A record whose
owner left the view and is not yet fenced accepts nothing else either: "Fencing operation pending; try again
later". Until the fence is confirmed nobody knows whether the service still runs there, so no stop, start or
move can be ordered for it; the answer tells the administrator why, and when to retry.

Where quorate's answers differ from rgmanager's (the unit tests name each case):
- a record with a command in flight (starting, stopping) answers "try again" to all but freeze/unfreeze,
  where rgmanager answered an enable with "already running" and ran a stop for disable or stop;
- freeze is accepted in any state (rgmanager: only stopped, started, disabled);
- disable of a failed service runs no second stop: its node is a fencing victim already, and only the fence
  frees what the failed stop left behind. The answer is Success and the service will not start again, but
  the record shows failed until the fence, then stopped; stop of a service that does not run (failed
  included) answers Success;
- a relocation with nowhere else to go answers Failure, and the next evaluation starts the service again
  on its best node (rgmanager restarted it on the original owner within the request);
- an enable on a node its restricted domain excludes answers "Service not runnable" (rgmanager: "Failure").
"""

from __future__ import annotations

from typing import assert_never

from quorate.core.placement import GOOD, ServiceSpec, can_run
from quorate.core.service_decisions import place
from quorate.core.service_records import Origin, Record, ServiceLedger
from quorate.core.service_vocabulary import RUNNING, Action, AdminOp, Answer, FollowUp, St


def handle(ledger: ServiceLedger, now: float, op: AdminOp, service: str, target: int, origin: Origin) -> None:
    """Judge one request on the coordinator; answer it now, or start the operation that will answer it."""
    record = ledger.records.get(service)
    if record is None:
        ledger.answer(origin, False, Answer.NO_SUCH_SERVICE, 0)
        return
    spec = ledger.specs[service]
    if op is AdminOp.FREEZE or op is AdminOp.UNFREEZE:
        frozen = op is AdminOp.FREEZE
        record.frozen, record.reason = frozen, "frozen by the administrator" if frozen else ""
        ledger.answer(origin, True, Answer.SUCCESS, record.owner)
        return
    if record.frozen:
        ledger.answer(origin, False, Answer.FROZEN, record.owner)
        return
    if record.cmd:
        ledger.answer(origin, False, Answer.TRY_AGAIN, record.owner)
        return
    if record.owner and record.owner not in ledger.members and not ledger.safely_gone(record.owner):
        ledger.answer(origin, False, Answer.FENCE_PENDING, record.owner)
        return
    match op:
        case AdminOp.ENABLE:
            _enable(ledger, now, record, spec, target, origin)
        case AdminOp.DISABLE | AdminOp.STOP:
            _stop(ledger, record, origin, disable=op is AdminOp.DISABLE)
        case AdminOp.RELOCATE:
            _relocate(ledger, now, record, spec, target, origin)
        case AdminOp.RESTART:
            _restart(ledger, record, origin)
        case _:
            assert_never(op)


def _enable(ledger: ServiceLedger, now: float, record: Record, spec: ServiceSpec, target: int, origin: Origin) -> None:
    """Start on the requested node, else on the node where clusvcadm was typed (domain tolerance GOOD, R-44)."""
    if record.state is St.FAILED:
        ledger.answer(origin, False, Answer.FAILURE, record.owner)  # disable it first
        return
    if record.state in RUNNING:
        ledger.answer(origin, True, Answer.ALREADY_RUNNING, record.owner)
        return
    node = target or origin[0]
    refusal = can_run(
        spec, node, ledger.members, services_on=ledger.running_map(), exclusive_services=ledger.exclusive()
    )
    if refusal:
        ledger.answer(origin, False, refusal, 0)
        return
    record.enabled, record.held, record.target = True, False, node
    record.state = St.STOPPED
    record.requests.append(origin)
    place(ledger, now, record, spec, minimum=GOOD)


def _stop(ledger: ServiceLedger, record: Record, origin: Origin, *, disable: bool) -> None:
    """`disable` stops and marks disabled; `stop` stops and holds the service stopped until the next view."""
    if disable:
        record.enabled = False
    if record.state in RUNNING and record.owner:
        record.requests.append(origin)
        ledger.command(record.owner, record, Action.STOP, then=FollowUp.DISABLED if disable else FollowUp.STOPPED)
    else:
        record.state = St.DISABLED if disable else record.state
        record.held = not disable
        ledger.answer(origin, True, Answer.SUCCESS, 0)


def _relocate(
    ledger: ServiceLedger, now: float, record: Record, spec: ServiceSpec, target: int, origin: Origin
) -> None:
    """Stop on the owner, then start on `target` if given and allowed, else on the best other node (R-56)."""
    if record.state in (St.DISABLED, St.UNINITIALIZED, St.FAILED):
        ledger.answer(origin, False, Answer.INVALID, 0)
        return
    if target:
        refusal = can_run(
            spec, target, ledger.members, services_on=ledger.running_map(), exclusive_services=ledger.exclusive()
        )
        if refusal:
            ledger.answer(origin, False, refusal, record.owner)
            return
    record.requests.append(origin)
    if record.state in RUNNING and record.owner:
        record.target = target
        if not target:
            record.excluded.add(record.owner)
        ledger.command(record.owner, record, Action.STOP, then=FollowUp.RELOCATE)
    else:
        record.target = target
        place(ledger, now, record, spec, minimum=GOOD)


def _restart(ledger: ServiceLedger, record: Record, origin: Origin) -> None:
    """Stop, then start again on the same node (domain check skipped, R-44)."""
    if record.state not in RUNNING or not record.owner:
        ledger.answer(origin, False, Answer.INVALID, 0)
        return
    record.requests.append(origin)
    ledger.command(record.owner, record, Action.STOP, then=FollowUp.RESTART)
