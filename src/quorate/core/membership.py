"""Membership: heartbeats, failure detection, and views agreed in two phases (what cman and totem did).

Theory of operation
-------------------
Inputs are datagrams (already authenticated, with the sender's node id), administrator commands and the
passing of time; every method takes ``now``, a monotonic time in seconds chosen by the caller. Outputs are
effects (`quorate.core.effects`) and `next_deadline()`. Nothing here reads a clock, a socket or a disk.

1. *Hearing.* A node hears a peer while the peer's last datagram is younger than the token timeout. A peer
   whose link was lost while both processes lived (same boot) must be heard continuously for a settle time
   (two tokens) before it counts again: a flapping link cannot make views flap. A restarted peer (new
   boot) counts at once.
2. *Matrix and plan.* Heartbeats carry the set of peers their sender hears; only mutual links count. The
   plan (`connectivity.plan_groups`) splits admissible nodes into cliques; the lowest id of each is its
   coordinator.
3. *Views in two phases.* A coordinator whose group differs from its committed view proposes
   ``ViewId(seq, self)`` with seq above every sequence it has seen (persisted across restarts); each member
   accepts only a view newer than anything it promised, that names it, whose coordinator is the lowest id,
   and whose members it all hears; when every member accepted, the coordinator commits. A view id names
   one member set only, so all nodes that commit a view agree on its members.
4. *Departures.* A node that announced `Leave` left cleanly; any other departure is a failure, which the
   fencing layer will act on. A node that sees a newer committed view without itself, whose members are the
   rest of its own view (or could be quorate on their own), is evicted: it stops everything and starts a
   new incarnation. So does a node whose view loses quorum.
5. *Admission.* A node that failed and comes back with the same incarnation, or that claims state
   (dirty) while outside the view, is refused (cman's "rejoined with existing state" rule, without the
   kill: it stays out until it resets).

What this module deliberately does not know: the quorum disk (a vote count is fed in), fencing and
resources (they consume the effects), and addresses (the shell maps node ids to sockets).
"""

from __future__ import annotations

