"""Membership: heartbeats, failure detection, and views agreed in two phases (what cman and totem did).

Theory of operation
-------------------
Inputs are datagrams (already authenticated, with the sender's node id), administrator commands and the
passing of time; every method takes ``now``, a monotonic time in seconds chosen by the caller. Outputs are
effects (`quorate.core.effects`) and `next_deadline()`. Nothing here reads a clock, a socket or a disk.

`Membership` is a façade over four parts that share one `MembershipState` (view, members, quorum verdict,
incarnation, peer records, the outbox of effects) and otherwise talk through narrow methods:

* `membership_hearing`: failure detection; which peers this node hears and reports in its heartbeats
  (a token of silence loses a peer; a settle time after a lost link of a live process; a restart counts at once);
* `membership_agreement`: the plan of groups, the coordinator's hold times, proposals, accepts (refusals carry
  a code), commits and installs, and who joined, left cleanly or failed in each view;
* `membership_votes`: expected votes (`cman_tool expected`, leave with remove), quorum-disk votes and the
  quorum recomputations with their flips;
* `membership_admission`: which runs of which nodes are refused (fenced, stale, dirty outside the view,
  another configuration), stale-run resets and eviction of this node, and kill orders.

The façade routes each input to the parts, composes the heartbeat (each part contributes a field), carries
out what changes several parts at once (a leave, a join, an eviction, a reconfiguration), and after every
input lets hearing and agreement re-evaluate. A node that announced `Leave` left cleanly; any other departure
is a failure, which the fencing layer will act on.

What membership deliberately does not know: the quorum disk (a vote count is fed in), fencing and resources
(they consume the effects), and addresses (the shell maps node ids to sockets).
"""

from __future__ import annotations

import msgspec

from quorate.core.effects import Effect, Evicted, QuorumChanged, Send
from quorate.core.membership_admission import Admission
from quorate.core.membership_agreement import Agreement
from quorate.core.membership_hearing import Hearing
from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import (
    TRANSITIONS,
    Event,
    MembershipConfig,
    MembershipError,
    MembershipStatus,
    NodeSpec,
    NodeStatus,
    Peer,
    Round,
    State,
)
from quorate.core.membership_votes import Votes
from quorate.core.messages import (
    FLAG_DIRTY,
    FLAG_QUORATE,
    FLAG_STOPPING,
    Accept,
    Commit,
    Heartbeat,
    Kill,
    Leave,
    Message,
    Propose,
    SetExpected,
    ViewId,
)
from quorate.core.quorum import QuorumResult, QuorumTracker
from quorate.core.quorum_policies import Reference

__all__ = [
    "TRANSITIONS",
    "Event",
    "Membership",
    "MembershipConfig",
    "MembershipError",
    "MembershipStatus",
    "NodeSpec",
    "NodeStatus",
    "State",
]


def _routine_form(hb: Heartbeat) -> Heartbeat:
    """A heartbeat without what changes in every one (its number, the clock stamps): what routine ones share."""
    return msgspec.structs.replace(hb, number=0, wall=0.0, echo=())


