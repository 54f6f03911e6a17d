"""Votes: the inputs of the quorum (expected votes, the members' votes, the quorum disk's) and its verdict.

Theory of operation
-------------------
The arithmetic itself is `quorum.QuorumTracker` (cman's, with its floor). This part decides which numbers it is
fed and when a recomputation may lower the quorum:

* *Expected votes.* Each node announces its own value in its heartbeats; E is the highest one among the view's
  members, so a joining node with a higher value raises it again. A node lowers its own value only when told:
  `cman_tool expected -e N` (checked here first, then sent to every member), a member's `SetExpected`, or a
  member that leaves with `remove` (the others' votes become the count).
* *Decrease allowed.* The quorum never drops on an ordinary event (a dead node does not lower the bar for the
  survivors). It may drop on the next recomputation after an administrator's order, a member announcing a
  lower value, a new configuration, a quorum disk resized by a pushed file, or once a node that left with
  `remove` is out of the view (Q-8): its Leave may arrive before or after that view, so both orders count.
* *Leave with remove.* The others count without the leaver; until it is back in a quorate view with all of
  them, the leaver announces its own votes m on top of the R they kept, twice (R + 2m): cut off from them it
  can then never be quorate alone on its configured value while they are quorate on their lowered one. The
  pair is persisted so that a restart does not forget it.
* *Quorum disk.* Its votes are a local fact fed in by the quorum-disk layer; losing them to a fault never
  lowers the quorum.
* *Policies* (`quorum_policies`, Q-13..Q-15). The node's reference set goes into every evaluation. Last man
  standing shrinks it from the tick (`lms_tick`) once a quorate view has been stable for the window and nothing
  is left to fence, by lowering the expected votes this node announces to the view's votes; the shrink is
  committed when every member announces it. A view holding the whole reference and more goes back to every
  configured node. An administrator's lowering (`expected -e`, a leave with remove) and a new configuration
  set the reference to the nodes the new count is made of.
* *Flips.* Losing quorum reports it and starts a new incarnation (the node will rejoin claiming nothing);
  regaining it reports it.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.core.effects import PersistRejoin, QuorumChanged
from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import MembershipConfig, MembershipError, Peer
from quorate.core.messages import SetExpected
from quorate.core.quorum import QuorumTracker
from quorate.core.quorum_policies import Reference


class Votes:
    """Expected votes, quorum-disk votes and the quorum evaluations of this node's view."""

    def __init__(
        self,
        state: MembershipState,
        tracker: QuorumTracker,
        *,
        rejoin: tuple[int, frozenset[int]],
        send_heartbeat: Callable[[float], None],
    ) -> None:
        self._state = state
        self._tracker = tracker
        self._send_heartbeat = send_heartbeat
        self.my_expected = state.config.expected_votes
        self.rejoin_expected, self.rejoin_awaiting = rejoin
        self.qdisk_votes = 0
        self.device = "the quorum disk"
        self.reference = self._full_reference()
        self._allow_decrease = False
        self._decrease_when_gone: set[int] = set()  # left with remove: quorum may drop once they are out of a view
        self._last_clean: frozenset[int] = frozenset()

    # ------------------------------------------------------------- numbers

    def announced(self) -> int:
        """The expected votes this node announces: its own, raised after a leave with remove."""
        return max(self.my_expected, self.rejoin_expected)

    def expected(self) -> int:
        """E: the highest value announced by this node or any other member of its view."""
        announced = [self.announced()]
        for nodeid in self._state.members - {self._state.local_id}:
            peer = self._state.peers[nodeid]
            if peer.expected > 0:
                announced.append(peer.expected)
        return max(announced)

    # ------------------------------------------------------------- evaluations

    def outside_view(self, expected: int) -> None:
        """This node is in no view: not quorate, whatever the numbers."""
        self._state.quorum = self._tracker.evaluate(member_votes={}, expected=expected, qdisk_votes=0)

    def view_installed(self, members: frozenset[int], clean: frozenset[int]) -> None:
        """The quorum of a newly installed view; `clean` departed it with a clean leave."""
        removed = self._decrease_when_gone & clean
        self._decrease_when_gone -= removed | members
        self._last_clean = frozenset(clean)
        ref = self.reference
        if self._tracker.policies.last_man_standing and members > ref.nodes:
            # Nodes came back to a view holding the whole reference: judge against every node again.
            self.reference = self._full_reference()
            if self.my_expected < self._state.config.expected_votes:
                self.my_expected = self._state.config.expected_votes
                self._state.log(
                    f"last man standing: {self._state.names(members - ref.nodes)} back, expected votes "
                    f"{self.my_expected} again"
                )
        self._state.quorum = self._tracker.evaluate(
            member_votes=self._state.votes_of(members),
            expected=self.expected(),
            qdisk_votes=self.qdisk_votes,
            allow_decrease=self._allow_decrease or bool(removed),
            reference=self.reference,
            device=self.device,
        )
        self._allow_decrease = False
        self._commit_reference()
        if self.rejoin_expected and self._state.quorum.quorate and self.rejoin_awaiting <= members:
            self._set_rejoin(0, frozenset())
            self._state.log(
                "back in a quorate view with every node that counted without it: announcing the configured "
                "expected votes again"
            )
            self._allow_decrease = True
            self._recompute_silently()

    def recompute(self, now: float, why: str) -> None:
        """Recompute the quorum of the current members; a flip is logged with `why` and reported."""
        state = self._state
        if not state.members:
            return
        was_quorate = state.quorum.quorate
        self._recompute_silently()
        if was_quorate != state.quorum.quorate:
            state.reason = f"{why}; {state.quorum.reason}"
            state.log(state.reason)
        self.quorum_flip(was_quorate)

    def _recompute_silently(self) -> None:
        """Recompute the quorum of the current members (the caller logs and reports a flip)."""
        self._state.quorum = self._tracker.evaluate(
            member_votes=self._state.votes_of(self._state.members),
            expected=self.expected(),
            qdisk_votes=self.qdisk_votes,
            allow_decrease=self._allow_decrease,
            reference=self.reference,
            device=self.device,
        )
        self._allow_decrease = False
        if self._commit_reference():
            self._recompute_silently()

    # ------------------------------------------------------------- last man standing

    def lms_tick(self, now: float, *, fencing_pending: bool) -> None:
        """Time passes: shrink the reference to the view once it has been stable, quorate and fenced for the
        window (Q-13)."""
        state = self._state
        members = state.members
        if not self.reference.lms_due(
            self._tracker.policies, now, members, quorate=state.quorum.quorate, fencing_pending=fencing_pending
        ):
            return
        votes = sum(state.votes_of(members).values())
        self.reference = Reference(members, state.votes_of(members), committed=False, watching=members, since=now)
        state.log(
            f"last man standing: the view {state.names(members)} has been stable for "
            f"{self._tracker.policies.lms_window:g} s; announcing {votes} expected votes"
        )
        self.my_expected = min(self.my_expected, votes)
        self._allow_decrease = True
        self.recompute(now, f"last man standing lowered expected votes to {votes}")
        self._send_heartbeat(now)

    def _commit_reference(self) -> bool:
        """A prepared reference is committed once every member of it, in one view, announces its votes."""
        ref = self.reference
        if ref.committed or self._state.members != ref.nodes or self.expected() > ref.total:
            return False
        ref.committed = True
        self._allow_decrease = True
        self._state.log(f"last man standing: every member announces {ref.total} expected votes")
        return True

    def _full_reference(self) -> Reference:
        config = self._state.config
        return Reference(frozenset(n.nodeid for n in config.nodes), {n.nodeid: n.votes for n in config.nodes})

    def _rebase(self, nodes: frozenset[int]) -> None:
        """An administrator set the count: judge against the nodes it is made of."""
        if self._tracker.policies.active and nodes:
            self.reference = Reference(nodes, self._state.votes_of(nodes))

    def quorum_flip(self, was_quorate: bool) -> None:
        """Report a change of verdict since `was_quorate`."""
        state = self._state
        if was_quorate and not state.quorum.quorate:
            state.emit(QuorumChanged(False, state.quorum.reason))
            # A node that lost its quorate view starts a new incarnation: it will rejoin claiming nothing.
            state.incarnation += 1
        elif not was_quorate and state.quorum.quorate:
            state.emit(QuorumChanged(True, state.quorum.reason))

    # ------------------------------------------------------------- local orders

    def set_qdisk_votes(self, now: float, votes: int, *, resized: bool, device: str = "quorum disk") -> None:
        """The quorum disk's (or the witness's, `device`) votes for this node; `resized`: first grant at a new
        `<quorumd votes>` (decrease allowed)."""
        self.device = "the " + device
        if votes != self.qdisk_votes or resized:
            self.qdisk_votes = votes
            self._allow_decrease = self._allow_decrease or resized
            self.recompute(now, f"{device} votes now {votes}")

    def set_expected(self, now: float, expected: int) -> None:
        """`cman_tool expected -e N` on a member: checked (Q-6), applied here, then sent to the other members."""
        error = QuorumTracker.check_expected(expected, self._state.quorum.total_votes)
        if error:
            raise MembershipError(error)
        if self.rejoin_expected:  # the administrator decides the count now, this node's leave included
            self._set_rejoin(0, frozenset())
        self._rebase(self._state.members)
        self._apply_expected(now, expected, f"expected votes lowered to {expected} by the administrator")
        others = self._state.members - {self._state.local_id}
        self._state.send_many(others, SetExpected(expected))

    def leaving_with_remove(self) -> None:
        """This node leaves with `remove`: announce R + 2m until it is back with the members it leaves."""
        state = self._state
        others = state.members - {state.local_id}
        if not others:
            return
        kept = sum(state.config.spec(m).votes for m in others)
        self._set_rejoin(max(self.announced(), kept + 2 * state.local.votes), frozenset(others))

    def reconfigure(self, now: float, config: MembershipConfig) -> None:
        """A new configuration is active: its expected votes and two_node, recomputed with decrease allowed."""
        self.my_expected = config.expected_votes
        self._tracker.two_node = config.two_node
        self._tracker.policies = config.policies
        self._tracker.all_node_ids = frozenset(n.nodeid for n in config.nodes)
        self.reference = self._full_reference()
        self._allow_decrease = True
        self.recompute(now, f"configuration version {config.config_version} activated")

    # ------------------------------------------------------------- what peers say

    def peer_announced(self, now: float, peer: Peer, *, lowered: bool) -> None:
        """A member announces another expected value than before.

        A member that lowers what it announces was told to by an administrator (`cman_tool expected`, a leave
        with remove): Q-3 recomputes with decrease allowed. Members hear the order at different times, so the
        last one to announce the lower value is the one that lets the others' quorum drop."""
        self._allow_decrease = self._allow_decrease or lowered
        self.recompute(now, f"{peer.spec.name} announces {peer.expected} expected votes")

    def on_set_expected(self, now: float, peer: Peer, msg: SetExpected) -> None:
        if peer.spec.nodeid in self._state.members:
            self._rebase(self._state.members)
            self._apply_expected(now, msg.expected, f"expected votes lowered to {msg.expected} by {peer.spec.name}")

    def peer_left(self, now: float, peer: Peer, *, remove: bool) -> None:
        """`peer` announced a clean leave. The view without it may be installed before or after its Leave arrives
        here: either way the quorum is recomputed with decrease allowed once its votes are out of the count."""
        state = self._state
        nodeid = peer.spec.nodeid
        if remove and (nodeid in state.members or nodeid in self._last_clean):
            remaining = sum(state.config.spec(m).votes for m in state.members - {nodeid})
            self._rebase(state.members - {nodeid})
            self._apply_expected(now, max(remaining, 1), f"{peer.spec.name} left with remove")
            if nodeid in state.members:
                self._decrease_when_gone.add(nodeid)

    # ------------------------------------------------------------- helpers

    def _apply_expected(self, now: float, expected: int, why: str) -> None:
        if expected < self.my_expected:
            self.my_expected = expected
        self._allow_decrease = True
        self.recompute(now, why)
        self._send_heartbeat(now)

    def _set_rejoin(self, expected: int, awaiting: frozenset[int]) -> None:
        self.rejoin_expected, self.rejoin_awaiting = expected, awaiting
        self._state.emit(PersistRejoin(expected, awaiting))
        if expected:
            self._state.log(
                f"left with remove: announcing {expected} expected votes until this node is back in a quorate view "
                f"with {self._state.names(awaiting)}"
            )
