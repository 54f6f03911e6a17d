"""Where decision events come from: the node core's effects, and what its cores' state says after each input.

Theory of operation
-------------------
The protocol cores already carry the facts of their decisions: a `ViewInstalled` names who joined, left and
failed; a `QuorumChanged` its reason; the fencing core's victims, runs and confirmed records; the service
coordinator's records (state, owner, reason); the configuration effects (stage, activate, discard). Rather than
teach every core a second output, `DecisionEvents` turns those facts into `Event`s at the one place they all
pass, `NodeCore`: effects as they are routed (`view`, `quorum`, `fence_run`, `fence_done`, `fence_confirmed`,
`config`, `service_done`), and the state that has no effect of its own by comparing it with what it was at the
end of the previous input (`settle`: votes, the quorum disk's master, new fence victims, service records).

Who reports what, so that a merged timeline tells each decision once, from the node that made it:

* views, quorum, votes and the quorum disk: every node (each node's own verdict is a fact of its own);
* fence scheduled, run, failed, confirmed, acknowledged: the node that fences (the quorate coordinator, or
  whoever ran `fence_node`); the other members learn the outcome and say nothing;
* service placed, relocated, restarted, refused, and failed by recovery policy: the acting coordinator, from
  its records; service started, stopped and failed by the executor: the node whose executor did it.

Pure: ``now`` is the core's monotonic time; the shell stamps wall-clock time on the way out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from quorate.core.effects import ViewInstalled
from quorate.core.events import Event, Kind
from quorate.core.service_vocabulary import St

PENDING_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """What the coordinator's record of one service says (its state, owner, previous owner, reason)."""

    state: St
    owner: int
    last_owner: int
    restarts: int
    reason: str
    then: str = ""  # what follows the stop in flight (relocate, restart...)
    held: bool = False  # kept stopped until the next membership change or an enable
    target: int = 0  # where the start that follows should go (0: the best node)


