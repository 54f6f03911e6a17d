"""Fencing decisions (what fenced did): who is a victim, when it is fenced, by whom, and when it is safely gone.

Theory of operation
-------------------
Inputs are committed views (from membership), the results of fence runs, administrator acknowledgements and
the replicated state of the coordinator; every method takes ``now`` (monotonic seconds). Outputs are effects:
run a fence, cancel one, send the state to the members, log, and "victim confirmed".

1. *Victims.* A node that leaves a view without announcing it (membership's ``failed`` set) is a victim,
   identified by the run that failed: ``(boot, incarnation)``. A clean leave is never a victim. When the
   first quorate view since this daemon started forms with this node as coordinator, every configured node
   that is absent is a startup victim, unless ``clean_start`` (fenced's F-11).
2. *Delays.* A failure victim waits ``post_fail_delay``; a startup victim waits ``post_join_delay``, and the
   countdown restarts whenever a node joins (F-12, F-13). A startup victim that is heard and says stops are in
   progress there (its start-up stops, R-30, which a node with many services takes a while to finish) is
   waited for beyond that, up to `STARTUP_STOPPING_WAIT` more, rechecked every
   `STOPPING_RECHECK`: fencing it would only turn a node about to join into a node off for good (F-14). In a
   two-node cluster each half is quorate, so the node with the higher id also waits ``TWO_NODE_DELAY``: the
   lower id wins the race and the loser is off before it shoots.
3. *Who fences.* Only the coordinator of a quorate view runs fences (S2); the others defer and show its state.
   The coordinator replicates its victims and its confirmed fences to every member after each change and
   every few seconds while a fence is pending, so a new coordinator carries on where the old one stopped.
4. *Attempts.* One run tries the victim's methods in order (the executor does that); after a failed run the
   whole list is tried again after ``override_time``, forever, until a run succeeds or an administrator
   acknowledges (``fence_ack_manual``). Nothing else, not even quorum, counts as success. A ``fence_manual``
   device waits for that acknowledgement as its success.
5. *Averted.* A victim that is admitted to a view again before its fence succeeded came back as a new run
   that claims nothing (membership admits a failed node only after it reset), so its fence is dropped.
6. *Confirmed.* After success the victim is "safely gone": the resource manager may start its services
   elsewhere (S1). The membership is told to keep that run of the node out until its daemon restarts (S3).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.messages import FenceAck, FenceEntry, FenceNotice, FenceRecord, FenceStatus, Message

TWO_NODE_DELAY = 5.0
STARTUP_STOPPING_WAIT = 300.0
STOPPING_RECHECK = 1.0
STATUS_PERIOD = 2.0
HISTORY = 50


class Phase(enum.Enum):
    DELAY = "waiting for the fence delay"
    QUEUED = "waiting for a quorate coordinator"
    FENCING = "fencing"
    MANUAL = "waiting for manual acknowledgement"
    RETRY = "failed; will retry"


@dataclass(frozen=True, slots=True)
class FencingConfig:
    node_names: dict[int, str]
    post_join_delay: float = 6.0
    post_fail_delay: float = 0.0
    clean_start: bool = False
    override_time: float = 3.0
    two_node: bool = False


# Effects -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunFence:
    """Run one pass of the victim's fence methods now; report with `Fencing.fence_result`."""

    nodeid: int
    name: str


@dataclass(frozen=True, slots=True)
class CancelFence:
    """Stop a fence run in flight (the victim came back, or this node is no longer the one that fences)."""

    nodeid: int


@dataclass(frozen=True, slots=True)
class FenceConfirmed:
    """That run of the node is off: its services may start elsewhere; keep it out until it restarts."""

    record: FenceRecord
    name: str


FenceEffect = RunFence | CancelFence | FenceConfirmed | Send | Log


@dataclass(slots=True)
class Victim:
    nodeid: int
    boot: int
    incarnation: int
    reason: str
    not_before: float
    startup: bool = False
    phase: Phase = Phase.DELAY
    attempts: int = 0
    detail: str = ""
    running: bool = False
    reported: bool = False  # phase and detail come from the coordinator's replicated state
    stopping_until: float | None = None  # a startup victim still stopping is waited for until then (F-14)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    nodeid: int
    name: str
    at: float
    ok: bool
    method: str
    by: int
    detail: str
    duration: float