class Membership:
    """One node's membership and quorum state machine. Feed inputs, then drain `take_effects()`."""

    def __init__(
        self,
        config: MembershipConfig,
        local_id: int,
        *,
        boot: int,
        now: float,
        highest_seq: int = 0,
        incarnation: int = 0,
        rejoin: tuple[int, frozenset[int]] = (0, frozenset()),
    ) -> None:
        tracker = QuorumTracker(
            two_node=config.two_node,
            wait_for_all=config.wait_for_all,
            all_node_ids=frozenset(n.nodeid for n in config.nodes),
            policies=config.policies,
        )
        outside = tracker.evaluate(member_votes={}, expected=config.expected_votes, qdisk_votes=0)
        self._state = state = MembershipState(
            config, local_id, boot=boot, incarnation=incarnation, highest_seq=highest_seq, quorum=outside
        )
        self._votes = Votes(state, tracker, rejoin=rejoin, send_heartbeat=self._send_heartbeat)
        self._admission = Admission(state, send_heartbeat=self._send_heartbeat)
        self._hearing = Hearing(state, held_back=self._admission.must_catch_up)
        self._agreement = Agreement(
            state,
            hearing=self._hearing,
            votes=self._votes,
            admission=self._admission,
            now=now,
            send_heartbeat=self._send_heartbeat,
        )
        self.last_heartbeat: float | None = None
        # Where the heartbeat grid sits on this node's clock (see `heartbeat_due`); None: no grid. The daemon
        # sets it; the simulators keep their traces without one.
        self.heartbeat_phase: float | None = None
        self.hb_number = 0
        # Routine heartbeats (`routine_heartbeat`): per peer, the last heartbeat (without its number and clock
        # stamps) whose whole handling changed nothing here. Emptied by anything that may change what handling
        # the next one would do: another message, a change found by an evaluation, a command, a vote.
        self._routine: dict[int, Heartbeat] = {}
        self.left_at: float | None = None
        self.leave_remove = False
        self._last_eval = now
        self._evaluate(now)

    # ----------------------------------------------------------------- what others read

    @property
    def config(self) -> MembershipConfig:
        return self._state.config

    @property
    def local_id(self) -> int:
        return self._state.local_id

    @property
    def local(self) -> NodeSpec:
        return self._state.local

    @property
    def boot(self) -> int:
        return self._state.boot

    @property
    def incarnation(self) -> int:
        return self._state.incarnation

    @property
    def state(self) -> State:
        return self._state.state

    @property
    def view(self) -> ViewId:
        return self._state.view

    @property
    def members(self) -> frozenset[int]:
        return self._state.members

    @property
    def promised(self) -> ViewId:
        return self._state.promised

    @property
    def highest_seq(self) -> int:
        return self._state.highest_seq

    @property
    def quorum(self) -> QuorumResult:
        return self._state.quorum

    @property
    def reason(self) -> str:
        return self._state.reason

    @property
    def dirty(self) -> bool:
        return self._state.dirty

    @property
    def peers(self) -> dict[int, Peer]:
        return self._state.peers

    @property
    def qdisk_votes(self) -> int:
        return self._votes.qdisk_votes

    @property
    def reference(self) -> Reference:
        """The nodes this node judges views against under a quorum policy (`quorum_policies`)."""
        return self._votes.reference

    @property
    def my_expected(self) -> int:
        return self._votes.my_expected

    @property
    def rejoin_expected(self) -> int:
        return self._votes.rejoin_expected

    @property
    def rejoin_awaiting(self) -> frozenset[int]:
        return self._votes.rejoin_awaiting

    @property
    def round(self) -> Round | None:
        return self._agreement.round

    @property
    def joined_seq(self) -> int:
        return self._agreement.joined_seq

    @property
    def joined_at(self) -> float | None:
        return self._agreement.joined_at

    @property
    def killed_by(self) -> str | None:
        return self._admission.killed_by

    # ----------------------------------------------------------------- inputs

    def receive(self, now: float, sender: int, message: Message) -> None:
        """Handle one authenticated, decoded message from node `sender`."""
        peer = self._state.peers.get(sender)
        if peer is None:
            return  # the shell only passes configured senders; a config change may race
        steady, emitted = self._steady(), len(self._state.effects)
        self._hearing.note_alive(now, peer)
        if isinstance(message, Heartbeat):
            self._on_heartbeat(now, peer, message)
        elif isinstance(message, Propose):
            self._agreement.on_propose(now, peer, message)
        elif isinstance(message, Accept):
            self._agreement.on_accept(now, peer, message)
        elif isinstance(message, Commit):
            self._agreement.on_commit(now, peer, message)
        elif isinstance(message, Leave):
            self._on_leave(now, peer, message)
        elif isinstance(message, SetExpected):
            self._votes.on_set_expected(now, peer, message)
        elif isinstance(message, Kill):
            self._admission.on_kill(peer, message)
        self._evaluate(now)
        if (
            isinstance(message, Heartbeat)
            and steady
            and self._routine_kept(emitted)
            and peer.hb_number == message.number
            and sender in self._hearing.reported
        ):
            self._routine[sender] = _routine_form(message)
        else:
            self._routine.clear()

    def routine_heartbeat(self, now: float, sender: int, hb: Heartbeat) -> bool:
        """Take ``hb`` the short way if it is routine: the same, but for its number and stamps, as the sender's
        last heartbeat, whose whole handling changed nothing, and nothing has changed here since. Its handling
        would again change nothing but the sender's receive time, so only that is recorded (and this node's own
        heartbeat goes out if it is due, as the evaluation would send it). False: nothing was done, hand it to
        `receive`.

        Why: in a quiet cluster nearly every datagram is such a heartbeat (at a 300 ms token, 33 a second on each
        node of three), and the whole path (hearing, the plan, admission, the node core's routing, every core's
        deadline) was most of the daemon's idle CPU. The caller must also know that no deadline of any core
        other than this heartbeat falls at or before ``now`` (`NodeCore`), so no timed action is skipped."""
        known = self._routine.get(sender)
        if known is None:
            return False
        peer = self._state.peers[sender]
        if peer.boot != hb.boot or hb.number <= peer.hb_number or peer.last_rx is None:
            return False
        if now - peer.last_rx > self._state.config.token or _routine_form(hb) != known:
            return False
        peer.last_rx = now  # alive and heard: of `note_alive`, only this moves
        peer.hb_number = hb.number
        self._periodic_heartbeat(now)
        return True

    def routine_tick(self, now: float) -> bool:
        """Let time pass the short way when only this node's own heartbeat is due (the caller knows no other
        deadline of any core has come): send it. False: nothing was done, call `tick`. Only while the cluster is
        steady and nothing has changed since the last evaluation (some peer's heartbeat is routine)."""
        if not self._routine or not self._steady():
            return False
        self._periodic_heartbeat(now)
        return True

    def _periodic_heartbeat(self, now: float) -> None:
        """What an evaluation that finds nothing changed does: note the time, send the heartbeat if due."""
        self._last_eval = now
        if self.last_heartbeat is not None and now >= self.heartbeat_due():
            self._emit_heartbeat(now)

    def _steady(self) -> bool:
        """A member of a settled view with no round and no change planned: the only state routine handling serves."""
        state = self._state
        return (
            state.state is State.MEMBER
            and self._agreement.round is None
            and self._agreement.desired == state.members
            and not state.config.policies.last_man_standing
        )

    def _routine_kept(self, emitted: int) -> bool:
        """After an evaluation: still steady, and nothing was said beyond this node's periodic heartbeats (a part
        that changes something says so: a log line, a message, or a heartbeat through `_send_heartbeat`, which
        empties the routine itself)."""
        new = self._state.effects[emitted:]
        return self._steady() and all(isinstance(e, Send) and isinstance(e.message, Heartbeat) for e in new)

    def tick(self, now: float) -> None:
        """Let time pass: the shell calls this at (or after) `next_deadline()`."""
        emitted = len(self._state.effects)
        self._evaluate(now)
        if not self._routine_kept(emitted):
            self._routine.clear()

    def lms_tick(self, now: float, *, fencing_pending: bool) -> None:
        """Last man standing's clock (Q-13): `fencing_pending` while any lost node still waits to be fenced."""
        self._routine.clear()
        if self._state.state is not State.LEFT:
            self._votes.lms_tick(now, fencing_pending=fencing_pending)
            self._evaluate(now)

    def set_qdisk_votes(self, now: float, votes: int, *, resized: bool = False, device: str = "quorum disk") -> None:
        """The quorum-disk layer grants (votes > 0) or withdraws (0) the disk's votes for this node.

        ``resized``: the grant is the first at a new ``<quorumd votes>`` from a pushed configuration, which Q-3
        recomputes with decrease allowed (otherwise fewer disk votes would leave the quorum where the old, larger
        number had put it, and the last node standing would no longer be quorate with the disk)."""
        self._routine.clear()
        self._votes.set_qdisk_votes(now, votes, resized=resized, device=device)
        self._evaluate(now)

    def reconfigure(self, now: float, config: MembershipConfig) -> None:
        """A new cluster.conf is active: nodes, votes, expected votes, token and the version heartbeats carry.

        Why no restart: cman re-read its file on `ccs_tool update` and recomputed quorum at once; quorate does
        the same. Removing a node that is still a member is refused before distribution (it must leave first),
        so here a removed node is never in the view. The quorum floor may drop: the administrator said so.
        """
        self._routine.clear()
        state = self._state
        removed = {nodeid for nodeid in state.peers if all(n.nodeid != nodeid for n in config.nodes)}
        if removed & state.members:
            raise MembershipError(f"cannot remove members {state.names(removed & state.members)} from the view")
        state.adopt_config(config)
        self._votes.reconfigure(now, config)
        self._send_heartbeat(now)
        self._evaluate(now)

    def set_dirty(self, now: float, dirty: bool, *, stopping: bool = False) -> None:
        """Upper layers say whether this node holds cluster state (resources, locks, fence domain), and whether
        stops are in progress (it will be clean soon: FLAG_STOPPING). Unchanged, nothing here changes: the
        routine stays (a change sends a heartbeat, which ends it)."""
        if (dirty, stopping) != (self._state.dirty, self._state.stopping):
            self._state.dirty, self._state.stopping = dirty, stopping
            self._send_heartbeat(now)

    def leave(self, now: float, *, remove: bool = False, force: bool = False) -> None:
        """`cman_tool leave`: depart cleanly, so that nobody fences this node."""
        self._routine.clear()
        state = self._state
        if state.state is State.LEFT:
            raise MembershipError("not a member of the cluster (already left)")
        if state.dirty and not force:
            raise MembershipError(
                "cluster state is held on this node (services or locks); stop them first or use force"
            )
        if remove:
            self._votes.leaving_with_remove()
        state.transition(Event.LEAVE)
        self.left_at = now
        self.leave_remove = remove
        self._agreement.abandon()
        was_quorate = state.quorum.quorate
        state.drop_view()
        self._votes.outside_view(self._votes.my_expected)
        state.reason = "left the cluster cleanly" + (" (remove)" if remove else "")
        state.log(state.reason)
        if was_quorate:
            state.emit(QuorumChanged(False, state.reason))
        self.last_heartbeat = now
        self._send_leave()
        self._evaluate(now)

    def kill(self, now: float, nodeid: int) -> None:
        """`cman_tool kill -n NODE`: order a member of this view out; it stops as a failure and is fenced (Q-9)."""
        self._routine.clear()
        self._admission.order_kill(nodeid)
        self._evaluate(now)

    def join(self, now: float) -> None:
        """`cman_tool join` after a leave: come back as a new incarnation that claims nothing."""
        self._routine.clear()
        state = self._state
        if state.state is not State.LEFT:
            raise MembershipError("already a member of the cluster (or joining)")
        state.transition(Event.JOIN)
        state.incarnation += 1
        self.left_at = None
        self._agreement.replan_from(now)
        state.reason = "joining the cluster"
        state.log(state.reason)
        self._send_heartbeat(now)
        self._evaluate(now)

    def set_expected(self, now: float, expected: int) -> None:
        """`cman_tool expected -e N`: validated here, then applied by every member (Q-6)."""
        self._routine.clear()
        if not self._state.members:
            raise MembershipError("not a member of a view")
        self._votes.set_expected(now, expected)
        self._evaluate(now)

    def bar_until_restart(self, nodeid: int, boot: int) -> None:
        """A fenced run of a node stays out until its daemon restarts (Q-12 and S3: no rejoin with stale state)."""
        self._routine.clear()
        self._admission.bar_until_restart(nodeid, boot)

    # ---------------------------------------------------------------- outputs

    def take_effects(self) -> list[Effect]:
        effects, self._state.effects = self._state.effects, []
        return effects

    def stamps(self) -> dict[int, tuple[int, int]]:
        """(boot, incarnation) of every peer as last heard: which run of a node failed, for fencing."""
        return {nodeid: peer.failed_stamp or peer.stamp for nodeid, peer in self._state.peers.items()}

    def next_deadline(self) -> float | None:
        """The earliest time after the last evaluation at which `tick` has something to do."""
        times = [t for t in (self.heartbeat_deadline(), self.other_deadline()) if t is not None]
        return min(times) if times else None

    def heartbeat_deadline(self) -> float | None:
        """When the next periodic heartbeat (or repeated Leave) is due, if one is (`next_deadline`'s first part)."""
        state = self._state
        if self.last_heartbeat is not None and (
            state.state is not State.LEFT
            or (self.left_at is not None and self.last_heartbeat < self.left_at + state.config.token)
        ):
            due = self.heartbeat_due()
            return due if due > self._last_eval else None
        return None

    def routine_until(self, other: float | None) -> float | None:
        """Until when (exclusive) routine inputs may skip the evaluation: before a heard peer could be found
        silent (`Hearing.last_alive`, whether or not that time was evaluated already) and before ``other``, the
        `other_deadline` of this moment (the caller has it already)."""
        times = [t for t in (self._hearing.last_alive(), other) if t is not None]
        return min(times) if times else None

    def other_deadline(self) -> float | None:
        """The earliest of the rest of `next_deadline`: a peer falling silent or settling, a round's timers."""
        times = self._hearing.deadlines()
        times.extend(self._agreement.deadlines())
        # Everything due at or before the last evaluation has been handled then; never spin on it.
        future = [t for t in times if t > self._last_eval]
        return min(future) if future else None

    def heartbeat_due(self) -> float:
        """When the next periodic heartbeat (or repeated Leave) goes out: the last grid point at or before one
        interval after the last one, the grid being every interval from `heartbeat_phase` (without a phase: one
        interval after the last one).

        Never later than one interval after the last heartbeat, so failure detection keeps its margin: a peer
        still hears this node at least once per interval, as without a grid. Only the phase is chosen: when the
        nodes' grids coincide (the shell derives the phase from the wall clock, which NTP keeps within
        milliseconds across nodes), the nodes send in the same instant, so a node's own heartbeat mostly goes out
        while it handles a peer's (no wakeup of its own) and the peers' datagrams find it with warm caches. A
        heartbeat sent off the grid (a change is said at once) makes the next one come sooner, never later."""
        last = self.last_heartbeat
        assert last is not None
        interval = self._state.config.heartbeat_interval
        phase = self.heartbeat_phase
        if phase is None:
            return last + interval
        due = phase + ((last + interval - phase) // interval) * interval
        if due <= last + interval * 1e-6:  # a heartbeat sent on the grid point itself (rounding included)
            due += interval
        return min(due, last + interval)

    def status(self, now: float) -> MembershipStatus:
        joined = (self._agreement.joined_seq, self._agreement.joined_at)
        return self._state.status(now, reported=self._hearing.reported, refusal=self._admission.refusal, joined=joined)

    @property
    def is_coordinator(self) -> bool:
        """True when this node may decide for the cluster (S2): coordinator of a quorate, settled view."""
        state = self._state
        return (
            state.state is State.MEMBER
            and state.view.coord == state.local_id
            and state.quorum.quorate
            and state.promised == state.view
        )

    def check_invariants(self) -> None:
        """Local consistency; the simulator checks the cross-node ones."""
        state = self._state
        if state.state is State.MEMBER and state.local_id not in state.members:
            raise AssertionError(f"node {state.local_id} is a member of a view that does not contain it")
        if state.quorum.quorate:
            votes = sum(state.votes_of(state.members).values()) + self._votes.qdisk_votes
            tie_broken = state.quorum.policy.startswith("auto_tie_breaker")  # an exact half, Q-14
            if votes < state.quorum.quorum and not tie_broken:
                raise AssertionError(
                    f"node {state.local_id} calls itself quorate with {votes} votes < quorum {state.quorum.quorum}"
                )
        if state.promised < state.view:
            raise AssertionError(f"node {state.local_id} runs view {state.view} above its promise {state.promised}")

    # ------------------------------------------------------------- heartbeats and leaves

    def _on_heartbeat(self, now: float, peer: Peer, hb: Heartbeat) -> None:
        if peer.boot is not None and hb.boot < peer.boot:
            return  # a datagram from a previous life of that node, delivered late
        if hb.boot == peer.boot and hb.number <= peer.hb_number:
            return  # overtaken by a newer heartbeat: its picture of the cluster is stale
        peer.hb_number = hb.number
        if peer.boot is not None and hb.boot != peer.boot:
            # The peer restarted: a new process claims nothing, so old records no longer apply to it.
            peer.failed_stamp = None
            peer.left_stamp = None
            self._hearing.restarted(now, peer)
        peer.boot = hb.boot
        peer.incarnation = hb.incarnation
        peer.hears = frozenset(hb.hears)
        peer.view = hb.view
        peer.members = frozenset(hb.members)
        peer.promised = hb.promised
        expected_changed = peer.expected != hb.expected
        lowered = 0 < hb.expected < peer.expected
        peer.expected = hb.expected
        peer.config_version = hb.config_version
        peer.config_digest = hb.config_digest
        peer.flags = hb.flags
        self._state.see_seq(max(hb.view.seq, hb.promised.seq))
        if expected_changed and peer.spec.nodeid in self._state.members:
            self._votes.peer_announced(now, peer, lowered=lowered)
        self._agreement.on_heartbeat(now, peer, hb)
        self._admission.check_stale(now, peer, hb)
        eviction = self._admission.check_eviction(now, peer)
        if eviction is not None:
            self._evict(now, eviction)

    def _on_leave(self, now: float, peer: Peer, msg: Leave) -> None:
        if peer.left_stamp == (peer.boot or 0, msg.incarnation):
            return
        peer.left_stamp = (peer.boot or 0, msg.incarnation)
        peer.incarnation = msg.incarnation
        self._state.log(f"{peer.spec.name} is leaving the cluster cleanly" + (" (remove)" if msg.remove else ""))
        self._votes.peer_left(now, peer, remove=msg.remove)

    def _send_heartbeat(self, now: float) -> None:
        """A heartbeat now, to say a change (the parts call this when they change what it carries)."""
        self._routine.clear()
        self._emit_heartbeat(now)

    def _emit_heartbeat(self, now: float) -> None:
        state = self._state
        if state.state is State.LEFT:
            return
        self.last_heartbeat = now
        self.hb_number += 1
        flags = (FLAG_DIRTY if state.dirty else 0) | (FLAG_QUORATE if state.quorum.quorate else 0)
        flags |= FLAG_STOPPING if state.stopping else 0
        hb = Heartbeat(
            boot=state.boot,
            number=self.hb_number,
            incarnation=state.incarnation,
            hears=tuple(sorted(self._hearing.reported)),
            view=state.view,
            members=tuple(sorted(state.members)),
            promised=state.promised,
            expected=self._votes.announced(),
            config_version=state.config.config_version,
            config_digest=state.config.config_digest,
            flags=flags,
            stale=self._admission.stale_peers(),
        )
        if state.peers:
            state.emit(Send(tuple(sorted(state.peers)), hb))

    def _send_leave(self) -> None:
        if self._state.peers:
            self._state.emit(Send(tuple(sorted(self._state.peers)), Leave(self._state.incarnation, self.leave_remove)))

    def _leave_heartbeats(self, now: float) -> None:
        # Repeat the Leave for one token so that a lost datagram does not turn a clean leave into a failure.
        if self.left_at is None or now > self.left_at + self._state.config.token:
            return
        if self.last_heartbeat is None or now >= self.heartbeat_due():
            self.last_heartbeat = now
            self._send_leave()

    # ------------------------------------------------------------ evaluation

    def _evaluate(self, now: float) -> None:
        self._last_eval = now
        changed = self._hearing.refresh(now)
        if self._state.state is State.LEFT:
            self._leave_heartbeats(now)
            return
        if changed or self.last_heartbeat is None:
            self._send_heartbeat(now)
        elif now >= self.heartbeat_due():
            self._emit_heartbeat(now)  # periodic: says nothing new
        self._agreement.plan(now)

    def _evict(self, now: float, reason: str) -> None:
        """A newer view formed without this node: stop everything and start a new incarnation."""
        state = self._state
        was_quorate = state.quorum.quorate
        state.transition(Event.EVICTED)
        state.drop_view()
        self._agreement.abandon()
        self._votes.outside_view(self._votes.announced())
        state.reason = reason
        state.log(reason, "warning")
        state.emit(Evicted(reason))
        if was_quorate:
            state.emit(QuorumChanged(False, reason))
        state.incarnation += 1
        self._agreement.replan_from(now)
        self._send_heartbeat(now)