class DecisionEvents:
    """Collects this node's decision events; `take` hands them to the shell."""

    def __init__(self, local_id: int, name: Callable[[int], str]) -> None:
        self.local_id = local_id
        self.name = name
        self.view = 0
        # Bounded: a simulator that never takes them must not grow without end.
        self._events: deque[Event] = deque(maxlen=PENDING_LIMIT)
        self.emitted = 0  # ever: whether an input caused any event, even where nobody takes them
        self._votes: tuple[int, int, int] | None = None  # (total, expected, quorum)
        self._qdisk: tuple[int | None, int] = (None, 0)  # (master, votes)
        self._victims: frozenset[int] = frozenset()
        self._services: dict[str, ServiceFacts] = {}
        self._acting = False
        self._staging: dict[int, int] = {}  # transaction -> version being checked here
        self._staged: dict[int, int] = {}  # transaction -> version staged here

    def take(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        return events

    # --------------------------------------------------------------------------------- from effects

    def view_installed(self, now: float, view: ViewInstalled) -> None:
        self.view = view.view.seq
        self._add(now, Kind.VIEW, f"view {view.view.seq}", "installed", f"Q-1: {view.reason}")

    def view_refused(self, now: float, seq: int, reason: str) -> None:
        self._add(now, Kind.VIEW, f"view {seq}", "refused", reason)

    def quorum(self, now: float, *, quorate: bool, reason: str) -> None:
        self._add(now, Kind.QUORUM, "cluster", "gained" if quorate else "lost", f"Q-4: {reason}")

    def evicted(self, now: float, reason: str) -> None:
        self._add(now, Kind.QUORUM, "cluster", "lost", f"Q-12: evicted: {reason}")

    def fence_run(self, now: float, nodeid: int, reason: str, attempt: int) -> None:
        if nodeid not in self._victims:  # scheduled and run in one instant: the schedule comes first
            self._victims |= {nodeid}
            self._add(now, Kind.FENCE, self.name(nodeid), "scheduled", f"F-13: {reason}")
        self._add(now, Kind.FENCE, self.name(nodeid), "run", f"F-20: attempt {attempt}: {reason}")

    def fence_done(
        self, now: float, nodeid: int, *, ok: bool, method: str, detail: str, duration: float, victim: bool = True
    ) -> None:
        """A fence run this node carried out ended. A victim's success is told once confirmed (`fence_confirmed`);
        a node fenced on an administrator's request (`fence_node`, not a victim) is confirmed here."""
        if ok and not victim:
            self._add(now, Kind.FENCE, self.name(nodeid), "confirmed", f"F-40: fence_node: {method}: {detail}")
        elif not ok and not victim:
            reason = f"F-40: fence_node: {method or 'every method'} failed after {duration:.1f} s: {detail}"
            self._add(now, Kind.FENCE, self.name(nodeid), "failed", reason)
        elif not ok:
            reason = f"F-21: {method or 'every method'} failed after {duration:.1f} s: {detail}; will retry"
            self._add(now, Kind.FENCE, self.name(nodeid), "failed", reason)

    def fence_confirmed(self, now: float, nodeid: int, *, method: str, by: int, detail: str) -> None:
        if by != self.local_id:
            return  # the fencing node reports it; the others only learned it
        if method == "manual acknowledgement":
            self._add(now, Kind.FENCE, self.name(nodeid), "acknowledged", f"F-31: {detail}")
        else:
            self._add(now, Kind.FENCE, self.name(nodeid), "confirmed", f"F-26: {method} succeeded: {detail}")

    def service_done(self, now: float, service: str, outcome: str, detail: str) -> None:
        """This node's executor finished a start or stop (``outcome`` is the executor's word)."""
        here = self.name(self.local_id)
        if outcome == "started":
            self._add(now, Kind.SERVICE, service, "started", f"R-70: every resource started on {here}")
        elif outcome == "stopped":
            self._add(now, Kind.SERVICE, service, "stopped", f"R-11: every resource stopped on {here}")
        elif outcome in ("start_failed", "stop_failed"):
            action = "start" if outcome == "start_failed" else "stop"
            rule = "R-54" if action == "start" else "R-11"
            self._add(now, Kind.SERVICE, service, "failed", f"{rule}: {action} on {here} failed: {detail}")

    def config_stage(self, tx: int, version: int) -> None:
        """The coordinator asked this node to stage ``version`` for ``tx``: the event waits for the check."""
        self._staging[tx] = version
        while len(self._staging) > 16:  # a check the shell never answered: the oldest go
            self._staging.pop(next(iter(self._staging)))

    def config_staged(self, now: float, tx: int, *, ok: bool, error: str) -> None:
        """This node's check of a file it was asked to stage: staged, or refused (which aborts the push)."""
        version = self._staging.pop(tx, 0)
        if ok:
            self._staged[tx] = version
            while len(self._staged) > 16:  # transactions nobody discarded (committed ones): the oldest go
                self._staged.pop(next(iter(self._staged)))
            self.config(now, "staged", version, f"checked and written aside for transaction {tx}")
        else:
            self.config(now, "aborted", version, f"transaction {tx}: this node refused the file: {error}")

    def config_discarded(self, now: float, tx: int, why: str) -> None:
        self.config(now, "aborted", self._staged.pop(tx, 0), f"transaction {tx}: {why}")

    def config(self, now: float, outcome: str, version: int, why: str) -> None:
        rule = {"staged": "C-40", "activated": "C-45", "aborted": "C-41"}[outcome]
        self._add(now, Kind.CONFIG, f"version {version}" if version else "push", outcome, f"{rule}: {why}")

    # ------------------------------------------------------------------------------ from state

    def settle(
        self,
        now: float,
        *,
        votes: tuple[int, int, int],
        qdisk: tuple[int | None, int],
        victims: Mapping[int, str],
        fencing: bool,
        services: Mapping[str, ServiceFacts] | None,
        acting: bool,
    ) -> None:
        """Compare the cores' state after an input with the previous one: what changed is an event.
        ``services``: the coordinator's records, or None when they cannot have changed since the last call."""
        if self._votes is not None and votes != self._votes:
            moved = [
                f"{word} {old} -> {new}"
                for word, old, new in zip(("total votes", "expected votes", "quorum"), self._votes, votes, strict=True)
                if old != new
            ]
            self._add(now, Kind.VOTES, "cluster", "changed", f"Q-3: {', '.join(moved)}")
        self._votes = votes
        self._settle_qdisk(now, qdisk)
        new = frozenset(victims) - self._victims
        if fencing:
            for nodeid in sorted(new):
                self._add(now, Kind.FENCE, self.name(nodeid), "scheduled", f"F-13: {victims[nodeid]}")
        self._victims = frozenset(victims)
        if not acting:
            self._acting, self._services = False, {}
            return
        if services is None:
            return
        if self._acting:
            known = self._services
            # A record unchanged since the last call keeps its facts object: skipped without comparing fields.
            moved = [
                name
                for name, facts in services.items()
                if (before := known.get(name)) is not None and before is not facts and before != facts
            ]
            for name in sorted(moved):
                self._service_change(now, name, known[name], services[name])
        self._acting = True
        self._services = dict(services)

    def _settle_qdisk(self, now: float, qdisk: tuple[int | None, int]) -> None:
        (master, votes), (old_master, old_votes) = qdisk, self._qdisk
        self._qdisk = qdisk
        if master != old_master and master is not None:
            self._add(now, Kind.QDISK, self.name(master), "master",
                      f"D-14: {self.name(master)} is the quorum disk's master"
                      + (f" (was {self.name(old_master)})" if old_master is not None else ""))  # fmt: skip
        if votes != old_votes:
            self._add(now, Kind.QDISK, self.name(self.local_id), "votes",
                      f"D-15: this node counts {votes} quorum disk votes (was {old_votes})")  # fmt: skip

    def _service_change(self, now: float, name: str, before: ServiceFacts, after: ServiceFacts) -> None:
        """One coordinator decision about a service, told by how its record moved."""
        if after.state is St.STARTING and (before.state, before.owner) != (St.STARTING, after.owner):
            taking_over = before.last_owner if before.owner == 0 else before.owner
            rule = "R-32" if "fenced" in before.reason else "R-40"
            note = f"; previously on {self.name(taking_over)}" if taking_over and taking_over != after.owner else ""
            self._add(now, Kind.SERVICE, name, "placed", f"{rule}: {after.reason}{note}")
        elif after.state is St.STOPPING and before.state is not St.STOPPING and after.owner:
            where = self.name(after.owner)
            if after.then == "relocate":
                to = f"on {self.name(after.target)}" if after.target else "on the best other node"
                why = after.reason if after.reason.startswith(("status check", "relocating")) else "requested"
                self._add(now, Kind.SERVICE, name, "relocated",
                          f"R-56: stopping it on {where}, then starting it {to} ({why})")  # fmt: skip
            elif after.then == "restart":
                self._add(now, Kind.SERVICE, name, "restarted",
                          f"R-53: stopping it on {where}, then starting it there again ({after.reason})")  # fmt: skip
        elif after.state is St.FAILED and before.state is not St.FAILED:
            self._add(now, Kind.SERVICE, name, "failed", f"R-11: {after.reason}")
        elif after.state is St.STOPPED and after.owner == 0 and after.held and not before.held:
            self._add(now, Kind.SERVICE, name, "refused", f"R-54: {after.reason}")

    def _add(self, now: float, kind: Kind, subject: str, outcome: str, reason: str) -> None:
        self._events.append(Event(now, self.local_id, self.view, kind.value, subject, outcome, reason))
        self.emitted += 1


def service_facts(records: Iterable[tuple[str, St, int, int, int, str, str, bool, int]]) -> dict[str, ServiceFacts]:
    """The facts `settle` compares, from (name, state, owner, last owner, restarts, reason, then, held, target)
    rows."""
    return {row[0]: ServiceFacts(*row[1:]) for row in records}