from quorate.core import connectivity
from quorate.core.effects import (
    Effect,
    Evicted,
    Killed,
    Log,
    PersistGeneration,
    PersistRejoin,
    QuorumChanged,
    Send,
    ViewInstalled,
)
from quorate.core.membership_types import (
    STALE_RUN,
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
from quorate.core.messages import (
    FLAG_DIRTY,
    FLAG_QUORATE,
    NO_VIEW,
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
from quorate.core.quorum import QuorumTracker

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
        self.config = config
        self.local_id = local_id
        self.local = config.spec(local_id)
        self.boot = boot
        self.incarnation = incarnation
        self.state = State.JOINING
        self.view: ViewId = NO_VIEW
        self.members: frozenset[int] = frozenset()
        self.promised: ViewId = NO_VIEW
        self.highest_seq = highest_seq
        self.my_expected = config.expected_votes
        # After `cman_tool leave remove` the others count without this node (their expected votes are lowered).
        # Until it has been in a quorate view with all of them again, it announces expected votes high enough
        # that no view without them can be quorate: its own votes m on top of the R the others kept, twice,
        # i.e. R + 2m. Otherwise, cut off from them, it could be quorate alone on its configured expected votes
        # while they are quorate on their lowered ones (found by the `leave-remove` simulation).
        self.rejoin_expected, self.rejoin_awaiting = rejoin
        self.dirty = False
        self.qdisk_votes = 0
        self.round: Round | None = None
        self.retry_after = 0.0
        self.desired: frozenset[int] = frozenset()
        self.desired_since = now
        self.last_heartbeat: float | None = None
        self.hb_number = 0
        self._reset_for: set[ViewId] = set()
        self._stale_reset: dict[int, int] = {}
        self.left_at: float | None = None
        self.leave_remove = False
        self.killed_by: str | None = None
        self.joined_seq = 0
        self.joined_at: float | None = None
        self.peers: dict[int, Peer] = {n.nodeid: Peer(n) for n in config.nodes if n.nodeid != local_id}
        self.tracker = QuorumTracker(
            two_node=config.two_node,
            wait_for_all=config.wait_for_all,
            all_node_ids=frozenset(n.nodeid for n in config.nodes),
        )
        self.quorum = self.tracker.evaluate(member_votes={}, expected=self.my_expected, qdisk_votes=0)
        self.reason = "starting: no view yet"
        self._effects: list[Effect] = []
        self._reported: frozenset[int] = frozenset()
        self._allow_decrease = False
        self._decrease_when_gone: set[int] = set()  # left with remove: quorum may drop once they are out of a view
        self._last_clean: frozenset[int] = frozenset()
        self._last_eval = now
        self._evaluate(now)

    # ----------------------------------------------------------------- inputs

    def receive(self, now: float, sender: int, message: Message) -> None:
        """Handle one authenticated, decoded message from node `sender`."""
        peer = self.peers.get(sender)
        if peer is None:
            return  # the shell only passes configured senders; a config change may race
        self._note_alive(now, peer)
        if isinstance(message, Heartbeat):
            self._on_heartbeat(now, peer, message)
        elif isinstance(message, Propose):
            self._on_propose(now, peer, message)
        elif isinstance(message, Accept):
            self._on_accept(now, peer, message)
        elif isinstance(message, Commit):
            self._on_commit(now, peer, message)
        elif isinstance(message, Leave):
            self._on_leave(now, peer, message)
        elif isinstance(message, SetExpected):
            self._on_set_expected(now, peer, message)
        elif isinstance(message, Kill):
            self._on_kill(peer, message)
        self._evaluate(now)

    def tick(self, now: float) -> None:
        """Let time pass: the shell calls this at (or after) `next_deadline()`."""
        self._evaluate(now)

    def set_qdisk_votes(self, now: float, votes: int, *, resized: bool = False) -> None:
        """The quorum-disk layer grants (votes > 0) or withdraws (0) the disk's votes for this node.

        ``resized``: the grant is the first at a new ``<quorumd votes>`` from a pushed configuration, which Q-3
        recomputes with decrease allowed (otherwise fewer disk votes would leave the quorum where the old, larger
        number had put it, and the last node standing would no longer be quorate with the disk)."""
        if votes != self.qdisk_votes or resized:
            self.qdisk_votes = votes
            self._allow_decrease = self._allow_decrease or resized
            self._recompute_quorum(now, "quorum disk votes now " + str(votes))
        self._evaluate(now)

    def reconfigure(self, now: float, config: MembershipConfig) -> None:
        """A new cluster.conf is active: nodes, votes, expected votes, token and the version heartbeats carry.

        Why no restart: cman re-read its file on `ccs_tool update` and recomputed quorum at once; quorate does
        the same. Removing a node that is still a member is refused before distribution (it must leave first),
        so here a removed node is never in the view. The quorum floor may drop: the administrator said so.
        """
        removed = {nodeid for nodeid in self.peers if all(n.nodeid != nodeid for n in config.nodes)}
        if removed & self.members:
            raise MembershipError(f"cannot remove members {self._names(removed & self.members)} from the view")
        self.config = config
        self.local = config.spec(self.local_id)
        for nodeid in removed:
            del self.peers[nodeid]
        for spec in config.nodes:
            if spec.nodeid == self.local_id:
                continue
            peer = self.peers.get(spec.nodeid)
            if peer is None:
                self.peers[spec.nodeid] = Peer(spec)
            else:
                peer.spec = spec
        self.my_expected = config.expected_votes
        self.tracker.two_node = config.two_node
        self.tracker.all_node_ids = frozenset(n.nodeid for n in config.nodes)
        self._allow_decrease = True
        self._recompute_quorum(now, f"configuration version {config.config_version} activated")
        self._send_heartbeat(now)
        self._evaluate(now)

    def set_dirty(self, now: float, dirty: bool) -> None:
        """Upper layers say whether this node holds cluster state (resources, locks, fence domain)."""
        if dirty != self.dirty:
            self.dirty = dirty
            self._send_heartbeat(now)

    def leave(self, now: float, *, remove: bool = False, force: bool = False) -> None:
        """`cman_tool leave`: depart cleanly, so that nobody fences this node."""
        if self.state is State.LEFT:
            raise MembershipError("not a member of the cluster (already left)")
        if self.dirty and not force:
            raise MembershipError(
                "cluster state is held on this node (services or locks); stop them first or use force"
            )
        if remove and self.members - {self.local_id}:
            others = self.members - {self.local_id}
            kept = sum(self.config.spec(m).votes for m in others)
            self._set_rejoin(max(self._announced_expected(), kept + 2 * self.local.votes), frozenset(others))
        self._transition(Event.LEAVE)
        self.left_at = now
        self.leave_remove = remove
        self.round = None
        was_quorate = self.quorum.quorate
        self.view, self.members = NO_VIEW, frozenset()
        self.quorum = self.tracker.evaluate(member_votes={}, expected=self.my_expected, qdisk_votes=0)
        self.reason = "left the cluster cleanly" + (" (remove)" if remove else "")
        self._log(self.reason)
        if was_quorate:
            self._effects.append(QuorumChanged(False, self.reason))
        self.last_heartbeat = now
        self._send_leave()
        self._evaluate(now)

    def kill(self, now: float, nodeid: int) -> None:
        """`cman_tool kill -n NODE`: order a member of this view out; it stops as a failure and is fenced (Q-9)."""
        if not self.members:
            raise MembershipError("not a member of a view")
        if nodeid == self.local_id:
            raise MembershipError("this is the local node: use cman_tool leave")
        peer = self.peers.get(nodeid)
        if peer is None or nodeid not in self.members or peer.boot is None:
            raise MembershipError(f"{self._names({nodeid})} is not a member of the cluster")
        # Three copies: the order is one datagram with no answer, and a duplicate is harmless (it stops once).
        order = Kill(peer.boot, peer.incarnation)
        self._effects.extend(Send((nodeid,), order) for _ in range(3))
        self._log(f"told {peer.spec.name} to leave the cluster (cman_tool kill): it will be fenced")
        self._evaluate(now)

    def _on_kill(self, peer: Peer, msg: Kill) -> None:
        if peer.spec.nodeid not in self.members or (msg.boot, msg.incarnation) != (self.boot, self.incarnation):
            return  # not from our view, or meant for an earlier run of this node
        if self.killed_by is None:
            self.killed_by = peer.spec.name
            self._effects.append(Killed(f"killed by {peer.spec.name} (cman_tool kill)"))

    def join(self, now: float) -> None:
        """`cman_tool join` after a leave: come back as a new incarnation that claims nothing."""
        if self.state is not State.LEFT:
            raise MembershipError("already a member of the cluster (or joining)")
        self._transition(Event.JOIN)
        self.incarnation += 1
        self.left_at = None
        self.desired_since = now
        self.reason = "joining the cluster"
        self._log(self.reason)
        self._send_heartbeat(now)
        self._evaluate(now)

    def set_expected(self, now: float, expected: int) -> None:
        """`cman_tool expected -e N`: validated here, then applied by every member (Q-6)."""
        if not self.members:
            raise MembershipError("not a member of a view")
        error = QuorumTracker.check_expected(expected, self.quorum.total_votes)
        if error:
            raise MembershipError(error)
        if self.rejoin_expected:  # the administrator decides the count now, this node's leave included
            self._set_rejoin(0, frozenset())
        self._apply_expected(now, expected, f"expected votes lowered to {expected} by the administrator")
        others = tuple(sorted(self.members - {self.local_id}))
        if others:
            self._effects.append(Send(others, SetExpected(expected)))
        self._evaluate(now)

    # ---------------------------------------------------------------- outputs

    def take_effects(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        """The earliest time after the last evaluation at which `tick` has something to do."""
        times: list[float] = []
        token = self.config.token
        hb = self.config.heartbeat_interval
        if self.last_heartbeat is not None and (
            self.state is not State.LEFT or (self.left_at is not None and self.last_heartbeat < self.left_at + token)
        ):
            times.append(self.last_heartbeat + hb)
        for peer in self.peers.values():
            if peer.last_rx is not None and peer.heard_since is not None:
                times.append(peer.last_rx + token + 1e-3)
                need = self._settle_needed(peer)
                if need > 0:
                    times.append(peer.heard_since + need)
        if self.state is not State.LEFT:
            if self.round is not None:
                times.append(self.round.last_send + self._resend_interval)
                times.append(self.round.started + self.config.round_timeout)
            elif self.desired and self.desired != self.members and min(self.desired) == self.local_id:
                times.append(max(self.desired_since + self._hold(self.desired), self.retry_after))
        # Everything due at or before the last evaluation has been handled then; never spin on it.
        future = [t for t in times if t > self._last_eval]
        return min(future) if future else None

    def status(self, now: float) -> MembershipStatus:
        nodes: list[NodeStatus] = []
        for spec in self.config.nodes:
            if spec.nodeid == self.local_id:
                nodes.append(
                    NodeStatus(
                        spec.nodeid,
                        spec.name,
                        spec.votes,
                        spec.nodeid in self.members,
                        True,
                        self.incarnation,
                        self.joined_seq,
                        self.joined_at,
                        0.0,
                        None,
                    )
                )
                continue
            peer = self.peers[spec.nodeid]
            nodes.append(
                NodeStatus(
                    spec.nodeid,
                    spec.name,
                    spec.votes,
                    spec.nodeid in self.members,
                    spec.nodeid in self._reported,
                    peer.incarnation,
                    peer.joined_seq,
                    peer.joined_at,
                    None if peer.last_rx is None else now - peer.last_rx,
                    # Only a node that is talking can be refused ("d" in cman_tool nodes); a silent one is just out.
                    self._refusal(peer)
                    if peer.last_rx is not None and now - peer.last_rx <= self.config.token
                    else None,
                )
            )
        return MembershipStatus(
            local_id=self.local_id,
            state=self.state.value,
            view=self.view,
            members=tuple(sorted(self.members)),
            coordinator=self.view.coord,
            quorum=self.quorum,
            nodes=tuple(nodes),
            dirty=self.dirty,
            incarnation=self.incarnation,
            reason=self.reason,
        )

    @property
    def is_coordinator(self) -> bool:
        """True when this node may decide for the cluster (S2): coordinator of a quorate, settled view."""
        return (
            self.state is State.MEMBER
            and self.view.coord == self.local_id
            and self.quorum.quorate
            and self.promised == self.view
        )

    def check_invariants(self) -> None:
        """Local consistency; the simulator checks the cross-node ones."""
        if self.state is State.MEMBER and self.local_id not in self.members:
            raise AssertionError(f"node {self.local_id} is a member of a view that does not contain it")
        if self.quorum.quorate:
            votes = sum(self.config.spec(m).votes for m in self.members) + self.qdisk_votes
            if votes < self.quorum.quorum:
                raise AssertionError(
                    f"node {self.local_id} calls itself quorate with {votes} votes < quorum {self.quorum.quorum}"
                )
        if self.promised < self.view:
            raise AssertionError(f"node {self.local_id} runs view {self.view} above its promise {self.promised}")

    # ------------------------------------------------------------- handlers

    def _note_alive(self, now: float, peer: Peer) -> None:
        if peer.last_rx is None or now - peer.last_rx > self.config.token or peer.heard_since is None:
            peer.heard_since = now
        peer.last_rx = now

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
            peer.lost_boot = None
            peer.heard_since = now
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
        self._see_seq(max(hb.view.seq, hb.promised.seq))
        if expected_changed and peer.spec.nodeid in self.members:
            # A member that lowers what it announces was told to by an administrator (`cman_tool expected`, a
            # leave with remove): Q-3 recomputes with decrease allowed. Members hear the order at different
            # times, so the last one to announce the lower value is the one that lets the others' quorum drop.
            self._allow_decrease = self._allow_decrease or lowered
            self._recompute_quorum(now, f"{peer.spec.name} announces {hb.expected} expected votes")
        # The coordinator's heartbeat doubles as a commit for a member that missed the Commit datagram.
        if (
            hb.view == self.promised
            and hb.view.coord == peer.spec.nodeid
            and self.local_id in peer.members
            and self.view < hb.view
            and self.state is not State.LEFT
        ):
            self._install(now, hb.view, frozenset(hb.members), frozenset())
        self._check_stale(now, peer, hb)
        self._check_eviction(now, peer)

    def _stale_peers(self) -> tuple[int, ...]:
        if not self.quorum.quorate:
            return ()
        return tuple(
            sorted(n for n, p in self.peers.items() if p.failed_stamp is not None and p.stamp <= p.failed_stamp)
        )

    def _check_stale(self, now: float, peer: Peer, hb: Heartbeat) -> None:
        """A quorate peer refuses this node's current run as failed: holding no quorum, it resets at once."""
        if self.local_id not in hb.stale or self.quorum.quorate or self.state is State.LEFT:
            return
        if self._stale_reset.get(peer.spec.nodeid) == self.incarnation:
            return  # already reset for this peer; its heartbeat predates our new incarnation
        self.incarnation += 1
        self._stale_reset[peer.spec.nodeid] = self.incarnation
        self._log(
            f"{peer.spec.name} holds this node's previous run as failed: rejoining as incarnation {self.incarnation}"
        )
        self._send_heartbeat(now)

    def _check_eviction(self, now: float, peer: Peer) -> None:
        if self.local_id in peer.members or self.state is State.LEFT or peer.spec.nodeid not in peer.members:
            return
        if (
            not self.quorum.quorate
            and peer.flags & FLAG_QUORATE
            and peer.view != self.view
            and peer.view not in self._reset_for
        ):
            # The cluster moved on without this node while it held no quorum, so it runs nothing: present a new
            # incarnation, or the others would keep refusing it as a failed node that never reset. (Views of one
            # sequence from two coordinators are not ordered, hence the comparison on the sequence alone.)
            self._reset_for.add(peer.view)
            self.incarnation += 1
            self._log(f"view {peer.view.seq} was formed without this node; rejoining as incarnation {self.incarnation}")
            self._send_heartbeat(now)
            return
        if self.state is not State.MEMBER or peer.view <= self.view or peer.view.coord not in peer.members:
            return
        rest = self.members - {self.local_id}
        their_votes = sum(self.config.spec(m).votes for m in peer.members if self._known(m))
        if not (rest and (peer.members >= rest or their_votes >= self.quorum.quorum)):
            return
        self._evict(now, f"evicted: view {peer.view.seq} of {self._names(peer.members)} was formed without this node")

    def _on_propose(self, now: float, peer: Peer, msg: Propose) -> None:
        members = frozenset(msg.members)
        refusal = self._proposal_refusal(peer, msg.view, members)
        if refusal is None:
            self.promised = msg.view
            self._see_seq(msg.view.seq)
            self.round = None if self.round and self.round.view < msg.view else self.round
            self._send(peer.spec.nodeid, Accept(msg.view, True, self.promised))
        elif msg.view == self.promised:
            self._send(peer.spec.nodeid, Accept(msg.view, True, self.promised))  # duplicate proposal
        else:
            self._send(peer.spec.nodeid, Accept(msg.view, False, self.promised, refusal))

    def _proposal_refusal(self, peer: Peer, view: ViewId, members: frozenset[int]) -> str | None:
        if self.state is State.LEFT:
            return "this node has left the cluster"
        if view <= self.promised:
            return f"already promised view {self.promised.seq}/{self.promised.coord}"
        if self.local_id not in members:
            return "the proposal does not include this node"
        if view.coord != peer.spec.nodeid or view.coord != min(members):
            return "the proposer is not the lowest node id of the proposed view"
        deaf = [m for m in members if m != self.local_id and m not in self._reported]
        if deaf:
            return "this node does not hear " + self._names(deaf)
        if self.quorum.quorate and peer.spec.nodeid not in self.members:
            # A coordinator from outside this quorate view may merge it, not split it: it must keep every member
            # this node still hears (only the view's own coordinator drops members, e.g. for a one-way link).
            kept = {m for m in self.members if m != self.local_id and m in self._reported}
            dropped = sorted(kept - members)
            if dropped:
                return f"the proposal splits this node's view: it drops {self._names(dropped)}"
        for m in sorted(members - {self.local_id}):
            # A proposal may not smuggle in a node this node refuses (dirty outside the view, fenced, stale run):
            # otherwise two coordinators that each refuse the other take turns with the nodes they share.
            refusal = self._refusal(self.peers[m]) if m in self.peers else "unknown node"
            if refusal:
                return f"{self._names([m])} {refusal}"
        return None

    def _on_accept(self, now: float, peer: Peer, msg: Accept) -> None:
        current = self.round
        if current is None or msg.view != current.view or peer.spec.nodeid not in current.members:
            return
        if not msg.ok:
            self._see_seq(msg.promised.seq)
            if STALE_RUN in msg.reason and self.local.name in msg.reason and not self.quorum.quorate:
                # The others hold this node's previous run as failed; holding no quorum, it runs nothing: reset.
                self.incarnation += 1
                self._log(
                    f"the cluster holds this node's previous run as failed: rejoining as incarnation {self.incarnation}"
                )
            self._log(f"{peer.spec.name} refused view {msg.view.seq}: {msg.reason}", "warning")
            self.round = None
            self.retry_after = now + self.config.heartbeat_interval
            return
        current.acks.add(peer.spec.nodeid)
        if current.acks >= current.members:
            self._commit(now, current)

    def _on_commit(self, now: float, peer: Peer, msg: Commit) -> None:
        if self.state is State.LEFT or msg.view != self.promised or self.local_id not in msg.members:
            return
        if msg.view.coord != peer.spec.nodeid or msg.view <= self.view:
            return
        self._install(now, msg.view, frozenset(msg.members), frozenset(msg.left))

    def _on_leave(self, now: float, peer: Peer, msg: Leave) -> None:
        if peer.left_stamp == (peer.boot or 0, msg.incarnation):
            return
        peer.left_stamp = (peer.boot or 0, msg.incarnation)
        peer.incarnation = msg.incarnation
        self._log(f"{peer.spec.name} is leaving the cluster cleanly" + (" (remove)" if msg.remove else ""))
        nodeid = peer.spec.nodeid
        # The view without the leaver may be installed before or after its Leave arrives here: either way the
        # quorum is recomputed with decrease allowed once the leaver's votes are out of the count.
        if msg.remove and (nodeid in self.members or nodeid in self._last_clean):
            remaining = sum(self.config.spec(m).votes for m in self.members - {nodeid})
            self._apply_expected(now, max(remaining, 1), f"{peer.spec.name} left with remove")
            if nodeid in self.members:
                self._decrease_when_gone.add(nodeid)

    def _on_set_expected(self, now: float, peer: Peer, msg: SetExpected) -> None:
        if peer.spec.nodeid in self.members:
            self._apply_expected(now, msg.expected, f"expected votes lowered to {msg.expected} by {peer.spec.name}")

    def _apply_expected(self, now: float, expected: int, why: str) -> None:
        if expected < self.my_expected:
            self.my_expected = expected
        self._allow_decrease = True
        self._recompute_quorum(now, why)
        self._send_heartbeat(now)

    # ------------------------------------------------------------ evaluation

    def _evaluate(self, now: float) -> None:
        self._last_eval = now
        reported = self._compute_reported(now)
        changed = reported != self._reported
        self._reported = reported
        if self.state is State.LEFT:
            self._leave_heartbeats(now)
            return
        if changed or self.last_heartbeat is None or now >= self.last_heartbeat + self.config.heartbeat_interval:
            self._send_heartbeat(now)
        group = self._my_group(now)
        if group != self.desired:
            self.desired, self.desired_since = group, now
        if min(group) != self.local_id:
            self.round = None
            return
        self._coordinate(now, group)

    def _compute_reported(self, now: float) -> frozenset[int]:
        heard: set[int] = set()
        for nodeid, peer in self.peers.items():
            alive = peer.last_rx is not None and now - peer.last_rx <= self.config.token
            if not alive:
                if peer.heard_since is not None:
                    peer.heard_since = None
                    peer.lost_boot = peer.boot
                    if nodeid in self._reported:
                        self._log(
                            f"lost contact with {peer.spec.name}: silent for more than the "
                            f"{self.config.token:g} s token"
                        )
                continue
            if peer.heard_since is None:
                peer.heard_since = now
            if peer.left_stamp is not None and peer.left_stamp >= peer.stamp:
                continue
            if self._config_differs(peer) and nodeid not in self.members:
                continue  # a member may be one heartbeat behind an activation; anyone else must catch up first
            if now - peer.heard_since < self._settle_needed(peer):
                continue
            heard.add(nodeid)
        return frozenset(heard)

    def _settle_needed(self, peer: Peer) -> float:
        return self.config.settle if peer.lost_boot is not None and peer.lost_boot == peer.boot else 0.0

    def bar_until_restart(self, nodeid: int, boot: int) -> None:
        """A fenced run of a node stays out until its daemon restarts (spec 2.4: no rejoin with stale state)."""
        peer = self.peers.get(nodeid)
        if peer is not None:
            peer.barred_boot = boot

    def stamps(self) -> dict[int, tuple[int, int]]:
        """(boot, incarnation) of every peer as last heard: which run of a node failed, for fencing."""
        return {nodeid: peer.failed_stamp or peer.stamp for nodeid, peer in self.peers.items()}

    def _refusal(self, peer: Peer) -> str | None:
        if peer.barred_boot is not None and peer.boot == peer.barred_boot:
            return "was fenced; it must restart quorated before it rejoins"

        # Only a quorate view has state to protect; an inquorate node is the one that must reset and rejoin.
        if self.quorum.quorate and peer.failed_stamp is not None and peer.stamp <= peer.failed_stamp:
            return STALE_RUN
        if peer.flags & FLAG_DIRTY and peer.spec.nodeid not in self.members and self.quorum.quorate:
            return "claims cluster state while outside the view"
        if self._config_differs(peer) and peer.spec.nodeid not in self.members:
            if peer.config_version == self.config.config_version:
                return (
                    f"runs another file with the same config version {peer.config_version} "
                    f"(digest {peer.config_digest}, this node {self.config.config_digest}): push a higher version"
                )
            return f"runs config version {peer.config_version}, this node runs {self.config.config_version}"
        return None

    def _config_differs(self, peer: Peer) -> bool:
        if peer.config_version == 0:
            return False  # not yet heard
        if peer.config_version != self.config.config_version:
            return True
        mine, theirs = self.config.config_digest, peer.config_digest
        return bool(mine and theirs) and mine != theirs

    def _known(self, nodeid: int) -> bool:
        return nodeid == self.local_id or nodeid in self.peers

    def _my_group(self, now: float) -> frozenset[int]:
        admissible = {self.local_id} | {n for n in self._reported if self._refusal(self.peers[n]) is None}
        hears: dict[int, frozenset[int]] = {self.local_id: self._reported}
        for nodeid in admissible - {self.local_id}:
            hears[nodeid] = self.peers[nodeid].hears
        votes = {n.nodeid: n.votes for n in self.config.nodes}
        groups = connectivity.plan_groups(hears, admissible, votes)
        return connectivity.group_of(self.local_id, groups)

    def _coordinate(self, now: float, group: frozenset[int]) -> None:
        if group == self.members and self.state is State.MEMBER and not self._stray_members():
            self.round = None
            return
        current = self.round
        if current is not None and current.members != group:
            self.round = current = None
        if current is None:
            if now < self.desired_since + self._hold(group):
                return
            if now < self.retry_after:
                return
            self._start_round(now, group)
            return
        if now >= current.started + self.config.round_timeout:
            missing = current.members - current.acks
            self._log(f"view {current.view.seq} not accepted in time by {self._names(missing)}; retrying", "warning")
            self.round = None
            self.retry_after = now + self.config.heartbeat_interval
            return
        if now >= current.last_send + self._resend_interval:
            current.last_send = now
            self._send_many(current.members - current.acks, Propose(current.view, tuple(sorted(current.members))))

    def _hold(self, group: frozenset[int]) -> float:
        """How long a planned change must stay the plan before it is proposed.

        Heartbeats spread a change of hearing one hop at a time, so for a moment the matrix can be lopsided
        (a restarted node hears one member but not yet another) and the plan can split a healthy view. Dropping
        a member this node still hears therefore waits out more than one heartbeat interval; adding waits the
        totem join time; dropping a silent member (it is already past the token) is immediate.
        """
        if (self.members - group) & self._reported:
            return max(self.config.join, 1.5 * self.config.heartbeat_interval)
        if group - self.members:
            return self.config.join
        return 0.0

    def _restarted_members(self) -> frozenset[int]:
        """Members that restarted within the token: their old process failed even though they were never silent."""
        return frozenset(
            m
            for m in self.members - {self.local_id}
            if self.peers[m].member_boot is not None and self.peers[m].boot != self.peers[m].member_boot
        )

    def _stray_members(self) -> frozenset[int]:
        """Members that will never run this view: they restarted, or promised a newer one before our commit."""
        stray = set(self._restarted_members())
        for m in self.members - {self.local_id}:
            peer = self.peers[m]
            if peer.promised > self.view and peer.view != self.view and self.local_id not in peer.members:
                stray.add(m)
        return frozenset(stray)

    @property
    def _resend_interval(self) -> float:
        return max(self.config.heartbeat_interval / 2.0, 0.01)

    def _start_round(self, now: float, group: frozenset[int]) -> None:
        seq = max(self.highest_seq, self.promised.seq, self.view.seq) + 1
        view = ViewId(seq, self.local_id)
        self._see_seq(seq)
        self.promised = view
        current = Round(view, group, started=now, last_send=now, acks={self.local_id})
        self.round = current
        self._log(f"proposing view {seq} with {self._names(group)}")
        if current.acks >= group:
            self._commit(now, current)
        else:
            self._send_many(group - {self.local_id}, Propose(view, tuple(sorted(group))))

    def _commit(self, now: float, current: Round) -> None:
        self.round = None
        departed = self.members - current.members
        left = frozenset(n for n in departed if self.peers[n].left_stamp is not None)
        self._send_many(
            current.members - {self.local_id}, Commit(current.view, tuple(sorted(current.members)), tuple(sorted(left)))
        )
        self._install(now, current.view, current.members, left)

    def _install(self, now: float, view: ViewId, members: frozenset[int], left: frozenset[int]) -> None:
        old = self.members
        was_quorate = self.quorum.quorate
        self.view, self.members = view, members
        self._reset_for.clear()
        if self.promised < view:
            self.promised = view
        self._see_seq(view.seq)
        self._transition(Event.VIEW_INSTALLED)
        restarted = self._restarted_members() & members
        joined = (members - old) | restarted
        departed = old - members
        clean = frozenset(n for n in departed if n in left or self.peers[n].left_stamp is not None)
        failed = (departed - clean) | restarted
        for nodeid in joined:
            if nodeid == self.local_id:
                self.joined_seq, self.joined_at = view.seq, now
            else:
                self.peers[nodeid].joined_seq = view.seq
                self.peers[nodeid].joined_at = now
                self.peers[nodeid].failed_stamp = None
        for nodeid in failed - restarted:
            peer = self.peers[nodeid]
            peer.failed_stamp = peer.stamp
            peer.joined_at = None
        for nodeid, peer in self.peers.items():
            peer.member_boot = peer.boot if nodeid in members else None
        for nodeid in clean:
            self.peers[nodeid].joined_at = None
        removed = self._decrease_when_gone & clean
        self._decrease_when_gone -= removed | members
        self._last_clean = frozenset(clean)
        self.quorum = self.tracker.evaluate(
            member_votes={m: self.config.spec(m).votes for m in members},
            expected=self._expected(),
            qdisk_votes=self.qdisk_votes,
            allow_decrease=self._allow_decrease or bool(removed),
        )
        self._allow_decrease = False
        if self.rejoin_expected and self.quorum.quorate and self.rejoin_awaiting <= members:
            self._set_rejoin(0, frozenset())
            self._log(
                "back in a quorate view with every node that counted without it: announcing the configured "
                "expected votes again"
            )
            self._allow_decrease = True
            self._recompute_quorum_silently()
        parts = [f"view {view.seq} installed with {self._names(members)}"]
        if failed - restarted:
            parts.append(f"failed: {self._names(failed - restarted)}")
        if restarted:
            parts.append(f"restarted (its previous run failed): {self._names(restarted)}")
        if clean:
            parts.append(f"left cleanly: {self._names(clean)}")
        parts.append(self.quorum.reason)
        self.reason = "; ".join(parts)
        self._log(self.reason)
        self._effects.append(ViewInstalled(view, members, joined, clean, failed, self.quorum.quorate, self.reason))
        self._quorum_flip(was_quorate)
        self._send_heartbeat(now)

    def _recompute_quorum(self, now: float, why: str) -> None:
        if not self.members:
            return
        was_quorate = self.quorum.quorate
        self._recompute_quorum_silently()
        if was_quorate != self.quorum.quorate:
            self.reason = f"{why}; {self.quorum.reason}"
            self._log(self.reason)
        self._quorum_flip(was_quorate)

    def _recompute_quorum_silently(self) -> None:
        """Recompute the quorum of the current members (the caller logs and reports a flip)."""
        self.quorum = self.tracker.evaluate(
            member_votes={m: self.config.spec(m).votes for m in self.members},
            expected=self._expected(),
            qdisk_votes=self.qdisk_votes,
            allow_decrease=self._allow_decrease,
        )
        self._allow_decrease = False

    def _quorum_flip(self, was_quorate: bool) -> None:
        if was_quorate and not self.quorum.quorate:
            self._effects.append(QuorumChanged(False, self.quorum.reason))
            # A node that lost its quorate view starts a new incarnation: it will rejoin claiming nothing.
            self.incarnation += 1
        elif not was_quorate and self.quorum.quorate:
            self._effects.append(QuorumChanged(True, self.quorum.reason))

    def _evict(self, now: float, reason: str) -> None:
        was_quorate = self.quorum.quorate
        self._transition(Event.EVICTED)
        self.view, self.members = NO_VIEW, frozenset()
        self.round = None
        self.quorum = self.tracker.evaluate(member_votes={}, expected=self._expected(), qdisk_votes=0)
        self.reason = reason
        self._log(reason, "warning")
        self._effects.append(Evicted(reason))
        if was_quorate:
            self._effects.append(QuorumChanged(False, reason))
        self.incarnation += 1
        self.desired_since = now
        self._send_heartbeat(now)

    def _announced_expected(self) -> int:
        return max(self.my_expected, self.rejoin_expected)

    def _set_rejoin(self, expected: int, awaiting: frozenset[int]) -> None:
        self.rejoin_expected, self.rejoin_awaiting = expected, awaiting
        self._effects.append(PersistRejoin(expected, awaiting))
        if expected:
            self._log(
                f"left with remove: announcing {expected} expected votes until this node is back in a quorate view "
                f"with {self._names(awaiting)}"
            )

    def _expected(self) -> int:
        announced = [self._announced_expected()]
        for nodeid in self.members - {self.local_id}:
            peer = self.peers[nodeid]
            if peer.expected > 0:
                announced.append(peer.expected)
        return max(announced)

    # --------------------------------------------------------------- sending

    def _send_heartbeat(self, now: float) -> None:
        if self.state is State.LEFT:
            return
        self.last_heartbeat = now
        self.hb_number += 1
        flags = (FLAG_DIRTY if self.dirty else 0) | (FLAG_QUORATE if self.quorum.quorate else 0)
        hb = Heartbeat(
            boot=self.boot,
            number=self.hb_number,
            incarnation=self.incarnation,
            hears=tuple(sorted(self._reported)),
            view=self.view,
            members=tuple(sorted(self.members)),
            promised=self.promised,
            expected=self._announced_expected(),
            config_version=self.config.config_version,
            config_digest=self.config.config_digest,
            flags=flags,
            stale=self._stale_peers(),
        )
        if self.peers:
            self._effects.append(Send(tuple(sorted(self.peers)), hb))

    def _send_leave(self) -> None:
        if self.peers:
            self._effects.append(Send(tuple(sorted(self.peers)), Leave(self.incarnation, self.leave_remove)))

    def _leave_heartbeats(self, now: float) -> None:
        # Repeat the Leave for one token so that a lost datagram does not turn a clean leave into a failure.
        if self.left_at is None or now > self.left_at + self.config.token:
            return
        if self.last_heartbeat is None or now >= self.last_heartbeat + self.config.heartbeat_interval:
            self.last_heartbeat = now
            self._send_leave()

    def _send(self, to: int, message: Message) -> None:
        self._effects.append(Send((to,), message))

    def _send_many(self, to: frozenset[int], message: Message) -> None:
        if to:
            self._effects.append(Send(tuple(sorted(to)), message))

    # ------------------------------------------------------------------ misc

    def _see_seq(self, seq: int) -> None:
        if seq > self.highest_seq:
            self.highest_seq = seq
            self._effects.append(PersistGeneration(seq))

    def _transition(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise AssertionError(f"membership: no transition from {self.state.name} on {event.value}") from None

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))

    def _names(self, ids: frozenset[int] | set[int] | list[int]) -> str:
        names = []
        for nodeid in sorted(ids):
            try:
                names.append(self.config.spec(nodeid).name)
            except KeyError:
                names.append(f"node {nodeid}")
        return "{" + ", ".join(names) + "}"
