"""One node's protocol, composed once: the cores of membership, quorum, quorum disk, fencing, services, locks and
configuration distribution, wired together in pure code.

Theory of operation
-------------------
quorated, every simulator and `quorate simulate` drive this one object, so what a simulation proves is what
the daemon runs. Its inputs, each with ``now`` (monotonic seconds chosen by the caller):

* ``receive(payload, sender, now)``: an authenticated datagram from a configured peer (``deliver`` takes it
  already decoded);
* ``handle_timer(now)``: time passed; call it at or after ``next_deadline()``;
* ``request(req, now)``: an administrator's request (a `node_io.Request`), answered later by a `Reply` with
  the returned id; ``report(event, now)``: the outcome of an effect the shell carried out.

Its output is ``take_effects()``: a typed list of external effects (`node_io.Effect`). Everything that
passes between the cores stays inside, routed by `_route`:

| from        | effect                      | goes to                                                       |
|-------------|-----------------------------|---------------------------------------------------------------|
| membership  | ViewInstalled               | fencing, services, locks; then quorum disk and config         |
| membership  | QuorumChanged (lost)        | fencing, locks; services stop deciding; local emergency stop  |
| membership  | QuorumChanged (regained in  | services restart their coordination (as on a new view)        |
|             | the same view)              |                                                               |
| membership  | Evicted / Killed            | fencing, locks drop all; emergency stop / self-fence          |
| quorum disk | SetVotes                    | membership's quorum                                           |
| quorum disk | KillNode                    | fencing (only for a member of the view: one outside it is a   |
|             |                             | fencing victim already, and a second fence could hit its next |
|             |                             | boot)                                                         |
| quorum disk | Reboot / StopCman           | self-fence                                                    |
| witness     | WitnessVotes                | membership's quorum, in the quorum disk's place               |
| services    | FenceForService             | fencing (self: self-fence, nobody else would fence this node) |
| fencing     | FenceConfirmed              | membership bars that run; services and locks re-evaluate      |
| executor    | ServicesRunning             | membership (dirty), services (inventory)                      |
| membership  | ViewInstalled, QuorumChanged| key rotation (who must confirm each step; who drives)         |
| key rotation| key files, codec keys       | the shell, through ``take_key_effects`` (not `node_io.Effect`)|

Routing repeats until no core has anything left (bounded: effects may cause effects, never a spin).
Every heartbeat membership sends leaves with this node's optional features (`quorate.core.features`), and every
heartbeat received records the sender's, so a feature is used only when every member of the view has it.
What this module deliberately does not know: sockets, files, agents and clocks (the shell's), and the text
layouts of the command lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

import msgspec

from quorate.core import node_requests
from quorate.core.clock_skew import ClockSkew
from quorate.core.config_dist import Activate, Adopt, ConfigDistribution, Discard, PushDone, Stage
from quorate.core.config_messages import CfgAbort, CfgChunk, CfgCommit, CfgFetch, CfgResult, CfgStaged
from quorate.core.effects import (
    Evicted,
    Killed,
    Log,
    PersistGeneration,
    PersistRejoin,
    QuorumChanged,
    Send,
    ViewInstalled,
)
from quorate.core.events import Event
from quorate.core.events_derive import DecisionEvents, ServiceFacts, service_facts
from quorate.core.features import KEY_ROTATION, SUPPORTED, FeatureTable, Unreadable
from quorate.core.fencing import CancelFence, FenceConfirmed, Fencing, RunFence
from quorate.core.key_rotation import KeyRotation, KeyWritten
from quorate.core.key_rotation_effects import KeyEffect
from quorate.core.local_services import LocalServices
from quorate.core.lock_messages import LOCK_MESSAGES
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockManager, LockReleased
from quorate.core.membership import Membership, MembershipError
from quorate.core.messages import (
    FLAG_STOPPING,
    KEY_MESSAGES,
    TIMELINE_MESSAGES,
    Accept,
    FenceAck,
    FenceNotice,
    FenceStatus,
    Heartbeat,
    MalformedMessage,
    Message,
    SvcCommand,
    SvcInventory,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
    decode,
)
from quorate.core.node_disk import NodeDisk
from quorate.core.node_io import (
    Action,
    AdoptRefused,
    CheckService,
    CloseDisk,
    ConfigActivated,
    ConfigStaged,
    DiskOpened,
    DiskRead,
    DiskStatusFile,
    DiskWritten,
    Effect,
    ExecOutcome,
    FenceDone,
    FenceManualWaiting,
    HeuristicDone,
    LvmRefreshResult,
    OpenDisk,
    ReadDisk,
    Report,
    Request,
    RunHeuristic,
    SelfFence,
    ServiceDone,
    ServicesRunning,
    StartService,
    StatusChecked,
    StopService,
    StopWhy,
    WriteDisk,
)
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_driver import QdiskDriver
from quorate.core.qdisk_effects import KillNode, Reboot, SetVotes, StopCman
from quorate.core.services import FenceForService, RequestDone, ServiceManager, St, StartLocal, StopLocal
from quorate.core.witness_driver import SendToWitness, WitnessDriver, WitnessVotes

CONFIG_MESSAGES = (CfgChunk, CfgStaged, CfgCommit, CfgAbort, CfgResult, CfgFetch)
FENCE_MESSAGES = (FenceStatus, FenceAck, FenceNotice)
SERVICE_MESSAGES = (SvcTable, SvcCommand, SvcReport, SvcInventory, SvcRequest, SvcReply)
MAX_ROUNDS = 100
STATUS_FLOOR = 1.0

ServiceRow = tuple[St, int, int, int, str, str, bool, int]
"""One record as the decision events compare it (state, owner, last owner, restarts, reason, then, held, target)."""


class NodeCore:
    """Everything one node decides. Feed it inputs, carry out `take_effects()`, re-arm at `next_deadline()`."""

    routine_inputs = True
    """Take routine heartbeats and ticks the short way (`_routine_heartbeat`, `_routine_tick`). The same decisions
    either way: tests/sim/test_routine_inputs.py compares whole simulations with it on and off."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        boot: int,
        now: float,
        highest_seq: int = 0,
        rejoin: tuple[int, frozenset[int]] = (0, frozenset()),
        key: bytes = b"",
        features: frozenset[str] = SUPPORTED,
    ) -> None:
        """``boot``: this run's epoch (unique per start of the node, persisted by the shell); ``highest_seq`` and
        ``rejoin``: what the previous runs persisted (`PersistGeneration`, `PersistRejoin`); ``key``: the cluster
        key the wire uses now (for key rotation); ``features``: what this node advertises (a simulator may
        play an older release with fewer)."""
        self.settings = settings
        self.local_id = settings.local_id
        self.boot = boot
        self.undecodable = 0
        self.unreadable = Unreadable(settings.names)
        self.features = FeatureTable(self.local_id, features)
        self.keys = KeyRotation(self.local_id, key, settings.names)
        self.key_effects: list[KeyEffect] = []  # for the shell's key files and wire codec (`take_key_effects`)
        self.membership = Membership(
            settings.membership, self.local_id, boot=boot, now=now, highest_seq=highest_seq, rejoin=rejoin
        )
        self.fencing = Fencing(settings.fencing, self.local_id, stopping=self._heard_stopping)
        self.services = ServiceManager(
            dict(settings.services),
            settings.names,
            self.local_id,
            safely_gone=self.fencing.is_safely_gone,
            shared_features=self.features.common,
            gone_how=self.fencing.how_gone,
            unfenced=lambda: frozenset(self.fencing.victims),
        )
        self.locks = LockManager(
            self.local_id,
            settings.names,
            safely_gone=self.fencing.is_safely_gone,
            unfenced=lambda: frozenset(self.fencing.victims),
        )
        self.config_dist = ConfigDistribution(
            self.local_id,
            settings.membership.config_version,
            settings.config_data,
            names=settings.names,
            timeout=settings.push_timeout,
            first_tx=boot,
        )
        self.local = LocalServices(settings.services)
        self.disk = NodeDisk(settings)
        self.witness = self._witness_driver(settings, now, boot)
        self.requests = node_requests.Requests(self)
        self.halted: str | None = None
        # Observers of what passes between the cores (a view installed, quorum lost, a fence confirmed...): the
        # simulators and tests watch decisions here; nothing the node does depends on them.
        self.watchers: list[Callable[[float, object], None]] = []
        self._ticked = -float("inf")  # the time of the last `handle_timer`
        # Until when routine inputs may come (`Membership.routine_until` and every other core's deadline), and the
        # next deadline of every core but membership, as of the last look (`_look_at_every_core`); None when
        # unknown (an input changed something and `next_deadline` has not looked since).
        self._quiet_before: float | None = None
        self._cores_deadline: float | None = None
        self._routine_heartbeats = 0  # taken the short way, ever (see `unchanged_by_routine`)
        self._effects: list[Effect] = []
        # Decision events and clock offsets (`events_derive`, `clock_skew`): reported, never decided on.
        self.events = DecisionEvents(self.local_id, self.node_name)
        self.clock = ClockSkew(self.local_id)
        self.timeline_inbox: list[tuple[int, Message]] = []
        self._services_moved = True
        self._service_rows: dict[str, ServiceRow] | None = None  # the rows the events last settled
        self._service_facts: dict[str, ServiceFacts] = {}  # the same as facts (unchanged rows keep their object)
        self._next_status = now + max(settings.status_interval, STATUS_FLOOR)
        self.membership.set_dirty(now, self.local.dirty, stopping=self.local.stopping)
        self._process(now)

    # ------------------------------------------------------------------------------------------ inputs

    def receive(self, payload: bytes, sender: int, now: float, *, wall: float | None = None) -> None:
        """An authenticated datagram's plaintext from configured node ``sender``; undecodable ones are counted.
        ``wall``: the wall-clock time it arrived, for the clock offsets (the shell's; simulators leave it out)."""
        try:
            message = decode(payload)
        except MalformedMessage as exc:
            self.undecodable += 1
            said = self.unreadable.note(sender, str(exc))
            if said is not None:
                self._effects.append(said)
            return
        self.deliver(message, sender, now, wall=wall)

    def deliver(self, message: Message, sender: int, now: float, *, wall: float | None = None) -> None:
        """A decoded message from ``sender`` (the simulators skip the encoding)."""
        if self.halted is not None:
            return  # self-fencing: this node takes no further part, it only finishes its stops
        members = self.membership.members
        if isinstance(message, Heartbeat) and wall is not None:
            warning = self.clock.heard(sender, message, wall)
            if warning is not None:
                self._log(warning.replace(f"node {sender}", self.node_name(sender), 1), "warning")
        if isinstance(message, Heartbeat) and self._routine_heartbeat(message, sender, now):
            return
        if isinstance(message, TIMELINE_MESSAGES):
            if sender in members:  # answered by the shell, which holds the journal
                self.timeline_inbox.append((sender, message))
            return
        if isinstance(message, KEY_MESSAGES):
            self.keys.receive(now, sender, message)
        elif isinstance(message, CONFIG_MESSAGES):
            self.config_dist.receive(now, sender, message)
        elif isinstance(message, LOCK_MESSAGES):
            if sender in members:
                self.requests.lock_message(now, sender, message)
        elif isinstance(message, FENCE_MESSAGES):
            if sender in members:
                self.fencing.receive(now, sender, message)
        elif isinstance(message, SERVICE_MESSAGES):
            if sender in members:
                self.services.receive(now, sender, message)
        else:
            if isinstance(message, Heartbeat):
                self.features.heard(sender, message.boot, message.features)
            self.membership.receive(now, sender, message)
            if isinstance(message, Heartbeat):
                self.config_dist.heard(now, sender, message, self.membership.members)
        self._process(now)

    def witness_answer(self, payload: bytes, now: float) -> None:
        """An authenticated datagram from the quorum witness (ignored without a witness in the configuration)."""
        if self.halted is not None or self.witness is None:
            return
        self.witness.answer(now, payload)
        self._process(now)

    def handle_timer(self, now: float) -> None:
        if self.halted is not None or self._routine_tick(now):
            return
        self._ticked = now
        self.membership.tick(now)
        if self.witness is not None:
            self.witness.tick(now)
        self.fencing.tick(now)
        if self.settings.membership.policies.last_man_standing:
            self.membership.lms_tick(now, fencing_pending=bool(self.fencing.pending()))
        self.services.tick(now)
        self.locks.tick(now)
        self.config_dist.tick(now)
        self.keys.tick(now)
        if self.qdisk is not None:
            self.qdisk.tick(now, self.membership.members, self.membership.quorum.quorate)
        self.requests.tick(now)
        if now >= self._next_status:
            self._next_status = now + max(self.settings.status_interval, STATUS_FLOOR)
            for name, state in sorted(self.local.running.items()):
                if state == "started":
                    self._effects.append(CheckService(name))
        self._process(now)

    def request(self, req: Request, now: float) -> int:
        """An administrator's request; returns its id, which the `Reply` carries."""
        if self.halted is not None:
            rid = self.requests.refuse(f"this node is stopping: {self.halted}")
            self._effects.extend(self.requests.take())
            return rid
        rid = self.requests.handle(req, now)
        self._process(now)
        return rid

    def report(self, event: Report, now: float) -> None:
        """The outcome of an effect the shell carried out."""
        if self.halted is not None:  # self-fencing: only the executor's facts still count, for nobody else
            if isinstance(event, ServicesRunning):
                self.local.update(event.running)
            elif isinstance(event, ServiceDone):
                self.local.done(event, self.services.specs)
            self._effects.extend(e for e in self.local.take() if not isinstance(e, StartService))
            return
        if isinstance(event, ServicesRunning):
            self.local.update(event.running)
            self.membership.set_dirty(now, self.local.dirty, stopping=self.local.stopping)
            self.services.local_state(now, self.local.reported())
            self.requests.services_changed(now)
        elif isinstance(event, ServiceDone):
            self._service_done(now, event)
        elif isinstance(event, StatusChecked):
            if not event.ok:
                self._log(f"status check of service:{event.service} failed: {event.detail}", "warning")
                self.services.executor_report(now, event.service, 0, "status_failed", event.detail)
        elif isinstance(event, FenceDone):
            self.events.fence_done(now, event.nodeid, ok=event.ok, method=event.method, detail=event.detail,
                                   duration=event.duration, victim=event.nodeid in self.fencing.victims)  # fmt: skip
            self.fencing.fence_result(
                now, event.nodeid, ok=event.ok, method=event.method, detail=event.detail, duration=event.duration
            )
            self.requests.fence_done(event)
        elif isinstance(event, FenceManualWaiting):
            self.fencing.manual_waiting(now, event.nodeid)
        elif isinstance(event, DiskOpened | DiskRead | DiskWritten | HeuristicDone):
            self.disk.report(now, event, self.membership.members, self.membership.quorum.quorate)
        elif isinstance(event, ConfigStaged):
            self.events.config_staged(now, event.tx, ok=event.ok, error=event.error)
            self.config_dist.staged_result(now, event.tx, event.digest, event.ok, event.error)
        elif isinstance(event, AdoptRefused):
            self.config_dist.adopt_refused(event.version, event.digest, event.error)
        elif isinstance(event, LvmRefreshResult):
            self.requests.lvm_refreshed(event)
        elif isinstance(event, ConfigActivated):
            self._reconfigure(now, event)
        self._process(now)

    # ----------------------------------------------------------------------------------------- outputs

    def take_effects(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        """The next time `handle_timer` has something to do. A deadline that a tick at or after it left in place
        is not returned again (a core that keeps a past deadline must not make the shell spin)."""
        if self.halted is not None:
            return None
        m = self.membership
        other = self._look_at_every_core() if self._quiet_before is None else m.other_deadline()
        times = [t for t in (m.heartbeat_deadline(), other, self._cores_deadline) if t is not None]
        times = [t for t in times if t > self._ticked]
        return min(times) if times else None

    def _look_at_every_core(self) -> float | None:
        """The next deadline of every core but membership (whose deadlines move with every heartbeat), and until
        when routine inputs may come (`_quiet_before`). Kept while only routine inputs arrive: they change no
        core's deadline but membership's. Returns membership's `other_deadline`, worked out once for both."""
        candidates = [
            self.fencing.next_deadline(),
            self.services.next_deadline(),
            self.locks.next_deadline(),
            self.config_dist.next_deadline(),
            self.requests.next_deadline(),
            self.keys.next_deadline(),
            self.qdisk.next_deadline() if self.qdisk is not None else None,
            self.witness.next_deadline() if self.witness is not None else None,
            self._next_status if self.local.running else None,
        ]
        times = [t for t in candidates if t is not None and t > self._ticked]
        self._cores_deadline = min(times) if times else None
        other = self.membership.other_deadline()
        if self.routine_inputs:
            until = self.membership.routine_until(other)
            quiet = times if until is None else [*times, until]
            self._quiet_before = min(quiet) if quiet else math.inf
        return other

    @property
    def quorate(self) -> bool:
        return self.membership.quorum.quorate

    @property
    def subsystems(self) -> set[str]:
        """What cman_tool status counts as "Active subsystems"."""
        active = {"membership", "quorum", "fenced"}
        if self.settings.services:
            active.add("rgmanager")
        if self.qdisk is not None and self.qdisk.core is not None:
            active.add("qdiskd")
        return active

    def status_line(self) -> str:
        """systemd's STATUS=, e.g. "Quorate, view 12, 3 nodes, 3/3 votes, quorum 2"."""
        q = self.membership.quorum
        word = "Quorate" if q.quorate else "Inquorate"
        return (
            f"{word}, view {self.membership.view.seq}, {len(self.membership.members)} nodes, "
            f"{q.total_votes}/{q.expected_votes} votes, quorum {q.quorum}"
        )

    # ---------------------------------------------------------------------------------- routine inputs

    def _routine_heartbeat(self, message: Heartbeat, sender: int, now: float) -> bool:
        """A member's heartbeat that changes nothing, taken the short way (`Membership.routine_heartbeat`): no
        core has a deadline at or before ``now`` besides this node's own heartbeat, so the whole path would only
        record the receive time, and send this node's heartbeat if due. Features and configuration versions are
        part of what must be unchanged; the configuration distribution must have nothing to do with them."""
        quiet = self._quiet_before
        if quiet is None or now >= quiet or sender not in self.membership.members:
            return False
        if not self.config_dist.quiet_for(message.config_version, message.config_digest):
            return False
        if not self.membership.routine_heartbeat(now, sender, message):
            return False
        self._route_membership(now)  # this node's heartbeat, if it fell due
        self._routine_heartbeats += 1
        return True

    def unchanged_by_routine(self, before: tuple[int, int]) -> bool:
        """Whether the one input since `routine_mark` gave ``before`` was a routine heartbeat that left nothing to
        carry out: no effect, no key effect, no event. Then no deadline moved earlier either (a routine heartbeat
        only records a receive time, which moves the sender's silence later), so the shell's armed timer stands
        and it has nothing to flush (tests/sim/test_routine_inputs.py checks both at every delivery)."""
        return (
            self._routine_heartbeats == before[0] + 1
            and self.events.emitted == before[1]
            and not self._effects
            and not self.key_effects
        )

    def routine_mark(self) -> tuple[int, int]:
        return self._routine_heartbeats, self.events.emitted

    def _routine_tick(self, now: float) -> bool:
        """Time passed and only this node's own heartbeat is due: send it (`Membership.routine_tick`)."""
        quiet = self._quiet_before
        if quiet is None or now >= quiet or not self.membership.routine_tick(now):
            return False
        self._ticked = now
        if now >= self._next_status:  # nothing runs here (else it would be a deadline): only the clock moves
            self._next_status = now + max(self.settings.status_interval, STATUS_FLOOR)
        self._route_membership(now)
        return True

    # -------------------------------------------------------------------------------------- the routing

    def _process(self, now: float) -> None:
        self._quiet_before = None  # something may have changed: `next_deadline` looks at every core again
        for _ in range(MAX_ROUNDS):
            self._route_local(now)  # first: a request's reply precedes the effects the request caused
            busy = self._route_membership(now)
            busy |= self._route_qdisk(now)
            busy |= self._route_witness(now)
            busy |= self._route_fencing(now)
            busy |= self._route_services(now)
            busy |= self._route_locks(now)
            busy |= self._route_config(now)
            busy |= self._route_keys(now)
            busy |= self._route_local(now)
            if not busy:
                self._settle_events(now)
                return
        self._log("effects kept causing effects for 100 rounds: stopped routing until the next input", "error")

    def _route_membership(self, now: float) -> bool:
        effects = self.membership.take_effects()
        m = self.membership
        for watch in self.watchers:
            for effect in effects:
                if isinstance(effect, ViewInstalled | QuorumChanged | Evicted | Killed):
                    watch(now, effect)
        view_change = False
        for effect in effects:
            if isinstance(effect, Send) and isinstance(effect.message, Heartbeat):
                advertised = tuple(sorted(self.features.local))
                self._effects.append(Send(effect.to, msgspec.structs.replace(effect.message, features=advertised)))
            elif isinstance(effect, Send | PersistGeneration | PersistRejoin | Log):
                if isinstance(effect, Send) and isinstance(effect.message, Accept) and not effect.message.ok:
                    refusal = effect.message
                    self.events.view_refused(now, refusal.view.seq, f"Q-1: {refusal.reason or refusal.code}")
                self._effects.append(effect)
            elif isinstance(effect, ViewInstalled):
                view_change = True
                effect = self._checked_view(now, effect)
                self.events.view_installed(now, effect)
                for gone in effect.left | effect.failed:  # its next run may have another clock
                    self.clock.forget(gone)
                coordinator = m.is_coordinator
                self.fencing.on_view(now, effect, m.stamps(), coordinator=coordinator)
                self.services.on_view(now, effect, coordinator=coordinator)
                self.locks.on_view(now, effect, coordinator=coordinator)
            elif isinstance(effect, QuorumChanged) and effect.quorate != m.quorum.quorate:
                continue  # overtaken in this same instant (the disk's votes did not hold for the new view)
            elif isinstance(effect, QuorumChanged):
                view_change = True
                self.events.quorum(now, quorate=effect.quorate, reason=effect.reason)
                self._log(
                    "quorum regained, resuming activity" if effect.quorate else "quorum lost, blocking activity",
                    "info" if effect.quorate else "warning",
                )
                self.fencing.on_quorum(now, quorate=effect.quorate, coordinator=m.is_coordinator)
                self.locks.on_quorum(
                    now, quorate=effect.quorate, coordinator=m.is_coordinator, view=m.view, members=m.members
                )
                if not effect.quorate:
                    self._emergency_stop(now, effect.reason)
                elif not any(isinstance(e, ViewInstalled) for e in effects):
                    # Quorum came back within the same view (the quorum disk's votes returned): the resource
                    # manager starts again as it would on a new view, asking every member what it runs.
                    same = ViewInstalled(m.view, m.members, frozenset(), frozenset(), frozenset(), True, effect.reason)
                    self.services.on_view(now, same, coordinator=m.is_coordinator)
            elif isinstance(effect, Killed):
                self._log(effect.reason, "warning")
                self._self_fence(now, effect.reason)
            elif isinstance(effect, Evicted):
                view_change = True
                self.events.evicted(now, effect.reason)
                self.fencing.on_quorum(now, quorate=False, coordinator=False)
                self.locks.drop_all(now, effect.reason)
                self._emergency_stop(now, effect.reason)
        if view_change:
            self._witness_view(now)
            if self.qdisk is not None:
                self.qdisk.membership_changed(now, m.members, m.quorum.quorate)
            self.config_dist.on_view(now, m.members, m.view.coord, m.quorum.quorate)
            self.keys.on_view(now, m.view.seq, m.members, quorate=m.quorum.quorate)
            self.requests.view_changed(now)
        return bool(effects)

    def _checked_view(self, now: float, view: ViewInstalled) -> ViewInstalled:
        """A new view's quorum may rest on the quorum disk's votes, granted for the old view; the disk decides
        whether they still hold (the master must be in the view, S4) before anyone acts on the view: otherwise a
        partition would fence and place services with votes it no longer has."""
        m = self.membership
        if self.qdisk is not None and m.qdisk_votes:
            self.qdisk.membership_changed(now, view.members, m.quorum.quorate)
            self._route_qdisk(now)
        self._witness_view(now)
        if view.quorate != m.quorum.quorate:
            return replace(view, quorate=m.quorum.quorate, reason=f"{view.reason}; then: {m.quorum.reason}")
        return view

    def _route_qdisk(self, now: float) -> bool:
        effects = self.disk.take_effects()
        # What takes votes away goes first: a decision in the same batch (a kill request) must not be made by a
        # node whose quorum that batch withdraws.
        effects.sort(key=lambda e: 0 if isinstance(e, SetVotes) and e.votes == 0 else 1)
        for effect in effects:
            if isinstance(effect, SetVotes):
                self.membership.set_qdisk_votes(now, effect.votes, resized=self.disk.resized(effect.votes))
            elif isinstance(effect, KillNode) and effect.nodeid not in self.membership.members:
                self._log(f"qdisk: node {effect.nodeid} is dead on disk and already out of the view: no new fence")
            elif isinstance(effect, KillNode):
                self._add_victim(now, effect.nodeid, effect.reason)
                self._order_out(now, effect.nodeid)
            elif isinstance(effect, Reboot):
                self._log(f"quorum disk self-fence: {effect.reason}", "warning")
                self._self_fence(now, effect.reason)
            elif isinstance(effect, StopCman):
                self._log(f"quorum disk asks to leave the cluster: {effect.reason}", "warning")
                self._self_fence(now, effect.reason)
            elif isinstance(effect, Log):
                self._effects.append(Log(f"qdisk: {effect.text}", effect.level))
            elif isinstance(effect, OpenDisk | ReadDisk | WriteDisk | CloseDisk | DiskStatusFile | RunHeuristic):
                self._effects.append(effect)
        return bool(effects)

    def _route_witness(self, now: float) -> bool:
        if self.witness is None:
            return False
        effects = self.witness.take_effects()
        effects.sort(key=lambda e: 0 if isinstance(e, WitnessVotes) and e.votes == 0 else 1)
        for effect in effects:
            if isinstance(effect, WitnessVotes):
                self.membership.set_qdisk_votes(now, effect.votes, device="witness")
            elif isinstance(effect, SendToWitness | Log):
                self._effects.append(effect)
        return bool(effects)

    def _witness_view(self, now: float) -> None:
        """Tell the witness client the current view before anyone acts on it: a vote the view may not keep goes."""
        w, m = self.witness, self.membership
        if w is None or (w.client.view, w.client.members) == (m.view, m.members):
            return
        w.view_changed(now, m.view, m.members)
        self._route_witness(now)

    def _route_fencing(self, now: float) -> bool:
        effects = self.fencing.take_effects()
        for effect in effects:
            if isinstance(effect, FenceConfirmed):
                record = effect.record
                self.events.fence_confirmed(
                    now, record.nodeid, method=record.method, by=record.by, detail=record.detail
                )
                for watch in self.watchers:
                    watch(now, effect)
                self.membership.bar_until_restart(effect.record.nodeid, effect.record.boot)
                self.services.tick(now)
                self.locks.tick(now)
            elif isinstance(effect, RunFence | CancelFence | Send | Log):
                if isinstance(effect, RunFence) and (victim := self.fencing.victims.get(effect.nodeid)):
                    self.events.fence_run(now, effect.nodeid, victim.reason, victim.attempts + 1)
                self._effects.append(effect)
        return bool(effects)

    def _route_services(self, now: float) -> bool:
        effects = self.services.take_effects()
        self._services_moved |= bool(effects)
        for effect in effects:
            if isinstance(effect, StartLocal) and self.local.leaving:
                # Refused as a failed start: the coordinator places the service on another node.
                refused = ServiceDone(effect.service, effect.cmd, Action.START, ExecOutcome.START_FAILED,
                                      "this node is leaving the cluster")  # fmt: skip
                self._service_done(now, refused)
            elif isinstance(effect, StartLocal):
                self.local.effects.append(StartService(effect.service, effect.cmd))
            elif isinstance(effect, StopLocal):
                self.local.effects.append(StopService(effect.service, effect.cmd, StopWhy.COMMAND))
            elif isinstance(effect, FenceForService) and effect.nodeid == self.local_id:
                # A stop failed here and this node coordinates: nobody else will fence it, so it fences itself.
                self._self_fence(now, effect.reason)
            elif isinstance(effect, FenceForService):
                self._add_victim(now, effect.nodeid, effect.reason)
            elif isinstance(effect, RequestDone):
                self.requests.service_done(effect)
            elif isinstance(effect, Send | Log):
                self._effects.append(effect)
        return bool(effects)

    def _route_locks(self, now: float) -> bool:
        effects = self.locks.take_effects()
        for effect in effects:
            if isinstance(effect, LockGranted | LockDenied | LockReleased | LockLost | Send | Log):
                self._effects.append(effect)
        return bool(effects)

    def _route_config(self, now: float) -> bool:
        effects = self.config_dist.take_effects()
        for effect in effects:
            if isinstance(effect, PushDone):
                self.requests.push_done(effect)
            elif isinstance(effect, Send | Log | Stage | Activate | Adopt | Discard):
                if isinstance(effect, Stage):
                    self.events.config_stage(effect.tx, effect.version)
                elif isinstance(effect, Activate):
                    self.events.config(now, "activated", effect.version, effect.why)
                elif isinstance(effect, Discard):
                    self.events.config_discarded(now, effect.tx, effect.why)
                self._effects.append(effect)
        return bool(effects)

    def _route_keys(self, now: float) -> bool:
        effects = self.keys.take_effects()
        for effect in effects:
            if isinstance(effect, Send | Log):
                self._effects.append(effect)
            else:
                self.key_effects.append(effect)
        return bool(effects)

    # -------------------------------------------------------------------------------------- key rotation

    def rotate_key(self, key: bytes, grace: int, now: float) -> str | None:
        """``quorate key rotate`` here, with a fresh random ``key`` from the shell: None, or why it is refused."""
        m = self.membership
        refusal = self.features.refusal(KEY_ROTATION, m.members, self.settings.names)
        if self.settings.witness is not None:  # it authenticates this cluster with its own copy of the key
            refusal = ("the quorum witness holds a copy of the cluster key and would refuse the new one: stop the "
                       "cluster, install a new key on every node and on the witness, then start it")  # fmt: skip
        answer = self.keys.rotate(now, key, grace, quorate=m.quorum.quorate, refusal=refusal)
        self._process(now)
        return answer

    def fetch_key(self, nonce: int, now: float) -> None:
        """``quorate key fetch`` here: ask every configured node for the key (answered by a `FetchDone`)."""
        self.keys.fetch(now, nonce, self.settings.names)
        self._process(now)

    def key_written(self, report: KeyWritten, now: float) -> None:
        self.keys.written(now, report)
        self._process(now)

    def retired_datagram(self, payload: bytes, sender: int, now: float) -> None:
        """A datagram from ``sender`` that only the retired key opens: a key fetch at most."""
        try:
            message = decode(payload)
        except MalformedMessage:
            return
        self.keys.fetch_request(now, sender, message)
        self._process(now)

    def take_key_effects(self) -> list[KeyEffect]:
        effects, self.key_effects = self.key_effects, []
        return effects

    def _route_local(self, now: float) -> bool:
        effects = self.local.take() + self.requests.take()
        self._effects.extend(effects)
        return False  # external only: nothing here feeds another core

    # -------------------------------------------------------------------------------------- decisions

    def _service_done(self, now: float, report: ServiceDone) -> None:
        if report.cmd:  # a commanded start or stop (not the start-up stops, nor the emergency ones)
            self.events.service_done(now, report.service, report.outcome.value, report.detail)
        forward = self.local.done(report, self.services.specs)
        # The initial stops may all be done now.
        self.membership.set_dirty(now, self.local.dirty, stopping=self.local.stopping)
        if self.local.reported_changed:  # a restart for a new configuration ended with nothing running here
            self.local.reported_changed = False
            self.services.local_state(now, self.local.reported())
        self.requests.services_changed(now)
        if forward is None:
            return
        if forward.cmd == 0 and forward.action is Action.START:
            self.services.executor_report(now, forward.service, 0, "status_failed", forward.detail)
        else:
            self.services.executor_report(now, forward.service, forward.cmd, forward.outcome.value, forward.detail)
        self.requests.services_changed(now)

    def _emergency_stop(self, now: float, reason: str) -> None:
        """S2: a node outside a quorate view stops what it runs, at once, without asking anyone."""
        self.services.on_quorum_lost(now, reason)
        self.local.stop_everything(StopWhy.EMERGENCY, reason)

    def _self_fence(self, now: float, reason: str) -> None:
        """Stop what runs, then die without a clean leave: the others see a failure and fence this node."""
        if self.halted is not None:
            return
        self.halted = reason
        self._log(f"self-fence: {reason}", "warning")
        self.local.stop_everything(StopWhy.EMERGENCY, reason)
        self._effects.append(SelfFence(reason))

    def _order_out(self, now: float, nodeid: int) -> None:
        """A member dead on the quorum disk is also told to leave, as qdiskd had cman kill it: only the
        coordinator fences, and a victim that is the coordinator would otherwise stay in the view (and keep its
        services) until its disk came back; once it stops as a failure the next coordinator fences it."""
        try:
            self.membership.kill(now, nodeid)
        except MembershipError as exc:
            self._log(f"qdisk: cannot order node {nodeid} out of the view: {exc}", "warning")

    def _add_victim(self, now: float, nodeid: int, reason: str) -> None:
        boot, incarnation = self.membership.stamps().get(nodeid, (0, 0))
        self.fencing.add_victim(now, nodeid, boot, incarnation, reason, force=True)

    # ------------------------------------------------------------------------------------ quorum disk

    @property
    def qdisk(self) -> QdiskDriver | None:
        """The running quorum-disk service (one start of it), if the configuration has one."""
        return self.disk.driver

    @property
    def qdisk_deferred(self) -> str | None:
        return self.disk.deferred

    @staticmethod
    def _witness_driver(settings: NodeSettings, now: float, boot: int) -> WitnessDriver | None:
        if settings.witness is None:
            return None
        return WitnessDriver(
            settings.witness,
            cluster=settings.cluster_name,
            cluster_id=settings.cluster_id,
            local_id=settings.local_id,
            node_count=len(settings.membership.nodes),
            now=now,
            boot=boot,
        )

    def _disk_holds_quorum(self) -> bool:
        m = self.membership
        q = m.quorum
        return self.qdisk is not None and q.quorate and m.qdisk_votes > 0 and q.total_votes - m.qdisk_votes < q.quorum

    def _reconfigure(self, now: float, event: ConfigActivated) -> None:
        """A new cluster.conf is active: every core takes it without a restart."""
        old, new = self.settings, event.settings
        self.settings = new
        self.membership.reconfigure(now, new.membership)
        self.fencing.config = new.fencing
        self.local.reconfigure(event.service_changes)
        self.services.reconfigure(now, dict(new.services))
        logs, removed = self.disk.reconfigure(now, old, event, holds_quorum=self._disk_holds_quorum())
        self._effects.extend(logs)
        if removed:  # no disk any more: the quorum is what the nodes' votes alone give (Q-3)
            self.membership.set_qdisk_votes(now, 0, resized=True)
        if old.witness != new.witness:  # the witness service restarts with its new settings
            if self.witness is not None:
                self.witness.stop()
                self._route_witness(now)
            self.witness = self._witness_driver(new, now, self.boot)
            self._witness_view(now)
        self.config_dist.activated(new.membership.config_version, event.data)

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))

    def _settle_events(self, now: float) -> None:
        """What changed in the cores' state during this input, as decision events (`events_derive`)."""
        q, disk = self.membership.quorum, self.qdisk
        master = disk.core.master if disk is not None and disk.core is not None else None
        facts = None
        if self._services_moved and self.services.acting:
            # Rows as plain tuples first: with M records and an input every few milliseconds, building the facts
            # only when a row changed keeps this O(M) step cheap (unchanged rows would derive no event).
            rows = {
                r.name: (r.state, r.owner, r.last_owner, r.restarts, r.reason, r.then.value, r.held, r.target)
                for r in self.services.records.values()
            }
            if rows != self._service_rows:
                before, known = self._service_rows or {}, self._service_facts
                fresh = service_facts((name, *row) for name, row in rows.items() if before.get(name) != row)
                facts = {name: fresh.get(name) or known[name] for name in rows}
                self._service_rows, self._service_facts = rows, facts
        if not self.services.acting:
            self._service_rows = None  # the events forget the records too: the next coordinating period starts afresh
            self._service_facts = {}
        self._services_moved = False
        role = self.fencing.role
        self.events.settle(
            now,
            votes=(q.total_votes, q.expected_votes, q.quorum),
            qdisk=(master, self.membership.qdisk_votes),
            victims={n: v.reason for n, v in self.fencing.victims.items()},
            fencing=role.coordinator and role.quorate,
            services=facts,
            acting=self.services.acting,
        )

    def take_events(self) -> list[Event]:
        """The decision events since the last call (the shell stamps, logs, journals and counts them)."""
        return self.events.take()

    # ------------------------------------------------------------------------------------------ helpers

    def _heard_stopping(self, now: float) -> frozenset[int]:
        """Nodes outside the view heard within the token that say they are stopping services: their start-up stops
        (R-30) or the stops of a quorum loss (what fencing waits for at start-up, F-14)."""
        m = self.membership
        token = m.config.token
        return frozenset(
            nodeid
            for nodeid, peer in m.peers.items()
            if nodeid not in m.members
            and peer.flags & FLAG_STOPPING
            and peer.last_rx is not None
            and now - peer.last_rx <= token
        )

    def node_name(self, nodeid: int) -> str:
        return self.settings.names.get(nodeid, f"node {nodeid}")

    def node_id(self, name: str) -> int | None:
        """A configured node by name, short name or id (as the command lines accept them)."""
        for nodeid, full in self.settings.names.items():
            if name in (full, full.split(".")[0], str(nodeid)):
                return nodeid
        return None

    def running(self) -> Mapping[str, str]:
        return dict(self.local.running)