@dataclass(slots=True)
class _Role:
    coordinator: bool = False
    quorate: bool = False
    members: frozenset[int] = frozenset()
    seen_quorate: bool = False


class Fencing:
    def __init__(
        self, config: FencingConfig, local_id: int, *, stopping: Callable[[float], frozenset[int]] | None = None
    ) -> None:
        """``stopping``: the nodes heard at ``now``, outside the view, whose heartbeats say stops are in progress
        there (FLAG_STOPPING): a startup victim among them is still running its start-up stops."""
        self.config = config
        self.local_id = local_id
        self._stopping = stopping or (lambda now: frozenset())
        self.victims: dict[int, Victim] = {}
        self.confirmed: dict[int, FenceRecord] = {}
        self.left_clean: set[int] = set()
        self.history: list[HistoryEntry] = []
        self.role = _Role()
        self.coordinator_id = 0
        self._effects: list[FenceEffect] = []
        self._last_status = -1e18
        self._last_eval = -1e18

    # ------------------------------------------------------------------------------------------ inputs

    def on_view(
        self, now: float, view: ViewInstalled, stamps: dict[int, tuple[int, int]], *, coordinator: bool
    ) -> None:
        """A committed view: record failures, drop victims that came back, start startup fencing once."""
        for nodeid in sorted(view.failed):
            boot, incarnation = stamps.get(nodeid, (0, 0))
            if nodeid not in self.victims:
                self.victims[nodeid] = Victim(
                    nodeid, boot, incarnation, "left the view without leaving cleanly", now + self._fail_delay()
                )
                self._log(f"{self._name(nodeid)} failed: it will be fenced" + self._delay_note(now, nodeid))
        self.left_clean |= view.left
        for nodeid in view.joined:
            # A new run of the node: what was known about its previous run no longer says where it stands.
            self.left_clean.discard(nodeid)
            self.confirmed.pop(nodeid, None)
        for nodeid in sorted(view.joined & set(self.victims)):
            victim = self.victims.pop(nodeid)
            if victim.running:
                self._effects.append(CancelFence(nodeid))
            self._log(f"averting fence of {self._name(nodeid)}: it rejoined as a new run that claims nothing")
        if view.joined:
            for victim in self.victims.values():
                if victim.startup and victim.phase is Phase.DELAY:
                    victim.not_before = max(victim.not_before, now + self.config.post_join_delay)
        self.role.members = view.members
        self.coordinator_id = view.view.coord
        self._set_role(now, coordinator=coordinator, quorate=view.quorate)
        if view.quorate and coordinator and not self.role.seen_quorate:
            self._startup_victims(now, view.members, stamps)
        if view.quorate:
            self.role.seen_quorate = True
        self._evaluate(now)

    def on_quorum(self, now: float, *, quorate: bool, coordinator: bool) -> None:
        """Quorum or the coordinator role changed without a new view (lost quorum, evicted, left)."""
        if not quorate:
            self.role.members = frozenset()
        self._set_role(now, coordinator=coordinator, quorate=quorate)
        self._evaluate(now)

    def tick(self, now: float) -> None:
        self._evaluate(now)

    def fence_result(self, now: float, nodeid: int, *, ok: bool, method: str, detail: str, duration: float) -> None:
        """The outcome of one `RunFence` pass (or of a `fence_node` typed by an administrator here)."""
        victim = self.victims.get(nodeid)
        name = self._name(nodeid)
        self._record_history(now, nodeid, ok, method, self.local_id, detail, duration)
        if victim is None:
            if ok:
                self._log(f"{name} fenced by administrator request ({detail})")
            return
        victim.running = False
        if ok:
            self._confirm(now, victim, method, self.local_id, detail)
            return
        victim.attempts += 1
        victim.phase = Phase.RETRY
        victim.detail = detail
        victim.not_before = now + self.config.override_time
        self._log(
            f"fence of {name} failed (attempt {victim.attempts}): {detail}; retrying in "
            f"{self.config.override_time:g} s until it succeeds or fence_ack_manual {name}",
            "warning",
        )
        self._send_status(now)
        self._evaluate(now)

    def manual_waiting(self, now: float, nodeid: int) -> None:
        """The run reached a fence_manual device: it now waits for `fence_ack_manual`."""
        victim = self.victims.get(nodeid)
        if victim is not None and victim.phase is not Phase.MANUAL:
            victim.phase = Phase.MANUAL
            victim.detail = f"waiting for manual acknowledgement of {self._name(nodeid)}"
            self._log(
                f"{self._name(nodeid)} needs to be reset before recovery can proceed: waiting for it to rejoin or "
                f"for 'fence_ack_manual {self._name(nodeid)}'",
                "warning",
            )
            self._send_status(now)

    def acknowledge(self, now: float, nodeid: int, by: int) -> str | None:
        """`fence_ack_manual`: the administrator says the node is off. Returns an error sentence, or None."""
        victim = self.victims.get(nodeid)
        if victim is None:
            return f"{self._name(nodeid)} is not waiting to be fenced: nothing to acknowledge"
        if not (self.role.coordinator and self.role.quorate):
            if self.coordinator_id and self.coordinator_id != self.local_id:
                self._effects.append(Send((self.coordinator_id,), FenceAck(nodeid)))
                return None
            return "no quorate coordinator to take the acknowledgement: the cluster is not quorate"
        if victim.running:
            self._effects.append(CancelFence(nodeid))
        who = "this node" if by == self.local_id else self._name(by)
        self._record_history(now, nodeid, True, "manual acknowledgement", by, f"acknowledged on {who}", 0.0)
        self._confirm(now, victim, "manual acknowledgement", by, f"acknowledged by the administrator on {who}")
        return None

    def add_victim(
        self, now: float, nodeid: int, boot: int, incarnation: int, reason: str, *, force: bool = False
    ) -> None:
        """A node must be fenced although membership did not see it fail (a failed stop, the quorum disk)."""
        if nodeid in self.victims or nodeid == self.local_id or (nodeid in self.role.members and not force):
            return
        self.victims[nodeid] = Victim(nodeid, boot, incarnation, reason, now)
        self._log(f"{self._name(nodeid)} will be fenced: {reason}", "warning")
        self._evaluate(now)

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, FenceStatus):
            self._on_status(now, sender, message)
        elif isinstance(message, FenceAck):
            if self.role.coordinator and self.role.quorate:
                error = self.acknowledge(now, message.nodeid, sender)
                if error:
                    self._log(f"acknowledgement from {self._name(sender)} refused: {error}", "warning")
        elif isinstance(message, FenceNotice):
            victim = self.victims.get(message.record.nodeid)
            if victim is not None and (victim.boot, victim.incarnation) <= (
                message.record.boot,
                message.record.incarnation,
            ):
                self._confirm(
                    now, victim, message.record.method, message.record.by, message.record.detail, announce=False
                )
        self._evaluate(now)

    # ----------------------------------------------------------------------------------------- queries

    def is_safely_gone(self, nodeid: int) -> bool:
        """May the services this node ran be started elsewhere? Only once its run is fenced or it left cleanly."""
        if nodeid in self.victims:
            return False
        return nodeid in self.confirmed or nodeid in self.left_clean

    def how_gone(self, nodeid: int) -> str:
        """How a safely gone node went, in the log's words."""
        if nodeid in self.left_clean and nodeid not in self.confirmed:
            return "left the cluster cleanly"
        return "failed and is fenced"

    def pending(self) -> dict[int, Victim]:
        return dict(self.victims)

    def status(self, now: float) -> dict[str, object]:
        return {
            "coordinator": self.coordinator_id,
            "fencing_here": self.role.coordinator and self.role.quorate,
            "victims": [
                {
                    "nodeid": v.nodeid,
                    "name": self._name(v.nodeid),
                    "state": v.phase.value,
                    "detail": v.detail,
                    "attempts": v.attempts,
                    "reason": v.reason,
                    "startup": v.startup,
                    "due_in": max(0.0, v.not_before - now) if v.phase in (Phase.DELAY, Phase.RETRY) else 0.0,
                }
                for v in sorted(self.victims.values(), key=lambda v: v.nodeid)
            ],
            "history": [
                {
                    "nodeid": h.nodeid,
                    "name": h.name,
                    "ago": now - h.at,
                    "ok": h.ok,
                    "method": h.method,
                    "by": self._name(h.by),
                    "detail": h.detail,
                    "duration": h.duration,
                }
                for h in self.history
            ],
        }

    def take_effects(self) -> list[FenceEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        times = [v.not_before for v in self.victims.values() if not v.running and v.phase in (Phase.DELAY, Phase.RETRY)]
        if self.victims and self.role.coordinator and self.role.quorate:
            times.append(self._last_status + STATUS_PERIOD)
        future = [t for t in times if t > self._last_eval]
        return min(future) if future else None

    # -------------------------------------------------------------------------------------- internals

    def _set_role(self, now: float, *, coordinator: bool, quorate: bool) -> None:
        was_acting = self.role.coordinator and self.role.quorate
        self.role.coordinator, self.role.quorate = coordinator, quorate
        acting = coordinator and quorate
        if was_acting and not acting:
            for victim in self.victims.values():
                if victim.running:
                    self._effects.append(CancelFence(victim.nodeid))
                    victim.running = False
                victim.phase = Phase.QUEUED
            if self.victims:
                self._log("no longer the quorate coordinator: pending fences are left to the next one")
        elif acting and not was_acting and self.victims:
            for victim in self.victims.values():
                victim.reported = False
            self._log(f"taking over fencing of {', '.join(self._name(n) for n in sorted(self.victims))}")

    def _startup_victims(self, now: float, members: frozenset[int], stamps: dict[int, tuple[int, int]]) -> None:
        if self.config.clean_start or self.config.post_join_delay < 0:
            return
        for nodeid in sorted(set(self.config.node_names) - members):
            if nodeid in self.victims or nodeid in self.confirmed:
                continue
            boot, incarnation = stamps.get(nodeid, (0, 0))
            self.victims[nodeid] = Victim(
                nodeid,
                boot,
                incarnation,
                "absent when the cluster became quorate (startup fencing)",
                now + self.config.post_join_delay,
                startup=True,
                stopping_until=now + self.config.post_join_delay + STARTUP_STOPPING_WAIT,
            )
            self._log(
                f"{self._name(nodeid)} is absent as the cluster forms: it will be fenced unless it joins within "
                f"{self.config.post_join_delay:g} s (post_join_delay; clean_start=1 skips this)"
            )

    def _evaluate(self, now: float) -> None:
        self._last_eval = now
        acting = self.role.coordinator and self.role.quorate
        for victim in sorted(self.victims.values(), key=lambda v: v.nodeid):
            if victim.running:
                continue
            if not acting:
                if not victim.reported:  # else the coordinator's replicated state is what is shown
                    victim.phase = Phase.QUEUED
                    victim.detail = (
                        f"deferred to {self._name(self.coordinator_id)}"
                        if self.coordinator_id and self.coordinator_id != self.local_id
                        else "waiting for quorum"
                    )
                continue
            if now < victim.not_before:
                victim.phase = Phase.DELAY if victim.attempts == 0 else Phase.RETRY
                continue
            if self._still_stopping(now, victim):
                continue
            victim.running = True
            victim.phase = Phase.FENCING
            victim.detail = f"fencing {self._name(victim.nodeid)} (attempt {victim.attempts + 1})"
            self._log(f"fencing {self._name(victim.nodeid)}: {victim.reason}")
            self._effects.append(RunFence(victim.nodeid, self._name(victim.nodeid)))
            self._send_status(now)
        if acting and self.victims and now >= self._last_status + STATUS_PERIOD:
            self._send_status(now)

    def _still_stopping(self, now: float, victim: Victim) -> bool:
        """F-14: a startup victim heard still stopping its services is not fenced yet (within its bound)."""
        until = victim.stopping_until
        if not victim.startup or victim.attempts or until is None or now >= until:
            return False
        if victim.nodeid not in self._stopping(now):
            return False
        if victim.phase is not Phase.DELAY or "still stopping" not in victim.detail:
            self._log(
                f"{self._name(victim.nodeid)} is heard still stopping its services before it joins: not fencing it "
                f"while it does, for at most {until - now:.0f} s more (F-14)"
            )
        victim.phase = Phase.DELAY
        victim.detail = "heard, still stopping its services before it joins"
        victim.not_before = min(now + STOPPING_RECHECK, until)
        return True

    def _confirm(self, now: float, victim: Victim, method: str, by: int, detail: str, *, announce: bool = True) -> None:
        self.victims.pop(victim.nodeid, None)
        record = FenceRecord(victim.nodeid, victim.boot, victim.incarnation, method, by, detail)
        self.confirmed[victim.nodeid] = record
        self._log(f"fence of {self._name(victim.nodeid)} confirmed: {detail}")
        self._effects.append(FenceConfirmed(record, self._name(victim.nodeid)))
        if not announce:  # learned from the fencing node: every member's history tells the same story
            self._record_history(now, victim.nodeid, True, method, by, detail, 0.0)
        if announce:
            others = tuple(sorted(self.role.members - {self.local_id}))
            if others:
                self._effects.append(Send(others, FenceNotice(record)))
            self._send_status(now)

    def _on_status(self, now: float, sender: int, message: FenceStatus) -> None:
        if self.role.coordinator and self.role.quorate:
            return  # this node decides; an old coordinator's view of things is not authoritative
        for record in message.done:
            victim = self.victims.get(record.nodeid)
            if victim is not None and (victim.boot, victim.incarnation) <= (record.boot, record.incarnation):
                self._confirm(now, victim, record.method, record.by, record.detail, announce=False)
        for entry in message.victims:
            victim = self.victims.get(entry.nodeid)
            if victim is None:
                if self.confirmed.get(entry.nodeid) is not None and self.confirmed[entry.nodeid].boot == entry.boot:
                    continue
                if entry.nodeid in self.role.members or entry.nodeid == self.local_id:
                    continue
                victim = Victim(entry.nodeid, entry.boot, entry.incarnation, "reported by the coordinator", now)
                self.victims[entry.nodeid] = victim
            victim.reported = True
            victim.attempts = max(victim.attempts, entry.attempts)
            victim.detail = entry.detail or f"deferred to {self._name(sender)}"
            for phase in Phase:
                if phase.value == entry.state:
                    victim.phase = phase

    def _send_status(self, now: float) -> None:
        if not (self.role.coordinator and self.role.quorate):
            return
        others = tuple(sorted(self.role.members - {self.local_id}))
        self._last_status = now
        if not others:
            return
        entries = tuple(
            FenceEntry(v.nodeid, v.boot, v.incarnation, v.phase.value, v.detail, v.attempts)
            for v in sorted(self.victims.values(), key=lambda v: v.nodeid)
        )
        self._effects.append(Send(others, FenceStatus(entries, tuple(self.confirmed.values())[-16:])))

    def _record_history(
        self, now: float, nodeid: int, ok: bool, method: str, by: int, detail: str, duration: float
    ) -> None:
        self.history.append(HistoryEntry(nodeid, self._name(nodeid), now, ok, method, by, detail, duration))
        del self.history[:-HISTORY]

    def _fail_delay(self) -> float:
        delay = self.config.post_fail_delay
        if self.config.two_node and self.local_id != min(self.config.node_names):
            delay += TWO_NODE_DELAY
        return delay

    def _delay_note(self, now: float, nodeid: int) -> str:
        delay = self.victims[nodeid].not_before - now
        return f" after {delay:g} s (post_fail_delay)" if delay > 0 else ""

    def _name(self, nodeid: int) -> str:
        return self.config.node_names.get(nodeid, f"node {nodeid}")

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))
