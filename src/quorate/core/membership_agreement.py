"""Agreement: views in two phases (what totem's ring formation did), and who joined, left or failed in each.

Theory of operation
-------------------
1. *Plan.* Heartbeats carry the set of peers their sender hears; only mutual links count. The plan
   (`connectivity.plan_groups`) splits the nodes this node hears and admits into cliques; the lowest id of each
   is its coordinator. Every node computes the plan; only a coordinator acts on it.
2. *Hold.* A coordinator proposes a change only once it has stayed the plan for a while: heartbeats spread a
   change of hearing one hop at a time, so for a moment the matrix can be lopsided and split a healthy view.
   Dropping a member still heard waits more than one heartbeat interval, adding one waits the totem join time,
   dropping a silent one (already past the token) is immediate.
3. *Propose.* The coordinator proposes ``ViewId(seq, self)`` with seq above every sequence it has seen (the
   highest is persisted across restarts). A member accepts only a view newer than anything it promised, that
   names it, whose proposer is the lowest id, whose members it all hears and admits, and that does not split
   its quorate view from outside; otherwise it answers with a refusal code (`messages.RefusalCode`), the nodes
   concerned and a reason. A refusal or a round not accepted in time ends the round; the coordinator retries
   one heartbeat interval later. A refusal that says the proposer's own run is stale makes it reset (admission).
4. *Commit.* When every member accepted, the coordinator commits and installs. A view id names one member set
   only, so all nodes that commit a view agree on its members. The coordinator's heartbeat doubles as a commit
   for a member that missed the Commit datagram.
5. *Install.* Departed members that announced a clean leave (or that the coordinator lists as such) left;
   every other departure is a failure, and so is a member whose process restarted within the token (its old
   run failed though it was never silent). Votes then evaluates the quorum of the new view.

A committed view is kept while it is the plan, unless some member will never run it: it restarted, or promised
a newer view before the commit reached it. Then the coordinator proposes again.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.core import connectivity
from quorate.core.effects import ViewInstalled
from quorate.core.membership_admission import Admission
from quorate.core.membership_hearing import Hearing
from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import Event, Peer, Refusal, Round, State
from quorate.core.membership_votes import Votes
from quorate.core.messages import Accept, Commit, Heartbeat, Propose, RefusalCode, ViewId


class Agreement:
    """Plans, proposals, accepts, commits and installs of views; the coordinator's hold times."""

    def __init__(
        self,
        state: MembershipState,
        *,
        hearing: Hearing,
        votes: Votes,
        admission: Admission,
        now: float,
        send_heartbeat: Callable[[float], None],
    ) -> None:
        self._state = state
        self._hearing = hearing
        self._votes = votes
        self._admission = admission
        self._send_heartbeat = send_heartbeat
        self.round: Round | None = None
        self.retry_after = 0.0
        self.desired: frozenset[int] = frozenset()
        self.desired_since = now
        self.joined_seq = 0  # this node's own join: view sequence and time
        self.joined_at: float | None = None
        # The last plan and what it was computed from (configuration, reported set, admissible peers' hearing):
        # the plan is asked for after every datagram and tick, and in a steady cluster its inputs do not change.
        self._planned: tuple[object, object, frozenset[int]] | None = None

    # ------------------------------------------------------------- planning

    def plan(self, now: float) -> None:
        """Recompute the plan; as a coordinator, hold, propose, resend or retry."""
        group = self._my_group()
        if group != self.desired:
            self.desired, self.desired_since = group, now
        if min(group) != self._state.local_id:
            self.round = None
            return
        self._coordinate(now, group)

    def abandon(self) -> None:
        """Forget the round in progress (this node left or was evicted)."""
        self.round = None

    def replan_from(self, now: float) -> None:
        """Count the hold of the next change from `now` (this node starts over: a join, an eviction)."""
        self.desired_since = now

    def deadlines(self) -> list[float]:
        """When a round must be resent or times out, or when a held change may be proposed."""
        state = self._state
        if state.state is State.LEFT:
            return []
        if self.round is not None:
            return [self.round.last_send + self._resend_interval, self.round.started + state.config.round_timeout]
        if self.desired and self.desired != state.members and min(self.desired) == state.local_id:
            return [max(self.desired_since + self._hold(self.desired), self.retry_after)]
        return []

    def _my_group(self) -> frozenset[int]:
        state = self._state
        reported = self._hearing.reported
        admissible = {state.local_id} | {n for n in reported if self._admission.refusal(state.peers[n]) is None}
        matrix = (reported, tuple(sorted((n, state.peers[n].hears) for n in admissible if n != state.local_id)))
        planned = self._planned
        if planned is not None and planned[0] is state.config and planned[1] == matrix:
            return planned[2]
        hears: dict[int, frozenset[int]] = {state.local_id: reported}
        for nodeid in admissible - {state.local_id}:
            hears[nodeid] = state.peers[nodeid].hears
        votes = {n.nodeid: n.votes for n in state.config.nodes}
        groups = connectivity.plan_groups(hears, admissible, votes)
        group = connectivity.group_of(state.local_id, groups)
        self._planned = (state.config, matrix, group)
        return group

    def _coordinate(self, now: float, group: frozenset[int]) -> None:
        state = self._state
        if group == state.members and state.state is State.MEMBER and not self._stray_members():
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
        if now >= current.started + state.config.round_timeout:
            missing = current.members - current.acks
            state.log(f"view {current.view.seq} not accepted in time by {state.names(missing)}; retrying", "warning")
            self.round = None
            self.retry_after = now + state.config.heartbeat_interval
            return
        if now >= current.last_send + self._resend_interval:
            current.last_send = now
            state.send_many(current.members - current.acks, Propose(current.view, tuple(sorted(current.members))))

    def _hold(self, group: frozenset[int]) -> float:
        """How long a planned change must stay the plan before it is proposed (see the module's point 2)."""
        config = self._state.config
        if (self._state.members - group) & self._hearing.reported:
            return max(config.join, 1.5 * config.heartbeat_interval)
        if group - self._state.members:
            return config.join
        return 0.0

    def _restarted_members(self) -> frozenset[int]:
        """Members that restarted within the token: their old process failed even though they were never silent."""
        state = self._state
        return frozenset(
            m
            for m in state.members - {state.local_id}
            if state.peers[m].member_boot is not None and state.peers[m].boot != state.peers[m].member_boot
        )

    def _stray_members(self) -> frozenset[int]:
        """Members that will never run this view: they restarted, or promised a newer one before our commit."""
        state = self._state
        stray = set(self._restarted_members())
        for m in state.members - {state.local_id}:
            peer = state.peers[m]
            if peer.promised > state.view and peer.view != state.view and state.local_id not in peer.members:
                stray.add(m)
        return frozenset(stray)

    @property
    def _resend_interval(self) -> float:
        return max(self._state.config.heartbeat_interval / 2.0, 0.01)

    # ------------------------------------------------------------- the coordinator's round

    def _start_round(self, now: float, group: frozenset[int]) -> None:
        state = self._state
        seq = max(state.highest_seq, state.promised.seq, state.view.seq) + 1
        view = ViewId(seq, state.local_id)
        state.see_seq(seq)
        state.promised = view
        current = Round(view, group, started=now, last_send=now, acks={state.local_id})
        self.round = current
        state.log(f"proposing view {seq} with {state.names(group)}")
        if current.acks >= group:
            self._commit(now, current)
        else:
            state.send_many(group - {state.local_id}, Propose(view, tuple(sorted(group))))

    def on_accept(self, now: float, peer: Peer, msg: Accept) -> None:
        state = self._state
        current = self.round
        if current is None or msg.view != current.view or peer.spec.nodeid not in current.members:
            return
        if not msg.ok:
            state.see_seq(msg.promised.seq)
            if msg.code is RefusalCode.STALE_RUN and state.local_id in msg.nodes:
                self._admission.refused_as_stale_run()
            state.log(f"{peer.spec.name} refused view {msg.view.seq}: {msg.reason}", "warning")
            self.round = None
            self.retry_after = now + state.config.heartbeat_interval
            return
        current.acks.add(peer.spec.nodeid)
        if current.acks >= current.members:
            self._commit(now, current)

    def _commit(self, now: float, current: Round) -> None:
        state = self._state
        self.round = None
        departed = state.members - current.members
        left = frozenset(n for n in departed if state.peers[n].left_stamp is not None)
        state.send_many(
            current.members - {state.local_id},
            Commit(current.view, tuple(sorted(current.members)), tuple(sorted(left))),
        )
        self._install(now, current.view, current.members, left)

    # ------------------------------------------------------------- a member's side

    def on_propose(self, now: float, peer: Peer, msg: Propose) -> None:
        state = self._state
        refusal = self._proposal_refusal(peer, msg.view, frozenset(msg.members))
        if refusal is None:
            state.promised = msg.view
            state.see_seq(msg.view.seq)
            self.round = None if self.round and self.round.view < msg.view else self.round
            state.send(peer.spec.nodeid, Accept(msg.view, True, state.promised))
        elif msg.view == state.promised:
            state.send(peer.spec.nodeid, Accept(msg.view, True, state.promised))  # duplicate proposal
        else:
            reply = Accept(msg.view, False, state.promised, refusal.reason, refusal.code, refusal.nodes)
            state.send(peer.spec.nodeid, reply)

    def _proposal_refusal(self, peer: Peer, view: ViewId, members: frozenset[int]) -> Refusal | None:
        state = self._state
        if state.state is State.LEFT:
            return Refusal(RefusalCode.LEFT, "this node has left the cluster")
        if view <= state.promised:
            return Refusal(RefusalCode.PROMISED, f"already promised view {state.promised.seq}/{state.promised.coord}")
        if state.local_id not in members:
            return Refusal(RefusalCode.NOT_INCLUDED, "the proposal does not include this node")
        if view.coord != peer.spec.nodeid or view.coord != min(members):
            return Refusal(RefusalCode.NOT_LOWEST, "the proposer is not the lowest node id of the proposed view")
        reported = self._hearing.reported
        deaf = sorted(m for m in members if m != state.local_id and m not in reported)
        if deaf:
            return Refusal(RefusalCode.NOT_HEARD, "this node does not hear " + state.names(deaf), tuple(deaf))
        if state.quorum.quorate and peer.spec.nodeid not in state.members:
            # A coordinator from outside this quorate view may merge it, not split it: it must keep every member
            # this node still hears (only the view's own coordinator drops members, e.g. for a one-way link).
            kept = {m for m in state.members if m != state.local_id and m in reported}
            dropped = sorted(kept - members)
            if dropped:
                return Refusal(
                    RefusalCode.SPLITS_VIEW,
                    f"the proposal splits this node's view: it drops {state.names(dropped)}",
                    tuple(dropped),
                )
        for m in sorted(members - {state.local_id}):
            # A proposal may not smuggle in a node this node refuses (dirty outside the view, fenced, stale run):
            # otherwise two coordinators that each refuse the other take turns with the nodes they share. (Every
            # proposed node is heard by now, so it is a configured peer.)
            refusal = self._admission.refusal(state.peers[m])
            if refusal is not None:
                return Refusal(refusal.code, f"{state.names([m])} {refusal.reason}", refusal.nodes)
        return None

    def on_commit(self, now: float, peer: Peer, msg: Commit) -> None:
        state = self._state
        if state.state is State.LEFT or msg.view != state.promised or state.local_id not in msg.members:
            return
        if msg.view.coord != peer.spec.nodeid or msg.view <= state.view:
            return
        self._install(now, msg.view, frozenset(msg.members), frozenset(msg.left))

    def on_heartbeat(self, now: float, peer: Peer, hb: Heartbeat) -> None:
        """The coordinator's heartbeat doubles as a commit for a member that missed the Commit datagram."""
        state = self._state
        if (
            hb.view == state.promised
            and hb.view.coord == peer.spec.nodeid
            and state.local_id in peer.members
            and state.view < hb.view
            and state.state is not State.LEFT
        ):
            self._install(now, hb.view, frozenset(hb.members), frozenset())

    # ------------------------------------------------------------- install

    def _install(self, now: float, view: ViewId, members: frozenset[int], left: frozenset[int]) -> None:
        state = self._state
        old = state.members
        was_quorate = state.quorum.quorate
        state.view, state.members = view, members
        self._admission.view_installed()
        if state.promised < view:
            state.promised = view
        state.see_seq(view.seq)
        state.transition(Event.VIEW_INSTALLED)
        restarted = self._restarted_members() & members
        joined = (members - old) | restarted
        departed = old - members
        clean = frozenset(n for n in departed if n in left or state.peers[n].left_stamp is not None)
        failed = (departed - clean) | restarted
        for nodeid in joined:
            if nodeid == state.local_id:
                self.joined_seq, self.joined_at = view.seq, now
            else:
                state.peers[nodeid].joined_seq = view.seq
                state.peers[nodeid].joined_at = now
                state.peers[nodeid].failed_stamp = None
        for nodeid in failed - restarted:
            peer = state.peers[nodeid]
            peer.failed_stamp = peer.stamp
            peer.joined_at = None
        for nodeid, peer in state.peers.items():
            peer.member_boot = peer.boot if nodeid in members else None
        for nodeid in clean:
            state.peers[nodeid].joined_at = None
        self._votes.view_installed(members, clean)
        parts = [f"view {view.seq} installed with {state.names(members)}"]
        if failed - restarted:
            parts.append(f"failed: {state.names(failed - restarted)}")
        if restarted:
            parts.append(f"restarted (its previous run failed): {state.names(restarted)}")
        if clean:
            parts.append(f"left cleanly: {state.names(clean)}")
        parts.append(state.quorum.reason)
        state.reason = "; ".join(parts)
        state.log(state.reason)
        state.emit(ViewInstalled(view, members, joined, clean, failed, state.quorum.quorate, state.reason))
        self._votes.quorum_flip(was_quorate)
        self._send_heartbeat(now)
