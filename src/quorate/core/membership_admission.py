"""Admission: which runs of which nodes may be in a view, and when this node must leave one or start afresh.

Theory of operation
-------------------
A node is identified by its run, (boot, incarnation): a new process has a new boot; a process that held no
quorum, was evicted or rejoins after a leave presents a new incarnation, which claims nothing. A peer is
refused (kept out of any view this node plans or accepts, and shown refused in `cman_tool nodes`) when

* its run was fenced: it stays out until its daemon restarts (no rejoin with stale state);
* this node holds a quorate view and that run failed out of it and came back with the same incarnation (cman's
  "rejoined with existing state" rule, without the kill: it stays out until it resets);
* it claims cluster state (dirty) while outside the view of a quorate node;
* it runs another configuration (version or digest) and is not a member: it must catch up first. A member may
  be one heartbeat behind an activation, so it is kept.

Only a quorate view has state to protect, so only a quorate node refuses stale runs; the refused node is told
so (its run is listed in the quorate node's heartbeats, or a refusal of its proposal names it by id with the
code `STALE_RUN`) and, holding no quorum, it starts a new incarnation at once.

This node itself leaves a view when a newer committed view of a peer does not include it and that view holds
the rest of its own view or could be quorate on their own: it is evicted. While it holds no quorum, a quorate
view formed without it makes it start a new incarnation too, once per such view, or the others would keep
refusing it as a failed run that never reset. A member of its view may order it out (`cman_tool kill`): the
order names one run, so a late copy cannot stop the next one.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.core.effects import Killed, Send
from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import MembershipError, Peer, Refusal, State
from quorate.core.messages import FLAG_DIRTY, FLAG_QUORATE, Heartbeat, Kill, RefusalCode, ViewId


class Admission:
    """Refusals of peers, stale-run resets and eviction of this node, and kill orders."""

    def __init__(self, state: MembershipState, *, send_heartbeat: Callable[[float], None]) -> None:
        self._state = state
        self._send_heartbeat = send_heartbeat
        self._reset_for: set[ViewId] = set()  # views formed without this node that it already reset for
        self._stale_reset: dict[int, int] = {}  # peer -> incarnation this node took when that peer called it stale
        self.killed_by: str | None = None

    # ------------------------------------------------------------- refusals

    def refusal(self, peer: Peer) -> Refusal | None:
        """Why `peer`'s current run may not be in a view with this node, or None."""
        state = self._state
        about = (peer.spec.nodeid,)
        if peer.barred_boot is not None and peer.boot == peer.barred_boot:
            return Refusal(RefusalCode.FENCED, "was fenced; it must restart quorated before it rejoins", about)
        # Only a quorate view has state to protect; an inquorate node is the one that must reset and rejoin.
        if state.quorum.quorate and self._is_stale(peer):
            return Refusal(
                RefusalCode.STALE_RUN,
                "failed and came back with the same incarnation (it must reset before rejoining)",
                about,
            )
        if peer.flags & FLAG_DIRTY and peer.spec.nodeid not in state.members and state.quorum.quorate:
            return Refusal(RefusalCode.DIRTY_OUTSIDE, "claims cluster state while outside the view", about)
        if self.config_differs(peer) and peer.spec.nodeid not in state.members:
            if peer.config_version == state.config.config_version:
                return Refusal(
                    RefusalCode.CONFIG_MISMATCH,
                    f"runs another file with the same config version {peer.config_version} "
                    f"(digest {peer.config_digest}, this node {state.config.config_digest}): push a higher version",
                    about,
                )
            return Refusal(
                RefusalCode.CONFIG_MISMATCH,
                f"runs config version {peer.config_version}, this node runs {state.config.config_version}",
                about,
            )
        return None

    def config_differs(self, peer: Peer) -> bool:
        if peer.config_version == 0:
            return False  # not yet heard
        if peer.config_version != self._state.config.config_version:
            return True
        mine, theirs = self._state.config.config_digest, peer.config_digest
        return bool(mine and theirs) and mine != theirs

    def must_catch_up(self, peer: Peer) -> bool:
        """A non-member running another configuration is not reported as heard until it runs this one."""
        return self.config_differs(peer) and peer.spec.nodeid not in self._state.members

    def bar_until_restart(self, nodeid: int, boot: int) -> None:
        """A fenced run of a node stays out until its daemon restarts."""
        peer = self._state.peers.get(nodeid)
        if peer is not None:
            peer.barred_boot = boot

    @staticmethod
    def _is_stale(peer: Peer) -> bool:
        return peer.failed_stamp is not None and peer.stamp <= peer.failed_stamp

    # ------------------------------------------------------------- stale runs of this node

    def stale_peers(self) -> tuple[int, ...]:
        """Peers whose current run this (quorate) node refuses as failed, for its heartbeats: they must reset."""
        if not self._state.quorum.quorate:
            return ()
        return tuple(sorted(n for n, p in self._state.peers.items() if self._is_stale(p)))

    def check_stale(self, now: float, peer: Peer, hb: Heartbeat) -> None:
        """A quorate peer refuses this node's current run as failed: holding no quorum, it resets at once."""
        state = self._state
        if state.local_id not in hb.stale or state.quorum.quorate or state.state is State.LEFT:
            return
        if self._stale_reset.get(peer.spec.nodeid) == state.incarnation:
            return  # already reset for this peer; its heartbeat predates our new incarnation
        state.incarnation += 1
        self._stale_reset[peer.spec.nodeid] = state.incarnation
        state.log(
            f"{peer.spec.name} holds this node's previous run as failed: rejoining as incarnation {state.incarnation}"
        )
        self._send_heartbeat(now)

    def refused_as_stale_run(self) -> None:
        """A member refused this node's proposal because it holds this node's run as failed (by id, in the
        refusal's code and nodes): holding no quorum, this node runs nothing, so it resets."""
        state = self._state
        if state.quorum.quorate:
            return
        state.incarnation += 1
        state.log(f"the cluster holds this node's previous run as failed: rejoining as incarnation {state.incarnation}")

    # ------------------------------------------------------------- eviction of this node

    def view_installed(self) -> None:
        """A view was installed here: views formed without this node earlier no longer call for a reset."""
        self._reset_for.clear()

    def check_eviction(self, now: float, peer: Peer) -> str | None:
        """What `peer`'s heartbeat says of this node's place; returns the reason when this node is evicted."""
        state = self._state
        if state.local_id in peer.members or state.state is State.LEFT or peer.spec.nodeid not in peer.members:
            return None
        if (
            not state.quorum.quorate
            and peer.flags & FLAG_QUORATE
            and peer.view != state.view
            and peer.view not in self._reset_for
        ):
            # The cluster moved on without this node while it held no quorum, so it runs nothing: present a new
            # incarnation, or the others would keep refusing it as a failed node that never reset. (Views of one
            # sequence from two coordinators are not ordered, hence the comparison on the sequence alone.)
            self._reset_for.add(peer.view)
            state.incarnation += 1
            state.log(
                f"view {peer.view.seq} was formed without this node; rejoining as incarnation {state.incarnation}"
            )
            self._send_heartbeat(now)
            return None
        if state.state is not State.MEMBER or peer.view <= state.view or peer.view.coord not in peer.members:
            return None
        rest = state.members - {state.local_id}
        their_votes = sum(state.config.spec(m).votes for m in peer.members if state.known(m))
        if not (rest and (peer.members >= rest or their_votes >= state.quorum.quorum)):
            return None
        return f"evicted: view {peer.view.seq} of {state.names(peer.members)} was formed without this node"

    # ------------------------------------------------------------- kill orders

    def order_kill(self, nodeid: int) -> None:
        """`cman_tool kill -n NODE`: order a member of this view out; it stops as a failure and is fenced (Q-9)."""
        state = self._state
        if not state.members:
            raise MembershipError("not a member of a view")
        if nodeid == state.local_id:
            raise MembershipError("this is the local node: use cman_tool leave")
        peer = state.peers.get(nodeid)
        if peer is None or nodeid not in state.members or peer.boot is None:
            raise MembershipError(f"{state.names({nodeid})} is not a member of the cluster")
        # Three copies: the order is one datagram with no answer, and a duplicate is harmless (it stops once).
        order = Kill(peer.boot, peer.incarnation)
        for _ in range(3):
            state.emit(Send((nodeid,), order))
        state.log(f"told {peer.spec.name} to leave the cluster (cman_tool kill): it will be fenced")

    def on_kill(self, peer: Peer, msg: Kill) -> None:
        state = self._state
        if peer.spec.nodeid not in state.members or (msg.boot, msg.incarnation) != (state.boot, state.incarnation):
            return  # not from our view, or meant for an earlier run of this node
        if self.killed_by is None:
            self.killed_by = peer.spec.name
            state.emit(Killed(f"killed by {peer.spec.name} (cman_tool kill)"))
